/* SPDX-License-Identifier: ISC */
/*
 * Network lists: "192.0.2.0/24", "2001:db8::/32", "[::1]/128", a bare
 * address (a /32 or /128), IPv4-mapped IPv6 clients matched as IPv4.
 */
#ifndef POSTERN_CIDR_H
#define POSTERN_CIDR_H

#include <stdbool.h>
#include <stdint.h>

#include "compat.h"

struct cidr {
	int		 family;	/* AF_INET or AF_INET6 */
	uint8_t		 addr[16];	/* network, host bits cleared */
	unsigned int	 prefix;
};

/* Parses one entry. Returns 0 or -1 (*error_r); host bits set is an error. */
int	cidr_parse(const char *s, struct cidr *c_r, const char **error_r) ATTR_WUR;
/* True when the textual address addr (as net_addr_str prints) is in c. */
bool	cidr_match(const struct cidr *c, const char *addr);
/* True when addr is in any of the list's entries (entries already checked). */
bool	cidr_list_match(char *const *list, const char *addr);

#endif
