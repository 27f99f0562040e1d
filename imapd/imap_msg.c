/* SPDX-License-Identifier: ISC */
/*
 * One message as FETCH and SEARCH see it (imap_msg.h): the index fields
 * the session fills in, and the content, MIME parse and SEARCH text
 * loaded and built on demand, each at most once, and kept until
 * imap_msg_reset().  The loader is the session's (the mail store); its
 * result is trusted only as bytes: everything built from it is bounded
 * by the source's limits (max_message, the MIME limits).
 */
#include "config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/buf.h"
#include "common/mime.h"

#include "imap_msg.h"

#include "common/banned.h"

/* First allocation for a message whose size the index does not know. */
#define IMAP_MSG_LOAD_INIT	8192

void
imap_msg_init(struct imap_msg *m)
{
	memset(m, 0, sizeof(*m));
}

void
imap_msg_reset(struct imap_msg *m)
{
	mime_free(&m->mime);
	buf_free(&m->data);
	buf_free(&m->text);
	buf_free(&m->hdr_text);
	m->loaded = false;
	m->gone = false;
	m->parsed = false;
}

int
imap_msg_content(struct imap_msg *m, const char **data_r, size_t *len_r,
    const char **error_r)
{
	const struct imap_msg_source *src = m->src;
	size_t	init;
	int	ret;

	if (!m->loaded) {
		if (src == NULL || src->load == NULL) {
			m->loaded = true;
			m->gone = true;
			return 0;
		}
		/* One allocation when the index size is right (+1: the NUL). */
		init = IMAP_MSG_LOAD_INIT;
		if (m->size > 0 && m->size < src->max_message)
			init = (size_t)m->size + 1;
		/* buf_init() clamps it to max_message + 1. */
		m->data = buf_new(init, src->max_message);
		ret = src->load(src->ctx, m->uid, m->data, error_r);
		if (ret == -1) {
			buf_free(&m->data);
			return -1;
		}
		m->loaded = true;
		if (ret == 0) {
			buf_free(&m->data);
			m->gone = true;
		}
	}
	if (m->gone)
		return 0;
	*data_r = m->data->data;
	*len_r = m->data->len;
	return 1;
}

int
imap_msg_parse(struct imap_msg *m, const struct mime_part **root_r,
    const char **error_r)
{
	const char	*data;
	size_t		 len;
	int		 ret;

	if ((ret = imap_msg_content(m, &data, &len, error_r)) != 1)
		return ret;
	if (!m->parsed) {
		/* -1 (too many parts) still gives the fallback tree. */
		(void)mime_parse(data, len, &m->src->mime, &m->mime);
		m->parsed = true;
	}
	*root_r = m->mime;
	return 1;
}
