/* SPDX-License-Identifier: ISC */
/*
 * postern-imap-login: IMAP until the client has logged in
 * (postern-imapd(8)).  Runs as postern-login, chrooted into
 * queue_directory/login, where it finds only authd's login socket and
 * the imap processes' handover socket.  It speaks TLS (993, STARTTLS on
 * 143), CAPABILITY, NOOP, LOGOUT, ID, LOGIN and AUTHENTICATE (PLAIN,
 * LOGIN, SASL-IR) through authd, and hands a logged-in client to an
 * imap process with the one-time token authd issued: the socket itself
 * when there is no TLS, else one end of a socketpair that this process
 * keeps proxying to the TLS connection.  The imap process answers the
 * login command.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "common/authd_client.h"
#include "common/cidr.h"
#include "common/conf.h"
#include "common/error.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/mime.h"
#include "common/net.h"
#include "common/service.h"
#include "common/str.h"
#include "common/tls.h"
#include "common/xmalloc.h"
#include "imap_conn.h"
#include "imap_parse.h"
#include "imapd.h"
#include "common/banned.h"

/* Longest SASL message either way, decoded. */
#define LOGIN_SASL_MAX		8192
/* A proxied side stops reading while the other has this much to send. */
#define LOGIN_PROXY_HIGH	(256 * 1024)

struct login_session;

struct login {
	struct service		*sv;
	SSL_CTX			*tls;
	struct authd_client	*authd;
	struct imap_limits	 lim;
	TAILQ_HEAD(, login_session) sessions;
	TAILQ_HEAD(, login_proxy) proxies;
};

struct login_session {
	TAILQ_ENTRY(login_session) entry;
	struct login		*l;
	struct imap_conn	 conn;
	struct imap_cmd		 cmd;
	struct authd_request	*req;
	char			 local[64];
	char			 tag[128];
	unsigned int		 commands;
	bool			 authenticating;	/* AUTHENTICATE lines */
};

/* A handed-over TLS client: bytes go between it and the imap process. */
struct login_proxy {
	TAILQ_ENTRY(login_proxy) entry;
	struct login		*l;
	struct bufferevent	*client;	/* TLS */
	struct bufferevent	*mail;		/* socketpair to imap */
	char			 addr[64];
	bool			 closing;
};

static void	login_session_free(struct login_session *s);

/* ---- replies ------------------------------------------------------------- */

static bool
login_allowed(const struct login_session *s)
{
	if (s->conn.secured || strcmp(cfg->imapd_plaintext_login, "yes") == 0)
		return true;
	return strcmp(cfg->imapd_plaintext_login, "loopback") == 0 &&
	    imapd_is_loopback(s->conn.addr);
}

/* Answers NO when a password may not be taken here. */
static bool
login_check_allowed(struct login_session *s)
{
	if (login_allowed(s))
		return true;
	imap_conn_tagged(&s->conn, s->tag, "NO", "[PRIVACYREQUIRED] "
	    "Plaintext authentication disallowed on non-secure connections.");
	return false;
}

static void
login_capability(struct login_session *s, struct buf *b)
{
	imapd_capabilities(b, true, s->l->tls != NULL, s->conn.secured,
	    login_allowed(s));
}

static void
login_greet(struct login_session *s)
{
	struct buf	*b = buf_new(256, 4096);

	login_capability(s, b);
	imap_conn_printf(&s->conn, "* OK [CAPABILITY %s] postern ready.\r\n",
	    buf_cstr(b));
	buf_free(&b);
}

/* ---- proxy ---------------------------------------------------------------- */

static void
login_proxy_free(struct login_proxy *p)
{
	TAILQ_REMOVE(&p->l->proxies, p, entry);
	bufferevent_free(p->client);
	bufferevent_free(p->mail);
	service_client_closed(p->l->sv);
	free(p);
}

static void
login_proxy_move(struct bufferevent *from, struct bufferevent *to)
{
	(void)evbuffer_add_buffer(bufferevent_get_output(to),
	    bufferevent_get_input(from));
	if (evbuffer_get_length(bufferevent_get_output(to)) >
	    LOGIN_PROXY_HIGH)
		(void)bufferevent_disable(from, EV_READ);
}

static void
login_proxy_read_cb(struct bufferevent *bev, void *arg)
{
	struct login_proxy *p = arg;

	if (p->closing)
		return;
	login_proxy_move(bev, bev == p->client ? p->mail : p->client);
}

static void
login_proxy_write_cb(struct bufferevent *bev, void *arg)
{
	struct login_proxy *p = arg;
	struct bufferevent *other = bev == p->client ? p->mail : p->client;

	if (p->closing) {
		if (evbuffer_get_length(bufferevent_get_output(p->client)) == 0)
			login_proxy_free(p);
		return;
	}
	if (evbuffer_get_length(bufferevent_get_output(bev)) <
	    LOGIN_PROXY_HIGH / 2)
		(void)bufferevent_enable(other, EV_READ);
}

static void
login_proxy_event_cb(struct bufferevent *bev, short what ATTR_UNUSED,
    void *arg)
{
	struct login_proxy *p = arg;
	SSL		*ssl;

	/* The imap process ended the session: let its last words out. */
	if (bev == p->mail && !p->closing) {
		login_proxy_move(p->mail, p->client);
		p->closing = true;
		(void)bufferevent_disable(p->client, EV_READ);
		(void)bufferevent_disable(p->mail, EV_READ | EV_WRITE);
		if ((ssl = tls_bufferevent_ssl(p->client)) != NULL &&
		    evbuffer_get_length(bufferevent_get_output(p->client)) ==
		    0) {
			(void)SSL_shutdown(ssl);
			ERR_clear_error();
		}
		if (evbuffer_get_length(bufferevent_get_output(p->client)) > 0)
			return;
	}
	login_proxy_free(p);
}

static int
login_proxy_start(struct login *l, struct bufferevent *client, int mail_fd,
    const char *addr)
{
	struct login_proxy	*p;
	struct timeval		 tv = { (time_t)cfg->imapd_idle_timeout + 60,
				    0 };

	p = xcalloc(1, sizeof(*p));
	p->l = l;
	p->client = client;
	(void)snprintf(p->addr, sizeof(p->addr), "%s", addr);
	p->mail = bufferevent_socket_new(service_base(l->sv), mail_fd,
	    BEV_OPT_CLOSE_ON_FREE);
	if (p->mail == NULL) {
		(void)close(mail_fd);
		free(p);
		return -1;
	}
	TAILQ_INSERT_TAIL(&l->proxies, p, entry);
	bufferevent_setcb(p->client, login_proxy_read_cb, login_proxy_write_cb,
	    login_proxy_event_cb, p);
	bufferevent_setcb(p->mail, login_proxy_read_cb, login_proxy_write_cb,
	    login_proxy_event_cb, p);
	/* The imap process keeps its own idle timer; this one is a backstop. */
	(void)bufferevent_set_timeouts(p->client, &tv, NULL);
	(void)bufferevent_enable(p->client, EV_READ | EV_WRITE);
	(void)bufferevent_enable(p->mail, EV_READ | EV_WRITE);
	return 0;
}

/* ---- handover ------------------------------------------------------------- */

/*
 * Passes the logged-in client to an imap process.  On success the
 * session is gone (its client count moves to the proxy, or ends); on
 * failure the client gets NO and stays here.
 */
static int
login_handover(struct login_session *s, const char *token)
{
	struct ipc_msg		*m;
	struct buf		*rest;
	struct bufferevent	*tlsbev = NULL;
	const char		*error;
	int			 sock, fd = -1, pair[2] = { -1, -1 }, rc = -1;

	if ((sock = ipc_connect(IMAPD_HANDOVER_SOCKET, &error)) == -1) {
		log_error("handover of %s: %s", s->conn.addr, error);
		return -1;
	}
	rest = buf_new(0, IMAPD_HANDOVER_MAX - 4096);
	m = ipc_msg_new(IPC_IMAP_HANDOVER, 0);
	ipc_add_str(m, "token", token);
	ipc_add_str(m, "tag", s->tag);
	ipc_add_str(m, "client", s->conn.addr);
	ipc_add_str(m, "local", s->local);
	ipc_add_u64(m, "tls", s->conn.secured ? 1 : 0);
	if (s->conn.tls_info[0] != '\0')
		ipc_add_str(m, "tls_info", s->conn.tls_info);
	if (imap_conn_detach(&s->conn, rest, &fd, &tlsbev, &error) == -1) {
		log_error("handover of %s: %s", s->conn.addr, error);
		goto out;
	}
	if (rest->len > 0)
		ipc_add_data(m, "input", rest->data, rest->len);
	if (tlsbev != NULL) {
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
		    pair) == -1) {
			log_error("handover of %s: socketpair: %s",
			    s->conn.addr, strerror(errno));
			bufferevent_free(tlsbev);
			goto out;
		}
		fd = pair[0];
	}
	if (ipc_write(sock, m, fd, &error) == -1) {
		log_error("handover of %s: %s", s->conn.addr, error);
		if (tlsbev != NULL)
			bufferevent_free(tlsbev);
		goto out;
	}
	if (tlsbev != NULL) {
		(void)net_set_nonblock(pair[1]);
		if (login_proxy_start(s->l, tlsbev, pair[1], s->conn.addr) ==
		    -1) {
			bufferevent_free(tlsbev);
			pair[1] = -1;
			goto out;
		}
		pair[1] = -1;
		service_client_opened(s->l->sv);	/* the proxy's */
	}
	rc = 0;
out:
	/* The connection was taken apart: the session ends either way. */
	if (fd != -1)
		(void)close(fd);
	if (pair[1] != -1)
		(void)close(pair[1]);
	(void)close(sock);
	ipc_msg_free(&m);
	buf_free_secret(&rest);
	if (rc == -1)
		log_info("handover of %s failed: disconnecting", s->conn.addr);
	login_session_free(s);
	return rc;
}

/* ---- authentication ------------------------------------------------------- */

static void
login_auth_cb(const struct authd_auth_reply *r, void *ctx)
{
	struct login_session	*s = ctx;
	char			*b64;
	size_t			 n;

	if (r->status == AUTHD_CONTINUE) {
		n = 4 * ((r->challenge_len + 2) / 3) + 1;
		b64 = xmalloc(n);
		(void)EVP_EncodeBlock((unsigned char *)b64, r->challenge,
		    (int)r->challenge_len);
		imap_conn_printf(&s->conn, "+ %s\r\n", b64);
		free(b64);
		s->authenticating = true;
		imap_conn_set_line_mode(&s->conn, true);
		imap_conn_resume(&s->conn);
		return;
	}
	s->req = NULL;
	s->authenticating = false;
	imap_conn_set_line_mode(&s->conn, false);
	switch (r->status) {
	case AUTHD_OK:
		log_info("login: user=<%s>, client=%s, %s", log_safe(r->user),
		    s->conn.addr, s->conn.secured ? "TLS" : "plaintext");
		(void)login_handover(s, r->token);
		return;		/* s is gone */
	case AUTHD_FAIL:
		imap_conn_tagged(&s->conn, s->tag, "NO", "[AUTHENTICATIONFAILED] "
		    "Authentication failed.");
		break;
	default:
		imap_conn_tagged(&s->conn, s->tag, "NO", "[UNAVAILABLE] "
		    "Temporary authentication failure.");
		break;
	}
	imap_conn_resume(&s->conn);
}

static void
login_auth_start(struct login_session *s, const char *mech,
    const uint8_t *resp, size_t resp_len)
{
	s->req = authd_client_auth(s->l->authd, mech, IMAPD_SERVICE,
	    s->conn.addr, s->conn.secured, resp, resp_len, login_auth_cb, s);
	imap_conn_pause(&s->conn);
}

static void
login_cmd_login(struct login_session *s)
{
	struct imap_str	 user, pass;
	struct buf	*resp;
	const char	*error;

	if (imap_parse_login(&s->cmd, &user, &pass, &error) == -1) {
		imap_conn_tagged(&s->conn, s->tag, "BAD", "%s", error);
		(void)imap_conn_count_bad(&s->conn);
		return;
	}
	if (!login_check_allowed(s))
		return;
	/* PLAIN: "" NUL user NUL password. */
	resp = buf_new(user.len + pass.len + 2, user.len + pass.len + 2);
	if (buf_append_byte(resp, 0) == -1 ||
	    buf_append(resp, user.data, user.len) == -1 ||
	    buf_append_byte(resp, 0) == -1 ||
	    buf_append(resp, pass.data, pass.len) == -1) {
		buf_free_secret(&resp);
		imap_conn_tagged(&s->conn, s->tag, "NO", "Login failed.");
		return;
	}
	login_auth_start(s, "PLAIN", (const uint8_t *)resp->data, resp->len);
	buf_free_secret(&resp);
}

static void
login_cmd_authenticate(struct login_session *s)
{
	struct imap_str	 mech, ir;
	struct buf	*resp;
	const char	*error;
	bool		 has_ir;

	if (imap_parse_authenticate(&s->cmd, &mech, &has_ir, &ir,
	    &error) == -1) {
		imap_conn_tagged(&s->conn, s->tag, "BAD", "%s", error);
		(void)imap_conn_count_bad(&s->conn);
		return;
	}
	if (strcasecmp(mech.data, "PLAIN") != 0 &&
	    strcasecmp(mech.data, "LOGIN") != 0) {
		imap_conn_tagged(&s->conn, s->tag, "NO", "Unsupported "
		    "authentication mechanism.");
		return;
	}
	if (!login_check_allowed(s))
		return;
	if (!has_ir) {
		login_auth_start(s, mech.data, NULL, 0);
		return;
	}
	resp = buf_new(LOGIN_SASL_MAX, LOGIN_SASL_MAX);
	if (mime_decode_base64(resp, ir.data, ir.len) == -1) {
		buf_free_secret(&resp);
		imap_conn_tagged(&s->conn, s->tag, "BAD", "Invalid base64 "
		    "data in the initial response.");
		(void)imap_conn_count_bad(&s->conn);
		return;
	}
	login_auth_start(s, mech.data, (const uint8_t *)resp->data,
	    resp->len);
	buf_free_secret(&resp);
}

/* A line of an AUTHENTICATE exchange. */
static void
login_line(void *ctx, const char *data, size_t len)
{
	struct login_session	*s = ctx;
	struct buf		*resp;
	const char		*b64, *error;
	size_t			 b64_len;
	bool			 cancel;

	if (!s->authenticating || s->req == NULL)
		return;
	if (imap_parse_sasl_response(data, len, &b64, &b64_len, &cancel,
	    &error) == -1 || cancel) {
		authd_request_cancel(&s->req);
		s->authenticating = false;
		imap_conn_set_line_mode(&s->conn, false);
		imap_conn_tagged(&s->conn, s->tag, "BAD", "%s", cancel ?
		    "Authentication aborted by client." : error);
		if (!cancel)
			(void)imap_conn_count_bad(&s->conn);
		return;
	}
	resp = buf_new(LOGIN_SASL_MAX, LOGIN_SASL_MAX);
	if (mime_decode_base64(resp, b64, b64_len) == -1 ||
	    authd_client_auth_continue(s->req, (const uint8_t *)resp->data,
	    resp->len) == -1) {
		buf_free_secret(&resp);
		authd_request_cancel(&s->req);
		s->authenticating = false;
		imap_conn_set_line_mode(&s->conn, false);
		imap_conn_tagged(&s->conn, s->tag, "NO", "Authentication "
		    "failed.");
		return;
	}
	buf_free_secret(&resp);
	imap_conn_pause(&s->conn);
}

/* ---- commands ------------------------------------------------------------- */

static void
login_command(void *ctx, const char *data, size_t len)
{
	struct login_session	*s = ctx;
	struct buf		*b;
	const char		*error;

	if (imap_parse_command(data, len, &s->conn.lim, &s->cmd,
	    &error) == -1) {
		imap_conn_tagged(&s->conn, s->cmd.tag_len > 0 ? s->cmd.tag :
		    NULL, "BAD", "%s", error);
		(void)imap_conn_count_bad(&s->conn);
		return;
	}
	(void)snprintf(s->tag, sizeof(s->tag), "%s", s->cmd.tag);
	if (++s->commands > cfg->imapd_max_login_commands) {
		imap_conn_printf(&s->conn, "* BYE Too many commands before "
		    "login.\r\n");
		imap_conn_close(&s->conn);
		return;
	}
	if (strcmp(s->cmd.name, "CAPABILITY") == 0) {
		b = buf_new(256, 4096);
		login_capability(s, b);
		imap_conn_printf(&s->conn, "* CAPABILITY %s\r\n", buf_cstr(b));
		buf_free(&b);
		imap_conn_tagged(&s->conn, s->tag, "OK", "Capability "
		    "completed.");
	} else if (strcmp(s->cmd.name, "NOOP") == 0)
		imap_conn_tagged(&s->conn, s->tag, "OK", "NOOP completed.");
	else if (strcmp(s->cmd.name, "LOGOUT") == 0) {
		imap_conn_printf(&s->conn, "* BYE Logging out\r\n");
		imap_conn_tagged(&s->conn, s->tag, "OK", "Logout completed.");
		imap_conn_close(&s->conn);
	} else if (strcmp(s->cmd.name, "ID") == 0) {
		struct imap_id id;

		if (imap_parse_id(&s->cmd, &s->conn.lim, &id, &error) == -1) {
			imap_conn_tagged(&s->conn, s->tag, "BAD", "%s", error);
			(void)imap_conn_count_bad(&s->conn);
			return;
		}
		imap_conn_printf(&s->conn, "* ID (\"name\" \"postern\")\r\n");
		imap_conn_tagged(&s->conn, s->tag, "OK", "ID completed.");
	} else if (strcmp(s->cmd.name, "STARTTLS") == 0) {
		if (s->l->tls == NULL || s->conn.tls) {
			imap_conn_tagged(&s->conn, s->tag, "BAD", "%s",
			    s->conn.tls ? "TLS is already active." :
			    "TLS support isn't enabled.");
			(void)imap_conn_count_bad(&s->conn);
			return;
		}
		b = buf_new(64, 256);
		if (buf_printf(b, "%s OK Begin TLS negotiation now.\r\n",
		    s->tag) == -1 || imap_conn_starttls(&s->conn, s->l->tls,
		    buf_cstr(b), &error) == -1) {
			log_error("STARTTLS from %s failed", s->conn.addr);
			imap_conn_close(&s->conn);
		}
		buf_free(&b);
	} else if (strcmp(s->cmd.name, "LOGIN") == 0)
		login_cmd_login(s);
	else if (strcmp(s->cmd.name, "AUTHENTICATE") == 0)
		login_cmd_authenticate(s);
	else {
		imap_conn_tagged(&s->conn, s->tag, "BAD", "Unknown command "
		    "or not allowed before login.");
		(void)imap_conn_count_bad(&s->conn);
	}
}

static void
login_timeout(void *ctx)
{
	struct login_session *s = ctx;

	log_info("timeout before login from %s", s->conn.addr);
	imap_conn_printf(&s->conn, "* BYE Disconnected for inactivity.\r\n");
}

static void
login_closed(void *ctx, const char *reason)
{
	struct login_session *s = ctx;

	log_info("disconnect from %s (%s)", s->conn.addr, reason);
	login_session_free(s);
}

static const struct imap_conn_ops login_ops = {
	.command	= login_command,
	.line		= login_line,
	.timeout	= login_timeout,
	.closed		= login_closed,
};

static void
login_session_free(struct login_session *s)
{
	struct login	*l = s->l;

	authd_request_cancel(&s->req);
	TAILQ_REMOVE(&l->sessions, s, entry);
	imap_conn_free(&s->conn);
	imap_parse_cmd_deinit(&s->cmd);
	free(s);
	service_client_closed(l->sv);
}

static void
login_accept(struct service *sv, int fd, const struct service_listener *li,
    const struct sockaddr *peer, socklen_t peer_len ATTR_UNUSED)
{
	struct login		*l = service_ctx(sv);
	struct login_session	*s, *o;
	struct bufferevent	*bev = NULL;
	struct sockaddr_storage	 ss;
	socklen_t		 sl = sizeof(ss);
	char			 addr[64];
	const char		*error;
	unsigned int		 others = 0;
	int			 one = 1;
	bool			 tls = strcmp(li->role, "imaps") == 0;

	if (peer == NULL || net_addr_str(peer, addr, sizeof(addr)) == -1)
		(void)snprintf(addr, sizeof(addr), "unknown");
	/* Small replies go out at once (no delayed-ACK stall). */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (tls) {
		if (l->tls == NULL) {
			log_warning("imaps listener %s without tls_cert_file: "
			    "dropping %s", li->address, addr);
			(void)close(fd);
			return;
		}
		if (tls_accept_bufferevent(service_base(sv), l->tls, fd, &bev,
		    &error) == -1) {
			log_error("%s: %s", addr, error);
			(void)close(fd);
			return;
		}
	} else if ((bev = bufferevent_socket_new(service_base(sv), fd,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		log_error("%s: bufferevent_socket_new failed", addr);
		(void)close(fd);
		return;
	}
	s = xcalloc(1, sizeof(*s));
	s->l = l;
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == -1 ||
	    net_addr_str((struct sockaddr *)&ss, s->local,
	    sizeof(s->local)) == -1)
		(void)snprintf(s->local, sizeof(s->local), "unknown");
	imap_parse_cmd_init(&s->cmd);
	if (!cidr_list_match(cfg->mynetworks, addr))
		TAILQ_FOREACH(o, &l->sessions, entry)
			if (strcmp(o->conn.addr, addr) == 0)
				others++;
	TAILQ_INSERT_TAIL(&l->sessions, s, entry);
	service_client_opened(sv);
	imap_conn_init(&s->conn, service_base(sv), bev, tls, &l->lim,
	    cfg->imapd_max_bad_commands, cfg->imapd_login_timeout, addr,
	    &login_ops, s);
	log_info("connect from %s%s", addr, tls ? " (imaps)" : "");
	if (others >= cfg->imapd_max_connections_per_client) {
		log_info("reject: too many connections from %s (%u)", addr,
		    others + 1);
		imap_conn_printf(&s->conn, "* BYE Too many connections from "
		    "your address.\r\n");
		imap_conn_close(&s->conn);
		return;
	}
	login_greet(s);
}

static int
login_pre_jail(struct service *sv, const char **error_r)
{
	struct login	*l;

	l = xcalloc(1, sizeof(*l));
	l->sv = sv;
	TAILQ_INIT(&l->sessions);
	TAILQ_INIT(&l->proxies);
	service_set_ctx(sv, l);
	imapd_limits(&l->lim);
	if (cfg->tls_cert_file[0] != '\0') {
		l->tls = tls_server_new(cfg->tls_cert_file, cfg->tls_key_file,
		    cfg->tls_min_protocol, cfg->tls_ciphers,
		    cfg->tls_ciphersuites, error_r);
		if (l->tls == NULL)
			return -1;
	}
	return 0;
}

static int
login_post_jail(struct service *sv, const char **error_r)
{
	struct login	*l = service_ctx(sv);
	char		 dir[4096];

	/* Without a chroot, the same names from the login folder. */
	if (strcmp(service_conf(sv)->chroot, "no") == 0) {
		if (snprintf(dir, sizeof(dir), "%s/login",
		    cfg->queue_directory) >= (int)sizeof(dir) ||
		    chdir(dir) == -1) {
			*error_r = error_fmt("chdir %s/login: %s",
			    cfg->queue_directory, strerror(errno));
			return -1;
		}
	}
	l->authd = authd_client_new(service_base(sv), IMAPD_AUTH_SOCKET,
	    "imap-login");
	return 0;
}

static void
login_stop(struct service *sv)
{
	struct login		*l = service_ctx(sv);
	struct login_session	*s;

	/* Sessions before login end now; proxied ones run out. */
	TAILQ_FOREACH(s, &l->sessions, entry) {
		if (s->conn.closing)
			continue;
		imap_conn_printf(&s->conn, "* BYE Server shutting down.\r\n");
		imap_conn_close(&s->conn);
	}
}

static void
login_exit(struct service *sv)
{
	struct login	*l = service_ctx(sv);

	if (l == NULL)
		return;
	while (!TAILQ_EMPTY(&l->sessions))
		login_session_free(TAILQ_FIRST(&l->sessions));
	while (!TAILQ_EMPTY(&l->proxies))
		login_proxy_free(TAILQ_FIRST(&l->proxies));
	authd_client_free(&l->authd);
	tls_ctx_free(&l->tls);
	free(l);
	service_set_ctx(sv, NULL);
}

int
main(int argc, char *argv[])
{
	static const struct service_def def = {
		.name		= "imap-login",
		.pre_jail	= login_pre_jail,	/* TLS key */
		.post_jail	= login_post_jail,	/* authd client */
		.on_accept	= login_accept,
		.on_stop	= login_stop,
		.on_exit	= login_exit,
	};
	return service_main(&def, argc, argv);
}
