/* SPDX-License-Identifier: ISC */
/*
 * 8-bit to quoted-printable MIME conversion (RFC 6152 3), as mime8.h
 * describes.  One line-oriented parser serves both passes: it is
 * deterministic, so pass 2 finds the same structure in the same bytes,
 * and the only thing pass 1 hands to pass 2 is one bit per MIME entity
 * (the top-level message, every body part and every message/rfc822
 * inner message, numbered in order of their header sections): "this leaf
 * holds 8-bit bytes, encode its body".  Pass 2 needs it while reading
 * the entity's header section, before the body that decides it.  Pass 1
 * also keeps the byte count and a hash of the message, which pass 2
 * compares at the end, and pass 2 fails on any 8-bit byte it would have
 * to pass through: whatever the caller feeds, the output is 7-bit or an
 * error.
 *
 * Memory does not grow with the message, only with its structure.  A
 * line is held only while what it is remains open (it may be a boundary
 * line, an empty line, a line that ends a header section), and never
 * past MIME8_LINE_HOLD bytes; the rest of a line goes on in fragments as
 * it comes (a body line encoded or copied, a header field kept for
 * parsing up to MIME8_FIELD_MAX, and not parsed past that).  Besides
 * that hold: one header field of interest, one boundary per open
 * multipart (at most MIME8_MAX_DEPTH) and the bit map of entities.  So
 * one call's output is bounded by about 3.1 times the piece plus the
 * hold, and by much less for messages that are not built to be awkward.
 *
 * The input is trusted for nothing: header sections, parameters and
 * boundaries come from whoever sent the message.
 */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "transfer-agent/mime8.h"

#include "common/banned.h"

/*
 * A line is held whole while it has at most this many bytes before its
 * LF; a longer one is processed in fragments.  It is never a boundary
 * line or an empty line, and as a header field it is longer than
 * MIME8_FIELD_MAX, so it is not parsed.  The extra bytes leave room for
 * "--", a boundary as long as a field can hold, "--" and some trailing
 * white space (RFC 2046 5.1.1 transport padding).
 */
#define MIME8_LINE_HOLD		(MIME8_FIELD_MAX + 64)
/* RFC 2045 6.7 (5): encoded lines of at most 76 characters. */
#define MIME8_QP_LINE		76

/* Why 8-bit bytes in a place cannot be converted (scan_end's error). */
#define MIME8_R_HEADER \
	"8-bit byte in a message or MIME part header section"
#define MIME8_R_ENCODED \
	"8-bit byte in a base64 or quoted-printable encoded MIME part"
#define MIME8_R_UNKNOWN_CTE \
	"8-bit byte in a MIME part with an unknown or conflicting " \
	"Content-Transfer-Encoding"
#define MIME8_R_PREAMBLE \
	"8-bit byte in a multipart preamble or epilogue"
#define MIME8_R_NO_BOUNDARY \
	"8-bit byte in a multipart part without a usable boundary parameter"
#define MIME8_R_MESSAGE \
	"8-bit byte in a message/* part other than message/rfc822"
#define MIME8_R_COMPOSITE_CTE \
	"8-bit byte in a multipart or message part with a " \
	"Content-Transfer-Encoding other than 7bit, 8bit or binary"
#define MIME8_R_DEPTH \
	"8-bit byte in a MIME part nested too deeply"
#define MIME8_R_LONG_CTYPE \
	"8-bit byte in a MIME part whose Content-Type field is too long"
#define MIME8_R_DUP_CTYPE \
	"8-bit byte in a MIME part with more than one Content-Type field"
#define MIME8_R_CHANGED \
	"message changed between the two passes"
#define MIME8_R_OUT_FULL \
	"output buffer full"

enum mime8_phase {
	MIME8_PH_SCAN,		/* pass 1 */
	MIME8_PH_CONVERT,	/* pass 2 */
	MIME8_PH_DONE,		/* after scan_end (no pass 2) or convert_end */
};

enum mime8_where {
	MIME8_W_HEADER,
	MIME8_W_BODY,
};

/* The header field being read. */
enum mime8_field {
	MIME8_F_NONE,		/* none yet in this header section */
	MIME8_F_OTHER,
	MIME8_F_CTYPE,
	MIME8_F_CTE,
	MIME8_F_MIMEVER,
};

enum mime8_ctype {
	MIME8_CT_DEFAULT,	/* no Content-Type field */
	MIME8_CT_LEAF,
	MIME8_CT_MULTIPART,
	MIME8_CT_DIGEST,
	MIME8_CT_RFC822,
	MIME8_CT_OPAQUE,	/* composite we cannot enter (ctype_reason) */
};

enum mime8_enc {
	MIME8_E_NONE,		/* no field: 7bit */
	MIME8_E_IDENTITY,	/* 7bit, 8bit, binary */
	MIME8_E_ENCODED,	/* quoted-printable, base64 */
	MIME8_E_OTHER,		/* anything else, or fields that disagree */
};

/* What the rest of a line that came in fragments goes to. */
enum mime8_sink {
	MIME8_S_NONE,
	MIME8_S_FIELD,
	MIME8_S_BODY,
};

/* One open multipart (boundary != NULL) or message/rfc822 part. */
struct mime8_frame {
	char		*boundary;
	size_t		 blen;
	bool		 digest;	/* parts default to message/rfc822 */
};

/* The entity whose header section or body is being read. */
struct mime8_ent {
	size_t		 index;		/* in order of header sections */
	bool		 top;		/* the message's own header */
	bool		 digest_part;	/* default type message/rfc822 */
	bool		 convert;	/* pass 2: its body gets encoded */
	bool		 marked;	/* pass 1: 8-bit seen in this leaf */
	enum mime8_field field;
	bool		 field_long;	/* the field is not parsed */
	bool		 swallow;	/* pass 2: drop the replaced field */
	unsigned int	 nctype;
	enum mime8_ctype ctype;
	const char	*ctype_reason;
	enum mime8_enc	 enc;
	bool		 mimever;
};

/* Quoted-printable encoder state (RFC 2045 6.7). */
struct mime8_qp {
	size_t		 col;	/* characters on the output line */
	int		 held;	/* last byte, not written yet, or -1 */
	bool		 cr;	/* a CR that may start a CRLF */
};

struct mime8 {
	enum mime8_phase phase;

	/* Line assembly. */
	struct buf	 hold;		/* the current line, while undecided */
	size_t		 hold_check;	/* look at it again at this length */
	bool		 in_frag;	/* the line goes on in fragments */
	enum mime8_sink	 sink;

	/* Structure. */
	struct mime8_frame stack[MIME8_MAX_DEPTH];
	unsigned int	 depth;
	enum mime8_where where;
	struct mime8_ent ent;
	const char	*body_reason;	/* NULL: a leaf we may convert */
	bool		 body_convert;	/* pass 2: encode this body */
	struct buf	 field;		/* unfolded field of interest */
	struct buf	 boundary;	/* from the last Content-Type parsed */
	size_t		 nent;		/* entities begun in this pass */
	uint64_t	 nbytes;	/* bytes fed in this pass */
	uint64_t	 hash;		/* FNV-1a of them */

	/* Pass 1 results. */
	uint8_t		*conv;		/* bit per entity: encode its body */
	size_t		 conv_size;
	bool		 has8;
	const char	*error;		/* why it cannot be converted */
	size_t		 scan_nent;
	uint64_t	 scan_nbytes;
	uint64_t	 scan_hash;

	/* Pass 2. */
	struct buf	*out;
	const char	*fail;
	struct mime8_qp	 qp;
};

static const char mime8_hex[] = "0123456789ABCDEF";

#define MIME8_FNV_OFFSET	UINT64_C(0xcbf29ce484222325)
#define MIME8_FNV_PRIME		UINT64_C(0x100000001b3)

static bool
mime8_is_8bit(const uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if ((p[i] & 0x80) != 0)
			return true;
	return false;
}

/* Pass 1 has decided, or pass 2 has failed: ignore the rest. */
static bool
mime8_stopped(const struct mime8 *m)
{
	return m->phase == MIME8_PH_SCAN ? m->error != NULL : m->fail != NULL;
}

static void
mime8_fail(struct mime8 *m, const char *reason)
{
	if (m->fail == NULL)
		m->fail = reason;
}

static void
mime8_out(struct mime8 *m, const void *p, size_t len)
{
	if (m->phase != MIME8_PH_CONVERT || m->fail != NULL || len == 0)
		return;
	if (buf_append(m->out, p, len) == -1)
		mime8_fail(m, MIME8_R_OUT_FULL);
}

static void
mime8_out_str(struct mime8 *m, const char *s)
{
	mime8_out(m, s, strlen(s));
}

/* Copies bytes that must already be 7-bit to the output. */
static void
mime8_pass(struct mime8 *m, const uint8_t *p, size_t len)
{
	if (m->phase != MIME8_PH_CONVERT)
		return;
	/* Pass 1 saw no 8-bit byte here, or it would not have said 1. */
	if (mime8_is_8bit(p, len))
		mime8_fail(m, MIME8_R_CHANGED);
	else
		mime8_out(m, p, len);
}

static void
mime8_mark(struct mime8 *m, size_t ent)
{
	size_t byte, size;

	byte = ent / 8;
	if (byte >= m->conv_size) {
		size = m->conv_size == 0 ? 16 : m->conv_size;
		while (size <= byte)
			size *= 2;	/* UNSAFE: byte < SIZE_MAX / 8 */
		m->conv = xreallocarray(m->conv, size, 1);
		memset(m->conv + m->conv_size, 0, size - m->conv_size);
		m->conv_size = size;
	}
	m->conv[byte] |= (uint8_t)(1U << (ent % 8));
}

static bool
mime8_marked(const struct mime8 *m, size_t ent)
{
	if (ent / 8 >= m->conv_size)
		return false;
	return (m->conv[ent / 8] & (1U << (ent % 8))) != 0;
}

/*
 * Pass 1 found an 8-bit byte; reason is NULL in a leaf we can convert,
 * else why we cannot.
 */
static void
mime8_found_8bit(struct mime8 *m, const char *reason)
{
	if (m->phase != MIME8_PH_SCAN) {
		mime8_fail(m, MIME8_R_CHANGED);
		return;
	}
	m->has8 = true;
	if (reason != NULL) {
		if (m->error == NULL)
			m->error = reason;
	} else if (!m->ent.marked) {
		mime8_mark(m, m->ent.index);
		m->ent.marked = true;
	}
}

/*
 * Quoted-printable encoder.  A byte is written only when the next one is
 * known, because a space or tab at the end of a line must be encoded
 * and the last character of a line may use column 76, where any other
 * needs room for a soft line break after it.
 */
static void
mime8_qp_put(struct mime8 *m, uint8_t c, bool eol)
{
	char	 tok[3];
	size_t	 n, limit;

	if ((c > ' ' && c < 0x7f && c != '=') ||
	    ((c == ' ' || c == '\t') && !eol)) {
		tok[0] = (char)c;
		n = 1;
	} else {
		tok[0] = '=';
		tok[1] = mime8_hex[c >> 4];
		tok[2] = mime8_hex[c & 0x0f];
		n = 3;
	}
	limit = eol ? MIME8_QP_LINE : MIME8_QP_LINE - 1;
	if (m->qp.col + n > limit) {
		/* Soft line break before the token: "=XX" is never cut. */
		mime8_out_str(m, "=\r\n");
		m->qp.col = 0;
	}
	mime8_out(m, tok, n);
	m->qp.col += n;
}

static void
mime8_qp_byte(struct mime8 *m, uint8_t c)
{
	if (m->qp.held != -1)
		mime8_qp_put(m, (uint8_t)m->qp.held, false);
	m->qp.held = c;
}

/* End of an input line (crlf) or of the body (a last line without one). */
static void
mime8_qp_eol(struct mime8 *m, bool crlf)
{
	if (m->qp.held != -1)
		mime8_qp_put(m, (uint8_t)m->qp.held, true);
	m->qp.held = -1;
	if (crlf) {
		mime8_out_str(m, "\r\n");
		m->qp.col = 0;
	}
}

static void
mime8_qp(struct mime8 *m, const uint8_t *p, size_t len)
{
	size_t	i;

	for (i = 0; i < len && m->fail == NULL; i++) {
		if (m->qp.cr) {
			m->qp.cr = false;
			if (p[i] == '\n') {
				mime8_qp_eol(m, true);
				continue;
			}
			/* A bare CR is data: "=0D". */
			mime8_qp_byte(m, '\r');
		}
		if (p[i] == '\n')
			mime8_qp_eol(m, true);	/* bare LF: CRLF out */
		else if (p[i] == '\r')
			m->qp.cr = true;
		else
			mime8_qp_byte(m, p[i]);
	}
}

static void
mime8_qp_end(struct mime8 *m)
{
	if (m->qp.cr) {
		m->qp.cr = false;
		mime8_qp_byte(m, '\r');
	}
	mime8_qp_eol(m, false);
}

/* Bytes of a body line (or a preamble, epilogue, opaque part). */
static void
mime8_body(struct mime8 *m, const uint8_t *p, size_t len)
{
	if (m->phase == MIME8_PH_SCAN) {
		if (m->body_reason == NULL && m->ent.marked)
			return;
		if (mime8_is_8bit(p, len))
			mime8_found_8bit(m, m->body_reason);
	} else if (m->body_convert)
		mime8_qp(m, p, len);
	else
		mime8_pass(m, p, len);
}

/* Bytes of a header field line: checked, copied, kept for parsing. */
static void
mime8_field_bytes(struct mime8 *m, const uint8_t *p, size_t len)
{
	size_t	i, j;

	if (mime8_is_8bit(p, len)) {
		mime8_found_8bit(m, MIME8_R_HEADER);
		return;
	}
	if (!m->ent.swallow)
		mime8_out(m, p, len);
	if (m->ent.field == MIME8_F_OTHER || m->ent.field_long)
		return;
	/* Unfolding (RFC 5322 2.2.3): drop CR and LF, keep the rest. */
	for (i = 0; i < len; i = j + 1) {
		for (j = i; j < len && p[j] != '\r' && p[j] != '\n'; j++)
			;
		if (j > i && buf_append(&m->field, p + i, j - i) == -1) {
			m->ent.field_long = true;
			return;
		}
	}
}

static bool
mime8_ascii_eq(const char *s, size_t len, const char *word)
{
	size_t	i;
	char	a, b;

	if (strlen(word) != len)
		return false;
	for (i = 0; i < len; i++) {
		a = s[i];
		b = word[i];
		if (a >= 'A' && a <= 'Z')
			a = (char)(a - 'A' + 'a');
		if (b >= 'A' && b <= 'Z')
			b = (char)(b - 'A' + 'a');
		if (a != b)
			return false;
	}
	return true;
}

/* RFC 2045 5.1: a token character (not SPACE, CTLs or tspecials). */
static bool
mime8_is_tchar(char c)
{
	unsigned char uc = (unsigned char)c;

	if (uc <= ' ' || uc >= 0x7f)
		return false;
	return strchr("()<>@,;:\\\"/[]?=", c) == NULL;
}

/* Skips white space and RFC 5322 comments, nested, with quoted pairs. */
static void
mime8_skip_cfws(char **pp, const char *end)
{
	char		*p = *pp;
	unsigned int	 level = 0;

	while (p < end) {
		if (level > 0) {
			if (*p == '\\' && p + 1 < end)
				p++;
			else if (*p == '(')
				level++;
			else if (*p == ')')
				level--;
			p++;
		} else if (*p == ' ' || *p == '\t')
			p++;
		else if (*p == '(') {
			level = 1;
			p++;
		} else
			break;
	}
	*pp = p;
}

static bool
mime8_lex_token(char **pp, const char *end, char **tok_r, size_t *len_r)
{
	char	*p = *pp;

	while (p < end && mime8_is_tchar(*p))
		p++;
	if (p == *pp)
		return false;
	*tok_r = *pp;
	*len_r = (size_t)(p - *pp);
	*pp = p;
	return true;
}

/*
 * A quoted string at *pp (on its '"'), unescaped in place: the value
 * never grows, so it is written over the bytes already read.
 */
static bool
mime8_lex_quoted(char **pp, const char *end, char **val_r, size_t *len_r)
{
	char	*p = *pp + 1, *w = *pp;

	while (p < end && *p != '"') {
		if (*p == '\\' && p + 1 < end)
			p++;
		*w++ = *p++;
	}
	if (p == end)
		return false;
	*val_r = *pp;
	*len_r = (size_t)(w - *pp);
	*pp = p + 1;
	return true;
}

static void
mime8_ctype_opaque(struct mime8 *m, const char *reason)
{
	m->ent.ctype = MIME8_CT_OPAQUE;
	m->ent.ctype_reason = reason;
}

/*
 * Content-Type (RFC 2045 5.1): type "/" subtype *(";" attribute "="
 * value).  A leaf with a bad syntax counts as text/plain (RFC 2045 5.2);
 * a multipart or message type we cannot read fully is opaque.  For a
 * multipart, parameters are read up to the first syntax error; two
 * different boundary parameters make it opaque.
 */
static void
mime8_parse_ctype(struct mime8 *m)
{
	char	*p, *end, *type, *sub, *attr, *val;
	size_t	 tlen, slen, alen, vlen;
	bool	 multipart, message, found = false, ambiguous = false;

	end = m->field.data + m->field.len;
	p = memchr(m->field.data, ':', m->field.len);
	if (p == NULL)
		log_panic("mime8: Content-Type field without a colon");
	p++;
	mime8_skip_cfws(&p, end);
	if (!mime8_lex_token(&p, end, &type, &tlen)) {
		m->ent.ctype = MIME8_CT_LEAF;
		return;
	}
	multipart = mime8_ascii_eq(type, tlen, "multipart");
	message = mime8_ascii_eq(type, tlen, "message");
	mime8_skip_cfws(&p, end);
	if (p == end || *p != '/')
		goto bad;
	p++;
	mime8_skip_cfws(&p, end);
	if (!mime8_lex_token(&p, end, &sub, &slen))
		goto bad;
	if (message) {
		if (mime8_ascii_eq(sub, slen, "rfc822"))
			m->ent.ctype = MIME8_CT_RFC822;
		else
			mime8_ctype_opaque(m, MIME8_R_MESSAGE);
		return;
	}
	if (!multipart) {
		m->ent.ctype = MIME8_CT_LEAF;
		return;
	}
	for (;;) {
		mime8_skip_cfws(&p, end);
		if (p == end || *p != ';')
			break;
		p++;
		mime8_skip_cfws(&p, end);
		if (!mime8_lex_token(&p, end, &attr, &alen))
			break;
		mime8_skip_cfws(&p, end);
		if (p == end || *p != '=')
			break;
		p++;
		mime8_skip_cfws(&p, end);
		if (p < end && *p == '"') {
			if (!mime8_lex_quoted(&p, end, &val, &vlen))
				break;
		} else if (!mime8_lex_token(&p, end, &val, &vlen))
			break;
		if (!mime8_ascii_eq(attr, alen, "boundary") || vlen == 0)
			continue;
		if (!found) {
			buf_reset(&m->boundary);
			if (buf_append(&m->boundary, val, vlen) == -1)
				log_panic("mime8: boundary too long");
			found = true;
		} else if (vlen != m->boundary.len ||
		    memcmp(val, m->boundary.data, vlen) != 0)
			ambiguous = true;
	}
	if (!found || ambiguous)
		mime8_ctype_opaque(m, MIME8_R_NO_BOUNDARY);
	else if (mime8_ascii_eq(sub, slen, "digest"))
		m->ent.ctype = MIME8_CT_DIGEST;
	else
		m->ent.ctype = MIME8_CT_MULTIPART;
	return;
bad:
	if (multipart)
		mime8_ctype_opaque(m, MIME8_R_NO_BOUNDARY);
	else if (message)
		mime8_ctype_opaque(m, MIME8_R_MESSAGE);
	else
		m->ent.ctype = MIME8_CT_LEAF;
}

/* Content-Transfer-Encoding (RFC 2045 6.1): one token. */
static enum mime8_enc
mime8_parse_cte(struct mime8 *m)
{
	char	*p, *end, *tok;
	size_t	 len;

	end = m->field.data + m->field.len;
	p = memchr(m->field.data, ':', m->field.len);
	if (p == NULL)
		log_panic("mime8: Content-Transfer-Encoding without a colon");
	p++;
	mime8_skip_cfws(&p, end);
	if (!mime8_lex_token(&p, end, &tok, &len))
		return MIME8_E_OTHER;
	mime8_skip_cfws(&p, end);
	if (p != end)
		return MIME8_E_OTHER;
	if (mime8_ascii_eq(tok, len, "7bit") ||
	    mime8_ascii_eq(tok, len, "8bit") ||
	    mime8_ascii_eq(tok, len, "binary"))
		return MIME8_E_IDENTITY;
	if (mime8_ascii_eq(tok, len, "quoted-printable") ||
	    mime8_ascii_eq(tok, len, "base64"))
		return MIME8_E_ENCODED;
	return MIME8_E_OTHER;
}

/* The field being read has ended: take what it says. */
static void
mime8_field_end(struct mime8 *m)
{
	enum mime8_enc	enc;

	switch (m->ent.field) {
	case MIME8_F_CTYPE:
		/* Which of two would the recipient believe?  Neither. */
		if (++m->ent.nctype > 1)
			mime8_ctype_opaque(m, MIME8_R_DUP_CTYPE);
		else if (m->ent.field_long)
			mime8_ctype_opaque(m, MIME8_R_LONG_CTYPE);
		else
			mime8_parse_ctype(m);
		break;
	case MIME8_F_CTE:
		enc = m->ent.field_long ? MIME8_E_OTHER : mime8_parse_cte(m);
		if (m->ent.enc == MIME8_E_NONE)
			m->ent.enc = enc;
		else if (m->ent.enc != enc)
			m->ent.enc = MIME8_E_OTHER;
		break;
	case MIME8_F_MIMEVER:
		m->ent.mimever = true;
		break;
	case MIME8_F_NONE:
	case MIME8_F_OTHER:
		break;
	}
	m->ent.swallow = false;
}

/*
 * A field name is printable, or 8-bit so that a mangled name counts as
 * an 8-bit header rather than as body text.
 */
static bool
mime8_is_name_char(uint8_t c)
{
	return c > ' ' && c != 0x7f && c != ':';
}

/*
 * A field line starts with a name, optional white space and a colon.
 * Sets *colon_r to the colon.
 */
static bool
mime8_field_line(const uint8_t *p, size_t len, size_t *colon_r,
    size_t *name_len_r)
{
	size_t	i, n;

	for (i = 0; i < len && mime8_is_name_char(p[i]); i++)
		;
	if (i == 0)
		return false;
	n = i;
	while (i < len && (p[i] == ' ' || p[i] == '\t'))
		i++;
	if (i == len || p[i] != ':')
		return false;
	*colon_r = i;
	*name_len_r = n;
	return true;
}

static void
mime8_entity_begin(struct mime8 *m, bool top, bool digest_part)
{
	memset(&m->ent, 0, sizeof(m->ent));
	m->ent.index = m->nent++;
	m->ent.top = top;
	m->ent.digest_part = digest_part;
	if (m->phase == MIME8_PH_CONVERT) {
		if (m->ent.index >= m->scan_nent)
			mime8_fail(m, MIME8_R_CHANGED);
		m->ent.convert = mime8_marked(m, m->ent.index);
	}
	m->where = MIME8_W_HEADER;
	m->body_reason = NULL;
	m->body_convert = false;
	buf_reset(&m->field);
}

static void
mime8_push(struct mime8 *m, const struct buf *boundary, bool digest)
{
	struct mime8_frame *f = &m->stack[m->depth++];

	f->digest = digest;
	f->blen = 0;
	f->boundary = NULL;
	if (boundary != NULL) {
		f->boundary = xmalloc(boundary->len);
		memcpy(f->boundary, boundary->data, boundary->len);
		f->blen = boundary->len;
	}
}

static void
mime8_pop(struct mime8 *m)
{
	struct mime8_frame *f = &m->stack[--m->depth];

	free(f->boundary);
	f->boundary = NULL;
}

/* The header section has ended: what is the body? */
static void
mime8_body_begin(struct mime8 *m)
{
	enum mime8_ctype ct = m->ent.ctype;
	bool	 identity;

	if (ct == MIME8_CT_DEFAULT)
		ct = m->ent.digest_part ? MIME8_CT_RFC822 : MIME8_CT_LEAF;
	identity = m->ent.enc == MIME8_E_NONE ||
	    m->ent.enc == MIME8_E_IDENTITY;
	m->where = MIME8_W_BODY;
	m->body_convert = false;
	memset(&m->qp, 0, sizeof(m->qp));
	m->qp.held = -1;
	switch (ct) {
	case MIME8_CT_MULTIPART:
	case MIME8_CT_DIGEST:
	case MIME8_CT_RFC822:
		/* RFC 2045 6.4: a composite is never encoded. */
		if (!identity)
			m->body_reason = MIME8_R_COMPOSITE_CTE;
		else if (m->depth >= MIME8_MAX_DEPTH)
			m->body_reason = MIME8_R_DEPTH;
		else if (ct == MIME8_CT_RFC822) {
			mime8_push(m, NULL, false);
			mime8_entity_begin(m, false, false);
		} else {
			mime8_push(m, &m->boundary, ct == MIME8_CT_DIGEST);
			m->body_reason = MIME8_R_PREAMBLE;
		}
		break;
	case MIME8_CT_OPAQUE:
		m->body_reason = m->ent.ctype_reason;
		break;
	case MIME8_CT_LEAF:
	case MIME8_CT_DEFAULT:
		if (m->ent.enc == MIME8_E_ENCODED)
			m->body_reason = MIME8_R_ENCODED;
		else if (!identity)
			m->body_reason = MIME8_R_UNKNOWN_CTE;
		else {
			m->body_reason = NULL;
			m->body_convert = m->ent.convert;
		}
		break;
	}
}

/*
 * End of a header section, at an empty line or at a line that is not a
 * field (nonfield: it is the first line of the body, and a field we add
 * needs an empty line after it).
 */
static void
mime8_header_end(struct mime8 *m, bool nonfield)
{
	bool	added = false;

	mime8_field_end(m);
	if (m->phase == MIME8_PH_CONVERT) {
		/* Pass 2 runs only when something gets converted. */
		if (m->ent.top && !m->ent.mimever) {
			mime8_out_str(m, "MIME-Version: 1.0\r\n");
			added = true;
		}
		if (m->ent.convert && m->ent.enc == MIME8_E_NONE) {
			mime8_out_str(m,
			    "Content-Transfer-Encoding: quoted-printable\r\n");
			added = true;
		}
		if (nonfield && added)
			mime8_out_str(m, "\r\n");
	}
	mime8_body_begin(m);
}

/*
 * Is the line (without its line end) a boundary line of an open
 * multipart, "--" boundary ["--"] followed by spaces and tabs only?  The
 * innermost match wins.  Sets *level_r to its frame and *close_r.
 */
static bool
mime8_boundary_find(const struct mime8 *m, const uint8_t *p, size_t len,
    unsigned int *level_r, bool *close_r)
{
	const struct mime8_frame *f;
	unsigned int	 k;
	size_t		 i;
	bool		 close;

	if (len < 3 || p[0] != '-' || p[1] != '-')
		return false;
	for (k = m->depth; k-- > 0;) {
		f = &m->stack[k];
		if (f->boundary == NULL || len - 2 < f->blen ||
		    memcmp(p + 2, f->boundary, f->blen) != 0)
			continue;
		i = 2 + f->blen;	/* UNSAFE: <= len, checked above */
		close = false;
		if (len - i >= 2 && p[i] == '-' && p[i + 1] == '-') {
			close = true;
			i += 2;
		}
		while (i < len && (p[i] == ' ' || p[i] == '\t'))
			i++;
		if (i != len)
			continue;
		*level_r = k;
		*close_r = close;
		return true;
	}
	return false;
}

/*
 * Could a line that begins with p[0..n) (no LF yet, n > 0) still turn out
 * to be a boundary line?
 */
static bool
mime8_boundary_prefix(const struct mime8 *m, const uint8_t *p, size_t n)
{
	const struct mime8_frame *f;
	unsigned int	 k;
	size_t		 i, c;

	if (p[0] != '-' || (n > 1 && p[1] != '-'))
		return false;
	for (k = 0; k < m->depth; k++) {
		f = &m->stack[k];
		if (f->boundary == NULL)
			continue;
		if (n <= 2)
			return true;
		c = n - 2 < f->blen ? n - 2 : f->blen;
		if (memcmp(p + 2, f->boundary, c) != 0)
			continue;
		i = 2 + c;
		if (i == n)
			return true;
		if (p[i] == '-') {
			if (i + 1 == n)
				return true;
			if (p[i + 1] != '-')
				continue;
			i += 2;
		}
		while (i < n && (p[i] == ' ' || p[i] == '\t'))
			i++;
		/* A CR last may be the start of the CRLF. */
		if (i == n || (i == n - 1 && p[i] == '\r'))
			return true;
	}
	return false;
}

/*
 * Is what a line beginning with p[0..n) (no LF yet, n > 0) is already
 * settled, whatever follows?  Then it need not be held: the rest can go
 * on in fragments, as it arrives.  Boundary lines and empty lines must
 * be seen whole; so must a header line that is not a field, because it
 * ends the header section and what the body is decides whether the line
 * is a boundary line.  A field or continuation line is settled once its
 * name and colon (or first byte) are in; a body line once it cannot be
 * a boundary line.
 */
static bool
mime8_decided(const struct mime8 *m, const uint8_t *p, size_t n)
{
	size_t	i;

	if (m->depth > 0 && mime8_boundary_prefix(m, p, n))
		return false;
	if (m->where == MIME8_W_BODY)
		return true;
	if ((p[0] == ' ' || p[0] == '\t') && m->ent.field != MIME8_F_NONE)
		return true;
	for (i = 0; i < n && mime8_is_name_char(p[i]); i++)
		;
	if (i == 0 || i == n)
		return false;
	while (i < n && (p[i] == ' ' || p[i] == '\t'))
		i++;
	return i < n && p[i] == ':';
}

/*
 * A boundary line of the multipart in frame k: it ends the current part
 * and every part nested in it (RFC 2046 5.1.2), then opens the next part
 * or, as a close delimiter, the epilogue.
 */
static void
mime8_on_boundary(struct mime8 *m, unsigned int k, bool close,
    const uint8_t *p, size_t len)
{
	if (m->where == MIME8_W_HEADER)
		mime8_field_end(m);
	else if (m->body_convert)
		mime8_qp_end(m);
	while (m->depth > k + 1)
		mime8_pop(m);
	mime8_pass(m, p, len);
	if (close) {
		mime8_pop(m);
		m->where = MIME8_W_BODY;
		m->body_reason = MIME8_R_PREAMBLE;
		m->body_convert = false;
	} else
		mime8_entity_begin(m, false, m->stack[k].digest);
}

/* A field line begins: the previous field ends. */
static void
mime8_field_begin(struct mime8 *m, const uint8_t *p, size_t colon,
    size_t name_len)
{
	const char *name = (const char *)p;

	mime8_field_end(m);
	buf_reset(&m->field);
	m->ent.field_long = false;
	if (mime8_ascii_eq(name, name_len, "Content-Type"))
		m->ent.field = MIME8_F_CTYPE;
	else if (mime8_ascii_eq(name, name_len, "Content-Transfer-Encoding"))
		m->ent.field = MIME8_F_CTE;
	else if (m->ent.top && mime8_ascii_eq(name, name_len, "MIME-Version"))
		m->ent.field = MIME8_F_MIMEVER;
	else
		m->ent.field = MIME8_F_OTHER;
	if (m->phase == MIME8_PH_CONVERT && m->ent.convert &&
	    m->ent.field == MIME8_F_CTE) {
		/* The name as it was, the value replaced. */
		mime8_pass(m, p, colon + 1);
		mime8_out_str(m, " quoted-printable\r\n");
		m->ent.swallow = true;
	}
}

/*
 * The first fragment of a line: the whole line with its line end when
 * last, else the first bytes of a line that is longer than
 * MIME8_LINE_HOLD or whose kind mime8_decided() found settled.
 */
static void
mime8_line_first(struct mime8 *m, const uint8_t *p, size_t len, bool last)
{
	unsigned int	 level;
	size_t		 clen = len, colon, name_len;
	bool		 close;

	if (last && clen > 0 && p[clen - 1] == '\n') {
		clen--;
		if (clen > 0 && p[clen - 1] == '\r')
			clen--;
	}
	m->sink = MIME8_S_NONE;
	for (;;) {
		if (last && m->depth > 0 &&
		    mime8_boundary_find(m, p, clen, &level, &close)) {
			mime8_on_boundary(m, level, close, p, len);
			return;
		}
		if (m->where == MIME8_W_BODY) {
			m->sink = MIME8_S_BODY;
			mime8_body(m, p, len);
			return;
		}
		if (last && clen == 0) {
			mime8_header_end(m, false);
			mime8_pass(m, p, len);
			return;
		}
		if ((p[0] == ' ' || p[0] == '\t') &&
		    m->ent.field != MIME8_F_NONE) {
			m->sink = MIME8_S_FIELD;
			mime8_field_bytes(m, p, len);
			return;
		}
		if (mime8_field_line(p, clen, &colon, &name_len)) {
			mime8_field_begin(m, p, colon, name_len);
			m->sink = MIME8_S_FIELD;
			mime8_field_bytes(m, p, len);
			return;
		}
		/* Not a field: the body begins; look at the line again. */
		mime8_header_end(m, true);
		if (mime8_stopped(m))
			return;
	}
}

/* A later fragment of a line. */
static void
mime8_line_more(struct mime8 *m, const uint8_t *p, size_t len)
{
	switch (m->sink) {
	case MIME8_S_FIELD:
		mime8_field_bytes(m, p, len);
		break;
	case MIME8_S_BODY:
		mime8_body(m, p, len);
		break;
	case MIME8_S_NONE:
		log_panic("mime8: line fragment without a sink");
	}
}

static void
mime8_hold(struct mime8 *m, const uint8_t *p, size_t len)
{
	if (buf_append(&m->hold, p, len) == -1)
		log_panic("mime8: line hold overflow");
}

/* The held line goes on as fragments from here. */
static void
mime8_hold_release(struct mime8 *m)
{
	mime8_line_first(m, (const uint8_t *)m->hold.data, m->hold.len, false);
	buf_reset(&m->hold);
	m->hold_check = 0;
	m->in_frag = true;
}

/*
 * Splits the input into lines, held whole while their kind is not
 * settled (at most MIME8_LINE_HOLD bytes), and fragments of the others.
 */
static void
mime8_feed(struct mime8 *m, const uint8_t *data, size_t len)
{
	const uint8_t	*lf;
	size_t		 i, n, room, look;

	m->nbytes += len;
	for (i = 0; i < len; i++) {
		m->hash ^= data[i];
		m->hash *= MIME8_FNV_PRIME;
	}
	while (len > 0 && !mime8_stopped(m)) {
		if (m->in_frag) {
			lf = memchr(data, '\n', len);
			n = lf == NULL ? len : (size_t)(lf - data) + 1;
			mime8_line_more(m, data, n);
			if (lf != NULL)
				m->in_frag = false;
			data += n;
			len -= n;
			continue;
		}
		/* The LF of a line that fits is at most room bytes on. */
		room = MIME8_LINE_HOLD - m->hold.len;
		look = len <= room ? len : room + 1;	/* UNSAFE: room small */
		lf = memchr(data, '\n', look);
		if (lf != NULL) {
			n = (size_t)(lf - data) + 1;
			if (m->hold.len == 0)
				mime8_line_first(m, data, n, true);
			else {
				mime8_hold(m, data, n);
				mime8_line_first(m,
				    (const uint8_t *)m->hold.data,
				    m->hold.len, true);
				buf_reset(&m->hold);
				m->hold_check = 0;
			}
		} else if (len > room) {
			/* Too long to be anything but text. */
			n = room;
			mime8_hold(m, data, n);
			mime8_hold_release(m);
		} else {
			n = len;
			mime8_hold(m, data, n);
			/*
			 * Looking again only when the held line has doubled
			 * keeps a line fed a byte at a time linear.  When it
			 * is released does not change the output.
			 */
			if (m->hold.len >= m->hold_check) {
				if (mime8_decided(m,
				    (const uint8_t *)m->hold.data, m->hold.len))
					mime8_hold_release(m);
				else	/* UNSAFE: <= 2 * MIME8_LINE_HOLD */
					m->hold_check = 2 * m->hold.len;
			}
		}
		data += n;
		len -= n;
	}
}

/* End of input: the last line may lack its line end. */
static void
mime8_finish(struct mime8 *m)
{
	if (mime8_stopped(m))
		return;
	if (m->in_frag)
		m->in_frag = false;
	else if (m->hold.len > 0) {
		mime8_line_first(m, (const uint8_t *)m->hold.data,
		    m->hold.len, true);
		buf_reset(&m->hold);
	}
	if (m->where == MIME8_W_BODY && m->body_convert)
		mime8_qp_end(m);
}

/* Back to the start of the message, for a pass. */
static void
mime8_reset(struct mime8 *m)
{
	while (m->depth > 0)
		mime8_pop(m);
	buf_reset(&m->hold);
	buf_reset(&m->boundary);
	m->hold_check = 0;
	m->in_frag = false;
	m->sink = MIME8_S_NONE;
	m->nent = 0;
	m->nbytes = 0;
	m->hash = MIME8_FNV_OFFSET;
	memset(&m->qp, 0, sizeof(m->qp));
	m->qp.held = -1;
	mime8_entity_begin(m, true, false);
}

struct mime8 *
mime8_new(void)
{
	struct mime8 *m;

	m = xcalloc(1, sizeof(*m));
	buf_init(&m->hold, 0, MIME8_LINE_HOLD + 1);
	buf_init(&m->field, 0, MIME8_FIELD_MAX);
	buf_init(&m->boundary, 0, MIME8_FIELD_MAX);
	m->phase = MIME8_PH_SCAN;
	mime8_reset(m);
	return m;
}

void
mime8_free(struct mime8 **mp)
{
	struct mime8 *m = *mp;

	if (m == NULL)
		return;
	while (m->depth > 0)
		mime8_pop(m);
	buf_deinit(&m->hold);
	buf_deinit(&m->field);
	buf_deinit(&m->boundary);
	free(m->conv);
	free(m);
	*mp = NULL;
}

int
mime8_scan(struct mime8 *m, const uint8_t *data, size_t len,
    const char **error_r)
{
	(void)error_r;
	if (m->phase != MIME8_PH_SCAN)
		log_panic("mime8_scan after mime8_scan_end");
	mime8_feed(m, data, len);
	return 0;
}

int
mime8_scan_end(struct mime8 *m, const char **error_r)
{
	if (m->phase != MIME8_PH_SCAN)
		log_panic("mime8_scan_end called twice");
	mime8_finish(m);
	if (m->error != NULL) {
		m->phase = MIME8_PH_DONE;
		*error_r = m->error;
		return -1;
	}
	if (!m->has8) {
		m->phase = MIME8_PH_DONE;
		return 0;
	}
	m->scan_nent = m->nent;
	m->scan_nbytes = m->nbytes;
	m->scan_hash = m->hash;
	m->phase = MIME8_PH_CONVERT;
	mime8_reset(m);
	return 1;
}

int
mime8_convert(struct mime8 *m, const uint8_t *data, size_t len,
    struct buf *out, const char **error_r)
{
	if (m->phase != MIME8_PH_CONVERT)
		log_panic("mime8_convert without a conversion pending");
	m->out = out;
	mime8_feed(m, data, len);
	m->out = NULL;
	if (m->fail != NULL) {
		*error_r = m->fail;
		return -1;
	}
	return 0;
}

int
mime8_convert_end(struct mime8 *m, struct buf *out, const char **error_r)
{
	if (m->phase != MIME8_PH_CONVERT)
		log_panic("mime8_convert_end without a conversion pending");
	m->out = out;
	mime8_finish(m);
	m->out = NULL;
	m->phase = MIME8_PH_DONE;
	if (m->fail == NULL && (m->nent != m->scan_nent ||
	    m->nbytes != m->scan_nbytes || m->hash != m->scan_hash))
		mime8_fail(m, MIME8_R_CHANGED);
	if (m->fail != NULL) {
		*error_r = m->fail;
		return -1;
	}
	return 0;
}
