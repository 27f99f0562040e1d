/* SPDX-License-Identifier: ISC */
/*
 * Services at run time.  The master binds every listener itself (so a
 * child never needs the privilege to bind port 25), starts each service's
 * processes with the listeners at fixed descriptor numbers, starts more
 * when all of them report being full, restarts the ones that die and
 * backs off when a service crashes in a loop.  A reload builds a new
 * generation of services that reuses the listeners whose address did not
 * change, so no connection is refused, and retires the old one: its
 * processes get SIGTERM and finish their sessions.
 *
 * What a child says on its status channel is only advisory (client
 * counts); a malformed message closes that channel and is logged, and the
 * child is still supervised through SIGCHLD.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "buf.h"
#include "error.h"
#include "ipc.h"
#include "log.h"
#include "net.h"
#include "service.h"
#include "str.h"
#include "xmalloc.h"

#include "master_svc.h"

#include "banned.h"

#define MASTER_LISTEN_BACKLOG	511
/* A new master may find the port still held by a dying old child. */
#define MASTER_BIND_RETRIES	50
#define MASTER_BIND_RETRY_US	100000
#define MASTER_FD_PARK		200	/* above every target descriptor */

struct master_listener {
	struct master_listener	*next;
	char			*key;		/* "inet:ADDR" or "unix:/path" */
	char			*path;		/* unix: the socket file */
	int			 fd;
	unsigned int		 refs;		/* current services using it */
};

struct master_proc {
	struct master_proc	*next;
	struct master_svc	*svc;
	pid_t			 pid;
	time_t			 started;
	unsigned int		 clients;
	bool			 full;
	bool			 stopping;	/* we sent SIGTERM */
	struct ipc_conn		*status;
};

struct master_svc {
	struct master_svc	*next;
	struct master		*m;
	char			*name;
	char			*program;
	char			**argv;
	char			*env_listeners;	/* POSTERN_LISTENERS */
	char			*listen_desc;	/* for status */
	struct master_listener	**lis;
	size_t			 nlis;
	unsigned int		 process_min;
	unsigned int		 process_limit;
	bool			 retired;

	struct master_proc	*procs;
	unsigned int		 nprocs;
	unsigned int		 backoff;	/* seconds; 0 = not backing off */
	time_t			 next_start;
	struct event		*ev_start;	/* back-off timer */
	struct event		*ev_kill;	/* SIGKILL after stop timeout */
	struct event		**ev_watch;	/* on-demand start, per listener */
	bool			 watching;
};

static void svc_update(struct master_svc *svc);

/* ---- listeners ------------------------------------------------------- */

static struct master_listener *
listener_find(struct master *m, const char *key)
{
	struct master_listener *l;

	for (l = m->listeners; l != NULL; l = l->next) {
		if (strcmp(l->key, key) == 0)
			return l;
	}
	return NULL;
}

static int
listener_bind_inet(const char *addr, const char **error_r)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len;
	const char		*perror;
	int			 fd, on = 1, tries;

	if (net_parse_inet(addr, &ss, &len, &perror) == -1) {
		*error_r = error_fmt("listen %s: %s", addr, perror);
		return -1;
	}
	if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		*error_r = error_fmt("listen %s: socket: %m", addr);
		return -1;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (ss.ss_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
	for (tries = 0;; tries++) {
		if (bind(fd, (struct sockaddr *)&ss, len) == 0)
			break;
		if (errno != EADDRINUSE || tries == MASTER_BIND_RETRIES) {
			*error_r = error_fmt("listen %s: bind: %m", addr);
			close(fd);
			return -1;
		}
		usleep(MASTER_BIND_RETRY_US);
	}
	if (listen(fd, MASTER_LISTEN_BACKLOG) == -1) {
		*error_r = error_fmt("listen %s: %m", addr);
		close(fd);
		return -1;
	}
	return fd;
}

static int
listener_bind_unix(const char *path, const char **error_r)
{
	struct sockaddr_un	 sun;
	struct stat		 st;
	int			 fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (str_copy(sun.sun_path, sizeof(sun.sun_path), path) == -1) {
		*error_r = error_fmt("listen %s: path too long", path);
		return -1;
	}
	/* Replace an old socket, never anything else. */
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			*error_r = error_fmt("listen %s: exists and is not a "
			    "socket", path);
			return -1;
		}
		(void)unlink(path);
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		*error_r = error_fmt("listen %s: socket: %m", path);
		return -1;
	}
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    chmod(path, 0666) == -1 ||
	    listen(fd, MASTER_LISTEN_BACKLOG) == -1) {
		*error_r = error_fmt("listen %s: %m", path);
		close(fd);
		return -1;
	}
	return fd;
}

static void
listener_close(struct master_listener *l)
{
	close(l->fd);
	if (l->path != NULL)
		(void)unlink(l->path);
	free(l->key);
	free(l->path);
	free(l);
}

/*
 * Returns the listener for one "[role=]address" entry, bound now or
 * reused.  *role_r and *addr_r are allocated.
 */
static struct master_listener *
listener_get(struct master *m, const struct postern_config *c,
    const char *entry, char **role_r, char **addr_r, const char **error_r)
{
	struct master_listener	*l;
	struct conf_listen	 cl;
	char			*key, *path = NULL;
	int			 fd;

	/* The same split that conf.c checked the entry with. */
	if (conf_listen_parse(entry, &cl, error_r) == -1)
		return NULL;
	*role_r = xstrdup(cl.role != NULL ? cl.role : "");
	if (!cl.inet) {
		path = cl.addr[0] == '/' ? xstrdup(cl.addr) :
		    xasprintf("%s/%s", c->queue_directory, cl.addr);
		key = xasprintf("unix:%s", path);
		*addr_r = xstrdup(path);
	} else {
		key = xasprintf("inet:%s", cl.addr);
		*addr_r = xstrdup(cl.addr);
	}
	conf_listen_deinit(&cl);
	if ((l = listener_find(m, key)) != NULL) {
		free(key);
		free(path);
		return l;
	}
	fd = path != NULL ? listener_bind_unix(path, error_r) :
	    listener_bind_inet(*addr_r, error_r);
	if (fd == -1) {
		free(key);
		free(path);
		free(*role_r);
		free(*addr_r);
		return NULL;
	}
	l = xcalloc(1, sizeof(*l));
	l->key = key;
	l->path = path;
	l->fd = fd;
	l->next = m->listeners;
	m->listeners = l;
	return l;
}

void
master_svc_close_unused(struct master *m)
{
	struct master_listener **lp, *l;

	for (lp = &m->listeners; (l = *lp) != NULL;) {
		if (l->refs == 0) {
			*lp = l->next;
			log_debug("closing listener %s", l->key);
			listener_close(l);
		} else
			lp = &l->next;
	}
}

void
master_svc_close_all_listeners(struct master *m)
{
	struct master_svc	*svc;
	struct master_listener	*l;
	size_t			 i;

	for (svc = m->svcs; svc != NULL; svc = svc->next) {
		for (i = 0; i < svc->nlis; i++) {
			if (svc->ev_watch[i] != NULL)
				event_del(svc->ev_watch[i]);
		}
		svc->watching = false;
	}
	while ((l = m->listeners) != NULL) {
		m->listeners = l->next;
		listener_close(l);
	}
	for (svc = m->svcs; svc != NULL; svc = svc->next) {
		for (i = 0; i < svc->nlis; i++)
			svc->lis[i] = NULL;
	}
}

/* ---- processes ------------------------------------------------------- */

static int
proc_status_msg(struct ipc_conn *c, struct ipc_msg *msg, void *ctx)
{
	struct master_proc	*p = ctx, *q;
	uint64_t		 clients, full, idle = 0;
	unsigned int		 running = 0;

	if (msg->type != IPC_MASTER_STATUS ||
	    ipc_get_u64(msg, "clients", UINT32_MAX, &clients) == -1 ||
	    ipc_get_u64(msg, "full", 1, &full) == -1 ||
	    (ipc_has(msg, "idle") &&
	    ipc_get_u64(msg, "idle", 1, &idle) == -1)) {
		log_warning("service %s: process %ld sent a malformed status "
		    "message (type %u)", p->svc->name, (long)p->pid, msg->type);
		ipc_msg_free(&msg);
		return -1;
	}
	ipc_msg_free(&msg);
	p->clients = (unsigned int)clients;
	p->full = full != 0;
	/* An idle process may go while more than process_min remain. */
	if (idle != 0 && p->clients == 0 && !p->stopping) {
		for (q = p->svc->procs; q != NULL; q = q->next)
			running += q->stopping ? 0 : 1;
		if (running > p->svc->process_min) {
			log_debug("service %s: process %ld idle; stopping it",
			    p->svc->name, (long)p->pid);
			p->stopping = true;
			(void)kill(p->pid, SIGTERM);
		}
	}
	svc_update(p->svc);
	return 0;
}

static void
proc_status_closed(struct ipc_conn *c, const char *reason, void *ctx)
{
	/* The process is exiting or misbehaved; SIGCHLD does the rest. */
}

static void
proc_free(struct master_proc *p)
{
	ipc_conn_free(&p->status);
	free(p);
}

/* In the child between fork and exec: only async-signal-safe calls. */
static void ATTR_NORETURN
svc_exec(struct master_svc *svc, int status_fd)
{
	int		 parked[SERVICE_MAX_LISTENERS + 1];
	sigset_t	 none;
	size_t		 i;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	signal(SIGCHLD, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);

	/* Park every descriptor out of the way, then place them. */
	parked[0] = fcntl(status_fd, F_DUPFD_CLOEXEC, MASTER_FD_PARK);
	for (i = 0; i < svc->nlis; i++)
		parked[i + 1] = fcntl(svc->lis[i]->fd, F_DUPFD_CLOEXEC,
		    MASTER_FD_PARK);
	for (i = 0; i <= svc->nlis; i++) {
		if (parked[i] == -1 ||
		    dup2(parked[i], SERVICE_STATUS_FD + (int)i) == -1)
			_exit(126);
	}
	close_range((unsigned int)(SERVICE_STATUS_FD + svc->nlis + 1), ~0U, 0);
	execve(svc->program, svc->argv, environ);
	_exit(127);
}

static int
svc_spawn(struct master_svc *svc)
{
	struct master		*m = svc->m;
	struct master_proc	*p;
	int			 sp[2];
	pid_t			 pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == -1) {
		log_error("service %s: socketpair: %m", svc->name);
		return -1;
	}
	/* The environment is set in the parent: setenv is not safe after fork. */
	if (setenv("POSTERN_SERVICE", svc->name, 1) == -1 ||
	    setenv("POSTERN_LISTENERS", svc->env_listeners, 1) == -1 ||
	    setenv("POSTERN_CONFIG_DIR", m->conf_dir, 1) == -1) {
		log_error("service %s: setenv: %m", svc->name);
		close(sp[0]);
		close(sp[1]);
		return -1;
	}
	if ((pid = fork()) == -1) {
		log_error("service %s: fork: %m", svc->name);
		close(sp[0]);
		close(sp[1]);
		return -1;
	}
	if (pid == 0)
		svc_exec(svc, sp[1]);
	close(sp[1]);
	p = xcalloc(1, sizeof(*p));
	p->svc = svc;
	p->pid = pid;
	p->started = time(NULL);
	p->status = ipc_conn_new(m->base, sp[0], cfg->ipc_max_message_size,
	    svc->name, proc_status_msg, proc_status_closed, p);
	p->next = svc->procs;
	svc->procs = p;
	svc->nprocs++;
	log_debug("service %s: started process %ld", svc->name, (long)pid);
	return 0;
}

static void
svc_on_start_timer(evutil_socket_t fd, short what, void *arg)
{
	svc_update(arg);
}

static void
svc_on_readable(evutil_socket_t fd, short what, void *arg)
{
	struct master_svc *svc = arg;

	/* A connection waits and no process takes it: start one. */
	if (svc_spawn(svc) == -1)
		svc->next_start = time(NULL) + 1;
	svc_update(svc);
}

static void
svc_set_watch(struct master_svc *svc, bool on)
{
	size_t	i;

	if (svc->watching == on)
		return;
	svc->watching = on;
	for (i = 0; i < svc->nlis; i++) {
		if (svc->ev_watch[i] == NULL)
			continue;
		if (on)
			event_add(svc->ev_watch[i], NULL);
		else
			event_del(svc->ev_watch[i]);
	}
}

/* Starts what the service needs now; arms the back-off timer if waiting. */
static void
svc_update(struct master_svc *svc)
{
	struct master_proc	*p;
	struct timeval		 tv = { 0, 0 };
	unsigned int		 total = 0, avail = 0, want;
	time_t			 now = time(NULL);

	if (svc->m->stopping || svc->retired) {
		svc_set_watch(svc, false);
		return;
	}
	if (now < svc->next_start) {
		svc_set_watch(svc, false);
		tv.tv_sec = svc->next_start - now;
		evtimer_add(svc->ev_start, &tv);
		return;
	}
	for (p = svc->procs; p != NULL; p = p->next) {
		if (p->stopping)
			continue;
		total++;
		if (!p->full)
			avail++;
	}
	want = svc->process_min;
	if (want == 0 && svc->nlis == 0)
		want = 1;
	/* Everyone full: one more, the listener's backlog holds the rest. */
	if (avail == 0 && total > 0 && total >= want)
		want = total + 1;
	if (want > svc->process_limit)
		want = svc->process_limit;
	while (total < want) {
		if (svc_spawn(svc) == -1) {
			svc->next_start = now + 1;
			tv.tv_sec = 1;
			evtimer_add(svc->ev_start, &tv);
			break;
		}
		total++;
		avail++;
	}
	svc_set_watch(svc, avail == 0 && total < svc->process_limit);
}

void
master_svc_start_all(struct master *m)
{
	struct master_svc *svc;

	for (svc = m->svcs; svc != NULL; svc = svc->next)
		svc_update(svc);
}

static void
svc_free(struct master_svc *svc)
{
	struct master_proc	*p;
	size_t			 i;
	char			**ap;

	while ((p = svc->procs) != NULL) {
		svc->procs = p->next;
		proc_free(p);
	}
	for (i = 0; i < svc->nlis; i++) {
		if (svc->lis[i] != NULL && svc->lis[i]->refs > 0 &&
		    !svc->retired)
			svc->lis[i]->refs--;
		if (svc->ev_watch[i] != NULL)
			event_free(svc->ev_watch[i]);
	}
	if (svc->ev_start != NULL)
		event_free(svc->ev_start);
	if (svc->ev_kill != NULL)
		event_free(svc->ev_kill);
	for (ap = svc->argv; ap != NULL && *ap != NULL; ap++)
		free(*ap);
	free(svc->argv);
	free(svc->ev_watch);
	free(svc->lis);
	free(svc->name);
	free(svc->program);
	free(svc->env_listeners);
	free(svc->listen_desc);
	free(svc);
}

void
master_svc_free_list(struct master *m, struct master_svc **svcsp)
{
	struct master_svc *svc;

	while ((svc = *svcsp) != NULL) {
		*svcsp = svc->next;
		svc_free(svc);
	}
}

static struct master_svc *
svc_new(struct master *m, const struct postern_config *c,
    const struct conf_service *cs, const char **error_r)
{
	struct master_svc	*svc;
	struct buf		*env, *desc;
	struct priv_target	 t;
	char			 chroot_buf[PATH_MAX];
	size_t			 i, nargs;

	if (m->is_root && service_priv_target(c, cs, &t, chroot_buf,
	    sizeof(chroot_buf), error_r) == -1)
		return NULL;

	svc = xcalloc(1, sizeof(*svc));
	svc->m = m;
	svc->name = xstrdup(cs->name);
	svc->program = strchr(cs->program, '/') != NULL ?
	    xstrdup(cs->program) :
	    xasprintf("%s/%s", c->daemon_directory, cs->program);
	svc->process_min = cs->process_min;
	svc->process_limit = cs->process_limit;

	nargs = conf_list_count(cs->args);
	/* "--" keeps the service's own arguments apart from our options. */
	svc->argv = xcalloc(nargs + 5, sizeof(*svc->argv));
	svc->argv[0] = xstrdup(svc->program);
	svc->argv[1] = xstrdup("-c");
	svc->argv[2] = xstrdup(m->conf_dir);
	svc->argv[3] = xstrdup("--");
	for (i = 0; i < nargs; i++)
		svc->argv[4 + i] = xstrdup(cs->args[i]);

	svc->nlis = conf_list_count(cs->listen);
	if (svc->nlis > SERVICE_MAX_LISTENERS) {
		*error_r = error_fmt("service %s: more than %d listeners",
		    cs->name, SERVICE_MAX_LISTENERS);
		svc->nlis = 0;
		svc_free(svc);
		return NULL;
	}
	svc->lis = xcalloc(svc->nlis + 1, sizeof(*svc->lis));
	svc->ev_watch = xcalloc(svc->nlis + 1, sizeof(*svc->ev_watch));
	env = buf_new(256, 64 * 1024);
	desc = buf_new(256, 64 * 1024);
	for (i = 0; i < svc->nlis; i++) {
		char *role = NULL, *addr = NULL;

		svc->lis[i] = listener_get(m, c, cs->listen[i], &role, &addr,
		    error_r);
		if (svc->lis[i] == NULL) {
			svc->nlis = i;
			buf_free(&env);
			buf_free(&desc);
			svc_free(svc);
			return NULL;
		}
		svc->lis[i]->refs++;
		if (buf_printf(env, "%s%s|%s", i > 0 ? "," : "", role,
		    addr) == -1 ||
		    buf_printf(desc, "%s%s", i > 0 ? ", " : "",
		    cs->listen[i]) == -1)
			log_panic("listener description over 64 KiB");
		free(role);
		free(addr);
		svc->ev_watch[i] = event_new(m->base, svc->lis[i]->fd,
		    EV_READ | EV_PERSIST, svc_on_readable, svc);
	}
	svc->env_listeners = buf_steal(env);
	svc->listen_desc = buf_steal(desc);
	buf_free(&env);
	buf_free(&desc);
	svc->ev_start = evtimer_new(m->base, svc_on_start_timer, svc);
	return svc;
}

int
master_svc_setup(struct master *m, const struct postern_config *c,
    struct master_svc **svcs_r, const char **error_r)
{
	struct master_svc *head = NULL, **tail = &head, *svc;
	size_t		   i;

	for (i = 0; i < c->nservices; i++) {
		const struct conf_service *cs = &c->services[i];

		if (!cs->enable)
			continue;
		if ((svc = svc_new(m, c, cs, error_r)) == NULL) {
			master_svc_free_list(m, &head);
			master_svc_close_unused(m);
			return -1;
		}
		*tail = svc;
		tail = &svc->next;
	}
	*svcs_r = head;
	return 0;
}

static void
svc_on_kill_timer(evutil_socket_t fd, short what, void *arg)
{
	struct master_svc	*svc = arg;
	struct master_proc	*p;

	for (p = svc->procs; p != NULL; p = p->next) {
		log_warning("service %s: process %ld still running after %u s; "
		    "killing it", svc->name, (long)p->pid, cfg->master_stop_timeout);
		(void)kill(p->pid, SIGKILL);
	}
}

/* SIGTERM to every process and a timer for SIGKILL. */
static void
svc_stop_procs(struct master_svc *svc)
{
	struct master_proc	*p;
	struct timeval		 tv = { 0, 0 };

	svc_set_watch(svc, false);
	evtimer_del(svc->ev_start);
	for (p = svc->procs; p != NULL; p = p->next) {
		if (!p->stopping) {
			p->stopping = true;
			(void)kill(p->pid, SIGTERM);
		}
	}
	if (svc->procs != NULL) {
		if (svc->ev_kill == NULL)
			svc->ev_kill = evtimer_new(svc->m->base,
			    svc_on_kill_timer, svc);
		tv.tv_sec = cfg->master_stop_timeout;
		evtimer_add(svc->ev_kill, &tv);
	}
}

void
master_svc_retire_all(struct master *m)
{
	struct master_svc *svc;
	size_t		   i;

	while ((svc = m->svcs) != NULL) {
		m->svcs = svc->next;
		svc_stop_procs(svc);
		for (i = 0; i < svc->nlis; i++) {
			if (svc->ev_watch[i] != NULL) {
				event_free(svc->ev_watch[i]);
				svc->ev_watch[i] = NULL;
			}
			if (svc->lis[i] != NULL)
				svc->lis[i]->refs--;
			svc->lis[i] = NULL;
		}
		svc->retired = true;
		if (svc->procs == NULL) {
			svc_free(svc);
			continue;
		}
		svc->next = m->retired;
		m->retired = svc;
	}
}

void
master_svc_signal_all(struct master *m, int sig)
{
	struct master_svc *lists[2] = { m->svcs, m->retired }, *svc;
	size_t		   i;

	for (i = 0; i < N_ELEMENTS(lists); i++) {
		for (svc = lists[i]; svc != NULL; svc = svc->next) {
			if (sig == SIGTERM)
				svc_stop_procs(svc);
			else {
				struct master_proc *p;

				for (p = svc->procs; p != NULL; p = p->next)
					(void)kill(p->pid, sig);
			}
		}
	}
}

unsigned int
master_svc_nprocs(const struct master *m)
{
	const struct master_svc *svc;
	unsigned int		 n = 0;

	for (svc = m->svcs; svc != NULL; svc = svc->next)
		n += svc->nprocs;
	for (svc = m->retired; svc != NULL; svc = svc->next)
		n += svc->nprocs;
	return n;
}

/* Finds and unlinks the process pid from a list of services. */
static struct master_proc *
proc_take(struct master_svc *list, pid_t pid)
{
	struct master_svc	*svc;
	struct master_proc	**pp, *p;

	for (svc = list; svc != NULL; svc = svc->next) {
		for (pp = &svc->procs; (p = *pp) != NULL; pp = &p->next) {
			if (p->pid == pid) {
				*pp = p->next;
				svc->nprocs--;
				return p;
			}
		}
	}
	return NULL;
}

/* Decides what an exit means for the service: back off or not. */
static void
proc_exited(struct master_proc *p, int status)
{
	struct master_svc	*svc = p->svc;
	time_t			 now = time(NULL), ran = now - p->started;
	bool			 abnormal;

	if (WIFSIGNALED(status)) {
		abnormal = true;
		log_msg(p->stopping ? LOG_INFO : LOG_WARNING,
		    "service %s: process %ld killed by signal %d",
		    svc->name, (long)p->pid, WTERMSIG(status));
	} else {
		abnormal = WEXITSTATUS(status) != 0;
		log_msg(abnormal && !p->stopping ? LOG_WARNING : LOG_DEBUG,
		    "service %s: process %ld exited with status %d",
		    svc->name, (long)p->pid, WEXITSTATUS(status));
	}
	if (svc->retired || p->stopping)
		return;
	/*
	 * A process that dies soon after it started, crashing or not, would
	 * be restarted in a tight loop: back off instead.
	 */
	if (ran < (time_t)cfg->master_crash_window) {
		if (svc->backoff == 0)
			svc->backoff = cfg->master_backoff_min;
		else if (svc->backoff < cfg->master_backoff_max / 2)
			svc->backoff *= 2;
		else
			svc->backoff = cfg->master_backoff_max;
		svc->next_start = now + svc->backoff;
		log_warning("service %s: %s in a loop; next start in %u s",
		    svc->name, abnormal ? "crashing" : "exiting at once",
		    svc->backoff);
	} else
		svc->backoff = 0;
}

void
master_svc_reap(struct master *m)
{
	struct master_svc	**sp, *svc;
	struct master_proc	*p;
	pid_t			 pid;
	int			 status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if ((p = proc_take(m->svcs, pid)) == NULL &&
		    (p = proc_take(m->retired, pid)) == NULL) {
			log_debug("reaped unknown child %ld", (long)pid);
			continue;
		}
		proc_exited(p, status);
		svc = p->svc;
		proc_free(p);
		if (!svc->retired)
			svc_update(svc);
	}
	/* Retired generations go when their last process has. */
	for (sp = &m->retired; (svc = *sp) != NULL;) {
		if (svc->procs == NULL) {
			*sp = svc->next;
			svc_free(svc);
		} else
			sp = &svc->next;
	}
}

void
master_svc_free_all(struct master *m)
{
	master_svc_free_list(m, &m->svcs);
	master_svc_free_list(m, &m->retired);
	master_svc_close_unused(m);
}

void
master_svc_status(struct master *m, struct ipc_conn *c, uint32_t peer_id)
{
	struct master_svc	*lists[2] = { m->svcs, m->retired }, *svc;
	struct master_proc	*p;
	struct ipc_msg		*msg;
	time_t			 now = time(NULL);
	size_t			 i;

	for (i = 0; i < N_ELEMENTS(lists); i++) {
		for (svc = lists[i]; svc != NULL; svc = svc->next) {
			const char *state = svc->retired || m->stopping ?
			    "stopping" : now < svc->next_start ? "backoff" :
			    "running";

			msg = ipc_msg_new(IPC_CTL_STATUS_SVC, peer_id);
			ipc_add_str(msg, "service", svc->name);
			ipc_add_str(msg, "state", state);
			ipc_add_str(msg, "listen", svc->listen_desc);
			ipc_add_u64(msg, "processes", svc->nprocs);
			ipc_add_u64(msg, "backoff", now < svc->next_start ?
			    (uint64_t)(svc->next_start - now) : 0);
			(void)ipc_conn_send(c, msg, -1);
			ipc_msg_free(&msg);
			for (p = svc->procs; p != NULL; p = p->next) {
				msg = ipc_msg_new(IPC_CTL_STATUS_PROC, peer_id);
				ipc_add_str(msg, "service", svc->name);
				ipc_add_u64(msg, "pid", (uint64_t)p->pid);
				ipc_add_u64(msg, "started",
				    (uint64_t)p->started);
				ipc_add_u64(msg, "clients", p->clients);
				ipc_add_str(msg, "state", p->stopping ?
				    "stopping" : p->full ? "full" :
				    p->clients > 0 ? "busy" : "idle");
				(void)ipc_conn_send(c, msg, -1);
				ipc_msg_free(&msg);
			}
		}
	}
	for (i = 0; i < cfg->nservices; i++) {
		if (cfg->services[i].enable)
			continue;
		msg = ipc_msg_new(IPC_CTL_STATUS_SVC, peer_id);
		ipc_add_str(msg, "service", cfg->services[i].name);
		ipc_add_str(msg, "state", "disabled");
		ipc_add_str(msg, "listen", "");
		ipc_add_u64(msg, "processes", 0);
		ipc_add_u64(msg, "backoff", 0);
		(void)ipc_conn_send(c, msg, -1);
		ipc_msg_free(&msg);
	}
}
