/* SPDX-License-Identifier: ISC */
/*
 * The asynchronous client of postern-authd(8) (authd_client.h has the
 * contract).  One connection per client, opened on first use by a
 * non-blocking AF_UNIX connect, HELLO first, then requests multiplexed by
 * peer_id (a per-client counter that skips 0, which the HELLO uses).
 *
 * Every reply is checked as if it came from the network: the peer_id must
 * name a request waiting for an answer, the type must be the one that
 * request expects, and every field is read with a bound.  Anything else
 * fails that request with TEMPFAIL and is logged; authd is more
 * privileged than we are, but a confused authd must not make us read out
 * of bounds or hang.
 *
 * Requests live in one of four queues: waitq (sent, waiting for authd,
 * sorted by deadline, one timer for its head), idleq (AUTH after a
 * CONTINUE: the caller's turn, no deadline), failq (to be answered
 * TEMPFAIL from a zero-timeout event, so that no callback ever runs inside
 * the call that made the request) and, during that event, a local list.
 * A timeout closes the connection, since a late answer could no longer be
 * matched with confidence, and fails every other request too.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "authd_client.h"
#include "conf.h"
#include "ipc.h"
#include "log.h"
#include "str.h"
#include "userdb.h"
#include "xmalloc.h"

#include "banned.h"

#define AUTHD_CLIENT_BUCKETS	256	/* id hash; a power of two */
#define AUTHD_RESULT_MAX	16	/* "tempfail" and friends */
#define AUTHD_TOKEN_MAX		128	/* authd sends 64 hex digits */
#define AUTHD_TEXT_MAX		1024	/* a reply's text, for our log */
#define AUTHD_MAILDIR_MAX	4096	/* PATH_MAX */
#define AUTHD_CHALLENGE_MAX	8192	/* a SASL challenge, raw bytes */
#define AUTHD_LIST_MAX		10000	/* deliver and forward, each */
#define AUTHD_QUOTA_DIGITS	20	/* UINT64_MAX in decimal */
#define AUTHD_TRANSPORT_PREFIX	"smtp:"	/* the one transport authd names */

enum authd_req_kind {
	AUTHD_REQ_RCPT,
	AUTHD_REQ_AUTH,
	AUTHD_REQ_USER,		/* TOKEN_REDEEM and USER_LOOKUP */
};

enum authd_req_state {
	AUTHD_REQ_WAITING,	/* sent; on waitq with a deadline */
	AUTHD_REQ_IDLE,		/* AUTH after CONTINUE; on idleq */
	AUTHD_REQ_FAILING,	/* on failq or the local list of that event */
	AUTHD_REQ_DONE,		/* in its final callback, freed after it */
};

TAILQ_HEAD(authd_reqq, authd_request);

struct authd_request {
	struct authd_client	*c;
	TAILQ_ENTRY(authd_request) entry;	/* in *q */
	LIST_ENTRY(authd_request) hentry;	/* in c->ids unless FAILING */
	struct authd_reqq	*q;
	enum authd_req_kind	 kind;
	enum authd_req_state	 state;
	bool			 mailboxes;	/* RCPT: asked for them */
	uint32_t		 id;
	uint16_t		 reply_type;
	struct timespec		 deadline;
	authd_rcpt_cb		*rcpt_cb;
	authd_auth_cb		*auth_cb;
	authd_user_cb		*user_cb;
	void			*ctx;
};

struct authd_client {
	struct event_base	*base;
	char			*path;
	char			*program;
	struct ipc_conn		*conn;
	bool			 hello_ok;
	uint32_t		 last_id;
	size_t			 npending;	/* WAITING and IDLE */
	struct authd_reqq	 waitq;		/* by deadline */
	struct authd_reqq	 idleq;
	struct authd_reqq	 failq;
	LIST_HEAD(, authd_request) ids[AUTHD_CLIENT_BUCKETS];
	struct event		*ev_timer;	/* the head of waitq */
	struct event		*ev_fail;	/* answers failq */
};

static void	authd_client_timer_cb(evutil_socket_t, short, void *);
static void	authd_client_fail_cb(evutil_socket_t, short, void *);
static int	authd_client_msg(struct ipc_conn *, struct ipc_msg *, void *);
static void	authd_client_closed(struct ipc_conn *, const char *, void *);

struct authd_client *
authd_client_new(struct event_base *base, const char *path,
    const char *program)
{
	struct authd_client	*c;
	size_t			 i;

	c = xcalloc(1, sizeof(*c));
	c->base = base;
	c->path = xstrdup(path);
	c->program = xstrdup(program);
	TAILQ_INIT(&c->waitq);
	TAILQ_INIT(&c->idleq);
	TAILQ_INIT(&c->failq);
	for (i = 0; i < AUTHD_CLIENT_BUCKETS; i++)
		LIST_INIT(&c->ids[i]);
	c->ev_timer = evtimer_new(base, authd_client_timer_cb, c);
	c->ev_fail = event_new(base, -1, 0, authd_client_fail_cb, c);
	if (c->ev_timer == NULL || c->ev_fail == NULL)
		log_fatal("authd client: cannot create events");
	return c;
}

static void
authd_reqq_free(struct authd_reqq *q)
{
	struct authd_request *r;

	while ((r = TAILQ_FIRST(q)) != NULL) {
		TAILQ_REMOVE(q, r, entry);
		free(r);
	}
}

void
authd_client_free(struct authd_client **cp)
{
	struct authd_client *c = *cp;

	if (c == NULL)
		return;
	*cp = NULL;
	ipc_conn_free(&c->conn);
	authd_reqq_free(&c->waitq);
	authd_reqq_free(&c->idleq);
	authd_reqq_free(&c->failq);
	event_free(c->ev_timer);
	event_free(c->ev_fail);
	free(c->path);
	free(c->program);
	free(c);
}

/* ---- queues and the timer -------------------------------------------- */

static int
authd_ts_cmp(const struct timespec *a, const struct timespec *b)
{
	if (a->tv_sec != b->tv_sec)
		return a->tv_sec < b->tv_sec ? -1 : 1;
	if (a->tv_nsec != b->tv_nsec)
		return a->tv_nsec < b->tv_nsec ? -1 : 1;
	return 0;
}

/* Arms the timer for the head of waitq, or stops it. */
static void
authd_client_timer_update(struct authd_client *c)
{
	struct authd_request	*r;

	if ((r = TAILQ_FIRST(&c->waitq)) == NULL)
		(void)evtimer_del(c->ev_timer);
	else
		ipc_timer_at(c->ev_timer, &r->deadline);
}

/* Takes r out of its queue and of the id hash; it is then in no list. */
static void
authd_req_unlink(struct authd_request *r)
{
	struct authd_client	*c = r->c;
	bool			 was_head;

	was_head = r->q == &c->waitq && TAILQ_FIRST(&c->waitq) == r;
	TAILQ_REMOVE(r->q, r, entry);
	r->q = NULL;
	if (r->state != AUTHD_REQ_FAILING) {
		LIST_REMOVE(r, hentry);
		c->npending--;
	}
	if (was_head)
		authd_client_timer_update(c);
}

/* Puts an unlinked or new request on waitq with a fresh deadline. */
static void
authd_req_wait(struct authd_request *r)
{
	struct authd_client	*c = r->c;
	struct authd_request	*p;

	ipc_deadline_set(&r->deadline, cfg->ipc_timeout);
	r->state = AUTHD_REQ_WAITING;
	r->q = &c->waitq;
	/* Deadlines are now + ipc_timeout: nearly always the tail. */
	TAILQ_FOREACH_REVERSE(p, &c->waitq, authd_reqq, entry)
		if (authd_ts_cmp(&p->deadline, &r->deadline) <= 0)
			break;
	if (p == NULL)
		TAILQ_INSERT_HEAD(&c->waitq, r, entry);
	else
		TAILQ_INSERT_AFTER(&c->waitq, p, r, entry);
	if (TAILQ_FIRST(&c->waitq) == r)
		authd_client_timer_update(c);
}

/* Queues r for a TEMPFAIL answer from the event loop. */
static void
authd_req_fail_later(struct authd_request *r)
{
	struct authd_client *c = r->c;

	if (r->q != NULL)
		authd_req_unlink(r);
	r->state = AUTHD_REQ_FAILING;
	r->q = &c->failq;
	TAILQ_INSERT_TAIL(&c->failq, r, entry);
	event_active(c->ev_fail, EV_TIMEOUT, 0);
}

/* Runs r's callback with TEMPFAIL; r must be unlinked; frees r. */
static void
authd_req_tempfail(struct authd_request *r)
{
	static const char *const	 empty[] = { NULL };
	struct authd_rcpt_reply		 rr;
	struct authd_auth_reply		 ar;
	struct authd_user_reply		 ur;

	r->state = AUTHD_REQ_DONE;
	switch (r->kind) {
	case AUTHD_REQ_RCPT:
		memset(&rr, 0, sizeof(rr));
		rr.result = AUTHD_RCPT_TEMPFAIL;
		rr.deliver = empty;
		rr.forward = empty;
		rr.text = "";
		rr.transport = "";
		r->rcpt_cb(&rr, r->ctx);
		break;
	case AUTHD_REQ_AUTH:
		memset(&ar, 0, sizeof(ar));
		ar.status = AUTHD_TEMPFAIL;
		r->auth_cb(&ar, r->ctx);
		break;
	case AUTHD_REQ_USER:
		memset(&ur, 0, sizeof(ur));
		ur.status = AUTHD_TEMPFAIL;
		r->user_cb(&ur, r->ctx);
		break;
	}
	free(r);
}

static void
authd_client_fail_cb(evutil_socket_t fd, short what, void *arg)
{
	struct authd_client	*c = arg;
	struct authd_reqq	 now;
	struct authd_request	*r;

	(void)fd;
	(void)what;
	/*
	 * Only those queued so far: a callback that retries at once against
	 * an unreachable authd is answered on the next loop, not here.
	 */
	TAILQ_INIT(&now);
	TAILQ_CONCAT(&now, &c->failq, entry);
	TAILQ_FOREACH(r, &now, entry)
		r->q = &now;
	while ((r = TAILQ_FIRST(&now)) != NULL) {
		authd_req_unlink(r);
		authd_req_tempfail(r);
	}
}

/*
 * Closes the connection and fails every request sent on it.  The
 * callbacks run from failq, so this is safe anywhere.
 */
static void
authd_client_reset(struct authd_client *c, const char *why)
{
	struct authd_request *r;

	if (c->npending > 0)
		log_warning("authd client: %s: %s; failing %zu pending "
		    "request%s", c->path, why, c->npending,
		    c->npending == 1 ? "" : "s");
	else
		log_debug("authd client: %s: %s", c->path, why);
	ipc_conn_free(&c->conn);
	c->hello_ok = false;
	while ((r = TAILQ_FIRST(&c->waitq)) != NULL)
		authd_req_fail_later(r);
	while ((r = TAILQ_FIRST(&c->idleq)) != NULL)
		authd_req_fail_later(r);
}

static void
authd_client_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct authd_client	*c = arg;
	struct authd_request	*r;

	(void)fd;
	(void)what;
	if ((r = TAILQ_FIRST(&c->waitq)) == NULL)
		return;
	if (!ipc_deadline_passed(&r->deadline)) {
		/* Woken a little early (timer granularity): wait on. */
		authd_client_timer_update(c);
		return;
	}
	log_warning("authd client: %s: no answer to request %" PRIu32
	    " within %us", c->path, r->id, cfg->ipc_timeout);
	authd_client_reset(c, "timeout, closing the connection");
}

/* ---- connecting and sending ------------------------------------------- */

/* Opens the connection and queues the HELLO.  Returns 0 or -1 (logged). */
static int
authd_client_connect(struct authd_client *c)
{
	struct ipc_msg		*m;
	const char		*error;
	int			 fd;

	if ((fd = ipc_connect_nonblock(c->path, &error)) == -1) {
		log_warning("authd client: cannot connect: %s", error);
		return -1;
	}
	c->conn = ipc_conn_new(c->base, fd, cfg->ipc_max_message_size,
	    c->path, authd_client_msg, authd_client_closed, c);
	c->hello_ok = false;
	m = ipc_hello_new(c->program);
	if (ipc_conn_send(c->conn, m, -1) == -1)
		log_warning("authd client: %s: cannot send HELLO", c->path);
	ipc_msg_free(&m);
	return 0;
}

static struct authd_request *
authd_req_find(struct authd_client *c, uint32_t id)
{
	struct authd_request *r;

	LIST_FOREACH(r, &c->ids[id & (AUTHD_CLIENT_BUCKETS - 1)], hentry)
		if (r->id == id)
			return r;
	return NULL;
}

/*
 * A new request: on waitq with an id and the connection up, or on failq
 * (too many pending, or authd unreachable).  The caller checks r->state
 * before it builds and sends the message.
 */
static struct authd_request *
authd_req_new(struct authd_client *c, enum authd_req_kind kind,
    uint16_t reply_type, void *ctx)
{
	struct authd_request *r;

	r = xcalloc(1, sizeof(*r));
	r->c = c;
	r->kind = kind;
	r->reply_type = reply_type;
	r->ctx = ctx;
	if (c->npending >= AUTHD_CLIENT_MAX_PENDING) {
		log_warning("authd client: %s: %d requests pending, failing "
		    "a new one", c->path, AUTHD_CLIENT_MAX_PENDING);
		authd_req_fail_later(r);
		return r;
	}
	if (c->conn == NULL && authd_client_connect(c) == -1) {
		authd_req_fail_later(r);
		return r;
	}
	/* Ids wrap after 2^32 requests: skip 0 (HELLO) and ids in use. */
	do {
		if (++c->last_id == 0)
			c->last_id = 1;
	} while (authd_req_find(c, c->last_id) != NULL);
	r->id = c->last_id;
	LIST_INSERT_HEAD(&c->ids[r->id & (AUTHD_CLIENT_BUCKETS - 1)], r,
	    hentry);
	c->npending++;
	authd_req_wait(r);
	return r;
}

/*
 * Sends *mp for r and frees it (wiping the body: AUTH responses hold
 * passwords).  A refused send fails r from the loop; the connection then
 * closes by itself and fails the others.
 */
static void
authd_req_send(struct authd_request *r, struct ipc_msg **mp)
{
	struct authd_client *c = r->c;

	if (ipc_conn_send(c->conn, *mp, -1) == -1) {
		log_warning("authd client: %s: cannot send request %" PRIu32,
		    c->path, r->id);
		authd_req_fail_later(r);
	}
	buf_free_secret(&(*mp)->body);
	ipc_msg_free(mp);
}

static void
authd_req_abort(struct authd_request *r)
{
	struct ipc_msg *m;

	if (r->kind != AUTHD_REQ_AUTH || r->state == AUTHD_REQ_FAILING ||
	    r->c->conn == NULL)
		return;
	m = ipc_msg_new(IPC_AUTH_ABORT, r->id);
	(void)ipc_conn_send(r->c->conn, m, -1);
	ipc_msg_free(&m);
}

void
authd_request_cancel(struct authd_request **rp)
{
	struct authd_request *r = *rp;

	if (r == NULL)
		return;
	*rp = NULL;
	/* Inside its own final callback: freed when that returns. */
	if (r->state == AUTHD_REQ_DONE)
		return;
	authd_req_abort(r);
	authd_req_unlink(r);
	free(r);
}

/* ---- requests ---------------------------------------------------------- */

static struct authd_request *
authd_client_rcpt_req(struct authd_client *c, const char *rcpt,
    const char *client_ip, bool authenticated, unsigned int max_users,
    authd_rcpt_cb *cb, void *ctx)
{
	struct authd_request	*r;
	struct ipc_msg		*m;

	r = authd_req_new(c, AUTHD_REQ_RCPT, IPC_RCPT_RESULT, ctx);
	r->rcpt_cb = cb;
	r->mailboxes = max_users > 0;
	if (r->state == AUTHD_REQ_FAILING)
		return r;
	m = ipc_msg_new(IPC_RCPT_LOOKUP, r->id);
	ipc_add_str(m, "rcpt", rcpt);
	ipc_add_str(m, "client", client_ip);
	ipc_add_u64(m, "authenticated", authenticated ? 1 : 0);
	if (max_users > 0)
		ipc_add_u64(m, "mailboxes", max_users);
	authd_req_send(r, &m);
	return r;
}

struct authd_request *
authd_client_rcpt(struct authd_client *c, const char *rcpt,
    const char *client_ip, bool authenticated, authd_rcpt_cb *cb, void *ctx)
{
	return authd_client_rcpt_req(c, rcpt, client_ip, authenticated, 0, cb,
	    ctx);
}

struct authd_request *
authd_client_rcpt_mailboxes(struct authd_client *c, const char *rcpt,
    const char *client_ip, bool authenticated, unsigned int max_users,
    authd_rcpt_cb *cb, void *ctx)
{
	return authd_client_rcpt_req(c, rcpt, client_ip, authenticated,
	    max_users > 0 ? max_users : 1, cb, ctx);
}

struct authd_request *
authd_client_auth(struct authd_client *c, const char *mech,
    const char *service, const char *client_ip, bool secured,
    const uint8_t *resp, size_t resp_len, authd_auth_cb *cb, void *ctx)
{
	struct authd_request	*r;
	struct ipc_msg		*m;

	r = authd_req_new(c, AUTHD_REQ_AUTH, IPC_AUTH_RESULT, ctx);
	r->auth_cb = cb;
	if (r->state == AUTHD_REQ_FAILING)
		return r;
	m = ipc_msg_new(IPC_AUTH_BEGIN, r->id);
	ipc_add_str(m, "mech", mech);
	ipc_add_str(m, "service", service);
	ipc_add_str(m, "client", client_ip);
	ipc_add_u64(m, "secured", secured ? 1 : 0);
	if (resp != NULL)
		ipc_add_data(m, "resp", resp, resp_len);
	authd_req_send(r, &m);
	return r;
}

int
authd_client_auth_continue(struct authd_request *r, const uint8_t *resp,
    size_t resp_len)
{
	struct ipc_msg *m;

	if (r == NULL || r->kind != AUTHD_REQ_AUTH ||
	    r->state != AUTHD_REQ_IDLE)
		return -1;
	authd_req_unlink(r);
	LIST_INSERT_HEAD(&r->c->ids[r->id & (AUTHD_CLIENT_BUCKETS - 1)], r,
	    hentry);
	r->c->npending++;
	authd_req_wait(r);
	m = ipc_msg_new(IPC_AUTH_CONTINUE, r->id);
	ipc_add_data(m, "resp", resp_len > 0 ? resp : (const uint8_t *)"",
	    resp_len);
	authd_req_send(r, &m);
	return 0;
}

struct authd_request *
authd_client_token(struct authd_client *c, const char *token,
    const char *service, authd_user_cb *cb, void *ctx)
{
	struct authd_request	*r;
	struct ipc_msg		*m;

	r = authd_req_new(c, AUTHD_REQ_USER, IPC_USER_RESULT, ctx);
	r->user_cb = cb;
	if (r->state == AUTHD_REQ_FAILING)
		return r;
	m = ipc_msg_new(IPC_TOKEN_REDEEM, r->id);
	ipc_add_str(m, "token", token);
	ipc_add_str(m, "service", service);
	authd_req_send(r, &m);
	return r;
}

struct authd_request *
authd_client_user(struct authd_client *c, const char *user,
    authd_user_cb *cb, void *ctx)
{
	struct authd_request	*r;
	struct ipc_msg		*m;

	r = authd_req_new(c, AUTHD_REQ_USER, IPC_USER_RESULT, ctx);
	r->user_cb = cb;
	if (r->state == AUTHD_REQ_FAILING)
		return r;
	m = ipc_msg_new(IPC_USER_LOOKUP, r->id);
	ipc_add_str(m, "user", user);
	authd_req_send(r, &m);
	return r;
}

/* ---- replies ----------------------------------------------------------- */

/* Fails r at once (we are in the event loop), telling authd for an AUTH. */
static void
authd_req_fail_now(struct authd_request *r, const char *why)
{
	log_warning("authd client: %s: request %" PRIu32 ": %s",
	    r->c->path, r->id, why);
	authd_req_abort(r);
	authd_req_unlink(r);
	authd_req_tempfail(r);
}

/* An optional text field for the log; -1 if present but invalid. */
static int
authd_get_text(struct ipc_msg *m, const char **text_r)
{
	*text_r = "";
	if (!ipc_has(m, "text"))
		return 0;
	return ipc_get_str(m, "text", AUTHD_TEXT_MAX, text_r);
}

/* A required, non-empty string. */
static int
authd_get_nonempty(struct ipc_msg *m, const char *key, size_t max,
    const char **val_r)
{
	if (ipc_get_str(m, key, max, val_r) == -1 || **val_r == '\0')
		return -1;
	return 0;
}

/*
 * The mailbox lists of a RCPT_RESULT to a request with mailboxes: none at
 * all (authd did not describe them: *maildirs_r stays NULL), or exactly
 * one maildir (empty or absolute) and one quota per deliver entry.
 * Returns 0, or -1 when they are malformed.
 */
static int
authd_rcpt_mailboxes(const struct ipc_msg *m, char *const *deliver,
    char ***maildirs_r, uint64_t **quotas_r)
{
	char		**maildirs = NULL, **quotas = NULL;
	uint64_t	 *q = NULL;
	size_t		  n = 0, i;

	if (!ipc_has(m, "maildir") && !ipc_has(m, "quota"))
		return 0;
	while (deliver != NULL && deliver[n] != NULL)
		n++;
	if (ipc_get_list(m, "maildir", AUTHD_LIST_MAX, AUTHD_MAILDIR_MAX - 1,
	    true, &maildirs, NULL) == -1 || ipc_get_list(m, "quota",
	    AUTHD_LIST_MAX, AUTHD_QUOTA_DIGITS, false, &quotas, NULL) == -1)
		goto fail;
	q = xreallocarray(NULL, n + 1, sizeof(*q));
	for (i = 0; i < n; i++) {
		if (maildirs[i] == NULL || quotas[i] == NULL ||
		    (maildirs[i][0] != '\0' && maildirs[i][0] != '/') ||
		    parse_u64(quotas[i], UINT64_MAX, &q[i]) == -1)
			goto fail;
	}
	if (maildirs[n] != NULL || quotas[n] != NULL)
		goto fail;
	ipc_list_free(&quotas);
	*maildirs_r = maildirs;
	*quotas_r = q;
	return 0;
fail:
	ipc_list_free(&maildirs);
	ipc_list_free(&quotas);
	free(q);
	return -1;
}

/*
 * A transport as authd writes it: "smtp:" and a next hop, at most
 * AUTHD_TRANSPORT_MAX bytes, without white space or control bytes.
 */
static bool
authd_transport_valid(const char *t)
{
	size_t	 i;

	if (!str_has_prefix(t, AUTHD_TRANSPORT_PREFIX) ||
	    t[strlen(AUTHD_TRANSPORT_PREFIX)] == '\0' ||
	    strlen(t) > AUTHD_TRANSPORT_MAX)
		return false;
	for (i = 0; t[i] != '\0'; i++)
		if ((unsigned char)t[i] <= 0x20 || t[i] == 0x7f)
			return false;
	return true;
}

/*
 * The routes of a RCPT_RESULT: *transport_r the transport ("" when
 * absent); *ftransports_r NULL when there is no forward_transport, else
 * exactly one per forward entry.  Returns 0, or -1 when they are
 * malformed.
 */
static int
authd_rcpt_transports(struct ipc_msg *m, char *const *forward,
    const char **transport_r, char ***ftransports_r)
{
	char	**list = NULL;
	size_t	  n = 0, i;

	*transport_r = "";
	*ftransports_r = NULL;
	if (ipc_has(m, "transport") && (ipc_get_str(m, "transport",
	    AUTHD_TRANSPORT_MAX, transport_r) == -1 ||
	    !authd_transport_valid(*transport_r)))
		return -1;
	if (!ipc_has(m, "forward_transport"))
		return 0;
	while (forward != NULL && forward[n] != NULL)
		n++;
	if (ipc_get_list(m, "forward_transport", AUTHD_LIST_MAX,
	    AUTHD_TRANSPORT_MAX, false, &list, NULL) == -1)
		return -1;
	for (i = 0; list[i] != NULL; i++)
		if (i == n || !authd_transport_valid(list[i]))
			goto fail;
	if (i != n)
		goto fail;
	*ftransports_r = list;
	return 0;
fail:
	ipc_list_free(&list);
	return -1;
}

static void
authd_rcpt_result(struct authd_request *r, struct ipc_msg *m)
{
	struct authd_rcpt_reply	 rep;
	const char		*result, *why = NULL;
	char			**deliver = NULL, **forward = NULL;
	char			**maildirs = NULL;
	char			**ftransports = NULL;
	uint64_t		*quotas = NULL;
	uint64_t		 relay = 0;

	memset(&rep, 0, sizeof(rep));
	if (ipc_get_str(m, "result", AUTHD_RESULT_MAX, &result) == -1)
		why = "RCPT_RESULT without a valid result";
	else if (strcmp(result, "local") == 0)
		rep.result = AUTHD_RCPT_LOCAL;
	else if (strcmp(result, "remote") == 0)
		rep.result = AUTHD_RCPT_REMOTE;
	else if (strcmp(result, "unknown") == 0)
		rep.result = AUTHD_RCPT_UNKNOWN;
	else if (strcmp(result, "tempfail") == 0)
		rep.result = AUTHD_RCPT_TEMPFAIL;
	else
		why = "RCPT_RESULT with an unknown result";
	if (why == NULL && ipc_has(m, "relay") &&
	    ipc_get_u64(m, "relay", 1, &relay) == -1)
		why = "RCPT_RESULT with an invalid relay";
	if (why == NULL && authd_get_text(m, &rep.text) == -1)
		why = "RCPT_RESULT with an invalid text";
	if (why == NULL && (ipc_get_list(m, "deliver", AUTHD_LIST_MAX,
	    USERDB_ADDRESS_MAX, false, &deliver, NULL) == -1 ||
	    ipc_get_list(m, "forward", AUTHD_LIST_MAX, USERDB_ADDRESS_MAX,
	    false, &forward, NULL) == -1))
		why = "RCPT_RESULT with an invalid or too long list";
	if (why == NULL && r->mailboxes && authd_rcpt_mailboxes(m, deliver,
	    &maildirs, &quotas) == -1)
		why = "RCPT_RESULT with invalid mailboxes";
	if (why == NULL && authd_rcpt_transports(m, forward, &rep.transport,
	    &ftransports) == -1)
		why = "RCPT_RESULT with an invalid transport";
	if (why != NULL) {
		authd_req_fail_now(r, why);
	} else {
		rep.relay = relay == 1;
		rep.deliver = (const char *const *)deliver;
		rep.forward = (const char *const *)forward;
		rep.maildirs = (const char *const *)maildirs;
		rep.quotas = quotas;
		rep.forward_transports = (const char *const *)ftransports;
		authd_req_unlink(r);
		r->state = AUTHD_REQ_DONE;
		r->rcpt_cb(&rep, r->ctx);
		free(r);
	}
	ipc_list_free(&deliver);
	ipc_list_free(&forward);
	ipc_list_free(&maildirs);
	ipc_list_free(&ftransports);
	free(quotas);
}

static void
authd_auth_reply(struct authd_request *r, struct ipc_msg *m)
{
	struct authd_client	*c = r->c;
	struct authd_auth_reply	 rep;
	const char		*result, *text;

	memset(&rep, 0, sizeof(rep));
	if (m->type == IPC_AUTH_CONTINUE) {
		if (ipc_get_data(m, "challenge", AUTHD_CHALLENGE_MAX,
		    &rep.challenge, &rep.challenge_len) == -1) {
			authd_req_fail_now(r, "AUTH_CONTINUE without a valid "
			    "challenge");
			return;
		}
		rep.status = AUTHD_CONTINUE;
		authd_req_unlink(r);
		r->state = AUTHD_REQ_IDLE;
		r->q = &c->idleq;
		TAILQ_INSERT_TAIL(&c->idleq, r, entry);
		LIST_INSERT_HEAD(&c->ids[r->id & (AUTHD_CLIENT_BUCKETS - 1)],
		    r, hentry);
		c->npending++;
		/* The callback may answer, cancel or leave r: hands off. */
		r->auth_cb(&rep, r->ctx);
		return;
	}
	if (ipc_get_str(m, "result", AUTHD_RESULT_MAX, &result) == -1) {
		authd_req_fail_now(r, "AUTH_RESULT without a valid result");
		return;
	}
	if (authd_get_text(m, &text) == -1) {
		authd_req_fail_now(r, "AUTH_RESULT with an invalid text");
		return;
	}
	if (strcmp(result, "ok") == 0) {
		if (authd_get_nonempty(m, "user", USERDB_ADDRESS_MAX,
		    &rep.user) == -1 || authd_get_nonempty(m, "token",
		    AUTHD_TOKEN_MAX, &rep.token) == -1) {
			authd_req_fail_now(r, "AUTH_RESULT ok without a valid "
			    "user and token");
			return;
		}
		rep.status = AUTHD_OK;
	} else if (strcmp(result, "fail") == 0)
		rep.status = AUTHD_FAIL;
	else if (strcmp(result, "tempfail") == 0)
		rep.status = AUTHD_TEMPFAIL;
	else {
		authd_req_fail_now(r, "AUTH_RESULT with an unknown result");
		return;
	}
	if (*text != '\0')
		log_debug("authd client: %s: request %" PRIu32 ": %s: %s",
		    c->path, r->id, result, log_safe(text));
	authd_req_unlink(r);
	r->state = AUTHD_REQ_DONE;
	r->auth_cb(&rep, r->ctx);
	free(r);
}

/*
 * The optional uid and gid of a USER_RESULT: both, each 1 to 2^32 - 2
 * (0 is root's, which never owns a mailbox; (uid_t)-1 is no id).
 */
static int
authd_get_owner(struct ipc_msg *m, struct authd_user_reply *rep)
{
	uint64_t uid, gid;

	if (ipc_get_u64(m, "uid", (uint64_t)UINT32_MAX - 1, &uid) == -1 ||
	    ipc_get_u64(m, "gid", (uint64_t)UINT32_MAX - 1, &gid) == -1 ||
	    uid == 0 || gid == 0)
		return -1;
	rep->has_owner = true;
	rep->uid = (uid_t)uid;
	rep->gid = (gid_t)gid;
	return 0;
}

static void
authd_user_result(struct authd_request *r, struct ipc_msg *m)
{
	struct authd_user_reply	 rep;
	const char		*result;

	memset(&rep, 0, sizeof(rep));
	if (ipc_get_str(m, "result", AUTHD_RESULT_MAX, &result) == -1) {
		authd_req_fail_now(r, "USER_RESULT without a valid result");
		return;
	}
	if (strcmp(result, "ok") == 0) {
		if (authd_get_nonempty(m, "user", USERDB_ADDRESS_MAX,
		    &rep.user) == -1 || authd_get_nonempty(m, "maildir",
		    AUTHD_MAILDIR_MAX, &rep.maildir) == -1 ||
		    ipc_get_u64(m, "quota", UINT64_MAX, &rep.quota) == -1) {
			authd_req_fail_now(r, "USER_RESULT ok without a valid "
			    "user, maildir and quota");
			return;
		}
		if ((ipc_has(m, "uid") || ipc_has(m, "gid")) &&
		    authd_get_owner(m, &rep) == -1) {
			authd_req_fail_now(r, "USER_RESULT with an invalid uid "
			    "or gid");
			return;
		}
		rep.status = AUTHD_OK;
	} else if (strcmp(result, "notfound") == 0 ||
	    strcmp(result, "fail") == 0)
		rep.status = AUTHD_FAIL;
	else if (strcmp(result, "tempfail") == 0)
		rep.status = AUTHD_TEMPFAIL;
	else {
		authd_req_fail_now(r, "USER_RESULT with an unknown result");
		return;
	}
	authd_req_unlink(r);
	r->state = AUTHD_REQ_DONE;
	r->user_cb(&rep, r->ctx);
	free(r);
}

/* The answer to our HELLO (peer_id 0). */
static void
authd_client_hello_reply(struct authd_client *c, struct ipc_msg *m)
{
	const char *text;

	if (m->type == IPC_OK && !c->hello_ok) {
		c->hello_ok = true;
		log_debug("authd client: %s: HELLO accepted", c->path);
	} else if (m->type == IPC_ERROR) {
		if (ipc_get_str(m, "text", AUTHD_TEXT_MAX, &text) == -1)
			text = "(no valid text)";
		log_error("authd client: %s: HELLO refused: %s", c->path,
		    log_safe(text));
		authd_client_reset(c, "HELLO refused");
	} else
		log_warning("authd client: %s: unexpected message type %u "
		    "with peer_id 0, ignored", c->path, m->type);
}

static int
authd_client_msg(struct ipc_conn *conn, struct ipc_msg *m, void *ctx)
{
	struct authd_client	*c = ctx;
	struct authd_request	*r;
	const char		*text;

	(void)conn;
	if (m->fd != -1) {
		ipc_msg_free(&m);
		authd_client_reset(c, "unexpected descriptor from authd");
		return 0;
	}
	if (m->peer_id == 0) {
		authd_client_hello_reply(c, m);
		ipc_msg_free(&m);
		return 0;
	}
	if ((r = authd_req_find(c, m->peer_id)) == NULL) {
		/* A cancelled request's answer, or a confused authd. */
		log_msg(m->peer_id <= c->last_id ? LOG_DEBUG : LOG_WARNING,
		    "authd client: %s: reply type %u for unknown request %"
		    PRIu32 ", ignored", c->path, m->type, m->peer_id);
		ipc_msg_free(&m);
		return 0;
	}
	if (m->type == IPC_ERROR) {
		if (ipc_get_str(m, "text", AUTHD_TEXT_MAX, &text) == -1)
			text = "(no valid text)";
		log_warning("authd client: %s: request %" PRIu32 " refused: "
		    "%s", c->path, r->id, log_safe(text));
		authd_req_abort(r);
		authd_req_unlink(r);
		authd_req_tempfail(r);
	} else if (r->state != AUTHD_REQ_WAITING)
		authd_req_fail_now(r, "reply while the caller's turn");
	else if (m->type == r->reply_type ||
	    (r->kind == AUTHD_REQ_AUTH && m->type == IPC_AUTH_CONTINUE)) {
		switch (r->kind) {
		case AUTHD_REQ_RCPT:
			authd_rcpt_result(r, m);
			break;
		case AUTHD_REQ_AUTH:
			authd_auth_reply(r, m);
			break;
		case AUTHD_REQ_USER:
			authd_user_result(r, m);
			break;
		}
	} else
		authd_req_fail_now(r, "reply of the wrong type");
	ipc_msg_free(&m);
	return 0;
}

static void
authd_client_closed(struct ipc_conn *conn, const char *reason, void *ctx)
{
	struct authd_client *c = ctx;

	(void)conn;
	authd_client_reset(c, reason);
}
