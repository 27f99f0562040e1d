/* SPDX-License-Identifier: ISC */
/* fuzz-sources: transfer-agent/mime8.c common/buf.c common/str.c common/error.c common/xmalloc.c common/log.c */
/* fuzz-libs: */
/*
 * Fuzz target for the 8-bit to quoted-printable converter
 * (transfer-agent/mime8.c).  The first input byte is a control byte: it
 * picks the piece size of each pass and the mode; the rest is the
 * message.
 *
 * Every mode runs pass 1 in pieces and whole (the verdict and its reason
 * must not depend on the cuts), and when it says 1, pass 2 in pieces and
 * whole (the output must not depend on them either).  The output must
 * never hold an 8-bit byte, not even part way through, and scanning it
 * again must find none.  What else is promised depends on where a line
 * came from, so:
 *
 *   raw mode: the input is a whole message.  A line of the output that
 *   is longer than a quoted-printable line (76 + CRLF) or holds a NUL
 *   must be a line of the input passed through (or a rewritten
 *   Content-Transfer-Encoding field whose name is).
 *
 *   body mode: the input is the body of a one-part text/plain message,
 *   all of which is encoded when it holds an 8-bit byte.  The output
 *   must be the header with the two fields added and then valid
 *   quoted-printable (no NUL or 8-bit byte, lines of at most 76
 *   characters and CRLF, no white space before a line end, "=" only as
 *   "=XX" or a soft break) that decodes to the body with every line end
 *   made CRLF.
 *
 *   changed mode (either of the above): pass 2 gets the input with one
 *   byte changed.  It may succeed or fail, but its output stays 7-bit.
 */
#include "config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "transfer-agent/mime8.h"

#include "common/banned.h"

#define FUZZ_OUT_MAX	(64 * 1024 * 1024)
#define FUZZ_QP_LINE	(76 + 2)

#define FUZZ_BODY_HDR	"Subject: fuzz\r\n\r\n"
#define FUZZ_BODY_OUT	"Subject: fuzz\r\nMIME-Version: 1.0\r\n" \
			"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
#define FUZZ_CTE_TAIL	": quoted-printable\r\n"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const size_t fuzz_pieces[] = { 1, 2, 3, 5, 8, 13, 64, 4096 };

static void
fuzz_check_7bit(const struct buf *out)
{
	size_t	i;

	for (i = 0; i < out->len; i++)
		if (((uint8_t)out->data[i] & 0x80) != 0)
			abort();
}

static bool
fuzz_has_8bit(const uint8_t *p, size_t len)
{
	size_t	i;

	for (i = 0; i < len; i++)
		if ((p[i] & 0x80) != 0)
			return true;
	return false;
}

/* Pass 1 in pieces (0: whole).  Returns scan_end's answer. */
static int
fuzz_scan(struct mime8 *m, const uint8_t *in, size_t len, size_t piece,
    const char **error_r)
{
	size_t	off, n;

	if (piece == 0)
		piece = len + 1;
	for (off = 0; off < len; off += n) {
		n = len - off < piece ? len - off : piece;
		if (mime8_scan(m, in + off, n, error_r) != 0)
			abort();
	}
	return mime8_scan_end(m, error_r);
}

/*
 * Pass 1 over in whole, pass 2 over in2 in pieces.  Returns convert's
 * answer; out holds what came out, which is 7-bit at every step.
 */
static int
fuzz_convert(const uint8_t *in, size_t len, const uint8_t *in2,
    size_t len2, size_t piece, struct buf *out)
{
	struct mime8	*m;
	const char	*error;
	size_t		 off, n;
	int		 ret = 0;

	m = mime8_new();
	if (fuzz_scan(m, in, len, 0, &error) != 1)
		abort();
	for (off = 0; off < len2 && ret == 0; off += n) {
		n = len2 - off < piece ? len2 - off : piece;
		ret = mime8_convert(m, in2 + off, n, out, &error);
		fuzz_check_7bit(out);
	}
	if (ret == 0)
		ret = mime8_convert_end(m, out, &error);
	fuzz_check_7bit(out);
	if (ret == -1 && error == NULL)
		abort();
	mime8_free(&m);
	return ret;
}

/* The output, scanned again, holds no 8-bit byte. */
static void
fuzz_rescan(const struct buf *out)
{
	struct mime8	*m;
	const char	*error;

	m = mime8_new();
	if (fuzz_scan(m, (const uint8_t *)out->data, out->len, 0, &error) != 0)
		abort();
	mime8_free(&m);
}

/* Raw mode: long lines and NULs only where the input had them. */
static void
fuzz_check_raw(const uint8_t *in, size_t len, const struct buf *out)
{
	const char	*p, *end, *lf;
	size_t		 n, tail = strlen(FUZZ_CTE_TAIL);

	p = out->data;
	end = out->data + out->len;
	for (; p < end; p += n) {
		lf = memchr(p, '\n', (size_t)(end - p));
		n = lf == NULL ? (size_t)(end - p) : (size_t)(lf - p) + 1;
		if (n <= FUZZ_QP_LINE && memchr(p, '\0', n) == NULL)
			continue;
		if (memmem(in, len, p, n) != NULL)
			continue;
		/* "Name  :" of the input, then the new value. */
		if (n > tail &&
		    memcmp(p + n - tail, FUZZ_CTE_TAIL, tail) == 0 &&
		    memmem(in, len, p, n - tail + 1) != NULL)
			continue;
		abort();
	}
}

static int
fuzz_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	abort();
}

/* Body mode: the output is the header, then quoted-printable of body. */
static void
fuzz_check_body(const uint8_t *body, size_t blen, const struct buf *out)
{
	const char	*s;
	size_t		 hlen = strlen(FUZZ_BODY_OUT), len, i, j = 0, col = 0;
	uint8_t		 c;

	if (out->len < hlen || memcmp(out->data, FUZZ_BODY_OUT, hlen) != 0)
		abort();
	s = out->data + hlen;
	len = out->len - hlen;
	/* Decode and compare with body, LF made CRLF, as we go. */
	for (i = 0; i < len; i++) {
		if (s[i] == '\0' || ((uint8_t)s[i] & 0x80) != 0 || s[i] == '\n')
			abort();
		if (s[i] == '\r') {
			if (i + 1 == len || s[i + 1] != '\n' ||
			    (i > 0 && (s[i - 1] == ' ' || s[i - 1] == '\t')))
				abort();
			/* The body had CRLF or a bare LF here. */
			if (j < blen && body[j] == '\r' && j + 1 < blen &&
			    body[j + 1] == '\n')
				j += 2;
			else if (j < blen && body[j] == '\n')
				j++;
			else
				abort();
			i++;
			col = 0;
			continue;
		}
		if (s[i] == '=' && i + 2 < len && s[i + 1] == '\r' &&
		    s[i + 2] == '\n') {
			if (++col > 76)
				abort();
			i += 2;
			col = 0;
			continue;
		}
		if (s[i] == '=') {
			if (i + 2 >= len)
				abort();
			c = (uint8_t)(fuzz_hex(s[i + 1]) * 16 +
			    fuzz_hex(s[i + 2]));
			i += 2;
			col += 3;
		} else {
			c = (uint8_t)s[i];
			col++;
		}
		if (col > 76 || j >= blen || body[j] != c)
			abort();
		/* An encoded CR must not have been a CRLF. */
		if (c == '\r' && j + 1 < blen && body[j + 1] == '\n')
			abort();
		j++;
	}
	if (j != blen)
		abort();
	if (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mime8	*m;
	struct buf	*in, *out, *out2;
	const char	*error, *error2;
	uint8_t		*changed;
	size_t		 piece1, piece2, pos;
	bool		 body_mode, changed_mode;
	int		 r, r2;

	if (size == 0)
		return 0;
	piece1 = fuzz_pieces[data[0] & 7];
	piece2 = fuzz_pieces[(data[0] >> 3) & 7];
	body_mode = (data[0] & 0x40) != 0;
	changed_mode = (data[0] & 0x80) != 0;
	data++;
	size--;

	in = buf_new(size + sizeof(FUZZ_BODY_HDR), FUZZ_OUT_MAX);
	if (body_mode && buf_append_str(in, FUZZ_BODY_HDR) == -1)
		abort();
	if (buf_append(in, data, size) == -1)
		abort();

	/* The verdict does not depend on the pieces. */
	m = mime8_new();
	r = fuzz_scan(m, (const uint8_t *)in->data, in->len, piece1, &error);
	mime8_free(&m);
	m = mime8_new();
	r2 = fuzz_scan(m, (const uint8_t *)in->data, in->len, 0, &error2);
	mime8_free(&m);
	if (r != r2 || (r == -1 && strcmp(error, error2) != 0))
		abort();
	/* A one-part text body is converted exactly when it is 8-bit. */
	if (body_mode && r != (fuzz_has_8bit(data, size) ? 1 : 0))
		abort();
	if (r != 1) {
		buf_free(&in);
		return 0;
	}

	out = buf_new(0, FUZZ_OUT_MAX);
	out2 = buf_new(0, FUZZ_OUT_MAX);
	if (fuzz_convert((const uint8_t *)in->data, in->len,
	    (const uint8_t *)in->data, in->len, piece2, out) != 0 ||
	    fuzz_convert((const uint8_t *)in->data, in->len,
	    (const uint8_t *)in->data, in->len, in->len + 1, out2) != 0)
		abort();
	if (out->len != out2->len || memcmp(out->data, out2->data, out->len))
		abort();
	fuzz_rescan(out);
	if (body_mode)
		fuzz_check_body(data, size, out);
	else
		fuzz_check_raw((const uint8_t *)in->data, in->len, out);

	if (changed_mode && size > 0) {
		changed = malloc(in->len);
		if (changed == NULL)
			abort();
		memcpy(changed, in->data, in->len);
		pos = (in->len - size) + (size_t)data[size - 1] * 131 % size;
		changed[pos] ^= (uint8_t)(1 + data[0]);
		buf_reset(out);
		(void)fuzz_convert((const uint8_t *)in->data, in->len,
		    changed, in->len, piece2, out);
		free(changed);
	}
	buf_free(&out);
	buf_free(&out2);
	buf_free(&in);
	return 0;
}
