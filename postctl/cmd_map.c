/* SPDX-License-Identifier: ISC */
/*
 * postctl map: compile a lookup table and query one (man/postern-tables.5).
 *
 *	postctl map build [-v] TYPE:FILE
 *	postctl map query TYPE:FILE KEY
 *
 * build compiles FILE into FILE.db (hash:) or FILE.lmdb (lmdb:) and
 * replaces the old compiled table atomically (table_build()); it prints
 * nothing on success unless -v, and "postctl: FILE:LINE: text" for a
 * problem in the source.  query prints the value of KEY and exits 0; a
 * key that is absent prints nothing and exits 1, as "postmap -q" does, so
 * scripts can test for it; a failure to read the table says why and
 * exits 1 too.  A name without TYPE: uses default_database_type, which is
 * why the configuration is read first.
 */
#include "config.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "common/conf.h"
#include "common/table.h"
#include "postctl.h"

#include "common/banned.h"

static int
postctl_map_usage(void)
{
	fputs("usage: postctl map build [-v] type:file\n"
	    "       postctl map query type:file key\n", stderr);
	return POSTCTL_EXIT_USAGE;
}

static int
postctl_map_bad_option(void)
{
	fprintf(stderr, "postctl: map: unknown option -%c\n", optopt);
	return postctl_map_usage();
}

/* Flushes stdout; a value that could not be written is a failure. */
static int
postctl_map_flush(void)
{
	if (fflush(stdout) == EOF || ferror(stdout)) {
		fprintf(stderr, "postctl: write error on standard output\n");
		return POSTCTL_EXIT_FAIL;
	}
	return POSTCTL_EXIT_OK;
}

static int
postctl_map_build(const char *name, bool verbose)
{
	const char *error;
	long	 n;

	if ((n = table_build(name, cfg->default_database_type, &error)) < 0) {
		fprintf(stderr, "postctl: %s\n", error);
		return POSTCTL_EXIT_FAIL;
	}
	if (verbose) {
		printf("%s: %ld %s\n", name, n, n == 1 ? "entry" : "entries");
		return postctl_map_flush();
	}
	return POSTCTL_EXIT_OK;
}

static int
postctl_map_query(const char *name, const char *key)
{
	struct table *t;
	const char *error, *value;
	int	 ret;

	if ((t = table_open(name, cfg->default_database_type,
	    &error)) == NULL) {
		fprintf(stderr, "postctl: %s\n", error);
		return POSTCTL_EXIT_FAIL;
	}
	ret = table_lookup(t, key, &value, &error);
	if (ret == 1)
		printf("%s\n", value);
	else if (ret == -1)
		fprintf(stderr, "postctl: %s\n", error);
	table_close(&t);
	if (ret != 1)
		return POSTCTL_EXIT_FAIL;
	return postctl_map_flush();
}

int
postctl_cmd_map(int argc, char *argv[])
{
	const char *sub;
	bool	 verbose = false;
	int	 ch;

	postctl_load_config();
	/* -v is taken before or after the subcommand. */
	opterr = 0;
	optind = 0;
	while ((ch = getopt(argc, argv, "+v")) != -1) {
		if (ch != 'v')
			return postctl_map_bad_option();
		verbose = true;
	}
	if (optind >= argc)
		return postctl_map_usage();
	sub = argv[optind];
	argc -= optind;
	argv += optind;
	optind = 0;
	while ((ch = getopt(argc, argv, "+v")) != -1) {
		if (ch != 'v')
			return postctl_map_bad_option();
		verbose = true;
	}
	argc -= optind;
	argv += optind;

	if (strcmp(sub, "build") == 0) {
		if (argc != 1)
			return postctl_map_usage();
		return postctl_map_build(argv[0], verbose);
	}
	if (strcmp(sub, "query") == 0) {
		if (argc != 2)
			return postctl_map_usage();
		return postctl_map_query(argv[0], argv[1]);
	}
	fprintf(stderr, "postctl: map: unknown subcommand: %s\n", sub);
	return postctl_map_usage();
}
