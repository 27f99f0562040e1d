/* SPDX-License-Identifier: ISC */
/*
 * The one-time token store of authd (see token.h).  Tokens sit in a hash
 * table whose bucket is taken from the token's own random bytes, and in a
 * list in issue order, which is also expiry order because every token
 * lives equally long: purging walks the head of that list.  A lookup
 * compares the whole token with CRYPTO_memcmp against every entry of its
 * bucket, so the time taken says nothing about how much of a token was
 * right.  Token bytes are wiped when a token goes.
 */
#include "config.h"

#include <sys/queue.h>

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "common/xmalloc.h"

#include "authd/token.h"

#include "common/banned.h"

struct token_entry {
	TAILQ_ENTRY(token_entry) order;		/* issue order */
	struct token_entry	*next;		/* bucket chain */
	uint8_t			 raw[TOKEN_BYTES];
	uint64_t		 expires;
	char			*user;
	char			*service;
};

struct token_store {
	struct token_entry		**buckets;
	size_t				  nbuckets;	/* power of two */
	size_t				  count;
	size_t				  max_live;
	uint64_t			  lifetime_ms;
	TAILQ_HEAD(, token_entry)	  order;
};

static const char token_hex[] = "0123456789abcdef";

struct token_store *
token_store_new(size_t max_live, uint64_t lifetime_ms)
{
	struct token_store *s;

	s = xcalloc(1, sizeof(*s));
	s->max_live = max_live > 0 ? max_live : 1;
	s->lifetime_ms = lifetime_ms;
	s->nbuckets = 1;
	while (s->nbuckets < s->max_live && s->nbuckets < (1U << 20))
		s->nbuckets <<= 1;
	s->buckets = xcalloc(s->nbuckets, sizeof(*s->buckets));
	TAILQ_INIT(&s->order);
	return s;
}

static void
token_entry_free(struct token_entry *e)
{
	explicit_bzero(e->raw, sizeof(e->raw));
	free(e->user);
	free(e->service);
	free(e);
}

void
token_store_free(struct token_store **sp)
{
	struct token_store	*s = *sp;
	struct token_entry	*e;

	if (s == NULL)
		return;
	*sp = NULL;
	while ((e = TAILQ_FIRST(&s->order)) != NULL) {
		TAILQ_REMOVE(&s->order, e, order);
		token_entry_free(e);
	}
	free(s->buckets);
	free(s);
}

static size_t
token_bucket(const struct token_store *s, const uint8_t *raw)
{
	uint64_t	v = 0;
	size_t		i;

	/* The bytes are uniformly random: any eight of them will do. */
	for (i = 0; i < 8; i++)
		v = v << 8 | raw[i];
	return (size_t)(v & (s->nbuckets - 1));
}

static void
token_remove(struct token_store *s, struct token_entry *e)
{
	struct token_entry **ep;

	for (ep = &s->buckets[token_bucket(s, e->raw)]; *ep != e;
	    ep = &(*ep)->next)
		;
	*ep = e->next;
	TAILQ_REMOVE(&s->order, e, order);
	s->count--;
	token_entry_free(e);
}

void
token_purge(struct token_store *s, uint64_t now)
{
	struct token_entry *e;

	while ((e = TAILQ_FIRST(&s->order)) != NULL && e->expires <= now)
		token_remove(s, e);
}

size_t
token_count(const struct token_store *s)
{
	return s->count;
}

bool
token_syntax_valid(const char *token)
{
	size_t	i;

	for (i = 0; i < TOKEN_HEX_LEN; i++) {
		if (strchr(token_hex, token[i]) == NULL || token[i] == '\0')
			return false;
	}
	return token[TOKEN_HEX_LEN] == '\0';
}

static int
token_hex_value(char c)
{
	return c >= 'a' ? c - 'a' + 10 : c - '0';
}

int
token_issue(struct token_store *s, const char *user, const char *service,
    uint64_t now, char token_r[TOKEN_HEX_LEN + 1], const char **error_r)
{
	struct token_entry	*e;
	size_t			 i, b;

	token_purge(s, now);
	if (s->count >= s->max_live) {
		*error_r = "too many unredeemed login tokens";
		return -1;
	}
	e = xcalloc(1, sizeof(*e));
	if (RAND_bytes(e->raw, sizeof(e->raw)) != 1) {
		token_entry_free(e);
		*error_r = "RAND_bytes failed";
		return -1;
	}
	e->expires = now + s->lifetime_ms;
	e->user = xstrdup(user);
	e->service = xstrdup(service);
	b = token_bucket(s, e->raw);
	e->next = s->buckets[b];
	s->buckets[b] = e;
	TAILQ_INSERT_TAIL(&s->order, e, order);
	s->count++;
	for (i = 0; i < TOKEN_BYTES; i++) {
		token_r[2 * i] = token_hex[e->raw[i] >> 4];
		token_r[2 * i + 1] = token_hex[e->raw[i] & 0x0f];
	}
	token_r[TOKEN_HEX_LEN] = '\0';
	return 0;
}

int
token_redeem(struct token_store *s, const char *token, const char *service,
    uint64_t now, char **user_r, const char **why_r)
{
	struct token_entry	*e, *found = NULL;
	uint8_t			 raw[TOKEN_BYTES];
	size_t			 i;
	int			 ret;

	if (!token_syntax_valid(token)) {
		*why_r = "malformed token";
		return 0;
	}
	for (i = 0; i < TOKEN_BYTES; i++)
		raw[i] = (uint8_t)(token_hex_value(token[2 * i]) << 4 |
		    token_hex_value(token[2 * i + 1]));
	/* Every entry of the bucket is compared in full: no early exit. */
	for (e = s->buckets[token_bucket(s, raw)]; e != NULL; e = e->next) {
		if (CRYPTO_memcmp(e->raw, raw, sizeof(raw)) == 0)
			found = e;
	}
	explicit_bzero(raw, sizeof(raw));
	if (found == NULL) {
		*why_r = "unknown or already redeemed token";
		return 0;
	}
	if (found->expires <= now) {
		*why_r = "expired token";
		ret = 0;
	} else if (strcmp(found->service, service) != 0) {
		*why_r = "token issued for another service";
		ret = 0;
	} else {
		*user_r = xstrdup(found->user);
		ret = 1;
	}
	/* Used up whatever the outcome: a misused token is spent. */
	token_remove(s, found);
	return ret;
}
