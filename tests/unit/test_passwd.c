/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for common/passwd.c: hashes made by passwd_hash() for each
 * scheme verify, fixed vectors made once with Python's crypt module and
 * "openssl passwd -6" verify bare and with each Dovecot {PREFIX} (scheme
 * names in any case), {PLAIN} sets plain_r, wrong and empty passwords
 * fail, a NUL inside and a password one byte over the limit fail (at
 * the limit it works: 511 bytes for libcrypt, PASSWD_MAX for {PLAIN}), malformed or unknown hashes give -1, and the
 * dummy hash is a fixed yescrypt hash.
 */
#include "config.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "common/passwd.h"
#include "common/xmalloc.h"

#include "common/banned.h"

/* libxcrypt's limit, with the NUL: <crypt.h> CRYPT_MAX_PASSPHRASE_SIZE. */
#define CRYPT_MAX	512

/* python3: crypt.crypt('secret', '$6$saltsalt$') */
#define V_SHA512 "$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1"
/* python3: crypt.crypt('secret', '$2b$05$abcdefghijklmnopqrstuu') */
#define V_BCRYPT "$2b$05$abcdefghijklmnopqrstuuOQiyCxlgf/oeuTqixKmWdcYUh4Hjl0a"
#define V_BCRYPT_2Y "$2y$05$abcdefghijklmnopqrstuuOQiyCxlgf/oeuTqixKmWdcYUh4Hjl0a"
/* python3: crypt.crypt('secret', '$y$j9T$abcdefghijklmnopqrstu1$') */
#define V_YESCRYPT "$y$j9T$abcdefghijklmnopqrstu1$GlQwT/EQP1axBM3aasX7Rs1qYe36BkJ0pNJ85R3q8SB"
/* openssl passwd -6 -salt abcdefgh 'correct horse' */
#define V_OPENSSL "$6$abcdefgh$yIZAF3gQPvtKZO/9qOJKffAKKbtS3ef3qmwyugk4uWVjX8YZf/GV3A8SkFxEPY0T56CcilGrHKLffBsp6dLMG."

static int
verify(const char *stored, const char *password, bool *plain_r)
{
	const char *error = NULL;
	bool	 plain = true;
	int	 ret;

	ret = passwd_verify(stored, password, strlen(password), &plain,
	    &error);
	if (ret == -1)
		ck_assert_ptr_nonnull(error);
	if (plain_r != NULL)
		*plain_r = plain;
	return ret;
}

static void
check_scheme(const char *scheme, const char *prefix)
{
	const char *error = NULL;
	char	*h;
	bool	 plain;

	h = passwd_hash("s3cret pass", scheme, &error);
	ck_assert_ptr_nonnull(h);
	ck_assert_msg(strncmp(h, prefix, strlen(prefix)) == 0, "%s", h);
	ck_assert_int_eq(verify(h, "s3cret pass", &plain), 1);
	ck_assert(!plain);
	ck_assert_int_eq(verify(h, "s3cret pas", NULL), 0);
	ck_assert_int_eq(verify(h, "s3cret passs", NULL), 0);
	ck_assert_int_eq(verify(h, "", NULL), 0);
	free(h);
}

START_TEST(test_hash_yescrypt)
{
	check_scheme("yescrypt", "$y$");
}
END_TEST

START_TEST(test_hash_sha512)
{
	check_scheme("sha512-crypt", "$6$");
}
END_TEST

START_TEST(test_hash_bcrypt)
{
	check_scheme("bcrypt", "$2b$");
}
END_TEST

START_TEST(test_hash_salted)
{
	const char *error;
	char	*a, *b;

	/* A fresh salt each time. */
	a = passwd_hash("same", "sha512-crypt", &error);
	b = passwd_hash("same", "sha512-crypt", &error);
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ck_assert_str_ne(a, b);
	free(a);
	free(b);
}
END_TEST

START_TEST(test_hash_errors)
{
	const char *error = NULL;
	char	*pw;

	ck_assert_ptr_null(passwd_hash("x", "md5", &error));
	ck_assert_ptr_nonnull(error);
	ck_assert_ptr_null(passwd_hash("x", "", &error));
	ck_assert_ptr_null(passwd_hash("x", "YESCRYPT", &error));
	pw = xmalloc(PASSWD_MAX + 2);
	memset(pw, 'a', PASSWD_MAX + 1);
	pw[PASSWD_MAX + 1] = '\0';
	error = NULL;
	ck_assert_ptr_null(passwd_hash(pw, "sha512-crypt", &error));
	ck_assert_ptr_nonnull(error);
	free(pw);
}
END_TEST

START_TEST(test_scheme_valid)
{
	ck_assert(passwd_scheme_valid("yescrypt"));
	ck_assert(passwd_scheme_valid("sha512-crypt"));
	ck_assert(passwd_scheme_valid("bcrypt"));
	ck_assert(!passwd_scheme_valid("plain"));
	ck_assert(!passwd_scheme_valid("md5-crypt"));
	ck_assert(!passwd_scheme_valid(""));
	ck_assert(!passwd_scheme_valid("Yescrypt"));
}
END_TEST

START_TEST(test_vectors)
{
	bool	plain;

	ck_assert_int_eq(verify(V_SHA512, "secret", &plain), 1);
	ck_assert(!plain);
	ck_assert_int_eq(verify(V_SHA512, "Secret", NULL), 0);
	ck_assert_int_eq(verify(V_BCRYPT, "secret", NULL), 1);
	ck_assert_int_eq(verify(V_BCRYPT, "secreT", NULL), 0);
	ck_assert_int_eq(verify(V_BCRYPT_2Y, "secret", NULL), 1);
	ck_assert_int_eq(verify(V_YESCRYPT, "secret", NULL), 1);
	ck_assert_int_eq(verify(V_YESCRYPT, "secret ", NULL), 0);
	ck_assert_int_eq(verify(V_OPENSSL, "correct horse", NULL), 1);
	ck_assert_int_eq(verify(V_OPENSSL, "correct  horse", NULL), 0);
}
END_TEST

START_TEST(test_dovecot_prefixes)
{
	bool	plain;

	ck_assert_int_eq(verify("{SHA512-CRYPT}" V_SHA512, "secret", &plain), 1);
	ck_assert(!plain);
	ck_assert_int_eq(verify("{sha512-crypt}" V_SHA512, "secret", NULL), 1);
	ck_assert_int_eq(verify("{SHA512-CRYPT}" V_SHA512, "nope", NULL), 0);
	ck_assert_int_eq(verify("{BLF-CRYPT}" V_BCRYPT, "secret", NULL), 1);
	ck_assert_int_eq(verify("{BLF-CRYPT}" V_BCRYPT_2Y, "secret", NULL), 1);
	ck_assert_int_eq(verify("{Blf-Crypt}" V_BCRYPT, "nope", NULL), 0);
	ck_assert_int_eq(verify("{YESCRYPT}" V_YESCRYPT, "secret", NULL), 1);
	ck_assert_int_eq(verify("{CRYPT}" V_SHA512, "secret", NULL), 1);
	ck_assert_int_eq(verify("{CRYPT}" V_YESCRYPT, "secret", NULL), 1);
	ck_assert_int_eq(verify("{crypt}" V_BCRYPT, "nope", NULL), 0);
}
END_TEST

START_TEST(test_plain)
{
	bool	plain = false;

	ck_assert_int_eq(verify("{PLAIN}secret", "secret", &plain), 1);
	ck_assert(plain);
	plain = false;
	ck_assert_int_eq(verify("{plain}secret", "secret", &plain), 1);
	ck_assert(plain);
	ck_assert_int_eq(verify("{PLAIN}secret", "secre", &plain), 0);
	ck_assert(plain);
	ck_assert_int_eq(verify("{PLAIN}secret", "secrets", NULL), 0);
	ck_assert_int_eq(verify("{PLAIN}secret", "", NULL), 0);
	/* Everything after the "}" is the password, "}" and "$" included. */
	ck_assert_int_eq(verify("{PLAIN}a}b$6$", "a}b$6$", NULL), 1);
	/* An empty password never matches, not even an empty {PLAIN}. */
	ck_assert_int_eq(verify("{PLAIN}", "", NULL), 0);
}
END_TEST

START_TEST(test_nul_and_length)
{
	const char *error;
	char	*pw, *h;
	bool	 plain;

	/* "secret\0x": refused, though crypt would see "secret". */
	ck_assert_int_eq(passwd_verify(V_SHA512, "secret\0x", 8, &plain,
	    &error), 0);
	ck_assert_int_eq(passwd_verify("{PLAIN}secret", "secret\0", 7, &plain,
	    &error), 0);
	ck_assert_int_eq(passwd_verify(V_SHA512, "secret", 6, &plain,
	    &error), 1);

	/*
	 * libxcrypt takes at most 511 bytes: a crypt hash matches up to
	 * that, never beyond; {PLAIN} takes PASSWD_MAX bytes, not one more.
	 */
	pw = xmalloc(PASSWD_MAX + 2);
	memset(pw, 'p', PASSWD_MAX + 1);
	pw[CRYPT_MAX - 1] = '\0';
	h = passwd_hash(pw, "sha512-crypt", &error);
	ck_assert_ptr_nonnull(h);
	ck_assert_int_eq(passwd_verify(h, pw, CRYPT_MAX - 1, &plain, &error),
	    1);
	pw[CRYPT_MAX - 1] = 'p';
	pw[CRYPT_MAX] = '\0';
	ck_assert_int_eq(passwd_verify(h, pw, CRYPT_MAX, &plain, &error), 0);
	error = NULL;
	ck_assert_ptr_null(passwd_hash(pw, "yescrypt", &error));
	ck_assert_ptr_nonnull(error);
	free(h);

	memset(pw, 'p', PASSWD_MAX + 1);
	pw[PASSWD_MAX + 1] = '\0';
	h = xasprintf("{PLAIN}%.*s", PASSWD_MAX, pw);
	ck_assert_int_eq(passwd_verify(h, pw, PASSWD_MAX, &plain, &error), 1);
	ck_assert(plain);
	ck_assert_int_eq(passwd_verify(h, pw, PASSWD_MAX + 1, &plain, &error),
	    0);
	free(h);
	h = xasprintf("{PLAIN}%s", pw);
	ck_assert_int_eq(passwd_verify(h, pw, PASSWD_MAX + 1, &plain, &error),
	    0);
	free(h);
	free(pw);
}
END_TEST

START_TEST(test_malformed)
{
	static const char *const bad[] = {
		"",
		"secret",
		"*",
		"!",
		"$1$abc$def",			/* md5-crypt: not accepted bare */
		"$5$saltsalt$xyz",		/* sha256-crypt: not bare either */
		"$y$",
		"$6$",				/* output longer than the hash */
		"$6$saltsalt$short",		/* truncated */
		"$2b$99$abcdefghijklmnopqrstuu",	/* cost out of range */
		"$2b$05$abc",
		"{SHA512-CRYPT}",
		"{SHA512-CRYPT}" V_BCRYPT,	/* scheme and hash disagree */
		"{BLF-CRYPT}" V_SHA512,
		"{YESCRYPT}" V_SHA512,
		"{CRYPT}",
		"{CRYPT}*0",
		"{MD5}x",
		"{}x",
		"{SHA512-CRYPT",
		"{AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA}x",
	};
	size_t	i;

	for (i = 0; i < N_ELEMENTS(bad); i++)
		ck_assert_msg(verify(bad[i], "secret", NULL) == -1, "%s",
		    bad[i]);
}
END_TEST

START_TEST(test_dummy)
{
	const char *d;

	d = passwd_dummy_hash("yescrypt");
	ck_assert_ptr_nonnull(d);
	ck_assert_msg(strncmp(d, "$y$", 3) == 0, "%s", d);
	ck_assert_ptr_eq(passwd_dummy_hash("yescrypt"), d);
	ck_assert_int_eq(verify(d, "secret", NULL), 0);
	ck_assert_int_eq(verify(d, "", NULL), 0);
	/* One per scheme, so unknown users cost what the configured scheme costs. */
	ck_assert_msg(strncmp(passwd_dummy_hash("sha512-crypt"), "$6$", 3) == 0,
	    "%s", passwd_dummy_hash("sha512-crypt"));
	ck_assert_msg(strncmp(passwd_dummy_hash("bcrypt"), "$2", 2) == 0,
	    "%s", passwd_dummy_hash("bcrypt"));
	ck_assert_ptr_eq(passwd_dummy_hash("no-such-scheme"), d);
}
END_TEST

static Suite *
passwd_suite(void)
{
	Suite	*s = suite_create("passwd");
	TCase	*tc = tcase_create("passwd");

	/* bcrypt and yescrypt are slow on purpose, more so under ASan. */
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_hash_yescrypt);
	tcase_add_test(tc, test_hash_sha512);
	tcase_add_test(tc, test_hash_bcrypt);
	tcase_add_test(tc, test_hash_salted);
	tcase_add_test(tc, test_hash_errors);
	tcase_add_test(tc, test_scheme_valid);
	tcase_add_test(tc, test_vectors);
	tcase_add_test(tc, test_dovecot_prefixes);
	tcase_add_test(tc, test_plain);
	tcase_add_test(tc, test_nul_and_length);
	tcase_add_test(tc, test_malformed);
	tcase_add_test(tc, test_dummy);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(passwd_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
