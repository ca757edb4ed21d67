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

struct push_state {
	struct registry_ref *refs; /* one per distinct destination */
	size_t nr_refs;
	struct registry_blob_source *srcs; /* config, then layers */
	int *fds;
	size_t nr_srcs;
};

static void push_state_release(struct push_state *ps)
{
	for (size_t i = 0; i < ps->nr_refs; i++)
		registry_ref_release(&ps->refs[i]);
	free(ps->refs);
	for (size_t i = 0; i < ps->nr_srcs; i++)
		close_fd(&ps->fds[i]);
	free(ps->fds);
	free(ps->srcs);
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

/* Open every blob now: a blob missing from blob_dir fails before anything
 * is uploaded anywhere. */
static int open_blobs(struct push_state *ps, const struct output_image *img, struct kiln_error *err)
{
	const struct image_manifest *m = img->parsed;
	struct kiln_buf path = KILN_BUF_INIT;
	char hex[2 * KILN_SHA256_LEN + 1];
	int ret = 0;

	ps->nr_srcs = m->nr_layers + 1;
	ps->srcs = xcalloc(ps->nr_srcs, sizeof(*ps->srcs));
	ps->fds = xcalloc(ps->nr_srcs, sizeof(*ps->fds));
	for (size_t i = 0; i < ps->nr_srcs; i++)
		ps->fds[i] = -1;
	for (size_t i = 0; i < ps->nr_srcs && ret == 0; i++) {
		const struct image_descriptor *d = i ? &m->layers[i - 1] : &m->config;

		kiln_digest_hex(hex, &d->digest);
		kiln_buf_reset(&path);
		kiln_buf_addf(&path, "%s/sha256/%s", img->blob_dir, hex);
		ps->fds[i] = open(path.buf, O_RDONLY | O_CLOEXEC);
		if (ps->fds[i] < 0) {
			ret = kiln_err(err, errno == ENOENT ? KILN_ENOENT : KILN_EIO, errno,
				       "open blob '%s'", path.buf);
			break;
		}
		ps->srcs[i].digest = d->digest;
		ps->srcs[i].size = d->size < 0 ? 0 : (uint64_t)d->size;
		ps->srcs[i].read_at = registry_read_at_fd;
		ps->srcs[i].ctx = &ps->fds[i];
	}
	kiln_buf_release(&path);
	return ret;
}

/* Upload the blobs to each distinct repository once. */
static int push_blobs(struct registry_client *c, struct push_state *ps,
		      const struct output_image *img, struct kiln_error *err)
{
	struct registry_ref from = REGISTRY_REF_INIT;
	struct kiln_strvec done = KILN_STRVEC_INIT;
	struct kiln_buf repo = KILN_BUF_INIT;
	int ret = 0;

	if (img->mount_from && (ret = registry_ref_parse(&from, img->mount_from, err)) < 0) {
		kiln_err_prefix(err, "mount source '%s'", img->mount_from);
		goto out;
	}
	for (size_t i = 0; i < ps->nr_refs; i++) {
		const struct registry_ref *r = &ps->refs[i];
		/* A mount works only within one registry. */
		const char *mount =
			from.domain && !strcmp(from.domain, r->domain) ? from.path : NULL;
		size_t mounted = 0, skipped = 0;

		kiln_buf_reset(&repo);
		registry_ref_name(&repo, r);
		if (kiln_strvec_contains(&done, repo.buf))
			continue;
		kiln_strvec_push(&done, repo.buf);
		for (size_t j = 0; j < ps->nr_srcs; j++) {
			ps->srcs[j].mount_from = mount;
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
	registry_ref_release(&from);
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
	if ((ret = push_blobs(c, &ps, img, err)) < 0)
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
