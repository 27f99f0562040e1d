/* SPDX-License-Identifier: ISC */
/*
 * postern-postdrop: writes one local submission into the maildrop folder
 * (postern-postdrop(8)).  sendmail(1) runs it with the envelope on the
 * command line and the finished message on standard input; it exits 0
 * only once the file is durable (written, fsynced, renamed into place,
 * folder fsynced).  The queue manager's pickup turns the file into a
 * queue file in incoming/.
 *
 * Installed set-group-ID setgid_group, it runs with the invoking user's
 * uid and a group that may write (not list) the maildrop, so it trusts
 * nothing of its caller: the environment is cleared, the configuration
 * can only be the compiled-in one, descriptors 0-2 are made valid, and
 * it never reads, lists or removes anything in the maildrop; it only
 * creates one new file.  The envelope strings are checked by the queue
 * file writer (lengths, no control bytes); their syntax and everything
 * else is checked again by pickup, which treats the file as untrusted.
 *
 * Input protocol (sendmail writes it): chunks, each a 4-byte big-endian
 * length and that many bytes of the message (1 to POSTDROP_CHUNK_MAX),
 * ended by a chunk of length 0.  Input that ends before that chunk (the
 * writer died) leaves nothing behind; a length of POSTDROP_CANCEL is the
 * writer giving up on purpose (silently, EX_NOINPUT).
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/types.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <unistd.h>

#include "common/conf.h"
#include "common/error.h"
#include "common/qfile.h"
#include "common/str.h"
#include "common/xmalloc.h"
#include "postdrop.h"
#include "common/banned.h"

/* Mode of a drop file: see postern-postdrop(8), FILES. */
#define POSTDROP_FILE_MODE	0604

static const char postdrop_usage[] =
    "usage: postern-postdrop [-Uv] [-B body] [-c dir] [-N notify] "
    "[-R ret] [-V envid]\n"
    "           -f sender -- recipient ...\n";

/*
 * Set by SIGHUP, SIGINT, SIGQUIT and SIGTERM: the read in progress fails
 * with EINTR and the file is removed on the way out.  (The one mutable
 * global: a signal handler can reach nothing else.)
 */
static volatile sig_atomic_t postdrop_signalled;

static void
postdrop_on_signal(int sig)
{
	(void)sig;
	postdrop_signalled = 1;
}

#ifdef __SANITIZE_ADDRESS__
/*
 * The sanitizer build (tests): LeakSanitizer cannot trace a process that
 * runs set-group-ID (it is not dumpable), and ASAN_OPTIONS cannot reach
 * one (/proc/self/environ is closed to it), so it is off there.
 */
const char *__lsan_default_options(void);

const char *
__lsan_default_options(void)
{
	return getegid() != getgid() ? "detect_leaks=0" : "";
}
#endif

static void ATTR_PRINTF(1, 2)
postdrop_error(const char *fmt, ...)
{
	char	 line[1024];
	va_list	 ap;

	va_start(ap, fmt);
	(void)vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	(void)fprintf(stderr, "postern-postdrop: %s\n", line);
}

/*
 * A set-group-ID program must not write its files to whatever the caller
 * left open as 0, 1 or 2 (a closed stderr would become the queue file).
 */
static void
postdrop_std_fds(void)
{
	int	fd;

	for (fd = 0; fd <= 2; fd++) {
		if (fcntl(fd, F_GETFD) != -1 || errno != EBADF)
			continue;
		if (open("/dev/null", O_RDWR) != fd)
			_exit(EX_OSERR);
	}
}

static void
postdrop_signals(void)
{
	static const int sigs[] = { SIGHUP, SIGINT, SIGQUIT, SIGTERM };
	struct sigaction sa;
	size_t		 i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = postdrop_on_signal;
	(void)sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0;		/* no SA_RESTART: read() gets EINTR */
	for (i = 0; i < N_ELEMENTS(sigs); i++)
		(void)sigaction(sigs[i], &sa, NULL);
	/* A write error is better than a kill: the file is then removed. */
	(void)signal(SIGXFSZ, SIG_IGN);
	(void)signal(SIGPIPE, SIG_IGN);
}

/* The folder without trailing slashes, for comparing with the default. */
static bool
postdrop_same_dir(const char *a, const char *b)
{
	size_t	la = strlen(a), lb = strlen(b);

	while (la > 1 && a[la - 1] == '/')
		la--;
	while (lb > 1 && b[lb - 1] == '/')
		lb--;
	return la == lb && memcmp(a, b, la) == 0;
}

/* -N: NEVER, or a comma list of SUCCESS, FAILURE, DELAY (RFC 3461). */
static int
postdrop_parse_notify(const char *s, unsigned int *bits_r)
{
	static const struct {
		const char	*word;
		unsigned int	 bit;
	} words[] = {
		{ "never",	QFILE_NOTIFY_NEVER },
		{ "success",	QFILE_NOTIFY_SUCCESS },
		{ "failure",	QFILE_NOTIFY_FAILURE },
		{ "delay",	QFILE_NOTIFY_DELAY },
	};
	const char	*end;
	size_t		 len, i;
	unsigned int	 bits = 0;

	for (;;) {
		end = strchr(s, ',');
		len = end != NULL ? (size_t)(end - s) : strlen(s);
		for (i = 0; i < N_ELEMENTS(words); i++)
			if (strlen(words[i].word) == len &&
			    strncasecmp(s, words[i].word, len) == 0)
				break;
		if (i == N_ELEMENTS(words) || (bits & words[i].bit) != 0)
			return -1;
		bits |= words[i].bit;
		if (end == NULL)
			break;
		s = end + 1;
	}
	if ((bits & QFILE_NOTIFY_NEVER) != 0 && bits != QFILE_NOTIFY_NEVER)
		return -1;
	*bits_r = bits;
	return 0;
}

/*
 * Reads exactly len bytes of standard input.  Returns 1, 0 when the input
 * ended first, or -1 on an error or a signal.
 */
static int
postdrop_read(void *data, size_t len)
{
	uint8_t	*p = data;
	ssize_t	 n;

	while (len > 0) {
		if (postdrop_signalled)
			return -1;
		n = read(STDIN_FILENO, p, len);
		if (n == 0)
			return 0;
		if (n < 0) {
			if (errno == EINTR && !postdrop_signalled)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 1;
}

/* Makes the new file readable by mail_owner (see FILES in the page). */
static int
postdrop_chmod(const char *queue_dir, const char *id, const char **error_r)
{
	char	*path;
	int	 fd, ret = 0;

	path = xasprintf("%s/%s/%s%s", queue_dir, QFILE_DIR_MAILDROP,
	    QFILE_TMP_PREFIX, id);
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd == -1 || fchmod(fd, POSTDROP_FILE_MODE) == -1) {
		*error_r = error_fmt("chmod %s: %m", path);
		ret = -1;
	}
	if (fd != -1)
		(void)close(fd);
	free(path);
	return ret;
}

struct postdrop_args {
	const char	*conf_dir;
	const char	*sender;
	unsigned int	 notify;
	enum qfile_ret	 ret;
	const char	*envid;
	enum qfile_body	 body;
	bool		 smtputf8;
	bool		 verbose;
	char		**rcpts;
	unsigned int	 nrcpt;
};

/* Returns 0, or an exit status after saying why. */
static int
postdrop_parse_args(int argc, char *argv[], struct postdrop_args *a)
{
	int	ch;

	memset(a, 0, sizeof(*a));
	opterr = 0;
	while ((ch = getopt(argc, argv, "+B:c:f:N:R:UV:v")) != -1) {
		switch (ch) {
		case 'B':
			if (strcasecmp(optarg, "7bit") == 0)
				a->body = QFILE_BODY_7BIT;
			else if (strcasecmp(optarg, "8bitmime") == 0)
				a->body = QFILE_BODY_8BITMIME;
			else {
				postdrop_error("bad -B value");
				return EX_USAGE;
			}
			break;
		case 'c':
			a->conf_dir = optarg;
			break;
		case 'f':
			a->sender = optarg;
			break;
		case 'N':
			if (postdrop_parse_notify(optarg, &a->notify) == -1) {
				postdrop_error("bad -N value");
				return EX_USAGE;
			}
			break;
		case 'R':
			if (strcasecmp(optarg, "full") == 0)
				a->ret = QFILE_RET_FULL;
			else if (strcasecmp(optarg, "hdrs") == 0)
				a->ret = QFILE_RET_HDRS;
			else {
				postdrop_error("bad -R value");
				return EX_USAGE;
			}
			break;
		case 'U':
			a->smtputf8 = true;
			break;
		case 'V':
			a->envid = optarg;
			break;
		case 'v':
			a->verbose = true;
			break;
		default:
			(void)fputs(postdrop_usage, stderr);
			return EX_USAGE;
		}
	}
	if (a->sender == NULL || optind >= argc) {
		(void)fputs(postdrop_usage, stderr);
		return EX_USAGE;
	}
	a->rcpts = argv + optind;
	a->nrcpt = (unsigned int)(argc - optind);
	return 0;
}

/* Creates the file with the envelope.  Returns 0, or an exit status. */
static int
postdrop_begin(const struct postdrop_args *a, struct qfile_writer **w_r)
{
	struct qfile_writer	*w;
	struct qfile_mail	 m;
	struct qfile_client	 c;
	struct qfile_rcpt	 r;
	const char		*error;
	unsigned int		 i;

	if (a->nrcpt > cfg->smtpd_max_recipients) {
		postdrop_error("452 4.5.3 Error: too many recipients");
		return EX_DATAERR;
	}
	w = qfile_writer_new_in(cfg->queue_directory, QFILE_DIR_MAILDROP, &error);
	if (w == NULL) {
		postdrop_error("%s", error);
		return EX_TEMPFAIL;
	}
	*w_r = w;
	if (postdrop_chmod(cfg->queue_directory, qfile_writer_id(w),
	    &error) == -1) {
		postdrop_error("%s", error);
		return EX_TEMPFAIL;
	}
	memset(&m, 0, sizeof(m));
	m.sender = a->sender;
	m.body = a->body;
	m.smtputf8 = a->smtputf8;
	m.ret = a->ret;
	m.envid = a->envid;
	memset(&c, 0, sizeof(c));
	c.protocol = "local";
	if (qfile_writer_mail(*w_r, &m, &error) == -1 ||
	    qfile_writer_client(*w_r, &c, &error) == -1) {
		postdrop_error("bad sender or option: %s", error);
		return EX_DATAERR;
	}
	for (i = 0; i < a->nrcpt; i++) {
		memset(&r, 0, sizeof(r));
		r.addr = a->rcpts[i];
		r.notify = a->notify;
		if (qfile_writer_add_rcpt(w, &r, &error) == -1) {
			postdrop_error("bad recipient: %s", error);
			return EX_DATAERR;
		}
	}
	if (qfile_writer_begin_message(w, cfg->smtpd_max_message_size +
	    QFILE_LOCAL_ADDED_MAX, &error) == -1) {
		postdrop_error("%s", error);
		return EX_TEMPFAIL;
	}
	return 0;
}

/* Copies the message from the input protocol.  Returns 0 or a status. */
static int
postdrop_copy(struct qfile_writer *w)
{
	uint8_t		 hdr[4], *chunk;
	uint32_t	 len;
	const char	*error;
	int		 r, ret = 0;

	chunk = xmalloc(POSTDROP_CHUNK_MAX);
	for (;;) {
		if ((r = postdrop_read(hdr, sizeof(hdr))) != 1)
			break;
		len = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 |
		    (uint32_t)hdr[2] << 8 | hdr[3];
		if (len == 0)
			goto out;
		if (len == POSTDROP_CANCEL) {
			ret = EX_NOINPUT;
			goto out;
		}
		if (len > POSTDROP_CHUNK_MAX) {
			postdrop_error("malformed input");
			ret = EX_DATAERR;
			goto out;
		}
		if ((r = postdrop_read(chunk, len)) != 1)
			break;
		if (qfile_writer_write(w, chunk, len, &error) == -1) {
			if (qfile_writer_too_large(w)) {
				postdrop_error("552 5.3.4 Error: message file "
				    "too big");
				ret = EX_DATAERR;
			} else {
				postdrop_error("%s", error);
				ret = EX_TEMPFAIL;
			}
			goto out;
		}
	}
	if (postdrop_signalled)
		ret = EX_TEMPFAIL;
	else if (r == 0) {
		postdrop_error("the input ended before the message did; "
		    "nothing queued");
		ret = EX_NOINPUT;
	} else {
		postdrop_error("read error: %s", strerror(errno));
		ret = EX_IOERR;
	}
out:
	free(chunk);
	return ret;
}

int
main(int argc, char *argv[])
{
	struct postdrop_args	 a;
	struct postern_config	*conf = NULL;
	struct conf_errors	 errors;
	struct qfile_writer	*w = NULL;
	const char		*dir, *env, *error;
	char			 id[QFILE_ID_SIZE];
	bool			 privileged;
	size_t			 i;
	int			 ret;

	postdrop_std_fds();
	/* Running set-group-ID for somebody else: trust nothing of theirs. */
	privileged = getegid() != getgid() && getuid() != 0;
	env = privileged ? NULL : getenv("POSTERN_CONFIG_DIR");
	if (privileged && clearenv() != 0)
		_exit(EX_OSERR);
	(void)umask(077);
	postdrop_signals();

	if ((ret = postdrop_parse_args(argc, argv, &a)) != 0)
		return ret;
	dir = a.conf_dir != NULL ? a.conf_dir :
	    env != NULL && env[0] != '\0' ? env : POSTERN_CONF_DIR;
	if (privileged && !postdrop_same_dir(dir, POSTERN_CONF_DIR)) {
		postdrop_error("-c is allowed only to root");
		return EX_NOPERM;
	}
	if (dir[0] != '/') {
		postdrop_error("the configuration folder must be absolute");
		return EX_USAGE;
	}
	conf = conf_read(dir, &errors);
	for (i = 0; i < errors.count; i++)
		postdrop_error("%s", errors.lines[i]);
	conf_errors_deinit(&errors);
	if (conf == NULL) {
		postdrop_error("cannot read the configuration in %s", dir);
		return EX_CONFIG;
	}
	cfg = conf;

	if ((ret = postdrop_begin(&a, &w)) == 0 &&
	    (ret = postdrop_copy(w)) == 0) {
		if (qfile_writer_commit(w, id, &error) == -1) {
			postdrop_error("%s", error);
			ret = EX_TEMPFAIL;
		} else if (a.verbose) {
			/* Queued whatever happens to this line. */
			(void)printf("%s\n", id);
			(void)fflush(stdout);
		}
	}
	qfile_writer_abort(&w);
	cfg = NULL;
	conf_free(&conf);
	return ret;
}
