/* SPDX-License-Identifier: ISC */
/*
 * The RCPT-time quota check's client of the delivery agent
 * (smtp_quota.h has the contract).  One connection to private/local,
 * opened on first use by a non-blocking connect, HELLO first, then
 * IPC_QUOTA_CHECK requests with a per-client counter as peer_id (0 is the
 * HELLO's).  After a failed connect, a broken connection or a timeout no
 * new connection is tried for a while, and checks meanwhile fail open at
 * once, so an agent that is down or hung does not slow every RCPT.
 *
 * Requests wait on waitq, sorted by deadline; since every deadline is
 * "now + smtpd_quota_check_timeout", that is the order they were sent
 * in, and one timer for the head serves them all.  A request that cannot
 * be sent, or whose connection broke, moves to failq and is answered
 * SMTP_QUOTA_UNKNOWN from a zero-timeout event, so that no callback runs
 * inside the call that made the request.
 *
 * The delivery agent is trusted no more than any peer: an answer must
 * name a waiting request and have the right type and fields, else that
 * request fails open.  Whatever goes wrong, the answer is "unknown" and
 * smtpd accepts the recipient (fail open): the check only spares a
 * sender a bounce, it must never cost mail.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/queue.h>

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "common/conf.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "smtp_quota.h"
#include "common/banned.h"

#define SMTP_QUOTA_STATUS_MAX	16	/* "ok", "full" */
#define SMTP_QUOTA_TEXT_MAX	1024	/* an IPC_ERROR text, for the log */

TAILQ_HEAD(smtp_quota_reqq, smtp_quota_req);

struct smtp_quota_req {
	TAILQ_ENTRY(smtp_quota_req) entry;	/* in *where */
	struct smtp_quota	*q;
	struct smtp_quota_reqq	*where;		/* NULL: in its callback */
	uint32_t		 id;
	struct timespec		 deadline;
	smtp_quota_cb		*cb;
	void			*ctx;
};

struct smtp_quota {
	struct event_base	*base;
	char			*path;
	struct ipc_conn		*conn;
	uint32_t		 last_id;
	unsigned int		 npending;	/* on waitq */
	time_t			 next_try;	/* no connect before this */
	struct smtp_quota_reqq	 waitq;		/* sent, by deadline */
	struct smtp_quota_reqq	 failq;		/* to answer UNKNOWN */
	struct event		*ev_timer;	/* the head of waitq */
	struct event		*ev_fail;	/* answers failq */
	time_t			 warn_next;	/* no warning before this */
	unsigned long long	 failed;	/* failed open since the last */
};

static void	smtp_quota_timer_cb(evutil_socket_t, short, void *);
static void	smtp_quota_fail_cb(evutil_socket_t, short, void *);
static int	smtp_quota_msg(struct ipc_conn *, struct ipc_msg *, void *);
static void	smtp_quota_closed(struct ipc_conn *, const char *, void *);

struct smtp_quota *
smtp_quota_new(struct event_base *base, const char *path)
{
	struct smtp_quota *q;

	q = xcalloc(1, sizeof(*q));
	q->base = base;
	q->path = xstrdup(path);
	TAILQ_INIT(&q->waitq);
	TAILQ_INIT(&q->failq);
	q->ev_timer = evtimer_new(base, smtp_quota_timer_cb, q);
	q->ev_fail = event_new(base, -1, 0, smtp_quota_fail_cb, q);
	if (q->ev_timer == NULL || q->ev_fail == NULL)
		log_fatal("quota check: cannot create events");
	return q;
}

static void
smtp_quota_reqq_free(struct smtp_quota_reqq *rq)
{
	struct smtp_quota_req *r;

	while ((r = TAILQ_FIRST(rq)) != NULL) {
		TAILQ_REMOVE(rq, r, entry);
		free(r);
	}
}

void
smtp_quota_free(struct smtp_quota **qp)
{
	struct smtp_quota *q = *qp;

	if (q == NULL)
		return;
	*qp = NULL;
	ipc_conn_free(&q->conn);
	smtp_quota_reqq_free(&q->waitq);
	smtp_quota_reqq_free(&q->failq);
	event_free(q->ev_timer);
	event_free(q->ev_fail);
	free(q->path);
	free(q);
}

/* ---- failing open ------------------------------------------------------ */

/*
 * Counts a check that failed open and says so now and then: a broken
 * delivery agent must not fill the log with a line per RCPT.
 */
static void
smtp_quota_warn(struct smtp_quota *q, const char *why)
{
	time_t now = time(NULL);

	q->failed++;
	if (now < q->warn_next)
		return;
	log_warning("quota check: %s: %s; recipients are accepted unchecked "
	    "(%llu check%s since the last warning)", q->path, why, q->failed,
	    q->failed == 1 ? "" : "s");
	q->failed = 0;
	q->warn_next = now + SMTP_QUOTA_WARN_INTERVAL;
}

/* ---- queues and the timer ---------------------------------------------- */

/* Arms the timer for the head of waitq, or stops it. */
static void
smtp_quota_timer_update(struct smtp_quota *q)
{
	struct smtp_quota_req	*r;

	if ((r = TAILQ_FIRST(&q->waitq)) == NULL)
		(void)evtimer_del(q->ev_timer);
	else
		ipc_timer_at(q->ev_timer, &r->deadline);
}

/* Takes r out of its queue; it is then in none. */
static void
smtp_quota_req_unlink(struct smtp_quota_req *r)
{
	struct smtp_quota	*q = r->q;
	bool			 was_head;

	was_head = r->where == &q->waitq && TAILQ_FIRST(&q->waitq) == r;
	if (r->where == &q->waitq)
		q->npending--;
	TAILQ_REMOVE(r->where, r, entry);
	r->where = NULL;
	if (was_head)
		smtp_quota_timer_update(q);
}

/* Queues r for an UNKNOWN answer from the event loop. */
static void
smtp_quota_fail_later(struct smtp_quota_req *r)
{
	struct smtp_quota *q = r->q;

	if (r->where != NULL)
		smtp_quota_req_unlink(r);
	r->where = &q->failq;
	TAILQ_INSERT_TAIL(&q->failq, r, entry);
	event_active(q->ev_fail, EV_TIMEOUT, 0);
}

/* Runs r's callback (r unlinked) and frees r. */
static void
smtp_quota_answer(struct smtp_quota_req *r, enum smtp_quota_status status,
    uint64_t used)
{
	r->cb(status, used, r->ctx);
	free(r);
}

static void
smtp_quota_fail_cb(evutil_socket_t fd ATTR_UNUSED, short what ATTR_UNUSED,
    void *arg)
{
	struct smtp_quota	*q = arg;
	struct smtp_quota_reqq	 now;
	struct smtp_quota_req	*r;

	/* Only those queued so far; a callback may queue more. */
	TAILQ_INIT(&now);
	TAILQ_CONCAT(&now, &q->failq, entry);
	TAILQ_FOREACH(r, &now, entry)
		r->where = &now;
	while ((r = TAILQ_FIRST(&now)) != NULL) {
		smtp_quota_req_unlink(r);
		smtp_quota_answer(r, SMTP_QUOTA_UNKNOWN, 0);
	}
}

/* Closes the connection and fails every request sent on it. */
static void
smtp_quota_reset(struct smtp_quota *q, const char *why)
{
	struct smtp_quota_req *r;

	if (q->npending > 0)
		smtp_quota_warn(q, why);
	else
		log_debug("quota check: %s: %s", q->path, why);
	ipc_conn_free(&q->conn);
	q->next_try = time(NULL) + SMTP_QUOTA_RETRY;
	while ((r = TAILQ_FIRST(&q->waitq)) != NULL)
		smtp_quota_fail_later(r);
}

static void
smtp_quota_timer_cb(evutil_socket_t fd ATTR_UNUSED, short what ATTR_UNUSED,
    void *arg)
{
	struct smtp_quota	*q = arg;
	struct smtp_quota_req	*r;

	if ((r = TAILQ_FIRST(&q->waitq)) == NULL)
		return;
	if (!ipc_deadline_passed(&r->deadline)) {
		smtp_quota_timer_update(q);	/* woken a little early */
		return;
	}
	/*
	 * An agent that does not answer one check will not answer the
	 * others in time either, and every RCPT would wait the whole
	 * timeout: close, fail them all, and check nothing for a while.
	 */
	smtp_quota_reset(q, "no answer in time");
	q->next_try = time(NULL) + (time_t)cfg->smtpd_quota_check_timeout *
	    SMTP_QUOTA_HOLDOFF;
}

/* ---- connecting and sending --------------------------------------------- */

/* Opens the connection and queues the HELLO.  Returns 0 or -1. */
static int
smtp_quota_connect(struct smtp_quota *q)
{
	struct ipc_msg	*m;
	const char	*error;
	time_t		 now = time(NULL);
	int		 fd, r;

	if (now < q->next_try) {
		smtp_quota_warn(q, "unreachable a moment ago");
		return -1;
	}
	if ((fd = ipc_connect_nonblock(q->path, &error)) == -1) {
		q->next_try = now + SMTP_QUOTA_RETRY;
		smtp_quota_warn(q, error);
		return -1;
	}
	q->conn = ipc_conn_new(q->base, fd, cfg->ipc_max_message_size,
	    q->path, smtp_quota_msg, smtp_quota_closed, q);
	m = ipc_hello_new("smtpd");
	r = ipc_conn_send(q->conn, m, -1);
	ipc_msg_free(&m);
	if (r == -1) {
		ipc_conn_free(&q->conn);
		q->next_try = now + SMTP_QUOTA_RETRY;
		smtp_quota_warn(q, "cannot send HELLO");
		return -1;
	}
	return 0;
}

struct smtp_quota_req *
smtp_quota_check(struct smtp_quota *q, const char *user, const char *maildir,
    uint64_t quota, uint64_t size, smtp_quota_cb *cb, void *ctx)
{
	struct smtp_quota_req	*r;
	struct ipc_msg		*m;
	int			 ret;

	r = xcalloc(1, sizeof(*r));
	r->q = q;
	r->cb = cb;
	r->ctx = ctx;
	if (q->npending >= SMTP_QUOTA_MAX_PENDING) {
		smtp_quota_warn(q, "too many checks in flight");
		smtp_quota_fail_later(r);
		return r;
	}
	if (q->conn == NULL && smtp_quota_connect(q) == -1) {
		smtp_quota_fail_later(r);
		return r;
	}
	/* Skip 0, the HELLO's; 2^32 requests later an id may come again. */
	if (++q->last_id == 0)
		q->last_id = 1;
	r->id = q->last_id;
	m = ipc_msg_new(IPC_QUOTA_CHECK, r->id);
	ipc_add_str(m, "user", user);
	ipc_add_str(m, "maildir", maildir);
	ipc_add_u64(m, "quota", quota);
	ipc_add_u64(m, "size", size);
	ret = ipc_conn_send(q->conn, m, -1);
	ipc_msg_free(&m);
	if (ret == -1) {
		/* The connection closes by itself (and fails the others). */
		smtp_quota_warn(q, "cannot send a request");
		smtp_quota_fail_later(r);
		return r;
	}
	ipc_deadline_set(&r->deadline, cfg->smtpd_quota_check_timeout);
	r->where = &q->waitq;
	TAILQ_INSERT_TAIL(&q->waitq, r, entry);
	q->npending++;
	if (TAILQ_FIRST(&q->waitq) == r)
		smtp_quota_timer_update(q);
	return r;
}

void
smtp_quota_cancel(struct smtp_quota_req **rp)
{
	struct smtp_quota_req *r = *rp;

	if (r == NULL)
		return;
	*rp = NULL;
	/* Inside its own callback: freed when that returns. */
	if (r->where == NULL)
		return;
	smtp_quota_req_unlink(r);
	free(r);
}

/* ---- answers ------------------------------------------------------------ */

static struct smtp_quota_req *
smtp_quota_find(struct smtp_quota *q, uint32_t id)
{
	struct smtp_quota_req *r;

	/* Answers come about in order: the head is the likely one. */
	TAILQ_FOREACH(r, &q->waitq, entry)
		if (r->id == id)
			return r;
	return NULL;
}

/* The answer to our HELLO (peer_id 0).  Returns -1 to close. */
static int
smtp_quota_hello_reply(struct smtp_quota *q, struct ipc_msg *m)
{
	const char *text;

	if (m->type == IPC_OK)
		return 0;
	if (m->type == IPC_ERROR) {
		if (ipc_get_str(m, "text", SMTP_QUOTA_TEXT_MAX, &text) == -1)
			text = "(no valid text)";
		log_error("quota check: %s: HELLO refused: %s", q->path,
		    log_safe(text));
		return -1;
	}
	log_warning("quota check: %s: unexpected message type %u with "
	    "peer_id 0, ignored", q->path, m->type);
	return 0;
}

static int
smtp_quota_msg(struct ipc_conn *conn ATTR_UNUSED, struct ipc_msg *m,
    void *ctx)
{
	struct smtp_quota	*q = ctx;
	struct smtp_quota_req	*r;
	const char		*status, *text;
	uint64_t		 used = 0;

	if (m->fd != -1) {
		ipc_msg_free(&m);
		smtp_quota_reset(q, "unexpected descriptor from the agent");
		return 0;
	}
	if (m->peer_id == 0) {
		if (smtp_quota_hello_reply(q, m) == -1) {
			ipc_msg_free(&m);
			smtp_quota_reset(q, "HELLO refused");
			return 0;
		}
		ipc_msg_free(&m);
		return 0;
	}
	if ((r = smtp_quota_find(q, m->peer_id)) == NULL) {
		/* The answer to a request that timed out or was cancelled. */
		log_debug("quota check: %s: answer %u for no waiting request, "
		    "ignored", q->path, m->peer_id);
		ipc_msg_free(&m);
		return 0;
	}
	smtp_quota_req_unlink(r);
	if (m->type == IPC_ERROR) {
		if (ipc_get_str(m, "text", SMTP_QUOTA_TEXT_MAX, &text) == -1)
			text = "(no valid text)";
		smtp_quota_warn(q, log_safe(text));
		smtp_quota_answer(r, SMTP_QUOTA_UNKNOWN, 0);
	} else if (m->type != IPC_QUOTA_RESULT ||
	    ipc_get_str(m, "status", SMTP_QUOTA_STATUS_MAX, &status) == -1 ||
	    (strcmp(status, "ok") != 0 && strcmp(status, "full") != 0) ||
	    ipc_get_u64(m, "used", UINT64_MAX, &used) == -1) {
		smtp_quota_warn(q, "malformed answer");
		smtp_quota_answer(r, SMTP_QUOTA_UNKNOWN, 0);
	} else
		smtp_quota_answer(r, strcmp(status, "full") == 0 ?
		    SMTP_QUOTA_FULL : SMTP_QUOTA_OK, used);
	ipc_msg_free(&m);
	return 0;
}

static void
smtp_quota_closed(struct ipc_conn *conn ATTR_UNUSED, const char *reason,
    void *ctx)
{
	smtp_quota_reset(ctx, reason);
}
