/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for common/tls.c.  main() makes a self-signed EC certificate,
 * its key, a second unrelated key, an encrypted key and a garbage file in a
 * temporary folder; the tests then build contexts from them (good files,
 * mismatched key, missing files, bad settings) and run real handshakes over
 * socketpairs inside one event_base: implicit TLS, STARTTLS after a
 * cleartext exchange, the refusal to upgrade with cleartext input left, a
 * protocol floor the client cannot meet, a certificate check by name, and
 * the handshake timeout that is the caller's job.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/time.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/util.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/tls.h"

#include "common/banned.h"

#define TEST_NAME	"postern.test"
#define TEST_PASS	"secret"
#define RUN_TIMEOUT_S	5

static char	tmpdir[] = "/tmp/test_tls.XXXXXX";
static char	cert_path[256], key_path[256], other_key_path[256];
static char	enc_key_path[256], garbage_path[256], missing_path[256];

/* ---- fixtures ----------------------------------------------------------- */

static void
write_file(const char *path, EVP_PKEY *key, X509 *cert, bool encrypt)
{
	FILE	*f;
	int	 ok;

	if ((f = fopen(path, "w")) == NULL)
		abort();
	if (cert != NULL)
		ok = PEM_write_X509(f, cert);
	else if (encrypt)
		ok = PEM_write_PrivateKey(f, key, EVP_aes_128_cbc(),
		    (unsigned char *)TEST_PASS, (int)strlen(TEST_PASS), NULL,
		    NULL);
	else
		ok = PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
	if (ok != 1 || fclose(f) != 0)
		abort();
}

static void
make_fixtures(void)
{
	EVP_PKEY	*key, *other;
	X509		*x;
	X509_NAME	*name;
	X509_EXTENSION	*ext;
	X509V3_CTX	 v3;
	FILE		*f;

	if (mkdtemp(tmpdir) == NULL)
		abort();
	snprintf(cert_path, sizeof(cert_path), "%s/cert.pem", tmpdir);
	snprintf(key_path, sizeof(key_path), "%s/key.pem", tmpdir);
	snprintf(other_key_path, sizeof(other_key_path), "%s/other.pem",
	    tmpdir);
	snprintf(enc_key_path, sizeof(enc_key_path), "%s/enc.pem", tmpdir);
	snprintf(garbage_path, sizeof(garbage_path), "%s/garbage.pem", tmpdir);
	snprintf(missing_path, sizeof(missing_path), "%s/missing.pem", tmpdir);

	/* EC keys: RSA key generation would dominate the test's runtime. */
	key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	other = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (key == NULL || other == NULL || (x = X509_new()) == NULL)
		abort();
	X509_set_version(x, X509_VERSION_3);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, key);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	    (const unsigned char *)TEST_NAME, -1, -1, 0);
	X509_set_issuer_name(x, name);
	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name,
	    "DNS:" TEST_NAME);
	if (ext == NULL || X509_add_ext(x, ext, -1) != 1)
		abort();
	X509_EXTENSION_free(ext);
	if (X509_sign(x, key, EVP_sha256()) == 0)
		abort();

	write_file(cert_path, NULL, x, false);
	write_file(key_path, key, NULL, false);
	write_file(other_key_path, other, NULL, false);
	write_file(enc_key_path, key, NULL, true);
	if ((f = fopen(garbage_path, "w")) == NULL)
		abort();
	fputs("-----BEGIN PRIVATE KEY-----\nnot base64 at all!\n"
	    "-----END PRIVATE KEY-----\n", f);
	fclose(f);

	X509_free(x);
	EVP_PKEY_free(key);
	EVP_PKEY_free(other);
}

static void
remove_fixtures(void)
{
	unlink(cert_path);
	unlink(key_path);
	unlink(other_key_path);
	unlink(enc_key_path);
	unlink(garbage_path);
	rmdir(tmpdir);
}

static SSL_CTX *
server_ctx(const char *min_protocol)
{
	SSL_CTX		*ctx;
	const char	*error = NULL;

	ctx = tls_server_new(cert_path, key_path, min_protocol, NULL, NULL,
	    &error);
	ck_assert_msg(ctx != NULL, "tls_server_new: %s", error);
	return ctx;
}

static SSL_CTX *
client_ctx(const char *ca_file, const char *min_protocol)
{
	SSL_CTX		*ctx;
	const char	*error = NULL;

	ctx = tls_client_new(ca_file, min_protocol, &error);
	ck_assert_msg(ctx != NULL, "tls_client_new: %s", error);
	return ctx;
}

/* ---- a two-sided event harness ----------------------------------------- */

struct duo;

struct side {
	struct duo		*d;
	struct bufferevent	*bev;
	char			 got[512];
	size_t			 gotlen;
	const char		*expect;	/* done once got holds it */
	bool			 done;
	bool			 connected, eof, error, timeout;
};

struct duo {
	struct event_base	*base;
	struct side		 s, c;		/* server, client */
	bool			 stop_on_failure;
};

static void
duo_check(struct duo *d)
{
	bool	failed;

	failed = d->s.eof || d->s.error || d->s.timeout ||
	    d->c.eof || d->c.error || d->c.timeout;
	if ((failed && d->stop_on_failure) ||
	    ((d->s.expect == NULL || d->s.done) &&
	    (d->c.expect == NULL || d->c.done) &&
	    (d->s.expect != NULL || d->c.expect != NULL)))
		event_base_loopbreak(d->base);
}

static void
side_read(struct bufferevent *bev, void *arg)
{
	struct side	*sd = arg;
	struct evbuffer	*in = bufferevent_get_input(bev);
	size_t		 room = sizeof(sd->got) - 1 - sd->gotlen;
	int		 n;

	n = evbuffer_remove(in, sd->got + sd->gotlen, room);
	ck_assert_int_ge(n, 0);
	sd->gotlen += (size_t)n;
	sd->got[sd->gotlen] = '\0';
	/* Whatever did not fit is dropped: a test never sends that much. */
	evbuffer_drain(in, evbuffer_get_length(in));
	if (sd->expect != NULL && strstr(sd->got, sd->expect) != NULL)
		sd->done = true;
	duo_check(sd->d);
}

static void
side_event(struct bufferevent *bev ATTR_UNUSED, short what, void *arg)
{
	struct side	*sd = arg;

	if (what & BEV_EVENT_CONNECTED)
		sd->connected = true;
	if (what & BEV_EVENT_EOF)
		sd->eof = true;
	if (what & BEV_EVENT_ERROR)
		sd->error = true;
	if (what & BEV_EVENT_TIMEOUT)
		sd->timeout = true;
	duo_check(sd->d);
}

static void
duo_timeout(evutil_socket_t fd ATTR_UNUSED, short what ATTR_UNUSED,
    void *arg)
{
	event_base_loopbreak(arg);
}

static void
duo_init(struct duo *d)
{
	memset(d, 0, sizeof(*d));
	d->base = event_base_new();
	ck_assert_ptr_nonnull(d->base);
	d->s.d = d;
	d->c.d = d;
	d->stop_on_failure = true;
}

static void
side_attach(struct side *sd, struct bufferevent *bev)
{
	sd->bev = bev;
	sd->gotlen = 0;
	sd->got[0] = '\0';
	sd->done = false;
	bufferevent_setcb(bev, side_read, NULL, side_event, sd);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

static void
side_expect(struct side *sd, const char *line)
{
	sd->expect = line;
	sd->done = sd->expect != NULL && strstr(sd->got, line) != NULL;
}

/* Runs the loop until both expectations are met, a failure, or 5 s. */
static void
duo_run(struct duo *d)
{
	struct event	*t;
	struct timeval	 tv = { RUN_TIMEOUT_S, 0 };

	t = evtimer_new(d->base, duo_timeout, d->base);
	evtimer_add(t, &tv);
	event_base_dispatch(d->base);
	event_free(t);
}

static void
duo_free(struct duo *d)
{
	if (d->s.bev != NULL)
		bufferevent_free(d->s.bev);
	if (d->c.bev != NULL)
		bufferevent_free(d->c.bev);
	event_base_free(d->base);
}

static void
make_pair(int sv[2])
{
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ck_assert_int_eq(evutil_make_socket_nonblocking(sv[0]), 0);
	ck_assert_int_eq(evutil_make_socket_nonblocking(sv[1]), 0);
}

/* Both sides say one line and wait for the other's. */
static void
exchange_lines(struct duo *d)
{
	side_expect(&d->s, "hello from client\r\n");
	side_expect(&d->c, "hello from server\r\n");
	ck_assert_int_eq(bufferevent_write(d->c.bev, "hello from client\r\n",
	    19), 0);
	ck_assert_int_eq(bufferevent_write(d->s.bev, "hello from server\r\n",
	    19), 0);
	duo_run(d);
	ck_assert_msg(d->s.done && d->c.done, "server got \"%s\", client got "
	    "\"%s\" (server error %d eof %d, client error %d eof %d)",
	    d->s.got, d->c.got, d->s.error, d->s.eof, d->c.error, d->c.eof);
	ck_assert(d->s.connected);
	ck_assert(d->c.connected);
}

static void
check_tls13(struct bufferevent *bev)
{
	SSL		*ssl;
	const char	*version = NULL, *cipher = NULL;
	int		 bits = 0, alg_bits = 0;
	char		 info[TLS_INFO_MAX];
	char		 want[TLS_INFO_MAX];

	ssl = tls_bufferevent_ssl(bev);
	ck_assert_ptr_nonnull(ssl);
	ck_assert_int_eq(tls_info(ssl, &version, &cipher, &bits, &alg_bits),
	    0);
	ck_assert_str_eq(version, "TLSv1.3");
	ck_assert_str_eq(cipher, "TLS_AES_256_GCM_SHA384");
	ck_assert_int_eq(bits, 256);
	ck_assert_int_eq(alg_bits, 256);
	ck_assert_int_eq(tls_info(ssl, NULL, NULL, NULL, NULL), 0);
	ck_assert_int_eq(tls_info_format(ssl, info, sizeof(info)), 0);
	ck_assert_str_eq(info,
	    "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)");
	/* Exactly fitting, and one byte short. */
	ck_assert_int_eq(tls_info_format(ssl, want, strlen(info) + 1), 0);
	ck_assert_str_eq(want, info);
	ck_assert_int_eq(tls_info_format(ssl, want, strlen(info)), -1);
	ck_assert_str_eq(want, "");
	ck_assert_int_eq(tls_info_format(ssl, want, 0), -1);
}

/* ---- contexts ---------------------------------------------------------- */

START_TEST(test_tls_server_new_ok)
{
	SSL_CTX		*ctx;
	const char	*error = NULL;

	ctx = server_ctx("TLSv1.2");
	ck_assert_int_eq(SSL_CTX_get_min_proto_version(ctx), TLS1_2_VERSION);
	ck_assert(SSL_CTX_get_options(ctx) & SSL_OP_NO_RENEGOTIATION);
	ck_assert(SSL_CTX_get_options(ctx) & SSL_OP_NO_COMPRESSION);
	ck_assert(SSL_CTX_get_options(ctx) & SSL_OP_CIPHER_SERVER_PREFERENCE);
	tls_ctx_free(&ctx);
	ck_assert_ptr_null(ctx);
	tls_ctx_free(&ctx);		/* NULL is fine */

	ctx = tls_server_new(cert_path, key_path, "tlsv1.3",
	    "ECDHE-ECDSA-AES256-GCM-SHA384", "TLS_AES_256_GCM_SHA384", &error);
	ck_assert_msg(ctx != NULL, "%s", error);
	ck_assert_int_eq(SSL_CTX_get_min_proto_version(ctx), TLS1_3_VERSION);
	tls_ctx_free(&ctx);
	/* "" means OpenSSL's defaults. */
	ctx = tls_server_new(cert_path, key_path, "TLSv1.2", "", "", &error);
	ck_assert_msg(ctx != NULL, "%s", error);
	tls_ctx_free(&ctx);
}
END_TEST

START_TEST(test_tls_server_new_key_mismatch)
{
	const char	*error = NULL;

	ck_assert_ptr_null(tls_server_new(cert_path, other_key_path,
	    "TLSv1.2", NULL, NULL, &error));
	ck_assert_ptr_nonnull(error);
	ck_assert_msg(strstr(error, "does not match") != NULL, "%s", error);
	ck_assert_int_eq(ERR_peek_error(), 0);
}
END_TEST

START_TEST(test_tls_server_new_missing)
{
	const char	*error = NULL;

	ck_assert_ptr_null(tls_server_new(missing_path, key_path, "TLSv1.2",
	    NULL, NULL, &error));
	ck_assert_msg(strstr(error, "tls_cert_file") != NULL &&
	    strstr(error, "missing.pem") != NULL, "%s", error);
	error = NULL;
	ck_assert_ptr_null(tls_server_new(cert_path, missing_path, "TLSv1.2",
	    NULL, NULL, &error));
	ck_assert_msg(strstr(error, "tls_key_file") != NULL &&
	    strstr(error, "missing.pem") != NULL, "%s", error);
	error = NULL;
	ck_assert_ptr_null(tls_server_new("", key_path, "TLSv1.2", NULL, NULL,
	    &error));
	ck_assert_str_eq(error, "tls_cert_file is not set");
	ck_assert_ptr_null(tls_server_new(cert_path, NULL, "TLSv1.2", NULL,
	    NULL, &error));
	ck_assert_str_eq(error, "tls_key_file is not set");
	/* A key where the certificate should be, and the other way round. */
	error = NULL;
	ck_assert_ptr_null(tls_server_new(key_path, key_path, "TLSv1.2", NULL,
	    NULL, &error));
	ck_assert_ptr_nonnull(error);
	error = NULL;
	ck_assert_ptr_null(tls_server_new(cert_path, cert_path, "TLSv1.2",
	    NULL, NULL, &error));
	ck_assert_msg(strstr(error, "no usable private key") != NULL, "%s",
	    error);
	error = NULL;
	ck_assert_ptr_null(tls_server_new(cert_path, garbage_path, "TLSv1.2",
	    NULL, NULL, &error));
	ck_assert_ptr_nonnull(error);
	ck_assert_int_eq(ERR_peek_error(), 0);
}
END_TEST

START_TEST(test_tls_server_new_encrypted_key)
{
	const char	*error = NULL;

	/* Must fail at once, never prompt on a terminal. */
	ck_assert_ptr_null(tls_server_new(cert_path, enc_key_path, "TLSv1.2",
	    NULL, NULL, &error));
	ck_assert_msg(strstr(error, "no usable private key") != NULL, "%s",
	    error);
}
END_TEST

START_TEST(test_tls_server_new_bad_settings)
{
	static const char *const bad[] = {
		"TLSv1.1", "TLSv1", "SSLv3", "", "TLSv1.2 ", "TLSv1.4",
	};
	const char	*error;
	size_t		 i;

	for (i = 0; i < N_ELEMENTS(bad); i++) {
		error = NULL;
		ck_assert_ptr_null(tls_server_new(cert_path, key_path, bad[i],
		    NULL, NULL, &error));
		ck_assert_msg(error != NULL &&
		    strstr(error, "tls_min_protocol") != NULL, "%s", bad[i]);
		error = NULL;
		ck_assert_ptr_null(tls_client_new(NULL, bad[i], &error));
		ck_assert_ptr_nonnull(error);
	}
	ck_assert_ptr_null(tls_server_new(cert_path, key_path, NULL, NULL,
	    NULL, &error));
	error = NULL;
	ck_assert_ptr_null(tls_server_new(cert_path, key_path, "TLSv1.2",
	    "NO-SUCH-CIPHER", NULL, &error));
	ck_assert_msg(strstr(error, "tls_ciphers") != NULL, "%s", error);
	error = NULL;
	ck_assert_ptr_null(tls_server_new(cert_path, key_path, "TLSv1.2",
	    NULL, "TLS_NO_SUCH_SUITE", &error));
	ck_assert_msg(strstr(error, "tls_ciphersuites") != NULL, "%s", error);
	ck_assert_int_eq(ERR_peek_error(), 0);
}
END_TEST

START_TEST(test_tls_client_new)
{
	SSL_CTX		*ctx;
	const char	*error = NULL;

	ctx = client_ctx(NULL, "TLSv1.2");
	tls_ctx_free(&ctx);
	ctx = client_ctx(cert_path, "TLSv1.3");
	ck_assert_int_eq(SSL_CTX_get_min_proto_version(ctx), TLS1_3_VERSION);
	tls_ctx_free(&ctx);
	ck_assert_ptr_null(tls_client_new(missing_path, "TLSv1.2", &error));
	ck_assert_msg(strstr(error, "missing.pem") != NULL, "%s", error);
}
END_TEST

/* ---- connections ------------------------------------------------------- */

START_TEST(test_tls_implicit_handshake)
{
	struct duo		 d;
	struct bufferevent	*bev;
	SSL_CTX			*sctx, *cctx;
	const char		*error = NULL;
	char			 subject[TLS_SUBJECT_MAX];
	int			 sv[2];

	sctx = server_ctx("TLSv1.2");
	cctx = client_ctx(NULL, "TLSv1.2");
	duo_init(&d);
	make_pair(sv);
	ck_assert_int_eq(tls_accept_bufferevent(d.base, sctx, -1, &bev,
	    &error), -1);
	ck_assert_ptr_nonnull(error);
	ck_assert_int_eq(tls_accept_bufferevent(d.base, sctx, sv[0], &bev,
	    &error), 0);
	side_attach(&d.s, bev);
	ck_assert_int_eq(tls_connect_bufferevent(d.base, cctx, sv[1], NULL,
	    TLS_VERIFY_NONE, &bev, &error), 0);
	side_attach(&d.c, bev);
	/* The contexts may go: each connection holds a reference. */
	tls_ctx_free(&sctx);
	tls_ctx_free(&cctx);

	ck_assert_int_eq(tls_info(tls_bufferevent_ssl(d.s.bev), NULL, NULL,
	    NULL, NULL), -1);		/* before the handshake */
	ck_assert_int_eq(tls_info(NULL, NULL, NULL, NULL, NULL), -1);
	exchange_lines(&d);
	check_tls13(d.s.bev);
	check_tls13(d.c.bev);
	/* Only the server sent a certificate. */
	ck_assert_int_eq(tls_peer_cert_subject(tls_bufferevent_ssl(d.c.bev),
	    subject, sizeof(subject)), 1);
	ck_assert_str_eq(subject, "CN=" TEST_NAME);
	ck_assert_int_eq(tls_peer_cert_subject(tls_bufferevent_ssl(d.c.bev),
	    subject, 4), 1);
	ck_assert_str_eq(subject, "CN=");
	ck_assert_int_eq(tls_peer_cert_subject(tls_bufferevent_ssl(d.s.bev),
	    subject, sizeof(subject)), 0);
	ck_assert_str_eq(subject, "");
	/* Self-signed: the client did not verify, and it would have failed. */
	ck_assert_int_ne(SSL_get_verify_result(tls_bufferevent_ssl(d.c.bev)),
	    X509_V_OK);

	/* A plain bufferevent is not a TLS one. */
	bev = bufferevent_socket_new(d.base, -1, 0);
	ck_assert_ptr_null(tls_bufferevent_ssl(bev));
	bufferevent_free(bev);
	duo_free(&d);
}
END_TEST

START_TEST(test_tls_starttls)
{
	struct duo		 d;
	struct bufferevent	*splain, *cplain, *bev;
	SSL_CTX			*sctx, *cctx;
	const char		*error = NULL;
	int			 sv[2];

	sctx = server_ctx("TLSv1.2");
	cctx = client_ctx(NULL, "TLSv1.2");
	duo_init(&d);
	make_pair(sv);
	splain = bufferevent_socket_new(d.base, sv[0], BEV_OPT_CLOSE_ON_FREE);
	cplain = bufferevent_socket_new(d.base, sv[1], BEV_OPT_CLOSE_ON_FREE);
	side_attach(&d.s, splain);
	side_attach(&d.c, cplain);

	/* Cleartext: EHLO and its answer, then STARTTLS. */
	side_expect(&d.s, "EHLO client\r\n");
	side_expect(&d.c, "250 STARTTLS\r\n");
	bufferevent_write(cplain, "EHLO client\r\n", 13);
	bufferevent_write(splain, "250 STARTTLS\r\n", 14);
	duo_run(&d);
	ck_assert(d.s.done && d.c.done);
	side_expect(&d.s, "STARTTLS\r\n");
	side_expect(&d.c, NULL);
	bufferevent_write(cplain, "STARTTLS\r\n", 10);
	duo_run(&d);
	ck_assert(d.s.done);

	/* Server: input drained by side_read; reply, then upgrade. */
	ck_assert_uint_eq(evbuffer_get_length(bufferevent_get_input(splain)),
	    0);
	bufferevent_write(splain, "220 2.0.0 Ready to start TLS\r\n", 30);
	ck_assert_int_eq(tls_starttls_bufferevent(sctx, splain, &bev, &error),
	    0);
	side_attach(&d.s, bev);
	side_expect(&d.s, NULL);

	/* Client: the 220 arrives in cleartext, then it upgrades too. */
	side_expect(&d.c, "220 2.0.0 Ready to start TLS\r\n");
	duo_run(&d);
	ck_assert_msg(d.c.done, "client got \"%s\"", d.c.got);
	ck_assert_int_eq(tls_connect_starttls_bufferevent(cctx, cplain, NULL,
	    TLS_VERIFY_NONE, &bev, &error), 0);
	side_attach(&d.c, bev);
	tls_ctx_free(&sctx);
	tls_ctx_free(&cctx);

	exchange_lines(&d);
	check_tls13(d.s.bev);
	check_tls13(d.c.bev);
	duo_free(&d);			/* frees the plain ones underneath */
}
END_TEST

/* Leaves the input alone; stops the loop once both lines are there. */
static void
read_all(struct bufferevent *bev, void *arg)
{
	if (evbuffer_get_length(bufferevent_get_input(bev)) >= 16)
		event_base_loopbreak(arg);
}

START_TEST(test_tls_starttls_input_not_empty)
{
	struct event_base	*base;
	struct bufferevent	*plain, *bev = NULL;
	SSL_CTX			*sctx, *cctx;
	const char		*error = NULL;
	char			*line;
	int			 sv[2];

	sctx = server_ctx("TLSv1.2");
	cctx = client_ctx(NULL, "TLSv1.2");
	base = event_base_new();
	make_pair(sv);
	plain = bufferevent_socket_new(base, sv[0], BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(plain, read_all, NULL, NULL, base);
	bufferevent_enable(plain, EV_READ);
	/* A client pipelines a command after STARTTLS (CVE-2011-0411). */
	ck_assert_int_eq(write(sv[1], "STARTTLS\r\nRSET\r\n", 16), 16);
	event_base_dispatch(base);
	line = evbuffer_readln(bufferevent_get_input(plain), NULL,
	    EVBUFFER_EOL_CRLF_STRICT);
	ck_assert_str_eq(line, "STARTTLS");
	free(line);
	ck_assert_int_eq(tls_starttls_bufferevent(sctx, plain, &bev, &error),
	    -1);
	ck_assert_ptr_null(bev);
	ck_assert_msg(strstr(error, "6 bytes") != NULL, "%s", error);
	error = NULL;
	ck_assert_int_eq(tls_connect_starttls_bufferevent(cctx, plain, NULL,
	    TLS_VERIFY_NONE, &bev, &error), -1);
	ck_assert_ptr_null(bev);
	ck_assert_ptr_nonnull(error);
	/* Still the caller's: one byte left is still too many. */
	evbuffer_drain(bufferevent_get_input(plain), 5);
	ck_assert_int_eq(tls_starttls_bufferevent(sctx, plain, &bev, &error),
	    -1);
	evbuffer_drain(bufferevent_get_input(plain), 1);
	ck_assert_int_eq(tls_starttls_bufferevent(sctx, plain, &bev, &error),
	    0);
	bufferevent_free(bev);		/* and plain with it */
	close(sv[1]);
	tls_ctx_free(&sctx);
	tls_ctx_free(&cctx);
	event_base_free(base);
}
END_TEST

START_TEST(test_tls_min_protocol_refused)
{
	struct duo		 d;
	struct bufferevent	*bev;
	SSL_CTX			*sctx, *cctx;
	const char		*error = NULL, *why;
	int			 sv[2];

	sctx = server_ctx("TLSv1.3");
	cctx = client_ctx(NULL, "TLSv1.2");
	ck_assert_int_eq(SSL_CTX_set_max_proto_version(cctx, TLS1_2_VERSION),
	    1);
	duo_init(&d);
	make_pair(sv);
	ck_assert_int_eq(tls_accept_bufferevent(d.base, sctx, sv[0], &bev,
	    &error), 0);
	side_attach(&d.s, bev);
	ck_assert_int_eq(tls_connect_bufferevent(d.base, cctx, sv[1], NULL,
	    TLS_VERIFY_NONE, &bev, &error), 0);
	side_attach(&d.c, bev);
	bufferevent_write(d.c.bev, "hello\r\n", 7);
	duo_run(&d);
	ck_assert(d.s.error);
	ck_assert(!d.s.connected);
	ck_assert(!d.c.connected);
	why = tls_bufferevent_error(d.s.bev);
	ck_assert_msg(strstr(why, "protocol") != NULL, "%s", why);
	ck_assert_int_eq(ERR_peek_error(), 0);
	ck_assert_str_eq(d.s.got, "");	/* nothing leaked through */
	tls_ctx_free(&sctx);
	tls_ctx_free(&cctx);
	duo_free(&d);
}
END_TEST

static void
verify_run(const char *servername, bool want_ok)
{
	struct duo		 d;
	struct bufferevent	*bev;
	SSL_CTX			*sctx, *cctx;
	const char		*error = NULL;
	int			 sv[2];

	sctx = server_ctx("TLSv1.2");
	cctx = client_ctx(cert_path, "TLSv1.2");
	duo_init(&d);
	make_pair(sv);
	ck_assert_int_eq(tls_accept_bufferevent(d.base, sctx, sv[0], &bev,
	    &error), 0);
	side_attach(&d.s, bev);
	ck_assert_int_eq(tls_connect_bufferevent(d.base, cctx, sv[1],
	    servername, TLS_VERIFY_PEER, &bev, &error), 0);
	side_attach(&d.c, bev);
	if (want_ok) {
		exchange_lines(&d);
		ck_assert_int_eq(SSL_get_verify_result(
		    tls_bufferevent_ssl(d.c.bev)), X509_V_OK);
	} else {
		side_expect(&d.c, "never");
		duo_run(&d);
		ck_assert(d.c.error);
		ck_assert(!d.c.connected);
		ck_assert_ptr_nonnull(tls_bufferevent_error(d.c.bev));
	}
	tls_ctx_free(&sctx);
	tls_ctx_free(&cctx);
	duo_free(&d);
}

START_TEST(test_tls_verify_peer)
{
	verify_run(TEST_NAME, true);
	verify_run("other.test", false);
}
END_TEST

START_TEST(test_tls_handshake_timeout)
{
	struct duo		 d;
	struct bufferevent	*bev;
	struct timeval		 tv = { 0, 100 * 1000 };
	SSL_CTX			*sctx;
	const char		*error = NULL;
	int			 sv[2];

	sctx = server_ctx("TLSv1.2");
	duo_init(&d);
	make_pair(sv);
	ck_assert_int_eq(tls_accept_bufferevent(d.base, sctx, sv[0], &bev,
	    &error), 0);
	side_attach(&d.s, bev);
	bufferevent_set_timeouts(bev, &tv, &tv);
	/* The client connects and never says a word. */
	duo_run(&d);
	ck_assert(d.s.timeout);
	ck_assert(!d.s.connected);
	close(sv[1]);
	tls_ctx_free(&sctx);
	duo_free(&d);
}
END_TEST

static Suite *
tls_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("tls");
	tc = tcase_create("ctx");
	tcase_add_test(tc, test_tls_server_new_ok);
	tcase_add_test(tc, test_tls_server_new_key_mismatch);
	tcase_add_test(tc, test_tls_server_new_missing);
	tcase_add_test(tc, test_tls_server_new_encrypted_key);
	tcase_add_test(tc, test_tls_server_new_bad_settings);
	tcase_add_test(tc, test_tls_client_new);
	suite_add_tcase(s, tc);
	tc = tcase_create("conn");
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_tls_implicit_handshake);
	tcase_add_test(tc, test_tls_starttls);
	tcase_add_test(tc, test_tls_starttls_input_not_empty);
	tcase_add_test(tc, test_tls_min_protocol_refused);
	tcase_add_test(tc, test_tls_verify_peer);
	tcase_add_test(tc, test_tls_handshake_timeout);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr;
	int	 failed;

	make_fixtures();
	sr = srunner_create(tls_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	remove_fixtures();
	OPENSSL_cleanup();
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
