/* SPDX-License-Identifier: ISC */
/*
 * 8-bit to 7-bit MIME conversion for a server that does not offer
 * 8BITMIME (RFC 6152 3: the client converts or returns the message),
 * done as Postfix does it: the body of every leaf MIME part that holds
 * 8-bit bytes is re-encoded as quoted-printable (RFC 2045 6.7) and its
 * Content-Transfer-Encoding becomes "quoted-printable"; everything else
 * is passed through byte for byte.
 *
 * The message comes from a queue file: CRLF lines as the client sent
 * them (a bare LF is read as a line end too, and written as CRLF when the
 * line is re-encoded).  It is read twice, in pieces of any size (the
 * caller reads the file), without holding it in memory:
 *
 *   pass 1, mime8_scan(): finds the MIME structure (Content-Type with
 *   its boundary, Content-Transfer-Encoding, nested multiparts and
 *   message/rfc822 parts) and which leaf parts hold 8-bit bytes, and
 *   decides whether the message can be converted;
 *   pass 2, mime8_convert(): the same bytes again; writes the 7-bit
 *   message.
 *
 * A message cannot be converted (mime8_scan_end() returns -1) when an
 * 8-bit byte is in a header section (of the message or of a part: RFC
 * 6152 has no conversion for headers), in a part whose encoding says
 * "base64" or "quoted-printable" (already encoded: 8-bit there is
 * corrupt), in a multipart boundary line, or in a message or
 * multipart part that is not itself made of parts we can reach
 * (multipart without a boundary parameter; nesting deeper than
 * MIME8_MAX_DEPTH).  The caller then defers the message (another MX host
 * may offer 8BITMIME).
 *
 * Header fields are parsed as RFC 2045 5.1 and 6.1 say: field names
 * case-insensitive, folded lines unfolded for parsing (but written as
 * they came), parameters "name=token" or "name=\"quoted string\"" with
 * backslash escapes, comments in parentheses skipped.  The default
 * Content-Type is text/plain, and message/rfc822 inside multipart/digest.
 * A part without a Content-Transfer-Encoding that gets converted gains
 * one "Content-Transfer-Encoding: quoted-printable" field at the end of
 * its header section; one that has "7bit", "8bit" or "binary" has that
 * field rewritten (the field name as it was, the value replaced).  A
 * leaf part without 8-bit bytes is left alone.  When the top-level
 * header section has no MIME-Version and a part is converted,
 * "MIME-Version: 1.0" is added to it.
 *
 * Quoted-printable output: lines of at most 76 characters plus CRLF,
 * soft line breaks ("=" CRLF) to keep to that, "=XX" (upper-case hex) for
 * bytes above 0x7e, "=", and control bytes other than tab; a space or
 * tab at the end of a line encoded ("=20", "=09"); a line of the body
 * that begins with "." or "From " is not special here (the caller
 * dot-stuffs).  The line breaks of the original body are kept as CRLF
 * (hard line breaks), so text stays text.
 */
#ifndef POSTERN_MIME8_H
#define POSTERN_MIME8_H

#include <stddef.h>
#include <stdint.h>

#include "compat.h"
#include "buf.h"

/* Multipart / message nesting followed at most (Postfix: 100). */
#define MIME8_MAX_DEPTH		100
/* Longest header field (unfolded) that is parsed; longer ones are
   passed through and not looked at (a Content-Type that long: -1). */
#define MIME8_FIELD_MAX		(64 * 1024)

struct mime8;

struct mime8 *mime8_new(void);
void	mime8_free(struct mime8 **mp);

/* Pass 1: the message, in order, in pieces of any size (len 0 allowed). */
int	mime8_scan(struct mime8 *m, const uint8_t *data, size_t len,
	    const char **error_r) ATTR_WUR;
/*
 * End of pass 1.  Returns 1 when the message has 8-bit bytes and can be
 * converted, 0 when it has no 8-bit byte at all (send it as it is; pass 2
 * is not needed), -1 with *error_r when it has 8-bit bytes and cannot be
 * converted (the reason, for the log and the DSN).
 */
int	mime8_scan_end(struct mime8 *m, const char **error_r) ATTR_WUR;

/*
 * Pass 2 (after mime8_scan_end() returned 1): the same bytes again, in
 * pieces of any size; appends the converted message to out.  Returns 0,
 * or -1 with *error_r when out is full (buf's maximum) or the bytes
 * differ from pass 1 in a way it notices.  The caller may take bytes
 * out of out between calls (buf_consume, buf_reset).
 */
int	mime8_convert(struct mime8 *m, const uint8_t *data, size_t len,
	    struct buf *out, const char **error_r) ATTR_WUR;
/* End of pass 2: flushes what is held back (a partial last line). */
int	mime8_convert_end(struct mime8 *m, struct buf *out,
	    const char **error_r) ATTR_WUR;

#endif
