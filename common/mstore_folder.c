/* SPDX-License-Identifier: ISC */
/*
 * Folders of the mail store (mstore.h): opening one (and recovering its
 * index), the folder lock, postern-uidlist, postern-keywords, Maildir
 * file names and flags, synchronisation with the directories, and the
 * inotify watches.
 *
 * Two pieces of state are per process, not per session, and so live in
 * file-scope statics (the exceptions STYLE R14 allows for registries):
 * the registry of open folders, because LMDB must not open one
 * environment twice in a process and every session of the process must
 * share one struct mstore_folder per directory; and the one inotify
 * descriptor with its libevent event, shared by every watch.  Both are
 * used from the event loop's thread only.
 *
 * What it trusts: nothing in the Maildir.  Names in cur/ and new/ are
 * bounded and checked (mstore_name_parse()), never followed through a
 * symbolic link, and the small text files are read with a size bound.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <lmdb.h>

#include "buf.h"
#include "error.h"
#include "file.h"
#include "log.h"
#include "mbox_name.h"
#include "mstore.h"
#include "mstore_int.h"
#include "str.h"
#include "xmalloc.h"

#include "banned.h"

/* The open folders of this process (see the top of the file). */
static struct mstore_folder *mstore_registry;

/* The inotify descriptor of this process and the folders it watches. */
static struct {
	int			 fd;
	struct event		*ev;
	struct event_base	*base;
	struct mstore_folder	*folders;
} mstore_ino = { -1, NULL, NULL, NULL };

#define MSTORE_UIDLIST_TMP	"postern-uidlist.tmp"
#define MSTORE_KEYWORDS_TMP	"postern-keywords.tmp"
#define MSTORE_INDEX_BROKEN	"postern-index.broken"
#define MSTORE_INDEX_LOCK	"postern-index-lock"

static int	mstore_folder_sync_int(struct mstore_folder *f, bool force,
		    const char **error_r);

/* ---- names and flags ----------------------------------------------------- */

bool
mstore_base_ok(const char *base, size_t len)
{
	size_t	i;

	if (len == 0 || len > MSTORE_BASE_MAX || base[0] == '.')
		return false;
	for (i = 0; i < len; i++) {
		if ((unsigned char)base[i] < 0x20 || base[i] == 0x7f ||
		    base[i] == '/' || base[i] == ':')
			return false;
	}
	return true;
}

bool
mstore_name_parse(const char *name, size_t len, size_t *base_len_r)
{
	const char	*colon;
	size_t		 i;

	if (len == 0 || len > MSTORE_NAME_MAX || name[0] == '.')
		return false;
	colon = memchr(name, ':', len);
	*base_len_r = colon != NULL ? (size_t)(colon - name) : len;
	for (i = *base_len_r; i < len; i++) {
		if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f ||
		    name[i] == '/')
			return false;
	}
	return mstore_base_ok(name, *base_len_r);
}

static uint8_t
mstore_flag_of(char c)
{
	switch (c) {
	case 'D':
		return MSTORE_F_DRAFT;
	case 'F':
		return MSTORE_F_FLAGGED;
	case 'R':
		return MSTORE_F_ANSWERED;
	case 'S':
		return MSTORE_F_SEEN;
	case 'T':
		return MSTORE_F_DELETED;
	default:
		return 0;
	}
}

void
mstore_info_flags(const char *info, uint8_t *flags_r, uint32_t *keywords_r)
{
	const char	*p;

	*flags_r = 0;
	*keywords_r = 0;
	if (strncmp(info, ":2,", 3) != 0)
		return;
	for (p = info + 3; *p != '\0'; p++) {
		if (*p >= 'a' && *p <= 'z')
			*keywords_r |= 1U << (*p - 'a');
		else
			*flags_r |= mstore_flag_of(*p);
	}
}

int
mstore_info_make(const char *old_info, uint8_t flags, uint32_t keywords,
    char *dst, size_t size)
{
	bool		 set[256];
	const char	*p;
	size_t		 o = 3;
	unsigned int	 c;

	memset(set, 0, sizeof(set));
	if (strncmp(old_info, ":2,", 3) == 0) {
		/* Letters we do not know stay (never lost on a rename). */
		for (p = old_info + 3; *p != '\0'; p++)
			if (mstore_flag_of(*p) == 0 &&
			    !(*p >= 'a' && *p <= 'z') && *p != ',' &&
			    *p != ':')
				set[(unsigned char)*p] = true;
	}
	if (flags & MSTORE_F_DRAFT)
		set['D'] = true;
	if (flags & MSTORE_F_FLAGGED)
		set['F'] = true;
	if (flags & MSTORE_F_ANSWERED)
		set['R'] = true;
	if (flags & MSTORE_F_SEEN)
		set['S'] = true;
	if (flags & MSTORE_F_DELETED)
		set['T'] = true;
	for (c = 0; c < MSTORE_KEYWORDS_MAX; c++)
		if (keywords & (1U << c))
			set['a' + c] = true;
	if (size < 4)
		return -1;
	memcpy(dst, ":2,", 3);
	for (c = 1; c < 256; c++) {
		if (!set[c])
			continue;
		if (o + 2 > size)
			return -1;
		dst[o++] = (char)c;
	}
	dst[o] = '\0';
	return 0;
}

/* ---- small files ---------------------------------------------------- */

int
mstore_read_small(int dfd, const char *name, size_t max, struct buf *b,
    bool *missing_r)
{
	struct stat	 st;
	char		 chunk[4096];
	ssize_t		 r;
	int		 fd, saved;

	*missing_r = false;
	fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC | O_NOCTTY);
	if (fd == -1) {
		*missing_r = errno == ENOENT;
		return -1;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size > max) {
		(void)close(fd);
		errno = EINVAL;
		return -1;
	}
	for (;;) {
		r = read(fd, chunk, sizeof(chunk));
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		if (b->len + (size_t)r > max ||
		    buf_append(b, chunk, (size_t)r) == -1) {
			r = -1;
			errno = EFBIG;
			break;
		}
	}
	saved = errno;
	(void)close(fd);
	errno = saved;
	return r == -1 ? -1 : 0;
}

int
mstore_write_file(int dfd, const char *tmp, const char *name, const char *data,
    size_t len, const char **error_r)
{
	int	fd;

	fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	if (fd == -1) {
		*error_r = error_fmt("create %s: %m", tmp);
		return -1;
	}
	if (file_write_all(fd, data, len) == -1 || fsync(fd) == -1) {
		*error_r = error_fmt("write %s: %m", tmp);
		(void)close(fd);
		(void)unlinkat(dfd, tmp, 0);
		return -1;
	}
	(void)close(fd);
	if (renameat(dfd, tmp, dfd, name) == -1) {
		*error_r = error_fmt("rename %s: %m", tmp);
		(void)unlinkat(dfd, tmp, 0);
		return -1;
	}
	if (fsync(dfd) == -1) {
		*error_r = error_fmt("fsync folder of %s: %m", name);
		return -1;
	}
	return 0;
}

/* ---- keywords ---------------------------------------------------------- */

static bool
mstore_keyword_ok(const char *name)
{
	size_t	len = strlen(name), i;

	if (len == 0 || len > MSTORE_KEYWORD_LEN || name[0] == '\\')
		return false;
	for (i = 0; i < len; i++) {
		if ((unsigned char)name[i] <= 0x20 || name[i] == 0x7f ||
		    strchr("(){%*\"\\]", name[i]) != NULL)
			return false;
	}
	return true;
}

static void
mstore_keywords_clear(struct mstore_folder *f)
{
	unsigned int	i;

	for (i = 0; i < MSTORE_KEYWORDS_MAX; i++) {
		free(f->kw[i]);
		f->kw[i] = NULL;
	}
}

int
mstore_keywords_load(struct mstore_folder *f, const char **error_r)
{
	struct buf	 b;
	const char	*p, *end, *nl, *sp;
	uint64_t	 idx;
	char		*name;
	bool		 missing;

	buf_init(&b, 0, MSTORE_SMALL_FILE_MAX + 1);
	if (mstore_read_small(f->dfd, MSTORE_KEYWORDS, MSTORE_SMALL_FILE_MAX,
	    &b, &missing) == -1) {
		buf_deinit(&b);
		if (missing) {
			mstore_keywords_clear(f);
			return 0;
		}
		*error_r = error_fmt("%s/%s: %m", f->path, MSTORE_KEYWORDS);
		return -1;
	}
	mstore_keywords_clear(f);
	p = b.data;
	end = b.data + b.len;
	for (; p < end; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			break;
		sp = memchr(p, ' ', (size_t)(nl - p));
		if (sp == NULL || parse_u64_n(p, (size_t)(sp - p),
		    MSTORE_KEYWORDS_MAX - 1, &idx) == -1)
			continue;
		name = xstrndup(sp + 1, (size_t)(nl - sp - 1));
		if (!mstore_keyword_ok(name) || f->kw[idx] != NULL) {
			free(name);
			continue;
		}
		f->kw[idx] = name;
	}
	buf_deinit(&b);
	return 0;
}

unsigned int
mstore_keyword_count(const struct mstore_folder *f)
{
	unsigned int	i, n = 0;

	for (i = 0; i < MSTORE_KEYWORDS_MAX; i++)
		if (f->kw[i] != NULL)
			n = i + 1;
	return n;
}

const char *
mstore_keyword_name(const struct mstore_folder *f, unsigned int idx)
{
	return idx < MSTORE_KEYWORDS_MAX ? f->kw[idx] : NULL;
}

static int
mstore_keyword_find(const struct mstore_folder *f, const char *name)
{
	int	i;

	for (i = 0; i < MSTORE_KEYWORDS_MAX; i++)
		if (f->kw[i] != NULL && str_eq_icase(f->kw[i], name))
			return i;
	return -1;
}

int
mstore_keyword_index(struct mstore_folder *f, const char *name, bool create,
    enum mstore_err *code_r, const char **error_r)
{
	struct buf	 b;
	int		 idx, i, ret = -1;

	*code_r = MSTORE_E_NONE;
	if ((idx = mstore_keyword_find(f, name)) != -1)
		return idx;
	if (!mstore_keyword_ok(name)) {
		*code_r = MSTORE_E_NAME;
		*error_r = "invalid keyword";
		return -1;
	}
	if (!create) {
		*code_r = MSTORE_E_NONEXISTENT;
		*error_r = "no such keyword";
		return -1;
	}
	*code_r = MSTORE_E_INTERNAL;
	if (f->deleted) {
		*code_r = MSTORE_E_EXPUNGED;
		*error_r = "mailbox deleted";
		return -1;
	}
	if (mstore_folder_lock(f, error_r) == -1)
		return -1;
	if (mstore_keywords_load(f, error_r) == -1)
		goto out;
	if ((idx = mstore_keyword_find(f, name)) != -1) {
		ret = idx;
		*code_r = MSTORE_E_NONE;
		goto out;
	}
	for (idx = 0; idx < MSTORE_KEYWORDS_MAX && f->kw[idx] != NULL; idx++)
		;
	if (idx == MSTORE_KEYWORDS_MAX) {
		*code_r = MSTORE_E_LIMIT;
		*error_r = "too many keywords in the mailbox";
		goto out;
	}
	f->kw[idx] = xstrdup(name);
	buf_init(&b, 0, SIZE_MAX / 2);
	for (i = 0; i < MSTORE_KEYWORDS_MAX; i++)
		if (f->kw[i] != NULL && buf_printf(&b, "%d %s\n", i,
		    f->kw[i]) == -1)
			abort();
	if (mstore_write_file(f->dfd, MSTORE_KEYWORDS_TMP, MSTORE_KEYWORDS,
	    b.data, b.len, error_r) == -1) {
		free(f->kw[idx]);
		f->kw[idx] = NULL;
	} else {
		ret = idx;
		*code_r = MSTORE_E_NONE;
	}
	buf_deinit(&b);
out:
	mstore_folder_unlock(f);
	return ret;
}

/* ---- postern-uidlist --------------------------------------------------- */

/* Appends the uidlist from offset from to b (initialised by the caller). */
static int
mstore_uidlist_read(struct mstore_folder *f, uint64_t from, struct buf *b,
    const char **error_r)
{
	struct stat	st;
	ssize_t		r;
	size_t		want;

	if (fstat(f->lockfd, &st) == -1) {
		*error_r = error_fmt("%s/%s: %m", f->path, MSTORE_UIDLIST);
		return -1;
	}
	if ((uint64_t)st.st_size <= from)
		return 0;
	want = (size_t)((uint64_t)st.st_size - from);
	buf_deinit(b);
	buf_init(b, want + 1, SIZE_MAX / 2);
	while (b->len < want) {
		r = pread(f->lockfd, b->data + b->len, want - b->len,
		    (off_t)(from + b->len));
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			*error_r = error_fmt("read %s/%s: %m", f->path,
			    MSTORE_UIDLIST);
			return -1;
		}
		if (r == 0)
			break;
		b->len += (size_t)r;
	}
	b->data[b->len] = '\0';
	return 0;
}

/* The header line: 1 parsed (its length in *len_r), 0 not readable. */
static int
mstore_uidlist_header(const char *data, size_t len, uint32_t *v_r,
    uint32_t *n_r, size_t *len_r)
{
	const char	*nl, *sp;
	uint64_t	 v, n;

	if ((nl = memchr(data, '\n', len)) == NULL || nl - data < 8 ||
	    memcmp(data, "P1 V", 4) != 0)
		return 0;
	if ((sp = memchr(data + 4, ' ', (size_t)(nl - data - 4))) == NULL ||
	    sp[1] != 'N' ||
	    parse_u64_n(data + 4, (size_t)(sp - data - 4), UINT32_MAX,
	    &v) == -1 || v == 0 ||
	    parse_u64_n(sp + 2, (size_t)(nl - sp - 2), UINT32_MAX, &n) == -1)
		return 0;
	*v_r = (uint32_t)v;
	*n_r = n == 0 ? 1 : (uint32_t)n;
	*len_r = (size_t)(nl - data + 1);
	return 1;
}

int
mstore_uidlist_append(struct mstore_folder *f, const struct mstore_newmsg *msgs,
    size_t n, uint32_t first_new, uint64_t *bytes_r, const char **error_r)
{
	struct buf	b;
	struct stat	st;
	size_t		i;
	int		ret = -1;

	*bytes_r = 0;
	buf_init(&b, 64 * (n < 100000 ? n : 100000) + 64, SIZE_MAX / 2);
	for (i = 0; i < n; i++) {
		if (msgs[i].uid < first_new)
			continue;
		if (buf_printf(&b, "%" PRIu32 " %s\n", msgs[i].uid,
		    msgs[i].base) == -1)
			abort();
	}
	if (fstat(f->lockfd, &st) == -1)
		goto fail;
	if (pwrite(f->lockfd, b.data, b.len, st.st_size) != (ssize_t)b.len ||
	    fdatasync(f->lockfd) == -1) {
		(void)ftruncate(f->lockfd, st.st_size);
		goto fail;
	}
	*bytes_r = b.len;
	ret = 0;
	goto out;
fail:
	*error_r = error_fmt("write %s/%s: %m", f->path, MSTORE_UIDLIST);
out:
	buf_deinit(&b);
	return ret;
}

struct mstore_rewrite_ctx {
	uint64_t	bytes;
	uint64_t	lines;
};

static int
mstore_rewrite_txn(struct mstore_folder *f, MDB_txn *txn, void *vctx,
    const char **error_r)
{
	struct mstore_rewrite_ctx	*ctx = vctx;
	struct mstore_meta		 m;
	int				 found;

	if ((found = mstore_meta_get(f, txn, &m, error_r)) == -1)
		return -1;
	if (found == 0)
		m = f->meta;
	m.applied = ctx->bytes;
	m.lines = ctx->lines;
	return mstore_meta_put(f, txn, &m);
}

int
mstore_uidlist_rewrite(struct mstore_folder *f, const char **error_r)
{
	struct mstore_rewrite_ctx	 ctx = { 0, 0 };
	struct mstore_meta		 m;
	struct buf			 b;
	MDB_txn				*txn;
	MDB_cursor			*cur;
	MDB_val				 k, v;
	struct mstore_rec		 rec;
	const char			*name;
	int				 fd, rc, found;

	if (mstore_txn_read(f, &txn, error_r) == -1)
		return -1;
	if ((found = mstore_meta_get(f, txn, &m, error_r)) <= 0) {
		mdb_txn_abort(txn);
		if (found == 0)
			*error_r = "index has no meta record";
		return -1;
	}
	buf_init(&b, 64 * (size_t)m.messages + 64, SIZE_MAX / 2);
	if (buf_printf(&b, "P1 V%" PRIu32 " N%" PRIu32 "\n", m.uidvalidity,
	    m.uidnext) == -1)
		abort();
	if ((rc = mdb_cursor_open(txn, f->dbi_uid, &cur)) != 0) {
		mdb_txn_abort(txn);
		buf_deinit(&b);
		*error_r = error_fmt("%s: cursor: %s", f->path,
		    mdb_strerror(rc));
		return -1;
	}
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size != 4 || v.mv_size < sizeof(rec) + 1)
			continue;
		memcpy(&rec, v.mv_data, sizeof(rec));
		name = (const char *)v.mv_data + sizeof(rec);
		if (v.mv_size != sizeof(rec) + rec.name_len + 1)
			continue;
		if (buf_printf(&b, "%" PRIu32 " %.*s\n",
		    mstore_uid_from_key(k.mv_data),
		    (int)strcspn(name, ":"), name) == -1)
			abort();
		ctx.lines++;
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	ctx.bytes = b.len;

	/* Locked before it is visible, so the lock passes on unbroken. */
	fd = openat(f->dfd, MSTORE_UIDLIST_TMP, O_RDWR | O_CREAT | O_TRUNC |
	    O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd == -1 || flock(fd, LOCK_EX) == -1 ||
	    file_write_all(fd, b.data, b.len) == -1 || fsync(fd) == -1 ||
	    renameat(f->dfd, MSTORE_UIDLIST_TMP, f->dfd,
	    MSTORE_UIDLIST) == -1 ||
	    fsync(f->dfd) == -1) {
		*error_r = error_fmt("rewrite %s/%s: %m", f->path,
		    MSTORE_UIDLIST);
		if (fd != -1)
			(void)close(fd);
		(void)unlinkat(f->dfd, MSTORE_UIDLIST_TMP, 0);
		buf_deinit(&b);
		return -1;
	}
	buf_deinit(&b);
	(void)close(f->lockfd);
	f->lockfd = fd;
	f->uidlist_bad = false;
	return mstore_txn_write(f, mstore_rewrite_txn, &ctx, error_r);
}

/* ---- the folder lock ----------------------------------------------------- */

/* Applies what the uidlist holds past meta.applied (lock held). */
static int
mstore_uidlist_catch_up(struct mstore_folder *f, const char **error_r)
{
	struct buf	b;
	struct stat	st;
	MDB_txn		*txn;
	int		found, ret;

	if (mstore_txn_read(f, &txn, error_r) == -1)
		return -1;
	found = mstore_meta_get(f, txn, &f->meta, error_r);
	mdb_txn_abort(txn);
	if (found != 1) {
		if (found == 0)
			*error_r = "index has no meta record";
		return -1;
	}
	if (fstat(f->lockfd, &st) == -1) {
		*error_r = error_fmt("%s/%s: %m", f->path, MSTORE_UIDLIST);
		return -1;
	}
	if ((uint64_t)st.st_size < f->meta.applied) {
		/* Cut by someone: the index knows more; write it out. */
		return mstore_uidlist_rewrite(f, error_r);
	}
	if ((uint64_t)st.st_size == f->meta.applied)
		return 0;
	buf_init(&b, 0, SIZE_MAX / 2);
	if (mstore_uidlist_read(f, 0, &b, error_r) == -1) {
		buf_deinit(&b);
		return -1;
	}
	ret = mstore_index_apply(f, b.data, b.len, f->meta.applied, error_r);
	buf_deinit(&b);
	if (ret == 0 && f->uidlist_bad)
		ret = mstore_uidlist_rewrite(f, error_r);
	return ret;
}

/* flock on f->lockfd, following a uidlist replaced meanwhile. */
static int
mstore_flock(struct mstore_folder *f, const char **error_r)
{
	struct stat	a, b;
	int		tries, fd;

	for (tries = 0; tries < 100; tries++) {
		while (flock(f->lockfd, LOCK_EX) == -1) {
			if (errno != EINTR) {
				*error_r = error_fmt("lock %s/%s: %m", f->path,
				    MSTORE_UIDLIST);
				return -1;
			}
		}
		if (fstat(f->lockfd, &a) == -1) {
			*error_r = error_fmt("%s/%s: %m", f->path,
			    MSTORE_UIDLIST);
			goto fail;
		}
		if (fstatat(f->dfd, MSTORE_UIDLIST, &b,
		    AT_SYMLINK_NOFOLLOW) == -1) {
			if (errno == ENOENT)
				f->deleted = true;
			*error_r = error_fmt("%s/%s: %m", f->path,
			    MSTORE_UIDLIST);
			goto fail;
		}
		if (a.st_ino == b.st_ino && a.st_dev == b.st_dev)
			return 0;
		/* Rewritten by another process: lock the new one. */
		fd = openat(f->dfd, MSTORE_UIDLIST, O_RDWR | O_NOFOLLOW |
		    O_CLOEXEC);
		if (fd == -1) {
			*error_r = error_fmt("%s/%s: %m", f->path,
			    MSTORE_UIDLIST);
			goto fail;
		}
		(void)close(f->lockfd);
		f->lockfd = fd;
	}
	*error_r = "cannot lock the folder";
	return -1;
fail:
	(void)flock(f->lockfd, LOCK_UN);
	return -1;
}

int
mstore_folder_lock(struct mstore_folder *f, const char **error_r)
{
	if (f->lock_depth > 0) {
		f->lock_depth++;
		return 0;
	}
	if (f->deleted) {
		*error_r = "mailbox deleted";
		return -1;
	}
	if (mstore_flock(f, error_r) == -1)
		return -1;
	f->lock_depth = 1;
	if (mstore_uidlist_catch_up(f, error_r) == -1) {
		mstore_folder_unlock(f);
		return -1;
	}
	return 0;
}

void
mstore_folder_unlock(struct mstore_folder *f)
{
	const char	*error;

	if (f->lock_depth == 0)
		log_panic("mstore: unlock of a folder not locked");
	if (--f->lock_depth > 0)
		return;
	if (!f->deleted && f->env != NULL &&
	    f->meta.lines > 2 * (uint64_t)f->meta.messages &&
	    f->meta.lines - f->meta.messages >= MSTORE_UIDLIST_SLACK &&
	    mstore_uidlist_rewrite(f, &error) == -1)
		log_warning("mstore: %s", error);
	(void)flock(f->lockfd, LOCK_UN);
}

/* ---- opening ------------------------------------------------------------ */

static struct mstore_folder *
mstore_registry_find(dev_t dev, ino_t ino)
{
	struct mstore_folder	*f;

	for (f = mstore_registry; f != NULL; f = f->reg_next)
		if (f->dev == dev && f->ino == ino)
			return f;
	return NULL;
}

static void
mstore_registry_remove(struct mstore_folder *f)
{
	struct mstore_folder	**pp;

	if (!f->in_registry)
		return;
	for (pp = &mstore_registry; *pp != NULL; pp = &(*pp)->reg_next) {
		if (*pp == f) {
			*pp = f->reg_next;
			break;
		}
	}
	f->in_registry = false;
}

void
mstore_registry_deleted(dev_t dev, ino_t ino)
{
	struct mstore_folder	*f;

	if ((f = mstore_registry_find(dev, ino)) != NULL) {
		f->deleted = true;
		mstore_registry_remove(f);
	}
}

void
mstore_registry_renamed(dev_t dev, ino_t ino, const char *name,
    const char *path)
{
	struct mstore_folder	*f;

	if ((f = mstore_registry_find(dev, ino)) != NULL) {
		free(f->name);
		free(f->path);
		f->name = xstrdup(name);
		f->path = xstrdup(path);
	}
}

static void
mstore_folder_free(struct mstore_folder *f)
{
	mstore_registry_remove(f);
	mstore_index_close(f);
	if (f->lockfd != -1)
		(void)close(f->lockfd);
	if (f->dfd != -1)
		(void)close(f->dfd);
	if (f->curfd != -1)
		(void)close(f->curfd);
	if (f->newfd != -1)
		(void)close(f->newfd);
	if (f->tmpfd != -1)
		(void)close(f->tmpfd);
	mstore_keywords_clear(f);
	free(f->name);
	free(f->path);
	free(f);
}

static int
mstore_subdir(struct mstore_folder *f, const char *name, bool create)
{
	int	fd;

	fd = openat(f->dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (fd == -1 && errno == ENOENT && create &&
	    mkdirat(f->dfd, name, 0700) == 0)
		fd = openat(f->dfd, name, O_RDONLY | O_DIRECTORY |
		    O_NOFOLLOW | O_CLOEXEC);
	return fd;
}

/* Moves a damaged index aside. */
static void
mstore_index_aside(struct mstore_folder *f)
{
	mstore_index_close(f);
	log_warning("mstore: %s: index damaged, rebuilding it", f->path);
	(void)renameat(f->dfd, MSTORE_INDEX, f->dfd, MSTORE_INDEX_BROKEN);
	(void)unlinkat(f->dfd, MSTORE_INDEX_LOCK, 0);
}

struct mstore_reset_ctx {
	struct mstore_meta	m;
};

static int
mstore_reset_txn(struct mstore_folder *f, MDB_txn *txn, void *vctx,
    const char **error_r ATTR_UNUSED)
{
	struct mstore_reset_ctx	*ctx = vctx;
	int			 rc;

	if ((rc = mdb_drop(txn, f->dbi_uid, 0)) != 0 ||
	    (rc = mdb_drop(txn, f->dbi_name, 0)) != 0 ||
	    (rc = mdb_drop(txn, f->dbi_cache, 0)) != 0)
		return rc;
	return mstore_meta_put(f, txn, &ctx->m);
}

/*
 * The recovery at open (lock held): reads the uidlist, opens the index,
 * and makes the two agree (see mstore.h "UIDs").
 */
static int
mstore_folder_recover(struct mstore_folder *f, const char **error_r)
{
	struct mstore_reset_ctx	 ctx;
	struct buf		 b;
	char			 hdr[64];
	uint32_t		 v = 0, n = 1, floor = 0, oldv = 0;
	size_t			 hlen = 0;
	bool			 broken, hdr_ok;
	int			 fresh, hl;

	buf_init(&b, 0, SIZE_MAX / 2);
	if (mstore_uidlist_read(f, 0, &b, error_r) == -1) {
		buf_deinit(&b);
		return -1;
	}
	hdr_ok = b.len > 0 &&
	    mstore_uidlist_header(b.data, b.len, &v, &n, &hlen) == 1;
	fresh = mstore_index_open(f, &broken, error_r);
	if (fresh == -1 && broken) {
		mstore_index_aside(f);
		fresh = mstore_index_open(f, &broken, error_r);
	}
	if (fresh == -1)
		goto fail;
	if (fresh == 0 && hdr_ok && (f->meta.uidvalidity != v ||
	    f->meta.applied > b.len || f->meta.applied < hlen)) {
		/* The index disagrees with the uidlist. */
		floor = f->meta.uidnext;
		mstore_index_aside(f);
		if ((fresh = mstore_index_open(f, &broken, error_r)) == -1)
			goto fail;
	}
	if (fresh == 0 && hdr_ok) {
		buf_deinit(&b);
		return mstore_uidlist_catch_up(f, error_r);
	}
	if (fresh == 0)
		oldv = f->meta.uidvalidity;
	if (!hdr_ok) {
		/* A new UIDVALIDITY, above any the folder had. */
		v = (uint32_t)time(NULL);
		if (oldv != 0 && v <= oldv)
			v = oldv + 1;
		n = 1;
		hl = snprintf(hdr, sizeof(hdr), "P1 V%" PRIu32 " N1\n", v);
		if (ftruncate(f->lockfd, 0) == -1 ||
		    pwrite(f->lockfd, hdr, (size_t)hl, 0) != hl ||
		    fdatasync(f->lockfd) == -1 || fsync(f->dfd) == -1) {
			*error_r = error_fmt("write %s/%s: %m", f->path,
			    MSTORE_UIDLIST);
			goto fail;
		}
		buf_reset(&b);
		if (buf_append(&b, hdr, (size_t)hl) == -1)
			abort();
		hlen = (size_t)hl;
		if (oldv != 0)
			log_warning("mstore: %s: %s missing, new UIDVALIDITY",
			    f->path, MSTORE_UIDLIST);
	}
	memset(&ctx, 0, sizeof(ctx));
	ctx.m.version = MSTORE_INDEX_VERSION;
	ctx.m.uidvalidity = v;
	ctx.m.uidnext = n > floor ? n : floor;
	ctx.m.recent = 1;
	ctx.m.applied = hlen;
	f->meta = ctx.m;
	if (mstore_txn_write(f, mstore_reset_txn, &ctx, error_r) == -1)
		goto fail;
	f->force_full = true;
	if (b.len > hlen && mstore_index_apply(f, b.data, b.len, hlen,
	    error_r) == -1)
		goto fail;
	buf_deinit(&b);
	if (f->uidlist_bad)
		return mstore_uidlist_rewrite(f, error_r);
	return 0;
fail:
	buf_deinit(&b);
	return -1;
}

struct mstore_folder *
mstore_folder_open(struct mstore *st, const char *name, enum mstore_err *code_r,
    const char **error_r)
{
	struct mstore_folder	*f;
	struct buf		 disk;
	struct stat		 sb;
	int			 dfd;

	*code_r = MSTORE_E_INTERNAL;
	buf_init(&disk, 0, MBOX_NAME_DISK_MAX + 1);
	if (mbox_name_to_disk(name, strlen(name), &st->nlim, &disk,
	    error_r) == -1) {
		buf_deinit(&disk);
		*code_r = MSTORE_E_NAME;
		return NULL;
	}
	dfd = openat(st->rootfd, disk.len == 0 ? "." : disk.data,
	    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd == -1 || fstat(dfd, &sb) == -1 ||
	    fstatat(dfd, "cur", &sb, AT_SYMLINK_NOFOLLOW) == -1 ||
	    !S_ISDIR(sb.st_mode) || fstat(dfd, &sb) == -1) {
		if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP ||
		    (dfd != -1 && !S_ISDIR(sb.st_mode)))
			*code_r = MSTORE_E_NONEXISTENT;
		*error_r = error_fmt("open mailbox %s: %m", log_safe(name));
		if (dfd != -1)
			(void)close(dfd);
		buf_deinit(&disk);
		return NULL;
	}
	if ((f = mstore_registry_find(sb.st_dev, sb.st_ino)) != NULL) {
		(void)close(dfd);
		buf_deinit(&disk);
		f->refs++;
		if (mstore_folder_sync(f, error_r) == -1) {
			mstore_folder_close(&f);
			return NULL;
		}
		*code_r = MSTORE_E_NONE;
		return f;
	}
	f = xcalloc(1, sizeof(*f));
	f->refs = 1;
	f->dev = sb.st_dev;
	f->ino = sb.st_ino;
	f->dfd = dfd;
	f->curfd = f->newfd = f->tmpfd = f->lockfd = -1;
	f->wd_cur = f->wd_new = -1;
	f->max_messages = st->lim.max_messages;
	f->name = xstrdup(name);
	f->path = disk.len == 0 ? xstrdup(st->root) :
	    xasprintf("%s/%s", st->root, disk.data);
	buf_deinit(&disk);
	if ((f->curfd = mstore_subdir(f, "cur", false)) == -1 ||
	    (f->newfd = mstore_subdir(f, "new", true)) == -1 ||
	    (f->tmpfd = mstore_subdir(f, "tmp", true)) == -1) {
		*error_r = error_fmt("%s: cur/new/tmp: %m", f->path);
		goto fail;
	}
	f->lockfd = openat(dfd, MSTORE_UIDLIST, O_RDWR | O_CREAT | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	if (f->lockfd == -1) {
		*error_r = error_fmt("%s/%s: %m", f->path, MSTORE_UIDLIST);
		goto fail;
	}
	if (mstore_flock(f, error_r) == -1)
		goto fail;
	f->lock_depth = 1;
	if (mstore_folder_recover(f, error_r) == -1 ||
	    mstore_folder_sync_int(f, false, error_r) == -1) {
		mstore_folder_unlock(f);
		goto fail;
	}
	mstore_folder_unlock(f);
	f->reg_next = mstore_registry;
	mstore_registry = f;
	f->in_registry = true;
	*code_r = MSTORE_E_NONE;
	return f;
fail:
	mstore_folder_free(f);
	return NULL;
}

void
mstore_folder_close(struct mstore_folder **fp)
{
	struct mstore_folder	*f = *fp;

	if (f == NULL)
		return;
	*fp = NULL;
	if (--f->refs > 0)
		return;
	mstore_folder_free(f);
}

const char *
mstore_folder_name(const struct mstore_folder *f)
{
	return f->name;
}

uint32_t
mstore_folder_uidvalidity(const struct mstore_folder *f)
{
	return f->meta.uidvalidity;
}

uint32_t
mstore_folder_uidnext(const struct mstore_folder *f)
{
	return f->meta.uidnext;
}

uint64_t
mstore_folder_modseq(const struct mstore_folder *f)
{
	return f->meta.modseq;
}

bool
mstore_folder_deleted(const struct mstore_folder *f)
{
	return f->deleted;
}

/* ---- synchronisation ------------------------------------------------ */

/* A file found in cur/ or new/: offsets into the names arena. */
struct mstore_ent {
	size_t		base;		/* base, NUL, info, NUL */
	size_t		info;
	uint8_t		where;
};

struct mstore_scan {
	struct mstore_ent	*ents;
	size_t			 n;
	size_t			 cap;
	struct buf		 names;
};

static void
mstore_scan_add(struct mstore_scan *s, const char *name, size_t len,
    size_t base_len, uint8_t where)
{
	struct mstore_ent	*e;

	if (s->n == s->cap) {
		s->cap = s->cap == 0 ? 1024 : s->cap * 2;
		s->ents = xreallocarray(s->ents, s->cap, sizeof(*s->ents));
	}
	e = &s->ents[s->n++];
	e->where = where;
	e->base = s->names.len;
	if (buf_append(&s->names, name, base_len) == -1 ||
	    buf_append_byte(&s->names, '\0') == -1)
		abort();
	e->info = s->names.len;
	if (buf_append(&s->names, name + base_len, len - base_len) == -1 ||
	    buf_append_byte(&s->names, '\0') == -1)
		abort();
}

static int
mstore_ent_cmp(const void *a, const void *b, void *arg)
{
	const struct mstore_ent	*ea = a, *eb = b;
	const char		*names = arg;
	int			 c;

	if ((c = strcmp(names + ea->base, names + eb->base)) != 0)
		return c;
	return (int)ea->where - (int)eb->where;	/* cur/ first */
}

/* Reads new/ (moving files to cur/) and cur/ into s. */
static int
mstore_scan_dirs(struct mstore_folder *f, struct mstore_scan *s,
    const char **error_r)
{
	DIR		*d;
	struct dirent	*de;
	char		 target[MSTORE_NAME_MAX + 1];
	size_t		 len, blen;
	int		 fd, pass, n;

	for (pass = 0; pass < 2; pass++) {
		fd = openat(pass == 0 ? f->newfd : f->curfd, ".",
		    O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd == -1 || (d = fdopendir(fd)) == NULL) {
			*error_r = error_fmt("%s/%s: %m", f->path,
			    pass == 0 ? "new" : "cur");
			if (fd != -1)
				(void)close(fd);
			return -1;
		}
		errno = 0;
		while ((de = readdir(d)) != NULL) {
			if (de->d_type != DT_REG && de->d_type != DT_UNKNOWN)
				continue;
			len = strlen(de->d_name);
			if (!mstore_name_parse(de->d_name, len, &blen))
				continue;
			if (pass == 1) {
				mstore_scan_add(s, de->d_name, len, blen,
				    MSTORE_WHERE_CUR);
				continue;
			}
			/* new/ -> cur/, with ":2," when it has no info. */
			n = snprintf(target, sizeof(target), "%s%s",
			    de->d_name, blen == len ? ":2," : "");
			if (n > 0 && (size_t)n < sizeof(target) &&
			    renameat2(f->newfd, de->d_name, f->curfd, target,
			    RENAME_NOREPLACE) == 0)
				continue;
			if (errno == ENOENT)
				continue;
			/* Not writable, or a twin in cur/: index it here. */
			mstore_scan_add(s, de->d_name, len, blen,
			    MSTORE_WHERE_NEW);
		}
		closedir(d);
	}
	return 0;
}

struct mstore_change {
	uint32_t	uid;
	size_t		ent;
};

struct mstore_sync_ctx {
	struct mstore_scan	*scan;
	struct mstore_change	*changed;
	size_t			 nchanged;
	struct mstore_change	*gone;	/* ent: offset of the base */
	size_t			 ngone;
	struct buf		 gone_names;
	struct stat		 cur_st;
	struct stat		 new_st;
	int64_t			 sync_time;
};

static int
mstore_sync_txn(struct mstore_folder *f, MDB_txn *txn, void *vctx,
    const char **error_r)
{
	struct mstore_sync_ctx	*ctx = vctx;
	struct mstore_meta	 m;
	struct mstore_rec	 rec;
	struct mstore_ent	*e;
	const char		*oname, *base, *info;
	char			 name[MSTORE_NAME_MAX + 1];
	size_t			 i, blen;
	uint8_t			 flags;
	uint32_t		 kw;
	int			 rc, found, n;
	bool			 bump = false;

	if (mstore_meta_get(f, txn, &m, error_r) != 1)
		return -1;
	for (i = 0; i < ctx->ngone; i++) {
		base = ctx->gone_names.data + ctx->gone[i].ent;
		found = mstore_rec_get(f, txn, ctx->gone[i].uid, &rec, &oname,
		    error_r);
		if (found == -1)
			return -1;
		if (found == 1)
			mstore_meta_count(&m, true, rec.flags, false, 0);
		if ((rc = mstore_rec_del(f, txn, ctx->gone[i].uid, base,
		    strlen(base))) != 0)
			return rc;
		bump = true;
	}
	for (i = 0; i < ctx->nchanged; i++) {
		e = &ctx->scan->ents[ctx->changed[i].ent];
		base = ctx->scan->names.data + e->base;
		info = ctx->scan->names.data + e->info;
		found = mstore_rec_get(f, txn, ctx->changed[i].uid, &rec,
		    &oname, error_r);
		if (found == -1)
			return -1;
		if (found == 0)
			continue;
		mstore_info_flags(info, &flags, &kw);
		if (flags != rec.flags || kw != rec.keywords) {
			rec.modseq = m.modseq + 1;
			bump = true;
		}
		mstore_meta_count(&m, true, rec.flags, true, flags);
		rec.flags = flags;
		rec.keywords = kw;
		rec.where = e->where;
		blen = strlen(base);
		n = snprintf(name, sizeof(name), "%s%s", base, info);
		if (n < 0 || (size_t)n >= sizeof(name))
			continue;
		if ((rc = mstore_rec_put(f, txn, ctx->changed[i].uid, &rec,
		    name, (size_t)n, 0)) != 0 ||
		    (rc = mstore_namerec_put(f, txn, base, blen,
		    ctx->changed[i].uid, e->where, info, 0)) != 0)
			return rc;
	}
	if (bump)
		m.modseq++;
	m.cur_mtime = mstore_ts_ns(&ctx->cur_st.st_mtim);
	m.cur_size = (uint64_t)ctx->cur_st.st_size;
	m.new_mtime = mstore_ts_ns(&ctx->new_st.st_mtim);
	m.new_size = (uint64_t)ctx->new_st.st_size;
	m.sync_time = ctx->sync_time;
	return mstore_meta_put(f, txn, &m);
}

static void
mstore_change_add(struct mstore_change **list, size_t *n, size_t *cap,
    uint32_t uid, size_t ent)
{
	if (*n == *cap) {
		*cap = *cap == 0 ? 64 : *cap * 2;
		*list = xreallocarray(*list, *cap, sizeof(**list));
	}
	(*list)[*n].uid = uid;
	(*list)[*n].ent = ent;
	(*n)++;
}

/* Compares the sorted scan with the "name" database (merge join). */
static int
mstore_sync_compare(struct mstore_folder *f, struct mstore_sync_ctx *ctx,
    struct mstore_newmsg **new_r, size_t *nnew_r, const char **error_r)
{
	struct mstore_scan	*s = ctx->scan;
	struct mstore_newmsg	*nm = NULL;
	struct mstore_ent	*e;
	MDB_txn			*txn;
	MDB_cursor		*cur;
	MDB_val			 k, v;
	const char		*base, *info;
	size_t			 i = 0, blen, nnew = 0;
	size_t			 cap_c = 0, cap_g = 0;
	size_t			 ilen, off;
	uint32_t		 uid;
	uint64_t		 size;
	int			 rc, c;

	if (mstore_txn_read(f, &txn, error_r) == -1)
		return -1;
	if ((rc = mdb_cursor_open(txn, f->dbi_name, &cur)) != 0) {
		mdb_txn_abort(txn);
		*error_r = error_fmt("%s: cursor: %s", f->path,
		    mdb_strerror(rc));
		return -1;
	}
	nm = xcalloc(s->n + 1, sizeof(*nm));
	rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	for (;;) {
		if (rc != 0 && rc != MDB_NOTFOUND) {
			*error_r = error_fmt("%s: read: %s", f->path,
			    mdb_strerror(rc));
			goto fail;
		}
		if (rc == MDB_NOTFOUND && i == s->n)
			break;
		e = i < s->n ? &s->ents[i] : NULL;
		base = e != NULL ? s->names.data + e->base : NULL;
		blen = e != NULL ? strlen(base) : 0;
		if (rc == MDB_NOTFOUND)
			c = 1;		/* only the directory has it */
		else if (e == NULL)
			c = -1;		/* only the index has it */
		else {
			c = memcmp(k.mv_data, base, k.mv_size < blen ?
			    k.mv_size : blen);
			if (c == 0)
				c = k.mv_size < blen ? -1 :
				    k.mv_size > blen ? 1 : 0;
		}
		if (c != 0 && rc == 0 && v.mv_size < MSTORE_NAMEREC_FIXED) {
			*error_r = error_fmt("%s: damaged name record",
			    f->path);
			goto fail;
		}
		if (c < 0) {
			/* Gone: expunged by another tool. */
			memcpy(&uid, v.mv_data, 4);
			off = ctx->gone_names.len;
			if (buf_append(&ctx->gone_names, k.mv_data,
			    k.mv_size) == -1 ||
			    buf_append_byte(&ctx->gone_names, '\0') == -1)
				abort();
			mstore_change_add(&ctx->gone, &ctx->ngone, &cap_g, uid,
			    off);
			rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
			continue;
		}
		if (c > 0) {
			nm[nnew].base = base;
			nm[nnew].info = s->names.data + e->info;
			nm[nnew].where = e->where;
			mstore_info_flags(nm[nnew].info, &nm[nnew].flags,
			    &nm[nnew].keywords);
			if (mstore_base_wsize(base, blen, &size) == 1)
				nm[nnew].size = size;
			nnew++;
			i++;
			/* Twins (same base in new/ and cur/): skip them. */
			while (i < s->n && strcmp(s->names.data +
			    s->ents[i].base, base) == 0)
				i++;
			continue;
		}
		if (v.mv_size < MSTORE_NAMEREC_FIXED) {
			*error_r = error_fmt("%s: damaged name record",
			    f->path);
			goto fail;
		}
		memcpy(&uid, v.mv_data, 4);
		info = s->names.data + e->info;
		ilen = strlen(info);
		if (((const unsigned char *)v.mv_data)[4] != e->where ||
		    v.mv_size - MSTORE_NAMEREC_FIXED != ilen ||
		    memcmp((const char *)v.mv_data + MSTORE_NAMEREC_FIXED,
		    info, ilen) != 0)
			mstore_change_add(&ctx->changed, &ctx->nchanged,
			    &cap_c, uid, i);
		i++;
		while (i < s->n && strcmp(s->names.data + s->ents[i].base,
		    base) == 0)
			i++;
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	*new_r = nm;
	*nnew_r = nnew;
	return 0;
fail:
	free(nm);
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	return -1;
}

/* A folder deleted under us: every message is gone. */
static int
mstore_wipe_txn(struct mstore_folder *f, MDB_txn *txn, void *vctx ATTR_UNUSED,
    const char **error_r)
{
	struct mstore_meta	m;
	int			rc;

	if (mstore_meta_get(f, txn, &m, error_r) != 1)
		return -1;
	if ((rc = mdb_drop(txn, f->dbi_uid, 0)) != 0 ||
	    (rc = mdb_drop(txn, f->dbi_name, 0)) != 0 ||
	    (rc = mdb_drop(txn, f->dbi_cache, 0)) != 0)
		return rc;
	m.messages = m.unseen = m.deleted = 0;
	m.modseq++;
	return mstore_meta_put(f, txn, &m);
}

static int
mstore_folder_gone(struct mstore_folder *f, const char **error_r)
{
	f->deleted = true;
	mstore_registry_remove(f);
	if (f->meta.messages == 0)
		return 0;
	return mstore_txn_write(f, mstore_wipe_txn, NULL, error_r);
}

static int
mstore_folder_sync_int(struct mstore_folder *f, bool force,
    const char **error_r)
{
	struct mstore_sync_ctx	 ctx;
	struct mstore_scan	 scan;
	struct mstore_newmsg	*nm = NULL;
	struct stat		 cst, nst;
	struct timespec		 now;
	MDB_txn			*txn;
	size_t			 nnew = 0;
	int64_t			 newest;
	int			 ret = -1, found;

	if (f->deleted)
		return mstore_folder_gone(f, error_r);
	if (fstatat(f->dfd, "cur", &cst, AT_SYMLINK_NOFOLLOW) == -1 ||
	    fstatat(f->dfd, "new", &nst, AT_SYMLINK_NOFOLLOW) == -1) {
		if (errno == ENOENT)
			return mstore_folder_gone(f, error_r);
		*error_r = error_fmt("stat %s/cur: %m", f->path);
		return -1;
	}
	if (!force && !f->force_full) {
		if (mstore_txn_read(f, &txn, error_r) == -1)
			return -1;
		found = mstore_meta_get(f, txn, &f->meta, error_r);
		mdb_txn_abort(txn);
		if (found == -1)
			return -1;
		newest = mstore_ts_ns(&cst.st_mtim);
		if (mstore_ts_ns(&nst.st_mtim) > newest)
			newest = mstore_ts_ns(&nst.st_mtim);
		if (found == 1 &&
		    f->meta.cur_mtime == mstore_ts_ns(&cst.st_mtim) &&
		    f->meta.cur_size == (uint64_t)cst.st_size &&
		    f->meta.new_mtime == mstore_ts_ns(&nst.st_mtim) &&
		    f->meta.new_size == (uint64_t)nst.st_size &&
		    f->meta.sync_time >= newest + MSTORE_SYNC_FUZZ_NS)
			return 0;
	}
	if (mstore_folder_lock(f, error_r) == -1)
		return -1;
	memset(&ctx, 0, sizeof(ctx));
	memset(&scan, 0, sizeof(scan));
	buf_init(&scan.names, 0, SIZE_MAX / 2);
	buf_init(&ctx.gone_names, 0, SIZE_MAX / 2);
	ctx.scan = &scan;
	f->force_full = false;
	(void)clock_gettime(CLOCK_REALTIME, &now);
	ctx.sync_time = mstore_ts_ns(&now);
	if (mstore_keywords_load(f, error_r) == -1 ||
	    mstore_scan_dirs(f, &scan, error_r) == -1)
		goto out;
	if (fstatat(f->dfd, "cur", &ctx.cur_st, AT_SYMLINK_NOFOLLOW) == -1 ||
	    fstatat(f->dfd, "new", &ctx.new_st, AT_SYMLINK_NOFOLLOW) == -1) {
		*error_r = error_fmt("stat %s/cur: %m", f->path);
		goto out;
	}
	if (scan.n > 1)
		qsort_r(scan.ents, scan.n, sizeof(*scan.ents), mstore_ent_cmp,
		    scan.names.data);
	if (mstore_sync_compare(f, &ctx, &nm, &nnew, error_r) == -1)
		goto out;
	/* New messages first: the stats below say "all indexed". */
	if (nnew > 0 && mstore_index_add(f, nm, nnew, error_r) == -1)
		goto out;
	if (mstore_txn_write(f, mstore_sync_txn, &ctx, error_r) == -1)
		goto out;
	ret = 0;
out:
	if (ret == -1)
		f->force_full = true;
	free(nm);
	free(ctx.changed);
	free(ctx.gone);
	buf_deinit(&ctx.gone_names);
	free(scan.ents);
	buf_deinit(&scan.names);
	mstore_folder_unlock(f);
	return ret;
}

int
mstore_folder_sync(struct mstore_folder *f, const char **error_r)
{
	return mstore_folder_sync_int(f, false, error_r);
}

int
mstore_folder_sync_full(struct mstore_folder *f, const char **error_r)
{
	return mstore_folder_sync_int(f, true, error_r);
}

/* ---- watches ----------------------------------------------------------- */

static void
mstore_watch_timer(evutil_socket_t fd ATTR_UNUSED, short what ATTR_UNUSED,
    void *arg)
{
	struct mstore_folder	*f = arg, *hold;
	struct mstore_watch	*w;
	uint64_t		 gen;

	/* Callbacks may free watches, ours included: hold the folder. */
	f->refs++;
	hold = f;
	gen = ++f->watch_gen;
again:
	for (w = f->watches; w != NULL; w = w->next) {
		if (w->gen == gen)
			continue;
		w->gen = gen;
		w->cb(w->ctx);
		goto again;	/* the list may have changed */
	}
	mstore_folder_close(&hold);
}

static void
mstore_watch_kick(struct mstore_folder *f)
{
	struct timeval	tv = { 0, MSTORE_WATCH_DELAY_MS * 1000 };

	if (f->timer != NULL && !evtimer_pending(f->timer, NULL))
		(void)evtimer_add(f->timer, &tv);
}

static void
mstore_watch_read(evutil_socket_t fd, short what ATTR_UNUSED,
    void *arg ATTR_UNUSED)
{
	char				 b[4096]
	    __attribute__((aligned(__alignof__(struct inotify_event))));
	const struct inotify_event	*ev;
	struct mstore_folder		*f;
	ssize_t				 r;
	size_t				 off;

	for (;;) {
		r = read(fd, b, sizeof(b));
		if (r <= 0)
			break;
		for (off = 0; off + sizeof(*ev) <= (size_t)r;
		    off += sizeof(*ev) + ev->len) {
			ev = (const struct inotify_event *)(void *)(b + off);
			for (f = mstore_ino.folders; f != NULL;
			    f = f->watch_next) {
				if (ev->wd == -1 ||
				    (ev->mask & IN_Q_OVERFLOW) != 0 ||
				    ev->wd == f->wd_cur || ev->wd == f->wd_new)
					mstore_watch_kick(f);
				if (ev->mask & IN_IGNORED) {
					if (ev->wd == f->wd_cur)
						f->wd_cur = -1;
					if (ev->wd == f->wd_new)
						f->wd_new = -1;
				}
			}
		}
	}
}

/* Closes the inotify descriptor (no folder is watched). */
static void
mstore_ino_close(void)
{
	if (mstore_ino.ev != NULL)
		event_free(mstore_ino.ev);
	(void)close(mstore_ino.fd);
	mstore_ino.fd = -1;
	mstore_ino.ev = NULL;
	mstore_ino.base = NULL;
}

/* Drops f's inotify watches and its timer. */
static void
mstore_watch_unhook(struct mstore_folder *f)
{
	if (f->wd_cur != -1)
		(void)inotify_rm_watch(mstore_ino.fd, f->wd_cur);
	if (f->wd_new != -1)
		(void)inotify_rm_watch(mstore_ino.fd, f->wd_new);
	f->wd_cur = f->wd_new = -1;
	if (f->timer != NULL)
		event_free(f->timer);
	f->timer = NULL;
}

struct mstore_watch *
mstore_watch_new(struct event_base *base, struct mstore_folder *f,
    mstore_watch_cb *cb, void *ctx, const char **error_r)
{
	struct mstore_watch	*w;
	const uint32_t		 mask = IN_MOVED_TO | IN_MOVED_FROM |
	    IN_CREATE | IN_DELETE | IN_ONLYDIR | IN_DONT_FOLLOW;
	char			*path;

	if (mstore_ino.fd != -1 && mstore_ino.base != base) {
		*error_r = "mstore watches need one event base per process";
		return NULL;
	}
	if (mstore_ino.fd == -1) {
		mstore_ino.fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
		if (mstore_ino.fd == -1) {
			*error_r = error_fmt("inotify_init1: %m");
			return NULL;
		}
		mstore_ino.base = base;
		mstore_ino.ev = event_new(base, mstore_ino.fd,
		    EV_READ | EV_PERSIST, mstore_watch_read, NULL);
		if (mstore_ino.ev == NULL || event_add(mstore_ino.ev,
		    NULL) == -1) {
			*error_r = "cannot add the inotify event";
			mstore_ino_close();
			return NULL;
		}
	}
	if (f->watches == NULL) {
		path = xasprintf("%s/cur", f->path);
		f->wd_cur = inotify_add_watch(mstore_ino.fd, path, mask);
		free(path);
		path = xasprintf("%s/new", f->path);
		f->wd_new = inotify_add_watch(mstore_ino.fd, path, mask);
		free(path);
		f->timer = evtimer_new(base, mstore_watch_timer, f);
		if (f->wd_cur == -1 || f->wd_new == -1 || f->timer == NULL) {
			*error_r = error_fmt("inotify_add_watch %s: %m",
			    f->path);
			mstore_watch_unhook(f);
			if (mstore_ino.folders == NULL)
				mstore_ino_close();
			return NULL;
		}
		f->watch_next = mstore_ino.folders;
		mstore_ino.folders = f;
	}
	w = xcalloc(1, sizeof(*w));
	w->f = f;
	w->cb = cb;
	w->ctx = ctx;
	w->gen = f->watch_gen;
	w->next = f->watches;
	f->watches = w;
	f->refs++;
	return w;
}

void
mstore_watch_free(struct mstore_watch **wp)
{
	struct mstore_watch	*w = *wp, **pp;
	struct mstore_folder	*f, **fp;

	if (w == NULL)
		return;
	*wp = NULL;
	f = w->f;
	for (pp = &f->watches; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	}
	free(w);
	if (f->watches == NULL) {
		mstore_watch_unhook(f);
		for (fp = &mstore_ino.folders; *fp != NULL;
		    fp = &(*fp)->watch_next) {
			if (*fp == f) {
				*fp = f->watch_next;
				break;
			}
		}
		if (mstore_ino.folders == NULL)
			mstore_ino_close();
	}
	mstore_folder_close(&f);
}
