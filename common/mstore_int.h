/* SPDX-License-Identifier: ISC */
/*
 * Internals of the mail store (mstore.h), shared by mstore.c (the user's
 * store: folders, subscriptions), mstore_folder.c (opening a folder, its
 * lock, postern-uidlist, keywords, synchronisation, watches) and
 * mstore_index.c (the LMDB index and every message operation).
 */
#ifndef POSTERN_MSTORE_INT_H
#define POSTERN_MSTORE_INT_H

#include <sys/types.h>

#include <stdbool.h>
#include <stdint.h>

#include <lmdb.h>

#include "mbox_name.h"
#include "mstore.h"

/* Version of the records below; another one makes the index "broken". */
#define MSTORE_INDEX_VERSION	1
/* A change in the same clock tick may hide behind an unchanged mtime. */
#define MSTORE_SYNC_FUZZ_NS	(2LL * 1000 * 1000 * 1000)
/* Compaction of postern-uidlist: more than 2x and at least this many. */
#define MSTORE_UIDLIST_SLACK	1000
/* Largest postern-keywords and postern-special-use files read. */
#define MSTORE_SMALL_FILE_MAX	(64 * 1024)
/* Largest postern-subscriptions file read. */
#define MSTORE_SUBS_MAX		(4 * 1024 * 1024)
/* Times a write transaction is retried after growing the map. */
#define MSTORE_MAP_RETRIES	8
/* Longest file name we make or accept (NAME_MAX). */
#define MSTORE_NAME_MAX		255

/* Where a message's file is. */
#define MSTORE_WHERE_CUR	0
#define MSTORE_WHERE_NEW	1	/* folder not writable: left in new/ */
#define MSTORE_WHERE_UNKNOWN	2	/* from a uidlist line: sync finds it */

/* The "meta" record (key "m"), host byte order. */
struct mstore_meta {
	uint32_t	version;
	uint32_t	uidvalidity;
	uint32_t	uidnext;
	uint32_t	recent;		/* uids >= it are \Recent */
	uint64_t	modseq;
	uint64_t	applied;	/* bytes of postern-uidlist applied */
	uint64_t	lines;		/* UID lines in postern-uidlist */
	int64_t		cur_mtime;	/* ns, at the last full sync */
	int64_t		new_mtime;
	uint64_t	cur_size;
	uint64_t	new_size;
	int64_t		sync_time;	/* ns, when the last full sync began */
	uint32_t	messages;
	uint32_t	unseen;
	uint32_t	deleted;
	uint32_t	pad;
};

/*
 * A "uid" record (key: the uid, 4 bytes big-endian): this fixed part,
 * then the file name (name_len bytes) and a NUL.
 */
struct mstore_rec {
	uint64_t	modseq;
	uint64_t	size;
	int64_t		date;
	uint32_t	keywords;
	uint8_t		flags;
	uint8_t		where;		/* MSTORE_WHERE_* */
	uint16_t	name_len;
};

/*
 * A "name" record (key: the base name) holds the uid (4 bytes, host
 * order), where (1 byte) and the info after the base (":2,FS", or empty).
 */
#define MSTORE_NAMEREC_FIXED	5

struct mstore {
	char			*root;		/* the Maildir, no trailing "/" */
	int			 rootfd;
	struct mstore_limits	 lim;
	struct mbox_name_limits	 nlim;
	uint64_t		 counter;	/* unique temporary names */
};

struct mstore_watch {
	struct mstore_watch	*next;
	struct mstore_folder	*f;
	mstore_watch_cb		*cb;
	void			*ctx;
	uint64_t		 gen;		/* last dispatch it was called in */
};

struct mstore_folder {
	struct mstore_folder	*reg_next;	/* the process's registry */
	bool			 in_registry;
	unsigned int		 refs;
	dev_t			 dev;
	ino_t			 ino;
	char			*name;
	char			*path;
	int			 dfd;
	int			 curfd;
	int			 newfd;
	int			 tmpfd;
	int			 lockfd;	/* postern-uidlist */
	unsigned int		 lock_depth;
	uint32_t		 max_messages;
	bool			 deleted;
	bool			 force_full;	/* next sync reads the dirs */
	bool			 uidlist_bad;	/* rewrite it at next unlock */
	uint64_t		 uidlist_floor;	/* uids seen in a damaged tail */
	MDB_env			*env;
	MDB_dbi			 dbi_meta;
	MDB_dbi			 dbi_uid;
	MDB_dbi			 dbi_name;
	MDB_dbi			 dbi_cache;
	struct mstore_meta	 meta;		/* as last read or written */
	struct mstore_meta	 meta_pending;	/* written in the open txn */
	char			*kw[MSTORE_KEYWORDS_MAX];
	uint64_t		 counter;	/* unique names */
	unsigned int		 snaps;		/* snapshots open */
	/* watches */
	struct mstore_watch	*watches;
	struct mstore_folder	*watch_next;	/* folders with watches */
	int			 wd_cur;
	int			 wd_new;
	struct event		*timer;
	uint64_t		 watch_gen;
};

/* A new message to be given a UID (append, copy, sync). */
struct mstore_newmsg {
	const char	*base;
	const char	*info;		/* ":2,..." or "" */
	uint8_t		 where;
	uint8_t		 flags;
	uint32_t	 keywords;
	uint64_t	 size;
	int64_t		 date;
	uint32_t	 uid;		/* set by mstore_index_add() */
};

/* ---- mstore.c --------------------------------------------------------- */

/* A unique base name (delivery agent form) into dst. */
int	mstore_unique_name(uint64_t *counter, char *dst, size_t size);

/* ---- mstore_folder.c ---------------------------------------------------- */

int	mstore_folder_lock(struct mstore_folder *f, const char **error_r);
void	mstore_folder_unlock(struct mstore_folder *f);
/* Full synchronisation (the caller holds no lock); forces the dir scan. */
int	mstore_folder_sync_full(struct mstore_folder *f, const char **error_r);
/* Appends "<uid> <base>\n" lines for msgs and fdatasyncs (lock held). */
int	mstore_uidlist_append(struct mstore_folder *f,
	    const struct mstore_newmsg *msgs, size_t n, uint32_t first_new,
	    uint64_t *bytes_r, const char **error_r);
/* Rewrites postern-uidlist from the index (lock held). */
int	mstore_uidlist_rewrite(struct mstore_folder *f, const char **error_r);
/*
 * A file name we index: its base (before ":") passes mstore_base_ok() and
 * it does not start with ".".  *base_len_r gets the base's length.
 */
bool	mstore_name_parse(const char *name, size_t len, size_t *base_len_r);
/* A base name: 1..MSTORE_BASE_MAX bytes, no control byte, "/" or ":". */
bool	mstore_base_ok(const char *base, size_t len);
void	mstore_info_flags(const char *info, uint8_t *flags_r,
	    uint32_t *keywords_r);
/* Writes ":2,<letters>" for flags and keywords keeping other letters. */
int	mstore_info_make(const char *old_info, uint8_t flags,
	    uint32_t keywords, char *dst, size_t size);
/* Reads dfd/name (a regular file, at most max bytes) into b. 0, or -1. */
int	mstore_read_small(int dfd, const char *name, size_t max,
	    struct buf *b, bool *missing_r);
/* Writes data to dfd/tmp, fsyncs it, renames it to dfd/name, fsyncs dfd. */
int	mstore_write_file(int dfd, const char *tmp, const char *name,
	    const char *data, size_t len, const char **error_r);
/* Reloads postern-keywords (lock held or not). */
int	mstore_keywords_load(struct mstore_folder *f, const char **error_r);
/* Marks open folders below the directory (dev, ino) deleted / renamed. */
void	mstore_registry_deleted(dev_t dev, ino_t ino);
void	mstore_registry_renamed(dev_t dev, ino_t ino, const char *name,
	    const char *path);

/* ---- mstore_index.c ----------------------------------------------------- */

typedef int mstore_txn_fn(struct mstore_folder *f, MDB_txn *txn, void *ctx,
	    const char **error_r);

/* Opens f->env (and its DBs); 1 fresh, 0 existing, -1 error (*broken_r). */
int	mstore_index_open(struct mstore_folder *f, bool *broken_r,
	    const char **error_r);
void	mstore_index_close(struct mstore_folder *f);
/* Begins a read transaction, handling MDB_MAP_RESIZED. */
int	mstore_txn_read(struct mstore_folder *f, MDB_txn **txn_r,
	    const char **error_r);
/*
 * Runs fn in a write transaction and commits; grows the map and runs fn
 * again on MDB_MAP_FULL, so fn must only read its ctx.  fn returns 0, an
 * MDB error code, or -1 with *error_r.  On success f->meta is the meta
 * fn wrote with mstore_meta_put() (if any).
 */
int	mstore_txn_write(struct mstore_folder *f, mstore_txn_fn *fn,
	    void *ctx, const char **error_r);
/* 1 found, 0 none, an MDB error code as -1 with *error_r. */
int	mstore_meta_get(struct mstore_folder *f, MDB_txn *txn,
	    struct mstore_meta *m_r, const char **error_r);
int	mstore_meta_put(struct mstore_folder *f, MDB_txn *txn,
	    const struct mstore_meta *m);
/* 1 found (rec and name pointing into the map), 0, -1. */
int	mstore_rec_get(struct mstore_folder *f, MDB_txn *txn, uint32_t uid,
	    struct mstore_rec *rec_r, const char **name_r,
	    const char **error_r);
int	mstore_rec_put(struct mstore_folder *f, MDB_txn *txn, uint32_t uid,
	    const struct mstore_rec *rec, const char *name, size_t name_len,
	    unsigned int flags);
int	mstore_namerec_put(struct mstore_folder *f, MDB_txn *txn,
	    const char *base, size_t base_len, uint32_t uid, uint8_t where,
	    const char *info, unsigned int flags);
/* Drops a message's uid, name and cache records (rc). */
int	mstore_rec_del(struct mstore_folder *f, MDB_txn *txn, uint32_t uid,
	    const char *base, size_t base_len);
/* Updates counts in m for a message going from (had, oflags) to new. */
void	mstore_meta_count(struct mstore_meta *m, bool had, uint8_t oflags,
	    bool has, uint8_t nflags);
/*
 * Gives msgs[0..n) UIDs (lock held; the files are in place): bases the
 * index knows keep their UID; the others get the next ones, recorded in
 * postern-uidlist and then the index.
 */
int	mstore_index_add(struct mstore_folder *f, struct mstore_newmsg *msgs,
	    size_t n, const char **error_r);
/* Applies postern-uidlist lines from meta.applied (lock held). */
int	mstore_index_apply(struct mstore_folder *f, const char *data,
	    size_t len, uint64_t start, const char **error_r);
/* The size of base from ",W=" (1), else 0. */
int	mstore_base_wsize(const char *base, size_t len, uint64_t *size_r);

/* Big-endian uid keys. */
static inline void
mstore_uid_key(uint32_t uid, unsigned char key[4])
{
	key[0] = (unsigned char)(uid >> 24);
	key[1] = (unsigned char)(uid >> 16);
	key[2] = (unsigned char)(uid >> 8);
	key[3] = (unsigned char)uid;
}

static inline uint32_t
mstore_uid_from_key(const void *p)
{
	const unsigned char	*k = p;

	return (uint32_t)k[0] << 24 | (uint32_t)k[1] << 16 |
	    (uint32_t)k[2] << 8 | k[3];
}

static inline int64_t
mstore_ts_ns(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * 1000000000LL + ts->tv_nsec;
}

#endif
