/* SPDX-License-Identifier: ISC */
/*
 * libFuzzer target for common/mbox_name.c.  The whole input is tried as
 * modified UTF-7, as UTF-8 to encode, as a mailbox name and as a folder
 * name, checking the round trips the header promises:
 *	encode(decode(x)) == x for every x decode accepts,
 *	decode(encode(x)) == x for every x encode accepts,
 *	from_disk(to_disk(n)) == n for every valid name, and the folder name
 *	is one safe path component,
 *	to_disk(from_disk(d)) == d for every folder name from_disk accepts,
 *	normalize and from_imap(to_imap()) give the same canonical name.
 * Then the input is read as lines: a LIST reference, a pattern, and names
 * to match.  Each match is compared with a plain dynamic-programming
 * matcher over the combined pattern text, a match implies that every
 * prefix of the name may match, and all the matching of one input must
 * finish within MATCH_SECONDS (a backtracking matcher would not).
 */
/* fuzz-sources: common/mbox_name.c common/buf.c common/log.c common/error.c common/str.c common/xmalloc.c common/utf8.c */
/* fuzz-libs: */
#include "config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/mbox_name.h"
#include "common/xmalloc.h"

#include "common/banned.h"

#define OUT_MAX		(1024 * 1024)
#define MATCH_SECONDS	2.0
#define NAMES_MAX	64
/* The reference matcher is O(n * m): only below this much work. */
#define DP_MAX		(1024 * 1024)
#define PREFIX_MAX	300

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct mbox_name_limits lim = MBOX_NAME_LIMITS_DEFAULT;

static bool
same(const struct buf *b, const char *s, size_t len)
{
	return b->len == len && memcmp(b->data, s, len) == 0;
}

static void
fuzz_mutf7(const char *in, size_t len, struct buf *a, struct buf *b)
{
	const char	*error;

	buf_reset(a);
	buf_reset(b);
	if (mbox_name_mutf7_decode(in, len, a, &error) == 0) {
		if (mbox_name_mutf7_encode(a->data, a->len, b, &error) == -1 ||
		    !same(b, in, len))
			abort();
	} else if (a->len != 0 || error == NULL)
		abort();
	buf_reset(a);
	buf_reset(b);
	if (mbox_name_mutf7_encode(in, len, a, &error) == 0) {
		if (mbox_name_mutf7_decode(a->data, a->len, b, &error) == -1 ||
		    !same(b, in, len))
			abort();
	} else if (a->len != 0 || error == NULL)
		abort();
}

/* n is a canonical name: check every way back to it. */
static void
fuzz_canonical(const char *n, size_t len, struct buf *a, struct buf *b)
{
	const char	*error;
	size_t		 i;

	buf_reset(a);
	if (mbox_name_to_disk(n, len, &lim, a, &error) == -1)
		abort();
	if (a->len == 0) {
		if (!mbox_name_is_inbox(n, len) || memcmp(n, "INBOX", 5) != 0)
			abort();
	} else {
		if (a->len < 2 || a->len > MBOX_NAME_DISK_MAX ||
		    a->data[0] != '.' || a->data[1] == '.' ||
		    a->data[a->len - 1] == '.' || strstr(a->data, "..") != NULL)
			abort();
		for (i = 0; i < a->len; i++) {
			if (a->data[i] < 0x20 || a->data[i] > 0x7e ||
			    a->data[i] == '/')
				abort();
		}
	}
	buf_reset(b);
	if (mbox_name_from_disk(a->data, a->len, &lim, b, &error) == -1 ||
	    !same(b, n, len))
		abort();
	buf_reset(b);
	if (mbox_name_normalize(n, len, &lim, b, &error) == -1 ||
	    !same(b, n, len))
		abort();
	buf_reset(a);
	buf_reset(b);
	if (mbox_name_to_imap(n, len, false, a, &error) == -1 ||
	    mbox_name_from_imap(a->data, a->len, false, &lim, b,
	    &error) == -1 || !same(b, n, len))
		abort();
	buf_reset(b);
	if (mbox_name_from_imap(n, len, true, &lim, b, &error) == -1 ||
	    !same(b, n, len))
		abort();
}

static void
fuzz_names(const char *in, size_t len, struct buf *a, struct buf *b)
{
	struct buf	*n = buf_new(0, OUT_MAX);
	const char	*error;

	if (mbox_name_normalize(in, len, &lim, n, &error) == 0)
		fuzz_canonical(n->data, n->len, a, b);
	buf_reset(n);
	if (mbox_name_from_imap(in, len, false, &lim, n, &error) == 0)
		fuzz_canonical(n->data, n->len, a, b);
	buf_reset(n);
	if (mbox_name_from_disk(in, len, &lim, n, &error) == 0) {
		fuzz_canonical(n->data, n->len, a, b);
		buf_reset(a);
		if (mbox_name_to_disk(n->data, n->len, &lim, a, &error) == -1 ||
		    !same(a, in, len))
			abort();
	} else if (n->len != 0)
		abort();
	buf_free(&n);
}

static bool
ref_eq(char pc, char c, bool fold)
{
	if (pc == c)
		return true;
	if (!fold)
		return false;
	if (pc >= 'a' && pc <= 'z')
		pc = (char)(pc - 'a' + 'A');
	if (c >= 'a' && c <= 'z')
		c = (char)(c - 'a' + 'A');
	return pc == c && c >= 'A' && c <= 'Z';
}

static bool
ref_inbox_first(const char *s, size_t len)
{
	size_t	i;

	if (len < 5 || (len > 5 && s[5] != '/'))
		return false;
	for (i = 0; i < 5; i++) {
		if (!ref_eq("INBOX"[i], s[i], true))
			return false;
	}
	return true;
}

/* The textbook O(n * m) matcher: dp[j] = pat[0..j) matches s[0..i). */
static bool
ref_match(const char *pat, size_t m, const char *s, size_t n)
{
	bool	*dp, *nx, *t, r;
	bool	 fold = ref_inbox_first(s, n);
	size_t	 i, j;

	dp = xcalloc(m + 1, sizeof(*dp));
	nx = xcalloc(m + 1, sizeof(*nx));
	dp[0] = true;
	for (j = 1; j <= m; j++)
		dp[j] = dp[j - 1] && (pat[j - 1] == '*' || pat[j - 1] == '%');
	for (i = 0; i < n; i++) {
		nx[0] = false;
		for (j = 1; j <= m; j++) {
			if (pat[j - 1] == '*')
				nx[j] = nx[j - 1] || dp[j];
			else if (pat[j - 1] == '%')
				nx[j] = nx[j - 1] || (dp[j] && s[i] != '/');
			else
				nx[j] = dp[j - 1] &&
				    ref_eq(pat[j - 1], s[i], fold && i < 5);
		}
		t = dp;
		dp = nx;
		nx = t;
	}
	r = dp[m];
	free(dp);
	free(nx);
	return r;
}

static double
now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Lines: reference, pattern, names. */
static void
fuzz_patterns(const char *in, size_t len, bool utf8)
{
	struct mbox_name_pattern *p = NULL;
	const char	*line[NAMES_MAX + 2], *end = in + len, *nl;
	const char	*error, *text;
	size_t		 llen[NAMES_MAX + 2], nlines = 0, i, k, tlen;
	double		 t0, spent = 0;
	bool		 m;

	for (; nlines < N_ELEMENTS(line); nlines++) {
		line[nlines] = in;
		nl = memchr(in, '\n', (size_t)(end - in));
		llen[nlines] = (size_t)((nl != NULL ? nl : end) - in);
		if (nl == NULL) {
			nlines++;
			break;
		}
		in = nl + 1;
	}
	if (nlines < 2)
		return;
	if (mbox_name_pattern_new(line[0], llen[0], line[1], llen[1], utf8,
	    &lim, &p, &error) == -1) {
		if (p != NULL || error == NULL)
			abort();
		return;
	}
	text = mbox_name_pattern_text(p, &tlen);
	if (utf8) {
		/* The combination rule of the header. */
		if (llen[0] == 0 || (llen[1] > 0 && line[1][0] == '/')) {
			if (tlen != llen[1] || memcmp(text, line[1], tlen) != 0)
				abort();
		} else if (tlen != llen[0] + llen[1] ||
		    memcmp(text, line[0], llen[0]) != 0 ||
		    memcmp(text + llen[0], line[1], llen[1]) != 0)
			abort();
	}
	for (i = 2; i < nlines; i++) {
		t0 = now();
		m = mbox_name_pattern_match(p, line[i], llen[i]);
		spent += now() - t0;
		if (tlen * llen[i] <= DP_MAX &&
		    m != ref_match(text, tlen, line[i], llen[i]))
			abort();
		/* Quadratic, so only on names of a realistic length. */
		for (k = 0; m && llen[i] <= PREFIX_MAX && k <= llen[i]; k++) {
			if (!mbox_name_pattern_match_prefix(p, line[i], k))
				abort();
		}
	}
	if (spent > MATCH_SECONDS)
		abort();
	mbox_name_pattern_free(&p);
	if (p != NULL)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char	*in = (const char *)data;
	struct buf	*a = buf_new(0, OUT_MAX), *b = buf_new(0, OUT_MAX);

	fuzz_mutf7(in, size, a, b);
	fuzz_names(in, size, a, b);
	fuzz_patterns(in, size, true);
	fuzz_patterns(in, size, false);
	buf_free(&a);
	buf_free(&b);
	return 0;
}
