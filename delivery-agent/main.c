/* SPDX-License-Identifier: ISC */
/*
 * postern-delivery-agent: local delivery into Maildirs (DESIGN.md "How a
 * message travels" 4-5, postern-delivery-agent(8)).  This file is the
 * table and the hooks that common/service.c calls (STYLE R15) and the
 * connections of the queue manager on private/local.
 *
 * A connection starts with HELLO; then each IPC_DELIVER, with the queue
 * file's descriptor, is checked (deliver.c) and handed to a pool of sync
 * threads (common/workq), so the event loop never waits for the disk and
 * many deliveries fsync at once.  Each gets one IPC_DELIVER_RESULT with
 * its peer_id, in the order they finish.  A connection that goes away
 * with deliveries in flight only unhooks them: they finish and are
 * logged, and the queue manager, which saw no result, tries again (a
 * message may then be delivered twice, never lost).
 *
 * smtpd asks on the same socket, at RCPT time, whether a mailbox is full
 * (IPC_QUOTA_CHECK, answered by IPC_QUOTA_RESULT).  The maildirsize read
 * may block on a slow disk too, so it runs in a pool of its own with a
 * few threads: a check never waits behind the fsyncs of hundreds of
 * deliveries, and smtpd, which gives up after smtpd_quota_check_timeout
 * and accepts the recipient, gets its answer in time.
 *
 * With system_account_domains set, mailboxes may belong to Unix
 * accounts (uid and gid in IPC_DELIVER).  Started as root, the agent
 * then keeps CAP_SETUID and CAP_SETGID (and nothing else) through the
 * privilege drop, so that a sync thread can take an account's
 * file-system ids for one delivery (deliver.h); without that feature it
 * keeps no capability at all.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/conf.h"
#include "common/error.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/priv.h"
#include "common/service.h"
#include "common/str.h"
#include "common/workq.h"
#include "common/xmalloc.h"

#include "delivery-agent/deliver.h"
#include "delivery-agent/maildir.h"

#include "common/banned.h"

/* Deliveries one connection may have in flight (each holds a descriptor). */
#define AGENT_MAX_PENDING	512
/* Quota checks one connection may have in flight. */
#define AGENT_MAX_CHECKS	512
/* Threads that read maildirsize files for quota checks. */
#define AGENT_QUOTA_THREADS	2
/* Room for a host name with every byte escaped as "\ooo". */
#define AGENT_HOST_SIZE		(MAILDIR_HOST_MAX * 4 + 1)

struct agent_client;

struct agent_job {
	TAILQ_ENTRY(agent_job)	 entry;		/* in its client's list */
	struct agent		*a;
	struct agent_client	*c;		/* NULL once the client left */
	uint32_t		 peer_id;
	struct deliver_request	 rq;
	struct deliver_result	 res;
};

/* A quota check: the same life as a delivery job, without a file. */
struct agent_check {
	TAILQ_ENTRY(agent_check) entry;		/* in its client's list */
	struct agent_client	*c;		/* NULL once the client left */
	uint32_t		 peer_id;
	struct deliver_quota_request rq;
	struct deliver_quota_result res;
};

struct agent_client {
	TAILQ_ENTRY(agent_client) entry;
	struct agent		*a;
	struct ipc_conn		*conn;
	char			*peer;		/* for the log */
	bool			 hello;
	bool			 closing;	/* stop: close after the last job */
	unsigned int		 pending;
	unsigned int		 checks;	/* quota checks in flight */
	TAILQ_HEAD(, agent_job)	 jobs;
	TAILQ_HEAD(, agent_check) checkq;
};

struct agent {
	struct service		*sv;
	struct workq		*q;
	struct workq		*quotaq;	/* quota checks */
	char			 host[AGENT_HOST_SIZE];
	uint64_t		 counter;	/* unique file names */
	bool			 can_switch;	/* CAP_SETUID/CAP_SETGID held */
	bool			 stopping;
	TAILQ_HEAD(, agent_client) clients;
};

static void	agent_client_free(struct agent_client **cp, bool count);

static void
agent_send(struct agent_client *c, struct ipc_msg **mp)
{
	if (ipc_conn_send(c->conn, *mp, -1) == -1)
		log_warning("%s: cannot queue a reply", c->peer);
	ipc_msg_free(mp);
}

static void
agent_send_result(struct agent_client *c, uint32_t peer_id,
    const char *status, const char *dsn, const char *text)
{
	struct ipc_msg	*m;

	m = ipc_msg_new(IPC_DELIVER_RESULT, peer_id);
	ipc_add_str(m, "status", status);
	ipc_add_str(m, "dsn", dsn);
	ipc_add_str(m, "text", text);
	agent_send(c, &m);
}

/* Refuses a request that is no delivery: IPC_ERROR {text}. */
static void
agent_reject(struct agent_client *c, const struct ipc_msg *req,
    const char *text)
{
	struct ipc_msg	*m;

	log_warning("%s: request %u refused: %s", c->peer, req->type, text);
	m = ipc_msg_new(IPC_ERROR, req->peer_id);
	ipc_add_str(m, "text", text);
	agent_send(c, &m);
}

/* Seconds from arrival (microseconds) until now. */
static double
agent_delay(uint64_t arrival)
{
	struct timeval	tv;
	uint64_t	now;

	if (gettimeofday(&tv, NULL) == -1)
		return 0.0;
	now = (uint64_t)tv.tv_sec * 1000000 + (uint64_t)tv.tv_usec;
	return now > arrival ? (double)(now - arrival) / 1e6 : 0.0;
}

/* ---- deliveries ----------------------------------------------------- */

/* In a pool thread: only the job's own fields. */
static void
agent_job_work(void *arg)
{
	struct agent_job *j = arg;

	deliver_run(&j->rq, &j->res);
}

/* In the event loop: log, answer, forget. */
static void
agent_job_done(void *arg)
{
	struct agent_job	*j = arg;
	struct agent_client	*c = j->c;
	const struct deliver_result *res = &j->res;

	if (res->status == DELIVER_OK)
		log_q(LOG_INFO, j->rq.id, "to=<%s>, orig_to=<%s>, relay=local, "
		    "delay=%.2f, dsn=%s, status=sent (delivered to maildir%s%s)",
		    log_safe(j->rq.user), log_safe(j->rq.rcpt),
		    agent_delay(j->rq.arrival), res->dsn,
		    res->folder_used ? " folder ." : "",
		    res->folder_used ? j->rq.folder : "");
	else	/* The text the peer got first: the detail may be cut. */
		log_q(LOG_INFO, j->rq.id, "to=<%s>, orig_to=<%s>, relay=local, "
		    "delay=%.2f, dsn=%s, status=%s (%s%s%s)",
		    log_safe(j->rq.user), log_safe(j->rq.rcpt),
		    agent_delay(j->rq.arrival), res->dsn,
		    deliver_status_log(res->status), log_safe(res->text),
		    res->detail[0] != '\0' ? ": " : "",
		    log_safe(res->detail));
	if (res->warning[0] != '\0')
		log_q(LOG_WARNING, j->rq.id, "maildirsize not updated: %s",
		    log_safe(res->warning));
	if (c != NULL) {
		TAILQ_REMOVE(&c->jobs, j, entry);
		c->pending--;
		agent_send_result(c, j->peer_id, deliver_status_name(res->status),
		    res->dsn, res->text);
	}
	deliver_request_deinit(&j->rq);
	free(j);
	if (c != NULL && c->closing && c->pending == 0) {
		(void)ipc_conn_flush(c->conn);
		agent_client_free(&c, true);
	}
}

static void
agent_deliver(struct agent_client *c, struct ipc_msg *m)
{
	struct agent		*a = c->a;
	struct agent_job	*j;
	struct deliver_request	 rq;
	const char		*error;

	if (deliver_request_parse(m, &rq, &error) == -1) {
		log_warning("%s: malformed delivery request %" PRIu32 ": %s",
		    c->peer, m->peer_id, error);
		agent_send_result(c, m->peer_id, "defer", "4.3.0",
		    error_fmt("malformed delivery request: %s", error));
		return;
	}
	if (a->stopping || c->pending >= AGENT_MAX_PENDING) {
		log_q(LOG_WARNING, rq.id, "to=<%s>, relay=local, status=deferred "
		    "(%s)", log_safe(rq.user), a->stopping ?
		    "delivery agent stopping" : "too many deliveries in flight");
		agent_send_result(c, m->peer_id, "defer", "4.3.0", a->stopping ?
		    "delivery agent stopping" : "too many deliveries in flight");
		deliver_request_deinit(&rq);
		return;
	}
	j = xcalloc(1, sizeof(*j));
	j->a = a;
	j->c = c;
	j->peer_id = m->peer_id;
	j->rq = rq;
	j->rq.root = cfg->mail_directory;
	j->rq.host = a->host;
	j->rq.use_folders = cfg->delivery_subaddress_folders;
	j->rq.quota_bounce = cfg->delivery_quota_bounce;
	j->rq.pid = (uint64_t)getpid();
	j->rq.counter = a->counter++;
	j->rq.can_switch = a->can_switch;
	if (j->rq.has_owner)
		log_q(LOG_DEBUG, j->rq.id, "to=<%s>, maildir=%s, uid=%lu, "
		    "gid=%lu%s", log_safe(j->rq.user), log_safe(j->rq.maildir),
		    (unsigned long)j->rq.uid, (unsigned long)j->rq.gid,
		    a->can_switch ? "" : " (cannot switch ids)");
	else
		log_q(LOG_DEBUG, j->rq.id, "to=<%s>, maildir=%s, uid=%lu "
		    "(own)", log_safe(j->rq.user), log_safe(j->rq.maildir),
		    (unsigned long)geteuid());
	TAILQ_INSERT_TAIL(&c->jobs, j, entry);
	c->pending++;
	workq_submit(a->q, agent_job_work, agent_job_done, j);
}

/* ---- quota checks (smtpd) ------------------------------------------- */

/* In a pool thread: only the check's own fields. */
static void
agent_check_work(void *arg)
{
	struct agent_check *k = arg;

	deliver_quota_run(&k->rq, &k->res);
}

static void
agent_send_quota(struct agent_client *c, uint32_t peer_id, bool full,
    uint64_t used)
{
	struct ipc_msg	*m;

	m = ipc_msg_new(IPC_QUOTA_RESULT, peer_id);
	ipc_add_str(m, "status", full ? "full" : "ok");
	ipc_add_u64(m, "used", used);
	agent_send(c, &m);
}

/* In the event loop: log, answer, forget. */
static void
agent_check_done(void *arg)
{
	struct agent_check	*k = arg;
	struct agent_client	*c = k->c;
	const struct deliver_quota_result *res = &k->res;

	/* Not full: the check fails open, and the delivery will know. */
	if (res->detail[0] != '\0')
		log_warning("quota check: user=<%s>: maildirsize not read: %s",
		    log_safe(k->rq.user), log_safe(res->detail));
	if (res->known)
		log_debug("quota check: user=<%s>, used=%" PRIu64 ", quota=%"
		    PRIu64 ", size=%" PRIu64 ": %s", log_safe(k->rq.user),
		    res->used, k->rq.quota, k->rq.size, res->full ? "full" :
		    "ok");
	else
		log_debug("quota check: user=<%s>: no maildirsize, not full",
		    log_safe(k->rq.user));
	if (c != NULL) {
		TAILQ_REMOVE(&c->checkq, k, entry);
		c->checks--;
		agent_send_quota(c, k->peer_id, res->full, res->used);
	}
	deliver_quota_deinit(&k->rq);
	free(k);
}

static void
agent_quota_check(struct agent_client *c, struct ipc_msg *m)
{
	struct agent		*a = c->a;
	struct agent_check	*k;
	struct deliver_quota_request rq;
	const char		*error;

	if (deliver_quota_parse(m, cfg->mail_directory, &rq, &error) == -1) {
		agent_reject(c, m, error_fmt("malformed quota check: %s",
		    error));
		return;
	}
	/* smtpd takes an error for "not full". */
	if (a->stopping || c->checks >= AGENT_MAX_CHECKS) {
		agent_reject(c, m, a->stopping ? "delivery agent stopping" :
		    "too many quota checks in flight");
		deliver_quota_deinit(&rq);
		return;
	}
	if (rq.quota == 0) {
		agent_send_quota(c, m->peer_id, false, 0);
		deliver_quota_deinit(&rq);
		return;
	}
	k = xcalloc(1, sizeof(*k));
	k->c = c;
	k->peer_id = m->peer_id;
	k->rq = rq;
	TAILQ_INSERT_TAIL(&c->checkq, k, entry);
	c->checks++;
	workq_submit(a->quotaq, agent_check_work, agent_check_done, k);
}

/* ---- connections ---------------------------------------------------- */

/* The first message: HELLO {version, program}.  -1 closes. */
static int
agent_hello(struct agent_client *c, struct ipc_msg *m)
{
	struct ipc_msg	*r;
	const char	*program, *error;
	char		*peer;

	if (ipc_hello_check(m, &program, &error) == -1) {
		agent_reject(c, m, error);
		return -1;
	}
	c->hello = true;
	peer = xasprintf("%s (%s)", c->peer, program);
	free(c->peer);
	c->peer = peer;
	r = ipc_msg_new(IPC_OK, m->peer_id);
	agent_send(c, &r);
	return 0;
}

static int
agent_client_msg(struct ipc_conn *conn, struct ipc_msg *m, void *ctx)
{
	struct agent_client	*c = ctx;
	int			 ret = 0;

	if (!c->hello) {
		if (m->fd != -1) {
			agent_reject(c, m, "unexpected descriptor");
			ret = -1;
		} else
			ret = agent_hello(c, m);
	} else if (m->type == IPC_DELIVER)
		agent_deliver(c, m);
	else if (m->fd != -1)
		agent_reject(c, m, "unexpected descriptor");
	else if (m->type == IPC_QUOTA_CHECK)
		agent_quota_check(c, m);
	else if (m->type == IPC_HELLO)
		agent_reject(c, m, "HELLO already received");
	else
		agent_reject(c, m, "unexpected message type");
	ipc_msg_free(&m);	/* closes a descriptor no request took */
	return ret;
}

static void
agent_client_free(struct agent_client **cp, bool count)
{
	struct agent_client	*c = *cp;
	struct agent_job	*j;
	struct agent_check	*k;

	if (c == NULL)
		return;
	*cp = NULL;
	/* Deliveries in flight finish and are logged, unanswered. */
	while ((j = TAILQ_FIRST(&c->jobs)) != NULL) {
		TAILQ_REMOVE(&c->jobs, j, entry);
		j->c = NULL;
	}
	while ((k = TAILQ_FIRST(&c->checkq)) != NULL) {
		TAILQ_REMOVE(&c->checkq, k, entry);
		k->c = NULL;
	}
	TAILQ_REMOVE(&c->a->clients, c, entry);
	ipc_conn_free(&c->conn);
	if (count)
		service_client_closed(c->a->sv);
	free(c->peer);
	free(c);
}

static void
agent_client_closed(struct ipc_conn *conn, const char *reason, void *ctx)
{
	struct agent_client *c = ctx;

	if (c->pending > 0)
		log_warning("%s: %s with %u deliveries in flight", c->peer,
		    reason, c->pending);
	else
		log_debug("%s: %s", c->peer, reason);
	agent_client_free(&c, true);
}

static void
agent_accept(struct service *sv, int fd, const struct service_listener *l,
    const struct sockaddr *peer, socklen_t peer_len)
{
	struct agent		*a = service_ctx(sv);
	struct agent_client	*c;

	if (a->stopping) {
		(void)close(fd);
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->a = a;
	TAILQ_INIT(&c->jobs);
	TAILQ_INIT(&c->checkq);
	c->peer = ipc_peer_name(fd, "");
	c->conn = ipc_conn_new(service_base(sv), fd, cfg->ipc_max_message_size,
	    c->peer, agent_client_msg, agent_client_closed, c);
	TAILQ_INSERT_TAIL(&a->clients, c, entry);
	service_client_opened(sv);
	log_debug("%s: connected", c->peer);
}

/* ---- the daemon ----------------------------------------------------- */

static int
agent_pre_jail(struct service *sv, const char **error_r)
{
	/* Mailbox paths are absolute: a chroot would move them. */
	if (strcmp(service_conf(sv)->chroot, "no") != 0) {
		*error_r = error_fmt("%s.chroot must be no", service_name(sv));
		return -1;
	}
	return 0;
}

static int
agent_post_jail(struct service *sv, const char **error_r)
{
	struct agent	*a;
	char		 host[256];

	if (cfg->myhostname[0] != '\0') {
		if (str_copy(host, sizeof(host), cfg->myhostname) == -1) {
			*error_r = "myhostname is too long";
			return -1;
		}
	} else if (gethostname(host, sizeof(host)) == -1) {
		*error_r = error_fmt("gethostname: %s", strerror(errno));
		return -1;
	}
	host[sizeof(host) - 1] = '\0';
	a = xcalloc(1, sizeof(*a));
	a->sv = sv;
	TAILQ_INIT(&a->clients);
	if (maildir_host_name(host, a->host, sizeof(a->host)) == -1) {
		free(a);
		*error_r = "cannot determine the host name (set myhostname)";
		return -1;
	}
	a->q = workq_new(service_base(sv), cfg->delivery_sync_threads,
	    error_r);
	if (a->q == NULL) {
		free(a);
		return -1;
	}
	a->quotaq = workq_new(service_base(sv), AGENT_QUOTA_THREADS, error_r);
	if (a->quotaq == NULL) {
		workq_free(&a->q);
		free(a);
		return -1;
	}
	a->can_switch = priv_caps_held(PRIV_CAP_SETUID | PRIV_CAP_SETGID);
	service_set_ctx(sv, a);
	log_info("started; mailboxes below %s%s", cfg->mail_directory,
	    cfg->system_account_domains == NULL ||
	    cfg->system_account_domains[0] == NULL ? "" : a->can_switch ?
	    " and in Unix accounts' homes" : " and in Unix accounts' homes "
	    "(only the agent's own: not started as root)");
	return 0;
}

/* CAP_SETUID and CAP_SETGID only when Unix accounts own mailboxes. */
static unsigned int
agent_keep_caps(void)
{
	if (cfg->system_account_domains == NULL ||
	    cfg->system_account_domains[0] == NULL)
		return 0;
	return PRIV_CAP_SETUID | PRIV_CAP_SETGID;
}

static void
agent_stop(struct service *sv)
{
	struct agent		*a = service_ctx(sv);
	struct agent_client	*c, *next;

	if (a == NULL)
		return;
	a->stopping = true;
	for (c = TAILQ_FIRST(&a->clients); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		if (c->pending == 0)
			agent_client_free(&c, true);
		else
			c->closing = true;
	}
}

static void
agent_exit(struct service *sv)
{
	struct agent		*a = service_ctx(sv);
	struct agent_client	*c;

	if (a == NULL)
		return;
	/* Deliveries in flight finish, are logged and answered if they can. */
	a->stopping = true;
	workq_drain(a->q);
	workq_drain(a->quotaq);
	while ((c = TAILQ_FIRST(&a->clients)) != NULL) {
		(void)ipc_conn_flush(c->conn);
		agent_client_free(&c, false);
	}
	workq_free(&a->q);
	workq_free(&a->quotaq);
	service_set_ctx(sv, NULL);
	free(a);
}

int
main(int argc, char *argv[])
{
	static const struct service_def def = {
		.name		= "delivery-agent",
		.pre_jail	= agent_pre_jail,	/* no chroot */
		.keep_caps	= agent_keep_caps,	/* system accounts */
		.post_jail	= agent_post_jail,	/* host name, sync threads */
		.on_accept	= agent_accept,		/* a queue manager */
		.on_stop	= agent_stop,
		.on_exit	= agent_exit,
	};

	return service_main(&def, argc, argv);
}
