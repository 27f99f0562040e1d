/* SPDX-License-Identifier: ISC */
/*
 * The postern.conf parser (conf.h, DESIGN.md "Configuration").  The file
 * is split into physical lines (LF, an optional CR before it ignored);
 * blank and comment lines are dropped, indented lines are joined to the
 * setting they continue, and each "name = value" is checked against the
 * defaults table (conf_defs.def) and stored at the row's offset in struct
 * postern_config or struct conf_service.
 *
 * The parser trusts nothing in the text: every line is bounded
 * (CONF_MAX_LINE_LENGTH), NUL and control bytes are errors, values are
 * shown in messages escaped and cut, and the number of services is capped
 * (CONF_MAX_SERVICES) so a hostile file costs bounded memory and time.
 * It never stops at the first problem: every one is collected with its
 * line (up to CONF_MAX_ERRORS), and a configuration is returned only when
 * there is none.
 *
 * Defaults, built-in services and the file all go through conf_set(), so
 * a default that the parser would reject is caught the first time any
 * program (or the unit test) loads the defaults.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cidr.h"
#include "passwd.h"
#include "conf.h"
#include "error.h"
#include "file.h"
#include "log.h"
#include "net.h"
#include "str.h"
#include "xmalloc.h"

#include "banned.h"

const struct postern_config *cfg = NULL;

/* A value shown in a message: at most CONF_SHOW_LEN bytes, each escaped. */
#define CONF_SHOW_LEN	64
#define CONF_SHOW_SIZE	(CONF_SHOW_LEN * 4 + sizeof("..."))

#define CONF_WEEK	(7 * 24 * 60 * 60)
#define CONF_DAY	(24 * 60 * 60)
#define CONF_HOUR	(60 * 60)
#define CONF_MINUTE	60
#define CONF_KIB	((uint64_t)1024)
#define CONF_MIB	(CONF_KIB * 1024)
#define CONF_GIB	(CONF_MIB * 1024)

struct conf_err {
	unsigned int	 line;		/* 0: about the file as a whole */
	size_t		 seq;		/* keeps the sort stable */
	char		*text;
};

/* Everything a parse needs besides the configuration it builds. */
struct conf_parser {
	struct postern_config	*c;
	const char		*file;		/* names the text in errors */
	struct conf_err		*errs;		/* at most CONF_MAX_ERRORS */
	size_t			 nerrs;
	size_t			 nleft_out;	/* problems past the maximum */
	unsigned int		*glines;	/* per conf_defs row: line, 0 */
	unsigned int		**slines;	/* per service, per svc row */
	unsigned int		*sfirst;	/* per service: first line */
	size_t			 nalloc;	/* services, slines, sfirst */
	size_t			 norigins_alloc;
};

static void	conf_error(struct conf_parser *, unsigned int, const char *,
		    ...) ATTR_PRINTF(3, 4);

/*
 * Copies s into dst (CONF_SHOW_SIZE bytes) for a message: bytes outside
 * printable ASCII and the backslash become \ooo, and the text is cut
 * after CONF_SHOW_LEN bytes with "..." appended.
 */
static const char *
conf_show(const char *s, char *dst)
{
	size_t	 i, n = 0;

	for (i = 0; s[i] != '\0' && i < CONF_SHOW_LEN; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch < 0x20 || ch > 0x7e || ch == '\\') {
			dst[n++] = '\\';
			dst[n++] = (char)('0' + (ch >> 6));
			dst[n++] = (char)('0' + ((ch >> 3) & 7));
			dst[n++] = (char)('0' + (ch & 7));
		} else
			dst[n++] = (char)ch;
	}
	if (s[i] != '\0') {
		memcpy(dst + n, "...", 3);
		n += 3;
	}
	dst[n] = '\0';
	return dst;
}

static bool
conf_is_space(char ch)
{
	return ch == ' ' || ch == '\t';
}

/* Narrows [*sp, *ep) to leave out leading and trailing blanks. */
static void
conf_trim(const char **sp, const char **ep)
{
	const char *s = *sp, *e = *ep;

	while (s < e && conf_is_space(*s))
		s++;
	while (e > s && conf_is_space(e[-1]))
		e--;
	*sp = s;
	*ep = e;
}

/* A global name or a service's setting name: [a-z0-9_]+. */
static bool
conf_name_valid(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++) {
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
		    *s == '_'))
			return false;
	}
	return true;
}

bool
conf_service_name_valid(const char *name)
{
	size_t	 i;

	for (i = 0; name[i] != '\0'; i++) {
		if (i >= CONF_SERVICE_NAME_MAX)
			return false;
		if (!((name[i] >= 'a' && name[i] <= 'z') ||
		    (name[i] >= '0' && name[i] <= '9') || name[i] == '-'))
			return false;
	}
	return i > 0;
}

/* ---- Value parsers (public) ---------------------------------------- */

int
conf_parse_bool(const char *s, bool *val_r, const char **error_r)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };
	char	 shown[CONF_SHOW_SIZE];
	size_t	 i;

	for (i = 0; i < N_ELEMENTS(yes); i++) {
		if (str_eq_icase(s, yes[i])) {
			*val_r = true;
			return 0;
		}
		if (str_eq_icase(s, no[i])) {
			*val_r = false;
			return 0;
		}
	}
	*error_r = error_fmt("\"%s\" is not yes or no", conf_show(s, shown));
	return -1;
}

/*
 * The number in s followed by at most one unit letter, each unit being
 * worth the matching mults[] entry.  what names the kind of value.
 */
static int
conf_parse_unit(const char *s, uint64_t max, const char *units,
    const uint64_t *mults, const char *what, const char *unit_name,
    uint64_t *val_r, const char **error_r)
{
	char		 shown[CONF_SHOW_SIZE];
	const char	*u;
	uint64_t	 v, mult = 1;
	size_t		 digits;

	for (digits = 0; s[digits] >= '0' && s[digits] <= '9'; digits++)
		;
	if (digits == 0 || (s[digits] != '\0' && s[digits + 1] != '\0'))
		goto bad;
	if (s[digits] != '\0') {
		if ((u = strchr(units, s[digits])) == NULL)
			goto bad;
		mult = mults[u - units];
	}
	if (parse_u64_n(s, digits, UINT64_MAX, &v) == -1 || v > max / mult) {
		if (max == UINT64_MAX)
			*error_r = error_fmt("\"%s\" is too large",
			    conf_show(s, shown));
		else
			*error_r = error_fmt("\"%s\" is above the maximum of "
			    "%ju %s", conf_show(s, shown), (uintmax_t)max,
			    unit_name);
		return -1;
	}
	*val_r = v * mult;
	return 0;
bad:
	*error_r = error_fmt("\"%s\" is not %s", conf_show(s, shown), what);
	return -1;
}

int
conf_parse_size(const char *s, uint64_t max, uint64_t *val_r,
    const char **error_r)
{
	static const uint64_t mults[] = {
		CONF_KIB, CONF_MIB, CONF_GIB, CONF_KIB, CONF_MIB, CONF_GIB,
	};

	return conf_parse_unit(s, max, "kmgKMG", mults,
	    "a size (a number with an optional k, m or g)", "bytes",
	    val_r, error_r);
}

int
conf_parse_time(const char *s, uint64_t max, uint64_t *val_r,
    const char **error_r)
{
	static const uint64_t mults[] = {
		1, CONF_MINUTE, CONF_HOUR, CONF_DAY, CONF_WEEK,
	};

	return conf_parse_unit(s, max, "smhdw", mults,
	    "a time (a number with an optional s, m, h, d or w)", "seconds",
	    val_r, error_r);
}

static bool
conf_is_list_sep(char ch)
{
	return ch == ',' || ch == ' ' || ch == '\t';
}

char **
conf_parse_list(const char *s)
{
	const char	*p, *start;
	char		**list;
	size_t		 n = 0;

	for (p = s; *p != '\0';) {
		while (conf_is_list_sep(*p))
			p++;
		if (*p == '\0')
			break;
		n++;
		while (*p != '\0' && !conf_is_list_sep(*p))
			p++;
	}
	list = xreallocarray(NULL, n + 1, sizeof(*list));
	n = 0;
	for (p = s; *p != '\0';) {
		while (conf_is_list_sep(*p))
			p++;
		if (*p == '\0')
			break;
		start = p;
		while (*p != '\0' && !conf_is_list_sep(*p))
			p++;
		list[n++] = xstrndup(start, (size_t)(p - start));
	}
	list[n] = NULL;
	return list;
}

void
conf_list_free(char ***listp)
{
	char	**list = *listp;
	size_t	  i;

	if (list == NULL)
		return;
	for (i = 0; list[i] != NULL; i++)
		free(list[i]);
	free(list);
	*listp = NULL;
}

size_t
conf_list_count(char *const *list)
{
	size_t	 n = 0;

	if (list != NULL)
		while (list[n] != NULL)
			n++;
	return n;
}

/* ---- Listen entries ------------------------------------------------ */

static bool
conf_path_has_dotdot(const char *path)
{
	const char *p = path;
	size_t	 n;

	for (;;) {
		p += strspn(p, "/");
		if (*p == '\0')
			return false;
		n = strcspn(p, "/");
		if (n == 2 && p[0] == '.' && p[1] == '.')
			return true;
		p += n;
	}
}

int
conf_listen_parse(const char *entry, struct conf_listen *l_r,
    const char **error_r)
{
	struct sockaddr_storage ss;
	socklen_t	 sslen;
	char		 shown[CONF_SHOW_SIZE], shown2[CONF_SHOW_SIZE];
	const char	*eq, *addr, *p, *error;
	char		*role;

	memset(l_r, 0, sizeof(*l_r));
	if ((eq = strchr(entry, '=')) != NULL) {
		role = xstrndup(entry, (size_t)(eq - entry));
		for (p = role; *p != '\0'; p++) {
			if (!((*p >= 'a' && *p <= 'z') ||
			    (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
				break;
		}
		if (*role == '\0' || *p != '\0') {
			*error_r = error_fmt("\"%s\": role \"%s\" is invalid "
			    "(use a-z, 0-9, _ and -)", conf_show(entry, shown),
			    conf_show(role, shown2));
			free(role);
			return -1;
		}
		addr = eq + 1;
	} else {
		role = xstrdup("");
		addr = entry;
	}
	if (*addr == '\0') {
		*error_r = error_fmt("\"%s\" has no address",
		    conf_show(entry, shown));
		free(role);
		return -1;
	}
	if (*addr == '[' || strchr(addr, ':') != NULL) {
		if (net_parse_inet(addr, &ss, &sslen, &error) == -1) {
			*error_r = error;	/* it shows the address */
			free(role);
			return -1;
		}
		l_r->inet = true;
	} else {
		/* A Unix socket must stay where its path says. */
		if (conf_path_has_dotdot(addr)) {
			*error_r = error_fmt("\"%s\": a socket path must not "
			    "contain \"..\"", conf_show(entry, shown));
			free(role);
			return -1;
		}
		l_r->inet = false;
	}
	l_r->role = role;
	l_r->addr = xstrdup(addr);
	return 0;
}

void
conf_listen_deinit(struct conf_listen *l)
{
	free(l->role);
	free(l->addr);
	l->role = l->addr = NULL;
}

/* ---- The table ----------------------------------------------------- */

static const struct conf_def *
conf_def_lookup(const struct conf_def *defs, size_t ndefs, const char *name,
    size_t *index_r)
{
	size_t	 i;

	for (i = 0; i < ndefs; i++) {
		if (strcmp(defs[i].name, name) == 0) {
			if (index_r != NULL)
				*index_r = i;
			return &defs[i];
		}
	}
	return NULL;
}

const struct conf_def *
conf_def_find(const char *name)
{
	const struct conf_def *d;
	const char	*dot;
	char		*svc;
	bool		 ok;

	if ((dot = strchr(name, '.')) == NULL)
		return conf_def_lookup(conf_defs, conf_ndefs, name, NULL);
	svc = xstrndup(name, (size_t)(dot - name));
	ok = conf_service_name_valid(svc);
	free(svc);
	if (!ok)
		return NULL;
	d = conf_def_lookup(conf_svc_defs, conf_nsvc_defs, dot + 1, NULL);
	return d;
}

static size_t
conf_service_index(const struct postern_config *c, const char *name)
{
	size_t	 i;

	for (i = 0; i < c->nservices; i++)
		if (strcmp(c->services[i].name, name) == 0)
			return i;
	return SIZE_MAX;
}

const struct conf_service *
conf_service_find(const struct postern_config *c, const char *name)
{
	size_t	 i;

	if ((i = conf_service_index(c, name)) == SIZE_MAX)
		return NULL;
	return &c->services[i];
}

unsigned int
conf_origin_line(const struct postern_config *c, const char *name)
{
	size_t	 i;

	for (i = 0; i < c->norigins; i++)
		if (strcmp(c->origins[i].name, name) == 0)
			return c->origins[i].line;
	return 0;
}

/* ---- Storing values ------------------------------------------------ */

/* A number of d's type (UINT, SIZE or TIME) without its range. */
static int
conf_parse_number(const struct conf_def *d, const char *s, uint64_t *val_r,
    const char **error_r)
{
	char	 shown[CONF_SHOW_SIZE];

	switch (d->type) {
	case CONF_T_UINT:
		if (*s == '\0' || s[strspn(s, "0123456789")] != '\0') {
			*error_r = error_fmt("\"%s\" is not a number",
			    conf_show(s, shown));
			return -1;
		}
		/* All digits: too many of them is above any maximum. */
		if (parse_u64(s, UINT64_MAX, val_r) == -1)
			*val_r = UINT64_MAX;
		return 0;
	case CONF_T_SIZE:
		return conf_parse_size(s, UINT64_MAX, val_r, error_r);
	case CONF_T_TIME:
		return conf_parse_time(s, UINT64_MAX, val_r, error_r);
	default:
		log_panic("conf_parse_number: type %d", (int)d->type);
	}
}

/* The range of a numeric row, from its text; UINT and TIME fit unsigned. */
static int
conf_def_range(const struct conf_def *d, uint64_t *lo_r, uint64_t *hi_r,
    const char **error_r)
{
	uint64_t top = d->type == CONF_T_SIZE ? UINT64_MAX : UINT_MAX;

	*lo_r = 0;
	*hi_r = top;
	if (d->min != NULL && conf_parse_number(d, d->min, lo_r, error_r) == -1)
		return -1;
	if (d->max != NULL && conf_parse_number(d, d->max, hi_r, error_r) == -1)
		return -1;
	if (*hi_r > top || *lo_r > *hi_r) {
		*error_r = "the table's range is wrong";
		return -1;
	}
	return 0;
}

/*
 * Parses value as row d and stores it in base (a postern_config or a
 * conf_service).  name is the name to show ("x" or "svc.x").  Returns 0,
 * or -1 with *error_r (the field keeps its previous value).
 */
static int
conf_set(void *base, const struct conf_def *d, const char *name,
    const char *value, const char **error_r)
{
	char		 shown[CONF_SHOW_SIZE];
	void		*field = (char *)base + d->offset;
	const char	*error;
	uint64_t	 v, lo, hi;
	bool		 b;

	switch (d->type) {
	case CONF_T_PATH:
		if (value[0] != '/' &&
		    !(value[0] == '\0' && d->def[0] == '\0')) {
			*error_r = error_fmt("\"%s\" must be an absolute path",
			    name);
			return -1;
		}
		free(*(char **)field);
		*(char **)field = xstrdup(value);
		return 0;
	case CONF_T_STR:
		free(*(char **)field);
		*(char **)field = xstrdup(value);
		return 0;
	case CONF_T_BOOL:
		if (conf_parse_bool(value, &b, &error) == -1) {
			*error_r = error_fmt("\"%s\": %s", name, error);
			return -1;
		}
		*(bool *)field = b;
		return 0;
	case CONF_T_UINT:
	case CONF_T_SIZE:
	case CONF_T_TIME:
		if (conf_parse_number(d, value, &v, &error) == -1) {
			*error_r = error_fmt("\"%s\": %s", name, error);
			return -1;
		}
		if (conf_def_range(d, &lo, &hi, &error) == -1) {
			*error_r = error_fmt("\"%s\": %s", name, error);
			return -1;
		}
		if (v < lo) {
			*error_r = error_fmt("\"%s\": %s is below the minimum "
			    "%s", name, conf_show(value, shown), d->min);
			return -1;
		}
		if (v > hi) {
			*error_r = error_fmt("\"%s\": %s is above the maximum "
			    "%s", name, conf_show(value, shown),
			    d->max != NULL ? d->max : "of the type");
			return -1;
		}
		if (d->type == CONF_T_SIZE)
			*(uint64_t *)field = v;
		else
			*(unsigned int *)field = (unsigned int)v;
		return 0;
	case CONF_T_LIST:
		conf_list_free((char ***)field);
		*(char ***)field = conf_parse_list(value);
		return 0;
	}
	log_panic("conf_set: type %d", (int)d->type);
}

/* Frees the STR, PATH and LIST fields of base. */
static void
conf_free_fields(void *base, const struct conf_def *defs, size_t ndefs)
{
	size_t	 i;

	for (i = 0; i < ndefs; i++) {
		void *field = (char *)base + defs[i].offset;

		switch (defs[i].type) {
		case CONF_T_STR:
		case CONF_T_PATH:
			free(*(char **)field);
			*(char **)field = NULL;
			break;
		case CONF_T_LIST:
			conf_list_free((char ***)field);
			break;
		default:
			break;
		}
	}
}

/* ---- Rendering ----------------------------------------------------- */

/* v with the largest unit that divides it exactly ("0" for 0). */
static char *
conf_render_unit(uint64_t v, const char *units, const uint64_t *mults,
    size_t nunits, const char *plain)
{
	size_t	 i;

	if (v == 0)
		return xstrdup("0");
	for (i = 0; i < nunits; i++)
		if (v % mults[i] == 0)
			return xasprintf("%ju%c", (uintmax_t)(v / mults[i]),
			    units[i]);
	return xasprintf("%ju%s", (uintmax_t)v, plain);
}

static char *
conf_render(const void *base, const struct conf_def *d)
{
	static const uint64_t size_mults[] = { CONF_GIB, CONF_MIB, CONF_KIB };
	static const uint64_t time_mults[] = {
		CONF_WEEK, CONF_DAY, CONF_HOUR, CONF_MINUTE,
	};
	const void	*field = (const char *)base + d->offset;
	char *const	*list;
	char		*s, *p;
	size_t		 i, len;

	switch (d->type) {
	case CONF_T_STR:
	case CONF_T_PATH:
		s = *(char *const *)field;
		return xstrdup(s != NULL ? s : "");
	case CONF_T_BOOL:
		return xstrdup(*(const bool *)field ? "yes" : "no");
	case CONF_T_UINT:
		return xasprintf("%u", *(const unsigned int *)field);
	case CONF_T_SIZE:
		return conf_render_unit(*(const uint64_t *)field, "gmk",
		    size_mults, N_ELEMENTS(size_mults), "");
	case CONF_T_TIME:
		return conf_render_unit(*(const unsigned int *)field, "wdhm",
		    time_mults, N_ELEMENTS(time_mults), "s");
	case CONF_T_LIST:
		list = *(char **const *)field;
		/* UNSAFE: the items are strings in memory: no sum overflows. */
		len = 1;
		for (i = 0; list != NULL && list[i] != NULL; i++)
			len += strlen(list[i]) + 2;
		s = p = xmalloc(len);
		for (i = 0; list != NULL && list[i] != NULL; i++) {
			if (i > 0) {
				memcpy(p, ", ", 2);
				p += 2;
			}
			len = strlen(list[i]);
			memcpy(p, list[i], len);
			p += len;
		}
		*p = '\0';
		return s;
	}
	log_panic("conf_render: type %d", (int)d->type);
}

char *
conf_value_str(const struct postern_config *c, const char *name)
{
	const struct conf_def *d;
	const char	*dot;
	char		*svc;
	size_t		 i;

	if ((dot = strchr(name, '.')) == NULL) {
		if ((d = conf_def_lookup(conf_defs, conf_ndefs, name,
		    NULL)) == NULL)
			return NULL;
		return conf_render(c, d);
	}
	if ((d = conf_def_lookup(conf_svc_defs, conf_nsvc_defs, dot + 1,
	    NULL)) == NULL)
		return NULL;
	svc = xstrndup(name, (size_t)(dot - name));
	i = conf_service_index(c, svc);
	free(svc);
	if (i == SIZE_MAX)
		return NULL;
	return conf_render(&c->services[i], d);
}

/* ---- Parsing ------------------------------------------------------- */

static void
conf_error(struct conf_parser *p, unsigned int line, const char *fmt, ...)
{
	char	 text[ERROR_MAX + CONF_SHOW_SIZE];
	va_list	 ap;

	if (p->nerrs >= CONF_MAX_ERRORS) {
		p->nleft_out++;
		return;
	}
	if (p->errs == NULL)
		p->errs = xreallocarray(NULL, CONF_MAX_ERRORS,
		    sizeof(*p->errs));
	va_start(ap, fmt);
	(void)vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	p->errs[p->nerrs].line = line;
	p->errs[p->nerrs].seq = p->nerrs;
	p->errs[p->nerrs].text = xstrdup(text);
	p->nerrs++;
}

static void
conf_origin_add(struct conf_parser *p, const char *name, unsigned int line)
{
	struct postern_config *c = p->c;

	if (c->norigins == p->norigins_alloc) {
		p->norigins_alloc = p->norigins_alloc == 0 ? 32 :
		    p->norigins_alloc * 2;
		c->origins = xreallocarray(c->origins, p->norigins_alloc,
		    sizeof(*c->origins));
	}
	c->origins[c->norigins].name = xstrdup(name);
	c->origins[c->norigins].line = line;
	c->norigins++;
}

/*
 * Appends a service with the CONF_SVC_ defaults; line is where the file
 * first names it (0 for a built-in).  Returns its index.  The caller has
 * checked the name and CONF_MAX_SERVICES.
 */
static size_t
conf_service_add(struct conf_parser *p, const char *name, bool builtin,
    unsigned int line)
{
	struct postern_config *c = p->c;
	struct conf_service *s;
	const char	*error;
	size_t		 i, n = c->nservices;

	if (n == p->nalloc) {
		p->nalloc = p->nalloc == 0 ? 16 : p->nalloc * 2;
		c->services = xreallocarray(c->services, p->nalloc,
		    sizeof(*c->services));
		p->slines = xreallocarray(p->slines, p->nalloc,
		    sizeof(*p->slines));
		p->sfirst = xreallocarray(p->sfirst, p->nalloc,
		    sizeof(*p->sfirst));
	}
	s = &c->services[n];
	memset(s, 0, sizeof(*s));
	s->name = xstrdup(name);
	s->builtin = builtin;
	p->slines[n] = xcalloc(conf_nsvc_defs, sizeof(**p->slines));
	p->sfirst[n] = line;
	c->nservices++;
	for (i = 0; i < conf_nsvc_defs; i++) {
		if (conf_set(s, &conf_svc_defs[i], conf_svc_defs[i].name,
		    conf_svc_defs[i].def, &error) == -1)
			conf_error(p, 0, "bad default: %s", error);
	}
	return n;
}

/* One "setting=value" of built-in service idx, in [s, e). */
static void
conf_builtin_setting(struct conf_parser *p, size_t idx, const char *s,
    const char *e)
{
	const struct conf_service *svc = &p->c->services[idx];
	char		 shown[CONF_SHOW_SIZE];
	const struct conf_def *d;
	const char	*eq, *ns, *ne, *error;
	char		*name, *value, *full;

	conf_trim(&s, &e);
	if (s == e)
		return;
	if ((eq = memchr(s, '=', (size_t)(e - s))) == NULL) {
		conf_error(p, 0, "built-in service \"%s\": a setting has no "
		    "\"=\"", svc->name);
		return;
	}
	ns = s;
	ne = eq;
	conf_trim(&ns, &ne);
	name = xstrndup(ns, (size_t)(ne - ns));
	s = eq + 1;
	conf_trim(&s, &e);
	value = xstrndup(s, (size_t)(e - s));
	full = xasprintf("%s.%s", svc->name, name);
	if ((d = conf_def_lookup(conf_svc_defs, conf_nsvc_defs, name,
	    NULL)) == NULL)
		conf_error(p, 0, "built-in service \"%s\": unknown setting "
		    "\"%s\"", svc->name, conf_show(name, shown));
	else if (conf_set(&p->c->services[idx], d, full, value, &error) == -1)
		conf_error(p, 0, "built-in service \"%s\": %s", svc->name,
		    error);
	free(full);
	free(value);
	free(name);
}

/* Creates a built-in service and applies its "k=v;k=v" overrides. */
static void
conf_builtin(struct conf_parser *p, const struct conf_builtin_service *b)
{
	char		 shown[CONF_SHOW_SIZE];
	const char	*item, *end;
	size_t		 idx;

	if (!conf_service_name_valid(b->name)) {
		conf_error(p, 0, "built-in service name \"%s\" is invalid",
		    conf_show(b->name, shown));
		return;
	}
	if (conf_service_index(p->c, b->name) != SIZE_MAX) {
		conf_error(p, 0, "built-in service \"%s\" is listed twice",
		    b->name);
		return;
	}
	idx = conf_service_add(p, b->name, true, 0);
	for (item = b->settings != NULL ? b->settings : "";; item = end + 1) {
		end = item + strcspn(item, ";");
		conf_builtin_setting(p, idx, item, end);
		if (*end == '\0')
			break;
	}
}

/* Applies one "name = value" of the file that starts at line. */
static void
conf_setting(struct conf_parser *p, unsigned int line, const char *name,
    const char *value)
{
	struct postern_config *c = p->c;
	char		 shown[CONF_SHOW_SIZE];
	const struct conf_def *d;
	const char	*dot, *error;
	char		*svc = NULL;
	size_t		 i, idx;

	if (*name == '\0') {
		conf_error(p, line, "line has no name before \"=\"");
		return;
	}
	if ((dot = strchr(name, '.')) == NULL) {
		if (!conf_name_valid(name)) {
			conf_error(p, line, "name \"%s\" is invalid (use a-z, "
			    "0-9 and _)", conf_show(name, shown));
			return;
		}
		if ((d = conf_def_lookup(conf_defs, conf_ndefs, name,
		    &i)) == NULL) {
			conf_error(p, line, "unknown name \"%s\"",
			    conf_show(name, shown));
			return;
		}
		if (p->glines[i] != 0) {
			conf_error(p, line, "\"%s\" is set twice (first on "
			    "line %u)", name, p->glines[i]);
			return;
		}
		p->glines[i] = line;
		conf_origin_add(p, name, line);
		if (conf_set(c, d, name, value, &error) == -1)
			conf_error(p, line, "%s", error);
		return;
	}

	svc = xstrndup(name, (size_t)(dot - name));
	if (!conf_service_name_valid(svc)) {
		conf_error(p, line, "service name \"%s\" is invalid",
		    conf_show(svc, shown));
		goto out;
	}
	if ((d = conf_def_lookup(conf_svc_defs, conf_nsvc_defs, dot + 1,
	    &i)) == NULL) {
		conf_error(p, line, "unknown service setting \"%s\"",
		    conf_show(name, shown));
		goto out;
	}
	if ((idx = conf_service_index(c, svc)) == SIZE_MAX) {
		if (c->nservices >= CONF_MAX_SERVICES) {
			conf_error(p, line, "too many services (at most %d)",
			    CONF_MAX_SERVICES);
			goto out;
		}
		idx = conf_service_add(p, svc, false, line);
	}
	if (p->slines[idx][i] != 0) {
		conf_error(p, line, "\"%s\" is set twice (first on line %u)",
		    name, p->slines[idx][i]);
		goto out;
	}
	p->slines[idx][i] = line;
	conf_origin_add(p, name, line);
	if (conf_set(&c->services[idx], d, name, value, &error) == -1)
		conf_error(p, line, "%s", error);
out:
	free(svc);
}

/*
 * Checks one physical line for bytes no setting may hold.  Returns 0, or
 * -1 after reporting the problem.
 */
static int
conf_check_line(struct conf_parser *p, unsigned int lineno, const char *line,
    size_t n, bool comment)
{
	size_t	 i;

	if (n > CONF_MAX_LINE_LENGTH) {
		conf_error(p, lineno, "line is longer than %d bytes",
		    CONF_MAX_LINE_LENGTH);
		return -1;
	}
	if (memchr(line, '\0', n) != NULL) {
		conf_error(p, lineno, "line contains a NUL byte");
		return -1;
	}
	if (comment)
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)line[i];

		if ((ch < 0x20 && ch != '\t') || ch == 0x7f) {
			conf_error(p, lineno, "line contains the control "
			    "character 0x%02x", ch);
			return -1;
		}
	}
	return 0;
}

/*
 * Splits text into logical lines and applies each.  A logical line is a
 * "name = value" line and the indented lines after it (blank and comment
 * lines between them are skipped, as in Postfix's main.cf).  A setting
 * whose lines hold an error is reported once and not applied.
 */
static void
conf_parse_lines(struct conf_parser *p, const char *text, size_t len)
{
	struct buf	 value;
	const char	*line, *nl, *s, *e, *eq, *ns, *ne;
	char		*name = NULL;
	unsigned int	 lineno = 0, start = 0;
	size_t		 pos, next, n;
	bool		 open = false, bad = false, cont, comment, broken;

	buf_init(&value, 0, CONF_MAX_FILE_SIZE);
	for (pos = 0; pos < len; pos = next) {
		line = text + pos;
		lineno++;
		if ((nl = memchr(line, '\n', len - pos)) != NULL) {
			n = (size_t)(nl - line);
			next = pos + n + 1;
		} else {
			n = len - pos;
			next = len;
		}
		if (n > 0 && line[n - 1] == '\r')
			n--;
		s = line;
		e = line + n;
		conf_trim(&s, &e);
		cont = n > 0 && conf_is_space(line[0]);
		comment = s < e && *s == '#';
		broken = conf_check_line(p, lineno, line, n, comment) == -1;
		if (!broken && (s == e || comment))
			continue;
		if (cont) {
			if (broken)
				bad = true;	/* the setting it continues */
			else if (!open)
				conf_error(p, lineno, "continuation line with "
				    "nothing before it");
			else if (!bad && ((value.len > 0 &&
			    buf_append_byte(&value, ' ') == -1) ||
			    buf_append(&value, s, (size_t)(e - s)) == -1)) {
				conf_error(p, start, "value is longer than %d "
				    "bytes", CONF_MAX_FILE_SIZE);
				bad = true;
			}
			continue;
		}

		/* A new setting starts: the previous one is complete. */
		if (open && !bad)
			conf_setting(p, start, name, buf_cstr(&value));
		free(name);
		name = NULL;
		buf_reset(&value);
		open = true;
		start = lineno;
		if ((bad = broken))
			continue;
		if ((eq = memchr(s, '=', (size_t)(e - s))) == NULL) {
			conf_error(p, lineno, "line has no \"=\"");
			bad = true;
			continue;
		}
		ns = s;
		ne = eq;
		conf_trim(&ns, &ne);
		name = xstrndup(ns, (size_t)(ne - ns));
		s = eq + 1;
		conf_trim(&s, &e);
		/* Within the line limit, so within the buffer's. */
		if (buf_append(&value, s, (size_t)(e - s)) == -1)
			log_panic("conf: a line does not fit the value buffer");
	}
	if (open && !bad)
		conf_setting(p, start, name, buf_cstr(&value));
	free(name);
	buf_deinit(&value);
}

/* The line that set a service's setting, or 0. */
static unsigned int
conf_svc_line_set(const struct conf_parser *p, size_t idx,
    const char *setting)
{
	size_t	 i;

	if (conf_def_lookup(conf_svc_defs, conf_nsvc_defs, setting,
	    &i) == NULL)
		log_panic("conf: no service row \"%s\"", setting);
	return p->slines[idx][i];
}

/* The line of a service's setting, else of the service's first setting. */
static unsigned int
conf_svc_line(const struct conf_parser *p, size_t idx, const char *setting)
{
	unsigned int line;

	if ((line = conf_svc_line_set(p, idx, setting)) != 0)
		return line;
	return p->sfirst[idx];
}

static unsigned int
conf_global_line(const struct conf_parser *p, const char *name)
{
	size_t	 i;

	if (conf_def_lookup(conf_defs, conf_ndefs, name, &i) == NULL)
		log_panic("conf: no row \"%s\"", name);
	return p->glines[i];
}

#define CONF_SUN_PATH_SIZE	sizeof(((struct sockaddr_un *)NULL)->sun_path)

/* The listen entries of service idx. */
static void
conf_check_listen(struct conf_parser *p, size_t idx)
{
	const struct conf_service *s = &p->c->services[idx];
	struct conf_listen l;
	char		 shown[CONF_SHOW_SIZE];
	const char	*error;
	unsigned int	 line = conf_svc_line(p, idx, "listen");
	size_t		 i, len;

	for (i = 0; s->listen != NULL && s->listen[i] != NULL; i++) {
		if (conf_listen_parse(s->listen[i], &l, &error) == -1) {
			conf_error(p, line, "\"%s.listen\": %s", s->name,
			    error);
			continue;
		}
		if (!l.inet) {
			/* UNSAFE: lengths of strings in memory. */
			len = strlen(l.addr);
			if (l.addr[0] != '/')
				len += strlen(p->c->queue_directory) + 1;
			if (len >= CONF_SUN_PATH_SIZE)
				conf_error(p, line, "\"%s.listen\": the socket "
				    "path of \"%s\" is longer than %zu bytes "
				    "(with queue_directory)", s->name,
				    conf_show(s->listen[i], shown),
				    CONF_SUN_PATH_SIZE - 1);
		}
		conf_listen_deinit(&l);
	}
}

/*
 * A STR setting that takes one of a few words: choices is NULL-terminated;
 * the error lists them ("reject or normalize").
 */
static void
conf_check_choice(struct conf_parser *p, const char *name, const char *value,
    const char *const *choices)
{
	char	 shown[CONF_SHOW_SIZE], list[256];
	size_t	 i, len = 0;
	int	 n;

	for (i = 0; choices[i] != NULL; i++) {
		if (strcmp(value, choices[i]) == 0)
			return;
	}
	list[0] = '\0';
	for (i = 0; choices[i] != NULL; i++) {
		n = snprintf(list + len, sizeof(list) - len, "%s%s",
		    i == 0 ? "" : choices[i + 1] == NULL ? " or " : ", ",
		    choices[i]);
		if (n < 0 || (size_t)n >= sizeof(list) - len)
			break;
		len += (size_t)n;
	}
	conf_error(p, conf_global_line(p, name), "\"%s\": \"%s\" is not %s",
	    name, conf_show(value, shown), list);
}

/* The checks that involve more than one value or a helper module. */
static void
conf_check(struct conf_parser *p)
{
	const struct postern_config *c = p->c;
	const struct conf_service *s;
	struct cidr	 net;
	char		 shown[CONF_SHOW_SIZE];
	const char	*error;
	unsigned int	 line;
	size_t		 i, j;

	if (!log_target_valid(c->log_target))
		conf_error(p, conf_global_line(p, "log_target"),
		    "\"log_target\": \"%s\" is not syslog, stderr or "
		    "file:/absolute/path", conf_show(c->log_target, shown));
	if (!log_facility_valid(c->syslog_facility))
		conf_error(p, conf_global_line(p, "syslog_facility"),
		    "\"syslog_facility\": \"%s\" is not a syslog facility "
		    "(mail, daemon, user, local0 to local7)",
		    conf_show(c->syslog_facility, shown));
	conf_check_choice(p, "smtpd_bare_newline", c->smtpd_bare_newline,
	    (const char *const[]){ "reject", "normalize", NULL });
	conf_check_choice(p, "imapd_plaintext_login", c->imapd_plaintext_login,
	    (const char *const[]){ "no", "loopback", "yes", NULL });
	conf_check_choice(p, "tls_min_protocol", c->tls_min_protocol,
	    (const char *const[]){ "TLSv1.2", "TLSv1.3", NULL });
	conf_check_choice(p, "smtp_tls_min_protocol", c->smtp_tls_min_protocol,
	    (const char *const[]){ "TLSv1.2", "TLSv1.3", NULL });
	conf_check_choice(p, "smtp_tls_security_level",
	    c->smtp_tls_security_level, (const char *const[]){ "none", "may",
	    "encrypt", "verify", NULL });
	/* passwd.c is the one list of schemes. */
	if (!passwd_scheme_valid(c->authd_password_scheme))
		conf_error(p, conf_global_line(p, "authd_password_scheme"),
		    "\"authd_password_scheme\": \"%s\" is not yescrypt, "
		    "sha512-crypt or bcrypt",
		    conf_show(c->authd_password_scheme, shown));
	conf_check_choice(p, "default_database_type", c->default_database_type,
	    (const char *const[]){ "hash", "lmdb", NULL });
	if ((c->tls_cert_file[0] == '\0') != (c->tls_key_file[0] == '\0'))
		conf_error(p, conf_global_line(p, c->tls_cert_file[0] == '\0' ?
		    "tls_key_file" : "tls_cert_file"),
		    "\"tls_cert_file\" and \"tls_key_file\" go together");
	if (c->mail_owner[0] == '\0')
		conf_error(p, conf_global_line(p, "mail_owner"),
		    "\"mail_owner\" must not be empty");
	/* Below the home folder, whatever the home: the agent checks too. */
	if (c->system_account_maildir[0] == '\0' ||
	    c->system_account_maildir[0] == '/' ||
	    conf_path_has_dotdot(c->system_account_maildir))
		conf_error(p, conf_global_line(p, "system_account_maildir"),
		    "\"system_account_maildir\": \"%s\" is not a relative "
		    "path without \"..\"",
		    conf_show(c->system_account_maildir, shown));
	for (i = 0; c->mynetworks != NULL && c->mynetworks[i] != NULL; i++) {
		if (cidr_parse(c->mynetworks[i], &net, &error) == -1)
			conf_error(p, conf_global_line(p, "mynetworks"),
			    "\"mynetworks\": %s", error);
	}
	if (c->master_backoff_min > c->master_backoff_max) {
		if ((line = conf_global_line(p, "master_backoff_min")) == 0)
			line = conf_global_line(p, "master_backoff_max");
		conf_error(p, line, "\"master_backoff_min\" (%us) is more "
		    "than \"master_backoff_max\" (%us)", c->master_backoff_min,
		    c->master_backoff_max);
	}

	for (i = 0; i < c->nservices; i++) {
		s = &c->services[i];
		if (s->program[0] == '\0')
			conf_error(p, conf_svc_line(p, i, "program"),
			    "service \"%s\" has no program", s->name);
		else if (strchr(s->program, '/') != NULL &&
		    s->program[0] != '/')
			conf_error(p, conf_svc_line(p, i, "program"),
			    "\"%s.program\": \"%s\" must be a name or an "
			    "absolute path", s->name,
			    conf_show(s->program, shown));
		if (strcmp(s->chroot, "no") != 0 &&
		    strcmp(s->chroot, "queue") != 0 &&
		    strcmp(s->chroot, "empty") != 0 &&
		    strcmp(s->chroot, "login") != 0 && s->chroot[0] != '/')
			conf_error(p, conf_svc_line(p, i, "chroot"),
			    "\"%s.chroot\": \"%s\" is not no, queue, empty, "
			    "login or an absolute path", s->name,
			    conf_show(s->chroot, shown));
		conf_check_listen(p, i);
		for (j = 0; s->keep_caps != NULL && s->keep_caps[j] != NULL;
		    j++) {
			if (strcmp(s->keep_caps[j], "setuid") != 0 &&
			    strcmp(s->keep_caps[j], "setgid") != 0)
				conf_error(p, conf_svc_line(p, i, "keep_caps"),
				    "\"%s.keep_caps\": \"%s\" is not setuid or "
				    "setgid", s->name,
				    conf_show(s->keep_caps[j], shown));
		}
		if (s->process_min > s->process_limit) {
			if ((line = conf_svc_line_set(p, i,
			    "process_min")) == 0)
				line = conf_svc_line(p, i, "process_limit");
			conf_error(p, line, "\"%s.process_min\" (%u) is more "
			    "than \"%s.process_limit\" (%u)", s->name,
			    s->process_min, s->name, s->process_limit);
		}
	}
}

static int
conf_err_cmp(const void *a, const void *b)
{
	const struct conf_err *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Moves the parser's problems, in line order, into e. */
static void
conf_errors_take(struct conf_parser *p, struct conf_errors *e)
{
	size_t	 i;

	if (p->nerrs == 0)
		return;
	qsort(p->errs, p->nerrs, sizeof(*p->errs), conf_err_cmp);
	e->lines = xreallocarray(NULL, p->nerrs + 1, sizeof(*e->lines));
	for (i = 0; i < p->nerrs; i++) {
		if (p->errs[i].line == 0)
			e->lines[i] = xasprintf("%s: %s", p->file,
			    p->errs[i].text);
		else
			e->lines[i] = xasprintf("%s:%u: %s", p->file,
			    p->errs[i].line, p->errs[i].text);
		free(p->errs[i].text);
	}
	e->count = p->nerrs;
	if (p->nleft_out > 0)
		e->lines[e->count++] = xasprintf("%s: %zu more problems left "
		    "out", p->file, p->nleft_out);
}

struct postern_config *
conf_parse(const char *dir, const char *file, const char *text, size_t len,
    struct conf_errors *errors_r)
{
	struct conf_parser p;
	struct postern_config *c;
	char		 shown[CONF_SHOW_SIZE];
	const char	*error;
	size_t		 i, dlen;

	memset(errors_r, 0, sizeof(*errors_r));
	memset(&p, 0, sizeof(p));
	p.c = c = xcalloc(1, sizeof(*c));
	p.file = file != NULL ? file : CONF_FILE_NAME;
	p.glines = xcalloc(conf_ndefs, sizeof(*p.glines));

	if (dir == NULL)
		dir = "";
	dlen = strlen(dir);
	while (dlen > 1 && dir[dlen - 1] == '/')
		dlen--;
	c->config_directory = xstrndup(dir, dlen);
	c->config_file = xasprintf("%s/%s", c->config_directory,
	    CONF_FILE_NAME);
	if (dir[0] != '/')
		conf_error(&p, 0, "the configuration folder \"%s\" is not an "
		    "absolute path", conf_show(dir, shown));

	for (i = 0; i < conf_ndefs; i++) {
		if (conf_set(c, &conf_defs[i], conf_defs[i].name,
		    conf_defs[i].def, &error) == -1)
			conf_error(&p, 0, "bad default: %s", error);
	}
	for (i = 0; i < conf_nbuiltin_services; i++)
		conf_builtin(&p, &conf_builtin_services[i]);

	if (len > CONF_MAX_FILE_SIZE)
		conf_error(&p, 0, "file is larger than %d bytes",
		    CONF_MAX_FILE_SIZE);
	else if (len > 0)
		conf_parse_lines(&p, text, len);
	conf_check(&p);

	conf_errors_take(&p, errors_r);
	for (i = 0; i < c->nservices; i++)
		free(p.slines[i]);
	free(p.slines);
	free(p.sfirst);
	free(p.glines);
	free(p.errs);
	if (errors_r->count > 0)
		conf_free(&c);
	return c;
}

struct postern_config *
conf_read(const char *dir, struct conf_errors *errors_r)
{
	struct postern_config *c;
	const char	*error;
	char		*path, *data;
	size_t		 len;

	memset(errors_r, 0, sizeof(*errors_r));
	if (dir == NULL || dir[0] != '/')
		return conf_parse(dir, "postern.conf", "", 0, errors_r);
	path = xasprintf("%s/%s", dir, CONF_FILE_NAME);
	if (file_read_all(path, CONF_MAX_FILE_SIZE, &data, &len,
	    &error) == -1) {
		/* file_read_all() names the file ("open PATH: ..."). */
		errors_r->lines = xreallocarray(NULL, 1, sizeof(char *));
		errors_r->lines[0] = strstr(error, path) != NULL ?
		    xstrdup(error) : xasprintf("%s: %s", path, error);
		errors_r->count = 1;
		free(path);
		return NULL;
	}
	c = conf_parse(dir, path, data, len, errors_r);
	free(data);
	free(path);
	return c;
}

struct postern_config *
conf_defaults(const char *dir)
{
	struct postern_config *c;
	struct conf_errors e;
	size_t		 i;

	if ((c = conf_parse(dir, "(defaults)", "", 0, &e)) == NULL) {
		for (i = 0; i < e.count; i++)
			log_error("%s", e.lines[i]);
	}
	conf_errors_deinit(&e);
	return c;
}

void
conf_free(struct postern_config **cp)
{
	struct postern_config *c = *cp;
	size_t	 i;

	if (c == NULL)
		return;
	conf_free_fields(c, conf_defs, conf_ndefs);
	for (i = 0; i < c->nservices; i++) {
		conf_free_fields(&c->services[i], conf_svc_defs,
		    conf_nsvc_defs);
		free(c->services[i].name);
	}
	free(c->services);
	for (i = 0; i < c->norigins; i++)
		free(c->origins[i].name);
	free(c->origins);
	free(c->config_directory);
	free(c->config_file);
	free(c);
	*cp = NULL;
}

void
conf_errors_deinit(struct conf_errors *e)
{
	size_t	 i;

	for (i = 0; i < e->count; i++)
		free(e->lines[i]);
	free(e->lines);
	e->lines = NULL;
	e->count = 0;
}
