/* SPDX-License-Identifier: ISC */
/*
 * FETCH responses: renders the attributes of one parsed FETCH command
 * for one message into the session's output buffer (imap_fetch.h).
 * Index items (FLAGS, UID, INTERNALDATE, RFC822.SIZE) come from the
 * struct imap_msg fields and never touch the message; content items load
 * it through imap_msg (once per message) and parse it only when they
 * need its structure: BODY[] and RFC822 are the stored bytes as they
 * are.  The message bytes are the store's, trusted only as bytes: the
 * MIME functions bound everything built from them, and out's hard
 * maximum bounds the response (and the scratch memory used on the way).
 */
#include "config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/imap_str.h"
#include "common/mime.h"
#include "common/xmalloc.h"

#include "imap_fetch.h"
#include "imap_msg.h"
#include "imap_parse.h"

#include "common/banned.h"

/*
 * Longest section part number text ("1.2.3..."): a part path cannot be
 * longer than the MIME nesting allows (MIME_HARD_MAX_DEPTH plus the
 * step into each embedded message), so a longer one names no part.
 */
#define IMAP_FETCH_SPEC_MAX	(2 * (MIME_HARD_MAX_DEPTH + 2) * 11)
/* HEADER.FIELDS names kept on the stack; more are allocated. */
#define IMAP_FETCH_FIELDS_STACK	64

/* State of one imap_fetch_msg() call. */
struct imap_fetch_run {
	struct buf			*out;
	struct imap_msg			*m;
	const struct imap_fetch_opts	*o;
	struct buf			 tmp;	/* scratch, when tmp_init */
	bool				 tmp_init;
	enum imap_fetch_error		 kind;
	const char			*error;
};

static const char *const imap_fetch_months[12] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	"Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
};

bool
imap_fetch_sets_seen(const struct imap_fetch *fetch)
{
	const struct imap_fetch_att	*a;
	unsigned int			 i;

	for (i = 0; i < fetch->natts; i++) {
		a = &fetch->atts[i];
		switch (a->item) {
		case IMAP_FETCH_RFC822:
		case IMAP_FETCH_RFC822_TEXT:
			return true;
		case IMAP_FETCH_BODY_SECTION:
		case IMAP_FETCH_BINARY:
			if (!a->peek)
				return true;
			break;
		default:
			break;
		}
	}
	return false;
}

bool
imap_fetch_needs_content(const struct imap_fetch *fetch)
{
	unsigned int	i;

	for (i = 0; i < fetch->natts; i++) {
		switch (fetch->atts[i].item) {
		case IMAP_FETCH_FLAGS:
		case IMAP_FETCH_UID:
		case IMAP_FETCH_INTERNALDATE:
		case IMAP_FETCH_RFC822_SIZE:
			break;
		default:
			return true;
		}
	}
	return false;
}

/* Two decimal digits. */
static void
imap_fetch_2d(char *p, unsigned int n)
{
	p[0] = (char)('0' + n / 10 % 10);
	p[1] = (char)('0' + n % 10);
}

int
imap_fetch_date(struct buf *out, time_t t, int zone)
{
	char		 s[28];	/* "dd-Mon-yyyy hh:mm:ss +zzzz" quoted */
	struct tm	 tm;
	time_t		 local;
	unsigned int	 z, year;

	/* A zone beyond +-24 h is the index's bug; show it as UTC. */
	if (zone <= -24 * 60 || zone >= 24 * 60)
		zone = 0;
	local = t + (time_t)zone * 60;
	if (gmtime_r(&local, &tm) == NULL || tm.tm_year + 1900 < 0 ||
	    tm.tm_year + 1900 > 9999) {
		local = 0;
		zone = 0;
		(void)gmtime_r(&local, &tm);
	}
	year = (unsigned int)(tm.tm_year + 1900);
	s[0] = '"';
	imap_fetch_2d(s + 1, (unsigned int)tm.tm_mday);
	s[3] = '-';
	memcpy(s + 4, imap_fetch_months[tm.tm_mon], 3);
	s[7] = '-';
	imap_fetch_2d(s + 8, year / 100);
	imap_fetch_2d(s + 10, year % 100);
	s[12] = ' ';
	imap_fetch_2d(s + 13, (unsigned int)tm.tm_hour);
	s[15] = ':';
	imap_fetch_2d(s + 16, (unsigned int)tm.tm_min);
	s[18] = ':';
	imap_fetch_2d(s + 19, (unsigned int)tm.tm_sec);
	s[21] = ' ';
	s[22] = zone < 0 ? '-' : '+';
	z = (unsigned int)(zone < 0 ? -zone : zone);
	imap_fetch_2d(s + 23, z / 60);
	imap_fetch_2d(s + 25, z % 60);
	s[27] = '"';
	return buf_append(out, s, sizeof(s));
}

static int
imap_fetch_flags(struct buf *out, const struct imap_msg *m,
    const struct imap_fetch_opts *o)
{
	static const struct {
		unsigned int	 bit;
		const char	*name;
		size_t		 len;
	} sys[] = {
		{ IMAP_FLAG_ANSWERED, "\\Answered", 9 },
		{ IMAP_FLAG_FLAGGED, "\\Flagged", 8 },
		{ IMAP_FLAG_DELETED, "\\Deleted", 8 },
		{ IMAP_FLAG_SEEN, "\\Seen", 5 },
		{ IMAP_FLAG_DRAFT, "\\Draft", 6 },
		{ IMAP_FLAG_RECENT, "\\Recent", 7 },
	};
	unsigned int	flags = m->flags, i;
	bool		sp = false;

	if (!o->show_recent)
		flags &= ~(unsigned int)IMAP_FLAG_RECENT;
	if (buf_append(out, "FLAGS (", 7) == -1)
		return -1;
	for (i = 0; i < N_ELEMENTS(sys); i++) {
		if ((flags & sys[i].bit) == 0)
			continue;
		if ((sp && buf_append_byte(out, ' ') == -1) ||
		    buf_append(out, sys[i].name, sys[i].len) == -1)
			return -1;
		sp = true;
	}
	for (i = 0; i < m->nkeywords; i++) {
		if ((sp && buf_append_byte(out, ' ') == -1) ||
		    buf_append_str(out, m->keywords[i]) == -1)
			return -1;
		sp = true;
	}
	return buf_append_byte(out, ')');
}

static void
imap_fetch_fail(struct imap_fetch_run *r, enum imap_fetch_error kind,
    const char *error)
{
	if (r->kind != IMAP_FETCH_E_NONE)
		return;
	r->kind = kind;
	r->error = error;
}

static int
imap_fetch_full(struct imap_fetch_run *r)
{
	imap_fetch_fail(r, IMAP_FETCH_E_FULL, "FETCH response too large");
	return -1;
}

/* The scratch buffer, emptied; bounded by what out can still take. */
static struct buf *
imap_fetch_tmp(struct imap_fetch_run *r)
{
	if (!r->tmp_init) {
		buf_init(&r->tmp, 0, r->out->max);
		r->tmp_init = true;
	} else
		buf_reset(&r->tmp);
	return &r->tmp;
}

/*
 * The content (1), gone (0: the caller writes NIL) or -1 (load failed).
 */
static int
imap_fetch_content(struct imap_fetch_run *r, const char **data_r,
    size_t *len_r)
{
	const char	*error;
	int		 ret;

	if ((ret = imap_msg_content(r->m, data_r, len_r, &error)) == -1)
		imap_fetch_fail(r, IMAP_FETCH_E_INTERNAL, error);
	return ret;
}

static int
imap_fetch_parse(struct imap_fetch_run *r, const struct mime_part **root_r)
{
	const char	*error;
	int		 ret;

	if ((ret = imap_msg_parse(r->m, root_r, &error)) == -1)
		imap_fetch_fail(r, IMAP_FETCH_E_INTERNAL, error);
	return ret;
}

/*
 * data[0..len) as the value of a section: cut to the partial, then a
 * literal (literal8 when binary and the bytes hold NUL), or "" if empty.
 */
static int
imap_fetch_literal(struct imap_fetch_run *r, const struct imap_fetch_att *a,
    const char *data, size_t len, bool binary)
{
	unsigned int	flags = 0;

	if (a->partial) {
		if (a->offset >= len)
			len = 0;
		else {
			data += a->offset;
			len -= (size_t)a->offset;
			if (a->count < len)
				len = (size_t)a->count;
		}
	}
	if (len == 0)
		return buf_append(r->out, "\"\"", 2) == -1 ?
		    imap_fetch_full(r) : 0;
	if (binary && memchr(data, '\0', len) != NULL)
		flags |= IMAP_STR_LITERAL8;
	if (imap_str_literal(r->out, data, len, flags) == -1)
		return imap_fetch_full(r);
	return 0;
}

/* "1.2.3" of a section into spec (IMAP_FETCH_SPEC_MAX); -1 if too long. */
static int
imap_fetch_spec(const struct imap_section *sec, char *spec, size_t *len_r)
{
	char		tmp[10];
	size_t		len = 0, n;
	unsigned int	i;
	uint32_t	v;

	for (i = 0; i < sec->nparts; i++) {
		v = sec->parts[i];
		n = sizeof(tmp);
		do {
			tmp[--n] = (char)('0' + v % 10);
			v /= 10;
		} while (v != 0 && n > 0);
		if (len + 1 + sizeof(tmp) - n > IMAP_FETCH_SPEC_MAX)
			return -1;
		if (i > 0)
			spec[len++] = '.';
		memcpy(spec + len, tmp + n, sizeof(tmp) - n);
		len += sizeof(tmp) - n;
	}
	*len_r = len;
	return 0;
}

/* HEADER.FIELDS (.NOT) of hdr[0..len) into the scratch buffer. */
static int
imap_fetch_fields(struct imap_fetch_run *r, const struct imap_section *sec,
    const char *hdr, size_t len, struct buf **tmp_r)
{
	const char	*stack[IMAP_FETCH_FIELDS_STACK], **names = stack;
	struct buf	*tmp = imap_fetch_tmp(r);
	unsigned int	 i;
	int		 ret;

	if (sec->nfields > IMAP_FETCH_FIELDS_STACK)
		names = xreallocarray(NULL, sec->nfields, sizeof(*names));
	for (i = 0; i < sec->nfields; i++)
		names[i] = sec->fields[i].data;
	ret = mime_header_fields(tmp, hdr, len, names, sec->nfields,
	    sec->spec == IMAP_SECTION_HEADER_FIELDS_NOT);
	if (names != stack)
		free(names);
	if (ret == -1)
		return imap_fetch_full(r);
	*tmp_r = tmp;
	return 0;
}

/*
 * BODY[section], RFC822, RFC822.HEADER, RFC822.TEXT: the value (after
 * the name and SP).
 */
static int
imap_fetch_body_section(struct imap_fetch_run *r,
    const struct imap_fetch_att *a, const struct imap_section *sec)
{
	const struct mime_part	*root;
	const char		*data;
	char			 spec[IMAP_FETCH_SPEC_MAX];
	size_t			 len, spec_len, off, n;
	enum mime_section	 what;
	struct buf		*tmp;
	int			 ret;

	/* BODY[]: the stored bytes as they are, no parse. */
	if (sec->nparts == 0 && sec->spec == IMAP_SECTION_ALL) {
		if ((ret = imap_fetch_content(r, &data, &len)) != 1)
			goto nil;
		return imap_fetch_literal(r, a, data, len, false);
	}
	if ((ret = imap_fetch_parse(r, &root)) != 1)
		goto nil;
	if (imap_fetch_spec(sec, spec, &spec_len) == -1)
		return imap_fetch_literal(r, a, NULL, 0, false);
	switch (sec->spec) {
	case IMAP_SECTION_ALL:
		what = MIME_SECTION_PART;
		break;
	case IMAP_SECTION_TEXT:
		what = MIME_SECTION_TEXT;
		break;
	case IMAP_SECTION_MIME:
		what = MIME_SECTION_MIME;
		break;
	default:
		what = MIME_SECTION_HEADER;
		break;
	}
	if (mime_section_range(root, spec, spec_len, what, &off, &n) != 1)
		return imap_fetch_literal(r, a, NULL, 0, false);
	data = root->msg + off;
	if (sec->spec == IMAP_SECTION_HEADER_FIELDS ||
	    sec->spec == IMAP_SECTION_HEADER_FIELDS_NOT) {
		if (imap_fetch_fields(r, sec, data, n, &tmp) == -1)
			return -1;
		return imap_fetch_literal(r, a, tmp->data, tmp->len, false);
	}
	return imap_fetch_literal(r, a, data, n, false);
nil:
	if (ret == -1)
		return -1;
	return imap_str_nil(r->out) == -1 ? imap_fetch_full(r) : 0;
}

/*
 * The bytes BINARY[part] shows, in *data_r and *len_r, decoded into the
 * scratch buffer when the part's encoding asks for it.  Returns 1, 0 when
 * the message is gone, -1 on error; a missing part gives 1 and no bytes.
 */
static int
imap_fetch_binary_data(struct imap_fetch_run *r,
    const struct imap_section *sec, bool size_only, const char **data_r,
    size_t *len_r, size_t *size_r)
{
	const struct mime_part	*root, *p;
	char			 spec[IMAP_FETCH_SPEC_MAX];
	const char		*data;
	size_t			 spec_len, len;
	struct buf		*tmp;
	int			 ret;

	*data_r = NULL;
	*len_r = *size_r = 0;
	if (sec->nparts == 0) {
		if ((ret = imap_fetch_content(r, &data, &len)) != 1)
			return ret;
		*data_r = data;
		*len_r = *size_r = len;
		return 1;
	}
	if ((ret = imap_fetch_parse(r, &root)) != 1)
		return ret;
	if (imap_fetch_spec(sec, spec, &spec_len) == -1 ||
	    mime_section_find(root, spec, spec_len, &p) != 1)
		return 1;
	data = root->msg + p->body_off;
	len = p->body_len;
	if ((p->flags & (MIME_PART_MULTIPART | MIME_PART_MESSAGE)) == 0) {
		switch (p->cte) {
		case MIME_CTE_UNKNOWN:
			imap_fetch_fail(r, IMAP_FETCH_E_UNKNOWN_CTE,
			    "BINARY of a part with an unknown "
			    "Content-Transfer-Encoding");
			return -1;
		case MIME_CTE_QP:
		case MIME_CTE_BASE64:
			if (size_only) {
				*size_r = mime_decoded_size(p->cte, data, len);
				return 1;
			}
			tmp = imap_fetch_tmp(r);
			if (mime_decode_cte(tmp, p->cte, data, len) == -1)
				return imap_fetch_full(r);
			data = tmp->data;
			len = tmp->len;
			break;
		default:
			break;
		}
	}
	*data_r = data;
	*len_r = *size_r = len;
	return 1;
}

static int
imap_fetch_binary(struct imap_fetch_run *r, const struct imap_fetch_att *a)
{
	const char	*data;
	size_t		 len, size;
	int		 ret;

	ret = imap_fetch_binary_data(r, &a->section,
	    a->item == IMAP_FETCH_BINARY_SIZE, &data, &len, &size);
	if (ret == -1)
		return -1;
	if (ret == 0)
		return imap_str_nil(r->out) == -1 ? imap_fetch_full(r) : 0;
	if (a->item == IMAP_FETCH_BINARY_SIZE)
		return imap_str_number(r->out, size) == -1 ?
		    imap_fetch_full(r) : 0;
	return imap_fetch_literal(r, a, data, len, true);
}

/* ENVELOPE, BODY, BODYSTRUCTURE: cache first, then computed and cached. */
static int
imap_fetch_structure(struct imap_fetch_run *r, enum imap_fetch_item item)
{
	const struct imap_msg_source *src = r->m->src;
	const struct mime_part	*root;
	struct buf		*out = r->out;
	unsigned int		 flags = 0;
	size_t			 start = out->len;
	int			 what, ret;

	if (item == IMAP_FETCH_ENVELOPE)
		what = IMAP_MSG_CACHE_ENVELOPE;
	else if (item == IMAP_FETCH_BODY)
		what = IMAP_MSG_CACHE_BODY;
	else
		what = IMAP_MSG_CACHE_BODYSTRUCTURE;
	if (r->o->utf8) {
		flags |= IMAP_STR_UTF8;
		what |= IMAP_MSG_CACHE_F_UTF8;
	}
	if (r->o->imap4rev2 && item != IMAP_FETCH_ENVELOPE) {
		flags |= MIME_BS_MESSAGE_GLOBAL;
		what |= IMAP_MSG_CACHE_F_REV2;
	}
	if (src != NULL && src->cache_get != NULL) {
		ret = src->cache_get(src->ctx, r->m->uid, what, out);
		if (ret == 1 && out->len > start)
			return 0;
		/* A failed or empty lookup is a miss. */
		buf_truncate(out, start);
	}
	if ((ret = imap_fetch_parse(r, &root)) != 1) {
		if (ret == -1)
			return -1;
		return imap_str_nil(out) == -1 ? imap_fetch_full(r) : 0;
	}
	if (item == IMAP_FETCH_ENVELOPE)
		ret = mime_envelope(out, root->msg + root->hdr_off,
		    root->hdr_len, flags);
	else
		ret = mime_bodystructure(out, root,
		    item == IMAP_FETCH_BODYSTRUCTURE, flags);
	if (ret == -1)
		return imap_fetch_full(r);
	if (src != NULL && src->cache_put != NULL)
		src->cache_put(src->ctx, r->m->uid, what, out->data + start,
		    out->len - start);
	return 0;
}

/* One attribute: its name, SP, its value. */
static int
imap_fetch_att(struct imap_fetch_run *r, const struct imap_fetch_att *a)
{
	static const struct imap_section hdr_sec = {
		.spec = IMAP_SECTION_HEADER,
	};
	static const struct imap_section text_sec = {
		.spec = IMAP_SECTION_TEXT,
	};
	static const struct imap_section all_sec = {
		.spec = IMAP_SECTION_ALL,
	};
	struct buf	*out = r->out;
	struct imap_msg	*m = r->m;

	if (a->item == IMAP_FETCH_FLAGS)
		return imap_fetch_flags(out, m, r->o) == -1 ?
		    imap_fetch_full(r) : 0;
	if (imap_parse_fetch_att_name(a, out) == -1 ||
	    buf_append_byte(out, ' ') == -1)
		return imap_fetch_full(r);
	switch (a->item) {
	case IMAP_FETCH_UID:
		return imap_str_number(out, m->uid) == -1 ?
		    imap_fetch_full(r) : 0;
	case IMAP_FETCH_RFC822_SIZE:
		return imap_str_number(out, m->size) == -1 ?
		    imap_fetch_full(r) : 0;
	case IMAP_FETCH_INTERNALDATE:
		return imap_fetch_date(out, m->date, m->zone) == -1 ?
		    imap_fetch_full(r) : 0;
	case IMAP_FETCH_ENVELOPE:
	case IMAP_FETCH_BODY:
	case IMAP_FETCH_BODYSTRUCTURE:
		return imap_fetch_structure(r, a->item);
	case IMAP_FETCH_RFC822:
		return imap_fetch_body_section(r, a, &all_sec);
	case IMAP_FETCH_RFC822_HEADER:
		return imap_fetch_body_section(r, a, &hdr_sec);
	case IMAP_FETCH_RFC822_TEXT:
		return imap_fetch_body_section(r, a, &text_sec);
	case IMAP_FETCH_BODY_SECTION:
		return imap_fetch_body_section(r, a, &a->section);
	case IMAP_FETCH_BINARY:
	case IMAP_FETCH_BINARY_SIZE:
		return imap_fetch_binary(r, a);
	case IMAP_FETCH_FLAGS:
		break;
	}
	imap_fetch_fail(r, IMAP_FETCH_E_INTERNAL, "unknown FETCH item");
	return -1;
}

int
imap_fetch_msg(struct buf *out, const struct imap_fetch *fetch,
    struct imap_msg *m, const struct imap_fetch_opts *o,
    enum imap_fetch_error *kind_r, const char **error_r)
{
	struct imap_fetch_run	 r;
	size_t			 start = out->len;
	unsigned int		 i;
	bool			 flags = false;
	int			 ret = -1;

	r.out = out;
	r.m = m;
	r.o = o;
	r.tmp_init = false;
	r.kind = IMAP_FETCH_E_NONE;
	r.error = NULL;

	if (buf_append(out, "* ", 2) == -1 ||
	    imap_str_number(out, m->seq) == -1 ||
	    buf_append(out, " FETCH (", 8) == -1) {
		imap_fetch_full(&r);
		goto done;
	}
	for (i = 0; i < fetch->natts; i++) {
		if (i > 0 && buf_append_byte(out, ' ') == -1) {
			imap_fetch_full(&r);
			goto done;
		}
		if (fetch->atts[i].item == IMAP_FETCH_FLAGS)
			flags = true;
		if (imap_fetch_att(&r, &fetch->atts[i]) == -1)
			goto done;
	}
	if (o->add_flags && !flags &&
	    ((fetch->natts > 0 && buf_append_byte(out, ' ') == -1) ||
	    imap_fetch_flags(out, m, o) == -1)) {
		imap_fetch_full(&r);
		goto done;
	}
	if (buf_append(out, ")\r\n", 3) == -1) {
		imap_fetch_full(&r);
		goto done;
	}
	ret = 0;
done:
	if (r.tmp_init)
		buf_deinit(&r.tmp);
	if (ret == -1) {
		buf_truncate(out, start);
		*kind_r = r.kind;
		*error_r = r.error != NULL ? r.error : "FETCH failed";
	} else
		*kind_r = IMAP_FETCH_E_NONE;
	return ret;
}
