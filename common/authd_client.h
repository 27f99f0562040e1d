/* SPDX-License-Identifier: ISC */
/*
 * The asynchronous client of postern-authd(8), for daemons on a libevent
 * loop: smtpd (AUTH, RCPT), the login processes (AUTH), the mail
 * processes (TOKEN), the queue manager and delivery agent (RCPT, USER).
 *
 * One client holds one connection to one authd socket (path relative to
 * the process's root: "private/auth" inside the spool chroot), connects on
 * first use, says HELLO, and multiplexes requests by peer_id.  Each
 * request ends in exactly one callback, unless cancelled first; when authd
 * cannot be reached, does not answer within cfg->ipc_timeout, or the
 * connection breaks, the callback gets the TEMPFAIL result, and the next
 * request reconnects.  Outstanding requests are bounded
 * (AUTHD_CLIENT_MAX_PENDING); past that a request fails at once with
 * TEMPFAIL.  Callbacks never run inside the call that made the request.
 *
 * The request functions never return NULL; the returned pointer is valid
 * until the request's last callback returns or it is cancelled.
 *
 * Inside a callback the caller may make new requests on the same client
 * and cancel other requests, but must not free the client.  The request
 * whose final answer (anything but CONTINUE) a callback handles is freed
 * when the callback returns; cancelling it inside the callback is a
 * harmless no-op.  During a CONTINUE callback the caller may answer or
 * cancel that request.
 *
 * Timeouts: a request waits at most cfg->ipc_timeout for authd (an AUTH
 * after CONTINUE waits for the caller, without a deadline, and gets a
 * fresh deadline with each response).  A timeout makes the connection
 * suspect: it is closed and every request on it, the one that timed out
 * and all others (also AUTH exchanges between steps), fails with
 * TEMPFAIL.  The same happens when authd closes the connection or
 * refuses our HELLO.  A reply that is malformed, of the wrong type or an
 * IPC_ERROR fails only its own request (an AUTH is then also aborted at
 * authd); a reply for no known request is logged and ignored.
 */
#ifndef POSTERN_AUTHD_CLIENT_H
#define POSTERN_AUTHD_CLIENT_H

#include <sys/types.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compat.h"

#define AUTHD_CLIENT_MAX_PENDING	10000
/* The longest transport in a RCPT_RESULT ("smtp:" and a next hop). */
#define AUTHD_TRANSPORT_MAX		300

struct event_base;
struct authd_client;
struct authd_request;

enum authd_status {
	AUTHD_OK,		/* AUTH done, TOKEN/USER found */
	AUTHD_CONTINUE,		/* AUTH: a challenge follows */
	AUTHD_FAIL,		/* AUTH failed, TOKEN invalid, USER not found */
	AUTHD_TEMPFAIL,		/* authd unreachable, timed out, or said so */
};

enum authd_rcpt_result {
	AUTHD_RCPT_LOCAL,
	AUTHD_RCPT_REMOTE,
	AUTHD_RCPT_UNKNOWN,
	AUTHD_RCPT_TEMPFAIL,
};

/* Everything points into the reply and lives until the callback returns. */
struct authd_rcpt_reply {
	enum authd_rcpt_result	 result;
	bool			 relay;		/* REMOTE: allowed */
	const char *const	*deliver;	/* NULL-terminated local users */
	const char *const	*forward;	/* NULL-terminated remote addresses */
	const char		*text;		/* for the log, never the client; "" */
	/*
	 * authd_client_rcpt_mailboxes() only, when authd described the
	 * mailboxes (else both NULL): for each deliver[i], its Maildir path
	 * (maildirs[i], NULL-terminated like deliver) and quota in bytes
	 * (quotas[i]); "" and 0 when authd could not tell.
	 */
	const char *const	*maildirs;
	const uint64_t		*quotas;
	/*
	 * REMOTE: where the recipient goes, "smtp:NEXTHOP" (NEXTHOP as
	 * postern-tables(5) normalises it: "example.org",
	 * "[192.0.2.1]:2525"); "" when authd sent none.
	 */
	const char		*transport;
	/*
	 * LOCAL: the transport of each forward[i], in the same form
	 * (NULL-terminated, exactly as many as forward), or NULL when authd
	 * sent none.
	 */
	const char *const	*forward_transports;
};

struct authd_auth_reply {
	enum authd_status	 status;
	const uint8_t		*challenge;	/* CONTINUE: raw bytes */
	size_t			 challenge_len;
	const char		*user;		/* OK */
	const char		*token;		/* OK */
};

struct authd_user_reply {
	enum authd_status	 status;
	const char		*user;		/* OK */
	const char		*maildir;	/* OK */
	uint64_t		 quota;		/* OK; 0 = none */
	/*
	 * OK, for a Unix account of system_account_domains: the uid and gid
	 * the mailbox is written with (never 0).  Else has_owner is false.
	 */
	bool			 has_owner;
	uid_t			 uid;
	gid_t			 gid;
};

typedef void authd_rcpt_cb(const struct authd_rcpt_reply *r, void *ctx);
typedef void authd_auth_cb(const struct authd_auth_reply *r, void *ctx);
typedef void authd_user_cb(const struct authd_user_reply *r, void *ctx);

/* program names us in HELLO ("smtpd"). Nothing is connected yet. */
struct authd_client *authd_client_new(struct event_base *base,
	    const char *path, const char *program);
/* Closes; pending requests are dropped without callbacks. */
void	authd_client_free(struct authd_client **cp);

/* Drops a request: its callback never runs.  NULL allowed; sets *rp = NULL. */
void	authd_request_cancel(struct authd_request **rp);

/*
 * RCPT_LOOKUP (client_ip "" for none).  A reply is malformed (the request
 * fails with TEMPFAIL) when, among the rest, a transport or
 * forward_transport is not "smtp:" and a next hop, at most
 * AUTHD_TRANSPORT_MAX bytes in all, without white space or control
 * bytes, or when there are forward_transport fields but not exactly one
 * per forward.
 */
struct authd_request *authd_client_rcpt(struct authd_client *c,
	    const char *rcpt, const char *client_ip, bool authenticated,
	    authd_rcpt_cb *cb, void *ctx);
/*
 * RCPT_LOOKUP with mailboxes = max_users (smtpd's RCPT-time quota
 * check): when the recipient is LOCAL, reaches no remote address and at
 * most max_users (1 or more) local users, the reply also carries the
 * maildirs and quotas of those users.  A reply whose mailbox lists do
 * not match deliver fails the request like any malformed reply.
 */
struct authd_request *authd_client_rcpt_mailboxes(struct authd_client *c,
	    const char *rcpt, const char *client_ip, bool authenticated,
	    unsigned int max_users, authd_rcpt_cb *cb, void *ctx);

/*
 * AUTH_BEGIN.  resp is the decoded initial response (resp_len may be 0
 * for an empty one), or NULL for none.  The callback runs once per step;
 * after CONTINUE the caller answers with authd_client_auth_continue() on
 * the same request (or cancels it, which sends AUTH_ABORT).  After OK,
 * FAIL or TEMPFAIL the request is finished and freed: do not touch it.
 */
struct authd_request *authd_client_auth(struct authd_client *c,
	    const char *mech, const char *service, const char *client_ip,
	    bool secured, const uint8_t *resp, size_t resp_len,
	    authd_auth_cb *cb, void *ctx);
/* Returns 0, or -1 when the request is not waiting for a response. */
int	authd_client_auth_continue(struct authd_request *r,
	    const uint8_t *resp, size_t resp_len) ATTR_WUR;

/* TOKEN_REDEEM and USER_LOOKUP. */
struct authd_request *authd_client_token(struct authd_client *c,
	    const char *token, const char *service, authd_user_cb *cb,
	    void *ctx);
struct authd_request *authd_client_user(struct authd_client *c,
	    const char *user, authd_user_cb *cb, void *ctx);

#endif
