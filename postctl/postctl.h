/* SPDX-License-Identifier: ISC */
/*
 * postctl's commands.  main.c parses "postctl [-c DIR] COMMAND ARGS..." and
 * calls one of these with argv[0] being the command name.  Each returns the
 * process exit status:
 *	0	success
 *	1	the operation failed, or problems were found (check)
 *	2	usage error
 *	3	the master is not running (status, stop, reload)
 */
#ifndef POSTCTL_H
#define POSTCTL_H

#define POSTCTL_EXIT_OK		0
#define POSTCTL_EXIT_FAIL	1
#define POSTCTL_EXIT_USAGE	2
#define POSTCTL_EXIT_NOT_RUNNING 3

/* The configuration folder: -c DIR, else $POSTERN_CONFIG_DIR, else POSTERN_CONF_DIR. */
extern const char *postctl_conf_dir;

/*
 * Reads the configuration, printing every problem to stderr.  Returns
 * NULL when it is not usable.
 */
struct postern_config;
struct postern_config *postctl_read_config(void);

/*
 * Reads the configuration into cfg (conf.h) and opens logging to stderr.
 * On problems prints every one to stderr and exits 1.
 */
void	postctl_load_config(void);

/* cmd_master.c: talk to the master over run_directory/master.ctl. */
int	postctl_cmd_start(int argc, char *argv[]);
int	postctl_cmd_stop(int argc, char *argv[]);
int	postctl_cmd_reload(int argc, char *argv[]);
int	postctl_cmd_status(int argc, char *argv[]);

/* cmd_config.c */
int	postctl_cmd_check(int argc, char *argv[]);	/* postctl check */
int	postctl_cmd_config(int argc, char *argv[]);	/* postctl config [-d|-n] [NAME...] */

/* cmd_map.c */
int	postctl_cmd_map(int argc, char *argv[]);	/* postctl map build|query ... */

/* cmd_user.c */
int	postctl_cmd_user(int argc, char *argv[]);	/* postctl user add|del|... */

/* cmd_queue.c: postctl queue list|show|flush|hold|release|delete|requeue */
int	postctl_cmd_queue(int argc, char *argv[]);

/*
 * sendmail.c: postctl run as sendmail, mailq or newaliases (name is the
 * last component of argv[0]); argv[0] is that name and the options follow
 * (sendmail(1)).  The front-end sets postctl_conf_dir itself: -C DIR, else
 * $POSTERN_CONFIG_DIR, else the default.
 */
int	postctl_sendmail_main(const char *name, int argc, char *argv[]);

/* A folder given relative to the current one, made absolute (exits on error). */
const char *postctl_absolute_dir(const char *dir);

#endif
