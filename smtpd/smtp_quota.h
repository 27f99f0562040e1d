/* SPDX-License-Identifier: ISC */
/*
 * smtpd's client of the delivery agent for the RCPT-time quota check
 * (smtpd_rcpt_quota_check, postern-smtpd(8)): IPC_QUOTA_CHECK on
 * private/local, answered by IPC_QUOTA_RESULT.
 *
 * The check is advice, never a condition of accepting mail: whenever the
 * agent cannot say (unreachable, no answer within
 * smtpd_quota_check_timeout, an error or a malformed answer) the answer
 * is SMTP_QUOTA_UNKNOWN and the caller accepts the recipient; the
 * delivery then decides, as it would without the check.  Such failures
 * are logged as one warning per SMTP_QUOTA_WARN_INTERVAL with a count.
 *
 * One client holds one connection, opened on first use (HELLO, then
 * requests multiplexed by peer_id).  After a failed connect or a broken
 * connection no new one is tried for SMTP_QUOTA_RETRY seconds; when a
 * request times out the connection is closed, every request on it fails,
 * and none is tried for SMTP_QUOTA_HOLDOFF times the timeout: a hung
 * agent then costs one timeout now and then, not one per RCPT.  Requests
 * made meanwhile fail open at once.  An answer that is an error or
 * malformed fails only its request.  Each request ends in exactly one
 * callback unless cancelled first, and callbacks never run inside the
 * call that made the request.  Inside a callback the caller may make and
 * cancel requests, but not free the client.
 */
#ifndef POSTERN_SMTP_QUOTA_H
#define POSTERN_SMTP_QUOTA_H

#include <stdint.h>

/* Where the delivery agent listens, relative to the spool. */
#define SMTP_QUOTA_SOCKET	"private/local"
/* Requests in flight at most; past that they fail open at once. */
#define SMTP_QUOTA_MAX_PENDING	512
/* Seconds without a new connect after one failed or a connection broke. */
#define SMTP_QUOTA_RETRY	1
/* After a timeout: no checks for this many times the timeout. */
#define SMTP_QUOTA_HOLDOFF	2
/* Seconds between two warnings about checks that failed open. */
#define SMTP_QUOTA_WARN_INTERVAL 60
/*
 * A recipient is checked when all its mail goes into at most this many
 * local mailboxes, each with a quota; it is refused only when every one
 * is full.  A longer list is accepted unchecked: that all of its
 * mailboxes are full is unlikely, and one RCPT must not cost a burst of
 * checks.
 */
#define SMTP_QUOTA_USERS_MAX	32

struct event_base;
struct smtp_quota;
struct smtp_quota_req;

enum smtp_quota_status {
	SMTP_QUOTA_OK,		/* the message fits */
	SMTP_QUOTA_FULL,	/* it does not */
	SMTP_QUOTA_UNKNOWN,	/* no answer: accept */
};

/* used: the agent's count of the mailbox's bytes (OK, FULL), else 0. */
typedef void smtp_quota_cb(enum smtp_quota_status status, uint64_t used,
    void *ctx);

/* A client of the agent at path.  Nothing is connected yet. */
struct smtp_quota *smtp_quota_new(struct event_base *base, const char *path);
/* Closes; pending requests are dropped without callbacks.  NULL is fine. */
void	smtp_quota_free(struct smtp_quota **qp);

/*
 * Asks whether a message of size bytes (0: unknown) fits into the
 * Maildir at maildir of user, whose quota is quota bytes (> 0).  Never
 * returns NULL; the pointer is valid until the callback returns or the
 * request is cancelled.
 */
struct smtp_quota_req *smtp_quota_check(struct smtp_quota *q,
	    const char *user, const char *maildir, uint64_t quota,
	    uint64_t size, smtp_quota_cb *cb, void *ctx);
/* Drops a request: its callback never runs.  NULL allowed; sets *rp = NULL. */
void	smtp_quota_cancel(struct smtp_quota_req **rp);

#endif
