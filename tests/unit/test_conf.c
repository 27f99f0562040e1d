/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for common/conf.c: the defaults table loads through the
 * parser; every type's values, each numeric row at its minimum, maximum,
 * one under and one over; units; continuation and comments; every error
 * with its exact "FILE:LINE:" prefix, many errors at once and the cap;
 * services (declared, overridden, disabled, without program); the
 * cross-checks; conf_value_str() round trips; conf_read() on real files;
 * and the generated man page naming every row.
 */
#include "config.h"

#include <sys/stat.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "common/conf.h"
#include "common/xmalloc.h"

#include "common/banned.h"

#define DIR	"/etc/postern"
#define FILE_	"t.conf"
/* Declares service "t" so its settings can be tested. */
#define SVC	"t.program = t-prog\n"

static struct postern_config *
parse_n(const char *text, size_t len, struct conf_errors *e)
{
	return conf_parse(DIR, FILE_, text, len, e);
}

static struct postern_config *
parse(const char *text, struct conf_errors *e)
{
	return parse_n(text, strlen(text), e);
}

static void
dump_errors(const struct conf_errors *e)
{
	size_t	 i;

	for (i = 0; i < e->count; i++)
		fprintf(stderr, "  %s\n", e->lines[i]);
}

/* text must parse without a problem. */
static struct postern_config *
ok(const char *text)
{
	struct postern_config *c;
	struct conf_errors e;

	c = parse(text, &e);
	if (c == NULL || e.count != 0) {
		fprintf(stderr, "unexpected errors for:\n%s\n", text);
		dump_errors(&e);
	}
	ck_assert_ptr_nonnull(c);
	ck_assert_uint_eq(e.count, 0);
	conf_errors_deinit(&e);
	return c;
}

/* text must give exactly one problem, the line want. */
static void
fails_n(const char *text, size_t len, const char *want)
{
	struct postern_config *c;
	struct conf_errors e;

	c = parse_n(text, len, &e);
	if (e.count != 1 || strcmp(e.lines[0], want) != 0) {
		fprintf(stderr, "want: %s\ngot:\n", want);
		dump_errors(&e);
	}
	ck_assert_ptr_null(c);
	ck_assert_uint_eq(e.count, 1);
	ck_assert_str_eq(e.lines[0], want);
	conf_errors_deinit(&e);
}

static void
fails(const char *text, const char *want)
{
	fails_n(text, strlen(text), want);
}

/* The value of name in the configuration text gives. */
static void
value_is(const char *text, const char *name, const char *want)
{
	struct postern_config *c = ok(text);
	char	*v;

	v = conf_value_str(c, name);
	ck_assert_ptr_nonnull(v);
	ck_assert_str_eq(v, want);
	free(v);
	conf_free(&c);
	ck_assert_ptr_null(c);
}

/* ---- defaults --------------------------------------------------------- */

START_TEST(test_conf_defaults_load)
{
	struct postern_config *c;

	c = conf_defaults(DIR);
	ck_assert_ptr_nonnull(c);
	ck_assert_str_eq(c->config_directory, DIR);
	ck_assert_str_eq(c->config_file, DIR "/" CONF_FILE_NAME);
	ck_assert_str_eq(c->queue_directory, "/var/spool/postern");
	ck_assert_str_eq(c->daemon_directory, POSTERN_DAEMON_DIR);
	ck_assert_str_eq(c->mail_owner, "postern");
	ck_assert_str_eq(c->myhostname, "");
	ck_assert(!c->log_debug);
	ck_assert_uint_eq(c->master_stop_timeout, 30);
	ck_assert_uint_eq(c->master_backoff_max, 60);
	ck_assert_uint_eq(c->ipc_max_message_size, 1024 * 1024);
	ck_assert_uint_eq(c->nservices, conf_nbuiltin_services);
	ck_assert_uint_eq(c->norigins, 0);
	conf_free(&c);
	ck_assert_ptr_null(c);
	conf_free(&c);			/* NULL is fine */
}
END_TEST

START_TEST(test_conf_defaults_table)
{
	size_t	 i, j;

	ck_assert_uint_gt(conf_ndefs, 0);
	ck_assert_uint_gt(conf_nsvc_defs, 0);
	ck_assert_ptr_null(conf_builtin_services[conf_nbuiltin_services].name);
	for (i = 0; i < conf_ndefs; i++) {
		ck_assert_ptr_eq(conf_def_find(conf_defs[i].name), &conf_defs[i]);
		ck_assert_ptr_nonnull(conf_defs[i].desc);
		for (j = i + 1; j < conf_ndefs; j++)
			ck_assert_str_ne(conf_defs[i].name, conf_defs[j].name);
	}
	for (i = 0; i < conf_nsvc_defs; i++) {
		char *n = xasprintf("any-svc.%s", conf_svc_defs[i].name);

		ck_assert_ptr_eq(conf_def_find(n), &conf_svc_defs[i]);
		free(n);
	}
	ck_assert_ptr_null(conf_def_find("nope"));
	ck_assert_ptr_null(conf_def_find("Bad!.listen"));
	ck_assert_ptr_null(conf_def_find("smtpd.nope"));
	ck_assert_ptr_null(conf_def_find("listen"));
}
END_TEST

START_TEST(test_conf_defaults_bad_dir)
{
	struct conf_errors e;

	ck_assert_ptr_null(conf_defaults("relative"));
	/* The folder check names the folder. */
	ck_assert_ptr_null(conf_parse("etc", "t.conf", "", 0, &e));
	ck_assert_uint_eq(e.count, 1);
	ck_assert_str_eq(e.lines[0], "t.conf: the configuration folder \"etc\" "
	    "is not an absolute path");
	conf_errors_deinit(&e);
}
END_TEST

START_TEST(test_conf_empty_and_comments)
{
	struct postern_config *c;

	c = ok("");
	conf_free(&c);
	c = ok("\n\n   \n\t\n# comment\n   # indented comment\n#x=1\n");
	ck_assert_uint_eq(c->norigins, 0);
	conf_free(&c);
	/* "#" starts a comment only at the start of a line. */
	value_is("myhostname = a # b\n", "myhostname", "a # b");
	/* No final newline; CR before LF ignored. */
	value_is("myhostname = a", "myhostname", "a");
	value_is("myhostname = a\r\n", "myhostname", "a");
	/* Blanks around name and value go; "=" in the value stays. */
	value_is("  \nmyhostname\t=\t a=b c \t\n", "myhostname", "a=b c");
	value_is("syslog_name=x\n", "syslog_name", "x");
	/* An empty value. */
	value_is("myhostname =\n", "myhostname", "");
	/* No $ expansion. */
	value_is("syslog_name = $myhostname\n", "syslog_name", "$myhostname");
}
END_TEST

START_TEST(test_conf_continuation)
{
	value_is("myhostname = a\n  b\n\tc\n", "myhostname", "a b c");
	/* Blank and comment lines in between are skipped (Postfix). */
	value_is("myhostname = a\n\n# x\n   # y\n    b  \n", "myhostname",
	    "a b");
	/* An empty first line. */
	value_is("myhostname =\n  b\n", "myhostname", "b");
	value_is(SVC "t.listen =\n  127.0.0.1:25,\n  [::1]:25\n", "t.listen",
	    "127.0.0.1:25, [::1]:25");
	fails("  a = b\n", "t.conf:1: continuation line with nothing before it");
	fails("# x\n\n  a = b\n",
	    "t.conf:3: continuation line with nothing before it");
	/* The continuation of a broken line is not a second problem. */
	fails("no equals\n  more\n", "t.conf:1: line has no \"=\"");
	/* A continued value is checked as a whole. */
	fails("log_debug = y\n es\n",
	    "t.conf:1: \"log_debug\": \"y es\" is not yes or no");
}
END_TEST

/* ---- line-level errors ----------------------------------------------- */

START_TEST(test_conf_line_errors)
{
	fails("a\n", "t.conf:1: line has no \"=\"");
	fails("\n\n= x\n", "t.conf:3: line has no name before \"=\"");
	fails_n("myhostname = a\0b\n", 17, "t.conf:1: line contains a NUL byte");
	fails_n("# ok\n#\0\n", 8, "t.conf:2: line contains a NUL byte");
	fails("myhostname = a\001b\n",
	    "t.conf:1: line contains the control character 0x01");
	fails("myhostname = a\rb\n",
	    "t.conf:1: line contains the control character 0x0d");
	fails("\n\nmyhostname = \177\n",
	    "t.conf:3: line contains the control character 0x7f");
	/* A control byte in a continuation spoils only its setting. */
	fails("myhostname = a\n \033\nsyslog_name = b\n",
	    "t.conf:2: line contains the control character 0x1b");
	/* Control bytes in comments are fine (not NUL). */
	{
		struct postern_config *c = ok("# \001\033\n");

		conf_free(&c);
	}
	fails("Queue_directory = /x\n",
	    "t.conf:1: name \"Queue_directory\" is invalid (use a-z, 0-9 and _)");
	fails("my host = x\n",
	    "t.conf:1: name \"my host\" is invalid (use a-z, 0-9 and _)");
}
END_TEST

START_TEST(test_conf_line_length)
{
	struct postern_config *c;
	char	*text;
	size_t	 vlen;

	/* "myhostname = " + value is exactly the maximum. */
	vlen = CONF_MAX_LINE_LENGTH - strlen("myhostname = ");
	text = xmalloc(CONF_MAX_LINE_LENGTH + 16);
	memcpy(text, "myhostname = ", 13);
	memset(text + 13, 'a', vlen);
	memcpy(text + 13 + vlen, "\n", 2);
	c = ok(text);
	ck_assert_uint_eq(strlen(c->myhostname), vlen);
	conf_free(&c);
	/* The CR of a CRLF does not count. */
	memcpy(text + 13 + vlen, "\r\n", 3);
	c = ok(text);
	conf_free(&c);
	/* One over. */
	memcpy(text + 13 + vlen, "a\n", 3);
	fails(text, "t.conf:1: line is longer than 65536 bytes");
	/* Also for a comment, and on a later line. */
	text[0] = '#';
	memmove(text + 2, text, CONF_MAX_LINE_LENGTH + 3);
	memcpy(text, "\n\n", 2);
	fails(text, "t.conf:3: line is longer than 65536 bytes");
	free(text);
}
END_TEST

START_TEST(test_conf_file_size)
{
	struct postern_config *c;
	char	*text;

	/* Comment lines up to exactly the maximum. */
	text = xmalloc(CONF_MAX_FILE_SIZE + 2);
	memset(text, '#', CONF_MAX_FILE_SIZE + 1);
	for (size_t i = 999; i < CONF_MAX_FILE_SIZE; i += 1000)
		text[i] = '\n';
	text[CONF_MAX_FILE_SIZE] = '\0';
	c = ok(text);
	conf_free(&c);
	text[CONF_MAX_FILE_SIZE] = '#';
	text[CONF_MAX_FILE_SIZE + 1] = '\0';
	fails(text, "t.conf: file is larger than 1048576 bytes");
	free(text);
}
END_TEST

/* ---- names ------------------------------------------------------------- */

START_TEST(test_conf_unknown_and_duplicate)
{
	fails("foo = 1\n", "t.conf:1: unknown name \"foo\"");
	fails("\nmyhostname = a\n\nmyhostname = a\n",
	    "t.conf:4: \"myhostname\" is set twice (first on line 2)");
	fails(SVC "\nt.listen = a\nt.listen = b\n",
	    "t.conf:4: \"t.listen\" is set twice (first on line 3)");
	fails(SVC "t.program = x\n",
	    "t.conf:2: \"t.program\" is set twice (first on line 1)");
	fails(SVC "t.bar = 1\n", "t.conf:2: unknown service setting \"t.bar\"");
	fails("foo.bar = 1\n", "t.conf:1: unknown service setting \"foo.bar\"");
	fails("t.Program = 1\n",
	    "t.conf:1: unknown service setting \"t.Program\"");
	fails("a.b.c = 1\n", "t.conf:1: unknown service setting \"a.b.c\"");
	fails("Foo!.program = x\n", "t.conf:1: service name \"Foo!\" is invalid");
	fails(".program = x\n", "t.conf:1: service name \"\" is invalid");
	fails("a_b.program = x\n", "t.conf:1: service name \"a_b\" is invalid");
}
END_TEST

START_TEST(test_conf_service_name_length)
{
	char	 name[CONF_SERVICE_NAME_MAX + 2], text[128], want[160];
	struct postern_config *c;

	memset(name, 'a', CONF_SERVICE_NAME_MAX);
	name[CONF_SERVICE_NAME_MAX] = '\0';
	ck_assert(conf_service_name_valid(name));
	(void)snprintf(text, sizeof(text), "%s.program = x\n", name);
	c = ok(text);
	ck_assert_ptr_nonnull(conf_service_find(c, name));
	conf_free(&c);
	name[CONF_SERVICE_NAME_MAX] = 'a';
	name[CONF_SERVICE_NAME_MAX + 1] = '\0';
	ck_assert(!conf_service_name_valid(name));
	(void)snprintf(text, sizeof(text), "%s.program = x\n", name);
	(void)snprintf(want, sizeof(want),
	    "t.conf:1: service name \"%s\" is invalid", name);
	fails(text, want);
	ck_assert(conf_service_name_valid("a-1"));
	ck_assert(!conf_service_name_valid(""));
	ck_assert(!conf_service_name_valid("A"));
}
END_TEST

/* ---- types ------------------------------------------------------------- */

START_TEST(test_conf_bool)
{
	static const char *const yes[] = { "yes", "YES", "true", "On", "1" };
	static const char *const no[] = { "no", "No", "false", "OFF", "0" };
	struct postern_config *c;
	const char *error;
	char	 text[64];
	bool	 b;
	size_t	 i;

	for (i = 0; i < N_ELEMENTS(yes); i++) {
		(void)snprintf(text, sizeof(text), "log_debug = %s\n", yes[i]);
		c = ok(text);
		ck_assert(c->log_debug);
		conf_free(&c);
		(void)snprintf(text, sizeof(text), "log_debug = %s\n", no[i]);
		c = ok(text);
		ck_assert(!c->log_debug);
		conf_free(&c);
	}
	fails("log_debug = maybe\n",
	    "t.conf:1: \"log_debug\": \"maybe\" is not yes or no");
	fails("log_debug =\n", "t.conf:1: \"log_debug\": \"\" is not yes or no");
	fails("log_debug = yess\n",
	    "t.conf:1: \"log_debug\": \"yess\" is not yes or no");
	fails(SVC "t.enable = 2\n",
	    "t.conf:2: \"t.enable\": \"2\" is not yes or no");
	ck_assert_int_eq(conf_parse_bool("y", &b, &error), -1);
	ck_assert_str_eq(error, "\"y\" is not yes or no");
}
END_TEST

START_TEST(test_conf_path)
{
	value_is("queue_directory = /srv/q\n", "queue_directory", "/srv/q");
	fails("queue_directory = var/spool\n",
	    "t.conf:1: \"queue_directory\" must be an absolute path");
	/* Empty only where the default is empty (none of today's paths). */
	fails("run_directory =\n",
	    "t.conf:1: \"run_directory\" must be an absolute path");
}
END_TEST

START_TEST(test_conf_str)
{
	value_is("myhostname = mail.example.org\n", "myhostname",
	    "mail.example.org");
	value_is(SVC "t.user = vmail\n", "t.user", "vmail");
	/* Bytes above ASCII are text. */
	value_is("syslog_name = \xc3\xa9t\xc3\xa9\n", "syslog_name",
	    "\xc3\xa9t\xc3\xa9");
}
END_TEST

START_TEST(test_conf_list)
{
	char	**l;

	l = conf_parse_list("a, b,c  d\t,,e");
	ck_assert_uint_eq(conf_list_count(l), 5);
	ck_assert_str_eq(l[0], "a");
	ck_assert_str_eq(l[3], "d");
	ck_assert_str_eq(l[4], "e");
	ck_assert_ptr_null(l[5]);
	conf_list_free(&l);
	ck_assert_ptr_null(l);
	conf_list_free(&l);
	l = conf_parse_list(" , ,");
	ck_assert_ptr_nonnull(l);
	ck_assert_uint_eq(conf_list_count(l), 0);
	conf_list_free(&l);
	l = conf_parse_list("");
	ck_assert_uint_eq(conf_list_count(l), 0);
	conf_list_free(&l);
	ck_assert_uint_eq(conf_list_count(NULL), 0);
	value_is(SVC "t.args = -v,-x  y\n", "t.args", "-v, -x, y");
	value_is(SVC "t.args =\n", "t.args", "");
}
END_TEST

START_TEST(test_conf_size_units)
{
	const char *error;
	uint64_t v;

	ck_assert_int_eq(conf_parse_size("0", UINT64_MAX, &v, &error), 0);
	ck_assert_uint_eq(v, 0);
	ck_assert_int_eq(conf_parse_size("10", UINT64_MAX, &v, &error), 0);
	ck_assert_uint_eq(v, 10);
	ck_assert_int_eq(conf_parse_size("4k", UINT64_MAX, &v, &error), 0);
	ck_assert_uint_eq(v, 4096);
	ck_assert_int_eq(conf_parse_size("4K", UINT64_MAX, &v, &error), 0);
	ck_assert_uint_eq(v, 4096);
	ck_assert_int_eq(conf_parse_size("3m", UINT64_MAX, &v, &error), 0);
	ck_assert_uint_eq(v, 3 * 1024 * 1024);
	ck_assert_int_eq(conf_parse_size("2G", UINT64_MAX, &v, &error), 0);
	ck_assert_uint_eq(v, 2ULL * 1024 * 1024 * 1024);
	ck_assert_int_eq(conf_parse_size("2g", UINT64_MAX, &v, &error), 0);
	ck_assert_uint_eq(v, 2ULL * 1024 * 1024 * 1024);
	/* The maximum of the call, at and one over. */
	ck_assert_int_eq(conf_parse_size("1k", 1024, &v, &error), 0);
	ck_assert_int_eq(conf_parse_size("1025", 1024, &v, &error), -1);
	ck_assert_str_eq(error, "\"1025\" is above the maximum of 1024 bytes");
	ck_assert_int_eq(conf_parse_size("17179869184g", UINT64_MAX, &v,
	    &error), -1);
	ck_assert_str_eq(error, "\"17179869184g\" is too large");
	ck_assert_int_eq(conf_parse_size("17179869183g", UINT64_MAX, &v,
	    &error), 0);
	ck_assert_int_eq(conf_parse_size("18446744073709551616", UINT64_MAX,
	    &v, &error), -1);
	ck_assert_int_eq(conf_parse_size("18446744073709551615", UINT64_MAX,
	    &v, &error), 0);
	ck_assert_uint_eq(v, UINT64_MAX);
	static const char *const bad[] = {
		"", "k", "1t", "1kb", "1 k", " 1", "1 ", "-1", "+1", "1.5k",
		"0x10", "1s",
	};
	for (size_t i = 0; i < N_ELEMENTS(bad); i++) {
		ck_assert_int_eq(conf_parse_size(bad[i], UINT64_MAX, &v,
		    &error), -1);
		ck_assert(strstr(error, "is not a size") != NULL);
	}
	ck_assert_str_eq(error,
	    "\"1s\" is not a size (a number with an optional k, m or g)");
	fails("ipc_max_message_size = 1x\n",
	    "t.conf:1: \"ipc_max_message_size\": \"1x\" is not a size (a "
	    "number with an optional k, m or g)");
	value_is("ipc_max_message_size = 5000\n", "ipc_max_message_size",
	    "5000");
	value_is("ipc_max_message_size = 5120\n", "ipc_max_message_size",
	    "5k");
	value_is("ipc_max_message_size = 2M\n", "ipc_max_message_size", "2m");
}
END_TEST

START_TEST(test_conf_time_units)
{
	static const struct {
		const char	*text;
		uint64_t	 secs;
	} good[] = {
		{ "0", 0 }, { "7", 7 }, { "7s", 7 }, { "2m", 120 },
		{ "3h", 3 * 3600 }, { "2d", 2 * 86400 }, { "1w", 604800 },
		{ "90", 90 },
	};
	static const char *const bad[] = {
		"", "s", "1M", "1H", "1y", "1ms", "1 s", "-1", "1.5h", "h1",
	};
	const char *error;
	uint64_t v;
	size_t	 i;

	for (i = 0; i < N_ELEMENTS(good); i++) {
		ck_assert_int_eq(conf_parse_time(good[i].text, UINT64_MAX, &v,
		    &error), 0);
		ck_assert_uint_eq(v, good[i].secs);
	}
	for (i = 0; i < N_ELEMENTS(bad); i++) {
		ck_assert_int_eq(conf_parse_time(bad[i], UINT64_MAX, &v,
		    &error), -1);
		ck_assert(strstr(error, "is not a time") != NULL);
	}
	ck_assert_int_eq(conf_parse_time("1h", 3600, &v, &error), 0);
	ck_assert_int_eq(conf_parse_time("3601", 3600, &v, &error), -1);
	ck_assert_str_eq(error, "\"3601\" is above the maximum of 3600 seconds");
	ck_assert_int_eq(conf_parse_time("30500568904943w", UINT64_MAX, &v,
	    &error), 0);
	ck_assert_int_eq(conf_parse_time("30500568904944w", UINT64_MAX, &v,
	    &error), -1);
	ck_assert_str_eq(error, "\"30500568904944w\" is too large");
	fails("ipc_timeout = 1M\n", "t.conf:1: \"ipc_timeout\": \"1M\" is not "
	    "a time (a number with an optional s, m, h, d or w)");
	value_is("ipc_timeout = 90\n", "ipc_timeout", "90s");
	value_is("ipc_timeout = 120s\n", "ipc_timeout", "2m");
	value_is("ipc_timeout = 1h\n", "ipc_timeout", "1h");
	value_is("master_backoff_max = 1d\n", "master_backoff_max", "1d");
	value_is(SVC "t.idle_exit = 0\n", "t.idle_exit", "0");
}
END_TEST

START_TEST(test_conf_uint)
{
	value_is(SVC "t.process_limit = 20\n", "t.process_limit", "20");
	value_is(SVC "t.process_limit = 007\n", "t.process_limit", "7");
	fails(SVC "t.process_limit = x\n",
	    "t.conf:2: \"t.process_limit\": \"x\" is not a number");
	fails(SVC "t.process_limit = -1\n",
	    "t.conf:2: \"t.process_limit\": \"-1\" is not a number");
	fails(SVC "t.process_limit = 1k\n",
	    "t.conf:2: \"t.process_limit\": \"1k\" is not a number");
	fails(SVC "t.process_limit =\n",
	    "t.conf:2: \"t.process_limit\": \"\" is not a number");
	fails(SVC "t.process_limit = 0\n",
	    "t.conf:2: \"t.process_limit\": 0 is below the minimum 1");
	fails(SVC "t.process_limit = 99999999999999999999999\n",
	    "t.conf:2: \"t.process_limit\": 99999999999999999999999 is above "
	    "the maximum 10000");
}
END_TEST

/*
 * Every numeric row, global and per service, at its minimum and maximum
 * (accepted) and one under and one over (refused with the exact text).
 * Values are written as plain numbers of units (bytes, seconds).
 */
static uint64_t
row_number(const struct conf_def *d, const char *s)
{
	const char *error;
	uint64_t v;

	switch (d->type) {
	case CONF_T_SIZE:
		ck_assert_int_eq(conf_parse_size(s, UINT64_MAX, &v, &error), 0);
		break;
	case CONF_T_TIME:
		ck_assert_int_eq(conf_parse_time(s, UINT64_MAX, &v, &error), 0);
		break;
	default:
		ck_assert_int_eq(conf_parse_size(s, UINT_MAX, &v, &error), 0);
		ck_assert(strspn(s, "0123456789") == strlen(s));
		break;
	}
	return v;
}

static void
check_row_limits(const struct conf_def *d, bool svc)
{
	const char *prefix = svc ? SVC : "";
	const char *pname = svc ? "t." : "";
	unsigned int line = svc ? 2 : 1;
	struct postern_config *c;
	uint64_t lo, hi;
	char	*text, *want;

	if (d->min == NULL || d->max == NULL)
		return;
	lo = row_number(d, d->min);
	hi = row_number(d, d->max);
	ck_assert_uint_le(lo, hi);
	ck_assert_uint_le(lo, row_number(d, d->def));
	ck_assert_uint_ge(hi, row_number(d, d->def));
	/*
	 * master_backoff_min <= master_backoff_max is checked as well:
	 * keep the other one out of the way.
	 */
	const char *extra = strcmp(d->name, "master_backoff_min") == 0 ?
	    "\nmaster_backoff_max = 1d" :
	    strcmp(d->name, "master_backoff_max") == 0 ?
	    "\nmaster_backoff_min = 0" :
	    strcmp(d->name, "process_min") == 0 ?
	    "\nt.process_limit = 10000" :
	    strcmp(d->name, "process_limit") == 0 ?
	    "\nt.process_min = 0" : "";

	text = xasprintf("%s%s%s = %" PRIu64 "%s\n", prefix, pname, d->name,
	    lo, extra);
	c = ok(text);
	free(text);
	conf_free(&c);
	text = xasprintf("%s%s%s = %" PRIu64 "%s\n", prefix, pname, d->name,
	    hi, extra);
	c = ok(text);
	free(text);
	conf_free(&c);
	if (lo > 0) {
		text = xasprintf("%s%s%s = %" PRIu64 "%s\n", prefix, pname,
		    d->name, lo - 1, extra);
		want = xasprintf("t.conf:%u: \"%s%s\": %" PRIu64 " is below "
		    "the minimum %s", line, pname, d->name, lo - 1, d->min);
		fails(text, want);
		free(text);
		free(want);
	}
	text = xasprintf("%s%s%s = %" PRIu64 "%s\n", prefix, pname, d->name,
	    hi + 1, extra);
	want = xasprintf("t.conf:%u: \"%s%s\": %" PRIu64 " is above the "
	    "maximum %s", line, pname, d->name, hi + 1, d->max);
	fails(text, want);
	free(text);
	free(want);
}

START_TEST(test_conf_limits_global)
{
	size_t	 i, n = 0;

	for (i = 0; i < conf_ndefs; i++) {
		if (conf_defs[i].min != NULL) {
			check_row_limits(&conf_defs[i], false);
			n++;
		}
	}
	ck_assert_uint_gt(n, 0);
}
END_TEST

START_TEST(test_conf_limits_service)
{
	size_t	 i, n = 0;

	for (i = 0; i < conf_nsvc_defs; i++) {
		if (conf_svc_defs[i].min != NULL) {
			check_row_limits(&conf_svc_defs[i], true);
			n++;
		}
	}
	ck_assert_uint_gt(n, 0);
}
END_TEST

/* ---- services ------------------------------------------------------------ */

START_TEST(test_conf_services)
{
	const struct conf_service *s;
	struct postern_config *c;

	c = ok("# services\n"
	    "a.program = prog-a\n"
	    "b.enable = no\n"
	    "a.listen = 127.0.0.1:2525, sub=[::1]:587, private/a\n"
	    "b.program = /opt/b\n"
	    "a.process_limit = 5\n"
	    "a.user = vmail\n"
	    "a.chroot = queue\n"
	    "b.chroot = /var/empty\n"
	    "a.keep_caps = setuid, setgid\n");
	ck_assert_uint_eq(c->nservices, conf_nbuiltin_services + 2);
	s = &c->services[conf_nbuiltin_services];
	ck_assert_str_eq(s->name, "a");
	ck_assert(!s->builtin);
	ck_assert(s->enable);
	ck_assert_str_eq(s->program, "prog-a");
	ck_assert_uint_eq(conf_list_count(s->listen), 3);
	ck_assert_str_eq(s->listen[1], "sub=[::1]:587");
	ck_assert_uint_eq(s->process_limit, 5);
	ck_assert_uint_eq(s->process_min, 1);		/* default */
	ck_assert_uint_eq(s->client_limit, 1000);	/* default */
	ck_assert_str_eq(s->user, "vmail");
	ck_assert_str_eq(s->chroot, "queue");
	ck_assert_uint_eq(conf_list_count(s->keep_caps), 2);
	ck_assert_ptr_eq(conf_service_find(c, "a"), s);
	s = conf_service_find(c, "b");
	ck_assert_ptr_nonnull(s);
	ck_assert(!s->enable);			/* kept, but disabled */
	ck_assert_str_eq(s->program, "/opt/b");
	ck_assert_str_eq(s->chroot, "/var/empty");
	ck_assert_uint_eq(conf_list_count(s->listen), 0);
	ck_assert_ptr_null(conf_service_find(c, "c"));
	ck_assert_uint_eq(conf_origin_line(c, "a.program"), 2);
	ck_assert_uint_eq(conf_origin_line(c, "b.enable"), 3);
	ck_assert_uint_eq(conf_origin_line(c, "a.args"), 0);
	ck_assert_uint_eq(c->norigins, 9);
	conf_free(&c);

	/* Missing program: at the line of the service's first setting. */
	fails("myhostname = x\n\nfoo.enable = no\nfoo.args = x\n",
	    "t.conf:3: service \"foo\" has no program");
	fails("foo.program =\n", "t.conf:1: service \"foo\" has no program");
	fails("foo.program = bin/foo\n", "t.conf:1: \"foo.program\": "
	    "\"bin/foo\" must be a name or an absolute path");
}
END_TEST

START_TEST(test_conf_service_checks)
{
	fails(SVC "t.chroot = yes\n", "t.conf:2: \"t.chroot\": \"yes\" is not "
	    "no, queue, empty, login or an absolute path");
	fails(SVC "t.keep_caps = setuid chown\n",
	    "t.conf:2: \"t.keep_caps\": \"chown\" is not setuid or setgid");
	fails(SVC "t.process_min = 5\nt.process_limit = 4\n",
	    "t.conf:2: \"t.process_min\" (5) is more than "
	    "\"t.process_limit\" (4)");
	fails(SVC "t.process_limit = 4\n\nt.process_min = 5\n",
	    "t.conf:4: \"t.process_min\" (5) is more than "
	    "\"t.process_limit\" (4)");
	fails(SVC "t.process_min = 101\n",
	    "t.conf:2: \"t.process_min\" (101) is more than "
	    "\"t.process_limit\" (100)");
	/* Listeners. */
	fails(SVC "t.listen = Bad=127.0.0.1:25\n", "t.conf:2: \"t.listen\": "
	    "\"Bad=127.0.0.1:25\": role \"Bad\" is invalid (use a-z, 0-9, _ "
	    "and -)");
	fails(SVC "t.listen = =127.0.0.1:25\n", "t.conf:2: \"t.listen\": "
	    "\"=127.0.0.1:25\": role \"\" is invalid (use a-z, 0-9, _ and -)");
	fails(SVC "t.listen = x=\n",
	    "t.conf:2: \"t.listen\": \"x=\" has no address");
	fails(SVC "t.listen = private/../../etc/x\n", "t.conf:2: \"t.listen\": "
	    "\"private/../../etc/x\": a socket path must not contain \"..\"");
	fails(SVC "t.listen = ..\n", "t.conf:2: \"t.listen\": \"..\": a socket "
	    "path must not contain \"..\"");
	{
		struct conf_errors e;
		struct postern_config *c;

		c = parse(SVC "t.listen = localhost:25\n", &e);
		ck_assert_ptr_null(c);
		ck_assert_uint_eq(e.count, 1);
		ck_assert(strncmp(e.lines[0], "t.conf:2: \"t.listen\": ",
		    22) == 0);
		ck_assert(strstr(e.lines[0], "localhost:25") != NULL);
		conf_errors_deinit(&e);
		c = parse(SVC "t.listen = 1.2.3.4:99999\n", &e);
		ck_assert_ptr_null(c);
		ck_assert_uint_eq(e.count, 1);
		conf_errors_deinit(&e);
	}
	/* Unix socket paths must fit sun_path (107 bytes). */
	{
		char	*text, path[128];

		memset(path, 'p', sizeof(path));
		/* "/q/" + 104 = 107 bytes: fits. */
		path[104] = '\0';
		text = xasprintf("queue_directory = /q\n" SVC
		    "t.listen = %s\n", path);
		struct postern_config *c = ok(text);
		free(text);
		conf_free(&c);
		path[104] = 'p';
		path[105] = '\0';
		text = xasprintf("queue_directory = /q\n" SVC
		    "t.listen = %s\n", path);
		char *want = xasprintf("t.conf:3: \"t.listen\": the socket path "
		    "of \"%.64s...\" is longer than 107 bytes (with "
		    "queue_directory)", path);
		fails(text, want);
		free(want);
		free(text);
	}
}
END_TEST

START_TEST(test_conf_listen_parse)
{
	struct conf_listen l;
	const char *error;

	ck_assert_int_eq(conf_listen_parse("127.0.0.1:25", &l, &error), 0);
	ck_assert_str_eq(l.role, "");
	ck_assert(l.inet);
	ck_assert_str_eq(l.addr, "127.0.0.1:25");
	conf_listen_deinit(&l);
	ck_assert_int_eq(conf_listen_parse("sub-mission=[::1]:587", &l,
	    &error), 0);
	ck_assert_str_eq(l.role, "sub-mission");
	ck_assert(l.inet);
	ck_assert_str_eq(l.addr, "[::1]:587");
	conf_listen_deinit(&l);
	ck_assert_int_eq(conf_listen_parse("*:25", &l, &error), 0);
	ck_assert(l.inet);
	conf_listen_deinit(&l);
	ck_assert_int_eq(conf_listen_parse("ctl=private/qmgr", &l, &error), 0);
	ck_assert_str_eq(l.role, "ctl");
	ck_assert(!l.inet);
	ck_assert_str_eq(l.addr, "private/qmgr");
	conf_listen_deinit(&l);
	ck_assert_int_eq(conf_listen_parse("/run/x..y/s", &l, &error), 0);
	ck_assert(!l.inet);
	conf_listen_deinit(&l);
	ck_assert_int_eq(conf_listen_parse("a/../b", &l, &error), -1);
	ck_assert_int_eq(conf_listen_parse("", &l, &error), -1);
	ck_assert_int_eq(conf_listen_parse("r!=x", &l, &error), -1);
	ck_assert_int_eq(conf_listen_parse("[::1]", &l, &error), -1);
}
END_TEST

START_TEST(test_conf_global_checks)
{
	fails("\nlog_target = syslog:x\n", "t.conf:2: \"log_target\": "
	    "\"syslog:x\" is not syslog, stderr or file:/absolute/path");
	value_is("log_target = file:/var/log/p.log\n", "log_target",
	    "file:/var/log/p.log");
	value_is("log_target = stderr\n", "log_target", "stderr");
	fails("syslog_facility = kern\n", "t.conf:1: \"syslog_facility\": "
	    "\"kern\" is not a syslog facility (mail, daemon, user, local0 to "
	    "local7)");
	value_is("syslog_facility = local7\n", "syslog_facility", "local7");
	fails("default_database_type = btree\n",
	    "t.conf:1: \"default_database_type\": \"btree\" is not hash or "
	    "lmdb");
	value_is("default_database_type = lmdb\n", "default_database_type",
	    "lmdb");
	fails("mail_owner =\n", "t.conf:1: \"mail_owner\" must not be empty");
	fails("system_account_maildir =\n", "t.conf:1: "
	    "\"system_account_maildir\": \"\" is not a relative path without "
	    "\"..\"");
	fails("system_account_maildir = /m\n", "t.conf:1: "
	    "\"system_account_maildir\": \"/m\" is not a relative path "
	    "without \"..\"");
	fails("system_account_maildir = a/../b\n", "t.conf:1: "
	    "\"system_account_maildir\": \"a/../b\" is not a relative "
	    "path without \"..\"");
	fails("master_backoff_min = 2m\n", "t.conf:1: \"master_backoff_min\" "
	    "(120s) is more than \"master_backoff_max\" (60s)");
}
END_TEST

START_TEST(test_conf_backoff_order)
{
	struct postern_config *c;

	c = ok("master_backoff_min = 5s\nmaster_backoff_max = 5s\n");
	conf_free(&c);
	fails("master_backoff_max = 5s\nmaster_backoff_min = 6s\n",
	    "t.conf:2: \"master_backoff_min\" (6s) is more than "
	    "\"master_backoff_max\" (5s)");
	c = ok("master_backoff_min = 0\nmaster_backoff_max = 1s\n");
	conf_free(&c);
	/* The line is the minimum's when the file sets it, else the maximum's. */
	fails("master_backoff_min = 30m\n\n",
	    "t.conf:1: \"master_backoff_min\" (1800s) is more than "
	    "\"master_backoff_max\" (60s)");
}
END_TEST

/* ---- many errors --------------------------------------------------------- */

START_TEST(test_conf_many_errors)
{
	struct postern_config *c;
	struct conf_errors e;
	size_t	 i;

	c = parse("foo = 1\n"
	    "log_debug = maybe\n"
	    "x.args = a\n"
	    "no equals\n"
	    "queue_directory = rel\n"
	    "  continued\n"
	    "log_debug = yes\n"
	    "syslog_facility = nope\n"
	    "Bad!.user = x\n", &e);
	ck_assert_ptr_null(c);
	ck_assert_uint_eq(e.count, 8);
	ck_assert_str_eq(e.lines[0], "t.conf:1: unknown name \"foo\"");
	ck_assert_str_eq(e.lines[1],
	    "t.conf:2: \"log_debug\": \"maybe\" is not yes or no");
	ck_assert_str_eq(e.lines[2], "t.conf:3: service \"x\" has no program");
	ck_assert_str_eq(e.lines[3], "t.conf:4: line has no \"=\"");
	ck_assert_str_eq(e.lines[4],
	    "t.conf:5: \"queue_directory\" must be an absolute path");
	ck_assert_str_eq(e.lines[5],
	    "t.conf:7: \"log_debug\" is set twice (first on line 2)");
	ck_assert_str_eq(e.lines[6], "t.conf:8: \"syslog_facility\": \"nope\" "
	    "is not a syslog facility (mail, daemon, user, local0 to local7)");
	ck_assert_str_eq(e.lines[7], "t.conf:9: service name \"Bad!\" is "
	    "invalid");
	conf_errors_deinit(&e);

	/* The cap: CONF_MAX_ERRORS lines, then one that counts the rest. */
	{
		size_t	 n = CONF_MAX_ERRORS + 50, len = 0;
		char	*text = xmalloc(n * 16);

		for (i = 0; i < n; i++)
			len += (size_t)snprintf(text + len, 16, "bad%zu = 1\n", i);
		c = parse_n(text, len, &e);
		free(text);
		ck_assert_ptr_null(c);
		ck_assert_uint_eq(e.count, CONF_MAX_ERRORS + 1);
		ck_assert_str_eq(e.lines[0], "t.conf:1: unknown name \"bad0\"");
		ck_assert_str_eq(e.lines[CONF_MAX_ERRORS - 1],
		    "t.conf:100: unknown name \"bad99\"");
		ck_assert_str_eq(e.lines[CONF_MAX_ERRORS],
		    "t.conf: 50 more problems left out");
		conf_errors_deinit(&e);
		ck_assert_uint_eq(e.count, 0);
		ck_assert_ptr_null(e.lines);
	}
}
END_TEST

START_TEST(test_conf_error_shows_values_safely)
{
	char	 text[256], want[256];

	/* A long value is cut at 64 bytes. */
	memset(want, 0, sizeof(want));
	(void)snprintf(text, sizeof(text), "log_debug = %0100d\n", 0);
	(void)snprintf(want, sizeof(want), "t.conf:1: \"log_debug\": \"%064d...\" "
	    "is not yes or no", 0);
	fails(text, want);
	/* A backslash and bytes above ASCII are escaped. */
	fails("log_debug = a\\b\xff\n",
	    "t.conf:1: \"log_debug\": \"a\\134b\\377\" is not yes or no");
}
END_TEST

/* ---- rendering ----------------------------------------------------------- */

START_TEST(test_conf_value_str)
{
	struct postern_config *c;
	char	*v;

	c = ok(SVC "log_debug = on\nt.listen = a, b\n");
	v = conf_value_str(c, "log_debug");
	ck_assert_str_eq(v, "yes");
	free(v);
	v = conf_value_str(c, "t.listen");
	ck_assert_str_eq(v, "a, b");
	free(v);
	v = conf_value_str(c, "ipc_max_message_size");
	ck_assert_str_eq(v, "1m");
	free(v);
	v = conf_value_str(c, "master_stop_timeout");
	ck_assert_str_eq(v, "30s");
	free(v);
	ck_assert_ptr_null(conf_value_str(c, "nope"));
	ck_assert_ptr_null(conf_value_str(c, "nope.listen"));
	ck_assert_ptr_null(conf_value_str(c, "t.nope"));
	ck_assert_ptr_null(conf_value_str(c, "t."));
	conf_free(&c);
}
END_TEST

/*
 * Every value of a configuration that changes every row, rendered and
 * parsed again, renders the same.
 */
START_TEST(test_conf_round_trip)
{
	static const char text[] =
	    "queue_directory = /q\n"
	    "data_directory = /d\n"
	    "run_directory = /r\n"
	    "daemon_directory = /x\n"
	    "mail_owner = m\n"
	    "setgid_group = g\n"
	    "myhostname = h.example\n"
	    "log_target = file:/l/og\n"
	    "syslog_facility = local3\n"
	    "syslog_name = sn\n"
	    "log_debug = true\n"
	    "master_stop_timeout = 61\n"
	    "master_backoff_min = 2m\n"
	    "master_backoff_max = 1d\n"
	    "master_crash_window = 1h\n"
	    "ipc_max_message_size = 4097\n"
	    "ipc_timeout = 1h\n"
	    "default_database_type = lmdb\n"
	    "mydomains = a.example, b.example\n"
	    "user_database = lmdb:/etc/users\n"
	    "alias_maps = hash:/etc/aliases\n"
	    "recipient_delimiter = +-\n"
	    "mynetworks = 192.0.2.0/24\n"
	    "relay_domains = .example.net\n"
	    "mail_directory = /m\n"
	    "system_account_domains = sys.example\n"
	    "system_account_maildir = Mail/inbox\n"
	    "authd_password_scheme = bcrypt\n"
	    "authd_max_failures = 3\n"
	    "authd_lockout_time = 1h\n"
	    "authd_failure_delay = 2s\n"
	    "authd_max_failure_delay = 1m\n"
	    "authd_max_tracked = 100\n"
	    "authd_token_lifetime = 10s\n"
	    "authd_max_alias_depth = 5\n"
	    "authd_max_alias_targets = 7\n"
	    "tls_cert_file = /c\n"
	    "tls_key_file = /k\n"
	    "tls_min_protocol = TLSv1.3\n"
	    "tls_ciphers = HIGH\n"
	    "tls_ciphersuites = TLS_AES_256_GCM_SHA384\n"
	    "smtpd_max_message_size = 10m\n"
	    "smtpd_rcpt_quota_check = no\n"
	    "smtpd_rcpt_cache_time = 3s\n"
	    "smtpd_quota_check_timeout = 2s\n"
	    "smtpd_queue_min_free = 100m\n"
	    "smtpd_max_data_line_length = 1000\n"
	    "smtpd_bare_newline = normalize\n"
	    "smtpd_max_hops = 20\n"
	    "smtpd_max_line_length = 4096\n"
	    "smtpd_max_recipients = 50\n"
	    "smtpd_max_errors = 5\n"
	    "smtpd_timeout = 1m\n"
	    "smtpd_data_timeout = 2m\n"
	    "smtpd_auth_timeout = 30s\n"
	    "smtpd_handshake_timeout = 20s\n"
	    "smtpd_greet_pause = 0\n"
	    "smtpd_max_connections_per_client = 10\n"
	    "smtpd_max_junk_commands = 20\n"
	    "smtpd_max_header_size = 50k\n"
	    "smtpd_sync_threads = 4\n"
	    "imapd_plaintext_login = no\n"
	    "imapd_max_line_length = 8k\n"
	    "imapd_max_literal_size = 32k\n"
	    "imapd_max_append_size = 10m\n"
	    "imapd_max_bad_commands = 3\n"
	    "imapd_max_login_commands = 10\n"
	    "imapd_login_timeout = 30s\n"
	    "imapd_idle_timeout = 1h\n"
	    "imapd_max_connections_per_client = 7\n"
	    "imapd_max_user_connections = 5\n"
	    "imapd_max_search_keys = 100\n"
	    "imapd_max_sequence_ranges = 500\n"
	    "imapd_special_use_folders = Sent=Sent\n"
	    "mailstore_max_folders = 50\n"
	    "queue_scan_interval = 30s\n"
	    "queue_retry_min = 1m\n"
	    "queue_retry_max = 2h\n"
	    "queue_lifetime = 2d\n"
	    "queue_delay_warning = 4h\n"
	    "queue_active_limit = 100\n"
	    "queue_recycle_limit = 0\n"
	    "queue_local_concurrency = 5\n"
	    "queue_mailbox_concurrency = 1\n"
	    "bounce_size_limit = 10k\n"
	    "delivery_subaddress_folders = no\n"
	    "delivery_quota_bounce = yes\n"
	    "delivery_sync_threads = 4\n"
	    "transport_maps = hash:/t\n"
	    "relayhost = [192.0.2.9]:587\n"
	    "queue_remote_concurrency = 7\n"
	    "queue_destination_concurrency = 3\n"
	    "queue_destination_recipient_limit = 9\n"
	    "dns_servers = 127.0.0.1:5353, [::1]:53\n"
	    "dns_timeout = 2s\n"
	    "smtp_port = 2525\n"
	    "smtp_helo_name = out.example\n"
	    "smtp_tls_security_level = encrypt\n"
	    "smtp_tls_policy_maps = hash:/p\n"
	    "smtp_tls_ca_file = /ca\n"
	    "smtp_tls_min_protocol = TLSv1.3\n"
	    "smtp_sasl_password_maps = hash:/s\n"
	    "smtp_sasl_tls_only = no\n"
	    "smtp_connect_timeout = 5s\n"
	    "smtp_greeting_timeout = 6s\n"
	    "smtp_helo_timeout = 7s\n"
	    "smtp_starttls_timeout = 8s\n"
	    "smtp_mail_timeout = 9s\n"
	    "smtp_rcpt_timeout = 10s\n"
	    "smtp_data_init_timeout = 11s\n"
	    "smtp_data_xfer_timeout = 12s\n"
	    "smtp_data_done_timeout = 13s\n"
	    "smtp_quit_timeout = 14s\n"
	    "smtp_connection_cache_time = 0\n"
	    "smtp_connection_reuse_limit = 3\n"
	    "smtp_mx_address_limit = 2\n";
	static const char svc[] =
	    "t.enable = off\n"
	    "t.program = /p\n"
	    "t.args = -a,-b   c\n"
	    "t.listen = 127.0.0.1:1, r=private/x\n"
	    "t.user = u\n"
	    "t.chroot = empty\n"
	    "t.process_min = 0\n"
	    "t.process_limit = 9\n"
	    "t.client_limit = 100000\n"
	    "t.idle_exit = 1d\n"
	    "t.keep_caps = setgid\n";
	struct postern_config *c, *c2;
	struct conf_errors e;
	char	*all, *out, *v, *v2, *name;
	size_t	 i, len = 0, size = 65536;

	all = xasprintf("%s%s", text, svc);
	c = ok(all);
	free(all);
	ck_assert_uint_eq(c->norigins, conf_ndefs + conf_nsvc_defs);
	out = xmalloc(size);
	for (i = 0; i < conf_ndefs; i++) {
		v = conf_value_str(c, conf_defs[i].name);
		ck_assert_str_ne(v, conf_defs[i].def);
		len += (size_t)snprintf(out + len, size - len, "%s = %s\n",
		    conf_defs[i].name, v);
		free(v);
	}
	for (i = 0; i < conf_nsvc_defs; i++) {
		name = xasprintf("t.%s", conf_svc_defs[i].name);
		v = conf_value_str(c, name);
		len += (size_t)snprintf(out + len, size - len, "%s = %s\n",
		    name, v);
		free(v);
		free(name);
	}
	ck_assert_uint_lt(len, size);
	c2 = parse(out, &e);
	if (c2 == NULL)
		dump_errors(&e);
	ck_assert_ptr_nonnull(c2);
	conf_errors_deinit(&e);
	for (i = 0; i < conf_ndefs; i++) {
		v = conf_value_str(c, conf_defs[i].name);
		v2 = conf_value_str(c2, conf_defs[i].name);
		ck_assert_str_eq(v, v2);
		free(v);
		free(v2);
	}
	for (i = 0; i < conf_nsvc_defs; i++) {
		name = xasprintf("t.%s", conf_svc_defs[i].name);
		v = conf_value_str(c, name);
		v2 = conf_value_str(c2, name);
		ck_assert_str_eq(v, v2);
		free(v);
		free(v2);
		free(name);
	}
	ck_assert_uint_eq(c2->master_stop_timeout, 61);
	ck_assert_uint_eq(c2->ipc_max_message_size, 4097);
	ck_assert_uint_eq(c2->master_backoff_min, 120);
	free(out);
	conf_free(&c);
	conf_free(&c2);
}
END_TEST

/* ---- conf_read ------------------------------------------------------------ */

static char *
make_dir(void)
{
	char	*dir = xstrdup("/tmp/test_conf.XXXXXX");

	ck_assert_ptr_nonnull(mkdtemp(dir));
	return dir;
}

static void
write_file(const char *path, const char *text)
{
	FILE	*f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fputs(text, f) >= 0, 1);
	ck_assert_int_eq(fclose(f), 0);
}

START_TEST(test_conf_read)
{
	struct postern_config *c;
	struct conf_errors e;
	char	*dir, *path, *want;

	dir = make_dir();
	path = xasprintf("%s/%s", dir, CONF_FILE_NAME);

	/* Missing file: an error that names it. */
	c = conf_read(dir, &e);
	ck_assert_ptr_null(c);
	ck_assert_uint_eq(e.count, 1);
	ck_assert(strstr(e.lines[0], path) != NULL);
	ck_assert(strstr(e.lines[0], "No such file") != NULL);
	conf_errors_deinit(&e);

	write_file(path, "# test\nmyhostname = h\nsvc.program = p\n");
	c = conf_read(dir, &e);
	ck_assert_ptr_nonnull(c);
	ck_assert_uint_eq(e.count, 0);
	ck_assert_str_eq(c->config_directory, dir);
	ck_assert_str_eq(c->config_file, path);
	ck_assert_str_eq(c->myhostname, "h");
	ck_assert_uint_eq(conf_origin_line(c, "myhostname"), 2);
	ck_assert_uint_eq(conf_origin_line(c, "svc.program"), 3);
	ck_assert_uint_eq(conf_origin_line(c, "mail_owner"), 0);
	conf_errors_deinit(&e);
	conf_free(&c);

	/* Errors name the file's path. */
	write_file(path, "\nnope = 1\n");
	c = conf_read(dir, &e);
	ck_assert_ptr_null(c);
	ck_assert_uint_eq(e.count, 1);
	want = xasprintf("%s:2: unknown name \"nope\"", path);
	ck_assert_str_eq(e.lines[0], want);
	free(want);
	conf_errors_deinit(&e);

	/* A relative folder is refused before anything is read. */
	c = conf_read("etc/postern", &e);
	ck_assert_ptr_null(c);
	ck_assert_uint_eq(e.count, 1);
	conf_errors_deinit(&e);

	/* A folder in place of the file. */
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	c = conf_read(dir, &e);
	ck_assert_ptr_null(c);
	ck_assert_uint_eq(e.count, 1);
	conf_errors_deinit(&e);
	ck_assert_int_eq(rmdir(path), 0);

	/* Larger than the maximum. */
	{
		FILE	*f = fopen(path, "w");

		ck_assert_ptr_nonnull(f);
		for (size_t i = 0; i <= CONF_MAX_FILE_SIZE / 8; i++)
			ck_assert_int_ge(fputs("#######\n", f), 0);
		ck_assert_int_eq(fclose(f), 0);
		c = conf_read(dir, &e);
		ck_assert_ptr_null(c);
		ck_assert_uint_eq(e.count, 1);
		ck_assert(strstr(e.lines[0], path) != NULL);
		ck_assert(strstr(e.lines[0], "larger") != NULL);
		conf_errors_deinit(&e);
	}

	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(rmdir(dir), 0);
	free(path);
	free(dir);
}
END_TEST

/* ---- the man page ---------------------------------------------------------- */

static bool
man_has_item(const char *page, const char *name)
{
	char	*needle = xasprintf(".It Cm %s", name);
	const char *p;
	size_t	 n = strlen(needle);
	bool	 found = false;

	for (p = page; (p = strstr(p, needle)) != NULL; p += n) {
		if ((p == page || p[-1] == '\n') &&
		    (p[n] == ' ' || p[n] == '\n')) {
			found = true;
			break;
		}
	}
	free(needle);
	return found;
}

START_TEST(test_conf_man_page)
{
	const char *builddir = getenv("POSTERN_BUILDDIR");
	char	*path, *page;
	FILE	*f;
	size_t	 len, i;

	if (builddir == NULL || builddir[0] == '\0') {
		fprintf(stderr, "test_conf_man_page: POSTERN_BUILDDIR unset, "
		    "skipped\n");
		return;
	}
	path = xasprintf("%s/man/postern.conf.5", builddir);
	f = fopen(path, "r");
	if (f == NULL)
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
	ck_assert_ptr_nonnull(f);
	page = xmalloc(4 * 1024 * 1024);
	len = fread(page, 1, 4 * 1024 * 1024 - 1, f);
	page[len] = '\0';
	ck_assert_int_eq(fclose(f), 0);
	for (i = 0; i < conf_ndefs; i++) {
		if (!man_has_item(page, conf_defs[i].name))
			fprintf(stderr, "%s: no .It Cm %s\n", path,
			    conf_defs[i].name);
		ck_assert(man_has_item(page, conf_defs[i].name));
	}
	for (i = 0; i < conf_nsvc_defs; i++) {
		if (!man_has_item(page, conf_svc_defs[i].name))
			fprintf(stderr, "%s: no .It Cm %s\n", path,
			    conf_svc_defs[i].name);
		ck_assert(man_has_item(page, conf_svc_defs[i].name));
	}
	ck_assert(strstr(page, "@CONF_") == NULL);
	free(page);
	free(path);
}
END_TEST

static Suite *
conf_suite(void)
{
	Suite	*s = suite_create("conf");
	TCase	*tc = tcase_create("conf");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_conf_defaults_load);
	tcase_add_test(tc, test_conf_defaults_table);
	tcase_add_test(tc, test_conf_defaults_bad_dir);
	tcase_add_test(tc, test_conf_empty_and_comments);
	tcase_add_test(tc, test_conf_continuation);
	tcase_add_test(tc, test_conf_line_errors);
	tcase_add_test(tc, test_conf_line_length);
	tcase_add_test(tc, test_conf_file_size);
	tcase_add_test(tc, test_conf_unknown_and_duplicate);
	tcase_add_test(tc, test_conf_service_name_length);
	tcase_add_test(tc, test_conf_bool);
	tcase_add_test(tc, test_conf_path);
	tcase_add_test(tc, test_conf_str);
	tcase_add_test(tc, test_conf_list);
	tcase_add_test(tc, test_conf_size_units);
	tcase_add_test(tc, test_conf_time_units);
	tcase_add_test(tc, test_conf_uint);
	tcase_add_test(tc, test_conf_limits_global);
	tcase_add_test(tc, test_conf_limits_service);
	tcase_add_test(tc, test_conf_services);
	tcase_add_test(tc, test_conf_service_checks);
	tcase_add_test(tc, test_conf_listen_parse);
	tcase_add_test(tc, test_conf_global_checks);
	tcase_add_test(tc, test_conf_backoff_order);
	tcase_add_test(tc, test_conf_many_errors);
	tcase_add_test(tc, test_conf_error_shows_values_safely);
	tcase_add_test(tc, test_conf_value_str);
	tcase_add_test(tc, test_conf_round_trip);
	tcase_add_test(tc, test_conf_read);
	tcase_add_test(tc, test_conf_man_page);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(conf_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
