/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for imapd/imap_parse.c: the scanner (complete commands,
 * pipelining, literals of every kind and their limits, byte-by-byte
 * feeding against all-at-once, recovery with imap_scan_skip()), the
 * generic parser (every argument type, nesting and argument limits, FETCH
 * sections) and each typed parser, valid and invalid, with every limit at
 * its maximum and one over.
 */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <check.h>

#include "common/buf.h"
#include "common/xmalloc.h"
#include "imapd/imap_parse.h"

#include "common/banned.h"

static struct imap_limits	lim;
static struct imap_cmd		cmd;

static void
setup(void)
{
	imap_limits_init(&lim);
	imap_parse_cmd_init(&cmd);
}

static void
teardown(void)
{
	imap_parse_cmd_deinit(&cmd);
}

/* Parses s (NUL-terminated) into cmd; returns the result. */
static int
parse(const char *s, const char **error_r)
{
	*error_r = NULL;
	return imap_parse_command(s, strlen(s), &lim, &cmd, error_r);
}

/* Parses s, which must be valid. */
static void
parse_ok(const char *s)
{
	const char	*error = NULL;

	if (parse(s, &error) != 0)
		ck_abort_msg("parse of \"%s\" failed: %s", s, error);
}

/* A NUL-terminated string of n copies of c followed by tail. */
static char *
repeat(char c, size_t n, const char *tail)
{
	size_t	tl = strlen(tail);
	char	*s = xmalloc(n + tl + 1);

	memset(s, c, n);
	memcpy(s + n, tail, tl + 1);
	return s;
}

/* ---- scanner ------------------------------------------------------------- */

static enum imap_scan_result
scan_str(struct imap_scan *st, const char *s)
{
	return imap_scan(s, strlen(s), st, &lim);
}

START_TEST(test_scan_simple)
{
	struct imap_scan	st;
	const char		*s = "a1 NOOP\r\n";

	imap_scan_init(&st, 0);
	ck_assert_int_eq(imap_scan(s, 3, &st, &lim), IMAP_SCAN_NEED_MORE);
	ck_assert_int_eq(imap_scan(s, 8, &st, &lim), IMAP_SCAN_NEED_MORE);
	ck_assert_int_eq(scan_str(&st, s), IMAP_SCAN_COMPLETE);
	ck_assert_uint_eq(st.cmd_len, 9);
	ck_assert_uint_eq(st.tag_len, 2);
	ck_assert_uint_eq(st.name_off, 3);
	ck_assert_uint_eq(st.name_len, 4);
	/* COMPLETE repeats until init */
	ck_assert_int_eq(scan_str(&st, s), IMAP_SCAN_COMPLETE);

	/* a bare LF ends a line too */
	imap_scan_init(&st, 0);
	ck_assert_int_eq(scan_str(&st, "a NOOP\n"), IMAP_SCAN_COMPLETE);
	ck_assert_uint_eq(st.cmd_len, 7);

	/* an invalid tag leaves tag_len 0 */
	imap_scan_init(&st, 0);
	ck_assert_int_eq(scan_str(&st, "a+b NOOP\r\n"), IMAP_SCAN_COMPLETE);
	ck_assert_uint_eq(st.tag_len, 0);
}
END_TEST

START_TEST(test_scan_pipelined)
{
	struct imap_scan	 st;
	const char		*s = "a NOOP\r\nb LOGIN {3}\r\nbob x\r\nc LOGOUT\r\n";
	size_t			 off = 0, n = strlen(s);
	int			 cmds = 0;
	enum imap_scan_result	 r;

	while (off < n) {
		imap_scan_init(&st, 0);
		while ((r = imap_scan(s + off, n - off, &st, &lim)) ==
		    IMAP_SCAN_LITERAL)
			;
		ck_assert_int_eq(r, IMAP_SCAN_COMPLETE);
		ck_assert_int_eq(imap_parse_command(s + off, st.cmd_len, &lim,
		    &cmd, &(const char *){ NULL }), 0);
		off += st.cmd_len;
		cmds++;
	}
	ck_assert_int_eq(cmds, 3);
	ck_assert_str_eq(cmd.name, "LOGOUT");
}
END_TEST

START_TEST(test_scan_literal)
{
	struct imap_scan	 st;
	const char		*s = "a LOGIN {3}\r\nbob {4+}\r\np\0ss\r\n";
	size_t			 n = 29;
	const char		*error;

	lim.literal_plus = true;
	imap_scan_init(&st, 0);
	ck_assert_int_eq(imap_scan(s, 13, &st, &lim), IMAP_SCAN_LITERAL);
	ck_assert_uint_eq(st.lit_size, 3);
	ck_assert(st.lit_sync);
	ck_assert(!st.lit_binary);
	ck_assert(!st.lit_message);
	ck_assert_uint_eq(st.lit_start, 8);
	ck_assert_uint_eq(st.lit_offset, 13);
	ck_assert_int_eq(imap_scan(s, 15, &st, &lim), IMAP_SCAN_NEED_MORE);
	ck_assert_int_eq(imap_scan(s, 22, &st, &lim), IMAP_SCAN_NEED_MORE);
	ck_assert_int_eq(imap_scan(s, 23, &st, &lim), IMAP_SCAN_LITERAL);
	ck_assert(!st.lit_sync);
	ck_assert_uint_eq(st.lit_size, 4);
	ck_assert_uint_eq(st.nliterals, 2);
	/* the NUL is in a literal, where the scanner allows it */
	ck_assert_int_eq(imap_scan(s, 28, &st, &lim), IMAP_SCAN_NEED_MORE);
	ck_assert_int_eq(imap_scan(s, n, &st, &lim), IMAP_SCAN_COMPLETE);
	ck_assert_uint_eq(st.cmd_len, n);
	ck_assert_int_eq(imap_parse_command(s, n, &lim, &cmd, &error), 0);
	ck_assert_uint_eq(cmd.nargs, 2);
	ck_assert_int_eq(cmd.args->type, IMAP_ARG_LITERAL);
	ck_assert(cmd.args->next->has_nul);
	/* LOGIN refuses a password holding NUL */
	ck_assert_int_eq(imap_parse_login(&cmd, &(struct imap_str){ 0 },
	    &(struct imap_str){ 0 }, &error), -1);
}
END_TEST

/*
 * Feeds s one byte at a time and all at once, recording every non-
 * NEED_MORE result with its offsets; both must match.
 */
struct scan_event {
	enum imap_scan_result	r;
	size_t			at;
	uint64_t		size;
	size_t			offset;
};

static unsigned int
scan_events(const char *s, size_t n, size_t step, struct scan_event *ev,
    unsigned int max)
{
	struct imap_scan	st;
	enum imap_scan_result	r;
	unsigned int		k = 0;
	size_t			have = 0, base = 0;

	imap_scan_init(&st, 0);
	for (;;) {
		r = imap_scan(s + base, have, &st, &lim);
		if (r == IMAP_SCAN_NEED_MORE) {
			if (base + have >= n)
				break;
			have += step;
			if (base + have > n)
				have = n - base;
			continue;
		}
		ev[k].r = r;
		ev[k].at = base;
		ev[k].size = r == IMAP_SCAN_LITERAL ? st.lit_size : 0;
		ev[k].offset = r == IMAP_SCAN_LITERAL ? st.lit_offset :
		    st.cmd_len;
		if (r == IMAP_SCAN_ERROR || ++k >= max)
			break;
		if (r == IMAP_SCAN_COMPLETE) {
			base += st.cmd_len;
			have -= st.cmd_len;
			imap_scan_init(&st, 0);
		}
	}
	return k;
}

START_TEST(test_scan_bytewise)
{
	static const char s[] =
	    "a1 LOGIN {5}\r\nalice {6+}\r\nsecret\r\n"
	    "a2 APPEND INBOX (\\Seen) {11}\r\nhello\0world\r\n"
	    "a3 FETCH 1:* (BODY.PEEK[HEADER.FIELDS (FROM)])\r\n"
	    "a4 SEARCH TEXT {3+}\r\n{3}\r\n"
	    "a5 APPEND {4}\r\nDraf {0}\r\n\r\n"
	    "a6 NOOP\n";
	struct scan_event	one[32], all[32];
	unsigned int		n1, n2, i;
	size_t			step;

	lim.literal_plus = true;
	n2 = scan_events(s, sizeof(s) - 1, sizeof(s), all, 32);
	ck_assert_uint_eq(n2, 12);
	for (step = 1; step <= 7; step++) {
		n1 = scan_events(s, sizeof(s) - 1, step, one, 32);
		ck_assert_uint_eq(n1, n2);
		for (i = 0; i < n1; i++) {
			ck_assert_int_eq(one[i].r, all[i].r);
			ck_assert_uint_eq(one[i].at, all[i].at);
			ck_assert_uint_eq(one[i].size, all[i].size);
			ck_assert_uint_eq(one[i].offset, all[i].offset);
		}
	}
	ck_assert_int_eq(all[11].r, IMAP_SCAN_COMPLETE);
	ck_assert_int_eq(all[9].r, IMAP_SCAN_LITERAL);
	ck_assert_uint_eq(all[9].size, 0);
}
END_TEST

START_TEST(test_scan_linear)
{
	struct imap_scan	 st;
	char			*s;
	size_t			 n, i;

	/* A line of the maximum length fed byte by byte: O(n) in total. */
	s = repeat('a', IMAP_PARSE_DEF_MAX_LINE - 2, "\r\n");
	s[1] = ' ';
	n = strlen(s);
	imap_scan_init(&st, 0);
	for (i = 1; i < n; i++)
		ck_assert_int_eq(imap_scan(s, i, &st, &lim),
		    IMAP_SCAN_NEED_MORE);
	ck_assert_int_eq(imap_scan(s, n, &st, &lim), IMAP_SCAN_COMPLETE);
	ck_assert_uint_eq(st.cmd_len, IMAP_PARSE_DEF_MAX_LINE);
	free(s);
}
END_TEST

START_TEST(test_scan_line_limit)
{
	struct imap_scan	 st;
	char			*s;

	lim.max_line = 100;
	/* 100 bytes with CRLF: fine */
	s = repeat('x', 98, "\r\n");
	memcpy(s, "a NOOP ", 7);
	imap_scan_init(&st, 0);
	ck_assert_int_eq(scan_str(&st, s), IMAP_SCAN_COMPLETE);
	free(s);
	/* 101: too long, with or without the LF in yet */
	s = repeat('x', 99, "\r\n");
	memcpy(s, "a NOOP ", 7);
	imap_scan_init(&st, 0);
	ck_assert_int_eq(scan_str(&st, s), IMAP_SCAN_ERROR);
	ck_assert_int_eq(st.error, IMAP_SCAN_E_LINE_TOO_LONG);
	ck_assert_uint_eq(st.tag_len, 1);
	imap_scan_init(&st, 0);
	ck_assert_int_eq(imap_scan(s, 99, &st, &lim), IMAP_SCAN_NEED_MORE);
	ck_assert_int_eq(imap_scan(s, 100, &st, &lim), IMAP_SCAN_ERROR);
	ck_assert_int_eq(st.error, IMAP_SCAN_E_LINE_TOO_LONG);
	free(s);
	/* with a bare LF, 100 bytes is 99 + LF */
	s = repeat('x', 99, "\n");
	memcpy(s, "a NOOP ", 7);
	imap_scan_init(&st, 0);
	ck_assert_int_eq(scan_str(&st, s), IMAP_SCAN_COMPLETE);
	free(s);
	/* the limit is per line: a continuation line after a literal */
	s = repeat('y', 98, "\r\n");
	memcpy(s, "a {1}\r\nz", 8);
	imap_scan_init(&st, 0);
	ck_assert_int_eq(scan_str(&st, s), IMAP_SCAN_LITERAL);
	ck_assert_int_eq(scan_str(&st, s), IMAP_SCAN_COMPLETE);
	free(s);
	s = repeat('y', 99 + 8, "\r\n");
	memcpy(s, "a {1}\r\nz", 8);
	imap_scan_init(&st, 0);
	ck_assert_int_eq(scan_str(&st, s), IMAP_SCAN_LITERAL);
	ck_assert_int_eq(scan_str(&st, s), IMAP_SCAN_ERROR);
	free(s);
}
END_TEST

START_TEST(test_scan_nul)
{
	struct imap_scan	st;
	static const char	s[] = "tag LOGIN a\0b c\r\n";

	imap_scan_init(&st, 0);
	ck_assert_int_eq(imap_scan(s, sizeof(s) - 1, &st, &lim),
	    IMAP_SCAN_ERROR);
	ck_assert_int_eq(st.error, IMAP_SCAN_E_NUL);
	ck_assert_uint_eq(st.tag_len, 3);
	/* and byte by byte */
	imap_scan_init(&st, 0);
	ck_assert_int_eq(imap_scan(s, 11, &st, &lim), IMAP_SCAN_NEED_MORE);
	ck_assert_int_eq(imap_scan(s, 12, &st, &lim), IMAP_SCAN_ERROR);
	ck_assert_int_eq(st.error, IMAP_SCAN_E_NUL);
}
END_TEST

START_TEST(test_scan_literal_limits)
{
	struct imap_scan	st;

	lim.max_literal = 100;
	lim.max_append = 1000;
	imap_scan_init(&st, 0);
	ck_assert_int_eq(scan_str(&st, "a LOGIN {100}\r\n"), IMAP_SCAN_LITERAL);
	imap_scan_init(&st, 0);
	ck_assert_int_eq(scan_str(&st, "a LOGIN {101}\r\n"), IMAP_SCAN_ERROR);
	ck_assert_int_eq(st.error, IMAP_SCAN_E_LITERAL_TOO_BIG);
	ck_assert(st.lit_sync);
	ck_assert_uint_eq(st.lit_size, 101);
	/* APPEND's message has its own limit */
	imap_scan_init(&st, 0);
	ck_assert_int_eq(scan_str(&st, "a APPEND INBOX {1000}\r\n"),
	    IMAP_SCAN_LITERAL);
	ck_assert(st.lit_message);
	imap_scan_init(&st, 0);
	ck_assert_int_eq(scan_str(&st, "a append INBOX (\\Seen) {1001}\r\n"),
	    IMAP_SCAN_ERROR);
	ck_assert_int_eq(st.error, IMAP_SCAN_E_LITERAL_TOO_BIG);
	ck_assert(st.lit_message);
	/* the mailbox-name literal right after APPEND is not the message */
	imap_scan_init(&st, 0);
	ck_assert_int_eq(scan_str(&st, "a APPEND {101}\r\n"), IMAP_SCAN_ERROR);
	ck_assert(!st.lit_message);
	imap_scan_init(&st, 0);
	ck_assert_int_eq(scan_str(&st, "a APPEND {5}\r\nINBOX {1000}\r\n"),
	    IMAP_SCAN_LITERAL);
	ck_assert(!st.lit_message);
	ck_assert_int_eq(scan_str(&st, "a APPEND {5}\r\nINBOX {1000}\r\n"),
	    IMAP_SCAN_LITERAL);
	ck_assert(st.lit_message);
	ck_assert_uint_eq(st.lit_size, 1000);
}
END_TEST

START_TEST(test_scan_literal_huge)
{
	struct imap_scan	st;
	size_t			drop;

	/* 4 GB announced: refused at once, nothing allocated or waited for */
	lim.max_append = IMAP_PARSE_DEF_MAX_APPEND;
	imap_scan_init(&st, 0);
	ck_assert_int_eq(scan_str(&st, "a APPEND INBOX {4294967296}\r\n"),
	    IMAP_SCAN_ERROR);
	ck_assert_int_eq(st.error, IMAP_SCAN_E_LITERAL_TOO_BIG);
	ck_assert_uint_eq(st.lit_size, 4294967296ULL);
	ck_assert_int_eq(imap_scan_skip("a APPEND INBOX {4294967296}\r\n",
	    29, &st, &drop), 1);
	ck_assert_uint_eq(drop, 29);
	/* sizes beyond 64 bits */
	imap_scan_init(&st, 0);
	ck_assert_int_eq(scan_str(&st, "a LOGIN {99999999999999999999}\r\n"),
	    IMAP_SCAN_ERROR);
	ck_assert_uint_eq(st.lit_size, UINT64_MAX);
	imap_scan_init(&st, 0);
	ck_assert_int_eq(scan_str(&st,
	    "a LOGIN {000000000000000000001}\r\n"), IMAP_SCAN_ERROR);
	ck_assert_int_eq(st.error, IMAP_SCAN_E_LITERAL_TOO_BIG);
	/* a huge non-synchronizing one cannot be skipped: close */
	lim.literal_plus = true;
	imap_scan_init(&st, 0);
	ck_assert_int_eq(scan_str(&st, "a LOGIN {99999999999999999999+}\r\n"),
	    IMAP_SCAN_ERROR);
	ck_assert_int_eq(imap_scan_skip("a LOGIN {99999999999999999999+}\r\n",
	    33, &st, &drop), -1);
}
END_TEST

START_TEST(test_scan_nonsync)
{
	struct imap_scan	st;
	char			buf[64];

	/* neither LITERAL+ nor LITERAL- */
	imap_scan_init(&st, 0);
	ck_assert_int_eq(scan_str(&st, "a LOGIN {1+}\r\n"), IMAP_SCAN_ERROR);
	ck_assert_int_eq(st.error, IMAP_SCAN_E_NONSYNC);
	ck_assert(!st.lit_sync);
	/* LITERAL-: 4096 fine, 4097 refused */
	lim.literal_minus = true;
	lim.max_literal = 10000;
	imap_scan_init(&st, 0);
	ck_assert_int_eq(scan_str(&st, "a LOGIN {4096+}\r\n"),
	    IMAP_SCAN_LITERAL);
	imap_scan_init(&st, 0);
	ck_assert_int_eq(scan_str(&st, "a LOGIN {4097+}\r\n"), IMAP_SCAN_ERROR);
	ck_assert_int_eq(st.error, IMAP_SCAN_E_LITERAL_MINUS);
	/* a synchronizing one of any size up to the limit is fine */
	imap_scan_init(&st, 0);
	ck_assert_int_eq(scan_str(&st, "a LOGIN {10000}\r\n"),
	    IMAP_SCAN_LITERAL);
	/* LITERAL+: up to the limit */
	lim.literal_plus = true;
	imap_scan_init(&st, 0);
	ck_assert_int_eq(scan_str(&st, "a LOGIN {10000+}\r\n"),
	    IMAP_SCAN_LITERAL);
	imap_scan_init(&st, 0);
	ck_assert_int_eq(scan_str(&st, "a LOGIN {10001+}\r\n"),
	    IMAP_SCAN_ERROR);
	ck_assert_int_eq(st.error, IMAP_SCAN_E_LITERAL_TOO_BIG);
	ck_assert_str_ne(imap_scan_strerror(st.error), "");
	(void)buf;
}
END_TEST

START_TEST(test_scan_literal8)
{
	struct imap_scan	st;

	imap_scan_init(&st, 0);
	ck_assert_int_eq(scan_str(&st, "a APPEND INBOX ~{5}\r\n"),
	    IMAP_SCAN_LITERAL);
	ck_assert(st.lit_binary);
	ck_assert(st.lit_message);
	ck_assert_uint_eq(st.lit_start, 15);
	imap_scan_init(&st, 0);
	ck_assert_int_eq(scan_str(&st, "a LOGIN ~{5}\r\n"), IMAP_SCAN_ERROR);
	ck_assert_int_eq(st.error, IMAP_SCAN_E_LITERAL8);
	imap_scan_init(&st, 0);
	ck_assert_int_eq(scan_str(&st, "a APPEND ~{5}\r\n"), IMAP_SCAN_ERROR);
	ck_assert_int_eq(st.error, IMAP_SCAN_E_LITERAL8);
}
END_TEST

START_TEST(test_scan_too_many_literals)
{
	struct imap_scan	 st;
	const char		*s = "a X {1}\r\na {1}\r\nb {1}\r\nc\r\n";
	int			 i;

	lim.max_literals = 2;
	imap_scan_init(&st, 0);
	for (i = 0; i < 2; i++)
		ck_assert_int_eq(scan_str(&st, s), IMAP_SCAN_LITERAL);
	ck_assert_int_eq(scan_str(&st, s), IMAP_SCAN_ERROR);
	ck_assert_int_eq(st.error, IMAP_SCAN_E_TOO_MANY_LITERALS);
	lim.max_literals = 3;
	imap_scan_init(&st, 0);
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(scan_str(&st, s), IMAP_SCAN_LITERAL);
	ck_assert_int_eq(scan_str(&st, s), IMAP_SCAN_COMPLETE);
}
END_TEST

START_TEST(test_scan_literal_taken)
{
	struct imap_scan	 st;
	struct imap_append	 app;
	char			 buf[128];
	const char		*error;
	size_t			 n;

	/* the session streams the message away and cuts its buffer */
	n = (size_t)snprintf(buf, sizeof(buf),
	    "A3 APPEND Sent (\\Seen $Label) \"05-Feb-2024 10:00:00 +0100\" "
	    "{2000}\r\nFrom: x");
	imap_scan_init(&st, 0);
	ck_assert_int_eq(imap_scan(buf, n, &st, &lim), IMAP_SCAN_LITERAL);
	ck_assert(st.lit_message);
	ck_assert_int_eq(imap_parse_append(&cmd, buf, st.lit_start, &lim,
	    &app, &error), 0);
	ck_assert_str_eq(cmd.tag, "A3");
	ck_assert_str_eq(app.mailbox.data, "Sent");
	ck_assert_uint_eq(app.flags.system, IMAP_FLAG_SEEN);
	ck_assert_uint_eq(app.flags.nkeywords, 1);
	ck_assert_str_eq(app.flags.keywords[0].data, "$Label");
	ck_assert(app.has_date);
	ck_assert_int_eq(app.zone, 60);
	n = st.lit_offset;
	imap_scan_literal_taken(&st);
	ck_assert_int_eq(imap_scan(buf, n, &st, &lim), IMAP_SCAN_NEED_MORE);
	memcpy(buf + n, "\r\n", 2);
	ck_assert_int_eq(imap_scan(buf, n + 2, &st, &lim), IMAP_SCAN_COMPLETE);
	ck_assert_uint_eq(st.cmd_len, n + 2);
	ck_assert_int_eq(imap_parse_append_next(&cmd, buf + n, 2, &lim, &app,
	    &error), 0);
	/* the first results are still valid */
	ck_assert_str_eq(cmd.tag, "A3");

	/* MULTIAPPEND syntax: a second message */
	n = (size_t)snprintf(buf, sizeof(buf), "b APPEND INBOX {3}\r\n");
	imap_scan_init(&st, 0);
	ck_assert_int_eq(imap_scan(buf, n, &st, &lim), IMAP_SCAN_LITERAL);
	imap_scan_literal_taken(&st);
	n += (size_t)snprintf(buf + n, sizeof(buf) - n, " (\\Draft) {4}\r\n");
	ck_assert_int_eq(imap_scan(buf, n, &st, &lim), IMAP_SCAN_LITERAL);
	ck_assert(st.lit_message);
	ck_assert_int_eq(imap_parse_append_next(&cmd, buf + 20,
	    st.lit_start - 20, &lim, &app, &error), 1);
	ck_assert_uint_eq(app.flags.system, IMAP_FLAG_DRAFT);
	ck_assert(!app.has_date);
	ck_assert_int_eq(imap_parse_append_next(&cmd, " x ", 3, &lim, &app,
	    &error), -1);
	ck_assert_int_eq(imap_parse_append_next(&cmd, "x\r\n", 3, &lim, &app,
	    &error), -1);
	ck_assert_int_eq(imap_parse_append_next(&cmd, "  \r\n", 4, &lim, &app,
	    &error), 0);
}
END_TEST

/* Runs imap_scan_skip() over s in chunks of step bytes after an error. */
static size_t
skip_all(struct imap_scan *st, const char *s, size_t n, size_t first,
    size_t step, int *ret_r)
{
	size_t	base = 0, have = first, drop = 0;
	int	r;

	for (;;) {
		r = imap_scan_skip(s + base, have, st, &drop);
		if (r != 0) {
			*ret_r = r;
			return base + drop;
		}
		ck_assert_uint_eq(drop, have);
		base += drop;
		if (base >= n) {
			*ret_r = 0;
			return base;
		}
		have = step > n - base ? n - base : step;
	}
}

START_TEST(test_scan_skip_line)
{
	struct imap_scan	 st;
	char			*s;
	size_t			 n, at, step;
	int			 r;

	lim.max_line = 64;
	/* an overlong line, then the next command */
	s = repeat('x', 200, "\r\nb NOOP\r\n");
	memcpy(s, "a1 SEARCH ", 10);
	n = strlen(s);
	for (step = 1; step < 80; step += 13) {
		imap_scan_init(&st, 0);
		ck_assert_int_eq(imap_scan(s, 70, &st, &lim), IMAP_SCAN_ERROR);
		ck_assert_int_eq(st.error, IMAP_SCAN_E_LINE_TOO_LONG);
		ck_assert_uint_eq(st.tag_len, 2);
		at = skip_all(&st, s, n, 70, step, &r);
		ck_assert_int_eq(r, 1);
		ck_assert_uint_eq(at, 202);
		imap_scan_init(&st, 0);
		ck_assert_int_eq(imap_scan(s + at, n - at, &st, &lim),
		    IMAP_SCAN_COMPLETE);
	}
	free(s);
	/* an overlong line announcing a non-synchronizing literal */
	lim.literal_plus = true;
	s = repeat('x', 200, "{5+}\r\nb NOO {3+}\r\nzzz\r\nc NOOP\r\n");
	memcpy(s, "a1 SEARCH ", 10);
	n = strlen(s);
	for (step = 1; step < 80; step += 7) {
		imap_scan_init(&st, 0);
		ck_assert_int_eq(imap_scan(s, 70, &st, &lim), IMAP_SCAN_ERROR);
		at = skip_all(&st, s, n, 70, step, &r);
		ck_assert_int_eq(r, 1);
		ck_assert_str_eq(s + at, "c NOOP\r\n");
	}
	free(s);
	/* a NUL, then a line that ends the command */
	imap_scan_init(&st, 0);
	ck_assert_int_eq(imap_scan("a N\0P\r\nb NOOP\r\n", 15, &st, &lim),
	    IMAP_SCAN_ERROR);
	at = skip_all(&st, "a N\0P\r\nb NOOP\r\n", 15, 15, 1, &r);
	ck_assert_int_eq(r, 1);
	ck_assert_uint_eq(at, 7);
}
END_TEST

START_TEST(test_scan_skip_literal)
{
	struct imap_scan	 st;
	const char		*s;
	size_t			 n, at, step;
	int			 r;

	/* a refused synchronizing literal ends the command at once */
	lim.max_literal = 10;
	s = "a LOGIN {11}\r\nb NOOP\r\n";
	imap_scan_init(&st, 0);
	ck_assert_int_eq(scan_str(&st, s), IMAP_SCAN_ERROR);
	at = skip_all(&st, s, strlen(s), strlen(s), 1, &r);
	ck_assert_int_eq(r, 1);
	ck_assert_str_eq(s + at, "b NOOP\r\n");
	/* a refused non-synchronizing one: its bytes are discarded */
	lim.literal_minus = true;
	s = "a LOGIN {11+}\r\nb NOOP\r\nxx {2+}\r\nyy\r\nc NOOP\r\n";
	n = strlen(s);
	for (step = 1; step < 20; step++) {
		imap_scan_init(&st, 0);
		ck_assert_int_eq(imap_scan(s, 15, &st, &lim), IMAP_SCAN_ERROR);
		ck_assert_int_eq(st.error, IMAP_SCAN_E_LITERAL_TOO_BIG);
		at = skip_all(&st, s, n, 15, step, &r);
		ck_assert_int_eq(r, 1);
		ck_assert_str_eq(s + at, "c NOOP\r\n");
	}
	/* a synchronizing one among the discarded lines ends it there */
	s = "a LOGIN {11+}\r\nb NOOP\r\nxx {2}\r\nc NOOP\r\n";
	imap_scan_init(&st, 0);
	ck_assert_int_eq(scan_str(&st, s), IMAP_SCAN_ERROR);
	at = skip_all(&st, s, strlen(s), strlen(s), 1, &r);
	ck_assert_int_eq(r, 1);
	ck_assert_str_eq(s + at, "c NOOP\r\n");
	/* skip() without an error */
	imap_scan_init(&st, 0);
	ck_assert_int_eq(imap_scan_skip(s, 3, &st, &n), -1);
}
END_TEST

START_TEST(test_scan_refuse)
{
	struct imap_scan	 st;
	const char		*s;
	size_t			 at;
	int			 r;

	/* the session says NO [TRYCREATE] to a synchronizing literal */
	s = "a APPEND Nope {10}\r\nb NOOP\r\n";
	imap_scan_init(&st, 0);
	ck_assert_int_eq(scan_str(&st, s), IMAP_SCAN_LITERAL);
	imap_scan_refuse(&st);
	ck_assert_int_eq(scan_str(&st, s), IMAP_SCAN_ERROR);
	ck_assert_int_eq(st.error, IMAP_SCAN_E_REFUSED);
	at = skip_all(&st, s, strlen(s), strlen(s), 1, &r);
	ck_assert_int_eq(r, 1);
	ck_assert_str_eq(s + at, "b NOOP\r\n");
	/* and to a non-synchronizing one, whose bytes follow */
	lim.literal_plus = true;
	s = "a APPEND Nope {10+}\r\n0123456789\r\nb NOOP\r\n";
	imap_scan_init(&st, 0);
	ck_assert_int_eq(imap_scan(s, 22, &st, &lim), IMAP_SCAN_LITERAL);
	imap_scan_refuse(&st);
	at = skip_all(&st, s, strlen(s), 22, 3, &r);
	ck_assert_int_eq(r, 1);
	ck_assert_str_eq(s + at, "b NOOP\r\n");
	/* refusing outside LITERAL does nothing */
	imap_scan_init(&st, 0);
	imap_scan_refuse(&st);
	ck_assert_int_eq(scan_str(&st, "b NOOP\r\n"), IMAP_SCAN_COMPLETE);
}
END_TEST

START_TEST(test_scan_line_mode)
{
	struct imap_scan	st;
	size_t			drop;
	int			r;

	imap_scan_init(&st, IMAP_SCAN_F_LINE);
	ck_assert_int_eq(scan_str(&st, "DONE\r\na NOOP\r\n"),
	    IMAP_SCAN_COMPLETE);
	ck_assert_uint_eq(st.cmd_len, 6);
	ck_assert(imap_parse_done("DONE\r\n", 6));
	ck_assert(imap_parse_done("done\n", 5));
	ck_assert(!imap_parse_done("DONE \r\n", 7));
	ck_assert(!imap_parse_done("a DONE\r\n", 8));
	/* no literals in line mode */
	imap_scan_init(&st, IMAP_SCAN_F_LINE);
	ck_assert_int_eq(scan_str(&st, "abc {5}\r\n"), IMAP_SCAN_COMPLETE);
	lim.max_line = 8;
	imap_scan_init(&st, IMAP_SCAN_F_LINE);
	ck_assert_int_eq(scan_str(&st, "abcdefgh{5+}\r\nX\r\n"),
	    IMAP_SCAN_ERROR);
	r = imap_scan_skip("abcdefgh{5+}\r\nX\r\n", 17, &st, &drop);
	ck_assert_int_eq(r, 1);
	ck_assert_uint_eq(drop, 14);
}
END_TEST

START_TEST(test_scan_strerror)
{
	int	e;

	for (e = IMAP_SCAN_E_NONE; e <= IMAP_SCAN_E_REFUSED; e++)
		ck_assert_ptr_nonnull(imap_scan_strerror(e));
}
END_TEST

/* ---- generic parser --------------------------------------------------------- */

START_TEST(test_parse_basic)
{
	const char		*error;
	const struct imap_arg	*a;

	parse_ok("A001 login \"fred\" {5}\r\nsmith\r\n");
	ck_assert_str_eq(cmd.tag, "A001");
	ck_assert_uint_eq(cmd.tag_len, 4);
	ck_assert_str_eq(cmd.name, "LOGIN");
	ck_assert(!cmd.uid);
	ck_assert_uint_eq(cmd.nargs, 2);
	a = cmd.args;
	ck_assert_int_eq(a->type, IMAP_ARG_STRING);
	ck_assert_str_eq(a->str, "fred");
	a = a->next;
	ck_assert_int_eq(a->type, IMAP_ARG_LITERAL);
	ck_assert_uint_eq(a->len, 5);
	ck_assert_int_eq(memcmp(a->str, "smith", 5), 0);
	ck_assert_ptr_null(a->next);

	parse_ok("x uid fetch 1:* (FLAGS)\n");
	ck_assert_str_eq(cmd.name, "FETCH");
	ck_assert(cmd.uid);
	parse_ok("x UID  EXPUNGE 1\r\n");
	ck_assert_str_eq(cmd.name, "EXPUNGE");
	ck_assert_int_eq(parse("x UID LOGIN a b\r\n", &error), -1);
	ck_assert_str_eq(cmd.tag, "x");
	ck_assert_int_eq(parse("x UID\r\n", &error), -1);

	/* tags */
	parse_ok("a]b[c NOOP\r\n");
	ck_assert_str_eq(cmd.tag, "a]b[c");
	ck_assert_int_eq(parse("a+b NOOP\r\n", &error), -1);
	ck_assert_str_eq(error, "Invalid tag");
	ck_assert_uint_eq(cmd.tag_len, 0);
	ck_assert_int_eq(parse("* NOOP\r\n", &error), -1);
	ck_assert_int_eq(parse("a%b NOOP\r\n", &error), -1);
	ck_assert_int_eq(parse("a(b NOOP\r\n", &error), -1);
	ck_assert_int_eq(parse(" NOOP\r\n", &error), -1);
	ck_assert_int_eq(parse("a1\r\n", &error), -1);
	ck_assert_str_eq(error, "Missing command name");
	ck_assert_str_eq(cmd.tag, "a1");
	ck_assert_int_eq(parse("\r\n", &error), -1);
	ck_assert_str_eq(error, "Empty command");
	ck_assert_int_eq(parse("", &error), -1);
	ck_assert_int_eq(parse("a NOOP(\r\n", &error), -1);
	ck_assert_int_eq(parse("a NOOP", &error), -1);
	ck_assert_str_eq(error, "Missing end of line");
	ck_assert_int_eq(parse("a NOOP\r", &error), -1);
	ck_assert_int_eq(parse("a NOOP\rx\n", &error), -1);
	ck_assert_int_eq(parse("a NOOP\r\nb\r\n", &error), -1);
	ck_assert_int_eq(parse("a NOOP x\ry\r\n", &error), -1);
	ck_assert_int_eq(parse("a NO\xc3\xa9P\r\n", &error), -1);

	/* command name length: at the maximum and one over */
	{
		char *t = repeat('X', IMAP_PARSE_NAME_MAX + 2, "\r\n");

		memcpy(t, "a ", 2);
		parse_ok(t);
		ck_assert_uint_eq(strlen(cmd.name), IMAP_PARSE_NAME_MAX);
		free(t);
		t = repeat('X', IMAP_PARSE_NAME_MAX + 3, "\r\n");
		memcpy(t, "a ", 2);
		ck_assert_int_eq(parse(t, &error), -1);
		free(t);
	}
}
END_TEST

START_TEST(test_parse_args)
{
	const char		*error;
	const struct imap_arg	*a;

	parse_ok("t X atom \"q\\\"uo\\\\ted\" NIL nil (a (b c) ()) \"\"\r\n");
	ck_assert_uint_eq(cmd.nargs, 6);
	a = cmd.args;
	ck_assert_int_eq(a->type, IMAP_ARG_ATOM);
	ck_assert_str_eq(a->str, "atom");
	a = a->next;
	ck_assert_int_eq(a->type, IMAP_ARG_STRING);
	ck_assert_str_eq(a->str, "q\"uo\\ted");
	ck_assert_uint_eq(a->len, 8);
	a = a->next;
	ck_assert_int_eq(a->type, IMAP_ARG_NIL);
	a = a->next;
	ck_assert_int_eq(a->type, IMAP_ARG_NIL);
	ck_assert_str_eq(a->str, "nil");
	a = a->next;
	ck_assert_int_eq(a->type, IMAP_ARG_LIST);
	ck_assert_uint_eq(a->count, 3);
	ck_assert_str_eq(a->child->str, "a");
	ck_assert_uint_eq(a->child->next->count, 2);
	ck_assert_str_eq(a->child->next->child->next->str, "c");
	ck_assert_uint_eq(a->child->next->next->count, 0);
	ck_assert_ptr_null(a->child->next->next->child);
	a = a->next;
	ck_assert_int_eq(a->type, IMAP_ARG_STRING);
	ck_assert_uint_eq(a->len, 0);

	/* lenient spacing, as Dovecot */
	parse_ok("t X  a   ( b  c )  \r\n");
	ck_assert_uint_eq(cmd.nargs, 2);
	ck_assert_uint_eq(cmd.args->next->count, 2);
	ck_assert_int_eq(parse("t X (a)(b)\r\n", &error), -1);
	ck_assert_int_eq(parse("t X \"a\"b\r\n", &error), -1);
	ck_assert_int_eq(parse("t X a)\r\n", &error), -1);
	ck_assert_int_eq(parse("t X (a\r\n", &error), -1);
	ck_assert_str_eq(error, "Missing )");
	ck_assert_int_eq(parse("t X a{b\r\n", &error), -1);

	/* quoted strings */
	ck_assert_int_eq(parse("t X \"abc\r\n", &error), -1);
	ck_assert_int_eq(parse("t X \"a\\bc\"\r\n", &error), -1);
	ck_assert_int_eq(parse("t X \"a\\", &error), -1);
	ck_assert_int_eq(imap_parse_command("t X \"a\0b\"\r\n", 11, &lim, &cmd,
	    &error), -1);
	parse_ok("t X \"caf\xc3\xa9\"\r\n");
	parse_ok("t X \"caf\xe9\"\r\n");
	lim.utf8_accept = true;
	parse_ok("t X \"caf\xc3\xa9 \xf0\x9f\x98\x80\"\r\n");
	ck_assert_int_eq(parse("t X \"caf\xe9\"\r\n", &error), -1);
	ck_assert_int_eq(parse("t X \"\xc0\xaf\"\r\n", &error), -1);
	ck_assert_int_eq(parse("t X \"\xed\xa0\x80\"\r\n", &error), -1);
	ck_assert_int_eq(parse("t X \"\xf4\x90\x80\x80\"\r\n", &error), -1);
	ck_assert_int_eq(parse("t X \"\xe2\x82\"\r\n", &error), -1);

	/* 8-bit and controls outside strings */
	ck_assert_int_eq(parse("t X caf\xc3\xa9\r\n", &error), -1);
	ck_assert_int_eq(parse("t X \xc3\xa9\r\n", &error), -1);
	ck_assert_int_eq(parse("t X a\tb\r\n", &error), -1);
	ck_assert_int_eq(parse("t X \x7f\r\n", &error), -1);

	/* "[" and "]" are atom characters outside FETCH */
	parse_ok("t SELECT a[1]\r\n");
	ck_assert_str_eq(cmd.args->str, "a[1]");
	ck_assert_ptr_null(cmd.args->section);
	/* "~" starts an atom unless "~{" */
	parse_ok("t SELECT ~user\r\n");
	ck_assert_str_eq(cmd.args->str, "~user");
}
END_TEST

START_TEST(test_parse_literals)
{
	const char	*error;
	static const char nul[] = "t X {3}\r\na\0b\r\n";

	ck_assert_int_eq(imap_parse_command(nul, sizeof(nul) - 1, &lim, &cmd,
	    &error), 0);
	ck_assert(cmd.args->has_nul);
	parse_ok("t X {0}\r\n\r\n");
	ck_assert_uint_eq(cmd.args->len, 0);
	parse_ok("t X {2+}\r\nab (x {1}\r\ny)\r\n");
	ck_assert_uint_eq(cmd.nargs, 2);
	ck_assert_int_eq(cmd.args->next->child->next->type, IMAP_ARG_LITERAL);
	parse_ok("t X {2}\nab\n");
	/* the literal takes the CR; the LF ends the line */
	parse_ok("t X {3}\r\nab\r\n");
	ck_assert_int_eq(parse("t X {4}\r\nab\r\n", &error), -1);
	ck_assert_str_eq(error, "Missing end of line");
	ck_assert_int_eq(parse("t X {3}\r\nab", &error), -1);
	ck_assert_str_eq(error, "Literal truncated");
	ck_assert_int_eq(parse("t X {2}ab\r\n", &error), -1);
	ck_assert_int_eq(parse("t X {}\r\n\r\n", &error), -1);
	ck_assert_int_eq(parse("t X {2\r\n", &error), -1);
	ck_assert_int_eq(parse("t X {99999999999999999999999}\r\n", &error),
	    -1);
	ck_assert_int_eq(parse("t X ~{1}\r\na\r\n", &error), -1);
	ck_assert_str_eq(error, "literal8 not allowed here");
	/* max_literal at the limit and one over */
	lim.max_literal = 2;
	parse_ok("t X {2}\r\nab\r\n");
	ck_assert_int_eq(parse("t X {3}\r\nabc\r\n", &error), -1);
	ck_assert_str_eq(error, "Literal too large");
}
END_TEST

/* "t X " + depth "(" + depth ")" + CRLF */
static char *
nested(unsigned int depth)
{
	char		*s = xmalloc(2 * depth + 8);
	unsigned int	 i;

	memcpy(s, "t X ", 4);
	for (i = 0; i < depth; i++) {
		s[4 + i] = '(';
		s[4 + depth + i] = ')';
	}
	memcpy(s + 4 + 2 * depth, "\r\n", 3);
	return s;
}

START_TEST(test_parse_limits)
{
	const char	*error;
	char		*s;
	struct buf	*b;
	unsigned int	 i;

	s = nested(IMAP_PARSE_DEF_MAX_DEPTH);
	parse_ok(s);
	free(s);
	s = nested(IMAP_PARSE_DEF_MAX_DEPTH + 1);
	ck_assert_int_eq(parse(s, &error), -1);
	ck_assert_str_eq(error, "Too deeply nested");
	free(s);
	/* FETCH sections count as a level */
	lim.max_depth = 3;
	parse_ok("t FETCH 1 (BODY[HEADER.FIELDS (A)])\r\n");
	ck_assert_int_eq(parse("t FETCH 1 ((BODY[HEADER.FIELDS (A)]))\r\n",
	    &error), -1);
	/* arguments */
	imap_limits_init(&lim);
	lim.max_args = 100;
	b = buf_new(0, 100000);
	ck_assert_int_eq(buf_append_str(b, "t X"), 0);
	for (i = 0; i < 99; i++)
		ck_assert_int_eq(buf_append_str(b, " a"), 0);
	ck_assert_int_eq(buf_append_str(b, " (b)\r\n"), 0);
	ck_assert_int_eq(parse(b->data, &error), -1);
	ck_assert_str_eq(error, "Too many arguments");
	buf_reset(b);
	ck_assert_int_eq(buf_append_str(b, "t X"), 0);
	for (i = 0; i < 98; i++)
		ck_assert_int_eq(buf_append_str(b, " a"), 0);
	ck_assert_int_eq(buf_append_str(b, " (b)\r\n"), 0);
	parse_ok(b->data);
	ck_assert_uint_eq(cmd.nargs, 99);
	buf_free(&b);
}
END_TEST

START_TEST(test_parse_fetch_syntax)
{
	const char		*error;
	const struct imap_arg	*a;

	parse_ok("t FETCH 1 (UID BODY.PEEK[1.2.HEADER.FIELDS (From \"To\" "
	    "{2}\r\nCc)]<0.100> BODY[] BINARY[1]<5.6>)\r\n");
	a = cmd.args->next;
	ck_assert_uint_eq(a->count, 4);
	a = a->child->next;
	ck_assert_str_eq(a->str, "BODY.PEEK");
	ck_assert_ptr_nonnull(a->section);
	ck_assert_uint_eq(a->section->count, 2);
	ck_assert_str_eq(a->section->child->str, "1.2.HEADER.FIELDS");
	ck_assert_uint_eq(a->section->child->next->count, 3);
	ck_assert_uint_eq(a->partial_len, 5);
	ck_assert_int_eq(memcmp(a->partial, "0.100", 5), 0);
	a = a->next;
	ck_assert_uint_eq(a->section->count, 0);
	ck_assert_ptr_null(a->partial);
	parse_ok("t FETCH 1 BODY[]\r\n");
	ck_assert_ptr_nonnull(cmd.args->next->section);
	ck_assert_int_eq(parse("t FETCH 1 (BODY[)\r\n", &error), -1);
	ck_assert_int_eq(parse("t FETCH 1 BODY[\r\n", &error), -1);
	ck_assert_int_eq(parse("t FETCH 1 BODY[]<\r\n", &error), -1);
	ck_assert_int_eq(parse("t FETCH 1 BODY[]<>\r\n", &error), -1);
	ck_assert_int_eq(parse("t FETCH 1 BODY[]<1.>\r\n", &error), -1);
	ck_assert_int_eq(parse("t FETCH 1 BODY[]<.1>\r\n", &error), -1);
	ck_assert_int_eq(parse("t FETCH 1 BODY[]<1.2.3>\r\n", &error), -1);
	ck_assert_int_eq(parse("t FETCH 1 BODY[]<1a>\r\n", &error), -1);
	ck_assert_int_eq(parse("t FETCH 1 BODY[]x\r\n", &error), -1);
	ck_assert_int_eq(parse("t FETCH 1 [1]\r\n", &error), -1);
	ck_assert_int_eq(parse("t FETCH 1 BODY[[]\r\n", &error), 0);
}
END_TEST

/* ---- typed parsers ------------------------------------------------------------- */

START_TEST(test_seqset_parse)
{
	static const char *const good[] = {
		"1", "*", "1:*", "*:1", "5:3", "1,3,5:7", "4294967295",
		"1:4294967295", "$", "2,2,2", "*:*",
	};
	static const char *const bad[] = {
		"", "0", "0:5", "1:0", "01", "1,", ",1", "1,,2", "1:", ":1",
		"4294967296", "99999999999", "1:2:3", "a", "1 ", "+1", "-1",
		"$,1", "1,$", "$$", "1.5", "**",
	};
	struct imap_seqset	 set;
	const char		*error;
	unsigned int		 i;

	parse_ok("t X\r\n");
	for (i = 0; i < N_ELEMENTS(good); i++) {
		if (imap_parse_seqset(&cmd, good[i], strlen(good[i]), &lim,
		    &set, &error) != 0)
			ck_abort_msg("seqset \"%s\" refused: %s", good[i], error);
	}
	for (i = 0; i < N_ELEMENTS(bad); i++) {
		if (imap_parse_seqset(&cmd, bad[i], strlen(bad[i]), &lim,
		    &set, &error) != -1)
			ck_abort_msg("seqset \"%s\" accepted", bad[i]);
	}
	ck_assert_int_eq(imap_parse_seqset(&cmd, "$", 1, &lim, &set, &error),
	    0);
	ck_assert(set.dollar);
	ck_assert_uint_eq(set.nranges, 0);
	ck_assert_int_eq(imap_parse_seqset(&cmd, "5:3,*", 5, &lim, &set,
	    &error), 0);
	ck_assert_uint_eq(set.nranges, 2);
	ck_assert_uint_eq(set.ranges[0].lo, 5);
	ck_assert_uint_eq(set.ranges[0].hi, 3);
	ck_assert_uint_eq(set.ranges[1].lo, IMAP_SEQ_STAR);
	/* a set inside an atom only: a NUL ends nothing */
	ck_assert_int_eq(imap_parse_seqset(&cmd, "1\0002", 3, &lim, &set,
	    &error), -1);
}
END_TEST

START_TEST(test_seqset_limit)
{
	struct imap_seqset	 set;
	const char		*error;
	struct buf		*b = buf_new(0, 100000);
	unsigned int		 i;

	parse_ok("t X\r\n");
	lim.max_ranges = 1000;
	for (i = 0; i < 1000; i++)
		ck_assert_int_eq(buf_printf(b, "%s%u", i ? "," : "", 2 * i + 1),
		    0);
	ck_assert_int_eq(imap_parse_seqset(&cmd, b->data, b->len, &lim, &set,
	    &error), 0);
	ck_assert_uint_eq(set.nranges, 1000);
	ck_assert_int_eq(buf_append_str(b, ",5000"), 0);
	ck_assert_int_eq(imap_parse_seqset(&cmd, b->data, b->len, &lim, &set,
	    &error), -1);
	ck_assert_str_eq(error, "Too many ranges in sequence set");
	buf_free(&b);
}
END_TEST

START_TEST(test_seqset_normalize)
{
	struct imap_seqset	 set;
	struct imap_seqset_iter	 it;
	const char		*error;
	uint32_t		 n, expect[] = { 1, 2, 3, 7, 9, 10 };
	unsigned int		 i;

	parse_ok("t X\r\n");
	ck_assert_int_eq(imap_parse_seqset(&cmd, "9:*,3:1,2,7", 11, &lim,
	    &set, &error), 0);
	ck_assert(!imap_parse_seqset_normalize(&set, 10));
	ck_assert(set.normalized);
	ck_assert_uint_eq(set.nranges, 3);
	ck_assert_uint_eq(set.ranges[0].lo, 1);
	ck_assert_uint_eq(set.ranges[0].hi, 3);
	ck_assert_uint_eq(set.ranges[2].lo, 9);
	ck_assert_uint_eq(set.ranges[2].hi, 10);
	ck_assert_uint_eq(imap_parse_seqset_count(&set), 6);
	ck_assert(imap_parse_seqset_contains(&set, 2));
	ck_assert(imap_parse_seqset_contains(&set, 7));
	ck_assert(imap_parse_seqset_contains(&set, 10));
	ck_assert(!imap_parse_seqset_contains(&set, 4));
	ck_assert(!imap_parse_seqset_contains(&set, 0));
	ck_assert(!imap_parse_seqset_contains(&set, 11));
	imap_parse_seqset_iter_init(&it, &set);
	for (i = 0; imap_parse_seqset_iter_next(&it, &n); i++) {
		ck_assert_uint_lt(i, N_ELEMENTS(expect));
		ck_assert_uint_eq(n, expect[i]);
	}
	ck_assert_uint_eq(i, N_ELEMENTS(expect));
	/* adjacent ranges merge; a second normalize is a no-op */
	ck_assert_int_eq(imap_parse_seqset(&cmd, "4:5,1:3,6", 9, &lim, &set,
	    &error), 0);
	ck_assert(!imap_parse_seqset_normalize(&set, 100));
	ck_assert_uint_eq(set.nranges, 1);
	ck_assert_uint_eq(set.ranges[0].hi, 6);
	ck_assert(!imap_parse_seqset_normalize(&set, 1));
	/* "UID 100:*" with highest UID 50 is 50 (RFC 9051 6.4.8) */
	ck_assert_int_eq(imap_parse_seqset(&cmd, "100:*", 5, &lim, &set,
	    &error), 0);
	ck_assert(imap_parse_seqset_normalize(&set, 50));
	ck_assert_uint_eq(set.nranges, 1);
	ck_assert_uint_eq(set.ranges[0].lo, 50);
	ck_assert_uint_eq(set.ranges[0].hi, 50);
	/* above star: reported, dropped */
	ck_assert_int_eq(imap_parse_seqset(&cmd, "3,7:9", 5, &lim, &set,
	    &error), 0);
	ck_assert(imap_parse_seqset_normalize(&set, 5));
	ck_assert_uint_eq(set.nranges, 1);
	/* empty mailbox */
	ck_assert_int_eq(imap_parse_seqset(&cmd, "1:*", 3, &lim, &set,
	    &error), 0);
	ck_assert(imap_parse_seqset_normalize(&set, 0));
	ck_assert_uint_eq(set.nranges, 0);
	imap_parse_seqset_iter_init(&it, &set);
	ck_assert(!imap_parse_seqset_iter_next(&it, &n));
	/* the top of the number space */
	ck_assert_int_eq(imap_parse_seqset(&cmd, "4294967295,1:4294967294",
	    23, &lim, &set, &error), 0);
	ck_assert(!imap_parse_seqset_normalize(&set, UINT32_MAX));
	ck_assert_uint_eq(set.nranges, 1);
	ck_assert_uint_eq(imap_parse_seqset_count(&set), 4294967295ULL);
	/* "$" is left alone */
	ck_assert_int_eq(imap_parse_seqset(&cmd, "$", 1, &lim, &set,
	    &error), 0);
	ck_assert(!imap_parse_seqset_normalize(&set, 10));
	ck_assert_uint_eq(set.nranges, 0);
}
END_TEST

/* The FETCH reply name of each attribute of s, joined by SP. */
static void
fetch_names(const struct imap_fetch *f, char *out, size_t size)
{
	struct buf	*b = buf_new(0, 4096);
	unsigned int	 i;

	for (i = 0; i < f->natts; i++) {
		if (i > 0)
			ck_assert_int_eq(buf_append_byte(b, ' '), 0);
		ck_assert_int_eq(imap_parse_fetch_att_name(&f->atts[i], b), 0);
	}
	ck_assert_int_lt(snprintf(out, size, "%s", b->data), (int)size);
	buf_free(&b);
}

static int
fetch(const char *s, struct imap_fetch *f, const char **error_r)
{
	if (parse(s, error_r) == -1)
		ck_abort_msg("parse of \"%s\" failed: %s", s, *error_r);
	return imap_parse_fetch(&cmd, &lim, f, error_r);
}

START_TEST(test_fetch_good)
{
	static const struct {
		const char	*cmd;
		const char	*names;
	} cases[] = {
		{ "t FETCH 1 ALL\r\n",
		    "FLAGS INTERNALDATE RFC822.SIZE ENVELOPE" },
		{ "t FETCH 1 fast\r\n", "FLAGS INTERNALDATE RFC822.SIZE" },
		{ "t FETCH 1 FULL\r\n",
		    "FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODY" },
		{ "t FETCH 1:* (UID FLAGS)\r\n", "UID FLAGS" },
		{ "t FETCH 1 flags\r\n", "FLAGS" },
		{ "t UID FETCH 1:* (FLAGS)\r\n", "FLAGS UID" },
		{ "t UID FETCH 1:* (FLAGS uid)\r\n", "FLAGS UID" },
		{ "t UID FETCH 1 ALL\r\n",
		    "FLAGS INTERNALDATE RFC822.SIZE ENVELOPE UID" },
		{ "t FETCH 1 (RFC822 RFC822.HEADER RFC822.TEXT RFC822.SIZE "
		    "BODYSTRUCTURE BODY ENVELOPE INTERNALDATE)\r\n",
		    "RFC822 RFC822.HEADER RFC822.TEXT RFC822.SIZE "
		    "BODYSTRUCTURE BODY ENVELOPE INTERNALDATE" },
		{ "t FETCH 1 BODY[]\r\n", "BODY[]" },
		{ "t FETCH 1 body.peek[]<0.1024>\r\n", "BODY[]<0>" },
		{ "t FETCH 1 BODY[TEXT]<100.50>\r\n", "BODY[TEXT]<100>" },
		{ "t FETCH 1 BODY[1.2.3]\r\n", "BODY[1.2.3]" },
		{ "t FETCH 1 BODY[1.MIME]\r\n", "BODY[1.MIME]" },
		{ "t FETCH 1 BODY[2.header]\r\n", "BODY[2.HEADER]" },
		{ "t FETCH 1 BODY[3.TEXT]\r\n", "BODY[3.TEXT]" },
		{ "t FETCH 1 (BODY.PEEK[HEADER.FIELDS (From To \"X(y)\" "
		    "{4}\r\nDate)])\r\n",
		    "BODY[HEADER.FIELDS (From To \"X(y)\" Date)]" },
		{ "t FETCH 1 BODY[1.HEADER.FIELDS.NOT (Received)]\r\n",
		    "BODY[1.HEADER.FIELDS.NOT (Received)]" },
		{ "t FETCH 1 (BINARY[1.2] BINARY.PEEK[]<0.10> "
		    "BINARY.SIZE[3])\r\n",
		    "BINARY[1.2] BINARY[]<0> BINARY.SIZE[3]" },
		{ "t FETCH 1 BODY[]<18446744073.1>\r\n", "BODY[]<18446744073>" },
	};
	struct imap_fetch	 f;
	const char		*error;
	char			 names[512];
	unsigned int		 i;

	for (i = 0; i < N_ELEMENTS(cases); i++) {
		if (fetch(cases[i].cmd, &f, &error) != 0)
			ck_abort_msg("FETCH \"%s\" refused: %s", cases[i].cmd,
			    error);
		fetch_names(&f, names, sizeof(names));
		ck_assert_str_eq(names, cases[i].names);
	}
	ck_assert_int_eq(fetch("t FETCH 2:4 (BODY.PEEK[1.2.HEADER.FIELDS (A B)]"
	    "<5.10> FLAGS)\r\n", &f, &error), 0);
	ck_assert_uint_eq(f.set.nranges, 1);
	ck_assert_uint_eq(f.natts, 2);
	ck_assert_int_eq(f.atts[0].item, IMAP_FETCH_BODY_SECTION);
	ck_assert(f.atts[0].peek);
	ck_assert_uint_eq(f.atts[0].section.nparts, 2);
	ck_assert_uint_eq(f.atts[0].section.parts[1], 2);
	ck_assert_int_eq(f.atts[0].section.spec, IMAP_SECTION_HEADER_FIELDS);
	ck_assert_uint_eq(f.atts[0].section.nfields, 2);
	ck_assert_str_eq(f.atts[0].section.fields[1].data, "B");
	ck_assert(f.atts[0].partial);
	ck_assert_uint_eq(f.atts[0].offset, 5);
	ck_assert_uint_eq(f.atts[0].count, 10);
	ck_assert_uint_eq(f.items, (1u << IMAP_FETCH_BODY_SECTION) |
	    (1u << IMAP_FETCH_FLAGS));
}
END_TEST

START_TEST(test_fetch_bad)
{
	static const char *const bad[] = {
		"t FETCH 1\r\n",
		"t FETCH (FLAGS)\r\n",
		"t FETCH 0 FLAGS\r\n",
		"t FETCH 1 ()\r\n",
		"t FETCH 1 (ALL)\r\n",
		"t FETCH 1 (FLAGS FAST)\r\n",
		"t FETCH 1 FOO\r\n",
		"t FETCH 1 MODSEQ\r\n",
		"t FETCH 1 (FLAGS) (CHANGEDSINCE 5)\r\n",
		"t FETCH 1 FLAGS UID\r\n",
		"t FETCH 1 \"FLAGS\"\r\n",
		"t FETCH 1 (FLAGS (UID))\r\n",
		"t FETCH 1 BODY.PEEK\r\n",
		"t FETCH 1 BINARY\r\n",
		"t FETCH 1 BINARY.SIZE\r\n",
		"t FETCH 1 FLAGS[]\r\n",
		"t FETCH 1 RFC822[]\r\n",
		"t FETCH 1 BODY[MIME]\r\n",
		"t FETCH 1 BODY[0]\r\n",
		"t FETCH 1 BODY[01]\r\n",
		"t FETCH 1 BODY[1.]\r\n",
		"t FETCH 1 BODY[1..2]\r\n",
		"t FETCH 1 BODY[.1]\r\n",
		"t FETCH 1 BODY[1a]\r\n",
		"t FETCH 1 BODY[HEADERS]\r\n",
		"t FETCH 1 BODY[HEADER.FIELDS]\r\n",
		"t FETCH 1 BODY[HEADER.FIELDS ()]\r\n",
		"t FETCH 1 BODY[HEADER.FIELDS (A) (B)]\r\n",
		"t FETCH 1 BODY[HEADER.FIELDS A]\r\n",
		"t FETCH 1 BODY[HEADER.FIELDS (A:B)]\r\n",
		"t FETCH 1 BODY[HEADER.FIELDS (\"\")]\r\n",
		"t FETCH 1 BODY[HEADER.FIELDS (\"a b\")]\r\n",
		"t FETCH 1 BODY[HEADER.FIELDS ((A))]\r\n",
		"t FETCH 1 BODY[TEXT (A)]\r\n",
		"t FETCH 1 BODY[\"TEXT\"]\r\n",
		"t FETCH 1 BODY[1 2]\r\n",
		"t FETCH 1 BODY[[]\r\n",
		"t FETCH 1 BINARY[HEADER]\r\n",
		"t FETCH 1 BINARY[1.TEXT]\r\n",
		"t FETCH 1 BINARY.SIZE[1]<0.1>\r\n",
		"t FETCH 1 BODY[]<0.0>\r\n",
		"t FETCH 1 BODY[]<5>\r\n",
		"t FETCH 1 BODY[]<99999999999999999999.1>\r\n",
		"t FETCH 1 BODY[]<1.9223372036854775808>\r\n",
		"t FETCH 1 BODY[1.100001]\r\n",
		"t FETCH 1 BODY[99999999999]\r\n",
	};
	struct imap_fetch	 f;
	const char		*error;
	unsigned int		 i;

	for (i = 0; i < N_ELEMENTS(bad); i++) {
		error = NULL;
		if (parse(bad[i], &error) == 0 &&
		    imap_parse_fetch(&cmd, &lim, &f, &error) == 0)
			ck_abort_msg("FETCH \"%s\" accepted", bad[i]);
		ck_assert_ptr_nonnull(error);
	}
}
END_TEST

START_TEST(test_fetch_limits)
{
	struct imap_fetch	 f;
	const char		*error;
	struct buf		*b = buf_new(0, 100000);
	unsigned int		 i;

	/* attributes: the maximum and one over; UID FETCH's UID counts */
	lim.max_fetch_atts = 5;
	ck_assert_int_eq(fetch("t FETCH 1 (FLAGS UID FLAGS UID FLAGS)\r\n", &f,
	    &error), 0);
	ck_assert_int_eq(fetch("t FETCH 1 (FLAGS UID FLAGS UID FLAGS UID)\r\n",
	    &f, &error), -1);
	ck_assert_int_eq(fetch("t UID FETCH 1 (FLAGS UID FLAGS UID)\r\n", &f,
	    &error), 0);
	ck_assert_int_eq(fetch("t UID FETCH 1 (FLAGS UID FLAGS UID FLAGS)\r\n",
	    &f, &error), -1);
	ck_assert_int_eq(fetch("t UID FETCH 1 FULL\r\n", &f, &error), -1);
	imap_limits_init(&lim);
	/* part numbers: count and value */
	lim.max_section_parts = 3;
	lim.max_part_number = 500;
	ck_assert_int_eq(fetch("t FETCH 1 BODY[1.2.500]\r\n", &f, &error), 0);
	ck_assert_int_eq(fetch("t FETCH 1 BODY[1.2.501]\r\n", &f, &error), -1);
	ck_assert_int_eq(fetch("t FETCH 1 BODY[1.2.3.MIME]\r\n", &f, &error),
	    0);
	ck_assert_int_eq(fetch("t FETCH 1 BODY[1.2.3.4]\r\n", &f, &error), -1);
	/* header fields */
	lim.max_header_fields = 10;
	ck_assert_int_eq(buf_append_str(b, "t FETCH 1 BODY[HEADER.FIELDS ("),
	    0);
	for (i = 0; i < 10; i++)
		ck_assert_int_eq(buf_printf(b, "%sX-%u", i ? " " : "", i), 0);
	ck_assert_int_eq(buf_append_str(b, ")]\r\n"), 0);
	ck_assert_int_eq(fetch(b->data, &f, &error), 0);
	ck_assert_uint_eq(f.atts[0].section.nfields, 10);
	buf_truncate(b, b->len - 4);
	ck_assert_int_eq(buf_append_str(b, " Y)]\r\n"), 0);
	ck_assert_int_eq(fetch(b->data, &f, &error), -1);
	ck_assert_str_eq(error, "Too many header fields");
	buf_free(&b);
}
END_TEST

START_TEST(test_fetch_att_name_full)
{
	struct imap_fetch	 f;
	const char		*error;
	struct buf		*b = buf_new(0, 10);

	ck_assert_int_eq(fetch("t FETCH 1 BODY[HEADER.FIELDS (Subject)]\r\n",
	    &f, &error), 0);
	ck_assert_int_eq(imap_parse_fetch_att_name(&f.atts[0], b), -1);
	buf_free(&b);
	b = buf_new(0, 100);
	ck_assert_int_eq(fetch("t FETCH 1 BODY[HEADER.FIELDS (\"a\\\"b\")]\r\n",
	    &f, &error), 0);
	ck_assert_int_eq(imap_parse_fetch_att_name(&f.atts[0], b), 0);
	ck_assert_str_eq(b->data, "BODY[HEADER.FIELDS (\"a\\\"b\")]");
	buf_free(&b);
}
END_TEST

static int
search(const char *s, struct imap_search *sr, enum imap_parse_err *kind,
    const char **error_r)
{
	if (parse(s, error_r) == -1)
		ck_abort_msg("parse of \"%s\" failed: %s", s, *error_r);
	return imap_parse_search(&cmd, &lim, sr, kind, error_r);
}

START_TEST(test_search_keys)
{
	static const struct {
		const char		*text;
		enum imap_search_key	 key;
	} keys[] = {
		{ "ALL", IMAP_SEARCH_ALL },
		{ "ANSWERED", IMAP_SEARCH_ANSWERED },
		{ "BCC x", IMAP_SEARCH_BCC },
		{ "BEFORE 1-Feb-2024", IMAP_SEARCH_BEFORE },
		{ "BODY \"two words\"", IMAP_SEARCH_BODY },
		{ "CC {1}\r\nx", IMAP_SEARCH_CC },
		{ "DELETED", IMAP_SEARCH_DELETED },
		{ "DRAFT", IMAP_SEARCH_DRAFT },
		{ "FLAGGED", IMAP_SEARCH_FLAGGED },
		{ "FROM alice", IMAP_SEARCH_FROM },
		{ "HEADER X-Spam yes", IMAP_SEARCH_HEADER },
		{ "KEYWORD $Forwarded", IMAP_SEARCH_KEYWORD },
		{ "LARGER 1000", IMAP_SEARCH_LARGER },
		{ "NEW", IMAP_SEARCH_NEW },
		{ "NOT SEEN", IMAP_SEARCH_NOT },
		{ "OLD", IMAP_SEARCH_OLD },
		{ "ON \"01-Feb-2024\"", IMAP_SEARCH_ON },
		{ "OR SEEN FLAGGED", IMAP_SEARCH_OR },
		{ "RECENT", IMAP_SEARCH_RECENT },
		{ "SEEN", IMAP_SEARCH_SEEN },
		{ "SENTBEFORE 1-Jan-2000", IMAP_SEARCH_SENTBEFORE },
		{ "SENTON 29-Feb-2024", IMAP_SEARCH_SENTON },
		{ "SENTSINCE 31-Dec-1999", IMAP_SEARCH_SENTSINCE },
		{ "SINCE 1-feb-2024", IMAP_SEARCH_SINCE },
		{ "SMALLER 9223372036854775807", IMAP_SEARCH_SMALLER },
		{ "SUBJECT \"caf\xc3\xa9\"", IMAP_SEARCH_SUBJECT },
		{ "TEXT hello", IMAP_SEARCH_TEXT },
		{ "TO bob", IMAP_SEARCH_TO },
		{ "UID 1:*", IMAP_SEARCH_UID },
		{ "UID $", IMAP_SEARCH_UID },
		{ "UNANSWERED", IMAP_SEARCH_UNANSWERED },
		{ "UNDELETED", IMAP_SEARCH_UNDELETED },
		{ "UNDRAFT", IMAP_SEARCH_UNDRAFT },
		{ "UNFLAGGED", IMAP_SEARCH_UNFLAGGED },
		{ "UNKEYWORD Junk", IMAP_SEARCH_UNKEYWORD },
		{ "UNSEEN", IMAP_SEARCH_UNSEEN },
		{ "1:5,7", IMAP_SEARCH_SEQSET },
		{ "*", IMAP_SEARCH_SEQSET },
		{ "$", IMAP_SEARCH_SEQSET },
		{ "(SEEN)", IMAP_SEARCH_AND },
	};
	struct imap_search	 sr;
	enum imap_parse_err	 kind;
	const char		*error;
	char			 line[256];
	unsigned int		 i;

	for (i = 0; i < N_ELEMENTS(keys); i++) {
		snprintf(line, sizeof(line), "t SEARCH %s\r\n", keys[i].text);
		if (search(line, &sr, &kind, &error) != 0)
			ck_abort_msg("\"%s\" refused: %s", line, error);
		ck_assert_int_eq(kind, IMAP_PARSE_E_NONE);
		ck_assert_int_eq(sr.root->key, IMAP_SEARCH_AND);
		ck_assert_ptr_nonnull(sr.root->child);
		ck_assert_ptr_null(sr.root->child->next);
		ck_assert_int_eq(sr.root->child->key, keys[i].key);
		ck_assert(!sr.esearch);
	}
	ck_assert_int_eq(search("t SEARCH HEADER X-Spam yes\r\n", &sr, &kind,
	    &error), 0);
	ck_assert_str_eq(sr.root->child->field.data, "X-Spam");
	ck_assert_str_eq(sr.root->child->value.data, "yes");
	ck_assert_int_eq(search("t SEARCH CC {3}\r\nx y\r\n", &sr, &kind,
	    &error), 0);
	ck_assert_str_eq(sr.root->child->value.data, "x y");
	ck_assert_int_eq(search("t SEARCH SINCE 1-Feb-2024\r\n", &sr, &kind,
	    &error), 0);
	ck_assert_int_eq(sr.root->child->date, 1706745600);
	ck_assert_int_eq(search("t SEARCH LARGER 1000\r\n", &sr, &kind,
	    &error), 0);
	ck_assert_uint_eq(sr.root->child->size, 1000);
	ck_assert_int_eq(search("t SEARCH UID 5:7\r\n", &sr, &kind, &error),
	    0);
	ck_assert_uint_eq(sr.root->child->set.nranges, 1);
	ck_assert_int_eq(search("t SEARCH $\r\n", &sr, &kind, &error), 0);
	ck_assert(sr.root->child->set.dollar);
}
END_TEST

START_TEST(test_search_program)
{
	struct imap_search	 sr;
	enum imap_parse_err	 kind;
	const char		*error;
	struct imap_search_node	*n;

	ck_assert_int_eq(search("t UID SEARCH RETURN (MIN COUNT) CHARSET UTF-8 "
	    "OR (FROM a SUBJECT b) NOT TO c 1:10 UNSEEN\r\n", &sr, &kind,
	    &error), 0);
	ck_assert(sr.esearch);
	ck_assert(sr.charset);
	ck_assert_uint_eq(sr.ret, IMAP_SEARCH_RET_MIN | IMAP_SEARCH_RET_COUNT);
	n = sr.root->child;
	ck_assert_int_eq(n->key, IMAP_SEARCH_OR);
	ck_assert_int_eq(n->child->key, IMAP_SEARCH_AND);
	ck_assert_int_eq(n->child->child->key, IMAP_SEARCH_FROM);
	ck_assert_int_eq(n->child->child->next->key, IMAP_SEARCH_SUBJECT);
	ck_assert_int_eq(n->child->next->key, IMAP_SEARCH_NOT);
	ck_assert_int_eq(n->child->next->child->key, IMAP_SEARCH_TO);
	ck_assert_ptr_null(n->child->next->next);
	n = n->next;
	ck_assert_int_eq(n->key, IMAP_SEARCH_SEQSET);
	n = n->next;
	ck_assert_int_eq(n->key, IMAP_SEARCH_UNSEEN);
	ck_assert_ptr_null(n->next);
	ck_assert_uint_eq(sr.nkeys, 9);

	ck_assert_int_eq(search("t SEARCH RETURN () ALL\r\n", &sr, &kind,
	    &error), 0);
	ck_assert(sr.esearch);
	ck_assert_uint_eq(sr.ret, IMAP_SEARCH_RET_ALL);
	ck_assert_int_eq(search("t SEARCH RETURN (SAVE MAX ALL) charset "
	    "us-ascii ALL\r\n", &sr, &kind, &error), 0);
	ck_assert_uint_eq(sr.ret, IMAP_SEARCH_RET_SAVE | IMAP_SEARCH_RET_MAX |
	    IMAP_SEARCH_RET_ALL);
	/* a key may be named RETURN-like things only where they are keys */
	ck_assert_int_eq(search("t SEARCH CHARSET \"UTF-8\" TEXT x\r\n", &sr,
	    &kind, &error), 0);

	/* BADCHARSET is its own kind */
	ck_assert_int_eq(search("t SEARCH CHARSET ISO-8859-1 TEXT x\r\n", &sr,
	    &kind, &error), -1);
	ck_assert_int_eq(kind, IMAP_PARSE_E_BADCHARSET);
	ck_assert_int_eq(search("t SEARCH CHARSET UTF-16 ALL\r\n", &sr, &kind,
	    &error), -1);
	ck_assert_int_eq(kind, IMAP_PARSE_E_BADCHARSET);
}
END_TEST

START_TEST(test_search_bad)
{
	static const char *const bad[] = {
		"t SEARCH\r\n",
		"t SEARCH CHARSET\r\n",
		"t SEARCH CHARSET UTF-8\r\n",
		"t SEARCH CHARSET (UTF-8) ALL\r\n",
		"t SEARCH RETURN (MIN)\r\n",
		"t SEARCH RETURN (FOO) ALL\r\n",
		"t SEARCH RETURN ((MIN)) ALL\r\n",
		"t SEARCH FOO\r\n",
		"t SEARCH \"ALL\"\r\n",
		"t SEARCH FROM\r\n",
		"t SEARCH FROM (a)\r\n",
		"t SEARCH HEADER X\r\n",
		"t SEARCH BEFORE 32-Jan-2024\r\n",
		"t SEARCH BEFORE 29-Feb-2023\r\n",
		"t SEARCH BEFORE 1-Foo-2024\r\n",
		"t SEARCH BEFORE 1-Jan-24\r\n",
		"t SEARCH BEFORE 001-Jan-2024\r\n",
		"t SEARCH BEFORE {10}\r\n1-Jan-2024\r\n",
		"t SEARCH BEFORE\r\n",
		"t SEARCH LARGER x\r\n",
		"t SEARCH LARGER -1\r\n",
		"t SEARCH LARGER 9223372036854775808\r\n",
		"t SEARCH SMALLER\r\n",
		"t SEARCH UID\r\n",
		"t SEARCH UID x\r\n",
		"t SEARCH UID 0\r\n",
		"t SEARCH KEYWORD\r\n",
		"t SEARCH KEYWORD \\Seen\r\n",
		"t SEARCH KEYWORD \"a\"\r\n",
		"t SEARCH NOT\r\n",
		"t SEARCH OR SEEN\r\n",
		"t SEARCH OR\r\n",
		"t SEARCH ()\r\n",
		"t SEARCH (SEEN ())\r\n",
		"t SEARCH 0\r\n",
		"t SEARCH 1:2:3\r\n",
		"t SEARCH SEEN FOO\r\n",
		"t SEARCH NIL\r\n",
	};
	struct imap_search	 sr;
	enum imap_parse_err	 kind;
	const char		*error;
	unsigned int		 i;

	ck_assert_int_eq(imap_parse_command("t SEARCH TEXT {3}\r\na\0b\r\n",
	    24, &lim, &cmd, &error), 0);
	ck_assert_int_eq(imap_parse_search(&cmd, &lim, &sr, &kind, &error), -1);
	for (i = 0; i < N_ELEMENTS(bad); i++) {
		error = NULL;
		ck_assert_int_eq(parse(bad[i], &error), 0);
		if (imap_parse_search(&cmd, &lim, &sr, &kind, &error) == 0)
			ck_abort_msg("SEARCH \"%s\" accepted", bad[i]);
		ck_assert_ptr_nonnull(error);
		ck_assert_int_eq(kind, IMAP_PARSE_E_SYNTAX);
	}
}
END_TEST

START_TEST(test_search_limits)
{
	struct imap_search	 sr;
	enum imap_parse_err	 kind;
	const char		*error;
	struct buf		*b = buf_new(0, 1000000);
	unsigned int		 i;

	/* keys: the root counts as one */
	lim.max_search_keys = 10;
	ck_assert_int_eq(search("t SEARCH SEEN SEEN SEEN SEEN SEEN SEEN SEEN "
	    "SEEN SEEN\r\n", &sr, &kind, &error), 0);
	ck_assert_uint_eq(sr.nkeys, 10);
	ck_assert_int_eq(search("t SEARCH SEEN SEEN SEEN SEEN SEEN SEEN SEEN "
	    "SEEN SEEN SEEN\r\n", &sr, &kind, &error), -1);
	ck_assert_str_eq(error, "Too many search keys");
	ck_assert_int_eq(search("t SEARCH OR OR OR OR SEEN SEEN SEEN SEEN "
	    "SEEN\r\n", &sr, &kind, &error), 0);
	ck_assert_int_eq(search("t SEARCH OR OR OR OR SEEN SEEN SEEN SEEN "
	    "(SEEN)\r\n", &sr, &kind, &error), -1);
	imap_limits_init(&lim);
	/* nesting: NOT chains and groups */
	lim.max_search_depth = 5;
	ck_assert_int_eq(search("t SEARCH NOT NOT NOT NOT SEEN\r\n", &sr,
	    &kind, &error), 0);
	ck_assert_int_eq(search("t SEARCH NOT NOT NOT NOT NOT SEEN\r\n", &sr,
	    &kind, &error), -1);
	ck_assert_str_eq(error, "Search program too deeply nested");
	ck_assert_int_eq(search("t SEARCH (((NOT SEEN)))\r\n", &sr, &kind,
	    &error), 0);
	ck_assert_int_eq(search("t SEARCH ((((NOT SEEN))))\r\n", &sr, &kind,
	    &error), -1);
	/* the default depth with 1000 keys */
	imap_limits_init(&lim);
	ck_assert_int_eq(buf_append_str(b, "t SEARCH"), 0);
	for (i = 0; i < 999; i++)
		ck_assert_int_eq(buf_append_str(b, " SEEN"), 0);
	ck_assert_int_eq(buf_append_str(b, "\r\n"), 0);
	ck_assert_int_eq(search(b->data, &sr, &kind, &error), 0);
	buf_truncate(b, b->len - 2);
	ck_assert_int_eq(buf_append_str(b, " SEEN\r\n"), 0);
	ck_assert_int_eq(search(b->data, &sr, &kind, &error), -1);
	/* ranges are counted over the whole program */
	lim.max_ranges = 4;
	ck_assert_int_eq(search("t SEARCH 1,2 UID 3,4\r\n", &sr, &kind,
	    &error), 0);
	ck_assert_int_eq(search("t SEARCH 1,2 UID 3,4 5\r\n", &sr, &kind,
	    &error), -1);
	buf_free(&b);
}
END_TEST

static int
store(const char *s, struct imap_store *st, const char **error_r)
{
	if (parse(s, error_r) == -1)
		ck_abort_msg("parse of \"%s\" failed: %s", s, *error_r);
	return imap_parse_store(&cmd, &lim, st, error_r);
}

START_TEST(test_store)
{
	static const char *const bad[] = {
		"t STORE 1 FLAGS\r\n",
		"t STORE 1 +FLAGS \\Recent\r\n",
		"t STORE 1 +FLAGS (\\Recent)\r\n",
		"t STORE 1 +FLAGS (\\Foo)\r\n",
		"t STORE 1 +FLAGS (\\)\r\n",
		"t STORE 1 +FLAGS (\\*)\r\n",
		"t STORE 1 +FLAGS (a%b)\r\n",
		"t STORE 1 +FLAGS (\"quoted\")\r\n",
		"t STORE 1 +FLAGS ((a))\r\n",
		"t STORE 1 +FLAGS (a) b\r\n",
		"t STORE 1 +FLAGS a (b)\r\n",
		"t STORE 1 *FLAGS a\r\n",
		"t STORE 1 FLAGS.LOUD a\r\n",
		"t STORE 1 +FLAG a\r\n",
		"t STORE 1 (UNCHANGEDSINCE 5) +FLAGS a\r\n",
		"t STORE x +FLAGS a\r\n",
		"t STORE 1 \"FLAGS\" a\r\n",
		"t STORE 1 +FLAGS {1}\r\na\r\n",
	};
	struct imap_store	 st;
	const char		*error;
	unsigned int		 i;

	ck_assert_int_eq(store("t STORE 1:3 +FLAGS.SILENT (\\Seen $Label "
	    "\\deleted)\r\n", &st, &error), 0);
	ck_assert_int_eq(st.mode, IMAP_STORE_ADD);
	ck_assert(st.silent);
	ck_assert_uint_eq(st.flags.system, IMAP_FLAG_SEEN | IMAP_FLAG_DELETED);
	ck_assert_uint_eq(st.flags.nkeywords, 1);
	ck_assert_str_eq(st.flags.keywords[0].data, "$Label");
	ck_assert_int_eq(store("t UID STORE 5 -flags \\Answered \\Flagged "
	    "\\Draft Junk\r\n", &st, &error), 0);
	ck_assert_int_eq(st.mode, IMAP_STORE_REMOVE);
	ck_assert(!st.silent);
	ck_assert_uint_eq(st.flags.system, IMAP_FLAG_ANSWERED |
	    IMAP_FLAG_FLAGGED | IMAP_FLAG_DRAFT);
	ck_assert_uint_eq(st.flags.nkeywords, 1);
	ck_assert_int_eq(store("t STORE 1 FLAGS ()\r\n", &st, &error), 0);
	ck_assert_int_eq(st.mode, IMAP_STORE_REPLACE);
	ck_assert_uint_eq(st.flags.system, 0);
	ck_assert_uint_eq(st.flags.nkeywords, 0);
	ck_assert_int_eq(store("t STORE $ FLAGS.SILENT NIL\r\n", &st, &error),
	    0);
	ck_assert(st.set.dollar);
	for (i = 0; i < N_ELEMENTS(bad); i++) {
		if (store(bad[i], &st, &error) == 0)
			ck_abort_msg("STORE \"%s\" accepted", bad[i]);
	}
}
END_TEST

START_TEST(test_dates)
{
	time_t		 t;
	int		 zone;
	const char	*error;

	ck_assert_int_eq(imap_parse_date("1-Jan-1970", 10, &t, &error), 0);
	ck_assert_int_eq(t, 0);
	ck_assert_int_eq(imap_parse_date("29-Feb-2000", 11, &t, &error), 0);
	ck_assert_int_eq(t, 951782400);
	ck_assert_int_eq(imap_parse_date("01-dec-1900", 11, &t, &error), 0);
	ck_assert_int_eq(t, -2180131200LL);
	ck_assert_int_eq(imap_parse_date("31-Dec-9999", 11, &t, &error), 0);
	ck_assert_int_eq(imap_parse_date("29-Feb-1900", 11, &t, &error), -1);
	ck_assert_int_eq(imap_parse_date("31-Apr-2024", 11, &t, &error), -1);
	ck_assert_int_eq(imap_parse_date("0-Apr-2024", 10, &t, &error), -1);
	ck_assert_int_eq(imap_parse_date("1-Apr-1899", 10, &t, &error), -1);
	ck_assert_int_eq(imap_parse_date("1 Apr 2024", 10, &t, &error), -1);
	ck_assert_int_eq(imap_parse_date("1-Apr-2024 ", 11, &t, &error), -1);
	ck_assert_int_eq(imap_parse_date("", 0, &t, &error), -1);

	ck_assert_int_eq(imap_parse_date_time("01-Jan-1970 01:00:00 +0100",
	    26, &t, &zone, &error), 0);
	ck_assert_int_eq(t, 0);
	ck_assert_int_eq(zone, 60);
	ck_assert_int_eq(imap_parse_date_time(" 1-Jan-1970 00:00:00 -0130",
	    26, &t, &zone, &error), 0);
	ck_assert_int_eq(t, 5400);
	ck_assert_int_eq(zone, -90);
	ck_assert_int_eq(imap_parse_date_time("1-Feb-2024 10:00:00 +0000",
	    25, &t, &zone, &error), 0);
	ck_assert_int_eq(t, 1706781600);
	ck_assert_int_eq(imap_parse_date_time("17-Jul-1996 02:44:25 -0700",
	    26, &t, &zone, &error), 0);
	ck_assert_int_eq(t, 837596665);
	ck_assert_int_eq(imap_parse_date_time("17-Jul-1996 24:00:00 -0700",
	    26, &t, &zone, &error), -1);
	ck_assert_int_eq(imap_parse_date_time("17-Jul-1996 02:60:00 -0700",
	    26, &t, &zone, &error), -1);
	ck_assert_int_eq(imap_parse_date_time("17-Jul-1996 02:44:60 -0700",
	    26, &t, &zone, &error), -1);
	ck_assert_int_eq(imap_parse_date_time("17-Jul-1996 02:44:25 -0760",
	    26, &t, &zone, &error), -1);
	ck_assert_int_eq(imap_parse_date_time("17-Jul-1996 02:44:25 *0700",
	    26, &t, &zone, &error), -1);
	ck_assert_int_eq(imap_parse_date_time("17-Jul-1996 02:44:25 -07000",
	    27, &t, &zone, &error), -1);
	ck_assert_int_eq(imap_parse_date_time("17-Jul-1996T02:44:25 -0700",
	    26, &t, &zone, &error), -1);
	ck_assert_int_eq(imap_parse_date_time("30-Feb-1996 02:44:25 -0700",
	    26, &t, &zone, &error), -1);
	ck_assert_int_eq(imap_parse_date_time("  1-Jan-1970 00:00:00 +0000",
	    27, &t, &zone, &error), -1);
	ck_assert_int_eq(imap_parse_date_time("", 0, &t, &zone, &error), -1);
}
END_TEST

START_TEST(test_append)
{
	struct imap_append	 app;
	const char		*error;
	const char		*s;

	s = "a APPEND {5}\r\nDraft ";
	ck_assert_int_eq(imap_parse_append(&cmd, s, strlen(s), &lim, &app,
	    &error), 0);
	ck_assert_str_eq(app.mailbox.data, "Draft");
	ck_assert_uint_eq(app.flags.system, 0);
	ck_assert(!app.has_date);
	s = "a APPEND \"Sent Items\" \" 5-Mar-2024 23:59:59 +0000\" ";
	ck_assert_int_eq(imap_parse_append(&cmd, s, strlen(s), &lim, &app,
	    &error), 0);
	ck_assert_str_eq(app.mailbox.data, "Sent Items");
	ck_assert(app.has_date);
	s = "a APPEND INBOX () ";
	ck_assert_int_eq(imap_parse_append(&cmd, s, strlen(s), &lim, &app,
	    &error), 0);
	s = "a APPEND INBOX";
	ck_assert_int_eq(imap_parse_append(&cmd, s, strlen(s), &lim, &app,
	    &error), -1);
	s = "a APPEND ";
	ck_assert_int_eq(imap_parse_append(&cmd, s, strlen(s), &lim, &app,
	    &error), -1);
	s = "a APPEND INBOX \"bad date\" ";
	ck_assert_int_eq(imap_parse_append(&cmd, s, strlen(s), &lim, &app,
	    &error), -1);
	s = "a APPEND INBOX \"05-Feb-2024 10:00:00 +0100\" (\\Seen) ";
	ck_assert_int_eq(imap_parse_append(&cmd, s, strlen(s), &lim, &app,
	    &error), -1);
	s = "a APPEND INBOX (\\Recent) ";
	ck_assert_int_eq(imap_parse_append(&cmd, s, strlen(s), &lim, &app,
	    &error), -1);
	s = "a APPEND INBOX x ";
	ck_assert_int_eq(imap_parse_append(&cmd, s, strlen(s), &lim, &app,
	    &error), -1);
	s = "a APPEND IN*BOX ";
	ck_assert_int_eq(imap_parse_append(&cmd, s, strlen(s), &lim, &app,
	    &error), -1);
	s = "a LOGIN INBOX ";
	ck_assert_int_eq(imap_parse_append(&cmd, s, strlen(s), &lim, &app,
	    &error), -1);
	s = "a APPEND INBOX\r\n ";
	ck_assert_int_eq(imap_parse_append(&cmd, s, strlen(s), &lim, &app,
	    &error), -1);
	ck_assert_int_eq(imap_parse_append_next(&cmd, "", 0, &lim, &app,
	    &error), -1);
	ck_assert_int_eq(imap_parse_append_next(&cmd, " ", 1, &lim, &app,
	    &error), 1);
	ck_assert_int_eq(imap_parse_append_next(&cmd,
	    " \"05-Feb-2024 10:00:00 +0100\" ", 30, &lim, &app, &error), 1);
	ck_assert(app.has_date);
	ck_assert_int_eq(imap_parse_append_next(&cmd, " (\\Seen)", 8, &lim,
	    &app, &error), -1);
}
END_TEST

static int
list(const char *s, struct imap_list *l, const char **error_r)
{
	if (parse(s, error_r) == -1)
		ck_abort_msg("parse of \"%s\" failed: %s", s, *error_r);
	return imap_parse_list(&cmd, l, error_r);
}

START_TEST(test_list)
{
	static const char *const bad[] = {
		"t LIST\r\n",
		"t LIST \"\"\r\n",
		"t LIST \"\" * x\r\n",
		"t LIST (FOO) \"\" *\r\n",
		"t LIST (RECURSIVEMATCH) \"\" *\r\n",
		"t LIST (REMOTE RECURSIVEMATCH) \"\" *\r\n",
		"t LIST \"\" () \r\n",
		"t LIST \"\" * RETURN\r\n",
		"t LIST \"\" * RETURN (FOO)\r\n",
		"t LIST \"\" * RETURN (STATUS)\r\n",
		"t LIST \"\" * RETURN (STATUS ())\r\n",
		"t LIST \"\" * RETURN (STATUS (FOO))\r\n",
		"t LIST \"\" * RETURN (CHILDREN) x\r\n",
		"t LIST a* *\r\n",
		"t LIST \"\" a\\b\r\n",
		"t LIST \"\" (a (b))\r\n",
		"t LSUB (SUBSCRIBED) \"\" *\r\n",
		"t LSUB \"\" (a b)\r\n",
		"t LSUB \"\" * RETURN (CHILDREN)\r\n",
	};
	struct imap_list	 l;
	const char		*error;
	unsigned int		 i;

	ck_assert_int_eq(list("t LIST \"\" %\r\n", &l, &error), 0);
	ck_assert(!l.extended);
	ck_assert_uint_eq(l.ref.len, 0);
	ck_assert_uint_eq(l.npatterns, 1);
	ck_assert_str_eq(l.patterns[0].data, "%");
	ck_assert_int_eq(list("t LIST ~/Mail/ foo/*]\r\n", &l, &error), 0);
	ck_assert_str_eq(l.ref.data, "~/Mail/");
	ck_assert_str_eq(l.patterns[0].data, "foo/*]");
	ck_assert_int_eq(list("t LIST \"\" \"\"\r\n", &l, &error), 0);
	ck_assert_uint_eq(l.patterns[0].len, 0);
	ck_assert_int_eq(list("t LIST (SUBSCRIBED RECURSIVEMATCH remote) "
	    "\"\" (INBOX \"Sent*\" {4}\r\nA%/B) RETURN (CHILDREN SPECIAL-USE "
	    "STATUS (MESSAGES UNSEEN SIZE) subscribed)\r\n", &l, &error), 0);
	ck_assert(l.extended);
	ck_assert_uint_eq(l.sel, IMAP_LIST_SEL_SUBSCRIBED |
	    IMAP_LIST_SEL_RECURSIVEMATCH | IMAP_LIST_SEL_REMOTE);
	ck_assert_uint_eq(l.ret, IMAP_LIST_RET_CHILDREN |
	    IMAP_LIST_RET_SPECIAL_USE | IMAP_LIST_RET_STATUS |
	    IMAP_LIST_RET_SUBSCRIBED);
	ck_assert_uint_eq(l.status, IMAP_STATUS_MESSAGES | IMAP_STATUS_UNSEEN |
	    IMAP_STATUS_SIZE);
	ck_assert_uint_eq(l.npatterns, 3);
	ck_assert_str_eq(l.patterns[1].data, "Sent*");
	ck_assert_str_eq(l.patterns[2].data, "A%/B");
	ck_assert_int_eq(list("t LIST (SPECIAL-USE) \"\" *\r\n", &l, &error),
	    0);
	ck_assert_uint_eq(l.sel, IMAP_LIST_SEL_SPECIAL_USE);
	ck_assert_int_eq(list("t LIST () \"\" * RETURN ()\r\n", &l, &error), 0);
	ck_assert(l.extended);
	ck_assert_int_eq(list("t LSUB \"\" *\r\n", &l, &error), 0);
	ck_assert(!l.extended);
	for (i = 0; i < N_ELEMENTS(bad); i++) {
		if (list(bad[i], &l, &error) == 0)
			ck_abort_msg("LIST \"%s\" accepted", bad[i]);
	}
}
END_TEST

START_TEST(test_status)
{
	static const char *const bad[] = {
		"t STATUS INBOX\r\n",
		"t STATUS INBOX ()\r\n",
		"t STATUS INBOX (FOO)\r\n",
		"t STATUS INBOX MESSAGES\r\n",
		"t STATUS INBOX (MESSAGES) x\r\n",
		"t STATUS INBOX (HIGHESTMODSEQ)\r\n",
		"t STATUS (MESSAGES)\r\n",
	};
	struct imap_str		 mb;
	unsigned int		 items, i;
	const char		*error;

	parse_ok("t STATUS blurdybloop (UIDNEXT MESSAGES recent UIDVALIDITY "
	    "UNSEEN SIZE DELETED APPENDLIMIT)\r\n");
	ck_assert_int_eq(imap_parse_status(&cmd, &mb, &items, &error), 0);
	ck_assert_str_eq(mb.data, "blurdybloop");
	ck_assert_uint_eq(items, 0xff);
	for (i = 0; i < N_ELEMENTS(bad); i++) {
		parse_ok(bad[i]);
		if (imap_parse_status(&cmd, &mb, &items, &error) == 0)
			ck_abort_msg("STATUS \"%s\" accepted", bad[i]);
	}
}
END_TEST

START_TEST(test_mailbox_commands)
{
	struct imap_str		 a, b;
	struct imap_seqset	 set;
	unsigned int		 use;
	const char		*error;

	parse_ok("t SELECT INBOX\r\n");
	ck_assert_int_eq(imap_parse_select(&cmd, &a, &error), 0);
	ck_assert_str_eq(a.data, "INBOX");
	parse_ok("t EXAMINE \"&AMQ-pfel\" ()\r\n");
	ck_assert_int_eq(imap_parse_select(&cmd, &a, &error), 0);
	ck_assert_str_eq(a.data, "&AMQ-pfel");
	parse_ok("t SELECT INBOX (CONDSTORE)\r\n");
	ck_assert_int_eq(imap_parse_select(&cmd, &a, &error), -1);
	ck_assert_str_eq(error, "Unsupported SELECT parameter");
	parse_ok("t SELECT INBOX CONDSTORE\r\n");
	ck_assert_int_eq(imap_parse_select(&cmd, &a, &error), -1);
	parse_ok("t SELECT\r\n");
	ck_assert_int_eq(imap_parse_select(&cmd, &a, &error), -1);
	parse_ok("t SELECT (INBOX)\r\n");
	ck_assert_int_eq(imap_parse_select(&cmd, &a, &error), -1);
	parse_ok("t SELECT IN%BOX\r\n");
	ck_assert_int_eq(imap_parse_select(&cmd, &a, &error), -1);
	parse_ok("t SELECT nil\r\n");
	ck_assert_int_eq(imap_parse_select(&cmd, &a, &error), 0);
	ck_assert_str_eq(a.data, "nil");
	ck_assert_int_eq(imap_parse_command("t SELECT {3}\r\na\0b\r\n", 19,
	    &lim, &cmd, &error), 0);
	ck_assert_int_eq(imap_parse_select(&cmd, &a, &error), -1);

	parse_ok("t CREATE Drafts (USE (\\Drafts \\sent))\r\n");
	ck_assert_int_eq(imap_parse_create(&cmd, &a, &use, &error), 0);
	ck_assert_uint_eq(use, IMAP_USE_DRAFTS | IMAP_USE_SENT);
	parse_ok("t CREATE x (USE (\\All \\Archive \\Flagged \\Junk "
	    "\\Trash))\r\n");
	ck_assert_int_eq(imap_parse_create(&cmd, &a, &use, &error), 0);
	ck_assert_uint_eq(use, IMAP_USE_ALL | IMAP_USE_ARCHIVE |
	    IMAP_USE_FLAGGED | IMAP_USE_JUNK | IMAP_USE_TRASH);
	parse_ok("t CREATE x (USE (\\Foo))\r\n");
	ck_assert_int_eq(imap_parse_create(&cmd, &a, &use, &error), 0);
	ck_assert_uint_eq(use, IMAP_USE_UNKNOWN);
	parse_ok("t CREATE x (USE ())\r\n");
	ck_assert_int_eq(imap_parse_create(&cmd, &a, &use, &error), 0);
	ck_assert_uint_eq(use, 0);
	parse_ok("t CREATE x\r\n");
	ck_assert_int_eq(imap_parse_create(&cmd, &a, &use, &error), 0);
	parse_ok("t CREATE x (USE (Drafts))\r\n");
	ck_assert_int_eq(imap_parse_create(&cmd, &a, &use, &error), -1);
	parse_ok("t CREATE x (USE)\r\n");
	ck_assert_int_eq(imap_parse_create(&cmd, &a, &use, &error), -1);
	parse_ok("t CREATE x (FOO (\\Drafts))\r\n");
	ck_assert_int_eq(imap_parse_create(&cmd, &a, &use, &error), -1);
	parse_ok("t CREATE x USE\r\n");
	ck_assert_int_eq(imap_parse_create(&cmd, &a, &use, &error), -1);
	parse_ok("t CREATE\r\n");
	ck_assert_int_eq(imap_parse_create(&cmd, &a, &use, &error), -1);

	parse_ok("t DELETE \"a b\"\r\n");
	ck_assert_int_eq(imap_parse_mailbox(&cmd, &a, &error), 0);
	ck_assert_str_eq(a.data, "a b");
	parse_ok("t DELETE a b\r\n");
	ck_assert_int_eq(imap_parse_mailbox(&cmd, &a, &error), -1);
	parse_ok("t SUBSCRIBE a*\r\n");
	ck_assert_int_eq(imap_parse_mailbox(&cmd, &a, &error), -1);

	parse_ok("t RENAME old {3}\r\nnew\r\n");
	ck_assert_int_eq(imap_parse_rename(&cmd, &a, &b, &error), 0);
	ck_assert_str_eq(a.data, "old");
	ck_assert_str_eq(b.data, "new");
	parse_ok("t RENAME old\r\n");
	ck_assert_int_eq(imap_parse_rename(&cmd, &a, &b, &error), -1);

	parse_ok("t UID MOVE 1:5,9 Trash\r\n");
	ck_assert_int_eq(imap_parse_copy(&cmd, &lim, &set, &a, &error), 0);
	ck_assert_uint_eq(set.nranges, 2);
	ck_assert_str_eq(a.data, "Trash");
	parse_ok("t COPY Trash 1\r\n");
	ck_assert_int_eq(imap_parse_copy(&cmd, &lim, &set, &a, &error), -1);
	parse_ok("t COPY 1\r\n");
	ck_assert_int_eq(imap_parse_copy(&cmd, &lim, &set, &a, &error), -1);

	parse_ok("t UID EXPUNGE 3:5\r\n");
	ck_assert_int_eq(imap_parse_uid_expunge(&cmd, &lim, &set, &error), 0);
	parse_ok("t UID EXPUNGE\r\n");
	ck_assert_int_eq(imap_parse_uid_expunge(&cmd, &lim, &set, &error), -1);
	parse_ok("t UID EXPUNGE (1)\r\n");
	ck_assert_int_eq(imap_parse_uid_expunge(&cmd, &lim, &set, &error), -1);
}
END_TEST

START_TEST(test_login_auth)
{
	struct imap_str	 u, p;
	bool		 has_ir, cancel;
	const char	*error, *d;
	size_t		 n;

	parse_ok("a LOGIN fred \"pa ss\\\"word\"\r\n");
	ck_assert_int_eq(imap_parse_login(&cmd, &u, &p, &error), 0);
	ck_assert_str_eq(u.data, "fred");
	ck_assert_str_eq(p.data, "pa ss\"word");
	parse_ok("a LOGIN {4}\r\nfred {3}\r\nx)y\r\n");
	ck_assert_int_eq(imap_parse_login(&cmd, &u, &p, &error), 0);
	ck_assert_str_eq(p.data, "x)y");
	parse_ok("a LOGIN fred\r\n");
	ck_assert_int_eq(imap_parse_login(&cmd, &u, &p, &error), -1);
	parse_ok("a LOGIN fred (x)\r\n");
	ck_assert_int_eq(imap_parse_login(&cmd, &u, &p, &error), -1);
	parse_ok("a LOGIN fred a\\b\r\n");
	ck_assert_int_eq(imap_parse_login(&cmd, &u, &p, &error), -1);

	parse_ok("a AUTHENTICATE PLAIN\r\n");
	ck_assert_int_eq(imap_parse_authenticate(&cmd, &u, &has_ir, &p,
	    &error), 0);
	ck_assert_str_eq(u.data, "PLAIN");
	ck_assert(!has_ir);
	parse_ok("a AUTHENTICATE PLAIN AGZyZWQAc2VjcmV0\r\n");
	ck_assert_int_eq(imap_parse_authenticate(&cmd, &u, &has_ir, &p,
	    &error), 0);
	ck_assert(has_ir);
	ck_assert_str_eq(p.data, "AGZyZWQAc2VjcmV0");
	parse_ok("a AUTHENTICATE PLAIN =\r\n");
	ck_assert_int_eq(imap_parse_authenticate(&cmd, &u, &has_ir, &p,
	    &error), 0);
	ck_assert(has_ir);
	ck_assert_uint_eq(p.len, 0);
	parse_ok("a AUTHENTICATE PLAIN AGZ=\r\n");
	ck_assert_int_eq(imap_parse_authenticate(&cmd, &u, &has_ir, &p,
	    &error), 0);
	parse_ok("a AUTHENTICATE PLAIN AG==\r\n");
	ck_assert_int_eq(imap_parse_authenticate(&cmd, &u, &has_ir, &p,
	    &error), 0);
	parse_ok("a AUTHENTICATE PLAIN AGZ\r\n");
	ck_assert_int_eq(imap_parse_authenticate(&cmd, &u, &has_ir, &p,
	    &error), -1);
	parse_ok("a AUTHENTICATE PLAIN A===\r\n");
	ck_assert_int_eq(imap_parse_authenticate(&cmd, &u, &has_ir, &p,
	    &error), -1);
	parse_ok("a AUTHENTICATE PLAIN AG=Z\r\n");
	ck_assert_int_eq(imap_parse_authenticate(&cmd, &u, &has_ir, &p,
	    &error), -1);
	parse_ok("a AUTHENTICATE PLAIN \"AGZy\"\r\n");
	ck_assert_int_eq(imap_parse_authenticate(&cmd, &u, &has_ir, &p,
	    &error), -1);
	parse_ok("a AUTHENTICATE\r\n");
	ck_assert_int_eq(imap_parse_authenticate(&cmd, &u, &has_ir, &p,
	    &error), -1);
	parse_ok("a AUTHENTICATE \"PLAIN\"\r\n");
	ck_assert_int_eq(imap_parse_authenticate(&cmd, &u, &has_ir, &p,
	    &error), -1);
	parse_ok("a AUTHENTICATE PLAIN AGZy x\r\n");
	ck_assert_int_eq(imap_parse_authenticate(&cmd, &u, &has_ir, &p,
	    &error), -1);

	ck_assert_int_eq(imap_parse_sasl_response("AGZy\r\n", 6, &d, &n,
	    &cancel, &error), 0);
	ck_assert(!cancel);
	ck_assert_uint_eq(n, 4);
	ck_assert_int_eq(imap_parse_sasl_response("\r\n", 2, &d, &n, &cancel,
	    &error), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(imap_parse_sasl_response("*\r\n", 3, &d, &n, &cancel,
	    &error), 0);
	ck_assert(cancel);
	ck_assert_int_eq(imap_parse_sasl_response("AG Zy\r\n", 7, &d, &n,
	    &cancel, &error), -1);
	ck_assert_int_eq(imap_parse_sasl_response("**\r\n", 4, &d, &n,
	    &cancel, &error), -1);
}
END_TEST

START_TEST(test_enable_id_noargs)
{
	static const char *const id_bad[] = {
		"t ID\r\n",
		"t ID NIL NIL\r\n",
		"t ID (\"a\")\r\n",
		"t ID (a \"b\")\r\n",
		"t ID (\"a\" b)\r\n",
		"t ID (\"a\" (\"b\"))\r\n",
		"t ID \"a\"\r\n",
		"t ID (\"name\" \"x\" \"NAME\" \"y\")\r\n",
		"t ID (\"123456789012345678901234567890X\" \"x\")\r\n",
	};
	struct imap_id	 id;
	unsigned int	 caps, i;
	const char	*error;
	struct buf	*b;

	parse_ok("t ENABLE CONDSTORE utf8=accept IMAP4rev2 X-FOO\r\n");
	ck_assert_int_eq(imap_parse_enable(&cmd, &caps, &error), 0);
	ck_assert_uint_eq(caps, IMAP_ENABLE_UTF8_ACCEPT | IMAP_ENABLE_IMAP4REV2);
	parse_ok("t ENABLE\r\n");
	ck_assert_int_eq(imap_parse_enable(&cmd, &caps, &error), -1);
	parse_ok("t ENABLE \"UTF8=ACCEPT\"\r\n");
	ck_assert_int_eq(imap_parse_enable(&cmd, &caps, &error), -1);

	parse_ok("t ID NIL\r\n");
	ck_assert_int_eq(imap_parse_id(&cmd, &lim, &id, &error), 0);
	ck_assert(id.nil);
	parse_ok("t ID ()\r\n");
	ck_assert_int_eq(imap_parse_id(&cmd, &lim, &id, &error), 0);
	ck_assert(!id.nil);
	ck_assert_uint_eq(id.npairs, 0);
	parse_ok("t ID (\"name\" \"Thunderbird\" \"version\" {4}\r\n115. "
	    "\"os\" NIL)\r\n");
	ck_assert_int_eq(imap_parse_id(&cmd, &lim, &id, &error), 0);
	ck_assert_uint_eq(id.npairs, 3);
	ck_assert_str_eq(id.pairs[0].value.data, "Thunderbird");
	ck_assert_str_eq(id.pairs[1].value.data, "115.");
	ck_assert(id.pairs[2].value_nil);
	for (i = 0; i < N_ELEMENTS(id_bad); i++) {
		parse_ok(id_bad[i]);
		if (imap_parse_id(&cmd, &lim, &id, &error) == 0)
			ck_abort_msg("ID \"%s\" accepted", id_bad[i]);
	}
	/* pairs: the maximum and one over; value length likewise */
	b = buf_new(0, 100000);
	ck_assert_int_eq(buf_append_str(b, "t ID ("), 0);
	for (i = 0; i < IMAP_PARSE_DEF_MAX_ID_PAIRS; i++)
		ck_assert_int_eq(buf_printf(b, "%s\"f%u\" \"v\"", i ? " " : "",
		    i), 0);
	ck_assert_int_eq(buf_append_str(b, ")\r\n"), 0);
	parse_ok(b->data);
	ck_assert_int_eq(imap_parse_id(&cmd, &lim, &id, &error), 0);
	buf_truncate(b, b->len - 3);
	ck_assert_int_eq(buf_append_str(b, " \"last\" NIL)\r\n"), 0);
	parse_ok(b->data);
	ck_assert_int_eq(imap_parse_id(&cmd, &lim, &id, &error), -1);
	ck_assert_str_eq(error, "Too many ID pairs");
	buf_reset(b);
	ck_assert_int_eq(buf_append_str(b, "t ID (\"123456789012345678901234567890\" \""),
	    0);
	for (i = 0; i < IMAP_PARSE_DEF_MAX_ID_VALUE; i++)
		ck_assert_int_eq(buf_append_byte(b, 'v'), 0);
	ck_assert_int_eq(buf_append_str(b, "\")\r\n"), 0);
	parse_ok(b->data);
	ck_assert_int_eq(imap_parse_id(&cmd, &lim, &id, &error), 0);
	buf_truncate(b, b->len - 4);
	ck_assert_int_eq(buf_append_str(b, "v\")\r\n"), 0);
	parse_ok(b->data);
	ck_assert_int_eq(imap_parse_id(&cmd, &lim, &id, &error), -1);
	ck_assert_str_eq(error, "ID value too long");
	buf_free(&b);

	parse_ok("t NOOP\r\n");
	ck_assert_int_eq(imap_parse_noargs(&cmd, &error), 0);
	parse_ok("t CAPABILITY x\r\n");
	ck_assert_int_eq(imap_parse_noargs(&cmd, &error), -1);
}
END_TEST

START_TEST(test_arena_reuse)
{
	char		*s;
	unsigned int	 i;
	const char	*error;

	/* big then small commands: results stay right, memory is reused */
	s = repeat('a', 60000, " b\r\n");
	memcpy(s, "t X \"", 5);
	s[59999] = '"';
	for (i = 0; i < 50; i++) {
		parse_ok(s);
		ck_assert_uint_eq(cmd.args->len, 59994);
		parse_ok("t LOGIN a b\r\n");
		ck_assert_int_eq(imap_parse_login(&cmd, &(struct imap_str){ 0 },
		    &(struct imap_str){ 0 }, &error), 0);
	}
	free(s);
}
END_TEST

static Suite *
imap_parse_suite(void)
{
	Suite	*s = suite_create("imap_parse");
	TCase	*tc;

	tc = tcase_create("scan");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_scan_simple);
	tcase_add_test(tc, test_scan_pipelined);
	tcase_add_test(tc, test_scan_literal);
	tcase_add_test(tc, test_scan_bytewise);
	tcase_add_test(tc, test_scan_linear);
	tcase_add_test(tc, test_scan_line_limit);
	tcase_add_test(tc, test_scan_nul);
	tcase_add_test(tc, test_scan_literal_limits);
	tcase_add_test(tc, test_scan_literal_huge);
	tcase_add_test(tc, test_scan_nonsync);
	tcase_add_test(tc, test_scan_literal8);
	tcase_add_test(tc, test_scan_too_many_literals);
	tcase_add_test(tc, test_scan_literal_taken);
	tcase_add_test(tc, test_scan_skip_line);
	tcase_add_test(tc, test_scan_skip_literal);
	tcase_add_test(tc, test_scan_refuse);
	tcase_add_test(tc, test_scan_line_mode);
	tcase_add_test(tc, test_scan_strerror);
	suite_add_tcase(s, tc);

	tc = tcase_create("parse");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_parse_basic);
	tcase_add_test(tc, test_parse_args);
	tcase_add_test(tc, test_parse_literals);
	tcase_add_test(tc, test_parse_limits);
	tcase_add_test(tc, test_parse_fetch_syntax);
	tcase_add_test(tc, test_arena_reuse);
	suite_add_tcase(s, tc);

	tc = tcase_create("typed");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_seqset_parse);
	tcase_add_test(tc, test_seqset_limit);
	tcase_add_test(tc, test_seqset_normalize);
	tcase_add_test(tc, test_fetch_good);
	tcase_add_test(tc, test_fetch_bad);
	tcase_add_test(tc, test_fetch_limits);
	tcase_add_test(tc, test_fetch_att_name_full);
	tcase_add_test(tc, test_search_keys);
	tcase_add_test(tc, test_search_program);
	tcase_add_test(tc, test_search_bad);
	tcase_add_test(tc, test_search_limits);
	tcase_add_test(tc, test_store);
	tcase_add_test(tc, test_dates);
	tcase_add_test(tc, test_append);
	tcase_add_test(tc, test_list);
	tcase_add_test(tc, test_status);
	tcase_add_test(tc, test_mailbox_commands);
	tcase_add_test(tc, test_login_auth);
	tcase_add_test(tc, test_enable_id_noargs);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(imap_parse_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
