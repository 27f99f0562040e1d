/* SPDX-License-Identifier: ISC */
/*
 * The users file and its compiled table (userdb.h, postern-tables(5)).
 *
 * The text file has Dovecot's passwd-file layout, one user a line:
 *	address:hash[:uid:gid:gecos:home:shell[:extra fields]]
 * This module parses it strictly (every malformed line is an error with
 * FILE:LINE, an unknown extra field included, so a typo never silently
 * drops a quota), compiles it into a lookup table whose key is the
 * address and whose value is the rest of the line (through table.c's
 * build and atomic commit), and rewrites it for postctl: under an flock
 * on FILE.lock, comment and blank lines and untouched user lines are
 * kept byte for byte, the new text goes to FILE.tmp-PID with the old
 * file's owner and mode and is committed with file_commit(), then the
 * table is rebuilt from the same parsed text.
 *
 * Trust: the file is the administrator's, but authd reads the values
 * back from the table as if they were hostile (userdb_parse_value()
 * applies the same checks as the text parser).
 */
#include "config.h"

#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "conf.h"
#include "error.h"
#include "file.h"
#include "log.h"
#include "str.h"
#include "table.h"
#include "table_int.h"
#include "userdb.h"
#include "xmalloc.h"

#include "banned.h"

/* A line: the address, its ":" and a table value at most. */
#define USERDB_LINE_MAX		(USERDB_ADDRESS_MAX + 1 + TABLE_VALUE_MAX)
#define USERDB_FILE_MAX		TABLE_SOURCE_MAX
#define USERDB_ID_MAX		32	/* uid and gid fields */
#define USERDB_SHOWN		64	/* bytes of a value quoted in an error */
#define USERDB_AUTHD_SERVICE	"authd"
#define USERDB_NEW_MODE		0600	/* a new file nobody else may read */
#define USERDB_NEW_MODE_GROUP	0640	/* ... but authd's group, as root */

/* The fields of a line after the address, in order. */
enum userdb_field {
	USERDB_F_HASH, USERDB_F_UID, USERDB_F_GID, USERDB_F_GECOS,
	USERDB_F_HOME, USERDB_F_SHELL, USERDB_F_COUNT
};

static bool
userdb_is_ctl(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

static bool
userdb_is_ws(unsigned char c)
{
	return c == ' ' || c == '\t';
}

static int
userdb_address_check(const char *a, size_t len, const char **error_r)
{
	const char *at = NULL;
	size_t	 i;

	if (len == 0) {
		*error_r = "empty address";
		return -1;
	}
	if (len > USERDB_ADDRESS_MAX) {
		*error_r = error_fmt("address longer than %d bytes",
		    USERDB_ADDRESS_MAX);
		return -1;
	}
	for (i = 0; i < len; i++) {
		if (userdb_is_ctl((unsigned char)a[i]) ||
		    userdb_is_ws((unsigned char)a[i]) || a[i] == ':') {
			*error_r = error_fmt("address \"%s\" has white space "
			    "or a control character",
			    log_safe_n(a, len));
			return -1;
		}
		if (a[i] == '@') {
			if (at != NULL) {
				*error_r = error_fmt("address \"%s\" has more "
				    "than one \"@\"", log_safe_n(a, len));
				return -1;
			}
			at = a + i;
		}
	}
	if (at == NULL) {
		*error_r = error_fmt("address \"%s\" has no \"@\"",
		    log_safe_n(a, len));
		return -1;
	}
	if (at == a || at == a + len - 1) {
		*error_r = error_fmt("address \"%s\" needs a user and a domain",
		    log_safe_n(a, len));
		return -1;
	}
	return 0;
}

bool
userdb_address_valid(const char *address)
{
	const char *error;

	return userdb_address_check(address, strlen(address), &error) == 0;
}

static void
userdb_user_init(struct userdb_user *u)
{
	memset(u, 0, sizeof(*u));
}

void
userdb_user_deinit(struct userdb_user *u)
{
	free(u->address);
	if (u->hash != NULL) {
		explicit_bzero(u->hash, strlen(u->hash));
		free(u->hash);
	}
	free(u->home);
	free(u->maildir);
	memset(u, 0, sizeof(*u));
}

static bool
userdb_id_valid(const char *s, size_t len)
{
	size_t	i;

	if (len > USERDB_ID_MAX)
		return false;
	for (i = 0; i < len; i++) {
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') ||
		    s[i] == '.' || s[i] == '_' || s[i] == '-'))
			return false;
	}
	return true;
}

/* One "key=value" word of the extra fields. */
static int
userdb_parse_extra_word(const char *w, size_t len, struct userdb_user *u,
    unsigned int *seen, const char **error_r)
{
	const char *eq, *v;
	char	*value;
	size_t	 klen;
	unsigned int bit;
	int	 ret = -1;

	if ((eq = memchr(w, '=', len)) == NULL || eq == w) {
		*error_r = error_fmt("extra field \"%s\" is not key=value",
		    log_safe_n(w, len < USERDB_SHOWN ? len : USERDB_SHOWN));
		return -1;
	}
	klen = (size_t)(eq - w);
	/* Dovecot's userdb_* fields mean nothing to us. */
	if (klen > 7 && memcmp(w, "userdb_", 7) == 0)
		return 0;
	if (klen == 5 && memcmp(w, "quota", 5) == 0)
		bit = 1;
	else if (klen == 7 && memcmp(w, "maildir", 7) == 0)
		bit = 2;
	else if (klen == 8 && memcmp(w, "disabled", 8) == 0)
		bit = 4;
	else {
		*error_r = error_fmt("unknown extra field \"%s\" (use quota, "
		    "maildir or disabled)", log_safe_n(w,
		    klen < USERDB_SHOWN ? klen : USERDB_SHOWN));
		return -1;
	}
	if ((*seen & bit) != 0) {
		*error_r = error_fmt("extra field %.*s given twice",
		    (int)klen, w);
		return -1;
	}
	*seen |= bit;
	v = eq + 1;
	value = xstrndup(v, len - klen - 1);
	switch (bit) {
	case 1:
		if (conf_parse_size(value, UINT64_MAX, &u->quota,
		    error_r) == -1) {
			*error_r = error_fmt("quota=%s: %s",
			    log_safe(value), *error_r);
			goto out;
		}
		break;
	case 2:
		if (value[0] != '/') {
			*error_r = error_fmt("maildir=%s is not an absolute "
			    "path", log_safe(value));
			goto out;
		}
		free(u->maildir);
		u->maildir = value;
		value = NULL;
		break;
	default:
		if (strcmp(value, "yes") == 0)
			u->disabled = true;
		else if (strcmp(value, "no") == 0)
			u->disabled = false;
		else {
			*error_r = error_fmt("disabled=%s: use yes or no",
			    log_safe(value));
			goto out;
		}
		break;
	}
	ret = 0;
out:
	free(value);
	return ret;
}

/* The extra fields: words separated by spaces or tabs. */
static int
userdb_parse_extra(const char *s, struct userdb_user *u,
    const char **error_r)
{
	const char *w;
	unsigned int seen = 0;

	for (;;) {
		while (userdb_is_ws((unsigned char)*s))
			s++;
		if (*s == '\0')
			return 0;
		for (w = s; *s != '\0' && !userdb_is_ws((unsigned char)*s); s++)
			;
		if (userdb_parse_extra_word(w, (size_t)(s - w), u, &seen,
		    error_r) == -1)
			return -1;
	}
}

/*
 * The fields after "address:".  u->address is set; on error the caller
 * deinits u.
 */
static int
userdb_parse_rest(const char *rest, struct userdb_user *u,
    const char **error_r)
{
	const char *f[USERDB_F_COUNT], *p, *colon, *extra = NULL;
	size_t	 flen[USERDB_F_COUNT], i, nf = 0;

	if (strlen(rest) > TABLE_VALUE_MAX) {
		*error_r = error_fmt("fields after the address longer than "
		    "%d bytes", TABLE_VALUE_MAX);
		return -1;
	}
	for (p = rest; *p != '\0'; p++) {
		if (*p != '\t' && userdb_is_ctl((unsigned char)*p)) {
			*error_r = "control character in the line";
			return -1;
		}
	}
	/* Six fields split at ":", then the extras, which may hold ":". */
	for (p = rest; nf < USERDB_F_COUNT; nf++) {
		f[nf] = p;
		if ((colon = strchr(p, ':')) == NULL) {
			flen[nf++] = strlen(p);
			break;
		}
		flen[nf] = (size_t)(colon - p);
		p = colon + 1;
		if (nf == USERDB_F_COUNT - 1)
			extra = p;
	}
	for (i = nf; i < USERDB_F_COUNT; i++) {
		f[i] = "";
		flen[i] = 0;
	}

	if (flen[USERDB_F_HASH] == 0) {
		*error_r = "empty password hash";
		return -1;
	}
	for (i = 0; i < flen[USERDB_F_HASH]; i++) {
		if (userdb_is_ws((unsigned char)f[USERDB_F_HASH][i])) {
			*error_r = "white space in the password hash";
			return -1;
		}
	}
	if (!userdb_id_valid(f[USERDB_F_UID], flen[USERDB_F_UID]) ||
	    !userdb_id_valid(f[USERDB_F_GID], flen[USERDB_F_GID])) {
		*error_r = error_fmt("uid or gid field is not a number or a "
		    "user name (extra fields go after the 7th \":\")");
		return -1;
	}
	if (flen[USERDB_F_HOME] > 0 && f[USERDB_F_HOME][0] != '/') {
		*error_r = error_fmt("home \"%s\" is not an absolute path",
		    log_safe_n(f[USERDB_F_HOME], flen[USERDB_F_HOME]));
		return -1;
	}
	u->hash = xstrndup(f[USERDB_F_HASH], flen[USERDB_F_HASH]);
	u->home = xstrndup(f[USERDB_F_HOME], flen[USERDB_F_HOME]);
	u->maildir = xstrdup("");
	if (extra != NULL && userdb_parse_extra(extra, u, error_r) == -1)
		return -1;
	return 0;
}

int
userdb_parse_value(const char *address, const char *value,
    struct userdb_user *u, const char **error_r)
{
	userdb_user_init(u);
	if (userdb_address_check(address, strlen(address), error_r) == -1)
		return -1;
	u->address = str_lower(xstrdup(address));
	if (userdb_parse_rest(value, u, error_r) == -1) {
		userdb_user_deinit(u);
		return -1;
	}
	return 1;
}

int
userdb_parse_line(const char *line, struct userdb_user *u,
    const char **error_r)
{
	const char *s, *colon;

	userdb_user_init(u);
	for (s = line; userdb_is_ws((unsigned char)*s); s++)
		;
	if (*s == '\0' || *s == '#')
		return 0;
	if (s != line) {
		*error_r = "line starts with white space";
		return -1;
	}
	if (strlen(line) > USERDB_LINE_MAX) {
		*error_r = error_fmt("line longer than %d bytes",
		    USERDB_LINE_MAX);
		return -1;
	}
	if ((colon = strchr(line, ':')) == NULL) {
		*error_r = "missing \":\" after the address";
		return -1;
	}
	if (userdb_address_check(line, (size_t)(colon - line), error_r) == -1)
		return -1;
	u->address = str_lower(xstrndup(line, (size_t)(colon - line)));
	if (userdb_parse_rest(colon + 1, u, error_r) == -1) {
		userdb_user_deinit(u);
		return -1;
	}
	return 1;
}

/* A quota in the shortest exact form conf_parse_size() reads back. */
static void
userdb_format_quota(struct buf *b, uint64_t q)
{
	static const struct {
		uint64_t	mult;
		char		suffix;
	} units[] = {
		{ 1024ULL * 1024 * 1024, 'g' },
		{ 1024ULL * 1024, 'm' },
		{ 1024ULL, 'k' },
	};
	size_t	i;

	for (i = 0; i < N_ELEMENTS(units); i++) {
		if (q % units[i].mult == 0) {
			if (buf_printf(b, "quota=%" PRIu64 "%c",
			    q / units[i].mult, units[i].suffix) == -1)
				log_panic("userdb_format_quota: overflow");
			return;
		}
	}
	if (buf_printf(b, "quota=%" PRIu64, q) == -1)
		log_panic("userdb_format_quota: overflow");
}

char *
userdb_format_line(const struct userdb_user *u)
{
	struct buf b, extra;
	char	*line;

	buf_init(&b, 128, SIZE_MAX);
	buf_init(&extra, 64, SIZE_MAX);
	if (u->quota != 0)
		userdb_format_quota(&extra, u->quota);
	if (u->maildir != NULL && u->maildir[0] != '\0' &&
	    buf_printf(&extra, "%smaildir=%s", extra.len > 0 ? " " : "",
	    u->maildir) == -1)
		log_panic("userdb_format_line: overflow");
	if (u->disabled && buf_printf(&extra, "%sdisabled=yes",
	    extra.len > 0 ? " " : "") == -1)
		log_panic("userdb_format_line: overflow");
	/* address:hash:uid:gid:gecos:home:shell:extra, short as it may be. */
	if (buf_printf(&b, "%s:%s", u->address, u->hash) == -1)
		log_panic("userdb_format_line: overflow");
	if (extra.len > 0 || (u->home != NULL && u->home[0] != '\0')) {
		if (buf_printf(&b, "::::%s", u->home != NULL ? u->home :
		    "") == -1)
			log_panic("userdb_format_line: overflow");
	}
	if (extra.len > 0 && buf_printf(&b, "::%s", extra.data) == -1)
		log_panic("userdb_format_line: overflow");
	buf_deinit(&extra);
	line = buf_steal(&b);
	buf_deinit(&b);
	return line;
}

char *
userdb_table_name(void)
{
	if (cfg->user_database != NULL && cfg->user_database[0] != '\0')
		return xstrdup(cfg->user_database);
	return xasprintf("%s:%s/users", cfg->default_database_type,
	    cfg->config_directory);
}

static const char *
userdb_default_type(void)
{
	return cfg != NULL ? cfg->default_database_type : NULL;
}

/*
 * Walks the lines of data (len bytes).  Each line, its CR (if CRLF) cut,
 * goes to fn with its number; a line with NUL is an error.  Stops at the
 * first -1 from fn.
 */
typedef int userdb_line_fn(const char *line, unsigned long lineno,
	    void *ctx, const char **error_r);

static int
userdb_lines(const char *file, const char *data, size_t len,
    userdb_line_fn *fn, void *ctx, const char **error_r)
{
	const char *p, *end = data + len, *nl, *eol;
	unsigned long lineno = 0;
	char	*line;
	int	 ret;

	for (p = data; p < end; p = nl == NULL ? end : nl + 1) {
		lineno++;
		nl = memchr(p, '\n', (size_t)(end - p));
		eol = nl == NULL ? end : nl;
		if ((size_t)(eol - p) > USERDB_LINE_MAX + 1) {
			*error_r = error_fmt("%s:%lu: line longer than %d "
			    "bytes", file, lineno, USERDB_LINE_MAX);
			return -1;
		}
		if (memchr(p, '\0', (size_t)(eol - p)) != NULL) {
			*error_r = error_fmt("%s:%lu: NUL byte in line", file,
			    lineno);
			return -1;
		}
		if (eol > p && eol[-1] == '\r')
			eol--;
		line = xstrndup(p, (size_t)(eol - p));
		ret = fn(line, lineno, ctx, error_r);
		explicit_bzero(line, (size_t)(eol - p));
		free(line);
		if (ret == -1)
			return -1;
	}
	return 0;
}

/* Collecting a parsed file into table entries. */
struct userdb_collect {
	const char	*file;
	struct table_source *src;
	char		*first_error_copy;	/* "FILE:LINE: text" */
	unsigned long	 errors;
};

static int
userdb_collect_line(const char *line, unsigned long lineno, void *ctx,
    const char **error_r ATTR_UNUSED)
{
	struct userdb_collect *c = ctx;
	struct userdb_user u;
	const char *error, *value;
	size_t	 len;
	int	 ret;

	if ((ret = userdb_parse_line(line, &u, &error)) == -1) {
		if (c->errors++ == 0)
			c->first_error_copy = xasprintf("%s:%lu: %s", c->file,
			    lineno, error);
		return 0;
	}
	if (ret == 0)
		return 0;
	/*
	 * The value is the line after "address:" as written, less white
	 * space at the end (as table.c drops it from every value).
	 */
	value = strchr(line, ':') + 1;
	len = strlen(value);
	while (len > 0 && userdb_is_ws((unsigned char)value[len - 1]))
		len--;
	table_source_add(c->src, u.address, strlen(u.address), value, len,
	    lineno);
	userdb_user_deinit(&u);
	return 0;
}

/*
 * Parses the whole text of file into src (entries sorted, no repeated
 * address).  Every line is parsed; the first error is returned, with a
 * count of the others.
 */
static int
userdb_parse_text(const char *file, const char *data, size_t len,
    struct table_source *src, const char **error_r)
{
	struct userdb_collect c;
	int	 ret = 0;

	memset(src, 0, sizeof(*src));
	memset(&c, 0, sizeof(c));
	c.file = file;
	c.src = src;
	if (userdb_lines(file, data, len, userdb_collect_line, &c,
	    error_r) == -1)
		ret = -1;
	else if (c.errors == 1) {
		*error_r = error_fmt("%s", c.first_error_copy);
		ret = -1;
	} else if (c.errors > 1) {
		*error_r = error_fmt("%s (and %lu more malformed lines)",
		    c.first_error_copy, c.errors - 1);
		ret = -1;
	} else if (table_source_sort(file, src, error_r) == -1)
		ret = -1;
	free(c.first_error_copy);
	if (ret == -1)
		table_source_deinit(src);
	return ret;
}

long
userdb_build(const char *name, const char **error_r)
{
	struct table_source src;
	const char *type;
	char	*file, *data;
	size_t	 len;
	long	 ret = -1;

	if (table_parse_name(name, userdb_default_type(), &type, &file,
	    error_r) == -1)
		return -1;
	if (file_read_all(file, USERDB_FILE_MAX, &data, &len, error_r) == -1) {
		free(file);
		return -1;
	}
	if (userdb_parse_text(file, data, len, &src, error_r) == 0) {
		ret = table_build_entries(name, userdb_default_type(), &src,
		    len, error_r);
		table_source_deinit(&src);
	}
	explicit_bzero(data, len);
	free(data);
	free(file);
	return ret;
}

/* ---- reading and rewriting for postctl ------------------------------ */

/*
 * Reads file whole; a missing file is an empty one (*exists_r false), so
 * the first "postctl user add" creates it.
 */
static int
userdb_read_file(const char *file, char **data_r, size_t *len_r,
    bool *exists_r, const char **error_r)
{
	struct stat st;

	if (stat(file, &st) == -1 && errno == ENOENT) {
		*data_r = xstrdup("");
		*len_r = 0;
		*exists_r = false;
		return 0;
	}
	*exists_r = true;
	return file_read_all(file, USERDB_FILE_MAX, data_r, len_r, error_r);
}

struct userdb_walk {
	const char	*file;
	userdb_edit_fn	*edit;
	void		*ctx;
	const struct userdb_user *add;
	struct buf	*out;		/* NULL: read only */
	long		 users;
	long		 changed;
};

static int
userdb_walk_line(const char *line, unsigned long lineno, void *ctx,
    const char **error_r)
{
	struct userdb_walk *w = ctx;
	struct userdb_user u;
	const char *error;
	char	*before = NULL, *after = NULL;
	int	 ret;

	if ((ret = userdb_parse_line(line, &u, &error)) == -1) {
		*error_r = error_fmt("%s:%lu: %s", w->file, lineno, error);
		return -1;
	}
	if (ret == 0)
		goto keep;
	w->users++;
	if (w->add != NULL && strcmp(u.address, w->add->address) == 0) {
		*error_r = error_fmt("%s:%lu: user %s exists", w->file,
		    lineno, u.address);
		goto fail;
	}
	if (w->edit == NULL)
		goto keep_user;
	before = userdb_format_line(&u);
	if ((ret = w->edit(&u, w->ctx, &error)) == -1) {
		*error_r = error;
		goto fail;
	}
	if (ret == 0) {
		w->changed++;
		goto done;
	}
	after = userdb_format_line(&u);
	if (strcmp(before, after) != 0) {
		/* Written anew: its uid, gid, gecos and shell go. */
		w->changed++;
		if (w->out != NULL && (buf_append_str(w->out, after) == -1 ||
		    buf_append_byte(w->out, '\n') == -1))
			goto too_big;
		goto done;
	}
keep_user:
	userdb_user_deinit(&u);
keep:
	/* Unchanged lines stay byte for byte (CRLF becomes LF). */
	if (w->out != NULL && (buf_append_str(w->out, line) == -1 ||
	    buf_append_byte(w->out, '\n') == -1))
		goto too_big;
	free(before);
	free(after);
	return 0;
done:
	userdb_user_deinit(&u);
	free(before);
	free(after);
	return 0;
too_big:
	*error_r = error_fmt("%s: would grow past %zu bytes", w->file,
	    (size_t)USERDB_FILE_MAX);
fail:
	userdb_user_deinit(&u);
	free(before);
	free(after);
	return -1;
}

long
userdb_read(const char *name, userdb_edit_fn *fn, void *ctx,
    const char **error_r)
{
	struct userdb_walk w;
	const char *type;
	char	*file, *data = NULL;
	size_t	 len = 0;
	bool	 exists;
	long	 ret = -1;

	if (table_parse_name(name, userdb_default_type(), &type, &file,
	    error_r) == -1)
		return -1;
	memset(&w, 0, sizeof(w));
	w.file = file;
	w.edit = fn;
	w.ctx = ctx;
	if (userdb_read_file(file, &data, &len, &exists, error_r) == 0 &&
	    userdb_lines(file, data, len, userdb_walk_line, &w, error_r) == 0)
		ret = w.users;
	if (data != NULL) {
		explicit_bzero(data, len);
		free(data);
	}
	free(file);
	return ret;
}

/*
 * Owner and mode of a new users file: as root, root and the group of
 * authd's user with 0640 so authd alone (besides root) reads it; else,
 * or when that user does not exist, 0600.
 */
static void
userdb_new_owner(uid_t *uid_r, gid_t *gid_r, mode_t *mode_r)
{
	const struct conf_service *svc;
	const struct passwd *pw;
	const char *user = NULL;

	*uid_r = (uid_t)-1;
	*gid_r = (gid_t)-1;
	*mode_r = USERDB_NEW_MODE;
	if (geteuid() != 0 || cfg == NULL)
		return;
	if ((svc = conf_service_find(cfg, USERDB_AUTHD_SERVICE)) != NULL)
		user = svc->user;
	if (user == NULL || user[0] == '\0')
		user = cfg->mail_owner;
	if (user == NULL || user[0] == '\0' || (pw = getpwnam(user)) == NULL)
		return;
	*uid_r = 0;
	*gid_r = pw->pw_gid;
	*mode_r = USERDB_NEW_MODE_GROUP;
}

/* Writes data to FILE.tmp-PID with the right owner and mode, commits it. */
static int
userdb_write_file(const char *file, bool exists, const char *data,
    size_t len, const char **error_r)
{
	struct stat st;
	uid_t	 uid;
	gid_t	 gid;
	mode_t	 mode;
	char	*tmp;
	int	 fd, ret = -1;

	if (exists) {
		if (stat(file, &st) == -1) {
			*error_r = error_fmt("stat %s: %m", file);
			return -1;
		}
		uid = geteuid() == 0 ? st.st_uid : (uid_t)-1;
		gid = geteuid() == 0 ? st.st_gid : (gid_t)-1;
		mode = st.st_mode & 07777;
	} else
		userdb_new_owner(&uid, &gid, &mode);
	tmp = xasprintf("%s.tmp-%ld", file, (long)getpid());
	/* A leftover of an earlier run with our pid: the lock is ours now. */
	(void)unlink(tmp);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, USERDB_NEW_MODE)) == -1) {
		*error_r = error_fmt("create %s: %m", tmp);
		free(tmp);
		return -1;
	}
	if ((uid != (uid_t)-1 || gid != (gid_t)-1) &&
	    fchown(fd, uid, gid) == -1) {
		*error_r = error_fmt("chown %s: %m", tmp);
		goto fail;
	}
	if (fchmod(fd, mode) == -1) {
		*error_r = error_fmt("chmod %s: %m", tmp);
		goto fail;
	}
	if (file_write_all(fd, data, len) == -1) {
		*error_r = error_fmt("write %s: %m", tmp);
		goto fail;
	}
	if (file_commit(fd, tmp, file, error_r) == -1) {
		(void)close(fd);
		free(tmp);
		return -1;
	}
	ret = 0;
	(void)close(fd);
	free(tmp);
	return ret;
fail:
	(void)close(fd);
	(void)unlink(tmp);
	free(tmp);
	return -1;
}

/* Takes FILE.lock, blocking until another postctl is done. */
static int
userdb_lock(const char *file, const char **error_r)
{
	char	*path;
	int	 fd;

	path = xasprintf("%s.lock", file);
	if ((fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
	    0600)) == -1) {
		*error_r = error_fmt("open %s: %m", path);
		free(path);
		return -1;
	}
	while (flock(fd, LOCK_EX) == -1) {
		if (errno == EINTR)
			continue;
		*error_r = error_fmt("lock %s: %m", path);
		(void)close(fd);
		free(path);
		return -1;
	}
	free(path);
	return fd;
}

long
userdb_rewrite(const char *name, userdb_edit_fn *edit, void *ctx,
    const struct userdb_user *add, const char **error_r)
{
	struct userdb_walk w;
	struct table_source src;
	struct buf out;
	const char *type;
	char	*file, *data = NULL, *line;
	size_t	 len = 0;
	bool	 exists;
	long	 ret = -1;
	int	 lock_fd;

	if (table_parse_name(name, userdb_default_type(), &type, &file,
	    error_r) == -1)
		return -1;
	if ((lock_fd = userdb_lock(file, error_r)) == -1) {
		free(file);
		return -1;
	}
	buf_init(&out, 4096, USERDB_FILE_MAX);
	memset(&src, 0, sizeof(src));
	memset(&w, 0, sizeof(w));
	w.file = file;
	w.edit = edit;
	w.ctx = ctx;
	w.add = add;
	w.out = &out;
	if (userdb_read_file(file, &data, &len, &exists, error_r) == -1 ||
	    userdb_lines(file, data, len, userdb_walk_line, &w, error_r) == -1)
		goto out;
	if (add != NULL) {
		line = userdb_format_line(add);
		if (buf_append_str(&out, line) == -1 ||
		    buf_append_byte(&out, '\n') == -1) {
			*error_r = error_fmt("%s: would grow past %zu bytes",
			    file, (size_t)USERDB_FILE_MAX);
			free(line);
			goto out;
		}
		free(line);
	}
	if (w.changed == 0 && add == NULL) {
		ret = 0;		/* nothing to write */
		goto out;
	}
	/* Check the new text whole before it replaces the old. */
	if (userdb_parse_text(file, out.data, out.len, &src, error_r) == -1 ||
	    userdb_write_file(file, exists, out.data, out.len, error_r) == -1 ||
	    table_build_entries(name, userdb_default_type(), &src, out.len,
	    error_r) == -1)
		goto out;
	ret = w.changed;
out:
	table_source_deinit(&src);
	explicit_bzero(out.data, out.len);
	buf_deinit(&out);
	if (data != NULL) {
		explicit_bzero(data, len);
		free(data);
	}
	(void)close(lock_fd);		/* releases the lock */
	free(file);
	return ret;
}
