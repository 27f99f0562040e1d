/* SPDX-License-Identifier: ISC */
/*
 * Notices to the queue manager (DESIGN.md "How a message travels" 3):
 * after a queue file is committed and acknowledged, its ID goes to
 * private/qmgr as IPC_QMGR_QUEUED, so the file is scheduled at once.  The
 * notices are hints, never the record: the queue manager also scans the
 * spool at start and periodically, so a notice lost to a full buffer, a
 * restart or a queue manager that is not running delays mail and never
 * loses it.  That is why nothing here blocks or waits for an answer, and
 * the backlog is the connection's bounded output buffer
 * (ipc_max_message_size): when the queue manager does not read, new
 * notices are dropped.
 */
#ifndef POSTERN_QMGR_NOTIFY_H
#define POSTERN_QMGR_NOTIFY_H

#include "compat.h"

struct event_base;
struct qmgr_notify;

/* Where the queue manager listens, relative to the spool. */
#define QMGR_NOTIFY_SOCKET	"private/qmgr"
/* Seconds between attempts to connect while the queue manager is away. */
#define QMGR_NOTIFY_RETRY	1

/*
 * A notifier that connects to path (lazily, on the first notice) as
 * program.  Never fails (allocation exits).
 */
struct qmgr_notify *qmgr_notify_new(struct event_base *base, const char *path,
    const char *program);
/* Frees *np (NULL is fine); notices not yet sent are dropped. */
void	qmgr_notify_free(struct qmgr_notify **np);

/*
 * Tells the queue manager about queue file id.  Returns 1 when the
 * notice was queued on the connection, 0 when it was dropped (no queue
 * manager now: the spool scan finds the file).
 */
int	qmgr_notify_queued(struct qmgr_notify *n, const char *id);

/* Notices sent (queued on the connection) and dropped so far. */
void	qmgr_notify_counts(const struct qmgr_notify *n,
	    unsigned long long *sent_r, unsigned long long *dropped_r);

#endif
