/* SPDX-License-Identifier: ISC */
/*
 * Replies from remote SMTP servers as the transfer agent reads them, line
 * by line (RFC 5321 4.2), with the enhanced status code of the first line
 * (RFC 3463, RFC 2034), a one-line summary for logs and bounces, and the
 * EHLO keywords the agent acts on.  The peer is any host on the Internet,
 * so nothing it sends is trusted: every line is checked before the reply
 * changes, the text is kept in a struct buf whose maximum covers the
 * largest reply we accept, the lines are walked by length (they may hold
 * NUL) and the summary turns every byte outside printable ASCII into '?'.
 */
#include "config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/buf.h"
#include "common/error.h"
#include "common/str.h"
#include "transfer-agent/smtp_reply.h"

#include "common/banned.h"

/* "CODE" and its separator: the text starts after them. */
#define SMTP_REPLY_CODE_LEN	3
#define SMTP_REPLY_TEXT_OFF	4
/* What lines holds at most: every line's text with its '\n'. */
#define SMTP_REPLY_BUF_MAX \
	((size_t)SMTP_REPLY_LINES_MAX * (SMTP_REPLY_LINE_MAX + 1))
/* The first allocation: most replies are one short line. */
#define SMTP_REPLY_BUF_INIT	256
/* RFC 3463 2: subject and detail are 1*3digit. */
#define SMTP_REPLY_DSN_FIELD_MAX	3
/* RFC 1870: SIZE takes at most 20 digits. */
#define SMTP_EHLO_SIZE_DIGITS_MAX	20
/* The old AUTH keyword form, "AUTH=PLAIN LOGIN". */
#define SMTP_EHLO_AUTH_OLD	"AUTH="
#define SMTP_EHLO_AUTH_OLD_LEN	(sizeof(SMTP_EHLO_AUTH_OLD) - 1)

static bool
smtp_reply_is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

void
smtp_reply_init(struct smtp_reply *r)
{
	memset(r, 0, sizeof(*r));
	buf_init(&r->lines, SMTP_REPLY_BUF_INIT, SMTP_REPLY_BUF_MAX);
}

void
smtp_reply_reset(struct smtp_reply *r)
{
	r->code = 0;
	r->dsn[0] = '\0';
	buf_reset(&r->lines);
	r->nlines = 0;
	r->done = false;
}

void
smtp_reply_deinit(struct smtp_reply *r)
{
	buf_deinit(&r->lines);
	r->code = 0;
	r->dsn[0] = '\0';
	r->nlines = 0;
	r->done = false;
}

/*
 * One subject or detail field of an enhanced status code at *pp, before
 * end: 1 to 3 digits, no leading zero unless the field is "0".  Advances
 * *pp past it.
 */
static bool
smtp_reply_dsn_field(const char **pp, const char *end)
{
	const char	*p = *pp;
	size_t		 n = 0;

	while (p < end && smtp_reply_is_digit((unsigned char)*p)) {
		if (++n > SMTP_REPLY_DSN_FIELD_MAX)
			return false;
		p++;
	}
	if (n == 0 || (n > 1 && **pp == '0'))
		return false;
	*pp = p;
	return true;
}

/*
 * The enhanced status code at the start of text (len bytes) of a reply
 * with the given code, copied into dsn_r (SMTP_REPLY_DSN_MAX + 1 bytes)
 * when it is one: "class.subject.detail" (RFC 3463 2), class 2, 4 or 5
 * and the same as the code's first digit, then a space or the end.
 * Otherwise dsn_r is "".
 */
static void
smtp_reply_dsn_parse(const char *text, size_t len, unsigned int code,
    char *dsn_r)
{
	const char	*p = text, *end = text + len;
	size_t		 n;

	dsn_r[0] = '\0';
	if (len < 5 || (*p != '2' && *p != '4' && *p != '5') ||
	    (unsigned int)(*p - '0') != code / 100 || p[1] != '.')
		return;
	p += 2;
	if (!smtp_reply_dsn_field(&p, end) || p == end || *p != '.')
		return;
	p++;
	if (!smtp_reply_dsn_field(&p, end) || (p != end && *p != ' '))
		return;
	/* At most "5.999.999": 9 bytes, within SMTP_REPLY_DSN_MAX. */
	n = (size_t)(p - text);
	memcpy(dsn_r, text, n);
	dsn_r[n] = '\0';
}

int
smtp_reply_line(struct smtp_reply *r, const char *line, size_t len,
    const char **error_r)
{
	const unsigned char *u = (const unsigned char *)line;
	const char	*text;
	unsigned int	 code;
	size_t		 tlen;
	bool		 last;

	if (r->done) {
		*error_r = "reply line after the end of the reply";
		return -1;
	}
	if (len > SMTP_REPLY_LINE_MAX) {
		*error_r = error_fmt("reply line too long (%zu bytes, "
		    "at most %d)", len, SMTP_REPLY_LINE_MAX);
		return -1;
	}
	if (r->nlines >= SMTP_REPLY_LINES_MAX) {
		*error_r = error_fmt("reply has more than %d lines",
		    SMTP_REPLY_LINES_MAX);
		return -1;
	}
	if (len < SMTP_REPLY_CODE_LEN) {
		*error_r = "reply line shorter than a reply code";
		return -1;
	}
	if (!smtp_reply_is_digit(u[0]) || !smtp_reply_is_digit(u[1]) ||
	    !smtp_reply_is_digit(u[2])) {
		*error_r = "reply code is not three digits";
		return -1;
	}
	code = (unsigned int)(u[0] - '0') * 100 +
	    (unsigned int)(u[1] - '0') * 10 + (unsigned int)(u[2] - '0');
	/* RFC 5321 4.2.1: 2yz..5yz; 1yz is not used in SMTP. */
	if (code < 200 || code > 599) {
		*error_r = error_fmt("reply code %u out of range 200..599",
		    code);
		return -1;
	}
	if (len == SMTP_REPLY_CODE_LEN) {
		/* A bare "250" ends the reply (RFC 5321 4.2: text optional). */
		last = true;
		text = line + len;
		tlen = 0;
	} else if (line[SMTP_REPLY_CODE_LEN] == ' ' ||
	    line[SMTP_REPLY_CODE_LEN] == '-') {
		last = line[SMTP_REPLY_CODE_LEN] == ' ';
		text = line + SMTP_REPLY_TEXT_OFF;
		tlen = len - SMTP_REPLY_TEXT_OFF;
	} else {
		*error_r = "reply code not followed by space or hyphen";
		return -1;
	}
	if (r->nlines > 0 && code != r->code) {
		*error_r = error_fmt("reply line code %u differs from %u of "
		    "the first line", code, r->code);
		return -1;
	}
	/*
	 * Cannot fail: at most SMTP_REPLY_LINES_MAX lines of at most
	 * SMTP_REPLY_LINE_MAX - 4 bytes and a '\n' each.
	 */
	if (buf_append(&r->lines, text, tlen) == -1 ||
	    buf_append_byte(&r->lines, '\n') == -1) {
		*error_r = "reply exceeds its buffer";
		return -1;
	}
	if (r->nlines == 0) {
		r->code = code;
		smtp_reply_dsn_parse(text, tlen, code, r->dsn);
	}
	r->nlines++;
	if (last) {
		r->done = true;
		return 1;
	}
	return 0;
}

/* Appends c to dst at *pos while there is room before the NUL at cap. */
static inline void
smtp_reply_put(char *dst, size_t cap, size_t *pos, char c)
{
	if (*pos < cap)
		dst[(*pos)++] = c;
}

char *
smtp_reply_summary(const struct smtp_reply *r, char *dst, size_t size)
{
	const char	*p, *end, *nl;
	unsigned char	 c;
	size_t		 pos = 0, cap;

	if (size == 0)
		return dst;
	cap = size - 1;
	if (r->nlines == 0 || r->code < 100 || r->code > 999) {
		dst[0] = '\0';
		return dst;
	}
	smtp_reply_put(dst, cap, &pos, (char)('0' + r->code / 100));
	smtp_reply_put(dst, cap, &pos, (char)('0' + r->code / 10 % 10));
	smtp_reply_put(dst, cap, &pos, (char)('0' + r->code % 10));
	p = r->lines.data;
	end = p + r->lines.len;
	while (p < end && pos < cap) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		/* An empty line adds nothing, not a second space. */
		if (nl > p)
			smtp_reply_put(dst, cap, &pos, ' ');
		for (; p < nl && pos < cap; p++) {
			c = (unsigned char)*p;
			smtp_reply_put(dst, cap, &pos,
			    c >= 0x20 && c < 0x7f ? (char)c : '?');
		}
		p = nl < end ? nl + 1 : end;
	}
	/* Cut right after a separator: drop the dangling space. */
	if (pos == cap && pos > 0 && dst[pos - 1] == ' ')
		pos--;
	dst[pos] = '\0';
	return dst;
}

/* The len bytes at s equal the upper-case ASCII word kw, ignoring case. */
static bool
smtp_ehlo_word_eq(const char *s, size_t len, const char *kw)
{
	size_t	i;
	char	c;

	if (len != strlen(kw))
		return false;
	for (i = 0; i < len; i++) {
		c = s[i];
		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		if (c != kw[i])
			return false;
	}
	return true;
}

/*
 * The next space-separated word in [*pp, end): its start in *word_r and
 * length in *len_r; false when none is left.  Advances *pp past it.
 */
static bool
smtp_ehlo_next_word(const char **pp, const char *end, const char **word_r,
    size_t *len_r)
{
	const char	*p = *pp, *w;

	while (p < end && *p == ' ')
		p++;
	if (p == end) {
		*pp = p;
		return false;
	}
	w = p;
	while (p < end && *p != ' ')
		p++;
	*word_r = w;
	*len_r = (size_t)(p - w);
	*pp = p;
	return true;
}

/* AUTH mechanisms in [p, end); unknown ones are ignored. */
static void
smtp_ehlo_auth(const char *p, const char *end, struct smtp_ehlo *e)
{
	const char	*w;
	size_t		 wlen;

	e->auth = true;
	while (smtp_ehlo_next_word(&p, end, &w, &wlen)) {
		if (smtp_ehlo_word_eq(w, wlen, "PLAIN"))
			e->auth_plain = true;
		else if (smtp_ehlo_word_eq(w, wlen, "LOGIN"))
			e->auth_login = true;
	}
}

/*
 * SIZE and its optional limit in [p, end) (RFC 1870): no parameter, or
 * one that is not a number of at most 20 digits fitting uint64_t, means
 * no limit (0).
 */
static void
smtp_ehlo_size(const char *p, const char *end, struct smtp_ehlo *e)
{
	const char	*w;
	size_t		 wlen;
	uint64_t	 v;

	e->size = true;
	e->size_max = 0;
	if (!smtp_ehlo_next_word(&p, end, &w, &wlen) ||
	    wlen > SMTP_EHLO_SIZE_DIGITS_MAX ||
	    parse_u64_n(w, wlen, UINT64_MAX, &v) == -1)
		return;
	e->size_max = v;
}

/* One keyword line [p, end) of an EHLO reply. */
static void
smtp_ehlo_line(const char *p, const char *end, struct smtp_ehlo *e)
{
	const char	*kw;
	size_t		 kwlen;

	if (!smtp_ehlo_next_word(&p, end, &kw, &kwlen))
		return;
	/* "AUTH=LOGIN PLAIN": what old Microsoft clients wanted to see. */
	if (kwlen >= SMTP_EHLO_AUTH_OLD_LEN &&
	    smtp_ehlo_word_eq(kw, SMTP_EHLO_AUTH_OLD_LEN, SMTP_EHLO_AUTH_OLD)) {
		smtp_ehlo_auth(kw + SMTP_EHLO_AUTH_OLD_LEN, end, e);
		return;
	}
	if (smtp_ehlo_word_eq(kw, kwlen, "AUTH"))
		smtp_ehlo_auth(p, end, e);
	else if (smtp_ehlo_word_eq(kw, kwlen, "SIZE"))
		smtp_ehlo_size(p, end, e);
	else if (smtp_ehlo_word_eq(kw, kwlen, "STARTTLS"))
		e->starttls = true;
	else if (smtp_ehlo_word_eq(kw, kwlen, "PIPELINING"))
		e->pipelining = true;
	else if (smtp_ehlo_word_eq(kw, kwlen, "8BITMIME"))
		e->eightbitmime = true;
	else if (smtp_ehlo_word_eq(kw, kwlen, "SMTPUTF8"))
		e->smtputf8 = true;
	else if (smtp_ehlo_word_eq(kw, kwlen, "DSN"))
		e->dsn = true;
	else if (smtp_ehlo_word_eq(kw, kwlen, "CHUNKING"))
		e->chunking = true;
	else if (smtp_ehlo_word_eq(kw, kwlen, "BINARYMIME"))
		e->binarymime = true;
	else if (smtp_ehlo_word_eq(kw, kwlen, "ENHANCEDSTATUSCODES"))
		e->enhancedstatuscodes = true;
}

void
smtp_ehlo_parse(const struct smtp_reply *r, struct smtp_ehlo *e)
{
	const char	*p, *end, *nl;
	unsigned int	 i;

	memset(e, 0, sizeof(*e));
	/* Only a server that accepted EHLO offers anything. */
	if (!r->done || r->code != 250 || r->lines.data == NULL)
		return;
	p = r->lines.data;
	end = p + r->lines.len;
	for (i = 0; p < end; i++) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		/* The first line is the greeting, not a keyword. */
		if (i > 0)
			smtp_ehlo_line(p, nl, e);
		p = nl < end ? nl + 1 : end;
	}
}
