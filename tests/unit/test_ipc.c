/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for common/ipc.c: builders and getters (each limit at max
 * and max + 1, missing keys, control bytes), the decoder on truncated and
 * malformed frames, the blocking transport over socketpairs (descriptor
 * passing, stray and missing descriptors, timeouts, limits) and ipc_conn
 * on an event_base (traffic both ways with descriptors, bad frames,
 * partial frames, the size and output limits, freeing from callbacks).
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <event2/event.h>

#include "common/buf.h"
#include "common/ipc.h"

#include "common/banned.h"

/* ---- helpers ---------------------------------------------------------- */

static size_t
put_header(uint8_t *p, uint16_t type, uint16_t flags, uint32_t len,
    uint32_t peer)
{
	p[0] = (uint8_t)(type >> 8);
	p[1] = (uint8_t)type;
	p[2] = (uint8_t)(flags >> 8);
	p[3] = (uint8_t)flags;
	p[4] = (uint8_t)(len >> 24);
	p[5] = (uint8_t)(len >> 16);
	p[6] = (uint8_t)(len >> 8);
	p[7] = (uint8_t)len;
	p[8] = (uint8_t)(peer >> 24);
	p[9] = (uint8_t)(peer >> 16);
	p[10] = (uint8_t)(peer >> 8);
	p[11] = (uint8_t)peer;
	return IPC_HEADER_SIZE;
}

/* A field with a key of klen bytes and a declared value length vlen. */
static size_t
put_field(uint8_t *p, const char *key, size_t klen, uint32_t vlen,
    const void *val, size_t val_len)
{
	size_t	n = 0;

	p[n++] = (uint8_t)klen;
	memcpy(p + n, key, klen);
	n += klen;
	p[n++] = (uint8_t)(vlen >> 24);
	p[n++] = (uint8_t)(vlen >> 16);
	p[n++] = (uint8_t)(vlen >> 8);
	p[n++] = (uint8_t)vlen;
	memcpy(p + n, val, val_len);
	return n + val_len;
}

/* A frame of type IPC_OK holding body[0..blen). */
static size_t
put_frame(uint8_t *p, uint16_t flags, const uint8_t *body, size_t blen)
{
	put_header(p, IPC_OK, flags, (uint32_t)blen, 7);
	memcpy(p + IPC_HEADER_SIZE, body, blen);
	return IPC_HEADER_SIZE + blen;
}

static int
decode(const uint8_t *data, size_t len, size_t max, struct ipc_msg **m_r,
    size_t *used_r)
{
	const char	*error = NULL;
	int		 ret;

	*m_r = NULL;
	ret = ipc_decode(data, len, max, m_r, used_r, &error);
	if (ret == -1)
		ck_assert_ptr_nonnull(error);
	return ret;
}

/* Decodes a frame whose body is body[0..blen): 1, 0 or -1. */
static int
decode_body(const uint8_t *body, size_t blen)
{
	uint8_t		 frame[512];
	struct ipc_msg	*m;
	size_t		 len, used;
	int		 ret;

	ck_assert_uint_le(blen, sizeof(frame) - IPC_HEADER_SIZE);
	len = put_frame(frame, 0, body, blen);
	ret = decode(frame, len, 1024, &m, &used);
	if (ret == 1)
		ck_assert_uint_eq(used, len);
	ipc_msg_free(&m);
	return ret;
}

static struct ipc_msg *
roundtrip(const struct ipc_msg *m)
{
	struct buf	*out = buf_new(0, 1024 * 1024);
	struct ipc_msg	*r;
	size_t		 used;

	ipc_encode(m, out);
	ck_assert_int_eq(decode((const uint8_t *)out->data, out->len,
	    1024 * 1024, &r, &used), 1);
	ck_assert_uint_eq(used, out->len);
	buf_free(&out);
	return r;
}

/* The number the next descriptor gets; it is free again on return. */
static int
probe_fd(void)
{
	int	fd;

	fd = open("/dev/null", O_RDONLY);
	ck_assert_int_ge(fd, 0);
	close(fd);
	return fd;
}

static void
assert_fd_closed(int fd)
{
	errno = 0;
	ck_assert_int_eq(fcntl(fd, F_GETFD), -1);
	ck_assert_int_eq(errno, EBADF);
}

static void
send_raw(int sock, const void *data, size_t len, const int *fds, size_t nfds)
{
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int) * 4)];
	} cbuf;
	struct msghdr	 msg;
	struct iovec	 iov;
	struct cmsghdr	*cm;

	ck_assert_uint_le(nfds, 4);
	memset(&msg, 0, sizeof(msg));
	memset(&cbuf, 0, sizeof(cbuf));
	iov.iov_base = (void *)data;
	iov.iov_len = len;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	if (nfds > 0) {
		msg.msg_control = &cbuf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
	}
	ck_assert_int_eq(sendmsg(sock, &msg, MSG_NOSIGNAL), (ssize_t)len);
}

static void
make_pair(int sv[2])
{
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
	    sv), 0);
}

static bool
same_file(int a, int b)
{
	struct stat	sa, sb;

	ck_assert_int_eq(fstat(a, &sa), 0);
	ck_assert_int_eq(fstat(b, &sb), 0);
	return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static long
elapsed_ms(const struct timespec *t0)
{
	struct timespec	t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (long)(t1.tv_sec - t0->tv_sec) * 1000 +
	    (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

/* ---- builders and getters --------------------------------------------- */

START_TEST(test_ipc_roundtrip)
{
	static const uint8_t bin[] = { 0, 1, 2, 0xff, 0, 'x' };
	struct ipc_msg	*m, *r;
	const char	*s, *key;
	const uint8_t	*d, *val;
	size_t		 len, klen, vlen, cursor = 0;
	uint64_t	 u;
	unsigned int	 n = 0;

	m = ipc_msg_new(IPC_HELLO, 0xdeadbeef);
	ck_assert_int_eq(m->fd, -1);
	ipc_add_str(m, "program", "smtpd");
	ipc_add_data(m, "blob", bin, sizeof(bin));
	ipc_add_u64(m, "zero", 0);
	ipc_add_u64(m, "big", UINT64_MAX);
	ipc_add_str(m, "rcpt", "a@example.test");
	ipc_add_str(m, "rcpt", "b@example.test");
	ipc_add_str(m, "empty", "");
	ipc_add_str(m, "k_0-9", "tab\there");

	r = roundtrip(m);
	ck_assert_uint_eq(r->type, IPC_HELLO);
	ck_assert_uint_eq(r->flags, 0);
	ck_assert_uint_eq(r->peer_id, 0xdeadbeef);
	ck_assert_int_eq(r->fd, -1);
	ck_assert_uint_eq(r->body->len, m->body->len);
	ck_assert_mem_eq(r->body->data, m->body->data, m->body->len);

	ck_assert_int_eq(ipc_get_str(r, "program", 100, &s), 0);
	ck_assert_str_eq(s, "smtpd");
	ck_assert_int_eq(ipc_get_data(r, "blob", 100, &d, &len), 0);
	ck_assert_uint_eq(len, sizeof(bin));
	ck_assert_mem_eq(d, bin, sizeof(bin));
	ck_assert_int_eq(ipc_get_u64(r, "zero", 0, &u), 0);
	ck_assert_uint_eq(u, 0);
	ck_assert_int_eq(ipc_get_u64(r, "big", UINT64_MAX, &u), 0);
	ck_assert_uint_eq(u, UINT64_MAX);
	/* A repeated key: the getters give the first. */
	ck_assert_int_eq(ipc_get_str(r, "rcpt", 100, &s), 0);
	ck_assert_str_eq(s, "a@example.test");
	ck_assert_int_eq(ipc_get_str(r, "empty", 0, &s), 0);
	ck_assert_str_eq(s, "");
	ck_assert_int_eq(ipc_get_str(r, "k_0-9", 100, &s), 0);
	ck_assert_str_eq(s, "tab\there");
	ck_assert(ipc_has(r, "blob"));
	ck_assert(ipc_has(r, "empty"));

	/* The builder's message reads the same. */
	ck_assert_int_eq(ipc_get_str(m, "program", 5, &s), 0);
	ck_assert_str_eq(s, "smtpd");

	/* Iteration sees every field, in order, repeats included. */
	while (ipc_next_field(r, &cursor, &key, &klen, &val, &vlen) == 1) {
		if (n == 0) {
			ck_assert_uint_eq(klen, 7);
			ck_assert_mem_eq(key, "program", 7);
			ck_assert_uint_eq(vlen, 5);
			ck_assert_mem_eq(val, "smtpd", 5);
		}
		if (n == 5) {
			ck_assert_uint_eq(klen, 4);
			ck_assert_mem_eq(key, "rcpt", 4);
			ck_assert_mem_eq(val, "b@example.test", vlen);
		}
		n++;
	}
	ck_assert_uint_eq(n, 8);
	ck_assert_uint_eq(cursor, r->body->len);
	ck_assert_int_eq(ipc_next_field(r, &cursor, &key, &klen, &val, &vlen),
	    0);
	/* A cursor past the end is an error, not a read past it. */
	cursor = r->body->len + 1;
	ck_assert_int_eq(ipc_next_field(r, &cursor, &key, &klen, &val, &vlen),
	    -1);

	ipc_msg_free(&r);
	ck_assert_ptr_null(r);
	ipc_msg_free(&m);
	ipc_msg_free(&m);		/* NULL is fine */
}
END_TEST

START_TEST(test_ipc_empty_body)
{
	struct ipc_msg	*m, *r;
	struct buf	*out = buf_new(0, 100);
	const char	*key, *s;
	const uint8_t	*val;
	size_t		 klen, vlen, cursor = 0;

	m = ipc_msg_new(IPC_OK, 1);
	ipc_encode(m, out);
	ck_assert_uint_eq(out->len, IPC_HEADER_SIZE);
	r = roundtrip(m);
	ck_assert_uint_eq(r->body->len, 0);
	ck_assert_int_eq(ipc_next_field(r, &cursor, &key, &klen, &val, &vlen),
	    0);
	ck_assert_int_eq(ipc_get_str(r, "text", 100, &s), -1);
	ck_assert(!ipc_has(r, "text"));
	ipc_msg_free(&r);
	ipc_msg_free(&m);
	buf_free(&out);
}
END_TEST

START_TEST(test_ipc_get_str_limits)
{
	struct ipc_msg	*m = ipc_msg_new(IPC_OK, 0);
	char		 v[101];
	const char	*s = NULL;

	memset(v, 'a', 100);
	v[100] = '\0';
	ipc_add_str(m, "v", v);
	ck_assert_int_eq(ipc_get_str(m, "v", 100, &s), 0);
	ck_assert_str_eq(s, v);
	s = NULL;
	ck_assert_int_eq(ipc_get_str(m, "v", 99, &s), -1);
	ck_assert_ptr_null(s);
	ipc_msg_free(&m);
}
END_TEST

/* Repeated fields: order, count and length limits, empties, controls. */
START_TEST(test_ipc_get_list_limits)
{
	struct ipc_msg	*m = ipc_msg_new(IPC_OK, 0);
	char		**list = NULL;
	size_t		 n = 99;

	ck_assert_int_eq(ipc_get_list(m, "r", 3, 10, false, &list, &n), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_ptr_null(list[0]);
	ipc_list_free(&list);
	ck_assert_ptr_null(list);

	ipc_add_str(m, "r", "one");
	ipc_add_str(m, "other", "x");
	ipc_add_str(m, "r", "0123456789");
	ipc_add_str(m, "r", "");
	ck_assert_int_eq(ipc_get_list(m, "r", 3, 10, true, &list, &n), 0);
	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(list[0], "one");
	ck_assert_str_eq(list[1], "0123456789");
	ck_assert_str_eq(list[2], "");
	ck_assert_ptr_null(list[3]);
	ipc_list_free(&list);
	/* One value too many, one byte too long, an empty one refused. */
	ck_assert_int_eq(ipc_get_list(m, "r", 2, 10, true, &list, &n), -1);
	ck_assert_int_eq(ipc_get_list(m, "r", 3, 9, true, &list, &n), -1);
	ck_assert_int_eq(ipc_get_list(m, "r", 3, 10, false, &list, &n), -1);
	ipc_msg_free(&m);

	m = ipc_msg_new(IPC_OK, 0);
	ipc_add_str(m, "r", "tab\there");
	ck_assert_int_eq(ipc_get_list(m, "r", 3, 10, false, &list, NULL), -1);
	ipc_msg_free(&m);
	m = ipc_msg_new(IPC_OK, 0);
	ipc_add_data(m, "r", "a\x7f", 2);
	ck_assert_int_eq(ipc_get_list(m, "r", 3, 10, false, &list, NULL), -1);
	ipc_msg_free(&m);
}
END_TEST

START_TEST(test_ipc_get_data_limits)
{
	struct ipc_msg	*m = ipc_msg_new(IPC_OK, 0);
	uint8_t		 v[100];
	const uint8_t	*d;
	size_t		 len;

	memset(v, 0, sizeof(v));
	v[50] = 0xff;
	ipc_add_data(m, "v", v, sizeof(v));
	ipc_add_data(m, "nil", v, 0);
	ck_assert_int_eq(ipc_get_data(m, "v", 100, &d, &len), 0);
	ck_assert_uint_eq(len, 100);
	ck_assert_mem_eq(d, v, 100);
	ck_assert_int_eq(ipc_get_data(m, "v", 99, &d, &len), -1);
	ck_assert_int_eq(ipc_get_data(m, "nil", 0, &d, &len), 0);
	ck_assert_uint_eq(len, 0);
	ipc_msg_free(&m);
}
END_TEST

START_TEST(test_ipc_get_u64_limits)
{
	struct ipc_msg	*m = ipc_msg_new(IPC_OK, 0);
	uint64_t	 u = 42;

	ipc_add_u64(m, "n", 12345);
	ipc_add_str(m, "over", "18446744073709551616");
	ipc_add_str(m, "alpha", "12a");
	ipc_add_str(m, "empty", "");
	ipc_add_str(m, "neg", "-1");
	ipc_add_str(m, "plus", "+1");
	ipc_add_str(m, "space", " 1");
	ipc_add_data(m, "nul", "1\0", 2);
	ipc_add_u64(m, "max", UINT64_MAX);

	ck_assert_int_eq(ipc_get_u64(m, "n", 12345, &u), 0);
	ck_assert_uint_eq(u, 12345);
	u = 42;
	ck_assert_int_eq(ipc_get_u64(m, "n", 12344, &u), -1);
	ck_assert_uint_eq(u, 42);
	ck_assert_int_eq(ipc_get_u64(m, "max", UINT64_MAX, &u), 0);
	ck_assert_uint_eq(u, UINT64_MAX);
	ck_assert_int_eq(ipc_get_u64(m, "max", UINT64_MAX - 1, &u), -1);
	ck_assert_int_eq(ipc_get_u64(m, "over", UINT64_MAX, &u), -1);
	ck_assert_int_eq(ipc_get_u64(m, "alpha", UINT64_MAX, &u), -1);
	ck_assert_int_eq(ipc_get_u64(m, "empty", UINT64_MAX, &u), -1);
	ck_assert_int_eq(ipc_get_u64(m, "neg", UINT64_MAX, &u), -1);
	ck_assert_int_eq(ipc_get_u64(m, "plus", UINT64_MAX, &u), -1);
	ck_assert_int_eq(ipc_get_u64(m, "space", UINT64_MAX, &u), -1);
	ck_assert_int_eq(ipc_get_u64(m, "nul", UINT64_MAX, &u), -1);
	ipc_msg_free(&m);
}
END_TEST

START_TEST(test_ipc_missing)
{
	struct ipc_msg	*m = ipc_msg_new(IPC_OK, 0);
	const char	*s;
	const uint8_t	*d;
	size_t		 len;
	uint64_t	 u;

	ipc_add_str(m, "ab", "x");
	ipc_add_u64(m, "abc", 1);
	/* Neither a prefix nor an extension of a key matches it. */
	ck_assert_int_eq(ipc_get_str(m, "a", 10, &s), -1);
	ck_assert_int_eq(ipc_get_data(m, "abcd", 10, &d, &len), -1);
	ck_assert_int_eq(ipc_get_u64(m, "b", 10, &u), -1);
	ck_assert(!ipc_has(m, "a"));
	ck_assert(!ipc_has(m, "x"));
	ck_assert(ipc_has(m, "ab"));
	ck_assert(ipc_has(m, "abc"));
	ipc_msg_free(&m);
}
END_TEST

START_TEST(test_ipc_str_control)
{
	static const char *const bad[] = {
		"a\001b", "\037", "line\n", "cr\r", "del\177", "\033[1m",
	};
	struct ipc_msg	*m = ipc_msg_new(IPC_OK, 0);
	const char	*s;
	size_t		 i;

	for (i = 0; i < N_ELEMENTS(bad); i++) {
		ipc_add_str(m, "v", bad[i]);
		ck_assert_msg(ipc_get_str(m, "v", 100, &s) == -1,
		    "accepted bad[%zu]", i);
		ipc_msg_free(&m);
		m = ipc_msg_new(IPC_OK, 0);
	}
	/* A NUL inside the value. */
	ipc_add_data(m, "v", "a\0b", 3);
	ck_assert_int_eq(ipc_get_str(m, "v", 100, &s), -1);
	ipc_msg_free(&m);

	/* Tab, space, tilde and 8-bit bytes (UTF-8) pass. */
	m = ipc_msg_new(IPC_OK, 0);
	ipc_add_str(m, "v", "\t ~\xc3\xa9\x80\xff");
	ck_assert_int_eq(ipc_get_str(m, "v", 100, &s), 0);
	ck_assert_str_eq(s, "\t ~\xc3\xa9\x80\xff");
	ipc_msg_free(&m);
}
END_TEST

START_TEST(test_ipc_key_max)
{
	struct ipc_msg	*m = ipc_msg_new(IPC_OK, 0), *r;
	char		 key[IPC_KEY_MAX + 1];
	const char	*s;

	memset(key, 'k', IPC_KEY_MAX);
	key[IPC_KEY_MAX] = '\0';
	ipc_add_str(m, key, "v");
	r = roundtrip(m);
	ck_assert_int_eq(ipc_get_str(r, key, 1, &s), 0);
	ck_assert_str_eq(s, "v");
	ipc_msg_free(&r);
	ipc_msg_free(&m);
}
END_TEST

START_TEST(test_ipc_build_key_too_long)
{
	struct ipc_msg	*m = ipc_msg_new(IPC_OK, 0);
	char		 key[IPC_KEY_MAX + 2];

	memset(key, 'k', IPC_KEY_MAX + 1);
	key[IPC_KEY_MAX + 1] = '\0';
	ipc_add_str(m, key, "v");	/* panics */
}
END_TEST

START_TEST(test_ipc_build_key_empty)
{
	struct ipc_msg	*m = ipc_msg_new(IPC_OK, 0);

	ipc_add_u64(m, "", 1);		/* panics */
}
END_TEST

START_TEST(test_ipc_build_key_upper)
{
	struct ipc_msg	*m = ipc_msg_new(IPC_OK, 0);

	ipc_add_data(m, "Key", "v", 1);	/* panics */
}
END_TEST

START_TEST(test_ipc_build_key_equals)
{
	struct ipc_msg	*m = ipc_msg_new(IPC_OK, 0);

	ipc_add_str(m, "a=b", "v");	/* panics */
}
END_TEST

START_TEST(test_ipc_build_type_none)
{
	(void)ipc_msg_new(IPC_NONE, 0);	/* panics */
}
END_TEST

START_TEST(test_ipc_build_type_max)
{
	(void)ipc_msg_new(IPC_TYPE_MAX, 0);	/* panics */
}
END_TEST

START_TEST(test_ipc_build_body_max)
{
	struct ipc_msg	*m = ipc_msg_new(IPC_OK, 0);
	uint8_t		*data;
	size_t		 len = IPC_MAX_BUILD - 1 - 1 - 4;

	/* A body of exactly IPC_MAX_BUILD bytes builds. */
	data = calloc(1, len);
	ck_assert_ptr_nonnull(data);
	ipc_add_data(m, "d", data, len);
	ck_assert_uint_eq(m->body->len, IPC_MAX_BUILD);
	free(data);
	ipc_msg_free(&m);
}
END_TEST

START_TEST(test_ipc_build_body_over)
{
	static const uint8_t one;
	struct ipc_msg	*m = ipc_msg_new(IPC_OK, 0);

	/* One byte over: the size check comes before any byte is read. */
	ipc_add_data(m, "d", &one, IPC_MAX_BUILD - 1 - 1 - 4 + 1);
}
END_TEST

START_TEST(test_ipc_encode_too_small)
{
	struct ipc_msg	*m = ipc_msg_new(IPC_OK, 0);
	struct buf	*out = buf_new(0, IPC_HEADER_SIZE + 6);

	ipc_add_str(m, "k", "vv");	/* 1 + 1 + 4 + 2 = 8 bytes */
	ipc_encode(m, out);		/* panics */
}
END_TEST

/* ---- decoder ---------------------------------------------------------- */

START_TEST(test_ipc_decode_truncated_header)
{
	struct ipc_msg	*m = ipc_msg_new(IPC_OK, 3), *r;
	struct buf	*out = buf_new(0, 1000);
	size_t		 n, used;

	ipc_add_str(m, "text", "hello");
	ipc_encode(m, out);
	for (n = 0; n < IPC_HEADER_SIZE; n++)
		ck_assert_int_eq(decode((const uint8_t *)out->data, n, 1000,
		    &r, &used), 0);
	ipc_msg_free(&m);
	buf_free(&out);
}
END_TEST

START_TEST(test_ipc_decode_truncated_body)
{
	struct ipc_msg	*m = ipc_msg_new(IPC_OK, 3), *r;
	struct buf	*out = buf_new(0, 1000);
	size_t		 n, used;

	ipc_add_str(m, "text", "hello");
	ipc_add_u64(m, "n", 5);
	ipc_encode(m, out);
	for (n = IPC_HEADER_SIZE; n < out->len; n++)
		ck_assert_int_eq(decode((const uint8_t *)out->data, n, 1000,
		    &r, &used), 0);
	ck_assert_int_eq(decode((const uint8_t *)out->data, out->len, 1000,
	    &r, &used), 1);
	ipc_msg_free(&r);
	ipc_msg_free(&m);
	buf_free(&out);
}
END_TEST

START_TEST(test_ipc_decode_oversized)
{
	uint8_t		 frame[IPC_HEADER_SIZE + 100];
	struct ipc_msg	*r;
	size_t		 used;
	uint8_t		 body[100];
	size_t		 n;

	/* len = max + 1: refused from the header alone (8 bytes suffice). */
	put_header(frame, IPC_OK, 0, 101, 0);
	ck_assert_int_eq(decode(frame, IPC_HEADER_SIZE, 100, &r, &used), -1);
	ck_assert_int_eq(decode(frame, 8, 100, &r, &used), -1);
	ck_assert_int_eq(decode(frame, 7, 100, &r, &used), 0);
	/* len = max: waits for the body, then decodes. */
	put_header(frame, IPC_OK, 0, 100, 0);
	ck_assert_int_eq(decode(frame, IPC_HEADER_SIZE, 100, &r, &used), 0);
	n = put_field(body, "d", 1, 100 - 6, "", 0);
	memset(body + n, 'x', 100 - n);
	memcpy(frame + IPC_HEADER_SIZE, body, 100);
	ck_assert_int_eq(decode(frame, sizeof(frame), 100, &r, &used), 1);
	ck_assert_uint_eq(used, sizeof(frame));
	ipc_msg_free(&r);
	/* The largest length word against a small limit. */
	put_header(frame, IPC_OK, 0, UINT32_MAX, 0);
	ck_assert_int_eq(decode(frame, IPC_HEADER_SIZE, 100, &r, &used), -1);
}
END_TEST

START_TEST(test_ipc_decode_flags)
{
	uint8_t		 frame[IPC_HEADER_SIZE];
	struct ipc_msg	*r;
	size_t		 used;

	put_header(frame, IPC_OK, 0x0002, 0, 0);
	ck_assert_int_eq(decode(frame, sizeof(frame), 100, &r, &used), -1);
	ck_assert_int_eq(decode(frame, 4, 100, &r, &used), -1);
	put_header(frame, IPC_OK, 0x8000, 0, 0);
	ck_assert_int_eq(decode(frame, sizeof(frame), 100, &r, &used), -1);
	put_header(frame, IPC_OK, IPC_F_FD | 0x0100, 0, 0);
	ck_assert_int_eq(decode(frame, sizeof(frame), 100, &r, &used), -1);
	/* IPC_F_FD alone is valid; the transport attaches the fd. */
	put_header(frame, IPC_OK, IPC_F_FD, 0, 0);
	ck_assert_int_eq(decode(frame, sizeof(frame), 100, &r, &used), 1);
	ck_assert_uint_eq(r->flags, IPC_F_FD);
	ck_assert_int_eq(r->fd, -1);
	ipc_msg_free(&r);
}
END_TEST

START_TEST(test_ipc_decode_type)
{
	uint8_t		 frame[IPC_HEADER_SIZE];
	struct ipc_msg	*r;
	size_t		 used;

	put_header(frame, IPC_NONE, 0, 0, 0);
	ck_assert_int_eq(decode(frame, sizeof(frame), 100, &r, &used), -1);
	ck_assert_int_eq(decode(frame, 2, 100, &r, &used), -1);
	ck_assert_int_eq(decode(frame, 1, 100, &r, &used), 0);
	put_header(frame, IPC_TYPE_MAX, 0, 0, 0);
	ck_assert_int_eq(decode(frame, sizeof(frame), 100, &r, &used), -1);
	put_header(frame, 0xffff, 0, 0, 0);
	ck_assert_int_eq(decode(frame, sizeof(frame), 100, &r, &used), -1);
	put_header(frame, 1, 0, 0, 0);
	ck_assert_int_eq(decode(frame, sizeof(frame), 100, &r, &used), 1);
	ipc_msg_free(&r);
	put_header(frame, IPC_TYPE_MAX - 1, 0, 0, 42);
	ck_assert_int_eq(decode(frame, sizeof(frame), 100, &r, &used), 1);
	ck_assert_uint_eq(r->type, IPC_TYPE_MAX - 1);
	ck_assert_uint_eq(r->peer_id, 42);
	ipc_msg_free(&r);
}
END_TEST

START_TEST(test_ipc_decode_key_chars)
{
	static const char bad[] = { 'A', 'Z', ' ', '=', '.', '/', ':', '\0',
	    '\n', '\177', '\200', '\377' };
	static const char good[] = "az09_-";
	uint8_t		 body[64];
	char		 key[3];
	size_t		 i, n;

	for (i = 0; i < sizeof(bad); i++) {
		key[0] = 'k';
		key[1] = bad[i];
		n = put_field(body, key, 2, 1, "v", 1);
		ck_assert_msg(decode_body(body, n) == -1, "accepted 0x%02x",
		    (unsigned int)(uint8_t)bad[i]);
	}
	for (i = 0; good[i] != '\0'; i++) {
		key[0] = good[i];
		n = put_field(body, key, 1, 1, "v", 1);
		ck_assert_int_eq(decode_body(body, n), 1);
	}
}
END_TEST

START_TEST(test_ipc_decode_key_len)
{
	uint8_t	body[128];
	char	key[IPC_KEY_MAX + 1];
	size_t	n;

	memset(key, 'k', sizeof(key));
	n = put_field(body, key, 0, 1, "v", 1);
	ck_assert_int_eq(decode_body(body, n), -1);
	n = put_field(body, key, IPC_KEY_MAX + 1, 1, "v", 1);
	ck_assert_int_eq(decode_body(body, n), -1);
	n = put_field(body, key, IPC_KEY_MAX, 1, "v", 1);
	ck_assert_int_eq(decode_body(body, n), 1);
	/* The key runs past the end of the body. */
	body[0] = 5;
	memcpy(body + 1, "abc", 3);
	ck_assert_int_eq(decode_body(body, 4), -1);
	/* A key length byte and nothing else. */
	body[0] = 1;
	ck_assert_int_eq(decode_body(body, 1), -1);
}
END_TEST

START_TEST(test_ipc_decode_value_len)
{
	uint8_t	body[64];
	size_t	n;

	/* Declared one byte more than there is. */
	n = put_field(body, "k", 1, 4, "abc", 3);
	ck_assert_int_eq(decode_body(body, n), -1);
	n = put_field(body, "k", 1, 3, "abc", 3);
	ck_assert_int_eq(decode_body(body, n), 1);
	n = put_field(body, "k", 1, UINT32_MAX, "abc", 3);
	ck_assert_int_eq(decode_body(body, n), -1);
	/* The length word itself cut short: 2 of its 4 bytes. */
	n = put_field(body, "k", 1, 0, "", 0);
	ck_assert_int_eq(decode_body(body, n - 2), -1);
	ck_assert_int_eq(decode_body(body, n), 1);
	/* A good field followed by a bad one: the whole body is refused. */
	n = put_field(body, "a", 1, 1, "x", 1);
	n += put_field(body + n, "b", 1, 9, "y", 1);
	ck_assert_int_eq(decode_body(body, n), -1);
}
END_TEST

START_TEST(test_ipc_decode_stream)
{
	struct ipc_msg	*a = ipc_msg_new(IPC_OK, 1);
	struct ipc_msg	*b = ipc_msg_new(IPC_ERROR, 2);
	struct ipc_msg	*r;
	struct buf	*out = buf_new(0, 1000);
	const char	*s;
	size_t		 used, first;

	ipc_add_str(a, "text", "one");
	ipc_add_str(b, "text", "two");
	ipc_encode(a, out);
	first = out->len;
	ipc_encode(b, out);
	ck_assert_int_eq(decode((const uint8_t *)out->data, out->len, 1000,
	    &r, &used), 1);
	ck_assert_uint_eq(used, first);
	ck_assert_uint_eq(r->peer_id, 1);
	ipc_msg_free(&r);
	ck_assert_int_eq(decode((const uint8_t *)out->data + first,
	    out->len - first, 1000, &r, &used), 1);
	ck_assert_uint_eq(r->type, IPC_ERROR);
	ck_assert_int_eq(ipc_get_str(r, "text", 3, &s), 0);
	ck_assert_str_eq(s, "two");
	ipc_msg_free(&r);
	ipc_msg_free(&a);
	ipc_msg_free(&b);
	buf_free(&out);
}
END_TEST

/* ---- blocking transport ----------------------------------------------- */

START_TEST(test_ipc_write_read_fd)
{
	struct ipc_msg	*m, *r;
	const char	*error = NULL, *s;
	char		 got[16];
	int		 sv[2], p[2];

	make_pair(sv);
	ck_assert_int_eq(pipe(p), 0);
	m = ipc_msg_new(IPC_HELLO, 9);
	ipc_add_str(m, "program", "test");
	ck_assert_int_eq(ipc_write(sv[0], m, p[1], &error), 0);
	ck_assert_int_eq(ipc_read(sv[1], 1024, 1000, &r, &error), 1);
	ck_assert_uint_eq(r->type, IPC_HELLO);
	ck_assert_uint_eq(r->flags, IPC_F_FD);
	ck_assert_uint_eq(r->peer_id, 9);
	ck_assert_int_eq(ipc_get_str(r, "program", 10, &s), 0);
	ck_assert_str_eq(s, "test");
	ck_assert_int_ge(r->fd, 0);
	ck_assert_int_ne(r->fd, p[1]);
	ck_assert(same_file(r->fd, p[1]));
	ck_assert_int_eq(fcntl(r->fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	/* Write into the pipe through the passed descriptor. */
	ck_assert_int_eq(write(r->fd, "hello", 5), 5);
	ck_assert_int_eq(read(p[0], got, sizeof(got)), 5);
	ck_assert_mem_eq(got, "hello", 5);
	ipc_msg_free(&r);
	/* The sender keeps its copy and m. */
	ck_assert_int_ne(fcntl(p[1], F_GETFD), -1);
	ck_assert_int_eq(m->flags, 0);

	/* The next frame carries none. */
	ck_assert_int_eq(ipc_write(sv[0], m, -1, &error), 0);
	ck_assert_int_eq(ipc_read(sv[1], 1024, 1000, &r, &error), 1);
	ck_assert_uint_eq(r->flags, 0);
	ck_assert_int_eq(r->fd, -1);
	ipc_msg_free(&r);

	ipc_msg_free(&m);
	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

START_TEST(test_ipc_read_eof)
{
	struct ipc_msg	*r = NULL;
	const char	*error = NULL;
	uint8_t		 frame[64];
	size_t		 n;
	int		 sv[2];

	make_pair(sv);
	close(sv[0]);
	ck_assert_int_eq(ipc_read(sv[1], 1024, 1000, &r, &error), 0);
	ck_assert_ptr_null(r);
	close(sv[1]);

	/* End of stream inside the header. */
	make_pair(sv);
	put_header(frame, IPC_OK, 0, 0, 0);
	ck_assert_int_eq(write(sv[0], frame, 5), 5);
	close(sv[0]);
	ck_assert_int_eq(ipc_read(sv[1], 1024, 1000, &r, &error), -1);
	ck_assert_ptr_nonnull(error);
	close(sv[1]);

	/* End of stream inside the body. */
	make_pair(sv);
	n = put_header(frame, IPC_OK, 0, 10, 0);
	n += put_field(frame + n, "k", 1, 4, "ab", 2);
	ck_assert_int_eq(write(sv[0], frame, n), (ssize_t)n);
	close(sv[0]);
	error = NULL;
	ck_assert_int_eq(ipc_read(sv[1], 1024, 1000, &r, &error), -1);
	ck_assert_ptr_nonnull(error);
	close(sv[1]);
}
END_TEST

START_TEST(test_ipc_read_flag_without_fd)
{
	struct ipc_msg	*r = NULL;
	const char	*error = NULL;
	uint8_t		 frame[IPC_HEADER_SIZE];
	int		 sv[2];

	make_pair(sv);
	put_header(frame, IPC_OK, IPC_F_FD, 0, 0);
	ck_assert_int_eq(write(sv[0], frame, sizeof(frame)), sizeof(frame));
	ck_assert_int_eq(ipc_read(sv[1], 1024, 1000, &r, &error), -1);
	ck_assert_ptr_nonnull(error);
	ck_assert_ptr_null(r);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

START_TEST(test_ipc_read_fd_without_flag)
{
	struct ipc_msg	*r = NULL;
	const char	*error = NULL;
	uint8_t		 frame[IPC_HEADER_SIZE];
	int		 sv[2], p[2], probe;

	make_pair(sv);
	ck_assert_int_eq(pipe(p), 0);
	put_header(frame, IPC_OK, 0, 0, 0);
	send_raw(sv[0], frame, sizeof(frame), &p[1], 1);
	probe = probe_fd();
	ck_assert_int_eq(ipc_read(sv[1], 1024, 1000, &r, &error), -1);
	ck_assert_ptr_nonnull(error);
	ck_assert_ptr_null(r);
	/* The descriptor that came was closed: nothing leaked. */
	assert_fd_closed(probe);
	ck_assert_int_eq(probe_fd(), probe);
	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

START_TEST(test_ipc_read_two_fds)
{
	struct ipc_msg	*r = NULL;
	const char	*error = NULL;
	uint8_t		 frame[IPC_HEADER_SIZE];
	int		 sv[2], p[2], probe;

	make_pair(sv);
	ck_assert_int_eq(pipe(p), 0);
	put_header(frame, IPC_OK, IPC_F_FD, 0, 0);
	send_raw(sv[0], frame, sizeof(frame), p, 2);
	probe = probe_fd();
	ck_assert_int_eq(ipc_read(sv[1], 1024, 1000, &r, &error), -1);
	ck_assert_ptr_null(r);
	assert_fd_closed(probe);
	assert_fd_closed(probe + 1);
	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

START_TEST(test_ipc_read_fd_in_body)
{
	static const uint16_t flags[] = { IPC_F_FD, 0 };
	struct ipc_msg	*r = NULL;
	const char	*error = NULL;
	uint8_t		 frame[64];
	size_t		 i, n;
	int		 sv[2], p[2], probe;

	/* The fd rides on a body byte, with and without the flag. */
	for (i = 0; i < N_ELEMENTS(flags); i++) {
		make_pair(sv);
		ck_assert_int_eq(pipe(p), 0);
		n = put_header(frame, IPC_OK, flags[i], 7, 0);
		n += put_field(frame + n, "k", 1, 1, "v", 1);
		send_raw(sv[0], frame, IPC_HEADER_SIZE, NULL, 0);
		send_raw(sv[0], frame + IPC_HEADER_SIZE, n - IPC_HEADER_SIZE,
		    &p[0], 1);
		probe = probe_fd();
		error = NULL;
		ck_assert_int_eq(ipc_read(sv[1], 1024, 1000, &r, &error), -1);
		ck_assert_ptr_nonnull(error);
		ck_assert_ptr_null(r);
		assert_fd_closed(probe);
		close(p[0]);
		close(p[1]);
		close(sv[0]);
		close(sv[1]);
	}
}
END_TEST

START_TEST(test_ipc_read_timeout)
{
	struct ipc_msg	*r = NULL;
	const char	*error = NULL;
	struct timespec	 t0;
	uint8_t		 frame[IPC_HEADER_SIZE];
	int		 sv[2];

	make_pair(sv);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_int_eq(ipc_read(sv[1], 1024, 100, &r, &error), -1);
	ck_assert_str_eq(error, "timed out");
	ck_assert_int_ge(elapsed_ms(&t0), 90);
	ck_assert_int_lt(elapsed_ms(&t0), 2000);

	/* Part of a header, then silence. */
	put_header(frame, IPC_OK, 0, 0, 0);
	ck_assert_int_eq(write(sv[0], frame, 5), 5);
	error = NULL;
	ck_assert_int_eq(ipc_read(sv[1], 1024, 50, &r, &error), -1);
	ck_assert_str_eq(error, "timed out");
	ck_assert_ptr_null(r);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

START_TEST(test_ipc_read_limits)
{
	struct ipc_msg	*r = NULL;
	const char	*error = NULL;
	struct timespec	 t0;
	uint8_t		 frame[IPC_HEADER_SIZE + 100];
	size_t		 n;
	int		 sv[2];

	make_pair(sv);
	/* A body of exactly max. */
	n = put_header(frame, IPC_OK, 0, 100, 0);
	n += put_field(frame + n, "d", 1, 94, "", 0);
	memset(frame + n, 'x', 94);
	ck_assert_int_eq(write(sv[0], frame, sizeof(frame)), sizeof(frame));
	ck_assert_int_eq(ipc_read(sv[1], 100, 1000, &r, &error), 1);
	ck_assert_uint_eq(r->body->len, 100);
	ipc_msg_free(&r);

	/* max + 1: refused from the header, without waiting for a body. */
	put_header(frame, IPC_OK, 0, 101, 0);
	ck_assert_int_eq(write(sv[0], frame, IPC_HEADER_SIZE),
	    IPC_HEADER_SIZE);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_int_eq(ipc_read(sv[1], 100, 3000, &r, &error), -1);
	ck_assert_ptr_null(r);
	ck_assert_str_ne(error, "timed out");
	ck_assert_int_lt(elapsed_ms(&t0), 1000);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

START_TEST(test_ipc_read_bad_body)
{
	struct ipc_msg	*r = NULL;
	const char	*error = NULL;
	uint8_t		 frame[64];
	size_t		 n;
	int		 sv[2];

	make_pair(sv);
	n = put_header(frame, IPC_OK, 0, 7, 0);
	n += put_field(frame + n, "K", 1, 1, "v", 1);
	ck_assert_int_eq(write(sv[0], frame, n), (ssize_t)n);
	ck_assert_int_eq(ipc_read(sv[1], 100, 1000, &r, &error), -1);
	ck_assert_ptr_nonnull(error);
	ck_assert_ptr_null(r);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

START_TEST(test_ipc_write_read_large)
{
	struct ipc_msg	*m, *r = NULL;
	const char	*error = NULL;
	const uint8_t	*d;
	uint8_t		*data;
	size_t		 len = 4 * 1024 * 1024, i, dlen;
	pid_t		 pid;
	int		 sv[2], status;

	/* Bigger than the socket buffers: a child writes, we read. */
	make_pair(sv);
	data = malloc(len);
	ck_assert_ptr_nonnull(data);
	for (i = 0; i < len; i++)
		data[i] = (uint8_t)(i * 7);
	m = ipc_msg_new(IPC_OK, 0);
	ipc_add_data(m, "d", data, len);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int	ret;

		close(sv[1]);
		ret = ipc_write(sv[0], m, -1, &error) == 0 ? 0 : 1;
		ipc_msg_free(&m);
		free(data);
		_exit(ret);
	}
	close(sv[0]);
	ck_assert_int_eq(ipc_read(sv[1], len + 6, 5000, &r, &error), 1);
	ck_assert_int_eq(ipc_get_data(r, "d", len, &d, &dlen), 0);
	ck_assert_uint_eq(dlen, len);
	ck_assert_mem_eq(d, data, len);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ipc_msg_free(&r);
	ipc_msg_free(&m);
	free(data);
	close(sv[1]);
}
END_TEST

START_TEST(test_ipc_write_closed_peer)
{
	struct ipc_msg	*m = ipc_msg_new(IPC_OK, 0);
	const char	*error = NULL;
	int		 sv[2];

	/* EPIPE is an error, never a SIGPIPE. */
	make_pair(sv);
	close(sv[1]);
	ck_assert_int_eq(ipc_write(sv[0], m, -1, &error), -1);
	ck_assert_ptr_nonnull(error);
	ipc_msg_free(&m);
	close(sv[0]);
}
END_TEST

START_TEST(test_ipc_connect)
{
	struct sockaddr_un sun;
	struct ipc_msg	*m, *r;
	const char	*error = NULL;
	char		 dir[] = "/tmp/test_ipc.XXXXXX", path[256];
	char		 longpath[sizeof(sun.sun_path) + 1];
	int		 ls, fd, afd;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_lt(snprintf(path, sizeof(path), "%s/sock", dir),
	    (int)sizeof(path));
	ls = socket(AF_UNIX, SOCK_STREAM, 0);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	ck_assert_int_eq(bind(ls, (struct sockaddr *)&sun, sizeof(sun)), 0);
	ck_assert_int_eq(listen(ls, 1), 0);

	fd = ipc_connect(path, &error);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	afd = accept(ls, NULL, NULL);
	ck_assert_int_ge(afd, 0);
	m = ipc_msg_new(IPC_CTL_STATUS, 5);
	ck_assert_int_eq(ipc_write(fd, m, -1, &error), 0);
	ck_assert_int_eq(ipc_read(afd, 100, 1000, &r, &error), 1);
	ck_assert_uint_eq(r->type, IPC_CTL_STATUS);
	ipc_msg_free(&r);
	ipc_msg_free(&m);
	close(afd);
	close(fd);

	/* Missing socket. */
	error = NULL;
	ck_assert_int_eq(ipc_connect("/nonexistent/postern.sock", &error), -1);
	ck_assert_ptr_nonnull(error);
	error = NULL;
	ck_assert_int_eq(ipc_connect("", &error), -1);
	ck_assert_ptr_nonnull(error);

	/* The longest path that fits is tried; one byte more is refused. */
	memset(longpath, 'p', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(sun.sun_path) - 1] = '\0';
	error = NULL;
	ck_assert_int_eq(ipc_connect(longpath, &error), -1);
	ck_assert_ptr_null(strstr(error, "too long"));
	longpath[sizeof(sun.sun_path) - 1] = 'p';
	longpath[sizeof(sun.sun_path)] = '\0';
	error = NULL;
	ck_assert_int_eq(ipc_connect(longpath, &error), -1);
	ck_assert_ptr_nonnull(strstr(error, "too long"));

	close(ls);
	unlink(path);
	rmdir(dir);
}
END_TEST

/* ---- event-driven transport ------------------------------------------- */

struct side {
	struct ipc_conn	*c;
	struct ipc_conn	*other;		/* to answer on */
	unsigned int	 nmsg;
	unsigned int	 nclose;
	unsigned int	 nfds;
	char		 reason[256];
	uint64_t	 next_seq;
	int		 pipe_w;	/* the file passed around */
	bool		 echo;		/* answer each message */
	bool		 free_in_msg;
	bool		 free_in_close;
	bool		 fail_in_msg;
	bool		 bad;		/* a check failed inside a callback */
	size_t		 last_len;
};

static int
side_msg(struct ipc_conn *c, struct ipc_msg *m, void *ctx)
{
	struct side	*s = ctx;
	struct ipc_msg	*reply;
	uint64_t	 seq;

	if (c != s->c)
		s->bad = true;
	s->nmsg++;
	s->last_len = m->body->len;
	if (ipc_has(m, "seq")) {
		if (ipc_get_u64(m, "seq", UINT64_MAX, &seq) == -1 ||
		    seq != s->next_seq)
			s->bad = true;
		s->next_seq++;
		/* Every tenth carries the pipe. */
		if ((seq % 10 == 0) != (m->fd != -1))
			s->bad = true;
		if (m->fd != -1) {
			s->nfds++;
			if (!same_file(m->fd, s->pipe_w))
				s->bad = true;
		}
		if (s->echo) {
			reply = ipc_msg_new(IPC_OK, m->peer_id);
			ipc_add_u64(reply, "seq", seq);
			if (ipc_conn_send(c, reply, m->fd) == -1)
				s->bad = true;
			ipc_msg_free(&reply);
		}
	}
	ipc_msg_free(&m);
	if (s->free_in_msg) {
		ipc_conn_free(&s->c);
		return 0;
	}
	return s->fail_in_msg ? -1 : 0;
}

static void
side_close(struct ipc_conn *c, const char *reason, void *ctx)
{
	struct side	*s = ctx;

	if (c != s->c)
		s->bad = true;
	s->nclose++;
	snprintf(s->reason, sizeof(s->reason), "%s", reason);
	if (s->free_in_close)
		ipc_conn_free(&s->c);
}

static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
}

/* Runs the loop until *counter reaches target or 5 seconds pass. */
static void
loop_until(struct event_base *base, const unsigned int *counter,
    unsigned int target)
{
	struct timeval	 tv = { 0, 10 * 1000 };
	struct event	*tick;
	int		 i;

	tick = event_new(base, -1, EV_PERSIST, tick_cb, NULL);
	ck_assert_int_eq(event_add(tick, &tv), 0);
	for (i = 0; i < 500 && *counter < target; i++)
		ck_assert_int_ne(event_base_loop(base, EVLOOP_ONCE), -1);
	event_free(tick);
	ck_assert_uint_ge(*counter, target);
}

/* Lets the loop run a few rounds (for "nothing happens" checks). */
static void
loop_idle(struct event_base *base)
{
	struct timeval	tv = { 0, 30 * 1000 };

	ck_assert_int_ne(event_base_loopexit(base, &tv), -1);
	ck_assert_int_ne(event_base_dispatch(base), -1);
}

static struct ipc_conn *
side_conn(struct event_base *base, int fd, size_t max, struct side *s,
    const char *name)
{
	s->c = ipc_conn_new(base, fd, max, name, side_msg, side_close, s);
	ck_assert_ptr_nonnull(s->c);
	return s->c;
}

START_TEST(test_conn_many)
{
	struct event_base *base = event_base_new();
	struct side	 a, b;
	struct ipc_msg	*m;
	const unsigned int n = 2000;
	unsigned int	 i;
	int		 sv[2], p[2];

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	make_pair(sv);
	ck_assert_int_eq(pipe(p), 0);
	a.pipe_w = b.pipe_w = p[1];
	b.echo = true;
	side_conn(base, sv[0], 64 * 1024, &a, "a");
	side_conn(base, sv[1], 64 * 1024, &b, "b");
	ck_assert_int_eq(ipc_conn_fd(a.c), sv[0]);
	ck_assert_str_eq(ipc_conn_peer(b.c), "b");

	for (i = 0; i < n; i++) {
		m = ipc_msg_new(IPC_CTL_STATUS, i);
		ipc_add_u64(m, "seq", i);
		ipc_add_str(m, "pad", "some text to make frames longer");
		ck_assert_int_eq(ipc_conn_send(a.c, m, i % 10 == 0 ? p[1] : -1),
		    0);
		ipc_msg_free(&m);
	}
	loop_until(base, &a.nmsg, n);
	ck_assert(!a.bad);
	ck_assert(!b.bad);
	ck_assert_uint_eq(b.nmsg, n);
	ck_assert_uint_eq(a.nmsg, n);
	ck_assert_uint_eq(a.nfds, n / 10);
	ck_assert_uint_eq(b.nfds, n / 10);
	ck_assert_uint_eq(a.nclose + b.nclose, 0);

	/* Closing one side: the other sees the end, once. */
	ipc_conn_free(&a.c);
	ck_assert_ptr_null(a.c);
	loop_until(base, &b.nclose, 1);
	ck_assert_str_eq(b.reason, "connection closed by peer");
	ck_assert_int_eq(ipc_conn_send(b.c, m = ipc_msg_new(IPC_OK, 0), -1),
	    -1);
	ipc_msg_free(&m);
	loop_idle(base);
	ck_assert_uint_eq(b.nclose, 1);
	ipc_conn_free(&b.c);
	close(p[0]);
	close(p[1]);
	event_base_free(base);
}
END_TEST

START_TEST(test_conn_bad_frame)
{
	struct event_base *base = event_base_new();
	struct side	 b;
	uint8_t		 frame[IPC_HEADER_SIZE];
	int		 sv[2];

	memset(&b, 0, sizeof(b));
	b.free_in_close = true;
	make_pair(sv);
	side_conn(base, sv[1], 1024, &b, "badpeer");
	put_header(frame, IPC_NONE, 0, 0, 0);
	ck_assert_int_eq(write(sv[0], frame, sizeof(frame)), sizeof(frame));
	loop_until(base, &b.nclose, 1);
	ck_assert_ptr_nonnull(strstr(b.reason, "bad frame"));
	ck_assert_ptr_nonnull(strstr(b.reason, "type"));
	ck_assert_uint_eq(b.nmsg, 0);
	/* Freed inside on_close: the socket is closed. */
	ck_assert_ptr_null(b.c);
	ck_assert_int_eq(write(sv[0], "x", 1), -1);
	loop_idle(base);
	ck_assert_uint_eq(b.nclose, 1);
	ck_assert(!b.bad);
	close(sv[0]);
	event_base_free(base);
}
END_TEST

START_TEST(test_conn_bad_field_after_good)
{
	struct event_base *base = event_base_new();
	struct side	 b;
	uint8_t		 buf[128];
	size_t		 n;
	int		 sv[2];

	/* A good frame, then one with a bad key, in one write. */
	memset(&b, 0, sizeof(b));
	make_pair(sv);
	side_conn(base, sv[1], 1024, &b, "peer");
	n = put_header(buf, IPC_OK, 0, 0, 0);
	n += put_header(buf + n, IPC_OK, 0, 7, 0);
	n += put_field(buf + n, "k", 1, 1, "v", 1);
	buf[n - 1 - 4 - 1] = '!';
	ck_assert_int_eq(write(sv[0], buf, n), (ssize_t)n);
	loop_until(base, &b.nclose, 1);
	ck_assert_uint_eq(b.nmsg, 1);
	ck_assert_ptr_nonnull(strstr(b.reason, "bad frame"));
	ipc_conn_free(&b.c);
	close(sv[0]);
	event_base_free(base);
}
END_TEST

START_TEST(test_conn_partial)
{
	struct event_base *base = event_base_new();
	struct side	 b;
	struct ipc_msg	*m = ipc_msg_new(IPC_OK, 77);
	struct buf	*out = buf_new(0, 1000);
	size_t		 cut[] = { 1, 7, IPC_HEADER_SIZE, IPC_HEADER_SIZE + 3 };
	size_t		 i;
	int		 sv[2];

	memset(&b, 0, sizeof(b));
	make_pair(sv);
	side_conn(base, sv[1], 1024, &b, "peer");
	ipc_add_str(m, "text", "split across writes");
	ipc_encode(m, out);
	for (i = 0; i < N_ELEMENTS(cut); i++) {
		ck_assert_int_eq(write(sv[0], out->data, cut[i]),
		    (ssize_t)cut[i]);
		loop_idle(base);
		ck_assert_uint_eq(b.nmsg, i);
		ck_assert_int_eq(write(sv[0], out->data + cut[i],
		    out->len - cut[i]), (ssize_t)(out->len - cut[i]));
		loop_until(base, &b.nmsg, i + 1);
		ck_assert_uint_eq(b.last_len, m->body->len);
	}
	/* A frame and a half, then the other half. */
	ck_assert_int_eq(write(sv[0], out->data, out->len), (ssize_t)out->len);
	ck_assert_int_eq(write(sv[0], out->data, 5), 5);
	loop_until(base, &b.nmsg, i + 1);
	loop_idle(base);
	ck_assert_uint_eq(b.nmsg, i + 1);
	ck_assert_int_eq(write(sv[0], out->data + 5, out->len - 5),
	    (ssize_t)(out->len - 5));
	loop_until(base, &b.nmsg, i + 2);

	/* End of stream inside a frame. */
	ck_assert_int_eq(write(sv[0], out->data, 3), 3);
	close(sv[0]);
	loop_until(base, &b.nclose, 1);
	ck_assert_str_eq(b.reason, "connection closed by peer inside a frame");
	ck_assert(!b.bad);
	ipc_conn_free(&b.c);
	ipc_msg_free(&m);
	buf_free(&out);
	event_base_free(base);
}
END_TEST

START_TEST(test_conn_big)
{
	struct event_base *base = event_base_new();
	struct side	 a, b;
	struct ipc_msg	*m;
	const size_t	 max = 1024 * 1024;
	uint8_t		*data;
	int		 sv[2];

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	make_pair(sv);
	side_conn(base, sv[0], 2 * max, &a, "a");
	side_conn(base, sv[1], max, &b, "b");
	data = calloc(1, max);
	ck_assert_ptr_nonnull(data);

	/* A body of exactly max bytes arrives. */
	m = ipc_msg_new(IPC_OK, 0);
	ipc_add_data(m, "d", data, max - 6);
	ck_assert_uint_eq(m->body->len, max);
	ck_assert_int_eq(ipc_conn_send(a.c, m, -1), 0);
	ipc_msg_free(&m);
	loop_until(base, &b.nmsg, 1);
	ck_assert_uint_eq(b.last_len, max);

	/* One byte more closes the connection. */
	m = ipc_msg_new(IPC_OK, 0);
	ipc_add_data(m, "d", data, max - 5);
	ck_assert_int_eq(ipc_conn_send(a.c, m, -1), 0);
	ipc_msg_free(&m);
	loop_until(base, &b.nclose, 1);
	ck_assert_uint_eq(b.nmsg, 1);
	ck_assert_ptr_nonnull(strstr(b.reason, "exceeds"));
	ipc_conn_free(&b.c);
	loop_until(base, &a.nclose, 1);
	ipc_conn_free(&a.c);
	free(data);
	event_base_free(base);
}
END_TEST

START_TEST(test_conn_fd_without_flag)
{
	struct event_base *base = event_base_new();
	struct side	 b;
	uint8_t		 buf[64];
	size_t		 n;
	int		 sv[2], p[2], probe;

	memset(&b, 0, sizeof(b));
	make_pair(sv);
	ck_assert_int_eq(pipe(p), 0);
	side_conn(base, sv[1], 1024, &b, "peer");
	probe = probe_fd();
	/* Two frames in one write, the fd on the first, neither flagged. */
	n = put_header(buf, IPC_OK, 0, 0, 0);
	n += put_header(buf + n, IPC_OK, 0, 0, 0);
	send_raw(sv[0], buf, n, &p[1], 1);
	loop_until(base, &b.nclose, 1);
	ck_assert_ptr_nonnull(strstr(b.reason, "IPC_F_FD"));
	assert_fd_closed(probe);
	ipc_conn_free(&b.c);
	close(sv[0]);
	close(p[0]);
	close(p[1]);
	event_base_free(base);
}
END_TEST

START_TEST(test_conn_fd_without_flag_alone)
{
	struct event_base *base = event_base_new();
	struct side	 b;
	uint8_t		 buf[64];
	size_t		 n;
	int		 sv[2], p[2], probe;

	/* One frame, complete, unflagged, with an fd: refused at once. */
	memset(&b, 0, sizeof(b));
	make_pair(sv);
	ck_assert_int_eq(pipe(p), 0);
	side_conn(base, sv[1], 1024, &b, "peer");
	probe = probe_fd();
	n = put_header(buf, IPC_OK, 0, 0, 0);
	send_raw(sv[0], buf, n, &p[1], 1);
	loop_until(base, &b.nclose, 1);
	ck_assert_uint_eq(b.nmsg, 0);
	ck_assert_ptr_nonnull(strstr(b.reason, "IPC_F_FD"));
	assert_fd_closed(probe);
	ipc_conn_free(&b.c);
	close(sv[0]);
	close(p[0]);
	close(p[1]);
	event_base_free(base);
}
END_TEST

START_TEST(test_conn_flag_without_fd)
{
	struct event_base *base = event_base_new();
	struct side	 b;
	uint8_t		 buf[IPC_HEADER_SIZE];
	int		 sv[2];

	memset(&b, 0, sizeof(b));
	make_pair(sv);
	side_conn(base, sv[1], 1024, &b, "peer");
	put_header(buf, IPC_OK, IPC_F_FD, 0, 0);
	ck_assert_int_eq(write(sv[0], buf, sizeof(buf)), sizeof(buf));
	loop_until(base, &b.nclose, 1);
	ck_assert_uint_eq(b.nmsg, 0);
	ck_assert_ptr_nonnull(strstr(b.reason, "no descriptor"));
	ipc_conn_free(&b.c);
	close(sv[0]);
	event_base_free(base);
}
END_TEST

START_TEST(test_conn_two_fds)
{
	struct event_base *base = event_base_new();
	struct side	 b;
	uint8_t		 buf[IPC_HEADER_SIZE];
	int		 sv[2], p[2], probe;

	memset(&b, 0, sizeof(b));
	make_pair(sv);
	ck_assert_int_eq(pipe(p), 0);
	side_conn(base, sv[1], 1024, &b, "peer");
	probe = probe_fd();
	put_header(buf, IPC_OK, IPC_F_FD, 0, 0);
	send_raw(sv[0], buf, sizeof(buf), p, 2);
	loop_until(base, &b.nclose, 1);
	ck_assert_uint_eq(b.nmsg, 0);
	assert_fd_closed(probe);
	assert_fd_closed(probe + 1);
	ipc_conn_free(&b.c);
	close(sv[0]);
	close(p[0]);
	close(p[1]);
	event_base_free(base);
}
END_TEST

START_TEST(test_conn_free_in_msg)
{
	struct event_base *base = event_base_new();
	struct side	 b;
	uint8_t		 buf[64];
	size_t		 n;
	int		 sv[2];

	/* Three frames in one read; the handler frees after the first. */
	memset(&b, 0, sizeof(b));
	b.free_in_msg = true;
	make_pair(sv);
	side_conn(base, sv[1], 1024, &b, "peer");
	n = put_header(buf, IPC_OK, 0, 0, 0);
	n += put_header(buf + n, IPC_OK, 0, 0, 0);
	n += put_header(buf + n, IPC_OK, 0, 0, 0);
	ck_assert_int_eq(write(sv[0], buf, n), (ssize_t)n);
	loop_until(base, &b.nmsg, 1);
	loop_idle(base);
	ck_assert_uint_eq(b.nmsg, 1);
	ck_assert_uint_eq(b.nclose, 0);
	ck_assert_ptr_null(b.c);
	/* Freed: our end of the socket is closed. */
	ck_assert_int_eq(write(sv[0], "x", 1), -1);
	close(sv[0]);
	event_base_free(base);
}
END_TEST

START_TEST(test_conn_handler_close)
{
	struct event_base *base = event_base_new();
	struct side	 b;
	uint8_t		 buf[64];
	size_t		 n;
	int		 sv[2];

	memset(&b, 0, sizeof(b));
	b.fail_in_msg = true;
	make_pair(sv);
	side_conn(base, sv[1], 1024, &b, "peer");
	n = put_header(buf, IPC_OK, 0, 0, 0);
	n += put_header(buf + n, IPC_OK, 0, 0, 0);
	ck_assert_int_eq(write(sv[0], buf, n), (ssize_t)n);
	loop_until(base, &b.nclose, 1);
	loop_idle(base);
	ck_assert_uint_eq(b.nmsg, 1);
	ck_assert_uint_eq(b.nclose, 1);
	ck_assert_str_eq(b.reason, "closed by handler");
	ipc_conn_free(&b.c);
	close(sv[0]);
	event_base_free(base);
}
END_TEST

START_TEST(test_conn_output_limit)
{
	struct event_base *base = event_base_new();
	struct side	 a;
	struct ipc_msg	*m;
	char		 text[501];
	unsigned int	 i, sent = 0;
	int		 sv[2];

	/* Nobody reads sv[1]; the queue limit is 4 * (12 + 1024). */
	memset(&a, 0, sizeof(a));
	a.free_in_close = true;
	make_pair(sv);
	side_conn(base, sv[0], 1024, &a, "slow");
	memset(text, 't', 500);
	text[500] = '\0';
	m = ipc_msg_new(IPC_OK, 0);
	ipc_add_str(m, "text", text);		/* 12 + 509 = 521 bytes */
	for (i = 0; i < 100; i++) {
		if (ipc_conn_send(a.c, m, -1) == -1)
			break;
		sent++;
	}
	ck_assert_uint_eq(sent, 4 * (12 + 1024) / 521);
	ck_assert_int_eq(ipc_conn_send(a.c, m, -1), -1);
	/* on_close comes from the loop, not from inside the send. */
	ck_assert_uint_eq(a.nclose, 0);
	loop_until(base, &a.nclose, 1);
	ck_assert_str_eq(a.reason, "output queue full");
	ck_assert_ptr_null(a.c);
	loop_idle(base);
	ck_assert_uint_eq(a.nclose, 1);
	ipc_msg_free(&m);
	close(sv[1]);
	event_base_free(base);
}
END_TEST

START_TEST(test_conn_free_pending_close)
{
	struct event_base *base = event_base_new();
	struct side	 a;
	struct ipc_msg	*m;
	int		 sv[2];

	/* A refused send, then a free before the loop runs: no callback. */
	memset(&a, 0, sizeof(a));
	make_pair(sv);
	side_conn(base, sv[0], 1024, &a, "slow");
	m = ipc_msg_new(IPC_OK, 0);
	while (ipc_conn_send(a.c, m, -1) == 0)
		;
	ipc_conn_free(&a.c);
	loop_idle(base);
	ck_assert_uint_eq(a.nclose, 0);
	ipc_msg_free(&m);
	close(sv[1]);
	event_base_free(base);
}
END_TEST

/* HELLO: what ipc_hello_new() writes ipc_hello_check() accepts, and
 * every other first message is refused with a text for the peer. */
START_TEST(test_hello)
{
	struct ipc_msg	*m;
	const char	*program, *error;
	char		 name[IPC_PROGRAM_MAX + 2];

	m = ipc_hello_new("smtpd");
	ck_assert_int_eq(ipc_hello_check(m, &program, &error), 0);
	ck_assert_str_eq(program, "smtpd");
	ipc_msg_free(&m);

	/* Not a HELLO. */
	m = ipc_msg_new(IPC_OK, 0);
	ck_assert_int_eq(ipc_hello_check(m, &program, &error), -1);
	ck_assert_str_eq(error, "expected HELLO");
	ipc_msg_free(&m);

	/* Another build's version, and none at all. */
	m = ipc_msg_new(IPC_HELLO, 0);
	ipc_add_u64(m, "version", IPC_PROTOCOL_VERSION + 1);
	ipc_add_str(m, "program", "postctl");
	ck_assert_int_eq(ipc_hello_check(m, &program, &error), -1);
	ck_assert_ptr_nonnull(strstr(error, "different builds"));
	ipc_msg_free(&m);
	m = ipc_msg_new(IPC_HELLO, 0);
	ipc_add_str(m, "program", "postctl");
	ck_assert_int_eq(ipc_hello_check(m, &program, &error), -1);
	ipc_msg_free(&m);

	/* Program names: bad bytes, empty, missing, the maximum and one over. */
	m = ipc_hello_new("Smtpd");
	ck_assert_int_eq(ipc_hello_check(m, &program, &error), -1);
	ck_assert_str_eq(error, "missing or invalid program");
	ipc_msg_free(&m);
	m = ipc_hello_new("smtpd\x01");
	ck_assert_int_eq(ipc_hello_check(m, &program, &error), -1);
	ipc_msg_free(&m);
	m = ipc_hello_new("");
	ck_assert_int_eq(ipc_hello_check(m, &program, &error), -1);
	ipc_msg_free(&m);
	m = ipc_msg_new(IPC_HELLO, 0);
	ipc_add_u64(m, "version", IPC_PROTOCOL_VERSION);
	ck_assert_int_eq(ipc_hello_check(m, &program, &error), -1);
	ipc_msg_free(&m);
	memset(name, 'a', sizeof(name));
	name[IPC_PROGRAM_MAX] = '\0';
	m = ipc_hello_new(name);
	ck_assert_int_eq(ipc_hello_check(m, &program, &error), 0);
	ipc_msg_free(&m);
	name[IPC_PROGRAM_MAX] = 'a';
	name[IPC_PROGRAM_MAX + 1] = '\0';
	m = ipc_hello_new(name);
	ck_assert_int_eq(ipc_hello_check(m, &program, &error), -1);
	ipc_msg_free(&m);
}
END_TEST

static Suite *
ipc_suite(void)
{
	Suite	*s = suite_create("ipc");
	TCase	*tc;

	tc = tcase_create("msg");
	tcase_add_test(tc, test_ipc_roundtrip);
	tcase_add_test(tc, test_ipc_empty_body);
	tcase_add_test(tc, test_ipc_get_str_limits);
	tcase_add_test(tc, test_ipc_get_list_limits);
	tcase_add_test(tc, test_ipc_get_data_limits);
	tcase_add_test(tc, test_ipc_get_u64_limits);
	tcase_add_test(tc, test_ipc_missing);
	tcase_add_test(tc, test_ipc_str_control);
	tcase_add_test(tc, test_ipc_key_max);
	tcase_add_test_raise_signal(tc, test_ipc_build_key_too_long, SIGABRT);
	tcase_add_test_raise_signal(tc, test_ipc_build_key_empty, SIGABRT);
	tcase_add_test_raise_signal(tc, test_ipc_build_key_upper, SIGABRT);
	tcase_add_test_raise_signal(tc, test_ipc_build_key_equals, SIGABRT);
	tcase_add_test_raise_signal(tc, test_ipc_build_type_none, SIGABRT);
	tcase_add_test_raise_signal(tc, test_ipc_build_type_max, SIGABRT);
	tcase_add_test(tc, test_ipc_build_body_max);
	tcase_add_test_raise_signal(tc, test_ipc_build_body_over, SIGABRT);
	tcase_add_test_raise_signal(tc, test_ipc_encode_too_small, SIGABRT);
	suite_add_tcase(s, tc);

	tc = tcase_create("decode");
	tcase_add_test(tc, test_ipc_decode_truncated_header);
	tcase_add_test(tc, test_ipc_decode_truncated_body);
	tcase_add_test(tc, test_ipc_decode_oversized);
	tcase_add_test(tc, test_ipc_decode_flags);
	tcase_add_test(tc, test_ipc_decode_type);
	tcase_add_test(tc, test_ipc_decode_key_chars);
	tcase_add_test(tc, test_ipc_decode_key_len);
	tcase_add_test(tc, test_ipc_decode_value_len);
	tcase_add_test(tc, test_ipc_decode_stream);
	suite_add_tcase(s, tc);

	tc = tcase_create("blocking");
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_ipc_write_read_fd);
	tcase_add_test(tc, test_ipc_read_eof);
	tcase_add_test(tc, test_ipc_read_flag_without_fd);
	tcase_add_test(tc, test_ipc_read_fd_without_flag);
	tcase_add_test(tc, test_ipc_read_two_fds);
	tcase_add_test(tc, test_ipc_read_fd_in_body);
	tcase_add_test(tc, test_ipc_read_timeout);
	tcase_add_test(tc, test_ipc_read_limits);
	tcase_add_test(tc, test_ipc_read_bad_body);
	tcase_add_test(tc, test_ipc_write_read_large);
	tcase_add_test(tc, test_ipc_write_closed_peer);
	tcase_add_test(tc, test_ipc_connect);
	suite_add_tcase(s, tc);

	tc = tcase_create("conn");
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_conn_many);
	tcase_add_test(tc, test_conn_bad_frame);
	tcase_add_test(tc, test_conn_bad_field_after_good);
	tcase_add_test(tc, test_conn_partial);
	tcase_add_test(tc, test_conn_big);
	tcase_add_test(tc, test_conn_fd_without_flag);
	tcase_add_test(tc, test_conn_fd_without_flag_alone);
	tcase_add_test(tc, test_conn_flag_without_fd);
	tcase_add_test(tc, test_conn_two_fds);
	tcase_add_test(tc, test_conn_free_in_msg);
	tcase_add_test(tc, test_conn_handler_close);
	tcase_add_test(tc, test_conn_output_limit);
	tcase_add_test(tc, test_conn_free_pending_close);
	tcase_add_test(tc, test_hello);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(ipc_suite());
	int	 failed;

	/* A peer that closes must give EPIPE, not kill the test. */
	signal(SIGPIPE, SIG_IGN);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
