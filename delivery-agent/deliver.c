/* SPDX-License-Identifier: ISC */
/*
 * One local delivery: the checks of an IPC_DELIVER request and the work
 * that writes the message into a Maildir (DESIGN.md "How a message
 * travels" 5).
 *
 * The queue manager is trusted to be the queue manager (only mail_owner
 * reaches private/), not to send well-formed requests: every field is
 * bounded and checked here.  The delivery runs in a workq thread and
 * follows the Maildir rules: the file is written in tmp/, fsynced,
 * renamed into new/ and new/ fsynced (file_commit), so a reader never
 * sees part of a message and a crash leaves at most a stray file in tmp/.
 * Any failure before the rename removes the tmp/ file; the one failure
 * after it (the fsync of new/) leaves a complete message, and the defer
 * it answers may deliver the message twice, which DESIGN.md accepts.
 *
 * A mailbox owned by a Unix account (system_account_domains, uid and gid
 * in the request) is written as that account, the way Postfix's local(8)
 * writes a user's mailbox with the user's rights: the request's ids are
 * not trusted further than authd vouched for them, so uid 0 and gid 0
 * are refused, the account is looked up again and the maildir must lie
 * below its home.  The sync thread then takes the account's file-system
 * ids (setfsuid/setfsgid, per thread; priv.h) for everything it creates,
 * opens and renames, and gives them back before it takes the next job.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "common/file.h"
#include "common/ipc.h"
#include "common/priv.h"
#include "common/qfile.h"
#include "common/str.h"
#include "common/xmalloc.h"

#include "delivery-agent/deliver.h"
#include "delivery-agent/maildir.h"

#include "common/banned.h"

/* Names tried when a tmp/ file name is taken (another process's pid). */
#define DELIVER_NAME_TRIES	3

const char *
deliver_status_name(enum deliver_status status)
{
	switch (status) {
	case DELIVER_OK:
		return "ok";
	case DELIVER_DEFER:
		return "defer";
	case DELIVER_BOUNCE:
		break;
	}
	return "bounce";
}

const char *
deliver_status_log(enum deliver_status status)
{
	switch (status) {
	case DELIVER_OK:
		return "sent";
	case DELIVER_DEFER:
		return "deferred";
	case DELIVER_BOUNCE:
		break;
	}
	return "bounced";
}

/* ---- the request ---------------------------------------------------- */

/*
 * An address as it goes into a header line: printable ASCII, space (a
 * quoted local part) and UTF-8 bytes; no control byte, not even a tab.
 */
static bool
deliver_addr_valid(const char *s)
{
	const unsigned char *p;

	for (p = (const unsigned char *)s; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f)
			return false;
	return true;
}

static int
deliver_get_addr(struct ipc_msg *m, const char *key, bool empty_ok,
    char **val_r)
{
	const char *s;

	if (ipc_get_str(m, key, DELIVER_ADDRESS_MAX, &s) == -1 ||
	    (!empty_ok && *s == '\0') || !deliver_addr_valid(s))
		return -1;
	*val_r = xstrdup(s);
	return 0;
}

/* A uid or gid: present, 0 to 2^32 - 2 ((uid_t)-1 is no id). */
static int
deliver_get_id(struct ipc_msg *m, const char *key, uint64_t *id_r)
{
	return ipc_get_u64(m, key, (uint64_t)UINT32_MAX - 1, id_r);
}

int
deliver_request_parse(struct ipc_msg *m, struct deliver_request *rq_r,
    const char **error_r)
{
	struct deliver_request rq;
	const char	*s;
	uint64_t	 id;

	memset(&rq, 0, sizeof(rq));
	rq.fd = -1;
	if (ipc_get_str(m, "id", QFILE_ID_LEN, &s) == -1 ||
	    !qfile_id_valid(s)) {
		*error_r = "missing or invalid id";
		goto fail;
	}
	rq.id = xstrdup(s);
	if (deliver_get_addr(m, "sender", true, &rq.sender) == -1) {
		*error_r = "missing or invalid sender";
		goto fail;
	}
	if (deliver_get_addr(m, "rcpt", false, &rq.rcpt) == -1) {
		*error_r = "missing or invalid rcpt";
		goto fail;
	}
	if (deliver_get_addr(m, "user", false, &rq.user) == -1) {
		*error_r = "missing or invalid user";
		goto fail;
	}
	/* The path's syntax is checked by the delivery: a bounce, not this. */
	if (ipc_get_str(m, "maildir", MAILDIR_PATH_MAX, &s) == -1 ||
	    *s == '\0' || !deliver_addr_valid(s)) {
		*error_r = "missing or invalid maildir";
		goto fail;
	}
	rq.maildir = xstrdup(s);
	if (ipc_get_str(m, "folder", MAILDIR_FOLDER_MAX, &s) == -1 ||
	    (*s != '\0' && !maildir_folder_valid(s))) {
		*error_r = "missing or invalid folder";
		goto fail;
	}
	rq.folder = xstrdup(s);
	if (ipc_get_u64(m, "quota", UINT64_MAX, &rq.quota) == -1) {
		*error_r = "missing or invalid quota";
		goto fail;
	}
	if (ipc_get_u64(m, "length", DELIVER_LENGTH_MAX, &rq.length) == -1) {
		*error_r = "missing or invalid length";
		goto fail;
	}
	/* offset + length must stay a valid off_t. */
	if (ipc_get_u64(m, "offset", (uint64_t)INT64_MAX - rq.length,
	    &rq.offset) == -1) {
		*error_r = "missing or invalid offset";
		goto fail;
	}
	if (ipc_get_u64(m, "arrival", (uint64_t)INT64_MAX, &rq.arrival) == -1) {
		*error_r = "missing or invalid arrival";
		goto fail;
	}
	/* Both or neither; 0 passes here and is refused by deliver_run. */
	if (ipc_has(m, "uid") || ipc_has(m, "gid")) {
		if (deliver_get_id(m, "uid", &id) == -1) {
			*error_r = "invalid uid";
			goto fail;
		}
		rq.uid = (uid_t)id;
		if (deliver_get_id(m, "gid", &id) == -1) {
			*error_r = "invalid gid";
			goto fail;
		}
		rq.gid = (gid_t)id;
		rq.has_owner = true;
	}
	if (m->fd == -1) {
		*error_r = "no queue file descriptor";
		goto fail;
	}
	rq.fd = m->fd;
	m->fd = -1;
	*rq_r = rq;
	return 0;
fail:
	deliver_request_deinit(&rq);
	return -1;
}

void
deliver_request_deinit(struct deliver_request *rq)
{
	free(rq->id);
	free(rq->sender);
	free(rq->rcpt);
	free(rq->user);
	free(rq->maildir);
	free(rq->folder);
	rq->id = rq->sender = rq->rcpt = rq->user = NULL;
	rq->maildir = rq->folder = NULL;
	if (rq->fd != -1)
		(void)close(rq->fd);
	rq->fd = -1;
}

/* ---- the quota check ------------------------------------------------ */

int
deliver_quota_parse(struct ipc_msg *m, const char *root,
    struct deliver_quota_request *rq_r, const char **error_r)
{
	struct deliver_quota_request rq;
	const char	*s, *error;

	memset(&rq, 0, sizeof(rq));
	if (deliver_get_addr(m, "user", false, &rq.user) == -1) {
		*error_r = "missing or invalid user";
		goto fail;
	}
	if (ipc_get_str(m, "maildir", MAILDIR_PATH_MAX, &s) == -1 ||
	    *s == '\0' || !deliver_addr_valid(s)) {
		*error_r = "missing or invalid maildir";
		goto fail;
	}
	/* Unlike a delivery, nothing to bounce: a bad path is refused. */
	if (maildir_path_check(root, s, &error) == -1) {
		*error_r = error_fmt("bad maildir: %s", error);
		goto fail;
	}
	rq.maildir = xstrdup(s);
	if (ipc_get_u64(m, "quota", UINT64_MAX, &rq.quota) == -1) {
		*error_r = "missing or invalid quota";
		goto fail;
	}
	if (ipc_get_u64(m, "size", UINT64_MAX, &rq.size) == -1) {
		*error_r = "missing or invalid size";
		goto fail;
	}
	rq.root = root;
	*rq_r = rq;
	return 0;
fail:
	deliver_quota_deinit(&rq);
	return -1;
}

void
deliver_quota_deinit(struct deliver_quota_request *rq)
{
	free(rq->user);
	free(rq->maildir);
	rq->user = rq->maildir = NULL;
}

void
deliver_quota_run(const struct deliver_quota_request *rq,
    struct deliver_quota_result *res)
{
	const char	*error;
	uint64_t	 fquota, bytes;
	int		 r;

	memset(res, 0, sizeof(*res));
	if (rq->quota == 0)
		return;
	r = maildir_size_peek(rq->root, rq->maildir, &fquota, &bytes, &error);
	if (r == -1) {
		(void)snprintf(res->detail, sizeof(res->detail), "%s", error);
		return;
	}
	if (r == 0)
		return;
	/*
	 * The sums hold whatever quota the file names: the limit is the
	 * one of the request, as in a delivery.
	 */
	res->known = true;
	res->used = bytes;
	res->full = !maildir_quota_allows(rq->quota, bytes,
	    rq->size > 0 ? rq->size : 1);
}

/* ---- the delivery --------------------------------------------------- */

/* Copies s into dst (DELIVER_TEXT_MAX): printable ASCII, the rest "?". */
static void
deliver_text(char *dst, const char *s)
{
	size_t	i;

	for (i = 0; s[i] != '\0' && i < DELIVER_TEXT_MAX; i++)
		dst[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	dst[i] = '\0';
}

static void
deliver_result(struct deliver_result *res, enum deliver_status status,
    const char *dsn, const char *text, const char *detail)
{
	res->status = status;
	if (str_copy(res->dsn, sizeof(res->dsn), dsn) == -1)
		res->dsn[0] = '\0';	/* our own literals always fit */
	deliver_text(res->text, text);
	(void)snprintf(res->detail, sizeof(res->detail), "%s",
	    detail != NULL ? detail : "");
}

static void
deliver_over_quota(const struct deliver_request *rq,
    struct deliver_result *res, const char *detail)
{
	if (rq->quota_bounce)
		deliver_result(res, DELIVER_BOUNCE, "5.2.2", "mailbox full",
		    detail);
	else
		deliver_result(res, DELIVER_DEFER, "4.2.2", "mailbox full",
		    detail);
}

/* A system error: 4.3.1 when the disk is full, else 4.3.0 and strerror. */
static void
deliver_fail(const struct deliver_request *rq, struct deliver_result *res,
    int err, const char *detail)
{
	char	buf[256];

	if (err == ENOSPC)
		deliver_result(res, DELIVER_DEFER, "4.3.1", "mail system full",
		    detail);
	else if (err == EDQUOT)		/* the file system's quota */
		deliver_over_quota(rq, res, detail);
	else
		deliver_result(res, DELIVER_DEFER, "4.3.0",
		    strerror_r(err, buf, sizeof(buf)), detail);
}

/* Writes Return-Path, Delivered-To and the message to fd. */
static int
deliver_write(const struct deliver_request *rq, int fd, uint64_t *size_r,
    const char **error_r)
{
	char		*head;
	size_t		 len;
	uint64_t	 body;
	int		 saved;

	head = xasprintf("Return-Path: <%s>\nDelivered-To: %s\n", rq->sender,
	    rq->user);
	len = strlen(head);
	if (file_write_all(fd, head, len) == -1) {
		saved = errno;
		*error_r = error_fmt("write: %m");
		free(head);
		errno = saved;
		return -1;
	}
	free(head);
	if (maildir_copy(rq->fd, rq->offset, rq->length, fd, &body,
	    error_r) == -1)
		return -1;
	*size_r = (uint64_t)len + body;
	return 0;
}

/* The delivery proper, with the ids and root that deliver_run chose. */
static void
deliver_maildir(const struct deliver_request *rq, struct deliver_result *res)
{
	struct stat	 st;
	const char	*error;
	char		 base[MAILDIR_NAME_SIZE], final_name[MAILDIR_NAME_SIZE];
	char		*dir = NULL, *tmp = NULL, *final = NULL, *hdr = NULL;
	uint64_t	 current = 0, size;
	size_t		 hdr_len;
	unsigned int	 try;
	int		 fd = -1, saved;

	if (maildir_path_check(rq->root, rq->maildir, &error) == -1) {
		deliver_result(res, DELIVER_BOUNCE, "5.3.5", "bad mailbox path",
		    error_fmt("%s: %s", rq->maildir, error));
		return;
	}
	if (fstat(rq->fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size < rq->offset + rq->length) {
		deliver_result(res, DELIVER_DEFER, "4.3.0",
		    "queue file unreadable", "the queue file is not a regular "
		    "file or is shorter than the message");
		return;
	}
	if (maildir_prepare(rq->root, rq->maildir,
	    rq->use_folders ? rq->folder : "", &res->folder_used,
	    &error) == -1) {
		deliver_fail(rq, res, errno, error);
		return;
	}

	/* Loop check before anything is written. */
	if (maildir_read_header(rq->fd, rq->offset, rq->length,
	    MAILDIR_HEADER_MAX, &hdr, &hdr_len, &error) == -1) {
		deliver_fail(rq, res, errno, error);
		return;
	}
	if (maildir_header_has_delivered_to(hdr, hdr_len, rq->user)) {
		free(hdr);
		deliver_result(res, DELIVER_BOUNCE, "5.4.6",
		    error_fmt("mail forwarding loop for %s", rq->user), NULL);
		return;
	}
	free(hdr);

	if (res->folder_used)
		dir = xasprintf("%s/.%s", rq->maildir, rq->folder);
	else
		dir = xstrdup(rq->maildir);
	for (try = 0; try < DELIVER_NAME_TRIES; try++) {
		if (maildir_name(base, sizeof(base), rq->pid, rq->counter,
		    rq->host) == -1) {
			deliver_result(res, DELIVER_DEFER, "4.3.0",
			    "internal error", "cannot make a file name");
			goto out;
		}
		free(tmp);
		tmp = xasprintf("%s/tmp/%s", dir, base);
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
		    O_CLOEXEC, 0600);
		if (fd != -1 || errno != EEXIST)
			break;
		(void)usleep(1000);	/* a new microsecond, a new name */
	}
	if (fd == -1) {
		saved = errno;
		deliver_fail(rq, res, saved, error_fmt("create %s: %m", tmp));
		goto out;
	}

	/* The size of the mailbox now; the decision waits for the exact size. */
	if (rq->quota > 0 && maildir_size_get(rq->maildir, rq->quota, base,
	    &current, &error) == -1) {
		deliver_fail(rq, res, errno, error);
		goto fail;
	}
	if (deliver_write(rq, fd, &size, &error) == -1) {
		saved = errno;	/* the arguments' order is unspecified */
		deliver_fail(rq, res, saved, error_fmt("%s: %s", tmp, error));
		goto fail;
	}
	if (!maildir_quota_allows(rq->quota, current, size)) {
		deliver_over_quota(rq, res, error_fmt("%" PRIu64
		    " + %" PRIu64 " bytes > quota %" PRIu64, current, size,
		    rq->quota));
		goto fail;
	}
	/* The size rides in the name (Maildir++ ",S="), as Postfix does. */
	if (maildir_name_sized(final_name, sizeof(final_name), base,
	    size) == -1) {
		deliver_result(res, DELIVER_DEFER, "4.3.0", "internal error",
		    "file name too long");
		goto fail;
	}
	final = xasprintf("%s/new/%s", dir, final_name);
	if (file_commit(fd, tmp, final, &error) == -1) {
		/* file_commit removed tmp unless it was renamed already. */
		deliver_fail(rq, res, errno, error);
		goto out;
	}
	res->size = size;
	if (maildir_size_add(rq->maildir, size, &error) == -1)
		(void)snprintf(res->warning, sizeof(res->warning), "%s", error);
	deliver_result(res, DELIVER_OK, "2.0.0", "delivered to maildir", NULL);
	goto out;
fail:
	(void)unlink(tmp);
out:
	if (fd != -1)
		(void)close(fd);
	free(dir);
	free(tmp);
	free(final);
}

/*
 * A mailbox of a Unix account: the checks of deliver.h, then the delivery
 * below the account's home with its file-system ids.
 */
static void
deliver_as_owner(const struct deliver_request *rq, struct deliver_result *res)
{
	struct deliver_request sub;
	struct priv_account acct;
	const char	*error;
	bool		 own, switched = false;
	int		 r;

	if (rq->uid == 0 || rq->gid == 0) {
		deliver_result(res, DELIVER_BOUNCE, "5.7.1",
		    "delivery as root refused", error_fmt("uid %lu, gid %lu in "
		    "the request", (unsigned long)rq->uid,
		    (unsigned long)rq->gid));
		return;
	}
	own = rq->uid == geteuid() && rq->gid == getegid();
	if (!own && !rq->can_switch) {
		deliver_result(res, DELIVER_DEFER, "4.3.0",
		    "cannot deliver as a Unix account", error_fmt("uid %lu, "
		    "gid %lu: the delivery agent lacks CAP_SETUID/CAP_SETGID "
		    "(system accounts need a delivery agent started as root)",
		    (unsigned long)rq->uid, (unsigned long)rq->gid));
		return;
	}
	/* The home folder is the account's own, not the request's word. */
	if ((r = priv_lookup_account_uid(rq->uid, &acct, &error)) == -1) {
		deliver_result(res, DELIVER_DEFER, "4.3.0",
		    "account lookup failed", error);
		return;
	}
	if (r == 0) {
		deliver_result(res, DELIVER_BOUNCE, "5.1.1", "mailbox unknown",
		    error_fmt("no Unix account with uid %lu",
		    (unsigned long)rq->uid));
		return;
	}
	if (acct.gid != rq->gid || acct.home[0] != '/') {
		deliver_result(res, DELIVER_DEFER, "4.3.0",
		    "account changed", error_fmt("uid %lu: gid %lu, home \"%s\" "
		    "now, gid %lu in the request", (unsigned long)rq->uid,
		    (unsigned long)acct.gid, acct.home,
		    (unsigned long)rq->gid));
		priv_account_deinit(&acct);
		return;
	}
	sub = *rq;			/* shares the strings and fd */
	sub.root = acct.home;
	if (!own) {
		if (priv_fsid_set(rq->uid, rq->gid, &error) == -1) {
			deliver_result(res, DELIVER_DEFER, "4.3.0",
			    "cannot deliver as a Unix account", error);
			priv_account_deinit(&acct);
			return;
		}
		switched = true;
	}
	deliver_maildir(&sub, res);
	if (switched)
		priv_fsid_reset();	/* panics rather than go on as uid */
	priv_account_deinit(&acct);
}

void
deliver_run(const struct deliver_request *rq, struct deliver_result *res)
{
	memset(res, 0, sizeof(*res));
	if (rq->has_owner)
		deliver_as_owner(rq, res);
	else
		deliver_maildir(rq, res);
}
