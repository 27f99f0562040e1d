/* SPDX-License-Identifier: ISC */
/*
 * The queue manager's side of the agent protocols: the delivery agent's
 * (IPC_DELIVER, IPC_DELIVER_RESULT over private/local) and the transfer
 * agent's (IPC_RELAY, IPC_RELAY_RESULT over private/smtp).  One
 * connection per agent, opened when first needed, many requests at once
 * told apart by peer_id.  Every request ends in exactly one callback: the
 * agent's answer, or a deferral when the agent cannot be reached, goes
 * away, answers nonsense or takes longer than its deadline (ipc_timeout
 * for a delivery; QMGR_RELAY_DEADLINE for a relay, which may try several
 * servers, each with its own SMTP timeouts).
 */
#include "config.h"

#include <sys/queue.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "common/conf.h"
#include "common/error.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/service.h"
#include "common/xmalloc.h"
#include "qmgr.h"
#include "common/banned.h"

struct qmgr_req {
	TAILQ_ENTRY(qmgr_req)	 entry;
	struct qmgr_agent	*a;
	uint32_t		 id;
	time_t			 deadline;
	qmgr_delivery_cb	*cb;		/* a delivery */
	qmgr_relay_cb		*relay_cb;	/* a relay */
	unsigned int		 nrcpt;		/* a relay's recipients */
	void			*ctx;
};

struct qmgr_agent {
	struct qmgr		*qm;
	struct event_base	*base;
	char			*path;
	const char		*what;		/* for the log */
	bool			 relays;	/* the transfer agent */
	struct ipc_conn		*conn;
	uint32_t		 next_id;
	unsigned int		 busy;
	TAILQ_HEAD(, qmgr_req)	 reqs;
	TAILQ_HEAD(, qmgr_req)	 failed;	/* to call back soon */
	struct event		*fail_ev;
	struct event		*timer;
};

static void
qmgr_agent_finish(struct qmgr_req *r, const struct qmgr_outcome *o)
{
	struct qmgr_agent	*a = r->a;

	TAILQ_REMOVE(&a->reqs, r, entry);
	a->busy--;
	r->cb(o, r->ctx);
	free(r);
}

/* A relay's answer (res NULL: every recipient deferred with why). */
static void
qmgr_agent_relay_finish(struct qmgr_req *r, const struct qmgr_relay_result
    *res, const char *why)
{
	struct qmgr_agent	*a = r->a;
	struct qmgr_relay_result failed;
	struct qmgr_outcome	*o;
	unsigned int		 i;

	TAILQ_REMOVE(&a->reqs, r, entry);
	a->busy--;
	if (res == NULL) {
		o = xcalloc(r->nrcpt, sizeof(*o));
		for (i = 0; i < r->nrcpt; i++) {
			o[i].status = QFILE_STATUS_DEFERRED;
			o[i].dsn = "4.3.0";
			o[i].text = why;
		}
		memset(&failed, 0, sizeof(failed));
		failed.outcomes = o;
		failed.n = r->nrcpt;
		failed.relay = "none";
		r->relay_cb(&failed, r->ctx);
		free(o);
	} else
		r->relay_cb(res, r->ctx);
	free(r);
}

/* Ends r with a deferral of all it asked for. */
static void
qmgr_agent_defer(struct qmgr_req *r, const char *why)
{
	struct qmgr_outcome	 o = { QFILE_STATUS_DEFERRED, "4.3.0", why };

	if (r->relay_cb != NULL)
		qmgr_agent_relay_finish(r, NULL, why);
	else
		qmgr_agent_finish(r, &o);
}

/* Every request still open fails over to a deferral (connection lost). */
static void
qmgr_agent_fail_all(struct qmgr_agent *a, const char *why)
{
	struct qmgr_req		*r;

	while ((r = TAILQ_FIRST(&a->reqs)) != NULL)
		qmgr_agent_defer(r, why);
}

static void
qmgr_agent_closed(struct ipc_conn *c ATTR_UNUSED, const char *reason,
    void *ctx)
{
	struct qmgr_agent	*a = ctx;

	/* An agent that stops (reload, stop) closes when it is idle. */
	if (a->busy > 0)
		log_warning("%s %s: connection closed with %u requests in "
		    "flight: %s", a->what, a->path, a->busy, reason);
	else
		log_debug("%s %s: connection closed: %s", a->what, a->path,
		    reason);
	ipc_conn_free(&a->conn);
	qmgr_agent_fail_all(a, a->relays ? "transfer agent went away" :
	    "delivery agent went away");
}

/* IPC_RELAY_RESULT (or IPC_ERROR) for r.  -1: nonsense (drop the agent). */
static int
qmgr_agent_relay_msg(struct qmgr_req *r, struct ipc_msg *m)
{
	struct qmgr_relay_result res;
	struct qmgr_outcome	*o;
	char			**st = NULL, **dsn = NULL, **text = NULL;
	const char		*relay, *tls = NULL, *err;
	uint64_t		 passed;
	size_t			 nst = 0, ndsn = 0, ntext = 0;
	unsigned int		 i, n = r->nrcpt;
	int			 ret = -1;

	if (m->type == IPC_ERROR) {
		if (ipc_get_str(m, "text", QFILE_DIAG_MAX, &err) == -1)
			err = "refused";
		qmgr_agent_relay_finish(r, NULL, error_fmt("transfer agent: "
		    "%s", err));
		return 0;
	}
	if (m->type != IPC_RELAY_RESULT)
		return -1;
	/* One status, dsn and text per recipient of the request. */
	if (ipc_get_list(m, "status", n, 16, false, &st, &nst) == -1 ||
	    ipc_get_list(m, "dsn", n, QFILE_DSN_MAX, true, &dsn, &ndsn) == -1 ||
	    ipc_get_list(m, "text", n, QFILE_DIAG_MAX, true, &text,
	    &ntext) == -1 || nst != n || ndsn != n || ntext != n ||
	    ipc_get_str(m, "relay", 512, &relay) == -1 ||
	    (ipc_has(m, "tls") && ipc_get_str(m, "tls", 256, &tls) == -1) ||
	    ipc_get_u64(m, "dsn_passed", 1, &passed) == -1)
		goto out;
	o = xcalloc(n, sizeof(*o));
	for (i = 0; i < n; i++) {
		o[i].status = strcmp(st[i], "ok") == 0 ?
		    QFILE_STATUS_DELIVERED : strcmp(st[i], "bounce") == 0 ?
		    QFILE_STATUS_FAILED : QFILE_STATUS_DEFERRED;
		o[i].dsn = dsn[i][0] != '\0' ? dsn[i] : o[i].status ==
		    QFILE_STATUS_DELIVERED ? "2.0.0" : o[i].status ==
		    QFILE_STATUS_FAILED ? "5.0.0" : "4.0.0";
		o[i].text = text[i];
	}
	memset(&res, 0, sizeof(res));
	res.outcomes = o;
	res.n = n;
	res.relay = relay;
	res.tls = tls;
	res.dsn_passed = passed != 0;
	qmgr_agent_relay_finish(r, &res, NULL);
	free(o);
	ret = 0;
out:
	ipc_list_free(&st);
	ipc_list_free(&dsn);
	ipc_list_free(&text);
	return ret;
}

static int
qmgr_agent_msg(struct ipc_conn *c ATTR_UNUSED, struct ipc_msg *m, void *ctx)
{
	struct qmgr_agent	*a = ctx;
	struct qmgr_outcome	 o;
	struct qmgr_req		*r;
	const char		*status, *dsn = "", *text = "";

	if (m->type == IPC_OK && m->peer_id == 0) {	/* our HELLO */
		ipc_msg_free(&m);
		return 0;
	}
	TAILQ_FOREACH(r, &a->reqs, entry)
		if (r->id == m->peer_id)
			break;
	if (r != NULL && r->relay_cb != NULL) {
		if (qmgr_agent_relay_msg(r, m) == -1) {
			log_warning("%s %s: bad answer %u to relay request %u",
			    a->what, a->path, m->type, m->peer_id);
			ipc_msg_free(&m);
			return -1;
		}
		ipc_msg_free(&m);
		return 0;
	}
	if (m->type != IPC_DELIVER_RESULT || r == NULL ||
	    ipc_get_str(m, "status", 16, &status) == -1) {
		log_warning("%s %s: unexpected message type %u "
		    "for request %u", a->what, a->path, m->type, m->peer_id);
		ipc_msg_free(&m);
		return -1;
	}
	if (ipc_has(m, "dsn") && ipc_get_str(m, "dsn", QFILE_DSN_MAX,
	    &dsn) == -1)
		dsn = "";
	if (ipc_has(m, "text") && ipc_get_str(m, "text", QFILE_DIAG_MAX,
	    &text) == -1)
		text = "";
	if (strcmp(status, "ok") == 0)
		o.status = QFILE_STATUS_DELIVERED;
	else if (strcmp(status, "bounce") == 0)
		o.status = QFILE_STATUS_FAILED;
	else
		o.status = QFILE_STATUS_DEFERRED;
	o.dsn = dsn[0] != '\0' ? dsn : (o.status == QFILE_STATUS_DELIVERED ?
	    "2.0.0" : o.status == QFILE_STATUS_FAILED ? "5.0.0" : "4.0.0");
	o.text = text;
	qmgr_agent_finish(r, &o);
	ipc_msg_free(&m);
	return 0;
}

static int
qmgr_agent_connect(struct qmgr_agent *a)
{
	struct ipc_msg	*m;
	const char	*error;
	int		 fd, r;

	if ((fd = ipc_connect_nonblock(a->path, &error)) == -1) {
		log_warning("%s: %s", a->what, error);
		return -1;
	}
	a->conn = ipc_conn_new(a->base, fd, cfg->ipc_max_message_size,
	    a->path, qmgr_agent_msg, qmgr_agent_closed, a);
	m = ipc_hello_new("queue-manager");
	r = ipc_conn_send(a->conn, m, -1);
	ipc_msg_free(&m);
	if (r == -1) {
		ipc_conn_free(&a->conn);
		return -1;
	}
	return 0;
}

/* Requests that could not be sent: deferred from the event loop. */
static void
qmgr_agent_fail_cb(evutil_socket_t fd ATTR_UNUSED, short what ATTR_UNUSED,
    void *arg)
{
	struct qmgr_agent	*a = arg;
	struct qmgr_req		*r;

	while ((r = TAILQ_FIRST(&a->failed)) != NULL) {
		TAILQ_REMOVE(&a->failed, r, entry);
		TAILQ_INSERT_TAIL(&a->reqs, r, entry);
		qmgr_agent_defer(r, a->relays ? "transfer agent unavailable" :
		    "delivery agent unavailable");
	}
}

/* Once a second: a request past its deadline means the agent is stuck. */
static void
qmgr_agent_timer(evutil_socket_t fd ATTR_UNUSED, short what ATTR_UNUSED,
    void *arg)
{
	struct qmgr_agent	*a = arg;
	struct qmgr_req		*r;
	time_t			 now = time(NULL);

	TAILQ_FOREACH(r, &a->reqs, entry)
		if (r->deadline <= now)
			break;
	if (r != NULL) {
		log_warning("%s %s: no answer in time", a->what, a->path);
		ipc_conn_free(&a->conn);
		qmgr_agent_fail_all(a, a->relays ?
		    "transfer agent did not answer" :
		    "delivery agent did not answer");
	}
}

struct qmgr_agent *
qmgr_agent_new(struct qmgr *qm, const char *path, bool relays)
{
	struct qmgr_agent	*a;
	struct timeval		 sec = { 1, 0 };

	a = xcalloc(1, sizeof(*a));
	a->qm = qm;
	a->relays = relays;
	a->what = relays ? "transfer agent" : "delivery agent";
	a->base = service_base(qm->sv);
	a->path = xstrdup(path);
	a->next_id = 1;
	TAILQ_INIT(&a->reqs);
	TAILQ_INIT(&a->failed);
	a->fail_ev = evtimer_new(a->base, qmgr_agent_fail_cb, a);
	a->timer = event_new(a->base, -1, EV_PERSIST, qmgr_agent_timer, a);
	if (a->fail_ev == NULL || a->timer == NULL ||
	    event_add(a->timer, &sec) == -1)
		log_fatal("delivery agent client: cannot create events");
	return a;
}

void
qmgr_agent_free(struct qmgr_agent **ap)
{
	struct qmgr_agent	*a = *ap;
	struct qmgr_req		*r;

	if (a == NULL)
		return;
	*ap = NULL;
	ipc_conn_free(&a->conn);
	/* At exit: no callbacks any more, the messages are being freed. */
	while ((r = TAILQ_FIRST(&a->reqs)) != NULL) {
		TAILQ_REMOVE(&a->reqs, r, entry);
		free(r);
	}
	while ((r = TAILQ_FIRST(&a->failed)) != NULL) {
		TAILQ_REMOVE(&a->failed, r, entry);
		free(r);
	}
	event_free(a->fail_ev);
	event_free(a->timer);
	free(a->path);
	free(a);
}

/*
 * A new request r of the given type, answered within timeout seconds:
 * its message with the peer id set, or NULL when the agent cannot be
 * reached (qmgr_agent_send() then defers r).
 */
static struct ipc_msg *
qmgr_agent_begin(struct qmgr_agent *a, struct qmgr_req *r, uint16_t type,
    time_t timeout)
{
	r->a = a;
	r->deadline = time(NULL) + timeout;
	a->busy++;
	if (a->conn == NULL && qmgr_agent_connect(a) == -1)
		return NULL;
	/* Ids skip 0 (HELLO) and wrap after 2^32 requests. */
	if (++a->next_id == 0)
		a->next_id = 1;
	r->id = a->next_id;
	return ipc_msg_new(type, r->id);
}

/* Sends *mp (NULL: could not connect) with fd; r waits for its answer. */
static void
qmgr_agent_send(struct qmgr_agent *a, struct qmgr_req *r,
    struct ipc_msg **mp, int fd)
{
	struct timeval	 now0 = { 0, 0 };
	int		 rc = -1;

	if (*mp != NULL) {
		rc = ipc_conn_send(a->conn, *mp, fd);
		ipc_msg_free(mp);
	}
	if (rc == 0) {
		TAILQ_INSERT_TAIL(&a->reqs, r, entry);
		return;
	}
	TAILQ_INSERT_TAIL(&a->failed, r, entry);
	(void)event_add(a->fail_ev, &now0);
}

void
qmgr_agent_deliver(struct qmgr_agent *a, const struct qmgr_delivery *d,
    qmgr_delivery_cb *cb, void *ctx)
{
	struct qmgr_req	*r;
	struct ipc_msg	*m;

	r = xcalloc(1, sizeof(*r));
	r->cb = cb;
	r->ctx = ctx;
	if ((m = qmgr_agent_begin(a, r, IPC_DELIVER,
	    (time_t)cfg->ipc_timeout)) != NULL) {
		ipc_add_str(m, "id", d->id);
		ipc_add_str(m, "sender", d->sender);
		ipc_add_str(m, "rcpt", d->rcpt);
		ipc_add_str(m, "user", d->user);
		ipc_add_str(m, "maildir", d->maildir);
		ipc_add_u64(m, "quota", d->quota);
		ipc_add_str(m, "folder", d->folder);
		ipc_add_u64(m, "offset", d->offset);
		ipc_add_u64(m, "length", d->length);
		ipc_add_u64(m, "arrival", d->arrival);
		if (d->has_owner) {
			ipc_add_u64(m, "uid", d->uid);
			ipc_add_u64(m, "gid", d->gid);
		}
	}
	qmgr_agent_send(a, r, &m, d->fd);
}

void
qmgr_agent_relay(struct qmgr_agent *a, const struct qmgr_relay *rq,
    qmgr_relay_cb *cb, void *ctx)
{
	struct qmgr_req	*r;
	struct ipc_msg	*m;
	unsigned int	 i;

	r = xcalloc(1, sizeof(*r));
	r->relay_cb = cb;
	r->nrcpt = rq->n;
	r->ctx = ctx;
	if ((m = qmgr_agent_begin(a, r, IPC_RELAY, QMGR_RELAY_DEADLINE)) !=
	    NULL) {
		ipc_add_str(m, "id", rq->id);
		ipc_add_str(m, "sender", rq->sender);
		ipc_add_str(m, "nexthop", rq->nexthop);
		ipc_add_u64(m, "body", rq->body);
		ipc_add_u64(m, "ret", rq->ret);
		ipc_add_u64(m, "smtputf8", rq->smtputf8 ? 1 : 0);
		if (rq->envid != NULL)
			ipc_add_str(m, "envid", rq->envid);
		for (i = 0; i < rq->n; i++) {
			ipc_add_str(m, "rcpt", rq->rcpts[i]);
			ipc_add_str(m, "orcpt", rq->orcpts[i] != NULL ?
			    rq->orcpts[i] : "");
			ipc_add_u64(m, "notify", rq->notify[i]);
		}
		ipc_add_u64(m, "offset", rq->offset);
		ipc_add_u64(m, "length", rq->length);
		ipc_add_u64(m, "arrival", rq->arrival);
	}
	qmgr_agent_send(a, r, &m, rq->fd);
}

unsigned int
qmgr_agent_busy(const struct qmgr_agent *a)
{
	return a->busy;
}
