/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for common/workq: jobs run in pool threads, done functions
 * in the event loop's thread in order of completion, every job exactly
 * once, drain and free with jobs in flight, and the thread count bounds.
 */
#include "config.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <event2/event.h>

#include "common/error.h"
#include "common/workq.h"
#include "common/xmalloc.h"

#include "common/banned.h"

#define NJOBS	200

struct job {
	pthread_t	 main;
	bool		 ran_elsewhere;	/* work ran outside the main thread */
	bool		 done_in_main;
	unsigned int	 ran;
	unsigned int	 done;
	unsigned int	*total_done;
	struct event_base *base;
	const char	*error_copy;
	char		 error[64];
};

static void
job_work(void *arg)
{
	struct job	*j = arg;
	const char	*e;

	j->ran_elsewhere = !pthread_equal(pthread_self(), j->main);
	j->ran++;
	/* error_fmt is per thread: a text made here is ours to copy. */
	e = error_fmt("job %p", arg);
	(void)snprintf(j->error, sizeof(j->error), "%s", e);
	if (((uintptr_t)arg / sizeof(*j)) % 7 == 0)
		(void)usleep(1000);
}

static void
job_done(void *arg)
{
	struct job	*j = arg;

	j->done_in_main = pthread_equal(pthread_self(), j->main);
	j->done++;
	if (++*j->total_done == NJOBS && j->base != NULL)
		(void)event_base_loopbreak(j->base);
}

static void
run_jobs(unsigned int threads, bool loop)
{
	struct event_base	*base;
	struct workq		*q;
	struct job		*jobs;
	const char		*error;
	unsigned int		 i, total = 0;

	base = event_base_new();
	ck_assert_ptr_nonnull(base);
	q = workq_new(base, threads, &error);
	ck_assert_ptr_nonnull(q);
	jobs = xcalloc(NJOBS, sizeof(*jobs));
	for (i = 0; i < NJOBS; i++) {
		jobs[i].main = pthread_self();
		jobs[i].total_done = &total;
		jobs[i].base = loop ? base : NULL;
		workq_submit(q, job_work, job_done, &jobs[i]);
	}
	ck_assert_uint_eq(workq_pending(q), NJOBS);
	if (loop)
		ck_assert_int_eq(event_base_dispatch(base), 0);
	else
		workq_drain(q);
	ck_assert_uint_eq(total, NJOBS);
	ck_assert_uint_eq(workq_pending(q), 0);
	for (i = 0; i < NJOBS; i++) {
		ck_assert_uint_eq(jobs[i].ran, 1);
		ck_assert_uint_eq(jobs[i].done, 1);
		ck_assert(jobs[i].ran_elsewhere);
		ck_assert(jobs[i].done_in_main);
		ck_assert_str_ne(jobs[i].error, "");
	}
	workq_free(&q);
	ck_assert_ptr_null(q);
	free(jobs);
	event_base_free(base);
}

START_TEST(test_loop_one_thread)
{
	run_jobs(1, true);
}
END_TEST

START_TEST(test_loop_many_threads)
{
	run_jobs(8, true);
}
END_TEST

START_TEST(test_drain)
{
	run_jobs(4, false);
}
END_TEST

/* workq_free() with jobs queued runs all of them and their done. */
START_TEST(test_free_with_jobs)
{
	struct event_base	*base = event_base_new();
	struct workq		*q;
	struct job		 jobs[20];
	const char		*error;
	unsigned int		 i, total = 0;

	q = workq_new(base, 2, &error);
	ck_assert_ptr_nonnull(q);
	memset(jobs, 0, sizeof(jobs));
	for (i = 0; i < 20; i++) {
		jobs[i].main = pthread_self();
		jobs[i].total_done = &total;
		workq_submit(q, job_work, job_done, &jobs[i]);
	}
	workq_free(&q);
	ck_assert_uint_eq(total, 20);
	for (i = 0; i < 20; i++)
		ck_assert_uint_eq(jobs[i].done, 1);
	workq_free(&q);		/* NULL is fine */
	event_base_free(base);
}
END_TEST

START_TEST(test_thread_bounds)
{
	struct event_base	*base = event_base_new();
	struct workq		*q;
	const char		*error = NULL;

	ck_assert_ptr_null(workq_new(base, 0, &error));
	ck_assert_ptr_nonnull(error);
	error = NULL;
	ck_assert_ptr_null(workq_new(base, WORKQ_THREADS_MAX + 1, &error));
	ck_assert_ptr_nonnull(error);
	q = workq_new(base, WORKQ_THREADS_MAX, &error);
	ck_assert_ptr_nonnull(q);
	workq_free(&q);
	event_base_free(base);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("workq");
	TCase	*tc = tcase_create("workq");
	SRunner	*sr;
	int	 failed;

	tcase_add_test(tc, test_loop_one_thread);
	tcase_add_test(tc, test_loop_many_threads);
	tcase_add_test(tc, test_drain);
	tcase_add_test(tc, test_free_with_jobs);
	tcase_add_test(tc, test_thread_bounds);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
