/* SPDX-License-Identifier: ISC */
/*
 * Durable file operations (STYLE R23, DESIGN.md).  Queue files, Maildir
 * messages and map files reach their final names only through
 * file_commit(): fsync the data, rename, fsync the folder, so that after
 * a crash the name holds either the old file or the whole new one.  The
 * folder helpers make the spool and socket folders with exact modes and
 * owners whatever the umask, and refuse to follow a symbolic link planted
 * where a folder should be.  Paths are trusted (they come from the
 * configuration or from our own code); file contents are not.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "error.h"
#include "file.h"
#include "xmalloc.h"

#include "banned.h"

/* Bytes read at a time by file_read_all(). */
#define FILE_READ_CHUNK	8192

/* Unlinks path keeping errno, for cleanup on an error path. */
static void
file_unlink_quiet(const char *path)
{
	int	saved_errno = errno;

	(void)unlink(path);
	errno = saved_errno;
}

static int
file_sync_dir_now(const char *dir, bool *opened_r)
{
	int	fd, saved_errno;

	*opened_r = false;
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	*opened_r = true;
	if (fsync(fd) == -1) {
		saved_errno = errno;
		(void)close(fd);
		errno = saved_errno;
		return -1;
	}
	(void)close(fd);
	return 0;
}

/*
 * Group commit of folder fsyncs.  A folder fsync makes durable every
 * change made in the folder before it began, so threads that changed the
 * same folder (smtpd's sessions creating queue files in incoming/, the
 * delivery agent's threads renaming into one new/) need not fsync it one
 * after another.  Each change takes a ticket once it is made; a round
 * (one fsync) covers the tickets up to the count when it began.  A caller
 * whose ticket is not covered yet waits for the round under way or leads
 * the next.  Only a successful round advances "synced", so a failure is
 * never taken for a success: a caller that waited through a failed round
 * leads its own, and fails only when its own fsync fails.  Tickets may be
 * taken long before the sync (file_dir_ticket(): a queue file named at
 * MAIL, made durable at the end of DATA, by then usually covered by an
 * fsync run meanwhile); such folders stay in the list for good (a process
 * has a handful), the others leave it when their last caller does.
 */
struct file_dirsync {
	struct file_dirsync	*next;
	char			*path;
	unsigned int		 users;
	bool			 pinned;	/* has tickets out: kept */
	bool			 syncing;
	uint64_t		 tickets, synced;	/* synced: covered */
};

static pthread_mutex_t		 dirsync_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t		 dirsync_cond = PTHREAD_COND_INITIALIZER;
static struct file_dirsync	*dirsync_list;

static struct file_dirsync *
dirsync_enter(const char *dir)
{
	struct file_dirsync	*ds;

	for (ds = dirsync_list; ds != NULL; ds = ds->next)
		if (strcmp(ds->path, dir) == 0)
			break;
	if (ds == NULL) {
		ds = xcalloc(1, sizeof(*ds));
		ds->path = xstrdup(dir);
		ds->next = dirsync_list;
		dirsync_list = ds;
	}
	ds->users++;
	return ds;
}

static void
dirsync_leave(struct file_dirsync *ds)
{
	struct file_dirsync	**pp;

	if (--ds->users > 0 || ds->pinned)
		return;
	for (pp = &dirsync_list; *pp != ds; pp = &(*pp)->next)
		;
	*pp = ds->next;
	free(ds->path);
	free(ds);
}

/*
 * Until ticket my is covered.  Called and returns with dirsync_lock held.
 * Returns 0, or -1 with *errno_r and *opened_r from the failed fsync.
 */
static int
dirsync_wait(struct file_dirsync *ds, uint64_t my, int *errno_r,
    bool *opened_r)
{
	uint64_t	target;
	int		rc;

	while (ds->synced < my) {
		if (ds->syncing) {
			(void)pthread_cond_wait(&dirsync_cond, &dirsync_lock);
			continue;
		}
		ds->syncing = true;
		target = ds->tickets;
		(void)pthread_mutex_unlock(&dirsync_lock);
		rc = file_sync_dir_now(ds->path, opened_r);
		*errno_r = errno;
		(void)pthread_mutex_lock(&dirsync_lock);
		ds->syncing = false;
		(void)pthread_cond_broadcast(&dirsync_cond);
		if (rc == -1)
			return -1;
		if (ds->synced < target)
			ds->synced = target;
	}
	return 0;
}

uint64_t
file_dir_ticket(const char *dir)
{
	struct file_dirsync	*ds;
	uint64_t		 my;

	(void)pthread_mutex_lock(&dirsync_lock);
	ds = dirsync_enter(dir);
	ds->pinned = true;
	my = ++ds->tickets;
	dirsync_leave(ds);
	(void)pthread_mutex_unlock(&dirsync_lock);
	return my;
}

/* Ticket 0: a new one, for a change just made. */
static int
dirsync(const char *dir, uint64_t ticket, const char **error_r)
{
	struct file_dirsync	*ds;
	bool			 opened = true;
	int			 rc, saved_errno = 0;

	(void)pthread_mutex_lock(&dirsync_lock);
	ds = dirsync_enter(dir);
	if (ticket == 0 || ticket > ds->tickets)
		ticket = ++ds->tickets;
	rc = dirsync_wait(ds, ticket, &saved_errno, &opened);
	dirsync_leave(ds);
	(void)pthread_mutex_unlock(&dirsync_lock);
	if (rc == 0)
		return 0;
	errno = saved_errno;
	*error_r = !opened ? error_fmt("open folder %s: %m", dir) :
	    error_fmt("fsync folder %s: %m", dir);
	return -1;
}

int
file_sync_dir_ticket(const char *dir, uint64_t ticket, const char **error_r)
{
	return dirsync(dir, ticket, error_r);
}

int
file_sync_dir(const char *dir, const char **error_r)
{
	return dirsync(dir, 0, error_r);
}

int
file_sync_dir_of(const char *path, const char **error_r)
{
	const char	*slash;
	char		*dir;
	int		 ret;

	if ((slash = strrchr(path, '/')) == NULL)
		return file_sync_dir(".", error_r);
	if (slash == path)
		return file_sync_dir("/", error_r);
	dir = xstrndup(path, (size_t)(slash - path));
	ret = file_sync_dir(dir, error_r);
	free(dir);
	return ret;
}

/*
 * Once the rename is done tmp no longer exists; if the folder fsync then
 * fails, final is left in place and the caller sees -1.  Removing it
 * would delete the only copy of a map that replaced the old one, and a
 * message the caller then defers may at worst be delivered twice, which
 * DESIGN.md accepts; losing it is what it forbids.
 */
int
file_commit(int fd, const char *tmp, const char *final, const char **error_r)
{
	if (fsync(fd) == -1) {
		*error_r = error_fmt("fsync %s: %m", tmp);
		file_unlink_quiet(tmp);
		return -1;
	}
	if (rename(tmp, final) == -1) {
		*error_r = error_fmt("rename %s to %s: %m", tmp, final);
		file_unlink_quiet(tmp);
		return -1;
	}
	return file_sync_dir_of(final, error_r);
}

int
file_write_all(int fd, const void *data, size_t len)
{
	const char	*p = data;
	ssize_t		 n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0) {
			/* No progress and no error: do not spin. */
			errno = EIO;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Creates dir if missing, then opens it without following a link and
 * works on the descriptor, so a link swapped in after the lstat() is
 * never chowned or chmodded through.
 */
int
file_ensure_dir(const char *dir, mode_t mode, uid_t uid, gid_t gid,
    const char **error_r)
{
	struct stat	st, fst;
	int		fd, saved_errno;

	mode &= 07777;
	if (lstat(dir, &st) == -1) {
		if (errno != ENOENT) {
			*error_r = error_fmt("lstat %s: %m", dir);
			return -1;
		}
		/* Owner only until the owner and mode below are set. */
		if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
			*error_r = error_fmt("mkdir %s: %m", dir);
			return -1;
		}
		if (lstat(dir, &st) == -1) {
			*error_r = error_fmt("lstat %s: %m", dir);
			return -1;
		}
	}
	if (S_ISLNK(st.st_mode)) {
		*error_r = error_fmt("%s is a symbolic link, not a folder",
		    dir);
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		*error_r = error_fmt("%s exists and is not a folder", dir);
		return -1;
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1) {
		*error_r = error_fmt("open folder %s: %m", dir);
		return -1;
	}
	if (fstat(fd, &fst) == -1) {
		*error_r = error_fmt("fstat %s: %m", dir);
		goto fail;
	}
	if (fst.st_dev != st.st_dev || fst.st_ino != st.st_ino) {
		*error_r = error_fmt("%s changed while it was checked", dir);
		goto fail;
	}
	/* Only what differs: an unprivileged owner cannot chown at all. */
	if ((uid != (uid_t)-1 && fst.st_uid != uid) ||
	    (gid != (gid_t)-1 && fst.st_gid != gid)) {
		if (fchown(fd, uid, gid) == -1) {
			*error_r = error_fmt("chown %s to %ld:%ld: %m", dir,
			    (long)uid, (long)gid);
			goto fail;
		}
		/* chown may clear set-id bits: re-read before comparing. */
		if (fstat(fd, &fst) == -1) {
			*error_r = error_fmt("fstat %s: %m", dir);
			goto fail;
		}
	}
	/* fchmod, unlike mkdir, ignores the umask. */
	if ((fst.st_mode & 07777) != mode && fchmod(fd, mode) == -1) {
		*error_r = error_fmt("chmod %s to %04o: %m", dir,
		    (unsigned int)mode);
		goto fail;
	}
	(void)close(fd);
	return 0;
fail:
	saved_errno = errno;
	(void)close(fd);
	errno = saved_errno;
	return -1;
}

int
file_read_all(const char *path, size_t max, char **data_r, size_t *len_r,
    const char **error_r)
{
	char		 chunk[FILE_READ_CHUNK];
	struct stat	 st;
	struct buf	*b;
	ssize_t		 n;
	int		 fd, saved_errno;

	/*
	 * O_NONBLOCK so that a FIFO in place of the file cannot hang the
	 * open; it means nothing for the regular files we accept.  Links
	 * are followed: configuration files may be symbolic links.
	 */
	fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd == -1) {
		*error_r = error_fmt("open %s: %m", path);
		return -1;
	}
	if (fstat(fd, &st) == -1) {
		*error_r = error_fmt("fstat %s: %m", path);
		saved_errno = errno;
		(void)close(fd);
		errno = saved_errno;
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		(void)close(fd);
		*error_r = error_fmt("%s is not a regular file", path);
		return -1;
	}
	if (st.st_size < 0 || (unsigned long long)st.st_size > max) {
		(void)close(fd);
		*error_r = error_fmt("%s is larger than %zu bytes", path, max);
		return -1;
	}
	/* The size is a hint: the file may change while it is read. */
	/* UNSAFE: st_size <= max; a wrap gives 0, which buf_init() allows. */
	b = buf_new((size_t)st.st_size + 1, max);
	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n == -1) {
			if (errno == EINTR)
				continue;
			*error_r = error_fmt("read %s: %m", path);
			goto fail;
		}
		if (n == 0)
			break;
		if (buf_append(b, chunk, (size_t)n) == -1) {
			*error_r = error_fmt("%s is larger than %zu bytes",
			    path, max);
			goto fail;
		}
	}
	(void)close(fd);
	if (len_r != NULL)
		*len_r = b->len;
	*data_r = buf_steal(b);
	buf_free(&b);
	return 0;
fail:
	saved_errno = errno;
	(void)close(fd);
	buf_free(&b);
	errno = saved_errno;
	return -1;
}
