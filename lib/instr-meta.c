/*
 * instr-meta.c: the instructions that change only the image config (and
 * WORKDIR, which also makes its directory), with Docker's semantics.
 * Each one adds a history entry with BuildKit's created_by text; build-arg
 * values never appear there (only what the Dockerfile says).
 */
#include "compat.h"
#include "build-int.h"
#include "alloc.h"
#include "buf.h"
#include "error.h"
#include "log.h"
#include "path.h"
#include "rootfs-path.h"
#include "user.h"

#include <ctype.h>
#include <fcntl.h>
#include <sys/stat.h>

static void env_set(struct kiln_strvec *env, const char *name, const char *value)
{
	size_t len = strlen(name);

	for (size_t i = 0; i < env->nr; i++) {
		if (!strncmp(env->v[i], name, len) && env->v[i][len] == '=') {
			free(env->v[i]);
			env->v[i] = xasprintf("%s=%s", name, value);
			return;
		}
	}
	kiln_strvec_pushf(env, "%s=%s", name, value);
}

/* ENV and LABEL: key/value/separator triples, each part expanded. */
static int pairs(struct stage_run *sr, const struct dockerfile_instr *in, struct kiln_buf *by,
		 bool env, struct kiln_error *err)
{
	struct image_run_config *c = &sr->img->config.config;
	int ret = 0;

	kiln_buf_addstr(by, env ? "ENV" : "LABEL");
	for (size_t i = 0; i + 1 < in->nr_args && ret == 0; i += 3) {
		char *k = NULL, *v = NULL;

		if ((ret = stage_expand(&k, sr, in->args[i].s, err)) == 0 &&
		    (ret = stage_expand(&v, sr, in->args[i + 1].s, err)) == 0) {
			if (env) {
				env_set(&c->env, k, v);
				/* later words of the same ENV see this one */
				stage_vars_set(&sr->vars, k, v);
			} else {
				image_map_set(&c->labels, k, v);
			}
			kiln_buf_addf(by, " %s=%s", k, v);
		}
		free(k);
		free(v);
	}
	return ret;
}

static int exec_env(struct stage_run *sr, const struct dockerfile_instr *in, struct kiln_buf *by,
		    struct kiln_error *err)
{
	return pairs(sr, in, by, true, err);
}

static int exec_label(struct stage_run *sr, const struct dockerfile_instr *in, struct kiln_buf *by,
		      struct kiln_error *err)
{
	return pairs(sr, in, by, false, err);
}

static int exec_arg(struct stage_run *sr, const struct dockerfile_instr *in, struct kiln_buf *by,
		    struct kiln_error *err)
{
	(void)sr;
	(void)err;
	/* the scope (stages_scope) already holds it; history says what the
	 * Dockerfile says, never a --build-arg value */
	kiln_buf_addstr(by, "ARG");
	for (size_t i = 0; i < in->nr_args; i++)
		kiln_buf_addf(by, " %s", in->args[i].s);
	return 0;
}

static int add_port(struct image_map *ports, const char *spec, struct kiln_error *err)
{
	const char *slash = strchr(spec, '/');
	char *num = slash ? xstrndup(spec, (size_t)(slash - spec)) : xstrdup(spec);
	const char *proto = slash ? slash + 1 : "tcp";
	unsigned long lo, hi;
	char *end;
	int ret = 0;

	lo = strtoul(num, &end, 10);
	hi = lo;
	if (*end == '-')
		hi = strtoul(end + 1, &end, 10);
	if (end == num || *end || lo == 0 || lo > 65535 || hi < lo || hi > 65535 || !*proto) {
		ret = kiln_err(err, KILN_EINVAL, 0, "invalid port '%s'", spec);
		goto out;
	}
	for (unsigned long p = lo; p <= hi; p++) {
		char key[64];

		snprintf(key, sizeof(key), "%lu/%s", p, proto);
		for (char *q = key; *q; q++)
			*q = (char)tolower((unsigned char)*q);
		image_map_set(ports, key, "");
	}
out:
	free(num);
	return ret;
}

static int exec_expose(struct stage_run *sr, const struct dockerfile_instr *in, struct kiln_buf *by,
		       struct kiln_error *err)
{
	int ret = 0;

	kiln_buf_addstr(by, "EXPOSE");
	for (size_t i = 0; i < in->nr_args && ret == 0; i++) {
		char *p = NULL;

		if ((ret = stage_expand(&p, sr, in->args[i].s, err)) == 0)
			ret = add_port(&sr->img->config.config.exposed_ports, p, err);
		if (ret == 0)
			kiln_buf_addf(by, " %s", p);
		free(p);
	}
	return ret;
}

static int exec_volume(struct stage_run *sr, const struct dockerfile_instr *in, struct kiln_buf *by,
		       struct kiln_error *err)
{
	int ret = 0;

	kiln_buf_addstr(by, "VOLUME [");
	for (size_t i = 0; i < in->nr_args && ret == 0; i++) {
		char *v = NULL;

		if ((ret = stage_expand(&v, sr, in->args[i].s, err)) == 0) {
			if (!*v)
				ret = kiln_err(err, KILN_EINVAL, 0, "VOLUME with an empty path");
			else
				image_map_set(&sr->img->config.config.volumes, v, "");
			kiln_buf_addf(by, "%s\"%s\"", i ? " " : "", v);
		}
		free(v);
	}
	kiln_buf_addch(by, ']');
	return ret;
}

static int one_word(char **out, struct stage_run *sr, const struct dockerfile_instr *in,
		    struct kiln_error *err)
{
	if (in->nr_args < 1)
		return kiln_err(err, KILN_EINVAL, 0, "%s needs an argument", in->keyword);
	return stage_expand(out, sr, in->args[0].s, err);
}

static int exec_user(struct stage_run *sr, const struct dockerfile_instr *in, struct kiln_buf *by,
		     struct kiln_error *err)
{
	char *u = NULL;
	int ret = one_word(&u, sr, in, err);

	if (ret == 0) {
		free(sr->img->config.config.user);
		sr->img->config.config.user = u;
		kiln_buf_addf(by, "USER %s", u);
	}
	return ret;
}

static int exec_stopsignal(struct stage_run *sr, const struct dockerfile_instr *in,
			   struct kiln_buf *by, struct kiln_error *err)
{
	char *s = NULL;
	int ret = one_word(&s, sr, in, err);

	if (ret == 0) {
		free(sr->img->config.config.stop_signal);
		sr->img->config.config.stop_signal = s;
		kiln_buf_addf(by, "STOPSIGNAL %s", s);
	}
	return ret;
}

static int exec_maintainer(struct stage_run *sr, const struct dockerfile_instr *in,
			   struct kiln_buf *by, struct kiln_error *err)
{
	char *s = NULL;
	int ret = one_word(&s, sr, in, err);

	if (ret == 0) {
		free(sr->img->config.author);
		sr->img->config.author = s;
		kiln_buf_addf(by, "MAINTAINER %s", s);
	}
	return ret;
}

/* One directory (rel from ROOT): made and given the owner when missing. */
static int mkdir_one(struct rootfs_dir *r, const char *rel, uid_t uid, gid_t gid,
		     struct kiln_error *err)
{
	int fd = rootfs_open_dir(r, rel, false, err);

	if (fd >= 0) {
		close(fd);
		return 0;
	}
	kiln_error_release(err);
	fd = rootfs_open_dir(r, rel, true, err);
	if (fd < 0)
		return fd;
	if (fchownat(fd, "", uid, gid, AT_EMPTY_PATH) < 0 && geteuid() == 0)
		kiln_warn("chown '/%s': %s", rel, strerror(errno));
	close(fd);
	return 0;
}

/* mkdir -p inside ROOT; every directory it makes belongs to uid:gid, as
 * BuildKit's WORKDIR and COPY make them. */
int stage_mkdir_p(struct stage_run *sr, const char *dir, uid_t uid, gid_t gid,
		  struct kiln_error *err)
{
	struct rootfs_dir r;
	struct kiln_buf rel = KILN_BUF_INIT;
	int ret = 0;

	rootfs_dir_init(&r, sr->b->root_fd);
	kiln_path_clean(&rel, dir[0] == '/' ? dir + 1 : dir);
	for (size_t i = 1; i <= rel.len && ret == 0; i++) {
		if (i < rel.len && rel.buf[i] != '/')
			continue;
		rel.buf[i] = '\0';
		if (strcmp(rel.buf, ".") && strcmp(rel.buf, "/"))
			ret = mkdir_one(&r, rel.buf[0] == '/' ? rel.buf + 1 : rel.buf, uid, gid,
					err);
		if (i < rel.len)
			rel.buf[i] = '/';
	}
	kiln_buf_release(&rel);
	return ret;
}

/* WORKDIR's directory: relative to the current one. */
static int workdir_path(struct kiln_buf *path, struct stage_run *sr,
			const struct dockerfile_instr *in, struct kiln_error *err)
{
	const struct image_run_config *c = &sr->img->config.config;
	char *w = NULL;
	int ret;

	if ((ret = one_word(&w, sr, in, err)) < 0)
		return ret;
	if (w[0] == '/')
		kiln_path_clean(path, w);
	else
		kiln_path_join(path, c->working_dir && *c->working_dir ? c->working_dir : "/", w);
	free(w);
	return 0;
}

static int exec_workdir(struct stage_run *sr, const struct dockerfile_instr *in,
			struct kiln_buf *by, struct kiln_error *err)
{
	struct image_run_config *c = &sr->img->config.config;
	struct kiln_buf path = KILN_BUF_INIT;
	struct user_ids u = USER_IDS_INIT;
	int ret;

	if ((ret = workdir_path(&path, sr, in, err)) < 0)
		goto out;
	free(c->working_dir);
	c->working_dir = xstrdup(path.buf);
	kiln_buf_addf(by, "WORKDIR %s", path.buf);
	if (sr->config_only ||
	    (ret = user_resolve(&u, sr->b->root_fd, c->user ? c->user : "", err)) < 0)
		goto out;
	ret = stage_mkdir_p(sr, path.buf, u.uid, u.gid, err);
out:
	user_ids_release(&u);
	kiln_buf_release(&path);
	return ret;
}

/* The directory and who owns it (USER, resolved in a ROOT the parent key
 * already decides). */
static int key_workdir(struct stage_run *sr, const struct dockerfile_instr *in, struct cache_key *k,
		       bool *volatile_, struct kiln_error *err)
{
	const struct image_run_config *c = &sr->img->config.config;
	struct kiln_buf path = KILN_BUF_INIT;
	int ret;

	(void)volatile_;
	if ((ret = workdir_path(&path, sr, in, err)) == 0) {
		cache_key_add_str(k, "instr", "WORKDIR");
		cache_key_add_str(k, "path", path.buf);
		cache_key_add_str(k, "user", c->user);
	}
	kiln_buf_release(&path);
	return ret;
}

static void argv_set(struct kiln_strvec *out, const struct dockerfile_instr *in,
		     const struct kiln_strvec *shell)
{
	kiln_strvec_clear(out);
	if (in->json_form) {
		for (size_t i = 0; i < in->nr_args; i++)
			kiln_strvec_push(out, in->args[i].s);
		return;
	}
	if (shell && shell->nr) {
		for (size_t i = 0; i < shell->nr; i++)
			kiln_strvec_push(out, shell->v[i]);
	} else {
		kiln_strvec_push(out, "/bin/sh");
		kiln_strvec_push(out, "-c");
	}
	kiln_strvec_push(out, in->nr_args ? in->args[0].s : "");
}

static void argv_format(struct kiln_buf *by, const char *kw, const struct kiln_strvec *v)
{
	kiln_buf_addf(by, "%s [", kw);
	for (size_t i = 0; i < v->nr; i++) {
		kiln_buf_addstr(by, i ? " \"" : "\"");
		kiln_buf_addstr(by, v->v[i]);
		kiln_buf_addch(by, '"');
	}
	kiln_buf_addch(by, ']');
}

static int exec_cmd(struct stage_run *sr, const struct dockerfile_instr *in, struct kiln_buf *by,
		    struct kiln_error *err)
{
	struct image_run_config *c = &sr->img->config.config;

	(void)err;
	argv_set(&c->cmd, in, &c->shell);
	c->has_cmd = true;
	sr->cmd_set = true;
	argv_format(by, "CMD", &c->cmd);
	return 0;
}

static int exec_entrypoint(struct stage_run *sr, const struct dockerfile_instr *in,
			   struct kiln_buf *by, struct kiln_error *err)
{
	struct image_run_config *c = &sr->img->config.config;

	(void)err;
	argv_set(&c->entrypoint, in, &c->shell);
	c->has_entrypoint = true;
	/* Docker: an ENTRYPOINT drops the CMD inherited from the base */
	if (!sr->cmd_set) {
		kiln_strvec_clear(&c->cmd);
		c->has_cmd = false;
	}
	argv_format(by, "ENTRYPOINT", &c->entrypoint);
	return 0;
}

static int exec_shell(struct stage_run *sr, const struct dockerfile_instr *in, struct kiln_buf *by,
		      struct kiln_error *err)
{
	struct image_run_config *c = &sr->img->config.config;

	if (!in->json_form || !in->nr_args)
		return kiln_err(err, KILN_EINVAL, 0, "SHELL needs a JSON array");
	kiln_strvec_clear(&c->shell);
	for (size_t i = 0; i < in->nr_args; i++)
		kiln_strvec_push(&c->shell, in->args[i].s);
	argv_format(by, "SHELL", &c->shell);
	return 0;
}

static int exec_onbuild(struct stage_run *sr, const struct dockerfile_instr *in,
			struct kiln_buf *by, struct kiln_error *err)
{
	const char *text = in->original ? in->original : "";

	(void)err;
	/* the trigger as written, after the ONBUILD keyword */
	text += strcspn(text, " \t");
	text += strspn(text, " \t");
	kiln_strvec_push(&sr->img->config.config.on_build, text);
	kiln_buf_addf(by, "ONBUILD %s", text);
	return 0;
}

/* A Go duration ("30s", "1m30s", "500ms") in nanoseconds. */
static int parse_duration(int64_t *out, const char *s, struct kiln_error *err)
{
	static const struct {
		const char *unit;
		int64_t ns;
	} units[] = { { "ns", 1 },	   { "us", 1000 },	   { "ms", 1000000 },
		      { "s", 1000000000 }, { "m", 60000000000LL }, { "h", 3600000000000LL } };
	const char *p = s;
	double total = 0;

	if (!strcmp(s, "0")) {
		*out = 0;
		return 0;
	}
	while (*p) {
		char *end;
		double v = strtod(p, &end);
		size_t best = 0, best_len = 0;

		if (end == p)
			goto bad;
		for (size_t i = 0; i < KILN_ARRAY_SIZE(units); i++) {
			size_t l = strlen(units[i].unit);

			if (!strncmp(end, units[i].unit, l) && l > best_len)
				best = i, best_len = l;
		}
		if (!best_len)
			goto bad;
		total += v * (double)units[best].ns;
		p = end + best_len;
	}
	*out = (int64_t)total;
	return 0;
bad:
	return kiln_err(err, KILN_EINVAL, 0, "invalid duration '%s'", s);
}

static int health_flags(struct image_healthcheck *h, const struct dockerfile_instr *in,
			struct kiln_error *err)
{
	static const char *const names[] = { "interval", "timeout", "start-period",
					     "start-interval" };
	int64_t *slots[] = { &h->interval, &h->timeout, &h->start_period, &h->start_interval };
	const char *v;

	for (size_t i = 0; i < KILN_ARRAY_SIZE(names); i++) {
		if ((v = dockerfile_instr_flag(in, names[i])) &&
		    parse_duration(slots[i], v, err) < 0)
			return kiln_err_prefix(err, "--%s", names[i]);
	}
	if ((v = dockerfile_instr_flag(in, "retries"))) {
		char *end;
		long n = strtol(v, &end, 10);

		if (end == v || *end || n < 0 || n > INT32_MAX)
			return kiln_err(err, KILN_EINVAL, 0, "invalid --retries '%s'", v);
		h->retries = (int)n;
	}
	return 0;
}

static int exec_healthcheck(struct stage_run *sr, const struct dockerfile_instr *in,
			    struct kiln_buf *by, struct kiln_error *err)
{
	struct image_healthcheck *h = &sr->img->config.config.healthcheck;
	const char *type = in->nr_args ? in->args[0].s : "NONE";
	int ret;

	kiln_strvec_clear(&h->test);
	memset(h, 0, sizeof(*h));
	h->present = true;
	if (!strcasecmp(type, "NONE")) {
		kiln_strvec_push(&h->test, "NONE");
		kiln_buf_addstr(by, "HEALTHCHECK NONE");
		return 0;
	}
	if ((ret = health_flags(h, in, err)) < 0)
		return ret;
	if (in->json_form) {
		kiln_strvec_push(&h->test, "CMD");
		for (size_t i = 1; i < in->nr_args; i++)
			kiln_strvec_push(&h->test, in->args[i].s);
	} else {
		kiln_strvec_push(&h->test, "CMD-SHELL");
		kiln_strvec_push(&h->test, in->nr_args > 1 ? in->args[1].s : "");
	}
	argv_format(by, "HEALTHCHECK", &h->test);
	return 0;
}

const struct instr_ops instr_meta_ops[] = {
	{ DOCKERFILE_ENV, false, exec_env, NULL, INSTR_CACHE_NONE },
	{ DOCKERFILE_LABEL, false, exec_label, NULL, INSTR_CACHE_NONE },
	{ DOCKERFILE_ARG, false, exec_arg, NULL, INSTR_CACHE_NONE },
	{ DOCKERFILE_EXPOSE, false, exec_expose, NULL, INSTR_CACHE_NONE },
	{ DOCKERFILE_VOLUME, false, exec_volume, NULL, INSTR_CACHE_NONE },
	{ DOCKERFILE_USER, false, exec_user, NULL, INSTR_CACHE_NONE },
	{ DOCKERFILE_WORKDIR, true, exec_workdir, key_workdir, INSTR_CACHE_ALWAYS },
	{ DOCKERFILE_STOPSIGNAL, false, exec_stopsignal, NULL, INSTR_CACHE_NONE },
	{ DOCKERFILE_HEALTHCHECK, false, exec_healthcheck, NULL, INSTR_CACHE_NONE },
	{ DOCKERFILE_SHELL, false, exec_shell, NULL, INSTR_CACHE_NONE },
	{ DOCKERFILE_ONBUILD, false, exec_onbuild, NULL, INSTR_CACHE_NONE },
	{ DOCKERFILE_CMD, false, exec_cmd, NULL, INSTR_CACHE_NONE },
	{ DOCKERFILE_ENTRYPOINT, false, exec_entrypoint, NULL, INSTR_CACHE_NONE },
	{ DOCKERFILE_MAINTAINER, false, exec_maintainer, NULL, INSTR_CACHE_NONE },
};

const size_t instr_meta_nr = KILN_ARRAY_SIZE(instr_meta_ops);
