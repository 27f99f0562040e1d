/* SPDX-License-Identifier: ISC */
/*
 * Recipient resolution and relay decisions (postern-authd(8)): is an
 * address one of ours, whom does it reach after aliases, catch-alls and
 * sub-addressing, and may this client send to it if it is not ours.
 *
 * Order for an address in a local domain (mydomains), after folding to
 * lower case: the alias tables (alias_maps) for the address; a user in
 * user_database; with recipient_delimiter, the same two for the address
 * without its extension; the catch-all "@domain" in the alias tables;
 * postmaster@ and abuse@ always exist (RFC 5321 4.5.1, RFC 2142).  Alias
 * targets are resolved again, up to authd_max_alias_depth levels, with
 * loops detected; remote targets are forwarded.
 */
#ifndef POSTERN_AUTHD_RESOLVE_H
#define POSTERN_AUTHD_RESOLVE_H

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

struct resolve_answer {
	enum resolve_result	 result;
	bool			 relay;		/* REMOTE: this client may */
	char			**deliver;	/* local users (NULL-terminated) */
	char			**forward;	/* remote addresses */
	const char		*text;		/* reason, for the log */
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
 * with resolve_answer_deinit).
 */
void	resolve_rcpt(struct resolve *r, const char *rcpt, const char *client_ip,
	    bool authenticated, struct resolve_answer *a);
void	resolve_answer_deinit(struct resolve_answer *a);

/* Looks a user up: 1 found (*u filled), 0 not found, -1 temporary failure. */
int	resolve_user(struct resolve *r, const char *address,
	    struct userdb_user *u, const char **error_r) ATTR_WUR;
/* The Maildir folder of u: maildir=, else home/Maildir, else mail_directory/D/U/Maildir (caller frees). */
char	*resolve_maildir(const struct userdb_user *u);
bool	resolve_domain_is_local(const char *domain);

#endif
