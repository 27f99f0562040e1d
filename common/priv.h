/* SPDX-License-Identifier: ISC */
/*
 * Dropping privileges, in one place and one order (DESIGN.md "Processes
 * and privileges", STYLE R16): chroot, setgroups, setresgid, setresuid,
 * PR_SET_NO_NEW_PRIVS, capabilities cleared with libcap except a named
 * set, and then a check that it all took (getresuid/getresgid,
 * cap_get_proc, no way back to root).
 */
#ifndef POSTERN_PRIV_H
#define POSTERN_PRIV_H

#include <stdbool.h>
#include <sys/types.h>

#include "compat.h"

/* Capabilities a service may keep (keep_caps). */
#define PRIV_CAP_SETUID		0x01
#define PRIV_CAP_SETGID		0x02

struct priv_target {
	uid_t		 uid;
	gid_t		 gid;
	const char	*chroot;	/* NULL: none */
	unsigned int	 keep_caps;	/* PRIV_CAP_* */
};

/*
 * Looks up user (a name) and fills uid and primary gid.  Returns 1
 * found, 0 no such user, -1 lookup failure (*error_r).
 */
int	priv_lookup_user(const char *user, uid_t *uid_r, gid_t *gid_r,
	    const char **error_r) ATTR_WUR;
int	priv_lookup_group(const char *group, gid_t *gid_r,
	    const char **error_r) ATTR_WUR;
/* Parses a keep_caps list ("setuid", "setgid"). Returns 0 or -1. */
int	priv_parse_caps(char *const *names, unsigned int *caps_r,
	    const char **error_r) ATTR_WUR;

/* True when this process runs with root's effective uid. */
bool	priv_is_root(void);
/* True when every capability of caps (PRIV_CAP_*) is effective now. */
bool	priv_caps_held(unsigned int caps);

/*
 * A Unix account (system_account_domains): its ids and home folder.
 * Filled by priv_lookup_account*(); free with priv_account_deinit().
 */
struct priv_account {
	uid_t	 uid;
	gid_t	 gid;
	char	*home;		/* pw_dir, allocated; "" when none */
};

/*
 * getpwnam_r (name) and getpwuid_r (uid), thread-safe.  Return 1 found
 * (*acct_r filled), 0 no such account, -1 lookup failure (*error_r);
 * *acct_r is empty unless 1.
 */
int	priv_lookup_account(const char *name, struct priv_account *acct_r,
	    const char **error_r) ATTR_WUR;
int	priv_lookup_account_uid(uid_t uid, struct priv_account *acct_r,
	    const char **error_r) ATTR_WUR;
/* Frees acct's strings; safe to call again. */
void	priv_account_deinit(struct priv_account *acct);

/*
 * Sets the calling thread's file-system ids (setfsgid(2), setfsuid(2):
 * per thread, unlike setuid, which glibc applies to every thread) to
 * uid/gid, and checks that they took (setfs*id answers with the old
 * value whether it succeeded or not, so a second call reads it back).
 * Setting ids other than the process's own needs CAP_SETUID/CAP_SETGID
 * (the delivery agent's keep_caps).  Returns 0, or -1 with *error_r; on
 * -1 the thread's file-system ids are its effective ids again (when that
 * fails too it is a bug: log_panic).  priv_fsid_reset() goes back to the
 * effective ids and panics when it cannot: a thread must never go on
 * writing files as somebody else.
 */
int	priv_fsid_set(uid_t uid, gid_t gid, const char **error_r) ATTR_WUR;
void	priv_fsid_reset(void);

/*
 * Drops to t.  When the process is not root, only chdir/NO_NEW_PRIVS and
 * the capability clearing apply (a user's own run: tests, the demo) and
 * chroot is skipped: the caller logs that once.  (The chdir is into
 * t->chroot when set, so relative paths mean what they would in the
 * chroot; keep_caps is ignored, a user has no capabilities to keep.)
 * Any failure is fatal (log_fatal): a process must never go on with
 * more privilege than it was meant to have.
 */
void	priv_drop(const struct priv_target *t);
/*
 * Verifies the state after priv_drop: real, effective and saved ids are
 * t's, no capability is effective or permitted except keep_caps, and
 * NoNewPrivs is set.  Returns 0 or -1 (*error_r).  After a priv_drop()
 * that did not start as root the ids must be the ones it started with
 * instead of t's.  As root it also checks the supplementary groups, the
 * bounding set and that kept capabilities are really held; and unless
 * CAP_SETUID is held (kept on purpose), that setuid(0) fails.
 */
int	priv_verify(const struct priv_target *t, const char **error_r) ATTR_WUR;

#endif
