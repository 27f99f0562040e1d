/* SPDX-License-Identifier: ISC */
/*
 * Compiler attributes used across postern (STYLE R27).
 */
#ifndef POSTERN_COMPAT_H
#define POSTERN_COMPAT_H

#define ATTR_PRINTF(fmt, args)	__attribute__((format(printf, fmt, args)))
#define ATTR_NORETURN		__attribute__((noreturn))
#define ATTR_WUR		__attribute__((warn_unused_result))
#define ATTR_UNUSED		__attribute__((unused))

#define N_ELEMENTS(a)		(sizeof(a) / sizeof((a)[0]))

#endif
