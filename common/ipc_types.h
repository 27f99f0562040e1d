/* SPDX-License-Identifier: ISC */
/*
 * The registry of internal message types (STYLE R18).  Each entry says
 * direction, fields and descriptor.  IPC_PROTOCOL_VERSION goes up with
 * every change to this list or to a message's fields.
 */
#ifndef POSTERN_IPC_TYPES_H
#define POSTERN_IPC_TYPES_H

#define IPC_PROTOCOL_VERSION	9

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

	/*
	 * authd, socket private/auth (smtpd, imap-login, pop3-login).
	 * peer_id names one SASL exchange of the client's; SASL payloads
	 * travel decoded (raw bytes), base64 stays in the protocol daemons.
	 */
	IPC_AUTH_BEGIN,		/* -> authd: mech, service, client (IP), secured (0/1),
				   [resp: initial response, may be empty] */
	IPC_AUTH_CONTINUE,	/* authd -> : challenge; -> authd: resp */
	IPC_AUTH_ABORT,		/* -> authd: the client cancelled ("*") */
	IPC_AUTH_RESULT,	/* authd -> : result (ok|fail|tempfail), [user, token]
				   on ok, [text] for the log */

	/* authd, socket private/auth-userdb (mail processes, delivery) */
	IPC_TOKEN_REDEEM,	/* -> authd: token, service */
	IPC_USER_LOOKUP,	/* -> authd: user */
	IPC_USER_RESULT,	/* authd -> : result (ok|notfound|fail|tempfail),
				   user, maildir, quota (bytes, 0 none),
				   [uid, gid: both or neither, a Unix
				   account of system_account_domains that
				   owns the mailbox; never 0] */

	/* authd, both sockets (smtpd at RCPT, the queue manager) */
	IPC_RCPT_LOOKUP,	/* -> authd: rcpt, client (IP), authenticated (0/1),
				   [mailboxes (describe at most this many
				   users)] */
	IPC_RCPT_RESULT,	/* authd -> : result (local|remote|unknown|tempfail),
				   relay (0/1, remote), deliver (repeated: local
				   users), forward (repeated: remote addresses),
				   [maildir, quota: repeated, one pair per
				   deliver, when mailboxes was asked and the
				   recipient reaches only local users, at most
				   mailboxes of them], [text],
				   [transport: remote, "smtp:NEXTHOP" (NEXTHOP as
				   smtp_tls_policy_maps keys it: "example.org",
				   "[10.0.0.5]:2525")], [forward_transport:
				   repeated, one per forward, the same form] */

	/* queue manager, socket private/qmgr (smtpd; no answer) */
	IPC_QMGR_QUEUED,	/* -> qmgr: id (a new file in incoming/) */

	/* delivery agent, socket private/local (the queue manager) */
	IPC_DELIVER,		/* -> agent: id, sender, rcpt, user, maildir,
				   quota (bytes, 0 none), folder ("" inbox),
				   offset, length (of the message in the
				   file), arrival (microseconds), [uid, gid: both
				   or neither, write as this Unix account
				   (from IPC_USER_RESULT), below its home];
				   fd: the queue file, read-only */
	IPC_DELIVER_RESULT,	/* agent -> : status (ok|defer|bounce), dsn
				   ("2.0.0" ...), text (diagnostic) */
	IPC_QUOTA_CHECK,	/* -> agent (smtpd at RCPT): user, maildir,
				   quota (bytes, 0 none), size (the MAIL
				   SIZE= or 0) */
	IPC_QUOTA_RESULT,	/* agent -> : status (ok|full), used (bytes) */

	/* transfer agent, socket private/smtp (the queue manager) */
	IPC_RELAY,		/* -> agent: id, sender, nexthop ("example.org",
				   "[10.0.0.5]:2525"), body (enum qfile_body),
				   smtputf8 (0/1), ret (enum qfile_ret), [envid],
				   rcpt, orcpt ("" none), notify (QFILE_NOTIFY_*
				   bits): repeated, one each per recipient, in
				   order; offset, length (of the message in the
				   file), arrival (microseconds); fd: the queue
				   file, read-only */
	IPC_RELAY_RESULT,	/* agent -> : status (ok|defer|bounce), dsn
				   ("2.0.0" ...), text (the server's reply or
				   our reason): repeated, one each per
				   recipient of the request, in order; relay
				   ("host[addr]:port", or "none"), [tls]
				   ("TLSv1.3:TLS_AES_256_GCM_SHA384"), dsn_passed (0/1:
				   the server took the DSN parameters) */

	/* queue manager control, socket private/qmgr (postctl queue) */
	IPC_QMGR_CTL,		/* -> qmgr: verb (flush|hold|release|delete|
				   requeue), [id] (none: all); -> IPC_OK
				   [text] or IPC_ERROR text */

	/*
	 * imap-login -> imap over login/imap, one per connection (then
	 * closed): a client that has just logged in.  No answer: the mail
	 * process answers the client's LOGIN or AUTHENTICATE itself.
	 */
	IPC_IMAP_HANDOVER,	/* token (from AUTH_RESULT), tag (of the login
				   command), client (IP), local (IP), tls (0/1),
				   [tls_info], [input: bytes the client sent
				   after its login command], [enabled: none yet];
				   fd: the client's socket, or one end of a
				   socketpair that imap-login proxies to TLS */

	IPC_TYPE_MAX
};

#endif
