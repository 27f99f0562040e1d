/* SPDX-License-Identifier: ISC */
/*
 * SASL mechanisms of authd (postern-authd(8)): PLAIN (RFC 4616) and LOGIN
 * (draft-murchison-sasl-login), as a small state machine per exchange.
 * Responses arrive decoded (raw bytes): base64 belongs to the protocol
 * daemons.  This module only parses; it never checks a password.
 */
#ifndef POSTERN_AUTHD_SASL_H
#define POSTERN_AUTHD_SASL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compat.h"
#include "passwd.h"
#include "userdb.h"

#define SASL_USER_MAX		USERDB_ADDRESS_MAX	/* authcid, authzid */
#define SASL_MECH_NAME_MAX	20			/* RFC 4422 3.1 */
/* The longest response: authzid NUL authcid NUL passwd. */
#define SASL_RESPONSE_MAX	(2 * SASL_USER_MAX + 2 + PASSWD_MAX)

enum sasl_mech {
	SASL_MECH_PLAIN,
	SASL_MECH_LOGIN,
};

enum sasl_state {
	SASL_S_START,		/* nothing received yet */
	SASL_S_PLAIN_WAIT,	/* PLAIN: empty challenge sent */
	SASL_S_LOGIN_USER,	/* LOGIN: "Username:" sent */
	SASL_S_LOGIN_PASS,	/* LOGIN: "Password:" sent */
	SASL_S_DONE,		/* user and password are set */
	SASL_S_FAILED,		/* a malformed response ended it */
};

struct sasl_exchange {
	enum sasl_mech	 mech;
	enum sasl_state	 state;
	char		*user;		/* authcid; NULL until received */
	char		*password;	/* NUL-terminated; NULL until DONE */
	size_t		 password_len;
};

/*
 * Parses a mechanism name (case-insensitive, RFC 4422 syntax).  Returns 0,
 * or -1 for a malformed or unsupported name.
 */
int	sasl_mech_parse(const char *name, enum sasl_mech *mech_r) ATTR_WUR;
const char *sasl_mech_name(enum sasl_mech mech);

struct sasl_exchange *sasl_new(enum sasl_mech mech);
/* Wipes the password, frees *xp (NULL allowed), sets *xp = NULL. */
void	sasl_free(struct sasl_exchange **xp);
/* Wipes and frees the password only (after it was checked). */
void	sasl_wipe_password(struct sasl_exchange *x);

/*
 * Feeds one client response (resp == NULL: the client sent no initial
 * response; allowed on the first step only).  Returns 1 when the exchange
 * is complete (x->user and x->password set), 0 with the next challenge in
 * *challenge_r (a static string of *challenge_len_r bytes, possibly
 * empty), -1 with *error_r when the response is malformed or out of
 * sequence (the exchange is then SASL_S_FAILED).
 */
int	sasl_step(struct sasl_exchange *x, const uint8_t *resp, size_t len,
	    const uint8_t **challenge_r, size_t *challenge_len_r,
	    const char **error_r) ATTR_WUR;

/*
 * Parses a PLAIN message "[authzid] NUL authcid NUL passwd": exactly two
 * NULs, authcid 1..SASL_USER_MAX bytes without control bytes, authzid
 * empty or equal to authcid (ASCII case-insensitive: no proxy logins),
 * passwd 1..PASSWD_MAX bytes.  Returns 0 with allocated *user_r and
 * *password_r (NUL-terminated, *password_len_r bytes), or -1 (*error_r).
 */
int	sasl_plain_parse(const uint8_t *data, size_t len, char **user_r,
	    char **password_r, size_t *password_len_r,
	    const char **error_r) ATTR_WUR;
/* True for an authcid: 1..SASL_USER_MAX bytes, no control byte or NUL. */
bool	sasl_user_valid(const uint8_t *data, size_t len);

#endif
