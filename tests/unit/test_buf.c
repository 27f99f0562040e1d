/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for common/buf.c: the hard maximum at max and max + 1 for
 * every append function, the allocation cap, printf growth, and the
 * consume/truncate/steal helpers.
 */
#include "config.h"

#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "common/buf.h"

#include "common/banned.h"

START_TEST(test_buf_new_free)
{
	struct buf *b;

	b = buf_new(0, 10);
	ck_assert_ptr_nonnull(b->data);
	ck_assert_str_eq(buf_cstr(b), "");
	ck_assert_uint_eq(b->len, 0);
	ck_assert_uint_ge(b->size, 1);
	buf_free(&b);
	ck_assert_ptr_null(b);
	buf_free(&b);			/* NULL is fine */
	buf_free_secret(&b);
}
END_TEST

START_TEST(test_buf_init_capped)
{
	struct buf b;

	/* init larger than max + 1 is cut to max + 1. */
	buf_init(&b, 1000, 10);
	ck_assert_uint_eq(b.size, 11);
	buf_deinit(&b);
	ck_assert_ptr_null(b.data);
}
END_TEST

START_TEST(test_buf_append_at_max)
{
	struct buf *b = buf_new(4, 10);

	ck_assert_int_eq(buf_append(b, "0123456789", 10), 0);
	ck_assert_uint_eq(b->len, 10);
	ck_assert_str_eq(buf_cstr(b), "0123456789");
	ck_assert_uint_le(b->size, 11);
	/* One more byte: refused, nothing changes. */
	ck_assert_int_eq(buf_append(b, "x", 1), -1);
	ck_assert_int_eq(buf_append_byte(b, 'x'), -1);
	ck_assert_int_eq(buf_append_str(b, "x"), -1);
	ck_assert_int_eq(buf_printf(b, "%c", 'x'), -1);
	ck_assert_uint_eq(b->len, 10);
	ck_assert_str_eq(buf_cstr(b), "0123456789");
	/* Appending nothing always works. */
	ck_assert_int_eq(buf_append(b, NULL, 0), 0);
	ck_assert_int_eq(buf_append_str(b, ""), 0);
	buf_free(&b);
}
END_TEST

START_TEST(test_buf_append_over_max)
{
	struct buf *b = buf_new(0, 10);
	size_t	    size;

	ck_assert_int_eq(buf_append_str(b, "abc"), 0);
	size = b->size;
	/* 3 + 8 = 11 = max + 1 */
	ck_assert_int_eq(buf_append(b, "01234567", 8), -1);
	ck_assert_uint_eq(b->len, 3);
	ck_assert_uint_eq(b->size, size);
	ck_assert_str_eq(buf_cstr(b), "abc");
	/* 3 + 7 = max */
	ck_assert_int_eq(buf_append(b, "0123456", 7), 0);
	ck_assert_str_eq(buf_cstr(b), "abc0123456");
	buf_free(&b);
}
END_TEST

START_TEST(test_buf_append_huge_len)
{
	struct buf *b = buf_new(0, 10);

	ck_assert_int_eq(buf_append_byte(b, 'a'), 0);
	/* Must not wrap or read the (absent) data. */
	ck_assert_int_eq(buf_append(b, "x", SIZE_MAX), -1);
	ck_assert_int_eq(buf_append(b, "x", SIZE_MAX - 1), -1);
	ck_assert_str_eq(buf_cstr(b), "a");
	buf_free(&b);
}
END_TEST

START_TEST(test_buf_growth_cap)
{
	struct buf *b = buf_new(1, 100);
	unsigned int i;

	for (i = 0; i < 100; i++) {
		ck_assert_int_eq(buf_append_byte(b, (uint8_t)('a' + i % 26)),
		    0);
		ck_assert_uint_le(b->size, 101);
		ck_assert_uint_gt(b->size, b->len);
		ck_assert_uint_eq(b->data[b->len], '\0');
	}
	ck_assert_uint_eq(b->len, 100);
	ck_assert_int_eq(buf_append_byte(b, 'z'), -1);
	ck_assert_uint_le(b->size, 101);
	buf_free(&b);
}
END_TEST

START_TEST(test_buf_max_zero)
{
	struct buf *b = buf_new(0, 0);

	ck_assert_int_eq(buf_append(b, "", 0), 0);
	ck_assert_int_eq(buf_append_byte(b, 'a'), -1);
	ck_assert_int_eq(buf_printf(b, "%s", ""), 0);
	ck_assert_int_eq(buf_printf(b, "x"), -1);
	ck_assert_str_eq(buf_cstr(b), "");
	ck_assert_uint_eq(b->size, 1);
	buf_free(&b);
}
END_TEST

START_TEST(test_buf_max_unlimited)
{
	struct buf *b = buf_new(0, SIZE_MAX);

	ck_assert_int_eq(buf_append_str(b, "hello"), 0);
	ck_assert_int_eq(buf_printf(b, " %d", 42), 0);
	ck_assert_str_eq(buf_cstr(b), "hello 42");
	buf_free(&b);
}
END_TEST

START_TEST(test_buf_append_binary)
{
	struct buf *b = buf_new(0, 16);

	ck_assert_int_eq(buf_append(b, "a\0b", 3), 0);
	ck_assert_uint_eq(b->len, 3);
	ck_assert_mem_eq(b->data, "a\0b", 4);
	buf_free(&b);
}
END_TEST

START_TEST(test_buf_printf_grow)
{
	struct buf *b = buf_new(4, 1000);
	char	    big[501];

	memset(big, 'q', 500);
	big[500] = '\0';
	ck_assert_int_eq(buf_printf(b, "%s", "ab"), 0);
	ck_assert_int_eq(buf_printf(b, "[%s]", big), 0);
	ck_assert_uint_eq(b->len, 504);
	ck_assert_uint_eq(b->data[0], 'a');
	ck_assert_uint_eq(b->data[2], '[');
	ck_assert_uint_eq(b->data[503], ']');
	ck_assert_uint_eq(b->data[504], '\0');
	ck_assert_uint_le(b->size, 1001);
	buf_free(&b);
}
END_TEST

START_TEST(test_buf_printf_at_max)
{
	struct buf *b = buf_new(2, 10);

	ck_assert_int_eq(buf_printf(b, "%s", "abcd"), 0);
	/* 4 + 7 = 11: refused, contents intact although vsnprintf ran. */
	ck_assert_int_eq(buf_printf(b, "%07d", 1234567), -1);
	ck_assert_uint_eq(b->len, 4);
	ck_assert_str_eq(buf_cstr(b), "abcd");
	/* 4 + 6 = 10: accepted, exactly full. */
	ck_assert_int_eq(buf_printf(b, "%06d", 123456), 0);
	ck_assert_str_eq(buf_cstr(b), "abcd123456");
	ck_assert_uint_le(b->size, 11);
	buf_free(&b);
}
END_TEST

START_TEST(test_buf_printf_fits_no_grow)
{
	struct buf *b = buf_new(64, 100);
	char	   *before = b->data;

	ck_assert_int_eq(buf_printf(b, "%s=%u", "size", 10u), 0);
	ck_assert_ptr_eq(b->data, before);
	ck_assert_str_eq(buf_cstr(b), "size=10");
	buf_free(&b);
}
END_TEST

START_TEST(test_buf_reset_consume_truncate)
{
	struct buf *b = buf_new(0, 32);

	ck_assert_int_eq(buf_append_str(b, "hello world"), 0);
	buf_consume(b, 0);
	ck_assert_str_eq(buf_cstr(b), "hello world");
	buf_consume(b, 6);
	ck_assert_str_eq(buf_cstr(b), "world");
	ck_assert_uint_eq(b->len, 5);
	buf_truncate(b, 3);
	ck_assert_str_eq(buf_cstr(b), "wor");
	buf_truncate(b, 3);
	ck_assert_str_eq(buf_cstr(b), "wor");
	buf_consume(b, 3);
	ck_assert_str_eq(buf_cstr(b), "");
	ck_assert_uint_eq(b->len, 0);
	ck_assert_int_eq(buf_append_str(b, "again"), 0);
	buf_reset(b);
	ck_assert_str_eq(buf_cstr(b), "");
	ck_assert_uint_eq(b->len, 0);
	/* The whole maximum is available again after a reset. */
	ck_assert_int_eq(buf_printf(b, "%032d", 0), 0);
	ck_assert_uint_eq(b->len, 32);
	buf_free(&b);
}
END_TEST

START_TEST(test_buf_consume_too_much)
{
	struct buf *b = buf_new(0, 32);

	ck_assert_int_eq(buf_append_str(b, "abc"), 0);
	buf_consume(b, 4);		/* panics */
}
END_TEST

START_TEST(test_buf_truncate_too_long)
{
	struct buf *b = buf_new(0, 32);

	ck_assert_int_eq(buf_append_str(b, "abc"), 0);
	buf_truncate(b, 4);		/* panics */
}
END_TEST

START_TEST(test_buf_steal)
{
	struct buf *b = buf_new(0, 8);
	char	   *s;

	ck_assert_int_eq(buf_append_str(b, "12345678"), 0);
	s = buf_steal(b);
	ck_assert_str_eq(s, "12345678");
	free(s);
	ck_assert_str_eq(buf_cstr(b), "");
	ck_assert_uint_eq(b->len, 0);
	/* Still usable, same maximum. */
	ck_assert_int_eq(buf_append_str(b, "abcdefgh"), 0);
	ck_assert_int_eq(buf_append_byte(b, 'i'), -1);
	ck_assert_str_eq(buf_cstr(b), "abcdefgh");
	buf_free(&b);
}
END_TEST

START_TEST(test_buf_free_secret)
{
	struct buf *b = buf_new(0, 64);

	ck_assert_int_eq(buf_append_str(b, "hunter2"), 0);
	buf_consume(b, 3);
	buf_free_secret(&b);
	ck_assert_ptr_null(b);
}
END_TEST

static Suite *
buf_suite(void)
{
	Suite	*s = suite_create("buf");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, test_buf_new_free);
	tcase_add_test(tc, test_buf_init_capped);
	tcase_add_test(tc, test_buf_append_at_max);
	tcase_add_test(tc, test_buf_append_over_max);
	tcase_add_test(tc, test_buf_append_huge_len);
	tcase_add_test(tc, test_buf_growth_cap);
	tcase_add_test(tc, test_buf_max_zero);
	tcase_add_test(tc, test_buf_max_unlimited);
	tcase_add_test(tc, test_buf_append_binary);
	tcase_add_test(tc, test_buf_printf_grow);
	tcase_add_test(tc, test_buf_printf_at_max);
	tcase_add_test(tc, test_buf_printf_fits_no_grow);
	tcase_add_test(tc, test_buf_reset_consume_truncate);
	tcase_add_test_raise_signal(tc, test_buf_consume_too_much, SIGABRT);
	tcase_add_test_raise_signal(tc, test_buf_truncate_too_long, SIGABRT);
	tcase_add_test(tc, test_buf_steal);
	tcase_add_test(tc, test_buf_free_secret);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(buf_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
