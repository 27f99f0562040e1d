/* SPDX-License-Identifier: ISC */
/*
 * The decoders of the MIME module (mime.h): quoted-printable and base64
 * bodies (tolerant, for BINARY and SEARCH), charsets to UTF-8 (directly
 * for UTF-8, US-ASCII and Latin-1/Windows-1252, else through glibc's
 * iconv, with names from messages checked before they reach it), RFC 2047
 * encoded words in header text, simple Unicode case folding from a
 * built-in table (no locale), and the decoded, folded text that SEARCH
 * BODY and TEXT look in.  Every input is bytes from a message; every
 * decoder is total (bad input decodes to something, never fails) and
 * linear in its input.
 */
#include "config.h"

#include <errno.h>
#include <iconv.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "buf.h"
#include "imap_str.h"
#include "mime.h"
#include "mime_int.h"
#include "str.h"
#include "utf8.h"

#include "banned.h"

/* ---- transfer decodings ------------------------------------------------- */

/* Where decoded bytes go: a buffer, or only a count (out NULL). */
struct mime_sink {
	struct buf	*out;
	size_t		 count;
	bool		 full;
};

static void
mime_sink_put(struct mime_sink *s, const char *p, size_t n)
{
	if (n == 0 || s->full)
		return;
	s->count += n;
	if (s->out != NULL && buf_append(s->out, p, n) == -1)
		s->full = true;
}

static void
mime_qp_run(struct mime_sink *s, const char *data, size_t len)
{
	const char	*p = data, *end = data + len, *lf, *eol, *lnext;
	const char	*cend, *q, *eq;
	int		 hi, lo;
	char		 c;
	bool		 soft;

	while (p < end && !s->full) {
		lf = memchr(p, '\n', (size_t)(end - p));
		lnext = lf == NULL ? end : lf + 1;
		eol = lf == NULL ? end : lf;
		if (lf != NULL && eol > p && eol[-1] == '\r')
			eol--;
		/* RFC 2045 6.7 (3): white space at a line end is padding. */
		for (cend = eol; cend > p && mime_is_wsp(cend[-1]); cend--)
			;
		soft = false;
		for (q = p; q < cend;) {
			if ((eq = memchr(q, '=', (size_t)(cend - q))) == NULL) {
				mime_sink_put(s, q, (size_t)(cend - q));
				break;
			}
			mime_sink_put(s, q, (size_t)(eq - q));
			if (eq + 1 == cend) {
				soft = true;	/* "=" ends the line */
				break;
			}
			if (cend - eq >= 3 && (hi = mime_hexval(eq[1])) >= 0 &&
			    (lo = mime_hexval(eq[2])) >= 0) {
				c = (char)(hi << 4 | lo);
				mime_sink_put(s, &c, 1);
				q = eq + 3;
			} else {
				mime_sink_put(s, "=", 1);
				q = eq + 1;
			}
		}
		if (!soft)
			mime_sink_put(s, eol, (size_t)(lnext - eol));
		p = lnext;
	}
}

static const signed char mime_b64[256] = {
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 62, -1, -1, -1, 63,
	52, 53, 54, 55, 56, 57, 58, 59, 60, 61, -1, -1, -1, -1, -1, -1,
	-1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
	15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, -1, -1, -1, -1, -1,
	-1, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
	41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
};

/*
 * Decodes base64 (RFC 2045 6.8) leniently: bytes outside the alphabet are
 * skipped, and "=" ends a group early, so that base64 that was joined
 * from pieces each with its own padding still decodes.
 */
static void
mime_base64_run(struct mime_sink *s, const char *data, size_t len)
{
	char		 chunk[1024];
	size_t		 i, n = 0;
	uint32_t	 acc = 0;
	unsigned	 k = 0;
	int		 v;

	for (i = 0; i <= len; i++) {
		if (i < len && (v = mime_b64[(unsigned char)data[i]]) >= 0) {
			acc = acc << 6 | (uint32_t)v;
			if (++k < 4)
				continue;
			chunk[n++] = (char)(acc >> 16);
			chunk[n++] = (char)(acc >> 8);
			chunk[n++] = (char)acc;
		} else if (i < len && data[i] != '=')
			continue;
		else if (k == 2)		/* "=" or the end */
			chunk[n++] = (char)(acc >> 4);
		else if (k == 3) {
			chunk[n++] = (char)(acc >> 10);
			chunk[n++] = (char)(acc >> 2);
		}
		k = 0;
		acc = 0;
		if (n > sizeof(chunk) - 3) {
			mime_sink_put(s, chunk, n);
			n = 0;
		}
	}
	mime_sink_put(s, chunk, n);
}

int
mime_decode_qp(struct buf *out, const char *data, size_t len)
{
	struct mime_sink s = { out, 0, false };

	mime_qp_run(&s, data, len);
	return s.full ? -1 : 0;
}

int
mime_decode_base64(struct buf *out, const char *data, size_t len)
{
	struct mime_sink s = { out, 0, false };

	mime_base64_run(&s, data, len);
	return s.full ? -1 : 0;
}

static void
mime_cte_run(struct mime_sink *s, enum mime_cte cte, const char *data,
    size_t len)
{
	switch (cte) {
	case MIME_CTE_QP:
		mime_qp_run(s, data, len);
		break;
	case MIME_CTE_BASE64:
		mime_base64_run(s, data, len);
		break;
	default:
		mime_sink_put(s, data, len);
		break;
	}
}

int
mime_decode_cte(struct buf *out, enum mime_cte cte, const char *data,
    size_t len)
{
	struct mime_sink s = { out, 0, false };

	mime_cte_run(&s, cte, data, len);
	return s.full ? -1 : 0;
}

size_t
mime_decoded_size(enum mime_cte cte, const char *data, size_t len)
{
	struct mime_sink s = { NULL, 0, false };

	mime_cte_run(&s, cte, data, len);
	return s.count;
}

/* ---- charsets to UTF-8 -------------------------------------------------- */

#define MIME_UTF8_REPLACEMENT	"\xef\xbf\xbd"	/* U+FFFD */
#define MIME_CHARSET_MAX	64

enum mime_cs_kind {
	MIME_CS_UTF8,		/* UTF-8, US-ASCII, unknown */
	MIME_CS_CP1252,		/* ISO-8859-1 and Windows-1252 */
	MIME_CS_ICONV,
};

/* Valid UTF-8 kept, each byte of an invalid sequence U+FFFD. */
static int
mime_utf8_sanitize(struct buf *out, const char *p, size_t len)
{
	uint32_t	cp;
	size_t		i = 0, start = 0, n;

	while (i < len) {
		if ((unsigned char)p[i] < 0x80) {
			i++;
			continue;
		}
		if ((n = utf8_decode(p + i, len - i, &cp)) > 0) {
			i += n;
			continue;
		}
		if (buf_append(out, p + start, i - start) == -1 ||
		    buf_append(out, MIME_UTF8_REPLACEMENT, 3) == -1)
			return -1;
		start = ++i;
	}
	return buf_append(out, p + start, len - start);
}

/* Windows-1252 0x80-0x9f (the five holes map to the C1 controls). */
static const uint16_t mime_cp1252[32] = {
	0x20ac, 0x0081, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021,
	0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008d, 0x017d, 0x008f,
	0x0090, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014,
	0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0x009d, 0x017e, 0x0178,
};

static int
mime_cp1252_to_utf8(struct buf *out, const char *p, size_t len)
{
	char		chunk[512];
	size_t		i, n = 0;
	unsigned char	c;

	for (i = 0; i < len; i++) {
		c = (unsigned char)p[i];
		if (c < 0x80)
			chunk[n++] = (char)c;
		else
			n += utf8_encode(c < 0xa0 ? mime_cp1252[c - 0x80] : c,
			    chunk + n);
		if (n > sizeof(chunk) - 4) {
			if (buf_append(out, chunk, n) == -1)
				return -1;
			n = 0;
		}
	}
	return buf_append(out, chunk, n);
}

/*
 * How to convert charset; for MIME_CS_ICONV, name_r (MIME_CHARSET_MAX
 * bytes) gets the name to give iconv_open().  Only names made of
 * letters, digits and "-_.:+()" reach iconv, so no "//" option or
 * anything else can ride along on a name from a message.
 */
static enum mime_cs_kind
mime_charset_kind(const char *charset, char *name_r)
{
	static const char *const utf8[] = {
		"utf-8", "utf8", "us-ascii", "ascii", "ansi_x3.4-1968",
		"iso646-us", "us", "unknown-8bit", "x-unknown", "unknown",
	};
	static const char *const cp1252[] = {
		"iso-8859-1", "iso8859-1", "iso_8859-1", "latin1", "l1",
		"windows-1252", "cp1252", "x-cp1252", "cp819", "iso-ir-100",
	};
	/* Names mail uses that glibc lacks, or supersets that decode more. */
	static const struct {
		const char	*alias;
		const char	*name;
	} aliases[] = {
		{ "ks_c_5601-1987", "CP949" },
		{ "euc-kr", "CP949" },
		{ "gb2312", "GB18030" },
		{ "gbk", "GB18030" },
		{ "x-gbk", "GB18030" },
		{ "shift_jis", "CP932" },
		{ "x-sjis", "CP932" },
		{ "sjis", "CP932" },
		{ "windows-31j", "CP932" },
		{ "iso-8859-8-i", "ISO-8859-8" },
		{ "tis-620", "CP874" },
	};
	size_t	len, i;

	if (charset == NULL || (len = strlen(charset)) == 0)
		return MIME_CS_UTF8;
	for (i = 0; i < N_ELEMENTS(utf8); i++) {
		if (mime_eq_icase(charset, len, utf8[i]))
			return MIME_CS_UTF8;
	}
	for (i = 0; i < N_ELEMENTS(cp1252); i++) {
		if (mime_eq_icase(charset, len, cp1252[i]))
			return MIME_CS_CP1252;
	}
	for (i = 0; i < N_ELEMENTS(aliases); i++) {
		if (mime_eq_icase(charset, len, aliases[i].alias)) {
			if (str_copy(name_r, MIME_CHARSET_MAX,
			    aliases[i].name) == -1)
				return MIME_CS_UTF8;
			return MIME_CS_ICONV;
		}
	}
	if (len >= MIME_CHARSET_MAX)
		return MIME_CS_UTF8;
	for (i = 0; i < len; i++) {
		char c = charset[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		    c == '.' || c == ':' || c == '+' || c == '(' || c == ')'))
			return MIME_CS_UTF8;
		name_r[i] = c;
	}
	name_r[len] = '\0';
	return MIME_CS_ICONV;
}

static int
mime_iconv_run(struct buf *out, iconv_t cd, const char *data, size_t len)
{
	char	 obuf[4096], *in = (char *)data, *o;
	size_t	 inleft = len, oleft, r;
	int	 err;

	while (inleft > 0) {
		o = obuf;
		oleft = sizeof(obuf);
		r = iconv(cd, &in, &inleft, &o, &oleft);
		err = errno;
		if (buf_append(out, obuf, (size_t)(o - obuf)) == -1)
			return -1;
		if (r != (size_t)-1 || err == E2BIG)
			continue;
		/* EILSEQ, EINVAL (cut at the end) or worse: one byte lost. */
		if (buf_append(out, MIME_UTF8_REPLACEMENT, 3) == -1)
			return -1;
		if (err == EINVAL)
			break;
		in++;
		inleft--;
	}
	o = obuf;
	oleft = sizeof(obuf);
	(void)iconv(cd, NULL, NULL, &o, &oleft);	/* shift state back */
	return buf_append(out, obuf, (size_t)(o - obuf));
}

int
mime_to_utf8(struct buf *out, const char *data, size_t len,
    const char *charset)
{
	char	name[MIME_CHARSET_MAX];
	iconv_t	cd;
	int	ret;

	switch (mime_charset_kind(charset, name)) {
	case MIME_CS_CP1252:
		return mime_cp1252_to_utf8(out, data, len);
	case MIME_CS_ICONV:
		if ((cd = iconv_open("UTF-8", name)) == (iconv_t)-1)
			break;
		ret = mime_iconv_run(out, cd, data, len);
		iconv_close(cd);
		return ret;
	case MIME_CS_UTF8:
		break;
	}
	return mime_utf8_sanitize(out, data, len);
}

/* ---- RFC 2047 encoded words --------------------------------------------- */

/*
 * The next occurrence of a needle ("?=", CR, LF) at or after a position,
 * remembered across the candidate words of one value: the text of each
 * candidate starts after that of the one before, so a search is reused
 * until it is passed, and a value full of "=?" without "?=" (or full of
 * CRs) costs linear time, not quadratic.
 */
struct mime_ew_find {
	const char	*from;		/* NULL: not searched yet */
	const char	*found;		/* NULL: none from there to end */
};

struct mime_ew_scan {
	struct mime_ew_find	close;	/* "?=" */
	struct mime_ew_find	cr;
	struct mime_ew_find	lf;
};

static const char *
mime_ew_find(struct mime_ew_find *f, const char *p, const char *end,
    const char *needle, size_t nlen)
{
	if (f->from == NULL || f->from > p ||
	    (f->found != NULL && f->found < p)) {
		f->from = p;
		f->found = memmem(p, (size_t)(end - p), needle, nlen);
	}
	return f->found;
}

/*
 * If p[0..end) starts an encoded word "=?charset?E?text?=", sets its
 * parts and returns what follows it, else NULL.  The text may hold
 * spaces (some mailers write them) but no line end.
 */
static const char *
mime_encoded_word(struct mime_ew_scan *sc, const char *p, const char *end,
    const char **cs_r, size_t *cs_len_r, char *enc_r, const char **text_r,
    size_t *text_len_r)
{
	const char	*cs, *q, *text, *close, *eol;

	if (end - p < 8 || p[0] != '=' || p[1] != '?')
		return NULL;
	cs = p + 2;
	for (q = cs; q < end && *q != '?'; q++) {
		if (!mime_is_token_char((unsigned char)*q) && *q != '*')
			return NULL;
	}
	if (q == cs || end - q < 5 || q[2] != '?')
		return NULL;
	*enc_r = (char)mime_lc((unsigned char)q[1]);
	if (*enc_r != 'q' && *enc_r != 'b')
		return NULL;
	*cs_r = cs;
	*cs_len_r = (size_t)(q - cs);
	text = q + 3;
	if ((close = mime_ew_find(&sc->close, text, end, "?=", 2)) == NULL)
		return NULL;
	if (((eol = mime_ew_find(&sc->cr, text, end, "\r", 1)) != NULL &&
	    eol < close) ||
	    ((eol = mime_ew_find(&sc->lf, text, end, "\n", 1)) != NULL &&
	    eol < close))
		return NULL;
	*text_r = text;
	*text_len_r = (size_t)(close - text);
	return close + 2;
}

/* Q (RFC 2047 4.2): "_" is a space, "=XX" a byte. */
static int
mime_q_decode(struct buf *out, const char *p, size_t len)
{
	size_t	i;
	int	hi, lo;
	char	c;

	for (i = 0; i < len; i++) {
		c = p[i];
		if (c == '_')
			c = ' ';
		else if (c == '=' && i + 2 < len &&
		    (hi = mime_hexval(p[i + 1])) >= 0 &&
		    (lo = mime_hexval(p[i + 2])) >= 0) {
			c = (char)(hi << 4 | lo);
			i += 2;
		}
		if (buf_append_byte(out, (uint8_t)c) == -1)
			return -1;
	}
	return 0;
}

/* Plain header text: line ends dropped, invalid UTF-8 replaced. */
static int
mime_header_plain(struct buf *out, const char *p, size_t len)
{
	size_t	i, start;

	for (i = start = 0; i < len; i++) {
		if (p[i] != '\r' && p[i] != '\n')
			continue;
		if (mime_utf8_sanitize(out, p + start, i - start) == -1)
			return -1;
		start = i + 1;
	}
	return mime_utf8_sanitize(out, p + start, len - start);
}

static bool
mime_only_space(const char *p, size_t len)
{
	size_t	i;

	for (i = 0; i < len; i++) {
		if (!mime_is_wsp(p[i]) && p[i] != '\r' && p[i] != '\n')
			return false;
	}
	return true;
}

/* Converts the pending bytes of encoded words in one charset. */
static int
mime_ew_flush(struct buf *out, struct buf *pending, char *cs, bool *have)
{
	int	ret = 0;

	if (*have)
		ret = mime_to_utf8(out, pending->data, pending->len, cs);
	buf_reset(pending);
	*have = false;
	return ret;
}

int
mime_decode_header(struct buf *out, const char *value, size_t len)
{
	struct mime_ew_scan sc;
	struct buf	 pending;
	const char	*p, *end, *text_start, *q, *after, *cs, *text, *star;
	char		 pcs[MIME_CHARSET_MAX], enc;
	size_t		 cs_len, text_len, n;
	bool		 have = false;
	int		 ret = -1;

	memset(&sc, 0, sizeof(sc));
	mime_trim(&value, &len);
	buf_init(&pending, 0, len);
	p = text_start = value;
	end = value + len;
	while ((q = memmem(p, (size_t)(end - p), "=?", 2)) != NULL) {
		after = mime_encoded_word(&sc, q, end, &cs, &cs_len, &enc,
		    &text, &text_len);
		if (after == NULL) {
			p = q + 1;
			continue;
		}
		/* An RFC 2231 language: "=?charset*lang?...". */
		star = memchr(cs, '*', cs_len);
		n = star == NULL ? cs_len : (size_t)(star - cs);
		if (n >= sizeof(pcs))
			n = 0;		/* no charset is this long */
		/* RFC 2047 6.2: space between two encoded words goes. */
		if (!(have && mime_only_space(text_start,
		    (size_t)(q - text_start)))) {
			if (mime_ew_flush(out, &pending, pcs, &have) == -1 ||
			    mime_header_plain(out, text_start,
			    (size_t)(q - text_start)) == -1)
				goto done;
		}
		if (have && !mime_eq_icase_n(pcs, strlen(pcs), cs, n) &&
		    mime_ew_flush(out, &pending, pcs, &have) == -1)
			goto done;
		if (!have) {
			memcpy(pcs, cs, n);
			pcs[n] = '\0';
			have = true;
		}
		if ((enc == 'q' ? mime_q_decode(&pending, text, text_len) :
		    mime_decode_base64(&pending, text, text_len)) == -1)
			goto done;
		p = text_start = after;
	}
	if (mime_ew_flush(out, &pending, pcs, &have) == -1 ||
	    mime_header_plain(out, text_start,
	    (size_t)(end - text_start)) == -1)
		goto done;
	ret = 0;
done:
	buf_deinit(&pending);
	return ret;
}

/* ---- case folding ------------------------------------------------------- */

/* Even code points fold to the next odd one in [lo, hi]. */
static inline bool
mime_fold_pair_even(uint32_t c, uint32_t lo, uint32_t hi)
{
	return c >= lo && c <= hi && (c & 1) == 0;
}

static inline bool
mime_fold_pair_odd(uint32_t c, uint32_t lo, uint32_t hi)
{
	return c >= lo && c <= hi && (c & 1) == 1;
}

/*
 * Simple case folding (CaseFolding.txt status C and S) for the blocks
 * mime.h lists.  U+0000 becomes a space: mime_search_text() separates
 * its pieces with NUL.
 */
static uint32_t
mime_fold_cp(uint32_t c)
{
	if (c < 0x80) {
		if (c >= 'A' && c <= 'Z')
			return c + 0x20;
		return c == 0 ? ' ' : c;
	}
	if (c < 0x100) {			/* Latin-1 */
		if (c >= 0xc0 && c <= 0xde && c != 0xd7)
			return c + 0x20;
		return c == 0xb5 ? 0x3bc : c;
	}
	if (c < 0x180) {			/* Latin Extended-A */
		if (c == 0x130 || c == 0x131 || c == 0x138 || c == 0x149)
			return c;
		if (c == 0x178)
			return 0xff;
		if (c == 0x17f)
			return 's';
		if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17e))
			return (c & 1) == 1 ? c + 1 : c;
		return (c & 1) == 0 ? c + 1 : c;
	}
	if (c < 0x250) {			/* Latin Extended-B, in part */
		if (mime_fold_pair_odd(c, 0x1cd, 0x1dc) ||
		    mime_fold_pair_even(c, 0x1de, 0x1ef) ||
		    mime_fold_pair_even(c, 0x1f8, 0x21f) ||
		    mime_fold_pair_even(c, 0x222, 0x233) ||
		    mime_fold_pair_even(c, 0x246, 0x24f))
			return c + 1;
		return c;
	}
	if (c >= 0x345 && c < 0x400) {		/* Greek */
		if (c == 0x345)
			return 0x3b9;
		if (c == 0x386)
			return 0x3ac;
		if (c >= 0x388 && c <= 0x38a)
			return c + 37;
		if (c == 0x38c)
			return 0x3cc;
		if (c == 0x38e || c == 0x38f)
			return c + 63;
		if ((c >= 0x391 && c <= 0x3a1) || (c >= 0x3a3 && c <= 0x3ab))
			return c + 0x20;
		switch (c) {
		case 0x3c2: return 0x3c3;
		case 0x3d0: return 0x3b2;
		case 0x3d1: return 0x3b8;
		case 0x3d5: return 0x3c6;
		case 0x3d6: return 0x3c0;
		case 0x3f0: return 0x3ba;
		case 0x3f1: return 0x3c1;
		case 0x3f5: return 0x3b5;
		default: break;
		}
		if (mime_fold_pair_even(c, 0x3d8, 0x3ef))
			return c + 1;
		return c;
	}
	if (c >= 0x400 && c < 0x530) {		/* Cyrillic, Supplement */
		if (c < 0x410)
			return c + 0x50;
		if (c < 0x430)
			return c + 0x20;
		if (c == 0x4c0)
			return 0x4cf;
		if (mime_fold_pair_even(c, 0x460, 0x481) ||
		    mime_fold_pair_even(c, 0x48a, 0x4bf) ||
		    mime_fold_pair_odd(c, 0x4c1, 0x4ce) ||
		    mime_fold_pair_even(c, 0x4d0, 0x52f))
			return c + 1;
		return c;
	}
	if (c >= 0x531 && c <= 0x556)		/* Armenian */
		return c + 0x30;
	if (c >= 0x1e00 && c <= 0x1eff) {	/* Latin Extended Additional */
		if (c == 0x1e9b)
			return 0x1e61;
		if (c == 0x1e9e)
			return 0xdf;
		if (mime_fold_pair_even(c, 0x1e00, 0x1e95) ||
		    mime_fold_pair_even(c, 0x1ea0, 0x1eff))
			return c + 1;
		return c;
	}
	if (c >= 0xff21 && c <= 0xff3a)		/* fullwidth A-Z */
		return c + 0x20;
	return c;
}

static const unsigned char mime_fold_ascii[128] = {
	' ', 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
	16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31,
	' ', '!', '"', '#', '$', '%', '&', '\'', '(', ')', '*', '+', ',', '-',
	'.', '/', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', ';',
	'<', '=', '>', '?', '@', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i',
	'j', 'k', 'l', 'm', 'n', 'o', 'p', 'q', 'r', 's', 't', 'u', 'v', 'w',
	'x', 'y', 'z', '[', '\\', ']', '^', '_', '`', 'a', 'b', 'c', 'd', 'e',
	'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', 'p', 'q', 'r', 's',
	't', 'u', 'v', 'w', 'x', 'y', 'z', '{', '|', '}', '~', 127,
};

int
mime_fold(struct buf *out, const char *utf8, size_t len)
{
	char		chunk[1024];
	uint32_t	cp;
	size_t		i = 0, n = 0, k;
	unsigned char	c;

	while (i < len) {
		c = (unsigned char)utf8[i];
		if (c < 0x80) {
			chunk[n++] = (char)mime_fold_ascii[c];
			i++;
		} else if ((k = utf8_decode(utf8 + i, len - i, &cp)) == 0) {
			memcpy(chunk + n, MIME_UTF8_REPLACEMENT, 3);
			n += 3;
			i++;
		} else {
			n += utf8_encode(mime_fold_cp(cp), chunk + n);
			i += k;
		}
		if (n > sizeof(chunk) - 4) {
			if (buf_append(out, chunk, n) == -1)
				return -1;
			n = 0;
		}
	}
	return buf_append(out, chunk, n);
}

/* ---- the text SEARCH looks in ------------------------------------------- */

struct mime_search {
	struct buf	*out;
	const char	*msg;
	unsigned	 what;
	struct buf	 a;	/* scratch: decoded body, header value */
	struct buf	 b;	/* scratch: converted to UTF-8 */
};

/* A message's header: "name: value\n" per field, decoded and folded. */
static int
mime_search_header(struct mime_search *s, const struct mime_part *m)
{
	struct mime_header_iter	it;
	struct mime_field	f;

	mime_header_iter_init(&it, s->msg + m->hdr_off, m->hdr_len);
	while (mime_header_iter_next(&it, &f)) {
		buf_reset(&s->a);
		if (mime_decode_header(&s->a, f.value, f.value_len) == -1 ||
		    mime_fold(s->out, f.name, f.name_len) == -1 ||
		    buf_append(s->out, ": ", 2) == -1 ||
		    mime_fold(s->out, s->a.data, s->a.len) == -1 ||
		    buf_append_byte(s->out, '\n') == -1)
			return -1;
	}
	return buf_append_byte(s->out, '\0');
}

/* A text part's body: transfer-decoded, converted, folded. */
static int
mime_search_body(struct mime_search *s, const struct mime_part *p)
{
	const char	*data = s->msg + p->body_off, *charset;
	size_t		 len = p->body_len;
	char		 name[MIME_CHARSET_MAX];

	if (len == 0)
		return 0;
	if (p->cte == MIME_CTE_QP || p->cte == MIME_CTE_BASE64) {
		buf_reset(&s->a);
		if (mime_decode_cte(&s->a, p->cte, data, len) == -1)
			return -1;
		data = s->a.data;
		len = s->a.len;
	}
	charset = mime_part_charset(p);
	if (mime_charset_kind(charset, name) != MIME_CS_UTF8 ||
	    !utf8_valid(data, len)) {
		buf_reset(&s->b);
		if (mime_to_utf8(&s->b, data, len, charset) == -1)
			return -1;
		data = s->b.data;
		len = s->b.len;
	}
	if (mime_fold(s->out, data, len) == -1)
		return -1;
	return buf_append_byte(s->out, '\0');
}

static int
mime_search_walk(struct mime_search *s, const struct mime_part *p,
    bool message_root, bool top)
{
	unsigned	i;

	if (message_root && (s->what & (top ? MIME_SEARCH_HEADER :
	    MIME_SEARCH_BODY)) != 0 && mime_search_header(s, p) == -1)
		return -1;
	if ((s->what & MIME_SEARCH_BODY) == 0)
		return 0;
	if ((p->flags & MIME_PART_MULTIPART) != 0) {
		for (i = 0; i < p->nchildren; i++) {
			if (mime_search_walk(s, p->children[i], false,
			    false) == -1)
				return -1;
		}
	} else if ((p->flags & MIME_PART_MESSAGE) != 0) {
		if (p->message != NULL &&
		    mime_search_walk(s, p->message, true, false) == -1)
			return -1;
	} else if ((p->flags & MIME_PART_TEXT) != 0)
		return mime_search_body(s, p);
	return 0;
}

int
mime_search_text(struct buf *out, const struct mime_part *root,
    unsigned what)
{
	struct mime_search	s;
	const struct mime_part	*top = mime_part_top(root);
	int			ret;

	if (top->msg == NULL)
		return 0;
	s.out = out;
	s.msg = top->msg;
	s.what = what;
	buf_init(&s.a, 0, out->max);
	buf_init(&s.b, 0, out->max);
	ret = mime_search_walk(&s, root, true, true);
	buf_deinit(&s.a);
	buf_deinit(&s.b);
	return ret;
}
