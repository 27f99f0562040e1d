/* SPDX-License-Identifier: ISC */
/*
 * The IMAP command reader and parser: the scanner that delimits commands
 * and literals in a session's input buffer, the generic parser that turns
 * one command into a tree of arguments, and the typed parsers for each
 * command's arguments (sequence sets, FETCH attributes and sections,
 * SEARCH programs, STORE, APPEND, LIST, STATUS, dates, ID...).
 *
 * Everything here trusts nothing: input is bytes from the network with an
 * explicit length, every limit comes from struct imap_limits and is
 * checked before memory is committed, and nothing asserts on bad input.
 * No global state: the parse results live in the struct imap_cmd's arena
 * (a short list of blocks reused from command to command), so sessions
 * in one process share nothing.  Recursion (lists, search programs) is
 * bounded by max_depth and max_search_depth.
 */
#include "config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/str.h"
#include "common/xmalloc.h"

#include "imapd/imap_parse.h"

#include "common/banned.h"

/* Arena blocks: the first is kept between commands, later ones double. */
#define ARENA_FIRST	2048
#define ARENA_MAX_STEP	65536
#define ARENA_ALIGN	16

/* RFC 9051 number64: the largest offset, count or size we take. */
#define NUMBER64_MAX	((uint64_t)INT64_MAX)

/* The most digits a literal size may have (2^64 has 20). */
#define LITERAL_DIGITS_MAX	20

struct imap_parse_chunk {
	struct imap_parse_chunk	*next;
	size_t			 size;
	size_t			 used;
	max_align_t		 data[];
};

void
imap_limits_init(struct imap_limits *lim)
{
	memset(lim, 0, sizeof(*lim));
	lim->max_line = IMAP_PARSE_DEF_MAX_LINE;
	lim->max_literal = IMAP_PARSE_DEF_MAX_LITERAL;
	lim->max_append = IMAP_PARSE_DEF_MAX_APPEND;
	lim->max_literals = IMAP_PARSE_DEF_MAX_LITERALS;
	lim->max_depth = IMAP_PARSE_DEF_MAX_DEPTH;
	lim->max_args = IMAP_PARSE_DEF_MAX_ARGS;
	lim->max_ranges = IMAP_PARSE_DEF_MAX_RANGES;
	lim->max_search_keys = IMAP_PARSE_DEF_MAX_SEARCH_KEYS;
	lim->max_search_depth = IMAP_PARSE_DEF_MAX_SEARCH_DEPTH;
	lim->max_fetch_atts = IMAP_PARSE_DEF_MAX_FETCH_ATTS;
	lim->max_section_parts = IMAP_PARSE_DEF_MAX_SECTION_PARTS;
	lim->max_part_number = IMAP_PARSE_DEF_MAX_PART_NUMBER;
	lim->max_header_fields = IMAP_PARSE_DEF_MAX_HEADER_FIELDS;
	lim->max_id_pairs = IMAP_PARSE_DEF_MAX_ID_PAIRS;
	lim->max_id_field = IMAP_PARSE_DEF_MAX_ID_FIELD;
	lim->max_id_value = IMAP_PARSE_DEF_MAX_ID_VALUE;
}

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
is_atom_char(unsigned char c)
{
	return is_token_char(c) && c != '%' && c != '*' && c != '\\' &&
	    c != ']';
}

static inline bool
is_astring_char(unsigned char c)
{
	return is_atom_char(c) || c == ']';
}

static inline bool
is_list_char(unsigned char c)
{
	return is_astring_char(c) || c == '%' || c == '*';
}

/* tag = 1*<any ASTRING-CHAR except "+"> */
static inline bool
is_tag_char(unsigned char c)
{
	return is_astring_char(c) && c != '+';
}

static inline bool
is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static inline unsigned char
to_upper(unsigned char c)
{
	return c >= 'a' && c <= 'z' ? (unsigned char)(c - 'a' + 'A') : c;
}

/* s[0..len) equals the upper-case word w (NUL-terminated), ignoring case. */
static bool
eq_word(const char *s, size_t len, const char *w)
{
	size_t	i;

	for (i = 0; i < len; i++) {
		if (w[i] == '\0' || to_upper((unsigned char)s[i]) !=
		    (unsigned char)w[i])
			return false;
	}
	return w[i] == '\0';
}

/* a[0..n) and b[0..n) are equal ignoring ASCII case. */
static bool
eq_icase(const char *a, const char *b, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		if (to_upper((unsigned char)a[i]) !=
		    to_upper((unsigned char)b[i]))
			return false;
	}
	return true;
}

static bool
all_chars(const char *s, size_t len, bool (*ok)(unsigned char))
{
	size_t	i;

	for (i = 0; i < len; i++) {
		if (!ok((unsigned char)s[i]))
			return false;
	}
	return true;
}

/* Well-formed UTF-8: no overlong forms, surrogates or values > U+10FFFF. */
static bool
utf8_valid(const unsigned char *s, size_t len)
{
	size_t		i = 0, n, k;
	uint32_t	cp, min;

	while (i < len) {
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if (s[i] >= 0xc2 && s[i] <= 0xdf) {
			n = 1;
			cp = s[i] & 0x1f;
			min = 0x80;
		} else if (s[i] >= 0xe0 && s[i] <= 0xef) {
			n = 2;
			cp = s[i] & 0x0f;
			min = 0x800;
		} else if (s[i] >= 0xf0 && s[i] <= 0xf4) {
			n = 3;
			cp = s[i] & 0x07;
			min = 0x10000;
		} else
			return false;
		if (len - i <= n)
			return false;
		for (k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += n + 1;
	}
	return true;
}

/* ---- the arena ----------------------------------------------------------- */

static void
arena_reset(struct imap_cmd *cmd)
{
	struct imap_parse_chunk	*c, *next, *keep = NULL;

	for (c = cmd->chunks; c != NULL; c = next) {
		next = c->next;
		if (cmd->secret)
			explicit_bzero(c->data, c->used);
		if (keep == NULL && c->size == ARENA_FIRST) {
			keep = c;
			keep->used = 0;
			keep->next = NULL;
		} else
			free(c);
	}
	cmd->chunks = keep;
	cmd->secret = false;
}

/* Memory for size bytes that lives until the next arena_reset(). */
static void *
arena_alloc(struct imap_cmd *cmd, size_t size)
{
	struct imap_parse_chunk	*c = cmd->chunks;
	size_t			 step;
	void			*p;

	if (size > SIZE_MAX / 2)
		log_panic("imap_parse: arena request of %zu bytes", size);
	/* UNSAFE: size <= SIZE_MAX / 2, so rounding up cannot wrap. */
	size = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
	if (c != NULL && c->size - c->used >= size) {
		p = (char *)c->data + c->used;
		c->used += size;
		return p;
	}
	if (c == NULL)
		step = ARENA_FIRST;
	else if (c->size >= ARENA_MAX_STEP / 2)
		step = ARENA_MAX_STEP;
	else
		step = c->size * 2;
	if (step < size)
		step = size;
	c = xmalloc(sizeof(*c) + step);
	c->size = step;
	c->used = size;
	c->next = cmd->chunks;
	cmd->chunks = c;
	return c->data;
}

static void *
arena_calloc(struct imap_cmd *cmd, size_t nmemb, size_t size)
{
	void	*p;

	if (size != 0 && nmemb > SIZE_MAX / 2 / size)
		log_panic("imap_parse: arena request of %zu x %zu", nmemb,
		    size);
	p = arena_alloc(cmd, nmemb * size);
	memset(p, 0, nmemb * size);
	return p;
}

/* A NUL-terminated copy of s[0..len). */
static const char *
arena_strndup(struct imap_cmd *cmd, const char *s, size_t len)
{
	char	*p;

	p = arena_alloc(cmd, len + 1);
	if (len > 0)
		memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

void
imap_parse_cmd_init(struct imap_cmd *cmd)
{
	memset(cmd, 0, sizeof(*cmd));
}

void
imap_parse_cmd_deinit(struct imap_cmd *cmd)
{
	struct imap_parse_chunk	*c, *next;

	for (c = cmd->chunks; c != NULL; c = next) {
		next = c->next;
		if (cmd->secret)
			explicit_bzero(c->data, c->used);
		free(c);
	}
	memset(cmd, 0, sizeof(*cmd));
}

/* ---- 1. the scanner ------------------------------------------------------ */

enum scan_state {
	SCAN_LINE = 0,		/* looking for the end of a line */
	SCAN_LITERAL,		/* waiting for a literal's bytes */
	SCAN_DONE,
	SCAN_ERROR,
	SKIP_LINE,		/* imap_scan_skip(): discarding a line */
	SKIP_BYTES,		/* imap_scan_skip(): discarding a literal */
	SKIP_DONE,
};

/*
 * Whether line[0..n) (the line without its LF; a CR before the LF is
 * still there) ends with a literal announcement: 1 and *start_r (index
 * of "{", or of "~" for literal8), *size_r (UINT64_MAX when it does not
 * fit or has more than 20 digits), *sync_r, *binary_r; 0 when not.  When
 * cut is true line[] is only the end of a longer line, and -1 means the
 * digits run into the cut, so the answer cannot be known.
 */
static int
scan_announcement(const char *line, size_t n, bool cut, size_t *start_r,
    uint64_t *size_r, bool *sync_r, bool *binary_r)
{
	size_t		i, j, k;
	uint64_t	size = 0;
	bool		sync = true;

	if (n > 0 && line[n - 1] == '\r')
		n--;
	if (n < 3 || line[n - 1] != '}')
		return 0;
	i = n - 1;
	if (line[i - 1] == '+') {
		sync = false;
		i--;
	}
	j = i;
	while (j > 0 && is_digit((unsigned char)line[j - 1]))
		j--;
	if (j == 0 && cut)
		return -1;
	if (j == i || j == 0 || line[j - 1] != '{')
		return 0;
	if (i - j > LITERAL_DIGITS_MAX)
		size = UINT64_MAX;
	else {
		for (k = j; k < i; k++) {
			unsigned int d = (unsigned char)line[k] - '0';

			if (size > (UINT64_MAX - d) / 10) {
				size = UINT64_MAX;
				break;
			}
			size = size * 10 + d;
		}
	}
	*start_r = j - 1;
	*binary_r = j >= 2 && line[j - 2] == '~';
	if (*binary_r)
		(*start_r)--;
	*size_r = size;
	*sync_r = sync;
	return 1;
}

/* Notes the tag and command name from the first end bytes of data. */
static void
scan_first_line(const char *data, size_t end, struct imap_scan *st)
{
	size_t	i = 0;

	st->first_done = true;
	st->args_off = SIZE_MAX;
	while (i < end && is_tag_char((unsigned char)data[i]))
		i++;
	if (i == 0 || i >= end || data[i] != ' ')
		return;
	st->tag_len = i;
	while (i < end && data[i] == ' ')
		i++;
	st->name_off = i;
	while (i < end && is_token_char((unsigned char)data[i]))
		i++;
	st->name_len = i - st->name_off;
	st->append = eq_word(data + st->name_off, st->name_len, "APPEND");
	if (st->name_len > 0 && i < end && data[i] == ' ') {
		while (i < end && data[i] == ' ')
			i++;
		st->args_off = i;
	}
}

void
imap_scan_init(struct imap_scan *st, unsigned int flags)
{
	memset(st, 0, sizeof(*st));
	st->flags = flags;
	st->state = SCAN_LINE;
}

static enum imap_scan_result
scan_fail(struct imap_scan *st, enum imap_scan_error error)
{
	st->error = error;
	st->state = SCAN_ERROR;
	return IMAP_SCAN_ERROR;
}

/* The end of a line at data[lf]: a literal announcement, or the end. */
static enum imap_scan_result
scan_line_end(const char *data, size_t lf, struct imap_scan *st,
    const struct imap_limits *lim)
{
	size_t		start;
	uint64_t	size, max;
	bool		sync, binary;

	if ((st->flags & IMAP_SCAN_F_LINE) == 0 && !st->first_done)
		scan_first_line(data, lf, st);
	if ((st->flags & IMAP_SCAN_F_LINE) != 0 ||
	    scan_announcement(data + st->line_start, lf - st->line_start,
	    false, &start, &size, &sync, &binary) != 1) {
		st->cmd_len = lf + 1;
		st->state = SCAN_DONE;
		return IMAP_SCAN_COMPLETE;
	}
	st->lit_start = st->line_start + start;
	st->lit_offset = lf + 1;
	st->lit_size = size;
	st->lit_sync = sync;
	st->lit_binary = binary;
	/*
	 * APPEND's message is any literal but the mailbox name, which is
	 * the one right after "APPEND SP" (flags and the date cannot be
	 * literals; RFC 3502 repeats only flags, date and message).
	 */
	st->lit_message = st->append &&
	    !(st->line_start == 0 && st->lit_start == st->args_off);
	st->pos = lf + 1;
	if (st->nliterals >= lim->max_literals)
		return scan_fail(st, IMAP_SCAN_E_TOO_MANY_LITERALS);
	st->nliterals++;
	if (binary && !st->lit_message)
		return scan_fail(st, IMAP_SCAN_E_LITERAL8);
	max = st->lit_message ? lim->max_append : lim->max_literal;
	if (size > max)
		return scan_fail(st, IMAP_SCAN_E_LITERAL_TOO_BIG);
	if (!sync && !lim->literal_plus) {
		if (!lim->literal_minus)
			return scan_fail(st, IMAP_SCAN_E_NONSYNC);
		if (size > IMAP_PARSE_LITERAL_MINUS_MAX)
			return scan_fail(st, IMAP_SCAN_E_LITERAL_MINUS);
	}
	st->state = SCAN_LITERAL;
	return IMAP_SCAN_LITERAL;
}

enum imap_scan_result
imap_scan(const char *data, size_t len, struct imap_scan *st,
    const struct imap_limits *lim)
{
	const char	*lf, *nul;
	size_t		 avail, end;

	for (;;) {
		switch (st->state) {
		case SCAN_LITERAL:
			if (len < st->lit_offset ||
			    (uint64_t)(len - st->lit_offset) < st->lit_size)
				return IMAP_SCAN_NEED_MORE;
			/* UNSAFE: lit_size <= len - lit_offset, see above. */
			st->line_start = st->lit_offset + (size_t)st->lit_size;
			st->pos = st->line_start;
			st->state = SCAN_LINE;
			continue;
		case SCAN_LINE:
			break;
		case SCAN_DONE:
			return IMAP_SCAN_COMPLETE;
		case SCAN_ERROR:
			return IMAP_SCAN_ERROR;
		default:
			/* imap_scan_skip() took over; the caller must init. */
			return IMAP_SCAN_ERROR;
		}
		if (len <= st->pos)
			return IMAP_SCAN_NEED_MORE;
		/* A line may hold max_line bytes, its LF included. */
		avail = len - st->line_start;
		end = st->line_start + (avail < lim->max_line ? avail :
		    lim->max_line);
		if (end <= st->pos)
			lf = NULL;
		else
			lf = memchr(data + st->pos, '\n', end - st->pos);
		if (lf != NULL)
			end = (size_t)(lf - data);
		nul = end > st->pos ? memchr(data + st->pos, '\0',
		    end - st->pos) : NULL;
		if (nul != NULL) {
			st->pos = (size_t)(nul - data);
			if ((st->flags & IMAP_SCAN_F_LINE) == 0 &&
			    !st->first_done)
				scan_first_line(data, st->pos, st);
			return scan_fail(st, IMAP_SCAN_E_NUL);
		}
		if (lf == NULL) {
			st->pos = end;
			if (avail >= lim->max_line) {
				if ((st->flags & IMAP_SCAN_F_LINE) == 0 &&
				    !st->first_done)
					scan_first_line(data, st->pos, st);
				return scan_fail(st, IMAP_SCAN_E_LINE_TOO_LONG);
			}
			return IMAP_SCAN_NEED_MORE;
		}
		return scan_line_end(data, end, st, lim);
	}
}

void
imap_scan_literal_taken(struct imap_scan *st)
{
	if (st->state != SCAN_LITERAL)
		return;
	st->line_start = st->lit_offset;
	st->pos = st->lit_offset;
	st->state = SCAN_LINE;
}

void
imap_scan_refuse(struct imap_scan *st)
{
	if (st->state != SCAN_LITERAL)
		return;
	st->error = IMAP_SCAN_E_REFUSED;
	st->state = SCAN_ERROR;
}

/* Keeps the last bytes of the line being discarded, for its end. */
static void
skip_keep_tail(struct imap_scan *st, const char *p, size_t n)
{
	size_t	keep;

	if (!st->skip_cont) {
		st->tail_len = 0;
		st->tail_cut = false;
	}
	if (n >= sizeof(st->tail)) {
		st->tail_cut = st->tail_cut || n > sizeof(st->tail) ||
		    st->tail_len > 0;
		memcpy(st->tail, p + n - sizeof(st->tail), sizeof(st->tail));
		st->tail_len = sizeof(st->tail);
		return;
	}
	keep = sizeof(st->tail) - n;
	if (st->tail_len > keep) {
		memmove(st->tail, st->tail + st->tail_len - keep, keep);
		st->tail_len = keep;
		st->tail_cut = true;
	}
	memcpy(st->tail + st->tail_len, p, n);
	st->tail_len += n;
}

int
imap_scan_skip(const char *data, size_t len, struct imap_scan *st,
    size_t *drop_r)
{
	const char	*lf;
	char		 win[2 * sizeof(st->tail)];
	size_t		 pos = 0, ls, n, wl, start;
	uint64_t	 size, take;
	bool		 sync, binary;
	int		 r;

	*drop_r = 0;
	if (st->state == SCAN_ERROR) {
		switch (st->error) {
		case IMAP_SCAN_E_LINE_TOO_LONG:
		case IMAP_SCAN_E_NUL:
			st->state = SKIP_LINE;
			pos = st->pos;
			st->skip_cont = false;
			break;
		case IMAP_SCAN_E_LITERAL_TOO_BIG:
		case IMAP_SCAN_E_LITERAL_MINUS:
		case IMAP_SCAN_E_NONSYNC:
		case IMAP_SCAN_E_LITERAL8:
		case IMAP_SCAN_E_TOO_MANY_LITERALS:
		case IMAP_SCAN_E_REFUSED:
			if (st->lit_sync) {
				/* The client waits for "+": nothing follows. */
				*drop_r = st->lit_offset;
				st->state = SKIP_DONE;
				return 1;
			}
			if (st->lit_size == UINT64_MAX)
				return -1;
			st->skip_left = st->lit_size;
			st->state = SKIP_BYTES;
			pos = st->lit_offset;
			break;
		default:
			return -1;
		}
		if (pos > len || st->line_start > pos)
			return -1;
	} else if (st->state == SKIP_LINE || st->state == SKIP_BYTES) {
		st->line_start = 0;
	} else
		return -1;

	for (;;) {
		if (st->state == SKIP_BYTES) {
			take = st->skip_left;
			if (take > len - pos)
				take = len - pos;
			/* UNSAFE: take <= len - pos, so it fits size_t. */
			pos += (size_t)take;
			st->skip_left -= take;
			if (st->skip_left > 0) {
				*drop_r = len;
				return 0;
			}
			st->state = SKIP_LINE;
			st->line_start = pos;
			st->skip_cont = false;
			st->tail_len = 0;
			st->tail_cut = false;
		}
		ls = st->line_start;
		lf = pos < len ? memchr(data + pos, '\n', len - pos) : NULL;
		if (lf == NULL) {
			skip_keep_tail(st, data + ls, len - ls);
			st->skip_cont = true;
			*drop_r = len;
			return 0;
		}
		n = (size_t)(lf - data);
		if (st->flags & IMAP_SCAN_F_LINE)
			r = 0;
		else {
			/* The line's last bytes: the kept tail, then these. */
			wl = 0;
			if (st->skip_cont) {
				memcpy(win, st->tail, st->tail_len);
				wl = st->tail_len;
			}
			if (n - ls > sizeof(st->tail)) {
				ls = n - sizeof(st->tail);
				wl = 0;
			}
			memcpy(win + wl, data + ls, n - ls);
			wl += n - ls;
			r = scan_announcement(win, wl, (st->skip_cont &&
			    st->tail_cut) || ls > st->line_start, &start,
			    &size, &sync, &binary);
		}
		if (r == -1)
			return -1;
		if (r == 1 && !sync) {
			if (size == UINT64_MAX)
				return -1;
			st->skip_left = size;
			st->state = SKIP_BYTES;
			pos = n + 1;
			continue;
		}
		*drop_r = n + 1;
		st->state = SKIP_DONE;
		return 1;
	}
}

const char *
imap_scan_strerror(enum imap_scan_error error)
{
	switch (error) {
	case IMAP_SCAN_E_NONE:
		return "No error";
	case IMAP_SCAN_E_LINE_TOO_LONG:
		return "Command line too long";
	case IMAP_SCAN_E_NUL:
		return "NUL byte in command line";
	case IMAP_SCAN_E_LITERAL_TOO_BIG:
		return "Literal too large";
	case IMAP_SCAN_E_LITERAL_MINUS:
		return "Non-synchronizing literal larger than 4096 bytes";
	case IMAP_SCAN_E_NONSYNC:
		return "Non-synchronizing literals are not supported";
	case IMAP_SCAN_E_LITERAL8:
		return "literal8 is only allowed for APPEND messages";
	case IMAP_SCAN_E_TOO_MANY_LITERALS:
		return "Too many literals in one command";
	case IMAP_SCAN_E_REFUSED:
		return "Literal refused";
	}
	return "Invalid command";
}

/* ---- 2. the generic parser ----------------------------------------------- */

struct parser {
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

/* UID may only prefix these (RFC 9051 6.4.9, RFC 4315, RFC 6851). */
static const char *const uid_commands[] = {
	"COPY", "MOVE", "FETCH", "SEARCH", "STORE", "EXPUNGE",
};

static int
perr(struct parser *p, const char *error)
{
	if (p->error == NULL)
		p->error = error;
	return -1;
}

static struct imap_arg *
parser_new_arg(struct parser *p, enum imap_arg_type type)
{
	struct imap_arg	*a;

	if (p->cmd->nalloc_args >= p->lim->max_args) {
		perr(p, "Too many arguments");
		return NULL;
	}
	p->cmd->nalloc_args++;
	a = arena_calloc(p->cmd, 1, sizeof(*a));
	a->type = type;
	return a;
}

static int parse_items(struct parser *, unsigned int, char,
    struct imap_arg **, unsigned int *);

/* A quoted string at p->pos (on the opening quote). */
static int
parse_quoted(struct parser *p, struct imap_arg *a)
{
	const char	*d = p->data;
	size_t		 i, start = p->pos + 1, out = 0;
	char		*s;
	unsigned char	 c;
	bool		 high = false;

	for (i = start; i < p->len; i++) {
		c = (unsigned char)d[i];
		if (c == '"')
			break;
		if (c == '\\') {
			if (i + 1 >= p->len ||
			    (d[i + 1] != '"' && d[i + 1] != '\\'))
				return perr(p, "Invalid escape in quoted "
				    "string");
			i++;
		} else if (c == '\r' || c == '\n')
			return perr(p, "Unterminated quoted string");
		else if (c == '\0')
			return perr(p, "NUL in quoted string");
		else if (c >= 0x80)
			high = true;
		out++;
	}
	if (i >= p->len)
		return perr(p, "Unterminated quoted string");
	s = arena_alloc(p->cmd, out + 1);
	a->str = s;
	a->len = out;
	for (i = start; d[i] != '"'; i++) {
		if (d[i] == '\\')
			i++;
		*s++ = d[i];
	}
	*s = '\0';
	p->pos = i + 1;
	/* RFC 6855 3: under UTF8=ACCEPT quoted strings are UTF-8. */
	if (high && p->lim->utf8_accept &&
	    !utf8_valid((const unsigned char *)a->str, a->len))
		return perr(p, "Invalid UTF-8 in quoted string");
	return 0;
}

/* A literal at p->pos (on the "{"): {n} or {n+}, CRLF, n bytes. */
static int
parse_literal(struct parser *p, struct imap_arg *a)
{
	const char	*d = p->data;
	size_t		 i = p->pos + 1, digits = 0;
	uint64_t	 n = 0;
	unsigned int	 v;

	while (i < p->len && is_digit((unsigned char)d[i])) {
		v = (unsigned char)d[i] - '0';
		if (n > (UINT64_MAX - v) / 10 || ++digits > LITERAL_DIGITS_MAX)
			return perr(p, "Literal too large");
		n = n * 10 + v;
		i++;
	}
	if (digits == 0)
		return perr(p, "Invalid literal");
	if (i < p->len && d[i] == '+')
		i++;
	if (i >= p->len || d[i] != '}')
		return perr(p, "Invalid literal");
	i++;
	if (i < p->len && d[i] == '\r')
		i++;
	if (i >= p->len || d[i] != '\n')
		return perr(p, "Literal not followed by end of line");
	i++;
	if (n > p->lim->max_literal)
		return perr(p, "Literal too large");
	if (n > p->len - i)
		return perr(p, "Literal truncated");
	a->str = d + i;
	/* UNSAFE: n <= p->len - i, so it fits size_t. */
	a->len = (size_t)n;
	a->has_nul = memchr(a->str, '\0', a->len) != NULL;
	p->pos = i + a->len;
	return 0;
}

/* "<" digits ["." digits] ">" after a FETCH section. */
static int
parse_partial(struct parser *p, struct imap_arg *a)
{
	const char	*d = p->data;
	size_t		 i = p->pos + 1, start = i;
	bool		 dot = false;

	while (i < p->len && d[i] != '>') {
		if (d[i] == '.' && !dot && i > start &&
		    is_digit((unsigned char)d[i - 1]))
			dot = true;
		else if (!is_digit((unsigned char)d[i]))
			return perr(p, "Invalid partial");
		i++;
	}
	if (i >= p->len || i == start || d[i - 1] == '.')
		return perr(p, "Invalid partial");
	a->partial = d + start;
	a->partial_len = i - start;
	p->pos = i + 1;
	return 0;
}

/* An atom at p->pos, with a FETCH section after it in FETCH commands. */
static int
parse_atom(struct parser *p, struct imap_arg *a, unsigned int depth)
{
	const char	*d = p->data;
	size_t		 start = p->pos, i = p->pos;
	unsigned char	 c;
	bool		 was;

	while (i < p->len) {
		c = (unsigned char)d[i];
		if (!is_token_char(c) || (p->in_section && c == ']') ||
		    (p->fetch && !p->in_section && c == '['))
			break;
		i++;
	}
	if (i == start) {
		c = (unsigned char)d[i];
		if (c >= 0x80)
			return perr(p, "8-bit character outside a string");
		if (c == '[')
			return perr(p, "Unexpected [");
		if (c == ']')
			return perr(p, "Unexpected ]");
		return perr(p, "Invalid character in command");
	}
	a->str = arena_strndup(p->cmd, d + start, i - start);
	a->len = i - start;
	p->pos = i;
	if (p->fetch && !p->in_section && i < p->len && d[i] == '[') {
		if (depth + 1 > p->lim->max_depth)
			return perr(p, "Too deeply nested");
		if ((a->section = parser_new_arg(p, IMAP_ARG_LIST)) == NULL)
			return -1;
		p->pos++;
		was = p->in_section;
		p->in_section = true;
		if (parse_items(p, depth + 1, ']', &a->section->child,
		    &a->section->count) == -1)
			return -1;
		p->in_section = was;
		if (p->pos < p->len && d[p->pos] == '<' &&
		    parse_partial(p, a) == -1)
			return -1;
		return 0;
	}
	if (a->len == 3 && eq_word(a->str, 3, "NIL"))
		a->type = IMAP_ARG_NIL;
	return 0;
}

/* One argument at p->pos (not SP, ")" or the end). */
static struct imap_arg *
parse_arg(struct parser *p, unsigned int depth)
{
	struct imap_arg	*a;
	char		 c = p->data[p->pos];
	int		 r;

	if ((a = parser_new_arg(p, c == '(' ? IMAP_ARG_LIST :
	    c == '"' ? IMAP_ARG_STRING : c == '{' ? IMAP_ARG_LITERAL :
	    IMAP_ARG_ATOM)) == NULL)
		return NULL;
	switch (c) {
	case '(':
		if (depth + 1 > p->lim->max_depth) {
			perr(p, "Too deeply nested");
			return NULL;
		}
		p->pos++;
		r = parse_items(p, depth + 1, ')', &a->child, &a->count);
		break;
	case '"':
		r = parse_quoted(p, a);
		break;
	case '{':
		r = parse_literal(p, a);
		break;
	case '~':
		if (p->pos + 1 < p->len && p->data[p->pos + 1] == '{') {
			perr(p, "literal8 not allowed here");
			return NULL;
		}
		/* FALLTHROUGH */
	default:
		r = parse_atom(p, a, depth);
		break;
	}
	return r == -1 ? NULL : a;
}

/*
 * Arguments until closer (")" or "]"), or until the end of the line at
 * the top (closer 0): the CRLF (or LF) that must end the input, or the end
 * of the input in prefix mode.
 */
static int
parse_items(struct parser *p, unsigned int depth, char closer,
    struct imap_arg **first_r, unsigned int *count_r)
{
	struct imap_arg	**tail = first_r, *a;
	bool		  need_sep = false;
	char		  c;

	*first_r = NULL;
	*count_r = 0;
	for (;;) {
		if (p->pos >= p->len) {
			if (closer == 0 && p->prefix)
				return 0;
			if (closer == ')')
				return perr(p, "Missing )");
			if (closer == ']')
				return perr(p, "Missing ]");
			return perr(p, "Missing end of line");
		}
		c = p->data[p->pos];
		if (c == ' ') {
			p->pos++;
			need_sep = false;
			continue;
		}
		if (c == '\r' || c == '\n') {
			if (closer == ')')
				return perr(p, "Missing )");
			if (closer == ']')
				return perr(p, "Missing ]");
			if (p->prefix)
				return perr(p, "Unexpected end of line");
			if (c == '\r' && (p->pos + 1 >= p->len ||
			    p->data[p->pos + 1] != '\n'))
				return perr(p, "CR without LF");
			p->pos += c == '\r' ? 2 : 1;
			if (p->pos != p->len)
				return perr(p, "Garbage after end of line");
			return 0;
		}
		if (closer != 0 && c == closer) {
			p->pos++;
			return 0;
		}
		if (c == ')')
			return perr(p, "Unexpected )");
		if (need_sep)
			return perr(p, "Missing space between arguments");
		if ((a = parse_arg(p, depth)) == NULL)
			return -1;
		*tail = a;
		tail = &a->next;
		(*count_r)++;
		need_sep = true;
	}
}

/* A command name at p->pos into cmd->name (upper case). */
static int
parse_name(struct parser *p)
{
	size_t	start = p->pos, i;

	while (p->pos < p->len && is_token_char((unsigned char)p->data[p->pos]))
		p->pos++;
	if (p->pos == start)
		return perr(p, "Missing command name");
	if (p->pos - start > IMAP_PARSE_NAME_MAX)
		return perr(p, "Unknown command");
	for (i = start; i < p->pos; i++)
		p->cmd->name[i - start] =
		    (char)to_upper((unsigned char)p->data[i]);
	p->cmd->name[p->pos - start] = '\0';
	if (p->pos < p->len && p->data[p->pos] != ' ' &&
	    p->data[p->pos] != '\r' && p->data[p->pos] != '\n')
		return perr(p, "Invalid command name");
	return 0;
}

static void
parser_start(struct parser *p, const char *data, size_t len,
    const struct imap_limits *lim, struct imap_cmd *cmd, bool prefix)
{
	memset(p, 0, sizeof(*p));
	p->data = data;
	p->len = len;
	p->lim = lim;
	p->cmd = cmd;
	p->prefix = prefix;
}

/* tag SP name [SP "UID" name]; then the arguments. */
static int
parse_command(struct parser *p)
{
	struct imap_cmd	*cmd = p->cmd;
	size_t		 i;
	bool		 ok;

	arena_reset(cmd);
	cmd->tag = "";
	cmd->tag_len = 0;
	cmd->name[0] = '\0';
	cmd->uid = false;
	cmd->args = NULL;
	cmd->nargs = 0;
	cmd->nalloc_args = 0;

	if (p->len == 0 || p->data[0] == '\r' || p->data[0] == '\n')
		return perr(p, "Empty command");
	while (p->pos < p->len && is_tag_char((unsigned char)p->data[p->pos]))
		p->pos++;
	if (p->pos == 0)
		return perr(p, "Invalid tag");
	if (p->pos < p->len && p->data[p->pos] != ' ' &&
	    p->data[p->pos] != '\r' && p->data[p->pos] != '\n')
		return perr(p, "Invalid tag");
	cmd->tag = arena_strndup(cmd, p->data, p->pos);
	cmd->tag_len = p->pos;
	while (p->pos < p->len && p->data[p->pos] == ' ')
		p->pos++;
	if (parse_name(p) == -1)
		return -1;
	if (strcmp(cmd->name, "UID") == 0) {
		while (p->pos < p->len && p->data[p->pos] == ' ')
			p->pos++;
		if (parse_name(p) == -1)
			return -1;
		ok = false;
		for (i = 0; i < N_ELEMENTS(uid_commands); i++)
			ok = ok || strcmp(cmd->name, uid_commands[i]) == 0;
		if (!ok)
			return perr(p, "Unknown UID command");
		cmd->uid = true;
	}
	p->fetch = strcmp(cmd->name, "FETCH") == 0;
	return parse_items(p, 0, 0, &cmd->args, &cmd->nargs);
}

int
imap_parse_command(const char *data, size_t len,
    const struct imap_limits *lim, struct imap_cmd *cmd, const char **error_r)
{
	struct parser	p;

	parser_start(&p, data, len, lim, cmd, false);
	if (parse_command(&p) == -1) {
		*error_r = p.error;
		return -1;
	}
	return 0;
}

/* ---- 3. typed parsers: helpers ------------------------------------------- */

static int
fail(const char **error_r, const char *error)
{
	*error_r = error;
	return -1;
}

/* An astring (RFC 9051 9): ASTRING-CHAR atom, quoted string or literal. */
static int
arg_astring(struct imap_cmd *cmd, const struct imap_arg *a,
    bool (*atom_ok)(unsigned char), struct imap_str *s_r, const char **error_r)
{
	if (a == NULL)
		return fail(error_r, "Missing argument");
	switch (a->type) {
	case IMAP_ARG_ATOM:
	case IMAP_ARG_NIL:
		if (a->section != NULL || !all_chars(a->str, a->len, atom_ok))
			return fail(error_r, "Invalid characters in atom");
		s_r->data = a->str;
		s_r->len = a->len;
		return 0;
	case IMAP_ARG_STRING:
		s_r->data = a->str;
		s_r->len = a->len;
		return 0;
	case IMAP_ARG_LITERAL:
		if (a->has_nul)
			return fail(error_r, "NUL in string");
		s_r->data = arena_strndup(cmd, a->str, a->len);
		s_r->len = a->len;
		return 0;
	case IMAP_ARG_LIST:
		break;
	}
	return fail(error_r, "Expected a string");
}

static int
arg_mailbox(struct imap_cmd *cmd, const struct imap_arg *a,
    struct imap_str *s_r, const char **error_r)
{
	return arg_astring(cmd, a, is_astring_char, s_r, error_r);
}

/* A string (quoted or literal, no atom: RFC 9051 "string"). */
static int
arg_string(struct imap_cmd *cmd, const struct imap_arg *a,
    struct imap_str *s_r, const char **error_r)
{
	if (a == NULL)
		return fail(error_r, "Missing argument");
	if (a->type != IMAP_ARG_STRING && a->type != IMAP_ARG_LITERAL)
		return fail(error_r, "Expected a quoted string");
	return arg_astring(cmd, a, is_astring_char, s_r, error_r);
}

/* A plain atom (no section), for keywords of the grammar. */
static bool
arg_is_atom(const struct imap_arg *a)
{
	return a != NULL && (a->type == IMAP_ARG_ATOM ||
	    a->type == IMAP_ARG_NIL) && a->section == NULL;
}

static bool
arg_is_word(const struct imap_arg *a, const char *w)
{
	return arg_is_atom(a) && eq_word(a->str, a->len, w);
}

static bool
arg_is_list(const struct imap_arg *a)
{
	return a != NULL && a->type == IMAP_ARG_LIST;
}

int
imap_parse_noargs(const struct imap_cmd *cmd, const char **error_r)
{
	if (cmd->nargs != 0)
		return fail(error_r, "Unexpected arguments");
	return 0;
}

bool
imap_parse_done(const char *line, size_t len)
{
	if (len > 0 && line[len - 1] == '\n')
		len--;
	if (len > 0 && line[len - 1] == '\r')
		len--;
	return eq_word(line, len, "DONE");
}

static bool
is_base64_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    is_digit(c) || c == '+' || c == '/';
}

/* base64 (RFC 4648 4) with padding: length % 4 == 0, "=" only at the end. */
static bool
base64_valid(const char *s, size_t len)
{
	size_t	i, pad = 0;

	if (len % 4 != 0)
		return false;
	while (pad < 2 && pad < len && s[len - 1 - pad] == '=')
		pad++;
	for (i = 0; i < len - pad; i++) {
		if (!is_base64_char((unsigned char)s[i]))
			return false;
	}
	return true;
}

int
imap_parse_sasl_response(const char *line, size_t len, const char **data_r,
    size_t *len_r, bool *cancel_r, const char **error_r)
{
	if (len > 0 && line[len - 1] == '\n')
		len--;
	if (len > 0 && line[len - 1] == '\r')
		len--;
	*cancel_r = len == 1 && line[0] == '*';
	*data_r = line;
	*len_r = *cancel_r ? 0 : len;
	if (!*cancel_r && !base64_valid(line, len))
		return fail(error_r, "Invalid base64 data");
	return 0;
}

int
imap_parse_authenticate(struct imap_cmd *cmd, struct imap_str *mech_r,
    bool *has_ir_r, struct imap_str *ir_r, const char **error_r)
{
	const struct imap_arg	*a = cmd->args;

	cmd->secret = true;
	if (cmd->nargs < 1 || cmd->nargs > 2)
		return fail(error_r, "AUTHENTICATE takes a mechanism and an "
		    "optional initial response");
	if (!arg_is_atom(a) || !all_chars(a->str, a->len, is_atom_char))
		return fail(error_r, "Invalid SASL mechanism name");
	mech_r->data = a->str;
	mech_r->len = a->len;
	*has_ir_r = false;
	ir_r->data = "";
	ir_r->len = 0;
	if ((a = a->next) == NULL)
		return 0;
	/* RFC 4959: initial-response = base64 / "=" */
	if (!arg_is_atom(a))
		return fail(error_r, "Invalid initial response");
	*has_ir_r = true;
	if (a->len == 1 && a->str[0] == '=')
		return 0;
	if (!base64_valid(a->str, a->len))
		return fail(error_r, "Invalid base64 in initial response");
	ir_r->data = a->str;
	ir_r->len = a->len;
	return 0;
}

int
imap_parse_login(struct imap_cmd *cmd, struct imap_str *user_r,
    struct imap_str *pass_r, const char **error_r)
{
	cmd->secret = true;
	if (cmd->nargs != 2)
		return fail(error_r, "LOGIN takes a user name and a password");
	if (arg_astring(cmd, cmd->args, is_astring_char, user_r,
	    error_r) == -1 ||
	    arg_astring(cmd, cmd->args->next, is_astring_char, pass_r,
	    error_r) == -1)
		return -1;
	return 0;
}

int
imap_parse_mailbox(struct imap_cmd *cmd, struct imap_str *mailbox_r,
    const char **error_r)
{
	if (cmd->nargs != 1)
		return fail(error_r, "Expected one mailbox name");
	return arg_mailbox(cmd, cmd->args, mailbox_r, error_r);
}

int
imap_parse_rename(struct imap_cmd *cmd, struct imap_str *from_r,
    struct imap_str *to_r, const char **error_r)
{
	if (cmd->nargs != 2)
		return fail(error_r, "RENAME takes two mailbox names");
	if (arg_mailbox(cmd, cmd->args, from_r, error_r) == -1 ||
	    arg_mailbox(cmd, cmd->args->next, to_r, error_r) == -1)
		return -1;
	return 0;
}

int
imap_parse_select(struct imap_cmd *cmd, struct imap_str *mailbox_r,
    const char **error_r)
{
	const struct imap_arg	*a;

	if (cmd->nargs < 1 || cmd->nargs > 2)
		return fail(error_r, "Expected a mailbox name and optional "
		    "parameters");
	if (arg_mailbox(cmd, cmd->args, mailbox_r, error_r) == -1)
		return -1;
	if ((a = cmd->args->next) == NULL)
		return 0;
	if (!arg_is_list(a))
		return fail(error_r, "Invalid SELECT parameters");
	if (a->count != 0)
		return fail(error_r, "Unsupported SELECT parameter");
	return 0;
}

static const struct {
	const char	*name;
	unsigned int	 bit;
} use_attrs[] = {
	{ "\\ALL",	IMAP_USE_ALL },
	{ "\\ARCHIVE",	IMAP_USE_ARCHIVE },
	{ "\\DRAFTS",	IMAP_USE_DRAFTS },
	{ "\\FLAGGED",	IMAP_USE_FLAGGED },
	{ "\\JUNK",	IMAP_USE_JUNK },
	{ "\\SENT",	IMAP_USE_SENT },
	{ "\\TRASH",	IMAP_USE_TRASH },
};

/* "\" atom (flag-extension shape). */
static bool
is_backslash_atom(const struct imap_arg *a)
{
	return arg_is_atom(a) && a->len >= 2 && a->str[0] == '\\' &&
	    all_chars(a->str + 1, a->len - 1, is_atom_char);
}

int
imap_parse_create(struct imap_cmd *cmd, struct imap_str *mailbox_r,
    unsigned int *use_r, const char **error_r)
{
	const struct imap_arg	*a, *m;
	unsigned int		 i, bit;

	*use_r = 0;
	if (cmd->nargs < 1 || cmd->nargs > 2)
		return fail(error_r, "Expected a mailbox name and optional "
		    "parameters");
	if (arg_mailbox(cmd, cmd->args, mailbox_r, error_r) == -1)
		return -1;
	if ((a = cmd->args->next) == NULL)
		return 0;
	if (!arg_is_list(a))
		return fail(error_r, "Invalid CREATE parameters");
	/* create-param = "USE" SP "(" [use-attr *(SP use-attr)] ")" */
	for (a = a->child; a != NULL; a = a->next) {
		if (!arg_is_word(a, "USE"))
			return fail(error_r, "Unsupported CREATE parameter");
		if (!arg_is_list(a = a->next))
			return fail(error_r, "USE takes a list of attributes");
		for (m = a->child; m != NULL; m = m->next) {
			if (!is_backslash_atom(m))
				return fail(error_r, "Invalid special-use "
				    "attribute");
			bit = IMAP_USE_UNKNOWN;
			for (i = 0; i < N_ELEMENTS(use_attrs); i++) {
				if (eq_word(m->str, m->len, use_attrs[i].name))
					bit = use_attrs[i].bit;
			}
			*use_r |= bit;
		}
	}
	return 0;
}

/* ---- sequence sets ------------------------------------------------------- */

/* seq-number = nz-number / "*" at s[*i]. */
static int
seq_number(const char *s, size_t len, size_t *i, uint32_t *n_r)
{
	uint64_t	n = 0;
	size_t		start = *i;

	if (*i < len && s[*i] == '*') {
		(*i)++;
		*n_r = IMAP_SEQ_STAR;
		return 0;
	}
	if (*i >= len || s[*i] < '1' || s[*i] > '9')
		return -1;
	while (*i < len && is_digit((unsigned char)s[*i])) {
		n = n * 10 + (unsigned char)(s[*i] - '0');
		if (n > UINT32_MAX || *i - start >= 10)
			return -1;
		(*i)++;
	}
	*n_r = (uint32_t)n;
	return 0;
}

int
imap_parse_seqset(struct imap_cmd *cmd, const char *s, size_t len,
    const struct imap_limits *lim, struct imap_seqset *set_r,
    const char **error_r)
{
	const char	*c;
	size_t		 i = 0, n = 1;
	unsigned int	 k;

	memset(set_r, 0, sizeof(*set_r));
	if (len == 1 && s[0] == '$') {
		set_r->dollar = true;
		return 0;
	}
	if (len == 0)
		return fail(error_r, "Empty sequence set");
	for (c = s; (c = memchr(c, ',', len - (size_t)(c - s))) != NULL; c++) {
		if (++n > lim->max_ranges)
			return fail(error_r, "Too many ranges in sequence set");
	}
	if (n > lim->max_ranges)
		return fail(error_r, "Too many ranges in sequence set");
	set_r->ranges = arena_alloc(cmd, n * sizeof(*set_r->ranges));
	for (k = 0; k < n; k++) {
		if (seq_number(s, len, &i, &set_r->ranges[k].lo) == -1)
			return fail(error_r, "Invalid sequence set");
		set_r->ranges[k].hi = set_r->ranges[k].lo;
		if (i < len && s[i] == ':') {
			i++;
			if (seq_number(s, len, &i, &set_r->ranges[k].hi) == -1)
				return fail(error_r, "Invalid sequence set");
		}
		if (i < len && (s[i] != ',' || k + 1 == n))
			return fail(error_r, "Invalid sequence set");
		i++;
	}
	set_r->nranges = n;
	return 0;
}

static int
arg_seqset(struct imap_cmd *cmd, const struct imap_arg *a,
    const struct imap_limits *lim, struct imap_seqset *set_r,
    const char **error_r)
{
	if (!arg_is_atom(a))
		return fail(error_r, "Expected a sequence set");
	return imap_parse_seqset(cmd, a->str, a->len, lim, set_r, error_r);
}

static int
range_cmp(const void *a, const void *b)
{
	const struct imap_seq_range *x = a, *y = b;

	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

bool
imap_parse_seqset_normalize(struct imap_seqset *set, uint32_t star)
{
	struct imap_seq_range	*r = set->ranges;
	unsigned int		 i, out = 0;
	uint32_t		 lo, hi, t;
	bool			 over = false;

	if (set->dollar || set->normalized)
		return false;
	for (i = 0; i < set->nranges; i++) {
		lo = r[i].lo == IMAP_SEQ_STAR ? star : r[i].lo;
		hi = r[i].hi == IMAP_SEQ_STAR ? star : r[i].hi;
		if (lo > hi) {
			t = lo;
			lo = hi;
			hi = t;
		}
		if (hi > star) {
			over = true;
			hi = star;
		}
		if (lo == 0)
			lo = 1;
		if (lo > hi)
			continue;
		r[out].lo = lo;
		r[out].hi = hi;
		out++;
	}
	if (out > 1)
		qsort(r, out, sizeof(*r), range_cmp);
	set->nranges = 0;
	for (i = 0; i < out; i++) {
		if (set->nranges > 0 &&
		    (uint64_t)r[i].lo <= (uint64_t)r[set->nranges - 1].hi + 1) {
			if (r[i].hi > r[set->nranges - 1].hi)
				r[set->nranges - 1].hi = r[i].hi;
			continue;
		}
		r[set->nranges++] = r[i];
	}
	set->normalized = true;
	return over;
}

bool
imap_parse_seqset_contains(const struct imap_seqset *set, uint32_t n)
{
	unsigned int	lo = 0, hi = set->nranges, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (n < set->ranges[mid].lo)
			hi = mid;
		else if (n > set->ranges[mid].hi)
			lo = mid + 1;
		else
			return true;
	}
	return false;
}

uint64_t
imap_parse_seqset_count(const struct imap_seqset *set)
{
	uint64_t	n = 0;
	unsigned int	i;

	for (i = 0; i < set->nranges; i++)
		n += (uint64_t)set->ranges[i].hi - set->ranges[i].lo + 1;
	return n;
}

void
imap_parse_seqset_iter_init(struct imap_seqset_iter *it,
    const struct imap_seqset *set)
{
	memset(it, 0, sizeof(*it));
	it->set = set;
}

bool
imap_parse_seqset_iter_next(struct imap_seqset_iter *it, uint32_t *n_r)
{
	const struct imap_seqset *set = it->set;

	if (it->i >= set->nranges)
		return false;
	if (!it->started) {
		it->started = true;
		it->next = set->ranges[it->i].lo;
	}
	*n_r = it->next;
	if (it->next == set->ranges[it->i].hi) {
		if (++it->i < set->nranges)
			it->next = set->ranges[it->i].lo;
	} else
		it->next++;
	return true;
}

int
imap_parse_copy(struct imap_cmd *cmd, const struct imap_limits *lim,
    struct imap_seqset *set_r, struct imap_str *mailbox_r,
    const char **error_r)
{
	if (cmd->nargs != 2)
		return fail(error_r, "Expected a sequence set and a mailbox "
		    "name");
	if (arg_seqset(cmd, cmd->args, lim, set_r, error_r) == -1 ||
	    arg_mailbox(cmd, cmd->args->next, mailbox_r, error_r) == -1)
		return -1;
	return 0;
}

int
imap_parse_uid_expunge(struct imap_cmd *cmd, const struct imap_limits *lim,
    struct imap_seqset *set_r, const char **error_r)
{
	if (cmd->nargs != 1)
		return fail(error_r, "Expected a sequence set");
	return arg_seqset(cmd, cmd->args, lim, set_r, error_r);
}

/* ---- flags, STORE -------------------------------------------------------- */

static const struct {
	const char	*name;
	unsigned int	 bit;
} system_flags[] = {
	{ "\\ANSWERED",	IMAP_FLAG_ANSWERED },
	{ "\\FLAGGED",	IMAP_FLAG_FLAGGED },
	{ "\\DELETED",	IMAP_FLAG_DELETED },
	{ "\\SEEN",	IMAP_FLAG_SEEN },
	{ "\\DRAFT",	IMAP_FLAG_DRAFT },
};

/* One flag into *f (whose keywords array has room). */
static int
parse_flag(const struct imap_arg *a, struct imap_flags *f,
    const char **error_r)
{
	unsigned int	i;

	if (is_backslash_atom(a)) {
		for (i = 0; i < N_ELEMENTS(system_flags); i++) {
			if (eq_word(a->str, a->len, system_flags[i].name)) {
				f->system |= system_flags[i].bit;
				return 0;
			}
		}
		if (eq_word(a->str, a->len, "\\RECENT"))
			return fail(error_r, "\\Recent cannot be set");
		return fail(error_r, "Unknown system flag");
	}
	if (!arg_is_atom(a) || !all_chars(a->str, a->len, is_atom_char))
		return fail(error_r, "Invalid flag");
	f->keywords[f->nkeywords].data = a->str;
	f->keywords[f->nkeywords].len = a->len;
	f->nkeywords++;
	return 0;
}

/* count flags from first on (a list's members, or trailing arguments). */
static int
parse_flags(struct imap_cmd *cmd, const struct imap_arg *first,
    unsigned int count, struct imap_flags *f, const char **error_r)
{
	const struct imap_arg	*a;

	memset(f, 0, sizeof(*f));
	f->keywords = arena_calloc(cmd, count, sizeof(*f->keywords));
	for (a = first; a != NULL; a = a->next) {
		if (parse_flag(a, f, error_r) == -1)
			return -1;
	}
	return 0;
}

int
imap_parse_store(struct imap_cmd *cmd, const struct imap_limits *lim,
    struct imap_store *store_r, const char **error_r)
{
	const struct imap_arg	*a;
	const char		*s;
	size_t			 n;

	memset(store_r, 0, sizeof(*store_r));
	if (cmd->nargs < 3)
		return fail(error_r, "STORE takes a sequence set, an item and "
		    "flags");
	if (arg_seqset(cmd, cmd->args, lim, &store_r->set, error_r) == -1)
		return -1;
	a = cmd->args->next;
	if (arg_is_list(a))
		return fail(error_r, "STORE modifiers are not supported");
	if (!arg_is_atom(a))
		return fail(error_r, "Invalid STORE item");
	s = a->str;
	n = a->len;
	if (n > 0 && (s[0] == '+' || s[0] == '-')) {
		store_r->mode = s[0] == '+' ? IMAP_STORE_ADD :
		    IMAP_STORE_REMOVE;
		s++;
		n--;
	}
	if (n > 7 && eq_word(s + n - 7, 7, ".SILENT")) {
		store_r->silent = true;
		n -= 7;
	}
	if (!eq_word(s, n, "FLAGS"))
		return fail(error_r, "Invalid STORE item");
	a = a->next;
	if (arg_is_list(a)) {
		if (a->next != NULL)
			return fail(error_r, "Unexpected argument after flag "
			    "list");
		return parse_flags(cmd, a->child, a->count, &store_r->flags,
		    error_r);
	}
	return parse_flags(cmd, a, cmd->nargs - 2, &store_r->flags, error_r);
}

/* ---- dates --------------------------------------------------------------- */

static const char months[12][4] = {
	"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
	"JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
};

#define DATE_YEAR_MIN	1900
#define DATE_YEAR_MAX	9999

static bool
is_leap(unsigned int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned int
month_days(unsigned int y, unsigned int m)
{
	static const unsigned char days[12] = {
		31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31,
	};

	return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar. */
static int64_t
days_from_civil(unsigned int y, unsigned int m, unsigned int d)
{
	int64_t		yy = (int64_t)y - (m <= 2);
	int64_t		era = yy / 400;	/* yy >= 0: year >= 1900 */
	unsigned int	yoe = (unsigned int)(yy - era * 400);
	unsigned int	mp = m > 2 ? m - 3 : m + 9;	/* March is 0 */
	unsigned int	doy = (153 * mp + 2) / 5 + d - 1;
	unsigned int	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * 146097 + (int64_t)doe - 719468;
}

/* n digits at s into *v. */
static bool
digits(const char *s, size_t n, unsigned int *v)
{
	size_t	i;

	*v = 0;
	for (i = 0; i < n; i++) {
		if (!is_digit((unsigned char)s[i]))
			return false;
		*v = *v * 10 + (unsigned int)(s[i] - '0');
	}
	return true;
}

/* "-Mon-yyyy" at s (9 bytes) into *m, *y. */
static bool
month_year(const char *s, unsigned int *m, unsigned int *y)
{
	unsigned int	i;

	if (s[0] != '-' || s[4] != '-')
		return false;
	*m = 0;
	for (i = 0; i < 12; i++) {
		if (eq_word(s + 1, 3, months[i]))
			*m = i + 1;
	}
	return *m != 0 && digits(s + 5, 4, y) && *y >= DATE_YEAR_MIN &&
	    *y <= DATE_YEAR_MAX;
}

int
imap_parse_date(const char *s, size_t len, time_t *t_r, const char **error_r)
{
	unsigned int	d, m, y;
	size_t		dl;

	/* date-text = date-day "-" date-month "-" date-year; 1*2DIGIT day */
	if (len != 10 && len != 11)
		return fail(error_r, "Invalid date");
	dl = len - 9;
	if (!digits(s, dl, &d) || !month_year(s + dl, &m, &y) || d < 1 ||
	    d > month_days(y, m))
		return fail(error_r, "Invalid date");
	*t_r = (time_t)(days_from_civil(y, m, d) * 86400);
	return 0;
}

int
imap_parse_date_time(const char *s, size_t len, time_t *t_r, int *zone_r,
    const char **error_r)
{
	unsigned int	d, m, y, hh, mm, ss, zh, zm;
	size_t		dl;
	int		zone;

	/*
	 * date-day-fixed "-" date-month "-" date-year SP time SP zone, with
	 * date-day-fixed = (SP DIGIT) / 2DIGIT; a lone digit is taken too.
	 */
	if (len == 26 && s[0] == ' ') {
		s++;
		len--;
	}
	if (len != 25 && len != 26)
		return fail(error_r, "Invalid date-time");
	dl = len - 24;
	if (!digits(s, dl, &d) || !month_year(s + dl, &m, &y) || d < 1 ||
	    d > month_days(y, m))
		return fail(error_r, "Invalid date-time");
	s += dl + 9;
	/* " hh:mm:ss +zzzz" */
	if (s[0] != ' ' || s[3] != ':' || s[6] != ':' || s[9] != ' ' ||
	    (s[10] != '+' && s[10] != '-') || !digits(s + 1, 2, &hh) ||
	    !digits(s + 4, 2, &mm) || !digits(s + 7, 2, &ss) ||
	    !digits(s + 11, 2, &zh) || !digits(s + 13, 2, &zm) ||
	    hh > 23 || mm > 59 || ss > 59 || zh > 23 || zm > 59)
		return fail(error_r, "Invalid date-time");
	zone = (int)(zh * 60 + zm);
	if (s[10] == '-')
		zone = -zone;
	*zone_r = zone;
	*t_r = (time_t)(days_from_civil(y, m, d) * 86400 + hh * 3600 +
	    mm * 60 + ss - (int64_t)zone * 60);
	return 0;
}

/* ---- APPEND -------------------------------------------------------------- */

/* [flag-list] [date-time] from a on, into *app_r. */
static int
append_options(struct imap_cmd *cmd, const struct imap_arg *a,
    struct imap_append *app_r, const char **error_r)
{
	if (arg_is_list(a)) {
		if (parse_flags(cmd, a->child, a->count, &app_r->flags,
		    error_r) == -1)
			return -1;
		a = a->next;
	}
	if (a != NULL && a->type == IMAP_ARG_STRING) {
		if (imap_parse_date_time(a->str, a->len, &app_r->date,
		    &app_r->zone, error_r) == -1)
			return -1;
		app_r->has_date = true;
		a = a->next;
	}
	if (a != NULL)
		return fail(error_r, "Invalid APPEND arguments");
	return 0;
}

int
imap_parse_append(struct imap_cmd *cmd, const char *data, size_t len,
    const struct imap_limits *lim, struct imap_append *app_r,
    const char **error_r)
{
	struct parser	p;

	memset(app_r, 0, sizeof(*app_r));
	parser_start(&p, data, len, lim, cmd, true);
	if (parse_command(&p) == -1)
		return fail(error_r, p.error);
	if (strcmp(cmd->name, "APPEND") != 0 || cmd->uid)
		return fail(error_r, "Not an APPEND command");
	if (cmd->nargs < 1)
		return fail(error_r, "APPEND takes a mailbox name");
	/* The message literal must follow a space. */
	if (len == 0 || data[len - 1] != ' ')
		return fail(error_r, "Missing space before the message");
	if (arg_mailbox(cmd, cmd->args, &app_r->mailbox, error_r) == -1)
		return -1;
	return append_options(cmd, cmd->args->next, app_r, error_r);
}

int
imap_parse_append_next(struct imap_cmd *cmd, const char *data, size_t len,
    const struct imap_limits *lim, struct imap_append *app_r,
    const char **error_r)
{
	struct parser		 p;
	struct imap_arg		*first;
	unsigned int		 count;
	size_t			 i = 0;

	memset(app_r, 0, sizeof(*app_r));
	app_r->mailbox.data = "";
	while (i < len && data[i] == ' ')
		i++;
	if ((len - i == 1 && data[i] == '\n') ||
	    (len - i == 2 && data[i] == '\r' && data[i + 1] == '\n'))
		return 0;
	/* RFC 3502: SP [flag-list SP] [date-time SP] literal */
	if (len == 0 || data[0] != ' ' || data[len - 1] != ' ')
		return fail(error_r, "Invalid APPEND arguments");
	parser_start(&p, data, len, lim, cmd, true);
	if (parse_items(&p, 0, 0, &first, &count) == -1)
		return fail(error_r, p.error);
	if (append_options(cmd, first, app_r, error_r) == -1)
		return -1;
	return 1;
}

/* ---- STATUS, LIST, ENABLE, ID -------------------------------------------- */

static const struct {
	const char	*name;
	unsigned int	 bit;
} status_items[] = {
	{ "MESSAGES",	IMAP_STATUS_MESSAGES },
	{ "RECENT",	IMAP_STATUS_RECENT },
	{ "UIDNEXT",	IMAP_STATUS_UIDNEXT },
	{ "UIDVALIDITY", IMAP_STATUS_UIDVALIDITY },
	{ "UNSEEN",	IMAP_STATUS_UNSEEN },
	{ "SIZE",	IMAP_STATUS_SIZE },
	{ "DELETED",	IMAP_STATUS_DELETED },
	{ "APPENDLIMIT", IMAP_STATUS_APPENDLIMIT },
};

/* "(" status-att *(SP status-att) ")" */
static int
status_list(const struct imap_arg *a, unsigned int *items_r,
    const char **error_r)
{
	const struct imap_arg	*m;
	unsigned int		 i, bit;

	*items_r = 0;
	if (!arg_is_list(a) || a->count == 0)
		return fail(error_r, "Expected a list of status items");
	for (m = a->child; m != NULL; m = m->next) {
		bit = 0;
		for (i = 0; i < N_ELEMENTS(status_items) && arg_is_atom(m);
		    i++) {
			if (eq_word(m->str, m->len, status_items[i].name))
				bit = status_items[i].bit;
		}
		if (bit == 0)
			return fail(error_r, "Unknown status item");
		*items_r |= bit;
	}
	return 0;
}

int
imap_parse_status(struct imap_cmd *cmd, struct imap_str *mailbox_r,
    unsigned int *items_r, const char **error_r)
{
	if (cmd->nargs != 2)
		return fail(error_r, "STATUS takes a mailbox name and a list "
		    "of items");
	if (arg_mailbox(cmd, cmd->args, mailbox_r, error_r) == -1)
		return -1;
	return status_list(cmd->args->next, items_r, error_r);
}

static int
arg_pattern(struct imap_cmd *cmd, const struct imap_arg *a,
    struct imap_str *s_r, const char **error_r)
{
	return arg_astring(cmd, a, is_list_char, s_r, error_r);
}

int
imap_parse_list(struct imap_cmd *cmd, struct imap_list *list_r,
    const char **error_r)
{
	const struct imap_arg	*a = cmd->args, *m;
	bool			 lsub = strcmp(cmd->name, "LSUB") == 0;
	unsigned int		 n;

	memset(list_r, 0, sizeof(*list_r));
	if (!lsub && arg_is_list(a)) {
		/* RFC 5258 list-select-opts */
		list_r->extended = true;
		for (m = a->child; m != NULL; m = m->next) {
			if (arg_is_word(m, "SUBSCRIBED"))
				list_r->sel |= IMAP_LIST_SEL_SUBSCRIBED;
			else if (arg_is_word(m, "REMOTE"))
				list_r->sel |= IMAP_LIST_SEL_REMOTE;
			else if (arg_is_word(m, "RECURSIVEMATCH"))
				list_r->sel |= IMAP_LIST_SEL_RECURSIVEMATCH;
			else if (arg_is_word(m, "SPECIAL-USE"))
				list_r->sel |= IMAP_LIST_SEL_SPECIAL_USE;
			else
				return fail(error_r, "Unknown LIST selection "
				    "option");
		}
		if ((list_r->sel & IMAP_LIST_SEL_RECURSIVEMATCH) != 0 &&
		    (list_r->sel & (IMAP_LIST_SEL_SUBSCRIBED |
		    IMAP_LIST_SEL_SPECIAL_USE)) == 0)
			return fail(error_r, "RECURSIVEMATCH needs another "
			    "selection option");
		a = a->next;
	}
	if (a == NULL || a->next == NULL)
		return fail(error_r, "Expected a reference and a mailbox "
		    "pattern");
	if (arg_mailbox(cmd, a, &list_r->ref, error_r) == -1)
		return -1;
	a = a->next;
	if (!lsub && arg_is_list(a)) {
		if (a->count == 0)
			return fail(error_r, "Empty pattern list");
		list_r->extended = true;
		list_r->patterns = arena_calloc(cmd, a->count,
		    sizeof(*list_r->patterns));
		for (n = 0, m = a->child; m != NULL; m = m->next, n++) {
			if (arg_pattern(cmd, m, &list_r->patterns[n],
			    error_r) == -1)
				return -1;
		}
		list_r->npatterns = n;
	} else {
		list_r->patterns = arena_calloc(cmd, 1,
		    sizeof(*list_r->patterns));
		if (arg_pattern(cmd, a, &list_r->patterns[0], error_r) == -1)
			return -1;
		list_r->npatterns = 1;
	}
	if ((a = a->next) == NULL)
		return 0;
	if (lsub || !arg_is_word(a, "RETURN") || !arg_is_list(a->next) ||
	    a->next->next != NULL)
		return fail(error_r, "Invalid LIST arguments");
	list_r->extended = true;
	for (m = a->next->child; m != NULL; m = m->next) {
		if (arg_is_word(m, "SUBSCRIBED"))
			list_r->ret |= IMAP_LIST_RET_SUBSCRIBED;
		else if (arg_is_word(m, "CHILDREN"))
			list_r->ret |= IMAP_LIST_RET_CHILDREN;
		else if (arg_is_word(m, "SPECIAL-USE"))
			list_r->ret |= IMAP_LIST_RET_SPECIAL_USE;
		else if (arg_is_word(m, "STATUS")) {
			/* RFC 5819 */
			list_r->ret |= IMAP_LIST_RET_STATUS;
			m = m->next;
			if (status_list(m, &list_r->status, error_r) == -1)
				return -1;
		} else
			return fail(error_r, "Unknown LIST return option");
	}
	return 0;
}

int
imap_parse_enable(const struct imap_cmd *cmd, unsigned int *caps_r,
    const char **error_r)
{
	const struct imap_arg	*a;

	*caps_r = 0;
	if (cmd->nargs == 0)
		return fail(error_r, "ENABLE takes at least one capability");
	for (a = cmd->args; a != NULL; a = a->next) {
		if (!arg_is_atom(a) || !all_chars(a->str, a->len, is_atom_char))
			return fail(error_r, "Invalid capability name");
		if (eq_word(a->str, a->len, "IMAP4REV2"))
			*caps_r |= IMAP_ENABLE_IMAP4REV2;
		else if (eq_word(a->str, a->len, "UTF8=ACCEPT"))
			*caps_r |= IMAP_ENABLE_UTF8_ACCEPT;
		/* RFC 5161 3.1: unknown capabilities are ignored. */
	}
	return 0;
}

int
imap_parse_id(struct imap_cmd *cmd, const struct imap_limits *lim,
    struct imap_id *id_r, const char **error_r)
{
	const struct imap_arg	*a = cmd->args, *m;
	struct imap_id_pair	*pair;
	unsigned int		 i, n;

	memset(id_r, 0, sizeof(*id_r));
	if (cmd->nargs != 1)
		return fail(error_r, "ID takes NIL or a list");
	if (a->type == IMAP_ARG_NIL) {
		id_r->nil = true;
		return 0;
	}
	if (!arg_is_list(a) || a->count % 2 != 0)
		return fail(error_r, "ID takes NIL or a list of pairs");
	if (a->count / 2 > lim->max_id_pairs)
		return fail(error_r, "Too many ID pairs");
	id_r->pairs = arena_calloc(cmd, a->count / 2, sizeof(*id_r->pairs));
	for (n = 0, m = a->child; m != NULL; m = m->next->next, n++) {
		pair = &id_r->pairs[n];
		if (arg_string(cmd, m, &pair->field, error_r) == -1)
			return -1;
		if (pair->field.len > lim->max_id_field)
			return fail(error_r, "ID field name too long");
		for (i = 0; i < n; i++) {
			if (pair->field.len == id_r->pairs[i].field.len &&
			    eq_icase(pair->field.data,
			    id_r->pairs[i].field.data, pair->field.len))
				return fail(error_r, "Duplicate ID field");
		}
		if (m->next->type == IMAP_ARG_NIL) {
			pair->value_nil = true;
			pair->value.data = "";
		} else if (arg_string(cmd, m->next, &pair->value,
		    error_r) == -1)
			return -1;
		if (pair->value.len > lim->max_id_value)
			return fail(error_r, "ID value too long");
	}
	id_r->npairs = n;
	return 0;
}

/* ---- FETCH --------------------------------------------------------------- */

static const struct {
	const char		*name;
	enum imap_fetch_item	 item;
} fetch_simple[] = {
	{ "FLAGS",		IMAP_FETCH_FLAGS },
	{ "INTERNALDATE",	IMAP_FETCH_INTERNALDATE },
	{ "RFC822.SIZE",	IMAP_FETCH_RFC822_SIZE },
	{ "ENVELOPE",		IMAP_FETCH_ENVELOPE },
	{ "BODY",		IMAP_FETCH_BODY },
	{ "BODYSTRUCTURE",	IMAP_FETCH_BODYSTRUCTURE },
	{ "UID",		IMAP_FETCH_UID },
	{ "RFC822",		IMAP_FETCH_RFC822 },
	{ "RFC822.HEADER",	IMAP_FETCH_RFC822_HEADER },
	{ "RFC822.TEXT",	IMAP_FETCH_RFC822_TEXT },
};

/* RFC 9051 6.4.5 macros. */
static const enum imap_fetch_item fetch_fast[] = {
	IMAP_FETCH_FLAGS, IMAP_FETCH_INTERNALDATE, IMAP_FETCH_RFC822_SIZE,
	IMAP_FETCH_ENVELOPE, IMAP_FETCH_BODY,
};
#define FETCH_FAST_N	3
#define FETCH_ALL_N	4
#define FETCH_FULL_N	5

static const char *const section_specs[] = {
	[IMAP_SECTION_ALL] = "",
	[IMAP_SECTION_HEADER] = "HEADER",
	[IMAP_SECTION_HEADER_FIELDS] = "HEADER.FIELDS",
	[IMAP_SECTION_HEADER_FIELDS_NOT] = "HEADER.FIELDS.NOT",
	[IMAP_SECTION_TEXT] = "TEXT",
	[IMAP_SECTION_MIME] = "MIME",
};

/* RFC 5322 ftext: printable ASCII but ":". */
static bool
is_ftext(unsigned char c)
{
	return c >= 33 && c <= 126 && c != ':';
}

/* The section list a FETCH attribute carried (RFC 9051 section-spec). */
static int
parse_section(struct imap_cmd *cmd, const struct imap_arg *sec, bool binary,
    const struct imap_limits *lim, struct imap_section *s,
    const char **error_r)
{
	const struct imap_arg	*a = sec->child, *m;
	const char		*t;
	size_t			 n, i, start;
	unsigned int		 np = 0, k, spec;
	uint64_t		 v;

	memset(s, 0, sizeof(*s));
	if (a == NULL)
		return 0;
	if (!arg_is_atom(a))
		return fail(error_r, "Invalid section");
	t = a->str;
	n = a->len;
	/* section-part = nz-number *("." nz-number), counted first */
	for (i = 0; i < n && is_digit((unsigned char)t[i]); ) {
		while (i < n && is_digit((unsigned char)t[i]))
			i++;
		if (i < n && t[i] != '.')
			return fail(error_r, "Invalid section");
		if (++np > lim->max_section_parts)
			return fail(error_r, "Too many part numbers in "
			    "section");
		if (i < n)
			i++;
	}
	if (i == n && n > 0 && t[n - 1] == '.')
		return fail(error_r, "Invalid section");
	if (np > 0)
		s->parts = arena_alloc(cmd, np * sizeof(*s->parts));
	for (i = 0, k = 0; k < np; k++, i++) {
		start = i;
		v = 0;
		while (i < n && is_digit((unsigned char)t[i])) {
			v = v * 10 + (unsigned char)(t[i] - '0');
			if (v > lim->max_part_number || i - start >= 10)
				return fail(error_r, "Part number too large");
			i++;
		}
		if (t[start] == '0')
			return fail(error_r, "Invalid part number");
		s->parts[k] = (uint32_t)v;
	}
	s->nparts = np;
	/* i is now past the dot after the last part (or at 0, or at n + 1) */
	if (np > 0 && i > n)
		i = n;
	if (i == n)
		spec = IMAP_SECTION_ALL;
	else {
		if (binary)
			return fail(error_r, "BINARY sections take part "
			    "numbers only");
		for (spec = 1; spec < N_ELEMENTS(section_specs); spec++) {
			if (eq_word(t + i, n - i, section_specs[spec]))
				break;
		}
		if (spec == N_ELEMENTS(section_specs))
			return fail(error_r, "Invalid section");
		if (spec == IMAP_SECTION_MIME && np == 0)
			return fail(error_r, "MIME needs a part number");
	}
	s->spec = spec;
	m = a->next;
	if (spec != IMAP_SECTION_HEADER_FIELDS &&
	    spec != IMAP_SECTION_HEADER_FIELDS_NOT) {
		if (m != NULL)
			return fail(error_r, "Invalid section");
		return 0;
	}
	if (!arg_is_list(m) || m->count == 0 || m->next != NULL)
		return fail(error_r, "HEADER.FIELDS takes a list of field "
		    "names");
	if (m->count > lim->max_header_fields)
		return fail(error_r, "Too many header fields");
	s->fields = arena_calloc(cmd, m->count, sizeof(*s->fields));
	for (k = 0, m = m->child; m != NULL; m = m->next, k++) {
		if (arg_astring(cmd, m, is_astring_char, &s->fields[k],
		    error_r) == -1)
			return -1;
		if (s->fields[k].len == 0 ||
		    !all_chars(s->fields[k].data, s->fields[k].len, is_ftext))
			return fail(error_r, "Invalid header field name");
	}
	s->nfields = k;
	return 0;
}

/* "<" number64 "." nz-number64 ">" as the generic parser kept it. */
static int
parse_partial_text(const char *s, size_t len, struct imap_fetch_att *att,
    const char **error_r)
{
	const char	*dot;

	if ((dot = memchr(s, '.', len)) == NULL)
		return fail(error_r, "Partial needs an origin and a length");
	if (parse_u64_n(s, (size_t)(dot - s), NUMBER64_MAX,
	    &att->offset) == -1 ||
	    parse_u64_n(dot + 1, len - (size_t)(dot - s) - 1, NUMBER64_MAX,
	    &att->count) == -1)
		return fail(error_r, "Invalid partial");
	if (att->count == 0)
		return fail(error_r, "Partial length must not be 0");
	att->partial = true;
	return 0;
}

static int
parse_fetch_att(struct imap_cmd *cmd, const struct imap_arg *a,
    const struct imap_limits *lim, struct imap_fetch_att *att,
    const char **error_r)
{
	unsigned int	i;
	bool		binary = false;

	memset(att, 0, sizeof(*att));
	if (a->type != IMAP_ARG_ATOM && a->type != IMAP_ARG_NIL)
		return fail(error_r, "Invalid FETCH attribute");
	if (a->section == NULL) {
		for (i = 0; i < N_ELEMENTS(fetch_simple); i++) {
			if (eq_word(a->str, a->len, fetch_simple[i].name)) {
				att->item = fetch_simple[i].item;
				return 0;
			}
		}
		if (eq_word(a->str, a->len, "MODSEQ"))
			return fail(error_r, "MODSEQ is not supported");
		if (eq_word(a->str, a->len, "BODY.PEEK") ||
		    eq_word(a->str, a->len, "BINARY") ||
		    eq_word(a->str, a->len, "BINARY.PEEK") ||
		    eq_word(a->str, a->len, "BINARY.SIZE"))
			return fail(error_r, "FETCH attribute needs a section");
		return fail(error_r, "Unknown FETCH attribute");
	}
	if (eq_word(a->str, a->len, "BODY"))
		att->item = IMAP_FETCH_BODY_SECTION;
	else if (eq_word(a->str, a->len, "BODY.PEEK")) {
		att->item = IMAP_FETCH_BODY_SECTION;
		att->peek = true;
	} else if (eq_word(a->str, a->len, "BINARY"))
		att->item = IMAP_FETCH_BINARY;
	else if (eq_word(a->str, a->len, "BINARY.PEEK")) {
		att->item = IMAP_FETCH_BINARY;
		att->peek = true;
	} else if (eq_word(a->str, a->len, "BINARY.SIZE"))
		att->item = IMAP_FETCH_BINARY_SIZE;
	else
		return fail(error_r, "Unexpected section in FETCH attribute");
	binary = att->item != IMAP_FETCH_BODY_SECTION;
	if (parse_section(cmd, a->section, binary, lim, &att->section,
	    error_r) == -1)
		return -1;
	if (a->partial == NULL)
		return 0;
	if (att->item == IMAP_FETCH_BINARY_SIZE)
		return fail(error_r, "BINARY.SIZE takes no partial");
	return parse_partial_text(a->partial, a->partial_len, att, error_r);
}

int
imap_parse_fetch(struct imap_cmd *cmd, const struct imap_limits *lim,
    struct imap_fetch *fetch_r, const char **error_r)
{
	const struct imap_arg	*a, *m;
	unsigned int		 i, n, macro = 0;

	memset(fetch_r, 0, sizeof(*fetch_r));
	if (cmd->nargs > 2 && arg_is_list(cmd->args->next->next))
		return fail(error_r, "FETCH modifiers are not supported");
	if (cmd->nargs != 2)
		return fail(error_r, "FETCH takes a sequence set and "
		    "attributes");
	if (arg_seqset(cmd, cmd->args, lim, &fetch_r->set, error_r) == -1)
		return -1;
	a = cmd->args->next;
	if (arg_is_word(a, "ALL"))
		macro = FETCH_ALL_N;
	else if (arg_is_word(a, "FAST"))
		macro = FETCH_FAST_N;
	else if (arg_is_word(a, "FULL"))
		macro = FETCH_FULL_N;
	if (macro != 0)
		n = macro;
	else if (arg_is_list(a)) {
		if (a->count == 0)
			return fail(error_r, "Empty FETCH attribute list");
		n = a->count;
	} else
		n = 1;
	/* Room for the UID that UID FETCH implies. */
	if (n + (cmd->uid ? 1 : 0) > lim->max_fetch_atts)
		return fail(error_r, "Too many FETCH attributes");
	fetch_r->atts = arena_calloc(cmd, n + 1, sizeof(*fetch_r->atts));
	if (macro != 0) {
		for (i = 0; i < macro; i++)
			fetch_r->atts[i].item = fetch_fast[i];
	} else {
		m = arg_is_list(a) ? a->child : a;
		for (i = 0; i < n; i++, m = m->next) {
			if (parse_fetch_att(cmd, m, lim, &fetch_r->atts[i],
			    error_r) == -1)
				return -1;
		}
	}
	fetch_r->natts = n;
	for (i = 0; i < n; i++)
		fetch_r->items |= 1u << fetch_r->atts[i].item;
	/* RFC 9051 6.4.9: UID FETCH replies always carry the UID. */
	if (cmd->uid && (fetch_r->items & (1u << IMAP_FETCH_UID)) == 0) {
		fetch_r->atts[n].item = IMAP_FETCH_UID;
		fetch_r->natts++;
		fetch_r->items |= 1u << IMAP_FETCH_UID;
	}
	return 0;
}

static int
write_astring(const struct imap_str *s, struct buf *out)
{
	size_t	i;

	if (s->len > 0 && all_chars(s->data, s->len, is_astring_char))
		return buf_append(out, s->data, s->len);
	if (buf_append_byte(out, '"') == -1)
		return -1;
	for (i = 0; i < s->len; i++) {
		if ((s->data[i] == '"' || s->data[i] == '\\') &&
		    buf_append_byte(out, '\\') == -1)
			return -1;
		if (buf_append_byte(out, (uint8_t)s->data[i]) == -1)
			return -1;
	}
	return buf_append_byte(out, '"');
}

static int
write_section(const struct imap_section *s, struct buf *out)
{
	unsigned int	i;

	if (buf_append_byte(out, '[') == -1)
		return -1;
	for (i = 0; i < s->nparts; i++) {
		if (buf_printf(out, "%s%u", i > 0 ? "." : "",
		    (unsigned int)s->parts[i]) == -1)
			return -1;
	}
	if (s->spec != IMAP_SECTION_ALL &&
	    buf_printf(out, "%s%s", s->nparts > 0 ? "." : "",
	    section_specs[s->spec]) == -1)
		return -1;
	if (s->nfields > 0) {
		if (buf_append_str(out, " (") == -1)
			return -1;
		for (i = 0; i < s->nfields; i++) {
			if ((i > 0 && buf_append_byte(out, ' ') == -1) ||
			    write_astring(&s->fields[i], out) == -1)
				return -1;
		}
		if (buf_append_byte(out, ')') == -1)
			return -1;
	}
	return buf_append_byte(out, ']');
}

int
imap_parse_fetch_att_name(const struct imap_fetch_att *att, struct buf *out)
{
	unsigned int	i;

	switch (att->item) {
	case IMAP_FETCH_BODY_SECTION:
		if (buf_append_str(out, "BODY") == -1)
			return -1;
		break;
	case IMAP_FETCH_BINARY:
		if (buf_append_str(out, "BINARY") == -1)
			return -1;
		break;
	case IMAP_FETCH_BINARY_SIZE:
		if (buf_append_str(out, "BINARY.SIZE") == -1)
			return -1;
		break;
	default:
		for (i = 0; i < N_ELEMENTS(fetch_simple); i++) {
			if (fetch_simple[i].item == att->item)
				return buf_append_str(out,
				    fetch_simple[i].name);
		}
		return -1;
	}
	if (write_section(&att->section, out) == -1)
		return -1;
	if (att->partial && buf_printf(out, "<%llu>",
	    (unsigned long long)att->offset) == -1)
		return -1;
	return 0;
}

/* ---- SEARCH -------------------------------------------------------------- */

enum search_arg {
	SA_NONE = 0,
	SA_STRING,
	SA_HEADER,
	SA_DATE,
	SA_SIZE,
	SA_UIDSET,
	SA_KEYWORD,
	SA_NOT,
	SA_OR,
};

static const struct {
	const char		*name;
	enum imap_search_key	 key;
	enum search_arg		 arg;
} search_keys[] = {
	{ "ALL",	IMAP_SEARCH_ALL,	SA_NONE },
	{ "ANSWERED",	IMAP_SEARCH_ANSWERED,	SA_NONE },
	{ "BCC",	IMAP_SEARCH_BCC,	SA_STRING },
	{ "BEFORE",	IMAP_SEARCH_BEFORE,	SA_DATE },
	{ "BODY",	IMAP_SEARCH_BODY,	SA_STRING },
	{ "CC",		IMAP_SEARCH_CC,		SA_STRING },
	{ "DELETED",	IMAP_SEARCH_DELETED,	SA_NONE },
	{ "DRAFT",	IMAP_SEARCH_DRAFT,	SA_NONE },
	{ "FLAGGED",	IMAP_SEARCH_FLAGGED,	SA_NONE },
	{ "FROM",	IMAP_SEARCH_FROM,	SA_STRING },
	{ "HEADER",	IMAP_SEARCH_HEADER,	SA_HEADER },
	{ "KEYWORD",	IMAP_SEARCH_KEYWORD,	SA_KEYWORD },
	{ "LARGER",	IMAP_SEARCH_LARGER,	SA_SIZE },
	{ "NEW",	IMAP_SEARCH_NEW,	SA_NONE },
	{ "NOT",	IMAP_SEARCH_NOT,	SA_NOT },
	{ "OLD",	IMAP_SEARCH_OLD,	SA_NONE },
	{ "ON",		IMAP_SEARCH_ON,		SA_DATE },
	{ "OR",		IMAP_SEARCH_OR,		SA_OR },
	{ "RECENT",	IMAP_SEARCH_RECENT,	SA_NONE },
	{ "SEEN",	IMAP_SEARCH_SEEN,	SA_NONE },
	{ "SENTBEFORE",	IMAP_SEARCH_SENTBEFORE,	SA_DATE },
	{ "SENTON",	IMAP_SEARCH_SENTON,	SA_DATE },
	{ "SENTSINCE",	IMAP_SEARCH_SENTSINCE,	SA_DATE },
	{ "SINCE",	IMAP_SEARCH_SINCE,	SA_DATE },
	{ "SMALLER",	IMAP_SEARCH_SMALLER,	SA_SIZE },
	{ "SUBJECT",	IMAP_SEARCH_SUBJECT,	SA_STRING },
	{ "TEXT",	IMAP_SEARCH_TEXT,	SA_STRING },
	{ "TO",		IMAP_SEARCH_TO,		SA_STRING },
	{ "UID",	IMAP_SEARCH_UID,	SA_UIDSET },
	{ "UNANSWERED",	IMAP_SEARCH_UNANSWERED,	SA_NONE },
	{ "UNDELETED",	IMAP_SEARCH_UNDELETED,	SA_NONE },
	{ "UNDRAFT",	IMAP_SEARCH_UNDRAFT,	SA_NONE },
	{ "UNFLAGGED",	IMAP_SEARCH_UNFLAGGED,	SA_NONE },
	{ "UNKEYWORD",	IMAP_SEARCH_UNKEYWORD,	SA_KEYWORD },
	{ "UNSEEN",	IMAP_SEARCH_UNSEEN,	SA_NONE },
};

struct search_ctx {
	struct imap_cmd		 *cmd;
	const struct imap_limits *lim;
	unsigned int		  nkeys;
	unsigned int		  ranges_left;	/* all sets */
	const char		 *error;
};

static struct imap_search_node *
search_fail(struct search_ctx *c, const char *error)
{
	if (c->error == NULL)
		c->error = error;
	return NULL;
}

static int
search_set(struct search_ctx *c, const struct imap_arg *a,
    struct imap_seqset *set)
{
	struct imap_limits	 lim = *c->lim;

	lim.max_ranges = c->ranges_left;
	if (arg_seqset(c->cmd, a, &lim, set, &c->error) == -1)
		return -1;
	c->ranges_left -= set->nranges;
	return 0;
}

static struct imap_search_node *search_key(struct search_ctx *,
    const struct imap_arg **, unsigned int);

/* The argument a key takes, at *ap (which moves past it). */
static int
search_key_arg(struct search_ctx *c, enum search_arg type,
    const struct imap_arg **ap, struct imap_search_node *node,
    unsigned int depth)
{
	const struct imap_arg	*a = *ap;

	if (type == SA_NONE)
		return 0;
	if (a == NULL) {
		c->error = "Missing argument to search key";
		return -1;
	}
	switch (type) {
	case SA_NONE:
		break;
	case SA_STRING:
		if (arg_astring(c->cmd, a, is_astring_char, &node->value,
		    &c->error) == -1)
			return -1;
		break;
	case SA_HEADER:
		if (arg_astring(c->cmd, a, is_astring_char, &node->field,
		    &c->error) == -1)
			return -1;
		if ((a = a->next) == NULL) {
			c->error = "Missing argument to search key";
			return -1;
		}
		if (arg_astring(c->cmd, a, is_astring_char, &node->value,
		    &c->error) == -1)
			return -1;
		break;
	case SA_DATE:
		if ((!arg_is_atom(a) && a->type != IMAP_ARG_STRING) ||
		    imap_parse_date(a->str, a->len, &node->date,
		    &c->error) == -1) {
			c->error = "Invalid date in search key";
			return -1;
		}
		break;
	case SA_SIZE:
		if (!arg_is_atom(a) ||
		    parse_u64_n(a->str, a->len, NUMBER64_MAX,
		    &node->size) == -1) {
			c->error = "Invalid size in search key";
			return -1;
		}
		break;
	case SA_UIDSET:
		if (search_set(c, a, &node->set) == -1)
			return -1;
		break;
	case SA_KEYWORD:
		if (!arg_is_atom(a) ||
		    !all_chars(a->str, a->len, is_atom_char)) {
			c->error = "Invalid keyword in search key";
			return -1;
		}
		node->value.data = a->str;
		node->value.len = a->len;
		break;
	case SA_NOT:
		if ((node->child = search_key(c, &a, depth + 1)) == NULL)
			return -1;
		*ap = a;
		return 0;
	case SA_OR:
		if ((node->child = search_key(c, &a, depth + 1)) == NULL)
			return -1;
		if (a == NULL) {
			c->error = "OR takes two search keys";
			return -1;
		}
		if ((node->child->next = search_key(c, &a, depth + 1)) == NULL)
			return -1;
		*ap = a;
		return 0;
	}
	*ap = a->next;
	return 0;
}

/* One search key at *ap; *ap moves past it and its arguments. */
static struct imap_search_node *
search_key(struct search_ctx *c, const struct imap_arg **ap,
    unsigned int depth)
{
	const struct imap_arg	 *a = *ap, *m;
	struct imap_search_node	 *node, **tail;
	unsigned int		  i;
	unsigned char		  c0;

	if (depth > c->lim->max_search_depth)
		return search_fail(c, "Search program too deeply nested");
	if (c->nkeys >= c->lim->max_search_keys)
		return search_fail(c, "Too many search keys");
	c->nkeys++;
	node = arena_calloc(c->cmd, 1, sizeof(*node));
	if (a->type == IMAP_ARG_LIST) {
		if (a->count == 0)
			return search_fail(c, "Empty search key list");
		node->key = IMAP_SEARCH_AND;
		tail = &node->child;
		for (m = a->child; m != NULL; ) {
			if ((*tail = search_key(c, &m, depth + 1)) == NULL)
				return NULL;
			tail = &(*tail)->next;
		}
		*ap = a->next;
		return node;
	}
	if (!arg_is_atom(a))
		return search_fail(c, "Invalid search key");
	for (i = 0; i < N_ELEMENTS(search_keys); i++) {
		if (eq_word(a->str, a->len, search_keys[i].name))
			break;
	}
	if (i < N_ELEMENTS(search_keys)) {
		node->key = search_keys[i].key;
		*ap = a->next;
		if (search_key_arg(c, search_keys[i].arg, ap, node,
		    depth) == -1)
			return NULL;
		return node;
	}
	c0 = (unsigned char)a->str[0];
	if (!is_digit(c0) && c0 != '*' && c0 != '$')
		return search_fail(c, "Unknown search key");
	node->key = IMAP_SEARCH_SEQSET;
	if (search_set(c, a, &node->set) == -1)
		return NULL;
	*ap = a->next;
	return node;
}

static const struct {
	const char	*name;
	unsigned int	 bit;
} search_returns[] = {
	{ "MIN",	IMAP_SEARCH_RET_MIN },
	{ "MAX",	IMAP_SEARCH_RET_MAX },
	{ "ALL",	IMAP_SEARCH_RET_ALL },
	{ "COUNT",	IMAP_SEARCH_RET_COUNT },
	{ "SAVE",	IMAP_SEARCH_RET_SAVE },
};

int
imap_parse_search(struct imap_cmd *cmd, const struct imap_limits *lim,
    struct imap_search *search_r, enum imap_parse_err *kind_r,
    const char **error_r)
{
	struct search_ctx	 c;
	const struct imap_arg	*a = cmd->args, *m;
	struct imap_search_node	**tail;
	struct imap_str		 cs;
	unsigned int		 i, bit;

	memset(search_r, 0, sizeof(*search_r));
	*kind_r = IMAP_PARSE_E_SYNTAX;
	if (arg_is_word(a, "RETURN") && arg_is_list(a->next)) {
		/* RFC 4731 3.1 */
		search_r->esearch = true;
		for (m = a->next->child; m != NULL; m = m->next) {
			bit = 0;
			for (i = 0; i < N_ELEMENTS(search_returns) &&
			    arg_is_atom(m); i++) {
				if (eq_word(m->str, m->len,
				    search_returns[i].name))
					bit = search_returns[i].bit;
			}
			if (bit == 0)
				return fail(error_r, "Unknown RETURN option");
			search_r->ret |= bit;
		}
		if (search_r->ret == 0)
			search_r->ret = IMAP_SEARCH_RET_ALL;
		a = a->next->next;
	}
	if (arg_is_word(a, "CHARSET")) {
		if (arg_astring(cmd, a->next, is_astring_char, &cs,
		    error_r) == -1)
			return -1;
		if (!eq_word(cs.data, cs.len, "UTF-8") &&
		    !eq_word(cs.data, cs.len, "US-ASCII")) {
			*kind_r = IMAP_PARSE_E_BADCHARSET;
			return fail(error_r, "Unsupported charset");
		}
		search_r->charset = true;
		a = a->next->next;
	}
	if (a == NULL)
		return fail(error_r, "Missing search key");
	memset(&c, 0, sizeof(c));
	c.cmd = cmd;
	c.lim = lim;
	c.ranges_left = lim->max_ranges;
	c.nkeys = 1;
	if (lim->max_search_keys == 0)
		return fail(error_r, "Too many search keys");
	search_r->root = arena_calloc(cmd, 1, sizeof(*search_r->root));
	search_r->root->key = IMAP_SEARCH_AND;
	tail = &search_r->root->child;
	while (a != NULL) {
		if ((*tail = search_key(&c, &a, 1)) == NULL)
			return fail(error_r, c.error != NULL ? c.error :
			    "Invalid search program");
		tail = &(*tail)->next;
	}
	search_r->nkeys = c.nkeys;
	*kind_r = IMAP_PARSE_E_NONE;
	return 0;
}
