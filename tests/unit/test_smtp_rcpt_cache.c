/* SPDX-License-Identifier: ISC */
/*
 * smtpd's RCPT answer cache: hits only for the same recipient, client
 * address and authentication state, only while younger than the time to
 * live, never for temporary failures, and a slot's new answer replaces
 * the old one.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtpd/smtp_rcpt_cache.h"

START_TEST(test_hit_and_expiry)
{
	struct smtp_rcpt_cache	*c = smtp_rcpt_cache_new(1000);
	enum authd_rcpt_result	 r;
	bool			 relay;

	ck_assert(!smtp_rcpt_cache_get(c, "a@x", "1.2.3.4", false, 0, &r,
	    &relay));
	smtp_rcpt_cache_put(c, "a@x", "1.2.3.4", false, 100,
	    AUTHD_RCPT_REMOTE, true);
	ck_assert(smtp_rcpt_cache_get(c, "a@x", "1.2.3.4", false, 1099, &r,
	    &relay));
	ck_assert_int_eq(r, AUTHD_RCPT_REMOTE);
	ck_assert(relay);
	/* Expired at exactly put + ttl. */
	ck_assert(!smtp_rcpt_cache_get(c, "a@x", "1.2.3.4", false, 1100, &r,
	    &relay));
	/* Another client, authentication state or recipient: no hit. */
	ck_assert(!smtp_rcpt_cache_get(c, "a@x", "1.2.3.5", false, 200, &r,
	    &relay));
	ck_assert(!smtp_rcpt_cache_get(c, "a@x", "1.2.3.4", true, 200, &r,
	    &relay));
	ck_assert(!smtp_rcpt_cache_get(c, "A@x", "1.2.3.4", false, 200, &r,
	    &relay));
	/* A newer answer replaces it. */
	smtp_rcpt_cache_put(c, "a@x", "1.2.3.4", false, 300,
	    AUTHD_RCPT_UNKNOWN, false);
	ck_assert(smtp_rcpt_cache_get(c, "a@x", "1.2.3.4", false, 400, &r,
	    &relay));
	ck_assert_int_eq(r, AUTHD_RCPT_UNKNOWN);
	ck_assert(!relay);
	smtp_rcpt_cache_free(&c);
	ck_assert_ptr_null(c);
	smtp_rcpt_cache_free(&c);
}
END_TEST

START_TEST(test_never_kept)
{
	struct smtp_rcpt_cache	*c = smtp_rcpt_cache_new(1000);
	struct smtp_rcpt_cache	*off = smtp_rcpt_cache_new(0);
	enum authd_rcpt_result	 r;
	bool			 relay;
	char			 big[SMTP_RCPT_CACHE_KEY_MAX + 10];

	smtp_rcpt_cache_put(c, "t@x", "ip", false, 0, AUTHD_RCPT_TEMPFAIL,
	    false);
	ck_assert(!smtp_rcpt_cache_get(c, "t@x", "ip", false, 1, &r, &relay));
	smtp_rcpt_cache_put(off, "a@x", "ip", false, 0, AUTHD_RCPT_LOCAL,
	    false);
	ck_assert(!smtp_rcpt_cache_get(off, "a@x", "ip", false, 0, &r,
	    &relay));
	/* A key too long to keep. */
	memset(big, 'b', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	smtp_rcpt_cache_put(c, big, "ip", false, 0, AUTHD_RCPT_LOCAL, false);
	ck_assert(!smtp_rcpt_cache_get(c, big, "ip", false, 1, &r, &relay));
	ck_assert(!smtp_rcpt_cache_get(NULL, "a", "ip", false, 1, &r, &relay));
	smtp_rcpt_cache_free(&c);
	smtp_rcpt_cache_free(&off);
}
END_TEST

/* Many recipients: every get answers its own recipient or nothing. */
START_TEST(test_many)
{
	struct smtp_rcpt_cache	*c = smtp_rcpt_cache_new(1000);
	enum authd_rcpt_result	 r;
	bool			 relay;
	char			 a[64];
	int			 i, hits = 0;

	for (i = 0; i < 4 * SMTP_RCPT_CACHE_SIZE; i++) {
		(void)snprintf(a, sizeof(a), "u%d@x", i);
		smtp_rcpt_cache_put(c, a, "ip", false, 0, i % 2 == 0 ?
		    AUTHD_RCPT_LOCAL : AUTHD_RCPT_UNKNOWN, false);
	}
	for (i = 0; i < 4 * SMTP_RCPT_CACHE_SIZE; i++) {
		(void)snprintf(a, sizeof(a), "u%d@x", i);
		if (!smtp_rcpt_cache_get(c, a, "ip", false, 1, &r, &relay))
			continue;
		hits++;
		ck_assert_int_eq(r, i % 2 == 0 ? AUTHD_RCPT_LOCAL :
		    AUTHD_RCPT_UNKNOWN);
	}
	ck_assert_int_gt(hits, 0);
	ck_assert_int_le(hits, SMTP_RCPT_CACHE_SIZE);
	smtp_rcpt_cache_free(&c);
}
END_TEST

static Suite *
rcpt_cache_suite(void)
{
	Suite	*s = suite_create("smtp_rcpt_cache");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, test_hit_and_expiry);
	tcase_add_test(tc, test_never_kept);
	tcase_add_test(tc, test_many);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(rcpt_cache_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
