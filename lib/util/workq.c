#include "compat.h"
#include "workq.h"
#include "alloc.h"

#include <pthread.h>

struct kiln_workq {
	kiln_workq_fn *run, *drop;
	void *ctx;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t thread;
	bool started, closing;
	void **jobs; /* [head, nr) are queued */
	size_t head, nr, alloc;
};

struct kiln_workq *kiln_workq_new(kiln_workq_fn *run, kiln_workq_fn *drop, void *ctx)
{
	struct kiln_workq *q = xcalloc(1, sizeof(*q));

	q->run = run;
	q->drop = drop;
	q->ctx = ctx;
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->cond, NULL);
	return q;
}

/* The next job, or NULL once closing with none left. */
static void *next_job(struct kiln_workq *q)
{
	void *job = NULL;

	pthread_mutex_lock(&q->lock);
	while (q->head == q->nr && !q->closing)
		pthread_cond_wait(&q->cond, &q->lock);
	if (q->head < q->nr)
		job = q->jobs[q->head++];
	pthread_mutex_unlock(&q->lock);
	return job;
}

static void *worker(void *arg)
{
	struct kiln_workq *q = arg;
	void *job;

	while ((job = next_job(q)))
		q->run(q->ctx, job);
	return NULL;
}

void kiln_workq_push(struct kiln_workq *q, void *job)
{
	pthread_mutex_lock(&q->lock);
	if (!q->started) {
		q->closing = false;
		q->started = pthread_create(&q->thread, NULL, worker, q) == 0;
		if (!q->started) {
			pthread_mutex_unlock(&q->lock);
			q->run(q->ctx, job);
			return;
		}
	}
	if (q->head == q->nr)
		q->head = q->nr = 0;
	if (q->nr == q->alloc) {
		q->alloc = q->alloc ? 2 * q->alloc : 8;
		q->jobs = xreallocarray(q->jobs, q->alloc, sizeof(*q->jobs));
	}
	q->jobs[q->nr++] = job;
	pthread_cond_signal(&q->cond);
	pthread_mutex_unlock(&q->lock);
}

void kiln_workq_finish(struct kiln_workq *q, bool drop)
{
	pthread_mutex_lock(&q->lock);
	while (drop && q->head < q->nr)
		q->drop(q->ctx, q->jobs[q->head++]);
	q->closing = true;
	pthread_cond_signal(&q->cond);
	pthread_mutex_unlock(&q->lock);
	if (q->started)
		pthread_join(q->thread, NULL);
	q->started = false;
}

void kiln_workq_free(struct kiln_workq *q)
{
	if (!q)
		return;
	kiln_workq_finish(q, true);
	pthread_mutex_destroy(&q->lock);
	pthread_cond_destroy(&q->cond);
	free(q->jobs);
	free(q);
}
