/* SPDX-License-Identifier: ISC */
/*
 * Checked string helpers and the one decimal parser (STYLE R8).
 */
#include "config.h"

#include <string.h>
#include <time.h>

#include "str.h"

#include "banned.h"

int
str_copy(char *dst, size_t size, const char *src)
{
	size_t	len;

	if (size == 0)
		return -1;
	len = strlen(src);
	if (len >= size) {
		memcpy(dst, src, size - 1);
		dst[size - 1] = '\0';
		return -1;
	}
	memcpy(dst, src, len + 1);
	return 0;
}

int
parse_u64_n(const char *s, size_t len, uint64_t max, uint64_t *val_r)
{
	uint64_t v = 0;
	size_t	 i;

	if (len == 0)
		return -1;
	for (i = 0; i < len; i++) {
		unsigned int d;

		if (s[i] < '0' || s[i] > '9')
			return -1;
		d = (unsigned int)(s[i] - '0');
		/*
		 * v * 10 + d > max, without overflowing; d > max first, or
		 * max - d would wrap and accept any single digit.
		 */
		if (d > max || v > (max - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*val_r = v;
	return 0;
}

void
str_copy_cut(char *dst, size_t size, const char *src)
{
	if (str_copy(dst, size, src) == -1)
		return;		/* cut, and NUL-terminated */
}

int
parse_u64(const char *s, uint64_t max, uint64_t *val_r)
{
	return parse_u64_n(s, strlen(s), max, val_r);
}

static inline char
str_ascii_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

bool
str_eq_icase(const char *a, const char *b)
{
	for (; *a != '\0' && *b != '\0'; a++, b++) {
		if (str_ascii_lower(*a) != str_ascii_lower(*b))
			return false;
	}
	return *a == *b;
}

bool
str_has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

char *
str_lower(char *s)
{
	char	*p;

	for (p = s; *p != '\0'; p++)
		*p = str_ascii_lower(*p);
	return s;
}

const char *
str_skip_ws(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

int
str_date(char *buf, size_t size, time_t t, bool zone_comment)
{
	struct tm	tm;

	if (localtime_r(&t, &tm) == NULL || strftime(buf, size, zone_comment ?
	    "%a, %d %b %Y %H:%M:%S %z (%Z)" : "%a, %d %b %Y %H:%M:%S %z",
	    &tm) == 0)
		return -1;
	return 0;
}

int
str_base64_value(unsigned char c, char c63)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == (unsigned char)c63)
		return 63;
	return -1;
}
