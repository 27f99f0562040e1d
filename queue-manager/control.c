/* SPDX-License-Identifier: ISC */
/*
 * postctl queue, served by the queue manager (postern-queue-manager(8),
 * CONTROL): IPC_QMGR_CTL {verb, [id]} on private/qmgr after the HELLO.
 * The queue manager owns the files of the spool while it runs, so it is
 * the one that moves and removes them; postctl works on the files itself
 * only when nothing listens there (postctl(8)).  The verbs, as Postfix's
 * postsuper and postqueue have them:
 *
 *	hold	 the file moves to hold/ and is not tried until released
 *	release	 hold/ to deferred/, due now
 *	delete	 the file is removed, without a bounce
 *	requeue	 tried again now, its back-off counted from now; a held
 *		 message is released
 *	flush	 every deferred message (or the one named) is due now
 *
 * No id means every message.  A message in active/ is in the middle of
 * an attempt: its deliveries run to their end and are recorded, and
 * hold, delete and requeue happen then (qmgr_control_settle(), m->ctl).
 * Renames and unlinks are done on the event loop (they are quick and
 * rare), and each folder that changed is fsynced once per command.
 *
 * The peer is checked as any other: the verb must be in the table, an id
 * must pass qfile_id_valid().  A bad request is answered IPC_ERROR, and
 * the connection goes on.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "common/file.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/qfile.h"
#include "common/xmalloc.h"
#include "qmgr.h"
#include "common/banned.h"

/* The longest verb a request may carry ("release", "requeue"). */
#define QMGR_CTL_VERB_MAX	16
/* Folders a command may change: one flag per enum qmgr_where. */
#define QMGR_CTL_NDIRS		(QMGR_HOLD + 1)

struct qmgr_ctl_def {
	const char		*name;		/* on the wire */
	enum qmgr_ctl_verb	 verb;
	const char		*done;		/* logged, "(by postctl)" */
};

static const struct qmgr_ctl_def qmgr_ctl_defs[] = {
	{ "flush",	QMGR_CTL_FLUSH,		"flushed" },
	{ "hold",	QMGR_CTL_HOLD,		"placed on hold" },
	{ "release",	QMGR_CTL_RELEASE,	"released from hold" },
	{ "delete",	QMGR_CTL_DELETE,	"removed" },
	{ "requeue",	QMGR_CTL_REQUEUE,	"requeued" },
};

/* What one message came to. */
enum qmgr_ctl_res {
	QMGR_CTL_DONE,		/* done now */
	QMGR_CTL_LATER,		/* active: when its attempt ends */
	QMGR_CTL_NOTHING,	/* nothing to do (already so) */
	QMGR_CTL_GONE,		/* its file went meanwhile */
	QMGR_CTL_FAILED		/* logged */
};

/* One command: the verb, the tally, the folders it changed. */
struct qmgr_ctl {
	const struct qmgr_ctl_def *def;
	uint64_t		 now;
	unsigned int		 done;
	unsigned int		 later;
	unsigned int		 failed;
	bool			 dirty[QMGR_CTL_NDIRS];
};

static const struct qmgr_ctl_def *
qmgr_ctl_find(const char *name)
{
	size_t	i;

	for (i = 0; i < sizeof(qmgr_ctl_defs) / sizeof(qmgr_ctl_defs[0]); i++)
		if (strcmp(qmgr_ctl_defs[i].name, name) == 0)
			return &qmgr_ctl_defs[i];
	return NULL;
}

static const struct qmgr_ctl_def *
qmgr_ctl_def_of(enum qmgr_ctl_verb verb)
{
	size_t	i;

	for (i = 0; i < sizeof(qmgr_ctl_defs) / sizeof(qmgr_ctl_defs[0]); i++)
		if (qmgr_ctl_defs[i].verb == verb)
			return &qmgr_ctl_defs[i];
	log_panic("qmgr: control verb %d unknown", (int)verb);
}

/* Moves m's file into to; on ENOENT m is forgotten (freed). */
static enum qmgr_ctl_res
qmgr_ctl_move(struct qmgr_ctl *ctl, struct qmsg *m, enum qmgr_where to)
{
	enum qmgr_where	from = m->dir;

	if (qmgr_msg_move(m, to) == -1) {
		if (errno != ENOENT)
			return QMGR_CTL_FAILED;
		qmgr_msg_free(m);
		return QMGR_CTL_GONE;
	}
	ctl->dirty[from] = true;
	ctl->dirty[to] = true;
	return QMGR_CTL_DONE;
}

/* Removes m's file and forgets m. */
static enum qmgr_ctl_res
qmgr_ctl_remove(struct qmgr_ctl *ctl, struct qmsg *m)
{
	char	path[64];
	int	saved;

	(void)snprintf(path, sizeof(path), "%s/%s", qmgr_where_dir(m->dir),
	    m->id);
	if (unlink(path) == -1) {
		saved = errno;
		if (saved == ENOENT) {
			qmgr_msg_free(m);
			return QMGR_CTL_GONE;
		}
		log_q(LOG_ERR, m->id, "unlink %s: %s", path, strerror(saved));
		return QMGR_CTL_FAILED;
	}
	ctl->dirty[m->dir] = true;
	log_q(LOG_INFO, m->id, "removed (by postctl)");
	qmgr_msg_free(m);
	return QMGR_CTL_DONE;
}

/* A message in the middle of an attempt: remember what to do after it. */
static enum qmgr_ctl_res
qmgr_ctl_active(struct qmgr_ctl *ctl, struct qmsg *m)
{
	switch (ctl->def->verb) {
	case QMGR_CTL_HOLD:
		/* A later hold overrides a requeue; a delete stays. */
		if (m->ctl == QMGR_CTL_HOLD || m->ctl == QMGR_CTL_DELETE)
			return QMGR_CTL_NOTHING;
		m->ctl = QMGR_CTL_HOLD;
		return QMGR_CTL_LATER;
	case QMGR_CTL_RELEASE:
		if (m->ctl != QMGR_CTL_HOLD)
			return QMGR_CTL_NOTHING;
		m->ctl = QMGR_CTL_NONE;
		log_q(LOG_INFO, m->id, "%s (by postctl)", ctl->def->done);
		return QMGR_CTL_DONE;
	case QMGR_CTL_DELETE:
		if (m->ctl == QMGR_CTL_DELETE)
			return QMGR_CTL_NOTHING;
		m->ctl = QMGR_CTL_DELETE;
		return QMGR_CTL_LATER;
	case QMGR_CTL_REQUEUE:
		/* Releases a hold asked meanwhile, never undoes a delete. */
		if (m->ctl == QMGR_CTL_REQUEUE || m->ctl == QMGR_CTL_DELETE)
			return QMGR_CTL_NOTHING;
		m->ctl = QMGR_CTL_REQUEUE;
		return QMGR_CTL_LATER;
	case QMGR_CTL_FLUSH:
	case QMGR_CTL_NONE:
		break;
	}
	return QMGR_CTL_NOTHING;		/* being tried right now */
}

/* Applies the command to m; m may be freed. */
static enum qmgr_ctl_res
qmgr_ctl_one(struct qmgr_ctl *ctl, struct qmsg *m)
{
	enum qmgr_ctl_res	res;

	if (m->where == QMGR_ACTIVE)
		return qmgr_ctl_active(ctl, m);
	switch (ctl->def->verb) {
	case QMGR_CTL_HOLD:
		if (m->where == QMGR_HOLD)
			return QMGR_CTL_NOTHING;
		if ((res = qmgr_ctl_move(ctl, m, QMGR_HOLD)) != QMGR_CTL_DONE)
			return res;
		qmgr_msg_hold(m);
		break;
	case QMGR_CTL_RELEASE:
		if (m->where != QMGR_HOLD)
			return QMGR_CTL_NOTHING;
		if ((res = qmgr_ctl_move(ctl, m, QMGR_DEFERRED)) !=
		    QMGR_CTL_DONE)
			return res;
		qmgr_msg_defer(m, 0);
		break;
	case QMGR_CTL_DELETE:
		return qmgr_ctl_remove(ctl, m);
	case QMGR_CTL_REQUEUE:
		if (m->where == QMGR_HOLD && (res = qmgr_ctl_move(ctl, m,
		    QMGR_DEFERRED)) != QMGR_CTL_DONE)
			return res;
		m->backoff_from = ctl->now;
		/* An incoming message waits in its list, taken first. */
		if (m->where != QMGR_INCOMING)
			qmgr_msg_defer(m, 0);
		break;
	case QMGR_CTL_FLUSH:
		if (m->where != QMGR_DEFERRED)
			return QMGR_CTL_NOTHING;
		qmgr_msg_defer(m, 0);
		break;
	case QMGR_CTL_NONE:
		return QMGR_CTL_NOTHING;
	}
	log_q(LOG_INFO, m->id, "%s (by postctl)", ctl->def->done);
	return QMGR_CTL_DONE;
}

static void
qmgr_ctl_count(struct qmgr_ctl *ctl, enum qmgr_ctl_res res)
{
	switch (res) {
	case QMGR_CTL_DONE:
		ctl->done++;
		break;
	case QMGR_CTL_LATER:
		ctl->later++;
		break;
	case QMGR_CTL_FAILED:
		ctl->failed++;
		break;
	case QMGR_CTL_NOTHING:
	case QMGR_CTL_GONE:
		break;
	}
}

/* The renames and unlinks of the command survive a crash from here on. */
static void
qmgr_ctl_sync(const struct qmgr_ctl *ctl)
{
	const char	*error;
	unsigned int	 w;

	for (w = 0; w < QMGR_CTL_NDIRS; w++)
		if (ctl->dirty[w] &&
		    file_sync_dir(qmgr_where_dir((enum qmgr_where)w),
		    &error) == -1)
			log_warning("queue manager: %s", error);
}

/* Every message known, and every file of incoming/ not known yet. */
static void
qmgr_ctl_all(struct qmgr *qm, struct qmgr_ctl *ctl)
{
	char		(*ids)[QFILE_ID_SIZE];
	struct qmsg	*m;
	unsigned int	 i, n = 0;

	if (ctl->def->verb != QMGR_CTL_FLUSH &&
	    ctl->def->verb != QMGR_CTL_RELEASE)
		qmgr_msg_scan_incoming(qm);
	/* IDs, not pointers: the registry changes while we act. */
	ids = xcalloc((size_t)qm->nknown + 1, sizeof(*ids));
	for (i = 0; i < qm->hash_size; i++)
		for (m = qm->hash[i]; m != NULL && n < qm->nknown;
		    m = m->hnext)
			memcpy(ids[n++], m->id, QFILE_ID_SIZE);
	for (i = 0; i < n; i++)
		if ((m = qmgr_msg_find(qm, ids[i])) != NULL)
			qmgr_ctl_count(ctl, qmgr_ctl_one(ctl, m));
	free(ids);
}

/* "2 messages placed on hold, 1 more when its attempt ends". */
static void
qmgr_ctl_text(const struct qmgr_ctl *ctl, char *buf, size_t size)
{
	size_t	len;
	int	n;

	n = snprintf(buf, size, "%u message%s %s", ctl->done,
	    ctl->done == 1 ? "" : "s", ctl->def->done);
	len = n < 0 ? 0 : (size_t)n < size ? (size_t)n : size - 1;
	if (ctl->later > 0) {
		n = snprintf(buf + len, size - len, ", %u more when %s "
		    "attempt%s end%s", ctl->later,
		    ctl->later == 1 ? "its" : "their",
		    ctl->later == 1 ? "" : "s", ctl->later == 1 ? "s" : "");
		len = n < 0 ? len : len + (size_t)n < size ? len + (size_t)n :
		    size - 1;
	}
	if (ctl->failed > 0)
		(void)snprintf(buf + len, size - len, ", %u failed (see the "
		    "queue manager's log)", ctl->failed);
}

void
qmgr_control(struct qmgr *qm, struct ipc_conn *c, struct ipc_msg *msg)
{
	const struct qmgr_ctl_def	*def;
	struct qmgr_ctl			 ctl;
	struct qmsg			*m;
	enum qmgr_ctl_res		 res;
	const char			*verb, *id = NULL;
	char				 text[256];

	if (ipc_get_str(msg, "verb", QMGR_CTL_VERB_MAX, &verb) == -1 ||
	    (def = qmgr_ctl_find(verb)) == NULL) {
		log_warning("queue manager: %s: control request without a "
		    "valid verb", ipc_conn_peer(c));
		(void)ipc_conn_reply(c, IPC_ERROR, msg->peer_id,
		    "missing or unknown verb");
		return;
	}
	if (ipc_has(msg, "id") && (ipc_get_str(msg, "id", QFILE_ID_LEN,
	    &id) == -1 || !qfile_id_valid(id))) {
		log_warning("queue manager: %s: control request with an "
		    "invalid queue ID", ipc_conn_peer(c));
		(void)ipc_conn_reply(c, IPC_ERROR, msg->peer_id,
		    "invalid queue ID");
		return;
	}
	memset(&ctl, 0, sizeof(ctl));
	ctl.def = def;
	ctl.now = (uint64_t)time(NULL);
	if (id == NULL)
		qmgr_ctl_all(qm, &ctl);
	else if ((m = qmgr_msg_load(qm, id)) == NULL ||
	    (res = qmgr_ctl_one(&ctl, m)) == QMGR_CTL_GONE) {
		(void)snprintf(text, sizeof(text), "%s: no such message in "
		    "the queue", id);
		(void)ipc_conn_reply(c, IPC_ERROR, msg->peer_id, text);
		return;
	} else
		qmgr_ctl_count(&ctl, res);
	qmgr_ctl_sync(&ctl);
	qmgr_run(qm);			/* what became due, now */
	qmgr_ctl_text(&ctl, text, sizeof(text));
	(void)ipc_conn_reply(c, ctl.failed > 0 ? IPC_ERROR : IPC_OK,
	    msg->peer_id, text);
}

void
qmgr_control_settle(struct qmsg *m)
{
	struct qmgr_ctl	ctl;

	memset(&ctl, 0, sizeof(ctl));
	ctl.def = qmgr_ctl_def_of(m->ctl);
	ctl.now = (uint64_t)time(NULL);
	m->ctl = QMGR_CTL_NONE;
	(void)qmgr_ctl_one(&ctl, m);	/* m is no longer active */
	qmgr_ctl_sync(&ctl);
}
