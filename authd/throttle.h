/* SPDX-License-Identifier: ISC */
/*
 * Brute-force throttling of authd (postern-authd(8)): failed logins are
 * counted per client address and per user (folded), in one table bounded
 * to max_tracked records (the least recently failed go first).
 *
 * A record's count is forgotten when it has seen no failure for
 * lockout_ms.  Each failure is answered after min(n * delay_ms,
 * max_delay_ms), n being the larger of the two counts with this failure.
 * When a count reaches max_failures, its client or user is locked out for
 * lockout_ms: attempts then fail at once, without a password check.  A
 * success clears the user's record and keeps the client's, so that an
 * attacker who owns one account cannot reset the count of the address he
 * guesses other accounts' passwords from.
 *
 * Times are milliseconds of CLOCK_MONOTONIC, passed in by the caller so
 * that tests need not sleep (throttle_now() gives the current one).
 */
#ifndef POSTERN_AUTHD_THROTTLE_H
#define POSTERN_AUTHD_THROTTLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compat.h"

struct throttle_settings {
	unsigned int	 max_tracked;	/* records kept at once, >= 1 */
	unsigned int	 max_failures;	/* failures before a lock-out, >= 1 */
	uint64_t	 lockout_ms;	/* lock-out and memory of failures */
	uint64_t	 delay_ms;	/* delay per recent failure */
	uint64_t	 max_delay_ms;	/* the longest delay */
};

enum throttle_kind {
	THROTTLE_CLIENT,
	THROTTLE_USER,
};

struct throttle_lock {
	enum throttle_kind	 kind;	/* which one is locked out */
	uint64_t		 until;	/* monotonic ms */
	bool			 first;	/* first refusal of this lock-out */
};

struct throttle;

struct throttle *throttle_new(const struct throttle_settings *s);
void	throttle_free(struct throttle **tp);

/* The current CLOCK_MONOTONIC time in milliseconds. */
uint64_t throttle_now(void);

/*
 * True when client or user is locked out at now (*lock_r filled: the
 * client's lock-out is reported first).  lock_r->first is true only for
 * the first call that sees a given lock-out, so that it is logged once.
 */
bool	throttle_check(struct throttle *t, const char *client,
	    const char *user, uint64_t now, struct throttle_lock *lock_r);
/*
 * Records a failure of user from client at now (either may be NULL).
 * Returns the delay (ms) before the failure is answered; *locked_r gets
 * THROTTLE_LOCKED_CLIENT and/or THROTTLE_LOCKED_USER when this failure
 * started a lock-out of that one, else 0.
 */
#define THROTTLE_LOCKED_CLIENT	0x01
#define THROTTLE_LOCKED_USER	0x02
uint64_t throttle_fail(struct throttle *t, const char *client,
	    const char *user, uint64_t now, unsigned int *locked_r);
/* A successful login of user: forgets the user's failures. */
void	throttle_success(struct throttle *t, const char *user);
/* Drops records with no recent failure and no lock-out at now. */
void	throttle_expire(struct throttle *t, uint64_t now);

/* The recent failures of one client or user at now (tests, logs). */
unsigned int throttle_failures(struct throttle *t, enum throttle_kind kind,
	    const char *key, uint64_t now);
/* Records held (tests). */
size_t	throttle_count(const struct throttle *t);

#endif
