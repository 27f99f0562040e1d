/* SPDX-License-Identifier: ISC */
/*
 * Bounded, growable byte buffers (STYLE R6).  Every byte that comes from
 * outside the process is held in a struct buf, so this is the one place
 * where the hard maximum is enforced: an append that would make len
 * exceed max fails and leaves the buffer exactly as it was.  The
 * allocation doubles as it grows but is never larger than max + 1 (the
 * data plus its NUL), so the maximum is also the memory cap.  Callers are
 * trusted to pass consistent arguments (n <= len for consume/truncate);
 * a violation is a code bug and panics.
 */
#include "config.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"
#include "xmalloc.h"

#include "banned.h"

/* The smallest allocation a growing buffer moves to. */
#define BUF_MIN_GROW	64

/*
 * The allocation needed for max bytes plus the NUL.  buf_init() keeps max
 * below SIZE_MAX so this cannot wrap.
 */
static inline size_t
buf_cap(const struct buf *b)
{
	return b->max + 1;	/* UNSAFE: max <= SIZE_MAX - 1 (buf_init) */
}

void
buf_init(struct buf *b, size_t init, size_t max)
{
	/*
	 * SIZE_MAX as a maximum means "no practical limit"; one less keeps
	 * max + 1 representable everywhere below.
	 */
	if (max == SIZE_MAX)
		max = SIZE_MAX - 1;
	b->max = max;
	b->len = 0;
	/* At least room for the NUL, at most max + 1. */
	if (init == 0)
		init = 1;
	if (init > buf_cap(b))
		init = buf_cap(b);
	b->size = init;
	b->data = xmalloc(b->size);
	b->data[0] = '\0';
}

struct buf *
buf_new(size_t init, size_t max)
{
	struct buf *b;

	b = xmalloc(sizeof(*b));
	buf_init(b, init, max);
	return b;
}

void
buf_deinit(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->size = 0;
}

void
buf_free(struct buf **bp)
{
	if (*bp == NULL)
		return;
	buf_deinit(*bp);
	free(*bp);
	*bp = NULL;
}

void
buf_free_secret(struct buf **bp)
{
	if (*bp == NULL)
		return;
	/* The whole allocation: consumed or truncated bytes linger too. */
	if ((*bp)->data != NULL)
		explicit_bzero((*bp)->data, (*bp)->size);
	buf_free(bp);
}

/*
 * Makes room for len more bytes plus the NUL.  The caller has checked
 * len <= max - b->len, so need <= max + 1.
 */
static void
buf_grow(struct buf *b, size_t len)
{
	size_t	need, size;

	/* UNSAFE: <= max + 1, as the callers checked len <= max - b->len. */
	need = b->len + len + 1;
	if (need <= b->size)
		return;
	size = b->size < BUF_MIN_GROW ? BUF_MIN_GROW : b->size;
	while (size < need) {
		/* Doubling stops at the cap; this also avoids wrapping. */
		if (size > buf_cap(b) / 2) {
			size = buf_cap(b);
			break;
		}
		size *= 2;	/* UNSAFE: size <= cap / 2 here */
	}
	if (size > buf_cap(b))
		size = buf_cap(b);
	b->data = xreallocarray(b->data, 1, size);
	b->size = size;
}

int
buf_append(struct buf *b, const void *data, size_t len)
{
	if (len > b->max - b->len)	/* UNSAFE: len <= max always holds */
		return -1;
	if (len == 0)
		return 0;
	buf_grow(b, len);
	memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	return 0;
}

int
buf_append_str(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

int
buf_append_byte(struct buf *b, uint8_t c)
{
	return buf_append(b, &c, 1);
}

int
buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	va_list	 ap2;
	size_t	 avail, n;
	int	 ret;

	/* size > len always: the NUL has its byte. */
	avail = b->size - b->len;
	va_copy(ap2, ap);
	ret = vsnprintf(b->data + b->len, avail, fmt, ap2);
	va_end(ap2);
	if (ret < 0) {
		b->data[b->len] = '\0';
		return -1;
	}
	n = (size_t)ret;
	if (n < avail) {
		b->len += n;
		return 0;
	}
	/* Did not fit: undo the partial output, then grow once if allowed. */
	b->data[b->len] = '\0';
	if (n > b->max - b->len)
		return -1;
	buf_grow(b, n);
	va_copy(ap2, ap);
	ret = vsnprintf(b->data + b->len, b->size - b->len, fmt, ap2);
	va_end(ap2);
	if (ret < 0 || (size_t)ret != n) {
		/* The same format and arguments gave a different length. */
		b->data[b->len] = '\0';
		return -1;
	}
	b->len += n;
	return 0;
}

int
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list	 ap;
	int	 ret;

	va_start(ap, fmt);
	ret = buf_vprintf(b, fmt, ap);
	va_end(ap);
	return ret;
}

void
buf_reset(struct buf *b)
{
	b->len = 0;
	b->data[0] = '\0';
}

void
buf_consume(struct buf *b, size_t n)
{
	if (n > b->len)
		log_panic("buf_consume: %zu bytes from a buffer of %zu", n,
		    b->len);
	/* The remaining bytes and their NUL move to the front. */
	memmove(b->data, b->data + n, b->len - n + 1);
	b->len -= n;
}

void
buf_truncate(struct buf *b, size_t len)
{
	if (len > b->len)
		log_panic("buf_truncate: to %zu bytes from %zu", len, b->len);
	b->len = len;
	b->data[len] = '\0';
}

char *
buf_steal(struct buf *b)
{
	char	*data;

	data = b->data;
	/* b stays usable: a fresh, empty, NUL-terminated allocation. */
	b->size = 1;
	b->len = 0;
	b->data = xmalloc(b->size);
	b->data[0] = '\0';
	return data;
}
