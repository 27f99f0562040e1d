/* SPDX-License-Identifier: ISC */
/*
 * postctl check and postctl config (postctl.h, man/postctl.8).
 *
 * "check" reads the configuration with conf_read(), which already finds
 * every syntax, type, range and cross-setting problem, and then looks at
 * what the configuration names on this machine: the programs it runs,
 * the users it runs them as, the folders, the listen addresses (two
 * listeners on one address would stop the master at bind time) and the
 * log file's folder.  Every problem is printed; nothing stops at the
 * first.  "check" only reads: it creates, opens for writing and binds
 * nothing.
 *
 * "config" prints settings in the syntax of the file, in the manner of
 * Postfix's postconf: all of them, only those the file sets (-n), the
 * defaults (-d), or the names given.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/conf.h"
#include "common/net.h"
#include "common/priv.h"
#include "common/xmalloc.h"
#include "postctl.h"

#include "common/banned.h"

/* The state of one "postctl check". */
struct check {
	const struct postern_config *c;
	unsigned int	 nproblems;
};

/* One listening socket of an enabled service. */
struct check_listener {
	const char	*service;
	const char	*entry;		/* as written */
	bool		 inet;
	struct sockaddr_storage ss;	/* inet */
	char		*path;		/* Unix: the absolute path */
};

static void	check_problem(struct check *, const char *, const char *, ...)
		    ATTR_PRINTF(3, 4);

/*
 * Prints one problem.  name is the setting it is about ("x" or "svc.x"):
 * when the file sets it, the problem is given the file and line.
 */
static void
check_problem(struct check *k, const char *name, const char *fmt, ...)
{
	unsigned int line = 0;
	va_list	 ap;

	if (name != NULL)
		line = conf_origin_line(k->c, name);
	if (line != 0)
		fprintf(stderr, "postctl: %s:%u: ", k->c->config_file, line);
	else
		fputs("postctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	k->nproblems++;
}

/* A folder that exists must be a folder, not a symbolic link. */
static void
check_folder(struct check *k, const char *name, const char *path,
    bool must_exist)
{
	struct stat st;

	if (path == NULL || path[0] == '\0')
		return;
	if (lstat(path, &st) == -1) {
		if (errno != ENOENT)
			check_problem(k, name, "%s %s: %s", name, path,
			    strerror(errno));
		else if (must_exist)
			check_problem(k, name, "%s %s does not exist", name,
			    path);
		return;
	}
	if (S_ISLNK(st.st_mode))
		check_problem(k, name, "%s %s is a symbolic link", name, path);
	else if (!S_ISDIR(st.st_mode))
		check_problem(k, name, "%s %s is not a folder", name, path);
}

/*
 * A file a setting names must exist and be a regular file (a symbolic link
 * to one is fine: certificates often are); a private key must not be
 * readable by others.
 */
static void
check_file(struct check *k, const char *name, const char *path)
{
	struct stat st;

	if (path == NULL || path[0] == '\0')
		return;
	if (stat(path, &st) == -1) {
		check_problem(k, name, "%s %s: %s", name, path,
		    strerror(errno));
		return;
	}
	if (!S_ISREG(st.st_mode))
		check_problem(k, name, "%s %s is not a regular file", name,
		    path);
	else if (strstr(name, "key") != NULL && (st.st_mode & S_IROTH) != 0)
		check_problem(k, name, "%s %s is readable by every user", name,
		    path);
}

static bool
check_name_ends(const char *name, const char *suffix)
{
	size_t n = strlen(name), m = strlen(suffix);

	return n >= m && strcmp(name + n - m, suffix) == 0;
}

static void
check_folders(struct check *k)
{
	const struct conf_service *s;
	size_t	 i;
	char	*name;

	/* PATH settings name folders (*_directory) or files (*_file). */
	for (i = 0; i < conf_ndefs; i++) {
		const char *path;

		if (conf_defs[i].type != CONF_T_PATH)
			continue;
		path = *(char *const *)((const char *)k->c +
		    conf_defs[i].offset);
		if (check_name_ends(conf_defs[i].name, "_file"))
			check_file(k, conf_defs[i].name, path);
		else
			check_folder(k, conf_defs[i].name, path, false);
	}
	/* An absolute chroot is not created by the master: it must exist. */
	for (i = 0; i < k->c->nservices; i++) {
		s = &k->c->services[i];
		if (!s->enable || s->chroot[0] != '/')
			continue;
		name = xasprintf("%s.chroot", s->name);
		check_folder(k, name, s->chroot, true);
		free(name);
	}
}

static void
check_programs(struct check *k)
{
	const struct conf_service *s;
	struct stat st;
	char	*path, *name;
	size_t	 i;

	for (i = 0; i < k->c->nservices; i++) {
		s = &k->c->services[i];
		if (!s->enable)
			continue;
		if (strchr(s->program, '/') != NULL)
			path = xstrdup(s->program);
		else
			path = xasprintf("%s/%s", k->c->daemon_directory,
			    s->program);
		name = xasprintf("%s.program", s->name);
		if (stat(path, &st) == -1)
			check_problem(k, name, "service \"%s\": program %s: %s",
			    s->name, path, strerror(errno));
		else if (!S_ISREG(st.st_mode))
			check_problem(k, name, "service \"%s\": program %s is "
			    "not a regular file", s->name, path);
		else if (access(path, X_OK) == -1)
			check_problem(k, name, "service \"%s\": program %s "
			    "cannot be run: %s", s->name, path,
			    strerror(errno));
		free(name);
		free(path);
	}
}

static void
check_user(struct check *k, const char *name, const char *user)
{
	const char *error;
	uid_t	 uid;
	gid_t	 gid;

	switch (priv_lookup_user(user, &uid, &gid, &error)) {
	case 1:
		break;
	case 0:
		check_problem(k, name, "%s: no user \"%s\"", name, user);
		break;
	default:
		check_problem(k, name, "%s: cannot look up user \"%s\": %s",
		    name, user, error);
		break;
	}
}

/*
 * Users matter only when postern runs as root: otherwise every process
 * runs as the user who started it (DESIGN.md).
 */
static void
check_users(struct check *k)
{
	const struct conf_service *s;
	char	*name;
	size_t	 i;

	if (!priv_is_root())
		return;
	check_user(k, "mail_owner", k->c->mail_owner);
	for (i = 0; i < k->c->nservices; i++) {
		s = &k->c->services[i];
		if (!s->enable || s->user[0] == '\0' ||
		    strcmp(s->user, k->c->mail_owner) == 0)
			continue;
		name = xasprintf("%s.user", s->name);
		check_user(k, name, s->user);
		free(name);
	}
}

static bool
check_inet_any(const struct sockaddr_storage *ss)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;

	if (ss->ss_family == AF_INET)
		return sin->sin_addr.s_addr == htonl(INADDR_ANY);
	return IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr);
}

/*
 * Whether two listeners cannot both be bound: the same Unix path, or the
 * same family and port with the same address or a wildcard on either
 * side (Linux refuses those even with SO_REUSEADDR).  IPv4 and IPv6 do
 * not collide: the master binds IPv6 sockets IPV6_V6ONLY.
 */
static bool
check_listeners_clash(const struct check_listener *a,
    const struct check_listener *b)
{
	const struct sockaddr_in *a4, *b4;
	const struct sockaddr_in6 *a6, *b6;

	if (a->inet != b->inet)
		return false;
	if (!a->inet)
		return strcmp(a->path, b->path) == 0;
	if (a->ss.ss_family != b->ss.ss_family)
		return false;
	if (a->ss.ss_family == AF_INET) {
		a4 = (const struct sockaddr_in *)&a->ss;
		b4 = (const struct sockaddr_in *)&b->ss;
		if (a4->sin_port != b4->sin_port)
			return false;
		return check_inet_any(&a->ss) || check_inet_any(&b->ss) ||
		    a4->sin_addr.s_addr == b4->sin_addr.s_addr;
	}
	a6 = (const struct sockaddr_in6 *)&a->ss;
	b6 = (const struct sockaddr_in6 *)&b->ss;
	if (a6->sin6_port != b6->sin6_port)
		return false;
	return check_inet_any(&a->ss) || check_inet_any(&b->ss) ||
	    memcmp(&a6->sin6_addr, &b6->sin6_addr, sizeof(a6->sin6_addr)) == 0;
}

static void
check_listen(struct check *k)
{
	const struct conf_service *s;
	struct check_listener *ls = NULL, *l;
	struct conf_listen cl;
	socklen_t	 sslen;
	const char	*error;
	char		*name;
	size_t		 i, j, n = 0, nalloc = 0;

	for (i = 0; i < k->c->nservices; i++) {
		s = &k->c->services[i];
		if (!s->enable)
			continue;
		name = xasprintf("%s.listen", s->name);
		for (j = 0; s->listen[j] != NULL; j++) {
			if (conf_listen_parse(s->listen[j], &cl,
			    &error) == -1) {
				check_problem(k, name, "\"%s\": %s", name,
				    error);
				continue;
			}
			if (n == nalloc) {
				nalloc = nalloc == 0 ? 16 : nalloc * 2;
				ls = xreallocarray(ls, nalloc, sizeof(*ls));
			}
			l = &ls[n];
			memset(l, 0, sizeof(*l));
			l->service = s->name;
			l->entry = s->listen[j];
			l->inet = cl.inet;
			if (cl.inet) {
				if (net_parse_inet(cl.addr, &l->ss, &sslen,
				    &error) == -1) {
					check_problem(k, name, "\"%s\": %s",
					    name, error);
					conf_listen_deinit(&cl);
					continue;
				}
			} else if (cl.addr[0] == '/')
				l->path = xstrdup(cl.addr);
			else
				l->path = xasprintf("%s/%s",
				    k->c->queue_directory, cl.addr);
			conf_listen_deinit(&cl);
			n++;
		}
		free(name);
	}
	for (i = 0; i < n; i++) {
		for (j = i + 1; j < n; j++) {
			if (!check_listeners_clash(&ls[i], &ls[j]))
				continue;
			name = xasprintf("%s.listen", ls[j].service);
			check_problem(k, name, "service \"%s\" listener \"%s\" "
			    "and service \"%s\" listener \"%s\" use the same "
			    "address", ls[i].service, ls[i].entry,
			    ls[j].service, ls[j].entry);
			free(name);
		}
	}
	for (i = 0; i < n; i++)
		free(ls[i].path);
	free(ls);
}

static void
check_log_target(struct check *k)
{
	const char *target = k->c->log_target, *slash;
	struct stat st;
	char	*dir;

	if (strncmp(target, "file:", 5) != 0)
		return;
	slash = strrchr(target + 5, '/');
	dir = slash == target + 5 ? xstrdup("/") :
	    xstrndup(target + 5, (size_t)(slash - (target + 5)));
	if (stat(dir, &st) == -1)
		check_problem(k, "log_target", "log_target: the folder %s of "
		    "the log file: %s", dir, strerror(errno));
	else if (!S_ISDIR(st.st_mode))
		check_problem(k, "log_target", "log_target: %s is not a "
		    "folder", dir);
	free(dir);
}

int
postctl_cmd_check(int argc, char *argv[])
{
	struct postern_config *c;
	struct check k;

	(void)argv;
	if (argc != 1) {
		fputs("usage: postctl [-c dir] check\n", stderr);
		return POSTCTL_EXIT_USAGE;
	}
	if ((c = postctl_read_config()) == NULL)
		return POSTCTL_EXIT_FAIL;

	memset(&k, 0, sizeof(k));
	k.c = c;
	check_folders(&k);
	check_programs(&k);
	check_users(&k);
	check_listen(&k);
	check_log_target(&k);
	conf_free(&c);
	if (k.nproblems > 0)
		return POSTCTL_EXIT_FAIL;
	fputs("postctl: configuration OK\n", stdout);
	return POSTCTL_EXIT_OK;
}

/* ---- postctl config ---------------------------------------------------- */

/*
 * Prints "name = value" ("name =" when empty).  Returns false when name
 * has no value: an unknown name, or a setting of a service that the
 * configuration does not have.
 */
static bool
config_print(const struct postern_config *c, const char *name, bool nflag)
{
	char	*v;

	if ((v = conf_value_str(c, name)) == NULL)
		return false;
	if (!nflag || conf_origin_line(c, name) != 0)
		printf("%s =%s%s\n", name, v[0] == '\0' ? "" : " ", v);
	free(v);
	return true;
}

/* Every setting of one service, as "SERVICE.setting = value". */
static void
config_print_service(const struct postern_config *c,
    const struct conf_service *s, bool nflag)
{
	char	*name;
	size_t	 i;

	for (i = 0; i < conf_nsvc_defs; i++) {
		name = xasprintf("%s.%s", s->name, conf_svc_defs[i].name);
		(void)config_print(c, name, nflag);
		free(name);
	}
}

static int
config_usage(void)
{
	fputs("usage: postctl [-c dir] config [-d | -n] [name ...]\n", stderr);
	return POSTCTL_EXIT_USAGE;
}

int
postctl_cmd_config(int argc, char *argv[])
{
	const struct conf_service *s;
	struct postern_config *c;
	bool	 dflag = false, nflag = false;
	int	 ch, ret = POSTCTL_EXIT_OK;
	size_t	 i;

	opterr = 0;
	while ((ch = getopt(argc, argv, "+dn")) != -1) {
		switch (ch) {
		case 'd':
			dflag = true;
			break;
		case 'n':
			nflag = true;
			break;
		default:
			fprintf(stderr, "postctl: config: unknown option -%c\n",
			    optopt);
			return config_usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (dflag && nflag)
		return config_usage();

	if (dflag) {
		if ((c = conf_defaults(postctl_conf_dir)) == NULL) {
			fputs("postctl: the built-in defaults do not load\n",
			    stderr);
			return POSTCTL_EXIT_FAIL;
		}
	} else {
		if ((c = postctl_read_config()) == NULL)
			return POSTCTL_EXIT_FAIL;
	}

	if (argc == 0) {
		for (i = 0; i < conf_ndefs; i++)
			(void)config_print(c, conf_defs[i].name, nflag);
		for (i = 0; i < c->nservices; i++)
			config_print_service(c, &c->services[i], nflag);
	}
	for (; argc > 0; argc--, argv++) {
		if (config_print(c, argv[0], nflag))
			continue;
		if (strchr(argv[0], '.') == NULL &&
		    (s = conf_service_find(c, argv[0])) != NULL) {
			/* A service's name alone: all its settings. */
			config_print_service(c, s, nflag);
		} else if (conf_def_find(argv[0]) != NULL) {
			fprintf(stderr, "postctl: unknown name \"%s\": no "
			    "service \"%.*s\"\n", argv[0],
			    (int)(strchr(argv[0], '.') - argv[0]), argv[0]);
			ret = POSTCTL_EXIT_FAIL;
		} else {
			fprintf(stderr, "postctl: unknown name \"%s\"\n",
			    argv[0]);
			ret = POSTCTL_EXIT_FAIL;
		}
	}
	if (fflush(stdout) == EOF) {
		fprintf(stderr, "postctl: standard output: %s\n",
		    strerror(errno));
		ret = POSTCTL_EXIT_FAIL;
	}
	conf_free(&c);
	return ret;
}
