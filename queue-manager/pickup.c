/* SPDX-License-Identifier: ISC */
/*
 * pickup: the queue manager takes local submissions out of maildrop/
 * (postern-queue-manager(8) "Local submission", postern-postdrop(8)).
 *
 * postern-postdrop, run by sendmail as the submitting user, writes one
 * queue file per message into maildrop/.  Its content is UNTRUSTED: any
 * local user can run postdrop with whatever arguments and input, so each
 * file is opened without following links, must be a regular file with one
 * link, must pass qfile_open() with the limits smtpd enforces (size plus
 * the room sendmail's added header fields take, recipients) and must look
 * like what postdrop writes (protocol "local", no client, no results, and
 * addresses of a sane shape).  A bad file is moved to corrupt/ and logged
 * with its owner's uid.  A good one is rewritten as a new queue file in
 * incoming/ with a Received header naming the owner's uid, which comes
 * from the kernel (st_uid), never from the file: only the envelope and
 * the message bytes are taken from it.  Then the maildrop file is
 * unlinked and the folder fsynced, and the new ID goes to qmgr_incoming().
 *
 * A crash between the commit of the new file and the unlink of the old
 * one delivers the message twice; nothing can lose it, because the old
 * file goes only after the new one is durable.
 *
 * The work, including reading the folder, runs in one job of the sync
 * threads at a time, at most PICKUP_BATCH files per job, so a full
 * maildrop never blocks the event loop; the loop only logs and hands the
 * IDs on, and starts the next job when the batch was full.  Scans come
 * from qmgr.c (at start and with each incoming/ scan) and, at once, from
 * inotify when a file is renamed into maildrop/.
 */
#include "config.h"

#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/buf.h"
#include "common/conf.h"
#include "common/error.h"
#include "common/file.h"
#include "common/log.h"
#include "common/qfile.h"
#include "common/service.h"
#include "common/str.h"
#include "common/workq.h"
#include "common/xmalloc.h"
#include "qmgr.h"
#include "common/banned.h"

/* Files taken per job; a full batch starts the next job at once. */
#define PICKUP_BATCH		1000
/* Bytes copied per read from the maildrop file. */
#define PICKUP_IO_CHUNK		65536
/* IDs whose file was copied but could not be removed (see pickup_done). */
#define PICKUP_STUCK_MAX	64
/* "maildrop/ID" */
#define PICKUP_PATH_SIZE	(sizeof(QMGR_DIR_MAILDROP) + QFILE_ID_SIZE)
/* The Received header, as long as it can get. */
#define PICKUP_RECEIVED_MAX	(QFILE_HOST_MAX + QFILE_ID_LEN + 160)

enum pickup_status {
	PICKUP_DONE,		/* copied to incoming/new_id, removed */
	PICKUP_KEPT,		/* copied, but the unlink failed */
	PICKUP_BAD,		/* move to corrupt/ */
	PICKUP_FAILED,		/* not copied; try again later */
	PICKUP_GONE,		/* vanished meanwhile */
};

/* One file of a job. */
struct pickup_file {
	char			 id[QFILE_ID_SIZE];
	char			 new_id[QFILE_ID_SIZE];
	enum pickup_status	 status;
	unsigned long		 uid;
	bool			 have_uid;
	char			*sender;
	char			*error;
};

struct pickup_job {
	struct qmgr_pickup	*p;
	struct pickup_file	*files;
	unsigned int		 nfiles;
	bool			 full;		/* stopped at PICKUP_BATCH */
	unsigned int		 stale;		/* tmp.* files removed */
	char			 stuck[PICKUP_STUCK_MAX][QFILE_ID_SIZE];
	unsigned int		 nstuck;
	char			*dir_error;	/* opendir, fsync maildrop/ */
	char			 hostname[256];
};

struct qmgr_pickup {
	struct qmgr	*qm;
	bool		 busy;		/* a job is queued or running */
	bool		 again;		/* a scan was asked for meanwhile */
	int		 ifd;		/* inotify, -1 without */
	struct event	*iev;
	/* Copied but not removed: skipped, so not delivered again. */
	char		 stuck[PICKUP_STUCK_MAX][QFILE_ID_SIZE];
	unsigned int	 nstuck;
};

static void	pickup_start(struct qmgr_pickup *p);

/* ---- the checks ------------------------------------------------------- */

/*
 * An address as sendmail writes it: local@domain with a non-empty local
 * part and a domain of letters, digits, hyphens and dots (or an address
 * literal), or "" for the null sender.  qfile_open() already refused
 * control bytes and oversized fields; this refuses shapes that the
 * resolution and the logs downstream should never see.
 */
static bool
pickup_addr_ok(const char *addr, bool sender)
{
	const char	*at, *d;
	size_t		 len;

	if (addr[0] == '\0')
		return sender;
	if ((at = strrchr(addr, '@')) == NULL || at == addr)
		return false;
	if (strchr(addr, '<') != NULL || strchr(addr, '>') != NULL)
		return false;
	d = at + 1;
	len = strlen(d);
	if (len == 0 || len > QFILE_HOST_MAX)
		return false;
	if (d[0] == '[')
		return d[len - 1] == ']' && len > 2 &&
		    strspn(d + 1, "0123456789abcdefABCDEF.:IPv") == len - 2;
	if (d[0] == '.' || d[0] == '-' || d[len - 1] == '.' ||
	    strstr(d, "..") != NULL)
		return false;
	for (; *d != '\0'; d++)
		if (!((*d >= 'a' && *d <= 'z') || (*d >= 'A' && *d <= 'Z') ||
		    (*d >= '0' && *d <= '9') || *d == '-' || *d == '.' ||
		    (unsigned char)*d >= 0x80))
			return false;
	return true;
}

/* What postdrop writes and nothing else.  Returns NULL or the reason. */
static const char *
pickup_check(const struct qfile *q)
{
	const struct qfile_mail		*m = qfile_mail(q);
	const struct qfile_client	*c = qfile_client(q);
	unsigned int			 i;

	if (c->addr != NULL || c->name != NULL || c->helo != NULL ||
	    c->sasl_user != NULL || m->auth != NULL || m->size != 0 ||
	    c->protocol == NULL || strcmp(c->protocol, "local") != 0)
		return "client records that postern-postdrop does not write";
	if (!pickup_addr_ok(m->sender, true))
		return "malformed sender address";
	for (i = 0; i < qfile_rcpt_count(q); i++) {
		if (!pickup_addr_ok(qfile_rcpt(q, i)->addr, false))
			return "malformed recipient address";
		if (qfile_rcpt_result(q, i)->status != QFILE_STATUS_PENDING)
			return "recipient results in a new submission";
	}
	return NULL;
}

/* ---- the work (a sync thread: no logging, no event loop) ------------- */

static void
pickup_set_error(struct pickup_file *f, enum pickup_status st,
    const char *error)
{
	f->status = st;
	free(f->error);
	f->error = xstrdup(error);
}

static int
pickup_received(const struct pickup_job *job, const struct pickup_file *f,
    struct buf *b)
{
	char	date[64];

	if (str_date(date, sizeof(date), time(NULL), true) == -1)
		return -1;
	return buf_printf(b, "Received: by %s (postern, from userid %lu)\r\n"
	    "\tid %s; %s\r\n", job->hostname, f->uid, f->new_id, date);
}

/*
 * Writes q as a new queue file in incoming/: its envelope, our Received
 * header, its message.  Returns 0 (f->new_id set) or -1 (f->error).
 */
static int
pickup_copy(const struct pickup_job *job, struct pickup_file *f,
    const struct qfile *q, uint8_t *chunk)
{
	struct qfile_writer	*w;
	struct qfile_mail	 m;
	struct qfile_client	 c;
	struct qfile_rcpt	 r;
	struct buf		*hdr;
	const char		*error;
	uint64_t		 off, len;
	unsigned int		 i;
	ssize_t			 n;
	size_t			 want;

	if ((w = qfile_writer_new(".", &error)) == NULL) {
		pickup_set_error(f, PICKUP_FAILED, error);
		return -1;
	}
	if (str_copy(f->new_id, sizeof(f->new_id), qfile_writer_id(w)) == -1)
		log_panic("pickup: queue ID too long");
	m = *qfile_mail(q);
	m.auth = NULL;
	memset(&c, 0, sizeof(c));
	c.protocol = "local";
	if (qfile_writer_mail(w, &m, &error) == -1 ||
	    qfile_writer_client(w, &c, &error) == -1)
		goto fail;
	for (i = 0; i < qfile_rcpt_count(q); i++) {
		r = *qfile_rcpt(q, i);
		if (qfile_writer_add_rcpt(w, &r, &error) == -1)
			goto fail;
	}
	hdr = buf_new(256, PICKUP_RECEIVED_MAX);
	qfile_message(q, &off, &len);
	if (pickup_received(job, f, hdr) == -1) {
		buf_free(&hdr);
		error = "Received header too long";
		goto fail;
	}
	if (qfile_writer_begin_message(w, len + hdr->len, &error) == -1 ||
	    qfile_writer_write(w, hdr->data, hdr->len, &error) == -1) {
		buf_free(&hdr);
		goto fail;
	}
	buf_free(&hdr);
	while (len > 0) {
		want = len > PICKUP_IO_CHUNK ? PICKUP_IO_CHUNK : (size_t)len;
		n = pread(qfile_fd(q), chunk, want, (off_t)off);
		if (n <= 0) {
			error = n == 0 ? "maildrop file shrank while read" :
			    error_fmt("read maildrop/%s: %m", f->id);
			goto fail;
		}
		if (qfile_writer_write(w, chunk, (size_t)n, &error) == -1)
			goto fail;
		off += (uint64_t)n;
		len -= (uint64_t)n;
	}
	if (qfile_writer_commit(w, f->new_id, &error) == -1)
		goto fail;
	qfile_writer_abort(&w);
	return 0;
fail:
	pickup_set_error(f, PICKUP_FAILED, error);
	f->new_id[0] = '\0';
	qfile_writer_abort(&w);
	return -1;
}

/* One maildrop file: check it, copy it, remove it. */
static void
pickup_one(struct pickup_job *job, struct pickup_file *f, uint8_t *chunk,
    bool *removed_r)
{
	struct qfile_limits	 lim;
	struct qfile		*q = NULL;
	struct stat		 st, qst;
	const char		*error;
	char			 path[PICKUP_PATH_SIZE];
	int			 fd;

	(void)snprintf(path, sizeof(path), "%s/%s", QMGR_DIR_MAILDROP, f->id);
	/* O_NONBLOCK: a FIFO cannot hang the thread. */
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd == -1) {
		if (errno == ENOENT) {
			f->status = PICKUP_GONE;
			return;
		}
		/* Not ours to read (a link, a mode we cannot read): aside. */
		if (lstat(path, &st) == 0) {
			f->uid = (unsigned long)st.st_uid;
			f->have_uid = true;
		}
		pickup_set_error(f, PICKUP_BAD, error_fmt("open: %m"));
		return;
	}
	if (fstat(fd, &st) == -1) {
		pickup_set_error(f, PICKUP_FAILED, error_fmt("fstat: %m"));
		(void)close(fd);
		return;
	}
	f->uid = (unsigned long)st.st_uid;
	f->have_uid = true;
	if (!S_ISREG(st.st_mode) || st.st_nlink != 1) {
		pickup_set_error(f, PICKUP_BAD, !S_ISREG(st.st_mode) ?
		    "not a regular file" : "more than one link");
		(void)close(fd);
		return;
	}
	lim.max_message_size = cfg->smtpd_max_message_size +
	    QFILE_LOCAL_ADDED_MAX;
	lim.max_rcpts = cfg->smtpd_max_recipients;
	lim.max_results = 0;
	if (qfile_open(path, &lim, &q, &error) == -1) {
		(void)close(fd);
		if (lstat(path, &qst) == -1 && errno == ENOENT) {
			f->status = PICKUP_GONE;
			return;
		}
		pickup_set_error(f, PICKUP_BAD, error);
		return;
	}
	/* The file we checked is the file we read. */
	if (fstat(qfile_fd(q), &qst) == -1 || qst.st_dev != st.st_dev ||
	    qst.st_ino != st.st_ino) {
		pickup_set_error(f, PICKUP_FAILED, "replaced while read");
		goto out;
	}
	if ((error = pickup_check(q)) != NULL) {
		pickup_set_error(f, PICKUP_BAD, error);
		goto out;
	}
	f->sender = xstrdup(qfile_mail(q)->sender);
	if (pickup_copy(job, f, q, chunk) == -1)
		goto out;
	if (unlink(path) == -1 && errno != ENOENT) {
		pickup_set_error(f, PICKUP_KEPT, error_fmt("unlink %s: %m",
		    path));
		goto out;
	}
	f->status = PICKUP_DONE;
	*removed_r = true;
out:
	qfile_free(&q);
	(void)close(fd);
}

static bool
pickup_is_stuck(const struct pickup_job *job, const char *id)
{
	unsigned int	i;

	for (i = 0; i < job->nstuck; i++)
		if (strcmp(job->stuck[i], id) == 0)
			return true;
	return false;
}

static void
pickup_work(void *arg)
{
	struct pickup_job	*job = arg;
	DIR			*dir;
	struct dirent		*de;
	struct stat		 st;
	const char		*error;
	char			 path[300];
	time_t			 now = time(NULL);
	uint8_t			*chunk;
	bool			 removed = false;
	unsigned int		 i;

	if ((dir = opendir(QMGR_DIR_MAILDROP)) == NULL) {
		if (errno != ENOENT)
			job->dir_error = xstrdup(error_fmt("opendir %s: %m",
			    QMGR_DIR_MAILDROP));
		return;
	}
	job->files = xcalloc(PICKUP_BATCH, sizeof(*job->files));
	while ((de = readdir(dir)) != NULL) {
		if (strncmp(de->d_name, QFILE_TMP_PREFIX,
		    strlen(QFILE_TMP_PREFIX)) == 0) {
			/* A postdrop killed mid-message left it. */
			(void)snprintf(path, sizeof(path), "%s/%s",
			    QMGR_DIR_MAILDROP, de->d_name);
			if (lstat(path, &st) == 0 &&
			    st.st_mtime + QMGR_STALE_TMP < now &&
			    unlink(path) == 0)
				job->stale++;
			continue;
		}
		if (!qfile_id_valid(de->d_name) ||
		    pickup_is_stuck(job, de->d_name))
			continue;
		if (job->nfiles == PICKUP_BATCH) {
			job->full = true;
			break;
		}
		memcpy(job->files[job->nfiles++].id, de->d_name,
		    QFILE_ID_SIZE);
	}
	(void)closedir(dir);
	chunk = xmalloc(PICKUP_IO_CHUNK);
	for (i = 0; i < job->nfiles; i++)
		pickup_one(job, &job->files[i], chunk, &removed);
	free(chunk);
	/* Else a crash may bring removed files back: twice, not lost. */
	if ((removed || job->stale > 0) &&
	    file_sync_dir(QMGR_DIR_MAILDROP, &error) == -1)
		job->dir_error = xstrdup(error);
}

/* ---- back on the event loop ------------------------------------------- */

static void
pickup_job_free(struct pickup_job *job)
{
	unsigned int	i;

	for (i = 0; i < job->nfiles; i++) {
		free(job->files[i].sender);
		free(job->files[i].error);
	}
	free(job->files);
	free(job->dir_error);
	free(job);
}

static void
pickup_stuck_add(struct qmgr_pickup *p, const char *id)
{
	if (p->nstuck == PICKUP_STUCK_MAX) {
		memmove(p->stuck[0], p->stuck[1],
		    (PICKUP_STUCK_MAX - 1) * sizeof(p->stuck[0]));
		p->nstuck--;
	}
	memcpy(p->stuck[p->nstuck++], id, QFILE_ID_SIZE);
}

static void
pickup_done(void *arg)
{
	struct pickup_job	*job = arg;
	struct qmgr_pickup	*p = job->p;
	struct pickup_file	*f;
	const char		*error;
	char			 path[PICKUP_PATH_SIZE];
	unsigned int		 i, progress = 0;

	p->busy = false;
	if (job->dir_error != NULL)
		log_error("pickup: %s", job->dir_error);
	if (job->stale > 0)
		log_info("pickup: removed %u stale %s* file(s) from %s/",
		    job->stale, QFILE_TMP_PREFIX, QMGR_DIR_MAILDROP);
	for (i = 0; i < job->nfiles; i++) {
		f = &job->files[i];
		switch (f->status) {
		case PICKUP_KEPT:
			/*
			 * Copied, not removed: remember it, or every scan
			 * would deliver it again (until a restart does once).
			 */
			log_q(LOG_ERR, f->id, "picked up as %s but not "
			    "removed: %s", f->new_id, f->error);
			pickup_stuck_add(p, f->id);
			/* FALLTHROUGH */
		case PICKUP_DONE:
			log_q(LOG_INFO, f->new_id, "uid=%lu from=<%s>",
			    f->uid, log_safe(f->sender));
			log_debug("pickup: %s/%s is %s", QMGR_DIR_MAILDROP,
			    f->id, f->new_id);
			qmgr_incoming(p->qm, f->new_id);
			progress++;
			break;
		case PICKUP_BAD:
			(void)snprintf(path, sizeof(path), "%s/%s",
			    QMGR_DIR_MAILDROP, f->id);
			if (qfile_corrupt(".", path, f->have_uid ?
			    error_fmt("maildrop file of uid %lu: %s", f->uid,
			    f->error) : f->error, &error) == -1)
				log_q(LOG_ERR, f->id, "cannot move the bad "
				    "maildrop file aside: %s", error);
			else
				progress++;
			break;
		case PICKUP_FAILED:
			log_q(LOG_ERR, f->id, "cannot pick up %s/%s: %s",
			    QMGR_DIR_MAILDROP, f->id, f->error);
			break;
		case PICKUP_GONE:
			break;
		}
	}
	/*
	 * More to do now: a full batch that got somewhere, or a scan asked
	 * for while this one ran.  A batch of failures waits for the next
	 * scan instead of spinning.
	 */
	if (!service_stopping(p->qm->sv) &&
	    ((job->full && progress > 0) || p->again))
		pickup_start(p);
	pickup_job_free(job);
}

static void
pickup_start(struct qmgr_pickup *p)
{
	struct pickup_job	*job;

	p->again = false;
	p->busy = true;
	job = xcalloc(1, sizeof(*job));
	job->p = p;
	memcpy(job->stuck, p->stuck, sizeof(job->stuck));
	job->nstuck = p->nstuck;
	if (str_copy(job->hostname, sizeof(job->hostname),
	    p->qm->hostname) == -1)
		log_panic("pickup: host name too long");
	workq_submit(p->qm->syncq, pickup_work, pickup_done, job);
}

void
qmgr_pickup_scan(struct qmgr_pickup *p)
{
	if (p == NULL || service_stopping(p->qm->sv))
		return;
	if (p->busy) {
		p->again = true;	/* the running job may have missed it */
		return;
	}
	pickup_start(p);
}

/* inotify: something was renamed into maildrop/ (postdrop's commit). */
static void
pickup_inotify(evutil_socket_t fd, short what ATTR_UNUSED, void *arg)
{
	struct qmgr_pickup	*p = arg;
	char			 evbuf[4096]
	    __attribute__((aligned(__alignof__(struct inotify_event))));
	unsigned int		 reads;
	ssize_t			 n;

	/* Drain (bounded): only "something happened" matters. */
	for (reads = 0; reads < 64; reads++) {
		n = read(fd, evbuf, sizeof(evbuf));
		if (n <= 0)
			break;
	}
	qmgr_pickup_scan(p);
}

struct qmgr_pickup *
qmgr_pickup_new(struct qmgr *qm, const char **error_r)
{
	struct qmgr_pickup	*p;

	(void)error_r;
	p = xcalloc(1, sizeof(*p));
	p->qm = qm;
	p->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (p->ifd != -1 && inotify_add_watch(p->ifd, QMGR_DIR_MAILDROP,
	    IN_MOVED_TO | IN_ONLYDIR) == -1) {
		/* No maildrop yet (an old master): scans still find it. */
		if (errno != ENOENT)
			log_warning("pickup: inotify on %s/: %s; picking up "
			    "every queue_scan_interval only",
			    QMGR_DIR_MAILDROP, strerror(errno));
		(void)close(p->ifd);
		p->ifd = -1;
	}
	if (p->ifd != -1) {
		p->iev = event_new(service_base(qm->sv), p->ifd,
		    EV_READ | EV_PERSIST, pickup_inotify, p);
		if (p->iev == NULL || event_add(p->iev, NULL) == -1) {
			log_warning("pickup: cannot watch %s/",
			    QMGR_DIR_MAILDROP);
			if (p->iev != NULL)
				event_free(p->iev);
			p->iev = NULL;
			(void)close(p->ifd);
			p->ifd = -1;
		}
	}
	return p;
}

void
qmgr_pickup_free(struct qmgr_pickup **pp)
{
	struct qmgr_pickup	*p = *pp;

	if (p == NULL)
		return;
	*pp = NULL;
	if (p->iev != NULL)
		event_free(p->iev);
	if (p->ifd != -1)
		(void)close(p->ifd);
	free(p);
}
