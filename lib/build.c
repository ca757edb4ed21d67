/*
 * build.c: a whole build. Everything that can be checked is checked before
 * anything is unpacked (flags, destinations and push rights, context,
 * Dockerfile, stage graph); then the stages run in order, and the last
 * one's image goes to every output. A failure anywhere leaves no tag
 * pushed and no output file looking complete.
 */
#include "compat.h"
#include "build-int.h"
#include "alloc.h"
#include "buf.h"
#include "error.h"
#include "log.h"
#include "output.h"
#include "run.h"

#include <inttypes.h>
#include <signal.h>
#include <sys/resource.h>

#define DOCKERFILE_MAX (16u << 20)

static int setup_platform(struct build *b, struct kiln_error *err)
{
	struct kiln_buf s = KILN_BUF_INIT;

	if (b->o->custom_platform) {
		if (image_platform_parse(&b->platform, b->o->custom_platform, err) < 0)
			return kiln_err_prefix(err, "--custom-platform");
	} else {
		image_platform_host(&b->platform);
	}
	image_platform_format(&s, &b->platform);
	b->platform_str = kiln_buf_detach(&s, NULL);
	return 0;
}

static int setup_epoch(struct build *b, struct kiln_error *err)
{
	const char *sde = getenv("SOURCE_DATE_EPOCH");

	b->epoch = -1;
	b->layer.gzip.level = b->o->compression_level > 0 ? b->o->compression_level : 6;
	if (!b->o->reproducible)
		return 0;
	b->epoch = 0;
	if (sde && *sde) {
		char *end;
		long long v = strtoll(sde, &end, 10);

		if (*end || v < 0)
			return kiln_err(err, KILN_EINVAL, 0, "invalid SOURCE_DATE_EPOCH '%s'", sde);
		b->epoch = v;
	}
	b->layer.clamp = true;
	b->layer.clamp_mtime = b->epoch;
	return 0;
}

/* Destinations are checked (syntax, then push rights) before the build. */
static int check_destinations(struct build *b, struct kiln_error *err)
{
	const struct build_options *o = b->o;

	if (!o->no_push && !o->destinations.nr)
		return kiln_err(err, KILN_EINVAL, 0,
				"no --destination given; pass --destination REPO[:TAG] or "
				"--no-push");
	for (size_t i = 0; i < o->destinations.nr; i++) {
		struct registry_ref ref = REGISTRY_REF_INIT;
		int ret = registry_ref_parse(&ref, o->destinations.v[i], err);

		if (ret == 0 && !o->no_push)
			ret = registry_check_push(b->push, &ref, err);
		registry_ref_release(&ref);
		if (ret < 0)
			return kiln_err_prefix(err, "--destination '%s'", o->destinations.v[i]);
	}
	return 0;
}

/* The cache repository: --cache-repo, else the first destination's
 * repository + "/cache", as kaniko defaults it. */
static int cache_repo_default(char **out, const struct build_options *o, struct kiln_error *err)
{
	struct registry_ref ref = REGISTRY_REF_INIT;
	struct kiln_buf name = KILN_BUF_INIT;
	int ret;

	if (o->cache_repo && *o->cache_repo) {
		*out = xstrdup(o->cache_repo);
		return 0;
	}
	if (!o->destinations.nr) {
		*out = NULL;
		return 0;
	}
	if ((ret = registry_ref_parse(&ref, o->destinations.v[0], err)) < 0)
		return kiln_err_prefix(err, "--destination '%s'", o->destinations.v[0]);
	registry_ref_name(&name, &ref);
	kiln_buf_addstr(&name, "/cache");
	*out = kiln_buf_detach(&name, NULL);
	registry_ref_release(&ref);
	return 0;
}

static int setup_cache(struct build *b, struct kiln_error *err)
{
	const struct build_options *o = b->o;
	struct cache_options co = { .ttl_s = o->cache_ttl_s,
				    .push = !o->no_push_cache,
				    .architecture = b->platform.architecture,
				    .os = b->platform.os };
	char *repo = NULL;
	int ret;

	if (!o->cache)
		return 0;
	if (o->single_snapshot) {
		kiln_warn("--cache has no effect with --single-snapshot: its one layer per stage "
			  "is no step's layer");
		return 0;
	}
	if ((ret = cache_repo_default(&repo, o, err)) < 0)
		return ret;
	if (!repo) {
		/* kaniko goes on too: --cache-dir still serves base images */
		kiln_warn("--cache: no layer cache without a repository for it; pass "
			  "--cache-repo REPO (or a --destination: its repository + /cache)");
		return 0;
	}
	co.repo = repo;
	co.blob_dir = b->blob_dir;
	co.mount_from = layer_upload_mount_from;
	co.mount_ctx = b->upload;
	if ((ret = registry_client_new(&b->cache_client, &o->push, err)) < 0 ||
	    (ret = cache_repo_open(&b->cache, b->cache_client, &co, err)) < 0)
		goto out;
	kiln_info("Cache: entries in %s%s", cache_repo_name(b->cache),
		  co.push ? "" : " (looked up only: --no-push-cache)");
out:
	free(repo);
	return ret;
}

/* Wait for the entries still being pushed, whatever became of the build. */
static void finish_cache(struct build *b)
{
	size_t pushed = 0, failed = 0;

	if (!b->cache)
		return;
	cache_repo_finish(b->cache, run_interrupted() != 0, &pushed, &failed);
	kiln_info("Cache: %zu hits, %zu misses, %zu entries pushed", b->cache_hits, b->cache_misses,
		  pushed);
	if (failed)
		kiln_warn("Cache: %zu entries could not be pushed to %s (see above); the image "
			  "is complete, later builds will miss those steps",
			  failed, cache_repo_name(b->cache));
}

static int setup_clients(struct build *b, struct kiln_error *err)
{
	if (registry_global_init(err) < 0 || registry_client_new(&b->pull, &b->o->pull, err) < 0 ||
	    registry_client_new(&b->push, &b->o->push, err) < 0)
		return -1;
	return 0;
}

static int load_dockerfile(struct build *b, struct kiln_error *err)
{
	const struct build_options *o = b->o;
	struct kiln_buf text = KILN_BUF_INIT;
	struct stages_options so = { .target = o->target,
				     .target_platform = b->platform_str,
				     .expand = stages_expand_default };
	int ret;

	stages_resolve_build_args(&b->build_args, &o->build_args);
	so.build_args = (const char *const *)b->build_args.v;
	so.nr_build_args = b->build_args.nr;

	if ((ret = context_open(&b->ctx, o->context ? o->context : ".", o->context_sub_path,
				b->work_dir, b->pull, err)) < 0 ||
	    (ret = context_read_dockerfile(&text, &b->df_name, &b->ctx,
					   o->dockerfile ? o->dockerfile : "Dockerfile", b->pull,
					   err)) < 0 ||
	    (ret = dockerfile_parse(&b->df, text.buf, text.len, b->df_name, err)) < 0 ||
	    (ret = dockerfile_check(&b->df, b->df_name, err)) < 0)
		goto out;
	so.file = b->df_name;
	if ((ret = stages_build(&b->st, &b->df, &so, err)) < 0)
		goto out;
	b->images = xcalloc(b->st.nr, sizeof(*b->images));
	for (size_t i = 0; i < b->st.nr; i++)
		b->images[i].manifest.schema_version = 2;
out:
	kiln_buf_release(&text);
	return ret;
}

/* Without --skip-unused-stages every stage up to the target runs, as
 * kaniko does; with it only those the target needs. */
static int run_stages(struct build *b, struct kiln_error *err)
{
	if (b->o->skip_unused_stages) {
		for (size_t i = 0; i < b->st.nr_order; i++) {
			if (stage_build(b, b->st.order[i], err) < 0)
				return -1;
		}
		return 0;
	}
	for (size_t i = 0; i <= b->st.target; i++) {
		if (stage_build(b, i, err) < 0)
			return -1;
	}
	return 0;
}

static void add_labels(struct build *b, struct stage_image *img)
{
	for (size_t i = 0; i < b->o->labels.nr; i++) {
		const char *l = b->o->labels.v[i];
		const char *eq = strchr(l, '=');
		char *k = eq ? xstrndup(l, (size_t)(eq - l)) : xstrdup(l);

		image_map_set(&img->config.config.labels, k, eq ? eq + 1 : "");
		free(k);
	}
}

static const char *ref_name_of(const struct build_options *o)
{
	const char *d = o->destinations.nr ? o->destinations.v[0] : NULL;
	const char *colon = d ? strrchr(d, ':') : NULL;

	if (colon && !strchr(colon, '/'))
		return colon + 1;
	return "latest";
}

static int output_fetch(void *ctx, const struct kiln_digest *d, struct kiln_error *err)
{
	return blob_fetch(ctx, d, err);
}

static const char *output_mount_for(void *ctx, const struct kiln_digest *d)
{
	const struct blob_origin *o = blob_origin_find(ctx, d);

	return o ? o->repo : NULL;
}

static int deliver(struct build *b, struct build_result *out, struct kiln_error *err)
{
	const struct build_options *o = b->o;
	struct stage_image *img = &b->images[b->st.target];
	struct kiln_buf manifest = KILN_BUF_INIT;
	const char *mt = NULL;
	const char *const *dests = (const char *const *)o->destinations.v;
	struct output_image oi;
	int ret;

	layer_upload_finish(b->upload, false);
	/* a signal during those uploads: no image is pushed */
	if (run_interrupted())
		return kiln_err(err, KILN_EINVAL, 0, "interrupted");
	add_labels(b, img);
	if ((ret = image_finish(&manifest, &mt, &out->digest, b, img, err)) < 0)
		goto out;
	oi = (struct output_image){ .blob_dir = b->blob_dir,
				    .manifest = manifest.buf,
				    .manifest_len = manifest.len,
				    .media_type = mt,
				    .digest = out->digest,
				    .parsed = &img->manifest,
				    .mount_from = img->mount_from,
				    .fetch = output_fetch,
				    .mount_for = output_mount_for,
				    .ctx = b };
	out->nr_layers = img->manifest.nr_layers;
	out->size = (uint64_t)img->manifest.config.size;
	for (size_t i = 0; i < img->manifest.nr_layers; i++)
		out->size += (uint64_t)img->manifest.layers[i].size;
	/* files need every byte here; a push only what the registry lacks */
	if ((o->tar_path || o->oci_layout_path) &&
	    (ret = blobs_ensure(b, img->manifest.layers, img->manifest.nr_layers, err)) < 0)
		goto out;
	if (o->tar_path &&
	    (ret = output_docker_archive(o->tar_path, &oi, dests, o->destinations.nr, err)) < 0)
		goto out;
	if (o->oci_layout_path &&
	    (ret = output_oci_layout(o->oci_layout_path, &oi, ref_name_of(o), err)) < 0)
		goto out;
	if (!o->no_push && (ret = output_push(b->push, &oi, dests, o->destinations.nr, err)) < 0)
		goto out;
	ret = output_digest_files(o->digest_file, o->image_name_with_digest_file,
				  o->image_name_tag_with_digest_file, &out->digest, dests,
				  o->destinations.nr, err);
out:
	kiln_buf_release(&manifest);
	return ret;
}

/* The executor's own peak RSS (all its threads), in MiB. RUN processes
 * are not in it: theirs would count the executor's pages they share
 * between fork and exec. */
static double peak_rss_mib(void)
{
	struct rusage self = { 0 };

	getrusage(RUSAGE_SELF, &self);
	return (double)self.ru_maxrss / 1024; /* KiB on Linux */
}

static void summary(const struct build *b, const struct build_result *r)
{
	char ds[KILN_DIGEST_STR_SIZE];

	kiln_digest_format(ds, &r->digest);
	kiln_info("Built %s: %zu layers, %.1f MB, in %.1fs; executor peak RSS %.1f MiB", ds,
		  r->nr_layers, (double)r->size / 1e6, build_elapsed(&b->t0), peak_rss_mib());
}

static void build_release(struct build *b)
{
	for (size_t i = 0; b->images && i < b->st.nr; i++)
		stage_image_release(&b->images[i]);
	free(b->images);
	stages_release(&b->st);
	dockerfile_release(&b->df);
	free(b->df_name);
	context_release(&b->ctx);
	layer_upload_free(b->upload);
	cache_repo_free(b->cache);
	registry_client_free(b->cache_client);
	for (size_t i = 0; i < b->nr_origins; i++) {
		free(b->origins[i].repo);
		free(b->origins[i].file);
	}
	free(b->origins);
	registry_client_free(b->pull);
	registry_client_free(b->push);
	registry_global_cleanup();
	image_platform_release(&b->platform);
	free(b->platform_str);
	kiln_strvec_clear(&b->build_args);
	root_release(b);
}

static int exit_code(const struct build *b, int ret)
{
	int sig = run_interrupted();

	if (sig)
		return 128 + sig;
	if (ret == 0)
		return 0;
	return b->run_status ? b->run_status : 1;
}

int build_run(struct build_result *out, const struct build_options *o, struct kiln_error *err)
{
	struct build b = { .o = o, .root_fd = -1, .epoch = -1 };
	int ret;

	clock_gettime(CLOCK_MONOTONIC, &b.t0);
	if ((ret = setup_platform(&b, err)) < 0 || (ret = setup_epoch(&b, err)) < 0 ||
	    (ret = run_check_privileges(o->rootfs != NULL, err)) < 0 ||
	    (ret = setup_clients(&b, err)) < 0 || (ret = check_destinations(&b, err)) < 0 ||
	    (ret = layer_upload_open(&b.upload, o, err)) < 0 || (ret = root_setup(&b, err)) < 0 ||
	    (ret = setup_cache(&b, err)) < 0 || (ret = load_dockerfile(&b, err)) < 0 ||
	    (ret = run_stages(&b, err)) < 0 || (ret = deliver(&b, out, err)) < 0)
		goto out;
	summary(&b, out);
	if (o->cleanup && (ret = root_wipe(&b, err)) < 0)
		goto out;
out:
	layer_upload_finish(b.upload, true);
	finish_cache(&b);
	ret = exit_code(&b, ret);
	build_release(&b);
	return ret;
}
