/* SPDX-License-Identifier: ISC */
/*
 * Queue-file recycling (postern-queue(5), "recycle/").  A delivered queue
 * file is not removed: the queue manager renames it into recycle/ and
 * empties it, and the next queue file a writer starts is that file
 * renamed into place.  The file system then allocates and frees no inode
 * per message.  On ext4 without a journal that is most of the cost of a
 * small message: every create first skips, one by one and under the
 * folder's lock, each inode freed in the last minutes (the kernel's
 * recently_deleted()), and on any file system an inode allocation and
 * release are bitmap and group descriptor updates.
 *
 * The pool needs no coordination between processes: a writer takes a
 * file by locking it (flock; busy means another writer was first) and
 * renaming it away (RENAME_NOREPLACE), and the queue manager bounds the
 * pool by counting it.
 * Nothing in recycle/ is trusted to be empty or ours: a taken file is
 * checked (regular, one link, our owner) before it is truncated.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/time.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qfile.h"
#include "xmalloc.h"

#include "banned.h"

/* Names a writer reads from recycle/ at a time. */
#define RECYCLE_BATCH		256
/* After recycle/ was found empty, create files this long (usec). */
#define RECYCLE_EMPTY_PAUSE	100000
/* The queue manager recounts a full pool at most this often (usec). */
#define RECYCLE_RECOUNT		100000

static struct {
	pthread_mutex_t	 lock;
	unsigned int	 limit;		/* 0: off */
	/* Taking (writers). */
	char		*names[RECYCLE_BATCH];
	unsigned int	 nnames, next;
	uint64_t	 empty_until;
	bool		 no_noreplace;	/* file system lacks RENAME_NOREPLACE */
	/* Putting (the queue manager). */
	unsigned int	 count;		/* counted, plus those put since */
	uint64_t	 counted_at;
} pool = { .lock = PTHREAD_MUTEX_INITIALIZER };

static uint64_t
recycle_now(void)
{
	struct timespec	ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* A name the pool may hold: what qfile_recycle_put() gives it. */
static bool
recycle_name_ok(const char *name)
{
	return qfile_id_valid(name);
}

/*
 * Calls fn(name) for each pool file, up to max of them; returns how many,
 * or -1 when recycle/ cannot be read.
 */
static int
recycle_list(const char *queue_dir, unsigned int max,
    void (*fn)(const char *, const char *), const char *arg)
{
	DIR		*d;
	struct dirent	*de;
	char		 dir[PATH_MAX];
	unsigned int	 n = 0;

	(void)snprintf(dir, sizeof(dir), "%s/%s", queue_dir,
	    QFILE_DIR_RECYCLE);
	if ((d = opendir(dir)) == NULL)
		return -1;
	while (n < max && (de = readdir(d)) != NULL) {
		if (!recycle_name_ok(de->d_name))
			continue;
		if (fn != NULL)
			fn(arg, de->d_name);
		n++;
	}
	(void)closedir(d);
	return (int)n;
}

static void
recycle_keep(const char *unused, const char *name)
{
	(void)unused;
	pool.names[pool.nnames++] = xstrdup(name);
}

static void
recycle_trim(const char *queue_dir, const char *name)
{
	char	path[PATH_MAX];

	if (pool.count < pool.limit) {
		pool.count++;
		return;
	}
	(void)snprintf(path, sizeof(path), "%s/%s/%s", queue_dir,
	    QFILE_DIR_RECYCLE, name);
	(void)unlink(path);
}

void
qfile_recycle_setup(const char *queue_dir, unsigned int limit, bool trim)
{
	int	n;

	(void)pthread_mutex_lock(&pool.lock);
	pool.limit = limit;
	pool.count = 0;
	if (trim)
		n = recycle_list(queue_dir, UINT_MAX, recycle_trim, queue_dir);
	else
		n = recycle_list(queue_dir, UINT_MAX, NULL, NULL);
	if (n > 0 && !trim)
		pool.count = (unsigned int)n;
	pool.counted_at = recycle_now();
	(void)pthread_mutex_unlock(&pool.lock);
}

/* The next name to try, NULL when the pool looks empty.  Locked. */
static char *
recycle_next(const char *queue_dir)
{
	uint64_t	now;

	if (pool.next == pool.nnames) {
		pool.next = pool.nnames = 0;
		now = recycle_now();
		if (now < pool.empty_until)
			return NULL;
		if (recycle_list(queue_dir, RECYCLE_BATCH, recycle_keep,
		    NULL) <= 0) {
			pool.empty_until = now + RECYCLE_EMPTY_PAUSE;
			return NULL;
		}
	}
	return pool.names[pool.next++];
}

/*
 * Opens and locks recycle/name, checks and empties it.  The lock comes
 * before the rename into incoming/ so that the queue manager never sees
 * the new name unlocked; the name is checked again under the lock, since
 * another writer may have taken the file (and even finished with it)
 * between our open and our lock.  Returns the descriptor or -1.
 */
static int
recycle_open(const char *src)
{
	struct stat	st, lst;
	int		fd;

	fd = open(src, O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd == -1) {
		/*
		 * A link or a FIFO is litter; other errors (EMFILE, EACCES)
		 * say nothing about the file, which stays in the pool.
		 */
		if (errno == ELOOP || errno == ENXIO)
			(void)unlink(src);
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == -1 || fstat(fd, &st) == -1 ||
	    lstat(src, &lst) == -1 || st.st_dev != lst.st_dev ||
	    st.st_ino != lst.st_ino) {
		(void)close(fd);
		return -1;
	}
	/*
	 * No O_TRUNC before the checks: after a power loss an unclean file
	 * system may hold a queue file under two names, and the other one
	 * must keep its bytes (this name goes).
	 */
	if (!S_ISREG(st.st_mode) || st.st_nlink != 1 ||
	    st.st_uid != geteuid() ||
	    (st.st_size != 0 && ftruncate(fd, 0) == -1) ||
	    ((st.st_mode & 07777) != 0600 && fchmod(fd, 0600) == -1)) {
		(void)unlink(src);
		(void)close(fd);
		return -1;
	}
	return fd;
}

int
qfile_recycle_take(const char *queue_dir, const char *dest)
{
	char		 src[PATH_MAX], *name;
	int		 fd = -1, tries;

	(void)pthread_mutex_lock(&pool.lock);
	if (pool.limit == 0 || pool.no_noreplace)
		goto out;
	for (tries = 0; tries < RECYCLE_BATCH && fd == -1; tries++) {
		if ((name = recycle_next(queue_dir)) == NULL)
			break;
		(void)snprintf(src, sizeof(src), "%s/%s/%s", queue_dir,
		    QFILE_DIR_RECYCLE, name);
		free(name);
		/* Gone or busy: another writer was first. */
		if ((fd = recycle_open(src)) == -1)
			continue;
		if (renameat2(AT_FDCWD, src, AT_FDCWD, dest,
		    RENAME_NOREPLACE) == -1) {
			if (errno == EINVAL || errno == ENOSYS)
				pool.no_noreplace = true;
			(void)close(fd);
			fd = -1;
			if (errno == ENOENT)
				continue;
			break;			/* EEXIST: dest is not ours */
		}
	}
out:
	(void)pthread_mutex_unlock(&pool.lock);
	return fd;
}

int
qfile_recycle_put(const char *queue_dir, const char *path, const char *id)
{
	char		dest[PATH_MAX];
	uint64_t	now;
	bool		full;
	int		n;

	if (!qfile_id_valid(id))
		return unlink(path);
	(void)pthread_mutex_lock(&pool.lock);
	full = pool.count >= pool.limit;
	if (full && pool.limit > 0) {
		now = recycle_now();
		if (now - pool.counted_at >= RECYCLE_RECOUNT) {
			n = recycle_list(queue_dir, UINT_MAX, NULL, NULL);
			pool.count = n > 0 ? (unsigned int)n : 0;
			pool.counted_at = now;
			full = pool.count >= pool.limit;
		}
	}
	if (!full)
		pool.count++;
	(void)pthread_mutex_unlock(&pool.lock);
	if (full)
		return unlink(path);
	(void)snprintf(dest, sizeof(dest), "%s/%s/%s", queue_dir,
	    QFILE_DIR_RECYCLE, id);
	/*
	 * A failed rename removes instead: ENOENT may mean a missing
	 * recycle/ as well as a file already gone, and unlink() tells which.
	 */
	if (rename(path, dest) == -1)
		return unlink(path);
	/* Emptied after the rename: a crash in between leaves no message
	 * in two places, and the taker truncates what is left. */
	if (truncate(dest, 0) == -1)
		(void)unlink(dest);
	return 0;
}
