/* SPDX-License-Identifier: ISC */
/*
 * The IMAP command reader and parser (RFC 3501, RFC 9051, and the syntax
 * of LITERAL+/LITERAL- RFC 7888, BINARY RFC 3516, UTF8=ACCEPT RFC 6855,
 * LIST-EXTENDED RFC 5258, LIST-STATUS RFC 5819, SPECIAL-USE RFC 6154,
 * ESEARCH RFC 4731, SEARCHRES RFC 5182, UIDPLUS RFC 4315, MOVE RFC 6851,
 * ENABLE RFC 5161, ID RFC 2971, STATUS SIZE RFC 8438, SASL-IR RFC 4959,
 * APPENDLIMIT RFC 7889 and UNSELECT).  No I/O and no global state: every
 * function works on the caller's bytes and state, so sessions in one
 * process (or threads) never share anything.
 *
 * Three layers:
 *
 * 1. imap_scan() finds, without copying, where a command ends in the bytes
 *    a client has sent so far and where its literals are.  The session
 *    keeps its input in one buffer that starts with the command; it calls
 *    imap_scan() each time bytes arrive and acts on the result:
 *
 *	NEED_MORE	read more and call again (with the same bytes in
 *			front: the scanner remembers how far it got, so a
 *			command arriving byte by byte costs O(n) in total).
 *	LITERAL		a literal was announced at the end of a line,
 *			its size already checked against the limits.
 *			For a synchronizing one ({n}) answer "+ ...".  Then
 *			either keep calling imap_scan() as the bytes arrive
 *			(the literal stays inline in the buffer), or take
 *			the bytes out of the stream yourself (APPEND
 *			streaming a message to a file: st->lit_message),
 *			cut the buffer back to st->lit_offset and call
 *			imap_scan_literal_taken().  To refuse the literal
 *			instead (NO [TRYCREATE], [OVERQUOTA]...), call
 *			imap_scan_refuse() and go on as for ERROR.
 *	COMPLETE	st->cmd_len bytes (final CRLF included) hold the
 *			whole command: parse it with imap_parse_command(),
 *			then drop those bytes, imap_scan_init() again, and
 *			scan what is left (pipelined commands).
 *	ERROR		st->error says why (imap_scan_strerror() gives a
 *			BAD text); st->tag_len says whether a valid tag is
 *			known (data[0..tag_len)).  Answer BAD (or NO
 *			[TOOBIG]), then get back in step with
 *			imap_scan_skip(), which discards the rest of the
 *			broken command (the rest of an overlong line, the
 *			bytes of a refused non-synchronizing literal,
 *			further lines with literals) without buffering it;
 *			or close the connection.
 *
 * 2. imap_parse_command() turns the bytes of one complete command (literals
 *    inline, as scanned) into tag, command name and a tree of struct
 *    imap_arg.  Everything it returns lives in the struct imap_cmd's arena
 *    (or points into the input) until the next imap_parse_command() on the
 *    same struct imap_cmd or imap_parse_cmd_deinit(); the input must stay
 *    unchanged that long.
 *
 * 3. Typed parsers take a parsed struct imap_cmd and check and decode the
 *    arguments of one command (FETCH, SEARCH, STORE, ...).  They allocate
 *    from the same arena, so their results have the same lifetime and
 *    nothing is freed by the caller.
 *
 * Conventions: functions return 0 on success and -1 on error with
 * *error_r set to a short English text for the BAD reply (a string
 * literal, valid forever; it never quotes the client's bytes).
 * Outputs are valid only on success.  Text that comes out of the typed
 * parsers is a struct imap_str: a NUL-terminated copy (or the arena's
 * unescaped string) without NUL bytes inside, length in len.  Input is
 * (const char *data, size_t len) and may hold NUL and 8-bit bytes
 * anywhere; it need not be NUL-terminated.  Keywords and command names
 * are compared ASCII case-insensitively.  Mailbox names come out as the
 * raw bytes the client sent (after unquoting): modified UTF-7 or UTF-8
 * decoding and validation belong to common/mbox_name.h.
 *
 * Every limit is a field of struct imap_limits (imap_limits_init() fills
 * in the defaults below); each is checked before memory is committed to
 * it.  Bounds: one command is at most (max_literals + 1) lines of max_line
 * bytes plus max_literals literals of max_literal bytes (APPEND's message
 * literal excepted, see imap_scan()); the parse tree and typed results
 * take a small multiple of the command's size.
 */
#ifndef POSTERN_IMAP_PARSE_H
#define POSTERN_IMAP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "common/buf.h"
#include "common/compat.h"

/* Longest line, CRLF included (imap_max_line_length; Dovecot's default). */
#define IMAP_PARSE_DEF_MAX_LINE		65536
/* Largest literal other than an APPEND message (LOGIN, SEARCH strings...). */
#define IMAP_PARSE_DEF_MAX_LITERAL	65536
/* Largest APPEND message literal: the APPENDLIMIT the server announces. */
#define IMAP_PARSE_DEF_MAX_APPEND	(64ULL * 1024 * 1024)
/* RFC 7888 4: the largest non-synchronizing literal under LITERAL-. */
#define IMAP_PARSE_LITERAL_MINUS_MAX	4096
/* Literals in one command. */
#define IMAP_PARSE_DEF_MAX_LITERALS	64
/* Nesting of parenthesized lists (a FETCH section's brackets count). */
#define IMAP_PARSE_DEF_MAX_DEPTH	16
/* Arguments in one command, lists and their members all counted. */
#define IMAP_PARSE_DEF_MAX_ARGS		10000
/* Ranges ("1:5" or "7") in a sequence set, and in all of one SEARCH. */
#define IMAP_PARSE_DEF_MAX_RANGES	10000
/* Keys in a SEARCH program (each key, NOT, OR and group counts). */
#define IMAP_PARSE_DEF_MAX_SEARCH_KEYS	1000
/* Nesting of NOT, OR and parentheses in a SEARCH program. */
#define IMAP_PARSE_DEF_MAX_SEARCH_DEPTH	64
/* Attributes in one FETCH (after macro expansion, the implied UID too). */
#define IMAP_PARSE_DEF_MAX_FETCH_ATTS	100
/* Part numbers in one section ("1.2.3" is 3). */
#define IMAP_PARSE_DEF_MAX_SECTION_PARTS 32
/* Largest part number in a section. */
#define IMAP_PARSE_DEF_MAX_PART_NUMBER	100000
/* Field names in one HEADER.FIELDS (.NOT) list. */
#define IMAP_PARSE_DEF_MAX_HEADER_FIELDS 256
/* RFC 2971 3.3: 30 pairs, fields of 30 octets, values of 1024 octets. */
#define IMAP_PARSE_DEF_MAX_ID_PAIRS	30
#define IMAP_PARSE_DEF_MAX_ID_FIELD	30
#define IMAP_PARSE_DEF_MAX_ID_VALUE	1024
/* Longest command name kept (UID folded away); longer is an error. */
#define IMAP_PARSE_NAME_MAX		32

/*
 * Limits, plus the three syntax options a session turns on as it goes
 * (they decide what input is acceptable, so they travel with the limits).
 * The caller may use different limits in different states (e.g. smaller
 * ones before authentication); the scanner and the parser of one command
 * should see the same ones.
 */
struct imap_limits {
	size_t		max_line;	/* per line, CRLF included */
	uint64_t	max_literal;	/* all but APPEND's message */
	uint64_t	max_append;	/* APPEND message literal */
	unsigned int	max_literals;	/* per command */
	unsigned int	max_depth;	/* list nesting */
	unsigned int	max_args;	/* arguments per command */
	unsigned int	max_ranges;	/* sequence set ranges */
	unsigned int	max_search_keys;
	unsigned int	max_search_depth;
	unsigned int	max_fetch_atts;
	unsigned int	max_section_parts;
	uint32_t	max_part_number;
	unsigned int	max_header_fields;
	unsigned int	max_id_pairs;
	size_t		max_id_field;
	size_t		max_id_value;
	bool		literal_plus;	/* LITERAL+ on */
	bool		literal_minus;	/* LITERAL- on */
	bool		utf8_accept;	/* UTF8=ACCEPT or IMAP4rev2 */
};

/* Fills *lim with the defaults above, both LITERAL options and UTF-8 off. */
void	imap_limits_init(struct imap_limits *lim);

/* ---- 1. the scanner ---------------------------------------------------- */

enum imap_scan_result {
	IMAP_SCAN_NEED_MORE = 0,
	IMAP_SCAN_LITERAL,
	IMAP_SCAN_COMPLETE,
	IMAP_SCAN_ERROR,
};

/*
 * Why imap_scan() returned ERROR, and the reply that fits:
 *	LINE_TOO_LONG	a line reached max_line bytes without its LF: BAD
 *	NUL		a NUL byte outside a literal: BAD
 *	LITERAL_TOO_BIG	the announced size is over max_literal (or
 *			max_append for an APPEND message): NO [TOOBIG] for
 *			APPEND's message, BAD [TOOBIG] otherwise
 *	LITERAL_MINUS	{n+} over 4096 bytes with only LITERAL- on
 *			(RFC 7888 4): BAD [TOOBIG]
 *	NONSYNC		{n+} with neither LITERAL+ nor LITERAL- on: BAD
 *	LITERAL8	~{n} anywhere but as APPEND's message: BAD
 *	TOO_MANY_LITERALS more than max_literals literals: BAD
 *	REFUSED		the session refused the literal (imap_scan_refuse())
 * For the literal errors st->lit_* describe the refused literal; when it
 * was non-synchronizing (!st->lit_sync) its bytes are on the way, and
 * imap_scan_skip() discards them (a server must never read them as
 * commands).
 */
enum imap_scan_error {
	IMAP_SCAN_E_NONE = 0,
	IMAP_SCAN_E_LINE_TOO_LONG,
	IMAP_SCAN_E_NUL,
	IMAP_SCAN_E_LITERAL_TOO_BIG,
	IMAP_SCAN_E_LITERAL_MINUS,
	IMAP_SCAN_E_NONSYNC,
	IMAP_SCAN_E_LITERAL8,
	IMAP_SCAN_E_TOO_MANY_LITERALS,
	IMAP_SCAN_E_REFUSED,		/* imap_scan_refuse() */
};

/*
 * imap_scan_init() flag: scan one plain line (the client's answers to
 * AUTHENTICATE challenges, "DONE" ending IDLE): no tag, no literals (a
 * line ending in "{5}" is just text); COMPLETE gives its length.
 */
#define IMAP_SCAN_F_LINE	0x01

/*
 * Scanner state, embedded in the session.  The fields above the line are
 * results the caller reads; the rest is private.  All offsets are from
 * the start of the command (data[0]).
 */
struct imap_scan {
	/* COMPLETE: length of the command, final LF included. */
	size_t		 cmd_len;
	/* LITERAL and literal errors: the last literal announced. */
	uint64_t	 lit_size;	/* its size as announced */
	size_t		 lit_start;	/* "{", or "~" of "~{" */
	size_t		 lit_offset;	/* offset of its first byte */
	bool		 lit_sync;	/* {n}: the client waits */
	bool		 lit_binary;	/* literal8 ~{n} (RFC 3516) */
	bool		 lit_message;	/* APPEND's message */
	unsigned int	 nliterals;	/* literals announced so far */
	/*
	 * Once the first line is complete (or on ERROR): the tag is
	 * data[0..tag_len) when it is a valid tag followed by SP (else
	 * tag_len is 0); the first word after it (the command name, or
	 * "UID") is data[name_off..name_off + name_len).
	 */
	size_t		 tag_len;
	size_t		 name_off;
	size_t		 name_len;
	enum imap_scan_error error;	/* ERROR: why */
	/* private */
	unsigned int	 flags;
	int		 state;
	size_t		 pos;		/* bytes examined */
	size_t		 line_start;	/* where this line began */
	size_t		 args_off;	/* after the name and SP */
	bool		 first_done;	/* first line seen */
	bool		 append;	/* the command is APPEND */
	uint64_t	 skip_left;	/* imap_scan_skip(): literal bytes */
	bool		 skip_cont;	/* line began earlier */
	bool		 tail_cut;	/* the line is longer than tail */
	size_t		 tail_len;	/* kept end of line */
	char		 tail[32];
};

/* Starts scanning a new command (flags: 0 or IMAP_SCAN_F_LINE). */
void	imap_scan_init(struct imap_scan *st, unsigned int flags);

/*
 * Scans data[0..len): the bytes received so far of one command, starting
 * with its first byte.  Call again with the same bytes plus whatever
 * arrived since (the buffer may move; offsets count).  Lines end in CRLF;
 * a bare LF is accepted too, as Dovecot does.  A literal is announced by
 * "{n}", "{n+}", "~{n}" or "~{n+}" just before a line's end (n at most
 * 20 digits).  Before LITERAL is returned the announcement is checked:
 * the literal count against max_literals, literal8 against its place
 * (only APPEND's message), the size against max_append for APPEND's
 * message (any literal of an APPEND but the one right after "APPEND SP",
 * which is the mailbox name) or max_literal for every other, and a
 * non-synchronizing literal against LITERAL+/LITERAL- (4096 bytes under
 * LITERAL- only).  Nothing is allocated, so announcing 4 GB costs
 * nothing.  After LITERAL, NEED_MORE is returned until the literal's
 * bytes and the following line are in.  COMPLETE and ERROR repeat until
 * imap_scan_init().
 */
enum imap_scan_result imap_scan(const char *data, size_t len,
	    struct imap_scan *st, const struct imap_limits *lim);

/*
 * After LITERAL: the caller has taken the literal's st->lit_size bytes out
 * of the stream itself, so from now on its buffer holds data[0..lit_offset)
 * followed directly by what the client sent after the literal.  Scanning
 * continues there (call imap_scan() with that buffer).  Such a command
 * cannot go through imap_parse_command(): use imap_parse_append() and
 * imap_parse_append_next(), which never look at the message bytes.
 */
void	imap_scan_literal_taken(struct imap_scan *st);

/*
 * After LITERAL: the session refuses the literal (it answers NO or BAD
 * itself).  The scanner moves to ERROR with IMAP_SCAN_E_REFUSED, and
 * imap_scan_skip() then discards what the client still sends for this
 * command: nothing more for a synchronizing literal, the literal's bytes
 * and the rest of the command for a non-synchronizing one.
 */
void	imap_scan_refuse(struct imap_scan *st);

/*
 * After ERROR: discards the rest of the broken command.  The first call
 * gets the same data as the failing imap_scan().  Returns 1 when done:
 * drop *drop_r bytes from the front of the buffer, imap_scan_init() and
 * scan what remains as the next command.  Returns 0 when more is needed:
 * drop *drop_r bytes (everything given) and call again with the bytes
 * that arrive next (data then starts with them).  A refused synchronizing
 * literal ends the command at its announcement (the client sends nothing
 * more for it); a refused non-synchronizing one has its bytes discarded
 * by count, then lines are discarded up to one that does not announce a
 * non-synchronizing literal.  Memory use is constant; a 4 GB literal is
 * read and thrown away (or close the connection instead).  Returns -1
 * when the stream cannot be followed any more (a non-synchronizing
 * literal whose size does not fit 64 bits): close the connection.
 */
int	imap_scan_skip(const char *data, size_t len, struct imap_scan *st,
	    size_t *drop_r) ATTR_WUR;

/* A short text for the BAD reply ("Line too long", ...). */
const char *imap_scan_strerror(enum imap_scan_error error);

/* ---- 2. the generic parser ---------------------------------------------- */

enum imap_arg_type {
	IMAP_ARG_ATOM = 1,
	IMAP_ARG_STRING,	/* quoted string, unescaped */
	IMAP_ARG_LITERAL,
	IMAP_ARG_NIL,		/* the atom NIL (any case) */
	IMAP_ARG_LIST,		/* parenthesized list */
};

/*
 * One argument.  ATOM, STRING and NIL: str is a NUL-terminated copy in the
 * arena (NIL keeps its spelling, so a mailbox named "nil" still reads as
 * an astring).  LITERAL: str points into the input and is NOT
 * NUL-terminated; it may hold NUL bytes (has_nul says so).  LIST: child is
 * the first of count members (NULL when empty).  next is the following
 * sibling (NULL after the last).
 *
 * In FETCH (and UID FETCH) commands only, an atom directly followed by
 * "[" is a fetch attribute with a section: str is the name before "[",
 * section a LIST arg holding the section's contents (BODY[] gives an
 * empty one; "1.HEADER.FIELDS (A B)" gives an atom and a list), and
 * partial/partial_len the text between "<" and ">" after "]" (digits,
 * optionally "." digits; NULL when absent; points into the input).
 * Elsewhere "[" and "]" are ordinary atom characters (mailbox "a[1]").
 */
struct imap_arg {
	enum imap_arg_type	 type;
	const char		*str;
	size_t			 len;
	bool			 has_nul;	/* LITERAL holding NUL */
	unsigned int		 count;		/* LIST: members */
	struct imap_arg		*child;		/* LIST: first */
	struct imap_arg		*next;
	struct imap_arg		*section;	/* FETCH section */
	const char		*partial;
	size_t			 partial_len;
};

struct imap_parse_chunk;

/*
 * A parsed command, embedded in the session and reused for each command
 * (its arena keeps a small first block, so an idle session holds about
 * 2 KiB).  tag is NUL-terminated (tag_len 0 when the line had no valid
 * tag; after a failed parse it is still set if the tag was valid, for the
 * "tag BAD" reply).  name is the command name upper-cased ("UID FETCH"
 * gives name "FETCH" and uid true; UID is accepted only before COPY, MOVE,
 * FETCH, SEARCH, STORE and EXPUNGE).  args is the first top-level
 * argument, nargs their number.
 */
struct imap_cmd {
	const char		*tag;
	size_t			 tag_len;
	char			 name[IMAP_PARSE_NAME_MAX + 1];
	bool			 uid;
	struct imap_arg		*args;
	unsigned int		 nargs;
	/* private */
	struct imap_parse_chunk	*chunks;
	unsigned int		 nalloc_args;
	bool			 secret;	/* wipe before reuse */
};

void	imap_parse_cmd_init(struct imap_cmd *cmd);
/* Frees the arena (wiping it first if it held a password). */
void	imap_parse_cmd_deinit(struct imap_cmd *cmd);

/*
 * Parses one command, data[0..len) as imap_scan() delimited it (final CRLF
 * or LF included, literals inline).  Grammar: tag SP name [SP args] CRLF,
 * where tag is 1*<ASTRING-CHAR except "+">, args are atoms, quoted strings
 * ("\" escapes only '"' and "\"; no CR, LF or NUL; 8-bit bytes allowed,
 * and required to be well-formed UTF-8 under utf8_accept), literals
 * ({n} or {n+} then CRLF and n bytes; literal8 "~{" is refused here),
 * NIL and lists.  As Dovecot does, several spaces are taken as one and
 * spaces before ")" or the end of the line are ignored; otherwise
 * arguments must be separated by SP.  Atoms are runs of printable ASCII
 * other than SP ( ) { "; the typed parsers check the stricter classes.
 * Errors: anything else, more than max_depth nesting or max_args
 * arguments, a literal over max_literal or past the end of the input.
 * An empty line gives the error "Empty command" with tag_len 0.
 */
int	imap_parse_command(const char *data, size_t len,
	    const struct imap_limits *lim, struct imap_cmd *cmd,
	    const char **error_r) ATTR_WUR;

/* ---- 3. typed parsers ---------------------------------------------------- */

/* Text from a typed parser: NUL-terminated, no NUL inside. */
struct imap_str {
	const char	*data;
	size_t		 len;
};

/*
 * Commands without arguments: CAPABILITY, NOOP, LOGOUT, STARTTLS, CHECK,
 * CLOSE, UNSELECT, NAMESPACE, IDLE and plain EXPUNGE.  Fails when any
 * argument follows.
 */
int	imap_parse_noargs(const struct imap_cmd *cmd,
	    const char **error_r) ATTR_WUR;

/*
 * The line that ends IDLE (RFC 2177): "DONE" in any case, then CRLF or LF.
 * line/len as imap_scan() with IMAP_SCAN_F_LINE delimited it.
 */
bool	imap_parse_done(const char *line, size_t len);

/*
 * A client's answer to an AUTHENTICATE challenge (RFC 3501 6.2.2), one
 * line as imap_scan() with IMAP_SCAN_F_LINE delimited it: "*" (then
 * *cancel_r is true) or base64 (possibly empty), which *data_r and *len_r
 * point at inside line (not NUL-terminated; CRLF excluded).  Fails on
 * anything that is not base64 (alphabet, length a multiple of 4, "="
 * only as padding).
 */
int	imap_parse_sasl_response(const char *line, size_t len,
	    const char **data_r, size_t *len_r, bool *cancel_r,
	    const char **error_r) ATTR_WUR;

/*
 * AUTHENTICATE mech [initial-response] (RFC 3501, RFC 4959).  mech is an
 * atom; the initial response is base64 or "=" (an empty response), and
 * *has_ir_r says whether one was given (*ir_r is then the base64 text,
 * "" for "=").  The arena is wiped before reuse (credentials).
 */
int	imap_parse_authenticate(struct imap_cmd *cmd,
	    struct imap_str *mech_r, bool *has_ir_r, struct imap_str *ir_r,
	    const char **error_r) ATTR_WUR;

/*
 * LOGIN userid password: two astrings (atom, quoted or literal; a literal
 * holding NUL is refused).  The arena is wiped before reuse; the caller
 * wipes its own input buffer.
 */
int	imap_parse_login(struct imap_cmd *cmd, struct imap_str *user_r,
	    struct imap_str *pass_r, const char **error_r) ATTR_WUR;

/*
 * One mailbox argument (DELETE, SUBSCRIBE, UNSUBSCRIBE): an astring whose
 * atom form holds only ASTRING-CHARs (so no "%", "*" or "\").
 */
int	imap_parse_mailbox(struct imap_cmd *cmd, struct imap_str *mailbox_r,
	    const char **error_r) ATTR_WUR;

/* RENAME old new: two mailboxes. */
int	imap_parse_rename(struct imap_cmd *cmd, struct imap_str *from_r,
	    struct imap_str *to_r, const char **error_r) ATTR_WUR;

/*
 * SELECT / EXAMINE mailbox [SP "(" select-params ")"] (RFC 4466).  No
 * parameter is supported (CONDSTORE and QRESYNC are not offered): an
 * empty list is accepted, any parameter is refused.
 */
int	imap_parse_select(struct imap_cmd *cmd, struct imap_str *mailbox_r,
	    const char **error_r) ATTR_WUR;

/* SPECIAL-USE attributes (RFC 6154), CREATE's USE list. */
#define IMAP_USE_ALL		0x0001
#define IMAP_USE_ARCHIVE	0x0002
#define IMAP_USE_DRAFTS		0x0004
#define IMAP_USE_FLAGGED	0x0008
#define IMAP_USE_JUNK		0x0010
#define IMAP_USE_SENT		0x0020
#define IMAP_USE_TRASH		0x0040
/* A well-formed but unknown "\Xxx": answer NO [USEATTR] (RFC 6154 3). */
#define IMAP_USE_UNKNOWN	0x8000

/*
 * CREATE mailbox [SP "(" "USE" SP "(" [use-attr *(SP use-attr)] ")" ")"]
 * (RFC 4466, RFC 6154).  *use_r gets the IMAP_USE_* bits (0 without USE).
 * Any other create parameter is refused.
 */
int	imap_parse_create(struct imap_cmd *cmd, struct imap_str *mailbox_r,
	    unsigned int *use_r, const char **error_r) ATTR_WUR;

/*
 * Sequence sets (RFC 9051 9: seq-number / seq-range, comma-separated;
 * numbers 1..4294967295 or "*"; ranges in either order; "$" alone, the
 * saved search result of RFC 5182).  As parsed, ranges are as sent with
 * "*" stored as IMAP_SEQ_STAR; imap_parse_seqset_normalize() turns them
 * into sorted, merged, disjoint ranges for a given "*".
 */
#define IMAP_SEQ_STAR	0

struct imap_seq_range {
	uint32_t	lo;
	uint32_t	hi;
};

struct imap_seqset {
	bool			 dollar;	/* "$": no ranges */
	bool			 normalized;
	unsigned int		 nranges;
	struct imap_seq_range	*ranges;	/* arena */
};

/*
 * Parses s[0..len) into *set_r; at most lim->max_ranges ranges (counted
 * before anything is allocated).  Zero, leading "+", empty elements and
 * numbers over 4294967295 are refused.
 */
int	imap_parse_seqset(struct imap_cmd *cmd, const char *s, size_t len,
	    const struct imap_limits *lim, struct imap_seqset *set_r,
	    const char **error_r) ATTR_WUR;

/*
 * Normalizes a parsed set in place: "*" becomes star (the message count
 * for sequence numbers, the highest UID for UIDs; 0 for an empty
 * mailbox), each range is ordered, clamped to 1..star (RFC 9051 6.4.8:
 * "UID 100:*" with highest UID 50 means 50), then the ranges are sorted
 * and merged.  Returns true if any number was above star (for sequence
 * numbers the session answers BAD; for UIDs it is normal).  A "$" set is
 * left alone.  O(n log n).
 */
bool	imap_parse_seqset_normalize(struct imap_seqset *set, uint32_t star);

/* Whether n is in a normalized set (binary search). */
bool	imap_parse_seqset_contains(const struct imap_seqset *set,
	    uint32_t n);

/* How many numbers a normalized set holds. */
uint64_t imap_parse_seqset_count(const struct imap_seqset *set);

/* Ascending iteration over a normalized set. */
struct imap_seqset_iter {
	const struct imap_seqset *set;
	unsigned int	 i;
	uint32_t	 next;
	bool		 started;
};
void	imap_parse_seqset_iter_init(struct imap_seqset_iter *it,
	    const struct imap_seqset *set);
/* Sets *n_r to the next number and returns true, or false at the end. */
bool	imap_parse_seqset_iter_next(struct imap_seqset_iter *it,
	    uint32_t *n_r);

/*
 * COPY / MOVE sequence-set mailbox (UID variants alike), and UID EXPUNGE
 * sequence-set (RFC 4315); plain EXPUNGE takes imap_parse_noargs().
 */
int	imap_parse_copy(struct imap_cmd *cmd, const struct imap_limits *lim,
	    struct imap_seqset *set_r, struct imap_str *mailbox_r,
	    const char **error_r) ATTR_WUR;
int	imap_parse_uid_expunge(struct imap_cmd *cmd,
	    const struct imap_limits *lim, struct imap_seqset *set_r,
	    const char **error_r) ATTR_WUR;

/* System flags (RFC 9051 2.3.2); RECENT only ever reported by the server. */
#define IMAP_FLAG_ANSWERED	0x01
#define IMAP_FLAG_FLAGGED	0x02
#define IMAP_FLAG_DELETED	0x04
#define IMAP_FLAG_SEEN		0x08
#define IMAP_FLAG_DRAFT		0x10
#define IMAP_FLAG_RECENT	0x20

/*
 * A flag list as STORE and APPEND take it: system flags as bits, keywords
 * (atoms of ATOM-CHARs, as sent) in an arena array.  \Recent and unknown
 * "\Xxx" are refused (RFC 9051 6.4.6, 6.3.12).  Duplicates are kept.
 */
struct imap_flags {
	unsigned int	 system;
	unsigned int	 nkeywords;
	struct imap_str	*keywords;
};

enum imap_store_mode {
	IMAP_STORE_REPLACE = 0,		/* FLAGS */
	IMAP_STORE_ADD,			/* +FLAGS */
	IMAP_STORE_REMOVE,		/* -FLAGS */
};

struct imap_store {
	struct imap_seqset	 set;
	enum imap_store_mode	 mode;
	bool			 silent;	/* .SILENT */
	struct imap_flags	 flags;
};

/*
 * STORE sequence-set (["+" / "-"] "FLAGS" [".SILENT"]) SP (flag-list /
 * flag *(SP flag)).  An empty list is allowed ("FLAGS ()" clears all).
 * STORE modifiers (UNCHANGEDSINCE, RFC 7162) are refused.
 */
int	imap_parse_store(struct imap_cmd *cmd, const struct imap_limits *lim,
	    struct imap_store *store_r, const char **error_r) ATTR_WUR;

/*
 * Dates.  imap_parse_date(): "date" of SEARCH, d[d]-Mon-yyyy (RFC 9051
 * date-text; the quotes are the generic parser's business) into the
 * time_t of 00:00:00 UTC that day.  imap_parse_date_time(): APPEND's
 * "dd-Mon-yyyy hh:mm:ss +zzzz" (day as two digits or SP and one digit),
 * the text between the quotes, into the UTC time_t and the zone in
 * minutes east of UTC.  Month names are case-insensitive.  Validated:
 * day within its month (leap years), year 1900..9999, hour < 24, minute
 * and second < 60, zone hours < 24 and minutes < 60.
 */
int	imap_parse_date(const char *s, size_t len, time_t *t_r,
	    const char **error_r) ATTR_WUR;
int	imap_parse_date_time(const char *s, size_t len, time_t *t_r,
	    int *zone_r, const char **error_r) ATTR_WUR;

/*
 * APPEND (RFC 9051 6.3.12, RFC 3502 syntax for further messages).  The
 * session parses what comes before each message literal when imap_scan()
 * returns LITERAL with st->lit_message set, then decides (APPENDLIMIT,
 * TRYCREATE...) before it answers "+" or takes the bytes:
 *
 * imap_parse_append(): data[0..len) is the command up to the message
 * literal's announcement, data[0..st->lit_start): tag SP "APPEND" SP
 * mailbox [SP flag-list] [SP date-time] SP.  Fills cmd (tag, name) and
 * *app_r (mailbox, flags, date).  A literal mailbox name may be inline.
 *
 * imap_parse_append_next(): data[0..len) are the bytes after a message
 * literal: up to the next announcement (data from the literal's end to
 * st->lit_start, on the next LITERAL) or to the command's end (on
 * COMPLETE).  Returns 1 when another message follows ([SP flag-list]
 * [SP date-time] SP; *app_r gets its flags and date, an empty mailbox),
 * 0 when the command ends there (only CRLF left), -1 on error.  It adds
 * to the arena, so what imap_parse_append() returned stays valid.
 */
struct imap_append {
	struct imap_str		 mailbox;
	struct imap_flags	 flags;
	bool			 has_date;
	time_t			 date;
	int			 zone;		/* minutes east */
};

int	imap_parse_append(struct imap_cmd *cmd, const char *data, size_t len,
	    const struct imap_limits *lim, struct imap_append *app_r,
	    const char **error_r) ATTR_WUR;
int	imap_parse_append_next(struct imap_cmd *cmd, const char *data,
	    size_t len, const struct imap_limits *lim,
	    struct imap_append *app_r, const char **error_r) ATTR_WUR;

/* STATUS items (RFC 9051 6.3.11, RFC 8438 SIZE, RFC 7889 APPENDLIMIT). */
#define IMAP_STATUS_MESSAGES	0x01
#define IMAP_STATUS_RECENT	0x02
#define IMAP_STATUS_UIDNEXT	0x04
#define IMAP_STATUS_UIDVALIDITY	0x08
#define IMAP_STATUS_UNSEEN	0x10
#define IMAP_STATUS_SIZE	0x20
#define IMAP_STATUS_DELETED	0x40
#define IMAP_STATUS_APPENDLIMIT	0x80

/* STATUS mailbox SP "(" status-att *(SP status-att) ")" */
int	imap_parse_status(struct imap_cmd *cmd, struct imap_str *mailbox_r,
	    unsigned int *items_r, const char **error_r) ATTR_WUR;

/* LIST-EXTENDED selection options (RFC 5258, RFC 6154). */
#define IMAP_LIST_SEL_SUBSCRIBED	0x01
#define IMAP_LIST_SEL_REMOTE		0x02
#define IMAP_LIST_SEL_RECURSIVEMATCH	0x04
#define IMAP_LIST_SEL_SPECIAL_USE	0x08
/* RETURN options (RFC 5258, RFC 6154, RFC 5819). */
#define IMAP_LIST_RET_SUBSCRIBED	0x01
#define IMAP_LIST_RET_CHILDREN		0x02
#define IMAP_LIST_RET_SPECIAL_USE	0x04
#define IMAP_LIST_RET_STATUS		0x08

/*
 * LIST [SP "(" select-opts ")"] SP mailbox SP (list-mailbox / "("
 * list-mailbox *(SP list-mailbox) ")") [SP "RETURN" SP "(" return-opts
 * ")"], and LSUB mailbox SP list-mailbox (chosen by cmd->name).  ref is
 * the reference (an astring); patterns may hold "%" and "*".  extended
 * is true when any LIST-EXTENDED syntax was used (select options, a
 * pattern list or RETURN), which changes what the reply holds (RFC 5258
 * 3).  Unknown options are refused (RFC 5258 3), as is RECURSIVEMATCH
 * without SUBSCRIBED or SPECIAL-USE.  status holds IMAP_STATUS_* bits
 * when ret has IMAP_LIST_RET_STATUS.
 */
struct imap_list {
	unsigned int	 sel;
	unsigned int	 ret;
	unsigned int	 status;
	bool		 extended;
	struct imap_str	 ref;
	unsigned int	 npatterns;
	struct imap_str	*patterns;
};

int	imap_parse_list(struct imap_cmd *cmd, struct imap_list *list_r,
	    const char **error_r) ATTR_WUR;

/* ENABLE capabilities this server knows (RFC 5161); others are ignored. */
#define IMAP_ENABLE_IMAP4REV2	0x01
#define IMAP_ENABLE_UTF8_ACCEPT	0x02

/* ENABLE capability *(SP capability): at least one atom. */
int	imap_parse_enable(const struct imap_cmd *cmd, unsigned int *caps_r,
	    const char **error_r) ATTR_WUR;

/*
 * ID (RFC 2971): NIL, or a list of field (string) / value (nstring) pairs,
 * at most max_id_pairs pairs, fields of max_id_field bytes, values of
 * max_id_value bytes, no field twice (case-insensitively).
 */
struct imap_id_pair {
	struct imap_str	 field;
	struct imap_str	 value;
	bool		 value_nil;
};

struct imap_id {
	bool			 nil;
	unsigned int		 npairs;
	struct imap_id_pair	*pairs;
};

int	imap_parse_id(struct imap_cmd *cmd, const struct imap_limits *lim,
	    struct imap_id *id_r, const char **error_r) ATTR_WUR;

/* FETCH attributes (RFC 9051 6.4.5, RFC 3516). */
enum imap_fetch_item {
	IMAP_FETCH_FLAGS = 0,
	IMAP_FETCH_INTERNALDATE,
	IMAP_FETCH_RFC822_SIZE,
	IMAP_FETCH_ENVELOPE,
	IMAP_FETCH_BODY,		/* structure, no extensions */
	IMAP_FETCH_BODYSTRUCTURE,
	IMAP_FETCH_UID,
	IMAP_FETCH_RFC822,
	IMAP_FETCH_RFC822_HEADER,
	IMAP_FETCH_RFC822_TEXT,
	IMAP_FETCH_BODY_SECTION,	/* BODY[...] and BODY.PEEK[...] */
	IMAP_FETCH_BINARY,		/* BINARY[...] and BINARY.PEEK[...] */
	IMAP_FETCH_BINARY_SIZE,
};

enum imap_section_spec {
	IMAP_SECTION_ALL = 0,		/* [] or [1.2]: the whole (part) */
	IMAP_SECTION_HEADER,
	IMAP_SECTION_HEADER_FIELDS,
	IMAP_SECTION_HEADER_FIELDS_NOT,
	IMAP_SECTION_TEXT,
	IMAP_SECTION_MIME,		/* only after a part number */
};

/*
 * A section: nparts part numbers (each 1..max_part_number, at most
 * max_section_parts), then what of that part.  fields (HEADER.FIELDS and
 * .NOT) are the names as sent: astrings of printable ASCII without ":"
 * (RFC 5322 ftext), at most max_header_fields.  BINARY takes part
 * numbers only.
 */
struct imap_section {
	unsigned int		 nparts;
	uint32_t		*parts;
	enum imap_section_spec	 spec;
	unsigned int		 nfields;
	struct imap_str		*fields;
};

struct imap_fetch_att {
	enum imap_fetch_item	 item;
	bool			 peek;		/* .PEEK */
	struct imap_section	 section;	/* sections only */
	bool			 partial;	/* <offset.count> given */
	uint64_t		 offset;
	uint64_t		 count;		/* > 0 */
};

/* items: a bit (1u << item) for each item present, for quick checks. */
struct imap_fetch {
	struct imap_seqset	 set;
	unsigned int		 natts;
	struct imap_fetch_att	*atts;
	unsigned int		 items;
};

/*
 * FETCH sequence-set (macro / att / "(" att *(SP att) ")"), macros ALL,
 * FAST, FULL (RFC 9051 6.4.5; alone only) expanded.  UID FETCH adds a UID
 * attribute when none was asked for (the reply must carry it).  Refused:
 * MODSEQ and other CONDSTORE syntax, FETCH modifiers, BODY.PEEK or
 * BINARY* without a section, a section or partial on any other
 * attribute, BINARY sections with more than part numbers, MIME without
 * a part number, a partial count of 0, more than max_fetch_atts.
 */
int	imap_parse_fetch(struct imap_cmd *cmd, const struct imap_limits *lim,
	    struct imap_fetch *fetch_r, const char **error_r) ATTR_WUR;

/*
 * Appends the name an attribute takes in the FETCH reply: "FLAGS",
 * "RFC822.HEADER", "BODY[1.2.HEADER.FIELDS (From To)]", "BINARY[1]<0>"
 * (".PEEK" dropped, the partial as its origin only, RFC 9051 7.5.2), to
 * out.  Returns 0, or -1 when out's maximum would be exceeded.
 */
int	imap_parse_fetch_att_name(const struct imap_fetch_att *att,
	    struct buf *out) ATTR_WUR;

/* SEARCH keys (RFC 9051 6.4.4 and RFC 3501 6.4.4). */
enum imap_search_key {
	IMAP_SEARCH_AND = 0,	/* every child; the root and "(...)" */
	IMAP_SEARCH_OR,		/* child and child->next */
	IMAP_SEARCH_NOT,	/* child */
	IMAP_SEARCH_ALL,
	IMAP_SEARCH_SEQSET,	/* set: message sequence numbers or "$" */
	IMAP_SEARCH_UID,	/* set: UIDs or "$" */
	/* flags, no argument */
	IMAP_SEARCH_ANSWERED,
	IMAP_SEARCH_DELETED,
	IMAP_SEARCH_DRAFT,
	IMAP_SEARCH_FLAGGED,
	IMAP_SEARCH_SEEN,
	IMAP_SEARCH_RECENT,
	IMAP_SEARCH_NEW,	/* RECENT and UNSEEN */
	IMAP_SEARCH_OLD,	/* not RECENT */
	IMAP_SEARCH_UNANSWERED,
	IMAP_SEARCH_UNDELETED,
	IMAP_SEARCH_UNDRAFT,
	IMAP_SEARCH_UNFLAGGED,
	IMAP_SEARCH_UNSEEN,
	/* value: a keyword atom */
	IMAP_SEARCH_KEYWORD,
	IMAP_SEARCH_UNKEYWORD,
	/* value: a string (astring) */
	IMAP_SEARCH_BCC,
	IMAP_SEARCH_BODY,
	IMAP_SEARCH_CC,
	IMAP_SEARCH_FROM,
	IMAP_SEARCH_SUBJECT,
	IMAP_SEARCH_TEXT,
	IMAP_SEARCH_TO,
	IMAP_SEARCH_HEADER,	/* field and value */
	/* date: 00:00:00 UTC of the day */
	IMAP_SEARCH_BEFORE,
	IMAP_SEARCH_ON,
	IMAP_SEARCH_SINCE,
	IMAP_SEARCH_SENTBEFORE,
	IMAP_SEARCH_SENTON,
	IMAP_SEARCH_SENTSINCE,
	/* size in octets */
	IMAP_SEARCH_LARGER,
	IMAP_SEARCH_SMALLER,
};

struct imap_search_node {
	enum imap_search_key	 key;
	struct imap_search_node	*child;		/* AND, OR, NOT */
	struct imap_search_node	*next;		/* next sibling */
	struct imap_str		 field;		/* HEADER */
	struct imap_str		 value;		/* strings */
	time_t			 date;
	uint64_t		 size;
	struct imap_seqset	 set;		/* SEQSET, UID */
};

/* ESEARCH RETURN options (RFC 4731, RFC 5182 SAVE). */
#define IMAP_SEARCH_RET_MIN	0x01
#define IMAP_SEARCH_RET_MAX	0x02
#define IMAP_SEARCH_RET_ALL	0x04
#define IMAP_SEARCH_RET_COUNT	0x08
#define IMAP_SEARCH_RET_SAVE	0x10

/*
 * root is an AND node over the top-level keys.  esearch is true when
 * RETURN was given (answer ESEARCH); ret then holds its options, with
 * RETURN () meaning ALL (RFC 4731 3.1).  nkeys counts all nodes.
 */
struct imap_search {
	struct imap_search_node	*root;
	bool			 esearch;
	unsigned int		 ret;
	bool			 charset;	/* CHARSET was given */
	unsigned int		 nkeys;
};

/* imap_parse_search() failures. */
enum imap_parse_err {
	IMAP_PARSE_E_NONE = 0,
	IMAP_PARSE_E_SYNTAX,		/* BAD */
	IMAP_PARSE_E_BADCHARSET,	/* NO [BADCHARSET (UTF-8)] */
};

/*
 * SEARCH [RETURN (opts)] [CHARSET charset] key *(SP key) (RFC 9051 6.4.4,
 * RFC 4731, RFC 5182).  Every RFC 3501/9051 key, sequence sets, "$",
 * NOT, OR and parenthesized groups.  CHARSET other than UTF-8 or US-ASCII
 * fails with *kind_r BADCHARSET; every other failure is SYNTAX.  Limits:
 * max_search_keys nodes, max_search_depth nesting, max_ranges ranges in
 * all sets together.  Strings may hold 8-bit bytes (UTF-8 is assumed;
 * the searcher folds case), never NUL.
 */
int	imap_parse_search(struct imap_cmd *cmd,
	    const struct imap_limits *lim, struct imap_search *search_r,
	    enum imap_parse_err *kind_r, const char **error_r) ATTR_WUR;

#endif
