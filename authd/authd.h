/* SPDX-License-Identifier: ISC */
/*
 * postern-authd (postern-authd(8)): the state of the daemon that main.c
 * keeps.  authd answers on two Unix sockets, told apart by the role of
 * their listen entries: "auth" (SASL logins and recipient lookups, for
 * smtpd and the login processes) and "userdb" (token redemption, user and
 * recipient lookups, for the mail processes, the delivery agent and the
 * queue manager).  Every peer is less privileged than authd: each field
 * of each request is checked as if it came from the network.
 */
#ifndef POSTERN_AUTHD_AUTHD_H
#define POSTERN_AUTHD_AUTHD_H

#include <sys/queue.h>

#include <netinet/in.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"

#define AUTHD_MAX_EXCHANGES	16	/* open SASL exchanges a connection */
#define AUTHD_IP_MAX		(INET6_ADDRSTRLEN - 1)
#define AUTHD_PURGE_INTERVAL	5	/* seconds between purges */
#define AUTHD_PLAIN_WARN_MAX	10000	/* users remembered as warned */

/*
 * What a listener's clients may ask: auth (smtpd: SASL and recipients),
 * userdb (the queue manager: users and recipients), and for the sockets in
 * queue_directory/login, which every local user can reach, only what the
 * IMAP and POP3 processes need: login (SASL) and token (redeeming a login
 * token, which only a client holding one can use).
 */
enum authd_role {
	AUTHD_ROLE_AUTH = 0x01,
	AUTHD_ROLE_USERDB = 0x02,
	AUTHD_ROLE_LOGIN = 0x04,
	AUTHD_ROLE_TOKEN = 0x08,
};

struct authd;
struct authd_client;

/* One SASL exchange: the peer_id of its requests names it. */
struct authd_exchange {
	TAILQ_ENTRY(authd_exchange) entry;
	struct authd_client	*c;
	uint32_t		 id;
	struct sasl_exchange	*sasl;
	char			 service[CONF_SERVICE_NAME_MAX + 1];
	char			 client[AUTHD_IP_MAX + 1];
	bool			 secured;
	struct event		*ev_delay;	/* a failure waiting to be told */
};

/* One connection on either socket. */
struct authd_client {
	TAILQ_ENTRY(authd_client) entry;
	struct authd		*a;
	struct ipc_conn		*conn;
	enum authd_role		 role;
	bool			 hello;		/* HELLO received */
	char			*peer;		/* for the log */
	TAILQ_HEAD(, authd_exchange) exchanges;
	unsigned int		 nexchanges;
};

struct authd {
	struct service		*sv;
	struct resolve		*resolve;
	struct throttle		*throttle;
	struct token_store	*tokens;
	struct event		*ev_purge;
	TAILQ_HEAD(, authd_client) clients;
	char			**plain_warned;	/* users warned about {PLAIN} */
	size_t			 nplain_warned;
};

#endif
