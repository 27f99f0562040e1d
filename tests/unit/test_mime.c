/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for common/mime.c: header field iteration, lookup,
 * unfolding and HEADER.FIELDS(.NOT); the parse tree (offsets, sizes,
 * lines, defaults, multiparts with preamble, epilogue, missing and
 * unclosed boundaries, boundaries that prefix each other, parts cut in
 * their header, message/rfc822 and digests, LF-only mail, NUL bytes);
 * every limit at the maximum and one over (depth, parts, header size,
 * parameters); RFC 2231 parameters; the MIME fields; BODY and
 * BODYSTRUCTURE (IMAP4rev1 and rev2 forms, UTF-8, a full buffer);
 * ENVELOPE address forms; section lookup and ranges with every rule and
 * bad spec; the QP and base64 decoders and their sizes; charsets;
 * RFC 2047 words; case folding; the search text.  Then the corpus in
 * tests/unit/mime-corpus/: each NAME.eml is parsed and every line
 * "KEY value" of NAME.expected is compared exactly (see test_corpus).
 * The corpus is found through $srcdir (set by automake's test driver)
 * or else next to this file (__FILE__).
 */
#include "config.h"

#include <dirent.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "common/buf.h"
#include "common/imap_str.h"
#include "common/mime.h"
#include "common/utf8.h"
#include "common/xmalloc.h"

#include "common/banned.h"

#define S(s)		(s), (sizeof(s) - 1)
#define OUT_MAX		(16 * 1024 * 1024)

/* ---- helpers ----------------------------------------------------------- */

/* The contents of an embedded buf, which is then released. */
static char *
steal(struct buf *b)
{
	char	*s = buf_steal(b);

	buf_deinit(b);
	return s;
}

static struct mime_part *
parse(const char *msg, size_t len)
{
	struct mime_part	*root = NULL;

	ck_assert_int_eq(mime_parse(msg, len, NULL, &root), 0);
	ck_assert_ptr_nonnull(root);
	return root;
}

/* The BODYSTRUCTURE (or BODY) of a parsed message as a string. */
static char *
bs(const struct mime_part *root, bool ext, unsigned flags)
{
	struct buf	b;

	buf_init(&b, 0, OUT_MAX);
	ck_assert_int_eq(mime_bodystructure(&b, root, ext, flags), 0);
	return steal(&b);
}

static char *
env(const char *hdr, size_t len)
{
	struct buf	b;

	buf_init(&b, 0, OUT_MAX);
	ck_assert_int_eq(mime_envelope(&b, hdr, len, 0), 0);
	return steal(&b);
}

#define CHECK_BS(msg, ext, want) do {					\
	struct mime_part *r_ = parse(S(msg));				\
	char *s_ = bs(r_, ext, 0);					\
	ck_assert_str_eq(s_, want);					\
	free(s_);							\
	mime_free(&r_);							\
} while (0)

#define CHECK_ENV(hdr, want) do {					\
	char *s_ = env(S(hdr));						\
	ck_assert_str_eq(s_, want);					\
	free(s_);							\
} while (0)

/* fn(out, in, len) into a fresh buffer, compared with want. */
#define CHECK_DEC(fn, in, want) do {					\
	struct buf b_;							\
	buf_init(&b_, 0, OUT_MAX);					\
	ck_assert_int_eq(fn(&b_, S(in)), 0);				\
	ck_assert_uint_eq(b_.len, sizeof(want) - 1);			\
	ck_assert_mem_eq(b_.data, want, sizeof(want) - 1);		\
	buf_deinit(&b_);						\
} while (0)

#define CHECK_UTF8(in, cs, want) do {					\
	struct buf b_;							\
	buf_init(&b_, 0, OUT_MAX);					\
	ck_assert_int_eq(mime_to_utf8(&b_, S(in), cs), 0);		\
	ck_assert_uint_eq(b_.len, sizeof(want) - 1);			\
	ck_assert_mem_eq(b_.data, want, sizeof(want) - 1);		\
	buf_deinit(&b_);						\
} while (0)

/* The bytes of a section range, or NULL when it does not exist. */
static char *
section(const struct mime_part *root, const char *spec, enum mime_section w)
{
	size_t	off, len;

	if (mime_section_range(root, spec, strlen(spec), w, &off, &len) != 1)
		return NULL;
	return xstrndup(root->msg + off, len);
}

#define CHECK_SEC(root, spec, w, want) do {				\
	char *s_ = section(root, spec, w);				\
	ck_assert_ptr_nonnull(s_);					\
	ck_assert_str_eq(s_, want);					\
	free(s_);							\
} while (0)

#define CHECK_NOSEC(root, spec, w) do {					\
	size_t o_, l_;							\
	ck_assert_int_eq(mime_section_range(root, spec, strlen(spec), w,\
	    &o_, &l_), 0);						\
} while (0)

/* ---- header fields ----------------------------------------------------- */

START_TEST(test_header_iter)
{
	static const char hdr[] =
	    " stray continuation\r\n"
	    "Subject: hello\r\n"
	    "  world\r\n"
	    "no colon line\r\n"
	    "From sender@example.com Mon May 27 10:00:00 2024\r\n"
	    "\tits continuation: x\r\n"
	    ": no name\r\n"
	    "X-Spaced  :  v  \r\n"
	    "X-Empty:\r\n"
	    "X-Fold:\r\n"
	    " folded only\n"
	    "X-Nul: a\0b\r\n"
	    "\r\n"
	    "After: blank\r\n";
	struct mime_header_iter	it;
	struct mime_field	f;

	mime_header_iter_init(&it, S(hdr));
	ck_assert(mime_header_iter_next(&it, &f));
	ck_assert_mem_eq(f.name, "Subject", f.name_len);
	ck_assert_uint_eq(f.name_len, 7);
	ck_assert_uint_eq(f.value_len, 14);
	ck_assert_mem_eq(f.value, "hello\r\n  world", 14);
	ck_assert_uint_eq(f.raw_len, 25);
	ck_assert_mem_eq(f.raw, "Subject: hello\r\n  world\r\n", 25);
	ck_assert(mime_header_iter_next(&it, &f));
	ck_assert_uint_eq(f.name_len, 8);
	ck_assert_mem_eq(f.name, "X-Spaced", 8);
	ck_assert_uint_eq(f.value_len, 3);
	ck_assert_mem_eq(f.value, "v  ", 3);
	ck_assert(mime_header_iter_next(&it, &f));
	ck_assert_mem_eq(f.name, "X-Empty", 7);
	ck_assert_uint_eq(f.value_len, 0);
	ck_assert(mime_header_iter_next(&it, &f));
	ck_assert_mem_eq(f.name, "X-Fold", 6);
	ck_assert_uint_eq(f.value_len, 11);
	ck_assert_mem_eq(f.value, "folded only", 11);
	ck_assert(mime_header_iter_next(&it, &f));
	ck_assert_uint_eq(f.value_len, 3);
	ck_assert_mem_eq(f.value, "a\0b", 3);
	ck_assert(!mime_header_iter_next(&it, &f));
	ck_assert(!mime_header_iter_next(&it, &f));

	/* A last field without a line end; an empty header. */
	mime_header_iter_init(&it, S("A: 1\nB: 2"));
	ck_assert(mime_header_iter_next(&it, &f));
	ck_assert(mime_header_iter_next(&it, &f));
	ck_assert_uint_eq(f.raw_len, 4);
	ck_assert_uint_eq(f.value_len, 1);
	ck_assert(!mime_header_iter_next(&it, &f));
	mime_header_iter_init(&it, "", 0);
	ck_assert(!mime_header_iter_next(&it, &f));
	mime_header_iter_init(&it, S("\nA: 1\n"));
	ck_assert(!mime_header_iter_next(&it, &f));
}
END_TEST

START_TEST(test_header_find_unfold)
{
	static const char hdr[] = "To: a\r\nSUBJECT: first\r\n\tline\r\n"
	    "subject: second\r\n\r\nSubject: body\r\n";
	struct mime_field	f;
	struct buf		b;

	ck_assert_int_eq(mime_header_find(S(hdr), "subject", &f), 1);
	ck_assert_mem_eq(f.value, "first", 5);
	ck_assert_int_eq(mime_header_find(S(hdr), "cc", &f), 0);
	ck_assert_int_eq(mime_header_find(S(hdr), "subjec", &f), 0);
	ck_assert_int_eq(mime_header_find(S(hdr), "subjects", &f), 0);

	buf_init(&b, 0, 64);
	ck_assert_int_eq(mime_header_unfold(&b, S("  a\r\n b\n\tc \r\n ")), 0);
	ck_assert_str_eq(b.data, "a b\tc");
	buf_reset(&b);
	ck_assert_int_eq(mime_header_unfold(&b, S(" \r\n ")), 0);
	ck_assert_uint_eq(b.len, 0);
	buf_deinit(&b);
	buf_init(&b, 0, 2);
	ck_assert_int_eq(mime_header_unfold(&b, S("ab")), 0);
	ck_assert_int_eq(mime_header_unfold(&b, S("c")), -1);
	buf_deinit(&b);
}
END_TEST

START_TEST(test_header_fields)
{
	static const char hdr[] =
	    "From: a@b\r\n"
	    "Subject: x\r\n"
	    " y\r\n"
	    "To: c@d\r\n"
	    "subject: again\r\n"
	    "\r\n";
	static const char *const names[] = { "SUBJECT", "cc" };
	static const char *const none[] = { "x-none" };
	struct buf	b;

	buf_init(&b, 0, OUT_MAX);
	ck_assert_int_eq(mime_header_fields(&b, S(hdr), names, 2, false), 0);
	ck_assert_str_eq(b.data, "Subject: x\r\n y\r\nsubject: again\r\n\r\n");
	buf_reset(&b);
	ck_assert_int_eq(mime_header_fields(&b, S(hdr), names, 2, true), 0);
	ck_assert_str_eq(b.data, "From: a@b\r\nTo: c@d\r\n\r\n");
	buf_reset(&b);
	ck_assert_int_eq(mime_header_fields(&b, S(hdr), none, 1, false), 0);
	ck_assert_str_eq(b.data, "\r\n");
	buf_reset(&b);
	ck_assert_int_eq(mime_header_fields(&b, S(hdr), NULL, 0, true), 0);
	ck_assert_str_eq(b.data, "From: a@b\r\nSubject: x\r\n y\r\nTo: c@d\r\n"
	    "subject: again\r\n\r\n");
	/* A field without a line end gets CRLF; LF-only stays as it is. */
	buf_reset(&b);
	ck_assert_int_eq(mime_header_fields(&b, S("A: 1\nB: 2"), none, 1,
	    true), 0);
	ck_assert_str_eq(b.data, "A: 1\nB: 2\r\n\r\n");
	buf_deinit(&b);

	/* The exact room, and one byte less. */
	buf_init(&b, 0, 22);
	ck_assert_int_eq(mime_header_fields(&b, S(hdr), names, 2, true), 0);
	buf_deinit(&b);
	buf_init(&b, 0, 21);
	ck_assert_int_eq(mime_header_fields(&b, S(hdr), names, 2, true), -1);
	buf_deinit(&b);
}
END_TEST

/* ---- the tree ---------------------------------------------------------- */

START_TEST(test_parse_simple)
{
	static const char msg[] = "Subject: x\r\n\r\nline 1\r\nline 2\r\n";
	static const char lf[] = "Subject: x\n\nline 1\nline 2";
	struct mime_part	*root;

	root = parse(S(msg));
	ck_assert_ptr_eq(root->msg, msg);
	ck_assert_uint_eq(root->msg_len, sizeof(msg) - 1);
	ck_assert_uint_eq(root->hdr_off, 0);
	ck_assert_uint_eq(root->hdr_len, 14);
	ck_assert_uint_eq(root->body_off, 14);
	ck_assert_uint_eq(root->body_len, 16);
	ck_assert_uint_eq(mime_part_lines(root), 2);
	ck_assert_str_eq(root->type.data, "text");
	ck_assert_str_eq(root->subtype.data, "plain");
	ck_assert_uint_eq(root->flags, MIME_PART_TEXT);
	ck_assert_str_eq(mime_part_charset(root), "us-ascii");
	ck_assert_int_eq(root->cte, MIME_CTE_7BIT);
	ck_assert_ptr_null(root->cte_name.data);
	ck_assert_ptr_null(root->parent);
	ck_assert_uint_eq(root->nchildren, 0);
	ck_assert_ptr_eq(mime_part_top(root), root);
	mime_free(&root);
	ck_assert_ptr_null(root);
	mime_free(&root);

	root = parse(S(lf));
	ck_assert_uint_eq(root->hdr_len, 12);
	ck_assert_uint_eq(root->body_len, 13);
	ck_assert_uint_eq(mime_part_lines(root), 1);
	mime_free(&root);

	/* Empty, header only, body only. */
	root = parse("", 0);
	ck_assert_uint_eq(root->hdr_len + root->body_len, 0);
	mime_free(&root);
	root = parse(S("A: b\r\nC: d\r\n"));
	ck_assert_uint_eq(root->hdr_len, 12);
	ck_assert_uint_eq(root->body_off, 12);
	ck_assert_uint_eq(root->body_len, 0);
	mime_free(&root);
	root = parse(S("\r\nbody"));
	ck_assert_uint_eq(root->hdr_len, 2);
	ck_assert_uint_eq(root->body_len, 4);
	mime_free(&root);
	/* NUL bytes anywhere. */
	root = parse(S("Content-Type: text/html\0x\r\n\r\n\0\0\n"));
	ck_assert_str_eq(root->subtype.data, "html");
	ck_assert_uint_eq(root->body_len, 3);
	ck_assert_uint_eq(mime_part_lines(root), 1);
	mime_free(&root);
}
END_TEST

static const char mp_msg[] =
    "Content-Type: multipart/mixed; boundary=\"outer\"\r\n"
    "\r\n"
    "preamble\r\n"
    "--outer\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "\r\n"
    "first\r\n"
    "--outer \t\r\n"
    "Content-Type: multipart/alternative; boundary=outer-inner\r\n"
    "\r\n"
    "--outer-inner\r\n"
    "\r\n"
    "alt 1\r\n"
    "--outer-inner\r\n"
    "Content-Type: text/html\r\n"
    "\r\n"
    "alt 2\r\n"
    "--outer\r\n"
    "Content-Type: message/rfc822\r\n"
    "\r\n"
    "Subject: inner\r\n"
    "\r\n"
    "inner body\r\n"
    "--outer--\r\n"
    "epilogue\r\n"
    "--outer\r\n"
    "not a part\r\n";

START_TEST(test_parse_multipart)
{
	struct mime_part	*root, *p, *alt;
	const struct mime_part	*f;

	root = parse(S(mp_msg));
	ck_assert_uint_eq(root->flags, MIME_PART_MULTIPART | MIME_PART_HAS_TYPE);
	ck_assert_uint_eq(root->nchildren, 3);
	p = root->children[0];
	ck_assert_ptr_eq(p->parent, root);
	ck_assert_ptr_eq(p->next, root->children[1]);
	ck_assert_uint_eq(p->depth, 1);
	ck_assert_str_eq(mime_part_charset(p), "utf-8");
	ck_assert_mem_eq(mp_msg + p->body_off, "first", 5);
	ck_assert_uint_eq(p->body_len, 5);
	ck_assert_uint_eq(mime_part_lines(p), 0);
	/* The longest boundary wins: "--outer-inner" is the inner one. */
	alt = root->children[1];
	ck_assert_uint_eq(alt->nchildren, 2);
	ck_assert_str_eq(alt->subtype.data, "alternative");
	ck_assert_uint_eq(alt->children[0]->body_len, 5);
	ck_assert_mem_eq(mp_msg + alt->children[1]->body_off, "alt 2", 5);
	ck_assert_uint_eq(alt->children[1]->body_len, 5);
	ck_assert_ptr_null(alt->children[1]->next);
	/* The unclosed inner multipart ends at the outer boundary. */
	ck_assert_uint_eq(alt->body_off + alt->body_len,
	    alt->children[1]->body_off + 5);
	p = root->children[2];
	ck_assert_uint_eq(p->flags, MIME_PART_MESSAGE | MIME_PART_HAS_TYPE);
	ck_assert_ptr_nonnull(p->message);
	ck_assert_ptr_eq(p->message->parent, p);
	ck_assert_uint_eq(p->message->depth, 2);
	ck_assert_uint_eq(p->body_len, 28);
	ck_assert_uint_eq(p->message->hdr_len, 18);
	ck_assert_uint_eq(p->message->body_len, 10);
	ck_assert_ptr_eq(mime_part_top(p->message), root);
	/* Epilogue: the root's body runs to the end. */
	ck_assert_uint_eq(root->body_off + root->body_len, sizeof(mp_msg) - 1);

	ck_assert_int_eq(mime_section_find(root, S("2.2"), &f), 1);
	ck_assert_ptr_eq(f, alt->children[1]);
	mime_free(&root);
}
END_TEST

START_TEST(test_parse_broken)
{
	struct mime_part	*root;

	/* No boundary parameter, empty boundary, boundary never seen. */
	root = parse(S("Content-Type: multipart/mixed\r\n\r\n--\r\nx\r\n"));
	ck_assert_uint_eq(root->nchildren, 0);
	ck_assert_uint_eq(root->body_len, 7);
	mime_free(&root);
	root = parse(S("Content-Type: multipart/mixed; boundary=\"\"\r\n\r\n"
	    "--\r\n\r\nx\r\n"));
	ck_assert_uint_eq(root->nchildren, 0);
	mime_free(&root);
	root = parse(S("Content-Type: multipart/mixed; boundary=b\r\n\r\n"
	    "--a\r\n\r\nx\r\n"));
	ck_assert_uint_eq(root->nchildren, 0);
	mime_free(&root);

	/* Boundary at the very start of the body, right after the header. */
	root = parse(S("Content-Type: multipart/mixed; boundary=b\n\n--b\n"
	    "\n1\n--b\nContent-Type: text/html\n--b\n--b--"));
	ck_assert_uint_eq(root->nchildren, 3);
	ck_assert_uint_eq(root->children[0]->body_len, 1);
	/* Cut in its header: the header keeps the line end. */
	ck_assert_uint_eq(root->children[1]->hdr_len, 24);
	ck_assert_uint_eq(root->children[1]->body_len, 0);
	ck_assert_str_eq(root->children[1]->subtype.data, "html");
	/* A part with nothing at all. */
	ck_assert_uint_eq(root->children[2]->hdr_len, 0);
	ck_assert_uint_eq(root->children[2]->body_len, 0);
	mime_free(&root);

	/* A boundary line with no line end at the end of the message. */
	root = parse(S("Content-Type: multipart/mixed; boundary=b\r\n\r\n"
	    "--b\r\n\r\nlast\r\n--b"));
	ck_assert_uint_eq(root->nchildren, 2);
	ck_assert_uint_eq(root->children[0]->body_len, 4);
	mime_free(&root);

	/* Lines that only start like a boundary do end parts (prefix). */
	root = parse(S("Content-Type: multipart/mixed; boundary=b\r\n\r\n"
	    "--b\r\n\r\nx\r\n--bogus\r\ny\r\n"));
	ck_assert_uint_eq(root->nchildren, 2);
	ck_assert_uint_eq(root->children[0]->body_len, 1);
	mime_free(&root);

	/* A parent's boundary ends a message/rfc822 still in its header. */
	root = parse(S("Content-Type: multipart/mixed; boundary=b\r\n\r\n"
	    "--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: x\r\n"
	    "--b--\r\n"));
	ck_assert_uint_eq(root->nchildren, 1);
	ck_assert_uint_eq(root->children[0]->body_len, 12);
	ck_assert_uint_eq(root->children[0]->message->hdr_len, 12);
	ck_assert_uint_eq(root->children[0]->message->body_len, 0);
	mime_free(&root);

	/* Invalid Content-Type fields are text/plain. */
	root = parse(S("Content-Type: text\r\n\r\n"));
	ck_assert_str_eq(root->type.data, "text");
	ck_assert_str_eq(root->subtype.data, "plain");
	ck_assert_uint_eq(root->flags & MIME_PART_HAS_TYPE, 0);
	mime_free(&root);
	root = parse(S("Content-Type: /html\r\n\r\n"));
	ck_assert_str_eq(root->subtype.data, "plain");
	mime_free(&root);
	root = parse(S("Content-Type: (c) Text (c) / (c) HTML (c) ;x=y\r\n\r\n"));
	ck_assert_str_eq(root->type.data, "Text");
	ck_assert_str_eq(root->subtype.data, "HTML");
	ck_assert_uint_eq(root->nparams, 1);
	mime_free(&root);
	/* The first Content-Type counts. */
	root = parse(S("Content-type: image/png\r\nContent-Type: text/html\r\n"
	    "\r\n"));
	ck_assert_str_eq(root->type.data, "image");
	ck_assert_uint_eq(root->flags & MIME_PART_TEXT, 0);
	mime_free(&root);
}
END_TEST

START_TEST(test_parse_digest)
{
	static const char msg[] =
	    "Content-Type: multipart/digest; boundary=d\r\n\r\n"
	    "--d\r\n\r\nSubject: one\r\n\r\n1\r\n"
	    "--d\r\nContent-Type: text/plain\r\n\r\n2\r\n--d--\r\n";
	struct mime_part	*root;
	char			*s;

	root = parse(S(msg));
	ck_assert_uint_eq(root->nchildren, 2);
	ck_assert_str_eq(root->children[0]->type.data, "message");
	ck_assert_str_eq(root->children[0]->subtype.data, "rfc822");
	ck_assert_ptr_nonnull(root->children[0]->message);
	ck_assert_str_eq(root->children[1]->type.data, "text");
	s = bs(root, false, 0);
	ck_assert_str_eq(s, "((\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 17 "
	    "(NIL \"one\" NIL NIL NIL NIL NIL NIL NIL NIL) (\"text\" \"plain\" "
	    "(\"charset\" \"us-ascii\") NIL NIL \"7bit\" 1 0) 2)(\"text\" "
	    "\"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 1 0) "
	    "\"digest\")");
	free(s);
	mime_free(&root);
}
END_TEST

/* ---- limits ------------------------------------------------------------ */

/* n message/rfc822 parts, each inside the one before. */
static char *
nested_messages(unsigned n, size_t *len_r)
{
	struct buf	b;
	unsigned	i;

	buf_init(&b, 0, OUT_MAX);
	for (i = 0; i < n; i++)
		ck_assert_int_eq(buf_append_str(&b,
		    "Content-Type: message/rfc822\r\n\r\n"), 0);
	ck_assert_int_eq(buf_append_str(&b, "Subject: deepest\r\n\r\nx\r\n"), 0);
	*len_r = b.len;
	return steal(&b);
}

START_TEST(test_limit_depth)
{
	struct mime_limits	 lim;
	struct mime_part	*root;
	const struct mime_part	*p;
	char			*msg, *s;
	size_t			 len;
	unsigned		 d;

	mime_limits_default(&lim);
	ck_assert_uint_eq(lim.max_depth, MIME_DEFAULT_MAX_DEPTH);
	/* 32 message parts: the deepest message (depth 32) exists. */
	msg = nested_messages(MIME_DEFAULT_MAX_DEPTH, &len);
	ck_assert_int_eq(mime_parse(msg, len, &lim, &root), 0);
	for (p = root, d = 0; p->message != NULL; p = p->message, d++)
		ck_assert_uint_eq(p->flags & MIME_PART_TRUNCATED, 0);
	ck_assert_uint_eq(d, MIME_DEFAULT_MAX_DEPTH);
	ck_assert_uint_eq(p->depth, MIME_DEFAULT_MAX_DEPTH);
	ck_assert_uint_eq(p->flags & MIME_PART_MESSAGE, 0);
	mime_free(&root);
	free(msg);

	/* 33: the part at depth 32 is a message with no message parsed. */
	msg = nested_messages(MIME_DEFAULT_MAX_DEPTH + 1, &len);
	ck_assert_int_eq(mime_parse(msg, len, NULL, &root), 0);
	for (p = root, d = 0; p->message != NULL; p = p->message, d++)
		;
	ck_assert_uint_eq(d, MIME_DEFAULT_MAX_DEPTH);
	ck_assert_uint_eq(p->flags, MIME_PART_MESSAGE | MIME_PART_HAS_TYPE |
	    MIME_PART_TRUNCATED);
	ck_assert_int_eq(mime_section_find(root, S("1.1.1"), &p), 1);
	s = bs(root, true, 0);
	ck_assert_ptr_nonnull(strstr(s, "(\"message\" \"rfc822\" NIL NIL NIL "
	    "\"7bit\" 23 (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) (\"text\" "
	    "\"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL "
	    "NIL NIL) 3 NIL NIL NIL NIL)"));
	free(s);
	mime_free(&root);
	free(msg);

	/*
	 * Multiparts count too: depth 1 allows one level of parts.  The
	 * inner boundary is not looked for, so its lines "--outer-inner"
	 * now start parts of the outer multipart (prefix match).
	 */
	lim.max_depth = 1;
	ck_assert_int_eq(mime_parse(S(mp_msg), &lim, &root), 0);
	ck_assert_uint_eq(root->nchildren, 5);
	ck_assert_uint_eq(root->children[1]->nchildren, 0);
	ck_assert(root->children[1]->flags & MIME_PART_TRUNCATED);
	ck_assert_ptr_null(root->children[4]->message);
	ck_assert(root->children[4]->flags & MIME_PART_TRUNCATED);
	mime_free(&root);
	lim.max_depth = 0;
	ck_assert_int_eq(mime_parse(S(mp_msg), &lim, &root), 0);
	ck_assert_uint_eq(root->nchildren, 0);
	ck_assert_uint_eq(root->body_len, sizeof(mp_msg) - 1 - root->body_off);
	mime_free(&root);
	/* A silly maximum is clamped, not an allocation of that size. */
	lim.max_depth = UINT32_MAX;
	ck_assert_int_eq(mime_parse(S(mp_msg), &lim, &root), 0);
	mime_free(&root);
}
END_TEST

/* A multipart with n empty parts. */
static char *
many_parts(unsigned n, size_t *len_r)
{
	struct buf	b;
	unsigned	i;

	buf_init(&b, 0, OUT_MAX);
	ck_assert_int_eq(buf_append_str(&b,
	    "Subject: many\r\nContent-Type: multipart/mixed; boundary=x\r\n"
	    "\r\n"), 0);
	for (i = 0; i < n; i++)
		ck_assert_int_eq(buf_append_str(&b, "--x\r\n\r\np\r\n"), 0);
	ck_assert_int_eq(buf_append_str(&b, "--x--\r\n"), 0);
	*len_r = b.len;
	return steal(&b);
}

START_TEST(test_limit_parts)
{
	struct mime_limits	 lim;
	struct mime_part	*root;
	char			*msg;
	size_t			 len;

	/* Root plus 9999 parts: 10000 exactly. */
	msg = many_parts(MIME_DEFAULT_MAX_PARTS - 1, &len);
	ck_assert_int_eq(mime_parse(msg, len, NULL, &root), 0);
	ck_assert_uint_eq(root->nchildren, MIME_DEFAULT_MAX_PARTS - 1);
	ck_assert_uint_eq(root->children[MIME_DEFAULT_MAX_PARTS - 2]->body_len,
	    1);
	mime_free(&root);
	free(msg);

	/* One more: -1 and the single text/plain fallback. */
	msg = many_parts(MIME_DEFAULT_MAX_PARTS, &len);
	ck_assert_int_eq(mime_parse(msg, len, NULL, &root), -1);
	ck_assert_ptr_nonnull(root);
	ck_assert_uint_eq(root->nchildren, 0);
	ck_assert_uint_eq(root->flags, MIME_PART_TEXT);
	ck_assert_str_eq(root->subtype.data, "plain");
	ck_assert_uint_eq(root->hdr_len, 60);
	ck_assert_uint_eq(root->body_off, 60);
	ck_assert_uint_eq(root->body_len, len - 60);
	ck_assert_ptr_eq(root->msg, msg);
	mime_free(&root);
	free(msg);

	/* Small limits: embedded messages count. */
	mime_limits_default(&lim);
	lim.max_parts = 3;
	ck_assert_int_eq(mime_parse(S("Content-Type: message/rfc822\n\n"
	    "Content-Type: message/rfc822\n\nx"), &lim, &root), 0);
	mime_free(&root);
	lim.max_parts = 2;
	ck_assert_int_eq(mime_parse(S("Content-Type: message/rfc822\n\n"
	    "Content-Type: message/rfc822\n\nx"), &lim, &root), -1);
	ck_assert_uint_eq(root->body_len, 31);
	mime_free(&root);
	lim.max_parts = 0;
	ck_assert_int_eq(mime_parse(S("A: b\n\nc"), &lim, &root), -1);
	ck_assert_uint_eq(root->hdr_len, 6);
	mime_free(&root);
}
END_TEST

START_TEST(test_limit_header)
{
	static const char msg[] =
	    "Content-Type: text/html\r\n"		/* 25 bytes */
	    "Content-ID: <1@x>\r\n"			/* 19 */
	    "\r\nbody";
	struct mime_limits	 lim;
	struct mime_part	*root;

	mime_limits_default(&lim);
	lim.max_header_size = 44;
	ck_assert_int_eq(mime_parse(S(msg), &lim, &root), 0);
	ck_assert_str_eq(root->id.data, "<1@x>");
	ck_assert_uint_eq(root->flags & MIME_PART_HEADER_CUT, 0);
	ck_assert_uint_eq(root->hdr_len, 46);
	mime_free(&root);
	/*
	 * One byte less: the header still ends at its empty line, but the
	 * last field is cut (here only its line end); further in, the
	 * value itself is read cut.
	 */
	lim.max_header_size = 43;
	ck_assert_int_eq(mime_parse(S(msg), &lim, &root), 0);
	ck_assert_str_eq(root->id.data, "<1@x>");
	ck_assert(root->flags & MIME_PART_HEADER_CUT);
	ck_assert_uint_eq(root->hdr_len, 46);
	ck_assert_uint_eq(root->body_len, 4);
	mime_free(&root);
	lim.max_header_size = 41;
	ck_assert_int_eq(mime_parse(S(msg), &lim, &root), 0);
	ck_assert_str_eq(root->id.data, "<1@x");
	mime_free(&root);
	/* Fields past the limit are not read at all. */
	lim.max_header_size = 25;
	ck_assert_int_eq(mime_parse(S(msg), &lim, &root), 0);
	ck_assert_str_eq(root->subtype.data, "html");
	ck_assert_ptr_null(root->id.data);
	mime_free(&root);
	lim.max_header_size = 0;
	ck_assert_int_eq(mime_parse(S(msg), &lim, &root), 0);
	ck_assert_str_eq(root->subtype.data, "plain");
	mime_free(&root);
}
END_TEST

START_TEST(test_limit_params)
{
	struct mime_limits	 lim;
	struct mime_part	*root;
	struct buf		 b;
	unsigned		 i;

	buf_init(&b, 0, OUT_MAX);
	ck_assert_int_eq(buf_append_str(&b, "Content-Type: text/plain"), 0);
	for (i = 0; i < MIME_DEFAULT_MAX_PARAMS + 1; i++)
		ck_assert_int_eq(buf_printf(&b, "; p%u=%u", i, i), 0);
	ck_assert_int_eq(buf_append_str(&b, "\r\nContent-Language: "), 0);
	for (i = 0; i < MIME_DEFAULT_MAX_PARAMS + 1; i++)
		ck_assert_int_eq(buf_printf(&b, "l%u, ", i), 0);
	ck_assert_int_eq(buf_append_str(&b, "\r\n\r\n"), 0);
	ck_assert_int_eq(mime_parse(b.data, b.len, NULL, &root), 0);
	ck_assert_uint_eq(root->nparams, MIME_DEFAULT_MAX_PARAMS);
	ck_assert_str_eq(root->params[MIME_DEFAULT_MAX_PARAMS - 1].value.data,
	    "127");
	ck_assert_uint_eq(root->nlanguages, MIME_DEFAULT_MAX_PARAMS);
	ck_assert_str_eq(root->languages[MIME_DEFAULT_MAX_PARAMS - 1].data,
	    "l127");
	mime_free(&root);

	mime_limits_default(&lim);
	lim.max_params = 0;
	ck_assert_int_eq(mime_parse(b.data, b.len, &lim, &root), 0);
	ck_assert_uint_eq(root->nparams, 0);
	ck_assert_uint_eq(root->nlanguages, 0);
	mime_free(&root);
	buf_deinit(&b);

	/* RFC 2231 sections up to max_params - 1 can be joined. */
	lim.max_params = 3;
	ck_assert_int_eq(mime_parse(S("Content-Type: a/b; n*0=a; n*1=b; "
	    "n*2=c; n*3=d\r\n\r\n"), &lim, &root), 0);
	ck_assert_uint_eq(root->nparams, 1);
	ck_assert_str_eq(root->params[0].value.data, "abc");
	mime_free(&root);
}
END_TEST

/* ---- fields and parameters --------------------------------------------- */

START_TEST(test_params)
{
	static const char msg[] =
	    "Content-Type: application/x; name*0=\"long \"; name*1=\"name\";"
	    " name=plain;\r\n"
	    " title*=us-ascii'en'This%20is%20%2A%2Afun%2A%2A;\r\n"
	    " f*0*=UTF-8''%E6%97%A5; f*1*=%e6%9c%ac; f*2=\".pdf 100%\";\r\n"
	    " gap*0=a; gap*2=c; nozero*1=x; l*=iso-8859-1'de'M%FCller;\r\n"
	    " q=\"a\\\"b\\\\c\r\n d\"; (comment) c = (x) v (y) ; bad; =x; a*b=1;"
	    " u*=''%41%zz%4; boundary=----=_Part_1\r\n"
	    "Content-Disposition: Attachment; FILENAME=\"x.txt\";"
	    " filename*=utf-8''%C3%A4.txt\r\n"
	    "\r\n";
	struct mime_part	*root;
	const struct mime_param	*pm;

	root = parse(S(msg));
	ck_assert_uint_eq(root->nparams, 11);
	pm = &root->params[0];
	ck_assert(pm->rfc2231);
	ck_assert_str_eq(pm->name.data, "name");
	ck_assert_str_eq(pm->value.data, "long name");
	ck_assert_str_eq(pm->imap_name.data, "name");
	ck_assert_str_eq(pm->imap_value.data, "long name");
	ck_assert_ptr_null(pm->lang.data);
	/* The RFC 2231 one is preferred over the plain "name". */
	ck_assert_ptr_eq(mime_part_param(root, "NAME"), pm);
	ck_assert_str_eq(root->params[1].value.data, "plain");
	ck_assert(!root->params[1].rfc2231);
	pm = mime_part_param(root, "title");
	ck_assert_str_eq(pm->value.data, "This is **fun**");
	ck_assert_str_eq(pm->lang.data, "en");
	ck_assert_str_eq(pm->imap_name.data, "title*");
	ck_assert_str_eq(pm->imap_value.data,
	    "us-ascii'en'This%20is%20%2A%2Afun%2A%2A");
	pm = mime_part_param(root, "f");
	ck_assert_str_eq(pm->value.data, "\xe6\x97\xa5\xe6\x9c\xac.pdf 100%");
	ck_assert_str_eq(pm->imap_value.data,
	    "UTF-8''%E6%97%A5%e6%9c%ac.pdf%20100%25");
	/* A gap ends the sections; no section 0: dropped. */
	ck_assert_str_eq(mime_part_param(root, "gap")->value.data, "a");
	ck_assert_ptr_null(mime_part_param(root, "nozero"));
	pm = mime_part_param(root, "l");
	ck_assert_str_eq(pm->value.data, "M\xc3\xbcller");
	ck_assert_str_eq(pm->lang.data, "de");
	ck_assert_str_eq(mime_part_param(root, "q")->value.data,
	    "a\"b\\c d");
	ck_assert_str_eq(mime_part_param(root, "c")->value.data, "v");
	ck_assert_ptr_null(mime_part_param(root, "bad"));
	ck_assert_str_eq(mime_part_param(root, "a*b")->value.data, "1");
	pm = mime_part_param(root, "u");
	ck_assert_str_eq(pm->value.data, "A%zz%4");
	ck_assert_str_eq(pm->imap_value.data, "''%41%zz%4");
	ck_assert_str_eq(mime_part_param(root, "boundary")->value.data,
	    "----=_Part_1");
	ck_assert_ptr_null(mime_part_param(root, "missing"));
	ck_assert_str_eq(root->disposition.data, "Attachment");
	ck_assert_uint_eq(root->ndisp_params, 2);
	ck_assert_str_eq(mime_part_disp_param(root, "filename")->value.data,
	    "\xc3\xa4.txt");
	ck_assert_ptr_null(mime_part_disp_param(root, "size"));
	mime_free(&root);
}
END_TEST

START_TEST(test_mime_fields)
{
	static const char msg[] =
	    "Content-Type: text/plain; charset=\"\"\r\n"
	    "Content-ID:  <id@x>\r\n"
	    "content-description: a\r\n  b \r\n"
	    "Content-Transfer-Encoding: (c) BASE64 (d)\r\n"
	    "Content-MD5: abc=\r\n"
	    "Content-Disposition: inline\r\n"
	    "Content-Language: en (English), , de;x\r\n"
	    "Content-Location: \r\n"
	    "Content-Other: x\r\n"
	    "\r\n";
	static const struct {
		const char	*value;
		enum mime_cte	 cte;
	} ctes[] = {
		{ "7bit", MIME_CTE_7BIT }, { "8Bit", MIME_CTE_8BIT },
		{ "binary", MIME_CTE_BINARY },
		{ "quoted-printable", MIME_CTE_QP },
		{ "x-uuencode", MIME_CTE_UNKNOWN }, { "", MIME_CTE_7BIT },
	};
	struct mime_part	*root;
	struct buf		 b;
	size_t			 i;

	root = parse(S(msg));
	/* An empty charset is the default. */
	ck_assert_str_eq(mime_part_charset(root), "us-ascii");
	ck_assert_str_eq(root->id.data, "<id@x>");
	ck_assert_str_eq(root->description.data, "a  b");
	ck_assert_str_eq(root->cte_name.data, "BASE64");
	ck_assert_int_eq(root->cte, MIME_CTE_BASE64);
	ck_assert_str_eq(root->md5.data, "abc=");
	ck_assert_str_eq(root->disposition.data, "inline");
	ck_assert_uint_eq(root->ndisp_params, 0);
	ck_assert_uint_eq(root->nlanguages, 3);
	ck_assert_str_eq(root->languages[0].data, "en");
	ck_assert_str_eq(root->languages[1].data, "de");
	ck_assert_str_eq(root->languages[2].data, "x");
	ck_assert_ptr_null(root->location.data);
	mime_free(&root);

	buf_init(&b, 0, 256);
	for (i = 0; i < N_ELEMENTS(ctes); i++) {
		buf_reset(&b);
		ck_assert_int_eq(buf_printf(&b,
		    "Content-Transfer-Encoding: %s\r\n\r\n", ctes[i].value), 0);
		ck_assert_int_eq(mime_parse(b.data, b.len, NULL, &root), 0);
		ck_assert_int_eq(root->cte, ctes[i].cte);
		mime_free(&root);
	}
	buf_deinit(&b);
}
END_TEST

/* ---- BODY / BODYSTRUCTURE ---------------------------------------------- */

START_TEST(test_bodystructure)
{
	struct mime_part	*root;
	struct buf		 b;
	char			*s, *full;
	size_t			 n;

	CHECK_BS("Subject: x\r\n\r\nbody\r\n", true,
	    "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" "
	    "6 1 NIL NIL NIL NIL)");
	CHECK_BS("Content-Type: text/plain; format=flowed\r\n\r\n", false,
	    "(\"text\" \"plain\" (\"format\" \"flowed\" \"charset\" "
	    "\"us-ascii\") NIL NIL \"7bit\" 0 0)");
	CHECK_BS("Content-Type: image/png\r\nContent-ID: <a>\r\n"
	    "Content-Description: d\r\nContent-MD5: m\r\n"
	    "Content-Transfer-Encoding: base64\r\n"
	    "Content-Disposition: inline; filename=a.png\r\n"
	    "Content-Language: en\r\nContent-Location: http://x/\r\n\r\n"
	    "AAAA\r\n", true,
	    "(\"image\" \"png\" NIL \"<a>\" \"d\" \"base64\" 6 \"m\" "
	    "(\"inline\" (\"filename\" \"a.png\")) (\"en\") \"http://x/\")");
	/* Multipart: no space between parts; extension data. */
	CHECK_BS("Content-Type: multipart/mixed; boundary=b\r\n"
	    "Content-Disposition: inline\r\nContent-Language: en, fr\r\n\r\n"
	    "--b\r\n\r\n1\r\n--b\r\nContent-Type: text/html\r\n\r\n2\r\n--b--\r\n",
	    true,
	    "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" "
	    "1 0 NIL NIL NIL NIL)(\"text\" \"html\" (\"charset\" \"us-ascii\") "
	    "NIL NIL \"7bit\" 1 0 NIL NIL NIL NIL) \"mixed\" (\"boundary\" "
	    "\"b\") (\"inline\" NIL) (\"en\" \"fr\") NIL)");
	/* A multipart without parts shows an empty text/plain, as Dovecot. */
	CHECK_BS("Content-Type: multipart/mixed\r\n\r\nx\r\n", true,
	    "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" "
	    "0 0 NIL NIL NIL NIL) \"mixed\" NIL NIL NIL NIL)");
	CHECK_BS("Content-Type: multipart/mixed\r\n\r\nx\r\n", false,
	    "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" "
	    "0 0) \"mixed\")");
	/* message/rfc822 with its envelope, body and lines. */
	CHECK_BS("Content-Type: message/rfc822\r\n\r\nSubject: s\r\n"
	    "From: a@b\r\n\r\nx\r\n", false,
	    "(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 28 (NIL \"s\" "
	    "((NIL NIL \"a\" \"b\")) ((NIL NIL \"a\" \"b\")) ((NIL NIL \"a\" "
	    "\"b\")) NIL NIL NIL NIL NIL) (\"text\" \"plain\" (\"charset\" "
	    "\"us-ascii\") NIL NIL \"7bit\" 3 1) 4)");
	/* 8-bit: literals, or quoted with IMAP_STR_UTF8. */
	root = parse(S("Content-Type: text/plain; name=\"\xc3\xa4\"\r\n\r\n"));
	s = bs(root, false, 0);
	ck_assert_str_eq(s, "(\"text\" \"plain\" (\"name\" {2}\r\n\xc3\xa4 "
	    "\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0)");
	free(s);
	s = bs(root, false, IMAP_STR_UTF8);
	ck_assert_str_eq(s, "(\"text\" \"plain\" (\"name\" \"\xc3\xa4\" "
	    "\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0)");
	free(s);
	mime_free(&root);

	/* message/global: basic in IMAP4rev1, a message in IMAP4rev2. */
	root = parse(S("Content-Type: message/global\r\n\r\nSubject: s\r\n\r\n"));
	ck_assert(root->flags & MIME_PART_MESSAGE);
	ck_assert_ptr_nonnull(root->message);
	s = bs(root, false, 0);
	ck_assert_str_eq(s, "(\"message\" \"global\" NIL NIL NIL \"7bit\" 14)");
	free(s);
	s = bs(root, false, MIME_BS_MESSAGE_GLOBAL);
	ck_assert_str_eq(s, "(\"message\" \"global\" NIL NIL NIL \"7bit\" 14 "
	    "(NIL \"s\" NIL NIL NIL NIL NIL NIL NIL NIL) (\"text\" \"plain\" "
	    "(\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0) 2)");
	free(s);
	mime_free(&root);

	/* A full buffer: -1, nothing left behind; the exact size fits. */
	root = parse(S(mp_msg));
	full = bs(root, true, 0);
	n = strlen(full);
	buf_init(&b, 0, n + 2);
	ck_assert_int_eq(buf_append(&b, "xy", 2), 0);
	ck_assert_int_eq(mime_bodystructure(&b, root, true, 0), 0);
	ck_assert_str_eq(b.data + 2, full);
	buf_deinit(&b);
	buf_init(&b, 0, n + 1);
	ck_assert_int_eq(buf_append(&b, "xy", 2), 0);
	ck_assert_int_eq(mime_bodystructure(&b, root, true, 0), -1);
	ck_assert_str_eq(b.data, "xy");
	buf_deinit(&b);
	free(full);
	mime_free(&root);
}
END_TEST

/* ---- ENVELOPE ---------------------------------------------------------- */

START_TEST(test_envelope)
{
	struct buf	b;
	char		*full;
	size_t		 n;

	CHECK_ENV("", "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
	CHECK_ENV("Subject:\r\nDate: \r\n\r\n",
	    "(\"\" \"\" NIL NIL NIL NIL NIL NIL NIL NIL)");
	CHECK_ENV("Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)\r\n"
	    "Subject: first\r\n  line \r\n"
	    "SUBJECT: second\r\n"
	    "From: Terry Gray <gray@cac.washington.edu>\r\n"
	    "Reply-To: (only a comment)\r\n"
	    "To: imap@cac.washington.edu\r\n"
	    "cc: minutes@CNRI.Reston.VA.US, John Klensin <KLENSIN@MIT.EDU>\r\n"
	    "In-Reply-To: <a@b>  <c@d>\r\n"
	    "Message-Id: <B27397-0100000@cac.washington.edu>\r\n\r\n"
	    "From: body@x\r\n",
	    "(\"Mon, 7 Feb 1994 21:52:25 -0800 (PST)\" \"first  line\" "
	    "((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) "
	    "((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) "
	    "((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) "
	    "((NIL NIL \"imap\" \"cac.washington.edu\")) "
	    "((NIL NIL \"minutes\" \"CNRI.Reston.VA.US\")"
	    "(\"John Klensin\" NIL \"KLENSIN\" \"MIT.EDU\")) NIL "
	    "\"<a@b>  <c@d>\" \"<B27397-0100000@cac.washington.edu>\")");
	/* Address forms. */
	CHECK_ENV("From: \"Joe \\\"Q\\\" Public\" <joe@x.org> (c), "
	    "J. Smith <j@s>, jdoe@one.test (John Doe), (c1) a(c2)@(c3)b (c4),"
	    " , <boss@nil.test>\r\n",
	    "(NIL NIL ((\"Joe \\\"Q\\\" Public\" NIL \"joe\" \"x.org\")"
	    "(\"J. Smith\" NIL \"j\" \"s\")(\"John Doe\" NIL \"jdoe\" "
	    "\"one.test\")(\"c2\" NIL \"a\" \"b\")(NIL NIL \"boss\" "
	    "\"nil.test\")) ((\"Joe \\\"Q\\\" Public\" NIL \"joe\" \"x.org\")"
	    "(\"J. Smith\" NIL \"j\" \"s\")(\"John Doe\" NIL \"jdoe\" "
	    "\"one.test\")(\"c2\" NIL \"a\" \"b\")(NIL NIL \"boss\" "
	    "\"nil.test\")) ((\"Joe \\\"Q\\\" Public\" NIL \"joe\" \"x.org\")"
	    "(\"J. Smith\" NIL \"j\" \"s\")(\"John Doe\" NIL \"jdoe\" "
	    "\"one.test\")(\"c2\" NIL \"a\" \"b\")(NIL NIL \"boss\" "
	    "\"nil.test\")) NIL NIL NIL NIL NIL)");
	/* Groups, routes, missing parts, literals, junk. */
	CHECK_ENV("To: undisclosed-recipients:;, g r: a@b, \"c d\" <c@d>;, "
	    "e@f\r\n"
	    "Cc: <@r1,@r2:u@h>, bare, @nohost, local@, <>, \"q l\"@h,"
	    " x <y@[1.2.3.4]>, a@b@c, > junk, z@z\r\n"
	    "Bcc: open: a@b\r\n",
	    "(NIL NIL NIL NIL NIL "
	    "((NIL NIL \"undisclosed-recipients\" NIL)(NIL NIL NIL NIL)"
	    "(NIL NIL \"g r\" NIL)(NIL NIL \"a\" \"b\")(\"c d\" NIL \"c\" "
	    "\"d\")(NIL NIL NIL NIL)(NIL NIL \"e\" \"f\")) "
	    "((NIL \"@r1,@r2\" \"u\" \"h\")(NIL NIL \"bare\" \"MISSING_DOMAIN\")"
	    "(NIL NIL \"MISSING_MAILBOX\" \"nohost\")(NIL NIL \"local\" "
	    "\"MISSING_DOMAIN\")(NIL NIL \"MISSING_MAILBOX\" "
	    "\"MISSING_DOMAIN\")(NIL NIL \"q l\" \"h\")(\"x\" NIL \"y\" "
	    "\"[1.2.3.4]\")(NIL NIL \"a\" \"b\")(NIL NIL \"z\" \"z\")) "
	    "((NIL NIL \"open\" NIL)(NIL NIL \"a\" \"b\")(NIL NIL NIL NIL)) "
	    "NIL NIL)");
	CHECK_ENV("From:\r\nSender: a@b\r\nTo: ,,\r\n",
	    "(NIL NIL NIL ((NIL NIL \"a\" \"b\")) NIL NIL NIL NIL NIL NIL)");
	CHECK_ENV("Subject: a\r\n b\r\nFrom: \"x\r\n y\" <a@b>\r\n",
	    "(NIL \"a b\" ((\"x y\" NIL \"a\" \"b\")) ((\"x y\" NIL \"a\" "
	    "\"b\")) ((\"x y\" NIL \"a\" \"b\")) NIL NIL NIL NIL NIL)");
	CHECK_ENV("Subject: \xe4 \"q\\\r\n",
	    "(NIL {5}\r\n\xe4 \"q\\ NIL NIL NIL NIL NIL NIL NIL NIL)");
	CHECK_ENV("From: \"unterminated <x@y>\r\n",
	    "(NIL NIL ((NIL NIL \"unterminated <x@y>\" \"MISSING_DOMAIN\")) "
	    "((NIL NIL \"unterminated <x@y>\" \"MISSING_DOMAIN\")) "
	    "((NIL NIL \"unterminated <x@y>\" \"MISSING_DOMAIN\")) "
	    "NIL NIL NIL NIL NIL)");

	/* A full buffer. */
	full = env(S("From: a@b\r\nSubject: s\r\n"));
	n = strlen(full);
	buf_init(&b, 0, n);
	ck_assert_int_eq(mime_envelope(&b, S("From: a@b\r\nSubject: s\r\n"),
	    0), 0);
	buf_deinit(&b);
	buf_init(&b, 0, n - 1);
	ck_assert_int_eq(mime_envelope(&b, S("From: a@b\r\nSubject: s\r\n"),
	    0), -1);
	ck_assert_uint_eq(b.len, 0);
	buf_deinit(&b);
	free(full);
}
END_TEST

/* ---- sections ---------------------------------------------------------- */

START_TEST(test_sections)
{
	static const char simple[] = "Subject: s\r\n\r\nbody\r\n";
	struct mime_part	*root;
	const struct mime_part	*p;
	static const char *const bad[] = {
		"0", "01", "1.", ".1", "1..1", "a", "1a", "1.0", "4294967296",
		"99999999999999999999", "4", "1.1", "2.3", "2.1.1", "3.3",
		"1 ", "-1", "+1",
	};
	size_t			 i;

	root = parse(S(simple));
	ck_assert_int_eq(mime_section_find(root, "", 0, &p), 1);
	ck_assert_ptr_eq(p, root);
	ck_assert_int_eq(mime_section_find(root, S("1"), &p), 1);
	ck_assert_ptr_eq(p, root);
	ck_assert_int_eq(mime_section_find(root, S("2"), &p), 0);
	ck_assert_int_eq(mime_section_find(root, S("1.1"), &p), 0);
	CHECK_SEC(root, "", MIME_SECTION_PART, simple);
	CHECK_SEC(root, "", MIME_SECTION_HEADER, "Subject: s\r\n\r\n");
	CHECK_SEC(root, "", MIME_SECTION_TEXT, "body\r\n");
	CHECK_NOSEC(root, "", MIME_SECTION_MIME);
	CHECK_SEC(root, "1", MIME_SECTION_PART, "body\r\n");
	CHECK_SEC(root, "1", MIME_SECTION_MIME, "Subject: s\r\n\r\n");
	CHECK_NOSEC(root, "1", MIME_SECTION_HEADER);
	CHECK_NOSEC(root, "1", MIME_SECTION_TEXT);
	mime_free(&root);

	root = parse(S(mp_msg));
	CHECK_SEC(root, "1", MIME_SECTION_PART, "first");
	CHECK_SEC(root, "1", MIME_SECTION_MIME,
	    "Content-Type: text/plain; charset=utf-8\r\n\r\n");
	CHECK_NOSEC(root, "1", MIME_SECTION_HEADER);
	CHECK_SEC(root, "2.1", MIME_SECTION_PART, "alt 1");
	CHECK_SEC(root, "2.1", MIME_SECTION_MIME, "\r\n");
	CHECK_SEC(root, "2.2", MIME_SECTION_MIME,
	    "Content-Type: text/html\r\n\r\n");
	CHECK_SEC(root, "3", MIME_SECTION_PART,
	    "Subject: inner\r\n\r\ninner body");
	CHECK_SEC(root, "3", MIME_SECTION_HEADER, "Subject: inner\r\n\r\n");
	CHECK_SEC(root, "3", MIME_SECTION_TEXT, "inner body");
	CHECK_SEC(root, "3", MIME_SECTION_MIME,
	    "Content-Type: message/rfc822\r\n\r\n");
	/* Part 1 of a non-multipart embedded message is its body. */
	CHECK_SEC(root, "3.1", MIME_SECTION_PART, "inner body");
	CHECK_SEC(root, "3.1", MIME_SECTION_MIME, "Subject: inner\r\n\r\n");
	CHECK_NOSEC(root, "3.1", MIME_SECTION_HEADER);
	for (i = 0; i < N_ELEMENTS(bad); i++) {
		ck_assert_int_eq(mime_section_find(root, bad[i],
		    strlen(bad[i]), &p), 0);
		CHECK_NOSEC(root, bad[i], MIME_SECTION_PART);
	}
	mime_free(&root);

	/* A multipart without parts has no part 1. */
	root = parse(S("Content-Type: multipart/mixed\r\n\r\nx"));
	ck_assert_int_eq(mime_section_find(root, S("1"), &p), 0);
	CHECK_SEC(root, "", MIME_SECTION_TEXT, "x");
	mime_free(&root);
	/* A message whose body is a message: 1 is it, 1.1 its body. */
	root = parse(S("Content-Type: message/rfc822\r\n\r\nA: b\r\n\r\nc"));
	CHECK_SEC(root, "1", MIME_SECTION_PART, "A: b\r\n\r\nc");
	CHECK_SEC(root, "1", MIME_SECTION_HEADER, "A: b\r\n\r\n");
	CHECK_SEC(root, "1.1", MIME_SECTION_PART, "c");
	CHECK_NOSEC(root, "1.2", MIME_SECTION_PART);
	mime_free(&root);
}
END_TEST

/* ---- decoders ---------------------------------------------------------- */

START_TEST(test_decode_qp)
{
	CHECK_DEC(mime_decode_qp, "", "");
	CHECK_DEC(mime_decode_qp, "a=3Db=3db", "a=b=b");
	CHECK_DEC(mime_decode_qp, "soft=\r\nbreak=  \r\nend", "softbreakend");
	CHECK_DEC(mime_decode_qp, "lf=\nsoft\n", "lfsoft\n");
	CHECK_DEC(mime_decode_qp, "pad  \t\r\nline\t\n", "pad\r\nline\n");
	CHECK_DEC(mime_decode_qp, "bad =G1 =4 =", "bad =G1 =4 ");
	CHECK_DEC(mime_decode_qp, "=E4=c3=A4\r\n", "\xe4\xc3\xa4\r\n");
	CHECK_DEC(mime_decode_qp, "a\rb\r\n", "a\rb\r\n");
	CHECK_DEC(mime_decode_qp, "nul=00x", "nul\0x");
	CHECK_DEC(mime_decode_qp, "trailing =", "trailing ");
	ck_assert_uint_eq(mime_decoded_size(MIME_CTE_QP, S("a=3D\r\nb=\r\n")),
	    5);
}
END_TEST

START_TEST(test_decode_base64)
{
	struct buf	b;

	CHECK_DEC(mime_decode_base64, "", "");
	CHECK_DEC(mime_decode_base64, "aGVsbG8gd29ybGQ=", "hello world");
	CHECK_DEC(mime_decode_base64, "aGVs\r\nbG8g\r\nd29y\r\nbGQ=\r\n",
	    "hello world");
	CHECK_DEC(mime_decode_base64, "YQ==", "a");
	CHECK_DEC(mime_decode_base64, "YWI=", "ab");
	CHECK_DEC(mime_decode_base64, "YQ", "a");
	CHECK_DEC(mime_decode_base64, "YWI", "ab");
	CHECK_DEC(mime_decode_base64, "Y", "");
	CHECK_DEC(mime_decode_base64, "Y!W*I=\x80", "ab");
	CHECK_DEC(mime_decode_base64, "YQ==YQ==", "aa");
	CHECK_DEC(mime_decode_base64, "YWI=YWJj", "ababc");
	CHECK_DEC(mime_decode_base64, "+/+/", "\xfb\xff\xbf");
	ck_assert_uint_eq(mime_decoded_size(MIME_CTE_BASE64,
	    S("aGVsbG8gd29ybGQ=")), 11);
	ck_assert_uint_eq(mime_decoded_size(MIME_CTE_7BIT, S("abc")), 3);
	ck_assert_uint_eq(mime_decoded_size(MIME_CTE_UNKNOWN, S("abc")), 3);

	/* Exact room, one byte short; a large input in chunks. */
	buf_init(&b, 0, 11);
	ck_assert_int_eq(mime_decode_base64(&b, S("aGVsbG8gd29ybGQ=")), 0);
	buf_deinit(&b);
	buf_init(&b, 0, 10);
	ck_assert_int_eq(mime_decode_base64(&b, S("aGVsbG8gd29ybGQ=")), -1);
	ck_assert_int_eq(mime_decode_qp(&b, S("0123456789a")), -1);
	buf_deinit(&b);
	buf_init(&b, 0, 5000);
	{
		char	 in[4000];
		size_t	 i;

		for (i = 0; i < sizeof(in); i++)
			in[i] = "QUJD"[i % 4];
		ck_assert_int_eq(mime_decode_base64(&b, in, sizeof(in)), 0);
		ck_assert_uint_eq(b.len, 3000);
		for (i = 0; i < 3000; i++)
			ck_assert_int_eq(b.data[i], "ABC"[i % 3]);
		buf_reset(&b);
		ck_assert_int_eq(mime_decode_cte(&b, MIME_CTE_8BIT, in, 10), 0);
		ck_assert_uint_eq(b.len, 10);
	}
	buf_deinit(&b);
}
END_TEST

START_TEST(test_to_utf8)
{
	struct buf	b;

	CHECK_UTF8("plain", NULL, "plain");
	CHECK_UTF8("\xc3\xa4 ok", "utf-8", "\xc3\xa4 ok");
	CHECK_UTF8("\xc3\xa4\xe4\xc3", "UTF-8",
	    "\xc3\xa4\xef\xbf\xbd\xef\xbf\xbd");
	CHECK_UTF8("\xe4", "us-ascii", "\xef\xbf\xbd");
	CHECK_UTF8("\xe4\x80\xa0", "ISO-8859-1", "\xc3\xa4\xe2\x82\xac\xc2\xa0");
	CHECK_UTF8("\x81\x9f", "windows-1252", "\xc2\x81\xc5\xb8");
	/* KOI8-R through iconv: "Привет". */
	CHECK_UTF8("\xf0\xd2\xc9\xd7\xc5\xd4", "koi8-r",
	    "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82");
	/* Shift_JIS "日本" and a bad byte in it. */
	CHECK_UTF8("\x93\xfa\x96\x7b", "Shift_JIS",
	    "\xe6\x97\xa5\xe6\x9c\xac");
	CHECK_UTF8("\x93\xfa\xff\x96\x7b", "shift_jis",
	    "\xe6\x97\xa5\xef\xbf\xbd\xe6\x9c\xac");
	/* Cut at the end. */
	CHECK_UTF8("\x93\xfa\x96", "shift_jis", "\xe6\x97\xa5\xef\xbf\xbd");
	/* ISO-2022-JP: "日" with its escapes. */
	CHECK_UTF8("\x1b$BF|\x1b(B!", "iso-2022-jp", "\xe6\x97\xa5!");
	/* Unknown and hostile names: valid UTF-8 kept. */
	CHECK_UTF8("\xc3\xa4\xe4", "x-no-such-charset",
	    "\xc3\xa4\xef\xbf\xbd");
	CHECK_UTF8("\xe4", "iso-8859-1//TRANSLIT", "\xef\xbf\xbd");
	CHECK_UTF8("\xe4", "", "\xef\xbf\xbd");
	CHECK_UTF8("\xe4", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaa", "\xef\xbf\xbd");

	buf_init(&b, 0, 2);
	ck_assert_int_eq(mime_to_utf8(&b, S("\xe4"), "iso-8859-1"), 0);
	ck_assert_int_eq(mime_to_utf8(&b, S("\xe4"), "iso-8859-1"), -1);
	buf_reset(&b);
	ck_assert_int_eq(mime_to_utf8(&b, S("\xe4"), "utf-8"), -1);
	buf_reset(&b);
	ck_assert_int_eq(mime_to_utf8(&b, S("\xf0\xd2"), "koi8-r"), -1);
	buf_deinit(&b);
}
END_TEST

START_TEST(test_decode_header)
{
	struct buf	b;

	CHECK_DEC(mime_decode_header, "plain text", "plain text");
	CHECK_DEC(mime_decode_header, "  folded\r\n  text  ", "folded  text");
	CHECK_DEC(mime_decode_header, "=?iso-8859-1?q?h=E9llo_w?=",
	    "h\xc3\xa9llo w");
	CHECK_DEC(mime_decode_header, "=?UTF-8?B?w6Q=?= x", "\xc3\xa4 x");
	/* RFC 2047 6.2 and 8: space between words goes, not around. */
	CHECK_DEC(mime_decode_header, "a =?utf-8?q?b?= =?utf-8?q?c?=\r\n "
	    "=?utf-8?q?d?= e", "a bcd e");
	CHECK_DEC(mime_decode_header, "=?utf-8?q?a?=  b  =?utf-8?q?c?=",
	    "a  b  c");
	CHECK_DEC(mime_decode_header, "=?utf-8?q?a_?==?utf-8?q?b?=", "a b");
	/* One character split across two words survives. */
	CHECK_DEC(mime_decode_header, "=?utf-8?b?5pc=?= =?utf-8?b?pQ==?=",
	    "\xe6\x97\xa5");
	CHECK_DEC(mime_decode_header, "=?shift_jis?B?k/o=?= =?shift_jis?B?lns=?=",
	    "\xe6\x97\xa5\xe6\x9c\xac");
	CHECK_DEC(mime_decode_header, "=?koi8-r?q?=F0=D2?= =?utf-8?q?=C3=A4?=",
	    "\xd0\x9f\xd1\x80\xc3\xa4");
	/* RFC 2231 language; ISO-2022-JP. */
	CHECK_DEC(mime_decode_header, "=?US-ASCII*EN?Q?Keith?=", "Keith");
	CHECK_DEC(mime_decode_header, "=?ISO-2022-JP?B?GyRCRnwbKEI=?=",
	    "\xe6\x97\xa5");
	/* Not encoded words: kept. */
	CHECK_DEC(mime_decode_header, "=?utf-8?x?a?= =?utf-8?q?a", 
	    "=?utf-8?x?a?= =?utf-8?q?a");
	CHECK_DEC(mime_decode_header, "=??q?a?= =?u\"8?q?a?=",
	    "=??q?a?= =?u\"8?q?a?=");
	CHECK_DEC(mime_decode_header, "=?utf-8?q?a\r\n b?=", "=?utf-8?q?a b?=");
	CHECK_DEC(mime_decode_header, "==?utf-8?q?x?=?=", "=x?=");
	CHECK_DEC(mime_decode_header, "=?utf-8?q?" "?=", "");
	CHECK_DEC(mime_decode_header, "=?utf-8?q?bad=?= =?utf-8?q?=ZZ?=",
	    "bad==ZZ");
	/* Raw 8-bit: UTF-8 kept, the rest U+FFFD; bad bytes in a word too. */
	CHECK_DEC(mime_decode_header, "\xc3\xa4 \xe4", "\xc3\xa4 \xef\xbf\xbd");
	CHECK_DEC(mime_decode_header, "=?utf-8?q?=E4?=", "\xef\xbf\xbd");
	CHECK_DEC(mime_decode_header, "=?unknown-cs?q?=C3=A4?=", "\xc3\xa4");

	/*
	 * 1 MB of "=?a?q?a" (candidates without "?="): each candidate once
	 * searched to the end took minutes; now it is linear.
	 */
	{
		size_t	 n = 1024 * 1024, i;
		char	*v = xmalloc(n);

		for (i = 0; i < n; i++)
			v[i] = "=?a?q?a"[i % 7];
		buf_init(&b, 0, 2 * n);
		ck_assert_int_eq(mime_decode_header(&b, v, n), 0);
		ck_assert_uint_eq(b.len, n);
		/* The same with a CR in each (line ends were searched too). */
		for (i = 0; i < n; i++)
			v[i] = "=?a?q?\r"[i % 7];
		buf_reset(&b);
		ck_assert_int_eq(mime_decode_header(&b, v, n), 0);
		buf_deinit(&b);
		free(v);
	}

	buf_init(&b, 0, 3);
	ck_assert_int_eq(mime_decode_header(&b, S("=?utf-8?q?abc?=")), 0);
	ck_assert_int_eq(mime_decode_header(&b, S("=?utf-8?q?d?=")), -1);
	buf_deinit(&b);
}
END_TEST

START_TEST(test_fold)
{
	struct buf	b;

	CHECK_DEC(mime_fold, "", "");
	CHECK_DEC(mime_fold, "Hello WORLD 123 @[`{", "hello world 123 @[`{");
	CHECK_DEC(mime_fold, "A\0B", "a b");
	/* Latin-1: ÄÖÜ, ß stays, µ is mu, × stays. */
	CHECK_DEC(mime_fold, "\xc3\x84\xc3\x96\xc3\x9c\xc3\x9f\xc2\xb5\xc3\x97",
	    "\xc3\xa4\xc3\xb6\xc3\xbc\xc3\x9f\xce\xbc\xc3\x97");
	/* Latin Extended-A: Ł, Ÿ, ſ, Ĺ. */
	CHECK_DEC(mime_fold, "\xc5\x81\xc5\xb8\xc5\xbf\xc4\xb9",
	    "\xc5\x82\xc3\xbf" "s" "\xc4\xba");
	/* Greek: ΣΊΣΥΦΟΣ and final sigma. */
	CHECK_DEC(mime_fold, "\xce\xa3\xce\x8a\xcf\x82",
	    "\xcf\x83\xce\xaf\xcf\x83");
	/* Cyrillic: ПРИВЕТ Ё Ѣ. */
	CHECK_DEC(mime_fold, "\xd0\x9f\xd0\xa0\xd0\x81\xd1\xa2",
	    "\xd0\xbf\xd1\x80\xd1\x91\xd1\xa3");
	/* Armenian Ա, ẞ, fullwidth Ａ, CJK unchanged, 4-byte unchanged. */
	CHECK_DEC(mime_fold, "\xd4\xb1\xe1\xba\x9e\xef\xbc\xa1\xe6\x97\xa5"
	    "\xf0\x9f\x98\x80", "\xd5\xa1\xc3\x9f\xef\xbd\x81\xe6\x97\xa5"
	    "\xf0\x9f\x98\x80");
	/* Invalid UTF-8. */
	CHECK_DEC(mime_fold, "a\xff" "b\xc3", "a\xef\xbf\xbd" "b\xef\xbf\xbd");

	buf_init(&b, 0, 3);
	ck_assert_int_eq(mime_fold(&b, S("ABC")), 0);
	ck_assert_int_eq(mime_fold(&b, S("D")), -1);
	buf_deinit(&b);
}
END_TEST

START_TEST(test_search_text)
{
	static const char msg[] =
	    "Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n"
	    "Content-Type: multipart/mixed; boundary=b\r\n"
	    "\r\n"
	    "--b\r\n"
	    "Content-Type: text/plain; charset=iso-8859-1\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n"
	    "\r\n"
	    "K=C4SE soft=\r\nbreak\r\n"
	    "--b\r\n"
	    "Content-Type: application/octet-stream\r\n"
	    "\r\n"
	    "SECRET\r\n"
	    "--b\r\n"
	    "Content-Type: message/rfc822\r\n"
	    "\r\n"
	    "From: Inner <i@x>\r\n"
	    "\r\n"
	    "--b\r\n"
	    "Content-Type: text/html; charset=koi8-r\r\n"
	    "Content-Transfer-Encoding: base64\r\n"
	    "\r\n"
	    "8NLJ18XU\r\n"
	    "--b--\r\n";
	static const char body[] =
	    "k\xc3\xa4se softbreak\0"
	    "from: inner <i@x>\n\0"
	    "\xd0\xbf\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82\0";
	static const char head[] =
	    "subject: gr\xc3\xbc\xc3\x9f" "e\n"
	    "content-type: multipart/mixed; boundary=b\n\0";
	struct mime_part	*root;
	struct buf		 b;

	root = parse(S(msg));
	buf_init(&b, 0, OUT_MAX);
	ck_assert_int_eq(mime_search_text(&b, root, MIME_SEARCH_BODY), 0);
	ck_assert_uint_eq(b.len, sizeof(body) - 1);
	ck_assert_mem_eq(b.data, body, sizeof(body) - 1);
	buf_reset(&b);
	ck_assert_int_eq(mime_search_text(&b, root, MIME_SEARCH_HEADER), 0);
	ck_assert_uint_eq(b.len, sizeof(head) - 1);
	ck_assert_mem_eq(b.data, head, sizeof(head) - 1);
	buf_reset(&b);
	ck_assert_int_eq(mime_search_text(&b, root, MIME_SEARCH_HEADER |
	    MIME_SEARCH_BODY), 0);
	ck_assert_uint_eq(b.len, sizeof(head) - 1 + sizeof(body) - 1);
	ck_assert_mem_eq(b.data + sizeof(head) - 1, body, sizeof(body) - 1);
	buf_deinit(&b);

	/* out full: -1. */
	buf_init(&b, 0, 10);
	ck_assert_int_eq(mime_search_text(&b, root, MIME_SEARCH_BODY), -1);
	buf_deinit(&b);
	mime_free(&root);

	/* A message without Content-Type is text; UTF-8 passes through. */
	root = parse(S("Subject: x\r\n\r\nHeLLo \xc3\x84\xe4\r\n"));
	buf_init(&b, 0, OUT_MAX);
	ck_assert_int_eq(mime_search_text(&b, root, MIME_SEARCH_BODY), 0);
	ck_assert_mem_eq(b.data, "hello \xc3\xa4\xef\xbf\xbd\r\n\0", 15);
	buf_deinit(&b);
	mime_free(&root);
}
END_TEST

/* ---- the corpus -------------------------------------------------------- */

/* Control bytes and bytes of invalid UTF-8 as \xHH, the rest as it is. */
static void
escape(struct buf *out, const char *p, size_t len)
{
	uint32_t	cp;
	size_t		i, n;
	unsigned char	c;

	for (i = 0; i < len; i++) {
		c = (unsigned char)p[i];
		if (c >= 0x80 && (n = utf8_decode(p + i, len - i, &cp)) > 0) {
			ck_assert_int_eq(buf_append(out, p + i, n), 0);
			i += n - 1;
		} else if (c < 0x20 || c >= 0x7f)
			ck_assert_int_eq(buf_printf(out, "\\x%02x", c), 0);
		else
			ck_assert_int_eq(buf_append_byte(out, c), 0);
	}
}

static char *
read_file(const char *path, size_t *len_r)
{
	FILE	*f;
	char	*data;
	long	 size;

	f = fopen(path, "rb");
	ck_assert_msg(f != NULL, "cannot open %s", path);
	ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
	size = ftell(f);
	ck_assert_int_ge(size, 0);
	rewind(f);
	data = xmalloc((size_t)size + 1);
	ck_assert_uint_eq(fread(data, 1, (size_t)size, f), (size_t)size);
	data[size] = '\0';
	fclose(f);
	*len_r = (size_t)size;
	return data;
}

/*
 * The value of one KEY of a .expected file for the message at root:
 * BODYSTRUCTURE, BODY, ENVELOPE, their "-UTF8" forms (IMAP_STR_UTF8),
 * BODYSTRUCTURE-REV2 (MIME_BS_MESSAGE_GLOBAL), BODY[spec] / BODY[spec.
 * HEADER|TEXT|MIME] (the bytes, or NIL), SEARCH-BODY and SEARCH-TEXT.
 */
static void
corpus_value(struct buf *out, const struct mime_part *root, const char *key)
{
	struct buf	 tmp;
	const char	*spec, *dot;
	size_t		 off, len, spec_len;
	enum mime_section w = MIME_SECTION_PART;
	unsigned	 flags = strstr(key, "-UTF8") != NULL ? IMAP_STR_UTF8 : 0;

	buf_init(&tmp, 0, OUT_MAX);
	if (strncmp(key, "BODYSTRUCTURE", 13) == 0) {
		if (strcmp(key, "BODYSTRUCTURE-REV2") == 0)
			flags |= MIME_BS_MESSAGE_GLOBAL | IMAP_STR_UTF8;
		ck_assert_int_eq(mime_bodystructure(&tmp, root, true, flags), 0);
	} else if (strncmp(key, "BODY[", 5) == 0) {
		spec = key + 5;
		spec_len = strlen(spec) - 1;	/* the "]" */
		dot = memrchr(spec, '.', spec_len);
		if (dot == NULL)
			dot = spec - 1;
		if (strncmp(dot + 1, "HEADER]", 7) == 0)
			w = MIME_SECTION_HEADER;
		else if (strncmp(dot + 1, "TEXT]", 5) == 0)
			w = MIME_SECTION_TEXT;
		else if (strncmp(dot + 1, "MIME]", 5) == 0)
			w = MIME_SECTION_MIME;
		if (w != MIME_SECTION_PART)
			spec_len = dot < spec ? 0 : (size_t)(dot - spec);
		if (mime_section_range(root, spec, spec_len, w, &off,
		    &len) == 1)
			ck_assert_int_eq(buf_append(&tmp, root->msg + off, len),
			    0);
		else
			ck_assert_int_eq(buf_append_str(&tmp, "NIL"), 0);
	} else if (strncmp(key, "BODY", 4) == 0)
		ck_assert_int_eq(mime_bodystructure(&tmp, root, false, flags), 0);
	else if (strncmp(key, "ENVELOPE", 8) == 0)
		ck_assert_int_eq(mime_envelope(&tmp, root->msg + root->hdr_off,
		    root->hdr_len, flags), 0);
	else if (strcmp(key, "SEARCH-BODY") == 0)
		ck_assert_int_eq(mime_search_text(&tmp, root,
		    MIME_SEARCH_BODY), 0);
	else if (strcmp(key, "SEARCH-TEXT") == 0)
		ck_assert_int_eq(mime_search_text(&tmp, root,
		    MIME_SEARCH_BODY | MIME_SEARCH_HEADER), 0);
	else
		ck_abort_msg("unknown key %s", key);
	escape(out, tmp.data, tmp.len);
	buf_deinit(&tmp);
}

static const char *
corpus_dir(struct buf *b)
{
	const char	*srcdir = getenv("srcdir"), *slash;

	buf_reset(b);
	if (srcdir != NULL)
		ck_assert_int_eq(buf_printf(b, "%s/tests/unit/mime-corpus",
		    srcdir), 0);
	else {
		slash = strrchr(__FILE__, '/');
		ck_assert_int_eq(buf_printf(b, "%.*s/mime-corpus",
		    slash == NULL ? 1 : (int)(slash - __FILE__),
		    slash == NULL ? "." : __FILE__), 0);
	}
	return b->data;
}

START_TEST(test_corpus)
{
	struct buf		 dir, path, actual;
	struct dirent		*de;
	struct mime_part	*root;
	DIR			*d;
	char			*msg, *exp, *line, *next, *sp;
	size_t			 msg_len, exp_len, n;
	unsigned		 files = 0, checks = 0;

	buf_init(&dir, 0, 4096);
	buf_init(&path, 0, 4096);
	buf_init(&actual, 0, OUT_MAX);
	d = opendir(corpus_dir(&dir));
	ck_assert_msg(d != NULL, "no corpus at %s", dir.data);
	while ((de = readdir(d)) != NULL) {
		n = strlen(de->d_name);
		if (n < 5 || strcmp(de->d_name + n - 4, ".eml") != 0)
			continue;
		buf_reset(&path);
		ck_assert_int_eq(buf_printf(&path, "%s/%s", dir.data,
		    de->d_name), 0);
		msg = read_file(path.data, &msg_len);
		buf_truncate(&path, path.len - 4);
		ck_assert_int_eq(buf_append_str(&path, ".expected"), 0);
		exp = read_file(path.data, &exp_len);
		ck_assert_int_eq(mime_parse(msg, msg_len, NULL, &root), 0);
		files++;
		for (line = exp; *line != '\0'; line = next) {
			next = strchr(line, '\n');
			if (next == NULL)
				next = line + strlen(line);
			else
				*next++ = '\0';
			if (*line == '#' || *line == '\0')
				continue;
			sp = strchr(line, ' ');
			ck_assert_msg(sp != NULL, "%s: bad line %s", path.data,
			    line);
			*sp = '\0';
			buf_reset(&actual);
			corpus_value(&actual, root, line);
			ck_assert_msg(strcmp(actual.data, sp + 1) == 0,
			    "%s %s:\n  expected %s\n  actual   %s", de->d_name,
			    line, sp + 1, actual.data);
			checks++;
		}
		mime_free(&root);
		free(msg);
		free(exp);
	}
	closedir(d);
	ck_assert_uint_ge(files, 15);
	ck_assert_uint_ge(checks, 3 * files);
	buf_deinit(&dir);
	buf_deinit(&path);
	buf_deinit(&actual);
}
END_TEST

static Suite *
mime_suite(void)
{
	Suite	*s = suite_create("mime");
	TCase	*tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_header_iter);
	tcase_add_test(tc, test_header_find_unfold);
	tcase_add_test(tc, test_header_fields);
	tcase_add_test(tc, test_parse_simple);
	tcase_add_test(tc, test_parse_multipart);
	tcase_add_test(tc, test_parse_broken);
	tcase_add_test(tc, test_parse_digest);
	tcase_add_test(tc, test_limit_depth);
	tcase_add_test(tc, test_limit_parts);
	tcase_add_test(tc, test_limit_header);
	tcase_add_test(tc, test_limit_params);
	tcase_add_test(tc, test_params);
	tcase_add_test(tc, test_mime_fields);
	tcase_add_test(tc, test_bodystructure);
	tcase_add_test(tc, test_envelope);
	tcase_add_test(tc, test_sections);
	tcase_add_test(tc, test_decode_qp);
	tcase_add_test(tc, test_decode_base64);
	tcase_add_test(tc, test_to_utf8);
	tcase_add_test(tc, test_decode_header);
	tcase_add_test(tc, test_fold);
	tcase_add_test(tc, test_search_text);
	tcase_add_test(tc, test_corpus);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(mime_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
