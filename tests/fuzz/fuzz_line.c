/* SPDX-License-Identifier: ISC */
/* fuzz-sources: common/net.c common/buf.c common/str.c common/error.c common/xmalloc.c common/log.c */
/* fuzz-libs: -levent */
/*
 * Fuzz target for the bounded line reader (common/net.c, STYLE R7).  The
 * input is the byte stream a client sends; it is fed into an evbuffer in
 * chunks whose sizes (and whether each is copied or referenced as its own
 * chain) are derived from the data, and drained after every chunk the
 * way a session does: read lines, skip to the next LF after an over-long
 * one.  A model of the stream checks every result: no line longer than
 * max is returned, each line is exactly the bytes before its terminator,
 * LINE_TOO_LONG drains nothing, and LINE_MORE is only said while the
 * pending bytes could still become a line within the limit.
 */
#include "config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "common/buf.h"
#include "common/net.h"

#include "common/banned.h"

#define FUZZ_LINE_MAX	64

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Position in data of the next LF at or after from, or size. */
static size_t
fuzz_next_lf(const uint8_t *data, size_t size, size_t from)
{
	const uint8_t *p;

	p = memchr(data + from, '\n', size - from);
	return p == NULL ? size : (size_t)(p - data);
}

/*
 * Drains in as a session would.  off is how far into data the evbuffer
 * starts; fed how much of data has been added.  Returns the new off.
 */
static size_t
fuzz_drain(struct evbuffer *in, struct buf *line, const uint8_t *data,
    size_t fed, size_t off, bool *skipping, size_t max)
{
	enum line_status st;
	size_t	 lf, len, before;
	bool	 bare;

	for (;;) {
		if (evbuffer_get_length(in) != fed - off)
			abort();
		lf = fuzz_next_lf(data, fed, off);
		if (*skipping) {
			if (net_skip_line(in)) {
				if (lf == fed)
					abort();
				off = lf + 1;
				*skipping = false;
				continue;
			}
			if (lf != fed)
				abort();
			return fed;
		}
		before = evbuffer_get_length(in);
		st = net_read_line(in, line, max, &bare);
		switch (st) {
		case LINE_OK:
			if (lf == fed)
				abort();
			len = lf - off;
			if (len > 0 && data[lf - 1] == '\r') {
				len--;
				if (bare)
					abort();
			} else if (!bare)
				abort();
			if (line->len > max || line->len != len ||
			    memcmp(line->data, data + off, len) != 0 ||
			    line->data[line->len] != '\0')
				abort();
			off = lf + 1;
			break;
		case LINE_MORE:
			/* No LF, and max bytes plus a CR could still fit. */
			if (lf != fed || fed - off > max + 1 || line->len != 0)
				abort();
			return off;
		case LINE_TOO_LONG:
			if (evbuffer_get_length(in) != before)
				abort();
			len = lf - off;
			if (lf != fed && len > 0 && data[lf - 1] == '\r')
				len--;
			if (lf != fed ? len <= max : fed - off <= max + 1)
				abort();
			*skipping = true;
			break;
		default:
			abort();
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct evbuffer	*in;
	struct buf	*line;
	size_t		 fed = 0, off = 0, chunk, max = FUZZ_LINE_MAX;
	bool		 skipping = false;
	uint8_t		 ctl;

	if ((in = evbuffer_new()) == NULL)
		return 0;
	line = buf_new(0, max);
	/* The first byte picks a smaller limit now and then. */
	if (size > 0 && data[0] < 16)
		max = data[0];
	while (fed < size) {
		/* Chunk size and kind from the byte at the cut. */
		ctl = data[fed];
		chunk = 1 + (size_t)(ctl % 23);
		if (chunk > size - fed)
			chunk = size - fed;
		if ((ctl & 0x80) != 0)
			(void)evbuffer_add_reference(in, data + fed, chunk,
			    NULL, NULL);
		else
			(void)evbuffer_add(in, data + fed, chunk);
		fed += chunk;
		off = fuzz_drain(in, line, data, fed, off, &skipping, max);
	}
	evbuffer_free(in);
	buf_free(&line);
	return 0;
}
