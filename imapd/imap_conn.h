/* SPDX-License-Identifier: ISC */
/*
 * One IMAP client connection as both IMAP processes drive it: imap-login
 * before authentication and imap after it (postern-imapd(8)).  It owns
 * the bufferevent (plain, TLS, or the socketpair imap-login proxies),
 * reads the client's bytes into one command at a time with imap_scan()
 * (so a command never holds more memory than its size plus one read),
 * answers "+" to synchronizing literals, streams APPEND's message literal
 * to the session instead of buffering it, answers BAD to broken input and
 * discards the rest of it, ends the session after too many BADs, and
 * closes only once the replies are out.  The session above it (the ops)
 * sees whole commands, lines (AUTHENTICATE answers, IDLE's DONE) and the
 * message literal.
 *
 * Flow: a handler may pause the connection (imap_conn_pause()) while it
 * waits for authd, the disk or for its output to drain; nothing more is
 * read as commands until imap_conn_resume().  Output above
 * IMAP_CONN_OUTPUT_HIGH pauses reading too; ops->drained runs when it is
 * under IMAP_CONN_OUTPUT_LOW again, so a long FETCH can produce its
 * output in steps.
 */
#ifndef POSTERN_IMAP_CONN_H
#define POSTERN_IMAP_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "common/buf.h"
#include "common/compat.h"
#include "common/tls.h"
#include "imap_parse.h"

struct bufferevent;
struct event_base;
struct imap_conn;

/* Output beyond which input waits, and under which drained() runs. */
#define IMAP_CONN_OUTPUT_HIGH	(1024 * 1024)
#define IMAP_CONN_OUTPUT_LOW	(256 * 1024)
/* Bytes moved from the socket to the command at a time. */
#define IMAP_CONN_CHUNK		(16 * 1024)

struct imap_conn_ops {
	/*
	 * A complete command, data[0..len) (literals inline), valid only
	 * during the call: a handler that waits copies what it needs.
	 */
	void	(*command)(void *ctx, const char *data, size_t len);
	/* Line mode: one line, its LF included. */
	void	(*line)(void *ctx, const char *data, size_t len);
	/*
	 * APPEND's message literal was announced: data[0..len) is the
	 * command so far (len = st->lit_start).  Return 1 to take it (the
	 * connection answers "+" for a synchronizing one and passes its
	 * bytes to literal_data, then calls literal_end), 0 when refused
	 * (the handler has answered NO or BAD; the bytes are discarded).
	 * NULL: refused with BAD.
	 */
	int	(*literal)(void *ctx, const struct imap_scan *st,
		    const char *data, size_t len);
	void	(*literal_data)(void *ctx, const char *data, size_t len);
	/* The whole literal was passed; the command goes on after it. */
	void	(*literal_end)(void *ctx);
	/*
	 * The command being scanned was broken and is being discarded
	 * (after literal() took a literal of it, the session forgets it).
	 * Optional.
	 */
	void	(*aborted)(void *ctx);
	/* Output went under IMAP_CONN_OUTPUT_LOW.  Optional. */
	void	(*drained)(void *ctx);
	/* Idle timeout: the session says BYE and closes.  Optional. */
	void	(*timeout)(void *ctx);
	/*
	 * The connection is finished (closed by the session and flushed,
	 * or lost: reason says which).  The session frees itself and the
	 * connection (imap_conn_free()) here.
	 */
	void	(*closed)(void *ctx, const char *reason);
};

struct imap_conn {
	struct event_base	*base;
	struct bufferevent	*bev;
	const struct imap_conn_ops *ops;
	void			*ctx;
	struct imap_limits	 lim;		/* the session may change it */
	unsigned int		 max_bad;
	unsigned int		 bad;		/* BAD replies so far */
	unsigned int		 timeout;	/* idle seconds */
	char			 addr[64];	/* client IP */
	bool			 tls;		/* TLS on this connection */
	bool			 tls_ready;
	bool			 secured;	/* TLS here or before handover */
	char			 tls_info[TLS_INFO_MAX];
	/* private */
	struct buf		*in;		/* the command being read */
	struct imap_scan	 scan;
	bool			 line_mode;
	bool			 skipping;	/* discarding a broken command */
	bool			 paused;
	bool			 closing;
	bool			 tls_closed;
	bool			 output_full;
	bool			 input_reset;	/* STARTTLS dropped the input */
	uint64_t		 lit_left;	/* streaming APPEND's literal */
	bool			 lit_active;
	struct event		*resume_ev;
	struct event		*close_ev;
	unsigned int		 close_polls;
};

/*
 * Sets c up on bev (which it owns from now on, freed with it): callbacks,
 * limits lim, max_bad, idle timeout seconds, client address addr.
 * Reading starts at once.
 */
void	imap_conn_init(struct imap_conn *c, struct event_base *base,
	    struct bufferevent *bev, bool tls, const struct imap_limits *lim,
	    unsigned int max_bad, unsigned int timeout, const char *addr,
	    const struct imap_conn_ops *ops, void *ctx);
/* Frees the bufferevent and everything of c (not c itself). */
void	imap_conn_free(struct imap_conn *c);

/* Feeds bytes that arrived before c existed (a handover) as input. */
int	imap_conn_prepend_input(struct imap_conn *c, const void *data,
	    size_t len) ATTR_WUR;

void	imap_conn_write(struct imap_conn *c, const void *data, size_t len);
void	imap_conn_printf(struct imap_conn *c, const char *fmt, ...)
	    ATTR_PRINTF(2, 3);
/* "TAG STATUS text\r\n" for the command being handled. */
void	imap_conn_tagged(struct imap_conn *c, const char *tag,
	    const char *status, const char *fmt, ...) ATTR_PRINTF(4, 5);
/* Bytes of output not yet sent. */
size_t	imap_conn_output_len(const struct imap_conn *c);

/* Counts a BAD reply; false (and BYE + close) past max_bad. */
bool	imap_conn_count_bad(struct imap_conn *c);

void	imap_conn_pause(struct imap_conn *c);
/* Goes on reading (from the event loop, never inside this call). */
void	imap_conn_resume(struct imap_conn *c);
/* Line mode on (AUTHENTICATE, IDLE) or off; takes effect at once. */
void	imap_conn_set_line_mode(struct imap_conn *c, bool on);
void	imap_conn_set_timeout(struct imap_conn *c, unsigned int seconds);

/*
 * Nothing more is read; the connection closes once the output is sent
 * (then ops->closed runs).  Safe to call from any callback.
 */
void	imap_conn_close(struct imap_conn *c);

/*
 * STARTTLS (server side): discards every byte the client sent after the
 * STARTTLS command, queues text in clear, and puts TLS on.  Returns 0,
 * or -1 (logged; the caller closes).
 */
int	imap_conn_starttls(struct imap_conn *c, SSL_CTX *ssl,
	    const char *text, const char **error_r) ATTR_WUR;

/*
 * Takes the connection apart for a handover, after the login command's
 * handler has returned (from the authd callback): the unread input (pipelined commands) is appended to rest,
 * and either *fd_r gets a duplicate of the plain socket (the bufferevent
 * is freed; *bev_r NULL) or, with TLS, *bev_r gets the TLS bufferevent
 * (callbacks cleared, reading off; *fd_r -1).  c is then empty: call
 * imap_conn_free() on it as usual.  Returns 0 or -1 (*error_r).
 */
int	imap_conn_detach(struct imap_conn *c, struct buf *rest, int *fd_r,
	    struct bufferevent **bev_r, const char **error_r) ATTR_WUR;

#endif
