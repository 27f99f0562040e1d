/* SPDX-License-Identifier: ISC */
/*
 * The registry of internal message types (STYLE R18).  Each entry says
 * direction, fields and descriptor.  IPC_PROTOCOL_VERSION goes up with
 * every change to this list or to a message's fields.
 */
#ifndef POSTERN_IPC_TYPES_H
#define POSTERN_IPC_TYPES_H

#define IPC_PROTOCOL_VERSION	2

enum ipc_type {
	IPC_NONE = 0,
	IPC_HELLO,		/* any -> any, first on a connection: version, program */
	IPC_ERROR,		/* reply: text (a request was refused) */
	IPC_OK,			/* reply: optional text */

	/* child -> master over the status channel (fd 3) */
	IPC_MASTER_STATUS,	/* clients, full (0/1), idle (1: may I exit?) */

	/* postctl -> master over run_directory/master.ctl */
	IPC_CTL_STATUS,		/* -> IPC_CTL_STATUS_PROC*, then IPC_OK */
	IPC_CTL_STATUS_PROC,	/* master -> postctl: service, pid, started, clients, state */
	IPC_CTL_STATUS_SVC,	/* master -> postctl: service, state, backoff, listen */
	IPC_CTL_RELOAD,		/* -> IPC_OK or IPC_ERROR text */
	IPC_CTL_STOP,		/* -> IPC_OK; the master then stops */

	IPC_TYPE_MAX
};

#endif
