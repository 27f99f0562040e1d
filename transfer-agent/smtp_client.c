/* SPDX-License-Identifier: ISC */
/*
 * The SMTP client of the transfer agent (relay.h, postern-transfer-agent(8)).
 *
 * A relay job finds its servers (dns.h: MX hosts by preference, or the
 * next hop's own addresses), then tries them one after the other until
 * every recipient has an outcome or smtp_mx_address_limit addresses were
 * tried.  What moves on to the next address is a failure of the server,
 * not of the mail: no connection, a 4xx or 5xx greeting, EHLO and HELO
 * refused, TLS required but not offered or failing, AUTH refused, a 4xx
 * reply to MAIL, a timeout or a lost connection before the transaction
 * ended.  Replies about the mail itself end the job: a 5xx to MAIL or
 * DATA bounces every recipient, a 4xx to DATA defers them, and each RCPT
 * reply decides its recipient.  When no address is left, the recipients
 * without an outcome get the last failure: deferred, or bounced when it
 * was a 5xx greeting or EHLO/HELO refusal.
 *
 * A session: connect (smtp_connect_timeout), 220 greeting, EHLO (HELO when
 * EHLO is refused), STARTTLS when offered (level may) or required
 * (encrypt, verify; else the address fails), EHLO again, AUTH when the
 * next hop has credentials, then MAIL, RCPT..., DATA: sent at once with
 * PIPELINING (RFC 2920), else one at a time.  The message is streamed
 * from the queue file with dot-stuffing; a bare LF goes out as CRLF.
 * With a server that lacks 8BITMIME, a message with 8-bit bytes is
 * converted to quoted-printable (mime8.h), or the address fails (4.6.3)
 * when it cannot be.  A message larger than the server's SIZE bounces
 * (5.3.4).  A message that needs SMTPUTF8 (non-ASCII addresses) to a
 * server without it bounces (5.6.7) for the addresses that need it.
 *
 * After a transaction the connection is kept for smtp_connection_cache_time
 * under its next hop, TLS level and SASL user, for the next job to the
 * same place (at most smtp_connection_reuse_limit messages).  A cached
 * connection that turns out to be closed when the next job uses it is
 * dropped quietly and the job starts over with a new one.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/types.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "common/buf.h"
#include "common/conf.h"
#include "common/error.h"
#include "common/log.h"
#include "common/net.h"
#include "common/str.h"
#include "common/tls.h"
#include "common/xmalloc.h"
#include "mime8.h"
#include "relay.h"
#include "smtp_reply.h"
#include "common/banned.h"

/* Refill the output when less than this is waiting (message body). */
#define SMTP_OUT_LOW		(64 * 1024)
#define SMTP_OUT_HIGH		(256 * 1024)
#define SMTP_CHUNK		(64 * 1024)
/* Idle connections kept at most (oldest closed first). */
#define SMTP_IDLE_MAX		1000
/* Longest command we write (MAIL with every parameter, RCPT). */
#define SMTP_CMD_MAX		4096

enum smtp_state {
	SS_CONNECT,
	SS_GREETING,
	SS_EHLO,
	SS_HELO,
	SS_STARTTLS,
	SS_HANDSHAKE,
	SS_AUTH,
	SS_AUTH_USER,
	SS_AUTH_PASS,
	SS_TRANS,		/* MAIL, RCPT, DATA replies (steps) */
	SS_BODY,		/* writing the message */
	SS_DOT,			/* waiting for the reply to "." */
	SS_DISCARD,		/* "." after a 354 with no recipient */
	SS_RSET,
	SS_IDLE,
	SS_QUIT,
};

struct smtp_sess {
	TAILQ_ENTRY(smtp_sess)	 entry;		/* ta->idle, when in_idle */
	TAILQ_ENTRY(smtp_sess)	 all;		/* smtp_all */
	struct ta		*ta;
	struct relay_job	*j;		/* NULL when idle */
	struct bufferevent	*bev;
	enum smtp_state		 state;
	struct smtp_reply	 reply;
	struct buf		 line;
	struct smtp_ehlo	 ehlo;
	bool			 tls;
	bool			 helo_only;	/* EHLO refused: HELO */
	char			 host[DNS_HOST_MAX + 1];
	char			 name[RELAY_NAME_MAX];	/* host[addr]:port */
	char			 tls_info[128];
	char			*key;		/* cache key */
	unsigned int		 nmsgs;
	bool			 reused;	/* from the cache, no reply yet */
	bool			 no_tls;	/* STARTTLS refused (may) */
	bool			 in_idle;	/* on ta->idle (the cache) */
	bool			 in_cb;		/* in smtp_read_cb() */
	bool			 dead;		/* freed when it returns */
	struct event		*idle_ev;

	/* The transaction: MAIL (step 0), RCPT (1..ntrans), DATA. */
	unsigned int		*trans;		/* recipient indices */
	unsigned int		 ntrans;
	unsigned int		 step;
	bool			 pipelined;
	bool			 mail_failed;
	char			 mail_text[RELAY_TEXT_MAX];
	char			 mail_dsn[QFILE_DSN_MAX + 1];
	bool			 mail_final;
	unsigned int		 naccepted;

	/* The body. */
	uint64_t		 sent;		/* bytes of the file read */
	bool			 at_bol;
	bool			 last_cr;
	struct mime8		*mime;		/* converting 8-bit */
	struct buf		 conv;
};

static void	smtp_read_cb(struct bufferevent *bev, void *arg);
static void	smtp_write_cb(struct bufferevent *bev, void *arg);
static void	smtp_event_cb(struct bufferevent *bev, short what, void *arg);
static void	smtp_next_addr(struct relay_job *j);
static void	smtp_trans_begin(struct smtp_sess *s);
static void	smtp_job_lookup(struct relay_job *j);

/* Every session, busy, cached or saying goodbye (for the exit). */
static TAILQ_HEAD(, smtp_sess) smtp_all = TAILQ_HEAD_INITIALIZER(smtp_all);

/* snprintf() for texts that may be cut. */
static void
smtp_fmt(char *dst, size_t size, const char *fmt, ...) ATTR_PRINTF(3, 4);

static void
smtp_fmt(char *dst, size_t size, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	(void)vsnprintf(dst, size, fmt, ap);
	va_end(ap);
}

/* ---- sessions -------------------------------------------------------------- */

static void
smtp_timeouts(struct smtp_sess *s, unsigned int rd, unsigned int wr)
{
	struct timeval	 r = { (time_t)rd, 0 }, w = { (time_t)wr, 0 };

	(void)bufferevent_set_timeouts(s->bev, rd > 0 ? &r : NULL,
	    wr > 0 ? &w : NULL);
}

/* Takes s out of the connection cache (it may not be in it). */
static void
smtp_idle_remove(struct smtp_sess *s)
{
	if (!s->in_idle)
		return;
	TAILQ_REMOVE(&s->ta->idle, s, entry);
	s->ta->nidle--;
	s->in_idle = false;
	(void)event_del(s->idle_ev);
}

/*
 * Closes s.  Inside smtp_read_cb() only its connection goes at once; the
 * memory goes when the callback returns (it still looks at s).
 */
static void
smtp_sess_free(struct smtp_sess *s)
{
	smtp_idle_remove(s);
	s->state = SS_QUIT;
	if (s->j != NULL && s->j->sess == s)
		s->j->sess = NULL;
	s->j = NULL;
	if (s->bev != NULL) {
		bufferevent_free(s->bev);
		s->bev = NULL;
	}
	if (s->in_cb) {
		s->dead = true;
		return;
	}
	if (s->idle_ev != NULL)
		event_free(s->idle_ev);
	smtp_reply_deinit(&s->reply);
	buf_deinit(&s->line);
	buf_deinit(&s->conv);
	mime8_free(&s->mime);
	free(s->trans);
	free(s->key);
	TAILQ_REMOVE(&smtp_all, s, all);
	free(s);
}

static void
smtp_send(struct smtp_sess *s, const char *fmt, ...) ATTR_PRINTF(2, 3);

static void
smtp_send(struct smtp_sess *s, const char *fmt, ...)
{
	struct evbuffer	*out = bufferevent_get_output(s->bev);
	va_list		 ap;

	va_start(ap, fmt);
	(void)evbuffer_add_vprintf(out, fmt, ap);
	va_end(ap);
	(void)evbuffer_add(out, "\r\n", 2);
}

/* The recipients of j that have no outcome yet. */
static unsigned int
smtp_job_pending(const struct relay_job *j)
{
	unsigned int	 i, n = 0;

	for (i = 0; i < j->nrcpt; i++)
		if (j->rcpts[i].status == RELAY_PENDING)
			n++;
	return n;
}

/* Records why the job cannot go on with this server. */
static void
smtp_job_why(struct relay_job *j, bool final, const char *dsn,
    const char *fmt, ...) ATTR_PRINTF(4, 5);

static void
smtp_job_why(struct relay_job *j, bool final, const char *dsn,
    const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	(void)vsnprintf(j->why, sizeof(j->why), fmt, ap);
	va_end(ap);
	str_copy_cut(j->why_dsn, sizeof(j->why_dsn), dsn);
	j->why_final = final;
}

/* Every recipient without an outcome gets the last failure; done. */
static void
smtp_job_finish(struct relay_job *j)
{
	unsigned int	 i;

	if (j->lookup != NULL)
		dns_lookup_cancel(&j->lookup);
	for (i = 0; i < j->nrcpt; i++)
		relay_rcpt_set(&j->rcpts[i], j->why_final ? RELAY_BOUNCED :
		    RELAY_DEFERRED, j->why_dsn[0] != '\0' ? j->why_dsn :
		    (j->why_final ? "5.0.0" : "4.0.0"), j->why[0] != '\0' ?
		    j->why : "delivery not completed");
	relay_job_done(j);
}

static void
smtp_idle_cb(evutil_socket_t fd ATTR_UNUSED, short what ATTR_UNUSED,
    void *arg)
{
	struct smtp_sess	*s = arg;

	/* Say goodbye; the reply (or a timeout) ends it. */
	smtp_idle_remove(s);
	s->state = SS_QUIT;
	smtp_send(s, "QUIT");
	smtp_timeouts(s, cfg->smtp_quit_timeout < 5 ? cfg->smtp_quit_timeout :
	    5, cfg->smtp_quit_timeout);
}

/* Done with s for its job: keep it for the next one, or close it. */
static void
smtp_sess_release(struct smtp_sess *s, bool healthy)
{
	struct ta		*ta = s->ta;
	struct smtp_sess	*old;
	struct timeval		 tv;

	if (s->j != NULL) {
		if (s->j->sess == s)
			s->j->sess = NULL;
		s->j = NULL;
	}
	free(s->trans);
	s->trans = NULL;
	s->ntrans = 0;
	mime8_free(&s->mime);
	if (!healthy) {
		smtp_sess_free(s);
		return;
	}
	if (ta->stopping || cfg->smtp_connection_cache_time == 0 ||
	    s->nmsgs >= cfg->smtp_connection_reuse_limit) {
		s->state = SS_QUIT;
		smtp_send(s, "QUIT");
		smtp_timeouts(s, cfg->smtp_quit_timeout, cfg->smtp_quit_timeout);
		return;
	}
	if (ta->nidle >= SMTP_IDLE_MAX &&
	    (old = TAILQ_FIRST(&ta->idle)) != NULL)
		smtp_sess_free(old);
	s->state = SS_IDLE;
	smtp_timeouts(s, 0, 0);
	TAILQ_INSERT_TAIL(&ta->idle, s, entry);
	ta->nidle++;
	s->in_idle = true;
	tv.tv_sec = (time_t)cfg->smtp_connection_cache_time;
	tv.tv_usec = 0;
	(void)event_add(s->idle_ev, &tv);
}

/*
 * The server failed us (not the mail): the job moves on to the next
 * address.  A cached connection that broke before its first reply is
 * no server failure: the job starts over with a new connection.
 */
static void
smtp_sess_fail(struct smtp_sess *s, bool quit, bool final, const char *dsn,
    const char *fmt, ...) ATTR_PRINTF(5, 6);

static void
smtp_sess_fail(struct smtp_sess *s, bool quit, bool final, const char *dsn,
    const char *fmt, ...)
{
	struct relay_job	*j = s->j;
	bool			 reused = s->reused;
	va_list			 ap;

	if (j != NULL && !reused) {
		va_start(ap, fmt);
		(void)vsnprintf(j->why, sizeof(j->why), fmt, ap);
		va_end(ap);
		str_copy_cut(j->why_dsn, sizeof(j->why_dsn), dsn);
		j->why_final = final;
		log_q(LOG_INFO, j->id, "%s", log_safe(j->why));
	}
	if (quit && s->bev != NULL && s->state != SS_BODY) {
		smtp_send(s, "QUIT");
		(void)bufferevent_flush(s->bev, EV_WRITE, BEV_FLUSH);
	}
	if (j != NULL)
		j->sess = NULL;
	s->j = NULL;
	smtp_sess_free(s);
	if (j == NULL)
		return;
	if (reused)
		smtp_job_lookup(j);
	else
		smtp_next_addr(j);
}

static const char *
smtp_state_doing(enum smtp_state st)
{
	switch (st) {
	case SS_CONNECT:
		return "connecting";
	case SS_GREETING:
		return "receiving the initial server greeting";
	case SS_EHLO:
	case SS_HELO:
		return "performing the EHLO handshake";
	case SS_STARTTLS:
	case SS_HANDSHAKE:
		return "performing the TLS handshake";
	case SS_AUTH:
	case SS_AUTH_USER:
	case SS_AUTH_PASS:
		return "authenticating";
	case SS_TRANS:
		return "sending the envelope";
	case SS_BODY:
		return "sending message body";
	case SS_DOT:
		return "sending end of data -- message may be sent more "
		    "than once";
	default:
		return "talking";
	}
}

/* ---- helpers for commands -------------------------------------------------- */

static bool
smtp_is_ascii(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return false;
	return true;
}

/* RFC 3461 4: xtext of s appended to b. */
static int
smtp_xtext(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	unsigned char	 c;

	for (; *s != '\0'; s++) {
		c = (unsigned char)*s;
		if (c >= '!' && c <= '~' && c != '+' && c != '=') {
			if (buf_append_byte(b, c) == -1)
				return -1;
		} else if (buf_append_byte(b, '+') == -1 ||
		    buf_append_byte(b, (uint8_t)hex[c >> 4]) == -1 ||
		    buf_append_byte(b, (uint8_t)hex[c & 15]) == -1)
			return -1;
	}
	return 0;
}

/* RFC 6533 3: utf-8-addr-unitext (raw UTF-8; "+", "=", "\\" and controls
   as \x{HEX}). */
static int
smtp_xtext_utf8(struct buf *b, const char *s)
{
	unsigned char	 c;

	for (; *s != '\0'; s++) {
		c = (unsigned char)*s;
		if ((c > ' ' && c != '+' && c != '=' && c != '\\' &&
		    c != 0x7f) ? buf_append_byte(b, c) == -1 :
		    buf_printf(b, "\\x{%X}", c) == -1)
			return -1;
	}
	return 0;
}

/* " NOTIFY=..." of RFC 3461 4.1. */
static int
smtp_notify(struct buf *b, unsigned int notify)
{
	static const struct {
		unsigned int	 bit;
		const char	*name;
	} words[] = {
		{ QFILE_NOTIFY_SUCCESS, "SUCCESS" },
		{ QFILE_NOTIFY_FAILURE, "FAILURE" },
		{ QFILE_NOTIFY_DELAY, "DELAY" },
	};
	const char	*sep = "";
	size_t		 i;

	if (buf_append_str(b, " NOTIFY=") == -1)
		return -1;
	if (notify & QFILE_NOTIFY_NEVER)
		return buf_append_str(b, "NEVER");
	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		if ((notify & words[i].bit) == 0)
			continue;
		if (buf_printf(b, "%s%s", sep, words[i].name) == -1)
			return -1;
		sep = ",";
	}
	return 0;
}

/* The whole reply quoted as Postfix does, into dst. */
static void
smtp_said(const struct smtp_sess *s, const char *cmd, char *dst, size_t size)
{
	char	 summary[RELAY_TEXT_MAX];

	(void)smtp_reply_summary(&s->reply, summary, sizeof(summary));
	smtp_fmt(dst, size, "host %s said: %s (in reply to %s command)",
	    s->name, summary, cmd);
}

/* The enhanced code of the reply, else CLASS.0.0. */
static void
smtp_reply_dsn(const struct smtp_reply *r, char *dst, size_t size)
{
	if (r->dsn[0] != '\0')
		str_copy_cut(dst, size, r->dsn);
	else
		smtp_fmt(dst, size, "%u.0.0", r->code / 100);
}

static bool
smtp_rcpt_needs_utf8(const struct relay_job *j, unsigned int i)
{
	return j->smtputf8 && !smtp_is_ascii(j->rcpts[i].addr);
}

/* ---- the transaction ------------------------------------------------------- */

static void
smtp_send_mail(struct smtp_sess *s)
{
	struct relay_job	*j = s->j;
	struct buf		 b;
	bool			 utf8;

	utf8 = j->smtputf8 && s->ehlo.smtputf8;
	buf_init(&b, 256, SMTP_CMD_MAX);
	if (buf_printf(&b, "MAIL FROM:<%s>", j->sender) == -1)
		goto out;
	if (s->ehlo.size && buf_printf(&b, " SIZE=%" PRIu64, j->length) == -1)
		goto out;
	if (s->ehlo.eightbitmime && s->mime == NULL &&
	    j->body == QFILE_BODY_8BITMIME &&
	    buf_append_str(&b, " BODY=8BITMIME") == -1)
		goto out;
	if (utf8 && buf_append_str(&b, " SMTPUTF8") == -1)
		goto out;
	if (s->ehlo.dsn) {
		if (j->ret != QFILE_RET_NONE && buf_append_str(&b,
		    j->ret == QFILE_RET_FULL ? " RET=FULL" : " RET=HDRS") == -1)
			goto out;
		if (j->envid != NULL && (buf_append_str(&b, " ENVID=") == -1 ||
		    smtp_xtext(&b, j->envid) == -1))
			goto out;
		j->dsn_passed = true;
	}
out:
	smtp_send(s, "%s", buf_cstr(&b));
	buf_deinit(&b);
}

static void
smtp_send_rcpt(struct smtp_sess *s, unsigned int i)
{
	struct relay_job	*j = s->j;
	struct relay_rcpt	*r = &j->rcpts[i];
	const char		*semi;
	struct buf		 b;

	buf_init(&b, 256, SMTP_CMD_MAX);
	if (buf_printf(&b, "RCPT TO:<%s>", r->addr) == -1)
		goto out;
	if (s->ehlo.dsn && r->notify != 0 && smtp_notify(&b, r->notify) == -1)
		goto out;
	if (s->ehlo.dsn && r->orcpt[0] != '\0' &&
	    (semi = strchr(r->orcpt, ';')) != NULL) {
		if (smtp_is_ascii(semi + 1)) {
			if (buf_append_str(&b, " ORCPT=rfc822;") == -1 ||
			    smtp_xtext(&b, semi + 1) == -1)
				goto out;
		} else if (s->ehlo.smtputf8) {
			/* RFC 6533 3: raw UTF-8 is allowed with SMTPUTF8. */
			if (buf_append_str(&b, " ORCPT=utf-8;") == -1 ||
			    smtp_xtext_utf8(&b, semi + 1) == -1)
				goto out;
		}
	}
out:
	smtp_send(s, "%s", buf_cstr(&b));
	buf_deinit(&b);
}

/*
 * Pass 1 of the 8-bit conversion over the whole message (mime8.h).
 * Returns 1 convert (s->mime ready for pass 2), 0 send as it is, -1 the
 * job cannot go on with this server (j->why set).
 */
static int
smtp_8bit_check(struct smtp_sess *s)
{
	struct relay_job	*j = s->j;
	uint8_t			*chunk;
	const char		*error;
	uint64_t		 done = 0;
	ssize_t			 n;
	size_t			 want;
	int			 r = -1;

	s->mime = mime8_new();
	chunk = xmalloc(SMTP_CHUNK);
	while (done < j->length) {
		want = j->length - done < SMTP_CHUNK ?
		    (size_t)(j->length - done) : SMTP_CHUNK;
		n = pread(j->fd, chunk, want, (off_t)(j->offset + done));
		if (n <= 0) {
			smtp_job_why(j, false, "4.3.0", "cannot read the queue "
			    "file: %s", n == 0 ? "short file" : strerror(errno));
			goto out;
		}
		if (mime8_scan(s->mime, chunk, (size_t)n, &error) == -1)
			break;
		done += (uint64_t)n;
	}
	if (done == j->length)
		r = mime8_scan_end(s->mime, &error);
	if (r == -1)
		smtp_job_why(j, false, "4.6.3", "host %s does not offer "
		    "8BITMIME and the message cannot be converted to 7-bit: %s",
		    s->name, error);
out:
	free(chunk);
	if (r != 1)
		mime8_free(&s->mime);
	return r;
}

/* The transaction for every recipient of the job without an outcome. */
static void
smtp_trans_begin(struct smtp_sess *s)
{
	struct relay_job	*j = s->j;
	unsigned int		 i;
	int			 r;

	if (s->ehlo.size && s->ehlo.size_max > 0 &&
	    j->length > s->ehlo.size_max) {
		smtp_job_why(j, true, "5.3.4", "message size %" PRIu64
		    " exceeds size limit %" PRIu64 " of server %s", j->length,
		    s->ehlo.size_max, s->name);
		smtp_sess_release(s, true);
		smtp_job_finish(j);
		return;
	}
	if (j->smtputf8 && !s->ehlo.smtputf8) {
		/* RFC 6531 3.2: no downgrade; what needs it fails. */
		for (i = 0; i < j->nrcpt; i++)
			if (!smtp_is_ascii(j->sender) ||
			    smtp_rcpt_needs_utf8(j, i))
				relay_rcpt_set(&j->rcpts[i], RELAY_BOUNCED,
				    "5.6.7", error_fmt("SMTPUTF8 is required, "
				    "but was not offered by host %s", s->name));
	}
	if (j->body == QFILE_BODY_BINARYMIME &&
	    !(s->ehlo.binarymime && s->ehlo.chunking)) {
		smtp_sess_fail(s, true, false, "4.6.3", "host %s does not "
		    "offer BINARYMIME and CHUNKING, which the message needs",
		    s->name);
		return;
	}
	if (j->body == QFILE_BODY_BINARYMIME) {
		/* smtpd takes no BINARYMIME: such a file came from elsewhere. */
		smtp_sess_fail(s, true, false, "4.6.3", "sending BINARYMIME "
		    "messages is not supported");
		return;
	}
	if (!s->ehlo.eightbitmime && j->body != QFILE_BODY_7BIT &&
	    (r = smtp_8bit_check(s)) == -1) {
		smtp_sess_release(s, true);
		smtp_next_addr(j);
		return;
	}
	free(s->trans);
	s->trans = xcalloc(j->nrcpt, sizeof(*s->trans));
	s->ntrans = 0;
	for (i = 0; i < j->nrcpt; i++) {
		j->rcpts[i].accepted = false;
		j->rcpts[i].in_trans = false;
		if (j->rcpts[i].status != RELAY_PENDING)
			continue;
		j->rcpts[i].in_trans = true;
		s->trans[s->ntrans++] = i;
	}
	if (s->ntrans == 0) {
		smtp_sess_release(s, true);
		smtp_job_finish(j);
		return;
	}
	str_copy_cut(j->relay, sizeof(j->relay), s->name);
	str_copy_cut(j->tls_info, sizeof(j->tls_info), s->tls_info);
	s->step = 0;
	s->mail_failed = false;
	s->naccepted = 0;
	s->state = SS_TRANS;
	s->pipelined = s->ehlo.pipelining;
	s->nmsgs++;
	smtp_send_mail(s);
	if (s->pipelined) {
		for (i = 0; i < s->ntrans; i++)
			smtp_send_rcpt(s, s->trans[i]);
		smtp_send(s, "DATA");
	}
	/* The longest wait of what was sent. */
	smtp_timeouts(s, s->pipelined ? cfg->smtp_data_init_timeout +
	    cfg->smtp_rcpt_timeout : cfg->smtp_mail_timeout,
	    cfg->smtp_mail_timeout);
}

/* Appends data to out with dot-stuffing; bare LF becomes CRLF. */
static void
smtp_stuff(struct smtp_sess *s, struct evbuffer *out, const uint8_t *data,
    size_t len)
{
	const uint8_t	*p = data, *end = data + len, *nl;

	while (p < end) {
		if (s->at_bol && *p == '.')
			(void)evbuffer_add(out, ".", 1);
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL) {
			(void)evbuffer_add(out, p, (size_t)(end - p));
			s->last_cr = end[-1] == '\r';
			s->at_bol = false;
			return;
		}
		if (nl > p ? nl[-1] == '\r' : s->last_cr) {
			(void)evbuffer_add(out, p, (size_t)(nl - p + 1));
		} else {
			(void)evbuffer_add(out, p, (size_t)(nl - p));
			(void)evbuffer_add(out, "\r\n", 2);
		}
		s->at_bol = true;
		s->last_cr = false;
		p = nl + 1;
	}
}

/* Writes more of the message; at its end the final dot. */
static void
smtp_body_fill(struct smtp_sess *s)
{
	struct relay_job	*j = s->j;
	struct evbuffer		*out = bufferevent_get_output(s->bev);
	const char		*error;
	uint8_t			*chunk;
	ssize_t			 n;
	size_t			 want;

	chunk = xmalloc(SMTP_CHUNK);
	while (s->sent < j->length && evbuffer_get_length(out) < SMTP_OUT_HIGH) {
		want = j->length - s->sent < SMTP_CHUNK ?
		    (size_t)(j->length - s->sent) : SMTP_CHUNK;
		n = pread(j->fd, chunk, want, (off_t)(j->offset + s->sent));
		if (n <= 0) {
			free(chunk);
			/* No final dot: the server drops the message. */
			smtp_sess_fail(s, false, false, "4.3.0", "cannot read "
			    "the queue file: %s", n == 0 ? "short file" :
			    strerror(errno));
			return;
		}
		s->sent += (uint64_t)n;
		if (s->mime == NULL) {
			smtp_stuff(s, out, chunk, (size_t)n);
			continue;
		}
		if (mime8_convert(s->mime, chunk, (size_t)n, &s->conv,
		    &error) == -1 || (s->sent == j->length &&
		    mime8_convert_end(s->mime, &s->conv, &error) == -1)) {
			free(chunk);
			smtp_sess_fail(s, false, false, "4.6.3", "8-bit "
			    "conversion failed: %s", error);
			return;
		}
		smtp_stuff(s, out, (const uint8_t *)s->conv.data, s->conv.len);
		buf_reset(&s->conv);
	}
	free(chunk);
	if (s->sent < j->length)
		return;
	if (!s->at_bol)
		(void)evbuffer_add(out, "\r\n", 2);
	(void)evbuffer_add(out, ".\r\n", 3);
	s->state = SS_DOT;
	smtp_timeouts(s, cfg->smtp_data_done_timeout,
	    cfg->smtp_data_xfer_timeout);
}

static void
smtp_body_begin(struct smtp_sess *s)
{
	s->state = SS_BODY;
	s->sent = 0;
	s->at_bol = true;
	s->last_cr = false;
	buf_reset(&s->conv);
	/* While the body goes out, only writing has a deadline. */
	smtp_timeouts(s, 0, cfg->smtp_data_xfer_timeout);
	bufferevent_setwatermark(s->bev, EV_WRITE, SMTP_OUT_LOW, 0);
	smtp_body_fill(s);
}

/* The transaction ended (every recipient of it has an outcome). */
static void
smtp_trans_end(struct smtp_sess *s, bool rset)
{
	struct relay_job	*j = s->j;

	bufferevent_setwatermark(s->bev, EV_WRITE, 0, 0);
	if (rset) {
		/* Cached only once the RSET is answered. */
		s->state = SS_RSET;
		smtp_send(s, "RSET");
		smtp_timeouts(s, cfg->smtp_quit_timeout,
		    cfg->smtp_quit_timeout);
		s->j = NULL;
		j->sess = NULL;
		smtp_job_finish(j);
		return;
	}
	smtp_sess_release(s, true);
	smtp_job_finish(j);
}

/* The reply to MAIL. */
static void
smtp_reply_mail(struct smtp_sess *s)
{
	struct smtp_reply	*r = &s->reply;

	if (r->code / 100 == 2)
		return;
	s->mail_failed = true;
	s->mail_final = r->code / 100 == 5;
	smtp_said(s, "MAIL FROM", s->mail_text, sizeof(s->mail_text));
	smtp_reply_dsn(r, s->mail_dsn, sizeof(s->mail_dsn));
}

static void
smtp_reply_rcpt(struct smtp_sess *s, unsigned int i)
{
	struct relay_job	*j = s->j;
	struct relay_rcpt	*rc = &j->rcpts[i];
	struct smtp_reply	*r = &s->reply;
	char			 text[RELAY_TEXT_MAX], dsn[QFILE_DSN_MAX + 1];

	if (s->mail_failed)
		return;
	if (r->code / 100 == 2) {
		rc->accepted = true;
		s->naccepted++;
		return;
	}
	smtp_said(s, "RCPT TO", text, sizeof(text));
	smtp_reply_dsn(r, dsn, sizeof(dsn));
	relay_rcpt_set(rc, r->code / 100 == 5 ? RELAY_BOUNCED :
	    RELAY_DEFERRED, dsn, text);
}

/* The outcome of every accepted recipient, from the reply r to cmd. */
static void
smtp_accepted_set(struct smtp_sess *s, const char *cmd)
{
	struct relay_job	*j = s->j;
	struct smtp_reply	*r = &s->reply;
	char			 text[RELAY_TEXT_MAX], dsn[QFILE_DSN_MAX + 1];
	enum relay_status	 st;
	unsigned int		 k;

	st = r->code / 100 == 2 ? RELAY_SENT : r->code / 100 == 5 ?
	    RELAY_BOUNCED : RELAY_DEFERRED;
	if (st == RELAY_SENT)
		(void)smtp_reply_summary(r, text, sizeof(text));
	else
		smtp_said(s, cmd, text, sizeof(text));
	smtp_reply_dsn(r, dsn, sizeof(dsn));
	for (k = 0; k < s->ntrans; k++)
		if (j->rcpts[s->trans[k]].accepted)
			relay_rcpt_set(&j->rcpts[s->trans[k]], st, dsn, text);
}

/* One reply of the envelope: MAIL (step 0), RCPT (1..n), DATA. */
static void
smtp_reply_trans(struct smtp_sess *s)
{
	struct relay_job	*j = s->j;
	unsigned int		 step = s->step++;
	unsigned int		 k;

	s->reused = false;
	if (step == 0) {
		smtp_reply_mail(s);
		if (s->mail_failed && !s->mail_final) {
			/* 4xx to MAIL: the server's trouble, try another. */
			if (!s->pipelined) {
				smtp_sess_fail(s, true, false, s->mail_dsn,
				    "%s", s->mail_text);
				return;
			}
		}
		if (s->mail_failed && !s->pipelined) {
			for (k = 0; k < s->ntrans; k++)
				relay_rcpt_set(&j->rcpts[s->trans[k]],
				    RELAY_BOUNCED, s->mail_dsn, s->mail_text);
			smtp_trans_end(s, true);
			return;
		}
		if (!s->pipelined) {
			smtp_send_rcpt(s, s->trans[0]);
			smtp_timeouts(s, cfg->smtp_rcpt_timeout,
			    cfg->smtp_rcpt_timeout);
		}
		return;
	}
	if (step <= s->ntrans) {
		smtp_reply_rcpt(s, s->trans[step - 1]);
		if (s->pipelined)
			return;
		if (step < s->ntrans) {
			smtp_send_rcpt(s, s->trans[step]);
			return;
		}
		if (s->naccepted == 0) {
			smtp_trans_end(s, true);
			return;
		}
		smtp_send(s, "DATA");
		smtp_timeouts(s, cfg->smtp_data_init_timeout,
		    cfg->smtp_data_init_timeout);
		return;
	}
	/* The reply to DATA. */
	if (s->mail_failed) {
		if (s->reply.code == 354) {
			s->state = SS_DISCARD;
			smtp_send(s, ".");
		}
		if (s->mail_final) {
			for (k = 0; k < s->ntrans; k++)
				relay_rcpt_set(&j->rcpts[s->trans[k]],
				    RELAY_BOUNCED, s->mail_dsn, s->mail_text);
			if (s->state != SS_DISCARD)
				smtp_trans_end(s, true);
			return;
		}
		if (s->state == SS_DISCARD)
			s->state = SS_TRANS;
		smtp_sess_fail(s, true, false, s->mail_dsn, "%s",
		    s->mail_text);
		return;
	}
	if (s->naccepted == 0) {
		if (s->reply.code == 354) {
			s->state = SS_DISCARD;
			smtp_send(s, ".");
			return;
		}
		smtp_trans_end(s, true);
		return;
	}
	if (s->reply.code != 354) {
		smtp_accepted_set(s, "DATA");
		smtp_trans_end(s, true);
		return;
	}
	smtp_body_begin(s);
}

/* ---- EHLO, STARTTLS, AUTH ------------------------------------------------- */

static void
smtp_send_ehlo(struct smtp_sess *s)
{
	if (s->helo_only) {
		s->state = SS_HELO;
		smtp_send(s, "HELO %s", s->ta->helo);
	} else {
		s->state = SS_EHLO;
		smtp_send(s, "EHLO %s", s->ta->helo);
	}
	smtp_timeouts(s, cfg->smtp_helo_timeout, cfg->smtp_helo_timeout);
}

/* prefix, then data in base64, then CRLF; nothing of it is kept. */
static void
smtp_send_secret(struct smtp_sess *s, const char *prefix, const char *data,
    size_t len)
{
	struct evbuffer	*out = bufferevent_get_output(s->bev);
	unsigned char	*dst;
	size_t		 size = 4 * ((len + 2) / 3) + 1;
	int		 n;

	dst = xmalloc(size);
	n = EVP_EncodeBlock(dst, (const unsigned char *)data, (int)len);
	(void)evbuffer_add(out, prefix, strlen(prefix));
	if (n > 0)
		(void)evbuffer_add(out, dst, (size_t)n);
	(void)evbuffer_add(out, "\r\n", 2);
	explicit_bzero(dst, size);
	free(dst);
}

/* After EHLO: TLS, then AUTH, then the transaction. */
static void
smtp_ready(struct smtp_sess *s)
{
	struct relay_job	*j = s->j;
	size_t			 ulen, plen;
	char			*plain;

	if (!s->tls && j->tls != RELAY_TLS_NONE && s->ehlo.starttls &&
	    !s->no_tls) {
		s->state = SS_STARTTLS;
		smtp_send(s, "STARTTLS");
		smtp_timeouts(s, cfg->smtp_starttls_timeout,
		    cfg->smtp_starttls_timeout);
		return;
	}
	if (!s->tls && (j->tls == RELAY_TLS_ENCRYPT ||
	    j->tls == RELAY_TLS_VERIFY)) {
		smtp_sess_fail(s, true, false, "4.7.4", "TLS is required, but "
		    "was not offered by host %s", s->name);
		return;
	}
	if (j->sasl_user != NULL && s->ehlo.auth &&
	    (s->tls || !cfg->smtp_sasl_tls_only)) {
		if (s->ehlo.auth_plain) {
			/* RFC 4616: NUL user NUL password. */
			ulen = strlen(j->sasl_user);
			plen = strlen(j->sasl_pass);
			plain = xmalloc(ulen + plen + 2);
			plain[0] = '\0';
			memcpy(plain + 1, j->sasl_user, ulen);
			plain[ulen + 1] = '\0';
			memcpy(plain + ulen + 2, j->sasl_pass, plen);
			s->state = SS_AUTH;
			smtp_send_secret(s, "AUTH PLAIN ", plain, ulen + plen + 2);
			explicit_bzero(plain, ulen + plen + 2);
			free(plain);
		} else if (s->ehlo.auth_login) {
			s->state = SS_AUTH_USER;
			smtp_send(s, "AUTH LOGIN");
		} else {
			log_q(LOG_WARNING, j->id, "host %s offers no SASL "
			    "mechanism we know (PLAIN, LOGIN): sending without "
			    "AUTH", s->name);
			smtp_trans_begin(s);
			return;
		}
		smtp_timeouts(s, cfg->smtp_helo_timeout,
		    cfg->smtp_helo_timeout);
		return;
	}
	if (j->sasl_user != NULL && s->ehlo.auth && !s->tls)
		log_q(LOG_INFO, j->id, "not sending credentials to %s without "
		    "TLS (smtp_sasl_tls_only)", s->name);
	smtp_trans_begin(s);
}

static void
smtp_reply_auth(struct smtp_sess *s)
{
	struct relay_job	*j = s->j;
	struct smtp_reply	*r = &s->reply;
	char			 text[RELAY_TEXT_MAX];

	if (r->code == 235) {
		smtp_trans_begin(s);
		return;
	}
	if (r->code == 334 && s->state == SS_AUTH_USER) {
		s->state = SS_AUTH_PASS;
		smtp_send_secret(s, "", j->sasl_user, strlen(j->sasl_user));
		return;
	}
	if (r->code == 334 && s->state == SS_AUTH_PASS) {
		s->state = SS_AUTH;
		smtp_send_secret(s, "", j->sasl_pass, strlen(j->sasl_pass));
		return;
	}
	if (r->code == 334) {
		/* A challenge we did not ask for: abort the exchange. */
		smtp_send(s, "*");
		return;
	}
	smtp_said(s, "AUTH", text, sizeof(text));
	smtp_sess_fail(s, true, false, r->code / 100 == 5 ? "5.7.8" : "4.7.0",
	    "SASL authentication failed; server %s", text);
}

static void
smtp_tls_done(struct smtp_sess *s)
{
	struct relay_job	*j = s->j;
	SSL			*ssl = tls_bufferevent_ssl(s->bev);
	const char		*version = "", *cipher = "", *trust;
	char			 info[TLS_INFO_MAX];

	s->tls = true;
	if (tls_info(ssl, &version, &cipher, NULL, NULL) == -1 ||
	    tls_info_format(ssl, info, sizeof(info)) == -1)
		info[0] = '\0';
	smtp_fmt(s->tls_info, sizeof(s->tls_info), "%s:%s", version,
	    cipher);
	if (j->tls == RELAY_TLS_VERIFY)
		trust = "Verified";
	else if (SSL_get_verify_result(ssl) == X509_V_OK)
		trust = "Trusted";
	else
		trust = "Untrusted";
	log_q(LOG_INFO, j->id, "%s TLS connection established to %s: %s",
	    trust, s->name, info);
	/* RFC 3207 4.2: forget what the server said before TLS. */
	memset(&s->ehlo, 0, sizeof(s->ehlo));
	smtp_send_ehlo(s);
	(void)bufferevent_enable(s->bev, EV_READ | EV_WRITE);
}

static void
smtp_starttls(struct smtp_sess *s)
{
	struct relay_job	*j = s->j;
	struct bufferevent	*tbev;
	const char		*error;

	if (evbuffer_get_length(bufferevent_get_input(s->bev)) > 0) {
		smtp_sess_fail(s, false, false, "4.7.5", "host %s sent data "
		    "after its STARTTLS reply", s->name);
		return;
	}
	if (tls_connect_starttls_bufferevent(s->ta->tls_ctx, s->bev,
	    j->nh.literal ? NULL : s->host, j->tls == RELAY_TLS_VERIFY ?
	    TLS_VERIFY_PEER : TLS_VERIFY_NONE, &tbev, &error) == -1) {
		smtp_sess_fail(s, false, false, "4.7.5", "cannot start TLS "
		    "with %s: %s", s->name, error);
		return;
	}
	s->bev = tbev;
	s->state = SS_HANDSHAKE;
	bufferevent_setcb(s->bev, smtp_read_cb, smtp_write_cb, smtp_event_cb,
	    s);
	smtp_timeouts(s, cfg->smtp_starttls_timeout,
	    cfg->smtp_starttls_timeout);
	(void)bufferevent_enable(s->bev, EV_READ | EV_WRITE);
}

/* ---- replies ----------------------------------------------------------------- */

static void
smtp_reply_done(struct smtp_sess *s)
{
	struct relay_job	*j = s->j;
	struct smtp_reply	*r = &s->reply;
	char			 text[RELAY_TEXT_MAX], dsn[QFILE_DSN_MAX + 1];

	switch (s->state) {
	case SS_GREETING:
		/* Reached: the log names it (relay=none until one is). */
		str_copy_cut(j->relay, sizeof(j->relay), s->name);
		if (r->code != 220) {
			(void)smtp_reply_summary(r, text, sizeof(text));
			smtp_reply_dsn(r, dsn, sizeof(dsn));
			smtp_sess_fail(s, true, r->code / 100 == 5, dsn,
			    "host %s refused to talk to me: %s", s->name, text);
			return;
		}
		smtp_send_ehlo(s);
		return;
	case SS_EHLO:
		if (r->code / 100 != 2) {
			/* RFC 5321 3.2: fall back to HELO. */
			s->helo_only = true;
			smtp_send_ehlo(s);
			return;
		}
		smtp_ehlo_parse(r, &s->ehlo);
		smtp_ready(s);
		return;
	case SS_HELO:
		if (r->code / 100 != 2) {
			smtp_said(s, "HELO", text, sizeof(text));
			smtp_reply_dsn(r, dsn, sizeof(dsn));
			smtp_sess_fail(s, true, r->code / 100 == 5, dsn, "%s",
			    text);
			return;
		}
		memset(&s->ehlo, 0, sizeof(s->ehlo));
		smtp_ready(s);
		return;
	case SS_STARTTLS:
		if (r->code != 220) {
			if (j->tls == RELAY_TLS_MAY) {
				/* Offered, then refused: go on in plain. */
				s->no_tls = true;
				smtp_ready(s);
				return;
			}
			smtp_said(s, "STARTTLS", text, sizeof(text));
			smtp_sess_fail(s, true, false, "4.7.5", "%s", text);
			return;
		}
		smtp_starttls(s);
		return;
	case SS_AUTH:
	case SS_AUTH_USER:
	case SS_AUTH_PASS:
		smtp_reply_auth(s);
		return;
	case SS_TRANS:
		smtp_reply_trans(s);
		return;
	case SS_BODY:
	case SS_DOT:
		/* SS_BODY: the server spoke early; take it as the answer. */
		smtp_accepted_set(s, s->state == SS_DOT ? "end of DATA" :
		    "DATA");
		if (s->state == SS_BODY) {
			s->j = NULL;
			j->sess = NULL;
			smtp_sess_free(s);
			smtp_job_finish(j);
			return;
		}
		smtp_trans_end(s, false);
		return;
	case SS_DISCARD:
		smtp_trans_end(s, true);
		return;
	case SS_RSET:
		if (r->code / 100 != 2) {
			smtp_sess_free(s);
			return;
		}
		smtp_sess_release(s, true);
		return;
	case SS_QUIT:
		smtp_sess_free(s);
		return;
	case SS_IDLE:
	default:
		/* Unasked-for talk on an idle connection: drop it. */
		smtp_sess_free(s);
		return;
	}
}

static void	smtp_read_lines(struct smtp_sess *s, struct bufferevent *bev);

static void
smtp_read_cb(struct bufferevent *bev, void *arg)
{
	struct smtp_sess	*s = arg;

	s->in_cb = true;
	smtp_read_lines(s, bev);
	s->in_cb = false;
	if (s->dead)
		smtp_sess_free(s);
}

static void
smtp_read_lines(struct smtp_sess *s, struct bufferevent *bev)
{
	struct evbuffer		*in = bufferevent_get_input(bev);
	const char		*error;
	bool			 bare;
	int			 r;

	for (;;) {
		if (s->state == SS_HANDSHAKE)
			return;
		switch (net_read_line(in, &s->line, SMTP_REPLY_LINE_MAX,
		    &bare)) {
		case LINE_MORE:
			return;
		case LINE_TOO_LONG:
			smtp_sess_fail(s, false, false, "4.5.0", "host %s sent "
			    "a reply line longer than %d bytes while %s",
			    s->name, SMTP_REPLY_LINE_MAX,
			    smtp_state_doing(s->state));
			return;
		case LINE_OK:
			break;
		}
		r = smtp_reply_line(&s->reply, (const char *)s->line.data,
		    s->line.len, &error);
		if (r == -1) {
			smtp_sess_fail(s, false, false, "4.5.0", "host %s sent "
			    "a malformed reply while %s: %s", s->name,
			    smtp_state_doing(s->state), error);
			return;
		}
		if (r == 0)
			continue;
		smtp_reply_done(s);
		if (s->dead)
			break;
		smtp_reply_reset(&s->reply);
		if (s->bev != bev)
			break;		/* STARTTLS: the TLS bufferevent reads */
	}
}

static void
smtp_write_cb(struct bufferevent *bev ATTR_UNUSED, void *arg)
{
	struct smtp_sess	*s = arg;

	if (s->state == SS_BODY)
		smtp_body_fill(s);
}

static void
smtp_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct smtp_sess	*s = arg;

	if (what & BEV_EVENT_CONNECTED) {
		if (s->state == SS_CONNECT) {
			s->state = SS_GREETING;
			smtp_timeouts(s, cfg->smtp_greeting_timeout,
			    cfg->smtp_greeting_timeout);
			(void)bufferevent_enable(bev, EV_READ | EV_WRITE);
		} else if (s->state == SS_HANDSHAKE) {
			smtp_tls_done(s);
		}
		return;
	}
	if (s->j == NULL) {
		/* Idle or saying goodbye: nothing more to learn. */
		smtp_sess_free(s);
		return;
	}
	if (s->state == SS_CONNECT) {
		smtp_sess_fail(s, false, false, "4.4.1", "connect to %s: %s",
		    s->name, (what & BEV_EVENT_TIMEOUT) ? "Connection timed out" :
		    strerror(EVUTIL_SOCKET_ERROR()));
		return;
	}
	if (s->state == SS_HANDSHAKE) {
		if (s->j->tls == RELAY_TLS_MAY && !(what & BEV_EVENT_TIMEOUT)) {
			/* Postfix does the same: again, in plain text. */
			log_q(LOG_INFO, s->j->id, "TLS handshake with %s failed "
			    "(%s): trying again without TLS", s->name,
			    tls_bufferevent_error(bev));
			s->j->plain_retry = true;
			s->j->next_addr--;
		}
		smtp_sess_fail(s, false, false, "4.7.5", "TLS handshake with %s "
		    "failed: %s", s->name, (what & BEV_EVENT_TIMEOUT) ?
		    "timed out" : tls_bufferevent_error(bev));
		return;
	}
	if (what & BEV_EVENT_TIMEOUT)
		smtp_sess_fail(s, false, false, "4.4.2", "conversation with %s "
		    "timed out while %s", s->name, smtp_state_doing(s->state));
	else
		smtp_sess_fail(s, false, false, "4.4.2", "lost connection with "
		    "%s while %s", s->name, smtp_state_doing(s->state));
}

/* ---- jobs ------------------------------------------------------------------- */

static char *
smtp_cache_key(const struct relay_job *j)
{
	return xasprintf("%s|%d|%s", j->nexthop, (int)j->tls,
	    j->sasl_user != NULL ? j->sasl_user : "");
}

/* A new session to address a of job j. */
static void
smtp_connect(struct relay_job *j, const struct dns_addr *a)
{
	struct ta		*ta = j->ta;
	struct smtp_sess	*s;
	char			 addr[INET6_ADDRSTRLEN];
	uint16_t		 port;
	int			 fd;

	s = xcalloc(1, sizeof(*s));
	TAILQ_INSERT_TAIL(&smtp_all, s, all);
	s->ta = ta;
	s->j = j;
	s->key = smtp_cache_key(j);
	smtp_reply_init(&s->reply);
	buf_init(&s->line, 512, SMTP_REPLY_LINE_MAX + 1);
	buf_init(&s->conv, 0, SMTP_CHUNK * 64);
	str_copy_cut(s->host, sizeof(s->host), a->host);
	if (net_addr_str((const struct sockaddr *)&a->ss, addr,
	    sizeof(addr)) == -1)
		str_copy_cut(addr, sizeof(addr), "?");
	port = a->ss.ss_family == AF_INET6 ?
	    ntohs(((const struct sockaddr_in6 *)&a->ss)->sin6_port) :
	    ntohs(((const struct sockaddr_in *)&a->ss)->sin_port);
	smtp_fmt(s->name, sizeof(s->name), "%s[%s]:%u", a->host, addr,
	    port);
	j->tls_info[0] = '\0';
	j->sess = s;
	/* The second try of an address whose TLS handshake failed (may). */
	s->no_tls = j->plain_retry;
	j->plain_retry = false;
	if ((s->idle_ev = evtimer_new(ta->base, smtp_idle_cb, s)) == NULL)
		log_fatal("cannot make an event");
	s->state = SS_CONNECT;
	fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (fd == -1 || (s->bev = bufferevent_socket_new(ta->base, fd,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		if (fd != -1)
			(void)close(fd);
		smtp_sess_fail(s, false, false, "4.4.1", "connect to %s: %s",
		    s->name, strerror(errno));
		return;
	}
	bufferevent_setcb(s->bev, smtp_read_cb, smtp_write_cb, smtp_event_cb,
	    s);
	smtp_timeouts(s, cfg->smtp_connect_timeout, cfg->smtp_connect_timeout);
	if (bufferevent_socket_connect(s->bev, (const struct sockaddr *)&a->ss,
	    (int)a->len) == -1) {
		smtp_sess_fail(s, false, false, "4.4.1", "connect to %s: %s",
		    s->name, strerror(errno));
		return;
	}
}

/* The next address, or the end of the job. */
static void
smtp_next_addr(struct relay_job *j)
{
	if (smtp_job_pending(j) == 0 || j->next_addr >= j->naddrs ||
	    j->ta->stopping) {
		smtp_job_finish(j);
		return;
	}
	smtp_connect(j, &j->addrs[j->next_addr++]);
}

static void
smtp_dns_cb(const struct dns_answer *a, void *ctx)
{
	struct relay_job	*j = ctx;

	j->lookup = NULL;
	switch (a->status) {
	case DNS_OK:
		free(j->addrs);
		j->addrs = xcalloc(a->naddrs, sizeof(*j->addrs));
		memcpy(j->addrs, a->addrs, a->naddrs * sizeof(*j->addrs));
		j->naddrs = a->naddrs;
		j->next_addr = 0;
		smtp_next_addr(j);
		return;
	case DNS_NODOMAIN:
		smtp_job_why(j, true, "5.1.2", "%s", a->text);
		break;
	case DNS_NOTFOUND:
		smtp_job_why(j, true, "5.4.4", "%s", a->text);
		break;
	case DNS_NULLMX:
		smtp_job_why(j, true, "5.1.10", "%s", a->text);
		break;
	case DNS_LOOP:
		smtp_job_why(j, true, "5.4.6", "%s", a->text);
		break;
	case DNS_TEMPFAIL:
	default:
		smtp_job_why(j, false, "4.4.3", "%s", a->text);
		break;
	}
	smtp_job_finish(j);
}

static void
smtp_job_lookup(struct relay_job *j)
{
	j->lookup = dns_lookup(j->ta->dns, &j->nh, (uint16_t)cfg->smtp_port,
	    j->ta->myname, cfg->smtp_mx_address_limit, smtp_dns_cb, j);
}

/* A cached connection for j's destination, if one is idle. */
static struct smtp_sess *
smtp_cache_take(struct ta *ta, const struct relay_job *j)
{
	struct smtp_sess	*s;
	char			*key;

	if (ta->nidle == 0)
		return NULL;
	key = smtp_cache_key(j);
	TAILQ_FOREACH_REVERSE(s, &ta->idle, smtp_idle_head, entry)
		if (strcmp(s->key, key) == 0)
			break;
	free(key);
	if (s == NULL)
		return NULL;
	smtp_idle_remove(s);
	/* Busy from now on: no longer idle for smtp_sess_free() either. */
	s->state = SS_TRANS;
	return s;
}

void
relay_job_start(struct relay_job *j)
{
	struct smtp_sess	*s;
	const char		*error;

	if (dns_nexthop_parse(j->nexthop, &j->nh, &error) == -1) {
		log_q(LOG_WARNING, j->id, "%s", error);
		smtp_job_why(j, false, "4.3.5", "%s", error);
		smtp_job_finish(j);
		return;
	}
	if ((s = smtp_cache_take(j->ta, j)) != NULL) {
		s->j = j;
		s->reused = true;
		j->sess = s;
		smtp_trans_begin(s);
		return;
	}
	smtp_job_lookup(j);
}

void
relay_job_abort(struct relay_job *j)
{
	struct smtp_sess	*s = j->sess;

	if (j->lookup != NULL)
		dns_lookup_cancel(&j->lookup);
	if (s != NULL) {
		s->j = NULL;
		j->sess = NULL;
		smtp_sess_free(s);
	}
	relay_job_done(j);
}

void
smtp_cache_close(struct ta *ta)
{
	struct smtp_sess	*s;

	while ((s = TAILQ_FIRST(&ta->idle)) != NULL)
		smtp_sess_free(s);
}

void
smtp_close_all(struct ta *ta ATTR_UNUSED)
{
	struct smtp_sess	*s;

	while ((s = TAILQ_FIRST(&smtp_all)) != NULL)
		smtp_sess_free(s);
}
