/* SPDX-License-Identifier: ISC */
/*
 * The work queue (workq.h): a mutex-protected list of jobs to run, a
 * list of jobs that ran, a condition variable on each, and an eventfd
 * that wakes the event loop when a job has run.  Jobs wait in the order
 * they were queued; their done functions run in the order they finished.
 */
#include "config.h"

#include <sys/eventfd.h>
#include <sys/queue.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "error.h"
#include "log.h"
#include "workq.h"
#include "xmalloc.h"

#include "banned.h"

struct workq_job {
	TAILQ_ENTRY(workq_job)	 entry;
	void			(*work)(void *);
	void			(*done)(void *);
	void			*arg;
};

TAILQ_HEAD(workq_list, workq_job);

struct workq {
	pthread_mutex_t		 lock;
	pthread_cond_t		 todo_cv;	/* todo grew, or stopping */
	pthread_cond_t		 done_cv;	/* done grew */
	struct workq_list	 todo;
	struct workq_list	 done;
	bool			 stopping;
	unsigned int		 pending;	/* submitted, done not yet run */
	int			 efd;
	struct event		*ev;
	pthread_t		*threads;
	unsigned int		 nthreads;
};

static void *
workq_thread(void *arg)
{
	struct workq		*q = arg;
	struct workq_job	*j;
	uint64_t		 one = 1;
	ssize_t			 n;

	(void)pthread_mutex_lock(&q->lock);
	for (;;) {
		while (TAILQ_EMPTY(&q->todo) && !q->stopping)
			(void)pthread_cond_wait(&q->todo_cv, &q->lock);
		if ((j = TAILQ_FIRST(&q->todo)) == NULL)
			break;		/* stopping, and nothing left */
		TAILQ_REMOVE(&q->todo, j, entry);
		(void)pthread_mutex_unlock(&q->lock);

		j->work(j->arg);

		(void)pthread_mutex_lock(&q->lock);
		TAILQ_INSERT_TAIL(&q->done, j, entry);
		(void)pthread_cond_signal(&q->done_cv);
		/* The counter only grows; EAGAIN would need 2^64 jobs. */
		do {
			n = write(q->efd, &one, sizeof(one));
		} while (n == -1 && errno == EINTR);
	}
	(void)pthread_mutex_unlock(&q->lock);
	return NULL;
}

/* Runs the done functions of the jobs that have run, unlocked. */
static void
workq_run_done(struct workq *q)
{
	struct workq_list	 list;
	struct workq_job	*j;

	TAILQ_INIT(&list);
	(void)pthread_mutex_lock(&q->lock);
	TAILQ_CONCAT(&list, &q->done, entry);
	(void)pthread_mutex_unlock(&q->lock);
	while ((j = TAILQ_FIRST(&list)) != NULL) {
		TAILQ_REMOVE(&list, j, entry);
		q->pending--;
		j->done(j->arg);
		free(j);
	}
}

static void
workq_event(evutil_socket_t fd, short what ATTR_UNUSED, void *arg)
{
	uint64_t	count;

	/* Nonblocking: a spurious wake reads EAGAIN and finds nothing. */
	(void)read(fd, &count, sizeof(count));
	workq_run_done(arg);
}

struct workq *
workq_new(struct event_base *base, unsigned int threads,
    const char **error_r)
{
	struct workq	*q;
	sigset_t	 all, old;
	unsigned int	 i;
	int		 r;

	if (threads == 0 || threads > WORKQ_THREADS_MAX) {
		*error_r = error_fmt("work queue threads %u not in 1-%u",
		    threads, WORKQ_THREADS_MAX);
		return NULL;
	}
	q = xcalloc(1, sizeof(*q));
	(void)pthread_mutex_init(&q->lock, NULL);
	(void)pthread_cond_init(&q->todo_cv, NULL);
	(void)pthread_cond_init(&q->done_cv, NULL);
	TAILQ_INIT(&q->todo);
	TAILQ_INIT(&q->done);
	q->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (q->efd == -1) {
		*error_r = error_fmt("eventfd: %s", strerror(errno));
		goto fail;
	}
	q->ev = event_new(base, q->efd, EV_READ | EV_PERSIST, workq_event, q);
	if (q->ev == NULL || event_add(q->ev, NULL) == -1) {
		*error_r = "cannot add the work queue event";
		goto fail;
	}
	q->threads = xcalloc(threads, sizeof(*q->threads));
	/* Signals belong to the event loop's thread: block all in ours. */
	(void)sigfillset(&all);
	(void)pthread_sigmask(SIG_SETMASK, &all, &old);
	for (i = 0; i < threads; i++) {
		r = pthread_create(&q->threads[i], NULL, workq_thread, q);
		if (r != 0) {
			log_warning("work queue: started %u of %u threads: %s",
			    i, threads, strerror(r));
			break;
		}
		q->nthreads++;
	}
	(void)pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (q->nthreads == 0) {
		*error_r = "cannot start a work queue thread";
		goto fail;
	}
	return q;

fail:
	workq_free(&q);
	return NULL;
}

void
workq_submit(struct workq *q, void (*work)(void *), void (*done)(void *),
    void *arg)
{
	struct workq_job	*j;

	j = xcalloc(1, sizeof(*j));
	j->work = work;
	j->done = done;
	j->arg = arg;
	q->pending++;
	(void)pthread_mutex_lock(&q->lock);
	TAILQ_INSERT_TAIL(&q->todo, j, entry);
	(void)pthread_cond_signal(&q->todo_cv);
	(void)pthread_mutex_unlock(&q->lock);
}

unsigned int
workq_pending(const struct workq *q)
{
	return q->pending;
}

void
workq_drain(struct workq *q)
{
	while (q->pending > 0) {
		(void)pthread_mutex_lock(&q->lock);
		while (TAILQ_EMPTY(&q->done))
			(void)pthread_cond_wait(&q->done_cv, &q->lock);
		(void)pthread_mutex_unlock(&q->lock);
		workq_run_done(q);
	}
}

void
workq_free(struct workq **qp)
{
	struct workq	*q = *qp;
	unsigned int	 i;

	if (q == NULL)
		return;
	*qp = NULL;
	if (q->nthreads > 0)
		workq_drain(q);
	(void)pthread_mutex_lock(&q->lock);
	q->stopping = true;
	(void)pthread_cond_broadcast(&q->todo_cv);
	(void)pthread_mutex_unlock(&q->lock);
	for (i = 0; i < q->nthreads; i++)
		(void)pthread_join(q->threads[i], NULL);
	free(q->threads);
	if (q->ev != NULL)
		event_free(q->ev);
	if (q->efd != -1)
		(void)close(q->efd);
	(void)pthread_cond_destroy(&q->todo_cv);
	(void)pthread_cond_destroy(&q->done_cv);
	(void)pthread_mutex_destroy(&q->lock);
	free(q);
}
