/* SPDX-License-Identifier: ISC */
/*
 * postctl queue: look at the mail queue and act on it (postctl(8), QUEUE).
 *
 *	postctl queue list			(also mailq, sendmail -bp)
 *	postctl queue show ID
 *	postctl queue flush [ID]
 *	postctl queue hold | release | delete | requeue ID | ALL
 *
 * list and show read the spool folders directly with qfile_open(), read
 * only, so they work while postern is stopped and never change a file; a
 * file may move between folders while we read (the queue manager renames
 * it), so a file that vanished is looked for once in the other folders.
 *
 * The other verbs go to the queue manager over private/qmgr
 * (IPC_QMGR_CTL, control.c there), because it owns the files while it
 * runs.  When nothing listens there (postern, or its queue manager, is
 * stopped) postctl does the work on the files itself: renames between
 * folders, unlinks, one fsync per folder changed.  A message released,
 * requeued or flushed then goes to incoming/, which the queue manager
 * takes first when it starts, whatever its retry time was.
 *
 * Every verb needs root or mail_owner: the queue holds other people's
 * mail.
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/conf.h"
#include "common/error.h"
#include "common/file.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/qfile.h"
#include "common/qmgr_notify.h"
#include "common/str.h"
#include "common/xmalloc.h"
#include "postctl.h"

#include "common/banned.h"

/* The bounds the queue manager keeps (queue-manager/qmgr.c). */
#define QUEUE_MAX_RCPTS		100000
#define QUEUE_MAX_RESULTS	1000000
/* What we accept from the queue manager's answer. */
#define QUEUE_TEXT_MAX		4096
/* Bytes of the message copied at a time by "show". */
#define QUEUE_COPY_CHUNK	(64 * 1024)
/* Columns of "list": the recipients line up under the sender. */
#define QUEUE_LIST_INDENT	51

/* The folders, in the order "show" looks for an ID. */
enum queue_dir {
	QUEUE_DIR_ACTIVE,
	QUEUE_DIR_DEFERRED,
	QUEUE_DIR_HOLD,
	QUEUE_DIR_INCOMING,
	QUEUE_DIR_MAILDROP,
	QUEUE_NDIRS
};

static const char *const queue_dir_names[QUEUE_NDIRS] = {
	"active", "deferred", "hold", QFILE_DIR_INCOMING, QFILE_DIR_MAILDROP,
};

/* The verbs that change the queue; the names are IPC_QMGR_CTL's. */
enum queue_verb {
	QUEUE_FLUSH,
	QUEUE_HOLD,
	QUEUE_RELEASE,
	QUEUE_DELETE,
	QUEUE_REQUEUE
};

static const struct queue_verb_def {
	const char	*name;
	enum queue_verb	 verb;
	const char	*done;		/* as qmgr says it */
} queue_verbs[] = {
	{ "flush",	QUEUE_FLUSH,	"flushed" },
	{ "hold",	QUEUE_HOLD,	"placed on hold" },
	{ "release",	QUEUE_RELEASE,	"released from hold" },
	{ "delete",	QUEUE_DELETE,	"removed" },
	{ "requeue",	QUEUE_REQUEUE,	"requeued" },
};

/* One queue file found by "list". */
struct queue_entry {
	char		 id[QFILE_ID_SIZE];
	enum queue_dir	 dir;
};

static int
queue_usage(void)
{
	fputs("usage: postctl queue list\n"
	    "       postctl queue show id\n"
	    "       postctl queue flush [id]\n"
	    "       postctl queue hold | release | delete | requeue id | ALL\n",
	    stderr);
	return POSTCTL_EXIT_USAGE;
}

/*
 * The queue holds other people's mail: only root and mail_owner (who owns
 * the spool) may read or change it.
 */
static int
queue_check_user(void)
{
	struct passwd	*pw;
	uid_t		 uid = geteuid();

	if (uid == 0)
		return 0;
	if ((pw = getpwnam(cfg->mail_owner)) != NULL && pw->pw_uid == uid)
		return 0;
	fprintf(stderr, "postctl: queue: permission denied: only root and "
	    "the mail owner (%s) may read or change the mail queue\n",
	    cfg->mail_owner);
	return -1;
}

static char *
queue_path(enum queue_dir d, const char *name)
{
	return xasprintf("%s/%s/%s", cfg->queue_directory, queue_dir_names[d],
	    name);
}

static void
queue_limits(struct qfile_limits *lim)
{
	lim->max_message_size = QFILE_MESSAGE_MAX;
	lim->max_rcpts = QUEUE_MAX_RCPTS;
	lim->max_results = QUEUE_MAX_RESULTS;
}

/*
 * Opens queue file id, looking in *dir_r first, then in every folder (it
 * may have moved meanwhile).  Returns 1 with *q_r and *dir_r, 0 when no
 * folder has it (or only incoming/, unfinished: smtpd is still writing
 * it), -1 with *error_r when it is there but unreadable.
 */
static int
queue_open(const char *id, enum queue_dir *dir_r, struct qfile **q_r,
    const char **error_r)
{
	struct qfile_limits	 lim;
	char			*path;
	int			 d, i, rc;

	queue_limits(&lim);
	for (i = -1; i < QUEUE_NDIRS; i++) {
		d = i == -1 ? (int)*dir_r : i;
		if (i != -1 && d == (int)*dir_r)
			continue;
		path = queue_path((enum queue_dir)d, id);
		rc = qfile_open(path, &lim, q_r, error_r);
		free(path);
		if (rc == 0) {
			*dir_r = (enum queue_dir)d;
			return 1;
		}
		/* Still being received: not a queued message yet. */
		if (errno == ENODATA && d == QUEUE_DIR_INCOMING)
			continue;
		if (errno != ENOENT)
			return -1;
	}
	return 0;
}

/*
 * In local time: "Mon Jan  8 10:00:00" (list, as mailq) or, long, the
 * RFC 5322 form (show); the plain seconds if the time cannot be shown.
 */
static void
queue_time(uint64_t sec, bool long_form, char *buf, size_t size)
{
	struct tm	tm;
	time_t		t = (time_t)sec;

	if (long_form ? str_date(buf, size, t, false) == -1 :
	    (localtime_r(&t, &tm) == NULL ||
	    strftime(buf, size, "%a %b %e %H:%M:%S", &tm) == 0))
		(void)snprintf(buf, size, "%" PRIu64, sec);
}

/*
 * Prints s, a field of a queue file, for a terminal: a queue file holds no
 * byte below 0x20 (qfile.h), but a file in maildrop/ comes from any local
 * user, and a C1 control (0x80-0x9f) is an escape on some terminals.
 * Printable ASCII and valid UTF-8 from U+00A0 up are printed as they are
 * (SMTPUTF8 addresses), every other byte as \xHH.
 */
static void
queue_put(const char *s)
{
	const unsigned char	*p = (const unsigned char *)s;
	uint32_t		 cp;
	size_t			 n, i;

	while (*p != '\0') {
		if (*p >= 0x20 && *p < 0x7f) {
			putchar(*p++);
			continue;
		}
		n = *p >= 0xc2 && *p <= 0xdf ? 2 : *p >= 0xe0 && *p <= 0xef ?
		    3 : *p >= 0xf0 && *p <= 0xf4 ? 4 : 0;
		cp = *p & (0x7fu >> n);
		for (i = 1; i < n && (p[i] & 0xc0) == 0x80; i++)
			cp = cp << 6 | (p[i] & 0x3fu);
		if (n > 0 && i == n && cp >= 0xa0 && (n < 3 || cp >= 0x800) &&
		    (n < 4 || (cp >= 0x10000 && cp <= 0x10ffff)) &&
		    (cp < 0xd800 || cp > 0xdfff)) {
			(void)fwrite(p, 1, n, stdout);
			p += n;
			continue;
		}
		printf("\\x%02X", (unsigned int)*p++);
	}
}

/* prefix, s made safe (queue_put()), suffix and a newline. */
static void
queue_line(const char *prefix, const char *s, const char *suffix)
{
	fputs(prefix, stdout);
	queue_put(s);
	fputs(suffix, stdout);
	putchar('\n');
}

static const char *
queue_status_name(enum qfile_status st)
{
	switch (st) {
	case QFILE_STATUS_PENDING:	return "pending";
	case QFILE_STATUS_DELIVERED:	return "delivered";
	case QFILE_STATUS_DEFERRED:	return "deferred";
	case QFILE_STATUS_FAILED:	return "failed";
	}
	return "?";
}

/* ---- list ---------------------------------------------------------------- */

static int
queue_entry_cmp(const void *a, const void *b)
{
	const struct queue_entry *x = a, *y = b;
	int	c;

	if ((c = strcmp(x->id, y->id)) != 0)
		return c;
	return (int)x->dir - (int)y->dir;
}

/*
 * Appends the queue files of folder d to *ev (IDs only: tmp.* files are
 * being written).  A folder we may not read is skipped for the maildrop
 * (it may belong to another group), an error for the others.  Returns 0
 * or -1 after printing why.
 */
static int
queue_collect(enum queue_dir d, struct queue_entry **ev, size_t *n,
    size_t *size)
{
	DIR		*dir;
	struct dirent	*de;
	char		*path;

	path = xasprintf("%s/%s", cfg->queue_directory, queue_dir_names[d]);
	if ((dir = opendir(path)) == NULL) {
		if (errno == ENOENT || (errno == EACCES &&
		    d == QUEUE_DIR_MAILDROP)) {
			free(path);
			return 0;
		}
		fprintf(stderr, "postctl: cannot read %s: %s\n", path,
		    strerror(errno));
		free(path);
		return -1;
	}
	free(path);
	while ((de = readdir(dir)) != NULL) {
		if (!qfile_id_valid(de->d_name))
			continue;
		if (*n == *size) {
			*size = *size == 0 ? 256 : *size * 2;
			*ev = xreallocarray(*ev, *size, sizeof(**ev));
		}
		memcpy((*ev)[*n].id, de->d_name, QFILE_ID_SIZE);
		(*ev)[*n].dir = d;
		(*n)++;
	}
	(void)closedir(dir);
	return 0;
}

/* The "(state: reason)" line of a recipient. */
static void
queue_reason(const struct qfile_result *res, char *buf, size_t size)
{
	if (res->status == QFILE_STATUS_PENDING)
		(void)snprintf(buf, size, "(pending: not tried yet)");
	else
		(void)snprintf(buf, size, "(%s: %s%s%s)",
		    queue_status_name(res->status), res->dsn,
		    res->dsn[0] != '\0' && res->text[0] != '\0' ? " " : "",
		    res->text);
}

/* Prints one entry; returns its message size, or -1 if it went. */
static int
queue_list_one(struct queue_entry *e, uint64_t *size_r)
{
	const struct qfile_mail		*mail;
	const struct qfile_result	*res;
	struct qfile			*q;
	const char			*error;
	char				 when[64];
	char				 reason[QFILE_DIAG_MAX + 64];
	char				 last[QFILE_DIAG_MAX + 64];
	uint64_t			 off, len;
	unsigned int			 i;
	int				 rc;

	rc = queue_open(e->id, &e->dir, &q, &error);
	if (rc == 0)
		return -1;			/* delivered meanwhile */
	if (rc == -1) {
		fprintf(stderr, "postctl: %s: cannot read the queue file: "
		    "%s\n", e->id, error);
		return -1;
	}
	mail = qfile_mail(q);
	qfile_message(q, &off, &len);
	queue_time(qfile_arrival_usec(q) / 1000000, false, when, sizeof(when));
	printf("%-18s%c %8" PRIu64 " %-20s  ", e->id,
	    e->dir == QUEUE_DIR_ACTIVE ? '*' : e->dir == QUEUE_DIR_HOLD ?
	    '!' : ' ', len, when);
	queue_line("", mail->sender[0] == '\0' ? "MAILER-DAEMON" :
	    mail->sender, "");
	last[0] = '\0';
	for (i = 0; i < qfile_rcpt_count(q); i++) {
		res = qfile_rcpt_result(q, i);
		if (res->status == QFILE_STATUS_DELIVERED ||
		    res->status == QFILE_STATUS_FAILED)
			continue;
		/* As Postfix: one reason line for the recipients below it. */
		queue_reason(res, reason, sizeof(reason));
		if (strcmp(reason, last) != 0) {
			queue_line("", reason, "");
			memcpy(last, reason, sizeof(last));
		}
		printf("%*s", QUEUE_LIST_INDENT, "");
		queue_line("", qfile_rcpt(q, i)->addr, "");
	}
	printf("\n");
	qfile_free(&q);
	*size_r = len;
	return 0;
}

static int
queue_list(void)
{
	struct queue_entry	*ev = NULL;
	size_t			 n = 0, size = 0, i;
	uint64_t		 total = 0, len;
	unsigned int		 count = 0;
	int			 d;

	for (d = 0; d < QUEUE_NDIRS; d++)
		if (queue_collect((enum queue_dir)d, &ev, &n, &size) == -1) {
			free(ev);
			return POSTCTL_EXIT_FAIL;
		}
	if (n > 0)
		qsort(ev, n, sizeof(*ev), queue_entry_cmp);
	for (i = 0; i < n; i++) {
		/* The same ID twice: it moved while we read the folders. */
		if (i > 0 && strcmp(ev[i].id, ev[i - 1].id) == 0)
			continue;
		if (count == 0)
			printf("%-18s%c %8s %-20s  %s\n", "-Queue ID---------",
			    ' ', "--Size--", "----Arrival Time----",
			    "-Sender/Recipient-------");
		if (queue_list_one(&ev[i], &len) == 0) {
			total += len;
			count++;
		}
	}
	free(ev);
	if (count == 0)
		printf("Mail queue is empty\n");
	else
		printf("-- %" PRIu64 " Kbytes in %u Request%s.\n",
		    total / 1024, count, count == 1 ? "" : "s");
	return fflush(stdout) == 0 ? POSTCTL_EXIT_OK : POSTCTL_EXIT_FAIL;
}

/* ---- show ---------------------------------------------------------------- */

static void
queue_show_notify(unsigned int notify)
{
	static const struct {
		unsigned int	 bit;
		const char	*name;
	} names[] = {
		{ QFILE_NOTIFY_NEVER,	"NEVER" },
		{ QFILE_NOTIFY_SUCCESS,	"SUCCESS" },
		{ QFILE_NOTIFY_FAILURE,	"FAILURE" },
		{ QFILE_NOTIFY_DELAY,	"DELAY" },
	};
	const char	*sep = "";
	size_t		 i;

	if (notify == 0)
		return;
	printf("\tnotify: ");
	for (i = 0; i < N_ELEMENTS(names); i++)
		if ((notify & names[i].bit) != 0) {
			printf("%s%s", sep, names[i].name);
			sep = ",";
		}
	printf("\n");
}

static void
queue_show_envelope(const struct qfile *q, enum queue_dir d)
{
	const struct qfile_mail		*mail = qfile_mail(q);
	const struct qfile_client	*cl = qfile_client(q);
	const struct qfile_rcpt		*r;
	const struct qfile_result	*res;
	uint64_t			 off, len;
	unsigned int			 i;
	char				 when[64];

	qfile_message(q, &off, &len);
	printf("id: %s\n", qfile_id(q));
	printf("queue: %s\n", queue_dir_names[d]);
	queue_time(qfile_arrival_usec(q) / 1000000, true, when, sizeof(when));
	printf("arrival: %s\n", when);
	printf("size: %" PRIu64 "\n", len);
	queue_line("sender: <", mail->sender, ">");
	if (mail->size != 0)
		printf("mail-size: %" PRIu64 "\n", mail->size);
	if (mail->body != QFILE_BODY_NONE)
		printf("body: %s\n", mail->body == QFILE_BODY_7BIT ? "7BIT" :
		    mail->body == QFILE_BODY_8BITMIME ? "8BITMIME" :
		    "BINARYMIME");
	if (mail->smtputf8)
		printf("smtputf8: yes\n");
	if (mail->ret != QFILE_RET_NONE)
		printf("ret: %s\n", mail->ret == QFILE_RET_FULL ? "FULL" :
		    "HDRS");
	if (mail->envid != NULL)
		queue_line("envid: ", mail->envid, "");
	if (mail->auth != NULL)
		queue_line("auth: <", mail->auth, ">");
	if (cl->addr != NULL || cl->name != NULL) {
		fputs("client: ", stdout);
		queue_put(cl->name != NULL ? cl->name : "unknown");
		queue_line(" [", cl->addr != NULL ? cl->addr : "unknown", "]");
	}
	if (cl->helo != NULL)
		queue_line("helo: ", cl->helo, "");
	if (cl->protocol != NULL)
		queue_line("protocol: ", cl->protocol, "");
	if (cl->sasl_user != NULL)
		queue_line("sasl-user: ", cl->sasl_user, "");
	for (i = 0; i < qfile_rcpt_count(q); i++) {
		r = qfile_rcpt(q, i);
		res = qfile_rcpt_result(q, i);
		queue_line("recipient: <", r->addr, ">");
		printf("\tstate: %s\n", queue_status_name(res->status));
		if (res->status != QFILE_STATUS_PENDING) {
			queue_time(res->time, true, when, sizeof(when));
			printf("\t%s: %s\n", res->status ==
			    QFILE_STATUS_DEFERRED ? "next-try" : "time", when);
			if (res->dsn[0] != '\0')
				queue_line("\tdsn: ", res->dsn, "");
			if (res->text[0] != '\0')
				queue_line("\ttext: ", res->text, "");
		}
		queue_show_notify(r->notify);
		if (r->orcpt != NULL)
			queue_line("\torcpt: ", r->orcpt, "");
	}
}

/* Copies the message bytes as stored (CRLF line ends) to stdout. */
static int
queue_show_message(const struct qfile *q)
{
	uint64_t	 off, len;
	char		*chunk;
	ssize_t		 got;
	size_t		 want;
	int		 rc = 0;

	qfile_message(q, &off, &len);
	chunk = xmalloc(QUEUE_COPY_CHUNK);
	while (len > 0) {
		want = len > QUEUE_COPY_CHUNK ? QUEUE_COPY_CHUNK : (size_t)len;
		got = pread(qfile_fd(q), chunk, want, (off_t)off);
		if (got == -1 && errno == EINTR)
			continue;
		if (got <= 0) {
			fprintf(stderr, "postctl: %s: reading the message: "
			    "%s\n", qfile_id(q), got == 0 ?
			    "unexpected end of file" : strerror(errno));
			rc = -1;
			break;
		}
		if (fwrite(chunk, 1, (size_t)got, stdout) != (size_t)got) {
			rc = -1;
			break;
		}
		off += (uint64_t)got;
		len -= (uint64_t)got;
	}
	free(chunk);
	return rc;
}

static int
queue_show(const char *id)
{
	enum queue_dir	 d = QUEUE_DIR_ACTIVE;
	struct qfile	*q;
	const char	*error;
	int		 rc;

	rc = queue_open(id, &d, &q, &error);
	if (rc == 0) {
		fprintf(stderr, "postctl: %s: no such message in the queue\n",
		    id);
		return POSTCTL_EXIT_FAIL;
	}
	if (rc == -1) {
		fprintf(stderr, "postctl: %s: cannot read the queue file: %s\n",
		    id, error);
		return POSTCTL_EXIT_FAIL;
	}
	queue_show_envelope(q, d);
	printf("\n");
	rc = queue_show_message(q);
	qfile_free(&q);
	if (fflush(stdout) != 0 || rc == -1)
		return POSTCTL_EXIT_FAIL;
	return POSTCTL_EXIT_OK;
}

/* ---- the queue manager's control ----------------------------------------- */

/*
 * Reads one answer.  Returns 0 with *m_r, or -1 after printing why.
 */
static int
queue_read(int sock, struct ipc_msg **m_r)
{
	const char	*error;
	int		 rc;

	rc = ipc_read(sock, (size_t)cfg->ipc_max_message_size,
	    (int)cfg->ipc_timeout * 1000, m_r, &error);
	if (rc == 1)
		return 0;
	fprintf(stderr, "postctl: reading from the queue manager: %s\n",
	    rc == 0 ? "it closed the connection" : error);
	return -1;
}

/* An IPC_OK or IPC_ERROR text, or what to say when there is none. */
static const char *
queue_text(struct ipc_msg *m, const char *none)
{
	const char	*text;

	if (ipc_get_str(m, "text", QUEUE_TEXT_MAX, &text) == -1 ||
	    text[0] == '\0')
		return none;
	return text;
}

/*
 * Connects to the queue manager.  Returns the socket; -2 when nothing
 * listens (postern or its queue manager is stopped); -1 after printing
 * an error.
 */
static int
queue_connect(void)
{
	struct ipc_msg	*m;
	const char	*error;
	char		*path;
	int		 sock, rc;

	path = xasprintf("%s/%s", cfg->queue_directory, QMGR_NOTIFY_SOCKET);
	if ((sock = ipc_connect(path, &error)) == -1) {
		rc = errno == ECONNREFUSED || errno == ENOENT ? -2 : -1;
		if (rc == -1)
			fprintf(stderr, "postctl: cannot reach the queue "
			    "manager: %s\n", error);
		free(path);
		return rc;
	}
	free(path);
	m = ipc_hello_new("postctl");
	rc = ipc_write(sock, m, -1, &error);
	ipc_msg_free(&m);
	if (rc == -1) {
		fprintf(stderr, "postctl: writing to the queue manager: %s\n",
		    error);
		(void)close(sock);
		return -1;
	}
	if (queue_read(sock, &m) == -1) {
		(void)close(sock);
		return -1;
	}
	if (m->type != IPC_OK) {
		fprintf(stderr, "postctl: the queue manager refused the "
		    "connection: %s\n", m->type == IPC_ERROR ?
		    queue_text(m, "no reason given") : "unexpected answer");
		ipc_msg_free(&m);
		(void)close(sock);
		return -1;
	}
	ipc_msg_free(&m);
	return sock;
}

/* Returns an exit status, or -2 when nothing listens. */
static int
queue_control_online(const struct queue_verb_def *v, const char *id)
{
	struct ipc_msg	*m;
	const char	*error;
	int		 sock, rc;

	if ((sock = queue_connect()) < 0)
		return sock == -2 ? -2 : POSTCTL_EXIT_FAIL;
	m = ipc_msg_new(IPC_QMGR_CTL, 1);
	ipc_add_str(m, "verb", v->name);
	if (id != NULL)
		ipc_add_str(m, "id", id);
	rc = ipc_write(sock, m, -1, &error);
	ipc_msg_free(&m);
	if (rc == -1) {
		fprintf(stderr, "postctl: writing to the queue manager: %s\n",
		    error);
		(void)close(sock);
		return POSTCTL_EXIT_FAIL;
	}
	if (queue_read(sock, &m) == -1) {
		(void)close(sock);
		return POSTCTL_EXIT_FAIL;
	}
	(void)close(sock);
	rc = POSTCTL_EXIT_FAIL;
	if (m->type == IPC_OK) {
		printf("postctl: %s\n", queue_text(m, "done"));
		rc = POSTCTL_EXIT_OK;
	} else if (m->type == IPC_ERROR)
		fprintf(stderr, "postctl: %s\n", queue_text(m,
		    "the queue manager refused without saying why"));
	else
		fprintf(stderr, "postctl: unexpected answer %u from the queue "
		    "manager\n", (unsigned int)m->type);
	ipc_msg_free(&m);
	return rc;
}

/* ---- the same on the files, while postern is stopped --------------------- */

struct queue_offline {
	const struct queue_verb_def *v;
	unsigned int	 done;
	unsigned int	 failed;
	bool		 dirty[QUEUE_NDIRS];
};

/* Where verb v takes a file of folder d: d itself = nothing to do. */
static enum queue_dir
queue_offline_target(enum queue_verb v, enum queue_dir d)
{
	switch (v) {
	case QUEUE_HOLD:
		return d == QUEUE_DIR_HOLD ? d : QUEUE_DIR_HOLD;
	case QUEUE_RELEASE:
		return d == QUEUE_DIR_HOLD ? QUEUE_DIR_INCOMING : d;
	case QUEUE_FLUSH:
		return d == QUEUE_DIR_DEFERRED ? QUEUE_DIR_INCOMING : d;
	case QUEUE_REQUEUE:
	case QUEUE_DELETE:		/* not a rename */
		return QUEUE_DIR_INCOMING;
	}
	return d;
}

static void
queue_offline_one(struct queue_offline *o, const char *id, enum queue_dir d)
{
	enum queue_dir	 to;
	struct stat	 st;
	char		*from, *path;

	from = queue_path(d, id);
	if (o->v->verb == QUEUE_DELETE) {
		if (unlink(from) == -1) {
			if (errno != ENOENT) {
				fprintf(stderr, "postctl: unlink %s: %s\n",
				    from, strerror(errno));
				o->failed++;
			}
		} else {
			log_q(LOG_INFO, id, "removed (by postctl)");
			o->dirty[d] = true;
			o->done++;
		}
		free(from);
		return;
	}
	to = queue_offline_target(o->v->verb, d);
	if (to == d) {
		/* requeue of an incoming file: taken first anyway. */
		if (o->v->verb == QUEUE_REQUEUE) {
			log_q(LOG_INFO, id, "%s (by postctl)", o->v->done);
			o->done++;
		}
		free(from);
		return;
	}
	path = queue_path(to, id);
	/* Never replace a file of the same name (rename(2) would). */
	if (lstat(path, &st) == 0) {
		fprintf(stderr, "postctl: %s: already in %s/ as well; left "
		    "alone\n", id, queue_dir_names[to]);
		o->failed++;
	} else if (rename(from, path) == -1) {
		if (errno != ENOENT) {
			fprintf(stderr, "postctl: rename %s to %s: %s\n", from,
			    path, strerror(errno));
			o->failed++;
		}
	} else {
		log_q(LOG_INFO, id, "%s (by postctl)", o->v->done);
		o->dirty[d] = true;
		o->dirty[to] = true;
		o->done++;
	}
	free(from);
	free(path);
}

/*
 * The per-message lines go to the mail log when we may write it: an
 * existing log file (never create one that the services could then not
 * open), or syslog; else they stay on stderr.
 */
static void
queue_offline_log(void)
{
	const char	*error;
	struct stat	 st;

	if (str_has_prefix(cfg->log_target, "file:") &&
	    stat(cfg->log_target + 5, &st) == -1)
		return;
	/* On failure the lines stay on stderr: nothing is lost. */
	if (strcmp(cfg->log_target, "stderr") != 0 &&
	    log_open("postctl", cfg->log_target, cfg->syslog_facility,
	    &error) == -1)
		fprintf(stderr, "postctl: not logging to %s: %s\n",
		    cfg->log_target, error);
}

static int
queue_control_offline(const struct queue_verb_def *v, const char *id)
{
	static const enum queue_dir dirs[] = { QUEUE_DIR_INCOMING,
	    QUEUE_DIR_ACTIVE, QUEUE_DIR_DEFERRED, QUEUE_DIR_HOLD };
	struct queue_offline	 o;
	struct queue_entry	*ev = NULL;
	struct stat		 st;
	const char		*error;
	char			*path;
	size_t			 n = 0, size = 0, i;
	int			 d;

	memset(&o, 0, sizeof(o));
	o.v = v;
	if (id != NULL) {
		ev = xcalloc(1, sizeof(*ev));
		for (i = 0; i < N_ELEMENTS(dirs) && n == 0; i++) {
			path = queue_path(dirs[i], id);
			if (lstat(path, &st) == 0 && S_ISREG(st.st_mode)) {
				memcpy(ev[0].id, id, QFILE_ID_SIZE);
				ev[0].dir = dirs[i];
				n = 1;
			}
			free(path);
		}
		if (n == 0) {
			fprintf(stderr, "postctl: %s: no such message in the "
			    "queue\n", id);
			free(ev);
			return POSTCTL_EXIT_FAIL;
		}
	} else {
		for (i = 0; i < N_ELEMENTS(dirs); i++)
			if (queue_collect(dirs[i], &ev, &n, &size) == -1) {
				free(ev);
				return POSTCTL_EXIT_FAIL;
			}
	}
	queue_offline_log();
	for (i = 0; i < n; i++)
		queue_offline_one(&o, ev[i].id, ev[i].dir);
	free(ev);
	for (d = 0; d < QUEUE_NDIRS; d++) {
		if (!o.dirty[d])
			continue;
		path = xasprintf("%s/%s", cfg->queue_directory,
		    queue_dir_names[d]);
		if (file_sync_dir(path, &error) == -1) {
			fprintf(stderr, "postctl: %s\n", error);
			o.failed++;
		}
		free(path);
	}
	printf("postctl: %u message%s %s (postern is not running: done on "
	    "the files%s)\n", o.done, o.done == 1 ? "" : "s", v->done,
	    v->verb == QUEUE_RELEASE || v->verb == QUEUE_REQUEUE ||
	    v->verb == QUEUE_FLUSH ? "; incoming/ is tried first at start" :
	    "");
	if (o.failed > 0) {
		fprintf(stderr, "postctl: %u failed\n", o.failed);
		return POSTCTL_EXIT_FAIL;
	}
	return POSTCTL_EXIT_OK;
}

static int
queue_control(const struct queue_verb_def *v, const char *id)
{
	int	rc;

	if ((rc = queue_control_online(v, id)) != -2)
		return rc;
	return queue_control_offline(v, id);
}

/* ---- the command --------------------------------------------------------- */

int
postctl_cmd_queue(int argc, char *argv[])
{
	const struct queue_verb_def	*v = NULL;
	const char			*id = NULL;
	size_t				 i;

	if (argc < 2)
		return queue_usage();
	if (strcmp(argv[1], "list") == 0 || strcmp(argv[1], "show") == 0) {
		if ((argv[1][0] == 'l' && argc != 2) ||
		    (argv[1][0] == 's' && argc != 3))
			return queue_usage();
	} else {
		for (i = 0; i < N_ELEMENTS(queue_verbs); i++)
			if (strcmp(argv[1], queue_verbs[i].name) == 0)
				v = &queue_verbs[i];
		if (v == NULL)
			return queue_usage();
		/* flush takes an optional ID; the others one, or ALL. */
		if (v->verb == QUEUE_FLUSH ? argc > 3 : argc != 3)
			return queue_usage();
	}
	if (argc == 3 && (v == NULL || strcmp(argv[2], "ALL") != 0)) {
		if (!qfile_id_valid(argv[2])) {
			fprintf(stderr, "postctl: queue: invalid queue ID: "
			    "%s\n", log_safe(argv[2]));
			return queue_usage();
		}
		id = argv[2];
	}
	postctl_load_config();
	if (queue_check_user() == -1)
		return POSTCTL_EXIT_FAIL;
	if (v == NULL)
		return argv[1][0] == 'l' ? queue_list() : queue_show(id);
	return queue_control(v, id);
}
