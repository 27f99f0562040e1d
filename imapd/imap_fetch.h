/* SPDX-License-Identifier: ISC */
/*
 * FETCH responses (RFC 3501 6.4.5 and 7.4.2, RFC 9051 6.4.5 and 7.5.2,
 * BINARY RFC 3516): one untagged "* <seq> FETCH (...)" line for one
 * message, from a FETCH command parsed by imap_parse_fetch() and a
 * struct imap_msg (imap_msg.h) that loads and parses the message only
 * when an item needs it.  No I/O, no global state.
 */
#ifndef POSTERN_IMAP_FETCH_H
#define POSTERN_IMAP_FETCH_H

#include <stdbool.h>
#include <time.h>

#include "common/buf.h"
#include "common/compat.h"

#include "imap_msg.h"
#include "imap_parse.h"

/* What the session tells the renderer. */
struct imap_fetch_opts {
	/*
	 * UTF8=ACCEPT or IMAP4rev2 is on: ENVELOPE and BODYSTRUCTURE strings
	 * holding valid UTF-8 may go out quoted (IMAP_STR_UTF8).
	 */
	bool	utf8;
	/*
	 * IMAP4rev2 is on: message/global parts get the message/rfc822 form
	 * in BODY and BODYSTRUCTURE (MIME_BS_MESSAGE_GLOBAL); nothing else
	 * changes (RFC822.* stay allowed, BODYSTRUCTURE is the rev1 one).
	 */
	bool	imap4rev2;
	/* Show \Recent in FLAGS (IMAP4rev1; RFC 9051 removed it). */
	bool	show_recent;
	/*
	 * Append FLAGS when the fetch does not ask for it: the session sets
	 * this when the fetch changed \Seen (RFC 9051 6.4.5: the server
	 * includes the new FLAGS).  It is written last.
	 */
	bool	add_flags;
};

/* Why imap_fetch_msg() failed, and the reply that fits. */
enum imap_fetch_error {
	IMAP_FETCH_E_NONE = 0,
	/* The loader failed: tagged NO with the internal-error text; log. */
	IMAP_FETCH_E_INTERNAL,
	/* out's maximum was reached: NO (the response cannot be sent). */
	IMAP_FETCH_E_FULL,
	/*
	 * BINARY or BINARY.SIZE of a part whose Content-Transfer-Encoding
	 * is unknown: tagged NO [UNKNOWN-CTE] (RFC 3516 4.3).
	 */
	IMAP_FETCH_E_UNKNOWN_CTE,
};

/*
 * Appends to out the untagged response "* <m->seq> FETCH (<items>)\r\n"
 * for message m, with the attributes of fetch in the order asked:
 *
 *	FLAGS		system flags (\Answered \Flagged \Deleted \Seen
 *			\Draft, then \Recent when o->show_recent), then
 *			m->keywords as they are
 *	INTERNALDATE	m->date shown in m->zone, "dd-Mon-yyyy hh:mm:ss +zzzz"
 *	RFC822.SIZE	m->size
 *	UID		m->uid
 *	ENVELOPE, BODY, BODYSTRUCTURE
 *			from common/mime.h; the source's cache is asked
 *			first (IMAP_MSG_CACHE_*, with the IMAP_MSG_CACHE_F_*
 *			bits of the session's form) and filled after
 *	RFC822, RFC822.HEADER, RFC822.TEXT, BODY[section]<partial>
 *			literals ({n}, NUL bytes sent as 0x80); an empty
 *			one as ""; a section that does not exist (BODY[9],
 *			BODY[1.HEADER] of a non-message part) as "", as
 *			Dovecot does; a partial beyond the end as ""
 *	BINARY[part]<partial>
 *			the part's body decoded from its
 *			Content-Transfer-Encoding (a multipart or message
 *			part, and BINARY[], as stored), as literal8 ~{n}
 *			when the bytes sent hold NUL, else as a literal
 *	BINARY.SIZE[part]
 *			the size of that decoded body (0 when no such part)
 *
 * BODY[] (and RFC822, BINARY[]) load the message but never parse it.
 * FLAGS, UID, INTERNALDATE and RFC822.SIZE never load it; a fetch of only
 * those costs no allocation once out has grown.
 *
 * A gone message (the loader answered 0: expunged by another session)
 * gets what the index has (FLAGS, UID, INTERNALDATE, RFC822.SIZE) and
 * NIL for every content item (ENVELOPE, BODY, BODYSTRUCTURE, sections,
 * BINARY, BINARY.SIZE); it is not an error.
 *
 * Returns 0, or -1 with *kind_r and *error_r (for the log) set and out
 * left as it was.  out's maximum bounds the response: a literal larger
 * than what is left is IMAP_FETCH_E_FULL.  Scratch memory for
 * HEADER.FIELDS, BINARY and partials is bounded by out's maximum.
 * Loading and parsing follow imap_msg.h (m keeps them until reset).
 */
int	imap_fetch_msg(struct buf *out, const struct imap_fetch *fetch,
	    struct imap_msg *m, const struct imap_fetch_opts *o,
	    enum imap_fetch_error *kind_r, const char **error_r) ATTR_WUR;

/*
 * Whether the fetch sets \Seen (RFC 9051 6.4.5): any BODY[...] or
 * BINARY[...] without .PEEK, RFC822 or RFC822.TEXT.  The session stores
 * \Seen on such messages before it renders them (and then sets
 * o->add_flags where the flag changed).
 */
bool	imap_fetch_sets_seen(const struct imap_fetch *fetch);

/*
 * Whether any attribute needs the message content (everything but FLAGS,
 * UID, INTERNALDATE and RFC822.SIZE), so a session can skip setting up
 * a loader.
 */
bool	imap_fetch_needs_content(const struct imap_fetch *fetch);

/*
 * Appends INTERNALDATE's value for t shown in zone (minutes east of UTC):
 * the quoted "dd-Mon-yyyy hh:mm:ss +zzzz".  A zone of 24 h or more, or a
 * year outside 0..9999, is shown as UTC / the epoch.  Returns 0 or -1
 * (out full).
 */
int	imap_fetch_date(struct buf *out, time_t t, int zone) ATTR_WUR;

#endif
