/* SPDX-License-Identifier: ISC */
/*
 * Delivery status notifications (bounces, delay warnings, success
 * reports): RFC 3464 reports in an RFC 6522 multipart/report, sent from
 * the null sender with NOTIFY=NEVER so a report never causes another
 * (RFC 3461 6.2).
 *
 * The report has three parts: a text/plain explanation for people, the
 * machine-readable message/delivery-status (one block per recipient), and
 * the original: the whole message (message/rfc822) when the sender asked
 * for it (RET=FULL, or no RET) and it fits bounce_size_limit, else only
 * its header section (text/rfc822-headers).  Delay and success reports
 * always carry only the header section.  The original is streamed from its
 * queue file in pieces, never read whole into memory.
 *
 * Every line we generate is at most 998 bytes (RFC 5322 2.1.1); texts from
 * outside (diagnostics, the remote MTA's name) are reduced to printable
 * ASCII.  Addresses are copied as the queue file holds them.
 */
#ifndef POSTERN_DSN_H
#define POSTERN_DSN_H

#include <stdint.h>

#include "compat.h"
#include "buf.h"
#include "qfile.h"

enum dsn_kind {
	DSN_FAILURE,		/* Action: failed; "Undelivered Mail ..." */
	DSN_DELAY,		/* Action: delayed; still being retried */
	DSN_SUCCESS		/* Action: delivered */
};

/* One recipient the report is about.  Strings are borrowed. */
struct dsn_rcpt {
	const char	*addr;		/* envelope recipient (qfile RCPT) */
	const char	*orcpt;		/* "rfc822;a@b" (qfile ORCPT) or NULL */
	const char	*status;	/* "5.1.1", "4.4.7", "2.0.0": class 2,
					   4 or 5, then 1-3 and 1-3 digits */
	const char	*diag;		/* diagnostic text, e.g. "mailbox
					   full" or the remote reply; "" or
					   NULL = none; made printable ASCII */
	const char	*remote_mta;	/* host name; NULL for local delivery */
	bool		 relayed;	/* DSN_SUCCESS: handed to a server
					   that does not do DSN (Action:
					   relayed, RFC 3464 2.3.3) */
	uint64_t	 last_attempt;	/* seconds since the epoch, 0 = none */
	uint64_t	 will_retry_until; /* DSN_DELAY: seconds, 0 = none */
};

struct dsn_params {
	const char	*hostname;	/* myhostname: Reporting-MTA, From:
					   MAILER-DAEMON@hostname, Message-ID */
	const char	*postmaster;	/* "postmaster@DOMAIN": the address
					   the text tells people to write to;
					   NULL = "postmaster" */
	const char	*to;		/* recipient of the report: NULL = the
					   original sender */
	uint64_t	 size_limit;	/* bounce_size_limit: quote at most
					   this much of the original */
	uint64_t	 now;		/* seconds since the epoch: Date: */
};

/* The longest report text (parts 1 and 2) kept in memory while building. */
#define DSN_TEXT_MAX	(64u * 1024 * 1024)

/*
 * Writes the report as a new queue file in queue_dir/incoming/
 * (qfile_writer: null sender "", one recipient, p->to or the original
 * sender, with NOTIFY=NEVER; client protocol "local", HELO p->hostname;
 * BODY=8BITMIME when the report quotes 8-bit bytes, SMTPUTF8 when the
 * original had it), commits it (durable) and puts its ID in id_r.  orig is
 * the open original (qfile_open(); its message bytes are read with pread()
 * from qfile_fd() at qfile_message()).  n >= 1 recipients.  Returns 0, or
 * -1 with *error_r set and no file left behind.  Refuses ("no bounce to
 * the null sender") when the original sender is "" and p->to is NULL.
 */
int	dsn_write(const char *queue_dir, const struct qfile *orig,
	    enum dsn_kind kind, const struct dsn_rcpt *rcpts, unsigned int n,
	    const struct dsn_params *p, char id_r[QFILE_ID_SIZE],
	    const char **error_r) ATTR_WUR;

/*
 * The same message appended to out (tests; postctl can show it).  qid is
 * the report's own queue ID (Message-ID, MIME boundary): letters and
 * digits only.  Returns 0, or -1 with *error_r set (also when the report
 * does not fit out's maximum; out may then hold part of it).
 */
int	dsn_build(const struct qfile *orig, enum dsn_kind kind,
	    const struct dsn_rcpt *rcpts, unsigned int n,
	    const struct dsn_params *p, const char *qid, struct buf *out,
	    const char **error_r) ATTR_WUR;

#endif
