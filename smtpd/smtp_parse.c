/* SPDX-License-Identifier: ISC */
/*
 * SMTP command, path and ESMTP parameter parsing.  Everything here is a
 * pure function over bytes the client sent: it trusts nothing, allocates
 * nothing and writes only into the caller's fixed-size structs, checking
 * every bound before it writes.  The grammar is RFC 5321 4.1 as written
 * (stricter than Postfix where Postfix is lax), with RFC 6531 UTF-8 when
 * the client asked for SMTPUTF8, and the DSN (RFC 3461, 6533), SIZE (RFC
 * 1870), BODY (RFC 6152, 3030) and AUTH (RFC 4954) parameters.
 */
#include "config.h"

#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "common/error.h"
#include "common/str.h"
#include "common/utf8.h"
#include "smtpd/smtp_parse.h"

#include "common/banned.h"

/* "[IPv6:" + the longest IPv6 text (45) + "]", with room to spare. */
#define LITERAL_MAX	64
/* RFC 5321 4.1.1.3: RCPT TO:<Postmaster>, without a domain. */
#define POSTMASTER	"postmaster"

static int
fail(enum smtp_parse_err kind, const char *text, enum smtp_parse_err *kind_r,
    const char **error_r)
{
	*kind_r = kind;
	*error_r = text;
	return -1;
}

static bool
is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool
is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static bool
is_atext(unsigned char c)
{
	return is_alpha(c) || is_digit(c) || (c != '\0' &&
	    strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

static unsigned char
to_lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

/*
 * Length of the well-formed UTF-8 sequence for a non-ASCII character at
 * p (avail bytes available), or 0.  Refuses overlong forms, surrogates,
 * code points above U+10FFFF and the C1 controls U+0080-U+009F
 * (RFC 3629 4 table; RFC 6531 forbids controls in addresses).
 */
static size_t
utf8_seq(const unsigned char *p, size_t avail)
{
	uint32_t	cp;
	size_t		n;

	n = utf8_decode(p, avail, &cp);
	return n < 2 || cp < 0xa0 ? 0 : n;
}

/* Checks a non-ASCII byte at p: E_8BIT, or E_SYNTAX when malformed. */
static size_t
utf8_check(const unsigned char *p, bool utf8, enum smtp_parse_err *kind_r,
    const char **error_r)
{
	size_t	n;

	if (!utf8) {
		(void)fail(SMTP_PARSE_E_8BIT,
		    "Non-ASCII address requires SMTPUTF8", kind_r, error_r);
		return 0;
	}
	if ((n = utf8_seq(p, strnlen((const char *)p, 4))) == 0)
		(void)fail(SMTP_PARSE_E_SYNTAX, "Malformed UTF-8 in address",
		    kind_r, error_r);
	return n;
}

int
smtp_parse_command(const char *line, size_t len, struct smtp_parse_cmd *cmd_r,
    enum smtp_parse_err *kind_r, const char **error_r)
{
	const unsigned char	*p = (const unsigned char *)line;
	size_t			 i, vlen;

	for (i = 0; i < len; i++)
		if (p[i] < 0x20 || p[i] == 0x7f)
			return fail(SMTP_PARSE_E_SYNTAX,
			    "Control character in command", kind_r, error_r);
	if (len == 0)
		return fail(SMTP_PARSE_E_SYNTAX, "Empty command", kind_r,
		    error_r);
	for (vlen = 0; vlen < len && is_alpha(p[vlen]); vlen++)
		;
	if (vlen == 0 || (vlen < len && p[vlen] != ' '))
		return fail(SMTP_PARSE_E_SYNTAX, "Malformed command verb",
		    kind_r, error_r);
	if (vlen > SMTP_PARSE_VERB_MAX)
		return fail(SMTP_PARSE_E_TOO_LONG, "Command verb too long",
		    kind_r, error_r);
	for (i = 0; i < vlen; i++)
		cmd_r->verb[i] = (char)(p[i] >= 'a' ? p[i] - 'a' + 'A' : p[i]);
	cmd_r->verb[vlen] = '\0';
	/* RFC 5321 4.1.1 says one SP; we skip several, as Postfix does. */
	for (i = vlen; i < len && p[i] == ' '; i++)
		;
	cmd_r->args = line + i;
	cmd_r->args_len = len - i;
	return 0;
}

int
smtp_parse_prefix(const char *args, const char *keyword, const char **rest_r,
    enum smtp_parse_err *kind_r, const char **error_r)
{
	size_t	i;

	for (i = 0; keyword[i] != '\0'; i++)
		if (to_lower((unsigned char)args[i]) !=
		    to_lower((unsigned char)keyword[i]))
			return fail(SMTP_PARSE_E_SYNTAX,
			    error_fmt("Syntax: expected %s<address>", keyword),
			    kind_r, error_r);
	*rest_r = args + i;
	return 0;
}

/*
 * Parses a Domain (sub-domains of letter-digit-hyphen labels, UTF-8
 * letters under SMTPUTF8) at *pp, appends it lower-cased to out[*olen]
 * (out has room for SMTP_PARSE_DOMAIN_MAX more bytes) and advances *pp to
 * the first byte after it.
 */
static int
parse_domain(const char **pp, bool utf8, char *out, size_t *olen,
    enum smtp_parse_err *kind_r, const char **error_r)
{
	const unsigned char	*p = (const unsigned char *)*pp;
	size_t			 dlen = 0, llen, n;
	unsigned char		 last;

	for (;;) {
		llen = 0;
		last = '-';
		for (;;) {
			if (is_alpha(*p) || is_digit(*p) ||
			    (*p == '-' && llen > 0))
				n = 1;
			else if (*p >= 0x80) {
				if ((n = utf8_check(p, utf8, kind_r,
				    error_r)) == 0)
					return -1;
			} else
				break;
			if (dlen + n > SMTP_PARSE_DOMAIN_MAX)
				return fail(SMTP_PARSE_E_TOO_LONG,
				    "Domain too long", kind_r, error_r);
			if (llen + n > SMTP_PARSE_LABEL_MAX)
				return fail(SMTP_PARSE_E_TOO_LONG,
				    "Domain label too long", kind_r, error_r);
			last = *p;
			while (n-- > 0) {
				out[(*olen)++] = (char)to_lower(*p++);
				dlen++;
				llen++;
			}
		}
		if (llen == 0 || last == '-')
			return fail(SMTP_PARSE_E_SYNTAX,
			    "Malformed domain in address", kind_r, error_r);
		if (*p != '.')
			break;
		if (dlen + 1 > SMTP_PARSE_DOMAIN_MAX)
			return fail(SMTP_PARSE_E_TOO_LONG, "Domain too long",
			    kind_r, error_r);
		out[(*olen)++] = '.';
		dlen++;
		p++;
	}
	*pp = (const char *)p;
	return 0;
}

/* Parses "[1.2.3.4]" or "[IPv6:...]" at *pp into out[*olen]. */
static int
parse_literal(const char **pp, char *out, size_t *olen,
    enum smtp_parse_err *kind_r, const char **error_r)
{
	const char	*p = *pp + 1, *end;
	char		 text[LITERAL_MAX + 1];
	unsigned char	 addr[sizeof(struct in6_addr)];
	size_t		 len, i;
	bool		 v6;

	if ((end = strchr(p, ']')) == NULL || (len = (size_t)(end - p)) >
	    LITERAL_MAX)
		return fail(SMTP_PARSE_E_SYNTAX, "Malformed address literal",
		    kind_r, error_r);
	memcpy(text, p, len);
	text[len] = '\0';
	v6 = len > 5 && to_lower((unsigned char)text[0]) == 'i' &&
	    to_lower((unsigned char)text[1]) == 'p' &&
	    to_lower((unsigned char)text[2]) == 'v' && text[3] == '6' &&
	    text[4] == ':';
	if (v6 ? inet_pton(AF_INET6, text + 5, addr) != 1 :
	    inet_pton(AF_INET, text, addr) != 1)
		return fail(SMTP_PARSE_E_SYNTAX, "Malformed address literal",
		    kind_r, error_r);
	out[(*olen)++] = '[';
	if (v6) {
		memcpy(out + *olen, "IPv6:", 5);
		*olen += 5;
	}
	for (i = v6 ? 5 : 0; i < len; i++)
		out[(*olen)++] = (char)to_lower((unsigned char)text[i]);
	out[(*olen)++] = ']';
	*pp = end + 1;
	return 0;
}

/*
 * Is s[0..len) a Dot-string (atoms of atext, or UTF-8 when utf8, joined
 * by single dots)?  Used to decide whether a local part needs quotes.
 */
static bool
is_dot_string(const char *s, size_t len, bool utf8)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 i, n;
	bool			 atom = false;

	for (i = 0; i < len; i += n) {
		n = 1;
		if (p[i] == '.') {
			if (!atom)
				return false;
			atom = false;
			continue;
		}
		if (p[i] >= 0x80) {
			if (!utf8 || (n = utf8_seq(p + i, len - i)) == 0)
				return false;
		} else if (!is_atext(p[i]))
			return false;
		atom = true;
	}
	return atom;
}

/* Parses the Local-part at *pp into out[0..*olen), normalised. */
static int
parse_local(const char **pp, bool utf8, char *out, size_t *olen,
    enum smtp_parse_err *kind_r, const char **error_r)
{
	const unsigned char	*p = (const unsigned char *)*pp, *start = p;
	char			 q[SMTP_PARSE_LOCAL_MAX] = "";
	size_t			 qlen = 0, n, i;

	if (*p != '"') {
		while (is_atext(*p) || *p == '.' || *p >= 0x80) {
			n = 1;
			if (*p >= 0x80 && (n = utf8_check(p, utf8, kind_r,
			    error_r)) == 0)
				return -1;
			if ((size_t)(p - start) + n > SMTP_PARSE_LOCAL_MAX)
				return fail(SMTP_PARSE_E_TOO_LONG,
				    "Local part too long", kind_r, error_r);
			p += n;
		}
		if (!is_dot_string((const char *)start, (size_t)(p - start),
		    utf8))
			return fail(SMTP_PARSE_E_SYNTAX,
			    "Malformed local part", kind_r, error_r);
		memcpy(out, start, (size_t)(p - start));
		*olen = (size_t)(p - start);
		*pp = (const char *)p;
		return 0;
	}
	/* Quoted-string: qtextSMTP / quoted-pairSMTP (RFC 5321 4.1.2). */
	for (p++;;) {
		n = 1;
		if (*p == '"')
			break;
		if (*p == '\\') {
			p++;
			/* quoted-pairSMTP is ASCII even under RFC 6531. */
			if (*p < 32 || *p > 126)
				return fail(SMTP_PARSE_E_SYNTAX,
				    "Malformed quoted local part", kind_r,
				    error_r);
		} else if (*p >= 0x80) {
			if ((n = utf8_check(p, utf8, kind_r, error_r)) == 0)
				return -1;
		} else if (*p < 32 || *p > 126)
			return fail(SMTP_PARSE_E_SYNTAX,
			    "Malformed quoted local part", kind_r, error_r);
		if ((size_t)(p - start) + n + 1 > SMTP_PARSE_LOCAL_MAX)
			return fail(SMTP_PARSE_E_TOO_LONG,
			    "Local part too long", kind_r, error_r);
		while (n-- > 0)
			q[qlen++] = (char)*p++;
	}
	p++;
	/* UNSAFE: the encoded form below is never longer than the input. */
	if (is_dot_string(q, qlen, utf8)) {
		memcpy(out, q, qlen);
		*olen = qlen;
	} else {
		*olen = 0;
		out[(*olen)++] = '"';
		for (i = 0; i < qlen; i++) {
			if (q[i] == '"' || q[i] == '\\')
				out[(*olen)++] = '\\';
			out[(*olen)++] = q[i];
		}
		out[(*olen)++] = '"';
	}
	*pp = (const char *)p;
	return 0;
}

int
smtp_parse_path(const char *arg, unsigned int flags,
    struct smtp_parse_addr *addr_r, const char **rest_r,
    enum smtp_parse_err *kind_r, const char **error_r)
{
	/* Room for local part "@" domain; checked against PATH_MAX later. */
	char		 out[SMTP_PARSE_LOCAL_MAX + SMTP_PARSE_DOMAIN_MAX + 2];
	char		 route[SMTP_PARSE_DOMAIN_MAX + 1];
	const char	*p = arg;
	size_t		 olen = 0, rlen, llen = 0, i;
	bool		 utf8 = (flags & SMTP_PARSE_F_SMTPUTF8) != 0;
	bool		 postmaster = false;

	if (*p != '<')
		return fail(SMTP_PARSE_E_SYNTAX,
		    "Address must be enclosed in <>", kind_r, error_r);
	p++;
	if (*p == '>') {
		if ((flags & SMTP_PARSE_F_ALLOW_EMPTY) == 0)
			return fail(SMTP_PARSE_E_NULL_PATH,
			    "Null address not allowed here", kind_r, error_r);
		p++;
	} else if ((flags & SMTP_PARSE_F_POSTMASTER) != 0 &&
	    strncasecmp(p, POSTMASTER ">", sizeof(POSTMASTER)) == 0) {
		memcpy(out, POSTMASTER, sizeof(POSTMASTER) - 1);
		olen = llen = sizeof(POSTMASTER) - 1;
		p += sizeof(POSTMASTER);
		postmaster = true;
	} else {
		/* A-d-l ":" (RFC 5321 4.1.2, C): validated, then dropped. */
		if (*p == '@') {
			for (;;) {
				p++;
				rlen = 0;
				if (parse_domain(&p, utf8, route, &rlen,
				    kind_r, error_r) == -1)
					return -1;
				if (*p == ':')
					break;
				if (p[0] != ',' || p[1] != '@')
					return fail(SMTP_PARSE_E_SYNTAX,
					    "Malformed source route", kind_r,
					    error_r);
				p++;
			}
			p++;
		}
		if (parse_local(&p, utf8, out, &olen, kind_r, error_r) == -1)
			return -1;
		llen = olen;
		if (*p != '@')
			return fail(SMTP_PARSE_E_SYNTAX,
			    "Address needs local@domain", kind_r, error_r);
		out[olen++] = *p++;
		if (*p == '[') {
			rlen = 0;
			if (parse_literal(&p, route, &rlen, kind_r,
			    error_r) == -1)
				return -1;
			if (rlen > SMTP_PARSE_DOMAIN_MAX)
				return fail(SMTP_PARSE_E_TOO_LONG,
				    "Domain too long", kind_r, error_r);
			memcpy(out + olen, route, rlen);
			olen += rlen;
		} else if (parse_domain(&p, utf8, out, &olen, kind_r,
		    error_r) == -1)
			return -1;
		if (*p != '>')
			return fail(SMTP_PARSE_E_SYNTAX,
			    "Malformed address: expected >", kind_r, error_r);
		p++;
	}
	if ((size_t)(p - arg) > SMTP_PARSE_PATH_MAX)
		return fail(SMTP_PARSE_E_TOO_LONG, "Address too long", kind_r,
		    error_r);
	if (*p != '\0' && *p != ' ')
		return fail(SMTP_PARSE_E_SYNTAX,
		    "Garbage after address", kind_r, error_r);
	while (*p == ' ')
		p++;
	/* UNSAFE: olen <= (p - arg) - 2 <= PATH_MAX - 2: checked above. */
	memcpy(addr_r->addr, out, olen);
	addr_r->addr[olen] = '\0';
	addr_r->null_path = olen == 0;
	addr_r->local_len = llen;
	addr_r->postmaster = postmaster;
	addr_r->utf8 = false;
	for (i = 0; i < olen; i++)
		if ((unsigned char)out[i] >= 0x80)
			addr_r->utf8 = true;
	*rest_r = p;
	return 0;
}

static bool
is_value_char(unsigned char c)
{
	return c >= 33 && c <= 126 && c != '=';
}

int
smtp_parse_params(const char *rest, bool utf8,
    struct smtp_parse_params *params_r, enum smtp_parse_err *kind_r,
    const char **error_r)
{
	const unsigned char	*p = (const unsigned char *)rest;
	struct smtp_parse_param	*pa;
	size_t			 n;
	unsigned int		 i;

	params_r->count = 0;
	for (;;) {
		while (*p == ' ')
			p++;
		if (*p == '\0')
			return 0;
		if (params_r->count == SMTP_PARSE_PARAMS_MAX)
			return fail(SMTP_PARSE_E_PARAM_SYNTAX,
			    "Too many parameters", kind_r, error_r);
		pa = &params_r->param[params_r->count];
		pa->key = (const char *)p;
		if (!is_alpha(*p) && !is_digit(*p))
			return fail(SMTP_PARSE_E_PARAM_SYNTAX,
			    "Malformed parameter keyword", kind_r, error_r);
		while (is_alpha(*p) || is_digit(*p) || *p == '-')
			p++;
		pa->key_len = (size_t)((const char *)p - pa->key);
		if (pa->key_len > SMTP_PARSE_KEYWORD_MAX)
			return fail(SMTP_PARSE_E_PARAM_SYNTAX,
			    "Parameter keyword too long", kind_r, error_r);
		pa->value = NULL;
		pa->value_len = 0;
		if (*p == '=') {
			pa->value = (const char *)++p;
			for (;;) {
				if (is_value_char(*p))
					n = 1;
				else if (*p >= 0x80) {
					if (!utf8)
						return fail(SMTP_PARSE_E_8BIT,
						    "Non-ASCII parameter "
						    "requires SMTPUTF8",
						    kind_r, error_r);
					if ((n = utf8_seq(p, strnlen(
					    (const char *)p, 4))) == 0)
						return fail(
						    SMTP_PARSE_E_PARAM_SYNTAX,
						    "Malformed UTF-8 in "
						    "parameter", kind_r,
						    error_r);
				} else
					break;
				p += n;
			}
			pa->value_len = (size_t)((const char *)p - pa->value);
			if (pa->value_len == 0)
				return fail(SMTP_PARSE_E_PARAM_SYNTAX,
				    "Empty parameter value", kind_r, error_r);
		}
		if (*p != ' ' && *p != '\0')
			return fail(SMTP_PARSE_E_PARAM_SYNTAX,
			    "Malformed parameter", kind_r, error_r);
		for (i = 0; i < params_r->count; i++)
			if (params_r->param[i].key_len == pa->key_len &&
			    strncasecmp(params_r->param[i].key, pa->key,
			    pa->key_len) == 0)
				return fail(SMTP_PARSE_E_PARAM_SYNTAX,
				    "Duplicate parameter", kind_r, error_r);
		params_r->count++;
	}
}

/* Does the counted string s equal the literal lit, ignoring ASCII case? */
static bool
eq_icase(const char *s, size_t len, const char *lit)
{
	return strlen(lit) == len && strncasecmp(s, lit, len) == 0;
}

static int
hex_upper(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
smtp_parse_xtext_decode(const char *src, size_t len, char *dst, size_t size,
    const char **error_r)
{
	const unsigned char	*p = (const unsigned char *)src;
	size_t			 i, o = 0;
	int			 hi, lo;
	unsigned char		 c;

	if (len == 0) {
		*error_r = "Empty xtext";
		return -1;
	}
	for (i = 0; i < len; i++) {
		c = p[i];
		if (c == '+') {
			if (len - i < 3 || (hi = hex_upper(p[i + 1])) == -1 ||
			    (lo = hex_upper(p[i + 2])) == -1) {
				*error_r = "Malformed xtext hex escape";
				return -1;
			}
			c = (unsigned char)(hi * 16 + lo);
			i += 2;
			if (c < 32 || c > 126) {
				*error_r = "Non-printable character in xtext";
				return -1;
			}
		} else if (c < 33 || c > 126 || c == '=') {
			*error_r = "Malformed xtext";
			return -1;
		}
		if (o + 1 >= size) {
			*error_r = "xtext too long";
			return -1;
		}
		dst[o++] = (char)c;
	}
	dst[o] = '\0';
	return (int)o;
}

int
smtp_parse_xtext_encode(const char *src, size_t len, char *dst, size_t size)
{
	static const char	 hex[] = "0123456789ABCDEF";
	const unsigned char	*p = (const unsigned char *)src;
	size_t			 i, o = 0;

	if (size == 0 || len > INT32_MAX / 3)
		return -1;
	for (i = 0; i < len; i++) {
		if (p[i] < 33 || p[i] > 126 || p[i] == '+' || p[i] == '=') {
			if (o + 3 >= size)
				return -1;
			dst[o++] = '+';
			dst[o++] = hex[p[i] >> 4];
			dst[o++] = hex[p[i] & 0x0f];
		} else {
			if (o + 1 >= size)
				return -1;
			dst[o++] = (char)p[i];
		}
	}
	dst[o] = '\0';
	return (int)o;
}

/* SIZE=digits (RFC 1870): malformed is 501, too big is 552. */
static int
parse_size(const struct smtp_parse_param *pa, uint64_t max, uint64_t *size_r,
    enum smtp_parse_err *kind_r, const char **error_r)
{
	size_t	i;

	if (pa->value == NULL)
		return fail(SMTP_PARSE_E_PARAM_SYNTAX, "SIZE needs a value",
		    kind_r, error_r);
	for (i = 0; i < pa->value_len; i++)
		if (!is_digit((unsigned char)pa->value[i]))
			return fail(SMTP_PARSE_E_PARAM_SYNTAX,
			    "Malformed SIZE", kind_r, error_r);
	/* Digits only: parse_u64_n fails only above max (or 2^64). */
	if (parse_u64_n(pa->value, pa->value_len, max, size_r) == -1)
		return fail(SMTP_PARSE_E_SIZE,
		    "Message size exceeds fixed limit", kind_r, error_r);
	return 0;
}

static int
parse_xtext_param(const struct smtp_parse_param *pa, size_t max, char *dst,
    size_t size, const char *name, enum smtp_parse_err *kind_r,
    const char **error_r)
{
	const char	*err;

	if (pa->value == NULL)
		return fail(SMTP_PARSE_E_PARAM_SYNTAX,
		    error_fmt("%s needs a value", name), kind_r, error_r);
	if (pa->value_len > max)
		return fail(SMTP_PARSE_E_PARAM_SYNTAX,
		    error_fmt("%s too long", name), kind_r, error_r);
	if (smtp_parse_xtext_decode(pa->value, pa->value_len, dst, size,
	    &err) == -1)
		return fail(SMTP_PARSE_E_PARAM_SYNTAX,
		    error_fmt("Malformed %s: %s", name, err), kind_r, error_r);
	return 0;
}

int
smtp_parse_mail_params(const char *rest, uint64_t max_size,
    struct smtp_parse_mail *mail_r, enum smtp_parse_err *kind_r,
    const char **error_r)
{
	struct smtp_parse_params	 params;
	const struct smtp_parse_param	*pa;
	unsigned int			 i;
	size_t				 j;
	bool				 eightbit = false;

	memset(mail_r, 0, sizeof(*mail_r));
	/* SMTPUTF8 may come after the value it allows: check afterwards. */
	if (smtp_parse_params(rest, true, &params, kind_r, error_r) == -1)
		return -1;
	for (i = 0; i < params.count; i++) {
		pa = &params.param[i];
		for (j = 0; j < pa->value_len; j++)
			if ((unsigned char)pa->value[j] >= 0x80)
				eightbit = true;
		if (eq_icase(pa->key, pa->key_len, "SIZE")) {
			if (parse_size(pa, max_size, &mail_r->size, kind_r,
			    error_r) == -1)
				return -1;
			mail_r->has_size = true;
		} else if (eq_icase(pa->key, pa->key_len, "BODY")) {
			if (pa->value == NULL)
				mail_r->body = SMTP_PARSE_BODY_NONE;
			else if (eq_icase(pa->value, pa->value_len, "7BIT"))
				mail_r->body = SMTP_PARSE_BODY_7BIT;
			else if (eq_icase(pa->value, pa->value_len,
			    "8BITMIME"))
				mail_r->body = SMTP_PARSE_BODY_8BITMIME;
			else if (eq_icase(pa->value, pa->value_len,
			    "BINARYMIME"))
				mail_r->body = SMTP_PARSE_BODY_BINARYMIME;
			if (mail_r->body == SMTP_PARSE_BODY_NONE)
				return fail(SMTP_PARSE_E_PARAM_SYNTAX,
				    "Malformed BODY", kind_r, error_r);
		} else if (eq_icase(pa->key, pa->key_len, "SMTPUTF8")) {
			if (pa->value != NULL)
				return fail(SMTP_PARSE_E_PARAM_SYNTAX,
				    "SMTPUTF8 takes no value", kind_r,
				    error_r);
			mail_r->smtputf8 = true;
		} else if (eq_icase(pa->key, pa->key_len, "RET")) {
			if (pa->value != NULL && eq_icase(pa->value,
			    pa->value_len, "FULL"))
				mail_r->ret = SMTP_PARSE_RET_FULL;
			else if (pa->value != NULL && eq_icase(pa->value,
			    pa->value_len, "HDRS"))
				mail_r->ret = SMTP_PARSE_RET_HDRS;
			else
				return fail(SMTP_PARSE_E_PARAM_SYNTAX,
				    "Malformed RET", kind_r, error_r);
		} else if (eq_icase(pa->key, pa->key_len, "ENVID")) {
			if (parse_xtext_param(pa, SMTP_PARSE_ENVID_MAX,
			    mail_r->envid, sizeof(mail_r->envid), "ENVID",
			    kind_r, error_r) == -1)
				return -1;
			mail_r->has_envid = true;
		} else if (eq_icase(pa->key, pa->key_len, "AUTH")) {
			if (pa->value != NULL &&
			    eq_icase(pa->value, pa->value_len, "<>"))
				mail_r->auth_empty = true;
			else if (parse_xtext_param(pa, SMTP_PARSE_AUTH_MAX,
			    mail_r->auth, sizeof(mail_r->auth), "AUTH",
			    kind_r, error_r) == -1)
				return -1;
			mail_r->has_auth = true;
		} else
			return fail(SMTP_PARSE_E_PARAM_UNKNOWN,
			    "Unsupported MAIL parameter", kind_r, error_r);
	}
	if (eightbit && !mail_r->smtputf8)
		return fail(SMTP_PARSE_E_8BIT,
		    "Non-ASCII parameter requires SMTPUTF8", kind_r, error_r);
	return 0;
}

static int
parse_notify(const struct smtp_parse_param *pa, unsigned int *notify_r,
    enum smtp_parse_err *kind_r, const char **error_r)
{
	const char	*p, *end, *comma;
	size_t		 len;
	unsigned int	 bit, notify = 0;

	if (pa->value == NULL)
		return fail(SMTP_PARSE_E_PARAM_SYNTAX, "NOTIFY needs a value",
		    kind_r, error_r);
	p = pa->value;
	end = pa->value + pa->value_len;
	for (;;) {
		if ((comma = memchr(p, ',', (size_t)(end - p))) == NULL)
			comma = end;
		len = (size_t)(comma - p);
		if (eq_icase(p, len, "NEVER"))
			bit = SMTP_PARSE_NOTIFY_NEVER;
		else if (eq_icase(p, len, "SUCCESS"))
			bit = SMTP_PARSE_NOTIFY_SUCCESS;
		else if (eq_icase(p, len, "FAILURE"))
			bit = SMTP_PARSE_NOTIFY_FAILURE;
		else if (eq_icase(p, len, "DELAY"))
			bit = SMTP_PARSE_NOTIFY_DELAY;
		else
			return fail(SMTP_PARSE_E_PARAM_SYNTAX,
			    "Malformed NOTIFY", kind_r, error_r);
		if ((notify & bit) != 0)
			return fail(SMTP_PARSE_E_PARAM_SYNTAX,
			    "Repeated NOTIFY keyword", kind_r, error_r);
		notify |= bit;
		if (comma == end)
			break;
		p = comma + 1;
	}
	/* RFC 3461 4.1: NEVER must appear alone. */
	if ((notify & SMTP_PARSE_NOTIFY_NEVER) != 0 &&
	    notify != SMTP_PARSE_NOTIFY_NEVER)
		return fail(SMTP_PARSE_E_PARAM_SYNTAX,
		    "NOTIFY=NEVER must be alone", kind_r, error_r);
	*notify_r = notify;
	return 0;
}

/*
 * RFC 6533 3: utf-8-addr-xtext / utf-8-addr-unitext.  QCHAR is printable
 * ASCII but "+", "=" and "\"; "\x{HEX}" (upper-case hex, 2 to 6 digits,
 * no leading zero beyond two digits) embeds a code point; raw UTF-8 only
 * when the transaction is SMTPUTF8.  Decoded controls are refused.  Every
 * form decodes to fewer bytes than it takes, so dst of the value's size
 * suffices.
 */
static int
decode_utf8_addr(const char *src, size_t len, bool smtputf8, char *dst,
    enum smtp_parse_err *kind_r, const char **error_r)
{
	const unsigned char	*p = (const unsigned char *)src;
	size_t			 i = 0, o = 0, n, d;
	uint32_t		 cp;
	int			 h;

	if (len == 0)
		return fail(SMTP_PARSE_E_PARAM_SYNTAX, "Empty ORCPT address",
		    kind_r, error_r);
	while (i < len) {
		if (p[i] == '\\') {
			if (len - i < 5 || p[i + 1] != 'x' || p[i + 2] != '{')
				goto bad;
			cp = 0;
			for (d = 0, i += 3; i < len && p[i] != '}'; i++, d++) {
				if (d == 6 || (h = hex_upper(p[i])) == -1)
					goto bad;
				cp = cp * 16 + (uint32_t)h;
			}
			if (i == len || d < 2 || (d > 2 && src[i - d] == '0'))
				goto bad;
			i++;
			if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0) ||
			    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
				goto bad;
			o += utf8_encode(cp, dst + o);
		} else if (p[i] >= 0x80) {
			if (!smtputf8)
				return fail(SMTP_PARSE_E_8BIT,
				    "Non-ASCII ORCPT requires SMTPUTF8",
				    kind_r, error_r);
			if ((n = utf8_seq(p + i, len - i)) == 0)
				goto bad;
			memcpy(dst + o, p + i, n);
			o += n;
			i += n;
		} else if (p[i] >= 33 && p[i] <= 126 && p[i] != '+' &&
		    p[i] != '=') {
			dst[o++] = (char)p[i++];
		} else
			goto bad;
	}
	dst[o] = '\0';
	return 0;
bad:
	return fail(SMTP_PARSE_E_PARAM_SYNTAX, "Malformed utf-8 ORCPT",
	    kind_r, error_r);
}

int
smtp_parse_rcpt_params(const char *rest, bool smtputf8,
    struct smtp_parse_rcpt *rcpt_r, enum smtp_parse_err *kind_r,
    const char **error_r)
{
	struct smtp_parse_params	 params;
	const struct smtp_parse_param	*pa;
	const char			*semi, *addr, *err;
	size_t				 tlen, alen;
	unsigned int			 i;

	memset(rcpt_r, 0, sizeof(*rcpt_r));
	if (smtp_parse_params(rest, smtputf8, &params, kind_r, error_r) == -1)
		return -1;
	for (i = 0; i < params.count; i++) {
		pa = &params.param[i];
		if (eq_icase(pa->key, pa->key_len, "NOTIFY")) {
			if (parse_notify(pa, &rcpt_r->notify, kind_r,
			    error_r) == -1)
				return -1;
		} else if (eq_icase(pa->key, pa->key_len, "ORCPT")) {
			if (pa->value == NULL || pa->value_len >
			    SMTP_PARSE_ORCPT_MAX || (semi = memchr(pa->value,
			    ';', pa->value_len)) == NULL)
				return fail(SMTP_PARSE_E_PARAM_SYNTAX,
				    "Malformed ORCPT", kind_r, error_r);
			tlen = (size_t)(semi - pa->value);
			addr = semi + 1;
			alen = pa->value_len - tlen - 1;
			if (eq_icase(pa->value, tlen, "rfc822")) {
				if (smtp_parse_xtext_decode(addr, alen,
				    rcpt_r->orcpt, sizeof(rcpt_r->orcpt),
				    &err) == -1)
					return fail(SMTP_PARSE_E_PARAM_SYNTAX,
					    error_fmt("Malformed ORCPT: %s",
					    err), kind_r, error_r);
				rcpt_r->orcpt_type = SMTP_PARSE_ORCPT_RFC822;
			} else if (eq_icase(pa->value, tlen, "utf-8")) {
				if (decode_utf8_addr(addr, alen, smtputf8,
				    rcpt_r->orcpt, kind_r, error_r) == -1)
					return -1;
				rcpt_r->orcpt_type = SMTP_PARSE_ORCPT_UTF8;
			} else
				return fail(SMTP_PARSE_E_PARAM_SYNTAX,
				    "Unsupported ORCPT address type", kind_r,
				    error_r);
		} else
			return fail(SMTP_PARSE_E_PARAM_UNKNOWN,
			    "Unsupported RCPT parameter", kind_r, error_r);
	}
	return 0;
}

/* ---- base64 (AUTH) ---------------------------------------------------- */

int
smtp_parse_base64(const char *src, size_t len, uint8_t *dst, size_t size)
{
	size_t	i, o = 0;
	int	v[4], j, pad;

	if (len % 4 != 0)
		return -1;
	for (i = 0; i < len; i += 4) {
		pad = 0;
		for (j = 0; j < 4; j++) {
			if (src[i + j] == '=' && i + 4 == len && j >= 2) {
				v[j] = 0;
				pad++;
				continue;
			}
			if (pad > 0 || (v[j] = str_base64_value(
			    (unsigned char)src[i + j], '/')) == -1)
				return -1;
		}
		/* UNSAFE: o + 3 <= size checked before each group. */
		if (o + 3 - (size_t)pad > size)
			return -1;
		dst[o++] = (uint8_t)(v[0] << 2 | v[1] >> 4);
		if (pad < 2)
			dst[o++] = (uint8_t)((v[1] & 0xf) << 4 | v[2] >> 2);
		if (pad < 1)
			dst[o++] = (uint8_t)((v[2] & 0x3) << 6 | v[3]);
	}
	return (int)o;
}
