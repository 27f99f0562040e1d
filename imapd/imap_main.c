/* SPDX-License-Identifier: ISC */
/*
 * postern-imap: the IMAP sessions of logged-in users (postern-imapd(8)).
 * Runs as the mail user.  imap-login connects to login/imap once per
 * client that has logged in and passes its connection (the socket, or a
 * socketpair it proxies to TLS) with authd's one-time token; this
 * process learns who the user is by redeeming the token with authd,
 * never from imap-login, then answers the client's login command and
 * runs the session (imap_session.c) on the user's mail store.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/queue.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/authd_client.h"
#include "common/conf.h"
#include "common/error.h"
#include "common/ipc.h"
#include "common/log.h"
#include "common/service.h"
#include "common/str.h"
#include "common/xmalloc.h"
#include "imap_session.h"
#include "imapd.h"
#include "common/banned.h"

/* A handover waiting for authd to say whose it is. */
struct imapd_handover {
	struct imapd		*d;
	struct ipc_conn		*ipc;
	struct authd_request	*req;
	int			 fd;
	char			*tag;
	char			*client;
	char			*tls_info;
	bool			 secured;
	struct buf		*input;
};

static void
imapd_handover_free(struct imapd_handover *h)
{
	authd_request_cancel(&h->req);
	if (h->fd != -1)
		(void)close(h->fd);
	free(h->tag);
	free(h->client);
	free(h->tls_info);
	buf_free_secret(&h->input);
	free(h);
	/* The handover counted as a client until it became a session. */
}

/* Tells a client whose login cannot complete, and closes. */
static void
imapd_handover_refuse(struct imapd_handover *h, const char *text)
{
	char	line[512];
	int	n;

	n = snprintf(line, sizeof(line), "%s NO %s\r\n", h->tag, text);
	if (n > 0 && (size_t)n < sizeof(line))
		(void)!write(h->fd, line, (size_t)n);
}

static void
imapd_token_cb(const struct authd_user_reply *r, void *ctx)
{
	struct imapd_handover	*h = ctx;
	struct imapd		*d = h->d;
	struct imap_session	*s;

	h->req = NULL;
	if (r->status != AUTHD_OK) {
		log_info("handover from %s refused: %s", h->client,
		    r->status == AUTHD_FAIL ? "invalid token" :
		    "authd unavailable");
		imapd_handover_refuse(h, r->status == AUTHD_FAIL ?
		    "[AUTHENTICATIONFAILED] Authentication failed." :
		    "[UNAVAILABLE] Temporary authentication failure.");
	} else if (r->has_owner) {
		/* Unix accounts would need their own uid: not served here. */
		log_error("user=<%s>: a Unix account's mailbox; imap serves "
		    "virtual mailboxes only", log_safe(r->user));
		imapd_handover_refuse(h, "[UNAVAILABLE] Mailbox not "
		    "available over IMAP.");
	} else {
		s = imap_session_new(d, h->fd, r->user, r->maildir, h->client,
		    h->secured, h->tls_info, h->tag, h->input->data,
		    h->input->len);
		if (s != NULL)
			h->fd = -1;		/* the session's now */
		else
			imapd_handover_refuse(h, "[UNAVAILABLE] Mailbox "
			    "not available.");
	}
	imapd_handover_free(h);
	service_client_closed(d->sv);
}

static int
imapd_handover_msg(struct ipc_conn *c, struct ipc_msg *m, void *ctx)
{
	struct imapd		*d = ctx;
	struct imapd_handover	*h;
	const char		*token, *tag, *client, *tls_info = "";
	const uint8_t		*input = NULL;
	size_t			 input_len = 0;
	uint64_t		 tls = 0;

	(void)c;
	if (m->type != IPC_IMAP_HANDOVER || m->fd == -1 ||
	    ipc_get_str(m, "token", 256, &token) == -1 ||
	    ipc_get_str(m, "tag", 127, &tag) == -1 ||
	    ipc_get_str(m, "client", 63, &client) == -1 ||
	    ipc_get_u64(m, "tls", 1, &tls) == -1 ||
	    (ipc_has(m, "tls_info") && ipc_get_str(m, "tls_info", 127,
	    &tls_info) == -1) ||
	    (ipc_has(m, "input") && ipc_get_data(m, "input",
	    IMAPD_HANDOVER_MAX, &input, &input_len) == -1)) {
		log_warning("malformed handover from %s", ipc_conn_peer(c));
		ipc_msg_free(&m);
		return -1;
	}
	h = xcalloc(1, sizeof(*h));
	h->d = d;
	h->fd = m->fd;
	m->fd = -1;
	h->tag = xstrdup(tag);
	h->client = xstrdup(client);
	h->tls_info = xstrdup(tls_info);
	h->secured = tls != 0;
	h->input = buf_new(input_len, input_len);
	if (input_len > 0 && buf_append(h->input, input, input_len) == -1)
		log_panic("handover input");
	service_client_opened(d->sv);
	h->req = authd_client_token(d->authd, token, IMAPD_SERVICE,
	    imapd_token_cb, h);
	ipc_msg_free(&m);
	return -1;		/* one message per connection */
}

static void
imapd_handover_close(struct ipc_conn *c, const char *reason ATTR_UNUSED,
    void *ctx ATTR_UNUSED)
{
	ipc_conn_free(&c);
}

static void
imapd_accept(struct service *sv, int fd, const struct service_listener *l,
    const struct sockaddr *peer ATTR_UNUSED, socklen_t peer_len ATTR_UNUSED)
{
	struct imapd	*d = service_ctx(sv);
	char		*name;

	if (!l->is_unix) {
		log_warning("imap: listener %s is not a Unix socket: only "
		    "imap-login connects here", l->address);
		(void)close(fd);
		return;
	}
	name = ipc_peer_name(fd, "imap-login");
	(void)ipc_conn_new(service_base(sv), fd, IMAPD_HANDOVER_MAX, name,
	    imapd_handover_msg, imapd_handover_close, d);
	free(name);
}

static int
imapd_pre_jail(struct service *sv, const char **error_r ATTR_UNUSED)
{
	struct imapd	*d;

	d = xcalloc(1, sizeof(*d));
	d->sv = sv;
	TAILQ_INIT(&d->sessions);
	service_set_ctx(sv, d);
	imapd_limits(&d->lim);
	mstore_limits_init(&d->store_lim);
	d->store_lim.max_folders = cfg->mailstore_max_folders;
	/* INTERNALDATE and dates of SEARCH use the local zone. */
	tzset();
	return 0;
}

static int
imapd_post_jail(struct service *sv, const char **error_r)
{
	struct imapd	*d = service_ctx(sv);
	char		*path;

	if (strcmp(service_conf(sv)->chroot, "no") != 0) {
		*error_r = "imap.chroot must be no (the mail processes reach "
		    "authd's token socket in queue_directory/login)";
		return -1;
	}
	/* authd's token socket by its full path: we stay outside the spool. */
	path = xasprintf("%s/%s", cfg->queue_directory, IMAPD_TOKEN_SOCKET);
	d->authd = authd_client_new(service_base(sv), path, "imap");
	free(path);
	return 0;
}

static void
imapd_stop(struct service *sv)
{
	struct imapd		*d = service_ctx(sv);
	struct imap_session	*s;

	TAILQ_FOREACH(s, &d->sessions, entry) {
		if (s->conn.closing)
			continue;
		imap_conn_printf(&s->conn, "* BYE Server shutting down.\r\n");
		imap_conn_close(&s->conn);
	}
}

static void
imapd_exit(struct service *sv)
{
	struct imapd	*d = service_ctx(sv);

	if (d == NULL)
		return;
	while (!TAILQ_EMPTY(&d->sessions))
		imap_session_free(TAILQ_FIRST(&d->sessions));
	authd_client_free(&d->authd);
	free(d);
	service_set_ctx(sv, NULL);
}

int
main(int argc, char *argv[])
{
	static const struct service_def def = {
		.name		= "imap",
		.pre_jail	= imapd_pre_jail,
		.post_jail	= imapd_post_jail,	/* authd client */
		.on_accept	= imapd_accept,		/* a handover */
		.on_stop	= imapd_stop,
		.on_exit	= imapd_exit,
	};
	return service_main(&def, argc, argv);
}
