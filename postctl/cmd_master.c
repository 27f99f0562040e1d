/* SPDX-License-Identifier: ISC */
/*
 * postctl start, stop, reload and status: the commands that drive the
 * master.  The master is found through run_directory/master.pid (a pid
 * that names a live process) and spoken to over run_directory/master.ctl
 * with the IPC protocol of common/ipc.h: IPC_HELLO first, then one
 * request.  Every answer is checked as if it came from a stranger: types,
 * field sizes, number of entries.  Every wait is bounded: each read by
 * ipc_timeout, "start" by ipc_timeout, "stop" by master_stop_timeout plus
 * POSTCTL_STOP_GRACE seconds.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/conf.h"
#include "common/error.h"
#include "common/ipc.h"
#include "common/str.h"
#include "common/xmalloc.h"
#include "postctl.h"

#include "common/banned.h"

#define MASTER_PID_FILE		"master.pid"
#define MASTER_CTL_SOCKET	"master.ctl"
#define MASTER_PROGRAM		"postern-master"
/* Bytes of master.pid we read: a pid and a newline, with room to spare. */
#define POSTCTL_PID_FILE_MAX	64
/* Extra seconds "stop" waits beyond master_stop_timeout. */
#define POSTCTL_STOP_GRACE	10
/* How often a wait looks again, in milliseconds. */
#define POSTCTL_POLL_MS		50
/* Bounds on what "status" accepts from the master. */
#define POSTCTL_STATUS_MAX_ENTRIES	(1024 * 1024)
#define POSTCTL_STATE_MAX	32
#define POSTCTL_LISTEN_MAX	8192
#define POSTCTL_TEXT_MAX	65536
#define POSTCTL_VERSION_MAX	64
/* A time stamp or a duration from the master: up to the year 2^35. */
#define POSTCTL_TIME_MAX	((uint64_t)1 << 35)

struct status_svc {
	char		*name;
	char		*state;
	uint64_t	 backoff;
	bool		 printed;
};

struct status_proc {
	char		*service;
	char		*state;
	uint64_t	 pid;
	uint64_t	 started;
	uint64_t	 clients;
	size_t		 svc;		/* index of the record it followed */
	bool		 printed;
};

struct status {
	struct status_svc	*svcs;
	size_t			 nsvcs;
	struct status_proc	*procs;
	size_t			 nprocs;
	uint64_t		 master_pid;
	uint64_t		 master_started;
};

static char *
postctl_run_path(const char *name)
{
	return xasprintf("%s/%s", cfg->run_directory, name);
}

static int
postctl_timeout_ms(void)
{
	/* ipc_timeout is at most an hour (conf_defs.def): fits an int. */
	return (int)cfg->ipc_timeout * 1000;
}

static void
postctl_sleep_ms(long ms)
{
	struct timespec ts;

	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static double
postctl_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * Whether pid names a process that still runs.  A zombie does not: a
 * master that was started by a parent that has not reaped it yet (a test
 * harness, an init without reaping) has finished all the same.
 */
static bool
postctl_pid_alive(pid_t pid)
{
	char	 path[64], data[512], *p;
	ssize_t	 n;
	int	 fd;

	if (kill(pid, 0) == -1 && errno == ESRCH)
		return false;
	(void)snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return errno != ENOENT;
	n = read(fd, data, sizeof(data) - 1);
	(void)close(fd);
	if (n <= 0)
		return true;
	data[n] = '\0';
	/* "pid (comm) S ...": comm may hold anything, so look after the last ')'. */
	if ((p = strrchr(data, ')')) == NULL || p[1] != ' ')
		return true;
	return p[2] != 'Z' && p[2] != 'X';
}

/*
 * Finds the master.  Returns 1 with *pid_r when master.pid names a live
 * process, 0 when there is no pid file or its process is gone, -1 with
 * *error_r when the file cannot be read or holds garbage.
 */
static int
postctl_master_pid(pid_t *pid_r, const char **error_r)
{
	char	 data[POSTCTL_PID_FILE_MAX + 1], *path;
	uint64_t v;
	ssize_t	 n;
	size_t	 len;
	int	 fd;

	path = postctl_run_path(MASTER_PID_FILE);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1) {
		if (errno == ENOENT) {
			free(path);
			return 0;
		}
		*error_r = error_fmt("open %s: %m", path);
		free(path);
		return -1;
	}
	n = read(fd, data, sizeof(data) - 1);
	if (n == -1) {
		*error_r = error_fmt("read %s: %m", path);
		(void)close(fd);
		free(path);
		return -1;
	}
	(void)close(fd);
	len = (size_t)n;
	/* A master that is just starting may not have written it yet. */
	if (len == 0) {
		free(path);
		return 0;
	}
	if (data[len - 1] == '\n')
		len--;
	if (parse_u64_n(data, len, INT_MAX, &v) == -1 || v < 2) {
		*error_r = error_fmt("%s does not hold a process id", path);
		free(path);
		return -1;
	}
	free(path);
	if (!postctl_pid_alive((pid_t)v))
		return 0;
	*pid_r = (pid_t)v;
	return 1;
}

/*
 * The master's pid, or exits: 3 when it does not run, 1 when its pid
 * file cannot be read.
 */
static pid_t
postctl_need_master(void)
{
	const char *error;
	pid_t	 pid;
	int	 ret;

	ret = postctl_master_pid(&pid, &error);
	if (ret == -1) {
		fprintf(stderr, "postctl: %s\n", error);
		exit(POSTCTL_EXIT_FAIL);
	}
	if (ret == 0) {
		fprintf(stderr, "postctl: postern is not running\n");
		exit(POSTCTL_EXIT_NOT_RUNNING);
	}
	return pid;
}

/* Prints an IPC_ERROR's text, one "postctl: " line per line of it. */
static void
postctl_print_error(struct ipc_msg *m, const char *what)
{
	const uint8_t	*text;
	size_t		 len, start, i;

	if (ipc_get_data(m, "text", POSTCTL_TEXT_MAX, &text, &len) == -1 ||
	    len == 0) {
		fprintf(stderr, "postctl: %s: the master refused without "
		    "saying why\n", what);
		return;
	}
	fprintf(stderr, "postctl: %s:\n", what);
	for (start = 0; start < len; start = i + 1) {
		for (i = start; i < len && text[i] != '\n'; i++)
			;
		if (i > start)
			fprintf(stderr, "postctl: %.*s\n", (int)(i - start),
			    (const char *)text + start);
	}
}

/* Reads one message from the master or prints why it could not. */
static int
postctl_read(int sock, struct ipc_msg **m_r)
{
	const char *error;
	int	 ret;

	ret = ipc_read(sock, (size_t)cfg->ipc_max_message_size,
	    postctl_timeout_ms(), m_r, &error);
	if (ret == 1)
		return 0;
	if (ret == 0)
		fprintf(stderr, "postctl: the master closed the connection\n");
	else
		fprintf(stderr, "postctl: reading from the master: %s\n",
		    error);
	return -1;
}

static int
postctl_send(int sock, uint16_t type)
{
	struct ipc_msg	*m;
	const char	*error;
	int		 ret;

	m = ipc_msg_new(type, 0);
	ret = ipc_write(sock, m, -1, &error);
	ipc_msg_free(&m);
	if (ret == -1)
		fprintf(stderr, "postctl: writing to the master: %s\n", error);
	return ret;
}

/*
 * Connects to master.ctl and says hello.  Returns the socket, or -1 after
 * printing why.
 */
static int
postctl_connect(void)
{
	struct ipc_msg	*m;
	const char	*error;
	char		*path;
	int		 sock, ret;

	path = postctl_run_path(MASTER_CTL_SOCKET);
	sock = ipc_connect(path, &error);
	if (sock == -1) {
		fprintf(stderr, "postctl: cannot reach the master at %s: %s\n",
		    path, error);
		free(path);
		return -1;
	}
	free(path);

	m = ipc_hello_new("postctl");
	ret = ipc_write(sock, m, -1, &error);
	ipc_msg_free(&m);
	if (ret == -1) {
		fprintf(stderr, "postctl: writing to the master: %s\n", error);
		(void)close(sock);
		return -1;
	}
	if (postctl_read(sock, &m) == -1) {
		(void)close(sock);
		return -1;
	}
	if (m->type == IPC_OK) {
		ipc_msg_free(&m);
		return sock;
	}
	if (m->type == IPC_ERROR)
		postctl_print_error(m, "the master refused the connection");
	else
		fprintf(stderr, "postctl: unexpected answer %u from the "
		    "master\n", (unsigned int)m->type);
	ipc_msg_free(&m);
	(void)close(sock);
	return -1;
}

/*
 * Sends a request that is answered by one IPC_OK or IPC_ERROR.  Returns 0
 * on IPC_OK, -1 after printing the problem.
 */
static int
postctl_simple_request(uint16_t type, const char *what)
{
	struct ipc_msg	*m;
	int		 sock, ret = -1;

	if ((sock = postctl_connect()) == -1)
		return -1;
	if (postctl_send(sock, type) == -1 || postctl_read(sock, &m) == -1) {
		(void)close(sock);
		return -1;
	}
	if (m->type == IPC_OK)
		ret = 0;
	else if (m->type == IPC_ERROR)
		postctl_print_error(m, what);
	else
		fprintf(stderr, "postctl: unexpected answer %u from the "
		    "master\n", (unsigned int)m->type);
	ipc_msg_free(&m);
	(void)close(sock);
	return ret;
}

static int
postctl_no_args(int argc, char *argv[])
{
	if (argc == 1)
		return 0;
	fprintf(stderr, "usage: postctl [-c dir] %s\n", argv[0]);
	return -1;
}

/* ---- start ---------------------------------------------------------- */

int
postctl_cmd_start(int argc, char *argv[])
{
	const char	*error;
	char		*program, *args[4];
	double		 deadline;
	pid_t		 pid, child;
	int		 ret, status;

	if (postctl_no_args(argc, argv) == -1)
		return POSTCTL_EXIT_USAGE;
	postctl_load_config();
	if ((ret = postctl_master_pid(&pid, &error)) == -1) {
		fprintf(stderr, "postctl: %s\n", error);
		return POSTCTL_EXIT_FAIL;
	}
	if (ret == 1) {
		fprintf(stderr, "postctl: postern is already running "
		    "(pid %ld)\n", (long)pid);
		return POSTCTL_EXIT_FAIL;
	}

	program = xasprintf("%s/%s", cfg->daemon_directory, MASTER_PROGRAM);
	args[0] = program;
	args[1] = xstrdup("-c");
	args[2] = xstrdup(postctl_conf_dir);
	args[3] = NULL;
	fflush(NULL);
	child = fork();
	if (child == -1) {
		fprintf(stderr, "postctl: fork: %s\n", strerror(errno));
		ret = POSTCTL_EXIT_FAIL;
		goto out;
	}
	if (child == 0) {
		execv(program, args);
		fprintf(stderr, "postctl: cannot run %s: %s\n", program,
		    strerror(errno));
		_exit(127);
	}

	/*
	 * The master forks; its first process exits once the daemon is
	 * ready (0) or has failed (1, with the reason on stderr).
	 */
	deadline = postctl_now() + cfg->ipc_timeout;
	for (;;) {
		ret = waitpid(child, &status, WNOHANG);
		if (ret == child)
			break;
		if (ret == -1 && errno != EINTR) {
			fprintf(stderr, "postctl: waitpid: %s\n",
			    strerror(errno));
			ret = POSTCTL_EXIT_FAIL;
			goto out;
		}
		if (postctl_now() > deadline) {
			fprintf(stderr, "postctl: %s did not report its start "
			    "within %u s\n", program, cfg->ipc_timeout);
			ret = POSTCTL_EXIT_FAIL;
			goto out;
		}
		postctl_sleep_ms(POSTCTL_POLL_MS);
	}
	if (WIFSIGNALED(status)) {
		fprintf(stderr, "postctl: %s was killed by signal %d\n",
		    program, WTERMSIG(status));
		ret = POSTCTL_EXIT_FAIL;
	} else if (WEXITSTATUS(status) != 0) {
		if (WEXITSTATUS(status) != 127)
			fprintf(stderr, "postctl: %s failed to start (exit "
			    "status %d)\n", program, WEXITSTATUS(status));
		ret = POSTCTL_EXIT_FAIL;
	} else if (postctl_master_pid(&pid, &error) == 1) {
		printf("postctl: postern started (pid %ld)\n", (long)pid);
		ret = POSTCTL_EXIT_OK;
	} else {
		printf("postctl: postern started\n");
		ret = POSTCTL_EXIT_OK;
	}
out:
	free(args[1]);
	free(args[2]);
	free(program);
	return ret;
}

/* ---- stop ----------------------------------------------------------- */

int
postctl_cmd_stop(int argc, char *argv[])
{
	unsigned int	 limit;
	double		 deadline;
	pid_t		 pid;

	if (postctl_no_args(argc, argv) == -1)
		return POSTCTL_EXIT_USAGE;
	postctl_load_config();
	pid = postctl_need_master();
	if (postctl_simple_request(IPC_CTL_STOP, "stop") == -1) {
		/* It may have stopped between the pid check and the request. */
		if (!postctl_pid_alive(pid)) {
			fprintf(stderr, "postctl: postern is not running\n");
			return POSTCTL_EXIT_NOT_RUNNING;
		}
		return POSTCTL_EXIT_FAIL;
	}
	limit = cfg->master_stop_timeout + POSTCTL_STOP_GRACE;
	deadline = postctl_now() + limit;
	while (postctl_pid_alive(pid)) {
		if (postctl_now() > deadline) {
			fprintf(stderr, "postctl: postern-master (pid %ld) did "
			    "not stop within %u s\n", (long)pid, limit);
			return POSTCTL_EXIT_FAIL;
		}
		postctl_sleep_ms(POSTCTL_POLL_MS);
	}
	printf("postctl: postern stopped\n");
	return POSTCTL_EXIT_OK;
}

/* ---- reload --------------------------------------------------------- */

int
postctl_cmd_reload(int argc, char *argv[])
{
	if (postctl_no_args(argc, argv) == -1)
		return POSTCTL_EXIT_USAGE;
	postctl_load_config();
	(void)postctl_need_master();
	if (postctl_simple_request(IPC_CTL_RELOAD,
	    "the master kept its configuration") == -1)
		return POSTCTL_EXIT_FAIL;
	printf("postctl: configuration reloaded\n");
	return POSTCTL_EXIT_OK;
}

/* ---- status --------------------------------------------------------- */

static void
status_deinit(struct status *st)
{
	size_t	i;

	for (i = 0; i < st->nsvcs; i++) {
		free(st->svcs[i].name);
		free(st->svcs[i].state);
	}
	for (i = 0; i < st->nprocs; i++) {
		free(st->procs[i].service);
		free(st->procs[i].state);
	}
	free(st->svcs);
	free(st->procs);
	memset(st, 0, sizeof(*st));
}

static int
status_bad(struct ipc_msg *m)
{
	fprintf(stderr, "postctl: malformed status message %u from the "
	    "master\n", (unsigned int)m->type);
	return -1;
}

static int
status_add_svc(struct status *st, struct ipc_msg *m)
{
	struct status_svc *s;
	const char	*name, *state;
	uint64_t	 backoff;

	if (ipc_get_str(m, "service", CONF_SERVICE_NAME_MAX, &name) == -1 ||
	    ipc_get_str(m, "state", POSTCTL_STATE_MAX, &state) == -1)
		return status_bad(m);
	/* backoff is 0 when absent: it only matters in state backoff. */
	if (!ipc_has(m, "backoff"))
		backoff = 0;
	else if (ipc_get_u64(m, "backoff", POSTCTL_TIME_MAX, &backoff) == -1)
		return status_bad(m);
	st->svcs = xreallocarray(st->svcs, st->nsvcs + 1, sizeof(*st->svcs));
	s = &st->svcs[st->nsvcs++];
	s->name = xstrdup(name);
	s->state = xstrdup(state);
	s->backoff = backoff;
	s->printed = false;
	return 0;
}

static int
status_add_proc(struct status *st, struct ipc_msg *m)
{
	struct status_proc *p;
	const char	*service, *state;
	uint64_t	 pid, started, clients;

	if (ipc_get_str(m, "service", CONF_SERVICE_NAME_MAX, &service) == -1 ||
	    ipc_get_str(m, "state", POSTCTL_STATE_MAX, &state) == -1 ||
	    ipc_get_u64(m, "pid", INT_MAX, &pid) == -1 ||
	    ipc_get_u64(m, "started", POSTCTL_TIME_MAX, &started) == -1 ||
	    ipc_get_u64(m, "clients", UINT32_MAX, &clients) == -1)
		return status_bad(m);
	st->procs = xreallocarray(st->procs, st->nprocs + 1,
	    sizeof(*st->procs));
	p = &st->procs[st->nprocs++];
	p->service = xstrdup(service);
	p->state = xstrdup(state);
	p->pid = pid;
	p->started = started;
	p->clients = clients;
	p->printed = false;
	/* The master sends each service's processes right after it. */
	p->svc = st->nsvcs > 0 ? st->nsvcs - 1 : SIZE_MAX;
	return 0;
}

/* Reads the whole answer to IPC_CTL_STATUS.  0, or -1 after printing why. */
static int
status_read(int sock, struct status *st)
{
	struct ipc_msg	*m;
	int		 ret;

	for (;;) {
		if (st->nsvcs + st->nprocs >= POSTCTL_STATUS_MAX_ENTRIES) {
			fprintf(stderr, "postctl: the master's status is too "
			    "long\n");
			return -1;
		}
		if (postctl_read(sock, &m) == -1)
			return -1;
		switch (m->type) {
		case IPC_CTL_STATUS_SVC:
			ret = status_add_svc(st, m);
			break;
		case IPC_CTL_STATUS_PROC:
			ret = status_add_proc(st, m);
			break;
		case IPC_OK:
			if (ipc_get_u64(m, "pid", INT_MAX, &st->master_pid) == -1 ||
			    ipc_get_u64(m, "started", POSTCTL_TIME_MAX,
			    &st->master_started) == -1)
				ret = status_bad(m);
			else
				ret = 1;
			break;
		case IPC_ERROR:
			postctl_print_error(m, "status");
			ret = -1;
			break;
		default:
			fprintf(stderr, "postctl: unexpected answer %u from "
			    "the master\n", (unsigned int)m->type);
			ret = -1;
			break;
		}
		ipc_msg_free(&m);
		if (ret != 0)
			return ret == 1 ? 0 : -1;
	}
}

/* "13s", "2m13s", "1h02m", "3d04h". */
static void
status_duration(char *dst, size_t size, uint64_t start, time_t now)
{
	uint64_t s;

	s = now > 0 && (uint64_t)now > start ? (uint64_t)now - start : 0;
	if (s >= 86400)
		(void)snprintf(dst, size, "%llud%02lluh",
		    (unsigned long long)(s / 86400),
		    (unsigned long long)(s % 86400 / 3600));
	else if (s >= 3600)
		(void)snprintf(dst, size, "%lluh%02llum",
		    (unsigned long long)(s / 3600),
		    (unsigned long long)(s % 3600 / 60));
	else if (s >= 60)
		(void)snprintf(dst, size, "%llum%02llus",
		    (unsigned long long)(s / 60),
		    (unsigned long long)(s % 60));
	else
		(void)snprintf(dst, size, "%llus", (unsigned long long)s);
}

static void
status_print_proc(struct status_proc *p, const char *svc_state, time_t now)
{
	char		 up[32];
	const char	*state;

	/*
	 * The service's state, unless this process has its own story: an
	 * old one finishing its sessions after a reload, or one at its
	 * client_limit.
	 */
	if (strcmp(p->state, "stopping") == 0 || strcmp(p->state, "full") == 0 ||
	    svc_state == NULL)
		state = p->state;
	else
		state = svc_state;
	status_duration(up, sizeof(up), p->started, now);
	printf("%-16s %-9s %-8llu %-8s %llu\n", p->service, state,
	    (unsigned long long)p->pid, up, (unsigned long long)p->clients);
	p->printed = true;
}

static void
status_print(struct status *st)
{
	struct status_svc *s;
	char		 up[32], state[POSTCTL_STATE_MAX + 64];
	time_t		 now;
	size_t		 i, j;
	bool		 any;

	now = time(NULL);
	status_duration(up, sizeof(up), st->master_started, now);
	printf("postern-master pid %llu, up %s\n",
	    (unsigned long long)st->master_pid, up);
	printf("%-16s %-9s %-8s %-8s %s\n", "SERVICE", "STATE", "PID",
	    "UPTIME", "CLIENTS");
	for (i = 0; i < st->nsvcs; i++) {
		s = &st->svcs[i];
		any = false;
		for (j = 0; j < st->nprocs; j++) {
			if (!st->procs[j].printed && st->procs[j].svc == i &&
			    strcmp(st->procs[j].service, s->name) == 0) {
				status_print_proc(&st->procs[j], s->state, now);
				any = true;
			}
		}
		/* A retired generation whose last process is gone: nothing to say. */
		if (any || strcmp(s->state, "stopping") == 0)
			continue;
		if (strcmp(s->state, "backoff") == 0 && s->backoff > 0)
			(void)snprintf(state, sizeof(state),
			    "backoff (next start in %llus)",
			    (unsigned long long)s->backoff);
		else
			(void)snprintf(state, sizeof(state), "%s", s->state);
		printf("%-16s %-9s %-8s %-8s %s\n", s->name, state, "-", "-",
		    "-");
	}
	/* Processes of a service the master did not describe. */
	for (j = 0; j < st->nprocs; j++)
		if (!st->procs[j].printed)
			status_print_proc(&st->procs[j], NULL, now);
}

int
postctl_cmd_status(int argc, char *argv[])
{
	struct status	st;
	int		sock, ret;

	if (postctl_no_args(argc, argv) == -1)
		return POSTCTL_EXIT_USAGE;
	postctl_load_config();
	(void)postctl_need_master();
	if ((sock = postctl_connect()) == -1)
		return POSTCTL_EXIT_FAIL;
	if (postctl_send(sock, IPC_CTL_STATUS) == -1) {
		(void)close(sock);
		return POSTCTL_EXIT_FAIL;
	}
	memset(&st, 0, sizeof(st));
	ret = status_read(sock, &st);
	(void)close(sock);
	if (ret == 0)
		status_print(&st);
	status_deinit(&st);
	return ret == 0 ? POSTCTL_EXIT_OK : POSTCTL_EXIT_FAIL;
}
