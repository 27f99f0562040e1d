/* SPDX-License-Identifier: ISC */
/*
 * The scheduler of postern-queue-manager (qmgr.h has the folders and the
 * life of a message).  Everything runs on the event loop except the work
 * that must reach the disk before the queue manager acts on it, which a
 * sync thread does (workq.h): writing bounces, appending RESULT records,
 * removing a finished file, moving a file to deferred/.
 *
 * One attempt of a message: every recipient not yet final is resolved
 * with authd (RCPT lookup: local users after aliases, remote, unknown);
 * every local user's mailbox is looked up (USER lookup); each mailbox
 * gets one IPC_DELIVER, subject to queue_local_concurrency in all and
 * queue_mailbox_concurrency per mailbox.  A recipient's outcome is the
 * worst of its mailboxes' (deferred before failed before delivered).
 * When every recipient has one, the attempt is finished in a sync thread:
 *
 *  1. bounces first: one DSN for the recipients that failed and asked for
 *     it (RFC 3461 NOTIFY), one for NOTIFY=SUCCESS deliveries; a message
 *     from the null sender is reported to the postmaster instead, and a
 *     report to the postmaster that fails is only logged (no loops);
 *  2. then, when every recipient of the file is final, the file is
 *     removed (and active/ fsynced); otherwise each outcome is appended
 *     as a RESULT record (fsynced) and the file moves to deferred/.
 *
 * So a crash repeats at most the deliveries of the attempt it cut short,
 * and never loses a message or a bounce.  Retries wait as long as the
 * message is old, between queue_retry_min and queue_retry_max (so waits
 * roughly double); past queue_lifetime a deferred recipient fails with
 * 4.4.7.  The first attempt that ends queue_delay_warning after arrival
 * with recipients still deferred also writes a delay warning (step 1),
 * decided from the RESULT records alone (qmgr_warn_due()).  Deferred
 * messages wait in a heap by their next try, so the tick, once a second,
 * looks only at the due ones.
 */
#include "config.h"

#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/authd_client.h"
#include "common/conf.h"
#include "common/dsn.h"
#include "common/error.h"
#include "common/file.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/service.h"
#include "common/str.h"
#include "common/workq.h"
#include "common/xmalloc.h"
#include "qmgr.h"
#include "common/banned.h"

/* Bounds a queue file must keep (the largest smtpd may write). */
#define QMGR_MAX_RCPTS		100000
#define QMGR_MAX_RESULTS	1000000
/* Ready deliveries looked at per dispatch (keeps it O(1) per event). */
#define QMGR_DISPATCH_SCAN	1000

/* One recipient of the queue file, for one attempt. */
struct qrcpt {
	bool		 todo;		/* part of this attempt */
	unsigned int	 pending;	/* lookups and deliveries in flight */
	enum qfile_status outcome;	/* PENDING: none yet */
	char		 dsn[QFILE_DSN_MAX + 1];
	char		*text;
	struct authd_request *req;	/* the RCPT lookup */
	struct qmsg	*m;		/* the lookup's callback needs both */
	unsigned int	 i;
	char		*remote_mta;	/* the server of the last relay */
	bool		 relayed;	/* sent to a server without DSN */
	bool		 dsn_passed;	/* sent to a server with DSN */
};

/*
 * One relay job: recipients of one message for one next hop, at most
 * queue_destination_recipient_limit of them.  It is built while the
 * message's recipients are resolved (m->building), becomes ready when
 * the last lookup is back, and goes to the transfer agent when its
 * destination has room (queue_destination_concurrency) and the agent
 * has (queue_remote_concurrency).
 */
struct qrelay {
	TAILQ_ENTRY(qrelay)	 entry;		/* its dest's ready, or flight */
	struct qrelay		*next_build;	/* m->building */
	struct qmsg		*m;
	char			*nexthop;
	struct qdest		*dest;		/* once ready */
	unsigned int		 n;
	unsigned int		 size;
	unsigned int		*ridx;		/* recipient index, each */
	char			**addrs;	/* the address sent to */
	char			**orcpts;	/* NULL none */
	unsigned int		*notify;
};

/*
 * One next hop with relay jobs ready or in flight.  Dispatching walks the
 * destinations that have ready jobs and room, never the jobs that wait
 * behind a full destination.
 */
struct qdest {
	struct qdest		*next;		/* hash chain */
	TAILQ_ENTRY(qdest)	 entry;		/* qmgr_dest_waiting */
	bool			 waiting;	/* ready is not empty */
	char			*nexthop;
	unsigned int		 inflight;
	TAILQ_HEAD(, qrelay)	 ready;
};
#define QMGR_DEST_BUCKETS	1024

/* One mailbox delivery. */
struct qdeliv {
	TAILQ_ENTRY(qdeliv)	 entry;		/* lookup, ready or flight */
	struct qmsg		*m;
	unsigned int		 r;		/* recipient index */
	char			*user;
	char			*maildir;
	char			*folder;
	uint64_t		 quota;
	bool			 has_owner;	/* a Unix account owns it */
	uid_t			 uid;
	gid_t			 gid;
	struct authd_request	*req;		/* the USER lookup */
	bool			 sent;
};

/* What a sync thread does to finish an attempt, and what it found. */
struct qfinish {
	struct qmsg		*m;
	bool			 remove;	/* every recipient final */
	uint64_t		 now;
	uint64_t		 next_try;
	const char		*report_to;	/* NULL: the sender */
	struct dsn_rcpt		*fail;
	unsigned int		 nfail;
	struct dsn_rcpt		*succ;
	unsigned int		 nsucc;
	struct dsn_rcpt		*delay;		/* delay warning */
	unsigned int		 ndelay;
	unsigned int		*ridx;		/* results to record */
	struct qfile_result	*res;
	unsigned int		 nres;
	int			 rc;
	bool			 bounce_failed;
	char			 bounce_id[QFILE_ID_SIZE];
	char			 success_id[QFILE_ID_SIZE];
	char			 delay_id[QFILE_ID_SIZE];
	char			 delay_error[ERROR_MAX];
	char			 error[ERROR_MAX];
};

static TAILQ_HEAD(, qdeliv) qmgr_ready = TAILQ_HEAD_INITIALIZER(qmgr_ready);
static TAILQ_HEAD(, qdeliv) qmgr_flight = TAILQ_HEAD_INITIALIZER(qmgr_flight);
/* Deliveries waiting for their USER lookup. */
static TAILQ_HEAD(, qdeliv) qmgr_lookup = TAILQ_HEAD_INITIALIZER(qmgr_lookup);
static TAILQ_HEAD(, qdest) qmgr_dest_waiting =
    TAILQ_HEAD_INITIALIZER(qmgr_dest_waiting);
static TAILQ_HEAD(, qrelay) qmgr_relay_flight =
    TAILQ_HEAD_INITIALIZER(qmgr_relay_flight);
static struct qdest *qmgr_dests[QMGR_DEST_BUCKETS];

static void	qmgr_attempt(struct qmsg *m);
static void	qmgr_attempt_check(struct qmsg *m);
static void	qmgr_dispatch(struct qmgr *qm);
static void	qmgr_relay_dispatch(struct qmgr *qm);
static void	qmgr_dest_put(struct qdest *dest);
static void	qmgr_take(struct qmgr *qm, struct qmsg *m);

static uint64_t
qmgr_now(void)
{
	return (uint64_t)time(NULL);
}

/* delay= of the log lines: seconds since arrival, two decimals. */
static double
qmgr_delay(const struct qmsg *m)
{
	struct timespec	 ts;
	uint64_t	 now;

	if (clock_gettime(CLOCK_REALTIME, &ts) == -1)
		return 0;
	now = (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
	return now > m->arrival_usec ?
	    (double)(now - m->arrival_usec) / 1e6 : 0;
}

const char *
qmgr_where_dir(enum qmgr_where w)
{
	switch (w) {
	case QMGR_INCOMING:	return QFILE_DIR_INCOMING;
	case QMGR_ACTIVE:	return QMGR_DIR_ACTIVE;
	case QMGR_DEFERRED:	return QMGR_DIR_DEFERRED;
	case QMGR_HOLD:		return QMGR_DIR_HOLD;
	}
	return "?";
}

static void
qmgr_path(char *buf, size_t size, enum qmgr_where w, const char *id)
{
	(void)snprintf(buf, size, "%s/%s", qmgr_where_dir(w), id);
}

/* ---- the registry of known messages ----------------------------------- */

static unsigned int
qmgr_hash_of(const struct qmgr *qm, const char *id)
{
	uint32_t	h = 2166136261u;

	for (; *id != '\0'; id++)
		h = (h ^ (uint8_t)*id) * 16777619u;
	return h & (qm->hash_size - 1);
}

struct qmsg *
qmgr_msg_find(const struct qmgr *qm, const char *id)
{
	struct qmsg	*m;

	for (m = qm->hash[qmgr_hash_of(qm, id)]; m != NULL; m = m->hnext)
		if (strcmp(m->id, id) == 0)
			return m;
	return NULL;
}

static void
qmgr_rehash(struct qmgr *qm)
{
	struct qmsg	**old = qm->hash, *m, *next;
	unsigned int	  i, n = qm->hash_size;

	qm->hash_size *= 2;
	qm->hash = xcalloc(qm->hash_size, sizeof(*qm->hash));
	for (i = 0; i < n; i++)
		for (m = old[i]; m != NULL; m = next) {
			next = m->hnext;
			m->hnext = qm->hash[qmgr_hash_of(qm, m->id)];
			qm->hash[qmgr_hash_of(qm, m->id)] = m;
		}
	free(old);
}

static struct qmsg *
qmgr_msg_new(struct qmgr *qm, const char *id, enum qmgr_where w)
{
	struct qmsg	*m;
	unsigned int	 h;

	if (qm->nknown >= qm->hash_size)
		qmgr_rehash(qm);
	m = xcalloc(1, sizeof(*m));
	m->qm = qm;
	if (str_copy(m->id, sizeof(m->id), id) == -1)
		log_panic("qmgr: queue ID %s too long", id);
	m->where = w;
	m->dir = w;
	h = qmgr_hash_of(qm, id);
	m->hnext = qm->hash[h];
	qm->hash[h] = m;
	qm->nknown++;
	return m;
}

/* ---- the deferred heap: earliest next_try first ------------------------- */

static void
qmgr_heap_set(struct qmgr *qm, unsigned int i, struct qmsg *m)
{
	qm->deferred[i] = m;
	m->heap_idx = i;
}

static void
qmgr_heap_up(struct qmgr *qm, unsigned int i)
{
	struct qmsg	*m = qm->deferred[i];
	unsigned int	 parent;

	while (i > 0) {
		parent = (i - 1) / 2;
		if (qm->deferred[parent]->next_try <= m->next_try)
			break;
		qmgr_heap_set(qm, i, qm->deferred[parent]);
		i = parent;
	}
	qmgr_heap_set(qm, i, m);
}

static void
qmgr_heap_down(struct qmgr *qm, unsigned int i)
{
	struct qmsg	*m = qm->deferred[i];
	unsigned int	 child;

	for (;;) {
		/* UNSAFE: 2i + 1 fits: i < ndeferred, far below UINT_MAX/2. */
		child = 2 * i + 1;
		if (child >= qm->ndeferred)
			break;
		if (child + 1 < qm->ndeferred &&
		    qm->deferred[child + 1]->next_try <
		    qm->deferred[child]->next_try)
			child++;
		if (m->next_try <= qm->deferred[child]->next_try)
			break;
		qmgr_heap_set(qm, i, qm->deferred[child]);
		i = child;
	}
	qmgr_heap_set(qm, i, m);
}

static void
qmgr_heap_push(struct qmgr *qm, struct qmsg *m)
{
	if (qm->ndeferred == qm->deferred_size) {
		qm->deferred_size = qm->deferred_size == 0 ? 1024 :
		    qm->deferred_size * 2;
		qm->deferred = xreallocarray(qm->deferred, qm->deferred_size,
		    sizeof(*qm->deferred));
	}
	qmgr_heap_set(qm, qm->ndeferred, m);
	qm->ndeferred++;
	qmgr_heap_up(qm, qm->ndeferred - 1);
}

static void
qmgr_heap_remove(struct qmgr *qm, struct qmsg *m)
{
	unsigned int	 i = m->heap_idx;
	struct qmsg	*last;

	if (i >= qm->ndeferred || qm->deferred[i] != m)
		log_panic("qmgr: %s is not in the deferred heap", m->id);
	last = qm->deferred[--qm->ndeferred];
	if (last == m)
		return;
	qmgr_heap_set(qm, i, last);
	qmgr_heap_up(qm, i);
	qmgr_heap_down(qm, last->heap_idx);
}

/* ---- the lists ----------------------------------------------------------- */

static void
qmgr_unlist(struct qmsg *m)
{
	struct qmgr	*qm = m->qm;

	if (!m->listed)
		return;
	m->listed = false;
	switch (m->where) {
	case QMGR_ACTIVE:
		TAILQ_REMOVE(&qm->active, m, entry);
		qm->nactive--;
		break;
	case QMGR_DEFERRED:
		qmgr_heap_remove(qm, m);
		break;
	case QMGR_INCOMING:
		TAILQ_REMOVE(&qm->waiting, m, entry);
		break;
	case QMGR_HOLD:
		TAILQ_REMOVE(&qm->held, m, entry);
		break;
	}
}

/* Lists m on w's list; a deferred m goes by its next_try. */
static void
qmgr_list(struct qmsg *m, enum qmgr_where w)
{
	struct qmgr	*qm = m->qm;

	qmgr_unlist(m);
	m->where = w;
	m->listed = true;
	switch (w) {
	case QMGR_ACTIVE:
		TAILQ_INSERT_TAIL(&qm->active, m, entry);
		qm->nactive++;
		break;
	case QMGR_DEFERRED:
		qmgr_heap_push(qm, m);
		break;
	case QMGR_INCOMING:
		TAILQ_INSERT_TAIL(&qm->waiting, m, entry);
		break;
	case QMGR_HOLD:
		TAILQ_INSERT_TAIL(&qm->held, m, entry);
		break;
	}
}

void
qmgr_msg_defer(struct qmsg *m, uint64_t next_try)
{
	m->next_try = next_try;
	qmgr_list(m, QMGR_DEFERRED);
}

void
qmgr_msg_hold(struct qmsg *m)
{
	qmgr_list(m, QMGR_HOLD);
}

static void
qmgr_rcpts_free(struct qmsg *m)
{
	unsigned int	i;

	for (i = 0; i < m->nrcpt; i++) {
		authd_request_cancel(&m->rcpts[i].req);
		free(m->rcpts[i].text);
		free(m->rcpts[i].remote_mta);
	}
	free(m->rcpts);
	m->rcpts = NULL;
	m->nrcpt = 0;
}

static void
qmgr_deliv_free(struct qdeliv *d)
{
	authd_request_cancel(&d->req);
	d->m->ndeliv--;
	free(d->user);
	free(d->maildir);
	free(d->folder);
	free(d);
}

static void
qmgr_relay_free(struct qrelay *rl)
{
	unsigned int	 k;

	for (k = 0; k < rl->n; k++) {
		free(rl->addrs[k]);
		free(rl->orcpts[k]);
	}
	free(rl->ridx);
	free(rl->addrs);
	free(rl->orcpts);
	free(rl->notify);
	free(rl->nexthop);
	free(rl);
}

/* Forgets m entirely (its file is gone, or at exit). */
void
qmgr_msg_free(struct qmsg *m)
{
	struct qmgr	 *qm = m->qm;
	struct qmsg	**pp;
	struct qdeliv	 *d, *next;
	struct qrelay	 *rl, *rnext;
	struct qdest	 *dest, *dnext;

	qmgr_unlist(m);
	for (d = TAILQ_FIRST(&qmgr_ready); d != NULL; d = next) {
		next = TAILQ_NEXT(d, entry);
		if (d->m == m) {
			TAILQ_REMOVE(&qmgr_ready, d, entry);
			qmgr_deliv_free(d);
		}
	}
	for (d = TAILQ_FIRST(&qmgr_lookup); d != NULL; d = next) {
		next = TAILQ_NEXT(d, entry);
		if (d->m == m) {
			TAILQ_REMOVE(&qmgr_lookup, d, entry);
			qmgr_deliv_free(d);
		}
	}
	while ((rl = m->building) != NULL) {
		m->building = rl->next_build;
		qmgr_relay_free(rl);
	}
	for (dest = TAILQ_FIRST(&qmgr_dest_waiting); dest != NULL;
	    dest = dnext) {
		dnext = TAILQ_NEXT(dest, entry);
		for (rl = TAILQ_FIRST(&dest->ready); rl != NULL; rl = rnext) {
			rnext = TAILQ_NEXT(rl, entry);
			if (rl->m == m) {
				TAILQ_REMOVE(&dest->ready, rl, entry);
				qmgr_relay_free(rl);
			}
		}
		qmgr_dest_put(dest);
	}
	for (pp = &qm->hash[qmgr_hash_of(qm, m->id)]; *pp != NULL;
	    pp = &(*pp)->hnext)
		if (*pp == m) {
			*pp = m->hnext;
			break;
		}
	qm->nknown--;
	qmgr_rcpts_free(m);
	qfile_free(&m->q);
	free(m);
}

/* ---- loading ------------------------------------------------------------ */

/*
 * Opens m's file.  fresh: it was just taken from incoming/, where its
 * writer had given it up (qmgr_incoming_ready()); one that is incomplete
 * or older than its name was never acknowledged and is removed.
 */
static int
qmgr_open(struct qmsg *m, bool fresh)
{
	struct qfile_limits	 lim;
	char			 path[64];
	const char		*error;

	lim.max_message_size = QFILE_MESSAGE_MAX;
	lim.max_rcpts = QMGR_MAX_RCPTS;
	lim.max_results = QMGR_MAX_RESULTS;
	qmgr_path(path, sizeof(path), m->dir, m->id);
	if (qfile_open(path, &lim, &m->q, &error) == 0) {
		if (fresh && !qfile_arrival_matches_id(m->q)) {
			qfile_free(&m->q);
			error = "its content is older than its name";
			errno = ENODATA;
		} else {
			m->arrival_usec = qfile_arrival_usec(m->q);
			m->arrival = m->arrival_usec / 1000000;
			return 0;
		}
	}
	if (errno == ENOENT) {
		log_q(LOG_INFO, m->id, "gone from %s/ before it was read",
		    qmgr_where_dir(m->dir));
		return -1;
	}
	if (fresh && errno == ENODATA) {
		if (unlink(path) == 0)
			log_q(LOG_INFO, m->id, "removed: left unfinished by a "
			    "writer that ended mid-message (%s)", error);
		return -1;
	}
	if (qfile_corrupt(".", path, error, &error) == -1)
		log_q(LOG_ERR, m->id, "cannot move the bad queue file aside: "
		    "%s", error);
	return -1;
}

/* When deferred recipients are due: the earliest retry time recorded. */
static uint64_t
qmgr_due(const struct qfile *q)
{
	const struct qfile_result	*res;
	unsigned int			 i;
	uint64_t			 due = UINT64_MAX;

	for (i = 0; i < qfile_rcpt_count(q); i++) {
		res = qfile_rcpt_result(q, i);
		if (res->status == QFILE_STATUS_PENDING)
			return 0;
		if (res->status == QFILE_STATUS_DEFERRED && res->time < due)
			due = res->time;
	}
	return due == UINT64_MAX ? 0 : due;
}

/*
 * Takes m into active/ (renaming it there unless it is already) and
 * starts an attempt.  m must not be listed as active.
 */
/*
 * Whether the writer of m's file in incoming/ is done with it: it holds
 * a lock on the file from before the name appears until the file is
 * durable (qfile_writer_new()).  1: done (or dead), 0: still writing,
 * -1: the file is gone.
 */
static int
qmgr_incoming_ready(const struct qmsg *m)
{
	char	path[64];
	int	fd, busy;

	qmgr_path(path, sizeof(path), QMGR_INCOMING, m->id);
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd == -1) {
		if (errno != ENOENT)
			log_q(LOG_ERR, m->id, "open %s: %s", path,
			    strerror(errno));
		return -1;
	}
	busy = flock(fd, LOCK_SH | LOCK_NB) == -1 && errno == EWOULDBLOCK;
	(void)close(fd);
	return busy ? 0 : 1;
}

static void
qmgr_take(struct qmgr *qm, struct qmsg *m)
{
	char	from[64], to[64];
	bool	fresh = false;

	/* Still being written: its writer tells us when it is queued. */
	if (m->dir == QMGR_INCOMING && qmgr_incoming_ready(m) != 1) {
		qmgr_msg_free(m);
		return;
	}
	if (m->dir != QMGR_ACTIVE) {
		fresh = m->dir == QMGR_INCOMING;
		qmgr_path(from, sizeof(from), m->dir, m->id);
		qmgr_path(to, sizeof(to), QMGR_ACTIVE, m->id);
		if (rename(from, to) == -1) {
			if (errno != ENOENT)
				log_q(LOG_ERR, m->id, "rename %s to %s: %s",
				    from, to, strerror(errno));
			qmgr_msg_free(m);
			return;
		}
		m->dir = QMGR_ACTIVE;
	}
	(void)qm;
	qmgr_list(m, QMGR_ACTIVE);
	if (m->q == NULL && qmgr_open(m, fresh) == -1) {
		qmgr_msg_free(m);
		return;
	}
	qmgr_attempt(m);
}

void
qmgr_incoming(struct qmgr *qm, const char *id)
{
	struct qmsg	*m;

	if (!qfile_id_valid(id) || qmgr_msg_find(qm, id) != NULL)
		return;
	m = qmgr_msg_new(qm, id, QMGR_INCOMING);
	if (qm->nactive >= cfg->queue_active_limit ||
	    service_stopping(qm->sv)) {
		qmgr_list(m, QMGR_INCOMING);	/* taken when there is room */
		return;
	}
	qmgr_take(qm, m);
}

/*
 * Registers the file name in folder w, which is not known yet.  An
 * incoming file is taken at once when take is true and there is room.
 * Returns the message, or NULL when the file is not usable.
 */
static struct qmsg *
qmgr_scan_one(struct qmgr *qm, enum qmgr_where w, const char *name,
    bool take)
{
	struct qmsg	*m;

	switch (w) {
	case QMGR_INCOMING:
		if (take) {
			qmgr_incoming(qm, name);
			return qmgr_msg_find(qm, name);
		}
		m = qmgr_msg_new(qm, name, QMGR_INCOMING);
		qmgr_list(m, QMGR_INCOMING);
		return m;
	case QMGR_ACTIVE:
		/* Left by a crash: ours again at once. */
		m = qmgr_msg_new(qm, name, QMGR_ACTIVE);
		qmgr_take(qm, m);
		return qmgr_msg_find(qm, name);
	case QMGR_DEFERRED:
		m = qmgr_msg_new(qm, name, QMGR_DEFERRED);
		if (qmgr_open(m, false) == -1) {
			qmgr_msg_free(m);
			return NULL;
		}
		m->next_try = qmgr_due(m->q);
		qfile_free(&m->q);
		qmgr_list(m, QMGR_DEFERRED);
		return m;
	case QMGR_HOLD:
		m = qmgr_msg_new(qm, name, QMGR_HOLD);
		qmgr_list(m, QMGR_HOLD);
		return m;
	}
	return NULL;
}

/* Reads one folder: names that are queue IDs, and stale tmp.* files. */
static void
qmgr_scan(struct qmgr *qm, enum qmgr_where w, bool take)
{
	DIR		*dir;
	struct dirent	*de;
	struct stat	 st;
	char		 path[300];
	time_t		 now = time(NULL);

	if ((dir = opendir(qmgr_where_dir(w))) == NULL) {
		if (errno != ENOENT)
			log_error("opendir %s: %s", qmgr_where_dir(w),
			    strerror(errno));
		return;
	}
	while ((de = readdir(dir)) != NULL) {
		if (w == QMGR_INCOMING && strncmp(de->d_name,
		    QFILE_TMP_PREFIX, strlen(QFILE_TMP_PREFIX)) == 0) {
			(void)snprintf(path, sizeof(path), "%s/%s",
			    qmgr_where_dir(w), de->d_name);
			if (lstat(path, &st) == 0 &&
			    st.st_mtime + QMGR_STALE_TMP < now &&
			    unlink(path) == 0)
				log_info("removed %s, left by a session that "
				    "ended mid-message", path);
			continue;
		}
		if (!qfile_id_valid(de->d_name) ||
		    qmgr_msg_find(qm, de->d_name) != NULL)
			continue;
		(void)qmgr_scan_one(qm, w, de->d_name, take);
	}
	(void)closedir(dir);
}

void
qmgr_msg_scan_incoming(struct qmgr *qm)
{
	qmgr_scan(qm, QMGR_INCOMING, false);
}

struct qmsg *
qmgr_msg_load(struct qmgr *qm, const char *id)
{
	static const enum qmgr_where where[] = { QMGR_INCOMING,
	    QMGR_DEFERRED, QMGR_HOLD };
	struct qmsg	*m;
	struct stat	 st;
	char		 path[64];
	unsigned int	 i;

	if (!qfile_id_valid(id))
		return NULL;
	if ((m = qmgr_msg_find(qm, id)) != NULL)
		return m;
	for (i = 0; i < sizeof(where) / sizeof(where[0]); i++) {
		qmgr_path(path, sizeof(path), where[i], id);
		if (lstat(path, &st) == 0 && S_ISREG(st.st_mode))
			return qmgr_scan_one(qm, where[i], id, false);
	}
	return NULL;
}

int
qmgr_msg_move(struct qmsg *m, enum qmgr_where to)
{
	char	from[64], path[64];
	int	saved;

	if (m->where == QMGR_ACTIVE)
		log_panic("qmgr: %s moved while active", m->id);
	if (m->dir == to)
		return 0;
	qmgr_path(from, sizeof(from), m->dir, m->id);
	qmgr_path(path, sizeof(path), to, m->id);
	if (rename(from, path) == -1) {
		saved = errno;
		if (saved != ENOENT)
			log_q(LOG_ERR, m->id, "rename %s to %s: %s", from,
			    path, strerror(saved));
		else
			log_q(LOG_INFO, m->id, "gone from %s/",
			    qmgr_where_dir(m->dir));
		errno = saved;
		return -1;
	}
	m->dir = to;
	return 0;
}

/* ---- an attempt: resolve, look up, deliver ------------------------------ */

static void
qmgr_outcome(struct qmsg *m, unsigned int i, enum qfile_status st,
    const char *dsn, const char *text)
{
	struct qrcpt	*r = &m->rcpts[i];

	/* The worst wins: deferred, then failed, then delivered. */
	if (r->outcome == QFILE_STATUS_DEFERRED ||
	    (r->outcome == QFILE_STATUS_FAILED &&
	    st != QFILE_STATUS_DEFERRED))
		return;
	if (r->outcome == QFILE_STATUS_PENDING || st != r->outcome) {
		r->outcome = st;
		if (str_copy(r->dsn, sizeof(r->dsn), dsn) == -1)
			r->dsn[0] = '\0';
		free(r->text);
		r->text = xstrdup(text);
	}
}

/* One lookup or delivery of recipient i ended. */
static void
qmgr_rcpt_step(struct qmsg *m, unsigned int i)
{
	struct qrcpt	*r = &m->rcpts[i];

	if (--r->pending > 0)
		return;
	if (r->outcome == QFILE_STATUS_PENDING)
		qmgr_outcome(m, i, QFILE_STATUS_DEFERRED, "4.3.0",
		    "no delivery made");
	m->pending--;
	qmgr_attempt_check(m);
}

static void
qmgr_log_delivery(const struct qmsg *m, const char *user, const char *rcpt,
    const struct qmgr_outcome *o)
{
	const char	*status;

	status = o->status == QFILE_STATUS_DELIVERED ? "sent" :
	    o->status == QFILE_STATUS_FAILED ? "bounced" : "deferred";
	if (strcmp(user, rcpt) == 0)
		log_q(LOG_INFO, m->id, "to=<%s>, relay=local, delay=%.2f, "
		    "dsn=%s, status=%s (%s)", log_safe(user), qmgr_delay(m),
		    o->dsn, status, log_safe(o->text));
	else
		log_q(LOG_INFO, m->id, "to=<%s>, orig_to=<%s>, relay=local, "
		    "delay=%.2f, dsn=%s, status=%s (%s)", log_safe(user),
		    log_safe(rcpt), qmgr_delay(m), o->dsn, status,
		    log_safe(o->text));
}

static void
qmgr_delivered(const struct qmgr_outcome *o, void *ctx)
{
	struct qdeliv	*d = ctx;
	struct qmsg	*m = d->m;
	struct qmgr	*qm = m->qm;
	unsigned int	 i = d->r;

	TAILQ_REMOVE(&qmgr_flight, d, entry);
	qmgr_log_delivery(m, d->user, qfile_rcpt(m->q, i)->addr, o);
	qmgr_outcome(m, i, o->status, o->dsn, o->text);
	qmgr_deliv_free(d);
	qmgr_rcpt_step(m, i);
	qmgr_dispatch(qm);
}

/* Deliveries in flight into the same mailbox. */
static unsigned int
qmgr_mailbox_busy(const char *maildir)
{
	struct qdeliv	*d;
	unsigned int	 n = 0;

	TAILQ_FOREACH(d, &qmgr_flight, entry)
		if (strcmp(d->maildir, maildir) == 0)
			n++;
	return n;
}

static void
qmgr_dispatch(struct qmgr *qm)
{
	struct qmgr_delivery	 dl;
	struct qdeliv		*d, *next;
	uint64_t		 off, len;
	unsigned int		 scanned = 0;

	for (d = TAILQ_FIRST(&qmgr_ready); d != NULL &&
	    scanned < QMGR_DISPATCH_SCAN; d = next, scanned++) {
		next = TAILQ_NEXT(d, entry);
		if (qmgr_agent_busy(qm->agent) >= cfg->queue_local_concurrency)
			return;
		if (qmgr_mailbox_busy(d->maildir) >=
		    cfg->queue_mailbox_concurrency)
			continue;
		TAILQ_REMOVE(&qmgr_ready, d, entry);
		TAILQ_INSERT_TAIL(&qmgr_flight, d, entry);
		qfile_message(d->m->q, &off, &len);
		memset(&dl, 0, sizeof(dl));
		dl.id = d->m->id;
		dl.sender = qfile_mail(d->m->q)->sender;
		dl.rcpt = qfile_rcpt(d->m->q, d->r)->addr;
		dl.user = d->user;
		dl.maildir = d->maildir;
		dl.quota = d->quota;
		dl.folder = d->folder;
		dl.offset = off;
		dl.length = len;
		dl.arrival = d->m->arrival_usec;
		dl.fd = qfile_fd(d->m->q);
		dl.has_owner = d->has_owner;
		dl.uid = d->uid;
		dl.gid = d->gid;
		d->sent = true;
		qmgr_agent_deliver(qm->agent, &dl, qmgr_delivered, d);
	}
}

/* ---- relays (the transfer agent) ---------------------------------------- */

static struct qdest **
qmgr_dest_slot(const char *nexthop)
{
	struct qdest	**pp;
	uint32_t	  h = 2166136261u;
	const char	 *p;

	for (p = nexthop; *p != '\0'; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	for (pp = &qmgr_dests[h % QMGR_DEST_BUCKETS]; *pp != NULL;
	    pp = &(*pp)->next)
		if (strcmp((*pp)->nexthop, nexthop) == 0)
			break;
	return pp;
}

static struct qdest *
qmgr_dest_get(const char *nexthop)
{
	struct qdest	**slot = qmgr_dest_slot(nexthop), *dest;

	if ((dest = *slot) == NULL) {
		dest = xcalloc(1, sizeof(*dest));
		dest->nexthop = xstrdup(nexthop);
		TAILQ_INIT(&dest->ready);
		*slot = dest;
	}
	return dest;
}

/* Keeps dest up to date on the waiting list; frees it when unused. */
static void
qmgr_dest_put(struct qdest *dest)
{
	struct qdest	**pp;

	if (dest->waiting && TAILQ_EMPTY(&dest->ready)) {
		TAILQ_REMOVE(&qmgr_dest_waiting, dest, entry);
		dest->waiting = false;
	} else if (!dest->waiting && !TAILQ_EMPTY(&dest->ready)) {
		TAILQ_INSERT_TAIL(&qmgr_dest_waiting, dest, entry);
		dest->waiting = true;
	}
	if (dest->inflight > 0 || dest->waiting)
		return;
	pp = qmgr_dest_slot(dest->nexthop);
	*pp = dest->next;
	free(dest->nexthop);
	free(dest);
}

/* The domain of addr ("" when it has none). */
static const char *
qmgr_domain(const char *addr)
{
	const char	*at = strrchr(addr, '@');

	return at != NULL ? at + 1 : "";
}

/*
 * Adds recipient i of m, sent as addr, to m's relay job for transport
 * ("smtp:NEXTHOP" from authd).  Returns 0, or -1 with *why_r when the
 * transport is not one we can relay with.
 */
static int
qmgr_relay_add(struct qmsg *m, unsigned int i, const char *addr,
    const char *orcpt, const char *transport, const char **why_r)
{
	const struct qfile_rcpt	*qr = qfile_rcpt(m->q, i);
	struct qrelay		*rl;
	const char		*nexthop;
	unsigned int		 k;

	if (transport == NULL || transport[0] == '\0')
		nexthop = qmgr_domain(addr);
	else if (strncmp(transport, "smtp:", 5) == 0)
		nexthop = transport + 5;
	else if (strncmp(transport, "relay:", 6) == 0)
		nexthop = transport + 6;
	else {
		*why_r = "transport not supported for relaying";
		return -1;
	}
	if (nexthop[0] == '\0')
		nexthop = qmgr_domain(addr);
	if (nexthop[0] == '\0') {
		*why_r = "no domain to relay to";
		return -1;
	}
	for (rl = m->building; rl != NULL; rl = rl->next_build)
		if (rl->n < cfg->queue_destination_recipient_limit &&
		    strcmp(rl->nexthop, nexthop) == 0)
			break;
	if (rl == NULL) {
		rl = xcalloc(1, sizeof(*rl));
		rl->m = m;
		rl->nexthop = xstrdup(nexthop);
		rl->next_build = m->building;
		m->building = rl;
	}
	if (rl->n == rl->size) {
		rl->size = rl->size == 0 ? 4 : rl->size * 2;
		rl->ridx = xreallocarray(rl->ridx, rl->size,
		    sizeof(*rl->ridx));
		rl->addrs = xreallocarray(rl->addrs, rl->size,
		    sizeof(*rl->addrs));
		rl->orcpts = xreallocarray(rl->orcpts, rl->size,
		    sizeof(*rl->orcpts));
		rl->notify = xreallocarray(rl->notify, rl->size,
		    sizeof(*rl->notify));
	}
	k = rl->n++;
	rl->ridx[k] = i;
	rl->addrs[k] = xstrdup(addr);
	rl->orcpts[k] = orcpt != NULL ? xstrdup(orcpt) : NULL;
	rl->notify[k] = qr->notify;
	m->rcpts[i].pending++;
	return 0;
}

/* m's last lookup is back: its relay jobs may go. */
static void
qmgr_relay_release(struct qmsg *m)
{
	struct qrelay	*rl;

	if (m->building == NULL)
		return;
	while ((rl = m->building) != NULL) {
		m->building = rl->next_build;
		rl->next_build = NULL;
		rl->dest = qmgr_dest_get(rl->nexthop);
		TAILQ_INSERT_TAIL(&rl->dest->ready, rl, entry);
		qmgr_dest_put(rl->dest);
	}
	qmgr_relay_dispatch(m->qm);
}

/* The host part of "host[addr]:port", for Remote-MTA. */
static char *
qmgr_relay_host(const char *relay)
{
	const char	*b = strchr(relay, '[');

	if (strcmp(relay, "none") == 0)
		return NULL;
	return b != NULL ? xstrndup(relay, (size_t)(b - relay)) :
	    xstrdup(relay);
}

static void
qmgr_relayed(const struct qmgr_relay_result *res, void *ctx)
{
	struct qrelay			*rl = ctx;
	struct qmsg			*m = rl->m;
	struct qmgr			*qm = m->qm;
	const struct qmgr_outcome	*o;
	const char			*rcpt, *status;
	struct qrcpt			*r;
	unsigned int			 k, i, n = rl->n, *ridx;

	TAILQ_REMOVE(&qmgr_relay_flight, rl, entry);
	qm->nrelays--;
	rl->dest->inflight--;
	qmgr_dest_put(rl->dest);
	for (k = 0; k < n && k < res->n; k++) {
		o = &res->outcomes[k];
		i = rl->ridx[k];
		r = &m->rcpts[i];
		rcpt = qfile_rcpt(m->q, i)->addr;
		status = o->status == QFILE_STATUS_DELIVERED ? "sent" :
		    o->status == QFILE_STATUS_FAILED ? "bounced" : "deferred";
		log_q(LOG_INFO, m->id, "to=<%s>%s%s%s, relay=%s, delay=%.2f, "
		    "%s%s%sdsn=%s, status=%s (%s)", log_safe(rl->addrs[k]),
		    strcmp(rcpt, rl->addrs[k]) != 0 ? ", orig_to=<" : "",
		    strcmp(rcpt, rl->addrs[k]) != 0 ? log_safe(rcpt) : "",
		    strcmp(rcpt, rl->addrs[k]) != 0 ? ">" : "",
		    log_safe(res->relay), qmgr_delay(m),
		    res->tls != NULL ? "tls=" : "",
		    res->tls != NULL ? log_safe(res->tls) : "",
		    res->tls != NULL ? ", " : "", o->dsn, status,
		    log_safe(o->text));
		free(r->remote_mta);
		r->remote_mta = qmgr_relay_host(res->relay);
		if (o->status == QFILE_STATUS_DELIVERED) {
			if (res->dsn_passed)
				r->dsn_passed = true;
			else
				r->relayed = true;
		}
		qmgr_outcome(m, i, o->status, o->dsn, o->text);
	}
	/* An answer short of recipients: the rest are deferred. */
	for (; k < n; k++)
		qmgr_outcome(m, rl->ridx[k], QFILE_STATUS_DEFERRED, "4.3.0",
		    "no answer from the transfer agent");
	ridx = rl->ridx;
	rl->ridx = NULL;
	qmgr_relay_free(rl);
	for (k = 0; k < n; k++)
		qmgr_rcpt_step(m, ridx[k]);
	free(ridx);
	qmgr_relay_dispatch(qm);
}

static void
qmgr_relay_dispatch(struct qmgr *qm)
{
	const struct qfile_mail	*mail;
	struct qmgr_relay	 rq;
	struct qrelay		*rl;
	struct qdest		*dest, *next;
	uint64_t		 off, len;
	unsigned int		 scanned = 0;

	for (dest = TAILQ_FIRST(&qmgr_dest_waiting); dest != NULL &&
	    scanned < QMGR_DISPATCH_SCAN; dest = next, scanned++) {
		next = TAILQ_NEXT(dest, entry);
		if (qm->nrelays >= cfg->queue_remote_concurrency)
			return;
		if (dest->inflight >= cfg->queue_destination_concurrency)
			continue;
		rl = TAILQ_FIRST(&dest->ready);
		TAILQ_REMOVE(&dest->ready, rl, entry);
		TAILQ_INSERT_TAIL(&qmgr_relay_flight, rl, entry);
		dest->inflight++;
		qm->nrelays++;
		/* Round robin: the next job of dest waits behind the others. */
		TAILQ_REMOVE(&qmgr_dest_waiting, dest, entry);
		dest->waiting = false;
		qmgr_dest_put(dest);
		if (dest->waiting && next == NULL)
			next = dest;
		mail = qfile_mail(rl->m->q);
		qfile_message(rl->m->q, &off, &len);
		memset(&rq, 0, sizeof(rq));
		rq.id = rl->m->id;
		rq.sender = mail->sender;
		rq.nexthop = rl->nexthop;
		rq.envid = mail->envid;
		rq.body = mail->body;
		rq.ret = mail->ret;
		rq.smtputf8 = mail->smtputf8;
		rq.rcpts = (const char *const *)rl->addrs;
		rq.orcpts = (const char *const *)rl->orcpts;
		rq.notify = rl->notify;
		rq.n = rl->n;
		rq.offset = off;
		rq.length = len;
		rq.arrival = rl->m->arrival_usec;
		rq.fd = qfile_fd(rl->m->q);
		qmgr_agent_relay(qm->relay, &rq, qmgr_relayed, rl);
	}
}

static void
qmgr_user_found(const struct authd_user_reply *u, void *ctx)
{
	struct qdeliv	*d = ctx;
	struct qmsg	*m = d->m;
	unsigned int	 i = d->r;

	d->req = NULL;
	TAILQ_REMOVE(&qmgr_lookup, d, entry);
	if (u->status != AUTHD_OK || u->maildir == NULL ||
	    u->maildir[0] != '/') {
		if (u->status == AUTHD_FAIL)
			qmgr_outcome(m, i, QFILE_STATUS_FAILED, "5.1.1",
			    "mailbox unknown");
		else
			qmgr_outcome(m, i, QFILE_STATUS_DEFERRED, "4.3.0",
			    "user database unavailable");
		qmgr_deliv_free(d);
		qmgr_rcpt_step(m, i);
		return;
	}
	d->maildir = xstrdup(u->maildir);
	d->quota = u->quota;
	d->has_owner = u->has_owner;
	d->uid = u->uid;
	d->gid = u->gid;
	TAILQ_INSERT_TAIL(&qmgr_ready, d, entry);
	qmgr_dispatch(m->qm);
}

/* The sub-address of rcpt (alice+lists@ -> "lists"), or "". */
static char *
qmgr_folder(const char *rcpt)
{
	const char	*at, *p;
	const char	*delim = cfg->recipient_delimiter;

	if (delim[0] == '\0' || (at = strrchr(rcpt, '@')) == NULL)
		return xstrdup("");
	for (p = rcpt; p < at; p++)
		if (strchr(delim, *p) != NULL)
			return xstrndup(p + 1, (size_t)(at - p - 1));
	return xstrdup("");
}

static void
qmgr_rcpt_resolved(const struct authd_rcpt_reply *a, void *ctx)
{
	struct qrcpt	*r = ctx;
	struct qmsg	*m = r->m;
	unsigned int	 i = r->i, n, k = 0;
	struct qdeliv	*d;
	const char	*addr = qfile_rcpt(m->q, i)->addr, *orcpt, *why;
	char		*folder, *oalloc = NULL;

	r->req = NULL;
	switch (a->result) {
	case AUTHD_RCPT_LOCAL:
		folder = qmgr_folder(addr);
		for (n = 0; a->deliver != NULL && a->deliver[n] != NULL; n++) {
			d = xcalloc(1, sizeof(*d));
			d->m = m;
			d->r = i;
			d->user = xstrdup(a->deliver[n]);
			d->folder = xstrdup(folder);
			m->ndeliv++;
			r->pending++;
			TAILQ_INSERT_TAIL(&qmgr_lookup, d, entry);
			d->req = authd_client_user(m->qm->authd, d->user,
			    qmgr_user_found, d);
		}
		free(folder);
		for (k = 0; a->forward != NULL && a->forward[k] != NULL;
		    k++) {
			orcpt = qfile_rcpt(m->q, i)->orcpt;
			if (orcpt == NULL)
				orcpt = oalloc = xasprintf("rfc822;%s", addr);
			if (qmgr_relay_add(m, i, a->forward[k], orcpt,
			    a->forward_transports != NULL ?
			    a->forward_transports[k] : NULL, &why) == -1)
				qmgr_outcome(m, i, QFILE_STATUS_DEFERRED,
				    "4.3.5", why);
			free(oalloc);
			oalloc = NULL;
		}
		if (n == 0 && k == 0)
			qmgr_outcome(m, i, QFILE_STATUS_FAILED, "5.1.1",
			    "no mailbox for this address");
		break;
	case AUTHD_RCPT_REMOTE:
		if (qmgr_relay_add(m, i, addr, qfile_rcpt(m->q, i)->orcpt,
		    a->transport, &why) == -1) {
			qmgr_outcome(m, i, QFILE_STATUS_DEFERRED, "4.3.5",
			    why);
			log_q(LOG_INFO, m->id, "to=<%s>, relay=none, delay=%.2f, "
			    "dsn=4.3.5, status=deferred (%s: %s)",
			    log_safe(addr), qmgr_delay(m), why,
			    log_safe(a->transport != NULL ? a->transport : ""));
		}
		break;
	case AUTHD_RCPT_UNKNOWN:
		qmgr_outcome(m, i, QFILE_STATUS_FAILED, "5.1.1",
		    "user unknown");
		log_q(LOG_INFO, m->id, "to=<%s>, relay=local, delay=%.2f, "
		    "dsn=5.1.1, status=bounced (user unknown)",
		    log_safe(addr), qmgr_delay(m));
		break;
	case AUTHD_RCPT_TEMPFAIL:
	default:
		qmgr_outcome(m, i, QFILE_STATUS_DEFERRED, "4.3.0",
		    "address lookup failed (authd)");
		break;
	}
	/* The last lookup: the relay jobs are complete. */
	if (--m->nlookup == 0)
		qmgr_relay_release(m);
	qmgr_rcpt_step(m, i);
}

/* Starts an attempt of every recipient of m that is not final. */
static void
qmgr_attempt(struct qmsg *m)
{
	const struct qfile_result	*res;
	unsigned int			 i, n;

	n = qfile_rcpt_count(m->q);
	m->rcpts = xcalloc(n, sizeof(*m->rcpts));
	m->nrcpt = n;
	m->pending = 0;
	for (i = 0; i < n; i++) {
		res = qfile_rcpt_result(m->q, i);
		if (res->status == QFILE_STATUS_DELIVERED ||
		    res->status == QFILE_STATUS_FAILED)
			continue;
		m->rcpts[i].todo = true;
		m->rcpts[i].pending = 1;	/* the lookup */
		m->rcpts[i].m = m;
		m->rcpts[i].i = i;
		m->pending++;
		m->nlookup++;
	}
	if (m->pending == 0) {			/* all final: only remove */
		qmgr_attempt_check(m);
		return;
	}
	/* The callbacks may finish the attempt: count first, then ask. */
	m->pending++;
	for (i = 0; i < n; i++) {
		if (!m->rcpts[i].todo)
			continue;
		m->rcpts[i].req = authd_client_rcpt(m->qm->authd,
		    qfile_rcpt(m->q, i)->addr, "", false, qmgr_rcpt_resolved,
		    &m->rcpts[i]);
	}
	m->pending--;
	qmgr_attempt_check(m);
}

/* ---- finishing an attempt ----------------------------------------------- */

static void
qmgr_finish_work(void *arg)
{
	struct qfinish		*f = arg;
	struct qmsg		*m = f->m;
	struct dsn_params	 p;
	const char		*error;
	char			 path[64], to[64];
	unsigned int		 i;

	memset(&p, 0, sizeof(p));
	p.hostname = m->qm->hostname;
	p.postmaster = m->qm->postmaster;
	p.to = f->report_to;
	p.size_limit = cfg->bounce_size_limit;
	p.now = f->now;
	f->rc = 0;
	if (f->nfail > 0 && dsn_write(".", m->q, DSN_FAILURE, f->fail,
	    f->nfail, &p, f->bounce_id, &error) == -1) {
		(void)snprintf(f->error, sizeof(f->error), "bounce: %s",
		    error);
		f->bounce_failed = true;
		f->rc = -1;
		return;			/* nothing recorded: all again later */
	}
	if (f->nsucc > 0 && dsn_write(".", m->q, DSN_SUCCESS, f->succ,
	    f->nsucc, &p, f->success_id, &error) == -1)
		f->success_id[0] = '\0';	/* a report, not a message */
	/*
	 * The delay warning is a report too: one that cannot be written is
	 * logged, not retried (the RESULT records below make this attempt
	 * the one that warned).  It goes to the sender, never to <>.
	 */
	p.to = NULL;
	if (f->ndelay > 0 && dsn_write(".", m->q, DSN_DELAY, f->delay,
	    f->ndelay, &p, f->delay_id, &error) == -1) {
		f->delay_id[0] = '\0';
		(void)snprintf(f->delay_error, sizeof(f->delay_error), "%s",
		    error);
	}
	qmgr_path(path, sizeof(path), QMGR_ACTIVE, m->id);
	if (f->remove) {
		if (qfile_recycle_put(".", path, m->id) == -1 &&
		    errno != ENOENT) {
			(void)snprintf(f->error, sizeof(f->error),
			    "remove %s: %s", path, strerror(errno));
			f->rc = -1;
			return;
		}
		/*
		 * No fsync of active/ here, as Postfix does none after it
		 * removes a delivered file: the unlink only has to survive
		 * a process crash, which it does; after a power loss the file
		 * may come back and its recipients get the message twice,
		 * which DESIGN.md allows.  It saves one fsync per message.
		 */
		return;
	}
	for (i = 0; i < f->nres; i++)
		if (qfile_set_rcpt_status(m->q, f->ridx[i], &f->res[i],
		    &error) == -1) {
			(void)snprintf(f->error, sizeof(f->error), "%s", error);
			f->rc = -1;
			return;
		}
	qmgr_path(to, sizeof(to), QMGR_DEFERRED, m->id);
	if (rename(path, to) == -1) {
		(void)snprintf(f->error, sizeof(f->error), "rename %s to %s: "
		    "%s", path, to, strerror(errno));
		f->rc = -1;
	}
}

static void
qmgr_finish_free(struct qfinish *f)
{
	free(f->fail);
	free(f->succ);
	free(f->delay);
	free(f->ridx);
	free(f->res);
	free(f);
}

static void
qmgr_finish_done(void *arg)
{
	struct qfinish	*f = arg;
	struct qmsg	*m = f->m;
	struct qmgr	*qm = m->qm;

	m->syncing = false;
	if (f->bounce_id[0] != '\0') {
		log_q(LOG_INFO, m->id, "sender non-delivery notification: %s",
		    f->bounce_id);
		qmgr_incoming(qm, f->bounce_id);
	}
	if (f->success_id[0] != '\0') {
		log_q(LOG_INFO, m->id, "sender delivery status notification: "
		    "%s", f->success_id);
		qmgr_incoming(qm, f->success_id);
	}
	if (f->delay_id[0] != '\0') {
		log_q(LOG_INFO, m->id, "sender delay notification: %s",
		    f->delay_id);
		qmgr_incoming(qm, f->delay_id);
	} else if (f->delay_error[0] != '\0')
		log_q(LOG_WARNING, m->id, "no delay notification: %s",
		    f->delay_error);
	if (f->rc == -1) {
		/*
		 * Nothing (or not all) was recorded: the file stays in
		 * active/ and is tried again after the minimum wait; the
		 * deliveries of this attempt may then repeat.
		 */
		log_q(LOG_ERR, m->id, "cannot record the attempt: %s",
		    f->error);
		qmgr_rcpts_free(m);
		qfile_free(&m->q);
		/* Its file stays in active/. */
		qmgr_msg_defer(m, f->now + cfg->queue_retry_min);
	} else if (f->remove) {
		if (f->error[0] != '\0')
			log_q(LOG_WARNING, m->id, "%s", f->error);
		log_q(LOG_INFO, m->id, "removed");
		qmgr_msg_free(m);
		m = NULL;
	} else {
		qmgr_rcpts_free(m);
		qfile_free(&m->q);
		m->dir = QMGR_DEFERRED;
		qmgr_msg_defer(m, f->next_try);
	}
	qmgr_finish_free(f);
	/* What postctl asked while the attempt ran. */
	if (m != NULL && m->ctl != QMGR_CTL_NONE)
		qmgr_control_settle(m);
}

/*
 * When to try again: after as long as the message has been queued (or
 * since postctl requeued it), at least queue_retry_min and at most
 * queue_retry_max, so the waits roughly double.  When the delay warning
 * is due before that, the next attempt is then instead, so that the
 * attempt that finds the message late is not a long wait away
 * (qmgr_warn_due()).
 */
static uint64_t
qmgr_backoff(const struct qmsg *m, uint64_t now)
{
	uint64_t	from, age, warn;

	from = m->backoff_from > m->arrival ? m->backoff_from : m->arrival;
	age = now > from ? now - from : 0;
	if (age < cfg->queue_retry_min)
		age = cfg->queue_retry_min;
	if (age > cfg->queue_retry_max)
		age = cfg->queue_retry_max;
	if (cfg->queue_delay_warning > 0) {
		warn = m->arrival + cfg->queue_delay_warning;
		if (warn > now && warn < now + age)
			return warn;
	}
	return now + age;
}

/*
 * Whether the attempt ending now sends recipient i's delay warning: it is
 * the first attempt that ends at or after arrival + queue_delay_warning.
 * Nothing is stored for that.  The attempt before this one recorded when
 * it planned the next (its RESULT time; none: the arrival), and
 * qmgr_backoff() never plans past the threshold from before it, so a plan
 * at or before the threshold means that no attempt has ended after it
 * yet, while every attempt that ended after it planned the next one
 * later.  A restart keeps the answer; a crash before the RESULT records
 * are written may send the warning twice, as it may a bounce.
 */
static bool
qmgr_warn_due(const struct qmsg *m, unsigned int i, uint64_t now)
{
	const struct qfile_result	*prev = qfile_rcpt_result(m->q, i);
	uint64_t			 warn, planned;

	if (cfg->queue_delay_warning == 0)
		return false;
	warn = m->arrival + cfg->queue_delay_warning;
	planned = prev->status == QFILE_STATUS_DEFERRED ? prev->time :
	    m->arrival;
	return now >= warn && planned <= warn;
}

static void
qmgr_dsn_rcpt(struct dsn_rcpt *dr, const struct qmsg *m, unsigned int i,
    uint64_t now)
{
	const struct qfile_rcpt	*qr = qfile_rcpt(m->q, i);

	memset(dr, 0, sizeof(*dr));
	dr->addr = qr->addr;
	dr->orcpt = qr->orcpt;
	dr->status = m->rcpts[i].dsn;
	dr->diag = m->rcpts[i].text != NULL ? m->rcpts[i].text : "";
	dr->remote_mta = m->rcpts[i].remote_mta;
	dr->last_attempt = now;
}

/*
 * Every recipient has its outcome: hand the attempt to a sync thread.
 * Even a delivered file that only goes to recycle/ goes there: its
 * truncate frees blocks, and done here it held up the loop enough that
 * deliveries fell behind smtpd at 100 sessions (bench/README.md).
 */
static void
qmgr_attempt_check(struct qmsg *m)
{
	struct qfinish			*f;
	const struct qfile_rcpt		*qr;
	const struct qfile_result	*old;
	struct qrcpt			*r;
	unsigned int			 i, nfinal = 0;
	uint64_t			 now = qmgr_now();
	bool				 null_sender, expired;
	char				 why[80];

	if (m->pending > 0 || m->syncing)
		return;
	m->syncing = true;
	f = xcalloc(1, sizeof(*f));
	f->m = m;
	f->now = now;
	f->next_try = qmgr_backoff(m, now);
	f->fail = xcalloc(m->nrcpt + 1, sizeof(*f->fail));
	f->succ = xcalloc(m->nrcpt + 1, sizeof(*f->succ));
	f->delay = xcalloc(m->nrcpt + 1, sizeof(*f->delay));
	f->ridx = xcalloc(m->nrcpt + 1, sizeof(*f->ridx));
	f->res = xcalloc(m->nrcpt + 1, sizeof(*f->res));
	null_sender = qfile_mail(m->q)->sender[0] == '\0';
	expired = now >= m->arrival + cfg->queue_lifetime;
	(void)snprintf(why, sizeof(why), "delivery time expired after %"
	    PRIu64 " hours in the queue", (now - m->arrival) / 3600);
	for (i = 0; i < m->nrcpt; i++) {
		r = &m->rcpts[i];
		qr = qfile_rcpt(m->q, i);
		if (!r->todo) {
			old = qfile_rcpt_result(m->q, i);
			if (old->status == QFILE_STATUS_DELIVERED ||
			    old->status == QFILE_STATUS_FAILED)
				nfinal++;
			continue;
		}
		/* Expiry overrides "deferred", which qmgr_outcome keeps. */
		if (r->outcome == QFILE_STATUS_DEFERRED && expired) {
			r->outcome = QFILE_STATUS_FAILED;
			memcpy(r->dsn, "4.4.7", sizeof("4.4.7"));
			free(r->text);
			r->text = xstrdup(why);
		}
		if (r->outcome != QFILE_STATUS_DEFERRED)
			nfinal++;
		if (r->outcome == QFILE_STATUS_FAILED &&
		    (qr->notify == 0 ||
		    (qr->notify & QFILE_NOTIFY_FAILURE) != 0))
			qmgr_dsn_rcpt(&f->fail[f->nfail++], m, i, now);
		/* A server that took NOTIFY reports the success itself. */
		if (r->outcome == QFILE_STATUS_DELIVERED &&
		    (qr->notify & QFILE_NOTIFY_SUCCESS) != 0 && !null_sender &&
		    !(r->dsn_passed && !r->relayed)) {
			qmgr_dsn_rcpt(&f->succ[f->nsucc], m, i, now);
			f->succ[f->nsucc++].relayed = r->relayed;
		}
		/* RFC 3461 4.1: no NOTIFY means FAILURE or FAILURE,DELAY. */
		if (r->outcome == QFILE_STATUS_DEFERRED && !null_sender &&
		    (qr->notify == 0 ||
		    (qr->notify & QFILE_NOTIFY_DELAY) != 0) &&
		    qmgr_warn_due(m, i, now)) {
			qmgr_dsn_rcpt(&f->delay[f->ndelay], m, i, now);
			f->delay[f->ndelay++].will_retry_until = m->arrival +
			    cfg->queue_lifetime;
		}
		f->ridx[f->nres] = i;
		f->res[f->nres].status = r->outcome;
		f->res[f->nres].time = r->outcome == QFILE_STATUS_DEFERRED ?
		    f->next_try : now;
		f->res[f->nres].dsn = r->dsn;
		f->res[f->nres].text = r->text != NULL ? r->text : "";
		f->nres++;
	}
	f->remove = nfinal == m->nrcpt;
	if (null_sender && f->nfail > 0) {
		/*
		 * A bounce that cannot be delivered goes to the postmaster,
		 * once: a failed report to the postmaster is only logged.
		 */
		for (i = 0; i < f->nfail; i++)
			if (strcasecmp(f->fail[i].addr, m->qm->postmaster) == 0)
				break;
		if (i < f->nfail) {
			log_q(LOG_WARNING, m->id, "undeliverable report to "
			    "the postmaster dropped");
			f->nfail = 0;
		} else
			f->report_to = m->qm->postmaster;
	}
	workq_submit(m->qm->syncq, qmgr_finish_work, qmgr_finish_done, f);
}

/* ---- the clock: retries, scans, room in active/ ------------------------- */

void
qmgr_run(struct qmgr *qm)
{
	struct qmsg	*m, *next;
	uint64_t	 now = qmgr_now();

	if (service_stopping(qm->sv))
		return;
	/* The heap's top is the earliest: only due messages are looked at. */
	while (qm->ndeferred > 0 &&
	    qm->nactive < cfg->queue_active_limit &&
	    qm->deferred[0]->next_try <= now)
		qmgr_take(qm, qm->deferred[0]);	/* unlists it */
	for (m = TAILQ_FIRST(&qm->waiting); m != NULL &&
	    qm->nactive < cfg->queue_active_limit; m = next) {
		next = TAILQ_NEXT(m, entry);
		qmgr_take(qm, m);
	}
}

static void
qmgr_tick(evutil_socket_t fd ATTR_UNUSED, short what ATTR_UNUSED, void *arg)
{
	struct qmgr	*qm = arg;
	uint64_t	 now = qmgr_now();

	if (service_stopping(qm->sv))
		return;
	qmgr_run(qm);
	if (now >= qm->next_scan) {
		qm->next_scan = now + cfg->queue_scan_interval;
		qmgr_scan(qm, QMGR_INCOMING, true);
		qmgr_pickup_scan(qm->pickup);
	}
}

/* ---- private/qmgr clients ----------------------------------------------- */

/* One connection on private/qmgr: smtpd's notices, postctl's commands. */
struct qmgr_client {
	TAILQ_ENTRY(qmgr_client)	 entry;
	struct qmgr			*qm;
	struct ipc_conn			*conn;
	bool				 hello;
};

static int
qmgr_client_msg(struct ipc_conn *c, struct ipc_msg *m, void *ctx)
{
	struct qmgr_client	*cl = ctx;
	const char		*id, *program, *error;
	int			 rc = 0;

	if (m->fd != -1) {
		log_warning("queue manager: %s passed a descriptor",
		    ipc_conn_peer(c));
		rc = -1;
	} else if (!cl->hello) {
		if (ipc_hello_check(m, &program, &error) == -1) {
			log_warning("queue manager: %s: %s", ipc_conn_peer(c),
			    error);
			(void)ipc_conn_reply(c, IPC_ERROR, m->peer_id, error);
			rc = -1;
		} else {
			cl->hello = true;
			(void)ipc_conn_reply(c, IPC_OK, m->peer_id, NULL);
		}
	} else if (m->type == IPC_QMGR_QUEUED) {
		/* A hint: an ID that is not valid or not there is ignored. */
		if (ipc_get_str(m, "id", QFILE_ID_LEN, &id) == 0)
			qmgr_incoming(cl->qm, id);
	} else if (m->type == IPC_QMGR_CTL) {
		qmgr_control(cl->qm, c, m);	/* answers, even nonsense */
	} else {
		log_warning("queue manager: unexpected message type %u from "
		    "%s", m->type, ipc_conn_peer(c));
		rc = -1;
	}
	ipc_msg_free(&m);
	return rc;
}

static void
qmgr_client_closed(struct ipc_conn *c, const char *reason ATTR_UNUSED,
    void *ctx)
{
	struct qmgr_client	*cl = ctx;

	(void)c;
	TAILQ_REMOVE(&cl->qm->clients, cl, entry);
	service_client_closed(cl->qm->sv);
	ipc_conn_free(&cl->conn);
	free(cl);
}

void
qmgr_accept(struct qmgr *qm, int fd)
{
	struct qmgr_client	*cl;

	cl = xcalloc(1, sizeof(*cl));
	cl->qm = qm;
	TAILQ_INSERT_TAIL(&qm->clients, cl, entry);
	service_client_opened(qm->sv);
	cl->conn = ipc_conn_new(service_base(qm->sv), fd,
	    cfg->ipc_max_message_size, "private/qmgr client", qmgr_client_msg,
	    qmgr_client_closed, cl);
}

/* ---- life ---------------------------------------------------------------- */

struct qmgr *
qmgr_new(struct service *sv, const char **error_r)
{
	struct qmgr	*qm;
	struct timeval	 sec = { 1, 0 };
	static const char *const dirs[] = { QMGR_DIR_ACTIVE,
	    QMGR_DIR_DEFERRED, QMGR_DIR_HOLD };
	unsigned int	 i;

	qm = xcalloc(1, sizeof(*qm));
	qm->sv = sv;
	TAILQ_INIT(&qm->active);
	TAILQ_INIT(&qm->waiting);
	TAILQ_INIT(&qm->held);
	TAILQ_INIT(&qm->clients);
	qm->hash_size = 1024;
	qm->hash = xcalloc(qm->hash_size, sizeof(*qm->hash));
	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		if (mkdir(dirs[i], 0700) == -1 && errno != EEXIST) {
			*error_r = error_fmt("mkdir %s: %s", dirs[i],
			    strerror(errno));
			qmgr_free(&qm);
			return NULL;
		}
	if ((cfg->myhostname[0] != '\0' ? str_copy(qm->hostname,
	    sizeof(qm->hostname), cfg->myhostname) :
	    gethostname(qm->hostname, sizeof(qm->hostname))) == -1)
		memcpy(qm->hostname, "localhost", sizeof("localhost"));
	qm->hostname[sizeof(qm->hostname) - 1] = '\0';
	qm->postmaster = xasprintf("postmaster@%s",
	    cfg->mydomains != NULL && cfg->mydomains[0] != NULL ?
	    cfg->mydomains[0] : qm->hostname);
	qfile_recycle_setup(".", cfg->queue_recycle_limit, true);
	qm->syncq = workq_new(service_base(sv), cfg->delivery_sync_threads,
	    error_r);
	if (qm->syncq == NULL) {
		qmgr_free(&qm);
		return NULL;
	}
	qm->authd = authd_client_new(service_base(sv), QMGR_AUTHD_SOCKET,
	    "queue-manager");
	qm->agent = qmgr_agent_new(qm, QMGR_AGENT_SOCKET, false);
	qm->relay = qmgr_agent_new(qm, QMGR_RELAY_SOCKET, true);
	qm->tick = event_new(service_base(sv), -1, EV_PERSIST, qmgr_tick, qm);
	if (qm->tick == NULL || event_add(qm->tick, &sec) == -1) {
		*error_r = "cannot add the queue manager's timer";
		qmgr_free(&qm);
		return NULL;
	}
	/* What a crash or a stop left in active/ first, then the rest. */
	qmgr_scan(qm, QMGR_ACTIVE, true);
	qmgr_scan(qm, QMGR_DEFERRED, true);
	qmgr_scan(qm, QMGR_HOLD, true);
	qmgr_scan(qm, QMGR_INCOMING, true);
	qm->next_scan = qmgr_now() + cfg->queue_scan_interval;
	if ((qm->pickup = qmgr_pickup_new(qm, error_r)) == NULL) {
		qmgr_free(&qm);
		return NULL;
	}
	qmgr_pickup_scan(qm->pickup);
	return qm;
}

void
qmgr_stop(struct qmgr *qm)
{
	(void)qm;		/* the tick starts nothing while stopping */
}

void
qmgr_free(struct qmgr **qp)
{
	struct qmgr	*qm = *qp;
	struct qmgr_client *cl;
	struct qdeliv	*d;
	struct qrelay	*rl;
	struct qdest	*dest;
	unsigned int	 i;
	struct qmsg	*m;

	if (qm == NULL)
		return;
	*qp = NULL;
	while ((cl = TAILQ_FIRST(&qm->clients)) != NULL) {
		TAILQ_REMOVE(&qm->clients, cl, entry);
		ipc_conn_free(&cl->conn);
		free(cl);
	}
	/* Finish what the sync threads hold, then drop everything. */
	if (qm->syncq != NULL)
		workq_drain(qm->syncq);
	qmgr_pickup_free(&qm->pickup);
	workq_free(&qm->syncq);
	qmgr_agent_free(&qm->agent);
	qmgr_agent_free(&qm->relay);
	while ((rl = TAILQ_FIRST(&qmgr_relay_flight)) != NULL) {
		TAILQ_REMOVE(&qmgr_relay_flight, rl, entry);
		rl->dest->inflight--;
		qmgr_dest_put(rl->dest);
		qmgr_relay_free(rl);
	}
	while ((dest = TAILQ_FIRST(&qmgr_dest_waiting)) != NULL) {
		while ((rl = TAILQ_FIRST(&dest->ready)) != NULL) {
			TAILQ_REMOVE(&dest->ready, rl, entry);
			qmgr_relay_free(rl);
		}
		qmgr_dest_put(dest);
	}
	while ((d = TAILQ_FIRST(&qmgr_flight)) != NULL) {
		TAILQ_REMOVE(&qmgr_flight, d, entry);
		qmgr_deliv_free(d);
	}
	while ((d = TAILQ_FIRST(&qmgr_ready)) != NULL) {
		TAILQ_REMOVE(&qmgr_ready, d, entry);
		qmgr_deliv_free(d);
	}
	while ((d = TAILQ_FIRST(&qmgr_lookup)) != NULL) {
		TAILQ_REMOVE(&qmgr_lookup, d, entry);
		qmgr_deliv_free(d);
	}
	for (i = 0; qm->hash != NULL && i < qm->hash_size; i++)
		while ((m = qm->hash[i]) != NULL)
			qmgr_msg_free(m);
	authd_client_free(&qm->authd);
	if (qm->tick != NULL)
		event_free(qm->tick);
	free(qm->hash);
	free(qm->deferred);
	free(qm->postmaster);
	free(qm);
}
