/* SPDX-License-Identifier: ISC */
/* fuzz-sources: delivery-agent/maildir.c common/file.c common/buf.c common/log.c common/str.c common/error.c common/xmalloc.c */
/* fuzz-libs: */
/*
 * Fuzz target for the parsers of the delivery agent's maildir.c that
 * read bytes other programs wrote: the Maildir++ maildirsize parser
 * (maildir_size_parse(), which smtpd's RCPT-time quota check and every
 * delivery with a quota trust), the Delivered-To loop scan of a
 * message's header section (maildir_header_has_delivered_to()), the
 * streaming CRLF to LF conversion and the mailbox path check.  The first
 * byte picks one; the rest is its input.
 *
 * Beyond "no crash, no sanitizer report", each has an oracle:
 *   - maildirsize: what parses gives the same numbers when written back
 *     in the canonical form ("<quota>S\n<bytes> <count>\n"), and an
 *     appended "<n> 1" line adds n (when nothing overflows or clamps);
 *   - Delivered-To: the header with "Delivered-To: <user>" put in front
 *     always matches user (a plain address), and a header without any
 *     "delivered-to" text never does;
 *   - CRLF to LF: any split into pieces gives the output of one piece,
 *     which is the input with each CRLF turned into LF;
 *   - paths: a path accepted below "/var/mail" starts with "/var/mail/"
 *     and has no empty, "." or ".." component.
 */
#include "config.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xmalloc.h"
#include "delivery-agent/maildir.h"

#include "common/banned.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The largest value one maildirsize line carries (maildir.c). */
#define FUZZ_VALUE_MAX	((uint64_t)INT64_MAX / 4)
/* Inputs longer than this are cut: a maildirsize is at most 5 KiB. */
#define FUZZ_MAX	(64 * 1024)

static void
fuzz_maildirsize(const char *p, size_t len)
{
	char		 canon[128], *more;
	uint64_t	 q, b, c, q2, b2, c2;
	size_t		 n;
	int		 r;

	if (maildir_size_parse(p, len, &q, &b, &c) == -1)
		return;
	if (q > FUZZ_VALUE_MAX)
		abort();
	/*
	 * Sums past one line's maximum (exabytes) cannot be written back
	 * as one line; the delivery then recalculates, which is fine.
	 */
	if (b <= FUZZ_VALUE_MAX && c <= FUZZ_VALUE_MAX) {
		r = snprintf(canon, sizeof(canon), "%" PRIu64 "S\n%" PRIu64
		    " %" PRIu64 "\n", q, b, c);
		if (r < 0 || (size_t)r >= sizeof(canon))
			abort();
		if (maildir_size_parse(canon, (size_t)r, &q2, &b2, &c2) ==
		    -1 || q2 != q || b2 != b || c2 != c)
			abort();
	}

	/* An append of "7 1": +7 bytes, +1 message, from a non-negative sum. */
	more = xmalloc(len + 8);
	memcpy(more, p, len);
	memcpy(more + len, "7 1\n", 4);
	n = len + 4;
	r = maildir_size_parse(more, n, &q2, &b2, &c2);
	free(more);
	if (r == -1) {
		/* Only a sum that no longer fits in the signed range may fail. */
		if (b < FUZZ_VALUE_MAX && c < FUZZ_VALUE_MAX)
			abort();
		return;
	}
	if (q2 != q)
		abort();
	/*
	 * A sum that was negative (clamped to 0) may stay at 0; otherwise it
	 * grows by exactly what was appended.
	 */
	if ((b > 0 && b2 != b + 7) || (b == 0 && b2 > 7) ||
	    (c > 0 && c2 != c + 1) || (c == 0 && c2 > 1))
		abort();
}

/* A user the oracle can put into a header line as is. */
static bool
fuzz_plain_user(const char *u)
{
	const unsigned char *p;

	if (*u == '\0')
		return false;
	for (p = (const unsigned char *)u; *p != '\0'; p++)
		if (*p <= ' ' || *p == 0x7f || *p == '<' || *p == '>')
			return false;
	return true;
}

/* Whether [p, p + len) holds "delivered-to" in any case. */
static bool
fuzz_has_field_name(const char *p, size_t len)
{
	static const char name[] = "delivered-to";
	size_t	 i, j, n = sizeof(name) - 1;
	char	 ch;

	for (i = 0; i + n <= len; i++) {
		for (j = 0; j < n; j++) {
			ch = p[i + j];
			if (ch >= 'A' && ch <= 'Z')
				ch = (char)(ch - 'A' + 'a');
			if (ch != name[j])
				break;
		}
		if (j == n)
			return true;
	}
	return false;
}

static void
fuzz_delivered_to(const char *p, size_t len)
{
	const char	*nul;
	char		*user, *hdr;
	size_t		 ulen, hlen, plen;
	bool		 found;

	/* "user NUL header"; no NUL: an empty user. */
	if ((nul = memchr(p, '\0', len)) == NULL)
		nul = p;
	ulen = (size_t)(nul - p);
	user = xmalloc(ulen + 1);
	memcpy(user, p, ulen);
	user[ulen] = '\0';
	hlen = len - ulen - (nul < p + len && *nul == '\0' ? 1 : 0);
	hdr = xmalloc(hlen + 1);
	memcpy(hdr, p + len - hlen, hlen);
	hdr[hlen] = '\0';

	found = maildir_header_has_delivered_to(hdr, hlen, user);
	if (found && !fuzz_has_field_name(hdr, hlen))
		abort();
	free(hdr);

	if (fuzz_plain_user(user)) {
		/* The X- line takes any continuation the rest starts with. */
		hdr = xasprintf("Delivered-To: %s\r\nX-Fuzz: y\r\n", user);
		plen = strlen(hdr);
		hdr = xreallocarray(hdr, plen + hlen + 1, 1);
		memcpy(hdr + plen, p + len - hlen, hlen);
		hdr[plen + hlen] = '\0';
		if (!maildir_header_has_delivered_to(hdr, plen + hlen, user))
			abort();
		free(hdr);
	}
	free(user);
}

static void
fuzz_lf(const uint8_t *p, size_t len)
{
	struct maildir_lf st = { false };
	uint8_t		*one, *pieces, *ref;
	size_t		 n1 = 0, n2 = 0, nr = 0, i, step, take;

	one = xmalloc(len + 1);
	pieces = xmalloc(len + 1);
	ref = xmalloc(len + 1);
	n1 = maildir_lf_convert(&st, p, len, one);
	n1 += maildir_lf_finish(&st, one + n1);
	/* Pieces of 1, 2, 3 ... bytes, driven by the input itself. */
	st.cr = false;
	step = len > 0 ? (size_t)(p[0] % 7) + 1 : 1;
	for (i = 0; i < len; i += take) {
		take = len - i < step ? len - i : step;
		n2 += maildir_lf_convert(&st, p + i, take, pieces + n2);
		step = step % 7 + 1;
	}
	n2 += maildir_lf_finish(&st, pieces + n2);
	for (i = 0; i < len; i++) {
		if (p[i] == '\r' && i + 1 < len && p[i + 1] == '\n')
			continue;
		ref[nr++] = p[i];
	}
	if (n1 != nr || n2 != nr || memcmp(one, ref, nr) != 0 ||
	    memcmp(pieces, ref, nr) != 0)
		abort();
	free(one);
	free(pieces);
	free(ref);
}

static void
fuzz_path(const char *p, size_t len)
{
	static const char root[] = "/var/mail/";
	const char	*error, *c, *slash;
	char		*path;
	size_t		 n;

	if (memchr(p, '\0', len) != NULL)
		return;
	path = xmalloc(len + 1);
	memcpy(path, p, len);
	path[len] = '\0';
	if (maildir_path_check("/var/mail", path, &error) == 0 ||
	    maildir_path_check("/var/mail/", path, &error) == 0) {
		if (strncmp(path, root, sizeof(root) - 1) != 0)
			abort();
		for (c = path + sizeof(root) - 1;; c = slash + 1) {
			slash = strchr(c, '/');
			n = slash != NULL ? (size_t)(slash - c) : strlen(c);
			if (n == 0 || (n == 1 && c[0] == '.') ||
			    (n == 2 && c[0] == '.' && c[1] == '.'))
				abort();
			if (slash == NULL)
				break;
		}
	} else if (error == NULL || *error == '\0')
		abort();
	free(path);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char	*p;
	size_t		 len;

	if (size == 0)
		return 0;
	p = (const char *)data + 1;
	len = size - 1 > FUZZ_MAX ? FUZZ_MAX : size - 1;
	switch (data[0] % 4) {
	case 0:
		fuzz_maildirsize(p, len);
		break;
	case 1:
		fuzz_delivered_to(p, len);
		break;
	case 2:
		fuzz_lf((const uint8_t *)p, len);
		break;
	default:
		fuzz_path(p, len);
		break;
	}
	return 0;
}
