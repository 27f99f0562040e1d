/* SPDX-License-Identifier: ISC */
/*
 * One message as FETCH (imap_fetch.h) and SEARCH (imap_search.h) see it:
 * what the index knows (UID, flags, keywords, size, internal date) and,
 * loaded only when an item or key needs it, the content with CRLF line
 * ends and its MIME structure.  The session fills one struct imap_msg per
 * message from the mail store and gives a loader; the content, the parse
 * and the text prepared for SEARCH are kept in the struct until
 * imap_msg_reset(), so several items of one FETCH (or keys of one SEARCH)
 * load and parse the message once.
 */
#ifndef POSTERN_IMAP_MSG_H
#define POSTERN_IMAP_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "common/buf.h"
#include "common/compat.h"
#include "common/mime.h"

/*
 * Loads the whole message (CRLF line ends) into out.  Returns 1, 0 when
 * the message is gone (expunged meanwhile: FETCH answers with what the
 * index has, RFC 9051 7.5.2 allows NIL-like output; SEARCH treats it as
 * no match), -1 on error (*error_r for the log).
 */
typedef int imap_msg_load_fn(void *ctx, uint32_t uid, struct buf *out,
	    const char **error_r);

/*
 * Cached strings (ENVELOPE, BODYSTRUCTURE, BODY) by what =
 * IMAP_MSG_CACHE_*: get appends the text to out and returns 1, 0 when
 * not cached, -1 on error; put stores (best effort, no result).  Both
 * optional (NULL).
 */
#define IMAP_MSG_CACHE_ENVELOPE		1
#define IMAP_MSG_CACHE_BODYSTRUCTURE	2
#define IMAP_MSG_CACHE_BODY		3
/*
 * Variant bits or'ed into what by imap_fetch.c when the session's form of
 * the value differs from the IMAP4rev1 one: UTF8 (strings may be quoted
 * UTF-8, RFC 6855) and REV2 (message/global written as message/rfc822,
 * RFC 9051).  A cache that keeps only the plain forms answers 0 to a get
 * with a variant bit and ignores such puts.
 */
#define IMAP_MSG_CACHE_F_UTF8		0x10
#define IMAP_MSG_CACHE_F_REV2		0x20

typedef int imap_msg_cache_get_fn(void *ctx, uint32_t uid, int what,
	    struct buf *out);
typedef void imap_msg_cache_put_fn(void *ctx, uint32_t uid, int what,
	    const char *data, size_t len);

struct imap_msg_source {
	imap_msg_load_fn	*load;
	imap_msg_cache_get_fn	*cache_get;	/* NULL: no cache */
	imap_msg_cache_put_fn	*cache_put;	/* NULL: no cache */
	void			*ctx;
	struct mime_limits	 mime;		/* for mime_parse() */
	size_t			 max_message;	/* largest load, bytes */
};

struct imap_msg {
	/* filled by the session */
	uint32_t		 seq;
	uint32_t		 uid;
	unsigned int		 flags;		/* IMAP_FLAG_* incl. RECENT */
	const char *const	*keywords;	/* names of the keywords set */
	unsigned int		 nkeywords;
	uint64_t		 size;		/* RFC822.SIZE, CRLF */
	time_t			 date;		/* internal date */
	int			 zone;		/* minutes east, for output */
	const struct imap_msg_source *src;
	/* private: loaded on demand, kept until imap_msg_reset() */
	bool			 loaded;
	bool			 gone;		/* load said 0 */
	struct buf		*data;		/* the message, CRLF */
	struct mime_part	*mime;		/* its parse, or NULL */
	bool			 parsed;
	struct buf		*text;		/* SEARCH body text, or NULL */
	struct buf		*hdr_text;	/* SEARCH header text, or NULL */
};

/* Zeroes everything; the session then fills the public fields. */
void	imap_msg_init(struct imap_msg *m);
/*
 * Frees what was loaded (content, parse, search text) and forgets it; the
 * public fields stay as they are, so the struct can be filled again (or
 * reused as it is: the next content access loads again).
 */
void	imap_msg_reset(struct imap_msg *m);

/*
 * The content (loading it first): 1 with *data_r and *len_r pointing into
 * m, 0 when the message is gone, -1 on error.  The load goes into a
 * buffer of at most src->max_message bytes, allocated once at the size
 * of m->size (so a loader appending the message costs one allocation);
 * a message larger than that makes the loader fail (-1).  Without a
 * source (src or src->load NULL) the message counts as gone.  A failed
 * load is not remembered: the next call tries again.  The bytes stay
 * valid and unmoved until imap_msg_reset().
 */
int	imap_msg_content(struct imap_msg *m, const char **data_r,
	    size_t *len_r, const char **error_r) ATTR_WUR;
/*
 * The MIME parse (loading and parsing first, with src->mime as limits):
 * 1, 0 gone, -1 error.  A message with more than src->mime.max_parts
 * parts is not an error: it gets mime_parse()'s single-part fallback.
 * The tree lives in m until imap_msg_reset().
 */
int	imap_msg_parse(struct imap_msg *m, const struct mime_part **root_r,
	    const char **error_r) ATTR_WUR;

#endif
