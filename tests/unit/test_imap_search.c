/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for imapd/imap_search.c: SEARCH programs parsed with
 * imap_parse_search() and prepared with imap_search_prepare() are run
 * over a small mailbox held in memory behind a fake struct
 * imap_msg_source that counts loads.  Every key at least once, OR, NOT
 * and nesting, sets with "*" and "$", RFC 2047 words in Subject (Q and B,
 * UTF-8 and ISO-8859-1), base64 and QP bodies, charsets, case folding
 * beyond ASCII, BODY against header text and attached messages, the
 * cases where the raw-byte matcher must fall back (U+017F, NUL), dates
 * in the message's zone and in the Date: field's, gone messages and
 * loader errors, the load avoided by "UNSEEN BODY x", the SEARCH and
 * ESEARCH replies, and a timing of BODY over 10,000 4 KiB messages.
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
#include "common/mime.h"
#include "common/utf8.h"
#include "common/xmalloc.h"

#include "imapd/imap_msg.h"
#include "imapd/imap_parse.h"
#include "imapd/imap_search.h"

#include "common/banned.h"

#define S(s)		(s), (sizeof(s) - 1)
#define OUT_MAX		(1024 * 1024)
#define NMSG		7
#define UID_GONE	99
#define UID_FAIL	98

/* ---- the mailbox -------------------------------------------------------- */

static const char m1[] =
    "From: Alice <alice@example.com>\r\n"
    "To: Bob <bob@example.org>\r\n"
    "Subject: =?utf-8?q?Caf=C3=A9_au_lait?=\r\n"
    "Date: Mon, 6 May 2024 23:00:00 -0700\r\n"
    "X-Tag: marker\r\n"
    "\r\n"
    "Hello World\r\n"
    "The quick brown fox\r\n";

static const char m2[] =
    "From: =?iso-8859-1?b?yXTp?= <ete@example.net>\r\n"
    "Cc: Carol <carol@example.net>\r\n"
    "Subject: =?iso-8859-1?b?yXTp?= report\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    "R3LDvMOfZSBhdXMgS8O2bG4K\r\n";		/* "Grüße aus Köln\n" */

static const char m3[] =
    "From: dave@example.com\r\n"
    "Bcc: Dave Secret <dave@example.com>\r\n"
    "Subject: plain\r\n"
    "Date: garbage\r\n"
    "Content-Type: text/plain; charset=iso-8859-1\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n"
    "\r\n"
    "Caf=E9 cr=E8me =C9LAN bro=\r\n"
    "ken\r\n";

static const char m4[] =
    "From: Frank <frank@example.org>\r\n"
    "Subject: forward\r\n"
    "Date: 7 May 24 10:00 GMT\r\n"
    "Content-Type: multipart/mixed; boundary=b\r\n"
    "\r\n"
    "--b\r\n"
    "Content-Type: text/plain\r\n"
    "\r\n"
    "outer text\r\n"
    "--b\r\n"
    "Content-Type: message/rfc822\r\n"
    "\r\n"
    "Subject: Inner secret\r\n"
    "\r\n"
    "inner body\r\n"
    "--b\r\n"
    "Content-Type: image/png\r\n"
    "\r\n"
    "binaryhidden\r\n"
    "--b--\r\n";

static const char m5[] =
    "Subject: long s\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "\r\n"
    "A Me\xc5\xbf\xc5\xbf" "age\r\n";	/* U+017F folds to "s" */

static const char m6[] =
    "Subject: nul\r\n"
    "\r\n"
    "a\0b\r\n";

static const char m7[] =
    "Subject: koi8\r\n"
    "Content-Type: text/plain; charset=koi8-r\r\n"
    "\r\n"
    "\xf0\xd2\xc9\xd7\xc5\xd4\r\n";		/* "Привет" */

struct box {
	const char		*msg[NMSG];
	size_t			 len[NMSG];
	unsigned int		 flags[NMSG];
	time_t			 date[NMSG];
	int			 zone[NMSG];
	unsigned int		 loads[NMSG + 1];
	bool			 gone3;		/* message 3 expunged */
	bool			 fail3;		/* its load fails */
	struct imap_msg_source	 src;
	struct imap_cmd		 cmd;
	struct imap_limits	 lim;
};

static int
box_load(void *ctx, uint32_t uid, struct buf *out, const char **error_r)
{
	struct box	*b = ctx;

	if (uid == 0 || uid > NMSG) {
		*error_r = "no such message";
		return -1;
	}
	b->loads[uid]++;
	if (uid == 3 && b->gone3)
		return 0;
	if (uid == 3 && b->fail3) {
		*error_r = "fake load failed";
		return -1;
	}
	if (buf_append(out, b->msg[uid - 1], b->len[uid - 1]) == -1) {
		*error_r = "too large";
		return -1;
	}
	return 1;
}

static void
box_init(struct box *b)
{
	static const char *const msgs[NMSG] = { m1, m2, m3, m4, m5, m6, m7 };
	static const size_t lens[NMSG] = {
		sizeof(m1) - 1, sizeof(m2) - 1, sizeof(m3) - 1,
		sizeof(m4) - 1, sizeof(m5) - 1, sizeof(m6) - 1,
		sizeof(m7) - 1,
	};
	unsigned int	i;

	memset(b, 0, sizeof(*b));
	for (i = 0; i < NMSG; i++) {
		b->msg[i] = msgs[i];
		b->len[i] = lens[i];
		b->date[i] = 1715155200 + (time_t)i * 86400;	/* 8 May+ */
	}
	b->flags[0] = IMAP_FLAG_SEEN;
	b->flags[1] = IMAP_FLAG_FLAGGED | IMAP_FLAG_RECENT;
	b->flags[2] = IMAP_FLAG_ANSWERED | IMAP_FLAG_DELETED |
	    IMAP_FLAG_DRAFT | IMAP_FLAG_RECENT | IMAP_FLAG_SEEN;
	/* m1: 2024-05-06 08:00 UTC; m2: 2024-05-07 23:30 UTC in +0100. */
	b->date[0] = 1714982400;
	b->date[1] = 1715124600;
	b->zone[1] = 60;
	b->src.load = box_load;
	b->src.ctx = b;
	mime_limits_default(&b->src.mime);
	b->src.max_message = OUT_MAX;
	imap_limits_init(&b->lim);
	imap_parse_cmd_init(&b->cmd);
}

static void
box_deinit(struct box *b)
{
	imap_parse_cmd_deinit(&b->cmd);
}

/*
 * Runs "[UID ]SEARCH keys" over the box and returns the matching
 * numbers as "1 3 4" (malloc'ed), or "ERROR" when a match failed.
 */
static char *
box_search(struct box *b, const char *keys, const struct imap_seqset *saved)
{
	static const char *const kw2[] = { "Work", "$Label1" };
	struct imap_search	 s;
	struct imap_search_ctx	 ctx;
	struct imap_msg		 m;
	enum imap_parse_err	 kind;
	const char		*error = NULL;
	struct buf		 cmd, res;
	unsigned int		 i;
	int			 ret;
	char			*str;

	buf_init(&cmd, 0, 65536);
	ck_assert_int_eq(buf_printf(&cmd, "a SEARCH %s\r\n", keys), 0);
	ck_assert_msg(imap_parse_command(cmd.data, cmd.len, &b->lim, &b->cmd,
	    &error) == 0, "%s: %s", keys, error);
	ck_assert_msg(imap_parse_search(&b->cmd, &b->lim, &s, &kind,
	    &error) == 0, "%s: %s", keys, error);
	imap_search_ctx_init(&ctx);
	ctx.count = NMSG;
	ctx.max_uid = NMSG * 10;
	ctx.saved = saved;
	imap_search_prepare(&s, &ctx);
	buf_init(&res, 0, 4096);
	imap_msg_init(&m);
	for (i = 0; i < NMSG; i++) {
		m.seq = i + 1;
		m.uid = i + 1;
		m.flags = b->flags[i];
		m.keywords = i == 1 ? kw2 : NULL;
		m.nkeywords = i == 1 ? 2 : 0;
		m.size = b->len[i];
		m.date = b->date[i];
		m.zone = b->zone[i];
		m.src = &b->src;
		ret = imap_search_match(&s, &m, &ctx, &error);
		imap_msg_reset(&m);
		if (ret == -1) {
			ck_assert_ptr_nonnull(error);
			buf_reset(&res);
			ck_assert_int_eq(buf_append_str(&res, "ERROR"), 0);
			break;
		}
		if (ret == 1)
			ck_assert_int_eq(buf_printf(&res, "%s%u",
			    res.len > 0 ? " " : "", i + 1), 0);
	}
	imap_search_ctx_deinit(&ctx);
	buf_deinit(&cmd);
	str = buf_steal(&res);
	buf_deinit(&res);
	return str;
}

#define CHECK_SEARCH(b, keys, want) do {				\
	char *r_ = box_search(b, keys, NULL);				\
	ck_assert_msg(strcmp(r_, want) == 0, "SEARCH %s: got [%s] want [%s]", \
	    keys, r_, want);						\
	free(r_);							\
} while (0)

/* ---- keys --------------------------------------------------------------- */

START_TEST(test_flags_sets)
{
	struct box	b;

	box_init(&b);
	CHECK_SEARCH(&b, "ALL", "1 2 3 4 5 6 7");
	CHECK_SEARCH(&b, "SEEN", "1 3");
	CHECK_SEARCH(&b, "UNSEEN", "2 4 5 6 7");
	CHECK_SEARCH(&b, "ANSWERED", "3");
	CHECK_SEARCH(&b, "UNANSWERED", "1 2 4 5 6 7");
	CHECK_SEARCH(&b, "DELETED", "3");
	CHECK_SEARCH(&b, "UNDELETED", "1 2 4 5 6 7");
	CHECK_SEARCH(&b, "DRAFT", "3");
	CHECK_SEARCH(&b, "UNDRAFT", "1 2 4 5 6 7");
	CHECK_SEARCH(&b, "FLAGGED", "2");
	CHECK_SEARCH(&b, "UNFLAGGED", "1 3 4 5 6 7");
	CHECK_SEARCH(&b, "RECENT", "2 3");
	CHECK_SEARCH(&b, "NEW", "2");
	CHECK_SEARCH(&b, "OLD", "1 4 5 6 7");
	CHECK_SEARCH(&b, "KEYWORD work", "2");
	CHECK_SEARCH(&b, "KEYWORD $label1", "2");
	CHECK_SEARCH(&b, "KEYWORD Other", "");
	CHECK_SEARCH(&b, "UNKEYWORD Work", "1 3 4 5 6 7");
	CHECK_SEARCH(&b, "1:2", "1 2");
	CHECK_SEARCH(&b, "2,4:*", "2 4 5 6 7");
	CHECK_SEARCH(&b, "*", "7");
	CHECK_SEARCH(&b, "*:6", "6 7");
	CHECK_SEARCH(&b, "UID 3:5", "3 4 5");
	/* "*" of UIDs is the highest UID (70): 6:* is 6..70. */
	CHECK_SEARCH(&b, "UID 6:*", "6 7");
	CHECK_SEARCH(&b, "UID *", "");
	/* m1 is 189 bytes: at the limit and one under. */
	CHECK_SEARCH(&b, "LARGER 189", "2 3 4");
	CHECK_SEARCH(&b, "LARGER 188", "1 2 3 4");
	CHECK_SEARCH(&b, "SMALLER 189", "5 6 7");
	CHECK_SEARCH(&b, "SMALLER 190", "1 5 6 7");
	CHECK_SEARCH(&b, "SMALLER 100", "5 6 7");
	CHECK_SEARCH(&b, "NOT SMALLER 100 NOT LARGER 200", "1");
	CHECK_SEARCH(&b, "OR SEEN FLAGGED", "1 2 3");
	CHECK_SEARCH(&b, "OR (SEEN ANSWERED) NOT 4:*", "1 2 3");
	CHECK_SEARCH(&b, "NOT (OR 1 OR 2 3)", "4 5 6 7");
	CHECK_SEARCH(&b, "(1:5 (NOT DELETED)) UNSEEN", "2 4 5");
	/* No message was loaded for any of these. */
	ck_assert_uint_eq(b.loads[1] + b.loads[2] + b.loads[3] + b.loads[4],
	    0);
	box_deinit(&b);
}
END_TEST

START_TEST(test_saved)
{
	struct box		b;
	struct imap_seq_range	r[2] = { { 2, 3 }, { 6, 6 } };
	struct imap_seqset	saved = {
		.normalized = true, .nranges = 2, .ranges = r,
	};
	char			*s;

	box_init(&b);
	s = box_search(&b, "UID $", &saved);
	ck_assert_str_eq(s, "2 3 6");
	free(s);
	s = box_search(&b, "$ SEEN", &saved);
	ck_assert_str_eq(s, "3");
	free(s);
	s = box_search(&b, "NOT $", &saved);
	ck_assert_str_eq(s, "1 4 5 7");
	free(s);
	/* No saved result: "$" is empty. */
	s = box_search(&b, "$", NULL);
	ck_assert_str_eq(s, "");
	free(s);
	box_deinit(&b);
}
END_TEST

START_TEST(test_headers)
{
	struct box	b;

	box_init(&b);
	CHECK_SEARCH(&b, "FROM alice", "1");
	CHECK_SEARCH(&b, "FROM \"EXAMPLE.COM\"", "1 3");
	CHECK_SEARCH(&b, "TO bob", "1");
	CHECK_SEARCH(&b, "CC carol", "2");
	CHECK_SEARCH(&b, "BCC secret", "3");
	/* Encoded words: UTF-8 Q and ISO-8859-1 B, folded beyond ASCII. */
	CHECK_SEARCH(&b, "SUBJECT \"CAF\xc3\x89 AU\"", "1");
	CHECK_SEARCH(&b, "SUBJECT \"caf\xc3\xa9\"", "1");
	CHECK_SEARCH(&b, "SUBJECT \"\xc3\xa9t\xc3\xa9 report\"", "2");
	CHECK_SEARCH(&b, "FROM \"\xc3\x89T\xc3\x89\"", "2");
	/* The raw encoded word is not what is searched. */
	CHECK_SEARCH(&b, "SUBJECT yXTp", "");
	CHECK_SEARCH(&b, "SUBJECT inner", "");
	CHECK_SEARCH(&b, "HEADER X-Tag mark", "1");
	CHECK_SEARCH(&b, "HEADER x-tag \"\"", "1");
	CHECK_SEARCH(&b, "HEADER Bcc \"\"", "3");
	CHECK_SEARCH(&b, "HEADER Date \"\"", "1 3 4");
	CHECK_SEARCH(&b, "HEADER Content-Type PLAIN", "2 3 5 7");
	/* An empty string: the field must exist. */
	CHECK_SEARCH(&b, "CC \"\"", "2");
	CHECK_SEARCH(&b, "SUBJECT \"\"", "1 2 3 4 5 6 7");
	CHECK_SEARCH(&b, "OR FROM frank CC carol", "2 4");
	box_deinit(&b);
}
END_TEST

START_TEST(test_bodies)
{
	struct box	b;

	box_init(&b);
	CHECK_SEARCH(&b, "BODY \"QUICK brown\"", "1");
	CHECK_SEARCH(&b, "BODY world", "1");
	/* BODY does not look at the header; TEXT does. */
	CHECK_SEARCH(&b, "BODY alice", "");
	CHECK_SEARCH(&b, "TEXT alice", "1");
	CHECK_SEARCH(&b, "TEXT \"subject: caf\xc3\xa9\"", "1");
	CHECK_SEARCH(&b, "TEXT world", "1");
	/* base64 + UTF-8. */
	CHECK_SEARCH(&b, "BODY \"gr\xc3\xbc\xc3\x9f" "e\"", "2");
	CHECK_SEARCH(&b, "BODY \"K\xc3\x96LN\"", "2");
	/* Simple folding: "SS" is not "ß". */
	CHECK_SEARCH(&b, "BODY GRUSSE", "");
	CHECK_SEARCH(&b, "BODY R3LD", "");
	/* QP + ISO-8859-1, a soft line break joined. */
	CHECK_SEARCH(&b, "BODY \"caf\xc3\xa9 CR\xc3\x88ME\"", "3");
	CHECK_SEARCH(&b, "BODY \"\xc3\xa9lan\"", "3");
	CHECK_SEARCH(&b, "BODY broken", "3");
	CHECK_SEARCH(&b, "BODY E9", "");
	/* An attached message's header is body text; images are not. */
	CHECK_SEARCH(&b, "BODY \"inner secret\"", "4");
	CHECK_SEARCH(&b, "BODY \"outer TEXT\"", "4");
	CHECK_SEARCH(&b, "BODY hidden", "");
	CHECK_SEARCH(&b, "BODY forward", "");
	CHECK_SEARCH(&b, "TEXT forward", "4");
	/* The raw matcher must not miss U+017F or NUL. */
	CHECK_SEARCH(&b, "BODY message", "5");
	CHECK_SEARCH(&b, "BODY \"ME\xc5\xbfSAGE\"", "5");
	CHECK_SEARCH(&b, "BODY \"a b\"", "6");
	/* KOI8-R converted. */
	CHECK_SEARCH(&b, "BODY \"\xd0\xbf\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1"
	    "\x82\"", "7");
	CHECK_SEARCH(&b, "BODY \"\xd0\x9f\xd0\xa0\xd0\x98\"", "7");
	/* An empty string matches every message. */
	CHECK_SEARCH(&b, "BODY \"\"", "1 2 3 4 5 6 7");
	/* Several keys on one message: one load. */
	memset(b.loads, 0, sizeof(b.loads));
	CHECK_SEARCH(&b, "1 BODY hello TEXT alice FROM alice SUBJECT caf",
	    "1");
	ck_assert_uint_eq(b.loads[1], 1);
	box_deinit(&b);
}
END_TEST

START_TEST(test_cheap_first)
{
	struct box	b;
	unsigned int	i;

	box_init(&b);
	/* Seen messages (1 and 3) are never loaded. */
	CHECK_SEARCH(&b, "BODY zzz UNSEEN", "");
	ck_assert_uint_eq(b.loads[1], 0);
	ck_assert_uint_eq(b.loads[3], 0);
	ck_assert_uint_eq(b.loads[2], 1);
	memset(b.loads, 0, sizeof(b.loads));
	CHECK_SEARCH(&b, "OR BODY hello 1:6", "1 2 3 4 5 6");
	for (i = 1; i <= 6; i++)
		ck_assert_uint_eq(b.loads[i], 0);
	ck_assert_uint_eq(b.loads[7], 1);
	memset(b.loads, 0, sizeof(b.loads));
	CHECK_SEARCH(&b, "(TEXT hello FROM alice) LARGER 10000", "");
	for (i = 1; i <= NMSG; i++)
		ck_assert_uint_eq(b.loads[i], 0);
	box_deinit(&b);
}
END_TEST

START_TEST(test_dates)
{
	struct box	b;

	box_init(&b);
	/* Internal dates: 1 is 6 May; 2 is 8 May in its +0100 zone. */
	CHECK_SEARCH(&b, "ON 6-May-2024", "1");
	CHECK_SEARCH(&b, "ON 8-May-2024", "2");
	CHECK_SEARCH(&b, "ON 7-May-2024", "");
	CHECK_SEARCH(&b, "BEFORE 8-May-2024", "1");
	CHECK_SEARCH(&b, "SINCE 10-May-2024", "3 4 5 6 7");
	CHECK_SEARCH(&b, "SINCE 8-May-2024 BEFORE 11-May-2024", "2 3");
	/* Sent: 1's Date: is 6 May in -0700 (7 May in UTC). */
	CHECK_SEARCH(&b, "SENTON 6-May-2024", "1");
	CHECK_SEARCH(&b, "SENTON 7-May-2024", "4");
	/* 2 has no Date:, 3 a bad one: their internal dates count. */
	CHECK_SEARCH(&b, "SENTON 8-May-2024", "2");
	CHECK_SEARCH(&b, "SENTON 10-May-2024", "3");
	CHECK_SEARCH(&b, "SENTBEFORE 8-May-2024", "1 4");
	CHECK_SEARCH(&b, "SENTSINCE 10-May-2024", "3 5 6 7");
	CHECK_SEARCH(&b, "SENTSINCE 7-May-2024 SENTBEFORE 9-May-2024", "2 4");
	box_deinit(&b);
}
END_TEST

START_TEST(test_gone_error)
{
	struct box	b;
	char		*s;

	box_init(&b);
	b.gone3 = true;
	/* A gone message matches nothing that needs content, NOT or not. */
	CHECK_SEARCH(&b, "NOT BODY zzz", "1 2 4 5 6 7");
	CHECK_SEARCH(&b, "NOT SUBJECT zzz", "1 2 4 5 6 7");
	CHECK_SEARCH(&b, "OR ANSWERED BODY zzz", "3");
	b.gone3 = false;
	b.fail3 = true;
	s = box_search(&b, "SUBJECT plain", NULL);
	ck_assert_str_eq(s, "ERROR");
	free(s);
	s = box_search(&b, "BODY plain", NULL);
	ck_assert_str_eq(s, "ERROR");
	free(s);
	/* Not reached: no error. */
	CHECK_SEARCH(&b, "UNSEEN BODY plain", "");
	box_deinit(&b);
}
END_TEST

/*
 * The raw matcher's assumption: mime_fold() takes no non-ASCII character
 * but U+017F to ASCII.  If its tables grow, imap_search_suspect() must.
 */
START_TEST(test_fold_into_ascii)
{
	struct buf	b;
	uint32_t	cp;
	char		s[UTF8_MAX];
	size_t		n, i;
	unsigned int	found = 0;

	buf_init(&b, 0, 64);
	for (cp = 0x80; cp <= 0x10ffff; cp++) {
		if (cp >= 0xd800 && cp <= 0xdfff)
			continue;
		n = utf8_encode(cp, s);
		buf_reset(&b);
		ck_assert_int_eq(mime_fold(&b, s, n), 0);
		for (i = 0; i < b.len; i++) {
			if ((unsigned char)b.data[i] < 0x80)
				break;
		}
		if (i < b.len) {
			ck_assert_msg(cp == 0x17f, "U+%04X folds to ASCII",
			    (unsigned int)cp);
			found++;
		}
	}
	ck_assert_uint_eq(found, 1);
	buf_deinit(&b);
}
END_TEST

/* ---- replies ------------------------------------------------------------ */

#define CHECK_REPLY(tag, es, ret, uid, nums, n, want) do {		\
	struct buf o_;							\
	buf_init(&o_, 0, 4096);						\
	ck_assert_int_eq(imap_search_reply(&o_, tag, es, ret, uid, nums, \
	    n), 0);							\
	ck_assert_str_eq(o_.data, want);				\
	buf_deinit(&o_);						\
} while (0)

START_TEST(test_reply)
{
	static const uint32_t nums[] = { 1, 2, 3, 5, 7, 8, 9, 4000000000u };
	struct buf	o;

	CHECK_REPLY("a", false, 0, false, nums, 3, "* SEARCH 1 2 3\r\n");
	CHECK_REPLY("a", false, 0, true, nums, 0, "* SEARCH\r\n");
	CHECK_REPLY("A282", true, IMAP_SEARCH_RET_MIN | IMAP_SEARCH_RET_COUNT,
	    false, nums, 4, "* ESEARCH (TAG \"A282\") MIN 1 COUNT 4\r\n");
	CHECK_REPLY("x", true, IMAP_SEARCH_RET_MIN | IMAP_SEARCH_RET_MAX |
	    IMAP_SEARCH_RET_COUNT | IMAP_SEARCH_RET_ALL, true, nums, 8,
	    "* ESEARCH (TAG \"x\") UID MIN 1 MAX 4000000000 COUNT 8 "
	    "ALL 1:3,5,7:9,4000000000\r\n");
	/* ret 0 (RETURN () or IMAP4rev2 without RETURN) is ALL. */
	CHECK_REPLY("t", true, 0, false, nums, 5,
	    "* ESEARCH (TAG \"t\") ALL 1:3,5,7\r\n");
	/* Nothing found: only COUNT. */
	CHECK_REPLY("t", true, IMAP_SEARCH_RET_MIN | IMAP_SEARCH_RET_MAX |
	    IMAP_SEARCH_RET_COUNT | IMAP_SEARCH_RET_ALL, true, nums, 0,
	    "* ESEARCH (TAG \"t\") UID COUNT 0\r\n");
	CHECK_REPLY("t", true, IMAP_SEARCH_RET_ALL, false, nums, 0,
	    "* ESEARCH (TAG \"t\")\r\n");
	/* SAVE alone: no response; with others: as without it. */
	CHECK_REPLY("t", true, IMAP_SEARCH_RET_SAVE, false, nums, 3, "");
	CHECK_REPLY("t", true, IMAP_SEARCH_RET_SAVE | IMAP_SEARCH_RET_MIN,
	    false, nums, 3, "* ESEARCH (TAG \"t\") MIN 1\r\n");
	/* A tag with a quote. */
	CHECK_REPLY("a\"b", true, IMAP_SEARCH_RET_COUNT, false, nums, 1,
	    "* ESEARCH (TAG \"a\\\"b\") COUNT 1\r\n");
	/* A full buffer: -1, out unchanged; at the maximum: fits. */
	buf_init(&o, 0, 16);
	ck_assert_int_eq(imap_search_reply(&o, "a", false, 0, false, nums, 3),
	    0);
	ck_assert_str_eq(o.data, "* SEARCH 1 2 3\r\n");
	buf_reset(&o);
	ck_assert_int_eq(buf_append(&o, "z", 1), 0);
	ck_assert_int_eq(imap_search_reply(&o, "a", false, 0, false, nums, 3),
	    -1);
	ck_assert_str_eq(o.data, "z");
	ck_assert_int_eq(imap_search_reply(&o, "a", true, 0, false, nums, 8),
	    -1);
	ck_assert_str_eq(o.data, "z");
	buf_deinit(&o);
}
END_TEST

/* ---- timing ------------------------------------------------------------- */

static double
now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct bench {
	char	*msgs;		/* NBENCH messages of BENCH_SIZE bytes */
};

#define NBENCH		10000
#define BENCH_SIZE	4096

static int
bench_load(void *ctx, uint32_t uid, struct buf *out, const char **error_r)
{
	struct bench	*b = ctx;

	(void)error_r;
	return buf_append(out, b->msgs + (size_t)(uid - 1) * BENCH_SIZE,
	    BENCH_SIZE) == -1 ? -1 : 1;
}

/* Times "UID SEARCH keys" over the bench mailbox; returns the matches. */
static unsigned int
bench_run(struct bench *bm, const char *keys, double *secs_r)
{
	struct imap_msg_source	 src;
	struct imap_limits	 lim;
	struct imap_cmd		 cmd;
	struct imap_search	 s;
	struct imap_search_ctx	 ctx;
	struct imap_msg		 m;
	enum imap_parse_err	 kind;
	const char		*error;
	struct buf		 line;
	unsigned int		 i, found = 0, failed = 0;
	int			 ret;
	double			 t0;

	memset(&src, 0, sizeof(src));
	src.load = bench_load;
	src.ctx = bm;
	mime_limits_default(&src.mime);
	src.max_message = OUT_MAX;
	imap_limits_init(&lim);
	imap_parse_cmd_init(&cmd);
	buf_init(&line, 0, 1024);
	ck_assert_int_eq(buf_printf(&line, "a UID SEARCH %s\r\n", keys), 0);
	ck_assert_int_eq(imap_parse_command(line.data, line.len, &lim, &cmd,
	    &error), 0);
	ck_assert_int_eq(imap_parse_search(&cmd, &lim, &s, &kind, &error), 0);
	t0 = now();
	imap_search_ctx_init(&ctx);
	ctx.count = NBENCH;
	ctx.max_uid = NBENCH;
	imap_search_prepare(&s, &ctx);
	imap_msg_init(&m);
	m.src = &src;
	for (i = 1; i <= NBENCH; i++) {
		m.seq = m.uid = i;
		m.size = BENCH_SIZE;
		/* No ck_assert in the loop: each one writes to a pipe. */
		ret = imap_search_match(&s, &m, &ctx, &error);
		imap_msg_reset(&m);
		if (ret == -1)
			failed++;
		else
			found += (unsigned int)ret;
	}
	imap_search_ctx_deinit(&ctx);
	*secs_r = now() - t0;
	ck_assert_uint_eq(failed, 0);
	buf_deinit(&line);
	imap_parse_cmd_deinit(&cmd);
	return found;
}

static void
bench_fill(struct bench *bm, const char *hdr, bool b64)
{
	static const char words[] = "lorem ipsum dolor sit amet consectetur "
	    "adipiscing elit sed do eiusmod tempor incididunt ut labore et "
	    "dolore magna aliqua ";
	size_t		i, n, hl = strlen(hdr);
	char		*p;
	unsigned int	k;

	bm->msgs = xmalloc((size_t)NBENCH * BENCH_SIZE);
	for (k = 0; k < NBENCH; k++) {
		p = bm->msgs + (size_t)k * BENCH_SIZE;
		memcpy(p, hdr, hl);
		for (i = hl, n = 0; i < BENCH_SIZE - 2; i++, n++) {
			if (b64)
				p[i] = (char)('A' + (n * 7 + k) % 26);
			else
				p[i] = n % 72 == 71 ? '\n' :
				    words[(n + k) % (sizeof(words) - 1)];
		}
		p[BENCH_SIZE - 2] = '\r';
		p[BENCH_SIZE - 1] = '\n';
		/* One message in a hundred holds the word. */
		if (k % 100 == 0 && !b64)
			memcpy(p + hl + 1000, "Needle", 6);
	}
}

START_TEST(test_timing)
{
	struct bench	bm;
	double		secs;
	unsigned int	found;

	bench_fill(&bm, "From: a@example.com\r\nSubject: bench\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n\r\n", false);
	found = bench_run(&bm, "BODY needle", &secs);
	ck_assert_uint_eq(found, NBENCH / 100);
	printf("timing: UID SEARCH BODY needle, %d x %d bytes plain: "
	    "%.3f s\n", NBENCH, BENCH_SIZE, secs);
	found = bench_run(&bm, "TEXT zzzz", &secs);
	ck_assert_uint_eq(found, 0);
	printf("timing: UID SEARCH TEXT zzzz (no match), plain: %.3f s\n",
	    secs);
	free(bm.msgs);
	bench_fill(&bm, "From: a@example.com\r\nSubject: bench\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\n", true);
	found = bench_run(&bm, "BODY needle", &secs);
	printf("timing: UID SEARCH BODY needle, base64 bodies: %.3f s\n",
	    secs);
	free(bm.msgs);
}
END_TEST

static Suite *
imap_search_suite(void)
{
	Suite	*s = suite_create("imap_search");
	TCase	*tc = tcase_create("core");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_flags_sets);
	tcase_add_test(tc, test_saved);
	tcase_add_test(tc, test_headers);
	tcase_add_test(tc, test_bodies);
	tcase_add_test(tc, test_cheap_first);
	tcase_add_test(tc, test_dates);
	tcase_add_test(tc, test_gone_error);
	tcase_add_test(tc, test_fold_into_ascii);
	tcase_add_test(tc, test_reply);
	tcase_add_test(tc, test_timing);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(imap_search_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
