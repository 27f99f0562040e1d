/* SPDX-License-Identifier: ISC */
/*
 * SEARCH (RFC 3501 6.4.4, RFC 9051 6.4.4, ESEARCH RFC 4731, SEARCHRES
 * RFC 5182): evaluating a program parsed by imap_parse_search() against
 * one message at a time (struct imap_msg, which loads and parses the
 * message only when a key needs it), and writing the SEARCH / ESEARCH
 * responses.  No I/O, no global state.
 *
 * Use: imap_search_ctx_init(), fill count, max_uid and saved, then
 * imap_search_prepare() once per command, imap_search_match() for each
 * message (in any order), imap_search_reply() with the numbers found,
 * and imap_search_ctx_deinit().
 *
 * Semantics chosen where the RFCs leave room:
 * - Strings match as case-insensitive substrings of decoded text: both
 *   sides folded with mime_fold() (simple Unicode case folding, so "É"
 *   matches "é" but "STRASSE" does not match "straße").  An empty
 *   string matches every message for BODY and TEXT, and for HEADER,
 *   FROM, TO, CC, BCC and SUBJECT every message that has such a field.
 * - HEADER, FROM, TO, CC, BCC, SUBJECT: the top-level header's fields of
 *   that name (any of them), each value unfolded and RFC 2047 decoded.
 *   BODY: the text of the body parts as mime_search_text() gives it
 *   (text parts decoded from QP/base64 and their charset, the header of
 *   attached messages), never the message's own header; TEXT: the header
 *   (each field as "name: value") or the body.
 * - BEFORE, ON, SINCE: the calendar day of the internal date in the
 *   message's own zone (m->zone, as APPEND gave it or the store chose),
 *   not the server's local zone as Dovecot does: the day the client sees
 *   in INTERNALDATE is the day it searches.
 * - SENTBEFORE, SENTON, SENTSINCE: the day written in the Date: field
 *   (its own zone, RFC 9051 6.4.4); without a Date: field or when it
 *   cannot be read, the internal date's day instead, as Dovecot does.
 * - A message that is gone (the loader answered 0) matches nothing when
 *   any key needed its content, whatever NOT says.
 */
#ifndef POSTERN_IMAP_SEARCH_H
#define POSTERN_IMAP_SEARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/compat.h"

#include "imap_msg.h"
#include "imap_parse.h"

/*
 * The folded SEARCH text built for BODY and TEXT when a part needs
 * decoding is kept to this many times max_message bytes (decoding to
 * UTF-8 can grow text); text beyond it is not searched.
 */
#define IMAP_SEARCH_TEXT_FACTOR	4

struct imap_search_ctx {
	/* filled by the session */
	uint32_t		 count;		/* messages: "*" of seq sets */
	uint32_t		 max_uid;	/* highest UID: "*" of UID sets */
	/* "$" (RFC 5182): a normalized set of UIDs, or NULL (empty). */
	const struct imap_seqset *saved;
	/* private: imap_search_prepare() */
	char			**folded;
	unsigned int		 nfolded;
};

/* Zeroes *ctx. */
void	imap_search_ctx_init(struct imap_search_ctx *ctx);
/* Frees what imap_search_prepare() allocated; ctx can be prepared again. */
void	imap_search_ctx_deinit(struct imap_search_ctx *ctx);

/*
 * Readies the program s (from imap_parse_search(), which it changes in
 * place) for ctx's mailbox, once per command: every sequence set is
 * normalized for ctx->count and every UID set for ctx->max_uid
 * (imap_parse_seqset_normalize(); "$" sets are left alone); every search
 * string is replaced by its folded form, allocated in ctx (so s must
 * not be used after imap_search_ctx_deinit()); the members of each AND
 * are reordered, and the two of each OR swapped, so that keys the index
 * answers (flags, UID, sequence numbers, size, internal date) come
 * before keys that read the header, and those before BODY and TEXT:
 * "UNSEEN BODY x" never loads a seen message.  O(number of keys) plus
 * the sets' normalization.
 */
void	imap_search_prepare(struct imap_search *s,
	    struct imap_search_ctx *ctx);

/*
 * Whether message m matches the prepared program s: 1 yes, 0 no, -1 on
 * error (the loader failed; *error_r for the log, answer NO).  Loads and
 * parses m only when a key needs it (imap_msg.h keeps what it built for
 * the next key or a following FETCH).  BODY over a text part in 7bit or
 * 8bit and US-ASCII, UTF-8 or ISO-8859-1 with a key that folds to ASCII
 * is matched on the stored bytes, without a decoded copy; other parts
 * go through mime_search_text().  Memory: besides imap_msg's, at most
 * IMAP_SEARCH_TEXT_FACTOR times max_message for the folded text and the
 * size of one header field for header keys.
 */
int	imap_search_match(const struct imap_search *s, struct imap_msg *m,
	    const struct imap_search_ctx *ctx, const char **error_r) ATTR_WUR;

/*
 * Appends the response for the numbers nums[0..n) (ascending, sequence
 * numbers or UIDs as the command asked):
 * - esearch false: "* SEARCH 2 3 7\r\n" (RFC 3501 7.2.5; "* SEARCH\r\n"
 *   when none);
 * - esearch true: "* ESEARCH (TAG "tag")[ UID][ MIN n][ MAX n][ COUNT n]
 *   [ ALL set]\r\n" (RFC 4731 3.1) with the IMAP_SEARCH_RET_* of ret
 *   (ret 0 means ALL); MIN, MAX and ALL are left out when nothing
 *   matched, COUNT is not; ALL is a sequence set with runs compressed
 *   ("1:3,5").  When ret holds only IMAP_SEARCH_RET_SAVE nothing is
 *   written (RFC 5182 2.1: no ESEARCH response for SAVE alone).
 * Session use: esearch = s->esearch || IMAP4rev2 is on (RFC 9051 has
 * only ESEARCH), ret = s->ret.  tag (NUL-terminated) is written as an
 * IMAP string.  Returns 0, or -1 when out's maximum would be exceeded
 * (out left as it was).
 */
int	imap_search_reply(struct buf *out, const char *tag, bool esearch,
	    unsigned int ret, bool uid, const uint32_t *nums, size_t n)
	    ATTR_WUR;

#endif
