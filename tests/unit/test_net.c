/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for common/net.c: the bounded line reader with CRLF, bare
 * LF, CR inside a line, lines split over several evbuffer chains, lines
 * of exactly max and max + 1 bytes with and without LF, skipping after
 * an over-long line, empty lines and NUL bytes; the strict address
 * parser; address formatting and the descriptor flag helpers.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>

#include <check.h>

#include "common/buf.h"
#include "common/net.h"

#include "common/banned.h"

static struct evbuffer	*in;
static struct buf	*line;

static void
setup(void)
{
	in = evbuffer_new();
	ck_assert_ptr_nonnull(in);
	line = buf_new(0, 1024);
}

static void
teardown(void)
{
	evbuffer_free(in);
	buf_free(&line);
}

/* Adds s as its own chain, so lines can straddle chains. */
static void
add_chunk(const char *s)
{
	ck_assert_int_eq(evbuffer_add_reference(in, s, strlen(s), NULL, NULL),
	    0);
}

static void
add_bytes(const void *p, size_t len)
{
	ck_assert_int_eq(evbuffer_add(in, p, len), 0);
}

/* Fills n bytes of 'a' into a fresh chain. */
static void
add_fill(size_t n)
{
	char	*p = malloc(n);

	ck_assert_ptr_nonnull(p);
	memset(p, 'a', n);
	add_bytes(p, n);
	free(p);
}

static void
expect_line(size_t max, const char *text, bool bare)
{
	bool	bare_lf = !bare;

	ck_assert_int_eq(net_read_line(in, line, max, &bare_lf), LINE_OK);
	ck_assert_str_eq(buf_cstr(line), text);
	ck_assert_uint_eq(line->len, strlen(text));
	ck_assert(bare_lf == bare);
}

START_TEST(test_net_crlf)
{
	add_bytes("HELO x\r\n", 8);
	expect_line(64, "HELO x", false);
	ck_assert_uint_eq(evbuffer_get_length(in), 0);
	ck_assert_int_eq(net_read_line(in, line, 64, NULL), LINE_MORE);
}
END_TEST

START_TEST(test_net_bare_lf)
{
	add_bytes("abc\nnext\r\n", 10);
	expect_line(64, "abc", true);
	expect_line(64, "next", false);
}
END_TEST

START_TEST(test_net_cr_inside)
{
	add_bytes("a\rb\r\n\r\r\nc\r", 10);
	expect_line(64, "a\rb", false);
	expect_line(64, "\r", false);
	/* A lone CR at the end waits for more. */
	ck_assert_int_eq(net_read_line(in, line, 64, NULL), LINE_MORE);
	ck_assert_uint_eq(evbuffer_get_length(in), 2);
	add_bytes("d\n", 2);
	expect_line(64, "c\rd", true);
}
END_TEST

START_TEST(test_net_split_chunks)
{
	bool	bare = true;

	add_chunk("MA");
	ck_assert_int_eq(net_read_line(in, line, 64, &bare), LINE_MORE);
	ck_assert_str_eq(buf_cstr(line), "");
	add_chunk("IL FROM:<a@b>");
	ck_assert_int_eq(net_read_line(in, line, 64, &bare), LINE_MORE);
	add_chunk("\r");
	ck_assert_int_eq(net_read_line(in, line, 64, &bare), LINE_MORE);
	/* CR and LF in different chains. */
	add_chunk("\nRC");
	add_chunk("PT TO:<c@d>\r\n");
	expect_line(64, "MAIL FROM:<a@b>", false);
	expect_line(64, "RCPT TO:<c@d>", false);
	ck_assert_uint_eq(evbuffer_get_length(in), 0);
}
END_TEST

START_TEST(test_net_many_chunks)
{
	static const char *const parts[] = {
		"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "\r", "\n",
	};
	size_t	i;

	for (i = 0; i < N_ELEMENTS(parts); i++)
		add_chunk(parts[i]);
	expect_line(10, "abcdefghij", false);
}
END_TEST

START_TEST(test_net_exactly_max)
{
	/* max bytes + CRLF */
	add_fill(10);
	add_bytes("\r\n", 2);
	expect_line(10, "aaaaaaaaaa", false);
	/* max bytes + LF */
	add_fill(10);
	add_bytes("\n", 1);
	expect_line(10, "aaaaaaaaaa", true);
}
END_TEST

START_TEST(test_net_max_plus_one)
{
	/* max + 1 bytes + CRLF: too long, nothing drained. */
	add_fill(11);
	add_bytes("\r\n", 2);
	ck_assert_int_eq(net_read_line(in, line, 10, NULL), LINE_TOO_LONG);
	ck_assert_uint_eq(evbuffer_get_length(in), 13);
	ck_assert(net_skip_line(in));
	ck_assert_uint_eq(evbuffer_get_length(in), 0);
	/* max + 1 bytes + LF */
	add_fill(11);
	add_bytes("\n", 1);
	ck_assert_int_eq(net_read_line(in, line, 10, NULL), LINE_TOO_LONG);
	ck_assert_uint_eq(evbuffer_get_length(in), 12);
}
END_TEST

START_TEST(test_net_no_lf_limit)
{
	/* max + 1 buffered bytes may still be max and a CR. */
	add_fill(10);
	ck_assert_int_eq(net_read_line(in, line, 10, NULL), LINE_MORE);
	add_bytes("\r", 1);
	ck_assert_int_eq(net_read_line(in, line, 10, NULL), LINE_MORE);
	add_bytes("\n", 1);
	expect_line(10, "aaaaaaaaaa", false);
	/* max + 2 without LF is too long, and nothing is drained. */
	add_fill(12);
	ck_assert_int_eq(net_read_line(in, line, 10, NULL), LINE_TOO_LONG);
	ck_assert_uint_eq(evbuffer_get_length(in), 12);
	add_fill(11);
	ck_assert_int_eq(net_read_line(in, line, 10, NULL), LINE_TOO_LONG);
}
END_TEST

START_TEST(test_net_too_long_then_skip)
{
	add_fill(100);
	add_bytes("\r\nQUIT\r\n", 8);
	ck_assert_int_eq(net_read_line(in, line, 10, NULL), LINE_TOO_LONG);
	ck_assert_str_eq(buf_cstr(line), "");
	ck_assert(net_skip_line(in));
	expect_line(10, "QUIT", false);
}
END_TEST

START_TEST(test_net_skip_across_reads)
{
	add_fill(100);
	ck_assert_int_eq(net_read_line(in, line, 10, NULL), LINE_TOO_LONG);
	/* No LF yet: everything goes, the caller keeps skipping. */
	ck_assert(!net_skip_line(in));
	ck_assert_uint_eq(evbuffer_get_length(in), 0);
	add_chunk("aaaa");
	ck_assert(!net_skip_line(in));
	add_chunk("tail\r\nNOOP\r\n");
	ck_assert(net_skip_line(in));
	expect_line(10, "NOOP", false);
	/* Skipping an empty buffer finds nothing. */
	ck_assert(!net_skip_line(in));
}
END_TEST

START_TEST(test_net_empty_lines)
{
	add_bytes("\r\n\n\r\n", 5);
	expect_line(10, "", false);
	expect_line(10, "", true);
	expect_line(0, "", false);
	ck_assert_int_eq(net_read_line(in, line, 10, NULL), LINE_MORE);
}
END_TEST

START_TEST(test_net_max_zero)
{
	add_bytes("\r", 1);
	ck_assert_int_eq(net_read_line(in, line, 0, NULL), LINE_MORE);
	add_bytes("\n", 1);
	expect_line(0, "", false);
	add_bytes("a", 1);
	ck_assert_int_eq(net_read_line(in, line, 0, NULL), LINE_MORE);
	add_bytes("b", 1);
	ck_assert_int_eq(net_read_line(in, line, 0, NULL), LINE_TOO_LONG);
	ck_assert(!net_skip_line(in));
	add_bytes("a\n", 2);
	ck_assert_int_eq(net_read_line(in, line, 0, NULL), LINE_TOO_LONG);
}
END_TEST

START_TEST(test_net_max_huge)
{
	/* max + 1 must not wrap. */
	add_bytes("abc", 3);
	ck_assert_int_eq(net_read_line(in, line, SIZE_MAX, NULL), LINE_MORE);
	add_bytes("\r\n", 2);
	expect_line(SIZE_MAX, "abc", false);
}
END_TEST

START_TEST(test_net_nul_bytes)
{
	add_bytes("a\0b\0\r\n", 6);
	ck_assert_int_eq(net_read_line(in, line, 10, NULL), LINE_OK);
	ck_assert_uint_eq(line->len, 4);
	ck_assert_mem_eq(line->data, "a\0b\0", 5);
}
END_TEST

START_TEST(test_net_line_buf_smaller)
{
	struct buf *small = buf_new(0, 5);

	/* The buf's own maximum also holds, without draining. */
	add_bytes("1234567\r\n", 9);
	ck_assert_int_eq(net_read_line(in, small, 10, NULL), LINE_TOO_LONG);
	ck_assert_uint_eq(evbuffer_get_length(in), 9);
	ck_assert_uint_eq(small->len, 0);
	buf_free(&small);
	expect_line(10, "1234567", false);
}
END_TEST

START_TEST(test_net_line_reset)
{
	ck_assert_int_eq(buf_append_str(line, "old"), 0);
	add_bytes("new\n", 4);
	expect_line(10, "new", true);
	ck_assert_int_eq(buf_append_str(line, "old"), 0);
	ck_assert_int_eq(net_read_line(in, line, 10, NULL), LINE_MORE);
	ck_assert_str_eq(buf_cstr(line), "");
}
END_TEST

/* Parses spec, expecting success, and checks family, address, port. */
static void
expect_inet(const char *spec, int family, const char *addr, int port)
{
	struct sockaddr_storage ss;
	socklen_t   len = 0;
	const char *error = NULL;
	char	    str[INET6_ADDRSTRLEN];

	ck_assert_msg(net_parse_inet(spec, &ss, &len, &error) == 0,
	    "%s: %s", spec, error);
	ck_assert_int_eq(ss.ss_family, family);
	if (family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)&ss;

		ck_assert_uint_eq(len, sizeof(*sin));
		ck_assert_int_eq(ntohs(sin->sin_port), port);
		ck_assert_ptr_nonnull(inet_ntop(AF_INET, &sin->sin_addr, str,
		    sizeof(str)));
	} else {
		const struct sockaddr_in6 *sin6 =
		    (const struct sockaddr_in6 *)&ss;

		ck_assert_uint_eq(len, sizeof(*sin6));
		ck_assert_int_eq(ntohs(sin6->sin6_port), port);
		ck_assert_ptr_nonnull(inet_ntop(AF_INET6, &sin6->sin6_addr,
		    str, sizeof(str)));
	}
	ck_assert_str_eq(str, addr);
}

START_TEST(test_net_parse_inet_ok)
{
	expect_inet("127.0.0.1:25", AF_INET, "127.0.0.1", 25);
	expect_inet("*:25", AF_INET, "0.0.0.0", 25);
	expect_inet(":587", AF_INET, "0.0.0.0", 587);
	expect_inet("0.0.0.0:1", AF_INET, "0.0.0.0", 1);
	expect_inet("192.0.2.10:65535", AF_INET, "192.0.2.10", 65535);
	expect_inet("[::]:25", AF_INET6, "::", 25);
	expect_inet("[::1]:993", AF_INET6, "::1", 993);
	expect_inet("[2001:db8::25]:465", AF_INET6, "2001:db8::25", 465);
	expect_inet("[::ffff:192.0.2.1]:25", AF_INET6, "::ffff:192.0.2.1",
	    25);
}
END_TEST

START_TEST(test_net_parse_inet_bad)
{
	static const char *const bad[] = {
		"", ":", "*:", "127.0.0.1", "127.0.0.1:", "127.0.0.1:0",
		"127.0.0.1:65536", "127.0.0.1:99999999999999999999",
		"127.0.0.1:25x", "127.0.0.1:+25", "127.0.0.1:-25",
		"127.0.0.1: 25", "127.0.0.1:25 ", " 127.0.0.1:25",
		"127.0.0.1 :25", "localhost:25", "1.2.3:25", "256.1.1.1:25",
		"1.2.3.4.5:25", "::1:25", "::25", "[::1]", "[::1]25",
		"[::1]:", "[::1]:0", "[::1:25", "::1]:25", "[]:25",
		"[1.2.3.4]:25", "[::1]:25:", "[::1]]:25", "[[::1]:25",
		"**:25", "[*]:25", "[fe80::1%eth0]:25", "1.2.3.4:0x19",
		"[::1111:2222:3333:4444:5555:6666:7777:8888:9999]:25",
		"[0000:0000:0000:0000:0000:0000:0000:0000:0000:0000]:25",
	};
	struct sockaddr_storage ss;
	socklen_t   len;
	const char *error;
	size_t	    i;

	for (i = 0; i < N_ELEMENTS(bad); i++) {
		error = NULL;
		ck_assert_msg(net_parse_inet(bad[i], &ss, &len, &error) == -1,
		    "accepted \"%s\"", bad[i]);
		ck_assert_ptr_nonnull(error);
	}
}
END_TEST

START_TEST(test_net_addr_str)
{
	struct sockaddr_in  sin;
	struct sockaddr_in6 sin6;
	struct sockaddr_un  sun;
	struct sockaddr	    sa;
	char		    str[INET6_ADDRSTRLEN], tiny[4];

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	ck_assert_int_eq(inet_pton(AF_INET, "192.0.2.1", &sin.sin_addr), 1);
	ck_assert_int_eq(net_addr_str((struct sockaddr *)&sin, str,
	    sizeof(str)), 0);
	ck_assert_str_eq(str, "192.0.2.1");
	ck_assert_int_eq(net_addr_str((struct sockaddr *)&sin, tiny,
	    sizeof(tiny)), -1);

	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	ck_assert_int_eq(inet_pton(AF_INET6, "2001:db8::1", &sin6.sin6_addr),
	    1);
	ck_assert_int_eq(net_addr_str((struct sockaddr *)&sin6, str,
	    sizeof(str)), 0);
	ck_assert_str_eq(str, "2001:db8::1");
	/* IPv4-mapped shows as IPv4. */
	ck_assert_int_eq(inet_pton(AF_INET6, "::ffff:198.51.100.7",
	    &sin6.sin6_addr), 1);
	ck_assert_int_eq(net_addr_str((struct sockaddr *)&sin6, str,
	    sizeof(str)), 0);
	ck_assert_str_eq(str, "198.51.100.7");

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	ck_assert_int_eq(net_addr_str((struct sockaddr *)&sun, str,
	    sizeof(str)), 0);
	ck_assert_str_eq(str, "local");

	memset(&sa, 0, sizeof(sa));
	sa.sa_family = AF_APPLETALK;
	ck_assert_int_eq(net_addr_str(&sa, str, sizeof(str)), -1);
	ck_assert_str_eq(str, "unknown");
}
END_TEST

START_TEST(test_net_fd_flags)
{
	int	p[2];

	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(fcntl(p[0], F_GETFL) & O_NONBLOCK, 0);
	ck_assert_int_eq(net_set_nonblock(p[0]), 0);
	ck_assert_int_eq(fcntl(p[0], F_GETFL) & O_NONBLOCK, O_NONBLOCK);
	ck_assert_int_eq(net_set_nonblock(p[0]), 0);	/* already set */
	/* Not close-on-exec as well: listeners are inherited. */
	ck_assert_int_eq(fcntl(p[0], F_GETFD) & FD_CLOEXEC, 0);
	ck_assert_int_eq(net_set_cloexec(p[0]), 0);
	ck_assert_int_eq(fcntl(p[0], F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	ck_assert_int_eq(net_set_cloexec(p[0]), 0);
	(void)close(p[0]);
	(void)close(p[1]);
	ck_assert_int_eq(net_set_nonblock(p[0]), -1);
	ck_assert_int_eq(net_set_cloexec(p[0]), -1);
}
END_TEST

static Suite *
net_suite(void)
{
	Suite	*s = suite_create("net");
	TCase	*tc = tcase_create("line");
	TCase	*tc2 = tcase_create("addr");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_net_crlf);
	tcase_add_test(tc, test_net_bare_lf);
	tcase_add_test(tc, test_net_cr_inside);
	tcase_add_test(tc, test_net_split_chunks);
	tcase_add_test(tc, test_net_many_chunks);
	tcase_add_test(tc, test_net_exactly_max);
	tcase_add_test(tc, test_net_max_plus_one);
	tcase_add_test(tc, test_net_no_lf_limit);
	tcase_add_test(tc, test_net_too_long_then_skip);
	tcase_add_test(tc, test_net_skip_across_reads);
	tcase_add_test(tc, test_net_empty_lines);
	tcase_add_test(tc, test_net_max_zero);
	tcase_add_test(tc, test_net_max_huge);
	tcase_add_test(tc, test_net_nul_bytes);
	tcase_add_test(tc, test_net_line_buf_smaller);
	tcase_add_test(tc, test_net_line_reset);
	suite_add_tcase(s, tc);
	tcase_add_test(tc2, test_net_parse_inet_ok);
	tcase_add_test(tc2, test_net_parse_inet_bad);
	tcase_add_test(tc2, test_net_addr_str);
	tcase_add_test(tc2, test_net_fd_flags);
	suite_add_tcase(s, tc2);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(net_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
