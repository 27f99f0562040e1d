/* SPDX-License-Identifier: ISC */
/*
 * The master's service table at run time: bound listeners, the processes
 * of each service, restarts with back-off, and the generations that a
 * reload creates and retires.
 */
#ifndef POSTERN_MASTER_SVC_H
#define POSTERN_MASTER_SVC_H

#include <stdint.h>

#include "conf.h"
#include "master.h"

struct ipc_conn;

/*
 * Builds the run-time services of c (enabled ones only), binding each
 * listener or reusing the one already bound to the same address.  Returns
 * 0 with the list in *svcs_r, or -1 (*error_r) after undoing its work.
 */
int	master_svc_setup(struct master *m, const struct postern_config *c,
	    struct master_svc **svcs_r, const char **error_r);
/* Starts the processes each current service needs. */
void	master_svc_start_all(struct master *m);
/*
 * Moves every current service to the retired list and asks its processes
 * to finish (SIGTERM); they are killed after master_stop_timeout.
 */
void	master_svc_retire_all(struct master *m);
/* Frees a list made by master_svc_setup that never ran. */
void	master_svc_free_list(struct master *m, struct master_svc **svcsp);
/* Closes listeners that no current service uses. */
void	master_svc_close_unused(struct master *m);
/* Closes every listener (stop). */
void	master_svc_close_all_listeners(struct master *m);
/* Collects exited children (SIGCHLD). */
void	master_svc_reap(struct master *m);
/* Processes alive, current and retired. */
unsigned int master_svc_nprocs(const struct master *m);
/* Sends sig to every process, current and retired. */
void	master_svc_signal_all(struct master *m, int sig);
/* Frees everything at exit. */
void	master_svc_free_all(struct master *m);
/* Answers IPC_CTL_STATUS: the service and process records. */
void	master_svc_status(struct master *m, struct ipc_conn *c,
	    uint32_t peer_id);

#endif
