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
#include "common/utf8.h"
#include "common/xmalloc.h"

#include "imapd/imap_parse.h"
#include "imapd/imap_parse_int.h"

#include "common/banned.h"

/* Arena blocks: the first is kept between commands, later ones double. */
#define ARENA_FIRST	2048
#define ARENA_MAX_STEP	65536
#define ARENA_ALIGN	16


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

/* s[0..len) equals the upper-case word w (NUL-terminated), ignoring case. */
bool
imap_parse_eq_word(const char *s, size_t len, const char *w)
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
bool
imap_parse_eq_icase(const char *a, const char *b, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		if (to_upper((unsigned char)a[i]) !=
		    to_upper((unsigned char)b[i]))
			return false;
	}
	return true;
}

bool
imap_parse_all_chars(const char *s, size_t len, bool (*ok)(unsigned char))
{
	size_t	i;

	for (i = 0; i < len; i++) {
		if (!ok((unsigned char)s[i]))
			return false;
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
void *
imap_parse_arena_alloc(struct imap_cmd *cmd, size_t size)
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

void *
imap_parse_arena_calloc(struct imap_cmd *cmd, size_t nmemb, size_t size)
{
	void	*p;

	if (size != 0 && nmemb > SIZE_MAX / 2 / size)
		log_panic("imap_parse: arena request of %zu x %zu", nmemb,
		    size);
	p = imap_parse_arena_alloc(cmd, nmemb * size);
	memset(p, 0, nmemb * size);
	return p;
}

/* A NUL-terminated copy of s[0..len). */
const char *
imap_parse_arena_strndup(struct imap_cmd *cmd, const char *s, size_t len)
{
	char	*p;

	p = imap_parse_arena_alloc(cmd, len + 1);
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
	while (j > 0 && imap_parse_is_digit((unsigned char)line[j - 1]))
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
	st->append = imap_parse_eq_word(data + st->name_off, st->name_len, "APPEND");
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


/* UID may only prefix these (RFC 9051 6.4.9, RFC 4315, RFC 6851). */
static const char *const uid_commands[] = {
	"COPY", "MOVE", "FETCH", "SEARCH", "STORE", "EXPUNGE",
};

static int
perr(struct imap_parser *p, const char *error)
{
	if (p->error == NULL)
		p->error = error;
	return -1;
}

static struct imap_arg *
parser_new_arg(struct imap_parser *p, enum imap_arg_type type)
{
	struct imap_arg	*a;

	if (p->cmd->nalloc_args >= p->lim->max_args) {
		perr(p, "Too many arguments");
		return NULL;
	}
	p->cmd->nalloc_args++;
	a = imap_parse_arena_calloc(p->cmd, 1, sizeof(*a));
	a->type = type;
	return a;
}

/* A quoted string at p->pos (on the opening quote). */
static int
parse_quoted(struct imap_parser *p, struct imap_arg *a)
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
	s = imap_parse_arena_alloc(p->cmd, out + 1);
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
	    !utf8_valid(a->str, a->len))
		return perr(p, "Invalid UTF-8 in quoted string");
	return 0;
}

/* A literal at p->pos (on the "{"): {n} or {n+}, CRLF, n bytes. */
static int
parse_literal(struct imap_parser *p, struct imap_arg *a)
{
	const char	*d = p->data;
	size_t		 i = p->pos + 1, digits = 0;
	uint64_t	 n = 0;
	unsigned int	 v;

	while (i < p->len && imap_parse_is_digit((unsigned char)d[i])) {
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
parse_partial(struct imap_parser *p, struct imap_arg *a)
{
	const char	*d = p->data;
	size_t		 i = p->pos + 1, start = i;
	bool		 dot = false;

	while (i < p->len && d[i] != '>') {
		if (d[i] == '.' && !dot && i > start &&
		    imap_parse_is_digit((unsigned char)d[i - 1]))
			dot = true;
		else if (!imap_parse_is_digit((unsigned char)d[i]))
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
parse_atom(struct imap_parser *p, struct imap_arg *a, unsigned int depth)
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
	a->str = imap_parse_arena_strndup(p->cmd, d + start, i - start);
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
		if (imap_parse_run_items(p, depth + 1, ']', &a->section->child,
		    &a->section->count) == -1)
			return -1;
		p->in_section = was;
		if (p->pos < p->len && d[p->pos] == '<' &&
		    parse_partial(p, a) == -1)
			return -1;
		return 0;
	}
	if (a->len == 3 && imap_parse_eq_word(a->str, 3, "NIL"))
		a->type = IMAP_ARG_NIL;
	return 0;
}

/* One argument at p->pos (not SP, ")" or the end). */
static struct imap_arg *
parse_arg(struct imap_parser *p, unsigned int depth)
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
		r = imap_parse_run_items(p, depth + 1, ')', &a->child, &a->count);
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
int
imap_parse_run_items(struct imap_parser *p, unsigned int depth, char closer,
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
parse_name(struct imap_parser *p)
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

void
imap_parse_run_start(struct imap_parser *p, const char *data, size_t len,
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
int
imap_parse_run_command(struct imap_parser *p)
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
	cmd->tag = imap_parse_arena_strndup(cmd, p->data, p->pos);
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
	return imap_parse_run_items(p, 0, 0, &cmd->args, &cmd->nargs);
}

int
imap_parse_command(const char *data, size_t len,
    const struct imap_limits *lim, struct imap_cmd *cmd, const char **error_r)
{
	struct imap_parser	p;

	imap_parse_run_start(&p, data, len, lim, cmd, false);
	if (imap_parse_run_command(&p) == -1) {
		*error_r = p.error;
		return -1;
	}
	return 0;
}
