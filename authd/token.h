/* SPDX-License-Identifier: ISC */
/*
 * One-time login tokens (postern-authd(8), DESIGN.md "Processes and
 * privileges").  After a successful login authd hands the login process a
 * token; the mail process that takes over the client redeems it over the
 * userdb socket for the user's identity, once, within the token lifetime,
 * and only for the service the login was for.  A token is 32 random bytes
 * (OpenSSL RAND_bytes) written as 64 lower-case hex digits; the store is
 * bounded and lives in authd's memory only, so an authd restart
 * invalidates unredeemed tokens (the login then fails cleanly).
 */
#ifndef POSTERN_AUTHD_TOKEN_H
#define POSTERN_AUTHD_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compat.h"

#define TOKEN_BYTES	32
#define TOKEN_HEX_LEN	(2 * TOKEN_BYTES)
#define TOKEN_MAX_LIVE	10000	/* unredeemed tokens held at once */

struct token_store;

/* max_live tokens at most, each valid for lifetime_ms after its issue. */
struct token_store *token_store_new(size_t max_live, uint64_t lifetime_ms);
/* Wipes and frees every token and *sp (NULL allowed); sets *sp = NULL. */
void	token_store_free(struct token_store **sp);

/*
 * Issues a token for user and service at now (monotonic ms) into token_r
 * (TOKEN_HEX_LEN digits and a NUL).  Returns 0, or -1 with *error_r when
 * the store is full of live tokens or the random generator fails.
 */
int	token_issue(struct token_store *s, const char *user,
	    const char *service, uint64_t now, char token_r[TOKEN_HEX_LEN + 1],
	    const char **error_r) ATTR_WUR;
/*
 * Redeems token for service at now.  Returns 1 with the user in *user_r
 * (caller frees), or 0 with the reason in *why_r: malformed, unknown
 * (also: already redeemed), expired, or issued for another service.  A
 * token that is found is used up whatever the outcome.  The comparison
 * takes the same time whatever bytes of the token match.
 */
int	token_redeem(struct token_store *s, const char *token,
	    const char *service, uint64_t now, char **user_r,
	    const char **why_r) ATTR_WUR;
/* Drops the tokens that expired at now. */
void	token_purge(struct token_store *s, uint64_t now);
size_t	token_count(const struct token_store *s);
/* True for exactly TOKEN_HEX_LEN lower-case hex digits. */
bool	token_syntax_valid(const char *token);

#endif
