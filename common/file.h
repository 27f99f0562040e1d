/* SPDX-License-Identifier: ISC */
/*
 * Durable file operations (STYLE R23, DESIGN.md).  A file reaches its final
 * name only through file_commit(): fsync the file, rename it, fsync the
 * folder.  After file_commit() returns 0 the file survives a crash.
 */
#ifndef POSTERN_FILE_H
#define POSTERN_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "compat.h"

/*
 * fsyncs fd, renames tmp to final and fsyncs the folder of final.  Does
 * not close fd.  On failure tmp is unlinked.  Returns 0 or -1 (*error_r).
 */
int	file_commit(int fd, const char *tmp, const char *final,
	    const char **error_r) ATTR_WUR;
/*
 * fsyncs the folder that holds path, or dir.  Returns 0 or -1.  Threads
 * of one process that sync the same folder at once share fsyncs (group
 * commit): each returns once an fsync that began after its call is done.
 */
int	file_sync_dir_of(const char *path, const char **error_r) ATTR_WUR;
int	file_sync_dir(const char *dir, const char **error_r) ATTR_WUR;
/*
 * A ticket for a change just made in dir (an entry created or renamed),
 * to be made durable later by file_sync_dir_ticket(), which returns at
 * once when an fsync of dir begun after the ticket (by any thread of the
 * process, such as a background file_sync_dir()) has succeeded.
 */
uint64_t file_dir_ticket(const char *dir);
int	file_sync_dir_ticket(const char *dir, uint64_t ticket,
	    const char **error_r) ATTR_WUR;
/*
 * Writes all of data to fd, retrying on EINTR and short writes.
 * Returns 0 or -1 (errno set).
 */
int	file_write_all(int fd, const void *data, size_t len) ATTR_WUR;
/*
 * Creates dir (and not its parents) with the given mode, or fixes the mode,
 * owner and group of an existing one (uid/gid (uid_t)-1 leave them).
 * Refuses a path that exists but is not a folder or is a symbolic link.
 * Returns 0 or -1.
 */
int	file_ensure_dir(const char *dir, mode_t mode, uid_t uid, gid_t gid,
	    const char **error_r) ATTR_WUR;
/*
 * Reads a whole regular file of at most max bytes into *data_r (NUL
 * terminated, caller frees).  Returns 0 or -1.
 */
int	file_read_all(const char *path, size_t max, char **data_r,
	    size_t *len_r, const char **error_r) ATTR_WUR;

#endif
