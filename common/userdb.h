/* SPDX-License-Identifier: ISC */
/*
 * The users file and its compiled table (postern-tables(5)).
 *
 * The text file is Dovecot's passwd-file layout, so one can be used as it
 * is: one user a line,
 *	address:hash[:uid:gid:gecos:home:shell[:extra fields]]
 * address is user@domain (folded to lower case), hash one of passwd.h's
 * forms, uid/gid/gecos/shell are ignored (virtual users), home is the
 * mailbox folder (the Maildir is home/Maildir), and the extra fields are
 * space-separated key=value words: quota=SIZE (k/m/g suffixes), maildir=PATH
 * (overrides home), disabled=yes.  Blank lines and "#" comments are kept
 * verbatim when postctl rewrites the file.
 *
 * The compiled table maps each address to the rest of its line; its name
 * is cfg->user_database (TYPE:FILE, FILE being the text file).
 */
#ifndef POSTERN_USERDB_H
#define POSTERN_USERDB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compat.h"

#define USERDB_ADDRESS_MAX	320	/* RFC 5321: 64 + 1 + 255 */

struct userdb_user {
	char		*address;	/* lower case */
	char		*hash;		/* as stored, prefix included */
	char		*home;		/* "" when none */
	char		*maildir;	/* "" when none */
	uint64_t	 quota;		/* bytes; 0 = none */
	bool		 disabled;
};

/*
 * Parses one line (without its newline).  Returns 1 with *u (free with
 * userdb_user_deinit), 0 for a blank or comment line, -1 with *error_r
 * (text without file and line: the caller adds "FILE:LINE: ").
 */
int	userdb_parse_line(const char *line, struct userdb_user *u,
	    const char **error_r) ATTR_WUR;
/* Parses the value stored in the table for address (the line after "address:"). */
int	userdb_parse_value(const char *address, const char *value,
	    struct userdb_user *u, const char **error_r) ATTR_WUR;
/* The line for u, without newline (caller frees). */
char	*userdb_format_line(const struct userdb_user *u);
void	userdb_user_deinit(struct userdb_user *u);
/* True when address is a plausible user@domain for the users file. */
bool	userdb_address_valid(const char *address);

/*
 * The users table name in effect: cfg->user_database, or
 * default_database_type:config_directory/users when empty (caller frees).
 */
char	*userdb_table_name(void);

/*
 * Compiles the users text file of table name into its table atomically.
 * Every malformed line is an error naming FILE:LINE (the first is
 * returned).  Returns the number of users or -1.
 */
long	userdb_build(const char *name, const char **error_r) ATTR_WUR;

/*
 * Rewrites the text file of table name: calls edit once per user line (in
 * order) and keeps, changes or drops it; then appends add when not NULL.
 * The new file is written to a temporary name, fsync'd and renamed, then
 * the table is rebuilt.  edit returns 1 to keep *u (possibly changed), 0
 * to drop the line, -1 to abort (*error_r).  Returns the number of edit
 * calls that changed or dropped a line, or -1.
 */
typedef int userdb_edit_fn(struct userdb_user *u, void *ctx,
	    const char **error_r);
long	userdb_rewrite(const char *name, userdb_edit_fn *edit, void *ctx,
	    const struct userdb_user *add, const char **error_r) ATTR_WUR;

/*
 * Reads the text file of table name (a missing file has no users) and
 * calls fn once per user line, in order; what fn changes is discarded.
 * fn returns -1 to stop (*error_r); any other value goes on.  A malformed
 * line is an error naming FILE:LINE.  Returns the number of users read,
 * or -1.  For "postctl user list" and checks before a rewrite.
 */
long	userdb_read(const char *name, userdb_edit_fn *fn, void *ctx,
	    const char **error_r) ATTR_WUR;

#endif
