/* SPDX-License-Identifier: ISC */
/* fuzz-sources: transfer-agent/smtp_reply.c common/buf.c common/str.c common/error.c common/xmalloc.c common/log.c */
/* fuzz-libs: */
/*
 * libFuzzer target for the SMTP reply parser of the transfer agent
 * (transfer-agent/smtp_reply.c).  The input is what a remote server
 * sends: it is split into lines at LF (a CR before the LF is dropped, as
 * the agent's line reader does) and fed to one struct smtp_reply.  On a
 * complete reply the summary is made into a small and a large buffer and
 * the EHLO keywords are read; after a complete reply or an error the
 * reply is reset and the next line starts a new one.  Invariants checked:
 * results are 1, 0 or -1, and -1 comes with a text; a complete reply has
 * a code in 200..599 and at most SMTP_REPLY_LINES_MAX lines; an enhanced
 * code starts with the code's class digit; lines holds one '\n' per line
 * at least; summaries are NUL-terminated within their size, printable
 * ASCII only, start with the code, and the small one is a prefix of the
 * large one; EHLO data is only set for a 250 reply.
 */
#include "config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "transfer-agent/smtp_reply.h"

#include "common/banned.h"

#define FUZZ_SUMMARY_SMALL	12
#define FUZZ_SUMMARY_LARGE	2048

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_check_summary(const struct smtp_reply *r, char *dst, size_t size)
{
	size_t	len, i;

	memset(dst, 'Z', size);
	if (smtp_reply_summary(r, dst, size) != dst)
		abort();
	if ((len = strnlen(dst, size)) == size)
		abort();
	for (i = 0; i < len; i++)
		if ((unsigned char)dst[i] < 0x20 ||
		    (unsigned char)dst[i] > 0x7e)
			abort();
	if (len < 3 && len != size - 1)
		abort();
	if (len >= 3 && (unsigned int)((dst[0] - '0') * 100 +
	    (dst[1] - '0') * 10 + (dst[2] - '0')) != r->code)
		abort();
}

static void
fuzz_check_done(const struct smtp_reply *r)
{
	char		 small[FUZZ_SUMMARY_SMALL], large[FUZZ_SUMMARY_LARGE];
	struct smtp_ehlo e;
	size_t		 i, nl = 0;

	if (!r->done || r->code < 200 || r->code > 599 || r->nlines == 0 ||
	    r->nlines > SMTP_REPLY_LINES_MAX)
		abort();
	if (r->dsn[0] != '\0' && (unsigned int)(r->dsn[0] - '0') !=
	    r->code / 100)
		abort();
	if (strnlen(r->dsn, sizeof(r->dsn)) == sizeof(r->dsn))
		abort();
	for (i = 0; i < r->lines.len; i++)
		if (r->lines.data[i] == '\n')
			nl++;
	if (nl < r->nlines || r->lines.data[r->lines.len] != '\0' ||
	    r->lines.data[r->lines.len - 1] != '\n')
		abort();

	fuzz_check_summary(r, small, sizeof(small));
	fuzz_check_summary(r, large, sizeof(large));
	if (strncmp(small, large, strlen(small)) != 0)
		abort();

	smtp_ehlo_parse(r, &e);
	if (r->code != 250 && (e.starttls || e.auth || e.size ||
	    e.size_max != 0 || e.pipelining || e.eightbitmime))
		abort();
	if ((e.auth_plain || e.auth_login) && !e.auth)
		abort();
	if (e.size_max != 0 && !e.size)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtp_reply r;
	const char	*line, *lf, *error;
	size_t		 off = 0, len;
	int		 ret;

	smtp_reply_init(&r);
	while (off < size) {
		line = (const char *)data + off;
		lf = memchr(line, '\n', size - off);
		len = lf == NULL ? size - off : (size_t)(lf - line);
		off += len + (lf != NULL);
		if (lf != NULL && len > 0 && line[len - 1] == '\r')
			len--;
		error = NULL;
		ret = smtp_reply_line(&r, line, len, &error);
		switch (ret) {
		case 1:
			fuzz_check_done(&r);
			/* One more line must be refused. */
			if (smtp_reply_line(&r, "250 x", 5, &error) != -1 ||
			    error == NULL)
				abort();
			smtp_reply_reset(&r);
			break;
		case 0:
			if (r.done || r.nlines == 0 ||
			    r.nlines > SMTP_REPLY_LINES_MAX)
				abort();
			break;
		case -1:
			if (error == NULL)
				abort();
			smtp_reply_reset(&r);
			break;
		default:
			abort();
		}
	}
	smtp_reply_deinit(&r);
	return 0;
}
