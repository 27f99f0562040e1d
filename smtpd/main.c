/* SPDX-License-Identifier: ISC */
/*
 * postern-smtpd: the SMTP receiver (DESIGN.md, postern-smtpd(8)).  This
 * file is the table and the hooks that common/service.c calls (STYLE
 * R15): load the TLS key before the
 * privilege drop, connect the authd client after it, and hand every
 * accepted connection to smtp_session.c.
 */
#include "config.h"

#include <sys/types.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/authd_client.h"
#include "common/conf.h"
#include "common/error.h"
#include "common/file.h"
#include "common/log.h"
#include "common/priv.h"
#include "common/qmgr_notify.h"
#include "common/service.h"
#include "common/str.h"
#include "common/tls.h"
#include "common/workq.h"
#include "common/xmalloc.h"
#include "smtpd.h"
#include "smtp_quota.h"
#include "smtp_rcpt_cache.h"
#include "smtp_session.h"
#include "common/banned.h"

static int
smtpd_pre_jail(struct service *sv, const char **error_r)
{
	struct smtpd		*sd;
	int			 r;

	sd = xcalloc(1, sizeof(*sd));
	sd->sv = sv;
	TAILQ_INIT(&sd->sessions);
	service_set_ctx(sv, sd);

	if (cfg->myhostname[0] != '\0')
		r = str_copy(sd->hostname, sizeof(sd->hostname),
		    cfg->myhostname);
	else {
		r = gethostname(sd->hostname, sizeof(sd->hostname));
		sd->hostname[sizeof(sd->hostname) - 1] = '\0';
	}
	if (r == -1 || sd->hostname[0] == '\0') {
		*error_r = "cannot determine the host name (set myhostname)";
		return -1;
	}
	if (cfg->mydomains != NULL && cfg->mydomains[0] != NULL)
		sd->postmaster = xasprintf("postmaster@%s", cfg->mydomains[0]);
	else
		sd->postmaster = xasprintf("postmaster@%s", sd->hostname);

	/* The Date of Received headers is local time: read the zone now. */
	tzset();

	if (cfg->tls_cert_file[0] != '\0') {
		sd->tls = tls_server_new(cfg->tls_cert_file, cfg->tls_key_file,
		    cfg->tls_min_protocol, cfg->tls_ciphers,
		    cfg->tls_ciphersuites, error_r);
		if (sd->tls == NULL)
			return -1;
	}

	/* The queue and authd's socket are found relative to the spool. */
	if (strcmp(service_conf(sv)->chroot, "no") != 0 &&
	    strcmp(service_conf(sv)->chroot, "queue") != 0) {
		*error_r = "smtpd.chroot must be queue or no";
		return -1;
	}

	return 0;
}

static int
smtpd_post_jail(struct service *sv, const char **error_r)
{
	struct smtpd	*sd = service_ctx(sv);

	/*
	 * Inside the spool chroot the spool is "/", which is also the cwd;
	 * without a chroot (tests, the demo) move there, so the queue folder
	 * and authd's socket have the same relative names in both cases.
	 */
	if (strcmp(service_conf(sv)->chroot, "no") == 0 &&
	    chdir(cfg->queue_directory) == -1) {
		*error_r = error_fmt("chdir %s: %s", cfg->queue_directory,
		    strerror(errno));
		return -1;
	}
	sd->queue_dir = ".";
	qfile_recycle_setup(sd->queue_dir, cfg->queue_recycle_limit, false);
	sd->syncq = workq_new(service_base(sv), cfg->smtpd_sync_threads,
	    error_r);
	if (sd->syncq == NULL)
		return -1;
	sd->qmgr = qmgr_notify_new(service_base(sv), QMGR_NOTIFY_SOCKET,
	    "smtpd");
	sd->authd = authd_client_new(service_base(sv), SMTPD_AUTHD_SOCKET,
	    "smtpd");
	sd->quota = smtp_quota_new(service_base(sv), SMTP_QUOTA_SOCKET);
	sd->rcpts = smtp_rcpt_cache_new((uint64_t)cfg->smtpd_rcpt_cache_time *
	    1000);
	return 0;
}

static void
smtpd_accept(struct service *sv, int fd, const struct service_listener *l,
    const struct sockaddr *peer, socklen_t peer_len)
{
	smtp_session_new(service_ctx(sv), fd, l, peer, peer_len);
}

static void
smtpd_stop(struct service *sv)
{
	smtp_session_stop_all(service_ctx(sv));
}

static void
smtpd_exit(struct service *sv)
{
	struct smtpd	*sd = service_ctx(sv);

	if (sd == NULL)
		return;
	/* Commits in flight finish (and are logged) before anything goes. */
	if (sd->syncq != NULL)
		workq_drain(sd->syncq);
	smtp_session_free_all(sd);
	workq_free(&sd->syncq);
	qmgr_notify_free(&sd->qmgr);
	authd_client_free(&sd->authd);
	smtp_quota_free(&sd->quota);
	smtp_rcpt_cache_free(&sd->rcpts);
	tls_ctx_free(&sd->tls);
	free(sd->postmaster);
	free(sd);
	service_set_ctx(sv, NULL);
}

int
main(int argc, char *argv[])
{
	static const struct service_def def = {
		.name		= "smtpd",
		.pre_jail	= smtpd_pre_jail,	/* TLS key */
		.post_jail	= smtpd_post_jail,	/* authd client */
		.on_accept	= smtpd_accept,		/* one SMTP session */
		.on_stop	= smtpd_stop,
		.on_exit	= smtpd_exit,
	};

	return service_main(&def, argc, argv);
}
