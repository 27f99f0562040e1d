/* SPDX-License-Identifier: ISC */
/*
 * The IMAP values of the MIME module (mime.h): ENVELOPE from a header
 * section, with an RFC 5322 address parser that keeps going after
 * errors, and BODY / BODYSTRUCTURE from a tree made by mime_parse() (RFC
 * 3501 7.4.2, RFC 9051 7.5.2).  Strings are written with imap_str, so
 * what is quoted and what is a literal follows the session's UTF-8 state.
 * Where the RFCs leave the form open (what a multipart without parts or a
 * message part whose message was not parsed looks like, the MISSING_*
 * markers), this writes what Dovecot writes, so that clients that moved
 * from it see the same structures.
 */
#include "config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "buf.h"
#include "imap_str.h"
#include "mime.h"
#include "mime_int.h"

#include "banned.h"

/* ---- ENVELOPE (RFC 3501 7.4.2) ------------------------------------------ */

/*
 * An nstring of a field's value unfolded and trimmed (tmp is scratch);
 * NIL when the field is absent.
 */
static int
mime_env_nstring(struct buf *out, const struct mime_field *f,
    struct buf *tmp, unsigned flags)
{
	if (f->name == NULL)
		return imap_str_nil(out);
	buf_reset(tmp);
	if (mime_header_unfold(tmp, f->value, f->value_len) == -1)
		return -1;
	return imap_str_quoted_or_literal(out, tmp->data, tmp->len, flags);
}

enum mime_atok_type {
	MIME_ATOK_END,
	MIME_ATOK_ATOM,		/* p, len: the atom */
	MIME_ATOK_QUOTED,	/* p, len: inside the quotes, as written */
	MIME_ATOK_DOMLIT,	/* p, len: "[...]" with the brackets */
	MIME_ATOK_SPECIAL,	/* c */
};

struct mime_atok {
	enum mime_atok_type	 type;
	char			 c;
	const char		*p;
	size_t			 len;
	bool			 ws;	/* space or comment before it */
};

/* The tokenizer of RFC 5322 addresses over one field value. */
struct mime_alex {
	const char	*p;
	const char	*end;
	const char	*comment;	/* the first comment since a reset */
	size_t		 comment_len;
};

static bool
mime_is_addr_special(char c)
{
	switch (c) {
	case '(': case ')': case '<': case '>': case '[': case ']': case ':':
	case ';': case '@': case ',': case '.': case '"':
		return true;
	default:
		return false;
	}
}

static void
mime_alex_next(struct mime_alex *lx, struct mime_atok *t)
{
	const char	*p = lx->p, *end = lx->end, *start;

	t->ws = false;
	while (p < end) {
		if (mime_is_wsp(*p) || *p == '\r' || *p == '\n') {
			p++;
			t->ws = true;
		} else if (*p == '(') {
			start = p;
			p = mime_skip_comment(p, end);
			if (lx->comment == NULL) {
				lx->comment = start + 1;
				lx->comment_len = (size_t)(p - start - 1);
				if (p[-1] == ')' && lx->comment_len > 0)
					lx->comment_len--;
			}
			t->ws = true;
		} else
			break;
	}
	if (p >= end) {
		t->type = MIME_ATOK_END;
		lx->p = p;
		return;
	}
	start = p;
	if (*p == '"') {
		for (p++; p < end && *p != '"'; p++) {
			if (*p == '\\' && p + 1 < end)
				p++;
		}
		t->type = MIME_ATOK_QUOTED;
		t->p = start + 1;
		t->len = (size_t)(p - start - 1);
		if (p < end)
			p++;
	} else if (*p == '[') {
		while (p < end && *p != ']')
			p++;
		if (p < end)
			p++;
		t->type = MIME_ATOK_DOMLIT;
		t->p = start;
		t->len = (size_t)(p - start);
	} else if (mime_is_addr_special(*p)) {
		t->type = MIME_ATOK_SPECIAL;
		t->c = *p++;
	} else {
		while (p < end && !mime_is_addr_special(*p) &&
		    !mime_is_wsp(*p) && *p != '\r' && *p != '\n')
			p++;
		t->type = MIME_ATOK_ATOM;
		t->p = start;
		t->len = (size_t)(p - start);
	}
	lx->p = p;
}

static inline bool
mime_atok_is(const struct mime_atok *t, char c)
{
	return t->type == MIME_ATOK_SPECIAL && t->c == c;
}

/* Appends a word's text: a quoted string's content with pairs undone. */
static int
mime_atok_append(struct buf *b, const struct mime_atok *t)
{
	size_t	i;
	char	c;

	if (t->type != MIME_ATOK_QUOTED)
		return buf_append(b, t->p, t->len);
	for (i = 0; i < t->len; i++) {
		c = t->p[i];
		if (c == '\r' || c == '\n')
			continue;	/* folding */
		if (c == '\\' && i + 1 < t->len)
			c = t->p[++i];
		if (buf_append_byte(b, (uint8_t)c) == -1)
			return -1;
	}
	return 0;
}

/* The scratch of one address list. */
struct mime_addr_bufs {
	struct buf	name;
	struct buf	route;
	struct buf	local;
	struct buf	domain;
};

/* "(" name SP adl SP mailbox SP host ")"; NULL bufs are NIL. */
static int
mime_addr_write(struct buf *out, const struct buf *name,
    const struct buf *route, const char *local, size_t local_len,
    const char *domain, size_t domain_len, unsigned flags)
{
	if (buf_append_byte(out, '(') == -1 ||
	    (name != NULL && name->len > 0 ?
	    imap_str_quoted_or_literal(out, name->data, name->len, flags) :
	    imap_str_nil(out)) == -1 ||
	    buf_append_byte(out, ' ') == -1 ||
	    (route != NULL && route->len > 0 ?
	    imap_str_quoted_or_literal(out, route->data, route->len, flags) :
	    imap_str_nil(out)) == -1 ||
	    buf_append_byte(out, ' ') == -1 ||
	    imap_str_nstring(out, local, local_len, flags) == -1 ||
	    buf_append_byte(out, ' ') == -1 ||
	    imap_str_nstring(out, domain, domain_len, flags) == -1 ||
	    buf_append_byte(out, ')') == -1)
		return -1;
	return 0;
}

#define MIME_MISSING_MAILBOX	"MISSING_MAILBOX"
#define MIME_MISSING_DOMAIN	"MISSING_DOMAIN"

/* A mailbox from the scratch bufs, the missing parts marked. */
static int
mime_addr_emit(struct buf *out, struct mime_addr_bufs *ab,
    const struct buf *name, unsigned flags)
{
	const char	*l = ab->local.data, *d = ab->domain.data;
	size_t		 llen = ab->local.len, dlen = ab->domain.len;

	if (llen == 0) {
		l = MIME_MISSING_MAILBOX;
		llen = sizeof(MIME_MISSING_MAILBOX) - 1;
	}
	if (dlen == 0) {
		d = MIME_MISSING_DOMAIN;
		dlen = sizeof(MIME_MISSING_DOMAIN) - 1;
	}
	return mime_addr_write(out, name, &ab->route, l, llen, d, dlen, flags);
}

/* Reads a domain (atoms, dots, literals) into b; t is its first token. */
static int
mime_addr_domain(struct mime_alex *lx, struct mime_atok *t, struct buf *b)
{
	while (t->type == MIME_ATOK_ATOM || t->type == MIME_ATOK_DOMLIT ||
	    mime_atok_is(t, '.')) {
		if ((t->type == MIME_ATOK_SPECIAL ? buf_append_byte(b, '.') :
		    buf_append(b, t->p, t->len)) == -1)
			return -1;
		mime_alex_next(lx, t);
	}
	return 0;
}

/* Skips tokens up to ',' or ';' or the end. */
static void
mime_addr_skip(struct mime_alex *lx, struct mime_atok *t)
{
	while (t->type != MIME_ATOK_END && !mime_atok_is(t, ',') &&
	    !mime_atok_is(t, ';'))
		mime_alex_next(lx, t);
}

/*
 * Parses the address list in v[0..len) and writes its addresses (no
 * surrounding parentheses) to out; *count_r is how many.
 */
static int
mime_addr_list(struct buf *out, const char *v, size_t len,
    struct mime_addr_bufs *ab, unsigned flags, unsigned *count_r)
{
	struct mime_alex	 lx = { v, v + len, NULL, 0 };
	struct mime_atok	 t;
	bool			 in_group = false, words;

	*count_r = 0;
	mime_alex_next(&lx, &t);
	while (t.type != MIME_ATOK_END) {
		if (mime_atok_is(&t, ',')) {
			mime_alex_next(&lx, &t);
			continue;
		}
		if (mime_atok_is(&t, ';')) {
			if (in_group) {
				if (mime_addr_write(out, NULL, NULL, NULL, 0,
				    NULL, 0, flags) == -1)
					return -1;
				(*count_r)++;
				in_group = false;
			}
			mime_alex_next(&lx, &t);
			continue;
		}
		buf_reset(&ab->name);
		buf_reset(&ab->route);
		buf_reset(&ab->local);
		buf_reset(&ab->domain);
		lx.comment = NULL;
		/* A phrase, or a local part: words and dots. */
		words = false;
		while (t.type == MIME_ATOK_ATOM || t.type == MIME_ATOK_QUOTED ||
		    mime_atok_is(&t, '.')) {
			if (t.ws && ab->name.len > 0 &&
			    buf_append_byte(&ab->name, ' ') == -1)
				return -1;
			if (t.type == MIME_ATOK_SPECIAL) {
				if (buf_append_byte(&ab->name, '.') == -1 ||
				    buf_append_byte(&ab->local, '.') == -1)
					return -1;
			} else if (mime_atok_append(&ab->name, &t) == -1 ||
			    mime_atok_append(&ab->local, &t) == -1)
				return -1;
			words = true;
			mime_alex_next(&lx, &t);
		}
		if (mime_atok_is(&t, ':') && !in_group) {
			/* Group start: (NIL NIL "name" NIL). */
			if (mime_addr_write(out, NULL, NULL, ab->name.data,
			    ab->name.len, NULL, 0, flags) == -1)
				return -1;
			(*count_r)++;
			in_group = true;
			mime_alex_next(&lx, &t);
			continue;
		}
		if (mime_atok_is(&t, '<')) {
			/* name-addr: [phrase] "<" [route ":"] addr-spec ">" */
			buf_reset(&ab->local);
			mime_alex_next(&lx, &t);
			while (mime_atok_is(&t, '@') || mime_atok_is(&t, ',')) {
				if (buf_append_byte(&ab->route,
				    (uint8_t)t.c) == -1)
					return -1;
				mime_alex_next(&lx, &t);
				if (mime_addr_domain(&lx, &t, &ab->route) == -1)
					return -1;
			}
			if (ab->route.len > 0) {
				/* Only a route that ends with ':' is one. */
				if (mime_atok_is(&t, ':'))
					mime_alex_next(&lx, &t);
				else
					buf_reset(&ab->route);
			}
			while (t.type == MIME_ATOK_ATOM ||
			    t.type == MIME_ATOK_QUOTED ||
			    mime_atok_is(&t, '.')) {
				if ((t.type == MIME_ATOK_SPECIAL ?
				    buf_append_byte(&ab->local, '.') :
				    mime_atok_append(&ab->local, &t)) == -1)
					return -1;
				mime_alex_next(&lx, &t);
			}
			if (mime_atok_is(&t, '@')) {
				mime_alex_next(&lx, &t);
				if (mime_addr_domain(&lx, &t,
				    &ab->domain) == -1)
					return -1;
			}
			while (t.type != MIME_ATOK_END &&
			    !mime_atok_is(&t, '>') && !mime_atok_is(&t, ',') &&
			    !mime_atok_is(&t, ';'))
				mime_alex_next(&lx, &t);
			if (mime_atok_is(&t, '>'))
				mime_alex_next(&lx, &t);
			if (mime_addr_emit(out, ab, &ab->name, flags) == -1)
				return -1;
			(*count_r)++;
			mime_addr_skip(&lx, &t);
			continue;
		}
		if (mime_atok_is(&t, '@')) {
			/* addr-spec; a comment in it is the name. */
			mime_alex_next(&lx, &t);
			if (mime_addr_domain(&lx, &t, &ab->domain) == -1)
				return -1;
			mime_addr_skip(&lx, &t);
			buf_reset(&ab->name);
			if (lx.comment != NULL) {
				mime_trim(&lx.comment, &lx.comment_len);
				if (buf_append(&ab->name, lx.comment,
				    lx.comment_len) == -1)
					return -1;
			}
			if (mime_addr_emit(out, ab, &ab->name, flags) == -1)
				return -1;
			(*count_r)++;
			continue;
		}
		if (words && (t.type == MIME_ATOK_END ||
		    mime_atok_is(&t, ',') || mime_atok_is(&t, ';'))) {
			/* A lone local part. */
			if (mime_addr_emit(out, ab, NULL, flags) == -1)
				return -1;
			(*count_r)++;
			continue;
		}
		/* Anything else up to the next comma is not an address. */
		if (!words)
			mime_alex_next(&lx, &t);
		mime_addr_skip(&lx, &t);
	}
	if (in_group) {
		if (mime_addr_write(out, NULL, NULL, NULL, 0, NULL, 0,
		    flags) == -1)
			return -1;
		(*count_r)++;
	}
	return 0;
}

/* "(" addresses ")" or NIL; *count_r: how many were written. */
static int
mime_env_addrs(struct buf *out, const struct mime_field *f,
    struct mime_addr_bufs *ab, unsigned flags, unsigned *count_r)
{
	size_t	old = out->len;

	*count_r = 0;
	if (f->name != NULL) {
		if (buf_append_byte(out, '(') == -1 ||
		    mime_addr_list(out, f->value, f->value_len, ab, flags,
		    count_r) == -1 || buf_append_byte(out, ')') == -1)
			return -1;
		if (*count_r > 0)
			return 0;
		buf_truncate(out, old);
	}
	return imap_str_nil(out);
}

enum {
	MIME_ENV_DATE,
	MIME_ENV_SUBJECT,
	MIME_ENV_FROM,
	MIME_ENV_SENDER,
	MIME_ENV_REPLY_TO,
	MIME_ENV_TO,
	MIME_ENV_CC,
	MIME_ENV_BCC,
	MIME_ENV_IN_REPLY_TO,
	MIME_ENV_MESSAGE_ID,
	MIME_ENV_N
};

static int
mime_envelope_write(struct buf *out, const char *hdr, size_t hdr_len,
    unsigned flags, struct buf *tmp, struct mime_addr_bufs *ab)
{
	static const char *const names[MIME_ENV_N] = {
		"date", "subject", "from", "sender", "reply-to", "to", "cc",
		"bcc", "in-reply-to", "message-id",
	};
	struct mime_field	 fields[MIME_ENV_N], f;
	struct mime_header_iter	 it;
	unsigned		 i, n;

	memset(fields, 0, sizeof(fields));
	mime_header_iter_init(&it, hdr, hdr_len);
	while (mime_header_iter_next(&it, &f)) {
		for (i = 0; i < MIME_ENV_N; i++) {
			if (fields[i].name == NULL &&
			    mime_eq_icase(f.name, f.name_len, names[i])) {
				fields[i] = f;
				break;
			}
		}
	}
	if (buf_append_byte(out, '(') == -1 ||
	    mime_env_nstring(out, &fields[MIME_ENV_DATE], tmp, flags) == -1 ||
	    buf_append_byte(out, ' ') == -1 ||
	    mime_env_nstring(out, &fields[MIME_ENV_SUBJECT], tmp,
	    flags) == -1 ||
	    buf_append_byte(out, ' ') == -1)
		return -1;
	if (mime_env_addrs(out, &fields[MIME_ENV_FROM], ab, flags, &n) == -1)
		return -1;
	/* RFC 3501: sender and reply-to absent or empty are from. */
	for (i = MIME_ENV_SENDER; i <= MIME_ENV_REPLY_TO; i++) {
		if (buf_append_byte(out, ' ') == -1 ||
		    mime_env_addrs(out, &fields[i], ab, flags, &n) == -1)
			return -1;
		if (n == 0) {
			buf_truncate(out, out->len - 3);	/* NIL */
			if (mime_env_addrs(out, &fields[MIME_ENV_FROM], ab,
			    flags, &n) == -1)
				return -1;
		}
	}
	for (i = MIME_ENV_TO; i <= MIME_ENV_BCC; i++) {
		if (buf_append_byte(out, ' ') == -1 ||
		    mime_env_addrs(out, &fields[i], ab, flags, &n) == -1)
			return -1;
	}
	if (buf_append_byte(out, ' ') == -1 ||
	    mime_env_nstring(out, &fields[MIME_ENV_IN_REPLY_TO], tmp,
	    flags) == -1 ||
	    buf_append_byte(out, ' ') == -1 ||
	    mime_env_nstring(out, &fields[MIME_ENV_MESSAGE_ID], tmp,
	    flags) == -1 ||
	    buf_append_byte(out, ')') == -1)
		return -1;
	return 0;
}

int
mime_envelope(struct buf *out, const char *hdr, size_t hdr_len,
    unsigned flags)
{
	struct mime_addr_bufs	ab;
	struct buf		tmp;
	size_t			old = out->len;
	int			ret;

	flags &= ~IMAP_STR_LITERAL8;
	/* Scratch never holds more than the header itself. */
	buf_init(&tmp, 0, hdr_len);
	buf_init(&ab.name, 0, hdr_len);
	buf_init(&ab.route, 0, hdr_len);
	buf_init(&ab.local, 0, hdr_len);
	buf_init(&ab.domain, 0, hdr_len);
	ret = mime_envelope_write(out, hdr, hdr_len, flags, &tmp, &ab);
	if (ret == -1)
		buf_truncate(out, old);
	buf_deinit(&tmp);
	buf_deinit(&ab.name);
	buf_deinit(&ab.route);
	buf_deinit(&ab.local);
	buf_deinit(&ab.domain);
	return ret;
}

/* ---- BODY / BODYSTRUCTURE (RFC 3501 7.4.2, RFC 9051 7.5.2) -------------- */

/* What a multipart without parts shows, as Dovecot writes it. */
#define MIME_BS_EMPTY_BODY \
	"(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0"
#define MIME_BS_EMPTY_ENVELOPE \
	"(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"
#define MIME_BS_EMPTY_EXT	" NIL NIL NIL NIL"

static int
mime_bs_str(struct buf *out, const struct mime_str *s, unsigned flags)
{
	return imap_str_nstring(out, s->data, s->len, flags);
}

/* body-fld-param: NIL or ("name" "value" ...). */
static int
mime_bs_params(struct buf *out, const struct mime_param *params, unsigned n,
    bool add_charset, unsigned flags)
{
	unsigned	i;

	if (n == 0 && !add_charset)
		return imap_str_nil(out);
	if (buf_append_byte(out, '(') == -1)
		return -1;
	for (i = 0; i < n; i++) {
		if ((i > 0 && buf_append_byte(out, ' ') == -1) ||
		    mime_bs_str(out, &params[i].imap_name, flags) == -1 ||
		    buf_append_byte(out, ' ') == -1 ||
		    mime_bs_str(out, &params[i].imap_value, flags) == -1)
			return -1;
	}
	if (add_charset && ((n > 0 && buf_append_byte(out, ' ') == -1) ||
	    buf_append_str(out, "\"charset\" \"us-ascii\"") == -1))
		return -1;
	return buf_append_byte(out, ')');
}

/* SP body-fld-dsp SP body-fld-lang SP body-fld-loc */
static int
mime_bs_ext_common(struct buf *out, const struct mime_part *p,
    unsigned flags)
{
	unsigned	i;

	if (buf_append_byte(out, ' ') == -1)
		return -1;
	if (p->disposition.data == NULL) {
		if (imap_str_nil(out) == -1)
			return -1;
	} else if (buf_append_byte(out, '(') == -1 ||
	    mime_bs_str(out, &p->disposition, flags) == -1 ||
	    buf_append_byte(out, ' ') == -1 ||
	    mime_bs_params(out, p->disp_params, p->ndisp_params, false,
	    flags) == -1 || buf_append_byte(out, ')') == -1)
		return -1;
	if (buf_append_byte(out, ' ') == -1)
		return -1;
	if (p->nlanguages == 0) {
		if (imap_str_nil(out) == -1)
			return -1;
	} else {
		if (buf_append_byte(out, '(') == -1)
			return -1;
		for (i = 0; i < p->nlanguages; i++) {
			if ((i > 0 && buf_append_byte(out, ' ') == -1) ||
			    mime_bs_str(out, &p->languages[i], flags) == -1)
				return -1;
		}
		if (buf_append_byte(out, ')') == -1)
			return -1;
	}
	if (buf_append_byte(out, ' ') == -1 ||
	    mime_bs_str(out, &p->location, flags) == -1)
		return -1;
	return 0;
}

static int
mime_bs_part(struct buf *out, const struct mime_part *top,
    const struct mime_part *p, bool ext, unsigned flags)
{
	static const struct mime_str	seven_bit = { "7bit", 4 };
	const struct mime_part		*m;
	unsigned			 i;
	bool				 msg_form;

	if (buf_append_byte(out, '(') == -1)
		return -1;
	if ((p->flags & MIME_PART_MULTIPART) != 0) {
		/* body-type-mpart: parts, subtype, extension data. */
		if (p->nchildren == 0) {
			if (buf_append_str(out, MIME_BS_EMPTY_BODY) == -1 ||
			    (ext && buf_append_str(out,
			    MIME_BS_EMPTY_EXT) == -1) ||
			    buf_append_byte(out, ')') == -1)
				return -1;
		}
		for (i = 0; i < p->nchildren; i++) {
			if (mime_bs_part(out, top, p->children[i], ext,
			    flags) == -1)
				return -1;
		}
		if (buf_append_byte(out, ' ') == -1 ||
		    mime_bs_str(out, &p->subtype, flags) == -1)
			return -1;
		if (ext && (buf_append_byte(out, ' ') == -1 ||
		    mime_bs_params(out, p->params, p->nparams, false,
		    flags) == -1 || mime_bs_ext_common(out, p, flags) == -1))
			return -1;
		return buf_append_byte(out, ')');
	}

	/* body-type-1part: the basic fields first. */
	if (mime_bs_str(out, &p->type, flags) == -1 ||
	    buf_append_byte(out, ' ') == -1 ||
	    mime_bs_str(out, &p->subtype, flags) == -1 ||
	    buf_append_byte(out, ' ') == -1 ||
	    mime_bs_params(out, p->params, p->nparams,
	    (p->flags & MIME_PART_TEXT) != 0 &&
	    mime_part_param(p, "charset") == NULL, flags) == -1 ||
	    buf_append_byte(out, ' ') == -1 ||
	    mime_bs_str(out, &p->id, flags) == -1 ||
	    buf_append_byte(out, ' ') == -1 ||
	    mime_bs_str(out, &p->description, flags) == -1 ||
	    buf_append_byte(out, ' ') == -1 ||
	    mime_bs_str(out, p->cte_name.data != NULL ? &p->cte_name :
	    &seven_bit, flags) == -1 ||
	    buf_append_byte(out, ' ') == -1 ||
	    imap_str_number(out, p->body_len) == -1)
		return -1;

	msg_form = (p->flags & MIME_PART_MESSAGE) != 0 &&
	    (mime_eq_icase(p->subtype.data, p->subtype.len, "rfc822") ||
	    (flags & MIME_BS_MESSAGE_GLOBAL) != 0);
	if (msg_form) {
		/* body-type-msg: envelope, body, lines. */
		m = p->message;
		if (buf_append_byte(out, ' ') == -1)
			return -1;
		if (m == NULL) {
			if (buf_append_str(out, MIME_BS_EMPTY_ENVELOPE " "
			    MIME_BS_EMPTY_BODY) == -1 ||
			    (ext && buf_append_str(out,
			    MIME_BS_EMPTY_EXT) == -1) ||
			    buf_append_byte(out, ')') == -1)
				return -1;
		} else if (mime_envelope(out, top->msg + m->hdr_off,
		    m->hdr_len, flags) == -1 ||
		    buf_append_byte(out, ' ') == -1 ||
		    mime_bs_part(out, top, m, ext, flags) == -1)
			return -1;
		if (buf_append_byte(out, ' ') == -1 ||
		    imap_str_number(out, mime_part_lines(p)) == -1)
			return -1;
	} else if ((p->flags & MIME_PART_TEXT) != 0) {
		if (buf_append_byte(out, ' ') == -1 ||
		    imap_str_number(out, mime_part_lines(p)) == -1)
			return -1;
	}
	if (ext && (buf_append_byte(out, ' ') == -1 ||
	    mime_bs_str(out, &p->md5, flags) == -1 ||
	    mime_bs_ext_common(out, p, flags) == -1))
		return -1;
	return buf_append_byte(out, ')');
}

int
mime_bodystructure(struct buf *out, const struct mime_part *root,
    bool extended, unsigned flags)
{
	size_t	old = out->len;

	/* Literal8 has no place in these values (RFC 3516 4.2). */
	flags &= ~IMAP_STR_LITERAL8;
	if (mime_bs_part(out, mime_part_top(root), root, extended,
	    flags) == -1) {
		buf_truncate(out, old);
		return -1;
	}
	return 0;
}

