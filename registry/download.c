/*
 * download.c: one verified generic HTTP(S) download (registry_download()),
 * for what a build fetches besides registry blobs. It shares the registry
 * transport (TLS settings, handle pool, retries with backoff) but has no
 * registry host: reg_same_origin() is false for it, so no credential of
 * any registry is ever attached, nor on any redirect.
 */
#include "compat.h"
#include "registry-int.h"
#include "alloc.h"
#include "buf.h"
#include "error.h"
#include "log.h"

#include <inttypes.h>

struct dl {
	registry_blob_sink sink;
	void *ctx;
	struct kiln_sha256 sha;
	uint64_t got; /* bytes hashed and passed on */
	uint64_t max;
	const char *what; /* the URL without its query, for messages */
};

static int dl_sink(void *ctx, const void *data, size_t len, struct kiln_error *err)
{
	struct dl *d = ctx;

	/* The cap is checked before the bytes go on: a hostile or wrong URL
	 * must not be able to fill the disk or the memory of the consumer. */
	if (d->got + len > d->max)
		return kiln_err(err, KILN_EINVAL, 0,
				"GET '%s': larger than the limit of %" PRIu64 " bytes", d->what,
				d->max);
	kiln_sha256_update(&d->sha, data, len);
	d->got += len;
	return d->sink(d->ctx, data, len, err);
}

/* After a 206, the range must start where we asked. */
static bool range_ok(const char *content_range, uint64_t from)
{
	unsigned long long start;

	return content_range && sscanf(content_range, "bytes %llu-", &start) == 1 && start == from;
}

/* Was this answer what we asked for? A resumed answer must come from the
 * same version of the file (same Last-Modified) as the bytes before it. */
static int check_answer(struct reg_response *resp, const struct dl *d, uint64_t before,
			int64_t first_lm, struct kiln_error *err)
{
	if (resp->status != 200 && resp->status != 206) {
		int code = resp->status == 404				? KILN_ENOENT
			   : resp->status == 401 || resp->status == 403 ? KILN_EAUTH
			   : resp->status == 429 || resp->status >= 500 ? KILN_ENET
									: KILN_EINVAL;

		return kiln_err(err, code, 0, "GET '%s': HTTP %ld %s", d->what, resp->status,
				reg_status_word(resp->status));
	}
	if (before && resp->status == 206 && !range_ok(resp->content_range, before))
		return kiln_err(err, KILN_ENET, 0,
				"GET '%s': the resumed download started elsewhere", d->what);
	if (before && resp->last_modified != first_lm)
		return kiln_err(err, KILN_ENET, 0, "GET '%s': the file changed during the download",
				d->what);
	return 0;
}

void registry_download_release(struct registry_download *d)
{
	xfree(&d->url);
}

int registry_download(struct registry_download *out, struct registry_client *c, const char *url,
		      const struct kiln_digest *expect, uint64_t max_size, registry_blob_sink sink,
		      void *ctx, struct kiln_error *err)
{
	struct reg_response resp = REG_RESPONSE_INIT;
	struct kiln_error e = KILN_ERROR_INIT;
	char *what = xstrndup(url, strcspn(url, "?"));
	struct dl d = { .sink = sink, .ctx = ctx, .max = max_size, .what = what };
	struct reg_request rq = { .method = "GET", .url = url, .sink = dl_sink, .sink_ctx = &d };
	struct kiln_digest got;
	int64_t first_lm = -1;
	unsigned attempt;
	char range[64];
	int ret;

	kiln_sha256_init(&d.sha);
	/* Retries here, not in reg_do: after an interruption the next request
	 * asks only for the bytes not yet passed on. */
	rq.no_retry = true;
	for (attempt = 0;; attempt++) {
		uint64_t before = d.got;

		rq.range = NULL;
		if (before) {
			snprintf(range, sizeof(range), "bytes=%" PRIu64 "-", before);
			rq.range = range;
		}
		ret = reg_do(&resp, c, &rq, &e);
		if (ret == 0)
			ret = check_answer(&resp, &d, before, first_lm, &e);
		if (before == 0)
			first_lm = resp.last_modified;
		if (ret == 0 || !resp.retryable || attempt >= c->o.retries)
			break;
		kiln_info("%s; resuming at byte %" PRIu64 " (%u of %u)", kiln_error_msg(&e), d.got,
			  attempt + 1, c->o.retries);
		kiln_error_release(&e);
		reg_backoff(c, attempt, resp.retry_after);
	}
	reg_err_move(err, &e, ret);
	if (ret < 0) {
		if (resp.retryable && attempt)
			kiln_err_hint(err, "gave up after %u attempts", attempt + 1);
		goto out;
	}
	kiln_sha256_final(&d.sha, &got);
	if (expect && !kiln_digest_eq(&got, expect)) {
		char ws[KILN_DIGEST_STR_SIZE], gs[KILN_DIGEST_STR_SIZE];

		kiln_digest_format(ws, expect);
		kiln_digest_format(gs, &got);
		ret = kiln_err(err, KILN_EDIGEST, 0,
			       "GET '%s': checksum mismatch: want %s, got %s (%" PRIu64 " bytes)",
			       what, ws, gs, d.got);
		goto out;
	}
	out->url = steal_ptr(&resp.url);
	out->last_modified = resp.last_modified;
	out->size = d.got;
	out->digest = got;
out:
	kiln_sha256_release(&d.sha);
	reg_response_release(&resp);
	free(what);
	return ret;
}
