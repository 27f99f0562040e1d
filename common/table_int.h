/* SPDX-License-Identifier: ISC */
/*
 * Inside the lookup tables (table.h): the text-source parser, shared by
 * table_build() and the fuzz target, and the small set of operations each
 * backend (table_bdb.c, table_lmdb.c) supplies to table.c.
 *
 * table.c owns everything that does not depend on the backend: name
 * parsing, the source parser, the temporary name, owner and mode, the
 * fsync + rename + fsync-folder commit and the reopen-on-replace check.
 * A backend only writes a set of entries into a file it is given and
 * reads a key from a file it has opened.
 */
#ifndef POSTERN_TABLE_INT_H
#define POSTERN_TABLE_INT_H

#include <stddef.h>

#include "compat.h"
#include "table.h"

/*
 * The largest text source table_build() reads (it is read whole into
 * memory).  A million entries of a few hundred bytes fit with room.
 */
#define TABLE_SOURCE_MAX	((size_t)1024 * 1024 * 1024)

/* One entry of a parsed source: key already folded to lower case. */
struct table_entry {
	char		*key;		/* NUL-free, 1..TABLE_KEY_MAX bytes */
	char		*value;		/* NUL-free, 1..TABLE_VALUE_MAX bytes */
	size_t		 key_len;
	size_t		 value_len;
	unsigned long	 line;		/* where the entry starts */
};

/* A parsed source, entries sorted by key (bytewise, as memcmp). */
struct table_source {
	struct table_entry *entries;
	size_t		 count;
	size_t		 alloc;
	size_t		 bytes;		/* sum of key and value lengths */
};

/*
 * Parses the text source format of table.h from data (len bytes, need not
 * be NUL-terminated).  file names the source in error texts, which read
 * "FILE:LINE: text".  On success fills src_r (free it with
 * table_source_deinit()) and returns 0; on error returns -1 with *error_r
 * and leaves src_r empty.  The first problem found is the one reported.
 */
int	table_source_parse(const char *file, const char *data, size_t len,
	    struct table_source *src_r, const char **error_r) ATTR_WUR;
void	table_source_deinit(struct table_source *src);
/*
 * Appends a copy of one entry (key folded to lower case) to src, for a
 * caller that parses its own format (userdb.c).  The lengths must be
 * within the limits of struct table_entry and hold no NUL (else a bug).
 * src starts zeroed; it is not sorted until table_source_sort().
 */
void	table_source_add(struct table_source *src, const char *key,
	    size_t key_len, const char *value, size_t value_len,
	    unsigned long line);
/*
 * Sorts src by key and reports a repeated key as "FILE:LINE: duplicate
 * key ... (first on line N)".  Returns 0 or -1 (*error_r).
 */
int	table_source_sort(const char *file, struct table_source *src,
	    const char **error_r) ATTR_WUR;
/*
 * table_build() for a source already parsed by the caller (a file of
 * another format, such as the users file): sorts src (a repeated key is
 * an error naming both lines), then builds and commits the compiled
 * table of name exactly as table_build() does, taking the owner and mode
 * from the text file of name, which must exist.  source_size is the text
 * file's size.  src stays the caller's.  Returns the number of entries or
 * -1 (*error_r).
 */
long	table_build_entries(const char *name, const char *default_type,
	    struct table_source *src, size_t source_size,
	    const char **error_r) ATTR_WUR;

/*
 * A backend.  Every function that can fail returns -1 with *error_r,
 * which names the file.
 *
 * build: writes every entry of src into the file path (which exists,
 *	empty, created by table.c; the backend may remove it and create it
 *	anew under that name) and makes it complete on disk as far as
 *	the library knows (sync, close).  table.c then fixes owner and mode,
 *	fsyncs, renames and fsyncs the folder.  source_size is the size of
 *	the text source, for a backend that must size its map ahead.
 * open: opens path read-only; returns the backend's handle or NULL.
 * lookup: key is folded, NUL-free, key_len bytes.  Returns 1 with the
 *	value in *value_r and *value_len_r (valid until the next call on the
 *	handle), 0 when absent, -1 on failure.
 * close: closes the handle (NULL allowed).
 */
struct table_backend {
	const char	*type;		/* "hash", "lmdb" */
	const char	*suffix;	/* appended to FILE: ".db", ".lmdb" */
	int		(*build)(const char *path, const struct table_source *src,
			    size_t source_size, const char **error_r);
	void		*(*open)(const char *path, const char **error_r);
	int		(*lookup)(void *handle, const char *key, size_t key_len,
			    const void **value_r, size_t *value_len_r,
			    const char **error_r);
	void		(*close)(void *handle);
};

#ifdef HAVE_BDB
extern const struct table_backend table_backend_bdb;
#endif
extern const struct table_backend table_backend_lmdb;

#endif
