/* SPDX-License-Identifier: ISC */
/*
 * The sendmail(1) front-end: postctl run as sendmail, mailq or newaliases.
 *
 * sendmail takes the options cron, mailx, git and scripts use, as
 * Postfix's sendmail does, reads a message from standard input (or holds
 * an SMTP session there with -bs), completes it the way Postfix's local
 * submission does (line ends become CRLF; From, Date and Message-ID are
 * added when missing; Bcc goes), and hands it to postern-postdrop, which
 * writes it into the maildrop folder.  This program runs as the invoking
 * user and writes nothing to the spool itself: postdrop, set-group-ID
 * setgid_group, is the only way in, and it trusts nothing of ours either.
 * The message reaches postdrop over a pipe in length-framed chunks ended
 * by an empty chunk (postern-postdrop(8)), so a sendmail that dies half
 * way leaves nothing queued; we exit 0 only after postdrop said the file
 * is durable.
 *
 * Everything read here comes from a local user and is treated as input:
 * lines are read through a bounded reader (smtpd_max_data_line_length,
 * smtpd_max_line_length in -bs), the header section is held only up to
 * smtpd_max_header_size, the message is bounded by smtpd_max_message_size
 * and the recipients by smtpd_max_recipients.  Addresses from the command
 * line and from To/Cc/Bcc (-t) are parsed as RFC 5322 address lists and
 * then checked and normalised by smtpd's path parser (smtp_parse.c), so
 * the queue only ever holds addresses smtpd would have accepted.
 *
 * mailq is "postctl queue list"; newaliases builds every table of
 * alias_maps as "postctl map build" does.
 */
#include "config.h"

#include <sys/random.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/conf.h"
#include "common/error.h"
#include "common/file.h"
#include "common/qfile.h"
#include "common/str.h"
#include "common/xmalloc.h"
#include "postdrop/postdrop.h"
#include "smtpd/smtp_parse.h"
#include "postctl.h"

#include "common/banned.h"

/* What postdrop prints with -v: an ID and a newline. */
#define SM_ID_OUT_MAX		64
/* -F: the full name in the From header we add. */
#define SM_FULLNAME_MAX		256
/* The fields we add (From with a full name, Date, Message-ID). */
#define SM_ADDED_MAX \
	(SM_FULLNAME_MAX * 2 + SMTP_PARSE_PATH_MAX + 512)
#if SM_ADDED_MAX > QFILE_LOCAL_ADDED_MAX
#error "sendmail adds more than postdrop and pickup allow"
#endif
/* -V: RFC 3461 4.4. */
#define SM_ENVID_MAX		100

static const char sm_usage[] =
    "usage: sendmail [-Uitv] [-B type] [-C dir] [-F full_name] [-f sender]\n"
    "                [-N dsn] [-R ret] [-V envid] [-o option] [--] "
    "[recipient ...]\n"
    "       sendmail -bs | -bp | -bi [-C dir]\n"
    "       mailq [-C dir]\n"
    "       newaliases [-C dir]\n";

enum sm_mode {
	SM_MODE_MAIL,		/* -bm: a message on standard input */
	SM_MODE_SMTP,		/* -bs */
	SM_MODE_QUEUE,		/* -bp, mailq */
	SM_MODE_ALIASES,	/* -bi, -I, newaliases */
	SM_MODE_FLUSH,		/* -q */
};

struct sm_opts {
	const char	*name;		/* sendmail, mailq, newaliases */
	enum sm_mode	 mode;
	bool		 extract;	/* -t */
	bool		 dots;		/* a lone "." ends input (no -i) */
	bool		 verbose;
	const char	*sender;	/* -f, -r; NULL: the user */
	const char	*fullname;	/* -F, -oF; NULL: $NAME */
	const char	*conf_dir;	/* -C */
	const char	*notify;	/* -N */
	const char	*ret;		/* -R */
	const char	*envid;		/* -V */
	const char	*body;		/* -B: "7BIT", "8BITMIME" */
};

/* One message's envelope. */
struct sm_env {
	char		*sender;	/* "" = <> */
	char		**rcpts;
	unsigned int	 nrcpt;
	unsigned int	 arcpt;
	bool		 smtputf8;
	const char	*body;		/* "7BIT", "8BITMIME" or NULL */
};

struct sm {
	const struct sm_opts *o;
	struct postern_config *conf;
	char		 hostname[256];	/* myhostname, else the system's */
	char		*login;		/* user@hostname */
	char		*postdrop;	/* daemon_directory/postern-postdrop */
};

/* Where one message's input comes from. */
struct sm_src {
	FILE		*in;
	struct buf	*line;		/* the current line, no line end */
	size_t		 max;		/* longest line */
	bool		 smtp;		/* DATA: "." ends, dot-unstuffing */
	bool		 dots;		/* sendmail without -i: "." ends */
	bool		 ended;
	bool		 eof;		/* the input itself ended */
	bool		 error;		/* a read error */
};

/* The postdrop process of one message. */
struct sm_drop {
	pid_t		 pid;
	int		 wfd;		/* its standard input */
	int		 rfd;		/* its standard output */
	bool		 broken;	/* a write failed: it gave up */
	size_t		 len;		/* bytes waiting in frame */
	uint8_t		 frame[4 + POSTDROP_CHUNK_MAX];
};

/* What became of one message. */
enum sm_result {
	SM_OK,
	SM_E_TOO_BIG,		/* 552 5.3.4, EX_DATAERR */
	SM_E_HEADER,		/* 552 5.3.4 header section */
	SM_E_LINE,		/* 554 5.6.0 */
	SM_E_HOPS,		/* 554 5.4.6 */
	SM_E_ADDR,		/* a bad address in a header (-t) */
	SM_E_NORCPT,		/* -t found none */
	SM_E_RCPTS,		/* more than smtpd_max_recipients */
	SM_E_INPUT,		/* the input failed or (SMTP) ended early */
	SM_E_DROP_DATA,		/* postdrop refused the message */
	SM_E_DROP,		/* postdrop failed otherwise: try later */
};

/* ---- small helpers ---------------------------------------------------- */

static void ATTR_PRINTF(2, 3)
sm_warn(const struct sm_opts *o, const char *fmt, ...)
{
	va_list	ap;

	(void)fprintf(stderr, "%s: ", o->name);
	va_start(ap, fmt);
	(void)vfprintf(stderr, fmt, ap);
	va_end(ap);
	(void)fputc('\n', stderr);
}

/* Descriptors 0-2 open, so no pipe of ours lands there. */
static void
sm_std_fds(void)
{
	int	fd;

	for (fd = 0; fd <= 2; fd++)
		if (fcntl(fd, F_GETFD) == -1 && errno == EBADF &&
		    open("/dev/null", O_RDWR) != fd)
			exit(EX_OSERR);
}

static void
sm_env_reset(struct sm_env *e)
{
	unsigned int	i;

	for (i = 0; i < e->nrcpt; i++)
		free(e->rcpts[i]);
	free(e->rcpts);
	free(e->sender);
	memset(e, 0, sizeof(*e));
}

/* Adds a normalised recipient once.  Returns 0, or -1 when too many. */
static int
sm_env_add(struct sm_env *e, const char *addr)
{
	unsigned int	i;

	for (i = 0; i < e->nrcpt; i++)
		if (strcmp(e->rcpts[i], addr) == 0)
			return 0;
	if (e->nrcpt >= cfg->smtpd_max_recipients)
		return -1;
	if (e->nrcpt == e->arcpt) {
		e->arcpt = e->arcpt == 0 ? 8 : e->arcpt * 2;
		e->rcpts = xreallocarray(e->rcpts, e->arcpt,
		    sizeof(*e->rcpts));
	}
	e->rcpts[e->nrcpt++] = xstrdup(addr);
	return 0;
}

/* ---- RFC 5322 addresses ----------------------------------------------- */

enum sm_tok_type {
	SM_TOK_ATOM,
	SM_TOK_QUOTED,		/* inside a quoted-string, escapes kept */
	SM_TOK_LITERAL,		/* a domain literal, brackets included */
	SM_TOK_SPECIAL,		/* one of < > @ , ; : . */
};

struct sm_tok {
	enum sm_tok_type type;
	const char	*p;
	size_t		 len;
};

/* RFC 5322 3.2.3 atext, and any byte >= 0x80 (RFC 6532 3.2). */
static bool
sm_atext(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c >= 0x80 ||
	    (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/*
 * Splits a header field body (folding included) into tokens: white
 * space and comments go.  Returns 0, or -1 with *error_r.
 */
static int
sm_tokenize(const char *v, size_t len, struct sm_tok **toks_r,
    size_t *ntoks_r, const char **error_r)
{
	struct sm_tok	*t = NULL;
	size_t		 n = 0, a = 0, i = 0, start, depth;
	unsigned char	 c;

	while (i < len) {
		c = (unsigned char)v[i];
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			i++;
			continue;
		}
		if (c == '(') {
			for (depth = 1, i++; i < len && depth > 0; i++) {
				if (v[i] == '\\' && i + 1 < len)
					i++;
				else if (v[i] == '(')
					depth++;
				else if (v[i] == ')')
					depth--;
			}
			if (depth > 0)
				goto bad;
			continue;
		}
		if (n == a) {
			a = a == 0 ? 16 : a * 2;
			t = xreallocarray(t, a, sizeof(*t));
		}
		if (c == '"') {
			for (start = ++i; i < len && v[i] != '"'; i++)
				if (v[i] == '\\' && i + 1 < len)
					i++;
			if (i == len)
				goto bad;
			t[n].type = SM_TOK_QUOTED;
			t[n].p = v + start;
			t[n++].len = i++ - start;
		} else if (c == '[') {
			for (start = i; i < len && v[i] != ']'; i++)
				if (v[i] == '[' && i > start)
					goto bad;
			if (i == len)
				goto bad;
			t[n].type = SM_TOK_LITERAL;
			t[n].p = v + start;
			t[n++].len = ++i - start;
		} else if (strchr("<>@,;:.", c) != NULL) {
			t[n].type = SM_TOK_SPECIAL;
			t[n].p = v + i++;
			t[n++].len = 1;
		} else if (sm_atext(c)) {
			for (start = i; i < len &&
			    sm_atext((unsigned char)v[i]); i++)
				;
			t[n].type = SM_TOK_ATOM;
			t[n].p = v + start;
			t[n++].len = i - start;
		} else
			goto bad;
	}
	*toks_r = t;
	*ntoks_r = n;
	return 0;
bad:
	free(t);
	*error_r = "malformed address list";
	return -1;
}

static bool
sm_special(const struct sm_tok *t, char c)
{
	return t->type == SM_TOK_SPECIAL && t->p[0] == c;
}

/* A local part as a Dot-string, when it is one (RFC 5321 4.1.2). */
static bool
sm_dot_string(const char *s, size_t len)
{
	size_t	i;

	if (len == 0 || s[0] == '.' || s[len - 1] == '.')
		return false;
	for (i = 0; i < len; i++)
		if (s[i] == '.' ? s[i + 1] == '.' :
		    !sm_atext((unsigned char)s[i]))
			return false;
	return true;
}

/*
 * The addr-spec in toks[a..b): local-part ["@" domain], obsolete forms
 * (words between dots, white space) included.  A missing domain is the
 * host name.  The result goes through smtp_parse_path(), which checks it
 * as smtpd would and normalises it into addr_r.  Returns 0 or -1.
 */
static int
sm_addr_spec(const struct sm *sm, const struct sm_tok *toks, size_t a,
    size_t b, struct smtp_parse_addr *addr_r, const char **error_r)
{
	struct buf		*local, *path;
	enum smtp_parse_err	 kind;
	const char		*rest, *error;
	size_t			 i, j;
	bool			 want_word = true;
	int			 ret = -1;

	local = buf_new(64, SMTP_PARSE_PATH_MAX);
	path = buf_new(64, SMTP_PARSE_PATH_MAX + 8);
	for (i = a; i < b && !sm_special(&toks[i], '@'); i++) {
		if (want_word && toks[i].type == SM_TOK_ATOM) {
			if (buf_append(local, toks[i].p, toks[i].len) == -1)
				goto long_;
		} else if (want_word && toks[i].type == SM_TOK_QUOTED) {
			for (j = 0; j < toks[i].len; j++) {
				if (toks[i].p[j] == '\\' && j + 1 < toks[i].len)
					j++;
				if (buf_append_byte(local,
				    (uint8_t)toks[i].p[j]) == -1)
					goto long_;
			}
		} else if (!want_word && sm_special(&toks[i], '.')) {
			if (buf_append_byte(local, '.') == -1)
				goto long_;
		} else
			goto bad;
		want_word = !want_word;
	}
	if (want_word)
		goto bad;		/* empty, or ends with a dot */
	if (buf_append_byte(path, '<') == -1)
		goto long_;
	if (sm_dot_string(local->data, local->len)) {
		if (buf_append(path, local->data, local->len) == -1)
			goto long_;
	} else {
		if (buf_append_byte(path, '"') == -1)
			goto long_;
		for (j = 0; j < local->len; j++)
			if (((local->data[j] == '"' ||
			    local->data[j] == '\\') &&
			    buf_append_byte(path, '\\') == -1) ||
			    buf_append_byte(path,
			    (uint8_t)local->data[j]) == -1)
				goto long_;
		if (buf_append_byte(path, '"') == -1)
			goto long_;
	}
	if (buf_append_byte(path, '@') == -1)
		goto long_;
	if (i == b) {
		if (buf_append_str(path, sm->hostname) == -1)
			goto long_;
	} else if (i + 2 == b && toks[i + 1].type == SM_TOK_LITERAL) {
		if (buf_append(path, toks[i + 1].p, toks[i + 1].len) == -1)
			goto long_;
	} else {
		for (want_word = true, i++; i < b; i++, want_word = !want_word)
			if (want_word && toks[i].type == SM_TOK_ATOM) {
				if (buf_append(path, toks[i].p,
				    toks[i].len) == -1)
					goto long_;
			} else if (!want_word && sm_special(&toks[i], '.')) {
				if (buf_append_byte(path, '.') == -1)
					goto long_;
			} else
				goto bad;
		if (want_word)
			goto bad;
	}
	if (buf_append_byte(path, '>') == -1)
		goto long_;
	if (smtp_parse_path(path->data, SMTP_PARSE_F_SMTPUTF8, addr_r, &rest,
	    &kind, &error) == -1 || *rest != '\0') {
		*error_r = error_fmt("bad address %s", path->data);
		goto out;
	}
	ret = 0;
	goto out;
long_:
	*error_r = "address too long";
	goto out;
bad:
	*error_r = "malformed address";
out:
	buf_free(&local);
	buf_free(&path);
	return ret;
}

/*
 * One element of an address list, toks[a..b): "name <addr>", "<addr>" or
 * a bare addr-spec.  <> gives the null address (addr_r->null_path).
 * Returns 1 with an address, 0 for an empty element, -1 on an error.
 */
static int
sm_addr_element(const struct sm *sm, const struct sm_tok *toks, size_t a,
    size_t b, struct smtp_parse_addr *addr_r, const char **error_r)
{
	size_t	i, open = b, close = b;

	if (a == b)
		return 0;
	for (i = a; i < b; i++)
		if (sm_special(&toks[i], '<')) {
			open = i;
			break;
		}
	if (open < b) {
		for (i = open + 1; i < b; i++)
			if (sm_special(&toks[i], '>')) {
				close = i;
				break;
			}
		if (close != b - 1) {
			*error_r = "malformed address: unbalanced <>";
			return -1;
		}
		a = open + 1;
		b = close;
		/* An obsolete source route (@a,@b:user@d) goes. */
		for (i = b; i > a; i--)
			if (sm_special(&toks[i - 1], ':')) {
				a = i;
				break;
			}
		if (a == b) {
			memset(addr_r, 0, sizeof(*addr_r));
			addr_r->null_path = true;
			return 1;
		}
	}
	return sm_addr_spec(sm, toks, a, b, addr_r, error_r) == -1 ? -1 : 1;
}

/*
 * Parses an address list (RFC 5322 3.4: mailboxes and groups) and calls
 * add(ctx, address) for each address in it.  Returns 0, or -1 with
 * *error_r; add() returning -1 stops with its error.
 */
static int
sm_addr_list(const struct sm *sm, const char *v, size_t len,
    int (*add)(void *, const struct smtp_parse_addr *, const char **),
    void *ctx, const char **error_r)
{
	struct smtp_parse_addr	 addr;
	struct sm_tok		*toks;
	size_t			 n, i, start = 0, depth = 0;
	bool			 group = false, end;
	int			 r, ret = -1;

	if (sm_tokenize(v, len, &toks, &n, error_r) == -1)
		return -1;
	for (i = 0; i <= n; i++) {
		end = i == n;
		if (!end && sm_special(&toks[i], '<'))
			depth++;
		else if (!end && sm_special(&toks[i], '>') && depth > 0)
			depth--;
		else if (!end && depth == 0 && !group &&
		    sm_special(&toks[i], ':')) {
			/* "display name:" starts a group; the name goes. */
			group = true;
			start = i + 1;
			continue;
		} else if (end || (depth == 0 && (sm_special(&toks[i], ',') ||
		    (group && sm_special(&toks[i], ';'))))) {
			r = sm_addr_element(sm, toks, start, i, &addr,
			    error_r);
			if (r == -1)
				goto out;
			if (r == 1 && add(ctx, &addr, error_r) == -1)
				goto out;
			if (!end && sm_special(&toks[i], ';'))
				group = false;
			start = i + 1;
		}
	}
	if (depth != 0) {
		*error_r = "malformed address list: unbalanced <>";
		goto out;
	}
	ret = 0;
out:
	free(toks);
	return ret;
}

/* add() of a recipient list. */
static int
sm_add_rcpt(void *ctx, const struct smtp_parse_addr *addr,
    const char **error_r)
{
	struct sm_env	*e = ctx;

	if (addr->null_path) {
		*error_r = "<> is not a recipient";
		return -1;
	}
	if (sm_env_add(e, addr->addr) == -1) {
		*error_r = "too many recipients";
		return -1;
	}
	if (addr->utf8)
		e->smtputf8 = true;
	return 0;
}

/* add() of the sender: exactly one address, <> allowed. */
struct sm_one {
	struct smtp_parse_addr	addr;
	unsigned int		n;
};

static int
sm_add_one(void *ctx, const struct smtp_parse_addr *addr,
    const char **error_r)
{
	struct sm_one	*one = ctx;

	if (one->n++ > 0) {
		*error_r = "more than one address";
		return -1;
	}
	one->addr = *addr;
	return 0;
}

/* The sender of -f: "", "<>", "user", "user@domain", "<user@domain>". */
static int
sm_parse_sender(const struct sm *sm, const char *s, struct sm_env *e,
    const char **error_r)
{
	struct sm_one	one;

	memset(&one, 0, sizeof(one));
	if (s[0] == '\0' || strcmp(s, "<>") == 0) {
		e->sender = xstrdup("");
		return 0;
	}
	if (sm_addr_list(sm, s, strlen(s), sm_add_one, &one, error_r) == -1)
		return -1;
	if (one.n != 1) {
		*error_r = "no address";
		return -1;
	}
	e->sender = xstrdup(one.addr.null_path ? "" : one.addr.addr);
	if (one.addr.utf8)
		e->smtputf8 = true;
	return 0;
}

/* ---- reading lines ---------------------------------------------------- */

enum sm_read {
	SM_READ_LINE,
	SM_READ_LONG,		/* longer than the buffer's maximum: cut */
	SM_READ_EOF,
	SM_READ_ERROR,
};

/*
 * One line of in into line (bounded by line->max), without its end: LF,
 * CR LF, or a bare CR (which becomes a line end, as smtpd's "normalize"
 * makes it).  The rest of an overlong line is read and dropped.
 */
static enum sm_read
sm_read_line(FILE *in, struct buf *line)
{
	bool	any = false, cut = false;
	int	c;

	buf_reset(line);
	while ((c = getc_unlocked(in)) != EOF) {
		any = true;
		if (c == '\n')
			break;
		if (c == '\r') {
			if ((c = getc_unlocked(in)) != '\n' && c != EOF)
				(void)ungetc(c, in);
			c = '\n';
			break;
		}
		if (!cut && buf_append_byte(line, (uint8_t)c) == -1)
			cut = true;
	}
	if (c == EOF && ferror(in))
		return SM_READ_ERROR;
	if (!any)
		return SM_READ_EOF;
	return cut ? SM_READ_LONG : SM_READ_LINE;
}

/*
 * The next line of the message: 1 with a line in src->line (*long_r when
 * it was longer than src->max), 0 at the end of the message.
 */
static int
sm_src_next(struct sm_src *s, bool *long_r)
{
	*long_r = false;
	if (s->ended)
		return 0;
	switch (sm_read_line(s->in, s->line)) {
	case SM_READ_EOF:
		s->ended = s->eof = true;
		return 0;
	case SM_READ_ERROR:
		s->ended = s->eof = s->error = true;
		return 0;
	case SM_READ_LONG:
		*long_r = true;
		return 1;
	case SM_READ_LINE:
		break;
	}
	if ((s->smtp || s->dots) && s->line->len == 1 &&
	    s->line->data[0] == '.') {
		s->ended = true;
		return 0;
	}
	/* RFC 5321 4.5.2. */
	if (s->smtp && s->line->len > 0 && s->line->data[0] == '.')
		buf_consume(s->line, 1);
	if (s->line->len > s->max)
		*long_r = true;
	return 1;
}

/* Reads to the end of the message, for a refused one. */
static void
sm_src_drain(struct sm_src *s)
{
	bool	long_;

	while (sm_src_next(s, &long_) == 1)
		;
}

/* ---- postdrop --------------------------------------------------------- */

static void
sm_drop_put_len(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void
sm_drop_flush(struct sm_drop *d)
{
	if (d->len == 0 || d->broken)
		return;
	sm_drop_put_len(d->frame, (uint32_t)d->len);
	if (file_write_all(d->wfd, d->frame, 4 + d->len) == -1)
		d->broken = true;	/* it exited: its status says why */
	d->len = 0;
}

static void
sm_drop_write(struct sm_drop *d, const void *data, size_t len)
{
	const uint8_t	*p = data;
	size_t		 n;

	while (len > 0 && !d->broken) {
		n = POSTDROP_CHUNK_MAX - d->len;
		if (n > len)
			n = len;
		memcpy(d->frame + 4 + d->len, p, n);
		d->len += n;
		p += n;
		len -= n;
		if (d->len == POSTDROP_CHUNK_MAX)
			sm_drop_flush(d);
	}
}

static void
sm_drop_line(struct sm_drop *d, const char *line, size_t len)
{
	sm_drop_write(d, line, len);
	sm_drop_write(d, "\r\n", 2);
}

/* Starts postdrop for env.  Returns 0, or -1 with *error_r. */
static int
sm_drop_start(const struct sm *sm, const struct sm_env *e,
    struct sm_drop *d, const char **error_r)
{
	const struct sm_opts	*o = sm->o;
	char			**argv;
	size_t			 n = 0, i;
	int			 in[2], out[2];

	argv = xcalloc(20 + (size_t)e->nrcpt, sizeof(*argv));
	argv[n++] = (char *)"postern-postdrop";
	argv[n++] = (char *)"-v";
	argv[n++] = (char *)"-c";
	argv[n++] = (char *)postctl_conf_dir;
	argv[n++] = (char *)"-f";
	argv[n++] = e->sender;
	if (o->notify != NULL) {
		argv[n++] = (char *)"-N";
		argv[n++] = (char *)o->notify;
	}
	if (o->ret != NULL) {
		argv[n++] = (char *)"-R";
		argv[n++] = (char *)o->ret;
	}
	if (o->envid != NULL) {
		argv[n++] = (char *)"-V";
		argv[n++] = (char *)o->envid;
	}
	if (e->body != NULL) {
		argv[n++] = (char *)"-B";
		argv[n++] = (char *)e->body;
	}
	if (e->smtputf8)
		argv[n++] = (char *)"-U";
	argv[n++] = (char *)"--";
	for (i = 0; i < e->nrcpt; i++)
		argv[n++] = e->rcpts[i];
	argv[n] = NULL;

	d->pid = -1;
	d->wfd = d->rfd = -1;
	d->broken = false;
	d->len = 0;
	if (pipe2(in, O_CLOEXEC) == -1) {
		*error_r = error_fmt("pipe: %m");
		free(argv);
		return -1;
	}
	if (pipe2(out, O_CLOEXEC) == -1) {
		*error_r = error_fmt("pipe: %m");
		(void)close(in[0]);
		(void)close(in[1]);
		free(argv);
		return -1;
	}
	(void)fflush(stdout);
	(void)fflush(stderr);
	if ((d->pid = fork()) == -1) {
		*error_r = error_fmt("fork: %m");
		(void)close(in[0]);
		(void)close(in[1]);
		(void)close(out[0]);
		(void)close(out[1]);
		free(argv);
		return -1;
	}
	if (d->pid == 0) {
		/* 0-2 were open at start, so the pipes are above them. */
		if (dup2(in[0], STDIN_FILENO) == -1 ||
		    dup2(out[1], STDOUT_FILENO) == -1)
			_exit(EX_OSERR);
		(void)execv(sm->postdrop, argv);
		(void)dprintf(STDERR_FILENO, "%s: cannot run %s: %s\n",
		    o->name, sm->postdrop, strerror(errno));
		_exit(EX_UNAVAILABLE);
	}
	free(argv);
	(void)close(in[0]);
	(void)close(out[1]);
	d->wfd = in[1];
	d->rfd = out[0];
	return 0;
}

/* Waits for postdrop; returns its exit status (EX_TEMPFAIL if killed). */
static int
sm_drop_wait(struct sm_drop *d)
{
	int	status;
	pid_t	pid;

	if (d->wfd != -1)
		(void)close(d->wfd);
	d->wfd = -1;
	while ((pid = waitpid(d->pid, &status, 0)) == -1 && errno == EINTR)
		;
	if (d->rfd != -1)
		(void)close(d->rfd);
	d->rfd = -1;
	d->pid = -1;
	if (pid == -1 || !WIFEXITED(status))
		return EX_TEMPFAIL;
	return WEXITSTATUS(status);
}

/* Gives up on the message: postdrop removes its file. */
static void
sm_drop_cancel(struct sm_drop *d)
{
	uint8_t	len[4];

	if (d->pid == -1)
		return;
	if (!d->broken) {
		sm_drop_put_len(len, POSTDROP_CANCEL);
		(void)!file_write_all(d->wfd, len, sizeof(len));
	}
	(void)sm_drop_wait(d);
}

/*
 * Ends the message and waits until postdrop has made it durable.
 * Returns its exit status; on 0, id_r holds the queue ID.
 */
static int
sm_drop_finish(struct sm_drop *d, char id_r[QFILE_ID_SIZE])
{
	uint8_t	 end[4] = { 0, 0, 0, 0 };
	char	 out[SM_ID_OUT_MAX + 1];
	size_t	 got = 0;
	ssize_t	 n;
	int	 status;

	sm_drop_flush(d);
	if (!d->broken && file_write_all(d->wfd, end, sizeof(end)) == -1)
		d->broken = true;
	(void)close(d->wfd);
	d->wfd = -1;
	/* A few bytes: its ID, then end of file when it exits. */
	while (got < SM_ID_OUT_MAX) {
		n = read(d->rfd, out + got, SM_ID_OUT_MAX - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	out[got] = '\0';
	status = sm_drop_wait(d);
	if (status != 0)
		return status;
	if (got < QFILE_ID_LEN || (out[QFILE_ID_LEN] != '\n' &&
	    out[QFILE_ID_LEN] != '\0'))
		return EX_SOFTWARE;
	out[QFILE_ID_LEN] = '\0';
	if (!qfile_id_valid(out))
		return EX_SOFTWARE;
	memcpy(id_r, out, QFILE_ID_SIZE);
	return 0;
}

/* ---- the message ------------------------------------------------------ */

/* One header field in the held header section. */
struct sm_field {
	size_t		 off;		/* into the header buffer */
	size_t		 len;		/* the field, its CRLFs included */
	size_t		 name_len;
};

struct sm_header {
	struct buf	*buf;		/* the fields, CRLF lines */
	struct sm_field	*fields;
	unsigned int	 nfields;
	unsigned int	 afields;
	unsigned int	 hops;		/* Received fields */
};

/* The length of the field name at the start of line, 0 if none. */
static size_t
sm_field_name(const char *line, size_t len)
{
	size_t	i, n;

	for (i = 0; i < len && (unsigned char)line[i] > ' ' &&
	    (unsigned char)line[i] < 0x7f && line[i] != ':'; i++)
		;
	n = i;
	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	return n > 0 && i < len && line[i] == ':' ? n : 0;
}

static bool
sm_field_is(const struct sm_header *h, const struct sm_field *f,
    const char *name)
{
	return f->name_len == strlen(name) &&
	    strncasecmp(h->buf->data + f->off, name, f->name_len) == 0;
}

static bool
sm_header_has(const struct sm_header *h, const char *name)
{
	unsigned int	i;

	for (i = 0; i < h->nfields; i++)
		if (sm_field_is(h, &h->fields[i], name))
			return true;
	return false;
}

/* Adds a line to the held header section: a new field or a fold. */
static int
sm_header_line(struct sm_header *h, const char *line, size_t len,
    size_t name_len)
{
	struct sm_field	*f;

	if (name_len > 0) {
		if (h->nfields == h->afields) {
			h->afields = h->afields == 0 ? 32 : h->afields * 2;
			h->fields = xreallocarray(h->fields, h->afields,
			    sizeof(*h->fields));
		}
		f = &h->fields[h->nfields++];
		f->off = h->buf->len;
		f->len = 0;
		f->name_len = name_len;
		if (sm_field_is(h, f, "Received"))
			h->hops++;
	} else
		f = &h->fields[h->nfields - 1];
	if (buf_append(h->buf, line, len) == -1 ||
	    buf_append(h->buf, "\r\n", 2) == -1)
		return -1;
	f->len += len + 2;
	return 0;
}

/* The body of field f (after the colon), folding included. */
static void
sm_field_body(const struct sm_header *h, const struct sm_field *f,
    const char **v_r, size_t *len_r)
{
	const char	*p = h->buf->data + f->off;
	const char	*colon = memchr(p, ':', f->len);

	*v_r = colon + 1;
	*len_r = f->len - (size_t)(colon + 1 - p);
}

/*
 * -t: the recipients of To, Cc and Bcc, or of Resent-To, Resent-Cc and
 * Resent-Bcc when the message has any of those (it is being resent).
 */
static enum sm_result
sm_extract(const struct sm *sm, const struct sm_header *h, struct sm_env *e,
    const char **error_r)
{
	static const char *const plain[] = { "To", "Cc", "Bcc" };
	static const char *const resent[] = { "Resent-To", "Resent-Cc",
	    "Resent-Bcc" };
	const char *const *names = plain;
	const char	*v, *error;
	size_t		 len, k;
	unsigned int	 i;

	for (k = 0; k < N_ELEMENTS(resent); k++)
		if (sm_header_has(h, resent[k]))
			names = resent;
	for (i = 0; i < h->nfields; i++)
		for (k = 0; k < N_ELEMENTS(plain); k++) {
			if (!sm_field_is(h, &h->fields[i], names[k]))
				continue;
			sm_field_body(h, &h->fields[i], &v, &len);
			if (sm_addr_list(sm, v, len, sm_add_rcpt, e,
			    &error) == -1) {
				*error_r = error_fmt("%s: header: %s",
				    names[k], error);
				return strcmp(error, "too many recipients") ==
				    0 ? SM_E_RCPTS : SM_E_ADDR;
			}
		}
	return SM_OK;
}

/* A -F full name as an RFC 5322 phrase: atoms, else a quoted-string. */
static int
sm_phrase(struct buf *b, const char *name)
{
	const char	*p;
	bool		 plain = name[0] != '\0';

	for (p = name; *p != '\0'; p++)
		if (*p != ' ' && !sm_atext((unsigned char)*p))
			plain = false;
	if (plain)
		return buf_append_str(b, name);
	if (buf_append_byte(b, '"') == -1)
		return -1;
	for (p = name; *p != '\0'; p++)
		if (((*p == '"' || *p == '\\') &&
		    buf_append_byte(b, '\\') == -1) ||
		    buf_append_byte(b, (uint8_t)*p) == -1)
			return -1;
	return buf_append_byte(b, '"');
}

/*
 * The fields a local submission lacks (Postfix's cleanup adds the same):
 * From (the sender, or the user for <>, with the full name), Date,
 * Message-ID.  Returns 0 or -1.
 */
static int
sm_added_fields(const struct sm *sm, const struct sm_header *h,
    const struct sm_env *e, const char *fullname, struct buf *add)
{
	struct tm	tm;
	time_t		now = time(NULL);
	char		stamp[32], date[64];
	uint64_t	rnd = 0;

	if (!sm_header_has(h, "From")) {
		if (buf_append_str(add, "From: ") == -1)
			return -1;
		if (fullname != NULL && fullname[0] != '\0') {
			if (sm_phrase(add, fullname) == -1 ||
			    buf_printf(add, " <%s>\r\n", e->sender[0] != '\0' ?
			    e->sender : sm->login) == -1)
				return -1;
		} else if (buf_printf(add, "%s\r\n", e->sender[0] != '\0' ?
		    e->sender : sm->login) == -1)
			return -1;
	}
	if (localtime_r(&now, &tm) == NULL ||
	    strftime(stamp, sizeof(stamp), "%Y%m%d%H%M%S", &tm) == 0 ||
	    str_date(date, sizeof(date), now, false) == -1)
		return -1;
	if (!sm_header_has(h, "Date") &&
	    buf_printf(add, "Date: %s\r\n", date) == -1)
		return -1;
	if (!sm_header_has(h, "Message-ID")) {
		/* Unique without a queue ID: time, process and chance. */
		if (getrandom(&rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
			rnd ^= (uint64_t)now * 2654435761u;
		if (buf_printf(add, "Message-ID: <%s.%ld.%016llx@%s>\r\n",
		    stamp, (long)getpid(), (unsigned long long)rnd,
		    sm->hostname) == -1)
			return -1;
	}
	return 0;
}

enum sm_hend {
	SM_HEND_EOF,		/* the message ended in its header */
	SM_HEND_BLANK,		/* an empty line */
	SM_HEND_LINE,		/* a line that is no field: the body's first */
};

/*
 * Reads the header section of the message from src into h.  *hend_r
 * says how it ended; for SM_HEND_LINE that line stays in src->line.
 */
static enum sm_result
sm_read_header(const struct sm *sm, struct sm_src *src, struct sm_header *h,
    uint64_t *size_r, enum sm_hend *hend_r)
{
	const char	*line;
	size_t		 len, name_len;
	bool		 first = true, long_;

	*hend_r = SM_HEND_EOF;
	while (sm_src_next(src, &long_) == 1) {
		if (long_)
			return SM_E_LINE;
		line = src->line->data;
		len = src->line->len;
		/* A mailbox's "From " line (sendmail and Postfix drop it). */
		if (first && !src->smtp && len >= 5 &&
		    memcmp(line, "From ", 5) == 0) {
			first = false;
			continue;
		}
		first = false;
		*size_r += len + 2;
		if (*size_r > sm->conf->smtpd_max_message_size)
			return SM_E_TOO_BIG;
		if (len == 0) {
			*hend_r = SM_HEND_BLANK;
			break;
		}
		name_len = sm_field_name(line, len);
		if (name_len == 0 && (h->nfields == 0 ||
		    (line[0] != ' ' && line[0] != '\t'))) {
			*hend_r = SM_HEND_LINE;
			break;
		}
		if (sm_header_line(h, line, len, name_len) == -1)
			return SM_E_HEADER;
	}
	if (src->error || (src->smtp && src->eof))
		return SM_E_INPUT;
	if (h->hops > sm->conf->smtpd_max_hops)
		return SM_E_HOPS;
	return SM_OK;
}

/*
 * Reads one message from src, completes it and hands it to postdrop with
 * envelope e (-t: plus the header's recipients; remove_bcc: without Bcc
 * fields).  Reads src to its end in SMTP mode even when the message is
 * refused, so the session stays in step.  Returns SM_OK with id_r set,
 * or what went wrong (*error_r for addresses and postdrop).
 */
static enum sm_result
sm_submit(const struct sm *sm, struct sm_src *src, struct sm_env *e,
    bool extract, bool remove_bcc, char id_r[QFILE_ID_SIZE],
    const char **error_r)
{
	struct sm_header h;
	struct sm_drop	*d = NULL;
	struct buf	*add = NULL;
	enum sm_result	 res;
	enum sm_hend	 hend;
	uint64_t	 size = 0;
	unsigned int	 i;
	bool		 long_;
	int		 status;

	*error_r = NULL;
	memset(&h, 0, sizeof(h));
	h.buf = buf_new(4096, (size_t)sm->conf->smtpd_max_header_size);
	res = sm_read_header(sm, src, &h, &size, &hend);
	if (res == SM_OK && extract)
		res = sm_extract(sm, &h, e, error_r);
	if (res == SM_OK && e->nrcpt == 0)
		res = SM_E_NORCPT;
	add = buf_new(512, SM_ADDED_MAX);
	if (res == SM_OK && sm_added_fields(sm, &h, e, sm->o->fullname,
	    add) == -1)
		res = SM_E_HEADER;
	if (res != SM_OK)
		goto out;

	d = xmalloc(sizeof(*d));
	if (sm_drop_start(sm, e, d, error_r) == -1) {
		free(d);
		d = NULL;
		res = SM_E_DROP;
		goto out;
	}
	for (i = 0; i < h.nfields; i++) {
		if (remove_bcc && (sm_field_is(&h, &h.fields[i], "Bcc") ||
		    sm_field_is(&h, &h.fields[i], "Resent-Bcc")))
			continue;
		sm_drop_write(d, h.buf->data + h.fields[i].off,
		    h.fields[i].len);
	}
	sm_drop_write(d, add->data, add->len);
	/* A body that began without an empty line stays the body. */
	if (hend == SM_HEND_BLANK || (hend == SM_HEND_LINE && add->len > 0))
		sm_drop_write(d, "\r\n", 2);
	if (hend == SM_HEND_LINE)
		sm_drop_line(d, src->line->data, src->line->len);
	while (hend != SM_HEND_EOF && sm_src_next(src, &long_) == 1) {
		if (long_) {
			res = SM_E_LINE;
			break;
		}
		size += src->line->len + 2;
		if (size > sm->conf->smtpd_max_message_size) {
			res = SM_E_TOO_BIG;
			break;
		}
		sm_drop_line(d, src->line->data, src->line->len);
		/* postdrop gave up: its status will say why. */
		if (d->broken && !src->smtp)
			break;
	}
	if (res == SM_OK && (src->error || (src->smtp && src->eof)))
		res = SM_E_INPUT;
	if (res != SM_OK) {
		sm_drop_cancel(d);
		goto out;
	}
	status = sm_drop_finish(d, id_r);
	if (status == EX_DATAERR)
		res = SM_E_DROP_DATA;
	else if (status != 0) {
		res = SM_E_DROP;
		*error_r = error_fmt("postern-postdrop failed (exit status "
		    "%d)", status);
	}
out:
	if (src->smtp || res == SM_OK)
		sm_src_drain(src);
	free(d);
	buf_free(&add);
	buf_free(&h.buf);
	free(h.fields);
	return res;
}

/* ---- sendmail -bm ----------------------------------------------------- */

static int
sm_mail(struct sm *sm, int argc, char *argv[])
{
	struct sm_src	 src;
	struct sm_env	 e;
	enum sm_result	 res;
	const char	*error;
	char		 id[QFILE_ID_SIZE];
	int		 i, ret = EX_OK;

	memset(&e, 0, sizeof(e));
	e.body = sm->o->body;
	if (sm_parse_sender(sm, sm->o->sender != NULL ? sm->o->sender :
	    sm->login, &e, &error) == -1) {
		sm_warn(sm->o, "bad sender address %s: %s", sm->o->sender !=
		    NULL ? sm->o->sender : sm->login, error);
		sm_env_reset(&e);
		return EX_USAGE;
	}
	for (i = 0; i < argc; i++)
		if (sm_addr_list(sm, argv[i], strlen(argv[i]), sm_add_rcpt,
		    &e, &error) == -1) {
			sm_warn(sm->o, "bad recipient %s: %s", argv[i], error);
			sm_env_reset(&e);
			return strcmp(error, "too many recipients") == 0 ?
			    EX_DATAERR : EX_USAGE;
		}
	if (e.nrcpt == 0 && !sm->o->extract) {
		sm_warn(sm->o, "recipient addresses must be given on the "
		    "command line or with -t");
		sm_env_reset(&e);
		return EX_USAGE;
	}

	memset(&src, 0, sizeof(src));
	src.in = stdin;
	src.max = (size_t)sm->conf->smtpd_max_data_line_length;
	src.line = buf_new(1024, src.max + 1);
	src.dots = sm->o->dots;
	res = sm_submit(sm, &src, &e, sm->o->extract, true, id, &error);
	switch (res) {
	case SM_OK:
		if (sm->o->verbose)
			sm_warn(sm->o, "queued as %s: from=<%s>, nrcpt=%u", id,
			    e.sender, e.nrcpt);
		break;
	case SM_E_TOO_BIG:
		sm_warn(sm->o, "552 5.3.4 Error: message file too big");
		ret = EX_DATAERR;
		break;
	case SM_E_HEADER:
		sm_warn(sm->o, "552 5.3.4 Error: message header section too "
		    "big");
		ret = EX_DATAERR;
		break;
	case SM_E_LINE:
		sm_warn(sm->o, "554 5.6.0 Error: message line too long (see "
		    "RFC 5322 2.1.1)");
		ret = EX_DATAERR;
		break;
	case SM_E_HOPS:
		sm_warn(sm->o, "554 5.4.6 Error: too many hops");
		ret = EX_DATAERR;
		break;
	case SM_E_ADDR:
		sm_warn(sm->o, "%s", error);
		ret = EX_DATAERR;
		break;
	case SM_E_NORCPT:
		sm_warn(sm->o, "no recipient addresses found in the message "
		    "header");
		ret = EX_DATAERR;
		break;
	case SM_E_RCPTS:
		sm_warn(sm->o, "452 4.5.3 Error: too many recipients");
		ret = EX_DATAERR;
		break;
	case SM_E_INPUT:
		sm_warn(sm->o, "error reading the message: %s",
		    strerror(errno));
		ret = EX_IOERR;
		break;
	case SM_E_DROP_DATA:
		/* postern-postdrop said why. */
		ret = EX_DATAERR;
		break;
	case SM_E_DROP:
		sm_warn(sm->o, "message not queued: %s", error != NULL ?
		    error : "postern-postdrop failed");
		ret = EX_TEMPFAIL;
		break;
	}
	buf_free(&src.line);
	sm_env_reset(&e);
	return ret;
}

/* ---- sendmail -bs ----------------------------------------------------- */

#define SM_S_START	0x01u		/* no HELO/EHLO yet */
#define SM_S_READY	0x02u		/* no transaction */
#define SM_S_MAIL	0x04u		/* after MAIL */
#define SM_S_RCPT	0x08u		/* after a RCPT */
#define SM_S_ANY	(SM_S_START | SM_S_READY | SM_S_MAIL | SM_S_RCPT)

struct sm_smtp {
	struct sm	*sm;
	unsigned int	 state;
	unsigned int	 errors;
	bool		 quit;
	bool		 has_mail;
	struct sm_env	 env;
	struct buf	*line;
};

static void ATTR_PRINTF(2, 3)
sm_reply(struct sm_smtp *s, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	(void)vprintf(fmt, ap);
	va_end(ap);
	(void)fputs("\r\n", stdout);
	(void)fflush(stdout);
	if (fmt[0] == '4' || fmt[0] == '5')
		s->errors++;
}

static void
sm_smtp_reset(struct sm_smtp *s)
{
	sm_env_reset(&s->env);
	s->has_mail = false;
	if (s->state & (SM_S_MAIL | SM_S_RCPT))
		s->state = SM_S_READY;
}

static void
sm_cmd_helo(struct sm_smtp *s, const char *verb, const char *args)
{
	const char	*p;

	for (p = args; *p > ' ' && *p < 0x7f; p++)
		;
	if (args[0] == '\0' || *p != '\0') {
		sm_reply(s, "501 5.5.4 Syntax: %s hostname", verb);
		return;
	}
	sm_smtp_reset(s);
	s->state = SM_S_READY;
	if (strcmp(verb, "HELO") == 0) {
		sm_reply(s, "250 %s", s->sm->hostname);
		return;
	}
	(void)printf("250-%s\r\n250-PIPELINING\r\n250-SIZE %llu\r\n"
	    "250-8BITMIME\r\n250-SMTPUTF8\r\n", s->sm->hostname,
	    (unsigned long long)cfg->smtpd_max_message_size);
	sm_reply(s, "250 ENHANCEDSTATUSCODES");
}

/* A parse error of MAIL or RCPT; enh is 5.1.7 or 5.1.3 (paths). */
static void
sm_parse_error(struct sm_smtp *s, enum smtp_parse_err kind, const char *enh,
    const char *error)
{
	switch (kind) {
	case SMTP_PARSE_E_8BIT:
		sm_reply(s, "553 5.6.7 Error: %s", error);
		break;
	case SMTP_PARSE_E_NULL_PATH:
		sm_reply(s, "501 5.1.3 Error: %s", error);
		break;
	case SMTP_PARSE_E_PARAM_SYNTAX:
		sm_reply(s, "501 5.5.4 Error: %s", error);
		break;
	case SMTP_PARSE_E_PARAM_UNKNOWN:
		sm_reply(s, "555 5.5.4 Error: %s", error);
		break;
	case SMTP_PARSE_E_SIZE:
		sm_reply(s, "552 5.3.4 Error: message size exceeds fixed "
		    "maximum message size");
		break;
	case SMTP_PARSE_E_SYNTAX:
	case SMTP_PARSE_E_TOO_LONG:
	case SMTP_PARSE_E_NONE:
	default:
		sm_reply(s, "501 %s Error: %s", enh, error);
		break;
	}
}

static void
sm_cmd_mail(struct sm_smtp *s, const char *verb ATTR_UNUSED,
    const char *args)
{
	struct smtp_parse_addr	 addr;
	struct smtp_parse_mail	 mail;
	enum smtp_parse_err	 kind;
	const char		*rest, *error;

	if (smtp_parse_prefix(args, "FROM:", &rest, &kind, &error) == -1) {
		sm_reply(s, "501 5.5.4 Syntax: MAIL FROM:<address>");
		return;
	}
	if (smtp_parse_path(rest, SMTP_PARSE_F_ALLOW_EMPTY |
	    SMTP_PARSE_F_SMTPUTF8, &addr, &rest, &kind, &error) == -1) {
		sm_parse_error(s, kind, "5.1.7", error);
		return;
	}
	if (smtp_parse_mail_params(rest, cfg->smtpd_max_message_size, &mail,
	    &kind, &error) == -1) {
		sm_parse_error(s, kind, "5.5.4", error);
		return;
	}
	if (addr.utf8 && !mail.smtputf8) {
		sm_reply(s, "553 5.6.7 Error: UTF-8 address without SMTPUTF8");
		return;
	}
	/* Not offered: DSN (use -N, -R, -V), AUTH, CHUNKING. */
	if (mail.ret != SMTP_PARSE_RET_NONE || mail.has_envid ||
	    mail.has_auth || mail.body == SMTP_PARSE_BODY_BINARYMIME) {
		sm_reply(s, "555 5.5.4 Error: unsupported MAIL parameter");
		return;
	}
	sm_env_reset(&s->env);
	s->env.sender = xstrdup(addr.addr);
	s->env.smtputf8 = mail.smtputf8;
	s->env.body = mail.body == SMTP_PARSE_BODY_7BIT ? "7BIT" :
	    mail.body == SMTP_PARSE_BODY_8BITMIME ? "8BITMIME" : NULL;
	s->has_mail = true;
	s->state = SM_S_MAIL;
	sm_reply(s, "250 2.1.0 Ok");
}

static void
sm_cmd_rcpt(struct sm_smtp *s, const char *verb ATTR_UNUSED,
    const char *args)
{
	struct smtp_parse_addr	 addr;
	struct smtp_parse_rcpt	 rcpt;
	enum smtp_parse_err	 kind;
	const char		*rest, *error;
	char			*pm;

	if (smtp_parse_prefix(args, "TO:", &rest, &kind, &error) == -1) {
		sm_reply(s, "501 5.5.4 Syntax: RCPT TO:<address>");
		return;
	}
	if (smtp_parse_path(rest, SMTP_PARSE_F_POSTMASTER |
	    (s->env.smtputf8 ? SMTP_PARSE_F_SMTPUTF8 : 0), &addr, &rest,
	    &kind, &error) == -1) {
		sm_parse_error(s, kind, "5.1.3", error);
		return;
	}
	if (smtp_parse_rcpt_params(rest, s->env.smtputf8, &rcpt, &kind,
	    &error) == -1) {
		sm_parse_error(s, kind, "5.5.4", error);
		return;
	}
	if (rcpt.notify != 0 || rcpt.orcpt_type != SMTP_PARSE_ORCPT_NONE) {
		sm_reply(s, "555 5.5.4 Error: unsupported RCPT parameter");
		return;
	}
	if (addr.postmaster) {
		pm = xasprintf("postmaster@%s", cfg->mydomains != NULL &&
		    cfg->mydomains[0] != NULL ? cfg->mydomains[0] :
		    s->sm->hostname);
		if (str_copy(addr.addr, sizeof(addr.addr), pm) == -1) {
			free(pm);
			sm_reply(s, "501 5.1.3 Error: address too long");
			return;
		}
		free(pm);
	}
	if (sm_env_add(&s->env, addr.addr) == -1) {
		sm_reply(s, "452 4.5.3 Error: too many recipients");
		return;
	}
	s->state = SM_S_RCPT;
	sm_reply(s, "250 2.1.5 Ok");
}

static void
sm_cmd_data(struct sm_smtp *s, const char *verb ATTR_UNUSED,
    const char *args)
{
	struct sm_src	 src;
	enum sm_result	 res;
	const char	*error;
	char		 id[QFILE_ID_SIZE];

	if (args[0] != '\0') {
		sm_reply(s, "501 5.5.4 Syntax: DATA");
		return;
	}
	sm_reply(s, "354 End data with <CR><LF>.<CR><LF>");
	memset(&src, 0, sizeof(src));
	src.in = stdin;
	src.max = (size_t)cfg->smtpd_max_data_line_length;
	src.line = buf_new(1024, src.max + 1);
	src.smtp = true;
	res = sm_submit(s->sm, &src, &s->env, false, false, id, &error);
	buf_free(&src.line);
	switch (res) {
	case SM_OK:
		if (s->sm->o->verbose)
			sm_warn(s->sm->o, "queued as %s", id);
		sm_reply(s, "250 2.0.0 Ok: queued as %s", id);
		break;
	case SM_E_TOO_BIG:
	case SM_E_DROP_DATA:
		sm_reply(s, "552 5.3.4 Error: message file too big");
		break;
	case SM_E_HEADER:
		sm_reply(s, "552 5.3.4 Error: message header section too big");
		break;
	case SM_E_LINE:
		sm_reply(s, "554 5.6.0 Error: message line too long (see RFC "
		    "5322 2.1.1)");
		break;
	case SM_E_HOPS:
		sm_reply(s, "554 5.4.6 Error: too many hops");
		break;
	case SM_E_INPUT:
		s->quit = true;		/* the input ended in DATA */
		break;
	case SM_E_DROP:
		if (error != NULL)
			sm_warn(s->sm->o, "%s", error);
		sm_reply(s, "451 4.3.0 Error: queue file write error");
		break;
	case SM_E_ADDR:
	case SM_E_NORCPT:
	case SM_E_RCPTS:
	default:
		sm_reply(s, "451 4.3.0 Error: internal error");
		break;
	}
	sm_smtp_reset(s);
}

static void
sm_cmd_rset(struct sm_smtp *s, const char *verb ATTR_UNUSED,
    const char *args ATTR_UNUSED)
{
	sm_smtp_reset(s);
	sm_reply(s, "250 2.0.0 Ok");
}

static void
sm_cmd_noop(struct sm_smtp *s, const char *verb ATTR_UNUSED,
    const char *args ATTR_UNUSED)
{
	sm_reply(s, "250 2.0.0 Ok");
}

static void
sm_cmd_quit(struct sm_smtp *s, const char *verb ATTR_UNUSED,
    const char *args ATTR_UNUSED)
{
	sm_reply(s, "221 2.0.0 Bye");
	s->quit = true;
}

static void
sm_cmd_vrfy(struct sm_smtp *s, const char *verb ATTR_UNUSED,
    const char *args ATTR_UNUSED)
{
	sm_reply(s, "502 5.5.1 Error: command not implemented");
}

static void
sm_cmd_help(struct sm_smtp *s, const char *verb ATTR_UNUSED,
    const char *args ATTR_UNUSED)
{
	sm_reply(s, "214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA RSET NOOP "
	    "QUIT");
}

static const struct sm_smtp_cmd {
	const char	*verb;
	void		(*fn)(struct sm_smtp *, const char *, const char *);
	unsigned int	 states;
	const char	*bad_sequence;
} sm_smtp_cmds[] = {
	{ "HELO",	sm_cmd_helo,	SM_S_ANY,	NULL },
	{ "EHLO",	sm_cmd_helo,	SM_S_ANY,	NULL },
	{ "MAIL",	sm_cmd_mail,	SM_S_START | SM_S_READY,
	    "503 5.5.1 Error: nested MAIL command" },
	{ "RCPT",	sm_cmd_rcpt,	SM_S_MAIL | SM_S_RCPT,
	    "503 5.5.1 Error: need MAIL command" },
	{ "DATA",	sm_cmd_data,	SM_S_RCPT,
	    "503 5.5.1 Error: need RCPT command" },
	{ "RSET",	sm_cmd_rset,	SM_S_ANY,	NULL },
	{ "NOOP",	sm_cmd_noop,	SM_S_ANY,	NULL },
	{ "QUIT",	sm_cmd_quit,	SM_S_ANY,	NULL },
	{ "VRFY",	sm_cmd_vrfy,	SM_S_ANY,	NULL },
	{ "HELP",	sm_cmd_help,	SM_S_ANY,	NULL },
};

static int
sm_smtp(struct sm *sm)
{
	struct sm_smtp		 s;
	struct smtp_parse_cmd	 cmd;
	enum smtp_parse_err	 kind;
	const char		*error;
	size_t			 i;

	memset(&s, 0, sizeof(s));
	s.sm = sm;
	s.state = SM_S_START;
	s.line = buf_new(512, (size_t)cfg->smtpd_max_line_length);
	sm_reply(&s, "220 %s ESMTP postern", sm->hostname);
	while (!s.quit) {
		if (s.errors >= cfg->smtpd_max_errors) {
			sm_reply(&s, "421 4.7.0 %s Error: too many errors",
			    sm->hostname);
			break;
		}
		switch (sm_read_line(stdin, s.line)) {
		case SM_READ_EOF:
		case SM_READ_ERROR:
			s.quit = true;
			continue;
		case SM_READ_LONG:
			sm_reply(&s, "500 5.5.2 Error: line too long");
			continue;
		case SM_READ_LINE:
			break;
		}
		if (smtp_parse_command(s.line->data, s.line->len, &cmd, &kind,
		    &error) == -1) {
			sm_reply(&s, "500 5.5.2 Error: %s", error);
			continue;
		}
		for (i = 0; i < N_ELEMENTS(sm_smtp_cmds); i++)
			if (strcmp(cmd.verb, sm_smtp_cmds[i].verb) == 0)
				break;
		if (i == N_ELEMENTS(sm_smtp_cmds))
			sm_reply(&s, "502 5.5.2 Error: command not recognized");
		else if ((sm_smtp_cmds[i].states & s.state) == 0)
			sm_reply(&s, "%s", sm_smtp_cmds[i].bad_sequence);
		else
			sm_smtp_cmds[i].fn(&s, cmd.verb, cmd.args);
	}
	sm_env_reset(&s.env);
	buf_free(&s.line);
	return EX_OK;
}

/* ---- mailq, newaliases, -q -------------------------------------------- */

static int
sm_run_cmd(int (*cmd)(int, char *[]), const char *a0, const char *a1,
    const char *a2)
{
	char	*argv[4];
	int	 argc = 0, ret;

	argv[argc++] = xstrdup(a0);
	argv[argc++] = xstrdup(a1);
	if (a2 != NULL)
		argv[argc++] = xstrdup(a2);
	argv[argc] = NULL;
	optind = 0;
	ret = cmd(argc, argv);
	while (argc > 0)
		free(argv[--argc]);
	return ret;
}

/* newaliases: every table of alias_maps, as "postctl map build" builds. */
static int
sm_newaliases(const struct sm_opts *o)
{
	size_t	i;
	int	ret = EX_OK;

	postctl_load_config();
	if (cfg->alias_maps == NULL || cfg->alias_maps[0] == NULL) {
		if (o->verbose)
			sm_warn(o, "alias_maps is empty: nothing to build");
		return EX_OK;
	}
	for (i = 0; cfg->alias_maps[i] != NULL; i++) {
		if (o->verbose)
			sm_warn(o, "building %s", cfg->alias_maps[i]);
		if (sm_run_cmd(postctl_cmd_map, "map", "build",
		    cfg->alias_maps[i]) != POSTCTL_EXIT_OK)
			ret = EX_CANTCREAT;
	}
	return ret;
}

/* ---- options ---------------------------------------------------------- */

static int
sm_bad_usage(const struct sm_opts *o, const char *what)
{
	if (what != NULL)
		sm_warn(o, "%s", what);
	(void)fputs(sm_usage, stderr);
	return EX_USAGE;
}

/* -N: NEVER, or a comma list of SUCCESS, FAILURE, DELAY. */
static bool
sm_notify_valid(const char *s)
{
	static const char *const words[] = { "never", "success", "failure",
	    "delay" };
	const char	*end;
	size_t		 len, i;
	unsigned int	 seen = 0;

	for (;;) {
		end = strchr(s, ',');
		len = end != NULL ? (size_t)(end - s) : strlen(s);
		for (i = 0; i < N_ELEMENTS(words); i++)
			if (strlen(words[i]) == len &&
			    strncasecmp(s, words[i], len) == 0)
				break;
		if (i == N_ELEMENTS(words) || (seen & (1u << i)) != 0)
			return false;
		seen |= 1u << i;
		if (end == NULL)
			break;
		s = end + 1;
	}
	return (seen & 1u) == 0 || seen == 1u;
}

static bool
sm_envid_valid(const char *s)
{
	size_t	i;

	for (i = 0; s[i] != '\0'; i++)
		if (s[i] < 0x21 || s[i] > 0x7e)
			return false;
	return i > 0 && i <= SM_ENVID_MAX;
}

static bool
sm_fullname_valid(const char *s)
{
	size_t	i;

	for (i = 0; s[i] != '\0'; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return i <= SM_FULLNAME_MAX;
}

/*
 * Parses the options (getopt, as Postfix's sendmail: clusters like -ti,
 * -fsender and -f sender, -oi).  Returns 0, or an exit status.
 */
static int
sm_parse_opts(struct sm_opts *o, int argc, char *argv[])
{
	int	ch;

	opterr = 0;
	optind = 0;
	while ((ch = getopt(argc, argv,
	    "A:B:C:F:GIL:N:O:R:UV:X:b:ce:f:h:imno:p:q::r:tvx")) != -1) {
		switch (ch) {
		case 'B':
			if (strcasecmp(optarg, "7bit") == 0)
				o->body = "7BIT";
			else if (strcasecmp(optarg, "8bitmime") == 0)
				o->body = "8BITMIME";
			else
				return sm_bad_usage(o, "-B: 7BIT or 8BITMIME");
			break;
		case 'C':
			o->conf_dir = optarg;
			break;
		case 'F':
			o->fullname = optarg;
			break;
		case 'I':
			o->mode = SM_MODE_ALIASES;
			break;
		case 'N':
			if (!sm_notify_valid(optarg))
				return sm_bad_usage(o, "-N: never, or a list "
				    "of success, failure, delay");
			o->notify = optarg;
			break;
		case 'R':
			if (strcasecmp(optarg, "full") != 0 &&
			    strcasecmp(optarg, "hdrs") != 0)
				return sm_bad_usage(o, "-R: full or hdrs");
			o->ret = optarg;
			break;
		case 'V':
			if (!sm_envid_valid(optarg))
				return sm_bad_usage(o, "-V: 1 to 100 printable "
				    "characters");
			o->envid = optarg;
			break;
		case 'b':
			switch (optarg[0] != '\0' && optarg[1] == '\0' ?
			    optarg[0] : '?') {
			case 'm':
				o->mode = SM_MODE_MAIL;
				break;
			case 's':
				o->mode = SM_MODE_SMTP;
				break;
			case 'p':
				o->mode = SM_MODE_QUEUE;
				break;
			case 'i':
				o->mode = SM_MODE_ALIASES;
				break;
			case 'd':
			case 'D':
			case 'l':
				return sm_bad_usage(o, "no daemon mode: use "
				    "postctl start");
			default:
				return sm_bad_usage(o, "unsupported -b mode");
			}
			break;
		case 'f':
		case 'r':
			o->sender = optarg;
			break;
		case 'i':
			o->dots = false;
			break;
		case 'o':
			/* As Postfix: -oi, -oFname, -oBtype; others go. */
			if (optarg[0] == 'i')
				o->dots = false;
			else if (optarg[0] == 'F' && optarg[1] != '\0')
				o->fullname = optarg + 1;
			else if (optarg[0] == 'B' && optarg[1] != '\0') {
				if (strcasecmp(optarg + 1, "7bit") == 0)
					o->body = "7BIT";
				else if (strcasecmp(optarg + 1,
				    "8bitmime") == 0)
					o->body = "8BITMIME";
			}
			break;
		case 'q':
			if (optarg == NULL)
				o->mode = SM_MODE_FLUSH;
			else
				sm_warn(o, "warning: -q%s option ignored",
				    optarg);
			break;
		case 't':
			o->extract = true;
			break;
		case 'v':
			o->verbose = true;
			break;
		case 'm':
		case 'U':
			break;		/* what they ask for is the default */
		case 'A':
		case 'G':
		case 'L':
		case 'O':
		case 'X':
		case 'c':
		case 'e':
		case 'h':
		case 'n':
		case 'p':
		case 'x':
			sm_warn(o, "warning: -%c option ignored", ch);
			break;
		default:
			return sm_bad_usage(o, error_fmt(optopt != 0 &&
			    strchr("ABCFLNORVXbefhopr", optopt) != NULL ?
			    "option -%c needs a value" : "unknown option -%c",
			    optopt));
		}
	}
	if (o->fullname == NULL) {
		o->fullname = getenv("NAME");
		if (o->fullname != NULL && !sm_fullname_valid(o->fullname))
			o->fullname = NULL;
	} else if (!sm_fullname_valid(o->fullname))
		return sm_bad_usage(o, "-F: a full name of at most 256 "
		    "printable characters");
	return 0;
}

/* The user, the host, postdrop: what a submission needs. */
static int
sm_init(struct sm *sm)
{
	struct passwd	*pw;
	int		 r;

	if ((sm->conf = postctl_read_config()) == NULL)
		return EX_CONFIG;
	cfg = sm->conf;
	/* As Postfix's myorigin = $myhostname. */
	if (cfg->myhostname[0] != '\0')
		r = str_copy(sm->hostname, sizeof(sm->hostname),
		    cfg->myhostname);
	else {
		r = gethostname(sm->hostname, sizeof(sm->hostname));
		sm->hostname[sizeof(sm->hostname) - 1] = '\0';
	}
	if (r == -1 || sm->hostname[0] == '\0') {
		sm_warn(sm->o, "cannot determine the host name (set "
		    "myhostname)");
		return EX_CONFIG;
	}
	if ((pw = getpwuid(getuid())) == NULL) {
		sm_warn(sm->o, "no login name found for user ID %lu",
		    (unsigned long)getuid());
		return EX_NOUSER;
	}
	sm->login = xasprintf("%s@%s", pw->pw_name, sm->hostname);
	sm->postdrop = xasprintf("%s/postern-postdrop", cfg->daemon_directory);
	return 0;
}

int
postctl_sendmail_main(const char *name, int argc, char *argv[])
{
	struct sm_opts	 o;
	struct sm	 sm;
	const char	*dir, *env, *slash;
	char		*conf_dir = NULL;
	int		 ret;

	sm_std_fds();
	/* Our own children are reaped by us; a dead postdrop is an error. */
	(void)signal(SIGPIPE, SIG_IGN);
	(void)signal(SIGCHLD, SIG_DFL);
	memset(&o, 0, sizeof(o));
	o.name = name;
	o.dots = true;
	o.mode = strcmp(name, "mailq") == 0 ? SM_MODE_QUEUE :
	    strcmp(name, "newaliases") == 0 ? SM_MODE_ALIASES : SM_MODE_MAIL;
	if ((ret = sm_parse_opts(&o, argc, argv)) != 0)
		return ret;

	/* -C takes the folder or its postern.conf, as Postfix's does. */
	env = getenv("POSTERN_CONFIG_DIR");
	dir = o.conf_dir != NULL ? o.conf_dir :
	    env != NULL && env[0] != '\0' ? env : POSTERN_CONF_DIR;
	slash = strrchr(dir, '/');
	if (strcmp(slash != NULL ? slash + 1 : dir, CONF_FILE_NAME) == 0)
		dir = slash == NULL ? "." : slash == dir ? "/" :
		    (conf_dir = xstrndup(dir, (size_t)(slash - dir)));
	postctl_conf_dir = postctl_absolute_dir(dir);

	switch (o.mode) {
	case SM_MODE_QUEUE:
		ret = sm_run_cmd(postctl_cmd_queue, "queue", "list", NULL);
		break;
	case SM_MODE_FLUSH:
		ret = sm_run_cmd(postctl_cmd_queue, "queue", "flush", NULL);
		break;
	case SM_MODE_ALIASES:
		ret = sm_newaliases(&o);
		break;
	case SM_MODE_MAIL:
	case SM_MODE_SMTP:
	default:
		memset(&sm, 0, sizeof(sm));
		sm.o = &o;
		if ((ret = sm_init(&sm)) == 0)
			ret = o.mode == SM_MODE_SMTP ? sm_smtp(&sm) :
			    sm_mail(&sm, argc - optind, argv + optind);
		free(sm.login);
		free(sm.postdrop);
		if (sm.conf != NULL) {
			cfg = NULL;
			conf_free(&sm.conf);
		}
		break;
	}
	free(conf_dir);
	return ret;
}
