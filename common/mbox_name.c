/* SPDX-License-Identifier: ISC */
/*
 * Mailbox names: the modified UTF-7 codec of RFC 3501 5.1.3, the checks
 * every name passes, the bijection between names and Maildir++ folder
 * names, and LIST patterns.  mbox_name.h describes the forms and the
 * on-disk scheme.
 *
 * Everything here reads bytes a client or another Maildir tool chose, so
 * it trusts nothing: decoding is strict (only the canonical form of a
 * string is accepted, so two spellings can never name one mailbox), a
 * folder name read from disk is accepted only when encoding the name it
 * decodes to gives the same bytes back, and pattern matching is a
 * bit-parallel automaton whose work is bounded by name length times
 * pattern length, whatever the wildcards.
 */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "mbox_name.h"
#include "str.h"
#include "utf8.h"
#include "xmalloc.h"

#include "banned.h"

/* Modified BASE64 (RFC 3501 5.1.3): RFC 2045's alphabet with "," for "/". */
static const char mbox_name_b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

#define MBOX_NAME_INBOX_LEN	5	/* strlen("INBOX") */

/* mbox_name_encode() flags. */
#define MBOX_NAME_DISK		0x01	/* folder name: "/" is ".", escapes */
#define MBOX_NAME_TILDE	0x02	/* in[0] starts the name: escape "~" */

/*
 * Where an encoder's output goes.  Each byte is appended to b (when not
 * NULL), compared with cmp[0..cmp_len) (when cmp is not NULL) and
 * counted in n.  Past max bytes nothing more is written and too_long is
 * set; a refusing b sets full.
 */
struct mbox_name_out {
	struct buf	*b;
	const char	*cmp;
	size_t		 cmp_len;
	size_t		 n;
	size_t		 max;
	bool		 too_long;
	bool		 full;
	bool		 differs;
};

static void
mbox_name_put(struct mbox_name_out *o, char c)
{
	if (o->n >= o->max) {
		o->too_long = true;
		return;
	}
	if (o->b != NULL && buf_append_byte(o->b, (uint8_t)c) == -1) {
		o->full = true;
		return;
	}
	if (o->cmp != NULL && (o->n >= o->cmp_len || o->cmp[o->n] != c))
		o->differs = true;
	o->n++;
}

static void
mbox_name_put_str(struct mbox_name_out *o, const char *s)
{
	for (; *s != '\0'; s++)
		mbox_name_put(o, *s);
}

/* Appends code point c (a scalar value) as UTF-8; -1 when b is full. */
static int
mbox_name_buf_utf8(struct buf *b, uint32_t c)
{
	char	u[UTF8_MAX];

	return buf_append(b, u, utf8_encode(c, u));
}

static inline bool
mbox_name_printable(uint32_t c)
{
	return c >= 0x20 && c <= 0x7e;
}

static inline char
mbox_name_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* True when s[0..n) equals the first n bytes of "INBOX" in any case. */
static bool
mbox_name_inbox_prefix(const char *s, size_t n)
{
	static const char inbox[] = "inbox";
	size_t	i;

	for (i = 0; i < n && i < MBOX_NAME_INBOX_LEN; i++) {
		if (mbox_name_lower(s[i]) != inbox[i])
			return false;
	}
	return true;
}

/* True when the first level of s[0..len) is INBOX in any case. */
static bool
mbox_name_inbox_first(const char *s, size_t len)
{
	return len >= MBOX_NAME_INBOX_LEN &&
	    mbox_name_inbox_prefix(s, MBOX_NAME_INBOX_LEN) &&
	    (len == MBOX_NAME_INBOX_LEN ||
	    s[MBOX_NAME_INBOX_LEN] == MBOX_NAME_SEP);
}

bool
mbox_name_is_inbox(const char *name, size_t len)
{
	return len == MBOX_NAME_INBOX_LEN && mbox_name_inbox_prefix(name, len);
}

/* ---- modified UTF-7 ------------------------------------------------- */

/* Sixteen more bits into a base64 run; writes each whole sextet. */
static void
mbox_name_put16(struct mbox_name_out *o, uint32_t u, uint32_t *bits,
    unsigned int *nbits)
{
	/* *nbits <= 4 here, so *bits stays below 2^20. */
	*bits = (*bits << 16) | u;
	*nbits += 16;
	while (*nbits >= 6) {
		*nbits -= 6;
		mbox_name_put(o, mbox_name_b64[(*bits >> *nbits) & 0x3f]);
	}
	*bits &= (1u << *nbits) - 1;
}

/* Ends a base64 run: the last bits padded with zeros, then "-". */
static void
mbox_name_run_end(struct mbox_name_out *o, uint32_t bits, unsigned int nbits)
{
	if (nbits > 0)
		mbox_name_put(o, mbox_name_b64[(bits << (6 - nbits)) & 0x3f]);
	mbox_name_put(o, '-');
}

/* One printable ASCII character c at byte i of the input. */
static void
mbox_name_put_ascii(struct mbox_name_out *o, char c, size_t i,
    unsigned int flags)
{
	if (c == '&') {
		mbox_name_put_str(o, "&-");
		return;
	}
	if ((flags & MBOX_NAME_DISK) != 0) {
		/* The escapes of mbox_name.h, lower-case hex as Dovecot's. */
		if (c == MBOX_NAME_SEP)
			c = '.';
		else if (c == '.') {
			mbox_name_put_str(o, "%2e");
			return;
		} else if (c == '%') {
			mbox_name_put_str(o, "%25");
			return;
		} else if (c == '~' && i == 0 &&
		    (flags & MBOX_NAME_TILDE) != 0) {
			mbox_name_put_str(o, "%7e");
			return;
		}
	}
	mbox_name_put(o, c);
}

/*
 * Encodes UTF-8 in[0..len) as canonical modified UTF-7 into o (with
 * MBOX_NAME_DISK also "/" as "." and the folder name escapes).  Printable ASCII
 * ends a run, so every run is as long as it can be: the canonical form
 * that mbox_name_decode() demands.  Returns 0, or -1 with *error_r for invalid
 * UTF-8 or NUL (o's overflow flags are the caller's to check).
 */
static int
mbox_name_encode(struct mbox_name_out *o, const char *in, size_t len,
    unsigned int flags, const char **error_r)
{
	const uint8_t	*p = (const uint8_t *)in;
	uint32_t	 c, bits = 0;
	unsigned int	 nbits = 0;
	size_t		 i, n;
	bool		 run = false;

	for (i = 0; i < len; i += n) {
		if ((n = utf8_decode(p + i, len - i, &c)) == 0) {
			*error_r = "invalid UTF-8";
			return -1;
		}
		if (c == 0) {
			*error_r = "NUL character";
			return -1;
		}
		if (mbox_name_printable(c)) {
			if (run) {
				mbox_name_run_end(o, bits, nbits);
				run = false;
			}
			mbox_name_put_ascii(o, (char)c, i, flags);
			continue;
		}
		if (!run) {
			mbox_name_put(o, '&');
			run = true;
			bits = 0;
			nbits = 0;
		}
		if (c >= 0x10000) {
			c -= 0x10000;
			mbox_name_put16(o, 0xd800 | (c >> 10), &bits, &nbits);
			mbox_name_put16(o, 0xdc00 | (c & 0x3ff), &bits, &nbits);
		} else
			mbox_name_put16(o, c, &bits, &nbits);
	}
	if (run)
		mbox_name_run_end(o, bits, nbits);
	return 0;
}

/*
 * Appends code point c to out unless that takes out past start + max
 * bytes.  Returns 0, or -1 with *error_r (too_long, or out full).
 */
static int
mbox_name_decode_put(struct buf *out, size_t start, size_t max, uint32_t c,
    const char *too_long, const char **error_r)
{
	size_t	n = c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;

	if (n > max || out->len - start > max - n) {
		*error_r = too_long;
		return -1;
	}
	if (mbox_name_buf_utf8(out, c) == -1) {
		*error_r = "output too long";
		return -1;
	}
	return 0;
}

/*
 * Decodes modified UTF-7 in[0..len) and appends the UTF-8 to out, at most
 * max bytes of it (too_long is the error text beyond).  See
 * mbox_name_mutf7_decode() for what is refused.  On error out is
 * truncated back.
 */
static int
mbox_name_decode(const char *in, size_t len, struct buf *out, size_t max,
    const char *too_long, const char **error_r)
{
	const uint8_t	*p = (const uint8_t *)in;
	size_t		 start = out->len, i = 0, after_run = SIZE_MAX;
	uint32_t	 bits, u, high;
	unsigned int	 nbits;
	int		 v;

	while (i < len) {
		if (!mbox_name_printable(p[i])) {
			*error_r = "8-bit or control character in "
			    "modified UTF-7";
			goto fail;
		}
		if (p[i] != '&' || (i + 1 < len && p[i + 1] == '-')) {
			/* Itself, or "&-" for "&". */
			if (mbox_name_decode_put(out, start, max, p[i],
			    too_long, error_r) == -1)
				goto fail;
			i += p[i] == '&' ? 2 : 1;
			continue;
		}
		/* "&AOk-&AOk-" is "&AOkA6Q-" spelt another way. */
		if (i == after_run) {
			*error_r = "adjacent base64 runs in modified UTF-7";
			goto fail;
		}
		i++;
		bits = 0;
		nbits = 0;
		high = 0;
		for (;;) {
			if (i == len) {
				*error_r = "unterminated \"&\" in "
				    "modified UTF-7";
				goto fail;
			}
			if (p[i] == '-')
				break;
			if ((v = str_base64_value(p[i++], ',')) == -1) {
				*error_r = "invalid base64 in modified UTF-7";
				goto fail;
			}
			/* nbits < 16 before, so bits stays below 2^22. */
			bits = (bits << 6) | (uint32_t)v;
			nbits += 6;
			if (nbits < 16)
				continue;
			nbits -= 16;
			u = bits >> nbits;
			bits &= (1u << nbits) - 1;
			if (high != 0) {
				if (u < 0xdc00 || u > 0xdfff) {
					*error_r = "unpaired surrogate in "
					    "modified UTF-7";
					goto fail;
				}
				u = 0x10000 + ((high - 0xd800) << 10) +
				    (u - 0xdc00);
				high = 0;
			} else if (u >= 0xd800 && u <= 0xdbff) {
				high = u;
				continue;
			} else if (u >= 0xdc00 && u <= 0xdfff) {
				*error_r = "unpaired surrogate in "
				    "modified UTF-7";
				goto fail;
			} else if (u == 0) {
				*error_r = "NUL character";
				goto fail;
			} else if (mbox_name_printable(u)) {
				/* RFC 3501: printable ASCII is itself. */
				*error_r = "ASCII encoded in base64 in "
				    "modified UTF-7";
				goto fail;
			}
			if (mbox_name_decode_put(out, start, max, u, too_long,
			    error_r) == -1)
				goto fail;
		}
		i++;		/* the "-" */
		/*
		 * Whole 16-bit units, then fewer than 6 bits of zeros: any
		 * other length ("&A-", "&AOkA-") or padding ("&AOl-") is a
		 * second spelling or no text at all.  A high surrogate must
		 * not be left at the end.
		 */
		if (nbits >= 6 || bits != 0) {
			*error_r = "invalid base64 length or padding in "
			    "modified UTF-7";
			goto fail;
		}
		if (high != 0) {
			*error_r = "unpaired surrogate in modified UTF-7";
			goto fail;
		}
		after_run = i;
	}
	return 0;
fail:
	buf_truncate(out, start);
	return -1;
}

int
mbox_name_mutf7_decode(const char *in, size_t len, struct buf *out,
    const char **error_r)
{
	return mbox_name_decode(in, len, out, SIZE_MAX, "output too long",
	    error_r);
}

int
mbox_name_mutf7_encode(const char *in, size_t len, struct buf *out,
    const char **error_r)
{
	struct mbox_name_out	o = { .b = out, .max = SIZE_MAX };
	size_t			start = out->len;

	if (mbox_name_encode(&o, in, len, 0, error_r) == -1)
		goto fail;
	if (o.full) {
		*error_r = "output too long";
		goto fail;
	}
	return 0;
fail:
	buf_truncate(out, start);
	return -1;
}

/* ---- names ---------------------------------------------------------- */

/*
 * The folder name of the valid name[0..len) (inbox: its first level is
 * INBOX in any case) into o: nothing for the inbox, else "." and the
 * levels.
 */
static int
mbox_name_disk(struct mbox_name_out *o, const char *name, size_t len,
    bool inbox, const char **error_r)
{
	if (inbox && len == MBOX_NAME_INBOX_LEN)
		return 0;
	mbox_name_put(o, '.');
	if (!inbox)
		return mbox_name_encode(o, name, len,
		    MBOX_NAME_DISK | MBOX_NAME_TILDE, error_r);
	/* Its children live under ".INBOX.", whatever the client's case. */
	mbox_name_put_str(o, "INBOX");
	return mbox_name_encode(o, name + MBOX_NAME_INBOX_LEN,
	    len - MBOX_NAME_INBOX_LEN, MBOX_NAME_DISK, error_r);
}

/*
 * The checks of mbox_name_normalize() on name[0..len); *inbox_r tells
 * whether its first level is INBOX in any case.
 */
static int
mbox_name_check(const char *name, size_t len,
    const struct mbox_name_limits *lim, bool *inbox_r, const char **error_r)
{
	struct mbox_name_out	 o = { .max = MBOX_NAME_DISK_MAX };
	const uint8_t		*p = (const uint8_t *)name;
	size_t			 i, n, level = 0;
	unsigned int		 depth = 1;
	uint32_t		 c;

	if (len == 0) {
		*error_r = "empty mailbox name";
		return -1;
	}
	if (len > lim->name_max) {
		*error_r = "mailbox name too long";
		return -1;
	}
	for (i = 0; i < len; i += n) {
		if ((n = utf8_decode(p + i, len - i, &c)) == 0) {
			*error_r = "mailbox name is not valid UTF-8";
			return -1;
		}
		/* RFC 6855 3 and RFC 9051 5.1: no controls, no U+2028/9. */
		if (c < 0x20 || c == 0x7f || (c >= 0x80 && c <= 0x9f) ||
		    c == 0x2028 || c == 0x2029) {
			*error_r = "control character in mailbox name";
			return -1;
		}
		if (c != MBOX_NAME_SEP)
			continue;
		if (i == level) {
			*error_r = "empty hierarchy level in mailbox name";
			return -1;
		}
		if (++depth > lim->depth_max) {
			*error_r = "too many hierarchy levels in mailbox name";
			return -1;
		}
		level = i + 1;
	}
	if (level == len) {
		*error_r = "empty hierarchy level in mailbox name";
		return -1;
	}
	if (depth > lim->depth_max) {
		*error_r = "too many hierarchy levels in mailbox name";
		return -1;
	}
	*inbox_r = mbox_name_inbox_first(name, len);
	/* The folder name must fit one path component. */
	if (mbox_name_disk(&o, name, len, *inbox_r, error_r) == -1)
		return -1;
	if (o.too_long) {
		*error_r = "mailbox name too long";
		return -1;
	}
	return 0;
}

/* Checks out->data[start..] in place and makes its INBOX capitals. */
static int
mbox_name_check_in_place(struct buf *out, size_t start,
    const struct mbox_name_limits *lim, const char **error_r)
{
	bool	inbox;

	if (mbox_name_check(out->data + start, out->len - start, lim, &inbox,
	    error_r) == -1) {
		buf_truncate(out, start);
		return -1;
	}
	if (inbox)
		memcpy(out->data + start, "INBOX", MBOX_NAME_INBOX_LEN);
	return 0;
}

int
mbox_name_normalize(const char *name, size_t len,
    const struct mbox_name_limits *lim, struct buf *out,
    const char **error_r)
{
	size_t	start = out->len;

	if (len > lim->name_max) {
		*error_r = "mailbox name too long";
		return -1;
	}
	if (buf_append(out, name, len) == -1) {
		*error_r = "output too long";
		return -1;
	}
	return mbox_name_check_in_place(out, start, lim, error_r);
}

int
mbox_name_from_imap(const char *in, size_t len, bool utf8,
    const struct mbox_name_limits *lim, struct buf *out,
    const char **error_r)
{
	size_t	start = out->len;

	if (utf8)
		return mbox_name_normalize(in, len, lim, out, error_r);
	if (mbox_name_decode(in, len, out, lim->name_max,
	    "mailbox name too long", error_r) == -1)
		return -1;
	return mbox_name_check_in_place(out, start, lim, error_r);
}

int
mbox_name_to_imap(const char *name, size_t len, bool utf8, struct buf *out,
    const char **error_r)
{
	if (!utf8)
		return mbox_name_mutf7_encode(name, len, out, error_r);
	if (buf_append(out, name, len) == -1) {
		*error_r = "output too long";
		return -1;
	}
	return 0;
}

int
mbox_name_to_disk(const char *name, size_t len,
    const struct mbox_name_limits *lim, struct buf *out,
    const char **error_r)
{
	struct mbox_name_out	o = { .b = out, .max = MBOX_NAME_DISK_MAX };
	size_t			start = out->len;
	bool			inbox;

	if (mbox_name_check(name, len, lim, &inbox, error_r) == -1)
		return -1;
	if (mbox_name_disk(&o, name, len, inbox, error_r) == -1)
		goto fail;
	if (o.full || o.too_long) {
		*error_r = o.full ? "output too long" : "mailbox name too long";
		goto fail;
	}
	return 0;
fail:
	buf_truncate(out, start);
	return -1;
}

int
mbox_name_from_disk(const char *disk, size_t len,
    const struct mbox_name_limits *lim, struct buf *out,
    const char **error_r)
{
	struct mbox_name_out	o = { .cmp = disk, .cmp_len = len,
				    .max = MBOX_NAME_DISK_MAX };
	char			imap[MBOX_NAME_DISK_MAX];
	size_t			i, n = 0, start = out->len;
	bool			inbox;

	if (len == 0) {
		if (buf_append(out, "INBOX", MBOX_NAME_INBOX_LEN) == -1) {
			*error_r = "output too long";
			return -1;
		}
		return 0;
	}
	if (len > MBOX_NAME_DISK_MAX) {
		*error_r = "folder name too long";
		return -1;
	}
	if (disk[0] != '.') {
		*error_r = "not a Maildir++ folder name";
		return -1;
	}
	/* Back to the name in modified UTF-7: n < len <= sizeof(imap). */
	for (i = 1; i < len; i++) {
		if (disk[i] == '.')
			imap[n++] = MBOX_NAME_SEP;
		else if (disk[i] != '%')
			imap[n++] = disk[i];
		else if (len - i < 3) {
			*error_r = "bad escape in folder name";
			return -1;
		} else if (disk[i + 1] == '2' && disk[i + 2] == 'e')
			imap[n++] = '.';
		else if (disk[i + 1] == '2' && disk[i + 2] == '5')
			imap[n++] = '%';
		else if (disk[i + 1] == '7' && disk[i + 2] == 'e')
			imap[n++] = '~';
		else {
			*error_r = "bad escape in folder name";
			return -1;
		}
		if (disk[i] == '%')
			i += 2;
	}
	if (mbox_name_decode(imap, n, out, lim->name_max,
	    "mailbox name too long", error_r) == -1)
		return -1;
	if (mbox_name_check(out->data + start, out->len - start, lim, &inbox,
	    error_r) == -1)
		goto fail;
	/*
	 * Only the canonical spelling names a mailbox: encoding the name
	 * again must give these bytes (".Inbox.x", ".INBOX", ".~x", ".a%7eb"
	 * and any stray spelling fail here), so no two folders share a name.
	 */
	if (mbox_name_disk(&o, out->data + start, out->len - start, inbox,
	    error_r) == -1)
		goto fail;
	if (o.differs || o.too_long || o.n != len) {
		*error_r = "folder name not in canonical form";
		goto fail;
	}
	return 0;
fail:
	buf_truncate(out, start);
	return -1;
}

/* The byte order of mbox_name_cmp(): NUL, then "/", then the rest. */
static inline unsigned int
mbox_name_order(unsigned char c)
{
	if (c == '\0')
		return 0;
	if (c == MBOX_NAME_SEP)
		return 1;
	return (unsigned int)c + 1;
}

int
mbox_name_cmp(const char *a, const char *b)
{
	const unsigned char *p = (const unsigned char *)a;
	const unsigned char *q = (const unsigned char *)b;

	while (*p != '\0' && *p == *q) {
		p++;
		q++;
	}
	return (int)mbox_name_order(*p) - (int)mbox_name_order(*q);
}

/*
 * s against the key name[0..len) + "/" in hierarchy order, with every
 * string that starts with the key counted as equal.
 */
static int
mbox_name_cmp_key(const char *s, const char *name, size_t len)
{
	size_t	i;

	for (i = 0; i < len; i++) {
		if (s[i] != name[i])
			return (int)mbox_name_order((unsigned char)s[i]) -
			    (int)mbox_name_order((unsigned char)name[i]);
	}
	return (int)mbox_name_order((unsigned char)s[len]) -
	    (int)mbox_name_order(MBOX_NAME_SEP);
}

bool
mbox_name_has_children(const char *const *names, size_t count,
    const char *name, size_t len)
{
	size_t	lo = 0, hi = count, mid;

	/*
	 * The first entry >= name + "/": in hierarchy order the descendants
	 * come right after it, and anything greater that does not start
	 * with it is greater than all of them.
	 */
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (mbox_name_cmp_key(names[mid], name, len) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < count && mbox_name_cmp_key(names[lo], name, len) == 0;
}

/* ---- LIST patterns -------------------------------------------------- */

/*
 * The pattern runs as a nondeterministic automaton held in bit sets, one
 * bit per state (shift-and): state j means "the first j tokens are
 * matched", state ntok accepts.  A token is a literal byte, "*" or "%";
 * runs of wildcards are folded to one token first ("*%" is "*", "%%"
 * is "%"), so no wildcard follows another and the empty-match closure is
 * one shift.  Each name byte costs a few operations per 64 states.
 */
#define MBOX_NAME_TOK_STAR	256
#define MBOX_NAME_TOK_PCT	257

/* Words of state bits kept on the stack; longer patterns use the heap. */
#define MBOX_NAME_STACK_WORDS	((MBOX_PATTERN_MAX + 1 + 63) / 64)

struct mbox_name_pattern {
	char		*text;		/* combined pattern, NUL-terminated */
	size_t		 text_len;
	size_t		 ntok;		/* tokens; state ntok accepts */
	size_t		 words;		/* uint64_t per set */
	uint16_t	 cls[256];	/* byte -> literal mask (0: none) */
	uint64_t	*mem;		/* the sets below, in one block */
	uint64_t	*star;		/* states whose token is "*" */
	uint64_t	*pct;		/* ... "%" */
	uint64_t	*wild;		/* star | pct */
	uint64_t	*init;		/* the start set, closed */
	uint64_t	*lit;		/* per class: its literal states */
};

static inline void
mbox_name_bit_set(uint64_t *set, size_t j)
{
	set[j / 64] |= (uint64_t)1 << (j % 64);
}

static inline bool
mbox_name_bit_get(const uint64_t *set, size_t j)
{
	return (set[j / 64] >> (j % 64) & 1) != 0;
}

/* Appends one part of a pattern (as sent) to b, decoded and checked. */
static int
mbox_name_pattern_part(struct buf *b, const char *s, size_t len, bool utf8,
    size_t max, const char **error_r)
{
	const uint8_t	*p = (const uint8_t *)s;
	size_t		 i, n;
	uint32_t	 c;

	if (!utf8)
		return mbox_name_decode(s, len, b, max, "pattern too long",
		    error_r);
	for (i = 0; i < len; i += n) {
		if ((n = utf8_decode(p + i, len - i, &c)) == 0) {
			*error_r = "pattern is not valid UTF-8";
			return -1;
		}
		if (c == 0) {
			*error_r = "NUL character";
			return -1;
		}
	}
	if (len > max || buf_append(b, s, len) == -1) {
		*error_r = "pattern too long";
		return -1;
	}
	return 0;
}

/* Builds the automaton of p->text. */
static void
mbox_name_pattern_compile(struct mbox_name_pattern *p)
{
	const uint8_t	*t = (const uint8_t *)p->text;
	uint16_t	*tok;
	size_t		 i, j, nclass = 0;
	bool		 star;

	tok = xreallocarray(NULL, p->text_len + 1, sizeof(*tok));
	for (i = 0, j = 0; i < p->text_len; j++) {
		if (t[i] != '*' && t[i] != '%') {
			tok[j] = t[i++];
			if (p->cls[tok[j]] == 0)
				p->cls[tok[j]] = (uint16_t)++nclass;
			continue;
		}
		for (star = false; i < p->text_len &&
		    (t[i] == '*' || t[i] == '%'); i++)
			star = star || t[i] == '*';
		tok[j] = star ? MBOX_NAME_TOK_STAR : MBOX_NAME_TOK_PCT;
	}
	p->ntok = j;
	p->words = (p->ntok + 1 + 63) / 64;
	/* star, pct, wild, init, then nclass + 1 literal sets (0 empty). */
	p->mem = xcalloc((4 + nclass + 1) * p->words, sizeof(uint64_t));
	p->star = p->mem;
	p->pct = p->star + p->words;
	p->wild = p->pct + p->words;
	p->init = p->wild + p->words;
	p->lit = p->init + p->words;
	for (j = 0; j < p->ntok; j++) {
		if (tok[j] == MBOX_NAME_TOK_STAR)
			mbox_name_bit_set(p->star, j);
		else if (tok[j] == MBOX_NAME_TOK_PCT)
			mbox_name_bit_set(p->pct, j);
		else
			mbox_name_bit_set(p->lit + p->cls[tok[j]] * p->words,
			    j);
	}
	for (i = 0; i < p->words; i++)
		p->wild[i] = p->star[i] | p->pct[i];
	mbox_name_bit_set(p->init, 0);
	if (p->ntok > 0 && tok[0] >= MBOX_NAME_TOK_STAR)
		mbox_name_bit_set(p->init, 1);
	free(tok);
}

int
mbox_name_pattern_new(const char *ref, size_t ref_len, const char *pat,
    size_t pat_len, bool utf8, const struct mbox_name_limits *lim,
    struct mbox_name_pattern **pattern_r, const char **error_r)
{
	struct mbox_name_pattern *p;
	struct buf	 b;
	size_t		 max = lim->pattern_max;

	buf_init(&b, 64, max);
	/* RFC 3501 6.3.8: a pattern starting with the separator is absolute. */
	if (ref_len > 0 && (pat_len == 0 || pat[0] != MBOX_NAME_SEP) &&
	    mbox_name_pattern_part(&b, ref, ref_len, utf8, max, error_r) == -1)
		goto fail;
	if (mbox_name_pattern_part(&b, pat, pat_len, utf8, max - b.len,
	    error_r) == -1)
		goto fail;
	p = xcalloc(1, sizeof(*p));
	p->text_len = b.len;
	p->text = buf_steal(&b);
	buf_deinit(&b);
	mbox_name_pattern_compile(p);
	*pattern_r = p;
	return 0;
fail:
	buf_deinit(&b);
	return -1;
}

void
mbox_name_pattern_free(struct mbox_name_pattern **pp)
{
	struct mbox_name_pattern *p = *pp;

	if (p == NULL)
		return;
	free(p->text);
	free(p->mem);
	free(p);
	*pp = NULL;
}

const char *
mbox_name_pattern_text(const struct mbox_name_pattern *p, size_t *len_r)
{
	*len_r = p->text_len;
	return p->text;
}

/*
 * Runs the automaton over s[0..len).  fold: the first MBOX_NAME_INBOX_LEN bytes
 * are INBOX's and match either case.  Returns 1 when the accepting state
 * is reached at the end, 0 when some state is still alive but not that
 * one, -1 when every state died.
 */
static int
mbox_name_pattern_run(const struct mbox_name_pattern *p, const char *s,
    size_t len, bool fold)
{
	uint64_t	 stack[2][MBOX_NAME_STACK_WORDS], *heap = NULL;
	uint64_t	*cur, *nxt, *tmp;
	const uint64_t	*m1, *m2;
	uint64_t	 adv, stay, x, carry, any;
	size_t		 i, w, words = p->words;
	unsigned char	 c;
	int		 ret;

	if (words <= MBOX_NAME_STACK_WORDS) {
		cur = stack[0];
		nxt = stack[1];
	} else {
		heap = xreallocarray(NULL, 2 * words, sizeof(uint64_t));
		cur = heap;
		nxt = heap + words;
	}
	memcpy(cur, p->init, words * sizeof(uint64_t));
	for (i = 0; i < len; i++) {
		c = (unsigned char)s[i];
		m1 = p->lit + p->cls[c] * words;
		m2 = NULL;
		if (fold && i < MBOX_NAME_INBOX_LEN &&
		    ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
			m2 = p->lit + p->cls[c ^ 0x20] * words;
		carry = 0;
		for (w = 0; w < words; w++) {
			adv = cur[w] & (m1[w] | (m2 != NULL ? m2[w] : 0));
			stay = cur[w] & (c == MBOX_NAME_SEP ? p->star[w] :
			    p->wild[w]);
			nxt[w] = adv << 1 | carry | stay;
			carry = adv >> 63;
		}
		/* A wildcard may match nothing: its next state is live too. */
		carry = 0;
		any = 0;
		for (w = 0; w < words; w++) {
			x = nxt[w] & p->wild[w];
			nxt[w] |= x << 1 | carry;
			carry = x >> 63;
			any |= nxt[w];
		}
		if (any == 0) {
			ret = -1;
			goto done;
		}
		tmp = cur;
		cur = nxt;
		nxt = tmp;
	}
	ret = mbox_name_bit_get(cur, p->ntok) ? 1 : 0;
done:
	free(heap);
	return ret;
}

bool
mbox_name_pattern_match(const struct mbox_name_pattern *p, const char *name,
    size_t len)
{
	return mbox_name_pattern_run(p, name, len,
	    mbox_name_inbox_first(name, len)) == 1;
}

bool
mbox_name_pattern_match_prefix(const struct mbox_name_pattern *p,
    const char *prefix, size_t len)
{
	bool	fold;

	/*
	 * Fold whenever the prefix could still be the start of an
	 * INBOX-rooted name ("INB", "inbox", "INBOX/x"): folding only adds
	 * matches, and a true answer may be generous.
	 */
	fold = mbox_name_inbox_prefix(prefix, len) &&
	    (len <= MBOX_NAME_INBOX_LEN ||
	    prefix[MBOX_NAME_INBOX_LEN] == MBOX_NAME_SEP);
	return mbox_name_pattern_run(p, prefix, len, fold) >= 0;
}
