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
 * XXX: file-scope ring (STYLE R14 allows no function statics), one per
 * thread: the event loop's and each work queue thread's (workq.h).  An
 * error text is used between the failing return and the log line that
 * reports it (or the copy a work function makes), long before
 * ERROR_SLOTS more errors are made in the same thread.
 */
static _Thread_local char	error_ring[ERROR_SLOTS][ERROR_MAX];
static _Thread_local unsigned int error_next;

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
