/* SPDX-License-Identifier: ISC */
/*
 * The state of one postern-smtpd process, shared by main.c (which makes it
 * in pre_jail/post_jail) and the sessions (which only read it): the TLS
 * context, the authd and delivery agent clients, the host name and the
 * session registry.
 */
#ifndef POSTERN_SMTPD_H
#define POSTERN_SMTPD_H

#include <sys/queue.h>

#include <openssl/ssl.h>

#include "common/qfile.h"

#define SMTPD_HOSTNAME_MAX	255
/* Where authd answers, relative to the spool (the chroot or the cwd). */
#define SMTPD_AUTHD_SOCKET	"private/auth"

struct authd_client;
struct service;
struct smtp_session;
struct workq;
struct qmgr_notify;
struct smtp_quota;
struct smtp_rcpt_cache;

struct smtpd {
	struct service		*sv;
	SSL_CTX			*tls;		/* NULL: no STARTTLS/smtps */
	struct authd_client	*authd;
	struct workq		*syncq;		/* queue file commits */
	bool			 dirsync_busy;	/* incoming/ fsync under way */
	bool			 dirsync_again;	/* files named since it began */
	struct qmgr_notify	*qmgr;		/* "queued" notices */
	struct smtp_quota	*quota;		/* RCPT-time quota checks */
	struct smtp_rcpt_cache	*rcpts;		/* recent RCPT answers */
	const char		*queue_dir;	/* "." : the spool is the cwd */
	char			 hostname[SMTPD_HOSTNAME_MAX + 1];
	char			*postmaster;	/* "postmaster@DOMAIN" */
	TAILQ_HEAD(, smtp_session) sessions;	/* the session registry */
};

#endif
