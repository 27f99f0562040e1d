/* SPDX-License-Identifier: ISC */
/*
 * Password hashes through libcrypt (crypt_r/crypt_gensalt_rn).  Stored
 * forms understood: crypt strings ("$y$" yescrypt, "$6$" sha512-crypt,
 * "$2b$"/"$2y$"/"$2a$" bcrypt) and the Dovecot-style prefixed forms
 * "{SHA512-CRYPT}$6$...", "{BLF-CRYPT}$2y$...", "{CRYPT}...",
 * "{YESCRYPT}$y$..." and "{PLAIN}secret" so a Dovecot passwd-file works
 * as it is.  Comparison is constant-time.
 */
#ifndef POSTERN_PASSWD_H
#define POSTERN_PASSWD_H

#include <stdbool.h>
#include <stddef.h>

#include "compat.h"

#define PASSWD_MAX	1024	/* longest password accepted */

/*
 * Checks password (len bytes; may hold any byte but NUL) against stored.
 * Returns 1 on a match, 0 on a mismatch, -1 when stored is of an unknown
 * or malformed scheme (*error_r).  *plain_r is true when the stored form
 * is {PLAIN} (the caller warns in the log).
 */
int	passwd_verify(const char *stored, const char *password, size_t len,
	    bool *plain_r, const char **error_r) ATTR_WUR;
/*
 * Hashes password with scheme ("yescrypt", "sha512-crypt", "bcrypt") and a
 * fresh random salt.  Returns an allocated crypt string, or NULL
 * (*error_r) for an unknown scheme or a libcrypt failure.
 */
char	*passwd_hash(const char *password, const char *scheme,
	    const char **error_r);
bool	passwd_scheme_valid(const char *scheme);
/*
 * A fixed hash of scheme (an unknown scheme means yescrypt), computed once
 * per process: checking an unknown user's password against it takes as
 * long as checking a real one of that scheme.
 */
const char *passwd_dummy_hash(const char *scheme);

#endif
