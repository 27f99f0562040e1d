/* SPDX-License-Identifier: ISC */
/*
 * The queue manager's side of the delivery agent protocol (IPC_DELIVER,
 * IPC_DELIVER_RESULT over private/local): one connection, opened when
 * first needed, many requests at once told apart by peer_id.  Every
 * request ends in exactly one callback: the agent's answer, or a
 * deferral when the agent cannot be reached, goes away, answers nonsense
 * or takes longer than ipc_timeout.
 */
#include "config.h"

#include <sys/queue.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "common/conf.h"
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
	qmgr_delivery_cb	*cb;
	void			*ctx;
};

struct qmgr_agent {
	struct qmgr		*qm;
	struct event_base	*base;
	char			*path;
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

/* Every request still open fails over to a deferral (connection lost). */
static void
qmgr_agent_fail_all(struct qmgr_agent *a, const char *why)
{
	struct qmgr_outcome	 o = { QFILE_STATUS_DEFERRED, "4.3.0", why };
	struct qmgr_req		*r;

	while ((r = TAILQ_FIRST(&a->reqs)) != NULL)
		qmgr_agent_finish(r, &o);
}

static void
qmgr_agent_closed(struct ipc_conn *c ATTR_UNUSED, const char *reason,
    void *ctx)
{
	struct qmgr_agent	*a = ctx;

	log_warning("delivery agent %s: connection closed: %s", a->path,
	    reason);
	ipc_conn_free(&a->conn);
	qmgr_agent_fail_all(a, "delivery agent went away");
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
	if (m->type != IPC_DELIVER_RESULT || r == NULL ||
	    ipc_get_str(m, "status", 16, &status) == -1) {
		log_warning("delivery agent %s: unexpected message type %u "
		    "for request %u", a->path, m->type, m->peer_id);
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
		log_warning("delivery agent: %s", error);
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
	struct qmgr_outcome	 o = { QFILE_STATUS_DEFERRED, "4.3.0",
	    "delivery agent unavailable" };
	struct qmgr_req		*r;

	while ((r = TAILQ_FIRST(&a->failed)) != NULL) {
		TAILQ_REMOVE(&a->failed, r, entry);
		TAILQ_INSERT_TAIL(&a->reqs, r, entry);
		qmgr_agent_finish(r, &o);
	}
}

/* Once a second: requests past their deadline are given up. */
static void
qmgr_agent_timer(evutil_socket_t fd ATTR_UNUSED, short what ATTR_UNUSED,
    void *arg)
{
	struct qmgr_agent	*a = arg;
	struct qmgr_req		*r;
	time_t			 now = time(NULL);

	r = TAILQ_FIRST(&a->reqs);
	if (r != NULL && r->deadline <= now) {
		/* The oldest is overdue: the agent is stuck; start over. */
		log_warning("delivery agent %s: no answer within %us",
		    a->path, cfg->ipc_timeout);
		ipc_conn_free(&a->conn);
		qmgr_agent_fail_all(a, "delivery agent did not answer");
	}
}

struct qmgr_agent *
qmgr_agent_new(struct qmgr *qm, const char *path)
{
	struct qmgr_agent	*a;
	struct timeval		 sec = { 1, 0 };

	a = xcalloc(1, sizeof(*a));
	a->qm = qm;
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

void
qmgr_agent_deliver(struct qmgr_agent *a, const struct qmgr_delivery *d,
    qmgr_delivery_cb *cb, void *ctx)
{
	struct timeval	 now0 = { 0, 0 };
	struct qmgr_req	*r;
	struct ipc_msg	*m;
	int		 rc = -1;

	r = xcalloc(1, sizeof(*r));
	r->a = a;
	r->cb = cb;
	r->ctx = ctx;
	r->deadline = time(NULL) + (time_t)cfg->ipc_timeout;
	a->busy++;
	if (a->conn != NULL || qmgr_agent_connect(a) == 0) {
		/* Ids skip 0 (HELLO) and wrap after 2^32 requests. */
		if (++a->next_id == 0)
			a->next_id = 1;
		r->id = a->next_id;
		m = ipc_msg_new(IPC_DELIVER, r->id);
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
		rc = ipc_conn_send(a->conn, m, d->fd);
		ipc_msg_free(&m);
	}
	if (rc == 0) {
		TAILQ_INSERT_TAIL(&a->reqs, r, entry);
		return;
	}
	TAILQ_INSERT_TAIL(&a->failed, r, entry);
	(void)event_add(a->fail_ev, &now0);
}

unsigned int
qmgr_agent_busy(const struct qmgr_agent *a)
{
	return a->busy;
}
