/* SPDX-License-Identifier: ISC */
/*
 * postern.conf (DESIGN.md "Configuration", STYLE R22).
 *
 * Format: "name = value" lines; blank lines and lines whose first
 * non-blank character is "#" are ignored; a line that starts with a space
 * or tab continues the value of the previous line (joined with one space).
 * A name may appear once.  An unknown name is an error.  Every name, type,
 * default, range and description comes from one table, conf_defs.def, that
 * also generates man/postern.conf.5.
 *
 * Service settings are written "SERVICE.setting = value" (for instance
 * "smtpd.process_limit = 20"); the settings a service takes are the
 * CONF_SVC_* rows of conf_defs.def.  The built-in services are the
 * CONF_SERVICE rows; any other SERVICE name declares a new service and
 * must set SERVICE.program.
 *
 * Value types:
 *  STR   any text (may be empty)
 *  PATH  an absolute path, or empty where the default is empty
 *  BOOL  yes/no (also true/false, on/off, 1/0)
 *  UINT  decimal, min..max
 *  SIZE  bytes, with an optional k, m or g suffix (powers of 1024), min..max
 *  TIME  seconds, with an optional s, m, h, d or w suffix, min..max
 *  LIST  items separated by commas and/or white space
 */
#ifndef POSTERN_CONF_H
#define POSTERN_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compat.h"

#define CONF_FILE_NAME		"postern.conf"
#define CONF_MAX_FILE_SIZE	(1024 * 1024)
#define CONF_MAX_ERRORS		100
#define CONF_MAX_LINE_LENGTH	(64 * 1024)	/* a line, its LF excluded */
#define CONF_MAX_SERVICES	1000		/* built-in and declared */

/* A name set in the file and the line that set it (postctl config -n). */
struct conf_origin {
	char		*name;		/* "name" or "SERVICE.setting" */
	unsigned int	 line;
};

/* One service of the master's table (built in or declared in the file). */
struct conf_service {
	char	*name;		/* [a-z0-9-], at most CONF_SERVICE_NAME_MAX */
	bool	 builtin;
#define CONF_SVC_STR(n, d, desc)		char *n;
#define CONF_SVC_PATH(n, d, desc)		char *n;
#define CONF_SVC_BOOL(n, d, desc)		bool n;
#define CONF_SVC_UINT(n, d, lo, hi, desc)	unsigned int n;
#define CONF_SVC_TIME(n, d, lo, hi, desc)	unsigned int n;
#define CONF_SVC_LIST(n, d, desc)		char **n;
#include "conf_defs.def"
};
#define CONF_SERVICE_NAME_MAX	32

struct postern_config {
	char	*config_directory;	/* from -c, absolute */
	char	*config_file;		/* config_directory/postern.conf */
#define CONF_STR(n, d, desc)			char *n;
#define CONF_PATH(n, d, desc)			char *n;
#define CONF_BOOL(n, d, desc)			bool n;
#define CONF_UINT(n, d, lo, hi, desc)		unsigned int n;
#define CONF_SIZE(n, d, lo, hi, desc)		uint64_t n;
#define CONF_TIME(n, d, lo, hi, desc)		unsigned int n;
#define CONF_LIST(n, d, desc)			char **n;
#include "conf_defs.def"
	struct conf_service *services;	/* built-ins first, then declared */
	size_t	 nservices;
	struct conf_origin *origins;	/* names set in the file, file order */
	size_t	 norigins;
};

/* The one configuration of this process (STYLE R14); set at start. */
extern const struct postern_config *cfg;

enum conf_type {
	CONF_T_STR, CONF_T_PATH, CONF_T_BOOL, CONF_T_UINT, CONF_T_SIZE,
	CONF_T_TIME, CONF_T_LIST,
};

/* One row of the defaults table (global or per-service setting). */
struct conf_def {
	const char	*name;
	enum conf_type	 type;
	const char	*def;		/* default, as text */
	const char	*min;		/* UINT/SIZE/TIME: as text; else NULL */
	const char	*max;
	const char	*desc;		/* one line */
	size_t		 offset;	/* into postern_config / conf_service */
};
extern const struct conf_def conf_defs[];		/* global names */
extern const size_t conf_ndefs;
extern const struct conf_def conf_svc_defs[];		/* SERVICE.setting */
extern const size_t conf_nsvc_defs;

/* One built-in service: its name and the overrides of the CONF_SVC_ defaults. */
struct conf_builtin_service {
	const char	*name;
	const char	*desc;
	const char	*settings;	/* "setting=value;setting=value" */
};
extern const struct conf_builtin_service conf_builtin_services[];
extern const size_t conf_nbuiltin_services;

/* Problems found while reading: every one, each with file and line. */
struct conf_errors {
	char	**lines;	/* "FILE:LINE: text" or "FILE: text" */
	size_t	  count;
};

/*
 * Reads DIR/postern.conf (dir must be absolute; a missing file is an
 * error).  Returns a configuration with every default applied, or NULL
 * with every problem in errors_r (at most CONF_MAX_ERRORS, then one line
 * saying more were left out).  errors_r is always initialised; free it
 * with conf_errors_deinit().
 */
struct postern_config *conf_read(const char *dir, struct conf_errors *errors_r);
/* The same from text in memory; file names the text in the errors. */
struct postern_config *conf_parse(const char *dir, const char *file,
	    const char *text, size_t len, struct conf_errors *errors_r);
/* A configuration that holds only the defaults. */
struct postern_config *conf_defaults(const char *dir);
void	conf_free(struct postern_config **cp);
void	conf_errors_deinit(struct conf_errors *e);

/* The service named name, or NULL. */
const struct conf_service *conf_service_find(const struct postern_config *c,
	    const char *name);

/*
 * For postctl config: the value of a global name or "SERVICE.setting" in
 * c, as text in the config syntax (caller frees).  Returns NULL for an
 * unknown name.
 */
char	*conf_value_str(const struct postern_config *c, const char *name);
/* The defaults-table row of a name (global or "SERVICE.setting"), or NULL. */
const struct conf_def *conf_def_find(const char *name);
/*
 * The line of the file that set name (global or "SERVICE.setting"), or 0
 * when the file does not set it (a default or a built-in value).
 */
unsigned int conf_origin_line(const struct postern_config *c, const char *name);
/* True when name is a service name: [a-z0-9-]{1,CONF_SERVICE_NAME_MAX}. */
bool	conf_service_name_valid(const char *name);

/*
 * One entry of a service's listen list (conf_defs.def): "[role=]HOST:PORT",
 * "[role=][V6]:PORT" (TCP: inet is true and addr is the text for
 * net_parse_inet()) or "[role=]PATH" (a Unix socket: addr is the path as
 * written, relative to queue_directory unless absolute).  role is "" when
 * the entry names none.  conf_parse() has already checked every entry of
 * a configuration it returns.
 */
struct conf_listen {
	char	*role;
	bool	 inet;
	char	*addr;
};
/* Returns 0 (free l_r with conf_listen_deinit), or -1 with *error_r. */
int	conf_listen_parse(const char *entry, struct conf_listen *l_r,
	    const char **error_r) ATTR_WUR;
void	conf_listen_deinit(struct conf_listen *l);

/*
 * Parsers of one value of each type (also used by other modules for their
 * own values).  Each returns 0, or -1 with *error_r.
 */
int	conf_parse_bool(const char *s, bool *val_r, const char **error_r) ATTR_WUR;
int	conf_parse_size(const char *s, uint64_t max, uint64_t *val_r,
	    const char **error_r) ATTR_WUR;
int	conf_parse_time(const char *s, uint64_t max, uint64_t *val_r,
	    const char **error_r) ATTR_WUR;
/* Splits a LIST value into a NULL-terminated array (free with conf_list_free). */
char	**conf_parse_list(const char *s);
void	conf_list_free(char ***listp);
size_t	conf_list_count(char *const *list);

#endif
