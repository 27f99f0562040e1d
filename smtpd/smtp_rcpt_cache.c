/* SPDX-License-Identifier: ISC */
/*
 * A direct-mapped table of recent RCPT answers keyed by the exact
 * recipient, the client's address and whether it authenticated (relay
 * permission depends on both).  Fixed size, no eviction lists: a slot
 * holds the latest answer that hashed to it, and an entry is only used
 * while younger than the time to live, so a changed user table is seen
 * within that time.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xmalloc.h"
#include "smtp_rcpt_cache.h"

#include "banned.h"

struct smtp_rcpt_slot {
	char			*key;
	uint64_t		 expires;
	enum authd_rcpt_result	 result;
	bool			 relay;
};

struct smtp_rcpt_cache {
	uint64_t		 ttl;
	struct smtp_rcpt_slot	 slots[SMTP_RCPT_CACHE_SIZE];
};

struct smtp_rcpt_cache *
smtp_rcpt_cache_new(uint64_t ttl_ms)
{
	struct smtp_rcpt_cache	*c;

	c = xcalloc(1, sizeof(*c));
	c->ttl = ttl_ms;
	return c;
}

void
smtp_rcpt_cache_free(struct smtp_rcpt_cache **cp)
{
	struct smtp_rcpt_cache	*c = *cp;
	size_t			 i;

	if (c == NULL)
		return;
	for (i = 0; i < SMTP_RCPT_CACHE_SIZE; i++)
		free(c->slots[i].key);
	free(c);
	*cp = NULL;
}

/* The key in buf; -1 when it does not fit. */
static int
smtp_rcpt_key(char *buf, size_t size, const char *rcpt,
    const char *client_ip, bool authenticated)
{
	int	n;

	n = snprintf(buf, size, "%c%s %s", authenticated ? 'a' : '-',
	    client_ip, rcpt);
	return n < 0 || (size_t)n >= size ? -1 : 0;
}

/* FNV-1a. */
static size_t
smtp_rcpt_slot_of(const char *key)
{
	uint32_t	h = 2166136261u;

	for (; *key != '\0'; key++) {
		h ^= (uint8_t)*key;
		h *= 16777619u;
	}
	return h % SMTP_RCPT_CACHE_SIZE;
}

bool
smtp_rcpt_cache_get(struct smtp_rcpt_cache *c, const char *rcpt,
    const char *client_ip, bool authenticated, uint64_t now_ms,
    enum authd_rcpt_result *result_r, bool *relay_r)
{
	struct smtp_rcpt_slot	*sl;
	char			 key[SMTP_RCPT_CACHE_KEY_MAX + 1];

	if (c == NULL || c->ttl == 0 ||
	    smtp_rcpt_key(key, sizeof(key), rcpt, client_ip,
	    authenticated) == -1)
		return false;
	sl = &c->slots[smtp_rcpt_slot_of(key)];
	if (sl->key == NULL || now_ms >= sl->expires ||
	    strcmp(sl->key, key) != 0)
		return false;
	*result_r = sl->result;
	*relay_r = sl->relay;
	return true;
}

void
smtp_rcpt_cache_put(struct smtp_rcpt_cache *c, const char *rcpt,
    const char *client_ip, bool authenticated, uint64_t now_ms,
    enum authd_rcpt_result result, bool relay)
{
	struct smtp_rcpt_slot	*sl;
	char			 key[SMTP_RCPT_CACHE_KEY_MAX + 1];

	if (c == NULL || c->ttl == 0 || result == AUTHD_RCPT_TEMPFAIL ||
	    smtp_rcpt_key(key, sizeof(key), rcpt, client_ip,
	    authenticated) == -1)
		return;
	sl = &c->slots[smtp_rcpt_slot_of(key)];
	if (sl->key == NULL || strcmp(sl->key, key) != 0) {
		free(sl->key);
		sl->key = xstrdup(key);
	}
	sl->expires = now_ms + c->ttl;
	sl->result = result;
	sl->relay = relay;
}
