/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for common/priv.c: user and group lookups, the keep_caps
 * parser, and priv_drop()/priv_verify() in forked children so the test
 * process keeps its privileges.  As root: a drop to nobody into a chroot
 * with no capability left, a drop that keeps CAP_SETUID and CAP_SETGID,
 * and the fatal path.  Each child reads its own /proc/self/status
 * (opened before the drop: the chroot has no /proc) and checks the ids,
 * the capability sets and NoNewPrivs.  The ordinary-user path runs
 * either way (as root after turning the child into nobody first).
 * Account lookups (getpwnam_r/getpwuid_r with the home folder), and the
 * per-thread file-system ids: as root, after a drop that kept
 * CAP_SETUID/CAP_SETGID, one thread creates a file as another uid and gid
 * while the main thread creates one as itself; without the capabilities
 * another id is refused and one's own is not.
 * Root-only cases print SKIP when not root.
 */
#include "config.h"

#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include <check.h>

#include "common/error.h"
#include "common/priv.h"
#include "common/xmalloc.h"

#include "common/banned.h"

#define NOBODY		65534
#define STATUS_MAX	8192

/* ---- lookups and parsing -------------------------------------------- */

START_TEST(test_priv_lookup_user)
{
	const char *error = NULL;
	uid_t	 uid = 1;
	gid_t	 gid = 1;
	char	*name;

	ck_assert_int_eq(priv_lookup_user("root", &uid, &gid, &error), 1);
	ck_assert_uint_eq(uid, 0);
	ck_assert_uint_eq(gid, 0);
	ck_assert_int_eq(priv_lookup_user("nobody", &uid, &gid, &error), 1);
	ck_assert_uint_eq(uid, NOBODY);
	ck_assert_uint_eq(gid, NOBODY);
	ck_assert_int_eq(priv_lookup_user("postern-no-such-user", &uid, &gid,
	    &error), 0);
	ck_assert_int_eq(priv_lookup_user("", &uid, &gid, &error), 0);
	name = xmalloc(5000);
	memset(name, 'x', 4999);
	name[4999] = '\0';
	ck_assert_int_eq(priv_lookup_user(name, &uid, &gid, &error), 0);
	free(name);
}
END_TEST

START_TEST(test_priv_lookup_group)
{
	const char *error = NULL;
	gid_t	 gid = 1;

	ck_assert_int_eq(priv_lookup_group("root", &gid, &error), 1);
	ck_assert_uint_eq(gid, 0);
	ck_assert_int_eq(priv_lookup_group("nogroup", &gid, &error), 1);
	ck_assert_uint_eq(gid, NOBODY);
	ck_assert_int_eq(priv_lookup_group("postern-no-such-group", &gid,
	    &error), 0);
}
END_TEST

START_TEST(test_priv_parse_caps)
{
	char	*none[] = { NULL };
	char	*uid[] = { "setuid", NULL };
	char	*both[] = { "SETGID", "cap_setuid", "setgid", NULL };
	char	*bad[] = { "setuid", "chown", NULL };
	char	*bad2[] = { "cap_", NULL };
	const char *error = NULL;
	unsigned int caps = 99;

	ck_assert_int_eq(priv_parse_caps(NULL, &caps, &error), 0);
	ck_assert_uint_eq(caps, 0);
	caps = 99;
	ck_assert_int_eq(priv_parse_caps(none, &caps, &error), 0);
	ck_assert_uint_eq(caps, 0);
	ck_assert_int_eq(priv_parse_caps(uid, &caps, &error), 0);
	ck_assert_uint_eq(caps, PRIV_CAP_SETUID);
	ck_assert_int_eq(priv_parse_caps(both, &caps, &error), 0);
	ck_assert_uint_eq(caps, PRIV_CAP_SETUID | PRIV_CAP_SETGID);
	caps = 99;
	ck_assert_int_eq(priv_parse_caps(bad, &caps, &error), -1);
	ck_assert_str_eq(error, "unknown capability \"chown\": only setuid "
	    "and setgid may be kept");
	ck_assert_uint_eq(caps, 99);
	ck_assert_int_eq(priv_parse_caps(bad2, &caps, &error), -1);
}
END_TEST

START_TEST(test_priv_lookup_account)
{
	struct priv_account a;
	const char *error = NULL;
	char	*name;

	ck_assert_int_eq(priv_lookup_account("root", &a, &error), 1);
	ck_assert_uint_eq(a.uid, 0);
	ck_assert_uint_eq(a.gid, 0);
	ck_assert_str_eq(a.home, "/root");
	priv_account_deinit(&a);
	priv_account_deinit(&a);	/* again: harmless */
	ck_assert_ptr_null(a.home);
	ck_assert_int_eq(priv_lookup_account("nobody", &a, &error), 1);
	ck_assert_uint_eq(a.uid, NOBODY);
	ck_assert_uint_eq(a.gid, NOBODY);
	priv_account_deinit(&a);
	ck_assert_int_eq(priv_lookup_account("postern-no-such-user", &a,
	    &error), 0);
	ck_assert_ptr_null(a.home);
	name = xmalloc(5000);
	memset(name, 'x', 4999);
	name[4999] = '\0';
	ck_assert_int_eq(priv_lookup_account(name, &a, &error), 0);
	free(name);

	ck_assert_int_eq(priv_lookup_account_uid(0, &a, &error), 1);
	ck_assert_uint_eq(a.gid, 0);
	ck_assert_str_eq(a.home, "/root");
	priv_account_deinit(&a);
	ck_assert_int_eq(priv_lookup_account_uid(NOBODY, &a, &error), 1);
	ck_assert_uint_eq(a.uid, NOBODY);
	priv_account_deinit(&a);
	ck_assert_int_eq(priv_lookup_account_uid(4242424, &a, &error), 0);
	ck_assert_ptr_null(a.home);
}
END_TEST

START_TEST(test_priv_is_root)
{
	ck_assert(priv_is_root() == (geteuid() == 0));
}
END_TEST

/* ---- children ------------------------------------------------------- */

/*
 * Runs fn(arg) in a child.  fn returns NULL when all is well or a text
 * saying what is not; the text comes back through a pipe.  The child
 * leaves with _exit(): after a drop the leak checker can neither ptrace
 * the process nor read /proc, and there is nothing of the test's to
 * flush.  Returns the wait status; *msg_r holds the child's text.
 */
static int
run_child(const char *(*fn)(void *), void *arg, char *msg_r, size_t size)
{
	const char *msg;
	ssize_t	 n;
	size_t	 len = 0;
	pid_t	 pid;
	int	 fds[2], status;

	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		(void)close(fds[0]);
		msg = fn(arg);
		if (msg != NULL)
			(void)!write(fds[1], msg, strlen(msg));
		_exit(msg == NULL ? 0 : 1);
	}
	(void)close(fds[1]);
	while (len + 1 < size &&
	    (n = read(fds[0], msg_r + len, size - 1 - len)) > 0)
		len += (size_t)n;
	msg_r[len] = '\0';
	(void)close(fds[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return status;
}

static void
child_ok(const char *(*fn)(void *), void *arg)
{
	char	msg[1024];
	int	status;

	status = run_child(fn, arg, msg, sizeof(msg));
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "child failed (status %d): %s", status, msg);
}

/* The value of "Name:" in status text, tabs and all, or NULL. */
static const char *
status_field(const char *status, const char *name, char *buf, size_t size)
{
	const char *p, *nl;
	size_t	 nlen = strlen(name), len;

	for (p = status; p != NULL && *p != '\0'; p = nl == NULL ? NULL : nl + 1) {
		nl = strchr(p, '\n');
		if (strncmp(p, name, nlen) != 0 || p[nlen] != ':')
			continue;
		p += nlen + 1;
		while (*p == '\t' || *p == ' ')
			p++;
		len = nl == NULL ? strlen(p) : (size_t)(nl - p);
		if (len >= size)
			return NULL;
		memcpy(buf, p, len);
		buf[len] = '\0';
		return buf;
	}
	return NULL;
}

/* Checks one status field; returns NULL or what was wrong. */
static const char *
status_is(const char *status, const char *name, const char *want)
{
	char	 buf[256];
	const char *got;

	got = status_field(status, name, buf, sizeof(buf));
	if (got == NULL)
		return error_fmt("%s: missing from /proc/self/status", name);
	if (strcmp(got, want) != 0)
		return error_fmt("%s: \"%s\", want \"%s\"", name, got, want);
	return NULL;
}

/* Reads the status file opened before the drop. */
static const char *
status_read(int fd, char *buf, size_t size)
{
	ssize_t	n;

	if ((n = pread(fd, buf, size - 1, 0)) <= 0)
		return error_fmt("read /proc/self/status: %m");
	buf[n] = '\0';
	return NULL;
}

struct drop_case {
	struct priv_target t;
	const char	*uids;		/* Uid: line: real, eff, saved, fs */
	const char	*gids;
	const char	*cap_prm;	/* CapPrm: and CapEff: */
	const char	*cap_bnd;	/* CapBnd: NULL: not checked */
	const char	*marker;	/* a file that must exist at "/" */
	const char	*cwd;		/* getcwd() after the drop */
	bool		 as_nobody;	/* become nobody first (user run) */
	bool		 can_setuid;	/* CAP_SETUID kept */
};

static const char *
drop_child(void *arg)
{
	const struct drop_case *c = arg;
	const char *err;
	char	 status[STATUS_MAX], cwd[PATH_MAX];
	int	 fd;

	if ((fd = open("/proc/self/status", O_RDONLY)) == -1)
		return error_fmt("open /proc/self/status: %m");
	if (c->as_nobody && (setgroups(0, NULL) == -1 ||
	    setresgid(NOBODY, NOBODY, NOBODY) == -1 ||
	    setresuid(NOBODY, NOBODY, NOBODY) == -1))
		return error_fmt("become nobody: %m");
	priv_drop(&c->t);
	if (priv_verify(&c->t, &err) == -1)
		return error_fmt("priv_verify again: %s", err);
	if ((err = status_read(fd, status, sizeof(status))) != NULL ||
	    (err = status_is(status, "Uid", c->uids)) != NULL ||
	    (err = status_is(status, "Gid", c->gids)) != NULL ||
	    (err = status_is(status, "CapInh", "0000000000000000")) != NULL ||
	    (err = status_is(status, "CapPrm", c->cap_prm)) != NULL ||
	    (err = status_is(status, "CapEff", c->cap_prm)) != NULL ||
	    (err = status_is(status, "CapAmb", "0000000000000000")) != NULL ||
	    (err = status_is(status, "NoNewPrivs", "1")) != NULL)
		return err;
	if (c->cap_bnd != NULL &&
	    (err = status_is(status, "CapBnd", c->cap_bnd)) != NULL)
		return err;
	if (c->marker != NULL && access(c->marker, F_OK) == -1)
		return error_fmt("%s: %m (not in the chroot?)", c->marker);
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		return error_fmt("getcwd: %m");
	if (strcmp(cwd, c->cwd) != 0)
		return error_fmt("cwd is %s, want %s", cwd, c->cwd);
	/* No way back, unless CAP_SETUID was kept on purpose. */
	if (!c->can_setuid && (setuid(0) == 0 || seteuid(0) == 0))
		return "setuid(0) succeeded after the drop";
	return NULL;
}

/* A folder for the chroot, readable by nobody, with a marker file. */
static char *
chroot_dir_new(void)
{
	char	*dir, *marker;
	int	 fd;

	dir = xstrdup("/tmp/test_priv.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(chmod(dir, 0755), 0);
	marker = xasprintf("%s/postern-chroot-marker", dir);
	fd = open(marker, O_WRONLY | O_CREAT | O_EXCL, 0644);
	ck_assert_int_ne(fd, -1);
	(void)close(fd);
	free(marker);
	return dir;
}

static void
chroot_dir_free(char *dir)
{
	char	*marker;

	marker = xasprintf("%s/postern-chroot-marker", dir);
	(void)unlink(marker);
	(void)rmdir(dir);
	free(marker);
	free(dir);
}

static bool
skip_not_root(const char *what)
{
	if (geteuid() == 0)
		return false;
	printf("SKIP: %s: needs root\n", what);
	return true;
}

START_TEST(test_priv_drop_chroot_nobody)
{
	struct drop_case c;
	char	*dir;

	if (skip_not_root("drop to nobody with chroot"))
		return;
	dir = chroot_dir_new();
	memset(&c, 0, sizeof(c));
	c.t.uid = NOBODY;
	c.t.gid = NOBODY;
	c.t.chroot = dir;
	c.t.keep_caps = 0;
	c.uids = "65534\t65534\t65534\t65534";
	c.gids = "65534\t65534\t65534\t65534";
	c.cap_prm = "0000000000000000";
	c.cap_bnd = "0000000000000000";
	c.marker = "/postern-chroot-marker";
	c.cwd = "/";
	child_ok(drop_child, &c);
	chroot_dir_free(dir);
}
END_TEST

START_TEST(test_priv_drop_keep_caps)
{
	struct drop_case c;

	if (skip_not_root("drop keeping CAP_SETUID and CAP_SETGID"))
		return;
	memset(&c, 0, sizeof(c));
	c.t.uid = NOBODY;
	c.t.gid = NOBODY;
	c.t.keep_caps = PRIV_CAP_SETUID | PRIV_CAP_SETGID;
	/* CAP_SETGID is bit 6, CAP_SETUID bit 7. */
	c.uids = "65534\t65534\t65534\t65534";
	c.gids = "65534\t65534\t65534\t65534";
	c.cap_prm = "00000000000000c0";
	c.cap_bnd = "00000000000000c0";
	c.cwd = "/";
	c.can_setuid = true;
	if (chdir("/") == -1)
		ck_abort_msg("chdir /: %s", strerror(errno));
	child_ok(drop_child, &c);
}
END_TEST

START_TEST(test_priv_drop_keep_one)
{
	struct drop_case c;

	if (skip_not_root("drop keeping CAP_SETGID only"))
		return;
	memset(&c, 0, sizeof(c));
	c.t.uid = NOBODY;
	c.t.gid = NOBODY;
	c.t.keep_caps = PRIV_CAP_SETGID;
	c.uids = "65534\t65534\t65534\t65534";
	c.gids = "65534\t65534\t65534\t65534";
	c.cap_prm = "0000000000000040";
	c.cap_bnd = "0000000000000040";
	c.cwd = "/";
	if (chdir("/") == -1)
		ck_abort_msg("chdir /: %s", strerror(errno));
	child_ok(drop_child, &c);
}
END_TEST

/*
 * An ordinary user's run: ids stay (whatever t says), no chroot but a
 * chdir into it, NoNewPrivs, no capabilities.  As root, the child turns
 * itself into nobody first.
 */
START_TEST(test_priv_drop_user_run)
{
	struct drop_case c;
	char	*dir, *uids, *gids;
	bool	 root = geteuid() == 0;
	unsigned long uid = root ? NOBODY : getuid();
	unsigned long gid = root ? NOBODY : getgid();

	dir = chroot_dir_new();
	memset(&c, 0, sizeof(c));
	/* Some other service user: the drop must leave the ids alone. */
	c.t.uid = 4242;
	c.t.gid = 4242;
	c.t.chroot = dir;
	c.t.keep_caps = PRIV_CAP_SETUID;	/* cannot be had: none kept */
	uids = xasprintf("%lu\t%lu\t%lu\t%lu", uid, uid, uid, uid);
	gids = xasprintf("%lu\t%lu\t%lu\t%lu", gid, gid, gid, gid);
	c.uids = uids;
	c.gids = gids;
	c.cap_prm = "0000000000000000";
	c.cwd = dir;
	c.as_nobody = root;
	child_ok(drop_child, &c);
	free(uids);
	free(gids);
	chroot_dir_free(dir);
}
END_TEST

static const char *
fatal_child(void *arg)
{
	const struct priv_target *t = arg;

	/* As root the chroot fails, as a user the chdir: both fatal. */
	priv_drop(t);
	return "priv_drop returned after a failed chroot";
}

START_TEST(test_priv_drop_fatal)
{
	struct priv_target t;
	char	 msg[1024];
	int	 status;

	memset(&t, 0, sizeof(t));
	t.uid = NOBODY;
	t.gid = NOBODY;
	t.chroot = "/nonexistent/postern-test";
	status = run_child(fatal_child, &t, msg, sizeof(msg));
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == EX_TEMPFAIL,
	    "status %d: %s", status, msg);
}
END_TEST

struct verify_case {
	struct priv_target t;
	const char	*want;		/* part of the error */
};

static const char *
verify_fails_child(void *arg)
{
	const struct verify_case *c = arg;
	const char *error = NULL;

	/* Root's own supplementary groups would be found first. */
	if (geteuid() == 0 && setgroups(0, NULL) == -1)
		return error_fmt("setgroups: %m");
	if (priv_verify(&c->t, &error) != -1)
		return "priv_verify passed before any drop";
	if (strstr(error, c->want) == NULL)
		return error_fmt("error \"%s\", want \"%s\"", error, c->want);
	return NULL;
}

START_TEST(test_priv_verify_before_drop)
{
	struct verify_case c;

	/* Nothing dropped: root's capabilities, or no NoNewPrivs. */
	memset(&c, 0, sizeof(c));
	c.t.uid = geteuid();
	c.t.gid = getegid();
	c.want = geteuid() == 0 ? "cap_chown is still effective" :
	    "PR_SET_NO_NEW_PRIVS is not set";
	child_ok(verify_fails_child, &c);
	/* Other ids than t's. */
	c.t.uid = 4242;
	c.want = "uids are";
	child_ok(verify_fails_child, &c);
	c.t.uid = geteuid();
	c.t.gid = 4242;
	c.want = "gids are";
	child_ok(verify_fails_child, &c);
}
END_TEST

static const char *
verify_after_drop_child(void *arg)
{
	struct priv_target t, other;
	const char *error = NULL;

	(void)arg;
	memset(&t, 0, sizeof(t));
	t.uid = NOBODY;
	t.gid = NOBODY;
	priv_drop(&t);
	other = t;
	other.uid = 1;
	if (priv_verify(&other, &error) != -1 ||
	    strstr(error, "uids are") == NULL)
		return "priv_verify accepted the wrong uid";
	other = t;
	other.gid = 1;
	if (priv_verify(&other, &error) != -1 ||
	    strstr(error, "gids are") == NULL)
		return "priv_verify accepted the wrong gid";
	/* Kept capabilities that the process does not have. */
	other = t;
	other.keep_caps = PRIV_CAP_SETUID;
	if (priv_verify(&other, &error) != -1 ||
	    strstr(error, "was to be kept") == NULL)
		return error_fmt("priv_verify accepted a missing kept "
		    "capability: %s", error == NULL ? "" : error);
	return NULL;
}

START_TEST(test_priv_verify_after_drop)
{
	if (skip_not_root("priv_verify after a drop"))
		return;
	child_ok(verify_after_drop_child, NULL);
}
END_TEST

/* ---- file-system ids ------------------------------------------------ */

#define FS_UID	4242
#define FS_GID	4343

struct fsid_case {
	const char	*dir;		/* world-writable folder */
	int		 to_thread[2];	/* main -> thread: "go" */
	int		 to_main[2];	/* thread -> main: "switched" */
	const char	*error;		/* the thread's */
};

/* Owner of a new file dir/name, created now; NULL or what went wrong. */
static const char *
fsid_create(const char *dir, const char *name, uid_t uid, gid_t gid)
{
	struct stat st;
	char	*path;
	int	 fd;

	path = xasprintf("%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	free(path);
	if (fd == -1)
		return error_fmt("create %s: %m", name);
	if (fstat(fd, &st) == -1) {
		(void)close(fd);
		return error_fmt("fstat %s: %m", name);
	}
	(void)close(fd);
	if (st.st_uid != uid || st.st_gid != gid)
		return error_fmt("%s is owned by %lu:%lu, want %lu:%lu", name,
		    (unsigned long)st.st_uid, (unsigned long)st.st_gid,
		    (unsigned long)uid, (unsigned long)gid);
	return NULL;
}

static void *
fsid_thread(void *arg)
{
	struct fsid_case *c = arg;
	const char *error;
	char	 ch;

	if (priv_fsid_set(FS_UID, FS_GID, &error) == -1) {
		c->error = error_fmt("priv_fsid_set: %s", error);
		(void)!write(c->to_main[1], "x", 1);
		return NULL;
	}
	(void)!write(c->to_main[1], "s", 1);
	if (read(c->to_thread[0], &ch, 1) != 1)
		c->error = "no go from the main thread";
	else
		c->error = fsid_create(c->dir, "thread", FS_UID, FS_GID);
	priv_fsid_reset();
	if (c->error == NULL)
		c->error = fsid_create(c->dir, "thread-after", NOBODY, NOBODY);
	return NULL;
}

/*
 * After a drop to nobody that kept CAP_SETUID/CAP_SETGID: one thread
 * writes as FS_UID:FS_GID while the main thread, at the same time, still
 * writes as nobody; then the thread is nobody again.
 */
static const char *
fsid_child(void *arg)
{
	struct fsid_case *c = arg;
	struct priv_target t;
	const char *error;
	pthread_t th;
	char	 ch;

	memset(&t, 0, sizeof(t));
	t.uid = NOBODY;
	t.gid = NOBODY;
	t.keep_caps = PRIV_CAP_SETUID | PRIV_CAP_SETGID;
	priv_drop(&t);
	if (!priv_caps_held(PRIV_CAP_SETUID | PRIV_CAP_SETGID))
		return "the kept capabilities are not held";
	if (pipe(c->to_thread) == -1 || pipe(c->to_main) == -1)
		return error_fmt("pipe: %m");
	if (pthread_create(&th, NULL, fsid_thread, c) != 0)
		return "pthread_create failed";
	if (read(c->to_main[0], &ch, 1) != 1)
		return "no word from the thread";
	error = ch == 's' ? fsid_create(c->dir, "main", NOBODY, NOBODY) : NULL;
	(void)!write(c->to_thread[1], "g", 1);
	(void)pthread_join(th, NULL);
	if (error != NULL)
		return error;
	return c->error;
}

/* Without the capabilities another uid is refused, one's own is not. */
static const char *
fsid_nocaps_child(void *arg)
{
	struct fsid_case *c = arg;
	struct priv_target t;
	const char *error = NULL;

	memset(&t, 0, sizeof(t));
	t.uid = geteuid() == 0 ? NOBODY : geteuid();
	t.gid = geteuid() == 0 ? NOBODY : getegid();
	priv_drop(&t);
	if (priv_caps_held(PRIV_CAP_SETUID) || priv_caps_held(PRIV_CAP_SETGID))
		return "capabilities held after a drop that kept none";
	if (!priv_caps_held(0))
		return "priv_caps_held(0) is false";
	if (priv_fsid_set(FS_UID, getegid(), &error) != -1)
		return "setfsuid to another uid succeeded without CAP_SETUID";
	if (strstr(error, "setfsuid 4242 refused") == NULL)
		return error_fmt("error \"%s\"", error);
	if (priv_fsid_set(geteuid(), FS_GID, &error) != -1)
		return "setfsgid to another gid succeeded without CAP_SETGID";
	if (strstr(error, "setfsgid 4343 refused") == NULL)
		return error_fmt("error \"%s\"", error);
	/* After a refusal the ids are the process's own again. */
	if ((error = fsid_create(c->dir, "own", geteuid(), getegid())) != NULL)
		return error;
	if (priv_fsid_set(geteuid(), getegid(), &error) == -1)
		return error_fmt("own ids refused: %s", error);
	priv_fsid_reset();
	return NULL;
}

static char *
fsid_dir_new(void)
{
	char	*dir;

	dir = xstrdup("/tmp/test_priv_fsid.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(chmod(dir, 01777), 0);
	return dir;
}

static void
fsid_dir_free(char *dir)
{
	static const char *const names[] = {
		"thread", "thread-after", "main", "own",
	};
	char	*path;
	size_t	 i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		path = xasprintf("%s/%s", dir, names[i]);
		(void)unlink(path);
		free(path);
	}
	ck_assert_int_eq(rmdir(dir), 0);
	free(dir);
}

START_TEST(test_priv_fsid_per_thread)
{
	struct fsid_case c;

	if (skip_not_root("file-system ids with kept capabilities"))
		return;
	memset(&c, 0, sizeof(c));
	c.dir = fsid_dir_new();
	child_ok(fsid_child, &c);
	fsid_dir_free((char *)c.dir);
}
END_TEST

START_TEST(test_priv_fsid_without_caps)
{
	struct fsid_case c;

	memset(&c, 0, sizeof(c));
	c.dir = fsid_dir_new();
	child_ok(fsid_nocaps_child, &c);
	fsid_dir_free((char *)c.dir);
}
END_TEST

static Suite *
priv_suite(void)
{
	Suite	*s = suite_create("priv");
	TCase	*tc;

	tc = tcase_create("lookup");
	tcase_add_test(tc, test_priv_lookup_user);
	tcase_add_test(tc, test_priv_lookup_group);
	tcase_add_test(tc, test_priv_parse_caps);
	tcase_add_test(tc, test_priv_lookup_account);
	tcase_add_test(tc, test_priv_is_root);
	suite_add_tcase(s, tc);

	tc = tcase_create("fsid");
	tcase_add_test(tc, test_priv_fsid_per_thread);
	tcase_add_test(tc, test_priv_fsid_without_caps);
	suite_add_tcase(s, tc);

	tc = tcase_create("drop");
	tcase_add_test(tc, test_priv_drop_chroot_nobody);
	tcase_add_test(tc, test_priv_drop_keep_caps);
	tcase_add_test(tc, test_priv_drop_keep_one);
	tcase_add_test(tc, test_priv_drop_user_run);
	tcase_add_test(tc, test_priv_drop_fatal);
	tcase_add_test(tc, test_priv_verify_before_drop);
	tcase_add_test(tc, test_priv_verify_after_drop);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(priv_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
