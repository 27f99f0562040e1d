/* SPDX-License-Identifier: ISC */
/*
 * libFuzzer target for the SMTP command and parameter parsers
 * (smtpd/smtp_parse.c).  The input is one command line as the daemon
 * would pass it (CRLF removed, so it may hold anything, NUL included).
 * It is split with smtp_parse_command(); MAIL and RCPT arguments then go
 * through the prefix, path and parameter parsers the way the daemon will
 * chain them, and the arguments of any verb through the generic parameter
 * splitter and the xtext decoder.  Invariants checked: an accepted verb is
 * 1..16 upper-case letters and args lie inside the line; every failure
 * sets a kind and a text; parameters point inside their string; decoded
 * values are printable ASCII; xtext encode/decode round-trips.
 */
/* fuzz-sources: smtpd/smtp_parse.c common/error.c common/str.c common/utf8.c */
/* fuzz-libs: */
#include "config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtpd/smtp_parse.h"

#include "common/banned.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Longest line handed to the parsers (smtpd_max_line_length's maximum). */
#define FUZZ_LINE_MAX	65536

static void
check_fail(int ret, enum smtp_parse_err kind, const char *error)
{
	if (ret == -1 && (kind == SMTP_PARSE_E_NONE || error == NULL))
		abort();
	if (ret != 0 && ret != -1)
		abort();
}

static void
check_printable(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 32 || (unsigned char)*s > 126)
			abort();
}

static void
fuzz_params(const char *rest)
{
	struct smtp_parse_params	 p;
	struct smtp_parse_mail		 m;
	struct smtp_parse_rcpt		 r;
	enum smtp_parse_err		 kind = SMTP_PARSE_E_NONE;
	const char			*error = NULL;
	size_t				 rlen = strlen(rest);
	unsigned int			 i;
	int				 ret;

	ret = smtp_parse_params(rest, (rlen & 1) != 0, &p, &kind, &error);
	check_fail(ret, kind, error);
	if (ret == 0) {
		if (p.count > SMTP_PARSE_PARAMS_MAX)
			abort();
		for (i = 0; i < p.count; i++) {
			if (p.param[i].key < rest || p.param[i].key +
			    p.param[i].key_len > rest + rlen ||
			    p.param[i].key_len == 0 ||
			    p.param[i].key_len > SMTP_PARSE_KEYWORD_MAX)
				abort();
			if (p.param[i].value != NULL &&
			    (p.param[i].value_len == 0 || p.param[i].value +
			    p.param[i].value_len > rest + rlen))
				abort();
		}
	}
	kind = SMTP_PARSE_E_NONE;
	error = NULL;
	ret = smtp_parse_mail_params(rest, rlen * 7, &m, &kind, &error);
	check_fail(ret, kind, error);
	if (ret == 0) {
		check_printable(m.envid);
		check_printable(m.auth);
		if (m.has_size && m.size > rlen * 7)
			abort();
	}
	kind = SMTP_PARSE_E_NONE;
	error = NULL;
	ret = smtp_parse_rcpt_params(rest, (rlen & 2) != 0, &r, &kind,
	    &error);
	check_fail(ret, kind, error);
	if (ret == 0) {
		if (r.orcpt_type == SMTP_PARSE_ORCPT_RFC822)
			check_printable(r.orcpt);
		if ((r.notify & SMTP_PARSE_NOTIFY_NEVER) != 0 &&
		    r.notify != SMTP_PARSE_NOTIFY_NEVER)
			abort();
	}
}

static void
fuzz_xtext(const char *s, size_t len)
{
	char		 dec[128], enc[3 * sizeof(dec)], dec2[sizeof(dec)];
	const char	*error = NULL;
	int		 n, e;

	n = smtp_parse_xtext_decode(s, len, dec, sizeof(dec), &error);
	if (n == -1) {
		if (error == NULL)
			abort();
		return;
	}
	if ((size_t)n >= sizeof(dec) || strlen(dec) != (size_t)n)
		abort();
	check_printable(dec);
	if ((e = smtp_parse_xtext_encode(dec, (size_t)n, enc,
	    sizeof(enc))) == -1)
		abort();
	if (smtp_parse_xtext_decode(enc, (size_t)e, dec2, sizeof(dec2),
	    &error) != n || memcmp(dec, dec2, (size_t)n) != 0)
		abort();
}

/* AUTH responses: base64 decodes within bounds and round-trips. */
static void
fuzz_base64(const char *in, size_t len)
{
	uint8_t	 out[FUZZ_LINE_MAX / 4 * 3 + 3];
	int	 n, small;

	n = smtp_parse_base64(in, len, out, sizeof(out));
	if (n < -1 || n > (int)(len / 4 * 3))
		abort();
	if (n >= 0 && len % 4 != 0)
		abort();
	/* One byte less room than needed must fail, never overflow. */
	if (n > 0) {
		small = smtp_parse_base64(in, len, out, (size_t)n - 1);
		if (small != -1)
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtp_parse_cmd	 cmd;
	struct smtp_parse_addr	 addr;
	enum smtp_parse_err	 kind = SMTP_PARSE_E_NONE;
	const char		*error = NULL, *rest, *path;
	char			*line;
	size_t			 i;
	int			 ret;
	bool			 mail;

	if (size > FUZZ_LINE_MAX)
		return 0;
	if ((line = malloc(size + 1)) == NULL)
		abort();
	memcpy(line, data, size);
	line[size] = '\0';
	fuzz_xtext(line, strlen(line));
	fuzz_base64(line, size);
	ret = smtp_parse_command(line, size, &cmd, &kind, &error);
	check_fail(ret, kind, error);
	if (ret == -1) {
		free(line);
		return 0;
	}
	for (i = 0; cmd.verb[i] != '\0'; i++)
		if (cmd.verb[i] < 'A' || cmd.verb[i] > 'Z')
			abort();
	if (i == 0 || i > SMTP_PARSE_VERB_MAX || cmd.args < line ||
	    cmd.args + cmd.args_len != line + size ||
	    strlen(cmd.args) != cmd.args_len)
		abort();
	fuzz_params(cmd.args);
	mail = strcmp(cmd.verb, "MAIL") == 0;
	if (mail || strcmp(cmd.verb, "RCPT") == 0) {
		kind = SMTP_PARSE_E_NONE;
		error = NULL;
		ret = smtp_parse_prefix(cmd.args, mail ? "FROM:" : "TO:",
		    &path, &kind, &error);
		check_fail(ret, kind, error);
		if (ret == 0) {
			ret = smtp_parse_path(path, (mail ?
			    SMTP_PARSE_F_ALLOW_EMPTY :
			    SMTP_PARSE_F_POSTMASTER) | ((size & 4) != 0 ?
			    SMTP_PARSE_F_SMTPUTF8 : 0), &addr, &rest, &kind,
			    &error);
			check_fail(ret, kind, error);
			if (ret == 0) {
				if (rest < path || rest > cmd.args +
				    cmd.args_len || *rest == ' ')
					abort();
				fuzz_params(rest);
			}
		}
	}
	free(line);
	return 0;
}
