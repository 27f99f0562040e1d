/* SPDX-License-Identifier: ISC */
/*
 * The master supervisor's shared state (postern-master(8)).  One struct
 * master per process, passed explicitly (STYLE R14); the configuration in
 * force is the global cfg, replaced whole on reload.
 */
#ifndef POSTERN_MASTER_H
#define POSTERN_MASTER_H

#include <stdbool.h>
#include <sys/types.h>
#include <time.h>

#include "conf.h"

struct event;
struct event_base;
struct evconnlistener;
struct master_svc;
struct master_listener;
struct master_ctl_conn;

struct master {
	struct event_base	*base;
	const char		*conf_dir;	/* absolute */
	struct postern_config	*config;	/* what cfg points to */
	time_t			 started;
	bool			 is_root;
	bool			 stopping;	/* SIGTERM or postctl stop */
	bool			 debug;

	struct master_svc	*svcs;		/* current generation */
	struct master_svc	*retired;	/* old ones finishing sessions */
	struct master_listener	*listeners;	/* bound sockets, by address */

	int			 pid_fd;	/* locked pid file */
	char			*pid_path;
	int			 ctl_fd;
	char			*ctl_path;
	struct evconnlistener	*ctl_ev;
	struct master_ctl_conn	*ctl_conns;

	struct event		*ev_chld;
	struct event		*ev_term;
	struct event		*ev_int;
	struct event		*ev_hup;
};

/*
 * Creates the folders of the configuration with their owners and modes.
 * Returns 0 or -1 (*error_r).
 */
int	master_make_dirs(struct master *m, const char **error_r);

/*
 * Re-reads the configuration and applies it.  Returns 0, or -1 with the
 * problems in *errors_r (one per line, caller frees); the old
 * configuration then stays in force.
 */
int	master_reload(struct master *m, char **errors_r);
/* Begins the graceful stop; the loop ends when every child is gone. */
void	master_stop(struct master *m);

#endif
