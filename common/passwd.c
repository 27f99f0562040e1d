/* SPDX-License-Identifier: ISC */
/*
 * Password hashes (passwd.h): hashing with a fresh salt and checking a
 * password against a stored hash, through libcrypt's crypt_r() and
 * crypt_gensalt_rn() (libxcrypt on Debian: yescrypt, sha512-crypt and
 * bcrypt).  Stored hashes come from the users file, which may be a
 * Dovecot passwd-file, so the Dovecot "{SCHEME}" prefixes are understood.
 *
 * Trust: the stored hash is the administrator's; the password is the
 * client's and may hold any byte.  A password with a NUL byte cannot be
 * handed to crypt(3) and is refused outright (it cannot match any hash
 * libcrypt made).  Every comparison is constant-time, every copy of a
 * password and crypt's work area are wiped before they are freed.
 */
#include "config.h"

#include <crypt.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "error.h"
#include "log.h"
#include "passwd.h"
#include "str.h"
#include "xmalloc.h"

#include "banned.h"

#define PASSWD_DEFAULT_SCHEME	"yescrypt"
/*
 * libxcrypt refuses passphrases of CRYPT_MAX_PASSPHRASE_SIZE bytes or
 * more (512 with the NUL), below passwd.h's PASSWD_MAX: longer ones can
 * be neither hashed nor match a crypt hash.  Only {PLAIN} goes up to
 * PASSWD_MAX.
 */
#define PASSWD_CRYPT_MAX	(CRYPT_MAX_PASSPHRASE_SIZE - 1)

struct passwd_scheme {
	const char	*name;		/* passwd_hash()'s scheme */
	const char	*prefix;	/* crypt_gensalt_rn()'s */
};

static const struct passwd_scheme passwd_schemes[] = {
	{ "yescrypt",		"$y$" },
	{ "sha512-crypt",	"$6$" },
	{ "bcrypt",		"$2b$" },
};

/*
 * The Dovecot prefixes: "{NAME}rest".  crypt_prefixes lists what rest
 * must start with (NULL: any crypt string libcrypt knows); plain marks
 * {PLAIN}, whose rest is the password itself.
 */
struct passwd_dovecot {
	const char	*name;
	const char	*crypt_prefixes[4];
	bool		 plain;
};

static const struct passwd_dovecot passwd_dovecot_schemes[] = {
	{ "SHA512-CRYPT",	{ "$6$", NULL },			false },
	{ "BLF-CRYPT",		{ "$2b$", "$2y$", "$2a$", NULL },	false },
	{ "YESCRYPT",		{ "$y$", NULL },			false },
	{ "CRYPT",		{ NULL },				false },
	{ "PLAIN",		{ NULL },				true },
};

/* Bare crypt strings we accept without a {PREFIX} (passwd.h). */
static const char *const passwd_bare_prefixes[] = {
	"$y$", "$6$", "$2b$", "$2y$", "$2a$",
};

#define PASSWD_SCHEME_NAME_MAX	32	/* longest "{NAME}" we look at */

bool
passwd_scheme_valid(const char *scheme)
{
	size_t	i;

	for (i = 0; i < N_ELEMENTS(passwd_schemes); i++) {
		if (strcmp(passwd_schemes[i].name, scheme) == 0)
			return true;
	}
	return false;
}

static bool
passwd_has_any_prefix(const char *s, const char *const *prefixes, size_t n)
{
	size_t	i;

	for (i = 0; i < n && prefixes[i] != NULL; i++) {
		if (str_has_prefix(s, prefixes[i]))
			return true;
	}
	return false;
}

/*
 * Splits stored into the part crypt_r() sees (*hash_r) or the plain
 * password (*plain_r true).  Returns 0 or -1 (*error_r).
 */
static int
passwd_parse_stored(const char *stored, const char **hash_r, bool *plain_r,
    const char **error_r)
{
	const struct passwd_dovecot *d;
	const char *end;
	char	 name[PASSWD_SCHEME_NAME_MAX + 1];
	size_t	 i, len;

	*plain_r = false;
	if (stored[0] != '{') {
		if (!passwd_has_any_prefix(stored, passwd_bare_prefixes,
		    N_ELEMENTS(passwd_bare_prefixes))) {
			*error_r = "unknown password hash scheme";
			return -1;
		}
		*hash_r = stored;
		return 0;
	}
	if ((end = strchr(stored, '}')) == NULL) {
		*error_r = "password hash: \"{\" without \"}\"";
		return -1;
	}
	len = (size_t)(end - stored - 1);
	if (len == 0 || len > PASSWD_SCHEME_NAME_MAX) {
		*error_r = "unknown password hash scheme";
		return -1;
	}
	memcpy(name, stored + 1, len);
	name[len] = '\0';
	for (i = 0; i < N_ELEMENTS(passwd_dovecot_schemes); i++) {
		d = &passwd_dovecot_schemes[i];
		if (!str_eq_icase(d->name, name))
			continue;
		*hash_r = end + 1;
		if (d->plain) {
			*plain_r = true;
			return 0;
		}
		if (d->crypt_prefixes[0] != NULL &&
		    !passwd_has_any_prefix(*hash_r, d->crypt_prefixes,
		    N_ELEMENTS(d->crypt_prefixes))) {
			*error_r = error_fmt("password hash: {%s} with a "
			    "hash of another scheme", d->name);
			return -1;
		}
		if ((*hash_r)[0] == '\0') {
			*error_r = error_fmt("password hash: {%s} without "
			    "a hash", d->name);
			return -1;
		}
		return 0;
	}
	*error_r = error_fmt("unknown password hash scheme {%.*s}",
	    PASSWD_SCHEME_NAME_MAX, name);
	return -1;
}

/*
 * {PLAIN}: compare SHA-256 digests, so the time taken depends neither on
 * where the first difference is nor on the lengths.
 */
static int
passwd_verify_plain(const char *plain, const char *password, size_t len)
{
	unsigned char a[SHA256_DIGEST_LENGTH], b[SHA256_DIGEST_LENGTH];
	int	 match;

	(void)SHA256((const unsigned char *)plain, strlen(plain), a);
	(void)SHA256((const unsigned char *)password, len, b);
	match = CRYPTO_memcmp(a, b, sizeof(a)) == 0;
	explicit_bzero(a, sizeof(a));
	explicit_bzero(b, sizeof(b));
	return match ? 1 : 0;
}

/* libcrypt reports failure with NULL or a "*0"/"*1" token. */
static bool
passwd_crypt_failed(const char *out)
{
	return out == NULL || out[0] == '*';
}

int
passwd_verify(const char *stored, const char *password, size_t len,
    bool *plain_r, const char **error_r)
{
	struct crypt_data *cd;
	const char *hash, *out;
	char	*pw;
	size_t	 hash_len;
	int	 ret;

	if (passwd_parse_stored(stored, &hash, plain_r, error_r) == -1)
		return -1;
	/*
	 * None of these can match: crypt(3) stops at NUL, PASSWD_MAX is
	 * ours, and an empty password is never accepted, not even against
	 * an empty {PLAIN}.
	 */
	if (len == 0 || len > PASSWD_MAX ||
	    memchr(password, '\0', len) != NULL)
		return 0;
	if (*plain_r)
		return passwd_verify_plain(hash, password, len);
	if (len > PASSWD_CRYPT_MAX)
		return 0;

	/* struct crypt_data is some 32 KiB: not for the stack. */
	cd = xcalloc(1, sizeof(*cd));
	pw = xmalloc(len + 1);
	memcpy(pw, password, len);
	pw[len] = '\0';
	out = crypt_r(pw, hash, cd);
	hash_len = strlen(hash);
	/*
	 * A well-formed hash gives output of its own length whatever the
	 * password; one that does not (a truncated hash, a bare "$6$") is
	 * malformed, not a mismatch, so the administrator hears of it.
	 */
	if (passwd_crypt_failed(out) || strlen(out) != hash_len) {
		*error_r = "malformed password hash";
		ret = -1;
	} else
		ret = CRYPTO_memcmp(out, hash, hash_len) == 0 ? 1 : 0;
	explicit_bzero(pw, len + 1);
	free(pw);
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return ret;
}

char *
passwd_hash(const char *password, const char *scheme, const char **error_r)
{
	struct crypt_data *cd;
	const char *prefix = NULL, *out;
	char	 salt[CRYPT_GENSALT_OUTPUT_SIZE];
	char	*hash = NULL;
	size_t	 i;

	for (i = 0; i < N_ELEMENTS(passwd_schemes); i++) {
		if (strcmp(passwd_schemes[i].name, scheme) == 0)
			prefix = passwd_schemes[i].prefix;
	}
	if (prefix == NULL) {
		*error_r = error_fmt("unknown password scheme \"%.*s\" (use "
		    "yescrypt, sha512-crypt or bcrypt)",
		    PASSWD_SCHEME_NAME_MAX, scheme);
		return NULL;
	}
	if (strlen(password) > PASSWD_CRYPT_MAX) {
		*error_r = error_fmt("password longer than %d bytes",
		    PASSWD_CRYPT_MAX);
		return NULL;
	}
	/* count 0: the default cost; NULL: libcrypt finds random bytes. */
	if (crypt_gensalt_rn(prefix, 0, NULL, 0, salt, sizeof(salt)) == NULL) {
		*error_r = error_fmt("crypt_gensalt %s: %m", scheme);
		return NULL;
	}
	cd = xcalloc(1, sizeof(*cd));
	out = crypt_r(password, salt, cd);
	if (passwd_crypt_failed(out))
		*error_r = error_fmt("crypt %s: %m", scheme);
	else
		hash = xstrdup(out);
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return hash;
}

const char *
passwd_dummy_hash(const char *scheme)
{
	/*
	 * XXX: file-scope cache (STYLE R14): one immutable string per scheme
	 * and process, computed on first use so that processes that never
	 * check a password do not pay for it.
	 */
	static char *dummy[N_ELEMENTS(passwd_schemes)];
	const char *error;
	size_t	 i;

	for (i = 0; i < N_ELEMENTS(passwd_schemes); i++) {
		if (strcmp(passwd_schemes[i].name, scheme) == 0)
			break;
	}
	if (i == N_ELEMENTS(passwd_schemes))
		i = 0;		/* the configuration checker refuses others */
	if (dummy[i] != NULL)
		return dummy[i];
	dummy[i] = passwd_hash("postern dummy password",
	    passwd_schemes[i].name, &error);
	if (dummy[i] == NULL) {
		/* A working libcrypt cannot fail here. */
		log_fatal("passwd_dummy_hash: %s", error);
	}
	return dummy[i];
}
