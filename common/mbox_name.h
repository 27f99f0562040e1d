/* SPDX-License-Identifier: ISC */
/*
 * Mailbox names: modified UTF-7 (RFC 3501 5.1.3), the checks every IMAP
 * mailbox name passes, the Maildir++ folder name each one is stored under,
 * and LIST pattern matching (RFC 3501 6.3.8, RFC 5258).
 *
 * Inside postern a mailbox name is UTF-8 in its canonical form ("the
 * name"): "/" separates hierarchy levels, the first level is "INBOX" in
 * capitals when it names the inbox, and the name has passed
 * mbox_name_normalize().  Names arrive from clients as modified UTF-7
 * (IMAP4rev1) or UTF-8 (UTF8=ACCEPT, IMAP4rev2): mbox_name_from_imap()
 * turns either into the name, mbox_name_to_imap() does the reverse.
 *
 * On disk (postern-mailstore(5)) the inbox is the Maildir itself and every
 * other mailbox is one folder of it named "." followed by the levels
 * joined with ".", each level in modified UTF-7 with these escapes, the
 * ones Dovecot's Maildir++ layout writes with "%" as its storage escape
 * character:
 *	"."  -> "%2e"	(the on-disk separator)
 *	"%"  -> "%25"	(the escape character itself)
 *	"~"  -> "%7e"	only as the first character of the whole name
 * "INBOX/x" is ".INBOX.x", "a.b/c" is ".a%2eb.c", "..", "." and ".x"
 * levels become "%2e%2e", "%2e" and "%2ex", "Entw<U+00FC>rfe" is
 * ".Entw&APw-rfe".
 * Every folder name is one path component: it never holds "/" or NUL,
 * starts with "." followed by a non-empty level, is never "." or "..", and
 * is at most MBOX_NAME_DISK_MAX bytes.  As it starts with ".", no folder
 * can be cur, new, tmp or one of the store's own files (postern-index*,
 * subscriptions, maildirsize, ...).  The mapping is a bijection:
 * mbox_name_from_disk() accepts exactly the names mbox_name_to_disk()
 * makes and refuses everything else (a folder another tool made under a
 * name we would not write, such as ".100%" or ".a..b", is not a mailbox
 * for us: LIST skips it).
 *
 * Limits.  A folder name is one path component, so the real bound on a
 * name is its on-disk form: at most NAME_MAX (255) bytes with its leading
 * ".".  mbox_name_normalize() and everything built on it refuse a name
 * whose on-disk form is longer, so every valid name can be stored.  The
 * UTF-8 length bound (MBOX_NAME_MAX, 255 bytes) comes first and bounds
 * the work: an ASCII name fits on disk up to 254 bytes, a CJK name up to
 * about 94 characters (282 UTF-8 bytes, as modified UTF-7 packs 3 UTF-8
 * bytes into 2.67), accented Latin text much less (U+00E9 alone takes 5
 * bytes, "&AOk-"), so no name far beyond 255 UTF-8 bytes could be stored
 * and a shorter bound would refuse long ASCII names that fit.
 *
 * Every function is reentrant: no global state, no static buffers.
 * Inputs are (bytes, length) and may hold NUL or any 8-bit byte.  Error
 * texts (*error_r) are string literals, safe to log and to send to a
 * client.  Output goes to a caller's struct buf: functions append to it
 * and, on error, leave it as it was (truncated back to its length on
 * entry); a buf too small for the result is an error ("output too long").
 */
#ifndef POSTERN_MBOX_NAME_H
#define POSTERN_MBOX_NAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "compat.h"

/* The IMAP hierarchy separator. */
#define MBOX_NAME_SEP		'/'
/* Longest name, in UTF-8 bytes (see "Limits" above). */
#define MBOX_NAME_MAX		255
/* Most hierarchy levels in a name ("a/b/c" has 3). */
#define MBOX_DEPTH_MAX		16
/* Longest LIST pattern, reference included, in UTF-8 bytes. */
#define MBOX_PATTERN_MAX	1024
/* Longest on-disk folder name, leading "." included: NAME_MAX. */
#define MBOX_NAME_DISK_MAX	255

struct mbox_name_limits {
	size_t		name_max;	/* UTF-8 bytes of a name */
	unsigned int	depth_max;	/* hierarchy levels of a name */
	size_t		pattern_max;	/* UTF-8 bytes, reference + pattern */
};

#define MBOX_NAME_LIMITS_DEFAULT \
	{ MBOX_NAME_MAX, MBOX_DEPTH_MAX, MBOX_PATTERN_MAX }

/* ---- modified UTF-7 ------------------------------------------------- */

/*
 * Decodes modified UTF-7 in[0..len) and appends the UTF-8 to out.
 * Strict: refuses a byte outside printable ASCII (0x20-0x7e), "&" without
 * its closing "-", a character other than modified BASE64 inside "&...-",
 * a base64 run of the wrong length or with non-zero padding bits, a
 * printable ASCII character (or "&") encoded in base64, two runs next to
 * each other ("&AOk-&AOk-" is one run, "&AOkA6Q-"), a lone or reversed
 * surrogate, and U+0000.  "&-" is "&".  So every accepted input is the
 * canonical encoding of its result: encode(decode(x)) == x.  Control
 * characters other than NUL decode (the name checks refuse them).
 * Returns 0, or -1 with *error_r (out unchanged).
 */
int	mbox_name_mutf7_decode(const char *in, size_t len, struct buf *out,
	    const char **error_r) ATTR_WUR;

/*
 * Encodes UTF-8 in[0..len) as modified UTF-7 in its canonical form and
 * appends it to out: printable ASCII but "&" as itself, "&" as "&-",
 * every run of other characters as one "&...-" run of modified BASE64
 * UTF-16.  Refuses invalid UTF-8 (bad or truncated sequences, overlong
 * forms, surrogates, beyond U+10FFFF) and U+0000.  Returns 0, or -1 with
 * *error_r (out unchanged).
 */
int	mbox_name_mutf7_encode(const char *in, size_t len, struct buf *out,
	    const char **error_r) ATTR_WUR;

/* ---- names ---------------------------------------------------------- */

/*
 * True when name[0..len) is "INBOX" in any case (the inbox itself, not
 * one of its children).
 */
bool	mbox_name_is_inbox(const char *name, size_t len);

/*
 * Checks the UTF-8 mailbox name name[0..len) and appends its canonical
 * form to out.  Refuses: an empty name; more than lim->name_max bytes;
 * invalid UTF-8 (as mbox_name_mutf7_encode); NUL, other C0 controls, DEL,
 * C1 controls, U+2028 and U+2029 (RFC 6855 3, RFC 9051 5.1); an empty
 * level ("a//b", a leading or trailing "/"); more than lim->depth_max
 * levels; a name whose on-disk form would exceed MBOX_NAME_DISK_MAX.  The
 * canonical form differs from the input only in a first level that is
 * "INBOX" in another case ("inbox/Sub" -> "INBOX/Sub"; "Sub/inbox" stays).
 * Returns 0, or -1 with *error_r (out unchanged).
 */
int	mbox_name_normalize(const char *name, size_t len,
	    const struct mbox_name_limits *lim, struct buf *out,
	    const char **error_r) ATTR_WUR;

/*
 * A mailbox name as a client sent it (an astring's bytes) to the name:
 * decoded from modified UTF-7 unless utf8 (the session enabled UTF8=ACCEPT
 * or IMAP4rev2, where names are UTF-8 and "&" is an ordinary character),
 * then checked and made canonical as mbox_name_normalize() does.  Appends
 * to out.  Returns 0, or -1 with *error_r (out unchanged).
 */
int	mbox_name_from_imap(const char *in, size_t len, bool utf8,
	    const struct mbox_name_limits *lim, struct buf *out,
	    const char **error_r) ATTR_WUR;

/*
 * The name (canonical, valid) as a client is sent it: modified UTF-7
 * unless utf8, when it is copied as it is.  Appends to out.  Returns 0,
 * or -1 with *error_r (invalid UTF-8, or out full; out unchanged).
 */
int	mbox_name_to_imap(const char *name, size_t len, bool utf8,
	    struct buf *out, const char **error_r) ATTR_WUR;

/*
 * The Maildir++ folder name of the mailbox name name[0..len): checks it
 * as mbox_name_normalize() does (a name in another case of INBOX is the
 * same folder), then appends the folder name described at the top of
 * this file to out.  The inbox appends nothing: its folder is the Maildir
 * itself, and out is left as it was with 0 returned; callers that open
 * the result must treat the empty name as the Maildir.  Returns 0, or -1
 * with *error_r (out unchanged).
 */
int	mbox_name_to_disk(const char *name, size_t len,
	    const struct mbox_name_limits *lim, struct buf *out,
	    const char **error_r) ATTR_WUR;

/*
 * The reverse: the canonical mailbox name of the Maildir++ folder named
 * disk[0..len) (one directory entry of the Maildir), appended to out.
 * Accepts exactly what mbox_name_to_disk() produces: a folder name of
 * another form (no leading ".", ".", "..", an empty level, a "%" not
 * followed by one of our three escapes in lower-case hex, "~" unescaped at
 * the start or "%7e" elsewhere, "." or "%" unescaped in a level, bad or
 * non-canonical modified UTF-7, ".Inbox.x" for ".INBOX.x", ".INBOX"
 * itself, or a name that fails the checks of mbox_name_normalize() under
 * lim) is refused with -1 and *error_r, and out is unchanged.  The empty
 * string gives "INBOX".  Returns 0 or -1.
 */
int	mbox_name_from_disk(const char *disk, size_t len,
	    const struct mbox_name_limits *lim, struct buf *out,
	    const char **error_r) ATTR_WUR;

/*
 * strcmp() for NUL-terminated names in hierarchy order: "/" sorts before
 * every other byte, so a mailbox's descendants follow it directly ("a",
 * "a/b", "a/b/c", "a-1", "a.b", "ab").  Returns <0, 0 or >0.
 */
int	mbox_name_cmp(const char *a, const char *b);

/*
 * True when some names[i] (0 <= i < count, sorted with mbox_name_cmp())
 * is a descendant of name[0..len), that is starts with the name and "/".
 * name need not be in the list (a level that exists only through its
 * children).  O(log count) comparisons; names are canonical.
 */
bool	mbox_name_has_children(const char *const *names, size_t count,
	    const char *name, size_t len);

/* ---- LIST patterns -------------------------------------------------- */

struct mbox_name_pattern;

/*
 * Compiles the LIST reference ref[0..ref_len) and mailbox pattern
 * pat[0..pat_len) (the bytes of the two astrings, decoded from modified
 * UTF-7 unless utf8) into *pattern_r, which the caller frees with
 * mbox_name_pattern_free().  The two combine as RFC 3501 6.3.8 describes
 * for a server with one namespace: an empty reference, or a pattern
 * starting with "/" (an absolute name, which no name of ours matches),
 * leaves the pattern alone; otherwise the pattern is appended to the
 * reference ("archive/" + "%" is "archive/%"; "foo" + "bar" is "foobar", as
 * in Dovecot and UW-imapd: RFC 9051 6.3.9 leaves that case open).
 * Wildcards in either part are wildcards.  LIST "" "" (and "ref" "") asks
 * for the separator, not for names: the caller answers it without a
 * pattern (compiled, an empty pattern matches only the empty string,
 * which is no name).
 *
 * "*" matches any bytes, "%" any bytes but "/", anything else itself;
 * the first level of a name that is INBOX in any case matches
 * case-insensitively ("inbox", "Inbox/%" and "in*" all match INBOX).
 * Matching runs over UTF-8 bytes in O(name length * pattern length / 64)
 * word operations (a bit-parallel automaton, never backtracking).
 *
 * Refuses (-1, *error_r): invalid modified UTF-7 or UTF-8 in either part,
 * a NUL byte, and a combined pattern longer than lim->pattern_max bytes.
 */
int	mbox_name_pattern_new(const char *ref, size_t ref_len,
	    const char *pat, size_t pat_len, bool utf8,
	    const struct mbox_name_limits *lim,
	    struct mbox_name_pattern **pattern_r,
	    const char **error_r) ATTR_WUR;

/* Frees *pp (NULL allowed) and sets *pp to NULL. */
void	mbox_name_pattern_free(struct mbox_name_pattern **pp);

/* The combined pattern, UTF-8, NUL-terminated; *len_r its length. */
const char *mbox_name_pattern_text(const struct mbox_name_pattern *p,
	    size_t *len_r);

/* True when the whole of name[0..len) (a canonical name) matches. */
bool	mbox_name_pattern_match(const struct mbox_name_pattern *p,
	    const char *name, size_t len);

/*
 * True when some name starting with prefix[0..len) could match the
 * pattern; false only when none can.  To skip the descendants of "a/b",
 * ask about "a/b/".  A true answer is not a promise (a pattern's literal
 * part may be no valid name), so the caller still matches each name.
 */
bool	mbox_name_pattern_match_prefix(const struct mbox_name_pattern *p,
	    const char *prefix, size_t len);

#endif
