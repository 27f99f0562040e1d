/* SPDX-License-Identifier: ISC */
/*
 * postctl: the administration command of postern.  This file parses
 * "postctl [-c DIR] COMMAND ARGS...", finds the configuration folder and
 * hands the rest of the command line to one of the commands of postctl.h.
 * Each command reads the configuration itself (postctl_load_config())
 * when it needs it, so "postctl check" can report a broken file its own
 * way.  Options after the command name belong to the command: getopt stops
 * at the first non-option ("+").
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/conf.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "postctl.h"

#include "common/banned.h"

const char *postctl_conf_dir;

/* What main() and postctl_load_config() allocated, freed at exit. */
static char *postctl_conf_dir_abs;
static struct postern_config *postctl_cfg;

struct postctl_cmd {
	const char	*name;
	int		(*run)(int argc, char *argv[]);
};

static const struct postctl_cmd postctl_cmds[] = {
	{ "start",	postctl_cmd_start },
	{ "stop",	postctl_cmd_stop },
	{ "reload",	postctl_cmd_reload },
	{ "status",	postctl_cmd_status },
	{ "check",	postctl_cmd_check },
	{ "config",	postctl_cmd_config },
	{ "map",	postctl_cmd_map },
	{ "user",	postctl_cmd_user },
	{ "queue",	postctl_cmd_queue },
};

/* The SYNOPSIS of man/postctl.8. */
static const char postctl_synopsis[] =
    "usage: postctl [-c dir] start | stop | reload | status | check\n"
    "       postctl [-c dir] config [-d | -n] [name ...]\n"
    "       postctl [-c dir] map build type:file\n"
    "       postctl [-c dir] map query type:file key\n"
    "       postctl [-c dir] user add [--stdin] address [quota=size] [maildir=path]\n"
    "       postctl [-c dir] user passwd [--stdin] address\n"
    "       postctl [-c dir] user del | disable | enable address\n"
    "       postctl [-c dir] user list | build\n"
    "       postctl [-c dir] queue list\n"
    "       postctl [-c dir] queue show id\n"
    "       postctl [-c dir] queue flush [id]\n"
    "       postctl [-c dir] queue hold | release | delete | requeue id | ALL\n"
    "       postctl -h | --help\n";

static void ATTR_NORETURN
usage(bool help)
{
	if (help) {
		fputs(postctl_synopsis, stdout);
		exit(POSTCTL_EXIT_OK);
	}
	fputs(postctl_synopsis, stderr);
	exit(POSTCTL_EXIT_USAGE);
}

static void
postctl_cleanup(void)
{
	log_close();
	cfg = NULL;
	conf_free(&postctl_cfg);
	free(postctl_conf_dir_abs);
	postctl_conf_dir_abs = NULL;
}

struct postern_config *
postctl_read_config(void)
{
	struct postern_config	*c;
	struct conf_errors	 errors;
	size_t			 i;

	c = conf_read(postctl_conf_dir, &errors);
	for (i = 0; i < errors.count; i++)
		fprintf(stderr, "postctl: %s\n", errors.lines[i]);
	if (c == NULL && errors.count == 0)
		fprintf(stderr, "postctl: cannot read the configuration in %s\n",
		    postctl_conf_dir);
	conf_errors_deinit(&errors);
	return c;
}

void
postctl_load_config(void)
{
	const char	*error;

	if (postctl_cfg != NULL)
		return;
	if ((postctl_cfg = postctl_read_config()) == NULL)
		exit(POSTCTL_EXIT_FAIL);
	cfg = postctl_cfg;
	if (log_open("postctl", "stderr", postctl_cfg->syslog_facility,
	    &error) == -1) {
		fprintf(stderr, "postctl: cannot log to stderr: %s\n", error);
		exit(POSTCTL_EXIT_FAIL);
	}
}

/*
 * conf_read() wants an absolute folder; a relative -c is taken from the
 * current folder, as a user typing it expects.
 */
const char *
postctl_absolute_dir(const char *dir)
{
	char	*cwd;

	if (dir[0] == '/')
		return dir;
	if ((cwd = getcwd(NULL, 0)) == NULL) {
		fprintf(stderr, "postctl: cannot find the current folder: %s\n",
		    strerror(errno));
		exit(POSTCTL_EXIT_FAIL);
	}
	postctl_conf_dir_abs = xasprintf("%s/%s", cwd, dir);
	free(cwd);
	return postctl_conf_dir_abs;
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "help",	no_argument,	NULL,	'h' },
		{ NULL,		0,		NULL,	0 },
	};
	const char	*dir = NULL, *env, *name;
	size_t		 i;
	int		 ch;

	/* Installed as sendmail, mailq and newaliases too (symbolic links). */
	name = argc > 0 ? strrchr(argv[0], '/') : NULL;
	name = name != NULL ? name + 1 : argc > 0 ? argv[0] : "postctl";
	if (strcmp(name, "sendmail") == 0 || strcmp(name, "mailq") == 0 ||
	    strcmp(name, "newaliases") == 0) {
		if (atexit(postctl_cleanup) != 0) {
			fprintf(stderr, "%s: atexit failed\n", name);
			return POSTCTL_EXIT_FAIL;
		}
		return postctl_sendmail_main(name, argc, argv);
	}

	while ((ch = getopt_long(argc, argv, "+c:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			if (optarg[0] == '\0')
				usage(false);
			dir = optarg;
			break;
		case 'h':
			usage(true);
		default:
			usage(false);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		usage(false);

	if (dir == NULL) {
		env = getenv("POSTERN_CONFIG_DIR");
		dir = env != NULL && env[0] != '\0' ? env : POSTERN_CONF_DIR;
	}
	postctl_conf_dir = postctl_absolute_dir(dir);
	if (atexit(postctl_cleanup) != 0) {
		fprintf(stderr, "postctl: atexit failed\n");
		return POSTCTL_EXIT_FAIL;
	}

	for (i = 0; i < N_ELEMENTS(postctl_cmds); i++) {
		if (strcmp(argv[0], postctl_cmds[i].name) == 0) {
			/* The command parses its own options from argv[1]. */
			optind = 0;
			return postctl_cmds[i].run(argc, argv);
		}
	}
	fprintf(stderr, "postctl: unknown command: %s\n", argv[0]);
	usage(false);
}
