/* SPDX-License-Identifier: ISC */
/*
 * Bounded, growable byte buffers (STYLE R6).  A buf is always
 * NUL-terminated (the NUL is not counted in len) and never grows past the
 * hard maximum given at creation: an append that would exceed it returns
 * -1 and leaves the buffer unchanged.
 */
#ifndef POSTERN_BUF_H
#define POSTERN_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "compat.h"

struct buf {
	char	*data;		/* always NUL-terminated */
	size_t	 len;		/* bytes used, NUL excluded */
	size_t	 size;		/* bytes allocated */
	size_t	 max;		/* hard maximum of len */
};

/* init is the first allocation (may be 0); max the hard limit of len. */
struct buf *buf_new(size_t init, size_t max);
/* Frees *bp (NULL allowed) and sets *bp to NULL. */
void	 buf_free(struct buf **bp);
/* Embedded use. */
void	 buf_init(struct buf *b, size_t init, size_t max);
void	 buf_deinit(struct buf *b);
/* Like buf_free but wipes the contents first (secrets, R9). */
void	 buf_free_secret(struct buf **bp);

/* Each returns 0, or -1 when the result would exceed max (no change). */
int	 buf_append(struct buf *b, const void *data, size_t len) ATTR_WUR;
int	 buf_append_str(struct buf *b, const char *s) ATTR_WUR;
int	 buf_append_byte(struct buf *b, uint8_t c) ATTR_WUR;
int	 buf_printf(struct buf *b, const char *fmt, ...) ATTR_PRINTF(2, 3) ATTR_WUR;
int	 buf_vprintf(struct buf *b, const char *fmt, va_list ap) ATTR_PRINTF(2, 0) ATTR_WUR;

/* Empties the buffer, keeping its allocation. */
void	 buf_reset(struct buf *b);
/* Drops the first n bytes (n <= len). */
void	 buf_consume(struct buf *b, size_t n);
/* Shortens to len bytes (len <= current len). */
void	 buf_truncate(struct buf *b, size_t len);
static inline const char *
buf_cstr(const struct buf *b)
{
	return b->data;
}
/* Hands the data to the caller (who frees it) and empties b. */
char	*buf_steal(struct buf *b);

#endif
