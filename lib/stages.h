/*
 * stages.h: the stages of a parsed Dockerfile and the graph between them.
 *
 * From struct dockerfile: the meta ARGs (ARG before the first FROM, with
 * --build-arg overriding their defaults), one stage per FROM (its index,
 * its lower-case name, its base: an image reference, an earlier stage
 * named in FROM, or scratch), and the dependencies a stage has on other
 * stages through FROM <stage>, COPY/ADD --from=<stage|index> and
 * RUN --mount=...,from=<stage> (a --from naming no stage is an image).
 * --target picks the stage to build; the stages it needs are marked used
 * (what --skip-unused-stages keeps) and listed in a build order.
 *
 * Variables follow BuildKit's scoping: FROM sees the meta ARGs and the
 * platform args (BUILDPLATFORM, TARGETOS, ...); inside a stage a meta ARG
 * is visible only after the stage re-declares it (`ARG NAME` takes the
 * meta value), and the predefined args only once declared too.
 * Expansion goes through opts->expand (stages_expand_default: the word
 * expander of lib/expand.h) on FROM's image and --platform, ARG/ENV values
 * and --from values; with no expander the words are used as written.
 *
 * Typical use:
 *	struct stages_options o = { .target = opts->target, .file = "Dockerfile",
 *				    .build_args = args, .nr_build_args = n,
 *				    .expand = stages_expand_default };
 *	struct stages st;
 *	if (stages_build(&st, &df, &o, err) < 0) ...
 *	for (size_t i = 0; i < st.nr_order; i++) build_stage(&st.v[st.order[i]]);
 *	stages_release(&st);
 */
#ifndef KILN_STAGES_H
#define KILN_STAGES_H

#include "compat.h"

struct dockerfile;
struct kiln_error;
struct kiln_strvec;

/* Variables in scope, in declaration order; a NULL value is declared but
 * unset (`ARG NAME` with no default and no --build-arg). */
struct stage_vars {
	char **names;
	char **values;
	size_t nr, alloc;
};

/* Set (or replace) name; value NULL means unset. */
void stage_vars_set(struct stage_vars *v, const char *name, const char *value);
/* The value, or NULL when name is unset or unknown (*declared says which). */
const char *stage_vars_get(const struct stage_vars *v, const char *name, bool *declared);
void stage_vars_release(struct stage_vars *v);

/*
 * Expand $VAR references in word with vars, BuildKit's rules, escape
 * character escape; quotes are removed. *out is malloc'd. Returns 0, or a
 * negative KILN_E* with err set.
 */
typedef int (*stages_expand_fn)(char **out, const char *word, char escape,
				const struct stage_vars *vars, void *ctx, struct kiln_error *err);

/* The expander of lib/expand.h (BuildKit's word expansion) as a
 * stages_expand_fn; ctx is unused. */
int stages_expand_default(char **out, const char *word, char escape, const struct stage_vars *vars,
			  void *ctx, struct kiln_error *err);

struct stages_options {
	const char *file;	       /* the Dockerfile's name, for messages */
	const char *target;	       /* --target: a stage name; NULL for the last stage */
	const char *const *build_args; /* --build-arg values, each NAME=VALUE */
	size_t nr_build_args;
	const char *build_platform;  /* "os/arch[/variant]"; NULL: this machine's */
	const char *target_platform; /* --custom-platform; NULL: the build platform */
	stages_expand_fn expand;     /* NULL: words are used as written */
	void *expand_ctx;
};

enum stage_base_kind {
	STAGE_BASE_IMAGE,   /* an image reference (base) */
	STAGE_BASE_STAGE,   /* an earlier stage (base_stage) */
	STAGE_BASE_SCRATCH, /* FROM scratch: no base */
};

struct stage {
	size_t index;
	int line;	   /* its FROM's line */
	char *name;	   /* lower case; NULL when unnamed */
	size_t from_instr; /* its FROM in dockerfile.instrs */
	size_t end_instr;  /* one past its last instruction */
	char *base_raw;	   /* FROM's image as written, $VAR included */
	char *base;	   /* after expansion with the meta ARGs */
	char *platform;	   /* --platform after expansion, or NULL */
	enum stage_base_kind base_kind;
	size_t base_stage; /* for STAGE_BASE_STAGE */
	size_t *deps;	   /* stages it needs: ascending, no duplicates */
	size_t nr_deps;
	bool used; /* needed to build the target */
};

struct stages {
	struct stage *v;
	size_t nr;
	size_t target; /* the stage to build */
	size_t *order; /* the used stages, each after what it needs */
	size_t nr_order;
	struct stage_vars meta; /* what FROM sees: platform args and meta ARGs */
	/* what stages_scope() needs again */
	struct stage_vars build_args;
	struct stage_vars platform;
	char escape;
	stages_expand_fn expand;
	void *expand_ctx;
	char *file;
};

/*
 * --build-arg values as stages_options.build_args takes them (appended to
 * out): NAME=VALUE as given; a bare NAME takes its value from the
 * executor's environment (as Docker does) and is left out when unset there.
 */
void stages_resolve_build_args(struct kiln_strvec *out, const struct kiln_strvec *given);

/*
 * Build the stage list and graph of df. Fails (KILN_EINVAL, "FILE:LINE:
 * ...") on a Dockerfile with no FROM, an instruction other than ARG before
 * the first FROM, a repeated stage name, a --from index out of range, a
 * stage needing itself (directly or not), an unknown --target (the
 * message lists the stage names), or an expansion error.
 */
int stages_build(struct stages *out, const struct dockerfile *df, const struct stages_options *o,
		 struct kiln_error *err);
void stages_release(struct stages *st);

/* A stage by name (case-insensitive) or decimal index; -1 if none. */
ssize_t stages_find(const struct stages *st, const char *name_or_index);

/*
 * The variables instruction instr (an index into df->instrs, inside stage
 * `stage`) sees from the Dockerfile: the stage's ARGs declared before it
 * (--build-arg, else the default, else the meta ARG's value) and its ENVs,
 * expanded in order. The base image's ENV is not included.
 */
int stages_scope(struct stage_vars *out, const struct stages *st, const struct dockerfile *df,
		 size_t stage, size_t instr, struct kiln_error *err);

/* The args every build knows without an ARG in the Dockerfile's global
 * scope (proxies, BUILD* and TARGET* platform args), NULL-terminated. */
extern const char *const stages_predefined_args[];
bool stages_is_predefined_arg(const char *name);

#endif
