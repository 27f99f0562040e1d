/* SPDX-License-Identifier: ISC */
/*
 * The user's mail store (mstore.h): opening the Maildir, the list of
 * mailboxes with their special-use attributes, CREATE, DELETE, RENAME
 * (INBOX's included) and subscriptions.  Folders and messages are in
 * mstore_folder.c and mstore_index.c.
 *
 * What it trusts: the Maildir path (the caller's, from authd).  Nothing
 * inside it: folder names pass mbox_name_from_disk() to be listed, every
 * directory is opened relative to the Maildir's descriptor without
 * following symbolic links, and the small text files are bounded.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/time.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "error.h"
#include "log.h"
#include "mbox_name.h"
#include "mstore.h"
#include "mstore_int.h"
#include "str.h"
#include "xmalloc.h"

#include "banned.h"

#define MSTORE_SPECIAL_USE	"postern-special-use"
#define MSTORE_SUBS_TMP		"postern-subscriptions.tmp"
#define MSTORE_DELETED_PREFIX	"..postern-deleted."
/* Host part of unique names, bytes of the escaped name. */
#define MSTORE_HOST_MAX		64
/* Depth of directories removed below a deleted folder. */
#define MSTORE_DELETE_DEPTH	3

static const struct {
	const char	*name;
	unsigned int	 use;
} mstore_uses[] = {
	{ "\\All",	MSTORE_USE_ALL },
	{ "\\Archive",	MSTORE_USE_ARCHIVE },
	{ "\\Drafts",	MSTORE_USE_DRAFTS },
	{ "\\Flagged",	MSTORE_USE_FLAGGED },
	{ "\\Junk",	MSTORE_USE_JUNK },
	{ "\\Sent",	MSTORE_USE_SENT },
	{ "\\Trash",	MSTORE_USE_TRASH },
};

void
mstore_limits_init(struct mstore_limits *lim)
{
	lim->max_folders = MSTORE_DEF_MAX_FOLDERS;
	lim->max_messages = MSTORE_DEF_MAX_MESSAGES;
}

/*
 * "<sec>.M<usec>P<pid>Q<counter>.<host>" as the delivery agent makes
 * them, with "/", ":" and other odd bytes of the host as \ooo.
 */
int
mstore_unique_name(uint64_t *counter, char *dst, size_t size)
{
	struct timeval	tv;
	char		host[256], esc[MSTORE_HOST_MAX + 5];
	size_t		i, o = 0;
	int		n;
	char		c;

	if (gethostname(host, sizeof(host)) == -1 || host[0] == '\0')
		str_copy_cut(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	for (i = 0; host[i] != '\0' && o < MSTORE_HOST_MAX; i++) {
		c = host[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '-' ||
		    c == '_') {
			esc[o++] = c;
			continue;
		}
		esc[o++] = '\\';
		esc[o++] = (char)('0' + (((unsigned char)c >> 6) & 7));
		esc[o++] = (char)('0' + (((unsigned char)c >> 3) & 7));
		esc[o++] = (char)('0' + ((unsigned char)c & 7));
	}
	esc[o] = '\0';
	(void)gettimeofday(&tv, NULL);
	n = snprintf(dst, size, "%" PRIu64 ".M%" PRIu64 "P%" PRIu64 "Q%"
	    PRIu64 ".%s", (uint64_t)tv.tv_sec, (uint64_t)tv.tv_usec,
	    (uint64_t)getpid(), ++*counter, esc);
	return n < 0 || (size_t)n >= size ? -1 : 0;
}

/* ---- the store ------------------------------------------------------ */

static int
mstore_mkdir(int dfd, const char *name)
{
	return mkdirat(dfd, name, 0700) == -1 && errno != EEXIST ? -1 : 0;
}

struct mstore *
mstore_open(const char *maildir, const struct mstore_limits *lim,
    const char **error_r)
{
	struct mstore		*st;
	struct mbox_name_limits	 nlim = MBOX_NAME_LIMITS_DEFAULT;
	size_t			 len = strlen(maildir);

	if (maildir[0] != '/') {
		*error_r = "Maildir is not an absolute path";
		return NULL;
	}
	while (len > 1 && maildir[len - 1] == '/')
		len--;
	if (mkdir(maildir, 0700) == -1 && errno != EEXIST) {
		*error_r = error_fmt("mkdir %s: %m", maildir);
		return NULL;
	}
	st = xcalloc(1, sizeof(*st));
	st->root = xstrndup(maildir, len);
	st->lim = *lim;
	st->nlim = nlim;
	st->rootfd = open(st->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (st->rootfd == -1 || mstore_mkdir(st->rootfd, "tmp") == -1 ||
	    mstore_mkdir(st->rootfd, "new") == -1 ||
	    mstore_mkdir(st->rootfd, "cur") == -1) {
		*error_r = error_fmt("Maildir %s: %m", st->root);
		mstore_close(&st);
		return NULL;
	}
	return st;
}

void
mstore_close(struct mstore **stp)
{
	struct mstore	*st = *stp;

	if (st == NULL)
		return;
	if (st->rootfd != -1)
		(void)close(st->rootfd);
	free(st->root);
	free(st);
	*stp = NULL;
}

/* ---- listing ------------------------------------------------------------ */

static int
mstore_mailbox_cmp(const void *a, const void *b)
{
	const struct mstore_mailbox	*ma = a, *mb = b;

	return mbox_name_cmp(ma->name, mb->name);
}

/* The special-use attributes of folder dir (relative to the root). */
static unsigned int
mstore_special_use_read(struct mstore *st, const char *dir)
{
	struct buf	 b;
	const char	*p, *end, *nl;
	unsigned int	 use = 0;
	size_t		 i, len;
	bool		 missing;
	int		 dfd;

	dfd = openat(st->rootfd, dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (dfd == -1)
		return 0;
	buf_init(&b, 0, MSTORE_SMALL_FILE_MAX + 1);
	if (mstore_read_small(dfd, MSTORE_SPECIAL_USE, MSTORE_SMALL_FILE_MAX,
	    &b, &missing) == 0) {
		end = b.data + b.len;
		for (p = b.data; p < end; p = nl + 1) {
			if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
				nl = end;
			len = (size_t)(nl - p);
			for (i = 0; i < N_ELEMENTS(mstore_uses); i++)
				if (strlen(mstore_uses[i].name) == len &&
				    strncasecmp(mstore_uses[i].name, p,
				    len) == 0)
					use |= mstore_uses[i].use;
		}
	}
	buf_deinit(&b);
	(void)close(dfd);
	return use;
}

/* True when dir (relative to the root) is a folder holding cur/. */
static bool
mstore_is_folder(struct mstore *st, const char *dir)
{
	struct stat	sb;
	char		path[MBOX_NAME_DISK_MAX + 8];

	if (fstatat(st->rootfd, dir, &sb, AT_SYMLINK_NOFOLLOW) == -1 ||
	    !S_ISDIR(sb.st_mode))
		return false;
	if ((size_t)snprintf(path, sizeof(path), "%s/cur", dir) >=
	    sizeof(path))
		return false;
	return fstatat(st->rootfd, path, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISDIR(sb.st_mode);
}

ssize_t
mstore_list(struct mstore *st, struct mstore_mailbox **list_r,
    const char **error_r)
{
	struct mstore_mailbox	*list = NULL;
	struct dirent		*de;
	struct buf		 name;
	size_t			 n = 0, cap = 0;
	DIR			*d;
	int			 fd;
	const char		*err;

	*list_r = NULL;
	fd = openat(st->rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1 || (d = fdopendir(fd)) == NULL) {
		*error_r = error_fmt("%s: %m", st->root);
		if (fd != -1)
			(void)close(fd);
		return -1;
	}
	buf_init(&name, 0, MBOX_NAME_MAX * 4 + 1);
	list = xreallocarray(NULL, 16, sizeof(*list));
	cap = 16;
	list[n].name = xstrdup("INBOX");
	list[n].use = mstore_special_use_read(st, ".");
	n++;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] != '.' || (de->d_type != DT_DIR &&
		    de->d_type != DT_UNKNOWN))
			continue;
		buf_reset(&name);
		if (mbox_name_from_disk(de->d_name, strlen(de->d_name),
		    &st->nlim, &name, &err) == -1 ||
		    !mstore_is_folder(st, de->d_name))
			continue;
		if (n == cap) {
			cap *= 2;
			list = xreallocarray(list, cap, sizeof(*list));
		}
		list[n].name = xstrdup(name.data);
		list[n].use = mstore_special_use_read(st, de->d_name);
		n++;
	}
	closedir(d);
	buf_deinit(&name);
	qsort(list, n, sizeof(*list), mstore_mailbox_cmp);
	*list_r = list;
	return (ssize_t)n;
}

void
mstore_list_free(struct mstore_mailbox *list, size_t count)
{
	size_t	i;

	if (list == NULL)
		return;
	for (i = 0; i < count; i++)
		free(list[i].name);
	free(list);
}

/* ---- create ------------------------------------------------------------- */

/* The folder name of name into disk (reset first); 0, or -1 with NAME. */
static int
mstore_disk_name(struct mstore *st, const char *name, struct buf *disk,
    enum mstore_err *code_r, const char **error_r)
{
	buf_reset(disk);
	if (mbox_name_to_disk(name, strlen(name), &st->nlim, disk,
	    error_r) == -1) {
		*code_r = MSTORE_E_NAME;
		return -1;
	}
	return 0;
}

static enum mstore_err
mstore_errno_code(int e)
{
	return e == ENOSPC || e == EDQUOT ? MSTORE_E_NOSPACE :
	    MSTORE_E_INTERNAL;
}

int
mstore_create(struct mstore *st, const char *name, unsigned int use,
    enum mstore_err *code_r, const char **error_r)
{
	struct mstore_mailbox	*list;
	struct buf		 disk, text;
	ssize_t			 count;
	size_t			 i;
	int			 dfd = -1, fd, ret = -1;

	*code_r = MSTORE_E_INTERNAL;
	buf_init(&disk, 0, MBOX_NAME_DISK_MAX + 1);
	buf_init(&text, 0, 1024);
	if (mstore_disk_name(st, name, &disk, code_r, error_r) == -1)
		goto out;
	if (disk.len == 0) {
		*code_r = MSTORE_E_NAME;
		*error_r = "INBOX exists always";
		goto out;
	}
	if (mstore_is_folder(st, disk.data)) {
		*code_r = MSTORE_E_EXISTS;
		*error_r = "mailbox exists";
		goto out;
	}
	if ((count = mstore_list(st, &list, error_r)) == -1)
		goto out;
	mstore_list_free(list, (size_t)count);
	if ((size_t)count - 1 >= st->lim.max_folders) {
		*code_r = MSTORE_E_LIMIT;
		*error_r = "too many mailboxes";
		goto out;
	}
	if (mkdirat(st->rootfd, disk.data, 0700) == -1 && errno != EEXIST) {
		*code_r = mstore_errno_code(errno);
		*error_r = error_fmt("mkdir %s/%s: %m", st->root, disk.data);
		goto out;
	}
	dfd = openat(st->rootfd, disk.data, O_RDONLY | O_DIRECTORY |
	    O_NOFOLLOW | O_CLOEXEC);
	if (dfd == -1) {
		*error_r = error_fmt("open %s/%s: %m", st->root, disk.data);
		goto out;
	}
	/* cur/ last: a folder without it is not listed yet. */
	if (mstore_mkdir(dfd, "tmp") == -1 || mstore_mkdir(dfd, "new") == -1)
		goto fail_errno;
	fd = openat(dfd, "maildirfolder", O_WRONLY | O_CREAT | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	if (fd == -1)
		goto fail_errno;
	(void)close(fd);
	for (i = 0; i < N_ELEMENTS(mstore_uses); i++)
		if ((use & mstore_uses[i].use) != 0 &&
		    buf_printf(&text, "%s\n", mstore_uses[i].name) == -1)
			abort();
	if (text.len > 0 && mstore_write_file(dfd, MSTORE_SPECIAL_USE ".tmp",
	    MSTORE_SPECIAL_USE, text.data, text.len, error_r) == -1)
		goto out;
	if (mstore_mkdir(dfd, "cur") == -1)
		goto fail_errno;
	if (fsync(dfd) == -1 || fsync(st->rootfd) == -1)
		goto fail_errno;
	*code_r = MSTORE_E_NONE;
	ret = 0;
	goto out;
fail_errno:
	*code_r = mstore_errno_code(errno);
	*error_r = error_fmt("create %s/%s: %m", st->root, disk.data);
out:
	if (dfd != -1)
		(void)close(dfd);
	buf_deinit(&disk);
	buf_deinit(&text);
	return ret;
}

/* ---- delete ------------------------------------------------------------- */

/* Removes dirfd/name and what is in it, depth levels down. */
static int
mstore_remove_tree(int dirfd, const char *name, int depth)
{
	struct dirent	*de;
	DIR		*d;
	int		 fd, pass;

	for (pass = 0; pass < 2; pass++) {
		fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC);
		if (fd == -1 || (d = fdopendir(fd)) == NULL) {
			if (fd != -1)
				(void)close(fd);
			return -1;
		}
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 ||
			    strcmp(de->d_name, "..") == 0)
				continue;
			if (unlinkat(fd, de->d_name, 0) == -1 &&
			    (errno == EISDIR || errno == EPERM) && depth > 0)
				(void)mstore_remove_tree(fd, de->d_name,
				    depth - 1);
		}
		closedir(d);
		if (unlinkat(dirfd, name, AT_REMOVEDIR) == 0)
			return 0;
		if (errno != ENOTEMPTY && errno != EEXIST)
			return -1;
	}
	return -1;
}

/* The canonical names of the store, sorted, into names_r. */
static ssize_t
mstore_names(struct mstore *st, struct mstore_mailbox **list_r,
    const char ***names_r, const char **error_r)
{
	const char	**names;
	ssize_t		  count, i;

	if ((count = mstore_list(st, list_r, error_r)) == -1)
		return -1;
	names = xreallocarray(NULL, (size_t)count + 1, sizeof(*names));
	for (i = 0; i < count; i++)
		names[i] = (*list_r)[i].name;
	*names_r = names;
	return count;
}

int
mstore_delete(struct mstore *st, const char *name, enum mstore_err *code_r,
    const char **error_r)
{
	struct mstore_mailbox	 *list = NULL;
	const char		**names = NULL;
	struct buf		  disk, canon;
	struct stat		  sb;
	char			  gone[MSTORE_NAME_MAX + 1];
	uint64_t		  counter = 0;
	ssize_t			  count = 0;
	int			  ret = -1;

	*code_r = MSTORE_E_INTERNAL;
	buf_init(&disk, 0, MBOX_NAME_DISK_MAX + 1);
	buf_init(&canon, 0, MBOX_NAME_MAX + 1);
	if (mstore_disk_name(st, name, &disk, code_r, error_r) == -1 ||
	    mbox_name_normalize(name, strlen(name), &st->nlim, &canon,
	    error_r) == -1) {
		*code_r = MSTORE_E_NAME;
		goto out;
	}
	if (disk.len == 0) {
		*code_r = MSTORE_E_INBOX;
		*error_r = "INBOX cannot be deleted";
		goto out;
	}
	if (!mstore_is_folder(st, disk.data) ||
	    fstatat(st->rootfd, disk.data, &sb, AT_SYMLINK_NOFOLLOW) == -1) {
		*code_r = MSTORE_E_NONEXISTENT;
		*error_r = "no such mailbox";
		goto out;
	}
	if ((count = mstore_names(st, &list, &names, error_r)) == -1)
		goto out;
	if (mbox_name_has_children(names, (size_t)count, canon.data,
	    canon.len)) {
		*code_r = MSTORE_E_HASCHILDREN;
		*error_r = "mailbox has children";
		goto out;
	}
	/* Out of sight at once (one rename), then removed. */
	memcpy(gone, MSTORE_DELETED_PREFIX, sizeof(MSTORE_DELETED_PREFIX));
	if (mstore_unique_name(&counter, gone + sizeof(MSTORE_DELETED_PREFIX) -
	    1, sizeof(gone) - sizeof(MSTORE_DELETED_PREFIX) + 1) == -1 ||
	    renameat(st->rootfd, disk.data, st->rootfd, gone) == -1) {
		*error_r = error_fmt("delete %s/%s: %m", st->root, disk.data);
		goto out;
	}
	mstore_registry_deleted(sb.st_dev, sb.st_ino);
	if (mstore_remove_tree(st->rootfd, gone, MSTORE_DELETE_DEPTH) == -1)
		log_warning("mstore: %s/%s: not all removed: %m", st->root,
		    gone);
	(void)fsync(st->rootfd);
	*code_r = MSTORE_E_NONE;
	ret = 0;
out:
	free(names);
	mstore_list_free(list, count > 0 ? (size_t)count : 0);
	buf_deinit(&disk);
	buf_deinit(&canon);
	return ret;
}

/* ---- rename -------------------------------------------------------------- */

/* RENAME INBOX to: a new mailbox gets INBOX's messages. */
static int
mstore_rename_inbox(struct mstore *st, const char *to, enum mstore_err *code_r,
    const char **error_r)
{
	struct mstore_folder	*src = NULL, *dst = NULL;
	struct mstore_snap	*snap;
	struct mstore_msg	 m;
	uint32_t		*uids = NULL, *copied = NULL;
	size_t			 n = 0, cap = 0, count;
	int			 rc, ret = -1;

	if (mstore_create(st, to, 0, code_r, error_r) == -1)
		return -1;
	*code_r = MSTORE_E_INTERNAL;
	if ((src = mstore_folder_open(st, "INBOX", code_r, error_r)) == NULL ||
	    (dst = mstore_folder_open(st, to, code_r, error_r)) == NULL)
		goto out;
	if (mstore_snap_begin(src, &snap, error_r) == -1)
		goto out;
	m.uid = 0;
	while ((rc = mstore_snap_next(snap, m.uid + 1, &m, error_r)) == 1) {
		if (n == cap) {
			cap = cap == 0 ? 256 : cap * 2;
			uids = xreallocarray(uids, cap, sizeof(*uids));
		}
		uids[n++] = m.uid;
	}
	mstore_snap_end(&snap);
	if (rc == -1)
		goto out;
	copied = xreallocarray(NULL, n + 1, sizeof(*copied));
	if (n > 0 && (mstore_copy(src, uids, n, dst, copied, NULL, &count,
	    code_r, error_r) == -1 ||
	    mstore_expunge(src, copied, count, error_r) == -1))
		goto out;
	*code_r = MSTORE_E_NONE;
	ret = 0;
out:
	free(uids);
	free(copied);
	mstore_folder_close(&src);
	mstore_folder_close(&dst);
	return ret;
}

int
mstore_rename(struct mstore *st, const char *from, const char *to,
    enum mstore_err *code_r, const char **error_r)
{
	struct mstore_mailbox	 *list = NULL;
	const char		**names = NULL;
	struct buf		  fdisk, tdisk, cfrom, cto, tname;
	struct stat		  sb;
	char			**src = NULL, **dst = NULL, *path;
	size_t			  i, n = 0, flen;
	ssize_t			  count = 0;
	int			  ret = -1;

	*code_r = MSTORE_E_INTERNAL;
	buf_init(&fdisk, 0, MBOX_NAME_DISK_MAX + 1);
	buf_init(&tdisk, 0, MBOX_NAME_DISK_MAX + 1);
	buf_init(&cfrom, 0, MBOX_NAME_MAX + 1);
	buf_init(&cto, 0, MBOX_NAME_MAX + 1);
	buf_init(&tname, 0, MBOX_NAME_MAX * 2 + 2);
	if (mstore_disk_name(st, from, &fdisk, code_r, error_r) == -1 ||
	    mstore_disk_name(st, to, &tdisk, code_r, error_r) == -1 ||
	    mbox_name_normalize(from, strlen(from), &st->nlim, &cfrom,
	    error_r) == -1 ||
	    mbox_name_normalize(to, strlen(to), &st->nlim, &cto,
	    error_r) == -1) {
		*code_r = MSTORE_E_NAME;
		goto out;
	}
	if (tdisk.len == 0) {
		*code_r = MSTORE_E_INBOX;
		*error_r = "cannot rename to INBOX";
		goto out;
	}
	if (fdisk.len == 0) {
		ret = mstore_rename_inbox(st, cto.data, code_r, error_r);
		goto out;
	}
	if (!mstore_is_folder(st, fdisk.data)) {
		*code_r = MSTORE_E_NONEXISTENT;
		*error_r = "no such mailbox";
		goto out;
	}
	if ((count = mstore_names(st, &list, &names, error_r)) == -1)
		goto out;
	/* from and each descendant, with its new name; all checked first. */
	src = xcalloc((size_t)count + 1, sizeof(*src));
	dst = xcalloc((size_t)count + 1, sizeof(*dst));
	flen = cfrom.len;
	for (i = 0; i < (size_t)count; i++) {
		if (strncmp(names[i], cfrom.data, flen) != 0 ||
		    (names[i][flen] != '\0' && names[i][flen] != '/'))
			continue;
		buf_reset(&tname);
		if (buf_append(&tname, cto.data, cto.len) == -1 ||
		    buf_append_str(&tname, names[i] + flen) == -1 ||
		    mstore_disk_name(st, tname.data, &tdisk, code_r,
		    error_r) == -1 || tdisk.len == 0) {
			*code_r = MSTORE_E_NAME;
			*error_r = "new name of a child mailbox too long";
			goto out;
		}
		if (fstatat(st->rootfd, tdisk.data, &sb,
		    AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOENT) {
			*code_r = MSTORE_E_EXISTS;
			*error_r = "mailbox exists";
			goto out;
		}
		if (mstore_disk_name(st, names[i], &fdisk, code_r,
		    error_r) == -1)
			goto out;
		src[n] = xstrdup(fdisk.data);
		dst[n] = xstrdup(tdisk.data);
		n++;
	}
	for (i = 0; i < n; i++) {
		if (fstatat(st->rootfd, src[i], &sb,
		    AT_SYMLINK_NOFOLLOW) == -1 ||
		    renameat2(st->rootfd, src[i], st->rootfd, dst[i],
		    RENAME_NOREPLACE) == -1) {
			*code_r = errno == EEXIST ? MSTORE_E_EXISTS :
			    MSTORE_E_INTERNAL;
			*error_r = error_fmt("rename %s/%s: %m", st->root,
			    src[i]);
			goto out;
		}
		buf_reset(&tname);
		if (mbox_name_from_disk(dst[i], strlen(dst[i]), &st->nlim,
		    &tname, error_r) == 0) {
			path = xasprintf("%s/%s", st->root, dst[i]);
			mstore_registry_renamed(sb.st_dev, sb.st_ino,
			    tname.data, path);
			free(path);
		}
	}
	(void)fsync(st->rootfd);
	*code_r = MSTORE_E_NONE;
	ret = 0;
out:
	for (i = 0; src != NULL && src[i] != NULL; i++)
		free(src[i]);
	for (i = 0; dst != NULL && dst[i] != NULL; i++)
		free(dst[i]);
	free(src);
	free(dst);
	free(names);
	mstore_list_free(list, count > 0 ? (size_t)count : 0);
	buf_deinit(&fdisk);
	buf_deinit(&tdisk);
	buf_deinit(&cfrom);
	buf_deinit(&cto);
	buf_deinit(&tname);
	return ret;
}

/* ---- subscriptions ----------------------------------------------------- */

static ssize_t
mstore_subs_parse(struct mstore *st, const struct buf *b,
    struct mstore_mailbox **list_r)
{
	struct mstore_mailbox	*list = NULL;
	struct buf		 canon;
	const char		*p, *end, *nl, *err;
	size_t			 n = 0, cap = 0, i, o;

	buf_init(&canon, 0, MBOX_NAME_MAX + 1);
	end = b->data + b->len;
	for (p = b->data; p < end; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		buf_reset(&canon);
		if (nl == p || mbox_name_normalize(p, (size_t)(nl - p),
		    &st->nlim, &canon, &err) == -1)
			continue;
		if (n == cap) {
			cap = cap == 0 ? 16 : cap * 2;
			list = xreallocarray(list, cap, sizeof(*list));
		}
		list[n].name = xstrdup(canon.data);
		list[n].use = 0;
		n++;
	}
	buf_deinit(&canon);
	if (n > 0)
		qsort(list, n, sizeof(*list), mstore_mailbox_cmp);
	for (i = 0, o = 0; i < n; i++) {
		if (o > 0 && strcmp(list[o - 1].name, list[i].name) == 0) {
			free(list[i].name);
			continue;
		}
		list[o++] = list[i];
	}
	*list_r = list;
	return (ssize_t)o;
}

static int
mstore_subs_read(struct mstore *st, struct buf *b, const char **error_r)
{
	bool	missing;

	if (mstore_read_small(st->rootfd, MSTORE_SUBSCRIPTIONS,
	    MSTORE_SUBS_MAX, b, &missing) == -1 && !missing) {
		*error_r = error_fmt("%s/%s: %m", st->root,
		    MSTORE_SUBSCRIPTIONS);
		return -1;
	}
	return 0;
}

ssize_t
mstore_subscriptions(struct mstore *st, struct mstore_mailbox **list_r,
    const char **error_r)
{
	struct buf	b;
	ssize_t		n;

	*list_r = NULL;
	buf_init(&b, 0, MSTORE_SUBS_MAX + 1);
	if (mstore_subs_read(st, &b, error_r) == -1) {
		buf_deinit(&b);
		return -1;
	}
	n = mstore_subs_parse(st, &b, list_r);
	buf_deinit(&b);
	return n;
}

int
mstore_subscribe(struct mstore *st, const char *name, bool on,
    const char **error_r)
{
	struct mstore_mailbox	*list = NULL;
	struct buf		 b, canon;
	ssize_t			 n = 0, i;
	bool			 found = false;
	int			 lockfd, ret = -1;

	buf_init(&canon, 0, MBOX_NAME_MAX + 1);
	buf_init(&b, 0, MSTORE_SUBS_MAX + 1);
	if (mbox_name_normalize(name, strlen(name), &st->nlim, &canon,
	    error_r) == -1) {
		buf_deinit(&canon);
		buf_deinit(&b);
		return -1;
	}
	lockfd = openat(st->rootfd, MSTORE_UIDLIST, O_RDWR | O_CREAT |
	    O_NOFOLLOW | O_CLOEXEC, 0600);
	if (lockfd == -1 || flock(lockfd, LOCK_EX) == -1) {
		*error_r = error_fmt("lock %s/%s: %m", st->root,
		    MSTORE_UIDLIST);
		goto out;
	}
	if (mstore_subs_read(st, &b, error_r) == -1)
		goto out;
	n = mstore_subs_parse(st, &b, &list);
	buf_reset(&b);
	for (i = 0; i < n; i++) {
		if (strcmp(list[i].name, canon.data) == 0) {
			found = true;
			if (!on)
				continue;
		}
		if (buf_printf(&b, "%s\n", list[i].name) == -1)
			goto full;
	}
	if (found == on) {
		ret = 0;
		goto out;
	}
	if (on && buf_printf(&b, "%s\n", canon.data) == -1)
		goto full;
	ret = mstore_write_file(st->rootfd, MSTORE_SUBS_TMP,
	    MSTORE_SUBSCRIPTIONS, b.data, b.len, error_r);
	goto out;
full:
	*error_r = "too many subscriptions";
out:
	if (lockfd != -1)
		(void)close(lockfd);
	mstore_list_free(list, n > 0 ? (size_t)n : 0);
	buf_deinit(&canon);
	buf_deinit(&b);
	return ret;
}
