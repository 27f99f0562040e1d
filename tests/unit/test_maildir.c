/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for delivery-agent/maildir: mailbox path checks (.., //, outside
 * mail_directory, symbolic links), folder creation and sub-address
 * folders, file names and their uniqueness, maildirsize parsing,
 * recalculation and appends (and the removal of a maildirsize whose
 * append failed), the read-only look of the RCPT-time quota check
 * (maildir_size_peek), quota decisions at the limit and one over,
 * the Delivered-To loop scan, and the CRLF to LF copy with a CR at a
 * 64 KiB read boundary.
 */
#include "config.h"

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "common/xmalloc.h"
#include "delivery-agent/maildir.h"

#include "common/banned.h"

/* A fresh temporary folder that stands for mail_directory. */
static char *
tmp_root(void)
{
	char	tmpl[] = "/tmp/test_maildir.XXXXXX";

	ck_assert_ptr_nonnull(mkdtemp(tmpl));
	return xstrdup(tmpl);
}

static void
rm_rf(const char *path)
{
	char	*cmd = xasprintf("rm -rf '%s'", path);

	ck_assert_int_eq(system(cmd), 0);
	free(cmd);
}

static void
write_file(const char *path, const void *data, size_t len)
{
	int	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
	ck_assert_int_eq(close(fd), 0);
}

static char *
read_file(const char *path, size_t *len_r)
{
	struct stat	 st;
	char		*b;
	int		 fd = open(path, O_RDONLY);

	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(fstat(fd, &st), 0);
	b = xmalloc((size_t)st.st_size + 1);
	ck_assert_int_eq(read(fd, b, (size_t)st.st_size), st.st_size);
	b[st.st_size] = '\0';
	(void)close(fd);
	if (len_r != NULL)
		*len_r = (size_t)st.st_size;
	return b;
}

static bool
is_dir_mode(const char *path, mode_t mode)
{
	struct stat st;

	return lstat(path, &st) == 0 && S_ISDIR(st.st_mode) &&
	    (st.st_mode & 07777) == mode;
}

/* ---- paths ---------------------------------------------------------- */

START_TEST(test_path_check)
{
	const char	*e;
	char		 path[MAILDIR_PATH_MAX + 2];
	size_t		 i;

	ck_assert_int_eq(maildir_path_check("/var/vmail",
	    "/var/vmail/example.test/alice/Maildir", &e), 0);
	ck_assert_int_eq(maildir_path_check("/var/vmail/",
	    "/var/vmail/a", &e), 0);
	ck_assert_int_eq(maildir_path_check("/", "/a/b", &e), 0);
	ck_assert_int_eq(maildir_path_check("/var/vmail",
	    "/var/vmail/a/../../etc", &e), -1);
	ck_assert_int_eq(maildir_path_check("/var/vmail", "/var/vmail/..",
	    &e), -1);
	ck_assert_int_eq(maildir_path_check("/var/vmail", "/var/vmail/a/./b",
	    &e), -1);
	ck_assert_int_eq(maildir_path_check("/var/vmail", "/var/vmail//a",
	    &e), -1);
	ck_assert_int_eq(maildir_path_check("/var/vmail", "/var/vmail/a/",
	    &e), -1);
	ck_assert_int_eq(maildir_path_check("/var/vmail", "/var/vmail", &e),
	    -1);
	ck_assert_int_eq(maildir_path_check("/var/vmail", "/var/vmail/", &e),
	    -1);
	ck_assert_int_eq(maildir_path_check("/var/vmail", "/var/vmailx/a",
	    &e), -1);
	ck_assert_str_eq(e, "mailbox path is outside mail_directory");
	ck_assert_int_eq(maildir_path_check("/var/vmail", "/etc/passwd", &e),
	    -1);
	ck_assert_int_eq(maildir_path_check("/var/vmail", "var/vmail/a", &e),
	    -1);
	ck_assert_int_eq(maildir_path_check("vmail", "vmail/a", &e), -1);
	/* "..x" and ".x" are names, not parent references. */
	ck_assert_int_eq(maildir_path_check("/m", "/m/..x/.y", &e), 0);

	/* The whole path at the maximum and one over. */
	memcpy(path, "/m", 2);
	for (i = 2; i < MAILDIR_PATH_MAX; i++)
		path[i] = (i % 200 == 2) ? '/' : 'a';
	path[MAILDIR_PATH_MAX] = '\0';
	ck_assert_uint_eq(strlen(path), MAILDIR_PATH_MAX);
	ck_assert_int_eq(maildir_path_check("/m", path, &e), 0);
	path[MAILDIR_PATH_MAX] = 'a';
	path[MAILDIR_PATH_MAX + 1] = '\0';
	ck_assert_int_eq(maildir_path_check("/m", path, &e), -1);

	/* A component of NAME_MAX bytes and one over. */
	memcpy(path, "/m/", 3);
	memset(path + 3, 'b', 255);
	path[258] = '\0';
	ck_assert_int_eq(maildir_path_check("/m", path, &e), 0);
	path[258] = 'b';
	path[259] = '\0';
	ck_assert_int_eq(maildir_path_check("/m", path, &e), -1);
}
END_TEST

START_TEST(test_folder_valid)
{
	char	name[MAILDIR_FOLDER_MAX + 2];

	ck_assert(maildir_folder_valid("lists"));
	ck_assert(maildir_folder_valid("Lists.postern-dev_2"));
	ck_assert(!maildir_folder_valid(""));
	ck_assert(!maildir_folder_valid(".lists"));
	ck_assert(!maildir_folder_valid("lists."));
	ck_assert(!maildir_folder_valid("a..b"));
	ck_assert(!maildir_folder_valid(".."));
	ck_assert(!maildir_folder_valid("a/b"));
	ck_assert(!maildir_folder_valid("a b"));
	ck_assert(!maildir_folder_valid("caf\xc3\xa9"));
	memset(name, 'x', MAILDIR_FOLDER_MAX);
	name[MAILDIR_FOLDER_MAX] = '\0';
	ck_assert(maildir_folder_valid(name));
	name[MAILDIR_FOLDER_MAX] = 'x';
	name[MAILDIR_FOLDER_MAX + 1] = '\0';
	ck_assert(!maildir_folder_valid(name));
}
END_TEST

START_TEST(test_prepare)
{
	char		*root = tmp_root(), *md, *p, *link;
	const char	*e;
	bool		 used;

	md = xasprintf("%s/example.test/alice/Maildir", root);
	ck_assert_int_eq(maildir_prepare(root, md, "", &used, &e), 0);
	ck_assert(!used);
	p = xasprintf("%s/example.test", root);
	ck_assert(is_dir_mode(p, 0700));
	free(p);
	ck_assert(is_dir_mode(md, 0700));
	p = xasprintf("%s/new", md);
	ck_assert(is_dir_mode(p, 0700));
	free(p);
	p = xasprintf("%s/cur", md);
	ck_assert(is_dir_mode(p, 0700));
	free(p);
	p = xasprintf("%s/tmp", md);
	ck_assert(is_dir_mode(p, 0700));
	free(p);
	/* Again: all there. */
	ck_assert_int_eq(maildir_prepare(root, md, "", &used, &e), 0);

	/* A folder that is missing: the inbox. */
	ck_assert_int_eq(maildir_prepare(root, md, "lists", &used, &e), 0);
	ck_assert(!used);
	/* One that exists: used, and completed. */
	p = xasprintf("%s/.lists", md);
	ck_assert_int_eq(mkdir(p, 0700), 0);
	free(p);
	ck_assert_int_eq(maildir_prepare(root, md, "lists", &used, &e), 0);
	ck_assert(used);
	p = xasprintf("%s/.lists/new", md);
	ck_assert(is_dir_mode(p, 0700));
	free(p);
	ck_assert_int_eq(maildir_prepare(root, md, "bad/name", &used, &e),
	    -1);

	/* A folder that is a symbolic link. */
	p = xasprintf("%s/.evil", md);
	ck_assert_int_eq(symlink("/tmp", p), 0);
	free(p);
	ck_assert_int_eq(maildir_prepare(root, md, "evil", &used, &e), -1);

	/* The Maildir itself a symbolic link: refused, nothing made there. */
	link = xasprintf("%s/example.test/bob", root);
	ck_assert_int_eq(symlink(root, link), 0);
	p = xasprintf("%s/Maildir", link);
	errno = 0;
	ck_assert_int_eq(maildir_prepare(root, p, "", &used, &e), -1);
	ck_assert(errno == ELOOP || errno == ENOTDIR);
	ck_assert_ptr_nonnull(strstr(e, "symbolic link"));
	free(p);
	p = xasprintf("%s/Maildir", root);
	ck_assert_int_eq(access(p, F_OK), -1);
	free(p);
	/* The last component a link. */
	p = xasprintf("%s/example.test/carol", root);
	ck_assert_int_eq(symlink(md, p), 0);
	ck_assert_int_eq(maildir_prepare(root, p, "", &used, &e), -1);
	ck_assert(errno == ELOOP || errno == ENOTDIR);
	ck_assert_ptr_nonnull(strstr(e, "symbolic link"));
	free(p);
	/* A file where a folder should be. */
	p = xasprintf("%s/example.test/file", root);
	write_file(p, "x", 1);
	free(p);
	p = xasprintf("%s/example.test/file/Maildir", root);
	ck_assert_int_eq(maildir_prepare(root, p, "", &used, &e), -1);
	free(p);
	/* Outside mail_directory, or with "..". */
	ck_assert_int_eq(maildir_prepare(root, "/tmp/x/Maildir", "", &used,
	    &e), -1);
	p = xasprintf("%s/a/../../x", root);
	ck_assert_int_eq(maildir_prepare(root, p, "", &used, &e), -1);
	free(p);
	/* mail_directory missing. */
	p = xasprintf("%s/none", root);
	free(md);
	md = xasprintf("%s/a", p);
	ck_assert_int_eq(maildir_prepare(p, md, "", &used, &e), -1);
	ck_assert_int_eq(errno, ENOENT);
	free(p);

	free(link);
	free(md);
	rm_rf(root);
	free(root);
}
END_TEST

/* ---- names ---------------------------------------------------------- */

START_TEST(test_names)
{
	char	h[64], n[MAILDIR_NAME_SIZE], n2[MAILDIR_NAME_SIZE];
	char	s[MAILDIR_NAME_SIZE], small[8];


	ck_assert_int_eq(maildir_host_name("mail.example.test", h, sizeof(h)),
	    0);
	ck_assert_str_eq(h, "mail.example.test");
	ck_assert_int_eq(maildir_host_name("a/b:c,d", h, sizeof(h)), 0);
	ck_assert_str_eq(h, "a\\057b\\072c\\054d");
	ck_assert_int_eq(maildir_host_name("", h, sizeof(h)), -1);
	ck_assert_int_eq(maildir_host_name("abcdefgh", small, sizeof(small)),
	    -1);
	ck_assert_int_eq(maildir_host_name("abcdefg", small, sizeof(small)),
	    0);

	ck_assert_int_eq(maildir_name_format(n, sizeof(n), 1700000000, 42,
	    1234, 7, "host"), 0);
	ck_assert_str_eq(n, "1700000000.M42P1234Q7.host");
	ck_assert_int_eq(maildir_name_sized(s, sizeof(s), n, 5120), 0);
	ck_assert_str_eq(s, "1700000000.M42P1234Q7.host,S=5120");
	/* Exactly fitting and one byte short. */
	ck_assert_int_eq(maildir_name_format(n, 11, 1, 2, 3, 4, "h"), 0);
	ck_assert_str_eq(n, "1.M2P3Q4.h");
	ck_assert_int_eq(maildir_name_format(n, 10, 1, 2, 3, 4, "h"), -1);
	ck_assert_int_eq(maildir_name_sized(s, 15, "1.M2P3Q4.h", 5), 0);
	ck_assert_str_eq(s, "1.M2P3Q4.h,S=5");
	ck_assert_int_eq(maildir_name_sized(s, 14, "1.M2P3Q4.h", 5), -1);

	/* Same time, pid and host: the counter keeps them apart. */
	ck_assert_int_eq(maildir_name(n, sizeof(n), 99, 1, "h"), 0);
	ck_assert_int_eq(maildir_name(n2, sizeof(n2), 99, 2, "h"), 0);
	ck_assert_str_ne(n, n2);
	ck_assert_ptr_nonnull(strstr(n, "P99Q1.h"));
	ck_assert_ptr_nonnull(strstr(n2, "P99Q2.h"));
}
END_TEST

/* ---- quota ---------------------------------------------------------- */

START_TEST(test_size_parse)
{
	static const char text[] = "1000S,10C\n100 1\n  -50   -1\n7 1\n";
	uint64_t	q, b, c;

	ck_assert_int_eq(maildir_size_parse(text, strlen(text), &q, &b, &c),
	    0);
	ck_assert_uint_eq(q, 1000);
	ck_assert_uint_eq(b, 57);
	ck_assert_uint_eq(c, 1);
	ck_assert_int_eq(maildir_size_parse("1000S\n", 6, &q, &b, &c), 0);
	ck_assert_uint_eq(q, 1000);
	ck_assert_uint_eq(b, 0);
	ck_assert_int_eq(maildir_size_parse("10C,300S\n", 9, &q, &b, &c), 0);
	ck_assert_uint_eq(q, 300);
	ck_assert_int_eq(maildir_size_parse("10C\n5 1\n", 8, &q, &b, &c), 0);
	ck_assert_uint_eq(q, 0);
	ck_assert_uint_eq(b, 5);
	/* A negative sum counts as empty. */
	ck_assert_int_eq(maildir_size_parse("9S\n-5 -1\n", 9, &q, &b, &c), 0);
	ck_assert_uint_eq(b, 0);
	ck_assert_uint_eq(c, 0);
	/* Not maildirsize. */
	ck_assert_int_eq(maildir_size_parse("", 0, &q, &b, &c), -1);
	ck_assert_int_eq(maildir_size_parse("1000S", 5, &q, &b, &c), -1);
	ck_assert_int_eq(maildir_size_parse("1000S\n100 1", 11, &q, &b, &c),
	    -1);
	ck_assert_int_eq(maildir_size_parse("1000X\n", 6, &q, &b, &c), -1);
	ck_assert_int_eq(maildir_size_parse("S\n", 2, &q, &b, &c), -1);
	ck_assert_int_eq(maildir_size_parse("10S\n100\n", 8, &q, &b, &c), -1);
	ck_assert_int_eq(maildir_size_parse("10S\n100 x\n", 10, &q, &b, &c),
	    -1);
	ck_assert_int_eq(maildir_size_parse("10S\n1 1 1\n", 10, &q, &b, &c),
	    -1);
	ck_assert_int_eq(maildir_size_parse("10S\n\n", 5, &q, &b, &c), -1);
	ck_assert_int_eq(maildir_size_parse("10S\n--1 1\n", 10, &q, &b, &c),
	    -1);
}
END_TEST

START_TEST(test_quota_allows)
{
	ck_assert(maildir_quota_allows(0, 999999, 999999));
	ck_assert(maildir_quota_allows(1000, 900, 100));	/* exactly */
	ck_assert(!maildir_quota_allows(1000, 900, 101));	/* one over */
	ck_assert(maildir_quota_allows(1000, 0, 1000));
	ck_assert(!maildir_quota_allows(1000, 0, 1001));
	ck_assert(!maildir_quota_allows(1000, 1001, 0));
	ck_assert(maildir_quota_allows(UINT64_MAX, UINT64_MAX - 1, 1));
	ck_assert(!maildir_quota_allows(UINT64_MAX, UINT64_MAX, 1));
}
END_TEST

START_TEST(test_size_calc)
{
	char		*root = tmp_root(), *md, *p, *text;
	char		 big[MAILDIR_SIZE_FILE_MAX + 2];
	const char	*e;
	uint64_t	 b, c;
	bool		 used;

	md = xasprintf("%s/Maildir", root);
	ck_assert_int_eq(maildir_prepare(root, md, "", &used, &e), 0);
	/* Sizes from ",S=", or from the file without one. */
	p = xasprintf("%s/new/1.M1P1Q1.h,S=100", md);
	write_file(p, "x", 1);
	free(p);
	p = xasprintf("%s/cur/1.M1P1Q2.h,S=200:2,S", md);
	write_file(p, "x", 1);
	free(p);
	p = xasprintf("%s/cur/1.M1P1Q3.h:2,", md);
	write_file(p, "12345", 5);
	free(p);
	/* tmp/ and dot files do not count. */
	p = xasprintf("%s/tmp/1.M1P1Q4.h", md);
	write_file(p, "123456789", 9);
	free(p);
	p = xasprintf("%s/new/.hidden", md);
	write_file(p, "123456789", 9);
	free(p);
	/* A folder counts. */
	p = xasprintf("%s/.lists", md);
	ck_assert_int_eq(mkdir(p, 0700), 0);
	free(p);
	ck_assert_int_eq(maildir_prepare(root, md, "lists", &used, &e), 0);
	p = xasprintf("%s/.lists/cur/1.M1P1Q5.h,S=1000:2,", md);
	write_file(p, "x", 1);
	free(p);

	ck_assert_int_eq(maildir_size_calc(md, &b, &c, &e), 0);
	ck_assert_uint_eq(b, 1305);
	ck_assert_uint_eq(c, 4);

	/* No maildirsize: recalculated and written. */
	ck_assert_int_eq(maildir_size_get(md, 5000, "u1", &b, &e), 0);
	ck_assert_uint_eq(b, 1305);
	p = xasprintf("%s/maildirsize", md);
	text = read_file(p, NULL);
	ck_assert_str_eq(text, "5000S\n1305 4\n");
	free(text);
	/* An append, then read back without recalculation. */
	ck_assert_int_eq(maildir_size_add(md, 77, &e), 0);
	text = read_file(p, NULL);
	ck_assert_str_eq(text, "5000S\n1305 4\n77 1\n");
	free(text);
	ck_assert_int_eq(maildir_size_get(md, 5000, "u2", &b, &e), 0);
	ck_assert_uint_eq(b, 1382);
	/* Another quota: recalculated (the 77 was never a file). */
	ck_assert_int_eq(maildir_size_get(md, 6000, "u3", &b, &e), 0);
	ck_assert_uint_eq(b, 1305);
	text = read_file(p, NULL);
	ck_assert_str_eq(text, "6000S\n1305 4\n");
	free(text);
	/* Unparsable: recalculated. */
	write_file(p, "garbage\n", 8);
	ck_assert_int_eq(maildir_size_get(md, 6000, "u4", &b, &e), 0);
	ck_assert_uint_eq(b, 1305);
	/* At the file size limit it is read, one over it is recalculated. */
	memset(big, ' ', sizeof(big));
	/* "6000S\n1 1\n" then one line padded in front: "   ...   9 1\n". */
	memcpy(big, "6000S\n1 1\n", 10);
	memcpy(big + MAILDIR_SIZE_FILE_MAX - 4, "9 1\n", 4);
	write_file(p, big, MAILDIR_SIZE_FILE_MAX);
	ck_assert_int_eq(maildir_size_get(md, 6000, "u5", &b, &e), 0);
	ck_assert_uint_eq(b, 10);
	big[MAILDIR_SIZE_FILE_MAX - 4] = ' ';
	memcpy(big + MAILDIR_SIZE_FILE_MAX - 3, "9 1\n", 4);
	write_file(p, big, MAILDIR_SIZE_FILE_MAX + 1);
	ck_assert_int_eq(maildir_size_get(md, 6000, "u6", &b, &e), 0);
	ck_assert_uint_eq(b, 1305);

	/* No maildirsize: an append does nothing. */
	ck_assert_int_eq(unlink(p), 0);
	ck_assert_int_eq(maildir_size_add(md, 5, &e), 0);
	ck_assert_int_eq(access(p, F_OK), -1);
	free(p);

	free(md);
	rm_rf(root);
	free(root);
}
END_TEST

/* Values at the largest a line may carry, one over, and their sums. */
START_TEST(test_size_parse_limits)
{
	uint64_t	q, b, c;
	char		*t;

	/* INT64_MAX / 4 = 2305843009213693951. */
	t = "2305843009213693951S\n";
	ck_assert_int_eq(maildir_size_parse(t, strlen(t), &q, &b, &c), 0);
	ck_assert_uint_eq(q, 2305843009213693951ULL);
	t = "2305843009213693952S\n";
	ck_assert_int_eq(maildir_size_parse(t, strlen(t), &q, &b, &c), -1);
	t = "1S\n2305843009213693951 1\n-2305843009213693951 -1\n";
	ck_assert_int_eq(maildir_size_parse(t, strlen(t), &q, &b, &c), 0);
	ck_assert_uint_eq(b, 0);
	t = "1S\n2305843009213693952 1\n";
	ck_assert_int_eq(maildir_size_parse(t, strlen(t), &q, &b, &c), -1);
	t = "1S\n-2305843009213693952 1\n";
	ck_assert_int_eq(maildir_size_parse(t, strlen(t), &q, &b, &c), -1);
	/* Four at the maximum fit in the sum, a fifth overflows it. */
	t = "1S\n2305843009213693951 1\n2305843009213693951 1\n"
	    "2305843009213693951 1\n2305843009213693951 1\n";
	ck_assert_int_eq(maildir_size_parse(t, strlen(t), &q, &b, &c), 0);
	ck_assert_uint_eq(b, 9223372036854775804ULL);
	ck_assert_uint_eq(c, 4);
	t = xasprintf("%s2305843009213693951 1\n", t);
	ck_assert_int_eq(maildir_size_parse(t, strlen(t), &q, &b, &c), -1);
	free(t);
	/* No quota part, an empty part, a NUL, CR line ends, a sign. */
	t = "10C\n";
	ck_assert_int_eq(maildir_size_parse(t, strlen(t), &q, &b, &c), 0);
	ck_assert_uint_eq(q, 0);
	t = "10S,\n";
	ck_assert_int_eq(maildir_size_parse(t, strlen(t), &q, &b, &c), -1);
	ck_assert_int_eq(maildir_size_parse("10S\n1\0 1\n", 9, &q, &b, &c),
	    -1);
	t = "10S\r\n1 1\r\n";
	ck_assert_int_eq(maildir_size_parse(t, strlen(t), &q, &b, &c), -1);
	t = "10S\n+1 1\n";
	ck_assert_int_eq(maildir_size_parse(t, strlen(t), &q, &b, &c), -1);
	t = "10S\n-\n";
	ck_assert_int_eq(maildir_size_parse(t, strlen(t), &q, &b, &c), -1);
}
END_TEST

START_TEST(test_size_peek)
{
	char		*root = tmp_root(), *md, *p, *other, *link;
	char		 big[MAILDIR_SIZE_FILE_MAX + 1];
	const char	*e;
	uint64_t	 q = 99, b = 99;
	bool		 used;

	md = xasprintf("%s/example.test/alice/Maildir", root);
	/* No Maildir yet, then no maildirsize: nothing to tell. */
	ck_assert_int_eq(maildir_size_peek(root, md, &q, &b, &e), 0);
	ck_assert_int_eq(maildir_prepare(root, md, "", &used, &e), 0);
	ck_assert_int_eq(maildir_size_peek(root, md, &q, &b, &e), 0);
	p = xasprintf("%s/maildirsize", md);
	write_file(p, "1000S\n600 2\n300 1\n", 18);
	ck_assert_int_eq(maildir_size_peek(root, md, &q, &b, &e), 1);
	ck_assert_uint_eq(q, 1000);
	ck_assert_uint_eq(b, 900);
	/* Unparsable, or one byte over the limit: nothing to tell. */
	write_file(p, "garbage\n", 8);
	ck_assert_int_eq(maildir_size_peek(root, md, &q, &b, &e), 0);
	memset(big, ' ', sizeof(big));
	memcpy(big, "6000S\n1 1\n", 10);
	memcpy(big + MAILDIR_SIZE_FILE_MAX - 4, "9 1\n", 4);
	write_file(p, big, MAILDIR_SIZE_FILE_MAX);
	ck_assert_int_eq(maildir_size_peek(root, md, &q, &b, &e), 1);
	ck_assert_uint_eq(b, 10);
	big[MAILDIR_SIZE_FILE_MAX - 4] = ' ';
	memcpy(big + MAILDIR_SIZE_FILE_MAX - 3, "9 1\n", 4);
	write_file(p, big, MAILDIR_SIZE_FILE_MAX + 1);
	ck_assert_int_eq(maildir_size_peek(root, md, &q, &b, &e), 0);
	/* Nothing was rewritten. */
	ck_assert_int_eq(access(p, F_OK), 0);
	ck_assert_int_eq(unlink(p), 0);

	/* A path outside root, or through a symbolic link: an error. */
	ck_assert_int_eq(maildir_size_peek(root, "/etc", &q, &b, &e), -1);
	ck_assert_int_eq(errno, EINVAL);
	other = xasprintf("%s/elsewhere", root);
	ck_assert_int_eq(mkdir(other, 0700), 0);
	write_file(p, "1000S\n1000 1\n", 14);
	link = xasprintf("%s/example.test/bob", root);
	ck_assert_int_eq(symlink("alice", link), 0);
	free(md);
	md = xasprintf("%s/example.test/bob/Maildir", root);
	ck_assert_int_eq(maildir_size_peek(root, md, &q, &b, &e), -1);
	/* Linux says ENOTDIR for a link opened with O_DIRECTORY. */
	ck_assert(errno == ELOOP || errno == ENOTDIR);
	/* maildirsize itself a link: an error, not its target. */
	free(md);
	md = xasprintf("%s/example.test/alice/Maildir", root);
	ck_assert_int_eq(unlink(p), 0);
	ck_assert_int_eq(symlink("/etc/passwd", p), 0);
	ck_assert_int_eq(maildir_size_peek(root, md, &q, &b, &e), -1);
	ck_assert_int_eq(errno, ELOOP);

	free(p);
	free(link);
	free(other);
	free(md);
	rm_rf(root);
	free(root);
}
END_TEST

/* An append that fails (here: past RLIMIT_FSIZE) removes maildirsize. */
START_TEST(test_size_add_fails)
{
	struct rlimit	 old, lim;
	char		*root = tmp_root(), *md, *p;
	const char	*e;
	uint64_t	 b;
	bool		 used;

	md = xasprintf("%s/Maildir", root);
	ck_assert_int_eq(maildir_prepare(root, md, "", &used, &e), 0);
	ck_assert_int_eq(maildir_size_get(md, 5000, "u1", &b, &e), 0);
	p = xasprintf("%s/maildirsize", md);
	ck_assert_int_eq(access(p, F_OK), 0);
	ck_assert_ptr_ne(signal(SIGXFSZ, SIG_IGN), SIG_ERR);
	ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = 8;	/* "5000S\n0 0\n" is 11 bytes */
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
	ck_assert_int_eq(maildir_size_add(md, 77, &e), -1);
	ck_assert_int_eq(errno, EFBIG);
	ck_assert_ptr_nonnull(strstr(e, "removed it"));
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
	ck_assert_int_eq(access(p, F_OK), -1);
	/* The next delivery with a quota recalculates it. */
	ck_assert_int_eq(maildir_size_get(md, 5000, "u2", &b, &e), 0);
	ck_assert_uint_eq(b, 0);
	ck_assert_int_eq(access(p, F_OK), 0);
	free(p);
	free(md);
	rm_rf(root);
	free(root);
}
END_TEST

/* ---- the message ---------------------------------------------------- */

START_TEST(test_delivered_to)
{
	static const char h1[] =
	    "Received: from x\r\n"
	    "DELIVERED-to  :   Alice@Example.Test  \r\n"
	    "Subject: hi\r\n"
	    "\r\n"
	    "Delivered-To: bob@example.test\r\n";
	static const char h2[] =
	    "Subject: hi\n"
	    "Delivered-To:\n"
	    " <carol@example.test>\n"
	    "X: y\n";
	static const char h3[] =
	    "Delivered-To-Not: alice@example.test\r\n"
	    "X-Delivered-To: alice@example.test\r\n"
	    "Delivered-To: alice@example.test.evil\r\n"
	    " Delivered-To: alice@example.test\r\n"
	    "\r\n";

	ck_assert(maildir_header_has_delivered_to(h1, strlen(h1),
	    "alice@example.test"));
	/* After the empty line it is the body. */
	ck_assert(!maildir_header_has_delivered_to(h1, strlen(h1),
	    "bob@example.test"));
	/* Folded, with angle brackets. */
	ck_assert(maildir_header_has_delivered_to(h2, strlen(h2),
	    "carol@example.test"));
	ck_assert(!maildir_header_has_delivered_to(h2, strlen(h2),
	    "alice@example.test"));
	ck_assert(!maildir_header_has_delivered_to(h3, strlen(h3),
	    "alice@example.test"));
	ck_assert(!maildir_header_has_delivered_to("", 0, "a@b"));
	ck_assert(!maildir_header_has_delivered_to("Delivered-To: a@b", 12,
	    "a@b"));
	ck_assert(maildir_header_has_delivered_to("Delivered-To: a@b", 17,
	    "a@b"));
}
END_TEST

START_TEST(test_read_header)
{
	char		 path[] = "/tmp/test_maildir_q.XXXXXX";
	char		*h, *msg;
	const char	*e;
	size_t		 len, i;
	int		 fd;

	fd = mkstemp(path);
	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(write(fd, "JUNKA: 1\r\nB: 2\r\n\r\nbody\r\n", 24), 24);
	/* Offset 4: the message "A: 1 ... body". */
	ck_assert_int_eq(maildir_read_header(fd, 4, 20, MAILDIR_HEADER_MAX,
	    &h, &len, &e), 0);
	ck_assert_str_eq(h, "A: 1\r\nB: 2\r\n\r\n");
	ck_assert_uint_eq(len, 14);
	free(h);
	/* Bounded by max. */
	ck_assert_int_eq(maildir_read_header(fd, 4, 20, 5, &h, &len, &e), 0);
	ck_assert_str_eq(h, "A: 1\r");
	free(h);
	/* No header end: the whole message. */
	ck_assert_int_eq(maildir_read_header(fd, 4, 8, 100, &h, &len, &e), 0);
	ck_assert_str_eq(h, "A: 1\r\nB:");
	free(h);
	/* Past the end of the file, with no header end before it. */
	errno = 0;
	ck_assert_int_eq(maildir_read_header(fd, 20, 40, 100, &h, &len, &e),
	    -1);
	ck_assert_int_eq(errno, EIO);
	(void)close(fd);

	/* A header section longer than one read. */
	msg = xmalloc(200000);
	memset(msg, 'x', 200000);
	for (i = 0; i + 80 < 150000; i += 80) {
		memcpy(msg + i, "X-H: ", 5);
		memcpy(msg + i + 78, "\r\n", 2);
	}
	memcpy(msg + i, "\r\n", 2);
	fd = open(path, O_RDWR | O_TRUNC);
	ck_assert_int_eq(write(fd, msg, 200000), 200000);
	ck_assert_int_eq(maildir_read_header(fd, 0, 200000,
	    MAILDIR_HEADER_MAX, &h, &len, &e), 0);
	ck_assert_uint_eq(len, i + 2);
	free(h);
	free(msg);
	(void)close(fd);
	(void)unlink(path);
}
END_TEST

START_TEST(test_lf_convert)
{
	struct maildir_lf st = { false };
	uint8_t	out[16];
	size_t	n;

	n = maildir_lf_convert(&st, (const uint8_t *)"a\r\nb\rc\r", 7, out);
	ck_assert_uint_eq(n, 5);
	ck_assert_int_eq(memcmp(out, "a\nb\rc", 5), 0);
	ck_assert(st.cr);
	n = maildir_lf_convert(&st, (const uint8_t *)"\nd", 2, out);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(memcmp(out, "\nd", 2), 0);
	n = maildir_lf_convert(&st, (const uint8_t *)"\r", 1, out);
	ck_assert_uint_eq(n, 0);
	n = maildir_lf_convert(&st, (const uint8_t *)"\r", 1, out);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(out[0], '\r');
	n = maildir_lf_convert(&st, (const uint8_t *)"x", 1, out);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(memcmp(out, "\rx", 2), 0);
	n = maildir_lf_convert(&st, (const uint8_t *)"\r", 1, out);
	ck_assert_uint_eq(maildir_lf_finish(&st, out), 1);
	ck_assert_int_eq(out[0], '\r');
	ck_assert_uint_eq(maildir_lf_finish(&st, out), 0);
}
END_TEST

/*
 * Random texts of CR, LF and letters, converted in random pieces, against
 * the rule applied to the whole text at once: CRLF becomes LF, every
 * other CR stays.
 */
START_TEST(test_lf_convert_pieces)
{
	static const uint8_t alphabet[] = "\r\r\nab";
	struct maildir_lf st;
	uint8_t		 in[200], want[200], got[220];
	size_t		 len, i, w, g, off, piece;
	unsigned int	 seed = 1, round;

	for (round = 0; round < 2000; round++) {
		len = (size_t)rand_r(&seed) % sizeof(in);
		for (i = 0; i < len; i++)
			in[i] = alphabet[rand_r(&seed) % 5];
		for (i = w = 0; i < len; i++)
			if (!(in[i] == '\r' && i + 1 < len && in[i + 1] == '\n'))
				want[w++] = in[i];
		st.cr = false;
		for (off = g = 0; off < len; off += piece) {
			piece = 1 + (size_t)rand_r(&seed) % 7;
			if (piece > len - off)
				piece = len - off;
			g += maildir_lf_convert(&st, in + off, piece, got + g);
		}
		g += maildir_lf_finish(&st, got + g);
		ck_assert_uint_eq(g, w);
		ck_assert_int_eq(memcmp(got, want, w), 0);
	}
}
END_TEST

/* A message whose CRLF straddles the 64 KiB reads of maildir_copy(). */
START_TEST(test_copy_boundary)
{
	char		 in[] = "/tmp/test_maildir_in.XXXXXX";
	char		 out[] = "/tmp/test_maildir_out.XXXXXX";
	const size_t	 prefix = 10, len = 3 * MAILDIR_COPY_CHUNK + 5;
	uint8_t		*msg, *want;
	char		*got;
	size_t		 i, w = 0, glen;
	uint64_t	 written;
	const char	*e;
	int		 ifd, ofd;

	msg = xmalloc(prefix + len);
	want = xmalloc(len);
	memset(msg, 'P', prefix);
	for (i = 0; i < len; i++)
		msg[prefix + i] = (uint8_t)('a' + i % 26);
	/* CR the last byte of the first read, LF the first of the second. */
	msg[prefix + MAILDIR_COPY_CHUNK - 1] = '\r';
	msg[prefix + MAILDIR_COPY_CHUNK] = '\n';
	/* A bare CR at the end of the second read. */
	msg[prefix + 2 * MAILDIR_COPY_CHUNK - 1] = '\r';
	/* An ordinary CRLF and a CR at the very end. */
	msg[prefix + 100] = '\r';
	msg[prefix + 101] = '\n';
	msg[prefix + len - 1] = '\r';
	for (i = 0; i < len; i++) {
		if (msg[prefix + i] == '\r' && i + 1 < len &&
		    msg[prefix + i + 1] == '\n')
			continue;
		want[w++] = msg[prefix + i];
	}
	ck_assert_uint_eq(w, len - 2);

	ifd = mkstemp(in);
	ofd = mkstemp(out);
	ck_assert_int_ne(ifd, -1);
	ck_assert_int_ne(ofd, -1);
	ck_assert_int_eq(write(ifd, msg, prefix + len), (ssize_t)(prefix + len));
	ck_assert_int_eq(maildir_copy(ifd, prefix, len, ofd, &written, &e), 0);
	ck_assert_uint_eq(written, w);
	got = read_file(out, &glen);
	ck_assert_uint_eq(glen, w);
	ck_assert_int_eq(memcmp(got, want, w), 0);
	free(got);

	/* A file shorter than offset + length. */
	errno = 0;
	ck_assert_int_eq(maildir_copy(ifd, prefix, len + 1, ofd, &written,
	    &e), -1);
	ck_assert_int_eq(errno, EIO);
	/* An empty message. */
	ck_assert_int_eq(maildir_copy(ifd, 0, 0, ofd, &written, &e), 0);
	ck_assert_uint_eq(written, 0);
	/* A write that fails. */
	(void)close(ofd);
	ofd = open(out, O_RDONLY);
	ck_assert_int_eq(maildir_copy(ifd, prefix, len, ofd, &written, &e),
	    -1);
	ck_assert_int_eq(errno, EBADF);

	(void)close(ifd);
	(void)close(ofd);
	(void)unlink(in);
	(void)unlink(out);
	free(msg);
	free(want);
}
END_TEST

static Suite *
maildir_suite(void)
{
	Suite	*s = suite_create("maildir");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, test_path_check);
	tcase_add_test(tc, test_folder_valid);
	tcase_add_test(tc, test_prepare);
	tcase_add_test(tc, test_names);
	tcase_add_test(tc, test_size_parse);
	tcase_add_test(tc, test_quota_allows);
	tcase_add_test(tc, test_size_calc);
	tcase_add_test(tc, test_size_parse_limits);
	tcase_add_test(tc, test_size_peek);
	tcase_add_test(tc, test_size_add_fails);
	tcase_add_test(tc, test_delivered_to);
	tcase_add_test(tc, test_read_header);
	tcase_add_test(tc, test_lf_convert);
	tcase_add_test(tc, test_lf_convert_pieces);
	tcase_add_test(tc, test_copy_boundary);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(maildir_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
