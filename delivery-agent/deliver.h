/* SPDX-License-Identifier: ISC */
/*
 * One local delivery (postern-delivery-agent(8)): the fields of an
 * IPC_DELIVER request, checked as if from the network, and the delivery
 * itself, which runs in a workq thread (it only touches its request and
 * result, and never logs), with its outcome for IPC_DELIVER_RESULT and
 * for the log.
 */
#ifndef POSTERN_DELIVER_DELIVER_H
#define POSTERN_DELIVER_DELIVER_H

#include <sys/types.h>

#include <stdbool.h>
#include <stdint.h>

#include "compat.h"
#include "error.h"
#include "ipc.h"

#define DELIVER_ADDRESS_MAX	1024		/* sender, rcpt, user */
#define DELIVER_LENGTH_MAX	((uint64_t)1 << 32)	/* message bytes */
#define DELIVER_TEXT_MAX	1000		/* text of a result */
#define DELIVER_DSN_SIZE	8		/* "5.4.6" and its NUL */

enum deliver_status {
	DELIVER_OK,
	DELIVER_DEFER,
	DELIVER_BOUNCE,
};

/* A checked IPC_DELIVER (strings owned, fd owned: deliver_request_deinit). */
struct deliver_request {
	char		*id;
	char		*sender;	/* "" for the null sender */
	char		*rcpt;
	char		*user;
	char		*maildir;
	char		*folder;	/* "" for the inbox */
	uint64_t	 quota;		/* bytes, 0 for none */
	uint64_t	 offset;
	uint64_t	 length;
	uint64_t	 arrival;	/* microseconds since the epoch */
	int		 fd;		/* the queue file, read-only */
	/*
	 * A Unix account owns the mailbox (system_account_domains): the
	 * file is written with these file-system ids, and maildir must be
	 * below the home folder of uid's account, not below root.
	 */
	bool		 has_owner;
	uid_t		 uid;
	gid_t		 gid;

	/* Set by the caller before deliver_run(); not owned. */
	const char	*root;		/* mail_directory */
	bool		 can_switch;	/* CAP_SETUID and CAP_SETGID held */
	const char	*host;		/* made safe by maildir_host_name() */
	bool		 use_folders;	/* delivery_subaddress_folders */
	bool		 quota_bounce;	/* delivery_quota_bounce */
	uint64_t	 pid;
	uint64_t	 counter;	/* unique within this process */
};

struct deliver_result {
	enum deliver_status status;
	char		 dsn[DELIVER_DSN_SIZE];
	char		 text[DELIVER_TEXT_MAX + 1];	/* for the peer */
	char		 detail[ERROR_MAX];	/* "" or more for the log */
	char		 warning[ERROR_MAX];	/* "" or a problem after success */
	bool		 folder_used;
	uint64_t	 size;		/* bytes written on success */
};

/*
 * Reads and checks the fields of an IPC_DELIVER: every string bounded and
 * of printable characters, id a queue ID, offset + length within reason,
 * and the descriptor present (taken from m: m->fd becomes -1).  Returns 0,
 * or -1 with *error_r naming the bad field (rq_r is then empty).
 */
int	deliver_request_parse(struct ipc_msg *m, struct deliver_request *rq_r,
	    const char **error_r) ATTR_WUR;
/* Frees the strings and closes the fd; rq stays safe to deinit again. */
void	deliver_request_deinit(struct deliver_request *rq);

/*
 * Delivers rq: path check, Maildir creation, loop check, quota, the file
 * in tmp/ then new/ (file_commit), maildirsize.  Thread-safe; never
 * logs.  Fills *res_r.
 *
 * With an owner (has_owner): uid 0 or gid 0 bounce (5.7.1: authd never
 * names root, so only a broken queue manager sends it); the account of
 * uid is looked up again (getpwuid_r: gone, 5.1.1; another gid, 4.3.0)
 * and maildir must be below its home; without can_switch, ids other
 * than the process's own defer (4.3.0).  Then the calling thread's
 * file-system ids become uid/gid for the whole delivery and are set back
 * and checked afterwards (priv_fsid_set, priv_fsid_reset).
 */
void	deliver_run(const struct deliver_request *rq,
	    struct deliver_result *res_r);

/*
 * smtpd's RCPT-time quota check (IPC_QUOTA_CHECK): is the Maildir of a
 * user with a quota full?  Checked like a delivery request (the maildir
 * must be one deliver_run() would deliver to), answered from the
 * maildirsize file alone: without a usable one the mailbox counts as not
 * full, since a recount per RCPT would let a client make us walk
 * mailboxes at will; the next delivery recounts.
 */
struct deliver_quota_request {
	char		*user;
	char		*maildir;
	uint64_t	 quota;		/* bytes, 0 for none */
	uint64_t	 size;		/* the MAIL SIZE= value, 0 unknown */
	const char	*root;		/* mail_directory; not owned */
};

struct deliver_quota_result {
	bool		 full;
	bool		 known;		/* maildirsize was read */
	uint64_t	 used;		/* bytes, when known */
	char		 detail[ERROR_MAX];	/* "" or why it was not read */
};

/*
 * Reads and checks the fields of an IPC_QUOTA_CHECK (user, maildir,
 * quota, size) for mail_directory root: strings bounded and printable,
 * maildir absolute and below root (maildir_path_check).  Returns 0, or
 * -1 with *error_r naming the bad field (rq_r is then empty).
 */
int	deliver_quota_parse(struct ipc_msg *m, const char *root,
	    struct deliver_quota_request *rq_r, const char **error_r) ATTR_WUR;
/* Frees the strings; rq stays safe to deinit again. */
void	deliver_quota_deinit(struct deliver_quota_request *rq);
/*
 * Answers rq: full when quota > 0, maildirsize could be read, and a
 * message of size bytes (1 when unknown: nothing fits into a mailbox at
 * its quota) does not fit (maildir_quota_allows).  Only reads, may block
 * on the disk, thread-safe, never logs.  Fills *res_r.
 */
void	deliver_quota_run(const struct deliver_quota_request *rq,
	    struct deliver_quota_result *res_r);

/* "ok", "defer", "bounce": the status field of IPC_DELIVER_RESULT. */
const char *deliver_status_name(enum deliver_status status);
/* "sent", "deferred", "bounced": the status of the log line. */
const char *deliver_status_log(enum deliver_status status);

#endif
