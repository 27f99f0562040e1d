/* SPDX-License-Identifier: ISC */
/*
 * Logging (DESIGN.md "Logs", STYLE R10, R11).  One line per event in the
 * form "program[pid]: text".  The target is syslog (facility mail by
 * default), stderr or a file; a file target is opened in append mode and
 * each line is written with a single write(2) so processes sharing the
 * file do not interleave within a line.
 */
#ifndef POSTERN_LOG_H
#define POSTERN_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <syslog.h>

#include "compat.h"

/*
 * target: "syslog", "stderr" or "file:/absolute/path".  facility: a syslog
 * facility name ("mail", "local0".."local7", "daemon", "user").
 * Returns 0, or -1 with *error_r set (the previous target stays).
 * Before log_open() is called, lines go to stderr.
 */
int	log_open(const char *program, const char *target, const char *facility,
	    const char **error_r) ATTR_WUR;
void	log_close(void);
/* The program name in front of each line ("postern/smtpd"). */
void	log_set_program(const char *program);
/* Whether LOG_DEBUG lines are written (default: no). */
void	log_set_debug(bool on);
/* True when target names a valid log target (for configuration checks). */
bool	log_target_valid(const char *target);
bool	log_facility_valid(const char *facility);

void	log_msg(int level, const char *fmt, ...) ATTR_PRINTF(2, 3);
void	log_vmsg(int level, const char *fmt, va_list ap) ATTR_PRINTF(2, 0);
#define log_debug(...)		log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)		log_msg(LOG_INFO, __VA_ARGS__)
#define log_warning(...)	log_msg(LOG_WARNING, __VA_ARGS__)
#define log_error(...)		log_msg(LOG_ERR, __VA_ARGS__)

/* Broken environment: logs, then exit(EX_TEMPFAIL). */
void	log_fatal(const char *fmt, ...) ATTR_PRINTF(1, 2) ATTR_NORETURN;
/* Code bug, impossible state: logs, then abort(). */
void	log_panic(const char *fmt, ...) ATTR_PRINTF(1, 2) ATTR_NORETURN;

/* "QUEUEID: text", or "NOQUEUE: text" when qid is NULL. */
void	log_q(int level, const char *qid, const char *fmt, ...) ATTR_PRINTF(3, 4);

/*
 * Makes a value from the network safe to log: control bytes, backslash
 * and non-ASCII bytes become \ooo escapes and the result is cut at 256
 * characters with "..." appended.  The returned string lives in a small
 * ring of buffers and is valid until LOG_SAFE_SLOTS further calls: use it
 * only inside the argument list of a log call.
 */
#define LOG_SAFE_SLOTS	8
const char *log_safe(const char *s);
/* The same for bytes that may hold NUL. */
const char *log_safe_n(const void *data, size_t len);

#endif
