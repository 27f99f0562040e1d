/* SPDX-License-Identifier: ISC */
/*
 * The framed protocol between postern processes (DESIGN.md "Talking
 * between processes", STYLE R17).
 *
 * A frame is a 12-byte header, all integers big-endian:
 *	u16 type	an IPC_* value of ipc_types.h
 *	u16 flags	IPC_F_FD: exactly one descriptor rides along
 *	u32 len		length of the body that follows
 *	u32 peer_id	the sender's request or session id, echoed in replies
 * and a body of fields, each:
 *	u8  key length (1..IPC_KEY_MAX), key bytes [a-z0-9_-]
 *	u32 value length, value bytes (any bytes; strings carry no NUL)
 * A key may repeat (lists); getters return the first.  The receiver
 * checks len against its maximum before it reads the body, and checks
 * every field as if it came from the network.  A descriptor travels with
 * the first byte of its frame by SCM_RIGHTS.
 */
#ifndef POSTERN_IPC_H
#define POSTERN_IPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "compat.h"
#include "ipc_types.h"

#define IPC_HEADER_SIZE	12
#define IPC_KEY_MAX	32
#define IPC_F_FD	0x0001
#define IPC_F_ALL	(IPC_F_FD)

struct ipc_msg {
	uint16_t	 type;
	uint16_t	 flags;
	uint32_t	 peer_id;
	struct buf	*body;		/* encoded fields */
	int		 fd;		/* received or to send; -1 if none */

	/* Private to ipc.c: the copies ipc_get_str() handed out. */
	char		**strs;
	size_t		 nstrs;
};

/*
 * A new message to build; body limit is IPC_MAX_BUILD.  type must be a
 * valid IPC_* value (else panic: a code bug).
 */
#define IPC_MAX_BUILD	(64 * 1024 * 1024)
struct ipc_msg *ipc_msg_new(uint16_t type, uint32_t peer_id);
/* Frees *mp and closes its fd if any; NULL allowed; sets *mp = NULL. */
void	 ipc_msg_free(struct ipc_msg **mp);

/*
 * Builders: panic on a bad key or a body growing past IPC_MAX_BUILD (code
 * bugs); exit on out of memory.  Numbers travel as decimal text.
 */
void	 ipc_add_str(struct ipc_msg *m, const char *key, const char *val);
void	 ipc_add_data(struct ipc_msg *m, const char *key, const void *data,
	    size_t len);
void	 ipc_add_u64(struct ipc_msg *m, const char *key, uint64_t val);

/*
 * Getters.  Each returns 0, or -1 when the field is missing or invalid:
 * a string longer than max or holding a NUL or control byte other than
 * tab; a number not all digits or above max.  The returned pointers point
 * into m (str is NUL-terminated copy owned by m) and live as long as m.
 */
int	 ipc_get_str(struct ipc_msg *m, const char *key, size_t max,
	    const char **val_r) ATTR_WUR;
int	 ipc_get_data(struct ipc_msg *m, const char *key, size_t max,
	    const uint8_t **data_r, size_t *len_r) ATTR_WUR;
int	 ipc_get_u64(struct ipc_msg *m, const char *key, uint64_t max,
	    uint64_t *val_r) ATTR_WUR;
bool	 ipc_has(const struct ipc_msg *m, const char *key);
/*
 * Every value of the repeated string field key, in order, as a new
 * NULL-terminated list (*n_r values; n_r may be NULL): each of 1 (0 with
 * empty_ok) to vmax bytes without a control byte (tab neither), at most
 * max of them.  Returns 0 (an absent field is an empty list), or -1 when
 * a value is invalid, there are more than max, or the body is malformed.
 */
int	 ipc_get_list(const struct ipc_msg *m, const char *key, size_t max,
	    size_t vmax, bool empty_ok, char ***list_r, size_t *n_r) ATTR_WUR;
/* Frees such a list (NULL is fine) and sets *listp to NULL. */
void	 ipc_list_free(char ***listp);
/*
 * Iterates over all fields: *cursor starts at 0.  Returns 1 with the next
 * field, 0 at the end, -1 if the body is malformed.
 */
int	 ipc_next_field(const struct ipc_msg *m, size_t *cursor,
	    const char **key_r, size_t *key_len_r, const uint8_t **val_r,
	    size_t *val_len_r);

/*
 * Decodes one frame from data (the wire bytes).  Returns 1 with a new
 * message in *m_r and the bytes used in *used_r; 0 when more bytes are
 * needed; -1 with *error_r when the frame is invalid (unknown flags, len
 * above max, malformed fields).  The fd of the result is -1: the
 * transport attaches descriptors.  This is what the fuzzer drives.
 */
int	 ipc_decode(const uint8_t *data, size_t len, size_t max,
	    struct ipc_msg **m_r, size_t *used_r, const char **error_r);
/*
 * Appends the frame of m (header and body) to out, with m->flags as they
 * are (m->fd is not looked at).  Panics when out's maximum is too small.
 */
void	 ipc_encode(const struct ipc_msg *m, struct buf *out);

/* ---- Blocking use (postctl, tests, simple clients) ------------------ */

/* Connects to a Unix stream socket. Returns the fd or -1 (*error_r). */
int	 ipc_connect(const char *path, const char **error_r);
/*
 * The same, for an event loop: a nonblocking socket.  A Unix stream
 * connect still completes or fails at once; EAGAIN (the listener's
 * backlog is full), ECONNREFUSED and ENOENT all mean "not reachable now".
 */
int	 ipc_connect_nonblock(const char *path, const char **error_r);

/*
 * The first message on every connection: IPC_HELLO {version, program}.
 * A program name is 1 to IPC_PROGRAM_MAX bytes of lower-case letters,
 * digits, "-", "_", "/" and ".".
 */
#define IPC_PROGRAM_MAX	64
/* A HELLO from program, with this build's protocol version. */
struct ipc_msg *ipc_hello_new(const char *program);
/*
 * Checks that m is a HELLO with this build's protocol version and a valid
 * program name.  Returns 0 with *program_r (valid while m lives), or -1
 * with *error_r, a text for the peer's IPC_ERROR.
 */
int	 ipc_hello_check(struct ipc_msg *m, const char **program_r,
	    const char **error_r) ATTR_WUR;
/*
 * Sends m (and fd when fd != -1: the frame then carries IPC_F_FD).  The
 * caller keeps m and fd.  Returns 0 or -1 (*error_r).
 */
int	 ipc_write(int sock, const struct ipc_msg *m, int fd,
	    const char **error_r) ATTR_WUR;
/*
 * Reads one frame, waiting at most timeout_ms (-1: forever).  Returns 1
 * with *m_r, 0 on a clean end of stream before any byte of a frame, -1 on
 * error or timeout (*error_r).  A descriptor that arrives with a frame
 * that does not say IPC_F_FD, or more than one, is closed and is an error.
 */
int	 ipc_read(int sock, size_t max, int timeout_ms, struct ipc_msg **m_r,
	    const char **error_r) ATTR_WUR;

/* ---- Event-driven use (daemons, libevent) --------------------------- */

struct event_base;
struct ipc_conn;

/*
 * Called for each complete message; the handler owns m (and m->fd) also
 * when it returns -1.  Return 0 to go on, -1 to close the connection (the
 * close callback then runs, with reason "closed by handler").
 */
typedef int ipc_msg_cb(struct ipc_conn *c, struct ipc_msg *m, void *ctx);
/*
 * Called once when the connection closes (EOF, error, bad frame, output
 * limit); reason is valid during the call only.  After it nothing more is
 * read or sent; the owner still calls ipc_conn_free().
 */
typedef void ipc_close_cb(struct ipc_conn *c, const char *reason, void *ctx);

/*
 * Takes over fd (made non-blocking, closed on free).  max is the largest
 * body accepted.  Frames are read and handled as they arrive; a malformed
 * frame is logged with the peer name and closes the connection.
 */
struct ipc_conn *ipc_conn_new(struct event_base *base, int fd, size_t max,
	    const char *peer_name, ipc_msg_cb *on_msg, ipc_close_cb *on_close,
	    void *ctx);
/*
 * Closes and frees *cp; no callback runs; sets *cp = NULL.  It may be
 * called from inside the connection's own on_msg or on_close: the
 * connection then stops at once (no further callback, nothing more read
 * or sent) and its memory is released when that callback returns.
 */
void	 ipc_conn_free(struct ipc_conn **cp);
/*
 * Queues m for sending, with fd when fd != -1 (dup'd: the caller keeps
 * its copy).  Returns 0, or -1 when the connection is already closed,
 * the descriptor cannot be duplicated (logged), or the output queue would
 * exceed its limit of 4 * (IPC_HEADER_SIZE + max) bytes: a peer that
 * reads nothing is broken, so the connection then also closes, with
 * on_close called from the event loop (never from inside this call).
 */
int	 ipc_conn_send(struct ipc_conn *c, const struct ipc_msg *m, int fd);
/*
 * Sends a reply (IPC_OK, IPC_ERROR, ...) for request peer_id with an
 * optional "text" field.  Returns what ipc_conn_send() returns.
 */
int	 ipc_conn_reply(struct ipc_conn *c, uint16_t type, uint32_t peer_id,
	    const char *text);
/*
 * Writes what the socket takes now, without waiting (before a process
 * exits, so that a last reply is not lost).  Returns 0 when the output is
 * empty, 1 when some is left, -1 when the connection is closed or failed.
 */
int	 ipc_conn_flush(struct ipc_conn *c);
int	 ipc_conn_fd(const struct ipc_conn *c);
/*
 * "PREFIX client pid P uid U" of a Unix socket's peer (SO_PEERCRED), or
 * "PREFIX client" when the kernel does not say; prefix may be "" (then
 * "client pid ...").  For log lines; the caller frees it.
 */
char	*ipc_peer_name(int fd, const char *prefix);
const char *ipc_conn_peer(const struct ipc_conn *c);

/*
 * Deadlines of requests to another service (authd_client, smtpd's quota
 * check), on CLOCK_MONOTONIC.  ipc_deadline_set() makes one seconds from
 * now; ipc_deadline_passed() is true once it is reached, with a
 * millisecond of slack for libevent's timer granularity;
 * ipc_timer_at() arms the timer event ev for it (rounded up to the
 * millisecond, so it never fires early; at once when it has passed).
 */
struct event;
struct timespec;
void	 ipc_deadline_set(struct timespec *ts, unsigned int seconds);
bool	 ipc_deadline_passed(const struct timespec *deadline);
void	 ipc_timer_at(struct event *ev, const struct timespec *deadline);

#endif
