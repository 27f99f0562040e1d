/* SPDX-License-Identifier: ISC */
/*
 * Logging (DESIGN.md "Logs", STYLE R10, R11).  Each event becomes one line,
 * formatted on the stack (never on the heap, so a log call is safe even
 * when malloc is what failed) and handed to syslog or written with a
 * single write(2) to stderr or an append-mode file, where it looks like a
 * syslog line: "Mon DD HH:MM:SS program[pid]: text".  As in Postfix, the
 * severity is a word in front of the text ("warning: ", "fatal: ") except
 * for ordinary information.  errno survives every call, so "%m" works
 * and callers can still read errno after logging.  The text is trusted
 * to be a format of ours; values from the network go through log_safe(),
 * and any CR or LF that still reaches a line becomes a space so one event
 * stays one line.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "log.h"
#include "str.h"

#include "banned.h"

/* A line, header and newline included, is cut at this many bytes. */
#define LOG_LINE_MAX		4096
#define LOG_PROGRAM_MAX		64
/* log_safe() output: 256 characters, "...", NUL. */
#define LOG_SAFE_MAX		256
#define LOG_SAFE_SIZE		(LOG_SAFE_MAX + 3 + 1)

enum log_target {
	LOG_TARGET_STDERR,
	LOG_TARGET_SYSLOG,
	LOG_TARGET_FILE,
};

/*
 * XXX: file-scope state (STYLE R14 allows only the configuration).  The
 * log is per process by nature; every process is single-threaded, and a
 * signal handler that logs only reads this state.  openlog(3) keeps a
 * pointer to the ident, so the program name must live in static storage.
 */
static struct {
	enum log_target	 target;
	int		 fd;		/* file target, else -1 */
	int		 facility;
	bool		 debug;
	bool		 program_set;
	unsigned int	 fatal_depth;
	char		 program[LOG_PROGRAM_MAX];
	unsigned int	 safe_next;
	char		 safe_ring[LOG_SAFE_SLOTS][LOG_SAFE_SIZE];
} log_state = {
	.target = LOG_TARGET_STDERR,
	.fd = -1,
	.facility = LOG_MAIL,
	.program = "postern",
};

static const struct {
	const char	*name;
	int		 value;
} log_facilities[] = {
	{ "mail",	LOG_MAIL },
	{ "daemon",	LOG_DAEMON },
	{ "user",	LOG_USER },
	{ "local0",	LOG_LOCAL0 },
	{ "local1",	LOG_LOCAL1 },
	{ "local2",	LOG_LOCAL2 },
	{ "local3",	LOG_LOCAL3 },
	{ "local4",	LOG_LOCAL4 },
	{ "local5",	LOG_LOCAL5 },
	{ "local6",	LOG_LOCAL6 },
	{ "local7",	LOG_LOCAL7 },
};

static const char *const log_months[12] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	"Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
};

/* Where the severity word goes in front of the text (Postfix's msg_*). */
enum log_kind {
	LOG_KIND_NORMAL,
	LOG_KIND_FATAL,
	LOG_KIND_PANIC,
};

static int
log_facility_lookup(const char *name)
{
	size_t	i;

	for (i = 0; i < N_ELEMENTS(log_facilities); i++) {
		if (strcmp(log_facilities[i].name, name) == 0)
			return log_facilities[i].value;
	}
	return -1;
}

bool
log_facility_valid(const char *facility)
{
	return facility != NULL && log_facility_lookup(facility) != -1;
}

bool
log_target_valid(const char *target)
{
	if (target == NULL)
		return false;
	if (strcmp(target, "syslog") == 0 || strcmp(target, "stderr") == 0)
		return true;
	/* "file:" and an absolute path that names more than "/". */
	return str_has_prefix(target, "file:/") && target[6] != '\0';
}

void
log_set_program(const char *program)
{
	int	saved_errno = errno;

	if (program != NULL) {
		if (str_copy(log_state.program, sizeof(log_state.program),
		    program) == -1) {
			/* Cut: it is only a label. */
		}
		log_state.program_set = true;
	}
	errno = saved_errno;
}

void
log_set_debug(bool on)
{
	log_state.debug = on;
}

/* Back to stderr, releasing whatever the old target held. */
static void
log_release(void)
{
	if (log_state.target == LOG_TARGET_SYSLOG)
		closelog();
	if (log_state.fd != -1)
		(void)close(log_state.fd);
	log_state.fd = -1;
	log_state.target = LOG_TARGET_STDERR;
}

int
log_open(const char *program, const char *target, const char *facility,
    const char **error_r)
{
	int	saved_errno = errno;
	int	fac = LOG_MAIL, fd = -1;

	if (facility != NULL && (fac = log_facility_lookup(facility)) == -1) {
		*error_r = "unknown syslog facility";
		errno = saved_errno;
		return -1;
	}
	if (!log_target_valid(target)) {
		*error_r = "log target must be syslog, stderr or file:/path";
		errno = saved_errno;
		return -1;
	}
	if (str_has_prefix(target, "file:")) {
		fd = open(target + 5,
		    O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
		if (fd == -1) {
			*error_r = error_fmt("open log file %s: %m",
			    target + 5);
			errno = saved_errno;
			return -1;
		}
	}
	/*
	 * Read the time zone now, while /etc/localtime is still reachable
	 * (before chroot) and while allocating is harmless: localtime_r()
	 * then never loads it from inside a log call.
	 */
	tzset();
	log_release();
	log_set_program(program);
	log_state.facility = fac;
	if (fd != -1) {
		log_state.target = LOG_TARGET_FILE;
		log_state.fd = fd;
	} else if (strcmp(target, "syslog") == 0) {
		/*
		 * LOG_NDELAY connects to /dev/log now, before the process
		 * chroots, as Postfix does; the ident is our static copy.
		 */
		openlog(log_state.program, LOG_PID | LOG_NDELAY, fac);
		log_state.target = LOG_TARGET_SYSLOG;
	}
	errno = saved_errno;
	return 0;
}

void
log_close(void)
{
	int	saved_errno = errno;

	log_release();
	errno = saved_errno;
}

static const char *
log_level_word(int level, enum log_kind kind)
{
	switch (kind) {
	case LOG_KIND_FATAL:
		return "fatal: ";
	case LOG_KIND_PANIC:
		return "panic: ";
	case LOG_KIND_NORMAL:
		break;
	}
	switch (level) {
	case LOG_DEBUG:
		return "debug: ";
	case LOG_INFO:
	case LOG_NOTICE:
		return "";
	case LOG_WARNING:
		return "warning: ";
	default:
		/* LOG_ERR and anything more severe that is not fatal. */
		return "error: ";
	}
}

/*
 * Appends the formatted text at *off in line (size bytes), keeping room
 * for the newline and the NUL; the text is cut when it does not fit.
 */
static void
log_vappend(char *line, size_t size, size_t *off, const char *fmt,
    va_list ap) ATTR_PRINTF(4, 0);

static void
log_vappend(char *line, size_t size, size_t *off, const char *fmt,
    va_list ap)
{
	int	n;

	/* UNSAFE: *off <= size - 2 always, and size is a small constant. */
	if (*off + 2 >= size)
		return;
	n = vsnprintf(line + *off, size - 1 - *off, fmt, ap);
	if (n < 0) {
		line[*off] = '\0';
		return;
	}
	/* UNSAFE: vsnprintf wrote at most size - 2 - *off characters. */
	if ((size_t)n >= size - 1 - *off)
		*off = size - 2;
	else
		*off += (size_t)n;
}

static void
log_append(char *line, size_t size, size_t *off, const char *fmt, ...)
    ATTR_PRINTF(4, 5);

static void
log_append(char *line, size_t size, size_t *off, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vappend(line, size, off, fmt, ap);
	va_end(ap);
}

static void
log_write_fd(int fd, const char *data, size_t len)
{
	ssize_t	n;

	/* One write: a short write is not retried, it would split the line. */
	do {
		n = write(fd, data, len);
	} while (n == -1 && errno == EINTR);
}

/*
 * The one place a line is made and written.  qid is NULL for a plain
 * line; "" stands for "no queue ID yet" (NOQUEUE) in log_q().
 */
static void
log_emit(int level, enum log_kind kind, const char *qid, const char *fmt,
    va_list ap) ATTR_PRINTF(4, 0);

static void
log_emit(int level, enum log_kind kind, const char *qid, const char *fmt,
    va_list ap)
{
	char		line[LOG_LINE_MAX + 1];
	size_t		off = 0, text, i;
	int		saved_errno = errno;
	struct tm	tm;
	time_t		now;

	if (level == LOG_DEBUG && !log_state.debug && kind == LOG_KIND_NORMAL)
		return;

	/* The syslog-like header, for stderr and file targets only. */
	if (log_state.target != LOG_TARGET_SYSLOG) {
		now = time(NULL);
		if (localtime_r(&now, &tm) != NULL && tm.tm_mon >= 0 &&
		    tm.tm_mon < 12)
			log_append(line, sizeof(line), &off,
			    "%s %2d %02d:%02d:%02d ", log_months[tm.tm_mon],
			    tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
		log_append(line, sizeof(line), &off, "%s[%ld]: ",
		    log_state.program_set ? log_state.program :
		    program_invocation_short_name, (long)getpid());
	}
	text = off;
	log_append(line, sizeof(line), &off, "%s",
	    log_level_word(level, kind));
	if (qid != NULL)
		log_append(line, sizeof(line), &off, "%s: ",
		    qid[0] != '\0' ? qid : "NOQUEUE");
	/* For "%m". */
	errno = saved_errno;
	log_vappend(line, sizeof(line), &off, fmt, ap);

	/* One event, one line, whatever the text held. */
	for (i = text; i < off; i++) {
		if (line[i] == '\n' || line[i] == '\r')
			line[i] = ' ';
	}

	switch (log_state.target) {
	case LOG_TARGET_SYSLOG:
		line[off] = '\0';
		syslog(log_state.facility | level, "%s", line);
		break;
	case LOG_TARGET_FILE:
	case LOG_TARGET_STDERR:
		line[off++] = '\n';
		log_write_fd(log_state.target == LOG_TARGET_FILE ?
		    log_state.fd : STDERR_FILENO, line, off);
		break;
	}
	errno = saved_errno;
}

void
log_vmsg(int level, const char *fmt, va_list ap)
{
	log_emit(level, LOG_KIND_NORMAL, NULL, fmt, ap);
}

void
log_msg(int level, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_emit(level, LOG_KIND_NORMAL, NULL, fmt, ap);
	va_end(ap);
}

void
log_q(int level, const char *qid, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_emit(level, LOG_KIND_NORMAL, qid != NULL ? qid : "", fmt, ap);
	va_end(ap);
}

void
log_fatal(const char *fmt, ...)
{
	va_list	ap;

	/* A fatal error while exiting (an atexit handler) must not loop. */
	if (log_state.fatal_depth++ > 0)
		_exit(EX_TEMPFAIL);
	va_start(ap, fmt);
	log_emit(LOG_CRIT, LOG_KIND_FATAL, NULL, fmt, ap);
	va_end(ap);
	exit(EX_TEMPFAIL);
}

void
log_panic(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_emit(LOG_CRIT, LOG_KIND_PANIC, NULL, fmt, ap);
	va_end(ap);
	abort();
}

/* Escapes and cuts len bytes into the next ring slot. */
static const char *
log_safe_escape(const unsigned char *p, size_t len)
{
	char		*out;
	size_t		 i, o = 0;
	unsigned char	 c;

	out = log_state.safe_ring[log_state.safe_next];
	log_state.safe_next = (log_state.safe_next + 1) % LOG_SAFE_SLOTS;
	for (i = 0; i < len; i++) {
		c = p[i];
		if (c >= 0x20 && c < 0x7f && c != '\\') {
			if (o + 1 > LOG_SAFE_MAX)
				break;
			out[o++] = (char)c;
		} else {
			/* An escape is never split by the cut. */
			if (o + 4 > LOG_SAFE_MAX)
				break;
			out[o++] = '\\';
			out[o++] = (char)('0' + ((c >> 6) & 7));
			out[o++] = (char)('0' + ((c >> 3) & 7));
			out[o++] = (char)('0' + (c & 7));
		}
	}
	if (i < len) {
		/* UNSAFE: o <= LOG_SAFE_MAX and the slot has 4 more bytes. */
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
	return out;
}

const char *
log_safe(const char *s)
{
	int		 saved_errno = errno;
	const char	*r;

	if (s == NULL)
		r = log_safe_escape((const unsigned char *)"(null)", 6);
	else
		r = log_safe_escape((const unsigned char *)s, strlen(s));
	errno = saved_errno;
	return r;
}

const char *
log_safe_n(const void *data, size_t len)
{
	int		 saved_errno = errno;
	const char	*r;

	if (data == NULL)
		len = 0;
	r = log_safe_escape(data, len);
	errno = saved_errno;
	return r;
}
