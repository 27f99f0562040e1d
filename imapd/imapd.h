/* SPDX-License-Identifier: ISC */
/*
 * What the two IMAP programs share (postern-imapd(8)): the capability
 * lists, the limits taken from postern.conf, and the names of the
 * sockets between them.
 */
#ifndef POSTERN_IMAPD_H
#define POSTERN_IMAPD_H

#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"
#include "imap_parse.h"

/*
 * Sockets, relative to the login processes' root (queue_directory/login,
 * their chroot; without one, their working folder).
 */
#define IMAPD_AUTH_SOCKET	"auth"
#define IMAPD_HANDOVER_SOCKET	"imap"
/*
 * The mail processes' authd socket (only redeems tokens), relative to
 * queue_directory: in login/, where the mail user can reach it.
 */
#define IMAPD_TOKEN_SOCKET	"login/token"
/* The service name tokens are issued for. */
#define IMAPD_SERVICE		"imap"
/* Largest handover message: the pipelined input plus a little. */
#define IMAPD_HANDOVER_MAX	(256 * 1024)

/* The parser's limits from postern.conf (imapd_* settings). */
void	imapd_limits(struct imap_limits *lim);

/*
 * Appends the capability list (without "CAPABILITY" itself) for a client
 * before login (login true: STARTTLS when tls_available and not yet
 * secured, LOGINDISABLED or AUTH= mechanisms as login_allowed says) or
 * after it.
 */
void	imapd_capabilities(struct buf *out, bool login, bool tls_available,
	    bool secured, bool login_allowed);

/* Whether addr (a numeric IP) is a loopback address. */
bool	imapd_is_loopback(const char *addr);

#endif
