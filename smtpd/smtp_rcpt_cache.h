/* SPDX-License-Identifier: ISC */
/*
 * smtpd's memory of recent recipient answers (smtpd_rcpt_cache_time).
 * A client that sends message after message to the same recipients
 * (notifications, a list run to one domain) asks authd once a second
 * instead of once a RCPT, as Postfix's smtpd keeps its last address
 * resolution.  Only answers that need nothing more are kept: accepted
 * remote (or refused relay), unknown, and local without a quota check.
 */
#ifndef POSTERN_SMTP_RCPT_CACHE_H
#define POSTERN_SMTP_RCPT_CACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "authd_client.h"

/* Entries per process; a new answer replaces the one in its slot. */
#define SMTP_RCPT_CACHE_SIZE	512
/* Longest key kept (rcpt, client address, authenticated); longer: none. */
#define SMTP_RCPT_CACHE_KEY_MAX	400

struct smtp_rcpt_cache;

/* ttl_ms 0: a cache that keeps nothing. */
struct smtp_rcpt_cache *smtp_rcpt_cache_new(uint64_t ttl_ms);
void	smtp_rcpt_cache_free(struct smtp_rcpt_cache **cp);
/*
 * The answer for rcpt from client_ip (authenticated or not) if one
 * younger than the time to live is kept at now_ms (a monotonic clock).
 */
bool	smtp_rcpt_cache_get(struct smtp_rcpt_cache *c, const char *rcpt,
	    const char *client_ip, bool authenticated, uint64_t now_ms,
	    enum authd_rcpt_result *result_r, bool *relay_r);
void	smtp_rcpt_cache_put(struct smtp_rcpt_cache *c, const char *rcpt,
	    const char *client_ip, bool authenticated, uint64_t now_ms,
	    enum authd_rcpt_result result, bool relay);

#endif
