/* SPDX-License-Identifier: ISC */
/*
 * SMTP command line, path and ESMTP parameter parsing (RFC 5321 4.1,
 * RFC 1870, 3461, 4954, 6152, 6531, 6533, 3030).  Pure functions over
 * bytes: no I/O, no session, no allocation.  The daemon reads a line with
 * net_read_line() (CRLF removed), passes it here with its limits and maps
 * the error kind to a reply code (see enum smtp_parse_err).
 *
 * Every function returns 0 on success or -1 with *kind_r set to the kind
 * of error and *error_r to a short English text fit for the client (it
 * never quotes the input; it is a literal or made by error_fmt(), so it
 * stays valid for a while, see common/error.h).  Outputs are written only
 * on success unless said otherwise.
 */
#ifndef POSTERN_SMTP_PARSE_H
#define POSTERN_SMTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/compat.h"

/*
 * RFC 5321 4.5.3.1: local part 64 octets, domain 255 octets, a whole
 * reverse- or forward-path 256 octets "including the punctuation and
 * element separators", i.e. from "<" to ">" inclusive, source route too.
 * The local part is measured as sent (quotes and backslashes included);
 * RFC 1035 limits each domain label to 63 octets.
 */
#define SMTP_PARSE_LOCAL_MAX	64
#define SMTP_PARSE_DOMAIN_MAX	255
#define SMTP_PARSE_LABEL_MAX	63
#define SMTP_PARSE_PATH_MAX	256
/* The longest verb we split off (the longest real one, STARTTLS, is 8). */
#define SMTP_PARSE_VERB_MAX	16
/* ESMTP parameters per MAIL or RCPT command; one more is an error. */
#define SMTP_PARSE_PARAMS_MAX	16
/* Longest esmtp-keyword accepted. */
#define SMTP_PARSE_KEYWORD_MAX	32
/* RFC 3461 4.4: the ENVID value (as sent, xtext) is at most 100 chars. */
#define SMTP_PARSE_ENVID_MAX	100
/* RFC 3461 4.2: the ORCPT value (as sent) is at most 500 chars. */
#define SMTP_PARSE_ORCPT_MAX	500
/* AUTH= mailbox (RFC 4954 5) as sent; not limited by the RFC, we use 500. */
#define SMTP_PARSE_AUTH_MAX	500

/*
 * Error kinds, with the reply the daemon is expected to send.  For paths
 * the enhanced code is 5.1.7 for the sender (MAIL), 5.1.3 for a recipient
 * (RCPT).
 *
 *	E_SYNTAX	501 5.5.2 command line; 501 5.1.7 / 5.1.3 path
 *	E_TOO_LONG	501 5.5.2 verb; 501 5.1.7 / 5.1.3 path
 *	E_8BIT		553 5.6.7 non-ASCII without SMTPUTF8 (RFC 6531 3.7.4)
 *	E_NULL_PATH	501 5.1.3 "<>" where it is not allowed
 *	E_PARAM_SYNTAX	501 5.5.4 malformed, duplicate or too many parameters
 *	E_PARAM_UNKNOWN	555 5.5.4 keyword not known for this command
 *	E_SIZE		552 5.3.4 SIZE= above the maximum (RFC 1870)
 */
enum smtp_parse_err {
	SMTP_PARSE_E_NONE = 0,
	SMTP_PARSE_E_SYNTAX,
	SMTP_PARSE_E_TOO_LONG,
	SMTP_PARSE_E_8BIT,
	SMTP_PARSE_E_NULL_PATH,
	SMTP_PARSE_E_PARAM_SYNTAX,
	SMTP_PARSE_E_PARAM_UNKNOWN,
	SMTP_PARSE_E_SIZE,
};

/*
 * A command line split into verb and arguments.  verb is the first word,
 * upper-cased (compare it with strcmp against "MAIL" etc.).  args points
 * into the caller's line, just after the separating space(s), and runs
 * to its end (args_len bytes, NUL-terminated because the line is); it is
 * "" when the line is the verb alone.  args lives as long as the line.
 */
struct smtp_parse_cmd {
	char		 verb[SMTP_PARSE_VERB_MAX + 1];
	const char	*args;
	size_t		 args_len;
};

/*
 * Splits a command line.  line holds len bytes and must have a NUL at
 * line[len] (a struct buf does); CRLF already removed.
 *
 * Accepted: verb = 1*16 ALPHA (RFC 5321 4.1.1 verbs are letters; longer
 * is E_TOO_LONG), then either the end of the line or one or more SP
 * followed by the arguments.  RFC 5321 asks for exactly one SP; like
 * Postfix we tolerate several (and trailing SP, which the argument
 * parsers skip), because the cost is nil and real clients send them.
 * Rejected (E_SYNTAX): an empty line, a line starting with SP, a verb
 * followed by anything but SP (e.g. "MAIL:"), and NUL, HTAB, CR, LF, DEL
 * or any other C0 control anywhere: the SMTP command grammar has only SP
 * as a separator and no field that allows controls.  Bytes >= 0x80 are
 * left in args for the path parser, which decides under SMTPUTF8.
 */
int	smtp_parse_command(const char *line, size_t len,
	    struct smtp_parse_cmd *cmd_r, enum smtp_parse_err *kind_r,
	    const char **error_r) ATTR_WUR;

/*
 * Strips a case-insensitive keyword such as "FROM:" or "TO:" from the
 * start of MAIL/RCPT arguments and returns the rest in *rest_r.  Strict
 * RFC 5321: no space is allowed before or after the colon (Postfix
 * tolerates "MAIL FROM: <a@b>" unless strict_rfc821_envelopes; we do
 * not).  Returns 0 or -1 with E_SYNTAX.
 */
int	smtp_parse_prefix(const char *args, const char *keyword,
	    const char **rest_r, enum smtp_parse_err *kind_r,
	    const char **error_r) ATTR_WUR;

/* Flags for smtp_parse_path(). */
#define SMTP_PARSE_F_ALLOW_EMPTY	0x01	/* "<>" accepted (MAIL FROM) */
#define SMTP_PARSE_F_SMTPUTF8		0x02	/* RFC 6531 UTF-8 addresses */
#define SMTP_PARSE_F_POSTMASTER		0x04	/* "<Postmaster>" (RCPT TO) */

/*
 * A parsed path.  addr is "" for the null path, else the normalised
 * mailbox "local@domain":
 * - the local part keeps its case; it is written as a Dot-string when
 *   its content is one (so "john"@x becomes john@x), otherwise as a
 *   Quoted-string in which only '"' and '\' are escaped with '\'
 *   ("a\ b"@x becomes "a b"@x);
 * - the domain is lower-cased (ASCII letters only; U-labels under
 *   SMTPUTF8 are kept as sent, not IDNA-mapped); an address literal keeps
 *   its form with the tag spelled "IPv6:" and hex digits lower-cased;
 * - a source route (<@a,@b:user@d>) is validated and dropped (RFC 5321
 *   4.1.2 and C).
 * The result is never longer than the path as sent, and wrapped in "<>"
 * it parses back to itself.  Nothing else is interpreted: '%', '!' and
 * '+' stay in the local part as data.  local_len is the length of the
 * local part inside addr (0 for the null path), so addr + local_len + 1
 * is the domain.  utf8 is true when addr holds a byte >= 0x80.
 * postmaster is true for the domain-less "<Postmaster>" that RFC 5321
 * 4.1.1.3 says every server MUST accept in RCPT TO (any case; only with
 * SMTP_PARSE_F_POSTMASTER): addr is then "postmaster" with no "@", and
 * local_len 10; the daemon substitutes its postmaster address.
 */
struct smtp_parse_addr {
	char	 addr[SMTP_PARSE_PATH_MAX + 1];
	size_t	 local_len;
	bool	 null_path;
	bool	 postmaster;
	bool	 utf8;
};

/*
 * Parses "<" path ">" at the start of arg (NUL-terminated), RFC 5321
 * 4.1.2: Mailbox = Local-part "@" (Domain / address-literal), Local-part
 * = Dot-string / Quoted-string, Domain = sub-domain *("." sub-domain)
 * with letter-digit-hyphen labels, address-literal = "[" IPv4 "]" or
 * "[IPv6:" IPv6 "]" checked with inet_pton() (general literals with other
 * tags are refused).  Brackets are required: a bare a@b is E_SYNTAX, as
 * are spaces inside, a missing ">" and anything but SP or the end of the
 * line after ">".  Under SMTPUTF8 well-formed UTF-8 is accepted in the
 * local part and in domain labels (no overlong forms, surrogates, code
 * points above U+10FFFF or C1 controls); without it any byte >= 0x80 is
 * E_8BIT.  Length limits give E_TOO_LONG; "<>" without
 * SMTP_PARSE_F_ALLOW_EMPTY gives E_NULL_PATH.
 *
 * On success *rest_r points after ">" and any SP that follow: "" or the
 * ESMTP parameters for smtp_parse_params().
 */
int	smtp_parse_path(const char *arg, unsigned int flags,
	    struct smtp_parse_addr *addr_r, const char **rest_r,
	    enum smtp_parse_err *kind_r, const char **error_r) ATTR_WUR;

/*
 * One esmtp-param (RFC 5321 4.1.2): keyword = ALPHA/DIGIT *(ALPHA /
 * DIGIT / "-"), value = 1*(%d33-60 / %d62-126) (plus well-formed UTF-8
 * when the caller allows it, RFC 6531 3.3).  Both point into the
 * caller's string and are NOT NUL-terminated; value is NULL when the
 * parameter had no "=".
 */
struct smtp_parse_param {
	const char	*key;
	size_t		 key_len;
	const char	*value;
	size_t		 value_len;
};

struct smtp_parse_params {
	unsigned int		count;
	struct smtp_parse_param	param[SMTP_PARSE_PARAMS_MAX];
};

/*
 * Splits rest (from smtp_parse_path()) into parameters separated by one
 * or more SP; leading and trailing SP are skipped.  A keyword given twice
 * (case-insensitively), more than SMTP_PARSE_PARAMS_MAX parameters, an
 * empty value ("KEY="), a bad character or a keyword longer than
 * SMTP_PARSE_KEYWORD_MAX give E_PARAM_SYNTAX; a byte >= 0x80 in a value
 * is accepted only when utf8 is true (and must be well-formed UTF-8),
 * otherwise E_8BIT.  The result points into rest.
 */
int	smtp_parse_params(const char *rest, bool utf8,
	    struct smtp_parse_params *params_r, enum smtp_parse_err *kind_r,
	    const char **error_r) ATTR_WUR;

enum smtp_parse_body {
	SMTP_PARSE_BODY_NONE = 0,	/* no BODY= given */
	SMTP_PARSE_BODY_7BIT,
	SMTP_PARSE_BODY_8BITMIME,	/* RFC 6152 */
	SMTP_PARSE_BODY_BINARYMIME,	/* RFC 3030: needs BDAT */
};

enum smtp_parse_ret {
	SMTP_PARSE_RET_NONE = 0,
	SMTP_PARSE_RET_FULL,
	SMTP_PARSE_RET_HDRS,
};

/*
 * The standard MAIL parameters, decoded.  has_* tells which were given.
 * envid and auth are the decoded xtext (printable ASCII only, see
 * smtp_parse_xtext_decode()); auth_empty is AUTH=<>.
 */
struct smtp_parse_mail {
	bool			has_size;
	uint64_t		size;
	enum smtp_parse_body	body;
	bool			smtputf8;
	enum smtp_parse_ret	ret;
	bool			has_envid;
	char			envid[SMTP_PARSE_ENVID_MAX + 1];
	bool			has_auth;
	bool			auth_empty;
	char			auth[SMTP_PARSE_AUTH_MAX + 1];
};

#define SMTP_PARSE_NOTIFY_NEVER		0x01
#define SMTP_PARSE_NOTIFY_SUCCESS	0x02
#define SMTP_PARSE_NOTIFY_FAILURE	0x04
#define SMTP_PARSE_NOTIFY_DELAY		0x08

enum smtp_parse_orcpt_type {
	SMTP_PARSE_ORCPT_NONE = 0,
	SMTP_PARSE_ORCPT_RFC822,	/* RFC 3461 4.2, xtext */
	SMTP_PARSE_ORCPT_UTF8,		/* RFC 6533 utf-8-addr-xtext/unitext */
};

/*
 * The standard RCPT parameters, decoded.  notify is 0 when NOTIFY was not
 * given.  orcpt is the decoded original recipient: ASCII for rfc822, UTF-8
 * for utf-8 (\x{HEX} escapes decoded); orcpt_type says which.
 */
struct smtp_parse_rcpt {
	unsigned int			notify;
	enum smtp_parse_orcpt_type	orcpt_type;
	char				orcpt[SMTP_PARSE_ORCPT_MAX + 1];
};

/*
 * Parses and decodes MAIL parameters: SIZE (RFC 1870: digits; above
 * max_size, or too large for 64 bits, is E_SIZE, anything else
 * E_PARAM_SYNTAX), BODY=7BIT|8BITMIME|BINARYMIME, SMTPUTF8 (no value),
 * RET=FULL|HDRS, ENVID=xtext, AUTH=<>|xtext.  Keywords and the BODY/RET
 * values are case-insensitive.  Any other keyword is E_PARAM_UNKNOWN; the
 * daemon refuses those it did not advertise (e.g. BINARYMIME without
 * CHUNKING) by looking at the result.  UTF-8 in a value is accepted only
 * together with SMTPUTF8 (else E_8BIT).
 */
int	smtp_parse_mail_params(const char *rest, uint64_t max_size,
	    struct smtp_parse_mail *mail_r, enum smtp_parse_err *kind_r,
	    const char **error_r) ATTR_WUR;

/*
 * Parses and decodes RCPT parameters: NOTIFY=NEVER or a comma list of
 * SUCCESS, FAILURE, DELAY without repeats (RFC 3461 4.1), ORCPT=
 * addr-type ";" xtext with addr-type rfc822 or utf-8 (RFC 3461 4.2, RFC
 * 6533 3; case-insensitive).  smtputf8 tells whether the transaction's
 * MAIL had SMTPUTF8 (it allows raw UTF-8 in a utf-8 ORCPT).  Any other
 * keyword is E_PARAM_UNKNOWN.
 */
int	smtp_parse_rcpt_params(const char *rest, bool smtputf8,
	    struct smtp_parse_rcpt *rcpt_r, enum smtp_parse_err *kind_r,
	    const char **error_r) ATTR_WUR;

/*
 * Decodes xtext (RFC 3461 4): xchar is %d33-42 / %d44-60 / %d62-126, and
 * "+" two upper-case hex digits encodes one byte.  Strict: lower-case hex,
 * a lone "+", a literal "=" and an empty input are errors, and so is a
 * decoded byte outside printable ASCII (%d32-126): the decoded text goes
 * into logs and DSNs.  Writes a NUL-terminated result into dst (size
 * bytes).  Returns the decoded length, or -1 with *error_r (also when it
 * does not fit).
 */
int	smtp_parse_xtext_decode(const char *src, size_t len, char *dst,
	    size_t size, const char **error_r) ATTR_WUR;

/*
 * Encodes len bytes as xtext: bytes outside %d33-126, "+" and "=" become
 * "+HH".  Writes a NUL-terminated result into dst (size bytes); returns
 * its length, or -1 when it does not fit.
 */
int	smtp_parse_xtext_encode(const char *src, size_t len, char *dst,
	    size_t size) ATTR_WUR;

/*
 * Strict base64 (RFC 4648 4) of an AUTH response (RFC 4954 4): groups of
 * four, "=" padding only at the end, no white space or line breaks.
 * Writes at most size bytes to dst.  Returns the decoded length, or -1
 * when src is not such base64 or the result does not fit.
 */
int	smtp_parse_base64(const char *src, size_t len, uint8_t *dst,
	    size_t size) ATTR_WUR;

#endif
