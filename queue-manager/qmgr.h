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
 *
 * postctl queue (control.c) holds, releases, deletes, requeues and
 * flushes messages over private/qmgr; a message in active/ is acted on
 * when its attempt ends (qmgr_control_settle()).
 */
#ifndef POSTERN_QMGR_H
#define POSTERN_QMGR_H

#include <sys/types.h>
#include <sys/queue.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/qfile.h"

#define QMGR_DIR_ACTIVE		"active"
#define QMGR_DIR_DEFERRED	"deferred"
#define QMGR_DIR_HOLD		"hold"
/* Local submissions (postern-postdrop(8)); pickup.c reads them. */
#define QMGR_DIR_MAILDROP	QFILE_DIR_MAILDROP
/* Where the delivery agent and authd listen, relative to the spool. */
#define QMGR_AGENT_SOCKET	"private/local"
#define QMGR_RELAY_SOCKET	"private/smtp"
#define QMGR_AUTHD_SOCKET	"private/auth-userdb"
/* A tmp.* file in incoming/ this old is a crashed session's leftover. */
#define QMGR_STALE_TMP		3600

struct authd_client;
struct event;
struct ipc_conn;
struct ipc_msg;
struct qmgr_agent;
struct qmgr_pickup;
struct service;
struct workq;

enum qmgr_where {
	QMGR_INCOMING,
	QMGR_ACTIVE,
	QMGR_DEFERRED,
	QMGR_HOLD,
};

/* What postctl asks of a message (IPC_QMGR_CTL "verb"). */
enum qmgr_ctl_verb {
	QMGR_CTL_NONE = 0,
	QMGR_CTL_FLUSH,
	QMGR_CTL_HOLD,
	QMGR_CTL_RELEASE,
	QMGR_CTL_DELETE,
	QMGR_CTL_REQUEUE,
};

struct qrcpt;
struct qrelay;
struct qmgr_client;

/*
 * One message the queue manager knows.  Private to the queue manager's
 * files; qmgr.c keeps the lists and the registry consistent, so change
 * where and dir only through the qmgr_msg_* functions below.
 */
struct qmsg {
	TAILQ_ENTRY(qmsg)	 entry;		/* active, waiting or held */
	struct qmsg		*hnext;
	struct qmgr		*qm;
	char			 id[QFILE_ID_SIZE];
	enum qmgr_where		 where;		/* the list it is on */
	enum qmgr_where		 dir;		/* the folder of its file */
	bool			 listed;	/* on one of the lists */
	unsigned int		 heap_idx;	/* deferred: its heap slot */
	struct qfile		*q;		/* open while active */
	uint64_t		 next_try;	/* deferred: seconds */
	uint64_t		 arrival;	/* seconds */
	uint64_t		 arrival_usec;
	uint64_t		 backoff_from;	/* requeue time, else 0 */
	struct qrcpt		*rcpts;
	unsigned int		 nrcpt;
	unsigned int		 pending;	/* recipients without outcome */
	unsigned int		 ndeliv;	/* its qdeliv objects */
	unsigned int		 nlookup;	/* RCPT lookups in flight */
	struct qrelay		*building;	/* relays until nlookup is 0 */
	bool			 syncing;
	enum qmgr_ctl_verb	 ctl;		/* active: when the attempt ends */
};

struct qmgr {
	struct service		*sv;
	struct authd_client	*authd;
	struct qmgr_agent	*agent;
	struct qmgr_agent	*relay;		/* the transfer agent */
	unsigned int		 nrelays;	/* relay jobs in flight */
	struct qmgr_pickup	*pickup;
	struct workq		*syncq;
	struct event		*tick;		/* once a second */
	uint64_t		 next_scan;	/* seconds */
	char			 hostname[256];
	char			*postmaster;
	TAILQ_HEAD(, qmsg)	 active;
	/*
	 * Deferred messages in a binary min-heap by next_try, so that the
	 * tick looks only at the due ones, and a deferral costs O(log n)
	 * with 100,000 messages waiting.
	 */
	struct qmsg		**deferred;
	unsigned int		 ndeferred;
	unsigned int		 deferred_size;
	TAILQ_HEAD(, qmsg)	 waiting;	/* incoming, until there is room */
	TAILQ_HEAD(, qmsg)	 held;		/* in hold/ */
	TAILQ_HEAD(, qmgr_client) clients;	/* on private/qmgr */
	unsigned int		 nactive;
	/* Every message we know, by ID: a hash of chains, grown by 2. */
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
/* Takes what is due: deferred messages whose time came, then incoming. */
void		 qmgr_run(struct qmgr *qm);

/*
 * The registry, for control.c.  qmgr_msg_find() looks in memory only;
 * qmgr_msg_load() also registers a file of incoming/, deferred/ or hold/
 * that is not known yet (a lost notice), without taking it.  Both return
 * NULL when there is no such message.
 */
struct qmsg	*qmgr_msg_find(const struct qmgr *qm, const char *id);
struct qmsg	*qmgr_msg_load(struct qmgr *qm, const char *id);
/* Registers every file in incoming/ not known yet, without taking it. */
void		 qmgr_msg_scan_incoming(struct qmgr *qm);
/* The folder name of w ("incoming", "active", ...). */
const char	*qmgr_where_dir(enum qmgr_where w);
/*
 * Renames m's file into folder to (m must not be active).  Returns 0, or
 * -1 after logging why; errno ENOENT then means the file is gone.
 */
int		 qmgr_msg_move(struct qmsg *m, enum qmgr_where to);
/* Lists m as deferred, due at next_try (0: now), or held. */
void		 qmgr_msg_defer(struct qmsg *m, uint64_t next_try);
void		 qmgr_msg_hold(struct qmsg *m);
/* Forgets m (its file is gone). */
void		 qmgr_msg_free(struct qmsg *m);

/*
 * control.c: IPC_QMGR_CTL from postctl, after HELLO.  Validates every
 * field, acts, and answers IPC_OK with a text that says what was done,
 * or IPC_ERROR with the reason; the connection goes on either way.
 */
void		 qmgr_control(struct qmgr *qm, struct ipc_conn *c,
		    struct ipc_msg *msg);
/*
 * An attempt of m ended and m still has recipients to try (its file is in
 * deferred/, or still in active/ when the record failed): does what
 * postctl asked meanwhile (m->ctl).  m may be freed.
 */
void		 qmgr_control_settle(struct qmsg *m);

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
	uint64_t	 arrival;	/* microseconds */
	int		 fd;
	bool		 has_owner;	/* a Unix account: uid and gid */
	uid_t		 uid;
	gid_t		 gid;
};
struct qmgr_outcome {
	enum qfile_status status;	/* DELIVERED, DEFERRED or FAILED */
	const char	*dsn;
	const char	*text;
};
typedef void qmgr_delivery_cb(const struct qmgr_outcome *o, void *ctx);

/* A relay through the transfer agent: one message, one next hop. */
struct qmgr_relay {
	const char		*id;
	const char		*sender;
	const char		*nexthop;
	const char		*envid;		/* NULL none */
	enum qfile_body		 body;
	enum qfile_ret		 ret;
	bool			 smtputf8;
	const char *const	*rcpts;		/* n of each */
	const char *const	*orcpts;	/* NULL entries: none */
	const unsigned int	*notify;
	unsigned int		 n;
	uint64_t		 offset;
	uint64_t		 length;
	uint64_t		 arrival;	/* microseconds */
	int			 fd;
};
struct qmgr_relay_result {
	const struct qmgr_outcome *outcomes;	/* one per recipient */
	unsigned int		 n;
	const char		*relay;		/* "host[addr]:port" or "none" */
	const char		*tls;		/* "VERSION:CIPHER", NULL none */
	bool			 dsn_passed;	/* the server took NOTIFY */
};
typedef void qmgr_relay_cb(const struct qmgr_relay_result *r, void *ctx);
/* The longest a relay request may take before the agent counts as stuck. */
#define QMGR_RELAY_DEADLINE	(3 * 3600)

/* relays: the transfer agent (else the delivery agent). */
struct qmgr_agent *qmgr_agent_new(struct qmgr *qm, const char *path,
	    bool relays);
void	qmgr_agent_free(struct qmgr_agent **ap);
/* Sends one request; cb runs exactly once, never from inside this call. */
void	qmgr_agent_deliver(struct qmgr_agent *a, const struct qmgr_delivery *d,
	    qmgr_delivery_cb *cb, void *ctx);
/* Sends one relay request; cb runs exactly once, never from inside. */
void	qmgr_agent_relay(struct qmgr_agent *a, const struct qmgr_relay *rq,
	    qmgr_relay_cb *cb, void *ctx);
/* Requests sent and not answered yet. */
unsigned int qmgr_agent_busy(const struct qmgr_agent *a);

/*
 * pickup.c: the maildrop folder.  Each complete file there (written by
 * postern-postdrop for sendmail) is checked as untrusted input, turned
 * into a queue file in incoming/ and removed; then qmgr_incoming().
 */
struct qmgr_pickup *qmgr_pickup_new(struct qmgr *qm, const char **error_r);
void	qmgr_pickup_free(struct qmgr_pickup **pp);
/* Looks at maildrop/ now (at start, and with every incoming/ scan). */
void	qmgr_pickup_scan(struct qmgr_pickup *p);

#endif
