/* SPDX-License-Identifier: ISC */
/*
 * Unit tests of common/authd_client.c against a fake authd: an AF_UNIX
 * listener in a temporary folder, accepted with an ipc_conn on the same
 * event_base, that answers HELLO by itself and records every other frame
 * so that each test can check what the client sent and script the reply.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <check.h>
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

#include "common/authd_client.h"
#include "common/conf.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/xmalloc.h"

#include "common/banned.h"

#define FAKE_KEEP	64	/* frames kept for inspection */

struct fake {
	struct event_base	*base;
	int			 ls;
	struct event		*ev_accept;
	struct ipc_conn		*conn;
	unsigned int		 naccepted;
	unsigned int		 nclosed;
	unsigned int		 nhello;
	bool			 refuse_hello;
	bool			 close_on_request;
	uint64_t		 hello_version;
	char			 hello_program[64];
	struct ipc_msg		*msgs[FAKE_KEEP];
	unsigned int		 nmsgs;		/* all received but HELLO */
};

struct res {
	unsigned int		 n;
	enum authd_status	 status;
	enum authd_rcpt_result	 rcpt;
	bool			 relay;
	unsigned int		 ndeliver, nforward;
	char			 deliver0[400];
	char			 forward0[400];
	char			 text[200];
	char			 user[400];
	char			 token[200];
	char			 maildir[200];
	uint64_t		 quota;
	char			 transport[400];
	bool			 ftransports_null;	/* none sent */
	unsigned int		 nftransports;
	char			 ftransport0[400];
	uint8_t			 challenge[64];
	size_t			 challenge_len;
	/* AUTH: answer CONTINUE with these, then stop. */
	struct authd_request	*req;
	const char		*answers[4];
	unsigned int		 nanswers;
	struct authd_client	*retry;		/* retried from the callback */
	struct res		*retry_res;
	bool			 cancel_self;	/* cancel req in its final cb */
	struct authd_request	**cancel_other;	/* cancel this one in the cb */
};

#define TEST_DIR_TEMPLATE	"/tmp/test_authd_client.XXXXXX"

static char			 test_dir[sizeof(TEST_DIR_TEMPLATE)];
static char			 sock_path[256];
static struct postern_config	*test_cfg;
static struct event_base	*base;
static struct event		*ticker;

static void
set_cfg(const char *text)
{
	struct conf_errors errs;

	conf_free(&test_cfg);
	test_cfg = conf_parse(test_dir, "postern.conf", text, strlen(text),
	    &errs);
	if (test_cfg == NULL)
		ck_abort_msg("conf_parse: %s", errs.count > 0 ? errs.lines[0] :
		    "?");
	conf_errors_deinit(&errs);
	cfg = test_cfg;
}

static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

static void
setup(void)
{
	struct timeval tv = { 0, 20000 };

	memcpy(test_dir, TEST_DIR_TEMPLATE, sizeof(TEST_DIR_TEMPLATE));
	ck_assert_ptr_nonnull(mkdtemp(test_dir));
	ck_assert_int_lt(snprintf(sock_path, sizeof(sock_path), "%s/auth",
	    test_dir), (int)sizeof(sock_path));
	set_cfg("ipc_timeout = 1s\n");
	base = event_base_new();
	ck_assert_ptr_nonnull(base);
	/* EVLOOP_ONCE then returns at least every 20 ms. */
	ticker = event_new(base, -1, EV_PERSIST, tick_cb, NULL);
	ck_assert_int_eq(event_add(ticker, &tv), 0);
}

static void
teardown(void)
{
	event_free(ticker);
	event_base_free(base);
	base = NULL;
	conf_free(&test_cfg);
	cfg = NULL;
	(void)unlink(sock_path);
	(void)rmdir(test_dir);
}

/* Runs the loop until *counter reaches n; fails after 5 s. */
static void
loop_until(const unsigned int *counter, unsigned int n)
{
	time_t end = time(NULL) + 5;

	while (*counter < n && time(NULL) <= end)
		ck_assert_int_ne(event_base_loop(base, EVLOOP_ONCE), -1);
	ck_assert_uint_ge(*counter, n);
}

/* Runs the loop for about ms milliseconds. */
static void
loop_for(unsigned int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	ck_assert_int_ne(event_base_loopexit(base, &tv), -1);
	ck_assert_int_ne(event_base_dispatch(base), -1);
}

/* ---- the fake authd ---------------------------------------------------- */

static void
fake_send(struct fake *f, struct ipc_msg **mp)
{
	ck_assert_ptr_nonnull(f->conn);
	ck_assert_int_eq(ipc_conn_send(f->conn, *mp, -1), 0);
	ipc_msg_free(mp);
}

static int
fake_msg(struct ipc_conn *conn, struct ipc_msg *m, void *ctx)
{
	struct fake	*f = ctx;
	struct ipc_msg	*r;
	const char	*program;

	(void)conn;
	if (m->type == IPC_HELLO) {
		f->nhello++;
		ck_assert_uint_eq(m->peer_id, 0);
		ck_assert_int_eq(ipc_get_u64(m, "version", UINT32_MAX,
		    &f->hello_version), 0);
		ck_assert_int_eq(ipc_get_str(m, "program", 63, &program), 0);
		memcpy(f->hello_program, program, strlen(program) + 1);
		if (f->refuse_hello) {
			r = ipc_msg_new(IPC_ERROR, 0);
			ipc_add_str(r, "text", "protocol version 99 expected");
		} else
			r = ipc_msg_new(IPC_OK, 0);
		fake_send(f, &r);
		ipc_msg_free(&m);
		return 0;
	}
	if (f->nmsgs < FAKE_KEEP)
		f->msgs[f->nmsgs] = m;
	else
		ipc_msg_free(&m);
	f->nmsgs++;
	if (f->close_on_request) {
		ipc_conn_free(&f->conn);
		f->nclosed++;
	}
	return 0;
}

static void
fake_close(struct ipc_conn *conn, const char *reason, void *ctx)
{
	struct fake *f = ctx;

	(void)conn;
	(void)reason;
	ipc_conn_free(&f->conn);
	f->nclosed++;
}

static void
fake_accept(evutil_socket_t fd, short what, void *ctx)
{
	struct fake	*f = ctx;
	int		 afd;

	(void)what;
	if ((afd = accept(fd, NULL, NULL)) == -1)
		return;
	ipc_conn_free(&f->conn);
	f->conn = ipc_conn_new(f->base, afd, 1024 * 1024, "fake-authd",
	    fake_msg, fake_close, f);
	f->naccepted++;
}

static void
fake_start(struct fake *f)
{
	struct sockaddr_un sun;

	memset(f, 0, sizeof(*f));
	f->base = base;
	f->ls = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
	ck_assert_int_ge(f->ls, 0);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, sock_path, strlen(sock_path) + 1);
	ck_assert_int_eq(bind(f->ls, (struct sockaddr *)&sun, sizeof(sun)), 0);
	ck_assert_int_eq(listen(f->ls, 16), 0);
	f->ev_accept = event_new(base, f->ls, EV_READ | EV_PERSIST,
	    fake_accept, f);
	ck_assert_int_eq(event_add(f->ev_accept, NULL), 0);
}

static void
fake_stop(struct fake *f)
{
	unsigned int i;

	for (i = 0; i < f->nmsgs && i < FAKE_KEEP; i++)
		ipc_msg_free(&f->msgs[i]);
	ipc_conn_free(&f->conn);
	event_free(f->ev_accept);
	close(f->ls);
	(void)unlink(sock_path);
}

static const char *
msg_str(struct ipc_msg *m, const char *key)
{
	const char *s;

	ck_assert_int_eq(ipc_get_str(m, key, 1000, &s), 0);
	return s;
}

static uint64_t
msg_u64(struct ipc_msg *m, const char *key)
{
	uint64_t v;

	ck_assert_int_eq(ipc_get_u64(m, key, UINT64_MAX, &v), 0);
	return v;
}

/* ---- callbacks --------------------------------------------------------- */

static void
copy(char *dst, size_t size, const char *src)
{
	size_t len = src == NULL ? 0 : strlen(src);

	ck_assert_uint_lt(len, size);
	if (src != NULL)
		memcpy(dst, src, len);
	dst[len] = '\0';
}

/* What a final callback may do: cancel itself (a no-op) or another. */
static void
res_final(struct res *res)
{
	if (res->cancel_self) {
		authd_request_cancel(&res->req);
		ck_assert_ptr_null(res->req);
	}
	if (res->cancel_other != NULL)
		authd_request_cancel(res->cancel_other);
	res->req = NULL;
}

static void
rcpt_cb(const struct authd_rcpt_reply *r, void *ctx)
{
	struct res *res = ctx;

	res->n++;
	res_final(res);
	res->rcpt = r->result;
	res->relay = r->relay;
	ck_assert_ptr_nonnull(r->deliver);
	ck_assert_ptr_nonnull(r->forward);
	ck_assert_ptr_nonnull(r->text);
	for (res->ndeliver = 0; r->deliver[res->ndeliver] != NULL;
	    res->ndeliver++)
		;
	for (res->nforward = 0; r->forward[res->nforward] != NULL;
	    res->nforward++)
		;
	copy(res->deliver0, sizeof(res->deliver0), r->deliver[0]);
	copy(res->forward0, sizeof(res->forward0), r->forward[0]);
	copy(res->text, sizeof(res->text), r->text);
	ck_assert_ptr_nonnull(r->transport);
	copy(res->transport, sizeof(res->transport), r->transport);
	res->ftransports_null = r->forward_transports == NULL;
	res->nftransports = 0;
	if (r->forward_transports != NULL) {
		for (; r->forward_transports[res->nftransports] != NULL;
		    res->nftransports++)
			;
		ck_assert_uint_eq(res->nftransports, res->nforward);
		copy(res->ftransport0, sizeof(res->ftransport0),
		    r->forward_transports[0]);
	}
	if (res->retry != NULL)
		(void)authd_client_rcpt(res->retry, "b@example.test", "",
		    false, rcpt_cb, res->retry_res);
}

static void
auth_cb(const struct authd_auth_reply *r, void *ctx)
{
	struct res	*res = ctx;
	const char	*a;

	res->n++;
	res->status = r->status;
	if (r->status == AUTHD_CONTINUE) {
		ck_assert_uint_le(r->challenge_len, sizeof(res->challenge));
		memcpy(res->challenge, r->challenge, r->challenge_len);
		res->challenge_len = r->challenge_len;
		if (res->nanswers < 4 &&
		    (a = res->answers[res->nanswers]) != NULL) {
			res->nanswers++;
			ck_assert_int_eq(authd_client_auth_continue(res->req,
			    (const uint8_t *)a, strlen(a)), 0);
		}
		return;
	}
	res_final(res);		/* req is freed after this callback */
	copy(res->user, sizeof(res->user), r->user);
	copy(res->token, sizeof(res->token), r->token);
}

static void
user_cb(const struct authd_user_reply *r, void *ctx)
{
	struct res *res = ctx;

	res->n++;
	res_final(res);
	res->status = r->status;
	copy(res->user, sizeof(res->user), r->user);
	copy(res->maildir, sizeof(res->maildir), r->maildir);
	res->quota = r->quota;
}

/* ---- tests ------------------------------------------------------------- */

START_TEST(test_rcpt_happy)
{
	struct authd_client	*c;
	struct authd_request	*r;
	struct ipc_msg		*m, *a;
	struct fake		 f;
	struct res		 res;

	fake_start(&f);
	memset(&res, 0, sizeof(res));
	c = authd_client_new(base, sock_path, "smtpd");
	r = authd_client_rcpt(c, "a@example.test", "192.0.2.1", true, rcpt_cb,
	    &res);
	ck_assert_ptr_nonnull(r);
	loop_until(&f.nmsgs, 1);
	ck_assert_uint_eq(f.nhello, 1);
	ck_assert_uint_eq(f.hello_version, IPC_PROTOCOL_VERSION);
	ck_assert_str_eq(f.hello_program, "smtpd");
	m = f.msgs[0];
	ck_assert_uint_eq(m->type, IPC_RCPT_LOOKUP);
	ck_assert_uint_ne(m->peer_id, 0);
	ck_assert_str_eq(msg_str(m, "rcpt"), "a@example.test");
	ck_assert_str_eq(msg_str(m, "client"), "192.0.2.1");
	ck_assert_uint_eq(msg_u64(m, "authenticated"), 1);
	ck_assert_uint_eq(res.n, 0);

	a = ipc_msg_new(IPC_RCPT_RESULT, m->peer_id);
	ipc_add_str(a, "result", "local");
	ipc_add_u64(a, "relay", 1);
	ipc_add_str(a, "deliver", "alice@example.test");
	ipc_add_str(a, "deliver", "bob@example.test");
	ipc_add_str(a, "forward", "x@remote.test");
	ipc_add_str(a, "text", "alias");
	fake_send(&f, &a);
	loop_until(&res.n, 1);
	ck_assert_int_eq(res.rcpt, AUTHD_RCPT_LOCAL);
	ck_assert(res.relay);
	ck_assert_uint_eq(res.ndeliver, 2);
	ck_assert_str_eq(res.deliver0, "alice@example.test");
	ck_assert_uint_eq(res.nforward, 1);
	ck_assert_str_eq(res.forward0, "x@remote.test");
	ck_assert_str_eq(res.text, "alias");

	/* Second request on the same connection, no HELLO again; remote. */
	(void)authd_client_rcpt(c, "b@x.test", "", false, rcpt_cb, &res);
	loop_until(&f.nmsgs, 2);
	m = f.msgs[1];
	ck_assert_str_eq(msg_str(m, "client"), "");
	ck_assert_uint_eq(msg_u64(m, "authenticated"), 0);
	ck_assert_uint_ne(m->peer_id, f.msgs[0]->peer_id);
	a = ipc_msg_new(IPC_RCPT_RESULT, m->peer_id);
	ipc_add_str(a, "result", "remote");
	ipc_add_u64(a, "relay", 0);
	fake_send(&f, &a);
	loop_until(&res.n, 2);
	ck_assert_int_eq(res.rcpt, AUTHD_RCPT_REMOTE);
	ck_assert(!res.relay);
	ck_assert_uint_eq(res.ndeliver, 0);
	ck_assert_str_eq(res.text, "");
	ck_assert_uint_eq(f.nhello, 1);
	ck_assert_uint_eq(f.naccepted, 1);

	authd_client_free(&c);
	ck_assert_ptr_null(c);
	fake_stop(&f);
}
END_TEST

/* Sends an RCPT_RESULT of n deliver entries; returns the callback's view. */
static void
rcpt_with(const char *result, unsigned int ndeliver, const char *bad_key,
    const char *bad_val, struct res *res)
{
	struct authd_client	*c;
	struct ipc_msg		*a;
	struct fake		 f;
	unsigned int		 i;

	fake_start(&f);
	memset(res, 0, sizeof(*res));
	c = authd_client_new(base, sock_path, "smtpd");
	(void)authd_client_rcpt(c, "a@example.test", "", false, rcpt_cb, res);
	loop_until(&f.nmsgs, 1);
	a = ipc_msg_new(IPC_RCPT_RESULT, f.msgs[0]->peer_id);
	ipc_add_str(a, "result", result);
	for (i = 0; i < ndeliver; i++)
		ipc_add_str(a, "deliver", "u@example.test");
	if (bad_key != NULL)
		ipc_add_str(a, bad_key, bad_val);
	fake_send(&f, &a);
	loop_until(&res->n, 1);
	authd_client_free(&c);
	fake_stop(&f);
}

START_TEST(test_rcpt_validation)
{
	struct res res;

	rcpt_with("unknown", 0, NULL, NULL, &res);
	ck_assert_int_eq(res.rcpt, AUTHD_RCPT_UNKNOWN);
	rcpt_with("tempfail", 0, NULL, NULL, &res);
	ck_assert_int_eq(res.rcpt, AUTHD_RCPT_TEMPFAIL);
	rcpt_with("bogus", 0, NULL, NULL, &res);
	ck_assert_int_eq(res.rcpt, AUTHD_RCPT_TEMPFAIL);
	rcpt_with("local", 0, "relay", "2", &res);
	ck_assert_int_eq(res.rcpt, AUTHD_RCPT_TEMPFAIL);
	rcpt_with("local", 0, "deliver", "a\001b", &res);
	ck_assert_int_eq(res.rcpt, AUTHD_RCPT_TEMPFAIL);
	rcpt_with("local", 0, "deliver", "", &res);
	ck_assert_int_eq(res.rcpt, AUTHD_RCPT_TEMPFAIL);
	rcpt_with("local", 0, "text", "a\nb", &res);
	ck_assert_int_eq(res.rcpt, AUTHD_RCPT_TEMPFAIL);
	/* The list bound: 10000 entries pass, 10001 do not. */
	rcpt_with("local", 10000, NULL, NULL, &res);
	ck_assert_int_eq(res.rcpt, AUTHD_RCPT_LOCAL);
	ck_assert_uint_eq(res.ndeliver, 10000);
	rcpt_with("local", 10001, NULL, NULL, &res);
	ck_assert_int_eq(res.rcpt, AUTHD_RCPT_TEMPFAIL);
	ck_assert_uint_eq(res.ndeliver, 0);
}
END_TEST

/*
 * Sends an RCPT_RESULT of result with the fields of kv (key, value pairs,
 * NULL-terminated); returns the callback's view.
 */
static void
rcpt_fields(const char *result, const char *const *kv, struct res *res)
{
	struct authd_client	*c;
	struct ipc_msg		*a;
	struct fake		 f;
	size_t			 i;

	fake_start(&f);
	memset(res, 0, sizeof(*res));
	c = authd_client_new(base, sock_path, "qmgr");
	(void)authd_client_rcpt(c, "a@example.test", "", false, rcpt_cb, res);
	loop_until(&f.nmsgs, 1);
	a = ipc_msg_new(IPC_RCPT_RESULT, f.msgs[0]->peer_id);
	ipc_add_str(a, "result", result);
	for (i = 0; kv[i] != NULL; i += 2)
		ipc_add_str(a, kv[i], kv[i + 1]);
	fake_send(&f, &a);
	loop_until(&res->n, 1);
	ck_assert_uint_eq(res->n, 1);
	authd_client_free(&c);
	fake_stop(&f);
}

/* A transport field of value: accepted as it is, or the request fails. */
static void
rcpt_transport(const char *value, bool good)
{
	const char *const kv[] = { "relay", "1", "transport", value, NULL };
	struct res	 res;

	rcpt_fields("remote", kv, &res);
	if (good) {
		ck_assert_int_eq(res.rcpt, AUTHD_RCPT_REMOTE);
		ck_assert_str_eq(res.transport, value);
	} else {
		ck_assert_msg(res.rcpt == AUTHD_RCPT_TEMPFAIL, "transport "
		    "\"%s\" accepted", value);
		ck_assert_str_eq(res.transport, "");
	}
}

START_TEST(test_rcpt_transports)
{
	static const char *const remote[] = { "relay", "1", "transport",
	    "smtp:[192.0.2.1]:2525", NULL };
	static const char *const none[] = { "relay", "0", NULL };
	static const char *const local[] = { "deliver", "u@example.test",
	    "forward", "x@far.test", "forward", "y@sub.far.test",
	    "forward_transport", "smtp:far.test",
	    "forward_transport", "smtp:[2001:db8::1]", NULL };
	static const char *const local_none[] = { "forward", "x@far.test",
	    "forward", "y@far.test", NULL };
	static const char *const fewer[] = { "forward", "x@far.test",
	    "forward", "y@far.test", "forward_transport", "smtp:far.test",
	    NULL };
	static const char *const more[] = { "forward", "x@far.test",
	    "forward_transport", "smtp:far.test",
	    "forward_transport", "smtp:far.test", NULL };
	static const char *const no_forward[] = { "deliver", "u@example.test",
	    "forward_transport", "smtp:far.test", NULL };
	static const char *const bad_entry[] = { "forward", "x@far.test",
	    "forward", "y@far.test", "forward_transport", "smtp:far.test",
	    "forward_transport", "lmtp:far.test", NULL };
	static const char *const empty_entry[] = { "forward", "x@far.test",
	    "forward_transport", "", NULL };
	struct res	 res;
	char		 big[AUTHD_TRANSPORT_MAX + 2];

	/* REMOTE with and without a transport. */
	rcpt_fields("remote", remote, &res);
	ck_assert_int_eq(res.rcpt, AUTHD_RCPT_REMOTE);
	ck_assert(res.relay);
	ck_assert_str_eq(res.transport, "smtp:[192.0.2.1]:2525");
	ck_assert(res.ftransports_null);
	rcpt_fields("remote", none, &res);
	ck_assert_int_eq(res.rcpt, AUTHD_RCPT_REMOTE);
	ck_assert_str_eq(res.transport, "");
	ck_assert(res.ftransports_null);

	/* LOCAL: one forward_transport per forward, in order. */
	rcpt_fields("local", local, &res);
	ck_assert_int_eq(res.rcpt, AUTHD_RCPT_LOCAL);
	ck_assert_uint_eq(res.nforward, 2);
	ck_assert(!res.ftransports_null);
	ck_assert_uint_eq(res.nftransports, 2);
	ck_assert_str_eq(res.ftransport0, "smtp:far.test");
	ck_assert_str_eq(res.transport, "");
	/* None sent: NULL. */
	rcpt_fields("local", local_none, &res);
	ck_assert_int_eq(res.rcpt, AUTHD_RCPT_LOCAL);
	ck_assert_uint_eq(res.nforward, 2);
	ck_assert(res.ftransports_null);
	/* Counts that differ from forward's, or a bad entry: malformed. */
	rcpt_fields("local", fewer, &res);
	ck_assert_int_eq(res.rcpt, AUTHD_RCPT_TEMPFAIL);
	ck_assert_uint_eq(res.nforward, 0);
	ck_assert(res.ftransports_null);
	rcpt_fields("local", more, &res);
	ck_assert_int_eq(res.rcpt, AUTHD_RCPT_TEMPFAIL);
	rcpt_fields("local", no_forward, &res);
	ck_assert_int_eq(res.rcpt, AUTHD_RCPT_TEMPFAIL);
	rcpt_fields("local", bad_entry, &res);
	ck_assert_int_eq(res.rcpt, AUTHD_RCPT_TEMPFAIL);
	rcpt_fields("local", empty_entry, &res);
	ck_assert_int_eq(res.rcpt, AUTHD_RCPT_TEMPFAIL);

	/* The transport's syntax. */
	rcpt_transport("smtp:example.org", true);
	rcpt_transport("smtp:b\xc3\xbc" "cher.test", true);
	rcpt_transport("", false);
	rcpt_transport("smtp:", false);
	rcpt_transport("smtp", false);
	rcpt_transport("lmtp:example.org", false);
	rcpt_transport("SMTP:example.org", false);
	rcpt_transport("smtp:a b", false);
	rcpt_transport("smtp:a\tb", false);
	rcpt_transport("smtp:a\nb", false);
	rcpt_transport("smtp:a\177b", false);
	/* AUTHD_TRANSPORT_MAX bytes, and one more. */
	memset(big, 'a', sizeof(big));
	memcpy(big, "smtp:", strlen("smtp:"));
	big[AUTHD_TRANSPORT_MAX] = '\0';
	rcpt_transport(big, true);
	big[AUTHD_TRANSPORT_MAX] = 'a';
	big[AUTHD_TRANSPORT_MAX + 1] = '\0';
	rcpt_transport(big, false);
}
END_TEST

START_TEST(test_auth_continue_twice)
{
	struct authd_client	*c;
	struct ipc_msg		*m, *a;
	struct fake		 f;
	struct res		 res;
	const uint8_t		*d;
	size_t			 len;

	fake_start(&f);
	memset(&res, 0, sizeof(res));
	res.answers[0] = "r1";
	res.answers[1] = "r2";
	c = authd_client_new(base, sock_path, "imap-login");
	res.req = authd_client_auth(c, "LOGIN", "imap", "192.0.2.7", true,
	    NULL, 0, auth_cb, &res);
	ck_assert_ptr_nonnull(res.req);
	loop_until(&f.nmsgs, 1);
	m = f.msgs[0];
	ck_assert_uint_eq(m->type, IPC_AUTH_BEGIN);
	ck_assert_str_eq(msg_str(m, "mech"), "LOGIN");
	ck_assert_str_eq(msg_str(m, "service"), "imap");
	ck_assert_str_eq(msg_str(m, "client"), "192.0.2.7");
	ck_assert_uint_eq(msg_u64(m, "secured"), 1);
	ck_assert(!ipc_has(m, "resp"));
	/* Not the caller's turn: no response accepted. */
	ck_assert_int_eq(authd_client_auth_continue(res.req,
	    (const uint8_t *)"x", 1), -1);
	ck_assert_int_eq(authd_client_auth_continue(NULL,
	    (const uint8_t *)"x", 1), -1);

	a = ipc_msg_new(IPC_AUTH_CONTINUE, m->peer_id);
	ipc_add_data(a, "challenge", "c1", 2);
	fake_send(&f, &a);
	loop_until(&f.nmsgs, 2);
	ck_assert_uint_eq(res.n, 1);
	ck_assert_int_eq(res.status, AUTHD_CONTINUE);
	ck_assert_mem_eq(res.challenge, "c1", 2);
	m = f.msgs[1];
	ck_assert_uint_eq(m->type, IPC_AUTH_CONTINUE);
	ck_assert_uint_eq(m->peer_id, f.msgs[0]->peer_id);
	ck_assert_int_eq(ipc_get_data(m, "resp", 100, &d, &len), 0);
	ck_assert_uint_eq(len, 2);
	ck_assert_mem_eq(d, "r1", 2);

	/* An empty challenge is a valid one. */
	a = ipc_msg_new(IPC_AUTH_CONTINUE, m->peer_id);
	ipc_add_data(a, "challenge", "", 0);
	fake_send(&f, &a);
	loop_until(&f.nmsgs, 3);
	ck_assert_uint_eq(res.n, 2);
	ck_assert_uint_eq(res.challenge_len, 0);
	m = f.msgs[2];
	ck_assert_int_eq(ipc_get_data(m, "resp", 100, &d, &len), 0);
	ck_assert_mem_eq(d, "r2", 2);

	a = ipc_msg_new(IPC_AUTH_RESULT, m->peer_id);
	ipc_add_str(a, "result", "ok");
	ipc_add_str(a, "user", "alice@example.test");
	ipc_add_str(a, "token", "00ff");
	fake_send(&f, &a);
	loop_until(&res.n, 3);
	ck_assert_int_eq(res.status, AUTHD_OK);
	ck_assert_str_eq(res.user, "alice@example.test");
	ck_assert_str_eq(res.token, "00ff");
	ck_assert_ptr_null(res.req);

	authd_client_free(&c);
	fake_stop(&f);
}
END_TEST

/* One AUTH_BEGIN with resp, answered with result/user/token. */
static void
auth_once(const uint8_t *resp, size_t resp_len, const char *result,
    const char *user, const char *token, struct res *res, bool *had_resp_r,
    size_t *resp_len_r)
{
	struct authd_client	*c;
	struct ipc_msg		*a;
	struct fake		 f;
	const uint8_t		*d;

	fake_start(&f);
	memset(res, 0, sizeof(*res));
	c = authd_client_new(base, sock_path, "smtpd");
	res->req = authd_client_auth(c, "PLAIN", "smtp", "::1", false, resp,
	    resp_len, auth_cb, res);
	loop_until(&f.nmsgs, 1);
	*had_resp_r = ipc_has(f.msgs[0], "resp");
	*resp_len_r = 0;
	if (*had_resp_r)
		ck_assert_int_eq(ipc_get_data(f.msgs[0], "resp", 1000, &d,
		    resp_len_r), 0);
	a = ipc_msg_new(IPC_AUTH_RESULT, f.msgs[0]->peer_id);
	ipc_add_str(a, "result", result);
	if (user != NULL)
		ipc_add_str(a, "user", user);
	if (token != NULL)
		ipc_add_str(a, "token", token);
	ipc_add_str(a, "text", "for the log");
	fake_send(&f, &a);
	loop_until(&res->n, 1);
	authd_client_free(&c);
	fake_stop(&f);
}

START_TEST(test_auth_results)
{
	struct res	res;
	bool		had;
	size_t		len;

	auth_once((const uint8_t *)"", 0, "fail", NULL, NULL, &res, &had,
	    &len);
	ck_assert(had);
	ck_assert_uint_eq(len, 0);
	ck_assert_int_eq(res.status, AUTHD_FAIL);
	auth_once((const uint8_t *)"\0u\0p", 4, "tempfail", NULL, NULL, &res,
	    &had, &len);
	ck_assert(had);
	ck_assert_uint_eq(len, 4);
	ck_assert_int_eq(res.status, AUTHD_TEMPFAIL);
	auth_once(NULL, 0, "ok", "u@example.test", "aa", &res, &had, &len);
	ck_assert(!had);
	ck_assert_int_eq(res.status, AUTHD_OK);
	/* ok without a token, or an unknown result: TEMPFAIL. */
	auth_once(NULL, 0, "ok", "u@example.test", NULL, &res, &had, &len);
	ck_assert_int_eq(res.status, AUTHD_TEMPFAIL);
	auth_once(NULL, 0, "maybe", NULL, NULL, &res, &had, &len);
	ck_assert_int_eq(res.status, AUTHD_TEMPFAIL);
	ck_assert_uint_eq(res.n, 1);
}
END_TEST

START_TEST(test_token_user)
{
	struct authd_client	*c;
	struct ipc_msg		*m, *a;
	struct fake		 f;
	struct res		 res;

	fake_start(&f);
	memset(&res, 0, sizeof(res));
	c = authd_client_new(base, sock_path, "imap");
	(void)authd_client_token(c, "abcd", "imap", user_cb, &res);
	loop_until(&f.nmsgs, 1);
	m = f.msgs[0];
	ck_assert_uint_eq(m->type, IPC_TOKEN_REDEEM);
	ck_assert_str_eq(msg_str(m, "token"), "abcd");
	ck_assert_str_eq(msg_str(m, "service"), "imap");
	a = ipc_msg_new(IPC_USER_RESULT, m->peer_id);
	ipc_add_str(a, "result", "ok");
	ipc_add_str(a, "user", "alice@example.test");
	ipc_add_str(a, "maildir", "/var/vmail/example.test/alice");
	ipc_add_u64(a, "quota", UINT64_MAX);
	fake_send(&f, &a);
	loop_until(&res.n, 1);
	ck_assert_int_eq(res.status, AUTHD_OK);
	ck_assert_str_eq(res.user, "alice@example.test");
	ck_assert_str_eq(res.maildir, "/var/vmail/example.test/alice");
	ck_assert_uint_eq(res.quota, UINT64_MAX);

	(void)authd_client_user(c, "bob@example.test", user_cb, &res);
	loop_until(&f.nmsgs, 2);
	m = f.msgs[1];
	ck_assert_uint_eq(m->type, IPC_USER_LOOKUP);
	ck_assert_str_eq(msg_str(m, "user"), "bob@example.test");
	a = ipc_msg_new(IPC_USER_RESULT, m->peer_id);
	ipc_add_str(a, "result", "notfound");
	ipc_add_str(a, "user", "bob@example.test");
	fake_send(&f, &a);
	loop_until(&res.n, 2);
	ck_assert_int_eq(res.status, AUTHD_FAIL);
	ck_assert_str_eq(res.user, "");

	/* ok without maildir: TEMPFAIL. */
	(void)authd_client_user(c, "carol@example.test", user_cb, &res);
	loop_until(&f.nmsgs, 3);
	a = ipc_msg_new(IPC_USER_RESULT, f.msgs[2]->peer_id);
	ipc_add_str(a, "result", "ok");
	ipc_add_str(a, "user", "carol@example.test");
	ipc_add_u64(a, "quota", 0);
	fake_send(&f, &a);
	loop_until(&res.n, 3);
	ck_assert_int_eq(res.status, AUTHD_TEMPFAIL);

	/* fail and tempfail. */
	(void)authd_client_token(c, "ab", "pop3", user_cb, &res);
	loop_until(&f.nmsgs, 4);
	a = ipc_msg_new(IPC_USER_RESULT, f.msgs[3]->peer_id);
	ipc_add_str(a, "result", "fail");
	fake_send(&f, &a);
	loop_until(&res.n, 4);
	ck_assert_int_eq(res.status, AUTHD_FAIL);
	(void)authd_client_user(c, "dan@example.test", user_cb, &res);
	loop_until(&f.nmsgs, 5);
	a = ipc_msg_new(IPC_USER_RESULT, f.msgs[4]->peer_id);
	ipc_add_str(a, "result", "tempfail");
	fake_send(&f, &a);
	loop_until(&res.n, 5);
	ck_assert_int_eq(res.status, AUTHD_TEMPFAIL);

	authd_client_free(&c);
	fake_stop(&f);
}
END_TEST

START_TEST(test_cancel)
{
	struct authd_client	*c;
	struct authd_request	*r, *r2;
	struct ipc_msg		*a;
	struct fake		 f;
	struct res		 res, res2;
	uint32_t		 id;

	fake_start(&f);
	memset(&res, 0, sizeof(res));
	memset(&res2, 0, sizeof(res2));
	c = authd_client_new(base, sock_path, "smtpd");
	r = authd_client_auth(c, "PLAIN", "smtp", "192.0.2.1", false, NULL, 0,
	    auth_cb, &res);
	r2 = authd_client_rcpt(c, "a@example.test", "", false, rcpt_cb, &res2);
	loop_until(&f.nmsgs, 2);
	id = f.msgs[0]->peer_id;
	authd_request_cancel(&r);
	ck_assert_ptr_null(r);
	authd_request_cancel(&r);	/* NULL is fine */
	authd_request_cancel(&r2);
	loop_until(&f.nmsgs, 3);
	ck_assert_uint_eq(f.msgs[2]->type, IPC_AUTH_ABORT);
	ck_assert_uint_eq(f.msgs[2]->peer_id, id);
	/* The late answers are ignored. */
	a = ipc_msg_new(IPC_AUTH_RESULT, id);
	ipc_add_str(a, "result", "ok");
	fake_send(&f, &a);
	a = ipc_msg_new(IPC_RCPT_RESULT, f.msgs[1]->peer_id);
	ipc_add_str(a, "result", "local");
	fake_send(&f, &a);
	loop_for(100);
	ck_assert_uint_eq(res.n, 0);
	ck_assert_uint_eq(res2.n, 0);
	ck_assert_uint_eq(f.nmsgs, 3);

	/* Cancelling an AUTH after a CONTINUE also sends ABORT. */
	res.req = authd_client_auth(c, "LOGIN", "smtp", "192.0.2.1", false,
	    NULL, 0, auth_cb, &res);
	loop_until(&f.nmsgs, 4);
	a = ipc_msg_new(IPC_AUTH_CONTINUE, f.msgs[3]->peer_id);
	ipc_add_data(a, "challenge", "Username:", 9);
	fake_send(&f, &a);
	loop_until(&res.n, 1);
	authd_request_cancel(&res.req);
	loop_until(&f.nmsgs, 5);
	ck_assert_uint_eq(f.msgs[4]->type, IPC_AUTH_ABORT);
	ck_assert_uint_eq(f.msgs[4]->peer_id, f.msgs[3]->peer_id);

	/* A cancelled request that was never answered: no callback. */
	r = authd_client_rcpt(c, "a@example.test", "", false, rcpt_cb, &res2);
	authd_request_cancel(&r);
	fake_stop(&f);
	r = authd_client_user(c, "a@example.test", user_cb, &res2);
	loop_for(100);
	ck_assert_uint_eq(res2.n, 1);	/* the user lookup: TEMPFAIL */
	ck_assert_int_eq(res2.status, AUTHD_TEMPFAIL);
	/* authd is gone: this one waits on failq; cancelled, no callback. */
	r = authd_client_user(c, "a@example.test", user_cb, &res2);
	authd_request_cancel(&r);
	loop_for(50);
	ck_assert_uint_eq(res2.n, 1);
	authd_client_free(&c);
}
END_TEST

START_TEST(test_ipc_error)
{
	struct authd_client	*c;
	struct ipc_msg		*a;
	struct fake		 f;
	struct res		 res;

	fake_start(&f);
	memset(&res, 0, sizeof(res));
	c = authd_client_new(base, sock_path, "smtpd");
	(void)authd_client_auth(c, "CRAM-MD5", "smtp", "192.0.2.1", false,
	    NULL, 0, auth_cb, &res);
	loop_until(&f.nmsgs, 1);
	a = ipc_msg_new(IPC_ERROR, f.msgs[0]->peer_id);
	ipc_add_str(a, "text", "missing or unsupported mech");
	fake_send(&f, &a);
	loop_until(&res.n, 1);
	ck_assert_int_eq(res.status, AUTHD_TEMPFAIL);
	/* The AUTH is also aborted at authd, in case it lives on there. */
	loop_until(&f.nmsgs, 2);
	ck_assert_uint_eq(f.msgs[1]->type, IPC_AUTH_ABORT);

	/* The connection stays usable. */
	(void)authd_client_user(c, "a@example.test", user_cb, &res);
	loop_until(&f.nmsgs, 3);
	a = ipc_msg_new(IPC_ERROR, f.msgs[2]->peer_id);	/* no text */
	fake_send(&f, &a);
	loop_until(&res.n, 2);
	ck_assert_int_eq(res.status, AUTHD_TEMPFAIL);
	ck_assert_uint_eq(f.naccepted, 1);
	authd_client_free(&c);
	fake_stop(&f);
}
END_TEST

START_TEST(test_unreachable)
{
	struct authd_client	*c;
	struct res		 res1, res2, res3;
	char			 longpath[200];

	memset(&res1, 0, sizeof(res1));
	memset(&res2, 0, sizeof(res2));
	memset(&res3, 0, sizeof(res3));
	/* No such socket (ENOENT). */
	c = authd_client_new(base, sock_path, "smtpd");
	ck_assert_ptr_nonnull(authd_client_rcpt(c, "a@example.test", "",
	    false, rcpt_cb, &res1));
	ck_assert_ptr_nonnull(authd_client_auth(c, "PLAIN", "smtp", "::1",
	    false, NULL, 0, auth_cb, &res2));
	ck_assert_ptr_nonnull(authd_client_token(c, "aa", "imap", user_cb,
	    &res3));
	ck_assert_uint_eq(res1.n + res2.n + res3.n, 0);
	loop_until(&res3.n, 1);
	ck_assert_uint_eq(res1.n, 1);
	ck_assert_int_eq(res1.rcpt, AUTHD_RCPT_TEMPFAIL);
	ck_assert_str_eq(res1.transport, "");
	ck_assert(res1.ftransports_null);
	ck_assert_uint_eq(res2.n, 1);
	ck_assert_int_eq(res2.status, AUTHD_TEMPFAIL);
	ck_assert_int_eq(res3.status, AUTHD_TEMPFAIL);

	/*
	 * A callback that retries at once is answered on a later loop, not
	 * inside the same one.
	 */
	memset(&res1, 0, sizeof(res1));
	memset(&res2, 0, sizeof(res2));
	res1.retry = c;
	res1.retry_res = &res2;
	(void)authd_client_rcpt(c, "a@example.test", "", false, rcpt_cb,
	    &res1);
	loop_until(&res2.n, 1);
	authd_client_free(&c);

	/* A path too long for sun_path, and a socket nobody listens on. */
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[sizeof(longpath) - 1] = '\0';
	c = authd_client_new(base, longpath, "smtpd");
	memset(&res1, 0, sizeof(res1));
	(void)authd_client_user(c, "a@example.test", user_cb, &res1);
	loop_until(&res1.n, 1);
	ck_assert_int_eq(res1.status, AUTHD_TEMPFAIL);
	authd_client_free(&c);
}
END_TEST

START_TEST(test_refused)
{
	struct authd_client	*c;
	struct sockaddr_un	 sun;
	struct res		 res;
	int			 s;

	/* A socket file without a listener: ECONNREFUSED. */
	s = socket(AF_UNIX, SOCK_STREAM, 0);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, sock_path, strlen(sock_path) + 1);
	ck_assert_int_eq(bind(s, (struct sockaddr *)&sun, sizeof(sun)), 0);
	close(s);
	memset(&res, 0, sizeof(res));
	c = authd_client_new(base, sock_path, "smtpd");
	(void)authd_client_user(c, "a@example.test", user_cb, &res);
	ck_assert_uint_eq(res.n, 0);
	loop_until(&res.n, 1);
	ck_assert_int_eq(res.status, AUTHD_TEMPFAIL);
	authd_client_free(&c);
}
END_TEST

START_TEST(test_server_closes)
{
	struct authd_client	*c;
	struct ipc_msg		*a;
	struct fake		 f;
	struct res		 res1, res2, res3;

	fake_start(&f);
	memset(&res1, 0, sizeof(res1));
	memset(&res2, 0, sizeof(res2));
	memset(&res3, 0, sizeof(res3));
	c = authd_client_new(base, sock_path, "smtpd");
	(void)authd_client_rcpt(c, "a@example.test", "", false, rcpt_cb,
	    &res1);
	res2.req = authd_client_auth(c, "LOGIN", "smtp", "::1", false, NULL,
	    0, auth_cb, &res2);
	loop_until(&f.nmsgs, 2);
	/* The AUTH waits for the caller after a CONTINUE... */
	a = ipc_msg_new(IPC_AUTH_CONTINUE, f.msgs[1]->peer_id);
	ipc_add_data(a, "challenge", "x", 1);
	fake_send(&f, &a);
	loop_until(&res2.n, 1);
	/* ...and fails too when the connection goes. */
	ipc_conn_free(&f.conn);
	loop_until(&res1.n, 1);
	loop_until(&res2.n, 2);
	ck_assert_int_eq(res1.rcpt, AUTHD_RCPT_TEMPFAIL);
	ck_assert_int_eq(res2.status, AUTHD_TEMPFAIL);
	ck_assert_ptr_null(res2.req);	/* freed after the TEMPFAIL */

	/* The next request reconnects and says HELLO again. */
	(void)authd_client_user(c, "a@example.test", user_cb, &res3);
	loop_until(&f.nmsgs, 3);
	ck_assert_uint_eq(f.naccepted, 2);
	ck_assert_uint_eq(f.nhello, 2);
	a = ipc_msg_new(IPC_USER_RESULT, f.msgs[2]->peer_id);
	ipc_add_str(a, "result", "notfound");
	fake_send(&f, &a);
	loop_until(&res3.n, 1);
	ck_assert_int_eq(res3.status, AUTHD_FAIL);

	/* Closing right on receipt of a request. */
	f.close_on_request = true;
	memset(&res3, 0, sizeof(res3));
	(void)authd_client_user(c, "a@example.test", user_cb, &res3);
	loop_until(&res3.n, 1);
	ck_assert_int_eq(res3.status, AUTHD_TEMPFAIL);
	authd_client_free(&c);
	fake_stop(&f);
}
END_TEST

START_TEST(test_timeout)
{
	struct authd_client	*c;
	struct fake		 f;
	struct res		 res1, res2;

	fake_start(&f);
	memset(&res1, 0, sizeof(res1));
	memset(&res2, 0, sizeof(res2));
	c = authd_client_new(base, sock_path, "smtpd");
	(void)authd_client_rcpt(c, "a@example.test", "", false, rcpt_cb,
	    &res1);
	loop_for(300);
	(void)authd_client_user(c, "a@example.test", user_cb, &res2);
	loop_until(&f.nmsgs, 2);
	loop_for(500);
	ck_assert_uint_eq(res1.n, 0);
	/* ipc_timeout = 1s: both fail when the first times out. */
	loop_until(&res1.n, 1);
	loop_until(&res2.n, 1);
	ck_assert_int_eq(res1.rcpt, AUTHD_RCPT_TEMPFAIL);
	ck_assert_int_eq(res2.status, AUTHD_TEMPFAIL);
	/* The connection was closed. */
	loop_until(&f.nclosed, 1);
	authd_client_free(&c);
	fake_stop(&f);
}
END_TEST

START_TEST(test_wrong_type)
{
	struct authd_client	*c;
	struct ipc_msg		*a;
	struct fake		 f;
	struct res		 res;

	fake_start(&f);
	memset(&res, 0, sizeof(res));
	c = authd_client_new(base, sock_path, "smtpd");
	(void)authd_client_rcpt(c, "a@example.test", "", false, rcpt_cb,
	    &res);
	loop_until(&f.nmsgs, 1);
	a = ipc_msg_new(IPC_USER_RESULT, f.msgs[0]->peer_id);
	ipc_add_str(a, "result", "ok");
	fake_send(&f, &a);
	loop_until(&res.n, 1);
	ck_assert_int_eq(res.rcpt, AUTHD_RCPT_TEMPFAIL);

	/* An AUTH_CONTINUE is no answer to a USER_LOOKUP either. */
	memset(&res, 0, sizeof(res));
	(void)authd_client_user(c, "a@example.test", user_cb, &res);
	loop_until(&f.nmsgs, 2);
	a = ipc_msg_new(IPC_AUTH_CONTINUE, f.msgs[1]->peer_id);
	ipc_add_data(a, "challenge", "x", 1);
	fake_send(&f, &a);
	loop_until(&res.n, 1);
	ck_assert_int_eq(res.status, AUTHD_TEMPFAIL);
	ck_assert_uint_eq(f.naccepted, 1);
	ck_assert_uint_eq(f.nclosed, 0);
	authd_client_free(&c);
	fake_stop(&f);
}
END_TEST

START_TEST(test_unknown_peer_id)
{
	struct authd_client	*c;
	struct ipc_msg		*a;
	struct fake		 f;
	struct res		 res;

	fake_start(&f);
	memset(&res, 0, sizeof(res));
	c = authd_client_new(base, sock_path, "smtpd");
	(void)authd_client_rcpt(c, "a@example.test", "", false, rcpt_cb,
	    &res);
	loop_until(&f.nmsgs, 1);
	a = ipc_msg_new(IPC_RCPT_RESULT, f.msgs[0]->peer_id + 1000);
	ipc_add_str(a, "result", "local");
	fake_send(&f, &a);
	a = ipc_msg_new(IPC_OK, 0);	/* a second OK to HELLO: ignored */
	fake_send(&f, &a);
	loop_for(100);
	ck_assert_uint_eq(res.n, 0);
	a = ipc_msg_new(IPC_RCPT_RESULT, f.msgs[0]->peer_id);
	ipc_add_str(a, "result", "unknown");
	fake_send(&f, &a);
	loop_until(&res.n, 1);
	ck_assert_int_eq(res.rcpt, AUTHD_RCPT_UNKNOWN);
	authd_client_free(&c);
	fake_stop(&f);
}
END_TEST

START_TEST(test_hello_refused)
{
	struct authd_client	*c;
	struct fake		 f;
	struct res		 res1, res2;

	fake_start(&f);
	f.refuse_hello = true;
	memset(&res1, 0, sizeof(res1));
	memset(&res2, 0, sizeof(res2));
	c = authd_client_new(base, sock_path, "smtpd");
	(void)authd_client_rcpt(c, "a@example.test", "", false, rcpt_cb,
	    &res1);
	(void)authd_client_auth(c, "PLAIN", "smtp", "::1", false, NULL, 0,
	    auth_cb, &res2);
	loop_until(&res1.n, 1);
	loop_until(&res2.n, 1);
	ck_assert_int_eq(res1.rcpt, AUTHD_RCPT_TEMPFAIL);
	ck_assert_int_eq(res2.status, AUTHD_TEMPFAIL);
	ck_assert_uint_eq(f.nhello, 1);
	authd_client_free(&c);
	fake_stop(&f);
}
END_TEST

START_TEST(test_max_pending)
{
	struct authd_client	*c;
	struct fake		 f;
	struct res		 res, over;
	unsigned int		 i;

	fake_start(&f);
	memset(&res, 0, sizeof(res));
	memset(&over, 0, sizeof(over));
	c = authd_client_new(base, sock_path, "smtpd");
	for (i = 0; i < AUTHD_CLIENT_MAX_PENDING; i++)
		(void)authd_client_rcpt(c, "a@example.test", "", false,
		    rcpt_cb, &res);
	(void)authd_client_rcpt(c, "a@example.test", "", false, rcpt_cb,
	    &over);
	ck_assert_uint_eq(over.n, 0);
	loop_until(&over.n, 1);
	ck_assert_int_eq(over.rcpt, AUTHD_RCPT_TEMPFAIL);
	ck_assert_uint_eq(res.n, 0);
	/* Pending requests are dropped without callbacks. */
	authd_client_free(&c);
	ck_assert_uint_eq(res.n, 0);
	fake_stop(&f);
}
END_TEST

/* A callback may cancel itself (no-op) and other requests. */
START_TEST(test_cancel_in_callback)
{
	struct authd_client	*c;
	struct ipc_msg		*a;
	struct fake		 f;
	struct res		 res1, res2, res3;

	fake_start(&f);
	memset(&res1, 0, sizeof(res1));
	memset(&res2, 0, sizeof(res2));
	memset(&res3, 0, sizeof(res3));
	c = authd_client_new(base, sock_path, "smtpd");
	res1.req = authd_client_rcpt(c, "a@example.test", "", false, rcpt_cb,
	    &res1);
	res1.cancel_self = true;
	res1.cancel_other = &res2.req;
	res2.req = authd_client_user(c, "b@example.test", user_cb, &res2);
	loop_until(&f.nmsgs, 2);
	a = ipc_msg_new(IPC_RCPT_RESULT, f.msgs[0]->peer_id);
	ipc_add_str(a, "result", "unknown");
	fake_send(&f, &a);
	a = ipc_msg_new(IPC_USER_RESULT, f.msgs[1]->peer_id);
	ipc_add_str(a, "result", "ok");
	fake_send(&f, &a);
	loop_until(&res1.n, 1);
	loop_for(100);
	ck_assert_uint_eq(res2.n, 0);
	ck_assert_ptr_null(res2.req);

	/* The same while failing from the loop (connection lost). */
	memset(&res1, 0, sizeof(res1));
	memset(&res2, 0, sizeof(res2));
	memset(&res3, 0, sizeof(res3));
	res1.req = authd_client_auth(c, "PLAIN", "smtp", "::1", false, NULL, 0,
	    auth_cb, &res1);
	res1.cancel_self = true;
	res1.cancel_other = &res2.req;
	res2.req = authd_client_rcpt(c, "a@example.test", "", false, rcpt_cb,
	    &res2);
	res3.req = authd_client_user(c, "b@example.test", user_cb, &res3);
	loop_until(&f.nmsgs, 5);
	ipc_conn_free(&f.conn);
	loop_until(&res3.n, 1);
	ck_assert_uint_eq(res1.n, 1);
	ck_assert_int_eq(res1.status, AUTHD_TEMPFAIL);
	ck_assert_uint_eq(res2.n, 0);
	ck_assert_int_eq(res3.status, AUTHD_TEMPFAIL);
	authd_client_free(&c);
	fake_stop(&f);
}
END_TEST

/* An AUTH between steps has no deadline; a reply then is an error. */
START_TEST(test_auth_idle)
{
	struct authd_client	*c;
	struct ipc_msg		*a;
	struct fake		 f;
	struct res		 res;

	fake_start(&f);
	memset(&res, 0, sizeof(res));
	c = authd_client_new(base, sock_path, "smtpd");
	res.req = authd_client_auth(c, "LOGIN", "smtp", "::1", false, NULL, 0,
	    auth_cb, &res);
	loop_until(&f.nmsgs, 1);
	a = ipc_msg_new(IPC_AUTH_CONTINUE, f.msgs[0]->peer_id);
	ipc_add_data(a, "challenge", "Username:", 9);
	fake_send(&f, &a);
	loop_until(&res.n, 1);
	loop_for(1300);		/* longer than ipc_timeout */
	ck_assert_uint_eq(res.n, 1);
	ck_assert_uint_eq(f.nclosed, 0);
	ck_assert_int_eq(authd_client_auth_continue(res.req,
	    (const uint8_t *)"u", 1), 0);
	loop_until(&f.nmsgs, 2);
	a = ipc_msg_new(IPC_AUTH_CONTINUE, f.msgs[0]->peer_id);
	ipc_add_data(a, "challenge", "Password:", 9);
	fake_send(&f, &a);
	loop_until(&res.n, 2);
	/* authd speaks while it is the caller's turn: TEMPFAIL, ABORT. */
	a = ipc_msg_new(IPC_AUTH_RESULT, f.msgs[0]->peer_id);
	ipc_add_str(a, "result", "ok");
	fake_send(&f, &a);
	loop_until(&res.n, 3);
	ck_assert_int_eq(res.status, AUTHD_TEMPFAIL);
	loop_until(&f.nmsgs, 3);
	ck_assert_uint_eq(f.msgs[2]->type, IPC_AUTH_ABORT);
	authd_client_free(&c);
	fake_stop(&f);
}
END_TEST

static Suite *
authd_client_suite(void)
{
	Suite	*s = suite_create("authd_client");
	TCase	*tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_rcpt_happy);
	tcase_add_test(tc, test_rcpt_validation);
	tcase_add_test(tc, test_rcpt_transports);
	tcase_add_test(tc, test_auth_continue_twice);
	tcase_add_test(tc, test_auth_results);
	tcase_add_test(tc, test_token_user);
	tcase_add_test(tc, test_cancel);
	tcase_add_test(tc, test_ipc_error);
	tcase_add_test(tc, test_unreachable);
	tcase_add_test(tc, test_refused);
	tcase_add_test(tc, test_server_closes);
	tcase_add_test(tc, test_timeout);
	tcase_add_test(tc, test_wrong_type);
	tcase_add_test(tc, test_unknown_peer_id);
	tcase_add_test(tc, test_hello_refused);
	tcase_add_test(tc, test_max_pending);
	tcase_add_test(tc, test_cancel_in_callback);
	tcase_add_test(tc, test_auth_idle);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr;
	int	 failed;

	sr = srunner_create(authd_client_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
