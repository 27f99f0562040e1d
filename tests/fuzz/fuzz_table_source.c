/* SPDX-License-Identifier: ISC */
/* fuzz-sources: common/table.c common/table_bdb.c common/table_lmdb.c common/file.c common/log.c common/buf.c common/str.c common/error.c common/xmalloc.c */
/* fuzz-libs: -ldb-5.3 -llmdb */
/*
 * Fuzz target for the text-source parser of the lookup tables
 * (table_source_parse() in common/table.c).  The input is the source
 * file.  On success every entry must obey the contract of table_int.h:
 * a key of 1..TABLE_KEY_MAX bytes with no upper-case letter, white space
 * or NUL, a value of 1..TABLE_VALUE_MAX bytes with no NUL and no white
 * space at either end, lengths that match, and keys in strictly
 * increasing order (so no duplicates).  On failure the error names the
 * file and a line number within the input.
 */
#include "config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/str.h"
#include "common/table_int.h"

#include "common/banned.h"

static bool
fuzz_is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n';
}

static void
fuzz_check_entry(const struct table_entry *e)
{
	size_t	i;

	if (e->key_len == 0 || e->key_len > TABLE_KEY_MAX ||
	    strlen(e->key) != e->key_len)
		abort();
	for (i = 0; i < e->key_len; i++) {
		if ((e->key[i] >= 'A' && e->key[i] <= 'Z') ||
		    fuzz_is_ws(e->key[i]))
			abort();
	}
	if (e->value_len == 0 || e->value_len > TABLE_VALUE_MAX ||
	    strlen(e->value) != e->value_len ||
	    fuzz_is_ws(e->value[0]) || fuzz_is_ws(e->value[e->value_len - 1]))
		abort();
	if (e->line == 0)
		abort();
}

/* Whether a sorts strictly before b, bytewise. */
static bool
fuzz_before(const struct table_entry *a, const struct table_entry *b)
{
	size_t	 n = a->key_len < b->key_len ? a->key_len : b->key_len;
	int	 c;

	if ((c = memcmp(a->key, b->key, n)) != 0)
		return c < 0;
	return a->key_len < b->key_len;
}

/* "fuzz:LINE: text", LINE within the input. */
static void
fuzz_check_error(const char *error, const uint8_t *data, size_t size)
{
	const char *p, *colon;
	uint64_t line, lines = 1;
	size_t	 i;

	if (strncmp(error, "fuzz:", 5) != 0)
		abort();
	p = error + 5;
	if ((colon = strchr(p, ':')) == NULL ||
	    parse_u64_n(p, (size_t)(colon - p), UINT64_MAX, &line) == -1)
		abort();
	for (i = 0; i < size; i++)
		lines += data[i] == '\n';
	if (line == 0 || line > lines)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct table_source src;
	const char *error = NULL;
	size_t	 i, bytes = 0;

	if (table_source_parse("fuzz", (const char *)data, size, &src,
	    &error) == -1) {
		if (src.count != 0 || src.entries != NULL)
			abort();
		fuzz_check_error(error, data, size);
		return 0;
	}
	for (i = 0; i < src.count; i++) {
		fuzz_check_entry(&src.entries[i]);
		if (i > 0 && !fuzz_before(&src.entries[i - 1], &src.entries[i]))
			abort();
		bytes += src.entries[i].key_len + src.entries[i].value_len;
	}
	if (bytes != src.bytes || bytes > size)
		abort();
	table_source_deinit(&src);
	return 0;
}
