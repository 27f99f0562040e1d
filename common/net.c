/* SPDX-License-Identifier: ISC */
/*
 * Bounded line reading over libevent evbuffers (STYLE R7) and small socket
 * helpers.  Everything read here comes from the network and is trusted in
 * nothing: net_read_line() locates the LF and checks its position against
 * the limit before it copies a byte, because evbuffer_readln() has no
 * maximum and a bufferevent's high watermark is not a cap.  Address specs
 * come from the configuration and are parsed strictly: numeric hosts
 * only, digits-only ports, no trailing garbage.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <event2/buffer.h>

#include "error.h"
#include "net.h"
#include "str.h"

#include "banned.h"

/* Longest host part of a spec ("[" and "]" excluded). */
#define NET_HOST_MAX	INET6_ADDRSTRLEN

/* The byte at pos in in; pos < length of in. */
static int
net_byte_at(struct evbuffer *in, size_t pos, unsigned char *c_r)
{
	struct evbuffer_ptr p;

	if (evbuffer_ptr_set(in, &p, pos, EVBUFFER_PTR_SET) == -1)
		return -1;
	return evbuffer_copyout_from(in, &p, c_r, 1) == 1 ? 0 : -1;
}

/* Copies the first len bytes of in into line, one chain at a time. */
static int
net_copy_prefix(struct evbuffer *in, struct buf *line, size_t len)
{
	struct evbuffer_ptr	p;
	struct evbuffer_iovec	v;
	size_t			n;

	if (evbuffer_ptr_set(in, &p, 0, EVBUFFER_PTR_SET) == -1)
		return -1;
	while (len > 0) {
		if (evbuffer_peek(in, len, &p, &v, 1) < 1 || v.iov_len == 0)
			return -1;
		n = v.iov_len < len ? v.iov_len : len;
		if (buf_append(line, v.iov_base, n) == -1)
			return -1;
		len -= n;
		if (len > 0 &&
		    evbuffer_ptr_set(in, &p, n, EVBUFFER_PTR_ADD) == -1)
			return -1;
	}
	return 0;
}

enum line_status
net_read_line(struct evbuffer *in, struct buf *line, size_t max,
    bool *bare_lf_r)
{
	struct evbuffer_ptr	lf;
	size_t			pos, len;
	unsigned char		c;
	bool			cr = false;

	buf_reset(line);
	if (bare_lf_r != NULL)
		*bare_lf_r = false;
	lf = evbuffer_search_eol(in, NULL, NULL, EVBUFFER_EOL_LF);
	if (lf.pos == -1) {
		/*
		 * max bytes and a CR may still be a good line; one byte more
		 * cannot be.  (Written as len - 1 > max: max + 1 may wrap.)
		 */
		len = evbuffer_get_length(in);
		return len > 0 && len - 1 > max ? LINE_TOO_LONG : LINE_MORE;
	}
	pos = (size_t)lf.pos;
	/* pos bytes before the LF; a CR right before it is terminator. */
	if (pos > 0) {
		if (net_byte_at(in, pos - 1, &c) == -1)
			return LINE_TOO_LONG;
		cr = c == '\r';
	}
	len = cr ? pos - 1 : pos;
	if (len > max || len > line->max)
		return LINE_TOO_LONG;
	if (net_copy_prefix(in, line, len) == -1) {
		/* Cannot happen: the bytes are there and fit. */
		buf_reset(line);
		return LINE_TOO_LONG;
	}
	(void)evbuffer_drain(in, pos + 1);
	if (bare_lf_r != NULL)
		*bare_lf_r = !cr;
	return LINE_OK;
}

bool
net_skip_line(struct evbuffer *in)
{
	struct evbuffer_ptr lf;

	lf = evbuffer_search_eol(in, NULL, NULL, EVBUFFER_EOL_LF);
	if (lf.pos == -1) {
		(void)evbuffer_drain(in, evbuffer_get_length(in));
		return false;
	}
	(void)evbuffer_drain(in, (size_t)lf.pos + 1);
	return true;
}

/* Parses a digits-only port 1..65535. */
static int
net_parse_port(const char *s, in_port_t *port_r)
{
	uint64_t v;

	if (parse_u64(s, 65535, &v) == -1 || v == 0)
		return -1;
	*port_r = htons((in_port_t)v);
	return 0;
}

int
net_parse_inet(const char *spec, struct sockaddr_storage *ss_r,
    socklen_t *len_r, const char **error_r)
{
	struct sockaddr_in	*sin;
	struct sockaddr_in6	*sin6;
	char			 host[NET_HOST_MAX + 1];
	const char		*end, *port;
	in_port_t		 pn;
	size_t			 hlen;

	memset(ss_r, 0, sizeof(*ss_r));
	if (spec[0] == '[') {
		/* "[v6]:port" */
		if ((end = strchr(spec, ']')) == NULL || end[1] != ':') {
			*error_r = error_fmt("bad address \"%.100s\": "
			    "expected [address]:port", spec);
			return -1;
		}
		hlen = (size_t)(end - spec - 1);
		port = end + 2;
	} else {
		/* "v4:port", "*:port" or ":port"; one colon only. */
		if ((end = strchr(spec, ':')) == NULL ||
		    strchr(end + 1, ':') != NULL) {
			*error_r = error_fmt("bad address \"%.100s\": expected "
			    "host:port (IPv6 in brackets)", spec);
			return -1;
		}
		hlen = (size_t)(end - spec);
		port = end + 1;
	}
	if (net_parse_port(port, &pn) == -1) {
		*error_r = error_fmt("bad address \"%.100s\": port must be "
		    "a number from 1 to 65535", spec);
		return -1;
	}
	if (hlen > NET_HOST_MAX) {
		*error_r = error_fmt("bad address \"%.100s\": host too long",
		    spec);
		return -1;
	}
	memcpy(host, spec[0] == '[' ? spec + 1 : spec, hlen);
	host[hlen] = '\0';

	if (spec[0] == '[') {
		sin6 = (struct sockaddr_in6 *)ss_r;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = pn;
		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1) {
			*error_r = error_fmt("bad address \"%.100s\": not a "
			    "numeric IPv6 address", spec);
			return -1;
		}
		*len_r = sizeof(*sin6);
		return 0;
	}
	sin = (struct sockaddr_in *)ss_r;
	sin->sin_family = AF_INET;
	sin->sin_port = pn;
	if (hlen == 0 || strcmp(host, "*") == 0)
		sin->sin_addr.s_addr = htonl(INADDR_ANY);
	else if (inet_pton(AF_INET, host, &sin->sin_addr) != 1) {
		*error_r = error_fmt("bad address \"%.100s\": not a numeric "
		    "IPv4 address", spec);
		return -1;
	}
	*len_r = sizeof(*sin);
	return 0;
}

/*
 * IPv4 clients on a dual-stack IPv6 socket are shown as plain IPv4, as
 * Postfix does, so logs and access checks see one form.  A Unix socket
 * peer is "local".  Returns -1 (and "unknown" when it fits) for other
 * families or a dst too small.
 */
int
net_addr_str(const struct sockaddr *sa, char *dst, size_t size)
{
	const struct sockaddr_in	*sin;
	const struct sockaddr_in6	*sin6;
	struct in_addr			 v4;

	switch (sa->sa_family) {
	case AF_INET:
		sin = (const struct sockaddr_in *)sa;
		if (inet_ntop(AF_INET, &sin->sin_addr, dst, size) == NULL)
			break;
		return 0;
	case AF_INET6:
		sin6 = (const struct sockaddr_in6 *)sa;
		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
			memcpy(&v4, &sin6->sin6_addr.s6_addr[12], sizeof(v4));
			if (inet_ntop(AF_INET, &v4, dst, size) == NULL)
				break;
			return 0;
		}
		if (inet_ntop(AF_INET6, &sin6->sin6_addr, dst, size) == NULL)
			break;
		return 0;
	case AF_UNIX:
		return str_copy(dst, size, "local");
	default:
		break;
	}
	if (size > 0 && str_copy(dst, size, "unknown") == -1)
		dst[0] = '\0';
	return -1;
}

int
net_set_nonblock(int fd)
{
	int	flags;

	if ((flags = fcntl(fd, F_GETFL)) == -1)
		return -1;
	if ((flags & O_NONBLOCK) != 0)
		return 0;
	return fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1 ? -1 : 0;
}

int
net_set_cloexec(int fd)
{
	int	flags;

	if ((flags = fcntl(fd, F_GETFD)) == -1)
		return -1;
	if ((flags & FD_CLOEXEC) != 0)
		return 0;
	return fcntl(fd, F_SETFD, flags | FD_CLOEXEC) == -1 ? -1 : 0;
}
