/* SPDX-License-Identifier: ISC */
/*
 * Included last in every .c file: the functions that hide truncation,
 * overflow or trailing garbage become compile errors (STYLE R8).
 * Use buf_*, str_copy() and parse_u64() instead.
 */
#ifndef POSTERN_BANNED_H
#define POSTERN_BANNED_H

#undef strcpy
#define strcpy(...)	BANNED_use_str_copy
#undef strcat
#define strcat(...)	BANNED_use_buf
#undef sprintf
#define sprintf(...)	BANNED_use_snprintf_or_buf_printf
#undef vsprintf
#define vsprintf(...)	BANNED_use_vsnprintf
#undef gets
#define gets(...)	BANNED
#undef sscanf
#define sscanf(...)	BANNED_write_a_cursor_parser
#undef atoi
#define atoi(...)	BANNED_use_parse_u64
#undef atol
#define atol(...)	BANNED_use_parse_u64
#undef strtok
#define strtok(...)	BANNED_use_a_cursor

#endif
