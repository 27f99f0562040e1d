/* SPDX-License-Identifier: ISC */
/*
 * Queue files (DESIGN.md "How a message travels" 2, man postern-queue(5)).
 *
 * A queue file is a sequence of length-framed typed records: a 1-byte
 * type, a 4-byte big-endian length checked against a per-type maximum,
 * then that many bytes.  No field is newline-delimited text and no string
 * field may hold a byte below 0x20 or 0x7f, so nothing can be injected
 * into a later record.  The records, in order:
 *
 *	VERSION		first, 4 bytes: QFILE_VERSION
 *	ARRIVAL		8 bytes: microseconds since the epoch
 *	envelope	SENDER (exactly one), the MAIL parameters, the
 *			CLIENT records, RCPT records each followed by its
 *			optional ORCPT and NOTIFY (at least one RCPT)
 *	MESSAGE		the message bytes as received (CRLF lines)
 *	END		4 bytes: CRC-32C (Castagnoli) of every byte before
 *			the END record
 *	RESULT...	recipient results appended later, each with its own
 *			CRC-32C
 *
 * Recipient results: an append-only log of RESULT records after END,
 * rather than status slots overwritten in place.  Appending keeps every
 * byte the END checksum covers immutable, so one checksum proves the
 * envelope and message and a reader never has to tell a half-updated
 * slot from corruption; an in-place slot would have to be left out of the
 * checksum and rely on sector-atomic writes, which disks do not promise.
 * A RESULT also carries variable-length data a slot cannot: the DSN
 * status and the diagnostic text the bounce will quote, and the log of
 * attempts the retry back-off needs.  Each RESULT is written with one
 * pwrite() and fsync()ed before qfile_set_rcpt_status() returns.  A crash
 * mid-append leaves at most one torn record at the end of the file: the
 * reader ignores it (the update was never acknowledged) and the next
 * update truncates it away before appending.  A bad record anywhere else
 * is corruption.  The cost is one small record per attempt, bounded by
 * qfile_limits.max_results; the queue manager may rewrite a file whose
 * log grows long.
 *
 * The checksum is CRC-32C, not a cryptographic hash: it guards against
 * torn writes and bit rot (it catches every error burst up to 32 bits,
 * so any single changed byte), not against someone who can write the
 * spool, and it runs at memory speed on 2 GB messages.
 */
#ifndef POSTERN_QFILE_H
#define POSTERN_QFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compat.h"

/* Format version in the VERSION record; a reader rejects any other. */
#define QFILE_VERSION		1

/*
 * Queue IDs: 13 upper-case hex digits of microseconds since the epoch
 * (enough until the year 2112), then 5 base32hex characters (0-9A-V) of
 * the writer's process ID.  IDs sort by arrival time, are safe in file
 * names and log lines, and are unique without coordination: a process
 * never hands out the same microsecond twice (it steps past its last
 * one), and no two live processes share a PID.  qfile_writer_new() also
 * refuses an ID whose file already exists.
 */
#define QFILE_ID_LEN		18
#define QFILE_ID_SIZE		(QFILE_ID_LEN + 1)

/* Folders below queue_directory. */
#define QFILE_DIR_INCOMING	"incoming"
#define QFILE_DIR_CORRUPT	"corrupt"
/* Local submissions: postern-postdrop writes, the queue manager picks up. */
#define QFILE_DIR_MAILDROP	"maildrop"
/*
 * Room a local submission may take beyond smtpd_max_message_size for the
 * header fields sendmail adds (From, Date, Message-ID); postdrop writes
 * and pickup reads within it.
 */
#define QFILE_LOCAL_ADDED_MAX	4096
/* Emptied queue files kept for reuse (qfile_recycle.c). */
#define QFILE_DIR_RECYCLE	"recycle"
/* Prefix of a file being written in incoming/ ("tmp.<ID>"). */
#define QFILE_TMP_PREFIX	"tmp."

/* Record types (the first byte of every record). */
enum qfile_rec {
	QFILE_REC_VERSION	= 'V',	/* u32 format version */
	QFILE_REC_ARRIVAL	= 'T',	/* u64 microseconds since epoch */
	QFILE_REC_SENDER	= 'S',	/* envelope sender, "" = <> */
	QFILE_REC_SIZE		= 'z',	/* u64 MAIL SIZE= */
	QFILE_REC_BODY		= 'b',	/* u8 enum qfile_body */
	QFILE_REC_SMTPUTF8	= 'u',	/* empty: MAIL SMTPUTF8 given */
	QFILE_REC_RET		= 'r',	/* u8 enum qfile_ret */
	QFILE_REC_ENVID		= 'e',	/* MAIL ENVID= (xtext decoded) */
	QFILE_REC_AUTH		= 'a',	/* MAIL AUTH= (decoded; "" = <>) */
	QFILE_REC_CLIENT_ADDR	= 'C',	/* client IP address text */
	QFILE_REC_CLIENT_NAME	= 'N',	/* client host name */
	QFILE_REC_HELO		= 'H',	/* HELO/EHLO argument */
	QFILE_REC_PROTOCOL	= 'P',	/* "ESMTP", "ESMTPSA", ... */
	QFILE_REC_SASL_USER	= 'U',	/* authenticated user */
	QFILE_REC_RCPT		= 'R',	/* recipient address */
	QFILE_REC_ORCPT		= 'O',	/* ORCPT= of the RCPT before it */
	QFILE_REC_NOTIFY	= 'Y',	/* u8 QFILE_NOTIFY_* of the RCPT */
	QFILE_REC_MESSAGE	= 'M',	/* the message bytes */
	QFILE_REC_END		= 'E',	/* u32 CRC-32C of all bytes before */
	QFILE_REC_RESULT	= 'D'	/* a recipient result, see above */
};

/* Bytes of a record header: type and big-endian length. */
#define QFILE_REC_HDR		5

/* Per-type maximum lengths (record payload bytes). */
#define QFILE_ADDR_MAX		1024	/* SENDER, RCPT, AUTH */
#define QFILE_ORCPT_MAX		1024	/* ORCPT, "type;address" */
#define QFILE_ENVID_MAX		100	/* RFC 3461 4.4 */
#define QFILE_CLIENT_ADDR_MAX	64
#define QFILE_HOST_MAX		255	/* CLIENT_NAME */
#define QFILE_HELO_MAX		512	/* one RFC 5321 command line */
#define QFILE_PROTOCOL_MAX	32
#define QFILE_USER_MAX		512
#define QFILE_DSN_MAX		15	/* "5.7.1" ... "4.999.999" */
#define QFILE_DIAG_MAX		1024	/* RESULT diagnostic text */
/* A message is at most this long (the length field is 32 bits). */
#define QFILE_MESSAGE_MAX	((uint64_t)UINT32_MAX)
/* The envelope a writer holds in memory before the message. */
#define QFILE_ENVELOPE_MAX	(16u * 1024 * 1024)

enum qfile_body {
	QFILE_BODY_NONE = 0,		/* no BODY= given */
	QFILE_BODY_7BIT,
	QFILE_BODY_8BITMIME,
	QFILE_BODY_BINARYMIME
};

enum qfile_ret {
	QFILE_RET_NONE = 0,		/* no RET= given */
	QFILE_RET_FULL,
	QFILE_RET_HDRS
};

/* RCPT NOTIFY= (RFC 3461); 0 = not given. NEVER excludes the others. */
#define QFILE_NOTIFY_NEVER	0x01u
#define QFILE_NOTIFY_SUCCESS	0x02u
#define QFILE_NOTIFY_FAILURE	0x04u
#define QFILE_NOTIFY_DELAY	0x08u

/* A recipient's state; the reader folds the RESULT log into it. */
enum qfile_status {
	QFILE_STATUS_PENDING = 0,	/* no result yet */
	QFILE_STATUS_DELIVERED,		/* final */
	QFILE_STATUS_DEFERRED,		/* retry at time */
	QFILE_STATUS_FAILED		/* final: bounce */
};

/* MAIL FROM and its ESMTP parameters.  Strings are borrowed. */
struct qfile_mail {
	const char	*sender;	/* "" = the null sender */
	uint64_t	 size;		/* SIZE=, 0 = not given */
	enum qfile_body	 body;
	bool		 smtputf8;
	enum qfile_ret	 ret;
	const char	*envid;		/* NULL = not given */
	const char	*auth;		/* AUTH=, NULL = not given, "" = <> */
};

/* Who sent it, for Received headers and logs.  NULL = unknown. */
struct qfile_client {
	const char	*addr;		/* "192.0.2.1", "2001:db8::1" */
	const char	*name;		/* verified reverse name */
	const char	*helo;
	const char	*protocol;	/* "ESMTP", "ESMTPS", "ESMTPSA", ... */
	const char	*sasl_user;	/* NULL = not authenticated */
};

struct qfile_rcpt {
	const char	*addr;		/* never "" */
	const char	*orcpt;		/* "rfc822;a@b", NULL = not given */
	unsigned int	 notify;	/* QFILE_NOTIFY_* bits, 0 = none */
};

struct qfile_result {
	enum qfile_status status;
	uint64_t	 time;		/* seconds: next try (DEFERRED), else
					   when the result came */
	const char	*dsn;		/* "2.0.0", "" = none */
	const char	*text;		/* diagnostic, "" = none */
};

/* Bounds a reader enforces; pass the values smtpd enforced. */
struct qfile_limits {
	uint64_t	 max_message_size;	/* <= QFILE_MESSAGE_MAX */
	unsigned int	 max_rcpts;
	unsigned int	 max_results;		/* RESULT records */
};

/* ---- IDs ------------------------------------------------------------ */

/* Strict syntax check of an ID from another process or the command line. */
bool	qfile_id_valid(const char *id);

/* ---- writer (smtpd) ------------------------------------------------- */

struct qfile_writer;

/*
 * Starts a queue file: picks a new ID and makes queue_dir/incoming/<ID>
 * (mode 0600), locked with flock() by the writer until the commit made
 * it durable; the queue manager leaves a locked file alone.  The
 * envelope is kept in memory until qfile_writer_begin_message().
 * Returns the writer, or NULL with *error_r set (the caller answers
 * 451/452).
 */
struct qfile_writer *qfile_writer_new(const char *queue_dir,
	    const char **error_r) ATTR_WUR;
/*
 * The same in another folder below queue_dir: incoming/ as above, any
 * other (the maildrop, for postern-postdrop) staged as folder/tmp.<ID>
 * and renamed to folder/<ID> by the commit.  IDs stay unique across
 * threads.
 */
struct qfile_writer *qfile_writer_new_in(const char *queue_dir,
	    const char *folder, const char **error_r) ATTR_WUR;
/*
 * fsyncs queue_dir/incoming/, making durable the names of the queue
 * files this process started before the call; a commit then need not
 * (smtpd runs it in the background after MAIL).  Returns 0 or -1.
 */
int	qfile_incoming_sync(const char *queue_dir, const char **error_r)
	    ATTR_WUR;
/*
 * Recycling (qfile_recycle.c, postern-queue(5)): the queue manager keeps
 * up to limit emptied queue files in recycle/ instead of removing them,
 * and writers in incoming/ start from one of them instead of creating a
 * file, so that the file system allocates and frees no inode per message.
 *
 * qfile_recycle_setup() turns it on in this process (limit 0: off; a
 * writer only takes when it is on); trim (the queue manager, at start)
 * removes what lies beyond the limit.  qfile_recycle_take() takes a
 * pool file (locked with flock(), emptied) and renames it to dest, and
 * returns it open for writing, or -1 (the caller creates one).  qfile_recycle_put() puts the queue file
 * path of message id into the pool, or removes it when the pool is full
 * or off; it returns what unlink() would (-1 with ENOENT when the file
 * is already gone).  Thread-safe.
 */
void	qfile_recycle_setup(const char *queue_dir, unsigned int limit,
	    bool trim);
int	qfile_recycle_take(const char *queue_dir, const char *dest);
int	qfile_recycle_put(const char *queue_dir, const char *path,
	    const char *id);

/* The new message's ID, valid until the writer is freed. */
const char *qfile_writer_id(const struct qfile_writer *w);

/*
 * Envelope records, any order, each before qfile_writer_begin_message().
 * qfile_writer_mail() exactly once; qfile_writer_client() at most once;
 * qfile_writer_add_rcpt() at least once.  Strings must fit the QFILE_*_MAX
 * above and hold no byte below 0x20 and no 0x7f.  Each returns 0, or -1
 * with *error_r set; after any -1 the writer is failed.
 */
int	qfile_writer_mail(struct qfile_writer *w, const struct qfile_mail *m,
	    const char **error_r) ATTR_WUR;
int	qfile_writer_client(struct qfile_writer *w,
	    const struct qfile_client *c, const char **error_r) ATTR_WUR;
int	qfile_writer_add_rcpt(struct qfile_writer *w,
	    const struct qfile_rcpt *r, const char **error_r) ATTR_WUR;

/*
 * Writes the envelope and starts the MESSAGE record, which may hold at
 * most max_size bytes (<= QFILE_MESSAGE_MAX).  Returns 0 or -1.
 */
int	qfile_writer_begin_message(struct qfile_writer *w, uint64_t max_size,
	    const char **error_r) ATTR_WUR;
/*
 * Appends message bytes (buffered).  Returns 0, or -1 on a write error or
 * when the message would exceed max_size (qfile_writer_too_large() then
 * says so: 552 rather than 452).  After -1 the writer is failed.
 */
int	qfile_writer_write(struct qfile_writer *w, const void *data,
	    size_t len, const char **error_r) ATTR_WUR;
bool	qfile_writer_too_large(const struct qfile_writer *w);
/*
 * Finishes the file: END record, fsync, then for incoming/ an fsync of
 * the folder unless one begun after the file was named has succeeded
 * (staged: rename to folder/<ID> and fsync of the folder, file_commit()),
 * and unlocks it.  On 0 the message is durable and
 * *id_r (QFILE_ID_SIZE bytes) holds its ID; answer 250.  On -1 (also when
 * the writer had failed before) no file is left, not even when only the
 * folder fsync failed; answer 452.
 * Either way, free the writer with qfile_writer_abort() afterwards.
 */
int	qfile_writer_commit(struct qfile_writer *w, char id_r[QFILE_ID_SIZE],
	    const char **error_r) ATTR_WUR;
/*
 * Frees *wp (NULL allowed) and sets it to NULL; an uncommitted temporary
 * file is unlinked, so a client that leaves mid-DATA leaves nothing.
 */
void	qfile_writer_abort(struct qfile_writer **wp);

/* ---- reader (queue manager, postctl queue show) ----------------------- */

struct qfile;

/*
 * Opens and validates the whole queue file at path: structure, every
 * limit, the END checksum and the RESULT log, before returning anything.
 * The file stays open read-only (qfile_fd()).  Returns 0 with *q_r set,
 * or -1 with *error_r describing what is wrong (move such a file aside
 * with qfile_corrupt()) and errno ENODATA when the file only ends before
 * its END record (a writer still at work, or one that died: nothing was
 * acknowledged).  Free with qfile_free().
 */
int	qfile_open(const char *path, const struct qfile_limits *lim,
	    struct qfile **q_r, const char **error_r) ATTR_WUR;
/*
 * The same parser over size bytes in memory (tests, fuzzing).  Strings
 * are copied; the message offset is into data.  qfile_fd() is -1 and
 * qfile_set_rcpt_status() fails on the result.
 */
int	qfile_parse_buffer(const void *data, size_t size,
	    const struct qfile_limits *lim, struct qfile **q_r,
	    const char **error_r) ATTR_WUR;
/* Frees *qp (NULL allowed), closes its file, sets *qp to NULL. */
void	qfile_free(struct qfile **qp);

/* The ID from the file name, or NULL (parsed buffer, odd name). */
const char *qfile_id(const struct qfile *q);
int	qfile_fd(const struct qfile *q);
uint64_t qfile_arrival_usec(const struct qfile *q);
/*
 * Whether the arrival time is the one the file's name (a queue ID) was
 * made from.  A file named in incoming/ whose content is older (a
 * recycled file whose emptying a power loss undid) does not.
 */
bool	qfile_arrival_matches_id(const struct qfile *q);
/* Envelope, owned by q.  A client field never recorded is NULL. */
const struct qfile_mail *qfile_mail(const struct qfile *q);
const struct qfile_client *qfile_client(const struct qfile *q);
unsigned int qfile_rcpt_count(const struct qfile *q);
/* i < qfile_rcpt_count(); owned by q. */
const struct qfile_rcpt *qfile_rcpt(const struct qfile *q, unsigned int i);
/* The last result recorded for recipient i (PENDING: none yet). */
const struct qfile_result *qfile_rcpt_result(const struct qfile *q,
	    unsigned int i);
/* True when every recipient is DELIVERED or FAILED. */
bool	qfile_all_final(const struct qfile *q);
/*
 * Where the message bytes are: *offset_r into the file (or the parsed
 * buffer) and *len_r bytes, so a delivery agent can stream them.
 */
void	qfile_message(const struct qfile *q, uint64_t *offset_r,
	    uint64_t *len_r);

/*
 * Records recipient i's result durably: one RESULT record appended with
 * pwrite() and fsync()ed (a torn record left by a crash is cut first).
 * One process at a time may update a file (the queue manager); readers
 * may run meanwhile.  DELIVERED and FAILED are final: changing them
 * again fails.  res->dsn and res->text follow QFILE_DSN_MAX and
 * QFILE_DIAG_MAX and the string rules above.  On 0, q reflects the
 * result; on -1 q and the file are as before.
 */
int	qfile_set_rcpt_status(struct qfile *q, unsigned int i,
	    const struct qfile_result *res, const char **error_r) ATTR_WUR;

/*
 * Moves the bad queue file at path into queue_dir/corrupt/ (created 0700
 * if missing), logs reason with log_q(), and fsyncs the folders.  An
 * existing file of the same name there is never replaced.  Returns 0 or
 * -1 (*error_r set: the file stayed, or it moved but the folders could
 * not be fsynced, so a crash may bring it back to be found again).
 */
int	qfile_corrupt(const char *queue_dir, const char *path,
	    const char *reason, const char **error_r) ATTR_WUR;

/* CRC-32C of data, continuing from crc (start with 0). */
uint32_t qfile_crc32c(uint32_t crc, const void *data, size_t len);

#endif
