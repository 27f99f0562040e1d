/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for authd's own modules: SASL PLAIN and LOGIN parsing and
 * their state machines (authd/sasl.c), the brute-force throttle with an
 * injected clock (authd/throttle.c) and the one-time token store
 * (authd/token.c).  Each limit is tried at its maximum and one over.
 */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "common/passwd.h"

#include "authd/sasl.h"
#include "authd/throttle.h"
#include "authd/token.h"

#include "common/banned.h"

/* ---- SASL ------------------------------------------------------------ */

/* Builds "authzid NUL authcid NUL passwd" into out; returns its length. */
static size_t
test_plain_msg(uint8_t *out, const char *authzid, const char *authcid,
    const char *passwd)
{
	size_t	n = 0, l;

	l = strlen(authzid);
	memcpy(out + n, authzid, l);
	n += l;
	out[n++] = '\0';
	l = strlen(authcid);
	memcpy(out + n, authcid, l);
	n += l;
	out[n++] = '\0';
	l = strlen(passwd);
	memcpy(out + n, passwd, l);
	return n + l;
}

static int
test_plain(const uint8_t *msg, size_t len, const char **error_r)
{
	char	*user = NULL, *pass = NULL;
	size_t	 plen = 0;
	int	 ret;

	ret = sasl_plain_parse(msg, len, &user, &pass, &plen, error_r);
	if (ret == 0) {
		ck_assert_ptr_nonnull(user);
		ck_assert_ptr_nonnull(pass);
		ck_assert_uint_eq(strlen(pass), plen);
	}
	free(user);
	free(pass);
	return ret;
}

START_TEST(test_sasl_mech_parse)
{
	enum sasl_mech	m;

	ck_assert_int_eq(sasl_mech_parse("PLAIN", &m), 0);
	ck_assert_int_eq(m, SASL_MECH_PLAIN);
	ck_assert_int_eq(sasl_mech_parse("login", &m), 0);
	ck_assert_int_eq(m, SASL_MECH_LOGIN);
	ck_assert_str_eq(sasl_mech_name(SASL_MECH_LOGIN), "LOGIN");
	ck_assert_int_eq(sasl_mech_parse("CRAM-MD5", &m), -1);
	ck_assert_int_eq(sasl_mech_parse("", &m), -1);
	ck_assert_int_eq(sasl_mech_parse("PL AIN", &m), -1);
	ck_assert_int_eq(sasl_mech_parse("PLAIN\t", &m), -1);
	/* 20 characters is the longest name; 21 is refused unread. */
	ck_assert_int_eq(sasl_mech_parse("ABCDEFGHIJKLMNOPQRST", &m), -1);
	ck_assert_int_eq(sasl_mech_parse("ABCDEFGHIJKLMNOPQRSTU", &m), -1);
}
END_TEST

START_TEST(test_sasl_plain_good)
{
	uint8_t		 msg[128];
	char		*user, *pass;
	size_t		 len, plen;
	const char	*error;

	len = test_plain_msg(msg, "", "alice@example.test", "s3cret");
	ck_assert_int_eq(sasl_plain_parse(msg, len, &user, &pass, &plen,
	    &error), 0);
	ck_assert_str_eq(user, "alice@example.test");
	ck_assert_str_eq(pass, "s3cret");
	ck_assert_uint_eq(plen, 6);
	free(user);
	free(pass);

	/* authzid equal to authcid, also in another case. */
	len = test_plain_msg(msg, "alice@example.test", "alice@example.test",
	    "pw");
	ck_assert_int_eq(test_plain(msg, len, &error), 0);
	len = test_plain_msg(msg, "Alice@Example.TEST", "alice@example.test",
	    "pw");
	ck_assert_int_eq(test_plain(msg, len, &error), 0);
	/* Any byte but NUL in a password, UTF-8 in a user name. */
	len = test_plain_msg(msg, "", "j\xc3\xbcrgen@example.test",
	    "\x01\xff :\t");
	ck_assert_int_eq(test_plain(msg, len, &error), 0);
}
END_TEST

START_TEST(test_sasl_plain_bad)
{
	uint8_t		 msg[128];
	size_t		 len;
	const char	*error = NULL;

	len = test_plain_msg(msg, "bob@example.test", "alice@example.test",
	    "pw");
	ck_assert_int_eq(test_plain(msg, len, &error), -1);
	ck_assert_str_eq(error, "PLAIN authzid differs from authcid");

	ck_assert_int_eq(test_plain((const uint8_t *)"alicepw", 7, &error), -1);
	ck_assert_str_eq(error, "PLAIN response without NUL separators");
	ck_assert_int_eq(test_plain((const uint8_t *)"", 0, &error), -1);
	ck_assert_int_eq(test_plain((const uint8_t *)"\0alice", 6, &error),
	    -1);
	ck_assert_str_eq(error, "PLAIN response with one NUL separator");
	ck_assert_int_eq(test_plain((const uint8_t *)"\0alice\0pw\0x", 11,
	    &error), -1);
	ck_assert_str_eq(error, "PLAIN response with more than two NULs");
	ck_assert_int_eq(test_plain((const uint8_t *)"\0alice\0pw\0", 10,
	    &error), -1);
	ck_assert_int_eq(test_plain((const uint8_t *)"\0\0pw", 4, &error), -1);
	ck_assert_str_eq(error, "PLAIN response with an empty authcid");
	ck_assert_int_eq(test_plain((const uint8_t *)"\0alice\0", 7, &error),
	    -1);
	ck_assert_str_eq(error, "PLAIN response with an empty password");
	ck_assert_int_eq(test_plain((const uint8_t *)"\0al\nice\0pw", 10,
	    &error), -1);
	ck_assert_str_eq(error, "PLAIN authcid too long or with control bytes");
	ck_assert_int_eq(test_plain((const uint8_t *)"\0\0\0", 3, &error), -1);
}
END_TEST

START_TEST(test_sasl_plain_limits)
{
	uint8_t		*msg;
	char		*user, *pass;
	size_t		 len, plen;
	const char	*error;

	msg = malloc(SASL_RESPONSE_MAX + 2);
	ck_assert_ptr_nonnull(msg);

	/* authcid of SASL_USER_MAX bytes, then one more. */
	msg[0] = '\0';
	memset(msg + 1, 'a', SASL_USER_MAX);
	msg[1 + SASL_USER_MAX] = '\0';
	msg[2 + SASL_USER_MAX] = 'p';
	ck_assert_int_eq(test_plain(msg, SASL_USER_MAX + 3, &error), 0);
	memset(msg + 1, 'a', SASL_USER_MAX + 1);
	msg[2 + SASL_USER_MAX] = '\0';
	msg[3 + SASL_USER_MAX] = 'p';
	ck_assert_int_eq(test_plain(msg, SASL_USER_MAX + 4, &error), -1);

	/* Password of PASSWD_MAX bytes, then one more. */
	memcpy(msg, "\0u\0", 3);
	memset(msg + 3, 'x', PASSWD_MAX + 1);
	ck_assert_int_eq(sasl_plain_parse(msg, 3 + PASSWD_MAX, &user, &pass,
	    &plen, &error), 0);
	ck_assert_uint_eq(plen, PASSWD_MAX);
	free(user);
	free(pass);
	ck_assert_int_eq(test_plain(msg, 3 + PASSWD_MAX + 1, &error), -1);
	ck_assert_str_eq(error, "PLAIN password too long");

	/* The whole response: SASL_RESPONSE_MAX, then one more. */
	len = 0;
	memset(msg, 'a', SASL_USER_MAX);
	len += SASL_USER_MAX;
	msg[len++] = '\0';
	memset(msg + len, 'a', SASL_USER_MAX);
	len += SASL_USER_MAX;
	msg[len++] = '\0';
	memset(msg + len, 'x', PASSWD_MAX);
	len += PASSWD_MAX;
	ck_assert_uint_eq(len, SASL_RESPONSE_MAX);
	ck_assert_int_eq(test_plain(msg, len, &error), 0);
	msg[len] = 'x';
	ck_assert_int_eq(test_plain(msg, len + 1, &error), -1);
	ck_assert_str_eq(error, "PLAIN response too long");
	free(msg);
}
END_TEST

START_TEST(test_sasl_plain_steps)
{
	struct sasl_exchange	*x;
	const uint8_t		*ch;
	const char		*error;
	uint8_t			 msg[64];
	size_t			 chlen, len;

	len = test_plain_msg(msg, "", "alice@example.test", "pw");

	/* With an initial response. */
	x = sasl_new(SASL_MECH_PLAIN);
	ck_assert_int_eq(sasl_step(x, msg, len, &ch, &chlen, &error), 1);
	ck_assert_int_eq(x->state, SASL_S_DONE);
	ck_assert_str_eq(x->user, "alice@example.test");
	ck_assert_str_eq(x->password, "pw");
	sasl_wipe_password(x);
	ck_assert_ptr_null(x->password);
	/* Nothing after the end. */
	ck_assert_int_eq(sasl_step(x, msg, len, &ch, &chlen, &error), -1);
	sasl_free(&x);
	ck_assert_ptr_null(x);

	/* Without one: an empty challenge first. */
	x = sasl_new(SASL_MECH_PLAIN);
	ck_assert_int_eq(sasl_step(x, NULL, 0, &ch, &chlen, &error), 0);
	ck_assert_uint_eq(chlen, 0);
	ck_assert_int_eq(sasl_step(x, msg, len, &ch, &chlen, &error), 1);
	sasl_free(&x);

	/* A second "no response" is out of sequence. */
	x = sasl_new(SASL_MECH_PLAIN);
	ck_assert_int_eq(sasl_step(x, NULL, 0, &ch, &chlen, &error), 0);
	ck_assert_int_eq(sasl_step(x, NULL, 0, &ch, &chlen, &error), -1);
	ck_assert_int_eq(x->state, SASL_S_FAILED);
	sasl_free(&x);

	/* A malformed response ends the exchange. */
	x = sasl_new(SASL_MECH_PLAIN);
	ck_assert_int_eq(sasl_step(x, (const uint8_t *)"junk", 4, &ch, &chlen,
	    &error), -1);
	ck_assert_int_eq(sasl_step(x, msg, len, &ch, &chlen, &error), -1);
	sasl_free(&x);
	sasl_free(&x);		/* NULL is fine */
}
END_TEST

START_TEST(test_sasl_login_steps)
{
	struct sasl_exchange	*x;
	const uint8_t		*ch;
	const char		*error;
	size_t			 chlen;

	x = sasl_new(SASL_MECH_LOGIN);
	ck_assert_int_eq(sasl_step(x, NULL, 0, &ch, &chlen, &error), 0);
	ck_assert_uint_eq(chlen, 9);
	ck_assert_int_eq(memcmp(ch, "Username:", 9), 0);
	ck_assert_int_eq(sasl_step(x, (const uint8_t *)"bob@example.test", 16,
	    &ch, &chlen, &error), 0);
	ck_assert_int_eq(memcmp(ch, "Password:", 9), 0);
	ck_assert_int_eq(sasl_step(x, (const uint8_t *)"hunter2", 7, &ch,
	    &chlen, &error), 1);
	ck_assert_str_eq(x->user, "bob@example.test");
	ck_assert_str_eq(x->password, "hunter2");
	ck_assert_uint_eq(x->password_len, 7);
	sasl_free(&x);

	/* An initial response is the user name. */
	x = sasl_new(SASL_MECH_LOGIN);
	ck_assert_int_eq(sasl_step(x, (const uint8_t *)"bob", 3, &ch, &chlen,
	    &error), 0);
	ck_assert_int_eq(memcmp(ch, "Password:", 9), 0);
	ck_assert_int_eq(sasl_step(x, (const uint8_t *)"pw", 2, &ch, &chlen,
	    &error), 1);
	sasl_free(&x);

	/* Empty user name, control bytes, missing response. */
	x = sasl_new(SASL_MECH_LOGIN);
	ck_assert_int_eq(sasl_step(x, (const uint8_t *)"", 0, &ch, &chlen,
	    &error), -1);
	ck_assert_str_eq(error, "LOGIN: empty user name");
	sasl_free(&x);
	x = sasl_new(SASL_MECH_LOGIN);
	ck_assert_int_eq(sasl_step(x, (const uint8_t *)"b\0b", 3, &ch, &chlen,
	    &error), -1);
	sasl_free(&x);
	x = sasl_new(SASL_MECH_LOGIN);
	ck_assert_int_eq(sasl_step(x, NULL, 0, &ch, &chlen, &error), 0);
	ck_assert_int_eq(sasl_step(x, NULL, 0, &ch, &chlen, &error), -1);
	sasl_free(&x);

	/* Password: empty, with a NUL. */
	x = sasl_new(SASL_MECH_LOGIN);
	ck_assert_int_eq(sasl_step(x, (const uint8_t *)"bob", 3, &ch, &chlen,
	    &error), 0);
	ck_assert_int_eq(sasl_step(x, (const uint8_t *)"", 0, &ch, &chlen,
	    &error), -1);
	ck_assert_str_eq(error, "LOGIN: empty password");
	sasl_free(&x);
	x = sasl_new(SASL_MECH_LOGIN);
	ck_assert_int_eq(sasl_step(x, (const uint8_t *)"bob", 3, &ch, &chlen,
	    &error), 0);
	ck_assert_int_eq(sasl_step(x, (const uint8_t *)"p\0w", 3, &ch, &chlen,
	    &error), -1);
	ck_assert_str_eq(error, "LOGIN: password with a NUL");
	sasl_free(&x);
}
END_TEST

START_TEST(test_sasl_login_limits)
{
	struct sasl_exchange	*x;
	const uint8_t		*ch;
	const char		*error;
	uint8_t			*big;
	size_t			 chlen;

	big = malloc(SASL_RESPONSE_MAX + 1);
	ck_assert_ptr_nonnull(big);
	memset(big, 'a', SASL_RESPONSE_MAX + 1);

	/* User name: SASL_USER_MAX, then one more. */
	x = sasl_new(SASL_MECH_LOGIN);
	ck_assert_int_eq(sasl_step(x, big, SASL_USER_MAX, &ch, &chlen,
	    &error), 0);
	/* Password: PASSWD_MAX, then one more. */
	ck_assert_int_eq(sasl_step(x, big, PASSWD_MAX, &ch, &chlen, &error), 1);
	sasl_free(&x);
	x = sasl_new(SASL_MECH_LOGIN);
	ck_assert_int_eq(sasl_step(x, big, SASL_USER_MAX + 1, &ch, &chlen,
	    &error), -1);
	sasl_free(&x);
	x = sasl_new(SASL_MECH_LOGIN);
	ck_assert_int_eq(sasl_step(x, big, 1, &ch, &chlen, &error), 0);
	ck_assert_int_eq(sasl_step(x, big, PASSWD_MAX + 1, &ch, &chlen,
	    &error), -1);
	ck_assert_str_eq(error, "LOGIN: password too long");
	sasl_free(&x);
	/* Any response over SASL_RESPONSE_MAX is refused unread. */
	x = sasl_new(SASL_MECH_LOGIN);
	ck_assert_int_eq(sasl_step(x, big, SASL_RESPONSE_MAX + 1, &ch, &chlen,
	    &error), -1);
	ck_assert_str_eq(error, "response too long");
	sasl_free(&x);
	free(big);
}
END_TEST

/* ---- throttle ------------------------------------------------------ */

static struct throttle *
test_throttle(unsigned int max_tracked)
{
	struct throttle_settings s = {
		.max_tracked = max_tracked,
		.max_failures = 3,
		.lockout_ms = 2000,
		.delay_ms = 1000,
		.max_delay_ms = 1500,
	};

	return throttle_new(&s);
}

START_TEST(test_throttle_delay_and_lockout)
{
	struct throttle		*t = test_throttle(100);
	struct throttle_lock	 lock;
	unsigned int		 locked;
	uint64_t		 now = 100000;

	ck_assert(!throttle_check(t, "192.0.2.1", "alice", now, &lock));
	ck_assert_uint_eq(throttle_fail(t, "192.0.2.1", "alice", now,
	    &locked), 1000);
	ck_assert_uint_eq(locked, 0);
	ck_assert_uint_eq(throttle_failures(t, THROTTLE_CLIENT, "192.0.2.1",
	    now), 1);
	ck_assert_uint_eq(throttle_failures(t, THROTTLE_USER, "alice", now), 1);
	/* Capped at max_delay_ms. */
	ck_assert_uint_eq(throttle_fail(t, "192.0.2.1", "alice", now + 10,
	    &locked), 1500);
	ck_assert_uint_eq(locked, 0);
	ck_assert(!throttle_check(t, "192.0.2.1", "alice", now + 20, &lock));
	/* The third failure locks both out. */
	ck_assert_uint_eq(throttle_fail(t, "192.0.2.1", "alice", now + 30,
	    &locked), 1500);
	ck_assert_uint_eq(locked, THROTTLE_LOCKED_CLIENT | THROTTLE_LOCKED_USER);
	ck_assert(throttle_check(t, "192.0.2.1", "alice", now + 40, &lock));
	ck_assert_int_eq(lock.kind, THROTTLE_CLIENT);
	ck_assert_uint_eq(lock.until, now + 30 + 2000);
	ck_assert(lock.first);
	/* Reported once per lock-out. */
	ck_assert(throttle_check(t, "192.0.2.1", "alice", now + 50, &lock));
	ck_assert(!lock.first);
	/* The user is locked out from any other client too. */
	ck_assert(throttle_check(t, "198.51.100.7", "alice", now + 60, &lock));
	ck_assert_int_eq(lock.kind, THROTTLE_USER);
	ck_assert(lock.first);
	/* And the client for any other user. */
	ck_assert(throttle_check(t, "192.0.2.1", "bob", now + 60, &lock));
	ck_assert_int_eq(lock.kind, THROTTLE_CLIENT);
	/* One millisecond before the end, then at it. */
	ck_assert(throttle_check(t, "192.0.2.1", "bob", now + 2029, &lock));
	ck_assert(!throttle_check(t, "192.0.2.1", "alice", now + 2030, &lock));
	ck_assert_uint_eq(throttle_failures(t, THROTTLE_USER, "alice",
	    now + 2030), 0);
	/* A new lock-out is reported again. */
	(void)throttle_fail(t, "192.0.2.1", NULL, now + 3000, &locked);
	(void)throttle_fail(t, "192.0.2.1", NULL, now + 3001, &locked);
	(void)throttle_fail(t, "192.0.2.1", NULL, now + 3002, &locked);
	ck_assert_uint_eq(locked, THROTTLE_LOCKED_CLIENT);
	ck_assert(throttle_check(t, "192.0.2.1", NULL, now + 3003, &lock));
	ck_assert(lock.first);
	throttle_free(&t);
	ck_assert_ptr_null(t);
}
END_TEST

START_TEST(test_throttle_forget)
{
	struct throttle		*t = test_throttle(100);
	struct throttle_lock	 lock;
	unsigned int		 locked;
	uint64_t		 now = 5000;

	ck_assert_uint_eq(throttle_fail(t, "192.0.2.1", "alice", now,
	    &locked), 1000);
	ck_assert_uint_eq(throttle_fail(t, "192.0.2.1", "alice", now + 1000,
	    &locked), 1500);
	/* Just under lockout_ms after the last failure: still counted. */
	ck_assert_uint_eq(throttle_failures(t, THROTTLE_USER, "alice",
	    now + 2999), 2);
	/* lockout_ms after it: forgotten, and the record can go. */
	ck_assert_uint_eq(throttle_failures(t, THROTTLE_USER, "alice",
	    now + 3000), 0);
	ck_assert_uint_eq(throttle_count(t), 2);
	throttle_expire(t, now + 3000);
	ck_assert_uint_eq(throttle_count(t), 0);
	ck_assert_uint_eq(throttle_fail(t, "192.0.2.1", "alice", now + 3000,
	    &locked), 1000);
	ck_assert(!throttle_check(t, "192.0.2.1", "alice", now + 3000, &lock));
	throttle_free(&t);
	throttle_free(&t);
}
END_TEST

START_TEST(test_throttle_success)
{
	struct throttle		*t = test_throttle(100);
	unsigned int		 locked;
	uint64_t		 now = 1;

	(void)throttle_fail(t, "192.0.2.1", "alice", now, &locked);
	(void)throttle_fail(t, "192.0.2.1", "alice", now, &locked);
	throttle_success(t, "alice");
	ck_assert_uint_eq(throttle_failures(t, THROTTLE_USER, "alice", now), 0);
	/* The client's count stays: one account must not reset it. */
	ck_assert_uint_eq(throttle_failures(t, THROTTLE_CLIENT, "192.0.2.1",
	    now), 2);
	throttle_success(t, "nobody");
	throttle_success(t, NULL);
	/* Users from one client count apart; the client counts them all. */
	(void)throttle_fail(t, "192.0.2.1", "bob", now, &locked);
	ck_assert_uint_eq(locked, THROTTLE_LOCKED_CLIENT);
	ck_assert_uint_eq(throttle_failures(t, THROTTLE_USER, "bob", now), 1);
	throttle_free(&t);
}
END_TEST

START_TEST(test_throttle_no_delay)
{
	struct throttle_settings s = {
		.max_tracked = 100, .max_failures = 100000,
		.lockout_ms = 60000, .delay_ms = 0, .max_delay_ms = 15000,
	};
	struct throttle		*t = throttle_new(&s);
	unsigned int		 locked, i;

	for (i = 0; i < 5; i++)
		ck_assert_uint_eq(throttle_fail(t, "::1", "u", 10, &locked), 0);
	throttle_free(&t);

	/* A product that would overflow is capped. */
	s.delay_ms = UINT64_MAX / 2;
	s.max_delay_ms = 300000;
	t = throttle_new(&s);
	(void)throttle_fail(t, "::1", "u", 10, &locked);
	ck_assert_uint_eq(throttle_fail(t, "::1", "u", 10, &locked), 300000);
	throttle_free(&t);
}
END_TEST

START_TEST(test_throttle_bounded)
{
	struct throttle	*t = test_throttle(100);
	unsigned int	 locked, i;
	char		 ip[32];

	/* Twice the limit of clients: the oldest records go. */
	for (i = 0; i < 200; i++) {
		ck_assert_int_ge(snprintf(ip, sizeof(ip), "10.0.%u.%u", i / 256,
		    i % 256), 0);
		(void)throttle_fail(t, ip, NULL, 1000 + i, &locked);
		ck_assert_uint_le(throttle_count(t), 100);
	}
	ck_assert_uint_eq(throttle_count(t), 100);
	ck_assert_uint_eq(throttle_failures(t, THROTTLE_CLIENT, "10.0.0.0",
	    1300), 0);
	ck_assert_uint_eq(throttle_failures(t, THROTTLE_CLIENT, "10.0.0.99",
	    1300), 0);
	ck_assert_uint_eq(throttle_failures(t, THROTTLE_CLIENT, "10.0.0.100",
	    1300), 1);
	ck_assert_uint_eq(throttle_failures(t, THROTTLE_CLIENT, "10.0.0.199",
	    1300), 1);
	throttle_free(&t);

	/* Many users: the table grows its buckets. */
	t = test_throttle(5000);
	for (i = 0; i < 5000; i++) {
		ck_assert_int_ge(snprintf(ip, sizeof(ip), "user%u", i), 0);
		(void)throttle_fail(t, NULL, ip, 1000, &locked);
	}
	ck_assert_uint_eq(throttle_count(t), 5000);
	ck_assert_uint_eq(throttle_failures(t, THROTTLE_USER, "user4321", 1000),
	    1);
	throttle_free(&t);

	/* With room for one record, the user's survives a failure. */
	t = test_throttle(1);
	(void)throttle_fail(t, "192.0.2.1", "alice", 1, &locked);
	ck_assert_uint_eq(throttle_count(t), 1);
	ck_assert_uint_eq(throttle_failures(t, THROTTLE_USER, "alice", 1), 1);
	throttle_free(&t);
}
END_TEST

/* ---- tokens ------------------------------------------------------- */

START_TEST(test_token_once)
{
	struct token_store	*s = token_store_new(TOKEN_MAX_LIVE, 1000);
	char			 tok[TOKEN_HEX_LEN + 1], tok2[TOKEN_HEX_LEN + 1];
	char			*user = NULL;
	const char		*error, *why;

	ck_assert_int_eq(token_issue(s, "alice@example.test", "imap", 100, tok,
	    &error), 0);
	ck_assert_uint_eq(strlen(tok), TOKEN_HEX_LEN);
	ck_assert(token_syntax_valid(tok));
	ck_assert_int_eq(token_issue(s, "alice@example.test", "imap", 100,
	    tok2, &error), 0);
	ck_assert_str_ne(tok, tok2);
	ck_assert_uint_eq(token_count(s), 2);

	ck_assert_int_eq(token_redeem(s, tok, "imap", 200, &user, &why), 1);
	ck_assert_str_eq(user, "alice@example.test");
	free(user);
	ck_assert_int_eq(token_redeem(s, tok, "imap", 200, &user, &why), 0);
	ck_assert_str_eq(why, "unknown or already redeemed token");
	ck_assert_uint_eq(token_count(s), 1);
	token_store_free(&s);
	ck_assert_ptr_null(s);
	token_store_free(&s);
}
END_TEST

START_TEST(test_token_expiry_and_service)
{
	struct token_store	*s = token_store_new(10, 1000);
	char			 tok[TOKEN_HEX_LEN + 1];
	char			*user = NULL;
	const char		*error, *why;

	/* One millisecond before the lifetime ends, then at it. */
	ck_assert_int_eq(token_issue(s, "a@b", "pop3", 100, tok, &error), 0);
	ck_assert_int_eq(token_redeem(s, tok, "pop3", 1099, &user, &why), 1);
	free(user);
	ck_assert_int_eq(token_issue(s, "a@b", "pop3", 100, tok, &error), 0);
	ck_assert_int_eq(token_redeem(s, tok, "pop3", 1100, &user, &why), 0);
	ck_assert_str_eq(why, "expired token");

	/* Another service's token is refused and spent. */
	ck_assert_int_eq(token_issue(s, "a@b", "pop3", 100, tok, &error), 0);
	ck_assert_int_eq(token_redeem(s, tok, "imap", 200, &user, &why), 0);
	ck_assert_str_eq(why, "token issued for another service");
	ck_assert_int_eq(token_redeem(s, tok, "pop3", 200, &user, &why), 0);
	ck_assert_uint_eq(token_count(s), 0);

	/* Purge drops only what expired. */
	ck_assert_int_eq(token_issue(s, "a@b", "pop3", 100, tok, &error), 0);
	ck_assert_int_eq(token_issue(s, "a@b", "pop3", 600, tok, &error), 0);
	token_purge(s, 1100);
	ck_assert_uint_eq(token_count(s), 1);
	ck_assert_int_eq(token_redeem(s, tok, "pop3", 1599, &user, &why), 1);
	free(user);
	token_store_free(&s);
}
END_TEST

START_TEST(test_token_malformed)
{
	struct token_store	*s = token_store_new(10, 1000);
	char			 tok[TOKEN_HEX_LEN + 1], bad[TOKEN_HEX_LEN + 2];
	char			*user = NULL;
	const char		*error, *why;

	ck_assert_int_eq(token_issue(s, "a@b", "imap", 0, tok, &error), 0);
	ck_assert(!token_syntax_valid(""));
	/* One digit short, one too many, upper case, a non-hex digit. */
	memcpy(bad, tok, TOKEN_HEX_LEN - 1);
	bad[TOKEN_HEX_LEN - 1] = '\0';
	ck_assert(!token_syntax_valid(bad));
	ck_assert_int_eq(token_redeem(s, bad, "imap", 1, &user, &why), 0);
	ck_assert_str_eq(why, "malformed token");
	memcpy(bad, tok, TOKEN_HEX_LEN);
	bad[TOKEN_HEX_LEN] = '0';
	bad[TOKEN_HEX_LEN + 1] = '\0';
	ck_assert(!token_syntax_valid(bad));
	memcpy(bad, tok, TOKEN_HEX_LEN + 1);
	bad[0] = 'A';
	ck_assert(!token_syntax_valid(bad));
	bad[0] = 'g';
	ck_assert(!token_syntax_valid(bad));
	/* A well-formed unknown token (the real one with a digit changed). */
	memcpy(bad, tok, TOKEN_HEX_LEN + 1);
	bad[TOKEN_HEX_LEN - 1] = bad[TOKEN_HEX_LEN - 1] == '0' ? '1' : '0';
	ck_assert(token_syntax_valid(bad));
	ck_assert_int_eq(token_redeem(s, bad, "imap", 1, &user, &why), 0);
	ck_assert_str_eq(why, "unknown or already redeemed token");
	/* The real one still works. */
	ck_assert_int_eq(token_redeem(s, tok, "imap", 1, &user, &why), 1);
	free(user);
	token_store_free(&s);
}
END_TEST

START_TEST(test_token_full)
{
	struct token_store	*s = token_store_new(3, 1000);
	char			 tok[TOKEN_HEX_LEN + 1];
	const char		*error = NULL;
	unsigned int		 i;

	for (i = 0; i < 3; i++)
		ck_assert_int_eq(token_issue(s, "a@b", "imap", 0, tok, &error),
		    0);
	ck_assert_int_eq(token_issue(s, "a@b", "imap", 999, tok, &error), -1);
	ck_assert_str_eq(error, "too many unredeemed login tokens");
	/* Once the old ones expired there is room again. */
	ck_assert_int_eq(token_issue(s, "a@b", "imap", 1000, tok, &error), 0);
	ck_assert_uint_eq(token_count(s), 1);
	token_store_free(&s);
}
END_TEST

static Suite *
authd_suite(void)
{
	Suite	*s = suite_create("authd");
	TCase	*tc;

	tc = tcase_create("sasl");
	tcase_add_test(tc, test_sasl_mech_parse);
	tcase_add_test(tc, test_sasl_plain_good);
	tcase_add_test(tc, test_sasl_plain_bad);
	tcase_add_test(tc, test_sasl_plain_limits);
	tcase_add_test(tc, test_sasl_plain_steps);
	tcase_add_test(tc, test_sasl_login_steps);
	tcase_add_test(tc, test_sasl_login_limits);
	suite_add_tcase(s, tc);

	tc = tcase_create("throttle");
	tcase_add_test(tc, test_throttle_delay_and_lockout);
	tcase_add_test(tc, test_throttle_forget);
	tcase_add_test(tc, test_throttle_success);
	tcase_add_test(tc, test_throttle_no_delay);
	tcase_add_test(tc, test_throttle_bounded);
	suite_add_tcase(s, tc);

	tc = tcase_create("token");
	tcase_add_test(tc, test_token_once);
	tcase_add_test(tc, test_token_expiry_and_service);
	tcase_add_test(tc, test_token_malformed);
	tcase_add_test(tc, test_token_full);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(authd_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
