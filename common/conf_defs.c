/* SPDX-License-Identifier: ISC */
/*
 * The defaults table (STYLE R22), built from conf_defs.def with X-macros:
 * conf_defs[] for global names, conf_svc_defs[] for SERVICE.setting and
 * conf_builtin_services[] for the built-in services.  Each row keeps its
 * default, range and description as text; conf.c parses the defaults with
 * the same code as the file, so a bad default is a parse error that the
 * unit tests catch.  Nothing here is computed at run time.
 */
#include "config.h"

#include <stddef.h>

#include "conf.h"

#include "banned.h"

/* Set by Makefile.am; builds outside it (fuzz targets) get the usual place. */
#ifndef POSTERN_DAEMON_DIR
#define POSTERN_DAEMON_DIR	"/usr/local/libexec/postern"
#endif

#define CONF_ROW(n, t, d, lo, hi, desc, type)				\
	{ #n, t, d, lo, hi, desc, offsetof(type, n) },

#define CONF_STR(n, d, desc)						\
	CONF_ROW(n, CONF_T_STR, d, NULL, NULL, desc, struct postern_config)
#define CONF_PATH(n, d, desc)						\
	CONF_ROW(n, CONF_T_PATH, d, NULL, NULL, desc, struct postern_config)
#define CONF_BOOL(n, d, desc)						\
	CONF_ROW(n, CONF_T_BOOL, d, NULL, NULL, desc, struct postern_config)
#define CONF_UINT(n, d, lo, hi, desc)					\
	CONF_ROW(n, CONF_T_UINT, d, lo, hi, desc, struct postern_config)
#define CONF_SIZE(n, d, lo, hi, desc)					\
	CONF_ROW(n, CONF_T_SIZE, d, lo, hi, desc, struct postern_config)
#define CONF_TIME(n, d, lo, hi, desc)					\
	CONF_ROW(n, CONF_T_TIME, d, lo, hi, desc, struct postern_config)
#define CONF_LIST(n, d, desc)						\
	CONF_ROW(n, CONF_T_LIST, d, NULL, NULL, desc, struct postern_config)
const struct conf_def conf_defs[] = {
#include "conf_defs.def"
};
const size_t conf_ndefs = N_ELEMENTS(conf_defs);

#define CONF_SVC_STR(n, d, desc)					\
	CONF_ROW(n, CONF_T_STR, d, NULL, NULL, desc, struct conf_service)
#define CONF_SVC_PATH(n, d, desc)					\
	CONF_ROW(n, CONF_T_PATH, d, NULL, NULL, desc, struct conf_service)
#define CONF_SVC_BOOL(n, d, desc)					\
	CONF_ROW(n, CONF_T_BOOL, d, NULL, NULL, desc, struct conf_service)
#define CONF_SVC_UINT(n, d, lo, hi, desc)				\
	CONF_ROW(n, CONF_T_UINT, d, lo, hi, desc, struct conf_service)
#define CONF_SVC_TIME(n, d, lo, hi, desc)				\
	CONF_ROW(n, CONF_T_TIME, d, lo, hi, desc, struct conf_service)
#define CONF_SVC_LIST(n, d, desc)					\
	CONF_ROW(n, CONF_T_LIST, d, NULL, NULL, desc, struct conf_service)
const struct conf_def conf_svc_defs[] = {
#include "conf_defs.def"
};
const size_t conf_nsvc_defs = N_ELEMENTS(conf_svc_defs);

/*
 * The table may have no CONF_SERVICE row yet, and C has no empty arrays:
 * a NULL row ends the list and is not counted.
 */
#define CONF_SERVICE(n, desc, settings)	{ n, desc, settings },
const struct conf_builtin_service conf_builtin_services[] = {
#include "conf_defs.def"
	{ NULL, NULL, NULL }
};
const size_t conf_nbuiltin_services = N_ELEMENTS(conf_builtin_services) - 1;
