/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for common/userdb.c: good lines with every field, a Dovecot
 * passwd-file line, blank and comment lines, each malformed line with its
 * error, the address and line limits at the maximum and one over, the
 * value stored in the table parsed back, formatting round trips, builds
 * looked up through table_open() (both backends), errors naming
 * FILE:LINE, repeated addresses naming both lines, and rewrites: comments
 * and untouched lines kept byte for byte, add/del/disable round trips,
 * an aborted edit leaving the file alone, owner and mode kept or set.
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <limits.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "common/conf.h"
#include "common/file.h"
#include "common/table.h"
#include "common/table_int.h"
#include "common/userdb.h"
#include "common/xmalloc.h"

#include "common/banned.h"

#define SHA "$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1"
#define DOVECOT_LINE "user@d.test:{SHA512-CRYPT}" SHA "::::::"

static const char *const backend_types[] = { "hash", "lmdb" };

static char test_dir[PATH_MAX];
static struct postern_config *test_cfg;

static void
setup(void)
{
	int	n;

	n = snprintf(test_dir, sizeof(test_dir), "/tmp/test_userdb.XXXXXX");
	ck_assert_int_lt(n, (int)sizeof(test_dir));
	ck_assert_ptr_nonnull(mkdtemp(test_dir));
	test_cfg = conf_defaults(test_dir);
	ck_assert_ptr_nonnull(test_cfg);
	free(test_cfg->default_database_type);
	test_cfg->default_database_type = xstrdup("lmdb");
	cfg = test_cfg;
}

static void
teardown(void)
{
	struct dirent *de;
	DIR	*d;
	char	*p;

	cfg = NULL;
	conf_free(&test_cfg);
	if ((d = opendir(test_dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		p = xasprintf("%s/%s", test_dir, de->d_name);
		(void)unlink(p);
		free(p);
	}
	(void)closedir(d);
	(void)rmdir(test_dir);
}

static char *
path_in(const char *name)
{
	return xasprintf("%s/%s", test_dir, name);
}

static void
write_str(const char *path, const char *text)
{
	FILE	*fp;

	fp = fopen(path, "w");
	ck_assert_ptr_nonnull(fp);
	ck_assert_uint_eq(fwrite(text, 1, strlen(text), fp), strlen(text));
	ck_assert_int_eq(fclose(fp), 0);
}

static char *
read_str(const char *path)
{
	const char *error = NULL;
	char	*data;

	if (file_read_all(path, 1024 * 1024, &data, NULL, &error) == -1)
		ck_abort_msg("%s", error);
	return data;
}

static char *
repeat(char c, size_t n)
{
	char	*s = xmalloc(n + 1);

	memset(s, c, n);
	s[n] = '\0';
	return s;
}

static void
parse_ok(const char *line, struct userdb_user *u)
{
	const char *error = NULL;
	int	 ret;

	ret = userdb_parse_line(line, u, &error);
	ck_assert_msg(ret == 1, "%.80s: %d %s", line, ret,
	    error != NULL ? error : "");
}

/* ---- parsing -------------------------------------------------------- */

START_TEST(test_parse_all_fields)
{
	struct userdb_user u;

	parse_ok("Alice@Example.TEST:{SHA512-CRYPT}" SHA ":1000:1000:Alice A. "
	    "Liddell:/home/alice:/bin/sh:quota=10M maildir=/var/mail/alice"
	    "\tdisabled=yes userdb_quota_rule=*:storage=1G", &u);
	ck_assert_str_eq(u.address, "alice@example.test");
	ck_assert_str_eq(u.hash, "{SHA512-CRYPT}" SHA);
	ck_assert_str_eq(u.home, "/home/alice");
	ck_assert_str_eq(u.maildir, "/var/mail/alice");
	ck_assert_uint_eq(u.quota, 10ULL * 1024 * 1024);
	ck_assert(u.disabled);
	userdb_user_deinit(&u);

	parse_ok("b@c.test:x:::::: disabled=no quota=0 ", &u);
	ck_assert(!u.disabled);
	ck_assert_uint_eq(u.quota, 0);
	userdb_user_deinit(&u);
}
END_TEST

START_TEST(test_parse_dovecot)
{
	struct userdb_user u;

	parse_ok(DOVECOT_LINE, &u);
	ck_assert_str_eq(u.address, "user@d.test");
	ck_assert_str_eq(u.hash, "{SHA512-CRYPT}" SHA);
	ck_assert_str_eq(u.home, "");
	ck_assert_str_eq(u.maildir, "");
	ck_assert_uint_eq(u.quota, 0);
	ck_assert(!u.disabled);
	userdb_user_deinit(&u);

	/* Short forms: address:hash, and up to home. */
	parse_ok("a@b:{PLAIN}pw", &u);
	ck_assert_str_eq(u.hash, "{PLAIN}pw");
	ck_assert_str_eq(u.home, "");
	userdb_user_deinit(&u);
	parse_ok("a@b:h:vmail:vmail::/srv/a", &u);
	ck_assert_str_eq(u.home, "/srv/a");
	userdb_user_deinit(&u);
}
END_TEST

START_TEST(test_parse_blank_comment)
{
	static const char *const lines[] = {
		"", " ", "\t \t", "#", "# a@b:x", "   # indented comment",
	};
	struct userdb_user u;
	const char *error;
	size_t	 i;

	for (i = 0; i < N_ELEMENTS(lines); i++) {
		ck_assert_int_eq(userdb_parse_line(lines[i], &u, &error), 0);
		userdb_user_deinit(&u);
	}
}
END_TEST

START_TEST(test_parse_malformed)
{
	static const struct {
		const char	*line;
		const char	*error;		/* a part of the error */
	} bad[] = {
		{ "a@b", "missing \":\"" },
		{ " a@b:x", "starts with white space" },
		{ ":x", "empty address" },
		{ "ab:x", "no \"@\"" },
		{ "a@b@c:x", "more than one" },
		{ "@b:x", "needs a user and a domain" },
		{ "a@:x", "needs a user and a domain" },
		{ "a b@c:x", "white space" },
		{ "a\tb@c:x", "white space" },
		{ "a\001b@c:x", "control character" },
		{ "a@b:", "empty password hash" },
		{ "a@b::1:1", "empty password hash" },
		{ "a@b:x y", "white space in the password hash" },
		{ "a@b:x\ty", "white space in the password hash" },
		{ "a@b:x\001", "control character" },
		{ "a@b:x:::::\x7f", "control character" },
		{ "a@b:x:quota=1G", "uid or gid" },
		{ "a@b:x:1:g g", "uid or gid" },
		{ "a@b:x::::home", "not an absolute path" },
		{ "a@b:x::::::quota", "not key=value" },
		{ "a@b:x::::::=1", "not key=value" },
		{ "a@b:x::::::nopassword", "not key=value" },
		{ "a@b:x::::::nopassword=y", "unknown extra field \"nopassword\"" },
		{ "a@b:x::::::Quota=1G", "unknown extra field \"Quota\"" },
		{ "a@b:x::::::userdb_=1", "unknown extra field" },
		{ "a@b:x::::::quota=1x", "quota=1x" },
		{ "a@b:x::::::quota=", "quota=" },
		{ "a@b:x::::::quota=-1", "quota=" },
		{ "a@b:x::::::quota=99999999999999999999", "quota=" },
		{ "a@b:x::::::quota=1 quota=2", "given twice" },
		{ "a@b:x::::::maildir=rel/dir", "not an absolute path" },
		{ "a@b:x::::::maildir=", "not an absolute path" },
		{ "a@b:x::::::disabled=true", "use yes or no" },
		{ "a@b:x::::::disabled=", "use yes or no" },
	};
	struct userdb_user u;
	const char *error;
	size_t	 i;

	for (i = 0; i < N_ELEMENTS(bad); i++) {
		error = NULL;
		ck_assert_msg(userdb_parse_line(bad[i].line, &u, &error) == -1,
		    "accepted: %s", bad[i].line);
		ck_assert_ptr_nonnull(error);
		ck_assert_msg(strstr(error, bad[i].error) != NULL,
		    "%s: error \"%s\" lacks \"%s\"", bad[i].line, error,
		    bad[i].error);
		ck_assert_ptr_null(u.address);
		ck_assert_ptr_null(u.hash);
	}
}
END_TEST

START_TEST(test_parse_limits)
{
	struct userdb_user u;
	const char *error;
	char	*local, *domain, *line, *gecos;

	/* 64 + 1 + 255 = USERDB_ADDRESS_MAX, then one more. */
	local = repeat('l', 64);
	domain = repeat('d', USERDB_ADDRESS_MAX - 65);
	line = xasprintf("%s@%s:x", local, domain);
	parse_ok(line, &u);
	ck_assert_uint_eq(strlen(u.address), USERDB_ADDRESS_MAX);
	userdb_user_deinit(&u);
	free(line);
	line = xasprintf("%s@%sd:x", local, domain);
	ck_assert_int_eq(userdb_parse_line(line, &u, &error), -1);
	ck_assert_ptr_nonnull(strstr(error, "longer than"));
	free(line);

	/* The part stored in the table: TABLE_VALUE_MAX, then one more. */
	gecos = repeat('g', TABLE_VALUE_MAX - 4);
	line = xasprintf("a@b:x:::%s", gecos);
	parse_ok(line, &u);
	userdb_user_deinit(&u);
	free(line);
	line = xasprintf("a@b:x:::%sg", gecos);
	ck_assert_int_eq(userdb_parse_line(line, &u, &error), -1);
	ck_assert_ptr_nonnull(strstr(error, "longer than"));
	free(line);
	free(gecos);
	free(local);
	free(domain);
}
END_TEST

START_TEST(test_parse_value)
{
	struct userdb_user u;
	const char *error;

	ck_assert_int_eq(userdb_parse_value("Bob@B.Test", "{BLF-CRYPT}$2y$x"
	    "::::/home/bob::quota=1k", &u, &error), 1);
	ck_assert_str_eq(u.address, "bob@b.test");
	ck_assert_str_eq(u.hash, "{BLF-CRYPT}$2y$x");
	ck_assert_str_eq(u.home, "/home/bob");
	ck_assert_uint_eq(u.quota, 1024);
	userdb_user_deinit(&u);
	ck_assert_int_eq(userdb_parse_value("bob", "x", &u, &error), -1);
	ck_assert_int_eq(userdb_parse_value("a@b", "", &u, &error), -1);
	ck_assert_int_eq(userdb_parse_value("a@b", "x::::::bad", &u, &error),
	    -1);
	ck_assert_ptr_null(u.address);
}
END_TEST

START_TEST(test_address_valid)
{
	ck_assert(userdb_address_valid("a@b"));
	ck_assert(userdb_address_valid("A.B+c@example.test"));
	ck_assert(!userdb_address_valid(""));
	ck_assert(!userdb_address_valid("a"));
	ck_assert(!userdb_address_valid("a@"));
	ck_assert(!userdb_address_valid("@b"));
	ck_assert(!userdb_address_valid("a@b@c"));
	ck_assert(!userdb_address_valid("a:b@c"));
	ck_assert(!userdb_address_valid("a @b"));
	ck_assert(!userdb_address_valid("a@b\n"));
}
END_TEST

START_TEST(test_format_roundtrip)
{
	struct userdb_user u, v;
	char	*line;

	memset(&u, 0, sizeof(u));
	u.address = xstrdup("a@b.test");
	u.hash = xstrdup("$y$abc");
	u.home = xstrdup("");
	u.maildir = xstrdup("");
	line = userdb_format_line(&u);
	ck_assert_str_eq(line, "a@b.test:$y$abc");
	free(line);

	free(u.home);
	u.home = xstrdup("/home/a");
	line = userdb_format_line(&u);
	ck_assert_str_eq(line, "a@b.test:$y$abc::::/home/a");
	free(line);

	free(u.maildir);
	u.maildir = xstrdup("/m/a");
	u.quota = 3ULL * 1024 * 1024 * 1024;
	u.disabled = true;
	line = userdb_format_line(&u);
	ck_assert_str_eq(line, "a@b.test:$y$abc::::/home/a::quota=3g "
	    "maildir=/m/a disabled=yes");
	parse_ok(line, &v);
	ck_assert_str_eq(v.address, u.address);
	ck_assert_str_eq(v.hash, u.hash);
	ck_assert_str_eq(v.home, u.home);
	ck_assert_str_eq(v.maildir, u.maildir);
	ck_assert_uint_eq(v.quota, u.quota);
	ck_assert(v.disabled);
	userdb_user_deinit(&v);
	free(line);

	u.quota = 1536;
	free(u.home);
	u.home = xstrdup("");
	line = userdb_format_line(&u);
	ck_assert_str_eq(line, "a@b.test:$y$abc::::::quota=1536 "
	    "maildir=/m/a disabled=yes");
	parse_ok(line, &v);
	ck_assert_uint_eq(v.quota, 1536);
	userdb_user_deinit(&v);
	free(line);
	userdb_user_deinit(&u);
}
END_TEST

START_TEST(test_table_name)
{
	char	*name, *want;

	name = userdb_table_name();
	want = xasprintf("lmdb:%s/users", test_dir);
	ck_assert_str_eq(name, want);
	free(name);
	free(want);
	free(test_cfg->user_database);
	test_cfg->user_database = xstrdup("hash:/etc/x/users");
	name = userdb_table_name();
	ck_assert_str_eq(name, "hash:/etc/x/users");
	free(name);
}
END_TEST

/* ---- building ------------------------------------------------------- */

static void
lookup_is(struct table *t, const char *key, const char *want)
{
	const char *value = NULL, *error = NULL;
	int	 ret;

	ret = table_lookup(t, key, &value, &error);
	if (want == NULL) {
		ck_assert_msg(ret == 0, "%s: %d %s", key, ret,
		    error != NULL ? error : "");
		return;
	}
	ck_assert_msg(ret == 1, "%s: %d %s", key, ret,
	    error != NULL ? error : "");
	ck_assert_str_eq(value, want);
}

START_TEST(test_build_lookup)
{
	struct userdb_user u;
	struct table *t;
	const char *type = backend_types[_i], *error = NULL, *value;
	char	*src, *name;
	long	 n;

	if (!table_type_supported(type)) {
		printf("SKIP: %s: not in this build\n", type);
		return;
	}
	src = path_in("users");
	name = xasprintf("%s:%s", type, src);
	write_str(src, "# users\n\n" DOVECOT_LINE "\n"
	    "Alice@Example.Test:$y$x::::/home/a::quota=1m\r\n"
	    "bob@example.test:{PLAIN}pw::::::disabled=yes");
	n = userdb_build(name, &error);
	ck_assert_msg(n == 3, "%ld %s", n, error != NULL ? error : "");
	t = table_open(name, NULL, &error);
	ck_assert_ptr_nonnull(t);
	lookup_is(t, "user@d.test", "{SHA512-CRYPT}" SHA "::::::");
	lookup_is(t, "ALICE@example.test", "$y$x::::/home/a::quota=1m");
	lookup_is(t, "bob@example.test", "{PLAIN}pw::::::disabled=yes");
	lookup_is(t, "carol@example.test", NULL);
	ck_assert_int_eq(table_lookup(t, "alice@example.test", &value,
	    &error), 1);
	ck_assert_int_eq(userdb_parse_value("alice@example.test", value, &u,
	    &error), 1);
	ck_assert_str_eq(u.home, "/home/a");
	ck_assert_uint_eq(u.quota, 1024 * 1024);
	userdb_user_deinit(&u);
	table_close(&t);

	/* An empty file builds an empty table. */
	write_str(src, "# nobody yet\n");
	ck_assert_int_eq(userdb_build(name, &error), 0);
	free(name);
	free(src);
}
END_TEST

START_TEST(test_build_errors)
{
	const char *error = NULL;
	char	*src, *name, *want;

	src = path_in("users");
	name = xasprintf("lmdb:%s", src);

	write_str(src, "# ok\na@b:x\nbad line\nc@d:\ne@f:y\n");
	ck_assert_int_eq(userdb_build(name, &error), -1);
	want = xasprintf("%s:3: missing \":\" after the address (and 1 more "
	    "malformed lines)", src);
	ck_assert_str_eq(error, want);
	free(want);

	write_str(src, "a@b:x\nc@d:x::::::color=red\n");
	ck_assert_int_eq(userdb_build(name, &error), -1);
	want = xasprintf("%s:2: unknown extra field \"color\"", src);
	ck_assert_msg(strncmp(error, want, strlen(want)) == 0, "%s", error);
	free(want);

	/* The same address twice, in another case: both lines named. */
	write_str(src, "a@b:x\n#\nc@d:y\nA@B:z\n");
	ck_assert_int_eq(userdb_build(name, &error), -1);
	want = xasprintf("%s:4: duplicate key \"a@b\" (first on line 1)", src);
	ck_assert_str_eq(error, want);
	free(want);

	/* write_str() stops at a NUL: write this one by hand. */
	{
		FILE	*fp = fopen(src, "w");

		ck_assert_ptr_nonnull(fp);
		ck_assert_uint_eq(fwrite("a@b:x\nc@d:x\0y\n", 1, 14, fp), 14);
		ck_assert_int_eq(fclose(fp), 0);
	}
	ck_assert_int_eq(userdb_build(name, &error), -1);
	want = xasprintf("%s:2: NUL byte in line", src);
	ck_assert_str_eq(error, want);
	free(want);

	(void)unlink(src);
	ck_assert_int_eq(userdb_build(name, &error), -1);
	ck_assert_ptr_nonnull(strstr(error, "open"));
	ck_assert_int_eq(userdb_build("nosuch:/x", &error), -1);
	free(name);
	free(src);
}
END_TEST

/* ---- rewriting ------------------------------------------------------ */

struct edit_ctx {
	const char	*address;
	int		 action;	/* 0 drop, 1 disable, 2 new hash, -1 abort */
	unsigned int	 calls;
};

static int
edit_one(struct userdb_user *u, void *ctx, const char **error_r)
{
	struct edit_ctx *e = ctx;

	e->calls++;
	if (strcmp(u->address, e->address) != 0)
		return 1;
	switch (e->action) {
	case 0:
		return 0;
	case 1:
		u->disabled = true;
		return 1;
	case 2:
		free(u->hash);
		u->hash = xstrdup("$y$new");
		return 1;
	default:
		*error_r = "aborted by the test";
		return -1;
	}
}

static long
rewrite(const char *name, const char *address, int action,
    const struct userdb_user *add)
{
	struct edit_ctx e;
	const char *error = NULL;
	long	 n;

	memset(&e, 0, sizeof(e));
	e.address = address;
	e.action = action;
	n = userdb_rewrite(name, address != NULL ? edit_one : NULL, &e, add,
	    &error);
	if (n == -1 && action != -1)
		ck_abort_msg("userdb_rewrite: %s", error);
	return n;
}

static int
count_user(struct userdb_user *u ATTR_UNUSED, void *ctx,
    const char **error_r ATTR_UNUSED)
{
	(*(unsigned int *)ctx)++;
	return 1;
}

START_TEST(test_rewrite_keeps_comments)
{
	struct table *t;
	const char *error;
	char	*src, *name, *text;

	src = path_in("users");
	name = xasprintf("lmdb:%s", src);
	write_str(src, "# The users.\n\n" DOVECOT_LINE "\n"
	    "  # indented\n"
	    "a@b.test:$y$old:1000:1000:A::/bin/sh\n"
	    "c@d.test:$y$c::::/home/c::quota=1g   \n");
	ck_assert_int_eq(rewrite(name, "a@b.test", 2, NULL), 1);
	text = read_str(src);
	/* Only the changed line is written anew (its uid/gid/gecos go). */
	ck_assert_str_eq(text, "# The users.\n\n" DOVECOT_LINE "\n"
	    "  # indented\n"
	    "a@b.test:$y$new\n"
	    "c@d.test:$y$c::::/home/c::quota=1g   \n");
	free(text);
	t = table_open(name, NULL, &error);
	ck_assert_ptr_nonnull(t);
	lookup_is(t, "a@b.test", "$y$new");
	lookup_is(t, "c@d.test", "$y$c::::/home/c::quota=1g");
	table_close(&t);

	/* No change: the file is not even rewritten. */
	ck_assert_int_eq(rewrite(name, "nobody@b.test", 1, NULL), 0);
	free(name);
	free(src);
}
END_TEST

START_TEST(test_rewrite_roundtrip)
{
	struct userdb_user add;
	struct table *t;
	const char *error;
	unsigned int count = 0;
	char	*src, *name, *text;

	src = path_in("users");
	name = xasprintf("lmdb:%s", src);
	memset(&add, 0, sizeof(add));
	add.address = xstrdup("new@b.test");
	add.hash = xstrdup("$y$n");
	add.home = xstrdup("");
	add.maildir = xstrdup("/m/new");
	add.quota = 2048;

	/* Creating the file. */
	ck_assert_int_eq(rewrite(name, NULL, 0, &add), 0);
	text = read_str(src);
	ck_assert_str_eq(text, "new@b.test:$y$n::::::quota=2k "
	    "maildir=/m/new\n");
	free(text);

	/* Adding an existing user is refused; the file stays. */
	ck_assert_int_eq(userdb_rewrite(name, NULL, NULL, &add, &error), -1);
	ck_assert_ptr_nonnull(strstr(error, "user new@b.test exists"));

	free(add.address);
	add.address = xstrdup("two@b.test");
	add.quota = 0;
	ck_assert_int_eq(rewrite(name, NULL, 0, &add), 0);
	ck_assert_int_eq(userdb_read(name, count_user, &count, &error), 2);
	ck_assert_uint_eq(count, 2);

	ck_assert_int_eq(rewrite(name, "new@b.test", 1, NULL), 1);
	t = table_open(name, NULL, &error);
	ck_assert_ptr_nonnull(t);
	lookup_is(t, "new@b.test", "$y$n::::::quota=2k maildir=/m/new "
	    "disabled=yes");
	ck_assert_int_eq(rewrite(name, "new@b.test", 0, NULL), 1);
	lookup_is(t, "new@b.test", NULL);
	lookup_is(t, "two@b.test", "$y$n::::::maildir=/m/new");
	table_close(&t);
	text = read_str(src);
	ck_assert_str_eq(text, "two@b.test:$y$n::::::maildir=/m/new\n");
	free(text);

	/* An aborted edit changes nothing. */
	ck_assert_int_eq(rewrite(name, "two@b.test", -1, NULL), -1);
	text = read_str(src);
	ck_assert_str_eq(text, "two@b.test:$y$n::::::maildir=/m/new\n");
	free(text);

	userdb_user_deinit(&add);
	free(name);
	free(src);
}
END_TEST

START_TEST(test_rewrite_refuses_broken)
{
	const char *error = NULL;
	char	*src, *name, *text, *want;

	src = path_in("users");
	name = xasprintf("lmdb:%s", src);
	write_str(src, "a@b:x\nbroken\n");
	ck_assert_int_eq(userdb_rewrite(name, edit_one, &(struct edit_ctx){
	    .address = "a@b", .action = 1 }, NULL, &error), -1);
	want = xasprintf("%s:2: missing \":\" after the address", src);
	ck_assert_str_eq(error, want);
	text = read_str(src);
	ck_assert_str_eq(text, "a@b:x\nbroken\n");
	free(text);
	free(want);
	free(name);
	free(src);
}
END_TEST

START_TEST(test_rewrite_modes)
{
	struct userdb_user add;
	struct passwd *pw;
	struct stat st, st2;
	char	*src, *name, *db;
	mode_t	 want = 0600;
	gid_t	 gid = getegid();

	src = path_in("users");
	db = path_in("users.lmdb");
	name = xasprintf("lmdb:%s", src);
	memset(&add, 0, sizeof(add));
	add.address = xstrdup("a@b.test");
	add.hash = xstrdup("$y$n");
	add.home = xstrdup("");
	add.maildir = xstrdup("");

	/* As root, a new file is 0640 root:authd's group when it exists. */
	if (geteuid() == 0 && (pw = getpwnam("postern-auth")) != NULL) {
		want = 0640;
		gid = pw->pw_gid;
	}
	ck_assert_int_eq(rewrite(name, NULL, 0, &add), 0);
	ck_assert_int_eq(stat(src, &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, want);
	ck_assert_uint_eq(st.st_gid, gid);
	ck_assert_int_eq(stat(db, &st2), 0);
	ck_assert_int_eq(st2.st_mode & 07777, want);
	ck_assert_uint_eq(st2.st_gid, gid);

	/* A rewrite keeps the mode the administrator chose. */
	ck_assert_int_eq(chmod(src, 0604), 0);
	ck_assert_int_eq(rewrite(name, "a@b.test", 1, NULL), 1);
	ck_assert_int_eq(stat(src, &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0604);
	ck_assert_int_eq(stat(db, &st2), 0);
	ck_assert_int_eq(st2.st_mode & 07777, 0604);

	userdb_user_deinit(&add);
	free(name);
	free(db);
	free(src);
}
END_TEST

static Suite *
userdb_suite(void)
{
	Suite	*s = suite_create("userdb");
	TCase	*tc;

	tc = tcase_create("parse");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_parse_all_fields);
	tcase_add_test(tc, test_parse_dovecot);
	tcase_add_test(tc, test_parse_blank_comment);
	tcase_add_test(tc, test_parse_malformed);
	tcase_add_test(tc, test_parse_limits);
	tcase_add_test(tc, test_parse_value);
	tcase_add_test(tc, test_address_valid);
	tcase_add_test(tc, test_format_roundtrip);
	tcase_add_test(tc, test_table_name);
	suite_add_tcase(s, tc);

	tc = tcase_create("build");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_build_lookup, 0,
	    (int)N_ELEMENTS(backend_types));
	tcase_add_test(tc, test_build_errors);
	tcase_add_test(tc, test_rewrite_keeps_comments);
	tcase_add_test(tc, test_rewrite_roundtrip);
	tcase_add_test(tc, test_rewrite_refuses_broken);
	tcase_add_test(tc, test_rewrite_modes);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(userdb_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
