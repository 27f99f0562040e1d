/* SPDX-License-Identifier: ISC */
/*
 * One SMTP session per client connection (RFC 5321 and the extensions in
 * postern-smtpd(8)): a bufferevent, a state machine driven by a command
 * table, and the transaction it builds into a queue file.
 */
#ifndef POSTERN_SMTP_SESSION_H
#define POSTERN_SMTP_SESSION_H

#include <sys/socket.h>

struct service_listener;
struct smtpd;

/*
 * Starts a session on an accepted socket: takes fd (closed on failure),
 * registers with sd and the service's client count, and greets (after
 * the handshake on an "smtps" listener).  The session frees itself when
 * the client leaves or is dropped.
 */
void	smtp_session_new(struct smtpd *sd, int fd,
	    const struct service_listener *l, const struct sockaddr *peer,
	    socklen_t peer_len);

/* Graceful stop: idle sessions get 421 and are closed; others finish. */
void	smtp_session_stop_all(struct smtpd *sd);
/* At exit: frees every session at once (uncommitted files unlinked). */
void	smtp_session_free_all(struct smtpd *sd);

#endif
