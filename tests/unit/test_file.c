/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for common/file.c: file_commit() success and its cleanup on
 * every reachable failure, folder fsyncs, file_write_all(),
 * file_ensure_dir() modes, owners, symlink and non-folder refusal, and
 * file_read_all() at max and max + 1 and on non-regular files.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "common/file.h"

#include "common/banned.h"

static char	tmpdir[64];

static void
setup(void)
{
	ck_assert_int_gt(snprintf(tmpdir, sizeof(tmpdir),
	    "/tmp/test_file.XXXXXX"), 0);
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void
teardown(void)
{
	char	cmd[128];

	/* The test made the folder; nothing in it is precious. */
	ck_assert_int_gt(snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir),
	    0);
	ck_assert_int_eq(system(cmd), 0);
}

/* Writes tmpdir/name into path (size bytes). */
static const char *
path_in(char *path, size_t size, const char *name)
{
	ck_assert_int_lt(snprintf(path, size, "%s/%s", tmpdir, name),
	    (int)size);
	return path;
}

static void
write_file(const char *path, const char *data, size_t len)
{
	int	fd;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(file_write_all(fd, data, len), 0);
	(void)close(fd);
}

START_TEST(test_file_commit_ok)
{
	char	    tmp[128], final[128], *data = NULL;
	const char *error = NULL;
	size_t	    len = 0;
	int	    fd;

	path_in(tmp, sizeof(tmp), "tmp.1");
	path_in(final, sizeof(final), "final");
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0600);
	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(file_write_all(fd, "queued\n", 7), 0);
	ck_assert_msg(file_commit(fd, tmp, final, &error) == 0, "%s", error);
	/* fd stays open. */
	ck_assert_int_ne(fcntl(fd, F_GETFD), -1);
	(void)close(fd);
	ck_assert_int_eq(access(tmp, F_OK), -1);
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_int_eq(file_read_all(final, 100, &data, &len, &error), 0);
	ck_assert_str_eq(data, "queued\n");
	ck_assert_uint_eq(len, 7);
	free(data);
}
END_TEST

START_TEST(test_file_commit_replaces)
{
	char	    tmp[128], final[128], *data = NULL;
	const char *error = NULL;
	int	    fd;

	path_in(tmp, sizeof(tmp), "map.tmp");
	path_in(final, sizeof(final), "map");
	write_file(final, "old", 3);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0600);
	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(file_write_all(fd, "new", 3), 0);
	ck_assert_int_eq(file_commit(fd, tmp, final, &error), 0);
	(void)close(fd);
	ck_assert_int_eq(file_read_all(final, 100, &data, NULL, &error), 0);
	ck_assert_str_eq(data, "new");
	free(data);
}
END_TEST

START_TEST(test_file_commit_missing_folder)
{
	char	    tmp[128], final[128];
	const char *error = NULL;
	int	    fd;

	path_in(tmp, sizeof(tmp), "tmp.2");
	path_in(final, sizeof(final), "missing/final");
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0600);
	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(file_commit(fd, tmp, final, &error), -1);
	(void)close(fd);
	ck_assert_ptr_nonnull(error);
	ck_assert_ptr_nonnull(strstr(error, final));
	ck_assert_ptr_nonnull(strstr(error, "No such file or directory"));
	/* tmp is cleaned up, nothing else appeared. */
	ck_assert_int_eq(access(tmp, F_OK), -1);
	ck_assert_int_eq(access(final, F_OK), -1);
}
END_TEST

START_TEST(test_file_commit_fsync_fails)
{
	char	    tmp[128], final[128];
	const char *error = NULL;

	path_in(tmp, sizeof(tmp), "tmp.3");
	path_in(final, sizeof(final), "final");
	write_file(tmp, "x", 1);
	/* A bad descriptor: the fsync fails before anything is renamed. */
	ck_assert_int_eq(file_commit(-1, tmp, final, &error), -1);
	ck_assert_ptr_nonnull(strstr(error, "fsync"));
	ck_assert_ptr_nonnull(strstr(error, tmp));
	ck_assert_int_eq(access(tmp, F_OK), -1);
	ck_assert_int_eq(access(final, F_OK), -1);
}
END_TEST

START_TEST(test_file_sync_dir)
{
	char	    path[128], cwd[512];
	const char *error = NULL;

	ck_assert_int_eq(file_sync_dir(tmpdir, &error), 0);
	ck_assert_int_eq(file_sync_dir_of(path_in(path, sizeof(path), "x"),
	    &error), 0);
	ck_assert_int_eq(file_sync_dir_of("/etc", &error), 0);
	ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
	ck_assert_int_eq(chdir(tmpdir), 0);
	ck_assert_int_eq(file_sync_dir_of("no-slash", &error), 0);
	ck_assert_int_eq(chdir(cwd), 0);
	ck_assert_int_eq(file_sync_dir(path_in(path, sizeof(path), "nope"),
	    &error), -1);
	ck_assert_ptr_nonnull(strstr(error, path));
	ck_assert_int_eq(file_sync_dir_of(path_in(path, sizeof(path),
	    "nope/x"), &error), -1);
	/* A file is not a folder. */
	write_file(path_in(path, sizeof(path), "plain"), "", 0);
	ck_assert_int_eq(file_sync_dir(path, &error), -1);
}
END_TEST

/*
 * Tickets: a change covered by a later fsync of its folder (here a plain
 * file_sync_dir()) needs no other, so the folder may even be gone; one
 * not covered fsyncs itself, and fails when it cannot.
 */
START_TEST(test_file_sync_dir_ticket)
{
	char		 dir[128];
	const char	*error = NULL;
	uint64_t	 t1, t2;

	path_in(dir, sizeof(dir), "tick");
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	t1 = file_dir_ticket(dir);
	ck_assert_int_eq(file_sync_dir(dir, &error), 0);
	t2 = file_dir_ticket(dir);
	ck_assert_uint_gt(t2, t1);
	ck_assert_int_eq(rmdir(dir), 0);
	ck_assert_int_eq(file_sync_dir_ticket(dir, t1, &error), 0);
	ck_assert_int_eq(file_sync_dir_ticket(dir, t2, &error), -1);
	ck_assert_ptr_nonnull(strstr(error, "open folder"));
	/* Still not covered: a failed round covers nothing. */
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	ck_assert_int_eq(file_sync_dir_ticket(dir, t2, &error), 0);
	ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

/*
 * Group commit: threads syncing one folder at once all return 0; threads
 * syncing a missing one at the same time all get its error, and neither
 * group's outcome leaks into the other's.
 */
struct sync_arg {
	const char	*dir;
	int		 rc;
	char		 error[256];
};

static void *
sync_thread(void *p)
{
	struct sync_arg	*a = p;
	const char	*error = "";
	int		 i;

	a->rc = 0;
	for (i = 0; i < 200; i++)
		if (file_sync_dir(a->dir, &error) == -1) {
			a->rc = -1;
			(void)snprintf(a->error, sizeof(a->error), "%s", error);
			return NULL;
		}
	return NULL;
}

START_TEST(test_file_sync_dir_shared)
{
	struct sync_arg	 args[8];
	pthread_t	 t[8];
	char		 missing[128];
	int		 i;

	(void)snprintf(missing, sizeof(missing), "%s/missing", tmpdir);
	for (i = 0; i < 8; i++) {
		args[i].dir = i % 2 == 0 ? tmpdir : missing;
		ck_assert_int_eq(pthread_create(&t[i], NULL, sync_thread,
		    &args[i]), 0);
	}
	for (i = 0; i < 8; i++)
		ck_assert_int_eq(pthread_join(t[i], NULL), 0);
	for (i = 0; i < 8; i++) {
		if (i % 2 == 0) {
			ck_assert_int_eq(args[i].rc, 0);
			continue;
		}
		ck_assert_int_eq(args[i].rc, -1);
		ck_assert_ptr_nonnull(strstr(args[i].error, "open folder"));
	}
}
END_TEST

START_TEST(test_file_write_all)
{
	static char big[200000];
	char	    path[128], *data = NULL;
	const char *error;
	size_t	    len;
	int	    p[2];

	memset(big, 'm', sizeof(big));
	write_file(path_in(path, sizeof(path), "big"), big, sizeof(big));
	ck_assert_int_eq(file_read_all(path, sizeof(big), &data, &len,
	    &error), 0);
	ck_assert_uint_eq(len, sizeof(big));
	ck_assert_int_eq(memcmp(data, big, len), 0);
	free(data);
	ck_assert_int_eq(file_write_all(-1, "x", 1), -1);
	ck_assert_int_eq(errno, EBADF);
	/* A pipe with no reader: EPIPE (SIGPIPE ignored here). */
	ck_assert_int_eq(pipe(p), 0);
	(void)close(p[0]);
	ck_assert_ptr_ne(signal(SIGPIPE, SIG_IGN), SIG_ERR);
	ck_assert_int_eq(file_write_all(p[1], "x", 1), -1);
	ck_assert_int_eq(errno, EPIPE);
	(void)close(p[1]);
	ck_assert_int_eq(file_write_all(-1, "", 0), 0);
}
END_TEST

START_TEST(test_file_ensure_dir_create)
{
	struct stat st;
	char	    path[128];
	const char *error = NULL;
	mode_t	    old;

	path_in(path, sizeof(path), "spool");
	/* The umask must not matter. */
	old = umask(077);
	ck_assert_msg(file_ensure_dir(path, 0755, (uid_t)-1, (gid_t)-1,
	    &error) == 0, "%s", error);
	umask(old);
	ck_assert_int_eq(lstat(path, &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	ck_assert_uint_eq(st.st_mode & 07777, 0755);
	ck_assert_uint_eq(st.st_uid, getuid());
	/* Existing: the mode is fixed. */
	ck_assert_int_eq(chmod(path, 0777), 0);
	ck_assert_int_eq(file_ensure_dir(path, 01730, getuid(), getgid(),
	    &error), 0);
	ck_assert_int_eq(lstat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 01730);
	/* Again, nothing to change. */
	ck_assert_int_eq(file_ensure_dir(path, 01730, (uid_t)-1, (gid_t)-1,
	    &error), 0);
}
END_TEST

START_TEST(test_file_ensure_dir_owner)
{
	struct stat st;
	char	    path[128];
	const char *error = NULL;

	if (geteuid() != 0)
		return;		/* chown needs root */
	path_in(path, sizeof(path), "owned");
	ck_assert_msg(file_ensure_dir(path, 0750, 65534, 65534, &error) == 0,
	    "%s", error);
	ck_assert_int_eq(lstat(path, &st), 0);
	ck_assert_uint_eq(st.st_uid, 65534);
	ck_assert_uint_eq(st.st_gid, 65534);
	ck_assert_uint_eq(st.st_mode & 07777, 0750);
	/* gid alone; uid left. */
	ck_assert_int_eq(file_ensure_dir(path, 0750, (uid_t)-1, 0, &error), 0);
	ck_assert_int_eq(lstat(path, &st), 0);
	ck_assert_uint_eq(st.st_uid, 65534);
	ck_assert_uint_eq(st.st_gid, 0);
}
END_TEST

START_TEST(test_file_ensure_dir_refuses)
{
	struct stat st;
	char	    path[128], target[128];
	const char *error = NULL;

	/* A symbolic link to a real folder: refused, target untouched. */
	path_in(target, sizeof(target), "real");
	ck_assert_int_eq(mkdir(target, 0700), 0);
	path_in(path, sizeof(path), "link");
	ck_assert_int_eq(symlink(target, path), 0);
	ck_assert_int_eq(file_ensure_dir(path, 0777, (uid_t)-1, (gid_t)-1,
	    &error), -1);
	ck_assert_ptr_nonnull(strstr(error, "symbolic link"));
	ck_assert_int_eq(stat(target, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0700);
	/* A dangling link is refused too, and not created through. */
	path_in(path, sizeof(path), "dangling");
	path_in(target, sizeof(target), "nowhere");
	ck_assert_int_eq(symlink(target, path), 0);
	ck_assert_int_eq(file_ensure_dir(path, 0700, (uid_t)-1, (gid_t)-1,
	    &error), -1);
	ck_assert_int_eq(access(target, F_OK), -1);
	/* A regular file. */
	write_file(path_in(path, sizeof(path), "file"), "", 0);
	error = NULL;
	ck_assert_int_eq(file_ensure_dir(path, 0700, (uid_t)-1, (gid_t)-1,
	    &error), -1);
	ck_assert_ptr_nonnull(strstr(error, "not a folder"));
	/* No parents are made. */
	error = NULL;
	ck_assert_int_eq(file_ensure_dir(path_in(path, sizeof(path), "a/b"),
	    0700, (uid_t)-1, (gid_t)-1, &error), -1);
	ck_assert_ptr_nonnull(strstr(error, "mkdir"));
}
END_TEST

START_TEST(test_file_read_all_limits)
{
	char	    path[128], *data = NULL;
	const char *error = NULL;
	size_t	    len = 99;

	write_file(path_in(path, sizeof(path), "conf"), "0123456789", 10);
	/* Exactly max. */
	ck_assert_int_eq(file_read_all(path, 10, &data, &len, &error), 0);
	ck_assert_uint_eq(len, 10);
	ck_assert_str_eq(data, "0123456789");
	free(data);
	/* One over. */
	data = NULL;
	ck_assert_int_eq(file_read_all(path, 9, &data, &len, &error), -1);
	ck_assert_ptr_null(data);
	ck_assert_ptr_nonnull(strstr(error, path));
	/* Empty. */
	write_file(path, "", 0);
	ck_assert_int_eq(file_read_all(path, 0, &data, &len, &error), 0);
	ck_assert_uint_eq(len, 0);
	ck_assert_str_eq(data, "");
	free(data);
}
END_TEST

START_TEST(test_file_read_all_kinds)
{
	char	    path[128], link[128], *data = NULL;
	const char *error = NULL;
	size_t	    len;

	/* Symbolic links are followed (configuration files may be links). */
	write_file(path_in(path, sizeof(path), "real.conf"), "a = b\n", 6);
	ck_assert_int_eq(symlink(path, path_in(link, sizeof(link),
	    "link.conf")), 0);
	ck_assert_int_eq(file_read_all(link, 100, &data, &len, &error), 0);
	ck_assert_str_eq(data, "a = b\n");
	free(data);
	/* Not regular: a folder, a device, a FIFO (without hanging). */
	ck_assert_int_eq(file_read_all(tmpdir, 100, &data, &len, &error), -1);
	ck_assert_ptr_nonnull(strstr(error, "not a regular file"));
	ck_assert_int_eq(file_read_all("/dev/null", 100, &data, &len, &error),
	    -1);
	ck_assert_int_eq(mkfifo(path_in(path, sizeof(path), "fifo"), 0600), 0);
	ck_assert_int_eq(file_read_all(path, 100, &data, &len, &error), -1);
	ck_assert_ptr_nonnull(strstr(error, "not a regular file"));
	/* Missing. */
	ck_assert_int_eq(file_read_all(path_in(path, sizeof(path), "none"),
	    100, &data, &len, &error), -1);
	ck_assert_ptr_nonnull(strstr(error, "No such file"));
}
END_TEST

static Suite *
file_suite(void)
{
	Suite	*s = suite_create("file");
	TCase	*tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_file_commit_ok);
	tcase_add_test(tc, test_file_sync_dir_shared);
	tcase_add_test(tc, test_file_commit_replaces);
	tcase_add_test(tc, test_file_commit_missing_folder);
	tcase_add_test(tc, test_file_commit_fsync_fails);
	tcase_add_test(tc, test_file_sync_dir);
	tcase_add_test(tc, test_file_sync_dir_ticket);
	tcase_add_test(tc, test_file_write_all);
	tcase_add_test(tc, test_file_ensure_dir_create);
	tcase_add_test(tc, test_file_ensure_dir_owner);
	tcase_add_test(tc, test_file_ensure_dir_refuses);
	tcase_add_test(tc, test_file_read_all_limits);
	tcase_add_test(tc, test_file_read_all_kinds);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(file_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
