/* SPDX-License-Identifier: ISC */
/*
 * The capability lists of both IMAP programs and their limits from the
 * configuration (imapd.h).
 */
#include "config.h"

#include <string.h>

#include "common/conf.h"
#include "imapd.h"
#include "common/banned.h"

void
imapd_limits(struct imap_limits *lim)
{
	imap_limits_init(lim);
	lim->max_line = (size_t)cfg->imapd_max_line_length;
	lim->max_literal = cfg->imapd_max_literal_size;
	lim->max_append = cfg->imapd_max_append_size;
	lim->max_search_keys = cfg->imapd_max_search_keys;
	lim->max_ranges = cfg->imapd_max_sequence_ranges;
	lim->literal_plus = true;
}

void
imapd_capabilities(struct buf *out, bool login, bool tls_available,
    bool secured, bool login_allowed)
{
	int	r;

	r = buf_append_str(out, "IMAP4rev1 IMAP4rev2 SASL-IR LITERAL+ ID "
	    "ENABLE IDLE");
	if (login) {
		if (tls_available && !secured)
			r |= buf_append_str(out, " STARTTLS");
		if (login_allowed)
			r |= buf_append_str(out, " AUTH=PLAIN AUTH=LOGIN");
		else
			r |= buf_append_str(out, " LOGINDISABLED");
	} else {
		r |= buf_append_str(out, " NAMESPACE UIDPLUS MOVE UNSELECT "
		    "CHILDREN LIST-EXTENDED LIST-STATUS SPECIAL-USE "
		    "CREATE-SPECIAL-USE ESEARCH SEARCHRES BINARY UTF8=ACCEPT "
		    "STATUS=SIZE");
		r |= buf_printf(out, " APPENDLIMIT=%llu",
		    (unsigned long long)cfg->imapd_max_append_size);
	}
	(void)r;	/* the caller's buffer is large enough */
}

bool
imapd_is_loopback(const char *addr)
{
	return strncmp(addr, "127.", 4) == 0 || strcmp(addr, "::1") == 0 ||
	    strncmp(addr, "::ffff:127.", 11) == 0;
}
