/* SPDX-License-Identifier: ISC */
/*
 * The index of a mail store folder (mstore.h) and every operation on its
 * messages: snapshots, STORE, EXPUNGE, APPEND, COPY, reading, sizes and
 * dates, the cache, STATUS and \Recent.
 *
 * The index is one LMDB environment per folder (postern-index, with
 * MDB_NOSUBDIR, MDB_NOTLS, MDB_NOMETASYNC: one fsync per commit is
 * enough for what is only a cache of postern-uidlist and the files).
 * Named databases: "meta" (one record, struct mstore_meta), "uid" (uid
 * big-endian -> struct mstore_rec and the current file name), "name"
 * (base name -> uid, where, info) and "cache" (uid big-endian and one
 * byte -> text).  Every write is a function run in a write transaction by
 * mstore_txn_write(), which grows the map by MSTORE_MAP_STEP and runs it
 * again when it is full; so these functions only read their context, and
 * the file system work (renames, links, unlinks, uidlist appends) is done
 * before, under the folder lock, from a plan made in a read transaction.
 *
 * What it trusts: nothing in the folder.  File names come from the
 * index, which another process or tool may have changed under us; every
 * message file is opened with O_NOFOLLOW and must be a regular file.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lmdb.h>

#include "buf.h"
#include "error.h"
#include "file.h"
#include "mstore.h"
#include "mstore_int.h"
#include "str.h"
#include "xmalloc.h"

#include "banned.h"

/* Bytes read at a time from a message file. */
#define MSTORE_READ_CHUNK	65536

_Static_assert(sizeof(struct mstore_rec) == 32, "packed record");

static const char *
mstore_mdb_error(struct mstore_folder *f, const char *what, int rc)
{
	return error_fmt("%s: %s: %s", f->path, what, mdb_strerror(rc));
}

/* ---- environment and transactions -------------------------------------- */

static bool
mstore_mdb_broken(int rc)
{
	return rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH ||
	    rc == MDB_CORRUPTED || rc == MDB_PAGE_NOTFOUND ||
	    rc == MDB_INCOMPATIBLE || rc == MDB_BAD_TXN;
}

int
mstore_index_open(struct mstore_folder *f, bool *broken_r,
    const char **error_r)
{
	MDB_txn		*txn = NULL;
	char		*path;
	int		 rc, found;

	*broken_r = false;
	if ((rc = mdb_env_create(&f->env)) != 0) {
		f->env = NULL;
		*error_r = mstore_mdb_error(f, "mdb_env_create", rc);
		return -1;
	}
	(void)mdb_env_set_maxdbs(f->env, 4);
	(void)mdb_env_set_mapsize(f->env, MSTORE_MAP_STEP);
	path = xasprintf("%s/%s", f->path, MSTORE_INDEX);
	rc = mdb_env_open(f->env, path, MDB_NOSUBDIR | MDB_NOTLS |
	    MDB_NOMETASYNC, 0600);
	free(path);
	if (rc != 0) {
		*broken_r = mstore_mdb_broken(rc);
		*error_r = mstore_mdb_error(f, "open index", rc);
		goto fail;
	}
	if ((rc = mdb_txn_begin(f->env, NULL, 0, &txn)) != 0 ||
	    (rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &f->dbi_meta)) != 0 ||
	    (rc = mdb_dbi_open(txn, "uid", MDB_CREATE, &f->dbi_uid)) != 0 ||
	    (rc = mdb_dbi_open(txn, "name", MDB_CREATE, &f->dbi_name)) != 0 ||
	    (rc = mdb_dbi_open(txn, "cache", MDB_CREATE,
	    &f->dbi_cache)) != 0) {
		*broken_r = mstore_mdb_broken(rc) || rc == MDB_NOTFOUND;
		*error_r = mstore_mdb_error(f, "open databases", rc);
		goto fail;
	}
	if ((found = mstore_meta_get(f, txn, &f->meta, error_r)) == -1) {
		*broken_r = true;
		goto fail;
	}
	if ((rc = mdb_txn_commit(txn)) != 0) {
		txn = NULL;
		*broken_r = mstore_mdb_broken(rc);
		*error_r = mstore_mdb_error(f, "commit", rc);
		goto fail;
	}
	if (found == 0)
		memset(&f->meta, 0, sizeof(f->meta));
	return found == 0 ? 1 : 0;
fail:
	if (txn != NULL)
		mdb_txn_abort(txn);
	mdb_env_close(f->env);
	f->env = NULL;
	return -1;
}

void
mstore_index_close(struct mstore_folder *f)
{
	if (f->env != NULL)
		mdb_env_close(f->env);
	f->env = NULL;
}

int
mstore_txn_read(struct mstore_folder *f, MDB_txn **txn_r,
    const char **error_r)
{
	int	rc, tries;

	for (tries = 0; tries < 3; tries++) {
		rc = mdb_txn_begin(f->env, NULL, MDB_RDONLY, txn_r);
		if (rc == MDB_MAP_RESIZED) {
			(void)mdb_env_set_mapsize(f->env, 0);
			continue;
		}
		if (rc != 0)
			break;
		return 0;
	}
	*error_r = mstore_mdb_error(f, "begin read", rc);
	return -1;
}

static int
mstore_map_grow(struct mstore_folder *f)
{
	MDB_envinfo	info;

	if (mdb_env_info(f->env, &info) != 0)
		return -1;
	return mdb_env_set_mapsize(f->env, info.me_mapsize + MSTORE_MAP_STEP);
}

int
mstore_txn_write(struct mstore_folder *f, mstore_txn_fn *fn, void *ctx,
    const char **error_r)
{
	MDB_txn		*txn;
	int		 rc = 0, tries;
	bool		 wrote_meta;

	for (tries = 0; tries < MSTORE_MAP_RETRIES; tries++) {
		rc = mdb_txn_begin(f->env, NULL, 0, &txn);
		if (rc == MDB_MAP_RESIZED) {
			(void)mdb_env_set_mapsize(f->env, 0);
			continue;
		}
		if (rc != 0)
			break;
		f->meta_pending.version = 0;
		rc = fn(f, txn, ctx, error_r);
		wrote_meta = f->meta_pending.version != 0;
		if (rc == 0)
			rc = mdb_txn_commit(txn);
		else
			mdb_txn_abort(txn);
		if (rc == MDB_MAP_FULL) {
			if (mstore_map_grow(f) != 0)
				break;
			continue;
		}
		if (rc == -1)
			return -1;
		if (rc != 0)
			break;
		if (wrote_meta)
			f->meta = f->meta_pending;
		return 0;
	}
	*error_r = mstore_mdb_error(f, "write", rc);
	return -1;
}

/* ---- records ------------------------------------------------------------ */

int
mstore_meta_get(struct mstore_folder *f, MDB_txn *txn, struct mstore_meta *m_r,
    const char **error_r)
{
	MDB_val	k = { 1, (void *)"m" }, v;
	int	rc;

	rc = mdb_get(txn, f->dbi_meta, &k, &v);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0) {
		*error_r = mstore_mdb_error(f, "read meta", rc);
		return -1;
	}
	if (v.mv_size != sizeof(*m_r)) {
		*error_r = error_fmt("%s: index meta record damaged", f->path);
		return -1;
	}
	memcpy(m_r, v.mv_data, sizeof(*m_r));
	if (m_r->version != MSTORE_INDEX_VERSION) {
		*error_r = error_fmt("%s: index version %" PRIu32, f->path,
		    m_r->version);
		return -1;
	}
	return 1;
}

int
mstore_meta_put(struct mstore_folder *f, MDB_txn *txn,
    const struct mstore_meta *m)
{
	MDB_val	k = { 1, (void *)"m" }, v = { sizeof(*m), (void *)m };
	int	rc;

	if ((rc = mdb_put(txn, f->dbi_meta, &k, &v, 0)) == 0) {
		f->meta_pending = *m;
		f->meta_pending.version = MSTORE_INDEX_VERSION;
	}
	return rc;
}

/* Gets the meta of txn or gives the rc to return. */
static int
mstore_meta_txn(struct mstore_folder *f, MDB_txn *txn, struct mstore_meta *m,
    const char **error_r)
{
	int	found;

	if ((found = mstore_meta_get(f, txn, m, error_r)) == -1)
		return -1;
	if (found == 0) {
		*error_r = error_fmt("%s: index has no meta record", f->path);
		return -1;
	}
	return 0;
}

int
mstore_rec_get(struct mstore_folder *f, MDB_txn *txn, uint32_t uid,
    struct mstore_rec *rec_r, const char **name_r, const char **error_r)
{
	unsigned char	 kb[4];
	MDB_val		 k = { 4, kb }, v;
	int		 rc;

	mstore_uid_key(uid, kb);
	rc = mdb_get(txn, f->dbi_uid, &k, &v);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0) {
		*error_r = mstore_mdb_error(f, "read record", rc);
		return -1;
	}
	if (v.mv_size < sizeof(*rec_r) + 1) {
		*error_r = error_fmt("%s: record of uid %" PRIu32 " damaged",
		    f->path, uid);
		return -1;
	}
	memcpy(rec_r, v.mv_data, sizeof(*rec_r));
	if (v.mv_size != sizeof(*rec_r) + rec_r->name_len + 1 ||
	    rec_r->name_len == 0) {
		*error_r = error_fmt("%s: record of uid %" PRIu32 " damaged",
		    f->path, uid);
		return -1;
	}
	*name_r = (const char *)v.mv_data + sizeof(*rec_r);
	return 1;
}

int
mstore_rec_put(struct mstore_folder *f, MDB_txn *txn, uint32_t uid,
    const struct mstore_rec *rec, const char *name, size_t name_len,
    unsigned int flags)
{
	unsigned char		 kb[4];
	MDB_val			 k = { 4, kb }, v;
	struct mstore_rec	 r = *rec;
	char			*p;
	int			 rc;

	mstore_uid_key(uid, kb);
	r.name_len = (uint16_t)name_len;
	v.mv_size = sizeof(r) + name_len + 1;
	if ((rc = mdb_put(txn, f->dbi_uid, &k, &v, flags | MDB_RESERVE)) != 0)
		return rc;
	p = v.mv_data;
	memcpy(p, &r, sizeof(r));
	memcpy(p + sizeof(r), name, name_len);
	p[sizeof(r) + name_len] = '\0';
	return 0;
}

int
mstore_namerec_put(struct mstore_folder *f, MDB_txn *txn, const char *base,
    size_t base_len, uint32_t uid, uint8_t where, const char *info,
    unsigned int flags)
{
	MDB_val	 k = { base_len, (void *)base }, v;
	size_t	 ilen = strlen(info);
	char	*p;
	int	 rc;

	v.mv_size = MSTORE_NAMEREC_FIXED + ilen;
	if ((rc = mdb_put(txn, f->dbi_name, &k, &v, flags | MDB_RESERVE)) != 0)
		return rc;
	p = v.mv_data;
	memcpy(p, &uid, 4);
	p[4] = (char)where;
	memcpy(p + MSTORE_NAMEREC_FIXED, info, ilen);
	return 0;
}

int
mstore_rec_del(struct mstore_folder *f, MDB_txn *txn, uint32_t uid,
    const char *base, size_t base_len)
{
	unsigned char	kb[5];
	MDB_val		k = { 4, kb };
	MDB_val		kn = { base_len, (void *)base };
	int		rc, what;

	mstore_uid_key(uid, kb);
	if ((rc = mdb_del(txn, f->dbi_uid, &k, NULL)) != 0 &&
	    rc != MDB_NOTFOUND)
		return rc;
	if ((rc = mdb_del(txn, f->dbi_name, &kn, NULL)) != 0 &&
	    rc != MDB_NOTFOUND)
		return rc;
	k.mv_size = 5;
	for (what = MSTORE_CACHE_ENVELOPE; what <= MSTORE_CACHE_BODY; what++) {
		kb[4] = (unsigned char)what;
		if ((rc = mdb_del(txn, f->dbi_cache, &k, NULL)) != 0 &&
		    rc != MDB_NOTFOUND)
			return rc;
	}
	return 0;
}

void
mstore_meta_count(struct mstore_meta *m, bool had, uint8_t oflags, bool has,
    uint8_t nflags)
{
	if (had) {
		m->messages--;
		if ((oflags & MSTORE_F_SEEN) == 0)
			m->unseen--;
		if ((oflags & MSTORE_F_DELETED) != 0)
			m->deleted--;
	}
	if (has) {
		m->messages++;
		if ((nflags & MSTORE_F_SEEN) == 0)
			m->unseen++;
		if ((nflags & MSTORE_F_DELETED) != 0)
			m->deleted++;
	}
}

int
mstore_base_wsize(const char *base, size_t len, uint64_t *size_r)
{
	const char	*p, *end = base + len, *q;

	for (p = base; p + 3 <= end; p++) {
		if (p[0] != ',' || p[1] != 'W' || p[2] != '=')
			continue;
		for (q = p + 3; q < end && *q >= '0' && *q <= '9'; q++)
			;
		if (q > p + 3 && (q == end || *q == ',') &&
		    parse_u64_n(p + 3, (size_t)(q - p - 3), INT64_MAX,
		    size_r) == 0)
			return 1;
	}
	return 0;
}

/* The directory fd a message file is in. */
static int
mstore_where_fd(struct mstore_folder *f, uint8_t where)
{
	return where == MSTORE_WHERE_NEW ? f->newfd : f->curfd;
}

/* ---- giving UIDs --------------------------------------------------------- */

struct mstore_add_ctx {
	struct mstore_newmsg	*msgs;
	size_t			 n;
	size_t			 added;
	uint64_t		 bytes;
	bool			 append_names;
};

static int
mstore_index_add_txn(struct mstore_folder *f, MDB_txn *txn, void *vctx,
    const char **error_r)
{
	struct mstore_add_ctx	*ctx = vctx;
	struct mstore_meta	 m;
	struct mstore_rec	 rec;
	struct mstore_newmsg	*nm;
	char			 name[MSTORE_NAME_MAX + 1];
	size_t			 i, blen;
	int			 rc, n;

	if (mstore_meta_txn(f, txn, &m, error_r) == -1)
		return -1;
	m.modseq++;
	for (i = 0; i < ctx->n; i++) {
		nm = &ctx->msgs[i];
		if (nm->uid < m.uidnext)
			continue;	/* known already */
		blen = strlen(nm->base);
		n = snprintf(name, sizeof(name), "%s%s", nm->base, nm->info);
		if (n < 0 || (size_t)n >= sizeof(name))
			continue;
		memset(&rec, 0, sizeof(rec));
		rec.modseq = m.modseq;
		rec.size = nm->size;
		rec.date = nm->date;
		rec.keywords = nm->keywords;
		rec.flags = nm->flags;
		rec.where = nm->where;
		if ((rc = mstore_rec_put(f, txn, nm->uid, &rec, name, (size_t)n,
		    MDB_APPEND)) != 0)
			return rc;
		if ((rc = mstore_namerec_put(f, txn, nm->base, blen, nm->uid,
		    nm->where, nm->info,
		    ctx->append_names ? MDB_APPEND : 0)) != 0)
			return rc;
		mstore_meta_count(&m, false, 0, true, nm->flags);
	}
	m.uidnext += (uint32_t)ctx->added;
	m.lines += ctx->added;
	m.applied += ctx->bytes;
	return mstore_meta_put(f, txn, &m);
}

int
mstore_index_add(struct mstore_folder *f, struct mstore_newmsg *msgs, size_t n,
    const char **error_r)
{
	struct mstore_add_ctx	 ctx;
	struct mstore_meta	 m;
	struct mstore_newmsg	*nm;
	MDB_txn			*txn;
	MDB_stat		 ms;
	MDB_val			 k, v;
	uint32_t		 uid;
	const char		*prev = NULL;
	int			 rc;
	size_t			 i;

	memset(&ctx, 0, sizeof(ctx));
	ctx.msgs = msgs;
	ctx.n = n;
	if (mstore_txn_read(f, &txn, error_r) == -1)
		return -1;
	if (mstore_meta_txn(f, txn, &m, error_r) == -1)
		goto fail;
	if ((rc = mdb_stat(txn, f->dbi_name, &ms)) != 0) {
		*error_r = mstore_mdb_error(f, "stat", rc);
		goto fail;
	}
	ctx.append_names = ms.ms_entries == 0;
	uid = m.uidnext;
	for (i = 0; i < n; i++) {
		nm = &msgs[i];
		k.mv_size = strlen(nm->base);
		k.mv_data = (void *)nm->base;
		rc = ms.ms_entries == 0 ? MDB_NOTFOUND :
		    mdb_get(txn, f->dbi_name, &k, &v);
		if (rc == 0 && v.mv_size >= MSTORE_NAMEREC_FIXED) {
			memcpy(&nm->uid, v.mv_data, 4);
			continue;
		}
		if (rc != 0 && rc != MDB_NOTFOUND) {
			*error_r = mstore_mdb_error(f, "read name", rc);
			goto fail;
		}
		if (uid == UINT32_MAX) {
			*error_r = error_fmt("%s: out of UIDs", f->path);
			goto fail;
		}
		if (prev != NULL && strcmp(prev, nm->base) >= 0)
			ctx.append_names = false;
		prev = nm->base;
		nm->uid = uid++;
		ctx.added++;
	}
	mdb_txn_abort(txn);
	if (ctx.added == 0)
		return 0;
	if (mstore_uidlist_append(f, msgs, n, m.uidnext, &ctx.bytes,
	    error_r) == -1)
		return -1;
	return mstore_txn_write(f, mstore_index_add_txn, &ctx, error_r);
fail:
	mdb_txn_abort(txn);
	return -1;
}

/* ---- applying postern-uidlist lines ------------------------------------ */

struct mstore_apply_line {
	uint32_t	 uid;
	const char	*base;
	size_t		 base_len;
};

struct mstore_apply_ctx {
	struct mstore_apply_line	*lines;
	size_t				 n;
	uint64_t			 bytes;
	uint32_t			 uidnext;
};

static int
mstore_index_apply_txn(struct mstore_folder *f, MDB_txn *txn, void *vctx,
    const char **error_r)
{
	struct mstore_apply_ctx		*ctx = vctx;
	struct mstore_apply_line	*l;
	struct mstore_meta		 m;
	struct mstore_rec		 rec, orec;
	const char			*oname;
	MDB_val				 k, v;
	uint64_t			 size;
	uint32_t			 ouid;
	size_t				 i;
	int				 rc, found;

	if ((found = mstore_meta_get(f, txn, &m, error_r)) == -1)
		return -1;
	if (found == 0) {
		/* A fresh index: the caller set up f->meta. */
		m = f->meta;
		m.version = MSTORE_INDEX_VERSION;
	}
	m.modseq++;
	for (i = 0; i < ctx->n; i++) {
		l = &ctx->lines[i];
		k.mv_size = l->base_len;
		k.mv_data = (void *)l->base;
		rc = mdb_get(txn, f->dbi_name, &k, &v);
		if (rc == 0 && v.mv_size >= MSTORE_NAMEREC_FIXED) {
			memcpy(&ouid, v.mv_data, 4);
			if (ouid == l->uid)
				continue;
			/* The base was given another UID later: it wins. */
			found = mstore_rec_get(f, txn, ouid, &orec, &oname,
			    error_r);
			if (found == -1)
				return -1;
			if (found == 1)
				mstore_meta_count(&m, true, orec.flags, false,
				    0);
			if ((rc = mstore_rec_del(f, txn, ouid, l->base,
			    l->base_len)) != 0)
				return rc;
		} else if (rc != 0 && rc != MDB_NOTFOUND)
			return rc;
		found = mstore_rec_get(f, txn, l->uid, &orec, &oname, error_r);
		if (found == -1)
			return -1;
		if (found == 1)
			continue;	/* one UID, two bases: keep the first */
		memset(&rec, 0, sizeof(rec));
		rec.modseq = m.modseq;
		if (mstore_base_wsize(l->base, l->base_len, &size) == 1)
			rec.size = size;
		rec.where = MSTORE_WHERE_UNKNOWN;
		if ((rc = mstore_rec_put(f, txn, l->uid, &rec, l->base,
		    l->base_len, 0)) != 0 ||
		    (rc = mstore_namerec_put(f, txn, l->base, l->base_len,
		    l->uid, MSTORE_WHERE_UNKNOWN, "", 0)) != 0)
			return rc;
		mstore_meta_count(&m, false, 0, true, 0);
	}
	if (ctx->uidnext > m.uidnext)
		m.uidnext = ctx->uidnext;
	m.lines += ctx->n;
	m.applied += ctx->bytes;
	return mstore_meta_put(f, txn, &m);
}

int
mstore_index_apply(struct mstore_folder *f, const char *data, size_t len,
    uint64_t start, const char **error_r)
{
	struct mstore_apply_ctx	 ctx;
	const char		*p = data + start, *end = data + len, *nl, *sp;
	uint64_t		 uid, floor = 0;
	size_t			 cap = 0;
	int			 ret;

	memset(&ctx, 0, sizeof(ctx));
	ctx.uidnext = f->meta.uidnext;
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			break;
		sp = memchr(p, ' ', (size_t)(nl - p));
		if (sp == NULL || parse_u64_n(p, (size_t)(sp - p),
		    UINT32_MAX - 1, &uid) == -1 || uid == 0 ||
		    !mstore_base_ok(sp + 1, (size_t)(nl - sp - 1)))
			break;
		if (ctx.n == cap) {
			cap = cap == 0 ? 64 : cap * 2;
			ctx.lines = xreallocarray(ctx.lines, cap,
			    sizeof(*ctx.lines));
		}
		ctx.lines[ctx.n].uid = (uint32_t)uid;
		ctx.lines[ctx.n].base = sp + 1;
		ctx.lines[ctx.n].base_len = (size_t)(nl - sp - 1);
		ctx.n++;
		if (uid + 1 > ctx.uidnext)
			ctx.uidnext = (uint32_t)uid + 1;
		p = nl + 1;
	}
	ctx.bytes = (uint64_t)(p - (data + start));
	if (p < end) {
		/*
		 * A torn or damaged line ends what we read.  UIDs that show
		 * in the rest are never given again (UIDNEXT never goes
		 * down); the file is rewritten at unlock.
		 */
		f->uidlist_bad = true;
		while (p < end) {
			nl = memchr(p, '\n', (size_t)(end - p));
			if (nl == NULL)
				nl = end;
			sp = memchr(p, ' ', (size_t)(nl - p));
			if (sp != NULL && parse_u64_n(p, (size_t)(sp - p),
			    UINT32_MAX - 1, &uid) == 0 && uid + 1 > floor)
				floor = uid + 1;
			p = nl + (nl < end);
		}
		if (floor > ctx.uidnext)
			ctx.uidnext = (uint32_t)floor;
	}
	f->force_full = true;
	ret = mstore_txn_write(f, mstore_index_apply_txn, &ctx, error_r);
	free(ctx.lines);
	return ret;
}

/* ---- snapshots ---------------------------------------------------------- */

struct mstore_snap {
	struct mstore_folder	*f;
	MDB_txn			*txn;
	MDB_cursor		*cur;
	uint32_t		 count;
	uint32_t		 last;		/* uid the cursor is on */
	bool			 positioned;
};

int
mstore_snap_begin(struct mstore_folder *f, struct mstore_snap **snap_r,
    const char **error_r)
{
	struct mstore_snap	*s;
	MDB_stat		 ms;
	int			 rc;

	s = xcalloc(1, sizeof(*s));
	s->f = f;
	if (mstore_txn_read(f, &s->txn, error_r) == -1) {
		free(s);
		return -1;
	}
	if ((rc = mdb_stat(s->txn, f->dbi_uid, &ms)) != 0 ||
	    (rc = mdb_cursor_open(s->txn, f->dbi_uid, &s->cur)) != 0) {
		*error_r = mstore_mdb_error(f, "snapshot", rc);
		mdb_txn_abort(s->txn);
		free(s);
		return -1;
	}
	s->count = ms.ms_entries > UINT32_MAX ? UINT32_MAX :
	    (uint32_t)ms.ms_entries;
	f->snaps++;
	*snap_r = s;
	return 0;
}

void
mstore_snap_end(struct mstore_snap **snapp)
{
	struct mstore_snap	*s = *snapp;

	if (s == NULL)
		return;
	mdb_cursor_close(s->cur);
	mdb_txn_abort(s->txn);
	s->f->snaps--;
	free(s);
	*snapp = NULL;
}

uint32_t
mstore_snap_count(const struct mstore_snap *snap)
{
	return snap->count;
}

/* Fills m_r from a uid record value. */
static int
mstore_msg_fill(struct mstore_folder *f, const MDB_val *k, const MDB_val *v,
    struct mstore_msg *m_r, const char **error_r)
{
	struct mstore_rec	rec;

	if (k->mv_size != 4 || v->mv_size < sizeof(rec) + 1)
		goto damaged;
	memcpy(&rec, v->mv_data, sizeof(rec));
	if (v->mv_size != sizeof(rec) + rec.name_len + 1)
		goto damaged;
	m_r->uid = mstore_uid_from_key(k->mv_data);
	m_r->flags = rec.flags;
	m_r->keywords = rec.keywords;
	m_r->size = rec.size;
	m_r->date = rec.date;
	m_r->modseq = rec.modseq;
	m_r->name = (const char *)v->mv_data + sizeof(rec);
	return 1;
damaged:
	*error_r = error_fmt("%s: damaged record in index", f->path);
	return -1;
}

int
mstore_snap_next(struct mstore_snap *snap, uint32_t from,
    struct mstore_msg *m_r, const char **error_r)
{
	unsigned char	kb[4];
	MDB_val		k, v;
	int		rc;

	if (snap->positioned && from == snap->last + 1 && snap->last != 0)
		rc = mdb_cursor_get(snap->cur, &k, &v, MDB_NEXT);
	else {
		mstore_uid_key(from, kb);
		k.mv_size = 4;
		k.mv_data = kb;
		rc = mdb_cursor_get(snap->cur, &k, &v, MDB_SET_RANGE);
	}
	if (rc == MDB_NOTFOUND) {
		snap->positioned = false;
		return 0;
	}
	if (rc != 0) {
		*error_r = mstore_mdb_error(snap->f, "read", rc);
		return -1;
	}
	if (mstore_msg_fill(snap->f, &k, &v, m_r, error_r) == -1)
		return -1;
	snap->positioned = true;
	snap->last = m_r->uid;
	return 1;
}

int
mstore_snap_get(struct mstore_snap *snap, uint32_t uid, struct mstore_msg *m_r,
    const char **error_r)
{
	unsigned char	kb[4];
	MDB_val		k = { 4, kb }, v;
	int		rc;

	mstore_uid_key(uid, kb);
	rc = mdb_get(snap->txn, snap->f->dbi_uid, &k, &v);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0) {
		*error_r = mstore_mdb_error(snap->f, "read", rc);
		return -1;
	}
	return mstore_msg_fill(snap->f, &k, &v, m_r, error_r);
}

/* ---- plans: what a write does, made in a read transaction --------------- */

struct mstore_plan_item {
	uint32_t	uid;
	uint8_t		where;
	uint8_t		oflags;
	uint8_t		nflags;
	uint32_t	nkeywords;
	size_t		oname;		/* offsets into the plan's names */
	size_t		nname;
	size_t		base_len;
	uint64_t	size;
	int64_t		date;
	bool		done;
};

struct mstore_plan {
	struct mstore_plan_item		*items;
	size_t				 n;
	size_t				 cap;
	struct buf			 names;
	const struct mstore_plan_op	*op;	/* the operation */
};

/* Plans what is done to the message uid found as rec and oname (or not). */
typedef void mstore_plan_fn(struct mstore_plan *plan, uint32_t uid,
	    const struct mstore_rec *rec, const char *oname, void *ctx);
/* An item's file work: 0, or -1 with errno. */
typedef int mstore_plan_act_fn(struct mstore_folder *f,
	    const struct mstore_plan *plan, const struct mstore_plan_item *it);
/* Records an item done, found in txn as rec and oname: 0 or an MDB code. */
typedef int mstore_plan_put_fn(struct mstore_folder *f, MDB_txn *txn,
	    const struct mstore_plan *plan, const struct mstore_plan_item *it,
	    struct mstore_rec *rec, const char *oname, struct mstore_meta *m);

/*
 * A message operation: plan makes its items, act does their file work
 * ("verb" names it in errors) and put records those done in a write
 * transaction, which first bumps the modseq in m if "modseq" is set.
 */
struct mstore_plan_op {
	const char		*verb;
	mstore_plan_fn		*plan;
	mstore_plan_act_fn	*act;
	mstore_plan_put_fn	*put;
	bool			 modseq;
};

static void
mstore_plan_init(struct mstore_plan *p, const struct mstore_plan_op *op)
{
	memset(p, 0, sizeof(*p));
	buf_init(&p->names, 0, SIZE_MAX / 2);
	p->op = op;
}

static void
mstore_plan_deinit(struct mstore_plan *p)
{
	free(p->items);
	buf_deinit(&p->names);
}

static struct mstore_plan_item *
mstore_plan_add(struct mstore_plan *p)
{
	struct mstore_plan_item	*it;

	if (p->n == p->cap) {
		p->cap = p->cap == 0 ? 16 : p->cap * 2;
		p->items = xreallocarray(p->items, p->cap, sizeof(*p->items));
	}
	it = &p->items[p->n++];
	memset(it, 0, sizeof(*it));
	return it;
}

static size_t
mstore_plan_str(struct mstore_plan *p, const char *s, size_t len)
{
	size_t	off = p->names.len;

	if (buf_append(&p->names, s, len) == -1 ||
	    buf_append_byte(&p->names, '\0') == -1)
		abort();	/* the maximum is SIZE_MAX / 2 */
	return off;
}

static const char *
mstore_plan_name(const struct mstore_plan *p, size_t off)
{
	return p->names.data + off;
}

/* The base length of a file name (up to ":"). */
static size_t
mstore_base_len(const char *name)
{
	const char	*c = strchr(name, ':');

	return c != NULL ? (size_t)(c - name) : strlen(name);
}

/* Plans the messages of uids[0..n) the index has, in a read transaction. */
static int
mstore_plan_make(struct mstore_folder *f, struct mstore_plan *plan,
    const uint32_t *uids, size_t n, void *ctx, const char **error_r)
{
	struct mstore_rec	 rec;
	MDB_txn			*txn;
	const char		*oname;
	size_t			 i;
	int			 found;

	if (mstore_txn_read(f, &txn, error_r) == -1)
		return -1;
	for (i = 0; i < n; i++) {
		found = mstore_rec_get(f, txn, uids[i], &rec, &oname, error_r);
		if (found == -1) {
			mdb_txn_abort(txn);
			return -1;
		}
		if (found == 1)
			plan->op->plan(plan, uids[i], &rec, oname, ctx);
	}
	mdb_txn_abort(txn);
	return 0;
}

/* Plans every message found, as it is (EXPUNGE, COPY). */
static void
mstore_plan_as_is(struct mstore_plan *plan, uint32_t uid,
    const struct mstore_rec *rec, const char *oname, void *ctx ATTR_UNUSED)
{
	struct mstore_plan_item	*it;

	it = mstore_plan_add(plan);
	it->uid = uid;
	it->where = rec->where;
	it->nflags = rec->flags;
	it->nkeywords = rec->keywords;
	it->size = rec->size;
	it->date = rec->date;
	it->base_len = mstore_base_len(oname);
	it->oname = mstore_plan_str(plan, oname, strlen(oname));
}

/* Records the items done with the plan's put (mstore_txn_fn). */
static int
mstore_plan_txn(struct mstore_folder *f, MDB_txn *txn, void *vctx,
    const char **error_r)
{
	struct mstore_plan	*plan = vctx;
	struct mstore_plan_item	*it;
	struct mstore_meta	 m;
	struct mstore_rec	 rec;
	const char		*oname;
	size_t			 i;
	int			 rc, found;

	memset(&m, 0, sizeof(m));
	if (plan->op->modseq) {
		if (mstore_meta_txn(f, txn, &m, error_r) == -1)
			return -1;
		m.modseq++;
	}
	for (i = 0; i < plan->n; i++) {
		it = &plan->items[i];
		if (!it->done)
			continue;
		found = mstore_rec_get(f, txn, it->uid, &rec, &oname, error_r);
		if (found == -1)
			return -1;
		if (found == 0)
			continue;
		if ((rc = plan->op->put(f, txn, plan, it, &rec, oname,
		    &m)) != 0)
			return rc;
	}
	return plan->op->modseq ? mstore_meta_put(f, txn, &m) : 0;
}

/*
 * Runs op on the messages of uids[0..n) under the folder lock: plans them
 * in a read transaction, does the file work and records it.  Those whose
 * file has gone (renamed meanwhile) are planned again after a full sync,
 * once; what is still missing then was dropped by the sync.  *done_r
 * counts the items whose file work was done.
 */
static int
mstore_plan_run(struct mstore_folder *f, const struct mstore_plan_op *op,
    const uint32_t *uids, size_t n, void *ctx, size_t *done_r,
    const char **error_r)
{
	struct mstore_plan	 plan;
	struct mstore_plan_item	*it;
	uint32_t		*retry = NULL;
	const uint32_t		*list = uids;
	size_t			 i, count = n, nretry, done = 0;
	int			 pass, ret = -1;

	if (f->deleted) {
		*error_r = "mailbox deleted";
		return -1;
	}
	if (mstore_folder_lock(f, error_r) == -1)
		return -1;
	for (pass = 0; pass < 2; pass++) {
		mstore_plan_init(&plan, op);
		nretry = 0;
		if (mstore_plan_make(f, &plan, list, count, ctx,
		    error_r) == -1)
			goto done;
		for (i = 0; i < plan.n; i++) {
			it = &plan.items[i];
			if (it->where != MSTORE_WHERE_UNKNOWN &&
			    op->act(f, &plan, it) == 0) {
				it->done = true;
				done++;
				continue;
			}
			if (it->where != MSTORE_WHERE_UNKNOWN &&
			    errno != ENOENT) {
				*error_r = error_fmt("%s %s/%s: %m", op->verb,
				    f->path, mstore_plan_name(&plan,
				    it->oname));
				(void)mstore_txn_write(f, mstore_plan_txn,
				    &plan, error_r);
				goto done;
			}
			if (pass == 1) {
				/* Gone for good: the sync dropped it. */
				continue;
			}
			/* Renamed meanwhile: sync and try once more. */
			if (retry == NULL)
				retry = xreallocarray(NULL, plan.n + 1,
				    sizeof(*retry));
			retry[nretry++] = it->uid;
		}
		if (mstore_txn_write(f, mstore_plan_txn, &plan, error_r) == -1)
			goto done;
		mstore_plan_deinit(&plan);
		if (nretry == 0 || pass == 1)
			break;
		if (mstore_folder_sync_full(f, error_r) == -1)
			goto out;
		list = retry;
		count = nretry;
	}
	ret = 0;
	*done_r = done;
	goto out;
done:
	mstore_plan_deinit(&plan);
out:
	free(retry);
	mstore_folder_unlock(f);
	return ret;
}

/* ---- STORE ------------------------------------------------------------- */

struct mstore_store_ctx {
	enum mstore_store_mode	mode;
	uint8_t			flags;
	uint32_t		keywords;
};

static void
mstore_store_plan(struct mstore_plan *plan, uint32_t uid,
    const struct mstore_rec *rec, const char *oname, void *vctx)
{
	struct mstore_store_ctx	*ctx = vctx;
	struct mstore_plan_item	*it;
	char			 info[64], nname[MSTORE_NAME_MAX + 1];
	size_t			 blen;
	uint32_t		 nk;
	uint8_t			 nf;
	int			 len;

	switch (ctx->mode) {
	case MSTORE_STORE_ADD:
		nf = rec->flags | ctx->flags;
		nk = rec->keywords | ctx->keywords;
		break;
	case MSTORE_STORE_REMOVE:
		nf = rec->flags & (uint8_t)~ctx->flags;
		nk = rec->keywords & ~ctx->keywords;
		break;
	default:
		nf = ctx->flags;
		nk = ctx->keywords;
		break;
	}
	if (nf == rec->flags && nk == rec->keywords)
		return;
	blen = mstore_base_len(oname);
	if (mstore_info_make(oname + blen, nf, nk, info, sizeof(info)) == -1)
		return;
	len = snprintf(nname, sizeof(nname), "%.*s%s", (int)blen, oname,
	    info);
	if (len < 0 || (size_t)len >= sizeof(nname))
		return;
	it = mstore_plan_add(plan);
	it->uid = uid;
	it->where = rec->where;
	it->oflags = rec->flags;
	it->nflags = nf;
	it->nkeywords = nk;
	it->base_len = blen;
	it->oname = mstore_plan_str(plan, oname, strlen(oname));
	it->nname = mstore_plan_str(plan, nname, (size_t)len);
}

static int
mstore_store_act(struct mstore_folder *f, const struct mstore_plan *plan,
    const struct mstore_plan_item *it)
{
	int	dfd = mstore_where_fd(f, it->where);

	return renameat(dfd, mstore_plan_name(plan, it->oname), dfd,
	    mstore_plan_name(plan, it->nname));
}

static int
mstore_store_put(struct mstore_folder *f, MDB_txn *txn,
    const struct mstore_plan *plan, const struct mstore_plan_item *it,
    struct mstore_rec *rec, const char *oname ATTR_UNUSED,
    struct mstore_meta *m)
{
	const char	*nname = mstore_plan_name(plan, it->nname);
	int		 rc;

	mstore_meta_count(m, true, rec->flags, true, it->nflags);
	rec->flags = it->nflags;
	rec->keywords = it->nkeywords;
	rec->modseq = m->modseq;
	if ((rc = mstore_rec_put(f, txn, it->uid, rec, nname, strlen(nname),
	    0)) != 0)
		return rc;
	return mstore_namerec_put(f, txn, nname, it->base_len, it->uid,
	    it->where, nname + it->base_len, 0);
}

static const struct mstore_plan_op mstore_store_op = {
	"rename", mstore_store_plan, mstore_store_act, mstore_store_put, true
};

int
mstore_store(struct mstore_folder *f, const uint32_t *uids, size_t n,
    enum mstore_store_mode mode, uint8_t flags, uint32_t keywords,
    size_t *changed_r, const char **error_r)
{
	struct mstore_store_ctx	ctx = { mode, flags & MSTORE_F_ALL, keywords };
	size_t			changed;

	if (changed_r != NULL)
		*changed_r = 0;
	if (mstore_plan_run(f, &mstore_store_op, uids, n, &ctx, &changed,
	    error_r) == -1)
		return -1;
	if (changed_r != NULL)
		*changed_r = changed;
	return 0;
}

/* ---- EXPUNGE ----------------------------------------------------------- */

static int
mstore_expunge_act(struct mstore_folder *f, const struct mstore_plan *plan,
    const struct mstore_plan_item *it)
{
	return unlinkat(mstore_where_fd(f, it->where),
	    mstore_plan_name(plan, it->oname), 0);
}

static int
mstore_expunge_put(struct mstore_folder *f, MDB_txn *txn,
    const struct mstore_plan *plan, const struct mstore_plan_item *it,
    struct mstore_rec *rec, const char *oname ATTR_UNUSED,
    struct mstore_meta *m)
{
	mstore_meta_count(m, true, rec->flags, false, 0);
	return mstore_rec_del(f, txn, it->uid,
	    mstore_plan_name(plan, it->oname), it->base_len);
}

static const struct mstore_plan_op mstore_expunge_op = {
	"unlink", mstore_plan_as_is, mstore_expunge_act, mstore_expunge_put,
	true
};

int
mstore_expunge(struct mstore_folder *f, const uint32_t *uids, size_t n,
    const char **error_r)
{
	size_t	done;

	return mstore_plan_run(f, &mstore_expunge_op, uids, n, NULL, &done,
	    error_r);
}

/* ---- sizes and dates ---------------------------------------------------- */

/* Opens a message file: a regular file, never through a symlink. */
static int
mstore_msg_open(int dfd, const char *name, struct stat *st_r)
{
	int	fd, saved;

	fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC | O_NOCTTY);
	if (fd == -1)
		return -1;
	errno = 0;
	if (fstat(fd, st_r) == -1 || !S_ISREG(st_r->st_mode)) {
		saved = errno;
		if (saved == 0 || S_ISREG(st_r->st_mode) == 0)
			saved = EINVAL;
		(void)close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

/*
 * Reads fd to its end with bare LFs made CRLF, appended to out unless it
 * is NULL; *size_r (if not NULL) gets the size so made: RFC822.SIZE.
 */
static int
mstore_read_crlf(int fd, struct buf *out, uint64_t *size_r,
    const char **error_r)
{
	char		*chunk;
	const char	*p, *end, *lf;
	ssize_t		 r;
	uint64_t	 size = 0;
	char		 prev = 0;
	bool		 bare;

	chunk = xmalloc(MSTORE_READ_CHUNK);
	for (;;) {
		r = read(fd, chunk, MSTORE_READ_CHUNK);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			*error_r = error_fmt("read message: %m");
			goto fail;
		}
		if (r == 0)
			break;
		size += (uint64_t)r;
		p = chunk;
		end = chunk + r;
		while ((lf = memchr(p, '\n', (size_t)(end - p))) != NULL) {
			bare = (lf == chunk ? prev : lf[-1]) != '\r';
			if (bare)
				size++;
			if (out != NULL &&
			    (buf_append(out, p, (size_t)(lf - p)) == -1 ||
			    buf_append(out, bare ? "\r\n" : "\n",
			    bare ? 2 : 1) == -1))
				goto full;
			p = lf + 1;
		}
		if (out != NULL && buf_append(out, p, (size_t)(end - p)) == -1)
			goto full;
		prev = end[-1];
	}
	free(chunk);
	if (size_r != NULL)
		*size_r = size;
	return 0;
full:
	*error_r = "message larger than the output buffer";
fail:
	free(chunk);
	return -1;
}

static void
mstore_stat_plan(struct mstore_plan *plan, uint32_t uid,
    const struct mstore_rec *rec, const char *oname, void *ctx ATTR_UNUSED)
{
	struct mstore_plan_item	*it;

	if (rec->size != 0 && rec->date != 0)
		return;
	it = mstore_plan_add(plan);
	it->uid = uid;
	it->where = rec->where;
	it->size = rec->size;
	it->oname = mstore_plan_str(plan, oname, strlen(oname));
}

static int
mstore_stat_put(struct mstore_folder *f, MDB_txn *txn,
    const struct mstore_plan *plan ATTR_UNUSED,
    const struct mstore_plan_item *it, struct mstore_rec *rec,
    const char *oname, struct mstore_meta *m ATTR_UNUSED)
{
	rec->size = it->size;
	rec->date = it->date;
	return mstore_rec_put(f, txn, it->uid, rec, oname, rec->name_len, 0);
}

/* Its items are stat'ed by mstore_msg_stat() itself, without the lock. */
static const struct mstore_plan_op mstore_stat_op = {
	NULL, mstore_stat_plan, NULL, mstore_stat_put, false
};

int
mstore_msg_stat(struct mstore_folder *f, const uint32_t *uids, size_t n,
    const char **error_r)
{
	struct mstore_plan	 plan;
	struct mstore_plan_item	*it;
	struct stat		 st;
	const char		*name, *error;
	uint64_t		 size;
	size_t			 i, nretry;
	int			 pass, fd, ret = -1, any;

	for (pass = 0; pass < 2; pass++) {
		mstore_plan_init(&plan, &mstore_stat_op);
		nretry = 0;
		any = 0;
		if (mstore_plan_make(f, &plan, uids, n, NULL, error_r) == -1)
			goto done;
		for (i = 0; i < plan.n; i++) {
			it = &plan.items[i];
			name = mstore_plan_name(&plan, it->oname);
			if (it->where == MSTORE_WHERE_UNKNOWN) {
				nretry++;
				continue;
			}
			fd = mstore_msg_open(mstore_where_fd(f, it->where),
			    name, &st);
			if (fd == -1) {
				if (errno == ENOENT)
					nretry++;
				continue;	/* not a file: leave it */
			}
			it->date = st.st_mtim.tv_sec;
			if (it->date == 0)
				it->date = 1;
			if (it->size == 0 && mstore_base_wsize(name,
			    mstore_base_len(name), &size) == 1)
				it->size = size;
			if (it->size == 0 && mstore_read_crlf(fd, NULL, &size,
			    &error) == 0)
				it->size = size;
			(void)close(fd);
			it->done = true;
			any = 1;
		}
		if (any && mstore_txn_write(f, mstore_plan_txn, &plan,
		    error_r) == -1)
			goto done;
		mstore_plan_deinit(&plan);
		if (nretry == 0 || pass == 1)
			break;
		if (mstore_folder_sync_full(f, error_r) == -1)
			return -1;
	}
	return 0;
done:
	mstore_plan_deinit(&plan);
	return ret;
}

/* ---- reading ------------------------------------------------------------ */

int
mstore_msg_read(struct mstore_folder *f, uint32_t uid, struct buf *out,
    const char **error_r)
{
	struct mstore_rec	 rec;
	struct stat		 st;
	MDB_txn			*txn;
	const char		*oname;
	char			 name[MSTORE_NAME_MAX + 1];
	size_t			 start = out->len;
	int			 pass, found, fd, ret;

	for (pass = 0; pass < 2; pass++) {
		if (mstore_txn_read(f, &txn, error_r) == -1)
			return -1;
		found = mstore_rec_get(f, txn, uid, &rec, &oname, error_r);
		if (found == 1 && str_copy(name, sizeof(name), oname) == -1)
			found = 0;
		mdb_txn_abort(txn);
		if (found != 1)
			return found;
		fd = -1;
		if (rec.where != MSTORE_WHERE_UNKNOWN)
			fd = mstore_msg_open(mstore_where_fd(f, rec.where),
			    name, &st);
		if (fd != -1) {
			ret = mstore_read_crlf(fd, out, NULL, error_r);
			(void)close(fd);
			if (ret == -1) {
				buf_truncate(out, start);
				return -1;
			}
			return 1;
		}
		if (rec.where != MSTORE_WHERE_UNKNOWN && errno != ENOENT) {
			*error_r = error_fmt("open %s/%s: %m", f->path, name);
			return -1;
		}
		if (pass == 0 && mstore_folder_sync_full(f, error_r) == -1)
			return -1;
	}
	return 0;
}

/* ---- the cache ---------------------------------------------------------- */

struct mstore_cache_ctx {
	uint32_t	 uid;
	int		 what;
	const char	*data;
	size_t		 len;
};

static int
mstore_cache_txn(struct mstore_folder *f, MDB_txn *txn, void *vctx,
    const char **error_r ATTR_UNUSED)
{
	struct mstore_cache_ctx	*ctx = vctx;
	unsigned char		 kb[5];
	MDB_val			 k = { 4, kb };
	MDB_val			 v = { ctx->len, (void *)ctx->data };
	MDB_val			 ov;
	int			 rc;

	mstore_uid_key(ctx->uid, kb);
	if ((rc = mdb_get(txn, f->dbi_uid, &k, &ov)) != 0)
		return rc == MDB_NOTFOUND ? 0 : rc;	/* expunged */
	kb[4] = (unsigned char)ctx->what;
	k.mv_size = 5;
	return mdb_put(txn, f->dbi_cache, &k, &v, 0);
}

int
mstore_cache_put(struct mstore_folder *f, uint32_t uid, int what,
    const char *data, size_t len, const char **error_r)
{
	struct mstore_cache_ctx	ctx = { uid, what, data, len };

	if (what < MSTORE_CACHE_ENVELOPE || what > MSTORE_CACHE_BODY) {
		*error_r = "unknown cache field";
		return -1;
	}
	return mstore_txn_write(f, mstore_cache_txn, &ctx, error_r);
}

int
mstore_cache_get(struct mstore_folder *f, uint32_t uid, int what,
    struct buf *out, const char **error_r)
{
	unsigned char	 kb[5];
	MDB_val		 k = { 5, kb }, v;
	MDB_txn		*txn;
	int		 rc, ret;

	if (what < MSTORE_CACHE_ENVELOPE || what > MSTORE_CACHE_BODY) {
		*error_r = "unknown cache field";
		return -1;
	}
	if (mstore_txn_read(f, &txn, error_r) == -1)
		return -1;
	mstore_uid_key(uid, kb);
	kb[4] = (unsigned char)what;
	rc = mdb_get(txn, f->dbi_cache, &k, &v);
	if (rc == MDB_NOTFOUND)
		ret = 0;
	else if (rc != 0) {
		*error_r = mstore_mdb_error(f, "read cache", rc);
		ret = -1;
	} else if (buf_append(out, v.mv_data, v.mv_size) == -1) {
		*error_r = "cached text larger than the output buffer";
		ret = -1;
	} else
		ret = 1;
	mdb_txn_abort(txn);
	return ret;
}

/* ---- APPEND ------------------------------------------------------------- */

struct mstore_append {
	struct mstore_folder	*f;
	int			 fd;
	char			 tmp[MSTORE_NAME_MAX + 1];
	uint64_t		 size;		/* bytes written (LF form) */
	uint64_t		 wsize;		/* as mstore_msg_read() gives */
	bool			 cr_pending;
	char			 last;		/* last byte written */
	bool			 failed;
};

struct mstore_append *
mstore_append_begin(struct mstore_folder *f, enum mstore_err *code_r,
    const char **error_r)
{
	struct mstore_append	*a;
	int			 tries;

	*code_r = MSTORE_E_INTERNAL;
	if (f->deleted) {
		*code_r = MSTORE_E_EXPUNGED;
		*error_r = "mailbox deleted";
		return NULL;
	}
	a = xcalloc(1, sizeof(*a));
	a->f = f;
	for (tries = 0; tries < 10; tries++) {
		if (mstore_unique_name(&f->counter, a->tmp,
		    sizeof(a->tmp)) == -1) {
			*error_r = "cannot make a unique name";
			free(a);
			return NULL;
		}
		a->fd = openat(f->tmpfd, a->tmp, O_WRONLY | O_CREAT | O_EXCL |
		    O_NOFOLLOW | O_CLOEXEC, 0600);
		if (a->fd != -1)
			return a;
		if (errno != EEXIST)
			break;
	}
	if (errno == ENOSPC || errno == EDQUOT)
		*code_r = MSTORE_E_NOSPACE;
	*error_r = error_fmt("create %s/tmp/%s: %m", f->path, a->tmp);
	free(a);
	return NULL;
}

/* Writes out[0..n) and counts it. */
static int
mstore_append_out(struct mstore_append *a, const char *out, size_t n,
    enum mstore_err *code_r, const char **error_r)
{
	if (n == 0)
		return 0;
	if (file_write_all(a->fd, out, n) == -1) {
		*code_r = errno == ENOSPC || errno == EDQUOT ?
		    MSTORE_E_NOSPACE : MSTORE_E_INTERNAL;
		*error_r = error_fmt("write %s/tmp/%s: %m", a->f->path,
		    a->tmp);
		a->failed = true;
		return -1;
	}
	return 0;
}

int
mstore_append_write(struct mstore_append *a, const char *data, size_t len,
    enum mstore_err *code_r, const char **error_r)
{
	char	out[8192];
	size_t	o = 0, i;
	char	c;

	*code_r = MSTORE_E_INTERNAL;
	if (a->failed) {
		*error_r = "earlier write failed";
		return -1;
	}
	for (i = 0; i < len; i++) {
		c = data[i];
		if (o + 2 > sizeof(out)) {
			if (mstore_append_out(a, out, o, code_r, error_r) == -1)
				return -1;
			o = 0;
		}
		if (a->cr_pending) {
			a->cr_pending = false;
			if (c != '\n') {
				/* A lone CR stays. */
				out[o++] = '\r';
				a->size++;
				a->wsize++;
				a->last = '\r';
			}
		}
		if (c == '\r') {
			a->cr_pending = true;
			continue;
		}
		out[o++] = c;
		a->size++;
		a->wsize += c == '\n' && a->last != '\r' ? 2 : 1;
		a->last = c;
	}
	return mstore_append_out(a, out, o, code_r, error_r);
}

void
mstore_append_abort(struct mstore_append **ap)
{
	struct mstore_append	*a = *ap;

	if (a == NULL)
		return;
	if (a->fd != -1)
		(void)close(a->fd);
	(void)unlinkat(a->f->tmpfd, a->tmp, 0);
	free(a);
	*ap = NULL;
}

/* Checks the folder may hold n more messages (lock held). */
static int
mstore_room(struct mstore_folder *f, size_t n, enum mstore_err *code_r,
    const char **error_r)
{
	if (f->deleted) {
		*code_r = MSTORE_E_EXPUNGED;
		*error_r = "mailbox deleted";
		return -1;
	}
	if ((uint64_t)f->meta.messages + n > f->max_messages) {
		*code_r = MSTORE_E_LIMIT;
		*error_r = "too many messages in the mailbox";
		return -1;
	}
	return 0;
}

int
mstore_append_commit(struct mstore_append **ap, uint8_t flags,
    uint32_t keywords, time_t date, uint32_t *uid_r, enum mstore_err *code_r,
    const char **error_r)
{
	struct mstore_append	*a = *ap;
	struct mstore_folder	*f = a->f;
	struct mstore_newmsg	 nm;
	struct timespec		 ts[2];
	char			 base[MSTORE_NAME_MAX + 1], info[64];
	char			 name[MSTORE_NAME_MAX + 1];
	int			 n, ret = -1;

	*code_r = MSTORE_E_INTERNAL;
	flags &= MSTORE_F_ALL;
	if (a->cr_pending) {
		a->cr_pending = false;
		if (mstore_append_out(a, "\r", 1, code_r, error_r) == -1)
			goto fail;
		a->size++;
		a->wsize++;
	}
	if (a->failed) {
		*error_r = "earlier write failed";
		goto fail;
	}
	if (fsync(a->fd) == -1) {
		*code_r = errno == ENOSPC || errno == EDQUOT ?
		    MSTORE_E_NOSPACE : MSTORE_E_INTERNAL;
		*error_r = error_fmt("fsync %s/tmp/%s: %m", f->path, a->tmp);
		goto fail;
	}
	if (date > 0) {
		ts[0].tv_sec = ts[1].tv_sec = date;
		ts[0].tv_nsec = ts[1].tv_nsec = 0;
		(void)futimens(a->fd, ts);
	} else
		date = time(NULL);
	(void)close(a->fd);
	a->fd = -1;
	n = snprintf(base, sizeof(base), "%s,S=%" PRIu64 ",W=%" PRIu64,
	    a->tmp, a->size, a->wsize);
	if (n < 0 || (size_t)n > MSTORE_BASE_MAX ||
	    mstore_info_make("", flags, keywords, info, sizeof(info)) == -1 ||
	    (size_t)snprintf(name, sizeof(name), "%s%s", base, info) >=
	    sizeof(name)) {
		*error_r = "message file name too long";
		goto fail;
	}
	if (renameat(f->tmpfd, a->tmp, f->curfd, name) == -1) {
		*error_r = error_fmt("rename %s/tmp/%s: %m", f->path, a->tmp);
		goto fail;
	}
	if (fsync(f->curfd) == -1) {
		*error_r = error_fmt("fsync %s/cur: %m", f->path);
		(void)unlinkat(f->curfd, name, 0);
		goto fail;
	}
	memset(&nm, 0, sizeof(nm));
	nm.base = base;
	nm.info = info;
	nm.where = MSTORE_WHERE_CUR;
	nm.flags = flags;
	nm.keywords = keywords;
	nm.size = a->wsize;
	nm.date = date;
	if (mstore_folder_lock(f, error_r) == -1)
		goto unlink;
	if (mstore_room(f, 1, code_r, error_r) == -1 ||
	    mstore_index_add(f, &nm, 1, error_r) == -1) {
		mstore_folder_unlock(f);
		goto unlink;
	}
	mstore_folder_unlock(f);
	*uid_r = nm.uid;
	*code_r = MSTORE_E_NONE;
	free(a);
	*ap = NULL;
	return 0;
unlink:
	/*
	 * Not indexed: remove it, unless another process's sync gave it
	 * a UID meanwhile (then it is in the uidlist, and stays).
	 */
	(void)unlinkat(f->curfd, name, 0);
	free(a);
	*ap = NULL;
	return ret;
fail:
	mstore_append_abort(ap);
	return ret;
}

/* ---- COPY --------------------------------------------------------------- */

/* Copies the file src (open) into dst's tmp/ then cur/name. */
static int
mstore_copy_file(int sfd, const struct stat *sst, struct mstore_folder *dst,
    const char *name, const char **error_r)
{
	char		 tmp[MSTORE_NAME_MAX + 1];
	char		*chunk;
	ssize_t		 r;
	struct timespec	 ts[2];
	int		 dfd;

	if (mstore_unique_name(&dst->counter, tmp, sizeof(tmp)) == -1) {
		*error_r = "cannot make a unique name";
		return -1;
	}
	dfd = openat(dst->tmpfd, tmp, O_WRONLY | O_CREAT | O_EXCL |
	    O_NOFOLLOW | O_CLOEXEC, 0600);
	if (dfd == -1) {
		*error_r = error_fmt("create %s/tmp/%s: %m", dst->path, tmp);
		return -1;
	}
	chunk = xmalloc(MSTORE_READ_CHUNK);
	for (;;) {
		r = read(sfd, chunk, MSTORE_READ_CHUNK);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		if (file_write_all(dfd, chunk, (size_t)r) == -1) {
			r = -1;
			break;
		}
	}
	free(chunk);
	ts[0] = ts[1] = sst->st_mtim;
	if (r == -1 || futimens(dfd, ts) == -1 || fsync(dfd) == -1 ||
	    renameat(dst->tmpfd, tmp, dst->curfd, name) == -1) {
		*error_r = error_fmt("copy into %s/cur/%s: %m", dst->path,
		    name);
		(void)close(dfd);
		(void)unlinkat(dst->tmpfd, tmp, 0);
		return -1;
	}
	(void)close(dfd);
	return 0;
}

/* The ",S=..." and ",W=..." parts of base, into dst. */
static void
mstore_size_parts(const char *base, size_t len, char *dst, size_t size)
{
	const char	*p, *end = base + len, *q;
	size_t		 o = 0;

	dst[0] = '\0';
	for (p = base; p + 3 <= end; p++) {
		if (p[0] != ',' || (p[1] != 'S' && p[1] != 'W') || p[2] != '=')
			continue;
		for (q = p + 3; q < end && *q >= '0' && *q <= '9'; q++)
			;
		if (q == p + 3 || (q < end && *q != ',') ||
		    o + (size_t)(q - p) + 1 > size)
			continue;
		memcpy(dst + o, p, (size_t)(q - p));
		o += (size_t)(q - p);
		dst[o] = '\0';
	}
}

/* Its items are linked by mstore_copy() itself, then given UIDs in dst. */
static const struct mstore_plan_op mstore_copy_op = {
	NULL, mstore_plan_as_is, NULL, NULL, false
};

int
mstore_copy(struct mstore_folder *src, const uint32_t *uids, size_t n,
    struct mstore_folder *dst, uint32_t *src_uids_r, uint32_t *dst_uids_r,
    size_t *count_r, enum mstore_err *code_r, const char **error_r)
{
	struct mstore_plan	 plan;
	struct mstore_plan_item	*it;
	struct mstore_rec	 rec;
	struct mstore_newmsg	*nms = NULL;
	struct stat		 st;
	MDB_txn			*txn;
	const char		*oname, *kwname, *sname;
	char			 base[MSTORE_NAME_MAX + 1], sizes[64];
	char			 info[64], name[MSTORE_NAME_MAX + 1];
	int			 kwmap[MSTORE_KEYWORDS_MAX];
	size_t			 i, k, nn = 0, len;
	uint32_t		 kw;
	int			 found, sfd, pass, ret = -1;
	enum mstore_err		 kcode;

	*code_r = MSTORE_E_INTERNAL;
	*count_r = 0;
	if (src->deleted || dst->deleted) {
		*code_r = MSTORE_E_EXPUNGED;
		*error_r = "mailbox deleted";
		return -1;
	}
	for (k = 0; k < MSTORE_KEYWORDS_MAX; k++)
		kwmap[k] = -2;		/* not looked up yet */
	mstore_plan_init(&plan, &mstore_copy_op);
	if (mstore_plan_make(src, &plan, uids, n, NULL, error_r) == -1)
		goto out;
	nms = xcalloc(plan.n + 1, sizeof(*nms));
	for (i = 0; i < plan.n; i++) {
		it = &plan.items[i];
		/* The keywords dst knows by name (created as needed). */
		kw = 0;
		for (k = 0; k < MSTORE_KEYWORDS_MAX; k++) {
			if ((it->nkeywords & (1U << k)) == 0)
				continue;
			if (kwmap[k] == -2) {
				kwname = mstore_keyword_name(src,
				    (unsigned int)k);
				kwmap[k] = kwname == NULL ? -1 :
				    mstore_keyword_index(dst, kwname, true,
				    &kcode, error_r);
			}
			if (kwmap[k] >= 0)
				kw |= 1U << kwmap[k];
		}
		sname = mstore_plan_name(&plan, it->oname);
		mstore_size_parts(sname, it->base_len, sizes, sizeof(sizes));
		if (mstore_unique_name(&dst->counter, base,
		    sizeof(base)) == -1 ||
		    strlen(base) + strlen(sizes) > MSTORE_BASE_MAX ||
		    mstore_info_make("", it->nflags, kw, info,
		    sizeof(info)) == -1) {
			*error_r = "message file name too long";
			goto unlink;
		}
		len = strlen(base);
		memcpy(base + len, sizes, strlen(sizes) + 1);
		if ((size_t)snprintf(name, sizeof(name), "%s%s", base, info) >=
		    sizeof(name)) {
			*error_r = "message file name too long";
			goto unlink;
		}
		for (pass = 0; pass < 2; pass++) {
			if (it->where != MSTORE_WHERE_UNKNOWN &&
			    linkat(mstore_where_fd(src, it->where), sname,
			    dst->curfd, name, 0) == 0)
				break;
			if (it->where != MSTORE_WHERE_UNKNOWN &&
			    (errno == EXDEV || errno == EMLINK ||
			    errno == EPERM)) {
				sfd = mstore_msg_open(mstore_where_fd(src,
				    it->where), sname, &st);
				if (sfd != -1) {
					ret = mstore_copy_file(sfd, &st, dst,
					    name, error_r);
					(void)close(sfd);
					if (ret == -1)
						goto unlink;
					ret = -1;
					break;
				}
			}
			if (it->where != MSTORE_WHERE_UNKNOWN &&
			    errno != ENOENT) {
				*error_r = error_fmt("link %s/%s: %m",
				    src->path, sname);
				goto unlink;
			}
			if (pass == 1)
				break;
			/* Renamed meanwhile: find it again. */
			if (mstore_folder_sync_full(src, error_r) == -1)
				goto unlink;
			if (mstore_txn_read(src, &txn, error_r) == -1)
				goto unlink;
			found = mstore_rec_get(src, txn, it->uid, &rec, &oname,
			    error_r);
			if (found == 1) {
				it->where = rec.where;
				it->oname = mstore_plan_str(&plan, oname,
				    strlen(oname));
				sname = mstore_plan_name(&plan, it->oname);
			}
			mdb_txn_abort(txn);
			if (found == -1)
				goto unlink;
			if (found == 0) {
				pass = 2;
				break;
			}
		}
		if (pass == 2 || (pass == 1 && faccessat(dst->curfd, name,
		    F_OK, AT_SYMLINK_NOFOLLOW) == -1))
			continue;	/* expunged meanwhile */
		it->done = true;
		it->nname = mstore_plan_str(&plan, name, strlen(name));
		it->oname = mstore_plan_str(&plan, base, strlen(base));
		it->nkeywords = kw;
		nn++;
	}
	if (nn > 0 && fsync(dst->curfd) == -1) {
		*error_r = error_fmt("fsync %s/cur: %m", dst->path);
		goto unlink;
	}
	/* The names are all in the plan now: point into it. */
	for (i = 0, k = 0; i < plan.n; i++) {
		it = &plan.items[i];
		if (!it->done)
			continue;
		nms[k].base = mstore_plan_name(&plan, it->oname);
		nms[k].info = mstore_plan_name(&plan, it->nname) +
		    strlen(nms[k].base);
		nms[k].where = MSTORE_WHERE_CUR;
		nms[k].flags = it->nflags;
		nms[k].keywords = it->nkeywords;
		nms[k].size = it->size;
		nms[k].date = it->date;
		k++;
	}
	if (nn == 0) {
		ret = 0;
		goto out;
	}
	if (mstore_folder_lock(dst, error_r) == -1)
		goto unlink;
	if (mstore_room(dst, nn, code_r, error_r) == -1 ||
	    mstore_index_add(dst, nms, nn, error_r) == -1) {
		mstore_folder_unlock(dst);
		goto unlink;
	}
	mstore_folder_unlock(dst);
	for (i = 0, k = 0; i < plan.n; i++) {
		it = &plan.items[i];
		if (!it->done)
			continue;
		if (src_uids_r != NULL)
			src_uids_r[k] = it->uid;
		if (dst_uids_r != NULL)
			dst_uids_r[k] = nms[k].uid;
		k++;
	}
	*count_r = nn;
	*code_r = MSTORE_E_NONE;
	ret = 0;
	goto out;
unlink:
	for (i = 0; i < plan.n; i++) {
		it = &plan.items[i];
		if (it->done)
			(void)unlinkat(dst->curfd,
			    mstore_plan_name(&plan, it->nname), 0);
	}
out:
	free(nms);
	mstore_plan_deinit(&plan);
	return ret;
}

/* ---- status and \Recent -------------------------------------------------- */

/* Messages with uid >= from in txn. */
static int
mstore_count_from(struct mstore_folder *f, MDB_txn *txn, uint32_t from,
    uint32_t *count_r, const char **error_r)
{
	unsigned char	 kb[4];
	MDB_cursor	*cur;
	MDB_val		 k = { 4, kb }, v;
	uint32_t	 count = 0;
	int		 rc;

	*count_r = 0;
	if ((rc = mdb_cursor_open(txn, f->dbi_uid, &cur)) != 0) {
		*error_r = mstore_mdb_error(f, "cursor", rc);
		return -1;
	}
	mstore_uid_key(from, kb);
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
	    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
		count++;
	mdb_cursor_close(cur);
	if (rc != MDB_NOTFOUND) {
		*error_r = mstore_mdb_error(f, "read", rc);
		return -1;
	}
	*count_r = count;
	return 0;
}

/* Sum of sizes (sizes not known are stat'ed first). */
static int
mstore_size_sum(struct mstore_folder *f, uint64_t *size_r,
    const char **error_r)
{
	struct mstore_snap	*snap;
	struct mstore_msg	 m;
	uint32_t		*unknown = NULL;
	size_t			 nu = 0, cap = 0;
	uint64_t		 sum;
	int			 rc, pass;

	for (pass = 0; pass < 2; pass++) {
		sum = 0;
		if (mstore_snap_begin(f, &snap, error_r) == -1)
			goto fail;
		m.uid = 0;
		while ((rc = mstore_snap_next(snap, m.uid + 1, &m,
		    error_r)) == 1) {
			sum += m.size;
			if (m.size != 0 || pass == 1)
				continue;
			if (nu == cap) {
				cap = cap == 0 ? 64 : cap * 2;
				unknown = xreallocarray(unknown, cap,
				    sizeof(*unknown));
			}
			unknown[nu++] = m.uid;
		}
		mstore_snap_end(&snap);
		if (rc == -1)
			goto fail;
		if (nu == 0)
			break;
		if (pass == 0 && mstore_msg_stat(f, unknown, nu,
		    error_r) == -1)
			goto fail;
	}
	free(unknown);
	*size_r = sum;
	return 0;
fail:
	free(unknown);
	return -1;
}

int
mstore_folder_status(struct mstore_folder *f, bool want_size,
    struct mstore_status *st_r, const char **error_r)
{
	struct mstore_meta	 m;
	MDB_txn			*txn;
	int			 ret = -1;

	memset(st_r, 0, sizeof(*st_r));
	if (mstore_folder_sync(f, error_r) == -1)
		return -1;
	if (mstore_txn_read(f, &txn, error_r) == -1)
		return -1;
	if (mstore_meta_txn(f, txn, &m, error_r) == 0 &&
	    mstore_count_from(f, txn, m.recent, &st_r->recent,
	    error_r) == 0)
		ret = 0;
	mdb_txn_abort(txn);
	if (ret == -1)
		return -1;
	st_r->messages = m.messages;
	st_r->unseen = m.unseen;
	st_r->deleted = m.deleted;
	st_r->uidnext = m.uidnext;
	st_r->uidvalidity = m.uidvalidity;
	if (want_size && mstore_size_sum(f, &st_r->size, error_r) == -1)
		return -1;
	return 0;
}

struct mstore_recent_ctx {
	uint32_t	first;
};

static int
mstore_recent_txn(struct mstore_folder *f, MDB_txn *txn, void *vctx,
    const char **error_r)
{
	struct mstore_recent_ctx	*ctx = vctx;
	struct mstore_meta		 m;

	if (mstore_meta_txn(f, txn, &m, error_r) == -1)
		return -1;
	ctx->first = m.recent;
	m.recent = m.uidnext;
	return mstore_meta_put(f, txn, &m);
}

int
mstore_folder_recent(struct mstore_folder *f, bool claim, uint32_t *first_uid_r,
    const char **error_r)
{
	struct mstore_recent_ctx	ctx = { 0 };
	struct mstore_meta		m;
	MDB_txn				*txn;
	int				 ret;

	if (!claim || f->deleted) {
		if (mstore_txn_read(f, &txn, error_r) == -1)
			return -1;
		ret = mstore_meta_txn(f, txn, &m, error_r);
		mdb_txn_abort(txn);
		if (ret == -1)
			return -1;
		*first_uid_r = m.recent;
		return 0;
	}
	/* ctx.first is set on each run: the last run is what committed. */
	if (mstore_txn_write(f, mstore_recent_txn, &ctx, error_r) == -1)
		return -1;
	*first_uid_r = ctx.first;
	return 0;
}
