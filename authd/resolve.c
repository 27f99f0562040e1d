/* SPDX-License-Identifier: ISC */
/*
 * Recipient resolution and relay decisions (resolve.h, postern-authd(8)).
 *
 * An address is folded to lower case and split at its LAST "@"; the part
 * after it is the only domain this module ever acts on.  RFC 5321 source
 * routes ("@a,@b:user@c"), "%" hacks ("user%other@ours") and bang paths
 * ("other!user@ours") are never interpreted: such an address is looked up
 * as it stands in its real domain (and is unknown unless a user or alias
 * of that exact name exists), and relaying on the strength of
 * relay_domains is refused for it, as Postfix's permit_auth_destination
 * does, so that the next hop cannot be made to route it on for us.  An
 * authenticated client or one in mynetworks may relay to such addresses
 * as to any other.
 *
 * In a local domain the order of resolve.h applies.  Alias targets are
 * resolved again, depth-first, with the current expansion path kept so
 * that a loop (a -> b -> a, or a -> a) prunes only that branch; a note of
 * every pruned or dropped branch goes into the answer's text for the
 * log.  Results are de-duplicated.  Every address the expansion visits is
 * remembered with the depth it was seen at, so a diamond of aliases
 * (a: b, c; b: d; c: d) is expanded once, and the number of visits and
 * results is bounded by authd_max_alias_targets: a larger expansion is a
 * configuration error that defers the mail (RESOLVE_TEMPFAIL) instead of
 * losing it or delivering to part of a list.
 *
 * Alias targets: separated by commas and/or white space; a target without
 * "@" is qualified with the domain of the alias that names it (so an
 * aliases file written "postmaster@example.test: alice" works); targets
 * that are programs, files or includes ("|cmd", "/path", ":include:") are
 * not supported and are dropped with a note.  A target in a local domain
 * must resolve to a user of the users table (possibly through further
 * aliases); one that resolves to nothing is dropped with a note.
 *
 * postmaster@ and abuse@ of every local domain exist (RFC 5321 4.5.1,
 * RFC 2142): when nothing above matched them they go to
 * postmaster@FIRST-MYDOMAIN, through its alias or user.  When that does
 * not exist either the answer is still RESOLVE_LOCAL, delivering to
 * "postmaster@FIRST-MYDOMAIN", with a text saying that no such mailbox
 * exists: the SMTP server must accept mail for postmaster, and the
 * delivery agent, which finds no mailbox, defers or bounces it where the
 * administrator will see it in the log.
 *
 * A disabled user (disabled=yes) still receives mail: disabling blocks
 * logins only, so a suspended account does not bounce its correspondents'
 * mail; removing the user is how mail is refused.
 *
 * Unix accounts (system_account_domains, as Postfix's local(8) delivers
 * to the accounts of mydestination): such a domain is local, and after
 * the alias tables and the users table found nothing for a local part,
 * getpwnam() decides.  Only names that look like account names are
 * asked for (resolve.h), so that no address becomes an odd query to an
 * NSS backend.  uid 0 and gid 0 are refused (logged): the delivery agent
 * would never write as root, and mail for root must be aliased, as
 * Postfix's documentation asks too.  A failed getpwnam() (not "no such
 * user") answers RESOLVE_TEMPFAIL.
 *
 * Routing (resolve.h): an address outside the local domains, and every
 * remote alias target, is looked up in transport_maps first, because an
 * entry "local" makes it local: it is then resolved exactly as an
 * address of mydomains (users, aliases, catch-all, postmaster), also at
 * RCPT time, so an unknown user there is unknown, not a relay attempt.
 * This is also why a table that fails, or an entry that cannot be
 * parsed, makes the answer RESOLVE_TEMPFAIL even for a client that may
 * not relay: the entry may have been meant to say "local" ("locla"), and
 * the mail must wait for the fix, not be refused or sent elsewhere.  The
 * keys are Postfix's transport(5) order: the address, the domain,
 * ".parent" for each parent nearest first, "*"; each key is looked up in
 * every table before the next key.  Address literals get no ".parent"
 * keys.  The next hop of a value or of relayhost is checked and
 * normalised (resolve_nexthop_parse()), so that the queue manager and
 * the transfer agent, and smtp_tls_policy_maps keys, see one spelling.
 * A recipient's own domain as next hop is checked with the same rules,
 * except that it takes no port, allows UTF-8 (SMTPUTF8 U-labels, which
 * the transfer agent deals with) and holds an address literal only
 * inside brackets.  Relaying is decided as before: no transport entry
 * lets a client relay.
 *
 * Tables: the users table and every alias_maps table are opened at start;
 * one that cannot be opened is retried at each lookup, which answers
 * RESOLVE_TEMPFAIL meanwhile (so mail is deferred, not rejected), and the
 * failure is logged once per streak.  table_lookup() reopens a table that
 * was rebuilt.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "cidr.h"
#include "conf.h"
#include "error.h"
#include "log.h"
#include "priv.h"
#include "str.h"
#include "table.h"
#include "userdb.h"
#include "xmalloc.h"

#include "resolve.h"

#include "banned.h"

/* Notes for the log in an answer's text; longer ones are cut. */
#define RESOLVE_TEXT_MAX	1024
/* Mailbox folder name under a home or mail_directory/DOMAIN/USER. */
#define RESOLVE_MAILDIR_NAME	"Maildir"

/* A table by name, opened when it can be. */
struct resolve_table {
	char		*name;
	struct table	*t;		/* NULL until it opens */
	bool		 failing;	/* failure logged, no success since */
};

struct resolve {
	struct resolve_table	 users;
	struct resolve_table	*aliases;
	size_t			 naliases;
	struct resolve_table	*transports;
	size_t			 ntransports;
	char			*relayhost;	/* "smtp:NEXTHOP" or NULL */
	char			*relayhost_error; /* why it is bad, or NULL */
};

/* A growing NULL-terminated array of strings. */
struct resolve_list {
	char		**v;
	size_t		  n;
	size_t		  alloc;
};

/* An address seen during one expansion. */
struct resolve_seen {
	char		*addr;
	unsigned int	 depth;		/* shallowest depth expanded at */
	int		 result;	/* what that expansion returned */
	bool		 active;	/* on the current path */
};

/* The state of one resolve_rcpt() expansion. */
struct resolve_ctx {
	struct resolve		*r;
	struct resolve_list	 deliver;
	struct resolve_list	 forward;
	struct resolve_list	 forward_transport;	/* one per forward */
	struct resolve_seen	*seen;
	size_t			 nseen;
	size_t			 seen_alloc;
	struct buf		 notes;
	const char		*tempfail;	/* why expansion stopped */
};

static int	resolve_expand_local(struct resolve_ctx *, const char *,
		    unsigned int);

/* Tables ---------------------------------------------------------------- */

static void
resolve_table_init(struct resolve_table *rt, char *name)
{
	const char	*error;

	rt->name = name;
	rt->failing = false;
	if ((rt->t = table_open(name, cfg->default_database_type,
	    &error)) == NULL) {
		log_warning("resolve: %s (lookups fail "
		    "temporarily until it exists)", error);
		rt->failing = true;
	}
}

/*
 * Looks key up in rt: 1 with *value_r (allocated), 0 absent, -1 with
 * *error_r.  Opens the table first when it has not opened yet.
 */
static int
resolve_table_lookup(struct resolve_table *rt, const char *key,
    char **value_r, const char **error_r)
{
	const char	*value, *error;
	int		 ret;

	*value_r = NULL;
	if (rt->t == NULL &&
	    (rt->t = table_open(rt->name, cfg->default_database_type,
	    &error)) == NULL) {
		if (!rt->failing)
			log_warning("resolve: %s", error);
		rt->failing = true;
		*error_r = error_fmt("table %s unavailable", rt->name);
		return -1;
	}
	if ((ret = table_lookup(rt->t, key, &value, &error)) == -1) {
		if (!rt->failing)
			log_warning("resolve: %s", error);
		rt->failing = true;
		*error_r = error_fmt("table %s unavailable", rt->name);
		return -1;
	}
	if (rt->failing) {
		log_info("resolve: table %s: available again", rt->name);
		rt->failing = false;
	}
	if (ret == 1)
		*value_r = xstrdup(value);
	return ret;
}

/* The first alias table that has key decides, in alias_maps order. */
static int
resolve_alias_lookup(struct resolve *r, const char *key, char **value_r,
    const char **error_r)
{
	size_t	 i;
	int	 ret;

	*value_r = NULL;
	for (i = 0; i < r->naliases; i++) {
		if ((ret = resolve_table_lookup(&r->aliases[i], key, value_r,
		    error_r)) != 0)
			return ret;
	}
	return 0;
}

/*
 * The first transport table that has key decides: 1 with *value_r
 * (allocated) and *table_r its index, 0 absent, -1 with *error_r.
 */
static int
resolve_transport_find(struct resolve *r, const char *key, char **value_r,
    size_t *table_r, const char **error_r)
{
	size_t	 i;
	int	 ret;

	*value_r = NULL;
	for (i = 0; i < r->ntransports; i++) {
		if ((ret = resolve_table_lookup(&r->transports[i], key,
		    value_r, error_r)) != 0) {
			*table_r = i;
			return ret;
		}
	}
	return 0;
}

struct resolve *
resolve_new(void)
{
	struct resolve	*r;
	const char	*error;
	char		*nexthop;
	size_t		 i;

	r = xcalloc(1, sizeof(*r));
	resolve_table_init(&r->users, userdb_table_name());
	r->naliases = conf_list_count(cfg->alias_maps);
	r->aliases = xcalloc(r->naliases + 1, sizeof(*r->aliases));
	for (i = 0; i < r->naliases; i++)
		resolve_table_init(&r->aliases[i],
		    xstrdup(cfg->alias_maps[i]));
	r->ntransports = conf_list_count(cfg->transport_maps);
	r->transports = xcalloc(r->ntransports + 1, sizeof(*r->transports));
	for (i = 0; i < r->ntransports; i++)
		resolve_table_init(&r->transports[i],
		    xstrdup(cfg->transport_maps[i]));
	if (cfg->relayhost != NULL && cfg->relayhost[0] != '\0') {
		if (resolve_nexthop_parse(cfg->relayhost, &nexthop,
		    &error) == 0) {
			r->relayhost = xasprintf("smtp:%s", nexthop);
			free(nexthop);
		} else {
			r->relayhost_error = xasprintf("relayhost %s: %s",
			    log_safe(cfg->relayhost), error);
			log_warning("resolve: %s (mail for remote domains "
			    "is deferred until it is fixed)",
			    r->relayhost_error);
		}
	}
	return r;
}

void
resolve_free(struct resolve **rp)
{
	struct resolve	*r = *rp;
	size_t		 i;

	if (r == NULL)
		return;
	table_close(&r->users.t);
	free(r->users.name);
	for (i = 0; i < r->naliases; i++) {
		table_close(&r->aliases[i].t);
		free(r->aliases[i].name);
	}
	free(r->aliases);
	for (i = 0; i < r->ntransports; i++) {
		table_close(&r->transports[i].t);
		free(r->transports[i].name);
	}
	free(r->transports);
	free(r->relayhost);
	free(r->relayhost_error);
	free(r);
	*rp = NULL;
}

/* Addresses and domains ------------------------------------------------ */

/* Length of a domain without one trailing dot. */
static size_t
resolve_domain_len(const char *d)
{
	size_t	 len = strlen(d);

	if (len > 0 && d[len - 1] == '.')
		len--;
	return len;
}

/* Case-insensitive comparison of two domains, trailing dots ignored. */
static bool
resolve_domain_eq(const char *a, const char *b)
{
	size_t	 alen, blen;

	alen = resolve_domain_len(a);
	blen = resolve_domain_len(b);
	/* ASCII: postern never calls setlocale(), so this is the C locale. */
	return alen == blen && strncasecmp(a, b, alen) == 0;
}

bool
resolve_domain_is_system(const char *domain)
{
	size_t	 i;

	if (resolve_domain_len(domain) == 0)
		return false;
	for (i = 0; cfg->system_account_domains != NULL &&
	    cfg->system_account_domains[i] != NULL; i++)
		if (resolve_domain_eq(domain, cfg->system_account_domains[i]))
			return true;
	return false;
}

bool
resolve_domain_is_local(const char *domain)
{
	size_t	 i;

	if (resolve_domain_len(domain) == 0)
		return false;
	for (i = 0; cfg->mydomains != NULL && cfg->mydomains[i] != NULL; i++)
		if (resolve_domain_eq(domain, cfg->mydomains[i]))
			return true;
	return resolve_domain_is_system(domain);
}

/* True when domain is in relay_domains (".parent" entries: subdomains). */
static bool
resolve_domain_relayed(const char *domain)
{
	const char	*e;
	size_t		 i, dlen, elen;

	dlen = resolve_domain_len(domain);
	for (i = 0; cfg->relay_domains != NULL &&
	    cfg->relay_domains[i] != NULL; i++) {
		e = cfg->relay_domains[i];
		if (e[0] != '.') {
			if (resolve_domain_eq(domain, e))
				return true;
			continue;
		}
		/* ".example.test": any name below example.test. */
		elen = resolve_domain_len(e);
		if (elen > 1 && dlen > elen &&
		    strncasecmp(domain + dlen - elen, e, elen) == 0)
			return true;
	}
	return false;
}

/*
 * Folds addr into a new "local@domain" (lower case, the domain without a
 * trailing dot); *at_r is the offset of the "@".  Returns NULL with
 * *error_r for an address that cannot be resolved.
 */
static char *
resolve_normalize(const char *addr, size_t *at_r, const char **error_r)
{
	const unsigned char *p;
	char	*s, *at;
	size_t	 len;

	if (addr == NULL || addr[0] == '\0') {
		*error_r = "empty address";
		return NULL;
	}
	len = strlen(addr);
	if (len > USERDB_ADDRESS_MAX) {
		*error_r = "address too long";
		return NULL;
	}
	for (p = (const unsigned char *)addr; *p != '\0'; p++) {
		if (*p < 0x20 || *p == 0x7f) {
			*error_r = "control character in address";
			return NULL;
		}
	}
	s = str_lower(xstrdup(addr));
	if ((at = strrchr(s, '@')) == NULL) {
		free(s);
		*error_r = "address without a domain";
		return NULL;
	}
	if (at == s) {
		free(s);
		*error_r = "address without a local part";
		return NULL;
	}
	len = strlen(s);
	if (s[len - 1] == '.')
		s[--len] = '\0';
	if (at[1] == '\0' || at[1] == '.') {
		free(s);
		*error_r = "address without a valid domain";
		return NULL;
	}
	*at_r = (size_t)(at - s);
	return s;
}

/* True when the local part holds routing that we refuse to interpret. */
static bool
resolve_has_routing(const char *addr, size_t at)
{
	return addr[0] == '@' || memchr(addr, '%', at) != NULL ||
	    memchr(addr, '!', at) != NULL || memchr(addr, '@', at) != NULL;
}

/* Routing (transport_maps, relayhost) --------------------------------- */

/* The largest port of a next hop. */
#define RESOLVE_PORT_MAX	65535

/*
 * A host name of a next hop (len bytes at h, one trailing dot already
 * dropped): letters, digits, "-", "." and "_", no leading "." or "-", no
 * empty label; with utf8 also bytes >= 0x80 (a recipient's U-labels).
 */
static bool
resolve_host_valid(const char *h, size_t len, bool utf8)
{
	unsigned char	 ch;
	size_t		 i;

	if (len == 0 || len > RESOLVE_HOST_MAX || h[0] == '.' || h[0] == '-')
		return false;
	for (i = 0; i < len; i++) {
		ch = (unsigned char)h[i];
		if (ch == '.' && (i + 1 == len || h[i + 1] == '.'))
			return false;
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' ||
		    ch == '_' || (utf8 && ch >= 0x80)))
			return false;
	}
	return true;
}

/*
 * Checks and normalises the inside of "[...]" (lower case already) in
 * place: an address literal, or with !domain a host name.  Returns the
 * text to put between the brackets (inside s), or NULL with *error_r.
 */
static const char *
resolve_nexthop_literal(char *s, bool domain, const char **error_r)
{
	struct in6_addr	 a6;
	struct in_addr	 a4;
	size_t		 len = strlen(s);

	if (str_has_prefix(s, "ipv6:") || strchr(s, ':') != NULL) {
		if (str_has_prefix(s, "ipv6:"))
			s += strlen("ipv6:");
		if (inet_pton(AF_INET6, s, &a6) != 1) {
			*error_r = "bad IPv6 address literal";
			return NULL;
		}
		return s;
	}
	if (len > 0 && strspn(s, "0123456789.") == len) {
		if (inet_pton(AF_INET, s, &a4) != 1) {
			*error_r = "bad IPv4 address literal";
			return NULL;
		}
		return s;
	}
	if (domain) {
		*error_r = "not an address literal";
		return NULL;
	}
	if (len > 0 && s[len - 1] == '.')
		s[--len] = '\0';
	if (!resolve_host_valid(s, len, false)) {
		*error_r = len > RESOLVE_HOST_MAX ? "host name too long" :
		    "bad host name";
		return NULL;
	}
	return s;
}

/*
 * resolve_nexthop_parse(), or with domain the recipient's own domain
 * (lower case, no trailing dot): no port, UTF-8 allowed, brackets only
 * around an address literal.
 */
static int
resolve_nexthop_norm(const char *s, bool domain, char **nexthop_r,
    const char **error_r)
{
	const char	*p, *close, *text;
	char		*host;
	uint64_t	 port = 0;
	size_t		 hlen;
	bool		 bracket = s[0] == '[';

	*nexthop_r = NULL;
	if (bracket) {
		if ((close = strchr(s, ']')) == NULL) {
			*error_r = "\"[\" without \"]\"";
			return -1;
		}
		hlen = (size_t)(close - s - 1);
		p = close + 1;
	} else {
		hlen = strcspn(s, ":");
		p = s + hlen;
	}
	if (hlen == 0) {
		*error_r = "no host";
		return -1;
	}
	if (*p == ':') {
		if (domain) {
			*error_r = "a port in a domain";
			return -1;
		}
		if (parse_u64(p + 1, RESOLVE_PORT_MAX, &port) == -1 ||
		    port == 0) {
			*error_r = "bad port (1 to 65535, digits only)";
			return -1;
		}
	} else if (*p != '\0') {
		*error_r = "text after \"]\"";
		return -1;
	}
	host = str_lower(xstrndup(bracket ? s + 1 : s, hlen));
	if (bracket)
		text = resolve_nexthop_literal(host, domain, error_r);
	else {
		if (!domain && host[hlen - 1] == '.')
			host[--hlen] = '\0';
		text = host;
		if (!resolve_host_valid(host, hlen, domain)) {
			*error_r = hlen > RESOLVE_HOST_MAX ?
			    "host name too long" : "bad host name";
			text = NULL;
		}
	}
	if (text == NULL) {
		free(host);
		return -1;
	}
	if (port != 0)
		*nexthop_r = xasprintf("%s%s%s:%u", bracket ? "[" : "", text,
		    bracket ? "]" : "", (unsigned int)port);
	else
		*nexthop_r = xasprintf("%s%s%s", bracket ? "[" : "", text,
		    bracket ? "]" : "");
	free(host);
	return 0;
}

int
resolve_nexthop_parse(const char *s, char **nexthop_r, const char **error_r)
{
	return resolve_nexthop_norm(s, false, nexthop_r, error_r);
}

/* True for the white space a table value may carry at its ends. */
static bool
resolve_is_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

int
resolve_transport_parse(const char *value, char **nexthop_r,
    const char **error_r)
{
	const char	*rest;
	char		*v;
	size_t		 len, nlen;
	int		 ret = 1;

	*nexthop_r = NULL;
	while (resolve_is_space(*value))
		value++;
	len = strlen(value);
	while (len > 0 && resolve_is_space(value[len - 1]))
		len--;
	v = xstrndup(value, len);
	nlen = strcspn(v, ":");
	rest = v[nlen] == ':' ? v + nlen + 1 : NULL;
	if (nlen == strlen("local") && strncasecmp(v, "local", nlen) == 0) {
		if (rest == NULL)
			ret = 0;
		else {
			*error_r = "local takes no next hop";
			ret = -1;
		}
	} else if ((nlen == strlen("smtp") &&
	    strncasecmp(v, "smtp", nlen) == 0) ||
	    (nlen == strlen("relay") && strncasecmp(v, "relay", nlen) == 0)) {
		/* "relay" is Postfix's name for the same SMTP client. */
		if (rest != NULL && *rest != '\0' &&
		    resolve_nexthop_norm(rest, false, nexthop_r, error_r) == -1)
			ret = -1;
	} else if (nlen == 0) {
		*error_r = "no transport";
		ret = -1;
	} else {
		v[nlen] = '\0';
		*error_r = error_fmt("unknown transport %s (local, smtp or "
		    "relay)", log_safe(v));
		ret = -1;
	}
	free(v);
	return ret;
}

/*
 * Routes addr (normalised, in no local domain; its "@" at offset at):
 * RESOLVE_REMOTE with *transport_r (allocated), RESOLVE_LOCAL when a
 * transport entry says "local", RESOLVE_UNKNOWN when the recipient's
 * domain would be the next hop but cannot be one, RESOLVE_TEMPFAIL when
 * a table failed or an entry or relayhost is bad; *error_r says why for
 * the last two.
 */
static enum resolve_result
resolve_route(struct resolve *r, const char *addr, size_t at,
    char **transport_r, const char **error_r)
{
	const char	*domain = addr + at + 1, *key, *p, *error;
	char		*value, *nexthop;
	size_t		 table = 0;
	int		 ret;

	*transport_r = NULL;
	key = addr;
	ret = resolve_transport_find(r, key, &value, &table, error_r);
	if (ret == 0) {
		key = domain;
		ret = resolve_transport_find(r, key, &value, &table, error_r);
	}
	/* ".sub.example.com", ".example.com", ".com"; none for "[...]". */
	for (p = domain[0] == '[' ? NULL : strchr(domain, '.');
	    ret == 0 && p != NULL; p = strchr(p + 1, '.')) {
		key = p;
		ret = resolve_transport_find(r, key, &value, &table, error_r);
	}
	if (ret == 0) {
		key = "*";
		ret = resolve_transport_find(r, key, &value, &table, error_r);
	}
	if (ret == -1)
		return RESOLVE_TEMPFAIL;

	if (ret == 1) {
		ret = resolve_transport_parse(value, &nexthop, &error);
		if (ret == -1)
			*error_r = error_fmt("transport_maps %s: %s: bad value "
			    "\"%s\": %s", r->transports[table].name,
			    log_safe(key), log_safe(value), error);
		free(value);
		if (ret == -1)
			return RESOLVE_TEMPFAIL;
		if (ret == 0)
			return RESOLVE_LOCAL;
		/* With no next hop: the recipient's domain, not relayhost. */
	} else if (r->relayhost != NULL) {
		*transport_r = xstrdup(r->relayhost);
		return RESOLVE_REMOTE;
	} else if (r->relayhost_error != NULL) {
		*error_r = r->relayhost_error;
		return RESOLVE_TEMPFAIL;
	} else
		nexthop = NULL;

	if (nexthop == NULL && resolve_nexthop_norm(domain, true, &nexthop,
	    &error) == -1) {
		*error_r = error_fmt("domain %s cannot be a next hop: %s",
		    log_safe(domain), error);
		return RESOLVE_UNKNOWN;
	}
	*transport_r = xasprintf("smtp:%s", nexthop);
	free(nexthop);
	if (strlen(*transport_r) > RESOLVE_TRANSPORT_MAX)
		log_panic("resolve: transport %s too long",
		    log_safe(*transport_r));
	return RESOLVE_REMOTE;
}

/* Expansion state ------------------------------------------------------ */

static bool
resolve_list_has(const struct resolve_list *l, const char *s)
{
	size_t	 i;

	for (i = 0; i < l->n; i++)
		if (strcmp(l->v[i], s) == 0)
			return true;
	return false;
}

static void
resolve_list_add(struct resolve_list *l, const char *s)
{
	if (l->n + 2 > l->alloc) {
		l->alloc = l->alloc == 0 ? 8 : l->alloc * 2;
		l->v = xreallocarray(l->v, l->alloc, sizeof(*l->v));
	}
	l->v[l->n++] = xstrdup(s);
	l->v[l->n] = NULL;
}

static void
resolve_list_free(struct resolve_list *l)
{
	size_t	 i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* An empty NULL-terminated array when l holds nothing. */
static char **
resolve_list_steal(struct resolve_list *l)
{
	char	**v;

	if (l->v == NULL)
		v = xcalloc(1, sizeof(*v));
	else
		v = l->v;
	memset(l, 0, sizeof(*l));
	return v;
}

static void	resolve_note(struct resolve_ctx *, const char *, ...)
		    ATTR_PRINTF(2, 3);

/* Adds a note for the log ("; "-separated; cut at RESOLVE_TEXT_MAX). */
static void
resolve_note(struct resolve_ctx *ctx, const char *fmt, ...)
{
	va_list	 ap;
	size_t	 len = ctx->notes.len;

	if (len > 0 && buf_append_str(&ctx->notes, "; ") == -1)
		return;
	va_start(ap, fmt);
	if (buf_vprintf(&ctx->notes, fmt, ap) == -1)
		buf_truncate(&ctx->notes, len);
	va_end(ap);
}

/* Stops the expansion: it grew past authd_max_alias_targets. */
static int
resolve_too_large(struct resolve_ctx *ctx)
{
	ctx->tempfail = "alias expansion too large";
	return -1;
}

/* Adds a result to l unless present; -1 when there are too many. */
static int
resolve_add_result(struct resolve_ctx *ctx, struct resolve_list *l,
    const char *addr)
{
	if (resolve_list_has(l, addr))
		return 1;
	if (ctx->deliver.n + ctx->forward.n >= cfg->authd_max_alias_targets)
		return resolve_too_large(ctx);
	resolve_list_add(l, addr);
	return 1;
}

/* Adds a remote target and its transport unless present; -1: too many. */
static int
resolve_add_forward(struct resolve_ctx *ctx, const char *addr,
    const char *transport)
{
	if (resolve_list_has(&ctx->forward, addr))
		return 1;
	if (resolve_add_result(ctx, &ctx->forward, addr) == -1)
		return -1;
	resolve_list_add(&ctx->forward_transport, transport);
	return 1;
}

static struct resolve_seen *
resolve_seen_find(struct resolve_ctx *ctx, const char *addr)
{
	size_t	 i;

	for (i = 0; i < ctx->nseen; i++)
		if (strcmp(ctx->seen[i].addr, addr) == 0)
			return &ctx->seen[i];
	return NULL;
}

/*
 * A target addr (normalised, its "@" at at) in no local domain: a
 * forward with its transport, or local by a transport entry.  Returns as
 * resolve_target().
 */
static int
resolve_target_route(struct resolve_ctx *ctx, const char *addr, size_t at,
    unsigned int depth)
{
	const char	*error;
	char		*transport;
	int		 ret;

	switch (resolve_route(ctx->r, addr, at, &transport, &error)) {
	case RESOLVE_LOCAL:
		return resolve_expand_local(ctx, addr, depth);
	case RESOLVE_REMOTE:
		ret = resolve_add_forward(ctx, addr, transport);
		free(transport);
		return ret;
	case RESOLVE_UNKNOWN:
		resolve_note(ctx, "target %s: %s, dropped", log_safe(addr),
		    error);
		return 0;
	case RESOLVE_TEMPFAIL:
		break;
	}
	ctx->tempfail = error;
	return -1;
}

/*
 * Resolves one alias target (as written in the table) found while
 * expanding the alias of domain at depth.  Returns 1 when it reached
 * someone, 0 when not, -1 to stop the expansion.
 */
static int
resolve_target(struct resolve_ctx *ctx, const char *target,
    const char *domain, unsigned int depth)
{
	const char	*error;
	char		*raw, *addr;
	size_t		 at;
	int		 ret;

	if (target[0] == '|' || target[0] == '/' ||
	    str_has_prefix(target, ":include:")) {
		resolve_note(ctx, "target %s not supported, dropped",
		    log_safe(target));
		return 0;
	}
	if (strchr(target, '@') == NULL)
		raw = xasprintf("%s@%s", target, domain);
	else
		raw = xstrdup(target);
	if ((addr = resolve_normalize(raw, &at, &error)) == NULL) {
		resolve_note(ctx, "target %s: %s, dropped", log_safe(raw),
		    error);
		free(raw);
		return 0;
	}
	free(raw);
	if (resolve_domain_is_local(addr + at + 1))
		ret = resolve_expand_local(ctx, addr, depth);
	else if (resolve_list_has(&ctx->forward, addr))
		ret = 1;		/* routed already */
	else
		ret = resolve_target_route(ctx, addr, at, depth);
	free(addr);
	return ret;
}

/* Expands an alias value ("a, b c"): 1 when a target reached someone. */
static int
resolve_expand_value(struct resolve_ctx *ctx, const char *value,
    const char *domain, unsigned int depth)
{
	char	*copy, *p, *t;
	int	 ret, any = 0;

	copy = xstrdup(value);
	for (p = copy; *p != '\0';) {
		while (*p == ',' || *p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			break;
		t = p;
		while (*p != '\0' && *p != ',' && *p != ' ' && *p != '\t')
			p++;
		if (*p != '\0')
			*p++ = '\0';
		if ((ret = resolve_target(ctx, t, domain, depth)) == -1) {
			free(copy);
			return -1;
		}
		if (ret == 1)
			any = 1;
	}
	free(copy);
	return any;
}

/* key as a Unix account: 1 a mailbox owner, 0 not, -1 stop. */
static int
resolve_try_account(struct resolve_ctx *ctx, const char *key)
{
	struct resolve_account acct;
	const char	*why;
	int		 ret;

	ret = resolve_account(key, &acct, &why, &ctx->tempfail);
	if (ret == 1)
		resolve_account_deinit(&acct);
	else if (ret == 0 && why != NULL) {
		log_info("resolve: <%s>: %s", log_safe(key), why);
		resolve_note(ctx, "%s: %s", log_safe(key), why);
	}
	return ret;
}

/*
 * Looks key up as an alias (expanded at depth + 1) and then as a user.
 * Returns 1 reached someone, 0 nothing matched or reached, -1 stop;
 * *matched_r says whether an alias or user matched.
 */
static int
resolve_try(struct resolve_ctx *ctx, const char *key, const char *domain,
    unsigned int depth, bool *matched_r)
{
	char	*value;
	int	 ret;

	if ((ret = resolve_alias_lookup(ctx->r, key, &value,
	    &ctx->tempfail)) == -1)
		return -1;
	if (ret == 1) {
		*matched_r = true;
		ret = resolve_expand_value(ctx, value, domain, depth + 1);
		free(value);
		return ret;
	}
	if (key[0] == '@')
		return 0;		/* a catch-all is never a user */
	if ((ret = resolve_table_lookup(&ctx->r->users, key, &value,
	    &ctx->tempfail)) == -1)
		return -1;
	free(value);
	if (ret == 0 && resolve_domain_is_system(domain))
		ret = resolve_try_account(ctx, key);
	if (ret <= 0)
		return ret;
	*matched_r = true;
	return resolve_add_result(ctx, &ctx->deliver, key);
}

/* postmaster@ and abuse@ of any local domain: see the top of the file. */
static int
resolve_postmaster(struct resolve_ctx *ctx, const char *addr,
    unsigned int depth)
{
	struct resolve_seen *s;
	char	*pm;
	int	 ret;

	if (cfg->mydomains == NULL || cfg->mydomains[0] == NULL)
		return 0;
	pm = xasprintf("postmaster@%.*s",
	    (int)resolve_domain_len(cfg->mydomains[0]), cfg->mydomains[0]);
	str_lower(pm);
	if (strcmp(pm, addr) == 0) {
		resolve_note(ctx, "no mailbox for %s exists", pm);
		ret = resolve_add_result(ctx, &ctx->deliver, pm);
	} else if ((s = resolve_seen_find(ctx, pm)) != NULL && s->active)
		ret = 0;	/* the outer postmaster@ level decides */
	else
		ret = resolve_expand_local(ctx, pm, depth + 1);
	free(pm);
	return ret;
}

/* True when the local part (before at) is postmaster or abuse. */
static bool
resolve_is_role(const char *local, size_t len)
{
	return (len == strlen("postmaster") &&
	    strncmp(local, "postmaster", len) == 0) ||
	    (len == strlen("abuse") && strncmp(local, "abuse", len) == 0);
}

/* The steps of resolve.h for a normalized address of a local domain. */
static int
resolve_lookup_local(struct resolve_ctx *ctx, const char *addr,
    unsigned int depth)
{
	const char	*at = strrchr(addr, '@'), *domain = at + 1;
	char		*key;
	size_t		 base;
	bool		 matched = false;
	int		 ret;

	if ((ret = resolve_try(ctx, addr, domain, depth, &matched)) != 0)
		return ret;

	/* alice+lists@: alice@, at the first of any delimiter character. */
	base = (size_t)(at - addr);
	if (cfg->recipient_delimiter[0] != '\0')
		base = strcspn(addr, cfg->recipient_delimiter);
	if (base == 0 || base > (size_t)(at - addr))
		base = (size_t)(at - addr);
	if (!matched && base < (size_t)(at - addr)) {
		key = xasprintf("%.*s%s", (int)base, addr, at);
		ret = resolve_try(ctx, key, domain, depth, &matched);
		free(key);
		if (ret != 0)
			return ret;
	}

	if (!matched) {
		key = xasprintf("@%s", domain);
		ret = resolve_try(ctx, key, domain, depth, &matched);
		free(key);
		if (ret != 0)
			return ret;
	}

	/*
	 * Whatever matched above reached nobody (or nothing matched): the
	 * roles still exist.
	 */
	if (resolve_is_role(addr, base))
		return resolve_postmaster(ctx, addr, depth);
	return 0;
}

/*
 * Expands addr (normalized, in a local domain) at depth: 1 reached
 * someone, 0 nothing, -1 stop (ctx->tempfail says why).
 */
static int
resolve_expand_local(struct resolve_ctx *ctx, const char *addr,
    unsigned int depth)
{
	struct resolve_seen *s;
	size_t		 idx;
	int		 ret;

	if ((s = resolve_seen_find(ctx, addr)) != NULL) {
		if (s->active) {
			resolve_note(ctx, "alias loop at %s ignored",
			    log_safe(addr));
			return 0;
		}
		if (s->depth <= depth)
			return s->result;	/* done, as deep or less */
	}
	if (depth > cfg->authd_max_alias_depth) {
		resolve_note(ctx, "alias depth limit (%u) reached at %s",
		    cfg->authd_max_alias_depth, log_safe(addr));
		return 0;
	}
	if (s == NULL) {
		/*
		 * Every visit names one address; an expansion that visits
		 * twice as many as it may deliver to is not an honest list.
		 */
		if (ctx->nseen >= 2 * (size_t)cfg->authd_max_alias_targets)
			return resolve_too_large(ctx);
		if (ctx->nseen == ctx->seen_alloc) {
			ctx->seen_alloc = ctx->seen_alloc == 0 ? 16 :
			    ctx->seen_alloc * 2;
			ctx->seen = xreallocarray(ctx->seen, ctx->seen_alloc,
			    sizeof(*ctx->seen));
		}
		s = &ctx->seen[ctx->nseen++];
		s->addr = xstrdup(addr);
	}
	idx = (size_t)(s - ctx->seen);
	s->active = true;
	s->depth = depth;
	s->result = 0;
	ret = resolve_lookup_local(ctx, addr, depth);
	/* ctx->seen may have moved. */
	s = &ctx->seen[idx];
	s->active = false;
	s->result = ret;
	if (ret == 0 && depth > 0)
		resolve_note(ctx, "%s: no such recipient, dropped",
		    log_safe(addr));
	return ret;
}

/* Answers ------------------------------------------------------------- */

static void
resolve_answer_set(struct resolve_answer *a, enum resolve_result result,
    const char *text)
{
	a->result = result;
	free((char *)a->text);
	a->text = xstrdup(text);
}

/* The relay decision for addr (normalised; not local), unchanged by routes. */
static void
resolve_relay(struct resolve_answer *a, const char *addr, size_t at,
    const char *client_ip, bool authenticated)
{
	const char	*domain = addr + at + 1;

	a->result = RESOLVE_REMOTE;
	if (authenticated) {
		a->relay = true;
		resolve_answer_set(a, RESOLVE_REMOTE, "relay: authenticated");
	} else if (client_ip != NULL &&
	    cidr_list_match(cfg->mynetworks, client_ip)) {
		a->relay = true;
		resolve_answer_set(a, RESOLVE_REMOTE,
		    "relay: client in mynetworks");
	} else if (!resolve_domain_relayed(domain)) {
		resolve_answer_set(a, RESOLVE_REMOTE, "relay access denied");
	} else if (resolve_has_routing(addr, at)) {
		resolve_answer_set(a, RESOLVE_REMOTE, "relay access "
		    "denied: sender-specified routing in the address");
	} else {
		a->relay = true;
		resolve_answer_set(a, RESOLVE_REMOTE, "relay: relay_domains");
	}
}

void
resolve_rcpt(struct resolve *r, const char *rcpt, const char *client_ip,
    bool authenticated, struct resolve_answer *a)
{
	struct resolve_ctx ctx;
	enum resolve_result route;
	const char	*error;
	char		*addr, *transport;
	size_t		 at, i;
	int		 ret;

	memset(a, 0, sizeof(*a));
	a->deliver = xcalloc(1, sizeof(*a->deliver));
	a->forward = xcalloc(1, sizeof(*a->forward));
	a->forward_transport = xcalloc(1, sizeof(*a->forward_transport));
	if ((addr = resolve_normalize(rcpt, &at, &error)) == NULL) {
		resolve_answer_set(a, RESOLVE_UNKNOWN, error);
		return;
	}

	if (!resolve_domain_is_local(addr + at + 1)) {
		route = resolve_route(r, addr, at, &transport, &error);
		if (route == RESOLVE_REMOTE) {
			resolve_relay(a, addr, at, client_ip, authenticated);
			a->transport = transport;
		} else if (route != RESOLVE_LOCAL)
			resolve_answer_set(a, route, error);
		if (route != RESOLVE_LOCAL) {
			free(addr);
			return;
		}
		/* A transport entry "local": as a domain of mydomains. */
	}

	memset(&ctx, 0, sizeof(ctx));
	ctx.r = r;
	buf_init(&ctx.notes, 128, RESOLVE_TEXT_MAX);
	ret = resolve_expand_local(&ctx, addr, 0);
	if (ret == -1) {
		resolve_answer_set(a, RESOLVE_TEMPFAIL, ctx.tempfail != NULL ?
		    ctx.tempfail : "temporary failure");
	} else if (ctx.deliver.n + ctx.forward.n == 0) {
		/* As ret == 0, whatever memoized visits returned. */
		a->result = RESOLVE_UNKNOWN;
		a->text = xasprintf("no such recipient%s%s",
		    ctx.notes.len > 0 ? ": " : "", buf_cstr(&ctx.notes));
	} else {
		a->result = RESOLVE_LOCAL;
		free(a->deliver);
		free(a->forward);
		free(a->forward_transport);
		a->deliver = resolve_list_steal(&ctx.deliver);
		a->forward = resolve_list_steal(&ctx.forward);
		a->forward_transport = resolve_list_steal(
		    &ctx.forward_transport);
		a->text = xstrdup(buf_cstr(&ctx.notes));
	}
	resolve_list_free(&ctx.deliver);
	resolve_list_free(&ctx.forward);
	resolve_list_free(&ctx.forward_transport);
	for (i = 0; i < ctx.nseen; i++)
		free(ctx.seen[i].addr);
	free(ctx.seen);
	buf_deinit(&ctx.notes);
	free(addr);
}

void
resolve_answer_deinit(struct resolve_answer *a)
{
	size_t	 i;

	for (i = 0; a->deliver != NULL && a->deliver[i] != NULL; i++)
		free(a->deliver[i]);
	free(a->deliver);
	for (i = 0; a->forward != NULL && a->forward[i] != NULL; i++)
		free(a->forward[i]);
	free(a->forward);
	for (i = 0; a->forward_transport != NULL &&
	    a->forward_transport[i] != NULL; i++)
		free(a->forward_transport[i]);
	free(a->forward_transport);
	free(a->transport);
	/* text is always allocated here (resolve_answer_set and friends). */
	free((char *)a->text);
	memset(a, 0, sizeof(*a));
}

/* Users and mailboxes ------------------------------------------------- */

int
resolve_user(struct resolve *r, const char *address, struct userdb_user *u,
    const char **error_r)
{
	char	*addr, *value;
	size_t	 len;
	int	 ret;

	memset(u, 0, sizeof(*u));
	len = strlen(address);
	if (len == 0 || len > USERDB_ADDRESS_MAX ||
	    strchr(address, '@') == NULL)
		return 0;
	addr = str_lower(xstrdup(address));
	if ((ret = resolve_table_lookup(&r->users, addr, &value,
	    error_r)) == 1) {
		if (userdb_parse_value(addr, value, u, error_r) == -1) {
			log_error("resolve: table %s: bad entry for %s: %s",
			    r->users.name, log_safe(addr), *error_r);
			memset(u, 0, sizeof(*u));
			ret = -1;
		}
		free(value);
	}
	free(addr);
	return ret;
}

/*
 * Copies a path component from an address, with "/" and a leading "."
 * replaced by "_", so that no address can name a folder outside
 * mail_directory (the users file should not hold such addresses, but this
 * is the last line before a path is built).
 */
static void
resolve_path_part(struct buf *b, const char *s, size_t len)
{
	size_t	 i;
	char	 ch;

	for (i = 0; i < len; i++) {
		ch = s[i];
		if (ch == '/' || (i == 0 && ch == '.'))
			ch = '_';
		if (buf_append_byte(b, (uint8_t)ch) == -1)
			log_panic("resolve: path buffer full");
	}
}

char *
resolve_maildir(const struct userdb_user *u)
{
	struct buf	 b;
	const char	*at;
	char		*path;

	if (u->maildir != NULL && u->maildir[0] != '\0')
		return xstrdup(u->maildir);
	if (u->home != NULL && u->home[0] != '\0')
		return xasprintf("%s/%s", u->home, RESOLVE_MAILDIR_NAME);
	if ((at = strrchr(u->address, '@')) == NULL)
		at = u->address + strlen(u->address);
	buf_init(&b, 256, SIZE_MAX / 2);
	if (buf_printf(&b, "%s/", cfg->mail_directory) == -1)
		log_panic("resolve: path buffer full");
	resolve_path_part(&b, *at != '\0' ? at + 1 : "", *at != '\0' ?
	    strlen(at + 1) : 0);
	if (buf_append_byte(&b, '/') == -1)
		log_panic("resolve: path buffer full");
	resolve_path_part(&b, u->address, (size_t)(at - u->address));
	if (buf_printf(&b, "/%s", RESOLVE_MAILDIR_NAME) == -1)
		log_panic("resolve: path buffer full");
	path = buf_steal(&b);
	buf_deinit(&b);
	return path;
}

/* Unix accounts -------------------------------------------------------- */

/* A name resolve.h lets reach getpwnam(). */
static bool
resolve_account_name_valid(const char *name, size_t len)
{
	size_t	 i;
	char	 ch;

	if (len == 0 || len > RESOLVE_ACCOUNT_NAME_MAX || name[0] == '.' ||
	    name[0] == '-')
		return false;
	for (i = 0; i < len; i++) {
		ch = name[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
		    ch == '.' || ch == '_' || ch == '-'))
			return false;
	}
	return true;
}

int
resolve_account(const char *address, struct resolve_account *acct_r,
    const char **why_r, const char **error_r)
{
	struct priv_account pa;
	const char	*at;
	char		*name;
	size_t		 len;
	int		 ret;

	memset(acct_r, 0, sizeof(*acct_r));
	*why_r = NULL;
	if ((at = strrchr(address, '@')) == NULL ||
	    !resolve_domain_is_system(at + 1) ||
	    !resolve_account_name_valid(address, (size_t)(at - address)))
		return 0;
	name = xstrndup(address, (size_t)(at - address));
	ret = priv_lookup_account(name, &pa, error_r);
	if (ret != 1) {
		free(name);
		return ret;
	}
	if (pa.uid == 0 || pa.gid == 0)
		*why_r = error_fmt("Unix account %s has %s 0: not a mailbox "
		    "owner (alias it)", name, pa.uid == 0 ? "uid" : "gid");
	else if (pa.home[0] != '/')
		*why_r = error_fmt("Unix account %s has no absolute home "
		    "folder: not a mailbox owner", name);
	if (*why_r != NULL) {
		priv_account_deinit(&pa);
		free(name);
		return 0;
	}
	acct_r->name = name;
	acct_r->uid = pa.uid;
	acct_r->gid = pa.gid;
	/* Without trailing slashes: "/" gives "/Maildir", not "//Maildir". */
	len = strlen(pa.home);
	while (len > 0 && pa.home[len - 1] == '/')
		len--;
	acct_r->maildir = xasprintf("%.*s/%s", (int)len, pa.home,
	    cfg->system_account_maildir);
	priv_account_deinit(&pa);
	return 1;
}

void
resolve_account_deinit(struct resolve_account *acct)
{
	free(acct->name);
	free(acct->maildir);
	memset(acct, 0, sizeof(*acct));
}
