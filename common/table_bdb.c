/* SPDX-License-Identifier: ISC */
/*
 * The hash: table backend (table_int.h): a Berkeley DB 5.3 DB_HASH file,
 * FILE.db, opened without an environment, as Postfix's hash: maps are.
 * Keys and values are stored as their bytes without a trailing NUL.
 *
 * Without an environment there is no locking; none is needed because a
 * compiled table is never changed in place: table.c builds a new file
 * under a temporary name and renames it over the old one, and a reader
 * keeps reading the file it opened until it notices the rename.
 *
 * Compiled only when configure found Berkeley DB (HAVE_BDB); a build
 * --without-bdb has no hash: type at all (table.c says so by name).
 */
#include "config.h"

#ifdef HAVE_BDB

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <db.h>

#include "error.h"
#include "log.h"
#include "table_int.h"
#include "xmalloc.h"

#include "banned.h"

struct table_bdb {
	DB	*db;
	char	*path;
	char	*buf;		/* TABLE_VALUE_MAX bytes: DB_DBT_USERMEM */
};

/* Berkeley DB's own words about a failure; the return code follows. */
static void
table_bdb_errcall(const DB_ENV *env, const char *prefix, const char *msg)
{
	log_warning("Berkeley DB: %s", msg);
}

static DB *
table_bdb_create(const char *path, const char **error_r)
{
	DB	*db;
	int	 ret;

	if ((ret = db_create(&db, NULL, 0)) != 0) {
		*error_r = error_fmt("%s: db_create: %s", path,
		    db_strerror(ret));
		return NULL;
	}
	db->set_errcall(db, table_bdb_errcall);
	return db;
}

static int
table_bdb_build(const char *path, const struct table_source *src,
    size_t source_size, const char **error_r)
{
	const struct table_entry *e;
	DBT	 key, value;
	DB	*db;
	size_t	 i;
	int	 ret;

	if ((db = table_bdb_create(path, error_r)) == NULL)
		return -1;
	/* Sizing hint only; it saves the table growing by splits. */
	if (src->count > 0 && src->count <= UINT32_MAX)
		(void)db->set_h_nelem(db, (uint32_t)src->count);
	/*
	 * path is table.c's empty mkostemp() file.  Berkeley DB would take
	 * it for a new database but complain that it has no header first,
	 * so we let it create the file itself; DB_EXCL keeps the name ours
	 * (should another process take it meanwhile, the build fails).
	 */
	if (unlink(path) == -1) {
		*error_r = error_fmt("unlink %s: %m", path);
		goto fail;
	}
	if ((ret = db->open(db, NULL, path, NULL, DB_HASH,
	    DB_CREATE | DB_EXCL, 0600)) != 0) {
		*error_r = error_fmt("%s: open: %s", path, db_strerror(ret));
		goto fail;
	}
	for (i = 0; i < src->count; i++) {
		e = &src->entries[i];
		memset(&key, 0, sizeof(key));
		memset(&value, 0, sizeof(value));
		/* Sizes fit: keys and values are bounded by table.h. */
		key.data = e->key;
		key.size = (uint32_t)e->key_len;
		value.data = e->value;
		value.size = (uint32_t)e->value_len;
		if ((ret = db->put(db, NULL, &key, &value,
		    DB_NOOVERWRITE)) != 0) {
			*error_r = error_fmt("%s: write of line %lu: %s", path,
			    e->line, db_strerror(ret));
			goto fail;
		}
	}
	if ((ret = db->sync(db, 0)) != 0) {
		*error_r = error_fmt("%s: sync: %s", path, db_strerror(ret));
		goto fail;
	}
	if ((ret = db->close(db, 0)) != 0) {
		*error_r = error_fmt("%s: close: %s", path, db_strerror(ret));
		return -1;
	}
	return 0;
fail:
	(void)db->close(db, DB_NOSYNC);
	return -1;
}

static void *
table_bdb_open(const char *path, const char **error_r)
{
	struct table_bdb *h;
	DB	*db;
	int	 ret;

	if ((db = table_bdb_create(path, error_r)) == NULL)
		return NULL;
	if ((ret = db->open(db, NULL, path, NULL, DB_HASH, DB_RDONLY,
	    0)) != 0) {
		*error_r = error_fmt("%s: open: %s", path, db_strerror(ret));
		(void)db->close(db, 0);
		return NULL;
	}
	h = xcalloc(1, sizeof(*h));
	h->db = db;
	h->path = xstrdup(path);
	h->buf = xmalloc(TABLE_VALUE_MAX);
	return h;
}

static int
table_bdb_lookup(void *handle, const char *key, size_t key_len,
    const void **value_r, size_t *value_len_r, const char **error_r)
{
	struct table_bdb *h = handle;
	DBT	 k, v;
	int	 ret;

	memset(&k, 0, sizeof(k));
	memset(&v, 0, sizeof(v));
	k.data = (void *)key;
	k.size = (uint32_t)key_len;
	v.data = h->buf;
	v.ulen = TABLE_VALUE_MAX;
	v.flags = DB_DBT_USERMEM;
	switch ((ret = h->db->get(h->db, NULL, &k, &v, 0))) {
	case 0:
		*value_r = v.data;
		*value_len_r = v.size;
		return 1;
	case DB_NOTFOUND:
		return 0;
	case DB_BUFFER_SMALL:
		*error_r = error_fmt("%s: corrupt table: value longer than "
		    "%d bytes", h->path, TABLE_VALUE_MAX);
		return -1;
	default:
		*error_r = error_fmt("%s: read: %s", h->path, db_strerror(ret));
		return -1;
	}
}

static void
table_bdb_close(void *handle)
{
	struct table_bdb *h = handle;

	if (h == NULL)
		return;
	(void)h->db->close(h->db, 0);
	free(h->path);
	free(h->buf);
	free(h);
}

const struct table_backend table_backend_bdb = {
	.type	= "hash",
	.suffix	= ".db",
	.build	= table_bdb_build,
	.open	= table_bdb_open,
	.lookup	= table_bdb_lookup,
	.close	= table_bdb_close,
};

#endif /* HAVE_BDB */
