/* SPDX-License-Identifier: ISC */
/*
 * postern-transfer-agent (postern-transfer-agent(8)): the state shared by
 * its two halves.  main.c is the service: it takes IPC_RELAY requests
 * from the queue manager on private/smtp, looks up the TLS policy and
 * the credentials of the next hop, and answers IPC_RELAY_RESULT.
 * smtp_client.c does one request (a relay job): it finds the servers
 * (dns.h), talks SMTP to them, one after the other until every recipient
 * has an outcome, and keeps connections for reuse.
 */
#ifndef POSTERN_TA_RELAY_H
#define POSTERN_TA_RELAY_H

#include <sys/queue.h>
#include <stdbool.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "common/qfile.h"
#include "dns.h"

#define RELAY_TEXT_MAX		QFILE_DIAG_MAX
#define RELAY_NAME_MAX		(DNS_HOST_MAX + 64)	/* host[addr]:port */

struct event_base;
struct ipc_conn;
struct service;
struct smtp_sess;
struct table;
struct ta_client;

enum relay_tls {
	RELAY_TLS_NONE,
	RELAY_TLS_MAY,
	RELAY_TLS_ENCRYPT,
	RELAY_TLS_VERIFY,
};

enum relay_status {
	RELAY_PENDING = 0,
	RELAY_SENT,
	RELAY_DEFERRED,
	RELAY_BOUNCED,
};

struct relay_rcpt {
	char			*addr;
	char			*orcpt;		/* "" none */
	unsigned int		 notify;	/* QFILE_NOTIFY_* */
	enum relay_status	 status;
	char			 dsn[QFILE_DSN_MAX + 1];
	char			*text;
	bool			 accepted;	/* 250 to RCPT this transaction */
	bool			 in_trans;	/* sent in this transaction */
};

/* One IPC_RELAY request. */
struct relay_job {
	TAILQ_ENTRY(relay_job)	 entry;		/* its client's jobs */
	struct ta		*ta;
	struct ta_client	*c;		/* NULL once the client left */
	uint32_t		 peer_id;
	char			 id[QFILE_ID_SIZE];
	char			*sender;
	char			*nexthop;	/* as the request named it */
	char			*envid;		/* NULL none */
	enum qfile_body		 body;
	enum qfile_ret		 ret;
	bool			 smtputf8;
	struct relay_rcpt	*rcpts;
	unsigned int		 nrcpt;
	int			 fd;		/* the queue file */
	uint64_t		 offset;
	uint64_t		 length;
	uint64_t		 arrival;

	/* smtp_client.c */
	struct dns_nexthop	 nh;
	enum relay_tls		 tls;
	char			*sasl_user;	/* NULL: no AUTH */
	char			*sasl_pass;
	struct dns_lookup	*lookup;
	struct dns_addr		*addrs;
	unsigned int		 naddrs;
	unsigned int		 next_addr;
	bool			 plain_retry;	/* may: TLS failed, again plain */
	struct smtp_sess	*sess;
	char			 relay[RELAY_NAME_MAX];	/* "none" */
	char			 tls_info[128];		/* "" no TLS */
	bool			 dsn_passed;
	/* The last reason the whole job could not go on (for the rest). */
	char			 why[RELAY_TEXT_MAX];
	char			 why_dsn[QFILE_DSN_MAX + 1];
	bool			 why_final;	/* a 5xx: bounce, not defer */
	struct event		*done_ev;
};

/* The agent. */
struct ta {
	struct service		*sv;
	struct event_base	*base;
	struct dns		*dns;
	SSL_CTX			*tls_ctx;
	struct table		**policy;	/* smtp_tls_policy_maps */
	unsigned int		 npolicy;
	struct table		**sasl;		/* smtp_sasl_password_maps */
	unsigned int		 nsasl;
	char			 helo[DNS_HOST_MAX + 1];
	char			 myname[DNS_HOST_MAX + 1];
	bool			 stopping;
	unsigned int		 njobs;
	TAILQ_HEAD(, ta_client)	 clients;
	TAILQ_HEAD(smtp_idle_head, smtp_sess) idle;	/* connection cache */
	unsigned int		 nidle;
};

/* smtp_client.c */
/* Starts j (its fields above "smtp_client.c" are set). */
void	relay_job_start(struct relay_job *j);
/* Stops j's work without an answer (its client is gone, or exit). */
void	relay_job_abort(struct relay_job *j);
/* Closes every idle cached connection (stop, exit). */
void	smtp_cache_close(struct ta *ta);
/* Closes every connection, also those saying goodbye (exit). */
void	smtp_close_all(struct ta *ta);

/* main.c: every recipient of j has an outcome; answers and frees j. */
void	relay_job_done(struct relay_job *j);
/* Sets r's outcome (status DEFERRED/BOUNCED/SENT) unless it has one. */
void	relay_rcpt_set(struct relay_rcpt *r, enum relay_status st,
	    const char *dsn, const char *text);

#endif
