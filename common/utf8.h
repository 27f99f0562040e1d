/* SPDX-License-Identifier: ISC */
/*
 * UTF-8 (RFC 3629): one decoder, one validator, one encoder for every
 * module that reads or writes it (SMTPUTF8 addresses, IMAP strings and
 * mailbox names, MIME text).  Well-formed means no overlong forms, no
 * surrogates (U+D800-U+DFFF), nothing above U+10FFFF and no cut
 * sequence.  Inputs are bytes and a length; NUL is ASCII.
 */
#ifndef POSTERN_UTF8_H
#define POSTERN_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest encoding of one code point. */
#define UTF8_MAX	4

/*
 * The well-formed sequence at s[0..len): its length (1 for ASCII, 2-4)
 * with the code point in *cp_r, or 0 (len 0, a bad lead or continuation
 * byte, overlong, a surrogate, beyond U+10FFFF, cut short).
 */
size_t	utf8_decode(const void *s, size_t len, uint32_t *cp_r);
/* Whether all of s[0..len) is well-formed; the empty string is. */
bool	utf8_valid(const void *s, size_t len);
/*
 * Writes code point cp (a scalar value: not a surrogate, at most
 * U+10FFFF) into out; returns its length, 1-4.
 */
size_t	utf8_encode(uint32_t cp, char out[UTF8_MAX]);

#endif
