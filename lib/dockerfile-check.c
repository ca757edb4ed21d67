/*
 * dockerfile-check.c: what BuildKit's instruction parser (instructions
 * package) refuses before any build step runs, checked on the parsed
 * Dockerfile: unknown instructions, flags per instruction (the table
 * below), argument counts, stage names, HEALTHCHECK options, SHELL in
 * JSON form, ONBUILD triggers, and instructions before the first FROM.
 * `executor debug parse --check` and the build report the first problem
 * as "FILE:LINE: message".
 */
#include "compat.h"
#include "dockerfile.h"
#include "alloc.h"
#include "buf.h"
#include "error.h"

enum flag_type {
	FLAG_BOOL,    /* --name, --name=true|false */
	FLAG_STRING,  /* --name=value, once */
	FLAG_STRINGS, /* --name=value, repeatable */
};

struct flag_def {
	const char *name;
	enum flag_type type;
};

static const struct flag_def from_flags[] = {
	{ "platform", FLAG_STRING },
};
static const struct flag_def run_flags[] = {
	{ "mount", FLAG_STRINGS },
	{ "network", FLAG_STRING },
	{ "security", FLAG_STRING },
};
static const struct flag_def add_flags[] = {
	{ "chown", FLAG_STRING },      { "chmod", FLAG_STRING },    { "link", FLAG_BOOL },
	{ "parents", FLAG_BOOL },      { "exclude", FLAG_STRINGS }, { "checksum", FLAG_STRING },
	{ "keep-git-dir", FLAG_BOOL }, { "unpack", FLAG_BOOL },
};
static const struct flag_def copy_flags[] = {
	{ "from", FLAG_STRING }, { "chown", FLAG_STRING }, { "chmod", FLAG_STRING },
	{ "link", FLAG_BOOL },	 { "parents", FLAG_BOOL }, { "exclude", FLAG_STRINGS },
};
static const struct flag_def healthcheck_flags[] = {
	{ "interval", FLAG_STRING },	 { "timeout", FLAG_STRING },
	{ "start-period", FLAG_STRING }, { "start-interval", FLAG_STRING },
	{ "retries", FLAG_STRING },
};

struct flag_table {
	const struct flag_def *defs;
	size_t nr;
};

#define FLAG_TABLE(a) ((struct flag_table){ a, KILN_ARRAY_SIZE(a) })

struct checker {
	const char *file;
	const struct dockerfile_instr *in;
	const char *name; /* "RUN" */
	struct kiln_error *err;
};

static int fail(struct checker *c, const char *fmt, ...) KILN_PRINTF(2, 3);

static int fail(struct checker *c, const char *fmt, ...)
{
	struct kiln_buf msg = KILN_BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	kiln_buf_vaddf(&msg, fmt, ap);
	va_end(ap);
	kiln_err(c->err, KILN_EINVAL, 0, "%s:%d: %s", c->file, c->in->line, msg.buf);
	kiln_buf_release(&msg);
	return KILN_EINVAL;
}

static struct flag_table flags_of(enum dockerfile_kw kw)
{
	switch (kw) {
	case DOCKERFILE_FROM:
		return FLAG_TABLE(from_flags);
	case DOCKERFILE_RUN:
		return FLAG_TABLE(run_flags);
	case DOCKERFILE_ADD:
		return FLAG_TABLE(add_flags);
	case DOCKERFILE_COPY:
		return FLAG_TABLE(copy_flags);
	case DOCKERFILE_HEALTHCHECK:
		return FLAG_TABLE(healthcheck_flags);
	default:
		return (struct flag_table){ NULL, 0 };
	}
}

static int unknown_flag(struct checker *c, const char *name, size_t len, struct flag_table t)
{
	char *flag = xasprintf("--%.*s", (int)len, name);

	struct kiln_buf list = KILN_BUF_INIT;
	int ret;

	for (size_t i = 0; i < t.nr; i++)
		kiln_buf_addf(&list, "%s--%s", i ? ", " : "", t.defs[i].name);
	if (t.nr)
		ret = fail(c, "unknown flag '%s' for %s; %s accepts %s", flag, c->name, c->name,
			   list.buf);
	else
		ret = fail(c, "unknown flag '%s': %s takes no flags", flag, c->name);
	kiln_buf_release(&list);
	free(flag);
	return ret;
}

static int flag_value_check(struct checker *c, const struct flag_def *d, const char *eq)
{
	if (d->type != FLAG_BOOL) {
		if (!eq)
			return fail(c, "flag '--%s' needs a value: --%s=VALUE", d->name, d->name);
		return 0;
	}
	if (eq && !eq[1])
		return fail(c, "flag '--%s' needs a value after '='; use --%s or --%s=false",
			    d->name, d->name, d->name);
	if (eq && strcasecmp(eq + 1, "true") && strcasecmp(eq + 1, "false"))
		return fail(c, "flag '--%s' takes true or false, not '%s'", d->name, eq + 1);
	return 0;
}

/* BuildKit's BFlags.Parse against the instruction's table. */
static int check_flags(struct checker *c)
{
	struct flag_table t = flags_of(c->in->kw);
	bool used[16] = { false };

	for (size_t i = 0; i < c->in->nr_flags; i++) {
		const char *flag = c->in->flags[i], *name = flag + 2, *eq = strchr(name, '=');
		size_t len = eq ? (size_t)(eq - name) : strlen(name), k;

		if (!strcmp(flag, "--"))
			return 0;
		for (k = 0; k < t.nr; k++) {
			if (strlen(t.defs[k].name) == len && !strncmp(t.defs[k].name, name, len))
				break;
		}
		if (k == t.nr)
			return unknown_flag(c, name, len, t);
		if (used[k] && t.defs[k].type != FLAG_STRINGS)
			return fail(c, "flag '--%s' is given twice; keep one", t.defs[k].name);
		used[k] = true;
		if (flag_value_check(c, &t.defs[k], eq) < 0)
			return KILN_EINVAL;
	}
	return 0;
}

static int need_args(struct checker *c, size_t min, bool exactly_one)
{
	if (exactly_one && c->in->nr_args != 1)
		return fail(c, "%s requires exactly one argument", c->name);
	if (c->in->nr_args < min)
		return fail(c, "%s requires at least one argument", c->name);
	return 0;
}

static bool heredoc_word(const char *s)
{
	while (*s >= '0' && *s <= '9')
		s++;
	return s[0] == '<' && s[1] == '<' && !strchr(s + 2 + (s[2] == '-'), '<') &&
	       s[2 + (s[2] == '-')];
}

static int check_copy(struct checker *c)
{
	const struct dockerfile_instr *in = c->in;

	if (in->nr_args < 2)
		return fail(c, "%s requires at least two arguments, a source and a destination",
			    c->name);
	if (check_flags(c) < 0)
		return KILN_EINVAL;
	if (heredoc_word(in->args[in->nr_args - 1].s))
		return fail(c, "%s cannot accept a heredoc as a destination: '%s'", c->name,
			    in->args[in->nr_args - 1].s);
	return 0;
}

/* ^[a-z][a-z0-9-_\.]*$ on the lower-cased name. */
static bool stage_name_ok(const char *s)
{
	if (!(*s >= 'a' && *s <= 'z') && !(*s >= 'A' && *s <= 'Z'))
		return false;
	for (s++; *s; s++) {
		char l = (char)(*s >= 'A' && *s <= 'Z' ? *s | 0x20 : *s);

		if (!(l >= 'a' && l <= 'z') && !(l >= '0' && l <= '9') && !strchr("-_.", l))
			return false;
	}
	return true;
}

static int check_from(struct checker *c)
{
	const struct dockerfile_instr *in = c->in;

	if (in->nr_args == 3 && !strcasecmp(in->args[1].s, "as")) {
		if (!stage_name_ok(in->args[2].s))
			return fail(
				c,
				"invalid stage name '%s'; a name starts with a letter and holds "
				"only letters, digits, '-', '_' and '.'",
				in->args[2].s);
	} else if (in->nr_args != 1) {
		return fail(c, "FROM requires either one or three arguments: FROM IMAGE [AS NAME]");
	}
	return check_flags(c);
}

static int check_kvps(struct checker *c)
{
	if (check_flags(c) < 0)
		return KILN_EINVAL;
	if (!c->in->nr_args)
		return fail(c, "%s requires at least one argument", c->name);
	for (size_t i = 0; i < c->in->nr_args; i += 3) {
		if (!c->in->args[i].len)
			return fail(c, "%s names can not be blank", c->name);
	}
	return 0;
}

static int check_arg(struct checker *c)
{
	if (need_args(c, 1, false) < 0)
		return KILN_EINVAL;
	for (size_t i = 0; i < c->in->nr_args; i++) {
		if (c->in->args[i].s[0] == '=')
			return fail(c, "ARG names can not be blank: '%s'", c->in->args[i].s);
	}
	return 0;
}

static int check_onbuild(struct checker *c)
{
	const struct dockerfile_instr *t = c->in->onbuild;

	if (!t)
		return fail(c,
			    "ONBUILD requires at least one argument: the instruction to run later");
	if (check_flags(c) < 0)
		return KILN_EINVAL;
	if (t->kw == DOCKERFILE_ONBUILD)
		return fail(c, "chaining ONBUILD via 'ONBUILD ONBUILD' isn't allowed");
	if (t->kw == DOCKERFILE_FROM || t->kw == DOCKERFILE_MAINTAINER)
		return fail(c, "%s isn't allowed as an ONBUILD trigger", dockerfile_kw_name(t->kw));
	return 0;
}

static int check_run(struct checker *c)
{
	const char *v;

	if (check_flags(c) < 0)
		return KILN_EINVAL;
	v = dockerfile_instr_flag(c->in, "network");
	if (v && strcmp(v, "default") && strcmp(v, "none") && strcmp(v, "host"))
		return fail(c, "unsupported network mode '%s'; use default, none or host", v);
	v = dockerfile_instr_flag(c->in, "security");
	if (v && strcmp(v, "sandbox") && strcmp(v, "insecure"))
		return fail(c, "unsupported security mode '%s'; use sandbox or insecure", v);
	return 0;
}

static int check_shell(struct checker *c)
{
	if (check_flags(c) < 0)
		return KILN_EINVAL;
	if (!c->in->nr_args)
		return fail(c, "SHELL requires at least one argument");
	if (!c->in->json_form)
		return fail(c,
			    "SHELL requires the arguments to be in JSON form: 'SHELL %s'; write "
			    "SHELL [\"executable\", \"parameters\"]",
			    c->in->args[0].s);
	return 0;
}

static int check_volume(struct checker *c)
{
	if (need_args(c, 1, false) < 0 || check_flags(c) < 0)
		return KILN_EINVAL;
	for (size_t i = 0; i < c->in->nr_args; i++) {
		const char *s = c->in->args[i].s;

		while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r' || *s == '\v' ||
		       *s == '\f')
			s++;
		if (!*s)
			return fail(c, "VOLUME specified can not be an empty string");
	}
	return 0;
}

/* One "<number><unit>" of a Go duration at *s; false when malformed. */
static bool duration_part(const char **s, double *ns)
{
	static const struct {
		const char *unit;
		double ns;
	} units[] = { { "ns", 1 },   { "us", 1e3 }, { "\xc2\xb5s", 1e3 }, { "\xce\xbcs", 1e3 },
		      { "ms", 1e6 }, { "s", 1e9 },  { "m", 60e9 },	  { "h", 3600e9 } };
	struct kiln_buf num = KILN_BUF_INIT;
	const char *p = *s, *u;
	size_t int_digits, frac_digits = 0, k;

	for (int_digits = 0; p[int_digits] >= '0' && p[int_digits] <= '9'; int_digits++)
		;
	u = p + int_digits;
	if (*u == '.')
		for (u++; *u >= '0' && *u <= '9'; u++)
			frac_digits++;
	if (!int_digits && !frac_digits)
		return false;
	kiln_buf_add(&num, p, (size_t)(u - p));
	*ns = strtod(num.buf, NULL);
	kiln_buf_release(&num);
	for (p = u; *p && *p != '.' && !(*p >= '0' && *p <= '9'); p++)
		;
	for (k = 0; k < KILN_ARRAY_SIZE(units); k++) {
		if (strlen(units[k].unit) == (size_t)(p - u) &&
		    !strncmp(u, units[k].unit, (size_t)(p - u)))
			break;
	}
	if (k == KILN_ARRAY_SIZE(units))
		return false;
	*ns *= units[k].ns;
	*s = p;
	return true;
}

/* Go's time.ParseDuration, to nanoseconds; false when malformed. */
static bool parse_duration(const char *s, double *ns)
{
	double total = 0, part, sign = 1;

	if (*s == '-' || *s == '+')
		sign = *s++ == '-' ? -1 : 1;
	if (!strcmp(s, "0")) {
		*ns = 0;
		return true;
	}
	if (!*s)
		return false;
	while (*s) {
		if (!duration_part(&s, &part))
			return false;
		total += part;
	}
	*ns = sign * total;
	return true;
}

static int check_interval(struct checker *c, const char *name)
{
	const char *v = dockerfile_instr_flag(c->in, name);
	double ns;

	if (!v || !*v)
		return 0;
	if (!parse_duration(v, &ns))
		return fail(c, "invalid duration '%s' for --%s; write it as 30s, 1m30s, 500ms...",
			    v, name);
	if (ns < 1e6)
		return fail(c, "--%s=%s cannot be less than 1ms", name, v);
	return 0;
}

static int check_retries(struct checker *c)
{
	const char *v = dockerfile_instr_flag(c->in, "retries");
	char *end;
	long long n;

	if (!v || !*v)
		return 0;
	errno = 0;
	n = strtoll(v, &end, 10);
	if (errno || *end || n > INT32_MAX || n < INT32_MIN ||
	    (*v != '-' && *v != '+' && !(*v >= '0' && *v <= '9')))
		return fail(c, "invalid --retries value '%s'; give a number", v);
	if (n < 0)
		return fail(c, "--retries cannot be negative (%lld)", n);
	return 0;
}

static int check_healthcheck(struct checker *c)
{
	static const char *const intervals[] = { "interval", "timeout", "start-period",
						 "start-interval" };
	const struct dockerfile_instr *in = c->in;

	if (!in->nr_args)
		return fail(c, "HEALTHCHECK requires at least one argument: NONE or CMD ...");
	if (!strcasecmp(in->args[0].s, "none")) {
		if (in->nr_args > 1)
			return fail(c, "HEALTHCHECK NONE takes no arguments");
		return 0;
	}
	if (check_flags(c) < 0)
		return KILN_EINVAL;
	if (strcasecmp(in->args[0].s, "cmd"))
		return fail(c, "unknown type '%s' in HEALTHCHECK; try CMD", in->args[0].s);
	if (in->nr_args < 2)
		return fail(c, "missing command after HEALTHCHECK CMD");
	for (size_t i = 0; i < KILN_ARRAY_SIZE(intervals); i++) {
		if (check_interval(c, intervals[i]) < 0)
			return KILN_EINVAL;
	}
	return check_retries(c);
}

static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), prev[32], cur[32];

	if (la >= 32 || lb >= 32)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		prev[j] = j;
	for (size_t i = 1; i <= la; i++) {
		cur[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
			size_t del = prev[j] + 1, ins = cur[j - 1] + 1;

			cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
		}
		memcpy(prev, cur, sizeof(cur));
	}
	return prev[lb];
}

static int check_unknown(struct checker *c)
{
	const char *word = c->in->keyword, *best = NULL;
	size_t best_d = SIZE_MAX;

	for (int kw = DOCKERFILE_ADD; kw <= DOCKERFILE_WORKDIR; kw++) {
		const char *name = dockerfile_kw_name((enum dockerfile_kw)kw);
		struct kiln_buf lower = KILN_BUF_INIT;
		size_t d;

		for (const char *p = name; *p; p++)
			kiln_buf_addch(&lower, *p | 0x20);
		d = edit_distance(word, lower.buf);
		kiln_buf_release(&lower);
		if (d < best_d) {
			best_d = d;
			best = name;
		}
	}
	if (best && best_d <= 2 && best_d < strlen(word))
		return fail(c, "unknown instruction '%s'; did you mean '%s'?", c->in->keyword,
			    best);
	return fail(c,
		    "unknown instruction '%s'; see the Dockerfile reference for the instructions",
		    c->in->keyword);
}

static int check_instr(struct checker *c)
{
	switch (c->in->kw) {
	case DOCKERFILE_ENV:
	case DOCKERFILE_LABEL:
		return check_kvps(c);
	case DOCKERFILE_MAINTAINER:
	case DOCKERFILE_WORKDIR:
	case DOCKERFILE_USER:
		return need_args(c, 1, true) < 0 ? KILN_EINVAL : check_flags(c);
	case DOCKERFILE_STOPSIGNAL:
		return need_args(c, 1, true);
	case DOCKERFILE_ADD:
	case DOCKERFILE_COPY:
		return check_copy(c);
	case DOCKERFILE_FROM:
		return check_from(c);
	case DOCKERFILE_ONBUILD:
		return check_onbuild(c);
	case DOCKERFILE_RUN:
		return check_run(c);
	case DOCKERFILE_CMD:
	case DOCKERFILE_ENTRYPOINT:
		return check_flags(c);
	case DOCKERFILE_HEALTHCHECK:
		return check_healthcheck(c);
	case DOCKERFILE_EXPOSE:
		return need_args(c, 1, false) < 0 ? KILN_EINVAL : check_flags(c);
	case DOCKERFILE_VOLUME:
		return check_volume(c);
	case DOCKERFILE_ARG:
		return check_arg(c);
	case DOCKERFILE_SHELL:
		return check_shell(c);
	default:
		return check_unknown(c);
	}
}

int dockerfile_check(const struct dockerfile *df, const char *file, struct kiln_error *err)
{
	bool in_stage = false;

	for (size_t i = 0; i < df->nr_instrs; i++) {
		const struct dockerfile_instr *in = &df->instrs[i];
		struct checker c = { file, in, dockerfile_kw_name(in->kw), err };

		if (check_instr(&c) < 0)
			return KILN_EINVAL;
		if (in->kw == DOCKERFILE_FROM)
			in_stage = true;
		else if (!in_stage && in->kw != DOCKERFILE_ARG)
			return fail(&c, "%s before the first FROM; only ARG may come before FROM",
				    c.name);
	}
	return 0;
}
