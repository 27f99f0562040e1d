/* SPDX-License-Identifier: ISC */
/*
 * Writing IMAP strings (RFC 3501 section 4, RFC 9051 section 4) into a
 * struct buf.  The choice between a quoted string and a literal is made
 * on the bytes alone: quoted whenever the grammar allows it (it is what
 * clients parse fastest and what humans read in logs), a literal for CR,
 * LF and NUL and for 8-bit bytes unless the session accepts UTF-8 and the
 * bytes are valid UTF-8 (RFC 6855 3, RFC 9051 4.3).  The input is bytes
 * with a length, never trusted to be NUL-terminated; it comes from
 * messages and clients, so everything here is total over any input.
 */
#include "config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "buf.h"
#include "imap_str.h"
#include "utf8.h"

#include "banned.h"

/* What a NUL byte becomes where IMAP cannot carry it (not literal8). */
#define IMAP_STR_NUL_SUBST	0x80

bool
imap_str_can_quote(const char *s, size_t len, unsigned flags)
{
	bool	eight_bit = false;
	size_t	i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\0' || c == '\r' || c == '\n')
			return false;
		if (c >= 0x80)
			eight_bit = true;
	}
	if (!eight_bit)
		return true;
	return (flags & IMAP_STR_UTF8) != 0 && utf8_valid(s, len);
}

/* ATOM-CHAR / "]" of RFC 3501 9 and RFC 9051 9. */
static bool
imap_str_is_astring_char(unsigned char c)
{
	if (c <= 0x1f || c >= 0x7f)
		return false;
	switch (c) {
	case ' ':
	case '(':
	case ')':
	case '{':
	case '%':
	case '*':
	case '"':
	case '\\':
		return false;
	default:
		return true;
	}
}

bool
imap_str_is_astring_atom(const char *s, size_t len)
{
	size_t	i;

	if (len == 0)
		return false;
	for (i = 0; i < len; i++) {
		if (!imap_str_is_astring_char((unsigned char)s[i]))
			return false;
	}
	return true;
}

int
imap_str_nil(struct buf *out)
{
	return buf_append(out, "NIL", 3);
}

int
imap_str_number(struct buf *out, uint64_t n)
{
	char	tmp[20];	/* 18446744073709551615 */
	size_t	i = sizeof(tmp);

	do {
		tmp[--i] = (char)('0' + n % 10);
		n /= 10;
	} while (n != 0);
	return buf_append(out, tmp + i, sizeof(tmp) - i);
}

/* Appends s[0..len) with each NUL replaced (plain literals). */
static int
imap_str_append_nonul(struct buf *out, const char *s, size_t len)
{
	const char	*nul;
	size_t		 n;

	while (len > 0) {
		if ((nul = memchr(s, '\0', len)) == NULL)
			return buf_append(out, s, len);
		n = (size_t)(nul - s);
		if (buf_append(out, s, n) == -1 ||
		    buf_append_byte(out, IMAP_STR_NUL_SUBST) == -1)
			return -1;
		s += n + 1;
		len -= n + 1;
	}
	return 0;
}

int
imap_str_literal(struct buf *out, const char *s, size_t len, unsigned flags)
{
	size_t	old = out->len;
	bool	lit8 = (flags & IMAP_STR_LITERAL8) != 0;
	int	ret;

	/* Check the total first: a literal never goes out cut. */
	if (len > out->max - out->len)
		return -1;
	if (lit8 && buf_append_byte(out, '~') == -1)
		return -1;
	if (buf_append_byte(out, '{') == -1 ||
	    imap_str_number(out, len) == -1 ||
	    buf_append(out, "}\r\n", 3) == -1) {
		buf_truncate(out, old);
		return -1;
	}
	if (len == 0)
		return 0;
	if (lit8)
		ret = buf_append(out, s, len);
	else
		ret = imap_str_append_nonul(out, s, len);
	if (ret == -1)
		buf_truncate(out, old);
	return ret;
}

/* A quoted string; the caller has checked imap_str_can_quote(). */
static int
imap_str_quoted(struct buf *out, const char *s, size_t len)
{
	size_t	old = out->len, i, start;

	if (buf_append_byte(out, '"') == -1)
		return -1;
	for (i = start = 0; i < len; i++) {
		if (s[i] != '"' && s[i] != '\\')
			continue;
		if (buf_append(out, s + start, i - start) == -1 ||
		    buf_append_byte(out, '\\') == -1)
			goto full;
		start = i;	/* the special goes with the next run */
	}
	if (buf_append(out, s + start, len - start) == -1 ||
	    buf_append_byte(out, '"') == -1)
		goto full;
	return 0;
full:
	buf_truncate(out, old);
	return -1;
}

int
imap_str_quoted_or_literal(struct buf *out, const char *s, size_t len,
    unsigned flags)
{
	if (len == 0)
		return buf_append(out, "\"\"", 2);
	if (imap_str_can_quote(s, len, flags))
		return imap_str_quoted(out, s, len);
	return imap_str_literal(out, s, len, flags);
}

int
imap_str_nstring(struct buf *out, const char *s, size_t len, unsigned flags)
{
	if (s == NULL)
		return imap_str_nil(out);
	return imap_str_quoted_or_literal(out, s, len, flags);
}

int
imap_str_astring(struct buf *out, const char *s, size_t len, unsigned flags)
{
	if (imap_str_is_astring_atom(s, len))
		return buf_append(out, s, len);
	return imap_str_quoted_or_literal(out, s, len, flags);
}
