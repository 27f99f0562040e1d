/* SPDX-License-Identifier: ISC */
/*
 * The DATA / BDAT body filter (see smtp_data.h for the contract).  One
 * byte-driven state machine serves both modes: DATA adds dot-unstuffing
 * and the CR LF "." CR LF end marker, BDAT has neither.  Every byte of
 * output goes through emit_run() or emit_eol(), which count the message
 * size and the line length, drive the header scan and gather the output
 * in a fixed buffer for the sink.  Nothing here trusts the input: no
 * length comes from it, and the memory used is the struct alone.
 */
#include "config.h"

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "smtpd/smtp_data.h"

#include "common/banned.h"

/* Long enough for the longest field name we look for ("message-id"). */
#define SMTP_DATA_NAME_MAX	16

enum smtp_data_state {
	ST_BOL_REAL,	/* line start after a real CR LF, or the very start */
	ST_BOL,		/* line start after a bare LF or bare CR */
	ST_DOT,		/* "." at ST_BOL_REAL (removed): maybe the end */
	ST_DOT_CR,	/* "." CR at ST_BOL_REAL: LF ends the data */
	ST_TEXT,	/* inside a line */
	ST_CR,		/* CR inside a line: LF makes a CR LF */
	ST_DONE,
};

enum smtp_data_hdr {
	HDR_BOL,	/* start of a line in the header section */
	HDR_NAME,	/* in what may be a field name */
	HDR_NAME_WSP,	/* spaces or tabs after the name, before ":" */
	HDR_LINE,	/* rest of a header field or continuation line */
	HDR_DONE,	/* the header section is over */
};

struct smtp_data {
	enum smtp_data_mode	 mode;
	enum smtp_data_policy	 policy;
	struct smtp_data_limits	 limits;
	int			(*sink)(void *, const uint8_t *, size_t,
				    const char **);
	void			*sink_ctx;
	struct smtp_data_result	 res;

	enum smtp_data_state	 state;
	size_t			 line_len;	/* output, CR LF excluded */
	uint64_t		 line_start;	/* output offset of this line */

	enum smtp_data_hdr	 hdr;
	bool			 hdr_field_seen; /* a continuation may follow */
	size_t			 name_len;
	char			 name[SMTP_DATA_NAME_MAX];

	bool			 sink_failed_now; /* return -1 from this feed */
	const char		*sink_error;
	size_t			 out_len;
	uint8_t			 out[SMTP_DATA_OUT_SIZE];
};

struct smtp_data *
smtp_data_new(enum smtp_data_mode mode, enum smtp_data_policy policy,
    const struct smtp_data_limits *limits,
    int (*sink)(void *, const uint8_t *, size_t, const char **),
    void *sink_ctx)
{
	struct smtp_data *d;

	d = xcalloc(1, sizeof(*d));
	d->mode = mode;
	d->policy = policy;
	d->limits = *limits;
	d->sink = sink;
	d->sink_ctx = sink_ctx;
	/* The CR LF that ended the DATA command starts the first line. */
	d->state = ST_BOL_REAL;
	d->hdr = HDR_BOL;
	return d;
}

void
smtp_data_free(struct smtp_data **dp)
{
	if (*dp == NULL)
		return;
	free(*dp);
	*dp = NULL;
}

const struct smtp_data_result *
smtp_data_result(const struct smtp_data *d)
{
	return &d->res;
}

const char *
smtp_data_reply(unsigned int flags)
{
	if (flags & SMTP_DATA_SINK_FAILED)
		return "451 4.3.0 Error: internal error";
	if (flags & SMTP_DATA_BARE_NEWLINE)
		return "554 5.6.11 Error: bare CR or LF in message data "
		    "(see RFC 5321 2.3.8)";
	if (flags & SMTP_DATA_TOO_BIG)
		return "552 5.3.4 Error: message file too big";
	if (flags & SMTP_DATA_HEADERS_TOO_BIG)
		return "552 5.3.4 Error: message header section too big";
	if (flags & SMTP_DATA_LINE_TOO_LONG)
		return "554 5.6.0 Error: message line too long "
		    "(see RFC 5322 2.1.1)";
	if (flags & SMTP_DATA_TOO_MANY_HOPS)
		return "554 5.4.6 Error: too many hops";
	return NULL;
}

static void
smtp_data_flag(struct smtp_data *d, unsigned int flag)
{
	d->res.flags |= flag;
	d->out_len = 0;		/* the message is refused: drop what waits */
}

static void
smtp_data_flush(struct smtp_data *d)
{
	const char *error;

	if (d->out_len == 0)
		return;
	if (d->res.flags != 0) {
		d->out_len = 0;
		return;
	}
	error = "sink failed";
	if (d->sink(d->sink_ctx, d->out, d->out_len, &error) == -1) {
		d->sink_error = error;
		d->sink_failed_now = true;
		smtp_data_flag(d, SMTP_DATA_SINK_FAILED);
	}
	d->out_len = 0;
}

static void
smtp_data_store(struct smtp_data *d, const uint8_t *p, size_t n)
{
	size_t room;

	while (n > 0 && d->res.flags == 0) {
		/* UNSAFE: out_len < sizeof(out) after every flush. */
		room = sizeof(d->out) - d->out_len;
		if (room > n)
			room = n;
		memcpy(d->out + d->out_len, p, room);
		d->out_len += room;
		p += room;
		n -= room;
		if (d->out_len == sizeof(d->out))
			smtp_data_flush(d);
	}
}

/* The header section ends before the current line. */
static void
smtp_data_hdr_end(struct smtp_data *d)
{
	d->hdr = HDR_DONE;
	d->res.header_size = d->line_start;
	d->res.header_done = true;
}

static void
smtp_data_hdr_check_size(struct smtp_data *d)
{
	if (d->res.bytes > d->limits.max_header_size)
		smtp_data_flag(d, SMTP_DATA_HEADERS_TOO_BIG);
}

static bool
smtp_data_name_is(const struct smtp_data *d, const char *name)
{
	size_t len = strlen(name);

	return d->name_len == len && memcmp(d->name, name, len) == 0;
}

/* A field name followed by ":" was seen. */
static void
smtp_data_hdr_field(struct smtp_data *d)
{
	d->hdr = HDR_LINE;
	d->hdr_field_seen = true;
	if (smtp_data_name_is(d, "received")) {
		/* Saturates; max_header_size keeps it far lower anyway. */
		if (d->res.received < UINT_MAX)
			d->res.received++;
		if (d->res.received > d->limits.max_hops)
			smtp_data_flag(d, SMTP_DATA_TOO_MANY_HOPS);
	} else if (smtp_data_name_is(d, "message-id"))
		d->res.has_message_id = true;
	else if (smtp_data_name_is(d, "date"))
		d->res.has_date = true;
}

static bool
smtp_data_is_name_char(uint8_t c)
{
	/* RFC 5322 3.6.8 ftext: printable US-ASCII except ":". */
	return c >= 33 && c <= 126 && c != ':';
}

/* One content byte of a header-section line (never CR LF). */
static void
smtp_data_hdr_byte(struct smtp_data *d, uint8_t c)
{
	switch (d->hdr) {
	case HDR_BOL:
		if (c == ' ' || c == '\t') {
			/* Folding; a first line cannot be a continuation. */
			if (!d->hdr_field_seen) {
				smtp_data_hdr_end(d);
				return;
			}
			d->hdr = HDR_LINE;
		} else if (smtp_data_is_name_char(c)) {
			d->hdr = HDR_NAME;
			d->name[0] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
			d->name_len = 1;
			return;		/* not known to be a header yet */
		} else {
			smtp_data_hdr_end(d);
			return;
		}
		break;
	case HDR_NAME:
		if (c == ':')
			smtp_data_hdr_field(d);
		else if (c == ' ' || c == '\t') {
			d->hdr = HDR_NAME_WSP;
			return;
		} else if (smtp_data_is_name_char(c)) {
			if (d->name_len < sizeof(d->name))
				d->name[d->name_len] =
				    (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
			/* Longer names match nothing; the count saturates. */
			if (d->name_len <= sizeof(d->name))
				d->name_len++;
			return;
		} else {
			smtp_data_hdr_end(d);
			return;
		}
		break;
	case HDR_NAME_WSP:
		if (c == ':')
			smtp_data_hdr_field(d);
		else if (c == ' ' || c == '\t')
			return;
		else {
			smtp_data_hdr_end(d);
			return;
		}
		break;
	case HDR_LINE:
		break;
	case HDR_DONE:
		return;
	}
	smtp_data_hdr_check_size(d);
}

/* The end of a line in the header section (before its CR LF is counted). */
static void
smtp_data_hdr_eol(struct smtp_data *d)
{
	switch (d->hdr) {
	case HDR_BOL:		/* the empty line */
	case HDR_NAME:		/* a line without ":" starts the body */
	case HDR_NAME_WSP:
		smtp_data_hdr_end(d);
		break;
	case HDR_LINE:
		d->hdr = HDR_BOL;
		break;
	case HDR_DONE:
		break;
	}
}

static void
smtp_data_count(struct smtp_data *d, size_t n)
{
	/* UNSAFE: n is at most an input length, far below 2^63. */
	d->res.bytes += n;
	if (d->res.bytes > d->limits.max_message_size)
		smtp_data_flag(d, SMTP_DATA_TOO_BIG);
}

/* Content bytes of the current line (no CR, no LF unless binary). */
static void
smtp_data_emit_run(struct smtp_data *d, const uint8_t *p, size_t n)
{
	size_t i;

	if (d->hdr != HDR_DONE) {
		/* Byte by byte, but only in the header section. */
		for (i = 0; i < n && d->hdr != HDR_DONE; i++) {
			smtp_data_count(d, 1);
			smtp_data_hdr_byte(d, p[i]);
		}
		if (i < n)
			smtp_data_count(d, n - i);
	} else
		smtp_data_count(d, n);
	if (d->mode != SMTP_DATA_BINARYMIME) {
		/* line_len <= max_line_length always: no overflow. */
		if (n > d->limits.max_line_length - d->line_len) {
			smtp_data_flag(d, SMTP_DATA_LINE_TOO_LONG);
			d->line_len = d->limits.max_line_length;
		} else
			d->line_len += n;
	}
	smtp_data_store(d, p, n);
}

static void
smtp_data_emit_eol(struct smtp_data *d)
{
	static const uint8_t crlf[2] = { '\r', '\n' };
	bool hdr_line;

	hdr_line = d->hdr == HDR_LINE;
	smtp_data_hdr_eol(d);
	smtp_data_count(d, sizeof(crlf));
	if (hdr_line)
		smtp_data_hdr_check_size(d);
	smtp_data_store(d, crlf, sizeof(crlf));
	d->line_len = 0;
	d->line_start = d->res.bytes;
}

/* A bare CR or bare LF (c) in the input. */
static void
smtp_data_bare(struct smtp_data *d, uint8_t c)
{
	if (d->mode == SMTP_DATA_BINARYMIME) {
		smtp_data_emit_run(d, &c, 1);
		return;
	}
	if (d->policy == SMTP_DATA_REJECT)
		smtp_data_flag(d, SMTP_DATA_BARE_NEWLINE);
	smtp_data_emit_eol(d);
}

static void
smtp_data_finish(struct smtp_data *d)
{
	d->state = ST_DONE;
	d->res.done = true;
	if (d->hdr == HDR_NAME || d->hdr == HDR_NAME_WSP)
		smtp_data_hdr_end(d);	/* an unfinished non-header line */
	else if (d->hdr != HDR_DONE) {
		d->hdr = HDR_DONE;
		d->res.header_size = d->res.bytes;
		d->res.header_done = true;
	}
	smtp_data_flush(d);
}

/*
 * Runs the machine over in[0..len).  Returns 1 when the DATA end marker
 * was seen (*used_r bytes consumed), 0 when all input was consumed, -1 when
 * the sink failed (*used_r bytes consumed).
 */
static int
smtp_data_run(struct smtp_data *d, const uint8_t *in, size_t len,
    size_t *used_r)
{
	bool dots = d->mode == SMTP_DATA_DATA;
	const uint8_t *nl, *cr, *end;
	size_t i, j;
	uint8_t c;

	for (i = 0; i < len; i++) {
		c = in[i];
again:
		switch (d->state) {
		case ST_DOT_CR:
			if (c == '\n') {
				*used_r = i + 1;
				smtp_data_finish(d);
				return d->sink_failed_now ? -1 : 1;
			}
			/* "." then a bare CR: an empty line, not the end. */
			smtp_data_bare(d, '\r');
			d->state = ST_BOL;
			goto again;
		case ST_CR:
			if (c == '\n') {
				smtp_data_emit_eol(d);
				d->state = ST_BOL_REAL;
				break;
			}
			smtp_data_bare(d, '\r');
			d->state = ST_BOL;
			goto again;
		case ST_DOT:
			if (c == '\r') {
				d->state = ST_DOT_CR;
				break;
			}
			goto text;
		case ST_BOL_REAL:
			if (dots && c == '.') {
				d->state = ST_DOT;
				break;
			}
			goto text;
		case ST_BOL:
			if (dots && c == '.') {
				/* Unstuffed, but only a real CR LF may end. */
				d->state = ST_TEXT;
				break;
			}
			goto text;
		case ST_TEXT:
text:
			if (c == '\r')
				d->state = ST_CR;
			else if (c == '\n') {
				smtp_data_bare(d, '\n');
				d->state = ST_BOL;
			} else {
				/*
				 * The common case: a run of plain bytes up to
				 * the first CR or LF, found with memchr.
				 */
				nl = memchr(in + i + 1, '\n', len - i - 1);
				end = nl != NULL ? nl : in + len;
				cr = memchr(in + i + 1, '\r',
				    (size_t)(end - (in + i + 1)));
				j = (size_t)((cr != NULL ? cr : end) - in);
				smtp_data_emit_run(d, in + i, j - i);
				d->state = ST_TEXT;
				i = j - 1;
			}
			break;
		case ST_DONE:
			log_panic("smtp_data_run: called after the end");
		}
		if (d->sink_failed_now) {
			*used_r = i + 1;
			return -1;
		}
	}
	*used_r = len;
	return 0;
}

int
smtp_data_feed(struct smtp_data *d, const uint8_t *in, size_t len,
    size_t *consumed_r, const char **error_r)
{
	int ret;

	if (d->mode != SMTP_DATA_DATA)
		log_panic("smtp_data_feed: filter is not in DATA mode");
	*consumed_r = 0;
	if (d->state == ST_DONE)
		return 1;
	d->sink_failed_now = false;
	ret = smtp_data_run(d, in, len, consumed_r);
	if (ret == 0)
		smtp_data_flush(d);
	if (d->sink_failed_now) {
		d->sink_failed_now = false;
		*error_r = d->sink_error;
		return -1;
	}
	return ret;
}

int
smtp_data_feed_chunk(struct smtp_data *d, const uint8_t *data, size_t len,
    bool last, const char **error_r)
{
	size_t used, off;
	bool failed = false;

	if (d->mode == SMTP_DATA_DATA)
		log_panic("smtp_data_feed_chunk: filter is in DATA mode");
	if (d->state == ST_DONE)
		log_panic("smtp_data_feed_chunk: chunk after the last");
	d->sink_failed_now = false;
	/* A sink failure stops the run; the rest is consumed unwritten. */
	for (off = 0; off < len; off += used) {
		if (smtp_data_run(d, data + off, len - off, &used) == -1) {
			failed = true;
			d->sink_failed_now = false;
		}
	}
	if (last) {
		if (d->state == ST_CR)
			smtp_data_bare(d, '\r');	/* nothing follows */
		smtp_data_finish(d);
	} else
		smtp_data_flush(d);
	if (failed || d->sink_failed_now) {
		d->sink_failed_now = false;
		*error_r = d->sink_error;
		return -1;
	}
	return last ? 1 : 0;
}
