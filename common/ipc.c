/* SPDX-License-Identifier: ISC */
/*
 * The framed protocol between postern processes (ipc.h has the wire
 * format).  Three layers: messages (a builder, and getters that check
 * every value against a caller's bound), the codec (ipc_decode() is the
 * trust boundary: it refuses a bad header before waiting for the body and
 * checks the structure of every field, so the getters can walk a body
 * without further length checks), and two transports over Unix stream
 * sockets: blocking calls for postctl and tests, and struct ipc_conn on a
 * libevent loop for the daemons.  Nothing the peer sends is trusted:
 * lengths are compared with our own maximum before memory is committed,
 * and a descriptor is accepted only on a frame that announces it with
 * IPC_F_FD; every other descriptor is closed.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "error.h"
#include "ipc.h"
#include "log.h"
#include "str.h"
#include "xmalloc.h"

#include "banned.h"

/* Key length byte plus value length word: the fixed part of a field. */
#define IPC_FIELD_OVERHEAD	(1 + 4)
/* Bytes taken from the socket by one read of an ipc_conn. */
#define IPC_CONN_CHUNK		(64 * 1024)
/* Pieces of the output evbuffer handed to one sendmsg(). */
#define IPC_CONN_IOV		16
/*
 * Received descriptors whose frame is not complete yet.  After each read
 * every complete frame has claimed or refused its descriptor, so at most
 * the one of the trailing partial frame waits, plus one from a new read.
 */
#define IPC_CONN_IN_FDS		2
/* The output queue may hold this many largest frames. */
#define IPC_CONN_OUT_FRAMES	4

/* ---- byte order ------------------------------------------------------- */

static inline uint16_t
ipc_get16(const uint8_t *p)
{
	return (uint16_t)((unsigned int)p[0] << 8 | p[1]);
}

static inline uint32_t
ipc_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static inline void
ipc_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void
ipc_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void
ipc_header_put(uint8_t *hdr, uint16_t type, uint16_t flags, size_t len,
    uint32_t peer_id)
{
	if (len > UINT32_MAX)
		log_panic("ipc: body of %zu bytes cannot be framed", len);
	ipc_put16(hdr, type);
	ipc_put16(hdr + 2, flags);
	ipc_put32(hdr + 4, (uint32_t)len);
	ipc_put32(hdr + 8, peer_id);
}

/*
 * Checks as much of a header as the avail bytes hold, so that a bad frame
 * is refused as soon as its first bytes arrive and an oversized one
 * before its body is waited for.  Returns 0, or -1 with *error_r.
 */
static int
ipc_header_check(const uint8_t *hdr, size_t avail, size_t max,
    const char **error_r)
{
	uint16_t type, flags;
	uint32_t len;

	if (avail >= 2) {
		type = ipc_get16(hdr);
		if (type == IPC_NONE || type >= IPC_TYPE_MAX) {
			*error_r = error_fmt("unknown message type %u", type);
			return -1;
		}
	}
	if (avail >= 4) {
		flags = ipc_get16(hdr + 2);
		if ((flags & ~IPC_F_ALL) != 0) {
			*error_r = error_fmt("unknown flags 0x%04x", flags);
			return -1;
		}
	}
	if (avail >= 8) {
		len = ipc_get32(hdr + 4);
		if ((uint64_t)len > (uint64_t)max) {
			*error_r = error_fmt("message of %" PRIu32 " bytes "
			    "exceeds the limit of %zu", len, max);
			return -1;
		}
	}
	return 0;
}

/* ---- fields ----------------------------------------------------------- */

static bool
ipc_key_valid(const uint8_t *key, size_t len)
{
	size_t	i;

	if (len == 0 || len > IPC_KEY_MAX)
		return false;
	for (i = 0; i < len; i++) {
		uint8_t	c = key[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '_' || c == '-'))
			return false;
	}
	return true;
}

/*
 * Parses the field at *cursor of body[0..len).  Returns 1 with the field
 * and *cursor moved past it, 0 at the end, -1 with *error_r when the field
 * is malformed.  Never reads at or past body + len.
 */
static int
ipc_field_parse(const uint8_t *body, size_t len, size_t *cursor,
    const uint8_t **key_r, size_t *key_len_r, const uint8_t **val_r,
    size_t *val_len_r, const char **error_r)
{
	size_t	 pos = *cursor, klen;
	uint32_t vlen;

	if (pos == len)
		return 0;
	if (pos > len) {
		*error_r = "field cursor past the end of the body";
		return -1;
	}
	/* len - pos >= 1 from here on. */
	klen = body[pos];
	if (klen == 0 || klen > IPC_KEY_MAX) {
		*error_r = error_fmt("field key of %zu bytes", klen);
		return -1;
	}
	if (klen > len - pos - 1) {
		*error_r = "field key past the end of the body";
		return -1;
	}
	if (!ipc_key_valid(body + pos + 1, klen)) {
		*error_r = "field key holds a byte other than [a-z0-9_-]";
		return -1;
	}
	pos += 1 + klen;		/* UNSAFE: <= len, checked above */
	if (len - pos < 4) {
		*error_r = "field length past the end of the body";
		return -1;
	}
	vlen = ipc_get32(body + pos);
	pos += 4;
	if ((uint64_t)vlen > (uint64_t)(len - pos)) {
		*error_r = error_fmt("field value of %" PRIu32 " bytes past "
		    "the end of the body", vlen);
		return -1;
	}
	*key_r = body + *cursor + 1;
	*key_len_r = klen;
	*val_r = body + pos;
	*val_len_r = vlen;
	*cursor = pos + vlen;		/* UNSAFE: <= len, checked above */
	return 1;
}

int
ipc_next_field(const struct ipc_msg *m, size_t *cursor, const char **key_r,
    size_t *key_len_r, const uint8_t **val_r, size_t *val_len_r)
{
	const uint8_t	*key;
	const char	*error;
	int		 ret;

	ret = ipc_field_parse((const uint8_t *)m->body->data, m->body->len,
	    cursor, &key, key_len_r, val_r, val_len_r, &error);
	if (ret == 1)
		*key_r = (const char *)key;
	return ret;
}

/* Finds the first field named key: 1 found, 0 missing, -1 malformed. */
static int
ipc_find(const struct ipc_msg *m, const char *key, const uint8_t **val_r,
    size_t *len_r)
{
	const char	*fkey;
	size_t		 cursor = 0, klen, flen;
	int		 ret;

	klen = strlen(key);
	while ((ret = ipc_next_field(m, &cursor, &fkey, &flen, val_r,
	    len_r)) == 1) {
		if (flen == klen && memcmp(fkey, key, klen) == 0)
			return 1;
	}
	return ret;
}

/* ---- messages --------------------------------------------------------- */

static struct ipc_msg *
ipc_msg_alloc(uint16_t type, uint16_t flags, uint32_t peer_id,
    size_t body_init, size_t body_max)
{
	struct ipc_msg	*m;

	m = xcalloc(1, sizeof(*m));
	m->type = type;
	m->flags = flags;
	m->peer_id = peer_id;
	m->fd = -1;
	m->body = buf_new(body_init, body_max);
	return m;
}

struct ipc_msg *
ipc_msg_new(uint16_t type, uint32_t peer_id)
{
	if (type == IPC_NONE || type >= IPC_TYPE_MAX)
		log_panic("ipc_msg_new: unknown message type %u", type);
	return ipc_msg_alloc(type, 0, peer_id, 0, IPC_MAX_BUILD);
}

void
ipc_msg_free(struct ipc_msg **mp)
{
	struct ipc_msg	*m = *mp;
	size_t		 i;

	if (m == NULL)
		return;
	for (i = 0; i < m->nstrs; i++)
		free(m->strs[i]);
	free(m->strs);
	buf_free(&m->body);
	if (m->fd != -1)
		(void)close(m->fd);
	free(m);
	*mp = NULL;
}

static void
ipc_add_field(struct ipc_msg *m, const char *key, const void *data,
    size_t len)
{
	uint8_t	 head[1 + IPC_KEY_MAX + 4];
	size_t	 klen, need;

	klen = strlen(key);
	if (!ipc_key_valid((const uint8_t *)key, klen))
		log_panic("ipc: bad field key \"%s\"", log_safe(key));
	need = IPC_FIELD_OVERHEAD + klen;
	if (len > m->body->max - m->body->len ||
	    need > m->body->max - m->body->len - len)
		log_panic("ipc: field %s of %zu bytes overflows the %zu byte "
		    "body of a type %u message", key, len, m->body->max,
		    m->type);
	head[0] = (uint8_t)klen;
	memcpy(head + 1, key, klen);
	ipc_put32(head + 1 + klen, (uint32_t)len);	/* len <= max < 4G */
	if (buf_append(m->body, head, need) == -1 ||
	    buf_append(m->body, data, len) == -1)
		log_panic("ipc: body append failed after the size check");
}

void
ipc_add_str(struct ipc_msg *m, const char *key, const char *val)
{
	ipc_add_field(m, key, val, strlen(val));
}

void
ipc_add_data(struct ipc_msg *m, const char *key, const void *data,
    size_t len)
{
	ipc_add_field(m, key, data, len);
}

void
ipc_add_u64(struct ipc_msg *m, const char *key, uint64_t val)
{
	char	num[24];
	int	n;

	n = snprintf(num, sizeof(num), "%" PRIu64, val);
	if (n < 0 || (size_t)n >= sizeof(num))
		log_panic("ipc_add_u64: cannot format %" PRIu64, val);
	ipc_add_field(m, key, num, (size_t)n);
}

int
ipc_get_str(struct ipc_msg *m, const char *key, size_t max,
    const char **val_r)
{
	const uint8_t	*val;
	char		*copy;
	size_t		 len, i;

	if (ipc_find(m, key, &val, &len) != 1 || len > max)
		return -1;
	/* Tab is the one control byte a text value may carry. */
	for (i = 0; i < len; i++) {
		if ((val[i] < 0x20 && val[i] != '\t') || val[i] == 0x7f)
			return -1;
	}
	copy = xmalloc(len + 1);	/* UNSAFE: len <= body len < SIZE_MAX */
	memcpy(copy, val, len);
	copy[len] = '\0';
	m->strs = xreallocarray(m->strs, m->nstrs + 1, sizeof(*m->strs));
	m->strs[m->nstrs++] = copy;
	*val_r = copy;
	return 0;
}

int
ipc_get_data(struct ipc_msg *m, const char *key, size_t max,
    const uint8_t **data_r, size_t *len_r)
{
	const uint8_t	*val;
	size_t		 len;

	if (ipc_find(m, key, &val, &len) != 1 || len > max)
		return -1;
	*data_r = val;
	*len_r = len;
	return 0;
}

int
ipc_get_u64(struct ipc_msg *m, const char *key, uint64_t max,
    uint64_t *val_r)
{
	const uint8_t	*val;
	size_t		 len;

	if (ipc_find(m, key, &val, &len) != 1)
		return -1;
	return parse_u64_n((const char *)val, len, max, val_r);
}

bool
ipc_has(const struct ipc_msg *m, const char *key)
{
	const uint8_t	*val;
	size_t		 len;

	return ipc_find(m, key, &val, &len) == 1;
}

int
ipc_get_list(const struct ipc_msg *m, const char *key, size_t max,
    size_t vmax, bool empty_ok, char ***list_r, size_t *n_r)
{
	const uint8_t	*val;
	const char	*k;
	char		**list;
	size_t		 cursor = 0, klen, vlen, n = 0, cap = 8, i, keylen;
	int		 ret;

	keylen = strlen(key);
	list = xreallocarray(NULL, cap, sizeof(*list));
	list[0] = NULL;
	while ((ret = ipc_next_field(m, &cursor, &k, &klen, &val,
	    &vlen)) == 1) {
		if (klen != keylen || memcmp(k, key, klen) != 0)
			continue;
		if (n == max || (vlen == 0 && !empty_ok) || vlen > vmax)
			goto fail;
		for (i = 0; i < vlen; i++)
			if (val[i] < 0x20 || val[i] == 0x7f)
				goto fail;
		if (n + 1 == cap) {
			cap *= 2;
			list = xreallocarray(list, cap, sizeof(*list));
		}
		list[n++] = xstrndup((const char *)val, vlen);
		list[n] = NULL;
	}
	if (ret == -1)
		goto fail;
	*list_r = list;
	if (n_r != NULL)
		*n_r = n;
	return 0;
fail:
	ipc_list_free(&list);
	return -1;
}

void
ipc_list_free(char ***listp)
{
	char	**list = *listp;
	size_t	  i;

	if (list == NULL)
		return;
	for (i = 0; list[i] != NULL; i++)
		free(list[i]);
	free(list);
	*listp = NULL;
}

/* ---- codec ------------------------------------------------------------ */

int
ipc_decode(const uint8_t *data, size_t len, size_t max,
    struct ipc_msg **m_r, size_t *used_r, const char **error_r)
{
	const uint8_t	*body, *key, *val;
	struct ipc_msg	*m;
	size_t		 blen, cursor, klen, vlen;
	int		 ret;

	if (ipc_header_check(data, len, max, error_r) == -1)
		return -1;
	if (len < IPC_HEADER_SIZE)
		return 0;
	blen = ipc_get32(data + 4);
	if (len - IPC_HEADER_SIZE < blen)
		return 0;
	body = data + IPC_HEADER_SIZE;

	/* The whole structure now, so that the getters may trust it. */
	cursor = 0;
	while ((ret = ipc_field_parse(body, blen, &cursor, &key, &klen, &val,
	    &vlen, error_r)) == 1)
		;
	if (ret == -1)
		return -1;

	/* A received body may be extended up to the usual build limit. */
	m = ipc_msg_alloc(ipc_get16(data), ipc_get16(data + 2),
	    ipc_get32(data + 8), blen + 1,
	    blen > IPC_MAX_BUILD ? blen : IPC_MAX_BUILD);
	if (buf_append(m->body, body, blen) == -1)
		log_panic("ipc_decode: body of %zu bytes does not fit", blen);
	*m_r = m;
	*used_r = IPC_HEADER_SIZE + blen;
	return 1;
}

void
ipc_encode(const struct ipc_msg *m, struct buf *out)
{
	uint8_t	hdr[IPC_HEADER_SIZE];

	ipc_header_put(hdr, m->type, m->flags, m->body->len, m->peer_id);
	if (m->body->len > out->max - out->len ||
	    sizeof(hdr) > out->max - out->len - m->body->len)
		log_panic("ipc_encode: frame of %zu bytes does not fit in "
		    "a buffer of at most %zu", sizeof(hdr) + m->body->len,
		    out->max);
	if (buf_append(out, hdr, sizeof(hdr)) == -1 ||
	    buf_append(out, m->body->data, m->body->len) == -1)
		log_panic("ipc_encode: append failed after the size check");
}

/* ---- descriptors ------------------------------------------------------ */

/* Sets up msg's control data to carry fd with SCM_RIGHTS. */
static void
ipc_cmsg_put(struct msghdr *msg, void *cbuf, size_t cbuf_size, int fd)
{
	struct cmsghdr	*cm;

	memset(cbuf, 0, cbuf_size);
	msg->msg_control = cbuf;
	msg->msg_controllen = CMSG_SPACE(sizeof(int));
	cm = CMSG_FIRSTHDR(msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
}

/*
 * Takes the descriptors out of a received msghdr: the first goes to *fd_r
 * when that is -1, any other is closed.  Returns the number that arrived.
 */
static size_t
ipc_cmsg_take(struct msghdr *msg, int *fd_r)
{
	struct cmsghdr	*cm;
	size_t		 n = 0, count, i;
	int		 fd;

	for (cm = CMSG_FIRSTHDR(msg); cm != NULL; cm = CMSG_NXTHDR(msg, cm)) {
		if (cm->cmsg_level != SOL_SOCKET ||
		    cm->cmsg_type != SCM_RIGHTS ||
		    cm->cmsg_len < CMSG_LEN(0))
			continue;
		count = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < count; i++) {
			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int),
			    sizeof(int));
			if (*fd_r == -1)
				*fd_r = fd;
			else
				(void)close(fd);
			n++;
		}
	}
	return n;
}

static void
ipc_close_fd(int *fdp)
{
	if (*fdp != -1)
		(void)close(*fdp);
	*fdp = -1;
}

/* ---- blocking transport ----------------------------------------------- */

static int
ipc_connect_with(const char *path, int flags, const char **error_r)
{
	struct sockaddr_un sun;
	int		 fd, saved;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (*path == '\0') {
		*error_r = "empty socket path";
		return -1;
	}
	if (str_copy(sun.sun_path, sizeof(sun.sun_path), path) == -1) {
		*error_r = error_fmt("socket path too long (%zu bytes, at most "
		    "%zu): %s", strlen(path), sizeof(sun.sun_path) - 1,
		    log_safe(path));
		return -1;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | flags,
	    0)) == -1) {
		*error_r = error_fmt("socket: %m");
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		saved = errno;
		(void)close(fd);
		errno = saved;
		*error_r = error_fmt("connect %s: %m", log_safe(path));
		return -1;
	}
	return fd;
}

int
ipc_connect(const char *path, const char **error_r)
{
	return ipc_connect_with(path, 0, error_r);
}

int
ipc_connect_nonblock(const char *path, const char **error_r)
{
	return ipc_connect_with(path, SOCK_NONBLOCK, error_r);
}

struct ipc_msg *
ipc_hello_new(const char *program)
{
	struct ipc_msg	*m;

	m = ipc_msg_new(IPC_HELLO, 0);
	ipc_add_u64(m, "version", IPC_PROTOCOL_VERSION);
	ipc_add_str(m, "program", program);
	return m;
}

static bool
ipc_program_valid(const char *s)
{
	size_t	i;

	for (i = 0; s[i] != '\0'; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
		    s[i] == '_' || s[i] == '/' || s[i] == '.'))
			return false;
	return i > 0;
}

int
ipc_hello_check(struct ipc_msg *m, const char **program_r,
    const char **error_r)
{
	uint64_t	version;

	if (m->type != IPC_HELLO) {
		*error_r = "expected HELLO";
		return -1;
	}
	if (ipc_get_u64(m, "version", UINT32_MAX, &version) == -1 ||
	    version != IPC_PROTOCOL_VERSION) {
		*error_r = error_fmt("protocol version %u expected (the two "
		    "programs are from different builds)",
		    IPC_PROTOCOL_VERSION);
		return -1;
	}
	if (ipc_get_str(m, "program", IPC_PROGRAM_MAX, program_r) == -1 ||
	    !ipc_program_valid(*program_r)) {
		*error_r = "missing or invalid program";
		return -1;
	}
	return 0;
}

/* Waits until sock is writable; for a socket someone made non-blocking. */
static int
ipc_wait_writable(int sock, const char **error_r)
{
	struct pollfd	pfd;

	pfd.fd = sock;
	pfd.events = POLLOUT;
	pfd.revents = 0;
	if (poll(&pfd, 1, -1) == -1 && errno != EINTR) {
		*error_r = error_fmt("poll: %m");
		return -1;
	}
	return 0;
}

int
ipc_write(int sock, const struct ipc_msg *m, int fd, const char **error_r)
{
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int))];
	} cbuf;
	uint8_t		 hdr[IPC_HEADER_SIZE];
	struct iovec	 iov[2];
	struct msghdr	 msg;
	const uint8_t	*body = (const uint8_t *)m->body->data;
	size_t		 blen = m->body->len, total, sent = 0;
	ssize_t		 n;
	uint16_t	 flags;
	bool		 fd_pending = fd != -1;

	flags = (uint16_t)((m->flags & ~IPC_F_FD) | (fd != -1 ? IPC_F_FD : 0));
	ipc_header_put(hdr, m->type, flags, blen, m->peer_id);
	total = sizeof(hdr) + blen;
	while (sent < total) {
		memset(&msg, 0, sizeof(msg));
		msg.msg_iov = iov;
		if (sent < sizeof(hdr)) {
			iov[0].iov_base = hdr + sent;
			iov[0].iov_len = sizeof(hdr) - sent;
			iov[1].iov_base = (void *)body;
			iov[1].iov_len = blen;
			msg.msg_iovlen = blen > 0 ? 2 : 1;
		} else {
			iov[0].iov_base = (void *)(body + (sent - sizeof(hdr)));
			iov[0].iov_len = total - sent;
			msg.msg_iovlen = 1;
		}
		/* The descriptor rides with the first byte of the frame. */
		if (fd_pending)
			ipc_cmsg_put(&msg, &cbuf, sizeof(cbuf), fd);
		n = sendmsg(sock, &msg, MSG_NOSIGNAL);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				if (ipc_wait_writable(sock, error_r) == -1)
					return -1;
				continue;
			}
			*error_r = error_fmt("sendmsg: %m");
			return -1;
		}
		if (n == 0) {
			*error_r = "sendmsg: nothing written";
			return -1;
		}
		fd_pending = false;
		sent += (size_t)n;
	}
	return 0;
}

static int64_t
ipc_now_ms(void)
{
	struct timespec	ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) == -1)
		log_panic("clock_gettime(CLOCK_MONOTONIC): %m");
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Waits until sock is readable or deadline_ms (-1: never) has passed.
 * Returns 0, or -1 with *error_r.
 */
static int
ipc_wait_readable(int sock, int64_t deadline_ms, const char **error_r)
{
	struct pollfd	pfd;
	int64_t		left;
	int		ret, wait;

	for (;;) {
		wait = -1;
		if (deadline_ms != -1) {
			left = deadline_ms - ipc_now_ms();
			if (left < 0)
				left = 0;
			wait = left > INT32_MAX ? INT32_MAX : (int)left;
		}
		pfd.fd = sock;
		pfd.events = POLLIN;
		pfd.revents = 0;
		ret = poll(&pfd, 1, wait);
		if (ret > 0)
			return 0;
		if (ret == 0) {
			*error_r = "timed out";
			return -1;
		}
		if (errno != EINTR) {
			*error_r = error_fmt("poll: %m");
			return -1;
		}
	}
}

/*
 * Reads exactly len bytes (never more: the next frame stays in the
 * socket).  The first descriptor that arrives goes to *fd_r, any other is
 * closed; all are counted in *nfds_r.  Returns 1 when done, 0 on end of
 * stream before any byte, -1 with *error_r.
 */
static int
ipc_recv_exact(int sock, uint8_t *p, size_t len, int64_t deadline_ms,
    int *fd_r, size_t *nfds_r, const char **error_r)
{
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int))];
	} cbuf;
	struct msghdr	msg;
	struct iovec	iov;
	size_t		got = 0;
	ssize_t		n;

	while (got < len) {
		if (ipc_wait_readable(sock, deadline_ms, error_r) == -1)
			return -1;
		iov.iov_base = p + got;
		iov.iov_len = len - got;
		memset(&msg, 0, sizeof(msg));
		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		msg.msg_control = &cbuf;
		msg.msg_controllen = sizeof(cbuf);
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
		if (n == -1) {
			if (errno == EINTR || errno == EAGAIN ||
			    errno == EWOULDBLOCK)
				continue;
			*error_r = error_fmt("recvmsg: %m");
			return -1;
		}
		*nfds_r += ipc_cmsg_take(&msg, fd_r);
		/* The kernel closed what did not fit; still an error. */
		if ((msg.msg_flags & MSG_CTRUNC) != 0) {
			*error_r = "control data truncated (too many "
			    "descriptors)";
			return -1;
		}
		if (n == 0) {
			if (got == 0)
				return 0;
			*error_r = "end of stream inside a frame";
			return -1;
		}
		got += (size_t)n;
	}
	return 1;
}

int
ipc_read(int sock, size_t max, int timeout_ms, struct ipc_msg **m_r,
    const char **error_r)
{
	uint8_t		 hdr[IPC_HEADER_SIZE], *frame = NULL;
	struct ipc_msg	*m = NULL;
	const char	*error;
	int64_t		 deadline = -1;
	size_t		 nfds = 0, nbody_fds = 0, blen, used;
	uint16_t	 flags;
	int		 fd = -1, body_fd = -1, ret;

	if (timeout_ms >= 0)
		deadline = ipc_now_ms() + timeout_ms;

	ret = ipc_recv_exact(sock, hdr, sizeof(hdr), deadline, &fd, &nfds,
	    &error);
	if (ret == 0 && nfds == 0)
		return 0;
	if (ret == 0)
		error = "descriptor without a frame";
	if (ret <= 0)
		goto fail;
	if (ipc_header_check(hdr, sizeof(hdr), max, &error) == -1)
		goto fail;
	flags = ipc_get16(hdr + 2);
	if (nfds > 1) {
		error = "more than one descriptor with a frame";
		goto fail;
	}
	if ((flags & IPC_F_FD) != 0 && nfds == 0) {
		error = "frame says IPC_F_FD but no descriptor came";
		goto fail;
	}
	if ((flags & IPC_F_FD) == 0 && nfds != 0) {
		error = "descriptor with a frame that does not say IPC_F_FD";
		goto fail;
	}

	/* len <= max was checked: only now is memory committed. */
	blen = ipc_get32(hdr + 4);
	frame = xmalloc(sizeof(hdr) + blen);
	memcpy(frame, hdr, sizeof(hdr));
	if (blen > 0) {
		ret = ipc_recv_exact(sock, frame + sizeof(hdr), blen, deadline,
		    &body_fd, &nbody_fds, &error);
		if (nbody_fds > 0) {
			/* A descriptor goes with the first byte, not later. */
			error = "descriptor in the middle of a frame";
			goto fail;
		}
		if (ret == 0)
			error = "end of stream inside a frame";
		if (ret <= 0)
			goto fail;
	}
	ret = ipc_decode(frame, sizeof(hdr) + blen, max, &m, &used, &error);
	if (ret == 0)
		log_panic("ipc_read: a whole frame decoded as partial");
	if (ret == -1)
		goto fail;
	free(frame);
	m->fd = fd;
	*m_r = m;
	return 1;

fail:
	free(frame);
	ipc_close_fd(&fd);
	ipc_close_fd(&body_fd);
	*error_r = error;
	return -1;
}

/* ---- event-driven transport ------------------------------------------- */

/* A received descriptor, waiting for its frame to complete. */
struct ipc_in_fd {
	uint64_t	 start;		/* input positions of the read that */
	uint64_t	 end;		/* brought it: its frame starts there */
	int		 fd;
};

/* A descriptor to send with the first byte of its frame. */
struct ipc_out_fd {
	uint64_t	 pos;		/* output position of that byte */
	int		 fd;		/* our dup, closed once sent */
};

struct ipc_conn {
	struct event_base *base;
	int		 fd;
	size_t		 max;
	char		*peer;
	ipc_msg_cb	*on_msg;
	ipc_close_cb	*on_close;
	void		*ctx;

	struct event	*ev_read;
	struct event	*ev_write;
	struct event	*ev_flush;	/* writes once the callback returns */
	struct event	*ev_close;	/* closes after a refused send */

	/*
	 * Positions count the bytes of the stream since the start, so a
	 * descriptor can be matched with the frame it belongs to.
	 */
	struct buf	 in;		/* at most IPC_HEADER_SIZE + max */
	uint64_t	 in_pos;	/* stream position of in.data[0] */
	struct ipc_in_fd in_fds[IPC_CONN_IN_FDS];
	size_t		 n_in_fds;
	uint8_t		*chunk;
	size_t		 chunk_size;

	struct evbuffer	*out;
	uint64_t	 out_pos;	/* stream position of out[0] */
	struct ipc_out_fd *out_fds;	/* in stream order */
	size_t		 n_out_fds;
	size_t		 size_out_fds;
	size_t		 out_limit;

	const char	*close_reason;	/* for ev_close */
	unsigned int	 depth;		/* our callbacks running on the stack */
	bool		 closing;	/* ev_close is scheduled */
	bool		 closed;	/* on_close ran or is running */
	bool		 free_pending;	/* ipc_conn_free() inside a callback */
};

static void	ipc_conn_read_cb(evutil_socket_t, short, void *);
static void	ipc_conn_write_cb(evutil_socket_t, short, void *);
static void	ipc_conn_flush_cb(evutil_socket_t, short, void *);
static void	ipc_conn_close_cb(evutil_socket_t, short, void *);

struct ipc_conn *
ipc_conn_new(struct event_base *base, int fd, size_t max,
    const char *peer_name, ipc_msg_cb *on_msg, ipc_close_cb *on_close,
    void *ctx)
{
	struct ipc_conn	*c;
	int		 fl;

	/* A length word cannot say more; this also bounds the sums below. */
	if (max > UINT32_MAX)
		max = UINT32_MAX;
	c = xcalloc(1, sizeof(*c));
	c->base = base;
	c->fd = fd;
	c->max = max;
	c->peer = xstrdup(peer_name);
	c->on_msg = on_msg;
	c->on_close = on_close;
	c->ctx = ctx;

	/* Every send and receive also says MSG_DONTWAIT. */
	if ((fl = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1)
		log_warning("ipc: %s: cannot make fd %d non-blocking: %m",
		    c->peer, fd);

	buf_init(&c->in, 0, IPC_HEADER_SIZE + max);
	c->chunk_size = IPC_HEADER_SIZE + max < IPC_CONN_CHUNK ?
	    IPC_HEADER_SIZE + max : IPC_CONN_CHUNK;
	c->chunk = xmalloc(c->chunk_size);
	if ((c->out = evbuffer_new()) == NULL)
		log_fatal("ipc: evbuffer_new failed");
	c->out_limit = IPC_CONN_OUT_FRAMES * (IPC_HEADER_SIZE + max);

	c->ev_read = event_new(base, fd, EV_READ | EV_PERSIST,
	    ipc_conn_read_cb, c);
	c->ev_write = event_new(base, fd, EV_WRITE | EV_PERSIST,
	    ipc_conn_write_cb, c);
	c->ev_flush = event_new(base, -1, 0, ipc_conn_flush_cb, c);
	c->ev_close = event_new(base, -1, 0, ipc_conn_close_cb, c);
	if (c->ev_read == NULL || c->ev_write == NULL || c->ev_flush == NULL ||
	    c->ev_close == NULL)
		log_fatal("ipc: event_new failed");
	if (event_add(c->ev_read, NULL) == -1)
		log_fatal("ipc: event_add failed");
	return c;
}

/* Stops all I/O and drops what is queued; the socket stays open. */
static void
ipc_conn_stop(struct ipc_conn *c)
{
	size_t	i;

	(void)event_del(c->ev_read);
	(void)event_del(c->ev_write);
	(void)event_del(c->ev_flush);
	(void)event_del(c->ev_close);
	for (i = 0; i < c->n_in_fds; i++)
		(void)close(c->in_fds[i].fd);
	c->n_in_fds = 0;
	for (i = 0; i < c->n_out_fds; i++)
		(void)close(c->out_fds[i].fd);
	c->n_out_fds = 0;
	(void)evbuffer_drain(c->out, evbuffer_get_length(c->out));
}

static void
ipc_conn_destroy(struct ipc_conn *c)
{
	ipc_conn_stop(c);
	event_free(c->ev_read);
	event_free(c->ev_write);
	event_free(c->ev_flush);
	event_free(c->ev_close);
	evbuffer_free(c->out);
	free(c->out_fds);
	buf_deinit(&c->in);
	free(c->chunk);
	free(c->peer);
	(void)close(c->fd);
	free(c);
}

void
ipc_conn_free(struct ipc_conn **cp)
{
	struct ipc_conn	*c = *cp;

	if (c == NULL)
		return;
	*cp = NULL;
	if (c->depth > 0) {
		/* Inside our own callback: finish when it returns. */
		ipc_conn_stop(c);
		c->closed = true;
		c->free_pending = true;
		return;
	}
	ipc_conn_destroy(c);
}

/* Called on the way out of each libevent callback of c. */
static void
ipc_conn_leave(struct ipc_conn *c)
{
	c->depth--;
	if (c->depth == 0 && c->free_pending)
		ipc_conn_destroy(c);
}

/*
 * Writes as much of the output as the socket takes now.  Returns 0, or -1
 * with *error_r when the socket failed.
 */
static int
ipc_conn_write(struct ipc_conn *c, const char **error_r)
{
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int))];
	} cbuf;
	struct evbuffer_iovec vec[IPC_CONN_IOV];
	struct iovec	 iov[IPC_CONN_IOV];
	struct msghdr	 msg;
	size_t		 span, total, len;
	ssize_t		 n;
	int		 nvec, i, niov;
	bool		 with_fd;

	while ((span = evbuffer_get_length(c->out)) > 0) {
		/*
		 * Each descriptor must go with the first byte of its frame:
		 * one sendmsg() never crosses the start of the next frame
		 * that carries one.
		 */
		with_fd = false;
		if (c->n_out_fds > 0) {
			if (c->out_fds[0].pos == c->out_pos) {
				with_fd = true;
				if (c->n_out_fds > 1)
					span = (size_t)(c->out_fds[1].pos -
					    c->out_pos);
			} else
				span = (size_t)(c->out_fds[0].pos - c->out_pos);
		}
		nvec = evbuffer_peek(c->out, (ev_ssize_t)span, NULL, vec,
		    IPC_CONN_IOV);
		if (nvec > IPC_CONN_IOV)
			nvec = IPC_CONN_IOV;
		total = 0;
		niov = 0;
		for (i = 0; i < nvec && total < span; i++) {
			len = vec[i].iov_len;
			if (len > span - total)
				len = span - total;
			iov[niov].iov_base = vec[i].iov_base;
			iov[niov].iov_len = len;
			niov++;
			total += len;
		}
		memset(&msg, 0, sizeof(msg));
		msg.msg_iov = iov;
		msg.msg_iovlen = (size_t)niov;
		if (with_fd)
			ipc_cmsg_put(&msg, &cbuf, sizeof(cbuf),
			    c->out_fds[0].fd);
		n = sendmsg(c->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			*error_r = error_fmt("write: %m");
			return -1;
		}
		if (n == 0)
			return 0;
		if (with_fd) {
			(void)close(c->out_fds[0].fd);
			c->n_out_fds--;
			memmove(c->out_fds, c->out_fds + 1,
			    c->n_out_fds * sizeof(*c->out_fds));
		}
		if (evbuffer_drain(c->out, (size_t)n) == -1)
			log_panic("ipc: evbuffer_drain failed");
		c->out_pos += (uint64_t)n;
	}
	return 0;
}

/*
 * Closes c once: stops I/O, tells the owner.  The output gets one last
 * try (a refusal queued just before a handler returned -1) unless the
 * socket already failed.
 */
static void
ipc_conn_close(struct ipc_conn *c, const char *reason, bool flush)
{
	const char	*error;

	if (c->closed)
		return;
	c->closed = true;
	if (flush)
		(void)ipc_conn_write(c, &error);
	ipc_conn_stop(c);
	c->on_close(c, reason, c->ctx);
}

static void
ipc_conn_bad(struct ipc_conn *c, const char *error)
{
	log_warning("ipc: bad frame from %s: %s", c->peer, error);
	ipc_conn_close(c, error_fmt("bad frame: %s", error), true);
}

/*
 * Matches the descriptor queue with the frame at stream positions
 * [start, end).  Returns 0 (m->fd set when the frame says IPC_F_FD), or -1
 * with *error_r.
 */
static int
ipc_conn_take_fd(struct ipc_conn *c, struct ipc_msg *m, uint64_t start,
    uint64_t end, const char **error_r)
{
	struct ipc_in_fd *f = &c->in_fds[0];

	if (c->n_in_fds == 0) {
		if ((m->flags & IPC_F_FD) == 0)
			return 0;
		*error_r = "frame says IPC_F_FD but no descriptor came";
		return -1;
	}
	/*
	 * A descriptor arrives with the first byte of its frame, so its
	 * frame starts inside the read that brought it.  If no frame left
	 * can start there, nobody claimed it.
	 */
	if ((m->flags & IPC_F_FD) == 0) {
		if (f->end <= end) {
			*error_r = "descriptor with a frame that does not say "
			    "IPC_F_FD";
			return -1;
		}
		return 0;
	}
	if (f->end <= start) {
		*error_r = "descriptor with a frame that does not say IPC_F_FD";
		return -1;
	}
	if (f->start > start) {
		*error_r = "frame says IPC_F_FD but no descriptor came";
		return -1;
	}
	m->fd = f->fd;
	c->n_in_fds--;
	memmove(c->in_fds, c->in_fds + 1, c->n_in_fds * sizeof(*c->in_fds));
	return 0;
}

/* Hands every complete frame in the input to on_msg. */
static void
ipc_conn_process(struct ipc_conn *c)
{
	struct ipc_msg	*m;
	const char	*error;
	size_t		 off = 0, used;
	uint64_t	 start;
	int		 ret;

	for (;;) {
		ret = ipc_decode((const uint8_t *)c->in.data + off,
		    c->in.len - off, c->max, &m, &used, &error);
		if (ret == 0)
			break;
		if (ret == -1) {
			ipc_conn_bad(c, error);
			return;
		}
		start = c->in_pos + off;
		off += used;
		if (ipc_conn_take_fd(c, m, start, c->in_pos + off,
		    &error) == -1) {
			ipc_msg_free(&m);
			ipc_conn_bad(c, error);
			return;
		}
		if (c->on_msg(c, m, c->ctx) == -1) {
			ipc_conn_close(c, "closed by handler", true);
			return;
		}
		/* The handler may have closed or freed the connection. */
		if (c->closed || c->closing)
			return;
	}
	buf_consume(&c->in, off);
	c->in_pos += off;

	/* Only the partial frame's descriptor may wait (see IN_FDS). */
	if (c->n_in_fds > 0 && c->in_fds[0].end <= c->in_pos) {
		ipc_conn_bad(c, "descriptor with a frame that does not say "
		    "IPC_F_FD");
		return;
	}
	if (c->n_in_fds > 1)
		ipc_conn_bad(c, "more than one descriptor with a frame");
}

static void
ipc_conn_read(struct ipc_conn *c)
{
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int))];
	} cbuf;
	struct msghdr	msg;
	struct iovec	iov;
	size_t		want, nfds;
	ssize_t		n;
	int		fd = -1;

	/* What is buffered is a partial frame: < IPC_HEADER_SIZE + max. */
	want = c->in.max - c->in.len;
	if (want > c->chunk_size)
		want = c->chunk_size;
	if (want == 0)
		log_panic("ipc: %s: input full of a partial frame", c->peer);
	iov.iov_base = c->chunk;
	iov.iov_len = want;
	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = &cbuf;
	msg.msg_controllen = sizeof(cbuf);
	n = recvmsg(c->fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	if (n == -1) {
		if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
			return;
		ipc_conn_close(c, error_fmt("read: %m"), false);
		return;
	}
	nfds = ipc_cmsg_take(&msg, &fd);
	if ((msg.msg_flags & MSG_CTRUNC) != 0 || nfds > 1) {
		ipc_close_fd(&fd);
		ipc_conn_bad(c, "more than one descriptor with a frame");
		return;
	}
	if (n == 0) {
		ipc_close_fd(&fd);
		ipc_conn_close(c, c->in.len == 0 ? "connection closed by peer" :
		    "connection closed by peer inside a frame", true);
		return;
	}
	if (nfds == 1) {
		/* At most one waits (checked after every read): room for 2. */
		c->in_fds[c->n_in_fds].start = c->in_pos + c->in.len;
		c->in_fds[c->n_in_fds].end = c->in_pos + c->in.len +
		    (uint64_t)n;
		c->in_fds[c->n_in_fds].fd = fd;
		c->n_in_fds++;
	}
	if (buf_append(&c->in, c->chunk, (size_t)n) == -1)
		log_panic("ipc: %s: read past the input limit", c->peer);
	ipc_conn_process(c);
}

static void
ipc_conn_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ipc_conn	*c = arg;

	c->depth++;
	ipc_conn_read(c);
	ipc_conn_leave(c);
}

static void
ipc_conn_write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ipc_conn	*c = arg;
	const char	*error;

	c->depth++;
	if (ipc_conn_write(c, &error) == -1)
		ipc_conn_close(c, error, false);
	else if (evbuffer_get_length(c->out) == 0)
		(void)event_del(c->ev_write);
	ipc_conn_leave(c);
}

/*
 * The first write of what the callbacks of this loop turn queued: straight
 * to the socket, without asking epoll whether it is writable (it nearly
 * always is); only what does not fit waits for EV_WRITE.
 */
static void
ipc_conn_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ipc_conn	*c = arg;
	const char	*error;

	c->depth++;
	if (ipc_conn_write(c, &error) == -1)
		ipc_conn_close(c, error, false);
	else if (evbuffer_get_length(c->out) > 0 &&
	    event_add(c->ev_write, NULL) == -1)
		log_fatal("ipc: event_add failed");
	ipc_conn_leave(c);
}

static void
ipc_conn_close_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ipc_conn	*c = arg;

	c->depth++;
	ipc_conn_close(c, c->close_reason, false);
	ipc_conn_leave(c);
}

int
ipc_conn_send(struct ipc_conn *c, const struct ipc_msg *m, int fd)
{
	uint8_t		hdr[IPC_HEADER_SIZE];
	size_t		pending, frame;
	uint16_t	flags;
	int		dfd = -1;

	if (c->closed || c->closing)
		return -1;
	pending = evbuffer_get_length(c->out);
	frame = IPC_HEADER_SIZE + m->body->len;	/* UNSAFE: body < 4G */
	if (pending > c->out_limit || frame > c->out_limit - pending) {
		/*
		 * The peer reads nothing; close from the loop, so the
		 * caller never sees on_close run inside this call.
		 */
		log_warning("ipc: %s: output queue over %zu bytes, closing",
		    c->peer, c->out_limit);
		c->closing = true;
		c->close_reason = "output queue full";
		(void)event_del(c->ev_read);
		(void)event_del(c->ev_write);
		(void)event_del(c->ev_flush);
		event_active(c->ev_close, EV_TIMEOUT, 1);
		return -1;
	}
	if (fd != -1 && (dfd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) == -1) {
		log_warning("ipc: %s: cannot duplicate fd %d to send: %m",
		    c->peer, fd);
		return -1;
	}
	flags = (uint16_t)((m->flags & ~IPC_F_FD) | (fd != -1 ? IPC_F_FD : 0));
	ipc_header_put(hdr, m->type, flags, m->body->len, m->peer_id);
	if (dfd != -1) {
		if (c->n_out_fds == c->size_out_fds) {
			c->size_out_fds = c->size_out_fds == 0 ? 4 :
			    c->size_out_fds * 2;
			c->out_fds = xreallocarray(c->out_fds, c->size_out_fds,
			    sizeof(*c->out_fds));
		}
		c->out_fds[c->n_out_fds].pos = c->out_pos + pending;
		c->out_fds[c->n_out_fds].fd = dfd;
		c->n_out_fds++;
	}
	if (evbuffer_add(c->out, hdr, sizeof(hdr)) == -1 ||
	    evbuffer_add(c->out, m->body->data, m->body->len) == -1)
		log_fatal("ipc: out of memory queueing %zu bytes", frame);
	/* Frames queued in the same turn of the loop go out together. */
	if (!event_pending(c->ev_write, EV_WRITE, NULL))
		event_active(c->ev_flush, EV_WRITE, 1);
	return 0;
}

int
ipc_conn_reply(struct ipc_conn *c, uint16_t type, uint32_t peer_id,
    const char *text)
{
	struct ipc_msg	*m;
	int		 r;

	m = ipc_msg_new(type, peer_id);
	if (text != NULL)
		ipc_add_str(m, "text", text);
	r = ipc_conn_send(c, m, -1);
	ipc_msg_free(&m);
	return r;
}

int
ipc_conn_flush(struct ipc_conn *c)
{
	const char	*error;

	if (c->closed)
		return -1;
	if (ipc_conn_write(c, &error) == -1)
		return -1;
	return evbuffer_get_length(c->out) == 0 ? 0 : 1;
}

char *
ipc_peer_name(int fd, const char *prefix)
{
	struct ucred	 cred;
	socklen_t	 len = sizeof(cred);
	const char	*sep = prefix[0] != '\0' ? " " : "";

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0)
		return xasprintf("%s%sclient pid %ld uid %lu", prefix, sep,
		    (long)cred.pid, (unsigned long)cred.uid);
	return xasprintf("%s%sclient", prefix, sep);
}

int
ipc_conn_fd(const struct ipc_conn *c)
{
	return c->fd;
}

const char *
ipc_conn_peer(const struct ipc_conn *c)
{
	return c->peer;
}

/* ---- request deadlines ---------------------------------------------- */

static void
ipc_monotonic(struct timespec *ts)
{
	if (clock_gettime(CLOCK_MONOTONIC, ts) == -1)
		log_panic("clock_gettime(CLOCK_MONOTONIC): %m");
}

void
ipc_deadline_set(struct timespec *ts, unsigned int seconds)
{
	ipc_monotonic(ts);
	ts->tv_sec += (time_t)seconds;
}

bool
ipc_deadline_passed(const struct timespec *deadline)
{
	struct timespec	now;

	ipc_monotonic(&now);
	now.tv_nsec += 1000000;
	if (now.tv_nsec >= 1000000000) {
		now.tv_sec++;
		now.tv_nsec -= 1000000000;
	}
	return deadline->tv_sec < now.tv_sec ||
	    (deadline->tv_sec == now.tv_sec && deadline->tv_nsec <= now.tv_nsec);
}

void
ipc_timer_at(struct event *ev, const struct timespec *deadline)
{
	struct timespec	now;
	struct timeval	tv;
	int64_t		ms;

	ipc_monotonic(&now);
	ms = ((int64_t)deadline->tv_sec - now.tv_sec) * 1000 +
	    (deadline->tv_nsec - now.tv_nsec + 999999) / 1000000;
	if (ms < 0)
		ms = 0;
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	if (evtimer_add(ev, &tv) == -1)
		log_fatal("ipc: cannot arm a timer");
}
