/* SPDX-License-Identifier: ISC */
/* fuzz-sources: smtpd/smtp_data.c common/log.c common/xmalloc.c common/error.c common/str.c */
/* fuzz-libs: */
/*
 * Fuzz target for the DATA / BDAT body filter (smtpd/smtp_data.c).  The
 * first bytes choose the mode, the policy and small limits; the rest is
 * the client's byte stream.  It is fed twice: whole under NORMALIZE, and
 * in pieces whose sizes come from a generator seeded by the data under
 * the chosen policy.  Checked: both runs see the end at the same place and
 * agree on every count and flag (the piecewise run may add only
 * BARE_NEWLINE); the NORMALIZE output has no bare CR or bare LF (except
 * in BINARYMIME, whose output is the input); an unflagged output is the
 * same in both runs, a flagged one is a prefix; the bytes consumed in
 * DATA mode end with CR LF "." CR LF (or are "." CR LF at the start).
 */
#include "config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/xmalloc.h"
#include "smtpd/smtp_data.h"

#include "common/banned.h"

#define FUZZ_CONF_BYTES	5

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_out {
	uint8_t	*data;
	size_t	 len;
	size_t	 size;
};

struct fuzz_run {
	struct fuzz_out			 out;
	struct smtp_data_result		 res;
	size_t				 consumed; /* SIZE_MAX: no end */
};

static int
fuzz_sink(void *ctx, const uint8_t *p, size_t n, const char **error_r)
{
	struct fuzz_out *o = ctx;

	(void)error_r;
	if (n == 0 || n > SMTP_DATA_OUT_SIZE || n > o->size - o->len)
		abort();
	memcpy(o->data + o->len, p, n);
	o->len += n;
	return 0;
}

static uint32_t
fuzz_next(uint32_t *state)
{
	/* xorshift32: any fixed sequence will do. */
	*state ^= *state << 13;
	*state ^= *state >> 17;
	*state ^= *state << 5;
	return *state;
}

static void
fuzz_run(struct fuzz_run *r, enum smtp_data_mode mode,
    enum smtp_data_policy policy, const struct smtp_data_limits *l,
    const uint8_t *in, size_t len, uint32_t seed)
{
	struct smtp_data *d;
	const char *error;
	size_t off = 0, step, used;
	int ret;

	r->out.size = 2 * len + 2;
	r->out.data = xmalloc(r->out.size);
	r->out.len = 0;
	r->consumed = SIZE_MAX;
	d = smtp_data_new(mode, policy, l, fuzz_sink, &r->out);
	do {
		step = len - off;
		if (seed != 0 && step > 0)
			step = 1 + fuzz_next(&seed) % (step < 64 ? step : 64);
		if (mode == SMTP_DATA_DATA) {
			ret = smtp_data_feed(d, in + off, step, &used, &error);
			if (ret == -1 || used > step ||
			    (ret == 0 && used != step))
				abort();
			if (ret == 1) {
				r->consumed = off + used;
				break;
			}
		} else {
			ret = smtp_data_feed_chunk(d, in + off, step,
			    off + step == len, &error);
			if (ret != (off + step == len ? 1 : 0))
				abort();
		}
		off += step;
	} while (off < len);
	r->res = *smtp_data_result(d);
	smtp_data_free(&d);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtp_data_limits l;
	struct fuzz_run a, b;
	enum smtp_data_mode mode;
	enum smtp_data_policy policy;
	const uint8_t *in;
	size_t len, i;
	uint32_t seed;

	if (size < FUZZ_CONF_BYTES)
		return 0;
	mode = (enum smtp_data_mode)(data[0] % 3);
	policy = (data[0] & 0x04) != 0 ? SMTP_DATA_NORMALIZE : SMTP_DATA_REJECT;
	l.max_message_size = (data[1] & 0x80) != 0 ? (uint64_t)1 << 30 :
	    (uint64_t)data[1] * 8;
	l.max_line_length = (data[2] & 0x80) != 0 ? 998 : data[2];
	l.max_hops = data[3] % 8;
	l.max_header_size = (data[4] & 0x80) != 0 ?
	    (100 * 1024) : (size_t)data[4] * 4;
	in = data + FUZZ_CONF_BYTES;
	len = size - FUZZ_CONF_BYTES;
	seed = 2463534242u;
	for (i = 0; i < size; i++)
		seed = seed * 31 + data[i];
	if (seed == 0)
		seed = 1;

	fuzz_run(&a, mode, SMTP_DATA_NORMALIZE, &l, in, len, 0);
	fuzz_run(&b, mode, policy, &l, in, len, seed);

	if (a.consumed != b.consumed || a.res.done != b.res.done ||
	    a.res.bytes != b.res.bytes || a.res.received != b.res.received ||
	    a.res.header_size != b.res.header_size ||
	    a.res.has_date != b.res.has_date ||
	    a.res.has_message_id != b.res.has_message_id)
		abort();
	if ((a.res.flags & SMTP_DATA_BARE_NEWLINE) != 0 ||
	    (b.res.flags & ~(unsigned int)SMTP_DATA_BARE_NEWLINE) !=
	    a.res.flags)
		abort();
	if (mode != SMTP_DATA_DATA && !a.res.done)
		abort();
	if (a.res.header_size > a.res.bytes)
		abort();

	/* Unflagged outputs are whole and equal; flagged ones prefixes. */
	if (a.res.flags == 0 && a.out.len != a.res.bytes)
		abort();
	if (b.res.flags == 0 && (b.out.len != a.out.len))
		abort();
	if (b.out.len > a.out.len && a.res.flags == 0)
		abort();
	if (memcmp(a.out.data, b.out.data,
	    a.out.len < b.out.len ? a.out.len : b.out.len) != 0)
		abort();

	if (mode == SMTP_DATA_BINARYMIME) {
		if (a.out.len > len || memcmp(a.out.data, in, a.out.len) != 0)
			abort();
	} else {
		/* No bare CR or bare LF in the output. */
		for (i = 0; i < a.out.len; i++) {
			if (a.out.data[i] == '\r' && (i + 1 == a.out.len ||
			    a.out.data[i + 1] != '\n'))
				abort();
			if (a.out.data[i] == '\n' &&
			    (i == 0 || a.out.data[i - 1] != '\r'))
				abort();
		}
	}
	if (mode == SMTP_DATA_DATA && a.consumed != SIZE_MAX) {
		/* Only CR LF "." CR LF (or "." CR LF first) ends the data. */
		if (a.consumed < 3 ||
		    memcmp(in + a.consumed - 3, ".\r\n", 3) != 0 ||
		    (a.consumed != 3 &&
		    (a.consumed < 5 ||
		    memcmp(in + a.consumed - 5, "\r\n", 2) != 0)))
			abort();
	}
	free(a.out.data);
	free(b.out.data);
	return 0;
}
