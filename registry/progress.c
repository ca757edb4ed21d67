/*
 * progress.c: per-blob progress lines ("pull sha256:0123456789ab: 12.0 MiB
 * of 48.0 MiB (25%), 40.1 MiB/s"), rate-limited per blob: see
 * struct reg_progress in registry-int.h for the pace and why.
 */
#include "compat.h"
#include "registry-int.h"
#include "log.h"

#include <inttypes.h>
#include <time.h>

/* Below this a blob's final line is DEBUG: configs would only add noise. */
#define QUIET_BELOW (1u << 20)

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static double mib(uint64_t n)
{
	return (double)n / (1024.0 * 1024.0);
}

void reg_progress_start(struct reg_progress *p, const struct registry_client *c, const char *verb,
			const struct kiln_digest *d, int64_t total)
{
	char ds[KILN_DIGEST_STR_SIZE];

	kiln_digest_format(ds, d);
	memset(p, 0, sizeof(*p));
	p->verb = verb;
	snprintf(p->id, sizeof(p->id), "%.19s", ds);
	p->total = total > 0 ? (uint64_t)total : 0;
	p->interval_ms = c->o.progress_interval_ms ? c->o.progress_interval_ms : 5000;
	p->start_ms = p->last_ms = now_ms();
}

/* done may go back (a retried upload starts again): the line says so. */
void reg_progress_update(struct reg_progress *p, uint64_t done)
{
	uint64_t t;
	double secs;

	if (!p->verb)
		return;
	p->done = done;
	t = now_ms();
	if (t - p->last_ms < p->interval_ms)
		return;
	p->last_ms = t;
	secs = (double)(t - p->start_ms) / 1000.0;
	if (p->total)
		kiln_info("%s %s: %.1f MiB of %.1f MiB (%" PRIu64 "%%), %.1f MiB/s", p->verb, p->id,
			  mib(done), mib(p->total), done * 100 / p->total,
			  secs > 0 ? mib(done) / secs : 0.0);
	else
		kiln_info("%s %s: %.1f MiB, %.1f MiB/s", p->verb, p->id, mib(done),
			  secs > 0 ? mib(done) / secs : 0.0);
}

void reg_progress_end(struct reg_progress *p, bool ok)
{
	double secs;

	if (!p->verb || !ok)
		return;
	secs = (double)(now_ms() - p->start_ms) / 1000.0;
	if (p->done >= QUIET_BELOW)
		kiln_info("%s %s: done, %.1f MiB in %.1f s (%.1f MiB/s)", p->verb, p->id,
			  mib(p->done), secs, secs > 0 ? mib(p->done) / secs : 0.0);
	else
		kiln_debug("%s %s: done, %" PRIu64 " bytes", p->verb, p->id, p->done);
	p->verb = NULL;
}
