/*
 * build-upload.c: the image's own layers uploaded to the first destination
 * while the build goes on.
 *
 * A layer is final once its blob is committed, yet the push at the end
 * would only send it then, after every later step, with the network idle
 * until that moment. A thread of its own, with a registry client of its
 * own, uploads each layer of the target stage as soon as it is made; the
 * push at the end finds those blobs in place (its HEAD) and sends only
 * the rest, then the manifest. An upload that fails is only logged: the
 * push at the end tries it again and fails the build if it must. No tag
 * is written before that push, so a failed build leaves no image behind,
 * only blobs nothing names.
 */
#include "compat.h"
#include "build-int.h"
#include "alloc.h"
#include "error.h"
#include "log.h"
#include "registry.h"
#include "workq.h"

#include <fcntl.h>

struct upload_job {
	struct kiln_digest digest;
	uint64_t size;
	char *path;
};

struct layer_upload {
	struct registry_client *c;
	struct registry_ref ref;
	struct kiln_workq *q;
};

static void job_free(void *ctx, void *job)
{
	struct upload_job *j = job;

	(void)ctx;
	free(j->path);
	free(j);
}

static void upload_one(void *ctx, void *job)
{
	struct layer_upload *u = ctx;
	struct upload_job *j = job;
	struct registry_blob_source src = { .digest = j->digest, .size = j->size };
	struct kiln_error err = KILN_ERROR_INIT;
	char ds[KILN_DIGEST_STR_SIZE];
	int fd = open(j->path, O_RDONLY | O_CLOEXEC);

	kiln_digest_format(ds, &j->digest);
	src.read_at = registry_read_at_fd;
	src.ctx = &fd;
	if (fd < 0)
		kiln_err(&err, KILN_EIO, errno, "open '%s'", j->path);
	if (fd < 0 || registry_blob_push(u->c, &u->ref, &src, &err) < 0)
		kiln_debug("early upload of %s failed (the push will retry it): %s", ds,
			   kiln_error_msg(&err));
	else
		kiln_debug("layer %s uploaded during the build", ds);
	if (fd >= 0)
		close(fd);
	kiln_error_release(&err);
	job_free(NULL, j);
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
		layer_upload_free(u);
		return ret;
	}
	u->q = kiln_workq_new(upload_one, job_free, u);
	*out = u;
	return 0;
}

void layer_upload_add(struct layer_upload *u, const struct kiln_digest *d, uint64_t size,
		      const char *path)
{
	struct upload_job *j;

	if (!u)
		return;
	j = xcalloc(1, sizeof(*j));
	j->digest = *d;
	j->size = size;
	j->path = xstrdup(path);
	kiln_workq_push(u->q, j);
}

void layer_upload_finish(struct layer_upload *u, bool drop)
{
	if (u)
		kiln_workq_finish(u->q, drop);
}

void layer_upload_free(struct layer_upload *u)
{
	if (!u)
		return;
	kiln_workq_free(u->q);
	registry_client_free(u->c);
	registry_ref_release(&u->ref);
	free(u);
}
