/* SPDX-License-Identifier: ISC */
/*
 * libFuzzer target for the IMAP command reader and parser
 * (imapd/imap_parse.c).  The first input byte picks the session options
 * (LITERAL+, LITERAL-, UTF8=ACCEPT, small limits, how many bytes arrive
 * per read, whether APPEND messages are taken out of the buffer); the
 * rest is what a client sends.  It is fed to the scanner as a session
 * would: in reads of that size, answering literals, streaming APPEND
 * messages away, recovering from errors with imap_scan_skip(), parsing
 * each complete command and running it through every typed parser (all
 * of them, whatever the command name, since each must refuse what is not
 * its syntax).  The whole input is also parsed directly as one command
 * and as a sequence set, date, date-time, SASL response and DONE line.
 *
 * Invariants checked: offsets the scanner reports lie within the data;
 * a failure always has a text; parse trees are well formed (strings
 * NUL-terminated except literals, which lie inside the input; counts
 * match; no more than max_args); typed results hold no NUL; normalized
 * sets are sorted, disjoint, within 1..star, and iterate to their count.
 */
/* fuzz-sources: imapd/imap_parse.c imapd/imap_parse_args.c common/buf.c common/str.c common/error.c common/xmalloc.c common/log.c common/utf8.c */
/* fuzz-libs: */
#include "config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "imapd/imap_parse.h"

#include "common/banned.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define OPT_LITERAL_PLUS	0x01
#define OPT_LITERAL_MINUS	0x02
#define OPT_UTF8		0x04
#define OPT_SMALL		0x08
#define OPT_TAKE		0x10
/* bits 5-7: read size */

static void
check(bool ok)
{
	if (!ok)
		abort();
}

static void
check_str(const struct imap_str *s)
{
	check(s->data != NULL && s->data[s->len] == '\0' &&
	    memchr(s->data, '\0', s->len) == NULL);
}

static unsigned int
siblings(const struct imap_arg *a)
{
	unsigned int	n = 0;

	for (; a != NULL; a = a->next)
		n++;
	return n;
}

static unsigned int
check_args(const struct imap_arg *a, const char *in, size_t len,
    unsigned int depth, const struct imap_limits *lim)
{
	unsigned int	n = 0;

	for (; a != NULL; a = a->next) {
		n++;
		check(depth <= lim->max_depth);
		switch (a->type) {
		case IMAP_ARG_LIST:
			check(siblings(a->child) == a->count);
			n += check_args(a->child, in, len, depth + 1, lim);
			break;
		case IMAP_ARG_LITERAL:
			check(a->str >= in && a->len <= len &&
			    a->str + a->len <= in + len);
			check(a->has_nul == (memchr(a->str, '\0', a->len) !=
			    NULL));
			break;
		case IMAP_ARG_ATOM:
		case IMAP_ARG_NIL:
		case IMAP_ARG_STRING:
			check(a->str != NULL && a->str[a->len] == '\0');
			break;
		default:
			abort();
		}
		if (a->section != NULL) {
			check(a->type == IMAP_ARG_ATOM);
			check(siblings(a->section->child) ==
			    a->section->count);
			n += check_args(a->section->child, in, len, depth + 1,
			    lim) + 1;
		}
		if (a->partial != NULL)
			check(a->partial >= in &&
			    a->partial + a->partial_len <= in + len);
	}
	return n;
}

static void
check_set(struct imap_seqset *set, uint32_t star)
{
	struct imap_seqset_iter	it;
	unsigned int		i;
	uint64_t		count, n = 0;
	uint32_t		v, prev = 0;

	(void)imap_parse_seqset_normalize(set, star);
	if (set->dollar)
		return;
	for (i = 0; i < set->nranges; i++) {
		check(set->ranges[i].lo >= 1 && set->ranges[i].lo <=
		    set->ranges[i].hi && set->ranges[i].hi <= star);
		check(i == 0 || (uint64_t)set->ranges[i].lo >
		    (uint64_t)set->ranges[i - 1].hi + 1);
		check(imap_parse_seqset_contains(set, set->ranges[i].lo));
		check(imap_parse_seqset_contains(set, set->ranges[i].hi));
	}
	count = imap_parse_seqset_count(set);
	if (count > 5000)
		return;
	imap_parse_seqset_iter_init(&it, set);
	while (imap_parse_seqset_iter_next(&it, &v)) {
		check(n == 0 || v > prev);
		prev = v;
		n++;
	}
	check(n == count);
}

/* Every typed parser over one parsed command. */
static void
typed(struct imap_cmd *cmd, const struct imap_limits *lim)
{
	const char		*e;
	struct imap_str		 a, b;
	struct imap_seqset	 set;
	struct imap_store	 st;
	struct imap_list	 l;
	struct imap_id		 id;
	struct imap_fetch	 f;
	struct imap_search	 sr;
	enum imap_parse_err	 kind;
	struct buf		*out;
	unsigned int		 u, i;
	bool			 has;

#define RUN(call) do {							\
	e = NULL;							\
	if ((call) != 0)						\
		check(e != NULL);					\
} while (0)

	RUN(imap_parse_noargs(cmd, &e));
	RUN(imap_parse_mailbox(cmd, &a, &e));
	if (e == NULL)
		check_str(&a);
	RUN(imap_parse_rename(cmd, &a, &b, &e));
	if (e == NULL) {
		check_str(&a);
		check_str(&b);
	}
	RUN(imap_parse_select(cmd, &a, &e));
	RUN(imap_parse_create(cmd, &a, &u, &e));
	RUN(imap_parse_status(cmd, &a, &u, &e));
	RUN(imap_parse_enable(cmd, &u, &e));
	RUN(imap_parse_copy(cmd, lim, &set, &a, &e));
	if (e == NULL)
		check_set(&set, 1000);
	RUN(imap_parse_uid_expunge(cmd, lim, &set, &e));
	if (e == NULL)
		check_set(&set, UINT32_MAX);
	RUN(imap_parse_store(cmd, lim, &st, &e));
	if (e == NULL) {
		for (i = 0; i < st.flags.nkeywords; i++)
			check_str(&st.flags.keywords[i]);
		check_set(&st.set, 7);
	}
	RUN(imap_parse_list(cmd, &l, &e));
	if (e == NULL) {
		check_str(&l.ref);
		check(l.npatterns >= 1);
		for (i = 0; i < l.npatterns; i++)
			check_str(&l.patterns[i]);
	}
	RUN(imap_parse_id(cmd, lim, &id, &e));
	if (e == NULL) {
		check(id.npairs <= lim->max_id_pairs);
		for (i = 0; i < id.npairs; i++) {
			check_str(&id.pairs[i].field);
			check_str(&id.pairs[i].value);
		}
	}
	RUN(imap_parse_fetch(cmd, lim, &f, &e));
	if (e == NULL) {
		check(f.natts >= 1 && f.natts <= lim->max_fetch_atts);
		out = buf_new(0, 1 << 20);
		for (i = 0; i < f.natts; i++) {
			check(f.atts[i].section.nparts <=
			    lim->max_section_parts);
			check(f.atts[i].section.nfields <=
			    lim->max_header_fields);
			check(!f.atts[i].partial || f.atts[i].count > 0);
			check(imap_parse_fetch_att_name(&f.atts[i], out) == 0);
		}
		buf_free(&out);
		check_set(&f.set, 3);
	}
	kind = IMAP_PARSE_E_NONE;
	RUN(imap_parse_search(cmd, lim, &sr, &kind, &e));
	if (e == NULL)
		check(kind == IMAP_PARSE_E_NONE && sr.root != NULL &&
		    sr.nkeys <= lim->max_search_keys);
	else
		check(kind != IMAP_PARSE_E_NONE);
	/* last: they mark the arena secret */
	RUN(imap_parse_login(cmd, &a, &b, &e));
	RUN(imap_parse_authenticate(cmd, &a, &has, &b, &e));
#undef RUN
}

static void
parse_one(struct imap_cmd *cmd, const char *p, size_t n,
    const struct imap_limits *lim)
{
	const char	*e = NULL;

	if (imap_parse_command(p, n, lim, cmd, &e) != 0) {
		check(e != NULL);
		check(cmd->tag_len == 0 || cmd->tag[cmd->tag_len] == '\0');
		return;
	}
	check(cmd->tag_len > 0 && cmd->tag[cmd->tag_len] == '\0');
	check(strlen(cmd->name) > 0 && strlen(cmd->name) <=
	    IMAP_PARSE_NAME_MAX);
	check(check_args(cmd->args, p, n, 0, lim) <= lim->max_args);
	typed(cmd, lim);
}

/* The session loop: reads of step bytes into a buffer of our own. */
static void
session(const char *in, size_t n, size_t step, bool take,
    const struct imap_limits *lim)
{
	struct imap_scan	 st;
	struct imap_cmd		 cmd;
	struct imap_append	 app;
	char			*buf = malloc(n + 1);
	size_t			 have = 0, used = 0, drop, msg_end = 0;
	uint64_t		 left = 0;
	enum imap_scan_result	 r;
	const char		*e;
	int			 k;
	bool			 skipping = false;

	if (buf == NULL)
		return;
	imap_parse_cmd_init(&cmd);
	imap_scan_init(&st, 0);
	for (;;) {
		/* one read */
		if (used < n) {
			size_t m = step < n - used ? step : n - used;

			if (left > 0) {
				/* streaming a taken literal away */
				if (m > left)
					m = (size_t)left;
				left -= m;
				used += m;
				if (left == 0)
					imap_scan_literal_taken(&st);
				continue;
			}
			memcpy(buf + have, in + used, m);
			have += m;
			used += m;
		} else if (left > 0)
			break;
		if (skipping) {
			k = imap_scan_skip(buf, have, &st, &drop);
			check(drop <= have);
			memmove(buf, buf + drop, have - drop);
			have -= drop;
			if (k == -1)
				break;
			if (k == 0) {
				if (used >= n)
					break;
				continue;
			}
			skipping = false;
			imap_scan_init(&st, 0);
		}
		r = imap_scan(buf, have, &st, lim);
		switch (r) {
		case IMAP_SCAN_NEED_MORE:
			if (used >= n)
				goto out;
			continue;
		case IMAP_SCAN_LITERAL:
			check(st.lit_start < st.lit_offset &&
			    st.lit_offset <= have);
			check(st.nliterals <= lim->max_literals);
			if (!st.lit_message) {
				/* now and then the session says no */
				if (st.lit_size % 7 == 3) {
					imap_scan_refuse(&st);
					check(imap_scan(buf, have, &st, lim) ==
					    IMAP_SCAN_ERROR);
					skipping = true;
					msg_end = 0;
				}
				continue;
			}
			e = NULL;
			if (imap_parse_append(&cmd, buf, st.lit_start, lim,
			    &app, &e) != 0)
				check(e != NULL);
			else
				check_str(&app.mailbox);
			if (take) {
				/* UNSAFE: lit_size <= max_append, small. */
				size_t inbuf = have - st.lit_offset;

				if ((uint64_t)inbuf >= st.lit_size) {
					inbuf = (size_t)st.lit_size;
					left = 0;
				} else
					left = st.lit_size - inbuf;
				memmove(buf + st.lit_offset,
				    buf + st.lit_offset + inbuf,
				    have - st.lit_offset - inbuf);
				have -= inbuf;
				msg_end = st.lit_offset;
				if (left == 0)
					imap_scan_literal_taken(&st);
			}
			continue;
		case IMAP_SCAN_COMPLETE:
			check(st.cmd_len > 0 && st.cmd_len <= have);
			if (take && msg_end > 0 && msg_end <= st.cmd_len) {
				e = NULL;
				k = imap_parse_append_next(&cmd, buf + msg_end,
				    st.cmd_len - msg_end, lim, &app, &e);
				check(k != -1 || e != NULL);
			} else
				parse_one(&cmd, buf, st.cmd_len, lim);
			msg_end = 0;
			memmove(buf, buf + st.cmd_len, have - st.cmd_len);
			have -= st.cmd_len;
			imap_scan_init(&st, 0);
			continue;
		case IMAP_SCAN_ERROR:
			check(st.error != IMAP_SCAN_E_NONE);
			check(imap_scan_strerror(st.error) != NULL);
			check(st.tag_len <= have);
			skipping = true;
			msg_end = 0;
			continue;
		}
	}
out:
	imap_parse_cmd_deinit(&cmd);
	free(buf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t	 steps[8] = { 1, 2, 3, 7, 16, 64, 512, 65536 };
	struct imap_limits	 lim;
	struct imap_cmd		 cmd;
	struct imap_seqset	 set;
	const char		*in, *e, *d;
	size_t			 n, dl;
	time_t			 t;
	int			 zone;
	bool			 cancel;
	uint8_t			 opt;

	if (size < 1)
		return 0;
	opt = data[0];
	in = (const char *)data + 1;
	n = size - 1;

	imap_limits_init(&lim);
	lim.literal_plus = (opt & OPT_LITERAL_PLUS) != 0;
	lim.literal_minus = (opt & OPT_LITERAL_MINUS) != 0;
	lim.utf8_accept = (opt & OPT_UTF8) != 0;
	lim.max_append = 1 << 20;
	if (opt & OPT_SMALL) {
		lim.max_line = 64;
		lim.max_literal = 16;
		lim.max_append = 64;
		lim.max_literals = 3;
		lim.max_depth = 3;
		lim.max_args = 24;
		lim.max_ranges = 4;
		lim.max_search_keys = 6;
		lim.max_search_depth = 3;
		lim.max_fetch_atts = 3;
		lim.max_section_parts = 2;
		lim.max_part_number = 9;
		lim.max_header_fields = 2;
		lim.max_id_pairs = 2;
		lim.max_id_field = 4;
		lim.max_id_value = 8;
	}

	session(in, n, steps[opt >> 5], (opt & OPT_TAKE) != 0, &lim);

	/* The whole input as one command, and through the small parsers. */
	imap_parse_cmd_init(&cmd);
	parse_one(&cmd, in, n, &lim);
	e = NULL;
	if (imap_parse_seqset(&cmd, in, n, &lim, &set, &e) == 0)
		check_set(&set, (uint32_t)n);
	else
		check(e != NULL);
	e = NULL;
	if (imap_parse_append_next(&cmd, in, n, &lim,
	    &(struct imap_append){ 0 }, &e) == -1)
		check(e != NULL);
	imap_parse_cmd_deinit(&cmd);
	e = NULL;
	if (imap_parse_date(in, n, &t, &e) != 0)
		check(e != NULL);
	e = NULL;
	if (imap_parse_date_time(in, n, &t, &zone, &e) != 0)
		check(e != NULL);
	else
		check(zone > -24 * 60 && zone < 24 * 60);
	e = NULL;
	if (imap_parse_sasl_response(in, n, &d, &dl, &cancel, &e) == 0)
		check(dl <= n && (dl == 0 || (d >= in && d + dl <= in + n)));
	else
		check(e != NULL);
	(void)imap_parse_done(in, n);
	return 0;
}
