/* SPDX-License-Identifier: ISC */
/*
 * The Maildir pieces of the delivery agent (postern-delivery-agent(8)):
 * mailbox path checks, folder creation without following symbolic links,
 * unique file names, the Maildir++ maildirsize quota file, the loop check
 * on Delivered-To, and the copy of a message from the queue file with
 * CRLF turned into LF.  Every function here may run in a workq thread: it
 * touches only its arguments, never logs, and returns -1 with errno kept
 * from the failing call and a detailed *error_r (error_fmt, per thread).
 */
#ifndef POSTERN_DELIVER_MAILDIR_H
#define POSTERN_DELIVER_MAILDIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compat.h"

/* Longest mailbox path accepted (PATH_MAX, its NUL excluded). */
#define MAILDIR_PATH_MAX	4095
/* Longest sub-address folder name, without the leading "." of Maildir++. */
#define MAILDIR_FOLDER_MAX	200
/* Longest file name maildir_name() makes, NUL included. */
#define MAILDIR_NAME_SIZE	256
/* A host name longer than this is cut in file names. */
#define MAILDIR_HOST_MAX	128
/* The loop check reads at most this much of the header section. */
#define MAILDIR_HEADER_MAX	(1024 * 1024)
/* Bytes read from the queue file at a time. */
#define MAILDIR_COPY_CHUNK	(64 * 1024)
/*
 * Maildir++: a maildirsize larger than this has collected too many lines
 * and is recalculated (and rewritten) instead of read.
 */
#define MAILDIR_SIZE_FILE_MAX	5120
#define MAILDIR_SIZE_FILE	"maildirsize"

/*
 * Checks that path is a Maildir path below root: absolute, starting with
 * root followed by "/", and with no empty ("//", a trailing "/"), "." or
 * ".." component after it.  Returns 0 or -1 (*error_r).
 */
int	maildir_path_check(const char *root, const char *path,
	    const char **error_r) ATTR_WUR;

/*
 * A sub-address folder name: 1..MAILDIR_FOLDER_MAX of letters, digits,
 * "-", "_" and ".", not starting or ending with "." and without "..".
 */
bool	maildir_folder_valid(const char *name);

/*
 * Makes the Maildir at path (below root, checked with maildir_path_check
 * first) ready: every missing folder from root down to it and its cur/,
 * new/ and tmp/ are created with mode 0700; none of them may be a
 * symbolic link (openat with O_NOFOLLOW from root down).  root itself
 * must exist.  When folder is not "" and the Maildir++ folder ".FOLDER"
 * exists, its cur/, new/ and tmp/ are made too and *folder_used_r is
 * true; otherwise *folder_used_r is false (the inbox is used).  Returns
 * 0 or -1 (*error_r, errno).
 */
int	maildir_prepare(const char *root, const char *path, const char *folder,
	    bool *folder_used_r, const char **error_r) ATTR_WUR;

/*
 * Writes host into dst as Maildir file names want it: "/" becomes
 * "\057", ":" "\072" and "," "\054" (so that ",S=" and ":2," stay
 * unambiguous), cut at MAILDIR_HOST_MAX bytes of input.  Returns 0, or
 * -1 when dst is too small or host is empty.
 */
int	maildir_host_name(const char *host, char *dst, size_t size) ATTR_WUR;

/*
 * The unique part of a Maildir file name:
 * "<sec>.M<usec>P<pid>Q<counter>.<host>" (host already made safe by
 * maildir_host_name()).  maildir_name() takes the time now.  Returns 0,
 * or -1 when it does not fit in size.
 */
int	maildir_name_format(char *dst, size_t size, uint64_t sec,
	    uint64_t usec, uint64_t pid, uint64_t counter,
	    const char *host) ATTR_WUR;
int	maildir_name(char *dst, size_t size, uint64_t pid, uint64_t counter,
	    const char *host) ATTR_WUR;
/* base + ",S=<msgsize>" into dst.  Returns 0, or -1 when it does not fit. */
int	maildir_name_sized(char *dst, size_t size, const char *base,
	    uint64_t msgsize) ATTR_WUR;

/* ---- quota (Maildir++ maildirsize) ---------------------------------- */

/*
 * Parses the text of a maildirsize file: a first line "<bytes>S" or
 * "<bytes>S,<count>C" (either part, in any order), then lines
 * "<bytes> <count>" (each may be negative; spaces may pad them), every
 * line ending with LF.  Sums the lines into *bytes_r and *count_r (a
 * negative sum counts as 0) and gives the quota of the first line in
 * *quota_r (0 when it names none).  Returns 0, or -1 when the text is not
 * of that form (the caller then recalculates).
 */
int	maildir_size_parse(const char *data, size_t len, uint64_t *quota_r,
	    uint64_t *bytes_r, uint64_t *count_r) ATTR_WUR;

/*
 * Recalculates the size of a Maildir: the sum over the files of cur/ and
 * new/ of the inbox and of every ".FOLDER", each by its ",S=" size or,
 * without one, by its size on disk.  Returns 0 or -1 (*error_r, errno).
 */
int	maildir_size_calc(const char *maildir, uint64_t *bytes_r,
	    uint64_t *count_r, const char **error_r) ATTR_WUR;

/*
 * The current size of the Maildir, for a quota of quota bytes: from its
 * maildirsize when that parses, is at most MAILDIR_SIZE_FILE_MAX bytes and
 * names the same quota; else recalculated, and maildirsize rewritten
 * ("<quota>S\n<bytes> <count>\n") through tmp/<unique> and a rename.
 * Returns 0 or -1 (*error_r, errno).
 */
int	maildir_size_get(const char *maildir, uint64_t quota,
	    const char *unique, uint64_t *bytes_r,
	    const char **error_r) ATTR_WUR;

/*
 * Reads the maildirsize of the Maildir at path (below root, checked with
 * maildir_path_check; every folder from root down opened with
 * O_NOFOLLOW) without recalculating or writing anything: the cheap look
 * of smtpd's RCPT-time quota check.  Returns 1 with the sums of
 * maildir_size_parse() in *quota_r and *bytes_r; 0 when there is no
 * usable file (no Maildir yet, no maildirsize, one too big or that does
 * not parse); -1 on another error (*error_r, errno).
 */
int	maildir_size_peek(const char *root, const char *path,
	    uint64_t *quota_r, uint64_t *bytes_r,
	    const char **error_r) ATTR_WUR;

/*
 * Appends "<msgsize> 1\n" to maildirsize with one O_APPEND write, when
 * the file exists (a missing one is recalculated by the next delivery
 * with a quota).  When the write fails or is short (a full disk) the
 * file is removed, since it would count too little from then on, so
 * that the next delivery recalculates it.  Returns 0 or -1 (*error_r,
 * errno).
 */
int	maildir_size_add(const char *maildir, uint64_t msgsize,
	    const char **error_r) ATTR_WUR;

/*
 * Whether a message of msgsize bytes fits: quota 0 means no limit;
 * otherwise current + msgsize must not exceed quota (reaching it exactly
 * fits).
 */
bool	maildir_quota_allows(uint64_t quota, uint64_t current,
	    uint64_t msgsize);

/* ---- the message ---------------------------------------------------- */

/*
 * Reads the header section of the message at offset..offset+length of fd
 * (up to and including its empty line, or the whole message when it has
 * none), at most max bytes, into *hdr_r (NUL terminated, caller frees).
 * Returns 0 or -1 (*error_r, errno).
 */
int	maildir_read_header(int fd, uint64_t offset, uint64_t length,
	    size_t max, char **hdr_r, size_t *len_r,
	    const char **error_r) ATTR_WUR;

/*
 * Whether the header section hdr (CRLF or LF lines, up to the first empty
 * line) has a Delivered-To field whose value, unfolded and trimmed (and
 * without one pair of angle brackets), equals user ignoring ASCII case.
 */
bool	maildir_header_has_delivered_to(const char *hdr, size_t len,
	    const char *user);

/*
 * Streaming CRLF to LF: a CR at the end of one piece is held until the
 * next shows whether an LF follows.  A bare CR is kept.
 */
struct maildir_lf {
	bool	cr;		/* a CR is held back */
};
/* Converts in (len bytes) into out (room for len + 1); returns out's length. */
size_t	maildir_lf_convert(struct maildir_lf *st, const uint8_t *in,
	    size_t len, uint8_t *out);
/* The held CR, if any, at the end of the input; returns 0 or 1. */
size_t	maildir_lf_finish(struct maildir_lf *st, uint8_t *out);

/*
 * Copies length bytes at offset of in_fd to out_fd with pread in
 * MAILDIR_COPY_CHUNK pieces, CRLF turned into LF; *written_r is what went
 * to out_fd.  A file shorter than offset + length is an error (EIO).
 * Returns 0 or -1 (*error_r, errno).
 */
int	maildir_copy(int in_fd, uint64_t offset, uint64_t length, int out_fd,
	    uint64_t *written_r, const char **error_r) ATTR_WUR;

#endif
