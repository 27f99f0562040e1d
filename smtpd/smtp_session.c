/* SPDX-License-Identifier: ISC */
/*
 * One SMTP session (RFC 5321) per connection, on a bufferevent.
 *
 * The protocol is a state (bit flags), a command table and one handler per
 * command (STYLE R20).  Input is processed strictly in order from the
 * bufferevent's input buffer: command lines through net_read_line() with
 * smtpd_max_line_length (STYLE R7), message data through smtp_data.c, BDAT
 * chunks by their byte counts.  PIPELINING (RFC 2920) needs nothing more
 * than that: replies go out in the order of the commands, and while a
 * command waits for authd (RCPT, AUTH) the session stops reading and
 * processing, so the next command is handled only after the answer.  A
 * RCPT whose mail goes only into local mailboxes with quotas then also
 * waits, in the same way, for the delivery agent's quota checks
 * (smtpd_rcpt_quota_check).  The queue file is written and committed
 * synchronously, which stops the session the same way while the disk
 * works.
 *
 * Nothing here trusts the client: every line, path, parameter and chunk
 * size is bounded by a setting; replies carry codes and fixed texts
 * (STYLE R13), the log gets the details with log_safe() (STYLE R11).
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <sys/uio.h>

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#include "common/authd_client.h"
#include "common/buf.h"
#include "common/cidr.h"
#include "common/conf.h"
#include "common/error.h"
#include "common/log.h"
#include "common/net.h"
#include "common/qfile.h"
#include "common/qmgr_notify.h"
#include "common/service.h"
#include "common/str.h"
#include "common/tls.h"
#include "common/workq.h"
#include "common/xmalloc.h"
#include "smtpd.h"
#include "smtp_data.h"
#include "smtp_parse.h"
#include "smtp_quota.h"
#include "smtp_rcpt_cache.h"
#include "smtp_session.h"
#include "common/banned.h"

/* Session states (bit flags, so a command lists where it is allowed). */
#define SMTP_S_GREET	0x01u	/* connected, no HELO/EHLO yet */
#define SMTP_S_READY	0x02u	/* after HELO/EHLO, no transaction */
#define SMTP_S_MAIL	0x04u	/* MAIL accepted, no recipient yet */
#define SMTP_S_RCPT	0x08u	/* at least one recipient accepted */
#define SMTP_S_DATA	0x10u	/* reading message data after 354 */
#define SMTP_S_BDAT	0x20u	/* between the chunks of a BDAT message */
#define SMTP_S_AUTH	0x40u	/* AUTH exchange: lines are SASL answers */
#define SMTP_S_ANY	(SMTP_S_GREET | SMTP_S_READY | SMTP_S_MAIL | \
			    SMTP_S_RCPT | SMTP_S_BDAT)

enum smtp_role {
	SMTP_ROLE_SMTP,		/* port 25: relay by mynetworks or AUTH */
	SMTP_ROLE_SUBMISSION,	/* port 587: STARTTLS, then AUTH before MAIL */
	SMTP_ROLE_SMTPS,	/* port 465: implicit TLS, AUTH before MAIL */
};

/* The listener role names of smtpd.listen, as authd's service names. */
static const char *
smtp_role_name(enum smtp_role role)
{
	switch (role) {
	case SMTP_ROLE_SUBMISSION:	return "submission";
	case SMTP_ROLE_SMTPS:		return "smtps";
	case SMTP_ROLE_SMTP:
	default:			return "smtp";
	}
}

/* Longest name of an address in the log: "unknown[" IPv6 "]". */
#define SMTP_NAMADDR_MAX	(INET6_ADDRSTRLEN + 10)
/* The longest HELO/EHLO argument (a domain or an address literal). */
#define SMTP_HELO_MAX		SMTP_PARSE_DOMAIN_MAX
/* A decoded SASL response: the longest line decodes to 3/4 of it. */
#define SMTP_SASL_MAX(line)	((line) / 4 * 3 + 3)
/* How often a closing TLS session looks whether its output has gone. */
#define SMTP_CLOSE_POLL_USEC	10000
#define SMTP_CLOSE_POLL_MAX	200
/*
 * Replies queued for a client that does not read them: past this the
 * session stops processing pipelined input until the output has drained,
 * so a client cannot make us buffer replies without bound.
 */
#define SMTP_OUTPUT_MAX		(64 * 1024)
/*
 * The most a submission adds to a message: Message-ID (a host name is at
 * most 255 bytes), Date and an empty line; the queue file has room for it
 * beyond smtpd_max_message_size.
 */
#define SMTP_ADDED_FIELDS_MAX	512

struct smtp_rcpt {
	char		*addr;
	char		*orcpt;		/* "rfc822;a@b", NULL = none */
	unsigned int	 notify;
};

struct smtp_commit;
struct smtp_session;

/* One mailbox's quota check for the RCPT waiting in pending_rcpt. */
struct smtp_qcheck {
	struct smtp_session	*s;
	struct smtp_quota_req	*req;		/* NULL once answered */
};

struct smtp_session {
	TAILQ_ENTRY(smtp_session) entry;
	struct smtpd		*sd;
	struct bufferevent	*bev;
	struct event		*close_ev;
	unsigned int		 close_polls;
	enum smtp_role		 role;
	unsigned int		 state;
	unsigned int		 auth_prev_state;
	char			 addr[INET6_ADDRSTRLEN];
	char			 namaddr[SMTP_NAMADDR_MAX];
	char			 last_cmd[SMTP_PARSE_VERB_MAX + 1];
	struct buf		*line;
	char			*helo;
	bool			 esmtp;
	bool			 tls;		/* TLS is (being) set up */
	bool			 tls_ready;	/* the handshake finished */
	bool			 tls_closed;	/* close_notify sent */
	char			 tls_info[TLS_INFO_MAX];
	bool			 skipping;	/* the rest of a long line */
	bool			 waiting;	/* on authd */
	bool			 closing;
	bool			 output_full;	/* waiting for it to drain */
	char			*auth_user;
	char			 auth_mech[8];
	unsigned int		 errors;
	unsigned int		 junk;		/* smtpd_max_junk_commands */
	struct event		*greet_ev;	/* smtpd_greet_pause */
	bool			 greeted;
	uint64_t		 timeout;	/* the read timeout set now */

	/* The transaction. */
	bool			 has_mail;
	char			*sender;
	struct smtp_parse_mail	 mail;
	struct smtp_rcpt	*rcpts;
	unsigned int		 nrcpt;
	unsigned int		 rcpt_alloc;
	struct authd_request	*req;
	char			*pending_rcpt;	/* waiting for authd */
	struct smtp_parse_rcpt	 pending_params;
	struct smtp_qcheck	*qchecks;	/* for pending_rcpt */
	unsigned int		 nqchecks;
	unsigned int		 qwaiting;	/* checks not answered */

	/* The message. */
	struct qfile_writer	*w;
	struct smtp_commit	*commit;	/* being synced */
	struct smtp_data	*d;
	uint64_t		 hdr_len;	/* our Received header */
	/*
	 * Submission: the header section waits here until the filter knows
	 * where it ends, so missing Message-ID and Date fields can go there.
	 */
	struct buf		*hdrbuf;
	time_t			 msg_time;	/* for the Date field */
	bool			 sink_logged;
	bool			 bdat_active;	/* reading a chunk */
	bool			 bdat_last;
	bool			 bdat_fed;	/* any byte of a last chunk */
	uint64_t		 bdat_left;
	uint64_t		 bdat_total;
	const char		*bdat_reject;	/* chunk read only to drop */
};

typedef void smtp_handler(struct smtp_session *s, const char *args);

struct smtp_cmd {
	const char	*verb;
	smtp_handler	*handler;
	unsigned int	 states;
};

static void	smtp_session_run(struct smtp_session *s);
static void	smtp_session_close(struct smtp_session *s);
static void	smtp_session_finish(struct smtp_session *s);
static void	smtp_session_free(struct smtp_session **sp);
static void	smtp_session_setcb(struct smtp_session *s);

static smtp_handler smtp_cmd_helo, smtp_cmd_ehlo, smtp_cmd_mail,
    smtp_cmd_rcpt, smtp_cmd_data, smtp_cmd_bdat, smtp_cmd_rset,
    smtp_cmd_noop, smtp_cmd_quit, smtp_cmd_vrfy, smtp_cmd_help,
    smtp_cmd_starttls, smtp_cmd_auth;

static const struct smtp_cmd smtp_cmds[] = {
	{ "EHLO",	smtp_cmd_ehlo,	SMTP_S_GREET | SMTP_S_READY |
					SMTP_S_MAIL | SMTP_S_RCPT },
	{ "HELO",	smtp_cmd_helo,	SMTP_S_GREET | SMTP_S_READY |
					SMTP_S_MAIL | SMTP_S_RCPT },
	{ "MAIL",	smtp_cmd_mail,	SMTP_S_READY },
	{ "RCPT",	smtp_cmd_rcpt,	SMTP_S_MAIL | SMTP_S_RCPT },
	{ "DATA",	smtp_cmd_data,	SMTP_S_MAIL | SMTP_S_RCPT },
	/* BDAT checks its state itself: a refused chunk is still read. */
	{ "BDAT",	smtp_cmd_bdat,	SMTP_S_ANY },
	{ "RSET",	smtp_cmd_rset,	SMTP_S_ANY },
	{ "NOOP",	smtp_cmd_noop,	SMTP_S_ANY },
	{ "QUIT",	smtp_cmd_quit,	SMTP_S_ANY },
	{ "VRFY",	smtp_cmd_vrfy,	SMTP_S_ANY },
	{ "HELP",	smtp_cmd_help,	SMTP_S_ANY },
	{ "STARTTLS",	smtp_cmd_starttls, SMTP_S_GREET | SMTP_S_READY },
	{ "AUTH",	smtp_cmd_auth,	SMTP_S_READY },
};

/* ---- replies, state, logs ------------------------------------------- */

static const char *
smtp_state_name(unsigned int state)
{
	switch (state) {
	case SMTP_S_GREET:	return "GREET";
	case SMTP_S_READY:	return "READY";
	case SMTP_S_MAIL:	return "MAIL";
	case SMTP_S_RCPT:	return "RCPT";
	case SMTP_S_DATA:	return "DATA";
	case SMTP_S_BDAT:	return "BDAT";
	case SMTP_S_AUTH:	return "AUTH";
	default:		return "?";
	}
}

/*
 * The read timeout of the state the session is in: the TLS handshake,
 * message content, an AUTH exchange, or a command (smtpd_timeout, also
 * the write timeout of every state).
 */
static void
smtp_session_timeouts(struct smtp_session *s)
{
	struct timeval	rd = { 0, 0 }, wr = { 0, 0 };
	uint64_t	secs;

	if (s->tls && !s->tls_ready)
		secs = cfg->smtpd_handshake_timeout;
	else if (s->state == SMTP_S_DATA || s->bdat_active)
		secs = cfg->smtpd_data_timeout;
	else if (s->state == SMTP_S_AUTH)
		secs = cfg->smtpd_auth_timeout;
	else
		secs = cfg->smtpd_timeout;
	if (secs == s->timeout)
		return;
	s->timeout = secs;
	rd.tv_sec = (time_t)secs;
	wr.tv_sec = (time_t)(s->tls && !s->tls_ready ? secs :
	    cfg->smtpd_timeout);
	(void)bufferevent_set_timeouts(s->bev, &rd, &wr);
}

static void
smtp_session_set_state(struct smtp_session *s, unsigned int state)
{
	if (s->state != state)
		log_debug("%s: state %s -> %s", s->namaddr,
		    smtp_state_name(s->state), smtp_state_name(state));
	s->state = state;
	smtp_session_timeouts(s);
}

/* The state after a transaction ends or is reset. */
static unsigned int
smtp_session_idle_state(const struct smtp_session *s)
{
	return s->helo != NULL ? SMTP_S_READY : SMTP_S_GREET;
}

static void smtp_reply(struct smtp_session *s, const char *fmt, ...)
    ATTR_PRINTF(2, 3);

/*
 * Queues one reply line.  4xx and 5xx count as errors; at
 * smtpd_max_errors the session says 421 and ends (Postfix's
 * smtpd_hard_error_limit).
 */
static void
smtp_reply(struct smtp_session *s, const char *fmt, ...)
{
	struct evbuffer	*out = bufferevent_get_output(s->bev);
	va_list		 ap;

	if (s->closing)
		return;
	va_start(ap, fmt);
	(void)evbuffer_add_vprintf(out, fmt, ap);
	va_end(ap);
	(void)evbuffer_add(out, "\r\n", 2);
	if ((fmt[0] == '4' || fmt[0] == '5') &&
	    ++s->errors >= cfg->smtpd_max_errors) {
		log_info("too many errors after %s from %s",
		    s->last_cmd[0] != '\0' ? s->last_cmd : "CONNECT",
		    s->namaddr);
		(void)evbuffer_add_printf(out,
		    "421 4.7.0 %s Error: too many errors\r\n",
		    s->sd->hostname);
		smtp_session_close(s);
	}
}

/* "ESMTP", "ESMTPS", "ESMTPSA" or "SMTP" for the header and the file. */
static const char *
smtp_session_protocol(const struct smtp_session *s)
{
	if (!s->esmtp)
		return s->tls ? "SMTPS" : "SMTP";
	if (s->auth_user != NULL)
		return s->tls ? "ESMTPSA" : "ESMTPA";
	return s->tls ? "ESMTPS" : "ESMTP";
}

static void
smtp_session_log_reject(struct smtp_session *s, const char *cmd,
    const char *reply, const char *to)
{
	char	from[SMTP_PARSE_PATH_MAX * 4 + 16] = "";
	char	rcpt[SMTP_PARSE_PATH_MAX * 4 + 16] = "";

	/* log_safe() escapes each byte to at most 4 characters. */
	if (s->sender != NULL)
		(void)snprintf(from, sizeof(from), " from=<%s>",
		    log_safe(s->sender));
	if (to != NULL)
		(void)snprintf(rcpt, sizeof(rcpt), " to=<%s>", log_safe(to));
	log_q(LOG_INFO, NULL, "reject: %s from %s: %s;%s%s proto=%s helo=<%s>",
	    cmd, s->namaddr, log_safe(reply), from, rcpt,
	    smtp_session_protocol(s),
	    log_safe(s->helo != NULL ? s->helo : ""));
}

/* ---- transaction ---------------------------------------------------- */

/* Drops the quota checks of pending_rcpt, answered or not. */
static void
smtp_session_quota_cancel(struct smtp_session *s)
{
	unsigned int	i;

	for (i = 0; i < s->nqchecks; i++)
		smtp_quota_cancel(&s->qchecks[i].req);
	free(s->qchecks);
	s->qchecks = NULL;
	s->nqchecks = 0;
	s->qwaiting = 0;
}

static void
smtp_session_reset(struct smtp_session *s)
{
	unsigned int	i;

	authd_request_cancel(&s->req);
	smtp_session_quota_cancel(s);
	s->waiting = false;
	free(s->pending_rcpt);
	s->pending_rcpt = NULL;
	for (i = 0; i < s->nrcpt; i++) {
		free(s->rcpts[i].addr);
		free(s->rcpts[i].orcpt);
	}
	s->nrcpt = 0;
	free(s->sender);
	s->sender = NULL;
	s->has_mail = false;
	memset(&s->mail, 0, sizeof(s->mail));
	smtp_data_free(&s->d);
	buf_free(&s->hdrbuf);
	qfile_writer_abort(&s->w);
	s->bdat_total = 0;
	s->sink_logged = false;
}

/*
 * The queue file's name is made durable while the envelope and data
 * arrive, so that the end of DATA costs one fsync (of the file): an
 * fsync of incoming/ in a pool thread after each queue file is named,
 * one at a time, a new one when files were named during the last.
 */
static void
smtp_dirsync_work(void *arg)
{
	struct smtpd	*sd = arg;
	const char	*error;

	/* A failure is the commit's to report: it syncs again then. */
	if (qfile_incoming_sync(sd->queue_dir, &error) == -1)
		return;
}

static void
smtp_dirsync_done(void *arg)
{
	struct smtpd	*sd = arg;

	sd->dirsync_busy = sd->dirsync_again;
	sd->dirsync_again = false;
	if (sd->dirsync_busy)
		workq_submit(sd->syncq, smtp_dirsync_work, smtp_dirsync_done,
		    sd);
}

static void
smtp_dirsync_kick(struct smtpd *sd)
{
	if (sd->dirsync_busy) {
		sd->dirsync_again = true;
		return;
	}
	sd->dirsync_busy = true;
	workq_submit(sd->syncq, smtp_dirsync_work, smtp_dirsync_done, sd);
}

/*
 * Names the transaction's queue file (at MAIL, or at DATA if that
 * failed).  Returns 0 or -1 (logged).
 */
static int
smtp_session_name_file(struct smtp_session *s)
{
	const char	*error;

	s->w = qfile_writer_new(s->sd->queue_dir, &error);
	if (s->w == NULL) {
		log_error("%s: cannot create a queue file: %s", s->namaddr,
		    error);
		return -1;
	}
	smtp_dirsync_kick(s->sd);
	return 0;
}

/*
 * Writes the held header section of a submission with the fields it
 * lacks (RFC 6409 8.2, 8.3) where it ends, and whatever followed it.
 * Returns 0 or -1 (*error_r).
 */
static int
smtp_session_header_flush(struct smtp_session *s, const char **error_r)
{
	const struct smtp_data_result *res = smtp_data_result(s->d);
	struct buf	*add;
	char		 stamp[32], date[64];
	struct tm	 tm;
	size_t		 hs = (size_t)res->header_size;
	int		 r;

	add = buf_new(256, SMTP_ADDED_FIELDS_MAX);
	if (localtime_r(&s->msg_time, &tm) == NULL ||
	    strftime(stamp, sizeof(stamp), "%Y%m%d%H%M%S", &tm) == 0 ||
	    str_date(date, sizeof(date), s->msg_time, false) == -1) {
		buf_free(&add);
		*error_r = "cannot format the date";
		return -1;
	}
	if ((!res->has_message_id && buf_printf(add, "Message-ID: <%s.%s@%s>"
	    "\r\n", stamp, qfile_writer_id(s->w), s->sd->hostname) == -1) ||
	    (!res->has_date && buf_printf(add, "Date: %s\r\n", date) == -1)) {
		buf_free(&add);
		*error_r = "added header fields too long";
		return -1;
	}
	/*
	 * A header section that ended at a line that is no header field (no
	 * empty line after it): the fields go before that line, and an empty
	 * line after them keeps it in the body.
	 */
	if (add->len > 0 && s->hdrbuf->len > hs &&
	    (s->hdrbuf->len - hs < 2 ||
	    memcmp(s->hdrbuf->data + hs, "\r\n", 2) != 0) &&
	    buf_append(add, "\r\n", 2) == -1) {
		buf_free(&add);
		*error_r = "added header fields too long";
		return -1;
	}
	r = qfile_writer_write(s->w, s->hdrbuf->data, hs, error_r);
	if (r == 0 && add->len > 0)
		r = qfile_writer_write(s->w, add->data, add->len, error_r);
	if (r == 0 && s->hdrbuf->len > hs)
		r = qfile_writer_write(s->w, s->hdrbuf->data + hs,
		    s->hdrbuf->len - hs, error_r);
	s->hdr_len += add->len;
	buf_free(&add);
	buf_free(&s->hdrbuf);
	return r;
}

static int
smtp_session_sink(void *ctx, const uint8_t *data, size_t len,
    const char **error_r)
{
	struct smtp_session *s = ctx;
	const struct smtp_data_result *res;

	if (s->hdrbuf == NULL)
		return qfile_writer_write(s->w, data, len, error_r);
	/* Bounded: the filter stops at smtpd_max_header_size. */
	if (buf_append(s->hdrbuf, data, len) == -1) {
		*error_r = "header section too big to hold";
		return -1;
	}
	/* Also the two bytes after the header: an empty line or not? */
	res = smtp_data_result(s->d);
	if (res->header_done && s->hdrbuf->len >= res->header_size + 2)
		return smtp_session_header_flush(s, error_r);
	return 0;
}

static enum qfile_body
smtp_session_qbody(enum smtp_parse_body b)
{
	switch (b) {
	case SMTP_PARSE_BODY_7BIT:		return QFILE_BODY_7BIT;
	case SMTP_PARSE_BODY_8BITMIME:		return QFILE_BODY_8BITMIME;
	case SMTP_PARSE_BODY_BINARYMIME:	return QFILE_BODY_BINARYMIME;
	case SMTP_PARSE_BODY_NONE:
	default:				return QFILE_BODY_NONE;
	}
}

static enum qfile_ret
smtp_session_qret(enum smtp_parse_ret r)
{
	switch (r) {
	case SMTP_PARSE_RET_FULL:	return QFILE_RET_FULL;
	case SMTP_PARSE_RET_HDRS:	return QFILE_RET_HDRS;
	case SMTP_PARSE_RET_NONE:
	default:			return QFILE_RET_NONE;
	}
}

/*
 * The Received header (RFC 5321 4.4), in Postfix's layout; we do no
 * reverse DNS lookup, so the client is "unknown [IP]".
 */
static int
smtp_session_received(struct smtp_session *s, const char *qid,
    struct buf *b)
{
	char	date[64];
	SSL	*ssl;

	if (str_date(date, sizeof(date), time(NULL), true) == -1)
		return -1;
	/*
	 * A client that talks right after the handshake may be read before
	 * the handshake's event has run: take the summary from the session.
	 */
	if (s->tls && s->tls_info[0] == '\0' &&
	    (ssl = tls_bufferevent_ssl(s->bev)) != NULL &&
	    SSL_is_init_finished(ssl) && tls_info_format(ssl, s->tls_info,
	    sizeof(s->tls_info)) == 0)
		s->tls_ready = true;
	if (buf_printf(b, "Received: from %s (unknown [%s])\r\n",
	    s->helo != NULL ? s->helo : "unknown", s->addr) == -1)
		return -1;
	if (s->tls_ready && s->tls_info[0] != '\0' &&
	    buf_printf(b, "\t(using %s)\r\n", s->tls_info) == -1)
		return -1;
	if (buf_printf(b, "\tby %s (postern) with %s id %s", s->sd->hostname,
	    smtp_session_protocol(s), qid) == -1)
		return -1;
	if (s->nrcpt == 1)
		return buf_printf(b, "\r\n\tfor <%s>; %s\r\n", s->rcpts[0].addr,
		    date);
	return buf_printf(b, ";\r\n\t%s\r\n", date);
}

/*
 * Starts the queue file for DATA or the first BDAT chunk: envelope,
 * Received header, the data filter.  Returns 0, or -1 (logged; the
 * caller answers 452 4.3.1).
 */
static int
smtp_session_begin_message(struct smtp_session *s, enum smtp_data_mode mode)
{
	struct qfile_mail	 m;
	struct qfile_client	 c;
	struct qfile_rcpt	 r;
	struct smtp_data_limits	 lim;
	struct buf		*hdr;
	const char		*error, *qid;
	unsigned int		 i;

	if (s->w == NULL && smtp_session_name_file(s) == -1)
		return -1;
	qid = qfile_writer_id(s->w);
	if (s->auth_user != NULL)
		log_q(LOG_INFO, qid, "client=%s, sasl_method=%s, "
		    "sasl_username=%s", s->namaddr, s->auth_mech,
		    log_safe(s->auth_user));
	else
		log_q(LOG_INFO, qid, "client=%s", s->namaddr);

	memset(&m, 0, sizeof(m));
	m.sender = s->sender;
	m.size = s->mail.has_size ? s->mail.size : 0;
	m.body = smtp_session_qbody(s->mail.body);
	m.smtputf8 = s->mail.smtputf8;
	m.ret = smtp_session_qret(s->mail.ret);
	m.envid = s->mail.has_envid ? s->mail.envid : NULL;
	/* RFC 4954 5: AUTH= is kept only from an authenticated client. */
	if (s->mail.has_auth && s->auth_user != NULL)
		m.auth = s->mail.auth_empty ? "" : s->mail.auth;
	memset(&c, 0, sizeof(c));
	c.addr = s->addr;
	c.helo = s->helo;
	c.protocol = smtp_session_protocol(s);
	c.sasl_user = s->auth_user;
	if (qfile_writer_mail(s->w, &m, &error) == -1 ||
	    qfile_writer_client(s->w, &c, &error) == -1)
		goto fail;
	for (i = 0; i < s->nrcpt; i++) {
		r.addr = s->rcpts[i].addr;
		r.orcpt = s->rcpts[i].orcpt;
		r.notify = s->rcpts[i].notify;
		if (qfile_writer_add_rcpt(s->w, &r, &error) == -1)
			goto fail;
	}
	hdr = buf_new(512, QFILE_HELO_MAX + QFILE_ADDR_MAX + 1024);
	if (smtp_session_received(s, qid, hdr) == -1) {
		buf_free(&hdr);
		error = "Received header too long";
		goto fail;
	}
	s->hdr_len = hdr->len;
	if (qfile_writer_begin_message(s->w,
	    cfg->smtpd_max_message_size + hdr->len +
	    (s->role != SMTP_ROLE_SMTP ? SMTP_ADDED_FIELDS_MAX : 0),
	    &error) == -1 ||
	    qfile_writer_write(s->w, hdr->data, hdr->len, &error) == -1) {
		buf_free(&hdr);
		goto fail;
	}
	buf_free(&hdr);

	lim.max_message_size = cfg->smtpd_max_message_size;
	lim.max_line_length = (size_t)cfg->smtpd_max_data_line_length;
	lim.max_hops = cfg->smtpd_max_hops;
	lim.max_header_size = (size_t)cfg->smtpd_max_header_size;
	/* Submission completes messages (Message-ID, Date) that lack them. */
	if (s->role != SMTP_ROLE_SMTP) {
		s->msg_time = time(NULL);
		s->hdrbuf = buf_new(4096, (size_t)cfg->smtpd_max_header_size +
		    2 * SMTP_DATA_OUT_SIZE);
	}
	s->d = smtp_data_new(mode, strcmp(cfg->smtpd_bare_newline,
	    "normalize") == 0 ? SMTP_DATA_NORMALIZE : SMTP_DATA_REJECT, &lim,
	    smtp_session_sink, s);
	return 0;

fail:
	log_q(LOG_ERR, qid, "cannot write queue file: %s", error);
	qfile_writer_abort(&s->w);
	return -1;
}

/*
 * A queue file on its way to the disk: the writer moves here from the
 * session, a pool thread commits it (fsync, rename, fsync of the folder:
 * the slow part), and the event loop answers the client.  A session that
 * goes away meanwhile only unhooks itself (s = NULL): the commit still
 * finishes and is logged, since it cannot be called back, and the client,
 * which saw no 250, sends the message again (DESIGN.md: twice, never
 * lost).
 */
struct smtp_commit {
	struct smtpd		*sd;
	struct smtp_session	*s;
	struct qfile_writer	*w;
	int			 rc;
	char			 qid[QFILE_ID_SIZE];
	char			 error[ERROR_MAX];
	char			*sender;
	uint64_t		 size;
	unsigned int		 nrcpt;
};

/* In a pool thread: only the writer and the job's own fields. */
static void
smtp_commit_work(void *arg)
{
	struct smtp_commit	*c = arg;
	const char		*error;

	c->rc = qfile_writer_commit(c->w, c->qid, &error);
	if (c->rc == -1)
		(void)snprintf(c->error, sizeof(c->error), "%s", error);
}

/* In the event loop: log, answer, and go on with pipelined commands. */
static void
smtp_commit_done(void *arg)
{
	struct smtp_commit	*c = arg;
	struct smtp_session	*s = c->s;

	if (c->rc == -1)
		log_q(LOG_ERR, qfile_writer_id(c->w), "cannot commit queue "
		    "file: %s%s%s", c->error, s != NULL ? "; 452 4.3.1 to " :
		    "", s != NULL ? s->namaddr : "");
	else
		log_q(LOG_INFO, c->qid, "from=<%s>, size=%" PRIu64 ", nrcpt=%u "
		    "(queue active)%s", log_safe(c->sender), c->size, c->nrcpt,
		    s == NULL ? " (the client left before the reply)" : "");
	qfile_writer_abort(&c->w);
	free(c->sender);
	if (s != NULL) {
		s->commit = NULL;
		if (c->rc == -1)
			smtp_reply(s, "452 4.3.1 Error: insufficient system "
			    "storage");
		else {
			smtp_reply(s, "250 2.0.0 Ok: queued as %s", c->qid);
			s->junk = 0;
		}
		smtp_session_set_state(s, smtp_session_idle_state(s));
		s->waiting = false;
	}
	/* After the reply: the notice only makes the delivery prompt. */
	if (c->rc == 0)
		(void)qmgr_notify_queued(c->sd->qmgr, c->qid);
	free(c);
	if (s != NULL)
		smtp_session_run(s);
}

/*
 * The end of DATA or of the last BDAT chunk: refuse, or hand the queue
 * file to a sync thread; its done function answers 250 (or 452) and
 * the session reads no further command until then.
 */
static void
smtp_session_end_message(struct smtp_session *s, const char *cmd)
{
	const struct smtp_data_result *res = smtp_data_result(s->d);
	struct smtp_commit	*c;
	const char		*reply, *error;

	/* The whole message went through the sink: the header section too. */
	if (res->flags == 0 && s->hdrbuf != NULL &&
	    smtp_session_header_flush(s, &error) == -1) {
		log_q(LOG_ERR, qfile_writer_id(s->w), "write queue file: %s",
		    error);
		smtp_reply(s, "452 4.3.1 Error: insufficient system storage");
		smtp_session_reset(s);
		smtp_session_set_state(s, smtp_session_idle_state(s));
		return;
	}
	if (res->flags != 0) {
		if ((res->flags & SMTP_DATA_SINK_FAILED) != 0)
			reply = "452 4.3.1 Error: insufficient system storage";
		else
			reply = smtp_data_reply(res->flags);
		log_q(LOG_INFO, qfile_writer_id(s->w), "reject: %s from %s: "
		    "%s; from=<%s> proto=%s helo=<%s>", cmd, s->namaddr, reply,
		    log_safe(s->sender), smtp_session_protocol(s),
		    log_safe(s->helo != NULL ? s->helo : ""));
		smtp_reply(s, "%s", reply);
		smtp_session_reset(s);
		smtp_session_set_state(s, smtp_session_idle_state(s));
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->sd = s->sd;
	c->s = s;
	c->w = s->w;
	s->w = NULL;
	c->sender = xstrdup(s->sender);
	c->size = res->bytes + s->hdr_len;
	c->nrcpt = s->nrcpt;
	smtp_session_reset(s);
	s->commit = c;
	s->waiting = true;
	(void)bufferevent_disable(s->bev, EV_READ);
	workq_submit(s->sd->syncq, smtp_commit_work, smtp_commit_done, c);
}

/* ---- input ---------------------------------------------------------- */

/* Message data after 354.  Returns 1 when the message ended, 0: more. */
static int
smtp_session_data_input(struct smtp_session *s, struct evbuffer *in)
{
	struct evbuffer_iovec	 v;
	const char		*error;
	size_t			 consumed;
	int			 r;

	while (evbuffer_peek(in, -1, NULL, &v, 1) > 0 && v.iov_len > 0) {
		r = smtp_data_feed(s->d, v.iov_base, v.iov_len, &consumed,
		    &error);
		(void)evbuffer_drain(in, consumed);
		if (r == -1 && !s->sink_logged) {
			log_q(LOG_ERR, qfile_writer_id(s->w),
			    "write queue file: %s", error);
			s->sink_logged = true;
		}
		/* A sink failure may come with the end of the data. */
		if (r == 1 || (r == -1 && smtp_data_result(s->d)->done)) {
			smtp_session_end_message(s, "DATA");
			return 1;
		}
	}
	return 0;
}

/* A BDAT chunk.  Returns 1 when the chunk is complete, 0: more. */
static int
smtp_session_bdat_input(struct smtp_session *s, struct evbuffer *in)
{
	struct evbuffer_iovec	 v;
	const char		*error;
	size_t			 take;
	bool			 last;
	int			 r;

	while (s->bdat_left > 0) {
		if (evbuffer_peek(in, -1, NULL, &v, 1) <= 0 || v.iov_len == 0)
			return 0;
		take = v.iov_len;
		if ((uint64_t)take > s->bdat_left)
			take = (size_t)s->bdat_left;
		if (s->bdat_reject == NULL) {
			last = s->bdat_last && (uint64_t)take == s->bdat_left;
			r = smtp_data_feed_chunk(s->d, v.iov_base, take, last,
			    &error);
			if (last)
				s->bdat_fed = true;
			if (r == -1 && !s->sink_logged) {
				log_q(LOG_ERR, qfile_writer_id(s->w),
				    "write queue file: %s", error);
				s->sink_logged = true;
			}
		}
		(void)evbuffer_drain(in, take);
		s->bdat_left -= take;
	}
	s->bdat_active = false;
	smtp_session_timeouts(s);
	if (s->bdat_reject != NULL) {
		smtp_reply(s, "%s", s->bdat_reject);
		s->bdat_reject = NULL;
		return 1;
	}
	if (!s->bdat_last) {
		smtp_reply(s, "250 2.0.0 Ok: %" PRIu64 " octets received",
		    s->bdat_total);
		return 1;
	}
	if (!s->bdat_fed &&	/* "BDAT 0 LAST" */
	    smtp_data_feed_chunk(s->d, (const uint8_t *)"", 0, true,
	    &error) == -1)
		log_q(LOG_ERR, qfile_writer_id(s->w), "write queue file: %s",
		    error);
	smtp_session_end_message(s, "BDAT");
	return 1;
}

static const struct smtp_cmd *
smtp_cmd_find(const char *verb)
{
	size_t	i;

	for (i = 0; i < N_ELEMENTS(smtp_cmds); i++)
		if (strcmp(smtp_cmds[i].verb, verb) == 0)
			return &smtp_cmds[i];
	return NULL;
}

/*
 * Counts a command that brings no mail (smtpd_max_junk_commands).
 * Returns false, after 421, when it was one too many.
 */
static bool
smtp_session_count_junk(struct smtp_session *s)
{
	if (++s->junk <= cfg->smtpd_max_junk_commands)
		return true;
	log_q(LOG_INFO, NULL, "reject: %s from %s: too many commands "
	    "without mail", s->last_cmd, s->namaddr);
	smtp_reply(s, "421 4.7.0 %s Error: too many commands",
	    s->sd->hostname);
	smtp_session_close(s);
	return false;
}

static void
smtp_session_command(struct smtp_session *s)
{
	struct smtp_parse_cmd	 cmd;
	const struct smtp_cmd	*c;
	enum smtp_parse_err	 kind;
	const char		*error;

	if (smtp_parse_command(s->line->data, s->line->len, &cmd, &kind,
	    &error) == -1) {
		smtp_reply(s, "500 5.5.2 Error: %s", error);
		return;
	}
	(void)snprintf(s->last_cmd, sizeof(s->last_cmd), "%s", cmd.verb);
	if ((c = smtp_cmd_find(cmd.verb)) == NULL) {
		if (smtp_session_count_junk(s))
			smtp_reply(s, "502 5.5.2 Error: command not recognized");
		return;
	}
	if (c->handler != smtp_cmd_mail && c->handler != smtp_cmd_rcpt &&
	    c->handler != smtp_cmd_data && c->handler != smtp_cmd_bdat &&
	    !smtp_session_count_junk(s))
		return;
	if ((c->states & s->state) == 0) {
		if (s->state == SMTP_S_GREET)
			smtp_reply(s, "503 5.5.1 Error: send HELO/EHLO first");
		else
			smtp_reply(s, "503 5.5.1 Error: bad sequence of "
			    "commands");
		return;
	}
	c->handler(s, cmd.args);
}

static void smtp_session_auth_line(struct smtp_session *s);

/* Message bytes read at once past libevent, and per turn of the loop. */
#define SMTP_PULL_CHUNK		65536
#define SMTP_PULL_TURN		(8 * SMTP_PULL_CHUNK)

/*
 * libevent 2.1 reads at most 4 KiB per readable event (its
 * EVBUFFER_MAX_READ), so a 100 KiB message took some 25 turns of the
 * loop, each with an epoll_wait(), an ioctl() and a read.  While a
 * message streams in over a plain socket, its session reads on directly
 * into the input buffer until the socket is empty, up to SMTP_PULL_TURN
 * bytes per turn so other sessions get theirs.  End of file and errors
 * are left to libevent, which reads them again and reports them as
 * usual.  Returns true when bytes were added.
 */
static bool
smtp_session_pull(struct smtp_session *s, struct evbuffer *in,
    size_t *budget)
{
	struct evbuffer_iovec	 v[2];
	struct iovec		 iov[2];
	evutil_socket_t		 fd;
	ssize_t			 n;
	size_t			 left;
	int			 nv, i;

	if (*budget < SMTP_PULL_CHUNK || tls_bufferevent_ssl(s->bev) != NULL ||
	    (fd = bufferevent_getfd(s->bev)) == -1)
		return false;
	nv = evbuffer_reserve_space(in, SMTP_PULL_CHUNK, v, 2);
	if (nv <= 0)
		return false;
	for (i = 0; i < nv; i++) {
		iov[i].iov_base = v[i].iov_base;
		iov[i].iov_len = v[i].iov_len;
	}
	do
		n = readv(fd, iov, nv);
	while (n == -1 && errno == EINTR);
	if (n <= 0) {
		(void)evbuffer_commit_space(in, v, 0);
		return false;
	}
	left = (size_t)n;
	for (i = 0; i < nv; i++) {
		if (v[i].iov_len > left)
			v[i].iov_len = left;
		left -= v[i].iov_len;
	}
	if (evbuffer_commit_space(in, v, nv) == -1)
		return false;
	*budget -= (size_t)n;
	return true;
}

/*
 * Processes buffered input in order until it runs out, the session waits
 * for authd, or it closes.  May free the session: the caller must not
 * touch s afterwards.
 */
static void
smtp_session_run(struct smtp_session *s)
{
	struct evbuffer		*in;
	enum line_status	 st;
	size_t			 budget = SMTP_PULL_TURN;
	bool			 bare_lf;

	if (!s->greeted && !s->closing) {
		/* smtpd_greet_pause: whoever talks now talks too early. */
		if (evbuffer_get_length(bufferevent_get_input(s->bev)) == 0)
			return;
		log_q(LOG_INFO, NULL, "reject: early talker: CONNECT from %s: "
		    "sent %zu bytes before the greeting", s->namaddr,
		    evbuffer_get_length(bufferevent_get_input(s->bev)));
		smtp_reply(s, "554 5.5.1 Error: you talked before the "
		    "greeting; bye");
		smtp_session_close(s);
	}
	while (!s->closing && !s->waiting) {
		if (evbuffer_get_length(bufferevent_get_output(s->bev)) >
		    SMTP_OUTPUT_MAX) {
			log_debug("%s: replies not read; pausing input",
			    s->namaddr);
			s->output_full = true;
			(void)bufferevent_disable(s->bev, EV_READ);
			return;		/* the write callback resumes */
		}
		in = bufferevent_get_input(s->bev);
		if (s->state == SMTP_S_DATA) {
			if (smtp_session_data_input(s, in) == 0 &&
			    !smtp_session_pull(s, in, &budget))
				break;
			continue;
		}
		if (s->bdat_active) {
			if (smtp_session_bdat_input(s, in) == 0 &&
			    !smtp_session_pull(s, in, &budget))
				break;
			continue;
		}
		if (s->skipping) {
			if (!net_skip_line(in))
				break;
			s->skipping = false;
			continue;
		}
		/* Stopping: idle sessions end before their next command. */
		if (service_stopping(s->sd->sv) && (s->state == SMTP_S_GREET ||
		    s->state == SMTP_S_READY)) {
			smtp_reply(s, "421 4.3.2 %s Service shutting down",
			    s->sd->hostname);
			smtp_session_close(s);
			break;
		}
		st = net_read_line(in, s->line,
		    (size_t)cfg->smtpd_max_line_length, &bare_lf);
		if (st == LINE_MORE)
			break;
		if (st == LINE_TOO_LONG) {
			log_info("line too long from %s", s->namaddr);
			s->skipping = true;
			if (s->state == SMTP_S_AUTH) {
				authd_request_cancel(&s->req);
				smtp_session_set_state(s, s->auth_prev_state);
			}
			smtp_reply(s, "500 5.5.2 Error: line too long");
			continue;
		}
		if (s->state == SMTP_S_AUTH)
			smtp_session_auth_line(s);
		else
			smtp_session_command(s);
		/* A SASL answer may hold a password. */
		explicit_bzero(s->line->data, s->line->len);
		buf_reset(s->line);
	}
	if (s->closing) {
		smtp_session_finish(s);
		return;
	}
	if (!s->waiting)
		(void)bufferevent_enable(s->bev, EV_READ);
}

/* ---- connection ----------------------------------------------------- */

static bool
smtp_session_output_empty(struct smtp_session *s)
{
	struct bufferevent *under;

	if (evbuffer_get_length(bufferevent_get_output(s->bev)) > 0)
		return false;
	under = bufferevent_get_underlying(s->bev);
	return under == NULL ||
	    evbuffer_get_length(bufferevent_get_output(under)) == 0;
}

static void
smtp_session_close_poll(evutil_socket_t fd ATTR_UNUSED,
    short what ATTR_UNUSED, void *arg)
{
	smtp_session_finish(arg);
}

/*
 * Marks the session for closing: nothing more is read or answered.  The
 * session is freed later, by smtp_session_finish(), so a handler may call
 * this and return normally.
 */
static void
smtp_session_close(struct smtp_session *s)
{
	if (s->closing)
		return;
	s->closing = true;
	(void)bufferevent_disable(s->bev, EV_READ);
	authd_request_cancel(&s->req);
	smtp_session_quota_cancel(s);
	s->waiting = false;
}

/*
 * Frees a closing session once the replies queued so far are out: at
 * once, from the write callback, or (TLS over a plain bufferevent, whose
 * output the write callback does not see) from a short poll.  The caller
 * must not touch s afterwards.
 */
/*
 * RFC 8446 6.1: a TLS session ends with close_notify, sent once the
 * replies are out of the plaintext buffer (for STARTTLS the alert then
 * drains through the plain bufferevent underneath, like the replies).
 */
static void
smtp_session_tls_close(struct smtp_session *s)
{
	SSL	*ssl;

	if (!s->tls_ready || s->tls_closed ||
	    evbuffer_get_length(bufferevent_get_output(s->bev)) > 0)
		return;
	s->tls_closed = true;
	if ((ssl = tls_bufferevent_ssl(s->bev)) != NULL) {
		(void)SSL_shutdown(ssl);
		ERR_clear_error();
	}
}

static void
smtp_session_finish(struct smtp_session *s)
{
	struct timeval	tv = { 0, SMTP_CLOSE_POLL_USEC };

	smtp_session_tls_close(s);

	if (smtp_session_output_empty(s) ||
	    s->close_polls >= SMTP_CLOSE_POLL_MAX) {
		smtp_session_free(&s);
		return;
	}
	if (evbuffer_get_length(bufferevent_get_output(s->bev)) > 0)
		return;		/* the write callback comes back */
	if (s->close_ev == NULL)
		s->close_ev = evtimer_new(service_base(s->sd->sv),
		    smtp_session_close_poll, s);
	s->close_polls++;
	(void)evtimer_add(s->close_ev, &tv);
}

static void
smtp_session_read_cb(struct bufferevent *bev ATTR_UNUSED, void *arg)
{
	smtp_session_run(arg);
}

static void
smtp_session_write_cb(struct bufferevent *bev ATTR_UNUSED, void *arg)
{
	struct smtp_session *s = arg;

	if (s->closing)
		smtp_session_finish(s);
	else if (s->output_full) {
		s->output_full = false;
		smtp_session_run(s);
	}
}

static void
smtp_session_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct smtp_session *s = arg;
	SSL		*ssl;

	if ((what & BEV_EVENT_CONNECTED) != 0) {
		s->tls_ready = true;
		ssl = tls_bufferevent_ssl(bev);
		if (ssl == NULL || tls_info_format(ssl, s->tls_info,
		    sizeof(s->tls_info)) == -1)
			s->tls_info[0] = '\0';
		log_info("TLS connection established from %s: %s", s->namaddr,
		    s->tls_info);
		smtp_session_timeouts(s);
		return;
	}
	/*
	 * A client that stops reading our replies times out on writing:
	 * no reply can reach it any more, so it goes at once, as do a
	 * closing session whose last reply does not drain and a client that
	 * never finishes the TLS handshake.  A write timeout with nothing
	 * left to write (a TLS bufferevent may keep its write event armed
	 * after the handshake) is an idle client like a read timeout.
	 */
	if ((what & BEV_EVENT_TIMEOUT) != 0 && !s->closing &&
	    ((what & BEV_EVENT_WRITING) == 0 ||
	    evbuffer_get_length(bufferevent_get_output(bev)) == 0) &&
	    (!s->tls || s->tls_ready)) {
		log_info("timeout after %s from %s", s->last_cmd[0] != '\0' ?
		    s->last_cmd : "CONNECT", s->namaddr);
		smtp_reply(s, "421 4.4.2 %s Error: timeout exceeded",
		    s->sd->hostname);
		smtp_session_close(s);
		smtp_session_finish(s);
		return;
	}
	if ((what & BEV_EVENT_TIMEOUT) != 0 && s->tls && !s->tls_ready)
		log_info("timeout in the TLS handshake from %s", s->namaddr);
	else if ((what & BEV_EVENT_TIMEOUT) != 0)
		log_info("timeout after %s from %s (replies not read)",
		    s->last_cmd[0] != '\0' ? s->last_cmd : "CONNECT",
		    s->namaddr);
	else if ((what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) != 0) {
		if (s->tls && !s->tls_ready)
			log_info("TLS handshake failed from %s: %s",
			    s->namaddr, tls_bufferevent_error(bev));
		else if (!s->closing && (s->has_mail || s->w != NULL))
			log_info("lost connection after %s from %s",
			    s->last_cmd, s->namaddr);
	}
	smtp_session_free(&s);
}

static void
smtp_session_setcb(struct smtp_session *s)
{
	bufferevent_setcb(s->bev, smtp_session_read_cb, smtp_session_write_cb,
	    smtp_session_event_cb, s);
	s->timeout = 0;		/* a new bufferevent: set them again */
	smtp_session_timeouts(s);
	(void)bufferevent_enable(s->bev, EV_READ | EV_WRITE);
}

static void
smtp_session_greet(struct smtp_session *s)
{
	s->greeted = true;
	/* The client's time to answer starts now, not at the connect. */
	s->timeout = 0;
	smtp_session_timeouts(s);
	smtp_reply(s, "220 %s ESMTP postern", s->sd->hostname);
}

/* The greeting pause is over: greet, unless the client spoke already. */
static void
smtp_session_greet_cb(evutil_socket_t fd ATTR_UNUSED, short what ATTR_UNUSED,
    void *arg)
{
	struct smtp_session	*s = arg;

	if (evbuffer_get_length(bufferevent_get_input(s->bev)) > 0) {
		smtp_session_run(s);	/* rejects the early talker */
		return;
	}
	smtp_session_greet(s);
}

void
smtp_session_new(struct smtpd *sd, int fd, const struct service_listener *l,
    const struct sockaddr *peer, socklen_t peer_len ATTR_UNUSED)
{
	struct smtp_session	*s, *o;
	struct timeval		 pause = { (time_t)cfg->smtpd_greet_pause, 0 };
	const char		*error;
	unsigned int		 others = 0;
	bool			 trusted;

	s = xcalloc(1, sizeof(*s));
	s->sd = sd;
	if (strcmp(l->role, "submission") == 0)
		s->role = SMTP_ROLE_SUBMISSION;
	else if (strcmp(l->role, "smtps") == 0)
		s->role = SMTP_ROLE_SMTPS;
	else
		s->role = SMTP_ROLE_SMTP;
	if (peer == NULL || net_addr_str(peer, s->addr, sizeof(s->addr)) == -1)
		(void)snprintf(s->addr, sizeof(s->addr), "unknown");
	(void)snprintf(s->namaddr, sizeof(s->namaddr), "unknown[%s]",
	    s->addr);

	if (s->role == SMTP_ROLE_SMTPS) {
		if (sd->tls == NULL) {
			log_warning("smtps listener %s without tls_cert_file: "
			    "dropping %s", l->address, s->namaddr);
			(void)close(fd);
			free(s);
			return;
		}
		if (tls_accept_bufferevent(service_base(sd->sv), sd->tls, fd,
		    &s->bev, &error) == -1) {
			log_error("%s: %s", s->namaddr, error);
			(void)close(fd);
			free(s);
			return;
		}
		s->tls = true;
	} else {
		s->bev = bufferevent_socket_new(service_base(sd->sv), fd,
		    BEV_OPT_CLOSE_ON_FREE);
		if (s->bev == NULL) {
			log_error("%s: bufferevent_socket_new failed",
			    s->namaddr);
			(void)close(fd);
			free(s);
			return;
		}
	}
	s->line = buf_new(256, (size_t)cfg->smtpd_max_line_length + 2);
	s->state = SMTP_S_GREET;
	trusted = cidr_list_match(cfg->mynetworks, s->addr);
	/* Before the insert: count the client's other sessions. */
	if (!trusted)
		TAILQ_FOREACH(o, &sd->sessions, entry)
			if (strcmp(o->addr, s->addr) == 0)
				others++;
	TAILQ_INSERT_TAIL(&sd->sessions, s, entry);
	service_client_opened(sd->sv);
	log_info("connect from %s", s->namaddr);
	smtp_session_setcb(s);
	if (others >= cfg->smtpd_max_connections_per_client) {
		log_q(LOG_INFO, NULL, "reject: CONNECT from %s: too many "
		    "connections (%u)", s->namaddr, others + 1);
		s->greeted = true;
		smtp_reply(s, "421 4.7.0 %s Error: too many connections from "
		    "%s", sd->hostname, s->addr);
		smtp_session_close(s);
		smtp_session_finish(s);
		return;
	}
	if (s->role == SMTP_ROLE_SMTP && !trusted &&
	    cfg->smtpd_greet_pause > 0) {
		s->greet_ev = evtimer_new(service_base(sd->sv),
		    smtp_session_greet_cb, s);
		if (s->greet_ev != NULL &&
		    evtimer_add(s->greet_ev, &pause) == 0)
			return;		/* greets when the pause is over */
	}
	smtp_session_greet(s);
}

static void
smtp_session_free(struct smtp_session **sp)
{
	struct smtp_session *s = *sp;

	if (s == NULL)
		return;
	*sp = NULL;
	log_info("disconnect from %s", s->namaddr);
	if (s->commit != NULL)
		s->commit->s = NULL;
	smtp_session_reset(s);
	TAILQ_REMOVE(&s->sd->sessions, s, entry);
	if (s->close_ev != NULL)
		event_free(s->close_ev);
	if (s->greet_ev != NULL)
		event_free(s->greet_ev);
	bufferevent_free(s->bev);
	buf_free(&s->line);
	free(s->rcpts);
	free(s->helo);
	if (s->auth_user != NULL) {
		explicit_bzero(s->auth_user, strlen(s->auth_user));
		free(s->auth_user);
	}
	service_client_closed(s->sd->sv);
	free(s);
}

void
smtp_session_stop_all(struct smtpd *sd)
{
	struct smtp_session *s, *next;

	for (s = TAILQ_FIRST(&sd->sessions); s != NULL; s = next) {
		next = TAILQ_NEXT(s, entry);
		if (s->closing || s->waiting ||
		    (s->state != SMTP_S_GREET && s->state != SMTP_S_READY))
			continue;
		smtp_reply(s, "421 4.3.2 %s Service shutting down",
		    sd->hostname);
		smtp_session_close(s);
		smtp_session_finish(s);
	}
}

void
smtp_session_free_all(struct smtpd *sd)
{
	struct smtp_session *s;

	while ((s = TAILQ_FIRST(&sd->sessions)) != NULL)
		smtp_session_free(&s);
}

/* ---- HELO, EHLO ----------------------------------------------------- */

/* A HELO/EHLO argument: one word of printable ASCII. */
static bool
smtp_helo_valid(const char *arg)
{
	size_t	i;

	for (i = 0; arg[i] != '\0'; i++)
		if (arg[i] <= ' ' || arg[i] >= 0x7f)
			return false;
	return i > 0 && i <= SMTP_HELO_MAX;
}

static bool
smtp_session_helo_common(struct smtp_session *s, const char *args,
    const char *verb)
{
	if (!smtp_helo_valid(args)) {
		smtp_reply(s, "501 5.5.4 Syntax: %s hostname", verb);
		return false;
	}
	smtp_session_reset(s);
	free(s->helo);
	s->helo = xstrdup(args);
	smtp_session_set_state(s, SMTP_S_READY);
	return true;
}

static void
smtp_cmd_helo(struct smtp_session *s, const char *args)
{
	if (!smtp_session_helo_common(s, args, "HELO"))
		return;
	s->esmtp = false;
	smtp_reply(s, "250 %s", s->sd->hostname);
}

static void
smtp_cmd_ehlo(struct smtp_session *s, const char *args)
{
	const char	*ext[12];
	char		 size[32];
	size_t		 n = 0, i;

	if (!smtp_session_helo_common(s, args, "EHLO"))
		return;
	s->esmtp = true;
	(void)snprintf(size, sizeof(size), "SIZE %" PRIu64,
	    cfg->smtpd_max_message_size);
	ext[n++] = "PIPELINING";
	ext[n++] = size;
	ext[n++] = "8BITMIME";
	ext[n++] = "ENHANCEDSTATUSCODES";
	ext[n++] = "SMTPUTF8";
	ext[n++] = "CHUNKING";
	ext[n++] = "DSN";
	if (s->sd->tls != NULL && !s->tls)
		ext[n++] = "STARTTLS";
	/* RFC 4954 4: no AUTH over a cleartext channel (STYLE: strict). */
	if (s->tls && s->auth_user == NULL)
		ext[n++] = "AUTH PLAIN LOGIN";
	smtp_reply(s, "250-%s", s->sd->hostname);
	for (i = 0; i < n; i++)
		smtp_reply(s, "250%c%s", i + 1 == n ? ' ' : '-', ext[i]);
}

/* ---- MAIL, RCPT ----------------------------------------------------- */

/*
 * Answers and logs a refused MAIL or RCPT (every rejection is logged with
 * the client's address).
 */
static void
smtp_session_refuse(struct smtp_session *s, const char *cmd,
    const char *reply)
{
	smtp_session_log_reject(s, cmd, reply, NULL);
	smtp_reply(s, "%s", reply);
}

/* Answers a parse error of MAIL or RCPT; enh is 5.1.7 or 5.1.3 (paths). */
static void
smtp_session_parse_error(struct smtp_session *s, const char *cmd,
    enum smtp_parse_err kind, const char *enh, const char *error)
{
	char	reply[ERROR_MAX + 32];

	switch (kind) {
	case SMTP_PARSE_E_8BIT:
		(void)snprintf(reply, sizeof(reply), "553 5.6.7 Error: %s",
		    error);
		break;
	case SMTP_PARSE_E_NULL_PATH:
		(void)snprintf(reply, sizeof(reply), "501 5.1.3 Error: %s",
		    error);
		break;
	case SMTP_PARSE_E_PARAM_SYNTAX:
		(void)snprintf(reply, sizeof(reply), "501 5.5.4 Error: %s",
		    error);
		break;
	case SMTP_PARSE_E_PARAM_UNKNOWN:
		(void)snprintf(reply, sizeof(reply), "555 5.5.4 Error: %s",
		    error);
		break;
	case SMTP_PARSE_E_SIZE:
		(void)snprintf(reply, sizeof(reply), "552 5.3.4 Error: message "
		    "size exceeds fixed maximum message size");
		break;
	case SMTP_PARSE_E_SYNTAX:
	case SMTP_PARSE_E_TOO_LONG:
	case SMTP_PARSE_E_NONE:
	default:
		(void)snprintf(reply, sizeof(reply), "501 %s Error: %s", enh,
		    error);
		break;
	}
	smtp_session_refuse(s, cmd, reply);
}

/*
 * Whether the spool lacks room for a message of size bytes (0: not
 * announced) and smtpd_queue_min_free besides: RFC 1870 6.1 answers a
 * SIZE= that does not fit now with 452 at MAIL, before the client sends
 * it all for nothing.  A statvfs() that fails tells nothing; the writes
 * of the queue file will.
 */
static bool
smtp_session_spool_short(struct smtp_session *s, uint64_t size)
{
	struct statvfs	sv;
	uint64_t	avail, need;

	if (cfg->smtpd_queue_min_free == 0 && size == 0)
		return false;
	if (statvfs(s->sd->queue_dir, &sv) == -1)
		return false;
	if (__builtin_mul_overflow((uint64_t)sv.f_bavail,
	    (uint64_t)sv.f_frsize, &avail))
		avail = UINT64_MAX;
	/* Both bounded by their settings: no overflow. */
	need = cfg->smtpd_queue_min_free + size;
	if (avail >= need)
		return false;
	log_warning("%s: the spool has %" PRIu64 " bytes free, %" PRIu64
	    " needed (SIZE=%" PRIu64 ", smtpd_queue_min_free)", s->namaddr,
	    avail, need, size);
	return true;
}

static void
smtp_cmd_mail(struct smtp_session *s, const char *args)
{
	struct smtp_parse_addr	 addr;
	struct smtp_parse_mail	 mail;
	enum smtp_parse_err	 kind;
	const char		*rest, *error;

	if (s->role != SMTP_ROLE_SMTP && s->auth_user == NULL) {
		smtp_session_refuse(s, "MAIL",
		    "530 5.7.0 Error: authentication required");
		return;
	}
	if (smtp_parse_prefix(args, "FROM:", &rest, &kind, &error) == -1) {
		smtp_reply(s, "501 5.5.4 Syntax: MAIL FROM:<address>");
		return;
	}
	/* SMTPUTF8 comes after the path: parse it allowing UTF-8, then
	   refuse UTF-8 without the parameter (RFC 6531 3.4). */
	if (smtp_parse_path(rest, SMTP_PARSE_F_ALLOW_EMPTY |
	    SMTP_PARSE_F_SMTPUTF8, &addr, &rest, &kind, &error) == -1) {
		smtp_session_parse_error(s, "MAIL", kind, "5.1.7", error);
		return;
	}
	if (smtp_parse_mail_params(rest, cfg->smtpd_max_message_size, &mail,
	    &kind, &error) == -1) {
		smtp_session_parse_error(s, "MAIL", kind, "5.5.4", error);
		return;
	}
	if (addr.utf8 && !mail.smtputf8) {
		smtp_session_refuse(s, "MAIL",
		    "553 5.6.7 Error: UTF-8 address without SMTPUTF8");
		return;
	}
	if (mail.body == SMTP_PARSE_BODY_BINARYMIME) {
		smtp_session_refuse(s, "MAIL",
		    "555 5.5.4 Error: BODY=BINARYMIME is not supported");
		return;
	}
	if (smtp_session_spool_short(s, mail.has_size ? mail.size : 0)) {
		smtp_session_refuse(s, "MAIL",
		    "452 4.3.1 Error: insufficient system storage");
		return;
	}
	s->sender = xstrdup(addr.addr);
	s->mail = mail;
	s->has_mail = true;
	/* Failing here is tried again (and answered) at DATA. */
	if (s->w == NULL)
		(void)smtp_session_name_file(s);
	smtp_session_set_state(s, SMTP_S_MAIL);
	smtp_reply(s, "250 2.1.0 Ok");
}

/* pending_rcpt is accepted: into the transaction, 250. */
static void
smtp_session_rcpt_accept(struct smtp_session *s)
{
	struct smtp_rcpt	*rc;

	if (s->nrcpt == s->rcpt_alloc) {
		s->rcpt_alloc = s->rcpt_alloc == 0 ? 8 : s->rcpt_alloc * 2;
		s->rcpts = xreallocarray(s->rcpts, s->rcpt_alloc,
		    sizeof(*s->rcpts));
	}
	rc = &s->rcpts[s->nrcpt++];
	rc->addr = s->pending_rcpt;
	s->pending_rcpt = NULL;
	rc->notify = s->pending_params.notify;
	rc->orcpt = NULL;
	if (s->pending_params.orcpt_type != SMTP_PARSE_ORCPT_NONE)
		rc->orcpt = xasprintf("%s;%s", s->pending_params.orcpt_type ==
		    SMTP_PARSE_ORCPT_UTF8 ? "utf-8" : "rfc822",
		    s->pending_params.orcpt);
	smtp_session_set_state(s, SMTP_S_RCPT);
	smtp_reply(s, "250 2.1.5 Ok");
}

/* pending_rcpt is refused with reply (logged). */
static void
smtp_session_rcpt_refuse(struct smtp_session *s, const char *reply)
{
	smtp_session_log_reject(s, "RCPT", reply, s->pending_rcpt);
	free(s->pending_rcpt);
	s->pending_rcpt = NULL;
	smtp_reply(s, "%s", reply);
}

/*
 * An answer of the delivery agent.  One mailbox that takes the message
 * (or that the agent cannot judge: fail open) accepts the recipient at
 * once; only when every mailbox is full is it refused, with the code of
 * a delivery over quota (4.2.2, or 5.2.2 with delivery_quota_bounce).
 */
static void
smtp_session_quota_cb(enum smtp_quota_status status, uint64_t used,
    void *ctx)
{
	struct smtp_qcheck	*k = ctx;
	struct smtp_session	*s = k->s;
	char			 reply[SMTP_PARSE_PATH_MAX + 64];

	k->req = NULL;
	s->qwaiting--;
	if (status == SMTP_QUOTA_FULL)
		log_debug("%s: <%s>: mailbox %u of %u full (%" PRIu64
		    " bytes used)", s->namaddr, log_safe(s->pending_rcpt),
		    (unsigned int)(k - s->qchecks) + 1, s->nqchecks, used);
	if (status != SMTP_QUOTA_FULL) {
		smtp_session_quota_cancel(s);	/* k is gone */
		s->waiting = false;
		smtp_session_rcpt_accept(s);
		smtp_session_run(s);
		return;
	}
	if (s->qwaiting > 0)
		return;
	smtp_session_quota_cancel(s);
	s->waiting = false;
	(void)snprintf(reply, sizeof(reply), "%s <%s>: Mailbox full",
	    cfg->delivery_quota_bounce ? "552 5.2.2" : "452 4.2.2",
	    s->pending_rcpt);
	smtp_session_rcpt_refuse(s, reply);
	smtp_session_run(s);
}

/*
 * Starts the quota checks of a local recipient: when it reaches no
 * remote address and only users with a quota (a mailbox without one is
 * never full, and neither is a recipient that reaches it).  Returns true
 * when the session now waits for them.
 */
static bool
smtp_session_quota_start(struct smtp_session *s,
    const struct authd_rcpt_reply *r)
{
	unsigned int	n, i;
	uint64_t	size;

	if (!cfg->smtpd_rcpt_quota_check || r->maildirs == NULL ||
	    r->quotas == NULL || r->deliver == NULL ||
	    (r->forward != NULL && r->forward[0] != NULL))
		return false;
	for (n = 0; r->deliver[n] != NULL; n++)
		if (n == SMTP_QUOTA_USERS_MAX || r->quotas[n] == 0 ||
		    r->maildirs[n][0] == '\0')
			return false;
	if (n == 0)
		return false;
	size = s->mail.has_size ? s->mail.size : 0;
	s->qchecks = xcalloc(n, sizeof(*s->qchecks));
	s->nqchecks = n;
	s->qwaiting = n;
	s->waiting = true;
	for (i = 0; i < n; i++) {
		s->qchecks[i].s = s;
		/* The answer never comes inside this call. */
		s->qchecks[i].req = smtp_quota_check(s->sd->quota,
		    r->deliver[i], r->maildirs[i], r->quotas[i], size,
		    smtp_session_quota_cb, &s->qchecks[i]);
	}
	return true;
}

static uint64_t
smtp_now_ms(void)
{
	struct timespec	ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void smtp_session_rcpt_decide(struct smtp_session *,
    enum authd_rcpt_result, bool, const char *);

static void
smtp_session_rcpt_cb(const struct authd_rcpt_reply *r, void *ctx)
{
	struct smtp_session	*s = ctx;

	s->req = NULL;
	s->waiting = false;
	/* smtp_session_quota_cb goes on when checks started. */
	if (r->result == AUTHD_RCPT_LOCAL && smtp_session_quota_start(s, r))
		return;
	smtp_rcpt_cache_put(s->sd->rcpts, s->pending_rcpt, s->addr,
	    s->auth_user != NULL, smtp_now_ms(), r->result, r->relay);
	smtp_session_rcpt_decide(s, r->result, r->relay, r->text);
	smtp_session_run(s);
}

/*
 * The answer to the pending RCPT, from authd or the cache; the caller
 * goes on with the session (from the cache, the command loop itself).
 */
static void
smtp_session_rcpt_decide(struct smtp_session *s,
    enum authd_rcpt_result result, bool relay, const char *text)
{
	char			 reply[SMTP_PARSE_PATH_MAX + 128];
	bool			 ok = false;

	switch (result) {
	case AUTHD_RCPT_LOCAL:
		ok = true;
		break;
	case AUTHD_RCPT_REMOTE:
		if (relay) {
			ok = true;
			break;
		}
		(void)snprintf(reply, sizeof(reply), "554 5.7.1 <%s>: Relay "
		    "access denied", s->pending_rcpt);
		break;
	case AUTHD_RCPT_UNKNOWN:
		(void)snprintf(reply, sizeof(reply), "550 5.1.1 <%s>: "
		    "Recipient address rejected: User unknown",
		    s->pending_rcpt);
		break;
	case AUTHD_RCPT_TEMPFAIL:
	default:
		log_warning("%s: recipient lookup failed: %s", s->namaddr,
		    log_safe(text != NULL ? text : ""));
		(void)snprintf(reply, sizeof(reply), "451 4.3.0 <%s>: "
		    "Temporary lookup failure", s->pending_rcpt);
		break;
	}
	if (ok)
		smtp_session_rcpt_accept(s);
	else
		smtp_session_rcpt_refuse(s, reply);
}

static void
smtp_cmd_rcpt(struct smtp_session *s, const char *args)
{
	struct smtp_parse_addr	 addr;
	enum smtp_parse_err	 kind;
	enum authd_rcpt_result	 result;
	const char		*rest, *error;
	unsigned int		 flags;
	bool			 relay;

	if (smtp_parse_prefix(args, "TO:", &rest, &kind, &error) == -1) {
		smtp_reply(s, "501 5.5.4 Syntax: RCPT TO:<address>");
		return;
	}
	flags = SMTP_PARSE_F_POSTMASTER;
	if (s->mail.smtputf8)
		flags |= SMTP_PARSE_F_SMTPUTF8;
	if (smtp_parse_path(rest, flags, &addr, &rest, &kind, &error) == -1) {
		smtp_session_parse_error(s, "RCPT", kind, "5.1.3", error);
		return;
	}
	if (smtp_parse_rcpt_params(rest, s->mail.smtputf8, &s->pending_params,
	    &kind, &error) == -1) {
		smtp_session_parse_error(s, "RCPT", kind, "5.5.4", error);
		return;
	}
	if (s->nrcpt >= cfg->smtpd_max_recipients) {
		smtp_session_refuse(s, "RCPT",
		    "452 4.5.3 Error: too many recipients");
		return;
	}
	s->pending_rcpt = xstrdup(addr.postmaster ? s->sd->postmaster :
	    addr.addr);
	if (smtp_rcpt_cache_get(s->sd->rcpts, s->pending_rcpt, s->addr,
	    s->auth_user != NULL, smtp_now_ms(), &result, &relay)) {
		smtp_session_rcpt_decide(s, result, relay, NULL);
		return;
	}
	s->waiting = true;
	(void)bufferevent_disable(s->bev, EV_READ);
	if (cfg->smtpd_rcpt_quota_check)
		s->req = authd_client_rcpt_mailboxes(s->sd->authd,
		    s->pending_rcpt, s->addr, s->auth_user != NULL,
		    SMTP_QUOTA_USERS_MAX, smtp_session_rcpt_cb, s);
	else
		s->req = authd_client_rcpt(s->sd->authd, s->pending_rcpt,
		    s->addr, s->auth_user != NULL, smtp_session_rcpt_cb, s);
}

/* ---- DATA, BDAT ----------------------------------------------------- */

static void
smtp_cmd_data(struct smtp_session *s, const char *args)
{
	if (args[0] != '\0') {
		smtp_reply(s, "501 5.5.4 Syntax: DATA");
		return;
	}
	if (s->nrcpt == 0) {
		smtp_reply(s, "554 5.5.1 Error: no valid recipients");
		return;
	}
	if (smtp_session_begin_message(s, SMTP_DATA_DATA) == -1) {
		smtp_session_refuse(s, "DATA",
		    "452 4.3.1 Error: insufficient system storage");
		return;
	}
	smtp_session_set_state(s, SMTP_S_DATA);
	smtp_reply(s, "354 End data with <CR><LF>.<CR><LF>");
}

/* "BDAT size [LAST]" (RFC 3030 2). */
static void
smtp_cmd_bdat(struct smtp_session *s, const char *args)
{
	const char	*sp;
	uint64_t	 size;
	bool		 last = false;
	size_t		 n;

	/*
	 * Without a size we cannot tell where the chunk ends, and reading
	 * its bytes as commands would let them be smuggled in: hang up.
	 */
	sp = strchr(args, ' ');
	n = sp != NULL ? (size_t)(sp - args) : strlen(args);
	if (sp != NULL) {
		sp = str_skip_ws(sp);
		if (!str_eq_icase(sp, "LAST"))
			n = 0;
		last = true;
	}
	if (n == 0 || parse_u64_n(args, n, UINT64_MAX, &size) == -1) {
		smtp_session_refuse(s, "BDAT",
		    "501 5.5.4 Syntax: BDAT size [LAST]");
		smtp_session_close(s);
		return;
	}
	s->bdat_active = true;
	smtp_session_timeouts(s);
	s->bdat_left = size;
	s->bdat_last = last;
	s->bdat_fed = false;
	s->bdat_reject = NULL;
	/* A refused chunk is still read, to stay in step (RFC 3030 2). */
	if (!s->esmtp)
		s->bdat_reject = "503 5.5.1 Error: send EHLO first";
	else if (s->state != SMTP_S_RCPT && s->state != SMTP_S_BDAT)
		s->bdat_reject = s->state == SMTP_S_MAIL ?
		    "554 5.5.1 Error: no valid recipients" :
		    "503 5.5.1 Error: bad sequence of commands";
	else if (size > cfg->smtpd_max_message_size - s->bdat_total) {
		s->bdat_reject = "552 5.3.4 Error: message size exceeds "
		    "fixed maximum message size";
		log_q(LOG_INFO, s->w != NULL ? qfile_writer_id(s->w) : NULL,
		    "reject: BDAT from %s: message too big", s->namaddr);
		smtp_session_reset(s);
		smtp_session_set_state(s, smtp_session_idle_state(s));
	}
	if (s->bdat_reject != NULL)
		return;
	if (s->state == SMTP_S_RCPT) {
		if (smtp_session_begin_message(s, SMTP_DATA_BDAT) == -1) {
			s->bdat_reject = "452 4.3.1 Error: insufficient "
			    "system storage";
			smtp_session_log_reject(s, "BDAT", s->bdat_reject,
			    NULL);
			return;
		}
		smtp_session_set_state(s, SMTP_S_BDAT);
	}
	s->bdat_total += size;
}

/* ---- RSET, NOOP, QUIT, VRFY, HELP ------------------------------------- */

static void
smtp_cmd_rset(struct smtp_session *s, const char *args ATTR_UNUSED)
{
	smtp_session_reset(s);
	smtp_session_set_state(s, smtp_session_idle_state(s));
	smtp_reply(s, "250 2.0.0 Ok");
}

static void
smtp_cmd_noop(struct smtp_session *s, const char *args ATTR_UNUSED)
{
	smtp_reply(s, "250 2.0.0 Ok");
}

static void
smtp_cmd_quit(struct smtp_session *s, const char *args ATTR_UNUSED)
{
	smtp_reply(s, "221 2.0.0 Bye");
	smtp_session_close(s);
}

/* RFC 5321 3.5.3: 252, and never a hint whether the user exists. */
static void
smtp_cmd_vrfy(struct smtp_session *s, const char *args)
{
	if (args[0] == '\0') {
		smtp_reply(s, "501 5.5.4 Syntax: VRFY address");
		return;
	}
	smtp_reply(s, "252 2.5.2 Cannot VRFY user, but will accept message "
	    "and attempt delivery");
}

static void
smtp_cmd_help(struct smtp_session *s, const char *args ATTR_UNUSED)
{
	smtp_reply(s, "214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA BDAT "
	    "RSET NOOP QUIT VRFY HELP STARTTLS AUTH");
}

/* ---- STARTTLS --------------------------------------------------------- */

static void
smtp_cmd_starttls(struct smtp_session *s, const char *args)
{
	struct bufferevent	*tls;
	struct evbuffer		*in;
	const char		*error;
	size_t			 left;

	if (s->sd->tls == NULL) {
		smtp_reply(s, "502 5.5.1 Error: command not implemented");
		return;
	}
	if (s->tls) {
		smtp_reply(s, "554 5.5.1 Error: TLS already active");
		return;
	}
	if (args[0] != '\0') {
		smtp_reply(s, "501 5.5.4 Syntax: STARTTLS");
		return;
	}
	/* CVE-2011-0411: nothing sent before the handshake is a command. */
	in = bufferevent_get_input(s->bev);
	if ((left = evbuffer_get_length(in)) > 0) {
		log_info("discarding %zu bytes pipelined after STARTTLS from "
		    "%s", left, s->namaddr);
		(void)evbuffer_drain(in, left);
	}
	smtp_reply(s, "220 2.0.0 Ready to start TLS");
	if (tls_starttls_bufferevent(s->sd->tls, s->bev, &tls, &error) == -1) {
		log_error("%s: STARTTLS: %s", s->namaddr, error);
		smtp_session_close(s);
		return;
	}
	s->bev = tls;
	s->tls = true;
	/* RFC 3207 4.2: forget everything, EHLO again. */
	smtp_session_reset(s);
	free(s->helo);
	s->helo = NULL;
	s->esmtp = false;
	smtp_session_set_state(s, SMTP_S_GREET);
	smtp_session_setcb(s);
}

/* ---- AUTH ------------------------------------------------------------- */

static void
smtp_session_auth_cb(const struct authd_auth_reply *r, void *ctx)
{
	struct smtp_session	*s = ctx;
	unsigned char		 enc[4 * ((SMTP_SASL_MAX(512) + 2) / 3) + 1];

	s->waiting = false;
	switch (r->status) {
	case AUTHD_CONTINUE:
		if (r->challenge_len > SMTP_SASL_MAX(512)) {
			authd_request_cancel(&s->req);
			smtp_session_set_state(s, s->auth_prev_state);
			smtp_reply(s, "454 4.7.0 Temporary authentication "
			    "failure");
			break;
		}
		(void)EVP_EncodeBlock(enc, r->challenge,
		    (int)r->challenge_len);
		smtp_reply(s, "334 %s", enc);
		break;
	case AUTHD_OK:
		s->req = NULL;
		s->auth_user = xstrdup(r->user != NULL ? r->user : "");
		smtp_session_set_state(s, s->auth_prev_state);
		log_info("%s: sasl_method=%s, sasl_username=%s", s->namaddr,
		    s->auth_mech, log_safe(s->auth_user));
		smtp_reply(s, "235 2.7.0 Authentication successful");
		break;
	case AUTHD_FAIL:
		s->req = NULL;
		smtp_session_set_state(s, s->auth_prev_state);
		log_warning("%s: SASL %s authentication failed", s->namaddr,
		    s->auth_mech);
		smtp_reply(s, "535 5.7.8 Error: authentication failed");
		break;
	case AUTHD_TEMPFAIL:
	default:
		s->req = NULL;
		smtp_session_set_state(s, s->auth_prev_state);
		log_warning("%s: SASL %s: authd unavailable", s->namaddr,
		    s->auth_mech);
		smtp_reply(s, "454 4.7.0 Temporary authentication failure");
		break;
	}
	smtp_session_run(s);
}

static void
smtp_cmd_auth(struct smtp_session *s, const char *args)
{
	char		 mech[sizeof(s->auth_mech)];
	const char	*sp, *init = NULL;
	uint8_t		*resp = NULL;
	size_t		 n, max;
	int		 len = 0;

	max = SMTP_SASL_MAX((size_t)cfg->smtpd_max_line_length);

	if (s->sd->tls == NULL) {
		smtp_reply(s, "503 5.5.1 Error: authentication not enabled");
		return;
	}
	if (!s->tls) {
		smtp_reply(s, "530 5.7.0 Must issue a STARTTLS command first");
		return;
	}
	if (s->auth_user != NULL) {
		smtp_reply(s, "503 5.5.1 Error: already authenticated");
		return;
	}
	sp = strchr(args, ' ');
	n = sp != NULL ? (size_t)(sp - args) : strlen(args);
	if (n == 0 || n >= sizeof(mech)) {
		smtp_reply(s, "504 5.5.4 Error: unsupported authentication "
		    "mechanism");
		return;
	}
	memcpy(mech, args, n);
	mech[n] = '\0';
	(void)str_lower(mech);
	if (strcmp(mech, "plain") == 0)
		(void)snprintf(s->auth_mech, sizeof(s->auth_mech), "PLAIN");
	else if (strcmp(mech, "login") == 0)
		(void)snprintf(s->auth_mech, sizeof(s->auth_mech), "LOGIN");
	else {
		smtp_reply(s, "504 5.5.4 Error: unsupported authentication "
		    "mechanism");
		return;
	}
	if (sp != NULL) {
		init = str_skip_ws(sp);
		resp = xmalloc(max);
		if (strcmp(init, "=") == 0)
			len = 0;
		else if ((len = smtp_parse_base64(init, strlen(init), resp,
		    max)) == -1) {
			free(resp);
			smtp_reply(s, "501 5.5.2 Error: cannot decode "
			    "response");
			return;
		}
	}
	s->auth_prev_state = s->state;
	smtp_session_set_state(s, SMTP_S_AUTH);
	s->waiting = true;
	(void)bufferevent_disable(s->bev, EV_READ);
	/* authd logs and binds tokens to the listener's role. */
	s->req = authd_client_auth(s->sd->authd, s->auth_mech,
	    smtp_role_name(s->role),
	    s->addr, true, resp, (size_t)len, smtp_session_auth_cb, s);
	if (resp != NULL) {
		explicit_bzero(resp, max);
		free(resp);
	}
}

/* A line of the AUTH exchange: "*" or base64 (RFC 4954 4). */
static void
smtp_session_auth_line(struct smtp_session *s)
{
	size_t	 max = SMTP_SASL_MAX((size_t)cfg->smtpd_max_line_length);
	uint8_t	*resp;
	int	 len;

	if (strcmp(s->line->data, "*") == 0) {
		authd_request_cancel(&s->req);
		smtp_session_set_state(s, s->auth_prev_state);
		smtp_reply(s, "501 5.7.0 Error: authentication aborted");
		return;
	}
	resp = xmalloc(max);
	len = smtp_parse_base64(s->line->data, s->line->len, resp, max);
	if (len == -1 || s->req == NULL) {
		authd_request_cancel(&s->req);
		smtp_session_set_state(s, s->auth_prev_state);
		smtp_reply(s, "501 5.5.2 Error: cannot decode response");
	} else if (authd_client_auth_continue(s->req, resp,
	    (size_t)len) == -1) {
		authd_request_cancel(&s->req);
		smtp_session_set_state(s, s->auth_prev_state);
		smtp_reply(s, "454 4.7.0 Temporary authentication failure");
	} else {
		s->waiting = true;
		(void)bufferevent_disable(s->bev, EV_READ);
	}
	explicit_bzero(resp, max);
	free(resp);
}
