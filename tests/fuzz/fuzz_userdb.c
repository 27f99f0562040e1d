/* SPDX-License-Identifier: ISC */
/* fuzz-sources: common/userdb.c common/conf.c common/conf_defs.c common/passwd.c common/cidr.c common/net.c common/table.c common/table_bdb.c common/table_lmdb.c common/file.c common/log.c common/buf.c common/str.c common/error.c common/xmalloc.c */
/* fuzz-libs: -lcrypt -lcrypto -levent -ldb-5.3 -llmdb */
/*
 * Fuzz target for the users file parser (userdb_parse_line() in
 * common/userdb.c).  The input is split into lines as a users file is.
 * Each line parses, or fails with an error text.  A user line must give
 * a valid, lower-case address and a non-empty hash without white space;
 * userdb_format_line() of it must parse back to the same user, and the
 * part after "address:" must parse through userdb_parse_value() (what
 * authd reads from the table) to the same user as well.
 */
#include "config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/userdb.h"
#include "common/xmalloc.h"

#include "common/banned.h"

static void
fuzz_same(const struct userdb_user *a, const struct userdb_user *b)
{
	if (strcmp(a->address, b->address) != 0 ||
	    strcmp(a->hash, b->hash) != 0 ||
	    strcmp(a->home, b->home) != 0 ||
	    strcmp(a->maildir, b->maildir) != 0 ||
	    a->quota != b->quota || a->disabled != b->disabled)
		abort();
}

static void
fuzz_check_user(const char *line, const struct userdb_user *u)
{
	struct userdb_user v;
	const char *error, *p;
	char	*again;

	if (!userdb_address_valid(u->address) || u->hash[0] == '\0')
		abort();
	for (p = u->address; *p != '\0'; p++) {
		if (*p >= 'A' && *p <= 'Z')
			abort();
	}
	for (p = u->hash; *p != '\0'; p++) {
		if (*p == ' ' || *p == '\t' || *p == ':')
			abort();
	}

	again = userdb_format_line(u);
	if (userdb_parse_line(again, &v, &error) != 1)
		abort();
	fuzz_same(u, &v);
	userdb_user_deinit(&v);
	free(again);

	if (userdb_parse_value(u->address, strchr(line, ':') + 1, &v,
	    &error) != 1)
		abort();
	fuzz_same(u, &v);
	userdb_user_deinit(&v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct userdb_user u;
	const char *p = (const char *)data, *end = p + size, *nl, *error;
	char	*line;
	int	 ret;

	for (; p < end; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		/* A line holding NUL is refused before the parser sees it. */
		if (memchr(p, '\0', (size_t)(nl - p)) != NULL)
			continue;
		line = xstrndup(p, (size_t)(nl - p));
		error = NULL;
		ret = userdb_parse_line(line, &u, &error);
		if (ret == 1)
			fuzz_check_user(line, &u);
		else if (ret == -1 && (error == NULL || error[0] == '\0'))
			abort();
		else if (ret != -1 && ret != 0)
			abort();
		userdb_user_deinit(&u);
		free(line);
	}
	return 0;
}
