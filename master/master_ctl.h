/* SPDX-License-Identifier: ISC */
/*
 * The master's control socket (run_directory/master.ctl), which postctl
 * talks to with the IPC protocol: HELLO, then STATUS, RELOAD or STOP.
 */
#ifndef POSTERN_MASTER_CTL_H
#define POSTERN_MASTER_CTL_H

#include "master.h"

/* Binds and listens on the control socket. Returns 0 or -1 (*error_r). */
int	master_ctl_open(struct master *m, const char **error_r);
/* Closes the socket, removes it and frees every connection. */
void	master_ctl_close(struct master *m);

#endif
