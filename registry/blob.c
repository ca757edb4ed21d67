/*
 * blob.c: blob download (streamed, verified as it arrives, resumed with
 * Range after an interruption) and upload (HEAD first, cross-repository
 * mount, monolithic PUT or chunked PATCHes, several blobs at once; or
 * streamed while the blob is still being written).
 */
#include "compat.h"
#include "registry-int.h"
#include "alloc.h"
#include "buf.h"
#include "error.h"
#include "fileio.h"
#include "log.h"

#include <inttypes.h>

/* ----------------------------------------------------------- download */

struct verify {
	registry_blob_sink sink;
	void *ctx;
	struct kiln_sha256 sha;
	uint64_t got; /* bytes hashed and passed on */
	int64_t size;
	const char *what;
	struct reg_progress progress;
};

static int verify_sink(void *ctx, const void *data, size_t len, struct kiln_error *err)
{
	struct verify *v = ctx;
	const char *p = data;

	/* More than the descriptor's size is an attack or a corrupt store:
	 * stop at once instead of streaming it to the consumer. */
	if (v->size >= 0 && v->got + len > (uint64_t)v->size)
		return kiln_err(err, KILN_EDIGEST, 0, "%s: more bytes than its size %" PRId64,
				v->what, v->size);
	kiln_sha256_update(&v->sha, p, len);
	v->got += len;
	reg_progress_update(&v->progress, v->got);
	return v->sink(v->ctx, p, len, err);
}

/* After a 206, the range must start where we asked. */
static bool range_ok(const char *content_range, uint64_t from)
{
	unsigned long long start;

	return content_range && sscanf(content_range, "bytes %llu-", &start) == 1 && start == from;
}

static int blob_get_attempt(struct reg_response *resp, struct registry_client *c,
			    struct reg_request *rq, struct verify *v, struct kiln_error *err)
{
	char range[64];
	uint64_t before = v->got;
	int ret;

	rq->range = NULL;
	if (v->got) {
		snprintf(range, sizeof(range), "bytes=%" PRIu64 "-", v->got);
		rq->range = range;
	}
	if ((ret = reg_do(resp, c, rq, err)) < 0)
		return ret;
	if (before && resp->status == 206 && !range_ok(resp->content_range, before))
		return kiln_err(err, KILN_ENET, 0, "%s: the resumed download started elsewhere",
				v->what);
	if (resp->status != 200 && resp->status != 206)
		return reg_status_err(resp, rq, err);
	return 0;
}

/* Fetch d from one place (ref: the image's registry or a mirror), resuming
 * after interruptions; verify everything once the last byte is in. */
static int blob_get_from(struct verify *v, struct registry_client *c,
			 const struct registry_ref *ref, const struct kiln_digest *d,
			 struct kiln_error *err)
{
	struct reg_response resp = REG_RESPONSE_INIT;
	struct kiln_buf url = KILN_BUF_INIT, scope = KILN_BUF_INIT;
	struct kiln_error e = KILN_ERROR_INIT;
	struct reg_request rq = { .method = "GET", .sink = verify_sink, .sink_ctx = v };
	struct kiln_digest got;
	char ds[KILN_DIGEST_STR_SIZE];
	struct reg_host *h;
	unsigned attempt;
	int ret;

	kiln_digest_format(ds, d);
	if ((ret = reg_host_get(&h, c, ref->domain, err)) < 0)
		goto out;
	reg_url(&url, h, ref->path, "blobs/%s", ds);
	kiln_buf_addf(&scope, "repository:%s:pull", ref->path);
	rq.url = url.buf;
	rq.host = h;
	rq.scope = scope.buf;
	/* Retries here, not in reg_do: after an interruption the next request
	 * asks only for the bytes not yet verified and passed on. */
	rq.no_retry = true;
	for (attempt = 0;; attempt++) {
		ret = blob_get_attempt(&resp, c, &rq, v, &e);
		if (ret == 0 || !resp.retryable || attempt >= c->o.retries)
			break;
		kiln_info("%s: %s; resuming at byte %" PRIu64 " (%u of %u)", v->what,
			  kiln_error_msg(&e), v->got, attempt + 1, c->o.retries);
		reg_backoff(c, attempt, resp.retry_after);
	}
	reg_err_move(err, &e, ret);
	if (ret < 0) {
		kiln_err_prefix(err, "%s", v->what);
		if (resp.retryable)
			kiln_err_hint(err, "gave up after %u attempt(s)", attempt + 1);
		goto out;
	}
	kiln_sha256_final(&v->sha, &got);
	if ((v->size >= 0 && v->got != (uint64_t)v->size) || !kiln_digest_eq(&got, d)) {
		char gs[KILN_DIGEST_STR_SIZE];

		kiln_digest_format(gs, &got);
		ret = kiln_err(err, KILN_EDIGEST, 0,
			       "%s does not match its digest (got %s, %" PRIu64 " bytes)", v->what,
			       gs, v->got);
	}
out:
	reg_response_release(&resp);
	kiln_buf_release(&url);
	kiln_buf_release(&scope);
	return ret;
}

/* Each place the pull may come from (mirrors first), as long as the sink
 * has seen nothing: once bytes went out, they cannot be taken back. */
int registry_blob_get(struct registry_client *c, const struct registry_ref *ref,
		      const struct kiln_digest *d, int64_t size, registry_blob_sink sink, void *ctx,
		      struct kiln_error *err)
{
	struct verify v = { .sink = sink, .ctx = ctx, .size = size };
	struct kiln_buf what = KILN_BUF_INIT;
	struct kiln_error e = KILN_ERROR_INIT;
	struct reg_candidates cs;
	char ds[KILN_DIGEST_STR_SIZE];
	int ret = KILN_EINVAL;

	kiln_digest_format(ds, d);
	kiln_sha256_init(&v.sha);
	reg_candidates_get(&cs, c, ref);
	reg_progress_start(&v.progress, c, "pull", d, size);
	for (size_t i = 0; i < cs.n; i++) {
		kiln_error_release(&e);
		kiln_buf_reset(&what);
		kiln_buf_addf(&what, "blob %s of '%s/%s'", ds, cs.v[i].domain, cs.v[i].path);
		v.what = what.buf;
		ret = blob_get_from(&v, c, &cs.v[i], d, &e);
		if (ret == 0 || v.got || i + 1 == cs.n)
			break;
		kiln_warn("%s; trying '%s/%s'", kiln_error_msg(&e), cs.v[i + 1].domain,
			  cs.v[i + 1].path);
	}
	reg_progress_end(&v.progress, ret == 0);
	reg_err_move(err, &e, ret);
	kiln_sha256_release(&v.sha);
	reg_candidates_release(&cs);
	kiln_buf_release(&what);
	return ret;
}

/* HEAD under the given token scope: a push asks with its push scope, so
 * one token serves the HEAD and the upload after it. */
static int blob_head(bool *exists, struct registry_client *c, const struct registry_ref *ref,
		     const struct kiln_digest *d, const char *scope, struct kiln_error *err)
{
	struct reg_response resp = REG_RESPONSE_INIT;
	struct kiln_buf url = KILN_BUF_INIT;
	struct reg_request rq = { .method = "HEAD", .scope = scope };
	char ds[KILN_DIGEST_STR_SIZE];
	struct reg_host *h;
	int ret;

	kiln_digest_format(ds, d);
	if ((ret = reg_host_get(&h, c, ref->domain, err)) < 0)
		goto out;
	reg_url(&url, h, ref->path, "blobs/%s", ds);
	rq.url = url.buf;
	rq.host = h;
	if ((ret = reg_do(&resp, c, &rq, err)) < 0)
		goto out;
	if (resp.status == 200 || resp.status == 404)
		*exists = resp.status == 200;
	else
		ret = reg_status_err(&resp, &rq, err);
out:
	reg_response_release(&resp);
	kiln_buf_release(&url);
	return ret;
}

int registry_blob_exists(bool *exists, struct registry_client *c, const struct registry_ref *ref,
			 const struct kiln_digest *d, struct kiln_error *err)
{
	struct kiln_buf scope = KILN_BUF_INIT;
	int ret;

	kiln_buf_addf(&scope, "repository:%s:pull", ref->path);
	ret = blob_head(exists, c, ref, d, scope.buf, err);
	kiln_buf_release(&scope);
	return ret;
}

/* ------------------------------------------------------------- upload */

int registry_write_fd(void *ctx, const void *data, size_t len, struct kiln_error *err)
{
	return kiln_write_all(*(int *)ctx, data, len, "a pulled blob", err);
}

int registry_read_at_fd(void *ctx, void *buf, size_t len, uint64_t off, struct kiln_error *err)
{
	int fd = *(int *)ctx;
	char *p = buf;

	while (len) {
		ssize_t n = pread(fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return kiln_err(err, KILN_EIO, errno, "read a blob to push");
		if (n == 0)
			return kiln_err(err, KILN_EIO, 0,
					"a blob to push is shorter than its size");
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

struct upload {
	struct registry_client *c;
	struct reg_host *h;
	const struct registry_ref *ref;
	struct registry_blob_source *src;
	const char *scope;
	char ds[KILN_DIGEST_STR_SIZE];
	struct kiln_buf location; /* the upload session's current URL */
	struct reg_progress progress;
};

/* Send rq; want is the expected status; the next Location (relative or
 * absolute) becomes the session URL. */
static int upload_step(struct upload *u, struct reg_request *rq, long want, struct kiln_error *err)
{
	struct reg_response resp = REG_RESPONSE_INIT;
	int ret;

	rq->host = u->h;
	rq->scope = u->scope;
	if ((ret = reg_do(&resp, u->c, rq, err)) < 0)
		goto out;
	if (resp.status != want && !(want == 202 && resp.status == 201 && rq->src == NULL &&
				     !strcmp(rq->method, "POST"))) {
		ret = reg_status_err(&resp, rq, err);
		if (resp.retryable)
			ret = KILN_ENET;
		goto out;
	}
	ret = (int)resp.status;
	if (resp.location) {
		struct kiln_buf next = KILN_BUF_INIT;

		if (reg_url_resolve(&next, rq->url, resp.location, err) < 0) {
			ret = KILN_EINVAL;
		} else {
			kiln_buf_reset(&u->location);
			kiln_buf_addbuf(&u->location, &next);
		}
		kiln_buf_release(&next);
	}
out:
	reg_response_release(&resp);
	return ret;
}

/* POST to start a session (or mount: 201 means done). */
static int upload_start(struct upload *u, bool *mounted, struct kiln_error *err)
{
	struct kiln_buf url = KILN_BUF_INIT;
	struct reg_request rq = { .method = "POST" };
	int ret;

	reg_url(&url, u->h, u->ref->path, "blobs/uploads/");
	if (u->src->mount_from && strcmp(u->src->mount_from, u->ref->path))
		kiln_buf_addf(&url, "?mount=%s&from=%s", u->ds, u->src->mount_from);
	rq.url = url.buf;
	ret = upload_step(u, &rq, 202, err);
	if (ret == 201) {
		*mounted = true;
		ret = 0;
	} else if (ret > 0 && !u->location.len) {
		ret = kiln_err(err, KILN_ENET, 0,
			       "registry '%s' started an upload without a Location", u->h->domain);
	}
	kiln_buf_release(&url);
	return ret < 0 ? ret : 0;
}

static void location_with_digest(struct kiln_buf *out, const struct upload *u)
{
	kiln_buf_addf(out, "%s%cdigest=%s", u->location.buf,
		      strchr(u->location.buf, '?') ? '&' : '?', u->ds);
}

static int upload_monolithic(struct upload *u, struct kiln_error *err)
{
	struct kiln_buf url = KILN_BUF_INIT;
	struct reg_request rq = { .method = "PUT",
				  .content_type = "application/octet-stream",
				  .src = u->src,
				  .src_len = u->src->size,
				  .progress = &u->progress,
				  .no_retry = true };
	int ret;

	location_with_digest(&url, u);
	rq.url = url.buf;
	ret = upload_step(u, &rq, 201, err);
	kiln_buf_release(&url);
	return ret < 0 ? ret : 0;
}

/* PATCH bytes [from, to) of the session's blob. */
static int upload_range(struct upload *u, uint64_t from, uint64_t to, struct reg_progress *progress,
			struct kiln_error *err)
{
	struct kiln_buf url = KILN_BUF_INIT;
	char range[64];
	struct reg_request rq = { .method = "PATCH",
				  .content_type = "application/octet-stream",
				  .src = u->src,
				  .src_off = from,
				  .src_len = to - from,
				  .content_range = range,
				  .progress = progress,
				  .no_retry = true };
	int ret;

	snprintf(range, sizeof(range), "%" PRIu64 "-%" PRIu64, from, to - 1);
	kiln_buf_addbuf(&url, &u->location);
	rq.url = url.buf;
	ret = upload_step(u, &rq, 202, err);
	kiln_trace("registry", "%s: chunk %s sent", u->ds, range);
	kiln_buf_release(&url);
	return ret < 0 ? ret : 0;
}

static int upload_chunked(struct upload *u, struct kiln_error *err)
{
	struct kiln_buf url = KILN_BUF_INIT;
	uint64_t size = u->src->size, chunk = u->c->o.chunk_size;
	int ret = 0;

	for (uint64_t off = 0; off < size && ret >= 0; off += chunk)
		ret = upload_range(u, off, size - off < chunk ? size : off + chunk, &u->progress,
				   err);
	if (ret >= 0) {
		struct reg_request rq = { .method = "PUT", .no_retry = true };

		location_with_digest(&url, u);
		rq.url = url.buf;
		ret = upload_step(u, &rq, 201, err);
	}
	kiln_buf_release(&url);
	return ret < 0 ? ret : 0;
}

static int upload_once(struct upload *u, struct kiln_error *err)
{
	bool mounted = false;
	int ret;

	kiln_buf_reset(&u->location);
	if ((ret = upload_start(u, &mounted, err)) < 0)
		return ret;
	if (mounted) {
		u->src->mounted = true;
		kiln_debug("%s mounted from '%s'", u->ds, u->src->mount_from);
		return 0;
	}
	if (u->src->size <= u->c->o.chunk_size)
		return upload_monolithic(u, err);
	return upload_chunked(u, err);
}

int registry_blob_push(struct registry_client *c, const struct registry_ref *ref,
		       struct registry_blob_source *src, struct kiln_error *err)
{
	struct upload u = { .c = c, .ref = ref, .src = src, .location = KILN_BUF_INIT };
	struct kiln_error e = KILN_ERROR_INIT;
	struct kiln_buf scope = KILN_BUF_INIT;
	bool exists = false;
	unsigned attempt;
	int ret;

	kiln_digest_format(u.ds, &src->digest);
	src->skipped = src->mounted = false;
	kiln_buf_addf(&scope, "repository:%s:pull,push", ref->path);
	if (src->mount_from && strcmp(src->mount_from, ref->path))
		kiln_buf_addf(&scope, " repository:%s:pull", src->mount_from);
	u.scope = scope.buf;
	if ((ret = reg_host_get(&u.h, c, ref->domain, err)) < 0 ||
	    (ret = blob_head(&exists, c, ref, &src->digest, u.scope, err)) < 0)
		goto out;
	if (exists) {
		src->skipped = true;
		kiln_debug("%s already in '%s'", u.ds, ref->path);
		goto out;
	}
	reg_progress_start(&u.progress, c, "push", &src->digest, (int64_t)src->size);
	/* A failed session is abandoned and a new one started: chunks cannot
	 * be trusted to have landed after a broken connection. */
	for (attempt = 0;; attempt++) {
		ret = upload_once(&u, &e);
		if (ret != KILN_ENET || attempt >= c->o.retries)
			break;
		kiln_info("push %s: %s; starting the upload again (%u of %u)", u.ds,
			  kiln_error_msg(&e), attempt + 1, c->o.retries);
		reg_backoff(c, attempt, -1);
	}
	reg_progress_end(&u.progress, ret == 0 && !src->mounted);
	reg_err_move(err, &e, ret);
	if (ret == KILN_ENET)
		kiln_err_hint(err, "gave up after %u attempt(s)", attempt + 1);
out:
	if (ret < 0)
		kiln_err_prefix(err, "push blob %s to '%s/%s'", u.ds, ref->domain, ref->path);
	kiln_buf_release(&u.location);
	kiln_buf_release(&scope);
	return ret;
}

/* The streamed blob's PATCHes as its bytes come, then the closing PUT. */
static int upload_stream(struct upload *u, const struct registry_blob_stream *bs,
			 struct kiln_error *err)
{
	struct kiln_buf url = KILN_BUF_INIT;
	struct reg_request put = { .method = "PUT", .no_retry = true };
	uint64_t sent = 0, avail = 0;
	bool done = false;
	int ret = 0;

	while (!done && ret == 0) {
		if (bs->wait(bs->ctx, sent + bs->chunk, &avail, &done, &u->src->digest) < 0)
			return kiln_err(err, KILN_EIO, 0, "the blob was not finished");
		if (avail > sent)
			ret = upload_range(u, sent, avail, NULL, err);
		sent = avail;
	}
	if (ret < 0)
		return ret;
	kiln_digest_format(u->ds, &u->src->digest);
	location_with_digest(&url, u);
	put.url = url.buf;
	ret = upload_step(u, &put, 201, err);
	kiln_buf_release(&url);
	return ret < 0 ? ret : 0;
}

int registry_blob_push_stream(struct registry_client *c, const struct registry_ref *ref,
			      const struct registry_blob_stream *bs, struct kiln_error *err)
{
	struct registry_blob_source src = { .read_at = bs->read_at, .ctx = bs->ctx };
	struct upload u = { .c = c, .ref = ref, .src = &src, .location = KILN_BUF_INIT };
	struct kiln_buf scope = KILN_BUF_INIT;
	bool mounted = false;
	int ret;

	snprintf(u.ds, sizeof(u.ds), "a blob being written");
	kiln_buf_addf(&scope, "repository:%s:pull,push", ref->path);
	u.scope = scope.buf;
	if ((ret = reg_host_get(&u.h, c, ref->domain, err)) >= 0 &&
	    (ret = upload_start(&u, &mounted, err)) >= 0)
		ret = upload_stream(&u, bs, err);
	if (ret > 0)
		ret = 0;
	if (ret < 0)
		kiln_err_prefix(err, "push %s to '%s/%s'", u.ds, ref->domain, ref->path);
	kiln_buf_release(&u.location);
	kiln_buf_release(&scope);
	return ret;
}

int registry_check_push(struct registry_client *c, const struct registry_ref *ref,
			struct kiln_error *err)
{
	struct upload u = { .c = c, .ref = ref, .location = KILN_BUF_INIT };
	struct registry_blob_source none = { .size = 0 };
	struct kiln_buf scope = KILN_BUF_INIT;
	struct reg_request del = { .method = "DELETE" };
	bool mounted = false;
	int ret;

	u.src = &none;
	kiln_buf_addf(&scope, "repository:%s:pull,push", ref->path);
	u.scope = scope.buf;
	if ((ret = reg_host_get(&u.h, c, ref->domain, err)) < 0 ||
	    (ret = upload_start(&u, &mounted, err)) < 0)
		goto out;
	/* Cancelling is tidiness, not a requirement: registries purge stale
	 * sessions themselves, so its failure is not the check's. The
	 * distribution registry wants the delete action for it. */
	kiln_buf_addstr(&scope, ",delete");
	u.scope = scope.buf;
	del.url = u.location.buf;
	if (upload_step(&u, &del, 204, NULL) < 0)
		kiln_debug("could not cancel the test upload to '%s/%s'", ref->domain, ref->path);
out:
	if (ret < 0) {
		kiln_err_prefix(err, "checking the push permission for '%s/%s'", ref->domain,
				ref->path);
		if (ret == KILN_EAUTH)
			kiln_err_hint(err, "use credentials that may push there, or skip the check "
					   "with --skip-push-permission-check");
	}
	kiln_buf_release(&u.location);
	kiln_buf_release(&scope);
	return ret;
}

/* ------------------------------------------------------ several at once */

struct push_pool {
	struct registry_client *c;
	const struct registry_ref *ref;
	struct registry_blob_source *srcs;
	size_t n, next;
	pthread_mutex_t lock;
	int ret;
	struct kiln_error *err; /* the first failure */
};

static void *push_worker(void *arg)
{
	struct push_pool *p = arg;

	for (;;) {
		struct kiln_error e = KILN_ERROR_INIT;
		size_t i;
		int ret;

		pthread_mutex_lock(&p->lock);
		/* After a failure, start nothing new: the build fails anyway. */
		i = p->ret < 0 ? p->n : p->next++;
		pthread_mutex_unlock(&p->lock);
		if (i >= p->n)
			return NULL;
		ret = registry_blob_push(p->c, p->ref, &p->srcs[i], &e);
		pthread_mutex_lock(&p->lock);
		if (ret < 0 && p->ret == 0) {
			p->ret = ret;
			kiln_err(p->err, ret, 0, "%s", kiln_error_msg(&e));
		}
		pthread_mutex_unlock(&p->lock);
		kiln_error_release(&e);
	}
}

int registry_blobs_push(struct registry_client *c, const struct registry_ref *ref,
			struct registry_blob_source *srcs, size_t n, struct kiln_error *err)
{
	struct push_pool p = { .c = c, .ref = ref, .srcs = srcs, .n = n, .err = err };
	size_t nthreads = c->o.parallel < n ? c->o.parallel : n;
	pthread_t *threads;
	struct reg_host *h;
	size_t started = 0;

	/* First contact (ping, scheme, auth kind) once, before the workers. */
	if (n == 0 || reg_host_get(&h, c, ref->domain, err) < 0)
		return n == 0 ? 0 : err->code;
	pthread_mutex_init(&p.lock, NULL);
	threads = xcalloc(nthreads, sizeof(*threads));
	for (; started < nthreads; started++) {
		if (pthread_create(&threads[started], NULL, push_worker, &p) != 0)
			break;
	}
	if (started == 0)
		push_worker(&p); /* no threads: do it here */
	for (size_t i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	free(threads);
	pthread_mutex_destroy(&p.lock);
	return p.ret;
}
