/*
 * build-stage.c: one stage, top to bottom as the data flows: its base is
 * unpacked into ROOT (seeding the snapshot table), then each instruction
 * is expanded and executed, ROOT is snapshotted after the ones that may
 * change it, and each change set becomes a layer blob.
 */
#include "compat.h"
#include "build-int.h"
#include "alloc.h"
#include "buf.h"
#include "error.h"
#include "log.h"
#include "path.h"
#include "run.h"
#include "snapshot.h"

#include <fcntl.h>
#include <inttypes.h>
#include <sys/random.h>
#include <sys/stat.h>

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

const struct instr_ops *instr_ops_find(enum dockerfile_kw kw)
{
	if (kw == DOCKERFILE_RUN)
		return &instr_run_ops;
	if (kw == DOCKERFILE_COPY)
		return &instr_copy_ops;
	if (kw == DOCKERFILE_ADD)
		return &instr_add_ops;
	for (size_t i = 0; i < instr_meta_nr; i++) {
		if (instr_meta_ops[i].kw == kw)
			return &instr_meta_ops[i];
	}
	return NULL;
}

int stage_expand(char **out, struct stage_run *sr, const char *word, struct kiln_error *err)
{
	const struct stages *st = &sr->b->st;

	return stages_expand_default(out, word, st->escape, &sr->vars, NULL, err);
}

static const char *env_get(const struct image_run_config *c, const char *name)
{
	size_t len = strlen(name);

	for (size_t i = 0; i < c->env.nr; i++) {
		if (!strncmp(c->env.v[i], name, len) && c->env.v[i][len] == '=')
			return c->env.v[i] + len + 1;
	}
	return NULL;
}

static const char *build_arg_value(const struct build *b, const char *name)
{
	size_t len = strlen(name);

	for (size_t i = 0; i < b->build_args.nr; i++) {
		const char *a = b->build_args.v[i];

		if (!strncmp(a, name, len) && a[len] == '=')
			return a + len + 1;
	}
	return NULL;
}

void stage_run_env(struct kiln_strvec *out, struct stage_run *sr, const char *home)
{
	const struct image_run_config *c = &sr->img->config.config;

	for (size_t i = 0; i < c->env.nr; i++)
		kiln_strvec_push(out, c->env.v[i]);
	for (size_t i = 0; i < sr->args.nr; i++) {
		const char *name = sr->args.v[i];
		const char *v = stage_vars_get(&sr->vars, name, NULL);

		if (v && !env_get(c, name))
			kiln_strvec_pushf(out, "%s=%s", name, v);
	}
	for (size_t i = 0; stages_predefined_args[i]; i++) {
		const char *name = stages_predefined_args[i];
		const char *v = build_arg_value(sr->b, name);

		if (v && !env_get(c, name) && !kiln_strvec_contains(&sr->args, name))
			kiln_strvec_pushf(out, "%s=%s", name, v);
	}
	if (!env_get(c, "PATH"))
		kiln_strvec_push(out, "PATH=" DEFAULT_PATH);
	if (!env_get(c, "HOME"))
		kiln_strvec_pushf(out, "HOME=%s", home ? home : "/");
	if (!env_get(c, "HOSTNAME"))
		kiln_strvec_push(out, "HOSTNAME=kiln");
}

/* The ARG names declared in the stage before instruction `upto`. */
static void collect_args(struct stage_run *sr, size_t upto)
{
	const struct dockerfile *df = &sr->b->df;

	kiln_strvec_clear(&sr->args);
	for (size_t i = sr->stage->from_instr + 1; i < upto; i++) {
		const struct dockerfile_instr *in = &df->instrs[i];

		if (in->kw != DOCKERFILE_ARG)
			continue;
		for (size_t k = 0; k < in->nr_args; k++) {
			const char *a = in->args[k].s;
			size_t n = strcspn(a, "=");
			char *name = xstrndup(a, n);

			if (!kiln_strvec_contains(&sr->args, name))
				kiln_strvec_push(&sr->args, name);
			free(name);
		}
	}
}

/* Variables for instruction i: the stage's ARGs and ENVs, then the
 * image's Env on top (an ENV always wins over an ARG, as in Docker). */
static int scope_for(struct stage_run *sr, size_t i, struct kiln_error *err)
{
	const struct image_run_config *c = &sr->img->config.config;

	stage_vars_release(&sr->vars);
	if (stages_scope(&sr->vars, &sr->b->st, &sr->b->df, sr->stage->index, i, err) < 0)
		return KILN_EINVAL;
	for (size_t k = 0; k < c->env.nr; k++) {
		const char *eq = strchr(c->env.v[k], '=');
		char *name = eq ? xstrndup(c->env.v[k], (size_t)(eq - c->env.v[k])) : NULL;

		if (name)
			stage_vars_set(&sr->vars, name, eq + 1);
		free(name);
	}
	collect_args(sr, i);
	return 0;
}

/* The step ran: its layer (or its lack of one) becomes a cache entry. */
static void cache_store(struct stage_run *sr, const struct layer_info *info, const char *path,
			const char *created_by)
{
	struct cache_layer l = { .empty = info == NULL };

	if (!sr->b->cache || !sr->step_cacheable)
		return;
	if (info) {
		l.media_type = IMAGE_MT_OCI_LAYER_GZIP;
		l.digest = info->digest;
		l.size = (int64_t)info->size;
		l.diff_id = info->diff_id;
	}
	cache_repo_push(sr->b->cache, &sr->step_key, &l, path, created_by);
}

/* Store the layer blob under its digest and record it in the image. */
static int commit_layer(struct stage_run *sr, const struct snapshot_changes *changes,
			const char *created_by, struct kiln_error *err)
{
	struct build *b = sr->b;
	struct kiln_buf tmp = KILN_BUF_INIT, path = KILN_BUF_INIT;
	/* the layer hands the hashes of the files it reads to the snapshot */
	struct layer_options lo = b->layer;
	struct layer_tap tap = { .opened = layer_stream_opened, .wrote = layer_stream_wrote };
	struct layer_stream *stream = NULL;
	struct layer_info info;
	struct timespec t0;
	int ret;

	lo.learn = sr->snap;
	/* the image's own layers go to the registry as they are written */
	if (sr->stage->index == b->st.target)
		stream = layer_upload_stream(b->upload);
	tap.ctx = stream;
	lo.tap = stream ? &tap : NULL;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	kiln_buf_addf(&tmp, "%s/layer-%zu.tmp", b->work_dir, b->step);
	ret = layer_write_file(&info, b->root_fd, changes, tmp.buf, &lo, err);
	layer_stream_end(stream, ret > 0 ? &info.digest : NULL);
	if (ret <= 0) {
		image_history_add(b, sr->img, created_by, true);
		if (ret == 0)
			cache_store(sr, NULL, NULL, created_by);
		goto out;
	}
	blob_path(&path, b, &info.digest);
	if (rename(tmp.buf, path.buf) < 0) {
		ret = kiln_err(err, KILN_EIO, errno, "rename '%s'", tmp.buf);
		unlink(tmp.buf);
		goto out;
	}
	image_manifest_add_layer(&sr->img->manifest, IMAGE_MT_OCI_LAYER_GZIP, &info.digest,
				 (int64_t)info.size);
	image_config_add_diff_id(&sr->img->config, &info.diff_id);
	image_history_add(b, sr->img, created_by, false);
	/* the layer came from ROOT: ROOT has it */
	sr->applied = sr->img->manifest.nr_layers;
	kiln_info("Layer of %zu paths, %" PRIu64 " bytes compressed, in %.2fs", changes->nr,
		  info.size, build_elapsed(&t0));
	cache_store(sr, &info, path.buf, created_by);
	ret = 0;
out:
	kiln_buf_release(&tmp);
	kiln_buf_release(&path);
	return ret;
}

static int take_snapshot(struct stage_run *sr, const char *created_by, struct kiln_error *err)
{
	struct snapshot_changes changes = { 0 };
	struct timespec t0;
	int ret;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* the files commit_layer() reads anyway are not read twice */
	if ((ret = snapshot_take_deferred(&changes, sr->snap, err)) < 0)
		return ret;
	kiln_info("Snapshot: %zu changed paths in %.2fs", changes.nr, build_elapsed(&t0));
	ret = commit_layer(sr, &changes, created_by, err);
	snapshot_changes_release(&changes);
	return ret;
}

static int step_after(struct stage_run *sr, const struct instr_ops *ops, const char *created_by,
		      struct kiln_error *err)
{
	if (!ops->changes_fs || sr->no_layers) {
		image_history_add(sr->b, sr->img, created_by, true);
		return 0;
	}
	if (sr->b->o->single_snapshot) {
		if (sr->pending_by.len)
			kiln_buf_addstr(&sr->pending_by, " && ");
		kiln_buf_addstr(&sr->pending_by, created_by);
		sr->snapshot_pending = true;
		return 0;
	}
	return take_snapshot(sr, created_by, err);
}

/* Copy an image model (deep) through its JSON: config and layer list. */
static int image_copy(struct stage_image *dst, const struct stage_image *src,
		      struct kiln_error *err)
{
	struct kiln_buf j = KILN_BUF_INIT;
	int ret;

	image_config_write(&j, &src->config);
	ret = image_config_parse(&dst->config, j.buf, j.len, err);
	kiln_buf_reset(&j);
	image_manifest_write(&j, &src->manifest);
	if (ret == 0)
		ret = image_manifest_parse(&dst->manifest, j.buf, j.len, err);
	kiln_buf_release(&j);
	dst->docker_format = src->docker_format;
	dst->mount_from = src->mount_from ? xstrdup(src->mount_from) : NULL;
	return ret;
}

static void scratch_config(struct stage_image *img, const struct build *b)
{
	struct image_config *c = &img->config;

	c->architecture = xstrdup(b->platform.architecture);
	c->os = xstrdup(b->platform.os);
	if (b->platform.variant)
		c->variant = xstrdup(b->platform.variant);
	/* an empty manifest whose fields image_finish() fills */
	img->manifest.schema_version = 2;
}

/* The stage's base image (config, layer list) and the cache chain's root;
 * nothing is unpacked yet (see fs_ready). */
static int load_base(struct stage_run *sr, struct kiln_error *err)
{
	struct build *b = sr->b;
	const struct stage *s = sr->stage;
	int ret = 0;

	switch (s->base_kind) {
	case STAGE_BASE_IMAGE:
		ret = base_image_load(sr->img, &sr->key, b, s->base, s->platform, err);
		break;
	case STAGE_BASE_STAGE:
		ret = image_copy(sr->img, &b->images[s->base_stage], err);
		sr->key = b->images[s->base_stage].key;
		break;
	case STAGE_BASE_SCRATCH:
		scratch_config(sr->img, b);
		cache_key_scratch(&sr->key, b->platform_str);
		break;
	}
	image_map_release(&sr->img->manifest.annotations);
	if (ret == 0 && !env_get(&sr->img->config.config, "PATH"))
		kiln_strvec_push(&sr->img->config.config.env, "PATH=" DEFAULT_PATH);
	return ret;
}

/* Does a stage after `index` name it (COPY --from, FROM)? */
static bool needed_later(const struct build *b, size_t index)
{
	for (size_t j = index + 1; j < b->st.nr; j++) {
		for (size_t k = 0; k < b->st.v[j].nr_deps; k++) {
			if (b->st.v[j].deps[k] == index)
				return true;
		}
	}
	return false;
}

/* Is stage index the base (FROM <stage>) of a later stage? */
static bool is_base_later(const struct build *b, size_t index)
{
	for (size_t j = index + 1; j < b->st.nr; j++) {
		if (b->st.v[j].base_kind == STAGE_BASE_STAGE && b->st.v[j].base_stage == index)
			return true;
	}
	return false;
}

/* A stage whose image nobody reads (not the target, no later FROM names
 * it) needs no layers when its tree can be moved aside whole for a later
 * COPY --from: snapshots and compression would be thrown away. */
static bool layers_unneeded(const struct build *b, size_t index)
{
	struct stat rs, ds;

	if (index == b->st.target || is_base_later(b, index) || !b->isolate || b->ignore.nr)
		return false;
	return fstat(b->root_fd, &rs) == 0 && stat(b->stages_dir, &ds) == 0 &&
	       rs.st_dev == ds.st_dev;
}

/* The tree in ROOT is a stage a later COPY --from reads: moving it into
 * the kiln dir costs a few renames, rebuilding it from layers later costs
 * a whole unpack. */
static int keep_previous_tree(struct build *b, struct kiln_error *err)
{
	struct stage_image *img = &b->images[b->root_stage];
	char *dir;
	bool moved = false;
	int ret;

	if (!b->root_dirty || img->tree_dir || !needed_later(b, b->root_stage))
		return 0;
	dir = xasprintf("%s/stage-%zu", b->stages_dir, b->root_stage);
	ret = root_move_aside(&moved, b, dir, err);
	if (ret == 0 && moved) {
		img->tree_dir = dir;
		dir = NULL;
		kiln_debug("stage %zu's tree kept in '%s'", b->root_stage, img->tree_dir);
	}
	free(dir);
	return ret;
}

/* Let the snapshot table take in what was just unpacked: those changes
 * are the stage's starting point, not a step's. */
static int snapshot_absorb(struct stage_run *sr, struct kiln_error *err)
{
	struct snapshot_changes ignored = { 0 };
	struct timespec t0;
	int ret;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	ret = snapshot_take(&ignored, sr->snap, err);
	snapshot_changes_release(&ignored);
	kiln_debug("baseline snapshot in %.2fs", build_elapsed(&t0));
	return ret;
}

/* ROOT becomes this stage's tree: the previous one wiped (or moved aside
 * when a later COPY --from reads it), the layers so far unpacked. */
static int unpack_stage(struct stage_run *sr, struct kiln_error *err)
{
	struct build *b = sr->b;
	struct snapshot_options so = { .mode = b->o->snapshot_mode,
				       .ignore = (const char *const *)b->ignore.v,
				       .nr_ignore = b->ignore.nr };
	const char *name = sr->stage->base ? sr->stage->base : "scratch";
	struct timespec t0;
	int ret;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* a --rootfs directory is ours to empty; "/" holds the container's
	 * own files until the first stage is unpacked over it */
	if (b->isolate || b->root_dirty) {
		if ((ret = keep_previous_tree(b, err)) < 0 || (ret = root_wipe(b, err)) < 0)
			return ret;
		kiln_info("Deleted the previous stage's filesystem in %.2fs", build_elapsed(&t0));
	}
	/* no layers, no table: the unpack need not hash what it writes */
	if (!sr->no_layers && (ret = snapshot_new(&sr->snap, b->root_fd, &so, err)) < 0)
		return ret;
	b->root_dirty = true;
	b->root_stage = sr->stage->index;
	sr->fs_ready = true;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if ((ret = stage_image_unpack(b, sr->img, 0, b->root_fd, sr->snap, err)) < 0)
		return kiln_err_prefix(err, "unpack '%s'", name);
	sr->applied = sr->img->manifest.nr_layers;
	if (sr->applied)
		kiln_info("Unpacked %s into '%s' in %.1fs", name, b->root, build_elapsed(&t0));
	return sr->no_layers ? 0 : snapshot_absorb(sr, err);
}

/* A step must run: ROOT must hold the stage's tree with every layer so
 * far, the cached ones included. */
static int ensure_fs(struct stage_run *sr, struct kiln_error *err)
{
	struct stage_image *img = sr->img;
	int ret;

	if (!sr->fs_ready)
		return unpack_stage(sr, err);
	if (sr->applied >= img->manifest.nr_layers)
		return 0;
	ret = stage_image_unpack(sr->b, img, sr->applied, sr->b->root_fd, sr->snap, err);
	sr->applied = img->manifest.nr_layers;
	if (ret == 0 && !sr->no_layers)
		ret = snapshot_absorb(sr, err);
	return ret;
}

static bool cache_allows(const struct build *b, enum instr_cache c)
{
	switch (c) {
	case INSTR_CACHE_RUN:
		return b->o->cache_run_layers;
	case INSTR_CACHE_COPY:
		return b->o->cache_copy_layers;
	case INSTR_CACHE_ALWAYS:
		return true;
	case INSTR_CACHE_NONE:
		break;
	}
	return false;
}

/* The step's key. One whose result only running it can tell (ADD of a URL
 * without --checksum) gets a key nothing has: it and every later step of
 * the stage miss. */
static int step_key(struct stage_run *sr, const struct instr_ops *ops,
		    const struct dockerfile_instr *in, struct kiln_error *err)
{
	struct cache_key k;
	bool volatile_ = false;
	int ret;

	cache_key_begin(&k, &sr->key);
	if ((ret = ops->key(sr, in, &k, &volatile_, err)) < 0) {
		cache_key_abort(&k);
		return ret;
	}
	cache_key_end(&k, &sr->step_key);
	sr->step_cacheable = !volatile_ && cache_allows(sr->b, ops->cache);
	if (volatile_ && getrandom(sr->step_key.sha256, sizeof(sr->step_key.sha256), 0) < 0)
		return kiln_err(err, KILN_EIO, errno, "getrandom");
	return 0;
}

/* Take the step's layer from the cache entry instead of running it. */
static int cache_apply(struct stage_run *sr, const struct instr_ops *ops,
		       const struct dockerfile_instr *in, const struct cache_hit *hit,
		       struct kiln_error *err)
{
	struct build *b = sr->b;
	struct kiln_buf by = KILN_BUF_INIT;
	int ret = 0;

	if (!hit->layer.empty) {
		image_manifest_add_layer(&sr->img->manifest, hit->layer.media_type,
					 &hit->layer.digest, hit->layer.size);
		image_config_add_diff_id(&sr->img->config, &hit->layer.diff_id);
		blob_origin_add(b, &hit->layer.digest, cache_repo_name(b->cache), true, NULL);
	}
	/* WORKDIR also sets the config: that part runs, its mkdir does not */
	if (in->kw == DOCKERFILE_WORKDIR) {
		sr->config_only = true;
		ret = ops->exec(sr, in, &by, err);
		sr->config_only = false;
	}
	image_history_add(b, sr->img, hit->created_by ? hit->created_by : in->original,
			  hit->layer.empty);
	kiln_buf_release(&by);
	return ret;
}

/* Is the step in the cache? *done when its layer came from there. */
static int cache_step(bool *done, struct stage_run *sr, const struct instr_ops *ops,
		      const struct dockerfile_instr *in, struct kiln_error *err)
{
	struct build *b = sr->b;
	const char *what = in->original ? in->original : in->keyword;
	struct cache_hit hit = { 0 };
	struct kiln_error lerr = KILN_ERROR_INIT;
	char hex[2 * KILN_SHA256_LEN + 1];
	int ret;

	*done = false;
	if ((ret = step_key(sr, ops, in, err)) < 0)
		return ret;
	kiln_digest_hex(hex, &sr->step_key);
	kiln_debug("cache key of '%s': %s", what, hex);
	if (b->cache_unreachable)
		sr->step_cacheable = false;
	if (!sr->step_cacheable)
		return 0;
	if ((ret = cache_repo_lookup(&hit, b->cache, &sr->step_key, &lerr)) < 0) {
		kiln_warn("cache: looking up '%s' in %s failed, so it runs: %s", what,
			  cache_repo_name(b->cache), kiln_error_msg(&lerr));
		/* every later request would wait out the same retries */
		b->cache_unreachable = ret == KILN_ENET;
		sr->step_cacheable = !b->cache_unreachable;
		if (b->cache_unreachable)
			kiln_warn(
				"cache: %s is unreachable: no more lookups or pushes in this build",
				cache_repo_name(b->cache));
	}
	kiln_error_release(&lerr);
	if (!hit.found) {
		kiln_info("No cached layer found for cmd %s", what);
		b->cache_misses++;
		return 0;
	}
	kiln_info("Using caching version of cmd: %s", what);
	b->cache_hits++;
	ret = cache_apply(sr, ops, in, &hit, err);
	cache_hit_release(&hit);
	*done = ret == 0;
	return ret;
}

static int exec_step(struct stage_run *sr, const struct instr_ops *ops,
		     const struct dockerfile_instr *in, struct kiln_error *err)
{
	struct kiln_buf by = KILN_BUF_INIT;
	bool done = false;
	int ret = 0;

	if (ops->changes_fs && sr->b->cache && ops->key &&
	    (ret = cache_step(&done, sr, ops, in, err)) < 0)
		goto out;
	if (!done && ops->changes_fs && (ret = ensure_fs(sr, err)) < 0)
		goto out;
	if (!done && ((ret = ops->exec(sr, in, &by, err)) < 0 ||
		      (ret = step_after(sr, ops, by.buf, err)) < 0))
		goto out;
	if (ops->changes_fs && sr->b->cache)
		sr->key = sr->step_key;
out:
	kiln_buf_release(&by);
	return ret;
}

static int run_instr(struct stage_run *sr, const struct dockerfile_instr *in, size_t scope_at,
		     struct kiln_error *err)
{
	struct build *b = sr->b;
	const struct instr_ops *ops = instr_ops_find(in->kw);
	struct timespec t0;
	int ret;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	kiln_info("%s", in->original ? in->original : in->keyword);
	if (!ops) {
		ret = kiln_err(err, KILN_EINVAL, 0, "unknown instruction '%s'", in->keyword);
		goto out;
	}
	if ((ret = scope_for(sr, scope_at, err)) < 0 || (ret = exec_step(sr, ops, in, err)) < 0)
		goto out;
	if (ops->changes_fs)
		kiln_info("%s took %.2fs", dockerfile_kw_name(in->kw), build_elapsed(&t0));
out:
	if (ret < 0 && in->kw != DOCKERFILE_RUN)
		kiln_err_prefix(err, "%s:%d: %s", b->df_name, in->line,
				in->keyword ? in->keyword : "");
	return ret;
}

/* ONBUILD triggers of the base run first, then are cleared (Docker). */
static int run_triggers(struct stage_run *sr, struct kiln_error *err)
{
	struct kiln_strvec triggers = sr->img->config.config.on_build;
	int ret = 0;

	sr->img->config.config.on_build = (struct kiln_strvec)KILN_STRVEC_INIT;
	for (size_t i = 0; i < triggers.nr && ret == 0; i++) {
		struct dockerfile df = { 0 };

		if ((ret = dockerfile_parse(&df, triggers.v[i], strlen(triggers.v[i]),
					    "ONBUILD trigger", err)) < 0)
			break;
		for (size_t k = 0; k < df.nr_instrs && ret == 0; k++)
			ret = run_instr(sr, &df.instrs[k], sr->stage->from_instr + 1, err);
		dockerfile_release(&df);
	}
	kiln_strvec_clear(&triggers);
	return ret;
}

static void stage_run_release(struct stage_run *sr)
{
	snapshot_free(sr->snap);
	stage_vars_release(&sr->vars);
	kiln_strvec_clear(&sr->args);
	kiln_buf_release(&sr->pending_by);
}

/* The stage's tree stays in ROOT for a later COPY --from: complete it. */
static int stage_end(struct stage_run *sr, struct kiln_error *err)
{
	struct build *b = sr->b;
	size_t index = sr->stage->index;

	if (sr->snapshot_pending) {
		int ret = take_snapshot(sr, sr->pending_by.buf, err);

		if (ret < 0)
			return ret;
	}
	if (!sr->fs_ready)
		kiln_info("Stage %zu is fully cached: nothing unpacked", index);
	else if (needed_later(b, index))
		return ensure_fs(sr, err);
	return 0;
}

int stage_build(struct build *b, size_t index, struct kiln_error *err)
{
	struct stage_run sr = { .b = b,
				.stage = &b->st.v[index],
				.img = &b->images[index],
				.pending_by = KILN_BUF_INIT };
	int ret;

	kiln_info("Building stage '%s' [idx: '%zu'] FROM %s", sr.stage->name ? sr.stage->name : "",
		  index, sr.stage->base ? sr.stage->base : "scratch");
	/* cache entries are layers: a stage without layers makes none */
	sr.no_layers = !b->cache && layers_unneeded(b, index);
	if (sr.no_layers)
		kiln_info("Stage %zu is only copied from: no layers are made for it", index);
	if ((ret = load_base(&sr, err)) < 0 || (ret = run_triggers(&sr, err)) < 0)
		goto out;
	for (size_t i = sr.stage->from_instr + 1; i < sr.stage->end_instr; i++) {
		if (run_interrupted()) {
			ret = kiln_err(err, KILN_EINVAL, 0, "interrupted");
			goto out;
		}
		if ((ret = run_instr(&sr, &b->df.instrs[i], i, err)) < 0)
			goto out;
	}
	if ((ret = stage_end(&sr, err)) < 0)
		goto out;
	sr.img->key = sr.key;
	sr.img->built = true;
out:
	if (ret < 0 && sr.stage->name)
		kiln_err_prefix(err, "stage '%s'", sr.stage->name);
	stage_run_release(&sr);
	return ret;
}
