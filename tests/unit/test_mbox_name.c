/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for common/mbox_name.c: modified UTF-7 both ways (RFC 3501
 * examples, every rejection of the strict decoder, every invalid UTF-8
 * form on the encode side, every BMP code point and a sample of the
 * others round-tripped); the name checks (each refusal, INBOX in any case,
 * the UTF-8, on-disk and depth limits at the maximum and one over); the
 * Maildir++ folder names (a table of tricky names, every folder name we
 * must refuse, and a bijection check over all pairs of tricky levels);
 * hierarchy order and the children helper; LIST patterns (RFC 3501 and
 * RFC 5258 shapes, reference handling, INBOX case, the prefix helper, the
 * length limit, long patterns on the heap, and pathological patterns
 * finishing in bounded time); a full output buffer everywhere.
 */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <check.h>

#include "common/buf.h"
#include "common/mbox_name.h"
#include "common/xmalloc.h"

#include "common/banned.h"

#define S(s)		(s), sizeof(s) - 1
/* "Japanese" and "Taipei" in Japanese, UTF-8 (RFC 3501 5.1.3's example). */
#define JA		"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e"
#define TW		"\xe5\x8f\xb0\xe5\x8c\x97"

static const struct mbox_name_limits deflim = MBOX_NAME_LIMITS_DEFAULT;

/* ---- helpers -------------------------------------------------------- */

/* A roomy output buffer. */
static struct buf *
out_new(void)
{
	return buf_new(0, 64 * 1024);
}

static void
check_decode(const char *in, size_t len, const char *want, size_t want_len)
{
	struct buf	*b = out_new();
	const char	*error = NULL;

	ck_assert_msg(mbox_name_mutf7_decode(in, len, b, &error) == 0,
	    "decode %s: %s", in, error);
	ck_assert_uint_eq(b->len, want_len);
	ck_assert_mem_eq(b->data, want, want_len);
	buf_free(&b);
}

static void
check_decode_fails(const char *in, size_t len)
{
	struct buf	*b = out_new();
	const char	*error = NULL;

	ck_assert_int_eq(buf_append(b, "keep", 4), 0);
	ck_assert_msg(mbox_name_mutf7_decode(in, len, b, &error) == -1,
	    "decode accepted %s", in);
	ck_assert_ptr_nonnull(error);
	ck_assert_str_eq(b->data, "keep");		/* unchanged */
	buf_free(&b);
}

static void
check_encode(const char *in, size_t len, const char *want)
{
	struct buf	*b = out_new();
	const char	*error = NULL;

	ck_assert_msg(mbox_name_mutf7_encode(in, len, b, &error) == 0,
	    "encode: %s", error);
	ck_assert_str_eq(b->data, want);
	buf_free(&b);
}

static void
check_encode_fails(const char *in, size_t len)
{
	struct buf	*b = out_new();
	const char	*error = NULL;

	ck_assert_int_eq(buf_append(b, "keep", 4), 0);
	ck_assert_int_eq(mbox_name_mutf7_encode(in, len, b, &error), -1);
	ck_assert_ptr_nonnull(error);
	ck_assert_str_eq(b->data, "keep");
	buf_free(&b);
}

/* normalize(in) == want, or refused when want is NULL. */
static void
check_norm_lim(const char *in, size_t len, const char *want,
    const struct mbox_name_limits *lim)
{
	struct buf	*b = out_new();
	const char	*error = NULL;
	int		 ret;

	ck_assert_int_eq(buf_append(b, "<", 1), 0);
	ret = mbox_name_normalize(in, len, lim, b, &error);
	if (want == NULL) {
		ck_assert_msg(ret == -1, "accepted \"%s\"", in);
		ck_assert_ptr_nonnull(error);
		ck_assert_str_eq(b->data, "<");
	} else {
		ck_assert_msg(ret == 0, "\"%s\": %s", in, error);
		ck_assert_str_eq(b->data + 1, want);
	}
	buf_free(&b);
}

static void
check_norm(const char *in, size_t len, const char *want)
{
	check_norm_lim(in, len, want, &deflim);
}

/* to_disk(name) == disk and from_disk(disk) == canon. */
static void
check_disk(const char *name, const char *disk, const char *canon)
{
	struct buf	*b = out_new();
	const char	*error = NULL;

	ck_assert_msg(mbox_name_to_disk(name, strlen(name), &deflim, b,
	    &error) == 0, "to_disk %s: %s", name, error);
	ck_assert_str_eq(b->data, disk);
	buf_reset(b);
	ck_assert_msg(mbox_name_from_disk(disk, strlen(disk), &deflim, b,
	    &error) == 0, "from_disk %s: %s", disk, error);
	ck_assert_str_eq(b->data, canon);
	buf_free(&b);
}

static void
check_from_disk_fails(const char *disk, size_t len)
{
	struct buf	*b = out_new();
	const char	*error = NULL;

	ck_assert_int_eq(buf_append(b, "keep", 4), 0);
	ck_assert_msg(mbox_name_from_disk(disk, len, &deflim, b,
	    &error) == -1, "from_disk accepted \"%s\"", disk);
	ck_assert_ptr_nonnull(error);
	ck_assert_str_eq(b->data, "keep");
	buf_free(&b);
}

static struct mbox_name_pattern *
pattern(const char *ref, const char *pat, bool utf8)
{
	struct mbox_name_pattern *p = NULL;
	const char	*error = NULL;

	ck_assert_msg(mbox_name_pattern_new(ref, strlen(ref), pat,
	    strlen(pat), utf8, &deflim, &p, &error) == 0,
	    "pattern \"%s\" \"%s\": %s", ref, pat, error);
	return p;
}

static bool
matches(const char *ref, const char *pat, const char *name)
{
	struct mbox_name_pattern *p = pattern(ref, pat, true);
	bool		 m;

	m = mbox_name_pattern_match(p, name, strlen(name));
	mbox_name_pattern_free(&p);
	ck_assert_ptr_null(p);
	return m;
}

static bool
matches_prefix(const char *pat, const char *prefix)
{
	struct mbox_name_pattern *p = pattern("", pat, true);
	bool		 m;

	m = mbox_name_pattern_match_prefix(p, prefix, strlen(prefix));
	mbox_name_pattern_free(&p);
	return m;
}

static char *
repeat(const char *s, size_t n)
{
	size_t	len = strlen(s), i;
	char	*r = xmalloc(len * n + 1);

	for (i = 0; i < n; i++)
		memcpy(r + i * len, s, len);
	r[len * n] = '\0';
	return r;
}

static double
now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- modified UTF-7 ------------------------------------------------- */

START_TEST(test_mutf7_decode_ok)
{
	check_decode(S(""), S(""));
	check_decode(S("INBOX"), S("INBOX"));
	check_decode(S("&-"), S("&"));
	check_decode(S("a&-b&-&-"), S("a&b&&"));
	check_decode(S("&AOk-"), S("\xc3\xa9"));
	check_decode(S("&AOk--"), S("\xc3\xa9-"));
	check_decode(S("&AOkA6Q-"), S("\xc3\xa9\xc3\xa9"));
	check_decode(S("&AOk-&-"), S("\xc3\xa9&"));
	check_decode(S("&-&AOk-"), S("&\xc3\xa9"));
	check_decode(S("Entw&APw-rfe"), S("Entw\xc3\xbcrfe"));
	/* RFC 3501 5.1.3. */
	check_decode(S("~peter/mail/&U,BTFw-/&ZeVnLIqe-"),
	    S("~peter/mail/" TW "/" JA));
	check_decode(S("&2D3eAA-"), S("\xf0\x9f\x98\x80"));
	check_decode(S("a&2D3eAA-b"), S("a\xf0\x9f\x98\x80" "b"));
	check_decode(S("&2,,f,w-"), S("\xf4\x8f\xbf\xbf"));	/* U+10FFFF */
	check_decode(S("&,,8-"), S("\xef\xbf\xbf"));		/* U+FFFF */
	/* Controls other than NUL decode; the name checks refuse them. */
	check_decode(S("&AB8-"), S("\x1f"));
	check_decode(S("&AH8-"), S("\x7f"));
	check_decode(S("&AIA-"), S("\xc2\x80"));
	/* Every printable ASCII byte but "&" is itself. */
	check_decode(S(" !\"#$%'()*+,-./09:;<=>?@AZ[\\]^_`az{|}~"),
	    S(" !\"#$%'()*+,-./09:;<=>?@AZ[\\]^_`az{|}~"));
}
END_TEST

START_TEST(test_mutf7_decode_refused)
{
	check_decode_fails(S("&"));			/* unterminated */
	check_decode_fails(S("a&"));
	check_decode_fails(S("&AOk"));
	check_decode_fails(S("&AOkA6Q"));
	check_decode_fails(S("&AOk-&AOk-"));		/* adjacent runs */
	check_decode_fails(S("&AGE-"));			/* "a" in base64 */
	check_decode_fails(S("&ACY-"));			/* "&" in base64 */
	check_decode_fails(S("&ACA-"));			/* " " */
	check_decode_fails(S("&AH4-"));			/* "~" */
	check_decode_fails(S("&AOkAYQ-"));		/* U+00E9 "a" */
	check_decode_fails(S("&AOl-"));			/* padding bits */
	check_decode_fails(S("&AOkA6R-"));
	check_decode_fails(S("&A-"));			/* lengths */
	check_decode_fails(S("&AO-"));
	check_decode_fails(S("&AOkA-"));
	check_decode_fails(S("&AOkA6-"));
	check_decode_fails(S("&AOkA6QA-"));
	check_decode_fails(S("&2D0-"));			/* lone high */
	check_decode_fails(S("&3gA-"));			/* lone low */
	check_decode_fails(S("&2D3YPQ-"));		/* high, high */
	check_decode_fails(S("&3gDYPQ-"));		/* low, high */
	check_decode_fails(S("&2D0-&3gA-"));		/* split pair */
	check_decode_fails(S("&AAA-"));			/* U+0000 */
	check_decode_fails(S("&AOk*-"));		/* not base64 */
	check_decode_fails(S("&AO/-"));			/* "/" not modified */
	check_decode_fails(S("&AO=-"));
	check_decode_fails(S("&AOk&-"));
	check_decode_fails(S("a\x80" "b"));		/* 8-bit */
	check_decode_fails(S("\xc3\xa9"));
	check_decode_fails(S("a\tb"));			/* control */
	check_decode_fails(S("a\x7f"));
	check_decode_fails(S("a\0b"));			/* NUL */
	check_decode_fails(S("&AOk\0-"));
}
END_TEST

START_TEST(test_mutf7_encode)
{
	check_encode(S(""), "");
	check_encode(S("INBOX"), "INBOX");
	check_encode(S("&"), "&-");
	check_encode(S("&-"), "&--");
	check_encode(S("\xc3\xa9"), "&AOk-");
	check_encode(S("\xc3\xa9-"), "&AOk--");
	check_encode(S("\xc3\xa9\xc3\xa9"), "&AOkA6Q-");
	check_encode(S("\xc3\xa9&"), "&AOk-&-");
	check_encode(S("Entw\xc3\xbcrfe"), "Entw&APw-rfe");
	check_encode(S("~peter/mail/" TW "/" JA),
	    "~peter/mail/&U,BTFw-/&ZeVnLIqe-");
	check_encode(S("a\xf0\x9f\x98\x80" "b"), "a&2D3eAA-b");
	check_encode(S("\xf4\x8f\xbf\xbf"), "&2,,f,w-");
	check_encode(S("\x1f"), "&AB8-");
	check_encode(S("\x7f"), "&AH8-");
	check_encode(S("a\tb"), "a&AAk-b");
}
END_TEST

START_TEST(test_mutf7_encode_refused)
{
	check_encode_fails(S("a\0b"));			/* NUL */
	check_encode_fails(S("\xc3"));			/* truncated */
	check_encode_fails(S("\xe6\x97"));
	check_encode_fails(S("\xf0\x9f\x98"));
	check_encode_fails(S("\xc3\x28"));		/* bad continuation */
	check_encode_fails(S("\x80"));			/* lone continuation */
	check_encode_fails(S("\xbf"));
	check_encode_fails(S("\xc0\xaf"));		/* overlong */
	check_encode_fails(S("\xc1\xbf"));
	check_encode_fails(S("\xe0\x80\xaf"));
	check_encode_fails(S("\xf0\x80\x80\xaf"));
	check_encode_fails(S("\xed\xa0\x80"));		/* surrogates */
	check_encode_fails(S("\xed\xbf\xbf"));
	check_encode_fails(S("\xf4\x90\x80\x80"));	/* > U+10FFFF */
	check_encode_fails(S("\xf5\x80\x80\x80"));
	check_encode_fails(S("\xff"));
	check_encode_fails(S("\xfe"));
}
END_TEST

/* Every code point alone and between others: decode(encode(x)) == x. */
START_TEST(test_mutf7_round_trip_all)
{
	struct buf	*u = out_new(), *m = out_new(), *d = out_new();
	const char	*error;
	uint32_t	 c;
	uint8_t		 s[4];
	size_t		 n;

	for (c = 1; c <= 0x10ffff; c++) {
		if (c >= 0xd800 && c <= 0xdfff)
			continue;
		/* All of the BMP; beyond it every 97th. */
		if (c > 0xffff && c % 97 != 0 && c != 0x10ffff)
			continue;
		if (c < 0x80) {
			s[0] = (uint8_t)c;
			n = 1;
		} else if (c < 0x800) {
			s[0] = (uint8_t)(0xc0 | c >> 6);
			s[1] = (uint8_t)(0x80 | (c & 0x3f));
			n = 2;
		} else if (c < 0x10000) {
			s[0] = (uint8_t)(0xe0 | c >> 12);
			s[1] = (uint8_t)(0x80 | (c >> 6 & 0x3f));
			s[2] = (uint8_t)(0x80 | (c & 0x3f));
			n = 3;
		} else {
			s[0] = (uint8_t)(0xf0 | c >> 18);
			s[1] = (uint8_t)(0x80 | (c >> 12 & 0x3f));
			s[2] = (uint8_t)(0x80 | (c >> 6 & 0x3f));
			s[3] = (uint8_t)(0x80 | (c & 0x3f));
			n = 4;
		}
		buf_reset(u);
		buf_reset(m);
		buf_reset(d);
		/*
		 * x, then "x&x-x" U+00E9 "x" to cross run boundaries.
		 * Plain ifs: a check assertion per step costs a write.
		 */
		if (buf_append(u, s, n) == -1 || buf_append(u, "&", 1) == -1 ||
		    buf_append(u, s, n) == -1 || buf_append(u, "-", 1) == -1 ||
		    buf_append(u, s, n) == -1 ||
		    buf_append(u, "\xc3\xa9", 2) == -1 ||
		    buf_append(u, s, n) == -1)
			ck_abort_msg("buf_append");
		if (mbox_name_mutf7_encode(u->data, u->len, m, &error) == -1)
			ck_abort_msg("U+%04X: %s", c, error);
		if (mbox_name_mutf7_decode(m->data, m->len, d, &error) == -1)
			ck_abort_msg("U+%04X %s: %s", c, m->data, error);
		if (d->len != u->len || memcmp(d->data, u->data, u->len) != 0)
			ck_abort_msg("U+%04X: round trip differs", c);
	}
	buf_free(&u);
	buf_free(&m);
	buf_free(&d);
}
END_TEST

START_TEST(test_mutf7_output_full)
{
	struct buf	*b = buf_new(0, 6);
	const char	*error = NULL;

	ck_assert_int_eq(buf_append(b, "ab", 2), 0);
	/* 4 more bytes fit, 5 do not. */
	ck_assert_int_eq(mbox_name_mutf7_decode(S("&AOkA6Q-"), b, &error), 0);
	ck_assert_str_eq(b->data, "ab\xc3\xa9\xc3\xa9");
	buf_truncate(b, 2);
	ck_assert_int_eq(mbox_name_mutf7_decode(S("&AOkA6Q-x"), b, &error),
	    -1);
	ck_assert_str_eq(error, "output too long");
	ck_assert_str_eq(b->data, "ab");
	ck_assert_int_eq(mbox_name_mutf7_decode(S("abcde"), b, &error), -1);
	ck_assert_str_eq(b->data, "ab");
	ck_assert_int_eq(mbox_name_mutf7_encode(S("\xc3\xa9"), b, &error), -1);
	ck_assert_str_eq(b->data, "ab");
	ck_assert_int_eq(mbox_name_mutf7_encode(S("abcd"), b, &error), 0);
	ck_assert_str_eq(b->data, "ababcd");
	buf_free(&b);
}
END_TEST

/* ---- names ---------------------------------------------------------- */

START_TEST(test_name_inbox)
{
	ck_assert(mbox_name_is_inbox(S("INBOX")));
	ck_assert(mbox_name_is_inbox(S("inbox")));
	ck_assert(mbox_name_is_inbox(S("iNbOx")));
	ck_assert(!mbox_name_is_inbox(S("INBOX/a")));
	ck_assert(!mbox_name_is_inbox(S("INBOXa")));
	ck_assert(!mbox_name_is_inbox(S("INBO")));
	ck_assert(!mbox_name_is_inbox(S("")));
	check_norm(S("INBOX"), "INBOX");
	check_norm(S("inbox"), "INBOX");
	check_norm(S("Inbox/Sub"), "INBOX/Sub");
	check_norm(S("inBOX/inbox/INBOX"), "INBOX/inbox/INBOX");
	check_norm(S("Sub/inbox"), "Sub/inbox");
	check_norm(S("inboxes"), "inboxes");
	check_norm(S("inbox.x"), "inbox.x");
	check_norm(S("inbo"), "inbo");
}
END_TEST

START_TEST(test_name_valid)
{
	check_norm(S("a"), "a");
	check_norm(S("a/b/c"), "a/b/c");
	check_norm(S("."), ".");
	check_norm(S(".."), "..");
	check_norm(S("..."), "...");
	check_norm(S("a/./.."), "a/./..");
	check_norm(S("~"), "~");
	check_norm(S("~/x"), "~/x");
	check_norm(S("%"), "%");
	check_norm(S("*"), "*");
	check_norm(S("%2E"), "%2E");
	check_norm(S("a.b"), "a.b");
	check_norm(S("&"), "&");
	check_norm(S("&-"), "&-");
	check_norm(S(" leading and trailing "), " leading and trailing ");
	check_norm(S(JA), JA);
	check_norm(S("\xf0\x9f\x98\x80/x"), "\xf0\x9f\x98\x80/x");
	check_norm(S("\xc2\xa0"), "\xc2\xa0");		/* U+00A0 */
	check_norm(S("\xe2\x80\xa7"), "\xe2\x80\xa7");	/* U+2027 */
	check_norm(S("\xe2\x80\xaa"), "\xe2\x80\xaa");	/* U+202A */
}
END_TEST

START_TEST(test_name_refused)
{
	check_norm(S(""), NULL);
	check_norm(S("/"), NULL);
	check_norm(S("/a"), NULL);
	check_norm(S("a/"), NULL);
	check_norm(S("a//b"), NULL);
	check_norm(S("INBOX/"), NULL);
	check_norm(S("a\0b"), NULL);
	check_norm(S("\0"), NULL);
	check_norm(S("a\x01"), NULL);
	check_norm(S("a\tb"), NULL);
	check_norm(S("a\nb"), NULL);
	check_norm(S("a\rb"), NULL);
	check_norm(S("\x1f"), NULL);
	check_norm(S("\x7f"), NULL);
	check_norm(S("\xc2\x80"), NULL);		/* C1 */
	check_norm(S("\xc2\x85"), NULL);
	check_norm(S("\xc2\x9f"), NULL);
	check_norm(S("\xe2\x80\xa8"), NULL);		/* U+2028 */
	check_norm(S("\xe2\x80\xa9"), NULL);		/* U+2029 */
	check_norm(S("\xff"), NULL);			/* bad UTF-8 */
	check_norm(S("a\xc3"), NULL);
	check_norm(S("\xc0\xaf"), NULL);
	check_norm(S("\xed\xa0\x80"), NULL);
	check_norm(S("\xf4\x90\x80\x80"), NULL);
}
END_TEST

START_TEST(test_name_limits)
{
	struct mbox_name_limits lim = deflim;
	char	*s, *t;

	/* The on-disk bound: "." + 254 bytes. */
	s = repeat("a", 254);
	check_norm(s, 254, s);
	free(s);
	s = repeat("a", 255);
	check_norm(s, 255, NULL);
	free(s);
	/* ... where each "." takes 3 bytes: 2 + 84 * 3 = 253 + "." */
	s = repeat(".", 84);
	t = xasprintf("aa%s", s);
	check_norm(t, strlen(t), t);
	free(t);
	t = xasprintf("aaa%s", s);
	check_norm(t, strlen(t), NULL);
	free(t);
	free(s);
	/* "~" first costs 3, "&" 2. */
	s = repeat("&", 127);
	check_norm(s, 127, s);
	t = xasprintf("%s&", s);
	check_norm(t, 128, NULL);
	free(t);
	t = xasprintf("~%s", s);
	check_norm(t, 128, NULL);
	free(t);
	free(s);
	/* The UTF-8 bound: 85 CJK characters are 255 bytes, 86 are 258. */
	s = repeat("\xe6\x97\xa5", 85);
	check_norm(s, 255, s);
	free(s);
	s = repeat("\xe6\x97\xa5", 86);
	check_norm(s, 258, NULL);
	free(s);
	/* Emoji: 47 fit on disk (2 + 251 + 1), 48 do not. */
	s = repeat("\xf0\x9f\x98\x80", 47);
	check_norm(s, strlen(s), s);
	free(s);
	s = repeat("\xf0\x9f\x98\x80", 48);
	check_norm(s, strlen(s), NULL);
	free(s);
	/* Depth: 16 levels, then 17. */
	s = repeat("a/", 16);
	check_norm(s, 31, "a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a");
	free(s);
	s = repeat("a/", 17);
	s[33] = '\0';
	check_norm(s, 33, NULL);
	free(s);
	/* The caller's limits. */
	lim.name_max = 3;
	check_norm_lim(S("abc"), "abc", &lim);
	check_norm_lim(S("abcd"), NULL, &lim);
	lim = deflim;
	lim.depth_max = 1;
	check_norm_lim(S("abc"), "abc", &lim);
	check_norm_lim(S("a/b"), NULL, &lim);
	lim.depth_max = 2;
	check_norm_lim(S("a/b"), "a/b", &lim);
	check_norm_lim(S("a/b/c"), NULL, &lim);
	lim.depth_max = 0;
	check_norm_lim(S("a"), NULL, &lim);
}
END_TEST

START_TEST(test_name_from_imap)
{
	struct mbox_name_limits lim = deflim;
	struct buf	*b = out_new();
	const char	*error = NULL;
	char		*s;

	ck_assert_int_eq(mbox_name_from_imap(S("inbox/&ZeVnLIqe-"), false,
	    &deflim, b, &error), 0);
	ck_assert_str_eq(b->data, "INBOX/" JA);
	buf_reset(b);
	ck_assert_int_eq(mbox_name_from_imap(S("Q&-A"), false, &deflim, b,
	    &error), 0);
	ck_assert_str_eq(b->data, "Q&A");
	buf_reset(b);
	/* In UTF-8 mode "&" is itself and 8-bit is UTF-8. */
	ck_assert_int_eq(mbox_name_from_imap(S("Q&A/\xc3\xa9"), true,
	    &deflim, b, &error), 0);
	ck_assert_str_eq(b->data, "Q&A/\xc3\xa9");
	buf_reset(b);
	ck_assert_int_eq(mbox_name_from_imap(S("Inbox"), true, &deflim, b,
	    &error), 0);
	ck_assert_str_eq(b->data, "INBOX");
	/* Refusals leave b alone. */
	buf_reset(b);
	ck_assert_int_eq(buf_append(b, "x", 1), 0);
	ck_assert_int_eq(mbox_name_from_imap(S("Q&A"), false, &deflim, b,
	    &error), -1);
	ck_assert_int_eq(mbox_name_from_imap(S("\xc3\xa9"), false, &deflim, b,
	    &error), -1);
	ck_assert_int_eq(mbox_name_from_imap(S("a/&AB8-"), false, &deflim, b,
	    &error), -1);
	ck_assert_str_eq(error, "control character in mailbox name");
	ck_assert_int_eq(mbox_name_from_imap(S("a//b"), false, &deflim, b,
	    &error), -1);
	ck_assert_int_eq(mbox_name_from_imap(S(""), false, &deflim, b,
	    &error), -1);
	ck_assert_int_eq(mbox_name_from_imap(S("\xff"), true, &deflim, b,
	    &error), -1);
	ck_assert_str_eq(b->data, "x");
	/* The UTF-8 bound holds while decoding. */
	lim.name_max = 6;
	ck_assert_int_eq(mbox_name_from_imap(S("&ZeVnLA-"), false, &lim, b,
	    &error), 0);
	ck_assert_int_eq(mbox_name_from_imap(S("&ZeVnLIqe-"), false, &lim, b,
	    &error), -1);
	ck_assert_str_eq(error, "mailbox name too long");
	ck_assert_int_eq(mbox_name_from_imap(S("abcdefg"), false, &lim, b,
	    &error), -1);
	ck_assert_int_eq(mbox_name_from_imap(S("abcdefg"), true, &lim, b,
	    &error), -1);
	ck_assert_str_eq(b->data, "x\xe6\x97\xa5\xe6\x9c\xac");
	s = repeat("&ZeU-a", 100);
	ck_assert_int_eq(mbox_name_from_imap(s, strlen(s), false, &deflim, b,
	    &error), -1);
	free(s);
	buf_free(&b);
}
END_TEST

START_TEST(test_name_to_imap)
{
	struct buf	*b = out_new();
	const char	*error = NULL;

	ck_assert_int_eq(mbox_name_to_imap(S("INBOX/\xc3\xa9&"), false, b,
	    &error), 0);
	ck_assert_str_eq(b->data, "INBOX/&AOk-&-");
	buf_reset(b);
	ck_assert_int_eq(mbox_name_to_imap(S("INBOX/\xc3\xa9&"), true, b,
	    &error), 0);
	ck_assert_str_eq(b->data, "INBOX/\xc3\xa9&");
	buf_free(&b);
	b = buf_new(0, 3);
	ck_assert_int_eq(mbox_name_to_imap(S("abcd"), true, b, &error), -1);
	ck_assert_int_eq(mbox_name_to_imap(S("abcd"), false, b, &error), -1);
	ck_assert_int_eq(mbox_name_to_imap(S("\xff"), false, b, &error), -1);
	ck_assert_uint_eq(b->len, 0);
	buf_free(&b);
}
END_TEST

START_TEST(test_name_output_full)
{
	struct buf	*b = buf_new(0, 4);
	const char	*error = NULL;

	ck_assert_int_eq(mbox_name_normalize(S("abcd"), &deflim, b, &error),
	    0);
	buf_reset(b);
	ck_assert_int_eq(mbox_name_normalize(S("abcde"), &deflim, b, &error),
	    -1);
	ck_assert_str_eq(error, "output too long");
	ck_assert_int_eq(mbox_name_to_disk(S("abc"), &deflim, b, &error), 0);
	ck_assert_str_eq(b->data, ".abc");
	buf_reset(b);
	ck_assert_int_eq(mbox_name_to_disk(S("abcd"), &deflim, b, &error), -1);
	ck_assert_str_eq(error, "output too long");
	ck_assert_int_eq(mbox_name_from_disk(S(".abcde"), &deflim, b, &error),
	    -1);
	ck_assert_int_eq(mbox_name_from_imap(S("&AOkA6QDp-"), false, &deflim,
	    b, &error), -1);
	ck_assert_str_eq(error, "output too long");
	ck_assert_uint_eq(b->len, 0);
	ck_assert_int_eq(buf_append(b, "xy", 2), 0);
	ck_assert_int_eq(mbox_name_from_disk(S(""), &deflim, b, &error), -1);
	ck_assert_str_eq(b->data, "xy");
	buf_free(&b);
}
END_TEST

/* ---- on disk -------------------------------------------------------- */

START_TEST(test_disk_names)
{
	struct buf	*b = out_new();
	const char	*error = NULL;

	check_disk("INBOX/x", ".INBOX.x", "INBOX/x");
	check_disk("Inbox/x", ".INBOX.x", "INBOX/x");
	check_disk("a", ".a", "a");
	check_disk("a/b/c", ".a.b.c", "a/b/c");
	check_disk("a.b", ".a%2eb", "a.b");
	check_disk("a.b/c", ".a%2eb.c", "a.b/c");
	check_disk(".", ".%2e", ".");
	check_disk("..", ".%2e%2e", "..");
	check_disk("...", ".%2e%2e%2e", "...");
	check_disk(".x", ".%2ex", ".x");
	check_disk("a/../b", ".a.%2e%2e.b", "a/../b");
	check_disk("~", ".%7e", "~");
	check_disk("~x/~", ".%7ex.~", "~x/~");
	check_disk("a~", ".a~", "a~");
	check_disk("a/~", ".a.~", "a/~");
	check_disk("INBOX/~", ".INBOX.~", "INBOX/~");
	check_disk("%", ".%25", "%");
	check_disk("%2E", ".%252E", "%2E");
	check_disk("%2e", ".%252e", "%2e");
	check_disk("100%", ".100%25", "100%");
	check_disk("&", ".&-", "&");
	check_disk("&-", ".&--", "&-");
	check_disk("*", ".*", "*");
	check_disk("a b", ".a b", "a b");
	check_disk("Entw\xc3\xbcrfe", ".Entw&APw-rfe", "Entw\xc3\xbcrfe");
	check_disk(JA "/" TW,
	    ".&ZeVnLIqe-.&U,BTFw-",
	    JA "/" TW);
	check_disk("\xf0\x9f\x98\x80.", ".&2D3eAA-%2e", "\xf0\x9f\x98\x80.");
	check_disk("\xc3\xa9/\xc3\xa9", ".&AOk-.&AOk-", "\xc3\xa9/\xc3\xa9");
	check_disk("INBOX.x", ".INBOX%2ex", "INBOX.x");
	check_disk("inbox.x", ".inbox%2ex", "inbox.x");
	check_disk("INBOXx", ".INBOXx", "INBOXx");
	check_disk("a/INBOX", ".a.INBOX", "a/INBOX");
	check_disk("a/inbox", ".a.inbox", "a/inbox");
	/* Our own file names as mailboxes: always behind a ".". */
	check_disk("cur", ".cur", "cur");
	check_disk("new", ".new", "new");
	check_disk("tmp", ".tmp", "tmp");
	check_disk("postern-index", ".postern-index", "postern-index");
	check_disk("subscriptions", ".subscriptions", "subscriptions");
	/* The inbox is the Maildir itself: nothing appended. */
	ck_assert_int_eq(buf_append(b, "x", 1), 0);
	ck_assert_int_eq(mbox_name_to_disk(S("INBOX"), &deflim, b, &error), 0);
	ck_assert_int_eq(mbox_name_to_disk(S("inbox"), &deflim, b, &error), 0);
	ck_assert_str_eq(b->data, "x");
	ck_assert_int_eq(mbox_name_from_disk(S(""), &deflim, b, &error), 0);
	ck_assert_str_eq(b->data, "xINBOX");
	/* to_disk checks its input. */
	buf_reset(b);
	ck_assert_int_eq(mbox_name_to_disk(S("a//b"), &deflim, b, &error), -1);
	ck_assert_int_eq(mbox_name_to_disk(S(""), &deflim, b, &error), -1);
	ck_assert_int_eq(mbox_name_to_disk(S("a\0b"), &deflim, b, &error), -1);
	ck_assert_int_eq(mbox_name_to_disk(S("\x01"), &deflim, b, &error), -1);
	ck_assert_int_eq(mbox_name_to_disk(S("/"), &deflim, b, &error), -1);
	ck_assert_int_eq(mbox_name_to_disk(S("\xff"), &deflim, b, &error), -1);
	ck_assert_uint_eq(b->len, 0);
	buf_free(&b);
}
END_TEST

START_TEST(test_disk_refused)
{
	char	*s;

	check_from_disk_fails(S("."));
	check_from_disk_fails(S(".."));
	check_from_disk_fails(S("..."));
	check_from_disk_fails(S("..a"));
	check_from_disk_fails(S(".a."));
	check_from_disk_fails(S(".a..b"));
	check_from_disk_fails(S("a"));
	check_from_disk_fails(S("cur"));
	check_from_disk_fails(S("new"));
	check_from_disk_fails(S("tmp"));
	check_from_disk_fails(S("postern-index"));
	check_from_disk_fails(S("postern-index.lock"));
	check_from_disk_fails(S("subscriptions"));
	check_from_disk_fails(S("maildirsize"));
	check_from_disk_fails(S("INBOX"));
	check_from_disk_fails(S(".INBOX"));		/* the Maildir's name */
	check_from_disk_fails(S(".inbox"));
	check_from_disk_fails(S(".Inbox.x"));
	check_from_disk_fails(S(".inbox.x"));
	check_from_disk_fails(S(".100%"));		/* bad escapes */
	check_from_disk_fails(S(".%"));
	check_from_disk_fails(S(".%2"));
	check_from_disk_fails(S(".a%2Eb"));		/* upper-case hex */
	check_from_disk_fails(S(".a%7Eb"));
	check_from_disk_fails(S(".%7E"));
	check_from_disk_fails(S(".a%41"));		/* not our escape */
	check_from_disk_fails(S(".a%2f"));
	check_from_disk_fails(S(".a%00"));
	check_from_disk_fails(S(".a%26AOk-"));
	check_from_disk_fails(S(".~x"));		/* unescaped "~" */
	check_from_disk_fails(S(".a%7eb"));		/* needless escape */
	check_from_disk_fails(S(".INBOX.%7e"));
	check_from_disk_fails(S(".&AOk-&AOk-"));	/* bad mUTF-7 */
	check_from_disk_fails(S(".&AGE-"));
	check_from_disk_fails(S(".&AOk"));
	check_from_disk_fails(S(".&AOk.AOk-"));
	check_from_disk_fails(S(".&AOl-"));
	check_from_disk_fails(S(".\xc3\xa9"));		/* raw UTF-8 */
	check_from_disk_fails(S(".a\x01"));
	check_from_disk_fails(S(".&AB8-"));		/* U+001F */
	check_from_disk_fails(S(".&ICg-"));		/* U+2028 */
	check_from_disk_fails(S(".a\0b"));
	check_from_disk_fails(S(".a/b"));
	check_from_disk_fails(S(".a/"));
	check_from_disk_fails(S("./"));
	check_from_disk_fails(S(".a.."));
	/* Length: 256 bytes is never a folder (255: test_disk_limits). */
	s = repeat("a", 256);
	s[0] = '.';
	check_from_disk_fails(s, 256);
	free(s);
}
END_TEST

START_TEST(test_disk_limits)
{
	struct mbox_name_limits lim = deflim;
	struct buf	*b = out_new();
	const char	*error = NULL;
	char		*s, *d;

	/* 254 + "." = 255: the longest folder name. */
	s = repeat("a", 254);
	d = xasprintf(".%s", s);
	check_disk(s, d, s);
	free(d);
	/* One more byte is refused both ways. */
	free(s);
	s = repeat("a", 255);
	ck_assert_int_eq(mbox_name_to_disk(s, 255, &deflim, b, &error), -1);
	ck_assert_str_eq(error, "mailbox name too long");
	d = xasprintf(".%s", s);
	check_from_disk_fails(d, 256);
	free(d);
	free(s);
	/* CJK: 85 characters fit every bound. */
	s = repeat("\xe6\x97\xa5", 85);
	ck_assert_int_eq(mbox_name_to_disk(s, 255, &deflim, b, &error), 0);
	ck_assert_uint_eq(b->len, 230);
	d = xstrdup(b->data);
	buf_reset(b);
	ck_assert_int_eq(mbox_name_from_disk(d, strlen(d), &deflim, b,
	    &error), 0);
	ck_assert_str_eq(b->data, s);
	free(s);
	/* from_disk applies the caller's limits. */
	lim.name_max = 254;
	buf_reset(b);
	ck_assert_int_eq(mbox_name_from_disk(d, strlen(d), &lim, b, &error),
	    -1);
	ck_assert_str_eq(error, "mailbox name too long");
	free(d);
	lim = deflim;
	lim.depth_max = 2;
	ck_assert_int_eq(mbox_name_from_disk(S(".a.b"), &lim, b, &error), 0);
	ck_assert_int_eq(mbox_name_from_disk(S(".a.b.c"), &lim, b, &error),
	    -1);
	buf_free(&b);
}
END_TEST

/*
 * Every pair "x/y" of tricky levels, and each level alone: to_disk and
 * from_disk are inverse, no two names share a folder, and every folder
 * name is one safe path component.
 */
START_TEST(test_disk_bijection)
{
	static const char *const levels[] = {
		".", "..", "...", "~", "~~", "%", "%2e", "%2E", "%25", "%7e",
		"a.b", "&", "&-", "-&", "&AOk-", "a", "A", "INBOX", "inbox",
		"Inbox", "INBOX.x", "x.INBOX", "cur", "new", "tmp",
		"postern-index", "subscriptions", "*", "%*", " ", "a b",
		"\xc3\xa9", "\xc3\xa9\xc3\xa9", "\xc3\xa9.\xc3\xa9",
		JA, "\xf0\x9f\x98\x80",
		"\xf0\x9f\x98\x80&\xf0\x9f\x98\x80", "\xef\xbf\xbf", "+", ",",
		"&,", "\\", "\"", "'", ":", "=2E", "%%", "..a", "a..",
	};
	size_t		 nl = N_ELEMENTS(levels);
	size_t		 n = 0, i, j, k;
	char		**names, **disks;
	struct buf	*b = out_new(), *c = out_new();
	const char	*error;
	char		*name;

	names = xcalloc(nl * nl + nl, sizeof(*names));
	disks = xcalloc(nl * nl + nl, sizeof(*disks));
	for (i = 0; i < nl; i++) {
		for (j = 0; j <= nl; j++) {
			name = j == nl ? xstrdup(levels[i]) :
			    xasprintf("%s/%s", levels[i], levels[j]);
			buf_reset(b);
			buf_reset(c);
			ck_assert_int_eq(mbox_name_normalize(name, strlen(name),
			    &deflim, c, &error), 0);
			ck_assert_int_eq(mbox_name_to_disk(name, strlen(name),
			    &deflim, b, &error), 0);
			if (strcmp(c->data, "INBOX") == 0) {
				ck_assert_uint_eq(b->len, 0);
				free(name);
				continue;
			}
			ck_assert_uint_ge(b->len, 2);
			ck_assert_uint_le(b->len, MBOX_NAME_DISK_MAX);
			ck_assert_int_eq(b->data[0], '.');
			ck_assert_int_ne(b->data[1], '.');
			ck_assert_ptr_null(strchr(b->data, '/'));
			ck_assert_ptr_null(strstr(b->data, ".."));
			ck_assert_int_ne(b->data[b->len - 1], '.');
			for (k = 0; k < b->len; k++)
				ck_assert(b->data[k] >= 0x20 &&
				    b->data[k] <= 0x7e);
			disks[n] = xstrdup(b->data);
			names[n++] = xstrdup(c->data);
			buf_reset(b);
			ck_assert_msg(mbox_name_from_disk(disks[n - 1],
			    strlen(disks[n - 1]), &deflim, b, &error) == 0,
			    "%s: %s", disks[n - 1], error);
			ck_assert_str_eq(b->data, c->data);
			free(name);
		}
	}
	/* Distinct names have distinct folders. */
	for (i = 0; i < n; i++) {
		for (j = i + 1; j < n; j++) {
			if ((strcmp(names[i], names[j]) == 0) !=
			    (strcmp(disks[i], disks[j]) == 0))
				ck_abort_msg("%s %s / %s %s", names[i],
				    disks[i], names[j], disks[j]);
		}
	}
	for (i = 0; i < n; i++) {
		free(names[i]);
		free(disks[i]);
	}
	free(names);
	free(disks);
	buf_free(&b);
	buf_free(&c);
}
END_TEST

/* ---- hierarchy order ------------------------------------------------ */

static int
cmp_names(const void *a, const void *b)
{
	return mbox_name_cmp(*(char *const *)a, *(char *const *)b);
}

START_TEST(test_cmp_children)
{
	const char *list[] = {
		"ab", "a.b", "a-1", "a/b/c", "a/b", "a", "INBOX/x", "INBOX",
		"x/y", "b", "a/b-c", "a/b/c/d",
	};
	static const char *const sorted[] = {
		"INBOX", "INBOX/x", "a", "a/b", "a/b/c", "a/b/c/d", "a/b-c",
		"a-1", "a.b", "ab", "b", "x/y",
	};
	size_t	n = N_ELEMENTS(list), i;

	ck_assert_int_eq(mbox_name_cmp("a", "a"), 0);
	ck_assert_int_lt(mbox_name_cmp("a", "a/b"), 0);
	ck_assert_int_lt(mbox_name_cmp("a/b", "a-1"), 0);
	ck_assert_int_gt(mbox_name_cmp("a-1", "a/b"), 0);
	ck_assert_int_lt(mbox_name_cmp("a/\xc3\xa9", "a\x21"), 0);
	ck_assert_int_lt(mbox_name_cmp("a\xc3\xa9", "a\xc3\xaa"), 0);
	qsort(list, n, sizeof(list[0]), cmp_names);
	for (i = 0; i < n; i++)
		ck_assert_str_eq(list[i], sorted[i]);
	ck_assert(mbox_name_has_children(list, n, S("a")));
	ck_assert(mbox_name_has_children(list, n, S("a/b")));
	ck_assert(mbox_name_has_children(list, n, S("a/b/c")));
	ck_assert(!mbox_name_has_children(list, n, S("a/b/c/d")));
	ck_assert(!mbox_name_has_children(list, n, S("a/b-c")));
	ck_assert(!mbox_name_has_children(list, n, S("a-1")));
	ck_assert(!mbox_name_has_children(list, n, S("a.b")));
	ck_assert(!mbox_name_has_children(list, n, S("ab")));
	ck_assert(!mbox_name_has_children(list, n, S("b")));
	ck_assert(mbox_name_has_children(list, n, S("INBOX")));
	ck_assert(!mbox_name_has_children(list, n, S("INBOX/x")));
	/* Not in the list, but its child is. */
	ck_assert(mbox_name_has_children(list, n, S("x")));
	ck_assert(!mbox_name_has_children(list, n, S("y")));
	ck_assert(!mbox_name_has_children(list, n, S("zzz")));
	ck_assert(!mbox_name_has_children(list, n, S("A")));
	ck_assert(!mbox_name_has_children(list, 0, S("a")));
	ck_assert(!mbox_name_has_children(list, 1, S("INBOX")));
	ck_assert(mbox_name_has_children(list, 2, S("INBOX")));
}
END_TEST

/* ---- patterns ------------------------------------------------------- */

/* RFC 5258 5's mailboxes, and a few more. */
static const char *const tree[] = {
	"INBOX", "INBOX/Drafts", "Fruit", "Fruit/Apple", "Fruit/Banana",
	"Fruit/Peach", "Tofu", "Vegetable", "Vegetable/Broccoli",
	"Vegetable/Corn", "Vegetable/Corn/Sweet", "foo", "foo/bar", "foobar",
	"a%b", "a*b",
};

/* The names of tree[] that ref + pat matches, joined with " ". */
static char *
list(const char *ref, const char *pat)
{
	struct mbox_name_pattern *p = pattern(ref, pat, false);
	struct buf	*b = out_new();
	size_t		 i;
	char		*r;

	for (i = 0; i < N_ELEMENTS(tree); i++) {
		if (!mbox_name_pattern_match(p, tree[i], strlen(tree[i])))
			continue;
		if (b->len > 0)
			ck_assert_int_eq(buf_append(b, " ", 1), 0);
		ck_assert_int_eq(buf_append_str(b, tree[i]), 0);
	}
	mbox_name_pattern_free(&p);
	r = buf_steal(b);
	buf_free(&b);
	return r;
}

static void
check_list(const char *ref, const char *pat, const char *want)
{
	char	*got = list(ref, pat);

	ck_assert_msg(strcmp(got, want) == 0, "LIST \"%s\" \"%s\": got "
	    "\"%s\", want \"%s\"", ref, pat, got, want);
	free(got);
}

START_TEST(test_pattern_list)
{
	check_list("", "*", "INBOX INBOX/Drafts Fruit Fruit/Apple "
	    "Fruit/Banana Fruit/Peach Tofu Vegetable Vegetable/Broccoli "
	    "Vegetable/Corn Vegetable/Corn/Sweet foo foo/bar foobar a%b a*b");
	check_list("", "%", "INBOX Fruit Tofu Vegetable foo foobar a%b a*b");
	check_list("", "Fruit/%", "Fruit/Apple Fruit/Banana Fruit/Peach");
	check_list("Fruit/", "%", "Fruit/Apple Fruit/Banana Fruit/Peach");
	check_list("", "Fruit/*", "Fruit/Apple Fruit/Banana Fruit/Peach");
	check_list("", "Vegetable/*", "Vegetable/Broccoli Vegetable/Corn "
	    "Vegetable/Corn/Sweet");
	check_list("", "Vegetable/%", "Vegetable/Broccoli Vegetable/Corn");
	check_list("Vegetable/", "*", "Vegetable/Broccoli Vegetable/Corn "
	    "Vegetable/Corn/Sweet");
	check_list("", "%/%", "INBOX/Drafts Fruit/Apple Fruit/Banana "
	    "Fruit/Peach Vegetable/Broccoli Vegetable/Corn foo/bar");
	check_list("", "%/%/%", "Vegetable/Corn/Sweet");
	check_list("", "*/%", "INBOX/Drafts Fruit/Apple Fruit/Banana "
	    "Fruit/Peach Vegetable/Broccoli Vegetable/Corn "
	    "Vegetable/Corn/Sweet foo/bar");
	check_list("", "F%", "Fruit");
	check_list("", "F*", "Fruit Fruit/Apple Fruit/Banana Fruit/Peach");
	check_list("", "*a*", "INBOX/Drafts Fruit/Banana Fruit/Peach "
	    "Vegetable Vegetable/Broccoli Vegetable/Corn "
	    "Vegetable/Corn/Sweet foo/bar foobar a%b a*b");
	check_list("", "*/Corn", "Vegetable/Corn");
	check_list("", "*Corn*", "Vegetable/Corn Vegetable/Corn/Sweet");
	check_list("", "%Corn", "");
	check_list("", "Tofu", "Tofu");
	check_list("", "tofu", "");
	check_list("", "foo", "foo");
	check_list("", "foo*", "foo foo/bar foobar");
	check_list("", "foo%", "foo foobar");
	/* A reference that does not end with "/" is glued on. */
	check_list("foo", "bar", "foobar");
	check_list("foo", "/bar", "");
	check_list("foo/", "bar", "foo/bar");
	check_list("foo/", "/bar", "");
	check_list("Fruit", "/%", "");
	check_list("Fr", "uit", "Fruit");
	check_list("F%", "/Apple", "");
	check_list("F%", "", "Fruit");
	check_list("F%/", "A*", "Fruit/Apple");
	/* Wildcards as characters of a name match themselves too. */
	check_list("", "a%b", "a%b a*b");
	check_list("", "a*b", "a%b a*b");
	check_list("", "a**%%*b", "a%b a*b");
	/* INBOX in any case, but only INBOX. */
	check_list("", "inbox", "INBOX");
	check_list("", "Inbox", "INBOX");
	check_list("", "inbox/%", "INBOX/Drafts");
	check_list("", "INBOX/drafts", "");
	check_list("", "in*", "INBOX INBOX/Drafts");
	check_list("", "iN%", "INBOX");
	check_list("", "%x", "INBOX");
	check_list("", "*X/*", "INBOX/Drafts");
	check_list("inBOX/", "%", "INBOX/Drafts");
	check_list("", "", "");
}
END_TEST

START_TEST(test_pattern_misc)
{
	struct mbox_name_pattern *p;
	const char	*text;
	size_t		 len;

	/* RFC 3501 6.3.8's combinations. */
	p = pattern("~smith/Mail/", "foo.*", false);
	text = mbox_name_pattern_text(p, &len);
	ck_assert_str_eq(text, "~smith/Mail/foo.*");
	ck_assert_uint_eq(len, 17);
	mbox_name_pattern_free(&p);
	p = pattern("archive/", "%", false);
	ck_assert_str_eq(mbox_name_pattern_text(p, &len), "archive/%");
	mbox_name_pattern_free(&p);
	p = pattern("~smith/Mail/", "/usr/doc/foo", false);
	ck_assert_str_eq(mbox_name_pattern_text(p, &len), "/usr/doc/foo");
	mbox_name_pattern_free(&p);
	mbox_name_pattern_free(&p);
	/* Both parts decoded from modified UTF-7, separately. */
	p = pattern("&ZeVnLIqe-/", "&U,BTFw-%", false);
	ck_assert_str_eq(mbox_name_pattern_text(p, &len),
	    JA "/" TW "%");
	ck_assert(mbox_name_pattern_match(p,
	    S(JA "/" TW)));
	ck_assert(mbox_name_pattern_match(p,
	    S(JA "/" TW "x")));
	ck_assert(!mbox_name_pattern_match(p,
	    S(JA "/\xe5\x8f\xb0")));
	mbox_name_pattern_free(&p);
	/* "&" is itself in UTF-8 mode, a shift in modified UTF-7. */
	ck_assert(matches("", "Q&A", "Q&A"));
	p = pattern("", "Q&-*", false);
	ck_assert(mbox_name_pattern_match(p, S("Q&A")));
	mbox_name_pattern_free(&p);
	/* Byte-wise over UTF-8: "%" takes whole characters. */
	ck_assert(matches("", "%", "\xf0\x9f\x98\x80"));
	ck_assert(matches("", "\xc3\xa9%\xc3\xa9", "\xc3\xa9\xc3\xa8\xc3\xa9"));
	ck_assert(!matches("", "\xc3\xa9", "\xc3\xa8"));
	ck_assert(matches("", "%/%", "\xc3\xa9/\xc3\xa9"));
	/* The empty pattern matches only "", which is no name. */
	ck_assert(matches("", "", ""));
	ck_assert(!matches("", "", "a"));
	ck_assert(matches("", "*", ""));
	ck_assert(matches("", "%", ""));
	mbox_name_pattern_free(&p);
	ck_assert_ptr_null(p);
}
END_TEST

START_TEST(test_pattern_refused)
{
	struct mbox_name_limits lim = deflim;
	struct mbox_name_pattern *p = NULL;
	const char	*error = NULL;
	char		*s;

	ck_assert_int_eq(mbox_name_pattern_new(S(""), S("&"), false, &deflim,
	    &p, &error), -1);
	ck_assert_ptr_nonnull(error);
	ck_assert_int_eq(mbox_name_pattern_new(S("&AGE-"), S("%"), false,
	    &deflim, &p, &error), -1);
	ck_assert_int_eq(mbox_name_pattern_new(S(""), S("\xc3\xa9"), false,
	    &deflim, &p, &error), -1);
	ck_assert_int_eq(mbox_name_pattern_new(S(""), S("\xff*"), true,
	    &deflim, &p, &error), -1);
	ck_assert_str_eq(error, "pattern is not valid UTF-8");
	ck_assert_int_eq(mbox_name_pattern_new(S("\xc3"), S("*"), true,
	    &deflim, &p, &error), -1);
	ck_assert_int_eq(mbox_name_pattern_new(S(""), S("a\0*"), true,
	    &deflim, &p, &error), -1);
	ck_assert_str_eq(error, "NUL character");
	ck_assert_int_eq(mbox_name_pattern_new(S(""), S("a\0*"), false,
	    &deflim, &p, &error), -1);
	ck_assert_ptr_null(p);
	/* Length: at the maximum and one over, in each part and combined. */
	lim.pattern_max = 8;
	ck_assert_int_eq(mbox_name_pattern_new(S("abcd"), S("efg*"), true,
	    &lim, &p, &error), 0);
	mbox_name_pattern_free(&p);
	ck_assert_int_eq(mbox_name_pattern_new(S("abcd"), S("efgh*"), true,
	    &lim, &p, &error), -1);
	ck_assert_str_eq(error, "pattern too long");
	ck_assert_int_eq(mbox_name_pattern_new(S("abcdefghi"), S(""), true,
	    &lim, &p, &error), -1);
	ck_assert_int_eq(mbox_name_pattern_new(S("abcd"), S("efg*"), false,
	    &lim, &p, &error), 0);
	mbox_name_pattern_free(&p);
	ck_assert_int_eq(mbox_name_pattern_new(S("abcd"), S("efgh*"), false,
	    &lim, &p, &error), -1);
	ck_assert_str_eq(error, "pattern too long");
	/* 8 bytes of UTF-8 decoded: "&ZeVnLA-" is 6. */
	ck_assert_int_eq(mbox_name_pattern_new(S("&ZeVnLA-"), S("*%"), false,
	    &lim, &p, &error), 0);
	mbox_name_pattern_free(&p);
	ck_assert_int_eq(mbox_name_pattern_new(S("&ZeVnLA-"), S("*%*"), false,
	    &lim, &p, &error), -1);
	ck_assert_int_eq(mbox_name_pattern_new(S("a&ZeVnLA-"), S("*%"), false,
	    &lim, &p, &error), -1);
	ck_assert_int_eq(mbox_name_pattern_new(S(""), S("a&ZeVnLIqe-"), false,
	    &lim, &p, &error), -1);
	ck_assert_str_eq(error, "pattern too long");
	/* The default: MBOX_PATTERN_MAX bytes. */
	s = repeat("%", MBOX_PATTERN_MAX + 1);
	ck_assert_int_eq(mbox_name_pattern_new(S(""), s, MBOX_PATTERN_MAX,
	    false, &deflim, &p, &error), 0);
	mbox_name_pattern_free(&p);
	ck_assert_int_eq(mbox_name_pattern_new(S(""), s, MBOX_PATTERN_MAX + 1,
	    false, &deflim, &p, &error), -1);
	ck_assert_int_eq(mbox_name_pattern_new(S("a"), s, MBOX_PATTERN_MAX,
	    false, &deflim, &p, &error), -1);
	ck_assert_ptr_null(p);
	free(s);
	mbox_name_pattern_free(&p);
}
END_TEST

START_TEST(test_pattern_prefix)
{
	ck_assert(matches_prefix("Fruit/%", "Fruit/"));
	ck_assert(matches_prefix("Fruit/%", "Fru"));
	ck_assert(matches_prefix("Fruit/%", ""));
	ck_assert(!matches_prefix("Fruit/%", "Vegetable/"));
	ck_assert(!matches_prefix("Fruit/%", "Fruit/Apple/"));
	ck_assert(!matches_prefix("%", "Fruit/"));
	ck_assert(matches_prefix("%", "Fruit"));
	ck_assert(matches_prefix("*", "Fruit/Apple/"));
	ck_assert(matches_prefix("*/Corn", "Vegetable/"));
	ck_assert(matches_prefix("%/%", "a/"));
	ck_assert(!matches_prefix("%/%", "a/b/"));
	ck_assert(matches_prefix("a/b/%", "a/"));
	ck_assert(matches_prefix("a/b/%", "a/b/"));
	ck_assert(!matches_prefix("a/b/%", "b/"));
	ck_assert(!matches_prefix("a/b/%", "a/c/"));
	ck_assert(!matches_prefix("", "a"));
	ck_assert(matches_prefix("", ""));
	/* INBOX's case, even while the prefix is still short of it. */
	ck_assert(matches_prefix("inbox/*", "INBOX/"));
	ck_assert(matches_prefix("inbox/*", "INB"));
	ck_assert(matches_prefix("INBOX/*", "inbox/"));
	ck_assert(!matches_prefix("inbox/*", "INBOXES/"));
	ck_assert(!matches_prefix("inbox/*", "Fruit/"));
	ck_assert(!matches_prefix("inbox/drafts", "INBOX/Drafts"));
}
END_TEST

/* Longer than the stack sets: the heap path gives the same answers. */
START_TEST(test_pattern_long)
{
	struct mbox_name_limits lim = deflim;
	struct mbox_name_pattern *p = NULL;
	const char	*error = NULL;
	char		*pat, *name;

	lim.pattern_max = 10000;
	pat = repeat("a%", 2000);
	ck_assert_int_eq(mbox_name_pattern_new(S(""), pat, strlen(pat), true,
	    &lim, &p, &error), 0);
	name = repeat("a", 2000);
	ck_assert(mbox_name_pattern_match(p, name, 2000));
	ck_assert(!mbox_name_pattern_match(p, name, 1999));
	ck_assert(mbox_name_pattern_match_prefix(p, name, 1999));
	name[1000] = '/';
	ck_assert(!mbox_name_pattern_match(p, name, 2000));
	ck_assert(!mbox_name_pattern_match_prefix(p, name, 1001));
	mbox_name_pattern_free(&p);
	free(name);
	free(pat);
	/* A literal at the far end: the carry between words works. */
	pat = repeat("b", 3000);
	pat[2999] = 'c';
	ck_assert_int_eq(mbox_name_pattern_new(S(""), pat, 3000, true,
	    &lim, &p, &error), 0);
	name = xstrdup(pat);
	ck_assert(mbox_name_pattern_match(p, name, 3000));
	name[2999] = 'b';
	ck_assert(!mbox_name_pattern_match(p, name, 3000));
	name[2999] = 'c';
	name[64] = 'c';
	ck_assert(!mbox_name_pattern_match(p, name, 3000));
	mbox_name_pattern_free(&p);
	free(name);
	free(pat);
}
END_TEST

/*
 * Patterns that make backtracking matchers exponential take time linear
 * in the name here: 20,000 matches of a 255-byte name against each, and
 * of a pattern at the length limit, well under a second (seconds under
 * the sanitizers).
 */
START_TEST(test_pattern_fast)
{
	static const char *const pats[] = {
		"*a*a*a*a*a*b", "%a%a%a%a%a%b", "*a%a*a%a*a%a*a%b",
		"*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b",
	};
	struct mbox_name_pattern *p;
	double		 t0, t;
	char		*name, *big;
	size_t		 i, k;

	name = repeat("a", 255);
	for (k = 0; k < N_ELEMENTS(pats); k++) {
		p = pattern("", pats[k], true);
		t0 = now();
		for (i = 0; i < 20000; i++) {
			if (mbox_name_pattern_match(p, name, 255))
				ck_abort_msg("%s matched", pats[k]);
		}
		t = now() - t0;
		ck_assert_msg(t < 10.0, "%s: %.2f s", pats[k], t);
		name[254] = 'b';
		ck_assert(mbox_name_pattern_match(p, name, 255));
		name[254] = 'a';
		mbox_name_pattern_free(&p);
	}
	big = repeat("*a", MBOX_PATTERN_MAX / 2);
	big[MBOX_PATTERN_MAX - 1] = 'b';
	p = pattern("", big, true);
	t0 = now();
	for (i = 0; i < 2000; i++) {
		if (mbox_name_pattern_match(p, name, 255))
			ck_abort_msg("long pattern matched");
	}
	t = now() - t0;
	ck_assert_msg(t < 10.0, "long pattern: %.2f s", t);
	mbox_name_pattern_free(&p);
	free(big);
	free(name);
}
END_TEST

static Suite *
mbox_name_suite(void)
{
	Suite	*s = suite_create("mbox_name");
	TCase	*tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_mutf7_decode_ok);
	tcase_add_test(tc, test_mutf7_decode_refused);
	tcase_add_test(tc, test_mutf7_encode);
	tcase_add_test(tc, test_mutf7_encode_refused);
	tcase_add_test(tc, test_mutf7_round_trip_all);
	tcase_add_test(tc, test_mutf7_output_full);
	tcase_add_test(tc, test_name_inbox);
	tcase_add_test(tc, test_name_valid);
	tcase_add_test(tc, test_name_refused);
	tcase_add_test(tc, test_name_limits);
	tcase_add_test(tc, test_name_from_imap);
	tcase_add_test(tc, test_name_to_imap);
	tcase_add_test(tc, test_name_output_full);
	tcase_add_test(tc, test_disk_names);
	tcase_add_test(tc, test_disk_refused);
	tcase_add_test(tc, test_disk_limits);
	tcase_add_test(tc, test_disk_bijection);
	tcase_add_test(tc, test_cmp_children);
	tcase_add_test(tc, test_pattern_list);
	tcase_add_test(tc, test_pattern_misc);
	tcase_add_test(tc, test_pattern_refused);
	tcase_add_test(tc, test_pattern_prefix);
	tcase_add_test(tc, test_pattern_long);
	tcase_add_test(tc, test_pattern_fast);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(mbox_name_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
