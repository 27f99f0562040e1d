/* SPDX-License-Identifier: ISC */
/*
 * Bounded line reading over libevent evbuffers (STYLE R7) and small socket
 * helpers.  evbuffer_readln() has no maximum; net_read_line() finds the LF
 * first and checks its position against the limit before copying anything.
 */
#ifndef POSTERN_NET_H
#define POSTERN_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include <event2/buffer.h>

#include "buf.h"
#include "compat.h"

enum line_status {
	LINE_OK,		/* a whole line is in *line (CRLF/LF removed) */
	LINE_MORE,		/* no LF yet and still within the limit */
	LINE_TOO_LONG,		/* the line exceeds max; nothing was drained */
};

/*
 * Takes one line from in into line (reset first).  max is the longest
 * line accepted, counted without the terminating CRLF or LF.  The
 * terminator is removed; *bare_lf_r tells whether the line ended in LF
 * without CR.  A CR elsewhere in the line is left in it for the caller
 * to judge.  On LINE_TOO_LONG nothing is drained: the caller answers and
 * then calls net_skip_line().
 */
enum line_status net_read_line(struct evbuffer *in, struct buf *line,
	    size_t max, bool *bare_lf_r);
/*
 * Drains input up to and including the next LF.  Returns true when an LF
 * was found; false when all input was drained without one (the caller
 * keeps skipping when more arrives).
 */
bool	net_skip_line(struct evbuffer *in);

/*
 * Parses "host:port", "[v6]:port", "*:port" or ":port" into a socket
 * address.  host must be a numeric address ("*" or empty is any IPv4,
 * "[::]" any IPv6).  Returns 0, or -1 with *error_r.
 */
int	net_parse_inet(const char *spec, struct sockaddr_storage *ss_r,
	    socklen_t *len_r, const char **error_r) ATTR_WUR;
/* Formats an address as "1.2.3.4" / "::1" into dst. */
int	net_addr_str(const struct sockaddr *sa, char *dst, size_t size);
/* Sets O_NONBLOCK and FD_CLOEXEC. Returns 0 or -1. */
int	net_set_nonblock(int fd);
int	net_set_cloexec(int fd);

#endif
