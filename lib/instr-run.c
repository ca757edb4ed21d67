/*
 * instr-run.c: RUN. The command line is built as Docker builds it (the
 * image's SHELL around a shell-form command, an exec form as is, heredocs
 * fed to the shell), the environment is the image's Env plus the declared
 * ARGs (never the executor's own: CI tokens must not reach a step), and
 * the step runs as USER in WORKDIR through run.h.
 *
 * RUN --mount=type=cache is honoured: a directory kept in the kiln dir per
 * id (or target) and bound at the target during the step, so it is never
 * in a layer. Other --mount types, --network and --security only warn
 * (kaniko ignores them too).
 */
#include "compat.h"
#include "build-int.h"
#include "alloc.h"
#include "buf.h"
#include "digest.h"
#include "error.h"
#include "log.h"
#include "path.h"
#include "run.h"
#include "user.h"

#include <sys/stat.h>

struct run_step {
	struct kiln_strvec argv;
	struct kiln_strvec env;
	struct kiln_strvec bind_src, bind_dst;
	struct run_bind *binds;
	size_t nr_binds;
	struct user_ids user;
	gid_t *groups; /* the primary group, then the supplementary ones */
	size_t nr_groups;
};

/* The process's groups as runc sets them: the primary gid is a member. */
static void step_groups(struct run_step *rs)
{
	const struct user_ids *u = &rs->user;

	rs->groups = xcalloc(u->nr_groups + 1, sizeof(*rs->groups));
	rs->groups[rs->nr_groups++] = u->gid;
	for (size_t i = 0; i < u->nr_groups; i++) {
		if (u->groups[i] != u->gid)
			rs->groups[rs->nr_groups++] = u->groups[i];
	}
}

/* What the shell gets: the command line, then each heredoc's body and
 * terminator, as if the Dockerfile's text were a shell script. */
static void shell_script(struct kiln_buf *out, const struct dockerfile_instr *in)
{
	const char *cmd = in->nr_args ? in->args[0].s : "";
	const char *p = cmd + strspn(cmd, " \t");

	if (in->nr_heredocs == 1 && !strncmp(p, "<<", 2) && !strpbrk(p + 2, " \t|;&<>")) {
		const struct dockerfile_heredoc *h = &in->heredocs[0];

		/* RUN <<EOF alone: the body is the script */
		if (!strncmp(h->content, "#!", 2)) {
			size_t n = strcspn(h->content + 2, "\n");

			kiln_buf_add(out, h->content + 2, n);
			kiln_buf_addf(out, " <<'%s'\n%s%s\n", h->name, h->content, h->name);
		} else {
			kiln_buf_addstr(out, h->content);
		}
		return;
	}
	kiln_buf_addstr(out, cmd);
	for (size_t i = 0; i < in->nr_heredocs; i++)
		kiln_buf_addf(out, "\n%s%s", in->heredocs[i].content, in->heredocs[i].name);
}

static void build_argv(struct run_step *rs, struct stage_run *sr, const struct dockerfile_instr *in)
{
	const struct kiln_strvec *shell = &sr->img->config.config.shell;
	struct kiln_buf script = KILN_BUF_INIT;

	if (in->json_form) {
		for (size_t i = 0; i < in->nr_args; i++)
			kiln_strvec_push(&rs->argv, in->args[i].s);
		return;
	}
	if (shell->nr) {
		for (size_t i = 0; i < shell->nr; i++)
			kiln_strvec_push(&rs->argv, shell->v[i]);
	} else {
		kiln_strvec_push(&rs->argv, "/bin/sh");
		kiln_strvec_push(&rs->argv, "-c");
	}
	shell_script(&script, in);
	kiln_strvec_push(&rs->argv, script.buf);
	kiln_buf_release(&script);
}

/* "type=cache,target=/x,id=y": the value of key, or NULL. */
static char *mount_field(const char *spec, const char *key)
{
	size_t klen = strlen(key);

	for (const char *p = spec; p && *p;) {
		size_t n = strcspn(p, ",");

		if (n > klen && !strncmp(p, key, klen) && p[klen] == '=')
			return xstrndup(p + klen + 1, n - klen - 1);
		p = p[n] ? p + n + 1 : NULL;
	}
	return NULL;
}

static int cache_mount(struct run_step *rs, struct stage_run *sr, const char *spec,
		       struct kiln_error *err)
{
	char *target = mount_field(spec, "target");
	char *id = mount_field(spec, "id");
	struct kiln_digest key;
	char hex[2 * KILN_SHA256_LEN + 1];
	char *dir;
	int ret = 0;

	if (!target)
		target = mount_field(spec, "dst");
	if (!target)
		target = mount_field(spec, "destination");
	if (!target) {
		ret = kiln_err(err, KILN_EINVAL, 0,
			       "--mount=%s: a cache mount needs target=", spec);
		goto out;
	}
	kiln_digest_of(&key, id ? id : target, strlen(id ? id : target));
	kiln_digest_hex(hex, &key);
	dir = xasprintf("%s/cache-%.16s", sr->b->kiln_dir, hex);
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		ret = kiln_err(err, KILN_EIO, errno, "mkdir '%s'", dir);
	kiln_strvec_push_owned(&rs->bind_src, dir);
	kiln_strvec_push(&rs->bind_dst, target);
out:
	free(target);
	free(id);
	return ret;
}

static int run_flags(struct run_step *rs, struct stage_run *sr, const struct dockerfile_instr *in,
		     struct kiln_error *err)
{
	for (size_t i = 0; i < in->nr_flags; i++) {
		const char *f = in->flags[i];

		if (!strncmp(f, "--mount=", 8)) {
			char *type = mount_field(f + 8, "type");
			bool cache = type && !strcmp(type, "cache");

			free(type);
			if (cache) {
				if (cache_mount(rs, sr, f + 8, err) < 0)
					return KILN_EINVAL;
				continue;
			}
		}
		kiln_warn("RUN %s is not supported yet; the step runs without it", f);
	}
	rs->nr_binds = rs->bind_src.nr;
	rs->binds = xcalloc(rs->nr_binds + 1, sizeof(*rs->binds));
	for (size_t i = 0; i < rs->nr_binds; i++) {
		rs->binds[i].source = rs->bind_src.v[i];
		rs->binds[i].target = rs->bind_dst.v[i];
	}
	return 0;
}

static void created_by(struct kiln_buf *by, const struct run_step *rs,
		       const struct dockerfile_instr *in)
{
	kiln_buf_addstr(by, "RUN");
	for (size_t i = 0; i < in->nr_flags; i++)
		kiln_buf_addf(by, " %s", in->flags[i]);
	for (size_t i = 0; i < rs->argv.nr; i++)
		kiln_buf_addf(by, " %s", rs->argv.v[i]);
	kiln_buf_addstr(by, " # buildkit");
}

static void run_step_release(struct run_step *rs)
{
	kiln_strvec_clear(&rs->argv);
	kiln_strvec_clear(&rs->env);
	kiln_strvec_clear(&rs->bind_src);
	kiln_strvec_clear(&rs->bind_dst);
	free(rs->binds);
	free(rs->groups);
	user_ids_release(&rs->user);
}

static int exec_run(struct stage_run *sr, const struct dockerfile_instr *in, struct kiln_buf *by,
		    struct kiln_error *err)
{
	struct build *b = sr->b;
	const struct image_run_config *c = &sr->img->config.config;
	struct run_step rs = { .user = USER_IDS_INIT };
	const char *cwd = c->working_dir && *c->working_dir ? c->working_dir : "/";
	struct run_spec spec;
	int status = 0, ret;

	build_argv(&rs, sr, in);
	created_by(by, &rs, in);
	if ((ret = run_flags(&rs, sr, in, err)) < 0 ||
	    (ret = user_resolve(&rs.user, b->root_fd, c->user ? c->user : "", err)) < 0 ||
	    (ret = stage_mkdir_p(sr, cwd, rs.user.uid, rs.user.gid, err)) < 0)
		goto out;
	stage_run_env(&rs.env, sr, rs.user.home);
	step_groups(&rs);
	spec = (struct run_spec){ .root = b->root,
				  .isolate = b->isolate,
				  .argv = rs.argv.v,
				  .env = rs.env.v,
				  .cwd = cwd,
				  .uid = rs.user.uid,
				  .gid = rs.user.gid,
				  .groups = rs.groups,
				  .nr_groups = rs.nr_groups,
				  .binds = rs.binds,
				  .nr_binds = rs.nr_binds,
				  .hostname = "kiln",
				  .work_dir = b->work_dir,
				  .out_fd = STDOUT_FILENO };
	fflush(stdout);
	if ((ret = run_exec(&status, &spec, err)) < 0)
		goto out;
	if (status) {
		b->run_status = status;
		ret = kiln_err(err, KILN_EINVAL, 0, "%s:%d: %s: the command exited with code %d",
			       b->df_name, in->line, in->original ? in->original : "RUN", status);
	}
out:
	if (ret < 0 && !status)
		kiln_err_prefix(err, "%s:%d: RUN", b->df_name, in->line);
	run_step_release(&rs);
	return ret;
}

/* What the step runs with: the command line (heredoc bodies included),
 * its flags, environment, user and directory. HOME is left to the parent
 * key: it comes from ROOT's /etc/passwd, which earlier steps decided. */
static int key_run(struct stage_run *sr, const struct dockerfile_instr *in, struct cache_key *k,
		   bool *volatile_, struct kiln_error *err)
{
	const struct image_run_config *c = &sr->img->config.config;
	struct run_step rs = { .user = USER_IDS_INIT };

	(void)volatile_;
	(void)err;
	build_argv(&rs, sr, in);
	stage_run_env(&rs.env, sr, NULL);
	cache_key_add_str(k, "instr", "RUN");
	for (size_t i = 0; i < in->nr_flags; i++)
		cache_key_add_str(k, "flag", in->flags[i]);
	for (size_t i = 0; i < rs.argv.nr; i++)
		cache_key_add_str(k, "arg", rs.argv.v[i]);
	for (size_t i = 0; i < rs.env.nr; i++)
		cache_key_add_str(k, "env", rs.env.v[i]);
	cache_key_add_str(k, "user", c->user);
	cache_key_add_str(k, "workdir", c->working_dir);
	run_step_release(&rs);
	return 0;
}

const struct instr_ops instr_run_ops = { DOCKERFILE_RUN, true, exec_run, key_run, INSTR_CACHE_RUN };
