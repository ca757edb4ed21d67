/*
 * stages.c: stages, their bases and dependencies, --target, and ARG scope.
 *
 * The rules are BuildKit's dockerfile2llb: meta ARGs are expanded in
 * order, a --build-arg replacing a default; FROM's image is expanded with
 * them and resolved against the stages before it (case-insensitive); a
 * --from is expanded with the stage's own ARG/ENV scope and resolved by
 * name, then as an index, else it is an image; cycles are errors. The
 * graph walks are loops with explicit stacks: a hostile Dockerfile can
 * have many stages.
 */
#include "compat.h"
#include "stages.h"
#include "alloc.h"
#include "buf.h"
#include "dockerfile.h"
#include "error.h"
#include "expand.h"
#include "strvec.h"

const char *const stages_predefined_args[] = {
	"HTTP_PROXY",  "http_proxy",	 "HTTPS_PROXY",
	"https_proxy", "FTP_PROXY",	 "ftp_proxy",
	"NO_PROXY",    "no_proxy",	 "ALL_PROXY",
	"all_proxy",   "TARGETPLATFORM", "TARGETOS",
	"TARGETARCH",  "TARGETVARIANT",	 "BUILDPLATFORM",
	"BUILDOS",     "BUILDARCH",	 "BUILDVARIANT",
	NULL,
};

bool stages_is_predefined_arg(const char *name)
{
	for (size_t i = 0; stages_predefined_args[i]; i++) {
		if (!strcmp(stages_predefined_args[i], name))
			return true;
	}
	return false;
}

/* ------------------------------------------------------------ variables */

static ssize_t vars_index(const struct stage_vars *v, const char *name)
{
	for (size_t i = 0; i < v->nr; i++) {
		if (!strcmp(v->names[i], name))
			return (ssize_t)i;
	}
	return -1;
}

void stage_vars_set(struct stage_vars *v, const char *name, const char *value)
{
	ssize_t i = vars_index(v, name);

	if (i >= 0) {
		/* copy first: value may be the string being replaced */
		char *copy = value ? xstrdup(value) : NULL;

		free(v->values[i]);
		v->values[i] = copy;
		return;
	}
	if (v->nr == v->alloc) {
		v->alloc = v->alloc ? 2 * v->alloc : 8;
		v->names = xreallocarray(v->names, v->alloc, sizeof(*v->names));
		v->values = xreallocarray(v->values, v->alloc, sizeof(*v->values));
	}
	v->names[v->nr] = xstrdup(name);
	v->values[v->nr++] = value ? xstrdup(value) : NULL;
}

const char *stage_vars_get(const struct stage_vars *v, const char *name, bool *declared)
{
	ssize_t i = vars_index(v, name);

	if (declared)
		*declared = i >= 0;
	return i >= 0 ? v->values[i] : NULL;
}

void stage_vars_release(struct stage_vars *v)
{
	for (size_t i = 0; i < v->nr; i++) {
		free(v->names[i]);
		free(v->values[i]);
	}
	free(v->names);
	free(v->values);
	memset(v, 0, sizeof(*v));
}

/* kiln_expander's lookup over stage_vars (the last value set wins). */
static bool vars_lookup(void *ctx, const char *name, size_t name_len, const char **value,
			size_t *value_len)
{
	const struct stage_vars *v = ctx;

	for (size_t i = 0; i < v->nr; i++) {
		if (strlen(v->names[i]) != name_len || memcmp(v->names[i], name, name_len))
			continue;
		if (!v->values[i])
			return false;
		*value = v->values[i];
		*value_len = strlen(v->values[i]);
		return true;
	}
	return false;
}

int stages_expand_default(char **out, const char *word, char escape, const struct stage_vars *vars,
			  void *ctx, struct kiln_error *err)
{
	struct kiln_expander x = KILN_EXPANDER_INIT;
	struct kiln_buf b = KILN_BUF_INIT;

	(void)ctx;
	x.escape = escape;
	x.lookup = vars_lookup;
	x.ctx = (void *)vars;
	if (kiln_expand_word(&b, &x, word, strlen(word), err) < 0) {
		kiln_buf_release(&b);
		return KILN_EINVAL;
	}
	*out = kiln_buf_detach(&b, NULL);
	return 0;
}

static void vars_copy(struct stage_vars *dst, const struct stage_vars *src)
{
	for (size_t i = 0; i < src->nr; i++)
		stage_vars_set(dst, src->names[i], src->values[i]);
}

/* ------------------------------------------------------------ helpers */

static int fail_at(struct kiln_error *err, const struct stages *st, int line, const char *fmt, ...)
	KILN_PRINTF(4, 5);

/* "FILE:LINE: message" (or "FILE: message" for line 0). */
static int fail_at(struct kiln_error *err, const struct stages *st, int line, const char *fmt, ...)
{
	struct kiln_buf msg = KILN_BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	kiln_buf_vaddf(&msg, fmt, ap);
	va_end(ap);
	if (line > 0)
		kiln_err(err, KILN_EINVAL, 0, "%s:%d: %s", st->file, line, msg.buf);
	else
		kiln_err(err, KILN_EINVAL, 0, "%s: %s", st->file, msg.buf);
	kiln_buf_release(&msg);
	return KILN_EINVAL;
}

static int expand(char **out, const struct stages *st, const char *word,
		  const struct stage_vars *vars, struct kiln_error *err)
{
	if (!st->expand) {
		*out = xstrdup(word);
		return 0;
	}
	return st->expand(out, word, st->escape, vars, st->expand_ctx, err) < 0 ? KILN_EINVAL : 0;
}

/* The platform this binary runs on, as an OCI platform string. */
static const char *host_platform(void)
{
#if defined(__x86_64__)
	return "linux/amd64";
#elif defined(__aarch64__)
	return "linux/arm64";
#elif defined(__arm__)
	return "linux/arm/v7";
#elif defined(__i386__)
	return "linux/386";
#elif defined(__powerpc64__) && defined(__LITTLE_ENDIAN__)
	return "linux/ppc64le";
#elif defined(__s390x__)
	return "linux/s390x";
#elif defined(__riscv) && __riscv_xlen == 64
	return "linux/riscv64";
#else
	return "linux/unknown";
#endif
}

/* PREFIXPLATFORM, PREFIXOS, PREFIXARCH, PREFIXVARIANT from "os/arch[/v]". */
static void platform_vars(struct stage_vars *v, const char *prefix, const char *platform)
{
	const char *parts[3] = { "", "", "" }, *names[] = { "OS", "ARCH", "VARIANT" };
	char *copy = xstrdup(platform), *p = copy, *slash;
	struct kiln_buf name = KILN_BUF_INIT;

	for (int i = 0; i < 3 && p; i++) {
		slash = i < 2 ? strchr(p, '/') : NULL;
		if (slash)
			*slash = '\0';
		parts[i] = p;
		p = slash ? slash + 1 : NULL;
	}
	kiln_buf_addf(&name, "%sPLATFORM", prefix);
	stage_vars_set(v, name.buf, platform);
	for (int i = 0; i < 3; i++) {
		kiln_buf_reset(&name);
		kiln_buf_addf(&name, "%s%s", prefix, names[i]);
		stage_vars_set(v, name.buf, parts[i]);
	}
	kiln_buf_release(&name);
	free(copy);
}

static void options_save(struct stages *st, const struct dockerfile *df,
			 const struct stages_options *o)
{
	const char *build = o->build_platform ? o->build_platform : host_platform();

	st->escape = df->escape;
	st->expand = o->expand;
	st->expand_ctx = o->expand_ctx;
	st->file = xstrdup(o->file ? o->file : "Dockerfile");
	platform_vars(&st->platform, "BUILD", build);
	platform_vars(&st->platform, "TARGET", o->target_platform ? o->target_platform : build);
	for (size_t i = 0; i < o->nr_build_args; i++) {
		const char *eq = strchr(o->build_args[i], '=');
		char *name;

		if (!eq)
			continue; /* NAME alone: the caller resolves it from the environment */
		name = xstrndup(o->build_args[i], (size_t)(eq - o->build_args[i]));
		stage_vars_set(&st->build_args, name, eq + 1);
		free(name);
	}
}

/* ------------------------------------------------------------ scope */

/* `ARG k[=v]`: --build-arg, else the default expanded, else the meta
 * (or predefined platform) value, else declared but unset. */
static int scope_arg(struct stage_vars *vars, const struct stages *st, const char *word,
		     struct kiln_error *err)
{
	const char *eq = strchr(word, '=');
	char *key = eq ? xstrndup(word, (size_t)(eq - word)) : xstrdup(word), *value = NULL;
	const char *v;
	bool declared;
	int ret = 0;

	v = stage_vars_get(&st->build_args, key, &declared);
	if (declared) {
		stage_vars_set(vars, key, v);
	} else if (eq) {
		ret = expand(&value, st, eq + 1, vars, err);
		if (!ret)
			stage_vars_set(vars, key, value);
	} else {
		stage_vars_set(vars, key, stage_vars_get(&st->meta, key, NULL));
	}
	free(value);
	free(key);
	return ret;
}

static int scope_env(struct stage_vars *vars, const struct stages *st,
		     const struct dockerfile_instr *in, struct kiln_error *err)
{
	for (size_t i = 0; i + 1 < in->nr_args; i += 3) {
		char *value = NULL;

		if (expand(&value, st, in->args[i + 1].s, vars, err) < 0)
			return KILN_EINVAL;
		stage_vars_set(vars, in->args[i].s, value);
		free(value);
	}
	return 0;
}

/* Apply one instruction's ARG or ENV declarations to vars. */
static int scope_apply(struct stage_vars *vars, const struct stages *st,
		       const struct dockerfile_instr *in, struct kiln_error *err)
{
	int ret = 0;

	if (in->kw == DOCKERFILE_ARG) {
		for (size_t i = 0; i < in->nr_args && !ret; i++)
			ret = scope_arg(vars, st, in->args[i].s, err);
	} else if (in->kw == DOCKERFILE_ENV) {
		ret = scope_env(vars, st, in, err);
	}
	if (ret < 0)
		kiln_err_prefix(err, "%s:%d: %s", st->file, in->line, dockerfile_kw_name(in->kw));
	return ret;
}

int stages_scope(struct stage_vars *out, const struct stages *st, const struct dockerfile *df,
		 size_t stage, size_t instr, struct kiln_error *err)
{
	const struct stage *s;

	memset(out, 0, sizeof(*out));
	if (stage >= st->nr)
		return kiln_err(err, KILN_EINVAL, 0, "stage %zu does not exist", stage);
	s = &st->v[stage];
	if (instr > s->end_instr)
		instr = s->end_instr;
	for (size_t i = s->from_instr + 1; i < instr; i++) {
		if (scope_apply(out, st, &df->instrs[i], err) < 0) {
			stage_vars_release(out);
			return KILN_EINVAL;
		}
	}
	return 0;
}

/* ------------------------------------------------------------ meta and FROM */

static int meta_args(struct stages *st, const struct dockerfile *df, size_t first_from,
		     struct kiln_error *err)
{
	vars_copy(&st->meta, &st->platform);
	for (size_t i = 0; i < first_from; i++) {
		const struct dockerfile_instr *in = &df->instrs[i];

		if (in->kw != DOCKERFILE_ARG)
			return fail_at(err, st, in->line,
				       "%s before the first FROM; only ARG may come before FROM",
				       in->keyword);
		/* A meta ARG's default sees the meta ARGs before it. */
		if (scope_apply(&st->meta, st, in, err) < 0)
			return KILN_EINVAL;
	}
	return 0;
}

static ssize_t find_named(const struct stages *st, size_t upto, const char *name)
{
	for (size_t i = 0; i < upto; i++) {
		if (st->v[i].name && !strcasecmp(st->v[i].name, name))
			return (ssize_t)i;
	}
	return -1;
}

static int stage_name(struct stage *s, const struct stages *st, const struct dockerfile_instr *in,
		      struct kiln_error *err)
{
	ssize_t dup;

	if (in->nr_args != 3 || strcasecmp(in->args[1].s, "as"))
		return 0;
	s->name = xstrdup(in->args[2].s);
	for (char *p = s->name; *p; p++)
		*p = (char)(*p >= 'A' && *p <= 'Z' ? *p | 0x20 : *p);
	dup = find_named(st, s->index, s->name);
	if (dup >= 0)
		return fail_at(err, st, in->line,
			       "duplicate stage name '%s' (first used on line %d); give each stage "
			       "its own name",
			       s->name, st->v[dup].line);
	return 0;
}

/* FROM [--platform=P] IMAGE [AS NAME]: expand with the meta ARGs, then an
 * earlier stage's name, scratch, or an image. */
static int stage_from(struct stages *st, struct stage *s, const struct dockerfile_instr *in,
		      struct kiln_error *err)
{
	const char *platform = dockerfile_instr_flag(in, "platform");
	ssize_t base;

	if (!in->nr_args)
		return fail_at(err, st, in->line, "FROM requires either one or three arguments");
	s->line = in->line;
	s->base_raw = xstrdup(in->args[0].s);
	if (expand(&s->base, st, s->base_raw, &st->meta, err) < 0 ||
	    (platform && expand(&s->platform, st, platform, &st->meta, err) < 0)) {
		kiln_err_prefix(err, "%s:%d: FROM", st->file, in->line);
		return KILN_EINVAL;
	}
	if (stage_name(s, st, in, err) < 0)
		return KILN_EINVAL;
	base = find_named(st, s->index, s->base);
	if (base >= 0) {
		s->base_kind = STAGE_BASE_STAGE;
		s->base_stage = (size_t)base;
	} else if (!strcmp(s->base, "scratch")) {
		s->base_kind = STAGE_BASE_SCRATCH;
	}
	return 0;
}

static int split_stages(struct stages *st, const struct dockerfile *df, struct kiln_error *err)
{
	size_t first = df->nr_instrs;

	for (size_t i = 0; i < df->nr_instrs; i++) {
		if (df->instrs[i].kw == DOCKERFILE_FROM) {
			first = i;
			break;
		}
	}
	if (first == df->nr_instrs)
		return fail_at(err, st, 0,
			       "no FROM instruction; a Dockerfile needs at least one stage");
	if (meta_args(st, df, first, err) < 0)
		return KILN_EINVAL;
	for (size_t i = first; i < df->nr_instrs; i++) {
		struct stage *s;

		if (df->instrs[i].kw != DOCKERFILE_FROM)
			continue;
		st->v = xreallocarray(st->v, st->nr + 1, sizeof(*st->v));
		s = &st->v[st->nr];
		memset(s, 0, sizeof(*s));
		s->index = st->nr++;
		s->from_instr = i;
		if (s->index)
			st->v[s->index - 1].end_instr = i;
		s->end_instr = df->nr_instrs;
		if (stage_from(st, s, &df->instrs[i], err) < 0)
			return KILN_EINVAL;
	}
	return 0;
}

/* ------------------------------------------------------------ dependencies */

static void add_dep(struct stage *s, size_t dep)
{
	size_t i = 0;

	while (i < s->nr_deps && s->deps[i] < dep)
		i++;
	if (i < s->nr_deps && s->deps[i] == dep)
		return;
	s->deps = xreallocarray(s->deps, s->nr_deps + 1, sizeof(*s->deps));
	memmove(s->deps + i + 1, s->deps + i, (s->nr_deps - i) * sizeof(*s->deps));
	s->deps[i] = dep;
	s->nr_deps++;
}

/* strconv.Atoi: optional sign, decimal digits, fits in 64 bits. */
static bool parse_index(const char *s, long long *out)
{
	char *end;

	if (!*s || (!(*s >= '0' && *s <= '9') && *s != '-' && *s != '+'))
		return false;
	errno = 0;
	*out = strtoll(s, &end, 10);
	return !errno && !*end && end != s && (end - s > 1 || (*s >= '0' && *s <= '9'));
}

/* A --from value (expanded): a stage by name, then by index, else an
 * image (no dependency). */
static int resolve_from(struct stages *st, struct stage *s, const char *what, const char *from,
			int line, struct kiln_error *err)
{
	ssize_t named = find_named(st, st->nr, from);
	long long idx;

	if (named < 0 && parse_index(from, &idx)) {
		if (idx < 0 || (unsigned long long)idx >= st->nr)
			return fail_at(
				err, st, line,
				"%s='%s': there is no stage %s; the stages are numbered 0 to "
				"%zu",
				what, from, from, st->nr - 1);
		named = (ssize_t)idx;
	}
	if (named < 0)
		return 0;
	if ((size_t)named == s->index)
		return fail_at(err, st, line, "%s='%s': a stage cannot use itself", what, from);
	add_dep(s, (size_t)named);
	return 0;
}

/* RUN --mount=type=bind,from=build,...: the from= field. */
static char *mount_from(const char *mount)
{
	const char *p = mount;

	while (p && *p) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		if (len > 5 && !strncmp(p, "from=", 5))
			return xstrndup(p + 5, len - 5);
		p = end ? end + 1 : NULL;
	}
	return NULL;
}

static int instr_deps(struct stages *st, struct stage *s, const struct dockerfile_instr *in,
		      const struct stage_vars *scope, struct kiln_error *err)
{
	for (size_t f = 0; f < in->nr_flags; f++) {
		const char *flag = in->flags[f], *what = NULL;
		char *value = NULL, *from = NULL;
		int ret = 0;

		if (in->kw != DOCKERFILE_RUN && !strncmp(flag, "--from=", 7))
			what = in->kw == DOCKERFILE_COPY ? "COPY --from" : "ADD --from";
		else if (in->kw == DOCKERFILE_RUN && !strncmp(flag, "--mount=", 8))
			what = "RUN --mount from";
		if (!what)
			continue;
		if (expand(&value, st, strchr(flag, '=') + 1, scope, err) < 0) {
			kiln_err_prefix(err, "%s:%d: %s", st->file, in->line, what);
			return KILN_EINVAL;
		}
		from = in->kw == DOCKERFILE_RUN ? mount_from(value) : xstrdup(value);
		if (from && *from)
			ret = resolve_from(st, s, what, from, in->line, err);
		free(from);
		free(value);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* Walk one stage in order, keeping its ARG/ENV scope for --from values. */
static int stage_deps(struct stages *st, struct stage *s, const struct dockerfile *df,
		      struct kiln_error *err)
{
	struct stage_vars scope = { 0 };
	int ret = 0;

	if (s->base_kind == STAGE_BASE_STAGE)
		add_dep(s, s->base_stage);
	for (size_t i = s->from_instr + 1; i < s->end_instr && !ret; i++) {
		const struct dockerfile_instr *in = &df->instrs[i];

		if (in->kw == DOCKERFILE_COPY || in->kw == DOCKERFILE_ADD ||
		    in->kw == DOCKERFILE_RUN)
			ret = instr_deps(st, s, in, &scope, err);
		else
			ret = scope_apply(&scope, st, in, err);
	}
	stage_vars_release(&scope);
	return ret;
}

/* ------------------------------------------------------------ target and order */

ssize_t stages_find(const struct stages *st, const char *name_or_index)
{
	ssize_t named = find_named(st, st->nr, name_or_index);
	long long idx;

	if (named >= 0)
		return named;
	if (parse_index(name_or_index, &idx) && idx >= 0 && (unsigned long long)idx < st->nr)
		return (ssize_t)idx;
	return -1;
}

static int find_target(struct stages *st, const char *target, struct kiln_error *err)
{
	struct kiln_buf names = KILN_BUF_INIT;
	ssize_t named;
	int ret;

	if (!target || !*target) {
		st->target = st->nr - 1;
		return 0;
	}
	named = find_named(st, st->nr, target);
	if (named >= 0) {
		st->target = (size_t)named;
		return 0;
	}
	for (size_t i = 0; i < st->nr; i++) {
		if (st->v[i].name)
			kiln_buf_addf(&names, "%s'%s'", names.len ? ", " : "", st->v[i].name);
	}
	if (names.len)
		ret = fail_at(err, st, 0, "target stage '%s' could not be found; the stages are %s",
			      target, names.buf);
	else
		ret = fail_at(err, st, 0,
			      "target stage '%s' could not be found; no stage has a name (FROM "
			      "IMAGE AS NAME)",
			      target);
	kiln_buf_release(&names);
	return ret;
}

/*
 * Depth-first from the target with an explicit stack: each used stage is
 * appended to the order after its dependencies; meeting a stage that is
 * still on the stack is a cycle.
 */
static int order_stages(struct stages *st, struct kiln_error *err)
{
	enum { NEW, OPEN, DONE } *state = xcalloc(st->nr, sizeof(*state));
	size_t *stack = xcalloc(st->nr, sizeof(*stack)), *next = xcalloc(st->nr, sizeof(*next));
	size_t top = 0;
	int ret = 0;

	st->order = xcalloc(st->nr, sizeof(*st->order));
	stack[top++] = st->target;
	state[st->target] = OPEN;
	while (top && !ret) {
		struct stage *s = &st->v[stack[top - 1]];

		if (next[s->index] == s->nr_deps) {
			state[s->index] = DONE;
			s->used = true;
			st->order[st->nr_order++] = s->index;
			top--;
			continue;
		}
		size_t d = s->deps[next[s->index]++];

		if (state[d] == OPEN)
			ret = fail_at(
				err, st, s->line,
				"stage %zu%s%s%s needs stage %zu, which needs it back; break the "
				"cycle",
				s->index, s->name ? " ('" : "", s->name ? s->name : "",
				s->name ? "')" : "", d);
		else if (state[d] == NEW) {
			state[d] = OPEN;
			stack[top++] = d;
		}
	}
	free(state);
	free(stack);
	free(next);
	return ret;
}

void stages_resolve_build_args(struct kiln_strvec *out, const struct kiln_strvec *given)
{
	for (size_t i = 0; i < given->nr; i++) {
		const char *a = given->v[i];
		const char *v = strchr(a, '=') ? NULL : getenv(a);

		if (strchr(a, '='))
			kiln_strvec_push(out, a);
		else if (v)
			kiln_strvec_pushf(out, "%s=%s", a, v);
	}
}

int stages_build(struct stages *out, const struct dockerfile *df, const struct stages_options *o,
		 struct kiln_error *err)
{
	memset(out, 0, sizeof(*out));
	options_save(out, df, o);
	if (split_stages(out, df, err) < 0)
		goto fail;
	for (size_t i = 0; i < out->nr; i++) {
		if (stage_deps(out, &out->v[i], df, err) < 0)
			goto fail;
	}
	if (find_target(out, o->target, err) < 0 || order_stages(out, err) < 0)
		goto fail;
	return 0;
fail:
	stages_release(out);
	return KILN_EINVAL;
}

void stages_release(struct stages *st)
{
	for (size_t i = 0; i < st->nr; i++) {
		struct stage *s = &st->v[i];

		free(s->name);
		free(s->base_raw);
		free(s->base);
		free(s->platform);
		free(s->deps);
	}
	free(st->v);
	free(st->order);
	stage_vars_release(&st->meta);
	stage_vars_release(&st->build_args);
	stage_vars_release(&st->platform);
	free(st->file);
	memset(st, 0, sizeof(*st));
}
