/* SPDX-License-Identifier: ISC */
/*
 * A logged-in IMAP session (imap_session.h): its start after a handover,
 * the dispatch of commands by state, and the commands that work on
 * mailboxes as a whole: CAPABILITY, NOOP, LOGOUT, ID, ENABLE, NAMESPACE,
 * CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE, LIST, LSUB and STATUS.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/bufferevent.h>
#include <event2/event.h>

#include "common/conf.h"
#include "common/error.h"
#include "common/imap_str.h"
#include "common/log.h"
#include "common/mbox_name.h"
#include "common/mstore.h"
#include "common/service.h"
#include "common/str.h"
#include "common/xmalloc.h"
#include "delivery-agent/maildir.h"
#include "imap_session.h"
#include "imapd.h"
#include "common/banned.h"

/* Largest response line built in the scratch buffer (LIST, STATUS ...). */
#define IMAP_OUT_MAX	(1024 * 1024)

static void	imap_session_command(void *ctx, const char *data, size_t len);

bool
imap_session_utf8(const struct imap_session *s)
{
	return (s->enabled & (IMAP_ENABLE_UTF8_ACCEPT |
	    IMAP_ENABLE_IMAP4REV2)) != 0;
}

/* ---- replies ------------------------------------------------------------- */

static void
imap_reply_v(struct imap_session *s, const char *status, const char *fmt,
    va_list ap)
{
	char	text[1024];

	(void)vsnprintf(text, sizeof(text), fmt, ap);
	imap_conn_tagged(&s->conn, s->tag, status, "%s", text);
}

void
imap_reply_ok(struct imap_session *s, const char *fmt, ...)
{
	va_list	ap;

	if (s->state == IMAP_STATE_SELECTED)
		imap_view_update(s, s->cmd.uid ||
		    (strcmp(s->cmd.name, "FETCH") != 0 &&
		    strcmp(s->cmd.name, "STORE") != 0 &&
		    strcmp(s->cmd.name, "SEARCH") != 0 &&
		    strcmp(s->cmd.name, "COPY") != 0));
	va_start(ap, fmt);
	imap_reply_v(s, "OK", fmt, ap);
	va_end(ap);
}

void
imap_reply_no(struct imap_session *s, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	imap_reply_v(s, "NO", fmt, ap);
	va_end(ap);
}

void
imap_reply_bad(struct imap_session *s, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	imap_reply_v(s, "BAD", fmt, ap);
	va_end(ap);
	(void)imap_conn_count_bad(&s->conn);
}

void
imap_reply_store_error(struct imap_session *s, enum mstore_err code,
    const char *what)
{
	switch (code) {
	case MSTORE_E_NONEXISTENT:
		imap_reply_no(s, "[NONEXISTENT] %s: mailbox doesn't exist.",
		    what);
		break;
	case MSTORE_E_EXISTS:
		imap_reply_no(s, "[ALREADYEXISTS] %s: mailbox already "
		    "exists.", what);
		break;
	case MSTORE_E_NAME:
		imap_reply_no(s, "[CANNOT] %s: invalid mailbox name.", what);
		break;
	case MSTORE_E_HASCHILDREN:
		imap_reply_no(s, "[HASCHILDREN] %s: mailbox has children, "
		    "delete them first.", what);
		break;
	case MSTORE_E_INBOX:
		imap_reply_no(s, "[CANNOT] %s: not possible with INBOX.", what);
		break;
	case MSTORE_E_LIMIT:
		imap_reply_no(s, "[LIMIT] %s: limit reached.", what);
		break;
	case MSTORE_E_NOSPACE:
		imap_reply_no(s, "[OVERQUOTA] %s: no space left.", what);
		break;
	case MSTORE_E_EXPUNGED:
		imap_reply_no(s, "[EXPUNGEISSUED] %s: messages were "
		    "expunged.", what);
		break;
	default:
		imap_reply_no(s, "[SERVERBUG] %s: internal error, see the "
		    "server log.", what);
		break;
	}
}

int
imap_session_mailbox(struct imap_session *s, const struct imap_str *in,
    struct buf *name)
{
	const char	*error;

	buf_reset(name);
	if (mbox_name_from_imap(in->data, in->len, imap_session_utf8(s),
	    &s->names, name, &error) == -1) {
		imap_reply_no(s, "[CANNOT] Invalid mailbox name: %s.", error);
		return -1;
	}
	return 0;
}

int
imap_session_mailbox_out(struct imap_session *s, struct buf *out,
    const char *name)
{
	struct buf	 enc;
	const char	*error;
	int		 r;

	buf_init(&enc, 64, 4 * MBOX_NAME_MAX);
	if (mbox_name_to_imap(name, strlen(name), imap_session_utf8(s), &enc,
	    &error) == -1) {
		buf_deinit(&enc);
		return -1;
	}
	r = imap_str_astring(out, enc.data, enc.len, imap_session_utf8(s) ?
	    IMAP_STR_UTF8 : 0);
	buf_deinit(&enc);
	return r;
}

/* ---- session commands --------------------------------------------------- */

static void
imap_capability(struct imap_session *s, struct buf *b)
{
	imapd_capabilities(b, false, false, s->conn.secured, true);
}

static void
imap_cmd_capability(struct imap_session *s)
{
	buf_reset(s->out);
	imap_capability(s, s->out);
	imap_conn_printf(&s->conn, "* CAPABILITY %s\r\n", buf_cstr(s->out));
	imap_reply_ok(s, "Capability completed.");
}

static void
imap_cmd_logout(struct imap_session *s)
{
	imap_conn_printf(&s->conn, "* BYE Logging out\r\n");
	imap_conn_tagged(&s->conn, s->tag, "OK", "Logout completed.");
	s->state = IMAP_STATE_LOGOUT;
	imap_conn_close(&s->conn);
}

static void
imap_cmd_id(struct imap_session *s)
{
	struct imap_id	 id;
	const char	*error;

	if (imap_parse_id(&s->cmd, &s->conn.lim, &id, &error) == -1) {
		imap_reply_bad(s, "%s", error);
		return;
	}
	imap_conn_printf(&s->conn, "* ID (\"name\" \"postern\")\r\n");
	imap_reply_ok(s, "ID completed.");
}

static void
imap_cmd_enable(struct imap_session *s)
{
	unsigned int	 caps, fresh;
	const char	*error;

	if (imap_parse_enable(&s->cmd, &caps, &error) == -1) {
		imap_reply_bad(s, "%s", error);
		return;
	}
	fresh = caps & ~s->enabled;
	s->enabled |= caps;
	if (imap_session_utf8(s))
		s->conn.lim.utf8_accept = true;
	imap_conn_printf(&s->conn, "* ENABLED%s%s\r\n",
	    (fresh & IMAP_ENABLE_IMAP4REV2) != 0 ? " IMAP4rev2" : "",
	    (fresh & IMAP_ENABLE_UTF8_ACCEPT) != 0 ? " UTF8=ACCEPT" : "");
	imap_reply_ok(s, "Enabled.");
}

static void
imap_cmd_namespace(struct imap_session *s)
{
	const char	*error;

	if (imap_parse_noargs(&s->cmd, &error) == -1) {
		imap_reply_bad(s, "%s", error);
		return;
	}
	imap_conn_printf(&s->conn, "* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n");
	imap_reply_ok(s, "Namespace completed.");
}

/* ---- mailbox commands --------------------------------------------------- */

static const struct {
	const char	*name;
	unsigned int	 bit;
} imap_uses[] = {
	{ "All",	MSTORE_USE_ALL },
	{ "Archive",	MSTORE_USE_ARCHIVE },
	{ "Drafts",	MSTORE_USE_DRAFTS },
	{ "Flagged",	MSTORE_USE_FLAGGED },
	{ "Junk",	MSTORE_USE_JUNK },
	{ "Sent",	MSTORE_USE_SENT },
	{ "Trash",	MSTORE_USE_TRASH },
};

static int
imap_use_out(struct buf *out, unsigned int use, bool *first)
{
	size_t	i;

	for (i = 0; i < N_ELEMENTS(imap_uses); i++) {
		if ((use & imap_uses[i].bit) == 0)
			continue;
		if (buf_printf(out, "%s\\%s", *first ? "" : " ",
		    imap_uses[i].name) == -1)
			return -1;
		*first = false;
	}
	return 0;
}

static void
imap_cmd_create(struct imap_session *s)
{
	struct imap_str	 in;
	struct buf	 name;
	enum mstore_err	 code;
	const char	*error;
	unsigned int	 use;

	if (imap_parse_create(&s->cmd, &in, &use, &error) == -1) {
		imap_reply_bad(s, "%s", error);
		return;
	}
	if ((use & IMAP_USE_UNKNOWN) != 0) {
		imap_reply_no(s, "[USEATTR] Unsupported special-use "
		    "attribute.");
		return;
	}
	/* "CREATE a/" asks for the level a (RFC 9051 6.3.4). */
	if (in.len > 1 && in.data[in.len - 1] == MBOX_NAME_SEP)
		in.len--;
	buf_init(&name, 64, MBOX_NAME_MAX + 1);
	if (imap_session_mailbox(s, &in, &name) == 0) {
		if (mbox_name_is_inbox(name.data, name.len))
			imap_reply_no(s, "[ALREADYEXISTS] Mailbox already "
			    "exists.");
		else if (mstore_create(s->store, name.data, use, &code,
		    &error) == -1) {
			if (code == MSTORE_E_INTERNAL)
				log_error("user=<%s>: CREATE %s: %s",
				    log_safe(s->user), log_safe(name.data),
				    error);
			imap_reply_store_error(s, code, "CREATE");
		} else
			imap_reply_ok(s, "Create completed.");
	}
	buf_deinit(&name);
}

static void
imap_cmd_delete(struct imap_session *s)
{
	struct imap_str	 in;
	struct buf	 name;
	enum mstore_err	 code;
	const char	*error;

	if (imap_parse_mailbox(&s->cmd, &in, &error) == -1) {
		imap_reply_bad(s, "%s", error);
		return;
	}
	buf_init(&name, 64, MBOX_NAME_MAX + 1);
	if (imap_session_mailbox(s, &in, &name) == 0) {
		/* Deleting the selected mailbox unselects it first. */
		if (s->state == IMAP_STATE_SELECTED &&
		    strcmp(s->view.name, name.data) == 0) {
			imap_view_close(s);
			s->state = IMAP_STATE_AUTH;
		}
		if (mstore_delete(s->store, name.data, &code, &error) == -1) {
			if (code == MSTORE_E_INTERNAL)
				log_error("user=<%s>: DELETE %s: %s",
				    log_safe(s->user), log_safe(name.data),
				    error);
			imap_reply_store_error(s, code, "DELETE");
		} else
			imap_reply_ok(s, "Delete completed.");
	}
	buf_deinit(&name);
}

static void
imap_cmd_rename(struct imap_session *s)
{
	struct imap_str	 in_from, in_to;
	struct buf	 from, to;
	enum mstore_err	 code;
	const char	*error;

	if (imap_parse_rename(&s->cmd, &in_from, &in_to, &error) == -1) {
		imap_reply_bad(s, "%s", error);
		return;
	}
	buf_init(&from, 64, MBOX_NAME_MAX + 1);
	buf_init(&to, 64, MBOX_NAME_MAX + 1);
	if (imap_session_mailbox(s, &in_from, &from) == 0 &&
	    imap_session_mailbox(s, &in_to, &to) == 0) {
		if (mstore_rename(s->store, from.data, to.data, &code,
		    &error) == -1) {
			if (code == MSTORE_E_INTERNAL)
				log_error("user=<%s>: RENAME %s %s: %s",
				    log_safe(s->user), log_safe(from.data),
				    log_safe(to.data), error);
			imap_reply_store_error(s, code, "RENAME");
		} else
			imap_reply_ok(s, "Rename completed.");
	}
	buf_deinit(&from);
	buf_deinit(&to);
}

static void
imap_cmd_subscribe(struct imap_session *s, bool on)
{
	struct imap_str	 in;
	struct buf	 name;
	const char	*error;

	if (imap_parse_mailbox(&s->cmd, &in, &error) == -1) {
		imap_reply_bad(s, "%s", error);
		return;
	}
	buf_init(&name, 64, MBOX_NAME_MAX + 1);
	if (imap_session_mailbox(s, &in, &name) == 0) {
		if (mstore_subscribe(s->store, name.data, on, &error) == -1) {
			log_error("user=<%s>: %sSUBSCRIBE %s: %s",
			    log_safe(s->user), on ? "" : "UN",
			    log_safe(name.data), error);
			imap_reply_store_error(s, MSTORE_E_INTERNAL,
			    on ? "SUBSCRIBE" : "UNSUBSCRIBE");
		} else
			imap_reply_ok(s, "%s completed.", on ? "Subscribe" :
			    "Unsubscribe");
	}
	buf_deinit(&name);
}

/* STATUS items of mailbox name, as "* STATUS name (...)". */
static int
imap_status_line(struct imap_session *s, const char *name,
    unsigned int items, enum mstore_err *code_r)
{
	struct mstore_folder	*f;
	struct mstore_status	 st;
	struct buf		*b = s->out;
	const char		*error, *sp = "";
	int			 r = 0;

	f = mstore_folder_open(s->store, name, code_r, &error);
	if (f == NULL) {
		if (*code_r == MSTORE_E_INTERNAL)
			log_error("user=<%s>: STATUS %s: %s", log_safe(s->user),
			    log_safe(name), error);
		return -1;
	}
	if (mstore_folder_status(f, (items & IMAP_STATUS_SIZE) != 0, &st,
	    &error) == -1) {
		log_error("user=<%s>: STATUS %s: %s", log_safe(s->user),
		    log_safe(name), error);
		mstore_folder_close(&f);
		*code_r = MSTORE_E_INTERNAL;
		return -1;
	}
	mstore_folder_close(&f);
	buf_reset(b);
	r |= buf_append_str(b, "* STATUS ");
	r |= imap_session_mailbox_out(s, b, name);
	r |= buf_append_str(b, " (");
#define ITEM(bit, label, value) \
	if ((items & (bit)) != 0) { \
		r |= buf_printf(b, "%s%s %llu", sp, label, \
		    (unsigned long long)(value)); \
		sp = " "; \
	}
	ITEM(IMAP_STATUS_MESSAGES, "MESSAGES", st.messages);
	ITEM(IMAP_STATUS_RECENT, "RECENT", st.recent);
	ITEM(IMAP_STATUS_UIDNEXT, "UIDNEXT", st.uidnext);
	ITEM(IMAP_STATUS_UIDVALIDITY, "UIDVALIDITY", st.uidvalidity);
	ITEM(IMAP_STATUS_UNSEEN, "UNSEEN", st.unseen);
	ITEM(IMAP_STATUS_DELETED, "DELETED", st.deleted);
	ITEM(IMAP_STATUS_SIZE, "SIZE", st.size);
	ITEM(IMAP_STATUS_APPENDLIMIT, "APPENDLIMIT",
	    cfg->imapd_max_append_size);
#undef ITEM
	r |= buf_append_str(b, ")\r\n");
	if (r != 0) {
		*code_r = MSTORE_E_INTERNAL;
		return -1;
	}
	imap_conn_write(&s->conn, b->data, b->len);
	return 0;
}

static void
imap_cmd_status(struct imap_session *s)
{
	struct imap_str	 in;
	struct buf	 name;
	enum mstore_err	 code;
	const char	*error;
	unsigned int	 items;

	if (imap_parse_status(&s->cmd, &in, &items, &error) == -1) {
		imap_reply_bad(s, "%s", error);
		return;
	}
	buf_init(&name, 64, MBOX_NAME_MAX + 1);
	if (imap_session_mailbox(s, &in, &name) == 0) {
		if (imap_status_line(s, name.data, items, &code) == -1)
			imap_reply_store_error(s, code, "STATUS");
		else
			imap_reply_ok(s, "Status completed.");
	}
	buf_deinit(&name);
}

/* One name LIST may report. */
struct imap_list_entry {
	char		*name;
	unsigned int	 use;
	bool		 exists;	/* a mailbox (else a level only) */
	bool		 subscribed;
	bool		 children;
	bool		 subscribed_child;
};

static int
imap_list_entry_cmp(const void *a, const void *b)
{
	return mbox_name_cmp(((const struct imap_list_entry *)a)->name,
	    ((const struct imap_list_entry *)b)->name);
}

/*
 * Every name of the store for LIST: the mailboxes, the levels that exist
 * only through their children, and the subscriptions (which need not
 * exist), sorted.  Returns the count or -1.
 */
static ssize_t
imap_list_entries(struct imap_session *s, struct imap_list_entry **e_r)
{
	struct mstore_mailbox	*boxes = NULL, *subs = NULL;
	struct imap_list_entry	*e = NULL, *x;
	ssize_t			 nb, ns;
	size_t			 n = 0, alloc, i, j, k;
	const char		*error;
	char			*p;

	if ((nb = mstore_list(s->store, &boxes, &error)) == -1 ||
	    (ns = mstore_subscriptions(s->store, &subs, &error)) == -1) {
		log_error("user=<%s>: LIST: %s", log_safe(s->user), error);
		if (nb != -1)
			mstore_list_free(boxes, (size_t)nb);
		return -1;
	}
	/* Each name with its parents, and each subscription. */
	alloc = ((size_t)nb) * (MBOX_DEPTH_MAX + 1) + (size_t)ns + 1;
	e = xcalloc(alloc, sizeof(*e));
	for (i = 0; i < (size_t)nb; i++) {
		e[n].name = xstrdup(boxes[i].name);
		e[n].use = boxes[i].use;
		e[n].exists = true;
		n++;
		/* its parents, as levels */
		p = boxes[i].name;
		for (j = 0; p[j] != '\0'; j++) {
			if (p[j] != MBOX_NAME_SEP)
				continue;
			e[n].name = xstrndup(p, j);
			n++;
		}
	}
	for (i = 0; i < (size_t)ns; i++) {
		e[n].name = xstrdup(subs[i].name);
		e[n].subscribed = true;
		n++;
	}
	mstore_list_free(boxes, (size_t)nb);
	mstore_list_free(subs, (size_t)ns);
	qsort(e, n, sizeof(*e), imap_list_entry_cmp);
	/* Merge duplicates. */
	for (i = 0, k = 0; i < n; i++) {
		if (k > 0 && strcmp(e[k - 1].name, e[i].name) == 0) {
			x = &e[k - 1];
			x->exists |= e[i].exists;
			x->subscribed |= e[i].subscribed;
			x->use |= e[i].use;
			free(e[i].name);
			continue;
		}
		e[k++] = e[i];
	}
	n = k;
	/* Children: the next name in order starts with name + "/". */
	for (i = 0; i + 1 < n; i++) {
		size_t len = strlen(e[i].name);

		for (j = i + 1; j < n; j++) {
			if (strncmp(e[j].name, e[i].name, len) != 0 ||
			    e[j].name[len] != MBOX_NAME_SEP)
				break;
			if (e[j].exists)
				e[i].children = true;
			if (e[j].subscribed)
				e[i].subscribed_child = true;
		}
	}
	*e_r = e;
	return (ssize_t)n;
}

static void
imap_list_entries_free(struct imap_list_entry *e, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		free(e[i].name);
	free(e);
}

static void
imap_cmd_list(struct imap_session *s)
{
	struct imap_list	 list;
	struct mbox_name_pattern **pats;
	struct imap_list_entry	*e, *x;
	struct buf		*b = s->out;
	enum mstore_err		 code;
	const char		*error;
	ssize_t			 n;
	size_t			 i, k;
	bool			 lsub = strcmp(s->cmd.name, "LSUB") == 0;
	bool			 first, match, want;
	unsigned int		 sel, ret;
	int			 r;

	if (imap_parse_list(&s->cmd, &list, &error) == -1) {
		imap_reply_bad(s, "%s", error);
		return;
	}
	sel = list.sel;
	ret = list.ret;
	if (lsub)
		sel |= IMAP_LIST_SEL_SUBSCRIBED;
	if ((sel & IMAP_LIST_SEL_SUBSCRIBED) != 0 && !lsub)
		ret |= IMAP_LIST_RET_SUBSCRIBED;
	/* LIST "" "": the hierarchy separator (RFC 9051 6.3.9). */
	if (list.npatterns == 1 && list.patterns[0].len == 0) {
		imap_conn_printf(&s->conn, "* %s (\\Noselect) \"/\" \"\"\r\n",
		    lsub ? "LSUB" : "LIST");
		imap_reply_ok(s, "%s completed.", lsub ? "Lsub" : "List");
		return;
	}
	pats = xcalloc(list.npatterns, sizeof(*pats));
	for (i = 0; i < list.npatterns; i++) {
		if (mbox_name_pattern_new(list.ref.data, list.ref.len,
		    list.patterns[i].data, list.patterns[i].len,
		    imap_session_utf8(s), &s->names, &pats[i], &error) == -1) {
			while (i-- > 0)
				mbox_name_pattern_free(&pats[i]);
			free(pats);
			imap_reply_bad(s, "Invalid pattern: %s", error);
			return;
		}
	}
	if ((n = imap_list_entries(s, &e)) == -1) {
		for (i = 0; i < list.npatterns; i++)
			mbox_name_pattern_free(&pats[i]);
		free(pats);
		imap_reply_store_error(s, MSTORE_E_INTERNAL, "LIST");
		return;
	}
	for (k = 0; k < (size_t)n; k++) {
		x = &e[k];
		match = false;
		for (i = 0; i < list.npatterns && !match; i++)
			match = mbox_name_pattern_match(pats[i], x->name,
			    strlen(x->name));
		if (!match)
			continue;
		if ((sel & IMAP_LIST_SEL_SUBSCRIBED) != 0)
			want = x->subscribed ||
			    ((sel & IMAP_LIST_SEL_RECURSIVEMATCH) != 0 &&
			    x->subscribed_child);
		else
			want = x->exists || x->children;
		if ((sel & IMAP_LIST_SEL_SPECIAL_USE) != 0)
			want = want && (x->use != 0 ||
			    ((sel & IMAP_LIST_SEL_RECURSIVEMATCH) != 0 &&
			    x->children));
		if (!want)
			continue;
		/* LSUB: a level whose children are subscribed is \Noselect. */
		buf_reset(b);
		first = true;
		r = buf_printf(b, "* %s (", lsub ? "LSUB" : "LIST");
#define ATTR(text) do { \
	r |= buf_printf(b, "%s%s", first ? "" : " ", text); \
	first = false; \
} while (0)
		if (!x->exists && (sel & IMAP_LIST_SEL_SUBSCRIBED) != 0 &&
		    !x->children && !lsub)
			ATTR("\\NonExistent");
		else if (!x->exists)
			ATTR("\\Noselect");
		if (!lsub) {
			if (x->children)
				ATTR("\\HasChildren");
			else
				ATTR("\\HasNoChildren");
		}
		if ((ret & IMAP_LIST_RET_SUBSCRIBED) != 0 && x->subscribed)
			ATTR("\\Subscribed");
		if (!lsub && x->use != 0)
			r |= imap_use_out(b, x->use, &first);
#undef ATTR
		r |= buf_append_str(b, ") \"/\" ");
		r |= imap_session_mailbox_out(s, b, x->name);
		if (list.extended && (sel & IMAP_LIST_SEL_RECURSIVEMATCH) != 0 &&
		    x->subscribed_child && !x->subscribed)
			r |= buf_append_str(b, " (\"CHILDINFO\" "
			    "(\"SUBSCRIBED\"))");
		r |= buf_append_str(b, "\r\n");
		if (r != 0)
			continue;
		imap_conn_write(&s->conn, b->data, b->len);
		if ((ret & IMAP_LIST_RET_STATUS) != 0 && x->exists &&
		    imap_status_line(s, x->name, list.status, &code) == -1)
			log_debug("LIST-STATUS %s failed", log_safe(x->name));
	}
	imap_list_entries_free(e, (size_t)n);
	for (i = 0; i < list.npatterns; i++)
		mbox_name_pattern_free(&pats[i]);
	free(pats);
	imap_reply_ok(s, "%s completed.", lsub ? "Lsub" : "List");
}

/* ---- dispatch ------------------------------------------------------------ */

#define IMAP_S_AUTH	0x01
#define IMAP_S_SELECTED	0x02
#define IMAP_S_ANY	(IMAP_S_AUTH | IMAP_S_SELECTED)

static void imap_cmd_noop(struct imap_session *s);
static void imap_cmd_select_rw(struct imap_session *s);
static void imap_cmd_examine(struct imap_session *s);
static void imap_cmd_close_expunge(struct imap_session *s);
static void imap_cmd_unselect(struct imap_session *s);
static void imap_cmd_copy_only(struct imap_session *s);
static void imap_cmd_move(struct imap_session *s);
static void imap_cmd_subscribe_on(struct imap_session *s);
static void imap_cmd_subscribe_off(struct imap_session *s);
static void imap_cmd_append_bad(struct imap_session *s);

static const struct {
	const char	*name;
	unsigned int	 states;
	void		(*fn)(struct imap_session *);
} imap_cmds[] = {
	{ "CAPABILITY",	IMAP_S_ANY,	imap_cmd_capability },
	{ "NOOP",	IMAP_S_ANY,	imap_cmd_noop },
	{ "LOGOUT",	IMAP_S_ANY,	imap_cmd_logout },
	{ "ID",		IMAP_S_ANY,	imap_cmd_id },
	{ "ENABLE",	IMAP_S_ANY,	imap_cmd_enable },
	{ "NAMESPACE",	IMAP_S_ANY,	imap_cmd_namespace },
	{ "SELECT",	IMAP_S_ANY,	imap_cmd_select_rw },
	{ "EXAMINE",	IMAP_S_ANY,	imap_cmd_examine },
	{ "CREATE",	IMAP_S_ANY,	imap_cmd_create },
	{ "DELETE",	IMAP_S_ANY,	imap_cmd_delete },
	{ "RENAME",	IMAP_S_ANY,	imap_cmd_rename },
	{ "SUBSCRIBE",	IMAP_S_ANY,	imap_cmd_subscribe_on },
	{ "UNSUBSCRIBE", IMAP_S_ANY,	imap_cmd_subscribe_off },
	{ "LIST",	IMAP_S_ANY,	imap_cmd_list },
	{ "LSUB",	IMAP_S_ANY,	imap_cmd_list },
	{ "STATUS",	IMAP_S_ANY,	imap_cmd_status },
	{ "APPEND",	IMAP_S_ANY,	imap_cmd_append_bad },
	{ "IDLE",	IMAP_S_ANY,	imap_cmd_idle },
	{ "CHECK",	IMAP_S_SELECTED, imap_cmd_noop },
	{ "CLOSE",	IMAP_S_SELECTED, imap_cmd_close_expunge },
	{ "UNSELECT",	IMAP_S_SELECTED, imap_cmd_unselect },
	{ "EXPUNGE",	IMAP_S_SELECTED, imap_cmd_expunge },
	{ "SEARCH",	IMAP_S_SELECTED, imap_cmd_search },
	{ "FETCH",	IMAP_S_SELECTED, imap_cmd_fetch },
	{ "STORE",	IMAP_S_SELECTED, imap_cmd_store },
	{ "COPY",	IMAP_S_SELECTED, imap_cmd_copy_only },
	{ "MOVE",	IMAP_S_SELECTED, imap_cmd_move },
};

static void
imap_cmd_noop(struct imap_session *s)
{
	const char	*error;

	if (imap_parse_noargs(&s->cmd, &error) == -1) {
		imap_reply_bad(s, "%s", error);
		return;
	}
	imap_reply_ok(s, "%s completed.", strcmp(s->cmd.name, "NOOP") == 0 ?
	    "NOOP" : "Check");
}

static void
imap_cmd_select_rw(struct imap_session *s)
{
	imap_cmd_select(s, false);
}

static void
imap_cmd_examine(struct imap_session *s)
{
	imap_cmd_select(s, true);
}

static void
imap_cmd_close_expunge(struct imap_session *s)
{
	imap_cmd_close(s, true);
}

static void
imap_cmd_unselect(struct imap_session *s)
{
	imap_cmd_close(s, false);
}

static void
imap_cmd_copy_only(struct imap_session *s)
{
	imap_cmd_copy(s, false);
}

static void
imap_cmd_move(struct imap_session *s)
{
	imap_cmd_copy(s, true);
}

static void
imap_cmd_subscribe_on(struct imap_session *s)
{
	imap_cmd_subscribe(s, true);
}

static void
imap_cmd_subscribe_off(struct imap_session *s)
{
	imap_cmd_subscribe(s, false);
}

/* An APPEND without a message literal (the literal path is separate). */
static void
imap_cmd_append_bad(struct imap_session *s)
{
	imap_reply_bad(s, "APPEND needs a message literal.");
}

static void
imap_session_command(void *ctx, const char *data, size_t len)
{
	struct imap_session	*s = ctx;
	const char		*error;
	unsigned int		 state;
	size_t			 i;

	if (s->append != NULL) {
		imap_append_command_end(s, data, len);
		return;
	}
	if (imap_parse_command(data, len, &s->conn.lim, &s->cmd,
	    &error) == -1) {
		(void)snprintf(s->tag, sizeof(s->tag), "%s",
		    s->cmd.tag_len > 0 ? s->cmd.tag : "*");
		imap_reply_bad(s, "%s", error);
		return;
	}
	(void)snprintf(s->tag, sizeof(s->tag), "%s", s->cmd.tag);
	state = s->state == IMAP_STATE_SELECTED ? IMAP_S_SELECTED :
	    IMAP_S_AUTH;
	for (i = 0; i < N_ELEMENTS(imap_cmds); i++) {
		if (strcmp(imap_cmds[i].name, s->cmd.name) != 0)
			continue;
		if ((imap_cmds[i].states & state) == 0) {
			imap_reply_bad(s, "No mailbox selected.");
			return;
		}
		if (s->cmd.uid && strcmp(s->cmd.name, "EXPUNGE") == 0 &&
		    state != IMAP_S_SELECTED) {
			imap_reply_bad(s, "No mailbox selected.");
			return;
		}
		imap_cmds[i].fn(s);
		return;
	}
	if (strcmp(s->cmd.name, "LOGIN") == 0 ||
	    strcmp(s->cmd.name, "AUTHENTICATE") == 0 ||
	    strcmp(s->cmd.name, "STARTTLS") == 0)
		imap_reply_bad(s, "Already logged in.");
	else
		imap_reply_bad(s, "Unknown command.");
}

/* ---- the connection's hooks ----------------------------------------------- */

static void
imap_session_line(void *ctx, const char *data, size_t len)
{
	struct imap_session *s = ctx;

	if (s->idling)
		imap_idle_line(s, data, len);
}

static int
imap_session_literal(void *ctx, const struct imap_scan *st, const char *data,
    size_t len)
{
	return imap_append_literal(ctx, st, data, len);
}

static void
imap_session_literal_data(void *ctx, const char *data, size_t len)
{
	imap_append_data(ctx, data, len);
}

static void
imap_session_literal_end(void *ctx)
{
	imap_append_literal_end(ctx);
}

static void
imap_session_aborted(void *ctx)
{
	struct imap_session *s = ctx;

	if (s->append != NULL)
		imap_append_abort(s);
}

static void
imap_session_drained(void *ctx)
{
	struct imap_session *s = ctx;

	if (s->fetch != NULL)
		imap_fetch_drained(s);
}

static void
imap_session_timeout(void *ctx)
{
	struct imap_session *s = ctx;

	log_info("user=<%s>: timeout from %s", log_safe(s->user),
	    s->conn.addr);
	imap_conn_printf(&s->conn, "* BYE Disconnected for inactivity.\r\n");
}

static void
imap_session_closed(void *ctx, const char *reason)
{
	struct imap_session *s = ctx;

	log_info("logout: user=<%s>, client=%s (%s)", log_safe(s->user),
	    s->conn.addr, reason);
	imap_session_free(s);
}

static const struct imap_conn_ops imap_session_ops = {
	.command	= imap_session_command,
	.line		= imap_session_line,
	.literal	= imap_session_literal,
	.literal_data	= imap_session_literal_data,
	.literal_end	= imap_session_literal_end,
	.aborted	= imap_session_aborted,
	.drained	= imap_session_drained,
	.timeout	= imap_session_timeout,
	.closed		= imap_session_closed,
};

/* ---- start and end ---------------------------------------------------------- */

/* The folders of imapd_special_use_folders, made when missing. */
static void
imap_session_special_folders(struct imap_session *s)
{
	struct mstore_mailbox	*boxes;
	enum mstore_err		 code;
	const char		*error, *eq;
	char			*name;
	ssize_t			 n;
	size_t			 i, j, k;
	unsigned int		 use;
	bool			 found;

	if (cfg->imapd_special_use_folders == NULL ||
	    cfg->imapd_special_use_folders[0] == NULL)
		return;
	if ((n = mstore_list(s->store, &boxes, &error)) == -1) {
		log_error("user=<%s>: %s", log_safe(s->user), error);
		return;
	}
	for (i = 0; cfg->imapd_special_use_folders[i] != NULL; i++) {
		const char *item = cfg->imapd_special_use_folders[i];

		if ((eq = strchr(item, '=')) == NULL)
			continue;
		name = xstrndup(item, (size_t)(eq - item));
		use = 0;
		for (k = 0; k < N_ELEMENTS(imap_uses); k++)
			if (strcasecmp(eq + 1, imap_uses[k].name) == 0)
				use = imap_uses[k].bit;
		found = false;
		for (j = 0; j < (size_t)n && !found; j++)
			found = strcmp(boxes[j].name, name) == 0;
		if (!found && mstore_create(s->store, name, use, &code,
		    &error) == -1 && code != MSTORE_E_EXISTS)
			log_error("user=<%s>: creating %s: %s",
			    log_safe(s->user), log_safe(name), error);
		free(name);
	}
	mstore_list_free(boxes, (size_t)n);
}

struct imap_session *
imap_session_new(struct imapd *d, int fd, const char *user,
    const char *maildir, const char *addr, bool secured,
    const char *tls_info, const char *tag, const void *input,
    size_t input_len)
{
	struct imap_session	*s, *o;
	struct bufferevent	*bev;
	struct mstore		*store;
	const char		*error;
	unsigned int		 same = 0;
	int			 one = 1;
	bool			 unused;

	TAILQ_FOREACH(o, &d->sessions, entry)
		if (strcmp(o->user, user) == 0)
			same++;
	if (same >= cfg->imapd_max_user_connections) {
		char line[256];
		int len;

		log_info("user=<%s>: too many sessions (%u)", log_safe(user),
		    same + 1);
		len = snprintf(line, sizeof(line), "%s NO [LIMIT] Too many "
		    "sessions for this user.\r\n", tag);
		if (len > 0 && (size_t)len < sizeof(line))
			(void)!write(fd, line, (size_t)len);
		return NULL;
	}
	if (maildir == NULL || maildir[0] != '/') {
		log_error("user=<%s>: no absolute Maildir path from authd",
		    log_safe(user));
		return NULL;
	}
	/* A user without mail yet: the Maildir as delivery would make it. */
	if (maildir_prepare(cfg->mail_directory, maildir, "", &unused,
	    &error) == -1 && errno == ENOENT)
		log_debug("user=<%s>: %s", log_safe(user), error);
	if ((store = mstore_open(maildir, &d->store_lim, &error)) == NULL) {
		log_error("user=<%s>: %s", log_safe(user), error);
		return NULL;
	}
	/*
	 * Replies go out at once: without this the last short segment of a
	 * response can wait for the client's delayed ACK (40 ms).  A
	 * socketpair from imap-login (TLS) refuses it, which is fine.
	 */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	bev = bufferevent_socket_new(service_base(d->sv), fd,
	    BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		mstore_close(&store);
		return NULL;
	}
	s = xcalloc(1, sizeof(*s));
	s->d = d;
	s->user = xstrdup(user);
	s->store = store;
	s->names = (struct mbox_name_limits)MBOX_NAME_LIMITS_DEFAULT;
	s->out = buf_new(256, IMAP_OUT_MAX);
	imap_parse_cmd_init(&s->cmd);
	(void)snprintf(s->tag, sizeof(s->tag), "%s", tag);
	TAILQ_INSERT_TAIL(&d->sessions, s, entry);
	service_client_opened(d->sv);
	imap_conn_init(&s->conn, service_base(d->sv), bev, false, &d->lim,
	    cfg->imapd_max_bad_commands, cfg->imapd_idle_timeout, addr,
	    &imap_session_ops, s);
	s->conn.secured = secured;
	if (tls_info != NULL)
		(void)snprintf(s->conn.tls_info, sizeof(s->conn.tls_info),
		    "%s", tls_info);
	imap_session_special_folders(s);
	log_info("login: user=<%s>, client=%s, session started",
	    log_safe(user), addr);
	buf_reset(s->out);
	imap_capability(s, s->out);
	imap_conn_tagged(&s->conn, s->tag, "OK", "[CAPABILITY %s] Logged in",
	    buf_cstr(s->out));
	if (imap_conn_prepend_input(&s->conn, input, input_len) == -1)
		log_error("user=<%s>: pipelined input lost", log_safe(user));
	imap_conn_resume(&s->conn);
	return s;
}

void
imap_session_free(struct imap_session *s)
{
	struct imapd	*d = s->d;

	if (s->append != NULL)
		imap_append_abort(s);
	imap_fetch_job_free(&s->fetch);
	/* LOGOUT leaves the state, not the view. */
	if (s->view.folder != NULL)
		imap_view_close(s);
	TAILQ_REMOVE(&d->sessions, s, entry);
	imap_conn_free(&s->conn);
	imap_parse_cmd_deinit(&s->cmd);
	mstore_close(&s->store);
	buf_free(&s->out);
	free(s->user);
	free(s);
	service_client_closed(d->sv);
}
