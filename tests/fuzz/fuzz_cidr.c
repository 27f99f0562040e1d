/* SPDX-License-Identifier: ISC */
/*
 * libFuzzer target for common/cidr.c: the input's first line is a network
 * entry for cidr_parse(), the rest (each line) client addresses for
 * cidr_match() and cidr_list_match().  Checks invariants as it goes: a
 * parsed entry has a known family and a prefix in range with no host bits
 * set, and matching never disagrees with the list form.
 */
/* fuzz-sources: common/cidr.c common/error.c common/log.c common/str.c common/xmalloc.c */
/* fuzz-libs: */
#include "config.h"

#include <sys/socket.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/cidr.h"
#include "common/xmalloc.h"

#include "common/banned.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A NUL-terminated copy of n bytes. */
static char *
fuzz_str(const uint8_t *p, size_t n)
{
	char	*s = xmalloc(n + 1);

	memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

static void
fuzz_check(const struct cidr *c)
{
	size_t	 bytes = c->family == AF_INET ? 4 : 16;
	size_t	 i;

	if (c->family != AF_INET && c->family != AF_INET6)
		abort();
	if (c->prefix > bytes * 8)
		abort();
	for (i = 0; i < bytes * 8; i++) {
		if (i >= c->prefix &&
		    (c->addr[i / 8] & (0x80 >> (i % 8))) != 0)
			abort();		/* a host bit survived */
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cidr	 c;
	const uint8_t	*nl, *p, *end = data + size;
	const char	*error;
	char		*entry, *addr, *list[2];
	bool		 ok, m;

	nl = memchr(data, '\n', size);
	entry = fuzz_str(data, nl != NULL ? (size_t)(nl - data) : size);
	ok = cidr_parse(entry, &c, &error) == 0;
	if (ok)
		fuzz_check(&c);
	else if (error == NULL)
		abort();
	list[0] = entry;
	list[1] = NULL;
	for (p = nl != NULL ? nl + 1 : end; p < end;) {
		nl = memchr(p, '\n', (size_t)(end - p));
		addr = fuzz_str(p, nl != NULL ? (size_t)(nl - p) :
		    (size_t)(end - p));
		m = ok && cidr_match(&c, addr);
		if (m != cidr_list_match(list, addr))
			abort();
		/* An address matches its own /32 or /128 entry. */
		if (cidr_parse(addr, &c, &error) == 0 &&
		    (c.prefix == 32 || c.prefix == 128) &&
		    strpbrk(addr, "[/") == NULL && !cidr_match(&c, addr))
			abort();
		if (ok && cidr_parse(entry, &c, &error) != 0)
			abort();		/* parsing is repeatable */
		free(addr);
		p = nl != NULL ? nl + 1 : end;
	}
	free(entry);
	return 0;
}
