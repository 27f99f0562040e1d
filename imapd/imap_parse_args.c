/* SPDX-License-Identifier: ISC */
/*
 * The typed parsers of IMAP commands (imap_parse.h, layer 3): each takes a
 * command the generic parser (imap_parse.c) has turned into arguments and
 * checks and decodes those of one command (sequence sets, flags and STORE,
 * dates, APPEND, STATUS, LIST, ENABLE, ID, FETCH attributes and SEARCH
 * programs), allocating from the command's arena.
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
#include "imapd/imap_parse_int.h"

#include "common/banned.h"

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
		if (a->section != NULL || !imap_parse_all_chars(a->str, a->len, atom_ok))
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
		s_r->data = imap_parse_arena_strndup(cmd, a->str, a->len);
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
	return arg_astring(cmd, a, imap_parse_is_astring_char, s_r, error_r);
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
	return arg_astring(cmd, a, imap_parse_is_astring_char, s_r, error_r);
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
	return arg_is_atom(a) && imap_parse_eq_word(a->str, a->len, w);
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
	return imap_parse_eq_word(line, len, "DONE");
}

static bool
is_base64_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    imap_parse_is_digit(c) || c == '+' || c == '/';
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
	if (!arg_is_atom(a) || !imap_parse_all_chars(a->str, a->len,
	    imap_parse_is_atom_char))
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
	if (arg_astring(cmd, cmd->args, imap_parse_is_astring_char, user_r,
	    error_r) == -1 ||
	    arg_astring(cmd, cmd->args->next, imap_parse_is_astring_char, pass_r,
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
	    imap_parse_all_chars(a->str + 1, a->len - 1, imap_parse_is_atom_char);
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
				if (imap_parse_eq_word(m->str, m->len, use_attrs[i].name))
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
	while (*i < len && imap_parse_is_digit((unsigned char)s[*i])) {
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
	set_r->ranges = imap_parse_arena_alloc(cmd, n * sizeof(*set_r->ranges));
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
			if (imap_parse_eq_word(a->str, a->len, system_flags[i].name)) {
				f->system |= system_flags[i].bit;
				return 0;
			}
		}
		if (imap_parse_eq_word(a->str, a->len, "\\RECENT"))
			return fail(error_r, "\\Recent cannot be set");
		return fail(error_r, "Unknown system flag");
	}
	if (!arg_is_atom(a) || !imap_parse_all_chars(a->str, a->len,
	    imap_parse_is_atom_char))
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
	f->keywords = imap_parse_arena_calloc(cmd, count, sizeof(*f->keywords));
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
	if (n > 7 && imap_parse_eq_word(s + n - 7, 7, ".SILENT")) {
		store_r->silent = true;
		n -= 7;
	}
	if (!imap_parse_eq_word(s, n, "FLAGS"))
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
		if (!imap_parse_is_digit((unsigned char)s[i]))
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
		if (imap_parse_eq_word(s + 1, 3, months[i]))
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
	struct imap_parser	p;

	memset(app_r, 0, sizeof(*app_r));
	imap_parse_run_start(&p, data, len, lim, cmd, true);
	if (imap_parse_run_command(&p) == -1)
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
	struct imap_parser		 p;
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
	imap_parse_run_start(&p, data, len, lim, cmd, true);
	if (imap_parse_run_items(&p, 0, 0, &first, &count) == -1)
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
			if (imap_parse_eq_word(m->str, m->len, status_items[i].name))
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
	return arg_astring(cmd, a, imap_parse_is_list_char, s_r, error_r);
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
		list_r->patterns = imap_parse_arena_calloc(cmd, a->count,
		    sizeof(*list_r->patterns));
		for (n = 0, m = a->child; m != NULL; m = m->next, n++) {
			if (arg_pattern(cmd, m, &list_r->patterns[n],
			    error_r) == -1)
				return -1;
		}
		list_r->npatterns = n;
	} else {
		list_r->patterns = imap_parse_arena_calloc(cmd, 1,
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
		if (!arg_is_atom(a) || !imap_parse_all_chars(a->str, a->len,
		    imap_parse_is_atom_char))
			return fail(error_r, "Invalid capability name");
		if (imap_parse_eq_word(a->str, a->len, "IMAP4REV2"))
			*caps_r |= IMAP_ENABLE_IMAP4REV2;
		else if (imap_parse_eq_word(a->str, a->len, "UTF8=ACCEPT"))
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
	id_r->pairs = imap_parse_arena_calloc(cmd, a->count / 2, sizeof(*id_r->pairs));
	for (n = 0, m = a->child; m != NULL; m = m->next->next, n++) {
		pair = &id_r->pairs[n];
		if (arg_string(cmd, m, &pair->field, error_r) == -1)
			return -1;
		if (pair->field.len > lim->max_id_field)
			return fail(error_r, "ID field name too long");
		for (i = 0; i < n; i++) {
			if (pair->field.len == id_r->pairs[i].field.len &&
			    imap_parse_eq_icase(pair->field.data,
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
	for (i = 0; i < n && imap_parse_is_digit((unsigned char)t[i]); ) {
		while (i < n && imap_parse_is_digit((unsigned char)t[i]))
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
		s->parts = imap_parse_arena_alloc(cmd, np * sizeof(*s->parts));
	for (i = 0, k = 0; k < np; k++, i++) {
		start = i;
		v = 0;
		while (i < n && imap_parse_is_digit((unsigned char)t[i])) {
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
			if (imap_parse_eq_word(t + i, n - i, section_specs[spec]))
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
	s->fields = imap_parse_arena_calloc(cmd, m->count, sizeof(*s->fields));
	for (k = 0, m = m->child; m != NULL; m = m->next, k++) {
		if (arg_astring(cmd, m, imap_parse_is_astring_char, &s->fields[k],
		    error_r) == -1)
			return -1;
		if (s->fields[k].len == 0 ||
		    !imap_parse_all_chars(s->fields[k].data, s->fields[k].len, is_ftext))
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
			if (imap_parse_eq_word(a->str, a->len, fetch_simple[i].name)) {
				att->item = fetch_simple[i].item;
				return 0;
			}
		}
		if (imap_parse_eq_word(a->str, a->len, "MODSEQ"))
			return fail(error_r, "MODSEQ is not supported");
		if (imap_parse_eq_word(a->str, a->len, "BODY.PEEK") ||
		    imap_parse_eq_word(a->str, a->len, "BINARY") ||
		    imap_parse_eq_word(a->str, a->len, "BINARY.PEEK") ||
		    imap_parse_eq_word(a->str, a->len, "BINARY.SIZE"))
			return fail(error_r, "FETCH attribute needs a section");
		return fail(error_r, "Unknown FETCH attribute");
	}
	if (imap_parse_eq_word(a->str, a->len, "BODY"))
		att->item = IMAP_FETCH_BODY_SECTION;
	else if (imap_parse_eq_word(a->str, a->len, "BODY.PEEK")) {
		att->item = IMAP_FETCH_BODY_SECTION;
		att->peek = true;
	} else if (imap_parse_eq_word(a->str, a->len, "BINARY"))
		att->item = IMAP_FETCH_BINARY;
	else if (imap_parse_eq_word(a->str, a->len, "BINARY.PEEK")) {
		att->item = IMAP_FETCH_BINARY;
		att->peek = true;
	} else if (imap_parse_eq_word(a->str, a->len, "BINARY.SIZE"))
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
	fetch_r->atts = imap_parse_arena_calloc(cmd, n + 1, sizeof(*fetch_r->atts));
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

	if (s->len > 0 && imap_parse_all_chars(s->data, s->len,
	    imap_parse_is_astring_char))
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
		if (arg_astring(c->cmd, a, imap_parse_is_astring_char, &node->value,
		    &c->error) == -1)
			return -1;
		break;
	case SA_HEADER:
		if (arg_astring(c->cmd, a, imap_parse_is_astring_char, &node->field,
		    &c->error) == -1)
			return -1;
		if ((a = a->next) == NULL) {
			c->error = "Missing argument to search key";
			return -1;
		}
		if (arg_astring(c->cmd, a, imap_parse_is_astring_char, &node->value,
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
		    !imap_parse_all_chars(a->str, a->len, imap_parse_is_atom_char)) {
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
	node = imap_parse_arena_calloc(c->cmd, 1, sizeof(*node));
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
		if (imap_parse_eq_word(a->str, a->len, search_keys[i].name))
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
	if (!imap_parse_is_digit(c0) && c0 != '*' && c0 != '$')
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
				if (imap_parse_eq_word(m->str, m->len,
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
		if (arg_astring(cmd, a->next, imap_parse_is_astring_char, &cs,
		    error_r) == -1)
			return -1;
		if (!imap_parse_eq_word(cs.data, cs.len, "UTF-8") &&
		    !imap_parse_eq_word(cs.data, cs.len, "US-ASCII")) {
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
	search_r->root = imap_parse_arena_calloc(cmd, 1, sizeof(*search_r->root));
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
