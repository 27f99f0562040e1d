/* SPDX-License-Identifier: ISC */
/*
 * The IMAP connection of both IMAP processes (imap_conn.h): input into
 * commands with imap_scan(), literals, broken input, output flow,
 * STARTTLS, closing, and the handover of a connection from imap-login to
 * imap.
 */
#include "config.h"

#include <sys/types.h>

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>

#include "common/buf.h"
#include "common/error.h"
#include "common/log.h"
#include "common/tls.h"
#include "common/xmalloc.h"
#include "imap_conn.h"
#include "common/banned.h"

/* How long and how often a closing connection waits for TLS to flush. */
#define IMAP_CONN_CLOSE_POLL_USEC	20000
#define IMAP_CONN_CLOSE_POLL_MAX	100

static void	imap_conn_run(struct imap_conn *c);
static void	imap_conn_setcb(struct imap_conn *c);

/* The most one command may take: every line and literal at its limit. */
static size_t
imap_conn_cmd_max(const struct imap_limits *lim)
{
	uint64_t	max;

	max = (uint64_t)lim->max_line * (lim->max_literals + 1) +
	    lim->max_literal * lim->max_literals;
	return max > SIZE_MAX / 2 ? SIZE_MAX / 2 : (size_t)max;
}

static void
imap_conn_timeouts(struct imap_conn *c)
{
	struct timeval	tv = { (time_t)c->timeout, 0 };

	(void)bufferevent_set_timeouts(c->bev, &tv, &tv);
}

void
imap_conn_write(struct imap_conn *c, const void *data, size_t len)
{
	if (c->bev == NULL || c->tls_closed)
		return;
	(void)evbuffer_add(bufferevent_get_output(c->bev), data, len);
}

void
imap_conn_printf(struct imap_conn *c, const char *fmt, ...)
{
	va_list	ap;

	if (c->bev == NULL || c->tls_closed)
		return;
	va_start(ap, fmt);
	(void)evbuffer_add_vprintf(bufferevent_get_output(c->bev), fmt, ap);
	va_end(ap);
}

void
imap_conn_tagged(struct imap_conn *c, const char *tag, const char *status,
    const char *fmt, ...)
{
	struct evbuffer	*out;
	va_list		 ap;

	if (c->bev == NULL || c->tls_closed)
		return;
	out = bufferevent_get_output(c->bev);
	(void)evbuffer_add_printf(out, "%s %s ", tag != NULL &&
	    tag[0] != '\0' ? tag : "*", status);
	va_start(ap, fmt);
	(void)evbuffer_add_vprintf(out, fmt, ap);
	va_end(ap);
	(void)evbuffer_add(out, "\r\n", 2);
}

size_t
imap_conn_output_len(const struct imap_conn *c)
{
	struct bufferevent *under;
	size_t		 n;

	if (c->bev == NULL)
		return 0;
	n = evbuffer_get_length(bufferevent_get_output(c->bev));
	under = bufferevent_get_underlying(c->bev);
	if (under != NULL)
		n += evbuffer_get_length(bufferevent_get_output(under));
	return n;
}

bool
imap_conn_count_bad(struct imap_conn *c)
{
	if (++c->bad < c->max_bad)
		return true;
	log_info("too many invalid commands from %s", c->addr);
	imap_conn_printf(c, "* BYE Too many invalid IMAP commands.\r\n");
	imap_conn_close(c);
	return false;
}

/* ---- closing ----------------------------------------------------------- */

static void
imap_conn_tls_close(struct imap_conn *c)
{
	SSL	*ssl;

	if (!c->tls_ready || c->tls_closed ||
	    evbuffer_get_length(bufferevent_get_output(c->bev)) > 0)
		return;
	c->tls_closed = true;
	if ((ssl = tls_bufferevent_ssl(c->bev)) != NULL) {
		(void)SSL_shutdown(ssl);
		ERR_clear_error();
	}
}

static void imap_conn_finish(struct imap_conn *c);

static void
imap_conn_close_poll(evutil_socket_t fd ATTR_UNUSED, short what ATTR_UNUSED,
    void *arg)
{
	imap_conn_finish(arg);
}

/* Reports the end once the output is out (or cannot get out). */
static void
imap_conn_finish(struct imap_conn *c)
{
	struct timeval	tv = { 0, IMAP_CONN_CLOSE_POLL_USEC };

	imap_conn_tls_close(c);
	if (imap_conn_output_len(c) == 0 ||
	    c->close_polls >= IMAP_CONN_CLOSE_POLL_MAX) {
		c->ops->closed(c->ctx, "closed");
		return;
	}
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) > 0)
		return;		/* the write callback comes back */
	if (c->close_ev == NULL)
		c->close_ev = evtimer_new(c->base, imap_conn_close_poll, c);
	c->close_polls++;
	if (c->close_ev != NULL)
		(void)evtimer_add(c->close_ev, &tv);
}

static void
imap_conn_finish_cb(evutil_socket_t fd ATTR_UNUSED, short what ATTR_UNUSED,
    void *arg)
{
	imap_conn_finish(arg);
}

void
imap_conn_close(struct imap_conn *c)
{
	struct timeval	tv = { 0, 0 };

	if (c->closing)
		return;
	c->closing = true;
	if (c->bev != NULL)
		(void)bufferevent_disable(c->bev, EV_READ);
	/* Never from inside a handler: the session frees itself there. */
	if (c->close_ev == NULL)
		c->close_ev = evtimer_new(c->base, imap_conn_finish_cb, c);
	if (c->close_ev != NULL)
		(void)evtimer_add(c->close_ev, &tv);
}

/* ---- input --------------------------------------------------------------- */

static void
imap_conn_resume_cb(evutil_socket_t fd ATTR_UNUSED, short what ATTR_UNUSED,
    void *arg)
{
	imap_conn_run(arg);
}

void
imap_conn_pause(struct imap_conn *c)
{
	c->paused = true;
}

void
imap_conn_resume(struct imap_conn *c)
{
	struct timeval	tv = { 0, 0 };

	c->paused = false;
	if (c->closing)
		return;
	if (c->resume_ev == NULL)
		c->resume_ev = evtimer_new(c->base, imap_conn_resume_cb, c);
	if (c->resume_ev != NULL)
		(void)evtimer_add(c->resume_ev, &tv);
}

void
imap_conn_set_line_mode(struct imap_conn *c, bool on)
{
	c->line_mode = on;
}

void
imap_conn_set_timeout(struct imap_conn *c, unsigned int seconds)
{
	c->timeout = seconds;
	if (c->bev != NULL)
		imap_conn_timeouts(c);
}

int
imap_conn_prepend_input(struct imap_conn *c, const void *data, size_t len)
{
	if (len == 0)
		return 0;
	return evbuffer_prepend(bufferevent_get_input(c->bev), data, len);
}

/*
 * Moves up to IMAP_CONN_CHUNK bytes from the socket's buffer to the
 * command.  Returns false when nothing was there (or the command is at
 * its maximum, which the scanner reports before it can happen).
 */
static bool
imap_conn_pull(struct imap_conn *c)
{
	struct evbuffer	*in = bufferevent_get_input(c->bev);
	size_t		 n = evbuffer_get_length(in), room;
	unsigned char	*p;

	room = c->in->max - c->in->len;
	if (n > IMAP_CONN_CHUNK)
		n = IMAP_CONN_CHUNK;
	if (n > room)
		n = room;
	if (n == 0 || (p = evbuffer_pullup(in, (ssize_t)n)) == NULL ||
	    buf_append(c->in, p, n) == -1)
		return false;
	(void)evbuffer_drain(in, n);
	return true;
}

/* The first len bytes of the command buffer are done with. */
static void
imap_conn_consume(struct imap_conn *c, size_t len)
{
	buf_consume(c->in, len);
	/* An idle session keeps no large buffer. */
	if (c->in->len == 0 && c->in->size > 4 * IMAP_CONN_CHUNK) {
		buf_deinit(c->in);
		buf_init(c->in, 0, imap_conn_cmd_max(&c->lim));
	}
	imap_scan_init(&c->scan, c->line_mode ? IMAP_SCAN_F_LINE : 0);
}

/* The scanner found the command broken: answer, then discard it. */
static void
imap_conn_scan_error(struct imap_conn *c)
{
	char		 tag[128];
	const char	*text = imap_scan_strerror(c->scan.error);
	const char	*status = "BAD";
	const char	*code = "";

	if (c->scan.tag_len > 0 && c->scan.tag_len < sizeof(tag)) {
		memcpy(tag, c->in->data, c->scan.tag_len);
		tag[c->scan.tag_len] = '\0';
	} else
		(void)snprintf(tag, sizeof(tag), "*");
	if (c->scan.error == IMAP_SCAN_E_LITERAL_TOO_BIG ||
	    c->scan.error == IMAP_SCAN_E_LITERAL_MINUS) {
		code = "[TOOBIG] ";
		if (c->scan.lit_message &&
		    c->scan.error == IMAP_SCAN_E_LITERAL_TOO_BIG)
			status = "NO";
	}
	if (c->ops->aborted != NULL)
		c->ops->aborted(c->ctx);
	c->skipping = true;
	if (c->scan.error == IMAP_SCAN_E_REFUSED)
		return;		/* the session has answered */
	imap_conn_tagged(c, tag, status, "%s%s", code, text);
	if (strcmp(status, "BAD") == 0)
		(void)imap_conn_count_bad(c);
}

/* Discards the rest of a broken command.  False: more input needed. */
static bool
imap_conn_skip(struct imap_conn *c)
{
	size_t	drop;
	int	r;

	for (;;) {
		r = imap_scan_skip(c->in->data, c->in->len, &c->scan, &drop);
		if (r == -1) {
			imap_conn_printf(c, "* BYE Input cannot be "
			    "followed.\r\n");
			imap_conn_close(c);
			return false;
		}
		buf_consume(c->in, drop);
		if (r == 1) {
			c->skipping = false;
			imap_conn_consume(c, 0);
			return true;
		}
		/* everything given was dropped: more from the socket */
		if (!imap_conn_pull(c))
			return false;
	}
}

/* Streams APPEND's message literal to the session. */
static bool
imap_conn_literal_stream(struct imap_conn *c)
{
	struct evbuffer	*in = bufferevent_get_input(c->bev);
	size_t		 off = c->scan.lit_offset, have, n;
	unsigned char	*p;

	/* First what the command buffer already holds after the announcement. */
	have = c->in->len - off;
	if (have > 0 && c->lit_left > 0) {
		n = have < c->lit_left ? have : (size_t)c->lit_left;
		c->ops->literal_data(c->ctx, c->in->data + off, n);
		c->lit_left -= n;
		/* keep what follows the literal */
		memmove(c->in->data + off, c->in->data + off + n, have - n);
		c->in->len -= n;
		c->in->data[c->in->len] = '\0';
	}
	while (c->lit_left > 0 && !c->closing) {
		n = evbuffer_get_length(in);
		if (n == 0)
			return false;
		if (n > 64 * 1024)
			n = 64 * 1024;
		if (n > c->lit_left)
			n = (size_t)c->lit_left;
		if ((p = evbuffer_pullup(in, (ssize_t)n)) == NULL)
			return false;
		c->ops->literal_data(c->ctx, (const char *)p, n);
		(void)evbuffer_drain(in, n);
		c->lit_left -= n;
	}
	c->lit_active = false;
	imap_scan_literal_taken(&c->scan);
	c->ops->literal_end(c->ctx);
	return true;
}

static void
imap_conn_run(struct imap_conn *c)
{
	enum imap_scan_result	 r;
	size_t			 len;

	while (!c->closing && !c->paused && c->bev != NULL) {
		if (imap_conn_output_len(c) > IMAP_CONN_OUTPUT_HIGH) {
			c->output_full = true;
			(void)bufferevent_disable(c->bev, EV_READ);
			return;		/* the write callback resumes */
		}
		if (c->lit_active) {
			if (!imap_conn_literal_stream(c))
				break;
			continue;
		}
		if (c->skipping) {
			if (!imap_conn_skip(c))
				break;
			continue;
		}
		r = imap_scan(c->in->data, c->in->len, &c->scan, &c->lim);
		switch (r) {
		case IMAP_SCAN_NEED_MORE:
			if (!imap_conn_pull(c))
				goto out;
			continue;
		case IMAP_SCAN_ERROR:
			imap_conn_scan_error(c);
			continue;
		case IMAP_SCAN_LITERAL:
			if (!c->scan.lit_message) {
				if (c->scan.lit_sync)
					imap_conn_printf(c, "+ OK\r\n");
				continue;
			}
			if (c->ops->literal == NULL) {
				imap_scan_refuse(&c->scan);
				imap_conn_tagged(c, NULL, "BAD", "Literal not "
				    "expected here");
				continue;
			}
			if (c->ops->literal(c->ctx, &c->scan, c->in->data,
			    c->scan.lit_start) == 0) {
				imap_scan_refuse(&c->scan);
				continue;
			}
			if (c->scan.lit_sync)
				imap_conn_printf(c, "+ Ready for literal "
				    "data\r\n");
			c->lit_active = true;
			c->lit_left = c->scan.lit_size;
			continue;
		case IMAP_SCAN_COMPLETE:
			len = c->scan.cmd_len;
			if (c->line_mode)
				c->ops->line(c->ctx, c->in->data, len);
			else
				c->ops->command(c->ctx, c->in->data, len);
			if (c->bev == NULL)
				return;		/* detached */
			if (c->input_reset) {
				/* STARTTLS threw the input away */
				c->input_reset = false;
				imap_conn_consume(c, 0);
				continue;
			}
			/* A password may have been in it. */
			explicit_bzero(c->in->data, len);
			imap_conn_consume(c, len);
			continue;
		}
	}
out:
	if (!c->closing && !c->paused && c->bev != NULL)
		(void)bufferevent_enable(c->bev, EV_READ);
}

/* ---- events -------------------------------------------------------------- */

static void
imap_conn_read_cb(struct bufferevent *bev ATTR_UNUSED, void *arg)
{
	imap_conn_run(arg);
}

static void
imap_conn_write_cb(struct bufferevent *bev ATTR_UNUSED, void *arg)
{
	struct imap_conn *c = arg;

	if (c->closing) {
		imap_conn_finish(c);
		return;
	}
	if (c->ops->drained != NULL &&
	    imap_conn_output_len(c) < IMAP_CONN_OUTPUT_LOW)
		c->ops->drained(c->ctx);
	if (c->output_full && imap_conn_output_len(c) <
	    IMAP_CONN_OUTPUT_LOW) {
		c->output_full = false;
		imap_conn_run(c);
	}
}

static void
imap_conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct imap_conn *c = arg;
	SSL		*ssl;

	if ((what & BEV_EVENT_CONNECTED) != 0) {
		c->tls_ready = true;
		c->secured = true;
		ssl = tls_bufferevent_ssl(bev);
		if (ssl == NULL || tls_info_format(ssl, c->tls_info,
		    sizeof(c->tls_info)) == -1)
			c->tls_info[0] = '\0';
		log_info("TLS connection established from %s: %s", c->addr,
		    c->tls_info);
		return;
	}
	if ((what & BEV_EVENT_TIMEOUT) != 0 && !c->closing &&
	    ((what & BEV_EVENT_WRITING) == 0 ||
	    evbuffer_get_length(bufferevent_get_output(bev)) == 0) &&
	    (!c->tls || c->tls_ready)) {
		if (c->ops->timeout != NULL)
			c->ops->timeout(c->ctx);
		else
			imap_conn_printf(c, "* BYE Disconnected for "
			    "inactivity.\r\n");
		imap_conn_close(c);
		/* the timeout disabled the events: writing must go on */
		(void)bufferevent_enable(bev, EV_WRITE);
		return;
	}
	if ((what & BEV_EVENT_TIMEOUT) != 0 && c->tls && !c->tls_ready)
		c->ops->closed(c->ctx, "timeout in the TLS handshake");
	else if ((what & BEV_EVENT_TIMEOUT) != 0)
		c->ops->closed(c->ctx, "replies not read");
	else if (c->tls && !c->tls_ready)
		c->ops->closed(c->ctx, "TLS handshake failed");
	else
		c->ops->closed(c->ctx, c->closing ? "closed" :
		    "connection lost");
}

static void
imap_conn_setcb(struct imap_conn *c)
{
	bufferevent_setcb(c->bev, imap_conn_read_cb, imap_conn_write_cb,
	    imap_conn_event_cb, c);
	imap_conn_timeouts(c);
	(void)bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

void
imap_conn_init(struct imap_conn *c, struct event_base *base,
    struct bufferevent *bev, bool tls, const struct imap_limits *lim,
    unsigned int max_bad, unsigned int timeout, const char *addr,
    const struct imap_conn_ops *ops, void *ctx)
{
	memset(c, 0, sizeof(*c));
	c->base = base;
	c->bev = bev;
	c->tls = tls;
	c->secured = tls;
	c->lim = *lim;
	c->max_bad = max_bad;
	c->timeout = timeout;
	c->ops = ops;
	c->ctx = ctx;
	(void)snprintf(c->addr, sizeof(c->addr), "%s", addr);
	c->in = buf_new(0, imap_conn_cmd_max(lim));
	imap_scan_init(&c->scan, 0);
	imap_conn_setcb(c);
}

void
imap_conn_free(struct imap_conn *c)
{
	if (c->bev != NULL)
		bufferevent_free(c->bev);
	c->bev = NULL;
	if (c->in != NULL)
		explicit_bzero(c->in->data, c->in->len);
	buf_free(&c->in);
	if (c->resume_ev != NULL)
		event_free(c->resume_ev);
	if (c->close_ev != NULL)
		event_free(c->close_ev);
	c->resume_ev = c->close_ev = NULL;
}

/* ---- STARTTLS and handover ---------------------------------------------- */

int
imap_conn_starttls(struct imap_conn *c, SSL_CTX *ssl, const char *text,
    const char **error_r)
{
	struct evbuffer		*in = bufferevent_get_input(c->bev);
	struct bufferevent	*tbev;

	/* CVE-2011-0411: nothing pipelined in clear may count as TLS input. */
	(void)evbuffer_drain(in, evbuffer_get_length(in));
	explicit_bzero(c->in->data, c->in->len);
	buf_reset(c->in);
	c->input_reset = true;
	imap_conn_write(c, text, strlen(text));
	if (tls_starttls_bufferevent(ssl, c->bev, &tbev,
	    error_r) == -1)
		return -1;
	c->bev = tbev;
	c->tls = true;
	c->tls_ready = false;
	imap_conn_setcb(c);
	return 0;
}

int
imap_conn_detach(struct imap_conn *c, struct buf *rest, int *fd_r,
    struct bufferevent **bev_r, const char **error_r)
{
	struct evbuffer	*in = bufferevent_get_input(c->bev);
	size_t		 n = evbuffer_get_length(in);
	int		 fd;

	*fd_r = -1;
	*bev_r = NULL;
	/* The command handled last was consumed: the rest came after it. */
	if (buf_append(rest, c->in->data, c->in->len) == -1) {
		*error_r = "too much input pipelined after the login";
		return -1;
	}
	buf_reset(c->in);
	if (n > 0 && buf_append(rest, evbuffer_pullup(in, (ssize_t)n),
	    n) == -1) {
		*error_r = "too much input pipelined after the login";
		return -1;
	}
	(void)evbuffer_drain(in, n);
	if (c->tls) {
		bufferevent_setcb(c->bev, NULL, NULL, NULL, NULL);
		(void)bufferevent_disable(c->bev, EV_READ);
		*bev_r = c->bev;
	} else {
		fd = dup(bufferevent_getfd(c->bev));
		if (fd == -1) {
			*error_r = error_fmt("dup: %s", strerror(errno));
			return -1;
		}
		*fd_r = fd;
		/* Replies already queued (none normally) are lost with it. */
		bufferevent_free(c->bev);
	}
	c->bev = NULL;
	return 0;
}
