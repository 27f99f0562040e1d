/* SPDX-License-Identifier: ISC */
/*
 * libFuzzer target for the SMTP path parser (smtp_parse_path() in
 * smtpd/smtp_parse.c).  The input, cut at its first NUL, is parsed with
 * every combination of SMTP_PARSE_F_ALLOW_EMPTY, SMTP_PARSE_F_SMTPUTF8 and
 * SMTP_PARSE_F_POSTMASTER.
 * Invariants: a failure has a kind and a text; the flags only widen what
 * is accepted (a path accepted with fewer flags is accepted with more,
 * with the same result); an accepted address fits the limits, has "@" at
 * local_len, no control bytes, 8-bit bytes only under SMTPUTF8, and is
 * idempotent: wrapped in "<>" it parses back to itself with nothing left.
 */
/* fuzz-sources: smtpd/smtp_parse.c common/error.c common/str.c common/utf8.c */
/* fuzz-libs: */
#include "config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtpd/smtp_parse.h"

#include "common/banned.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ARG_MAX	4096

static void
check_addr(const struct smtp_parse_addr *a, unsigned int flags)
{
	struct smtp_parse_addr	 b;
	char			 wrapped[SMTP_PARSE_PATH_MAX + 3];
	enum smtp_parse_err	 kind = SMTP_PARSE_E_NONE;
	const char		*rest = NULL, *error = NULL;
	size_t			 len = strlen(a->addr), i;
	bool			 utf8 = false;

	if (len > SMTP_PARSE_PATH_MAX - 2 || a->null_path != (len == 0))
		abort();
	if (a->null_path) {
		if ((flags & SMTP_PARSE_F_ALLOW_EMPTY) == 0 ||
		    a->local_len != 0)
			abort();
		return;
	}
	if (a->postmaster) {
		if ((flags & SMTP_PARSE_F_POSTMASTER) == 0 ||
		    strcmp(a->addr, "postmaster") != 0 || a->local_len != len)
			abort();
		goto reparse;
	}
	if (a->local_len == 0 || a->local_len > SMTP_PARSE_LOCAL_MAX ||
	    a->addr[a->local_len] != '@' ||
	    len - a->local_len - 1 > SMTP_PARSE_DOMAIN_MAX)
		abort();
	for (i = 0; i < len; i++) {
		if ((unsigned char)a->addr[i] < 32 ||
		    (unsigned char)a->addr[i] == 127)
			abort();
		if ((unsigned char)a->addr[i] >= 0x80)
			utf8 = true;
	}
	if (utf8 != a->utf8 || (utf8 && (flags & SMTP_PARSE_F_SMTPUTF8) == 0))
		abort();
reparse:
	wrapped[0] = '<';
	memcpy(wrapped + 1, a->addr, len);
	wrapped[len + 1] = '>';
	wrapped[len + 2] = '\0';
	if (smtp_parse_path(wrapped, flags, &b, &rest, &kind, &error) != 0 ||
	    strcmp(a->addr, b.addr) != 0 || *rest != '\0' ||
	    a->local_len != b.local_len || a->utf8 != b.utf8 ||
	    a->postmaster != b.postmaster)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtp_parse_addr	 a[8];
	enum smtp_parse_err	 kind;
	const char		*error, *rest[8];
	char			*arg;
	int			 ret[8];
	unsigned int		 flags, more;

	if (size > FUZZ_ARG_MAX)
		return 0;
	if ((arg = malloc(size + 1)) == NULL)
		abort();
	memcpy(arg, data, size);
	arg[size] = '\0';
	for (flags = 0; flags < 8; flags++) {
		kind = SMTP_PARSE_E_NONE;
		error = NULL;
		ret[flags] = smtp_parse_path(arg, flags, &a[flags],
		    &rest[flags], &kind, &error);
		if (ret[flags] == -1 && (kind == SMTP_PARSE_E_NONE ||
		    error == NULL))
			abort();
		if (ret[flags] == 0) {
			if (rest[flags] < arg || rest[flags] > arg + size)
				abort();
			check_addr(&a[flags], flags);
		}
	}
	/* More flags accept a superset, with the same result. */
	for (flags = 0; flags < 8; flags++) {
		if (ret[flags] != 0)
			continue;
		for (more = 0; more < 8; more++) {
			if ((more & flags) != flags)
				continue;
			if (ret[more] != 0 ||
			    strcmp(a[flags].addr, a[more].addr) != 0 ||
			    rest[flags] != rest[more])
				abort();
		}
	}
	free(arg);
	return 0;
}
