/*
 * copy-pool.c: the regular files of a directory being copied, written by
 * worker threads while the walk goes on.
 *
 * Copying a context is mostly the kernel creating files and filling them,
 * one at a time; files in one directory are independent of each other, so
 * a few threads do them side by side. The walker still does everything
 * whose order matters itself: directories (created before their files are
 * queued), symlinks, device nodes, and every file with more than one link
 * (a later name links to its copy, which must exist by then). It drains
 * the pool before leaving a directory, so a directory's mode and times are
 * set only once nothing more will be created in it.
 */
#include "compat.h"
#include "copy-int.h"
#include "alloc.h"
#include "cpus.h"
#include "error.h"

#include <pthread.h>

#define POOL_MAX_THREADS 4

struct pool_job {
	int dst_dfd; /* borrowed: open until the walker drains the pool */
	int src_fd;  /* the job's, closed when done */
	char *dname;
	mode_t mode;
	struct timespec times[2];
};

struct copy_pool {
	struct copy_ctx *c;
	pthread_mutex_t lock;
	pthread_cond_t work, idle;
	struct pool_job *jobs; /* [head, nr) queued */
	size_t head, nr, alloc;
	unsigned busy; /* jobs being run */
	bool stop;
	int ret; /* the first failure, kept with its message */
	struct kiln_error err;
	pthread_t threads[POOL_MAX_THREADS];
	unsigned nr_threads;
};

static void job_release(struct pool_job *j)
{
	close(j->src_fd);
	free(j->dname);
}

static void run_job(struct copy_pool *p, struct pool_job *j)
{
	struct kiln_error err = KILN_ERROR_INIT;
	int ret;

	ret = copy_write_file(p->c, j->dst_dfd, j->dname, j->src_fd, NULL, 0, j->mode, j->times,
			      &err);
	pthread_mutex_lock(&p->lock);
	if (ret < 0 && p->ret == 0) {
		p->ret = ret;
		p->err = err;
		err = (struct kiln_error)KILN_ERROR_INIT;
	}
	pthread_mutex_unlock(&p->lock);
	kiln_error_release(&err);
	job_release(j);
}

static void *worker(void *arg)
{
	struct copy_pool *p = arg;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		struct pool_job j;

		while (p->head == p->nr && !p->stop)
			pthread_cond_wait(&p->work, &p->lock);
		if (p->head == p->nr)
			break;
		j = p->jobs[p->head++];
		p->busy++;
		pthread_mutex_unlock(&p->lock);
		run_job(p, &j);
		pthread_mutex_lock(&p->lock);
		p->busy--;
		if (p->head == p->nr && !p->busy)
			pthread_cond_broadcast(&p->idle);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

struct copy_pool *copy_pool_new(struct copy_ctx *c)
{
	unsigned n = kiln_cpus_available();
	struct copy_pool *p;

	if (n < 2)
		return NULL;
	p = xcalloc(1, sizeof(*p));
	p->c = c;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->work, NULL);
	pthread_cond_init(&p->idle, NULL);
	for (unsigned i = 0; i < n && i < POOL_MAX_THREADS; i++) {
		if (pthread_create(&p->threads[p->nr_threads], NULL, worker, p) != 0)
			break;
		p->nr_threads++;
	}
	if (!p->nr_threads) {
		copy_pool_free(p);
		return NULL;
	}
	return p;
}

void copy_pool_add(struct copy_pool *p, int dst_dfd, const char *dname, int src_fd, mode_t mode,
		   const struct timespec times[2])
{
	struct pool_job j = { .dst_dfd = dst_dfd,
			      .src_fd = src_fd,
			      .dname = xstrdup(dname),
			      .mode = mode,
			      .times = { times[0], times[1] } };

	pthread_mutex_lock(&p->lock);
	if (p->head == p->nr)
		p->head = p->nr = 0;
	if (p->nr == p->alloc) {
		p->alloc = p->alloc ? 2 * p->alloc : 64;
		p->jobs = xreallocarray(p->jobs, p->alloc, sizeof(*p->jobs));
	}
	p->jobs[p->nr++] = j;
	pthread_cond_signal(&p->work);
	pthread_mutex_unlock(&p->lock);
}

int copy_pool_drain(struct copy_pool *p, struct kiln_error *err)
{
	int ret;

	pthread_mutex_lock(&p->lock);
	while (p->head < p->nr || p->busy)
		pthread_cond_wait(&p->idle, &p->lock);
	ret = p->ret;
	if (ret < 0) {
		kiln_err(err, p->err.code, p->err.sys_errno, "%s", kiln_error_msg(&p->err));
		kiln_error_release(&p->err);
		p->ret = 0;
	}
	pthread_mutex_unlock(&p->lock);
	return ret;
}

void copy_pool_free(struct copy_pool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->lock);
	for (unsigned i = 0; i < p->nr_threads; i++)
		pthread_join(p->threads[i], NULL);
	while (p->head < p->nr)
		job_release(&p->jobs[p->head++]);
	kiln_error_release(&p->err);
	pthread_cond_destroy(&p->idle);
	pthread_cond_destroy(&p->work);
	pthread_mutex_destroy(&p->lock);
	free(p->jobs);
	free(p);
}
