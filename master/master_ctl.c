/* SPDX-License-Identifier: ISC */
/*
 * The control socket.  Only the user the master runs as can connect (the
 * socket is 0600 in run_directory), but its messages are still checked
 * like any other peer's: a HELLO with our protocol version first, then one
 * request at a time.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "error.h"
#include "ipc.h"
#include "log.h"
#include "net.h"
#include "str.h"
#include "xmalloc.h"

#include "master_ctl.h"
#include "master_svc.h"

#include "banned.h"

#define CTL_BACKLOG	16

struct master_ctl_conn {
	struct master_ctl_conn	*next;
	struct master		*m;
	struct ipc_conn		*c;
	bool			 hello;
	bool			 dead;
};

static void
ctl_reply(struct master_ctl_conn *cc, uint16_t type, uint32_t peer_id,
    const char *text)
{
	(void)ipc_conn_reply(cc->c, type, peer_id, text);
}

static void
ctl_status(struct master_ctl_conn *cc, uint32_t peer_id)
{
	struct master	*m = cc->m;
	struct ipc_msg	*msg;

	master_svc_status(m, cc->c, peer_id);
	msg = ipc_msg_new(IPC_OK, peer_id);
	ipc_add_u64(msg, "pid", (uint64_t)getpid());
	ipc_add_u64(msg, "started", (uint64_t)m->started);
	ipc_add_str(msg, "version", PACKAGE_VERSION);
	(void)ipc_conn_send(cc->c, msg, -1);
	ipc_msg_free(&msg);
}

static int
ctl_msg(struct ipc_conn *c, struct ipc_msg *msg, void *ctx)
{
	struct master_ctl_conn	*cc = ctx;
	struct master		*m = cc->m;
	const char		*program, *error;
	char			*errors;
	int			 rc = 0;

	if (!cc->hello) {
		/* A refused HELLO is answered; the peer may say it again. */
		if (ipc_hello_check(msg, &program, &error) == -1) {
			log_warning("control: %s", error);
			ctl_reply(cc, IPC_ERROR, msg->peer_id, error);
		} else {
			cc->hello = true;
			ctl_reply(cc, IPC_OK, msg->peer_id, NULL);
		}
		ipc_msg_free(&msg);
		return rc;
	}
	switch (msg->type) {
	case IPC_CTL_STATUS:
		ctl_status(cc, msg->peer_id);
		break;
	case IPC_CTL_RELOAD:
		if (m->stopping)
			ctl_reply(cc, IPC_ERROR, msg->peer_id,
			    "the master is stopping");
		else if (master_reload(m, &errors) == -1) {
			ctl_reply(cc, IPC_ERROR, msg->peer_id, errors);
			free(errors);
		} else
			ctl_reply(cc, IPC_OK, msg->peer_id, NULL);
		break;
	case IPC_CTL_STOP:
		log_info("stop requested by postctl");
		ctl_reply(cc, IPC_OK, msg->peer_id, NULL);
		master_stop(m);
		break;
	default:
		log_warning("control: unexpected message type %u", msg->type);
		rc = -1;
		break;
	}
	ipc_msg_free(&msg);
	return rc;
}

static void
ctl_free_dead(evutil_socket_t fd, short what, void *arg)
{
	struct master		*m = arg;
	struct master_ctl_conn	**ccp, *cc;

	for (ccp = &m->ctl_conns; (cc = *ccp) != NULL;) {
		if (cc->dead) {
			*ccp = cc->next;
			ipc_conn_free(&cc->c);
			free(cc);
		} else
			ccp = &cc->next;
	}
}

static void
ctl_closed(struct ipc_conn *c, const char *reason, void *ctx)
{
	struct master_ctl_conn *cc = ctx;

	/* Freed from the loop, not inside the connection's own callback. */
	cc->dead = true;
	(void)event_base_once(cc->m->base, -1, EV_TIMEOUT, ctl_free_dead, cc->m,
	    NULL);
}

static void
ctl_accept(struct evconnlistener *ev, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	struct master		*m = arg;
	struct master_ctl_conn	*cc;

	cc = xcalloc(1, sizeof(*cc));
	cc->m = m;
	cc->c = ipc_conn_new(m->base, fd, cfg->ipc_max_message_size, "postctl",
	    ctl_msg, ctl_closed, cc);
	cc->next = m->ctl_conns;
	m->ctl_conns = cc;
}

int
master_ctl_open(struct master *m, const char **error_r)
{
	struct sockaddr_un	 sun;
	struct stat		 st;
	mode_t			 old_umask;
	int			 fd;

	m->ctl_path = xasprintf("%s/master.ctl", cfg->run_directory);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (str_copy(sun.sun_path, sizeof(sun.sun_path), m->ctl_path) == -1) {
		*error_r = error_fmt("%s: path too long", m->ctl_path);
		return -1;
	}
	/* We hold the pid file lock, so an old socket here is stale. */
	if (lstat(m->ctl_path, &st) == 0 && S_ISSOCK(st.st_mode))
		(void)unlink(m->ctl_path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0)) == -1) {
		*error_r = error_fmt("%s: socket: %m", m->ctl_path);
		return -1;
	}
	old_umask = umask(0177);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		umask(old_umask);
		*error_r = error_fmt("%s: bind: %m", m->ctl_path);
		close(fd);
		return -1;
	}
	umask(old_umask);
	if (chmod(m->ctl_path, 0600) == -1 || listen(fd, CTL_BACKLOG) == -1) {
		*error_r = error_fmt("%s: %m", m->ctl_path);
		close(fd);
		return -1;
	}
	m->ctl_fd = fd;
	m->ctl_ev = evconnlistener_new(m->base, ctl_accept, m,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
	if (m->ctl_ev == NULL) {
		*error_r = "cannot watch the control socket";
		return -1;
	}
	return 0;
}

void
master_ctl_close(struct master *m)
{
	struct master_ctl_conn *cc;

	if (m->ctl_ev != NULL) {
		evconnlistener_free(m->ctl_ev);
		m->ctl_ev = NULL;
		(void)unlink(m->ctl_path);
	}
	while ((cc = m->ctl_conns) != NULL) {
		m->ctl_conns = cc->next;
		/* The answer to a STOP may still be queued. */
		if (!cc->dead)
			(void)ipc_conn_flush(cc->c);
		ipc_conn_free(&cc->c);
		free(cc);
	}
	free(m->ctl_path);
	m->ctl_path = NULL;
}
