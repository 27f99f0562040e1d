/* SPDX-License-Identifier: ISC */
/*
 * The input protocol of postern-postdrop(8), shared with its one writer,
 * sendmail(1) (postctl/sendmail.c): the message as chunks, each a 4-byte
 * big-endian length and that many bytes (1 to POSTDROP_CHUNK_MAX), ended
 * by a chunk of length 0.  Input that ends before it (the writer died)
 * leaves nothing behind; a length of POSTDROP_CANCEL is the writer giving
 * up on purpose.
 */
#ifndef POSTERN_POSTDROP_H
#define POSTERN_POSTDROP_H

#define POSTDROP_CHUNK_MAX	65536u
#define POSTDROP_CANCEL		0xffffffffu

#endif
