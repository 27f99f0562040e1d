/* SPDX-License-Identifier: ISC */
/*
 * SEARCH: evaluates a parsed SEARCH program against one message at a
 * time and writes SEARCH / ESEARCH responses (imap_search.h).  Keys the
 * index answers cost nothing; header keys load the message; BODY and
 * TEXT parse it too.  imap_search_prepare() puts the cheap keys first,
 * and AND / OR stop at the first answer, so the expensive keys run only
 * on messages the cheap ones let through.
 *
 * BODY is the benchmark's case (10,000 messages): plain text parts in an
 * ASCII-compatible charset are searched on the stored bytes with an
 * ASCII case-insensitive matcher, which gives exactly the answer the
 * folded text would whenever the key folds to ASCII: an ASCII run of the
 * stored bytes folds to itself lowercased, and the only other things
 * that fold into ASCII are NUL (a space in the search text) and U+017F
 * (LATIN SMALL LETTER LONG S, "s"), so when the matcher finds nothing
 * and the part holds one of those, it falls back to the decoded text.
 * The message bytes are the store's, trusted only as bytes.
 */
#include "config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/buf.h"
#include "common/imap_str.h"
#include "common/log.h"
#include "common/mime.h"
#include "common/xmalloc.h"

#include "imap_msg.h"
#include "imap_parse.h"
#include "imap_search.h"

#include "common/banned.h"

#define IMAP_SEARCH_DAY		86400

/* What a key costs, the order prepare puts them in. */
enum imap_search_cost {
	IMAP_SEARCH_COST_INDEX = 0,	/* struct imap_msg fields */
	IMAP_SEARCH_COST_HEADER,	/* loads the message */
	IMAP_SEARCH_COST_BODY,		/* loads and parses it */
	IMAP_SEARCH_COST_N,
};

/* Internal result: the message is gone, the whole answer is "no". */
#define IMAP_SEARCH_GONE	(-2)

/* Fast path results. */
enum imap_search_fast {
	IMAP_SEARCH_FAST_NO = 0,
	IMAP_SEARCH_FAST_YES,
	IMAP_SEARCH_FAST_SLOW,		/* decode to know */
};

/* State of one imap_search_match(). */
struct imap_search_run {
	struct imap_msg			*m;
	const struct imap_search_ctx	*ctx;
	struct buf			 a, b;	/* scratch, when scratch */
	bool				 scratch;
	const char			*error;
};

/* ---- prepare ------------------------------------------------------------ */

void
imap_search_ctx_init(struct imap_search_ctx *ctx)
{
	memset(ctx, 0, sizeof(*ctx));
}

void
imap_search_ctx_deinit(struct imap_search_ctx *ctx)
{
	unsigned int	i;

	for (i = 0; i < ctx->nfolded; i++)
		free(ctx->folded[i]);
	free(ctx->folded);
	ctx->folded = NULL;
	ctx->nfolded = 0;
}

static bool
imap_search_is_string(enum imap_search_key key)
{
	switch (key) {
	case IMAP_SEARCH_BCC:
	case IMAP_SEARCH_BODY:
	case IMAP_SEARCH_CC:
	case IMAP_SEARCH_FROM:
	case IMAP_SEARCH_SUBJECT:
	case IMAP_SEARCH_TEXT:
	case IMAP_SEARCH_TO:
	case IMAP_SEARCH_HEADER:
		return true;
	default:
		return false;
	}
}

static enum imap_search_cost
imap_search_key_cost(enum imap_search_key key)
{
	switch (key) {
	case IMAP_SEARCH_BCC:
	case IMAP_SEARCH_CC:
	case IMAP_SEARCH_FROM:
	case IMAP_SEARCH_SUBJECT:
	case IMAP_SEARCH_TO:
	case IMAP_SEARCH_HEADER:
	case IMAP_SEARCH_SENTBEFORE:
	case IMAP_SEARCH_SENTON:
	case IMAP_SEARCH_SENTSINCE:
		return IMAP_SEARCH_COST_HEADER;
	case IMAP_SEARCH_BODY:
	case IMAP_SEARCH_TEXT:
		return IMAP_SEARCH_COST_BODY;
	default:
		return IMAP_SEARCH_COST_INDEX;
	}
}

/* Folds a node's string into memory the ctx owns. */
static void
imap_search_fold_value(struct imap_search_node *n,
    struct imap_search_ctx *ctx)
{
	struct buf	b;

	/* Folding grows UTF-8 by at most 3 bytes per input byte (U+FFFD). */
	buf_init(&b, n->value.len + 1, SIZE_MAX - 1);
	if (mime_fold(&b, n->value.data, n->value.len) == -1)
		log_panic("imap_search: folding a key hit no-limit buffer");
	ctx->folded = xreallocarray(ctx->folded, ctx->nfolded + 1,
	    sizeof(*ctx->folded));
	n->value.len = b.len;
	n->value.data = ctx->folded[ctx->nfolded++] = buf_steal(&b);
	buf_deinit(&b);
}

/*
 * Prepares the subtree at n; returns its cost.  AND members are relinked
 * cheapest first (stable), OR's two swapped when the second is cheaper.
 */
static enum imap_search_cost
imap_search_prepare_node(struct imap_search_node *n,
    struct imap_search_ctx *ctx)
{
	struct imap_search_node	*head[IMAP_SEARCH_COST_N];
	struct imap_search_node	**tail[IMAP_SEARCH_COST_N];
	struct imap_search_node	*c, *next, *a, *b, **link;
	enum imap_search_cost	 cost, max = IMAP_SEARCH_COST_INDEX, ca, cb;
	unsigned int		 i;

	/* Recursion: imap_parse_search() bounds the nesting. */
	switch (n->key) {
	case IMAP_SEARCH_AND:
		for (i = 0; i < IMAP_SEARCH_COST_N; i++) {
			head[i] = NULL;
			tail[i] = &head[i];
		}
		for (c = n->child; c != NULL; c = next) {
			next = c->next;
			cost = imap_search_prepare_node(c, ctx);
			if (cost > max)
				max = cost;
			c->next = NULL;
			*tail[cost] = c;
			tail[cost] = &c->next;
		}
		link = &n->child;
		for (i = 0; i < IMAP_SEARCH_COST_N; i++) {
			if (head[i] == NULL)
				continue;
			*link = head[i];
			link = tail[i];
		}
		*link = NULL;
		return max;
	case IMAP_SEARCH_OR:
		a = n->child;
		if (a == NULL || (b = a->next) == NULL)
			return max;
		ca = imap_search_prepare_node(a, ctx);
		cb = imap_search_prepare_node(b, ctx);
		if (cb < ca) {
			/* b's next is the end of OR's pair (NULL). */
			a->next = b->next;
			b->next = a;
			n->child = b;
		}
		return ca > cb ? ca : cb;
	case IMAP_SEARCH_NOT:
		if (n->child == NULL)
			return max;
		return imap_search_prepare_node(n->child, ctx);
	case IMAP_SEARCH_SEQSET:
		(void)imap_parse_seqset_normalize(&n->set, ctx->count);
		return IMAP_SEARCH_COST_INDEX;
	case IMAP_SEARCH_UID:
		(void)imap_parse_seqset_normalize(&n->set, ctx->max_uid);
		return IMAP_SEARCH_COST_INDEX;
	default:
		break;
	}
	if (imap_search_is_string(n->key))
		imap_search_fold_value(n, ctx);
	return imap_search_key_cost(n->key);
}

void
imap_search_prepare(struct imap_search *s, struct imap_search_ctx *ctx)
{
	if (s->root != NULL)
		(void)imap_search_prepare_node(s->root, ctx);
}

/* ---- index keys --------------------------------------------------------- */

/* Days since 1970-01-01 of a time, floored (times before 1970 too). */
static int64_t
imap_search_day(time_t t)
{
	int64_t	v = (int64_t)t;

	return v >= 0 ? v / IMAP_SEARCH_DAY :
	    -((-v + IMAP_SEARCH_DAY - 1) / IMAP_SEARCH_DAY);
}

/* The internal date's day in the message's zone. */
static int64_t
imap_search_internal_day(const struct imap_msg *m)
{
	return imap_search_day(m->date + (time_t)m->zone * 60);
}

/* Days since 1970-01-01 of a civil date (proleptic Gregorian). */
static int64_t
imap_search_civil_day(int64_t y, unsigned int mon, unsigned int d)
{
	int64_t		era, yoe, doy, doe;

	if (mon <= 2)
		y--;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (mon > 2 ? mon - 3 : mon + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static bool
imap_search_date_cmp(enum imap_search_key key, int64_t day, int64_t want)
{
	switch (key) {
	case IMAP_SEARCH_BEFORE:
	case IMAP_SEARCH_SENTBEFORE:
		return day < want;
	case IMAP_SEARCH_ON:
	case IMAP_SEARCH_SENTON:
		return day == want;
	default:
		return day >= want;
	}
}

static bool
imap_search_keyword(const struct imap_msg *m, const struct imap_str *kw)
{
	unsigned int	i;

	for (i = 0; i < m->nkeywords; i++) {
		if (strlen(m->keywords[i]) == kw->len &&
		    strncasecmp(m->keywords[i], kw->data, kw->len) == 0)
			return true;
	}
	return false;
}

static bool
imap_search_in_set(const struct imap_search_node *n,
    const struct imap_search_ctx *ctx, uint32_t num, uint32_t uid)
{
	if (n->set.dollar)
		return ctx->saved != NULL &&
		    imap_parse_seqset_contains(ctx->saved, uid);
	return imap_parse_seqset_contains(&n->set, num);
}

/* ---- header keys -------------------------------------------------------- */

static void
imap_search_scratch(struct imap_search_run *r)
{
	size_t	max;

	if (r->scratch) {
		buf_reset(&r->a);
		buf_reset(&r->b);
		return;
	}
	/* A header field's decoded, folded value: bounded by the message. */
	max = r->m->src != NULL ? r->m->src->max_message : 0;
	max = max > SIZE_MAX / 8 ? SIZE_MAX / 2 : max * 4 + 64;
	buf_init(&r->a, 0, max);
	buf_init(&r->b, 0, max);
	r->scratch = true;
}

static int
imap_search_content(struct imap_search_run *r, const char **data_r,
    size_t *len_r)
{
	int	ret;

	ret = imap_msg_content(r->m, data_r, len_r, &r->error);
	return ret == 0 ? IMAP_SEARCH_GONE : ret;
}

/* Field name of a header key. */
static const char *
imap_search_field(const struct imap_search_node *n, size_t *len_r)
{
	static const struct {
		enum imap_search_key	 key;
		const char		*name;
	} names[] = {
		{ IMAP_SEARCH_BCC, "Bcc" },
		{ IMAP_SEARCH_CC, "Cc" },
		{ IMAP_SEARCH_FROM, "From" },
		{ IMAP_SEARCH_SUBJECT, "Subject" },
		{ IMAP_SEARCH_TO, "To" },
	};
	unsigned int	i;

	if (n->key == IMAP_SEARCH_HEADER) {
		*len_r = n->field.len;
		return n->field.data;
	}
	for (i = 0; i < N_ELEMENTS(names); i++) {
		if (names[i].key == n->key)
			break;
	}
	*len_r = strlen(names[i].name);
	return names[i].name;
}

static int
imap_search_header(struct imap_search_run *r,
    const struct imap_search_node *n)
{
	struct mime_header_iter	 it;
	struct mime_field	 f;
	const char		*data, *name;
	size_t			 len, name_len;
	int			 ret;

	if ((ret = imap_search_content(r, &data, &len)) != 1)
		return ret;
	name = imap_search_field(n, &name_len);
	/* The iterator stops at the header's empty line. */
	mime_header_iter_init(&it, data, len);
	while (mime_header_iter_next(&it, &f)) {
		if (f.name_len != name_len ||
		    strncasecmp(f.name, name, name_len) != 0)
			continue;
		if (n->value.len == 0)
			return 1;
		imap_search_scratch(r);
		if (mime_decode_header(&r->a, f.value, f.value_len) == -1 ||
		    mime_fold(&r->b, r->a.data, r->a.len) == -1) {
			/* Cut by the scratch maximum: what fitted counts. */
		}
		if (memmem(r->b.data, r->b.len, n->value.data,
		    n->value.len) != NULL)
			return 1;
	}
	return 0;
}

static const char *const imap_search_months[12] = {
	"jan", "feb", "mar", "apr", "may", "jun",
	"jul", "aug", "sep", "oct", "nov", "dec",
};

static const char *
imap_search_skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' ||
	    *p == '\n'))
		p++;
	return p;
}

/*
 * The day of an RFC 5322 date-time as written ([day-name ","] day month
 * year ...), the obsolete 2- and 3-digit years included (RFC 5322
 * 4.3).  Returns false when it cannot be read.
 */
static bool
imap_search_rfc5322_day(const char *p, size_t len, int64_t *day_r)
{
	const char	*end = p + len;
	unsigned int	 d = 0, mon, nd = 0, ny = 0, i;
	int64_t		 y = 0;

	p = imap_search_skip_ws(p, end);
	if (p < end && ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))) {
		while (p < end && ((*p >= 'a' && *p <= 'z') ||
		    (*p >= 'A' && *p <= 'Z')))
			p++;
		p = imap_search_skip_ws(p, end);
		if (p == end || *p != ',')
			return false;
		p++;
		p = imap_search_skip_ws(p, end);
	}
	for (; p < end && *p >= '0' && *p <= '9' && nd < 3; p++, nd++)
		d = d * 10 + (unsigned int)(*p - '0');
	if (nd == 0 || nd > 2 || d == 0 || d > 31)
		return false;
	p = imap_search_skip_ws(p, end);
	if (end - p < 3)
		return false;
	for (mon = 0; mon < 12; mon++) {
		for (i = 0; i < 3; i++) {
			if ((p[i] | 0x20) != imap_search_months[mon][i])
				break;
		}
		if (i == 3)
			break;
	}
	if (mon == 12)
		return false;
	p += 3;
	p = imap_search_skip_ws(p, end);
	for (; p < end && *p >= '0' && *p <= '9' && ny < 5; p++, ny++)
		y = y * 10 + (*p - '0');
	if (ny < 2 || ny > 4)
		return false;
	if (ny == 2)
		y += y < 50 ? 2000 : 1900;
	else if (ny == 3)
		y += 1900;
	*day_r = imap_search_civil_day(y, mon + 1, d);
	return true;
}

static int
imap_search_sent(struct imap_search_run *r, const struct imap_search_node *n)
{
	struct mime_field	 f;
	const char		*data;
	size_t			 len;
	int64_t			 day;
	int			 ret;

	if ((ret = imap_search_content(r, &data, &len)) != 1)
		return ret;
	if (mime_header_find(data, len, "Date", &f) != 1 ||
	    !imap_search_rfc5322_day(f.value, f.value_len, &day))
		day = imap_search_internal_day(r->m);
	return imap_search_date_cmp(n->key, day,
	    imap_search_day(n->date)) ? 1 : 0;
}

/* ---- body keys ---------------------------------------------------------- */

/* ASCII lower case; every other byte itself. */
static const unsigned char imap_search_lower[256] = {
#define L4(n)	(n), (n) + 1, (n) + 2, (n) + 3
#define L16(n)	L4(n), L4((n) + 4), L4((n) + 8), L4((n) + 12)
	L16(0x00), L16(0x10), L16(0x20), L16(0x30),
	0x40, L4(0x61), L4(0x65), L4(0x69), L4(0x6d), L4(0x71), L4(0x75),
	0x79, 0x7a, 0x5b, 0x5c, 0x5d, 0x5e, 0x5f,
	L16(0x60), L16(0x70), L16(0x80), L16(0x90), L16(0xa0), L16(0xb0),
	L16(0xc0), L16(0xd0), L16(0xe0), L16(0xf0),
#undef L16
#undef L4
};

/*
 * Bytes after which the folded text may hold ASCII that the stored bytes
 * do not: NUL (folded to a space) and 0xc5, the lead byte of U+017F,
 * which mime_fold() folds to "s" (test_imap_search checks that nothing
 * else folds into ASCII).  utf8 false: ISO-8859-1 / Windows-1252 text,
 * where only NUL does.
 */
static inline bool
imap_search_suspect(unsigned char c, bool utf8)
{
	return c == 0 || (utf8 && c == 0xc5);
}

/*
 * Whether the ASCII key k[0..klen) (already lower case, klen > 0)
 * occurs in t[0..len) ignoring ASCII case: YES, NO, or SLOW when it does
 * not but t holds bytes that fold into ASCII.
 */
static enum imap_search_fast
imap_search_raw(const unsigned char *t, size_t len, const unsigned char *k,
    size_t klen, bool utf8)
{
	const unsigned char	*p, *end = t + len, *last;
	unsigned char		 k0 = k[0], k0u, c;
	bool			 suspect = false;
	size_t			 i;

	k0u = k0 >= 'a' && k0 <= 'z' ? (unsigned char)(k0 - 0x20) : k0;
	last = len >= klen ? end - klen : NULL;
	for (p = t; p < end; p++) {
		c = *p;
		if (c != k0 && c != k0u) {
			if (imap_search_suspect(c, utf8))
				suspect = true;
			continue;
		}
		if (last == NULL || p > last)
			continue;
		for (i = 1; i < klen; i++) {
			if (imap_search_lower[p[i]] != k[i])
				break;
		}
		if (i == klen)
			return IMAP_SEARCH_FAST_YES;
	}
	return suspect ? IMAP_SEARCH_FAST_SLOW : IMAP_SEARCH_FAST_NO;
}

static bool
imap_search_charset_plain(const struct mime_part *p, bool *utf8_r)
{
	static const char *const utf8[] = {
		"us-ascii", "utf-8", "utf8", "ascii",
	};
	static const char *const latin1[] = {
		"iso-8859-1", "iso8859-1", "latin1", "windows-1252",
		"cp1252",
	};
	const char	*cs = mime_part_charset(p);
	unsigned int	 i;

	for (i = 0; i < N_ELEMENTS(utf8); i++) {
		if (strcasecmp(cs, utf8[i]) == 0) {
			*utf8_r = true;
			return true;
		}
	}
	for (i = 0; i < N_ELEMENTS(latin1); i++) {
		if (strcasecmp(cs, latin1[i]) == 0) {
			*utf8_r = false;
			return true;
		}
	}
	return false;
}

/* The fast path over the parts under p. */
static enum imap_search_fast
imap_search_body_fast(const struct mime_part *p, const char *msg,
    const struct imap_str *key)
{
	enum imap_search_fast	 ret = IMAP_SEARCH_FAST_NO, v;
	unsigned int		 i;
	bool			 utf8;

	if ((p->flags & MIME_PART_MULTIPART) != 0) {
		for (i = 0; i < p->nchildren; i++) {
			v = imap_search_body_fast(p->children[i], msg, key);
			if (v == IMAP_SEARCH_FAST_YES)
				return v;
			if (v == IMAP_SEARCH_FAST_SLOW)
				ret = v;
		}
		return ret;
	}
	if ((p->flags & MIME_PART_MESSAGE) != 0)
		/* An attached message's header is body text: decode it. */
		return p->message != NULL ? IMAP_SEARCH_FAST_SLOW : ret;
	if ((p->flags & MIME_PART_TEXT) == 0 || p->body_len == 0)
		return ret;
	if ((p->cte != MIME_CTE_7BIT && p->cte != MIME_CTE_8BIT &&
	    p->cte != MIME_CTE_BINARY) || !imap_search_charset_plain(p, &utf8))
		return IMAP_SEARCH_FAST_SLOW;
	return imap_search_raw((const unsigned char *)msg + p->body_off,
	    p->body_len, (const unsigned char *)key->data, key->len, utf8);
}

static bool
imap_search_ascii(const struct imap_str *s)
{
	size_t	i;

	for (i = 0; i < s->len; i++) {
		if ((unsigned char)s->data[i] >= 0x80)
			return false;
	}
	return true;
}

/* m->text (body) or m->hdr_text, built once per message. */
static struct buf *
imap_search_text(struct imap_search_run *r, const struct mime_part *root,
    bool header)
{
	struct buf	**bp = header ? &r->m->hdr_text : &r->m->text;
	size_t		  max;

	if (*bp == NULL) {
		max = r->m->src->max_message;
		max = max > SIZE_MAX / (IMAP_SEARCH_TEXT_FACTOR * 2) ?
		    SIZE_MAX / 2 : max * IMAP_SEARCH_TEXT_FACTOR;
		*bp = buf_new(0, max);
		if (mime_search_text(*bp, root, header ?
		    MIME_SEARCH_HEADER : MIME_SEARCH_BODY) == -1) {
			/* Cut at the maximum: what fitted is searched. */
		}
	}
	return *bp;
}

static int
imap_search_body(struct imap_search_run *r, const struct imap_search_node *n)
{
	const struct mime_part	*root;
	struct buf		*t;
	int			 ret;

	if ((ret = imap_msg_parse(r->m, &root, &r->error)) != 1)
		return ret == 0 ? IMAP_SEARCH_GONE : ret;
	if (n->value.len == 0)
		return 1;
	if (n->key == IMAP_SEARCH_TEXT) {
		t = imap_search_text(r, root, true);
		if (memmem(t->data, t->len, n->value.data,
		    n->value.len) != NULL)
			return 1;
	}
	if (r->m->text == NULL && imap_search_ascii(&n->value)) {
		switch (imap_search_body_fast(root, root->msg, &n->value)) {
		case IMAP_SEARCH_FAST_YES:
			return 1;
		case IMAP_SEARCH_FAST_NO:
			return 0;
		case IMAP_SEARCH_FAST_SLOW:
			break;
		}
	}
	t = imap_search_text(r, root, false);
	return memmem(t->data, t->len, n->value.data, n->value.len) != NULL;
}

/* ---- evaluation --------------------------------------------------------- */

/* 1, 0, -1 error, IMAP_SEARCH_GONE. */
static int
imap_search_eval(struct imap_search_run *r, const struct imap_search_node *n)
{
	const struct imap_msg	*m = r->m;
	const struct imap_search_node *c;
	unsigned int		 f = m->flags;
	int			 v;

	switch (n->key) {
	case IMAP_SEARCH_AND:
		for (c = n->child; c != NULL; c = c->next) {
			if ((v = imap_search_eval(r, c)) != 1)
				return v;
		}
		return 1;
	case IMAP_SEARCH_OR:
		if (n->child == NULL)
			return 0;
		if ((v = imap_search_eval(r, n->child)) != 0)
			return v;
		return n->child->next != NULL ?
		    imap_search_eval(r, n->child->next) : 0;
	case IMAP_SEARCH_NOT:
		if (n->child == NULL)
			return 1;
		if ((v = imap_search_eval(r, n->child)) < 0)
			return v;
		return !v;
	case IMAP_SEARCH_ALL:
		return 1;
	case IMAP_SEARCH_SEQSET:
		return imap_search_in_set(n, r->ctx, m->seq, m->uid);
	case IMAP_SEARCH_UID:
		return imap_search_in_set(n, r->ctx, m->uid, m->uid);
	case IMAP_SEARCH_ANSWERED:
		return (f & IMAP_FLAG_ANSWERED) != 0;
	case IMAP_SEARCH_DELETED:
		return (f & IMAP_FLAG_DELETED) != 0;
	case IMAP_SEARCH_DRAFT:
		return (f & IMAP_FLAG_DRAFT) != 0;
	case IMAP_SEARCH_FLAGGED:
		return (f & IMAP_FLAG_FLAGGED) != 0;
	case IMAP_SEARCH_SEEN:
		return (f & IMAP_FLAG_SEEN) != 0;
	case IMAP_SEARCH_RECENT:
		return (f & IMAP_FLAG_RECENT) != 0;
	case IMAP_SEARCH_NEW:
		return (f & (IMAP_FLAG_RECENT | IMAP_FLAG_SEEN)) ==
		    IMAP_FLAG_RECENT;
	case IMAP_SEARCH_OLD:
		return (f & IMAP_FLAG_RECENT) == 0;
	case IMAP_SEARCH_UNANSWERED:
		return (f & IMAP_FLAG_ANSWERED) == 0;
	case IMAP_SEARCH_UNDELETED:
		return (f & IMAP_FLAG_DELETED) == 0;
	case IMAP_SEARCH_UNDRAFT:
		return (f & IMAP_FLAG_DRAFT) == 0;
	case IMAP_SEARCH_UNFLAGGED:
		return (f & IMAP_FLAG_FLAGGED) == 0;
	case IMAP_SEARCH_UNSEEN:
		return (f & IMAP_FLAG_SEEN) == 0;
	case IMAP_SEARCH_KEYWORD:
		return imap_search_keyword(m, &n->value);
	case IMAP_SEARCH_UNKEYWORD:
		return !imap_search_keyword(m, &n->value);
	case IMAP_SEARCH_BCC:
	case IMAP_SEARCH_CC:
	case IMAP_SEARCH_FROM:
	case IMAP_SEARCH_SUBJECT:
	case IMAP_SEARCH_TO:
	case IMAP_SEARCH_HEADER:
		return imap_search_header(r, n);
	case IMAP_SEARCH_BODY:
	case IMAP_SEARCH_TEXT:
		return imap_search_body(r, n);
	case IMAP_SEARCH_BEFORE:
	case IMAP_SEARCH_ON:
	case IMAP_SEARCH_SINCE:
		return imap_search_date_cmp(n->key,
		    imap_search_internal_day(m), imap_search_day(n->date));
	case IMAP_SEARCH_SENTBEFORE:
	case IMAP_SEARCH_SENTON:
	case IMAP_SEARCH_SENTSINCE:
		return imap_search_sent(r, n);
	case IMAP_SEARCH_LARGER:
		return m->size > n->size;
	case IMAP_SEARCH_SMALLER:
		return m->size < n->size;
	}
	r->error = "unknown SEARCH key";
	return -1;
}

int
imap_search_match(const struct imap_search *s, struct imap_msg *m,
    const struct imap_search_ctx *ctx, const char **error_r)
{
	struct imap_search_run	r;
	int			v;

	if (s->root == NULL)
		return 1;
	r.m = m;
	r.ctx = ctx;
	r.scratch = false;
	r.error = NULL;
	v = imap_search_eval(&r, s->root);
	if (r.scratch) {
		buf_deinit(&r.a);
		buf_deinit(&r.b);
	}
	if (v == IMAP_SEARCH_GONE)
		return 0;
	if (v == -1)
		*error_r = r.error != NULL ? r.error : "SEARCH failed";
	return v;
}

/* ---- replies ------------------------------------------------------------ */

static int
imap_search_num(struct buf *out, const char *sp, uint32_t n)
{
	if (sp != NULL && buf_append_str(out, sp) == -1)
		return -1;
	return imap_str_number(out, n);
}

/* The numbers as a sequence set, runs compressed: "1:3,5". */
static int
imap_search_set(struct buf *out, const uint32_t *nums, size_t n)
{
	size_t	i = 0, j;

	while (i < n) {
		for (j = i; j + 1 < n && nums[j + 1] == nums[j] + 1; j++)
			;
		if ((i > 0 && buf_append_byte(out, ',') == -1) ||
		    imap_str_number(out, nums[i]) == -1)
			return -1;
		if (j > i && (buf_append_byte(out, ':') == -1 ||
		    imap_str_number(out, nums[j]) == -1))
			return -1;
		i = j + 1;
	}
	return 0;
}

static int
imap_search_reply_write(struct buf *out, const char *tag, bool esearch,
    unsigned int ret, bool uid, const uint32_t *nums, size_t n)
{
	size_t	i;

	if (!esearch) {
		if (buf_append(out, "* SEARCH", 8) == -1)
			return -1;
		for (i = 0; i < n; i++) {
			if (imap_search_num(out, " ", nums[i]) == -1)
				return -1;
		}
		return buf_append(out, "\r\n", 2);
	}
	if (buf_append(out, "* ESEARCH (TAG ", 15) == -1 ||
	    imap_str_quoted_or_literal(out, tag, strlen(tag), 0) == -1 ||
	    buf_append_byte(out, ')') == -1)
		return -1;
	if (uid && buf_append(out, " UID", 4) == -1)
		return -1;
	if ((ret & IMAP_SEARCH_RET_MIN) != 0 && n > 0 &&
	    imap_search_num(out, " MIN ", nums[0]) == -1)
		return -1;
	if ((ret & IMAP_SEARCH_RET_MAX) != 0 && n > 0 &&
	    imap_search_num(out, " MAX ", nums[n - 1]) == -1)
		return -1;
	if ((ret & IMAP_SEARCH_RET_COUNT) != 0 &&
	    (buf_append(out, " COUNT ", 7) == -1 ||
	    imap_str_number(out, n) == -1))
		return -1;
	if ((ret & IMAP_SEARCH_RET_ALL) != 0 && n > 0 &&
	    (buf_append(out, " ALL ", 5) == -1 ||
	    imap_search_set(out, nums, n) == -1))
		return -1;
	return buf_append(out, "\r\n", 2);
}

int
imap_search_reply(struct buf *out, const char *tag, bool esearch,
    unsigned int ret, bool uid, const uint32_t *nums, size_t n)
{
	size_t	start = out->len;

	if (esearch) {
		if (ret == 0)
			ret = IMAP_SEARCH_RET_ALL;
		if (ret == IMAP_SEARCH_RET_SAVE)
			return 0;
	}
	if (imap_search_reply_write(out, tag, esearch, ret, uid, nums,
	    n) == -1) {
		buf_truncate(out, start);
		return -1;
	}
	return 0;
}
