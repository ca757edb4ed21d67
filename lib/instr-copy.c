/*
 * instr-copy.c: COPY and ADD: flags and words expanded, the source root
 * picked (the context, an earlier stage's tree, an image's tree), names
 * for --chown resolved in ROOT, then copy.h does the copying.
 *
 * An earlier stage's tree is rebuilt from its layers (already blobs) the
 * first time a COPY --from needs it, into the kiln dir: no stage is ever
 * saved as a tarball, and a stage nobody copies from costs nothing.
 */
#include "compat.h"
#include "build-int.h"
#include "alloc.h"
#include "buf.h"
#include "copy.h"
#include "error.h"
#include "log.h"
#include "path.h"
#include "registry.h"
#include "user.h"

#include <fcntl.h>
#include <sys/stat.h>

struct copy_step {
	struct kiln_strvec srcs;
	struct kiln_strvec excludes;
	struct copy_inline *inlines;
	size_t nr_inlines;
	char *dest;
	char *from_dir; /* the --from tree, or NULL for the context */
	int from_fd;
	struct kiln_digest checksum;
	bool has_checksum;
};

static int stage_tree(char **dir, struct build *b, size_t index, struct kiln_error *err)
{
	struct stage_image *img = &b->images[index];
	char *path;
	int ret;

	if (!img->built)
		return kiln_err(err, KILN_EINVAL, 0, "stage %zu is not built before this COPY",
				index);
	if (img->tree_dir) {
		*dir = xstrdup(img->tree_dir);
		return 0;
	}
	path = xasprintf("%s/stage-%zu", b->stages_dir, index);
	if ((ret = stage_image_unpack_dir(b, img, path, err)) < 0) {
		free(path);
		return ret;
	}
	img->tree_dir = xstrdup(path);
	*dir = path;
	return 0;
}

/* --from's value expanded, and the earlier stage it names (*idx), or -1
 * for an image. */
static int from_target(char **name, ssize_t *idx, struct stage_run *sr, const char *from,
		       struct kiln_error *err)
{
	int ret = stage_expand(name, sr, from, err);

	*idx = ret < 0 ? -1 : stages_find(&sr->b->st, *name);
	if (*idx >= 0 && (size_t)*idx >= sr->stage->index)
		*idx = -1;
	return ret;
}

static int open_from(struct copy_step *cs, struct stage_run *sr, const char *from,
		     struct kiln_error *err)
{
	struct build *b = sr->b;
	char *name = NULL;
	ssize_t idx;
	int ret;

	if ((ret = from_target(&name, &idx, sr, from, err)) < 0)
		return ret;
	if (idx >= 0)
		ret = stage_tree(&cs->from_dir, b, (size_t)idx, err);
	else
		ret = base_image_tree(&cs->from_dir, b, name, err);
	free(name);
	if (ret < 0)
		return ret;
	cs->from_fd = open(cs->from_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cs->from_fd < 0)
		return kiln_err(err, KILN_EIO, errno, "open '%s'", cs->from_dir);
	return 0;
}

static const struct dockerfile_heredoc *heredoc_named(const struct dockerfile_instr *in,
						      const char *word)
{
	if (strncmp(word, "<<", 2))
		return NULL;
	word += 2;
	if (*word == '-')
		word++;
	for (size_t i = 0; i < in->nr_heredocs; i++) {
		const char *n = in->heredocs[i].name;
		size_t len = strlen(n);

		/* the word may still carry the delimiter's quotes */
		if (!strcmp(word, n) ||
		    (strlen(word) == len + 2 && (word[0] == '"' || word[0] == '\'') &&
		     !strncmp(word + 1, n, len)))
			return &in->heredocs[i];
	}
	return NULL;
}

static int collect_words(struct copy_step *cs, struct stage_run *sr,
			 const struct dockerfile_instr *in, struct kiln_error *err)
{
	const struct image_run_config *c = &sr->img->config.config;
	struct kiln_buf dest = KILN_BUF_INIT;
	char *d = NULL;
	int ret = 0;

	if (in->nr_args < 2)
		return kiln_err(err, KILN_EINVAL, 0, "%s needs a source and a destination",
				in->keyword);
	cs->inlines = xcalloc(in->nr_args, sizeof(*cs->inlines));
	for (size_t i = 0; i + 1 < in->nr_args && ret == 0; i++) {
		const struct dockerfile_heredoc *h = heredoc_named(in, in->args[i].s);
		char *w = NULL;

		if (h) {
			cs->inlines[cs->nr_inlines++] = (struct copy_inline){
				.name = h->name, .data = h->content, .len = h->content_len
			};
			continue;
		}
		if ((ret = stage_expand(&w, sr, in->args[i].s, err)) == 0)
			kiln_strvec_push_owned(&cs->srcs, w);
	}
	if (ret < 0 || (ret = stage_expand(&d, sr, in->args[in->nr_args - 1].s, err)) < 0)
		goto out;
	if (d[0] == '/')
		kiln_buf_addstr(&dest, d);
	else
		kiln_path_join(&dest, c->working_dir && *c->working_dir ? c->working_dir : "/", d);
	/* a trailing '/' (or "." for a directory) says "into this directory" */
	if ((d[strlen(d) - 1] == '/' || !strcmp(d, ".")) && dest.buf[dest.len - 1] != '/')
		kiln_buf_addch(&dest, '/');
	cs->dest = kiln_buf_detach(&dest, NULL);
out:
	free(d);
	kiln_buf_release(&dest);
	return ret;
}

/* The flags that need neither ROOT nor another tree. */
static int plain_flags(struct copy_step *cs, struct copy_spec *s, const struct dockerfile_instr *in,
		       struct kiln_error *err)
{
	const char *v;

	for (size_t i = 0; i < in->nr_flags; i++) {
		if (!strncmp(in->flags[i], "--exclude=", 10))
			kiln_strvec_push(&cs->excludes, in->flags[i] + 10);
	}
	s->excludes = (const char *const *)cs->excludes.v;
	s->nr_excludes = cs->excludes.nr;
	s->parents = dockerfile_instr_flag(in, "parents") &&
		     strcmp(dockerfile_instr_flag(in, "parents"), "false");
	if ((v = dockerfile_instr_flag(in, "chmod")))
		s->chmod = v;
	if ((v = dockerfile_instr_flag(in, "checksum"))) {
		if (kiln_digest_parse(&cs->checksum, v, err) < 0)
			return kiln_err_prefix(err, "--checksum");
		s->checksum = &cs->checksum;
	}
	if (dockerfile_instr_flag(in, "keep-git-dir"))
		s->keep_git_dir = true;
	return 0;
}

static int copy_flags(struct copy_step *cs, struct copy_spec *s, struct stage_run *sr,
		      const struct dockerfile_instr *in, struct kiln_error *err)
{
	const char *v;
	int ret;

	if ((ret = plain_flags(cs, s, in, err)) < 0)
		return ret;
	if ((v = dockerfile_instr_flag(in, "chown"))) {
		char *who = NULL;

		if ((ret = stage_expand(&who, sr, v, err)) == 0)
			ret = user_resolve_chown(&s->uid, &s->gid, sr->b->root_fd, who, err);
		free(who);
		s->has_chown = ret == 0;
		if (ret < 0)
			return ret;
	}
	if ((v = dockerfile_instr_flag(in, "from")))
		ret = open_from(cs, sr, v, err);
	return ret;
}

static void created_by(struct kiln_buf *by, const struct dockerfile_instr *in,
		       const struct copy_step *cs)
{
	kiln_buf_addstr(by, in->kw == DOCKERFILE_ADD ? "ADD" : "COPY");
	for (size_t i = 0; i < in->nr_flags; i++)
		kiln_buf_addf(by, " %s", in->flags[i]);
	for (size_t i = 0; i < cs->nr_inlines; i++)
		kiln_buf_addf(by, " <<%s", cs->inlines[i].name);
	for (size_t i = 0; i < cs->srcs.nr; i++)
		kiln_buf_addf(by, " %s", cs->srcs.v[i]);
	kiln_buf_addf(by, " %s # buildkit", cs->dest ? cs->dest : "");
}

static struct copy_spec spec_init(const struct build *b, const struct dockerfile_instr *in)
{
	return (struct copy_spec){ .src_fd = b->ctx.fd,
				   .src_what = "build context",
				   .ignore = b->ctx.ignore,
				   .root_fd = b->root_fd,
				   .add = in->kw == DOCKERFILE_ADD,
				   .client = b->pull,
				   .work_dir = b->work_dir,
				   .no_chown = geteuid() != 0 };
}

static void copy_step_release(struct copy_step *cs)
{
	close_fd(&cs->from_fd);
	free(cs->from_dir);
	free(cs->dest);
	free(cs->inlines);
	kiln_strvec_clear(&cs->srcs);
	kiln_strvec_clear(&cs->excludes);
}

static int exec_copy(struct stage_run *sr, const struct dockerfile_instr *in, struct kiln_buf *by,
		     struct kiln_error *err)
{
	struct build *b = sr->b;
	struct copy_step cs = { .from_fd = -1 };
	struct copy_spec s = spec_init(b, in);
	int ret;

	if ((ret = collect_words(&cs, sr, in, err)) < 0 ||
	    (ret = copy_flags(&cs, &s, sr, in, err)) < 0)
		goto out;
	if (cs.from_dir) {
		s.src_fd = cs.from_fd;
		s.src_what = "the --from source";
		s.ignore = NULL;
		s.keep_owner = true;
	}
	s.srcs = (const char *const *)cs.srcs.v;
	s.nr_srcs = cs.srcs.nr;
	s.inlines = cs.inlines;
	s.nr_inlines = cs.nr_inlines;
	s.dest = cs.dest;
	ret = copy_run(&s, err);
out:
	created_by(by, in, &cs);
	copy_step_release(&cs);
	return ret;
}

/* ----------------------------------------------------------------- keys */

static void key_feed(void *ctx, const char *name, const void *data, size_t len)
{
	cache_key_add(ctx, name, data, len);
}

/* --from=<stage>: that stage's key says everything about its tree;
 * --from=<image>: its manifest digest does. */
static int key_from(struct cache_key *k, struct stage_run *sr, const char *from,
		    struct kiln_error *err)
{
	struct build *b = sr->b;
	struct registry_ref ref = REGISTRY_REF_INIT;
	struct registry_manifest m = REGISTRY_MANIFEST_INIT;
	char *name = NULL;
	ssize_t idx;
	int ret;

	if ((ret = from_target(&name, &idx, sr, from, err)) < 0)
		return ret;
	if (idx >= 0) {
		const struct kiln_digest *d = &b->images[idx].key;

		cache_key_add(k, "from-stage", d->sha256, sizeof(d->sha256));
	} else if ((ret = registry_ref_parse(&ref, name, err)) == 0 &&
		   (ret = registry_manifest_get(&m, b->pull, &ref, b->platform_str, err)) == 0) {
		cache_key_add(k, "from-image", m.digest.sha256, sizeof(m.digest.sha256));
	}
	free(name);
	registry_manifest_release(&m);
	registry_ref_release(&ref);
	return ret;
}

/* Sources named in another tree: their names (the tree is in the key). */
static void key_names(struct cache_key *k, const struct copy_step *cs)
{
	for (size_t i = 0; i < cs->srcs.nr; i++)
		cache_key_add_str(k, "source", cs->srcs.v[i]);
	for (size_t i = 0; i < cs->nr_inlines; i++) {
		cache_key_add_str(k, "inline", cs->inlines[i].name);
		cache_key_add(k, "body", cs->inlines[i].data, cs->inlines[i].len);
	}
}

/* The instruction as expanded, its flags, and what its sources hold. */
static int key_copy(struct stage_run *sr, const struct dockerfile_instr *in, struct cache_key *k,
		    bool *volatile_, struct kiln_error *err)
{
	struct copy_step cs = { .from_fd = -1 };
	struct copy_spec s = spec_init(sr->b, in);
	const char *from = dockerfile_instr_flag(in, "from");
	int ret;

	if ((ret = collect_words(&cs, sr, in, err)) < 0 ||
	    (ret = plain_flags(&cs, &s, in, err)) < 0)
		goto out;
	cache_key_add_str(k, "instr", in->keyword);
	for (size_t i = 0; i < in->nr_flags && ret == 0; i++) {
		char *f = NULL;

		if ((ret = stage_expand(&f, sr, in->flags[i], err)) == 0)
			cache_key_add_str(k, "flag", f);
		free(f);
	}
	cache_key_add_str(k, "dest", cs.dest);
	if (ret < 0)
		goto out;
	if (from) {
		key_names(k, &cs);
		ret = key_from(k, sr, from, err);
		goto out;
	}
	s.srcs = (const char *const *)cs.srcs.v;
	s.nr_srcs = cs.srcs.nr;
	s.inlines = cs.inlines;
	s.nr_inlines = cs.nr_inlines;
	s.dest = cs.dest;
	ret = copy_hash(volatile_, &s, key_feed, k, err);
out:
	copy_step_release(&cs);
	return ret;
}

const struct instr_ops instr_copy_ops = { DOCKERFILE_COPY, true, exec_copy, key_copy,
					  INSTR_CACHE_COPY };
const struct instr_ops instr_add_ops = { DOCKERFILE_ADD, true, exec_copy, key_copy,
					 INSTR_CACHE_COPY };
