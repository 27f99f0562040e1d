/* SPDX-License-Identifier: ISC */
/*
 * The shared UTF-8 decoder, validator and encoder: every boundary of the
 * RFC 3629 table (shortest and longest of each length, overlong forms,
 * surrogates, U+10FFFF and one above), cut and broken sequences, and a
 * round trip over every scalar value.
 */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "common/utf8.h"

#define S(s)	(s), (sizeof(s) - 1)

START_TEST(test_utf8_valid)
{
	ck_assert(utf8_valid(S("")));
	ck_assert(utf8_valid(S("plain ascii\0with nul")));
	ck_assert(utf8_valid(S("\xe6\x97\xa5\xe6\x9c\xac")));
	ck_assert(!utf8_valid(S("\x80")));		/* lone cont. */
	ck_assert(!utf8_valid(S("\xc1\xbf")));		/* overlong 2 */
	ck_assert(!utf8_valid(S("\xe0\x9f\xbf")));	/* overlong 3 */
	ck_assert(!utf8_valid(S("\xf0\x8f\xbf\xbf")));	/* overlong 4 */
	ck_assert(!utf8_valid(S("\xed\xa0\x80")));	/* surrogate */
	ck_assert(utf8_valid(S("\xed\x9f\xbf")));	/* U+D7FF */
	ck_assert(!utf8_valid(S("\xf4\x90\x80\x80")));	/* > 10FFFF */
	ck_assert(!utf8_valid(S("\xf5\x80\x80\x80")));
	ck_assert(!utf8_valid(S("\xff")));
	ck_assert(!utf8_valid(S("\xe6\x97")));		/* cut */
	ck_assert(!utf8_valid(S("\xe6\x41\xa5")));	/* bad cont. */
}
END_TEST

START_TEST(test_utf8_decode)
{
	uint32_t	cp = 7;

	ck_assert_uint_eq(utf8_decode(S("\xf0\x9f\x98\x80"), &cp), 4);
	ck_assert_uint_eq(cp, 0x1f600);
	ck_assert_uint_eq(utf8_decode("", 0, &cp), 0);
	ck_assert_uint_eq(utf8_decode(S("\0"), &cp), 1);
	ck_assert_uint_eq(cp, 0);
	/* Shortest and longest of each length. */
	ck_assert_uint_eq(utf8_decode(S("\x7f"), &cp), 1);
	ck_assert_uint_eq(utf8_decode(S("\xc2\x80"), &cp), 2);
	ck_assert_uint_eq(cp, 0x80);
	ck_assert_uint_eq(utf8_decode(S("\xdf\xbf"), &cp), 2);
	ck_assert_uint_eq(cp, 0x7ff);
	ck_assert_uint_eq(utf8_decode(S("\xe0\xa0\x80"), &cp), 3);
	ck_assert_uint_eq(cp, 0x800);
	ck_assert_uint_eq(utf8_decode(S("\xef\xbf\xbf"), &cp), 3);
	ck_assert_uint_eq(cp, 0xffff);
	ck_assert_uint_eq(utf8_decode(S("\xf0\x90\x80\x80"), &cp), 4);
	ck_assert_uint_eq(cp, 0x10000);
	ck_assert_uint_eq(utf8_decode(S("\xf4\x8f\xbf\xbf"), &cp), 4);
	ck_assert_uint_eq(cp, 0x10ffff);
	/* Only the first sequence counts. */
	ck_assert_uint_eq(utf8_decode(S("\xc3\xa4\xff"), &cp), 2);
	ck_assert_uint_eq(cp, 0xe4);
	/* Refused: cut at every length, surrogate ends, beyond. */
	ck_assert_uint_eq(utf8_decode(S("\xf0\x9f\x98"), &cp), 0);
	ck_assert_uint_eq(utf8_decode(S("\xc3"), &cp), 0);
	ck_assert_uint_eq(utf8_decode(S("\xed\xbf\xbf"), &cp), 0);
	ck_assert_uint_eq(utf8_decode(S("\xf4\x90\x80\x80"), &cp), 0);
	ck_assert_uint_eq(utf8_decode(S("\xc0\x80"), &cp), 0);
}
END_TEST

/*
 * Every scalar value encodes to the length of its range and decodes back
 * to itself, and one byte short is never a sequence.  Counted, then
 * checked once: check's assertions cost too much for a million values.
 */
START_TEST(test_utf8_round_trip)
{
	char		out[UTF8_MAX];
	uint32_t	cp, back, bad = 0, n_all = 0;
	size_t		n;

	for (cp = 0; cp <= 0x10ffff; cp++) {
		if (cp == 0xd800)
			cp = 0xe000;
		n_all++;
		n = utf8_encode(cp, out);
		if (n != (cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 :
		    4) || utf8_decode(out, n, &back) != n || back != cp ||
		    !utf8_valid(out, n) ||
		    (n > 1 && utf8_decode(out, n - 1, &back) != 0))
			bad++;
	}
	ck_assert_uint_eq(n_all, 0x110000 - 0x800);
	ck_assert_uint_eq(bad, 0);
}
END_TEST

static Suite *
utf8_suite(void)
{
	Suite	*s = suite_create("utf8");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, test_utf8_valid);
	tcase_add_test(tc, test_utf8_decode);
	tcase_add_test(tc, test_utf8_round_trip);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(utf8_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
