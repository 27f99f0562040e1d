/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for common/qfile.c: IDs, the CRC, a writer/reader round trip
 * with the null sender and many recipients, every record limit at the
 * maximum and one over, structural errors in hand-made files, truncation
 * at every offset and a flipped byte at every offset, abort and commit
 * leaving exactly the right files, a write failure (RLIMIT_FSIZE in a
 * child) leaving nothing, recipient results surviving a reopen, torn
 * RESULT appends, and qfile_corrupt().
 */
#include "config.h"

#include <sys/types.h>
#include <sys/resource.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "common/buf.h"
#include "common/file.h"
#include "common/qfile.h"
#include "common/str.h"
#include "common/xmalloc.h"

#include "common/banned.h"

#define MSG_BIG		(200 * 1024)
#define NRCPT_MANY	300

static char	spool[64];
static char	incoming[96];

static const struct qfile_limits lim = {
	.max_message_size = 1024 * 1024,
	.max_rcpts = 1000,
	.max_results = 1000
};

static void
setup(void)
{
	ck_assert_int_gt(snprintf(spool, sizeof(spool),
	    "/tmp/test_qfile.XXXXXX"), 0);
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

/* Entries in a folder; the first one's name goes to name_r. */
static int
dir_count(const char *dir, char *name_r, size_t size)
{
	struct dirent	*de;
	DIR		*d;
	int		 n = 0;

	d = opendir(dir);
	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (n++ == 0 && name_r != NULL)
			ck_assert_int_eq(str_copy(name_r, size, de->d_name), 0);
	}
	closedir(d);
	return n;
}

static char *
qpath(const char *id)
{
	return xasprintf("%s/%s", incoming, id);
}

static char *
repeat(char c, size_t n)
{
	char	*s = xmalloc(n + 1);

	memset(s, c, n);
	s[n] = '\0';
	return s;
}

/* A small committed file: sender a@b, two recipients, "hi\r\n". */
static void
write_small(char id_r[QFILE_ID_SIZE])
{
	struct qfile_mail	 m = { .sender = "a@example.org" };
	struct qfile_rcpt	 r1 = { .addr = "x@example.net" };
	struct qfile_rcpt	 r2 = { .addr = "y@example.net",
	    .notify = QFILE_NOTIFY_FAILURE };
	struct qfile_writer	*w;
	const char		*err;

	w = qfile_writer_new(spool, &err);
	ck_assert_ptr_nonnull(w);
	ck_assert_int_eq(qfile_writer_mail(w, &m, &err), 0);
	ck_assert_int_eq(qfile_writer_add_rcpt(w, &r1, &err), 0);
	ck_assert_int_eq(qfile_writer_add_rcpt(w, &r2, &err), 0);
	ck_assert_int_eq(qfile_writer_begin_message(w, 100, &err), 0);
	ck_assert_int_eq(qfile_writer_write(w, "hi\r\n", 4, &err), 0);
	ck_assert_int_eq(qfile_writer_commit(w, id_r, &err), 0);
	qfile_writer_abort(&w);
	ck_assert_ptr_null(w);
}

static void
read_whole(const char *path, char **data_r, size_t *len_r)
{
	const char	*err;

	ck_assert_int_eq(file_read_all(path, 1 << 24, data_r, len_r, &err), 0);
}

static void
write_whole(const char *path, const void *data, size_t len)
{
	int	fd;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(file_write_all(fd, data, len), 0);
	ck_assert_int_eq(close(fd), 0);
}

static void
append_whole(const char *path, const void *data, size_t len)
{
	int	fd;

	fd = open(path, O_WRONLY | O_APPEND);
	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(file_write_all(fd, data, len), 0);
	ck_assert_int_eq(close(fd), 0);
}

/* ---- hand-made files -------------------------------------------------- */

static void
rec(struct buf *b, uint8_t type, const void *p, size_t len)
{
	uint8_t	h[5] = { type, (uint8_t)(len >> 24), (uint8_t)(len >> 16),
		    (uint8_t)(len >> 8), (uint8_t)len };

	ck_assert_int_eq(buf_append(b, h, 5), 0);
	ck_assert_int_eq(buf_append(b, p, len), 0);
}

static void
rec_str(struct buf *b, uint8_t type, const char *s)
{
	rec(b, type, s, strlen(s));
}

static void
rec_u32(struct buf *b, uint8_t type, uint32_t v)
{
	uint8_t	p[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16),
		    (uint8_t)(v >> 8), (uint8_t)v };

	rec(b, type, p, 4);
}

/* VERSION, ARRIVAL. */
static struct buf *
hm_start(void)
{
	struct buf	*b = buf_new(256, 4 << 20);
	uint8_t		 t[8] = { 0, 0, 1, 2, 3, 4, 5, 6 };

	rec_u32(b, QFILE_REC_VERSION, QFILE_VERSION);
	rec(b, QFILE_REC_ARRIVAL, t, 8);
	return b;
}

/* END over everything so far. */
static void
hm_end(struct buf *b)
{
	rec_u32(b, QFILE_REC_END, qfile_crc32c(0, b->data, b->len));
}

/* VERSION ARRIVAL SENDER RCPT, then extra (type, string), MESSAGE, END. */
static struct buf *
hm_with(uint8_t type, const void *p, size_t len)
{
	struct buf	*b = hm_start();

	rec_str(b, QFILE_REC_SENDER, "s@example.org");
	rec_str(b, QFILE_REC_RCPT, "r@example.org");
	if (type != 0)
		rec(b, type, p, len);
	rec_str(b, QFILE_REC_MESSAGE, "hi\r\n");
	hm_end(b);
	return b;
}

/* A RESULT record with a correct CRC; dsn_len may lie. */
static void
hm_result(struct buf *b, uint32_t rcpt, uint8_t status, uint8_t dsn_len,
    const char *dsn, const char *text)
{
	uint8_t		r[2048];
	size_t		dl = strlen(dsn), tl = strlen(text), len;
	uint32_t	crc;

	len = 4 + 1 + 8 + 1 + dl + tl + 4;
	r[0] = QFILE_REC_RESULT;
	r[1] = 0;
	r[2] = 0;
	r[3] = (uint8_t)(len >> 8);
	r[4] = (uint8_t)len;
	r[5] = (uint8_t)(rcpt >> 24);
	r[6] = (uint8_t)(rcpt >> 16);
	r[7] = (uint8_t)(rcpt >> 8);
	r[8] = (uint8_t)rcpt;
	r[9] = status;
	memset(r + 10, 0, 8);
	r[18] = dsn_len;
	memcpy(r + 19, dsn, dl);
	memcpy(r + 19 + dl, text, tl);
	crc = qfile_crc32c(0, r, 5 + len - 4);
	r[5 + len - 4] = (uint8_t)(crc >> 24);
	r[5 + len - 3] = (uint8_t)(crc >> 16);
	r[5 + len - 2] = (uint8_t)(crc >> 8);
	r[5 + len - 1] = (uint8_t)crc;
	ck_assert_int_eq(buf_append(b, r, 5 + len), 0);
}

static int
hm_parse(struct buf *b, const char **err)
{
	struct qfile	*q = NULL;
	int		 ret;

	ret = qfile_parse_buffer(b->data, b->len, &lim, &q, err);
	qfile_free(&q);
	buf_free(&b);
	return ret;
}

/* ---- tests ------------------------------------------------------------ */

/* RESULT records whose CRC is right but whose content is not. */
START_TEST(test_reader_results)
{
	struct qfile	*q;
	struct buf	*b;
	const char	*err;

	b = hm_with(0, NULL, 0);
	hm_result(b, 0, QFILE_STATUS_DEFERRED, 5, "4.4.1", "later");
	hm_result(b, 0, QFILE_STATUS_DELIVERED, 0, "", "");
	ck_assert_int_eq(qfile_parse_buffer(b->data, b->len, &lim, &q, &err),
	    0);
	ck_assert_int_eq(qfile_rcpt_result(q, 0)->status,
	    QFILE_STATUS_DELIVERED);
	ck_assert(qfile_all_final(q));
	qfile_free(&q);
	hm_result(b, 0, QFILE_STATUS_DEFERRED, 0, "", "");
	ck_assert_int_eq(hm_parse(b, &err), -1);
	ck_assert_ptr_nonnull(strstr(err, "final"));

	b = hm_with(0, NULL, 0);
	hm_result(b, 1, QFILE_STATUS_DEFERRED, 0, "", "");	/* no rcpt 1 */
	ck_assert_int_eq(hm_parse(b, &err), -1);
	ck_assert_ptr_nonnull(strstr(err, "invalid fields"));
	b = hm_with(0, NULL, 0);
	hm_result(b, 0, 0, 0, "", "");
	ck_assert_int_eq(hm_parse(b, &err), -1);
	b = hm_with(0, NULL, 0);
	hm_result(b, 0, 4, 0, "", "");
	ck_assert_int_eq(hm_parse(b, &err), -1);
	b = hm_with(0, NULL, 0);
	hm_result(b, 0, QFILE_STATUS_FAILED, 6, "5.1.1", "");
	ck_assert_int_eq(hm_parse(b, &err), -1);
	b = hm_with(0, NULL, 0);
	hm_result(b, 0, QFILE_STATUS_FAILED, 16, "5555555555555555", "");
	ck_assert_int_eq(hm_parse(b, &err), -1);
	b = hm_with(0, NULL, 0);
	hm_result(b, 0, QFILE_STATUS_FAILED, 5, "5x1.1", "");
	ck_assert_int_eq(hm_parse(b, &err), -1);
	ck_assert_ptr_nonnull(strstr(err, "invalid text"));
	b = hm_with(0, NULL, 0);
	hm_result(b, 0, QFILE_STATUS_FAILED, 5, "5.1.1", "a\r\nb");
	ck_assert_int_eq(hm_parse(b, &err), -1);
	/* A good record followed by more than one record's worth of junk. */
	b = hm_with(0, NULL, 0);
	hm_result(b, 0, QFILE_STATUS_DEFERRED, 0, "", "");
	{
		char *junk = repeat('\0', 1200);

		ck_assert_int_eq(buf_append(b, junk, 1200), 0);
		free(junk);
	}
	ck_assert_int_eq(hm_parse(b, &err), -1);
}
END_TEST

START_TEST(test_crc)
{
	uint8_t		data[1000];
	uint32_t	a, b;
	size_t		i;

	/* RFC 3720 B.4 check value. */
	ck_assert_uint_eq(qfile_crc32c(0, "123456789", 9), 0xe3069283u);
	for (i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 + 3);
	a = qfile_crc32c(0, data, 333);
	b = qfile_crc32c(a, data + 333, sizeof(data) - 333);
	ck_assert_uint_eq(b, qfile_crc32c(0, data, sizeof(data)));
	ck_assert_uint_eq(qfile_crc32c(0, data, 0), 0);
}
END_TEST

START_TEST(test_id_valid)
{
	ck_assert(qfile_id_valid("0123456789ABCDEFGH"));
	ck_assert(qfile_id_valid("FFFFFFFFFFFFFVVVVV"));
	ck_assert(!qfile_id_valid(NULL));
	ck_assert(!qfile_id_valid(""));
	ck_assert(!qfile_id_valid("0123456789ABCDEFG"));	/* short */
	ck_assert(!qfile_id_valid("0123456789ABCDEFGHI"));	/* long */
	ck_assert(!qfile_id_valid("0123456789abcDEFGH"));	/* lower */
	ck_assert(!qfile_id_valid("0123456789ABGDEFGH"));	/* G in time */
	ck_assert(!qfile_id_valid("0123456789ABCDEFGW"));	/* W in pid */
	ck_assert(!qfile_id_valid("../3456789ABCDEFGH"));
	ck_assert(!qfile_id_valid("0123456789ABC/EFGH"));
	ck_assert(!qfile_id_valid("tmp.0123456789ABCD"));
}
END_TEST

START_TEST(test_id_unique_sorted)
{
	struct qfile_writer	*w;
	const char		*err;
	char			 prev[QFILE_ID_SIZE] = "";
	int			 i;

	for (i = 0; i < 500; i++) {
		w = qfile_writer_new(spool, &err);
		ck_assert_ptr_nonnull(w);
		ck_assert(qfile_id_valid(qfile_writer_id(w)));
		ck_assert_int_lt(strcmp(prev, qfile_writer_id(w)), 0);
		memcpy(prev, qfile_writer_id(w), QFILE_ID_SIZE);
		qfile_writer_abort(&w);
	}
	ck_assert_int_eq(dir_count(incoming, NULL, 0), 0);
}
END_TEST

START_TEST(test_roundtrip)
{
	struct qfile_mail	 m = {
		.sender = "", .size = 12345, .body = QFILE_BODY_8BITMIME,
		.smtputf8 = true, .ret = QFILE_RET_HDRS, .envid = "env-1",
		.auth = ""
	};
	struct qfile_client	 c = {
		.addr = "2001:db8::1", .name = "mx.example.net",
		.helo = "[2001:db8::1]", .protocol = "ESMTPSA",
		.sasl_user = "alice"
	};
	struct qfile_writer	*w;
	struct qfile		*q;
	struct qfile_rcpt	 r;
	struct stat		 st;
	const struct qfile_rcpt	*rr;
	const char		*err;
	char			 id[QFILE_ID_SIZE], addr[64], orcpt[80];
	char			 name[64], *path, *msg, *back;
	uint64_t		 off, len;
	size_t			 i, done, n;

	w = qfile_writer_new(spool, &err);
	ck_assert_ptr_nonnull(w);
	ck_assert_int_eq(qfile_writer_client(w, &c, &err), 0);
	ck_assert_int_eq(qfile_writer_mail(w, &m, &err), 0);
	for (i = 0; i < NRCPT_MANY; i++) {
		ck_assert_int_gt(snprintf(addr, sizeof(addr),
		    "user%zu@example.com", i), 0);
		ck_assert_int_gt(snprintf(orcpt, sizeof(orcpt),
		    "rfc822;orig%zu@example.com", i), 0);
		r.addr = addr;
		r.orcpt = i % 2 ? orcpt : NULL;
		r.notify = i % 3 == 0 ? 0 : i % 3 == 1 ? QFILE_NOTIFY_NEVER :
		    QFILE_NOTIFY_SUCCESS | QFILE_NOTIFY_DELAY;
		ck_assert_int_eq(qfile_writer_add_rcpt(w, &r, &err), 0);
	}
	ck_assert_int_eq(qfile_writer_begin_message(w, MSG_BIG, &err), 0);
	msg = xmalloc(MSG_BIG);
	for (i = 0; i < MSG_BIG; i++)
		msg[i] = (char)(i * 31 + i / 7);
	/* Odd sizes, one larger than the writer's buffer. */
	for (done = 0, n = 1; done < MSG_BIG; done += n, n = n * 3 + 1) {
		if (n > MSG_BIG - done)
			n = MSG_BIG - done;
		ck_assert_int_eq(qfile_writer_write(w, msg + done, n, &err), 0);
	}
	ck_assert(!qfile_writer_too_large(w));
	ck_assert_int_eq(qfile_writer_commit(w, id, &err), 0);
	ck_assert_str_eq(id, qfile_writer_id(w));
	qfile_writer_abort(&w);

	/* Only the final file is left, owner-only. */
	ck_assert_int_eq(dir_count(incoming, name, sizeof(name)), 1);
	ck_assert_str_eq(name, id);
	path = qpath(id);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0600);

	ck_assert_int_eq(qfile_open(path, &lim, &q, &err), 0);
	ck_assert_str_eq(qfile_id(q), id);
	ck_assert_int_ne(qfile_fd(q), -1);
	ck_assert_uint_gt(qfile_arrival_usec(q), 1700000000000000ull);
	ck_assert_str_eq(qfile_mail(q)->sender, "");
	ck_assert_uint_eq(qfile_mail(q)->size, 12345);
	ck_assert_int_eq(qfile_mail(q)->body, QFILE_BODY_8BITMIME);
	ck_assert(qfile_mail(q)->smtputf8);
	ck_assert_int_eq(qfile_mail(q)->ret, QFILE_RET_HDRS);
	ck_assert_str_eq(qfile_mail(q)->envid, "env-1");
	ck_assert_str_eq(qfile_mail(q)->auth, "");
	ck_assert_str_eq(qfile_client(q)->addr, "2001:db8::1");
	ck_assert_str_eq(qfile_client(q)->name, "mx.example.net");
	ck_assert_str_eq(qfile_client(q)->helo, "[2001:db8::1]");
	ck_assert_str_eq(qfile_client(q)->protocol, "ESMTPSA");
	ck_assert_str_eq(qfile_client(q)->sasl_user, "alice");
	ck_assert_uint_eq(qfile_rcpt_count(q), NRCPT_MANY);
	for (i = 0; i < NRCPT_MANY; i++) {
		rr = qfile_rcpt(q, (unsigned int)i);
		ck_assert_int_gt(snprintf(addr, sizeof(addr),
		    "user%zu@example.com", i), 0);
		ck_assert_str_eq(rr->addr, addr);
		if (i % 2) {
			ck_assert_int_gt(snprintf(orcpt, sizeof(orcpt),
			    "rfc822;orig%zu@example.com", i), 0);
			ck_assert_str_eq(rr->orcpt, orcpt);
		} else
			ck_assert_ptr_null(rr->orcpt);
		ck_assert_uint_eq(rr->notify, i % 3 == 0 ? 0 : i % 3 == 1 ?
		    QFILE_NOTIFY_NEVER :
		    QFILE_NOTIFY_SUCCESS | QFILE_NOTIFY_DELAY);
		ck_assert_int_eq(qfile_rcpt_result(q, (unsigned int)i)->status,
		    QFILE_STATUS_PENDING);
	}
	ck_assert(!qfile_all_final(q));
	qfile_message(q, &off, &len);
	ck_assert_uint_eq(len, MSG_BIG);
	back = xmalloc(MSG_BIG);
	ck_assert_int_eq(pread(qfile_fd(q), back, MSG_BIG, (off_t)off),
	    MSG_BIG);
	ck_assert_mem_eq(back, msg, MSG_BIG);
	qfile_free(&q);
	ck_assert_ptr_null(q);
	qfile_free(&q);

	/* The message limit of the reader: at the size and one below. */
	struct qfile_limits l = lim;
	l.max_message_size = MSG_BIG;
	ck_assert_int_eq(qfile_open(path, &l, &q, &err), 0);
	qfile_free(&q);
	l.max_message_size = MSG_BIG - 1;
	ck_assert_int_eq(qfile_open(path, &l, &q, &err), -1);
	ck_assert_ptr_nonnull(strstr(err, "length"));
	ck_assert_ptr_null(q);
	l = lim;
	l.max_rcpts = NRCPT_MANY;
	ck_assert_int_eq(qfile_open(path, &l, &q, &err), 0);
	qfile_free(&q);
	l.max_rcpts = NRCPT_MANY - 1;
	ck_assert_int_eq(qfile_open(path, &l, &q, &err), -1);
	ck_assert_ptr_nonnull(strstr(err, "recipients"));
	free(back);
	free(msg);
	free(path);
}
END_TEST

START_TEST(test_empty_message)
{
	struct qfile_mail	 m = { .sender = "a@b" };
	struct qfile_rcpt	 r = { .addr = "c@d" };
	struct qfile_writer	*w;
	struct qfile		*q;
	const char		*err;
	char			 id[QFILE_ID_SIZE], *path;
	uint64_t		 off, len;

	w = qfile_writer_new(spool, &err);
	ck_assert_ptr_nonnull(w);
	ck_assert_int_eq(qfile_writer_mail(w, &m, &err), 0);
	ck_assert_int_eq(qfile_writer_add_rcpt(w, &r, &err), 0);
	ck_assert_int_eq(qfile_writer_begin_message(w, 0, &err), 0);
	ck_assert_int_eq(qfile_writer_write(w, "", 0, &err), 0);
	ck_assert_int_eq(qfile_writer_commit(w, id, &err), 0);
	qfile_writer_abort(&w);
	path = qpath(id);
	ck_assert_int_eq(qfile_open(path, &lim, &q, &err), 0);
	qfile_message(q, &off, &len);
	ck_assert_uint_eq(len, 0);
	ck_assert_ptr_null(qfile_client(q)->addr);
	ck_assert_ptr_null(qfile_mail(q)->envid);
	ck_assert_int_eq(qfile_mail(q)->body, QFILE_BODY_NONE);
	qfile_free(&q);
	free(path);
}
END_TEST

/* Writer: each string limit at the maximum and one over. */
START_TEST(test_writer_limits)
{
	static const struct {
		int	field;
		size_t	max;
	} f[] = {
		{ 0, QFILE_ADDR_MAX }, { 1, QFILE_ENVID_MAX },
		{ 2, QFILE_ADDR_MAX }, { 3, QFILE_CLIENT_ADDR_MAX },
		{ 4, QFILE_HOST_MAX }, { 5, QFILE_HELO_MAX },
		{ 6, QFILE_PROTOCOL_MAX }, { 7, QFILE_USER_MAX },
		{ 8, QFILE_ADDR_MAX }, { 9, QFILE_ORCPT_MAX },
	};
	struct qfile_writer	*w;
	struct qfile		*q;
	const char		*err;
	char			*s, id[QFILE_ID_SIZE], *path;
	size_t			 i;
	int			 over, ret;

	for (i = 0; i < N_ELEMENTS(f); i++) {
		for (over = 0; over <= 1; over++) {
			struct qfile_mail m = { .sender = "a@b" };
			struct qfile_client c = { .addr = NULL };
			struct qfile_rcpt r = { .addr = "c@d" };

			s = repeat('x', f[i].max + (size_t)over);
			switch (f[i].field) {
			case 0: m.sender = s; break;
			case 1: m.envid = s; break;
			case 2: m.auth = s; break;
			case 3: c.addr = s; break;
			case 4: c.name = s; break;
			case 5: c.helo = s; break;
			case 6: c.protocol = s; break;
			case 7: c.sasl_user = s; break;
			case 8: r.addr = s; break;
			case 9: r.orcpt = s; break;
			}
			w = qfile_writer_new(spool, &err);
			ck_assert_ptr_nonnull(w);
			ret = qfile_writer_mail(w, &m, &err);
			if (ret == 0)
				ret = qfile_writer_client(w, &c, &err);
			if (ret == 0)
				ret = qfile_writer_add_rcpt(w, &r, &err);
			if (over) {
				ck_assert_int_eq(ret, -1);
				ck_assert_ptr_nonnull(strstr(err, "length"));
				/* Failed for good. */
				ck_assert_int_eq(qfile_writer_begin_message(w,
				    10, &err), -1);
				ck_assert_int_eq(qfile_writer_commit(w, id,
				    &err), -1);
			} else {
				ck_assert_int_eq(ret, 0);
				ck_assert_int_eq(qfile_writer_begin_message(w,
				    10, &err), 0);
				ck_assert_int_eq(qfile_writer_commit(w, id,
				    &err), 0);
				path = qpath(id);
				ck_assert_int_eq(qfile_open(path, &lim, &q,
				    &err), 0);
				qfile_free(&q);
				ck_assert_int_eq(unlink(path), 0);
				free(path);
			}
			qfile_writer_abort(&w);
			free(s);
		}
	}
	ck_assert_int_eq(dir_count(incoming, NULL, 0), 0);
}
END_TEST

START_TEST(test_writer_misuse)
{
	struct qfile_mail	 m = { .sender = "a@b" };
	struct qfile_mail	 bad = { .sender = "a\r\nb@c" };
	struct qfile_rcpt	 r = { .addr = "c@d" };
	struct qfile_rcpt	 rn = { .addr = "c@d",
	    .notify = QFILE_NOTIFY_NEVER | QFILE_NOTIFY_DELAY };
	struct qfile_rcpt	 re = { .addr = "" };
	struct qfile_client	 c = { .helo = "x" };
	struct qfile_writer	*w;
	const char		*err;
	char			 id[QFILE_ID_SIZE];

	/* Control characters. */
	w = qfile_writer_new(spool, &err);
	ck_assert_int_eq(qfile_writer_mail(w, &bad, &err), -1);
	ck_assert_ptr_nonnull(strstr(err, "control"));
	qfile_writer_abort(&w);
	/* Out-of-range parameters. */
	{
		struct qfile_mail mb = { .sender = "a@b", .body = 4 };

		w = qfile_writer_new(spool, &err);
		ck_assert_int_eq(qfile_writer_mail(w, &mb, &err), -1);
		qfile_writer_abort(&w);
	}
	/* Sender twice. */
	w = qfile_writer_new(spool, &err);
	ck_assert_int_eq(qfile_writer_mail(w, &m, &err), 0);
	ck_assert_int_eq(qfile_writer_mail(w, &m, &err), -1);
	qfile_writer_abort(&w);
	/* Client twice. */
	w = qfile_writer_new(spool, &err);
	ck_assert_int_eq(qfile_writer_client(w, &c, &err), 0);
	ck_assert_int_eq(qfile_writer_client(w, &c, &err), -1);
	qfile_writer_abort(&w);
	/* NOTIFY=NEVER with others; an empty recipient. */
	w = qfile_writer_new(spool, &err);
	ck_assert_int_eq(qfile_writer_add_rcpt(w, &rn, &err), -1);
	qfile_writer_abort(&w);
	w = qfile_writer_new(spool, &err);
	ck_assert_int_eq(qfile_writer_add_rcpt(w, &re, &err), -1);
	qfile_writer_abort(&w);
	/* Message without recipients. */
	w = qfile_writer_new(spool, &err);
	ck_assert_int_eq(qfile_writer_mail(w, &m, &err), 0);
	ck_assert_int_eq(qfile_writer_begin_message(w, 10, &err), -1);
	qfile_writer_abort(&w);
	/* Write before the message; commit before the message. */
	w = qfile_writer_new(spool, &err);
	ck_assert_int_eq(qfile_writer_write(w, "x", 1, &err), -1);
	ck_assert_int_eq(qfile_writer_commit(w, id, &err), -1);
	qfile_writer_abort(&w);
	/* Envelope after the message began; too large a maximum. */
	w = qfile_writer_new(spool, &err);
	ck_assert_int_eq(qfile_writer_mail(w, &m, &err), 0);
	ck_assert_int_eq(qfile_writer_add_rcpt(w, &r, &err), 0);
	ck_assert_int_eq(qfile_writer_begin_message(w,
	    QFILE_MESSAGE_MAX + 1, &err), -1);
	qfile_writer_abort(&w);
	w = qfile_writer_new(spool, &err);
	ck_assert_int_eq(qfile_writer_mail(w, &m, &err), 0);
	ck_assert_int_eq(qfile_writer_add_rcpt(w, &r, &err), 0);
	ck_assert_int_eq(qfile_writer_begin_message(w, 10, &err), 0);
	ck_assert_int_eq(qfile_writer_add_rcpt(w, &r, &err), -1);
	ck_assert_int_eq(qfile_writer_commit(w, id, &err), -1);
	qfile_writer_abort(&w);
	qfile_writer_abort(&w);		/* NULL is fine */
	/* No spool. */
	ck_assert_ptr_null(qfile_writer_new("/nonexistent/spool", &err));
	ck_assert_ptr_nonnull(strstr(err, "create"));
	ck_assert_int_eq(dir_count(incoming, NULL, 0), 0);
}
END_TEST

/* The message size at the maximum and one over. */
START_TEST(test_writer_max_size)
{
	struct qfile_mail	 m = { .sender = "a@b" };
	struct qfile_rcpt	 r = { .addr = "c@d" };
	struct qfile_writer	*w;
	const char		*err;
	char			 id[QFILE_ID_SIZE], *path;
	int			 over;

	for (over = 0; over <= 1; over++) {
		w = qfile_writer_new(spool, &err);
		ck_assert_int_eq(qfile_writer_mail(w, &m, &err), 0);
		ck_assert_int_eq(qfile_writer_add_rcpt(w, &r, &err), 0);
		ck_assert_int_eq(qfile_writer_begin_message(w, 10, &err), 0);
		ck_assert_int_eq(qfile_writer_write(w, "12345", 5, &err), 0);
		if (over) {
			ck_assert_int_eq(qfile_writer_write(w, "678901", 6,
			    &err), -1);
			ck_assert(qfile_writer_too_large(w));
			ck_assert_int_eq(qfile_writer_commit(w, id, &err), -1);
		} else {
			ck_assert_int_eq(qfile_writer_write(w, "67890", 5,
			    &err), 0);
			ck_assert(!qfile_writer_too_large(w));
			ck_assert_int_eq(qfile_writer_commit(w, id, &err), 0);
			path = qpath(id);
			ck_assert_int_eq(unlink(path), 0);
			free(path);
		}
		qfile_writer_abort(&w);
	}
	ck_assert_int_eq(dir_count(incoming, NULL, 0), 0);
}
END_TEST

/* Reader: each record's length at the maximum and one over. */
START_TEST(test_reader_limits)
{
	static const struct {
		uint8_t	type;
		size_t	max;
	} f[] = {
		{ QFILE_REC_ENVID, QFILE_ENVID_MAX },
		{ QFILE_REC_AUTH, QFILE_ADDR_MAX },
		{ QFILE_REC_CLIENT_ADDR, QFILE_CLIENT_ADDR_MAX },
		{ QFILE_REC_CLIENT_NAME, QFILE_HOST_MAX },
		{ QFILE_REC_HELO, QFILE_HELO_MAX },
		{ QFILE_REC_PROTOCOL, QFILE_PROTOCOL_MAX },
		{ QFILE_REC_SASL_USER, QFILE_USER_MAX },
		{ QFILE_REC_RCPT, QFILE_ADDR_MAX },
	};
	struct buf	*b;
	const char	*err;
	char		*s;
	size_t		 i;

	for (i = 0; i < N_ELEMENTS(f); i++) {
		s = repeat('y', f[i].max + 1);
		ck_assert_int_eq(hm_parse(hm_with(f[i].type, s, f[i].max),
		    &err), 0);
		ck_assert_int_eq(hm_parse(hm_with(f[i].type, s,
		    f[i].max + 1), &err), -1);
		ck_assert_ptr_nonnull(strstr(err, "length"));
		free(s);
	}
	/* SENDER and ORCPT need their own layout. */
	s = repeat('z', QFILE_ORCPT_MAX + 1);
	for (i = 0; i <= 1; i++) {
		b = hm_start();
		rec(b, QFILE_REC_SENDER, s, QFILE_ADDR_MAX + i);
		rec_str(b, QFILE_REC_RCPT, "r@x");
		rec(b, QFILE_REC_ORCPT, s, QFILE_ORCPT_MAX);
		rec_str(b, QFILE_REC_MESSAGE, "");
		hm_end(b);
		ck_assert_int_eq(hm_parse(b, &err), -(int)i);
		b = hm_start();
		rec(b, QFILE_REC_SENDER, s, 0);
		rec_str(b, QFILE_REC_RCPT, "r@x");
		rec(b, QFILE_REC_ORCPT, s, QFILE_ORCPT_MAX + i);
		rec_str(b, QFILE_REC_MESSAGE, "");
		hm_end(b);
		ck_assert_int_eq(hm_parse(b, &err), -(int)i);
	}
	free(s);
	/* Fixed-size records one short and one long. */
	ck_assert_int_eq(hm_parse(hm_with(QFILE_REC_SIZE, "1234567", 7),
	    &err), -1);
	ck_assert_int_eq(hm_parse(hm_with(QFILE_REC_SIZE, "123456789", 9),
	    &err), -1);
	ck_assert_int_eq(hm_parse(hm_with(QFILE_REC_SIZE, "12345678", 8),
	    &err), 0);
	ck_assert_int_eq(hm_parse(hm_with(QFILE_REC_SMTPUTF8, "", 0),
	    &err), 0);
	ck_assert_int_eq(hm_parse(hm_with(QFILE_REC_SMTPUTF8, "x", 1),
	    &err), -1);
	ck_assert_int_eq(hm_parse(hm_with(QFILE_REC_BODY, "\2\2", 2),
	    &err), -1);
	/* An empty RCPT or HELO. */
	ck_assert_int_eq(hm_parse(hm_with(QFILE_REC_RCPT, "", 0), &err), -1);
	ck_assert_int_eq(hm_parse(hm_with(QFILE_REC_HELO, "", 0), &err), -1);
}
END_TEST

START_TEST(test_reader_structure)
{
	struct buf	*b;
	const char	*err;

	ck_assert_int_eq(hm_parse(hm_with(0, NULL, 0), &err), 0);
	/* Values. */
	ck_assert_int_eq(hm_parse(hm_with(QFILE_REC_BODY, "\4", 1), &err), -1);
	ck_assert_ptr_nonnull(strstr(err, "invalid value"));
	ck_assert_int_eq(hm_parse(hm_with(QFILE_REC_BODY, "\0", 1), &err), -1);
	ck_assert_int_eq(hm_parse(hm_with(QFILE_REC_RET, "\3", 1), &err), -1);
	ck_assert_int_eq(hm_parse(hm_with(QFILE_REC_RET, "\2", 1), &err), 0);
	ck_assert_int_eq(hm_parse(hm_with(QFILE_REC_NOTIFY, "\x09", 1),
	    &err), -1);
	ck_assert_int_eq(hm_parse(hm_with(QFILE_REC_NOTIFY, "\x10", 1),
	    &err), -1);
	ck_assert_int_eq(hm_parse(hm_with(QFILE_REC_NOTIFY, "\x0e", 1),
	    &err), 0);
	ck_assert_int_eq(hm_parse(hm_with(QFILE_REC_HELO, "a\nb", 3), &err),
	    -1);
	ck_assert_ptr_nonnull(strstr(err, "control"));
	ck_assert_int_eq(hm_parse(hm_with(QFILE_REC_HELO, "a\0b", 3), &err),
	    -1);
	ck_assert_int_eq(hm_parse(hm_with(QFILE_REC_HELO, "a\x7f", 2), &err),
	    -1);
	ck_assert_int_eq(hm_parse(hm_with(QFILE_REC_HELO, "\xc3\xa9", 2),
	    &err), 0);
	/* Unknown type, repeated singleton, second VERSION. */
	ck_assert_int_eq(hm_parse(hm_with('!', "x", 1), &err), -1);
	ck_assert_ptr_nonnull(strstr(err, "unknown record type"));
	ck_assert_int_eq(hm_parse(hm_with(QFILE_REC_SENDER, "a@b", 3), &err),
	    -1);
	ck_assert_ptr_nonnull(strstr(err, "repeated"));
	ck_assert_int_eq(hm_parse(hm_with(QFILE_REC_VERSION, "\0\0\0\1", 4),
	    &err), -1);
	/* ORCPT twice for one recipient, and before any. */
	b = hm_start();
	rec_str(b, QFILE_REC_SENDER, "");
	rec_str(b, QFILE_REC_RCPT, "r@x");
	rec_str(b, QFILE_REC_ORCPT, "rfc822;a@b");
	rec_str(b, QFILE_REC_ORCPT, "rfc822;a@b");
	rec_str(b, QFILE_REC_MESSAGE, "");
	hm_end(b);
	ck_assert_int_eq(hm_parse(b, &err), -1);
	b = hm_start();
	rec_str(b, QFILE_REC_SENDER, "");
	rec_str(b, QFILE_REC_ORCPT, "rfc822;a@b");
	rec_str(b, QFILE_REC_RCPT, "r@x");
	rec_str(b, QFILE_REC_MESSAGE, "");
	hm_end(b);
	ck_assert_int_eq(hm_parse(b, &err), -1);
	/* Not a queue file; another version. */
	b = buf_new(64, 1024);
	rec_str(b, QFILE_REC_SENDER, "");
	hm_end(b);
	ck_assert_int_eq(hm_parse(b, &err), -1);
	ck_assert_ptr_nonnull(strstr(err, "VERSION"));
	b = buf_new(64, 1024);
	rec_u32(b, QFILE_REC_VERSION, QFILE_VERSION + 1);
	hm_end(b);
	ck_assert_int_eq(hm_parse(b, &err), -1);
	ck_assert_ptr_nonnull(strstr(err, "version 2"));
	/* Missing SENDER, missing RCPT, missing ARRIVAL. */
	b = hm_start();
	rec_str(b, QFILE_REC_RCPT, "r@x");
	rec_str(b, QFILE_REC_MESSAGE, "");
	hm_end(b);
	ck_assert_int_eq(hm_parse(b, &err), -1);
	b = hm_start();
	rec_str(b, QFILE_REC_SENDER, "");
	rec_str(b, QFILE_REC_MESSAGE, "");
	hm_end(b);
	ck_assert_int_eq(hm_parse(b, &err), -1);
	b = buf_new(64, 1024);
	rec_u32(b, QFILE_REC_VERSION, QFILE_VERSION);
	rec_str(b, QFILE_REC_SENDER, "");
	rec_str(b, QFILE_REC_RCPT, "r@x");
	rec_str(b, QFILE_REC_MESSAGE, "");
	hm_end(b);
	ck_assert_int_eq(hm_parse(b, &err), -1);
	/* END before MESSAGE; a record after MESSAGE; garbage after END. */
	b = hm_start();
	rec_str(b, QFILE_REC_SENDER, "");
	rec_str(b, QFILE_REC_RCPT, "r@x");
	hm_end(b);
	ck_assert_int_eq(hm_parse(b, &err), -1);
	b = hm_start();
	rec_str(b, QFILE_REC_SENDER, "");
	rec_str(b, QFILE_REC_RCPT, "r@x");
	rec_str(b, QFILE_REC_MESSAGE, "");
	rec_str(b, QFILE_REC_RCPT, "r@y");
	hm_end(b);
	ck_assert_int_eq(hm_parse(b, &err), -1);
	ck_assert_ptr_nonnull(strstr(err, "after MESSAGE"));
	b = hm_with(0, NULL, 0);
	ck_assert_int_eq(buf_append(b, "GARBAGE!", 8), 0);	/* torn */
	ck_assert_int_eq(hm_parse(b, &err), 0);
	b = hm_with(0, NULL, 0);
	{
		char *junk = repeat('J', 2000);

		ck_assert_int_eq(buf_append(b, junk, 2000), 0);
		free(junk);
	}
	ck_assert_int_eq(hm_parse(b, &err), -1);
	ck_assert_ptr_nonnull(strstr(err, "after END"));
	/* A zero-length file. */
	b = buf_new(16, 16);
	ck_assert_int_eq(hm_parse(b, &err), -1);
}
END_TEST

START_TEST(test_truncation_every_offset)
{
	struct qfile	*q;
	const char	*err;
	char		 id[QFILE_ID_SIZE], *path, *data, *tpath;
	size_t		 len, i;

	write_small(id);
	path = qpath(id);
	read_whole(path, &data, &len);
	ck_assert_int_eq(qfile_parse_buffer(data, len, &lim, &q, &err), 0);
	qfile_free(&q);
	for (i = 0; i < len; i++) {
		ck_assert_msg(qfile_parse_buffer(data, i, &lim, &q, &err) == -1,
		    "prefix of %zu bytes accepted", i);
		ck_assert_ptr_null(q);
	}
	/* The same through files, every tenth offset. */
	tpath = qpath("trunc");
	for (i = 0; i < len; i += 10) {
		write_whole(tpath, data, i);
		ck_assert_int_eq(qfile_open(tpath, &lim, &q, &err), -1);
		ck_assert_ptr_nonnull(strstr(err, tpath));
	}
	free(tpath);
	free(data);
	free(path);
}
END_TEST

START_TEST(test_flip_every_byte)
{
	struct qfile	*q;
	const char	*err;
	char		 id[QFILE_ID_SIZE], *path, *data;
	size_t		 len, i;
	unsigned int	 k;
	static const uint8_t flips[] = { 0x01, 0x80, 0xff, 0x20 };

	write_small(id);
	path = qpath(id);
	read_whole(path, &data, &len);
	for (i = 0; i < len; i++) {
		for (k = 0; k < N_ELEMENTS(flips); k++) {
			data[i] ^= (char)flips[k];
			ck_assert_msg(qfile_parse_buffer(data, len, &lim, &q,
			    &err) == -1, "flip %02x at %zu accepted",
			    flips[k], i);
			data[i] ^= (char)flips[k];
		}
	}
	/* One flip through a file, in the message. */
	data[len - 12] ^= 1;
	write_whole(path, data, len);
	ck_assert_int_eq(qfile_open(path, &lim, &q, &err), -1);
	ck_assert_ptr_nonnull(strstr(err, "checksum"));
	free(data);
	free(path);
}
END_TEST

/* Whether incoming/name is locked by a writer (flock, as the qmgr asks). */
static bool
is_locked(const char *name)
{
	char	path[512];
	bool	locked;
	int	fd;

	(void)snprintf(path, sizeof(path), "%s/%s", incoming, name);
	fd = open(path, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	locked = flock(fd, LOCK_SH | LOCK_NB) == -1 && errno == EWOULDBLOCK;
	(void)close(fd);
	return locked;
}

/*
 * A direct writer's file as the queue manager sees it: named and locked
 * from the start, incomplete (ENODATA) until the commit, then complete,
 * unlocked, and of the age its name says.  A name whose content is older
 * (a recycled file whose emptying was lost) is told apart.
 */
START_TEST(test_direct_states)
{
	struct qfile_mail	 m = { .sender = "a@b" };
	struct qfile_rcpt	 r = { .addr = "c@d" };
	struct qfile_writer	*w;
	struct qfile		*q;
	const char		*err;
	char			 id[QFILE_ID_SIZE], *path, *other;

	w = qfile_writer_new(spool, &err);
	ck_assert_ptr_nonnull(w);
	path = qpath(qfile_writer_id(w));
	ck_assert(is_locked(qfile_writer_id(w)));
	ck_assert_int_eq(qfile_open(path, &lim, &q, &err), -1);
	ck_assert_int_eq(errno, ENODATA);
	ck_assert_int_eq(qfile_writer_mail(w, &m, &err), 0);
	ck_assert_int_eq(qfile_writer_add_rcpt(w, &r, &err), 0);
	ck_assert_int_eq(qfile_writer_begin_message(w, 1 << 20, &err), 0);
	ck_assert_int_eq(qfile_writer_write(w, "Subject: x\r\n\r\nhi\r\n",
	    18, &err), 0);
	ck_assert_int_eq(qfile_open(path, &lim, &q, &err), -1);
	ck_assert_int_eq(errno, ENODATA);
	ck_assert(is_locked(qfile_writer_id(w)));
	ck_assert_int_eq(qfile_writer_commit(w, id, &err), 0);
	ck_assert(!is_locked(id));
	qfile_writer_abort(&w);
	ck_assert_int_eq(qfile_open(path, &lim, &q, &err), 0);
	ck_assert(qfile_arrival_matches_id(q));
	qfile_free(&q);

	/* The same bytes under a later name. */
	usleep(10);
	w = qfile_writer_new(spool, &err);
	other = qpath(qfile_writer_id(w));
	qfile_writer_abort(&w);
	ck_assert_int_eq(rename(path, other), 0);
	ck_assert_int_eq(qfile_open(other, &lim, &q, &err), 0);
	ck_assert(!qfile_arrival_matches_id(q));
	qfile_free(&q);
	ck_assert_int_eq(unlink(other), 0);
	free(other);
	free(path);
}
END_TEST

START_TEST(test_abort_leaves_nothing)
{
	struct qfile_mail	 m = { .sender = "a@b" };
	struct qfile_rcpt	 r = { .addr = "c@d" };
	struct qfile_writer	*w;
	const char		*err;
	char			 name[64];

	w = qfile_writer_new(spool, &err);
	ck_assert_ptr_nonnull(w);
	/* Named at once, and locked until it is committed. */
	ck_assert_int_eq(dir_count(incoming, name, sizeof(name)), 1);
	ck_assert_str_eq(name, qfile_writer_id(w));
	ck_assert(is_locked(name));
	qfile_writer_abort(&w);
	ck_assert_int_eq(dir_count(incoming, NULL, 0), 0);

	/* Mid-DATA. */
	w = qfile_writer_new(spool, &err);
	ck_assert_int_eq(qfile_writer_mail(w, &m, &err), 0);
	ck_assert_int_eq(qfile_writer_add_rcpt(w, &r, &err), 0);
	ck_assert_int_eq(qfile_writer_begin_message(w, 1 << 20, &err), 0);
	ck_assert_int_eq(qfile_writer_write(w, "Subject: x\r\n", 12, &err), 0);
	qfile_writer_abort(&w);
	ck_assert_ptr_null(w);
	ck_assert_int_eq(dir_count(incoming, NULL, 0), 0);
}
END_TEST

/* In a child: a file size limit makes the writes fail. */
static int
fsize_child(void)
{
	struct qfile_mail	 m = { .sender = "a@b" };
	struct qfile_rcpt	 r = { .addr = "c@d" };
	struct rlimit		 rl = { 100000, 100000 };
	struct qfile_writer	*w;
	const char		*err;
	char			 id[QFILE_ID_SIZE], *chunk;
	int			 i, failed = 0;

	if (signal(SIGXFSZ, SIG_IGN) == SIG_ERR ||
	    setrlimit(RLIMIT_FSIZE, &rl) == -1)
		return 10;
	w = qfile_writer_new(spool, &err);
	if (w == NULL || qfile_writer_mail(w, &m, &err) == -1 ||
	    qfile_writer_add_rcpt(w, &r, &err) == -1 ||
	    qfile_writer_begin_message(w, 1 << 20, &err) == -1)
		return 11;
	chunk = repeat('m', 10000);
	for (i = 0; i < 20 && !failed; i++)
		if (qfile_writer_write(w, chunk, 10000, &err) == -1)
			failed = 1;
	free(chunk);
	if (!failed || strstr(err, "write") == NULL ||
	    qfile_writer_too_large(w))
		return 12;
	/* After the error commit fails too, and abort cleans up. */
	if (qfile_writer_commit(w, id, &err) != -1)
		return 13;
	qfile_writer_abort(&w);
	if (dir_count(incoming, NULL, 0) != 0)
		return 14;
	/* An error found only at commit (the last buffer). */
	w = qfile_writer_new(spool, &err);
	if (w == NULL || qfile_writer_mail(w, &m, &err) == -1 ||
	    qfile_writer_add_rcpt(w, &r, &err) == -1 ||
	    qfile_writer_begin_message(w, 1 << 20, &err) == -1)
		return 15;
	chunk = repeat('n', 1000);
	for (i = 0; i < 100; i++)
		if (qfile_writer_write(w, chunk, 1000, &err) == -1)
			break;
	free(chunk);
	if (qfile_writer_commit(w, id, &err) != -1)
		return 16;
	qfile_writer_abort(&w);
	if (dir_count(incoming, NULL, 0) != 0)
		return 17;
	return 0;
}

START_TEST(test_write_failure)
{
	pid_t	pid;
	int	status;

	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0)
		_exit(fsize_child());
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
	ck_assert_int_eq(dir_count(incoming, NULL, 0), 0);
}
END_TEST

START_TEST(test_status_survives_reopen)
{
	struct qfile_result	 d = { QFILE_STATUS_DELIVERED, 1000, "2.0.0",
	    "250 2.0.0 Ok: queued as X" };
	struct qfile_result	 df = { QFILE_STATUS_DEFERRED, 2000, "4.4.1",
	    "connect to mx.example.net: Connection refused" };
	struct qfile_result	 f = { QFILE_STATUS_FAILED, 3000, "5.1.1",
	    "550 5.1.1 <y@example.net>: User unknown" };
	struct qfile_result	 bad = { QFILE_STATUS_FAILED, 1, "5.1.1",
	    "a\nb" };
	struct qfile		*q, *q2;
	const struct qfile_result *res;
	const char		*err;
	char			 id[QFILE_ID_SIZE], *path;

	write_small(id);
	path = qpath(id);
	ck_assert_int_eq(qfile_open(path, &lim, &q, &err), 0);
	ck_assert_int_eq(qfile_set_rcpt_status(q, 1, &df, &err), 0);
	ck_assert_int_eq(qfile_rcpt_result(q, 1)->status,
	    QFILE_STATUS_DEFERRED);
	ck_assert_int_eq(qfile_set_rcpt_status(q, 0, &d, &err), 0);
	ck_assert(!qfile_all_final(q));
	/* Errors: no such recipient, bad text, PENDING, final already. */
	ck_assert_int_eq(qfile_set_rcpt_status(q, 2, &f, &err), -1);
	ck_assert_int_eq(qfile_set_rcpt_status(q, 1, &bad, &err), -1);
	bad.status = QFILE_STATUS_PENDING;
	bad.text = "";
	ck_assert_int_eq(qfile_set_rcpt_status(q, 1, &bad, &err), -1);
	ck_assert_int_eq(qfile_set_rcpt_status(q, 0, &f, &err), -1);
	ck_assert_ptr_nonnull(strstr(err, "final"));
	qfile_free(&q);

	ck_assert_int_eq(qfile_open(path, &lim, &q, &err), 0);
	res = qfile_rcpt_result(q, 0);
	ck_assert_int_eq(res->status, QFILE_STATUS_DELIVERED);
	ck_assert_uint_eq(res->time, 1000);
	ck_assert_str_eq(res->dsn, "2.0.0");
	ck_assert_str_eq(res->text, "250 2.0.0 Ok: queued as X");
	res = qfile_rcpt_result(q, 1);
	ck_assert_int_eq(res->status, QFILE_STATUS_DEFERRED);
	ck_assert_uint_eq(res->time, 2000);
	ck_assert_str_eq(res->text, df.text);
	/* Someone else appended meanwhile: refuse. */
	ck_assert_int_eq(qfile_open(path, &lim, &q2, &err), 0);
	ck_assert_int_eq(qfile_set_rcpt_status(q2, 1, &f, &err), 0);
	ck_assert_int_eq(qfile_set_rcpt_status(q, 1, &f, &err), -1);
	ck_assert_ptr_nonnull(strstr(err, "changed"));
	qfile_free(&q2);
	qfile_free(&q);

	ck_assert_int_eq(qfile_open(path, &lim, &q, &err), 0);
	ck_assert_int_eq(qfile_rcpt_result(q, 1)->status, QFILE_STATUS_FAILED);
	ck_assert_str_eq(qfile_rcpt_result(q, 1)->dsn, "5.1.1");
	ck_assert(qfile_all_final(q));
	qfile_free(&q);
	free(path);
}
END_TEST

START_TEST(test_max_results)
{
	struct qfile_result	 df = { QFILE_STATUS_DEFERRED, 1, "", "" };
	struct qfile_limits	 l = lim;
	struct qfile		*q;
	const char		*err;
	char			 id[QFILE_ID_SIZE], *path;
	unsigned int		 i;

	l.max_results = 3;
	write_small(id);
	path = qpath(id);
	ck_assert_int_eq(qfile_open(path, &l, &q, &err), 0);
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(qfile_set_rcpt_status(q, 0, &df, &err), 0);
	ck_assert_int_eq(qfile_set_rcpt_status(q, 0, &df, &err), -1);
	qfile_free(&q);
	ck_assert_int_eq(qfile_open(path, &l, &q, &err), 0);
	ck_assert_str_eq(qfile_rcpt_result(q, 0)->dsn, "");
	qfile_free(&q);
	l.max_results = 2;
	ck_assert_int_eq(qfile_open(path, &l, &q, &err), -1);
	ck_assert_ptr_nonnull(strstr(err, "RESULT"));
	/* DSN and text at the maximum and one over. */
	{
		char *dsn = repeat('5', QFILE_DSN_MAX + 1);
		char *text = repeat('t', QFILE_DIAG_MAX + 1);
		struct qfile_result r = { QFILE_STATUS_DEFERRED, 1, dsn, text };

		ck_assert_int_eq(qfile_open(path, &lim, &q, &err), 0);
		ck_assert_int_eq(qfile_set_rcpt_status(q, 1, &r, &err), -1);
		dsn[QFILE_DSN_MAX] = '\0';
		ck_assert_int_eq(qfile_set_rcpt_status(q, 1, &r, &err), -1);
		text[QFILE_DIAG_MAX] = '\0';
		ck_assert_int_eq(qfile_set_rcpt_status(q, 1, &r, &err), 0);
		qfile_free(&q);
		ck_assert_int_eq(qfile_open(path, &lim, &q, &err), 0);
		ck_assert_str_eq(qfile_rcpt_result(q, 1)->text, text);
		qfile_free(&q);
		free(dsn);
		free(text);
	}
	free(path);
}
END_TEST

START_TEST(test_torn_append)
{
	struct qfile_result	 df = { QFILE_STATUS_DEFERRED, 7, "4.0.0",
	    "try again" };
	struct qfile_result	 d = { QFILE_STATUS_DELIVERED, 8, "2.0.0",
	    "ok" };
	struct qfile		*q;
	struct stat		 st;
	const char		*err;
	char			 id[QFILE_ID_SIZE], *path, *good, *full;
	size_t			 good_len, full_len, k;

	write_small(id);
	path = qpath(id);
	ck_assert_int_eq(qfile_open(path, &lim, &q, &err), 0);
	ck_assert_int_eq(qfile_set_rcpt_status(q, 0, &df, &err), 0);
	qfile_free(&q);
	read_whole(path, &good, &good_len);
	ck_assert_int_eq(qfile_open(path, &lim, &q, &err), 0);
	ck_assert_int_eq(qfile_set_rcpt_status(q, 1, &d, &err), 0);
	qfile_free(&q);
	read_whole(path, &full, &full_len);
	ck_assert_uint_gt(full_len, good_len);

	/* Every torn prefix of the second append reads as the first state. */
	for (k = good_len + 1; k < full_len; k++) {
		write_whole(path, full, k);
		ck_assert_msg(qfile_open(path, &lim, &q, &err) == 0,
		    "torn at %zu: %s", k, err);
		ck_assert_int_eq(qfile_rcpt_result(q, 1)->status,
		    QFILE_STATUS_PENDING);
		ck_assert_int_eq(qfile_rcpt_result(q, 0)->status,
		    QFILE_STATUS_DEFERRED);
		qfile_free(&q);
	}
	/* A whole-length record of zeros (size updated, data not). */
	write_whole(path, good, good_len);
	{
		char *z = xcalloc(1, full_len - good_len);

		append_whole(path, z, full_len - good_len);
		free(z);
	}
	ck_assert_int_eq(qfile_open(path, &lim, &q, &err), 0);
	/* The next update cuts the torn bytes and appends. */
	ck_assert_int_eq(qfile_set_rcpt_status(q, 1, &d, &err), 0);
	qfile_free(&q);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq((size_t)st.st_size, full_len);
	ck_assert_int_eq(qfile_open(path, &lim, &q, &err), 0);
	ck_assert_int_eq(qfile_rcpt_result(q, 1)->status,
	    QFILE_STATUS_DELIVERED);
	qfile_free(&q);

	/* A bad CRC in a record that is not the last is corruption. */
	full[good_len - 6] ^= 0x40;
	write_whole(path, full, full_len);
	ck_assert_int_eq(qfile_open(path, &lim, &q, &err), -1);
	ck_assert_ptr_nonnull(strstr(err, "checksum"));
	/* A bad CRC in the last record is a torn append. */
	full[good_len - 6] ^= 0x40;
	full[full_len - 6] ^= 0x40;
	write_whole(path, full, full_len);
	ck_assert_int_eq(qfile_open(path, &lim, &q, &err), 0);
	ck_assert_int_eq(qfile_rcpt_result(q, 1)->status,
	    QFILE_STATUS_PENDING);
	qfile_free(&q);
	free(good);
	free(full);
	free(path);
}
END_TEST

START_TEST(test_corrupt)
{
	struct qfile	*q;
	struct stat	 st;
	const char	*err;
	char		 id[QFILE_ID_SIZE], *path, *cdir, name[64];

	write_small(id);
	path = qpath(id);
	write_whole(path, "bad", 3);
	ck_assert_int_eq(qfile_open(path, &lim, &q, &err), -1);
	ck_assert_int_eq(qfile_corrupt(spool, path, err, &err), 0);
	ck_assert_int_eq(dir_count(incoming, NULL, 0), 0);
	cdir = xasprintf("%s/%s", spool, QFILE_DIR_CORRUPT);
	ck_assert_int_eq(stat(cdir, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0700);
	ck_assert_int_eq(dir_count(cdir, name, sizeof(name)), 1);
	ck_assert_str_eq(name, id);
	/* The same name again is kept beside the first. */
	write_whole(path, "worse", 5);
	ck_assert_int_eq(qfile_corrupt(spool, path, "test\n", &err), 0);
	ck_assert_int_eq(dir_count(cdir, NULL, 0), 2);
	ck_assert_int_eq(dir_count(incoming, NULL, 0), 0);
	/* A missing file. */
	ck_assert_int_eq(qfile_corrupt(spool, path, "gone", &err), -1);
	ck_assert_ptr_nonnull(strstr(err, "rename"));
	/* Open errors: missing, a folder, a parsed buffer cannot update. */
	ck_assert_int_eq(qfile_open(path, &lim, &q, &err), -1);
	ck_assert_int_eq(qfile_open(cdir, &lim, &q, &err), -1);
	{
		struct qfile_result r = { QFILE_STATUS_DELIVERED, 0, "", "" };
		struct buf *b = hm_with(0, NULL, 0);

		ck_assert_int_eq(qfile_parse_buffer(b->data, b->len, &lim, &q,
		    &err), 0);
		ck_assert_ptr_null(qfile_id(q));
		ck_assert_int_eq(qfile_fd(q), -1);
		ck_assert_int_eq(qfile_set_rcpt_status(q, 0, &r, &err), -1);
		qfile_free(&q);
		buf_free(&b);
	}
	free(cdir);
	free(path);
}
END_TEST

static ino_t
inode_of(const char *path)
{
	struct stat	st;

	ck_assert_int_eq(lstat(path, &st), 0);
	return st.st_ino;
}

/*
 * Recycling: delivered files go to recycle/ emptied, up to the limit; a
 * new queue file is one of them (same inode, valid after the write); a
 * planted link, a second name or leftover bytes never reach a message.
 */
START_TEST(test_recycle)
{
	struct qfile	*q;
	struct stat	 st;
	const char	*err;
	char		 id[4][QFILE_ID_SIZE], *path, *rdir, *rpath, *keep;
	char		 buf[16];
	ino_t		 ino[3], got;
	int		 i, fd;

	rdir = xasprintf("%s/%s", spool, QFILE_DIR_RECYCLE);
	ck_assert_int_eq(mkdir(rdir, 0700), 0);
	qfile_recycle_setup(spool, 2, true);
	for (i = 0; i < 3; i++) {
		write_small(id[i]);
		path = qpath(id[i]);
		ino[i] = inode_of(path);
		ck_assert_int_eq(qfile_recycle_put(spool, path, id[i]), 0);
		ck_assert_int_eq(access(path, F_OK), -1);
		free(path);
	}
	/* Two kept, empty; the third removed (the pool is full). */
	ck_assert_int_eq(dir_count(rdir, NULL, 0), 2);
	for (i = 0; i < 2; i++) {
		rpath = xasprintf("%s/%s", rdir, id[i]);
		ck_assert_int_eq(stat(rpath, &st), 0);
		ck_assert_int_eq(st.st_size, 0);
		free(rpath);
	}
	rpath = xasprintf("%s/%s", rdir, id[2]);
	ck_assert_int_eq(access(rpath, F_OK), -1);
	free(rpath);
	/* A gone file: ENOENT, as unlink() says. */
	path = qpath(id[2]);
	errno = 0;
	ck_assert_int_eq(qfile_recycle_put(spool, path, id[2]), -1);
	ck_assert_int_eq(errno, ENOENT);
	free(path);

	/* The next two files are the kept ones, and read back whole. */
	usleep(150000);		/* the writes above found the pool empty */
	for (i = 0; i < 2; i++) {
		write_small(id[3]);
		path = qpath(id[3]);
		got = inode_of(path);
		ck_assert(got == ino[0] || got == ino[1]);
		ck_assert_int_eq(qfile_open(path, &lim, &q, &err), 0);
		ck_assert_uint_eq(qfile_rcpt_count(q), 2);
		qfile_free(&q);
		ck_assert_int_eq(stat(path, &st), 0);
		ck_assert_uint_eq(st.st_mode & 07777, 0600);
		ck_assert_int_eq(unlink(path), 0);
		free(path);
	}
	ck_assert_int_eq(dir_count(rdir, NULL, 0), 0);

	/* A second name of a file that matters: refused, the file kept. */
	keep = xasprintf("%s/keep", spool);
	write_whole(keep, "precious", 8);
	rpath = xasprintf("%s/%s", rdir, id[0]);
	ck_assert_int_eq(link(keep, rpath), 0);
	usleep(150000);		/* past the pause after an empty pool */
	write_small(id[3]);
	path = qpath(id[3]);
	ck_assert(inode_of(path) != inode_of(keep));
	ck_assert_int_eq(access(rpath, F_OK), -1);
	fd = open(keep, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(read(fd, buf, sizeof(buf)), 8);
	ck_assert_int_eq(memcmp(buf, "precious", 8), 0);
	(void)close(fd);
	ck_assert_int_eq(unlink(path), 0);
	free(path);

	/* A symbolic link: never followed. */
	ck_assert_int_eq(symlink(keep, rpath), 0);
	usleep(150000);
	write_small(id[3]);
	path = qpath(id[3]);
	ck_assert(inode_of(path) != inode_of(keep));
	ck_assert_int_eq(stat(keep, &st), 0);
	ck_assert_int_eq(st.st_size, 8);
	ck_assert_int_eq(dir_count(rdir, NULL, 0), 0);
	ck_assert_int_eq(unlink(path), 0);
	free(path);

	/* A FIFO: never opened for writing (no hang), removed as litter. */
	ck_assert_int_eq(mkfifo(rpath, 0600), 0);
	usleep(150000);
	write_small(id[3]);
	path = qpath(id[3]);
	ck_assert_int_eq(access(rpath, F_OK), -1);
	ck_assert_int_eq(unlink(path), 0);
	free(path);

	/* Bytes left by a crash before the truncate: the writer empties. */
	write_whole(rpath, "leftover bytes of a message", 27);
	usleep(150000);
	write_small(id[3]);
	path = qpath(id[3]);
	ck_assert_int_eq(qfile_open(path, &lim, &q, &err), 0);
	qfile_free(&q);
	free(path);

	/* No recycle/ at all: the file is removed, not left behind. */
	write_small(id[3]);
	path = qpath(id[3]);
	ck_assert_int_eq(rename(rdir, keep), -1);	/* keep is a file */
	ck_assert_int_eq(unlink(keep), 0);
	ck_assert_int_eq(rename(rdir, keep), 0);
	ck_assert_int_eq(qfile_recycle_put(spool, path, id[3]), 0);
	ck_assert_int_eq(access(path, F_OK), -1);
	ck_assert_int_eq(rename(keep, rdir), 0);
	free(path);

	/* Limit 0: setup empties the pool, put removes. */
	write_whole(rpath, "", 0);
	qfile_recycle_setup(spool, 0, true);
	ck_assert_int_eq(dir_count(rdir, NULL, 0), 0);
	write_small(id[3]);
	path = qpath(id[3]);
	ck_assert_int_eq(qfile_recycle_put(spool, path, id[3]), 0);
	ck_assert_int_eq(access(path, F_OK), -1);
	ck_assert_int_eq(dir_count(rdir, NULL, 0), 0);
	free(path);
	free(rpath);
	free(keep);
	free(rdir);
}
END_TEST

static Suite *
qfile_suite(void)
{
	Suite	*s = suite_create("qfile");
	TCase	*tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_crc);
	tcase_add_test(tc, test_id_valid);
	tcase_add_test(tc, test_id_unique_sorted);
	tcase_add_test(tc, test_roundtrip);
	tcase_add_test(tc, test_empty_message);
	tcase_add_test(tc, test_writer_limits);
	tcase_add_test(tc, test_writer_misuse);
	tcase_add_test(tc, test_writer_max_size);
	tcase_add_test(tc, test_reader_limits);
	tcase_add_test(tc, test_reader_structure);
	tcase_add_test(tc, test_reader_results);
	tcase_add_test(tc, test_truncation_every_offset);
	tcase_add_test(tc, test_flip_every_byte);
	tcase_add_test(tc, test_abort_leaves_nothing);
	tcase_add_test(tc, test_direct_states);
	tcase_add_test(tc, test_write_failure);
	tcase_add_test(tc, test_status_survives_reopen);
	tcase_add_test(tc, test_max_results);
	tcase_add_test(tc, test_torn_append);
	tcase_add_test(tc, test_recycle);
	tcase_add_test(tc, test_corrupt);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(qfile_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
