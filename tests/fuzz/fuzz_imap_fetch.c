/* SPDX-License-Identifier: ISC */
/*
 * libFuzzer target for FETCH rendering (imapd/imap_fetch.c with
 * imapd/imap_msg.c).  The input is one options byte, then the FETCH
 * attributes up to the first LF (parsed as "a FETCH 1 <atts>" with
 * imap_parse_command() and imap_parse_fetch()), then the message the
 * fake loader returns.  The options byte picks UTF-8 / IMAP4rev2 /
 * \Recent / add_flags, the flags, whether the message is gone and a
 * small output maximum.  The response is rendered twice on the same
 * struct imap_msg (the second time from what it kept), and it is
 * checked that a success ends in ")\r\n" and starts with "* 1 FETCH (",
 * that a failure leaves the output as it was and gives a reason, and
 * that both renderings are identical.
 */
/* fuzz-sources: imapd/imap_fetch.c imapd/imap_msg.c imapd/imap_parse.c imapd/imap_parse_args.c common/mime.c common/mime_imap.c common/mime_decode.c common/imap_str.c common/buf.c common/str.c common/xmalloc.c common/error.c common/log.c common/utf8.c */
/* fuzz-libs: */
#include "config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/mime.h"

#include "imapd/imap_fetch.h"
#include "imapd/imap_msg.h"
#include "imapd/imap_parse.h"

#include "common/banned.h"

#define FUZZ_OUT_MAX	(4 * 1024 * 1024)
#define FUZZ_OUT_SMALL	300

struct fuzz_msg {
	const char	*data;
	size_t		 len;
	bool		 gone;
};

static int
fuzz_load(void *ctx, uint32_t uid, struct buf *out, const char **error_r)
{
	struct fuzz_msg	*fm = ctx;

	(void)uid;
	if (fm->gone)
		return 0;
	if (buf_append(out, fm->data, fm->len) == -1) {
		*error_r = "too large";
		return -1;
	}
	return 1;
}

static void
fuzz_render(struct buf *out, const struct imap_fetch *fetch,
    struct imap_msg *m, const struct imap_fetch_opts *o)
{
	enum imap_fetch_error	 kind;
	const char		*error = NULL;
	size_t			 start;

	buf_reset(out);
	if (buf_append(out, "x", 1) == -1)
		abort();
	start = out->len;
	if (imap_fetch_msg(out, fetch, m, o, &kind, &error) == -1) {
		if (error == NULL || kind == IMAP_FETCH_E_NONE ||
		    out->len != start)
			abort();
		return;
	}
	if (out->len < start + 14 ||
	    memcmp(out->data + start, "* 1 FETCH (", 11) != 0 ||
	    memcmp(out->data + out->len - 3, ")\r\n", 3) != 0)
		abort();
}

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const kw[] = { "$Junk", "Work" };
	const char		*p = (const char *)data, *lf, *error;
	struct imap_msg_source	 src;
	struct imap_fetch_opts	 o;
	struct imap_limits	 lim;
	struct imap_cmd		 cmd;
	struct imap_fetch	 fetch;
	struct imap_msg		 m;
	struct fuzz_msg		 fm;
	struct buf		 line, out1, out2;
	uint8_t			 opt;

	if (size < 1)
		return 0;
	opt = data[0];
	p++;
	size--;
	if ((lf = memchr(p, '\n', size)) == NULL)
		return 0;
	imap_limits_init(&lim);
	imap_parse_cmd_init(&cmd);
	buf_init(&line, 0, lim.max_line);
	if (buf_append(&line, "a FETCH 1 ", 10) == -1 ||
	    buf_append(&line, p, (size_t)(lf - p)) == -1 ||
	    buf_append(&line, "\r\n", 2) == -1 ||
	    imap_parse_command(line.data, line.len, &lim, &cmd, &error) ==
	    -1 || imap_parse_fetch(&cmd, &lim, &fetch, &error) == -1)
		goto done;

	fm.data = lf + 1;
	fm.len = size - (size_t)(lf + 1 - p);
	fm.gone = (opt & 0x10) != 0;
	memset(&src, 0, sizeof(src));
	src.load = fuzz_load;
	src.ctx = &fm;
	mime_limits_default(&src.mime);
	src.max_message = FUZZ_OUT_MAX;
	memset(&o, 0, sizeof(o));
	o.utf8 = (opt & 0x01) != 0;
	o.imap4rev2 = (opt & 0x02) != 0;
	o.show_recent = (opt & 0x04) != 0;
	o.add_flags = (opt & 0x08) != 0;
	imap_msg_init(&m);
	m.seq = 1;
	m.uid = 7;
	m.flags = (opt >> 5) * 9u & 0x3f;
	m.keywords = kw;
	m.nkeywords = (opt & 0x20) != 0 ? 2 : 0;
	m.size = fm.len;
	m.date = (time_t)fm.len * 1000;
	m.zone = (int)(opt % 29) * 60 - 14 * 60;
	m.src = &src;

	buf_init(&out1, 0, (opt & 0x80) != 0 ? FUZZ_OUT_SMALL : FUZZ_OUT_MAX);
	buf_init(&out2, 0, out1.max);
	fuzz_render(&out1, &fetch, &m, &o);
	fuzz_render(&out2, &fetch, &m, &o);
	if (out1.len != out2.len || memcmp(out1.data, out2.data,
	    out1.len) != 0)
		abort();
	(void)imap_fetch_sets_seen(&fetch);
	(void)imap_fetch_needs_content(&fetch);
	imap_msg_reset(&m);
	buf_deinit(&out1);
	buf_deinit(&out2);
done:
	buf_deinit(&line);
	imap_parse_cmd_deinit(&cmd);
	return 0;
}
