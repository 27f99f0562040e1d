/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for common/log.c: the line format of the file and stderr
 * targets, severity words, the 4096-byte cut, errno preservation and %m,
 * log_q's NOQUEUE, log_safe escaping and its 256-character cut, the exit
 * of log_fatal and the abort of log_panic, and the target checks.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include <check.h>

#include "common/log.h"

#include "common/banned.h"

static char	tmpdir[64];
static char	logpath[128];
static char	contents[16384];

static void
setup(void)
{
	ck_assert_int_gt(snprintf(tmpdir, sizeof(tmpdir),
	    "/tmp/test_log.XXXXXX"), 0);
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	ck_assert_int_gt(snprintf(logpath, sizeof(logpath), "%s/log",
	    tmpdir), 0);
}

static void
teardown(void)
{
	char	path[160];

	log_close();
	(void)unlink(logpath);
	ck_assert_int_gt(snprintf(path, sizeof(path), "%s/other", tmpdir), 0);
	(void)unlink(path);
	(void)rmdir(tmpdir);
}

/* Opens the file target on logpath. */
static void
open_file_log(const char *program)
{
	const char *error = NULL;
	char	    target[160];

	ck_assert_int_gt(snprintf(target, sizeof(target), "file:%s",
	    logpath), 0);
	ck_assert_msg(log_open(program, target, "mail", &error) == 0,
	    "log_open: %s", error);
}

/* Reads logpath into contents; returns its length. */
static size_t
read_log(void)
{
	ssize_t	n;
	int	fd;

	fd = open(logpath, O_RDONLY);
	ck_assert_int_ne(fd, -1);
	n = read(fd, contents, sizeof(contents) - 1);
	ck_assert_int_ge(n, 0);
	contents[n] = '\0';
	(void)close(fd);
	return (size_t)n;
}

/* Asserts that line is the header, then text, then "\n". */
static void
assert_line(const char *line, const char *program, const char *text)
{
	regex_t	re;
	char	pattern[512];
	size_t	hdr;

	ck_assert_int_gt(snprintf(pattern, sizeof(pattern),
	    "^(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
	    "[ 123][0-9] [0-2][0-9]:[0-5][0-9]:[0-6][0-9] %s\\[%ld\\]: ",
	    program, (long)getpid()), 0);
	ck_assert_int_eq(regcomp(&re, pattern, REG_EXTENDED), 0);
	ck_assert_msg(regexec(&re, line, 0, NULL, 0) == 0,
	    "bad header: \"%s\"", line);
	regfree(&re);
	hdr = strlen("Jan  1 00:00:00 ") + strlen(program) + 2;
	line = strchr(line + hdr, ' ') + 1;
	ck_assert_ptr_nonnull(strchr(line, '\n'));
	ck_assert_uint_eq((size_t)(strchr(line, '\n') - line), strlen(text));
	ck_assert_int_eq(strncmp(line, text, strlen(text)), 0);
}

START_TEST(test_log_file_format)
{
	open_file_log("postern/smtpd");
	log_info("connect from %s[%s]", "host", "192.0.2.1");
	read_log();
	assert_line(contents, "postern/smtpd",
	    "connect from host[192.0.2.1]");
}
END_TEST

START_TEST(test_log_levels)
{
	char	*p;

	open_file_log("t");
	log_warning("w %d", 1);
	log_error("e %d", 2);
	log_debug("hidden");
	log_set_debug(true);
	log_debug("d %d", 3);
	log_msg(LOG_NOTICE, "n");
	read_log();
	p = contents;
	ck_assert_ptr_nonnull(strstr(p, "]: warning: w 1\n"));
	ck_assert_ptr_nonnull(strstr(p, "]: error: e 2\n"));
	ck_assert_ptr_null(strstr(p, "hidden"));
	ck_assert_ptr_nonnull(strstr(p, "]: debug: d 3\n"));
	ck_assert_ptr_nonnull(strstr(p, "]: n\n"));
}
END_TEST

START_TEST(test_log_q)
{
	open_file_log("t");
	log_q(LOG_INFO, NULL, "reject: RCPT from %s", "x[192.0.2.1]");
	log_q(LOG_INFO, "4BcdE12", "from=<%s>, size=%d", "a@b", 10);
	log_q(LOG_WARNING, NULL, "w");
	read_log();
	ck_assert_ptr_nonnull(strstr(contents,
	    "]: NOQUEUE: reject: RCPT from x[192.0.2.1]\n"));
	ck_assert_ptr_nonnull(strstr(contents,
	    "]: 4BcdE12: from=<a@b>, size=10\n"));
	ck_assert_ptr_nonnull(strstr(contents, "]: warning: NOQUEUE: w\n"));
}
END_TEST

START_TEST(test_log_errno)
{
	open_file_log("t");
	errno = ENOENT;
	log_error("open %s: %m", "/nonexistent");
	ck_assert_int_eq(errno, ENOENT);
	errno = EACCES;
	(void)log_safe("x");
	ck_assert_int_eq(errno, EACCES);
	log_q(LOG_INFO, NULL, "%m");
	ck_assert_int_eq(errno, EACCES);
	read_log();
	ck_assert_ptr_nonnull(strstr(contents,
	    "]: error: open /nonexistent: No such file or directory\n"));
	ck_assert_ptr_nonnull(strstr(contents,
	    "]: NOQUEUE: Permission denied\n"));
}
END_TEST

START_TEST(test_log_cut)
{
	static char	big[10000];
	size_t		len;

	memset(big, 'x', sizeof(big) - 1);
	open_file_log("t");
	log_info("%s", big);
	log_info("after");
	len = read_log();
	/* The first line is exactly 4096 bytes with its newline. */
	ck_assert_ptr_nonnull(strchr(contents, '\n'));
	ck_assert_uint_eq((size_t)(strchr(contents, '\n') - contents), 4095);
	ck_assert_ptr_nonnull(strstr(contents + 4096, "]: after\n"));
	ck_assert_uint_gt(len, 4096);
}
END_TEST

START_TEST(test_log_newline_in_text)
{
	open_file_log("t");
	log_info("a\nb\r\nc");
	read_log();
	ck_assert_ptr_nonnull(strstr(contents, "]: a b  c\n"));
	ck_assert_ptr_eq(strchr(contents, '\n'),
	    contents + strlen(contents) - 1);
}
END_TEST

START_TEST(test_log_stderr)
{
	int	fd, saved;

	fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ne(fd, -1);
	saved = dup(STDERR_FILENO);
	ck_assert_int_ne(dup2(fd, STDERR_FILENO), -1);
	/* Before log_open, and with the stderr target. */
	log_set_program("early");
	log_info("one");
	{
		const char *error;

		ck_assert_int_eq(log_open("prog", "stderr", NULL, &error), 0);
	}
	log_warning("two");
	ck_assert_int_ne(dup2(saved, STDERR_FILENO), -1);
	(void)close(saved);
	(void)close(fd);
	read_log();
	assert_line(contents, "early", "one");
	assert_line(strchr(contents, '\n') + 1, "prog", "warning: two");
}
END_TEST

START_TEST(test_log_open_errors)
{
	const char *error = NULL;
	char	    target[200];

	open_file_log("t");
	ck_assert_int_eq(log_open("t", "bogus", "mail", &error), -1);
	ck_assert_ptr_nonnull(error);
	error = NULL;
	ck_assert_int_eq(log_open("t", "stderr", "nosuch", &error), -1);
	ck_assert_ptr_nonnull(error);
	error = NULL;
	ck_assert_int_gt(snprintf(target, sizeof(target),
	    "file:%s/missing/log", tmpdir), 0);
	ck_assert_int_eq(log_open("t", target, "mail", &error), -1);
	ck_assert_ptr_nonnull(strstr(error, "/missing/log"));
	/* The file target stays. */
	log_info("still here");
	read_log();
	ck_assert_ptr_nonnull(strstr(contents, "]: still here\n"));
}
END_TEST

START_TEST(test_log_reopen)
{
	const char *error;
	char	    other[160], target[170];

	open_file_log("t");
	log_info("first");
	ck_assert_int_gt(snprintf(other, sizeof(other), "%s/other", tmpdir),
	    0);
	ck_assert_int_gt(snprintf(target, sizeof(target), "file:%s", other),
	    0);
	ck_assert_int_eq(log_open("t", target, "local3", &error), 0);
	log_info("second");
	read_log();
	ck_assert_ptr_nonnull(strstr(contents, "]: first\n"));
	ck_assert_ptr_null(strstr(contents, "second"));
	/* Syslog opens (whether or not a syslog daemon listens). */
	ck_assert_int_eq(log_open("t", "syslog", "mail", &error), 0);
	log_info("to syslog");
	log_close();
}
END_TEST

START_TEST(test_log_file_mode)
{
	struct stat st;
	mode_t	    old;
	int	    fd;

	/* The log file takes the lowest free descriptor: this one. */
	fd = dup(STDIN_FILENO);
	ck_assert_int_ne(fd, -1);
	(void)close(fd);
	old = umask(0);
	open_file_log("t");
	umask(old);
	ck_assert_int_eq(stat(logpath, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0640);
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_int_eq(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	ck_assert_int_eq(fcntl(fd, F_GETFL) & O_APPEND, O_APPEND);
}
END_TEST

START_TEST(test_log_valid)
{
	ck_assert(log_target_valid("syslog"));
	ck_assert(log_target_valid("stderr"));
	ck_assert(log_target_valid("file:/var/log/postern.log"));
	ck_assert(!log_target_valid("file:"));
	ck_assert(!log_target_valid("file:/"));
	ck_assert(!log_target_valid("file:relative"));
	ck_assert(!log_target_valid("Syslog"));
	ck_assert(!log_target_valid(""));
	ck_assert(!log_target_valid(NULL));
	ck_assert(log_facility_valid("mail"));
	ck_assert(log_facility_valid("local0"));
	ck_assert(log_facility_valid("local7"));
	ck_assert(log_facility_valid("daemon"));
	ck_assert(log_facility_valid("user"));
	ck_assert(!log_facility_valid("local8"));
	ck_assert(!log_facility_valid("MAIL"));
	ck_assert(!log_facility_valid(""));
	ck_assert(!log_facility_valid(NULL));
}
END_TEST

START_TEST(test_log_safe_escapes)
{
	ck_assert_str_eq(log_safe("\r\n\x01\xff"), "\\015\\012\\001\\377");
	ck_assert_str_eq(log_safe("a\\b"), "a\\134b");
	ck_assert_str_eq(log_safe("plain text <a@b>"), "plain text <a@b>");
	ck_assert_str_eq(log_safe("\x7f"), "\\177");
	ck_assert_str_eq(log_safe(""), "");
	ck_assert_str_eq(log_safe(NULL), "(null)");
	ck_assert_str_eq(log_safe_n("a\0b", 3), "a\\000b");
	ck_assert_str_eq(log_safe_n(NULL, 5), "");
}
END_TEST

START_TEST(test_log_safe_cut)
{
	char	in[400];

	/* 256 characters: kept whole. */
	memset(in, 'a', 256);
	in[256] = '\0';
	ck_assert_str_eq(log_safe(in), in);
	/* 257: cut to 256 and "...". */
	in[256] = 'b';
	in[257] = '\0';
	ck_assert_uint_eq(strlen(log_safe(in)), 259);
	ck_assert_str_eq(log_safe(in) + 256, "...");
	ck_assert_int_eq(strncmp(log_safe(in), in, 256), 0);
	/* An escape that does not fit whole is left out. */
	memset(in, 'a', 254);
	in[254] = '\x01';
	in[255] = '\0';
	ck_assert_uint_eq(strlen(log_safe(in)), 257);
	ck_assert_str_eq(log_safe(in) + 254, "...");
	/* 252 + an escape = 256 exactly. */
	memset(in, 'a', 252);
	in[252] = '\x01';
	in[253] = '\0';
	ck_assert_uint_eq(strlen(log_safe(in)), 256);
	ck_assert_str_eq(log_safe(in) + 252, "\\001");
	/* All escapes: 64 of them fit. */
	memset(in, '\n', 300);
	in[300] = '\0';
	ck_assert_uint_eq(strlen(log_safe(in)), 259);
}
END_TEST

START_TEST(test_log_safe_ring)
{
	const char *p[LOG_SAFE_SLOTS + 1];
	char	    s[2] = "a";
	unsigned int i;

	for (i = 0; i < LOG_SAFE_SLOTS; i++) {
		s[0] = (char)('a' + i);
		p[i] = log_safe(s);
	}
	/* Every slot still holds its value. */
	for (i = 0; i < LOG_SAFE_SLOTS; i++)
		ck_assert_uint_eq(p[i][0], 'a' + i);
	p[LOG_SAFE_SLOTS] = log_safe("z");
	ck_assert_ptr_eq(p[LOG_SAFE_SLOTS], p[0]);
}
END_TEST

/* Runs fn in a child and returns its wait status. */
static int
run_child(void (*fn)(void))
{
	pid_t	pid;
	int	status;

	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		fn();
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return status;
}

static void
child_fatal(void)
{
	open_file_log("t");
	log_fatal("cannot open %s", "/spool");
}

static void
child_panic(void)
{
	open_file_log("t");
	log_panic("impossible state %d", 7);
}

START_TEST(test_log_fatal)
{
	int	status;

	status = run_child(child_fatal);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), EX_TEMPFAIL);
	read_log();
	ck_assert_ptr_nonnull(strstr(contents,
	    "]: fatal: cannot open /spool\n"));
}
END_TEST

START_TEST(test_log_panic)
{
	int	status;

	status = run_child(child_panic);
	ck_assert(WIFSIGNALED(status));
	ck_assert_int_eq(WTERMSIG(status), SIGABRT);
	read_log();
	ck_assert_ptr_nonnull(strstr(contents,
	    "]: panic: impossible state 7\n"));
}
END_TEST

static Suite *
log_suite(void)
{
	Suite	*s = suite_create("log");
	TCase	*tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_log_file_format);
	tcase_add_test(tc, test_log_levels);
	tcase_add_test(tc, test_log_q);
	tcase_add_test(tc, test_log_errno);
	tcase_add_test(tc, test_log_cut);
	tcase_add_test(tc, test_log_newline_in_text);
	tcase_add_test(tc, test_log_stderr);
	tcase_add_test(tc, test_log_open_errors);
	tcase_add_test(tc, test_log_reopen);
	tcase_add_test(tc, test_log_file_mode);
	tcase_add_test(tc, test_log_valid);
	tcase_add_test(tc, test_log_safe_escapes);
	tcase_add_test(tc, test_log_safe_cut);
	tcase_add_test(tc, test_log_safe_ring);
	tcase_add_test(tc, test_log_fatal);
	tcase_add_test(tc, test_log_panic);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(log_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
