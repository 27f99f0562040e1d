/* SPDX-License-Identifier: ISC */
/*
 * The skeleton of every postern daemon (STYLE R15).  It takes what the
 * master hands over (status channel on fd 3, listeners from fd 4), reads
 * the configuration, drops privileges in one place (priv_drop), accepts
 * connections with libevent and hands them to the daemon's hook.  It
 * trusts the master for the descriptors it passes, but checks that each
 * really is a socket before using it.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "error.h"
#include "ipc.h"
#include "log.h"
#include "net.h"
#include "priv.h"
#include "service.h"
#include "str.h"
#include "xmalloc.h"

#include "banned.h"

struct service_lis {
	struct service_listener	 pub;
	struct evconnlistener	*ev;
	struct service		*sv;
};

struct service {
	const struct service_def *def;
	const struct conf_service *conf;
	struct postern_config	*config;
	struct event_base	*base;
	struct service_lis	*listeners;
	size_t			 nlisteners;
	bool			 accepting;
	struct ipc_conn		*status;	/* NULL when not run by the master */
	bool			 status_gone;	/* the master closed it */
	struct event		*ev_term;
	struct event		*ev_int;
	struct event		*ev_hup;
	struct event		*ev_idle;
	unsigned int		 clients;
	bool			 reported_full;
	bool			 stopping;
	char			*name;
	char			**args;
	int			 nargs;
	void			*ctx;
};

static void service_stop(struct service *sv, const char *why);

struct event_base *
service_base(struct service *sv)
{
	return sv->base;
}

const struct conf_service *
service_conf(const struct service *sv)
{
	return sv->conf;
}

const char *
service_name(const struct service *sv)
{
	return sv->name;
}

void
service_set_ctx(struct service *sv, void *ctx)
{
	sv->ctx = ctx;
}

void *
service_ctx(const struct service *sv)
{
	return sv->ctx;
}

char *const *
service_args(const struct service *sv, int *argc_r)
{
	*argc_r = sv->nargs;
	return sv->args;
}

bool
service_stopping(const struct service *sv)
{
	return sv->stopping;
}

unsigned int
service_clients(const struct service *sv)
{
	return sv->clients;
}

int
service_priv_target(const struct postern_config *c,
    const struct conf_service *s, struct priv_target *t_r,
    char *chroot_buf, size_t chroot_size, const char **error_r)
{
	const char	*user, *dir = NULL, *lookup_error;
	int		 r;

	memset(t_r, 0, sizeof(*t_r));
	user = s->user[0] != '\0' ? s->user : c->mail_owner;
	r = priv_lookup_user(user, &t_r->uid, &t_r->gid, &lookup_error);
	if (r == -1) {
		*error_r = error_fmt("service %s: user %s: %s", s->name, user,
		    lookup_error);
		return -1;
	}
	if (r == 0) {
		*error_r = error_fmt("service %s: no such user: %s", s->name,
		    user);
		return -1;
	}
	if (strcmp(s->chroot, "no") == 0 || s->chroot[0] == '\0')
		t_r->chroot = NULL;
	else {
		if (strcmp(s->chroot, "queue") == 0)
			r = snprintf(chroot_buf, chroot_size, "%s",
			    c->queue_directory);
		else if (strcmp(s->chroot, "login") == 0)
			r = snprintf(chroot_buf, chroot_size, "%s/login",
			    c->queue_directory);
		else if (strcmp(s->chroot, "empty") == 0)
			r = snprintf(chroot_buf, chroot_size, "%s/empty",
			    c->data_directory);
		else
			r = snprintf(chroot_buf, chroot_size, "%s", s->chroot);
		if (r < 0 || (size_t)r >= chroot_size) {
			*error_r = error_fmt("service %s: chroot path too long",
			    s->name);
			return -1;
		}
		dir = chroot_buf;
		t_r->chroot = dir;
	}
	if (priv_parse_caps(s->keep_caps, &t_r->keep_caps, &lookup_error) == -1) {
		*error_r = error_fmt("service %s: keep_caps: %s", s->name,
		    lookup_error);
		return -1;
	}
	return 0;
}

/*
 * Tells the master how many clients we have and whether we are full;
 * idle says we have had none for idle_exit and offer to exit.
 */
static void
service_report_idle(struct service *sv, bool idle)
{
	struct ipc_msg	*m;
	bool		 full;

	if (sv->status == NULL || sv->status_gone)
		return;
	full = sv->clients >= sv->conf->client_limit;
	m = ipc_msg_new(IPC_MASTER_STATUS, 0);
	ipc_add_u64(m, "clients", sv->clients);
	ipc_add_u64(m, "full", full ? 1 : 0);
	if (idle)
		ipc_add_u64(m, "idle", 1);
	if (ipc_conn_send(sv->status, m, -1) == -1)
		log_warning("cannot report status to the master");
	ipc_msg_free(&m);
	sv->reported_full = full;
}

static void
service_report(struct service *sv)
{
	service_report_idle(sv, false);
}

static void
service_set_accepting(struct service *sv, bool on)
{
	size_t	i;

	if (sv->accepting == on)
		return;
	sv->accepting = on;
	for (i = 0; i < sv->nlisteners; i++) {
		if (sv->listeners[i].ev == NULL)
			continue;
		if (on)
			evconnlistener_enable(sv->listeners[i].ev);
		else
			evconnlistener_disable(sv->listeners[i].ev);
	}
}

static void
service_idle_arm(struct service *sv)
{
	struct timeval tv = { 0, 0 };

	if (sv->ev_idle == NULL)
		return;
	if (sv->clients == 0 && !sv->stopping) {
		tv.tv_sec = sv->conf->idle_exit;
		evtimer_add(sv->ev_idle, &tv);
	} else
		evtimer_del(sv->ev_idle);
}

void
service_client_opened(struct service *sv)
{
	sv->clients++;
	if (sv->clients >= sv->conf->client_limit)
		service_set_accepting(sv, false);
	service_idle_arm(sv);
	/* Report every change while few, then only crossings of the limit. */
	if (sv->clients <= 8 || sv->clients >= sv->conf->client_limit ||
	    sv->reported_full)
		service_report(sv);
}

void
service_client_closed(struct service *sv)
{
	if (sv->clients == 0)
		log_panic("service_client_closed without an open client");
	sv->clients--;
	if (sv->stopping) {
		if (sv->clients == 0)
			event_base_loopexit(sv->base, NULL);
		return;
	}
	if (sv->clients < sv->conf->client_limit)
		service_set_accepting(sv, true);
	service_idle_arm(sv);
	if (sv->clients < 8 || sv->reported_full)
		service_report(sv);
}

static void
service_accept(struct evconnlistener *ev, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct service_lis	*l = arg;
	struct service		*sv = l->sv;

	if (sv->stopping || net_set_cloexec(fd) == -1) {
		close(fd);
		return;
	}
	sv->def->on_accept(sv, fd, &l->pub, sa, (socklen_t)salen);
}

static void
service_accept_error(struct evconnlistener *ev, void *arg)
{
	struct service_lis *l = arg;

	/* EMFILE and friends: log and go on; the listener stays enabled. */
	log_warning("accept on %s: %s", l->pub.address,
	    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
}

static void
service_stop(struct service *sv, const char *why)
{
	size_t	i;

	if (sv->stopping)
		return;
	sv->stopping = true;
	log_debug("stopping: %s; %u client(s) open", why, sv->clients);
	for (i = 0; i < sv->nlisteners; i++) {
		if (sv->listeners[i].ev != NULL)
			evconnlistener_free(sv->listeners[i].ev);
		sv->listeners[i].ev = NULL;
	}
	if (sv->ev_idle != NULL)
		evtimer_del(sv->ev_idle);
	if (sv->def->on_stop != NULL)
		sv->def->on_stop(sv);
	if (sv->clients == 0)
		event_base_loopexit(sv->base, NULL);
}

static void
service_on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct service *sv = arg;

	if (sig == SIGHUP)
		return;		/* the master replaces us; nothing to re-read */
	service_stop(sv, "signal");
}

static void
service_on_idle(evutil_socket_t fd, short what, void *arg)
{
	struct service *sv = arg;

	if (sv->clients != 0)
		return;
	/*
	 * Only the master knows whether more than process_min processes
	 * run: offer to exit, and it answers with SIGTERM if we may.  Ask
	 * again after each idle period.  Without a master, just go.
	 */
	if (sv->status == NULL || sv->status_gone) {
		service_stop(sv, "idle");
		return;
	}
	service_report_idle(sv, true);
	service_idle_arm(sv);
}

static int
service_status_msg(struct ipc_conn *c, struct ipc_msg *m, void *ctx)
{
	/* The master sends nothing on this channel yet. */
	log_warning("unexpected message type %u from the master", m->type);
	ipc_msg_free(&m);
	return 0;
}

static void
service_status_closed(struct ipc_conn *c, const char *reason, void *ctx)
{
	struct service *sv = ctx;

	sv->status_gone = true;
	/*
	 * The master went away.  Finish what we have and exit, which also
	 * closes our copies of the listeners so that a new master can bind.
	 */
	service_stop(sv, "master gone");
}

static bool
service_fd_is_socket(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

/* Parses POSTERN_LISTENERS ("role|address,...") into sv->listeners. */
static int
service_take_listeners(struct service *sv, const char **error_r)
{
	const char	*env, *p, *end, *bar;
	size_t		 n = 0;

	if ((env = getenv("POSTERN_LISTENERS")) == NULL || *env == '\0')
		return 0;
	sv->listeners = xcalloc(SERVICE_MAX_LISTENERS, sizeof(*sv->listeners));
	for (p = env; *p != '\0'; p = *end == ',' ? end + 1 : end) {
		struct service_lis *l;

		if (n == SERVICE_MAX_LISTENERS) {
			*error_r = "too many listeners";
			return -1;
		}
		end = strchr(p, ',');
		if (end == NULL)
			end = p + strlen(p);
		bar = memchr(p, '|', (size_t)(end - p));
		if (bar == NULL || bar + 1 == end) {
			*error_r = "malformed POSTERN_LISTENERS";
			return -1;
		}
		l = &sv->listeners[n];
		l->sv = sv;
		l->pub.role = xstrndup(p, (size_t)(bar - p));
		l->pub.address = xstrndup(bar + 1, (size_t)(end - bar - 1));
		l->pub.is_unix = l->pub.address[0] == '/';
		l->pub.fd = SERVICE_LISTEN_FD + (int)n;
		/* libevent's listener loops on accept() until EAGAIN. */
		if (!service_fd_is_socket(l->pub.fd) ||
		    net_set_nonblock(l->pub.fd) == -1 ||
		    net_set_cloexec(l->pub.fd) == -1) {
			*error_r = error_fmt("listener %s: fd %d is not a socket",
			    l->pub.address, l->pub.fd);
			return -1;
		}
		n++;
		sv->nlisteners = n;
	}
	return 0;
}

static void
service_free(struct service *sv)
{
	size_t	i;

	for (i = 0; i < sv->nlisteners; i++) {
		if (sv->listeners[i].ev != NULL)
			evconnlistener_free(sv->listeners[i].ev);
		free((char *)sv->listeners[i].pub.role);
		free((char *)sv->listeners[i].pub.address);
	}
	free(sv->listeners);
	ipc_conn_free(&sv->status);
	if (sv->ev_term != NULL)
		event_free(sv->ev_term);
	if (sv->ev_int != NULL)
		event_free(sv->ev_int);
	if (sv->ev_hup != NULL)
		event_free(sv->ev_hup);
	if (sv->ev_idle != NULL)
		event_free(sv->ev_idle);
	if (sv->base != NULL)
		event_base_free(sv->base);
	cfg = NULL;
	conf_free(&sv->config);
	free(sv->name);
}

static void ATTR_NORETURN
service_usage(const char *prog)
{
	fprintf(stderr, "usage: %s [-d] [-c config_dir] [args...]\n", prog);
	exit(EX_USAGE);
}

/*
 * The event base of a service.  With epoll, the changelist backend: a
 * bufferevent that enables and disables reading several times in one
 * turn of the loop (every SMTP command does) costs one epoll_ctl()
 * instead of several.  Its known trap, one file description under two
 * descriptors of the same epoll set (dup()), does not arise: no service
 * watches a descriptor it duplicated.
 */
static struct event_base *
service_base_new(void)
{
	struct event_config	*ec;
	struct event_base	*base;

	if ((ec = event_config_new()) == NULL)
		return NULL;
	(void)event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	base = event_base_new_with_config(ec);
	event_config_free(ec);
	return base;
}

int
service_main(const struct service_def *def, int argc, char *argv[])
{
	struct service		 sv;
	struct conf_errors	 errs;
	struct priv_target	 target;
	const char		*conf_dir, *env, *error;
	char			 chroot_buf[PATH_MAX], *log_name;
	bool			 debug = false;
	size_t			 i;
	int			 ch;

	memset(&sv, 0, sizeof(sv));
	sv.def = def;
	if ((conf_dir = getenv("POSTERN_CONFIG_DIR")) == NULL)
		conf_dir = POSTERN_CONF_DIR;
	while ((ch = getopt(argc, argv, "+c:d")) != -1) {
		switch (ch) {
		case 'c':
			conf_dir = optarg;
			break;
		case 'd':
			debug = true;
			break;
		default:
			service_usage(argv[0]);
		}
	}
	sv.args = argv + optind;
	sv.nargs = argc - optind;

	env = getenv("POSTERN_SERVICE");
	sv.name = xstrdup(env != NULL && *env != '\0' ? env : def->name);
	sv.config = conf_read(conf_dir, &errs);
	if (sv.config == NULL) {
		for (i = 0; i < errs.count; i++)
			log_error("%s", errs.lines[i]);
		conf_errors_deinit(&errs);
		free(sv.name);
		return EX_CONFIG;
	}
	conf_errors_deinit(&errs);
	cfg = sv.config;

	log_name = xasprintf("%s/%s", cfg->syslog_name, sv.name);
	if (log_open(log_name, cfg->log_target, cfg->syslog_facility,
	    &error) == -1)
		log_fatal("log_target %s: %s", cfg->log_target, error);
	free(log_name);
	log_set_debug(debug || cfg->log_debug);

	if ((sv.conf = conf_service_find(cfg, sv.name)) == NULL)
		log_fatal("service %s is not in %s", sv.name, cfg->config_file);
	if (service_take_listeners(&sv, &error) == -1)
		log_fatal("%s", error);
	if ((sv.base = service_base_new()) == NULL)
		log_fatal("event_base_new failed");

	if (def->pre_jail != NULL && def->pre_jail(&sv, &error) == -1)
		log_fatal("%s", error);

	if (service_priv_target(cfg, sv.conf, &target, chroot_buf,
	    sizeof(chroot_buf), &error) == -1)
		log_fatal("%s", error);
	if (def->keep_caps != NULL)
		target.keep_caps |= def->keep_caps();
	if (!priv_is_root()) {
		/* An ordinary user's run (tests, demo): keep our own ids. */
		target.uid = getuid();
		target.gid = getgid();
		target.chroot = NULL;
		target.keep_caps = 0;
	}
	priv_drop(&target);

	if (service_fd_is_socket(SERVICE_STATUS_FD)) {
		(void)net_set_cloexec(SERVICE_STATUS_FD);
		sv.status = ipc_conn_new(sv.base, SERVICE_STATUS_FD,
		    cfg->ipc_max_message_size, "master", service_status_msg,
		    service_status_closed, &sv);
	}
	signal(SIGPIPE, SIG_IGN);
	sv.ev_term = evsignal_new(sv.base, SIGTERM, service_on_signal, &sv);
	sv.ev_int = evsignal_new(sv.base, SIGINT, service_on_signal, &sv);
	sv.ev_hup = evsignal_new(sv.base, SIGHUP, service_on_signal, &sv);
	if (sv.ev_term == NULL || sv.ev_int == NULL || sv.ev_hup == NULL ||
	    evsignal_add(sv.ev_term, NULL) == -1 ||
	    evsignal_add(sv.ev_int, NULL) == -1 ||
	    evsignal_add(sv.ev_hup, NULL) == -1)
		log_fatal("cannot install signal handlers");
	if (sv.conf->idle_exit > 0)
		sv.ev_idle = evtimer_new(sv.base, service_on_idle, &sv);

	if (def->post_jail != NULL && def->post_jail(&sv, &error) == -1)
		log_fatal("%s", error);

	for (i = 0; i < sv.nlisteners; i++) {
		struct service_lis *l = &sv.listeners[i];

		if (def->on_accept == NULL)
			log_panic("service %s has listeners but no on_accept",
			    sv.name);
		l->ev = evconnlistener_new(sv.base, service_accept, l,
		    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, l->pub.fd);
		if (l->ev == NULL)
			log_fatal("listener %s: cannot watch fd %d",
			    l->pub.address, l->pub.fd);
		evconnlistener_set_error_cb(l->ev, service_accept_error);
	}
	sv.accepting = true;
	service_idle_arm(&sv);
	service_report(&sv);
	log_debug("started; %zu listener(s)", sv.nlisteners);

	if (event_base_dispatch(sv.base) == -1)
		log_error("event loop failed");

	if (def->on_exit != NULL)
		def->on_exit(&sv);
	service_free(&sv);
	log_close();
	return 0;
}
