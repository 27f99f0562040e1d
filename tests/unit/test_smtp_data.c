/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for smtpd/smtp_data.c: a table of DATA inputs (plain
 * messages, dot-stuffing, every smuggling variant under both policies)
 * with expected output, flags and end position, each fed whole, split in
 * two at every byte and one byte at a time; the limits at the maximum and
 * one over; the header scan; BDAT chunks, BINARYMIME; sink failures.
 */
#include "config.h"

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "common/xmalloc.h"
#include "smtpd/smtp_data.h"

#include "common/banned.h"

#define S(s)	(const uint8_t *)(s), sizeof(s) - 1

struct sink {
	uint8_t		*data;
	size_t		 len;
	size_t		 size;
	unsigned int	 calls;
	unsigned int	 fail_at;	/* fail this call (1-based), 0 never */
};

static int
sink_write(void *ctx, const uint8_t *p, size_t n, const char **error_r)
{
	struct sink *s = ctx;

	ck_assert_uint_gt(n, 0);
	ck_assert_uint_le(n, SMTP_DATA_OUT_SIZE);
	s->calls++;
	if (s->fail_at != 0 && s->calls == s->fail_at) {
		*error_r = "disk full";
		return -1;
	}
	if (s->len + n > s->size) {
		s->size = (s->len + n) * 2;
		s->data = xreallocarray(s->data, s->size, 1);
	}
	memcpy(s->data + s->len, p, n);
	s->len += n;
	return 0;
}

static void
sink_reset(struct sink *s)
{
	free(s->data);
	memset(s, 0, sizeof(*s));
}

static const struct smtp_data_limits default_limits = {
	.max_message_size = 1024 * 1024,
	.max_line_length = 998,
	.max_hops = 50,
	.max_header_size = (100 * 1024),
};

/*
 * Feeds in[0..len) in pieces: split == 0 whole, split == SIZE_MAX one
 * byte at a time, else in[0..split) then the rest.  Returns the bytes
 * consumed when the end was seen, or SIZE_MAX when it was not.
 */
static size_t
feed_data(struct smtp_data *d, const uint8_t *in, size_t len, size_t split)
{
	const char *error;
	size_t off = 0, step, used;
	int ret;

	while (off < len || len == 0) {
		if (split == SIZE_MAX)
			step = 1;
		else if (split != 0 && off < split)
			step = split;
		else
			step = len - off;
		ret = smtp_data_feed(d, in + off, step, &used, &error);
		ck_assert_int_ne(ret, -1);
		if (ret == 1) {
			ck_assert_uint_le(used, step);
			return off + used;
		}
		ck_assert_uint_eq(used, step);
		off += step;
		if (len == 0)
			break;
	}
	return SIZE_MAX;
}

struct data_case {
	const char	*name;
	const char	*in;
	size_t		 in_len;
	const char	*out;		/* under NORMALIZE */
	size_t		 out_len;
	size_t		 end;		/* consumed bytes, SIZE_MAX: no end */
	unsigned int	 flags_reject;
	unsigned int	 flags_normalize;
};

#define CASE(name, in, out, end, fr, fn) \
	{ name, in, sizeof(in) - 1, out, sizeof(out) - 1, end, fr, fn }
#define BARE	SMTP_DATA_BARE_NEWLINE
#define ALL	(SIZE_MAX - 1)	/* the whole input */

static const struct data_case data_cases[] = {
	CASE("plain", "Subject: x\r\n\r\nbody\r\n.\r\n",
	    "Subject: x\r\n\r\nbody\r\n", ALL, 0, 0),
	CASE("empty message", ".\r\n", "", ALL, 0, 0),
	CASE("empty, pipelined", ".\r\nMAIL FROM:<a@b>\r\n", "", 3, 0, 0),
	CASE("pipelined after end", "a\r\n.\r\nQUIT\r\n", "a\r\n", 6, 0, 0),
	CASE("dot-stuffed", "..x\r\n.\r\n", ".x\r\n", ALL, 0, 0),
	CASE("three dots", "...\r\n.\r\n", "..\r\n", ALL, 0, 0),
	CASE("stuffed dot line", "a\r\n..\r\n.\r\n", "a\r\n.\r\n", ALL, 0, 0),
	CASE("dot mid-line", "a.b\r\n.\r\n", "a.b\r\n", ALL, 0, 0),
	CASE("dot space", "a\r\n. \r\n.\r\n", "a\r\n \r\n", ALL, 0, 0),
	CASE("no end", "a\r\n", "a\r\n", SIZE_MAX, 0, 0),
	CASE("no end, dot CR", "a\r\n.\r", "a\r\n", SIZE_MAX, 0, 0),
	/* The smuggling variants: none of them ends the data. */
	CASE("LF.LF", "a\n.\nX\r\n.\r\n", "a\r\n\r\nX\r\n", ALL,
	    BARE, 0),
	CASE("LF.CRLF", "a\n.\r\nX\r\n.\r\n", "a\r\n\r\nX\r\n", ALL,
	    BARE, 0),
	CASE("CR.CRLF", "a\r.\r\nX\r\n.\r\n", "a\r\n\r\nX\r\n", ALL,
	    BARE, 0),
	CASE("CRLF.LF", "a\r\n.\nX\r\n.\r\n", "a\r\n\r\nX\r\n", ALL,
	    BARE, 0),
	CASE("CRLF.CR", "a\r\n.\rX\r\n.\r\n", "a\r\n\r\nX\r\n", ALL,
	    BARE, 0),
	CASE("LF.CR", "a\n.\rX\r\n.\r\n", "a\r\n\r\nX\r\n", ALL,
	    BARE, 0),
	CASE("CR.CR", "a\r.\rX\r\n.\r\n", "a\r\n\r\nX\r\n", ALL,
	    BARE, 0),
	CASE("CRLF.CRCRLF", "a\r\n.\r\r\nX\r\n.\r\n",
	    "a\r\n\r\n\r\nX\r\n", ALL, BARE, 0),
	CASE("leading LF.CRLF", "\n.\r\nX\r\n.\r\n", "\r\n\r\nX\r\n", ALL,
	    BARE, 0),
	CASE("leading LF", "\nX\r\n.\r\n", "\r\nX\r\n", ALL, BARE, 0),
	/* A bare CR just before a real CR LF "." CR LF: that is the end. */
	CASE("bare CR before CRLF.CRLF", "a\r\r\n.\r\nX", "a\r\n\r\n", 7,
	    BARE, 0),
	CASE("CRCRLF..", "a\r\r\n..\r\n.\r\n", "a\r\n\r\n.\r\n", ALL,
	    BARE, 0),
	CASE("bare LF, stuffed", "a\n..x\r\n.\r\n", "a\r\n.x\r\n", ALL,
	    BARE, 0),
	CASE("NUL.CRLF", "a\r\n\0.\r\nX\r\n.\r\n", "a\r\n\0.\r\nX\r\n", ALL,
	    0, 0),
	CASE("dot NUL", "a\r\n.\0\r\n.\r\n", "a\r\n\0\r\n", ALL, 0, 0),
	CASE("NUL LF", "a\0\n.\r\n.\r\n", "a\0\r\n\r\n", ALL, BARE, 0),
	CASE("LF at end", "a\r\n.\r\n\n", "a\r\n", 6, 0, 0),
	CASE("only bare", "a\n.\n", "a\r\n\r\n", SIZE_MAX, BARE, 0),
	CASE("CRLFCRLF.CRLF", "\r\n\r\n.\r\n", "\r\n\r\n", ALL, 0, 0),
};

static void
check_output(const struct sink *s, const struct data_case *c,
    unsigned int flags)
{
	/* A flagged message stops reaching the sink: only a prefix. */
	if (flags == 0)
		ck_assert_uint_eq(s->len, c->out_len);
	ck_assert_uint_le(s->len, c->out_len);
	if (s->len > 0)
		ck_assert_mem_eq(s->data, c->out, s->len);
}

static void
run_case(const struct data_case *c, enum smtp_data_policy policy,
    size_t split)
{
	const struct smtp_data_result *r;
	struct smtp_data *d;
	struct sink s = { 0 };
	unsigned int flags;
	size_t end, want_end;

	flags = policy == SMTP_DATA_REJECT ? c->flags_reject :
	    c->flags_normalize;
	want_end = c->end == ALL ? c->in_len : c->end;
	d = smtp_data_new(SMTP_DATA_DATA, policy, &default_limits,
	    sink_write, &s);
	end = feed_data(d, (const uint8_t *)c->in, c->in_len, split);
	r = smtp_data_result(d);
	ck_assert_msg(end == want_end, "%s: end %zu, want %zu (split %zu)",
	    c->name, end, want_end, split);
	ck_assert_msg(r->flags == flags, "%s: flags %#x, want %#x", c->name,
	    r->flags, flags);
	ck_assert(r->done == (c->end != SIZE_MAX));
	check_output(&s, c, flags);
	if (r->done)
		ck_assert_uint_eq(r->bytes, c->out_len);
	smtp_data_free(&d);
	ck_assert_ptr_null(d);
	sink_reset(&s);
}

START_TEST(test_smtp_data_table)
{
	const struct data_case *c = &data_cases[_i];
	size_t k;

	run_case(c, SMTP_DATA_REJECT, 0);
	run_case(c, SMTP_DATA_NORMALIZE, 0);
	run_case(c, SMTP_DATA_REJECT, SIZE_MAX);
	run_case(c, SMTP_DATA_NORMALIZE, SIZE_MAX);
	for (k = 1; k < c->in_len; k++) {
		run_case(c, SMTP_DATA_REJECT, k);
		run_case(c, SMTP_DATA_NORMALIZE, k);
	}
}
END_TEST

/* Every smuggling variant followed by a command: still message data. */
START_TEST(test_smtp_data_smuggling_not_end)
{
	static const struct {
		const char	*s;
		size_t		 len;
	} variants[] = {
#define V(s)	{ s, sizeof(s) - 1 }
		V("\n.\n"), V("\n.\r\n"), V("\r.\r\n"), V("\r\n.\n"),
		V("\r\n.\r"), V("\n.\r"), V("\r.\r"), V("\r.\n"),
		V("\r\n.\r\r\n"), V("\r\n\0.\r\n"), V("\r\r.\r\n"),
		V("\r\n.\0\r\n"), V("\r\n .\r\n"), V("\n\r\n.\n"),
#undef V
	};
	static const char cmd[] = "MAIL FROM:<evil@x>\r\nRCPT TO:<v@y>\r\n"
	    "DATA\r\n";
	enum smtp_data_policy policy;
	struct smtp_data *d;
	struct sink s = { 0 };
	uint8_t in[128];
	size_t n, v;

	for (v = 0; v < N_ELEMENTS(variants); v++) {
		for (policy = SMTP_DATA_REJECT; policy <= SMTP_DATA_NORMALIZE;
		    policy++) {
			n = 0;
			in[n++] = 'a';
			memcpy(in + n, variants[v].s, variants[v].len);
			n += variants[v].len;
			memcpy(in + n, cmd, sizeof(cmd) - 1);
			n += sizeof(cmd) - 1;
			d = smtp_data_new(SMTP_DATA_DATA, policy,
			    &default_limits, sink_write, &s);
			ck_assert_uint_eq(feed_data(d, in, n, 0), SIZE_MAX);
			ck_assert(!smtp_data_result(d)->done);
			smtp_data_free(&d);
			sink_reset(&s);
		}
	}
}
END_TEST

static const struct smtp_data_result *
run_limits(struct smtp_data **dp, struct sink *s, enum smtp_data_mode mode,
    const struct smtp_data_limits *l, const uint8_t *in, size_t len)
{
	const char *error;

	*dp = smtp_data_new(mode, SMTP_DATA_NORMALIZE, l, sink_write, s);
	if (mode == SMTP_DATA_DATA)
		ck_assert_uint_eq(feed_data(*dp, in, len, 0), len);
	else
		ck_assert_int_eq(smtp_data_feed_chunk(*dp, in, len, true,
		    &error), 1);
	return smtp_data_result(*dp);
}

START_TEST(test_smtp_data_size_limit)
{
	struct smtp_data_limits l = default_limits;
	const struct smtp_data_result *r;
	struct smtp_data *d;
	struct sink s = { 0 };

	/* "..abc\r\n" is 6 bytes of output: the stuffed dot is not counted. */
	l.max_message_size = 6;
	r = run_limits(&d, &s, SMTP_DATA_DATA, &l, S("..abc\r\n.\r\n"));
	ck_assert_uint_eq(r->flags, 0);
	ck_assert_uint_eq(r->bytes, 6);
	ck_assert_uint_eq(s.len, 6);
	smtp_data_free(&d);
	sink_reset(&s);

	l.max_message_size = 5;
	r = run_limits(&d, &s, SMTP_DATA_DATA, &l,
	    S("..abc\r\nmore\r\n.\r\n"));
	ck_assert_uint_eq(r->flags, SMTP_DATA_TOO_BIG);
	ck_assert_uint_eq(r->bytes, 12);	/* counted on to the end */
	ck_assert(r->done);
	ck_assert_uint_eq(s.len, 0);
	ck_assert_str_eq(smtp_data_reply(r->flags),
	    "552 5.3.4 Error: message file too big");
	smtp_data_free(&d);
	sink_reset(&s);

	/* BDAT: normalisation counts too ("a\n" is 3 bytes). */
	l.max_message_size = 3;
	r = run_limits(&d, &s, SMTP_DATA_BDAT, &l, S("a\n"));
	ck_assert_uint_eq(r->flags, 0);
	smtp_data_free(&d);
	sink_reset(&s);
	l.max_message_size = 2;
	r = run_limits(&d, &s, SMTP_DATA_BDAT, &l, S("a\n"));
	ck_assert_uint_eq(r->flags, SMTP_DATA_TOO_BIG);
	smtp_data_free(&d);
	sink_reset(&s);
}
END_TEST

START_TEST(test_smtp_data_line_limit)
{
	struct smtp_data_limits l = default_limits;
	const struct smtp_data_result *r;
	struct smtp_data *d;
	struct sink s = { 0 };

	l.max_line_length = 5;
	r = run_limits(&d, &s, SMTP_DATA_DATA, &l,
	    S("12345\r\n.2345\r\n..345\r\n.\r\n"));
	ck_assert_uint_eq(r->flags, 0);
	ck_assert_uint_eq(s.len, 19);
	smtp_data_free(&d);
	sink_reset(&s);

	r = run_limits(&d, &s, SMTP_DATA_DATA, &l,
	    S("12345\r\n123456\r\n.\r\n"));
	ck_assert_uint_eq(r->flags, SMTP_DATA_LINE_TOO_LONG);
	ck_assert_str_eq(smtp_data_reply(r->flags),
	    "554 5.6.0 Error: message line too long (see RFC 5322 2.1.1)");
	smtp_data_free(&d);
	sink_reset(&s);

	r = run_limits(&d, &s, SMTP_DATA_DATA, &l, S("...4567\r\n.\r\n"));
	ck_assert_uint_eq(r->flags, SMTP_DATA_LINE_TOO_LONG);
	smtp_data_free(&d);
	sink_reset(&s);

	/* A bare CR ends a line under normalize. */
	r = run_limits(&d, &s, SMTP_DATA_DATA, &l,
	    S("12345\r12345\n12345\r\n.\r\n"));
	ck_assert_uint_eq(r->flags, 0);
	smtp_data_free(&d);
	sink_reset(&s);

	/* BDAT at max and one over, unterminated last line. */
	r = run_limits(&d, &s, SMTP_DATA_BDAT, &l, S("12345\r\n12345"));
	ck_assert_uint_eq(r->flags, 0);
	smtp_data_free(&d);
	sink_reset(&s);
	r = run_limits(&d, &s, SMTP_DATA_BDAT, &l, S("12345\r\n123456"));
	ck_assert_uint_eq(r->flags, SMTP_DATA_LINE_TOO_LONG);
	smtp_data_free(&d);
	sink_reset(&s);

	/* BINARYMIME has no lines. */
	r = run_limits(&d, &s, SMTP_DATA_BINARYMIME, &l,
	    S("\r\n1234567890"));
	ck_assert_uint_eq(r->flags, 0);
	smtp_data_free(&d);
	sink_reset(&s);
}
END_TEST

START_TEST(test_smtp_data_hops)
{
	struct smtp_data_limits l = default_limits;
	const struct smtp_data_result *r;
	struct smtp_data *d;
	struct sink s = { 0 };

	l.max_hops = 3;
	r = run_limits(&d, &s, SMTP_DATA_DATA, &l,
	    S("Received: a\r\nRECEIVED: b\r\n\tfrom c\r\nreceived :d\r\n"
	    "Subject: Received: x\r\n\r\nReceived: body\r\n.\r\n"));
	ck_assert_uint_eq(r->flags, 0);
	ck_assert_uint_eq(r->received, 3);
	smtp_data_free(&d);
	sink_reset(&s);

	r = run_limits(&d, &s, SMTP_DATA_DATA, &l,
	    S("Received: a\r\nReceived: b\r\nReceived: c\r\n"
	    "Received: d\r\n\r\n.\r\n"));
	ck_assert_uint_eq(r->flags, SMTP_DATA_TOO_MANY_HOPS);
	ck_assert_uint_eq(r->received, 4);
	ck_assert_str_eq(smtp_data_reply(r->flags),
	    "554 5.4.6 Error: too many hops");
	smtp_data_free(&d);
	sink_reset(&s);
}
END_TEST

START_TEST(test_smtp_data_headers)
{
	const struct smtp_data_result *r;
	struct smtp_data *d;
	struct sink s = { 0 };

	/* Folding, case, obsolete "name :" syntax. */
	r = run_limits(&d, &s, SMTP_DATA_DATA, &default_limits,
	    S("Subject: a\r\n b\r\nmessage-ID: <x@y>\r\nDATE :\r\n"
	    " Mon, 1 Jan 2024\r\n\r\nbody\r\n.\r\n"));
	ck_assert_uint_eq(r->flags, 0);
	ck_assert(r->has_message_id);
	ck_assert(r->has_date);
	ck_assert_uint_eq(r->header_size, 61);
	ck_assert(r->header_done);
	ck_assert_uint_eq(r->received, 0);
	smtp_data_free(&d);
	sink_reset(&s);

	/* The header section ends at the first empty line. */
	r = run_limits(&d, &s, SMTP_DATA_DATA, &default_limits,
	    S("Subject: x\r\n\r\nReceived: y\r\nDate: z\r\n"
	    "Message-ID: <m>\r\n.\r\n"));
	ck_assert(!r->has_date);
	ck_assert(!r->has_message_id);
	ck_assert_uint_eq(r->received, 0);
	ck_assert_uint_eq(r->header_size, 12);
	smtp_data_free(&d);
	sink_reset(&s);

	/* ... or at the first line that is no header field. */
	r = run_limits(&d, &s, SMTP_DATA_DATA, &default_limits,
	    S("Subject: x\r\nhello world\r\nDate: z\r\n.\r\n"));
	ck_assert(!r->has_date);
	ck_assert_uint_eq(r->header_size, 12);
	smtp_data_free(&d);
	sink_reset(&s);
	r = run_limits(&d, &s, SMTP_DATA_DATA, &default_limits,
	    S(" Date: z\r\n.\r\n"));
	ck_assert(!r->has_date);
	ck_assert_uint_eq(r->header_size, 0);
	smtp_data_free(&d);
	sink_reset(&s);
	r = run_limits(&d, &s, SMTP_DATA_DATA, &default_limits,
	    S("Dates: z\r\nX-Date: z\r\nDat: z\r\n:Date: z\r\n.\r\n"));
	ck_assert(!r->has_date);
	ck_assert_uint_eq(r->header_size, 29);
	smtp_data_free(&d);
	sink_reset(&s);
	/* A very long field name matches nothing. */
	r = run_limits(&d, &s, SMTP_DATA_DATA, &default_limits,
	    S("Message-IDMessage-IDMessage-ID: x\r\n.\r\n"));
	ck_assert(!r->has_message_id);
	ck_assert_uint_eq(r->header_size, 35);
	smtp_data_free(&d);
	sink_reset(&s);

	/* The message ends inside the header section. */
	r = run_limits(&d, &s, SMTP_DATA_DATA, &default_limits,
	    S("Date: x\r\n.\r\n"));
	ck_assert(r->has_date);
	ck_assert_uint_eq(r->header_size, 9);
	smtp_data_free(&d);
	sink_reset(&s);
	r = run_limits(&d, &s, SMTP_DATA_BDAT, &default_limits,
	    S("Date: x\r\nnoheader"));
	ck_assert_uint_eq(r->header_size, 9);
	smtp_data_free(&d);
	sink_reset(&s);
	r = run_limits(&d, &s, SMTP_DATA_BDAT, &default_limits,
	    S("Date: x"));
	ck_assert_uint_eq(r->header_size, 7);
	smtp_data_free(&d);
	sink_reset(&s);
}
END_TEST

START_TEST(test_smtp_data_header_limit)
{
	struct smtp_data_limits l = default_limits;
	const struct smtp_data_result *r;
	struct smtp_data *d;
	struct sink s = { 0 };

	l.max_header_size = 20;
	/* 20 bytes of header fields, then a long body. */
	r = run_limits(&d, &s, SMTP_DATA_DATA, &l,
	    S("Subject: 123456789\r\n\r\n1234567890123456789012345\r\n"
	    ".\r\n"));
	ck_assert_uint_eq(r->flags, 0);
	ck_assert_uint_eq(r->header_size, 20);
	smtp_data_free(&d);
	sink_reset(&s);
	r = run_limits(&d, &s, SMTP_DATA_DATA, &l,
	    S("Subject: 1234567890\r\n\r\n.\r\n"));
	ck_assert_uint_eq(r->flags, SMTP_DATA_HEADERS_TOO_BIG);
	ck_assert_str_eq(smtp_data_reply(r->flags),
	    "552 5.3.4 Error: message header section too big");
	smtp_data_free(&d);
	sink_reset(&s);
	/* A continuation line counts. */
	r = run_limits(&d, &s, SMTP_DATA_DATA, &l,
	    S("Subject: 12345678\r\n x\r\n\r\n.\r\n"));
	ck_assert_uint_eq(r->flags, SMTP_DATA_HEADERS_TOO_BIG);
	smtp_data_free(&d);
	sink_reset(&s);
	/* A body without header section is no header. */
	r = run_limits(&d, &s, SMTP_DATA_DATA, &l,
	    S("123456789012345678901234567890\r\n.\r\n"));
	ck_assert_uint_eq(r->flags, 0);
	ck_assert_uint_eq(r->header_size, 0);
	smtp_data_free(&d);
	sink_reset(&s);
}
END_TEST

struct bdat_case {
	const char		*name;
	enum smtp_data_mode	 mode;
	const char		*in;
	size_t			 in_len;
	const char		*out;
	size_t			 out_len;
	unsigned int		 flags_reject;
};

#define BCASE(name, mode, in, out, fr) \
	{ name, mode, in, sizeof(in) - 1, out, sizeof(out) - 1, fr }

static const struct bdat_case bdat_cases[] = {
	BCASE("plain", SMTP_DATA_BDAT, "a\r\nb\r\n", "a\r\nb\r\n", 0),
	BCASE("no dot-stuffing", SMTP_DATA_BDAT, "..x\r\n.\r\nz",
	    "..x\r\n.\r\nz", 0),
	BCASE("bare LF", SMTP_DATA_BDAT, "a\nb", "a\r\nb", BARE),
	BCASE("bare CR", SMTP_DATA_BDAT, "a\rb", "a\r\nb", BARE),
	BCASE("CR at end", SMTP_DATA_BDAT, "a\r", "a\r\n", BARE),
	BCASE("CRCRLF", SMTP_DATA_BDAT, "a\r\r\n", "a\r\n\r\n", BARE),
	BCASE("binary", SMTP_DATA_BINARYMIME, "a\nb\r\0\r\n.\r\n\r",
	    "a\nb\r\0\r\n.\r\n\r", 0),
	BCASE("empty", SMTP_DATA_BDAT, "", "", 0),
};

/* Feeds a BDAT case as chunks split at a and b (a <= b <= len). */
static void
run_bdat(const struct bdat_case *c, enum smtp_data_policy policy, size_t a,
    size_t b)
{
	const struct smtp_data_result *r;
	const uint8_t *in = (const uint8_t *)c->in;
	struct smtp_data *d;
	struct sink s = { 0 };
	const char *error;
	unsigned int flags;

	d = smtp_data_new(c->mode, policy, &default_limits, sink_write, &s);
	ck_assert_int_eq(smtp_data_feed_chunk(d, in, a, false, &error), 0);
	ck_assert_int_eq(smtp_data_feed_chunk(d, in + a, b - a, false,
	    &error), 0);
	ck_assert(!smtp_data_result(d)->done);
	ck_assert_int_eq(smtp_data_feed_chunk(d, in + b, c->in_len - b, true,
	    &error), 1);
	r = smtp_data_result(d);
	flags = policy == SMTP_DATA_REJECT ? c->flags_reject : 0;
	ck_assert_msg(r->flags == flags, "%s: flags %#x", c->name, r->flags);
	ck_assert(r->done);
	ck_assert_uint_eq(r->bytes, c->out_len);
	if (flags == 0)
		ck_assert_uint_eq(s.len, c->out_len);
	ck_assert_uint_le(s.len, c->out_len);
	if (s.len > 0)
		ck_assert_mem_eq(s.data, c->out, s.len);
	smtp_data_free(&d);
	sink_reset(&s);
}

START_TEST(test_smtp_data_bdat)
{
	const struct bdat_case *c = &bdat_cases[_i];
	size_t a, b;

	for (a = 0; a <= c->in_len; a++)
		for (b = a; b <= c->in_len; b++) {
			run_bdat(c, SMTP_DATA_REJECT, a, b);
			run_bdat(c, SMTP_DATA_NORMALIZE, a, b);
		}
}
END_TEST

START_TEST(test_smtp_data_sink_fail)
{
	const struct smtp_data_result *r;
	struct smtp_data *d;
	struct sink s = { 0 };
	const char *error = NULL;
	uint8_t *in;
	size_t len = 10000, used, off;
	int ret;

	in = xmalloc(len);
	memset(in, 'x', len);
	memcpy(in + len - 5, "\r\n.\r\n", 5);

	/* The buffer fills mid-input: the failure stops right there. */
	s.fail_at = 1;
	d = smtp_data_new(SMTP_DATA_DATA, SMTP_DATA_NORMALIZE,
	    &(struct smtp_data_limits){ 1 << 20, 1 << 20, 50, 100 },
	    sink_write, &s);
	ck_assert_int_eq(smtp_data_feed(d, in, len, &used, &error), -1);
	ck_assert_str_eq(error, "disk full");
	/* The run that filled the buffer was consumed (and counted). */
	ck_assert_uint_eq(used, len - 5);
	off = used;
	ck_assert_int_eq(smtp_data_feed(d, in + off, len - off, &used,
	    &error), 1);
	ck_assert_uint_eq(off + used, len);
	r = smtp_data_result(d);
	ck_assert_uint_eq(r->flags, SMTP_DATA_SINK_FAILED);
	ck_assert_uint_eq(r->bytes, len - 3);
	ck_assert_uint_eq(s.calls, 1);
	ck_assert_str_eq(smtp_data_reply(r->flags),
	    "451 4.3.0 Error: internal error");
	ck_assert_int_eq(smtp_data_feed(d, in, len, &used, &error), 1);
	ck_assert_uint_eq(used, 0);
	smtp_data_free(&d);
	sink_reset(&s);

	/* The final flush fails: -1, then 1 with nothing consumed. */
	s.fail_at = 1;
	d = smtp_data_new(SMTP_DATA_DATA, SMTP_DATA_NORMALIZE,
	    &default_limits, sink_write, &s);
	ret = smtp_data_feed(d, S("a\r\n.\r\nQUIT\r\n"), &used, &error);
	ck_assert_int_eq(ret, -1);
	ck_assert_uint_eq(used, 6);
	ck_assert_int_eq(smtp_data_feed(d, S("QUIT\r\n"), &used, &error), 1);
	ck_assert_uint_eq(used, 0);
	smtp_data_free(&d);
	sink_reset(&s);

	/* The flush at the end of a partial feed fails. */
	s.fail_at = 1;
	d = smtp_data_new(SMTP_DATA_DATA, SMTP_DATA_NORMALIZE,
	    &default_limits, sink_write, &s);
	ck_assert_int_eq(smtp_data_feed(d, S("a\r\n"), &used, &error), -1);
	ck_assert_uint_eq(used, 3);
	ck_assert_int_eq(smtp_data_feed(d, S("b\r\n.\r\n"), &used, &error),
	    1);
	ck_assert_uint_eq(s.calls, 1);
	smtp_data_free(&d);
	sink_reset(&s);

	/* BDAT: the chunk is consumed, later chunks too. */
	s.fail_at = 2;
	d = smtp_data_new(SMTP_DATA_BDAT, SMTP_DATA_NORMALIZE,
	    &(struct smtp_data_limits){ 1 << 20, 1 << 20, 50, 100 },
	    sink_write, &s);
	ck_assert_int_eq(smtp_data_feed_chunk(d, in, len, false, &error),
	    -1);
	ck_assert_int_eq(smtp_data_feed_chunk(d, in, len, true, &error), 1);
	r = smtp_data_result(d);
	ck_assert_uint_eq(r->flags, SMTP_DATA_SINK_FAILED);
	ck_assert_uint_eq(r->bytes, 2 * len);
	ck_assert_uint_eq(s.calls, 2);
	ck_assert_uint_eq(s.len, SMTP_DATA_OUT_SIZE);
	smtp_data_free(&d);
	sink_reset(&s);
	s.fail_at = 1;
	d = smtp_data_new(SMTP_DATA_BDAT, SMTP_DATA_NORMALIZE,
	    &default_limits, sink_write, &s);
	ck_assert_int_eq(smtp_data_feed_chunk(d, S("x"), true, &error), -1);
	ck_assert(smtp_data_result(d)->done);
	smtp_data_free(&d);
	sink_reset(&s);
	free(in);
}
END_TEST

/* A large message crosses the output buffer many times, split anywhere. */
START_TEST(test_smtp_data_large)
{
	struct smtp_data *d;
	struct sink s = { 0 }, whole = { 0 };
	uint8_t *in;
	size_t len = 3 * SMTP_DATA_OUT_SIZE + 100, i, k;

	in = xmalloc(len);
	for (i = 0; i < len; i++)
		in[i] = "ab.\r\nc"[i % 6];
	memcpy(in + len - 5, "\r\n.\r\n", 5);
	d = smtp_data_new(SMTP_DATA_DATA, SMTP_DATA_NORMALIZE,
	    &default_limits, sink_write, &whole);
	ck_assert_uint_eq(feed_data(d, in, len, 0), len);
	smtp_data_free(&d);
	for (k = 1; k < len; k += 997) {
		d = smtp_data_new(SMTP_DATA_DATA, SMTP_DATA_NORMALIZE,
		    &default_limits, sink_write, &s);
		ck_assert_uint_eq(feed_data(d, in, len, k), len);
		ck_assert_uint_eq(s.len, whole.len);
		ck_assert_mem_eq(s.data, whole.data, s.len);
		smtp_data_free(&d);
		sink_reset(&s);
	}
	sink_reset(&whole);
	free(in);
	smtp_data_free(&d);		/* NULL is fine */
}
END_TEST

START_TEST(test_smtp_data_reply)
{
	ck_assert_ptr_null(smtp_data_reply(0));
	ck_assert_str_eq(smtp_data_reply(SMTP_DATA_BARE_NEWLINE |
	    SMTP_DATA_TOO_BIG), "554 5.6.11 Error: bare CR or LF in "
	    "message data (see RFC 5321 2.3.8)");
	ck_assert_str_eq(smtp_data_reply(SMTP_DATA_TOO_BIG |
	    SMTP_DATA_SINK_FAILED), "451 4.3.0 Error: internal error");
}
END_TEST

START_TEST(test_smtp_data_wrong_mode)
{
	struct smtp_data *d;
	const char *error;
	size_t used;

	d = smtp_data_new(SMTP_DATA_BDAT, SMTP_DATA_NORMALIZE,
	    &default_limits, sink_write, NULL);
	ck_assert_int_eq(smtp_data_feed(d, S("x"), &used, &error), 9);
}
END_TEST

START_TEST(test_smtp_data_wrong_mode_chunk)
{
	struct smtp_data *d;
	const char *error;

	d = smtp_data_new(SMTP_DATA_DATA, SMTP_DATA_NORMALIZE,
	    &default_limits, sink_write, NULL);
	ck_assert_int_eq(smtp_data_feed_chunk(d, S("x"), true, &error), 9);
}
END_TEST

START_TEST(test_smtp_data_chunk_after_last)
{
	struct smtp_data *d;
	struct sink s = { 0 };
	const char *error;

	d = smtp_data_new(SMTP_DATA_BDAT, SMTP_DATA_NORMALIZE,
	    &default_limits, sink_write, &s);
	ck_assert_int_eq(smtp_data_feed_chunk(d, S("x"), true, &error), 1);
	ck_assert_int_eq(smtp_data_feed_chunk(d, S("x"), true, &error), 9);
}
END_TEST

static Suite *
smtp_data_suite(void)
{
	Suite *s = suite_create("smtp_data");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, test_smtp_data_table, 0,
	    (int)N_ELEMENTS(data_cases));
	tcase_add_test(tc, test_smtp_data_smuggling_not_end);
	tcase_add_test(tc, test_smtp_data_size_limit);
	tcase_add_test(tc, test_smtp_data_line_limit);
	tcase_add_test(tc, test_smtp_data_hops);
	tcase_add_test(tc, test_smtp_data_headers);
	tcase_add_test(tc, test_smtp_data_header_limit);
	tcase_add_loop_test(tc, test_smtp_data_bdat, 0,
	    (int)N_ELEMENTS(bdat_cases));
	tcase_add_test(tc, test_smtp_data_sink_fail);
	tcase_add_test(tc, test_smtp_data_large);
	tcase_add_test(tc, test_smtp_data_reply);
	tcase_add_test_raise_signal(tc, test_smtp_data_wrong_mode, SIGABRT);
	tcase_add_test_raise_signal(tc, test_smtp_data_wrong_mode_chunk,
	    SIGABRT);
	tcase_add_test_raise_signal(tc, test_smtp_data_chunk_after_last,
	    SIGABRT);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(smtp_data_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
