/*
 * output_push(): every blob to every repository, then the manifest under
 * every tag, so that no tag ever names a blob the registry lacks.
 */
#include "compat.h"
#include "output.h"
#include "alloc.h"
#include "buf.h"
#include "error.h"
#include "image.h"
#include "log.h"
#include "registry.h"
#include "strvec.h"

#include <fcntl.h>

/* A blob to upload, opened now or (when the image's fetch can bring it)
 * fetched the first time its bytes are needed: a registry that has it,
 * or mounts it, never makes kiln download it. */
struct blob_file {
	const struct output_image *img;
	struct kiln_digest digest;
	char *path;
	int fd;
	struct registry_ref mount; /* where it may be mounted from, if known */
};

struct push_state {
	struct registry_ref *refs; /* one per distinct destination */
	size_t nr_refs;
	struct registry_blob_source *srcs; /* config, then layers */
	struct blob_file *files;
	size_t nr_srcs;
};

static void push_state_release(struct push_state *ps)
{
	for (size_t i = 0; i < ps->nr_refs; i++)
		registry_ref_release(&ps->refs[i]);
	free(ps->refs);
	for (size_t i = 0; i < ps->nr_srcs; i++) {
		close_fd(&ps->files[i].fd);
		free(ps->files[i].path);
		registry_ref_release(&ps->files[i].mount);
	}
	free(ps->files);
	free(ps->srcs);
}

static int blob_read_at(void *ctx, void *buf, size_t len, uint64_t off, struct kiln_error *err)
{
	struct blob_file *f = ctx;
	int ret;

	if (f->fd < 0) {
		if ((ret = f->img->fetch(f->img->ctx, &f->digest, err)) < 0)
			return ret;
		f->fd = open(f->path, O_RDONLY | O_CLOEXEC);
		if (f->fd < 0)
			return kiln_err(err, KILN_EIO, errno, "open blob '%s'", f->path);
	}
	return registry_read_at_fd(&f->fd, buf, len, off, err);
}

/* Where the blob may be mounted from: its own origin, else the base's. */
static void blob_mount(struct blob_file *f)
{
	const struct output_image *img = f->img;
	const char *m = img->mount_for ? img->mount_for(img->ctx, &f->digest) : NULL;
	struct kiln_error e = KILN_ERROR_INIT;

	if (!m)
		m = img->mount_from;
	if (m && registry_ref_parse(&f->mount, m, &e) < 0)
		registry_ref_release(&f->mount);
	kiln_error_release(&e);
}

/* Parse every destination, dropping repeats of the same normalised tag. */
static int parse_destinations(struct push_state *ps, const char *const *dests, size_t n,
			      struct kiln_error *err)
{
	struct kiln_strvec seen = KILN_STRVEC_INIT;
	struct kiln_buf s = KILN_BUF_INIT;
	int ret = 0;

	ps->refs = xcalloc(n ? n : 1, sizeof(*ps->refs));
	for (size_t i = 0; i < n && ret == 0; i++) {
		struct registry_ref *r = &ps->refs[ps->nr_refs];

		if ((ret = registry_ref_parse(r, dests[i], err)) < 0) {
			kiln_err_prefix(err, "destination '%s'", dests[i]);
			break;
		}
		if (r->digest) {
			/* kaniko refuses these too: a push names a tag. */
			registry_ref_release(r);
			ret = kiln_err(err, KILN_EINVAL, 0,
				       "destination '%s' names a digest; give a tag (repo:tag)",
				       dests[i]);
			break;
		}
		kiln_buf_reset(&s);
		registry_ref_format(&s, r);
		if (kiln_strvec_contains(&seen, s.buf)) {
			registry_ref_release(r);
			continue;
		}
		kiln_strvec_push(&seen, s.buf);
		ps->nr_refs++;
	}
	kiln_strvec_clear(&seen);
	kiln_buf_release(&s);
	return ret;
}

/* Open every blob now: a blob missing from blob_dir that nothing can
 * fetch fails before anything is uploaded anywhere. */
static int open_blobs(struct push_state *ps, const struct output_image *img, struct kiln_error *err)
{
	const struct image_manifest *m = img->parsed;
	char hex[2 * KILN_SHA256_LEN + 1];

	ps->nr_srcs = m->nr_layers + 1;
	ps->srcs = xcalloc(ps->nr_srcs, sizeof(*ps->srcs));
	ps->files = xcalloc(ps->nr_srcs, sizeof(*ps->files));
	for (size_t i = 0; i < ps->nr_srcs; i++)
		ps->files[i].fd = -1;
	for (size_t i = 0; i < ps->nr_srcs; i++) {
		const struct image_descriptor *d = i ? &m->layers[i - 1] : &m->config;
		struct blob_file *f = &ps->files[i];

		kiln_digest_hex(hex, &d->digest);
		f->img = img;
		f->digest = d->digest;
		f->path = xasprintf("%s/sha256/%s", img->blob_dir, hex);
		f->fd = open(f->path, O_RDONLY | O_CLOEXEC);
		if (f->fd < 0 && !(errno == ENOENT && img->fetch))
			return kiln_err(err, errno == ENOENT ? KILN_ENOENT : KILN_EIO, errno,
					"open blob '%s'", f->path);
		blob_mount(f);
		ps->srcs[i].digest = d->digest;
		ps->srcs[i].size = d->size < 0 ? 0 : (uint64_t)d->size;
		ps->srcs[i].read_at = blob_read_at;
		ps->srcs[i].ctx = f;
	}
	return 0;
}

/* Upload the blobs to each distinct repository once. */
static int push_blobs(struct registry_client *c, struct push_state *ps, struct kiln_error *err)
{
	struct kiln_strvec done = KILN_STRVEC_INIT;
	struct kiln_buf repo = KILN_BUF_INIT;
	int ret = 0;

	for (size_t i = 0; i < ps->nr_refs; i++) {
		const struct registry_ref *r = &ps->refs[i];
		size_t mounted = 0, skipped = 0;

		kiln_buf_reset(&repo);
		registry_ref_name(&repo, r);
		if (kiln_strvec_contains(&done, repo.buf))
			continue;
		kiln_strvec_push(&done, repo.buf);
		for (size_t j = 0; j < ps->nr_srcs; j++) {
			const struct registry_ref *m = &ps->files[j].mount;

			/* a mount works only within one registry */
			ps->srcs[j].mount_from =
				m->domain && !strcmp(m->domain, r->domain) ? m->path : NULL;
			ps->srcs[j].skipped = ps->srcs[j].mounted = false;
		}
		if ((ret = registry_blobs_push(c, r, ps->srcs, ps->nr_srcs, err)) < 0) {
			kiln_err_prefix(err, "push to '%s'", repo.buf);
			goto out;
		}
		for (size_t j = 0; j < ps->nr_srcs; j++) {
			mounted += ps->srcs[j].mounted;
			skipped += ps->srcs[j].skipped;
		}
		kiln_debug("%s: %zu blobs, %zu already there, %zu mounted", repo.buf, ps->nr_srcs,
			   skipped, mounted);
	}
out:
	kiln_strvec_clear(&done);
	kiln_buf_release(&repo);
	return ret;
}

int output_push(struct registry_client *c, const struct output_image *img,
		const char *const *destinations, size_t n, struct kiln_error *err)
{
	struct push_state ps = { 0 };
	struct kiln_buf s = KILN_BUF_INIT;
	char ds[KILN_DIGEST_STR_SIZE];
	int ret;

	if ((ret = parse_destinations(&ps, destinations, n, err)) < 0 || !ps.nr_refs ||
	    (ret = open_blobs(&ps, img, err)) < 0)
		goto out;
	for (size_t i = 0; i < ps.nr_refs; i++) {
		kiln_buf_reset(&s);
		registry_ref_format(&s, &ps.refs[i]);
		kiln_info("Pushing image to %s", s.buf);
	}
	if ((ret = push_blobs(c, &ps, err)) < 0)
		goto out;
	kiln_digest_format(ds, &img->digest);
	for (size_t i = 0; i < ps.nr_refs; i++) {
		struct kiln_digest got;

		kiln_buf_reset(&s);
		registry_ref_format(&s, &ps.refs[i]);
		if ((ret = registry_manifest_put(&got, c, &ps.refs[i], img->media_type,
						 img->manifest, img->manifest_len, err)) < 0) {
			kiln_err_prefix(err, "push manifest to '%s'", s.buf);
			goto out;
		}
		kiln_buf_reset(&s);
		registry_ref_name(&s, &ps.refs[i]);
		kiln_info("Pushed %s@%s", s.buf, ds);
	}
	kiln_info("Pushed image to %zu destination%s", ps.nr_refs, ps.nr_refs == 1 ? "" : "s");
out:
	push_state_release(&ps);
	kiln_buf_release(&s);
	return ret;
}
