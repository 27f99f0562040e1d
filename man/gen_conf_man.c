/* SPDX-License-Identifier: ISC */
/*
 * gen-conf-man: writes man/postern.conf.5 from its template, and with
 * --sample conf/postern.conf.sample (STYLE R22, R25).  Both come from the
 * one table, conf_defs.def, so neither can miss a setting.
 *
 * Without arguments it copies the template from stdin to stdout and
 * replaces
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
 *
 * With --sample it reads nothing and writes a postern.conf in which every
 * setting is a line "#name = default", commented out, under its
 * description folded into "# " lines of at most GEN_SAMPLE_WIDTH columns:
 * the global names by section, then the service settings as a table in
 * prose, then each built-in service's own values as "#SERVICE.setting =
 * value" lines.  Removing the "#" of every such line (and only of those)
 * gives a file with the same meaning as an empty one.
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "common/conf.h"
#include "common/xmalloc.h"

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
/* The sample's lines are at most this wide (a longer word stays whole). */
#define GEN_SAMPLE_WIDTH	76
/* The widest "SERVICE.setting = default" column of the sample. */
#define GEN_SAMPLE_COL_MAX	34

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

/* ---- --sample: conf/postern.conf.sample ------------------------------ */

/*
 * Writes s folded at blanks into lines of at most width columns: the
 * first starts with first, the others with more (both count).  A word
 * longer than a line gets a line of its own.  Within a line, words are
 * joined by one blank, or two where s has two or more (after a sentence).
 */
static void
gen_fold(const char *s, const char *first, const char *more, size_t width)
{
	const char *w, *end;
	size_t	 col, len, gap;
	bool	 any = false;

	fputs(first, stdout);
	col = strlen(first);
	for (w = s;; w = end) {
		for (gap = 0; *w == ' '; w++)
			gap++;
		if (*w == '\0')
			break;
		for (end = w; *end != '\0' && *end != ' '; end++)
			;
		len = (size_t)(end - w);
		gap = gap > 1 ? 2 : 1;
		if (any && col + gap + len > width) {
			putchar('\n');
			fputs(more, stdout);
			col = strlen(more);
			any = false;
		}
		if (any) {
			fputs(gap > 1 ? "  " : " ", stdout);
			col += gap;
		}
		fwrite(w, 1, len, stdout);
		col += len;
		any = true;
	}
	putchar('\n');
}

/* A "# " paragraph of the sample. */
static void
gen_sample_para(const char *s)
{
	gen_fold(s, "# ", "# ", GEN_SAMPLE_WIDTH);
}

/*
 * A row's description as a sentence, then its range as the man page
 * gives it, as in "The longest delay.  Range: 1s to 1d." (caller frees).
 */
static char *
gen_sample_desc(const struct conf_def *d)
{
	size_t	 n = strlen(d->desc);
	char	*desc, *s;

	while (n > 0 && (d->desc[n - 1] == '.' || d->desc[n - 1] == ' '))
		n--;
	desc = xstrndup(d->desc, n);
	if (d->min != NULL && d->max != NULL)
		s = xasprintf("%s.  Range: %s to %s.", desc, d->min,
		    d->max);
	else if (d->min != NULL)
		s = xasprintf("%s.  At least %s.", desc, d->min);
	else if (d->max != NULL)
		s = xasprintf("%s.  At most %s.", desc, d->max);
	else
		s = xasprintf("%s.", desc);
	free(desc);
	return s;
}

/* "# ---- title ---...": a section line as wide as the sample. */
static void
gen_sample_section(const char *title)
{
	size_t	 col, dashes;

	printf("\n# ---- %s ", title);
	for (col = strlen(title) + 8, dashes = 0;
	    col < GEN_SAMPLE_WIDTH || dashes < 4; col++, dashes++)
		putchar('-');
	putchar('\n');
}

/* "#name = value", or "#name =" for an empty value. */
static void
gen_sample_setting(const char *service, const char *name, size_t namelen,
    const char *value)
{
	putchar('#');
	if (service != NULL)
		printf("%s.", service);
	fwrite(name, 1, namelen, stdout);
	if (*value == '\0')
		puts(" =");
	else
		printf(" = %s\n", value);
}

static void
gen_sample_head(void)
{
	char	*s;

	puts("# SPDX-License-Identifier: ISC");
	puts("#");
	s = xasprintf("postern.conf.sample: every setting of postern.conf "
	    "with its description, its range and its default, written by "
	    "gen-conf-man from postern's table of settings (changes here are "
	    "lost when it is written again).  Every line that sets something "
	    "is commented out at its default, so the file as it is means the "
	    "same as an empty one.  Copy it to %s/postern.conf, then remove "
	    "the \"#\" in front of each name you change and set its value.",
	    POSTERN_CONF_DIR);
	gen_sample_para(s);
	free(s);
	puts("#");
	gen_sample_para("\"postctl check\" checks the file and prints every "
	    "problem with its line.  \"postctl config -n\" shows the settings "
	    "that differ from the defaults, \"postctl config -d\" every "
	    "default, and \"postctl reload\" applies the file.  The full "
	    "reference is postern.conf(5).");
	puts("#");
	gen_sample_para("Format: \"name = value\" lines; \"#\" starts a "
	    "comment line; a line that starts with a space or tab continues "
	    "the previous value.  A name may appear once, an unknown name is "
	    "an error, and there is no $variable expansion.  Units: sizes in "
	    "bytes with k, m or g (powers of 1024); times in seconds with s, "
	    "m, h, d or w.  Lists: items separated by commas and/or spaces.");
}

static int
gen_sample_globals(void)
{
	const struct conf_def *d;
	char	*s;
	size_t	 i;

	for (i = 0; i < N_ELEMENTS(gen_layout); i++) {
		if (gen_layout[i].section != NULL) {
			gen_sample_section(gen_layout[i].section);
			continue;
		}
		if ((d = conf_def_find(gen_layout[i].name)) == NULL) {
			fprintf(stderr, "gen-conf-man: no row %s\n",
			    gen_layout[i].name);
			return -1;
		}
		putchar('\n');
		s = gen_sample_desc(d);
		gen_sample_para(s);
		free(s);
		gen_sample_setting(NULL, d->name, strlen(d->name), d->def);
	}
	return 0;
}

/*
 * The service settings as a table in prose: "#   SERVICE.name = default"
 * in a column, the description beside it.
 */
static void
gen_sample_svc(void)
{
	const struct conf_def *d;
	char	*left, *first, *more, *s;
	size_t	 i, len, col = 0;
	int	 w;

	gen_sample_section("Services");
	puts("#");
	gen_sample_para("A service is configured with \"SERVICE.setting = "
	    "value\" lines.  The built-in services (below) exist without any "
	    "line in the file; any other SERVICE name declares a new service, "
	    "which must set SERVICE.program.  The settings of every service "
	    "and their defaults:");
	puts("#");
	for (i = 0; i < conf_nsvc_defs; i++) {
		d = &conf_svc_defs[i];
		len = strlen("SERVICE. = ") + strlen(d->name) + strlen(d->def);
		if (len + 2 > col)
			col = len + 2;
	}
	if (col > GEN_SAMPLE_COL_MAX)
		col = GEN_SAMPLE_COL_MAX;
	w = (int)col;
	more = xasprintf("#   %*s", w, "");
	for (i = 0; i < conf_nsvc_defs; i++) {
		d = &conf_svc_defs[i];
		left = xasprintf("SERVICE.%s =%s%s", d->name,
		    d->def[0] == '\0' ? "" : " ", d->def);
		if (strlen(left) + 1 > col) {
			/* Too wide for the column: the text goes below. */
			printf("#   %s\n", left);
			first = xstrdup(more);
		} else
			first = xasprintf("#   %-*s", w, left);
		s = gen_sample_desc(d);
		gen_fold(s, first, more, GEN_SAMPLE_WIDTH);
		free(s);
		free(first);
		free(left);
	}
	free(more);
	puts("#");
	gen_sample_para("For example, a service of your own on a Unix socket:");
	puts("#");
	puts("#   myservice.program = /usr/local/libexec/myservice");
	puts("#   myservice.listen = private/myservice");
	puts("#   myservice.process_limit = 10");
}

/* Each built-in service: its description and its own values. */
static int
gen_sample_builtins(void)
{
	const struct conf_builtin_service *b;
	const char *p, *end, *eq;
	char	*s;
	size_t	 i;

	gen_sample_section("Built-in services");
	puts("#");
	if (conf_nbuiltin_services == 0) {
		gen_sample_para("This build has no built-in services: every "
		    "service is declared in the file.");
		return 0;
	}
	gen_sample_para("The master runs these services without any line in "
	    "the file.  The lines under each are the values in which it "
	    "differs from the service defaults above; every other setting "
	    "has its default.  \"SERVICE.enable = no\" turns a service off.");
	for (i = 0; i < conf_nbuiltin_services; i++) {
		b = &conf_builtin_services[i];
		putchar('\n');
		s = xasprintf("%s: %s%s", b->name, b->desc,
		    b->desc[0] != '\0' && b->desc[strlen(b->desc) - 1] == '.' ?
		    "" : ".");
		gen_sample_para(s);
		free(s);
		for (p = b->settings != NULL ? b->settings : ""; *p != '\0';
		    p = *end == ';' ? end + 1 : end) {
			if ((end = strchr(p, ';')) == NULL)
				end = p + strlen(p);
			if (end == p)
				continue;
			s = xstrndup(p, (size_t)(end - p));
			if ((eq = strchr(s, '=')) == NULL) {
				fprintf(stderr, "gen-conf-man: service %s: "
				    "\"%s\" is not setting=value\n", b->name,
				    s);
				free(s);
				return -1;
			}
			gen_sample_setting(b->name, s, (size_t)(eq - s),
			    eq + 1);
			free(s);
		}
	}
	return 0;
}

static int
gen_sample(void)
{
	gen_sample_head();
	if (gen_sample_globals() == -1)
		return EX_SOFTWARE;
	gen_sample_svc();
	if (gen_sample_builtins() == -1)
		return EX_SOFTWARE;
	if (fflush(stdout) == EOF || ferror(stdout)) {
		perror("gen-conf-man: stdout");
		return EX_IOERR;
	}
	return EX_OK;
}

/* ---- the man page ------------------------------------------------------ */

static int
gen_man(void)
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

int
main(int argc, char *argv[])
{
	if (argc == 2 && strcmp(argv[1], "--sample") == 0)
		return gen_sample();
	if (argc != 1) {
		fputs("usage: gen-conf-man < template > page\n"
		    "       gen-conf-man --sample > postern.conf.sample\n",
		    stderr);
		return EX_USAGE;
	}
	return gen_man();
}
