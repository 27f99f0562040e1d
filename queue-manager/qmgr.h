/* SPDX-License-Identifier: ISC */
/*
 * The state of postern-queue-manager (DESIGN.md "How a message travels"
 * 3-4, postern-queue-manager(8)).  One process owns the spool's
 * scheduling folders:
 *
 *	incoming/	new files (smtpd, and later pickup); read-only to us
 *			until we take one, by renaming it into active/
 *	active/		messages being delivered now (in memory, open)
 *	deferred/	messages with a recipient to retry later
 *	hold/		messages an admin put aside
 *
 * A message in active/ has its queue file open; its recipients are
 * resolved with authd (local users after aliases, or remote), each local
 * user's mailbox is looked up with authd, and the delivery agent gets one
 * request per mailbox.  When every recipient of the attempt has an
 * outcome, a sync thread makes it durable: bounces first (new queue
 * files), then either the file goes (every recipient final) or RESULT
 * records are appended and the file moves to deferred/.
 */
#ifndef POSTERN_QMGR_H
#define POSTERN_QMGR_H

#include <sys/queue.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/qfile.h"

#define QMGR_DIR_ACTIVE		"active"
#define QMGR_DIR_DEFERRED	"deferred"
#define QMGR_DIR_HOLD		"hold"
/* Where the delivery agent and authd listen, relative to the spool. */
#define QMGR_AGENT_SOCKET	"private/local"
#define QMGR_AUTHD_SOCKET	"private/auth-userdb"
/* A tmp.* file in incoming/ this old is a crashed session's leftover. */
#define QMGR_STALE_TMP		3600

struct authd_client;
struct event;
struct ipc_conn;
struct qmgr_agent;
struct service;
struct workq;

enum qmgr_where {
	QMGR_INCOMING,
	QMGR_ACTIVE,
	QMGR_DEFERRED,
	QMGR_HOLD,
};

struct qmsg;
struct qmgr_client;

struct qmgr {
	struct service		*sv;
	struct authd_client	*authd;
	struct qmgr_agent	*agent;
	struct workq		*syncq;
	struct event		*tick;		/* once a second */
	uint64_t		 next_scan;	/* seconds */
	char			 hostname[256];
	char			*postmaster;
	/* Every message we know, by ID (a sorted tree would do; a list
	 * and a small hash keep it simple and bounded by the queue). */
	TAILQ_HEAD(, qmsg)	 active;
	TAILQ_HEAD(, qmsg)	 deferred;
	TAILQ_HEAD(, qmsg)	 waiting;	/* notices while active is full */
	TAILQ_HEAD(, qmgr_client) clients;	/* on private/qmgr */
	unsigned int		 nactive;
	unsigned int		 ndeferred;
	struct qmsg		**hash;
	unsigned int		 hash_size;
	unsigned int		 nknown;
};

/* qmgr.c */
struct qmgr	*qmgr_new(struct service *sv, const char **error_r);
void		 qmgr_free(struct qmgr **qp);
/* A notice from smtpd (or a scan): incoming/ID is there. */
void		 qmgr_incoming(struct qmgr *qm, const char *id);
/* Stop starting deliveries; in-flight ones finish. */
void		 qmgr_stop(struct qmgr *qm);
/* A client of private/qmgr (smtpd notices, postctl). */
void		 qmgr_accept(struct qmgr *qm, int fd);

/* agent.c: the delivery agent client. */
struct qmgr_delivery {
	const char	*id;
	const char	*sender;
	const char	*rcpt;
	const char	*user;
	const char	*maildir;
	uint64_t	 quota;
	const char	*folder;
	uint64_t	 offset;
	uint64_t	 length;
	uint64_t	 arrival;
	int		 fd;
};
struct qmgr_outcome {
	enum qfile_status status;	/* DELIVERED, DEFERRED or FAILED */
	const char	*dsn;
	const char	*text;
};
typedef void qmgr_delivery_cb(const struct qmgr_outcome *o, void *ctx);

struct qmgr_agent *qmgr_agent_new(struct qmgr *qm, const char *path);
void	qmgr_agent_free(struct qmgr_agent **ap);
/* Sends one request; cb runs exactly once, never from inside this call. */
void	qmgr_agent_deliver(struct qmgr_agent *a, const struct qmgr_delivery *d,
	    qmgr_delivery_cb *cb, void *ctx);
/* Requests sent and not answered yet. */
unsigned int qmgr_agent_busy(const struct qmgr_agent *a);

#endif
