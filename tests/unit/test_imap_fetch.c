/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for imapd/imap_fetch.c and imapd/imap_msg.c: FETCH commands
 * parsed with imap_parse_fetch() are rendered against messages held in
 * memory behind a fake struct imap_msg_source (which counts loads and
 * keeps a cache), and the exact response bytes, written out by hand, are
 * compared: FLAGS with keywords and \Recent, INTERNALDATE in several
 * zones, RFC822.SIZE, UID, ENVELOPE / BODY / BODYSTRUCTURE (against the
 * hand-verified lines of tests/unit/mime-corpus/NAME.expected) and the
 * cache hooks, BODY[section] with part numbers, nested message/rfc822
 * parts, HEADER, HEADER.FIELDS(.NOT), MIME, TEXT, partials, missing
 * sections, BINARY / BINARY.SIZE on base64 and QP parts, literal8,
 * unknown CTEs, RFC822.*, \Seen handling, gone messages, loader errors
 * and a full output buffer; then a timing of BODY.PEEK[] and of
 * (UID FLAGS) over many messages.
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
#include "common/xmalloc.h"

#include "imapd/imap_fetch.h"
#include "imapd/imap_msg.h"
#include "imapd/imap_parse.h"

#include "common/banned.h"

#define S(s)		(s), (sizeof(s) - 1)
#define OUT_MAX		(16 * 1024 * 1024)
#define UID_GONE	99
#define UID_FAIL	98
#define MAX_MSGS	8

/* ---- a fake mail store -------------------------------------------------- */

struct fake {
	const char	*msg[MAX_MSGS];		/* by UID - 1 */
	size_t		 len[MAX_MSGS];
	unsigned int	 loads;
	/* cache by [uid - 1][what & 0x3f] */
	char		*cache[MAX_MSGS][64];
	size_t		 cache_len[MAX_MSGS][64];
	unsigned int	 gets, hits, puts;
};

static int
fake_load(void *ctx, uint32_t uid, struct buf *out, const char **error_r)
{
	struct fake	*f = ctx;

	f->loads++;
	if (uid == UID_GONE)
		return 0;
	if (uid == UID_FAIL || uid == 0 || uid > MAX_MSGS ||
	    f->msg[uid - 1] == NULL) {
		*error_r = "fake load failed";
		return -1;
	}
	if (buf_append(out, f->msg[uid - 1], f->len[uid - 1]) == -1) {
		*error_r = "message too large";
		return -1;
	}
	return 1;
}

static int
fake_get(void *ctx, uint32_t uid, int what, struct buf *out)
{
	struct fake	*f = ctx;

	f->gets++;
	if (uid == 0 || uid > MAX_MSGS || f->cache[uid - 1][what] == NULL)
		return 0;
	f->hits++;
	return buf_append(out, f->cache[uid - 1][what],
	    f->cache_len[uid - 1][what]) == -1 ? -1 : 1;
}

static void
fake_put(void *ctx, uint32_t uid, int what, const char *data, size_t len)
{
	struct fake	*f = ctx;

	f->puts++;
	if (uid == 0 || uid > MAX_MSGS)
		return;
	free(f->cache[uid - 1][what]);
	f->cache[uid - 1][what] = xmalloc(len + 1);
	memcpy(f->cache[uid - 1][what], data, len);
	f->cache_len[uid - 1][what] = len;
}

static void
fake_free(struct fake *f)
{
	unsigned int	i, j;

	for (i = 0; i < MAX_MSGS; i++) {
		for (j = 0; j < 64; j++)
			free(f->cache[i][j]);
	}
}

static void
fake_source(struct fake *f, struct imap_msg_source *src, bool cache)
{
	memset(src, 0, sizeof(*src));
	src->load = fake_load;
	if (cache) {
		src->cache_get = fake_get;
		src->cache_put = fake_put;
	}
	src->ctx = f;
	mime_limits_default(&src->mime);
	src->max_message = OUT_MAX;
}

/* ---- the corpus --------------------------------------------------------- */

static char *
corpus_path(const char *name)
{
	const char	*srcdir = getenv("srcdir"), *slash;
	struct buf	 b;
	char		*path;

	buf_init(&b, 0, 4096);
	if (srcdir != NULL)
		ck_assert_int_eq(buf_printf(&b, "%s/tests/unit/mime-corpus/%s",
		    srcdir, name), 0);
	else {
		slash = strrchr(__FILE__, '/');
		ck_assert_int_eq(buf_printf(&b, "%.*s/mime-corpus/%s",
		    slash == NULL ? 1 : (int)(slash - __FILE__),
		    slash == NULL ? "." : __FILE__, name), 0);
	}
	path = buf_steal(&b);
	buf_deinit(&b);
	return path;
}

/* A whole file (NUL-terminated copy), length in *len_r. */
static char *
corpus_read(const char *name, size_t *len_r)
{
	char	*path = corpus_path(name), *data;
	FILE	*fp;
	long	 n;

	fp = fopen(path, "rb");
	ck_assert_msg(fp != NULL, "cannot open %s", path);
	ck_assert_int_eq(fseek(fp, 0, SEEK_END), 0);
	n = ftell(fp);
	ck_assert(n >= 0);
	rewind(fp);
	data = xmalloc((size_t)n + 1);
	ck_assert_uint_eq(fread(data, 1, (size_t)n, fp), (size_t)n);
	data[n] = '\0';
	fclose(fp);
	free(path);
	*len_r = (size_t)n;
	return data;
}

/*
 * The value of the line "KEY value" of NAME.expected, with the "\xHH"
 * escapes the corpus uses decoded; length in *len_r.
 */
static char *
corpus_expected(const char *name, const char *key, size_t *len_r)
{
	char	 file[128], *data, *p, *eol, *v;
	size_t	 len, klen = strlen(key), i, n = 0;

	ck_assert_int_lt(snprintf(file, sizeof(file), "%s.expected", name),
	    (int)sizeof(file));
	data = corpus_read(file, &len);
	for (p = data; p < data + len; p = eol + 1) {
		if ((eol = memchr(p, '\n', (size_t)(data + len - p))) == NULL)
			eol = data + len;
		if ((size_t)(eol - p) > klen && memcmp(p, key, klen) == 0 &&
		    p[klen] == ' ')
			break;
	}
	ck_assert_msg(p < data + len, "no %s in %s", key, file);
	v = xmalloc((size_t)(eol - p) + 1);
	for (i = klen + 1; p + i < eol; i++) {
		if (p[i] == '\\' && p + i + 3 < eol && p[i + 1] == 'x') {
			char hex[3] = { p[i + 2], p[i + 3], 0 };

			v[n++] = (char)strtoul(hex, NULL, 16);
			i += 3;
		} else
			v[n++] = p[i];
	}
	v[n] = '\0';
	free(data);
	*len_r = n;
	return v;
}

/* ---- rendering ---------------------------------------------------------- */

struct fx {
	struct fake		 f;
	struct imap_msg_source	 src;
	struct imap_fetch_opts	 o;
	struct imap_msg		 m;
	struct imap_cmd		 cmd;
	struct imap_limits	 lim;
	struct buf		 out;
	char			*corpus[MAX_MSGS];
};

static void
fx_init(struct fx *x, bool cache)
{
	memset(x, 0, sizeof(*x));
	fake_source(&x->f, &x->src, cache);
	imap_limits_init(&x->lim);
	imap_parse_cmd_init(&x->cmd);
	buf_init(&x->out, 0, OUT_MAX);
	imap_msg_init(&x->m);
}

static void
fx_deinit(struct fx *x)
{
	unsigned int	i;

	imap_msg_reset(&x->m);
	imap_parse_cmd_deinit(&x->cmd);
	buf_deinit(&x->out);
	fake_free(&x->f);
	for (i = 0; i < MAX_MSGS; i++)
		free(x->corpus[i]);
}

/* Puts a message at uid (1..MAX_MSGS). */
static void
fx_msg(struct fx *x, uint32_t uid, const char *data, size_t len)
{
	x->f.msg[uid - 1] = data;
	x->f.len[uid - 1] = len;
}

static void
fx_corpus(struct fx *x, uint32_t uid, const char *name)
{
	char	file[128];
	size_t	len;

	ck_assert_int_lt(snprintf(file, sizeof(file), "%s.eml", name),
	    (int)sizeof(file));
	x->corpus[uid - 1] = corpus_read(file, &len);
	fx_msg(x, uid, x->corpus[uid - 1], len);
}

/* Parses "FETCH 1 <atts>" (UID FETCH when uid) into *fetch_r. */
static void
fx_parse(struct fx *x, const char *atts, bool uid, struct imap_fetch *fetch_r)
{
	struct buf	 cmd;
	const char	*error = NULL;

	buf_init(&cmd, 0, 65536);
	ck_assert_int_eq(buf_printf(&cmd, "a %sFETCH 1 %s\r\n",
	    uid ? "UID " : "", atts), 0);
	ck_assert_msg(imap_parse_command(cmd.data, cmd.len, &x->lim, &x->cmd,
	    &error) == 0, "parse %s: %s", atts, error);
	ck_assert_msg(imap_parse_fetch(&x->cmd, &x->lim, fetch_r,
	    &error) == 0, "fetch %s: %s", atts, error);
	/* The literal-free command's strings live in the arena. */
	buf_deinit(&cmd);
}

/* Sets up x->m for uid (reset, index fields from the message). */
static void
fx_setup(struct fx *x, uint32_t uid)
{
	imap_msg_reset(&x->m);
	x->m.seq = 1;
	x->m.uid = uid;
	x->m.flags = IMAP_FLAG_SEEN;
	x->m.keywords = NULL;
	x->m.nkeywords = 0;
	x->m.size = uid <= MAX_MSGS ? x->f.len[uid - 1] : 0;
	x->m.date = 1715990400;		/* 2024-05-18 00:00:00 UTC */
	x->m.zone = 0;
	x->m.src = &x->src;
}

/* Renders atts for x->m into x->out (emptied first); returns the result. */
static int
fx_render(struct fx *x, const char *atts, enum imap_fetch_error *kind_r)
{
	struct imap_fetch	 fetch;
	const char		*error = NULL;
	int			 ret;

	fx_parse(x, atts, false, &fetch);
	buf_reset(&x->out);
	*kind_r = IMAP_FETCH_E_NONE;
	ret = imap_fetch_msg(&x->out, &fetch, &x->m, &x->o, kind_r, &error);
	if (ret == -1)
		ck_assert_ptr_nonnull(error);
	return ret;
}

#define CHECK_OUT(x, want) do {						\
	ck_assert_msg((x)->out.len == sizeof(want) - 1 &&		\
	    memcmp((x)->out.data, want, sizeof(want) - 1) == 0,		\
	    "got [%s] want [%s]", (x)->out.data, want);			\
} while (0)

/* Renders atts for a fresh message at uid and compares the bytes. */
#define CHECK_FETCH(x, uid, atts, want) do {				\
	enum imap_fetch_error k_;					\
	fx_setup(x, uid);						\
	ck_assert_int_eq(fx_render(x, atts, &k_), 0);			\
	CHECK_OUT(x, want);						\
} while (0)

/* ---- index items -------------------------------------------------------- */

START_TEST(test_flags_uid)
{
	static const char *const kw[] = { "$Forwarded", "Work" };
	struct fx	x;
	enum imap_fetch_error k;

	fx_init(&x, false);
	fx_setup(&x, 5);
	x.m.seq = 3;
	x.m.uid = 42;
	x.m.flags = IMAP_FLAG_ANSWERED | IMAP_FLAG_SEEN | IMAP_FLAG_RECENT |
	    IMAP_FLAG_DRAFT | IMAP_FLAG_DELETED | IMAP_FLAG_FLAGGED;
	x.m.keywords = kw;
	x.m.nkeywords = 2;
	x.o.show_recent = true;
	ck_assert_int_eq(fx_render(&x, "(FLAGS UID)", &k), 0);
	CHECK_OUT(&x, "* 3 FETCH (FLAGS (\\Answered \\Flagged \\Deleted "
	    "\\Seen \\Draft \\Recent $Forwarded Work) UID 42)\r\n");
	x.o.show_recent = false;
	x.m.flags = IMAP_FLAG_SEEN | IMAP_FLAG_RECENT;
	ck_assert_int_eq(fx_render(&x, "(UID FLAGS)", &k), 0);
	CHECK_OUT(&x, "* 3 FETCH (UID 42 FLAGS (\\Seen $Forwarded Work))"
	    "\r\n");
	x.m.flags = 0;
	x.m.nkeywords = 0;
	ck_assert_int_eq(fx_render(&x, "FLAGS", &k), 0);
	CHECK_OUT(&x, "* 3 FETCH (FLAGS ())\r\n");
	/* UID FETCH adds UID. */
	{
		struct imap_fetch fetch;
		const char *error;

		fx_parse(&x, "FLAGS", true, &fetch);
		buf_reset(&x.out);
		ck_assert_int_eq(imap_fetch_msg(&x.out, &fetch, &x.m, &x.o,
		    &k, &error), 0);
		CHECK_OUT(&x, "* 3 FETCH (FLAGS () UID 42)\r\n");
		ck_assert(!imap_fetch_needs_content(&fetch));
	}
	/* Nothing loaded for index items. */
	ck_assert_uint_eq(x.f.loads, 0);
	ck_assert(!x.m.loaded);
	fx_deinit(&x);
}
END_TEST

START_TEST(test_internaldate_size)
{
	struct fx	x;
	enum imap_fetch_error k;

	fx_init(&x, false);
	fx_setup(&x, 5);
	x.m.size = 981;
	ck_assert_int_eq(fx_render(&x, "(INTERNALDATE RFC822.SIZE)", &k), 0);
	CHECK_OUT(&x, "* 1 FETCH (INTERNALDATE \"18-May-2024 00:00:00 +0000\""
	    " RFC822.SIZE 981)\r\n");
	x.m.zone = 120;
	ck_assert_int_eq(fx_render(&x, "INTERNALDATE", &k), 0);
	CHECK_OUT(&x, "* 1 FETCH (INTERNALDATE \"18-May-2024 02:00:00 +0200\""
	    ")\r\n");
	x.m.zone = -330;
	ck_assert_int_eq(fx_render(&x, "INTERNALDATE", &k), 0);
	CHECK_OUT(&x, "* 1 FETCH (INTERNALDATE \"17-May-2024 18:30:00 -0530\""
	    ")\r\n");
	x.m.date = 1709622489;		/* 2024-03-05 07:08:09 UTC */
	x.m.zone = 0;
	x.m.size = 0;
	ck_assert_int_eq(fx_render(&x, "(RFC822.SIZE INTERNALDATE)", &k), 0);
	CHECK_OUT(&x, "* 1 FETCH (RFC822.SIZE 0 INTERNALDATE "
	    "\"05-Mar-2024 07:08:09 +0000\")\r\n");
	/* A zone out of range is shown as UTC. */
	x.m.zone = 24 * 60;
	ck_assert_int_eq(fx_render(&x, "INTERNALDATE", &k), 0);
	CHECK_OUT(&x, "* 1 FETCH (INTERNALDATE \"05-Mar-2024 07:08:09 +0000\""
	    ")\r\n");
	/* The FAST macro: FLAGS INTERNALDATE RFC822.SIZE. */
	x.m.zone = 0;
	ck_assert_int_eq(fx_render(&x, "FAST", &k), 0);
	CHECK_OUT(&x, "* 1 FETCH (FLAGS (\\Seen) INTERNALDATE "
	    "\"05-Mar-2024 07:08:09 +0000\" RFC822.SIZE 0)\r\n");
	ck_assert_uint_eq(x.f.loads, 0);
	fx_deinit(&x);
}
END_TEST

/* ---- structures and the cache ------------------------------------------- */

/* "* 1 FETCH (<key> <expected value>)\r\n" compared with x->out. */
static void
check_expected(struct fx *x, const char *name, const char *key,
    const char *item)
{
	char	*want, *full;
	size_t	 len;
	struct buf b;

	want = corpus_expected(name, key, &len);
	buf_init(&b, 0, OUT_MAX);
	ck_assert_int_eq(buf_printf(&b, "* 1 FETCH (%s ", item), 0);
	ck_assert_int_eq(buf_append(&b, want, len), 0);
	ck_assert_int_eq(buf_append(&b, ")\r\n", 3), 0);
	full = b.data;
	ck_assert_msg(x->out.len == b.len &&
	    memcmp(x->out.data, full, b.len) == 0,
	    "%s %s: got [%s] want [%s]", name, key, x->out.data, full);
	buf_deinit(&b);
	free(want);
}

START_TEST(test_structures)
{
	static const char *const names[] = {
		"06-message-rfc822", "05-nested-3-deep", "07-rfc2231",
		"13-bad-boundary", "18-base64-qp", "17-8bit-headers",
		"14-unclosed",
	};
	static const char *const items[] = {
		"BODYSTRUCTURE", "BODY", "ENVELOPE",
	};
	struct fx	x;
	enum imap_fetch_error k;
	unsigned int	i, j;

	fx_init(&x, false);
	for (i = 0; i < N_ELEMENTS(names); i++) {
		fx_corpus(&x, 1, names[i]);
		for (j = 0; j < N_ELEMENTS(items); j++) {
			fx_setup(&x, 1);
			ck_assert_int_eq(fx_render(&x, items[j], &k), 0);
			check_expected(&x, names[i], items[j], items[j]);
		}
		free(x.corpus[0]);
		x.corpus[0] = NULL;
	}
	/* UTF-8 sessions get quoted UTF-8 strings. */
	fx_corpus(&x, 1, "17-8bit-headers");
	x.o.utf8 = true;
	fx_setup(&x, 1);
	ck_assert_int_eq(fx_render(&x, "ENVELOPE", &k), 0);
	check_expected(&x, "17-8bit-headers", "ENVELOPE-UTF8", "ENVELOPE");
	/* One load and one parse for three structure items. */
	x.f.loads = 0;
	fx_setup(&x, 1);
	ck_assert_int_eq(fx_render(&x, "(ENVELOPE BODY BODYSTRUCTURE)", &k),
	    0);
	ck_assert_uint_eq(x.f.loads, 1);
	fx_deinit(&x);
}
END_TEST

START_TEST(test_cache)
{
	struct fx	x;
	enum imap_fetch_error k;
	char		*first;

	fx_init(&x, true);
	fx_corpus(&x, 1, "06-message-rfc822");
	fx_setup(&x, 1);
	ck_assert_int_eq(fx_render(&x, "(ENVELOPE BODYSTRUCTURE BODY)", &k),
	    0);
	ck_assert_uint_eq(x.f.loads, 1);
	ck_assert_uint_eq(x.f.gets, 3);
	ck_assert_uint_eq(x.f.hits, 0);
	ck_assert_uint_eq(x.f.puts, 3);
	ck_assert_ptr_nonnull(x.f.cache[0][IMAP_MSG_CACHE_ENVELOPE]);
	ck_assert_ptr_nonnull(x.f.cache[0][IMAP_MSG_CACHE_BODYSTRUCTURE]);
	ck_assert_ptr_nonnull(x.f.cache[0][IMAP_MSG_CACHE_BODY]);
	first = xstrdup(x.out.data);
	/* Second time: from the cache, nothing loaded. */
	fx_setup(&x, 1);
	ck_assert_int_eq(fx_render(&x, "(ENVELOPE BODYSTRUCTURE BODY)", &k),
	    0);
	ck_assert_uint_eq(x.f.loads, 1);
	ck_assert_uint_eq(x.f.hits, 3);
	ck_assert_str_eq(x.out.data, first);
	free(first);
	/* The UTF-8 and rev2 forms are cached apart. */
	x.o.utf8 = true;
	x.o.imap4rev2 = true;
	fx_setup(&x, 1);
	ck_assert_int_eq(fx_render(&x, "(ENVELOPE BODYSTRUCTURE)", &k), 0);
	ck_assert_uint_eq(x.f.loads, 2);
	ck_assert_ptr_nonnull(x.f.cache[0][IMAP_MSG_CACHE_ENVELOPE |
	    IMAP_MSG_CACHE_F_UTF8]);
	ck_assert_ptr_nonnull(x.f.cache[0][IMAP_MSG_CACHE_BODYSTRUCTURE |
	    IMAP_MSG_CACHE_F_UTF8 | IMAP_MSG_CACHE_F_REV2]);
	fx_deinit(&x);
}
END_TEST

/* ---- sections ----------------------------------------------------------- */

START_TEST(test_sections_rfc822)
{
	struct fx	x;

	fx_init(&x, false);
	fx_corpus(&x, 1, "06-message-rfc822");
	CHECK_FETCH(&x, 1, "BODY[1]",
	    "* 1 FETCH (BODY[1] {25}\r\nForwarding the minutes.\r\n)\r\n");
	CHECK_FETCH(&x, 1, "BODY.PEEK[2.1]",
	    "* 1 FETCH (BODY[2.1] {29}\r\nMinutes attached. Gr=FC=DFe\r\n)"
	    "\r\n");
	CHECK_FETCH(&x, 1, "BODY[2.1.MIME]",
	    "* 1 FETCH (BODY[2.1.MIME] {93}\r\n"
	    "Content-Type: text/plain; charset=iso-8859-1\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n)\r\n");
	CHECK_FETCH(&x, 1, "BODY[2.2.MIME]",
	    "* 1 FETCH (BODY[2.2.MIME] {99}\r\n"
	    "Content-Type: text/csv; name=minutes.csv\r\n"
	    "Content-Disposition: attachment; filename=minutes.csv\r\n\r\n)"
	    "\r\n");
	CHECK_FETCH(&x, 1, "BODY[2.2]",
	    "* 1 FETCH (BODY[2.2] {23}\r\nitem,owner\r\nbudget,ivan)\r\n");
	CHECK_FETCH(&x, 1, "BODY[2.HEADER]",
	    "* 1 FETCH (BODY[2.HEADER] {284}\r\n"
	    "From: Ivan <ivan@example.net>\r\n"
	    "To: Grace <grace@example.net>, Judy <judy@example.net>\r\n"
	    "Subject: Minutes\r\n"
	    "Date: Fri, 17 May 2024 18:00:00 +0000\r\n"
	    "Message-ID: <minutes@example.net>\r\n"
	    "In-Reply-To: <agenda@example.net>\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: multipart/mixed; boundary=\"inner\"\r\n\r\n)\r\n");
	CHECK_FETCH(&x, 1, "BODY[2.HEADER.FIELDS (subject IN-REPLY-TO)]",
	    "* 1 FETCH (BODY[2.HEADER.FIELDS (subject IN-REPLY-TO)] {55}\r\n"
	    "Subject: Minutes\r\nIn-Reply-To: <agenda@example.net>\r\n\r\n)"
	    "\r\n");
	CHECK_FETCH(&x, 1, "BODY[HEADER.FIELDS (From Subject)]",
	    "* 1 FETCH (BODY[HEADER.FIELDS (From Subject)] {58}\r\n"
	    "From: Grace <grace@example.net>\r\nSubject: Fwd: Minutes\r\n"
	    "\r\n)\r\n");
	CHECK_FETCH(&x, 1,
	    "BODY.PEEK[HEADER.FIELDS.NOT (From Subject Date Message-ID To)]",
	    "* 1 FETCH (BODY[HEADER.FIELDS.NOT (From Subject Date Message-ID"
	    " To)] {70}\r\nMIME-Version: 1.0\r\n"
	    "Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n)\r\n");
	/* Fields that are not there: just the empty line. */
	CHECK_FETCH(&x, 1, "BODY[HEADER.FIELDS (X-None)]",
	    "* 1 FETCH (BODY[HEADER.FIELDS (X-None)] {2}\r\n\r\n)\r\n");
	/* 2.1 is no message: its HEADER and TEXT do not exist. */
	CHECK_FETCH(&x, 1, "(BODY[2.1.HEADER] BODY[2.1.TEXT] BODY[2.3] "
	    "BODY[3] BODY[2.2.1] BODY[2.1.HEADER.FIELDS (A)])",
	    "* 1 FETCH (BODY[2.1.HEADER] \"\" BODY[2.1.TEXT] \"\" "
	    "BODY[2.3] \"\" BODY[3] \"\" BODY[2.2.1] \"\" "
	    "BODY[2.1.HEADER.FIELDS (A)] \"\")\r\n");
	/* Partials. */
	CHECK_FETCH(&x, 1, "(BODY[2.2]<0.10> BODY[2.2]<5.3> BODY[2.2]<22.5> "
	    "BODY[2.2]<23.5> BODY[2.2]<100.1>)",
	    "* 1 FETCH (BODY[2.2]<0> {10}\r\nitem,owner BODY[2.2]<5> {3}\r\n"
	    "own BODY[2.2]<22> {1}\r\nn BODY[2.2]<23> \"\" "
	    "BODY[2.2]<100> \"\")\r\n");
	CHECK_FETCH(&x, 1, "(BODY[TEXT]<0.9> BODY[2.TEXT]<0.9>)",
	    "* 1 FETCH (BODY[TEXT]<0> {9}\r\n--outer\r\n "
	    "BODY[2.TEXT]<0> {9}\r\n--inner\r\n)\r\n");
	CHECK_FETCH(&x, 1, "BODY[HEADER]<0.20>",
	    "* 1 FETCH (BODY[HEADER]<0> {20}\r\nFrom: Grace <grace@e)\r\n");
	CHECK_FETCH(&x, 1, "RFC822.HEADER",
	    "* 1 FETCH (RFC822.HEADER {227}\r\nFrom: Grace <grace@example.net>"
	    "\r\n" "To: Heidi <heidi@example.net>\r\n"
	    "Subject: Fwd: Minutes\r\n"
	    "Date: Sat, 18 May 2024 12:00:00 +0000\r\n"
	    "Message-ID: <fwd@example.net>\r\nMIME-Version: 1.0\r\n"
	    "Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n)\r\n");
	fx_deinit(&x);
}
END_TEST

START_TEST(test_sections_nested)
{
	struct fx	x;

	fx_init(&x, false);
	fx_corpus(&x, 1, "05-nested-3-deep");
	CHECK_FETCH(&x, 1, "BODY[1.1.2]",
	    "* 1 FETCH (BODY[1.1.2] {69}\r\n<html><body>See the logo below."
	    "<img src=\"cid:logo@eve\"></body></html>)\r\n");
	CHECK_FETCH(&x, 1, "BODY[1.1.1]",
	    "* 1 FETCH (BODY[1.1.1] {21}\r\nSee the logo below.\r\n)\r\n");
	CHECK_FETCH(&x, 1, "(BODY[2] BODY[1.2]<0.4>)",
	    "* 1 FETCH (BODY[2] {5}\r\nnotes BODY[1.2]<0> {4}\r\nR0lG)\r\n");
	CHECK_FETCH(&x, 1, "BODY[1.1.MIME]",
	    "* 1 FETCH (BODY[1.1.MIME] {67}\r\nContent-Type: multipart/"
	    "alternative; boundary=\"Apple-Mail=_ALT\"\r\n\r\n)\r\n");
	/* BINARY of the base64 image: the GIF bytes. */
	CHECK_FETCH(&x, 1, "(BINARY.SIZE[1.2] BINARY[1.2]<0.6>)",
	    "* 1 FETCH (BINARY.SIZE[1.2] 14 BINARY[1.2]<0> {6}\r\nGIF89a)"
	    "\r\n");
	fx_deinit(&x);
}
END_TEST

START_TEST(test_binary)
{
	static const char nul[] =
	    "Subject: nul\r\n"
	    "Content-Type: application/octet-stream\r\n"
	    "Content-Transfer-Encoding: base64\r\n"
	    "\r\n"
	    "AGEAYg==\r\n";
	static const char uu[] =
	    "Subject: uu\r\n"
	    "Content-Transfer-Encoding: x-uuencode\r\n"
	    "\r\n"
	    "begin 644 x\r\n";
	struct fx	x;
	enum imap_fetch_error k;

	fx_init(&x, false);
	fx_corpus(&x, 1, "06-message-rfc822");
	fx_corpus(&x, 2, "18-base64-qp");
	fx_msg(&x, 3, S(nul));
	fx_msg(&x, 4, S(uu));
	CHECK_FETCH(&x, 1, "(BINARY[2.1] BINARY.SIZE[2.1] BINARY.SIZE[2.2] "
	    "BINARY.SIZE[7])",
	    "* 1 FETCH (BINARY[2.1] {25}\r\nMinutes attached. Gr\xfc\xdf"
	    "e\r\n BINARY.SIZE[2.1] 25 BINARY.SIZE[2.2] 23 BINARY.SIZE[7] 0)"
	    "\r\n");
	CHECK_FETCH(&x, 2, "(BINARY.SIZE[1] BINARY.PEEK[1]<0.29> "
	    "BINARY[1]<17.7>)",
	    "* 1 FETCH (BINARY.SIZE[1] 72 BINARY[1]<0> {29}\r\n"
	    "File SYSTEM report: disk full BINARY[1]<17> {7}\r\nt: disk)\r\n");
	CHECK_FETCH(&x, 2, "(BINARY[2]<0.5> BINARY[9])",
	    "* 1 FETCH (BINARY[2]<0> {5}\r\nCaf\xe9  BINARY[9] \"\")\r\n");
	/* NUL in the decoded bytes: literal8; a cut without NUL: literal. */
	CHECK_FETCH(&x, 3, "(BINARY[1] BINARY[1]<1.1> BINARY.SIZE[1] BODY[1])",
	    "* 1 FETCH (BINARY[1] ~{4}\r\n\0a\0b BINARY[1]<1> {1}\r\na "
	    "BINARY.SIZE[1] 4 BODY[1] {10}\r\nAGEAYg==\r\n)\r\n");
	/* BINARY[] is the message as stored. */
	CHECK_FETCH(&x, 4, "BINARY[]<0.12>",
	    "* 1 FETCH (BINARY[]<0> {12}\r\nSubject: uu\r)\r\n");
	/* Unknown CTE: NO [UNKNOWN-CTE], nothing written. */
	fx_setup(&x, 4);
	ck_assert_int_eq(fx_render(&x, "(UID BINARY[1])", &k), -1);
	ck_assert_int_eq(k, IMAP_FETCH_E_UNKNOWN_CTE);
	ck_assert_uint_eq(x.out.len, 0);
	fx_setup(&x, 4);
	ck_assert_int_eq(fx_render(&x, "BINARY.SIZE[1]", &k), -1);
	ck_assert_int_eq(k, IMAP_FETCH_E_UNKNOWN_CTE);
	/* BODY[1] of it is fine. */
	CHECK_FETCH(&x, 4, "BODY[1]",
	    "* 1 FETCH (BODY[1] {13}\r\nbegin 644 x\r\n)\r\n");
	fx_deinit(&x);
}
END_TEST

START_TEST(test_whole_and_rfc822)
{
	static const char msg[] =
	    "Subject: hi\r\n"
	    "\r\n"
	    "body\0line\r\n";
	struct fx	x;
	enum imap_fetch_error k;

	fx_init(&x, false);
	fx_msg(&x, 1, S(msg));
	/* BODY[] loads once and never parses; NUL goes out as 0x80. */
	CHECK_FETCH(&x, 1, "(BODY.PEEK[] RFC822.SIZE)",
	    "* 1 FETCH (BODY[] {26}\r\nSubject: hi\r\n\r\nbody\x80line\r\n "
	    "RFC822.SIZE 26)\r\n");
	ck_assert_uint_eq(x.f.loads, 1);
	ck_assert(!x.m.parsed);
	CHECK_FETCH(&x, 1, "(RFC822 RFC822.HEADER RFC822.TEXT)",
	    "* 1 FETCH (RFC822 {26}\r\nSubject: hi\r\n\r\nbody\x80line\r\n "
	    "RFC822.HEADER {15}\r\nSubject: hi\r\n\r\n "
	    "RFC822.TEXT {11}\r\nbody\x80line\r\n)\r\n");
	CHECK_FETCH(&x, 1, "BODY[]<4.7>",
	    "* 1 FETCH (BODY[]<4> {7}\r\nect: hi)\r\n");
	/* A non-multipart message's part 1 is its body. */
	CHECK_FETCH(&x, 1, "(BODY[1] BODY[1.MIME]<0.7> BODY[2])",
	    "* 1 FETCH (BODY[1] {11}\r\nbody\x80line\r\n "
	    "BODY[1.MIME]<0> {7}\r\nSubject BODY[2] \"\")\r\n");
	/* add_flags: FLAGS at the end unless asked. */
	x.o.add_flags = true;
	CHECK_FETCH(&x, 1, "BODY[]<0.4>",
	    "* 1 FETCH (BODY[]<0> {4}\r\nSubj FLAGS (\\Seen))\r\n");
	CHECK_FETCH(&x, 1, "(FLAGS BODY[]<0.4>)",
	    "* 1 FETCH (FLAGS (\\Seen) BODY[]<0> {4}\r\nSubj)\r\n");
	/* An empty message. */
	fx_msg(&x, 2, "", 0);
	x.o.add_flags = false;
	fx_setup(&x, 2);
	ck_assert_int_eq(fx_render(&x, "(BODY[] BODY[TEXT] BODYSTRUCTURE)",
	    &k), 0);
	ck_assert(strncmp(x.out.data, "* 1 FETCH (BODY[] \"\" BODY[TEXT] \"\" "
	    "BODYSTRUCTURE (", 50) == 0);
	fx_deinit(&x);
}
END_TEST

START_TEST(test_sets_seen)
{
	static const struct {
		const char	*atts;
		bool		 seen;
	} cases[] = {
		{ "FLAGS", false },
		{ "ALL", false },
		{ "FULL", false },
		{ "BODY.PEEK[]", false },
		{ "BINARY.PEEK[1]", false },
		{ "(RFC822.HEADER RFC822.SIZE BINARY.SIZE[1])", false },
		{ "BODY[]", true },
		{ "(UID BODY[HEADER])", true },
		{ "BINARY[1]", true },
		{ "RFC822", true },
		{ "RFC822.TEXT", true },
	};
	struct fx	 x;
	struct imap_fetch fetch;
	unsigned int	 i;

	fx_init(&x, false);
	for (i = 0; i < N_ELEMENTS(cases); i++) {
		fx_parse(&x, cases[i].atts, false, &fetch);
		ck_assert_msg(imap_fetch_sets_seen(&fetch) == cases[i].seen,
		    "%s", cases[i].atts);
	}
	fx_parse(&x, "(UID RFC822.SIZE)", false, &fetch);
	ck_assert(!imap_fetch_needs_content(&fetch));
	fx_parse(&x, "(UID ENVELOPE)", false, &fetch);
	ck_assert(imap_fetch_needs_content(&fetch));
	fx_deinit(&x);
}
END_TEST

START_TEST(test_gone_error_full)
{
	struct fx	x;
	enum imap_fetch_error k;
	struct buf	small;
	struct imap_fetch fetch;
	const char	*error;

	fx_init(&x, true);
	fx_corpus(&x, 1, "06-message-rfc822");
	CHECK_FETCH(&x, UID_GONE, "(UID FLAGS RFC822.SIZE BODY[] ENVELOPE "
	    "BODYSTRUCTURE BODY[1] BINARY[1] BINARY.SIZE[1] RFC822.HEADER)",
	    "* 1 FETCH (UID 99 FLAGS (\\Seen) RFC822.SIZE 0 BODY[] NIL "
	    "ENVELOPE NIL BODYSTRUCTURE NIL BODY[1] NIL BINARY[1] NIL "
	    "BINARY.SIZE[1] NIL RFC822.HEADER NIL)\r\n");
	ck_assert(x.m.gone);
	/* One load for all the content items. */
	ck_assert_uint_eq(x.f.loads, 1);
	/* Loader failure: nothing written. */
	fx_setup(&x, UID_FAIL);
	buf_reset(&x.out);
	ck_assert_int_eq(buf_append(&x.out, "keep", 4), 0);
	fx_parse(&x, "(UID BODY[])", false, &fetch);
	ck_assert_int_eq(imap_fetch_msg(&x.out, &fetch, &x.m, &x.o, &k,
	    &error), -1);
	ck_assert_int_eq(k, IMAP_FETCH_E_INTERNAL);
	ck_assert_str_eq(error, "fake load failed");
	ck_assert_str_eq(x.out.data, "keep");
	/* A failed load is tried again. */
	ck_assert(!x.m.loaded);
	/* out at the maximum, and one byte short. */
	fx_setup(&x, 1);
	fx_parse(&x, "BODY[1]", false, &fetch);
	buf_init(&small, 0, 53);
	ck_assert_int_eq(imap_fetch_msg(&small, &fetch, &x.m, &x.o, &k,
	    &error), 0);
	ck_assert_uint_eq(small.len, 53);
	buf_deinit(&small);
	buf_init(&small, 0, 53);
	ck_assert_int_eq(buf_append(&small, "x", 1), 0);
	ck_assert_int_eq(imap_fetch_msg(&small, &fetch, &x.m, &x.o, &k,
	    &error), -1);
	ck_assert_int_eq(k, IMAP_FETCH_E_FULL);
	ck_assert_str_eq(small.data, "x");
	buf_deinit(&small);
	/* Too small for the structures, the header fields, the flags. */
	buf_init(&small, 0, 30);
	fx_parse(&x, "(FLAGS BODYSTRUCTURE)", false, &fetch);
	ck_assert_int_eq(imap_fetch_msg(&small, &fetch, &x.m, &x.o, &k,
	    &error), -1);
	ck_assert_int_eq(k, IMAP_FETCH_E_FULL);
	ck_assert_uint_eq(small.len, 0);
	fx_parse(&x, "BODY[HEADER.FIELDS (From To Subject)]", false, &fetch);
	ck_assert_int_eq(imap_fetch_msg(&small, &fetch, &x.m, &x.o, &k,
	    &error), -1);
	fx_parse(&x, "BINARY[2.1]", false, &fetch);
	ck_assert_int_eq(imap_fetch_msg(&small, &fetch, &x.m, &x.o, &k,
	    &error), -1);
	buf_deinit(&small);
	/* Without a source a message counts as gone. */
	fx_setup(&x, 1);
	x.m.src = NULL;
	ck_assert_int_eq(fx_render(&x, "BODY[]", &k), 0);
	CHECK_OUT(&x, "* 1 FETCH (BODY[] NIL)\r\n");
	fx_deinit(&x);
}
END_TEST

START_TEST(test_too_large_message)
{
	struct fx	x;
	enum imap_fetch_error k;

	fx_init(&x, false);
	fx_corpus(&x, 1, "06-message-rfc822");
	/* max_message at the size, and one under. */
	x.src.max_message = 981;
	fx_setup(&x, 1);
	ck_assert_int_eq(fx_render(&x, "BODY[]<0.4>", &k), 0);
	x.src.max_message = 980;
	fx_setup(&x, 1);
	ck_assert_int_eq(fx_render(&x, "BODY[]<0.4>", &k), -1);
	ck_assert_int_eq(k, IMAP_FETCH_E_INTERNAL);
	fx_deinit(&x);
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

START_TEST(test_timing)
{
	struct fx	 x;
	struct imap_fetch fetch;
	enum imap_fetch_error k;
	const char	*error;
	char		*msg;
	double		 t0, t1, t2;
	uint32_t	 i;
	size_t		 total = 0;
	unsigned int	 failed = 0;

	fx_init(&x, false);
	msg = xmalloc(4096);
	memset(msg, 'a', 4096);
	memcpy(msg, "Subject: x\r\n\r\n", 14);
	fx_msg(&x, 1, msg, 4096);
	fx_parse(&x, "(UID FLAGS)", true, &fetch);
	t0 = now();
	for (i = 1; i <= 100000; i++) {
		x.m.seq = i;
		x.m.uid = i;
		x.m.flags = i % 3 == 0 ? IMAP_FLAG_SEEN : 0;
		buf_reset(&x.out);
		/* No ck_assert in the loop: each one writes to a pipe. */
		if (imap_fetch_msg(&x.out, &fetch, &x.m, &x.o, &k,
		    &error) == -1)
			failed++;
		total += x.out.len;
	}
	t1 = now();
	fx_parse(&x, "BODY.PEEK[]", true, &fetch);
	for (i = 1; i <= 10000; i++) {
		fx_setup(&x, 1);
		x.m.seq = i;
		buf_reset(&x.out);
		/* No ck_assert in the loop: each one writes to a pipe. */
		if (imap_fetch_msg(&x.out, &fetch, &x.m, &x.o, &k,
		    &error) == -1)
			failed++;
		total += x.out.len;
	}
	t2 = now();
	ck_assert_uint_eq(failed, 0);
	ck_assert_uint_eq(x.f.loads, 10000);
	printf("timing: FETCH 1:100000 (UID FLAGS) %.3f s, "
	    "FETCH 1:10000 BODY.PEEK[] (4 KiB) %.3f s, %zu bytes\n",
	    t1 - t0, t2 - t1, total);
	free(msg);
	fx_deinit(&x);
}
END_TEST

static Suite *
imap_fetch_suite(void)
{
	Suite	*s = suite_create("imap_fetch");
	TCase	*tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_flags_uid);
	tcase_add_test(tc, test_internaldate_size);
	tcase_add_test(tc, test_structures);
	tcase_add_test(tc, test_cache);
	tcase_add_test(tc, test_sections_rfc822);
	tcase_add_test(tc, test_sections_nested);
	tcase_add_test(tc, test_binary);
	tcase_add_test(tc, test_whole_and_rfc822);
	tcase_add_test(tc, test_sets_seen);
	tcase_add_test(tc, test_gone_error_full);
	tcase_add_test(tc, test_too_large_message);
	tcase_add_test(tc, test_timing);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(imap_fetch_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
