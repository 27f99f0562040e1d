/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for common/str.c: str_copy() at size - 1 and size, the
 * decimal parser at its maximum and one over (including the single-digit
 * case that once slipped past a small maximum), and the ASCII helpers.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <check.h>

#include "common/str.h"

#include "common/banned.h"

START_TEST(test_str_copy_fits)
{
	char	dst[6];

	ck_assert_int_eq(str_copy(dst, sizeof(dst), "abcde"), 0);
	ck_assert_str_eq(dst, "abcde");
	ck_assert_int_eq(str_copy(dst, sizeof(dst), ""), 0);
	ck_assert_str_eq(dst, "");
}
END_TEST

START_TEST(test_str_copy_truncates)
{
	char	dst[6];

	ck_assert_int_eq(str_copy(dst, sizeof(dst), "abcdef"), -1);
	ck_assert_str_eq(dst, "abcde");
	ck_assert_int_eq(str_copy(dst, 1, "x"), -1);
	ck_assert_str_eq(dst, "");
	memcpy(dst, "zzzzz", 6);
	ck_assert_int_eq(str_copy(dst, 0, "x"), -1);
	ck_assert_str_eq(dst, "zzzzz");		/* untouched */
}
END_TEST

START_TEST(test_parse_u64_ok)
{
	uint64_t v = 99;

	ck_assert_int_eq(parse_u64("0", 10, &v), 0);
	ck_assert_uint_eq(v, 0);
	ck_assert_int_eq(parse_u64("007", 10, &v), 0);
	ck_assert_uint_eq(v, 7);
	ck_assert_int_eq(parse_u64("18446744073709551615", UINT64_MAX, &v), 0);
	ck_assert_uint_eq(v, UINT64_MAX);
	ck_assert_int_eq(parse_u64("65535", 65535, &v), 0);
	ck_assert_uint_eq(v, 65535);
}
END_TEST

START_TEST(test_parse_u64_limit)
{
	uint64_t v = 99;

	ck_assert_int_eq(parse_u64("100", 100, &v), 0);
	ck_assert_uint_eq(v, 100);
	ck_assert_int_eq(parse_u64("101", 100, &v), -1);
	ck_assert_int_eq(parse_u64("65536", 65535, &v), -1);
	ck_assert_int_eq(parse_u64("18446744073709551616", UINT64_MAX, &v),
	    -1);
	ck_assert_int_eq(parse_u64("99999999999999999999999", UINT64_MAX, &v),
	    -1);
	ck_assert_int_eq(parse_u64("18446744073709551615", UINT64_MAX - 1,
	    &v), -1);
	/* Fails leave *val_r alone. */
	ck_assert_uint_eq(v, 100);
}
END_TEST

/* A single digit above a maximum below 10 used to wrap max - d. */
START_TEST(test_parse_u64_small_max)
{
	uint64_t v = 99;

	ck_assert_int_eq(parse_u64("5", 5, &v), 0);
	ck_assert_uint_eq(v, 5);
	ck_assert_int_eq(parse_u64("6", 5, &v), -1);
	ck_assert_int_eq(parse_u64("9", 5, &v), -1);
	ck_assert_int_eq(parse_u64("1", 0, &v), -1);
	ck_assert_int_eq(parse_u64("0", 0, &v), 0);
	ck_assert_uint_eq(v, 0);
	ck_assert_int_eq(parse_u64("00", 0, &v), 0);
	ck_assert_int_eq(parse_u64("15", 15, &v), 0);
	ck_assert_int_eq(parse_u64("16", 15, &v), -1);
	ck_assert_int_eq(parse_u64("19", 15, &v), -1);
	ck_assert_int_eq(parse_u64("20", 15, &v), -1);
}
END_TEST

START_TEST(test_parse_u64_garbage)
{
	static const char *const bad[] = {
		"", "+1", "-1", " 1", "1 ", "1a", "0x10", "1.5", "1e3", "\t1",
		"1\n", "١",
	};
	uint64_t v;
	size_t	 i;

	for (i = 0; i < N_ELEMENTS(bad); i++)
		ck_assert_msg(parse_u64(bad[i], UINT64_MAX, &v) == -1,
		    "accepted \"%s\"", bad[i]);
}
END_TEST

START_TEST(test_parse_u64_n)
{
	uint64_t v = 99;

	ck_assert_int_eq(parse_u64_n("123abc", 3, 1000, &v), 0);
	ck_assert_uint_eq(v, 123);
	ck_assert_int_eq(parse_u64_n("123abc", 4, 1000, &v), -1);
	ck_assert_int_eq(parse_u64_n("123", 0, 1000, &v), -1);
	ck_assert_int_eq(parse_u64_n("1\0" "2", 3, 1000, &v), -1);
	ck_assert_int_eq(parse_u64_n("5000", 4, 4999, &v), -1);
}
END_TEST

START_TEST(test_str_eq_icase)
{
	ck_assert(str_eq_icase("HeLLo", "hello"));
	ck_assert(str_eq_icase("", ""));
	ck_assert(!str_eq_icase("abc", "abcd"));
	ck_assert(!str_eq_icase("abcd", "abc"));
	ck_assert(!str_eq_icase("abc", "abd"));
	/* ASCII only: '@' and '`' are not letters' cases. */
	ck_assert(!str_eq_icase("@", "`"));
	ck_assert(!str_eq_icase("[", "{"));
	ck_assert(!str_eq_icase("\xc3\x84", "\xc3\xa4"));
}
END_TEST

START_TEST(test_str_has_prefix)
{
	ck_assert(str_has_prefix("file:/x", "file:"));
	ck_assert(str_has_prefix("abc", ""));
	ck_assert(str_has_prefix("abc", "abc"));
	ck_assert(!str_has_prefix("ab", "abc"));
	ck_assert(!str_has_prefix("FILE:", "file:"));
}
END_TEST

START_TEST(test_str_lower)
{
	char	s[] = "MiXeD-Case_123@EXAMPLE.org\xc3\x84";

	ck_assert_ptr_eq(str_lower(s), s);
	ck_assert_str_eq(s, "mixed-case_123@example.org\xc3\x84");
}
END_TEST

START_TEST(test_str_skip_ws)
{
	ck_assert_str_eq(str_skip_ws(" \t x y"), "x y");
	ck_assert_str_eq(str_skip_ws("x"), "x");
	ck_assert_str_eq(str_skip_ws("   "), "");
	ck_assert_str_eq(str_skip_ws("\nx"), "\nx");
}
END_TEST

START_TEST(test_str_date)
{
	char	buf[64];

	ck_assert_int_eq(setenv("TZ", "UTC", 1), 0);
	tzset();
	ck_assert_int_eq(str_date(buf, sizeof(buf), 0, false), 0);
	ck_assert_str_eq(buf, "Thu, 01 Jan 1970 00:00:00 +0000");
	ck_assert_int_eq(str_date(buf, sizeof(buf), 1795332960, true), 0);
	ck_assert_str_eq(buf, "Sun, 22 Nov 2026 07:36:00 +0000 (UTC)");
	/* One byte short of the terminating NUL. */
	ck_assert_int_eq(str_date(buf, 31, 0, false), -1);
	ck_assert_int_eq(str_date(buf, 32, 0, false), 0);
}
END_TEST

static Suite *
str_suite(void)
{
	Suite	*s = suite_create("str");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, test_str_copy_fits);
	tcase_add_test(tc, test_str_copy_truncates);
	tcase_add_test(tc, test_parse_u64_ok);
	tcase_add_test(tc, test_parse_u64_limit);
	tcase_add_test(tc, test_parse_u64_small_max);
	tcase_add_test(tc, test_parse_u64_garbage);
	tcase_add_test(tc, test_parse_u64_n);
	tcase_add_test(tc, test_str_eq_icase);
	tcase_add_test(tc, test_str_has_prefix);
	tcase_add_test(tc, test_str_lower);
	tcase_add_test(tc, test_str_skip_ws);
	tcase_add_test(tc, test_str_date);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(str_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
