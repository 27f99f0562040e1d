/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for common/dsn.c: originals are written with qfile_writer in
 * a temporary spool and opened with qfile_open; reports are built with
 * dsn_build and written with dsn_write, whose queue file is opened again.
 * Checked: the report's envelope (null sender, the right recipient,
 * NOTIFY=NEVER, BODY and SMTPUTF8), the MIME structure (boundary, three
 * parts, blank lines, no epilogue), the delivery-status fields per
 * recipient with and without ORCPT and ENVID, RET=HDRS, RET=FULL, no RET,
 * the size limit at the maximum and one over, delay and success reports,
 * boundary collisions (also across read pieces and in a diagnostic),
 * 8-bit and SMTPUTF8 originals, the null sender refused, a 1000-line
 * header section whole and cut, control bytes in diagnostics, the 998
 * byte line limit with huge texts, and every error path.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/stat.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "common/buf.h"
#include "common/dsn.h"
#include "common/qfile.h"
#include "common/str.h"
#include "common/xmalloc.h"

#include "common/banned.h"

#define QID		"0123456789ABCDEFGH"
#define BPFX		"=_postern_" QID "_"
#define OUT_MAX		(16u * 1024 * 1024)

static char	spool[64];
static char	incoming[96];

static const struct qfile_limits lim = {
	.max_message_size = 64 * 1024 * 1024,
	.max_rcpts = 1000,
	.max_results = 1000
};

static const char *const msg_small =
    "From: a@example.org\r\n"
    "To: x@example.net, y@example.net\r\n"
    "Subject: hello\r\n"
    "\r\n"
    "body line\r\n";
#define MSG_SMALL_HDRS	"From: a@example.org\r\n" \
			"To: x@example.net, y@example.net\r\n" \
			"Subject: hello\r\n"

static const struct dsn_rcpt rc2[] = {
	{ .addr = "x@example.net", .orcpt = "rfc822;X@Example.NET",
	  .status = "5.1.1",
	  .diag = "550 5.1.1 <x@example.net>: Recipient address rejected",
	  .remote_mta = "mx.example.net", .last_attempt = 1700000000 },
	{ .addr = "y@example.net", .status = "5.2.2",
	  .diag = "mailbox full" }
};

static struct dsn_params
params(void)
{
	struct dsn_params	p = {
		.hostname = "mx.example.com",
		.postmaster = "postmaster@example.com",
		.size_limit = 50000,
		.now = 1700000000		/* Tue, 14 Nov 2023 22:13:20 */
	};

	return p;
}

static void
setup(void)
{
	ck_assert_int_gt(snprintf(spool, sizeof(spool),
	    "/tmp/test_dsn.XXXXXX"), 0);
	ck_assert_ptr_nonnull(mkdtemp(spool));
	ck_assert_int_gt(snprintf(incoming, sizeof(incoming), "%s/%s", spool,
	    QFILE_DIR_INCOMING), 0);
	ck_assert_int_eq(mkdir(incoming, 0700), 0);
}

static void
teardown(void)
{
	char	cmd[128];

	ck_assert_int_gt(snprintf(cmd, sizeof(cmd), "rm -rf '%s'", spool), 0);
	ck_assert_int_eq(system(cmd), 0);
}

static int
dir_count(const char *dir)
{
	struct dirent	*de;
	DIR		*d;
	int		 n = 0;

	d = opendir(dir);
	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

/* ---- originals ---------------------------------------------------------- */

struct ospec {
	const char	*sender;
	const char	*envid;
	enum qfile_ret	 ret;
	enum qfile_body	 body;
	bool		 smtputf8;
	const char	*msg;
	size_t		 msg_len;	/* 0: strlen(msg) */
};

/* Writes and opens an original with recipients x@ (ORCPT) and y@. */
static struct qfile *
orig_open(const struct ospec *o)
{
	struct qfile_mail	 m = { .sender = o->sender, .envid = o->envid,
	    .ret = o->ret, .body = o->body, .smtputf8 = o->smtputf8 };
	struct qfile_client	 cl = { .addr = "192.0.2.1",
	    .helo = "client.example.org", .protocol = "ESMTP" };
	struct qfile_rcpt	 r1 = { .addr = "x@example.net",
	    .orcpt = "rfc822;X@Example.NET" };
	struct qfile_rcpt	 r2 = { .addr = "y@example.net" };
	struct qfile_writer	*w;
	struct qfile		*q;
	const char		*err;
	char			 id[QFILE_ID_SIZE], *path;
	size_t			 len = o->msg_len != 0 ? o->msg_len :
				    strlen(o->msg);

	w = qfile_writer_new(spool, &err);
	ck_assert_ptr_nonnull(w);
	ck_assert_int_eq(qfile_writer_mail(w, &m, &err), 0);
	ck_assert_int_eq(qfile_writer_client(w, &cl, &err), 0);
	ck_assert_int_eq(qfile_writer_add_rcpt(w, &r1, &err), 0);
	ck_assert_int_eq(qfile_writer_add_rcpt(w, &r2, &err), 0);
	ck_assert_int_eq(qfile_writer_begin_message(w, len, &err), 0);
	ck_assert_int_eq(qfile_writer_write(w, o->msg, len, &err), 0);
	ck_assert_int_eq(qfile_writer_commit(w, id, &err), 0);
	qfile_writer_abort(&w);
	path = xasprintf("%s/%s", incoming, id);
	if (qfile_open(path, &lim, &q, &err) == -1)
		ck_abort_msg("qfile_open: %s", err);
	free(path);
	return q;
}

static struct qfile *
orig_small(void)
{
	struct ospec	o = { .sender = "a@example.org", .msg = msg_small };

	return orig_open(&o);
}

/* ---- looking at reports -------------------------------------------------- */

struct part {
	const char	*hdr;		/* part header section */
	size_t		 hdr_len;
	const char	*body;
	size_t		 body_len;
};

struct report {
	const char	*top;		/* the top header section */
	size_t		 top_len;
	char		 boundary[128];
	struct part	 part[3];
};

/* A copy with folding undone (CRLF before a blank removed). */
static char *
unfold(const char *p, size_t len, size_t *len_r)
{
	char	*u = xmalloc(len + 1);
	size_t	 i, n = 0;

	for (i = 0; i < len; i++) {
		if (p[i] == '\r' && i + 2 < len && p[i + 1] == '\n' &&
		    (p[i + 2] == ' ' || p[i + 2] == '\t')) {
			i++;
			continue;
		}
		u[n++] = p[i];
	}
	u[n] = '\0';
	*len_r = n;
	return u;
}

/* The byte range [p, p+len), unfolded, holds s. */
static bool
has(const char *p, size_t len, const char *s)
{
	char	*u;
	size_t	 ul;
	bool	 r;

	u = unfold(p, len, &ul);
	r = memmem(u, ul, s, strlen(s)) != NULL;
	free(u);
	return r;
}

/* A whole unfolded line (at the start or after CRLF, then CRLF). */
static bool
has_line(const char *p0, size_t len0, const char *line)
{
	char		*p;
	const char	*h, *end;
	size_t		 l = strlen(line), len;
	bool		 r = false;

	p = unfold(p0, len0, &len);
	h = p;
	end = p + len;
	while ((h = memmem(h, (size_t)(end - h), line, l)) != NULL) {
		if ((h == p || h[-1] == '\n') && (size_t)(end - h) >= l + 2 &&
		    h[l] == '\r' && h[l + 1] == '\n') {
			r = true;
			break;
		}
		h++;
	}
	free(p);
	return r;
}

static size_t
count(const char *p, size_t len, const char *s)
{
	const char	*h = p, *end = p + len;
	size_t		 n = 0;

	while ((h = memmem(h, (size_t)(end - h), s, strlen(s))) != NULL) {
		n++;
		h++;
	}
	return n;
}

/* CRLF only, every line at most 998 bytes; returns the longest. */
static size_t
check_lines(const char *p, size_t len)
{
	size_t	i, start = 0, longest = 0;

	for (i = 0; i < len; i++) {
		if (p[i] == '\r') {
			ck_assert_msg(i + 1 < len && p[i + 1] == '\n',
			    "bare CR at %zu", i);
			if (i - start > longest)
				longest = i - start;
			ck_assert_msg(i - start <= 998, "line of %zu at %zu",
			    i - start, start);
			i++;
			start = i + 1;
		} else
			ck_assert_msg(p[i] != '\n', "bare LF at %zu", i);
	}
	ck_assert_msg(start == len, "no CRLF at the end");
	return longest;
}

static void
split_part(const char *p, size_t len, struct part *pt)
{
	const char	*e;

	if (len >= 2 && p[0] == '\r' && p[1] == '\n')
		e = p;			/* no headers */
	else {
		e = memmem(p, len, "\r\n\r\n", 4);
		ck_assert_ptr_nonnull(e);
		e += 2;
	}
	pt->hdr = p;
	pt->hdr_len = (size_t)(e - p);
	pt->body = e + 2;
	pt->body_len = len - pt->hdr_len - 2;
}

/* Splits a report into its top headers and exactly three parts. */
static void
parse_report(const struct buf *b, struct report *r)
{
	const char	*p = b->data, *end = b->data + b->len, *h, *q, *body;
	char		 delim[140];
	size_t		 dl, i;

	check_lines(b->data, b->len);
	h = memmem(p, b->len, "\r\n\r\n", 4);
	ck_assert_ptr_nonnull(h);
	r->top = p;
	r->top_len = (size_t)(h - p) + 2;
	body = h + 4;
	q = memmem(p, r->top_len, "boundary=\"", 10);
	ck_assert_ptr_nonnull(q);
	q += 10;
	for (i = 0; q[i] != '"'; i++) {
		ck_assert_uint_lt(i, sizeof(r->boundary) - 1);
		r->boundary[i] = q[i];
	}
	r->boundary[i] = '\0';
	ck_assert_uint_le(i, 70);		/* RFC 2046 */
	dl = (size_t)snprintf(delim, sizeof(delim), "\r\n--%s", r->boundary);
	/* The preamble, then the first delimiter. */
	q = memmem(body - 2, (size_t)(end - body + 2), delim, dl);
	ck_assert_ptr_nonnull(q);
	for (i = 0; i < 3; i++) {
		ck_assert_msg(q[dl] == '\r' && q[dl + 1] == '\n',
		    "delimiter %zu not followed by CRLF", i);
		p = q + dl + 2;
		q = memmem(p, (size_t)(end - p), delim, dl);
		ck_assert_ptr_nonnull(q);
		split_part(p, (size_t)(q - p), &r->part[i]);
	}
	/* The close delimiter ends the report. */
	ck_assert_uint_eq((size_t)(end - q), dl + 4);
	ck_assert(memcmp(q + dl, "--\r\n", 4) == 0);
}

static struct buf *
build(const struct qfile *q, enum dsn_kind kind, const struct dsn_rcpt *rc,
    unsigned int n, const struct dsn_params *p)
{
	struct buf	*b = buf_new(4096, OUT_MAX);
	const char	*err = NULL;

	if (dsn_build(q, kind, rc, n, p, QID, b, &err) == -1)
		ck_abort_msg("dsn_build: %s", err);
	return b;
}

/* The delivery-status block of recipient i (0 = per-message). */
static void
ds_block(const struct part *pt, unsigned int i, const char **p_r,
    size_t *len_r)
{
	const char	*p = pt->body, *end = pt->body + pt->body_len, *e;

	for (;;) {
		e = memmem(p, (size_t)(end - p), "\r\n\r\n", 4);
		if (i == 0) {
			*p_r = p;
			*len_r = (e == NULL ? end : e + 2) - p;
			return;
		}
		ck_assert_ptr_nonnull(e);
		p = e + 4;
		i--;
	}
}

/* ---- tests ---------------------------------------------------------------- */

START_TEST(test_failure_full)
{
	struct dsn_params	 p = params();
	struct qfile		*q;
	struct buf		*b;
	struct report		 r;
	const char		*s;
	size_t			 l;

	q = orig_small();
	b = build(q, DSN_FAILURE, rc2, 2, &p);
	parse_report(b, &r);
	/* Top headers. */
	ck_assert(has_line(r.top, r.top_len,
	    "Date: Tue, 14 Nov 2023 22:13:20 +0000"));
	ck_assert(has_line(r.top, r.top_len,
	    "From: Mail Delivery System <MAILER-DAEMON@mx.example.com>"));
	ck_assert(has_line(r.top, r.top_len, "To: <a@example.org>"));
	ck_assert(has_line(r.top, r.top_len,
	    "Subject: Undelivered Mail Returned to Sender"));
	ck_assert(has_line(r.top, r.top_len,
	    "Message-ID: <20231114221320." QID "@mx.example.com>"));
	ck_assert(has_line(r.top, r.top_len, "Auto-Submitted: auto-replied"));
	ck_assert(has_line(r.top, r.top_len, "MIME-Version: 1.0"));
	ck_assert(has(r.top, r.top_len, "Content-Type: multipart/report; "
	    "report-type=delivery-status;"));
	ck_assert(!has(r.top, r.top_len, "Content-Transfer-Encoding"));
	ck_assert_str_eq(r.boundary, BPFX "1=");
	/* Part 1. */
	ck_assert(has_line(r.part[0].hdr, r.part[0].hdr_len,
	    "Content-Type: text/plain; charset=us-ascii"));
	ck_assert(has_line(r.part[0].body, r.part[0].body_len,
	    "This is the mail system at host mx.example.com."));
	ck_assert(has_line(r.part[0].body, r.part[0].body_len,
	    "<x@example.net>: host mx.example.net said: 550 5.1.1 "
	    "<x@example.net>: Recipient address rejected"));
	ck_assert(has_line(r.part[0].body, r.part[0].body_len,
	    "<y@example.net>: mailbox full"));
	ck_assert(has(r.part[0].body, r.part[0].body_len,
	    "<postmaster@example.com>"));
	ck_assert(has_line(r.part[0].body, r.part[0].body_len,
	    "A copy of the message is attached."));
	/* Part 2: per message, then one block per recipient. */
	ck_assert(has_line(r.part[1].hdr, r.part[1].hdr_len,
	    "Content-Type: message/delivery-status"));
	ds_block(&r.part[1], 0, &s, &l);
	ck_assert(has_line(s, l, "Reporting-MTA: dns; mx.example.com"));
	{
		char	*qline = xasprintf("X-Postern-Queue-ID: %s",
			    qfile_id(q));

		ck_assert(has_line(s, l, qline));
		free(qline);
	}
	ck_assert(!has(s, l, "Original-Envelope-Id"));
	ck_assert(has(s, l, "Arrival-Date: "));
	ck_assert(!has(s, l, "Final-Recipient"));
	ds_block(&r.part[1], 1, &s, &l);
	ck_assert(has_line(s, l, "Original-Recipient: rfc822; X@Example.NET"));
	ck_assert(has_line(s, l, "Final-Recipient: rfc822; x@example.net"));
	ck_assert(has_line(s, l, "Action: failed"));
	ck_assert(has_line(s, l, "Status: 5.1.1"));
	ck_assert(has_line(s, l, "Remote-MTA: dns; mx.example.net"));
	ck_assert(has_line(s, l, "Diagnostic-Code: smtp; 550 5.1.1 "
	    "<x@example.net>: Recipient address rejected"));
	ck_assert(has_line(s, l,
	    "Last-Attempt-Date: Tue, 14 Nov 2023 22:13:20 +0000"));
	ck_assert(!has(s, l, "Will-Retry-Until"));
	ds_block(&r.part[1], 2, &s, &l);
	ck_assert(!has(s, l, "Original-Recipient"));
	ck_assert(has_line(s, l, "Final-Recipient: rfc822; y@example.net"));
	ck_assert(has_line(s, l, "Action: failed"));
	ck_assert(has_line(s, l, "Status: 5.2.2"));
	ck_assert(!has(s, l, "Remote-MTA"));
	ck_assert(has_line(s, l, "Diagnostic-Code: x-postern; mailbox full"));
	ck_assert(!has(s, l, "Last-Attempt-Date"));
	/* Part 3: the whole original, byte for byte. */
	ck_assert(has_line(r.part[2].hdr, r.part[2].hdr_len,
	    "Content-Type: message/rfc822"));
	ck_assert(!has(r.part[2].hdr, r.part[2].hdr_len,
	    "Content-Transfer-Encoding"));
	ck_assert_uint_eq(r.part[2].body_len, strlen(msg_small));
	ck_assert(memcmp(r.part[2].body, msg_small, strlen(msg_small)) == 0);
	buf_free(&b);
	qfile_free(&q);
}
END_TEST

START_TEST(test_write_roundtrip)
{
	struct dsn_params	 p = params();
	const struct qfile_client *cl;
	const struct qfile_rcpt	*qr;
	struct qfile		*q, *d;
	struct buf		*b;
	const char		*err;
	char			 id[QFILE_ID_SIZE], *path, *data;
	uint64_t		 off, len;

	q = orig_small();
	ck_assert_int_eq(dsn_write(spool, q, DSN_FAILURE, rc2, 2, &p, id,
	    &err), 0);
	ck_assert(qfile_id_valid(id));
	ck_assert_int_eq(dir_count(incoming), 2);
	path = xasprintf("%s/%s", incoming, id);
	if (qfile_open(path, &lim, &d, &err) == -1)
		ck_abort_msg("open report: %s", err);
	ck_assert_str_eq(qfile_mail(d)->sender, "");
	ck_assert_int_eq(qfile_mail(d)->body, QFILE_BODY_NONE);
	ck_assert(!qfile_mail(d)->smtputf8);
	ck_assert_int_eq(qfile_mail(d)->ret, QFILE_RET_NONE);
	ck_assert_ptr_null(qfile_mail(d)->envid);
	ck_assert_uint_eq(qfile_rcpt_count(d), 1);
	qr = qfile_rcpt(d, 0);
	ck_assert_str_eq(qr->addr, "a@example.org");
	ck_assert_uint_eq(qr->notify, QFILE_NOTIFY_NEVER);
	ck_assert_ptr_null(qr->orcpt);
	cl = qfile_client(d);
	ck_assert_str_eq(cl->protocol, "local");
	ck_assert_str_eq(cl->helo, "mx.example.com");
	ck_assert_ptr_null(cl->addr);
	/* The message is what dsn_build makes with the report's ID. */
	qfile_message(d, &off, &len);
	data = xmalloc(len);
	ck_assert_int_eq(pread(qfile_fd(d), data, len, (off_t)off),
	    (ssize_t)len);
	b = buf_new(4096, OUT_MAX);
	ck_assert_int_eq(dsn_build(q, DSN_FAILURE, rc2, 2, &p, id, b, &err),
	    0);
	ck_assert_uint_eq(b->len, len);
	ck_assert(memcmp(b->data, data, len) == 0);
	ck_assert(has(data, len, "=_postern_"));
	ck_assert(has(data, len, id));
	free(data);
	free(path);
	buf_free(&b);
	qfile_free(&d);

	/* p->to overrides the sender. */
	p.to = "bounces@example.org";
	ck_assert_int_eq(dsn_write(spool, q, DSN_FAILURE, rc2, 1, &p, id,
	    &err), 0);
	path = xasprintf("%s/%s", incoming, id);
	ck_assert_int_eq(qfile_open(path, &lim, &d, &err), 0);
	ck_assert_str_eq(qfile_rcpt(d, 0)->addr, "bounces@example.org");
	ck_assert_uint_eq(qfile_rcpt(d, 0)->notify, QFILE_NOTIFY_NEVER);
	qfile_message(d, &off, &len);
	data = xmalloc(len);
	ck_assert_int_eq(pread(qfile_fd(d), data, len, (off_t)off),
	    (ssize_t)len);
	ck_assert(has_line(data, len, "To: <bounces@example.org>"));
	free(data);
	free(path);
	qfile_free(&d);
	qfile_free(&q);
	ck_assert_int_eq(dir_count(incoming), 3);
}
END_TEST

START_TEST(test_envid_orcpt)
{
	struct ospec		 o = { .sender = "a@example.org",
	    .envid = "env+id=1 x", .msg = msg_small };
	struct dsn_rcpt		 rc[3] = {
		{ .addr = "x@example.net", .orcpt = "rfc822;  X@Example.NET",
		  .status = "5.0.0", .diag = "" },
		{ .addr = "y@example.net", .orcpt = "bogus-no-semicolon",
		  .status = "4.4.7", .diag = NULL },
		{ .addr = "z@example.net", .orcpt = "utf-8;z@example.net",
		  .status = "5.999.999", .diag = "x", .remote_mta = "" }
	};
	struct dsn_params	 p = params();
	struct qfile		*q;
	struct buf		*b;
	struct report		 r;
	const char		*s;
	size_t			 l;

	q = orig_open(&o);
	b = build(q, DSN_FAILURE, rc, 3, &p);
	parse_report(b, &r);
	ds_block(&r.part[1], 0, &s, &l);
	/* xtext: '+', '=' and space encoded. */
	ck_assert(has_line(s, l, "Original-Envelope-Id: env+2Bid+3D1+20x"));
	/* RFC 3464 order: the envelope ID before Reporting-MTA. */
	ck_assert((const char *)memmem(s, l, "Original-Envelope-Id", 20) <
	    (const char *)memmem(s, l, "Reporting-MTA", 13));
	ds_block(&r.part[1], 1, &s, &l);
	ck_assert(has_line(s, l, "Original-Recipient: rfc822; X@Example.NET"));
	ck_assert(!has(s, l, "Diagnostic-Code"));
	ck_assert(has_line(s, l, "Status: 5.0.0"));
	ds_block(&r.part[1], 2, &s, &l);
	ck_assert(!has(s, l, "Original-Recipient"));
	ck_assert(has_line(s, l, "Status: 4.4.7"));
	ck_assert(has_line(s, l, "Action: failed"));
	ds_block(&r.part[1], 3, &s, &l);
	ck_assert(has_line(s, l, "Original-Recipient: utf-8; z@example.net"));
	ck_assert(!has(s, l, "Remote-MTA"));
	ck_assert(has_line(s, l, "Diagnostic-Code: smtp; x"));
	/* No diagnostic: the text says what happened. */
	ck_assert(has_line(r.part[0].body, r.part[0].body_len,
	    "<x@example.net>: delivery failed (status 5.0.0)"));
	ck_assert(has_line(r.part[0].body, r.part[0].body_len,
	    "<y@example.net>: delivery failed (status 4.4.7)"));
	buf_free(&b);
	qfile_free(&q);
}
END_TEST

START_TEST(test_ret_hdrs)
{
	struct ospec		 o = { .sender = "a@example.org",
	    .ret = QFILE_RET_HDRS, .msg = msg_small };
	struct dsn_params	 p = params();
	struct qfile		*q;
	struct buf		*b;
	struct report		 r;

	q = orig_open(&o);
	b = build(q, DSN_FAILURE, rc2, 2, &p);
	parse_report(b, &r);
	ck_assert(has_line(r.part[2].hdr, r.part[2].hdr_len,
	    "Content-Type: text/rfc822-headers"));
	ck_assert_uint_eq(r.part[2].body_len, strlen(MSG_SMALL_HDRS));
	ck_assert(memcmp(r.part[2].body, MSG_SMALL_HDRS,
	    r.part[2].body_len) == 0);
	ck_assert(has(r.part[0].body, r.part[0].body_len, "RET=HDRS"));
	ck_assert(!has(b->data, b->len, "body line"));
	buf_free(&b);
	qfile_free(&q);

	/* RET=FULL quotes the whole message. */
	o.ret = QFILE_RET_FULL;
	q = orig_open(&o);
	b = build(q, DSN_FAILURE, rc2, 2, &p);
	parse_report(b, &r);
	ck_assert(has_line(r.part[2].hdr, r.part[2].hdr_len,
	    "Content-Type: message/rfc822"));
	ck_assert_uint_eq(r.part[2].body_len, strlen(msg_small));
	buf_free(&b);
	qfile_free(&q);
}
END_TEST

START_TEST(test_size_limit)
{
	struct ospec		 o = { .sender = "a@example.org",
	    .msg = msg_small };
	struct dsn_params	 p = params();
	struct qfile		*q;
	struct buf		*b;
	struct report		 r;

	q = orig_open(&o);
	/* At the limit: whole. */
	p.size_limit = strlen(msg_small);
	b = build(q, DSN_FAILURE, rc2, 2, &p);
	parse_report(b, &r);
	ck_assert(has_line(r.part[2].hdr, r.part[2].hdr_len,
	    "Content-Type: message/rfc822"));
	ck_assert_uint_eq(r.part[2].body_len, strlen(msg_small));
	buf_free(&b);
	/* One over: the header section, and the text says why. */
	p.size_limit = strlen(msg_small) - 1;
	b = build(q, DSN_FAILURE, rc2, 2, &p);
	parse_report(b, &r);
	ck_assert(has_line(r.part[2].hdr, r.part[2].hdr_len,
	    "Content-Type: text/rfc822-headers"));
	ck_assert_uint_eq(r.part[2].body_len, strlen(MSG_SMALL_HDRS));
	ck_assert(memcmp(r.part[2].body, MSG_SMALL_HDRS,
	    r.part[2].body_len) == 0);
	ck_assert(has(r.part[0].body, r.part[0].body_len,
	    "larger than the limit"));
	ck_assert(!has(r.part[0].body, r.part[0].body_len, "cut short"));
	buf_free(&b);
	/* The header section itself over the limit: cut at a line end. */
	p.size_limit = strlen("From: a@example.org\r\n") + 5;
	b = build(q, DSN_FAILURE, rc2, 2, &p);
	parse_report(b, &r);
	ck_assert_uint_eq(r.part[2].body_len, 21);
	ck_assert(memcmp(r.part[2].body, "From: a@example.org\r\n", 21) == 0);
	ck_assert(has(r.part[0].body, r.part[0].body_len,
	    "cut short after 21 bytes"));
	buf_free(&b);
	/* Header section exactly at the limit: not cut. */
	p.size_limit = strlen(MSG_SMALL_HDRS);
	b = build(q, DSN_FAILURE, rc2, 2, &p);
	parse_report(b, &r);
	ck_assert_uint_eq(r.part[2].body_len, strlen(MSG_SMALL_HDRS));
	ck_assert(!has(r.part[0].body, r.part[0].body_len, "cut short"));
	buf_free(&b);
	p.size_limit = strlen(MSG_SMALL_HDRS) - 1;
	b = build(q, DSN_FAILURE, rc2, 2, &p);
	parse_report(b, &r);
	ck_assert_uint_eq(r.part[2].body_len,
	    strlen(MSG_SMALL_HDRS) - strlen("Subject: hello\r\n"));
	ck_assert(has(r.part[0].body, r.part[0].body_len, "cut short"));
	buf_free(&b);
	qfile_free(&q);
}
END_TEST

/* A message much larger than one read piece, quoted whole and cut. */
START_TEST(test_large_streamed)
{
	struct ospec		 o = { .sender = "a@example.org" };
	struct dsn_params	 p = params();
	struct qfile		*q;
	struct buf		*b, *m;
	struct report		 r;
	unsigned int		 i;

	m = buf_new(1 << 20, 1 << 22);
	ck_assert_int_eq(buf_append_str(m, "Subject: big\r\n\r\n"), 0);
	for (i = 0; m->len < 300000; i++)
		ck_assert_int_eq(buf_printf(m, "line %u of a big body\r\n",
		    i), 0);
	o.msg = m->data;
	o.msg_len = m->len;
	q = orig_open(&o);
	p.size_limit = m->len;
	b = build(q, DSN_FAILURE, rc2, 2, &p);
	parse_report(b, &r);
	ck_assert_uint_eq(r.part[2].body_len, m->len);
	ck_assert(memcmp(r.part[2].body, m->data, m->len) == 0);
	buf_free(&b);
	p.size_limit = 1024;
	b = build(q, DSN_FAILURE, rc2, 2, &p);
	parse_report(b, &r);
	ck_assert_uint_eq(r.part[2].body_len, strlen("Subject: big\r\n"));
	ck_assert_uint_lt(b->len, 8192);
	buf_free(&b);
	/* dsn_write streams it into the new queue file. */
	{
		const char	*err;
		char		 id[QFILE_ID_SIZE];

		p.size_limit = m->len;
		ck_assert_int_eq(dsn_write(spool, q, DSN_FAILURE, rc2, 2, &p,
		    id, &err), 0);
	}
	buf_free(&m);
	qfile_free(&q);
}
END_TEST

START_TEST(test_delay_success)
{
	struct dsn_rcpt		 rc[2] = {
		{ .addr = "x@example.net", .status = "4.2.2",
		  .diag = "mailbox full", .last_attempt = 1700000000,
		  .will_retry_until = 1700400000 },
		{ .addr = "y@example.net", .status = "4.4.1",
		  .diag = "connection timed out", .remote_mta =
		  "mx.example.net", .will_retry_until = 1700300000 }
	};
	struct dsn_rcpt		 ok = { .addr = "x@example.net",
	    .status = "2.0.0", .diag = "delivered to mailbox" };
	struct dsn_params	 p = params();
	struct qfile		*q;
	struct buf		*b;
	struct report		 r;
	const char		*s;
	size_t			 l;

	q = orig_small();
	b = build(q, DSN_DELAY, rc, 2, &p);
	parse_report(b, &r);
	ck_assert(has_line(r.top, r.top_len,
	    "Subject: Delayed Mail (still being retried)"));
	ck_assert(has(r.part[0].body, r.part[0].body_len,
	    "only a warning"));
	/* The latest give-up time is named (1700400000). */
	ck_assert(has(r.part[0].body, r.part[0].body_len,
	    "Sun, 19 Nov 2023 13:20:00 +0000"));
	ds_block(&r.part[1], 1, &s, &l);
	ck_assert(has_line(s, l, "Action: delayed"));
	ck_assert(has_line(s, l,
	    "Will-Retry-Until: Sun, 19 Nov 2023 13:20:00 +0000"));
	ds_block(&r.part[1], 2, &s, &l);
	ck_assert(has_line(s, l,
	    "Will-Retry-Until: Sat, 18 Nov 2023 09:33:20 +0000"));
	ck_assert(has_line(s, l,
	    "Diagnostic-Code: smtp; connection timed out"));
	/* Headers only, even without RET. */
	ck_assert(has_line(r.part[2].hdr, r.part[2].hdr_len,
	    "Content-Type: text/rfc822-headers"));
	ck_assert_uint_eq(r.part[2].body_len, strlen(MSG_SMALL_HDRS));
	buf_free(&b);
	/* No give-up time known. */
	rc[0].will_retry_until = rc[1].will_retry_until = 0;
	b = build(q, DSN_DELAY, rc, 2, &p);
	parse_report(b, &r);
	ck_assert(!has(b->data, b->len, "Will-Retry-Until"));
	ck_assert(has(r.part[0].body, r.part[0].body_len, "for a while"));
	buf_free(&b);

	b = build(q, DSN_SUCCESS, &ok, 1, &p);
	parse_report(b, &r);
	ck_assert(has_line(r.top, r.top_len,
	    "Subject: Successful Mail Delivery Report"));
	ds_block(&r.part[1], 1, &s, &l);
	ck_assert(has_line(s, l, "Action: delivered"));
	ck_assert(has_line(s, l, "Status: 2.0.0"));
	ck_assert(!has(s, l, "Will-Retry-Until"));
	ck_assert(has_line(r.part[2].hdr, r.part[2].hdr_len,
	    "Content-Type: text/rfc822-headers"));
	buf_free(&b);
	qfile_free(&q);
}
END_TEST

/* Filler text in lines of 64 bytes. */
static void
fill(struct buf *m)
{
	uint8_t	c = m->len % 64 == 62 ? '\r' : m->len % 64 == 63 ? '\n' : 'f';

	ck_assert_int_eq(buf_append_byte(m, c), 0);
}

static void
fill_end(struct buf *m)
{
	if (m->data[m->len - 1] == '\r')
		ck_assert_int_eq(buf_append_byte(m, '\n'), 0);
}

START_TEST(test_boundary_collision)
{
	struct ospec		 o = { .sender = "a@example.org" };
	struct dsn_params	 p = params();
	struct dsn_rcpt		 rc = rc2[1];
	struct qfile		*q;
	struct buf		*b, *m;
	struct report		 r;

	/* The first candidates in the body, one with a long digit run. */
	o.msg = "Subject: x\r\n\r\n--" BPFX "1=\r\n" BPFX "2=" BPFX "7x"
	    BPFX "12345678901234567890=\r\n" BPFX "3=\r\n";
	q = orig_open(&o);
	b = build(q, DSN_FAILURE, &rc, 1, &p);
	parse_report(b, &r);
	ck_assert_str_eq(r.boundary, BPFX "4=");
	ck_assert_uint_eq(r.part[2].body_len, strlen(o.msg));
	buf_free(&b);
	qfile_free(&q);

	/* A diagnostic can hold one too. */
	o.msg = msg_small;
	q = orig_open(&o);
	rc.diag = "550 " BPFX "41= spoof";
	b = build(q, DSN_FAILURE, &rc, 1, &p);
	parse_report(b, &r);
	ck_assert_str_eq(r.boundary, BPFX "42=");
	buf_free(&b);
	qfile_free(&q);

	/* Across the boundary between two read pieces (64 KiB). */
	m = buf_new(1 << 17, 1 << 18);
	ck_assert_int_eq(buf_append_str(m, "Subject: x\r\n\r\n"), 0);
	while (m->len < 65536 - 10)
		fill(m);
	fill_end(m);
	ck_assert_int_eq(buf_append_str(m, BPFX "500=\r\n"), 0);
	while (m->len < 65536 * 2 - 20)
		fill(m);
	fill_end(m);
	ck_assert_int_eq(buf_append_str(m, BPFX "123=\r\n"), 0);
	o.msg = m->data;
	o.msg_len = m->len;
	q = orig_open(&o);
	p.size_limit = m->len;
	rc.diag = "x";
	b = build(q, DSN_FAILURE, &rc, 1, &p);
	parse_report(b, &r);
	ck_assert_str_eq(r.boundary, BPFX "501=");
	ck_assert_uint_eq(r.part[2].body_len, m->len);
	buf_free(&b);
	/* Only what is quoted counts: headers only, no collision. */
	p.size_limit = 1024;
	b = build(q, DSN_FAILURE, &rc, 1, &p);
	parse_report(b, &r);
	ck_assert_str_eq(r.boundary, BPFX "1=");
	buf_free(&b);
	/* The counter cannot grow past 18 digits. */
	qfile_free(&q);
	buf_free(&m);
	o.msg = "Subject: x\r\n\r\n" BPFX "1000000000000000000=\r\n";
	o.msg_len = 0;
	q = orig_open(&o);
	{
		const char	*err = NULL;

		b = buf_new(4096, OUT_MAX);
		ck_assert_int_eq(dsn_build(q, DSN_FAILURE, &rc, 1, &p, QID, b,
		    &err), -1);
		ck_assert_str_eq(err, "cannot choose a MIME boundary");
		buf_free(&b);
	}
	qfile_free(&q);
}
END_TEST

START_TEST(test_8bit)
{
	static const char msg8[] = "Subject: caf\xc3\xa9\r\n\r\n"
	    "na\xc3\xafve body\r\n";
	struct ospec		 o = { .sender = "a@example.org",
	    .body = QFILE_BODY_8BITMIME, .msg = msg8 };
	struct dsn_params	 p = params();
	struct qfile		*q, *d;
	struct buf		*b;
	struct report		 r;
	const char		*err;
	char			 id[QFILE_ID_SIZE], *path;

	q = orig_open(&o);
	b = build(q, DSN_FAILURE, rc2, 2, &p);
	parse_report(b, &r);
	ck_assert(has_line(r.top, r.top_len,
	    "Content-Transfer-Encoding: 8bit"));
	ck_assert(has_line(r.part[2].hdr, r.part[2].hdr_len,
	    "Content-Transfer-Encoding: 8bit"));
	ck_assert(!has(r.part[0].hdr, r.part[0].hdr_len,
	    "Content-Transfer-Encoding"));
	ck_assert(has_line(r.part[0].hdr, r.part[0].hdr_len,
	    "Content-Type: text/plain; charset=us-ascii"));
	ck_assert_uint_eq(r.part[2].body_len, strlen(msg8));
	buf_free(&b);
	ck_assert_int_eq(dsn_write(spool, q, DSN_FAILURE, rc2, 2, &p, id,
	    &err), 0);
	path = xasprintf("%s/%s", incoming, id);
	ck_assert_int_eq(qfile_open(path, &lim, &d, &err), 0);
	ck_assert_int_eq(qfile_mail(d)->body, QFILE_BODY_8BITMIME);
	ck_assert(!qfile_mail(d)->smtputf8);
	free(path);
	qfile_free(&d);
	qfile_free(&q);

	/* 8-bit only in the body; headers only quoted: 7bit. */
	o.ret = QFILE_RET_HDRS;
	o.msg = "Subject: x\r\n\r\nna\xc3\xafve\r\n";
	q = orig_open(&o);
	b = build(q, DSN_FAILURE, rc2, 2, &p);
	ck_assert(!has(b->data, b->len, "Content-Transfer-Encoding"));
	buf_free(&b);
	qfile_free(&q);

	/* SMTPUTF8 with a UTF-8 address: the report is SMTPUTF8 too. */
	o.ret = QFILE_RET_NONE;
	o.sender = "j\xc3\xb6rg@example.org";
	o.smtputf8 = true;
	o.msg = msg8;
	q = orig_open(&o);
	ck_assert_int_eq(dsn_write(spool, q, DSN_FAILURE, rc2, 2, &p, id,
	    &err), 0);
	path = xasprintf("%s/%s", incoming, id);
	ck_assert_int_eq(qfile_open(path, &lim, &d, &err), 0);
	ck_assert_int_eq(qfile_mail(d)->body, QFILE_BODY_8BITMIME);
	ck_assert(qfile_mail(d)->smtputf8);
	ck_assert_str_eq(qfile_rcpt(d, 0)->addr, "j\xc3\xb6rg@example.org");
	free(path);
	qfile_free(&d);
	/* An 8-bit recipient address makes the text parts 8bit. */
	{
		struct dsn_rcpt	rc = { .addr = "\xc3\xa9@example.net",
		    .status = "5.1.1", .diag = "unknown" };

		b = build(q, DSN_FAILURE, &rc, 1, &p);
		parse_report(b, &r);
		ck_assert(has_line(r.part[0].hdr, r.part[0].hdr_len,
		    "Content-Type: text/plain; charset=utf-8"));
		ck_assert(has_line(r.part[1].hdr, r.part[1].hdr_len,
		    "Content-Transfer-Encoding: 8bit"));
		buf_free(&b);
	}
	qfile_free(&q);

	/* BINARYMIME: never quoted whole. */
	o.smtputf8 = false;
	o.sender = "a@example.org";
	o.body = QFILE_BODY_BINARYMIME;
	o.msg = msg_small;
	q = orig_open(&o);
	b = build(q, DSN_FAILURE, rc2, 2, &p);
	parse_report(b, &r);
	ck_assert(has_line(r.part[2].hdr, r.part[2].hdr_len,
	    "Content-Type: text/rfc822-headers"));
	ck_assert(has(r.part[0].body, r.part[0].body_len, "BINARYMIME"));
	buf_free(&b);
	qfile_free(&q);
}
END_TEST

START_TEST(test_null_sender)
{
	struct ospec		 o = { .sender = "", .msg = msg_small };
	struct dsn_params	 p = params();
	struct qfile		*q;
	struct buf		*b;
	const char		*err = NULL;
	char			 id[QFILE_ID_SIZE];

	q = orig_open(&o);
	ck_assert_int_eq(dsn_write(spool, q, DSN_FAILURE, rc2, 2, &p, id,
	    &err), -1);
	ck_assert_str_eq(err, "no bounce to the null sender");
	ck_assert_int_eq(dir_count(incoming), 1);
	b = buf_new(4096, OUT_MAX);
	err = NULL;
	ck_assert_int_eq(dsn_build(q, DSN_FAILURE, rc2, 2, &p, QID, b, &err),
	    -1);
	ck_assert_str_eq(err, "no bounce to the null sender");
	buf_free(&b);
	/* To the postmaster instead: allowed. */
	p.to = "postmaster@example.com";
	ck_assert_int_eq(dsn_write(spool, q, DSN_FAILURE, rc2, 2, &p, id,
	    &err), 0);
	ck_assert_int_eq(dir_count(incoming), 2);
	qfile_free(&q);
}
END_TEST

START_TEST(test_long_header)
{
	struct ospec		 o = { .sender = "a@example.org" };
	struct dsn_params	 p = params();
	struct qfile		*q;
	struct buf		*b, *m;
	struct report		 r;
	size_t			 hlen;
	unsigned int		 i;

	m = buf_new(1 << 16, 1 << 20);
	for (i = 0; i < 1000; i++)
		ck_assert_int_eq(buf_printf(m, "X-Header-%04u: value %u\r\n",
		    i, i), 0);
	hlen = m->len;
	ck_assert_int_eq(buf_append_str(m, "\r\nthe body\r\n"), 0);
	o.msg = m->data;
	o.msg_len = m->len;
	q = orig_open(&o);
	/* Delay report, limit above the header section: all 1000 lines. */
	p.size_limit = 1 << 20;
	b = build(q, DSN_DELAY, rc2, 2, &p);
	parse_report(b, &r);
	ck_assert_uint_eq(r.part[2].body_len, hlen);
	ck_assert(memcmp(r.part[2].body, m->data, hlen) == 0);
	ck_assert_uint_eq(count(r.part[2].body, r.part[2].body_len,
	    "X-Header-"), 1000);
	buf_free(&b);
	/* Failure, too big: cut at a line end within the limit. */
	p.size_limit = 1000;
	b = build(q, DSN_FAILURE, rc2, 2, &p);
	parse_report(b, &r);
	ck_assert_uint_le(r.part[2].body_len, 1000);
	ck_assert_uint_gt(r.part[2].body_len, 900);
	ck_assert(memcmp(r.part[2].body + r.part[2].body_len - 2, "\r\n",
	    2) == 0);
	ck_assert(memcmp(r.part[2].body, m->data, r.part[2].body_len) == 0);
	ck_assert(has(r.part[0].body, r.part[0].body_len, "cut short"));
	buf_free(&b);
	buf_free(&m);
	qfile_free(&q);

	/* A message without an empty line is all header. */
	o.msg = "Subject: no body\r\nX: y\r\n";
	o.msg_len = 0;
	q = orig_open(&o);
	b = build(q, DSN_SUCCESS, rc2, 1, &p);
	parse_report(b, &r);
	ck_assert_uint_eq(r.part[2].body_len, strlen(o.msg));
	buf_free(&b);
	qfile_free(&q);
	/* A message that starts with the empty line has no header. */
	o.msg = "\r\nbody only\r\n";
	q = orig_open(&o);
	b = build(q, DSN_SUCCESS, rc2, 1, &p);
	parse_report(b, &r);
	ck_assert_uint_eq(r.part[2].body_len, 0);
	buf_free(&b);
	qfile_free(&q);
}
END_TEST

START_TEST(test_diag_sanitized)
{
	struct dsn_rcpt		 rc = { .addr = "x@example.net",
	    .status = "5.7.1", .remote_mta = "mx\r\nX-Evil: 1",
	    .diag = "550 bad\x01\x1b[31m\r\nInjected: yes\r\n\r\n--x\x80\xff"
	    "\t  end  " };
	struct dsn_params	 p = params();
	struct qfile		*q;
	struct buf		*b;
	struct report		 r;
	size_t			 i;

	q = orig_small();
	b = build(q, DSN_FAILURE, &rc, 1, &p);
	parse_report(b, &r);
	ck_assert(!has_line(b->data, b->len, "Injected: yes"));
	ck_assert(!has(b->data, b->len, "\r\nInjected"));
	ck_assert(!has(b->data, b->len, "\r\nX-Evil"));
	ck_assert(has_line(b->data, b->len, "Diagnostic-Code: smtp; 550 "
	    "bad??[31m Injected: yes --x?? end"));
	ck_assert(has_line(b->data, b->len, "Remote-MTA: dns; mx X-Evil: 1"));
	/* Nothing outside printable ASCII in what we wrote. */
	for (i = 0; i < b->len; i++)
		ck_assert_msg(b->data[i] == '\r' || b->data[i] == '\n' ||
		    b->data[i] == '\t' ||
		    (b->data[i] >= 0x20 && b->data[i] < 0x7f),
		    "byte 0x%02x at %zu", (unsigned char)b->data[i], i);
	buf_free(&b);
	qfile_free(&q);
}
END_TEST

START_TEST(test_lines_998)
{
	struct dsn_rcpt		 rc[2];
	struct dsn_params	 p = params();
	struct qfile		*q;
	struct buf		*b;
	struct report		 r;
	char			*nospace, *spaced, *addr;
	size_t			 i, longest;

	nospace = xmalloc(5001);
	memset(nospace, 'd', 5000);
	nospace[5000] = '\0';
	spaced = xmalloc(3001);
	for (i = 0; i < 3000; i++)
		spaced[i] = i % 7 == 6 ? ' ' : 'w';
	spaced[3000] = '\0';
	addr = xmalloc(1025);
	memset(addr, 'l', 1024);
	addr[1012] = '@';
	addr[1024] = '\0';
	memset(rc, 0, sizeof(rc));
	rc[0].addr = addr;
	rc[0].orcpt = "rfc822;a@b";
	rc[0].status = "5.0.0";
	rc[0].diag = nospace;
	rc[0].remote_mta = nospace;
	rc[1].addr = "y@example.net";
	rc[1].status = "5.0.0";
	rc[1].diag = spaced;
	q = orig_small();
	p.to = addr;
	b = build(q, DSN_FAILURE, rc, 2, &p);
	parse_report(b, &r);
	longest = check_lines(b->data, b->len);
	ck_assert_uint_eq(longest, 998);
	/* The address cannot go on one header line. */
	ck_assert(has_line(r.top, r.top_len, "To: undisclosed-recipients:;"));
	/* Diagnostics are cut with "...". */
	ck_assert(has(b->data, b->len, "ddd..."));
	/* Folded at blanks where there are blanks: short lines. */
	ck_assert(has(r.part[1].body, r.part[1].body_len,
	    "Diagnostic-Code: x-postern; wwwwww wwwwww"));
	buf_free(&b);
	/* The longest address that fits a To: line. */
	addr[992] = '\0';
	b = build(q, DSN_FAILURE, rc, 2, &p);
	parse_report(b, &r);
	ck_assert(has(r.top, r.top_len, "To: <llll"));
	buf_free(&b);
	addr[992] = 'l';
	addr[993] = '\0';
	b = build(q, DSN_FAILURE, rc, 2, &p);
	parse_report(b, &r);
	ck_assert(has_line(r.top, r.top_len, "To: undisclosed-recipients:;"));
	buf_free(&b);
	free(nospace);
	free(spaced);
	free(addr);
	qfile_free(&q);
}
END_TEST

START_TEST(test_errors)
{
	struct dsn_rcpt		 rc = rc2[1];
	struct dsn_params	 p = params();
	struct qfile		*q, *mq;
	struct buf		*b;
	const char		*err, *bad_status[] = { "6.0.0", "5.0", "5..1",
	    "5.1234.1", "5.1.1 ", "x", "", "5.1.1.1", "55.1.1", NULL };
	char			 id[QFILE_ID_SIZE], *path, *data;
	size_t			 len, i;

	q = orig_small();
	b = buf_new(4096, OUT_MAX);
	for (i = 0; bad_status[i] != NULL; i++) {
		rc.status = bad_status[i];
		err = NULL;
		ck_assert_msg(dsn_build(q, DSN_FAILURE, &rc, 1, &p, QID, b,
		    &err) == -1, "status %s", bad_status[i]);
		ck_assert(has(err, strlen(err), "invalid status"));
	}
	rc.status = NULL;
	ck_assert_int_eq(dsn_build(q, DSN_FAILURE, &rc, 1, &p, QID, b, &err),
	    -1);
	rc.status = "5.123.123";
	ck_assert_int_eq(dsn_build(q, DSN_FAILURE, &rc, 1, &p, QID, b, &err),
	    0);
	buf_reset(b);
	/* No recipients. */
	ck_assert_int_eq(dsn_build(q, DSN_FAILURE, &rc, 0, &p, QID, b, &err),
	    -1);
	/* Bad recipient fields. */
	rc.addr = "";
	ck_assert_int_eq(dsn_build(q, DSN_FAILURE, &rc, 1, &p, QID, b, &err),
	    -1);
	rc.addr = "a\r\nb@c";
	ck_assert_int_eq(dsn_build(q, DSN_FAILURE, &rc, 1, &p, QID, b, &err),
	    -1);
	rc.addr = "x@example.net";
	rc.orcpt = "rfc822;\x7f";
	ck_assert_int_eq(dsn_build(q, DSN_FAILURE, &rc, 1, &p, QID, b, &err),
	    -1);
	rc.orcpt = NULL;
	/* Bad host name, queue ID, kind, postmaster, report recipient. */
	p.hostname = "mx example";
	ck_assert_int_eq(dsn_build(q, DSN_FAILURE, &rc, 1, &p, QID, b, &err),
	    -1);
	p.hostname = NULL;
	ck_assert_int_eq(dsn_build(q, DSN_FAILURE, &rc, 1, &p, QID, b, &err),
	    -1);
	p = params();
	ck_assert_int_eq(dsn_build(q, DSN_FAILURE, &rc, 1, &p, "A/B", b,
	    &err), -1);
	ck_assert_int_eq(dsn_build(q, DSN_FAILURE, &rc, 1, &p, "", b, &err),
	    -1);
	ck_assert_int_eq(dsn_build(q, (enum dsn_kind)7, &rc, 1, &p, QID, b,
	    &err), -1);
	p.postmaster = "";
	ck_assert_int_eq(dsn_build(q, DSN_FAILURE, &rc, 1, &p, QID, b, &err),
	    -1);
	p.postmaster = NULL;
	ck_assert_int_eq(dsn_build(q, DSN_FAILURE, &rc, 1, &p, QID, b, &err),
	    0);
	ck_assert(has(b->data, b->len, "write to <postmaster>"));
	buf_reset(b);
	p.to = "a\tb@c";
	ck_assert_int_eq(dsn_build(q, DSN_FAILURE, &rc, 1, &p, QID, b, &err),
	    -1);
	p = params();
	/* Dates out of range. */
	p.now = UINT64_MAX;
	ck_assert_int_eq(dsn_build(q, DSN_FAILURE, &rc, 1, &p, QID, b, &err),
	    -1);
	ck_assert_str_eq(err, "time out of range");
	p = params();
	rc.last_attempt = UINT64_MAX;
	ck_assert_int_eq(dsn_build(q, DSN_FAILURE, &rc, 1, &p, QID, b, &err),
	    -1);
	rc.last_attempt = 0;
	rc.will_retry_until = UINT64_MAX;
	rc.status = "4.0.0";
	ck_assert_int_eq(dsn_build(q, DSN_DELAY, &rc, 1, &p, QID, b, &err),
	    -1);
	rc.will_retry_until = 0;
	/* The output buffer too small: at its maximum and one under. */
	buf_reset(b);
	ck_assert_int_eq(dsn_build(q, DSN_FAILURE, &rc, 1, &p, QID, b, &err),
	    0);
	len = b->len;
	buf_free(&b);
	b = buf_new(64, len);
	ck_assert_int_eq(dsn_build(q, DSN_FAILURE, &rc, 1, &p, QID, b, &err),
	    0);
	buf_free(&b);
	b = buf_new(64, len - 1);
	ck_assert_int_eq(dsn_build(q, DSN_FAILURE, &rc, 1, &p, QID, b, &err),
	    -1);
	ck_assert_str_eq(err, "report exceeds the output buffer");
	buf_free(&b);
	b = buf_new(64, 100);
	ck_assert_int_eq(dsn_build(q, DSN_FAILURE, &rc, 1, &p, QID, b, &err),
	    -1);
	buf_free(&b);
	/* An original parsed from memory cannot be read. */
	path = xasprintf("%s/%s", incoming, qfile_id(q));
	{
		int	 fd;
		off_t	 sz;

		fd = open(path, O_RDONLY);
		ck_assert_int_ne(fd, -1);
		sz = lseek(fd, 0, SEEK_END);
		data = xmalloc((size_t)sz);
		ck_assert_int_eq(pread(fd, data, (size_t)sz, 0), sz);
		close(fd);
		ck_assert_int_eq(qfile_parse_buffer(data, (size_t)sz, &lim,
		    &mq, &err), 0);
	}
	b = buf_new(64, OUT_MAX);
	ck_assert_int_eq(dsn_build(mq, DSN_FAILURE, &rc, 1, &p, QID, b, &err),
	    -1);
	ck_assert_str_eq(err, "original not opened from a file");
	buf_free(&b);
	qfile_free(&mq);
	free(data);
	free(path);
	/* dsn_write failing: nothing left behind. */
	rc.status = "bad";
	ck_assert_int_eq(dsn_write(spool, q, DSN_FAILURE, &rc, 1, &p, id,
	    &err), -1);
	ck_assert_int_eq(dir_count(incoming), 1);
	rc.status = "5.0.0";
	ck_assert_int_eq(dsn_write("/nonexistent/spool", q, DSN_FAILURE, &rc,
	    1, &p, id, &err), -1);
	ck_assert_int_eq(dir_count(incoming), 1);
	/* A message larger than the queue format allows cannot happen
	   here; a report to an address over the queue file's limit: */
	{
		char	*big = xmalloc(QFILE_ADDR_MAX + 2);

		memset(big, 'b', QFILE_ADDR_MAX + 1);
		big[QFILE_ADDR_MAX + 1] = '\0';
		p.to = big;
		ck_assert_int_eq(dsn_write(spool, q, DSN_FAILURE, &rc, 1, &p,
		    id, &err), -1);
		ck_assert_str_eq(err, "invalid report recipient");
		big[QFILE_ADDR_MAX] = '\0';
		ck_assert_int_eq(dsn_write(spool, q, DSN_FAILURE, &rc, 1, &p,
		    id, &err), 0);
		free(big);
	}
	ck_assert_int_eq(dir_count(incoming), 2);
	qfile_free(&q);
}
END_TEST

static Suite *
dsn_suite(void)
{
	Suite	*s = suite_create("dsn");
	TCase	*tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_failure_full);
	tcase_add_test(tc, test_write_roundtrip);
	tcase_add_test(tc, test_envid_orcpt);
	tcase_add_test(tc, test_ret_hdrs);
	tcase_add_test(tc, test_size_limit);
	tcase_add_test(tc, test_large_streamed);
	tcase_add_test(tc, test_delay_success);
	tcase_add_test(tc, test_boundary_collision);
	tcase_add_test(tc, test_8bit);
	tcase_add_test(tc, test_null_sender);
	tcase_add_test(tc, test_long_header);
	tcase_add_test(tc, test_diag_sanitized);
	tcase_add_test(tc, test_lines_998);
	tcase_add_test(tc, test_errors);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(dsn_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
