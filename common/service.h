/* SPDX-License-Identifier: ISC */
/*
 * The skeleton every postern daemon runs on (STYLE R15).  service_main()
 * parses argv, reads the configuration, takes the listeners the master
 * passed, calls pre_jail (load keys, open what the jail hides), drops
 * privileges (priv_drop) for the service's user and chroot, calls
 * post_jail, then runs the libevent loop: accepting on every listener and
 * handing each connection to on_accept.
 *
 * Inherited from the master (DESIGN.md):
 *	fd 3			status channel to the master (IPC frames)
 *	fd 4, 5, ...		listeners, in the order of POSTERN_LISTENERS
 *	POSTERN_SERVICE		the service's name in the configuration
 *	POSTERN_LISTENERS	"role|address,role|address,..." (role may be empty)
 * argv: PROGRAM -c CONFIG_DIR [-d] [service args...]
 *
 * The process reports its number of clients to the master, which starts
 * another process when every one is at client_limit.  On SIGTERM the
 * process stops accepting, calls on_stop, and exits when its last client
 * is gone (the master kills it after master_stop_timeout).  A process
 * with no client for idle_exit seconds exits on its own.
 */
#ifndef POSTERN_SERVICE_H
#define POSTERN_SERVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "compat.h"
#include "conf.h"
#include "priv.h"

#define SERVICE_STATUS_FD	3
#define SERVICE_LISTEN_FD	4
#define SERVICE_MAX_LISTENERS	64

struct event_base;
struct service;

struct service_listener {
	const char	*role;		/* "" when the listen entry named none */
	const char	*address;	/* as configured */
	bool		 is_unix;
	int		 fd;
};

struct service_def {
	const char	*name;		/* program name for logs ("smtpd") */
	/* Before the privilege drop: load keys, open files. 0 or -1. */
	int		(*pre_jail)(struct service *sv, const char **error_r);
	/*
	 * Optional: capabilities (PRIV_CAP_*) the service keeps after the
	 * drop besides SERVICE.keep_caps, decided from cfg (the delivery
	 * agent: CAP_SETUID/CAP_SETGID when system_account_domains is set).
	 * Only a process started as root has any to keep.
	 */
	unsigned int	(*keep_caps)(void);
	/* After the drop, before the first accept. 0 or -1. */
	int		(*post_jail)(struct service *sv, const char **error_r);
	/*
	 * A new connection (non-blocking, close-on-exec).  The hook owns fd
	 * and calls service_client_opened() when it keeps it and
	 * service_client_closed() when it is done with it.
	 */
	void		(*on_accept)(struct service *sv, int fd,
			    const struct service_listener *l,
			    const struct sockaddr *peer, socklen_t peer_len);
	/* Graceful stop begun: finish sessions, start nothing new. */
	void		(*on_stop)(struct service *sv);
	/* Called at exit, to free what post_jail made. */
	void		(*on_exit)(struct service *sv);
};

int	service_main(const struct service_def *def, int argc, char *argv[]);

struct event_base *service_base(struct service *sv);
const struct conf_service *service_conf(const struct service *sv);
const char *service_name(const struct service *sv);
void	service_set_ctx(struct service *sv, void *ctx);
void	*service_ctx(const struct service *sv);
/* The arguments after the options (from SERVICE.args). */
char	*const *service_args(const struct service *sv, int *argc_r);
/* True after SIGTERM: the process is finishing its sessions. */
bool	service_stopping(const struct service *sv);

/* Client accounting for client_limit, idle exit and graceful stop. */
void	service_client_opened(struct service *sv);
void	service_client_closed(struct service *sv);
unsigned int service_clients(const struct service *sv);

/*
 * The privilege target of a service: its user (mail_owner when empty) and
 * chroot ("no", "queue", "empty" = data_directory/empty, or a path, copied
 * into chroot_buf).  Returns 0, or -1 with *error_r (unknown user, path
 * too long).  Used by the master to check a service before it starts it
 * and by the service itself to drop.
 */
int	service_priv_target(const struct postern_config *c,
	    const struct conf_service *s, struct priv_target *t_r,
	    char *chroot_buf, size_t chroot_size, const char **error_r) ATTR_WUR;

#endif
