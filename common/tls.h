/* SPDX-License-Identifier: ISC */
/*
 * TLS contexts and connections on top of OpenSSL 3 and libevent's OpenSSL
 * bufferevents: server contexts for smtpd (STARTTLS on 25/587, implicit TLS
 * on 465), imap-login and pop3-login; client contexts for the transfer
 * agent; wrapping an accepted socket (implicit TLS) or upgrading a plain
 * bufferevent (STARTTLS); and the version/cipher summary that goes into
 * Received headers and logs.
 *
 * Contexts are plain OpenSSL SSL_CTX objects, built once per process in
 * pre_jail (STYLE R28: the private key is read before chroot and privilege
 * drop, by the process that terminates TLS, and never leaves it) and freed
 * with tls_ctx_free().  Every connection function returns a bufferevent
 * that owns its SSL object and its socket (or the plain bufferevent under
 * it): one bufferevent_free() releases all of it.
 *
 * Error texts (*error_r) come from the OpenSSL error queue and may name
 * files; they are for the log only and never go to a client (STYLE R13).
 * The functions leave the OpenSSL error queue of the thread empty.
 *
 * Timeouts are the caller's: set bufferevent_set_timeouts() on the returned
 * bufferevent before enabling it.  The read timeout covers the handshake as
 * well (a peer that connects and never completes the handshake gets
 * BEV_EVENT_TIMEOUT | BEV_EVENT_READING on the event callback), so a daemon
 * sets its handshake/idle timeout right after the call.
 */
#ifndef POSTERN_TLS_H
#define POSTERN_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#include "compat.h"

/* Longest text tls_info_format() writes, NUL included. */
#define TLS_INFO_MAX		128
/* Longest subject tls_peer_cert_subject() writes, NUL included. */
#define TLS_SUBJECT_MAX		256

/* Whether a client connection checks the server's certificate. */
enum tls_verify {
	TLS_VERIFY_NONE,	/* opportunistic: any certificate (SMTP MX default) */
	TLS_VERIFY_PEER,	/* chain to a trusted CA and, if a name is
				   given, the name: else the handshake fails */
};

/*
 * Builds a server context from a PEM certificate chain (leaf first) and its
 * PEM private key.  min_protocol is "TLSv1.2" or "TLSv1.3" (case does not
 * matter); anything else is an error.  ciphers (TLS 1.2 cipher list) and
 * ciphersuites (TLS 1.3 suites) may be NULL or "" for OpenSSL's defaults;
 * a list OpenSSL rejects is an error.
 *
 * Checks that the key matches the certificate.  An encrypted key is an
 * error: the daemon has no terminal to ask a passphrase on.
 *
 * Options: no compression (CRIME), no renegotiation at all
 * (SSL_OP_NO_RENEGOTIATION: client-initiated renegotiation is a cheap
 * CPU DoS and nobody needs it for SMTP/IMAP/POP3), server cipher
 * preference, SSL_MODE_RELEASE_BUFFERS (an idle IMAP IDLE connection then
 * keeps no 34 KiB read/write buffers).  Session resumption is left as
 * OpenSSL does it by default: the server session cache and stateless
 * session tickets, with a ticket key that OpenSSL makes at random per
 * context; so a ticket is only good with the same worker process, and is
 * useless after a restart or reload (no key to steal from disk).
 *
 * Call in pre_jail.  Returns the context (free with tls_ctx_free()), or
 * NULL with *error_r set (file names and OpenSSL's reason; log only).
 */
SSL_CTX	*tls_server_new(const char *cert_file, const char *key_file,
	    const char *min_protocol, const char *ciphers,
	    const char *ciphersuites, const char **error_r) ATTR_WUR;

/*
 * Builds a client context (for the transfer agent).  ca_file is a PEM
 * bundle of trusted CAs, or NULL for the system's default store (which
 * must be loaded before chroot: call in pre_jail).  min_protocol as for
 * tls_server_new().  Whether a connection checks the certificate is
 * chosen per connection (tls_connect_bufferevent()).  Returns the context
 * or NULL with *error_r set.
 */
SSL_CTX	*tls_client_new(const char *ca_file, const char *min_protocol,
	    const char **error_r) ATTR_WUR;

/* Frees a context (NULL is fine) and sets *ctxp to NULL.  Connections made
   from it keep their own reference and stay usable. */
void	tls_ctx_free(SSL_CTX **ctxp);

/*
 * Implicit TLS (port 465, 993, 995): wraps a freshly accepted, non-blocking
 * socket fd in a server-side OpenSSL bufferevent that starts the handshake
 * as soon as the client speaks.  On success *bev_r owns fd and the SSL
 * object (BEV_OPT_CLOSE_ON_FREE); the caller sets callbacks and timeouts
 * and enables EV_READ (BEV_EVENT_CONNECTED reports the finished
 * handshake; BEV_EVENT_ERROR a failed one, see tls_bufferevent_error()).
 * Returns 0, or -1 with *error_r set; on -1 fd is still the caller's.
 *
 * A daemon that already made a plain bufferevent for the socket and read
 * nothing from it may use tls_starttls_bufferevent() instead.
 */
int	tls_accept_bufferevent(struct event_base *base, SSL_CTX *ctx, int fd,
	    struct bufferevent **bev_r, const char **error_r) ATTR_WUR;

/*
 * STARTTLS, server side: puts a TLS filter on top of an existing plain
 * bufferevent (bufferevent_openssl_filter_new()).
 *
 * What the caller must do, in this order (CVE-2011-0411, command
 * injection: bytes a client pipelined after STARTTLS in cleartext must
 * never be read as if they had come over TLS):
 *   1. parse the STARTTLS command line, then drain (discard) EVERYTHING
 *      still in the plain bufferevent's input buffer -- with
 *      evbuffer_drain(in, evbuffer_get_length(in)) -- and forget any
 *      parsed-but-unprocessed pipelined commands;
 *   2. add the "220 2.0.0 Ready to start TLS" (or IMAP "OK Begin TLS")
 *      reply to the plain bufferevent's output: it is still sent in
 *      cleartext, before any TLS byte;
 *   3. call this function, then set callbacks, timeouts and enable EV_READ
 *      on the new bufferevent; from now on use only that one;
 *   4. after BEV_EVENT_CONNECTED, reset the protocol state as the RFC says
 *      (SMTP: forget EHLO, require it again; RFC 3207 4.2).
 * This function enforces step 1: if the plain input buffer is not empty it
 * refuses (returns -1) and changes nothing; the caller then drops the
 * connection.
 *
 * On success *bev_r owns the plain bufferevent (BEV_OPT_CLOSE_ON_FREE:
 * freeing *bev_r frees it and its socket); the caller must not use or free
 * the plain bufferevent any more and must not change its callbacks.
 * Returns 0, or -1 with *error_r set and plain untouched (still the
 * caller's).
 */
int	tls_starttls_bufferevent(SSL_CTX *ctx, struct bufferevent *plain,
	    struct bufferevent **bev_r, const char **error_r) ATTR_WUR;

/*
 * Client side, for the transfer agent: wraps a connected (or connecting),
 * non-blocking socket fd, resp. a plain bufferevent after the server's
 * "220" answer to STARTTLS (with the same empty-input rule and ownership as
 * tls_starttls_bufferevent()).  servername, if not NULL, is sent as SNI
 * and, with TLS_VERIFY_PEER, must match the certificate; with
 * TLS_VERIFY_NONE any certificate is accepted and SSL_get_verify_result()
 * tells afterwards whether it would have verified (Postfix's
 * "Trusted"/"Untrusted" log words).  Returns 0, or -1 with *error_r set
 * (fd, resp. plain, still the caller's).
 */
int	tls_connect_bufferevent(struct event_base *base, SSL_CTX *ctx, int fd,
	    const char *servername, enum tls_verify verify,
	    struct bufferevent **bev_r, const char **error_r) ATTR_WUR;
int	tls_connect_starttls_bufferevent(SSL_CTX *ctx,
	    struct bufferevent *plain, const char *servername,
	    enum tls_verify verify, struct bufferevent **bev_r,
	    const char **error_r) ATTR_WUR;

/* The SSL object of a bufferevent made by this module, or NULL if bev is
   not an OpenSSL bufferevent.  The bufferevent keeps ownership. */
SSL	*tls_bufferevent_ssl(struct bufferevent *bev);

/*
 * Why a TLS bufferevent reported BEV_EVENT_ERROR or BEV_EVENT_EOF, for the
 * log: drains the bufferevent's OpenSSL errors (and the thread's queue)
 * into one line such as "error:0A000102:SSL routines::unsupported
 * protocol", or says "connection closed" / the socket errno text when
 * OpenSSL had nothing to say.  Never NULL; valid as an error_fmt() text.
 */
const char *tls_bufferevent_error(struct bufferevent *bev);

/*
 * The negotiated protocol and cipher of a connection whose handshake has
 * finished: *version_r as "TLSv1.3", *cipher_r as OpenSSL names it
 * ("TLS_AES_256_GCM_SHA384"), *bits_r the secret bits in use and
 * *alg_bits_r the algorithm's bits.  The strings are OpenSSL's constants
 * and stay valid for the life of the process.  Any output pointer may be
 * NULL.  Returns 0, or -1 if there is no established session (handshake
 * not done); the outputs are then untouched.
 */
int	tls_info(const SSL *ssl, const char **version_r, const char **cipher_r,
	    int *bits_r, int *alg_bits_r) ATTR_WUR;

/*
 * Writes the summary used in Received headers and logs, as Postfix does:
 * "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)" (the caller
 * adds "using " and parentheses).  dst of size bytes (TLS_INFO_MAX is
 * always enough).  Returns 0, or -1 if there is no established session or
 * the text did not fit (dst then holds "").
 */
int	tls_info_format(const SSL *ssl, char *dst, size_t size) ATTR_WUR;

/*
 * The subject of the peer's certificate as a one-line RFC 2253 string,
 * escaped so it is safe to log, into dst of size bytes (longer subjects are
 * cut).  Returns 1 if the peer sent a certificate, 0 if not (dst is "").
 */
int	tls_peer_cert_subject(const SSL *ssl, char *dst, size_t size);

#endif
