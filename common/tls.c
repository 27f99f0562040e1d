/* SPDX-License-Identifier: ISC */
/*
 * TLS for postern's network daemons: building OpenSSL contexts from the
 * configured certificate, key and protocol floor, and wrapping sockets or
 * plain bufferevents in libevent's OpenSSL bufferevents.  The module keeps
 * no state of its own: contexts and connections are OpenSSL and libevent
 * objects whose ownership the header spells out.
 *
 * It trusts its callers for file names and settings (they come from
 * postern.conf, checked by conf.c) and nothing from the peer: everything
 * the peer negotiates is handled by OpenSSL, and what we report about it
 * (version, cipher, subject) is OpenSSL's own text or escaped.
 */
#include "config.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/error.h"
#include "common/log.h"
#include "common/str.h"
#include "common/tls.h"

#include "common/banned.h"

/* Room for one ERR_error_string_n() text; OpenSSL asks for 256. */
#define TLS_ERRSTR_MAX		256
/* Session id context: only needs to be constant for one program. */
#define TLS_SID_CONTEXT		"postern"

/*
 * Turns the OpenSSL error queue into "what: reason" and empties it.  The
 * earliest error is the root cause ("system library::No such file or
 * directory" before "PEM routines::..."), so it is the one we report.
 */
static const char *
tls_openssl_error(const char *what)
{
	char		 reason[TLS_ERRSTR_MAX];
	unsigned long	 e;

	e = ERR_get_error();
	ERR_clear_error();
	if (e == 0)
		return error_fmt("%s: unknown OpenSSL error", what);
	ERR_error_string_n(e, reason, sizeof(reason));
	return error_fmt("%s: %s", what, reason);
}

static int
tls_parse_min_protocol(const char *s, int *version_r, const char **error_r)
{
	if (s != NULL && str_eq_icase(s, "TLSv1.2"))
		*version_r = TLS1_2_VERSION;
	else if (s != NULL && str_eq_icase(s, "TLSv1.3"))
		*version_r = TLS1_3_VERSION;
	else {
		*error_r = error_fmt("tls_min_protocol \"%s\" is not TLSv1.2 "
		    "or TLSv1.3", s == NULL ? "" : log_safe(s));
		return -1;
	}
	return 0;
}

/*
 * Refuses to prompt for a passphrase: a daemon has no terminal, and
 * OpenSSL's default callback would block on /dev/tty.
 */
static int
tls_no_passphrase(char *buf ATTR_UNUSED, int size ATTR_UNUSED,
    int rwflag ATTR_UNUSED, void *arg ATTR_UNUSED)
{
	return -1;
}

/* What servers and clients share: protocol floor, options, modes. */
static SSL_CTX *
tls_ctx_new(const SSL_METHOD *method, const char *min_protocol,
    const char **error_r)
{
	SSL_CTX	*ctx;
	int	 version;

	ERR_clear_error();
	if (tls_parse_min_protocol(min_protocol, &version, error_r) == -1)
		return NULL;
	if ((ctx = SSL_CTX_new(method)) == NULL) {
		*error_r = tls_openssl_error("SSL_CTX_new");
		return NULL;
	}
	if (SSL_CTX_set_min_proto_version(ctx, version) != 1) {
		*error_r = tls_openssl_error("SSL_CTX_set_min_proto_version");
		SSL_CTX_free(ctx);
		return NULL;
	}
	/* Compression is off by default in OpenSSL 3; say so anyway (CRIME). */
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION |
	    SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_default_passwd_cb(ctx, tls_no_passphrase);
	return ctx;
}

static int
tls_ctx_set_ciphers(SSL_CTX *ctx, const char *ciphers,
    const char *ciphersuites, const char **error_r)
{
	if (ciphers != NULL && *ciphers != '\0' &&
	    SSL_CTX_set_cipher_list(ctx, ciphers) != 1) {
		*error_r = tls_openssl_error(error_fmt("tls_ciphers \"%s\"",
		    log_safe(ciphers)));
		return -1;
	}
	if (ciphersuites != NULL && *ciphersuites != '\0' &&
	    SSL_CTX_set_ciphersuites(ctx, ciphersuites) != 1) {
		*error_r = tls_openssl_error(error_fmt(
		    "tls_ciphersuites \"%s\"", log_safe(ciphersuites)));
		return -1;
	}
	return 0;
}

/*
 * Reads the key ourselves rather than with SSL_CTX_use_PrivateKey_file(),
 * so that "cannot read the key" and "the key is not the certificate's"
 * give two different messages.
 */
static int
tls_ctx_load_key(SSL_CTX *ctx, const char *cert_file, const char *key_file,
    const char **error_r)
{
	BIO		*bio;
	EVP_PKEY	*pkey;
	X509		*cert;

	if ((bio = BIO_new_file(key_file, "r")) == NULL) {
		*error_r = tls_openssl_error(error_fmt("tls_key_file %s",
		    key_file));
		return -1;
	}
	pkey = PEM_read_bio_PrivateKey(bio, NULL, tls_no_passphrase, NULL);
	BIO_free(bio);
	if (pkey == NULL) {
		*error_r = tls_openssl_error(error_fmt("tls_key_file %s: "
		    "no usable private key", key_file));
		return -1;
	}
	if ((cert = SSL_CTX_get0_certificate(ctx)) == NULL)
		log_panic("tls: key loaded before certificate");
	if (X509_check_private_key(cert, pkey) != 1) {
		EVP_PKEY_free(pkey);
		*error_r = tls_openssl_error(error_fmt("tls_key_file %s does "
		    "not match the certificate in %s", key_file, cert_file));
		return -1;
	}
	if (SSL_CTX_use_PrivateKey(ctx, pkey) != 1) {
		EVP_PKEY_free(pkey);
		*error_r = tls_openssl_error(error_fmt("tls_key_file %s",
		    key_file));
		return -1;
	}
	EVP_PKEY_free(pkey);		/* the context holds its reference */
	if (SSL_CTX_check_private_key(ctx) != 1) {
		*error_r = tls_openssl_error(error_fmt("tls_key_file %s does "
		    "not match the certificate in %s", key_file, cert_file));
		return -1;
	}
	return 0;
}

SSL_CTX *
tls_server_new(const char *cert_file, const char *key_file,
    const char *min_protocol, const char *ciphers, const char *ciphersuites,
    const char **error_r)
{
	SSL_CTX	*ctx;

	if (cert_file == NULL || *cert_file == '\0') {
		*error_r = "tls_cert_file is not set";
		return NULL;
	}
	if (key_file == NULL || *key_file == '\0') {
		*error_r = "tls_key_file is not set";
		return NULL;
	}
	if ((ctx = tls_ctx_new(TLS_server_method(), min_protocol,
	    error_r)) == NULL)
		return NULL;
	SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
	/* DHE for TLS 1.2 clients without ECDHE, sized to the certificate. */
	SSL_CTX_set_dh_auto(ctx, 1);
	if (SSL_CTX_set_session_id_context(ctx,
	    (const unsigned char *)TLS_SID_CONTEXT,
	    sizeof(TLS_SID_CONTEXT) - 1) != 1) {
		*error_r = tls_openssl_error("SSL_CTX_set_session_id_context");
		goto fail;
	}
	if (tls_ctx_set_ciphers(ctx, ciphers, ciphersuites, error_r) == -1)
		goto fail;
	if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
		*error_r = tls_openssl_error(error_fmt("tls_cert_file %s",
		    cert_file));
		goto fail;
	}
	if (tls_ctx_load_key(ctx, cert_file, key_file, error_r) == -1)
		goto fail;
	ERR_clear_error();
	return ctx;
fail:
	SSL_CTX_free(ctx);
	ERR_clear_error();
	return NULL;
}

SSL_CTX *
tls_client_new(const char *ca_file, const char *min_protocol,
    const char **error_r)
{
	SSL_CTX	*ctx;
	int	 r;

	if ((ctx = tls_ctx_new(TLS_client_method(), min_protocol,
	    error_r)) == NULL)
		return NULL;
	if (ca_file == NULL)
		r = SSL_CTX_set_default_verify_paths(ctx);
	else
		r = SSL_CTX_load_verify_locations(ctx, ca_file, NULL);
	if (r != 1) {
		*error_r = tls_openssl_error(ca_file == NULL ?
		    "system CA store" : error_fmt("CA file %s", ca_file));
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	ERR_clear_error();
	return ctx;
}

void
tls_ctx_free(SSL_CTX **ctxp)
{
	if (*ctxp == NULL)
		return;
	SSL_CTX_free(*ctxp);
	*ctxp = NULL;
}

static SSL *
tls_ssl_new(SSL_CTX *ctx, const char **error_r)
{
	SSL	*ssl;

	ERR_clear_error();
	if ((ssl = SSL_new(ctx)) == NULL)
		*error_r = tls_openssl_error("SSL_new");
	return ssl;
}

/* Client-side per-connection settings: SNI, name check, verify mode. */
static int
tls_ssl_client_setup(SSL *ssl, const char *servername, enum tls_verify verify,
    const char **error_r)
{
	if (servername != NULL) {
		if (SSL_set_tlsext_host_name(ssl, servername) != 1) {
			*error_r = tls_openssl_error(error_fmt("SNI name "
			    "\"%s\"", log_safe(servername)));
			return -1;
		}
		if (verify == TLS_VERIFY_PEER &&
		    SSL_set1_host(ssl, servername) != 1) {
			*error_r = tls_openssl_error(error_fmt("peer name "
			    "\"%s\"", log_safe(servername)));
			return -1;
		}
	}
	SSL_set_verify(ssl, verify == TLS_VERIFY_PEER ? SSL_VERIFY_PEER :
	    SSL_VERIFY_NONE, NULL);
	return 0;
}

/*
 * The plain bufferevent must have nothing left to read (CVE-2011-0411):
 * whatever is there was sent in cleartext before the handshake.
 */
static int
tls_plain_check(struct bufferevent *plain, const char **error_r)
{
	size_t	 left;

	left = evbuffer_get_length(bufferevent_get_input(plain));
	if (left != 0) {
		*error_r = error_fmt("STARTTLS with %zu bytes of cleartext "
		    "input not discarded", left);
		return -1;
	}
	return 0;
}

/*
 * The libevent constructors fail only when out of memory (we never pass
 * both an fd and an underlying bufferevent), and what then owns the SSL
 * differs between libevent releases; so it exits like every other
 * out-of-memory case (STYLE R9).
 */
static struct bufferevent *
tls_bev_new(struct event_base *base, int fd, struct bufferevent *plain,
    SSL *ssl, enum bufferevent_ssl_state state)
{
	struct bufferevent	*bev;

	if (plain != NULL)
		bev = bufferevent_openssl_filter_new(base, plain, ssl, state,
		    BEV_OPT_CLOSE_ON_FREE);
	else
		bev = bufferevent_openssl_socket_new(base, fd, ssl, state,
		    BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL)
		log_fatal("tls: out of memory creating a TLS bufferevent");
	/*
	 * Many SMTP and IMAP clients close without close_notify; report
	 * that as EOF, not as an error.  Truncation cannot hurt us: every
	 * protocol here has its own end marker (QUIT, ".", LOGOUT).
	 */
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

int
tls_accept_bufferevent(struct event_base *base, SSL_CTX *ctx, int fd,
    struct bufferevent **bev_r, const char **error_r)
{
	SSL	*ssl;

	if (fd < 0) {
		*error_r = "tls_accept_bufferevent: no socket";
		return -1;
	}
	if ((ssl = tls_ssl_new(ctx, error_r)) == NULL)
		return -1;
	*bev_r = tls_bev_new(base, fd, NULL, ssl, BUFFEREVENT_SSL_ACCEPTING);
	return 0;
}

int
tls_starttls_bufferevent(SSL_CTX *ctx, struct bufferevent *plain,
    struct bufferevent **bev_r, const char **error_r)
{
	SSL	*ssl;

	if (tls_plain_check(plain, error_r) == -1)
		return -1;
	if ((ssl = tls_ssl_new(ctx, error_r)) == NULL)
		return -1;
	*bev_r = tls_bev_new(bufferevent_get_base(plain), -1, plain, ssl,
	    BUFFEREVENT_SSL_ACCEPTING);
	return 0;
}

int
tls_connect_bufferevent(struct event_base *base, SSL_CTX *ctx, int fd,
    const char *servername, enum tls_verify verify,
    struct bufferevent **bev_r, const char **error_r)
{
	SSL	*ssl;

	if (fd < 0) {
		*error_r = "tls_connect_bufferevent: no socket";
		return -1;
	}
	if ((ssl = tls_ssl_new(ctx, error_r)) == NULL)
		return -1;
	if (tls_ssl_client_setup(ssl, servername, verify, error_r) == -1) {
		SSL_free(ssl);
		return -1;
	}
	*bev_r = tls_bev_new(base, fd, NULL, ssl, BUFFEREVENT_SSL_CONNECTING);
	return 0;
}

int
tls_connect_starttls_bufferevent(SSL_CTX *ctx, struct bufferevent *plain,
    const char *servername, enum tls_verify verify,
    struct bufferevent **bev_r, const char **error_r)
{
	SSL	*ssl;

	if (tls_plain_check(plain, error_r) == -1)
		return -1;
	if ((ssl = tls_ssl_new(ctx, error_r)) == NULL)
		return -1;
	if (tls_ssl_client_setup(ssl, servername, verify, error_r) == -1) {
		SSL_free(ssl);
		return -1;
	}
	*bev_r = tls_bev_new(bufferevent_get_base(plain), -1, plain, ssl,
	    BUFFEREVENT_SSL_CONNECTING);
	return 0;
}

SSL *
tls_bufferevent_ssl(struct bufferevent *bev)
{
	return bufferevent_openssl_get_ssl(bev);
}

const char *
tls_bufferevent_error(struct bufferevent *bev)
{
	char		 reason[TLS_ERRSTR_MAX];
	unsigned long	 e;

	/* The bufferevent keeps the errors it saw; the first is the cause. */
	e = bufferevent_get_openssl_error(bev);
	while (bufferevent_get_openssl_error(bev) != 0)
		continue;
	if (e == 0)
		e = ERR_get_error();
	ERR_clear_error();
	if (e == 0)
		return "connection closed or failed without a TLS error";
	ERR_error_string_n(e, reason, sizeof(reason));
	return error_fmt("%s", reason);
}

int
tls_info(const SSL *ssl, const char **version_r, const char **cipher_r,
    int *bits_r, int *alg_bits_r)
{
	const SSL_CIPHER	*cipher;
	int			 bits, alg_bits;

	if (ssl == NULL || !SSL_is_init_finished(ssl) ||
	    (cipher = SSL_get_current_cipher(ssl)) == NULL)
		return -1;
	bits = SSL_CIPHER_get_bits(cipher, &alg_bits);
	if (version_r != NULL)
		*version_r = SSL_get_version(ssl);
	if (cipher_r != NULL)
		*cipher_r = SSL_CIPHER_get_name(cipher);
	if (bits_r != NULL)
		*bits_r = bits;
	if (alg_bits_r != NULL)
		*alg_bits_r = alg_bits;
	return 0;
}

int
tls_info_format(const SSL *ssl, char *dst, size_t size)
{
	const char	*version, *cipher;
	int		 bits, alg_bits, n;

	if (size == 0)
		return -1;
	dst[0] = '\0';
	if (tls_info(ssl, &version, &cipher, &bits, &alg_bits) == -1)
		return -1;
	n = snprintf(dst, size, "%s with cipher %s (%d/%d bits)", version,
	    cipher, bits, alg_bits);
	if (n < 0 || (size_t)n >= size) {
		dst[0] = '\0';
		return -1;
	}
	return 0;
}

int
tls_peer_cert_subject(const SSL *ssl, char *dst, size_t size)
{
	X509	*cert;
	BIO	*bio;
	int	 len;

	if (size == 0)
		return 0;
	dst[0] = '\0';
	if (ssl == NULL || (cert = SSL_get0_peer_certificate(ssl)) == NULL)
		return 0;
	if ((bio = BIO_new(BIO_s_mem())) == NULL)
		log_fatal("tls: out of memory");
	/*
	 * RFC 2253 with every control and non-ASCII byte escaped, so the
	 * peer cannot put a newline into our logs (STYLE R11).
	 */
	if (X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0,
	    XN_FLAG_RFC2253) < 0) {
		BIO_free(bio);
		ERR_clear_error();
		return 1;
	}
	len = BIO_read(bio, dst, (int)(size > INT_MAX ? INT_MAX : size - 1));
	dst[len > 0 ? (size_t)len : 0] = '\0';
	BIO_free(bio);
	return 1;
}
