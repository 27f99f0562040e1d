/* SPDX-License-Identifier: ISC */
/*
 * Lookup tables (DESIGN.md "Configuration"): text files of "key value"
 * lines compiled with "postctl map build TYPE:FILE" and read by key.
 *
 * A table is named TYPE:FILE, where FILE is the text source and TYPE picks
 * the backend: hash (Berkeley DB, FILE.db; absent when built
 * --without-bdb) or lmdb (LMDB, FILE.lmdb).  A name without a prefix uses
 * default_database_type.  The compiled file is built under a temporary
 * name, fsync'd and renamed over the old one, so a reader sees the old
 * table or the new one, never half of one; readers notice the rename and
 * reopen.
 *
 * Source format: one entry a line, "key value" separated by white space
 * (or "key: value", as in aliases files), "#" comment lines and blank
 * lines ignored, a line starting with white space continuing the
 * previous value.  Keys are folded to lower case when built and when
 * looked up.  A repeated key is an error naming both lines.
 */
#ifndef POSTERN_TABLE_H
#define POSTERN_TABLE_H

#include <stdbool.h>
#include <stddef.h>

#include "compat.h"

#define TABLE_KEY_MAX		1024
#define TABLE_VALUE_MAX		(64 * 1024)
#define TABLE_LINE_MAX		(TABLE_KEY_MAX + TABLE_VALUE_MAX + 8)

struct table;

/*
 * Splits "TYPE:FILE" into a type ("hash"/"lmdb") and a file; defaults the
 * type to default_type when absent.  Returns 0, or -1 for an unknown or
 * unsupported type.  type_r points into static strings; file_r is
 * allocated (caller frees).
 */
int	table_parse_name(const char *name, const char *default_type,
	    const char **type_r, char **file_r, const char **error_r) ATTR_WUR;
/* True when this build supports the type. */
bool	table_type_supported(const char *type);
/*
 * The compiled file's name for a type (as table_parse_name() returns it;
 * any other is a bug) and source (caller frees).
 */
char	*table_compiled_path(const char *type, const char *file);

/*
 * Compiles name's text source into its compiled form, atomically, with
 * the same owner and mode as the source (read by its group when the
 * source is).  Returns the number of entries (>= 0), or -1 with
 * *error_r ("FILE:LINE: text" for a syntax error).
 */
long	table_build(const char *name, const char *default_type,
	    const char **error_r) ATTR_WUR;

/* Opens the compiled table read-only. Returns NULL with *error_r. */
struct table *table_open(const char *name, const char *default_type,
	    const char **error_r);
void	table_close(struct table **tp);
/*
 * Looks key up (folded to lower case).  Returns 1 with *value_r (valid
 * until the next call on t), 0 when absent, -1 on a temporary failure
 * (*error_r).  Reopens first when the compiled file was replaced: every
 * lookup stat()s it and compares st_dev, st_ino and st_mtim.  When the
 * replacement cannot be opened (or the table was removed) the lookup is
 * a temporary failure.
 */
int	table_lookup(struct table *t, const char *key, const char **value_r,
	    const char **error_r) ATTR_WUR;
/*
 * Pins t to the file it has open: later lookups no longer stat() the
 * path and never reopen.  For a process that opens its tables before it
 * chroots (the transfer agent), where the path cannot be seen any more;
 * such a process reads a rebuilt table when it is restarted (postctl
 * reload).
 */
void	table_pin(struct table *t);
/* True when the compiled file was replaced (or removed) since open. */
bool	table_changed(struct table *t);

#endif
