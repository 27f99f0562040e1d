/* SPDX-License-Identifier: ISC */
/*
 * gen-conf-man: writes man/postern.conf.5 from its template (STYLE R22,
 * R25).  It copies the template from stdin to stdout and replaces
 *
 *	@CONF_TABLE@		the global names, one subsection per
 *				CONF_SECTION of conf_defs.def
 *	@CONF_SVC_TABLE@	the SERVICE.setting names
 *	@CONF_BUILTIN_TABLE@	the built-in services
 *
 * each on a line of its own, and the words @POSTERN_CONF_DIR@ and
 * @POSTERN_DAEMON_DIR@ anywhere with the folders this build uses.  Every
 * row becomes ".It Cm name Pq Ar type", its description, and its default
 * and range.  The first two markers must each appear exactly once, so a
 * page cannot silently leave a table out.  Text from the table is escaped
 * for mdoc; the template is ours and is copied as it is.
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "common/conf.h"

#include "common/banned.h"

#ifndef POSTERN_CONF_DIR
#define POSTERN_CONF_DIR	"/usr/local/etc/postern"
#endif
#ifndef POSTERN_DAEMON_DIR
#define POSTERN_DAEMON_DIR	"/usr/local/libexec/postern"
#endif

/* The longest template line. */
#define GEN_LINE_MAX	4096
/* Descriptions are folded at blanks to lines of about this width. */
#define GEN_WRAP	72

/* The global rows in table order, with the section titles between them. */
struct gen_row {
	const char	*section;	/* a CONF_SECTION title, or NULL */
	const char	*name;		/* a row's name, or NULL */
};

#define CONF_SECTION(t)			{ t, NULL },
#define CONF_STR(n, d, desc)		{ NULL, #n },
#define CONF_PATH(n, d, desc)		{ NULL, #n },
#define CONF_BOOL(n, d, desc)		{ NULL, #n },
#define CONF_UINT(n, d, lo, hi, desc)	{ NULL, #n },
#define CONF_SIZE(n, d, lo, hi, desc)	{ NULL, #n },
#define CONF_TIME(n, d, lo, hi, desc)	{ NULL, #n },
#define CONF_LIST(n, d, desc)		{ NULL, #n },
static const struct gen_row gen_layout[] = {
#include "common/conf_defs.def"
};

static const char *
gen_type_name(enum conf_type type)
{
	switch (type) {
	case CONF_T_STR:
		return "string";
	case CONF_T_PATH:
		return "path";
	case CONF_T_BOOL:
		return "boolean";
	case CONF_T_UINT:
		return "number";
	case CONF_T_SIZE:
		return "size";
	case CONF_T_TIME:
		return "time";
	case CONF_T_LIST:
		return "list";
	}
	return "value";
}

/* Writes n bytes of s as mdoc text (no newline). */
static void
gen_text_n(const char *s, size_t n)
{
	size_t	 i;

	/* A leading "." or "'" would make the line a request. */
	if (n > 0 && (*s == '.' || *s == '\''))
		fputs("\\&", stdout);
	for (i = 0; i < n; i++) {
		if (s[i] == '\\')
			fputs("\\e", stdout);
		else
			putchar(s[i]);
	}
}

static void
gen_text(const char *s)
{
	gen_text_n(s, strlen(s));
}

/*
 * Writes s as text lines folded at blanks (mandoc warns about long input
 * lines), ending the last with a period unless s has one.
 */
static void
gen_para(const char *s)
{
	const char *p, *end, *brk;

	while (*s == ' ')
		s++;
	while (*s != '\0') {
		end = s + strlen(s);
		if (end - s > GEN_WRAP) {
			/* The last blank within the width, else the next. */
			brk = NULL;
			for (p = s; p < s + GEN_WRAP; p++)
				if (*p == ' ')
					brk = p;
			if (brk == NULL)
				brk = strchr(s + GEN_WRAP, ' ');
			if (brk != NULL)
				end = brk;
		}
		gen_text_n(s, (size_t)(end - s));
		p = end;
		while (*p == ' ')
			p++;
		if (*p == '\0' && end[-1] != '.')
			putchar('.');
		putchar('\n');
		s = p;
	}
}

/* Writes s as one quoted macro argument: never read as a macro name. */
static void
gen_arg(const char *s)
{
	fputs("\"\\&", stdout);
	for (; *s != '\0'; s++) {
		if (*s == '\\')
			fputs("\\e", stdout);
		else if (*s == '"')
			fputs("\\(dq", stdout);
		else
			putchar(*s);
	}
	putchar('"');
}

static void
gen_item(const struct conf_def *d)
{
	printf(".It Cm %s Pq Ar %s\n", d->name, gen_type_name(d->type));
	gen_para(d->desc);
	if (d->def[0] == '\0') {
		puts("Default: empty.");
	} else {
		puts("Default:");
		fputs(".Ql ", stdout);
		gen_arg(d->def);
		puts(d->min != NULL || d->max != NULL ? " ," : " .");
	}
	if (d->min != NULL && d->max != NULL) {
		puts("from");
		fputs(".Ql ", stdout);
		gen_arg(d->min);
		puts("\nto");
		fputs(".Ql ", stdout);
		gen_arg(d->max);
		puts(" .");
	} else if (d->min != NULL) {
		puts("at least");
		fputs(".Ql ", stdout);
		gen_arg(d->min);
		puts(" .");
	} else if (d->max != NULL) {
		puts("at most");
		fputs(".Ql ", stdout);
		gen_arg(d->max);
		puts(" .");
	}
}

static int
gen_conf_table(void)
{
	const struct conf_def *d;
	bool	 open = false;
	size_t	 i;

	for (i = 0; i < N_ELEMENTS(gen_layout); i++) {
		if (gen_layout[i].section != NULL) {
			if (open)
				puts(".El");
			fputs(".Ss ", stdout);
			gen_text(gen_layout[i].section);
			puts("\n.Bl -tag -width Ds");
			open = true;
			continue;
		}
		if ((d = conf_def_find(gen_layout[i].name)) == NULL) {
			fprintf(stderr, "gen-conf-man: no row %s\n",
			    gen_layout[i].name);
			return -1;
		}
		if (!open) {
			puts(".Bl -tag -width Ds");
			open = true;
		}
		gen_item(d);
	}
	if (open)
		puts(".El");
	return 0;
}

static void
gen_svc_table(void)
{
	size_t	 i;

	puts(".Bl -tag -width Ds");
	for (i = 0; i < conf_nsvc_defs; i++)
		gen_item(&conf_svc_defs[i]);
	puts(".El");
}

static void
gen_builtin_table(void)
{
	const struct conf_builtin_service *b;
	size_t	 i;

	if (conf_nbuiltin_services == 0) {
		puts(".Pp");
		puts("This build has no built-in services:");
		puts("every service is declared in the file.");
		return;
	}
	puts(".Bl -tag -width Ds");
	for (i = 0; i < conf_nbuiltin_services; i++) {
		b = &conf_builtin_services[i];
		printf(".It Cm %s\n", b->name);
		gen_para(b->desc);
		if (b->settings != NULL && b->settings[0] != '\0') {
			puts("Settings:");
			fputs(".Ql ", stdout);
			gen_arg(b->settings);
			puts(" .");
		}
	}
	puts(".El");
}

/* Copies a template line, replacing the folder words. */
static void
gen_copy(const char *line)
{
	static const struct {
		const char	*word;
		const char	*value;
	} words[] = {
		{ "@POSTERN_CONF_DIR@", POSTERN_CONF_DIR },
		{ "@POSTERN_DAEMON_DIR@", POSTERN_DAEMON_DIR },
	};
	const char *p, *at;
	size_t	 i, best, bestw = 0;

	for (p = line; *p != '\0';) {
		at = NULL;
		for (i = 0; i < N_ELEMENTS(words); i++) {
			const char *w = strstr(p, words[i].word);

			if (w != NULL && (at == NULL || w < at)) {
				at = w;
				bestw = i;
			}
		}
		if (at == NULL) {
			fputs(p, stdout);
			return;
		}
		best = (size_t)(at - p);
		fwrite(p, 1, best, stdout);
		fputs(words[bestw].value, stdout);
		p = at + strlen(words[bestw].word);
	}
}

int
main(void)
{
	char	 line[GEN_LINE_MAX];
	size_t	 len;
	unsigned int lineno = 0, nconf = 0, nsvc = 0;

	while (fgets(line, sizeof(line), stdin) != NULL) {
		lineno++;
		len = strlen(line);
		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		else if (!feof(stdin)) {
			fprintf(stderr, "gen-conf-man: stdin:%u: line longer "
			    "than %d bytes\n", lineno, GEN_LINE_MAX - 2);
			return EX_DATAERR;
		}
		if (strcmp(line, "@CONF_TABLE@") == 0) {
			if (gen_conf_table() == -1)
				return EX_SOFTWARE;
			nconf++;
		} else if (strcmp(line, "@CONF_SVC_TABLE@") == 0) {
			gen_svc_table();
			nsvc++;
		} else if (strcmp(line, "@CONF_BUILTIN_TABLE@") == 0) {
			gen_builtin_table();
		} else {
			gen_copy(line);
			putchar('\n');
		}
	}
	if (ferror(stdin)) {
		perror("gen-conf-man: stdin");
		return EX_IOERR;
	}
	if (nconf != 1 || nsvc != 1) {
		fprintf(stderr, "gen-conf-man: the template must hold "
		    "@CONF_TABLE@ and @CONF_SVC_TABLE@ once each\n");
		return EX_DATAERR;
	}
	if (fflush(stdout) == EOF || ferror(stdout)) {
		perror("gen-conf-man: stdout");
		return EX_IOERR;
	}
	return EX_OK;
}
