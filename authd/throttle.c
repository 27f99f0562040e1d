/* SPDX-License-Identifier: ISC */
/*
 * Failure records for authd's brute-force defence (see throttle.h).  One
 * hash table holds client and user records alike, keyed by a kind byte and
 * the text; a list in order of the last failure gives both the eviction
 * order (its head is the oldest) and cheap expiry.  Keys come from the
 * network (user names are whatever a client typed), so buckets are chosen
 * with SipHash-2-4 under a random key: a client cannot aim collisions.
 */
#include "config.h"

#include <sys/queue.h>
#include <sys/random.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/xmalloc.h"

#include "authd/throttle.h"

#include "common/banned.h"

#define THROTTLE_INITIAL_BUCKETS	1024

struct throttle_entry {
	TAILQ_ENTRY(throttle_entry) lru;	/* by last failure, oldest first */
	struct throttle_entry	*next;		/* hash chain */
	uint64_t		 hash;
	uint64_t		 last;		/* last failure */
	uint64_t		 locked_until;	/* 0: not locked out */
	unsigned int		 failures;
	bool			 lock_seen;	/* lock-out reported */
	size_t			 key_len;
	char			 key[];		/* kind byte, then text */
};

struct throttle {
	struct throttle_settings	 s;
	struct throttle_entry		**buckets;
	size_t				 nbuckets;	/* power of two */
	size_t				 count;
	uint64_t			 sipkey[2];
	TAILQ_HEAD(, throttle_entry)	 lru;
};

/* ---- SipHash-2-4 (Aumasson and Bernstein, 2012) ---------------------- */

static inline uint64_t
throttle_rotl(uint64_t x, int b)
{
	return (x << b) | (x >> (64 - b));
}

#define THROTTLE_SIPROUND(v0, v1, v2, v3) do {				\
	v0 += v1; v1 = throttle_rotl(v1, 13); v1 ^= v0;			\
	v0 = throttle_rotl(v0, 32);					\
	v2 += v3; v3 = throttle_rotl(v3, 16); v3 ^= v2;			\
	v0 += v3; v3 = throttle_rotl(v3, 21); v3 ^= v0;			\
	v2 += v1; v1 = throttle_rotl(v1, 17); v1 ^= v2;			\
	v2 = throttle_rotl(v2, 32);					\
} while (0)

static uint64_t
throttle_siphash(const uint64_t key[2], const uint8_t *p, size_t len)
{
	uint64_t v0 = 0x736f6d6570736575ULL ^ key[0];
	uint64_t v1 = 0x646f72616e646f6dULL ^ key[1];
	uint64_t v2 = 0x6c7967656e657261ULL ^ key[0];
	uint64_t v3 = 0x7465646279746573ULL ^ key[1];
	uint64_t m, b = (uint64_t)len << 56;
	size_t	 i, left = len & 7, end = len - left;
	int	 r;

	for (i = 0; i < end; i += 8) {
		m = (uint64_t)p[i] | (uint64_t)p[i + 1] << 8 |
		    (uint64_t)p[i + 2] << 16 | (uint64_t)p[i + 3] << 24 |
		    (uint64_t)p[i + 4] << 32 | (uint64_t)p[i + 5] << 40 |
		    (uint64_t)p[i + 6] << 48 | (uint64_t)p[i + 7] << 56;
		v3 ^= m;
		for (r = 0; r < 2; r++)
			THROTTLE_SIPROUND(v0, v1, v2, v3);
		v0 ^= m;
	}
	for (i = 0; i < left; i++)
		b |= (uint64_t)p[end + i] << (8 * i);
	v3 ^= b;
	for (r = 0; r < 2; r++)
		THROTTLE_SIPROUND(v0, v1, v2, v3);
	v0 ^= b;
	v2 ^= 0xff;
	for (r = 0; r < 4; r++)
		THROTTLE_SIPROUND(v0, v1, v2, v3);
	return v0 ^ v1 ^ v2 ^ v3;
}

/* ---- the table ------------------------------------------------------ */

uint64_t
throttle_now(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) == -1)
		log_panic("clock_gettime(CLOCK_MONOTONIC): %m");
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct throttle *
throttle_new(const struct throttle_settings *s)
{
	struct throttle *t;

	t = xcalloc(1, sizeof(*t));
	t->s = *s;
	if (t->s.max_tracked == 0)
		t->s.max_tracked = 1;
	if (t->s.max_failures == 0)
		t->s.max_failures = 1;
	t->nbuckets = THROTTLE_INITIAL_BUCKETS;
	t->buckets = xcalloc(t->nbuckets, sizeof(*t->buckets));
	TAILQ_INIT(&t->lru);
	if (getrandom(t->sipkey, sizeof(t->sipkey), 0) !=
	    (ssize_t)sizeof(t->sipkey))
		log_fatal("getrandom: %m");
	return t;
}

void
throttle_free(struct throttle **tp)
{
	struct throttle		*t = *tp;
	struct throttle_entry	*e;

	if (t == NULL)
		return;
	*tp = NULL;
	while ((e = TAILQ_FIRST(&t->lru)) != NULL) {
		TAILQ_REMOVE(&t->lru, e, lru);
		free(e);
	}
	free(t->buckets);
	free(t);
}

/* The key bytes of a record: kind byte, then the text. */
static size_t
throttle_key(enum throttle_kind kind, const char *text, char *key,
    size_t size)
{
	size_t	len = strlen(text);

	if (len + 1 > size)		/* callers bound their texts */
		len = size - 1;
	key[0] = kind == THROTTLE_CLIENT ? 'c' : 'u';
	memcpy(key + 1, text, len);
	return len + 1;
}

static struct throttle_entry **
throttle_slot(struct throttle *t, const char *key, size_t len,
    uint64_t hash)
{
	struct throttle_entry **ep;

	ep = &t->buckets[hash & (t->nbuckets - 1)];
	for (; *ep != NULL; ep = &(*ep)->next) {
		if ((*ep)->hash == hash && (*ep)->key_len == len &&
		    memcmp((*ep)->key, key, len) == 0)
			break;
	}
	return ep;
}

static void
throttle_remove(struct throttle *t, struct throttle_entry *e)
{
	struct throttle_entry **ep;

	ep = throttle_slot(t, e->key, e->key_len, e->hash);
	if (*ep != e)
		log_panic("throttle: record not in its bucket");
	*ep = e->next;
	TAILQ_REMOVE(&t->lru, e, lru);
	t->count--;
	free(e);
}

static void
throttle_grow(struct throttle *t)
{
	struct throttle_entry	**nb, *e, *next;
	size_t			  n = t->nbuckets * 2, i;

	nb = xcalloc(n, sizeof(*nb));
	for (i = 0; i < t->nbuckets; i++) {
		for (e = t->buckets[i]; e != NULL; e = next) {
			next = e->next;
			e->next = nb[e->hash & (n - 1)];
			nb[e->hash & (n - 1)] = e;
		}
	}
	free(t->buckets);
	t->buckets = nb;
	t->nbuckets = n;
}

/* Brings e up to date at now: lock-outs and old failures end. */
static void
throttle_age(struct throttle *t, struct throttle_entry *e, uint64_t now)
{
	if (e->locked_until != 0 && e->locked_until <= now) {
		e->locked_until = 0;
		e->lock_seen = false;
		e->failures = 0;
	}
	if (e->locked_until == 0 && now - e->last >= t->s.lockout_ms)
		e->failures = 0;
}

/* The record of kind and text, or NULL; not brought up to date. */
static struct throttle_entry *
throttle_lookup(struct throttle *t, enum throttle_kind kind, const char *text)
{
	char		 key[1 + 1024];
	size_t		 len;
	uint64_t	 hash;

	len = throttle_key(kind, text, key, sizeof(key));
	hash = throttle_siphash(t->sipkey, (const uint8_t *)key, len);
	return *throttle_slot(t, key, len, hash);
}

static struct throttle_entry *
throttle_find(struct throttle *t, enum throttle_kind kind, const char *text,
    uint64_t now)
{
	struct throttle_entry *e;

	if ((e = throttle_lookup(t, kind, text)) != NULL)
		throttle_age(t, e, now);
	return e;
}

static struct throttle_entry *
throttle_get(struct throttle *t, enum throttle_kind kind, const char *text,
    uint64_t now)
{
	struct throttle_entry	*e, **ep;
	char			 key[1 + 1024];
	size_t			 len;
	uint64_t		 hash;

	len = throttle_key(kind, text, key, sizeof(key));
	hash = throttle_siphash(t->sipkey, (const uint8_t *)key, len);
	if ((e = *throttle_slot(t, key, len, hash)) != NULL) {
		throttle_age(t, e, now);
		return e;
	}
	/* Full: the record whose last failure is oldest goes. */
	if (t->count >= t->s.max_tracked)
		throttle_remove(t, TAILQ_FIRST(&t->lru));
	if (t->count >= t->nbuckets)
		throttle_grow(t);
	e = xcalloc(1, sizeof(*e) + len);	/* UNSAFE: len <= sizeof(key) */
	memcpy(e->key, key, len);
	e->key_len = len;
	e->hash = hash;
	e->last = now;
	ep = &t->buckets[hash & (t->nbuckets - 1)];
	e->next = *ep;
	*ep = e;
	TAILQ_INSERT_TAIL(&t->lru, e, lru);
	t->count++;
	return e;
}

static bool
throttle_entry_locked(struct throttle_entry *e, enum throttle_kind kind,
    struct throttle_lock *lock_r)
{
	if (e == NULL || e->locked_until == 0)
		return false;
	lock_r->kind = kind;
	lock_r->until = e->locked_until;
	lock_r->first = !e->lock_seen;
	e->lock_seen = true;
	return true;
}

bool
throttle_check(struct throttle *t, const char *client, const char *user,
    uint64_t now, struct throttle_lock *lock_r)
{
	if (client != NULL && throttle_entry_locked(throttle_find(t,
	    THROTTLE_CLIENT, client, now), THROTTLE_CLIENT, lock_r))
		return true;
	if (user != NULL && throttle_entry_locked(throttle_find(t,
	    THROTTLE_USER, user, now), THROTTLE_USER, lock_r))
		return true;
	return false;
}

/* Counts one failure on e; returns its count. */
static unsigned int
throttle_count_failure(struct throttle *t, struct throttle_entry *e,
    uint64_t now, bool *locked_r)
{
	if (e->failures < t->s.max_failures)
		e->failures++;
	e->last = now;
	TAILQ_REMOVE(&t->lru, e, lru);
	TAILQ_INSERT_TAIL(&t->lru, e, lru);
	if (e->failures >= t->s.max_failures && e->locked_until == 0) {
		e->locked_until = now + t->s.lockout_ms;
		e->lock_seen = false;
		*locked_r = true;
	}
	return e->failures;
}

uint64_t
throttle_fail(struct throttle *t, const char *client, const char *user,
    uint64_t now, unsigned int *locked_r)
{
	struct throttle_entry	*ec, *eu;
	unsigned int		 n = 0, nu;
	uint64_t		 delay;
	bool			 locked;

	*locked_r = 0;
	throttle_expire(t, now);
	/*
	 * With max_tracked of 1 the second record would evict the first:
	 * count the client first so that the user's record survives.
	 */
	if (client != NULL) {
		ec = throttle_get(t, THROTTLE_CLIENT, client, now);
		locked = false;
		n = throttle_count_failure(t, ec, now, &locked);
		if (locked)
			*locked_r |= THROTTLE_LOCKED_CLIENT;
	}
	if (user != NULL) {
		eu = throttle_get(t, THROTTLE_USER, user, now);
		locked = false;
		nu = throttle_count_failure(t, eu, now, &locked);
		if (locked)
			*locked_r |= THROTTLE_LOCKED_USER;
		if (nu > n)
			n = nu;
	}
	if (t->s.delay_ms != 0 && n > t->s.max_delay_ms / t->s.delay_ms)
		return t->s.max_delay_ms;
	delay = (uint64_t)n * t->s.delay_ms;
	return delay < t->s.max_delay_ms ? delay : t->s.max_delay_ms;
}

void
throttle_success(struct throttle *t, const char *user)
{
	struct throttle_entry *e;

	if (user != NULL &&
	    (e = throttle_lookup(t, THROTTLE_USER, user)) != NULL)
		throttle_remove(t, e);
}

void
throttle_expire(struct throttle *t, uint64_t now)
{
	struct throttle_entry *e;

	/*
	 * The list is in order of last failure, and a lock-out ends
	 * lockout_ms after the failure that started it (locked attempts
	 * are not failures): so from the head on, every record whose last
	 * failure is lockout_ms old is done with.
	 */
	while ((e = TAILQ_FIRST(&t->lru)) != NULL &&
	    now - e->last >= t->s.lockout_ms &&
	    (e->locked_until == 0 || e->locked_until <= now))
		throttle_remove(t, e);
}

unsigned int
throttle_failures(struct throttle *t, enum throttle_kind kind,
    const char *key, uint64_t now)
{
	struct throttle_entry *e;

	e = throttle_find(t, kind, key, now);
	return e != NULL ? e->failures : 0;
}

size_t
throttle_count(const struct throttle *t)
{
	return t->count;
}
