/*
 * build-upload.c: the image's own layers uploaded to the first destination
 * while they are made.
 *
 * The push at the end would send each layer only after every later step,
 * with the network idle until then. Instead each layer of the target stage
 * is streamed as the layer writer compresses it: a thread of its own, with
 * a registry client of its own, PATCHes the blob's bytes as they reach its
 * file and closes the upload with the digest once the layer is done. The
 * push at the end finds those blobs in place (its HEAD) and sends only the
 * rest, then the manifest. An upload that fails is only logged: the push
 * at the end tries again from the finished blob and fails the build if it
 * must. No tag is written before that push, so a failed build leaves no
 * image behind, only blobs nothing names.
 *
 * The layer cache pushes the same blobs to its own repository: when that
 * is in the same registry it waits for the layer's upload here and mounts
 * the blob instead of sending it twice (layer_upload_mount_from).
 */
#include "compat.h"
#include "build-int.h"
#include "alloc.h"
#include "error.h"
#include "log.h"
#include "registry.h"
#include "run.h"
#include "workq.h"

#include <fcntl.h>
#include <pthread.h>

/* Bytes that make a PATCH worth its round trip while the layer grows. */
#define STREAM_CHUNK (4u << 20)

/* A finished layer's upload, for the cache to mount the blob from. */
struct uploaded {
	struct kiln_digest digest;
	int state; /* 0: under way, 1: in the registry, -1: not sent */
};

struct layer_upload {
	struct registry_client *c;
	struct registry_ref ref;
	struct kiln_workq *q;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct uploaded *v;
	size_t nr, alloc;
	bool cancel; /* the build was interrupted: abandon the upload under way */
};

/* One layer: written by the layer writer, read by the upload thread. The
 * writer ends it (layer_stream_end) before commit_layer returns; the
 * upload thread frees it after. */
struct layer_stream {
	struct layer_upload *u;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int fd; /* the upload's own descriptor of the blob; -1 until open */
	uint64_t written;
	bool ended, complete; /* complete: a whole blob, with digest */
	struct kiln_digest digest;
};

static struct uploaded *uploaded_find(struct layer_upload *u, const struct kiln_digest *d)
{
	for (size_t i = 0; i < u->nr; i++) {
		if (kiln_digest_eq(&u->v[i].digest, d))
			return &u->v[i];
	}
	return NULL;
}

/* The layer's upload is over (ok or not): wake who waits to mount it. */
static void uploaded_settle(struct layer_upload *u, const struct kiln_digest *d, bool ok)
{
	struct uploaded *e;

	pthread_mutex_lock(&u->lock);
	if ((e = uploaded_find(u, d)) && e->state == 0)
		e->state = ok ? 1 : -1;
	pthread_cond_broadcast(&u->cond);
	pthread_mutex_unlock(&u->lock);
}

static void stream_free(void *ctx, void *job)
{
	struct layer_stream *s = job;

	(void)ctx;
	if (s->fd >= 0)
		close(s->fd);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/* The build failed or got SIGINT/SIGTERM: an upload under way stops. */
static bool cancelled(struct layer_upload *u)
{
	bool c;

	pthread_mutex_lock(&u->lock);
	c = u->cancel;
	pthread_mutex_unlock(&u->lock);
	return c || run_interrupted();
}

static int stream_wait(void *ctx, uint64_t want, uint64_t *avail, bool *done,
		       struct kiln_digest *digest)
{
	struct layer_stream *s = ctx;
	int ret = 0;

	if (cancelled(s->u))
		return -1;
	pthread_mutex_lock(&s->lock);
	while (!s->ended && (s->fd < 0 || s->written < want))
		pthread_cond_wait(&s->cond, &s->lock);
	if (s->ended && (!s->complete || s->fd < 0)) {
		ret = -1;
	} else {
		*avail = s->written;
		*done = s->ended;
		*digest = s->digest;
	}
	pthread_mutex_unlock(&s->lock);
	return ret;
}

/* Also where an interrupted build stops an upload that is under way: the
 * read fails, and the request with it. */
static int stream_read_at(void *ctx, void *buf, size_t len, uint64_t off, struct kiln_error *err)
{
	struct layer_stream *s = ctx;

	if (cancelled(s->u))
		return kiln_err(err, KILN_EIO, 0, "the build was interrupted");
	return registry_read_at_fd(&s->fd, buf, len, off, err);
}

static void upload_stream(void *ctx, void *job)
{
	struct layer_upload *u = ctx;
	struct layer_stream *s = job;
	struct registry_blob_stream bs = {
		.wait = stream_wait, .read_at = stream_read_at, .ctx = s, .chunk = STREAM_CHUNK
	};
	struct kiln_error err = KILN_ERROR_INIT;
	struct kiln_digest d;
	char ds[KILN_DIGEST_STR_SIZE];
	uint64_t avail;
	bool done, ok = false;

	/* a step that made no layer: not even an upload session */
	if (stream_wait(s, 1, &avail, &done, &d) == 0)
		ok = registry_blob_push_stream(u->c, &u->ref, &bs, &err) == 0;
	/* a failed upload can return while the writer still writes: the
	 * stream is its until it ends */
	pthread_mutex_lock(&s->lock);
	while (!s->ended)
		pthread_cond_wait(&s->cond, &s->lock);
	pthread_mutex_unlock(&s->lock);
	if (s->complete) {
		kiln_digest_format(ds, &s->digest);
		if (ok)
			kiln_debug("layer %s uploaded as it was written", ds);
		else
			kiln_debug("layer %s not streamed (the push will send it): %s", ds,
				   err.code ? kiln_error_msg(&err) : "no descriptor");
		uploaded_settle(u, &s->digest, ok);
	}
	kiln_error_release(&err);
	stream_free(NULL, s);
}

/* Never started (the build failed): nobody may wait for it. */
static void stream_drop(void *ctx, void *job)
{
	struct layer_stream *s = job;

	if (s->complete)
		uploaded_settle(ctx, &s->digest, false);
	stream_free(NULL, s);
}

int layer_upload_open(struct layer_upload **out, const struct build_options *o,
		      struct kiln_error *err)
{
	struct layer_upload *u;
	int ret;

	*out = NULL;
	if (o->no_push || !o->destinations.nr)
		return 0;
	u = xcalloc(1, sizeof(*u));
	u->ref = (struct registry_ref)REGISTRY_REF_INIT;
	if ((ret = registry_ref_parse(&u->ref, o->destinations.v[0], err)) < 0 ||
	    (ret = registry_client_new(&u->c, &o->push, err)) < 0) {
		registry_ref_release(&u->ref);
		free(u);
		return ret;
	}
	pthread_mutex_init(&u->lock, NULL);
	pthread_cond_init(&u->cond, NULL);
	u->q = kiln_workq_new(upload_stream, stream_drop, u);
	*out = u;
	return 0;
}

struct layer_stream *layer_upload_stream(struct layer_upload *u)
{
	struct layer_stream *s;

	if (!u)
		return NULL;
	s = xcalloc(1, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	s->fd = -1;
	s->u = u;
	kiln_workq_push(u->q, s);
	return s;
}

void layer_stream_opened(void *ctx, int fd)
{
	struct layer_stream *s = ctx;

	pthread_mutex_lock(&s->lock);
	s->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0); /* -1: the push sends it instead */
	pthread_mutex_unlock(&s->lock);
}

void layer_stream_wrote(void *ctx, uint64_t total)
{
	struct layer_stream *s = ctx;

	pthread_mutex_lock(&s->lock);
	s->written = total;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

void layer_stream_end(struct layer_stream *s, const struct kiln_digest *digest)
{
	struct layer_upload *u;

	if (!s)
		return;
	u = s->u;
	if (digest) {
		pthread_mutex_lock(&u->lock);
		if (!uploaded_find(u, digest)) {
			if (u->nr == u->alloc) {
				u->alloc = u->alloc ? 2 * u->alloc : 16;
				u->v = xreallocarray(u->v, u->alloc, sizeof(*u->v));
			}
			u->v[u->nr++] = (struct uploaded){ *digest, 0 };
		}
		pthread_mutex_unlock(&u->lock);
	}
	pthread_mutex_lock(&s->lock);
	s->ended = true;
	s->complete = digest != NULL;
	if (digest)
		s->digest = *digest;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

const char *layer_upload_mount_from(void *ctx, const struct kiln_digest *d, const char *domain)
{
	struct layer_upload *u = ctx;
	struct uploaded *e;
	bool ok = false;

	if (!u || strcmp(domain, u->ref.domain))
		return NULL;
	pthread_mutex_lock(&u->lock);
	while ((e = uploaded_find(u, d)) && e->state == 0)
		pthread_cond_wait(&u->cond, &u->lock);
	ok = e && e->state > 0;
	pthread_mutex_unlock(&u->lock);
	return ok ? u->ref.path : NULL;
}

void layer_upload_finish(struct layer_upload *u, bool drop)
{
	if (!u)
		return;
	if (drop) {
		pthread_mutex_lock(&u->lock);
		u->cancel = true;
		pthread_mutex_unlock(&u->lock);
	}
	kiln_workq_finish(u->q, drop);
}

void layer_upload_free(struct layer_upload *u)
{
	if (!u)
		return;
	kiln_workq_free(u->q);
	registry_client_free(u->c);
	registry_ref_release(&u->ref);
	pthread_cond_destroy(&u->cond);
	pthread_mutex_destroy(&u->lock);
	free(u->v);
	free(u);
}
