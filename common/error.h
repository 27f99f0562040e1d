/* SPDX-License-Identifier: ISC */
/*
 * Error texts for error_r returns (STYLE R12).  A function that fails sets
 * *error_r either to a string literal or to a string made by error_fmt().
 * error_fmt() formats into a ring of ERROR_SLOTS buffers of ERROR_MAX
 * bytes each (longer texts are cut): the result is valid until that many
 * further error_fmt() calls, which is ample for "fail, return, log".  A
 * caller that keeps an error longer copies it with xstrdup().  "%m" works
 * as in syslog(3) (glibc).
 */
#ifndef POSTERN_ERROR_H
#define POSTERN_ERROR_H

#include "compat.h"

#define ERROR_SLOTS	16
#define ERROR_MAX	512

const char *error_fmt(const char *fmt, ...) ATTR_PRINTF(1, 2);

#endif
