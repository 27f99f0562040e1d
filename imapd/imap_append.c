/* SPDX-License-Identifier: ISC */
/*
 * APPEND (RFC 9051 6.3.12) with several messages in one command (RFC
 * 3502 syntax), APPENDUID (RFC 4315) and APPENDLIMIT (RFC 7889).  The
 * message literal never sits in memory: imap_conn streams its bytes into
 * the mail store's new file as they arrive.  A command whose messages
 * cannot all be stored stores none of them: those already written are
 * expunged again before the NO.
 */
#include "config.h"

#include <sys/types.h>

#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/mstore.h"
#include "common/xmalloc.h"
#include "imap_session.h"
#include "common/banned.h"

struct imap_append_job {
	struct mstore_folder	*folder;
	struct mstore_append	*a;		/* the message being written */
	struct imap_append	 app;		/* its flags and date */
	size_t			 mark;		/* where the next part starts */
	uint32_t		*uids;		/* stored so far */
	size_t			 nuids;
	enum mstore_err		 code;		/* first failure */
	bool			 failed;
	bool			 bad;		/* syntax: BAD, else NO */
	const char		*why;
};

static void
imap_append_job_free(struct imap_session *s)
{
	struct imap_append_job	*j = s->append;
	const char		*error;

	if (j == NULL)
		return;
	mstore_append_abort(&j->a);
	/* All or nothing: take back what this command stored. */
	if (j->failed && j->nuids > 0 &&
	    mstore_expunge(j->folder, j->uids, j->nuids, &error) == -1)
		log_error("user=<%s>: APPEND: undoing: %s", log_safe(s->user),
		    error);
	mstore_folder_close(&j->folder);
	free(j->uids);
	free(j);
	s->append = NULL;
}

static void
imap_append_fail(struct imap_append_job *j, enum mstore_err code,
    const char *why)
{
	if (j->failed)
		return;
	j->failed = true;
	j->code = code;
	j->why = why;
	mstore_append_abort(&j->a);
}

/* Starts one message: its flags and date are in j->app. */
static void
imap_append_start(struct imap_session *s, struct imap_append_job *j)
{
	const char	*error;

	if (j->failed)
		return;
	j->a = mstore_append_begin(j->folder, &j->code, &error);
	if (j->a == NULL) {
		if (j->code == MSTORE_E_INTERNAL)
			log_error("user=<%s>: APPEND: %s", log_safe(s->user),
			    error);
		imap_append_fail(j, j->code, "APPEND");
	}
}

int
imap_append_literal(struct imap_session *s, const struct imap_scan *st,
    const char *data, size_t len)
{
	struct imap_append_job	*j = s->append;
	struct buf		 name;
	enum mstore_err		 code;
	const char		*error;
	int			 r;

	if (j == NULL) {
		j = xcalloc(1, sizeof(*j));
		r = imap_parse_append(&s->cmd, data, len, &s->conn.lim,
		    &j->app, &error);
		(void)snprintf(s->tag, sizeof(s->tag), "%s",
		    s->cmd.tag_len > 0 ? s->cmd.tag : "*");
		if (r == -1) {
			free(j);
			imap_reply_bad(s, "%s", error);
			return 0;
		}
		buf_init(&name, 64, MBOX_NAME_MAX + 1);
		if (imap_session_mailbox(s, &j->app.mailbox, &name) == -1) {
			buf_deinit(&name);
			free(j);
			return 0;
		}
		j->folder = mstore_folder_open(s->store, name.data, &code,
		    &error);
		if (j->folder == NULL) {
			if (code == MSTORE_E_NONEXISTENT)
				imap_reply_no(s, "[TRYCREATE] Mailbox doesn't "
				    "exist.");
			else {
				if (code == MSTORE_E_INTERNAL)
					log_error("user=<%s>: APPEND %s: %s",
					    log_safe(s->user),
					    log_safe(name.data), error);
				imap_reply_store_error(s, code, "APPEND");
			}
			buf_deinit(&name);
			free(j);
			return 0;
		}
		buf_deinit(&name);
		s->append = j;
	} else {
		r = imap_parse_append_next(&s->cmd, data + j->mark,
		    len - j->mark, &s->conn.lim, &j->app, &error);
		if (r != 1) {
			/* The scanner saw a literal the parser does not. */
			j->failed = true;
			j->bad = true;
			j->why = r == -1 ? error : "Unexpected literal";
			imap_reply_bad(s, "%s", j->why);
			imap_append_job_free(s);
			return 0;
		}
	}
	if (st->lit_size == 0) {
		imap_append_fail(j, MSTORE_E_NONE, "Empty message");
		j->bad = true;
	}
	j->mark = st->lit_offset;
	imap_append_start(s, j);
	return 1;
}

void
imap_append_data(struct imap_session *s, const char *data, size_t len)
{
	struct imap_append_job	*j = s->append;
	const char		*error;

	if (j == NULL || j->failed || j->a == NULL)
		return;
	if (mstore_append_write(j->a, data, len, &j->code, &error) == -1) {
		if (j->code == MSTORE_E_INTERNAL)
			log_error("user=<%s>: APPEND: %s", log_safe(s->user),
			    error);
		imap_append_fail(j, j->code, "APPEND");
	}
}

void
imap_append_literal_end(struct imap_session *s)
{
	struct imap_append_job	*j = s->append;
	enum mstore_err		 code;
	const char		*error;
	uint32_t		 keywords = 0, uid;
	unsigned int		 i;
	int			 idx;

	if (j == NULL || j->failed || j->a == NULL)
		return;
	for (i = 0; i < j->app.flags.nkeywords; i++) {
		idx = mstore_keyword_index(j->folder,
		    j->app.flags.keywords[i].data, true, &code, &error);
		if (idx >= 0)
			keywords |= 1u << idx;
		else if (code != MSTORE_E_LIMIT)
			log_error("user=<%s>: APPEND: %s", log_safe(s->user),
			    error);
		/* Past the keyword limit a keyword is dropped, as Dovecot. */
	}
	if (mstore_append_commit(&j->a, (uint8_t)(j->app.flags.system &
	    MSTORE_F_ALL), keywords, j->app.has_date ? j->app.date : 0, &uid,
	    &j->code, &error) == -1) {
		if (j->code == MSTORE_E_INTERNAL)
			log_error("user=<%s>: APPEND: %s", log_safe(s->user),
			    error);
		imap_append_fail(j, j->code, "APPEND");
		return;
	}
	if (j->nuids % 16 == 0)
		j->uids = xreallocarray(j->uids, j->nuids + 16,
		    sizeof(*j->uids));
	j->uids[j->nuids++] = uid;
}

void
imap_append_command_end(struct imap_session *s, const char *data, size_t len)
{
	struct imap_append_job	*j = s->append;
	struct buf		*b = s->out;
	const char		*error;
	size_t			 i, k;
	int			 r;

	r = imap_parse_append_next(&s->cmd, data + j->mark, len - j->mark,
	    &s->conn.lim, &j->app, &error);
	if (r != 0 && !j->failed) {
		j->failed = true;
		j->bad = true;
		j->why = r == -1 ? error : "Message literal expected";
	}
	if (j->failed) {
		if (j->bad)
			imap_reply_bad(s, "%s", j->why);
		else
			imap_reply_store_error(s, j->code, "APPEND");
		imap_append_job_free(s);
		return;
	}
	buf_reset(b);
	r = buf_printf(b, "APPENDUID %u ",
	    mstore_folder_uidvalidity(j->folder));
	for (i = 0; i < j->nuids; i = k) {
		for (k = i + 1; k < j->nuids && j->uids[k] ==
		    j->uids[k - 1] + 1; k++)
			;
		r |= buf_printf(b, "%s%u", i > 0 ? "," : "", j->uids[i]);
		if (k - 1 > i)
			r |= buf_printf(b, ":%u", j->uids[k - 1]);
	}
	imap_append_job_free(s);
	if (r == 0)
		imap_reply_ok(s, "[%s] Append completed.", buf_cstr(b));
	else
		imap_reply_ok(s, "Append completed.");
}

void
imap_append_abort(struct imap_session *s)
{
	if (s->append != NULL) {
		s->append->failed = true;
		imap_append_job_free(s);
	}
}
