/* SPDX-License-Identifier: ISC */
/*
 * Where a next hop's mail goes (RFC 5321 5.1, RFC 7505): the ordered list
 * of server addresses the transfer agent tries, found with c-ares on the
 * agent's libevent loop.
 *
 * A next hop is what transport_maps or relayhost name (authd normalised
 * it): "example.org" (MX lookup), "example.org:2525" (MX lookup, that
 * port), "[mx.example.org]" or "[192.0.2.1]:2525" (no MX lookup: the
 * host's own addresses, or the literal).  For an MX lookup the hosts
 * come by preference, hosts of equal preference in random order; a domain
 * without MX records is its own MX (its A and AAAA records); a null MX
 * (RFC 7505: one record, preference 0, host ".") means the domain takes
 * no mail.  When our own name (myhostname) is one of the MX hosts, only
 * the hosts that are more preferred than we are are used (RFC 5321
 * 5.1): none left is a mail loop.  Each host's IPv4 addresses come before
 * its IPv6 ones.
 *
 * c-ares reads /etc/resolv.conf in dns_new(), so call it before chroot;
 * dns_servers replaces the servers it found.
 */
#ifndef POSTERN_TA_DNS_H
#define POSTERN_TA_DNS_H

#include <sys/socket.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compat.h"

#define DNS_HOST_MAX		255
/* MX records of one domain looked at (RFC 5321 asks for no limit). */
#define DNS_MX_MAX		100

struct event_base;
struct dns;
struct dns_lookup;

enum dns_status {
	DNS_OK,			/* addrs has at least one address */
	DNS_NOTFOUND,		/* no address for the hosts: bounce */
	DNS_NODOMAIN,		/* the domain does not exist: bounce */
	DNS_NULLMX,		/* RFC 7505: the domain accepts no mail */
	DNS_LOOP,		/* the best MX is ourselves */
	DNS_TEMPFAIL,		/* try again later */
};

struct dns_addr {
	char			 host[DNS_HOST_MAX + 1];	/* MX host */
	struct sockaddr_storage	 ss;			/* with the port */
	socklen_t		 len;
};

struct dns_answer {
	enum dns_status		 status;
	const char		*text;		/* not OK: why, for the DSN */
	const struct dns_addr	*addrs;
	unsigned int		 naddrs;
};

typedef void dns_cb(const struct dns_answer *a, void *ctx);

/* One parsed next hop. */
struct dns_nexthop {
	char		 host[DNS_HOST_MAX + 1];	/* lower case */
	bool		 mx;		/* look up MX records */
	bool		 literal;	/* host is an IP address */
	uint16_t	 port;		/* 0: the default port */
};

/*
 * Parses a next hop ("host", "host:port", "[host]", "[host]:port",
 * "[IPv4]", "[IPv6]", "[ipv6:IPv6]", each with an optional ":port").
 * Returns 0, or -1 with *error_r.
 */
int	dns_nexthop_parse(const char *s, struct dns_nexthop *nh,
	    const char **error_r) ATTR_WUR;

/* One MX record, for dns_mx_order(). */
struct dns_mx {
	char		 host[DNS_HOST_MAX + 1];
	unsigned int	 pref;
};

/*
 * Orders mx[0..*n) as RFC 5321 5.1 says: by preference, equal ones
 * shuffled (arc4random), then drops every host of a
 * preference equal to or worse than myname's when myname is among them
 * (case-insensitive, trailing dots ignored; myname NULL or "": no check).
 * Returns the status: DNS_OK (*n hosts left), DNS_NULLMX (a single
 * record with host "" or "."; *n set to 0), DNS_LOOP (myname was the
 * best; *n set to 0).  Records with host "" or "." among others are
 * dropped (RFC 7505 3: such a mix is not valid; the real hosts are used).
 */
enum dns_status dns_mx_order(struct dns_mx *mx, unsigned int *n,
	    const char *myname);

/*
 * Makes a resolver on base.  servers: dns_servers entries ("IP",
 * "IP:PORT", "[IPv6]:PORT"), NULL or empty for /etc/resolv.conf's;
 * timeout_ms: per try.  Returns NULL with *error_r.
 */
struct dns *dns_new(struct event_base *base, char *const *servers,
	    unsigned int timeout_ms, const char **error_r);
/* Lookups still running are cancelled without callbacks. */
void	dns_free(struct dns **dp);

/*
 * Resolves nh into at most max addresses, each with port (nh->port, or
 * default_port).  myname: for the MX loop check.  cb runs exactly once,
 * never from inside this call, unless the lookup is cancelled first; the
 * lookup is freed when cb returns (forget the pointer in cb).
 */
struct dns_lookup *dns_lookup(struct dns *d, const struct dns_nexthop *nh,
	    uint16_t default_port, const char *myname, unsigned int max,
	    dns_cb *cb, void *ctx);
/* Cancels; the callback will not run.  NULL allowed; sets *lp = NULL. */
void	dns_lookup_cancel(struct dns_lookup **lp);

#endif
