/* SPDX-License-Identifier: ISC */
/*
 * A logged-in IMAP session in an imap process (postern-imapd(8)): the
 * user's mail store, the selected mailbox and the session's view of it
 * (sequence numbers, the flags last reported), and the command handlers,
 * spread over imap_session.c (dispatch, session and mailbox commands),
 * imap_select.c (the selected state) and imap_append.c (APPEND).
 */
#ifndef POSTERN_IMAP_SESSION_H
#define POSTERN_IMAP_SESSION_H

#include <sys/queue.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/mbox_name.h"
#include "common/mstore.h"
#include "imap_conn.h"
#include "imap_parse.h"

struct imapd;
struct imap_fetch_job;

/* What a session has reported of one message of the selected mailbox. */
struct imap_view_msg {
	uint32_t	uid;
	uint8_t		flags;		/* MSTORE_F_* */
	uint32_t	keywords;
};

struct imap_view {
	struct mstore_folder	*folder;
	struct mstore_watch	*watch;
	char			*name;		/* canonical */
	bool			 readonly;	/* EXAMINE */
	uint32_t		 uidvalidity;
	uint32_t		 uidnext;	/* as last reported */
	uint32_t		 first_recent;	/* this session's \Recent */
	uint64_t		 modseq;	/* changes seen */
	unsigned int		 nkeywords;	/* keywords reported */
	/*
	 * By sequence number - 1, in three arrays so that a session costs
	 * 5 bytes per message while no message has a keyword.
	 */
	uint32_t		*uids;
	uint8_t			*flags;
	uint32_t		*keywords;	/* NULL: none has any */
	uint32_t		 count;
	uint32_t		 alloc;
	struct imap_seqset	 saved;		/* SEARCHRES "$" (UIDs) */
	struct imap_seq_range	*saved_ranges;
};

enum imap_state {
	IMAP_STATE_AUTH = 0,
	IMAP_STATE_SELECTED,
	IMAP_STATE_LOGOUT,
};

struct imap_session {
	TAILQ_ENTRY(imap_session) entry;
	struct imapd		*d;
	struct imap_conn	 conn;
	struct imap_cmd		 cmd;
	char			 tag[128];
	char			*user;
	struct mstore		*store;
	enum imap_state		 state;
	struct imap_view	 view;
	unsigned int		 enabled;	/* IMAP_ENABLE_* */
	struct mbox_name_limits	 names;
	struct buf		*out;		/* response scratch */
	/* IDLE */
	bool			 idling;
	/* APPEND in progress */
	struct imap_append_job	*append;
	/* a FETCH producing its output in steps */
	struct imap_fetch_job	*fetch;
	bool			 logged;	/* login line written */
};

/* The process: sessions, the authd client, limits. */
struct imapd {
	struct service		*sv;
	struct authd_client	*authd;
	struct imap_limits	 lim;
	struct mstore_limits	 store_lim;
	TAILQ_HEAD(, imap_session) sessions;
};

/* imap_session.c */
struct imap_session *imap_session_new(struct imapd *d, int fd,
	    const char *user, const char *maildir, const char *addr,
	    bool secured, const char *tls_info, const char *tag,
	    const void *input, size_t input_len);
void	imap_session_free(struct imap_session *s);
bool	imap_session_utf8(const struct imap_session *s);
/* Reply helpers for the handlers. */
void	imap_reply_ok(struct imap_session *s, const char *fmt, ...)
	    ATTR_PRINTF(2, 3);
void	imap_reply_no(struct imap_session *s, const char *fmt, ...)
	    ATTR_PRINTF(2, 3);
void	imap_reply_bad(struct imap_session *s, const char *fmt, ...)
	    ATTR_PRINTF(2, 3);
/* NO with the response code fitting an mstore error. */
void	imap_reply_store_error(struct imap_session *s, enum mstore_err code,
	    const char *what);
/* A client mailbox argument to the canonical name (NO/BAD on error). */
int	imap_session_mailbox(struct imap_session *s, const struct imap_str *in,
	    struct buf *name) ATTR_WUR;
/* Appends the name as the client is to see it, as an IMAP string. */
int	imap_session_mailbox_out(struct imap_session *s, struct buf *out,
	    const char *name) ATTR_WUR;

/* imap_select.c */
void	imap_cmd_select(struct imap_session *s, bool readonly);
void	imap_cmd_close(struct imap_session *s, bool expunge);
void	imap_cmd_expunge(struct imap_session *s);
void	imap_cmd_fetch(struct imap_session *s);
void	imap_cmd_store(struct imap_session *s);
void	imap_cmd_search(struct imap_session *s);
void	imap_cmd_copy(struct imap_session *s, bool move);
void	imap_cmd_idle(struct imap_session *s);
void	imap_idle_line(struct imap_session *s, const char *data, size_t len);
/*
 * Synchronises the selected mailbox and reports what changed since the
 * last report (EXPUNGE, EXISTS, RECENT, FETCH FLAGS).  expunges false
 * holds back EXPUNGE (during FETCH, STORE, SEARCH: RFC 9051 7.5.1).
 */
void	imap_view_update(struct imap_session *s, bool expunges);
void	imap_view_close(struct imap_session *s);
/*
 * The UIDs a sequence set (of UIDs when uid) names in the view,
 * ascending, only those the view has; "$" is the saved result.  Returns
 * the array (free it; *n_r may be 0), or NULL after a BAD reply (a
 * sequence number past the end).
 */
uint32_t *imap_set_uids(struct imap_session *s, struct imap_seqset *set,
	    bool uid, size_t *n_r);
/* Message i (sequence number i + 1) of the view, as a value. */
void	imap_view_get(const struct imap_view *v, uint32_t i,
	    struct imap_view_msg *m_r);
void	imap_view_set(struct imap_view *v, uint32_t i,
	    const struct imap_view_msg *m);
/* The first index of the ascending a[0..n) whose UID is >= uid (or n). */
size_t	imap_uid_lower_bound(const uint32_t *a, size_t n, uint32_t uid);
/* The sequence number of uid in the view, or 0 when it has none. */
uint32_t imap_view_seq(const struct imap_view *v, uint32_t uid);
void	imap_fetch_job_free(struct imap_fetch_job **jp);
void	imap_fetch_drained(struct imap_session *s);

/* imap_append.c */
struct imap_append_job;
int	imap_append_literal(struct imap_session *s, const struct imap_scan *st,
	    const char *data, size_t len);
void	imap_append_data(struct imap_session *s, const char *data,
	    size_t len);
void	imap_append_literal_end(struct imap_session *s);
void	imap_append_command_end(struct imap_session *s, const char *data,
	    size_t len);
void	imap_append_abort(struct imap_session *s);

#endif
