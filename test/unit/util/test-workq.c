#include "compat.h"
#include "workq.h"
#include "alloc.h"
#include "kiln-test.h"

#include <pthread.h>

/* What the jobs did: the order they ran in, which were dropped, and a
 * gate the first job may wait at so the others stay queued. */
struct record {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool gate_open, started;
	int ran[64], dropped[64];
	size_t nr_ran, nr_dropped;
	pthread_t caller;
	bool on_caller;
};

static void run_job(void *ctx, void *job)
{
	struct record *r = ctx;
	int *n = job;

	pthread_mutex_lock(&r->lock);
	r->started = true;
	pthread_cond_broadcast(&r->cond);
	while (*n == 0 && !r->gate_open)
		pthread_cond_wait(&r->cond, &r->lock);
	r->ran[r->nr_ran++] = *n;
	r->on_caller |= pthread_equal(pthread_self(), r->caller);
	pthread_mutex_unlock(&r->lock);
	free(n);
}

static void drop_job(void *ctx, void *job)
{
	struct record *r = ctx;
	int *n = job;

	/* called while the finishing thread holds the queue: job 0 may end */
	pthread_mutex_lock(&r->lock);
	r->dropped[r->nr_dropped++] = *n;
	r->gate_open = true;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
	free(n);
}

static int *job(int n)
{
	int *p = xmalloc(sizeof(*p));

	*p = n;
	return p;
}

static void record_init(struct record *r)
{
	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->cond, NULL);
	r->caller = pthread_self();
}

/* Every job runs, in the order queued, off the caller's thread; the queue
 * can be finished and used again. */
static void test_workq_order(void **state)
{
	struct record r;
	struct kiln_workq *q;

	(void)state;
	record_init(&r);
	r.gate_open = true;
	q = kiln_workq_new(run_job, drop_job, &r);
	for (int i = 1; i <= 40; i++)
		kiln_workq_push(q, job(i));
	kiln_workq_finish(q, false);
	assert_int_equal(r.nr_ran, 40);
	for (int i = 0; i < 40; i++)
		assert_int_equal(r.ran[i], i + 1);
	kiln_workq_push(q, job(41));
	kiln_workq_finish(q, false);
	assert_int_equal(r.nr_ran, 41);
	assert_int_equal(r.nr_dropped, 0);
	assert_false(r.on_caller);
	kiln_workq_free(q);
}

/* Finishing with drop: the job under way completes, the queued ones are
 * handed to drop() unrun. */
static void test_workq_drop(void **state)
{
	struct record r;
	struct kiln_workq *q;

	(void)state;
	record_init(&r);
	q = kiln_workq_new(run_job, drop_job, &r);
	kiln_workq_push(q, job(0)); /* waits at the gate until a drop */
	for (int i = 1; i <= 5; i++)
		kiln_workq_push(q, job(i));
	pthread_mutex_lock(&r.lock);
	while (!r.started)
		pthread_cond_wait(&r.cond, &r.lock);
	pthread_mutex_unlock(&r.lock);
	kiln_workq_finish(q, true);
	assert_int_equal(r.nr_ran, 1);
	assert_int_equal(r.ran[0], 0);
	assert_int_equal(r.nr_dropped, 5);
	for (int i = 0; i < 5; i++)
		assert_int_equal(r.dropped[i], i + 1);
	kiln_workq_free(q);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_workq_order),
	cmocka_unit_test(test_workq_drop),
};

KILN_TEST_MAIN(tests)
