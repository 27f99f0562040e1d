/* SPDX-License-Identifier: ISC */
/*
 * Inside the MIME module (mime.h): the byte helpers that mime.c (the
 * parser, sections and header fields), mime_imap.c (ENVELOPE and
 * BODYSTRUCTURE) and mime_decode.c (decoders, folding, search text)
 * share.  Nothing outside those three files includes this.
 */
#ifndef POSTERN_MIME_INT_H
#define POSTERN_MIME_INT_H

#include <stdbool.h>
#include <stddef.h>

/* ASCII lower case, independent of the locale. */
static inline unsigned char
mime_lc(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c + ('a' - 'A')) : c;
}

static inline bool
mime_is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

static inline int
mime_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* RFC 2045 5.1 tspecials. */
static inline bool
mime_is_tspecial(unsigned char c)
{
	switch (c) {
	case '(': case ')': case '<': case '>': case '@': case ',': case ';':
	case ':': case '\\': case '"': case '/': case '[': case ']': case '?':
	case '=':
		return true;
	default:
		return false;
	}
}

static inline bool
mime_is_token_char(unsigned char c)
{
	return c > 0x20 && c < 0x7f && !mime_is_tspecial(c);
}

/* a[0..alen) equals the NUL-terminated b, ASCII case-insensitively. */
bool	mime_eq_icase(const char *a, size_t alen, const char *b);
/* a[0..alen) equals b[0..blen), ASCII case-insensitively. */
bool	mime_eq_icase_n(const char *a, size_t alen, const char *b,
	    size_t blen);
/* Narrows value[0..len) to leave out white space and line ends around. */
void	mime_trim(const char **value, size_t *len);
/* p is at "(": returns what follows the comment (nested, quoted pairs). */
const char *mime_skip_comment(const char *p, const char *end);

#endif
