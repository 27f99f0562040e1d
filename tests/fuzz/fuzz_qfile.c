/* SPDX-License-Identifier: ISC */
/*
 * libFuzzer target for common/qfile.c: the input is a queue file for
 * qfile_parse_buffer().  Small limits let the fuzzer reach every bound.
 * On success it checks the invariants a queue manager relies on: the
 * message lies inside the input, the counts are within the limits, every
 * string is present where the format requires it and holds no control
 * byte, and every result has a valid status.
 */
/* fuzz-sources: common/qfile.c common/qfile_recycle.c common/buf.c common/error.c common/file.c common/log.c common/str.c common/xmalloc.c */
/* fuzz-libs: */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/qfile.h"

#include "common/banned.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_check_str(const char *s, bool may_be_null)
{
	const unsigned char	*p;

	if (s == NULL) {
		if (!may_be_null)
			abort();
		return;
	}
	for (p = (const unsigned char *)s; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f)
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct qfile_limits lim = {
		.max_message_size = 4096,
		.max_rcpts = 16,
		.max_results = 32
	};
	const struct qfile_result	*res;
	const struct qfile_rcpt		*r;
	const struct qfile_mail		*m;
	const struct qfile_client	*c;
	struct qfile			*q = NULL;
	const char			*err = NULL;
	uint64_t			 off, len;
	unsigned int			 i, n;
	bool				 final = true;

	if (qfile_parse_buffer(data, size, &lim, &q, &err) == -1) {
		if (q != NULL || err == NULL)
			abort();
		return 0;
	}
	qfile_message(q, &off, &len);
	if (off > size || len > size - off || len > lim.max_message_size)
		abort();
	m = qfile_mail(q);
	fuzz_check_str(m->sender, false);
	fuzz_check_str(m->envid, true);
	fuzz_check_str(m->auth, true);
	if (m->body > QFILE_BODY_BINARYMIME || m->ret > QFILE_RET_HDRS)
		abort();
	c = qfile_client(q);
	fuzz_check_str(c->addr, true);
	fuzz_check_str(c->name, true);
	fuzz_check_str(c->helo, true);
	fuzz_check_str(c->protocol, true);
	fuzz_check_str(c->sasl_user, true);
	n = qfile_rcpt_count(q);
	if (n == 0 || n > lim.max_rcpts)
		abort();
	for (i = 0; i < n; i++) {
		r = qfile_rcpt(q, i);
		fuzz_check_str(r->addr, false);
		if (r->addr[0] == '\0')
			abort();
		fuzz_check_str(r->orcpt, true);
		res = qfile_rcpt_result(q, i);
		if (res->status > QFILE_STATUS_FAILED)
			abort();
		if (res->status != QFILE_STATUS_PENDING) {
			fuzz_check_str(res->dsn, false);
			fuzz_check_str(res->text, false);
		}
		if (res->status != QFILE_STATUS_DELIVERED &&
		    res->status != QFILE_STATUS_FAILED)
			final = false;
	}
	if (final != qfile_all_final(q) || qfile_fd(q) != -1 ||
	    qfile_id(q) != NULL)
		abort();
	qfile_free(&q);
	return 0;
}
