/* SPDX-License-Identifier: ISC */
/*
 * Maildir pieces of the delivery agent: path checks, folder creation,
 * file names, Maildir++ quota (maildirsize), the Delivered-To loop check
 * and the CRLF to LF copy of a message out of its queue file.
 *
 * What it trusts: root (mail_directory) comes from the configuration.
 * Mailbox paths and folder names come from the queue manager and are
 * checked here as if from the network.  The folders below root belong to
 * the delivery agent's user; still, the walk down from root opens every
 * component with O_NOFOLLOW so that a symbolic link planted in a mailbox
 * tree never leads a delivery elsewhere.  maildirsize is written by other
 * programs too (IMAP, Courier or Dovecot tools): anything that does not
 * parse is recalculated, never trusted.  The file layout follows the
 * Maildir conventions (cr.yp.to/proto/maildir.html) and Maildir++ as
 * Courier and Dovecot use it.
 *
 * Every function may run in a workq thread: no logging, nothing shared;
 * on failure errno is kept from the failing call.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/stat.h>
#include <sys/time.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "common/file.h"
#include "common/str.h"
#include "common/xmalloc.h"

#include "delivery-agent/maildir.h"

#include "common/banned.h"

/* The largest signed value a maildirsize line may carry. */
#define MAILDIR_SIZE_VALUE_MAX	((uint64_t)INT64_MAX / 4)

/* Sets errno back to saved (after error_fmt) and returns -1. */
static int
maildir_fail(int saved)
{
	errno = saved;
	return -1;
}

/* ---- paths and folders ---------------------------------------------- */

/* The length of root without trailing slashes ("/" stays 1). */
static size_t
maildir_root_len(const char *root)
{
	size_t	len = strlen(root);

	while (len > 1 && root[len - 1] == '/')
		len--;
	return len;
}

int
maildir_path_check(const char *root, const char *path, const char **error_r)
{
	const char	*p, *slash;
	size_t		 rlen, n;

	if (root[0] != '/') {
		*error_r = "mail_directory is not an absolute path";
		return -1;
	}
	if (path[0] != '/') {
		*error_r = "mailbox path is not absolute";
		return -1;
	}
	if (strlen(path) > MAILDIR_PATH_MAX) {
		*error_r = "mailbox path is too long";
		return -1;
	}
	rlen = maildir_root_len(root);
	if (rlen == 1)
		p = path + 1;
	else {
		if (strncmp(path, root, rlen) != 0 || path[rlen] != '/') {
			*error_r = "mailbox path is outside mail_directory";
			return -1;
		}
		p = path + rlen + 1;
	}
	if (*p == '\0') {
		*error_r = "mailbox path is mail_directory itself";
		return -1;
	}
	for (;;) {
		slash = strchr(p, '/');
		n = slash != NULL ? (size_t)(slash - p) : strlen(p);
		if (n == 0) {
			*error_r = "mailbox path has an empty component";
			return -1;
		}
		if ((n == 1 && p[0] == '.') ||
		    (n == 2 && p[0] == '.' && p[1] == '.')) {
			*error_r = "mailbox path has a . or .. component";
			return -1;
		}
		if (n > NAME_MAX) {
			*error_r = "mailbox path has a component too long";
			return -1;
		}
		if (slash == NULL)
			break;
		p = slash + 1;
	}
	return 0;
}

bool
maildir_folder_valid(const char *name)
{
	size_t	i;
	char	c;

	for (i = 0; name[i] != '\0'; i++) {
		c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.'))
			return false;
		/* "." separates Maildir++ levels: none may be empty. */
		if (c == '.' && (i == 0 || name[i - 1] == '.'))
			return false;
	}
	return i > 0 && i <= MAILDIR_FOLDER_MAX && name[i - 1] != '.';
}

/*
 * Creates name in the folder dfd (shown as shown_len bytes of shown in
 * errors) unless it exists, then opens it without following a link.
 */
static int
maildir_mkdir_at(int dfd, const char *name, const char *shown,
    size_t shown_len, int *fd_r, const char **error_r)
{
	int	fd, saved;

	if (mkdirat(dfd, name, 0700) == -1 && errno != EEXIST) {
		saved = errno;
		*error_r = error_fmt("mkdir %.*s/%s: %m", (int)shown_len, shown,
		    name);
		return maildir_fail(saved);
	}
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1) {
		saved = errno;
		if (saved == ELOOP || saved == ENOTDIR)
			*error_r = error_fmt("%.*s/%s is a symbolic link or "
			    "not a folder", (int)shown_len, shown, name);
		else
			*error_r = error_fmt("open folder %.*s/%s: %m",
			    (int)shown_len, shown, name);
		return maildir_fail(saved);
	}
	*fd_r = fd;
	return 0;
}

/* Makes cur/, new/ and tmp/ in the Maildir (or folder) dfd. */
static int
maildir_make_subdirs(int dfd, const char *shown, size_t shown_len,
    const char **error_r)
{
	static const char *const subdirs[] = { "cur", "new", "tmp" };
	size_t	i;
	int	fd;

	for (i = 0; i < N_ELEMENTS(subdirs); i++) {
		if (maildir_mkdir_at(dfd, subdirs[i], shown, shown_len, &fd,
		    error_r) == -1)
			return -1;
		(void)close(fd);
	}
	return 0;
}

/*
 * Opens the folder path below root read-only, every component from root
 * down with O_NOFOLLOW, creating the missing ones (mode 0700) when
 * create.  Returns the descriptor, or -1 (*error_r, errno; ENOENT when a
 * component does not exist and create is false).
 */
static int
maildir_open_below(const char *root, const char *path, bool create,
    const char **error_r)
{
	char		 comp[NAME_MAX + 2];
	const char	*p, *slash;
	size_t		 rlen, n;
	int		 dfd, nfd, saved;

	if (maildir_path_check(root, path, error_r) == -1) {
		errno = EINVAL;
		return -1;
	}
	if ((dfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		saved = errno;
		*error_r = error_fmt("open mail_directory %s: %m", root);
		return maildir_fail(saved);
	}
	rlen = maildir_root_len(root);
	p = path + (rlen == 1 ? 1 : rlen + 1);
	for (;;) {
		slash = strchr(p, '/');
		n = slash != NULL ? (size_t)(slash - p) : strlen(p);
		/* maildir_path_check() bounded n by NAME_MAX. */
		memcpy(comp, p, n);
		comp[n] = '\0';
		if (create) {
			if (maildir_mkdir_at(dfd, comp, path,
			    (size_t)(p - 1 - path), &nfd, error_r) == -1) {
				saved = errno;
				(void)close(dfd);
				return maildir_fail(saved);
			}
		} else if ((nfd = openat(dfd, comp, O_RDONLY | O_DIRECTORY |
		    O_NOFOLLOW | O_CLOEXEC)) == -1) {
			saved = errno;
			*error_r = error_fmt("open folder %.*s: %m",
			    (int)(p + n - path), path);
			(void)close(dfd);
			return maildir_fail(saved);
		}
		(void)close(dfd);
		dfd = nfd;
		if (slash == NULL)
			break;
		p = slash + 1;
	}
	return dfd;
}

int
maildir_prepare(const char *root, const char *path, const char *folder,
    bool *folder_used_r, const char **error_r)
{
	char		 comp[NAME_MAX + 2];
	int		 dfd, ffd, saved;

	*folder_used_r = false;
	if ((dfd = maildir_open_below(root, path, true, error_r)) == -1)
		return -1;
	if (maildir_make_subdirs(dfd, path, strlen(path), error_r) == -1)
		goto fail;

	if (folder[0] != '\0') {
		if (!maildir_folder_valid(folder)) {
			*error_r = "invalid folder name";
			errno = EINVAL;
			goto fail;
		}
		comp[0] = '.';
		if (str_copy(comp + 1, sizeof(comp) - 1, folder) == -1) {
			*error_r = "folder name too long";
			errno = ENAMETOOLONG;
			goto fail;
		}
		ffd = openat(dfd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC);
		if (ffd == -1 && errno != ENOENT) {
			saved = errno;
			*error_r = error_fmt("open folder %s/%s: %m", path, comp);
			errno = saved;
			goto fail;
		}
		if (ffd != -1) {
			if (maildir_make_subdirs(ffd, path, strlen(path),
			    error_r) == -1) {
				saved = errno;
				(void)close(ffd);
				errno = saved;
				goto fail;
			}
			(void)close(ffd);
			*folder_used_r = true;
		}
	}
	(void)close(dfd);
	return 0;
fail:
	saved = errno;
	(void)close(dfd);
	return maildir_fail(saved);
}

/* ---- file names ----------------------------------------------------- */

int
maildir_host_name(const char *host, char *dst, size_t size)
{
	size_t	i, o = 0;
	char	c;

	if (host[0] == '\0' || size == 0)
		return -1;
	for (i = 0; host[i] != '\0' && i < MAILDIR_HOST_MAX; i++) {
		c = host[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '-' ||
		    c == '_') {
			if (o + 1 >= size)
				return -1;
			dst[o++] = c;
			continue;
		}
		/* "/" and ":" as Maildir says; the rest the same way. */
		if (o + 4 >= size)
			return -1;
		dst[o++] = '\\';
		dst[o++] = (char)('0' + (((unsigned char)c >> 6) & 7));
		dst[o++] = (char)('0' + (((unsigned char)c >> 3) & 7));
		dst[o++] = (char)('0' + ((unsigned char)c & 7));
	}
	dst[o] = '\0';
	return 0;
}

int
maildir_name_format(char *dst, size_t size, uint64_t sec, uint64_t usec,
    uint64_t pid, uint64_t counter, const char *host)
{
	int	n;

	n = snprintf(dst, size, "%" PRIu64 ".M%" PRIu64 "P%" PRIu64 "Q%"
	    PRIu64 ".%s", sec, usec, pid, counter, host);
	return n < 0 || (size_t)n >= size ? -1 : 0;
}

int
maildir_name(char *dst, size_t size, uint64_t pid, uint64_t counter,
    const char *host)
{
	struct timeval	tv;

	if (gettimeofday(&tv, NULL) == -1)
		return -1;
	return maildir_name_format(dst, size, (uint64_t)tv.tv_sec,
	    (uint64_t)tv.tv_usec, pid, counter, host);
}

int
maildir_name_sized(char *dst, size_t size, const char *base,
    uint64_t msgsize)
{
	int	n;

	n = snprintf(dst, size, "%s,S=%" PRIu64, base, msgsize);
	return n < 0 || (size_t)n >= size ? -1 : 0;
}

/* ---- quota ---------------------------------------------------------- */

/* Parses "[-]digits" of [p, end) into *val_r. */
static int
maildir_parse_signed(const char *p, const char *end, int64_t *val_r)
{
	uint64_t	v;
	bool		neg = false;

	if (p < end && *p == '-') {
		neg = true;
		p++;
	}
	if (parse_u64_n(p, (size_t)(end - p), MAILDIR_SIZE_VALUE_MAX,
	    &v) == -1)
		return -1;
	*val_r = neg ? -(int64_t)v : (int64_t)v;
	return 0;
}

static const char *
maildir_skip_spaces(const char *p, const char *end)
{
	while (p < end && *p == ' ')
		p++;
	return p;
}

/* The quota line: "<n>S", "<n>C" parts separated by commas. */
static int
maildir_size_parse_quota(const char *p, const char *end, uint64_t *quota_r)
{
	const char	*comma, *last;
	uint64_t	 v;

	*quota_r = 0;
	for (;;) {
		p = maildir_skip_spaces(p, end);
		if (p >= end)
			return -1;
		comma = memchr(p, ',', (size_t)(end - p));
		last = comma != NULL ? comma : end;
		while (last > p && last[-1] == ' ')
			last--;
		if (last - p < 2 || parse_u64_n(p, (size_t)(last - 1 - p),
		    MAILDIR_SIZE_VALUE_MAX, &v) == -1)
			return -1;
		if (last[-1] == 'S')
			*quota_r = v;
		else if (last[-1] != 'C')
			return -1;
		if (comma == NULL)
			return 0;
		p = comma + 1;
	}
}

int
maildir_size_parse(const char *data, size_t len, uint64_t *quota_r,
    uint64_t *bytes_r, uint64_t *count_r)
{
	const char	*p = data, *end = data + len, *nl, *sp, *q;
	int64_t		 bytes = 0, count = 0, b, c;

	if (len == 0 || data[len - 1] != '\n')
		return -1;
	nl = memchr(p, '\n', len);
	if (maildir_size_parse_quota(p, nl, quota_r) == -1)
		return -1;
	for (p = nl + 1; p < end; p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(end - p));
		q = maildir_skip_spaces(p, nl);
		if ((sp = memchr(q, ' ', (size_t)(nl - q))) == NULL ||
		    maildir_parse_signed(q, sp, &b) == -1)
			return -1;
		q = maildir_skip_spaces(sp, nl);
		for (sp = q; sp < nl && *sp != ' '; sp++)
			;
		if (maildir_parse_signed(q, sp, &c) == -1 ||
		    maildir_skip_spaces(sp, nl) != nl)
			return -1;
		if (__builtin_add_overflow(bytes, b, &bytes) ||
		    __builtin_add_overflow(count, c, &count))
			return -1;
	}
	*bytes_r = bytes < 0 ? 0 : (uint64_t)bytes;
	*count_r = count < 0 ? 0 : (uint64_t)count;
	return 0;
}

/* The size a file name gives with ",S=<n>", or -1 when it gives none. */
static int
maildir_name_size(const char *name, uint64_t *size_r)
{
	const char	*s, *e;

	if ((s = strstr(name, ",S=")) == NULL)
		return -1;
	s += 3;
	for (e = s; *e >= '0' && *e <= '9'; e++)
		;
	if (*e != '\0' && *e != ',' && *e != ':')
		return -1;
	return parse_u64_n(s, (size_t)(e - s), MAILDIR_SIZE_VALUE_MAX, size_r);
}

/* Adds up the messages of sub ("cur" or "new") of the folder dfd. */
static int
maildir_size_calc_dir(int dfd, const char *shown, const char *sub,
    uint64_t *bytes, uint64_t *count, const char **error_r)
{
	struct dirent	*de;
	struct stat	 st;
	DIR		*d;
	uint64_t	 size;
	int		 fd, saved;

	fd = openat(dfd, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1) {
		if (errno == ENOENT)
			return 0;
		saved = errno;
		*error_r = error_fmt("open folder %s/%s: %m", shown, sub);
		return maildir_fail(saved);
	}
	if ((d = fdopendir(fd)) == NULL) {
		saved = errno;
		(void)close(fd);
		*error_r = error_fmt("opendir %s/%s: %m", shown, sub);
		return maildir_fail(saved);
	}
	for (;;) {
		errno = 0;
		if ((de = readdir(d)) == NULL)
			break;
		if (de->d_name[0] == '.')
			continue;
		if (maildir_name_size(de->d_name, &size) == -1) {
			if (fstatat(fd, de->d_name, &st,
			    AT_SYMLINK_NOFOLLOW) == -1)
				continue;	/* moved or expunged meanwhile */
			if (!S_ISREG(st.st_mode))
				continue;
			size = (uint64_t)st.st_size;
		}
		*bytes += size;
		(*count)++;
	}
	if (errno != 0) {
		saved = errno;
		(void)closedir(d);
		*error_r = error_fmt("readdir %s/%s: %m", shown, sub);
		return maildir_fail(saved);
	}
	(void)closedir(d);
	return 0;
}

/* The inbox and one folder dfd: cur/ and new/. */
static int
maildir_size_calc_folder(int dfd, const char *shown, uint64_t *bytes,
    uint64_t *count, const char **error_r)
{
	if (maildir_size_calc_dir(dfd, shown, "cur", bytes, count,
	    error_r) == -1 ||
	    maildir_size_calc_dir(dfd, shown, "new", bytes, count,
	    error_r) == -1)
		return -1;
	return 0;
}

int
maildir_size_calc(const char *maildir, uint64_t *bytes_r, uint64_t *count_r,
    const char **error_r)
{
	struct dirent	*de;
	DIR		*d;
	uint64_t	 bytes = 0, count = 0;
	int		 fd, ffd, saved;

	fd = open(maildir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1) {
		saved = errno;
		*error_r = error_fmt("open folder %s: %m", maildir);
		return maildir_fail(saved);
	}
	if ((d = fdopendir(fd)) == NULL) {
		saved = errno;
		(void)close(fd);
		*error_r = error_fmt("opendir %s: %m", maildir);
		return maildir_fail(saved);
	}
	if (maildir_size_calc_folder(fd, maildir, &bytes, &count,
	    error_r) == -1)
		goto fail;
	for (;;) {
		errno = 0;
		if ((de = readdir(d)) == NULL)
			break;
		/* Maildir++ folders are ".NAME"; "." and ".." are not. */
		if (de->d_name[0] != '.' || de->d_name[1] == '\0' ||
		    (de->d_name[1] == '.' && de->d_name[2] == '\0'))
			continue;
		ffd = openat(fd, de->d_name, O_RDONLY | O_DIRECTORY |
		    O_NOFOLLOW | O_CLOEXEC);
		if (ffd == -1)
			continue;	/* a file, a link, or gone */
		if (maildir_size_calc_folder(ffd, maildir, &bytes, &count,
		    error_r) == -1) {
			saved = errno;
			(void)close(ffd);
			errno = saved;
			goto fail;
		}
		(void)close(ffd);
	}
	if (errno != 0) {
		saved = errno;
		*error_r = error_fmt("readdir %s: %m", maildir);
		errno = saved;
		goto fail;
	}
	(void)closedir(d);
	*bytes_r = bytes;
	*count_r = count;
	return 0;
fail:
	saved = errno;
	(void)closedir(d);
	return maildir_fail(saved);
}

/* Writes a new maildirsize through tmp/<unique>.maildirsize. */
static int
maildir_size_rewrite(const char *maildir, uint64_t quota, uint64_t bytes,
    uint64_t count, const char *unique, const char **error_r)
{
	char	 text[128];
	char	*tmp, *final;
	int	 fd, n, saved, ret = -1;

	n = snprintf(text, sizeof(text), "%" PRIu64 "S\n%" PRIu64 " %" PRIu64
	    "\n", quota, bytes, count);
	if (n < 0 || (size_t)n >= sizeof(text)) {
		*error_r = "maildirsize line too long";
		errno = EINVAL;
		return -1;
	}
	tmp = xasprintf("%s/tmp/%s.maildirsize", maildir, unique);
	final = xasprintf("%s/%s", maildir, MAILDIR_SIZE_FILE);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0600);
	if (fd == -1) {
		saved = errno;
		*error_r = error_fmt("create %s: %m", tmp);
		errno = saved;
		goto out;
	}
	if (file_write_all(fd, text, (size_t)n) == -1) {
		saved = errno;
		*error_r = error_fmt("write %s: %m", tmp);
		(void)close(fd);
		(void)unlink(tmp);
		errno = saved;
		goto out;
	}
	ret = file_commit(fd, tmp, final, error_r);
	saved = errno;
	(void)close(fd);
	errno = saved;
out:
	saved = errno;
	free(tmp);
	free(final);
	errno = saved;
	return ret;
}

/*
 * Reads maildirsize from fd (at most MAILDIR_SIZE_FILE_MAX + 1 bytes, so
 * that a longer file shows as one) into data.  Returns 0 with *len_r, or
 * -1 (errno).
 */
static int
maildir_size_read_fd(int fd, char *data, size_t size, size_t *len_r)
{
	size_t	len = 0;
	ssize_t	n;

	while (len < size) {
		n = read(fd, data + len, size - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		if (n == 0)
			break;
		len += (size_t)n;
	}
	*len_r = len;
	return 0;
}

int
maildir_size_get(const char *maildir, uint64_t quota, const char *unique,
    uint64_t *bytes_r, const char **error_r)
{
	char		 data[MAILDIR_SIZE_FILE_MAX + 1];
	char		*path;
	uint64_t	 q, bytes, count;
	size_t		 len = 0;
	int		 fd, saved;

	path = xasprintf("%s/%s", maildir, MAILDIR_SIZE_FILE);
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1 && errno != ENOENT) {
		saved = errno;
		*error_r = error_fmt("open %s: %m", path);
		free(path);
		return maildir_fail(saved);
	}
	if (fd != -1) {
		if (maildir_size_read_fd(fd, data, sizeof(data), &len) == -1) {
			saved = errno;
			*error_r = error_fmt("read %s: %m", path);
			(void)close(fd);
			free(path);
			return maildir_fail(saved);
		}
		(void)close(fd);
		if (len <= MAILDIR_SIZE_FILE_MAX &&
		    maildir_size_parse(data, len, &q, &bytes, &count) == 0 &&
		    q == quota) {
			free(path);
			*bytes_r = bytes;
			return 0;
		}
	}
	free(path);
	if (maildir_size_calc(maildir, &bytes, &count, error_r) == -1 ||
	    maildir_size_rewrite(maildir, quota, bytes, count, unique,
	    error_r) == -1)
		return -1;
	*bytes_r = bytes;
	return 0;
}

int
maildir_size_peek(const char *root, const char *maildir, uint64_t *quota_r,
    uint64_t *bytes_r, const char **error_r)
{
	char		 data[MAILDIR_SIZE_FILE_MAX + 1];
	uint64_t	 count;
	size_t		 len;
	int		 dfd, fd, saved;

	if ((dfd = maildir_open_below(root, maildir, false, error_r)) == -1)
		return errno == ENOENT ? 0 : -1;
	fd = openat(dfd, MAILDIR_SIZE_FILE, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1) {
		saved = errno;
		(void)close(dfd);
		if (saved == ENOENT)
			return 0;
		*error_r = error_fmt("open %s/%s: %m", maildir,
		    MAILDIR_SIZE_FILE);
		return maildir_fail(saved);
	}
	(void)close(dfd);
	if (maildir_size_read_fd(fd, data, sizeof(data), &len) == -1) {
		saved = errno;
		*error_r = error_fmt("read %s/%s: %m", maildir,
		    MAILDIR_SIZE_FILE);
		(void)close(fd);
		return maildir_fail(saved);
	}
	(void)close(fd);
	if (len > MAILDIR_SIZE_FILE_MAX ||
	    maildir_size_parse(data, len, quota_r, bytes_r, &count) == -1)
		return 0;
	return 1;
}

int
maildir_size_add(const char *maildir, uint64_t msgsize, const char **error_r)
{
	char		 line[64], ebuf[128];
	const char	*why;
	char		*path;
	ssize_t		 w;
	int		 fd, n, saved;

	n = snprintf(line, sizeof(line), "%" PRIu64 " 1\n", msgsize);
	if (n < 0 || (size_t)n >= sizeof(line)) {
		*error_r = "size line too long";
		errno = EINVAL;
		return -1;
	}
	path = xasprintf("%s/%s", maildir, MAILDIR_SIZE_FILE);
	fd = open(path, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1) {
		saved = errno;
		if (saved == ENOENT) {
			free(path);
			return 0;
		}
		*error_r = error_fmt("open %s: %m", path);
		free(path);
		return maildir_fail(saved);
	}
	/* One write: concurrent appends from other deliveries stay whole. */
	do {
		w = write(fd, line, (size_t)n);
	} while (w == -1 && errno == EINTR);
	if (w != n) {
		saved = w == -1 ? errno : EIO;
		(void)close(fd);
		/*
		 * The file would now count too little for good (a full disk
		 * is the usual cause), and a part of a line would be glued
		 * to the next append: remove it, so that the next delivery
		 * with a quota recalculates.  Unlinking needs no space.
		 */
		why = strerror_r(saved, ebuf, sizeof(ebuf));
		if (unlink(path) == -1 && errno != ENOENT)
			*error_r = error_fmt("append to %s: %s; cannot remove "
			    "it: %m", path, why);
		else
			*error_r = error_fmt("append to %s: %s; removed it to "
			    "be recalculated", path, why);
		free(path);
		return maildir_fail(saved);
	}
	(void)close(fd);
	free(path);
	return 0;
}

bool
maildir_quota_allows(uint64_t quota, uint64_t current, uint64_t msgsize)
{
	if (quota == 0)
		return true;
	return current <= quota && msgsize <= quota - current;
}

/* ---- the message ---------------------------------------------------- */

/*
 * Where the header section of b ends: just after its empty line.
 * Returns true with *end_r, false when b holds no empty line yet.
 */
static bool
maildir_header_end(const char *b, size_t len, size_t *end_r)
{
	size_t	pos = 0;
	const char *nl;

	while (pos < len) {
		if (b[pos] == '\n') {
			*end_r = pos + 1;
			return true;
		}
		if (b[pos] == '\r' && pos + 1 < len && b[pos + 1] == '\n') {
			*end_r = pos + 2;
			return true;
		}
		if ((nl = memchr(b + pos, '\n', len - pos)) == NULL)
			return false;
		pos = (size_t)(nl - b) + 1;
	}
	return false;
}

int
maildir_read_header(int fd, uint64_t offset, uint64_t length, size_t max,
    char **hdr_r, size_t *len_r, const char **error_r)
{
	char	*b;
	size_t	 cap, got = 0, want, end;
	ssize_t	 n;
	int	 saved;

	cap = length < (uint64_t)max ? (size_t)length : max;
	b = xmalloc(cap + 1);
	while (got < cap) {
		want = cap - got;
		if (want > MAILDIR_COPY_CHUNK)
			want = MAILDIR_COPY_CHUNK;
		n = pread(fd, b + got, want, (off_t)(offset + got));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			saved = errno;
			*error_r = error_fmt("read queue file: %m");
			free(b);
			return maildir_fail(saved);
		}
		if (n == 0) {
			*error_r = "queue file is shorter than the message";
			free(b);
			return maildir_fail(EIO);
		}
		got += (size_t)n;
		if (maildir_header_end(b, got, &end)) {
			got = end;
			break;
		}
	}
	b[got] = '\0';
	*hdr_r = b;
	*len_r = got;
	return 0;
}

static bool
maildir_is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* Whether the n bytes at p are lower (ASCII letters of any case). */
static bool
maildir_prefix_icase(const char *p, const char *lower, size_t n)
{
	size_t	i;
	char	c;

	for (i = 0; i < n; i++) {
		c = p[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != lower[i])
			return false;
	}
	return true;
}

/* Whether the unfolded value [v, end) is user (trimmed, maybe <user>). */
static bool
maildir_value_is(const char *v, const char *end, const char *user)
{
	char	*u, *s, *e;
	size_t	 o = 0, ulen = strlen(user);
	bool	 ret;

	u = xmalloc((size_t)(end - v) + 1);
	for (; v < end; v++)
		if (*v != '\r' && *v != '\n')
			u[o++] = *v;
	u[o] = '\0';
	s = u;
	e = u + o;
	while (s < e && maildir_is_wsp(*s))
		s++;
	while (e > s && maildir_is_wsp(e[-1]))
		e--;
	if (e - s >= 2 && *s == '<' && e[-1] == '>') {
		s++;
		e--;
	}
	*e = '\0';
	ret = (size_t)(e - s) == ulen && str_eq_icase(s, user);
	free(u);
	return ret;
}

bool
maildir_header_has_delivered_to(const char *hdr, size_t len,
    const char *user)
{
	static const char field[] = "delivered-to";
	const char	*p = hdr, *end = hdr + len, *nl, *q, *vend;
	size_t		 flen = sizeof(field) - 1;

	while (p < end) {
		/* The empty line ends the header section. */
		if (*p == '\n' || (*p == '\r' && p + 1 < end && p[1] == '\n'))
			return false;
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			nl = end;
		if ((size_t)(nl - p) > flen &&
		    maildir_prefix_icase(p, field, flen)) {
			q = p + flen;
			while (q < nl && maildir_is_wsp(*q))
				q++;
			if (q < nl && *q == ':') {
				/* The value, with its continuation lines. */
				vend = nl;
				while (vend < end && vend + 1 < end &&
				    maildir_is_wsp(vend[1])) {
					vend = memchr(vend + 1, '\n',
					    (size_t)(end - vend - 1));
					if (vend == NULL)
						vend = end;
				}
				if (maildir_value_is(q + 1, vend, user))
					return true;
				nl = vend;
			}
		}
		p = nl < end ? nl + 1 : end;
	}
	return false;
}

size_t
maildir_lf_convert(struct maildir_lf *st, const uint8_t *in, size_t len,
    uint8_t *out)
{
	const uint8_t	*p = in, *end = in + len, *cr;
	size_t		 o = 0, run;

	if (len == 0)
		return 0;
	if (st->cr) {
		st->cr = false;
		if (*p != '\n')
			out[o++] = '\r';	/* a bare CR stays */
	}
	/* Copy runs up to each CR with memchr/memcpy, not byte by byte. */
	while (p < end) {
		cr = memchr(p, '\r', (size_t)(end - p));
		run = (size_t)((cr != NULL ? cr : end) - p);
		memcpy(out + o, p, run);
		o += run;
		if (cr == NULL)
			break;
		p = cr + 1;
		if (p == end) {
			st->cr = true;		/* decided by the next chunk */
			break;
		}
		if (*p != '\n')
			out[o++] = '\r';
	}
	return o;
}

size_t
maildir_lf_finish(struct maildir_lf *st, uint8_t *out)
{
	if (!st->cr)
		return 0;
	st->cr = false;
	out[0] = '\r';
	return 1;
}

int
maildir_copy(int in_fd, uint64_t offset, uint64_t length, int out_fd,
    uint64_t *written_r, const char **error_r)
{
	struct maildir_lf st = { false };
	uint8_t		*in, *out;
	uint64_t	 done = 0, written = 0;
	size_t		 want, o;
	ssize_t		 n;
	int		 saved;

	in = xmalloc(MAILDIR_COPY_CHUNK);
	out = xmalloc(MAILDIR_COPY_CHUNK + 1);
	while (done < length) {
		want = length - done > MAILDIR_COPY_CHUNK ?
		    MAILDIR_COPY_CHUNK : (size_t)(length - done);
		n = pread(in_fd, in, want, (off_t)(offset + done));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			saved = errno;
			*error_r = error_fmt("read queue file: %m");
			goto fail;
		}
		if (n == 0) {
			saved = EIO;
			*error_r = "queue file is shorter than the message";
			goto fail;
		}
		done += (uint64_t)n;
		o = maildir_lf_convert(&st, in, (size_t)n, out);
		if (o > 0 && file_write_all(out_fd, out, o) == -1) {
			saved = errno;
			*error_r = error_fmt("write: %m");
			goto fail;
		}
		written += o;
	}
	o = maildir_lf_finish(&st, out);
	if (o > 0 && file_write_all(out_fd, out, o) == -1) {
		saved = errno;
		*error_r = error_fmt("write: %m");
		goto fail;
	}
	written += o;
	free(in);
	free(out);
	*written_r = written;
	return 0;
fail:
	free(in);
	free(out);
	return maildir_fail(saved);
}
