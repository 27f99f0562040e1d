/* SPDX-License-Identifier: ISC */
/*
 * Recipient resolution and relay decisions (postern-authd(8)): is an
 * address one of ours, whom does it reach after aliases, catch-alls and
 * sub-addressing, and may this client send to it if it is not ours.
 *
 * Order for an address in a local domain (mydomains, and
 * system_account_domains), after folding to lower case: the alias tables
 * (alias_maps) for the address; a user in user_database; in
 * system_account_domains, a Unix account; with recipient_delimiter, the
 * same for the address without its extension; the catch-all "@domain"
 * in the alias tables; postmaster@ and abuse@ always exist (RFC 5321
 * 4.5.1, RFC 2142).  Alias
 * targets are resolved again, up to authd_max_alias_depth levels, with
 * loops detected; remote targets are forwarded.
 *
 * Routing of an address in no local domain (the recipient, and every
 * remote alias target): the transport_maps tables are searched for the
 * address, its domain, ".parent" for every parent of the domain (nearest
 * first) and "*", in that order, each key in every table before the next
 * key (the first table that has a key wins).  A value "local" makes the
 * address local (resolved as if its domain were in mydomains); "smtp",
 * "relay" or either with ":" and a next hop gives the transport; anything
 * else is a configuration error (RESOLVE_TEMPFAIL).  Without an entry the
 * transport is "smtp:" relayhost, or "smtp:" the recipient's domain.  A
 * transport entry never lets a client relay.
 */
#ifndef POSTERN_AUTHD_RESOLVE_H
#define POSTERN_AUTHD_RESOLVE_H

#include <sys/types.h>

#include <stdbool.h>
#include <stddef.h>

#include "compat.h"
#include "userdb.h"

enum resolve_result {
	RESOLVE_LOCAL,		/* ours; deliver and/or forward say to whom */
	RESOLVE_REMOTE,		/* not ours; relay says whether allowed */
	RESOLVE_UNKNOWN,	/* in a local domain, but no such recipient */
	RESOLVE_TEMPFAIL,	/* a table could not be read */
};

/*
 * A transport is "smtp:" and a next hop, normalised (resolve_nexthop_parse):
 * at most RESOLVE_TRANSPORT_MAX bytes.
 */
#define RESOLVE_TRANSPORT_MAX	300
/* The longest host name of a next hop (RFC 1035 2.3.4). */
#define RESOLVE_HOST_MAX	255

struct resolve_answer {
	enum resolve_result	 result;
	bool			 relay;		/* REMOTE: this client may */
	char			**deliver;	/* local users (NULL-terminated) */
	char			**forward;	/* remote addresses */
	const char		*text;		/* reason, for the log */
	char			*transport;	/* REMOTE: "smtp:NEXTHOP" */
	/*
	 * The transport of each forward[i], in the same order and as many
	 * (NULL-terminated; empty when forward is).
	 */
	char			**forward_transport;
};

struct resolve;

/*
 * Opens the tables that cfg names.  A table whose compiled file is missing
 * makes lookups answer RESOLVE_TEMPFAIL (logged), not a failure here.
 */
struct resolve *resolve_new(void);
void	resolve_free(struct resolve **rp);

/*
 * Resolves rcpt (an address as smtpd parsed it, without <>) for a client
 * at client_ip (textual), authenticated or not.  Always fills *a (free
 * with resolve_answer_deinit): deliver, forward and forward_transport are
 * never NULL, text never NULL.  A remote recipient whose domain cannot
 * be a next hop (not a host name or an address literal) is
 * RESOLVE_UNKNOWN.
 */
void	resolve_rcpt(struct resolve *r, const char *rcpt, const char *client_ip,
	    bool authenticated, struct resolve_answer *a);
void	resolve_answer_deinit(struct resolve_answer *a);

/*
 * Parses a transport_maps value (white space around it ignored, the
 * transport name in any case).  Returns 0 for "local"; 1 for "smtp",
 * "smtp:", "relay" or "relay:" with *nexthop_r NULL (the recipient's
 * domain is the next hop), and for "smtp:NEXTHOP" or "relay:NEXTHOP"
 * with *nexthop_r the next hop as resolve_nexthop_parse() returns it
 * (caller frees); -1 with *error_r for anything else.
 */
int	resolve_transport_parse(const char *value, char **nexthop_r,
	    const char **error_r) ATTR_WUR;
/*
 * Normalises a next hop as a transport value or relayhost writes it:
 * HOST, HOST:PORT, [HOST], [HOST]:PORT, [IPv4], [IPv6] or [ipv6:IPv6],
 * each with an optional :PORT (1..65535, digits only).  HOST is 1 to
 * RESOLVE_HOST_MAX letters, digits, "-", "." and "_", neither starting
 * with "." or "-" nor holding "..", one trailing "." dropped; inside
 * brackets a name of only digits and dots, or one with ":", must be an
 * address that inet_pton() takes.  The result is lower case, without an
 * "ipv6:" tag and with the port in decimal without leading zeros:
 * "example.org", "[2001:db8::1]:2525".  Returns 0 with *nexthop_r
 * (caller frees), or -1 with *error_r.
 */
int	resolve_nexthop_parse(const char *s, char **nexthop_r,
	    const char **error_r) ATTR_WUR;

/* Looks a user up: 1 found (*u filled), 0 not found, -1 temporary failure. */
int	resolve_user(struct resolve *r, const char *address,
	    struct userdb_user *u, const char **error_r) ATTR_WUR;
/* The Maildir folder of u: maildir=, else home/Maildir, else mail_directory/D/U/Maildir (caller frees). */
char	*resolve_maildir(const struct userdb_user *u);
/* mydomains or system_account_domains. */
bool	resolve_domain_is_local(const char *domain);
/* In system_account_domains (case and a trailing dot ignored). */
bool	resolve_domain_is_system(const char *domain);

/*
 * A Unix account as a mailbox owner (system_account_domains): the local
 * part of an address in one of those domains names it (getpwnam, after
 * the alias tables and the users table had their say).  Only names of
 * 1..RESOLVE_ACCOUNT_NAME_MAX lower-case letters, digits, ".", "_" and
 * "-" not starting with "." or "-" are looked up.  An account with uid 0
 * or gid 0, or without an absolute home folder, is no mailbox owner: mail
 * for root must be aliased.
 */
#define RESOLVE_ACCOUNT_NAME_MAX	32

struct resolve_account {
	char	*name;		/* the account's name */
	char	*maildir;	/* HOME/system_account_maildir */
	uid_t	 uid;
	gid_t	 gid;
};

/*
 * Looks address up as a Unix account.  Returns 1 found (*acct_r, free
 * with resolve_account_deinit), 0 not a mailbox owner (*why_r: a reason
 * for the log when an account exists but is refused, else NULL), -1
 * lookup failure (*error_r).
 */
int	resolve_account(const char *address, struct resolve_account *acct_r,
	    const char **why_r, const char **error_r) ATTR_WUR;
void	resolve_account_deinit(struct resolve_account *acct);

#endif
