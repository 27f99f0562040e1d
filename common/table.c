/* SPDX-License-Identifier: ISC */
/*
 * Lookup tables (table.h): the backend-independent half.  This file
 * parses "TYPE:FILE" names, parses the text source (table_source_parse(),
 * also driven by the fuzz target), builds a compiled table under a
 * temporary name and commits it with fsync + rename + fsync of the folder,
 * and serves lookups through the backend named by TYPE (table_int.h).
 *
 * Trust: the text source is written by the administrator, but it is
 * parsed as carefully as network input (bounded lines, keys and values,
 * no NUL bytes) because a broken table must give an error with FILE:LINE,
 * never a crash or a silently truncated entry.  A compiled file is read
 * back with its sizes checked too.
 *
 * Reopen on replace: table_lookup() stat()s the compiled file before every
 * lookup and reopens it when st_dev, st_ino or st_mtim differ from the
 * file it has open.  One stat(2) costs far less than the lookup that
 * follows, and checking every time means a rebuilt table is used from the
 * very next lookup, with no window in which some processes see the old
 * table and others the new one for up to a second.
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "file.h"
#include "log.h"
#include "str.h"
#include "table.h"
#include "table_int.h"
#include "xmalloc.h"

#include "banned.h"

#define TABLE_TMP_SUFFIX	".tmpXXXXXX"
#define TABLE_ERR_KEY_SHOWN	64	/* bytes of a key quoted in an error */

/* Every type a name may carry, whether or not this build has it. */
struct table_type {
	const char			*name;
	const char			*suffix;
	const struct table_backend	*backend;	/* NULL: not built */
};

static const struct table_type table_types[] = {
#ifdef HAVE_BDB
	{ "hash", ".db", &table_backend_bdb },
#else
	{ "hash", ".db", NULL },
#endif
	{ "lmdb", ".lmdb", &table_backend_lmdb },
};

struct table {
	const struct table_backend *backend;
	char		*name;		/* TYPE:FILE, for messages */
	char		*path;		/* the compiled file */
	void		*handle;	/* backend's */
	struct stat	 st;		/* of path when handle was opened */
	bool		 pinned;	/* table_pin(): never reopen */
	char		 key[TABLE_KEY_MAX + 1];	/* folded lookup key */
	char		*value;		/* TABLE_VALUE_MAX + 1, on first use */
};

static const struct table_type *
table_type_find(const char *type)
{
	size_t	i;

	for (i = 0; i < N_ELEMENTS(table_types); i++) {
		if (strcmp(table_types[i].name, type) == 0)
			return &table_types[i];
	}
	return NULL;
}

bool
table_type_supported(const char *type)
{
	const struct table_type *tt;

	return (tt = table_type_find(type)) != NULL && tt->backend != NULL;
}

static bool
table_type_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

int
table_parse_name(const char *name, const char *default_type,
    const char **type_r, char **file_r, const char **error_r)
{
	const struct table_type *tt;
	const char *colon, *p, *file;
	char	*type;

	if (default_type == NULL)
		default_type = "hash";
	/*
	 * A prefix of lower-case letters and digits before the first ":" is a
	 * type, as in Postfix; anything else (a path holding a ":") is all
	 * file name.
	 */
	type = NULL;
	file = name;
	if ((colon = strchr(name, ':')) != NULL && colon > name) {
		for (p = name; p < colon && table_type_char(*p); p++)
			;
		if (p == colon) {
			type = xstrndup(name, (size_t)(colon - name));
			file = colon + 1;
		}
	}
	if (type == NULL)
		tt = table_type_find(default_type);
	else
		tt = table_type_find(type);
	if (tt == NULL) {
		if (type == NULL)
			*error_r = error_fmt("table %s: unknown "
			    "default_database_type \"%s\" (use hash or lmdb)",
			    name, default_type);
		else
			*error_r = error_fmt("table %s: unknown table type "
			    "\"%s\" (use hash: or lmdb:)", name, type);
		free(type);
		return -1;
	}
	free(type);
	if (tt->backend == NULL) {
		*error_r = error_fmt("%s: tables need Berkeley DB; this build "
		    "has LMDB only (use lmdb:)", tt->name);
		return -1;
	}
	if (*file == '\0') {
		*error_r = error_fmt("table %s: missing file name", name);
		return -1;
	}
	*type_r = tt->name;
	*file_r = xstrdup(file);
	return 0;
}

char *
table_compiled_path(const char *type, const char *file)
{
	const struct table_type *tt;

	if ((tt = table_type_find(type)) == NULL)
		log_panic("table_compiled_path: unknown type \"%s\"", type);
	return xasprintf("%s%s", file, tt->suffix);
}

/* ---- the text source ------------------------------------------------ */

/* The entry being assembled from a line and its continuation lines. */
struct table_parse {
	const char	*file;
	struct table_source *src;
	char		*key;		/* NULL: no open entry */
	size_t		 key_len;
	char		*value;
	size_t		 value_len;
	unsigned long	 line;
};

static bool
table_is_ws(char c)
{
	return c == ' ' || c == '\t';
}

static void
table_parse_reset(struct table_parse *tp)
{
	free(tp->key);
	free(tp->value);
	tp->key = tp->value = NULL;
	tp->key_len = tp->value_len = 0;
}

/* Appends len bytes to the open entry's value, joined by one space. */
static int
table_parse_append(struct table_parse *tp, const char *s, size_t len,
    unsigned long line, const char **error_r)
{
	size_t	 sep, total;

	sep = tp->value_len > 0 && len > 0 ? 1 : 0;
	/* UNSAFE: each term is at most TABLE_LINE_MAX, no overflow. */
	total = tp->value_len + sep + len;
	if (total > TABLE_VALUE_MAX) {
		*error_r = error_fmt("%s:%lu: value longer than %d bytes",
		    tp->file, line, TABLE_VALUE_MAX);
		return -1;
	}
	tp->value = xreallocarray(tp->value, total + 1, 1);
	if (sep)
		tp->value[tp->value_len] = ' ';
	memcpy(tp->value + tp->value_len + sep, s, len);
	tp->value[total] = '\0';
	tp->value_len = total;
	return 0;
}

/* Moves the open entry (if any) into the source. */
static int
table_parse_finish(struct table_parse *tp, const char **error_r)
{
	struct table_source *src = tp->src;
	struct table_entry *e;

	if (tp->key == NULL)
		return 0;
	if (tp->value_len == 0) {
		*error_r = error_fmt("%s:%lu: missing value for key \"%.*s\"",
		    tp->file, tp->line, TABLE_ERR_KEY_SHOWN, tp->key);
		return -1;
	}
	if (src->count == src->alloc) {
		src->alloc = src->alloc == 0 ? 64 : src->alloc * 2;
		src->entries = xreallocarray(src->entries, src->alloc,
		    sizeof(*src->entries));
	}
	e = &src->entries[src->count++];
	e->key = tp->key;
	e->key_len = tp->key_len;
	e->value = tp->value;
	e->value_len = tp->value_len;
	e->line = tp->line;
	src->bytes += tp->key_len + tp->value_len;
	tp->key = tp->value = NULL;
	tp->key_len = tp->value_len = 0;
	return 0;
}

/* A line that starts an entry: "key value" or "key: value". */
static int
table_parse_entry(struct table_parse *tp, const char *s, const char *end,
    unsigned long line, const char **error_r)
{
	const char *k;
	size_t	 klen;

	if (table_parse_finish(tp, error_r) == -1)
		return -1;
	for (k = s; s < end && !table_is_ws(*s); s++)
		;
	klen = (size_t)(s - k);
	if (k[klen - 1] == ':')		/* "key: value", aliases style */
		klen--;
	if (klen == 0) {
		*error_r = error_fmt("%s:%lu: empty key", tp->file, line);
		return -1;
	}
	if (klen > TABLE_KEY_MAX) {
		*error_r = error_fmt("%s:%lu: key longer than %d bytes",
		    tp->file, line, TABLE_KEY_MAX);
		return -1;
	}
	tp->key = str_lower(xstrndup(k, klen));
	tp->key_len = klen;
	tp->line = line;
	while (s < end && table_is_ws(*s))
		s++;
	return table_parse_append(tp, s, (size_t)(end - s), line, error_r);
}

static int
table_entry_cmp(const void *a, const void *b)
{
	const struct table_entry *ea = a, *eb = b;
	size_t	 n;
	int	 c;

	n = ea->key_len < eb->key_len ? ea->key_len : eb->key_len;
	if ((c = memcmp(ea->key, eb->key, n)) != 0)
		return c;
	if (ea->key_len != eb->key_len)
		return ea->key_len < eb->key_len ? -1 : 1;
	/* Equal keys: the earlier line first, to name both in order. */
	if (ea->line != eb->line)
		return ea->line < eb->line ? -1 : 1;
	return 0;
}

/*
 * Sorts the entries and reports a repeated key: the one whose second
 * occurrence comes first in the file, so the message is the same one an
 * administrator reading top to bottom would find.
 */
int
table_source_sort(const char *file, struct table_source *src,
    const char **error_r)
{
	const struct table_entry *dup = NULL, *first = NULL, *e;
	size_t	 i;

	if (src->count == 0)
		return 0;
	qsort(src->entries, src->count, sizeof(*src->entries),
	    table_entry_cmp);
	for (i = 1; i < src->count; i++) {
		e = &src->entries[i];
		if (e->key_len != e[-1].key_len ||
		    memcmp(e->key, e[-1].key, e->key_len) != 0)
			continue;
		if (dup == NULL || e->line < dup->line) {
			dup = e;
			first = &e[-1];
		}
	}
	if (dup != NULL) {
		*error_r = error_fmt("%s:%lu: duplicate key \"%.*s\" "
		    "(first on line %lu)", file, dup->line,
		    TABLE_ERR_KEY_SHOWN, dup->key, first->line);
		return -1;
	}
	return 0;
}

int
table_source_parse(const char *file, const char *data, size_t len,
    struct table_source *src_r, const char **error_r)
{
	struct table_parse tp;
	const char *p, *end, *eol, *nl, *s;
	unsigned long line = 0;

	memset(src_r, 0, sizeof(*src_r));
	memset(&tp, 0, sizeof(tp));
	tp.file = file;
	tp.src = src_r;
	end = data + len;
	for (p = data; p < end; p = nl == NULL ? end : nl + 1) {
		line++;
		nl = memchr(p, '\n', (size_t)(end - p));
		eol = nl == NULL ? end : nl;
		if ((size_t)(eol - p) > TABLE_LINE_MAX) {
			*error_r = error_fmt("%s:%lu: line longer than %d bytes",
			    file, line, TABLE_LINE_MAX);
			goto fail;
		}
		if (memchr(p, '\0', (size_t)(eol - p)) != NULL) {
			*error_r = error_fmt("%s:%lu: NUL byte in line",
			    file, line);
			goto fail;
		}
		if (eol > p && eol[-1] == '\r')		/* CRLF source */
			eol--;
		while (eol > p && table_is_ws(eol[-1]))
			eol--;
		for (s = p; s < eol && table_is_ws(*s); s++)
			;
		/*
		 * Blank and comment lines are skipped and, as in Postfix,
		 * do not end an entry: a commented-out continuation line
		 * is allowed.
		 */
		if (s == eol || *s == '#')
			continue;
		if (s == p) {
			if (table_parse_entry(&tp, s, eol, line, error_r) == -1)
				goto fail;
		} else if (tp.key == NULL) {
			*error_r = error_fmt("%s:%lu: continuation line without "
			    "an entry before it", file, line);
			goto fail;
		} else if (table_parse_append(&tp, s, (size_t)(eol - s), line,
		    error_r) == -1)
			goto fail;
	}
	if (table_parse_finish(&tp, error_r) == -1 ||
	    table_source_sort(file, src_r, error_r) == -1)
		goto fail;
	return 0;
fail:
	table_parse_reset(&tp);
	table_source_deinit(src_r);
	return -1;
}

void
table_source_add(struct table_source *src, const char *key, size_t key_len,
    const char *value, size_t value_len, unsigned long line)
{
	struct table_entry *e;

	if (key_len == 0 || key_len > TABLE_KEY_MAX || value_len == 0 ||
	    value_len > TABLE_VALUE_MAX || memchr(key, '\0', key_len) != NULL ||
	    memchr(value, '\0', value_len) != NULL)
		log_panic("table_source_add: bad entry on line %lu", line);
	if (src->count == src->alloc) {
		src->alloc = src->alloc == 0 ? 64 : src->alloc * 2;
		src->entries = xreallocarray(src->entries, src->alloc,
		    sizeof(*src->entries));
	}
	e = &src->entries[src->count++];
	e->key = str_lower(xstrndup(key, key_len));
	e->key_len = key_len;
	e->value = xstrndup(value, value_len);
	e->value_len = value_len;
	e->line = line;
	src->bytes += key_len + value_len;
}

void
table_source_deinit(struct table_source *src)
{
	size_t	i;

	for (i = 0; i < src->count; i++) {
		free(src->entries[i].key);
		free(src->entries[i].value);
	}
	free(src->entries);
	memset(src, 0, sizeof(*src));
}

/* ---- building ------------------------------------------------------- */

/* Reads the whole source from fd (a regular file of st's size). */
static int
table_read_source(int fd, const char *file, const struct stat *st,
    char **data_r, size_t *len_r, const char **error_r)
{
	char	*data;
	size_t	 size, len = 0;
	ssize_t	 n;

	if (!S_ISREG(st->st_mode)) {
		*error_r = error_fmt("%s: not a regular file", file);
		return -1;
	}
	if ((uint64_t)st->st_size > TABLE_SOURCE_MAX) {
		*error_r = error_fmt("%s: larger than %zu bytes", file,
		    TABLE_SOURCE_MAX);
		return -1;
	}
	/* One byte more than expected, to notice a file that grew. */
	size = (size_t)st->st_size + 1;
	data = xmalloc(size);
	for (;;) {
		if (len == size) {
			if (size > TABLE_SOURCE_MAX) {
				free(data);
				*error_r = error_fmt("%s: larger than %zu bytes",
				    file, TABLE_SOURCE_MAX);
				return -1;
			}
			size *= 2;
			data = xreallocarray(data, size, 1);
		}
		n = read(fd, data + len, size - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			*error_r = error_fmt("read %s: %m", file);
			free(data);
			return -1;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	*data_r = data;
	*len_r = len;
	return 0;
}

/*
 * The compiled file gets the source's mode without execute or set-id
 * bits (it is data) and, when we can (root), the source's owner and
 * group: a table readable only by group postern-auth stays so.
 */
static int
table_fix_owner(int fd, const char *tmp, const struct stat *st,
    const char **error_r)
{
	if (geteuid() == 0 && fchown(fd, st->st_uid, st->st_gid) == -1) {
		*error_r = error_fmt("chown %s: %m", tmp);
		return -1;
	}
	if (fchmod(fd, st->st_mode & 0666) == -1) {
		*error_r = error_fmt("chmod %s: %m", tmp);
		return -1;
	}
	return 0;
}

/*
 * Writes src (sorted, no repeated key) into the compiled file of type for
 * the source file, whose stat is st: build under a temporary name in the
 * same folder, then rename, so a reader sees the old table or the new
 * one.  A build that dies half way leaves only FILE.SUFFIX.tmpXXXXXX,
 * which no reader opens.  The backend opens the (empty) temporary file by
 * name; we reopen it afterwards rather than keep mkstemp's descriptor, so
 * whatever the library did with the name, we sync the file it left there.
 */
static int
table_commit(const struct table_type *tt, const char *file,
    const struct stat *st, const struct table_source *src,
    size_t source_size, const char **error_r)
{
	char	*final, *tmp;
	int	 fd, ret = -1;

	final = table_compiled_path(tt->name, file);
	tmp = xasprintf("%s%s", final, TABLE_TMP_SUFFIX);
	if ((fd = mkostemp(tmp, O_CLOEXEC)) == -1) {
		*error_r = error_fmt("create %s: %m", tmp);
		goto out;
	}
	(void)close(fd);
	if (tt->backend->build(tmp, src, source_size, error_r) == -1) {
		(void)unlink(tmp);
		goto out;
	}
	if ((fd = open(tmp, O_RDWR | O_NOFOLLOW | O_CLOEXEC)) == -1) {
		*error_r = error_fmt("open %s: %m", tmp);
		(void)unlink(tmp);
		goto out;
	}
	if (table_fix_owner(fd, tmp, st, error_r) == -1) {
		(void)close(fd);
		(void)unlink(tmp);
		goto out;
	}
	/* fsync, rename over the old table, fsync the folder. */
	if (file_commit(fd, tmp, final, error_r) == -1) {
		(void)close(fd);
		goto out;
	}
	(void)close(fd);
	ret = 0;
out:
	free(final);
	free(tmp);
	return ret;
}

long
table_build(const char *name, const char *default_type, const char **error_r)
{
	const struct table_type *tt;
	struct table_source src;
	struct stat st;
	const char *type;
	char	*file = NULL, *data = NULL;
	size_t	 len;
	long	 ret = -1;
	int	 fd;

	memset(&src, 0, sizeof(src));
	if (table_parse_name(name, default_type, &type, &file, error_r) == -1)
		return -1;
	tt = table_type_find(type);
	/* O_NONBLOCK: a FIFO in place of the source must not hang us. */
	if ((fd = open(file, O_RDONLY | O_NOCTTY | O_NONBLOCK |
	    O_CLOEXEC)) == -1) {
		*error_r = error_fmt("open %s: %m", file);
		goto out;
	}
	if (fstat(fd, &st) == -1) {
		*error_r = error_fmt("stat %s: %m", file);
		(void)close(fd);
		goto out;
	}
	if (table_read_source(fd, file, &st, &data, &len, error_r) == -1) {
		(void)close(fd);
		goto out;
	}
	(void)close(fd);
	if (table_source_parse(file, data, len, &src, error_r) == -1)
		goto out;
	if (src.count > (size_t)LONG_MAX) {
		*error_r = error_fmt("%s: too many entries", file);
		goto out;
	}
	if (table_commit(tt, file, &st, &src, len, error_r) == -1)
		goto out;
	ret = (long)src.count;
out:
	table_source_deinit(&src);
	free(data);
	free(file);
	return ret;
}

long
table_build_entries(const char *name, const char *default_type,
    struct table_source *src, size_t source_size, const char **error_r)
{
	const struct table_type *tt;
	struct stat st;
	const char *type;
	char	*file;
	long	 ret = -1;

	if (table_parse_name(name, default_type, &type, &file, error_r) == -1)
		return -1;
	tt = table_type_find(type);
	/* The source names the owner and mode, as for table_build(). */
	if (stat(file, &st) == -1) {
		*error_r = error_fmt("stat %s: %m", file);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		*error_r = error_fmt("%s: not a regular file", file);
		goto out;
	}
	if (src->count > (size_t)LONG_MAX) {
		*error_r = error_fmt("%s: too many entries", file);
		goto out;
	}
	if (table_source_sort(file, src, error_r) == -1 ||
	    table_commit(tt, file, &st, src, source_size, error_r) == -1)
		goto out;
	ret = (long)src->count;
out:
	free(file);
	return ret;
}

/* ---- reading -------------------------------------------------------- */

/*
 * stat() before open: if the file is replaced in between, we hold the new
 * file with the old file's identity and merely reopen once more later.
 * The other order could pair the new identity with the old file and miss
 * the replacement.
 */
static void *
table_open_handle(struct table *t, struct stat *st_r, const char **error_r)
{
	if (stat(t->path, st_r) == -1) {
		*error_r = error_fmt("table %s: %s: %m", t->name, t->path);
		return NULL;
	}
	return t->backend->open(t->path, error_r);
}

struct table *
table_open(const char *name, const char *default_type, const char **error_r)
{
	const struct table_type *tt;
	struct table *t;
	struct stat src_st;
	const char *type;
	char	*file;

	if (table_parse_name(name, default_type, &type, &file, error_r) == -1)
		return NULL;
	tt = table_type_find(type);
	t = xcalloc(1, sizeof(*t));
	t->backend = tt->backend;
	t->name = xasprintf("%s:%s", type, file);
	t->path = table_compiled_path(type, file);
	if ((t->handle = table_open_handle(t, &t->st, error_r)) == NULL) {
		free(file);
		table_close(&t);
		return NULL;
	}
	/* As postmap does: a source edited after the build is a mistake. */
	if (stat(file, &src_st) == 0 &&
	    (src_st.st_mtim.tv_sec > t->st.st_mtim.tv_sec ||
	    (src_st.st_mtim.tv_sec == t->st.st_mtim.tv_sec &&
	    src_st.st_mtim.tv_nsec > t->st.st_mtim.tv_nsec)))
		log_warning("table %s: %s is older than its source %s: run "
		    "\"postctl map build %s\"", t->name, t->path, file,
		    t->name);
	free(file);
	return t;
}

void
table_close(struct table **tp)
{
	struct table *t = *tp;

	if (t == NULL)
		return;
	if (t->handle != NULL)
		t->backend->close(t->handle);
	free(t->name);
	free(t->path);
	free(t->value);
	free(t);
	*tp = NULL;
}

void
table_pin(struct table *t)
{
	t->pinned = true;
}

bool
table_changed(struct table *t)
{
	struct stat st;

	if (stat(t->path, &st) == -1)
		return true;
	return st.st_dev != t->st.st_dev || st.st_ino != t->st.st_ino ||
	    st.st_mtim.tv_sec != t->st.st_mtim.tv_sec ||
	    st.st_mtim.tv_nsec != t->st.st_mtim.tv_nsec;
}

/*
 * Opens the replacement.  When that fails (the table was removed, or
 * the new file is broken) the lookup is a temporary failure: mail waits
 * for the administrator rather than being judged by a table that is no
 * longer the one configured.  The old handle stays, and the next lookup
 * tries again.
 */
static int
table_reopen(struct table *t, const char **error_r)
{
	struct stat st;
	const char *error;
	void	*handle;

	if ((handle = table_open_handle(t, &st, &error)) == NULL) {
		*error_r = error_fmt("table %s was replaced and cannot be "
		    "reopened: %s", t->name, error);
		return -1;
	}
	t->backend->close(t->handle);
	t->handle = handle;
	t->st = st;
	log_debug("table %s: reopened after replacement", t->name);
	return 0;
}

int
table_lookup(struct table *t, const char *key, const char **value_r,
    const char **error_r)
{
	const void *value;
	size_t	 key_len, value_len;
	int	 ret;

	key_len = strlen(key);
	/* No such key can have been built. */
	if (key_len == 0 || key_len > TABLE_KEY_MAX)
		return 0;
	memcpy(t->key, key, key_len + 1);
	str_lower(t->key);
	if (!t->pinned && table_changed(t) && table_reopen(t, error_r) == -1)
		return -1;
	ret = t->backend->lookup(t->handle, t->key, key_len, &value,
	    &value_len, error_r);
	if (ret != 1)
		return ret;
	if (value_len == 0 || value_len > TABLE_VALUE_MAX ||
	    memchr(value, '\0', value_len) != NULL) {
		*error_r = error_fmt("table %s: %s: corrupt value for key "
		    "\"%.*s\"", t->name, t->path, TABLE_ERR_KEY_SHOWN, t->key);
		return -1;
	}
	if (t->value == NULL)
		t->value = xmalloc(TABLE_VALUE_MAX + 1);
	memcpy(t->value, value, value_len);
	t->value[value_len] = '\0';
	*value_r = t->value;
	return 1;
}
