/* SPDX-License-Identifier: ISC */
/*
 * SMTP replies as the transfer agent reads them from a remote server
 * (RFC 5321 4.2, enhanced status codes RFC 3463 / RFC 2034), and the
 * EHLO keywords the agent acts on.  This is network input from any host
 * on the Internet: every line and every reply is bounded, nothing is
 * trusted, a malformed reply is an error, never a crash.
 *
 * A reply is one or more lines "CODE-text" ... "CODE text" (or a bare
 * "CODE" on the last line); every line carries the same three-digit code
 * 200..599.  The caller reads a line (without its CRLF; a bare LF ending
 * is the caller's business) and feeds it; when the last line is in, the
 * reply is complete.
 */
#ifndef POSTERN_SMTP_REPLY_H
#define POSTERN_SMTP_REPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compat.h"
#include "buf.h"

/* Longest reply line accepted, CRLF excluded (RFC 5321 says 512). */
#define SMTP_REPLY_LINE_MAX	4096
/* Most lines in one reply (a long EHLO list has some 20). */
#define SMTP_REPLY_LINES_MAX	200
/* Longest enhanced status code text: "5.999.999". */
#define SMTP_REPLY_DSN_MAX	15

struct smtp_reply {
	unsigned int	 code;		/* 200..599 once the first line is in */
	/*
	 * The enhanced status code of the first line ("5.1.1"), "" when it
	 * has none.  Accepted only when its class digit equals the first
	 * digit of code, as RFC 3463 asks: "class.subject.detail" with class
	 * 2, 4 or 5, subject 0..999 and detail 0..999 without leading
	 * zeros beyond one digit ("5.01.1" is not one), followed by a space
	 * or the end of the line.
	 */
	char		 dsn[SMTP_REPLY_DSN_MAX + 1];
	/*
	 * The text of every line after "CODE" and its separator, each line
	 * ending in '\n' (the enhanced code is part of the text); bytes
	 * below 0x20 (but tab) and 0x7f and above are kept as they came:
	 * smtp_reply_summary() makes them safe.
	 */
	struct buf	 lines;
	unsigned int	 nlines;
	bool		 done;		/* the last line is in */
};

void	smtp_reply_init(struct smtp_reply *r);
/* Forgets the reply, ready for the next one (keeps the memory). */
void	smtp_reply_reset(struct smtp_reply *r);
void	smtp_reply_deinit(struct smtp_reply *r);

/*
 * Feeds one line (len bytes, without CRLF; may hold any bytes, also NUL).
 * Returns 1 when the reply is complete, 0 when more lines must follow,
 * -1 with *error_r (for the log) when the line is malformed: shorter
 * than 3 bytes, a code that is not 3 digits in 200..599 (1xx replies are
 * not SMTP's), a 4th byte other than ' ', '-' or the end of the line, a
 * code different from the first line's, a line longer than
 * SMTP_REPLY_LINE_MAX, more than SMTP_REPLY_LINES_MAX lines, or a line
 * fed after the reply was complete.  After -1 the reply must be reset.
 */
int	smtp_reply_line(struct smtp_reply *r, const char *line, size_t len,
	    const char **error_r) ATTR_WUR;

/*
 * The whole reply on one line for logs and bounces, as Postfix quotes a
 * remote reply: "CODE text of line 1 text of line 2 ..." (lines joined by
 * one space, the code once), bytes outside printable ASCII replaced by
 * '?', cut to fit size (NUL included; size >= 4).  Returns dst.
 */
char	*smtp_reply_summary(const struct smtp_reply *r, char *dst, size_t size);

/* What the server offers in its EHLO reply. */
struct smtp_ehlo {
	bool		 starttls;
	bool		 pipelining;
	bool		 eightbitmime;		/* 8BITMIME */
	bool		 smtputf8;
	bool		 dsn;
	bool		 chunking;
	bool		 binarymime;
	bool		 enhancedstatuscodes;
	bool		 size;			/* SIZE given */
	uint64_t	 size_max;		/* SIZE n: n; 0 = no limit */
	bool		 auth;			/* AUTH given */
	bool		 auth_plain;
	bool		 auth_login;
};

/*
 * Reads the keywords of a complete 250 EHLO reply (lines after the first,
 * which is the greeting text; keywords are case-insensitive, parameters
 * separated by spaces; "AUTH=PLAIN LOGIN", the old form, counts as AUTH).
 * A SIZE parameter that is not a number of at most 20 digits that fits
 * uint64_t is taken as no limit.  Unknown keywords are ignored.  Fills
 * *e (zeroed first).
 */
void	smtp_ehlo_parse(const struct smtp_reply *r, struct smtp_ehlo *e);

#endif
