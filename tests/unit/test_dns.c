/* SPDX-License-Identifier: ISC */
/*
 * Unit tests of the transfer agent's next-hop parser and MX ordering
 * (transfer-agent/dns.h).  The lookups themselves run against a real DNS
 * server on loopback in tests/integration/test_relay.py.
 */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "transfer-agent/dns.h"
#include "common/banned.h"

START_TEST(test_nexthop_forms)
{
	struct dns_nexthop	 nh;
	const char		*error;

	ck_assert_int_eq(dns_nexthop_parse("Example.ORG", &nh, &error), 0);
	ck_assert_str_eq(nh.host, "example.org");
	ck_assert(nh.mx && !nh.literal);
	ck_assert_uint_eq(nh.port, 0);

	ck_assert_int_eq(dns_nexthop_parse("example.org:2525", &nh, &error), 0);
	ck_assert(nh.mx);
	ck_assert_uint_eq(nh.port, 2525);

	ck_assert_int_eq(dns_nexthop_parse("[mx.example.org]", &nh, &error), 0);
	ck_assert(!nh.mx && !nh.literal);
	ck_assert_str_eq(nh.host, "mx.example.org");

	ck_assert_int_eq(dns_nexthop_parse("[10.0.0.5]:2525", &nh, &error), 0);
	ck_assert(!nh.mx && nh.literal);
	ck_assert_str_eq(nh.host, "10.0.0.5");
	ck_assert_uint_eq(nh.port, 2525);

	ck_assert_int_eq(dns_nexthop_parse("[ipv6:2001:db8::1]:25", &nh,
	    &error), 0);
	ck_assert(nh.literal);
	ck_assert_str_eq(nh.host, "2001:db8::1");
	ck_assert_uint_eq(nh.port, 25);

	ck_assert_int_eq(dns_nexthop_parse("[::1]", &nh, &error), 0);
	ck_assert(nh.literal);

	/* An IPv4 address without brackets is taken as one, not as MX. */
	ck_assert_int_eq(dns_nexthop_parse("192.0.2.1:26", &nh, &error), 0);
	ck_assert(nh.literal && !nh.mx);
	ck_assert_uint_eq(nh.port, 26);
}
END_TEST

START_TEST(test_nexthop_bad)
{
	static const char *bad[] = {
		"", "[", "[]", "[host", "host:", "host:0", "host:65536",
		"host:25x", "[host]x", "[host]:", "-host", ".host",
		"ho st", "host;rm", "[1.2.3.4]:99999",
	};
	struct dns_nexthop	 nh;
	const char		*error;
	char			 longname[DNS_HOST_MAX + 2];
	size_t			 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(dns_nexthop_parse(bad[i], &nh, &error) == -1,
		    "accepted \"%s\"", bad[i]);
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	ck_assert_int_eq(dns_nexthop_parse(longname, &nh, &error), -1);
	longname[DNS_HOST_MAX] = '\0';
	ck_assert_int_eq(dns_nexthop_parse(longname, &nh, &error), 0);
}
END_TEST

static void
mx_set(struct dns_mx *mx, const char *host, unsigned int pref)
{
	memset(mx, 0, sizeof(*mx));
	strncat(mx->host, host, sizeof(mx->host) - 1);
	mx->pref = pref;
}

START_TEST(test_mx_order)
{
	struct dns_mx	 mx[5];
	unsigned int	 n, i, firsts[2] = { 0, 0 };

	/* Sorted by preference; the two of 10 in both orders over time. */
	for (i = 0; i < 200; i++) {
		mx_set(&mx[0], "c.example", 30);
		mx_set(&mx[1], "a.example", 10);
		mx_set(&mx[2], "b.example", 10);
		mx_set(&mx[3], "d.example", 20);
		n = 4;
		ck_assert_int_eq(dns_mx_order(mx, &n, NULL), DNS_OK);
		ck_assert_uint_eq(n, 4);
		ck_assert_uint_eq(mx[0].pref, 10);
		ck_assert_uint_eq(mx[1].pref, 10);
		ck_assert_str_eq(mx[2].host, "d.example");
		ck_assert_str_eq(mx[3].host, "c.example");
		firsts[strcmp(mx[0].host, "a.example") == 0 ? 0 : 1]++;
	}
	ck_assert_uint_gt(firsts[0], 0);
	ck_assert_uint_gt(firsts[1], 0);
}
END_TEST

START_TEST(test_mx_self)
{
	struct dns_mx	 mx[4];
	unsigned int	 n;

	/* We are the backup: only the better ones stay. */
	mx_set(&mx[0], "mx1.example", 10);
	mx_set(&mx[1], "Mail.Local.Test.", 20);
	mx_set(&mx[2], "mx3.example", 20);
	mx_set(&mx[3], "mx4.example", 30);
	n = 4;
	ck_assert_int_eq(dns_mx_order(mx, &n, "mail.local.test"), DNS_OK);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(mx[0].host, "mx1.example");

	/* We are the best: a loop. */
	mx_set(&mx[0], "mail.local.test", 10);
	mx_set(&mx[1], "mx2.example", 20);
	n = 2;
	ck_assert_int_eq(dns_mx_order(mx, &n, "mail.local.test"), DNS_LOOP);
	ck_assert_uint_eq(n, 0);
}
END_TEST

START_TEST(test_mx_null)
{
	struct dns_mx	 mx[3];
	unsigned int	 n;

	mx_set(&mx[0], "", 0);
	n = 1;
	ck_assert_int_eq(dns_mx_order(mx, &n, NULL), DNS_NULLMX);
	ck_assert_uint_eq(n, 0);
	mx_set(&mx[0], ".", 0);
	n = 1;
	ck_assert_int_eq(dns_mx_order(mx, &n, NULL), DNS_NULLMX);

	/* "." among real hosts is dropped (RFC 7505 3). */
	mx_set(&mx[0], ".", 0);
	mx_set(&mx[1], "mx.example", 10);
	n = 2;
	ck_assert_int_eq(dns_mx_order(mx, &n, NULL), DNS_OK);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(mx[0].host, "mx.example");
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("dns");
	TCase	*tc = tcase_create("dns");
	SRunner	*sr;
	int	 failed;

	tcase_add_test(tc, test_nexthop_forms);
	tcase_add_test(tc, test_nexthop_bad);
	tcase_add_test(tc, test_mx_order);
	tcase_add_test(tc, test_mx_self);
	tcase_add_test(tc, test_mx_null);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
