/* SPDX-License-Identifier: ISC */
/*
 * Delivery status notifications (RFC 3464 in an RFC 6522 multipart/report,
 * the contract is in dsn.h).  A report is made in four steps: decide how
 * much of the original to quote (the whole message, or its header section
 * cut at a line end within bounce_size_limit), write the text part and the
 * delivery-status part into memory, choose a MIME boundary that occurs in
 * none of those bytes, then emit headers, parts and the quoted original,
 * streaming the original from its queue file with pread() in pieces into
 * either a buf (dsn_build) or a new queue file (dsn_write).
 *
 * The boundary is "=_postern_<QID>_<N>=".  One pass over the parts and the
 * quoted bytes collects every counter N that follows the prefix and is
 * followed by "=", and the report uses one more than the highest; so the
 * boundary cannot occur in any of them, whatever the original holds, and
 * no second pass is needed.
 *
 * 8-bit and SMTPUTF8 originals: the report keeps the same MIME types
 * (RFC 6533 would have message/global and message/global-delivery-status;
 * we keep it simple), labels a part holding 8-bit bytes
 * Content-Transfer-Encoding: 8bit and sends the report with BODY=8BITMIME,
 * and with SMTPUTF8 when the original had it.  A BINARYMIME original is
 * never quoted whole (it need not be valid as 8bit text): only its header
 * section is.
 */
#include "config.h"

#include <sys/types.h>

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "dsn.h"
#include "error.h"
#include "log.h"
#include "qfile.h"
#include "str.h"
#include "xmalloc.h"

#include "banned.h"

/* Bytes of the original read at a time. */
#define DSN_CHUNK		65536
/* RFC 5322 2.1.1: the hard line limit (without CRLF) and where we fold. */
#define DSN_LINE_MAX		998
#define DSN_FOLD_AT		78
/* Diagnostic texts are cut to this (a remote reply can be long). */
#define DSN_DIAG_MAX		4096
/* Report headers (before the parts) are small; this bounds them. */
#define DSN_HEAD_MAX		(64u * 1024)
/* The boundary: prefix, queue ID, "_", counter, "=". */
#define DSN_BOUNDARY_PFX	"=_postern_"
#define DSN_BOUNDARY_MAX	80
/* Counter digits we accept from the scan (a larger one would overflow). */
#define DSN_COUNTER_DIGITS	19
#define DSN_COUNTER_MAX		UINT64_C(1000000000000000000)
/* The longest queue ID accepted for the boundary and Message-ID. */
#define DSN_QID_MAX		32
/* RFC 5322 date: "Wed, 31 Dec 2031 23:59:59 +0000". */
#define DSN_DATE_SIZE		64

/* Why only the header section of the original is quoted. */
enum dsn_why {
	DSN_WHY_FULL,		/* not: the whole message is quoted */
	DSN_WHY_KIND,		/* delay and success reports */
	DSN_WHY_HDRS,		/* RET=HDRS */
	DSN_WHY_BIG,		/* over bounce_size_limit */
	DSN_WHY_BINARY		/* BODY=BINARYMIME */
};

struct dsn_ctx {
	const struct qfile		*orig;
	enum dsn_kind			 kind;
	const struct dsn_rcpt		*rcpts;
	unsigned int			 n;
	const struct dsn_params		*p;
	const char			*qid;	/* the report's ID */
	const char			*to;	/* the report's recipient */
	int				 fd;
	uint64_t			 msg_off, msg_len;

	enum dsn_why			 why;
	uint64_t			 quote_len;
	bool				 hdrs_cut;	/* header section cut */
	bool				 text8;		/* parts 1-2: 8-bit */
	bool				 quote8;	/* quoted: 8-bit */
	char				 boundary[DSN_BOUNDARY_MAX];

	struct buf			*part1;		/* text/plain body */
	struct buf			*part2;		/* delivery-status */
	struct buf			*head;		/* up to the original */
	struct buf			*tmp;
};

/* Where the report goes: a buf, or a queue file writer. */
struct dsn_sink {
	struct buf			*out;
	struct qfile_writer		*w;
};

/* Looks for counters after the boundary prefix. */
struct dsn_bscan {
	char				 pfx[DSN_BOUNDARY_MAX];
	size_t				 plen;
	uint64_t			 max;	/* highest counter seen */
	bool				 eightbit;
};

static const char *const dsn_days[] = {
	"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"
};
static const char *const dsn_months[] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	"Jul", "Aug", "Sep", "Oct", "Nov", "Dec"
};

/* ---- small helpers ---------------------------------------------------- */

static bool
dsn_is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static bool
dsn_is_digit(uint8_t c)
{
	return c >= '0' && c <= '9';
}

static bool
dsn_is_alnum(uint8_t c)
{
	return dsn_is_digit(c) || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z');
}

/* No byte below 0x20 and no 0x7f (8-bit bytes allowed): queue file rules. */
static bool
dsn_text_ok(const char *s)
{
	const uint8_t	*u = (const uint8_t *)s;

	for (; *u != '\0'; u++)
		if (*u < 0x20 || *u == 0x7f)
			return false;
	return true;
}

static bool
dsn_has_8bit(const void *data, size_t len)
{
	const uint8_t	*u = data;
	size_t		 i;

	for (i = 0; i < len; i++)
		if (u[i] >= 0x80)
			return true;
	return false;
}

/* "5.1.1": class 2, 4 or 5, subject and detail of 1-3 digits. */
static bool
dsn_status_ok(const char *s)
{
	size_t	i, part;

	if (s == NULL || (s[0] != '2' && s[0] != '4' && s[0] != '5') ||
	    s[1] != '.')
		return false;
	s += 2;
	for (part = 0; part < 2; part++) {
		for (i = 0; dsn_is_digit((uint8_t)s[i]); i++)
			if (i == 3)
				return false;
		if (i == 0)
			return false;
		s += i;
		if (part == 0 && *s++ != '.')
			return false;
	}
	return *s == '\0';
}

/* A host name for headers: letters, digits, ".-_", at most 255. */
static bool
dsn_hostname_ok(const char *s)
{
	size_t	i;

	if (s == NULL || s[0] == '\0')
		return false;
	for (i = 0; s[i] != '\0'; i++)
		if (i == 255 || (!dsn_is_alnum((uint8_t)s[i]) &&
		    s[i] != '.' && s[i] != '-' && s[i] != '_'))
			return false;
	return true;
}

static bool
dsn_qid_ok(const char *s)
{
	size_t	i;

	if (s == NULL || s[0] == '\0')
		return false;
	for (i = 0; s[i] != '\0'; i++)
		if (i == DSN_QID_MAX || !dsn_is_alnum((uint8_t)s[i]))
			return false;
	return true;
}

/* RFC 5322 date-time in UTC, or the Message-ID's digits when compact. */
static int
dsn_date(char *dst, size_t size, uint64_t secs, bool compact,
    const char **error_r)
{
	struct tm	tm;
	time_t		t;
	int		r;

	if (secs > (uint64_t)INT32_MAX * 1000) {
		*error_r = "time out of range";
		return -1;
	}
	t = (time_t)secs;
	if (gmtime_r(&t, &tm) == NULL || tm.tm_wday < 0 || tm.tm_wday > 6 ||
	    tm.tm_mon < 0 || tm.tm_mon > 11) {
		*error_r = "time out of range";
		return -1;
	}
	if (compact)
		r = snprintf(dst, size, "%04d%02d%02d%02d%02d%02d",
		    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		    tm.tm_min, tm.tm_sec);
	else
		r = snprintf(dst, size, "%s, %d %s %04d %02d:%02d:%02d +0000",
		    dsn_days[tm.tm_wday], tm.tm_mday, dsn_months[tm.tm_mon],
		    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
	if (r < 0 || (size_t)r >= size) {
		*error_r = "time out of range";
		return -1;
	}
	return 0;
}

/*
 * Appends one logical line with CRLF, folded so no output line exceeds
 * DSN_LINE_MAX: at the last blank before column DSN_FOLD_AT, else at the
 * first blank before DSN_LINE_MAX; a run with no blank at all (a huge
 * address) is broken hard and continued after a space.  Every piece holds
 * a non-blank byte, so no whitespace-only line results.
 */
static int
dsn_fold(struct buf *b, const char *s, size_t len)
{
	size_t	pre = 0, room, cut, i, nb;
	bool	hard;

	while (pre + len > DSN_FOLD_AT) {
		room = DSN_LINE_MAX - pre;
		for (nb = 0; nb < len && dsn_is_blank(s[nb]); nb++)
			;
		cut = 0;
		hard = false;
		for (i = DSN_FOLD_AT - pre; i > nb; i--)
			if (i < len && dsn_is_blank(s[i])) {
				cut = i;
				break;
			}
		for (i = DSN_FOLD_AT - pre + 1; cut == 0 && i < len &&
		    i < room; i++)
			if (i > nb && dsn_is_blank(s[i]))
				cut = i;
		if (cut == 0) {
			if (len <= room)
				break;
			cut = room;
			hard = true;
		}
		if (buf_append(b, s, cut) == -1 ||
		    buf_append(b, hard ? "\r\n " : "\r\n", hard ? 3 : 2) == -1)
			return -1;
		s += cut;
		len -= cut;
		pre = hard ? 1 : 0;
	}
	if (buf_append(b, s, len) == -1 || buf_append(b, "\r\n", 2) == -1)
		return -1;
	return 0;
}

static int
dsn_foldf(struct buf *b, struct buf *tmp, const char *fmt, ...)
    ATTR_PRINTF(3, 4);

/* Formats into tmp, then folds into b. */
static int
dsn_foldf(struct buf *b, struct buf *tmp, const char *fmt, ...)
{
	va_list	ap;
	int	r;

	buf_reset(tmp);
	va_start(ap, fmt);
	r = buf_vprintf(tmp, fmt, ap);
	va_end(ap);
	if (r == -1)
		return -1;
	return dsn_fold(b, tmp->data, tmp->len);
}

/*
 * Printable ASCII copy of an outside text: CR, LF and tab become spaces,
 * other control and 8-bit bytes '?', runs of spaces one space, no leading
 * or trailing space; cut at DSN_DIAG_MAX with "...".  Returns a string
 * owned by the caller.
 */
static char *
dsn_clean(const char *s)
{
	struct buf	 b;
	const uint8_t	*u = (const uint8_t *)(s == NULL ? "" : s);
	uint8_t		 c;
	bool		 space = false;
	char		*r;

	buf_init(&b, 64, DSN_DIAG_MAX + 4);
	for (; *u != '\0'; u++) {
		c = *u;
		if (c == '\r' || c == '\n' || c == '\t' || c == ' ') {
			space = b.len > 0;
			continue;
		}
		if (c < 0x20 || c >= 0x7f)
			c = '?';
		if (b.len + (space ? 2 : 1) > DSN_DIAG_MAX) {
			if (buf_append(&b, "...", 3) == -1)
				log_panic("dsn: diagnostic buffer full");
			break;
		}
		if ((space && buf_append_byte(&b, ' ') == -1) ||
		    buf_append_byte(&b, c) == -1)
			log_panic("dsn: diagnostic buffer full");
		space = false;
	}
	r = buf_steal(&b);
	buf_deinit(&b);
	return r;
}

/* RFC 3461 4 xtext: "+XX" for bytes outside '!'..'~' and for '+', '='. */
static int
dsn_xtext(struct buf *b, const char *s)
{
	const uint8_t	*u = (const uint8_t *)s;

	for (; *u != '\0'; u++) {
		if (*u < 33 || *u > 126 || *u == '+' || *u == '=') {
			if (buf_printf(b, "+%02X", *u) == -1)
				return -1;
		} else if (buf_append_byte(b, *u) == -1)
			return -1;
	}
	return 0;
}

static int
dsn_pread(int fd, uint64_t off, void *dst, size_t len, const char **error_r)
{
	size_t	done = 0;
	ssize_t	r;

	while (done < len) {
		r = pread(fd, (uint8_t *)dst + done, len - done,
		    (off_t)(off + done));
		if (r == -1) {
			if (errno == EINTR)
				continue;
			*error_r = error_fmt("read queue file: %m");
			return -1;
		}
		if (r == 0) {
			*error_r = "queue file shorter than its message";
			return -1;
		}
		done += (size_t)r;
	}
	return 0;
}

static int
dsn_sink_write(struct dsn_sink *sk, const void *data, size_t len,
    const char **error_r)
{
	if (sk->w != NULL)
		return qfile_writer_write(sk->w, data, len, error_r);
	if (buf_append(sk->out, data, len) == -1) {
		*error_r = "report exceeds the output buffer";
		return -1;
	}
	return 0;
}

/* ---- what to quote ---------------------------------------------------- */

/*
 * The header section of the original: the bytes before the empty line
 * (each header line with its CRLF), or the whole message if it has no
 * empty line.  When that is longer than cap it is cut after the last
 * whole line within cap.  Reads at most cap + 2 bytes.
 */
static int
dsn_header_len(struct dsn_ctx *c, uint64_t cap, const char **error_r)
{
	uint8_t		*chunk;
	uint64_t	 off = 0, end, pos, line_start = 0, last_end = 0;
	size_t		 want, i;
	uint8_t		 prev = 0;

	end = cap >= c->msg_len ? c->msg_len : cap + 2;
	if (end > c->msg_len)
		end = c->msg_len;
	chunk = xmalloc(DSN_CHUNK);
	while (off < end) {
		want = end - off > DSN_CHUNK ? DSN_CHUNK : (size_t)(end - off);
		if (dsn_pread(c->fd, c->msg_off + off, chunk, want,
		    error_r) == -1) {
			free(chunk);
			return -1;
		}
		for (i = 0; i < want; i++) {
			pos = off + i;
			if (chunk[i] == '\n' && prev == '\r') {
				if (pos + 1 - line_start == 2) {
					/* The empty line; pos - 1 <= cap. */
					free(chunk);
					c->quote_len = line_start;
					c->hdrs_cut = false;
					return 0;
				}
				line_start = pos + 1;
				if (line_start <= cap)
					last_end = line_start;
			}
			prev = chunk[i];
		}
		off += want;
	}
	free(chunk);
	if (c->msg_len <= cap) {
		c->quote_len = c->msg_len;	/* all header, no body */
		c->hdrs_cut = false;
	} else {
		c->quote_len = last_end;
		c->hdrs_cut = true;
	}
	return 0;
}

static int
dsn_plan(struct dsn_ctx *c, const char **error_r)
{
	const struct qfile_mail	*m = qfile_mail(c->orig);

	if (c->kind != DSN_FAILURE)
		c->why = DSN_WHY_KIND;
	else if (m->ret == QFILE_RET_HDRS)
		c->why = DSN_WHY_HDRS;
	else if (m->body == QFILE_BODY_BINARYMIME)
		c->why = DSN_WHY_BINARY;
	else if (c->msg_len > c->p->size_limit)
		c->why = DSN_WHY_BIG;
	else {
		c->why = DSN_WHY_FULL;
		c->quote_len = c->msg_len;
		return 0;
	}
	return dsn_header_len(c, c->p->size_limit, error_r);
}

/* ---- the boundary ------------------------------------------------------ */

/* Hits of the prefix starting before limit in win[0..wlen). */
static void
dsn_bscan_window(struct dsn_bscan *s, const uint8_t *win, size_t wlen,
    size_t limit)
{
	const uint8_t	*h;
	size_t		 pos = 0, d, j;
	uint64_t	 v;

	while (pos < limit) {
		h = memmem(win + pos, wlen - pos, s->pfx, s->plen);
		if (h == NULL || (size_t)(h - win) >= limit)
			break;
		d = (size_t)(h - win) + s->plen;
		for (j = 0; d + j < wlen && j <= DSN_COUNTER_DIGITS &&
		    dsn_is_digit(win[d + j]); j++)
			;
		if (j >= 1 && j <= DSN_COUNTER_DIGITS && d + j < wlen &&
		    win[d + j] == '=' &&
		    parse_u64_n((const char *)win + d, j, UINT64_MAX, &v) == 0 &&
		    v > s->max)
			s->max = v;
		pos = (size_t)(h - win) + 1;
	}
}

static void
dsn_bscan_mem(struct dsn_bscan *s, const struct buf *b)
{
	dsn_bscan_window(s, (const uint8_t *)b->data, b->len, b->len);
}

/*
 * The quoted bytes, in windows that overlap by the longest possible match
 * (prefix, 19 digits, "="), so a match across two reads is seen once.
 */
static int
dsn_bscan_file(struct dsn_ctx *c, struct dsn_bscan *s, const char **error_r)
{
	uint8_t		*win;
	size_t		 keep = s->plen + DSN_COUNTER_DIGITS + 1;
	size_t		 carry = 0, want, wlen, limit;
	uint64_t	 off = 0;

	win = xmalloc(DSN_CHUNK + keep);
	while (off < c->quote_len) {
		want = c->quote_len - off > DSN_CHUNK ? DSN_CHUNK :
		    (size_t)(c->quote_len - off);
		if (dsn_pread(c->fd, c->msg_off + off, win + carry, want,
		    error_r) == -1) {
			free(win);
			return -1;
		}
		if (!s->eightbit && dsn_has_8bit(win + carry, want))
			s->eightbit = true;
		off += want;
		wlen = carry + want;
		if (off == c->quote_len)
			limit = wlen;
		else
			limit = wlen > keep ? wlen - keep : 0;
		dsn_bscan_window(s, win, wlen, limit);
		carry = wlen - limit;
		memmove(win, win + limit, carry);
	}
	free(win);
	return 0;
}

static int
dsn_boundary(struct dsn_ctx *c, const char **error_r)
{
	struct dsn_bscan	s = { .max = 0 };
	int			r;

	r = snprintf(s.pfx, sizeof(s.pfx), "%s%s_", DSN_BOUNDARY_PFX, c->qid);
	if (r < 0 || (size_t)r >= sizeof(s.pfx))
		log_panic("dsn: boundary prefix too long");
	s.plen = (size_t)r;
	dsn_bscan_mem(&s, c->part1);
	dsn_bscan_mem(&s, c->part2);
	if (dsn_bscan_file(c, &s, error_r) == -1)
		return -1;
	c->quote8 = s.eightbit;
	if (s.max >= DSN_COUNTER_MAX) {
		*error_r = "cannot choose a MIME boundary";
		return -1;
	}
	r = snprintf(c->boundary, sizeof(c->boundary), "%s%llu=", s.pfx,
	    (unsigned long long)(s.max + 1));
	if (r < 0 || (size_t)r >= sizeof(c->boundary))
		log_panic("dsn: boundary too long");
	return 0;
}

/* ---- the text parts ----------------------------------------------------- */

static const char *
dsn_action(enum dsn_kind kind)
{
	switch (kind) {
	case DSN_FAILURE:
		return "failed";
	case DSN_DELAY:
		return "delayed";
	case DSN_SUCCESS:
		break;
	}
	return "delivered";
}

static int
dsn_lines(struct buf *b, const char *const *lines)
{
	for (; *lines != NULL; lines++)
		if (dsn_fold(b, *lines, strlen(*lines)) == -1)
			return -1;
	return 0;
}

/* Part 1: what happened, for people. */
static int
dsn_part1(struct dsn_ctx *c, const char **error_r)
{
	static const char *const failed[] = {
		"Your message could not be delivered to one or more of its",
		"recipients.  This is a permanent error: the mail system has",
		"given up on them.  The reasons are listed below.",
		NULL
	};
	static const char *const delayed[] = {
		"This is only a warning; you do not need to send the message",
		"again.",
		"",
		"Your message has not yet been delivered to one or more of its",
		"recipients.  The reasons are listed below.",
		NULL
	};
	static const char *const delivered[] = {
		"Your message was delivered to the recipients listed below.",
		"This is the report you asked for; no further report will",
		"follow for them.",
		NULL
	};
	struct buf		*b = c->part1, *t = c->tmp;
	const struct dsn_rcpt	*r;
	const char		*pm;
	char			 date[DSN_DATE_SIZE], *diag, *mta;
	uint64_t		 until = 0;
	unsigned int		 i;
	int			 ret;

	pm = c->p->postmaster != NULL ? c->p->postmaster : "postmaster";
	if (dsn_foldf(b, t, "This is the mail system at host %s.",
	    c->p->hostname) == -1 || buf_append(b, "\r\n", 2) == -1 ||
	    dsn_lines(b, c->kind == DSN_FAILURE ? failed :
	    c->kind == DSN_DELAY ? delayed : delivered) == -1)
		goto full;
	if (c->kind == DSN_DELAY) {
		for (i = 0; i < c->n; i++)
			if (c->rcpts[i].will_retry_until > until)
				until = c->rcpts[i].will_retry_until;
		if (until == 0) {
			if (dsn_foldf(b, t, "The mail system will keep "
			    "trying for a while.") == -1)
				goto full;
		} else {
			if (dsn_date(date, sizeof(date), until, false,
			    error_r) == -1)
				return -1;
			if (dsn_foldf(b, t, "The mail system will keep trying "
			    "until %s; if the message is still not delivered "
			    "then, it will be returned to you.", date) == -1)
				goto full;
		}
	}
	if (buf_append(b, "\r\n", 2) == -1)
		goto full;
	switch (c->why) {
	case DSN_WHY_FULL:
		ret = dsn_foldf(b, t, "A copy of the message is attached.");
		break;
	case DSN_WHY_KIND:
		ret = dsn_foldf(b, t, "The header section of the message is "
		    "attached.");
		break;
	case DSN_WHY_HDRS:
		ret = dsn_foldf(b, t, "As the sender asked (RET=HDRS), only "
		    "the header section of the message is attached.");
		break;
	case DSN_WHY_BIG:
		ret = dsn_foldf(b, t, "The message was larger than the limit "
		    "for returned mail (%llu bytes), so only its header "
		    "section is attached.",
		    (unsigned long long)c->p->size_limit);
		break;
	case DSN_WHY_BINARY:
	default:
		ret = dsn_foldf(b, t, "The message was binary "
		    "(BODY=BINARYMIME), so only its header section is "
		    "attached.");
		break;
	}
	if (ret == -1 || (c->hdrs_cut && dsn_foldf(b, t, "The header "
	    "section was cut short after %llu bytes.",
	    (unsigned long long)c->quote_len) == -1))
		goto full;
	if (buf_append(b, "\r\n", 2) == -1 ||
	    dsn_foldf(b, t, "For help, please write to <%s>", pm) == -1 ||
	    dsn_foldf(b, t, "and include this report (the attached message "
	    "may be left out).") == -1 ||
	    buf_append(b, "\r\n", 2) == -1 ||
	    dsn_foldf(b, t, "%30sThe mail system", "") == -1 ||
	    buf_append(b, "\r\n", 2) == -1)
		goto full;
	for (i = 0; i < c->n; i++) {
		r = &c->rcpts[i];
		diag = dsn_clean(r->diag);
		mta = r->remote_mta != NULL ? dsn_clean(r->remote_mta) : NULL;
		if (diag[0] == '\0')
			ret = dsn_foldf(b, t, "<%s>: %s (status %s)", r->addr,
			    c->kind == DSN_FAILURE ? "delivery failed" :
			    c->kind == DSN_DELAY ? "delivery delayed" :
			    "delivered", r->status);
		else if (mta != NULL)
			ret = dsn_foldf(b, t, "<%s>: host %s said: %s",
			    r->addr, mta, diag);
		else
			ret = dsn_foldf(b, t, "<%s>: %s", r->addr, diag);
		free(diag);
		free(mta);
		if (ret == -1)
			goto full;
	}
	return 0;
full:
	*error_r = "report text too long";
	return -1;
}

/* Part 2: message/delivery-status, RFC 3464 2.2 and 2.3 field order. */
static int
dsn_part2(struct dsn_ctx *c, const char **error_r)
{
	const struct qfile_mail	*m = qfile_mail(c->orig);
	const struct dsn_rcpt	*r;
	struct buf		*b = c->part2, *t = c->tmp;
	const char		*semi, *addr;
	char			 date[DSN_DATE_SIZE], *diag, *mta;
	unsigned int		 i;
	int			 ret;

	if (m->envid != NULL) {
		buf_reset(t);
		if (buf_append_str(t, "Original-Envelope-Id: ") == -1 ||
		    dsn_xtext(t, m->envid) == -1 ||
		    dsn_fold(b, t->data, t->len) == -1)
			goto full;
	}
	if (dsn_date(date, sizeof(date), qfile_arrival_usec(c->orig) /
	    1000000, false, error_r) == -1)
		return -1;
	if (dsn_foldf(b, t, "Reporting-MTA: dns; %s", c->p->hostname) == -1 ||
	    dsn_foldf(b, t, "Arrival-Date: %s", date) == -1 ||
	    (qfile_id(c->orig) != NULL && dsn_foldf(b, t,
	    "X-Postern-Queue-ID: %s", qfile_id(c->orig)) == -1))
		goto full;
	for (i = 0; i < c->n; i++) {
		r = &c->rcpts[i];
		if (buf_append(b, "\r\n", 2) == -1)
			goto full;
		/* ORCPT is "type;address": written "type; address". */
		if (r->orcpt != NULL && (semi = strchr(r->orcpt, ';')) != NULL &&
		    semi != r->orcpt) {
			addr = str_skip_ws(semi + 1);
			if (dsn_foldf(b, t, "Original-Recipient: %.*s; %s",
			    (int)(semi - r->orcpt), r->orcpt, addr) == -1)
				goto full;
		}
		/* RFC 6533 would say utf-8 for an SMTPUTF8 address. */
		if (dsn_foldf(b, t, "Final-Recipient: rfc822; %s",
		    r->addr) == -1 ||
		    dsn_foldf(b, t, "Action: %s", c->kind == DSN_SUCCESS &&
		    r->relayed ? "relayed" : dsn_action(c->kind)) == -1 ||
		    dsn_foldf(b, t, "Status: %s", r->status) == -1)
			goto full;
		diag = dsn_clean(r->diag);
		mta = r->remote_mta != NULL ? dsn_clean(r->remote_mta) : NULL;
		ret = 0;
		if (mta != NULL && mta[0] != '\0')
			ret = dsn_foldf(b, t, "Remote-MTA: dns; %s", mta);
		if (ret == 0 && diag[0] != '\0')
			ret = dsn_foldf(b, t, "Diagnostic-Code: %s; %s",
			    mta != NULL ? "smtp" : "x-postern", diag);
		free(diag);
		free(mta);
		if (ret == -1)
			goto full;
		if (r->last_attempt != 0) {
			if (dsn_date(date, sizeof(date), r->last_attempt,
			    false, error_r) == -1)
				return -1;
			if (dsn_foldf(b, t, "Last-Attempt-Date: %s",
			    date) == -1)
				goto full;
		}
		if (c->kind == DSN_DELAY && r->will_retry_until != 0) {
			if (dsn_date(date, sizeof(date), r->will_retry_until,
			    false, error_r) == -1)
				return -1;
			if (dsn_foldf(b, t, "Will-Retry-Until: %s",
			    date) == -1)
				goto full;
		}
	}
	return 0;
full:
	*error_r = "report text too long";
	return -1;
}

/* ---- assembly ------------------------------------------------------------ */

static const char *
dsn_subject(enum dsn_kind kind)
{
	switch (kind) {
	case DSN_FAILURE:
		return "Undelivered Mail Returned to Sender";
	case DSN_DELAY:
		return "Delayed Mail (still being retried)";
	case DSN_SUCCESS:
		break;
	}
	return "Successful Mail Delivery Report";
}

/* Everything before the quoted original. */
static int
dsn_head(struct dsn_ctx *c, const char **error_r)
{
	struct buf	*b = c->head, *t = c->tmp;
	char		 date[DSN_DATE_SIZE], stamp[DSN_DATE_SIZE];
	const char	*cte8 = "Content-Transfer-Encoding: 8bit\r\n";
	bool		 any8 = c->text8 || c->quote8;

	if (dsn_date(date, sizeof(date), c->p->now, false, error_r) == -1 ||
	    dsn_date(stamp, sizeof(stamp), c->p->now, true, error_r) == -1)
		return -1;
	if (dsn_foldf(b, t, "Date: %s", date) == -1 ||
	    dsn_foldf(b, t, "From: Mail Delivery System <MAILER-DAEMON@%s>",
	    c->p->hostname) == -1)
		goto full;
	/* An address too long for one line cannot be folded. */
	if (strlen(c->to) + 6 <= DSN_LINE_MAX) {
		if (dsn_foldf(b, t, "To: <%s>", c->to) == -1)
			goto full;
	} else if (dsn_foldf(b, t, "To: undisclosed-recipients:;") == -1)
		goto full;
	if (dsn_foldf(b, t, "Subject: %s", dsn_subject(c->kind)) == -1 ||
	    dsn_foldf(b, t, "Message-ID: <%s.%s@%s>", stamp, c->qid,
	    c->p->hostname) == -1 ||
	    dsn_foldf(b, t, "Auto-Submitted: auto-replied") == -1 ||
	    dsn_foldf(b, t, "MIME-Version: 1.0") == -1 ||
	    buf_printf(b, "Content-Type: multipart/report; "
	    "report-type=delivery-status;\r\n\tboundary=\"%s\"\r\n",
	    c->boundary) == -1 ||
	    (any8 && buf_append_str(b, cte8) == -1) ||
	    buf_printf(b, "\r\nThis is a MIME-encapsulated message.\r\n\r\n"
	    "--%s\r\n", c->boundary) == -1 ||
	    buf_printf(b, "Content-Description: Notification\r\n"
	    "Content-Type: text/plain; charset=%s\r\n%s\r\n",
	    c->text8 ? "utf-8" : "us-ascii", c->text8 ? cte8 : "") == -1 ||
	    buf_append(b, c->part1->data, c->part1->len) == -1 ||
	    buf_printf(b, "\r\n--%s\r\n", c->boundary) == -1 ||
	    buf_printf(b, "Content-Description: Delivery report\r\n"
	    "Content-Type: message/delivery-status\r\n%s\r\n",
	    c->text8 ? cte8 : "") == -1 ||
	    buf_append(b, c->part2->data, c->part2->len) == -1 ||
	    buf_printf(b, "\r\n--%s\r\n", c->boundary) == -1)
		goto full;
	if (c->why == DSN_WHY_FULL) {
		if (buf_printf(b, "Content-Description: Undelivered Message"
		    "\r\nContent-Type: message/rfc822\r\n%s\r\n",
		    c->quote8 ? cte8 : "") == -1)
			goto full;
	} else if (buf_printf(b, "Content-Description: %s\r\n"
	    "Content-Type: text/rfc822-headers\r\n%s\r\n",
	    c->kind == DSN_FAILURE ? "Undelivered Message Headers" :
	    "Message Headers", c->quote8 ? cte8 : "") == -1)
		goto full;
	return 0;
full:
	*error_r = "report too long";
	return -1;
}

static void
dsn_ctx_free(struct dsn_ctx *c)
{
	buf_free(&c->part1);
	buf_free(&c->part2);
	buf_free(&c->head);
	buf_free(&c->tmp);
}

/* Checks the input and makes everything but the quoted bytes. */
static int
dsn_prepare(struct dsn_ctx *c, const struct qfile *orig, enum dsn_kind kind,
    const struct dsn_rcpt *rcpts, unsigned int n, const struct dsn_params *p,
    const char *qid, const char **error_r)
{
	const struct dsn_rcpt	*r;
	unsigned int		 i;

	memset(c, 0, sizeof(*c));
	c->orig = orig;
	c->kind = kind;
	c->rcpts = rcpts;
	c->n = n;
	c->p = p;
	c->qid = qid;
	if (kind != DSN_FAILURE && kind != DSN_DELAY && kind != DSN_SUCCESS) {
		*error_r = "invalid report kind";
		return -1;
	}
	if (!dsn_hostname_ok(p->hostname)) {
		*error_r = "invalid host name for the report";
		return -1;
	}
	if (!dsn_qid_ok(qid)) {
		*error_r = "invalid queue ID for the report";
		return -1;
	}
	if (p->postmaster != NULL && (p->postmaster[0] == '\0' ||
	    strlen(p->postmaster) > QFILE_ADDR_MAX ||
	    !dsn_text_ok(p->postmaster))) {
		*error_r = "invalid postmaster address";
		return -1;
	}
	c->to = p->to != NULL ? p->to : qfile_mail(orig)->sender;
	if (c->to[0] == '\0') {
		*error_r = "no bounce to the null sender";
		return -1;
	}
	if (strlen(c->to) > QFILE_ADDR_MAX || !dsn_text_ok(c->to)) {
		*error_r = "invalid report recipient";
		return -1;
	}
	if (n == 0) {
		*error_r = "no recipients to report on";
		return -1;
	}
	for (i = 0; i < n; i++) {
		r = &rcpts[i];
		if (r->addr == NULL || r->addr[0] == '\0' ||
		    strlen(r->addr) > QFILE_ADDR_MAX || !dsn_text_ok(r->addr) ||
		    (r->orcpt != NULL && (strlen(r->orcpt) > QFILE_ORCPT_MAX ||
		    !dsn_text_ok(r->orcpt)))) {
			*error_r = error_fmt("invalid recipient %u", i);
			return -1;
		}
		if (!dsn_status_ok(r->status)) {
			*error_r = error_fmt("invalid status for recipient %u",
			    i);
			return -1;
		}
	}
	c->fd = qfile_fd(orig);
	if (c->fd == -1) {
		*error_r = "original not opened from a file";
		return -1;
	}
	qfile_message(orig, &c->msg_off, &c->msg_len);
	c->tmp = buf_new(256, DSN_TEXT_MAX);
	c->part1 = buf_new(1024, DSN_TEXT_MAX);
	c->part2 = buf_new(1024, DSN_TEXT_MAX);
	c->head = buf_new(4096, DSN_TEXT_MAX + DSN_HEAD_MAX);
	if (dsn_plan(c, error_r) == -1 || dsn_part1(c, error_r) == -1 ||
	    dsn_part2(c, error_r) == -1)
		return -1;
	c->text8 = dsn_has_8bit(c->part1->data, c->part1->len) ||
	    dsn_has_8bit(c->part2->data, c->part2->len);
	if (dsn_boundary(c, error_r) == -1 || dsn_head(c, error_r) == -1)
		return -1;
	buf_free(&c->part1);
	buf_free(&c->part2);
	return 0;
}

/* Bytes after the quoted original. */
static int
dsn_trailer(const struct dsn_ctx *c, struct buf *b)
{
	return buf_printf(b, "\r\n--%s--\r\n", c->boundary);
}

/* Writes the head, the quoted original in pieces, and the trailer. */
static int
dsn_emit(struct dsn_ctx *c, struct dsn_sink *sk, const char **error_r)
{
	uint8_t		*chunk;
	uint64_t	 off = 0;
	size_t		 want;

	if (dsn_sink_write(sk, c->head->data, c->head->len, error_r) == -1)
		return -1;
	chunk = xmalloc(DSN_CHUNK);
	while (off < c->quote_len) {
		want = c->quote_len - off > DSN_CHUNK ? DSN_CHUNK :
		    (size_t)(c->quote_len - off);
		if (dsn_pread(c->fd, c->msg_off + off, chunk, want,
		    error_r) == -1 ||
		    dsn_sink_write(sk, chunk, want, error_r) == -1) {
			free(chunk);
			return -1;
		}
		off += want;
	}
	free(chunk);
	buf_reset(c->tmp);
	if (dsn_trailer(c, c->tmp) == -1)
		log_panic("dsn: trailer too long");
	return dsn_sink_write(sk, c->tmp->data, c->tmp->len, error_r);
}

/* ---- API ---------------------------------------------------------------- */

int
dsn_build(const struct qfile *orig, enum dsn_kind kind,
    const struct dsn_rcpt *rcpts, unsigned int n, const struct dsn_params *p,
    const char *qid, struct buf *out, const char **error_r)
{
	struct dsn_ctx	c;
	struct dsn_sink	sk = { .out = out };
	int		ret;

	ret = dsn_prepare(&c, orig, kind, rcpts, n, p, qid, error_r);
	if (ret == 0)
		ret = dsn_emit(&c, &sk, error_r);
	dsn_ctx_free(&c);
	return ret;
}

int
dsn_write(const char *queue_dir, const struct qfile *orig, enum dsn_kind kind,
    const struct dsn_rcpt *rcpts, unsigned int n, const struct dsn_params *p,
    char id_r[QFILE_ID_SIZE], const char **error_r)
{
	struct qfile_mail	 m = { .sender = "" };
	struct qfile_client	 cl = { .protocol = "local" };
	struct qfile_rcpt	 rc = { .notify = QFILE_NOTIFY_NEVER };
	struct qfile_writer	*w;
	struct dsn_ctx		 c;
	struct dsn_sink		 sk;
	uint64_t		 total;
	int			 ret = -1;

	if (p->to == NULL && qfile_mail(orig)->sender[0] == '\0') {
		*error_r = "no bounce to the null sender";
		return -1;
	}
	w = qfile_writer_new(queue_dir, error_r);
	if (w == NULL)
		return -1;
	if (dsn_prepare(&c, orig, kind, rcpts, n, p, qfile_writer_id(w),
	    error_r) == -1)
		goto out;
	if (c.text8 || c.quote8)
		m.body = QFILE_BODY_8BITMIME;
	m.smtputf8 = qfile_mail(orig)->smtputf8;
	cl.helo = p->hostname;
	rc.addr = c.to;
	/* The exact size: head, quoted bytes, "\r\n--" boundary "--\r\n". */
	total = c.head->len + c.quote_len + strlen(c.boundary) + 8;
	sk.out = NULL;
	sk.w = w;
	if (qfile_writer_mail(w, &m, error_r) == -1 ||
	    qfile_writer_client(w, &cl, error_r) == -1 ||
	    qfile_writer_add_rcpt(w, &rc, error_r) == -1 ||
	    qfile_writer_begin_message(w, total, error_r) == -1 ||
	    dsn_emit(&c, &sk, error_r) == -1 ||
	    qfile_writer_commit(w, id_r, error_r) == -1)
		goto out;
	ret = 0;
out:
	dsn_ctx_free(&c);
	qfile_writer_abort(&w);
	return ret;
}
