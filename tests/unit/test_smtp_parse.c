/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for smtpd/smtp_parse.c: golden tables of good and bad paths
 * (with the normalised result or the error kind), command lines, ESMTP
 * parameters for MAIL and RCPT, and xtext.  Every length limit is tried
 * at its maximum and one over.
 */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "smtpd/smtp_parse.h"

#include "common/banned.h"

#define U8	SMTP_PARSE_F_SMTPUTF8
#define EMPTY	SMTP_PARSE_F_ALLOW_EMPTY

struct path_case {
	const char		*in;
	unsigned int		 flags;
	enum smtp_parse_err	 kind;	/* E_NONE: must parse */
	const char		*out;	/* normalised address */
	const char		*rest;
};

static const struct path_case path_cases[] = {
	/* good */
	{ "<a@b>", 0, SMTP_PARSE_E_NONE, "a@b", "" },
	{ "<User.Name+tag@Example.COM>", 0, SMTP_PARSE_E_NONE,
	    "User.Name+tag@example.com", "" },
	{ "<>", EMPTY, SMTP_PARSE_E_NONE, "", "" },
	{ "<> SIZE=10", EMPTY, SMTP_PARSE_E_NONE, "", "SIZE=10" },
	{ "<a@b>  SIZE=10 BODY=8BITMIME", 0, SMTP_PARSE_E_NONE, "a@b",
	    "SIZE=10 BODY=8BITMIME" },
	{ "<a@b> ", 0, SMTP_PARSE_E_NONE, "a@b", "" },
	{ "<\"john\"@x.org>", 0, SMTP_PARSE_E_NONE, "john@x.org", "" },
	{ "<\"j.o.hn\"@x.org>", 0, SMTP_PARSE_E_NONE, "j.o.hn@x.org", "" },
	{ "<\"a b\"@x>", 0, SMTP_PARSE_E_NONE, "\"a b\"@x", "" },
	{ "<\"a\\ b\"@x>", 0, SMTP_PARSE_E_NONE, "\"a b\"@x", "" },
	{ "<\"a\\\\b\"@x>", 0, SMTP_PARSE_E_NONE, "\"a\\\\b\"@x", "" },
	{ "<\"a\\\"b\"@x>", 0, SMTP_PARSE_E_NONE, "\"a\\\"b\"@x", "" },
	{ "<\"\\j\\o\"@x>", 0, SMTP_PARSE_E_NONE, "jo@x", "" },
	{ "<\"a..b\"@x>", 0, SMTP_PARSE_E_NONE, "\"a..b\"@x", "" },
	{ "<\".a\"@x>", 0, SMTP_PARSE_E_NONE, "\".a\"@x", "" },
	{ "<\"\"@x>", 0, SMTP_PARSE_E_NONE, "\"\"@x", "" },
	{ "<\"a>b\"@x>", 0, SMTP_PARSE_E_NONE, "\"a>b\"@x", "" },
	{ "<user%other@relay>", 0, SMTP_PARSE_E_NONE, "user%other@relay", "" },
	{ "<host!user@relay>", 0, SMTP_PARSE_E_NONE, "host!user@relay", "" },
	{ "<a@[1.2.3.4]>", 0, SMTP_PARSE_E_NONE, "a@[1.2.3.4]", "" },
	{ "<a@[IPv6:::1]>", 0, SMTP_PARSE_E_NONE, "a@[IPv6:::1]", "" },
	{ "<a@[ipv6:2001:DB8::1]>", 0, SMTP_PARSE_E_NONE,
	    "a@[IPv6:2001:db8::1]", "" },
	{ "<a@[IPv6:::ffff:1.2.3.4]>", 0, SMTP_PARSE_E_NONE,
	    "a@[IPv6:::ffff:1.2.3.4]", "" },
	{ "<@a.org,@b.org:user@d.org>", 0, SMTP_PARSE_E_NONE,
	    "user@d.org", "" },
	{ "<@a:u@d>", 0, SMTP_PARSE_E_NONE, "u@d", "" },
	{ "<a-b@x-y.z9>", 0, SMTP_PARSE_E_NONE, "a-b@x-y.z9", "" },
	{ "<1@2.3>", 0, SMTP_PARSE_E_NONE, "1@2.3", "" },
	{ "<j\xc3\xbcrgen@b\xc3\xbc" "cher.de>", U8, SMTP_PARSE_E_NONE,
	    "j\xc3\xbcrgen@b\xc3\xbc" "cher.de", "" },
	{ "<\"\xe2\x82\xac x\"@x>", U8, SMTP_PARSE_E_NONE,
	    "\"\xe2\x82\xac x\"@x", "" },
	{ "<\xf0\x9f\x98\x80@x>", U8, SMTP_PARSE_E_NONE,
	    "\xf0\x9f\x98\x80@x", "" },
	{ "<PostMaster>", SMTP_PARSE_F_POSTMASTER, SMTP_PARSE_E_NONE,
	    "postmaster", "" },
	{ "<postmaster> NOTIFY=NEVER", SMTP_PARSE_F_POSTMASTER,
	    SMTP_PARSE_E_NONE, "postmaster", "NOTIFY=NEVER" },
	{ "<Postmaster@Example.ORG>", SMTP_PARSE_F_POSTMASTER,
	    SMTP_PARSE_E_NONE, "Postmaster@example.org", "" },
	/* bad */
	{ "<postmaster>", 0, SMTP_PARSE_E_SYNTAX, NULL, NULL },
	{ "<postmasterx>", SMTP_PARSE_F_POSTMASTER, SMTP_PARSE_E_SYNTAX,
	    NULL, NULL },
	{ "<postmaster", SMTP_PARSE_F_POSTMASTER, SMTP_PARSE_E_SYNTAX,
	    NULL, NULL },
	{ "", 0, SMTP_PARSE_E_SYNTAX, NULL, NULL },
	{ "a@b", 0, SMTP_PARSE_E_SYNTAX, NULL, NULL },
	{ "<>", 0, SMTP_PARSE_E_NULL_PATH, NULL, NULL },
	{ "<", 0, SMTP_PARSE_E_SYNTAX, NULL, NULL },
	{ "<a@b", 0, SMTP_PARSE_E_SYNTAX, NULL, NULL },
	{ "<a@b>x", 0, SMTP_PARSE_E_SYNTAX, NULL, NULL },
	{ "<a@b>>", 0, SMTP_PARSE_E_SYNTAX, NULL, NULL },
	{ "<a@b>\t", 0, SMTP_PARSE_E_SYNTAX, NULL, NULL },
	{ "<a @b>", 0, SMTP_PARSE_E_SYNTAX, NULL, NULL },
	{ "<a@ b>", 0, SMTP_PARSE_E_SYNTAX, NULL, NULL },
	{ " <a@b>", 0, SMTP_PARSE_E_SYNTAX, NULL, NULL },
	{ "< a@b>", 0, SMTP_PARSE_E_SYNTAX, NULL, NULL },
	{ "<a>", 0, SMTP_PARSE_E_SYNTAX, NULL, NULL },
	{ "<@b>", 0, SMTP_PARSE_E_SYNTAX, NULL, NULL },
	{ "<a@>", 0, SMTP_PARSE_E_SYNTAX, NULL, NULL },
	{ "<a@@b>", 0, SMTP_PARSE_E_SYNTAX, NULL, NULL },
	{ "<a@b@c>", 0, SMTP_PARSE_E_SYNTAX, NULL, NULL },
	{ "<.a@b>", 0, SMTP_PARSE_E_SYNTAX, NULL, NULL },
	{ "<a.@b>", 0, SMTP_PARSE_E_SYNTAX, NULL, NULL },
	{ "<a..b@c>", 0, SMTP_PARSE_E_SYNTAX, NULL, NULL },
	{ "<a(b)@c>", 0, SMTP_PARSE_E_SYNTAX, NULL, NULL },
	{ "<a@b.>", 0, SMTP_PARSE_E_SYNTAX, NULL, NULL },
	{ "<a@.b>", 0, SMTP_PARSE_E_SYNTAX, NULL, NULL },
	{ "<a@b..c>", 0, SMTP_PARSE_E_SYNTAX, NULL, NULL },
	{ "<a@-b>", 0, SMTP_PARSE_E_SYNTAX, NULL, NULL },
	{ "<a@b->", 0, SMTP_PARSE_E_SYNTAX, NULL, NULL },
	{ "<a@b_c>", 0, SMTP_PARSE_E_SYNTAX, NULL, NULL },
	{ "<\"a@b>", 0, SMTP_PARSE_E_SYNTAX, NULL, NULL },
	{ "<\"a\"b@c>", 0, SMTP_PARSE_E_SYNTAX, NULL, NULL },
	{ "<\"a\x01\"@c>", 0, SMTP_PARSE_E_SYNTAX, NULL, NULL },
	{ "<\"a\\\x01\"@c>", 0, SMTP_PARSE_E_SYNTAX, NULL, NULL },
	{ "<\"a\tb\"@c>", 0, SMTP_PARSE_E_SYNTAX, NULL, NULL },
	{ "<a@[1.2.3]>", 0, SMTP_PARSE_E_SYNTAX, NULL, NULL },
	{ "<a@[1.2.3.256]>", 0, SMTP_PARSE_E_SYNTAX, NULL, NULL },
	{ "<a@[01.2.3.4]>", 0, SMTP_PARSE_E_SYNTAX, NULL, NULL },
	{ "<a@[IPv6:1.2.3.4]>", 0, SMTP_PARSE_E_SYNTAX, NULL, NULL },
	{ "<a@[IPv6:1:::2]>", 0, SMTP_PARSE_E_SYNTAX, NULL, NULL },
	{ "<a@[::1]>", 0, SMTP_PARSE_E_SYNTAX, NULL, NULL },
	{ "<a@[x-tag:foo]>", 0, SMTP_PARSE_E_SYNTAX, NULL, NULL },
	{ "<a@[1.2.3.4>", 0, SMTP_PARSE_E_SYNTAX, NULL, NULL },
	{ "<a@[1.2.3.4]x>", 0, SMTP_PARSE_E_SYNTAX, NULL, NULL },
	{ "<@a,b:u@d>", 0, SMTP_PARSE_E_SYNTAX, NULL, NULL },
	{ "<@a:>", 0, SMTP_PARSE_E_SYNTAX, NULL, NULL },
	{ "<@a u@d>", 0, SMTP_PARSE_E_SYNTAX, NULL, NULL },
	{ "<@:u@d>", 0, SMTP_PARSE_E_SYNTAX, NULL, NULL },
	{ "<@a,@b:>", 0, SMTP_PARSE_E_SYNTAX, NULL, NULL },
	{ "<j\xc3\xbcrgen@b>", 0, SMTP_PARSE_E_8BIT, NULL, NULL },
	{ "<a@b\xc3\xbc>", 0, SMTP_PARSE_E_8BIT, NULL, NULL },
	{ "<\"\xc3\xbc\"@b>", 0, SMTP_PARSE_E_8BIT, NULL, NULL },
	{ "<\xc0\xaf@b>", U8, SMTP_PARSE_E_SYNTAX, NULL, NULL },
	{ "<\xe0\x80\xaf@b>", U8, SMTP_PARSE_E_SYNTAX, NULL, NULL },
	{ "<\xf0\x80\x80\xaf@b>", U8, SMTP_PARSE_E_SYNTAX, NULL, NULL },
	{ "<\xed\xa0\x80@b>", U8, SMTP_PARSE_E_SYNTAX, NULL, NULL },
	{ "<\xc2\x85@b>", U8, SMTP_PARSE_E_SYNTAX, NULL, NULL },
	{ "<\xf4\x90\x80\x80@b>", U8, SMTP_PARSE_E_SYNTAX, NULL, NULL },
	{ "<\xc3@b>", U8, SMTP_PARSE_E_SYNTAX, NULL, NULL },
	{ "<\xbc@b>", U8, SMTP_PARSE_E_SYNTAX, NULL, NULL },
	{ "<a@b\xff>", U8, SMTP_PARSE_E_SYNTAX, NULL, NULL },
	{ "<\xe2\x82x@b>", U8, SMTP_PARSE_E_SYNTAX, NULL, NULL },
	{ "<\"\\\xc3\xbc\"@b>", U8, SMTP_PARSE_E_SYNTAX, NULL, NULL },
	{ "<@r\xc3\xbc:a@b>", 0, SMTP_PARSE_E_8BIT, NULL, NULL },
	{ "<a@[IPv6:1111:2222:3333:4444:5555:6666:7777:8888:9999:aaaa:bbbb]>",
	    0, SMTP_PARSE_E_SYNTAX, NULL, NULL },
	{ "<a@[1.2.3.4] >", 0, SMTP_PARSE_E_SYNTAX, NULL, NULL },
	{ "<a@b,c>", 0, SMTP_PARSE_E_SYNTAX, NULL, NULL },
	{ "<a@b:c>", 0, SMTP_PARSE_E_SYNTAX, NULL, NULL },
	{ "<<a@b>>", 0, SMTP_PARSE_E_SYNTAX, NULL, NULL },
};

START_TEST(test_path_table)
{
	const struct path_case	*c = &path_cases[_i];
	struct smtp_parse_addr	 a, b;
	enum smtp_parse_err	 kind = SMTP_PARSE_E_NONE;
	const char		*rest = NULL, *error = NULL;
	char			 wrapped[SMTP_PARSE_PATH_MAX + 3];
	int			 ret;

	ret = smtp_parse_path(c->in, c->flags, &a, &rest, &kind, &error);
	if (c->kind != SMTP_PARSE_E_NONE) {
		ck_assert_msg(ret == -1, "case %d accepted", _i);
		ck_assert_msg(kind == c->kind, "case %d kind %d", _i, kind);
		ck_assert_ptr_nonnull(error);
		return;
	}
	ck_assert_msg(ret == 0, "case %d: %s", _i, error);
	ck_assert_str_eq(a.addr, c->out);
	ck_assert_str_eq(rest, c->rest);
	ck_assert(a.null_path == (c->out[0] == '\0'));
	ck_assert(a.postmaster == (strcmp(c->out, "postmaster") == 0));
	if (!a.null_path)
		ck_assert_int_eq(a.addr[a.local_len], a.postmaster ? '\0' :
		    '@');
	ck_assert(a.utf8 == (strchr(c->out, '\xc3') != NULL ||
	    strchr(c->out, '\xe2') != NULL || strchr(c->out, '\xf0') != NULL));
	/* Idempotence: the normalised form re-parses to itself. */
	ck_assert_int_lt(snprintf(wrapped, sizeof(wrapped), "<%s>", a.addr),
	    (int)sizeof(wrapped));
	ck_assert_int_eq(smtp_parse_path(wrapped, c->flags, &b, &rest, &kind,
	    &error), 0);
	ck_assert_str_eq(b.addr, a.addr);
}
END_TEST

/* Builds "<" local "@" domain ">" with given lengths of 'a' and labels. */
static void
make_path(char *dst, size_t size, size_t local_len, size_t domain_len)
{
	size_t	o = 0, i;

	ck_assert_uint_lt(local_len + domain_len + 3, size);
	dst[o++] = '<';
	for (i = 0; i < local_len; i++)
		dst[o++] = 'a';
	dst[o++] = '@';
	/* Labels of 50 'b', joined by dots. */
	for (i = 0; i < domain_len; i++)
		dst[o++] = (i % 51 == 50 && i + 1 < domain_len) ? '.' : 'b';
	dst[o++] = '>';
	dst[o] = '\0';
}

START_TEST(test_path_limits)
{
	char			 buf[600];
	struct smtp_parse_addr	 a;
	enum smtp_parse_err	 kind;
	const char		*rest, *error;

	/* Local part 64 ok, 65 too long. */
	make_path(buf, sizeof(buf), SMTP_PARSE_LOCAL_MAX, 3);
	ck_assert_int_eq(smtp_parse_path(buf, 0, &a, &rest, &kind, &error), 0);
	make_path(buf, sizeof(buf), SMTP_PARSE_LOCAL_MAX + 1, 3);
	ck_assert_int_eq(smtp_parse_path(buf, 0, &a, &rest, &kind, &error),
	    -1);
	ck_assert_int_eq(kind, SMTP_PARSE_E_TOO_LONG);
	/* Quoted: 64 octets counting the quotes. */
	memset(buf, 0, sizeof(buf));
	buf[0] = '<';
	buf[1] = '"';
	memset(buf + 2, 'q', 61);
	memcpy(buf + 63, " \"@b>", 6);
	ck_assert_int_eq(smtp_parse_path(buf, 0, &a, &rest, &kind, &error), 0);
	ck_assert_uint_eq(a.local_len, 64);
	buf[1] = '"';
	memset(buf + 2, 'q', 62);
	memcpy(buf + 64, " \"@b>", 6);
	ck_assert_int_eq(smtp_parse_path(buf, 0, &a, &rest, &kind, &error),
	    -1);
	ck_assert_int_eq(kind, SMTP_PARSE_E_TOO_LONG);
	/* Label 63 ok, 64 too long. */
	memset(buf, 0, sizeof(buf));
	memcpy(buf, "<a@", 3);
	memset(buf + 3, 'c', SMTP_PARSE_LABEL_MAX);
	memcpy(buf + 3 + SMTP_PARSE_LABEL_MAX, ">", 2);
	ck_assert_int_eq(smtp_parse_path(buf, 0, &a, &rest, &kind, &error), 0);
	memset(buf + 3, 'c', SMTP_PARSE_LABEL_MAX + 1);
	memcpy(buf + 4 + SMTP_PARSE_LABEL_MAX, ">", 2);
	ck_assert_int_eq(smtp_parse_path(buf, 0, &a, &rest, &kind, &error),
	    -1);
	ck_assert_int_eq(kind, SMTP_PARSE_E_TOO_LONG);
	/* Domain 255 ok, 256 too long (local 1: path 259 > 256 though). */
	make_path(buf, sizeof(buf), 1, SMTP_PARSE_DOMAIN_MAX + 1);
	ck_assert_int_eq(smtp_parse_path(buf, 0, &a, &rest, &kind, &error),
	    -1);
	ck_assert_int_eq(kind, SMTP_PARSE_E_TOO_LONG);
	ck_assert_str_eq(error, "Domain too long");
	/* 255 octets of domain and then a dot. */
	make_path(buf, sizeof(buf), 1, SMTP_PARSE_DOMAIN_MAX);
	memcpy(buf + 3 + SMTP_PARSE_DOMAIN_MAX, ".x>", 4);
	ck_assert_int_eq(smtp_parse_path(buf, 0, &a, &rest, &kind, &error),
	    -1);
	ck_assert_int_eq(kind, SMTP_PARSE_E_TOO_LONG);
	ck_assert_str_eq(error, "Domain too long");
	/* Path: 256 octets with <> ok, 257 too long. */
	make_path(buf, sizeof(buf), 1, SMTP_PARSE_PATH_MAX - 4);
	ck_assert_uint_eq(strlen(buf), SMTP_PARSE_PATH_MAX);
	ck_assert_int_eq(smtp_parse_path(buf, 0, &a, &rest, &kind, &error), 0);
	ck_assert_uint_eq(strlen(a.addr), SMTP_PARSE_PATH_MAX - 2);
	make_path(buf, sizeof(buf), 2, SMTP_PARSE_PATH_MAX - 4);
	ck_assert_int_eq(smtp_parse_path(buf, 0, &a, &rest, &kind, &error),
	    -1);
	ck_assert_int_eq(kind, SMTP_PARSE_E_TOO_LONG);
	ck_assert_str_eq(error, "Address too long");
	/* A source route counts towards the path length. */
	memset(buf, 0, sizeof(buf));
	buf[0] = '<';
	buf[1] = '@';
	memset(buf + 2, 'r', 60);
	buf[62] = ',';
	buf[63] = '@';
	memset(buf + 64, 'r', 60);
	buf[124] = ',';
	buf[125] = '@';
	memset(buf + 126, 'r', 60);
	buf[186] = ':';
	make_path(buf + 186, sizeof(buf) - 186, 60, 20);
	buf[186] = ':';
	ck_assert_int_eq(smtp_parse_path(buf, 0, &a, &rest, &kind, &error),
	    -1);
	ck_assert_int_eq(kind, SMTP_PARSE_E_TOO_LONG);
}
END_TEST

struct cmd_case {
	const char	*in;
	size_t		 len;		/* 0: strlen */
	int		 ret;
	enum smtp_parse_err kind;
	const char	*verb;
	const char	*args;
};

static const struct cmd_case cmd_cases[] = {
	{ "QUIT", 0, 0, SMTP_PARSE_E_NONE, "QUIT", "" },
	{ "quit", 0, 0, SMTP_PARSE_E_NONE, "QUIT", "" },
	{ "MAIL FROM:<a@b>", 0, 0, SMTP_PARSE_E_NONE, "MAIL", "FROM:<a@b>" },
	{ "rcpt   TO:<a@b> ", 0, 0, SMTP_PARSE_E_NONE, "RCPT", "TO:<a@b> " },
	{ "DATA ", 0, 0, SMTP_PARSE_E_NONE, "DATA", "" },
	{ "EHLO h\xc3\xbc", 0, 0, SMTP_PARSE_E_NONE, "EHLO", "h\xc3\xbc" },
	{ "ABCDEFGHIJKLMNOP x", 0, 0, SMTP_PARSE_E_NONE, "ABCDEFGHIJKLMNOP",
	    "x" },
	{ "ABCDEFGHIJKLMNOPQ x", 0, -1, SMTP_PARSE_E_TOO_LONG, NULL, NULL },
	{ "", 0, -1, SMTP_PARSE_E_SYNTAX, NULL, NULL },
	{ " QUIT", 0, -1, SMTP_PARSE_E_SYNTAX, NULL, NULL },
	{ "MAIL:x", 0, -1, SMTP_PARSE_E_SYNTAX, NULL, NULL },
	{ "MAIL\tFROM:<a@b>", 0, -1, SMTP_PARSE_E_SYNTAX, NULL, NULL },
	{ "QUIT\r", 0, -1, SMTP_PARSE_E_SYNTAX, NULL, NULL },
	{ "NOOP a\x7f", 0, -1, SMTP_PARSE_E_SYNTAX, NULL, NULL },
	{ "NOOP a\nb", 0, -1, SMTP_PARSE_E_SYNTAX, NULL, NULL },
	{ "NOOP a\0b", 8, -1, SMTP_PARSE_E_SYNTAX, NULL, NULL },
	{ "H3LO x", 0, -1, SMTP_PARSE_E_SYNTAX, NULL, NULL },
	{ "\xc3\xa9HLO", 0, -1, SMTP_PARSE_E_SYNTAX, NULL, NULL },
};

START_TEST(test_command_table)
{
	const struct cmd_case	*c = &cmd_cases[_i];
	struct smtp_parse_cmd	 cmd;
	enum smtp_parse_err	 kind = SMTP_PARSE_E_NONE;
	const char		*error = NULL;
	size_t			 len = c->len != 0 ? c->len : strlen(c->in);

	ck_assert_msg(smtp_parse_command(c->in, len, &cmd, &kind, &error) ==
	    c->ret, "case %d", _i);
	if (c->ret == -1) {
		ck_assert_int_eq(kind, c->kind);
		ck_assert_ptr_nonnull(error);
		return;
	}
	ck_assert_str_eq(cmd.verb, c->verb);
	ck_assert_str_eq(cmd.args, c->args);
	ck_assert_uint_eq(cmd.args_len, strlen(c->args));
}
END_TEST

START_TEST(test_prefix)
{
	enum smtp_parse_err	 kind;
	const char		*rest, *error;

	ck_assert_int_eq(smtp_parse_prefix("from:<a@b>", "FROM:", &rest,
	    &kind, &error), 0);
	ck_assert_str_eq(rest, "<a@b>");
	ck_assert_int_eq(smtp_parse_prefix("TO:", "TO:", &rest, &kind,
	    &error), 0);
	ck_assert_str_eq(rest, "");
	ck_assert_int_eq(smtp_parse_prefix("FROM: <a@b>", "FROM:", &rest,
	    &kind, &error), 0);
	ck_assert_str_eq(rest, " <a@b>");	/* then refused by the path */
	ck_assert_int_eq(smtp_parse_prefix("FROM :<a@b>", "FROM:", &rest,
	    &kind, &error), -1);
	ck_assert_int_eq(kind, SMTP_PARSE_E_SYNTAX);
	ck_assert_int_eq(smtp_parse_prefix("FRO", "FROM:", &rest, &kind,
	    &error), -1);
	ck_assert_int_eq(smtp_parse_prefix("", "TO:", &rest, &kind, &error),
	    -1);
}
END_TEST

START_TEST(test_params_generic)
{
	struct smtp_parse_params p;
	enum smtp_parse_err	 kind;
	const char		*error;
	char			 buf[512];
	size_t			 o;
	int			 i;

	ck_assert_int_eq(smtp_parse_params("", false, &p, &kind, &error), 0);
	ck_assert_uint_eq(p.count, 0);
	ck_assert_int_eq(smtp_parse_params("  A=1  B-2 c=x\xc3\xbc ", true,
	    &p, &kind, &error), 0);
	ck_assert_uint_eq(p.count, 3);
	ck_assert_uint_eq(p.param[0].key_len, 1);
	ck_assert_uint_eq(p.param[0].value_len, 1);
	ck_assert_ptr_null(p.param[1].value);
	ck_assert_uint_eq(p.param[1].key_len, 3);
	ck_assert_uint_eq(p.param[2].value_len, 3);
	ck_assert_int_eq(smtp_parse_params("c=x\xc3\xbc", false, &p, &kind,
	    &error), -1);
	ck_assert_int_eq(kind, SMTP_PARSE_E_8BIT);
	ck_assert_int_eq(smtp_parse_params("c=x\xc3", true, &p, &kind,
	    &error), -1);
	ck_assert_int_eq(kind, SMTP_PARSE_E_PARAM_SYNTAX);
	ck_assert_int_eq(smtp_parse_params("A=", false, &p, &kind, &error),
	    -1);
	ck_assert_int_eq(kind, SMTP_PARSE_E_PARAM_SYNTAX);
	ck_assert_int_eq(smtp_parse_params("A=b=c", false, &p, &kind,
	    &error), -1);
	ck_assert_int_eq(smtp_parse_params("-A", false, &p, &kind, &error),
	    -1);
	ck_assert_int_eq(smtp_parse_params("A_B", false, &p, &kind, &error),
	    -1);
	ck_assert_int_eq(smtp_parse_params("A=\tb", false, &p, &kind,
	    &error), -1);
	ck_assert_int_eq(smtp_parse_params("=b", false, &p, &kind, &error),
	    -1);
	ck_assert_int_eq(smtp_parse_params("size=1 SIZE=2", false, &p, &kind,
	    &error), -1);
	ck_assert_int_eq(kind, SMTP_PARSE_E_PARAM_SYNTAX);
	ck_assert_str_eq(error, "Duplicate parameter");
	/* Keyword length limit. */
	memset(buf, 'K', SMTP_PARSE_KEYWORD_MAX);
	buf[SMTP_PARSE_KEYWORD_MAX] = '\0';
	ck_assert_int_eq(smtp_parse_params(buf, false, &p, &kind, &error), 0);
	memset(buf, 'K', SMTP_PARSE_KEYWORD_MAX + 1);
	buf[SMTP_PARSE_KEYWORD_MAX + 1] = '\0';
	ck_assert_int_eq(smtp_parse_params(buf, false, &p, &kind, &error),
	    -1);
	/* Count limit: 16 ok, 17 refused. */
	for (o = 0, i = 0; i < SMTP_PARSE_PARAMS_MAX; i++)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "K%d=v ", i);
	ck_assert_int_eq(smtp_parse_params(buf, false, &p, &kind, &error), 0);
	ck_assert_uint_eq(p.count, SMTP_PARSE_PARAMS_MAX);
	(void)snprintf(buf + o, sizeof(buf) - o, "X");
	ck_assert_int_eq(smtp_parse_params(buf, false, &p, &kind, &error),
	    -1);
	ck_assert_int_eq(kind, SMTP_PARSE_E_PARAM_SYNTAX);
	ck_assert_str_eq(error, "Too many parameters");
}
END_TEST

START_TEST(test_mail_params)
{
	struct smtp_parse_mail	 m;
	enum smtp_parse_err	 kind;
	const char		*error;

	ck_assert_int_eq(smtp_parse_mail_params("", 100, &m, &kind, &error),
	    0);
	ck_assert(!m.has_size && m.body == SMTP_PARSE_BODY_NONE &&
	    !m.smtputf8 && m.ret == SMTP_PARSE_RET_NONE && !m.has_envid &&
	    !m.has_auth);
	ck_assert_int_eq(smtp_parse_mail_params("SIZE=100 body=8bitmime "
	    "SMTPUTF8 RET=hdrs ENVID=QQ+2B+3Dx AUTH=a+2Bb@c", 100, &m, &kind,
	    &error), 0);
	ck_assert(m.has_size);
	ck_assert_uint_eq(m.size, 100);
	ck_assert_int_eq(m.body, SMTP_PARSE_BODY_8BITMIME);
	ck_assert(m.smtputf8);
	ck_assert_int_eq(m.ret, SMTP_PARSE_RET_HDRS);
	ck_assert(m.has_envid);
	ck_assert_str_eq(m.envid, "QQ+=x");
	ck_assert(m.has_auth && !m.auth_empty);
	ck_assert_str_eq(m.auth, "a+b@c");
	ck_assert_int_eq(smtp_parse_mail_params("BODY=7BIT RET=FULL AUTH=<>",
	    0, &m, &kind, &error), 0);
	ck_assert_int_eq(m.body, SMTP_PARSE_BODY_7BIT);
	ck_assert_int_eq(m.ret, SMTP_PARSE_RET_FULL);
	ck_assert(m.has_auth && m.auth_empty);
	ck_assert_int_eq(smtp_parse_mail_params("BODY=BINARYMIME", 0, &m,
	    &kind, &error), 0);
	ck_assert_int_eq(m.body, SMTP_PARSE_BODY_BINARYMIME);

	/* SIZE: too big (552) vs malformed (501). */
	ck_assert_int_eq(smtp_parse_mail_params("SIZE=101", 100, &m, &kind,
	    &error), -1);
	ck_assert_int_eq(kind, SMTP_PARSE_E_SIZE);
	ck_assert_int_eq(smtp_parse_mail_params(
	    "SIZE=99999999999999999999999", 100, &m, &kind, &error), -1);
	ck_assert_int_eq(kind, SMTP_PARSE_E_SIZE);
	ck_assert_int_eq(smtp_parse_mail_params("SIZE=18446744073709551615",
	    UINT64_MAX, &m, &kind, &error), 0);
	ck_assert_uint_eq(m.size, UINT64_MAX);
	ck_assert_int_eq(smtp_parse_mail_params("SIZE=0", 0, &m, &kind,
	    &error), 0);
	{
		static const char *const bad_size[] = { "SIZE", "SIZE=1k",
		    "SIZE=-1", "SIZE=+1", "SIZE=1.0", "SIZE=0x10" };
		size_t i;

		for (i = 0; i < N_ELEMENTS(bad_size); i++) {
			ck_assert_int_eq(smtp_parse_mail_params(bad_size[i],
			    100, &m, &kind, &error), -1);
			ck_assert_int_eq(kind, SMTP_PARSE_E_PARAM_SYNTAX);
		}
	}
	/* Every other keyword, bad. */
	{
		static const char *const bad[] = { "BODY", "BODY=8BIT",
		    "SMTPUTF8=yes", "RET", "RET=ALL", "ENVID", "ENVID=a+2b",
		    "ENVID=a+", "ENVID=a+G0", "ENVID=a+0A", "AUTH", "AUTH=+",
		    "ENVID=a ENVID=b" };
		size_t i;

		for (i = 0; i < N_ELEMENTS(bad); i++) {
			ck_assert_msg(smtp_parse_mail_params(bad[i], 100, &m,
			    &kind, &error) == -1, "%s", bad[i]);
			ck_assert_int_eq(kind, SMTP_PARSE_E_PARAM_SYNTAX);
		}
	}
	/* Unknown keywords and RCPT keywords on MAIL: 555. */
	ck_assert_int_eq(smtp_parse_mail_params("FOO=1", 100, &m, &kind,
	    &error), -1);
	ck_assert_int_eq(kind, SMTP_PARSE_E_PARAM_UNKNOWN);
	ck_assert_int_eq(smtp_parse_mail_params("NOTIFY=NEVER", 100, &m,
	    &kind, &error), -1);
	ck_assert_int_eq(kind, SMTP_PARSE_E_PARAM_UNKNOWN);
	/* 8-bit value only with SMTPUTF8, wherever it appears. */
	ck_assert_int_eq(smtp_parse_mail_params("X=\xc3\xbc", 100, &m, &kind,
	    &error), -1);
	ck_assert_int_eq(kind, SMTP_PARSE_E_PARAM_UNKNOWN);
	ck_assert_int_eq(smtp_parse_mail_params("ENVID=\xc3\xbc SMTPUTF8",
	    100, &m, &kind, &error), -1);
	ck_assert_int_eq(kind, SMTP_PARSE_E_PARAM_SYNTAX);
	ck_assert_int_eq(smtp_parse_mail_params("BODY=8BITMIME\xc3\xbc", 100,
	    &m, &kind, &error), -1);
	ck_assert_int_eq(kind, SMTP_PARSE_E_PARAM_SYNTAX);
}
END_TEST

START_TEST(test_mail_envid_limit)
{
	struct smtp_parse_mail	 m;
	enum smtp_parse_err	 kind;
	const char		*error;
	char			 buf[SMTP_PARSE_ENVID_MAX + 16];

	memcpy(buf, "ENVID=", 6);
	memset(buf + 6, 'e', SMTP_PARSE_ENVID_MAX);
	buf[6 + SMTP_PARSE_ENVID_MAX] = '\0';
	ck_assert_int_eq(smtp_parse_mail_params(buf, 0, &m, &kind, &error), 0);
	ck_assert_uint_eq(strlen(m.envid), SMTP_PARSE_ENVID_MAX);
	buf[6 + SMTP_PARSE_ENVID_MAX] = 'e';
	buf[7 + SMTP_PARSE_ENVID_MAX] = '\0';
	ck_assert_int_eq(smtp_parse_mail_params(buf, 0, &m, &kind, &error),
	    -1);
	ck_assert_int_eq(kind, SMTP_PARSE_E_PARAM_SYNTAX);
}
END_TEST

START_TEST(test_rcpt_params)
{
	struct smtp_parse_rcpt	 r;
	enum smtp_parse_err	 kind;
	const char		*error;
	char			 buf[SMTP_PARSE_ORCPT_MAX + 32];

	ck_assert_int_eq(smtp_parse_rcpt_params("", false, &r, &kind, &error),
	    0);
	ck_assert_uint_eq(r.notify, 0);
	ck_assert_int_eq(r.orcpt_type, SMTP_PARSE_ORCPT_NONE);
	ck_assert_int_eq(smtp_parse_rcpt_params("NOTIFY=never", false, &r,
	    &kind, &error), 0);
	ck_assert_uint_eq(r.notify, SMTP_PARSE_NOTIFY_NEVER);
	ck_assert_int_eq(smtp_parse_rcpt_params(
	    "NOTIFY=SUCCESS,FAILURE,DELAY ORCPT=rfc822;a+2Bb@c", false, &r,
	    &kind, &error), 0);
	ck_assert_uint_eq(r.notify, SMTP_PARSE_NOTIFY_SUCCESS |
	    SMTP_PARSE_NOTIFY_FAILURE | SMTP_PARSE_NOTIFY_DELAY);
	ck_assert_int_eq(r.orcpt_type, SMTP_PARSE_ORCPT_RFC822);
	ck_assert_str_eq(r.orcpt, "a+b@c");
	ck_assert_int_eq(smtp_parse_rcpt_params(
	    "ORCPT=UTF-8;j\\x{FC}rgen@x\\x{1F600}", false, &r, &kind,
	    &error), 0);
	ck_assert_int_eq(r.orcpt_type, SMTP_PARSE_ORCPT_UTF8);
	ck_assert_str_eq(r.orcpt, "j\xc3\xbcrgen@x\xf0\x9f\x98\x80");
	ck_assert_int_eq(smtp_parse_rcpt_params(
	    "ORCPT=utf-8;\\x{41}\\x{20AC}@x", false, &r, &kind, &error), 0);
	ck_assert_str_eq(r.orcpt, "A\xe2\x82\xac@x");
	ck_assert_int_eq(smtp_parse_rcpt_params(
	    "ORCPT=utf-8;j\xc3\xbcrgen@x", true, &r, &kind, &error), 0);
	ck_assert_str_eq(r.orcpt, "j\xc3\xbcrgen@x");
	ck_assert_int_eq(smtp_parse_rcpt_params(
	    "ORCPT=utf-8;j\xc3\xbcrgen@x", false, &r, &kind, &error), -1);
	ck_assert_int_eq(kind, SMTP_PARSE_E_8BIT);
	{
		static const char *const bad[] = { "NOTIFY", "NOTIFY=",
		    "NOTIFY=NEVER,DELAY", "NOTIFY=DELAY,NEVER",
		    "NOTIFY=DELAY,DELAY", "NOTIFY=SUCCESS,", "NOTIFY=,DELAY",
		    "NOTIFY=SOMETIMES", "ORCPT", "ORCPT=a@b", "ORCPT=x400;a",
		    "ORCPT=rfc822;", "ORCPT=rfc822;a+4", "ORCPT=rfc822;a+4a",
		    "ORCPT=;a", "ORCPT=utf-8;", "ORCPT=utf-8;a+b",
		    "ORCPT=utf-8;a\\x{0041}", "ORCPT=utf-8;a\\x{D800}",
		    "ORCPT=utf-8;a\\x{110000}", "ORCPT=utf-8;a\\x{fc}",
		    "ORCPT=utf-8;a\\x{9}", "ORCPT=utf-8;a\\x{85}",
		    "ORCPT=utf-8;a\\x{FC", "ORCPT=utf-8;a\\y{FC}",
		    "ORCPT=utf-8;a\\x{1234567}", "ORCPT=utf-8;a\\",
		    "NOTIFY=NEVER NOTIFY=NEVER", "ORCPT=rfc822;\xc3\xbc" };
		size_t i;

		for (i = 0; i < N_ELEMENTS(bad); i++) {
			ck_assert_msg(smtp_parse_rcpt_params(bad[i], true, &r,
			    &kind, &error) == -1, "%s", bad[i]);
			ck_assert_int_eq(kind, SMTP_PARSE_E_PARAM_SYNTAX);
		}
	}
	ck_assert_int_eq(smtp_parse_rcpt_params("SIZE=1", false, &r, &kind,
	    &error), -1);
	ck_assert_int_eq(kind, SMTP_PARSE_E_PARAM_UNKNOWN);
	/* ORCPT value at 500 ok, 501 too long. */
	memcpy(buf, "ORCPT=rfc822;", 13);
	memset(buf + 13, 'o', SMTP_PARSE_ORCPT_MAX - 7);
	buf[6 + SMTP_PARSE_ORCPT_MAX] = '\0';
	ck_assert_int_eq(smtp_parse_rcpt_params(buf, false, &r, &kind,
	    &error), 0);
	ck_assert_uint_eq(strlen(r.orcpt), SMTP_PARSE_ORCPT_MAX - 7);
	buf[6 + SMTP_PARSE_ORCPT_MAX] = 'o';
	buf[7 + SMTP_PARSE_ORCPT_MAX] = '\0';
	ck_assert_int_eq(smtp_parse_rcpt_params(buf, false, &r, &kind,
	    &error), -1);
}
END_TEST

START_TEST(test_xtext)
{
	char		 dst[16];
	const char	*error;

	ck_assert_int_eq(smtp_parse_xtext_decode("a+2Bb", 5, dst, sizeof(dst),
	    &error), 3);
	ck_assert_str_eq(dst, "a+b");
	ck_assert_int_eq(smtp_parse_xtext_decode("+20+7E", 6, dst,
	    sizeof(dst), &error), 2);
	ck_assert_str_eq(dst, " ~");
	ck_assert_int_eq(smtp_parse_xtext_decode("", 0, dst, sizeof(dst),
	    &error), -1);
	ck_assert_int_eq(smtp_parse_xtext_decode("a+2b", 4, dst, sizeof(dst),
	    &error), -1);
	ck_assert_int_eq(smtp_parse_xtext_decode("a+2", 3, dst, sizeof(dst),
	    &error), -1);
	ck_assert_int_eq(smtp_parse_xtext_decode("a+ZZ", 4, dst, sizeof(dst),
	    &error), -1);
	ck_assert_int_eq(smtp_parse_xtext_decode("a+00", 4, dst, sizeof(dst),
	    &error), -1);
	ck_assert_int_eq(smtp_parse_xtext_decode("a+80", 4, dst, sizeof(dst),
	    &error), -1);
	ck_assert_int_eq(smtp_parse_xtext_decode("a=b", 3, dst, sizeof(dst),
	    &error), -1);
	ck_assert_int_eq(smtp_parse_xtext_decode("a b", 3, dst, sizeof(dst),
	    &error), -1);
	/* Output size: 15 chars fit in 16, 16 do not. */
	ck_assert_int_eq(smtp_parse_xtext_decode("123456789012345", 15, dst,
	    sizeof(dst), &error), 15);
	ck_assert_int_eq(smtp_parse_xtext_decode("1234567890123456", 16, dst,
	    sizeof(dst), &error), -1);

	ck_assert_int_eq(smtp_parse_xtext_encode("a+b=c d", 7, dst,
	    sizeof(dst)), 13);
	ck_assert_str_eq(dst, "a+2Bb+3Dc+20d");
	ck_assert_int_eq(smtp_parse_xtext_encode("\xff\x01", 2, dst,
	    sizeof(dst)), 6);
	ck_assert_str_eq(dst, "+FF+01");
	ck_assert_int_eq(smtp_parse_xtext_encode("12345+", 6, dst, 8), -1);
	ck_assert_int_eq(smtp_parse_xtext_encode("12345+", 6, dst, 9), 8);
	ck_assert_int_eq(smtp_parse_xtext_encode("", 0, dst, 1), 0);
	ck_assert_int_eq(smtp_parse_xtext_encode("a", 1, dst, 0), -1);
	ck_assert_int_eq(smtp_parse_xtext_encode("ab", 2, dst, 2), -1);
	ck_assert_int_eq(smtp_parse_xtext_encode("ab", 2, dst, 3), 2);
	/* Round trip of printable ASCII. */
	{
		char	src[96], enc[300], dec[100];
		int	i, n;

		for (i = 0; i < 95; i++)
			src[i] = (char)(32 + i);
		n = smtp_parse_xtext_encode(src, 95, enc, sizeof(enc));
		ck_assert_int_gt(n, 0);
		ck_assert_int_eq(smtp_parse_xtext_decode(enc, (size_t)n, dec,
		    sizeof(dec), &error), 95);
		ck_assert_mem_eq(dec, src, 95);
	}
}
END_TEST

START_TEST(test_base64)
{
	uint8_t	out[64];

	/* RFC 4648 10 test vectors. */
	ck_assert_int_eq(smtp_parse_base64("", 0, out, sizeof(out)), 0);
	ck_assert_int_eq(smtp_parse_base64("Zg==", 4, out, sizeof(out)), 1);
	ck_assert_mem_eq(out, "f", 1);
	ck_assert_int_eq(smtp_parse_base64("Zm8=", 4, out, sizeof(out)), 2);
	ck_assert_mem_eq(out, "fo", 2);
	ck_assert_int_eq(smtp_parse_base64("Zm9vYmFy", 8, out, sizeof(out)), 6);
	ck_assert_mem_eq(out, "foobar", 6);
	/* AUTH PLAIN: NULs inside. */
	ck_assert_int_eq(smtp_parse_base64("AGEAYg==", 8, out, sizeof(out)),
	    4);
	ck_assert_mem_eq(out, "\0a\0b", 4);
	/* Not base64: length, padding in the middle, bad bytes, spaces. */
	ck_assert_int_eq(smtp_parse_base64("Zg=", 3, out, sizeof(out)), -1);
	ck_assert_int_eq(smtp_parse_base64("Zg==Zg==", 8, out, sizeof(out)),
	    -1);
	ck_assert_int_eq(smtp_parse_base64("Z===", 4, out, sizeof(out)), -1);
	ck_assert_int_eq(smtp_parse_base64("Zm9v YmFy", 9, out, sizeof(out)),
	    -1);
	ck_assert_int_eq(smtp_parse_base64("Zm9-", 4, out, sizeof(out)), -1);
	ck_assert_int_eq(smtp_parse_base64("Zg=a", 4, out, sizeof(out)), -1);
	/* The output bound: exactly enough room, and one byte less. */
	ck_assert_int_eq(smtp_parse_base64("Zm9vYmFy", 8, out, 6), 6);
	ck_assert_int_eq(smtp_parse_base64("Zm9vYmFy", 8, out, 5), -1);
	ck_assert_int_eq(smtp_parse_base64("Zm8=", 4, out, 2), 2);
	ck_assert_int_eq(smtp_parse_base64("Zm8=", 4, out, 1), -1);
}
END_TEST

static Suite *
smtp_parse_suite(void)
{
	Suite	*s = suite_create("smtp_parse");
	TCase	*tc = tcase_create("core");

	tcase_add_loop_test(tc, test_path_table, 0,
	    (int)N_ELEMENTS(path_cases));
	tcase_add_test(tc, test_path_limits);
	tcase_add_loop_test(tc, test_command_table, 0,
	    (int)N_ELEMENTS(cmd_cases));
	tcase_add_test(tc, test_prefix);
	tcase_add_test(tc, test_params_generic);
	tcase_add_test(tc, test_mail_params);
	tcase_add_test(tc, test_mail_envid_limit);
	tcase_add_test(tc, test_rcpt_params);
	tcase_add_test(tc, test_xtext);
	tcase_add_test(tc, test_base64);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(smtp_parse_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
