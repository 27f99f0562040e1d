/* SPDX-License-Identifier: ISC */
/*
 * The selected state (imap_session.h): SELECT and EXAMINE, the session's
 * view of the mailbox (sequence numbers and the flags it has reported)
 * and the untagged updates that keep it in step with other sessions and
 * deliveries (EXISTS, RECENT, EXPUNGE, FETCH FLAGS), STORE, EXPUNGE and
 * UID EXPUNGE, COPY and MOVE with UIDPLUS, CLOSE, UNSELECT and IDLE.
 */
#include "config.h"

#include <sys/types.h>

#include <stdlib.h>
#include <string.h>

#include "common/conf.h"
#include "common/log.h"
#include "common/mstore.h"
#include "common/service.h"
#include "common/xmalloc.h"
#include "imap_session.h"
#include "common/banned.h"

static const char *const imap_flag_names[] = {
	"\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft",
};

/* "(\Seen kw ...)" into b. */
static int
imap_flags_out(struct imap_session *s, struct buf *b, uint8_t flags,
    uint32_t keywords, bool recent)
{
	const char	*sp = "";
	unsigned int	 i;
	int		 r = 0;

	r |= buf_append_byte(b, '(');
	for (i = 0; i < N_ELEMENTS(imap_flag_names); i++) {
		if ((flags & (1u << i)) == 0)
			continue;
		r |= buf_printf(b, "%s%s", sp, imap_flag_names[i]);
		sp = " ";
	}
	if (recent) {
		r |= buf_printf(b, "%s\\Recent", sp);
		sp = " ";
	}
	for (i = 0; i < MSTORE_KEYWORDS_MAX; i++) {
		const char *kw;

		if ((keywords & (1u << i)) == 0 ||
		    (kw = mstore_keyword_name(s->view.folder, i)) == NULL)
			continue;
		r |= buf_printf(b, "%s%s", sp, kw);
		sp = " ";
	}
	r |= buf_append_byte(b, ')');
	return r;
}

static bool
imap_view_recent(const struct imap_session *s, uint32_t uid)
{
	return s->view.first_recent != 0 && uid >= s->view.first_recent &&
	    (s->enabled & IMAP_ENABLE_IMAP4REV2) == 0;
}

/* * FLAGS and * OK [PERMANENTFLAGS] for the folder's keywords. */
static void
imap_view_flags(struct imap_session *s)
{
	struct buf	*b = s->out;
	unsigned int	 i, n = mstore_keyword_count(s->view.folder);
	int		 r = 0;

	buf_reset(b);
	r |= buf_append_str(b, "* FLAGS (\\Answered \\Flagged \\Deleted "
	    "\\Seen \\Draft");
	for (i = 0; i < n; i++)
		if (mstore_keyword_name(s->view.folder, i) != NULL)
			r |= buf_printf(b, " %s",
			    mstore_keyword_name(s->view.folder, i));
	r |= buf_append_str(b, ")\r\n");
	if (s->view.readonly)
		r |= buf_append_str(b, "* OK [PERMANENTFLAGS ()] Read-only "
		    "mailbox.\r\n");
	else {
		r |= buf_append_str(b, "* OK [PERMANENTFLAGS (\\Answered "
		    "\\Flagged \\Deleted \\Seen \\Draft");
		for (i = 0; i < n; i++)
			if (mstore_keyword_name(s->view.folder, i) != NULL)
				r |= buf_printf(b, " %s",
				    mstore_keyword_name(s->view.folder, i));
		r |= buf_printf(b, "%s)] Flags permitted.\r\n",
		    n < MSTORE_KEYWORDS_MAX ? " \\*" : "");
	}
	if (r == 0)
		imap_conn_write(&s->conn, b->data, b->len);
	s->view.nkeywords = n;
}

void
imap_view_get(const struct imap_view *v, uint32_t i, struct imap_view_msg *m_r)
{
	m_r->uid = v->uids[i];
	m_r->flags = v->flags[i];
	m_r->keywords = v->keywords != NULL ? v->keywords[i] : 0;
}

void
imap_view_set(struct imap_view *v, uint32_t i, const struct imap_view_msg *m)
{
	v->uids[i] = m->uid;
	v->flags[i] = m->flags;
	if (v->keywords == NULL && m->keywords != 0)
		v->keywords = xcalloc(v->alloc, sizeof(*v->keywords));
	if (v->keywords != NULL)
		v->keywords[i] = m->keywords;
}

static void
imap_view_grow(struct imap_view *v, uint32_t alloc)
{
	v->uids = xreallocarray(v->uids, alloc, sizeof(*v->uids));
	v->flags = xreallocarray(v->flags, alloc, sizeof(*v->flags));
	if (v->keywords != NULL) {
		v->keywords = xreallocarray(v->keywords, alloc,
		    sizeof(*v->keywords));
		memset(v->keywords + v->alloc, 0,
		    (alloc - v->alloc) * sizeof(*v->keywords));
	}
	v->alloc = alloc;
}

static void
imap_view_push(struct imap_view *v, const struct mstore_msg *m)
{
	struct imap_view_msg	x = { m->uid, m->flags, m->keywords };

	if (v->count == v->alloc)
		imap_view_grow(v, v->alloc == 0 ? 64 : v->alloc * 2);
	imap_view_set(v, v->count++, &x);
}

static void
imap_view_watch_cb(void *ctx)
{
	struct imap_session *s = ctx;

	if (s->idling && s->state == IMAP_STATE_SELECTED)
		imap_view_update(s, true);
}

void
imap_view_close(struct imap_session *s)
{
	struct imap_view *v = &s->view;

	mstore_watch_free(&v->watch);
	mstore_folder_close(&v->folder);
	free(v->name);
	free(v->uids);
	free(v->flags);
	free(v->keywords);
	free(v->saved_ranges);
	memset(v, 0, sizeof(*v));
}

/* Reports one message's flags as they are now. */
static void
imap_view_fetch_flags(struct imap_session *s, uint32_t seq,
    const struct imap_view_msg *m)
{
	struct buf	*b = s->out;
	int		 r = 0;

	buf_reset(b);
	r |= buf_printf(b, "* %u FETCH (UID %u FLAGS ", seq, m->uid);
	r |= imap_flags_out(s, b, m->flags, m->keywords,
	    imap_view_recent(s, m->uid));
	r |= buf_append_str(b, ")\r\n");
	if (r == 0)
		imap_conn_write(&s->conn, b->data, b->len);
}

void
imap_view_update(struct imap_session *s, bool expunges)
{
	struct imap_view	*v = &s->view;
	struct mstore_snap	*snap;
	struct mstore_msg	 m;
	const char		*error;
	uint32_t		 i, j, old_count, removed = 0, held = 0;
	int			 r;

	if (s->state != IMAP_STATE_SELECTED)
		return;
	if (mstore_folder_sync(v->folder, &error) == -1) {
		log_error("user=<%s>: %s: %s", log_safe(s->user),
		    log_safe(v->name), error);
		return;
	}
	if (mstore_keyword_count(v->folder) != v->nkeywords)
		imap_view_flags(s);
	if (mstore_folder_modseq(v->folder) == v->modseq &&
	    mstore_folder_uidnext(v->folder) == v->uidnext)
		return;
	if (mstore_snap_begin(v->folder, &snap, &error) == -1) {
		log_error("user=<%s>: %s: %s", log_safe(s->user),
		    log_safe(v->name), error);
		return;
	}
	old_count = v->count;
	/* Merge the view (ascending UIDs) with the index. */
	r = mstore_snap_next(snap, 1, &m, &error);
	for (i = 0, j = 0; i < old_count; i++) {
		struct imap_view_msg x;

		imap_view_get(v, i, &x);
		while (r == 1 && m.uid < x.uid)
			r = mstore_snap_next(snap, m.uid + 1, &m, &error);
		if (r != 1 || m.uid != x.uid) {
			/* gone */
			if (expunges) {
				imap_conn_printf(&s->conn, "* %u EXPUNGE\r\n",
				    i + 1 - removed);
				removed++;
				continue;
			}
			held++;
			imap_view_set(v, j++, &x);
			continue;
		}
		if (m.flags != x.flags || m.keywords != x.keywords) {
			x.flags = m.flags;
			x.keywords = m.keywords;
			imap_view_fetch_flags(s, j + 1, &x);
		}
		imap_view_set(v, j++, &x);
		r = mstore_snap_next(snap, m.uid + 1, &m, &error);
	}
	v->count = j;
	/* What is left in the index is new. */
	old_count = v->count;
	while (r == 1) {
		if (v->count == 0 || m.uid > v->uids[v->count - 1]) {
			imap_view_push(v, &m);
		}
		r = mstore_snap_next(snap, m.uid + 1, &m, &error);
	}
	if (r == -1)
		log_error("user=<%s>: %s: %s", log_safe(s->user),
		    log_safe(v->name), error);
	mstore_snap_end(&snap);
	/* EXPUNGE alone says the count went down; EXISTS is for growth. */
	if (v->count != old_count) {
		imap_conn_printf(&s->conn, "* %u EXISTS\r\n", v->count);
		if ((s->enabled & IMAP_ENABLE_IMAP4REV2) == 0 &&
		    v->count != old_count) {
			uint32_t total = 0;

			for (i = 0; i < v->count; i++)
				if (imap_view_recent(s, v->uids[i]))
					total++;
			imap_conn_printf(&s->conn, "* %u RECENT\r\n", total);
		}
	}
	v->uidnext = mstore_folder_uidnext(v->folder);
	/* Held-back expunges keep the view behind the index. */
	if (held == 0)
		v->modseq = mstore_folder_modseq(v->folder);
}

/* ---- SELECT, EXAMINE, CLOSE, UNSELECT ----------------------------------- */

void
imap_cmd_select(struct imap_session *s, bool readonly)
{
	struct imap_view	*v = &s->view;
	struct imap_str		 in;
	struct buf		 name;
	struct mstore_snap	*snap;
	struct mstore_msg	 m;
	enum mstore_err		 code;
	const char		*error;
	uint32_t		 i, unseen = 0, recent = 0;
	int			 r;

	if (imap_parse_select(&s->cmd, &in, &error) == -1) {
		imap_reply_bad(s, "%s", error);
		return;
	}
	if (s->state == IMAP_STATE_SELECTED) {
		imap_view_close(s);
		s->state = IMAP_STATE_AUTH;
		imap_conn_printf(&s->conn, "* OK [CLOSED] Previous mailbox "
		    "closed.\r\n");
	}
	buf_init(&name, 64, MBOX_NAME_MAX + 1);
	if (imap_session_mailbox(s, &in, &name) == -1) {
		buf_deinit(&name);
		return;
	}
	v->folder = mstore_folder_open(s->store, name.data, &code, &error);
	if (v->folder == NULL) {
		if (code == MSTORE_E_INTERNAL)
			log_error("user=<%s>: SELECT %s: %s", log_safe(s->user),
			    log_safe(name.data), error);
		imap_reply_store_error(s, code, readonly ? "EXAMINE" :
		    "SELECT");
		buf_deinit(&name);
		return;
	}
	v->name = buf_steal(&name);
	buf_deinit(&name);
	v->readonly = readonly;
	if (mstore_folder_recent(v->folder, !readonly, &v->first_recent,
	    &error) == -1) {
		log_error("user=<%s>: %s: %s", log_safe(s->user),
		    log_safe(v->name), error);
		v->first_recent = 0;
	}
	if (mstore_snap_begin(v->folder, &snap, &error) == -1)
		goto fail;
	v->modseq = mstore_folder_modseq(v->folder);
	v->uidnext = mstore_folder_uidnext(v->folder);
	v->uidvalidity = mstore_folder_uidvalidity(v->folder);
	if (mstore_snap_count(snap) > 0)
		imap_view_grow(v, mstore_snap_count(snap));
	while ((r = mstore_snap_next(snap, v->count == 0 ? 1 :
	    v->uids[v->count - 1] + 1, &m, &error)) == 1) {
		imap_view_push(v, &m);
		if (unseen == 0 && (m.flags & MSTORE_F_SEEN) == 0)
			unseen = v->count;
	}
	mstore_snap_end(&snap);
	if (r == -1)
		goto fail;
	s->state = IMAP_STATE_SELECTED;
	imap_view_flags(s);
	imap_conn_printf(&s->conn, "* %u EXISTS\r\n", v->count);
	if ((s->enabled & IMAP_ENABLE_IMAP4REV2) == 0) {
		for (i = 0; i < v->count; i++)
			if (imap_view_recent(s, v->uids[i]))
				recent++;
		imap_conn_printf(&s->conn, "* %u RECENT\r\n", recent);
		if (unseen > 0)
			imap_conn_printf(&s->conn, "* OK [UNSEEN %u] First "
			    "unseen.\r\n", unseen);
	}
	imap_conn_printf(&s->conn, "* OK [UIDVALIDITY %u] UIDs valid\r\n"
	    "* OK [UIDNEXT %u] Predicted next UID\r\n", v->uidvalidity,
	    v->uidnext);
	v->watch = mstore_watch_new(s->conn.base, v->folder,
	    imap_view_watch_cb, s, &error);
	if (v->watch == NULL)
		log_warning("user=<%s>: %s: no change notification: %s",
		    log_safe(s->user), log_safe(v->name), error);
	imap_conn_tagged(&s->conn, s->tag, "OK", "[%s] %s completed.",
	    readonly ? "READ-ONLY" : "READ-WRITE", readonly ? "Examine" :
	    "Select");
	return;
fail:
	log_error("user=<%s>: SELECT %s: %s", log_safe(s->user),
	    log_safe(v->name), error);
	imap_view_close(s);
	imap_reply_store_error(s, MSTORE_E_INTERNAL, "SELECT");
}

/* UIDs of the messages marked \Deleted now, within set (NULL: all). */
static uint32_t *
imap_deleted_uids(struct imap_session *s, const struct imap_seqset *uidset,
    size_t *n_r, const char **error_r)
{
	struct mstore_snap	*snap;
	struct mstore_msg	 m;
	uint32_t		*uids = NULL, from = 1;
	size_t			 n = 0;
	int			 r;

	*n_r = 0;
	if (mstore_snap_begin(s->view.folder, &snap, error_r) == -1)
		return NULL;
	while ((r = mstore_snap_next(snap, from, &m, error_r)) == 1) {
		from = m.uid + 1;
		if ((m.flags & MSTORE_F_DELETED) == 0 || (uidset != NULL &&
		    !imap_parse_seqset_contains(uidset, m.uid)))
			continue;
		if (n % 1024 == 0)
			uids = xreallocarray(uids, n + 1024, sizeof(*uids));
		uids[n++] = m.uid;
		if (from == 0)
			break;
	}
	mstore_snap_end(&snap);
	if (r == -1) {
		free(uids);
		return NULL;
	}
	*n_r = n;
	if (uids == NULL)
		uids = xcalloc(1, sizeof(*uids));
	return uids;
}

/* Removes the \Deleted messages (within uidset); 0 or -1 (logged). */
static int
imap_expunge_deleted(struct imap_session *s, const struct imap_seqset *uidset)
{
	uint32_t	*uids;
	size_t		 n;
	const char	*error;
	int		 rc = 0;

	if (mstore_folder_sync(s->view.folder, &error) == -1 ||
	    (uids = imap_deleted_uids(s, uidset, &n, &error)) == NULL) {
		log_error("user=<%s>: EXPUNGE %s: %s", log_safe(s->user),
		    log_safe(s->view.name), error);
		return -1;
	}
	if (n > 0 && mstore_expunge(s->view.folder, uids, n, &error) == -1) {
		log_error("user=<%s>: EXPUNGE %s: %s", log_safe(s->user),
		    log_safe(s->view.name), error);
		rc = -1;
	}
	free(uids);
	return rc;
}

void
imap_cmd_close(struct imap_session *s, bool expunge)
{
	const char	*error;

	if (imap_parse_noargs(&s->cmd, &error) == -1) {
		imap_reply_bad(s, "%s", error);
		return;
	}
	if (expunge && !s->view.readonly)
		(void)imap_expunge_deleted(s, NULL);
	imap_view_close(s);
	s->state = IMAP_STATE_AUTH;
	imap_conn_tagged(&s->conn, s->tag, "OK", "%s completed.", expunge ?
	    "Close" : "Unselect");
}

void
imap_cmd_expunge(struct imap_session *s)
{
	struct imap_seqset	 set;
	const char		*error;

	if (s->cmd.uid) {
		if (imap_parse_uid_expunge(&s->cmd, &s->conn.lim, &set,
		    &error) == -1) {
			imap_reply_bad(s, "%s", error);
			return;
		}
		if (set.dollar) {
			set = s->view.saved;
			if (set.ranges == NULL)
				set.nranges = 0;
		} else
			(void)imap_parse_seqset_normalize(&set,
			    s->view.uidnext > 0 ? s->view.uidnext - 1 : 0);
	} else if (imap_parse_noargs(&s->cmd, &error) == -1) {
		imap_reply_bad(s, "%s", error);
		return;
	}
	if (s->view.readonly) {
		imap_reply_no(s, "[READ-ONLY] Mailbox is read-only.");
		return;
	}
	if (imap_expunge_deleted(s, s->cmd.uid ? &set : NULL) == -1) {
		imap_reply_store_error(s, MSTORE_E_INTERNAL, "EXPUNGE");
		return;
	}
	imap_reply_ok(s, "Expunge completed.");
}

/* ---- sequence sets ------------------------------------------------------- */

uint32_t *
imap_set_uids(struct imap_session *s, struct imap_seqset *set, bool uid,
    size_t *n_r)
{
	struct imap_view	*v = &s->view;
	struct imap_seqset_iter	 it;
	uint32_t		*uids, n32;
	size_t			 n = 0, cap, i;
	unsigned int		 r;
	uint64_t		 count;

	*n_r = 0;
	if (set->dollar) {
		*set = v->saved;
		if (set->ranges == NULL)
			set->nranges = 0;
		uid = true;
	} else if (uid)
		(void)imap_parse_seqset_normalize(set, v->count > 0 ?
		    v->uids[v->count - 1] : 0);
	else if (imap_parse_seqset_normalize(set, v->count) &&
	    v->count > 0) {
		/* In an empty mailbox "1:*" names nothing, as in Cyrus. */
		imap_reply_bad(s, "Invalid messageset.");
		return NULL;
	}
	if (!uid) {
		count = imap_parse_seqset_count(set);
		uids = xreallocarray(NULL, count > 0 ? count : 1,
		    sizeof(*uids));
		imap_parse_seqset_iter_init(&it, set);
		while (imap_parse_seqset_iter_next(&it, &n32))
			if (n32 >= 1 && n32 <= v->count)
				uids[n++] = v->uids[n32 - 1];
		*n_r = n;
		return uids;
	}
	/* UIDs: each range's messages of the view (ranges are disjoint). */
	cap = v->count > 0 ? v->count : 1;
	uids = xreallocarray(NULL, cap, sizeof(*uids));
	for (r = 0; r < set->nranges; r++)
		for (i = imap_uid_lower_bound(v->uids, v->count,
		    set->ranges[r].lo); i < v->count &&
		    v->uids[i] <= set->ranges[r].hi; i++)
			uids[n++] = v->uids[i];
	*n_r = n;
	return uids;
}

size_t
imap_uid_lower_bound(const uint32_t *a, size_t n, uint32_t uid)
{
	size_t	lo = 0, hi = n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (a[mid] < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

uint32_t
imap_view_seq(const struct imap_view *v, uint32_t uid)
{
	size_t	i = imap_uid_lower_bound(v->uids, v->count, uid);

	return i < v->count && v->uids[i] == uid ? (uint32_t)i + 1 : 0;
}

/* A set of UIDs in the compact form of UIDPLUS ("1:3,7"). */
static int
imap_uidset_out(struct buf *b, const uint32_t *uids, size_t n)
{
	size_t	i = 0, j;
	int	r = 0;

	while (i < n) {
		j = i;
		while (j + 1 < n && uids[j + 1] == uids[j] + 1)
			j++;
		if (i > 0)
			r |= buf_append_byte(b, ',');
		if (j == i)
			r |= buf_printf(b, "%u", uids[i]);
		else
			r |= buf_printf(b, "%u:%u", uids[i], uids[j]);
		i = j + 1;
	}
	return r;
}

/* ---- STORE --------------------------------------------------------------- */

void
imap_cmd_store(struct imap_session *s)
{
	struct imap_view	*v = &s->view;
	struct imap_store	 st;
	struct mstore_snap	*snap;
	struct mstore_msg	 m;
	enum mstore_err		 code;
	const char		*error;
	uint32_t		*uids, keywords = 0, seq;
	size_t			 n, i;
	int			 idx;

	if (imap_parse_store(&s->cmd, &s->conn.lim, &st, &error) == -1) {
		imap_reply_bad(s, "%s", error);
		return;
	}
	if (v->readonly) {
		imap_reply_no(s, "[READ-ONLY] Mailbox is read-only.");
		return;
	}
	if ((uids = imap_set_uids(s, &st.set, s->cmd.uid, &n)) == NULL)
		return;
	for (i = 0; i < st.flags.nkeywords; i++) {
		idx = mstore_keyword_index(v->folder, st.flags.keywords[i].data,
		    st.mode != IMAP_STORE_REMOVE, &code, &error);
		if (idx >= 0)
			keywords |= 1u << idx;
		else if (code == MSTORE_E_LIMIT) {
			free(uids);
			imap_reply_no(s, "[LIMIT] Too many keywords in this "
			    "mailbox.");
			return;
		} else if (code != MSTORE_E_NONEXISTENT) {
			free(uids);
			log_error("user=<%s>: STORE: %s", log_safe(s->user),
			    error);
			imap_reply_store_error(s, MSTORE_E_INTERNAL, "STORE");
			return;
		}
	}
	if (mstore_keyword_count(v->folder) != v->nkeywords)
		imap_view_flags(s);
	if (n > 0 && mstore_store(v->folder, uids, n,
	    (enum mstore_store_mode)st.mode, (uint8_t)(st.flags.system &
	    MSTORE_F_ALL), keywords, NULL, &error) == -1) {
		free(uids);
		log_error("user=<%s>: STORE: %s", log_safe(s->user), error);
		imap_reply_store_error(s, MSTORE_E_INTERNAL, "STORE");
		return;
	}
	/* Report (unless .SILENT) and remember the flags now stored. */
	if (n > 0 && mstore_snap_begin(v->folder, &snap, &error) == 0) {
		for (i = 0; i < n; i++) {
			struct imap_view_msg x;

			if (mstore_snap_get(snap, uids[i], &m, &error) != 1 ||
			    (seq = imap_view_seq(v, uids[i])) == 0)
				continue;
			x.uid = uids[i];
			x.flags = m.flags;
			x.keywords = m.keywords;
			imap_view_set(v, seq - 1, &x);
			if (!st.silent)
				imap_view_fetch_flags(s, seq, &x);
		}
		mstore_snap_end(&snap);
	}
	free(uids);
	imap_reply_ok(s, "Store completed.");
}

/* ---- COPY and MOVE ----------------------------------------------------- */

void
imap_cmd_copy(struct imap_session *s, bool move)
{
	struct imap_view	*v = &s->view;
	struct imap_seqset	 set;
	struct imap_str		 in;
	struct buf		 name, *b = s->out;
	struct mstore_folder	*dst;
	enum mstore_err		 code;
	const char		*error;
	uint32_t		*uids, *src_uids, *dst_uids;
	size_t			 n, done = 0;
	int			 r = 0;

	if (imap_parse_copy(&s->cmd, &s->conn.lim, &set, &in, &error) == -1) {
		imap_reply_bad(s, "%s", error);
		return;
	}
	if (move && v->readonly) {
		imap_reply_no(s, "[READ-ONLY] Mailbox is read-only.");
		return;
	}
	if ((uids = imap_set_uids(s, &set, s->cmd.uid, &n)) == NULL)
		return;
	buf_init(&name, 64, MBOX_NAME_MAX + 1);
	if (imap_session_mailbox(s, &in, &name) == -1) {
		buf_deinit(&name);
		free(uids);
		return;
	}
	dst = mstore_folder_open(s->store, name.data, &code, &error);
	buf_deinit(&name);
	if (dst == NULL) {
		free(uids);
		if (code == MSTORE_E_NONEXISTENT)
			imap_reply_no(s, "[TRYCREATE] Mailbox doesn't exist.");
		else {
			if (code == MSTORE_E_INTERNAL)
				log_error("user=<%s>: COPY: %s",
				    log_safe(s->user), error);
			imap_reply_store_error(s, code, move ? "MOVE" :
			    "COPY");
		}
		return;
	}
	src_uids = xreallocarray(NULL, n > 0 ? n : 1, sizeof(*src_uids));
	dst_uids = xreallocarray(NULL, n > 0 ? n : 1, sizeof(*dst_uids));
	if (n > 0 && mstore_copy(v->folder, uids, n, dst, src_uids, dst_uids,
	    &done, &code, &error) == -1) {
		if (code == MSTORE_E_INTERNAL)
			log_error("user=<%s>: %s: %s", log_safe(s->user),
			    move ? "MOVE" : "COPY", error);
		imap_reply_store_error(s, code, move ? "MOVE" : "COPY");
		goto out;
	}
	buf_reset(b);
	if (done > 0) {
		r |= buf_printf(b, "COPYUID %u ",
		    mstore_folder_uidvalidity(dst));
		r |= imap_uidset_out(b, src_uids, done);
		r |= buf_append_byte(b, ' ');
		r |= imap_uidset_out(b, dst_uids, done);
	}
	if (move) {
		if (done > 0 && mstore_expunge(v->folder, src_uids, done,
		    &error) == -1) {
			log_error("user=<%s>: MOVE: %s", log_safe(s->user),
			    error);
			imap_reply_store_error(s, MSTORE_E_INTERNAL, "MOVE");
			goto out;
		}
		if (done > 0 && r == 0)
			imap_conn_printf(&s->conn, "* OK [%s] Moved\r\n",
			    buf_cstr(b));
		imap_reply_ok(s, "Move completed.");
	} else if (done > 0 && r == 0)
		imap_reply_ok(s, "[%s] Copy completed.", buf_cstr(b));
	else
		imap_reply_ok(s, "Copy completed.");
out:
	mstore_folder_close(&dst);
	free(uids);
	free(src_uids);
	free(dst_uids);
}

/* ---- IDLE ---------------------------------------------------------------- */

void
imap_cmd_idle(struct imap_session *s)
{
	const char	*error;

	if (imap_parse_noargs(&s->cmd, &error) == -1) {
		imap_reply_bad(s, "%s", error);
		return;
	}
	imap_conn_printf(&s->conn, "+ idling\r\n");
	s->idling = true;
	imap_conn_set_line_mode(&s->conn, true);
	imap_view_update(s, true);
}

void
imap_idle_line(struct imap_session *s, const char *data, size_t len)
{
	s->idling = false;
	imap_conn_set_line_mode(&s->conn, false);
	if (!imap_parse_done(data, len)) {
		imap_reply_bad(s, "Expected DONE.");
		return;
	}
	imap_reply_ok(s, "Idle completed.");
}
