/* SPDX-License-Identifier: ISC */
/*
 * Queue files: the writer smtpd uses to make a message durable, the
 * reader the queue manager and postctl use, and the append-only log of
 * recipient results (the format and the reasons for it are in qfile.h and
 * man postern-queue(5)).  The reader trusts nothing in the file: every
 * length is checked against its type's maximum and the bytes left before
 * anything is read, strings are checked byte by byte, the END checksum is
 * verified before any field is handed out, and a file that fails is
 * reported with the offset and the reason so the caller can move it to
 * corrupt/ with qfile_corrupt().  Paths are trusted.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/time.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "error.h"
#include "file.h"
#include "log.h"
#include "qfile.h"
#include "xmalloc.h"

#include "banned.h"

/* Message bytes buffered by the writer, and read at a time by the reader. */
#define QFILE_IO_CHUNK		65536
/* qfile_open() reads a file up to this size whole before parsing it. */
#define QFILE_OPEN_WHOLE	(256u * 1024)
/* Attempts to find an unused ID before giving up. */
#define QFILE_ID_TRIES		64
/* ID parts: hex digits of the time, base32hex digits of the PID. */
#define QFILE_ID_TIME_DIGITS	13
#define QFILE_ID_PID_DIGITS	5
/* RESULT payload: rcpt u32, status u8, time u64, dsn length u8, CRC u32. */
#define QFILE_RESULT_FIXED	(4 + 1 + 8 + 1)
#define QFILE_RESULT_MIN	(QFILE_RESULT_FIXED + 4)
#define QFILE_RESULT_MAX	(QFILE_RESULT_MIN + QFILE_DSN_MAX + \
				    QFILE_DIAG_MAX)
/* The largest envelope record payload (all string records are smaller). */
#define QFILE_PAYLOAD_MAX	QFILE_RESULT_MAX

/* CRC-32C, reflected polynomial 0x1EDC6F41 (RFC 3720 B.4). */
#define QFILE_CRC_POLY		0x82f63b78u

static const uint32_t qfile_crc_table[256] = {
	0x00000000, 0xf26b8303, 0xe13b70f7, 0x1350f3f4,
	0xc79a971f, 0x35f1141c, 0x26a1e7e8, 0xd4ca64eb,
	0x8ad958cf, 0x78b2dbcc, 0x6be22838, 0x9989ab3b,
	0x4d43cfd0, 0xbf284cd3, 0xac78bf27, 0x5e133c24,
	0x105ec76f, 0xe235446c, 0xf165b798, 0x030e349b,
	0xd7c45070, 0x25afd373, 0x36ff2087, 0xc494a384,
	0x9a879fa0, 0x68ec1ca3, 0x7bbcef57, 0x89d76c54,
	0x5d1d08bf, 0xaf768bbc, 0xbc267848, 0x4e4dfb4b,
	0x20bd8ede, 0xd2d60ddd, 0xc186fe29, 0x33ed7d2a,
	0xe72719c1, 0x154c9ac2, 0x061c6936, 0xf477ea35,
	0xaa64d611, 0x580f5512, 0x4b5fa6e6, 0xb93425e5,
	0x6dfe410e, 0x9f95c20d, 0x8cc531f9, 0x7eaeb2fa,
	0x30e349b1, 0xc288cab2, 0xd1d83946, 0x23b3ba45,
	0xf779deae, 0x05125dad, 0x1642ae59, 0xe4292d5a,
	0xba3a117e, 0x4851927d, 0x5b016189, 0xa96ae28a,
	0x7da08661, 0x8fcb0562, 0x9c9bf696, 0x6ef07595,
	0x417b1dbc, 0xb3109ebf, 0xa0406d4b, 0x522bee48,
	0x86e18aa3, 0x748a09a0, 0x67dafa54, 0x95b17957,
	0xcba24573, 0x39c9c670, 0x2a993584, 0xd8f2b687,
	0x0c38d26c, 0xfe53516f, 0xed03a29b, 0x1f682198,
	0x5125dad3, 0xa34e59d0, 0xb01eaa24, 0x42752927,
	0x96bf4dcc, 0x64d4cecf, 0x77843d3b, 0x85efbe38,
	0xdbfc821c, 0x2997011f, 0x3ac7f2eb, 0xc8ac71e8,
	0x1c661503, 0xee0d9600, 0xfd5d65f4, 0x0f36e6f7,
	0x61c69362, 0x93ad1061, 0x80fde395, 0x72966096,
	0xa65c047d, 0x5437877e, 0x4767748a, 0xb50cf789,
	0xeb1fcbad, 0x197448ae, 0x0a24bb5a, 0xf84f3859,
	0x2c855cb2, 0xdeeedfb1, 0xcdbe2c45, 0x3fd5af46,
	0x7198540d, 0x83f3d70e, 0x90a324fa, 0x62c8a7f9,
	0xb602c312, 0x44694011, 0x5739b3e5, 0xa55230e6,
	0xfb410cc2, 0x092a8fc1, 0x1a7a7c35, 0xe811ff36,
	0x3cdb9bdd, 0xceb018de, 0xdde0eb2a, 0x2f8b6829,
	0x82f63b78, 0x709db87b, 0x63cd4b8f, 0x91a6c88c,
	0x456cac67, 0xb7072f64, 0xa457dc90, 0x563c5f93,
	0x082f63b7, 0xfa44e0b4, 0xe9141340, 0x1b7f9043,
	0xcfb5f4a8, 0x3dde77ab, 0x2e8e845f, 0xdce5075c,
	0x92a8fc17, 0x60c37f14, 0x73938ce0, 0x81f80fe3,
	0x55326b08, 0xa759e80b, 0xb4091bff, 0x466298fc,
	0x1871a4d8, 0xea1a27db, 0xf94ad42f, 0x0b21572c,
	0xdfeb33c7, 0x2d80b0c4, 0x3ed04330, 0xccbbc033,
	0xa24bb5a6, 0x502036a5, 0x4370c551, 0xb11b4652,
	0x65d122b9, 0x97baa1ba, 0x84ea524e, 0x7681d14d,
	0x2892ed69, 0xdaf96e6a, 0xc9a99d9e, 0x3bc21e9d,
	0xef087a76, 0x1d63f975, 0x0e330a81, 0xfc588982,
	0xb21572c9, 0x407ef1ca, 0x532e023e, 0xa145813d,
	0x758fe5d6, 0x87e466d5, 0x94b49521, 0x66df1622,
	0x38cc2a06, 0xcaa7a905, 0xd9f75af1, 0x2b9cd9f2,
	0xff56bd19, 0x0d3d3e1a, 0x1e6dcdee, 0xec064eed,
	0xc38d26c4, 0x31e6a5c7, 0x22b65633, 0xd0ddd530,
	0x0417b1db, 0xf67c32d8, 0xe52cc12c, 0x1747422f,
	0x49547e0b, 0xbb3ffd08, 0xa86f0efc, 0x5a048dff,
	0x8ecee914, 0x7ca56a17, 0x6ff599e3, 0x9d9e1ae0,
	0xd3d3e1ab, 0x21b862a8, 0x32e8915c, 0xc083125f,
	0x144976b4, 0xe622f5b7, 0xf5720643, 0x07198540,
	0x590ab964, 0xab613a67, 0xb831c993, 0x4a5a4a90,
	0x9e902e7b, 0x6cfbad78, 0x7fab5e8c, 0x8dc0dd8f,
	0xe330a81a, 0x115b2b19, 0x020bd8ed, 0xf0605bee,
	0x24aa3f05, 0xd6c1bc06, 0xc5914ff2, 0x37faccf1,
	0x69e9f0d5, 0x9b8273d6, 0x88d28022, 0x7ab90321,
	0xae7367ca, 0x5c18e4c9, 0x4f48173d, 0xbd23943e,
	0xf36e6f75, 0x0105ec76, 0x12551f82, 0xe03e9c81,
	0x34f4f86a, 0xc69f7b69, 0xd5cf889d, 0x27a40b9e,
	0x79b737ba, 0x8bdcb4b9, 0x988c474d, 0x6ae7c44e,
	0xbe2da0a5, 0x4c4623a6, 0x5f16d052, 0xad7d5351,
};

struct qfile_writer {
	char		 id[QFILE_ID_SIZE];
	char		*path;		/* where the file is while written */
	char		*final_path;	/* staged: committed there; else NULL */
	char		*dir;		/* the folder of path */
	char		*queue_dir;
	uint64_t	 dir_ticket;	/* direct: file_dir_ticket() of the name */
	int		 fd;
	bool		 named;		/* path is ours and must be unlinked */
	bool		 failed;
	bool		 too_large;
	bool		 in_message;
	bool		 have_mail;
	bool		 have_client;
	unsigned int	 nrcpt;
	struct buf	*env;		/* envelope records until the message */
	uint64_t	 len_off;	/* file offset of MESSAGE's length */
	uint32_t	 crc_pre;	/* CRC of the bytes before it */
	uint32_t	 crc_msg;	/* CRC of the message bytes */
	uint64_t	 msg_len;
	uint64_t	 max_size;
	uint8_t		*obuf;		/* QFILE_IO_CHUNK bytes */
	size_t		 olen;
};

struct qfile {
	char		*path;		/* NULL for a parsed buffer */
	char		 id[QFILE_ID_SIZE];
	bool		 have_id;
	bool		 truncated;	/* ends before its END record */
	int		 fd;
	uint64_t	 arrival;
	struct qfile_mail mail;
	struct qfile_client client;
	struct qfile_rcpt *rcpts;
	struct qfile_result *results;	/* one per recipient */
	unsigned int	 nrcpt;
	unsigned int	 rcpt_alloc;
	unsigned int	 nresults;	/* RESULT records in the file */
	uint64_t	 msg_off;
	uint64_t	 msg_len;
	uint64_t	 size;		/* file size when parsed */
	uint64_t	 valid_end;	/* end of the last good RESULT */
	struct qfile_limits lim;
	char		**strs;		/* every string q owns */
	size_t		 nstrs;
	size_t		 strs_alloc;
};

/* Where the reader's bytes come from: memory or a file. */
struct qfile_src {
	const uint8_t	*mem;
	int		 fd;
	uint64_t	 size;
};

/*
 * XXX: the one piece of process state in this module.  A process must
 * never hand out the same microsecond twice (two messages in one clock
 * tick, or a clock stepped back), and only the process can remember what
 * it handed out.  It holds no session data, so sessions cannot mix.
 */
static uint64_t	qfile_last_usec;

/* ---- CRC-32C ---------------------------------------------------------- */

static uint32_t
qfile_crc_sw(uint32_t crc, const uint8_t *p, size_t len)
{
	while (len-- > 0)
		crc = qfile_crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return crc;
}

#if defined(__x86_64__)
/* SSE 4.2 has an instruction for exactly this polynomial. */
__attribute__((target("sse4.2"))) static uint32_t
qfile_crc_hw(uint32_t crc, const uint8_t *p, size_t len)
{
	uint64_t	c = crc, v;

	while (len >= 8) {
		memcpy(&v, p, sizeof(v));
		c = __builtin_ia32_crc32di(c, v);
		p += 8;
		len -= 8;
	}
	return qfile_crc_sw((uint32_t)c, p, len);
}
#endif

uint32_t
qfile_crc32c(uint32_t crc, const void *data, size_t len)
{
	crc = ~crc;
#if defined(__x86_64__)
	if (__builtin_cpu_supports("sse4.2"))
		return ~qfile_crc_hw(crc, data, len);
#endif
	return ~qfile_crc_sw(crc, data, len);
}

/* a(x) * b(x) modulo the CRC polynomial, reflected bit order. */
static uint32_t
qfile_crc_mult(uint32_t a, uint32_t b)
{
	uint32_t	m = 1u << 31, p = 0;

	for (;;) {
		if (a & m) {
			p ^= b;
			if ((a & (m - 1)) == 0)
				break;
		}
		m >>= 1;
		b = (b & 1) ? (b >> 1) ^ QFILE_CRC_POLY : b >> 1;
	}
	return p;
}

/*
 * The CRC of A followed by B from the CRC of each and B's length: A's
 * CRC shifted by 8 * len_b bits (x^(8 len_b) mod P) xor B's.  The writer
 * patches the MESSAGE length after the data, so it cannot run one CRC
 * over the file in order.
 */
static uint32_t
qfile_crc_combine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b)
{
	uint32_t	xn = 1u << 31, sq = 1u << 23;	/* x^0, x^8 */

	while (len_b > 0) {
		if (len_b & 1)
			xn = qfile_crc_mult(sq, xn);
		sq = qfile_crc_mult(sq, sq);
		len_b >>= 1;
	}
	return qfile_crc_mult(xn, crc_a) ^ crc_b;
}

/* ---- helpers ---------------------------------------------------------- */

static void
put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void
put_u64(uint8_t *p, uint64_t v)
{
	put_u32(p, (uint32_t)(v >> 32));
	put_u32(p + 4, (uint32_t)v);
}

static uint32_t
get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static uint64_t
get_u64(const uint8_t *p)
{
	return (uint64_t)get_u32(p) << 32 | get_u32(p + 4);
}

static uint64_t
qfile_now_usec(void)
{
	struct timeval	tv;

	(void)gettimeofday(&tv, NULL);
	return (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
}

/* No control bytes: nothing in a field can look like a record or a line. */
static bool
qfile_text_ok(const uint8_t *p, size_t len)
{
	size_t	i;

	for (i = 0; i < len; i++)
		if (p[i] < 0x20 || p[i] == 0x7f)
			return false;
	return true;
}

static bool
qfile_dsn_ok(const uint8_t *p, size_t len)
{
	size_t	i;

	for (i = 0; i < len; i++)
		if ((p[i] < '0' || p[i] > '9') && p[i] != '.')
			return false;
	return true;
}

static bool
qfile_notify_ok(unsigned int n)
{
	if (n == 0 || (n & ~(QFILE_NOTIFY_NEVER | QFILE_NOTIFY_SUCCESS |
	    QFILE_NOTIFY_FAILURE | QFILE_NOTIFY_DELAY)) != 0)
		return false;
	return n == QFILE_NOTIFY_NEVER || (n & QFILE_NOTIFY_NEVER) == 0;
}

/* ---- IDs -------------------------------------------------------------- */

static const char qfile_b32hex[] = "0123456789ABCDEFGHIJKLMNOPQRSTUV";

static void
qfile_id_make(char id[QFILE_ID_SIZE], uint64_t usec, uint32_t pid)
{
	int	i;

	for (i = QFILE_ID_TIME_DIGITS - 1; i >= 0; i--) {
		id[i] = qfile_b32hex[usec & 0xf];
		usec >>= 4;
	}
	for (i = QFILE_ID_LEN - 1; i >= QFILE_ID_TIME_DIGITS; i--) {
		id[i] = qfile_b32hex[pid & 0x1f];
		pid >>= 5;
	}
	id[QFILE_ID_LEN] = '\0';
}

bool
qfile_id_valid(const char *id)
{
	size_t	i;

	if (id == NULL)
		return false;
	for (i = 0; i < QFILE_ID_LEN; i++) {
		if (id[i] >= '0' && id[i] <= '9')
			continue;
		if (id[i] >= 'A' && id[i] <= (i < QFILE_ID_TIME_DIGITS ?
		    'F' : 'V'))
			continue;
		return false;	/* also the NUL of a short ID */
	}
	return id[QFILE_ID_LEN] == '\0';
}

/* ---- writer ----------------------------------------------------------- */

/* Appends one record to the in-memory envelope. */
static int
qfile_env_rec(struct qfile_writer *w, enum qfile_rec type, const void *data,
    size_t len, const char **error_r)
{
	uint8_t	hdr[QFILE_REC_HDR];

	hdr[0] = (uint8_t)type;
	put_u32(hdr + 1, (uint32_t)len);
	if (buf_append(w->env, hdr, sizeof(hdr)) == -1 ||
	    buf_append(w->env, data, len) == -1) {
		w->failed = true;
		*error_r = "queue file envelope too large";
		return -1;
	}
	return 0;
}

/* A string record; NULL skips it when optional. */
static int
qfile_env_str(struct qfile_writer *w, enum qfile_rec type, const char *s,
    size_t min, size_t max, const char *what, const char **error_r)
{
	size_t	len = strlen(s);

	if (len < min || len > max) {
		w->failed = true;
		*error_r = error_fmt("%s: length %zu not in %zu..%zu", what,
		    len, min, max);
		return -1;
	}
	if (!qfile_text_ok((const uint8_t *)s, len)) {
		w->failed = true;
		*error_r = error_fmt("%s: control character", what);
		return -1;
	}
	return qfile_env_rec(w, type, s, len, error_r);
}

static int
qfile_writer_usable(struct qfile_writer *w, const char **error_r)
{
	if (w->failed) {
		*error_r = "queue file writer failed earlier";
		return -1;
	}
	if (w->in_message) {
		w->failed = true;
		*error_r = "envelope record after the message began";
		return -1;
	}
	return 0;
}

struct qfile_writer *
qfile_writer_new(const char *queue_dir, const char **error_r)
{
	return qfile_writer_new_in(queue_dir, QFILE_DIR_INCOMING, error_r);
}

/*
 * The next microsecond this process has not handed out: several threads
 * (the queue manager's bounces, pickup) may write queue files at once, and
 * two of them must never pick the same ID.
 */
static uint64_t
qfile_next_usec(void)
{
	uint64_t	 now, last;

	now = qfile_now_usec();
	last = __atomic_load_n(&qfile_last_usec, __ATOMIC_RELAXED);
	do {
		if (now <= last)
			now = last + 1;
	} while (!__atomic_compare_exchange_n(&qfile_last_usec, &last, now,
	    false, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
	return now;
}

/*
 * A new file for a direct writer, named final at once and locked before
 * the name appears: created under tmp, locked, linked to final (link()
 * never replaces), tmp removed.  Returns the descriptor, or -1: errno
 * EEXIST when final is taken.
 */
static int
qfile_create_locked(const char *tmp, const char *final)
{
	int	fd, saved_errno;

	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0600);
	if (fd == -1)
		return -1;
	if (flock(fd, LOCK_EX | LOCK_NB) == -1 || link(tmp, final) == -1) {
		saved_errno = errno;
		(void)unlink(tmp);
		(void)close(fd);
		errno = saved_errno;
		return -1;
	}
	(void)unlink(tmp);
	return fd;
}

/*
 * Two ways to write.  Staged (maildrop/): folder/tmp.<ID>, renamed to
 * folder/<ID> by the commit, as postern-pickup expects.  Direct
 * (incoming/, where smtpd, pickup and bounces write): the file has its
 * final name incoming/<ID> from the start, locked (flock) by the writer
 * before the name appears and until the commit has made it durable; the
 * END record marks it complete.  The queue manager takes only a file it
 * can lock, and removes one it can lock but that is incomplete (its
 * writer died: nobody was told "queued").  A commit then costs one fsync
 * of the file: the folder entry made here was usually covered meanwhile
 * by a folder fsync (qfile_incoming_sync(), which smtpd runs in the
 * background while the envelope and data arrive), and otherwise the
 * commit runs one.
 */
struct qfile_writer *
qfile_writer_new_in(const char *queue_dir, const char *folder,
    const char **error_r)
{
	struct qfile_writer	*w;
	struct stat		 st;
	uint8_t			 v[8];
	uint64_t		 now;
	char			*tmp = NULL;
	bool			 direct;
	int			 tries, fd = -1;

	direct = strcmp(folder, QFILE_DIR_INCOMING) == 0;
	w = xcalloc(1, sizeof(*w));
	w->fd = -1;
	w->dir = xasprintf("%s/%s", queue_dir, folder);
	w->queue_dir = xstrdup(queue_dir);
	for (tries = 0; tries < QFILE_ID_TRIES; tries++) {
		now = qfile_next_usec();
		qfile_id_make(w->id, now, (uint32_t)getpid());
		free(tmp);
		free(w->path);
		tmp = xasprintf("%s/%s%s", w->dir, QFILE_TMP_PREFIX, w->id);
		w->path = xasprintf("%s/%s", w->dir, w->id);
		/* A PID reused after a clock step could repeat an ID. */
		if (lstat(w->path, &st) == 0)
			continue;
		if (!direct) {
			fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL |
			    O_NOFOLLOW | O_CLOEXEC, 0600);
			if (fd != -1 || errno != EEXIST)
				break;
			continue;
		}
		if ((fd = qfile_recycle_take(queue_dir, w->path)) != -1)
			break;
		fd = qfile_create_locked(tmp, w->path);
		if (fd != -1 || errno != EEXIST)
			break;
	}
	if (fd == -1) {
		*error_r = tries == QFILE_ID_TRIES ?
		    "no unused queue ID found" :
		    error_fmt("create %s: %m", direct ? w->path : tmp);
		free(tmp);
		free(w->path);
		free(w->dir);
		free(w->queue_dir);
		free(w);
		return NULL;
	}
	if (direct) {
		w->dir_ticket = file_dir_ticket(w->dir);
		free(tmp);
	} else {
		w->final_path = w->path;
		w->path = tmp;
	}
	w->fd = fd;
	w->named = true;
	w->env = buf_new(4096, QFILE_ENVELOPE_MAX);
	w->obuf = xmalloc(QFILE_IO_CHUNK);
	put_u32(v, QFILE_VERSION);
	if (qfile_env_rec(w, QFILE_REC_VERSION, v, 4, error_r) == -1)
		log_panic("qfile: empty envelope full");
	put_u64(v, now);
	if (qfile_env_rec(w, QFILE_REC_ARRIVAL, v, 8, error_r) == -1)
		log_panic("qfile: empty envelope full");
	return w;
}

int
qfile_incoming_sync(const char *queue_dir, const char **error_r)
{
	char	dir[PATH_MAX];

	(void)snprintf(dir, sizeof(dir), "%s/%s", queue_dir,
	    QFILE_DIR_INCOMING);
	return file_sync_dir(dir, error_r);
}

const char *
qfile_writer_id(const struct qfile_writer *w)
{
	return w->id;
}

int
qfile_writer_mail(struct qfile_writer *w, const struct qfile_mail *m,
    const char **error_r)
{
	uint8_t	v[8];

	if (qfile_writer_usable(w, error_r) == -1)
		return -1;
	if (w->have_mail) {
		w->failed = true;
		*error_r = "envelope sender given twice";
		return -1;
	}
	w->have_mail = true;
	if (m->sender == NULL || m->body > QFILE_BODY_BINARYMIME ||
	    m->ret > QFILE_RET_HDRS) {
		w->failed = true;
		*error_r = "invalid MAIL parameters";
		return -1;
	}
	if (qfile_env_str(w, QFILE_REC_SENDER, m->sender, 0, QFILE_ADDR_MAX,
	    "sender", error_r) == -1)
		return -1;
	if (m->size != 0) {
		put_u64(v, m->size);
		if (qfile_env_rec(w, QFILE_REC_SIZE, v, 8, error_r) == -1)
			return -1;
	}
	if (m->body != QFILE_BODY_NONE) {
		v[0] = (uint8_t)m->body;
		if (qfile_env_rec(w, QFILE_REC_BODY, v, 1, error_r) == -1)
			return -1;
	}
	if (m->smtputf8 &&
	    qfile_env_rec(w, QFILE_REC_SMTPUTF8, v, 0, error_r) == -1)
		return -1;
	if (m->ret != QFILE_RET_NONE) {
		v[0] = (uint8_t)m->ret;
		if (qfile_env_rec(w, QFILE_REC_RET, v, 1, error_r) == -1)
			return -1;
	}
	if (m->envid != NULL && qfile_env_str(w, QFILE_REC_ENVID, m->envid,
	    1, QFILE_ENVID_MAX, "ENVID", error_r) == -1)
		return -1;
	if (m->auth != NULL && qfile_env_str(w, QFILE_REC_AUTH, m->auth,
	    0, QFILE_ADDR_MAX, "AUTH", error_r) == -1)
		return -1;
	return 0;
}

int
qfile_writer_client(struct qfile_writer *w, const struct qfile_client *c,
    const char **error_r)
{
	if (qfile_writer_usable(w, error_r) == -1)
		return -1;
	if (w->have_client) {
		w->failed = true;
		*error_r = "client given twice";
		return -1;
	}
	w->have_client = true;
	if (c->addr != NULL && qfile_env_str(w, QFILE_REC_CLIENT_ADDR,
	    c->addr, 1, QFILE_CLIENT_ADDR_MAX, "client address",
	    error_r) == -1)
		return -1;
	if (c->name != NULL && qfile_env_str(w, QFILE_REC_CLIENT_NAME,
	    c->name, 1, QFILE_HOST_MAX, "client name", error_r) == -1)
		return -1;
	if (c->helo != NULL && qfile_env_str(w, QFILE_REC_HELO, c->helo, 1,
	    QFILE_HELO_MAX, "HELO", error_r) == -1)
		return -1;
	if (c->protocol != NULL && qfile_env_str(w, QFILE_REC_PROTOCOL,
	    c->protocol, 1, QFILE_PROTOCOL_MAX, "protocol", error_r) == -1)
		return -1;
	if (c->sasl_user != NULL && qfile_env_str(w, QFILE_REC_SASL_USER,
	    c->sasl_user, 1, QFILE_USER_MAX, "SASL user", error_r) == -1)
		return -1;
	return 0;
}

int
qfile_writer_add_rcpt(struct qfile_writer *w, const struct qfile_rcpt *r,
    const char **error_r)
{
	uint8_t	v;

	if (qfile_writer_usable(w, error_r) == -1)
		return -1;
	if (r->addr == NULL ||
	    (r->notify != 0 && !qfile_notify_ok(r->notify))) {
		w->failed = true;
		*error_r = "invalid recipient";
		return -1;
	}
	if (w->nrcpt == UINT32_MAX) {
		w->failed = true;
		*error_r = "too many recipients";
		return -1;
	}
	if (qfile_env_str(w, QFILE_REC_RCPT, r->addr, 1, QFILE_ADDR_MAX,
	    "recipient", error_r) == -1)
		return -1;
	if (r->orcpt != NULL && qfile_env_str(w, QFILE_REC_ORCPT, r->orcpt,
	    1, QFILE_ORCPT_MAX, "ORCPT", error_r) == -1)
		return -1;
	if (r->notify != 0) {
		v = (uint8_t)r->notify;
		if (qfile_env_rec(w, QFILE_REC_NOTIFY, &v, 1, error_r) == -1)
			return -1;
	}
	w->nrcpt++;
	return 0;
}

static int
qfile_writer_flush(struct qfile_writer *w, const char **error_r)
{
	if (w->olen > 0 && file_write_all(w->fd, w->obuf, w->olen) == -1) {
		w->failed = true;
		*error_r = error_fmt("write %s: %m", w->path);
		return -1;
	}
	w->olen = 0;
	return 0;
}

int
qfile_writer_begin_message(struct qfile_writer *w, uint64_t max_size,
    const char **error_r)
{
	uint8_t	hdr[QFILE_REC_HDR] = { QFILE_REC_MESSAGE, 0, 0, 0, 0 };

	if (qfile_writer_usable(w, error_r) == -1)
		return -1;
	if (!w->have_mail || w->nrcpt == 0) {
		w->failed = true;
		*error_r = "message without sender or recipients";
		return -1;
	}
	if (max_size > QFILE_MESSAGE_MAX) {
		w->failed = true;
		*error_r = "maximum message size exceeds the format's";
		return -1;
	}
	w->max_size = max_size;
	/* The length is a placeholder until commit knows it. */
	if (buf_append(w->env, hdr, sizeof(hdr)) == -1) {
		w->failed = true;
		*error_r = "queue file envelope too large";
		return -1;
	}
	w->in_message = true;
	w->len_off = w->env->len - 4;
	w->crc_pre = qfile_crc32c(0, w->env->data, w->env->len - 4);
	w->crc_msg = 0;
	if (file_write_all(w->fd, w->env->data, w->env->len) == -1) {
		w->failed = true;
		*error_r = error_fmt("write %s: %m", w->path);
		return -1;
	}
	buf_free(&w->env);
	return 0;
}

int
qfile_writer_write(struct qfile_writer *w, const void *data, size_t len,
    const char **error_r)
{
	if (w->failed || !w->in_message) {
		w->failed = true;
		*error_r = "queue file writer failed earlier or not in message";
		return -1;
	}
	if (len > w->max_size - w->msg_len) {
		w->failed = true;
		w->too_large = true;
		*error_r = "message exceeds the maximum size";
		return -1;
	}
	w->msg_len += len;
	w->crc_msg = qfile_crc32c(w->crc_msg, data, len);
	if (w->olen + len > QFILE_IO_CHUNK &&
	    qfile_writer_flush(w, error_r) == -1)
		return -1;
	if (len >= QFILE_IO_CHUNK) {
		if (file_write_all(w->fd, data, len) == -1) {
			w->failed = true;
			*error_r = error_fmt("write %s: %m", w->path);
			return -1;
		}
		return 0;
	}
	memcpy(w->obuf + w->olen, data, len);
	w->olen += len;
	return 0;
}

bool
qfile_writer_too_large(const struct qfile_writer *w)
{
	return w->too_large;
}

/* Whether path still names the file we hold (a hold may have moved it). */
static bool
qfile_writer_owns(const struct qfile_writer *w)
{
	struct stat	fst, st;

	return fstat(w->fd, &fst) == 0 && lstat(w->path, &st) == 0 &&
	    fst.st_dev == st.st_dev && fst.st_ino == st.st_ino;
}

/*
 * Removes the file.  A direct one never written to (smtpd names it at
 * MAIL; the transaction ended without data) goes back to recycle/.
 */
static void
qfile_writer_unlink(struct qfile_writer *w)
{
	if (w->named && (w->fd == -1 || qfile_writer_owns(w))) {
		if (w->final_path == NULL && !w->in_message && !w->failed)
			(void)qfile_recycle_put(w->queue_dir, w->path, w->id);
		else
			(void)unlink(w->path);
	}
	w->named = false;
}

int
qfile_writer_commit(struct qfile_writer *w, char id_r[QFILE_ID_SIZE],
    const char **error_r)
{
	uint8_t		lenb[4], end[QFILE_REC_HDR + 4];
	uint32_t	crc;
	ssize_t		n;

	if (w->failed || !w->in_message || !w->named) {
		*error_r = "queue file writer failed earlier or not in message";
		goto fail;
	}
	if (qfile_writer_flush(w, error_r) == -1)
		goto fail;
	put_u32(lenb, (uint32_t)w->msg_len);
	n = pwrite(w->fd, lenb, sizeof(lenb), (off_t)w->len_off);
	if (n != (ssize_t)sizeof(lenb)) {
		if (n >= 0)
			errno = EIO;
		*error_r = error_fmt("write %s: %m", w->path);
		goto fail;
	}
	crc = qfile_crc32c(w->crc_pre, lenb, sizeof(lenb));
	crc = qfile_crc_combine(crc, w->crc_msg, w->msg_len);
	end[0] = QFILE_REC_END;
	put_u32(end + 1, 4);
	put_u32(end + QFILE_REC_HDR, crc);
	if (file_write_all(w->fd, end, sizeof(end)) == -1) {
		*error_r = error_fmt("write %s: %m", w->path);
		goto fail;
	}
	if (w->final_path != NULL) {
		/* file_commit() unlinks tmp itself when it fails before the
		 * rename. */
		w->named = false;
		if (file_commit(w->fd, w->path, w->final_path, error_r) == -1) {
			/*
			 * Only the folder fsync failed after the rename.  The
			 * client gets 4xx and will send again, so the file
			 * must go: keeping it would deliver the message twice
			 * (DESIGN.md: a failed fsync leaves nothing behind).
			 */
			free(w->path);
			w->path = w->final_path;
			w->final_path = NULL;
			w->named = true;
			goto fail;
		}
	} else {
		if (fsync(w->fd) == -1) {
			*error_r = error_fmt("fsync %s: %m", w->path);
			goto fail;
		}
		if (file_sync_dir_ticket(w->dir, w->dir_ticket, error_r) == -1)
			goto fail;
		w->named = false;
	}
	/* Closing unlocks: from now on the queue manager may take it. */
	(void)close(w->fd);
	w->fd = -1;
	memcpy(id_r, w->id, QFILE_ID_SIZE);
	return 0;
fail:
	w->failed = true;
	qfile_writer_unlink(w);
	return -1;
}

void
qfile_writer_abort(struct qfile_writer **wp)
{
	struct qfile_writer	*w = *wp;

	if (w == NULL)
		return;
	qfile_writer_unlink(w);
	if (w->fd != -1)
		(void)close(w->fd);
	buf_free(&w->env);
	free(w->obuf);
	free(w->path);
	free(w->final_path);
	free(w->dir);
	free(w->queue_dir);
	free(w);
	*wp = NULL;
}

/* ---- reader ----------------------------------------------------------- */

static int
qfile_src_read(const struct qfile_src *src, uint64_t off, void *dst,
    size_t len, const char **error_r)
{
	uint8_t	*p = dst;
	ssize_t	 n;

	if (src->mem != NULL) {
		memcpy(dst, src->mem + off, len);
		return 0;
	}
	while (len > 0) {
		n = pread(src->fd, p, len, (off_t)off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			*error_r = n == 0 ? "file shrank while read" :
			    error_fmt("read: %m");
			return -1;
		}
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

/* CRC of len bytes at off, continuing crc. */
static int
qfile_src_crc(const struct qfile_src *src, uint64_t off, uint64_t len,
    uint32_t *crc, const char **error_r)
{
	uint8_t	*chunk;
	size_t	 n;

	if (src->mem != NULL) {
		*crc = qfile_crc32c(*crc, src->mem + off, (size_t)len);
		return 0;
	}
	chunk = xmalloc(QFILE_IO_CHUNK);
	while (len > 0) {
		n = len > QFILE_IO_CHUNK ? QFILE_IO_CHUNK : (size_t)len;
		if (qfile_src_read(src, off, chunk, n, error_r) == -1) {
			free(chunk);
			return -1;
		}
		*crc = qfile_crc32c(*crc, chunk, n);
		off += n;
		len -= n;
	}
	free(chunk);
	return 0;
}

/* A NUL-terminated copy of len bytes that q owns. */
static const char *
qfile_keep(struct qfile *q, const uint8_t *p, size_t len)
{
	char	*s;

	if (q->nstrs == q->strs_alloc) {
		q->strs_alloc = q->strs_alloc == 0 ? 16 : q->strs_alloc * 2;
		q->strs = xreallocarray(q->strs, q->strs_alloc,
		    sizeof(*q->strs));
	}
	s = xstrndup((const char *)p, len);
	q->strs[q->nstrs++] = s;
	return s;
}

/* Payload bounds of each envelope record type; false: unknown type. */
static bool
qfile_rec_bounds(uint8_t type, uint32_t *min_r, uint32_t *max_r)
{
	uint32_t	min = 1, max;

	switch (type) {
	case QFILE_REC_VERSION:
	case QFILE_REC_END:
		min = max = 4;
		break;
	case QFILE_REC_ARRIVAL:
	case QFILE_REC_SIZE:
		min = max = 8;
		break;
	case QFILE_REC_BODY:
	case QFILE_REC_RET:
	case QFILE_REC_NOTIFY:
		max = 1;
		break;
	case QFILE_REC_SMTPUTF8:
		min = max = 0;
		break;
	case QFILE_REC_SENDER:
	case QFILE_REC_AUTH:
		min = 0;
		max = QFILE_ADDR_MAX;
		break;
	case QFILE_REC_RCPT:
		max = QFILE_ADDR_MAX;
		break;
	case QFILE_REC_ORCPT:
		max = QFILE_ORCPT_MAX;
		break;
	case QFILE_REC_ENVID:
		max = QFILE_ENVID_MAX;
		break;
	case QFILE_REC_CLIENT_ADDR:
		max = QFILE_CLIENT_ADDR_MAX;
		break;
	case QFILE_REC_CLIENT_NAME:
		max = QFILE_HOST_MAX;
		break;
	case QFILE_REC_HELO:
		max = QFILE_HELO_MAX;
		break;
	case QFILE_REC_PROTOCOL:
		max = QFILE_PROTOCOL_MAX;
		break;
	case QFILE_REC_SASL_USER:
		max = QFILE_USER_MAX;
		break;
	case QFILE_REC_MESSAGE:
		min = 0;
		max = UINT32_MAX;	/* the caller's limit applies */
		break;
	default:
		return false;
	}
	*min_r = min;
	*max_r = max;
	return true;
}

/* Bit of a record type in the "seen" set, for the at-most-once ones. */
static uint32_t
qfile_rec_once_bit(uint8_t type)
{
	switch (type) {
	case QFILE_REC_ARRIVAL:		return 1u << 0;
	case QFILE_REC_SENDER:		return 1u << 1;
	case QFILE_REC_SIZE:		return 1u << 2;
	case QFILE_REC_BODY:		return 1u << 3;
	case QFILE_REC_SMTPUTF8:	return 1u << 4;
	case QFILE_REC_RET:		return 1u << 5;
	case QFILE_REC_ENVID:		return 1u << 6;
	case QFILE_REC_AUTH:		return 1u << 7;
	case QFILE_REC_CLIENT_ADDR:	return 1u << 8;
	case QFILE_REC_CLIENT_NAME:	return 1u << 9;
	case QFILE_REC_HELO:		return 1u << 10;
	case QFILE_REC_PROTOCOL:	return 1u << 11;
	case QFILE_REC_SASL_USER:	return 1u << 12;
	case QFILE_REC_MESSAGE:		return 1u << 13;
	default:			return 0;
	}
}

static bool
qfile_rec_is_text(uint8_t type)
{
	switch (type) {
	case QFILE_REC_SENDER:
	case QFILE_REC_AUTH:
	case QFILE_REC_RCPT:
	case QFILE_REC_ORCPT:
	case QFILE_REC_ENVID:
	case QFILE_REC_CLIENT_ADDR:
	case QFILE_REC_CLIENT_NAME:
	case QFILE_REC_HELO:
	case QFILE_REC_PROTOCOL:
	case QFILE_REC_SASL_USER:
		return true;
	default:
		return false;
	}
}

/* One envelope record's meaning; the framing is already checked. */
static int
qfile_apply_env(struct qfile *q, uint8_t type, const uint8_t *p,
    uint32_t len, uint64_t off, unsigned int *rcpt_seen, const char **error_r)
{
	struct qfile_rcpt	*r;

	if (qfile_rec_is_text(type) && !qfile_text_ok(p, len)) {
		*error_r = error_fmt("record 0x%02x at offset %llu: control "
		    "character in text", type, (unsigned long long)off);
		return -1;
	}
	switch (type) {
	case QFILE_REC_ARRIVAL:
		q->arrival = get_u64(p);
		break;
	case QFILE_REC_SENDER:
		q->mail.sender = qfile_keep(q, p, len);
		break;
	case QFILE_REC_SIZE:
		q->mail.size = get_u64(p);
		break;
	case QFILE_REC_BODY:
		if (p[0] < QFILE_BODY_7BIT || p[0] > QFILE_BODY_BINARYMIME)
			goto bad_value;
		q->mail.body = (enum qfile_body)p[0];
		break;
	case QFILE_REC_SMTPUTF8:
		q->mail.smtputf8 = true;
		break;
	case QFILE_REC_RET:
		if (p[0] < QFILE_RET_FULL || p[0] > QFILE_RET_HDRS)
			goto bad_value;
		q->mail.ret = (enum qfile_ret)p[0];
		break;
	case QFILE_REC_ENVID:
		q->mail.envid = qfile_keep(q, p, len);
		break;
	case QFILE_REC_AUTH:
		q->mail.auth = qfile_keep(q, p, len);
		break;
	case QFILE_REC_CLIENT_ADDR:
		q->client.addr = qfile_keep(q, p, len);
		break;
	case QFILE_REC_CLIENT_NAME:
		q->client.name = qfile_keep(q, p, len);
		break;
	case QFILE_REC_HELO:
		q->client.helo = qfile_keep(q, p, len);
		break;
	case QFILE_REC_PROTOCOL:
		q->client.protocol = qfile_keep(q, p, len);
		break;
	case QFILE_REC_SASL_USER:
		q->client.sasl_user = qfile_keep(q, p, len);
		break;
	case QFILE_REC_RCPT:
		if (q->nrcpt >= q->lim.max_rcpts) {
			*error_r = error_fmt("more than %u recipients",
			    q->lim.max_rcpts);
			return -1;
		}
		if (q->nrcpt == q->rcpt_alloc) {
			q->rcpt_alloc = q->rcpt_alloc == 0 ? 8 :
			    q->rcpt_alloc * 2;
			if (q->rcpt_alloc > q->lim.max_rcpts)
				q->rcpt_alloc = q->lim.max_rcpts;
			q->rcpts = xreallocarray(q->rcpts, q->rcpt_alloc,
			    sizeof(*q->rcpts));
		}
		r = &q->rcpts[q->nrcpt++];
		memset(r, 0, sizeof(*r));
		r->addr = qfile_keep(q, p, len);
		*rcpt_seen = 0;
		break;
	case QFILE_REC_ORCPT:
	case QFILE_REC_NOTIFY:
		if (q->nrcpt == 0) {
			*error_r = error_fmt("record 0x%02x at offset %llu "
			    "before any recipient", type,
			    (unsigned long long)off);
			return -1;
		}
		if ((*rcpt_seen & (type == QFILE_REC_ORCPT ? 1u : 2u)) != 0) {
			*error_r = error_fmt("record 0x%02x at offset %llu "
			    "repeated for one recipient", type,
			    (unsigned long long)off);
			return -1;
		}
		r = &q->rcpts[q->nrcpt - 1];
		if (type == QFILE_REC_ORCPT) {
			*rcpt_seen |= 1u;
			r->orcpt = qfile_keep(q, p, len);
		} else {
			*rcpt_seen |= 2u;
			if (!qfile_notify_ok(p[0]))
				goto bad_value;
			r->notify = p[0];
		}
		break;
	default:
		log_panic("qfile: unhandled record type 0x%02x", type);
	}
	return 0;
bad_value:
	*error_r = error_fmt("record 0x%02x at offset %llu: invalid value %u",
	    type, (unsigned long long)off, p[0]);
	return -1;
}

/* Checks and applies one RESULT payload (CRC already verified). */
static int
qfile_apply_result(struct qfile *q, const uint8_t *p, uint32_t len,
    uint64_t off, const char **error_r)
{
	struct qfile_result	*res;
	uint32_t		 rcpt, dsn_len, text_len;
	uint8_t			 status;

	rcpt = get_u32(p);
	status = p[4];
	dsn_len = p[13];
	if (rcpt >= q->nrcpt || status < QFILE_STATUS_DELIVERED ||
	    status > QFILE_STATUS_FAILED || dsn_len > QFILE_DSN_MAX ||
	    dsn_len > len - QFILE_RESULT_MIN) {
		*error_r = error_fmt("RESULT at offset %llu: invalid fields",
		    (unsigned long long)off);
		return -1;
	}
	text_len = len - QFILE_RESULT_MIN - dsn_len;
	if (text_len > QFILE_DIAG_MAX ||
	    !qfile_dsn_ok(p + QFILE_RESULT_FIXED, dsn_len) ||
	    !qfile_text_ok(p + QFILE_RESULT_FIXED + dsn_len, text_len)) {
		*error_r = error_fmt("RESULT at offset %llu: invalid text",
		    (unsigned long long)off);
		return -1;
	}
	res = &q->results[rcpt];
	if (res->status == QFILE_STATUS_DELIVERED ||
	    res->status == QFILE_STATUS_FAILED) {
		*error_r = error_fmt("RESULT at offset %llu: recipient %u "
		    "already final", (unsigned long long)off, rcpt);
		return -1;
	}
	if (q->nresults >= q->lim.max_results) {
		*error_r = error_fmt("more than %u RESULT records",
		    q->lim.max_results);
		return -1;
	}
	q->nresults++;
	res->status = (enum qfile_status)status;
	res->time = get_u64(p + 5);
	res->dsn = qfile_keep(q, p + QFILE_RESULT_FIXED, dsn_len);
	res->text = qfile_keep(q, p + QFILE_RESULT_FIXED + dsn_len, text_len);
	return 0;
}

/*
 * The RESULT log after END.  Only the last append can be torn, so a bad
 * record is ignored when it can be the tail of one append (it runs past
 * the end, or ends exactly there with a bad CRC, or its header is bad
 * within the last record's worth of bytes); anywhere else it is
 * corruption.
 */
static int
qfile_parse_results(struct qfile *q, const struct qfile_src *src,
    uint64_t off, const char **error_r)
{
	uint8_t		rec[QFILE_REC_HDR + QFILE_RESULT_MAX];
	uint64_t	left;
	uint32_t	len;

	q->valid_end = off;
	while (off < src->size) {
		left = src->size - off;
		if (left < QFILE_REC_HDR)
			return 0;		/* torn header */
		if (qfile_src_read(src, off, rec, QFILE_REC_HDR,
		    error_r) == -1)
			return -1;
		len = get_u32(rec + 1);
		if (rec[0] != QFILE_REC_RESULT || len < QFILE_RESULT_MIN ||
		    len > QFILE_RESULT_MAX) {
			if (left <= sizeof(rec))
				return 0;
			*error_r = error_fmt("bad record header at offset "
			    "%llu after END", (unsigned long long)off);
			return -1;
		}
		if (QFILE_REC_HDR + (uint64_t)len > left)
			return 0;		/* torn: runs past the end */
		if (qfile_src_read(src, off + QFILE_REC_HDR,
		    rec + QFILE_REC_HDR, len, error_r) == -1)
			return -1;
		if (qfile_crc32c(0, rec, QFILE_REC_HDR + len - 4) !=
		    get_u32(rec + QFILE_REC_HDR + len - 4)) {
			if (QFILE_REC_HDR + (uint64_t)len == left)
				return 0;	/* torn: the last append */
			*error_r = error_fmt("RESULT at offset %llu: bad "
			    "checksum", (unsigned long long)off);
			return -1;
		}
		if (qfile_apply_result(q, rec + QFILE_REC_HDR, len, off,
		    error_r) == -1)
			return -1;
		off += QFILE_REC_HDR + len;
		q->valid_end = off;
	}
	return 0;
}

static int
qfile_parse(struct qfile *q, const struct qfile_src *src,
    const char **error_r)
{
	uint8_t		hdr[QFILE_REC_HDR], pay[QFILE_PAYLOAD_MAX];
	uint64_t	off = 0;
	uint32_t	crc = 0, len, min, max, seen = 0, bit;
	uint32_t	msg_bit = qfile_rec_once_bit(QFILE_REC_MESSAGE);
	uint32_t	need = qfile_rec_once_bit(QFILE_REC_ARRIVAL) |
			    qfile_rec_once_bit(QFILE_REC_SENDER);
	unsigned int	rcpt_seen = 0;
	uint8_t		type;

	for (;;) {
		if (src->size - off < QFILE_REC_HDR) {
			q->truncated = true;
			*error_r = error_fmt("truncated at offset %llu: no "
			    "record header", (unsigned long long)off);
			return -1;
		}
		if (qfile_src_read(src, off, hdr, sizeof(hdr), error_r) == -1)
			return -1;
		type = hdr[0];
		len = get_u32(hdr + 1);
		if (!qfile_rec_bounds(type, &min, &max)) {
			*error_r = error_fmt("unknown record type 0x%02x at "
			    "offset %llu", type, (unsigned long long)off);
			return -1;
		}
		if (off == 0 && type != QFILE_REC_VERSION) {
			*error_r = "not a queue file: no VERSION record";
			return -1;
		}
		if (type == QFILE_REC_MESSAGE)
			max = q->lim.max_message_size > UINT32_MAX ?
			    UINT32_MAX : (uint32_t)q->lim.max_message_size;
		if (len < min || len > max) {
			*error_r = error_fmt("record 0x%02x at offset %llu: "
			    "length %u not in %u..%u", type,
			    (unsigned long long)off, len, min, max);
			return -1;
		}
		if (len > src->size - off - QFILE_REC_HDR) {
			q->truncated = true;
			*error_r = error_fmt("truncated at offset %llu: record "
			    "0x%02x of %u bytes", (unsigned long long)off,
			    type, len);
			return -1;
		}
		if (type == QFILE_REC_END) {
			if (qfile_src_read(src, off + QFILE_REC_HDR, pay, 4,
			    error_r) == -1)
				return -1;
			if ((seen & msg_bit) == 0) {
				*error_r = error_fmt("END at offset %llu "
				    "before MESSAGE", (unsigned long long)off);
				return -1;
			}
			if (get_u32(pay) != crc) {
				*error_r = error_fmt("checksum mismatch: END "
				    "says %08x, the data %08x", get_u32(pay),
				    crc);
				return -1;
			}
			off += QFILE_REC_HDR + 4;
			break;
		}
		if ((seen & msg_bit) != 0) {
			*error_r = error_fmt("record 0x%02x at offset %llu "
			    "after MESSAGE", type, (unsigned long long)off);
			return -1;
		}
		if (type == QFILE_REC_VERSION && off != 0) {
			*error_r = error_fmt("second VERSION record at offset "
			    "%llu", (unsigned long long)off);
			return -1;
		}
		bit = qfile_rec_once_bit(type);
		if ((seen & bit) != 0) {
			*error_r = error_fmt("record 0x%02x at offset %llu "
			    "repeated", type, (unsigned long long)off);
			return -1;
		}
		seen |= bit;
		crc = qfile_crc32c(crc, hdr, sizeof(hdr));
		if (type == QFILE_REC_MESSAGE) {
			if ((seen & need) != need || q->nrcpt == 0) {
				*error_r = "MESSAGE before ARRIVAL, SENDER and "
				    "a recipient";
				return -1;
			}
			q->msg_off = off + QFILE_REC_HDR;
			q->msg_len = len;
			if (qfile_src_crc(src, q->msg_off, len, &crc,
			    error_r) == -1)
				return -1;
			off += QFILE_REC_HDR + (uint64_t)len;
			continue;
		}
		if (qfile_src_read(src, off + QFILE_REC_HDR, pay, len,
		    error_r) == -1)
			return -1;
		crc = qfile_crc32c(crc, pay, len);
		if (type == QFILE_REC_VERSION) {
			if (get_u32(pay) != QFILE_VERSION) {
				*error_r = error_fmt("unsupported queue file "
				    "version %u", get_u32(pay));
				return -1;
			}
		} else if (qfile_apply_env(q, type, pay, len, off, &rcpt_seen,
		    error_r) == -1)
			return -1;
		off += QFILE_REC_HDR + (uint64_t)len;
	}
	q->results = xcalloc(q->nrcpt, sizeof(*q->results));
	return qfile_parse_results(q, src, off, error_r);
}

static struct qfile *
qfile_alloc(const struct qfile_limits *lim)
{
	struct qfile	*q;

	q = xcalloc(1, sizeof(*q));
	q->fd = -1;
	q->lim = *lim;
	if (q->lim.max_message_size > QFILE_MESSAGE_MAX)
		q->lim.max_message_size = QFILE_MESSAGE_MAX;
	return q;
}

int
qfile_parse_buffer(const void *data, size_t size,
    const struct qfile_limits *lim, struct qfile **q_r, const char **error_r)
{
	struct qfile_src	 src = { .mem = data, .fd = -1, .size = size };
	struct qfile		*q;

	*q_r = NULL;
	q = qfile_alloc(lim);
	if (qfile_parse(q, &src, error_r) == -1) {
		qfile_free(&q);
		return -1;
	}
	q->size = size;
	*q_r = q;
	return 0;
}

int
qfile_open(const char *path, const struct qfile_limits *lim,
    struct qfile **q_r, const char **error_r)
{
	struct qfile_src	 src = { .mem = NULL };
	struct qfile		*q;
	struct stat		 st;
	const char		*base, *err;
	uint8_t			*whole = NULL;
	int			 saved_errno;

	*q_r = NULL;
	q = qfile_alloc(lim);
	q->path = xstrdup(path);
	base = strrchr(path, '/');
	base = base == NULL ? path : base + 1;
	if (qfile_id_valid(base)) {
		memcpy(q->id, base, QFILE_ID_SIZE);
		q->have_id = true;
	}
	/* O_NONBLOCK: a FIFO planted in the spool cannot hang us. */
	q->fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (q->fd == -1) {
		*error_r = error_fmt("open %s: %m", path);
		goto fail;
	}
	if (fstat(q->fd, &st) == -1) {
		*error_r = error_fmt("fstat %s: %m", path);
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		*error_r = error_fmt("%s: not a regular file", path);
		goto fail;
	}
	src.fd = q->fd;
	src.size = (uint64_t)st.st_size;
	/* A small file in one read, not one per record. */
	if (src.size <= QFILE_OPEN_WHOLE) {
		whole = xmalloc(src.size > 0 ? (size_t)src.size : 1);
		if (qfile_src_read(&src, 0, whole, (size_t)src.size,
		    &err) == -1) {
			*error_r = error_fmt("%s: %s", path, err);
			goto fail;
		}
		src.mem = whole;
	}
	if (qfile_parse(q, &src, &err) == -1) {
		*error_r = error_fmt("%s: %s", path, err);
		goto fail;
	}
	free(whole);
	q->size = src.size;
	*q_r = q;
	return 0;
fail:
	saved_errno = q->truncated ? ENODATA : errno;
	free(whole);
	qfile_free(&q);
	errno = saved_errno;
	return -1;
}

bool
qfile_arrival_matches_id(const struct qfile *q)
{
	char	id[QFILE_ID_SIZE];

	if (!q->have_id)
		return false;
	qfile_id_make(id, q->arrival, 0);
	return memcmp(id, q->id, QFILE_ID_TIME_DIGITS) == 0;
}

void
qfile_free(struct qfile **qp)
{
	struct qfile	*q = *qp;
	size_t		 i;

	if (q == NULL)
		return;
	if (q->fd != -1)
		(void)close(q->fd);
	for (i = 0; i < q->nstrs; i++)
		free(q->strs[i]);
	free(q->strs);
	free(q->rcpts);
	free(q->results);
	free(q->path);
	free(q);
	*qp = NULL;
}

const char *
qfile_id(const struct qfile *q)
{
	return q->have_id ? q->id : NULL;
}

int
qfile_fd(const struct qfile *q)
{
	return q->fd;
}

uint64_t
qfile_arrival_usec(const struct qfile *q)
{
	return q->arrival;
}

const struct qfile_mail *
qfile_mail(const struct qfile *q)
{
	return &q->mail;
}

const struct qfile_client *
qfile_client(const struct qfile *q)
{
	return &q->client;
}

unsigned int
qfile_rcpt_count(const struct qfile *q)
{
	return q->nrcpt;
}

const struct qfile_rcpt *
qfile_rcpt(const struct qfile *q, unsigned int i)
{
	if (i >= q->nrcpt)
		log_panic("qfile_rcpt: index %u of %u", i, q->nrcpt);
	return &q->rcpts[i];
}

const struct qfile_result *
qfile_rcpt_result(const struct qfile *q, unsigned int i)
{
	if (i >= q->nrcpt)
		log_panic("qfile_rcpt_result: index %u of %u", i, q->nrcpt);
	return &q->results[i];
}

bool
qfile_all_final(const struct qfile *q)
{
	unsigned int	i;

	for (i = 0; i < q->nrcpt; i++)
		if (q->results[i].status != QFILE_STATUS_DELIVERED &&
		    q->results[i].status != QFILE_STATUS_FAILED)
			return false;
	return true;
}

void
qfile_message(const struct qfile *q, uint64_t *offset_r, uint64_t *len_r)
{
	*offset_r = q->msg_off;
	*len_r = q->msg_len;
}

/* ---- recipient results ------------------------------------------------ */

int
qfile_set_rcpt_status(struct qfile *q, unsigned int i,
    const struct qfile_result *res, const char **error_r)
{
	uint8_t		rec[QFILE_REC_HDR + QFILE_RESULT_MAX];
	struct stat	st, qst;
	size_t		dsn_len, text_len, len;
	ssize_t		n;
	int		fd, saved_errno;

	if (q->path == NULL || q->fd == -1) {
		*error_r = "queue file was not opened from a file";
		return -1;
	}
	if (i >= q->nrcpt) {
		*error_r = error_fmt("no recipient %u", i);
		return -1;
	}
	if (res->status < QFILE_STATUS_DELIVERED ||
	    res->status > QFILE_STATUS_FAILED) {
		*error_r = "invalid recipient status";
		return -1;
	}
	if (q->results[i].status == QFILE_STATUS_DELIVERED ||
	    q->results[i].status == QFILE_STATUS_FAILED) {
		*error_r = error_fmt("recipient %u already has a final status",
		    i);
		return -1;
	}
	if (q->nresults >= q->lim.max_results) {
		*error_r = error_fmt("queue file already holds %u results",
		    q->nresults);
		return -1;
	}
	dsn_len = res->dsn == NULL ? 0 : strlen(res->dsn);
	text_len = res->text == NULL ? 0 : strlen(res->text);
	if (dsn_len > QFILE_DSN_MAX ||
	    !qfile_dsn_ok((const uint8_t *)res->dsn, dsn_len) ||
	    text_len > QFILE_DIAG_MAX ||
	    !qfile_text_ok((const uint8_t *)res->text, text_len)) {
		*error_r = "invalid DSN status or diagnostic text";
		return -1;
	}
	len = QFILE_RESULT_MIN + dsn_len + text_len;
	rec[0] = QFILE_REC_RESULT;
	put_u32(rec + 1, (uint32_t)len);
	put_u32(rec + QFILE_REC_HDR, i);
	rec[QFILE_REC_HDR + 4] = (uint8_t)res->status;
	put_u64(rec + QFILE_REC_HDR + 5, res->time);
	rec[QFILE_REC_HDR + 13] = (uint8_t)dsn_len;
	if (dsn_len > 0)
		memcpy(rec + QFILE_REC_HDR + QFILE_RESULT_FIXED, res->dsn,
		    dsn_len);
	if (text_len > 0)
		memcpy(rec + QFILE_REC_HDR + QFILE_RESULT_FIXED + dsn_len,
		    res->text, text_len);
	put_u32(rec + QFILE_REC_HDR + len - 4,
	    qfile_crc32c(0, rec, QFILE_REC_HDR + len - 4));

	fd = open(q->path, O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd == -1) {
		*error_r = error_fmt("open %s: %m", q->path);
		return -1;
	}
	if (fstat(fd, &st) == -1 || fstat(q->fd, &qst) == -1) {
		*error_r = error_fmt("fstat %s: %m", q->path);
		goto fail;
	}
	if (st.st_dev != qst.st_dev || st.st_ino != qst.st_ino ||
	    (uint64_t)st.st_size != q->size) {
		*error_r = error_fmt("%s changed since it was read", q->path);
		goto fail;
	}
	/* Cut a torn append: the new record follows the last good one. */
	if (q->valid_end < q->size &&
	    ftruncate(fd, (off_t)q->valid_end) == -1) {
		*error_r = error_fmt("truncate %s: %m", q->path);
		goto fail;
	}
	n = pwrite(fd, rec, QFILE_REC_HDR + len, (off_t)q->valid_end);
	if (n != (ssize_t)(QFILE_REC_HDR + len)) {
		if (n >= 0)
			errno = ENOSPC;
		*error_r = error_fmt("write %s: %m", q->path);
		goto undo;
	}
	if (fsync(fd) == -1) {
		*error_r = error_fmt("fsync %s: %m", q->path);
		goto undo;
	}
	(void)close(fd);
	q->valid_end += QFILE_REC_HDR + len;
	q->size = q->valid_end;
	/* Re-read our own record: one code path decides what it means. */
	if (qfile_apply_result(q, rec + QFILE_REC_HDR, (uint32_t)len,
	    q->valid_end - QFILE_REC_HDR - len, error_r) == -1)
		log_panic("qfile: own RESULT rejected: %s", *error_r);
	return 0;
undo:
	/* Best effort: a stray partial record would read as torn anyway. */
	saved_errno = errno;
	(void)ftruncate(fd, (off_t)q->valid_end);
	q->size = q->valid_end;
	errno = saved_errno;
fail:
	(void)close(fd);
	return -1;
}

/* ---- corrupt files ---------------------------------------------------- */

int
qfile_corrupt(const char *queue_dir, const char *path, const char *reason,
    const char **error_r)
{
	const char	*base;
	char		*dir, *dest;
	int		 ret = -1;

	base = strrchr(path, '/');
	base = base == NULL ? path : base + 1;
	dir = xasprintf("%s/%s", queue_dir, QFILE_DIR_CORRUPT);
	if (file_ensure_dir(dir, 0700, (uid_t)-1, (gid_t)-1, error_r) == -1) {
		free(dir);
		return -1;
	}
	dest = xasprintf("%s/%s", dir, base);
	/* Never replace an earlier corrupt file: it is evidence. */
	if (renameat2(AT_FDCWD, path, AT_FDCWD, dest, RENAME_NOREPLACE) == -1) {
		if (errno != EEXIST) {
			*error_r = error_fmt("rename %s to %s: %m", path, dest);
			goto out;
		}
		free(dest);
		dest = xasprintf("%s/%s.%llu", dir, base,
		    (unsigned long long)qfile_now_usec());
		if (renameat2(AT_FDCWD, path, AT_FDCWD, dest,
		    RENAME_NOREPLACE) == -1) {
			*error_r = error_fmt("rename %s to %s: %m", path, dest);
			goto out;
		}
	}
	log_q(LOG_ERR, qfile_id_valid(base) ? base : NULL,
	    "corrupt queue file moved to %s: %s", dest, log_safe(reason));
	/* Without these a crash may bring it back; it is then found again. */
	if (file_sync_dir(dir, error_r) == -1 ||
	    file_sync_dir_of(path, error_r) == -1)
		goto out;
	ret = 0;
out:
	free(dest);
	free(dir);
	return ret;
}
