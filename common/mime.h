/* SPDX-License-Identifier: ISC */
/*
 * MIME (RFC 2045-2049, RFC 2231, RFC 2047) for the IMAP server: a parser
 * that turns one whole message held in memory into a tree of parts with
 * byte offsets (never copies of bodies), the IMAP BODY, BODYSTRUCTURE
 * and ENVELOPE values, section lookup (RFC 3501 / RFC 9051 6.4.5), header
 * field helpers, and the decoders SEARCH and BINARY need (quoted-
 * printable, base64, encoded words, charsets to UTF-8, case folding).
 *
 * All input is bytes with a length: NUL and 8-bit bytes may appear
 * anywhere and nothing is assumed NUL-terminated.  Nothing here keeps
 * global state; every function may run in any thread on its own data.
 * Functions that write into a struct buf return 0, or -1 when the
 * buffer's hard maximum is reached: the IMAP writers (BODYSTRUCTURE,
 * ENVELOPE, HEADER.FIELDS) then leave it as it was, the decoders and
 * the search text leave in it what fitted.  Every function is linear in
 * its input (with the limits as factors).
 *
 * Implemented in mime.c (parser, sections, header fields), mime_imap.c
 * (ENVELOPE, BODYSTRUCTURE) and mime_decode.c (decoders, folding,
 * search text).
 */
#ifndef POSTERN_MIME_H
#define POSTERN_MIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "compat.h"

/* ---- limits ------------------------------------------------------------ */

/* Nesting of multiparts and message/rfc822 parts together (root is 0). */
#define MIME_DEFAULT_MAX_DEPTH		32
/* Parts per message, the root and every embedded message included. */
#define MIME_DEFAULT_MAX_PARTS		10000
/* Bytes of each header section whose fields are read. */
#define MIME_DEFAULT_MAX_HEADER_SIZE	(1024 * 1024)
/* Parameters per Content-Type/-Disposition, languages per field. */
#define MIME_DEFAULT_MAX_PARAMS		128
/* max_depth is clamped to this, which bounds the recursion of writers. */
#define MIME_HARD_MAX_DEPTH		256
/* max_params is clamped to this: joining RFC 2231 sections is quadratic. */
#define MIME_HARD_MAX_PARAMS		256

struct mime_limits {
	/*
	 * A multipart or message part at this depth gets no children: its
	 * body is not parsed (flag MIME_PART_TRUNCATED) and runs, like any
	 * leaf, to the next boundary of an enclosing multipart.
	 */
	unsigned	max_depth;
	/* One more part than this makes mime_parse() return -1 (below). */
	unsigned	max_parts;
	/*
	 * A header section still ends at its empty line (so HEADER, TEXT,
	 * MIME and sizes are exact), but only its first max_header_size
	 * bytes are read for fields: fields after that are ignored and a
	 * field cut by the limit is read cut (flag MIME_PART_HEADER_CUT).
	 */
	size_t		max_header_size;
	/* Further parameters, languages and RFC 2231 sections are ignored. */
	unsigned	max_params;
};

/* Fills *lim_r with the MIME_DEFAULT_* values. */
void	mime_limits_default(struct mime_limits *lim_r);

/* ---- the parse tree ---------------------------------------------------- */

/* Bytes with a length; data is NULL for "absent" (written as NIL). */
struct mime_str {
	const char	*data;	/* NUL-terminated, may hold NULs */
	size_t		 len;
};

struct mime_param {
	/* As written, without RFC 2231 "*N" / "*" markers. */
	struct mime_str	name;
	/*
	 * RFC 2231 parameters: continuations joined, %XX decoded and
	 * converted from their charset to UTF-8.  Others: the bytes as
	 * written (a quoted-string unquoted), not converted.
	 */
	struct mime_str	value;
	/* RFC 2231 language tag, or data NULL. */
	struct mime_str	lang;
	/*
	 * What BODYSTRUCTURE shows (as Dovecot does): the name, with "*"
	 * when the value is RFC 2231 encoded, and the continuations
	 * joined but still "charset'lang'%XX" encoded, so that it stays
	 * 7-bit and clients decode it as they decode the MIME header.
	 */
	struct mime_str	imap_name;
	struct mime_str	imap_value;
	bool		rfc2231;
};

enum mime_cte {
	MIME_CTE_7BIT = 0,	/* also when absent */
	MIME_CTE_8BIT,
	MIME_CTE_BINARY,
	MIME_CTE_QP,
	MIME_CTE_BASE64,
	MIME_CTE_UNKNOWN,	/* any other value (BINARY: [UNKNOWN-CTE]) */
};

/* mime_part.flags */
#define MIME_PART_MULTIPART	0x01u	/* multipart/ * */
#define MIME_PART_MESSAGE	0x02u	/* message/rfc822, message/global */
#define MIME_PART_TEXT		0x04u	/* text/ * (also by default) */
#define MIME_PART_HAS_TYPE	0x08u	/* a valid Content-Type read */
#define MIME_PART_TRUNCATED	0x10u	/* max_depth: no children */
#define MIME_PART_HEADER_CUT	0x20u	/* max_header_size cut fields */

/*
 * One part.  Offsets are from the start of the message.  The header
 * section runs from hdr_off for hdr_len bytes and includes the empty line
 * that ends it (when there is one); the body follows it directly and
 * excludes the line break before a boundary line, as RFC 2046 5.1.1 says,
 * unless that line break ends a line already counted elsewhere: the
 * header's empty line, the last line of a header that a boundary cut
 * short, or a nested multipart's close delimiter line (sizes then match
 * Dovecot's).  An embedded message (message) covers exactly the body of
 * its message/rfc822 part.  Every string points into the tree's own
 * memory and lives as long as the tree.
 */
struct mime_part {
	struct mime_part	*parent;	/* NULL for the top root */
	struct mime_part	*next;		/* next in a multipart */
	/* multipart: its parts, in order (NULL when nchildren is 0) */
	struct mime_part	**children;
	unsigned		 nchildren;
	/* MIME_PART_MESSAGE: the embedded message's root, or NULL */
	struct mime_part	*message;

	unsigned		 depth;
	unsigned		 flags;
	size_t			 hdr_off, hdr_len;
	size_t			 body_off, body_len;

	/*
	 * Content-Type, as written (case kept, as Dovecot shows it); a
	 * missing or invalid one gives "text" "plain" and no parameters
	 * (the charset default comes from mime_part_charset()), or
	 * "message" "rfc822" in a multipart/digest.
	 */
	struct mime_str		 type;
	struct mime_str		 subtype;
	struct mime_param	*params;
	unsigned		 nparams;

	/* Unfolded (CR and LF removed), trimmed; data NULL when absent. */
	struct mime_str		 id;
	struct mime_str		 description;
	struct mime_str		 md5;
	struct mime_str		 location;
	/* The first token of Content-Transfer-Encoding, or data NULL. */
	struct mime_str		 cte_name;
	enum mime_cte		 cte;

	/* Content-Disposition: type (data NULL when absent) and params. */
	struct mime_str		 disposition;
	struct mime_param	*disp_params;
	unsigned		 ndisp_params;
	/* Content-Language: the list of tags. */
	struct mime_str		*languages;
	unsigned		 nlanguages;

	/*
	 * Top root only: the message the offsets refer to (the caller keeps
	 * it mapped while it uses the tree; if it maps the same bytes at
	 * another address, it sets msg again), and the tree's memory.
	 */
	const char		*msg;
	size_t			 msg_len;
	struct mime_pool	*pool;
};

/*
 * Parses msg[0..len) (the caller keeps it in memory while it uses the
 * tree) with the limits lim (NULL: the defaults) into *root_r, which the
 * caller frees with mime_free().  Broken input never fails: a missing or
 * invalid Content-Type is text/plain (RFC 2045 5.2), and the part's other
 * Content-* fields still count (Dovecot ignores them); header lines without
 * a colon are skipped; CRLF and LF line ends are both accepted; a
 * multipart without a boundary parameter, or whose boundary never
 * appears, has no parts (BODYSTRUCTURE then shows one empty text/plain
 * part in it, as Dovecot does, and its section 1 does not exist); the
 * preamble and the epilogue belong to no part (a boundary line in the
 * epilogue is ignored); an unterminated part ends where its enclosing
 * body ends; a boundary line of any enclosing multipart ends every part
 * inside it, even one still in its header.  Boundaries match as line
 * prefixes (RFC 2046 5.1.1), the longest one winning.  A message/rfc822
 * or message/global part's body is always parsed as a message, whatever
 * its Content-Transfer-Encoding (as Dovecot does).
 *
 * Returns 0.  Returns -1 only when the message has more than max_parts
 * parts: *root_r is then still set, to the fallback the caller would use
 * anyway, a single text/plain part with the message's header and body.
 */
int	mime_parse(const char *msg, size_t len, const struct mime_limits *lim,
	    struct mime_part **root_r);

/* Frees a tree from mime_parse() (NULL allowed) and sets *rootp to NULL. */
void	mime_free(struct mime_part **rootp);

/*
 * The part's parameter named name (ASCII case-insensitive), or NULL.
 * When both a plain and an RFC 2231 parameter of that name exist (a
 * common habit: filename= and filename*=), the RFC 2231 one.
 */
const struct mime_param *mime_part_param(const struct mime_part *part,
	    const char *name);
/* The same among the Content-Disposition parameters. */
const struct mime_param *mime_part_disp_param(const struct mime_part *part,
	    const char *name);
/* The charset parameter's value, or "us-ascii" (NUL-terminated). */
const char *mime_part_charset(const struct mime_part *part);
/*
 * The number of lines of the part's body (its LF bytes, as Dovecot
 * counts them: a last line without a line end is not counted).  Counted
 * on each call, in time linear in the body.
 */
size_t	mime_part_lines(const struct mime_part *part);
/* The top root of part's tree (whose msg the offsets refer to). */
const struct mime_part *mime_part_top(const struct mime_part *part);

/* ---- IMAP values ------------------------------------------------------- */

/*
 * Flag for mime_bodystructure()'s flags, beside the IMAP_STR_* ones: the
 * session is IMAP4rev2, so message/global parts are written like
 * message/rfc822 ones, with envelope, body and lines (RFC 9051 7.5.2).
 * Without it they are written as basic parts: IMAP4rev1 has no such form
 * and its clients read only message/rfc822 that way.
 */
#define MIME_BS_MESSAGE_GLOBAL	0x100u

/*
 * Appends the value of BODY (extended false) or BODYSTRUCTURE (extended
 * true) for the tree at root (RFC 3501 7.4.2, RFC 9051 7.5.2): "(" ...
 * ")".  Strings go through imap_str with flags (IMAP_STR_UTF8 allows
 * UTF-8 in quoted strings).  Sizes are the body's bytes as stored; lines
 * as mime_part_lines().  A text part without a charset gets ("charset"
 * "us-ascii") after its parameters, as Dovecot writes it.  Returns 0 or
 * -1 (out full).
 */
int	mime_bodystructure(struct buf *out, const struct mime_part *root,
	    bool extended, unsigned flags) ATTR_WUR;

/*
 * Appends the ENVELOPE value (RFC 3501 7.4.2) for the header section
 * hdr[0..hdr_len): date, subject, from, sender, reply-to, to, cc, bcc,
 * in-reply-to, message-id, each from the first such field.  Strings are
 * raw (not RFC 2047 decoded), unfolded and trimmed; a missing field is
 * NIL; sender and reply-to are from's value when absent or empty.
 * Addresses are parsed per RFC 5322 with its obsolete forms: display
 * names (quoted strings unquoted, a comment as the name when there is no
 * phrase), groups as (NIL NIL "name" NIL) ... (NIL NIL NIL NIL), routes
 * as the adl, domain literals kept; a missing local part or domain is
 * "MISSING_MAILBOX" / "MISSING_DOMAIN" (as Dovecot and UW-IMAP write
 * them), and anything unparsable is skipped up to the next comma.
 * flags: IMAP_STR_*.  Returns 0 or -1 (out full).
 */
int	mime_envelope(struct buf *out, const char *hdr, size_t hdr_len,
	    unsigned flags) ATTR_WUR;

/* ---- sections (RFC 3501 6.4.5, RFC 9051 6.4.5) ----------------------- */

/*
 * Finds the part a section's part number names: spec[0..len) is "" (the
 * message itself: root) or "N[.N]*" with each N from 1.  In a multipart,
 * N is its Nth part; a non-multipart message (or embedded message) has
 * only part 1, itself; after a message/rfc822 part the numbers go on in
 * its embedded message ("3.1" is the first part of the message in part 3,
 * or its body when that message is not multipart).  Returns 1 with
 * *part_r set, 0 when there is no such part or spec is not of that form.
 */
int	mime_section_find(const struct mime_part *root, const char *spec,
	    size_t len, const struct mime_part **part_r);

enum mime_section {
	MIME_SECTION_PART,	/* BODY[] / BODY[1.2]: the whole / the body */
	MIME_SECTION_HEADER,	/* [HEADER] [1.2.HEADER]: message header */
	MIME_SECTION_TEXT,	/* [TEXT] [1.2.TEXT]: the message body */
	MIME_SECTION_MIME,	/* [1.2.MIME]: the part's own MIME header */
};

/*
 * The byte range (offset into the message, length) of a section: spec as
 * for mime_section_find() and what to take of it.  "" with PART is the
 * whole message, with HEADER or TEXT the top message's header or body;
 * "N..." with PART is the part's body (for a message/rfc822 part, the
 * whole embedded message), with HEADER or TEXT the embedded message's
 * header or body and only for message/rfc822 (or message/global) parts,
 * with MIME the part's own header section (not for "").  For
 * HEADER.FIELDS[.NOT] take HEADER and give the range to
 * mime_header_fields().  Returns 1 with the range set, or 0 when the
 * section does not exist (Dovecot then sends an empty string).
 */
int	mime_section_range(const struct mime_part *root, const char *spec,
	    size_t len, enum mime_section what, size_t *off_r, size_t *len_r);

/* ---- header fields ----------------------------------------------------- */

struct mime_field {
	const char	*name;		/* no trailing white space */
	size_t		 name_len;
	/*
	 * After the colon and the white space that follows it, up to the
	 * field's last line end (excluded); still folded.
	 */
	const char	*value;
	size_t		 value_len;
	/* The whole field as it appears, its last line end included. */
	const char	*raw;
	size_t		 raw_len;
};

struct mime_header_iter {
	const char	*p;
	const char	*end;
};

/*
 * Iterates the fields of the header section hdr[0..len) (it stops at the
 * empty line that ends a header, if len goes on past it).  A field runs
 * over the lines that begin with space or tab after it.  Lines without a
 * colon, or whose name (before the colon and the white space in front of
 * it) is empty or holds white space or a control character, such as an
 * mbox "From " line, are skipped with their continuation lines.
 * mime_header_iter_next() returns false at the end.
 */
void	mime_header_iter_init(struct mime_header_iter *it, const char *hdr,
	    size_t len);
bool	mime_header_iter_next(struct mime_header_iter *it,
	    struct mime_field *field_r);

/*
 * The first field named name (ASCII case-insensitive).  Returns 1 with
 * *field_r set, or 0.
 */
int	mime_header_find(const char *hdr, size_t len, const char *name,
	    struct mime_field *field_r);

/*
 * Appends value[0..len) unfolded (RFC 5322 2.2.3: every CR and LF
 * removed) and trimmed of spaces and tabs at both ends.
 */
int	mime_header_unfold(struct buf *out, const char *value, size_t len)
	    ATTR_WUR;

/*
 * BODY[HEADER.FIELDS (names)] (not false) or HEADER.FIELDS.NOT (not true)
 * of the header section hdr[0..len): every field whose name is (or is
 * not) one of names[0..n) (ASCII case-insensitive), as it appears in the
 * header (a field whose last line has no line end gets CRLF), then the
 * empty line "\r\n", as IMAP servers send it.
 */
int	mime_header_fields(struct buf *out, const char *hdr, size_t len,
	    const char *const *names, size_t n, bool not) ATTR_WUR;

/* ---- decoders ---------------------------------------------------------- */

/*
 * Quoted-printable (RFC 2045 6.7), tolerant: "=XX" in either case is the
 * byte, "=" before a line end (with white space between) is a soft line
 * break, white space before a hard line end is dropped, and any other
 * "=" is kept as it is.  Line ends are kept as they are.
 */
int	mime_decode_qp(struct buf *out, const char *data, size_t len)
	    ATTR_WUR;
/*
 * Base64 (RFC 2045 6.8), tolerant: bytes outside the alphabet and "="
 * are skipped, a last group of 2 or 3 characters gives its 1 or 2 bytes.
 */
int	mime_decode_base64(struct buf *out, const char *data, size_t len)
	    ATTR_WUR;
/*
 * Decodes a body by its Content-Transfer-Encoding: QP and BASE64 as
 * above, anything else (7bit, 8bit, binary, unknown) copied.  For
 * BINARY[], check part->cte != MIME_CTE_UNKNOWN first.
 */
int	mime_decode_cte(struct buf *out, enum mime_cte cte, const char *data,
	    size_t len) ATTR_WUR;
/* The length mime_decode_cte() would produce (BINARY.SIZE); no memory. */
size_t	mime_decoded_size(enum mime_cte cte, const char *data, size_t len);

/*
 * Converts data[0..len) in charset (NUL-terminated name; NULL or "" for
 * none) to UTF-8 (iconv from glibc; US-ASCII and UTF-8 directly,
 * ISO-8859-1 as Windows-1252, which is what such mail holds).  Bytes that
 * cannot be converted become U+FFFD.  For an unknown charset (or none,
 * or US-ASCII) bytes that are valid UTF-8 are kept and the others
 * become U+FFFD.
 */
int	mime_to_utf8(struct buf *out, const char *data, size_t len,
	    const char *charset) ATTR_WUR;

/*
 * Decodes an unstructured header value (RFC 2047) to UTF-8: unfolded,
 * each =?charset?Q|B?text?= decoded (anywhere, not only between spaces,
 * as mail clients do; an RFC 2231 "*lang" in the charset ignored), white
 * space between two encoded words dropped (RFC 2047 6.2), adjacent words
 * of one charset joined before conversion (so a character split between
 * two words survives); other 8-bit text kept when it is valid UTF-8,
 * else U+FFFD.
 */
int	mime_decode_header(struct buf *out, const char *value, size_t len)
	    ATTR_WUR;

/*
 * Appends the case-folded form of the UTF-8 text utf8[0..len), which
 * SEARCH compares (a key folded with it is a substring of text folded
 * with it when they match ignoring case).  Simple case folding (Unicode
 * CaseFolding.txt, status C and S) from a built-in table, independent of
 * the locale: ASCII, Latin-1, Latin Extended-A, Latin Extended
 * Additional, Greek (final sigma as sigma), Cyrillic (and its
 * supplement), Armenian and fullwidth Latin letters.  Other characters
 * are copied; invalid UTF-8 becomes U+FFFD.
 */
int	mime_fold(struct buf *out, const char *utf8, size_t len) ATTR_WUR;

/* mime_search_text() what */
#define MIME_SEARCH_BODY	0x01u	/* SEARCH BODY: the body text */
#define MIME_SEARCH_HEADER	0x02u	/* with BODY, SEARCH TEXT */

/*
 * Appends the text SEARCH looks in for the message of the tree at root,
 * decoded to UTF-8 and folded with mime_fold(), so that the caller
 * matches a folded key as a substring.  With MIME_SEARCH_BODY: every
 * text/ * part (and a part with no Content-Type) decoded by its
 * Content-Transfer-Encoding and charset, and the header of each attached
 * message/rfc822 (it is body text of the outer message); other parts are
 * skipped.  With MIME_SEARCH_HEADER: the message's own header, each field
 * as "name: value\n" with the value unfolded and RFC 2047 decoded.  A NUL
 * byte separates the pieces (so a key never matches across two parts;
 * NUL bytes in the text become spaces).  Returns 0, or -1 when out's
 * maximum was reached (out holds the pieces that fitted).
 */
int	mime_search_text(struct buf *out, const struct mime_part *root,
	    unsigned what) ATTR_WUR;

#endif
