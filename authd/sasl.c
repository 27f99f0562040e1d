/* SPDX-License-Identifier: ISC */
/*
 * SASL PLAIN and LOGIN for authd.  Each exchange is a small state machine
 * fed with the client's decoded responses; it answers with the next
 * challenge or with the credentials, which main.c checks.  Everything the
 * client sends is bounded before anything is allocated, and the password
 * is wiped (explicit_bzero) when the exchange lets go of it.  The client
 * is untrusted: any byte may arrive, and a response that does not fit the
 * mechanism ends the exchange.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "common/str.h"
#include "common/xmalloc.h"

#include "authd/sasl.h"

#include "common/banned.h"

/* LOGIN's challenges, sent as raw bytes (the daemons base64 them). */
#define SASL_LOGIN_USER_CHALLENGE	"Username:"
#define SASL_LOGIN_PASS_CHALLENGE	"Password:"

static const struct {
	const char	*name;
	enum sasl_mech	 mech;
} sasl_mechs[] = {
	{ "PLAIN",	SASL_MECH_PLAIN },
	{ "LOGIN",	SASL_MECH_LOGIN },
};

int
sasl_mech_parse(const char *name, enum sasl_mech *mech_r)
{
	size_t	i, len = strlen(name);

	/* RFC 4422 3.1: 1..20 of [A-Z0-9-_]; we also take lower case. */
	if (len == 0 || len > SASL_MECH_NAME_MAX)
		return -1;
	for (i = 0; i < len; i++) {
		char	c = name[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return -1;
	}
	for (i = 0; i < N_ELEMENTS(sasl_mechs); i++) {
		if (str_eq_icase(name, sasl_mechs[i].name)) {
			*mech_r = sasl_mechs[i].mech;
			return 0;
		}
	}
	return -1;
}

const char *
sasl_mech_name(enum sasl_mech mech)
{
	size_t	i;

	for (i = 0; i < N_ELEMENTS(sasl_mechs); i++)
		if (sasl_mechs[i].mech == mech)
			return sasl_mechs[i].name;
	return "?";
}

struct sasl_exchange *
sasl_new(enum sasl_mech mech)
{
	struct sasl_exchange *x;

	x = xcalloc(1, sizeof(*x));
	x->mech = mech;
	x->state = SASL_S_START;
	return x;
}

void
sasl_wipe_password(struct sasl_exchange *x)
{
	if (x->password != NULL) {
		explicit_bzero(x->password, x->password_len);
		free(x->password);
		x->password = NULL;
	}
	x->password_len = 0;
}

void
sasl_free(struct sasl_exchange **xp)
{
	struct sasl_exchange *x = *xp;

	if (x == NULL)
		return;
	*xp = NULL;
	sasl_wipe_password(x);
	free(x->user);
	free(x);
}

bool
sasl_user_valid(const uint8_t *data, size_t len)
{
	size_t	i;

	if (len == 0 || len > SASL_USER_MAX)
		return false;
	/* UTF-8 is allowed (RFC 4616); control bytes never name a user. */
	for (i = 0; i < len; i++)
		if (data[i] < 0x20 || data[i] == 0x7f)
			return false;
	return true;
}

/* An authzid equal to the authcid, ignoring ASCII case. */
static bool
sasl_same_id(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	size_t	i;

	if (alen != blen)
		return false;
	for (i = 0; i < alen; i++) {
		uint8_t	ca = a[i], cb = b[i];

		if (ca >= 'A' && ca <= 'Z')
			ca += 'a' - 'A';
		if (cb >= 'A' && cb <= 'Z')
			cb += 'a' - 'A';
		if (ca != cb)
			return false;
	}
	return true;
}

static bool
sasl_password_valid(const uint8_t *data, size_t len)
{
	return len > 0 && len <= PASSWD_MAX && memchr(data, '\0', len) == NULL;
}

static char *
sasl_password_dup(const uint8_t *data, size_t len)
{
	char	*p;

	p = xmalloc(len + 1);	/* UNSAFE: len <= PASSWD_MAX, checked */
	memcpy(p, data, len);
	p[len] = '\0';
	return p;
}

int
sasl_plain_parse(const uint8_t *data, size_t len, char **user_r,
    char **password_r, size_t *password_len_r, const char **error_r)
{
	const uint8_t	*nul1, *nul2, *authcid, *pass;
	size_t		 zlen, clen, plen;

	if (len > SASL_RESPONSE_MAX) {
		*error_r = "PLAIN response too long";
		return -1;
	}
	if (len == 0 || (nul1 = memchr(data, '\0', len)) == NULL) {
		*error_r = "PLAIN response without NUL separators";
		return -1;
	}
	zlen = (size_t)(nul1 - data);
	authcid = nul1 + 1;
	nul2 = memchr(authcid, '\0', len - zlen - 1);
	if (nul2 == NULL) {
		*error_r = "PLAIN response with one NUL separator";
		return -1;
	}
	clen = (size_t)(nul2 - authcid);
	pass = nul2 + 1;
	plen = len - zlen - clen - 2;	/* UNSAFE: two NULs found inside */
	if (memchr(pass, '\0', plen) != NULL) {
		*error_r = "PLAIN response with more than two NULs";
		return -1;
	}
	if (!sasl_user_valid(authcid, clen)) {
		*error_r = clen == 0 ? "PLAIN response with an empty authcid" :
		    "PLAIN authcid too long or with control bytes";
		return -1;
	}
	if (zlen != 0 && !sasl_same_id(data, zlen, authcid, clen)) {
		*error_r = "PLAIN authzid differs from authcid";
		return -1;
	}
	if (!sasl_password_valid(pass, plen)) {
		*error_r = plen == 0 ? "PLAIN response with an empty password" :
		    "PLAIN password too long";
		return -1;
	}
	*user_r = xstrndup((const char *)authcid, clen);
	*password_r = sasl_password_dup(pass, plen);
	*password_len_r = plen;
	return 0;
}

static int
sasl_fail(struct sasl_exchange *x, const char *why, const char **error_r)
{
	x->state = SASL_S_FAILED;
	sasl_wipe_password(x);
	*error_r = why;
	return -1;
}

static int
sasl_challenge(struct sasl_exchange *x, enum sasl_state next,
    const char *challenge, const uint8_t **challenge_r,
    size_t *challenge_len_r)
{
	x->state = next;
	*challenge_r = (const uint8_t *)challenge;
	*challenge_len_r = strlen(challenge);
	return 0;
}

static int
sasl_step_plain(struct sasl_exchange *x, const uint8_t *resp, size_t len,
    const uint8_t **challenge_r, size_t *challenge_len_r,
    const char **error_r)
{
	if (resp == NULL) {
		if (x->state != SASL_S_START)
			return sasl_fail(x, "missing response", error_r);
		/* RFC 4422 5: an empty challenge asks for the response. */
		return sasl_challenge(x, SASL_S_PLAIN_WAIT, "", challenge_r,
		    challenge_len_r);
	}
	if (sasl_plain_parse(resp, len, &x->user, &x->password,
	    &x->password_len, error_r) == -1)
		return sasl_fail(x, *error_r, error_r);
	x->state = SASL_S_DONE;
	return 1;
}

/* LOGIN: the user name, then "Password:". */
static int
sasl_login_user(struct sasl_exchange *x, const uint8_t *resp, size_t len,
    const uint8_t **challenge_r, size_t *challenge_len_r,
    const char **error_r)
{
	if (resp == NULL)
		return sasl_fail(x, "missing response", error_r);
	if (!sasl_user_valid(resp, len))
		return sasl_fail(x, len == 0 ? "LOGIN: empty user name" :
		    "LOGIN: user name too long or with control bytes", error_r);
	x->user = xstrndup((const char *)resp, len);
	return sasl_challenge(x, SASL_S_LOGIN_PASS, SASL_LOGIN_PASS_CHALLENGE,
	    challenge_r, challenge_len_r);
}

static int
sasl_step_login(struct sasl_exchange *x, const uint8_t *resp, size_t len,
    const uint8_t **challenge_r, size_t *challenge_len_r,
    const char **error_r)
{
	switch (x->state) {
	case SASL_S_START:
		if (resp == NULL)
			return sasl_challenge(x, SASL_S_LOGIN_USER,
			    SASL_LOGIN_USER_CHALLENGE, challenge_r,
			    challenge_len_r);
		/* An initial response is the user name (RFC 4954 clients). */
		return sasl_login_user(x, resp, len, challenge_r,
		    challenge_len_r, error_r);
	case SASL_S_LOGIN_USER:
		return sasl_login_user(x, resp, len, challenge_r,
		    challenge_len_r, error_r);
	case SASL_S_LOGIN_PASS:
		if (resp == NULL)
			return sasl_fail(x, "missing response", error_r);
		if (!sasl_password_valid(resp, len))
			return sasl_fail(x, len == 0 ? "LOGIN: empty password" :
			    len > PASSWD_MAX ? "LOGIN: password too long" :
			    "LOGIN: password with a NUL", error_r);
		x->password = sasl_password_dup(resp, len);
		x->password_len = len;
		x->state = SASL_S_DONE;
		return 1;
	default:
		return sasl_fail(x, "response out of sequence", error_r);
	}
}

int
sasl_step(struct sasl_exchange *x, const uint8_t *resp, size_t len,
    const uint8_t **challenge_r, size_t *challenge_len_r,
    const char **error_r)
{
	if (x->state == SASL_S_DONE || x->state == SASL_S_FAILED)
		return sasl_fail(x, "response after the end of the exchange",
		    error_r);
	if (resp != NULL && len > SASL_RESPONSE_MAX)
		return sasl_fail(x, "response too long", error_r);
	switch (x->mech) {
	case SASL_MECH_PLAIN:
		return sasl_step_plain(x, resp, len, challenge_r,
		    challenge_len_r, error_r);
	case SASL_MECH_LOGIN:
		return sasl_step_login(x, resp, len, challenge_r,
		    challenge_len_r, error_r);
	}
	return sasl_fail(x, "unknown mechanism", error_r);
}
