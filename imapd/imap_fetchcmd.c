/* SPDX-License-Identifier: ISC */
/*
 * FETCH and SEARCH in the selected state (imap_session.h): the messages
 * of the session's view handed to imap_fetch.c and imap_search.c with a
 * loader on the mail store.  A FETCH produces its output in steps: when
 * the client has IMAP_CONN_OUTPUT_HIGH bytes still to read, the command
 * waits (reading nothing further) until the output drains, so a FETCH of
 * 100,000 messages never holds more than about a megabyte of response.
 */
#include "config.h"

#include <sys/types.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/conf.h"
#include "common/log.h"
#include "common/mime.h"
#include "common/mstore.h"
#include "common/xmalloc.h"
#include "imap_fetch.h"
#include "imap_msg.h"
#include "imap_search.h"
#include "imap_session.h"
#include "common/banned.h"

struct imap_fetch_job {
	struct imap_fetch	 fetch;		/* in the command's arena */
	uint32_t		*uids;
	size_t			 n;
	size_t			 next;
	uint32_t		*seen;		/* UIDs whose \Seen we set */
	size_t			 nseen;
	bool			 index;		/* needs size/date */
	bool			 content;
	struct imap_msg_source	 src;
	struct buf		*out;
	struct imap_fetch_opts	 opts;
};

/* ---- the message source ----------------------------------------------- */

static int
imap_src_load(void *ctx, uint32_t uid, struct buf *out, const char **error_r)
{
	return mstore_msg_read(ctx, uid, out, error_r);
}

static int
imap_src_cache_get(void *ctx, uint32_t uid, int what, struct buf *out)
{
	const char	*error;

	if ((what & (IMAP_MSG_CACHE_F_UTF8 | IMAP_MSG_CACHE_F_REV2)) != 0)
		return 0;
	return mstore_cache_get(ctx, uid, what, out, &error) == 1 ? 1 : 0;
}

static void
imap_src_cache_put(void *ctx, uint32_t uid, int what, const char *data,
    size_t len)
{
	const char	*error;

	if ((what & (IMAP_MSG_CACHE_F_UTF8 | IMAP_MSG_CACHE_F_REV2)) != 0)
		return;
	if (mstore_cache_put(ctx, uid, what, data, len, &error) == -1)
		log_debug("cache: %s", error);
}

static void
imap_src_init(struct imap_session *s, struct imap_msg_source *src)
{
	memset(src, 0, sizeof(*src));
	src->load = imap_src_load;
	src->cache_get = imap_src_cache_get;
	src->cache_put = imap_src_cache_put;
	src->ctx = s->view.folder;
	mime_limits_default(&src->mime);
	/* A message may have grown by its CRs when read with CRLF. */
	src->max_message = (size_t)cfg->imapd_max_append_size * 2 + 65536;
	if (src->max_message < 256ULL * 1024 * 1024)
		src->max_message = 256ULL * 1024 * 1024;
}

/* The local zone at t, in minutes east (INTERNALDATE's zone). */
static int
imap_zone(time_t t)
{
	struct tm	tm;

	if (localtime_r(&t, &tm) == NULL)
		return 0;
	return (int)(tm.tm_gmtoff / 60);
}

/* Fills m from the index record (or the view for flags only). */
static void
imap_msg_fill(struct imap_session *s, struct imap_msg *m, uint32_t seq,
    const struct imap_view_msg *x, const struct mstore_msg *rec,
    const char **kw, const struct imap_msg_source *src)
{
	unsigned int	i, nkw = 0;
	uint32_t	keywords = rec != NULL ? rec->keywords : x->keywords;

	m->seq = seq;
	m->uid = x->uid;
	m->flags = rec != NULL ? rec->flags : x->flags;
	if (s->view.first_recent != 0 && x->uid >= s->view.first_recent)
		m->flags |= IMAP_FLAG_RECENT;
	for (i = 0; i < MSTORE_KEYWORDS_MAX && keywords != 0; i++)
		if ((keywords & (1u << i)) != 0 &&
		    (kw[nkw] = mstore_keyword_name(s->view.folder, i)) != NULL)
			nkw++;
	m->keywords = kw;
	m->nkeywords = nkw;
	if (rec != NULL) {
		m->size = rec->size;
		m->date = (time_t)rec->date;
		m->zone = imap_zone(m->date);
	}
	m->src = src;
}

/* ---- FETCH ------------------------------------------------------------- */

void
imap_fetch_job_free(struct imap_fetch_job **jp)
{
	struct imap_fetch_job *j = *jp;

	if (j == NULL)
		return;
	free(j->uids);
	free(j->seen);
	buf_free(&j->out);
	free(j);
	*jp = NULL;
}

static bool
imap_fetch_uid_seen(const struct imap_fetch_job *j, uint32_t uid)
{
	size_t	i = imap_uid_lower_bound(j->seen, j->nseen, uid);

	return i < j->nseen && j->seen[i] == uid;
}

/* Renders messages until done or the output is full; true when done. */
static bool
imap_fetch_step(struct imap_session *s)
{
	struct imap_fetch_job	*j = s->fetch;
	struct imap_view	*v = &s->view;
	struct mstore_snap	*snap = NULL;
	struct mstore_msg	 rec;
	struct imap_view_msg	 x;
	struct imap_msg		 m;
	enum imap_fetch_error	 kind;
	const char		*kw[MSTORE_KEYWORDS_MAX], *error;
	uint32_t		 seq;
	int			 r;

	if (j->index && mstore_snap_begin(v->folder, &snap, &error) == -1)
		goto fail;
	imap_msg_init(&m);
	/* One look at the output per message: it costs a length read. */
	while (j->next < j->n) {
		if (imap_conn_output_len(&s->conn) > IMAP_CONN_OUTPUT_HIGH)
			break;
		seq = imap_view_seq(v, j->uids[j->next]);
		if (seq == 0) {
			j->next++;
			continue;
		}
		imap_view_get(v, seq - 1, &x);
		if (snap != NULL) {
			r = mstore_snap_get(snap, j->uids[j->next], &rec,
			    &error);
			if (r == -1)
				goto fail;
			if (r == 0) {
				/* expunged meanwhile: what the view knows */
				memset(&rec, 0, sizeof(rec));
				rec.uid = x.uid;
				rec.flags = x.flags;
				rec.keywords = x.keywords;
			}
		}
		imap_msg_fill(s, &m, seq, &x, snap != NULL ? &rec : NULL, kw,
		    &j->src);
		j->opts.add_flags = j->nseen > 0 &&
		    imap_fetch_uid_seen(j, m.uid);
		buf_reset(j->out);
		if (imap_fetch_msg(j->out, &j->fetch, &m, &j->opts, &kind,
		    &error) == -1) {
			imap_msg_reset(&m);
			if (kind == IMAP_FETCH_E_UNKNOWN_CTE) {
				if (snap != NULL)
					mstore_snap_end(&snap);
				imap_reply_no(s, "[UNKNOWN-CTE] Unknown "
				    "Content-Transfer-Encoding.");
				return true;
			}
			goto fail;
		}
		imap_msg_reset(&m);
		imap_conn_write(&s->conn, j->out->data, j->out->len);
		j->next++;
	}
	if (snap != NULL)
		mstore_snap_end(&snap);
	if (j->next < j->n)
		return false;
	imap_reply_ok(s, "Fetch completed.");
	return true;
fail:
	if (snap != NULL)
		mstore_snap_end(&snap);
	log_error("user=<%s>: FETCH %s: %s", log_safe(s->user),
	    log_safe(v->name), error);
	imap_reply_store_error(s, MSTORE_E_INTERNAL, "FETCH");
	return true;
}

static void
imap_fetch_run(struct imap_session *s)
{
	if (imap_fetch_step(s)) {
		imap_fetch_job_free(&s->fetch);
		imap_conn_resume(&s->conn);
		return;
	}
	imap_conn_pause(&s->conn);
}

void
imap_fetch_drained(struct imap_session *s)
{
	imap_fetch_run(s);
}

void
imap_cmd_fetch(struct imap_session *s)
{
	struct imap_view	*v = &s->view;
	struct imap_fetch_job	*j;
	const char		*error;
	size_t			 i;

	j = xcalloc(1, sizeof(*j));
	if (imap_parse_fetch(&s->cmd, &s->conn.lim, &j->fetch,
	    &error) == -1) {
		free(j);
		imap_reply_bad(s, "%s", error);
		return;
	}
	if ((j->uids = imap_set_uids(s, &j->fetch.set, s->cmd.uid,
	    &j->n)) == NULL) {
		free(j);
		return;
	}
	j->content = imap_fetch_needs_content(&j->fetch);
	j->index = j->content || (j->fetch.items &
	    ((1u << IMAP_FETCH_RFC822_SIZE) |
	    (1u << IMAP_FETCH_INTERNALDATE))) != 0;
	/*
	 * Sizes and dates the index does not know yet, one pass first, only
	 * when asked for (a size without ",W=" costs a read of the file).
	 */
	if ((j->fetch.items & ((1u << IMAP_FETCH_RFC822_SIZE) |
	    (1u << IMAP_FETCH_INTERNALDATE))) != 0 && j->n > 0 &&
	    mstore_msg_stat(v->folder, j->uids, j->n, &error) == -1)
		log_error("user=<%s>: FETCH: %s", log_safe(s->user), error);
	/* \Seen before the content goes out (RFC 9051 6.4.5). */
	if (!v->readonly && j->n > 0 && imap_fetch_sets_seen(&j->fetch)) {
		j->seen = xreallocarray(NULL, j->n, sizeof(*j->seen));
		for (i = 0; i < j->n; i++) {
			uint32_t seq = imap_view_seq(v, j->uids[i]);

			if (seq != 0 && (v->flags[seq - 1] &
			    MSTORE_F_SEEN) == 0) {
				j->seen[j->nseen++] = j->uids[i];
				v->flags[seq - 1] |= MSTORE_F_SEEN;
			}
		}
		if (j->nseen > 0 && mstore_store(v->folder, j->seen, j->nseen,
		    MSTORE_STORE_ADD, MSTORE_F_SEEN, 0, NULL, &error) == -1)
			log_error("user=<%s>: FETCH: setting \\Seen: %s",
			    log_safe(s->user), error);
	}
	imap_src_init(s, &j->src);
	j->opts.utf8 = imap_session_utf8(s);
	j->opts.imap4rev2 = (s->enabled & IMAP_ENABLE_IMAP4REV2) != 0;
	j->opts.show_recent = !j->opts.imap4rev2;
	j->out = buf_new(4096, j->src.max_message + 65536);
	s->fetch = j;
	imap_fetch_run(s);
}

/* ---- SEARCH ------------------------------------------------------------- */

/*
 * Whether a SEARCH program reads sizes or internal dates (SENT* falls back
 * to the internal date): only then are unknown ones filled in first.
 * Nesting is bounded by imapd_max_search_keys' depth limit.
 */
static bool
imap_search_needs_stat(const struct imap_search_node *n)
{
	for (; n != NULL; n = n->next) {
		switch (n->key) {
		case IMAP_SEARCH_LARGER:
		case IMAP_SEARCH_SMALLER:
		case IMAP_SEARCH_BEFORE:
		case IMAP_SEARCH_ON:
		case IMAP_SEARCH_SINCE:
		case IMAP_SEARCH_SENTBEFORE:
		case IMAP_SEARCH_SENTON:
		case IMAP_SEARCH_SENTSINCE:
			return true;
		default:
			if (n->child != NULL && imap_search_needs_stat(n->child))
				return true;
		}
	}
	return false;
}

/* The result of SEARCH ... RETURN (SAVE): "$" for later commands. */
static void
imap_search_save(struct imap_session *s, const uint32_t *uids, size_t n)
{
	struct imap_view	*v = &s->view;
	struct imap_seq_range	*ranges;
	size_t			 i, k = 0;

	free(v->saved_ranges);
	v->saved_ranges = NULL;
	memset(&v->saved, 0, sizeof(v->saved));
	ranges = xreallocarray(NULL, n > 0 ? n : 1, sizeof(*ranges));
	for (i = 0; i < n; i++) {
		if (k > 0 && ranges[k - 1].hi + 1 == uids[i])
			ranges[k - 1].hi = uids[i];
		else {
			ranges[k].lo = ranges[k].hi = uids[i];
			k++;
		}
	}
	v->saved_ranges = ranges;
	v->saved.ranges = ranges;
	v->saved.nranges = (unsigned int)k;
	v->saved.normalized = true;
}

void
imap_cmd_search(struct imap_session *s)
{
	struct imap_view	*v = &s->view;
	struct imap_search	 search;
	struct imap_search_ctx	 ctx;
	struct imap_msg_source	 src;
	struct mstore_snap	*snap = NULL;
	struct mstore_msg	 rec;
	struct imap_view_msg	 x;
	struct imap_msg		 m;
	enum imap_parse_err	 kind;
	const char		*kw[MSTORE_KEYWORDS_MAX], *error;
	uint32_t		*found, *found_uids, i;
	size_t			 n = 0;
	int			 r;

	if (imap_parse_search(&s->cmd, &s->conn.lim, &search, &kind,
	    &error) == -1) {
		if (kind == IMAP_PARSE_E_BADCHARSET)
			imap_reply_no(s, "[BADCHARSET (UTF-8)] Unsupported "
			    "charset.");
		else
			imap_reply_bad(s, "%s", error);
		return;
	}
	imap_search_ctx_init(&ctx);
	ctx.count = v->count;
	ctx.max_uid = v->count > 0 ? v->uids[v->count - 1] : 0;
	ctx.saved = v->saved.ranges != NULL ? &v->saved : NULL;
	imap_search_prepare(&search, &ctx);
	imap_src_init(s, &src);
	found = xreallocarray(NULL, v->count > 0 ? v->count : 1,
	    sizeof(*found));
	found_uids = xreallocarray(NULL, v->count > 0 ? v->count : 1,
	    sizeof(*found_uids));
	if (v->count > 0 && imap_search_needs_stat(search.root)) {
		uint32_t *all = xreallocarray(NULL, v->count, sizeof(*all));

		memcpy(all, v->uids, v->count * sizeof(*all));
		if (mstore_msg_stat(v->folder, all, v->count, &error) == -1)
			log_error("user=<%s>: SEARCH: %s", log_safe(s->user),
			    error);
		free(all);
	}
	if (mstore_snap_begin(v->folder, &snap, &error) == -1)
		goto fail;
	imap_msg_init(&m);
	for (i = 0; i < v->count; i++) {
		r = mstore_snap_get(snap, v->uids[i], &rec, &error);
		if (r == -1)
			goto fail;
		imap_view_get(v, i, &x);
		imap_msg_fill(s, &m, i + 1, &x, r == 1 ? &rec : NULL, kw,
		    &src);
		r = imap_search_match(&search, &m, &ctx, &error);
		imap_msg_reset(&m);
		if (r == -1)
			goto fail;
		if (r == 1) {
			found[n] = s->cmd.uid ? v->uids[i] : i + 1;
			found_uids[n] = v->uids[i];
			n++;
		}
	}
	mstore_snap_end(&snap);
	if (search.esearch && (search.ret & IMAP_SEARCH_RET_SAVE) != 0)
		imap_search_save(s, found_uids, n);
	buf_reset(s->out);
	if (imap_search_reply(s->out, s->tag, search.esearch ||
	    (s->enabled & IMAP_ENABLE_IMAP4REV2) != 0, search.ret,
	    s->cmd.uid, found, n) == -1) {
		/* too many for the scratch buffer: a bigger one */
		struct buf *big = buf_new(0, (size_t)n * 12 + 256);

		if (imap_search_reply(big, s->tag, search.esearch ||
		    (s->enabled & IMAP_ENABLE_IMAP4REV2) != 0, search.ret,
		    s->cmd.uid, found, n) == 0)
			imap_conn_write(&s->conn, big->data, big->len);
		buf_free(&big);
	} else
		imap_conn_write(&s->conn, s->out->data, s->out->len);
	free(found);
	free(found_uids);
	imap_search_ctx_deinit(&ctx);
	imap_reply_ok(s, "Search completed.");
	return;
fail:
	if (snap != NULL)
		mstore_snap_end(&snap);
	free(found);
	free(found_uids);
	imap_search_ctx_deinit(&ctx);
	log_error("user=<%s>: SEARCH %s: %s", log_safe(s->user),
	    log_safe(v->name), error);
	imap_reply_store_error(s, MSTORE_E_INTERNAL, "SEARCH");
}
