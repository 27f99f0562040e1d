/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for transfer-agent/smtp_reply.c: single- and multi-line
 * replies, every malformed-line error, the line length and line count
 * limits at their maximum and one over, feeding after the end, reset and
 * reuse, enhanced status codes (good and every kind of bad), the one-line
 * summary (joining, cutting, sanitising) and the EHLO keyword parser on a
 * realistic Postfix reply and its edge cases.
 */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "transfer-agent/smtp_reply.h"

#include "common/banned.h"

/* Feeds a NUL-terminated line; returns what smtp_reply_line() did. */
static int
feed(struct smtp_reply *r, const char *line)
{
	const char	*error = NULL;
	int		 ret;

	ret = smtp_reply_line(r, line, strlen(line), &error);
	if (ret == -1)
		ck_assert_ptr_nonnull(error);
	return ret;
}

/* Feeds lines until the last one, which must complete the reply. */
static void
feed_all(struct smtp_reply *r, const char *const *lines, size_t n)
{
	size_t	i;

	for (i = 0; i + 1 < n; i++)
		ck_assert_int_eq(feed(r, lines[i]), 0);
	ck_assert_int_eq(feed(r, lines[n - 1]), 1);
}

/* Feeds an expected-bad line and checks it fails with an error text. */
static void
feed_bad(const char *line, size_t len)
{
	struct smtp_reply r;
	const char	*error = NULL;

	smtp_reply_init(&r);
	ck_assert_int_eq(smtp_reply_line(&r, line, len, &error), -1);
	ck_assert_ptr_nonnull(error);
	ck_assert(!r.done);
	ck_assert_uint_eq(r.nlines, 0);
	smtp_reply_deinit(&r);
}

START_TEST(test_single_line)
{
	struct smtp_reply r;

	smtp_reply_init(&r);
	ck_assert_int_eq(feed(&r, "220 mx.example.org ESMTP ready"), 1);
	ck_assert(r.done);
	ck_assert_uint_eq(r.code, 220);
	ck_assert_uint_eq(r.nlines, 1);
	ck_assert_str_eq(r.dsn, "");
	ck_assert_str_eq(buf_cstr(&r.lines), "mx.example.org ESMTP ready\n");
	smtp_reply_deinit(&r);
}
END_TEST

START_TEST(test_multi_line)
{
	static const char *const lines[] = {
		"250-mx.example.org",
		"250-PIPELINING",
		"250 8BITMIME",
	};
	struct smtp_reply r;

	smtp_reply_init(&r);
	feed_all(&r, lines, N_ELEMENTS(lines));
	ck_assert_uint_eq(r.code, 250);
	ck_assert_uint_eq(r.nlines, 3);
	ck_assert_str_eq(buf_cstr(&r.lines),
	    "mx.example.org\nPIPELINING\n8BITMIME\n");
	smtp_reply_deinit(&r);
}
END_TEST

START_TEST(test_bare_code)
{
	struct smtp_reply r;

	smtp_reply_init(&r);
	/* A bare code ends a reply, alone or after continuation lines. */
	ck_assert_int_eq(feed(&r, "250"), 1);
	ck_assert_uint_eq(r.code, 250);
	ck_assert_str_eq(buf_cstr(&r.lines), "\n");
	smtp_reply_reset(&r);
	ck_assert_int_eq(feed(&r, "354-go ahead"), 0);
	ck_assert_int_eq(feed(&r, "354"), 1);
	ck_assert_uint_eq(r.nlines, 2);
	ck_assert_str_eq(buf_cstr(&r.lines), "go ahead\n\n");
	smtp_reply_reset(&r);
	/* Empty text after the separator is allowed. */
	ck_assert_int_eq(feed(&r, "250-"), 0);
	ck_assert_int_eq(feed(&r, "250 "), 1);
	ck_assert_str_eq(buf_cstr(&r.lines), "\n\n");
	smtp_reply_deinit(&r);
}
END_TEST

START_TEST(test_code_mismatch)
{
	struct smtp_reply r;
	const char	*error = NULL;

	smtp_reply_init(&r);
	ck_assert_int_eq(feed(&r, "250-first"), 0);
	ck_assert_int_eq(smtp_reply_line(&r, "251 second", 10, &error), -1);
	ck_assert_ptr_nonnull(error);
	ck_assert_ptr_nonnull(strstr(error, "251"));
	ck_assert(!r.done);
	smtp_reply_reset(&r);
	ck_assert_int_eq(feed(&r, "450-a"), 0);
	ck_assert_int_eq(feed(&r, "550 b"), -1);
	smtp_reply_deinit(&r);
}
END_TEST

START_TEST(test_code_range)
{
	struct smtp_reply r;

	feed_bad("100 info", 8);
	feed_bad("199 x", 5);
	feed_bad("099 x", 5);
	feed_bad("600 x", 5);
	feed_bad("999", 3);
	smtp_reply_init(&r);
	ck_assert_int_eq(feed(&r, "200 ok"), 1);
	ck_assert_uint_eq(r.code, 200);
	smtp_reply_reset(&r);
	ck_assert_int_eq(feed(&r, "599 x"), 1);
	ck_assert_uint_eq(r.code, 599);
	smtp_reply_deinit(&r);
}
END_TEST

START_TEST(test_non_digits)
{
	feed_bad("", 0);
	feed_bad("2", 1);
	feed_bad("25", 2);
	feed_bad("25a ok", 6);
	feed_bad("a50 ok", 6);
	feed_bad("2 0 ok", 6);
	feed_bad("+25 ok", 6);
	feed_bad(" 250 ok", 7);
	feed_bad("-250 ok", 7);
	feed_bad("2\0000 ok", 6);
	feed_bad("\xb2" "50 ok", 6);
	feed_bad("\xd9\xa2" "50 ok", 7);	/* Arabic-Indic digit two */
}
END_TEST

START_TEST(test_fourth_byte)
{
	struct smtp_reply r;

	feed_bad("250ok", 5);
	feed_bad("2500 ok", 7);
	feed_bad("250\tok", 6);
	feed_bad("250\0ok", 6);
	feed_bad("250\r", 4);
	feed_bad("250_", 4);
	/* Junk after a continuation line fails and needs a reset. */
	smtp_reply_init(&r);
	ck_assert_int_eq(feed(&r, "250-a"), 0);
	ck_assert_int_eq(feed(&r, "250=b"), -1);
	smtp_reply_reset(&r);
	ck_assert_int_eq(feed(&r, "250 a"), 1);
	smtp_reply_deinit(&r);
}
END_TEST

START_TEST(test_line_max)
{
	struct smtp_reply r;
	const char	*error = NULL;
	char		*line;

	line = malloc(SMTP_REPLY_LINE_MAX + 2);
	ck_assert_ptr_nonnull(line);
	memset(line, 'x', SMTP_REPLY_LINE_MAX + 1);
	memcpy(line, "250 ", 4);
	line[SMTP_REPLY_LINE_MAX + 1] = '\0';

	smtp_reply_init(&r);
	ck_assert_int_eq(smtp_reply_line(&r, line, SMTP_REPLY_LINE_MAX,
	    &error), 1);
	ck_assert_uint_eq(r.lines.len, SMTP_REPLY_LINE_MAX - 4 + 1);
	smtp_reply_reset(&r);
	error = NULL;
	ck_assert_int_eq(smtp_reply_line(&r, line, SMTP_REPLY_LINE_MAX + 1,
	    &error), -1);
	ck_assert_ptr_nonnull(error);
	ck_assert(!r.done);
	ck_assert_uint_eq(r.nlines, 0);
	ck_assert_uint_eq(r.lines.len, 0);
	/* Also on a continuation line. */
	smtp_reply_reset(&r);
	ck_assert_int_eq(feed(&r, "250-first"), 0);
	line[3] = '-';
	ck_assert_int_eq(smtp_reply_line(&r, line, SMTP_REPLY_LINE_MAX + 1,
	    &error), -1);
	ck_assert_int_eq(smtp_reply_line(&r, line, SMTP_REPLY_LINE_MAX,
	    &error), 0);
	smtp_reply_deinit(&r);
	free(line);
}
END_TEST

/* Every line at the longest length, which is what sizes lines' maximum. */
static void
feed_many(struct smtp_reply *r, unsigned int n, size_t len)
{
	const char	*error = NULL;
	char		*line;
	unsigned int	 i;

	line = malloc(len + 1);
	ck_assert_ptr_nonnull(line);
	memset(line, 'k', len);
	memcpy(line, "250-", 4);
	line[len] = '\0';
	for (i = 0; i < n; i++)
		ck_assert_int_eq(smtp_reply_line(r, line, len, &error), 0);
	free(line);
}

START_TEST(test_lines_max)
{
	struct smtp_reply r;
	const char	*error = NULL;

	smtp_reply_init(&r);
	feed_many(&r, SMTP_REPLY_LINES_MAX - 1, SMTP_REPLY_LINE_MAX);
	ck_assert_int_eq(feed(&r, "250 last"), 1);
	ck_assert_uint_eq(r.nlines, SMTP_REPLY_LINES_MAX);
	smtp_reply_reset(&r);

	/* The line after SMTP_REPLY_LINES_MAX fails, whatever it says. */
	feed_many(&r, SMTP_REPLY_LINES_MAX, SMTP_REPLY_LINE_MAX);
	ck_assert_uint_eq(r.nlines, SMTP_REPLY_LINES_MAX);
	ck_assert_uint_eq(r.lines.len,
	    (size_t)SMTP_REPLY_LINES_MAX * (SMTP_REPLY_LINE_MAX - 3));
	ck_assert_int_eq(smtp_reply_line(&r, "250 last", 8, &error), -1);
	ck_assert_ptr_nonnull(error);
	ck_assert(!r.done);

	/* Short lines count the same. */
	smtp_reply_reset(&r);
	feed_many(&r, SMTP_REPLY_LINES_MAX, 4);
	ck_assert_int_eq(feed(&r, "250"), -1);
	smtp_reply_deinit(&r);
}
END_TEST

START_TEST(test_after_done)
{
	struct smtp_reply r;
	const char	*error = NULL;

	smtp_reply_init(&r);
	ck_assert_int_eq(feed(&r, "250 ok"), 1);
	ck_assert_int_eq(smtp_reply_line(&r, "250 again", 9, &error), -1);
	ck_assert_ptr_nonnull(error);
	/* The reply is left as it was. */
	ck_assert(r.done);
	ck_assert_uint_eq(r.nlines, 1);
	ck_assert_str_eq(buf_cstr(&r.lines), "ok\n");
	smtp_reply_deinit(&r);
}
END_TEST

START_TEST(test_reset_reuse)
{
	struct smtp_reply r;
	char		 sum[64];

	smtp_reply_init(&r);
	ck_assert_int_eq(feed(&r, "550-5.1.1 <a@b>: Recipient address "
	    "rejected"), 0);
	ck_assert_int_eq(feed(&r, "550 5.1.1 User unknown"), 1);
	ck_assert_str_eq(r.dsn, "5.1.1");
	smtp_reply_reset(&r);
	ck_assert_uint_eq(r.code, 0);
	ck_assert_str_eq(r.dsn, "");
	ck_assert_uint_eq(r.nlines, 0);
	ck_assert(!r.done);
	ck_assert_uint_eq(r.lines.len, 0);
	ck_assert_str_eq(smtp_reply_summary(&r, sum, sizeof(sum)), "");
	ck_assert_int_eq(feed(&r, "250 2.0.0 Ok"), 1);
	ck_assert_uint_eq(r.code, 250);
	ck_assert_str_eq(r.dsn, "2.0.0");
	ck_assert_str_eq(smtp_reply_summary(&r, sum, sizeof(sum)),
	    "250 2.0.0 Ok");
	/* Reset after an error, and twice in a row. */
	smtp_reply_reset(&r);
	ck_assert_int_eq(feed(&r, "250-x"), 0);
	ck_assert_int_eq(feed(&r, "25"), -1);
	smtp_reply_reset(&r);
	smtp_reply_reset(&r);
	ck_assert_int_eq(feed(&r, "421 4.4.2 timeout"), 1);
	ck_assert_str_eq(r.dsn, "4.4.2");
	smtp_reply_deinit(&r);
	/* deinit of a fresh reply. */
	smtp_reply_init(&r);
	smtp_reply_deinit(&r);
}
END_TEST

struct dsn_case {
	const char	*line;
	const char	*dsn;
};

static const struct dsn_case dsn_cases[] = {
	{ "250 2.0.0 Ok: queued as 4Xz", "2.0.0" },
	{ "550 5.1.1 <nobody@example.org>: User unknown", "5.1.1" },
	{ "451 4.7.1 Try again later", "4.7.1" },
	{ "552 5.3.4", "5.3.4" },
	{ "554 5.999.999 x", "5.999.999" },
	{ "550 5.0.0 x", "5.0.0" },
	{ "550 5.10.10 x", "5.10.10" },
	{ "550 5.100.0 x", "5.100.0" },
	{ "550-5.7.1 first line counts", "5.7.1" },
	/* bad */
	{ "250 5.1.1 class mismatch", "" },
	{ "550 4.1.1 class mismatch", "" },
	{ "354 3.0.0 class 3 is none", "" },
	{ "550 6.1.1 x", "" },
	{ "550 5.01.1 x", "" },
	{ "550 5.1.01 x", "" },
	{ "550 5.00.1 x", "" },
	{ "550 5.1.1000 x", "" },
	{ "550 5.1000.1 x", "" },
	{ "550 5.1 x", "" },
	{ "550 5.1", "" },
	{ "550 5.1.", "" },
	{ "550 5..1 x", "" },
	{ "550 5.1.1x", "" },
	{ "550 5.1.1: x", "" },
	{ "550 5.1.1\tx", "" },
	{ "550 5.1.1.1 x", "" },
	{ "550 5 x", "" },
	{ "550 5", "" },
	{ "550  5.1.1 leading space", "" },
	{ "550 x5.1.1", "" },
	{ "550 +5.1.1", "" },
	{ "550 5.-1.1 x", "" },
	{ "550", "" },
	{ "550 ", "" },
};

START_TEST(test_dsn)
{
	const struct dsn_case *c = &dsn_cases[_i];
	struct smtp_reply r;
	const char	*error = NULL;
	size_t		 len;
	int		 ret;

	smtp_reply_init(&r);
	ret = smtp_reply_line(&r, c->line, strlen(c->line), &error);
	ck_assert_msg(ret == 1 || ret == 0, "%s: %s", c->line,
	    ret == -1 ? error : "");
	ck_assert_msg(strcmp(r.dsn, c->dsn) == 0, "%s: dsn \"%s\", want \"%s\"",
	    c->line, r.dsn, c->dsn);
	/* The enhanced code stays in the text. */
	len = strlen(c->line);
	ck_assert_uint_eq(r.lines.len, len > 4 ? len - 4 + 1 : 1);
	ck_assert(memcmp(r.lines.data, c->line + (len > 4 ? 4 : len),
	    r.lines.len - 1) == 0);
	ck_assert_int_eq(r.lines.data[r.lines.len - 1], '\n');
	smtp_reply_deinit(&r);
}
END_TEST

START_TEST(test_dsn_first_line_only)
{
	struct smtp_reply r;

	smtp_reply_init(&r);
	ck_assert_int_eq(feed(&r, "550-Recipient rejected"), 0);
	ck_assert_int_eq(feed(&r, "550 5.1.1 User unknown"), 1);
	ck_assert_str_eq(r.dsn, "");
	smtp_reply_deinit(&r);
}
END_TEST

START_TEST(test_summary_join)
{
	static const char *const lines[] = {
		"550-5.1.1 The email account that you tried to reach does",
		"550-5.1.1 not exist.",
		"550-",
		"550 5.1.1 https://support.example/?p=NoSuchUser x1si",
	};
	struct smtp_reply r;
	char		 sum[256];

	smtp_reply_init(&r);
	feed_all(&r, lines, N_ELEMENTS(lines));
	ck_assert_str_eq(smtp_reply_summary(&r, sum, sizeof(sum)),
	    "550 5.1.1 The email account that you tried to reach does "
	    "5.1.1 not exist. "
	    "5.1.1 https://support.example/?p=NoSuchUser x1si");
	smtp_reply_reset(&r);
	ck_assert_int_eq(feed(&r, "221"), 1);
	ck_assert_str_eq(smtp_reply_summary(&r, sum, sizeof(sum)), "221");
	smtp_reply_reset(&r);
	/* An unfinished reply summarises what came. */
	ck_assert_int_eq(feed(&r, "421-going"), 0);
	ck_assert_str_eq(smtp_reply_summary(&r, sum, sizeof(sum)),
	    "421 going");
	smtp_reply_deinit(&r);
}
END_TEST

START_TEST(test_summary_cut)
{
	struct smtp_reply r;
	char		 sum[16];
	size_t		 size;

	smtp_reply_init(&r);
	ck_assert_int_eq(feed(&r, "451-abc"), 0);
	ck_assert_int_eq(feed(&r, "451 defghijklmnop"), 1);
	/* Whole: "451 abc defghijklmnop" (21 bytes). */
	memset(sum, 'Z', sizeof(sum));
	ck_assert_str_eq(smtp_reply_summary(&r, sum, sizeof(sum)),
	    "451 abc defghij");
	memset(sum, 'Z', sizeof(sum));
	ck_assert_str_eq(smtp_reply_summary(&r, sum, 4), "451");
	ck_assert_int_eq(sum[4], 'Z');
	ck_assert_str_eq(smtp_reply_summary(&r, sum, 5), "451");
	ck_assert_str_eq(smtp_reply_summary(&r, sum, 6), "451 a");
	ck_assert_str_eq(smtp_reply_summary(&r, sum, 8), "451 abc");
	/* A cut right after the separator drops it. */
	ck_assert_str_eq(smtp_reply_summary(&r, sum, 9), "451 abc");
	ck_assert_str_eq(smtp_reply_summary(&r, sum, 10), "451 abc d");
	/* Below the documented minimum it still terminates. */
	ck_assert_str_eq(smtp_reply_summary(&r, sum, 3), "45");
	ck_assert_str_eq(smtp_reply_summary(&r, sum, 1), "");
	sum[0] = 'Z';
	ck_assert_ptr_eq(smtp_reply_summary(&r, sum, 0), sum);
	ck_assert_int_eq(sum[0], 'Z');
	/* Never a byte past size. */
	for (size = 1; size <= sizeof(sum); size++) {
		memset(sum, 'Z', sizeof(sum));
		(void)smtp_reply_summary(&r, sum, size);
		ck_assert_uint_lt(strlen(sum), size);
		if (size < sizeof(sum))
			ck_assert_int_eq(sum[size], 'Z');
	}
	smtp_reply_deinit(&r);
}
END_TEST

START_TEST(test_summary_sanitise)
{
	static const char line[] = "554 a\0b\tc\rd\x1b[31me\x7f\x80\xff"
	    "\xc3\xa9~ !";
	struct smtp_reply r;
	const char	*error = NULL;
	char		 sum[64];

	smtp_reply_init(&r);
	ck_assert_int_eq(smtp_reply_line(&r, line, sizeof(line) - 1, &error),
	    1);
	ck_assert_str_eq(smtp_reply_summary(&r, sum, sizeof(sum)),
	    "554 a?b?c?d?[31me?????~ !");
	smtp_reply_deinit(&r);
}
END_TEST

START_TEST(test_summary_large)
{
	struct smtp_reply r;
	char		*sum;
	size_t		 size, i;

	/* The largest reply fits a large enough buffer exactly. */
	smtp_reply_init(&r);
	feed_many(&r, SMTP_REPLY_LINES_MAX - 1, SMTP_REPLY_LINE_MAX);
	ck_assert_int_eq(feed(&r, "250 end"), 1);
	size = 3 + (size_t)(SMTP_REPLY_LINES_MAX - 1) *
	    (SMTP_REPLY_LINE_MAX - 3) + 4 + 1;
	sum = malloc(size);
	ck_assert_ptr_nonnull(sum);
	(void)smtp_reply_summary(&r, sum, size);
	ck_assert_uint_eq(strlen(sum), size - 1);
	ck_assert(strncmp(sum, "250 kkkk", 8) == 0);
	ck_assert_str_eq(sum + size - 5, " end");
	for (i = 0; i < size - 1; i++)
		ck_assert(sum[i] == ' ' || sum[i] == 'k' ||
		    (sum[i] >= '0' && sum[i] <= '9') ||
		    strchr("end", sum[i]) != NULL);
	free(sum);
	smtp_reply_deinit(&r);
}
END_TEST

/* A Postfix 3.7 EHLO reply with broken_sasl_auth_clients = yes. */
static const char *const postfix_ehlo[] = {
	"250-mail.example.org",
	"250-PIPELINING",
	"250-SIZE 10240000",
	"250-VRFY",
	"250-ETRN",
	"250-STARTTLS",
	"250-AUTH PLAIN LOGIN",
	"250-AUTH=PLAIN LOGIN",
	"250-ENHANCEDSTATUSCODES",
	"250-8BITMIME",
	"250-DSN",
	"250-SMTPUTF8",
	"250 CHUNKING",
};

START_TEST(test_ehlo_postfix)
{
	struct smtp_reply r;
	struct smtp_ehlo e;

	smtp_reply_init(&r);
	feed_all(&r, postfix_ehlo, N_ELEMENTS(postfix_ehlo));
	memset(&e, 0xa5, sizeof(e));
	smtp_ehlo_parse(&r, &e);
	ck_assert(e.starttls);
	ck_assert(e.pipelining);
	ck_assert(e.eightbitmime);
	ck_assert(e.smtputf8);
	ck_assert(e.dsn);
	ck_assert(e.chunking);
	ck_assert(!e.binarymime);
	ck_assert(e.enhancedstatuscodes);
	ck_assert(e.size);
	ck_assert_uint_eq(e.size_max, 10240000);
	ck_assert(e.auth);
	ck_assert(e.auth_plain);
	ck_assert(e.auth_login);
	smtp_reply_deinit(&r);
}
END_TEST

/* Parses a reply given as lines; the reply must complete. */
static void
ehlo_of(const char *const *lines, size_t n, struct smtp_ehlo *e)
{
	struct smtp_reply r;

	smtp_reply_init(&r);
	feed_all(&r, lines, n);
	smtp_ehlo_parse(&r, e);
	smtp_reply_deinit(&r);
}

START_TEST(test_ehlo_case_and_forms)
{
	static const char *const l1[] = {
		"250-mx Hello STARTTLS SIZE 5",	/* greeting: not keywords */
		"250-starttls",
		"250-Size",
		"250-auth=login",
		"250-BinaryMime",
		"250 EnhancedStatusCodes",
	};
	static const char *const l2[] = {
		"250-mx",
		"250-AUTH  CRAM-MD5   XOAUTH2 plain ",
		"250-SIZE 18446744073709551615",
		"250-STARTTLSX",
		"250-8BITMIME=yes",
		"250-X-PIPELINING",
		"250 DSN extra params",
	};
	static const char *const l3[] = {
		"250-mx",
		"250-AUTH",
		"250-AUTH=",
		"250 SIZE 18446744073709551616",
	};
	static const char *const l4[] = {
		"250-mx",
		"250-SIZE -1",
		"250 ",
	};
	static const char *const l5[] = {
		"250-mx",
		"250-SIZE 000000000000000000001",	/* 21 digits */
		"250 AUTHPLAIN",
	};
	static const char *const l6[] = {
		"250-mx",
		"250-SIZE 00000000000000000001",	/* 20 digits */
		"250- STARTTLS",			/* leading space */
		"250 SIZE",
	};
	static const char *const l7[] = {
		"250-mx",
		"250-SIZE 1e6",
		"250 AUTH=PLAIN",
	};
	static const char *const l8[] = {
		"250 mx.example.org",
	};
	struct smtp_ehlo e;

	ehlo_of(l1, N_ELEMENTS(l1), &e);
	ck_assert(e.starttls);
	ck_assert(e.size);
	ck_assert_uint_eq(e.size_max, 0);
	ck_assert(e.auth);
	ck_assert(e.auth_login);
	ck_assert(!e.auth_plain);
	ck_assert(e.binarymime);
	ck_assert(e.enhancedstatuscodes);
	ck_assert(!e.pipelining);

	ehlo_of(l2, N_ELEMENTS(l2), &e);
	ck_assert(e.auth);
	ck_assert(e.auth_plain);
	ck_assert(!e.auth_login);
	ck_assert(e.size);
	ck_assert_uint_eq(e.size_max, UINT64_MAX);
	ck_assert(!e.starttls);
	ck_assert(!e.eightbitmime);
	ck_assert(!e.pipelining);
	ck_assert(e.dsn);

	ehlo_of(l3, N_ELEMENTS(l3), &e);
	ck_assert(e.auth);
	ck_assert(!e.auth_plain);
	ck_assert(!e.auth_login);
	ck_assert(e.size);
	ck_assert_uint_eq(e.size_max, 0);

	ehlo_of(l4, N_ELEMENTS(l4), &e);
	ck_assert(e.size);
	ck_assert_uint_eq(e.size_max, 0);

	ehlo_of(l5, N_ELEMENTS(l5), &e);
	ck_assert(e.size);
	ck_assert_uint_eq(e.size_max, 0);
	ck_assert(!e.auth);

	ehlo_of(l6, N_ELEMENTS(l6), &e);
	ck_assert(e.starttls);
	ck_assert(e.size);
	/* The last SIZE line wins. */
	ck_assert_uint_eq(e.size_max, 0);

	ehlo_of(l7, N_ELEMENTS(l7), &e);
	ck_assert(e.size);
	ck_assert_uint_eq(e.size_max, 0);
	ck_assert(e.auth);
	ck_assert(e.auth_plain);

	/* Greeting only: nothing offered (RFC 5321 EHLO without keywords). */
	memset(&e, 0xa5, sizeof(e));
	ehlo_of(l8, N_ELEMENTS(l8), &e);
	ck_assert(!e.starttls);
	ck_assert(!e.size);
	ck_assert(!e.auth);
	ck_assert_uint_eq(e.size_max, 0);
}
END_TEST

START_TEST(test_ehlo_twenty_digits)
{
	static const char *const lines[] = {
		"250-mx",
		"250 SIZE 00000000000000000042",
	};
	struct smtp_ehlo e;

	ehlo_of(lines, N_ELEMENTS(lines), &e);
	ck_assert(e.size);
	ck_assert_uint_eq(e.size_max, 42);
}
END_TEST

START_TEST(test_ehlo_not_250)
{
	static const char *const rejected[] = {
		"554-mx says go away",
		"554-STARTTLS",
		"554 AUTH PLAIN",
	};
	struct smtp_reply r;
	struct smtp_ehlo e;

	ehlo_of(rejected, N_ELEMENTS(rejected), &e);
	ck_assert(!e.starttls);
	ck_assert(!e.auth);
	/* An unfinished 250 reply offers nothing yet. */
	smtp_reply_init(&r);
	ck_assert_int_eq(feed(&r, "250-mx"), 0);
	ck_assert_int_eq(feed(&r, "250-STARTTLS"), 0);
	memset(&e, 0xa5, sizeof(e));
	smtp_ehlo_parse(&r, &e);
	ck_assert(!e.starttls);
	ck_assert_uint_eq(e.size_max, 0);
	/* Nor an empty one. */
	smtp_reply_reset(&r);
	smtp_ehlo_parse(&r, &e);
	ck_assert(!e.starttls);
	smtp_reply_deinit(&r);
}
END_TEST

START_TEST(test_ehlo_binary)
{
	static const char l2[] = "250-STARTTLS\0PIPELINING";
	static const char l3[] = "250-\xff" "AUTH PLAIN";
	static const char l4[] = "250 SIZE 12\0003";
	struct smtp_reply r;
	struct smtp_ehlo e;
	const char	*error = NULL;

	smtp_reply_init(&r);
	ck_assert_int_eq(feed(&r, "250-mx"), 0);
	ck_assert_int_eq(smtp_reply_line(&r, l2, sizeof(l2) - 1, &error), 0);
	ck_assert_int_eq(smtp_reply_line(&r, l3, sizeof(l3) - 1, &error), 0);
	ck_assert_int_eq(smtp_reply_line(&r, l4, sizeof(l4) - 1, &error), 1);
	smtp_ehlo_parse(&r, &e);
	/* A NUL does not end a keyword early, nor a number. */
	ck_assert(!e.starttls);
	ck_assert(!e.pipelining);
	ck_assert(!e.auth);
	ck_assert(e.size);
	ck_assert_uint_eq(e.size_max, 0);
	smtp_reply_deinit(&r);
}
END_TEST

static Suite *
smtp_reply_suite(void)
{
	Suite	*s = suite_create("smtp_reply");
	TCase	*tc;

	tc = tcase_create("line");
	tcase_add_test(tc, test_single_line);
	tcase_add_test(tc, test_multi_line);
	tcase_add_test(tc, test_bare_code);
	tcase_add_test(tc, test_code_mismatch);
	tcase_add_test(tc, test_code_range);
	tcase_add_test(tc, test_non_digits);
	tcase_add_test(tc, test_fourth_byte);
	tcase_add_test(tc, test_line_max);
	tcase_add_test(tc, test_lines_max);
	tcase_add_test(tc, test_after_done);
	tcase_add_test(tc, test_reset_reuse);
	suite_add_tcase(s, tc);

	tc = tcase_create("dsn");
	tcase_add_loop_test(tc, test_dsn, 0, (int)N_ELEMENTS(dsn_cases));
	tcase_add_test(tc, test_dsn_first_line_only);
	suite_add_tcase(s, tc);

	tc = tcase_create("summary");
	tcase_add_test(tc, test_summary_join);
	tcase_add_test(tc, test_summary_cut);
	tcase_add_test(tc, test_summary_sanitise);
	tcase_add_test(tc, test_summary_large);
	suite_add_tcase(s, tc);

	tc = tcase_create("ehlo");
	tcase_add_test(tc, test_ehlo_postfix);
	tcase_add_test(tc, test_ehlo_case_and_forms);
	tcase_add_test(tc, test_ehlo_twenty_digits);
	tcase_add_test(tc, test_ehlo_not_250);
	tcase_add_test(tc, test_ehlo_binary);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(smtp_reply_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
