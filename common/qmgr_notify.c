/* SPDX-License-Identifier: ISC */
/*
 * Queue manager notices (qmgr_notify.h): one lazily opened IPC
 * connection, HELLO first, then one IPC_QMGR_QUEUED per committed file.
 * A failed connect is not retried before QMGR_NOTIFY_RETRY seconds have
 * passed, so a missing queue manager costs one connect() a second, not one
 * per message.
 */
#include "config.h"

#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "conf.h"
#include "ipc.h"
#include "log.h"
#include "qmgr_notify.h"
#include "xmalloc.h"

#include "banned.h"

struct qmgr_notify {
	struct event_base	*base;
	char			*path;
	char			*program;
	struct ipc_conn		*conn;
	time_t			 next_try;	/* no connect before this */
	bool			 warned;	/* "not reachable" said once */
	unsigned long long	 sent;
	unsigned long long	 dropped;
};

struct qmgr_notify *
qmgr_notify_new(struct event_base *base, const char *path,
    const char *program)
{
	struct qmgr_notify *n;

	n = xcalloc(1, sizeof(*n));
	n->base = base;
	n->path = xstrdup(path);
	n->program = xstrdup(program);
	return n;
}

void
qmgr_notify_free(struct qmgr_notify **np)
{
	struct qmgr_notify *n = *np;

	if (n == NULL)
		return;
	*np = NULL;
	ipc_conn_free(&n->conn);
	free(n->path);
	free(n->program);
	free(n);
}

/* The queue manager sends nothing we need; a refused HELLO closes. */
static int
qmgr_notify_msg(struct ipc_conn *c ATTR_UNUSED, struct ipc_msg *m, void *ctx)
{
	struct qmgr_notify *n = ctx;

	int	r = 0;

	if (m->type == IPC_ERROR) {
		log_warning("queue manager notices: %s refused us", n->path);
		r = -1;
	}
	ipc_msg_free(&m);
	return r;
}

static void
qmgr_notify_closed(struct ipc_conn *c ATTR_UNUSED, const char *reason,
    void *ctx)
{
	struct qmgr_notify *n = ctx;

	log_info("queue manager notices: %s closed: %s", n->path, reason);
	ipc_conn_free(&n->conn);
	n->next_try = time(NULL) + QMGR_NOTIFY_RETRY;
}

static int
qmgr_notify_connect(struct qmgr_notify *n)
{
	struct ipc_msg	*m;
	const char	*error;
	time_t		 now = time(NULL);
	int		 fd, r;

	if (now < n->next_try)
		return -1;
	if ((fd = ipc_connect_nonblock(n->path, &error)) == -1) {
		n->next_try = now + QMGR_NOTIFY_RETRY;
		if (!n->warned)
			log_info("queue manager notices: %s (the spool scan "
			    "will find new mail)", error);
		n->warned = true;
		return -1;
	}
	n->warned = false;
	n->conn = ipc_conn_new(n->base, fd, cfg->ipc_max_message_size,
	    n->path, qmgr_notify_msg, qmgr_notify_closed, n);
	m = ipc_hello_new(n->program);
	r = ipc_conn_send(n->conn, m, -1);
	ipc_msg_free(&m);
	if (r == -1) {
		ipc_conn_free(&n->conn);
		n->next_try = now + QMGR_NOTIFY_RETRY;
		return -1;
	}
	return 0;
}

int
qmgr_notify_queued(struct qmgr_notify *n, const char *id)
{
	struct ipc_msg	*m;
	int		 r;

	if (n->conn == NULL && qmgr_notify_connect(n) == -1) {
		n->dropped++;
		return 0;
	}
	m = ipc_msg_new(IPC_QMGR_QUEUED, 0);
	ipc_add_str(m, "id", id);
	r = ipc_conn_send(n->conn, m, -1);
	ipc_msg_free(&m);
	if (r == -1) {
		n->dropped++;
		return 0;
	}
	n->sent++;
	return 1;
}

void
qmgr_notify_counts(const struct qmgr_notify *n, unsigned long long *sent_r,
    unsigned long long *dropped_r)
{
	*sent_r = n->sent;
	*dropped_r = n->dropped;
}
