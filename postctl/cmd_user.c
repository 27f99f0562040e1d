/* SPDX-License-Identifier: ISC */
/*
 * postctl user: manage the users file and its table (userdb.h,
 * postern-tables(5)).
 *
 *	postctl user add [--stdin] ADDRESS [quota=SIZE] [maildir=PATH]
 *	postctl user passwd [--stdin] ADDRESS
 *	postctl user del ADDRESS
 *	postctl user list
 *	postctl user disable ADDRESS
 *	postctl user enable ADDRESS
 *	postctl user build
 *
 * Each change rewrites the text file under a lock and rebuilds the table
 * atomically (userdb_rewrite()), so authd sees the new table at its next
 * lookup.  Passwords are read from the terminal with echo off (twice), or
 * as one line from standard input with --stdin, and hashed with
 * authd_password_scheme; hashes are never printed.  "build" compiles
 * the table from a file edited by hand (userdb_build()): the users file
 * is not in the format "postctl map build" reads.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "common/conf.h"
#include "common/passwd.h"
#include "common/str.h"
#include "common/userdb.h"
#include "common/xmalloc.h"
#include "postctl.h"

#include "common/banned.h"

#define USER_TTY		"/dev/tty"

/*
 * XXX: file-scope state (STYLE R14): the terminal whose echo is off and
 * its settings before, so that a signal handler can put it back.  Only
 * one password prompt runs at a time in this single-threaded command.
 */
static volatile sig_atomic_t user_tty_fd = -1;
static struct termios user_tty_saved;

/*
 * Signals that end us while echo is off.  Job-control stops are left
 * alone: restoring echo there would show the rest of the password typed
 * after "fg".
 */
static const int user_tty_signals[] = {
	SIGINT, SIGTERM, SIGHUP, SIGQUIT,
};

static int
user_usage(void)
{
	fputs("usage: postctl user add [--stdin] address [quota=size] "
	    "[maildir=path]\n"
	    "       postctl user passwd [--stdin] address\n"
	    "       postctl user del | disable | enable address\n"
	    "       postctl user list | build\n", stderr);
	return POSTCTL_EXIT_USAGE;
}

/* Restores the terminal, then dies of the signal as it would have. */
static void
user_tty_signal(int sig)
{
	int	fd = user_tty_fd;

	if (fd != -1)
		(void)tcsetattr(fd, TCSAFLUSH, &user_tty_saved);
	(void)signal(sig, SIG_DFL);
	(void)raise(sig);
}

static void
user_tty_restore(int fd)
{
	size_t	i;

	(void)tcsetattr(fd, TCSAFLUSH, &user_tty_saved);
	user_tty_fd = -1;
	for (i = 0; i < N_ELEMENTS(user_tty_signals); i++)
		(void)signal(user_tty_signals[i], SIG_DFL);
}

/*
 * Reads one line of at most PASSWD_MAX bytes from fd into buf (size
 * PASSWD_MAX + 2), byte by byte so nothing past the newline is consumed
 * and no stdio buffer keeps a copy.  Returns the length, or -1 with
 * *error_r.
 */
static ssize_t
user_read_line(int fd, char *buf, const char **error_r)
{
	size_t	 len = 0;
	ssize_t	 n;
	char	 c;

	for (;;) {
		n = read(fd, &c, 1);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			*error_r = "cannot read the password";
			return -1;
		}
		if (n == 0 || c == '\n')
			break;
		if (len == PASSWD_MAX) {
			/* Drain the rest of the line, then refuse. */
			*error_r = "password too long";
			while ((n = read(fd, &c, 1)) == 1 && c != '\n')
				;
			explicit_bzero(&c, 1);
			return -1;
		}
		buf[len++] = c;
	}
	explicit_bzero(&c, 1);
	buf[len] = '\0';
	if (memchr(buf, '\0', len) != NULL) {
		*error_r = "NUL byte in the password";
		return -1;
	}
	return (ssize_t)len;
}

/* Prompts on the terminal with echo off. */
static ssize_t
user_tty_prompt(int fd, const char *prompt, char *buf, const char **error_r)
{
	struct termios t;
	ssize_t	 len;
	size_t	 i;

	if (tcgetattr(fd, &user_tty_saved) == -1) {
		*error_r = "cannot read the terminal settings";
		return -1;
	}
	t = user_tty_saved;
	t.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK);
	t.c_lflag |= ECHONL | ICANON;
	user_tty_fd = fd;
	for (i = 0; i < N_ELEMENTS(user_tty_signals); i++)
		(void)signal(user_tty_signals[i], user_tty_signal);
	if (tcsetattr(fd, TCSAFLUSH, &t) == -1) {
		user_tty_restore(fd);
		*error_r = "cannot turn off echo on the terminal";
		return -1;
	}
	if (write(fd, prompt, strlen(prompt)) == -1) {
		user_tty_restore(fd);
		*error_r = "cannot write to the terminal";
		return -1;
	}
	len = user_read_line(fd, buf, error_r);
	user_tty_restore(fd);
	return len;
}

/*
 * The new password, in an allocated buffer of PASSWD_MAX + 2 bytes
 * (wipe before free), or NULL after printing the problem.
 */
static char *
user_read_password(bool from_stdin)
{
	const char *error = NULL;
	char	*pw, *again = NULL;
	ssize_t	 len, len2;
	int	 fd = -1;

	pw = xmalloc(PASSWD_MAX + 2);
	if (from_stdin)
		len = user_read_line(STDIN_FILENO, pw, &error);
	else {
		fd = open(USER_TTY, O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (fd == -1) {
			fprintf(stderr, "postctl: cannot open %s (use --stdin "
			    "to read the password from standard input)\n",
			    USER_TTY);
			free(pw);
			return NULL;
		}
		len = user_tty_prompt(fd, "Password: ", pw, &error);
		if (len > 0) {
			again = xmalloc(PASSWD_MAX + 2);
			len2 = user_tty_prompt(fd, "Again: ", again, &error);
			if (len2 >= 0 && (len2 != len ||
			    memcmp(pw, again, (size_t)len) != 0)) {
				error = "the passwords do not match";
				len = -1;
			} else if (len2 < 0)
				len = -1;
			explicit_bzero(again, PASSWD_MAX + 2);
			free(again);
		}
		(void)close(fd);
	}
	if (len == 0) {
		error = "empty password";
		len = -1;
	}
	if (len < 0) {
		fprintf(stderr, "postctl: %s\n", error);
		explicit_bzero(pw, PASSWD_MAX + 2);
		free(pw);
		return NULL;
	}
	return pw;
}

/* Reads and hashes a new password; NULL after printing the problem. */
static char *
user_new_hash(bool from_stdin)
{
	const char *error;
	char	*pw, *hash;

	if ((pw = user_read_password(from_stdin)) == NULL)
		return NULL;
	hash = passwd_hash(pw, cfg->authd_password_scheme, &error);
	explicit_bzero(pw, PASSWD_MAX + 2);
	free(pw);
	if (hash == NULL)
		fprintf(stderr, "postctl: %s\n", error);
	return hash;
}

/* What the edit callbacks look for and do. */
enum user_op { USER_FIND, USER_DEL, USER_PASSWD, USER_DISABLE, USER_ENABLE };

struct user_edit {
	const char	*address;	/* folded */
	enum user_op	 op;
	const char	*hash;		/* USER_PASSWD */
	bool		 found;
};

static int
user_edit(struct userdb_user *u, void *ctx, const char **error_r ATTR_UNUSED)
{
	struct user_edit *e = ctx;

	if (strcmp(u->address, e->address) != 0)
		return 1;
	e->found = true;
	switch (e->op) {
	case USER_DEL:
		return 0;
	case USER_PASSWD:
		explicit_bzero(u->hash, strlen(u->hash));
		free(u->hash);
		u->hash = xstrdup(e->hash);
		break;
	case USER_DISABLE:
		u->disabled = true;
		break;
	case USER_ENABLE:
		u->disabled = false;
		break;
	case USER_FIND:
		break;
	}
	return 1;
}

/* Whether address is in the users file: 1, 0, or -1 after printing why. */
static int
user_exists(const char *name, const char *address)
{
	struct user_edit e;
	const char *error;

	memset(&e, 0, sizeof(e));
	e.address = address;
	e.op = USER_FIND;
	if (userdb_read(name, user_edit, &e, &error) == -1) {
		fprintf(stderr, "postctl: %s\n", error);
		return -1;
	}
	return e.found ? 1 : 0;
}

static int
user_change(const char *name, const char *address, enum user_op op,
    const char *hash)
{
	struct user_edit e;
	const char *error;

	memset(&e, 0, sizeof(e));
	e.address = address;
	e.op = op;
	e.hash = hash;
	if (userdb_rewrite(name, user_edit, &e, NULL, &error) == -1) {
		fprintf(stderr, "postctl: %s\n", error);
		return POSTCTL_EXIT_FAIL;
	}
	if (!e.found) {
		fprintf(stderr, "postctl: %s: no such user\n", address);
		return POSTCTL_EXIT_FAIL;
	}
	return POSTCTL_EXIT_OK;
}

/* The address argument, checked and folded (caller frees), or NULL. */
static char *
user_address(const char *arg)
{
	if (!userdb_address_valid(arg)) {
		fprintf(stderr, "postctl: %s: not a valid address "
		    "(user@domain)\n", arg);
		return NULL;
	}
	return str_lower(xstrdup(arg));
}

static int
user_add(const char *name, const char *address, bool from_stdin,
    char **opts, int nopts)
{
	struct userdb_user u;
	const char *error;
	uint64_t quota = 0;
	char	*maildir = NULL;
	int	 i, ret;

	for (i = 0; i < nopts; i++) {
		if (str_has_prefix(opts[i], "quota=")) {
			if (conf_parse_size(opts[i] + 6, UINT64_MAX, &quota,
			    &error) == -1) {
				fprintf(stderr, "postctl: %s: %s\n", opts[i],
				    error);
				free(maildir);
				return POSTCTL_EXIT_USAGE;
			}
		} else if (str_has_prefix(opts[i], "maildir=") &&
		    opts[i][8] == '/' &&
		    strpbrk(opts[i], " \t\r\n:") == NULL) {
			free(maildir);
			maildir = xstrdup(opts[i] + 8);
		} else {
			fprintf(stderr, "postctl: %s: expected quota=SIZE or "
			    "maildir=/ABSOLUTE/PATH (no white space or "
			    "\":\")\n", opts[i]);
			free(maildir);
			return POSTCTL_EXIT_USAGE;
		}
	}
	/* Say so before asking for a password that would be wasted. */
	if ((ret = user_exists(name, address)) != 0) {
		if (ret == 1)
			fprintf(stderr, "postctl: %s: user exists\n", address);
		free(maildir);
		return POSTCTL_EXIT_FAIL;
	}
	memset(&u, 0, sizeof(u));
	u.address = xstrdup(address);
	u.home = xstrdup("");
	u.maildir = maildir != NULL ? maildir : xstrdup("");
	u.quota = quota;
	if ((u.hash = user_new_hash(from_stdin)) == NULL) {
		userdb_user_deinit(&u);
		return POSTCTL_EXIT_FAIL;
	}
	ret = POSTCTL_EXIT_OK;
	if (userdb_rewrite(name, NULL, NULL, &u, &error) == -1) {
		fprintf(stderr, "postctl: %s\n", error);
		ret = POSTCTL_EXIT_FAIL;
	}
	userdb_user_deinit(&u);
	return ret;
}

static int
user_passwd(const char *name, const char *address, bool from_stdin)
{
	char	*hash;
	int	 ret;

	if ((ret = user_exists(name, address)) != 1) {
		if (ret == 0)
			fprintf(stderr, "postctl: %s: no such user\n", address);
		return POSTCTL_EXIT_FAIL;
	}
	if ((hash = user_new_hash(from_stdin)) == NULL)
		return POSTCTL_EXIT_FAIL;
	ret = user_change(name, address, USER_PASSWD, hash);
	explicit_bzero(hash, strlen(hash));
	free(hash);
	return ret;
}

static int
user_list_one(struct userdb_user *u, void *ctx ATTR_UNUSED,
    const char **error_r ATTR_UNUSED)
{
	static const struct {
		uint64_t	mult;
		const char	*suffix;
	} units[] = {
		{ 1024ULL * 1024 * 1024, "g" },
		{ 1024ULL * 1024, "m" },
		{ 1024ULL, "k" },
		{ 1, "" },
	};
	size_t	i;

	printf("%s %s ", u->address, u->disabled ? "disabled" : "enabled");
	if (u->quota == 0) {
		printf("-\n");
		return 1;
	}
	for (i = 0; i < N_ELEMENTS(units); i++) {
		if (u->quota % units[i].mult == 0) {
			printf("%llu%s\n",
			    (unsigned long long)(u->quota / units[i].mult),
			    units[i].suffix);
			break;
		}
	}
	return 1;
}

static int
user_list(const char *name)
{
	const char *error;

	/* Check the whole file first: no partial list before an error. */
	if (userdb_read(name, NULL, NULL, &error) == -1 ||
	    userdb_read(name, user_list_one, NULL, &error) == -1) {
		fprintf(stderr, "postctl: %s\n", error);
		return POSTCTL_EXIT_FAIL;
	}
	if (fflush(stdout) == EOF || ferror(stdout)) {
		fprintf(stderr, "postctl: write error on standard output\n");
		return POSTCTL_EXIT_FAIL;
	}
	return POSTCTL_EXIT_OK;
}

static int
user_build(const char *name)
{
	const char *error;

	if (userdb_build(name, &error) == -1) {
		fprintf(stderr, "postctl: %s\n", error);
		return POSTCTL_EXIT_FAIL;
	}
	return POSTCTL_EXIT_OK;
}

int
postctl_cmd_user(int argc, char *argv[])
{
	static const struct {
		const char	*name;
		enum user_op	 op;
	} simple[] = {
		{ "del",	USER_DEL },
		{ "disable",	USER_DISABLE },
		{ "enable",	USER_ENABLE },
	};
	const char *sub;
	char	*name, *address;
	enum user_op op;
	bool	 from_stdin = false;
	size_t	 i;
	int	 arg, ret;

	postctl_load_config();
	if (argc < 2)
		return user_usage();
	sub = argv[1];
	arg = 2;
	/* Options come before the address; "--" ends them. */
	for (; arg < argc && argv[arg][0] == '-'; arg++) {
		if (strcmp(argv[arg], "--") == 0) {
			arg++;
			break;
		}
		if (strcmp(argv[arg], "--stdin") == 0 &&
		    (strcmp(sub, "add") == 0 || strcmp(sub, "passwd") == 0)) {
			from_stdin = true;
			continue;
		}
		fprintf(stderr, "postctl: user %s: unknown option %s\n", sub,
		    argv[arg]);
		return user_usage();
	}
	argc -= arg;
	argv += arg;

	if (strcmp(sub, "list") == 0 || strcmp(sub, "build") == 0) {
		if (argc != 0)
			return user_usage();
		name = userdb_table_name();
		if (strcmp(sub, "list") == 0)
			ret = user_list(name);
		else
			ret = user_build(name);
		free(name);
		return ret;
	}
	op = USER_FIND;
	if (strcmp(sub, "add") != 0 && strcmp(sub, "passwd") != 0) {
		for (i = 0; i < N_ELEMENTS(simple); i++) {
			if (strcmp(sub, simple[i].name) == 0)
				op = simple[i].op;
		}
		if (op == USER_FIND) {
			fprintf(stderr, "postctl: user: unknown subcommand: "
			    "%s\n", sub);
			return user_usage();
		}
	}
	if (argc < 1 || (strcmp(sub, "add") != 0 && argc != 1))
		return user_usage();
	if ((address = user_address(argv[0])) == NULL)
		return POSTCTL_EXIT_USAGE;
	name = userdb_table_name();
	if (strcmp(sub, "add") == 0)
		ret = user_add(name, address, from_stdin, argv + 1, argc - 1);
	else if (strcmp(sub, "passwd") == 0)
		ret = user_passwd(name, address, from_stdin);
	else
		ret = user_change(name, address, op, NULL);
	free(name);
	free(address);
	return ret;
}
