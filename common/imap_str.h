/* SPDX-License-Identifier: ISC */
/*
 * Writing IMAP string syntax (RFC 3501 4.3-4.5, RFC 9051 4.3-4.5) into a
 * struct buf: NIL, atoms, quoted strings, literals and literal8, numbers.
 * These are the server's side of the grammar (responses), so a literal is
 * always the synchronizing "{n}\r\n" form.
 *
 * Every writer returns 0, or -1 when out's hard maximum would be exceeded;
 * out is then left as it was before the call (nothing partial is
 * appended).  None of them keeps state: they may run in any thread.
 */
#ifndef POSTERN_IMAP_STR_H
#define POSTERN_IMAP_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "compat.h"

/*
 * Flags of the writers.  IMAP_STR_UTF8: the session may receive UTF-8 in
 * quoted strings (after ENABLE UTF8=ACCEPT, RFC 6855, or IMAP4rev2,
 * RFC 9051): bytes >= 0x80 no longer force a literal when the whole string
 * is valid UTF-8.  IMAP_STR_LITERAL8: when a literal is needed, write
 * literal8 "~{n}\r\n" and the bytes verbatim, NUL included (BINARY,
 * RFC 3516).  The bits from 0x100 up are left for callers' own flags
 * (mime.h uses one).
 */
#define IMAP_STR_UTF8		0x01u
#define IMAP_STR_LITERAL8	0x02u

/* "NIL". */
int	imap_str_nil(struct buf *out) ATTR_WUR;

/* A number (RFC 3501 number / RFC 9051 number64) in decimal. */
int	imap_str_number(struct buf *out, uint64_t n) ATTR_WUR;

/*
 * s[0..len) as a string: quoted when imap_str_can_quote() says so (with
 * '\\' and '"' escaped), else a literal "{len}\r\n" and the bytes.  IMAP
 * forbids NUL everywhere but in literal8, so without IMAP_STR_LITERAL8 a
 * NUL byte is written as 0x80 (as Dovecot does with NUL in headers) and
 * with it the string goes out as literal8.  s may be NULL when len is 0.
 */
int	imap_str_quoted_or_literal(struct buf *out, const char *s, size_t len,
	    unsigned flags) ATTR_WUR;

/* The same as imap_str_quoted_or_literal, but NIL when s is NULL. */
int	imap_str_nstring(struct buf *out, const char *s, size_t len,
	    unsigned flags) ATTR_WUR;

/*
 * An astring: an atom when imap_str_is_astring_atom() says the bytes may
 * be one, else as imap_str_quoted_or_literal.  (The empty string is "".)
 */
int	imap_str_astring(struct buf *out, const char *s, size_t len,
	    unsigned flags) ATTR_WUR;

/* Always a literal (literal8 with IMAP_STR_LITERAL8), NUL as above. */
int	imap_str_literal(struct buf *out, const char *s, size_t len,
	    unsigned flags) ATTR_WUR;

/*
 * True when s[0..len) may go out as a quoted string: no NUL, CR or LF,
 * and either 7-bit only, or IMAP_STR_UTF8 set and valid UTF-8.
 */
bool	imap_str_can_quote(const char *s, size_t len, unsigned flags);

/*
 * True when s[0..len) is a non-empty run of ASTRING-CHARs (7-bit, no
 * CTL, SP, "(", ")", "{", "%", "*", '"' or '\\'; "]" is allowed).
 */
bool	imap_str_is_astring_atom(const char *s, size_t len);


#endif
