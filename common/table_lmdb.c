/* SPDX-License-Identifier: ISC */
/*
 * The lmdb: table backend (table_int.h): one LMDB file, FILE.lmdb
 * (MDB_NOSUBDIR), for distributions that build without Berkeley DB.
 *
 * No lock file, for writers or readers (MDB_NOLOCK): a compiled table is
 * never modified in place.  table.c builds a new file under a temporary
 * name that no reader opens, then renames it over the old one; a reader
 * keeps its mapping of the file it opened until it notices the rename and
 * reopens.  So there is never a writer and a reader on one file, which is
 * all LMDB's lock file arbitrates.
 *
 * Long keys: LMDB's key size is fixed when the library is compiled (511
 * bytes in Debian), below TABLE_KEY_MAX.  A key longer than the library's
 * limit is stored under a stand-in key: its first (limit - 9) bytes, a NUL
 * byte (never part of a real key, so a stand-in never equals a short key)
 * and the key's 64-bit FNV-1a hash; the record's value is the full key, a
 * NUL, then the value, and a lookup compares the full key.  Two long keys
 * with one stand-in would be caught at build time (MDB_NOOVERWRITE) and
 * reported; the source is the administrator's, not an attacker's.
 */
#include "config.h"

#include <sys/types.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lmdb.h>

#include "error.h"
#include "table_int.h"
#include "xmalloc.h"

#include "banned.h"

#define TABLE_LMDB_HASH_LEN	8
#define TABLE_LMDB_BUILD_TRIES	4	/* map size doubles on each */

struct table_lmdb {
	MDB_env	*env;
	MDB_dbi	 dbi;
	char	*path;
	size_t	 max_key;
	char	*value;		/* TABLE_VALUE_MAX: copy out of the map */
	char	 stand_in[TABLE_KEY_MAX];
};

static uint64_t
table_lmdb_fnv1a(const char *s, size_t len)
{
	uint64_t h = UINT64_C(14695981039346656037);
	size_t	 i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= UINT64_C(1099511628211);
	}
	return h;
}

/*
 * Fills k with key, or with its stand-in (in buf, at least max_key bytes)
 * when key is longer than max_key.  Returns whether it is a stand-in.
 */
static bool
table_lmdb_key(const char *key, size_t key_len, size_t max_key, char *buf,
    MDB_val *k)
{
	uint64_t h;
	size_t	 prefix, i;

	if (key_len <= max_key) {
		k->mv_data = (void *)key;
		k->mv_size = key_len;
		return false;
	}
	/* UNSAFE: max_key is LMDB's limit, hundreds of bytes, > hash + 1. */
	prefix = max_key - TABLE_LMDB_HASH_LEN - 1;
	memcpy(buf, key, prefix);
	buf[prefix] = '\0';
	h = table_lmdb_fnv1a(key, key_len);
	for (i = 0; i < TABLE_LMDB_HASH_LEN; i++)
		buf[prefix + 1 + i] = (char)(h >> (8 * i));
	k->mv_data = buf;
	k->mv_size = max_key;
	return true;
}

/*
 * Room for the data with headroom: the map is only address space, and
 * the file grows only to the pages used.  Each entry costs a node header
 * and a slot on its page; a value past a page's share spills onto
 * overflow pages of its own; pages split half full.  Four times the source
 * plus a few hundred bytes an entry covers all three.
 */
static size_t
table_lmdb_map_size(const struct table_source *src, size_t source_size)
{
	long	 pg;
	size_t	 page, size;

	pg = sysconf(_SC_PAGESIZE);
	page = pg > 0 ? (size_t)pg : 4096;
	/* UNSAFE: source_size <= TABLE_SOURCE_MAX, so no overflow in 64 bits. */
	size = 4 * (source_size + src->bytes) + 256 * src->count +
	    1024 * 1024;
	return (size + page - 1) / page * page;
}

static int
table_lmdb_put_all(MDB_env *env, const struct table_source *src,
    const char *path, const char **error_r)
{
	const struct table_entry *e;
	MDB_txn	*txn;
	MDB_dbi	 dbi;
	MDB_val	 k, v;
	size_t	 i, max_key;
	char	 buf[TABLE_KEY_MAX];
	bool	 stand_in;
	int	 rc;

	max_key = (size_t)mdb_env_get_maxkeysize(env);
	if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) != 0) {
		*error_r = error_fmt("%s: %s", path, mdb_strerror(rc));
		return rc;
	}
	if ((rc = mdb_dbi_open(txn, NULL, 0, &dbi)) != 0) {
		*error_r = error_fmt("%s: %s", path, mdb_strerror(rc));
		mdb_txn_abort(txn);
		return rc;
	}
	for (i = 0; i < src->count; i++) {
		e = &src->entries[i];
		stand_in = table_lmdb_key(e->key, e->key_len, max_key, buf,
		    &k);
		/* UNSAFE: both lengths are bounded by table.h's limits. */
		v.mv_size = stand_in ? e->key_len + 1 + e->value_len :
		    e->value_len;
		v.mv_data = NULL;
		if ((rc = mdb_put(txn, dbi, &k, &v,
		    MDB_NOOVERWRITE | MDB_RESERVE)) != 0) {
			if (rc == MDB_KEYEXIST)
				*error_r = error_fmt("%s: line %lu: long key "
				    "collides with another in LMDB's stand-in "
				    "index; shorten one of them", path,
				    e->line);
			else
				*error_r = error_fmt("%s: write of line %lu: "
				    "%s", path, e->line, mdb_strerror(rc));
			mdb_txn_abort(txn);
			return rc;
		}
		if (stand_in) {
			memcpy(v.mv_data, e->key, e->key_len);
			((char *)v.mv_data)[e->key_len] = '\0';
			memcpy((char *)v.mv_data + e->key_len + 1, e->value,
			    e->value_len);
		} else
			memcpy(v.mv_data, e->value, e->value_len);
	}
	if ((rc = mdb_txn_commit(txn)) != 0)
		*error_r = error_fmt("%s: commit: %s", path, mdb_strerror(rc));
	return rc;
}

static int
table_lmdb_build(const char *path, const struct table_source *src,
    size_t source_size, const char **error_r)
{
	MDB_env	*env;
	size_t	 map_size;
	char	*lock;
	int	 rc, tries;

	if ((rc = mdb_env_create(&env)) != 0) {
		*error_r = error_fmt("%s: %s", path, mdb_strerror(rc));
		return -1;
	}
	map_size = table_lmdb_map_size(src, source_size);
	if ((rc = mdb_env_set_mapsize(env, map_size)) != 0 ||
	    (rc = mdb_env_open(env, path, MDB_NOSUBDIR | MDB_NOLOCK,
	    0600)) != 0) {
		*error_r = error_fmt("%s: open: %s", path, mdb_strerror(rc));
		goto fail;
	}
	/* The estimate is generous; should it still fall short, grow it. */
	for (tries = 1;; tries++) {
		rc = table_lmdb_put_all(env, src, path, error_r);
		if (rc != MDB_MAP_FULL || tries == TABLE_LMDB_BUILD_TRIES)
			break;
		map_size *= 2;
		if ((rc = mdb_env_set_mapsize(env, map_size)) != 0) {
			*error_r = error_fmt("%s: %s", path, mdb_strerror(rc));
			goto fail;
		}
	}
	if (rc != 0)
		goto fail;
	if ((rc = mdb_env_sync(env, 1)) != 0) {
		*error_r = error_fmt("%s: sync: %s", path, mdb_strerror(rc));
		goto fail;
	}
	mdb_env_close(env);
	/* MDB_NOLOCK makes none, but never leave one beside the table. */
	lock = xasprintf("%s-lock", path);
	(void)unlink(lock);
	free(lock);
	return 0;
fail:
	mdb_env_close(env);
	return -1;
}

static void *
table_lmdb_open(const char *path, const char **error_r)
{
	struct table_lmdb *h;
	MDB_env	*env;
	MDB_txn	*txn;
	MDB_dbi	 dbi;
	int	 rc;

	if ((rc = mdb_env_create(&env)) != 0) {
		*error_r = error_fmt("%s: %s", path, mdb_strerror(rc));
		return NULL;
	}
	/* Read-only, never locked: see the top of this file. */
	if ((rc = mdb_env_open(env, path,
	    MDB_RDONLY | MDB_NOSUBDIR | MDB_NOLOCK, 0)) != 0) {
		*error_r = error_fmt("%s: open: %s", path, mdb_strerror(rc));
		mdb_env_close(env);
		return NULL;
	}
	if ((rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn)) != 0) {
		*error_r = error_fmt("%s: %s", path, mdb_strerror(rc));
		mdb_env_close(env);
		return NULL;
	}
	if ((rc = mdb_dbi_open(txn, NULL, 0, &dbi)) != 0) {
		*error_r = error_fmt("%s: %s", path, mdb_strerror(rc));
		mdb_txn_abort(txn);
		mdb_env_close(env);
		return NULL;
	}
	/* Committing a read-only transaction keeps the dbi handle open. */
	if ((rc = mdb_txn_commit(txn)) != 0) {
		*error_r = error_fmt("%s: %s", path, mdb_strerror(rc));
		mdb_env_close(env);
		return NULL;
	}
	h = xcalloc(1, sizeof(*h));
	h->env = env;
	h->dbi = dbi;
	h->path = xstrdup(path);
	h->max_key = (size_t)mdb_env_get_maxkeysize(env);
	h->value = xmalloc(TABLE_VALUE_MAX);
	return h;
}

static int
table_lmdb_lookup(void *handle, const char *key, size_t key_len,
    const void **value_r, size_t *value_len_r, const char **error_r)
{
	struct table_lmdb *h = handle;
	MDB_txn	*txn;
	MDB_val	 k, v;
	const char *data;
	size_t	 len;
	bool	 stand_in;
	int	 rc;

	stand_in = table_lmdb_key(key, key_len, h->max_key, h->stand_in, &k);
	if ((rc = mdb_txn_begin(h->env, NULL, MDB_RDONLY, &txn)) != 0) {
		*error_r = error_fmt("%s: %s", h->path, mdb_strerror(rc));
		return -1;
	}
	rc = mdb_get(txn, h->dbi, &k, &v);
	if (rc == MDB_NOTFOUND) {
		mdb_txn_abort(txn);
		return 0;
	}
	if (rc != 0) {
		*error_r = error_fmt("%s: read: %s", h->path, mdb_strerror(rc));
		mdb_txn_abort(txn);
		return -1;
	}
	data = v.mv_data;
	len = v.mv_size;
	if (stand_in) {
		/* The full key, a NUL, the value; another key: not found. */
		if (len <= key_len || memcmp(data, key, key_len) != 0 ||
		    data[key_len] != '\0') {
			mdb_txn_abort(txn);
			return 0;
		}
		data += key_len + 1;
		len -= key_len + 1;
	}
	if (len > TABLE_VALUE_MAX) {
		*error_r = error_fmt("%s: corrupt table: value longer than "
		    "%d bytes", h->path, TABLE_VALUE_MAX);
		mdb_txn_abort(txn);
		return -1;
	}
	/* The map's bytes are ours only until the transaction ends. */
	memcpy(h->value, data, len);
	mdb_txn_abort(txn);
	*value_r = h->value;
	*value_len_r = len;
	return 1;
}

static void
table_lmdb_close(void *handle)
{
	struct table_lmdb *h = handle;

	if (h == NULL)
		return;
	mdb_env_close(h->env);
	free(h->path);
	free(h->value);
	free(h);
}

const struct table_backend table_backend_lmdb = {
	.type	= "lmdb",
	.suffix	= ".lmdb",
	.build	= table_lmdb_build,
	.open	= table_lmdb_open,
	.lookup	= table_lmdb_lookup,
	.close	= table_lmdb_close,
};
