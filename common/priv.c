/* SPDX-License-Identifier: ISC */
/*
 * Privilege drop (priv.h, DESIGN.md "Processes and privileges", STYLE
 * R16): the one place that calls chroot, setgroups, setres[ug]id, the
 * no-new-privileges bit and libcap, in one order, followed by a check of
 * the result.  Every failure is fatal: a process that cannot become what
 * the service table says must not go on as something more powerful.
 *
 * As root the order is: chroot and chdir("/"); drop the capability
 * bounding set and the ambient set while we still hold CAP_SETPCAP;
 * PR_SET_KEEPCAPS if capabilities are to survive the uid change;
 * setgroups, setresgid, setresuid; PR_SET_NO_NEW_PRIVS; then set the
 * permitted and effective sets to exactly the kept capabilities (none but
 * for the delivery agent's CAP_SETUID/CAP_SETGID) and the inheritable set
 * to none; then priv_verify().
 *
 * Not as root (a user's own test or demo run) the ids stay and chroot is
 * skipped (the caller logs that once); we chdir into what would have been
 * the chroot, so relative paths mean the same, and still set
 * NO_NEW_PRIVS and clear every capability we can.
 */
#include "config.h"

#include <sys/capability.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>
#include <sys/types.h>

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "log.h"
#include "priv.h"
#include "str.h"
#include "xmalloc.h"

#include "banned.h"

/* getpwnam_r/getgrnam_r buffers: start, and give up past this size. */
#define PRIV_NSS_BUF_INIT	1024
#define PRIV_NSS_BUF_MAX	(1024 * 1024)

/*
 * XXX: how priv_drop() found the process, for priv_verify(): the one
 * piece of file-scope state here (STYLE R14), written once per process
 * before it serves anything, never changed after.  A run that started as
 * an ordinary user is verified against the ids it had, not t's.
 */
struct priv_start {
	bool	dropped;
	bool	was_root;
	uid_t	ruid, euid, suid;
	gid_t	rgid, egid, sgid;
};
static struct priv_start priv_start;

static size_t
priv_nss_buf_size(int name)
{
	long	n;

	n = sysconf(name);
	if (n <= 0 || n > PRIV_NSS_BUF_MAX)
		return PRIV_NSS_BUF_INIT;
	return (size_t)n;
}

/* "No such entry" as the various NSS modules report it. */
static bool
priv_nss_not_found(int rc)
{
	return rc == 0 || rc == ENOENT || rc == ESRCH;
}

/*
 * One NSS lookup: calls get (an adapter around getpwnam_r/getgrnam_r)
 * with a buffer that grows on ERANGE up to PRIV_NSS_BUF_MAX.  Returns 1
 * found (*buf_r holds the strings ent points into; the caller frees it),
 * 0 not found, -1 (*error_r).
 */
typedef int priv_nss_get(const void *key, void *ent, char *buf, size_t size,
    bool *found_r);

static int
priv_nss_lookup(const char *what, const char *name, const void *key,
    int size_name, priv_nss_get *get, void *ent, char **buf_r,
    const char **error_r)
{
	size_t	 size;
	char	*buf = NULL;
	bool	 found = false;
	int	 rc;

	size = priv_nss_buf_size(size_name);
	for (;;) {
		buf = xreallocarray(buf, size, 1);
		rc = get(key, ent, buf, size, &found);
		if (rc == EINTR)
			continue;
		if (rc != ERANGE)
			break;
		if (size >= PRIV_NSS_BUF_MAX) {
			free(buf);
			*error_r = error_fmt("%s %s: entry larger than %d bytes",
			    what, name, PRIV_NSS_BUF_MAX);
			return -1;
		}
		size *= 2;
	}
	if (rc == 0 && found) {
		*buf_r = buf;
		return 1;
	}
	free(buf);
	if (priv_nss_not_found(rc))
		return 0;
	errno = rc;
	*error_r = error_fmt("look up %s %s: %m", what, name);
	return -1;
}

static int
priv_getpwnam(const void *key, void *ent, char *buf, size_t size,
    bool *found_r)
{
	struct passwd	*res = NULL;
	int		 rc;

	rc = getpwnam_r(key, ent, buf, size, &res);
	*found_r = res != NULL;
	return rc;
}

static int
priv_getpwuid(const void *key, void *ent, char *buf, size_t size,
    bool *found_r)
{
	struct passwd	*res = NULL;
	int		 rc;

	rc = getpwuid_r(*(const uid_t *)key, ent, buf, size, &res);
	*found_r = res != NULL;
	return rc;
}

static int
priv_getgrnam(const void *key, void *ent, char *buf, size_t size,
    bool *found_r)
{
	struct group	*res = NULL;
	int		 rc;

	rc = getgrnam_r(key, ent, buf, size, &res);
	*found_r = res != NULL;
	return rc;
}

int
priv_lookup_user(const char *user, uid_t *uid_r, gid_t *gid_r,
    const char **error_r)
{
	struct passwd	 pw;
	char		*buf;
	int		 r;

	r = priv_nss_lookup("user", user, user, _SC_GETPW_R_SIZE_MAX,
	    priv_getpwnam, &pw, &buf, error_r);
	if (r == 1) {
		*uid_r = pw.pw_uid;
		*gid_r = pw.pw_gid;
		free(buf);
	}
	return r;
}

int
priv_lookup_group(const char *group, gid_t *gid_r, const char **error_r)
{
	struct group	 gr;
	char		*buf;
	int		 r;

	r = priv_nss_lookup("group", group, group, _SC_GETGR_R_SIZE_MAX,
	    priv_getgrnam, &gr, &buf, error_r);
	if (r == 1) {
		*gid_r = gr.gr_gid;
		free(buf);
	}
	return r;
}

static void
priv_account_fill(const struct passwd *pw, struct priv_account *acct_r)
{
	acct_r->uid = pw->pw_uid;
	acct_r->gid = pw->pw_gid;
	acct_r->home = xstrdup(pw->pw_dir != NULL ? pw->pw_dir : "");
}

int
priv_lookup_account(const char *name, struct priv_account *acct_r,
    const char **error_r)
{
	struct passwd	 pw;
	char		*buf;
	int		 r;

	memset(acct_r, 0, sizeof(*acct_r));
	r = priv_nss_lookup("user", name, name, _SC_GETPW_R_SIZE_MAX,
	    priv_getpwnam, &pw, &buf, error_r);
	if (r == 1) {
		priv_account_fill(&pw, acct_r);
		free(buf);
	}
	return r;
}

int
priv_lookup_account_uid(uid_t uid, struct priv_account *acct_r,
    const char **error_r)
{
	struct passwd	 pw;
	char		*buf;
	char		 shown[32];
	int		 r;

	memset(acct_r, 0, sizeof(*acct_r));
	(void)snprintf(shown, sizeof(shown), "%lu", (unsigned long)uid);
	r = priv_nss_lookup("uid", shown, &uid, _SC_GETPW_R_SIZE_MAX,
	    priv_getpwuid, &pw, &buf, error_r);
	if (r == 1) {
		priv_account_fill(&pw, acct_r);
		free(buf);
	}
	return r;
}

void
priv_account_deinit(struct priv_account *acct)
{
	free(acct->home);
	acct->home = NULL;
}

int
priv_parse_caps(char *const *names, unsigned int *caps_r,
    const char **error_r)
{
	unsigned int caps = 0;
	const char *n;

	for (; names != NULL && *names != NULL; names++) {
		n = *names;
		/* "cap_setuid" as capabilities(7) writes it, or "setuid". */
		if (str_has_prefix(n, "cap_") || str_has_prefix(n, "CAP_"))
			n += 4;
		if (str_eq_icase(n, "setuid"))
			caps |= PRIV_CAP_SETUID;
		else if (str_eq_icase(n, "setgid"))
			caps |= PRIV_CAP_SETGID;
		else {
			*error_r = error_fmt("unknown capability \"%s\": only "
			    "setuid and setgid may be kept", *names);
			return -1;
		}
	}
	*caps_r = caps;
	return 0;
}

bool
priv_is_root(void)
{
	return geteuid() == 0;
}

/* The libcap values of keep (PRIV_CAP_*); returns how many. */
static int
priv_cap_values(unsigned int keep, cap_value_t values_r[2])
{
	int	n = 0;

	if ((keep & PRIV_CAP_SETUID) != 0)
		values_r[n++] = CAP_SETUID;
	if ((keep & PRIV_CAP_SETGID) != 0)
		values_r[n++] = CAP_SETGID;
	return n;
}

static bool
priv_cap_kept(unsigned int keep, cap_value_t c)
{
	return (c == CAP_SETUID && (keep & PRIV_CAP_SETUID) != 0) ||
	    (c == CAP_SETGID && (keep & PRIV_CAP_SETGID) != 0);
}

/* Whether the process holds c in its effective set now. */
static bool
priv_cap_effective(cap_value_t c)
{
	cap_flag_value_t v = CAP_CLEAR;
	cap_t	caps;

	if ((caps = cap_get_proc()) == NULL)
		return false;
	if (cap_get_flag(caps, c, CAP_EFFECTIVE, &v) == -1)
		v = CAP_CLEAR;
	(void)cap_free(caps);
	return v == CAP_SET;
}

bool
priv_caps_held(unsigned int caps)
{
	if ((caps & PRIV_CAP_SETUID) != 0 && !priv_cap_effective(CAP_SETUID))
		return false;
	if ((caps & PRIV_CAP_SETGID) != 0 && !priv_cap_effective(CAP_SETGID))
		return false;
	return true;
}

/* ---- file-system ids ------------------------------------------------ */

/*
 * glibc's setfsuid()/setfsgid() are plain system calls for the calling
 * thread only: unlike setuid() and friends they do not go through the
 * nptl "setxid" broadcast that changes every thread's credentials.  That
 * is what lets one sync thread of the delivery agent write as a user
 * while its neighbours write as others.  The kernel answers with the
 * previous id whether the change worked or not, so the only way to know
 * is to ask again: setfsuid(x) twice returns x the second time exactly
 * when the first took.
 */
static bool
priv_fsuid_to(uid_t uid)
{
	(void)setfsuid(uid);
	return (uid_t)setfsuid(uid) == uid;
}

static bool
priv_fsgid_to(gid_t gid)
{
	(void)setfsgid(gid);
	return (gid_t)setfsgid(gid) == gid;
}

int
priv_fsid_set(uid_t uid, gid_t gid, const char **error_r)
{
	/*
	 * The group first: once the uid is the user's, a process without
	 * CAP_SETGID could not change the group any more.  Supplementary
	 * groups stay the process's (its service user's own group only, see
	 * priv_drop): there is no per-thread setgroups in glibc, and the
	 * files we create and open below the user's home are the user's own,
	 * which the file-system uid and gid alone decide.
	 */
	if (!priv_fsgid_to(gid)) {
		*error_r = error_fmt("setfsgid %lu refused",
		    (unsigned long)gid);
		priv_fsid_reset();
		return -1;
	}
	if (!priv_fsuid_to(uid)) {
		*error_r = error_fmt("setfsuid %lu refused",
		    (unsigned long)uid);
		priv_fsid_reset();
		return -1;
	}
	return 0;
}

void
priv_fsid_reset(void)
{
	uid_t	uid = geteuid();
	gid_t	gid = getegid();

	/* Back to one's own effective ids is always allowed. */
	if (!priv_fsuid_to(uid) || !priv_fsgid_to(gid))
		log_panic("cannot set the file-system ids back to %lu/%lu",
		    (unsigned long)uid, (unsigned long)gid);
}

/* A capability's name for messages (an error_fmt() text). */
static const char *
priv_cap_name(cap_value_t c)
{
	const char *s;
	char	*name;

	if ((name = cap_to_name(c)) == NULL)
		return error_fmt("capability %d", (int)c);
	s = error_fmt("%s", name);
	(void)cap_free(name);
	return s;
}

/*
 * Empties the bounding set but for keep, so no exec can ever hand the
 * capabilities back, and the ambient set.  Dropping from the bounding set
 * needs CAP_SETPCAP: root has it; an ordinary user normally has nothing
 * in effect to drop and no right to drop it, so is skipped.
 */
static void
priv_clear_bound(unsigned int keep)
{
	cap_value_t c, max;

	if (priv_cap_effective(CAP_SETPCAP)) {
		max = cap_max_bits();
		for (c = 0; c < max; c++) {
			if (priv_cap_kept(keep, c) || cap_get_bound(c) != 1)
				continue;
			if (cap_drop_bound(c) == -1)
				log_fatal("drop %s from the bounding set: %m",
				    priv_cap_name(c));
		}
	}
	if (cap_reset_ambient() == -1)
		log_fatal("clear the ambient capability set: %m");
}

/* Permitted and effective: exactly keep; inheritable: empty. */
static void
priv_set_caps(unsigned int keep)
{
	cap_value_t values[2];
	cap_t	 caps;
	int	 n;

	if ((caps = cap_init()) == NULL)
		log_fatal("cap_init: %m");
	if ((n = priv_cap_values(keep, values)) > 0 &&
	    (cap_set_flag(caps, CAP_PERMITTED, n, values, CAP_SET) == -1 ||
	    cap_set_flag(caps, CAP_EFFECTIVE, n, values, CAP_SET) == -1))
		log_fatal("cap_set_flag: %m");
	if (cap_set_proc(caps) == -1)
		log_fatal("set capabilities: %m");
	(void)cap_free(caps);
}

static void
priv_record_start(void)
{
	struct priv_start *s = &priv_start;

	if (getresuid(&s->ruid, &s->euid, &s->suid) == -1 ||
	    getresgid(&s->rgid, &s->egid, &s->sgid) == -1)
		log_fatal("getresuid: %m");
	s->was_root = s->euid == 0;
	s->dropped = true;
}

void
priv_drop(const struct priv_target *t)
{
	const char *error;
	unsigned int keep;

	priv_record_start();
	if (priv_start.was_root) {
		keep = t->keep_caps;
		if (t->chroot != NULL &&
		    (chroot(t->chroot) == -1 || chdir("/") == -1))
			log_fatal("chroot %s: %m", t->chroot);
		/* Before setresuid: it takes CAP_SETPCAP with it. */
		priv_clear_bound(keep);
		/* Else setresuid away from root empties the permitted set. */
		if (keep != 0 && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) == -1)
			log_fatal("PR_SET_KEEPCAPS: %m");
		if (setgroups(1, &t->gid) == -1)
			log_fatal("setgroups %lu: %m", (unsigned long)t->gid);
		if (setresgid(t->gid, t->gid, t->gid) == -1)
			log_fatal("setresgid %lu: %m", (unsigned long)t->gid);
		if (setresuid(t->uid, t->uid, t->uid) == -1)
			log_fatal("setresuid %lu: %m", (unsigned long)t->uid);
		if (keep != 0 && prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) == -1)
			log_fatal("PR_SET_KEEPCAPS: %m");
	} else {
		/* An ordinary user cannot hand itself capabilities. */
		keep = 0;
		if (t->chroot != NULL && chdir(t->chroot) == -1)
			log_fatal("chdir %s: %m", t->chroot);
		priv_clear_bound(keep);
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		log_fatal("PR_SET_NO_NEW_PRIVS: %m");
	priv_set_caps(keep);
	if (priv_verify(t, &error) == -1)
		log_fatal("privilege drop: %s", error);
}

static int
priv_verify_ids(const struct priv_target *t, const char **error_r)
{
	const struct priv_start *s = &priv_start;
	uid_t	 ruid, euid, suid, want_ruid, want_euid, want_suid;
	gid_t	 rgid, egid, sgid, want_rgid, want_egid, want_sgid;
	gid_t	 groups[2];
	int	 n;

	if (getresuid(&ruid, &euid, &suid) == -1 ||
	    getresgid(&rgid, &egid, &sgid) == -1) {
		*error_r = error_fmt("getresuid: %m");
		return -1;
	}
	if (s->dropped && !s->was_root) {
		want_ruid = s->ruid;
		want_euid = s->euid;
		want_suid = s->suid;
		want_rgid = s->rgid;
		want_egid = s->egid;
		want_sgid = s->sgid;
	} else {
		want_ruid = want_euid = want_suid = t->uid;
		want_rgid = want_egid = want_sgid = t->gid;
	}
	if (ruid != want_ruid || euid != want_euid || suid != want_suid) {
		*error_r = error_fmt("uids are %lu/%lu/%lu, not %lu/%lu/%lu",
		    (unsigned long)ruid, (unsigned long)euid,
		    (unsigned long)suid, (unsigned long)want_ruid,
		    (unsigned long)want_euid, (unsigned long)want_suid);
		return -1;
	}
	if (rgid != want_rgid || egid != want_egid || sgid != want_sgid) {
		*error_r = error_fmt("gids are %lu/%lu/%lu, not %lu/%lu/%lu",
		    (unsigned long)rgid, (unsigned long)egid,
		    (unsigned long)sgid, (unsigned long)want_rgid,
		    (unsigned long)want_egid, (unsigned long)want_sgid);
		return -1;
	}
	if (s->dropped && !s->was_root)
		return 0;
	/* A dropped process belongs to its own group only. */
	if ((n = getgroups(N_ELEMENTS(groups), groups)) == -1 || n > 1 ||
	    (n == 1 && groups[0] != t->gid)) {
		*error_r = error_fmt("supplementary groups are not just %lu",
		    (unsigned long)t->gid);
		return -1;
	}
	return 0;
}

static int
priv_verify_caps(const struct priv_target *t, const char **error_r)
{
	static const cap_flag_t flags[] = {
		CAP_EFFECTIVE, CAP_PERMITTED, CAP_INHERITABLE,
	};
	static const char *const flag_names[] = {
		"effective", "permitted", "inheritable",
	};
	const struct priv_start *s = &priv_start;
	cap_flag_value_t v;
	cap_value_t c, max;
	cap_t	 caps;
	size_t	 i;
	bool	 kept, as_root;

	/* Without a priv_drop() before, judge by what we are now. */
	as_root = s->dropped ? s->was_root : geteuid() == 0;
	if ((caps = cap_get_proc()) == NULL) {
		*error_r = error_fmt("cap_get_proc: %m");
		return -1;
	}
	max = cap_max_bits();
	for (c = 0; c < max; c++) {
		kept = priv_cap_kept(t->keep_caps, c);
		for (i = 0; i < N_ELEMENTS(flags); i++) {
			if (cap_get_flag(caps, c, flags[i], &v) == -1)
				v = CAP_CLEAR;
			/* Inheritable never; a kept one must be there. */
			if (v == CAP_SET &&
			    (!kept || flags[i] == CAP_INHERITABLE)) {
				*error_r = error_fmt("%s is still %s",
				    priv_cap_name(c), flag_names[i]);
				(void)cap_free(caps);
				return -1;
			}
			if (v == CAP_CLEAR && kept && as_root &&
			    flags[i] != CAP_INHERITABLE) {
				*error_r = error_fmt("%s was to be kept but is "
				    "not %s", priv_cap_name(c), flag_names[i]);
				(void)cap_free(caps);
				return -1;
			}
		}
		if (cap_get_ambient(c) == 1) {
			*error_r = error_fmt("%s is still ambient",
			    priv_cap_name(c));
			(void)cap_free(caps);
			return -1;
		}
		/* An ordinary user could not empty the bounding set. */
		if (as_root && !kept && cap_get_bound(c) == 1) {
			*error_r = error_fmt("%s is still in the bounding set",
			    priv_cap_name(c));
			(void)cap_free(caps);
			return -1;
		}
	}
	(void)cap_free(caps);
	return 0;
}

int
priv_verify(const struct priv_target *t, const char **error_r)
{
	if (priv_verify_ids(t, error_r) == -1 ||
	    priv_verify_caps(t, error_r) == -1)
		return -1;
	if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1) {
		*error_r = "PR_SET_NO_NEW_PRIVS is not set";
		return -1;
	}
	/*
	 * The proof: there is no way back.  A process that kept CAP_SETUID
	 * (the delivery agent) can by design take any uid, 0 included, so
	 * the test would succeed and leave it root: skip it there.
	 */
	if (geteuid() != 0 && !priv_cap_effective(CAP_SETUID) &&
	    setuid(0) != -1) {
		*error_r = "regained root after the privilege drop";
		return -1;
	}
	return 0;
}
