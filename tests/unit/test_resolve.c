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
 * (resolve_account(): the machine's root, daemon and nobody).  Routing:
 * every next hop form and its normalisation (resolve_nexthop_parse(),
 * host length at the maximum and one over, ports 1 and 65535 and one
 * past each), transport values (resolve_transport_parse()), the
 * transport_maps lookup order over two tables (address, domain,
 * ".parent" nearest first, "*", address literals), "local" domains and
 * addresses (users, unknown, aliases, catch-all, postmaster), bad values
 * and a bad relayhost deferring, relayhost as the fallback, the relay
 * flag untouched by routes, the transports of forwarded alias targets,
 * and a transport table missing, created and rebuilt.
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
	size_t	 i;

	resolve_rcpt(r, rcpt, client, auth, &a);
	ck_assert_ptr_nonnull(a.text);
	d = join(a.deliver);
	f = join(a.forward);
	ck_assert_msg(a.result == result, "%s: result %d, expected %d (%s)",
	    rcpt, (int)a.result, (int)result, a.text);
	/* One transport per forward, and none but for REMOTE. */
	ck_assert_ptr_nonnull(a.forward_transport);
	for (i = 0; a.forward[i] != NULL; i++)
		ck_assert_ptr_nonnull(a.forward_transport[i]);
	ck_assert_ptr_null(a.forward_transport[i]);
	ck_assert_ptr_null(a.transport);
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

/* Transport tables and relayhost ------------------------------------- */

/* Reads the configuration with the transport tables and extra lines. */
static void
load_transport_config(const char *extra)
{
	char	*text;

	text = xasprintf("recipient_delimiter = +\n"
	    "transport_maps = lmdb:%s/transport, lmdb:%s/transport2\n%s",
	    test_dir, test_dir, extra);
	load_config(text);
	free(text);
}

/*
 * Resolves rcpt for client (not authenticated) and checks the result,
 * the relay flag (REMOTE), the transport (NULL: none may be set) and,
 * when text is not NULL, that the answer's text contains it.
 */
static void
expect_route(struct resolve *r, const char *rcpt, const char *client,
    enum resolve_result result, bool relay, const char *transport,
    const char *text)
{
	struct resolve_answer a;

	resolve_rcpt(r, rcpt, client, false, &a);
	ck_assert_msg(a.result == result, "%s: result %d, expected %d (%s)",
	    rcpt, (int)a.result, (int)result, a.text);
	ck_assert_ptr_nonnull(a.text);
	ck_assert_ptr_nonnull(a.forward_transport);
	if (result == RESOLVE_REMOTE)
		ck_assert_msg(a.relay == relay, "%s: relay %d (%s)", rcpt,
		    a.relay, a.text);
	if (transport == NULL)
		ck_assert_msg(a.transport == NULL, "%s: transport %s", rcpt,
		    a.transport);
	else {
		ck_assert_msg(a.transport != NULL, "%s: no transport (%s)",
		    rcpt, a.text);
		ck_assert_msg(strcmp(a.transport, transport) == 0,
		    "%s: transport \"%s\", expected \"%s\"", rcpt,
		    a.transport, transport);
		ck_assert_uint_le(strlen(a.transport), RESOLVE_TRANSPORT_MAX);
	}
	if (text != NULL)
		ck_assert_msg(strstr(a.text, text) != NULL, "%s: text \"%s\" "
		    "lacks \"%s\"", rcpt, a.text, text);
	resolve_answer_deinit(&a);
	ck_assert_ptr_null(a.transport);
	ck_assert_ptr_null(a.forward_transport);
}

/* A remote recipient for a client that may not relay. */
static void
expect_transport(struct resolve *r, const char *rcpt, const char *transport)
{
	expect_route(r, rcpt, "203.0.113.1", RESOLVE_REMOTE, false, transport,
	    NULL);
}

/* A local answer whose forward and forward_transport lists are these. */
static void
expect_forward(struct resolve *r, const char *rcpt, const char *deliver,
    const char *forward, const char *transports)
{
	struct resolve_answer a;
	char	*d, *f, *t;

	resolve_rcpt(r, rcpt, "203.0.113.1", false, &a);
	ck_assert_msg(a.result == RESOLVE_LOCAL, "%s: result %d (%s)", rcpt,
	    (int)a.result, a.text);
	ck_assert_ptr_null(a.transport);
	d = join(a.deliver);
	f = join(a.forward);
	t = join(a.forward_transport);
	ck_assert_msg(strcmp(d, deliver) == 0, "%s: deliver \"%s\"", rcpt, d);
	ck_assert_msg(strcmp(f, forward) == 0, "%s: forward \"%s\"", rcpt, f);
	ck_assert_msg(strcmp(t, transports) == 0, "%s: forward_transport "
	    "\"%s\", expected \"%s\"", rcpt, t, transports);
	free(d);
	free(f);
	free(t);
	resolve_answer_deinit(&a);
}

/* Checks resolve_nexthop_parse(s): want NULL means it must fail. */
static void
expect_nexthop(const char *s, const char *want)
{
	const char	*error = NULL;
	char		*nh = NULL;
	int		 ret;

	ret = resolve_nexthop_parse(s, &nh, &error);
	if (want == NULL) {
		ck_assert_msg(ret == -1, "next hop \"%s\" accepted as \"%s\"",
		    s, nh);
		ck_assert_ptr_null(nh);
		ck_assert_ptr_nonnull(error);
		return;
	}
	ck_assert_msg(ret == 0, "next hop \"%s\" refused: %s", s, error);
	ck_assert_msg(strcmp(nh, want) == 0, "next hop \"%s\" is \"%s\", "
	    "expected \"%s\"", s, nh, want);
	free(nh);
}

/*
 * Checks resolve_transport_parse(value): ret 0 local, 1 smtp with want
 * (NULL: no next hop), -1 refused with an error containing want (or
 * any, for NULL).
 */
static void
expect_value(const char *value, int ret, const char *want)
{
	const char	*error = NULL;
	char		*nh = NULL;
	int		 got;

	got = resolve_transport_parse(value, &nh, &error);
	ck_assert_msg(got == ret, "value \"%s\": %d, expected %d (%s)", value,
	    got, ret, got == -1 ? error : "");
	if (ret == -1) {
		ck_assert_ptr_null(nh);
		ck_assert_ptr_nonnull(error);
		if (want != NULL)
			ck_assert_msg(strstr(error, want) != NULL, "value "
			    "\"%s\": error \"%s\" lacks \"%s\"", value, error,
			    want);
	} else if (ret == 0 || want == NULL) {
		ck_assert_msg(nh == NULL, "value \"%s\": next hop %s", value,
		    nh);
	} else {
		ck_assert_ptr_nonnull(nh);
		ck_assert_str_eq(nh, want);
	}
	free(nh);
}

START_TEST(test_nexthop_forms)
{
	char	 host[RESOLVE_HOST_MAX + 2], *s;

	/* Host names: case, a trailing dot, "_" and "-" inside. */
	expect_nexthop("example.org", "example.org");
	expect_nexthop("Mail_Relay-1.EXAMPLE.org.", "mail_relay-1.example.org");
	expect_nexthop("localhost", "localhost");
	expect_nexthop("example.org:2525", "example.org:2525");
	expect_nexthop("example.org:025", "example.org:25");
	expect_nexthop("[MX.Example.org]", "[mx.example.org]");
	expect_nexthop("[mx.example.org]:587", "[mx.example.org]:587");
	/* Address literals, with and without the ipv6: tag. */
	expect_nexthop("[192.0.2.1]", "[192.0.2.1]");
	expect_nexthop("[192.0.2.1]:25", "[192.0.2.1]:25");
	expect_nexthop("[2001:DB8::1]", "[2001:db8::1]");
	expect_nexthop("[2001:db8::1]:2525", "[2001:db8::1]:2525");
	expect_nexthop("[ipv6:2001:db8::1]", "[2001:db8::1]");
	expect_nexthop("[IPv6:2001:DB8::1]:2525", "[2001:db8::1]:2525");
	expect_nexthop("[::1]", "[::1]");
	expect_nexthop("[::ffff:192.0.2.1]", "[::ffff:192.0.2.1]");
	/* Ports 1 and 65535; 0, 65536 and anything but digits are not. */
	expect_nexthop("h:1", "h:1");
	expect_nexthop("h:65535", "h:65535");
	expect_nexthop("[192.0.2.1]:65535", "[192.0.2.1]:65535");
	expect_nexthop("h:0", NULL);
	expect_nexthop("h:65536", NULL);
	expect_nexthop("h:99999999999999999999999", NULL);
	expect_nexthop("h:", NULL);
	expect_nexthop("h:+25", NULL);
	expect_nexthop("h:-1", NULL);
	expect_nexthop("h: 25", NULL);
	expect_nexthop("h:25 ", NULL);
	expect_nexthop("h:0x19", NULL);
	expect_nexthop("h:25:26", NULL);
	expect_nexthop("[192.0.2.1]:", NULL);
	expect_nexthop("[192.0.2.1]:0", NULL);
	expect_nexthop("[192.0.2.1]x", NULL);
	expect_nexthop("[192.0.2.1]]", NULL);
	/* Hosts. */
	expect_nexthop("", NULL);
	expect_nexthop(":25", NULL);
	expect_nexthop(".", NULL);
	expect_nexthop(".example.org", NULL);
	expect_nexthop("-example.org", NULL);
	expect_nexthop("a..example.org", NULL);
	expect_nexthop("example.org..", NULL);
	expect_nexthop("exa mple.org", NULL);
	expect_nexthop(" example.org", NULL);
	expect_nexthop("ex@mple.org", NULL);
	expect_nexthop("ex/ample.org", NULL);
	expect_nexthop("ex\tample.org", NULL);
	expect_nexthop("ex\xc3\xa4mple.org", NULL);
	expect_nexthop("[-example.org]", NULL);
	/* An IPv6 address needs brackets. */
	expect_nexthop("2001:db8::1", NULL);
	/* Literals that inet_pton() refuses. */
	expect_nexthop("[]", NULL);
	expect_nexthop("[]:25", NULL);
	expect_nexthop("[192.0.2.1", NULL);
	expect_nexthop("192.0.2.1]", NULL);
	expect_nexthop("[192.0.2.256]", NULL);
	expect_nexthop("[192.0.2]", NULL);
	expect_nexthop("[192.0.2.1.5]", NULL);
	expect_nexthop("[ipv6:192.0.2.1]", NULL);
	expect_nexthop("[ipv6:]", NULL);
	expect_nexthop("[2001:db8::g]", NULL);
	expect_nexthop("[2001:db8:::1]", NULL);
	expect_nexthop("[fe80::1%eth0]", NULL);
	expect_nexthop("[[::1]]", NULL);

	/* RESOLVE_HOST_MAX bytes of host name, and one more. */
	memset(host, 'a', sizeof(host));
	host[RESOLVE_HOST_MAX] = '\0';
	expect_nexthop(host, host);
	s = xasprintf("[%s]:65535", host);
	expect_nexthop(s, s);
	/* The longest transport fits RESOLVE_TRANSPORT_MAX. */
	ck_assert_uint_le(strlen("smtp:") + strlen(s), RESOLVE_TRANSPORT_MAX);
	free(s);
	/* A trailing dot does not count. */
	s = xasprintf("%s.", host);
	expect_nexthop(s, host);
	free(s);
	host[RESOLVE_HOST_MAX] = 'a';
	host[RESOLVE_HOST_MAX + 1] = '\0';
	expect_nexthop(host, NULL);
	s = xasprintf("[%s]", host);
	expect_nexthop(s, NULL);
	free(s);
}
END_TEST

START_TEST(test_transport_values)
{
	expect_value("local", 0, NULL);
	expect_value(" LOCAL \t", 0, NULL);
	expect_value("Local\r\n", 0, NULL);
	expect_value("smtp", 1, NULL);
	expect_value("smtp:", 1, NULL);
	expect_value("SMTP:", 1, NULL);
	expect_value("relay", 1, NULL);
	expect_value("Relay:", 1, NULL);
	expect_value("smtp:[192.0.2.1]:2525", 1, "[192.0.2.1]:2525");
	expect_value("  RELAY:Example.ORG  ", 1, "example.org");
	expect_value("smtp:[IPv6:2001:db8::1]", 1, "[2001:db8::1]");
	expect_value("relay:[mx.example.org]:587", 1, "[mx.example.org]:587");
	/* Configuration errors. */
	expect_value("", -1, "no transport");
	expect_value(":example.org", -1, "no transport");
	expect_value("local:", -1, "local takes no next hop");
	expect_value("local:example.org", -1, "local takes no next hop");
	expect_value("error:nope", -1, "unknown transport error");
	expect_value("discard", -1, "unknown transport discard");
	expect_value("lmtp:unix:/x", -1, "unknown transport lmtp");
	expect_value("virtual", -1, "unknown transport");
	expect_value("smtps:example.org", -1, "unknown transport");
	expect_value("smtp :example.org", -1, "unknown transport");
	expect_value("smtp: example.org", -1, "bad host name");
	expect_value("smtp:bad host", -1, "bad host name");
	expect_value("smtp:[192.0.2.300]", -1, "IPv4");
	expect_value("smtp:[2001:db8::x]", -1, "IPv6");
	expect_value("smtp:example.org:0", -1, "port");
	expect_value("relay:example.org:65536", -1, "port");
	expect_value("smtp:[192.0.2.1", -1, "]");
}
END_TEST

/* The lookup order: address, domain, ".parent" nearest first, "*". */
START_TEST(test_transport_order)
{
	struct resolve *r;

	build_aliases("transport",
	    "# keys of every kind\n"
	    "user@sub.example.com   smtp:[192.0.2.1]\n"
	    "a.sub.example.com      smtp:exact-a\n"
	    ".sub.example.com       smtp:dot-sub\n"
	    "sub.example.com        smtp:exact-sub\n"
	    ".example.com           relay:dot-example\n"
	    "[192.0.2.8]            smtp:[198.51.100.1]\n"
	    ".2.7]                  smtp:wrong\n"
	    "*                      smtp:[Star.Example]:2525\n");
	build_aliases("transport2",
	    "other@sub.example.com  smtp:second\n"
	    "x.example.net          smtp:second-net\n"
	    ".sub.example.com       smtp:second-dot\n");
	load_transport_config("");
	r = resolve_new();
	/* The address first, folded to lower case. */
	expect_transport(r, "user@sub.example.com", "smtp:[192.0.2.1]");
	expect_transport(r, "USER@Sub.Example.COM.", "smtp:[192.0.2.1]");
	/* A key is looked up in every table before the next key. */
	expect_transport(r, "other@sub.example.com", "smtp:second");
	expect_transport(r, "x@x.example.net", "smtp:second-net");
	/* The domain itself: "sub.example.com" matches only that name. */
	expect_transport(r, "x@sub.example.com", "smtp:exact-sub");
	expect_transport(r, "x@a.sub.example.com", "smtp:exact-a");
	/* ".sub.example.com": any name below it, the nearest parent first. */
	expect_transport(r, "x@b.sub.example.com", "smtp:dot-sub");
	expect_transport(r, "x@c.b.sub.example.com", "smtp:dot-sub");
	expect_transport(r, "x@B.Sub.Example.Com", "smtp:dot-sub");
	expect_transport(r, "x@other.example.com", "smtp:dot-example");
	expect_transport(r, "x@y.other.example.com", "smtp:dot-example");
	/* ".example.com" is not example.com; "*" takes the rest. */
	expect_transport(r, "x@example.com", "smtp:[star.example]:2525");
	expect_transport(r, "x@xsub.example.com", "smtp:dot-example");
	expect_transport(r, "x@far.test", "smtp:[star.example]:2525");
	expect_transport(r, "x@com", "smtp:[star.example]:2525");
	/* Address literals: as a key, but no ".parent" keys. */
	expect_transport(r, "x@[192.0.2.8]", "smtp:[198.51.100.1]");
	expect_transport(r, "x@[192.0.2.7]", "smtp:[star.example]:2525");
	/* Local domains never consult the tables. */
	expect_local(r, "alice@example.test", "alice@example.test", "");
	resolve_free(&r);

	/* Without "*": the recipient's domain is the next hop. */
	build_aliases("transport", "far.test smtp:\n");
	r = resolve_new();
	expect_transport(r, "x@far.test", "smtp:far.test");
	expect_transport(r, "x@Other.Far.Test.", "smtp:other.far.test");
	expect_transport(r, "x@b.sub.example.com", "smtp:second-dot");
	expect_transport(r, "x@[192.0.2.7]", "smtp:[192.0.2.7]");
	expect_transport(r, "x@[IPv6:2001:DB8::7]", "smtp:[2001:db8::7]");
	/* U-labels (SMTPUTF8) are left to the transfer agent. */
	expect_transport(r, "x@b\xc3\xbc" "cher.test",
	    "smtp:b\xc3\xbc" "cher.test");
	/* A domain that cannot be a next hop is no recipient. */
	expect_route(r, "x@bad;domain.test", "203.0.113.1", RESOLVE_UNKNOWN,
	    false, NULL, "cannot be a next hop");
	expect_route(r, "x@[192.0.2.300]", "203.0.113.1", RESOLVE_UNKNOWN,
	    false, NULL, "IPv4");
	expect_route(r, "x@[example.org]", "203.0.113.1", RESOLVE_UNKNOWN,
	    false, NULL, "not an address literal");
	expect_route(r, "x@example.org:25", "203.0.113.1", RESOLVE_UNKNOWN,
	    false, NULL, "port");
	resolve_free(&r);

	/* No transport_maps at all. */
	load_config("");
	r = resolve_new();
	expect_transport(r, "x@far.test", "smtp:far.test");
	resolve_free(&r);
}
END_TEST

/* A transport entry never lets a client relay; relay_domains still do. */
START_TEST(test_transport_relay_flag)
{
	struct resolve *r;

	build_aliases("transport", "far.test smtp:[192.0.2.1]\n"
	    "relay.test smtp:[192.0.2.2]\n");
	build_aliases("transport2", "x x\n");
	load_transport_config("");
	r = resolve_new();
	expect_route(r, "x@far.test", "203.0.113.1", RESOLVE_REMOTE, false,
	    "smtp:[192.0.2.1]", "relay access denied");
	expect_route(r, "x@far.test", "192.0.2.9", RESOLVE_REMOTE, true,
	    "smtp:[192.0.2.1]", "mynetworks");
	expect_route(r, "x@relay.test", "203.0.113.1", RESOLVE_REMOTE, true,
	    "smtp:[192.0.2.2]", "relay_domains");
	expect_route(r, "x@a.parent.test", "203.0.113.1", RESOLVE_REMOTE,
	    true, "smtp:a.parent.test", "relay_domains");
	expect_route(r, "x%y@relay.test", "203.0.113.1", RESOLVE_REMOTE,
	    false, "smtp:[192.0.2.2]", "sender-specified routing");
	expect_relay(r, "x@far.test", "203.0.113.1", true, true);
	resolve_free(&r);
}
END_TEST

/* "local": the domain (or address) is delivered here. */
START_TEST(test_transport_local)
{
	struct resolve *r;
	char	*users;

	users = xasprintf("%szed@local.test:{PLAIN}z\n"
	    "amy@x.sublocal.test:{PLAIN}a\n"
	    "bob@half.test:{PLAIN}b\n", users_text);
	build_users(users);
	free(users);
	build_aliases("transport", "local.test local\n"
	    ".sublocal.test  LOCAL \n"
	    "bob@half.test local\n"
	    "ghost@half.test local\n");
	build_aliases("transport2", "@catch.test local\n"
	    "catch.test local\n");
	build_aliases("aliases2", "extra@example.test: carol\n"
	    "list@local.test: zed, someone@far.test\n"
	    "tolocal@example.test: ZED@local.test, amy@x.sublocal.test\n"
	    "ghostly@example.test: nobody@local.test, alice\n"
	    "@catch.test: bob@example.test\n");
	load_transport_config("");
	r = resolve_new();
	/* Users are found for any client, at RCPT time too ... */
	expect_local(r, "zed@local.test", "zed@local.test", "");
	expect_local(r, "Zed+tag@Local.Test", "zed@local.test", "");
	expect(r, "zed@local.test", NULL, false, RESOLVE_LOCAL,
	    "zed@local.test", "", NULL);
	expect_local(r, "amy@x.sublocal.test", "amy@x.sublocal.test", "");
	/* ... an unknown user is unknown, not a relay attempt ... */
	expect_unknown(r, "nobody@local.test", "no such recipient");
	expect_unknown(r, "nobody@x.sublocal.test", "no such recipient");
	expect(r, "nobody@local.test", "192.0.2.1", true, RESOLVE_UNKNOWN,
	    "", "", "no such recipient");
	/* ... the domain itself needs its own key ... */
	expect_transport(r, "x@sublocal.test", "smtp:sublocal.test");
	/* ... and postmaster exists there as in every local domain. */
	expect(r, "postmaster@local.test", NULL, false, RESOLVE_LOCAL,
	    "postmaster@example.test", "", "no mailbox");
	/* One address of a domain. */
	expect_local(r, "bob@half.test", "bob@half.test", "");
	expect_unknown(r, "ghost@half.test", NULL);
	expect_transport(r, "other@half.test", "smtp:half.test");
	/* A catch-all alias. */
	expect_local(r, "any@catch.test", "bob@example.test", "");
	/* Aliases of the domain, and alias targets in it. */
	expect_forward(r, "list@local.test", "zed@local.test",
	    "someone@far.test", "smtp:far.test");
	expect_forward(r, "tolocal@example.test",
	    "zed@local.test,amy@x.sublocal.test", "", "");
	expect(r, "ghostly@example.test", NULL, false, RESOLVE_LOCAL,
	    "alice@example.test", "", "nobody@local.test: no such recipient");
	/* Not a domain of mydomains for anything else. */
	ck_assert(!resolve_domain_is_local("local.test"));
	resolve_free(&r);
}
END_TEST

START_TEST(test_transport_bad_values)
{
	struct resolve *r;
	char	*value;

	build_aliases("transport", "bad1.test error:nope\n"
	    "bad2.test discard\n"
	    "bad3.test smtp:[192.0.2.300]\n"
	    ".bad4.test smtp:host:99999\n"
	    "bad5.test local:x\n"
	    "bad6.test lmtp:x\n"
	    "bad7.test smtp:[ipv6:192.0.2.1]\n"
	    "x@bad8.test smtp:two words\n"
	    "good.test smtp:[192.0.2.5]\n");
	build_aliases("transport2", "x x\n");
	build_aliases("aliases2", "extra@example.test: carol\n"
	    "mixed@example.test: alice, x@good.test, y@bad1.test\n");
	load_transport_config("relayhost = [192.0.2.99]\n");
	r = resolve_new();
	/* Deferred, with the table, key and value for the log ... */
	expect_route(r, "x@bad1.test", "203.0.113.1", RESOLVE_TEMPFAIL, false,
	    NULL, "transport_maps lmdb:");
	expect_route(r, "x@bad1.test", "203.0.113.1", RESOLVE_TEMPFAIL, false,
	    NULL, "/transport: bad1.test: bad value \"error:nope\": unknown "
	    "transport error");
	expect_route(r, "x@bad2.test", NULL, RESOLVE_TEMPFAIL, false, NULL,
	    "bad value \"discard\"");
	expect_route(r, "x@bad3.test", NULL, RESOLVE_TEMPFAIL, false, NULL,
	    "IPv4 address literal");
	expect_route(r, "x@a.bad4.test", NULL, RESOLVE_TEMPFAIL, false, NULL,
	    ".bad4.test: bad value \"smtp:host:99999\": bad port");
	expect_route(r, "x@bad5.test", NULL, RESOLVE_TEMPFAIL, false, NULL,
	    "local takes no next hop");
	expect_route(r, "x@bad6.test", NULL, RESOLVE_TEMPFAIL, false, NULL,
	    "unknown transport lmtp");
	expect_route(r, "x@bad7.test", NULL, RESOLVE_TEMPFAIL, false, NULL,
	    "IPv6");
	expect_route(r, "x@bad8.test", NULL, RESOLVE_TEMPFAIL, false, NULL,
	    "x@bad8.test: bad value \"smtp:two words\"");
	/* ... even for clients that may relay ... */
	expect_route(r, "x@bad1.test", "192.0.2.1", RESOLVE_TEMPFAIL, false,
	    NULL, "bad value");
	/* ... and for an alias that forwards there: the whole alias waits. */
	expect(r, "mixed@example.test", NULL, false, RESOLVE_TEMPFAIL, "", "",
	    "bad1.test: bad value");
	/* Other domains are not affected. */
	expect_transport(r, "x@good.test", "smtp:[192.0.2.5]");
	expect_transport(r, "y@bad8.test", "smtp:[192.0.2.99]");
	resolve_free(&r);

	/* A value cut to 256 characters in the text. */
	value = xasprintf("big.test smtp:%0300d\n", 0);
	build_aliases("transport", value);
	free(value);
	r = resolve_new();
	expect_route(r, "x@big.test", NULL, RESOLVE_TEMPFAIL, false, NULL,
	    "...\": host name too long");
	resolve_free(&r);
}
END_TEST

START_TEST(test_transport_relayhost)
{
	struct resolve *r;

	build_aliases("transport", "direct.test smtp\n"
	    "bracket.test smtp:[mx.bracket.test]\n"
	    "inside.test local\n");
	build_aliases("transport2", "x x\n");
	load_transport_config("relayhost = [Relay.Example]:587\n");
	r = resolve_new();
	/* No entry: the relay host, whatever the domain. */
	expect_transport(r, "x@far.test", "smtp:[relay.example]:587");
	expect_transport(r, "x@bad;domain.test", "smtp:[relay.example]:587");
	/* An entry wins; "smtp" without a next hop is the domain's MX. */
	expect_transport(r, "x@direct.test", "smtp:direct.test");
	expect_transport(r, "x@bracket.test", "smtp:[mx.bracket.test]");
	expect_unknown(r, "x@inside.test", NULL);
	expect_local(r, "alice@example.test", "alice@example.test", "");
	resolve_free(&r);

	load_config("relayhost = smarthost.example\n");
	r = resolve_new();
	expect_transport(r, "x@far.test", "smtp:smarthost.example");
	resolve_free(&r);
	load_config("relayhost = [2001:db8::25]:2525\n");
	r = resolve_new();
	expect_transport(r, "x@far.test", "smtp:[2001:db8::25]:2525");
	resolve_free(&r);

	/* A bad relayhost defers what would go there, nothing else. */
	load_transport_config("relayhost = relay.example:0\n");
	r = resolve_new();
	expect_route(r, "x@far.test", "192.0.2.1", RESOLVE_TEMPFAIL, false,
	    NULL, "relayhost relay.example:0: bad port");
	expect_transport(r, "x@direct.test", "smtp:direct.test");
	expect_local(r, "alice@example.test", "alice@example.test", "");
	expect(r, "fwd@example.test", NULL, false, RESOLVE_TEMPFAIL, "", "",
	    "relayhost");
	resolve_free(&r);
	load_config("relayhost = bad host\n");
	r = resolve_new();
	expect_route(r, "x@far.test", NULL, RESOLVE_TEMPFAIL, false, NULL,
	    "relayhost bad host: bad host name");
	resolve_free(&r);
}
END_TEST

/* Remote alias targets carry their transports, in forward's order. */
START_TEST(test_transport_forward)
{
	struct resolve *r;

	build_aliases("transport", ".sub.example.com smtp:[192.0.2.1]:2525\n"
	    "far.test relay:mx.far.test\n");
	build_aliases("transport2", "x x\n");
	build_aliases("aliases2", "extra@example.test: carol\n"
	    "out@example.test: a@b.sub.example.com, alice, B@Far.Test, "
	    "c@elsewhere.test, b@far.test, a@B.Sub.Example.Com\n"
	    "badtarget@example.test: x@bad;domain.test, bob\n"
	    "onlybad@example.test: x@bad;domain.test\n");
	load_transport_config("");
	r = resolve_new();
	expect_forward(r, "out@example.test", "alice@example.test",
	    "a@b.sub.example.com,b@far.test,c@elsewhere.test",
	    "smtp:[192.0.2.1]:2525,smtp:mx.far.test,smtp:elsewhere.test");
	/* The existing alias to someone@far.test. */
	expect_forward(r, "fwd@example.test", "alice@example.test",
	    "someone@far.test", "smtp:mx.far.test");
	expect_forward(r, "alice@example.test", "alice@example.test", "", "");
	/* A target whose domain cannot be a next hop is dropped. */
	expect(r, "badtarget@example.test", NULL, false, RESOLVE_LOCAL,
	    "bob@example.test", "", "x@bad;domain.test: domain bad;domain.test "
	    "cannot be a next hop");
	expect_unknown(r, "onlybad@example.test", "cannot be a next hop");
	resolve_free(&r);

	/* With relayhost the forwards go there too. */
	load_transport_config("relayhost = [192.0.2.25]\n");
	r = resolve_new();
	expect_forward(r, "out@example.test", "alice@example.test",
	    "a@b.sub.example.com,b@far.test,c@elsewhere.test",
	    "smtp:[192.0.2.1]:2525,smtp:mx.far.test,smtp:[192.0.2.25]");
	expect_forward(r, "badtarget@example.test", "bob@example.test",
	    "x@bad;domain.test", "smtp:[192.0.2.25]");
	resolve_free(&r);
}
END_TEST

/* A transport table missing at start, created later, then replaced. */
START_TEST(test_transport_missing_table)
{
	struct resolve *r;

	build_aliases("transport", "far.test smtp:[192.0.2.1]\n");
	load_transport_config("");
	r = resolve_new();
	/* transport2 does not exist: remote lookups wait for it. */
	expect_route(r, "x@other.test.invalid", "192.0.2.1", RESOLVE_TEMPFAIL,
	    false, NULL, "transport2 unavailable");
	expect_route(r, "x@far.test", "203.0.113.1", RESOLVE_TEMPFAIL, false,
	    NULL, "unavailable");
	expect(r, "fwd@example.test", NULL, false, RESOLVE_TEMPFAIL, "", "",
	    "unavailable");
	/* Local domains need no transport table. */
	expect_local(r, "alice@example.test", "alice@example.test", "");
	build_aliases("transport2", "other.test.invalid smtp:[192.0.2.2]\n");
	expect_transport(r, "x@other.test.invalid", "smtp:[192.0.2.2]");
	expect_transport(r, "x@far.test", "smtp:[192.0.2.1]");
	/* Rebuilt: read again from the next lookup. */
	build_aliases("transport", "far.test smtp:[192.0.2.3]\n");
	expect_transport(r, "x@far.test", "smtp:[192.0.2.3]");
	build_aliases("transport", "far.test local\n");
	expect_unknown(r, "x@far.test", NULL);
	resolve_free(&r);
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
	tcase_add_test(tc, test_nexthop_forms);
	tcase_add_test(tc, test_transport_values);
	tcase_add_test(tc, test_transport_order);
	tcase_add_test(tc, test_transport_relay_flag);
	tcase_add_test(tc, test_transport_local);
	tcase_add_test(tc, test_transport_bad_values);
	tcase_add_test(tc, test_transport_relayhost);
	tcase_add_test(tc, test_transport_forward);
	tcase_add_test(tc, test_transport_missing_table);
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
