/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for the mail store (common/mstore*.c), each in a temporary
 * Maildir: mailboxes (create, list, special-use, delete, rename with
 * children, INBOX rename), subscriptions, UIDs for files dropped into
 * new/ and cur/ (name order, new/ moved to cur/), UIDs kept across
 * reopen, a deleted or damaged index, a deleted uidlist (new
 * UIDVALIDITY), a torn uidlist line, a second process (fork) appending
 * and storing, flags and keywords in file names, the keyword limit,
 * expunge, APPEND with CRLF input, COPY, STATUS counts, hostile files,
 * the inotify watch, and a 100,000-message folder opened twice (timed).
 */
#include "config.h"

#include <sys/types.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <event2/event.h>

#include "common/buf.h"
#include "common/mstore.h"
#include "common/str.h"
#include "common/xmalloc.h"

#include "common/banned.h"

static char		 tdir[64];
static char		 maildir[128];
static struct mstore	*st;

static int
rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
setup(void)
{
	struct mstore_limits	 lim;
	const char		*error = NULL;

	ck_assert_int_eq(str_copy(tdir, sizeof(tdir),
	    "/tmp/mstore-test-XXXXXX"), 0);
	ck_assert_ptr_nonnull(mkdtemp(tdir));
	ck_assert_int_lt(snprintf(maildir, sizeof(maildir), "%s/Maildir",
	    tdir), (int)sizeof(maildir));
	mstore_limits_init(&lim);
	st = mstore_open(maildir, &lim, &error);
	ck_assert_msg(st != NULL, "mstore_open: %s", error);
}

static void
teardown(void)
{
	mstore_close(&st);
	(void)nftw(tdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- helpers -------------------------------------------------------- */

static char *
path_of(const char *rel)
{
	return xasprintf("%s/%s", maildir, rel);
}

/* rename(2) of two paths relative to the Maildir. */
static int
mv(const char *from, const char *to)
{
	char	*a = path_of(from), *b = path_of(to);
	int	 ret = rename(a, b);

	free(a);
	free(b);
	return ret;
}

static int
rm(const char *rel)
{
	char	*a = path_of(rel);
	int	 ret = unlink(a);

	free(a);
	return ret;
}

/* The content of a file relative to the Maildir. */
static char *
slurp(const char *rel)
{
	char	*p = path_of(rel), *data = xmalloc(1 << 16);
	int	 fd = open(p, O_RDONLY);
	ssize_t	 n;

	ck_assert_int_ne(fd, -1);
	n = read(fd, data, (1 << 16) - 1);
	ck_assert_int_ge(n, 0);
	data[n] = '\0';
	(void)close(fd);
	free(p);
	return data;
}

/* The one file name in dir whose name starts with prefix. */
static char *
find_name(const char *dir, const char *contains)
{
	char		*p = path_of(dir), *found = NULL;
	DIR		*d = opendir(p);
	struct dirent	*de;

	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL)
		if (strstr(de->d_name, contains) != NULL) {
			ck_assert_ptr_null(found);
			found = xstrdup(de->d_name);
		}
	closedir(d);
	free(p);
	return found;
}

static void
put_file(const char *rel, const char *data)
{
	char	*p = path_of(rel);
	int	 fd;

	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_msg(fd != -1, "create %s", p);
	ck_assert_int_eq(write(fd, data, strlen(data)), (ssize_t)strlen(data));
	(void)close(fd);
	free(p);
}

static bool
exists(const char *rel)
{
	struct stat	 sb;
	char		*p = path_of(rel);
	bool		 ok = lstat(p, &sb) == 0;

	free(p);
	return ok;
}

static size_t
count_dir(const char *rel)
{
	char		*p = path_of(rel);
	DIR		*d = opendir(p);
	struct dirent	*de;
	size_t		 n = 0;

	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	free(p);
	return n;
}

static struct mstore_folder *
fopen_ok(const char *name)
{
	struct mstore_folder	*f;
	enum mstore_err		 code;
	const char		*error = NULL;

	f = mstore_folder_open(st, name, &code, &error);
	ck_assert_msg(f != NULL, "open %s: %s", name, error);
	return f;
}

static void
sync_ok(struct mstore_folder *f)
{
	const char	*error = NULL;

	ck_assert_msg(mstore_folder_sync(f, &error) == 0, "sync: %s", error);
}

/* The messages of f as "uid name;" text. */
static char *
dump(struct mstore_folder *f)
{
	struct mstore_snap	*snap;
	struct mstore_msg	 m;
	struct buf		*b = buf_new(0, 1 << 24);
	const char		*error = NULL;
	char			*s;
	int			 rc;

	ck_assert_int_eq(mstore_snap_begin(f, &snap, &error), 0);
	m.uid = 0;
	while ((rc = mstore_snap_next(snap, m.uid + 1, &m, &error)) == 1)
		ck_assert_int_eq(buf_printf(b, "%u %s;", m.uid, m.name), 0);
	ck_assert_int_eq(rc, 0);
	mstore_snap_end(&snap);
	s = buf_steal(b);
	buf_free(&b);
	return s;
}

static struct mstore_msg
get_msg(struct mstore_folder *f, uint32_t uid, char *name, size_t size)
{
	struct mstore_snap	*snap;
	struct mstore_msg	 m;
	const char		*error = NULL;

	ck_assert_int_eq(mstore_snap_begin(f, &snap, &error), 0);
	ck_assert_int_eq(mstore_snap_get(snap, uid, &m, &error), 1);
	ck_assert_int_eq(str_copy(name, size, m.name), 0);
	m.name = name;
	mstore_snap_end(&snap);
	return m;
}

static uint32_t
append_ok(struct mstore_folder *f, const char *data, uint8_t flags,
    uint32_t kw)
{
	struct mstore_append	*a;
	enum mstore_err		 code;
	const char		*error = NULL;
	uint32_t		 uid = 0;

	a = mstore_append_begin(f, &code, &error);
	ck_assert_msg(a != NULL, "append_begin: %s", error);
	ck_assert_int_eq(mstore_append_write(a, data, strlen(data), &code,
	    &error), 0);
	ck_assert_msg(mstore_append_commit(&a, flags, kw, 1000000000, &uid,
	    &code, &error) == 0, "commit: %s", error);
	ck_assert_ptr_null(a);
	return uid;
}

static struct mstore_status
status_ok(struct mstore_folder *f)
{
	struct mstore_status	 s;
	const char		*error = NULL;

	ck_assert_msg(mstore_folder_status(f, true, &s, &error) == 0,
	    "status: %s", error);
	return s;
}

#define CHECK_STATUS(f, n_msgs, n_unseen, n_del) do {			\
	struct mstore_status s_ = status_ok(f);				\
	ck_assert_uint_eq(s_.messages, (n_msgs));			\
	ck_assert_uint_eq(s_.unseen, (n_unseen));			\
	ck_assert_uint_eq(s_.deleted, (n_del));				\
} while (0)

/* ---- mailboxes -------------------------------------------------------- */

START_TEST(test_mailboxes)
{
	struct mstore_mailbox	*list;
	enum mstore_err		 code;
	const char		*error = NULL;
	ssize_t			 n;

	ck_assert_int_eq(mstore_create(st, "Sent", MSTORE_USE_SENT, &code,
	    &error), 0);
	ck_assert_int_eq(mstore_create(st, "a/b", 0, &code, &error), 0);
	ck_assert_int_eq(mstore_create(st, "a", 0, &code, &error), 0);
	ck_assert_int_eq(mstore_create(st, "a.b/..", 0, &code, &error), 0);
	ck_assert(exists(".Sent/maildirfolder"));
	ck_assert(exists(".a%2eb.%2e%2e/cur"));
	ck_assert_int_eq(mstore_create(st, "Sent", 0, &code, &error), -1);
	ck_assert_int_eq(code, MSTORE_E_EXISTS);
	ck_assert_int_eq(mstore_create(st, "inbox", 0, &code, &error), -1);
	ck_assert_int_eq(code, MSTORE_E_NAME);
	ck_assert_int_eq(mstore_create(st, "a//b", 0, &code, &error), -1);
	ck_assert_int_eq(code, MSTORE_E_NAME);
	/* Junk the list must skip. */
	{
		char	*p = path_of(".nocur");

		ck_assert_int_eq(mkdir(p, 0700), 0);
		free(p);
		p = path_of(".100%");
		ck_assert_int_eq(mkdir(p, 0700), 0);
		free(p);
		p = path_of(".link");
		ck_assert_int_eq(symlink("/tmp", p), 0);
		free(p);
	}
	n = mstore_list(st, &list, &error);
	ck_assert_int_eq(n, 5);
	ck_assert_str_eq(list[0].name, "INBOX");
	ck_assert_str_eq(list[1].name, "Sent");
	ck_assert_uint_eq(list[1].use, MSTORE_USE_SENT);
	ck_assert_str_eq(list[2].name, "a");
	ck_assert_str_eq(list[3].name, "a/b");
	ck_assert_str_eq(list[4].name, "a.b/..");
	ck_assert_uint_eq(list[2].use, 0);
	mstore_list_free(list, (size_t)n);

	ck_assert_int_eq(mstore_delete(st, "a", &code, &error), -1);
	ck_assert_int_eq(code, MSTORE_E_HASCHILDREN);
	ck_assert_int_eq(mstore_delete(st, "INBOX", &code, &error), -1);
	ck_assert_int_eq(code, MSTORE_E_INBOX);
	ck_assert_int_eq(mstore_delete(st, "nope", &code, &error), -1);
	ck_assert_int_eq(code, MSTORE_E_NONEXISTENT);
	ck_assert_int_eq(mstore_delete(st, "nocur", &code, &error), -1);
	ck_assert_int_eq(code, MSTORE_E_NONEXISTENT);

	/* Rename with a child; the targets are checked first. */
	ck_assert_int_eq(mstore_create(st, "c/b", 0, &code, &error), 0);
	ck_assert_int_eq(mstore_rename(st, "a", "c", &code, &error), -1);
	ck_assert_int_eq(code, MSTORE_E_EXISTS);
	ck_assert(exists(".a/cur") && exists(".a.b/cur"));
	ck_assert_int_eq(mstore_delete(st, "c/b", &code, &error), 0);
	ck_assert(!exists(".c.b"));
	ck_assert_int_eq(mstore_rename(st, "a", "c", &code, &error), 0);
	ck_assert(!exists(".a") && !exists(".a.b"));
	ck_assert(exists(".c/cur") && exists(".c.b/cur"));
	ck_assert_int_eq(mstore_rename(st, "nope", "x", &code, &error), -1);
	ck_assert_int_eq(code, MSTORE_E_NONEXISTENT);
	ck_assert_int_eq(mstore_rename(st, "c", "INBOX", &code, &error), -1);
	ck_assert_int_eq(code, MSTORE_E_INBOX);
	ck_assert_int_eq(mstore_rename(st, "c", "Sent", &code, &error), -1);
	ck_assert_int_eq(code, MSTORE_E_EXISTS);
	/* Delete leaves nothing behind. */
	ck_assert_int_eq(mstore_delete(st, "c/b", &code, &error), 0);
	ck_assert_int_eq(mstore_delete(st, "c", &code, &error), 0);
	n = mstore_list(st, &list, &error);
	ck_assert_int_eq(n, 3);
	mstore_list_free(list, (size_t)n);
}
END_TEST

START_TEST(test_folder_limit)
{
	struct mstore_limits	 lim;
	struct mstore		*s2;
	enum mstore_err		 code;
	const char		*error = NULL;

	mstore_limits_init(&lim);
	lim.max_folders = 2;
	s2 = mstore_open(maildir, &lim, &error);
	ck_assert_ptr_nonnull(s2);
	ck_assert_int_eq(mstore_create(s2, "x1", 0, &code, &error), 0);
	ck_assert_int_eq(mstore_create(s2, "x2", 0, &code, &error), 0);
	ck_assert_int_eq(mstore_create(s2, "x3", 0, &code, &error), -1);
	ck_assert_int_eq(code, MSTORE_E_LIMIT);
	mstore_close(&s2);
	ck_assert_ptr_null(mstore_open("relative", &lim, &error));
}
END_TEST

START_TEST(test_subscriptions)
{
	struct mstore_mailbox	*list;
	const char		*error = NULL;
	ssize_t			 n;

	n = mstore_subscriptions(st, &list, &error);
	ck_assert_int_eq(n, 0);
	mstore_list_free(list, 0);
	ck_assert_int_eq(mstore_subscribe(st, "b", true, &error), 0);
	ck_assert_int_eq(mstore_subscribe(st, "a/x", true, &error), 0);
	ck_assert_int_eq(mstore_subscribe(st, "a/x", true, &error), 0);
	ck_assert_int_eq(mstore_subscribe(st, "inbox", true, &error), 0);
	ck_assert_int_eq(mstore_subscribe(st, "a//", true, &error), -1);
	n = mstore_subscriptions(st, &list, &error);
	ck_assert_int_eq(n, 3);
	ck_assert_str_eq(list[0].name, "INBOX");
	ck_assert_str_eq(list[1].name, "a/x");
	ck_assert_str_eq(list[2].name, "b");
	mstore_list_free(list, (size_t)n);
	ck_assert_int_eq(mstore_subscribe(st, "b", false, &error), 0);
	n = mstore_subscriptions(st, &list, &error);
	ck_assert_int_eq(n, 2);
	mstore_list_free(list, (size_t)n);
}
END_TEST

/* ---- UIDs ------------------------------------------------------------- */

/* Three delivered files and one in cur/ with flags. */
static void
drop_three(void)
{
	put_file("new/1000.M1P1Q1.host", "Subject: b\n\nbody\n");
	put_file("new/1000.M1P1Q0.host", "Subject: a\n\nbody\n");
	put_file("cur/1000.M1P1Q2.host,S=5:2,FS", "x\n\ny\n");
	put_file("new/.hidden", "x");
}


START_TEST(test_uids)
{
	struct mstore_folder	*f, *f2;
	struct mstore_msg	 m;
	char			*d, name[300];
	uint32_t		 v;

	drop_three();
	f = fopen_ok("INBOX");
	d = dump(f);
	ck_assert_str_eq(d, "1 1000.M1P1Q0.host:2,;2 1000.M1P1Q1.host:2,;"
	    "3 1000.M1P1Q2.host,S=5:2,FS;");
	free(d);
	ck_assert_uint_eq(count_dir("new"), 0);	/* .hidden stays */
	ck_assert(exists("new/.hidden"));
	ck_assert(exists("cur/1000.M1P1Q0.host:2,"));
	ck_assert_uint_eq(mstore_folder_uidnext(f), 4);
	v = mstore_folder_uidvalidity(f);
	ck_assert_uint_ne(v, 0);
	m = get_msg(f, 3, name, sizeof(name));
	ck_assert_uint_eq(m.flags, MSTORE_F_FLAGGED | MSTORE_F_SEEN);
	CHECK_STATUS(f, 3, 2, 0);
	/* Same process, same directory: the same folder. */
	f2 = fopen_ok("inbox");
	ck_assert_ptr_eq(f, f2);
	mstore_folder_close(&f2);
	mstore_folder_close(&f);
	ck_assert_ptr_null(f);

	/* More mail; reopen: the old UIDs stay. */
	put_file("new/0999.M1P1Q0.host", "early name, later UID\n");
	f = fopen_ok("INBOX");
	d = dump(f);
	ck_assert_str_eq(d, "1 1000.M1P1Q0.host:2,;2 1000.M1P1Q1.host:2,;"
	    "3 1000.M1P1Q2.host,S=5:2,FS;4 0999.M1P1Q0.host:2,;");
	free(d);
	ck_assert_uint_eq(mstore_folder_uidvalidity(f), v);
	/* Another tool renames and removes files. */
	ck_assert_int_eq(mv("cur/1000.M1P1Q0.host:2,",
	    "cur/1000.M1P1Q0.host:2,RS"), 0);
	ck_assert_int_eq(rm("cur/1000.M1P1Q1.host:2,"), 0);
	sync_ok(f);
	d = dump(f);
	ck_assert_str_eq(d, "1 1000.M1P1Q0.host:2,RS;"
	    "3 1000.M1P1Q2.host,S=5:2,FS;4 0999.M1P1Q0.host:2,;");
	free(d);
	m = get_msg(f, 1, name, sizeof(name));
	ck_assert_uint_eq(m.flags, MSTORE_F_ANSWERED | MSTORE_F_SEEN);
	CHECK_STATUS(f, 3, 1, 0);
	mstore_folder_close(&f);
}
END_TEST

START_TEST(test_index_rebuild)
{
	struct mstore_folder	*f;
	char			*d, *d2, *p;
	uint32_t		 v, next;
	int			 fd;

	drop_three();
	f = fopen_ok("INBOX");
	d = dump(f);
	v = mstore_folder_uidvalidity(f);
	next = mstore_folder_uidnext(f);
	mstore_folder_close(&f);

	/* Index removed. */
	ck_assert_int_eq(rm("postern-index"), 0);
	ck_assert_int_eq(rm("postern-index-lock"), 0);
	f = fopen_ok("INBOX");
	d2 = dump(f);
	ck_assert_str_eq(d, d2);
	free(d2);
	ck_assert_uint_eq(mstore_folder_uidvalidity(f), v);
	ck_assert_uint_eq(mstore_folder_uidnext(f), next);
	CHECK_STATUS(f, 3, 2, 0);
	mstore_folder_close(&f);

	/* Index overwritten with junk. */
	p = path_of("postern-index");
	fd = open(p, O_WRONLY);
	ck_assert_int_ne(fd, -1);
	for (int i = 0; i < 64; i++)
		ck_assert_int_eq(write(fd, "junk junk junk junk junk junk!!\n",
		    32), 32);
	(void)close(fd);
	free(p);
	f = fopen_ok("INBOX");
	d2 = dump(f);
	ck_assert_str_eq(d, d2);
	free(d2);
	ck_assert_uint_eq(mstore_folder_uidvalidity(f), v);
	ck_assert(exists("postern-index.broken"));
	CHECK_STATUS(f, 3, 2, 0);
	mstore_folder_close(&f);

	/* Empty index file. */
	p = path_of("postern-index");
	ck_assert_int_eq(truncate(p, 0), 0);
	free(p);
	f = fopen_ok("INBOX");
	d2 = dump(f);
	ck_assert_str_eq(d, d2);
	free(d2);
	mstore_folder_close(&f);
	free(d);
}
END_TEST

START_TEST(test_uidlist_lost)
{
	struct mstore_folder	*f;
	char			*d;
	uint32_t		 v;

	drop_three();
	f = fopen_ok("INBOX");
	v = mstore_folder_uidvalidity(f);
	mstore_folder_close(&f);
	ck_assert_int_eq(rm("postern-uidlist"), 0);
	f = fopen_ok("INBOX");
	ck_assert_uint_gt(mstore_folder_uidvalidity(f), v);
	d = dump(f);
	ck_assert_str_eq(d, "1 1000.M1P1Q0.host:2,;2 1000.M1P1Q1.host:2,;"
	    "3 1000.M1P1Q2.host,S=5:2,FS;");
	free(d);
	CHECK_STATUS(f, 3, 2, 0);
	mstore_folder_close(&f);
}
END_TEST

START_TEST(test_uidlist_torn)
{
	struct mstore_folder	*f;
	char			*d, *p;
	uint32_t		 v;
	struct stat		 sb;
	int			 keep_index;

	for (keep_index = 0; keep_index < 2; keep_index++) {
		teardown();
		setup();
		drop_three();
		f = fopen_ok("INBOX");
		v = mstore_folder_uidvalidity(f);
		mstore_folder_close(&f);
		/* Cut in the middle of the last line ("3 1000.M1P..."). */
		p = path_of("postern-uidlist");
		ck_assert_int_eq(stat(p, &sb), 0);
		ck_assert_int_eq(truncate(p, sb.st_size - 10), 0);
		free(p);
		if (!keep_index)
			ck_assert_int_eq(rm("postern-index"), 0);
		f = fopen_ok("INBOX");
		ck_assert_uint_eq(mstore_folder_uidvalidity(f), v);
		d = dump(f);
		/*
		 * With the index: the uidlist is shorter than the index
		 * says, so the index is rebuilt; without: the torn line
		 * ends the uidlist.  Either way UID 3 may have been
		 * given (the index had it; the torn line names it), so
		 * the message gets 4: UIDNEXT never goes down.
		 */
		ck_assert_str_eq(d, "1 1000.M1P1Q0.host:2,;"
		    "2 1000.M1P1Q1.host:2,;4 1000.M1P1Q2.host,S=5:2,FS;");
		ck_assert_uint_eq(mstore_folder_uidnext(f), 5);
		free(d);
		/* The uidlist is whole again: new mail appends cleanly. */
		put_file("new/2000.M1P1Q0.host", "x\n");
		mstore_folder_close(&f);
		f = fopen_ok("INBOX");
		ck_assert_uint_eq(mstore_folder_uidnext(f), 6);
		mstore_folder_close(&f);
		ck_assert_int_eq(rm("postern-index"), 0);
		f = fopen_ok("INBOX");
		d = dump(f);
		ck_assert_str_eq(d, "1 1000.M1P1Q0.host:2,;"
		    "2 1000.M1P1Q1.host:2,;4 1000.M1P1Q2.host,S=5:2,FS;"
		    "5 2000.M1P1Q0.host:2,;");
		free(d);
		mstore_folder_close(&f);
	}
}
END_TEST

/* ---- flags, keywords, expunge ----------------------------------------- */

START_TEST(test_store)
{
	struct mstore_folder	*f;
	struct mstore_msg	 m;
	enum mstore_err		 code;
	const char		*error = NULL;
	char			 name[300], kw[32];
	uint32_t		 uids[3] = { 1, 2, 3 };
	size_t			 changed;
	uint64_t		 ms;
	int			 i, a, b;

	drop_three();
	f = fopen_ok("INBOX");
	ms = mstore_folder_modseq(f);
	ck_assert_int_eq(mstore_keyword_index(f, "$Junk", false, &code,
	    &error), -1);
	ck_assert_int_eq(code, MSTORE_E_NONEXISTENT);
	a = mstore_keyword_index(f, "$Junk", true, &code, &error);
	ck_assert_int_eq(a, 0);
	b = mstore_keyword_index(f, "work", true, &code, &error);
	ck_assert_int_eq(b, 1);
	ck_assert_int_eq(mstore_keyword_index(f, "$junk", false, &code,
	    &error), 0);
	ck_assert_int_eq(mstore_keyword_index(f, "bad word", true, &code,
	    &error), -1);
	ck_assert_uint_eq(mstore_keyword_count(f), 2);
	ck_assert_str_eq(mstore_keyword_name(f, 1), "work");

	ck_assert_int_eq(mstore_store(f, uids, 3, MSTORE_STORE_ADD,
	    MSTORE_F_SEEN | MSTORE_F_DELETED, 1U << b, &changed, &error), 0);
	ck_assert_uint_eq(changed, 3);
	ck_assert_uint_gt(mstore_folder_modseq(f), ms);
	ck_assert(exists("cur/1000.M1P1Q0.host:2,STb"));
	ck_assert(exists("cur/1000.M1P1Q2.host,S=5:2,FSTb"));
	CHECK_STATUS(f, 3, 0, 3);
	ck_assert_int_eq(mstore_store(f, uids, 3, MSTORE_STORE_REMOVE,
	    MSTORE_F_DELETED, 0, &changed, &error), 0);
	ck_assert_uint_eq(changed, 3);
	CHECK_STATUS(f, 3, 0, 0);
	ck_assert_int_eq(mstore_store(f, uids + 1, 1, MSTORE_STORE_REPLACE,
	    MSTORE_F_DRAFT, 1U << a, &changed, &error), 0);
	ck_assert(exists("cur/1000.M1P1Q1.host:2,Da"));
	m = get_msg(f, 2, name, sizeof(name));
	ck_assert_uint_eq(m.flags, MSTORE_F_DRAFT);
	ck_assert_uint_eq(m.keywords, 1U << a);
	CHECK_STATUS(f, 3, 1, 0);
	/* No change: nothing renamed. */
	ck_assert_int_eq(mstore_store(f, uids + 1, 1, MSTORE_STORE_ADD,
	    MSTORE_F_DRAFT, 0, &changed, &error), 0);
	ck_assert_uint_eq(changed, 0);
	/* Unknown letters in a name survive a flag change. */
	ck_assert_int_eq(mv("cur/1000.M1P1Q1.host:2,Da",
	    "cur/1000.M1P1Q1.host:2,DXa"), 0);
	ck_assert_int_eq(mstore_store(f, uids + 1, 1, MSTORE_STORE_ADD,
	    MSTORE_F_FLAGGED, 0, &changed, &error), 0);
	ck_assert_uint_eq(changed, 1);
	ck_assert(exists("cur/1000.M1P1Q1.host:2,DFXa"));

	/* 26 keywords, not 27. */
	for (i = 2; i < MSTORE_KEYWORDS_MAX; i++) {
		(void)snprintf(kw, sizeof(kw), "kw%d", i);
		ck_assert_int_eq(mstore_keyword_index(f, kw, true, &code,
		    &error), i);
	}
	ck_assert_int_eq(mstore_keyword_index(f, "one-too-many", true, &code,
	    &error), -1);
	ck_assert_int_eq(code, MSTORE_E_LIMIT);
	ck_assert_int_eq(mstore_store(f, uids, 1, MSTORE_STORE_ADD, 0,
	    1U << 25, &changed, &error), 0);
	ck_assert(exists("cur/1000.M1P1Q0.host:2,Sbz"));

	/* Expunge, one already gone. */
	ck_assert_int_eq(mstore_expunge(f, uids, 2, &error), 0);
	ck_assert_int_eq(mstore_expunge(f, uids, 2, &error), 0);
	ck_assert(!exists("cur/1000.M1P1Q0.host:2,Sbz"));
	CHECK_STATUS(f, 1, 0, 0);
	mstore_folder_close(&f);
	/* Keywords survive a reopen. */
	f = fopen_ok("INBOX");
	ck_assert_uint_eq(mstore_keyword_count(f), 26);
	ck_assert_str_eq(mstore_keyword_name(f, 0), "$Junk");
	m = get_msg(f, 3, name, sizeof(name));
	ck_assert_uint_eq(m.keywords, 1U << b);
	mstore_folder_close(&f);
}
END_TEST

/* A file renamed by another process between sync and STORE. */
START_TEST(test_store_renamed)
{
	struct mstore_folder	*f;
	const char		*error = NULL;
	uint32_t		 uid = 1;
	size_t			 changed;
	struct buf		*b = buf_new(0, 4096);

	drop_three();
	f = fopen_ok("INBOX");
	ck_assert_int_eq(mv("cur/1000.M1P1Q0.host:2,",
	    "cur/1000.M1P1Q0.host:2,F"), 0);
	ck_assert_int_eq(mstore_store(f, &uid, 1, MSTORE_STORE_ADD,
	    MSTORE_F_SEEN, 0, &changed, &error), 0);
	ck_assert_uint_eq(changed, 1);
	ck_assert(exists("cur/1000.M1P1Q0.host:2,FS"));
	ck_assert_int_eq(mv("cur/1000.M1P1Q0.host:2,FS",
	    "cur/1000.M1P1Q0.host:2,"), 0);
	ck_assert_int_eq(mstore_msg_read(f, 1, b, &error), 1);
	ck_assert_str_eq(b->data, "Subject: a\r\n\r\nbody\r\n");
	ck_assert_int_eq(rm("cur/1000.M1P1Q0.host:2,"), 0);
	buf_reset(b);
	ck_assert_int_eq(mstore_msg_read(f, 1, b, &error), 0);
	ck_assert_int_eq(mstore_msg_read(f, 99, b, &error), 0);
	buf_free(&b);
	mstore_folder_close(&f);
}
END_TEST

/* ---- append, read, copy -------------------------------------------------- */

START_TEST(test_append)
{
	struct mstore_folder	*f;
	struct mstore_append	*a;
	struct mstore_msg	 m;
	enum mstore_err		 code;
	const char		*error = NULL;
	const char		*in = "Subject: x\r\n\r\nline\r\nlone\rcr\r\n"
	    "bare lf\nend\r\n";
	char			*fname, *data, name[300];
	struct buf		*b = buf_new(0, 4096);
	uint32_t		 uid = 0, uids[1];
	size_t			 i;

	f = fopen_ok("INBOX");
	/* Byte by byte: every CR at a write boundary. */
	a = mstore_append_begin(f, &code, &error);
	ck_assert_ptr_nonnull(a);
	for (i = 0; in[i] != '\0'; i++)
		ck_assert_int_eq(mstore_append_write(a, in + i, 1, &code,
		    &error), 0);
	ck_assert_int_eq(mstore_append_commit(&a, MSTORE_F_SEEN, 0,
	    1234567890, &uid, &code, &error), 0);
	ck_assert_uint_eq(uid, 1);
	fname = find_name("cur", ",W=");
	ck_assert_ptr_nonnull(fname);
	ck_assert_ptr_nonnull(strstr(fname, ":2,S"));
	{
		char	*rel = xasprintf("cur/%s", fname);

		data = slurp(rel);
		free(rel);
	}
	ck_assert_str_eq(data, "Subject: x\n\nline\nlone\rcr\nbare lf\nend\n");
	ck_assert_int_eq(mstore_msg_read(f, uid, b, &error), 1);
	ck_assert_str_eq(b->data, "Subject: x\r\n\r\nline\r\nlone\rcr\r\n"
	    "bare lf\r\nend\r\n");
	m = get_msg(f, uid, name, sizeof(name));
	ck_assert_uint_eq(m.size, b->len);
	ck_assert_int_eq(m.date, 1234567890);
	{
		char	want[64];

		(void)snprintf(want, sizeof(want), ",S=%zu,W=%zu",
		    strlen(data), b->len);
		ck_assert_ptr_nonnull(strstr(fname, want));
	}
	free(fname);
	free(data);
	CHECK_STATUS(f, 1, 0, 0);
	/* A trailing CR is kept. */
	uid = append_ok(f, "a\r", 0, 0);
	ck_assert_uint_eq(uid, 2);
	buf_reset(b);
	ck_assert_int_eq(mstore_msg_read(f, uid, b, &error), 1);
	ck_assert_str_eq(b->data, "a\r");
	/* Abort leaves nothing. */
	a = mstore_append_begin(f, &code, &error);
	ck_assert_int_eq(mstore_append_write(a, "x", 1, &code, &error), 0);
	mstore_append_abort(&a);
	ck_assert_ptr_null(a);
	ck_assert_uint_eq(count_dir("tmp"), 0);
	/* A buffer too small: -1, the buffer as it was. */
	buf_free(&b);
	b = buf_new(0, 4);
	ck_assert_int_eq(mstore_msg_read(f, 1, b, &error), -1);
	ck_assert_uint_eq(b->len, 0);
	/* Size of a message without ,W=: counted. */
	put_file("cur/3000.M1P1Q0.host:2,", "a\nb\r\nc\n");
	sync_ok(f);
	uids[0] = 3;
	ck_assert_int_eq(mstore_msg_stat(f, uids, 1, &error), 0);
	m = get_msg(f, 3, name, sizeof(name));
	ck_assert_uint_eq(m.size, 9);
	ck_assert_int_gt(m.date, 0);
	/* The cache. */
	buf_free(&b);
	b = buf_new(0, 4096);
	ck_assert_int_eq(mstore_cache_get(f, 3, MSTORE_CACHE_ENVELOPE, b,
	    &error), 0);
	ck_assert_int_eq(mstore_cache_put(f, 3, MSTORE_CACHE_ENVELOPE,
	    "(NIL)", 5, &error), 0);
	ck_assert_int_eq(mstore_cache_get(f, 3, MSTORE_CACHE_ENVELOPE, b,
	    &error), 1);
	ck_assert_str_eq(b->data, "(NIL)");
	ck_assert_int_eq(mstore_expunge(f, uids, 1, &error), 0);
	buf_reset(b);
	ck_assert_int_eq(mstore_cache_get(f, 3, MSTORE_CACHE_ENVELOPE, b,
	    &error), 0);
	buf_free(&b);
	mstore_folder_close(&f);
}
END_TEST

START_TEST(test_append_limit)
{
	struct mstore_limits	 lim;
	struct mstore		*s2;
	struct mstore_folder	*f;
	struct mstore_append	*a;
	enum mstore_err		 code;
	const char		*error = NULL;
	uint32_t		 uid;

	mstore_limits_init(&lim);
	lim.max_messages = 1;
	s2 = mstore_open(maildir, &lim, &error);
	f = mstore_folder_open(s2, "INBOX", &code, &error);
	ck_assert_ptr_nonnull(f);
	uid = append_ok(f, "one\n", 0, 0);
	ck_assert_uint_eq(uid, 1);
	a = mstore_append_begin(f, &code, &error);
	ck_assert_int_eq(mstore_append_write(a, "two\n", 4, &code, &error), 0);
	ck_assert_int_eq(mstore_append_commit(&a, 0, 0, 0, &uid, &code,
	    &error), -1);
	ck_assert_int_eq(code, MSTORE_E_LIMIT);
	ck_assert_uint_eq(count_dir("cur"), 1);
	ck_assert_uint_eq(count_dir("tmp"), 0);
	mstore_folder_close(&f);
	mstore_close(&s2);
}
END_TEST

START_TEST(test_copy)
{
	struct mstore_folder	*src, *dst;
	struct mstore_msg	 m;
	enum mstore_err		 code;
	const char		*error = NULL;
	uint32_t		 uids[4] = { 1, 2, 3, 9 }, su[4], du[4];
	size_t			 count;
	char			 name[300];
	int			 k;

	ck_assert_int_eq(mstore_create(st, "Dst", 0, &code, &error), 0);
	drop_three();
	src = fopen_ok("INBOX");
	dst = fopen_ok("Dst");
	/* dst knows other keywords first. */
	ck_assert_int_eq(mstore_keyword_index(dst, "other", true, &code,
	    &error), 0);
	k = mstore_keyword_index(src, "work", true, &code, &error);
	ck_assert_int_eq(k, 0);
	ck_assert_int_eq(mstore_store(src, uids + 1, 1, MSTORE_STORE_ADD,
	    MSTORE_F_ANSWERED, 1U << k, NULL, &error), 0);
	(void)append_ok(dst, "already here\n", 0, 0);
	ck_assert_int_eq(mstore_copy(src, uids, 4, dst, su, du, &count, &code,
	    &error), 0);
	ck_assert_uint_eq(count, 3);
	ck_assert_uint_eq(su[0], 1);
	ck_assert_uint_eq(su[2], 3);
	ck_assert_uint_eq(du[0], 2);
	ck_assert_uint_eq(du[1], 3);
	ck_assert_uint_eq(du[2], 4);
	m = get_msg(dst, 3, name, sizeof(name));
	ck_assert_uint_eq(m.flags, MSTORE_F_ANSWERED);
	ck_assert_str_eq(mstore_keyword_name(dst, 1), "work");
	ck_assert_uint_eq(m.keywords, 1U << 1);
	ck_assert_ptr_nonnull(strstr(m.name, ":2,Rb"));
	m = get_msg(dst, 4, name, sizeof(name));
	ck_assert_uint_eq(m.flags, MSTORE_F_FLAGGED | MSTORE_F_SEEN);
	ck_assert_ptr_nonnull(strstr(m.name, ",S=5:2,FS"));
	CHECK_STATUS(dst, 4, 3, 0);
	CHECK_STATUS(src, 3, 2, 0);
	/* MOVE = copy + expunge. */
	ck_assert_int_eq(mstore_expunge(src, su, count, &error), 0);
	CHECK_STATUS(src, 0, 0, 0);
	CHECK_STATUS(dst, 4, 3, 0);
	mstore_folder_close(&src);
	mstore_folder_close(&dst);
}
END_TEST

START_TEST(test_inbox_rename)
{
	struct mstore_folder	*f;
	enum mstore_err		 code;
	const char		*error = NULL;
	uint32_t		 v;
	char			*d;

	ck_assert_int_eq(mstore_create(st, "INBOX/child", 0, &code, &error),
	    0);
	drop_three();
	f = fopen_ok("INBOX");
	v = mstore_folder_uidvalidity(f);
	ck_assert_int_eq(mstore_rename(st, "INBOX", "Old", &code, &error), 0);
	sync_ok(f);
	CHECK_STATUS(f, 0, 0, 0);
	ck_assert_uint_eq(mstore_folder_uidvalidity(f), v);
	ck_assert_uint_eq(mstore_folder_uidnext(f), 4);
	mstore_folder_close(&f);
	f = fopen_ok("Old");
	CHECK_STATUS(f, 3, 2, 0);
	d = dump(f);
	ck_assert_ptr_nonnull(strstr(d, "3 "));
	free(d);
	mstore_folder_close(&f);
	ck_assert(exists(".INBOX.child/cur"));
	ck_assert_int_eq(mstore_rename(st, "INBOX", "Old", &code, &error), -1);
	ck_assert_int_eq(code, MSTORE_E_EXISTS);
	/* An open folder renamed in this process keeps working. */
	f = fopen_ok("Old");
	ck_assert_int_eq(mstore_rename(st, "Old", "New", &code, &error), 0);
	ck_assert_str_eq(mstore_folder_name(f), "New");
	(void)append_ok(f, "after rename\n", 0, 0);
	CHECK_STATUS(f, 4, 3, 0);
	mstore_folder_close(&f);
}
END_TEST

START_TEST(test_delete_open)
{
	struct mstore_folder	*f;
	struct mstore_append	*a;
	enum mstore_err		 code;
	const char		*error = NULL;

	ck_assert_int_eq(mstore_create(st, "Gone", 0, &code, &error), 0);
	f = fopen_ok("Gone");
	(void)append_ok(f, "x\n", 0, 0);
	ck_assert_int_eq(mstore_delete(st, "Gone", &code, &error), 0);
	ck_assert(mstore_folder_deleted(f));
	sync_ok(f);
	{
		struct mstore_snap	*snap;

		ck_assert_int_eq(mstore_snap_begin(f, &snap, &error), 0);
		ck_assert_uint_eq(mstore_snap_count(snap), 0);
		mstore_snap_end(&snap);
	}
	a = mstore_append_begin(f, &code, &error);
	ck_assert_ptr_null(a);
	ck_assert_int_eq(code, MSTORE_E_EXPUNGED);
	mstore_folder_close(&f);
	/* Recreated: a new folder, not the deleted one. */
	ck_assert_int_eq(mstore_create(st, "Gone", 0, &code, &error), 0);
	f = fopen_ok("Gone");
	CHECK_STATUS(f, 0, 0, 0);
	ck_assert(!mstore_folder_deleted(f));
	mstore_folder_close(&f);
	ck_assert_ptr_null(mstore_folder_open(st, "Nope", &code, &error));
	ck_assert_int_eq(code, MSTORE_E_NONEXISTENT);
}
END_TEST

START_TEST(test_hostile)
{
	struct mstore_folder	*f;
	struct buf		*b = buf_new(0, 4096);
	const char		*error = NULL;
	char			*p, *d, big[400];

	put_file("cur/ok.1:2,S", "fine\n");
	p = path_of("cur/evil:2,S");
	ck_assert_int_eq(symlink("/etc/passwd", p), 0);
	free(p);
	p = path_of("cur/adir");
	ck_assert_int_eq(mkdir(p, 0700), 0);
	free(p);
	put_file("cur/ctl\001name", "x\n");
	put_file("cur/nl\nname", "x\n");
	memset(big, 'b', 250);
	big[250] = '\0';
	p = xasprintf("cur/%s", big);
	put_file(p, "x\n");
	free(p);
	p = path_of("new/fifo");
	ck_assert_int_eq(mkfifo(p, 0600), 0);
	free(p);
	f = fopen_ok("INBOX");
	d = dump(f);
	/* The symlink and the FIFO may be listed (d_type), never read. */
	ck_assert_ptr_nonnull(strstr(d, "ok.1:2,S"));
	ck_assert_ptr_null(strstr(d, "ctl"));
	ck_assert_ptr_null(strstr(d, "nl"));
	ck_assert_ptr_null(strstr(d, "bbbb"));
	ck_assert_ptr_null(strstr(d, "adir"));
	ck_assert_ptr_null(strstr(d, "evil"));
	free(d);
	/* The uidlist is still well-formed text. */
	d = slurp("postern-uidlist");
	ck_assert_ptr_null(strchr(d, '\001'));
	free(d);
	/* A message replaced by a symlink is not followed. */
	ck_assert_int_eq(rm("cur/ok.1:2,S"), 0);
	p = path_of("cur/ok.1:2,S");
	ck_assert_int_eq(symlink("/etc/passwd", p), 0);
	free(p);
	ck_assert_int_ne(mstore_msg_read(f, 1, b, &error), 1);
	ck_assert_uint_eq(b->len, 0);
	buf_free(&b);
	mstore_folder_close(&f);
}
END_TEST

START_TEST(test_compact_recent)
{
	struct mstore_folder	*f;
	struct mstore_status	 sts;
	const char		*error = NULL;
	uint32_t		*uids, first;
	char			 name[128], *d;
	int			 i, fd, dfd;
	struct stat		 sb;

	put_file("tmp/base", "x\n");
	d = path_of("cur");
	dfd = open(d, O_RDONLY | O_DIRECTORY);
	free(d);
	d = path_of("tmp");
	fd = open(d, O_RDONLY | O_DIRECTORY);
	free(d);
	ck_assert(dfd != -1 && fd != -1);
	for (i = 0; i < 1200; i++) {
		(void)snprintf(name, sizeof(name), "1%05d.M1P1Q%d.h:2,", i, i);
		ck_assert_int_eq(linkat(fd, "base", dfd, name, 0), 0);
	}
	(void)close(fd);
	(void)close(dfd);
	f = fopen_ok("INBOX");
	/* \Recent: all new; EXAMINE sees, SELECT claims. */
	ck_assert_int_eq(mstore_folder_recent(f, false, &first, &error), 0);
	ck_assert_uint_eq(first, 1);
	ck_assert_int_eq(mstore_folder_recent(f, true, &first, &error), 0);
	ck_assert_uint_eq(first, 1);
	ck_assert_int_eq(mstore_folder_recent(f, true, &first, &error), 0);
	ck_assert_uint_eq(first, 1201);
	ck_assert_int_eq(mstore_folder_status(f, true, &sts, &error), 0);
	ck_assert_uint_eq(sts.recent, 0);
	ck_assert_uint_eq(sts.size, 1200 * 3);
	uids = xreallocarray(NULL, 1199, sizeof(*uids));
	for (i = 0; i < 1199; i++)
		uids[i] = (uint32_t)i + 1;
	ck_assert_int_eq(mstore_expunge(f, uids, 1199, &error), 0);
	free(uids);
	/* 1200 lines for one message: rewritten. */
	d = path_of("postern-uidlist");
	ck_assert_int_eq(stat(d, &sb), 0);
	free(d);
	ck_assert_int_lt(sb.st_size, 100);
	(void)append_ok(f, "new\n", 0, 0);
	ck_assert_int_eq(mstore_folder_status(f, false, &sts, &error), 0);
	ck_assert_uint_eq(sts.recent, 1);
	ck_assert_uint_eq(sts.messages, 2);
	ck_assert_uint_eq(sts.uidnext, 1202);
	mstore_folder_close(&f);
	ck_assert_int_eq(rm("postern-index"), 0);
	f = fopen_ok("INBOX");
	d = dump(f);
	ck_assert_ptr_nonnull(strstr(d, "1200 101199.M1P1Q1199.h:2,;1201 "));
	free(d);
	ck_assert_uint_eq(mstore_folder_uidnext(f), 1202);
	mstore_folder_close(&f);
}
END_TEST

/* ---- two processes ---------------------------------------------------- */

START_TEST(test_fork)
{
	struct mstore_folder	*f;
	struct mstore_msg	 m;
	pid_t			 pid;
	int			 status, i, go[2];
	uint32_t		 uid = 1;
	char			 name[300], c = 'g';

	drop_three();
	ck_assert_int_eq(pipe(go), 0);
	/* Fork before opening anything: the registry is per process. */
	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		struct mstore_folder	*f2;
		struct mstore_append	*a;
		enum mstore_err		 code;
		const char		*error = NULL;
		uint32_t		 u;

		(void)close(go[1]);
		if (read(go[0], &c, 1) != 1)
			_exit(1);
		f2 = mstore_folder_open(st, "INBOX", &code, &error);
		if (f2 == NULL)
			_exit(2);
		for (i = 0; i < 5; i++) {
			a = mstore_append_begin(f2, &code, &error);
			if (a == NULL || mstore_append_write(a, "child\n", 6,
			    &code, &error) == -1 ||
			    mstore_append_commit(&a, 0, 0, 0, &u, &code,
			    &error) == -1)
				_exit(3);
		}
		u = 1;
		if (mstore_store(f2, &u, 1, MSTORE_STORE_ADD,
		    MSTORE_F_FLAGGED, 0, NULL, &error) == -1)
			_exit(4);
		mstore_folder_close(&f2);
		_exit(0);
	}
	(void)close(go[0]);
	f = fopen_ok("INBOX");
	CHECK_STATUS(f, 3, 2, 0);
	ck_assert_int_eq(write(go[1], &c, 1), 1);
	(void)close(go[1]);
	/* The parent reads meanwhile. */
	for (i = 0; i < 20; i++) {
		char *d = dump(f);

		free(d);
		sync_ok(f);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
	sync_ok(f);
	CHECK_STATUS(f, 8, 7, 0);
	ck_assert_uint_eq(mstore_folder_uidnext(f), 9);
	m = get_msg(f, uid, name, sizeof(name));
	ck_assert_uint_eq(m.flags, MSTORE_F_FLAGGED);
	mstore_folder_close(&f);
}
END_TEST

/* ---- watches ------------------------------------------------------------ */

struct watch_state {
	struct event_base	*base;
	struct mstore_watch	*self;
	struct mstore_watch	*other;
	int			 fired;
};

static void
watch_cb(void *ctx)
{
	struct watch_state	*ws = ctx;

	ws->fired++;
	/* Free our own watch and another one from inside the callback. */
	mstore_watch_free(&ws->self);
	mstore_watch_free(&ws->other);
	event_base_loopbreak(ws->base);
}

static void
watch_cb2(void *ctx)
{
	int	*n = ctx;

	(*n)++;
}

START_TEST(test_watch)
{
	struct mstore_folder	*f;
	struct event_base	*base;
	struct watch_state	 ws;
	struct timeval		 tv = { 3, 0 };
	struct mstore_watch	*w2;
	const char		*error = NULL;
	int			 n2 = 0;

	base = event_base_new();
	f = fopen_ok("INBOX");
	memset(&ws, 0, sizeof(ws));
	ws.base = base;
	ws.other = mstore_watch_new(base, f, watch_cb2, &n2, &error);
	ck_assert_ptr_nonnull(ws.other);
	ws.self = mstore_watch_new(base, f, watch_cb, &ws, &error);
	ck_assert_ptr_nonnull(ws.self);
	w2 = mstore_watch_new(base, f, watch_cb2, &n2, &error);
	ck_assert_ptr_nonnull(w2);
	/* "Another tool" delivers. */
	put_file("tmp/5000.M1P1Q0.host", "hello\n");
	ck_assert_int_eq(mv("tmp/5000.M1P1Q0.host", "new/5000.M1P1Q0.host"),
	    0);
	(void)event_base_loopexit(base, &tv);
	(void)event_base_loop(base, 0);
	ck_assert_int_eq(ws.fired, 1);
	ck_assert_ptr_null(ws.self);
	ck_assert_ptr_null(ws.other);
	sync_ok(f);
	CHECK_STATUS(f, 1, 1, 0);
	/* Our own writes fire too. */
	n2 = 0;
	(void)append_ok(f, "own\n", 0, 0);
	tv.tv_sec = 1;
	(void)event_base_loopexit(base, &tv);
	(void)event_base_loop(base, 0);
	ck_assert_int_ge(n2, 1);
	mstore_watch_free(&w2);
	ck_assert_ptr_null(w2);
	mstore_folder_close(&f);
	event_base_free(base);
}
END_TEST

/* ---- 100,000 messages ------------------------------------------------- */

static double
now_s(void)
{
	struct timespec	ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

START_TEST(test_big)
{
	struct mstore_folder	*f;
	struct mstore_status	 s;
	struct timespec		 old[2];
	const char		*error = NULL;
	char			 name[128], *p;
	double			 t0, t1, t2, t3, tc;
	int			 i, fd, dfd;

	/*
	 * Hard links to two small files (an inode holds at most 65,000
	 * links on ext4): creating 100,000 files with content costs
	 * tens of seconds of system time here, links one.
	 */
	tc = now_s();
	put_file("tmp/base0", "x\n");
	put_file("tmp/base1", "x\n");
	p = path_of("cur");
	dfd = open(p, O_RDONLY | O_DIRECTORY);
	ck_assert_int_ne(dfd, -1);
	{
		char	*t = path_of("tmp");

		fd = open(t, O_RDONLY | O_DIRECTORY);
		ck_assert_int_ne(fd, -1);
		free(t);
	}
	for (i = 0; i < 100000; i++) {
		(void)snprintf(name, sizeof(name),
		    "17000%05d.M%06dP4242Q%d.bench.example,S=2,W=3:2,%s",
		    i, i, i, i % 3 == 0 ? "S" : "");
		ck_assert_int_eq(linkat(fd, i % 2 ? "base1" : "base0", dfd,
		    name, 0), 0);
	}
	(void)close(fd);
	ck_assert_int_eq(rm("tmp/base0"), 0);
	ck_assert_int_eq(rm("tmp/base1"), 0);
	(void)close(dfd);
	/* As if delivered long ago (the 2-second rule would rescan). */
	old[0].tv_sec = old[1].tv_sec = time(NULL) - 3600;
	old[0].tv_nsec = old[1].tv_nsec = 0;
	ck_assert_int_eq(utimensat(AT_FDCWD, p, old, 0), 0);
	free(p);
	p = path_of("new");
	ck_assert_int_eq(utimensat(AT_FDCWD, p, old, 0), 0);
	free(p);

	printf("mstore 100k: files made in %.3f s\n", now_s() - tc);
	t0 = now_s();
	f = fopen_ok("INBOX");
	t1 = now_s();
	ck_assert_int_eq(mstore_folder_status(f, false, &s, &error), 0);
	ck_assert_uint_eq(s.messages, 100000);
	ck_assert_uint_eq(s.unseen, 100000 - 33334);
	mstore_folder_close(&f);
	t2 = now_s();
	f = fopen_ok("INBOX");
	t3 = now_s();
	ck_assert_uint_eq(mstore_folder_uidnext(f), 100001);
	{
		struct mstore_snap	*snap;
		struct mstore_msg	 m;
		uint32_t		 n = 0;
		double			 t4 = now_s();

		ck_assert_int_eq(mstore_snap_begin(f, &snap, &error), 0);
		while (mstore_snap_next(snap, n + 1, &m, &error) == 1)
			n++;
		mstore_snap_end(&snap);
		ck_assert_uint_eq(n, 100000);
		printf("mstore 100k: iterate %.3f s\n", now_s() - t4);
	}
	mstore_folder_close(&f);
	printf("mstore 100k: first open %.3f s, second open %.4f s\n",
	    t1 - t0, t3 - t2);
	ck_assert(t1 - t0 < 5.0);
	ck_assert(t3 - t2 < 0.2);
}
END_TEST

static Suite *
mstore_suite(void)
{
	Suite	*s = suite_create("mstore");
	TCase	*tc = tcase_create("mstore");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_mailboxes);
	tcase_add_test(tc, test_folder_limit);
	tcase_add_test(tc, test_subscriptions);
	tcase_add_test(tc, test_uids);
	tcase_add_test(tc, test_index_rebuild);
	tcase_add_test(tc, test_uidlist_lost);
	tcase_add_test(tc, test_uidlist_torn);
	tcase_add_test(tc, test_store);
	tcase_add_test(tc, test_store_renamed);
	tcase_add_test(tc, test_append);
	tcase_add_test(tc, test_append_limit);
	tcase_add_test(tc, test_copy);
	tcase_add_test(tc, test_inbox_rename);
	tcase_add_test(tc, test_delete_open);
	tcase_add_test(tc, test_hostile);
	tcase_add_test(tc, test_compact_recent);
	tcase_add_test(tc, test_fork);
	tcase_add_test(tc, test_watch);
	tcase_add_test(tc, test_big);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(mstore_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
