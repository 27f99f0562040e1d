/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for authd/resolve.c with real tables: each test writes a
 * users file and an aliases file into a temporary folder, compiles them
 * (userdb_build(), table_build(), LMDB so the test runs in a build
 * --without-bdb too), reads a postern.conf text with conf_parse() and
 * sets the global cfg.  Covered: local users, unknown users, case
 * folding, sub-addressing with one and two delimiters, aliases (lists,
 * chains, loops, self-loops, depth and size limits at the maximum and
 * one over, remote and unknown targets), catch-alls, postmaster and
 * abuse with and without a mailbox, relay decisions (authenticated,
 * mynetworks IPv4, IPv6 and IPv4-mapped, relay_domains exact and
 * ".parent"), the "%", "!" and source-route tricks, a table missing at
 * start and created later, a table replaced while open, resolve_user()
 * and resolve_maildir(), and Unix accounts of system_account_domains
 * (resolve_account(): the machine's root, daemon and nobody).
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "common/buf.h"
#include "common/conf.h"
#include "common/table.h"
#include "common/userdb.h"
#include "common/xmalloc.h"
#include "authd/resolve.h"

#include "common/banned.h"

/* The temporary folder of the running test (each test runs forked). */
static char test_dir[PATH_MAX];
static struct postern_config *test_cfg;

static const char users_text[] =
    "# test users\n"
    "alice@example.test:{PLAIN}a\n"
    "bob@example.test:{PLAIN}b\n"
    "carol@example.test:{PLAIN}c\n"
    "bob@other.test:{PLAIN}b2\n"
    "dave@example.test:{PLAIN}d::::/srv/home/dave::quota=10m disabled=yes\n"
    "erin@example.test:{PLAIN}e::::::maildir=/srv/mail/erin\n";

static const char aliases_text[] =
    "team@example.test: alice@example.test, bob@example.test  carol@example.test,"
    "alice@example.test\n"
    "l1@example.test: l2@example.test\n"
    "l2@example.test: l3@example.test\n"
    "l3@example.test: alice@example.test\n"
    "loopa@example.test: loopb@example.test\n"
    "loopb@example.test: loopa@example.test\n"
    "loopc@example.test: loopd@example.test, bob@example.test\n"
    "loopd@example.test: loopc@example.test\n"
    "self@example.test: self@example.test, bob@example.test\n"
    "selfonly@example.test: selfonly@example.test\n"
    "fwd@example.test: someone@far.test, alice, Someone@FAR.test\n"
    "part@example.test: alice@example.test, ghost@example.test\n"
    "ghosts@example.test: ghost@example.test, ghost2@example.test\n"
    "odd@example.test: |/bin/cat, /tmp/file, :include:/x, bob\n"
    "alice+special@example.test: carol@example.test\n"
    "diamond@example.test: d1@example.test, d2@example.test\n"
    "d1@example.test: d3@example.test\n"
    "d2@example.test: d3@example.test\n"
    "d3@example.test: bob@example.test\n"
    "@other.test: alice@example.test\n";

static void
write_file(const char *name, const char *text)
{
	FILE	*fp;
	char	*path;

	path = xasprintf("%s/%s", test_dir, name);
	fp = fopen(path, "w");
	ck_assert_ptr_nonnull(fp);
	ck_assert_uint_eq(fwrite(text, 1, strlen(text), fp), strlen(text));
	ck_assert_int_eq(fclose(fp), 0);
	free(path);
}

static void
build_users(const char *text)
{
	const char	*error = NULL;
	char		*name;

	write_file("users", text);
	name = xasprintf("lmdb:%s/users", test_dir);
	if (userdb_build(name, &error) == -1)
		ck_abort_msg("userdb_build: %s", error);
	free(name);
}

static void
build_aliases(const char *file, const char *text)
{
	const char	*error = NULL;
	char		*name;

	write_file(file, text);
	name = xasprintf("lmdb:%s/%s", test_dir, file);
	if (table_build(name, "lmdb", &error) == -1)
		ck_abort_msg("table_build: %s", error);
	free(name);
}

/* Reads a configuration with the test's tables and extra lines. */
static void
load_config(const char *extra)
{
	struct conf_errors errs;
	char	*text;

	conf_free(&test_cfg);
	text = xasprintf(
	    "default_database_type = lmdb\n"
	    "mydomains = example.test, Other.Test.\n"
	    "user_database = lmdb:%s/users\n"
	    "alias_maps = lmdb:%s/aliases, %s/aliases2\n"
	    "mynetworks = 127.0.0.0/8, [::1]/128, 192.0.2.0/24, "
	    "[2001:db8::]/32\n"
	    "relay_domains = relay.test, .parent.test\n"
	    "mail_directory = /var/vmail\n"
	    "%s", test_dir, test_dir, test_dir, extra);
	test_cfg = conf_parse(test_dir, "postern.conf", text, strlen(text),
	    &errs);
	if (test_cfg == NULL)
		ck_abort_msg("conf_parse: %s", errs.count > 0 ? errs.lines[0] :
		    "?");
	conf_errors_deinit(&errs);
	free(text);
	cfg = test_cfg;
}

static void
setup(void)
{
	int	n;

	n = snprintf(test_dir, sizeof(test_dir), "/tmp/test_resolve.XXXXXX");
	ck_assert_int_lt(n, (int)sizeof(test_dir));
	ck_assert_ptr_nonnull(mkdtemp(test_dir));
	build_users(users_text);
	build_aliases("aliases", aliases_text);
	build_aliases("aliases2", "extra@example.test: carol\n");
	load_config("recipient_delimiter = +\n");
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

/* "a,b,c" for a NULL-terminated list (caller frees). */
static char *
join(char **v)
{
	struct buf	 b;
	size_t		 i;
	char		*s;

	ck_assert_ptr_nonnull(v);
	buf_init(&b, 64, 1024 * 1024);
	for (i = 0; v[i] != NULL; i++)
		ck_assert_int_eq(buf_printf(&b, "%s%s", i > 0 ? "," : "",
		    v[i]), 0);
	s = buf_steal(&b);
	buf_deinit(&b);
	return s;
}

/*
 * Resolves rcpt and checks the result, the deliver and forward lists
 * (joined with ",") and, when text is not NULL, that the answer's text
 * contains it.
 */
static void
expect(struct resolve *r, const char *rcpt, const char *client, bool auth,
    enum resolve_result result, const char *deliver, const char *forward,
    const char *text)
{
	struct resolve_answer a;
	char	*d, *f;

	resolve_rcpt(r, rcpt, client, auth, &a);
	ck_assert_ptr_nonnull(a.text);
	d = join(a.deliver);
	f = join(a.forward);
	ck_assert_msg(a.result == result, "%s: result %d, expected %d (%s)",
	    rcpt, (int)a.result, (int)result, a.text);
	ck_assert_msg(strcmp(d, deliver) == 0, "%s: deliver \"%s\", "
	    "expected \"%s\"", rcpt, d, deliver);
	ck_assert_msg(strcmp(f, forward) == 0, "%s: forward \"%s\", "
	    "expected \"%s\"", rcpt, f, forward);
	if (text != NULL)
		ck_assert_msg(strstr(a.text, text) != NULL, "%s: text \"%s\" "
		    "lacks \"%s\"", rcpt, a.text, text);
	free(d);
	free(f);
	resolve_answer_deinit(&a);
	ck_assert_ptr_null(a.text);
}

/* A local answer with these deliver and forward lists. */
static void
expect_local(struct resolve *r, const char *rcpt, const char *deliver,
    const char *forward)
{
	expect(r, rcpt, "203.0.113.1", false, RESOLVE_LOCAL, deliver, forward,
	    NULL);
}

static void
expect_unknown(struct resolve *r, const char *rcpt, const char *text)
{
	expect(r, rcpt, "203.0.113.1", false, RESOLVE_UNKNOWN, "", "", text);
}

/* A remote answer: relay or not, for this client. */
static void
expect_relay(struct resolve *r, const char *rcpt, const char *client,
    bool auth, bool relay)
{
	struct resolve_answer a;

	resolve_rcpt(r, rcpt, client, auth, &a);
	ck_assert_msg(a.result == RESOLVE_REMOTE, "%s: result %d (%s)", rcpt,
	    (int)a.result, a.text);
	ck_assert_msg(a.relay == relay, "%s from %s%s: relay %d (%s)", rcpt,
	    client, auth ? " (auth)" : "", a.relay, a.text);
	ck_assert_ptr_nonnull(a.deliver);
	ck_assert_ptr_null(a.deliver[0]);
	resolve_answer_deinit(&a);
}

START_TEST(test_local_user)
{
	struct resolve *r = resolve_new();

	expect_local(r, "alice@example.test", "alice@example.test", "");
	expect_local(r, "bob@other.test", "bob@other.test", "");
	/* The second alias table is searched too; bare targets qualified. */
	expect_local(r, "extra@example.test", "carol@example.test", "");
	/* A disabled user still receives mail. */
	expect_local(r, "dave@example.test", "dave@example.test", "");
	resolve_free(&r);
	ck_assert_ptr_null(r);
	resolve_free(&r);
}
END_TEST

START_TEST(test_unknown_and_invalid)
{
	struct resolve *r = resolve_new();
	struct resolve_answer a;
	char	 big[USERDB_ADDRESS_MAX + 2];
	size_t	 n;

	expect_unknown(r, "nobody@example.test", "no such recipient");
	expect_unknown(r, "", "empty address");
	expect_unknown(r, "alice", "without a domain");
	expect_unknown(r, "@example.test", "without a local part");
	expect_unknown(r, "alice@", "domain");
	expect_unknown(r, "alice@.", "domain");
	expect_unknown(r, "alice@.example.test", "domain");
	expect_unknown(r, "ali\nce@example.test", "control");
	resolve_rcpt(r, NULL, NULL, false, &a);
	ck_assert_int_eq(a.result, RESOLVE_UNKNOWN);
	resolve_answer_deinit(&a);

	/* The longest address at the limit, and one over. */
	n = USERDB_ADDRESS_MAX - strlen("@example.test");
	memset(big, 'x', n);
	ck_assert_int_eq(snprintf(big + n, sizeof(big) - n, "@example.test"),
	    (int)strlen("@example.test"));
	ck_assert_uint_eq(strlen(big), USERDB_ADDRESS_MAX);
	expect_unknown(r, big, "no such recipient");
	memset(big, 'x', n + 1);
	ck_assert_int_eq(snprintf(big + n + 1, sizeof(big) - n - 1,
	    "@example.test"), (int)strlen("@example.test"));
	expect_unknown(r, big, "too long");
	resolve_free(&r);
}
END_TEST

START_TEST(test_case_folding)
{
	struct resolve *r = resolve_new();

	expect_local(r, "ALICE@Example.TEST", "alice@example.test", "");
	expect_local(r, "alice@example.test.", "alice@example.test", "");
	expect_local(r, "Team@EXAMPLE.test", "alice@example.test,"
	    "bob@example.test,carol@example.test", "");
	ck_assert(resolve_domain_is_local("EXAMPLE.TEST"));
	ck_assert(resolve_domain_is_local("other.test"));
	ck_assert(resolve_domain_is_local("other.test."));
	ck_assert(!resolve_domain_is_local("far.test"));
	ck_assert(!resolve_domain_is_local(""));
	ck_assert(!resolve_domain_is_local("."));
	ck_assert(!resolve_domain_is_local("sub.example.test"));
	resolve_free(&r);
}
END_TEST

START_TEST(test_subaddress)
{
	struct resolve *r = resolve_new();

	expect_local(r, "alice+lists@example.test", "alice@example.test", "");
	expect_local(r, "Alice+Lists+More@example.test", "alice@example.test",
	    "");
	expect_local(r, "alice+@example.test", "alice@example.test", "");
	/* An alias for the whole address wins over the user. */
	expect_local(r, "alice+special@example.test", "carol@example.test", "");
	/* An alias is found without the extension too. */
	expect_local(r, "team+x@example.test", "alice@example.test,"
	    "bob@example.test,carol@example.test", "");
	expect_unknown(r, "alice-lists@example.test", NULL);
	expect_unknown(r, "+lists@example.test", NULL);
	expect_unknown(r, "nobody+x@example.test", NULL);
	resolve_free(&r);

	load_config("recipient_delimiter = +-\n");
	r = resolve_new();
	expect_local(r, "alice-lists@example.test", "alice@example.test", "");
	expect_local(r, "alice+lists@example.test", "alice@example.test", "");
	expect_local(r, "bob-a+b@example.test", "bob@example.test", "");
	resolve_free(&r);

	load_config("");
	r = resolve_new();
	expect_unknown(r, "alice+lists@example.test", NULL);
	resolve_free(&r);
}
END_TEST

START_TEST(test_alias_list_and_chain)
{
	struct resolve *r = resolve_new();

	/* Several users, separators mixed, the duplicate dropped. */
	expect_local(r, "team@example.test", "alice@example.test,"
	    "bob@example.test,carol@example.test", "");
	/* Three levels. */
	expect_local(r, "l1@example.test", "alice@example.test", "");
	/* A diamond is expanded once. */
	expect_local(r, "diamond@example.test", "bob@example.test", "");
	/* Remote targets are forwarded, de-duplicated after folding. */
	expect_local(r, "fwd@example.test", "alice@example.test",
	    "someone@far.test");
	/* A local target that reaches nobody is dropped with a note. */
	expect(r, "part@example.test", "203.0.113.1", false, RESOLVE_LOCAL,
	    "alice@example.test", "", "ghost@example.test: no such recipient");
	expect_unknown(r, "ghosts@example.test", "ghost2@example.test");
	/* Programs, files and includes are not supported. */
	expect(r, "odd@example.test", "203.0.113.1", false, RESOLVE_LOCAL,
	    "bob@example.test", "", "not supported");
	resolve_free(&r);
}
END_TEST

START_TEST(test_alias_loops)
{
	struct resolve *r = resolve_new();

	expect_unknown(r, "loopa@example.test", "alias loop at "
	    "loopa@example.test");
	expect(r, "loopc@example.test", NULL, false, RESOLVE_LOCAL,
	    "bob@example.test", "", "alias loop at loopc@example.test");
	expect(r, "self@example.test", NULL, false, RESOLVE_LOCAL,
	    "bob@example.test", "", "alias loop at self@example.test");
	expect_unknown(r, "selfonly@example.test", "alias loop");
	resolve_free(&r);
}
END_TEST

START_TEST(test_alias_depth)
{
	struct resolve *r;

	/* l1 -> l2 -> l3 -> alice: three levels, the maximum. */
	load_config("authd_max_alias_depth = 3\n");
	r = resolve_new();
	expect_local(r, "l1@example.test", "alice@example.test", "");
	resolve_free(&r);

	load_config("authd_max_alias_depth = 2\n");
	r = resolve_new();
	expect_unknown(r, "l1@example.test", "alias depth limit (2)");
	expect_local(r, "l2@example.test", "alice@example.test", "");
	resolve_free(&r);

	load_config("authd_max_alias_depth = 1\n");
	r = resolve_new();
	expect_local(r, "l3@example.test", "alice@example.test", "");
	expect_unknown(r, "l2@example.test", "depth limit");
	resolve_free(&r);
}
END_TEST

START_TEST(test_alias_targets_limit)
{
	struct resolve *r;

	/* team reaches three users: the maximum. */
	load_config("authd_max_alias_targets = 3\n");
	r = resolve_new();
	expect_local(r, "team@example.test", "alice@example.test,"
	    "bob@example.test,carol@example.test", "");
	resolve_free(&r);

	load_config("authd_max_alias_targets = 2\n");
	r = resolve_new();
	expect(r, "team@example.test", NULL, false, RESOLVE_TEMPFAIL, "", "",
	    "alias expansion too large");
	expect_local(r, "alice@example.test", "alice@example.test", "");
	resolve_free(&r);
}
END_TEST

START_TEST(test_catch_all)
{
	struct resolve *r = resolve_new();

	/* Users first, then the catch-all. */
	expect_local(r, "bob@other.test", "bob@other.test", "");
	expect_local(r, "anything@other.test", "alice@example.test", "");
	expect_local(r, "ANY+x@Other.Test", "alice@example.test", "");
	expect_unknown(r, "anything@example.test", NULL);
	resolve_free(&r);
}
END_TEST

START_TEST(test_postmaster_present)
{
	struct resolve *r;

	build_aliases("aliases2", "postmaster@example.test: bob\n");
	r = resolve_new();
	expect_local(r, "postmaster@example.test", "bob@example.test", "");
	expect_local(r, "abuse@example.test", "bob@example.test", "");
	expect_local(r, "Postmaster+x@example.test", "bob@example.test", "");
	/* other.test has a catch-all, which comes first. */
	expect_local(r, "abuse@other.test", "alice@example.test", "");
	resolve_free(&r);

	/* Without the catch-all, the roles of other.test go to postmaster. */
	build_aliases("aliases", "x@example.test: alice\n");
	r = resolve_new();
	expect_local(r, "abuse@other.test", "bob@example.test", "");
	expect_local(r, "postmaster@other.test", "bob@example.test", "");
	expect_unknown(r, "root@other.test", NULL);
	resolve_free(&r);

	/* postmaster as a user of the users table. */
	build_aliases("aliases2", "x2@example.test: alice\n");
	build_users("postmaster@example.test:{PLAIN}p\n");
	r = resolve_new();
	expect_local(r, "abuse@other.test", "postmaster@example.test", "");
	expect_local(r, "postmaster@example.test", "postmaster@example.test",
	    "");
	resolve_free(&r);
}
END_TEST

START_TEST(test_postmaster_absent)
{
	struct resolve *r;

	build_aliases("aliases", "x@example.test: alice\n");
	r = resolve_new();
	expect(r, "postmaster@example.test", NULL, false, RESOLVE_LOCAL,
	    "postmaster@example.test", "", "no mailbox for "
	    "postmaster@example.test exists");
	expect(r, "abuse@other.test", NULL, false, RESOLVE_LOCAL,
	    "postmaster@example.test", "", "no mailbox");
	expect(r, "ABUSE@example.test", NULL, false, RESOLVE_LOCAL,
	    "postmaster@example.test", "", "no mailbox");
	resolve_free(&r);

	/* An alias loop through postmaster still ends at postmaster. */
	build_aliases("aliases", "postmaster@example.test: abuse@example.test\n"
	    "abuse@example.test: postmaster@example.test\n");
	r = resolve_new();
	expect(r, "postmaster@example.test", NULL, false, RESOLVE_LOCAL,
	    "postmaster@example.test", "", "no mailbox");
	expect(r, "abuse@example.test", NULL, false, RESOLVE_LOCAL,
	    "postmaster@example.test", "", "no mailbox");
	resolve_free(&r);
}
END_TEST

START_TEST(test_remote_relay)
{
	struct resolve *r = resolve_new();

	expect_relay(r, "someone@far.test", "203.0.113.1", false, false);
	expect_relay(r, "someone@far.test", "203.0.113.1", true, true);
	expect_relay(r, "someone@far.test", NULL, false, false);
	expect_relay(r, "someone@far.test", "", false, false);
	/* mynetworks: IPv4, IPv6, IPv4-mapped. */
	expect_relay(r, "someone@far.test", "127.0.0.1", false, true);
	expect_relay(r, "someone@far.test", "192.0.2.254", false, true);
	expect_relay(r, "someone@far.test", "192.0.3.1", false, false);
	expect_relay(r, "someone@far.test", "::1", false, true);
	expect_relay(r, "someone@far.test", "2001:db8:ff::1", false, true);
	expect_relay(r, "someone@far.test", "2001:db9::1", false, false);
	expect_relay(r, "someone@far.test", "::ffff:192.0.2.9", false, true);
	expect_relay(r, "someone@far.test", "::ffff:198.51.100.9", false,
	    false);
	/* relay_domains: exact, ".parent" for names below it only. */
	expect_relay(r, "someone@relay.test", "203.0.113.1", false, true);
	expect_relay(r, "someone@RELAY.test.", "203.0.113.1", false, true);
	expect_relay(r, "someone@sub.relay.test", "203.0.113.1", false, false);
	expect_relay(r, "someone@a.parent.test", "203.0.113.1", false, true);
	expect_relay(r, "someone@b.a.parent.test", "203.0.113.1", false, true);
	expect_relay(r, "someone@parent.test", "203.0.113.1", false, false);
	expect_relay(r, "someone@xparent.test", "203.0.113.1", false, false);
	/* A subdomain of a local domain is not local. */
	expect_relay(r, "alice@sub.example.test", "203.0.113.1", false, false);
	resolve_free(&r);
}
END_TEST

START_TEST(test_routing_tricks)
{
	struct resolve *r = resolve_new();

	/* Local to example.test, looked up as written: unknown. */
	expect_unknown(r, "user%other.example@example.test", NULL);
	expect_unknown(r, "alice%far.test@example.test", NULL);
	expect_unknown(r, "far.test!alice@example.test", NULL);
	expect_unknown(r, "alice@far.test@example.test", NULL);
	expect_unknown(r, "@far.test:alice@example.test", NULL);
	/* Never relayed on the strength of relay_domains. */
	expect_relay(r, "user%far.test@relay.test", "203.0.113.1", false,
	    false);
	expect_relay(r, "far.test!user@relay.test", "203.0.113.1", false,
	    false);
	expect_relay(r, "@relay.test:user@relay.test", "203.0.113.1", false,
	    false);
	expect_relay(r, "user@example.test@relay.test", "203.0.113.1", false,
	    false);
	/* The real domain decides: far.test is not relayed. */
	expect_relay(r, "user%relay.test@far.test", "203.0.113.1", false,
	    false);
	expect_relay(r, "user@relay.test@far.test", "203.0.113.1", false,
	    false);
	/* Trusted clients may send such addresses anywhere. */
	expect_relay(r, "user%far.test@relay.test", "203.0.113.1", true, true);
	expect_relay(r, "user%far.test@relay.test", "192.0.2.1", false, true);
	resolve_free(&r);
}
END_TEST

START_TEST(test_missing_table)
{
	struct resolve *r;
	char	*path;

	path = xasprintf("%s/aliases2.lmdb", test_dir);
	ck_assert_int_eq(unlink(path), 0);
	r = resolve_new();
	/* The alias tables come first for every local address. */
	expect(r, "alice@example.test", NULL, false, RESOLVE_TEMPFAIL, "", "",
	    "unavailable");
	expect(r, "alice@example.test", NULL, false, RESOLVE_TEMPFAIL, "", "",
	    "unavailable");
	/* Remote addresses need no table. */
	expect_relay(r, "x@far.test", "127.0.0.1", false, true);
	build_aliases("aliases2", "extra@example.test: carol\n");
	expect_local(r, "alice@example.test", "alice@example.test", "");
	expect_local(r, "extra@example.test", "carol@example.test", "");
	resolve_free(&r);
	free(path);

	/* The users table: missing, then back. */
	path = xasprintf("%s/users.lmdb", test_dir);
	ck_assert_int_eq(unlink(path), 0);
	r = resolve_new();
	expect(r, "alice@example.test", NULL, false, RESOLVE_TEMPFAIL, "", "",
	    "unavailable");
	/* An alias reached before the users table still needs it. */
	expect(r, "team@example.test", NULL, false, RESOLVE_TEMPFAIL, "", "",
	    "unavailable");
	build_users(users_text);
	expect_local(r, "alice@example.test", "alice@example.test", "");
	resolve_free(&r);
	free(path);
}
END_TEST

START_TEST(test_table_replaced)
{
	struct resolve *r = resolve_new();

	expect_local(r, "team@example.test", "alice@example.test,"
	    "bob@example.test,carol@example.test", "");
	build_aliases("aliases", "team@example.test: bob\n");
	expect_local(r, "team@example.test", "bob@example.test", "");
	expect_unknown(r, "l1@example.test", NULL);

	build_users("zoe@example.test:{PLAIN}z\n");
	expect_local(r, "zoe@example.test", "zoe@example.test", "");
	expect_unknown(r, "alice@example.test", NULL);
	resolve_free(&r);
}
END_TEST

START_TEST(test_resolve_user)
{
	struct resolve *r = resolve_new();
	struct userdb_user u;
	const char	*error = NULL;
	char		*path;

	ck_assert_int_eq(resolve_user(r, "Dave@Example.TEST", &u, &error), 1);
	ck_assert_str_eq(u.address, "dave@example.test");
	ck_assert_str_eq(u.home, "/srv/home/dave");
	ck_assert(u.disabled);
	ck_assert_uint_eq(u.quota, 10 * 1024 * 1024);
	path = resolve_maildir(&u);
	ck_assert_str_eq(path, "/srv/home/dave/Maildir");
	free(path);
	userdb_user_deinit(&u);

	ck_assert_int_eq(resolve_user(r, "erin@example.test", &u, &error), 1);
	path = resolve_maildir(&u);
	ck_assert_str_eq(path, "/srv/mail/erin");
	free(path);
	userdb_user_deinit(&u);

	ck_assert_int_eq(resolve_user(r, "alice@example.test", &u, &error), 1);
	ck_assert(!u.disabled);
	path = resolve_maildir(&u);
	ck_assert_str_eq(path, "/var/vmail/example.test/alice/Maildir");
	free(path);
	userdb_user_deinit(&u);

	ck_assert_int_eq(resolve_user(r, "nobody@example.test", &u, &error),
	    0);
	ck_assert_int_eq(resolve_user(r, "team@example.test", &u, &error), 0);
	ck_assert_int_eq(resolve_user(r, "", &u, &error), 0);
	ck_assert_int_eq(resolve_user(r, "alice", &u, &error), 0);
	resolve_free(&r);

	path = xasprintf("%s/users.lmdb", test_dir);
	ck_assert_int_eq(unlink(path), 0);
	free(path);
	r = resolve_new();
	error = NULL;
	ck_assert_int_eq(resolve_user(r, "alice@example.test", &u, &error),
	    -1);
	ck_assert_ptr_nonnull(error);
	resolve_free(&r);
}
END_TEST

/* system_account_domains: Unix accounts of the machine running the test. */
START_TEST(test_system_accounts)
{
	struct resolve *r;
	struct resolve_account acct;
	const char	*why, *error = NULL;
	char		*addr;

	load_config("recipient_delimiter = +\n"
	    "system_account_domains = Sys.Test.\n");
	build_aliases("aliases2", "root@sys.test: alice@example.test\n"
	    "mail@sys.test: nobody\n");
	r = resolve_new();
	ck_assert(resolve_domain_is_system("sys.test"));
	ck_assert(resolve_domain_is_system("SYS.test."));
	ck_assert(!resolve_domain_is_system("example.test"));
	ck_assert(!resolve_domain_is_system(""));
	ck_assert(resolve_domain_is_local("sys.test"));

	/* After aliases and users; sub-addresses and case folded. */
	expect_local(r, "nobody@sys.test", "nobody@sys.test", "");
	expect_local(r, "NoBody+box@Sys.Test", "nobody@sys.test", "");
	expect_local(r, "daemon@sys.test", "daemon@sys.test", "");
	/* An alias decides first: mail for root must be aliased ... */
	expect_local(r, "root@sys.test", "alice@example.test", "");
	/* ... and a target without a domain is an account too. */
	expect_local(r, "mail@sys.test", "nobody@sys.test", "");
	/* Only in system_account_domains. */
	expect_unknown(r, "nobody@example.test", NULL);
	expect_unknown(r, "postern-no-such-user@sys.test", NULL);
	/* Names getpwnam is never asked about. */
	expect_unknown(r, "-nobody@sys.test", NULL);
	expect_unknown(r, ".nobody@sys.test", NULL);
	expect_unknown(r, "no/body@sys.test", NULL);
	expect_unknown(r, "\"no body\"@sys.test", NULL);
	/* RESOLVE_ACCOUNT_NAME_MAX and one over. */
	addr = xasprintf("%0*d@sys.test", RESOLVE_ACCOUNT_NAME_MAX, 7);
	ck_assert_int_eq(resolve_account(addr, &acct, &why, &error), 0);
	free(addr);
	addr = xasprintf("%0*d@sys.test", RESOLVE_ACCOUNT_NAME_MAX + 1, 7);
	ck_assert_int_eq(resolve_account(addr, &acct, &why, &error), 0);
	ck_assert_ptr_null(why);
	free(addr);

	ck_assert_int_eq(resolve_account("nobody@sys.test", &acct, &why,
	    &error), 1);
	ck_assert_str_eq(acct.name, "nobody");
	ck_assert_uint_eq(acct.uid, 65534);
	ck_assert_uint_eq(acct.gid, 65534);
	ck_assert_str_eq(acct.maildir, "/nonexistent/Maildir");
	resolve_account_deinit(&acct);
	resolve_account_deinit(&acct);
	ck_assert_int_eq(resolve_account("nobody@example.test", &acct, &why,
	    &error), 0);
	ck_assert_ptr_null(why);
	ck_assert_int_eq(resolve_account("nobody", &acct, &why, &error), 0);
	ck_assert_int_eq(resolve_account("root@sys.test", &acct, &why,
	    &error), 0);
	ck_assert_ptr_nonnull(why);
	ck_assert_str_eq(why, "Unix account root has uid 0: not a mailbox "
	    "owner (alias it)");
	ck_assert_ptr_null(acct.name);
	resolve_free(&r);

	/* Without the alias root is unknown, with a note for the log. */
	build_aliases("aliases2", "other@sys.test: nobody\n");
	load_config("system_account_domains = sys.test\n"
	    "system_account_maildir = Mail/inbox\n");
	r = resolve_new();
	expect_unknown(r, "root@sys.test", "uid 0: not a mailbox owner");
	/* No recipient_delimiter now: the whole local part is the name. */
	expect_unknown(r, "nobody+x@sys.test", NULL);
	ck_assert_int_eq(resolve_account("daemon@sys.test", &acct, &why,
	    &error), 1);
	ck_assert_str_eq(acct.maildir, "/usr/sbin/Mail/inbox");
	resolve_account_deinit(&acct);
	resolve_free(&r);
}
END_TEST

START_TEST(test_maildir_paths)
{
	struct userdb_user u = {
		.address = "../x/y@../d", .hash = "", .home = "",
		.maildir = "",
	};
	char	*path;

	path = resolve_maildir(&u);
	ck_assert_str_eq(path, "/var/vmail/_._d/_._x_y/Maildir");
	free(path);
	u.address = "alice@example.test";
	u.home = "/h";
	path = resolve_maildir(&u);
	ck_assert_str_eq(path, "/h/Maildir");
	free(path);
}
END_TEST

static Suite *
resolve_suite(void)
{
	Suite	*s = suite_create("resolve");
	TCase	*tc = tcase_create("resolve");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_local_user);
	tcase_add_test(tc, test_unknown_and_invalid);
	tcase_add_test(tc, test_case_folding);
	tcase_add_test(tc, test_subaddress);
	tcase_add_test(tc, test_alias_list_and_chain);
	tcase_add_test(tc, test_alias_loops);
	tcase_add_test(tc, test_alias_depth);
	tcase_add_test(tc, test_alias_targets_limit);
	tcase_add_test(tc, test_catch_all);
	tcase_add_test(tc, test_postmaster_present);
	tcase_add_test(tc, test_postmaster_absent);
	tcase_add_test(tc, test_remote_relay);
	tcase_add_test(tc, test_routing_tricks);
	tcase_add_test(tc, test_missing_table);
	tcase_add_test(tc, test_table_replaced);
	tcase_add_test(tc, test_resolve_user);
	tcase_add_test(tc, test_system_accounts);
	tcase_add_test(tc, test_maildir_paths);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr;
	int	 failed;

	sr = srunner_create(resolve_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
