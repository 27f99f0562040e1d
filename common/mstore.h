/* SPDX-License-Identifier: ISC */
/*
 * The mail store: one user's Maildir++ folders with a crash-safe index
 * per folder, used by the imap and pop3 processes (postern-mailstore(5)).
 *
 * Layout.  The user's Maildir is the inbox; every other mailbox is a
 * Maildir++ folder directly inside it whose name mbox_name_to_disk()
 * makes (".Sent", ".a%2eb.c").  Each folder (the inbox included) holds,
 * besides cur/, new/ and tmp/:
 *	postern-uidlist		the durable record of UIDs: a first line
 *				"P1 V<uidvalidity> N<uidnext>\n", then one
 *				line "<uid> <base name>\n" per UID given,
 *				appended and fdatasync'd before any client
 *				learns the UID; rewritten (temporary name,
 *				fsync, rename) when it holds many UIDs of
 *				expunged messages.  It is also the lock file
 *				of the folder: flock(LOCK_EX) on it while the
 *				folder is synchronised or written.
 *	postern-keywords	keyword names: "<index> <name>\n" lines,
 *				index 0..25 standing for the letters a..z in
 *				file names (Dovecot's dovecot-keywords form);
 *				rewritten whole (temporary name, fsync,
 *				rename) when a keyword is added.
 *	postern-index		the index, an LMDB environment (MDB_NOSUBDIR,
 *	postern-index-lock	with its lock file): for each message its
 *				UID, current file name, flags, keywords, size,
 *				internal date and change number; the
 *				folder's UIDVALIDITY, UIDNEXT, the state of
 *				cur/ and new/ at the last synchronisation;
 *				and a cache of ENVELOPE and BODYSTRUCTURE.
 *				A cache: it can always be rebuilt from the
 *				files and postern-uidlist.
 *	postern-subscriptions	(inbox only) subscribed names, one per line,
 *				UTF-8.
 *
 * Message files.  A message's base name is its Maildir unique part (the
 * file name before ":"), which never changes while the message lives in
 * the folder; the info after ":2," carries the system flags as Maildir
 * readers expect (D draft, F flagged, R answered, S seen, T deleted,
 * sorted) and the folder's first 26 keywords as the letters a..z.  A
 * base name may carry ",S=<size>" (physical size) and ",W=<size>" (size
 * with CRLF line ends, RFC822.SIZE); files written here get both.  The
 * content is stored with LF line ends (as delivered); mstore_msg_read()
 * gives it with CRLF line ends, as IMAP and POP3 send it.
 *
 * UIDs.  A message found in new/ or cur/ without a UID (delivered, or put
 * there by another tool) gets the next UID at the next synchronisation,
 * in the order of base names (delivery time), and new/ files move to
 * cur/.  The UID lines are appended to postern-uidlist and fdatasync'd
 * before the index transaction that records them commits, so a UID once
 * reported survives kill -9 and power loss.  At open, UID lines past
 * what the index has seen are applied first.  A missing or damaged
 * index is rebuilt from postern-uidlist and the files: every message
 * whose base name the uidlist knows keeps its UID, the others get new
 * ones, UIDVALIDITY stays.  Only when postern-uidlist is missing or its
 * first line is unreadable does the folder get a new UIDVALIDITY (and
 * every message a new UID).  A damaged line inside the uidlist (a torn
 * append after a crash) ends what is read of it: the UIDs before it are
 * kept, and UIDNEXT never goes down.
 *
 * Processes and sessions.  Any number of processes may use a folder at
 * once: writers take the folder lock (flock on postern-uidlist), LMDB
 * gives readers a consistent snapshot.  Within one process a folder is
 * opened once (LMDB refuses a second open of one environment in a
 * process): mstore_folder_open() returns the same struct mstore_folder,
 * reference-counted, to every session of the process that opens the same
 * directory (same device and inode), whatever the user struct.  All calls
 * are made from one thread (the event loop); nothing blocks except on
 * the local disk and on the folder lock, which is held only for the
 * length of one operation.
 *
 * Changes.  Every change to a message (new, flags, keywords, expunge)
 * gets the folder's next change number (modseq).  A session remembers
 * the highest number it has seen and asks for what changed since
 * (mstore_folder_modseq(), then a scan); expunged UIDs are what is no
 * longer there.  mstore_watch_*() tells, through inotify, when another
 * process (a delivery, another imap process) may have changed a folder.
 *
 * Errors.  Functions return 0 (or a count) on success and -1 with
 * *error_r set: a text for the log, which may name files.  Where a client
 * needs to know what went wrong, *code_r (enum mstore_err) says it; the
 * caller picks the protocol reply (NO [NONEXISTENT], [ALREADYEXISTS],
 * [LIMIT], [OVERQUOTA], [SERVERBUG]...).
 */
#ifndef POSTERN_MSTORE_H
#define POSTERN_MSTORE_H

#include <sys/types.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "buf.h"
#include "compat.h"

struct event_base;
struct mstore;
struct mstore_folder;
struct mstore_watch;

/* Files of a folder (postern-mailstore(5)). */
#define MSTORE_UIDLIST		"postern-uidlist"
#define MSTORE_KEYWORDS		"postern-keywords"
#define MSTORE_INDEX		"postern-index"
#define MSTORE_SUBSCRIPTIONS	"postern-subscriptions"

/* Keywords a folder can hold: one letter each in file names. */
#define MSTORE_KEYWORDS_MAX	26
/* Longest keyword (an IMAP atom), bytes. */
#define MSTORE_KEYWORD_LEN	100
/* Longest base name of a message file accepted (longer ones are skipped). */
#define MSTORE_BASE_MAX		200
/* The LMDB map size of a folder index (grows by this much when full). */
#define MSTORE_MAP_STEP		(256ULL * 1024 * 1024)

/* System flags, the same bits as IMAP_FLAG_* of imapd/imap_parse.h. */
#define MSTORE_F_ANSWERED	0x01
#define MSTORE_F_FLAGGED	0x02
#define MSTORE_F_DELETED	0x04
#define MSTORE_F_SEEN		0x08
#define MSTORE_F_DRAFT		0x10
#define MSTORE_F_ALL		0x1f

/* Special-use attributes, the same bits as IMAP_USE_* of imap_parse.h. */
#define MSTORE_USE_ALL		0x0001
#define MSTORE_USE_ARCHIVE	0x0002
#define MSTORE_USE_DRAFTS	0x0004
#define MSTORE_USE_FLAGGED	0x0008
#define MSTORE_USE_JUNK		0x0010
#define MSTORE_USE_SENT		0x0020
#define MSTORE_USE_TRASH	0x0040

enum mstore_err {
	MSTORE_E_NONE = 0,
	MSTORE_E_INTERNAL,	/* I/O or index failure: see the log */
	MSTORE_E_NONEXISTENT,	/* no such mailbox (or message) */
	MSTORE_E_EXISTS,	/* the mailbox exists already */
	MSTORE_E_NAME,		/* an invalid mailbox name */
	MSTORE_E_HASCHILDREN,	/* DELETE of a mailbox with children */
	MSTORE_E_INBOX,		/* DELETE INBOX, RENAME to INBOX */
	MSTORE_E_LIMIT,		/* too many keywords, messages, folders */
	MSTORE_E_NOSPACE,	/* the disk (or a quota) is full */
	MSTORE_E_EXPUNGED,	/* the message is gone */
};

/* Limits (postern.conf mailstore_* settings). */
struct mstore_limits {
	unsigned int	max_folders;	/* mailboxes per user */
	uint32_t	max_messages;	/* messages per folder */
};

#define MSTORE_DEF_MAX_FOLDERS	1000
#define MSTORE_DEF_MAX_MESSAGES	10000000

void	mstore_limits_init(struct mstore_limits *lim);

/* ---- the user's store -------------------------------------------------- */

/*
 * Opens the store of one user: maildir is the absolute path of the
 * user's Maildir (as the process sees it, so inside a chroot), which is
 * created with cur/, new/ and tmp/ (mode 0700) when missing, as the
 * delivery agent does.  Nothing else is read yet.  Returns the store
 * (free with mstore_close()) or NULL with *error_r.
 */
struct mstore *mstore_open(const char *maildir,
	    const struct mstore_limits *lim, const char **error_r) ATTR_WUR;
/* Closes the store; its folders must be closed first.  NULL allowed. */
void	mstore_close(struct mstore **stp);

/* One mailbox as mstore_list() reports it. */
struct mstore_mailbox {
	char		*name;		/* canonical UTF-8 name */
	unsigned int	 use;		/* MSTORE_USE_* */
};

/*
 * Every mailbox of the store: INBOX and each folder whose directory name
 * mbox_name_from_disk() accepts and which holds cur/ (others are
 * skipped), sorted with mbox_name_cmp().  Special-use attributes come
 * from the folder's own file "postern-special-use" (one attribute name
 * per line, "\Sent"), written by mstore_create().  The caller frees the
 * list with mstore_list_free().  Returns the count, or -1.
 */
ssize_t	mstore_list(struct mstore *st, struct mstore_mailbox **list_r,
	    const char **error_r) ATTR_WUR;
void	mstore_list_free(struct mstore_mailbox *list, size_t count);

/*
 * Creates the mailbox name (canonical UTF-8, as mbox_name_normalize()
 * makes it) with cur/, new/ and tmp/, and its special-use attributes
 * (use, MSTORE_USE_*; 0 for none).  Parent levels that do not exist
 * need no folder of their own in Maildir++ and are not created.
 * Errors (*code_r): EXISTS, NAME (invalid, or INBOX), LIMIT
 * (max_folders), NOSPACE, INTERNAL.
 */
int	mstore_create(struct mstore *st, const char *name, unsigned int use,
	    enum mstore_err *code_r, const char **error_r) ATTR_WUR;

/*
 * Deletes the mailbox name: its messages, index files and folder.  A
 * mailbox with children (some other mailbox's name starts with name
 * and "/") is refused (HASCHILDREN), as Dovecot does with Maildir++;
 * INBOX is refused (INBOX).  A session in this or another process that
 * has the folder open sees every message expunged.  Errors: NONEXISTENT,
 * HASCHILDREN, INBOX, INTERNAL.
 */
int	mstore_delete(struct mstore *st, const char *name,
	    enum mstore_err *code_r, const char **error_r) ATTR_WUR;

/*
 * Renames from to to, and every mailbox below from along with it ("a"
 * -> "b" makes "a/x" "b/x"), each folder keeping its UIDVALIDITY and
 * UIDs.  Renaming INBOX moves all its messages into a new mailbox to
 * and leaves INBOX empty (RFC 3501 6.3.5); its children stay.  Errors:
 * NONEXISTENT (from), EXISTS (to, or one of the children's new names),
 * NAME, INBOX (to is INBOX), INTERNAL.
 */
int	mstore_rename(struct mstore *st, const char *from, const char *to,
	    enum mstore_err *code_r, const char **error_r) ATTR_WUR;

/*
 * Subscriptions (postern-subscriptions in the Maildir; names need not
 * exist).  mstore_subscriptions() returns a sorted, duplicate-free list
 * (free with mstore_list_free(); use is 0) or -1.  mstore_subscribe()
 * adds (on true) or removes a name, rewriting the file (temporary name,
 * fsync, rename) under the inbox's folder lock.
 */
ssize_t	mstore_subscriptions(struct mstore *st, struct mstore_mailbox **list_r,
	    const char **error_r) ATTR_WUR;
int	mstore_subscribe(struct mstore *st, const char *name, bool on,
	    const char **error_r) ATTR_WUR;

/* ---- folders ------------------------------------------------------------ */

/*
 * Opens the folder of mailbox name (canonical; "INBOX" is the Maildir)
 * and synchronises it (mstore_folder_sync()).  Within the process the
 * same open folder is returned for the same directory, with one more
 * reference.  Errors: NONEXISTENT (no such folder, or no cur/ in it),
 * NAME, INTERNAL.
 */
struct mstore_folder *mstore_folder_open(struct mstore *st,
	    const char *name, enum mstore_err *code_r,
	    const char **error_r) ATTR_WUR;
/* Drops one reference; the last one closes the index.  NULL allowed. */
void	mstore_folder_close(struct mstore_folder **fp);

/*
 * The canonical name it was opened with (of the first opener; updated
 * when this process renames the mailbox).
 */
const char *mstore_folder_name(const struct mstore_folder *f);

/*
 * True once the folder was deleted (by mstore_delete() in this process,
 * or found gone by a sync): its next sync drops every message (the
 * session reports them expunged) and writes fail with EXPUNGED.
 */
bool	mstore_folder_deleted(const struct mstore_folder *f);

/*
 * Brings the index up to date with the directories: when cur/ and new/
 * have changed (mtime or size) since the last synchronisation, or
 * changed less than 2 seconds before it (a change in the same clock tick
 * could hide behind an unchanged mtime), reads both under the folder
 * lock: moves new/ files to cur/ (adding ":2,"), gives UIDs to unknown
 * files, takes flags and keywords from renamed files, and drops records
 * whose files are gone; every such change gets a change number.  Else
 * costs two stat() calls.  Returns 0 or -1.
 */
int	mstore_folder_sync(struct mstore_folder *f,
	    const char **error_r) ATTR_WUR;

/* Always right after a sync; read without a sync, they may lag. */
uint32_t mstore_folder_uidvalidity(const struct mstore_folder *f);
uint32_t mstore_folder_uidnext(const struct mstore_folder *f);
/* The highest change number given in the folder (0 for none yet). */
uint64_t mstore_folder_modseq(const struct mstore_folder *f);

/*
 * \Recent (RFC 3501): the first session that selects the folder
 * read-write after messages arrived claims them.  Returns the lowest UID
 * that is recent for the caller (messages with uid >= it, up to UIDNEXT
 * when called) and moves the folder's mark to UIDNEXT; with claim false
 * (EXAMINE, STATUS) nothing moves and the UIDs the next claimer would
 * get are reported.  Kept in the index, so shared by processes.
 */
int	mstore_folder_recent(struct mstore_folder *f, bool claim,
	    uint32_t *first_uid_r, const char **error_r) ATTR_WUR;

/* The keywords of a folder (names by index; NULL for an unused index). */
unsigned int mstore_keyword_count(const struct mstore_folder *f);
const char *mstore_keyword_name(const struct mstore_folder *f,
	    unsigned int idx);
/*
 * The index of keyword name (an IMAP atom, compared case-insensitively,
 * RFC 9051 2.3.2), or -1: with create, an unknown keyword is added
 * (postern-keywords rewritten under the folder lock) unless the folder
 * has MSTORE_KEYWORDS_MAX already (*code_r LIMIT); without, -1 with code
 * NONEXISTENT.
 */
int	mstore_keyword_index(struct mstore_folder *f, const char *name,
	    bool create, enum mstore_err *code_r,
	    const char **error_r) ATTR_WUR;

/* ---- messages ----------------------------------------------------------- */

/*
 * One message as the index has it.  size is RFC822.SIZE (CRLF line
 * ends) and date the internal date (the file's mtime), each 0 when not
 * known yet (the first sync does not stat each file: see
 * mstore_msg_stat()).  name points into the caller's snapshot or buffer
 * and is valid until the next call on it.
 */
struct mstore_msg {
	uint32_t	 uid;
	uint8_t		 flags;		/* MSTORE_F_* */
	uint32_t	 keywords;	/* bit i: keyword index i */
	uint64_t	 size;
	int64_t		 date;
	uint64_t	 modseq;
	const char	*name;		/* file name in cur/ */
};

/*
 * A consistent read view of a folder's messages (an LMDB read
 * transaction).  Cheap; a session takes one per command.  Must be ended
 * before the next write to the same folder from this process.
 */
struct mstore_snap;

int	mstore_snap_begin(struct mstore_folder *f, struct mstore_snap **snap_r,
	    const char **error_r) ATTR_WUR;
void	mstore_snap_end(struct mstore_snap **snapp);
/* Messages in the view. */
uint32_t mstore_snap_count(const struct mstore_snap *snap);
/*
 * Iteration in UID order from the first UID >= from: returns 1 with *m_r
 * filled, 0 at the end, -1 on error.  m_r->name lives until the next
 * call.
 */
int	mstore_snap_next(struct mstore_snap *snap, uint32_t from,
	    struct mstore_msg *m_r, const char **error_r) ATTR_WUR;
/* One message by UID: 1 found, 0 not there (expunged), -1 error. */
int	mstore_snap_get(struct mstore_snap *snap, uint32_t uid,
	    struct mstore_msg *m_r, const char **error_r) ATTR_WUR;

/*
 * Fills in size and date of the messages uids[0..n) where the index does
 * not know them (a stat, and for the size without ",W=" in the name a
 * read of the file counting bare LFs), and records them in the index
 * (one transaction).  Expunged UIDs are skipped.  Returns 0 or -1.
 */
int	mstore_msg_stat(struct mstore_folder *f, const uint32_t *uids,
	    size_t n, const char **error_r) ATTR_WUR;

/*
 * The whole message uid with CRLF line ends, appended to out (whose
 * maximum must allow it).  A file renamed meanwhile (a flag change in
 * another process) is found again through the index.  Returns 1, 0 when
 * the message is gone (expunged), -1 on error.
 */
int	mstore_msg_read(struct mstore_folder *f, uint32_t uid, struct buf *out,
	    const char **error_r) ATTR_WUR;

/*
 * Cached strings of a message (ENVELOPE, BODYSTRUCTURE, BODY): what =
 * one of MSTORE_CACHE_*.  mstore_cache_get() appends the cached text to
 * out and returns 1, or returns 0 when none is cached, -1 on error.
 * mstore_cache_put() stores it (best effort: a failure is logged by the
 * caller and changes nothing else).
 */
#define MSTORE_CACHE_ENVELOPE		1
#define MSTORE_CACHE_BODYSTRUCTURE	2
#define MSTORE_CACHE_BODY		3

int	mstore_cache_get(struct mstore_folder *f, uint32_t uid, int what,
	    struct buf *out, const char **error_r) ATTR_WUR;
int	mstore_cache_put(struct mstore_folder *f, uint32_t uid, int what,
	    const char *data, size_t len, const char **error_r) ATTR_WUR;

/* STORE modes. */
enum mstore_store_mode {
	MSTORE_STORE_REPLACE = 0,
	MSTORE_STORE_ADD,
	MSTORE_STORE_REMOVE,
};

/*
 * Changes flags and keywords of the messages uids[0..n) (ascending):
 * renames each file whose info changes (under the folder lock), records
 * the new flags with a new change number.  Expunged UIDs are skipped.
 * *changed_r (may be NULL) counts the messages that changed.  Returns 0
 * or -1.
 */
int	mstore_store(struct mstore_folder *f, const uint32_t *uids, size_t n,
	    enum mstore_store_mode mode, uint8_t flags, uint32_t keywords,
	    size_t *changed_r, const char **error_r) ATTR_WUR;

/*
 * Expunges the messages uids[0..n) (ascending): unlinks their files and
 * drops their records (under the folder lock); UIDs already gone are
 * skipped.  Returns 0 or -1.
 */
int	mstore_expunge(struct mstore_folder *f, const uint32_t *uids, size_t n,
	    const char **error_r) ATTR_WUR;

/*
 * APPEND: mstore_append_begin() creates a file in tmp/ and returns a
 * handle whose fd the caller writes the message into (bytes as the
 * client sent them; CRLF line ends are turned into LF by
 * mstore_append_write(), which the caller should use).  Then
 * mstore_append_commit() fsyncs it, moves it into cur/ with flags and
 * keywords in its name and ",S=" and ",W=" in its base name, sets its
 * mtime to date (the internal date; 0 for now), fsyncs cur/, gives it
 * the next UID (recorded durably before return) and sets *uid_r; or
 * mstore_append_abort() removes it.  Either frees the handle.  Errors:
 * NOSPACE, LIMIT (max_messages), EXPUNGED (the folder was deleted),
 * INTERNAL.
 */
struct mstore_append;

struct mstore_append *mstore_append_begin(struct mstore_folder *f,
	    enum mstore_err *code_r, const char **error_r) ATTR_WUR;
int	mstore_append_write(struct mstore_append *a, const char *data,
	    size_t len, enum mstore_err *code_r, const char **error_r) ATTR_WUR;
int	mstore_append_commit(struct mstore_append **ap, uint8_t flags,
	    uint32_t keywords, time_t date, uint32_t *uid_r,
	    enum mstore_err *code_r, const char **error_r) ATTR_WUR;
void	mstore_append_abort(struct mstore_append **ap);

/*
 * COPY: hard links (a copy when the link fails with EXDEV or EMLINK) the
 * messages uids[0..n) (ascending) of src into dst under new base names,
 * with their flags and the keywords that dst knows by name (created in
 * dst as needed, up to its limit), fsyncs dst's cur/, and gives them
 * UIDs in dst in the same order.  Expunged source UIDs are skipped.
 * src_uids_r and dst_uids_r (arrays of n, may be NULL) get the pairs of
 * what was copied (UIDPLUS COPYUID), *count_r their number.  Errors as
 * for append.  MOVE is a copy followed by mstore_expunge() of the
 * sources.
 */
int	mstore_copy(struct mstore_folder *src, const uint32_t *uids, size_t n,
	    struct mstore_folder *dst, uint32_t *src_uids_r,
	    uint32_t *dst_uids_r, size_t *count_r, enum mstore_err *code_r,
	    const char **error_r) ATTR_WUR;

/* ---- status ------------------------------------------------------------- */

struct mstore_status {
	uint32_t	messages;
	uint32_t	recent;
	uint32_t	unseen;
	uint32_t	deleted;
	uint32_t	uidnext;
	uint32_t	uidvalidity;
	uint64_t	size;		/* sum of RFC822.SIZE */
};

/*
 * The counts STATUS reports for an open folder (synchronised first).
 * Kept up to date in the index, so O(1) after the sync, except size,
 * which needs every message's size (mstore_msg_stat() is done for those
 * not known) when want_size is true.
 */
int	mstore_folder_status(struct mstore_folder *f, bool want_size,
	    struct mstore_status *st_r, const char **error_r) ATTR_WUR;

/* ---- change notification ------------------------------------------------ */

/*
 * Tells a caller when a folder's cur/ or new/ changes (inotify, one
 * descriptor per process on base's loop, created on first use).  The
 * callback runs from the event loop, at most once per
 * MSTORE_WATCH_DELAY_MS for a burst of changes, for every watch on a
 * changed folder; it should sync and look.  Changes made by this process
 * through the mstore_* calls also fire (other sessions need to hear of
 * them).  Returns the watch (free with mstore_watch_free()), or NULL
 * with *error_r (inotify limits); a session without a watch still sees
 * changes at its next command.
 */
#define MSTORE_WATCH_DELAY_MS	100

typedef void mstore_watch_cb(void *ctx);

struct mstore_watch *mstore_watch_new(struct event_base *base,
	    struct mstore_folder *f, mstore_watch_cb *cb, void *ctx,
	    const char **error_r) ATTR_WUR;
void	mstore_watch_free(struct mstore_watch **wp);

#endif
