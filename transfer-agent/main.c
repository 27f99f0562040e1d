/* SPDX-License-Identifier: ISC */
/*
 * postern-transfer-agent: relays mail to other servers over SMTP
 * (DESIGN.md, postern-transfer-agent(8)).  The queue manager connects to
 * private/smtp and sends IPC_RELAY requests, many at once, each for one
 * message and one next hop with its recipients and the queue file's
 * descriptor; every request is answered with one IPC_RELAY_RESULT that
 * holds an outcome per recipient.  The SMTP work is in smtp_client.c.
 *
 * Before dropping privileges (as root on a real system) the agent reads
 * what the chroot hides: /etc/resolv.conf (c-ares), the trusted CAs, and
 * the TLS policy and SASL password tables, which may be readable by root
 * only.  The tables are pinned (table_pin()): a rebuilt table is read by
 * the next agent process, after "postctl reload".
 */
#include "config.h"

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/conf.h"
#include "common/error.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/service.h"
#include "common/str.h"
#include "common/table.h"
#include "common/tls.h"
#include "common/xmalloc.h"
#include "relay.h"
#include "common/banned.h"

/* Jobs one queue manager connection may have in flight. */
#define TA_MAX_PENDING		10000
/* Recipients in one request (queue_destination_recipient_limit max). */
#define TA_MAX_RCPTS		100000

struct ta_client {
	TAILQ_ENTRY(ta_client)	 entry;
	struct ta		*ta;
	struct ipc_conn		*conn;
	char			*peer;
	bool			 hello;
	bool			 closing;	/* stop: close after the last job */
	unsigned int		 pending;
	TAILQ_HEAD(, relay_job)	 jobs;
};

static void	ta_client_free(struct ta_client **cp, bool count);

static const char *
ta_status_name(enum relay_status st)
{
	switch (st) {
	case RELAY_SENT:
		return "ok";
	case RELAY_BOUNCED:
		return "bounce";
	default:
		return "defer";
	}
}

void
relay_rcpt_set(struct relay_rcpt *r, enum relay_status st, const char *dsn,
    const char *text)
{
	if (r->status != RELAY_PENDING)
		return;
	r->status = st;
	if (str_copy(r->dsn, sizeof(r->dsn), dsn) == -1)
		str_copy_cut(r->dsn, sizeof(r->dsn), st == RELAY_SENT ?
		    "2.0.0" : st == RELAY_BOUNCED ? "5.0.0" : "4.0.0");
	free(r->text);
	r->text = xstrndup(text, RELAY_TEXT_MAX);
}

static void
ta_job_free(struct relay_job *j)
{
	unsigned int	 i;

	for (i = 0; i < j->nrcpt; i++) {
		free(j->rcpts[i].addr);
		free(j->rcpts[i].orcpt);
		free(j->rcpts[i].text);
	}
	free(j->rcpts);
	free(j->addrs);
	free(j->sender);
	free(j->nexthop);
	free(j->envid);
	if (j->sasl_pass != NULL)
		explicit_bzero(j->sasl_pass, strlen(j->sasl_pass));
	free(j->sasl_user);
	free(j->sasl_pass);
	if (j->fd != -1)
		(void)close(j->fd);
	if (j->done_ev != NULL)
		event_free(j->done_ev);
	free(j);
}

static void
ta_send(struct ta_client *c, struct ipc_msg **mp)
{
	if (ipc_conn_send(c->conn, *mp, -1) == -1)
		log_warning("%s: cannot queue a reply", c->peer);
	ipc_msg_free(mp);
}

void
relay_job_done(struct relay_job *j)
{
	struct ta_client	*c = j->c;
	struct ta		*ta = j->ta;
	struct ipc_msg		*m;
	unsigned int		 i;

	for (i = 0; i < j->nrcpt; i++)
		relay_rcpt_set(&j->rcpts[i], RELAY_DEFERRED, "4.3.0",
		    j->why[0] != '\0' ? j->why : "delivery not completed");
	if (c != NULL) {
		m = ipc_msg_new(IPC_RELAY_RESULT, j->peer_id);
		for (i = 0; i < j->nrcpt; i++) {
			ipc_add_str(m, "status",
			    ta_status_name(j->rcpts[i].status));
			ipc_add_str(m, "dsn", j->rcpts[i].dsn);
			ipc_add_str(m, "text", j->rcpts[i].text);
		}
		ipc_add_str(m, "relay", j->relay[0] != '\0' ? j->relay :
		    "none");
		if (j->tls_info[0] != '\0')
			ipc_add_str(m, "tls", j->tls_info);
		ipc_add_u64(m, "dsn_passed", j->dsn_passed ? 1 : 0);
		ta_send(c, &m);
		TAILQ_REMOVE(&c->jobs, j, entry);
		c->pending--;
	}
	ta->njobs--;
	ta_job_free(j);
	if (c != NULL && c->closing && c->pending == 0) {
		(void)ipc_conn_flush(c->conn);
		ta_client_free(&c, true);
	}
}

/* ---- tables ----------------------------------------------------------- */

static int
ta_tables_open(char *const *names, struct table ***tables_r,
    unsigned int *n_r, const char **error_r)
{
	struct table	**t;
	unsigned int	 n, i;

	n = (unsigned int)conf_list_count(names);
	t = xcalloc(n + 1, sizeof(*t));
	for (i = 0; i < n; i++) {
		if ((t[i] = table_open(names[i], cfg->default_database_type,
		    error_r)) == NULL) {
			while (i-- > 0)
				table_close(&t[i]);
			free(t);
			return -1;
		}
		table_pin(t[i]);
	}
	*tables_r = t;
	*n_r = n;
	return 0;
}

static void
ta_tables_close(struct table ***tp, unsigned int n)
{
	unsigned int	 i;

	if (*tp == NULL)
		return;
	for (i = 0; i < n; i++)
		table_close(&(*tp)[i]);
	free(*tp);
	*tp = NULL;
}

/* The first table with key: 1 *value_r, 0 none, -1 failure. */
static int
ta_tables_lookup(struct table **t, unsigned int n, const char *key,
    const char **value_r, const char **error_r)
{
	unsigned int	 i;
	int		 r;

	for (i = 0; i < n; i++)
		if ((r = table_lookup(t[i], key, value_r, error_r)) != 0)
			return r;
	return 0;
}

static int
ta_tls_level(const char *s, enum relay_tls *level_r)
{
	s = str_skip_ws(s);
	if (strncasecmp(s, "none", 4) == 0 && (s[4] == '\0' || s[4] == ' '))
		*level_r = RELAY_TLS_NONE;
	else if (strncasecmp(s, "may", 3) == 0 &&
	    (s[3] == '\0' || s[3] == ' '))
		*level_r = RELAY_TLS_MAY;
	else if (strncasecmp(s, "encrypt", 7) == 0 &&
	    (s[7] == '\0' || s[7] == ' '))
		*level_r = RELAY_TLS_ENCRYPT;
	else if (strncasecmp(s, "verify", 6) == 0 &&
	    (s[6] == '\0' || s[6] == ' '))
		*level_r = RELAY_TLS_VERIFY;
	else
		return -1;
	return 0;
}

/*
 * The TLS level and credentials of j's next hop.  Returns 0, or -1 with
 * j->why set (a table failed or holds nonsense: defer).
 */
static int
ta_job_policy(struct ta *ta, struct relay_job *j)
{
	const char	*value, *error, *colon;
	int		 r;

	if (ta_tls_level(cfg->smtp_tls_security_level, &j->tls) == -1)
		j->tls = RELAY_TLS_MAY;
	r = ta_tables_lookup(ta->policy, ta->npolicy, j->nexthop, &value,
	    &error);
	if (r == -1) {
		log_warning("smtp_tls_policy_maps: %s", error);
		str_copy_cut(j->why, sizeof(j->why),
		    "TLS policy lookup failed");
		return -1;
	}
	if (r == 1 && ta_tls_level(value, &j->tls) == -1) {
		log_warning("smtp_tls_policy_maps: bad level \"%s\" for %s",
		    log_safe(value), log_safe(j->nexthop));
		str_copy_cut(j->why, sizeof(j->why),
		    "bad TLS policy for this destination");
		return -1;
	}
	r = ta_tables_lookup(ta->sasl, ta->nsasl, j->nexthop, &value, &error);
	if (r == -1) {
		log_warning("smtp_sasl_password_maps: %s", error);
		str_copy_cut(j->why, sizeof(j->why),
		    "SASL password lookup failed");
		return -1;
	}
	if (r == 1) {
		value = str_skip_ws(value);
		if ((colon = strchr(value, ':')) == NULL || colon == value) {
			log_warning("smtp_sasl_password_maps: the entry for %s "
			    "is not USER:PASSWORD", log_safe(j->nexthop));
			str_copy_cut(j->why, sizeof(j->why),
			    "bad SASL credentials for this destination");
			return -1;
		}
		j->sasl_user = xstrndup(value, (size_t)(colon - value));
		j->sasl_pass = xstrdup(colon + 1);
	}
	return 0;
}

/* ---- requests ------------------------------------------------------------ */

/* Parses IPC_RELAY into a new job; NULL with *error_r. */
static struct relay_job *
ta_job_parse(struct ipc_msg *m, const char **error_r)
{
	struct relay_job	*j;
	struct relay_rcpt	*rcpts = NULL;
	char			**rcpt = NULL, **orcpt = NULL, **notify = NULL;
	size_t			 nr = 0, no = 0, nn = 0, i;
	const char		*id, *sender, *nexthop, *envid = NULL;
	uint64_t		 body, ret, utf8, off, len, arrival, v;

	if (ipc_get_str(m, "id", QFILE_ID_LEN, &id) == -1 ||
	    strlen(id) != QFILE_ID_LEN ||
	    ipc_get_str(m, "sender", QFILE_ADDR_MAX, &sender) == -1 ||
	    ipc_get_str(m, "nexthop", RELAY_NAME_MAX, &nexthop) == -1 ||
	    ipc_get_u64(m, "body", QFILE_BODY_BINARYMIME, &body) == -1 ||
	    ipc_get_u64(m, "ret", QFILE_RET_HDRS, &ret) == -1 ||
	    ipc_get_u64(m, "smtputf8", 1, &utf8) == -1 ||
	    ipc_get_u64(m, "offset", UINT64_MAX, &off) == -1 ||
	    ipc_get_u64(m, "length", QFILE_MESSAGE_MAX, &len) == -1 ||
	    ipc_get_u64(m, "arrival", UINT64_MAX, &arrival) == -1 ||
	    (ipc_has(m, "envid") && ipc_get_str(m, "envid", QFILE_ENVID_MAX,
	    &envid) == -1)) {
		*error_r = "missing or bad field";
		return NULL;
	}
	if (m->fd == -1) {
		*error_r = "no queue file descriptor";
		return NULL;
	}
	if (ipc_get_list(m, "rcpt", TA_MAX_RCPTS, QFILE_ADDR_MAX, false,
	    &rcpt, &nr) == -1 ||
	    ipc_get_list(m, "orcpt", TA_MAX_RCPTS, QFILE_ORCPT_MAX, true,
	    &orcpt, &no) == -1 ||
	    ipc_get_list(m, "notify", TA_MAX_RCPTS, 2, false, &notify,
	    &nn) == -1 || nr == 0 || no != nr || nn != nr)
		goto bad;
	rcpts = xcalloc(nr, sizeof(*rcpts));
	for (i = 0; i < nr; i++) {
		if (parse_u64(notify[i], QFILE_NOTIFY_NEVER |
		    QFILE_NOTIFY_SUCCESS | QFILE_NOTIFY_FAILURE |
		    QFILE_NOTIFY_DELAY, &v) == -1)
			goto bad;
		rcpts[i].notify = (unsigned int)v;
	}
	j = xcalloc(1, sizeof(*j));
	j->fd = -1;
	str_copy_cut(j->id, sizeof(j->id), id);
	j->sender = xstrdup(sender);
	j->nexthop = xstrdup(nexthop);
	j->envid = envid != NULL ? xstrdup(envid) : NULL;
	j->body = (enum qfile_body)body;
	j->ret = (enum qfile_ret)ret;
	j->smtputf8 = utf8 != 0;
	j->offset = off;
	j->length = len;
	j->arrival = arrival;
	j->rcpts = rcpts;
	j->nrcpt = (unsigned int)nr;
	for (i = 0; i < nr; i++) {
		/* The strings move into the job. */
		j->rcpts[i].addr = rcpt[i];
		j->rcpts[i].orcpt = orcpt[i];
	}
	free(rcpt);
	free(orcpt);
	ipc_list_free(&notify);
	/* The descriptor is ours now. */
	j->fd = m->fd;
	m->fd = -1;
	return j;
bad:
	free(rcpts);
	ipc_list_free(&rcpt);
	ipc_list_free(&orcpt);
	ipc_list_free(&notify);
	*error_r = "bad recipient lists";
	return NULL;
}

/* A job that ends before it starts: every recipient deferred. */
static void
ta_job_done_cb(evutil_socket_t fd ATTR_UNUSED, short what ATTR_UNUSED,
    void *arg)
{
	relay_job_done(arg);
}

static void
ta_relay(struct ta_client *c, struct ipc_msg *m)
{
	struct ta		*ta = c->ta;
	struct relay_job	*j;
	struct timeval		 now0 = { 0, 0 };
	const char		*error;

	if ((j = ta_job_parse(m, &error)) == NULL) {
		log_warning("%s: malformed relay request %" PRIu32 ": %s",
		    c->peer, m->peer_id, error);
		m = ipc_msg_new(IPC_ERROR, m->peer_id);
		ipc_add_str(m, "text", error_fmt("malformed relay request: "
		    "%s", error));
		ta_send(c, &m);
		return;
	}
	j->ta = ta;
	j->c = c;
	j->peer_id = m->peer_id;
	TAILQ_INSERT_TAIL(&c->jobs, j, entry);
	c->pending++;
	ta->njobs++;
	if ((j->done_ev = evtimer_new(ta->base, ta_job_done_cb, j)) == NULL)
		log_fatal("cannot make an event");
	if (ta->stopping || c->pending > TA_MAX_PENDING) {
		str_copy_cut(j->why, sizeof(j->why), ta->stopping ?
		    "transfer agent stopping" : "too many relays in flight");
		(void)event_add(j->done_ev, &now0);
		return;
	}
	if (ta_job_policy(ta, j) == -1) {
		(void)event_add(j->done_ev, &now0);
		return;
	}
	relay_job_start(j);
}

/* ---- connections from the queue manager --------------------------------- */

static int
ta_hello(struct ta_client *c, struct ipc_msg *m)
{
	const char	*program, *error;
	struct ipc_msg	*ok;

	if (ipc_hello_check(m, &program, &error) == -1) {
		log_warning("%s: %s", c->peer, error);
		return -1;
	}
	c->hello = true;
	ok = ipc_msg_new(IPC_OK, m->peer_id);
	ta_send(c, &ok);
	log_debug("%s: hello from %s", c->peer, log_safe(program));
	return 0;
}

static int
ta_client_msg(struct ipc_conn *conn ATTR_UNUSED, struct ipc_msg *m,
    void *ctx)
{
	struct ta_client	*c = ctx;
	int			 r = 0;

	if (!c->hello) {
		if (m->type != IPC_HELLO) {
			log_warning("%s: message %u before HELLO", c->peer,
			    m->type);
			r = -1;
		} else
			r = ta_hello(c, m);
	} else if (m->type == IPC_RELAY) {
		ta_relay(c, m);
	} else {
		log_warning("%s: unexpected message type %u", c->peer,
		    m->type);
		m = ipc_msg_new(IPC_ERROR, m->peer_id);
		ipc_add_str(m, "text", "unexpected message type");
		ta_send(c, &m);
		return 0;
	}
	ipc_msg_free(&m);
	return r;
}

static void
ta_client_free(struct ta_client **cp, bool count)
{
	struct ta_client	*c = *cp;
	struct relay_job	*j;

	if (c == NULL)
		return;
	*cp = NULL;
	/* Jobs in flight are stopped: the queue manager retries them. */
	while ((j = TAILQ_FIRST(&c->jobs)) != NULL) {
		TAILQ_REMOVE(&c->jobs, j, entry);
		j->c = NULL;
		c->pending--;
		relay_job_abort(j);
	}
	TAILQ_REMOVE(&c->ta->clients, c, entry);
	ipc_conn_free(&c->conn);
	if (count)
		service_client_closed(c->ta->sv);
	free(c->peer);
	free(c);
}

static void
ta_client_closed(struct ipc_conn *conn ATTR_UNUSED, const char *reason,
    void *ctx)
{
	struct ta_client	*c = ctx;

	if (c->pending > 0)
		log_warning("%s: %s with %u relays in flight", c->peer,
		    reason, c->pending);
	else
		log_debug("%s: %s", c->peer, reason);
	ta_client_free(&c, true);
}

static void
ta_accept(struct service *sv, int fd, const struct service_listener *l
    ATTR_UNUSED, const struct sockaddr *peer ATTR_UNUSED,
    socklen_t peer_len ATTR_UNUSED)
{
	struct ta		*ta = service_ctx(sv);
	struct ta_client	*c;

	if (ta->stopping) {
		(void)close(fd);
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->ta = ta;
	TAILQ_INIT(&c->jobs);
	c->peer = ipc_peer_name(fd, "");
	c->conn = ipc_conn_new(service_base(sv), fd, cfg->ipc_max_message_size,
	    c->peer, ta_client_msg, ta_client_closed, c);
	TAILQ_INSERT_TAIL(&ta->clients, c, entry);
	service_client_opened(sv);
	log_debug("%s: connected", c->peer);
}

/* ---- the daemon ------------------------------------------------------------ */

static int
ta_pre_jail(struct service *sv, const char **error_r)
{
	struct ta	*ta;
	enum relay_tls	 level;

	if (ta_tls_level(cfg->smtp_tls_security_level, &level) == -1) {
		*error_r = error_fmt("smtp_tls_security_level = %s: not none, "
		    "may, encrypt or verify", cfg->smtp_tls_security_level);
		return -1;
	}
	ta = xcalloc(1, sizeof(*ta));
	ta->sv = sv;
	ta->base = service_base(sv);
	TAILQ_INIT(&ta->clients);
	TAILQ_INIT(&ta->idle);
	if ((ta->dns = dns_new(ta->base, cfg->dns_servers,
	    cfg->dns_timeout * 1000, error_r)) == NULL)
		goto fail;
	if ((ta->tls_ctx = tls_client_new(cfg->smtp_tls_ca_file[0] != '\0' ?
	    cfg->smtp_tls_ca_file : NULL, cfg->smtp_tls_min_protocol,
	    error_r)) == NULL)
		goto fail;
	if (ta_tables_open(cfg->smtp_tls_policy_maps, &ta->policy,
	    &ta->npolicy, error_r) == -1 ||
	    ta_tables_open(cfg->smtp_sasl_password_maps, &ta->sasl,
	    &ta->nsasl, error_r) == -1)
		goto fail;
	service_set_ctx(sv, ta);
	return 0;
fail:
	ta_tables_close(&ta->policy, ta->npolicy);
	tls_ctx_free(&ta->tls_ctx);
	dns_free(&ta->dns);
	free(ta);
	return -1;
}

static int
ta_post_jail(struct service *sv, const char **error_r)
{
	struct ta	*ta = service_ctx(sv);
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
	str_copy_cut(ta->myname, sizeof(ta->myname), host);
	if (str_copy(ta->helo, sizeof(ta->helo), cfg->smtp_helo_name[0] !=
	    '\0' ? cfg->smtp_helo_name : host) == -1) {
		*error_r = "smtp_helo_name is too long";
		return -1;
	}
	log_info("started; helo name %s, TLS %s%s", ta->helo,
	    cfg->smtp_tls_security_level, cfg->relayhost[0] != '\0' ?
	    error_fmt(", relayhost %s", cfg->relayhost) : "");
	return 0;
}

static void
ta_stop(struct service *sv)
{
	struct ta		*ta = service_ctx(sv);
	struct ta_client	*c, *next;

	if (ta == NULL)
		return;
	ta->stopping = true;
	smtp_cache_close(ta);
	for (c = TAILQ_FIRST(&ta->clients); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		if (c->pending == 0)
			ta_client_free(&c, true);
		else
			c->closing = true;
	}
}

static void
ta_exit(struct service *sv)
{
	struct ta		*ta = service_ctx(sv);
	struct ta_client	*c;

	if (ta == NULL)
		return;
	ta->stopping = true;
	while ((c = TAILQ_FIRST(&ta->clients)) != NULL) {
		(void)ipc_conn_flush(c->conn);
		ta_client_free(&c, false);
	}
	smtp_close_all(ta);
	dns_free(&ta->dns);
	tls_ctx_free(&ta->tls_ctx);
	ta_tables_close(&ta->policy, ta->npolicy);
	ta_tables_close(&ta->sasl, ta->nsasl);
	service_set_ctx(sv, NULL);
	free(ta);
}

int
main(int argc, char *argv[])
{
	static const struct service_def def = {
		.name		= "transfer-agent",
		.pre_jail	= ta_pre_jail,	/* resolv.conf, CAs, tables */
		.post_jail	= ta_post_jail,	/* host names */
		.on_accept	= ta_accept,	/* a queue manager */
		.on_stop	= ta_stop,
		.on_exit	= ta_exit,
	};

	return service_main(&def, argc, argv);
}
