/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for transfer-agent/mime8.c: exact output for plain,
 * multipart, nested, message/rfc822 and digest messages; header
 * rewriting (CTE rewritten or added, MIME-Version added); the
 * quoted-printable rules (soft breaks at 76, "=XX" never cut, "=",
 * trailing white space, NUL, bare CR, bare LF), checked also by
 * decoding the output and comparing it with the original body; every
 * case where scan_end says -1; 7-bit input giving 0; the same output
 * for every way of cutting the input into pieces; a 1 MB single-line
 * 8-bit body in bounded memory; the depth and field limits at the
 * maximum and one over; a full output buffer; pass 2 fed other bytes.
 */
#include "config.h"

#include <malloc.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "common/buf.h"
#include "common/xmalloc.h"
#include "transfer-agent/mime8.h"

#include "common/banned.h"

#define S(s)		(const uint8_t *)(s), sizeof(s) - 1
#define OUT_MAX		(64 * 1024 * 1024)

/* What run() saw. */
enum run_result {
	RUN_CANNOT = -1,	/* scan_end -1 */
	RUN_7BIT = 0,		/* scan_end 0 */
	RUN_CONVERTED = 1,	/* both passes done */
	RUN_CONVERT_FAILED = 2,	/* convert or convert_end -1 */
};

/*
 * How one pass cuts the input: the first piece is cut bytes (when not
 * 0), then pieces of piece bytes (0: the rest whole).
 */
struct feed {
	size_t	 piece;
	size_t	 cut;
};

static size_t
feed_next(const struct feed *f, size_t off, size_t len)
{
	size_t	n;

	if (f->cut != 0 && off < f->cut)
		n = f->cut - off;
	else
		n = f->piece == 0 ? len - off : f->piece;
	return n < len - off ? n : len - off;
}

/*
 * Both passes over in[0..len), cut as f1 and f2 say.  *out_r is set
 * (caller frees) for RUN_CONVERTED, *error_r for the failures.
 */
static enum run_result
run_feed(const uint8_t *in, size_t len, const struct feed *f1,
    const struct feed *f2, struct buf **out_r, const char **error_r)
{
	struct mime8	*m;
	struct buf	*out;
	size_t		 off, n;
	int		 ret;
	bool		 scan_ok = true;

	*out_r = NULL;
	*error_r = NULL;
	m = mime8_new();
	for (off = 0; off < len; off += n) {
		n = feed_next(f1, off, len);
		/* Empty pieces are allowed anywhere. */
		if (mime8_scan(m, in + off, n, error_r) != 0 ||
		    mime8_scan(m, in, 0, error_r) != 0)
			scan_ok = false;
	}
	ck_assert(scan_ok);
	ret = mime8_scan_end(m, error_r);
	if (ret != 1) {
		mime8_free(&m);
		ck_assert_ptr_null(m);
		if (ret == -1)
			ck_assert_ptr_nonnull(*error_r);
		else
			ck_assert_int_eq(ret, 0);
		return ret == -1 ? RUN_CANNOT : RUN_7BIT;
	}
	out = buf_new(0, OUT_MAX);
	for (off = 0; off < len; off += n) {
		n = feed_next(f2, off, len);
		if (mime8_convert(m, in + off, n, out, error_r) == -1 ||
		    mime8_convert(m, in, 0, out, error_r) == -1)
			goto fail;
	}
	if (mime8_convert_end(m, out, error_r) == -1)
		goto fail;
	mime8_free(&m);
	*out_r = out;
	return RUN_CONVERTED;
fail:
	ck_assert_ptr_nonnull(*error_r);
	mime8_free(&m);
	buf_free(&out);
	return RUN_CONVERT_FAILED;
}

/* Both passes in pieces of piece bytes (0: whole). */
static enum run_result
run(const uint8_t *in, size_t len, size_t piece, struct buf **out_r,
    const char **error_r)
{
	struct feed f = { .piece = piece, .cut = 0 };

	return run_feed(in, len, &f, &f, out_r, error_r);
}

static const size_t pieces[] = { 0, 1, 2, 3, 5, 7, 13, 64, 1000 };

/* Converts in, cut every way in pieces[], and compares with want. */
static void
check_convert(const uint8_t *in, size_t len, const char *want)
{
	struct buf	*out;
	const char	*error;
	size_t		 i;

	for (i = 0; i < N_ELEMENTS(pieces); i++) {
		ck_assert_int_eq(run(in, len, pieces[i], &out, &error),
		    RUN_CONVERTED);
		/* check cannot print a long message. */
		if (out->len < 4096 && strlen(want) < 4096)
			ck_assert_str_eq(buf_cstr(out), want);
		ck_assert_uint_eq(out->len, strlen(want));
		ck_assert(memcmp(out->data, want, out->len) == 0);
		buf_free(&out);
	}
}

/* scan_end gives -1 with an error holding want, whatever the pieces. */
static void
check_cannot(const uint8_t *in, size_t len, const char *want)
{
	struct buf	*out;
	const char	*error;
	size_t		 i;

	for (i = 0; i < N_ELEMENTS(pieces); i++) {
		ck_assert_msg(run(in, len, pieces[i], &out, &error) ==
		    RUN_CANNOT, "not -1: %.60s", (const char *)in);
		ck_assert_ptr_nonnull(strstr(error, want));
	}
}

static void
check_7bit(const uint8_t *in, size_t len)
{
	struct buf	*out;
	const char	*error;
	size_t		 i;

	for (i = 0; i < N_ELEMENTS(pieces); i++)
		ck_assert_int_eq(run(in, len, pieces[i], &out, &error),
		    RUN_7BIT);
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Checks that s[0..len) is quoted-printable as mime8.h promises (7-bit,
 * no NUL, lines of at most 76 characters ending in CRLF, no white space
 * before a line end, "=" only as "=XX" in upper case or a soft break)
 * and decodes it into out.  Returns NULL, or what is wrong (asserting
 * once, not per byte, keeps check's bookkeeping out of the run time).
 */
static const char *
qp_check_decode(const char *s, size_t len, struct buf *out)
{
	size_t	i, col = 0;
	int	hi, lo;

	for (i = 0; i < len; i++) {
		if ((unsigned char)s[i] >= 0x80 || s[i] == '\0')
			return "8-bit byte or NUL";
		if (s[i] == '\r') {
			if (i + 1 == len || s[i + 1] != '\n')
				return "bare CR";
			if (i > 0 && (s[i - 1] == ' ' || s[i - 1] == '\t'))
				return "white space before a line end";
			if (buf_append(out, "\r\n", 2) == -1)
				return "decoded too long";
			i++;
			col = 0;
			continue;
		}
		if (s[i] == '\n')
			return "bare LF";
		if (s[i] != '=') {
			if (++col > 76)
				return "line longer than 76";
			if (buf_append_byte(out, (uint8_t)s[i]) == -1)
				return "decoded too long";
			continue;
		}
		if (i + 2 < len && s[i + 1] == '\r' && s[i + 2] == '\n') {
			if (++col > 76)
				return "line longer than 76";
			i += 2;
			col = 0;
			continue;
		}
		if (i + 2 >= len)
			return "\"=\" at the end";
		hi = hexval(s[i + 1]);
		lo = hexval(s[i + 2]);
		if (hi == -1 || lo == -1)
			return "\"=\" not followed by two hex digits";
		col += 3;
		if (col > 76)
			return "line longer than 76";
		if (buf_append_byte(out, (uint8_t)(hi * 16 + lo)) == -1)
			return "decoded too long";
		i += 2;
	}
	/* Trailing white space at the very end would be lost too. */
	if (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		return "white space at the end";
	return NULL;
}

/* The body as the decoder gives it back: every LF becomes CRLF. */
static void
norm_eol(const uint8_t *p, size_t len, struct buf *out)
{
	size_t	i;
	bool	ok = true;

	for (i = 0; i < len; i++) {
		if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r'))
			ok = ok && buf_append_byte(out, '\r') == 0;
		ok = ok && buf_append_byte(out, p[i]) == 0;
	}
	ck_assert(ok);
}

/* qp_check_decode() passes and gives back what norm_eol() makes. */
static void
check_decodes_to(const char *qp, size_t qlen, const uint8_t *body,
    size_t blen)
{
	struct buf	*dec, *norm;
	const char	*why;

	dec = buf_new(0, OUT_MAX);
	norm = buf_new(0, OUT_MAX);
	why = qp_check_decode(qp, qlen, dec);
	ck_assert_msg(why == NULL, "bad quoted-printable: %s", why);
	norm_eol(body, blen, norm);
	ck_assert_uint_eq(dec->len, norm->len);
	ck_assert(memcmp(dec->data, norm->data, dec->len) == 0);
	buf_free(&dec);
	buf_free(&norm);
}

/*
 * A single-part message: header hdr, then body.  The output must be the
 * header with the fields wanted added, then the body encoded; decoding
 * gives the body back.
 */
static void
check_roundtrip(const char *hdr, const uint8_t *body, size_t blen,
    const char *want_hdr)
{
	struct buf	*in, *out;
	const char	*error;
	size_t		 i, hlen;

	in = buf_new(0, OUT_MAX);
	ck_assert_int_eq(buf_append_str(in, hdr), 0);
	ck_assert_int_eq(buf_append(in, body, blen), 0);
	for (i = 0; i < N_ELEMENTS(pieces); i++) {
		ck_assert_int_eq(run((const uint8_t *)in->data, in->len,
		    pieces[i], &out, &error), RUN_CONVERTED);
		hlen = strlen(want_hdr);
		ck_assert_uint_ge(out->len, hlen);
		ck_assert(memcmp(out->data, want_hdr, hlen) == 0);
		check_decodes_to(out->data + hlen, out->len - hlen, body,
		    blen);
		buf_free(&out);
	}
	buf_free(&in);
}

#define HDR_ADDED \
	"Subject: t\r\n" \
	"MIME-Version: 1.0\r\n" \
	"Content-Transfer-Encoding: quoted-printable\r\n" \
	"\r\n"

START_TEST(test_mime8_plain)
{
	check_convert(S("Subject: t\r\n\r\nh\xc3\xa9llo\r\nworld\r\n"),
	    HDR_ADDED "h=C3=A9llo\r\nworld\r\n");
	/* A header with folded fields, passed through as it came. */
	check_convert(S("Subject: a\r\n b\r\nTo: x\r\n\r\n\xff\r\n"),
	    "Subject: a\r\n b\r\nTo: x\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n=FF\r\n");
	/* Already MIME: only the encoding is added. */
	check_convert(S("MIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n\r\n\xe9\r\n"),
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n=E9\r\n");
	/* mime-version in any case counts. */
	check_convert(S("mime-version: 1.0\r\n\r\n\xe9\r\n"),
	    "mime-version: 1.0\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n=E9\r\n");
	/* No header at all: the first line is the body. */
	check_convert(S("h\xc3\xa9llo\r\n"),
	    "MIME-Version: 1.0\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
	    "h=C3=A9llo\r\n");
	/* A line that is not a field ends the header. */
	check_convert(S("Subject: t\r\nbody \xe9\r\n"),
	    HDR_ADDED "body =E9\r\n");
	check_convert(S("Subject: t\r\n\tx\r\nFrom a\r\n\xe9\r\n"),
	    "Subject: t\r\n\tx\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
	    "From a\r\n=E9\r\n");
	/* An empty body line and the last line without a line end. */
	check_convert(S("Subject: t\r\n\r\n\r\n\xe9"),
	    HDR_ADDED "\r\n=E9");
	/* Bare LF lines: LF in the header kept, CRLF in the body. */
	check_convert(S("Subject: t\n\na\xe9\nb\n"),
	    "Subject: t\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n"
	    "\na=E9\r\nb\r\n");
}
END_TEST

START_TEST(test_mime8_cte_rewrite)
{
	check_convert(S("MIME-Version: 1.0\r\n"
	    "content-transfer-encoding: 8BIT\r\n"
	    "X: y\r\n\r\n\xe9\r\n"),
	    "MIME-Version: 1.0\r\n"
	    "content-transfer-encoding: quoted-printable\r\n"
	    "X: y\r\n\r\n=E9\r\n");
	/* Folded, with a comment: one line replaces the field. */
	check_convert(S("MIME-Version: 1.0\r\n"
	    "Content-Transfer-Encoding:\r\n  8bit (raw)\r\n"
	    "X: y\r\n\r\n\xe9\r\n"),
	    "MIME-Version: 1.0\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n"
	    "X: y\r\n\r\n=E9\r\n");
	/* White space before the colon stays with the name. */
	check_convert(S("MIME-Version: 1.0\r\n"
	    "Content-Transfer-Encoding : binary\r\n\r\n\xe9\r\n"),
	    "MIME-Version: 1.0\r\n"
	    "Content-Transfer-Encoding : quoted-printable\r\n\r\n=E9\r\n");
	/* 7bit (wrong, but identity) too; two agreeing fields both. */
	check_convert(S("MIME-Version: 1.0\r\n"
	    "Content-Transfer-Encoding: 7bit\r\n"
	    "Content-Transfer-Encoding: 8bit\r\n\r\n\xe9\r\n"),
	    "MIME-Version: 1.0\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n=E9\r\n");
	/* Last field of the header, bare LF. */
	check_convert(S("MIME-Version: 1.0\n"
	    "Content-Transfer-Encoding: 8bit\n\n\xe9\n"),
	    "MIME-Version: 1.0\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\n=E9\r\n");
}
END_TEST

static const char mp_in[] =
	"MIME-Version: 1.0\r\n"
	"Content-Type: multipart/mixed; boundary=\"b1\"\r\n"
	"\r\n"
	"This is a preamble.\r\n"
	"--b1\r\n"
	"Content-Type: text/plain\r\n"
	"\r\n"
	"seven bit  \r\n"
	"with = and a very long line of text that goes on and on and on "
	"past seventy-six characters\r\n"
	"\r\n"
	"--b1\r\n"
	"Content-Type: text/plain; charset=utf-8\r\n"
	"Content-Transfer-Encoding: 8bit\r\n"
	"\r\n"
	"caf\xc3\xa9 \r\n"
	"\r\n"
	"--b1--\r\n"
	"epilogue\r\n";

START_TEST(test_mime8_multipart)
{
	check_convert((const uint8_t *)mp_in, sizeof(mp_in) - 1,
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: multipart/mixed; boundary=\"b1\"\r\n"
	    "\r\n"
	    "This is a preamble.\r\n"
	    "--b1\r\n"
	    "Content-Type: text/plain\r\n"
	    "\r\n"
	    "seven bit  \r\n"
	    "with = and a very long line of text that goes on and on and on "
	    "past seventy-six characters\r\n"
	    "\r\n"
	    "--b1\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n"
	    "\r\n"
	    "caf=C3=A9=20\r\n"
	    "\r\n"
	    "--b1--\r\n"
	    "epilogue\r\n");
	/* Boundary lines with transport padding; a look-alike is text. */
	check_convert(S("Content-Type: multipart/mixed; boundary=b1\r\n\r\n"
	    "--b1 \t\r\n\r\n\xe9\r\n--b1x\r\n--b1-- \r\n"),
	    "Content-Type: multipart/mixed; boundary=b1\r\n"
	    "MIME-Version: 1.0\r\n\r\n"
	    "--b1 \t\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n"
	    "\r\n=E9\r\n--b1x\r\n--b1-- \r\n");
	/* A boundary cuts a part's header; quoted boundary with escapes. */
	check_convert(S("MIME-Version: 1.0\r\n"
	    "Content-Type: Multipart/Mixed (c) ;\r\n"
	    " x=\"a;b\"; boundary = \"a\\\"b c\"\r\n\r\n"
	    "--a\"b c\r\nX-Cut: 1\r\n"
	    "--a\"b c\r\n\r\n\xe9\r\n"
	    "--a\"b c--\r\n"),
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: Multipart/Mixed (c) ;\r\n"
	    " x=\"a;b\"; boundary = \"a\\\"b c\"\r\n\r\n"
	    "--a\"b c\r\nX-Cut: 1\r\n"
	    "--a\"b c\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n"
	    "\r\n=E9\r\n"
	    "--a\"b c--\r\n");
	/* A duplicate boundary parameter with the same value is fine. */
	check_convert(S("MIME-Version: 1.0\r\n"
	    "Content-Type: multipart/mixed; boundary=q; boundary=\"q\"\r\n"
	    "\r\n--q\r\n\r\n\xe9\r\n--q--\r\n"),
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: multipart/mixed; boundary=q; boundary=\"q\"\r\n"
	    "\r\n--q\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n"
	    "\r\n=E9\r\n--q--\r\n");
	/* No epilogue, no line end after the close delimiter. */
	check_convert(S("MIME-Version: 1.0\r\n"
	    "Content-Type: multipart/mixed; boundary=q\r\n"
	    "\r\n--q\r\n\r\n\xe9\r\n--q--"),
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: multipart/mixed; boundary=q\r\n"
	    "\r\n--q\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n"
	    "\r\n=E9\r\n--q--");
}
END_TEST

START_TEST(test_mime8_nested)
{
	/* The inner multipart is closed by the outer boundary. */
	check_convert(S("MIME-Version: 1.0\r\n"
	    "Content-Type: multipart/mixed; boundary=outer\r\n\r\n"
	    "--outer\r\n"
	    "Content-Type: multipart/alternative; boundary=inner\r\n\r\n"
	    "--inner\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n\r\n"
	    "\xc3\xa9t\xc3\xa9\r\n"
	    "--inner\r\n"
	    "Content-Type: text/html\r\n\r\n"
	    "<p>&eacute;t&eacute;</p>\r\n"
	    "--outer\r\n"
	    "Content-Type: application/octet-stream\r\n"
	    "Content-Transfer-Encoding: binary\r\n\r\n"
	    "\x00\x01\xff\r\r\n"
	    "--outer--\r\n"),
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: multipart/mixed; boundary=outer\r\n\r\n"
	    "--outer\r\n"
	    "Content-Type: multipart/alternative; boundary=inner\r\n\r\n"
	    "--inner\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
	    "=C3=A9t=C3=A9\r\n"
	    "--inner\r\n"
	    "Content-Type: text/html\r\n\r\n"
	    "<p>&eacute;t&eacute;</p>\r\n"
	    "--outer\r\n"
	    "Content-Type: application/octet-stream\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
	    "=00=01=FF=0D\r\n"
	    "--outer--\r\n");
	/* The same boundary inside and outside: the inner one wins. */
	check_convert(S("MIME-Version: 1.0\r\n"
	    "Content-Type: multipart/mixed; boundary=z\r\n\r\n"
	    "--z\r\n"
	    "Content-Type: multipart/mixed; boundary=z\r\n\r\n"
	    "--z\r\n\r\n\xe9\r\n--z--\r\n--z--\r\n"),
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: multipart/mixed; boundary=z\r\n\r\n"
	    "--z\r\n"
	    "Content-Type: multipart/mixed; boundary=z\r\n\r\n"
	    "--z\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n"
	    "\r\n=E9\r\n--z--\r\n--z--\r\n");
}
END_TEST

START_TEST(test_mime8_rfc822)
{
	/* The inner message gets the encoding, not the part header. */
	check_convert(S("MIME-Version: 1.0\r\n"
	    "Content-Type: multipart/mixed; boundary=o\r\n\r\n"
	    "--o\r\n"
	    "Content-Type: message/rfc822\r\n\r\n"
	    "Subject: inner\r\n"
	    "Content-Transfer-Encoding: 8bit\r\n\r\n"
	    "\xe9t\xe9\r\n"
	    "--o\r\n\r\nplain\r\n"
	    "--o--\r\n"),
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: multipart/mixed; boundary=o\r\n\r\n"
	    "--o\r\n"
	    "Content-Type: message/rfc822\r\n\r\n"
	    "Subject: inner\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
	    "=E9t=E9\r\n"
	    "--o\r\n\r\nplain\r\n"
	    "--o--\r\n");
	/* Top-level message/rfc822 holding a multipart; MIME-Version
	   only at the top. */
	check_convert(S("Content-Type: message/rfc822\r\n\r\n"
	    "Subject: inner\r\n"
	    "Content-Type: multipart/mixed; boundary=i\r\n\r\n"
	    "--i\r\n\r\n\xe9\r\n--i--\r\n"),
	    "Content-Type: message/rfc822\r\n"
	    "MIME-Version: 1.0\r\n\r\n"
	    "Subject: inner\r\n"
	    "Content-Type: multipart/mixed; boundary=i\r\n\r\n"
	    "--i\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n"
	    "\r\n=E9\r\n--i--\r\n");
	/* multipart/digest: parts are messages by default. */
	check_convert(S("MIME-Version: 1.0\r\n"
	    "Content-Type: multipart/digest; boundary=d\r\n\r\n"
	    "--d\r\n\r\n"
	    "Subject: one\r\n\r\n\xe9\r\n"
	    "--d\r\n"
	    "Content-Type: text/plain\r\n\r\n\xe8\r\n"
	    "--d--\r\n"),
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: multipart/digest; boundary=d\r\n\r\n"
	    "--d\r\n\r\n"
	    "Subject: one\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n=E9\r\n"
	    "--d\r\n"
	    "Content-Type: text/plain\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n=E8\r\n"
	    "--d--\r\n");
}
END_TEST

START_TEST(test_mime8_qp_rules)
{
	/* "=", trailing space and tab, inner white space, DEL, NUL. */
	check_convert(S("Subject: t\r\n\r\n"
	    "a=b \r\n\tx\t\r\ny z\r\n\x7f\x00\xe9\r\n"),
	    HDR_ADDED "a=3Db=20\r\n\tx=09\r\ny z\r\n=7F=00=E9\r\n");
	/* Trailing white space at the end of the input. */
	check_convert(S("Subject: t\r\n\r\n\xe9 "), HDR_ADDED "=E9=20");
	check_convert(S("Subject: t\r\n\r\n\xe9 x"), HDR_ADDED "=E9 x");
	/* Bare CR is data; CR CR LF; CR at the very end. */
	check_convert(S("Subject: t\r\n\r\na\rb\xe9\r\nc\r\r\nd \r"),
	    HDR_ADDED "a=0Db=E9\r\nc=0D\r\nd =0D");
	/* A space before a bare CR is not trailing. */
	check_convert(S("Subject: t\r\n\r\n\xe9 \r\r\n"),
	    HDR_ADDED "=E9 =0D\r\n");

	/* Bare LF and CRLF mixed; an empty line; a lone LF. */
	check_convert(S("Subject: t\r\n\r\n\xe9\n\r\n\n"),
	    HDR_ADDED "=E9\r\n\r\n\r\n");
}
END_TEST

/* Appends n copies of c to b. */
static void
append_n(struct buf *b, char c, size_t n)
{
	bool	ok = true;

	while (n-- > 0)
		ok = ok && buf_append_byte(b, (uint8_t)c) == 0;
	ck_assert(ok);
}

/* A message whose body is n bytes of c, then tail, then CRLF. */
static void
check_line(size_t n, const char *tail, const char *want_body)
{
	struct buf	*in, *want;

	in = buf_new(0, OUT_MAX);
	want = buf_new(0, OUT_MAX);
	ck_assert_int_eq(buf_append_str(in, "Subject: t\r\n\r\n\xe9\r\n"),
	    0);
	append_n(in, 'a', n);
	ck_assert_int_eq(buf_printf(in, "%s\r\n", tail), 0);
	ck_assert_int_eq(buf_printf(want, "%s=E9\r\n%s", HDR_ADDED,
	    want_body), 0);
	check_convert((const uint8_t *)in->data, in->len, buf_cstr(want));
	buf_free(&in);
	buf_free(&want);
}

#define A10	"aaaaaaaaaa"
#define A70	A10 A10 A10 A10 A10 A10 A10

START_TEST(test_mime8_soft_breaks)
{
	/* 76 characters fit a line; 77 need a soft break after 75. */
	check_line(76, "", A70 "aaaaaa\r\n");
	check_line(77, "", A70 "aaaaa=\r\naa\r\n");
	check_line(75 + 76 + 1, "",
	    A70 "aaaaa=\r\n" A70 "aaaaa=\r\naa\r\n");
	/* "=XX" last on a line may end at column 76, never be cut. */
	check_line(73, "\xe9", A70 "aaa=E9\r\n");
	check_line(74, "\xe9", A70 "aaaa=\r\n=E9\r\n");
	check_line(75, "\xe9", A70 "aaaaa=\r\n=E9\r\n");
	/* Not last: it must leave room for the "=". */
	check_line(72, "\xe9" "b", A70 "aa=E9b\r\n");
	check_line(73, "\xe9" "b", A70 "aaa=\r\n=E9b\r\n");
	check_line(72, "\xe9" "bc", A70 "aa=E9=\r\nbc\r\n");
	/* A trailing space that no longer fits goes to the next line. */
	check_line(75, " ", A70 "aaaaa=\r\n=20\r\n");
	check_line(73, " ", A70 "aaa=20\r\n");
	/* An inner space at column 75 is literal and gets a break. */
	check_line(74, " b", A70 "aaaa b\r\n");
	check_line(74, " bc", A70 "aaaa =\r\nbc\r\n");
}
END_TEST

/* A fixed pseudo-random sequence (xorshift32), for repeatable tests. */
static uint32_t
test_rand(uint32_t *state)
{
	uint32_t x = *state;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*state = x;
	return x;
}

START_TEST(test_mime8_roundtrip)
{
	uint8_t		 body[3000];
	uint32_t	 seed = 12345;
	size_t		 i, j;
	static const uint8_t alphabet[] = "ab =\t\r\n.\xc3\xa9\x00\x7f-";

	/* Every byte value once, then three kinds of random bodies. */
	for (i = 0; i < 256; i++)
		body[i] = (uint8_t)i;
	check_roundtrip("Subject: t\r\n\r\n", body, 256,
	    HDR_ADDED);
	for (j = 0; j < 30; j++) {
		for (i = 0; i < sizeof(body); i++) {
			if (j % 3 == 0)
				body[i] = (uint8_t)test_rand(&seed);
			else
				body[i] = alphabet[test_rand(&seed) %
				    (sizeof(alphabet) - 1)];
		}
		if (j % 3 == 2)
			body[0] = 0xe9;	/* else it may be all 7-bit */
		body[0] |= 0x80;
		check_roundtrip("Subject: t\r\n\r\n", body,
		    1 + test_rand(&seed) % sizeof(body), HDR_ADDED);
	}
	/* In a part, with CTE rewritten. */
	memcpy(body, "\xe9 \t\r\n=\r\n\r\n x \r\n", 14);
	check_roundtrip("Subject: t\r\nMIME-Version: 1.0\r\n"
	    "Content-Transfer-Encoding: 8bit\r\n\r\n", body, 14,
	    "Subject: t\r\nMIME-Version: 1.0\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n");
}
END_TEST

START_TEST(test_mime8_cannot)
{
	/* 8-bit in header sections, wherever they are. */
	check_cannot(S("Subject: \xe9\r\n\r\nx\r\n"), "header");
	check_cannot(S("Subject: a\r\n \xe9\r\n\r\n\xe9\r\n"), "header");
	check_cannot(S("Subj\xe9" "ct: a\r\n\r\nx\r\n"), "header");
	check_cannot(S("Content-Type: multipart/mixed; boundary=b\r\n\r\n"
	    "--b\r\nContent-Description: \xe9\r\n\r\nx\r\n--b--\r\n"),
	    "header");
	check_cannot(S("Content-Type: message/rfc822\r\n\r\n"
	    "Subject: \xe9\r\n\r\nx\r\n"), "header");
	/* Encoded leaves, unknown or conflicting encodings. */
	check_cannot(S("Content-Transfer-Encoding: base64\r\n\r\n\xe9\r\n"),
	    "base64 or quoted-printable");
	check_cannot(S("Content-Transfer-Encoding: Quoted-Printable\r\n\r\n"
	    "\xe9\r\n"), "base64 or quoted-printable");
	check_cannot(S("Content-Transfer-Encoding: x-uuencode\r\n\r\n"
	    "\xe9\r\n"), "unknown");
	check_cannot(S("Content-Transfer-Encoding: 8bit junk\r\n\r\n"
	    "\xe9\r\n"), "unknown");
	check_cannot(S("Content-Transfer-Encoding:\r\n\r\n\xe9\r\n"),
	    "unknown");
	check_cannot(S("Content-Transfer-Encoding: 8bit\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\n\xe9\r\n"), "unknown");
	/* Preamble, epilogue. */
	check_cannot(S("Content-Type: multipart/mixed; boundary=b\r\n\r\n"
	    "\xe9\r\n--b\r\n\r\nx\r\n--b--\r\n"), "preamble");
	check_cannot(S("Content-Type: multipart/mixed; boundary=b\r\n\r\n"
	    "--b\r\n\r\n\xe9\r\n--b--\r\n\xe9\r\n"), "epilogue");
	/* An inner multipart's epilogue, before the outer boundary. */
	check_cannot(S("Content-Type: multipart/mixed; boundary=o\r\n\r\n"
	    "--o\r\nContent-Type: multipart/mixed; boundary=i\r\n\r\n"
	    "--i\r\n\r\nx\r\n--i--\r\n\xe9\r\n--o--\r\n"), "epilogue");
	/* Multiparts we cannot enter. */
	check_cannot(S("Content-Type: multipart/mixed\r\n\r\n\xe9\r\n"),
	    "boundary");
	check_cannot(S("Content-Type: multipart/mixed; boundary=\"\"\r\n\r\n"
	    "\xe9\r\n"), "boundary");
	check_cannot(S("Content-Type: multipart/mixed; boundary=a; "
	    "boundary=b\r\n\r\n--a\r\n\r\n\xe9\r\n"), "boundary");
	check_cannot(S("Content-Type: multipart mixed; boundary=a\r\n\r\n"
	    "--a\r\n\r\n\xe9\r\n"), "boundary");
	check_cannot(S("Content-Type: multipart/mixed; boundary=\"a\r\n\r\n"
	    "--a\r\n\r\n\xe9\r\n"), "boundary");
	check_cannot(S("Content-Type: multipart/mixed; boundary=b\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\n"
	    "--b\r\n\r\n\xe9\r\n--b--\r\n"), "other than 7bit");
	/* message/(any) other than rfc822, and rfc822 encoded. */
	check_cannot(S("Content-Type: message/partial; id=x; number=1\r\n\r\n"
	    "Subject: x\r\n\r\n\xe9\r\n"), "message/*");
	check_cannot(S("Content-Type: message/external-body; "
	    "access-type=x\r\n\r\n\xe9\r\n"), "message/*");
	check_cannot(S("Content-Type: message/delivery-status\r\n\r\n"
	    "Diagnostic-Code: \xe9\r\n"), "message/*");
	check_cannot(S("Content-Type: message\r\n\r\n\xe9\r\n"),
	    "message/*");
	check_cannot(S("Content-Type: message/rfc822\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
	    "Subject: x\r\n\r\n\xe9\r\n"), "other than 7bit");
	/* Two Content-Type fields. */
	check_cannot(S("Content-Type: text/plain\r\n"
	    "Content-Type: text/plain\r\n\r\n\xe9\r\n"),
	    "more than one Content-Type");
	/* A good part first does not help. */
	check_cannot(S("Content-Type: multipart/mixed; boundary=b\r\n\r\n"
	    "--b\r\n\r\n\xe9\r\n--b\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\n\xe9\r\n--b--\r\n"),
	    "base64");
}
END_TEST

START_TEST(test_mime8_7bit)
{
	check_7bit(S(""));
	check_7bit(S("Subject: t\r\n"));
	check_7bit(S("Subject: t\r\n\r\nhello\r\n"));
	/* NUL, bare CR, bare LF, long lines: not 8-bit. */
	check_7bit(S("Subject: t\r\n\r\na\x00b\rc\nd\x7f\r\n"));
	check_7bit(S("MIME-Version: 1.0\r\n"
	    "Content-Type: multipart/mixed; boundary=b\r\n\r\npre\r\n"
	    "--b\r\n\r\nx\r\n--b--\r\npost\r\n"));
	check_7bit(S("Content-Type: multipart/mixed; boundary=b\r\n\r\n"
	    "--b\r\nContent-Transfer-Encoding: base64\r\n\r\n"
	    "6Q==\r\n--b--\r\n"));
	/* Unusable structure without 8-bit bytes is no problem. */
	check_7bit(S("Content-Type: multipart/mixed\r\n"
	    "Content-Type: message/partial\r\n\r\nx\r\n"));
}
END_TEST

START_TEST(test_mime8_pieces)
{
	struct feed	 f1, f2;
	struct buf	*whole, *out;
	const char	*error;
	size_t		 len = sizeof(mp_in) - 1, cut;

	ck_assert_int_eq(run((const uint8_t *)mp_in, len, 0, &whole, &error),
	    RUN_CONVERTED);
	/* Every cut in two, in either pass, and pieces of one byte. */
	for (cut = 1; cut < len; cut++) {
		f1.piece = 0;
		f1.cut = cut;
		f2.piece = 1;
		f2.cut = 0;
		ck_assert_int_eq(run_feed((const uint8_t *)mp_in, len, &f1,
		    &f2, &out, &error), RUN_CONVERTED);
		ck_assert_str_eq(buf_cstr(out), buf_cstr(whole));
		buf_free(&out);
		ck_assert_int_eq(run_feed((const uint8_t *)mp_in, len, &f2,
		    &f1, &out, &error), RUN_CONVERTED);
		ck_assert_str_eq(buf_cstr(out), buf_cstr(whole));
		buf_free(&out);
	}
	buf_free(&whole);
}
END_TEST

/*
 * A 1 MB body on one line: soft breaks all the way, the same decoded
 * bytes, and the heap does not grow with the message while both passes
 * run (the output is taken out after each piece, as the caller does).
 */
#define BIG_LEN		(1024 * 1024)
#define BIG_PIECE	4096

static size_t
heap_in_use(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}

START_TEST(test_mime8_big_line)
{
	static const char hdr[] = "Subject: big\r\n\r\n";
	struct mime8	*m;
	struct buf	*out;
	uint8_t		*in, *all;
	const char	*error;
	size_t		 len, alen = 0, off, n, base, i;
	uint32_t	 seed = 7;
	bool		 measure = true;

#if defined(__SANITIZE_ADDRESS__)
	measure = false;	/* ASan's allocator is not glibc's */
#endif
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
	measure = false;
#endif
#endif
	len = sizeof(hdr) - 1 + BIG_LEN + 2;
	in = xmalloc(len);
	memcpy(in, hdr, sizeof(hdr) - 1);
	for (i = 0; i < BIG_LEN; i++)
		in[sizeof(hdr) - 1 + i] = (test_rand(&seed) & 1) != 0 ?
		    (uint8_t)(0x80 | (test_rand(&seed) & 0x7f)) :
		    (uint8_t)('a' + test_rand(&seed) % 26);
	memcpy(in + len - 2, "\r\n", 2);
	all = xmalloc(4 * BIG_LEN);
	out = buf_new(0, 4 * BIG_PIECE);
	base = heap_in_use();

	m = mime8_new();
	for (off = 0; off < len; off += n) {
		n = len - off < BIG_PIECE ? len - off : BIG_PIECE;
		ck_assert_int_eq(mime8_scan(m, in + off, n, &error), 0);
	}
	if (measure)
		ck_assert_uint_lt(heap_in_use() - base, 256 * 1024);
	ck_assert_int_eq(mime8_scan_end(m, &error), 1);
	for (off = 0; off < len; off += n) {
		n = len - off < BIG_PIECE ? len - off : BIG_PIECE;
		ck_assert_msg(mime8_convert(m, in + off, n, out, &error) == 0,
		    "%s", error);
		ck_assert_uint_le(alen + out->len, 4 * BIG_LEN);
		memcpy(all + alen, out->data, out->len);
		alen += out->len;
		buf_reset(out);
	}
	if (measure)
		ck_assert_uint_lt(heap_in_use() - base, 256 * 1024);
	ck_assert_int_eq(mime8_convert_end(m, out, &error), 0);
	ck_assert_uint_eq(out->len, 0);
	mime8_free(&m);

	n = strlen("Subject: big\r\nMIME-Version: 1.0\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n");
	ck_assert(memcmp(all, "Subject: big\r\nMIME-Version: 1.0\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n", n) == 0);
	check_decodes_to((const char *)all + n, alen - n,
	    in + sizeof(hdr) - 1, BIG_LEN + 2);
	buf_free(&out);
	free(all);
	free(in);
}
END_TEST

/* n nested multiparts, the innermost holding an 8-bit leaf. */
static struct buf *
nested(unsigned int n)
{
	struct buf	*b;
	unsigned int	 i;

	b = buf_new(0, OUT_MAX);
	ck_assert_int_eq(buf_append_str(b, "MIME-Version: 1.0\r\n"), 0);
	for (i = 0; i < n; i++)
		ck_assert_int_eq(buf_printf(b, "Content-Type: multipart/mixed;"
		    " boundary=b%u\r\n\r\n--b%u\r\n", i, i), 0);
	ck_assert_int_eq(buf_append_str(b, "\r\n\xe9\r\n"), 0);
	for (i = n; i-- > 0;)
		ck_assert_int_eq(buf_printf(b, "--b%u--\r\n", i), 0);
	return b;
}

/* A message whose Content-Type field is len bytes unfolded. */
static struct buf *
long_ctype(size_t len, bool fold)
{
	static const char start[] =
	    "Content-Type: multipart/mixed; boundary=q (";
	struct buf	*b;
	size_t		 have, i;
	bool		 ok = true;

	b = buf_new(0, OUT_MAX);
	ck_assert_int_eq(buf_append_str(b, start), 0);
	/* Unfolded length: everything but the CRLF of each fold. */
	have = sizeof(start) - 1;
	for (i = 0; have < len - 1; i++) {
		if (fold && i % 900 == 899)
			ok = ok && buf_append_str(b, "\r\n ") == 0;
		else
			ok = ok && buf_append_byte(b, 'c') == 0;
		have++;
	}
	ck_assert(ok);
	ck_assert_int_eq(buf_append_str(b, ")\r\n\r\n--q\r\n\r\n\xe9\r\n"
	    "--q--\r\n"), 0);
	return b;
}

START_TEST(test_mime8_limits)
{
	struct buf	*in, *out;
	const char	*error;

	/* Nesting: MIME8_MAX_DEPTH multiparts, then one more. */
	in = nested(MIME8_MAX_DEPTH);
	ck_assert_int_eq(run((const uint8_t *)in->data, in->len, 0, &out,
	    &error), RUN_CONVERTED);
	ck_assert_ptr_nonnull(strstr(buf_cstr(out), "--b99\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n=E9\r\n"
	    "--b99--\r\n"));
	buf_free(&out);
	buf_free(&in);
	in = nested(MIME8_MAX_DEPTH + 1);
	check_cannot((const uint8_t *)in->data, in->len, "too deeply");
	buf_free(&in);

	/* Content-Type field: MIME8_FIELD_MAX unfolded, then one more. */
	in = long_ctype(MIME8_FIELD_MAX, false);
	ck_assert_int_eq(run((const uint8_t *)in->data, in->len, 0, &out,
	    &error), RUN_CONVERTED);
	buf_free(&out);
	buf_free(&in);
	in = long_ctype(MIME8_FIELD_MAX + 1, false);
	check_cannot((const uint8_t *)in->data, in->len, "too long");
	buf_free(&in);
	in = long_ctype(MIME8_FIELD_MAX, true);
	ck_assert_int_eq(run((const uint8_t *)in->data, in->len, 0, &out,
	    &error), RUN_CONVERTED);
	buf_free(&out);
	buf_free(&in);
	in = long_ctype(MIME8_FIELD_MAX + 1, true);
	check_cannot((const uint8_t *)in->data, in->len, "too long");
	buf_free(&in);
}
END_TEST

START_TEST(test_mime8_long_lines)
{
	struct buf	*in, *want, *out;
	const char	*error;

	/* A field far longer than any limit passes through as it was. */
	in = buf_new(0, OUT_MAX);
	want = buf_new(0, OUT_MAX);
	ck_assert_int_eq(buf_append_str(in, "X-Long: "), 0);
	append_n(in, 'x', 3 * MIME8_FIELD_MAX);
	ck_assert_int_eq(buf_append_str(in, "\r\n \r\n\r\n\xe9\r\n"), 0);
	ck_assert_int_eq(buf_append(want, in->data, in->len - 5), 0);
	ck_assert_int_eq(buf_append_str(want, "MIME-Version: 1.0\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n=E9\r\n"),
	    0);
	check_convert((const uint8_t *)in->data, in->len, buf_cstr(want));
	buf_reset(in);

	/* A Content-Transfer-Encoding that long is not understood. */
	ck_assert_int_eq(buf_append_str(in,
	    "Content-Transfer-Encoding: 8bit ("), 0);
	append_n(in, 'x', MIME8_FIELD_MAX);
	ck_assert_int_eq(buf_append_str(in, ")\r\n\r\n\xe9\r\n"), 0);
	check_cannot((const uint8_t *)in->data, in->len, "unknown");
	buf_reset(in);

	/*
	 * Transport padding after a boundary; a boundary-like line longer
	 * than any boundary line is body text.
	 */
	ck_assert_int_eq(buf_append_str(in, "MIME-Version: 1.0\r\n"
	    "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b"), 0);
	append_n(in, ' ', 1000);
	ck_assert_int_eq(buf_append_str(in, "\r\n\r\n\xe9\r\n--b"), 0);
	append_n(in, ' ', 2 * MIME8_FIELD_MAX);
	ck_assert_int_eq(buf_append_str(in, "\r\n--b--\r\n"), 0);
	ck_assert_int_eq(run((const uint8_t *)in->data, in->len, 1, &out,
	    &error), RUN_CONVERTED);
	/* The long line was encoded: cut by soft breaks, "=20" last. */
	buf_reset(want);
	ck_assert_int_eq(buf_append_str(want, "Content-Transfer-Encoding: "
	    "quoted-printable\r\n\r\n=E9\r\n--b"), 0);
	append_n(want, ' ', 72);
	ck_assert_int_eq(buf_append_str(want, "=\r\n"), 0);
	ck_assert_ptr_nonnull(strstr(buf_cstr(out), buf_cstr(want)));
	ck_assert_ptr_nonnull(strstr(buf_cstr(out), "=20\r\n--b--\r\n"));
	buf_free(&out);
	buf_free(&in);
	buf_free(&want);
}
END_TEST

START_TEST(test_mime8_out_full)
{
	struct mime8	*m;
	struct buf	*out;
	const char	*error = NULL;

	m = mime8_new();
	ck_assert_int_eq(mime8_scan(m, S("Subject: t\r\n\r\n\xe9\r\n"),
	    &error), 0);
	ck_assert_int_eq(mime8_scan_end(m, &error), 1);
	out = buf_new(0, 20);
	ck_assert_int_eq(mime8_convert(m, S("Subject: t\r\n\r\n\xe9\r\n"),
	    out, &error), -1);
	ck_assert_str_eq(error, "output buffer full");
	/* It stays failed. */
	error = NULL;
	buf_reset(out);
	ck_assert_int_eq(mime8_convert(m, S("x"), out, &error), -1);
	ck_assert_str_eq(error, "output buffer full");
	error = NULL;
	ck_assert_int_eq(mime8_convert_end(m, out, &error), -1);
	ck_assert_str_eq(error, "output buffer full");
	mime8_free(&m);
	ck_assert_ptr_null(m);
	mime8_free(&m);
	buf_free(&out);
}
END_TEST

/* Pass 1 over a, pass 2 over b: 0 or -1 from convert or convert_end. */
static int
run_changed(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
    const char **error_r)
{
	struct mime8	*m;
	struct buf	*out;
	int		 ret;

	m = mime8_new();
	ck_assert_int_eq(mime8_scan(m, a, alen, error_r), 0);
	ck_assert_int_eq(mime8_scan_end(m, error_r), 1);
	out = buf_new(0, OUT_MAX);
	ret = mime8_convert(m, b, blen, out, error_r);
	if (ret == 0)
		ret = mime8_convert_end(m, out, error_r);
	mime8_free(&m);
	buf_free(&out);
	return ret;
}

START_TEST(test_mime8_changed)
{
	const char	*error;

	/* Same bytes: fine. */
	ck_assert_int_eq(run_changed(S("Subject: t\r\n\r\n\xe9\r\n"),
	    S("Subject: t\r\n\r\n\xe9\r\n"), &error), 0);
	/* One more byte, or one other 7-bit byte: noticed at the end. */
	ck_assert_int_eq(run_changed(S("Subject: t\r\n\r\n\xe9\r\n"),
	    S("Subject: t\r\n\r\n\xe9\r\nx"), &error), -1);
	ck_assert_str_eq(error, "message changed between the two passes");
	ck_assert_int_eq(run_changed(S("Subject: t\r\n\r\n\xe9\r\n"),
	    S("Subject: u\r\n\r\n\xe9\r\n"), &error), -1);
	ck_assert_str_eq(error, "message changed between the two passes");
	/* 8-bit where pass 1 saw none: noticed at once. */
	ck_assert_int_eq(run_changed(S("Subject: t\r\n\r\n\xe9\r\n"),
	    S("Subject: \xe9\r\n\r\n\xe9\r\n"), &error), -1);
	ck_assert_str_eq(error, "message changed between the two passes");
	ck_assert_int_eq(run_changed(
	    S("Content-Type: multipart/mixed; boundary=b\r\n\r\n"
	    "--b\r\n\r\nx\r\n--b\r\n\r\n\xe9\r\n--b--\r\n"),
	    S("Content-Type: multipart/mixed; boundary=b\r\n\r\n"
	    "--b\r\n\r\n\xe9\r\n--b\r\n\r\nx\r\n--b--\r\n"), &error), -1);
	ck_assert_str_eq(error, "message changed between the two passes");
	/* More parts than pass 1 saw. */
	ck_assert_int_eq(run_changed(
	    S("Content-Type: multipart/mixed; boundary=b\r\n\r\n"
	    "--b\r\n\r\n\xe9\r\n--b--\r\n"),
	    S("Content-Type: multipart/mixed; boundary=b\r\n\r\n"
	    "--b\r\n\r\n\xe9\r\n--b\r\n\r\nx\r\n--b--\r\n"), &error), -1);
	ck_assert_str_eq(error, "message changed between the two passes");
}
END_TEST


Suite *mime8_suite(void);

Suite *
mime8_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("mime8");
	tc = tcase_create("core");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_mime8_plain);
	tcase_add_test(tc, test_mime8_cte_rewrite);
	tcase_add_test(tc, test_mime8_multipart);
	tcase_add_test(tc, test_mime8_nested);
	tcase_add_test(tc, test_mime8_rfc822);
	tcase_add_test(tc, test_mime8_qp_rules);
	tcase_add_test(tc, test_mime8_soft_breaks);
	tcase_add_test(tc, test_mime8_roundtrip);
	tcase_add_test(tc, test_mime8_cannot);
	tcase_add_test(tc, test_mime8_7bit);
	tcase_add_test(tc, test_mime8_pieces);
	tcase_add_test(tc, test_mime8_big_line);
	tcase_add_test(tc, test_mime8_limits);
	tcase_add_test(tc, test_mime8_long_lines);
	tcase_add_test(tc, test_mime8_out_full);
	tcase_add_test(tc, test_mime8_changed);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr;
	int	 failed;

	sr = srunner_create(mime8_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
