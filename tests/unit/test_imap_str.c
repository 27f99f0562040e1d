/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for common/imap_str.c: NIL, numbers at 0 and UINT64_MAX,
 * quoted strings (escapes, the empty string, every byte that forces a
 * literal), literals and literal8 (NUL handling), 8-bit with and without
 * IMAP_STR_UTF8 (valid and each kind of invalid UTF-8), astrings (every
 * atom-special), nstrings, and a full buffer at the exact maximum and one
 * byte short, which must leave the buffer unchanged.
 */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "common/buf.h"
#include "common/imap_str.h"

#include "common/banned.h"

#define S(s)	(s), (sizeof(s) - 1)

/* Writes with fn into a fresh buffer and compares with want. */
#define CHECK_OUT(call, want) do {					\
	struct buf *b_ = buf_new(0, 4096);				\
	struct buf *out = b_;						\
	ck_assert_int_eq((call), 0);					\
	ck_assert_uint_eq(out->len, sizeof(want) - 1);			\
	ck_assert_mem_eq(out->data, want, sizeof(want) - 1);		\
	buf_free(&b_);							\
} while (0)

START_TEST(test_nil_number)
{
	CHECK_OUT(imap_str_nil(out), "NIL");
	CHECK_OUT(imap_str_number(out, 0), "0");
	CHECK_OUT(imap_str_number(out, 42), "42");
	CHECK_OUT(imap_str_number(out, UINT64_MAX), "18446744073709551615");
}
END_TEST

START_TEST(test_quoted)
{
	CHECK_OUT(imap_str_quoted_or_literal(out, S("hello"), 0), "\"hello\"");
	CHECK_OUT(imap_str_quoted_or_literal(out, NULL, 0, 0), "\"\"");
	CHECK_OUT(imap_str_quoted_or_literal(out, S(""), 0), "\"\"");
	CHECK_OUT(imap_str_quoted_or_literal(out, S("a\"b\\c"), 0),
	    "\"a\\\"b\\\\c\"");
	CHECK_OUT(imap_str_quoted_or_literal(out, S("\"\\"), 0),
	    "\"\\\"\\\\\"");
	/* Control characters other than CR, LF and NUL may be quoted. */
	CHECK_OUT(imap_str_quoted_or_literal(out, S("a\tb\x01\x7f"), 0),
	    "\"a\tb\x01\x7f\"");
	CHECK_OUT(imap_str_quoted_or_literal(out, S("(){}%*]"), 0),
	    "\"(){}%*]\"");
}
END_TEST

START_TEST(test_literal)
{
	CHECK_OUT(imap_str_quoted_or_literal(out, S("a\r\nb"), 0),
	    "{4}\r\na\r\nb");
	CHECK_OUT(imap_str_quoted_or_literal(out, S("a\rb"), 0), "{3}\r\na\rb");
	CHECK_OUT(imap_str_quoted_or_literal(out, S("a\nb"), 0), "{3}\r\na\nb");
	/* NUL: 0x80 in a literal, verbatim in literal8. */
	CHECK_OUT(imap_str_quoted_or_literal(out, S("a\0b\0"), 0),
	    "{4}\r\na\x80" "b\x80");
	CHECK_OUT(imap_str_quoted_or_literal(out, S("a\0b"), IMAP_STR_LITERAL8),
	    "~{3}\r\na\0b");
	/* literal8 only when a literal is needed at all. */
	CHECK_OUT(imap_str_quoted_or_literal(out, S("ab"), IMAP_STR_LITERAL8),
	    "\"ab\"");
	CHECK_OUT(imap_str_literal(out, S("ab"), 0), "{2}\r\nab");
	CHECK_OUT(imap_str_literal(out, S(""), 0), "{0}\r\n");
	CHECK_OUT(imap_str_literal(out, S(""), IMAP_STR_LITERAL8), "~{0}\r\n");
	CHECK_OUT(imap_str_literal(out, S("\"\\"), 0), "{2}\r\n\"\\");
}
END_TEST

START_TEST(test_8bit)
{
	/* Without UTF8 any 8-bit byte means a literal. */
	CHECK_OUT(imap_str_quoted_or_literal(out, S("\xc3\xa4"), 0),
	    "{2}\r\n\xc3\xa4");
	/* With UTF8, valid UTF-8 is quoted (2, 3 and 4 bytes, the edges). */
	CHECK_OUT(imap_str_quoted_or_literal(out, S("\xc3\xa4"), IMAP_STR_UTF8),
	    "\"\xc3\xa4\"");
	CHECK_OUT(imap_str_quoted_or_literal(out, S("\xc2\x80\xdf\xbf"),
	    IMAP_STR_UTF8), "\"\xc2\x80\xdf\xbf\"");
	CHECK_OUT(imap_str_quoted_or_literal(out, S("\xe0\xa0\x80\xef\xbf\xbf"),
	    IMAP_STR_UTF8), "\"\xe0\xa0\x80\xef\xbf\xbf\"");
	CHECK_OUT(imap_str_quoted_or_literal(out, S("\xf0\x90\x80\x80"
	    "\xf4\x8f\xbf\xbf"), IMAP_STR_UTF8),
	    "\"\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\"");
	/* Invalid UTF-8 stays a literal even with UTF8. */
	CHECK_OUT(imap_str_quoted_or_literal(out, S("\xe4"), IMAP_STR_UTF8),
	    "{1}\r\n\xe4");
	CHECK_OUT(imap_str_quoted_or_literal(out, S("a\xc3"), IMAP_STR_UTF8),
	    "{2}\r\na\xc3");
	CHECK_OUT(imap_str_quoted_or_literal(out, S("\xc0\xaf"), IMAP_STR_UTF8),
	    "{2}\r\n\xc0\xaf");
	/* UTF8 does not allow CR/LF in quoted strings either. */
	CHECK_OUT(imap_str_quoted_or_literal(out, S("\xc3\xa4\n"),
	    IMAP_STR_UTF8), "{3}\r\n\xc3\xa4\n");
}
END_TEST

START_TEST(test_astring)
{
	static const char specials[] = " (){%*\"\\\x01\x1f\x7f\x80";
	size_t	i;

	CHECK_OUT(imap_str_astring(out, S("INBOX"), 0), "INBOX");
	CHECK_OUT(imap_str_astring(out, S("a]b"), 0), "a]b");
	CHECK_OUT(imap_str_astring(out, S("NIL"), 0), "NIL");
	CHECK_OUT(imap_str_astring(out, S(""), 0), "\"\"");
	CHECK_OUT(imap_str_astring(out, S("a b"), 0), "\"a b\"");
	CHECK_OUT(imap_str_astring(out, S("a\r\n"), 0), "{3}\r\na\r\n");
	for (i = 0; i < sizeof(specials) - 1; i++) {
		char s[3] = { 'a', specials[i], 'b' };

		ck_assert(!imap_str_is_astring_atom(s, 3));
	}
	ck_assert(imap_str_is_astring_atom(S("!#$&'+,-./:;<=>?@[]^_`|}~")));
	ck_assert(!imap_str_is_astring_atom("", 0));
}
END_TEST

START_TEST(test_nstring)
{
	CHECK_OUT(imap_str_nstring(out, NULL, 0, 0), "NIL");
	CHECK_OUT(imap_str_nstring(out, S("NIL"), 0), "\"NIL\"");
	CHECK_OUT(imap_str_nstring(out, S(""), 0), "\"\"");
}
END_TEST

/* Each writer at exactly the room it needs, and one byte short. */
START_TEST(test_limits)
{
	struct buf	*b;

	b = buf_new(0, 5);
	ck_assert_int_eq(buf_append(b, "xx", 2), 0);
	ck_assert_int_eq(imap_str_nil(b), 0);
	ck_assert_str_eq(b->data, "xxNIL");
	ck_assert_int_eq(imap_str_nil(b), -1);
	ck_assert_str_eq(b->data, "xxNIL");
	buf_free(&b);

	/* "a\"b" quoted is "a\"b" with escape: 6 bytes. */
	b = buf_new(0, 6);
	ck_assert_int_eq(imap_str_quoted_or_literal(b, S("a\"b"), 0), 0);
	ck_assert_str_eq(b->data, "\"a\\\"b\"");
	buf_free(&b);
	b = buf_new(0, 5);
	ck_assert_int_eq(imap_str_quoted_or_literal(b, S("a\"b"), 0), -1);
	ck_assert_uint_eq(b->len, 0);
	buf_free(&b);
	b = buf_new(0, 4);	/* room for the escape, not the closing quote */
	ck_assert_int_eq(imap_str_quoted_or_literal(b, S("a\\"), 0), -1);
	ck_assert_uint_eq(b->len, 0);
	buf_free(&b);

	/* "{3}\r\na\nb": 8 bytes. */
	b = buf_new(0, 8);
	ck_assert_int_eq(imap_str_quoted_or_literal(b, S("a\nb"), 0), 0);
	buf_free(&b);
	b = buf_new(0, 7);
	ck_assert_int_eq(imap_str_quoted_or_literal(b, S("a\nb"), 0), -1);
	ck_assert_uint_eq(b->len, 0);
	buf_free(&b);
	/* The header fits, the data does not: nothing stays. */
	b = buf_new(0, 7);
	ck_assert_int_eq(imap_str_literal(b, S("abc"), 0), -1);
	ck_assert_uint_eq(b->len, 0);
	buf_free(&b);
	b = buf_new(0, 9);
	ck_assert_int_eq(imap_str_literal(b, S("a\0c"), IMAP_STR_LITERAL8), 0);
	ck_assert_mem_eq(b->data, "~{3}\r\na\0c", 9);
	buf_free(&b);
	b = buf_new(0, 8);
	ck_assert_int_eq(imap_str_literal(b, S("a\0c"), IMAP_STR_LITERAL8), -1);
	ck_assert_uint_eq(b->len, 0);
	buf_free(&b);
	b = buf_new(0, 3);
	ck_assert_int_eq(imap_str_astring(b, S("abc"), 0), 0);
	ck_assert_int_eq(imap_str_astring(b, S("a"), 0), -1);
	ck_assert_int_eq(imap_str_number(b, 1), -1);
	ck_assert_str_eq(b->data, "abc");
	buf_free(&b);
	b = buf_new(0, 19);
	ck_assert_int_eq(imap_str_number(b, UINT64_MAX), -1);
	ck_assert_int_eq(imap_str_number(b, UINT64_MAX / 10), 0);
	buf_free(&b);
}
END_TEST

static Suite *
imap_str_suite(void)
{
	Suite	*s = suite_create("imap_str");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, test_nil_number);
	tcase_add_test(tc, test_quoted);
	tcase_add_test(tc, test_literal);
	tcase_add_test(tc, test_8bit);
	tcase_add_test(tc, test_astring);
	tcase_add_test(tc, test_nstring);
	tcase_add_test(tc, test_limits);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(imap_str_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
