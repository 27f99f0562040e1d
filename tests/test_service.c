/* SPDX-License-Identifier: ISC */
/*
 * tests/test-service: a tiny line service on common/service.h for the
 * master's integration tests (tests/integration/test_master.py).  It is
 * what a real daemon looks like to the master: it inherits its listeners,
 * drops privileges through service_main(), reports its clients and stops
 * gracefully on SIGTERM.
 *
 * On each connection it sends "ready PID" and then answers one line per
 * line received (CRLF or LF, at most TEST_SERVICE_LINE_MAX bytes):
 *	ping	-> pong PID
 *	whoami	-> uid=N gid=N
 *	role	-> the role of the listener the client came in on
 *	quit	-> bye, then the connection is closed
 *	other	-> echo: LINE
 * The service's args (SERVICE.args) may hold "--crash-at-start" (abort()
 * once started, for crash-loop tests) or "--exit-at-start" (exit(0)).
 * Nothing here is meant for production: it trusts its peers only as far
 * as the line limit.
 */
#include "config.h"

#include <sys/queue.h>
#include <sys/types.h>

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "common/buf.h"
#include "common/conf.h"
#include "common/log.h"
#include "common/net.h"
#include "common/service.h"
#include "common/xmalloc.h"

#include "common/banned.h"

#define TEST_SERVICE_LINE_MAX	1000

struct test_client {
	TAILQ_ENTRY(test_client) entry;
	struct test_service	*ts;
	struct bufferevent	*bev;
	struct buf		*line;
	char			*role;
	bool			 skipping;	/* inside an over-long line */
	bool			 closing;	/* "bye" sent, close once flushed */
};

struct test_service {
	struct service			*sv;
	TAILQ_HEAD(, test_client)	 clients;
};

static void
test_client_free(struct test_client **cp, bool count)
{
	struct test_client *c = *cp;

	if (c == NULL)
		return;
	*cp = NULL;
	TAILQ_REMOVE(&c->ts->clients, c, entry);
	bufferevent_free(c->bev);	/* closes the socket */
	buf_free(&c->line);
	free(c->role);
	if (count)
		service_client_closed(c->ts->sv);
	free(c);
}

static void
test_client_reply(struct test_client *c, const char *fmt, ...)
    ATTR_PRINTF(2, 3);

static void
test_client_reply(struct test_client *c, const char *fmt, ...)
{
	struct evbuffer	*out = bufferevent_get_output(c->bev);
	va_list		 ap;

	va_start(ap, fmt);
	(void)evbuffer_add_vprintf(out, fmt, ap);
	va_end(ap);
	(void)evbuffer_add(out, "\r\n", 2);
}

/* Returns false when the client is done (after "quit"). */
static bool
test_client_command(struct test_client *c, const char *line)
{
	if (strcmp(line, "ping") == 0)
		test_client_reply(c, "pong %ld", (long)getpid());
	else if (strcmp(line, "whoami") == 0)
		test_client_reply(c, "uid=%lu gid=%lu", (unsigned long)getuid(),
		    (unsigned long)getgid());
	else if (strcmp(line, "role") == 0)
		test_client_reply(c, "%s", c->role);
	else if (strcmp(line, "quit") == 0) {
		test_client_reply(c, "bye");
		return false;
	} else
		test_client_reply(c, "echo: %s", line);
	return true;
}

static void
test_client_read(struct bufferevent *bev, void *arg)
{
	struct test_client *c = arg;
	struct evbuffer	*in = bufferevent_get_input(bev);
	bool		 bare_lf;

	while (!c->closing) {
		if (c->skipping) {
			if (!net_skip_line(in))
				return;
			c->skipping = false;
			continue;
		}
		switch (net_read_line(in, c->line, TEST_SERVICE_LINE_MAX,
		    &bare_lf)) {
		case LINE_MORE:
			return;
		case LINE_TOO_LONG:
			test_client_reply(c, "error: line too long");
			c->skipping = true;
			break;
		case LINE_OK:
			if (!test_client_command(c, buf_cstr(c->line))) {
				/* Close once "bye" has left (write callback). */
				c->closing = true;
				(void)bufferevent_disable(bev, EV_READ);
			}
			break;
		}
	}
}

/* Called when the output buffer has drained. */
static void
test_client_write(struct bufferevent *bev, void *arg)
{
	struct test_client *c = arg;

	if (c->closing)
		test_client_free(&c, true);
}

static void
test_client_event(struct bufferevent *bev, short what, void *arg)
{
	struct test_client *c = arg;

	if ((what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) != 0)
		test_client_free(&c, true);
}

static void
test_service_accept(struct service *sv, int fd,
    const struct service_listener *l, const struct sockaddr *peer,
    socklen_t peer_len)
{
	struct test_service *ts = service_ctx(sv);
	struct test_client *c;

	c = xcalloc(1, sizeof(*c));
	c->ts = ts;
	c->role = xstrdup(l->role != NULL ? l->role : "");
	/* Room for the longest line and its CR, which is stripped. */
	c->line = buf_new(128, TEST_SERVICE_LINE_MAX + 2);
	c->bev = bufferevent_socket_new(service_base(sv), fd,
	    BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		log_error("bufferevent_socket_new failed");
		(void)close(fd);
		buf_free(&c->line);
		free(c->role);
		free(c);
		return;
	}
	TAILQ_INSERT_TAIL(&ts->clients, c, entry);
	service_client_opened(sv);
	bufferevent_setcb(c->bev, test_client_read, test_client_write,
	    test_client_event, c);
	(void)bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	test_client_reply(c, "ready %ld", (long)getpid());
	log_debug("connection on %s listener %s", l->is_unix ? "unix" : "inet",
	    l->address != NULL ? l->address : "?");
}

static bool
test_service_has_arg(struct service *sv, const char *arg)
{
	const struct conf_service *conf = service_conf(sv);
	size_t	i;

	if (conf == NULL || conf->args == NULL)
		return false;
	for (i = 0; conf->args[i] != NULL; i++)
		if (strcmp(conf->args[i], arg) == 0)
			return true;
	return false;
}

static int
test_service_post_jail(struct service *sv, const char **error_r)
{
	struct test_service *ts;

	log_info("test service started");
	if (test_service_has_arg(sv, "--crash-at-start")) {
		log_info("crashing at start, as asked");
		abort();
	}
	if (test_service_has_arg(sv, "--exit-at-start")) {
		log_info("exiting at start, as asked");
		exit(0);
	}
	ts = xcalloc(1, sizeof(*ts));
	ts->sv = sv;
	TAILQ_INIT(&ts->clients);
	service_set_ctx(sv, ts);
	return 0;
}

static void
test_service_stop(struct service *sv)
{
	struct test_service	*ts = service_ctx(sv);
	struct test_client	*c;
	unsigned int		 n = 0;

	/* Open sessions go on until their clients quit. */
	if (ts != NULL)
		TAILQ_FOREACH(c, &ts->clients, entry)
			n++;
	log_info("stopping; %u client(s) still connected", n);
}

static void
test_service_exit(struct service *sv)
{
	struct test_service *ts = service_ctx(sv);
	struct test_client *c;

	if (ts == NULL)
		return;
	while ((c = TAILQ_FIRST(&ts->clients)) != NULL)
		test_client_free(&c, false);
	service_set_ctx(sv, NULL);
	free(ts);
}

int
main(int argc, char *argv[])
{
	static const struct service_def def = {
		.name		= "test-service",
		.post_jail	= test_service_post_jail,
		.on_accept	= test_service_accept,
		.on_stop	= test_service_stop,
		.on_exit	= test_service_exit,
	};

	return service_main(&def, argc, argv);
}
