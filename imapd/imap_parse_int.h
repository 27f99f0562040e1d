/* SPDX-License-Identifier: ISC */
/*
 * What imap_parse.c (the scanner and the generic parser) and
 * imap_parse_args.c (the typed parsers) share: the character classes of
 * RFC 9051 section 9, the per-command arena and the parser state that
 * APPEND's typed parser drives again after the message literal.  Not for
 * other modules: they use imap_parse.h.
 */
#ifndef POSTERN_IMAP_PARSE_INT_H
#define POSTERN_IMAP_PARSE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imapd/imap_parse.h"

/* The largest number a 64-bit field takes. */
#define NUMBER64_MAX	((uint64_t)INT64_MAX)

/* ---- character classes (RFC 9051 9) -------------------------------------- */

/* What the generic parser takes into an atom: printable, not SP ( ) { ". */
static inline bool
is_token_char(unsigned char c)
{
	return c > 0x20 && c < 0x7f && c != '(' && c != ')' && c != '{' &&
	    c != '"';
}

/* ATOM-CHAR: no atom-specials, list-wildcards, quoted-specials or "]". */
static inline bool
imap_parse_is_atom_char(unsigned char c)
{
	return is_token_char(c) && c != '%' && c != '*' && c != '\\' &&
	    c != ']';
}

static inline bool
imap_parse_is_astring_char(unsigned char c)
{
	return imap_parse_is_atom_char(c) || c == ']';
}

static inline bool
imap_parse_is_list_char(unsigned char c)
{
	return imap_parse_is_astring_char(c) || c == '%' || c == '*';
}

/* tag = 1*<any ASTRING-CHAR except "+"> */
static inline bool
is_tag_char(unsigned char c)
{
	return imap_parse_is_astring_char(c) && c != '+';
}

static inline bool
imap_parse_is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static inline unsigned char
to_upper(unsigned char c)
{
	return c >= 'a' && c <= 'z' ? (unsigned char)(c - 'a' + 'A') : c;
}

struct imap_parser {
	const char		 *data;
	size_t			  len;
	size_t			  pos;
	const struct imap_limits *lim;
	struct imap_cmd		 *cmd;
	const char		 *error;
	bool			  fetch;	/* sections on atoms */
	bool			  in_section;	/* "]" ends atoms */
	bool			  prefix;	/* no CRLF at the end */
};

/* Case-insensitive comparisons with an upper-case word; a class check. */
bool	imap_parse_eq_word(const char *s, size_t len, const char *w);
bool	imap_parse_eq_icase(const char *a, const char *b, size_t n);
bool	imap_parse_all_chars(const char *s, size_t len,
	    bool (*ok)(unsigned char));
/* The command's arena: freed with the next command, never by the caller. */
void	*imap_parse_arena_alloc(struct imap_cmd *cmd, size_t size);
void	*imap_parse_arena_calloc(struct imap_cmd *cmd, size_t nmemb,
	    size_t size);
const char *imap_parse_arena_strndup(struct imap_cmd *cmd, const char *s,
	    size_t len);
/* The generic parser, driven again by APPEND after its literal. */
void	imap_parse_run_start(struct imap_parser *p, const char *data,
	    size_t len, const struct imap_limits *lim, struct imap_cmd *cmd,
	    bool prefix);
int	imap_parse_run_items(struct imap_parser *p, unsigned int depth,
	    char closer, struct imap_arg **first_r, unsigned int *count_r);
int	imap_parse_run_command(struct imap_parser *p);

#endif
