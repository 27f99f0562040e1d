/* SPDX-License-Identifier: ISC */
/*
 * Formatted error texts for error_r returns; see error.h for lifetime.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>

#include "error.h"

#include "banned.h"

/*
 * XXX: file-scope ring (STYLE R14 allows no function statics).  Each
 * process is single-threaded; an error text is used between the failing
 * return and the log line that reports it, long before ERROR_SLOTS more
 * errors are made.
 */
static char	error_ring[ERROR_SLOTS][ERROR_MAX];
static unsigned int error_next;

const char *
error_fmt(const char *fmt, ...)
{
	va_list	 ap;
	char	*slot;

	slot = error_ring[error_next];
	error_next = (error_next + 1) % ERROR_SLOTS;
	va_start(ap, fmt);
	(void)vsnprintf(slot, ERROR_MAX, fmt, ap);
	va_end(ap);
	return slot;
}
