/* SPDX-License-Identifier: ISC */
/*
 * postern-queue-manager: the hooks common/service.c calls (STYLE R15).
 * The work is in qmgr.c (scheduling) and agent.c (the delivery agent's
 * protocol).  It runs chrooted in the spool (or there as its working
 * folder), so every path it uses is relative to the spool.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/conf.h"
#include "common/error.h"
#include "common/log.h"
#include "common/service.h"
#include "qmgr.h"
#include "common/banned.h"

static int
qmgr_post_jail(struct service *sv, const char **error_r)
{
	struct qmgr	*qm;

	if (strcmp(service_conf(sv)->chroot, "no") == 0 &&
	    chdir(cfg->queue_directory) == -1) {
		*error_r = error_fmt("chdir %s: %s", cfg->queue_directory,
		    strerror(errno));
		return -1;
	}
	/* Local time for the Date of bounces. */
	tzset();
	if ((qm = qmgr_new(sv, error_r)) == NULL)
		return -1;
	service_set_ctx(sv, qm);
	return 0;
}

static void
qmgr_on_accept(struct service *sv, int fd,
    const struct service_listener *l ATTR_UNUSED,
    const struct sockaddr *peer ATTR_UNUSED, socklen_t peer_len ATTR_UNUSED)
{
	qmgr_accept(service_ctx(sv), fd);
}

static void
qmgr_on_stop(struct service *sv)
{
	qmgr_stop(service_ctx(sv));
}

static void
qmgr_on_exit(struct service *sv)
{
	struct qmgr	*qm = service_ctx(sv);

	qmgr_free(&qm);
	service_set_ctx(sv, NULL);
}

int
main(int argc, char *argv[])
{
	static const struct service_def def = {
		.name		= "queue-manager",
		.post_jail	= qmgr_post_jail,
		.on_accept	= qmgr_on_accept,
		.on_stop	= qmgr_on_stop,
		.on_exit	= qmgr_on_exit,
	};

	return service_main(&def, argc, argv);
}
