/*
 * workq: jobs run one at a time, in the order queued, on a thread of their
 * own, while the caller goes on (cache entries and layers pushed during
 * the build).
 *
 *	struct kiln_workq *q = kiln_workq_new(run, drop, ctx);
 *	kiln_workq_push(q, job);          // run(ctx, job) soon, on the thread
 *	kiln_workq_finish(q, interrupted); // wait; true: drop what has not started
 *	kiln_workq_free(q);
 *
 * A job belongs to the queue once pushed: run() or drop() must free it.
 * When no thread can be started, push runs the job at once instead.
 */
#ifndef KILN_WORKQ_H
#define KILN_WORKQ_H

#include "compat.h"

typedef void kiln_workq_fn(void *ctx, void *job);

struct kiln_workq;

struct kiln_workq *kiln_workq_new(kiln_workq_fn *run, kiln_workq_fn *drop, void *ctx);
void kiln_workq_push(struct kiln_workq *q, void *job);
/* Wait for the queued jobs (drop: only the one running; drop() the rest)
 * and stop the thread. Later pushes start it again. */
void kiln_workq_finish(struct kiln_workq *q, bool drop);
/* Finishes (dropping) first; NULL-safe. */
void kiln_workq_free(struct kiln_workq *q);

#endif
