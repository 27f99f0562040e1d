/* SPDX-License-Identifier: ISC */
/*
 * The MIME parser (RFC 2045, 2046, 2231) of the MIME module (mime.h),
 * with what works on its tree and on header sections: section lookup
 * (RFC 3501 / RFC 9051 6.4.5) and header field iteration and selection.
 * The IMAP values built on the tree are in mime_imap.c, the decoders in
 * mime_decode.c; the helpers the three share in mime_int.h.
 *
 * The parser makes one pass over the message held in memory.  It walks
 * line by line through header sections and, in bodies, jumps with
 * memmem() from one line starting with "--" to the next, checking it
 * against the boundaries of the open multiparts (a stack, innermost
 * last).  A part records offsets only; the strings it holds (types,
 * parameters, the few MIME fields) live in one arena per tree, so a parse
 * costs a handful of allocations and mime_free() is a walk over a list of
 * chunks.  Where the RFCs leave the handling of broken mail open, this
 * does what Dovecot does, so that clients see the same structure from us
 * as from the server they came from; the places where it does not (an
 * invalid Content-Type is text/plain, a header cut by a boundary keeps
 * its last line end) are said in mime.h and below.
 *
 * Everything is trusted to nothing: the message, and the names and keys
 * the caller passes from a client, are bytes with lengths.  The only
 * inputs trusted are the limits and the buffers the caller owns.
 */
#include "config.h"

#include <stdalign.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "mime.h"
#include "mime_int.h"
#include "str.h"
#include "xmalloc.h"

#include "banned.h"

/* ---- the arena of a tree ----------------------------------------------- */

#define MIME_POOL_FIRST		2048
#define MIME_POOL_MAX_GROW	(64 * 1024)
#define MIME_POOL_ALIGN		(alignof(max_align_t))

struct mime_pool_chunk {
	struct mime_pool_chunk	*next;
	size_t			 size;
	size_t			 used;
	alignas(max_align_t) char data[];
};

struct mime_pool {
	struct mime_pool_chunk	*chunks;
	size_t			 next_size;
};

static struct mime_pool *
mime_pool_new(void)
{
	struct mime_pool *pool;

	pool = xcalloc(1, sizeof(*pool));
	pool->next_size = MIME_POOL_FIRST;
	return pool;
}

static void
mime_pool_free(struct mime_pool **poolp)
{
	struct mime_pool	*pool = *poolp;
	struct mime_pool_chunk	*c, *next;

	if (pool == NULL)
		return;
	for (c = pool->chunks; c != NULL; c = next) {
		next = c->next;
		free(c);
	}
	free(pool);
	*poolp = NULL;
}

/*
 * size bytes, aligned for any type.  Every size asked for here is bounded
 * by the message length or by counts checked against the limits, so the
 * rounding cannot wrap.
 */
static void *
mime_pool_alloc(struct mime_pool *pool, size_t size)
{
	struct mime_pool_chunk	*c = pool->chunks;
	void			*p;
	size_t			 n;

	/* UNSAFE: size < SIZE_MAX / 2 (see above) */
	size = (size + MIME_POOL_ALIGN - 1) & ~(MIME_POOL_ALIGN - 1);
	if (c == NULL || c->size - c->used < size) {
		n = pool->next_size > size ? pool->next_size : size;
		c = xmalloc(sizeof(*c) + n);
		c->size = n;
		c->used = 0;
		c->next = pool->chunks;
		pool->chunks = c;
		if (pool->next_size < MIME_POOL_MAX_GROW)
			pool->next_size *= 2;
	}
	p = c->data + c->used;
	c->used += size;
	return p;
}

static void *
mime_pool_zalloc(struct mime_pool *pool, size_t size)
{
	void	*p = mime_pool_alloc(pool, size);

	memset(p, 0, size);
	return p;
}

/* A NUL-terminated copy of data[0..len) as a mime_str. */
static struct mime_str
mime_pool_str(struct mime_pool *pool, const char *data, size_t len)
{
	struct mime_str	 s;
	char		*p;

	p = mime_pool_alloc(pool, len + 1);
	if (len > 0)
		memcpy(p, data, len);
	p[len] = '\0';
	s.data = p;
	s.len = len;
	return s;
}

/* ---- small byte helpers ------------------------------------------------ */

/* a[0..alen) equals the NUL-terminated b, ASCII case-insensitively. */
bool
mime_eq_icase(const char *a, size_t alen, const char *b)
{
	size_t	i;

	for (i = 0; i < alen; i++) {
		if (b[i] == '\0' || mime_lc((unsigned char)a[i]) !=
		    mime_lc((unsigned char)b[i]))
			return false;
	}
	return b[alen] == '\0';
}

bool
mime_eq_icase_n(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t	i;

	if (alen != blen)
		return false;
	for (i = 0; i < alen; i++) {
		if (mime_lc((unsigned char)a[i]) !=
		    mime_lc((unsigned char)b[i]))
			return false;
	}
	return true;
}

/* The start of the line after the one at p (after its LF), or end. */
static inline const char *
mime_line_next(const char *p, const char *end)
{
	const char	*lf = memchr(p, '\n', (size_t)(end - p));

	return lf == NULL ? end : lf + 1;
}

/* p[0..n) is a line holding only its line end. */
static inline bool
mime_line_is_empty(const char *p, size_t n)
{
	return (n == 1 && p[0] == '\n') ||
	    (n == 2 && p[0] == '\r' && p[1] == '\n');
}

/* ---- header fields ----------------------------------------------------- */

/*
 * RFC 5322 3.6.8: a field name has no white space or control character,
 * so an mbox "From " line with a time in it is not a field.
 */
static bool
mime_is_field_name(const char *p, size_t len)
{
	size_t	i;

	for (i = 0; i < len; i++) {
		if ((unsigned char)p[i] <= ' ' || p[i] == 0x7f)
			return false;
	}
	return true;
}

void
mime_header_iter_init(struct mime_header_iter *it, const char *hdr,
    size_t len)
{
	it->p = hdr;
	it->end = hdr + len;
}

bool
mime_header_iter_next(struct mime_header_iter *it, struct mime_field *f)
{
	const char	*start, *next, *fend, *colon, *name_end, *v, *vend;

	while (it->p < it->end) {
		start = it->p;
		next = mime_line_next(start, it->end);
		if (mime_line_is_empty(start, (size_t)(next - start))) {
			it->p = it->end;
			return false;
		}
		/* The field goes on over lines that start with white space. */
		for (fend = next; fend < it->end && mime_is_wsp(*fend);)
			fend = mime_line_next(fend, it->end);
		it->p = fend;
		if (mime_is_wsp(*start))
			continue;	/* continuation with no field */
		colon = memchr(start, ':', (size_t)(next - start));
		if (colon == NULL)
			continue;
		/* RFC 5322 4.5.4 (obs): white space before the colon. */
		for (name_end = colon; name_end > start &&
		    mime_is_wsp(name_end[-1]); name_end--)
			;
		if (name_end == start || !mime_is_field_name(start,
		    (size_t)(name_end - start)))
			continue;
		for (v = colon + 1; v < fend && (mime_is_wsp(*v) ||
		    *v == '\r' || *v == '\n'); v++)
			;
		vend = fend;
		if (vend > v && vend[-1] == '\n')
			vend--;
		if (vend > v && vend[-1] == '\r')
			vend--;
		f->name = start;
		f->name_len = (size_t)(name_end - start);
		f->value = v;
		f->value_len = (size_t)(vend - v);
		f->raw = start;
		f->raw_len = (size_t)(fend - start);
		return true;
	}
	return false;
}

int
mime_header_find(const char *hdr, size_t len, const char *name,
    struct mime_field *field_r)
{
	struct mime_header_iter	it;

	mime_header_iter_init(&it, hdr, len);
	while (mime_header_iter_next(&it, field_r)) {
		if (mime_eq_icase(field_r->name, field_r->name_len, name))
			return 1;
	}
	return 0;
}

/* The bounds of value[0..len) without white space and line ends around. */
void
mime_trim(const char **value, size_t *len)
{
	const char	*p = *value, *end = *value + *len;

	while (p < end && (mime_is_wsp(*p) || *p == '\r' || *p == '\n'))
		p++;
	while (end > p && (mime_is_wsp(end[-1]) || end[-1] == '\r' ||
	    end[-1] == '\n'))
		end--;
	*value = p;
	*len = (size_t)(end - p);
}

int
mime_header_unfold(struct buf *out, const char *value, size_t len)
{
	const char	*p;
	size_t		 i, start;

	mime_trim(&value, &len);
	p = value;
	for (i = start = 0; i < len; i++) {
		if (p[i] != '\r' && p[i] != '\n')
			continue;
		if (i > start && buf_append(out, p + start, i - start) == -1)
			return -1;
		start = i + 1;
	}
	return buf_append(out, p + start, len - start);
}

int
mime_header_fields(struct buf *out, const char *hdr, size_t len,
    const char *const *names, size_t n, bool not)
{
	struct mime_header_iter	it;
	struct mime_field	f;
	size_t			i, old = out->len;
	bool			match;

	mime_header_iter_init(&it, hdr, len);
	while (mime_header_iter_next(&it, &f)) {
		match = false;
		for (i = 0; i < n && !match; i++)
			match = mime_eq_icase(f.name, f.name_len, names[i]);
		if (match == not)
			continue;
		if (buf_append(out, f.raw, f.raw_len) == -1 ||
		    (f.raw[f.raw_len - 1] != '\n' &&
		    buf_append(out, "\r\n", 2) == -1))
			goto full;
	}
	if (buf_append(out, "\r\n", 2) == -1)
		goto full;
	return 0;
full:
	buf_truncate(out, old);
	return -1;
}

/* ---- structured fields: tokens, quoted strings, comments ---------------- */

/* p is at "(": skips the comment (nested, with quoted pairs). */
const char *
mime_skip_comment(const char *p, const char *end)
{
	size_t	depth = 0;
	char	c;

	while (p < end) {
		c = *p++;
		if (c == '\\') {
			if (p < end)
				p++;
		} else if (c == '(')
			depth++;
		else if (c == ')' && --depth == 0)
			break;
	}
	return p;
}

/* Skips white space, line ends and comments (RFC 5322 CFWS). */
static const char *
mime_skip_cfws(const char *p, const char *end)
{
	while (p < end) {
		if (mime_is_wsp(*p) || *p == '\r' || *p == '\n')
			p++;
		else if (*p == '(')
			p = mime_skip_comment(p, end);
		else
			break;
	}
	return p;
}

static const char *
mime_skip_token(const char *p, const char *end)
{
	while (p < end && mime_is_token_char((unsigned char)*p))
		p++;
	return p;
}

/*
 * p is at '"': appends the quoted string's content (quoted pairs undone,
 * folding line ends dropped) to tmp and returns what follows it.  An
 * unterminated one runs to end.  Returns NULL when tmp is full.
 */
static const char *
mime_quoted(const char *p, const char *end, struct buf *tmp)
{
	const char	*run;

	p++;
	while (p < end && *p != '"') {
		for (run = p; p < end && *p != '"' && *p != '\\' &&
		    *p != '\r' && *p != '\n'; p++)
			;
		if (p > run && buf_append(tmp, run, (size_t)(p - run)) == -1)
			return NULL;
		if (p >= end || *p == '"')
			break;
		if (*p == '\\' && p + 1 < end) {
			if (buf_append_byte(tmp, (uint8_t)p[1]) == -1)
				return NULL;
			p += 2;
		} else
			p++;		/* CR, LF, or a final backslash */
	}
	return p < end ? p + 1 : p;
}

/*
 * Skips the rest of a parameter up to its ';'.  Quotes are not paired
 * here: in `x=a"b; y="c"` the stray quote must not swallow y (Dovecot
 * keeps y too).
 */
static const char *
mime_skip_param_rest(const char *p, const char *end)
{
	while ((p = mime_skip_cfws(p, end)) < end && *p != ';')
		p++;
	return p;
}

/* ---- the parser's state ------------------------------------------------- */

/* A parameter as read, before RFC 2231 joins it with its sections. */
struct mime_rparam {
	const char	*name;		/* into the message */
	size_t		 name_len;
	size_t		 base_len;	/* RFC 2231: name before '*' */
	struct mime_str	 value;		/* in the pool, unquoted */
	long		 section;	/* RFC 2231: -1 for "name*" */
	bool		 ext;		/* RFC 2231: charset'lang'%XX */
	bool		 is2231;
	bool		 used;
};

/* An open multipart whose boundary lines are looked for. */
struct mime_bound {
	const char		*str;
	size_t			 len;
	struct mime_part	*part;
	bool			 closed;	/* close delimiter seen */
};

struct mime_parser {
	const char		*msg;
	size_t			 len;
	struct mime_limits	 lim;
	struct mime_pool	*pool;
	struct buf		 tmp;		/* scratch: one value */
	struct buf		 tmp2;
	struct mime_rparam	*rp;		/* params of one field */
	unsigned		 rp_size;
	unsigned		*pieces;	/* RFC 2231 sections of one */
	struct mime_bound	*bounds;	/* max_depth + 1 entries */
	unsigned		 nbounds;
	unsigned		 nopen;		/* entries not closed */
	struct mime_part	**parts;	/* every part, in order */
	unsigned		 nparts;
	unsigned		 parts_size;
	bool			 too_many;
	struct mime_part	*cur;		/* innermost open part */
	bool			 in_header;	/* cur in its header */
	size_t			 floor;		/* used up to here */
};

void
mime_limits_default(struct mime_limits *lim_r)
{
	lim_r->max_depth = MIME_DEFAULT_MAX_DEPTH;
	lim_r->max_parts = MIME_DEFAULT_MAX_PARTS;
	lim_r->max_header_size = MIME_DEFAULT_MAX_HEADER_SIZE;
	lim_r->max_params = MIME_DEFAULT_MAX_PARAMS;
}

/* ---- parameters (RFC 2045 5.1, RFC 2231) --------------------------------- */

/*
 * Reads "; name=value" pairs from p[0..end) into mp->rp; returns how
 * many (at most max_params).  A parameter without "=" or without a value
 * is dropped; so is what follows a value up to the next ';'.  Unquoted
 * values are read leniently (up to white space, ';', '"' or '('), since
 * mail in the wild has "boundary=----=_Part_1" and "name=a/b.pdf".
 */
static unsigned
mime_params_read(struct mime_parser *mp, const char *p, const char *end)
{
	struct mime_rparam	*rp;
	const char		*name, *v;
	size_t			 name_len;
	unsigned		 n = 0;

	for (;;) {
		if ((p = mime_skip_cfws(p, end)) >= end)
			break;
		if (*p == ';') {
			p++;
			continue;
		}
		name = p;
		p = mime_skip_token(p, end);
		name_len = (size_t)(p - name);
		if (name_len == 0) {
			p = mime_skip_param_rest(p + 1, end);
			continue;
		}
		p = mime_skip_cfws(p, end);
		if (p >= end || *p != '=') {
			p = mime_skip_param_rest(p, end);
			continue;
		}
		p = mime_skip_cfws(p + 1, end);
		buf_reset(&mp->tmp);
		if (p < end && *p == '"') {
			if ((p = mime_quoted(p, end, &mp->tmp)) == NULL)
				break;
		} else {
			for (v = p; p < end && !mime_is_wsp(*p) && *p != ';' &&
			    *p != '"' && *p != '(' && *p != '\r' && *p != '\n';
			    p++)
				;
			if (p == v) {
				p = mime_skip_param_rest(p, end);
				continue;
			}
			if (buf_append(&mp->tmp, v, (size_t)(p - v)) == -1)
				break;
		}
		p = mime_skip_param_rest(p, end);
		if (n >= mp->lim.max_params)
			continue;
		if (n >= mp->rp_size) {
			mp->rp_size = mp->rp_size == 0 ? 8 : mp->rp_size * 2;
			if (mp->rp_size > mp->lim.max_params)
				mp->rp_size = mp->lim.max_params;
			mp->rp = xreallocarray(mp->rp, mp->rp_size,
			    sizeof(*mp->rp));
			mp->pieces = xreallocarray(mp->pieces, mp->rp_size,
			    sizeof(*mp->pieces));
		}
		rp = &mp->rp[n++];
		memset(rp, 0, sizeof(*rp));
		rp->name = name;
		rp->name_len = name_len;
		rp->value = mime_pool_str(mp->pool, mp->tmp.data, mp->tmp.len);
	}
	return n;
}

/*
 * RFC 2231 3 and 4: "name*" (one encoded value), "name*N" and "name*N*"
 * (sections, the starred ones %XX encoded).  Anything else with a '*'
 * is an ordinary parameter whose name has a star in it.
 */
static void
mime_rparam_classify(struct mime_rparam *rp, unsigned max_params)
{
	const char	*star, *d, *end = rp->name + rp->name_len;
	uint64_t	 section;

	rp->is2231 = false;
	if ((star = memchr(rp->name, '*', rp->name_len)) == NULL ||
	    star == rp->name)
		return;
	rp->base_len = (size_t)(star - rp->name);
	if (star + 1 == end) {
		rp->section = -1;
		rp->ext = true;
		rp->is2231 = true;
		return;
	}
	for (d = star + 1; d < end && *d >= '0' && *d <= '9'; d++)
		;
	if (d == star + 1 || (d < end && (*d != '*' || d + 1 != end)))
		return;
	/* Sections past max_params cannot be joined up to anyway. */
	if (parse_u64_n(star + 1, (size_t)(d - star - 1), max_params,
	    &section) == -1)
		return;
	rp->section = (long)section;
	rp->ext = d < end;
	rp->is2231 = true;
}

/* RFC 2231 attribute-char: what goes unencoded in an extended value. */
static bool
mime_is_attr_char(unsigned char c)
{
	return mime_is_token_char(c) && c != '*' && c != '\'' && c != '%';
}

/* Appends s[0..len) with %XX decoded (a stray '%' kept). */
static int
mime_pct_decode(struct buf *out, const char *s, size_t len)
{
	const char	*pct;
	int		 hi, lo;

	while (len > 0) {
		if ((pct = memchr(s, '%', len)) == NULL)
			return buf_append(out, s, len);
		if (buf_append(out, s, (size_t)(pct - s)) == -1)
			return -1;
		len -= (size_t)(pct - s);
		s = pct;
		if (len >= 3 && (hi = mime_hexval(s[1])) >= 0 &&
		    (lo = mime_hexval(s[2])) >= 0) {
			if (buf_append_byte(out, (uint8_t)(hi << 4 | lo)) == -1)
				return -1;
			s += 3;
			len -= 3;
		} else {
			if (buf_append_byte(out, '%') == -1)
				return -1;
			s++;
			len--;
		}
	}
	return 0;
}

/* Appends s[0..len) %XX encoding what is not an attribute-char. */
static int
mime_pct_encode(struct buf *out, const char *s, size_t len)
{
	static const char	hex[] = "0123456789ABCDEF";
	size_t			i;
	unsigned char		c;

	for (i = 0; i < len; i++) {
		c = (unsigned char)s[i];
		if (mime_is_attr_char(c)) {
			if (buf_append_byte(out, c) == -1)
				return -1;
		} else if (buf_append_byte(out, '%') == -1 ||
		    buf_append_byte(out, (uint8_t)hex[c >> 4]) == -1 ||
		    buf_append_byte(out, (uint8_t)hex[c & 15]) == -1)
			return -1;
	}
	return 0;
}

/*
 * Joins the RFC 2231 group whose first member is mp->rp[first] into *pm.
 * Returns false when it has nothing to join (no section 0), so that the
 * group is dropped.
 */
static bool
mime_param_join(struct mime_parser *mp, unsigned n, unsigned first,
    struct mime_param *pm)
{
	struct mime_rparam	*rp = mp->rp, *r0;
	const char		*v, *q1 = NULL, *q2 = NULL, *charset = NULL;
	size_t			 vlen, charset_len = 0, i, k, npieces = 0;
	bool			 ext_any = false;
	long			 s;

	/* The members; a single "name*" wins over sections. */
	for (i = first; i < n; i++) {
		if (!rp[i].is2231 || rp[i].base_len != rp[first].base_len ||
		    !mime_eq_icase_n(rp[i].name, rp[i].base_len,
		    rp[first].name, rp[first].base_len))
			continue;
		rp[i].used = true;
		if (rp[i].section == -1 && npieces == 0)
			mp->pieces[npieces++] = (unsigned)i;
	}
	if (npieces == 0) {
		for (s = 0;; s++) {
			for (i = first; i < n; i++) {
				if (rp[i].used && rp[i].section == s &&
				    rp[i].base_len == rp[first].base_len &&
				    mime_eq_icase_n(rp[i].name, rp[i].base_len,
				    rp[first].name, rp[first].base_len))
					break;
			}
			if (i == n)
				break;
			mp->pieces[npieces++] = (unsigned)i;
		}
	}
	if (npieces == 0)
		return false;
	for (k = 0; k < npieces; k++)
		ext_any |= rp[mp->pieces[k]].ext;

	r0 = &rp[mp->pieces[0]];
	v = r0->value.data;
	vlen = r0->value.len;
	if (r0->ext && (q1 = memchr(v, '\'', vlen)) != NULL &&
	    (q2 = memchr(q1 + 1, '\'', vlen - (size_t)(q1 + 1 - v))) != NULL) {
		charset = v;
		charset_len = (size_t)(q1 - v);
		pm->lang = mime_pool_str(mp->pool, q1 + 1,
		    (size_t)(q2 - q1 - 1));
		if (pm->lang.len == 0)
			pm->lang.data = NULL;
		vlen -= (size_t)(q2 + 1 - v);
		v = q2 + 1;
	}

	/* value: the bytes, %XX decoded, then converted to UTF-8. */
	buf_reset(&mp->tmp);
	for (k = 0; k < npieces; k++) {
		const struct mime_rparam *r = &rp[mp->pieces[k]];
		const char	*pv = k == 0 ? v : r->value.data;
		size_t		 plen = k == 0 ? vlen : r->value.len;

		if (r->ext ? mime_pct_decode(&mp->tmp, pv, plen) == -1 :
		    buf_append(&mp->tmp, pv, plen) == -1)
			return false;
	}
	if (charset_len > 0) {
		char	cs[64];

		buf_reset(&mp->tmp2);
		if (charset_len < sizeof(cs)) {
			memcpy(cs, charset, charset_len);
			cs[charset_len] = '\0';
		} else
			cs[0] = '\0';
		if (mime_to_utf8(&mp->tmp2, mp->tmp.data, mp->tmp.len,
		    cs) == -1)
			return false;
		pm->value = mime_pool_str(mp->pool, mp->tmp2.data,
		    mp->tmp2.len);
	} else
		pm->value = mime_pool_str(mp->pool, mp->tmp.data, mp->tmp.len);

	/* imap_value: joined, still encoded; plain sections encoded too. */
	buf_reset(&mp->tmp);
	if (ext_any) {
		if (r0->ext && q2 != NULL) {
			if (buf_append(&mp->tmp, r0->value.data,
			    (size_t)(q2 + 1 - r0->value.data)) == -1)
				return false;
		} else if (buf_append(&mp->tmp, "''", 2) == -1)
			return false;
	}
	for (k = 0; k < npieces; k++) {
		const struct mime_rparam *r = &rp[mp->pieces[k]];
		const char	*pv = k == 0 ? v : r->value.data;
		size_t		 plen = k == 0 ? vlen : r->value.len;

		if (ext_any && !r->ext ? mime_pct_encode(&mp->tmp, pv,
		    plen) == -1 : buf_append(&mp->tmp, pv, plen) == -1)
			return false;
	}
	pm->imap_value = mime_pool_str(mp->pool, mp->tmp.data, mp->tmp.len);
	pm->name = mime_pool_str(mp->pool, r0->name, r0->base_len);
	buf_reset(&mp->tmp);
	if (buf_append(&mp->tmp, r0->name, r0->base_len) == -1 ||
	    (ext_any && buf_append_byte(&mp->tmp, '*') == -1))
		return false;
	pm->imap_name = mime_pool_str(mp->pool, mp->tmp.data, mp->tmp.len);
	pm->rfc2231 = true;
	return true;
}

/* Reads the parameters in p[0..end) into *params_r (pool memory). */
static void
mime_params_parse(struct mime_parser *mp, const char *p, const char *end,
    struct mime_param **params_r, unsigned *nparams_r)
{
	struct mime_param	*params, *pm;
	unsigned		 n, i, count = 0;

	*params_r = NULL;
	*nparams_r = 0;
	if ((n = mime_params_read(mp, p, end)) == 0)
		return;
	params = mime_pool_zalloc(mp->pool, n * sizeof(*params));
	for (i = 0; i < n; i++)
		mime_rparam_classify(&mp->rp[i], mp->lim.max_params);
	for (i = 0; i < n; i++) {
		struct mime_rparam *r = &mp->rp[i];

		if (r->used)
			continue;
		pm = &params[count];
		if (r->is2231) {
			if (mime_param_join(mp, n, i, pm))
				count++;
			continue;
		}
		pm->name = mime_pool_str(mp->pool, r->name, r->name_len);
		pm->imap_name = pm->name;
		pm->value = r->value;
		pm->imap_value = r->value;
		count++;
	}
	*params_r = params;
	*nparams_r = count;
}

static const struct mime_param *
mime_param_find(const struct mime_param *params, unsigned n, const char *name)
{
	const struct mime_param	*found = NULL;
	unsigned		 i;

	for (i = 0; i < n; i++) {
		if (!mime_eq_icase(params[i].name.data, params[i].name.len,
		    name))
			continue;
		if (params[i].rfc2231)
			return &params[i];
		if (found == NULL)
			found = &params[i];
	}
	return found;
}

const struct mime_param *
mime_part_param(const struct mime_part *part, const char *name)
{
	return mime_param_find(part->params, part->nparams, name);
}

const struct mime_param *
mime_part_disp_param(const struct mime_part *part, const char *name)
{
	return mime_param_find(part->disp_params, part->ndisp_params, name);
}

const char *
mime_part_charset(const struct mime_part *part)
{
	const struct mime_param	*pm = mime_part_param(part, "charset");

	return pm == NULL || pm->value.len == 0 ? "us-ascii" : pm->value.data;
}

const struct mime_part *
mime_part_top(const struct mime_part *part)
{
	while (part->parent != NULL)
		part = part->parent;
	return part;
}

size_t
mime_part_lines(const struct mime_part *part)
{
	const struct mime_part	*top = mime_part_top(part);
	const char		*p, *end;
	size_t			 n = 0;

	if (top->msg == NULL)
		return 0;
	p = top->msg + part->body_off;
	end = p + part->body_len;
	while (p < end && (p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		n++;
		p++;
	}
	return n;
}

/* ---- a part's MIME header ---------------------------------------------- */

/* Unfolded, trimmed copy of a field value; data NULL when empty. */
static struct mime_str
mime_unstructured(struct mime_parser *mp, const char *v, size_t len)
{
	struct mime_str	s = { NULL, 0 };

	buf_reset(&mp->tmp);
	if (mime_header_unfold(&mp->tmp, v, len) == -1 || mp->tmp.len == 0)
		return s;
	return mime_pool_str(mp->pool, mp->tmp.data, mp->tmp.len);
}

/* RFC 2045 5.1: type "/" subtype *(";" parameter); invalid: ignored. */
static void
mime_read_content_type(struct mime_parser *mp, struct mime_part *part,
    const char *v, size_t len)
{
	const char	*p = v, *end = v + len, *t, *s;
	size_t		 tlen, slen;

	p = mime_skip_cfws(p, end);
	t = p;
	p = mime_skip_token(p, end);
	tlen = (size_t)(p - t);
	p = mime_skip_cfws(p, end);
	if (tlen == 0 || p >= end || *p != '/')
		return;
	p = mime_skip_cfws(p + 1, end);
	s = p;
	p = mime_skip_token(p, end);
	slen = (size_t)(p - s);
	if (slen == 0)
		return;
	part->type = mime_pool_str(mp->pool, t, tlen);
	part->subtype = mime_pool_str(mp->pool, s, slen);
	part->flags |= MIME_PART_HAS_TYPE;
	mime_params_parse(mp, p, end, &part->params, &part->nparams);
}

static void
mime_read_cte(struct mime_parser *mp, struct mime_part *part, const char *v,
    size_t len)
{
	static const struct {
		const char	*name;
		enum mime_cte	 cte;
	} ctes[] = {
		{ "7bit", MIME_CTE_7BIT },
		{ "8bit", MIME_CTE_8BIT },
		{ "binary", MIME_CTE_BINARY },
		{ "quoted-printable", MIME_CTE_QP },
		{ "base64", MIME_CTE_BASE64 },
	};
	const char	*p, *end = v + len, *t;
	size_t		 i;

	t = mime_skip_cfws(v, end);
	p = mime_skip_token(t, end);
	if (p == t)
		return;
	part->cte_name = mime_pool_str(mp->pool, t, (size_t)(p - t));
	part->cte = MIME_CTE_UNKNOWN;
	for (i = 0; i < N_ELEMENTS(ctes); i++) {
		if (mime_eq_icase(t, (size_t)(p - t), ctes[i].name)) {
			part->cte = ctes[i].cte;
			break;
		}
	}
}

static void
mime_read_disposition(struct mime_parser *mp, struct mime_part *part,
    const char *v, size_t len)
{
	const char	*p, *end = v + len, *t;

	t = mime_skip_cfws(v, end);
	p = mime_skip_token(t, end);
	if (p == t)
		return;
	part->disposition = mime_pool_str(mp->pool, t, (size_t)(p - t));
	mime_params_parse(mp, p, end, &part->disp_params, &part->ndisp_params);
}

/* RFC 3282: Content-Language: tag *("," tag), comments allowed. */
static void
mime_read_languages(struct mime_parser *mp, struct mime_part *part,
    const char *v, size_t len)
{
	const char	*p = v, *end = v + len, *t;
	unsigned	 n = 0, max = mp->lim.max_params;

	/* Two passes: count, then copy, so the array is exact. */
	for (int pass = 0; pass < 2; pass++) {
		p = v;
		n = 0;
		while ((p = mime_skip_cfws(p, end)) < end) {
			if (*p == ',') {
				p++;
				continue;
			}
			for (t = p; p < end && !mime_is_wsp(*p) && *p != ',' &&
			    *p != '(' && *p != ';' && *p != '\r' &&
			    *p != '\n'; p++)
				;
			if (p == t) {	/* ';' */
				p++;
				continue;
			}
			if (n < max) {
				if (pass == 1)
					part->languages[n] = mime_pool_str(
					    mp->pool, t, (size_t)(p - t));
				n++;
			}
		}
		if (n == 0)
			return;
		if (pass == 0)
			part->languages = mime_pool_zalloc(mp->pool,
			    n * sizeof(*part->languages));
	}
	part->nlanguages = n;
}

/* The flags a part's type gives it. */
static void
mime_part_set_type_flags(struct mime_part *part)
{
	const struct mime_str	*t = &part->type, *s = &part->subtype;

	part->flags &= ~(MIME_PART_MULTIPART | MIME_PART_MESSAGE |
	    MIME_PART_TEXT);
	if (mime_eq_icase(t->data, t->len, "multipart"))
		part->flags |= MIME_PART_MULTIPART;
	else if (mime_eq_icase(t->data, t->len, "text"))
		part->flags |= MIME_PART_TEXT;
	else if (mime_eq_icase(t->data, t->len, "message") &&
	    (mime_eq_icase(s->data, s->len, "rfc822") ||
	    mime_eq_icase(s->data, s->len, "global")))
		part->flags |= MIME_PART_MESSAGE;
}

/*
 * Reads the MIME fields of part's header section (hdr_off, hdr_len
 * set), the first of each kind counting, within max_header_size.
 */
static void
mime_part_read_header(struct mime_parser *mp, struct mime_part *part)
{
	struct mime_header_iter	 it;
	struct mime_field	 f;
	size_t			 n = part->hdr_len;
	bool			 ct = false, cte = false, id = false,
				 desc = false, md5 = false, disp = false,
				 lang = false, loc = false;

	/* The empty line that ends the header holds no field. */
	if (n >= 2 && mp->msg[part->hdr_off + n - 1] == '\n' &&
	    mp->msg[part->hdr_off + n - 2] == '\n')
		n--;
	else if (n >= 3 && mp->msg[part->hdr_off + n - 1] == '\n' &&
	    mp->msg[part->hdr_off + n - 2] == '\r' &&
	    mp->msg[part->hdr_off + n - 3] == '\n')
		n -= 2;
	if (n > mp->lim.max_header_size) {
		n = mp->lim.max_header_size;
		part->flags |= MIME_PART_HEADER_CUT;
	}
	mime_header_iter_init(&it, mp->msg + part->hdr_off, n);
	while (mime_header_iter_next(&it, &f)) {
		/* Every field read here is "Content-...". */
		if (f.name_len < 10 ||
		    mime_lc((unsigned char)f.name[0]) != 'c' ||
		    !mime_eq_icase_n(f.name, 8, "content-", 8))
			continue;
		if (!ct && mime_eq_icase(f.name, f.name_len, "content-type")) {
			ct = true;
			mime_read_content_type(mp, part, f.value, f.value_len);
		} else if (!cte && mime_eq_icase(f.name, f.name_len,
		    "content-transfer-encoding")) {
			cte = true;
			mime_read_cte(mp, part, f.value, f.value_len);
		} else if (!id && mime_eq_icase(f.name, f.name_len,
		    "content-id")) {
			id = true;
			part->id = mime_unstructured(mp, f.value, f.value_len);
		} else if (!desc && mime_eq_icase(f.name, f.name_len,
		    "content-description")) {
			desc = true;
			part->description = mime_unstructured(mp, f.value,
			    f.value_len);
		} else if (!md5 && mime_eq_icase(f.name, f.name_len,
		    "content-md5")) {
			md5 = true;
			part->md5 = mime_unstructured(mp, f.value, f.value_len);
		} else if (!disp && mime_eq_icase(f.name, f.name_len,
		    "content-disposition")) {
			disp = true;
			mime_read_disposition(mp, part, f.value, f.value_len);
		} else if (!lang && mime_eq_icase(f.name, f.name_len,
		    "content-language")) {
			lang = true;
			mime_read_languages(mp, part, f.value, f.value_len);
		} else if (!loc && mime_eq_icase(f.name, f.name_len,
		    "content-location")) {
			loc = true;
			part->location = mime_unstructured(mp, f.value,
			    f.value_len);
		}
	}
	mime_part_set_type_flags(part);
}

/* ---- the parse ---------------------------------------------------------- */

static const struct mime_str mime_str_text = { "text", 4 };
static const struct mime_str mime_str_plain = { "plain", 5 };
static const struct mime_str mime_str_message = { "message", 7 };
static const struct mime_str mime_str_rfc822 = { "rfc822", 6 };

/*
 * A new part under parent (NULL for the root), or NULL when max_parts is
 * reached.  Its type is the default: message/rfc822 in a
 * multipart/digest (RFC 2046 5.1.5), else text/plain.
 */
static struct mime_part *
mime_part_new(struct mime_parser *mp, struct mime_part *parent)
{
	struct mime_part	*part;

	if (mp->nparts >= mp->lim.max_parts) {
		mp->too_many = true;
		return NULL;
	}
	part = mime_pool_zalloc(mp->pool, sizeof(*part));
	part->parent = parent;
	part->depth = parent == NULL ? 0 : parent->depth + 1;
	if (parent != NULL && (parent->flags & MIME_PART_MULTIPART) != 0 &&
	    mime_eq_icase(parent->subtype.data, parent->subtype.len,
	    "digest")) {
		part->type = mime_str_message;
		part->subtype = mime_str_rfc822;
	} else {
		part->type = mime_str_text;
		part->subtype = mime_str_plain;
	}
	if (mp->nparts >= mp->parts_size) {
		mp->parts_size = mp->parts_size == 0 ? 16 : mp->parts_size * 2;
		mp->parts = xreallocarray(mp->parts, mp->parts_size,
		    sizeof(*mp->parts));
	}
	mp->parts[mp->nparts++] = part;
	return part;
}

/* The count of bound entries not closed, after the stack changed. */
static void
mime_bounds_recount(struct mime_parser *mp)
{
	unsigned	i;

	mp->nopen = 0;
	for (i = 0; i < mp->nbounds; i++) {
		if (!mp->bounds[i].closed)
			mp->nopen++;
	}
}

/*
 * Ends every open part from mp->cur up to stop (excluded; NULL: all):
 * their bodies end at cut.  A part still in its header (only mp->cur can
 * be) gets its header up to line (everything read so far) and an empty
 * body there.
 */
static void
mime_close_to(struct mime_parser *mp, struct mime_part *stop, size_t cut,
    size_t line)
{
	struct mime_part	*p = mp->cur;

	if (mp->in_header && p != stop) {
		p->hdr_len = line - p->hdr_off;
		p->body_off = line;
		p->body_len = 0;
		mime_part_read_header(mp, p);
		mp->in_header = false;
		p = p->parent;
	}
	for (; p != stop; p = p->parent)
		p->body_len = cut - p->body_off;
	mp->cur = stop;
}

/*
 * The header of mp->cur ends with the empty line before next: read its
 * fields, then open a multipart's boundary or an embedded message.
 */
static void
mime_header_done(struct mime_parser *mp, size_t next)
{
	struct mime_part	*p = mp->cur, *c;
	const struct mime_param	*b;

	p->hdr_len = next - p->hdr_off;
	p->body_off = next;
	mp->floor = next;
	mp->in_header = false;
	mime_part_read_header(mp, p);
	if ((p->flags & MIME_PART_MULTIPART) != 0) {
		b = mime_part_param(p, "boundary");
		if (b == NULL || b->value.len == 0)
			return;
		if (p->depth >= mp->lim.max_depth) {
			p->flags |= MIME_PART_TRUNCATED;
			return;
		}
		mp->bounds[mp->nbounds].str = b->value.data;
		mp->bounds[mp->nbounds].len = b->value.len;
		mp->bounds[mp->nbounds].part = p;
		mp->bounds[mp->nbounds].closed = false;
		mp->nbounds++;
		mp->nopen++;
	} else if ((p->flags & MIME_PART_MESSAGE) != 0) {
		if (p->depth >= mp->lim.max_depth) {
			p->flags |= MIME_PART_TRUNCATED;
			return;
		}
		if ((c = mime_part_new(mp, p)) == NULL)
			return;
		p->message = c;
		c->hdr_off = next;
		mp->cur = c;
		mp->in_header = true;
	}
}

/*
 * The line msg[ls..next) starts with "--": if it is a boundary line of
 * an open multipart (the longest boundary that prefixes it, the
 * innermost on a tie), end what it ends and start what it starts, and
 * return true.
 */
static bool
mime_boundary_line(struct mime_parser *mp, size_t ls, size_t next)
{
	const char		*line = mp->msg + ls + 2;
	size_t			 llen = next - ls - 2, cut, eol;
	struct mime_bound	*b;
	struct mime_part	*m, *c;
	unsigned		 i, best = 0;
	bool			 found = false, close;

	for (i = mp->nbounds; i-- > 0;) {
		b = &mp->bounds[i];
		if (b->closed || b->len > llen ||
		    memcmp(b->str, line, b->len) != 0)
			continue;
		if (!found || b->len > mp->bounds[best].len) {
			best = i;
			found = true;
		}
	}
	if (!found)
		return false;
	b = &mp->bounds[best];
	m = b->part;
	close = llen >= b->len + 2 && line[b->len] == '-' &&
	    line[b->len + 1] == '-';

	/*
	 * The line end before the boundary belongs to the boundary (RFC
	 * 2046 5.1.1), unless it ended a line already used up: the empty
	 * line of a header, a header line, or another boundary line.
	 */
	eol = 0;
	if (ls >= 1 && mp->msg[ls - 1] == '\n')
		eol = ls >= 2 && mp->msg[ls - 2] == '\r' ? 2 : 1;
	cut = mp->in_header ? ls : ls - eol;
	if (cut < mp->floor)
		cut = mp->floor;
	mime_close_to(mp, m, cut, ls);
	mp->nbounds = best + 1;
	if (close)
		b->closed = true;
	mime_bounds_recount(mp);
	mp->floor = next;
	if (close)
		return true;
	if ((c = mime_part_new(mp, m)) == NULL)
		return true;
	c->hdr_off = next;
	mp->cur = c;
	mp->in_header = true;
	return true;
}

/*
 * The next line start at or after pos (a line start) that begins with
 * "--", or len.
 */
static size_t
mime_next_dash_line(const char *msg, size_t len, size_t pos)
{
	const char	*p;

	if (len - pos >= 2 && msg[pos] == '-' && msg[pos + 1] == '-')
		return pos;
	if ((p = memmem(msg + pos, len - pos, "\n--", 3)) == NULL)
		return len;
	return (size_t)(p - msg) + 1;
}

static void
mime_parse_run(struct mime_parser *mp)
{
	const char	*msg = mp->msg, *lf;
	size_t		 len = mp->len, pos = 0, ls, next;

	while (pos < len) {
		if (mp->in_header)
			ls = pos;
		else {
			/* In a body only boundary lines matter. */
			if (mp->nopen == 0)
				break;
			if ((ls = mime_next_dash_line(msg, len, pos)) == len)
				break;
		}
		lf = memchr(msg + ls, '\n', len - ls);
		next = lf == NULL ? len : (size_t)(lf - msg) + 1;
		if (mp->nopen > 0 && next - ls >= 2 && msg[ls] == '-' &&
		    msg[ls + 1] == '-' && mime_boundary_line(mp, ls, next)) {
			if (mp->too_many)
				return;
		} else if (mp->in_header &&
		    mime_line_is_empty(msg + ls, next - ls)) {
			mime_header_done(mp, next);
			if (mp->too_many)
				return;
		}
		pos = next;
	}
	/* The end of the message ends every part still open. */
	mime_close_to(mp, NULL, len, len);
}

/* Gives each multipart its array of children and links the siblings. */
static void
mime_parse_link(struct mime_parser *mp)
{
	struct mime_part	*p, *parent;
	unsigned		 i;

	for (i = 1; i < mp->nparts; i++) {
		p = mp->parts[i];
		parent = p->parent;
		if (parent->message != p)
			parent->nchildren++;
	}
	for (i = 0; i < mp->nparts; i++) {
		p = mp->parts[i];
		if (p->nchildren > 0) {
			p->children = mime_pool_alloc(mp->pool,
			    p->nchildren * sizeof(*p->children));
			p->nchildren = 0;
		}
	}
	for (i = 1; i < mp->nparts; i++) {
		p = mp->parts[i];
		parent = p->parent;
		if (parent->message == p)
			continue;
		if (parent->nchildren > 0)
			parent->children[parent->nchildren - 1]->next = p;
		parent->children[parent->nchildren++] = p;
	}
}

/*
 * The fallback after max_parts: one text/plain part, the header up to
 * the first empty line and the body after it.
 */
static struct mime_part *
mime_parse_fallback(const char *msg, size_t len, struct mime_pool *pool)
{
	struct mime_part	*root;
	size_t			 pos = 0, next;

	root = mime_pool_zalloc(pool, sizeof(*root));
	root->type = mime_str_text;
	root->subtype = mime_str_plain;
	root->flags = MIME_PART_TEXT;
	while (pos < len) {
		next = (size_t)(mime_line_next(msg + pos, msg + len) - msg);
		if (mime_line_is_empty(msg + pos, next - pos)) {
			pos = next;
			break;
		}
		pos = next;
	}
	root->hdr_len = pos;
	root->body_off = pos;
	root->body_len = len - pos;
	return root;
}

int
mime_parse(const char *msg, size_t len, const struct mime_limits *lim,
    struct mime_part **root_r)
{
	struct mime_parser	 mp;
	struct mime_part	*root;
	int			 ret = 0;

	memset(&mp, 0, sizeof(mp));
	mp.msg = msg;
	mp.len = len;
	if (lim != NULL)
		mp.lim = *lim;
	else
		mime_limits_default(&mp.lim);
	if (mp.lim.max_depth > MIME_HARD_MAX_DEPTH)
		mp.lim.max_depth = MIME_HARD_MAX_DEPTH;
	if (mp.lim.max_params > MIME_HARD_MAX_PARAMS)
		mp.lim.max_params = MIME_HARD_MAX_PARAMS;
	mp.pool = mime_pool_new();
	buf_init(&mp.tmp, 256, SIZE_MAX);
	buf_init(&mp.tmp2, 256, SIZE_MAX);
	mp.bounds = xcalloc((size_t)mp.lim.max_depth + 1, sizeof(*mp.bounds));

	if ((root = mime_part_new(&mp, NULL)) != NULL) {
		mp.cur = root;
		mp.in_header = true;
		mime_parse_run(&mp);
	}
	if (mp.too_many) {
		mime_pool_free(&mp.pool);
		mp.pool = mime_pool_new();
		root = mime_parse_fallback(msg, len, mp.pool);
		ret = -1;
	} else
		mime_parse_link(&mp);
	root->msg = msg;
	root->msg_len = len;
	root->pool = mp.pool;

	buf_deinit(&mp.tmp);
	buf_deinit(&mp.tmp2);
	free(mp.bounds);
	free(mp.parts);
	free(mp.rp);
	free(mp.pieces);
	*root_r = root;
	return ret;
}

void
mime_free(struct mime_part **rootp)
{
	struct mime_pool	*pool;

	if (*rootp == NULL)
		return;
	pool = (*rootp)->pool;
	mime_pool_free(&pool);
	*rootp = NULL;
}

/* ---- sections ----------------------------------------------------------- */

/* Part n (from 1) of the message or multipart p, or NULL. */
static const struct mime_part *
mime_section_child(const struct mime_part *p, uint64_t n)
{
	if ((p->flags & MIME_PART_MULTIPART) != 0)
		return n <= p->nchildren ? p->children[n - 1] : NULL;
	return n == 1 ? p : NULL;
}

int
mime_section_find(const struct mime_part *root, const char *spec,
    size_t len, const struct mime_part **part_r)
{
	const struct mime_part	*p = root;
	size_t			 pos = 0, d;
	uint64_t		 n;
	bool			 first = true;

	while (pos < len || first) {
		if (len == 0)
			break;
		for (d = pos; d < len && spec[d] >= '0' && spec[d] <= '9'; d++)
			;
		/* nz-number: no leading zero (RFC 3501 9). */
		if (d == pos || spec[pos] == '0' ||
		    parse_u64_n(spec + pos, d - pos, UINT32_MAX, &n) == -1)
			return 0;
		if (!first) {
			if ((p->flags & MIME_PART_MESSAGE) != 0) {
				if ((p = p->message) == NULL)
					return 0;
			} else if ((p->flags & MIME_PART_MULTIPART) == 0)
				return 0;
		}
		if ((p = mime_section_child(p, n)) == NULL)
			return 0;
		first = false;
		pos = d;
		if (pos == len)
			break;
		if (spec[pos] != '.' || ++pos == len)
			return 0;
	}
	*part_r = p;
	return 1;
}

int
mime_section_range(const struct mime_part *root, const char *spec,
    size_t len, enum mime_section what, size_t *off_r, size_t *len_r)
{
	const struct mime_part	*p, *m;

	if (mime_section_find(root, spec, len, &p) != 1)
		return 0;
	if (len == 0) {
		m = root;
		if (what == MIME_SECTION_PART) {
			*off_r = root->hdr_off;
			*len_r = root->hdr_len + root->body_len;
			return 1;
		}
		if (what == MIME_SECTION_MIME)
			return 0;
	} else {
		switch (what) {
		case MIME_SECTION_PART:
			*off_r = p->body_off;
			*len_r = p->body_len;
			return 1;
		case MIME_SECTION_MIME:
			*off_r = p->hdr_off;
			*len_r = p->hdr_len;
			return 1;
		default:
			break;
		}
		if ((p->flags & MIME_PART_MESSAGE) == 0 || p->message == NULL)
			return 0;
		m = p->message;
	}
	if (what == MIME_SECTION_HEADER) {
		*off_r = m->hdr_off;
		*len_r = m->hdr_len;
	} else {
		*off_r = m->body_off;
		*len_r = m->body_len;
	}
	return 1;
}

