/* SPDX-License-Identifier: ISC */
/*
 * A work queue: a few threads that run blocking disk work (the fsyncs
 * that make a queue file or a mailbox durable) off an event loop, so one
 * process keeps serving its other clients while the disk works, and the
 * disk sees several fsyncs at once, which it completes far faster than
 * one after another.
 *
 * The rules that keep this simple: a job's work function runs in a pool
 * thread and touches only what the job owns (file descriptors, paths,
 * buffers); it must not log, allocate from or call into the event loop,
 * or use anything else of the process.  Its done function runs later in
 * the event loop's thread, in the order the jobs finish, and there may
 * use everything.  error_fmt() is per thread, so a work function may
 * build an error text, but must copy it into its job before it returns.
 */
#ifndef POSTERN_WORKQ_H
#define POSTERN_WORKQ_H

#include "compat.h"

struct event_base;
struct workq;

/* Threads per queue at most. */
#define WORKQ_THREADS_MAX	64

/*
 * Starts threads (1 to WORKQ_THREADS_MAX) that run jobs, and an event
 * on base that runs the done functions.  Call after the privilege drop:
 * the threads then share the process's final credentials.  Every signal
 * is blocked in them.  Returns NULL with *error_r set when no thread
 * could be started.
 */
struct workq *workq_new(struct event_base *base, unsigned int threads,
    const char **error_r) ATTR_WUR;

/*
 * Queues a job: work(arg) in a pool thread, then done(arg) in the event
 * loop.  Never fails (allocation exits).  Jobs start in the order they
 * are queued, as threads come free.
 */
void	workq_submit(struct workq *q, void (*work)(void *),
	    void (*done)(void *), void *arg);

/* Jobs queued or running whose done function has not run yet. */
unsigned int workq_pending(const struct workq *q);

/*
 * Waits until every queued job has run and calls the done functions of
 * all of them, without the event loop (for the way out of a process).
 */
void	workq_drain(struct workq *q);

/* Drains, stops and joins the threads, frees *qp (NULL is fine). */
void	workq_free(struct workq **qp);

#endif
