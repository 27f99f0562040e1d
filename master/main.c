/* SPDX-License-Identifier: ISC */
/*
 * postern-master: the supervisor (DESIGN.md "Processes and privileges").
 * The only long-lived process that keeps root: it reads the
 * configuration, creates the instance's folders, binds every listener,
 * starts and restarts the service processes, and takes orders from
 * postctl over its control socket and from signals (HUP reload, TERM
 * stop).  It never exits because a child did.
 */
#include "config.h"

#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include <event2/event.h>

#include "buf.h"
#include "error.h"
#include "file.h"
#include "log.h"
#include "priv.h"
#include "qfile.h"
#include "str.h"
#include "xmalloc.h"

#include "master.h"
#include "master_ctl.h"
#include "master_svc.h"

#include "banned.h"

#define MASTER_ERRORS_MAX	(64 * 1024)

/* Where start-up failures go: stderr, or the pipe to the waiting parent. */
static int master_report_fd = STDERR_FILENO;
/* The pid file once we hold its lock, to remove it if start-up fails. */
static const char *master_locked_pid_path;

static void ATTR_NORETURN ATTR_PRINTF(1, 2)
master_startup_fail(const char *fmt, ...)
{
	char	 line[1024];
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	log_error("%s", line);
	if (master_locked_pid_path != NULL)
		(void)unlink(master_locked_pid_path);
	line[n++] = '\n';
	/* Nowhere else to report a failed report: the log has it. */
	if (file_write_all(master_report_fd, "postern-master: ", 16) == 0)
		(void)!file_write_all(master_report_fd, line, (size_t)n);
	exit(1);
}

/* mkdir -p for the parents of a folder we are about to create. */
static int
master_make_parents(const char *dir, const char **error_r)
{
	char	 path[PATH_MAX], *p;

	if (str_copy(path, sizeof(path), dir) == -1) {
		*error_r = error_fmt("%s: path too long", dir);
		return -1;
	}
	for (p = path + 1; (p = strchr(p, '/')) != NULL; p++) {
		*p = '\0';
		if (mkdir(path, 0755) == -1 && errno != EEXIST) {
			*error_r = error_fmt("mkdir %s: %m", path);
			return -1;
		}
		*p = '/';
	}
	return 0;
}

/*
 * maildrop/ (postern-postdrop(8)): mail_owner's, open to setgid_group
 * (postdrop must read the folder to fsync it), nobody else; sticky, so a
 * submitter cannot remove or replace another's file (01770).  The queue
 * manager reads the files through their "other" bits (0604), so
 * mail_owner's group must not be setgid_group.  Without that group only
 * root (and mail_owner) can submit; when not root, the user's own folder.
 */
static int
master_make_maildrop(struct master *m, uid_t uid, gid_t gid,
    const char **error_r)
{
	const char	*lookup_error;
	char		*dir;
	gid_t		 group = gid;
	mode_t		 mode = 0700;
	int		 r, rc;

	if (m->is_root) {
		r = priv_lookup_group(cfg->setgid_group, &group,
		    &lookup_error);
		if (r == -1) {
			*error_r = error_fmt("setgid_group %s: %s",
			    cfg->setgid_group, lookup_error);
			return -1;
		}
		if (r == 1 && group == gid) {
			*error_r = error_fmt("mail_owner %s must not have "
			    "setgid_group %s as its group", cfg->mail_owner,
			    cfg->setgid_group);
			return -1;
		}
		if (r == 1)
			mode = 01770;
		else {
			log_warning("setgid_group %s: no such group; only root "
			    "can submit mail with sendmail", cfg->setgid_group);
			group = gid;
		}
	}
	dir = xasprintf("%s/%s", cfg->queue_directory, QFILE_DIR_MAILDROP);
	rc = file_ensure_dir(dir, mode, uid, group, error_r);
	free(dir);
	return rc;
}

int
master_make_dirs(struct master *m, const char **error_r)
{
	struct {
		const char	*path;
		mode_t		 mode;
		bool		 owned;		/* by mail_owner */
	} dirs[12];
	uid_t		 uid = (uid_t)-1;
	gid_t		 gid = (gid_t)-1;
	const char	*lookup_error;
	char		*private_dir, *public_dir, *empty_dir, *incoming_dir;
	char		*login_dir;
	char		*corrupt_dir, *recycle_dir, *sched_dir[3];
	static const char *const sched[3] = { "active", "deferred", "hold" };
	size_t		 i;
	int		 r, rc = 0;

	if (m->is_root) {
		r = priv_lookup_user(cfg->mail_owner, &uid, &gid,
		    &lookup_error);
		if (r != 1) {
			*error_r = error_fmt("mail_owner %s: %s",
			    cfg->mail_owner, r == 0 ? "no such user" :
			    lookup_error);
			return -1;
		}
	}
	private_dir = xasprintf("%s/private", cfg->queue_directory);
	public_dir = xasprintf("%s/public", cfg->queue_directory);
	empty_dir = xasprintf("%s/empty", cfg->data_directory);
	login_dir = xasprintf("%s/login", cfg->queue_directory);
	incoming_dir = xasprintf("%s/%s", cfg->queue_directory,
	    QFILE_DIR_INCOMING);
	corrupt_dir = xasprintf("%s/%s", cfg->queue_directory,
	    QFILE_DIR_CORRUPT);
	recycle_dir = xasprintf("%s/%s", cfg->queue_directory,
	    QFILE_DIR_RECYCLE);
	dirs[0].path = cfg->queue_directory;	dirs[0].mode = 0755;
	dirs[0].owned = false;
	dirs[1].path = private_dir;		dirs[1].mode = 0700;
	dirs[1].owned = true;
	dirs[2].path = public_dir;		dirs[2].mode = 0710;
	dirs[2].owned = true;
	dirs[3].path = cfg->data_directory;	dirs[3].mode = 0700;
	dirs[3].owned = true;
	/* The chroot of services with "chroot = empty": nothing, read-only. */
	dirs[4].path = empty_dir;		dirs[4].mode = 0555;
	dirs[4].owned = false;
	/* Queue folders (postern-queue(5)): the mail owner's alone. */
	dirs[5].path = incoming_dir;		dirs[5].mode = 0700;
	dirs[5].owned = true;
	dirs[6].path = corrupt_dir;		dirs[6].mode = 0700;
	dirs[6].owned = true;
	dirs[10].path = recycle_dir;		dirs[10].mode = 0700;
	dirs[10].owned = true;
	/*
	 * The chroot of the login processes ("chroot = login"): the sockets
	 * they talk to (authd, the mail processes) and nothing else; not
	 * writable by them.
	 */
	dirs[11].path = login_dir;		dirs[11].mode = 0755;
	dirs[11].owned = false;
	/* The queue manager's scheduling folders (postern-queue(5)). */
	for (i = 0; i < N_ELEMENTS(sched); i++) {
		sched_dir[i] = xasprintf("%s/%s", cfg->queue_directory,
		    sched[i]);
		dirs[7 + i].path = sched_dir[i];
		dirs[7 + i].mode = 0700;
		dirs[7 + i].owned = true;
	}
	for (i = 0; i < N_ELEMENTS(dirs); i++) {
		uid_t du = dirs[i].owned ? uid : (m->is_root ? 0 : (uid_t)-1);
		gid_t dg = dirs[i].owned ? gid : (m->is_root ? 0 : (gid_t)-1);

		if (master_make_parents(dirs[i].path, error_r) == -1 ||
		    file_ensure_dir(dirs[i].path, dirs[i].mode, du, dg,
		    error_r) == -1) {
			rc = -1;
			break;
		}
	}
	if (rc == 0 && master_make_maildrop(m, uid, gid, error_r) == -1)
		rc = -1;
	if (rc == 0 && (master_make_parents(cfg->run_directory, error_r) == -1 ||
	    file_ensure_dir(cfg->run_directory, 0755,
	    m->is_root ? 0 : (uid_t)-1, m->is_root ? 0 : (gid_t)-1,
	    error_r) == -1))
		rc = -1;
	free(private_dir);
	free(public_dir);
	free(empty_dir);
	free(login_dir);
	free(incoming_dir);
	free(corrupt_dir);
	free(recycle_dir);
	for (i = 0; i < N_ELEMENTS(sched); i++)
		free(sched_dir[i]);
	return rc;
}

/* Locks and writes the pid file; a locked one means a master runs. */
static void
master_pidfile(struct master *m)
{
	struct flock	 fl;
	char		 text[32], old[32];
	ssize_t		 n;
	int		 fd;

	m->pid_path = xasprintf("%s/master.pid", cfg->run_directory);
	if ((fd = open(m->pid_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
	    0644)) == -1)
		master_startup_fail("%s: %m", m->pid_path);
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	if (fcntl(fd, F_SETLK, &fl) == -1) {
		if (errno != EAGAIN && errno != EACCES)
			master_startup_fail("lock %s: %m", m->pid_path);
		n = pread(fd, old, sizeof(old) - 1, 0);
		old[n > 0 ? n : 0] = '\0';
		old[strcspn(old, "\n")] = '\0';
		master_startup_fail("already running (pid %s)", old);
	}
	n = snprintf(text, sizeof(text), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) == -1 ||
	    pwrite(fd, text, (size_t)n, 0) != n || fsync(fd) == -1)
		master_startup_fail("%s: %m", m->pid_path);
	m->pid_fd = fd;
	master_locked_pid_path = m->pid_path;
}

static void
master_on_sigchld(evutil_socket_t sig, short what, void *arg)
{
	struct master *m = arg;

	master_svc_reap(m);
	if (m->stopping && master_svc_nprocs(m) == 0)
		event_base_loopexit(m->base, NULL);
}

static void
master_on_sighup(evutil_socket_t sig, short what, void *arg)
{
	struct master	*m = arg;
	char		*errors;

	if (m->stopping)
		return;
	log_info("reload requested by SIGHUP");
	if (master_reload(m, &errors) == -1)
		free(errors);
}

static void
master_on_sigterm(evutil_socket_t sig, short what, void *arg)
{
	struct master *m = arg;

	log_info("stop requested by signal %d", (int)sig);
	master_stop(m);
}

void
master_stop(struct master *m)
{
	if (m->stopping)
		return;
	m->stopping = true;
	/* Stop accepting at once; sessions in progress may finish. */
	master_svc_close_all_listeners(m);
	master_svc_signal_all(m, SIGTERM);
	if (master_svc_nprocs(m) == 0)
		event_base_loopexit(m->base, NULL);
}

static void
master_open_log(const struct postern_config *c)
{
	const char	*error;
	char		*name;

	name = xasprintf("%s/master", c->syslog_name);
	if (log_open(name, c->log_target, c->syslog_facility, &error) == -1)
		log_error("log_target %s: %s", c->log_target, error);
	free(name);
}

int
master_reload(struct master *m, char **errors_r)
{
	struct postern_config	*newc, *oldc;
	struct conf_errors	 errs;
	struct master_svc	*svcs;
	struct buf		*text;
	const char		*error;
	size_t			 i;

	newc = conf_read(m->conf_dir, &errs);
	if (newc == NULL) {
		text = buf_new(256, MASTER_ERRORS_MAX);
		for (i = 0; i < errs.count; i++) {
			log_error("reload: %s", errs.lines[i]);
			/* Past MASTER_ERRORS_MAX postctl sees the first ones. */
			if (buf_printf(text, "%s%s", i > 0 ? "\n" : "",
			    errs.lines[i]) == -1)
				break;
		}
		log_error("reload failed; the old configuration stays in force");
		conf_errors_deinit(&errs);
		*errors_r = buf_steal(text);
		buf_free(&text);
		return -1;
	}
	conf_errors_deinit(&errs);

	oldc = m->config;
	cfg = newc;
	if (master_make_dirs(m, &error) == -1 ||
	    master_svc_setup(m, newc, &svcs, &error) == -1) {
		cfg = oldc;
		conf_free(&newc);
		log_error("reload: %s; the old configuration stays in force",
		    error);
		*errors_r = xstrdup(error);
		return -1;
	}
	master_open_log(newc);
	log_set_debug(m->debug || newc->log_debug);
	/* The old generation finishes its sessions; the new one starts now. */
	master_svc_retire_all(m);
	m->svcs = svcs;
	master_svc_close_unused(m);
	m->config = newc;
	conf_free(&oldc);
	master_svc_start_all(m);
	log_info("reloaded %s", newc->config_file);
	return 0;
}

static void
master_daemonize(void)
{
	char	 buf[1024];
	ssize_t	 n;
	size_t	 got = 0;
	int	 pfd[2];
	pid_t	 pid;

	if (pipe2(pfd, O_CLOEXEC) == -1) {
		fprintf(stderr, "postern-master: pipe: %s\n", strerror(errno));
		exit(1);
	}
	if ((pid = fork()) == -1) {
		fprintf(stderr, "postern-master: fork: %s\n", strerror(errno));
		exit(1);
	}
	if (pid > 0) {
		/* Wait for "ok" or the reason the daemon could not start. */
		close(pfd[1]);
		while (got < sizeof(buf) - 1 &&
		    (n = read(pfd[0], buf + got, sizeof(buf) - 1 - got)) != 0) {
			if (n == -1) {
				if (errno == EINTR)
					continue;
				break;
			}
			got += (size_t)n;
		}
		buf[got] = '\0';
		if (strcmp(buf, "ok") == 0)
			exit(0);
		if (got == 0)
			fprintf(stderr, "postern-master: the daemon died "
			    "during start-up; see the log\n");
		else
			fputs(buf, stderr);
		exit(1);
	}
	close(pfd[0]);
	master_report_fd = pfd[1];
	if (setsid() == -1)
		master_startup_fail("setsid: %m");
}

static void
master_detach_stdio(void)
{
	int fd;

	if ((fd = open("/dev/null", O_RDWR)) == -1)
		master_startup_fail("/dev/null: %m");
	(void)dup2(fd, STDIN_FILENO);
	(void)dup2(fd, STDOUT_FILENO);
	(void)dup2(fd, STDERR_FILENO);
	if (fd > STDERR_FILENO)
		close(fd);
}

static const char *
master_abs_dir(const char *dir)
{
	char	 cwd[PATH_MAX];

	if (dir[0] == '/')
		return xstrdup(dir);
	if (getcwd(cwd, sizeof(cwd)) == NULL) {
		fprintf(stderr, "postern-master: getcwd: %s\n", strerror(errno));
		exit(1);
	}
	return xasprintf("%s/%s", cwd, dir);
}

static void ATTR_NORETURN
master_usage(void)
{
	fprintf(stderr, "usage: postern-master [-df] [-c config_dir]\n");
	exit(EX_USAGE);
}

static struct event *
master_signal(struct master *m, int sig, event_callback_fn cb)
{
	struct event *ev;

	if ((ev = evsignal_new(m->base, sig, cb, m)) == NULL ||
	    evsignal_add(ev, NULL) == -1)
		master_startup_fail("cannot watch signal %d", sig);
	return ev;
}

int
main(int argc, char *argv[])
{
	struct master		 m;
	struct conf_errors	 errs;
	const char		*conf_dir, *error;
	struct passwd		*pw;
	bool			 foreground = false;
	size_t			 i;
	int			 ch;

	memset(&m, 0, sizeof(m));
	m.pid_fd = m.ctl_fd = -1;
	log_set_program("postern-master");
	if ((conf_dir = getenv("POSTERN_CONFIG_DIR")) == NULL)
		conf_dir = POSTERN_CONF_DIR;
	while ((ch = getopt(argc, argv, "c:df")) != -1) {
		switch (ch) {
		case 'c':
			conf_dir = optarg;
			break;
		case 'd':
			m.debug = true;
			break;
		case 'f':
			foreground = true;
			break;
		default:
			master_usage();
		}
	}
	if (optind != argc)
		master_usage();
	m.conf_dir = master_abs_dir(conf_dir);
	m.is_root = priv_is_root();

	if ((m.config = conf_read(m.conf_dir, &errs)) == NULL) {
		for (i = 0; i < errs.count; i++)
			fprintf(stderr, "postern-master: %s\n", errs.lines[i]);
		conf_errors_deinit(&errs);
		return 1;
	}
	conf_errors_deinit(&errs);
	cfg = m.config;

	if (!foreground) {
		master_daemonize();
		/* Children must not hold the caller's terminal or pipe. */
		master_detach_stdio();
	}
	master_open_log(cfg);
	log_set_debug(m.debug || cfg->log_debug);
	signal(SIGPIPE, SIG_IGN);
	umask(022);

	if (master_make_dirs(&m, &error) == -1)
		master_startup_fail("%s", error);
	master_pidfile(&m);
	m.started = time(NULL);
	if ((m.base = event_base_new()) == NULL)
		master_startup_fail("event_base_new failed");
	m.ev_chld = master_signal(&m, SIGCHLD, master_on_sigchld);
	m.ev_hup = master_signal(&m, SIGHUP, master_on_sighup);
	m.ev_term = master_signal(&m, SIGTERM, master_on_sigterm);
	m.ev_int = master_signal(&m, SIGINT, master_on_sigterm);
	if (master_ctl_open(&m, &error) == -1)
		master_startup_fail("%s", error);
	if (master_svc_setup(&m, cfg, &m.svcs, &error) == -1)
		master_startup_fail("%s", error);
	if (!m.is_root) {
		pw = getpwuid(getuid());
		log_info("running as %s without root: services run as %s "
		    "without chroot", pw != NULL ? pw->pw_name : "?",
		    pw != NULL ? pw->pw_name : "this user");
	}
	log_info("started; configuration %s", cfg->config_file);
	master_svc_start_all(&m);

	if (!foreground) {
		if (file_write_all(master_report_fd, "ok", 2) == -1)
			log_warning("cannot tell the parent we started: %m");
		close(master_report_fd);
		master_report_fd = STDERR_FILENO;
	}

	if (event_base_dispatch(m.base) == -1)
		log_error("event loop failed");

	log_info("stopped");
	master_ctl_close(&m);
	master_svc_free_all(&m);
	event_free(m.ev_chld);
	event_free(m.ev_hup);
	event_free(m.ev_term);
	event_free(m.ev_int);
	event_base_free(m.base);
	(void)unlink(m.pid_path);
	close(m.pid_fd);
	free(m.pid_path);
	free((char *)m.conf_dir);
	cfg = NULL;
	conf_free(&m.config);
	log_close();
	return 0;
}
