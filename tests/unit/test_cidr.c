/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for common/cidr.c: parsing (good entries of both families,
 * bracketed IPv6, bare addresses, every bad prefix, host bits set with
 * the suggestion, garbage), matching at the edges (/0, /32, /128, the
 * first and last address of a block and one past each), IPv4-mapped
 * clients, and lists with unparsable entries.  Also the mynetworks check
 * that conf.c makes with cidr_parse().
 */
#include "config.h"

#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "common/cidr.h"
#include "common/conf.h"

#include "common/banned.h"

static struct cidr
parse_ok(const char *s)
{
	struct cidr	 c;
	const char	*error = NULL;

	if (cidr_parse(s, &c, &error) != 0)
		ck_abort_msg("cidr_parse(\"%s\") failed: %s", s, error);
	return c;
}

static const char *
parse_bad(const char *s)
{
	struct cidr	 c;
	const char	*error = NULL;

	ck_assert_msg(cidr_parse(s, &c, &error) == -1,
	    "cidr_parse(\"%s\") succeeded", s);
	ck_assert_ptr_nonnull(error);
	return error;
}

START_TEST(test_parse_good)
{
	struct cidr	 c;

	c = parse_ok("192.0.2.0/24");
	ck_assert_int_eq(c.family, AF_INET);
	ck_assert_uint_eq(c.prefix, 24);
	ck_assert_uint_eq(c.addr[0], 192);
	ck_assert_uint_eq(c.addr[2], 2);
	ck_assert_uint_eq(c.addr[3], 0);

	c = parse_ok("192.0.2.7");
	ck_assert_uint_eq(c.prefix, 32);
	ck_assert_uint_eq(c.addr[3], 7);

	c = parse_ok("0.0.0.0/0");
	ck_assert_uint_eq(c.prefix, 0);
	c = parse_ok("255.255.255.255/32");
	ck_assert_uint_eq(c.prefix, 32);

	c = parse_ok("2001:db8::/32");
	ck_assert_int_eq(c.family, AF_INET6);
	ck_assert_uint_eq(c.prefix, 32);
	ck_assert_uint_eq(c.addr[0], 0x20);
	ck_assert_uint_eq(c.addr[3], 0xb8);

	c = parse_ok("[2001:db8::]/32");
	ck_assert_int_eq(c.family, AF_INET6);
	ck_assert_uint_eq(c.prefix, 32);

	c = parse_ok("[::1]/128");
	ck_assert_uint_eq(c.prefix, 128);
	ck_assert_uint_eq(c.addr[15], 1);

	c = parse_ok("[::1]");
	ck_assert_uint_eq(c.prefix, 128);
	c = parse_ok("::1");
	ck_assert_uint_eq(c.prefix, 128);
	c = parse_ok("::/0");
	ck_assert_uint_eq(c.prefix, 0);
	c = parse_ok("2001:db8::1:0/112");
	ck_assert_uint_eq(c.prefix, 112);
	c = parse_ok("::ffff:192.0.2.0/120");
	ck_assert_int_eq(c.family, AF_INET6);
	c = parse_ok("10.0.0.0/7");		/* odd prefix on a byte edge */
	ck_assert_uint_eq(c.addr[0], 10);
}
END_TEST

START_TEST(test_parse_bad_prefix)
{
	parse_bad("192.0.2.0/33");
	parse_ok("192.0.2.1/32");		/* the maximum */
	parse_bad("2001:db8::/129");
	parse_ok("2001:db8::1/128");
	parse_bad("192.0.2.0/");
	parse_bad("192.0.2.0/-1");
	parse_bad("192.0.2.0/+24");
	parse_bad("192.0.2.0/ 24");
	parse_bad("192.0.2.0/24 ");
	parse_bad("192.0.2.0/0x18");
	parse_bad("192.0.2.0/24/24");
	parse_bad("192.0.2.0/99999999999999999999999");
	parse_bad("[::1]/");
	parse_bad("[::1]/1x");
}
END_TEST

START_TEST(test_parse_host_bits)
{
	const char	*error;

	error = parse_bad("192.0.2.1/24");
	ck_assert_str_eq(error, "192.0.2.1/24 has host bits set; did you "
	    "mean 192.0.2.0/24?");
	error = parse_bad("2001:db8::1/64");
	ck_assert_str_eq(error, "2001:db8::1/64 has host bits set; did you "
	    "mean 2001:db8::/64?");
	error = parse_bad("[2001:db8::1]/64");
	ck_assert_str_eq(error, "[2001:db8::1]/64 has host bits set; did you "
	    "mean [2001:db8::]/64?");
	parse_bad("0.0.0.1/0");
	parse_bad("10.0.0.0/6");
	parse_bad("192.0.2.129/25");
	parse_ok("192.0.2.128/25");
}
END_TEST

START_TEST(test_parse_garbage)
{
	const char	*error;

	error = parse_bad("");
	ck_assert_str_eq(error, "empty network");
	error = parse_bad("example.test");
	ck_assert_ptr_nonnull(strstr(error, "not an IPv4 or IPv6 network"));
	parse_bad("/24");
	parse_bad("192.0.2");
	parse_bad("127.1");
	parse_bad("0x7f.0.0.1");
	parse_bad("192.0.2.256");
	parse_bad("192.0.2.0.0/24");
	parse_bad("01.2.3.4");
	parse_bad("1.2.3.4 ");
	parse_bad(" 1.2.3.4");
	parse_bad("[192.0.2.1]");		/* only IPv6 in brackets */
	parse_bad("[::1");
	parse_bad("[::1]x");
	parse_bad("[::1]]/128");
	parse_bad("[]");
	parse_bad("[]/0");
	parse_bad("::1::2");
	parse_bad("fe80::1%eth0");
	parse_bad("2001:db8:::/48");
	parse_bad("[[::1]]");
	/* Longer than any address. */
	parse_bad("1111:2222:3333:4444:5555:6666:7777:8888:9999:aaaa:bbbb:cccc"
	    "/128");
	parse_bad("\001\002");
}
END_TEST

START_TEST(test_match_v4)
{
	struct cidr	 c;

	c = parse_ok("192.0.2.0/24");
	ck_assert(cidr_match(&c, "192.0.2.0"));		/* first */
	ck_assert(cidr_match(&c, "192.0.2.255"));	/* last */
	ck_assert(!cidr_match(&c, "192.0.1.255"));	/* one before */
	ck_assert(!cidr_match(&c, "192.0.3.0"));	/* one after */
	ck_assert(!cidr_match(&c, "2001:db8::1"));
	ck_assert(!cidr_match(&c, ""));
	ck_assert(!cidr_match(&c, NULL));
	ck_assert(!cidr_match(&c, "local"));
	ck_assert(!cidr_match(&c, "192.0.2"));

	c = parse_ok("198.51.100.64/26");
	ck_assert(cidr_match(&c, "198.51.100.64"));
	ck_assert(cidr_match(&c, "198.51.100.127"));
	ck_assert(!cidr_match(&c, "198.51.100.63"));
	ck_assert(!cidr_match(&c, "198.51.100.128"));

	c = parse_ok("0.0.0.0/0");
	ck_assert(cidr_match(&c, "0.0.0.0"));
	ck_assert(cidr_match(&c, "255.255.255.255"));
	ck_assert(!cidr_match(&c, "::1"));

	c = parse_ok("203.0.113.9/32");
	ck_assert(cidr_match(&c, "203.0.113.9"));
	ck_assert(!cidr_match(&c, "203.0.113.8"));
	ck_assert(!cidr_match(&c, "203.0.113.10"));

	c = parse_ok("203.0.113.9");
	ck_assert(cidr_match(&c, "203.0.113.9"));
	ck_assert(!cidr_match(&c, "203.0.113.1"));
}
END_TEST

START_TEST(test_match_v6)
{
	struct cidr	 c;

	c = parse_ok("2001:db8::/32");
	ck_assert(cidr_match(&c, "2001:db8::"));
	ck_assert(cidr_match(&c, "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"));
	ck_assert(!cidr_match(&c, "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff"));
	ck_assert(!cidr_match(&c, "2001:db9::"));
	ck_assert(!cidr_match(&c, "192.0.2.1"));
	ck_assert(!cidr_match(&c, "2001:db8::zz"));

	c = parse_ok("2001:db8::/127");
	ck_assert(cidr_match(&c, "2001:db8::"));
	ck_assert(cidr_match(&c, "2001:db8::1"));
	ck_assert(!cidr_match(&c, "2001:db8::2"));

	c = parse_ok("[::1]/128");
	ck_assert(cidr_match(&c, "::1"));
	ck_assert(cidr_match(&c, "0:0:0:0:0:0:0:1"));
	ck_assert(!cidr_match(&c, "::2"));
	ck_assert(!cidr_match(&c, "::"));
	ck_assert(!cidr_match(&c, "127.0.0.1"));

	c = parse_ok("::/0");
	ck_assert(cidr_match(&c, "::"));
	ck_assert(cidr_match(&c, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
	ck_assert(!cidr_match(&c, "10.0.0.1"));

	/* An IPv6 entry for the mapped range matches mapped clients only. */
	c = parse_ok("::ffff:192.0.2.0/120");
	ck_assert(cidr_match(&c, "::ffff:192.0.2.77"));
	ck_assert(!cidr_match(&c, "192.0.2.77"));
}
END_TEST

START_TEST(test_match_v4mapped)
{
	struct cidr	 c;

	c = parse_ok("192.0.2.0/24");
	ck_assert(cidr_match(&c, "::ffff:192.0.2.1"));
	ck_assert(cidr_match(&c, "::FFFF:192.0.2.255"));
	ck_assert(cidr_match(&c, "::ffff:c000:0201"));
	ck_assert(!cidr_match(&c, "::ffff:192.0.3.1"));
	/* IPv4-compatible and other embeddings are not mapped addresses. */
	ck_assert(!cidr_match(&c, "::192.0.2.1"));
	ck_assert(!cidr_match(&c, "64:ff9b::192.0.2.1"));
	c = parse_ok("0.0.0.0/0");
	ck_assert(cidr_match(&c, "::ffff:10.1.2.3"));
	ck_assert(!cidr_match(&c, "::1"));
}
END_TEST

START_TEST(test_list)
{
	char	*list[] = {
		"garbage", "192.0.2.1/24", "10.0.0.0/8", "[2001:db8::]/48",
		NULL,
	};
	char	*empty[] = { NULL };

	ck_assert(cidr_list_match(list, "10.255.0.1"));
	ck_assert(cidr_list_match(list, "::ffff:10.0.0.1"));
	ck_assert(cidr_list_match(list, "2001:db8:0:ffff::1"));
	ck_assert(!cidr_list_match(list, "2001:db8:1::1"));
	/* The entry with host bits set never matches. */
	ck_assert(!cidr_list_match(list, "192.0.2.1"));
	ck_assert(!cidr_list_match(list, "garbage"));
	ck_assert(!cidr_list_match(empty, "10.0.0.1"));
	ck_assert(!cidr_list_match(NULL, "10.0.0.1"));
	ck_assert(!cidr_list_match(list, NULL));
}
END_TEST

/* conf.c rejects a bad mynetworks entry with FILE:LINE. */
START_TEST(test_conf_mynetworks)
{
	static const char good[] = "mynetworks = 127.0.0.0/8, [::1]/128, "
	    "192.0.2.0/24\n";
	static const char bad[] = "# comment\nmynetworks = 127.0.0.0/8,\n"
	    "    192.0.2.1/24\n";
	struct conf_errors errs;
	struct postern_config *c;

	c = conf_parse("/etc/postern", "t.conf", good, strlen(good), &errs);
	ck_assert_ptr_nonnull(c);
	ck_assert_uint_eq(errs.count, 0);
	ck_assert(cidr_list_match(c->mynetworks, "192.0.2.9"));
	conf_free(&c);
	conf_errors_deinit(&errs);

	c = conf_parse("/etc/postern", "t.conf", bad, strlen(bad), &errs);
	ck_assert_ptr_null(c);
	ck_assert_uint_eq(errs.count, 1);
	ck_assert_str_eq(errs.lines[0], "t.conf:2: \"mynetworks\": "
	    "192.0.2.1/24 has host bits set; did you mean 192.0.2.0/24?");
	conf_errors_deinit(&errs);

	/* The default parses. */
	c = conf_defaults("/etc/postern");
	ck_assert_ptr_nonnull(c);
	ck_assert(cidr_list_match(c->mynetworks, "127.0.0.1"));
	ck_assert(cidr_list_match(c->mynetworks, "::1"));
	ck_assert(!cidr_list_match(c->mynetworks, "192.0.2.1"));
	conf_free(&c);
}
END_TEST

static Suite *
cidr_suite(void)
{
	Suite	*s = suite_create("cidr");
	TCase	*tc = tcase_create("cidr");

	tcase_add_test(tc, test_parse_good);
	tcase_add_test(tc, test_parse_bad_prefix);
	tcase_add_test(tc, test_parse_host_bits);
	tcase_add_test(tc, test_parse_garbage);
	tcase_add_test(tc, test_match_v4);
	tcase_add_test(tc, test_match_v6);
	tcase_add_test(tc, test_match_v4mapped);
	tcase_add_test(tc, test_list);
	tcase_add_test(tc, test_conf_mynetworks);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr;
	int	 failed;

	sr = srunner_create(cidr_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
