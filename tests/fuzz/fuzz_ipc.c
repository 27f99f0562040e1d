/* SPDX-License-Identifier: ISC */
/* fuzz-sources: common/ipc.c common/buf.c common/str.c common/xmalloc.c common/error.c common/log.c */
/* fuzz-libs: -levent */
/*
 * libFuzzer target for the IPC decoder, the trust boundary between
 * postern processes.  The input is a byte stream: frames are decoded one
 * after another as ipc_conn does, and every decoded message goes through
 * every getter and ipc_next_field, checking what the decoder promises:
 * the fields walk cleanly to the end, each getter agrees with the raw
 * field, a prefix of a good frame asks for more, and re-encoding gives
 * the same bytes back.
 *
 * The seed corpus in tests/fuzz/corpus/ipc/ is made by this same file:
 *	cc -DFUZZ_IPC_GEN -I BUILDDIR -I . -I common tests/fuzz/fuzz_ipc.c \
 *	    common/ipc.c common/buf.c common/str.c common/xmalloc.c \
 *	    common/error.c common/log.c -levent -o /tmp/gen && \
 *	    /tmp/gen tests/fuzz/corpus/ipc
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/ipc.h"

#include "common/banned.h"

/* Large enough for any seed, small enough to reach the limit check. */
#define FUZZ_MAX	(64 * 1024)

#define FUZZ_CHECK(cond) do {						\
	if (!(cond))							\
		__builtin_trap();					\
} while (0)

/* Runs every getter on the field named key[0..klen). */
static void
fuzz_field(struct ipc_msg *m, const char *key, size_t klen)
{
	char		 name[IPC_KEY_MAX + 1];
	const uint8_t	*d, *d2;
	const char	*s;
	size_t		 len, len2, i;
	uint64_t	 u;

	FUZZ_CHECK(klen >= 1 && klen <= IPC_KEY_MAX);
	memcpy(name, key, klen);
	name[klen] = '\0';
	FUZZ_CHECK(ipc_has(m, name));
	/* The first field of that name, whole. */
	FUZZ_CHECK(ipc_get_data(m, name, SIZE_MAX, &d, &len) == 0);
	if (len > 0)
		FUZZ_CHECK(ipc_get_data(m, name, len - 1, &d2, &len2) == -1);
	if (ipc_get_str(m, name, SIZE_MAX, &s) == 0) {
		FUZZ_CHECK(strlen(s) == len && memcmp(s, d, len) == 0);
		for (i = 0; i < len; i++)
			FUZZ_CHECK(((uint8_t)s[i] >= 0x20 || s[i] == '\t') &&
			    (uint8_t)s[i] != 0x7f);
		if (len > 0)
			FUZZ_CHECK(ipc_get_str(m, name, len - 1, &s) == -1);
	}
	if (ipc_get_u64(m, name, UINT64_MAX, &u) == 0) {
		FUZZ_CHECK(len >= 1);
		if (u > 0)
			FUZZ_CHECK(ipc_get_u64(m, name, u - 1, &u) == -1);
	}
}

static void
fuzz_msg(struct ipc_msg *m, const uint8_t *frame, size_t frame_len)
{
	static const char *const keys[] = { "text", "version", "program",
	    "clients", "full", "service", "pid", "a" };
	const char	*key, *s;
	const uint8_t	*val, *d;
	struct buf	*out;
	size_t		 cursor = 0, klen, vlen, n, len;
	uint64_t	 u;
	int		 ret;

	FUZZ_CHECK(m->fd == -1);
	while ((ret = ipc_next_field(m, &cursor, &key, &klen, &val,
	    &vlen)) == 1) {
		FUZZ_CHECK(val + vlen <= (const uint8_t *)m->body->data +
		    m->body->len);
		fuzz_field(m, key, klen);
	}
	/* The decoder checked the structure: the walk ends cleanly. */
	FUZZ_CHECK(ret == 0 && cursor == m->body->len);
	for (n = 0; n < sizeof(keys) / sizeof(keys[0]); n++) {
		(void)ipc_get_str(m, keys[n], 64, &s);
		(void)ipc_get_data(m, keys[n], 64, &d, &len);
		(void)ipc_get_u64(m, keys[n], 1000, &u);
		(void)ipc_has(m, keys[n]);
	}

	out = buf_new(0, frame_len);
	ipc_encode(m, out);
	FUZZ_CHECK(out->len == frame_len &&
	    memcmp(out->data, frame, frame_len) == 0);
	buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ipc_msg	*m, *p;
	const char	*error;
	size_t		 off = 0, used, pused;
	int		 ret;

	while (off < size) {
		m = NULL;
		ret = ipc_decode(data + off, size - off, FUZZ_MAX, &m, &used,
		    &error);
		if (ret != 1) {
			FUZZ_CHECK(m == NULL);
			break;
		}
		FUZZ_CHECK(used >= IPC_HEADER_SIZE && used <= size - off);
		/* One byte short of a good frame is "need more". */
		p = NULL;
		FUZZ_CHECK(ipc_decode(data + off, used - 1, FUZZ_MAX, &p,
		    &pused, &error) == 0 && p == NULL);
		fuzz_msg(m, data + off, used);
		ipc_msg_free(&m);
		off += used;
	}
	return 0;
}

#ifdef FUZZ_IPC_GEN
/* Writes the seed corpus: a few small frames, some concatenated. */
static void
gen_write(const char *dir, const char *name, const struct buf *b)
{
	char	 path[4096];
	FILE	*f;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >=
	    (int)sizeof(path) || (f = fopen(path, "wb")) == NULL ||
	    fwrite(b->data, 1, b->len, f) != b->len || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
}

int
main(int argc, char *argv[])
{
	static const uint8_t bin[] = { 0, 1, 2, '\n', 0x7f, 0xff, '\t' };
	struct ipc_msg	*m;
	struct buf	*b;

	if (argc != 2) {
		fprintf(stderr, "usage: gen DIR\n");
		return 2;
	}
	b = buf_new(0, 4096);

	m = ipc_msg_new(IPC_HELLO, 1);
	ipc_add_u64(m, "version", IPC_PROTOCOL_VERSION);
	ipc_add_str(m, "program", "smtpd");
	ipc_encode(m, b);
	ipc_msg_free(&m);
	gen_write(argv[1], "hello", b);
	buf_reset(b);

	m = ipc_msg_new(IPC_OK, 0);
	ipc_encode(m, b);
	ipc_msg_free(&m);
	gen_write(argv[1], "empty", b);
	buf_reset(b);

	m = ipc_msg_new(IPC_MASTER_STATUS, 0);
	ipc_add_u64(m, "clients", 17);
	ipc_add_u64(m, "full", 0);
	ipc_encode(m, b);
	ipc_msg_free(&m);
	m = ipc_msg_new(IPC_CTL_STATUS_PROC, 4242);
	ipc_add_str(m, "service", "smtpd");
	ipc_add_u64(m, "pid", 1234);
	ipc_add_u64(m, "started", 1700000000);
	ipc_add_u64(m, "clients", 3);
	ipc_add_str(m, "state", "running");
	ipc_encode(m, b);
	ipc_msg_free(&m);
	m = ipc_msg_new(IPC_ERROR, 4242);
	ipc_add_str(m, "text", "no such service\twith a tab");
	ipc_encode(m, b);
	ipc_msg_free(&m);
	gen_write(argv[1], "stream", b);
	buf_reset(b);

	m = ipc_msg_new(IPC_CTL_RELOAD, 0xffffffff);
	m->flags = IPC_F_FD;
	ipc_add_data(m, "blob", bin, sizeof(bin));
	ipc_add_str(m, "a", "first");
	ipc_add_str(m, "a", "second");
	ipc_add_str(m, "abcdefghijklmnopqrstuvwxyz012345", "longest key");
	ipc_add_str(m, "k_-9", "");
	ipc_add_str(m, "n", "18446744073709551615");
	ipc_encode(m, b);
	ipc_msg_free(&m);
	gen_write(argv[1], "fields", b);

	buf_free(&b);
	return 0;
}
#endif
