/* SPDX-License-Identifier: ISC */
/* fuzz-sources: common/mime.c common/mime_imap.c common/mime_decode.c common/imap_str.c common/buf.c common/str.c common/xmalloc.c common/error.c common/log.c common/utf8.c */
/* fuzz-libs: */
/*
 * Fuzz target for the MIME parser and everything built on it
 * (common/mime*.c, common/imap_str.c).  The first input byte is a control
 * byte; the rest is a message.  Control bits: 0x01 IMAP_STR_UTF8, 0x02
 * MIME_BS_MESSAGE_GLOBAL, 0x04 small limits (depth 3, 20 parts, 64-byte
 * headers, 3 parameters), so that every limit path is reached, 0x08 a
 * small output buffer (every writer's full-buffer path).
 *
 * For every input it parses, writes BODY, BODYSTRUCTURE and ENVELOPE,
 * checks they are well-formed IMAP (balanced lists, strings that are
 * quoted only when the bytes allow it, literals whose length is right,
 * nothing after the value), walks the tree checking its invariants
 * (ranges inside the message and inside the parent, header then body),
 * computes each part's section number and checks that
 * mime_section_find() gives that part back and that every range is
 * inside the message, builds the search text, and runs the decoders and
 * header helpers on the whole input.
 */
#include "config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/imap_str.h"
#include "common/mime.h"
#include "common/utf8.h"

#include "common/banned.h"

#define FUZZ_OUT_MAX	(64 * 1024 * 1024)
#define FUZZ_SMALL_OUT	64

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_fail(const char *what)
{
	fprintf(stderr, "fuzz_mime: %s\n", what);
	abort();
}

#define CHECK(cond) do { if (!(cond)) fuzz_fail(#cond); } while (0)

/*
 * Checks that s[*pos..len) starts with one IMAP value (NIL, a number,
 * a string or a parenthesized list of values) and moves *pos past it.
 */
static void
check_value(const char *s, size_t len, size_t *pos, unsigned flags,
    unsigned depth)
{
	size_t	 p = *pos, n, start;
	bool	 eight = false;

	CHECK(depth < 1000);
	CHECK(p < len);
	if (s[p] == '(') {
		p++;
		while (p < len && s[p] != ')') {
			check_value(s, len, &p, flags, depth + 1);
			if (p < len && s[p] == ' ')
				p++;
		}
		CHECK(p < len);
		*pos = p + 1;
		return;
	}
	if (s[p] == '"') {
		for (p++; p < len && s[p] != '"'; p++) {
			CHECK(s[p] != '\r' && s[p] != '\n' && s[p] != '\0');
			if ((unsigned char)s[p] >= 0x80)
				eight = true;
			if (s[p] == '\\') {
				p++;
				CHECK(p < len && (s[p] == '\\' || s[p] == '"'));
			}
		}
		CHECK(p < len);
		if (eight)
			CHECK((flags & IMAP_STR_UTF8) != 0);
		*pos = p + 1;
		return;
	}
	if (s[p] == '{') {
		for (n = 0, p++; p < len && s[p] >= '0' && s[p] <= '9'; p++)
			n = n * 10 + (size_t)(s[p] - '0');
		CHECK(len - p >= 3 && s[p] == '}' && s[p + 1] == '\r' &&
		    s[p + 2] == '\n');
		p += 3;
		CHECK(len - p >= n);
		CHECK(memchr(s + p, '\0', n) == NULL);
		*pos = p + n;
		return;
	}
	start = p;
	while (p < len && s[p] != ' ' && s[p] != ')' && s[p] != '(')
		p++;
	CHECK(p > start);
	CHECK((p - start == 3 && memcmp(s + start, "NIL", 3) == 0) ||
	    strspn(s + start, "0123456789") >= p - start);
	*pos = p;
}

static void
check_imap(const struct buf *b, unsigned flags)
{
	size_t	pos = 0;

	check_value(b->data, b->len, &pos, flags, 0);
	CHECK(pos == b->len);
}

/* Ranges of every part inside the message and inside its parent. */
static void
check_part(const struct mime_part *p, size_t start, size_t end,
    unsigned *count)
{
	unsigned	i;

	(*count)++;
	CHECK(p->hdr_off >= start && p->hdr_off <= end);
	CHECK(p->hdr_off + p->hdr_len == p->body_off);
	CHECK(p->body_off + p->body_len <= end);
	CHECK(p->type.data != NULL && p->subtype.data != NULL);
	for (i = 0; i < p->nchildren; i++) {
		CHECK(p->children[i]->parent == p);
		CHECK(p->children[i]->depth == p->depth + 1);
		CHECK((i + 1 < p->nchildren ? p->children[i + 1] : NULL) ==
		    p->children[i]->next);
		if (i > 0)
			CHECK(p->children[i]->hdr_off >=
			    p->children[i - 1]->body_off +
			    p->children[i - 1]->body_len);
		check_part(p->children[i], p->body_off,
		    p->body_off + p->body_len, count);
	}
	if (p->message != NULL) {
		CHECK(p->nchildren == 0);
		CHECK(p->message->parent == p);
		CHECK(p->message->hdr_off == p->body_off);
		CHECK(p->message->body_off + p->message->body_len ==
		    p->body_off + p->body_len);
		check_part(p->message, p->body_off, p->body_off + p->body_len,
		    count);
	}
}

static void
check_section(const struct mime_part *root, const char *spec,
    const struct mime_part *want)
{
	const struct mime_part	*got;
	size_t			 off, len;
	enum mime_section	 w;

	CHECK(mime_section_find(root, spec, strlen(spec), &got) == 1);
	CHECK(got == want);
	for (w = MIME_SECTION_PART; w <= MIME_SECTION_MIME; w++) {
		if (mime_section_range(root, spec, strlen(spec), w, &off,
		    &len) == 1)
			CHECK(off <= root->msg_len && len <= root->msg_len - off);
	}
}

static void visit_part(const struct mime_part *, const struct mime_part *,
    char *, size_t);

/* The parts of a message node m, numbered after spec. */
static void
visit_message(const struct mime_part *root, const struct mime_part *m,
    char *spec, size_t len)
{
	unsigned	i;
	int		n;

	if ((m->flags & MIME_PART_MULTIPART) != 0) {
		for (i = 0; i < m->nchildren; i++) {
			n = snprintf(spec + len, 512 - len, "%s%u",
			    len > 0 ? "." : "", i + 1);
			CHECK(n > 0 && (size_t)n < 512 - len);
			visit_part(root, m->children[i], spec, len + (size_t)n);
		}
	} else {
		n = snprintf(spec + len, 512 - len, "%s1", len > 0 ? "." : "");
		CHECK(n > 0 && (size_t)n < 512 - len);
		visit_part(root, m, spec, len + (size_t)n);
	}
	spec[len] = '\0';
}

static void
visit_part(const struct mime_part *root, const struct mime_part *p,
    char *spec, size_t len)
{
	unsigned	i;
	int		n;

	check_section(root, spec, p);
	if ((p->flags & MIME_PART_MULTIPART) != 0) {
		for (i = 0; i < p->nchildren; i++) {
			n = snprintf(spec + len, 512 - len, ".%u", i + 1);
			CHECK(n > 0 && (size_t)n < 512 - len);
			visit_part(root, p->children[i], spec, len + (size_t)n);
		}
	} else if (p->message != NULL)
		visit_message(root, p->message, spec, len);
	spec[len] = '\0';
}

static void
fuzz_decoders(const char *msg, size_t len)
{
	static const char *const names[] = { "subject", "from" };
	static const char *const charsets[] = {
		"utf-8", "iso-8859-1", "koi8-r", "shift_jis", "iso-2022-jp",
		"utf-16", "x-unknown",
	};
	struct mime_header_iter	 it;
	struct mime_field	 f;
	struct buf		 b;
	size_t			 i;

	buf_init(&b, 0, FUZZ_OUT_MAX);
	CHECK(mime_decode_qp(&b, msg, len) == 0);
	CHECK(b.len == mime_decoded_size(MIME_CTE_QP, msg, len));
	buf_reset(&b);
	CHECK(mime_decode_base64(&b, msg, len) == 0);
	CHECK(b.len == mime_decoded_size(MIME_CTE_BASE64, msg, len));
	buf_reset(&b);
	CHECK(mime_decode_header(&b, msg, len) == 0);
	CHECK(utf8_valid(b.data, b.len));
	for (i = 0; i < N_ELEMENTS(charsets); i++) {
		buf_reset(&b);
		CHECK(mime_to_utf8(&b, msg, len, charsets[i]) == 0);
		CHECK(utf8_valid(b.data, b.len));
	}
	buf_reset(&b);
	CHECK(mime_fold(&b, msg, len) == 0);
	CHECK(utf8_valid(b.data, b.len));
	buf_reset(&b);
	CHECK(mime_header_fields(&b, msg, len, names, 2, false) == 0);
	buf_reset(&b);
	CHECK(mime_header_fields(&b, msg, len, names, 2, true) == 0);
	mime_header_iter_init(&it, msg, len);
	while (mime_header_iter_next(&it, &f)) {
		CHECK(f.raw >= msg && f.raw + f.raw_len <= msg + len);
		CHECK(f.value >= f.raw && f.value + f.value_len <=
		    f.raw + f.raw_len);
		buf_reset(&b);
		CHECK(mime_header_unfold(&b, f.value, f.value_len) == 0);
		CHECK(memchr(b.data, '\n', b.len) == NULL);
	}
	buf_deinit(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mime_limits	 lim;
	struct mime_part	*root;
	struct buf		 b;
	const char		*msg;
	char			 spec[512];
	size_t			 len;
	unsigned		 ctl, flags = 0, count = 0;
	int			 ret;

	if (size < 1)
		return 0;
	ctl = data[0];
	msg = (const char *)data + 1;
	len = size - 1;
	if ((ctl & 0x01) != 0)
		flags |= IMAP_STR_UTF8;
	if ((ctl & 0x02) != 0)
		flags |= MIME_BS_MESSAGE_GLOBAL;
	mime_limits_default(&lim);
	if ((ctl & 0x04) != 0) {
		lim.max_depth = 3;
		lim.max_parts = 20;
		lim.max_header_size = 64;
		lim.max_params = 3;
	}
	ret = mime_parse(msg, len, &lim, &root);
	CHECK(root != NULL && root->msg == msg && root->msg_len == len);
	CHECK(root->hdr_off == 0 && root->body_off + root->body_len == len);
	check_part(root, 0, len, &count);
	CHECK(count <= lim.max_parts || ret == -1);

	buf_init(&b, 0, (ctl & 0x08) != 0 ? FUZZ_SMALL_OUT : FUZZ_OUT_MAX);
	if (mime_bodystructure(&b, root, true, flags) == 0)
		check_imap(&b, flags);
	else
		CHECK(b.len == 0 && (ctl & 0x08) != 0);
	buf_reset(&b);
	if (mime_bodystructure(&b, root, false, flags) == 0)
		check_imap(&b, flags);
	buf_reset(&b);
	if (mime_envelope(&b, msg + root->hdr_off, root->hdr_len, flags) == 0)
		check_imap(&b, flags);
	else
		CHECK(b.len == 0);
	buf_reset(&b);
	ret = mime_search_text(&b, root, MIME_SEARCH_BODY |
	    MIME_SEARCH_HEADER);
	CHECK(ret == 0 || (ctl & 0x08) != 0);
	buf_deinit(&b);

	spec[0] = '\0';
	check_section(root, "", root);
	visit_message(root, root, spec, 0);
	mime_free(&root);
	CHECK(root == NULL);

	fuzz_decoders(msg, len);
	return 0;
}
