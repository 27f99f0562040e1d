/* SPDX-License-Identifier: ISC */
/*
 * Checked string and number helpers: the only way text becomes a number
 * (STYLE R8).
 */
#ifndef POSTERN_STR_H
#define POSTERN_STR_H

#include <stdbool.h>
#include <time.h>
#include <stddef.h>
#include <stdint.h>

#include "compat.h"

/*
 * Copies src into dst of the given size, always NUL-terminated.
 * Returns 0, or -1 if src did not fit (dst then holds a truncated copy).
 */
int	str_copy(char *dst, size_t size, const char *src) ATTR_WUR;
/* The same where a cut copy is fine (texts for logs and replies). */
void	str_copy_cut(char *dst, size_t size, const char *src);

/*
 * Parses a whole decimal string of digits only (no sign, no spaces, no
 * leading "+", at least one digit) into *val_r.  Returns 0, or -1 when the
 * string is empty, has any other character, or exceeds max.
 */
int	parse_u64(const char *s, uint64_t max, uint64_t *val_r) ATTR_WUR;
/* The same over exactly len bytes that need not be NUL-terminated. */
int	parse_u64_n(const char *s, size_t len, uint64_t max,
	    uint64_t *val_r) ATTR_WUR;

/* ASCII-only case-insensitive comparison, independent of the locale. */
bool	str_eq_icase(const char *a, const char *b);
bool	str_has_prefix(const char *s, const char *prefix);
/* Lower-cases ASCII letters in place; returns s. */
char	*str_lower(char *s);
/*
 * t as an RFC 5322 date-time in local time, "Mon, 08 Jan 2026 10:00:00
 * +0100", with " (CET)" after it when zone_comment (Received fields, as
 * Postfix writes them).  Returns 0, or -1 when it does not fit size.
 */
int	str_date(char *buf, size_t size, time_t t, bool zone_comment) ATTR_WUR;
/* Skips leading spaces and tabs. */
const char *str_skip_ws(const char *s);
/*
 * The value of base64 digit c (RFC 4648: A-Z a-z 0-9 "+" then c63, which
 * is "/" in base64 and "," in IMAP's modified base64, RFC 3501 5.1.3), or
 * -1 when c is none.
 */
int	str_base64_value(unsigned char c, char c63);

#endif
