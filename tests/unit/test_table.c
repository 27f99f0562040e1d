/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for common/table.c and both backends: TYPE:FILE names, the
 * text-source parser (every error with FILE:LINE, each limit at the
 * maximum and one over), builds and lookups (found, absent, case
 * folding, continuation lines), atomic replacement seen by an open
 * reader, a leftover temporary file from an interrupted build, owner and
 * mode of the compiled file, and an unsupported type.  The backend tests
 * run once per type; hash: cases print SKIP in a build --without-bdb.
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "common/table.h"
#include "common/table_int.h"
#include "common/xmalloc.h"

#include "common/banned.h"

static const char *const backend_types[] = { "hash", "lmdb" };

/* The temporary folder of the running test (each test runs forked). */
static char test_dir[PATH_MAX];

static void
setup(void)
{
	int	n;

	n = snprintf(test_dir, sizeof(test_dir), "/tmp/test_table.XXXXXX");
	ck_assert_int_lt(n, (int)sizeof(test_dir));
	ck_assert_ptr_nonnull(mkdtemp(test_dir));
}

static void
teardown(void)
{
	struct dirent *de;
	DIR	*d;
	char	*p;

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

/* test_dir/name, caller frees. */
static char *
path_in(const char *name)
{
	return xasprintf("%s/%s", test_dir, name);
}

static void
write_file(const char *path, const char *data, size_t len)
{
	FILE	*fp;

	fp = fopen(path, "w");
	ck_assert_ptr_nonnull(fp);
	ck_assert_uint_eq(fwrite(data, 1, len, fp), len);
	ck_assert_int_eq(fclose(fp), 0);
}

static void
write_str(const char *path, const char *text)
{
	write_file(path, text, strlen(text));
}

static char *
repeat(char c, size_t n)
{
	char	*s = xmalloc(n + 1);

	memset(s, c, n);
	s[n] = '\0';
	return s;
}

/* True (and SKIP printed) when this build lacks the type under test. */
static bool
skip_type(const char *type)
{
	if (table_type_supported(type))
		return false;
	printf("SKIP: %s: tables not supported in this build\n", type);
	return true;
}

/* Builds name; returns the entry count; fails the test on error. */
static long
build_ok(const char *name)
{
	const char *error = NULL;
	long	 n;

	n = table_build(name, "lmdb", &error);
	if (n < 0)
		ck_abort_msg("table_build %s: %s", name, error);
	return n;
}

/* Looks key up in t and checks the result is want (NULL: absent). */
static void
lookup_is(struct table *t, const char *key, const char *want)
{
	const char *value = NULL, *error = NULL;
	int	 ret;

	ret = table_lookup(t, key, &value, &error);
	if (want == NULL) {
		ck_assert_msg(ret == 0, "lookup %s: %d (%s)", key, ret,
		    error == NULL ? "" : error);
		return;
	}
	ck_assert_msg(ret == 1, "lookup %s: %d (%s)", key, ret,
	    error == NULL ? "" : error);
	ck_assert_str_eq(value, want);
}

/* ---- names ---------------------------------------------------------- */

START_TEST(test_table_parse_name)
{
	const char *type, *error;
	char	*file;

	ck_assert_int_eq(table_parse_name("lmdb:/etc/x", "hash", &type, &file,
	    &error), 0);
	ck_assert_str_eq(type, "lmdb");
	ck_assert_str_eq(file, "/etc/x");
	free(file);
	ck_assert_int_eq(table_parse_name("/etc/x", "lmdb", &type, &file,
	    &error), 0);
	ck_assert_str_eq(type, "lmdb");
	ck_assert_str_eq(file, "/etc/x");
	free(file);
	/* A ":" after something that is no type word belongs to the path. */
	ck_assert_int_eq(table_parse_name("/etc/a:b", "lmdb", &type, &file,
	    &error), 0);
	ck_assert_str_eq(type, "lmdb");
	ck_assert_str_eq(file, "/etc/a:b");
	free(file);
	ck_assert_int_eq(table_parse_name("lmdb:rel/a:b", NULL, &type, &file,
	    &error), 0);
	ck_assert_str_eq(file, "rel/a:b");
	free(file);

	ck_assert_int_eq(table_parse_name("btree:/etc/x", "lmdb", &type, &file,
	    &error), -1);
	ck_assert_ptr_nonnull(strstr(error, "unknown table type \"btree\""));
	ck_assert_int_eq(table_parse_name("/etc/x", "cdb", &type, &file,
	    &error), -1);
	ck_assert_ptr_nonnull(strstr(error, "default_database_type \"cdb\""));
	ck_assert_int_eq(table_parse_name("lmdb:", "lmdb", &type, &file,
	    &error), -1);
	ck_assert_ptr_nonnull(strstr(error, "missing file name"));
	ck_assert_int_eq(table_parse_name("", "lmdb", &type, &file,
	    &error), -1);
	ck_assert_ptr_nonnull(strstr(error, "missing file name"));
	ck_assert_int_eq(table_parse_name("HASH:/x", "lmdb", &type, &file,
	    &error), 0);
	ck_assert_str_eq(file, "HASH:/x");	/* no type word: a path */
	free(file);
}
END_TEST

START_TEST(test_table_parse_name_hash)
{
	const char *type, *error;
	char	*file;
	int	 ret;

	ret = table_parse_name("hash:/etc/x", "lmdb", &type, &file, &error);
#ifdef HAVE_BDB
	ck_assert(table_type_supported("hash"));
	ck_assert_int_eq(ret, 0);
	ck_assert_str_eq(type, "hash");
	ck_assert_str_eq(file, "/etc/x");
	free(file);
	/* The default of default_database_type. */
	ck_assert_int_eq(table_parse_name("/etc/x", NULL, &type, &file,
	    &error), 0);
	ck_assert_str_eq(type, "hash");
	free(file);
#else
	ck_assert(!table_type_supported("hash"));
	ck_assert_int_eq(ret, -1);
	ck_assert_str_eq(error, "hash: tables need Berkeley DB; this build "
	    "has LMDB only (use lmdb:)");
	ck_assert_int_eq(table_parse_name("/etc/x", "hash", &type, &file,
	    &error), -1);
	ck_assert_str_eq(error, "hash: tables need Berkeley DB; this build "
	    "has LMDB only (use lmdb:)");
#endif
}
END_TEST

START_TEST(test_table_compiled_path)
{
	char	*p;

	ck_assert(table_type_supported("lmdb"));
	ck_assert(!table_type_supported("btree"));
	ck_assert(!table_type_supported(""));
	p = table_compiled_path("hash", "/etc/postern/aliases");
	ck_assert_str_eq(p, "/etc/postern/aliases.db");
	free(p);
	p = table_compiled_path("lmdb", "/etc/postern/aliases");
	ck_assert_str_eq(p, "/etc/postern/aliases.lmdb");
	free(p);
}
END_TEST

/* ---- the source parser ---------------------------------------------- */

/* Parses text; returns the error or NULL; src_r filled on success. */
static const char *
parse(const char *text, size_t len, struct table_source *src_r)
{
	const char *error = NULL;

	if (table_source_parse("src", text, len, src_r, &error) == 0)
		return NULL;
	ck_assert_ptr_nonnull(error);
	ck_assert_uint_eq(src_r->count, 0);
	ck_assert_ptr_null(src_r->entries);
	return error;
}

static void
parse_fails(const char *text, const char *want)
{
	struct table_source src;
	const char *error;

	error = parse(text, strlen(text), &src);
	ck_assert_msg(error != NULL, "\"%s\" parsed", text);
	ck_assert_str_eq(error, want);
}

/* The value of key in a sorted source, or NULL. */
static const char *
source_value(const struct table_source *src, const char *key)
{
	size_t	i;

	for (i = 0; i < src->count; i++) {
		if (strcmp(src->entries[i].key, key) == 0)
			return src->entries[i].value;
	}
	return NULL;
}

START_TEST(test_table_source_format)
{
	static const char text[] =
	    "# a comment\n"
	    "\n"
	    "Postmaster: root\n"
	    "alice   alice@example.test\t \n"
	    "  \t\n"
	    "list: a@example.test,\n"
	    "   b@example.test,\n"
	    "# a commented-out member\n"
	    "\tc@example.test\n"
	    "    # an indented comment\n"
	    "crlf value\r\n"
	    "a:b with colon inside\n"
	    "late:\n"
	    "  value on the next line\n"
	    "last no newline";
	struct table_source src;

	ck_assert_ptr_null(parse(text, sizeof(text) - 1, &src));
	ck_assert_uint_eq(src.count, 7);
	ck_assert_str_eq(source_value(&src, "postmaster"), "root");
	ck_assert_str_eq(source_value(&src, "alice"), "alice@example.test");
	ck_assert_str_eq(source_value(&src, "list"),
	    "a@example.test, b@example.test, c@example.test");
	ck_assert_str_eq(source_value(&src, "crlf"), "value");
	ck_assert_str_eq(source_value(&src, "a:b"), "with colon inside");
	ck_assert_str_eq(source_value(&src, "late"), "value on the next line");
	ck_assert_str_eq(source_value(&src, "last"), "no newline");
	ck_assert_ptr_null(source_value(&src, "Postmaster"));
	/* Sorted by key, and lines recorded. */
	ck_assert_str_eq(src.entries[0].key, "a:b");
	ck_assert_uint_eq(src.entries[0].line, 12);
	ck_assert_str_eq(src.entries[6].key, "postmaster");
	ck_assert_uint_eq(src.entries[6].line, 3);
	table_source_deinit(&src);

	/* Empty and comment-only sources are empty tables. */
	ck_assert_ptr_null(parse("", 0, &src));
	ck_assert_uint_eq(src.count, 0);
	table_source_deinit(&src);
	ck_assert_ptr_null(parse("# nothing\n\n", 11, &src));
	ck_assert_uint_eq(src.count, 0);
	table_source_deinit(&src);
}
END_TEST

START_TEST(test_table_source_errors)
{
	struct table_source src;
	const char *error;

	parse_fails("  indented first\n",
	    "src:1: continuation line without an entry before it");
	parse_fails("# c\n\n  indented after comment\n",
	    "src:3: continuation line without an entry before it");
	parse_fails("a 1\nkeyonly\nb 2\n",
	    "src:2: missing value for key \"keyonly\"");
	parse_fails("a 1\nkey:\n", "src:2: missing value for key \"key\"");
	parse_fails("a 1\nb 2\n: value\n", "src:3: empty key");
	parse_fails("a 1\nb 2\nA 3\n",
	    "src:3: duplicate key \"a\" (first on line 1)");
	parse_fails("x 1\nb 2\nB: 3\nx 4\n",
	    "src:3: duplicate key \"b\" (first on line 2)");
	/* A NUL byte, in a key or a value. */
	error = parse("a 1\nb v\0x\n", 9, &src);
	ck_assert_str_eq(error, "src:2: NUL byte in line");
	error = parse("\0", 1, &src);
	ck_assert_str_eq(error, "src:1: NUL byte in line");
}
END_TEST

START_TEST(test_table_source_key_max)
{
	struct table_source src;
	const char *error;
	char	*key, *text;

	key = repeat('K', TABLE_KEY_MAX);
	text = xasprintf("%s v\n", key);
	ck_assert_ptr_null(parse(text, strlen(text), &src));
	ck_assert_uint_eq(src.count, 1);
	ck_assert_uint_eq(src.entries[0].key_len, TABLE_KEY_MAX);
	ck_assert_int_eq(src.entries[0].key[0], 'k');
	table_source_deinit(&src);
	free(text);
	/* With the colon: the colon is not part of the key. */
	text = xasprintf("%s: v\n", key);
	ck_assert_ptr_null(parse(text, strlen(text), &src));
	table_source_deinit(&src);
	free(text);
	free(key);

	key = repeat('k', TABLE_KEY_MAX + 1);
	text = xasprintf("a 1\n%s v\n", key);
	error = parse(text, strlen(text), &src);
	ck_assert_str_eq(error, "src:2: key longer than 1024 bytes");
	free(text);
	free(key);
}
END_TEST

START_TEST(test_table_source_value_max)
{
	struct table_source src;
	const char *error;
	char	*value, *text;

	value = repeat('v', TABLE_VALUE_MAX);
	text = xasprintf("k %s\n", value);
	ck_assert_ptr_null(parse(text, strlen(text), &src));
	ck_assert_uint_eq(src.entries[0].value_len, TABLE_VALUE_MAX);
	table_source_deinit(&src);
	free(text);
	/* One over, on one line. */
	text = xasprintf("k %sv\n", value);
	error = parse(text, strlen(text), &src);
	ck_assert_str_eq(error, "src:1: value longer than 65536 bytes");
	free(text);
	free(value);

	/* At the maximum and one over through a continuation line. */
	value = repeat('v', TABLE_VALUE_MAX - 2);
	text = xasprintf("k %s\n x\n", value);
	ck_assert_ptr_null(parse(text, strlen(text), &src));
	ck_assert_uint_eq(src.entries[0].value_len, TABLE_VALUE_MAX);
	table_source_deinit(&src);
	free(text);
	text = xasprintf("k %s\n xy\n", value);
	error = parse(text, strlen(text), &src);
	ck_assert_str_eq(error, "src:2: value longer than 65536 bytes");
	free(text);
	free(value);
}
END_TEST

START_TEST(test_table_source_line_max)
{
	struct table_source src;
	const char *error;
	char	*line, *text;

	/* A comment line at TABLE_LINE_MAX is fine; one byte more is not. */
	line = repeat('#', TABLE_LINE_MAX);
	text = xasprintf("%s\na 1\n", line);
	ck_assert_ptr_null(parse(text, strlen(text), &src));
	ck_assert_uint_eq(src.count, 1);
	table_source_deinit(&src);
	free(text);
	free(line);
	line = repeat('#', TABLE_LINE_MAX + 1);
	text = xasprintf("a 1\n%s\n", line);
	error = parse(text, strlen(text), &src);
	ck_assert_str_eq(error, "src:2: line longer than 66568 bytes");
	free(text);
	free(line);
}
END_TEST

/* ---- building and reading, per backend ------------------------------ */

static const char source_text[] =
    "# users\n"
    "Postmaster: root\n"
    "alice   alice@example.test\n"
    "list: a@example.test,\n"
    "\tb@example.test\n";

START_TEST(test_table_build_lookup)
{
	const char *type = backend_types[_i];
	const char *error = NULL;
	struct table *t;
	char	*src, *name;

	if (skip_type(type))
		return;
	src = path_in("aliases");
	name = xasprintf("%s:%s", type, src);
	write_str(src, source_text);
	ck_assert_int_eq(build_ok(name), 3);
	t = table_open(name, "lmdb", &error);
	ck_assert_msg(t != NULL, "%s", error);
	ck_assert(!table_changed(t));
	lookup_is(t, "postmaster", "root");
	lookup_is(t, "PostMaster", "root");
	lookup_is(t, "ALICE", "alice@example.test");
	lookup_is(t, "list", "a@example.test, b@example.test");
	lookup_is(t, "bob", NULL);
	lookup_is(t, "", NULL);
	lookup_is(t, "alic", NULL);
	lookup_is(t, "alice ", NULL);
	table_close(&t);
	ck_assert_ptr_null(t);
	table_close(&t);
	free(name);
	free(src);
}
END_TEST

START_TEST(test_table_build_default_type)
{
	const char *type = backend_types[_i];
	const char *error = NULL;
	struct table *t;
	char	*src, *compiled;

	if (skip_type(type))
		return;
	src = path_in("plain");
	write_str(src, "a b\n");
	ck_assert_int_eq(table_build(src, type, &error), 1);
	compiled = table_compiled_path(type, src);
	ck_assert_int_eq(access(compiled, F_OK), 0);
	t = table_open(src, type, &error);
	ck_assert_ptr_nonnull(t);
	lookup_is(t, "a", "b");
	table_close(&t);
	free(compiled);
	free(src);
}
END_TEST

START_TEST(test_table_build_empty)
{
	const char *type = backend_types[_i];
	const char *error = NULL;
	struct table *t;
	char	*src, *name;

	if (skip_type(type))
		return;
	src = path_in("empty");
	name = xasprintf("%s:%s", type, src);
	write_str(src, "# nothing yet\n");
	ck_assert_int_eq(build_ok(name), 0);
	t = table_open(name, NULL, &error);
	ck_assert_msg(t != NULL, "%s", error);
	lookup_is(t, "a", NULL);
	table_close(&t);
	free(name);
	free(src);
}
END_TEST

/* Temporary files left in test_dir whose name starts with prefix. */
static unsigned int
count_prefixed(const char *prefix)
{
	struct dirent *de;
	unsigned int n = 0;
	DIR	*d;

	d = opendir(test_dir);
	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, prefix, strlen(prefix)) == 0)
			n++;
	}
	(void)closedir(d);
	return n;
}

START_TEST(test_table_build_errors)
{
	const char *type = backend_types[_i];
	const char *error = NULL;
	char	*src, *name, *want, *compiled;

	if (skip_type(type))
		return;
	src = path_in("broken");
	name = xasprintf("%s:%s", type, src);
	compiled = table_compiled_path(type, src);

	write_str(src, "a 1\n  b\nkeyonly\n");
	ck_assert_int_eq(table_build(name, NULL, &error), -1);
	want = xasprintf("%s:3: missing value for key \"keyonly\"", src);
	ck_assert_str_eq(error, want);
	free(want);
	write_str(src, "a 1\nb 2\n\nA 3\n");
	ck_assert_int_eq(table_build(name, NULL, &error), -1);
	want = xasprintf("%s:4: duplicate key \"a\" (first on line 1)", src);
	ck_assert_str_eq(error, want);
	free(want);
	/* Nothing built, nothing left behind. */
	ck_assert_int_eq(access(compiled, F_OK), -1);
	ck_assert_uint_eq(count_prefixed("broken."), 0);

	/* No source at all; a folder or a FIFO in its place. */
	ck_assert_int_eq(unlink(src), 0);
	ck_assert_int_eq(table_build(name, NULL, &error), -1);
	ck_assert_ptr_nonnull(strstr(error, "No such file or directory"));
	ck_assert_int_eq(mkdir(src, 0700), 0);
	ck_assert_int_eq(table_build(name, NULL, &error), -1);
	ck_assert_ptr_nonnull(strstr(error, "not a regular file"));
	ck_assert_int_eq(rmdir(src), 0);
	ck_assert_int_eq(mkfifo(src, 0600), 0);
	ck_assert_int_eq(table_build(name, NULL, &error), -1);
	ck_assert_ptr_nonnull(strstr(error, "not a regular file"));
	ck_assert_int_eq(unlink(src), 0);

	/* A folder we cannot create the temporary file in. */
	free(name);
	name = xasprintf("%s:/proc/version", type);
	ck_assert_int_eq(table_build(name, NULL, &error), -1);
	ck_assert_ptr_nonnull(strstr(error, "/proc/version"));

	free(compiled);
	free(name);
	free(src);
}
END_TEST

START_TEST(test_table_key_max)
{
	const char *type = backend_types[_i];
	const char *error = NULL;
	struct table *t;
	char	*src, *name, *key, *key2, *longer, *value, *text, *want;

	if (skip_type(type))
		return;
	src = path_in("long");
	name = xasprintf("%s:%s", type, src);
	/*
	 * Two keys at TABLE_KEY_MAX that differ only in their last byte
	 * (past LMDB's own key limit), a value at TABLE_VALUE_MAX.
	 */
	key = repeat('k', TABLE_KEY_MAX);
	key2 = xstrdup(key);
	key2[TABLE_KEY_MAX - 1] = 'z';
	value = repeat('v', TABLE_VALUE_MAX);
	text = xasprintf("%s one\n%s %s\nshort two\n", key, key2, value);
	write_str(src, text);
	ck_assert_int_eq(build_ok(name), 3);
	t = table_open(name, NULL, &error);
	ck_assert_msg(t != NULL, "%s", error);
	lookup_is(t, key, "one");
	lookup_is(t, key2, value);
	lookup_is(t, "short", "two");
	/* Same stand-in prefix, different key: absent. */
	key2[TABLE_KEY_MAX - 1] = 'y';
	lookup_is(t, key2, NULL);
	key2[TABLE_KEY_MAX - 2] = '\0';
	lookup_is(t, key2, NULL);
	/* A key longer than any that can be built: absent. */
	longer = repeat('k', TABLE_KEY_MAX + 1);
	lookup_is(t, longer, NULL);
	table_close(&t);
	free(text);

	/* One byte over in the source: an error naming the line. */
	text = xasprintf("a 1\n%s v\n", longer);
	write_str(src, text);
	ck_assert_int_eq(table_build(name, NULL, &error), -1);
	want = xasprintf("%s:2: key longer than 1024 bytes", src);
	ck_assert_str_eq(error, want);
	free(want);
	free(text);
	free(longer);
	free(value);
	free(key2);
	free(key);
	free(name);
	free(src);
}
END_TEST

START_TEST(test_table_replace_while_open)
{
	const char *type = backend_types[_i];
	const char *error = NULL, *value = NULL;
	struct table *t;
	char	*src, *name, *compiled;

	if (skip_type(type))
		return;
	src = path_in("map");
	name = xasprintf("%s:%s", type, src);
	compiled = table_compiled_path(type, src);
	write_str(src, "domain old.example\nkept same\n");
	ck_assert_int_eq(build_ok(name), 2);
	t = table_open(name, NULL, &error);
	ck_assert_msg(t != NULL, "%s", error);
	lookup_is(t, "domain", "old.example");
	ck_assert(!table_changed(t));

	write_str(src, "domain new.example\nkept same\nadded yes\n");
	ck_assert_int_eq(build_ok(name), 3);
	ck_assert(table_changed(t));
	lookup_is(t, "domain", "new.example");
	lookup_is(t, "added", "yes");
	ck_assert(!table_changed(t));

	/* Removed: changed, and a lookup is a temporary failure. */
	ck_assert_int_eq(unlink(compiled), 0);
	ck_assert(table_changed(t));
	ck_assert_int_eq(table_lookup(t, "domain", &value, &error), -1);
	ck_assert_ptr_nonnull(strstr(error, "cannot be reopened"));
	/* Back again: served again. */
	ck_assert_int_eq(build_ok(name), 3);
	lookup_is(t, "domain", "new.example");
	table_close(&t);
	free(compiled);
	free(name);
	free(src);
}
END_TEST

START_TEST(test_table_interrupted_build)
{
	const char *type = backend_types[_i];
	const char *error = NULL;
	struct table *t;
	char	*src, *name, *compiled, *leftover, *prefix;

	if (skip_type(type))
		return;
	src = path_in("users");
	name = xasprintf("%s:%s", type, src);
	compiled = table_compiled_path(type, src);
	write_str(src, "alice yes\n");
	ck_assert_int_eq(build_ok(name), 1);
	/* What a build killed half way leaves: a partial temporary file. */
	leftover = xasprintf("%s.tmpAbC123", compiled);
	write_str(leftover, "half a table");
	t = table_open(name, NULL, &error);
	ck_assert_msg(t != NULL, "%s", error);
	ck_assert(!table_changed(t));
	lookup_is(t, "alice", "yes");
	/* A new build does not trip over it, and leaves it alone. */
	write_str(src, "alice no\n");
	ck_assert_int_eq(build_ok(name), 1);
	lookup_is(t, "alice", "no");
	ck_assert_int_eq(access(leftover, F_OK), 0);
	prefix = xasprintf("users%s.tmp", strrchr(compiled, '.'));
	ck_assert_uint_eq(count_prefixed(prefix), 1);
	table_close(&t);
	free(prefix);
	free(leftover);
	free(compiled);
	free(name);
	free(src);
}
END_TEST

START_TEST(test_table_owner_mode)
{
	const char *type = backend_types[_i];
	struct stat st;
	char	*src, *name, *compiled;

	if (skip_type(type))
		return;
	src = path_in("secret");
	name = xasprintf("%s:%s", type, src);
	compiled = table_compiled_path(type, src);
	write_str(src, "k v\n");
	ck_assert_int_eq(chmod(src, 0640), 0);
	if (geteuid() == 0)
		ck_assert_int_eq(chown(src, 65534, 65534), 0);
	ck_assert_int_eq(build_ok(name), 1);
	ck_assert_int_eq(stat(compiled, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0640);
	if (geteuid() == 0) {
		ck_assert_uint_eq(st.st_uid, 65534);
		ck_assert_uint_eq(st.st_gid, 65534);
	} else {
		printf("SKIP: owner of the compiled table (not root)\n");
		ck_assert_uint_eq(st.st_uid, geteuid());
	}
	/* Execute and set-id bits of the source are not copied. */
	ck_assert_int_eq(chmod(src, 04755), 0);
	ck_assert_int_eq(build_ok(name), 1);
	ck_assert_int_eq(stat(compiled, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0644);
	free(compiled);
	free(name);
	free(src);
}
END_TEST

START_TEST(test_table_open_errors)
{
	const char *type = backend_types[_i];
	const char *error = NULL;
	struct table *t;
	char	*src, *name, *compiled;

	if (skip_type(type))
		return;
	src = path_in("never");
	name = xasprintf("%s:%s", type, src);
	compiled = table_compiled_path(type, src);
	/* Never built. */
	t = table_open(name, NULL, &error);
	ck_assert_ptr_null(t);
	ck_assert_ptr_nonnull(strstr(error, compiled));
	/* Not a table of this type. */
	write_file(compiled, "this is not a database at all\n", 30);
	t = table_open(name, NULL, &error);
	ck_assert_ptr_null(t);
	ck_assert_ptr_nonnull(strstr(error, compiled));
	/* Unknown type. */
	t = table_open("btree:/etc/x", NULL, &error);
	ck_assert_ptr_null(t);
	ck_assert_ptr_nonnull(strstr(error, "unknown table type"));
	free(compiled);
	free(name);
	free(src);
}
END_TEST

START_TEST(test_table_unsupported_type)
{
	const char *error = NULL;
	char	*src, *name;

	src = path_in("any");
	write_str(src, "a b\n");
	name = xasprintf("btree:%s", src);
	ck_assert_int_eq(table_build(name, NULL, &error), -1);
	ck_assert_ptr_nonnull(strstr(error, "unknown table type \"btree\""));
	free(name);
	name = xasprintf("hash:%s", src);
#ifdef HAVE_BDB
	ck_assert_int_eq(table_build(name, NULL, &error), 1);
#else
	ck_assert_int_eq(table_build(name, NULL, &error), -1);
	ck_assert_str_eq(error, "hash: tables need Berkeley DB; this build "
	    "has LMDB only (use lmdb:)");
	ck_assert_ptr_null(table_open(name, NULL, &error));
	ck_assert_str_eq(error, "hash: tables need Berkeley DB; this build "
	    "has LMDB only (use lmdb:)");
	/* The default type is hash: a bare name fails the same way. */
	ck_assert_int_eq(table_build(src, "hash", &error), -1);
	ck_assert_str_eq(error, "hash: tables need Berkeley DB; this build "
	    "has LMDB only (use lmdb:)");
#endif
	free(name);
	free(src);
}
END_TEST

static Suite *
table_suite(void)
{
	Suite	*s = suite_create("table");
	TCase	*tc;
	int	 n = (int)N_ELEMENTS(backend_types);

	tc = tcase_create("names");
	tcase_add_test(tc, test_table_parse_name);
	tcase_add_test(tc, test_table_parse_name_hash);
	tcase_add_test(tc, test_table_compiled_path);
	suite_add_tcase(s, tc);

	tc = tcase_create("source");
	tcase_add_test(tc, test_table_source_format);
	tcase_add_test(tc, test_table_source_errors);
	tcase_add_test(tc, test_table_source_key_max);
	tcase_add_test(tc, test_table_source_value_max);
	tcase_add_test(tc, test_table_source_line_max);
	suite_add_tcase(s, tc);

	tc = tcase_create("backends");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_table_build_lookup, 0, n);
	tcase_add_loop_test(tc, test_table_build_default_type, 0, n);
	tcase_add_loop_test(tc, test_table_build_empty, 0, n);
	tcase_add_loop_test(tc, test_table_build_errors, 0, n);
	tcase_add_loop_test(tc, test_table_key_max, 0, n);
	tcase_add_loop_test(tc, test_table_replace_while_open, 0, n);
	tcase_add_loop_test(tc, test_table_interrupted_build, 0, n);
	tcase_add_loop_test(tc, test_table_owner_mode, 0, n);
	tcase_add_loop_test(tc, test_table_open_errors, 0, n);
	tcase_add_test(tc, test_table_unsupported_type);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(table_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
