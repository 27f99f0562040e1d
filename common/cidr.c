/* SPDX-License-Identifier: ISC */
/*
 * Network lists (cidr.h): mynetworks and any other list of CIDR blocks.
 *
 * An entry is an address with an optional "/prefix": "192.0.2.0/24",
 * "2001:db8::/32", "[2001:db8::]/32" (the brackets Postfix uses for IPv6)
 * or a bare address, which is a /32 or a /128.  Addresses go through
 * inet_pton() alone, so the odd forms inet_aton() accepts ("127.1",
 * "0x7f.1", octal) are errors, as is a prefix that is not plain decimal.
 * An entry with host bits set below its prefix is an error, not silently
 * masked: "192.0.2.1/24" is nearly always a typo for a single host or for
 * 192.0.2.0/24, and guessing wrong opens a relay.
 *
 * Client addresses arrive as text (net_addr_str() prints IPv4-mapped IPv6
 * peers as IPv4 already); a "::ffff:a.b.c.d" client is still matched
 * against IPv4 entries, so a listener on a dual-stack socket that formats
 * peers differently cannot slip past mynetworks.  An IPv4 client is never
 * matched against an IPv6 entry.
 */
#include "config.h"

#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdint.h>
#include <string.h>

#include "cidr.h"
#include "error.h"
#include "log.h"
#include "str.h"

#include "banned.h"

/* Longer than any address inet_pton() accepts, with room for the NUL. */
#define CIDR_ADDR_MAX	64

#define CIDR_V4_BITS	32
#define CIDR_V6_BITS	128
#define CIDR_V4_LEN	4
#define CIDR_V6_LEN	16
#define CIDR_V4MAPPED_PREFIX_LEN	12

static const uint8_t cidr_v4mapped_prefix[CIDR_V4MAPPED_PREFIX_LEN] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
};

/* Clears the bits of addr (len bytes) past prefix; true when any was set. */
static bool
cidr_mask(uint8_t *addr, size_t len, unsigned int prefix)
{
	bool	 changed = false;
	size_t	 i;
	uint8_t	 keep;

	for (i = 0; i < len; i++) {
		if (prefix >= (i + 1) * 8)
			continue;
		if (prefix <= i * 8)
			keep = 0;
		else
			keep = (uint8_t)(0xff << (8 - (prefix - i * 8)));
		if ((addr[i] & ~keep) != 0)
			changed = true;
		addr[i] &= keep;
	}
	return changed;
}

/* True when the first prefix bits of a and b (len bytes each) agree. */
static bool
cidr_prefix_equal(const uint8_t *a, const uint8_t *b, size_t len,
    unsigned int prefix)
{
	size_t	 full = prefix / 8, bits = prefix % 8;
	uint8_t	 keep;

	if (full > len)
		full = len;
	if (memcmp(a, b, full) != 0)
		return false;
	if (bits == 0 || full == len)
		return true;
	keep = (uint8_t)(0xff << (8 - bits));
	return (a[full] & keep) == (b[full] & keep);
}

int
cidr_parse(const char *s, struct cidr *c_r, const char **error_r)
{
	char		 addr[CIDR_ADDR_MAX], shown[INET6_ADDRSTRLEN];
	const char	*p, *end, *slash;
	uint64_t	 prefix;
	size_t		 len, bytes;
	bool		 bracket = false;

	memset(c_r, 0, sizeof(*c_r));
	if (s[0] == '\0') {
		*error_r = "empty network";
		return -1;
	}
	p = s;
	if (p[0] == '[') {
		/* "[v6]" or "[v6]/len" */
		bracket = true;
		p++;
		if ((end = strchr(p, ']')) == NULL) {
			*error_r = error_fmt("\"%s\": \"[\" without \"]\"",
			    log_safe(s));
			return -1;
		}
		slash = end[1] == '\0' ? NULL : end + 1;
		if (slash != NULL && slash[0] != '/') {
			*error_r = error_fmt("\"%s\": text after \"]\"",
			    log_safe(s));
			return -1;
		}
	} else {
		slash = strchr(p, '/');
		end = slash != NULL ? slash : p + strlen(p);
	}
	len = (size_t)(end - p);
	if (len == 0 || len >= sizeof(addr)) {
		*error_r = error_fmt("\"%s\" is not an IPv4 or IPv6 network",
		    log_safe(s));
		return -1;
	}
	memcpy(addr, p, len);
	addr[len] = '\0';

	if (strchr(addr, ':') != NULL) {
		c_r->family = AF_INET6;
		bytes = CIDR_V6_LEN;
		c_r->prefix = CIDR_V6_BITS;
	} else {
		c_r->family = AF_INET;
		bytes = CIDR_V4_LEN;
		c_r->prefix = CIDR_V4_BITS;
	}
	if (bracket && c_r->family != AF_INET6) {
		*error_r = error_fmt("\"%s\": only IPv6 addresses go in "
		    "brackets", log_safe(s));
		return -1;
	}
	if (inet_pton(c_r->family, addr, c_r->addr) != 1) {
		*error_r = error_fmt("\"%s\" is not an IPv4 or IPv6 network",
		    log_safe(s));
		return -1;
	}
	if (slash != NULL) {
		if (parse_u64(slash + 1, c_r->prefix, &prefix) == -1) {
			*error_r = error_fmt("\"%s\": the prefix length must "
			    "be a decimal number from 0 to %u", log_safe(s),
			    c_r->prefix);
			return -1;
		}
		c_r->prefix = (unsigned int)prefix;
	}
	if (cidr_mask(c_r->addr, bytes, c_r->prefix)) {
		if (inet_ntop(c_r->family, c_r->addr, shown,
		    sizeof(shown)) == NULL)
			log_panic("cidr: inet_ntop of a parsed address: %m");
		*error_r = error_fmt("%s has host bits set; did you mean "
		    "%s%s%s/%u?", log_safe(s), bracket ? "[" : "", shown,
		    bracket ? "]" : "", c_r->prefix);
		return -1;
	}
	return 0;
}

bool
cidr_match(const struct cidr *c, const char *addr)
{
	uint8_t	 bin[CIDR_V6_LEN];

	if (addr == NULL || addr[0] == '\0')
		return false;
	if (strchr(addr, ':') == NULL) {
		if (c->family != AF_INET || inet_pton(AF_INET, addr, bin) != 1)
			return false;
		return cidr_prefix_equal(bin, c->addr, CIDR_V4_LEN, c->prefix);
	}
	if (inet_pton(AF_INET6, addr, bin) != 1)
		return false;
	if (c->family == AF_INET6)
		return cidr_prefix_equal(bin, c->addr, CIDR_V6_LEN, c->prefix);
	if (c->family != AF_INET || memcmp(bin, cidr_v4mapped_prefix,
	    sizeof(cidr_v4mapped_prefix)) != 0)
		return false;
	return cidr_prefix_equal(bin + CIDR_V4MAPPED_PREFIX_LEN, c->addr,
	    CIDR_V4_LEN, c->prefix);
}

bool
cidr_list_match(char *const *list, const char *addr)
{
	struct cidr	 c;
	const char	*error;
	size_t		 i;

	for (i = 0; list != NULL && list[i] != NULL; i++) {
		/* An entry that does not parse never matches (see conf.c). */
		if (cidr_parse(list[i], &c, &error) == -1)
			continue;
		if (cidr_match(&c, addr))
			return true;
	}
	return false;
}
