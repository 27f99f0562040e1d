/* SPDX-License-Identifier: ISC */
/*
 * UTF-8 decoding, validation and encoding (utf8.h), by the table of
 * RFC 3629 section 4: the lead byte gives the length and the smallest
 * code point that length may carry, the continuation bytes the rest.
 */
#include "config.h"

#include "utf8.h"

#include "banned.h"

size_t
utf8_decode(const void *s, size_t len, uint32_t *cp_r)
{
	const uint8_t	*p = s;
	uint32_t	 cp, min;
	size_t		 n, i;

	if (len == 0)
		return 0;
	cp = p[0];
	if (cp < 0x80) {
		*cp_r = cp;
		return 1;
	}
	if (cp < 0xc2)			/* continuation, overlong C0/C1 */
		return 0;
	if (cp < 0xe0) {
		n = 2;
		cp &= 0x1f;
		min = 0x80;
	} else if (cp < 0xf0) {
		n = 3;
		cp &= 0x0f;
		min = 0x800;
	} else if (cp < 0xf5) {
		n = 4;
		cp &= 0x07;
		min = 0x10000;
	} else
		return 0;
	if (len < n)
		return 0;
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	*cp_r = cp;
	return n;
}

bool
utf8_valid(const void *s, size_t len)
{
	const uint8_t	*p = s;
	uint32_t	 cp;
	size_t		 i = 0, n;

	while (i < len) {
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		if ((n = utf8_decode(p + i, len - i, &cp)) == 0)
			return false;
		i += n;
	}
	return true;
}

size_t
utf8_encode(uint32_t cp, char out[UTF8_MAX])
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | cp >> 6);
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | cp >> 12);
		out[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | cp >> 18);
	out[1] = (char)(0x80 | (cp >> 12 & 0x3f));
	out[2] = (char)(0x80 | (cp >> 6 & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}
