/* SPDX-License-Identifier: ISC */
/*
 * The DATA / BDAT body filter: a streaming state machine that knows no
 * socket.  The daemon feeds it the raw bytes that arrive after "354"
 * (DATA, RFC 5321 4.1.1.4) or in each BDAT chunk (RFC 3030); it hands the
 * message content, dot-unstuffed and with every line ending a CRLF, to a
 * sink (the queue file writer), and reports what it saw in a result.  This
 * is where SMTP smuggling (CVE-2023-51764 and its variants) stops.
 *
 * End of data (DATA mode).  Only CR LF "." CR LF in the *input* ends the
 * data; the first CR LF may be the one that ended the DATA command, so a
 * "." CR LF at the very start is an empty message.  "\n.\n", "\n.\r\n",
 * "\r.\r\n", "\r\n.\n", "\r\n.\r", "\n.\r" and every other mix of bare CR
 * and bare LF are message content under either policy, never the end.
 *
 * Bare CR and bare LF.  A bare LF is an LF not preceded by CR, a bare CR a
 * CR not followed by LF (a CR at the end of one feed is held until the
 * next byte decides).  Under SMTP_DATA_NORMALIZE each becomes CR LF in the
 * output.  Under SMTP_DATA_REJECT the first one sets SMTP_DATA_BARE_NEWLINE
 * (the daemon answers 554 5.6.11 after the end of data); the filter then
 * runs exactly as under NORMALIZE, so the end of data, the counts and the
 * other flags are the same under both policies.
 *
 * Line starts and dot-unstuffing (DATA mode).  A "line start" is the first
 * byte of the data and the byte after any line ending: a CR LF, a bare LF
 * or a bare CR.  In other words, a line start in the input is a line start
 * in the (normalised) output.  At every line start one "." is removed
 * (RFC 5321 4.5.2: "..x" gives ".x", "." alone gives an empty line).  Only
 * a line start that follows a real CR LF (or the start of the data) can
 * begin the end-of-data marker, and only if the "." is followed by a real
 * CR LF.  So "a\n.\r\n" and "a\r\n.\n" are both the content "a" CR LF CR LF
 * (under NORMALIZE): the "." is unstuffed, the line is empty, and the data
 * goes on.  Unstuffing after a bare LF is what a client that ends its
 * lines with LF but stuffs its dots correctly needs; since the transfer
 * agent stuffs every line start again, no choice here can make a "." line
 * end the data at the next hop.
 *
 * BDAT mode.  Chunks carry exact byte counts, so there is no dot-stuffing
 * and no end marker: the chunk flagged "last" ends the message.  The same
 * bare CR / bare LF policy applies, across chunk boundaries (a CR that
 * ends one chunk and an LF that starts the next are a CR LF); a CR that
 * ends the last chunk is bare.  With SMTP_DATA_BINARYMIME (BODY=BINARYMIME,
 * RFC 3030 3) bytes pass unchanged: no bare newline check and no line
 * length check (binary parts have no lines), but the header scan still
 * runs on the CR LF-terminated lines of the header section.
 *
 * Limits and flags.  All counts are of *output* bytes, i.e. the message as
 * it will be stored (after unstuffing and normalisation).
 *  - SMTP_DATA_TOO_BIG: more than max_message_size bytes (552 5.3.4).
 *  - SMTP_DATA_LINE_TOO_LONG: a line longer than max_line_length bytes,
 *    CR LF excluded (RFC 5322 2.1.1).  Postfix splits such lines; we reject
 *    the message with 554 5.6.0, because splitting changes the content
 *    (and breaks signatures) without telling anybody.
 *  - SMTP_DATA_HEADERS_TOO_BIG: a header section longer than
 *    max_header_size bytes (552 5.3.4), so 100,000 header lines cost no
 *    memory and no time in later stages.
 *  - SMTP_DATA_TOO_MANY_HOPS: more than max_hops "Received:" fields
 *    (554 5.4.6, a mail loop).
 *  - SMTP_DATA_SINK_FAILED: the sink returned -1 (451 4.3.0).
 * Each flag is set the moment the condition is seen; the filter always
 * goes on consuming to the end of data so the session stays in step with
 * the client.  Once any flag is set the sink is not called again: the
 * message will be refused, so writing the rest would be wasted work.  The
 * daemon must check the flags at the end and throw the queue file away
 * when any is set.
 *
 * The header scan.  The header section is the lines from the start of the
 * message up to (not including) the first empty line, or the first line
 * that is neither a header field ("name:" where name is one or more
 * printable ASCII bytes other than ":", optionally followed by spaces or
 * tabs before the ":", the obsolete syntax of RFC 5322 4.5) nor a
 * continuation line (starting with a space or tab: folding, RFC 5322
 * 2.2.3), whichever comes first; a message without an empty line after
 * its header fields thus still ends its header section where the body
 * obviously begins, as Postfix does.  Field names are compared without
 * regard to case.
 *
 * Memory.  The filter uses a fixed amount of memory however long the
 * input, its lines or its header section: it never holds a line.
 */
#ifndef POSTERN_SMTP_DATA_H
#define POSTERN_SMTP_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/compat.h"

enum smtp_data_mode {
	SMTP_DATA_DATA,		/* after "354": ends at CRLF.CRLF */
	SMTP_DATA_BDAT,		/* BDAT chunks, 7BIT or 8BITMIME body */
	SMTP_DATA_BINARYMIME,	/* BDAT chunks, BODY=BINARYMIME: unchanged */
};

enum smtp_data_policy {
	SMTP_DATA_REJECT,	/* smtpd_bare_newline = reject (the default) */
	SMTP_DATA_NORMALIZE,	/* smtpd_bare_newline = normalize */
};

/* Result flags; any of them means the message must be refused. */
#define SMTP_DATA_OK			0x00u
#define SMTP_DATA_BARE_NEWLINE		0x01u	/* 554 5.6.11 (REJECT only) */
#define SMTP_DATA_TOO_BIG		0x02u	/* 552 5.3.4 */
#define SMTP_DATA_LINE_TOO_LONG		0x04u	/* 554 5.6.0 */
#define SMTP_DATA_TOO_MANY_HOPS		0x08u	/* 554 5.4.6 */
#define SMTP_DATA_HEADERS_TOO_BIG	0x10u	/* 552 5.3.4 */
#define SMTP_DATA_SINK_FAILED		0x20u	/* 451 4.3.0 */

/* Bytes the filter gathers before it calls the sink (fixed memory). */
#define SMTP_DATA_OUT_SIZE		4096

struct smtp_data_limits {
	uint64_t	max_message_size;	/* smtpd_max_message_size */
	size_t		max_line_length;	/* smtpd_max_data_line_length */
	unsigned int	max_hops;		/* smtpd_max_hops */
	size_t		max_header_size;	/* see above */
};

struct smtp_data_result {
	unsigned int	flags;		/* SMTP_DATA_* flags, 0 when OK */
	uint64_t	bytes;		/* output bytes (the stored size) */
	/*
	 * Output offset where the header section ends: the start of the
	 * empty line or of the first body line, or bytes when the message
	 * ended inside the header section.  Submission inserts missing
	 * Message-ID/Date fields here.
	 */
	uint64_t	header_size;
	unsigned int	received;	/* "Received:" fields in the header */
	bool		has_message_id;
	bool		has_date;
	bool		header_done;	/* header_size is final */
	bool		done;		/* the end of the message was seen */
};

/*
 * The sink, int sink(void *ctx, const uint8_t *data, size_t size,
 * const char **error_r), receives the message content in contiguous
 * pieces of at most SMTP_DATA_OUT_SIZE bytes, in order, never empty.  It
 * returns 0, or -1 with *error_r set (for the log, never for the client).
 * Everything fed so far has reached the sink when a feed function returns
 * (unless a flag stopped it).
 */
struct smtp_data;

/*
 * Returns a new filter.  limits is copied; sink_ctx is the caller's and is
 * passed to sink unchanged.  Never fails (allocation exits, STYLE R9).
 */
struct smtp_data *smtp_data_new(enum smtp_data_mode mode,
    enum smtp_data_policy policy, const struct smtp_data_limits *limits,
    int (*sink)(void *, const uint8_t *, size_t, const char **),
    void *sink_ctx);

/* Frees *dp (NULL is fine) and sets *dp to NULL. */
void	smtp_data_free(struct smtp_data **dp);

/*
 * DATA mode only (a BDAT filter here is a code bug: log_panic).  Feeds len
 * bytes of input.  Returns:
 *   1  the end of data was seen; *consumed_r bytes of in (CR LF "." CR LF
 *      included) belonged to the message, the rest is the next pipelined
 *      command.  Further calls return 1 and consume nothing.
 *   0  all len bytes were consumed (*consumed_r == len), more is needed.
 *  -1  the sink failed (*error_r set, SMTP_DATA_SINK_FAILED now set).
 *      *consumed_r bytes were consumed; call again with the rest to read
 *      on to the end of data (the sink is not called again), then answer
 *      451 4.3.0.
 */
int	smtp_data_feed(struct smtp_data *d, const uint8_t *in, size_t len,
	    size_t *consumed_r, const char **error_r) ATTR_WUR;

/*
 * BDAT modes only (a DATA filter here is a code bug: log_panic).  Feeds one
 * whole chunk (or a part of one: the filter does not care where the
 * chunk boundaries are, except that last marks the end of the message;
 * the daemon counts the chunk size).  Returns 1 after the last chunk, 0
 * after any other, -1 when the sink failed (*error_r set,
 * SMTP_DATA_SINK_FAILED set; the whole chunk was still consumed, and later
 * chunks are accepted without calling the sink).  Feeding after the last
 * chunk is a code bug (log_panic).
 */
int	smtp_data_feed_chunk(struct smtp_data *d, const uint8_t *data,
	    size_t len, bool last, const char **error_r) ATTR_WUR;

/* What the filter has seen so far; valid until smtp_data_free(). */
const struct smtp_data_result *smtp_data_result(const struct smtp_data *d);

/*
 * The reply for a set of result flags (the first that applies, in the
 * order SINK_FAILED, BARE_NEWLINE, TOO_BIG, HEADERS_TOO_BIG,
 * LINE_TOO_LONG, TOO_MANY_HOPS), without CR LF, or NULL when flags is 0.
 * A static string.
 */
const char *smtp_data_reply(unsigned int flags);

#endif
