/*
 * `executor warm`: kaniko's warmer. Stores base images in the cache
 * directory (lib/base-cache.h), from --image references and from the FROM
 * lines of a --dockerfile, so that builds with --cache and --cache-dir read
 * them from disk instead of the registry (a Kubernetes init container, a CI
 * job ahead of many builds).
 *
 * Every reference is checked before anything is pulled; then the images are
 * stored one by one and the first failure ends the command (exit 1). kaniko's
 * warmer carries on and fails only when every image failed: a pipeline that
 * asked for an image should learn that it did not get it.
 */
#include "compat.h"
#include "commands.h"
#include "base-cache.h"
#include "buf.h"
#include "dockerfile.h"
#include "error.h"
#include "fileio.h"
#include "image.h"
#include "log.h"
#include "registry.h"
#include "stages.h"

/* A Dockerfile is text a person wrote: far below this. */
#define WARM_DOCKERFILE_MAX (16u << 20)

/* What to store: parallel lists, one entry per distinct cache entry. */
struct warm_list {
	struct kiln_strvec refs;
	struct kiln_strvec platforms;
	struct kiln_strvec dirs; /* the entries' directories, to skip duplicates */
};

static void warm_list_release(struct warm_list *l)
{
	kiln_strvec_clear(&l->refs);
	kiln_strvec_clear(&l->platforms);
	kiln_strvec_clear(&l->dirs);
}

/* Add ref for platform unless listed already; a bad ref or platform is an error. */
static int warm_list_add(struct warm_list *l, const char *cache_dir, const char *ref,
			 const char *platform, struct kiln_error *err)
{
	struct kiln_buf dir = KILN_BUF_INIT;
	int ret = base_cache_entry_dir(&dir, cache_dir, ref, platform, err);

	if (ret == 0 && !kiln_strvec_contains(&l->dirs, dir.buf)) {
		kiln_strvec_push(&l->dirs, dir.buf);
		kiln_strvec_push(&l->refs, ref);
		kiln_strvec_push(&l->platforms, platform);
	}
	kiln_buf_release(&dir);
	return ret;
}

/* The images the Dockerfile's stages start from (not scratch, not an
 * earlier stage), after expansion with the meta ARGs and --build-arg; a
 * FROM --platform=... is stored for that platform. */
static int add_dockerfile(struct warm_list *l, const struct kiln_options *o, const char *platform,
			  struct kiln_error *err)
{
	const char *file = o->warm.dockerfile;
	struct kiln_strvec args = KILN_STRVEC_INIT;
	struct kiln_buf text = KILN_BUF_INIT;
	struct dockerfile df = { 0 };
	struct stages st = { 0 };
	struct stages_options so = { .file = file,
				     .target_platform = platform,
				     .expand = stages_expand_default };
	int ret;

	stages_resolve_build_args(&args, &o->build.build_args);
	so.build_args = (const char *const *)args.v;
	so.nr_build_args = args.nr;
	if ((ret = kiln_file_read(&text, file, WARM_DOCKERFILE_MAX, err)) < 0 ||
	    (ret = dockerfile_parse(&df, text.buf, text.len, file, err)) < 0 ||
	    (ret = dockerfile_check(&df, file, err)) < 0 ||
	    (ret = stages_build(&st, &df, &so, err)) < 0)
		goto out;
	for (size_t i = 0; i < st.nr && ret == 0; i++) {
		const struct stage *s = &st.v[i];

		if (s->base_kind != STAGE_BASE_IMAGE)
			continue;
		ret = warm_list_add(l, o->build.cache_dir, s->base,
				    s->platform ? s->platform : platform, err);
		if (ret < 0)
			kiln_err_prefix(err, "%s:%d: FROM %s", file, s->line, s->base);
	}
out:
	if (ret < 0)
		kiln_err_prefix(err, "--dockerfile");
	stages_release(&st);
	dockerfile_release(&df);
	kiln_buf_release(&text);
	kiln_strvec_clear(&args);
	return ret;
}

static int collect(struct warm_list *l, const struct kiln_options *o, const char *platform,
		   struct kiln_error *err)
{
	if (!o->warm.images.nr && !o->warm.dockerfile) {
		kiln_err(err, KILN_EINVAL, 0, "nothing to warm: no --image and no --dockerfile");
		return kiln_err_hint(err, "pass --image REF (repeatable) or --dockerfile FILE");
	}
	for (size_t i = 0; i < o->warm.images.nr; i++) {
		const char *ref = o->warm.images.v[i];

		if (warm_list_add(l, o->build.cache_dir, ref, platform, err) < 0)
			return kiln_err_prefix(err, "--image '%s'", ref);
	}
	if (o->warm.dockerfile && add_dockerfile(l, o, platform, err) < 0)
		return err->code;
	return 0;
}

/* --custom-platform, normalised, or the host's. */
static int target_platform(struct kiln_buf *out, const char *custom, struct kiln_error *err)
{
	struct image_platform p = { 0 };

	if (custom && image_platform_parse(&p, custom, err) < 0)
		return kiln_err_prefix(err, "--custom-platform");
	if (!custom)
		image_platform_host(&p);
	image_platform_format(out, &p);
	image_platform_release(&p);
	return 0;
}

static int store_all(const struct warm_list *l, const struct kiln_options *o,
		     struct kiln_error *err)
{
	struct registry_client *c = NULL;
	int ret;

	if ((ret = registry_global_init(err)) < 0)
		return ret;
	if ((ret = registry_client_new(&c, &o->build.pull, err)) < 0)
		goto out;
	for (size_t i = 0; i < l->refs.nr && ret == 0; i++) {
		bool stored;

		ret = base_cache_store(&stored, c, o->build.cache_dir, l->refs.v[i],
				       l->platforms.v[i], o->warm.force, o->build.cache_ttl_s, err);
	}
out:
	registry_client_free(c);
	registry_global_cleanup();
	return ret;
}

static void print_usage(void)
{
	struct kiln_buf out = KILN_BUF_INIT;

	kiln_buf_addstr(&out,
			"Usage:\n  executor warm [flags]\n\n"
			"Store base images in the cache directory (kaniko's warmer): each one an\n"
			"OCI image layout <cache-dir>/<sha256 of ref and platform>/, which builds\n"
			"run with --cache --cache-dir=DIR read instead of pulling.\n\n");
	kiln_options_usage_warm(&out);
	fputs(out.buf, stdout);
	kiln_buf_release(&out);
}

int cmd_warm(int argc, char **argv, struct kiln_error *err)
{
	struct kiln_options o;
	struct warm_list l = { KILN_STRVEC_INIT, KILN_STRVEC_INIT, KILN_STRVEC_INIT };
	struct kiln_buf platform = KILN_BUF_INIT;
	int code = 1;

	kiln_options_init(&o);
	if (kiln_options_parse_warm(&o, argc, argv, err) < 0)
		goto out;
	if (o.help) {
		print_usage();
		code = 0;
		goto out;
	}
	executor_setup_logging(&o);
	kiln_options_log_notes(&o);
	if (target_platform(&platform, o.build.custom_platform, err) < 0 ||
	    collect(&l, &o, platform.buf, err) < 0)
		goto out;
	if (!l.refs.nr)
		kiln_info("Nothing to warm: every stage of '%s' starts from scratch or a stage",
			  o.warm.dockerfile);
	else if (store_all(&l, &o, err) < 0)
		goto out;
	code = 0;
out:
	warm_list_release(&l);
	kiln_buf_release(&platform);
	kiln_options_release(&o);
	return code;
}
