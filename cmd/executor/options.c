#include "compat.h"
#include "options.h"
#include "alloc.h"
#include "buf.h"
#include "duration.h"
#include "error.h"

enum opt_type {
	OPT_BOOL,
	OPT_STRING,	 /* const char *; an empty value restores the default */
	OPT_STRVEC,	 /* repeatable: each value appended (cb, if set, checks it) */
	OPT_UINT,	 /* unsigned, 0..OPT_UINT_MAX */
	OPT_CALLBACK,	 /* takes a value, parsed by cb */
	OPT_NOOP,	 /* accepted, no effect (a value is checked by cb if set) */
	OPT_UNSUPPORTED, /* kaniko has it, kiln does not yet: an error */
	OPT_ALIAS,	 /* a deprecated spelling of the row named by alias_of */
};

/* Where offset points: into struct kiln_options, or into the registry
 * options of pushes, of pulls, or of both (the same value set twice). */
enum opt_where {
	IN_OPTIONS,
	IN_PUSH,
	IN_PULL,
	IN_BOTH,
};

/* --help sections, in this order (a command's empty sections are left out). */
enum opt_group {
	G_WARM,
	G_BUILD,
	G_REGISTRY,
	G_CACHE,
	G_OUTPUT,
	G_LOGGING,
	G_NOOP,
	G_UNSUPPORTED,
	G_HIDDEN, /* deprecated spellings: listed once at the end */
};

static const char *const group_titles[] = {
	[G_WARM] = "What to store",
	[G_BUILD] = "Build",
	[G_REGISTRY] = "Registries",
	[G_CACHE] = "Cache",
	[G_OUTPUT] = "Output",
	[G_LOGGING] = "Logging",
	[G_NOOP] = "Accepted for kaniko compatibility, no effect in kiln",
	[G_UNSUPPORTED] = "kaniko flags kiln does not support yet (they fail)",
};

struct opt {
	const char *name;
	char short_name;
	enum opt_type type;
	enum opt_where where;
	enum opt_group group;
	const char *arg; /* value placeholder in --help; NULL: a boolean */
	const char *help;
	size_t offset;
	int (*cb)(struct kiln_options *o, const char *value, struct kiln_error *err);
	const char *alias_of;
	/*
	 * OPT_UNSUPPORTED booleans: kaniko's default. Giving it explicitly
	 * (`--cache=false`, `--cache-run-layers=true`) asks for nothing kiln
	 * lacks, so it is accepted silently; CI templates often spell out
	 * defaults, and refusing them would only break working pipelines.
	 */
	bool kaniko_default;
};

/* Retry counts beyond this are a typo, not a policy. */
#define OPT_UINT_MAX 1000

#define KO(field) offsetof(struct kiln_options, field)
#define RO(field) offsetof(struct registry_options, field)

#define BOOL(n, s, g, field, h)                                                                \
	{                                                                                      \
		.name = n, .short_name = s, .type = OPT_BOOL, .group = g, .offset = KO(field), \
		.help = h                                                                      \
	}
#define STRING(n, s, g, field, a, h)                                                             \
	{                                                                                        \
		.name = n, .short_name = s, .type = OPT_STRING, .group = g, .offset = KO(field), \
		.arg = a, .help = h                                                              \
	}
#define STRVEC(n, s, g, field, a, h, check)                                                      \
	{                                                                                        \
		.name = n, .short_name = s, .type = OPT_STRVEC, .group = g, .offset = KO(field), \
		.arg = a, .help = h, .cb = check                                                 \
	}
#define CALLBACK(n, s, g, a, h, fn)                                                                \
	{                                                                                          \
		.name = n, .short_name = s, .type = OPT_CALLBACK, .group = g, .arg = a, .help = h, \
		.cb = fn                                                                           \
	}
#define REG_BOOL(n, w, field, h)                                                                   \
	{                                                                                          \
		.name = n, .type = OPT_BOOL, .where = w, .group = G_REGISTRY, .offset = RO(field), \
		.help = h                                                                          \
	}
#define REG_STRVEC(n, w, field, a, h, check)                                    \
	{                                                                       \
		.name = n, .type = OPT_STRVEC, .where = w, .group = G_REGISTRY, \
		.offset = RO(field), .arg = a, .help = h, .cb = check           \
	}
#define REG_UINT(n, w, field, a, h)                                                                \
	{                                                                                          \
		.name = n, .type = OPT_UINT, .where = w, .group = G_REGISTRY, .offset = RO(field), \
		.arg = a, .help = h                                                                \
	}
#define NOOP(n, a, h, check)                                                                   \
	{                                                                                      \
		.name = n, .type = OPT_NOOP, .group = G_NOOP, .arg = a, .help = h, .cb = check \
	}
#define UNSUPPORTED(n, s, a, h)                                                              \
	{                                                                                    \
		.name = n, .short_name = s, .type = OPT_UNSUPPORTED, .group = G_UNSUPPORTED, \
		.arg = a, .help = h                                                          \
	}
#define UNSUPPORTED_BOOL(n, def, h)                                                    \
	{                                                                              \
		.name = n, .type = OPT_UNSUPPORTED, .group = G_UNSUPPORTED, .help = h, \
		.kaniko_default = def                                                  \
	}
#define ALIAS(n, target)                                                            \
	{                                                                           \
		.name = n, .type = OPT_ALIAS, .group = G_HIDDEN, .alias_of = target \
	}

static int set_verbosity(struct kiln_options *o, const char *value, struct kiln_error *err)
{
	return kiln_log_level_parse(&o->verbosity, value, err);
}

static int set_log_format(struct kiln_options *o, const char *value, struct kiln_error *err)
{
	return kiln_log_format_parse(&o->log_format, value, err);
}

static int set_snapshot_mode(struct kiln_options *o, const char *value, struct kiln_error *err)
{
	return snapshot_mode_parse(&o->build.snapshot_mode, value, err);
}

static int parse_int(long *out, const char *value, long min, long max, struct kiln_error *err)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(value, &end, 10);
	if (!*value || *end || errno || v < min || v > max)
		return kiln_err(err, KILN_EINVAL, 0,
				"invalid value '%s': want a number from %ld to %ld", value, min,
				max);
	*out = v;
	return 0;
}

static int set_compression_level(struct kiln_options *o, const char *value, struct kiln_error *err)
{
	long v = 0;

	if (parse_int(&v, value, 1, 9, err) < 0)
		return kiln_err_hint(err, "1 is the fastest, 9 the smallest; the default is 6");
	o->build.compression_level = (int)v;
	return 0;
}

/* kaniko offers gzip and zstd; kiln writes gzip layers only. */
static int set_compression(struct kiln_options *o, const char *value, struct kiln_error *err)
{
	(void)o;
	if (!strcmp(value, "gzip"))
		return 0;
	if (!strcmp(value, "zstd"))
		return kiln_err(err, KILN_EINVAL, 0,
				"not supported yet: zstd (kiln writes gzip layers)");
	return kiln_err(err, KILN_EINVAL, 0, "unknown compression '%s'; use gzip", value);
}

static int set_cache_ttl(struct kiln_options *o, const char *value, struct kiln_error *err)
{
	return kiln_duration_parse(&o->build.cache_ttl_s, value, err);
}

static int set_image_format(struct kiln_options *o, const char *value, struct kiln_error *err)
{
	if (strcmp(value, "oci") && strcmp(value, "docker"))
		return kiln_err(err, KILN_EINVAL, 0, "unknown image format '%s'; use oci or docker",
				value);
	o->build.image_format = value;
	return 0;
}

static int check_count(struct kiln_options *o, const char *value, struct kiln_error *err)
{
	long v;

	(void)o;
	return parse_int(&v, value, 0, OPT_UINT_MAX, err);
}

/* "KEY=VALUE" with a non-empty KEY; what says what KEY is called. */
static int check_pair(const char *value, const char *what, const char *example,
		      struct kiln_error *err)
{
	const char *eq = strchr(value, '=');

	if (!eq || eq == value)
		return kiln_err(err, KILN_EINVAL, 0, "'%s' is not %s=VALUE (e.g. %s)", value, what,
				example);
	return 0;
}

static int check_label(struct kiln_options *o, const char *value, struct kiln_error *err)
{
	(void)o;
	return check_pair(value, "KEY", "--label org.opencontainers.image.version=1.0", err);
}

/* NAME=VALUE, or a bare NAME (the build takes its value from the
 * environment, as kaniko does). */
static int check_build_arg(struct kiln_options *o, const char *value, struct kiln_error *err)
{
	(void)o;
	if (value[0] == '=')
		return kiln_err(err, KILN_EINVAL, 0, "'%s' has no NAME (use NAME=VALUE or NAME)",
				value);
	return 0;
}

static int check_certificate(struct kiln_options *o, const char *value, struct kiln_error *err)
{
	(void)o;
	return check_pair(value, "REGISTRY", "my.registry:5000=/certs/ca.pem", err);
}

static int check_client_cert(struct kiln_options *o, const char *value, struct kiln_error *err)
{
	const char *eq = strchr(value, '=');

	(void)o;
	if (!eq || eq == value || !strchr(eq + 1, ','))
		return kiln_err(err, KILN_EINVAL, 0,
				"'%s' is not REGISTRY=CERT,KEY (e.g. "
				"my.registry:5000=/certs/client.pem,/certs/client.key)",
				value);
	return 0;
}

/* "orig=host[/prefix]", several joined by ';'. */
static int check_registry_map(struct kiln_options *o, const char *value, struct kiln_error *err)
{
	struct kiln_buf one = KILN_BUF_INIT;
	const char *p = value;
	int ret = 0;

	(void)o;
	for (;;) {
		const char *semi = strchr(p, ';');
		size_t len = semi ? (size_t)(semi - p) : strlen(p);

		kiln_buf_reset(&one);
		kiln_buf_add(&one, p, len);
		if ((ret = check_pair(one.buf, "REGISTRY", "index.docker.io=mirror.example.com",
				      err)) < 0)
			break;
		if (!semi)
			break;
		p = semi + 1;
	}
	kiln_buf_release(&one);
	return ret;
}

/*
 * Every flag of kaniko's executor (v1.23 and the osscontainertools fork),
 * plus kiln's own (--rootfs, --image-format, --kiln-dir). The build reads
 * the values; this table only says where they go.
 */
static const struct opt opts[] = {
	/* build */
	STRING("context", 'c', G_BUILD, build.context, "DIR",
	       "the build context: DIR, dir://, tar://, https:// (default: .)"),
	STRING("context-sub-path", 0, G_BUILD, build.context_sub_path, "PATH",
	       "use this directory of the context as the context"),
	STRING("dockerfile", 'f', G_BUILD, build.dockerfile, "PATH",
	       "the Dockerfile (default Dockerfile, in the context)"),
	STRVEC("build-arg", 0, G_BUILD, build.build_args, "NAME[=VALUE]",
	       "set an ARG; bare NAME: from the environment (repeatable)", check_build_arg),
	STRVEC("label", 0, G_BUILD, build.labels, "KEY=VALUE",
	       "add a label to the image (repeatable)", check_label),
	STRING("target", 0, G_BUILD, build.target, "STAGE", "build this stage and stop"),
	BOOL("skip-unused-stages", 0, G_BUILD, build.skip_unused_stages,
	     "build only the stages the target needs"),
	STRING("custom-platform", 0, G_BUILD, build.custom_platform, "OS/ARCH[/VARIANT]",
	       "the platform to build for (default: the host's)"),
	STRING("rootfs", 0, G_BUILD, build.rootfs, "DIR",
	       "build in DIR instead of over / (kiln only)"),
	STRING("kiln-dir", 0, G_BUILD, build.kiln_dir, "DIR",
	       "kiln's work directory (default /kiln)"),
	BOOL("force", 0, G_BUILD, build.force, "build over / even outside a container"),
	STRVEC("ignore-path", 0, G_BUILD, build.ignore_paths, "PATH",
	       "leave PATH out of every snapshot (repeatable)", NULL),
	BOOL("ignore-var-run", 0, G_BUILD, build.ignore_var_run,
	     "leave /var/run out of snapshots (default true)"),
	CALLBACK("snapshot-mode", 0, G_BUILD, "MODE",
		 "what marks a change: full, redo or time (default full)", set_snapshot_mode),
	BOOL("single-snapshot", 0, G_BUILD, build.single_snapshot,
	     "take one snapshot at the end of the build"),
	BOOL("reproducible", 0, G_BUILD, build.reproducible,
	     "strip timestamps: same inputs, same image"),
	CALLBACK("compression-level", 0, G_BUILD, "N",
		 "gzip level of the layers, 1 to 9 (default 6)", set_compression_level),
	CALLBACK("compression", 0, G_BUILD, "ALGO", "layer compression: gzip (zstd: not yet)",
		 set_compression),
	CALLBACK("image-format", 0, G_BUILD, "FORMAT",
		 "oci or docker media types (default: the base's)", set_image_format),

	/* cache */
	BOOL("cache", 0, G_CACHE, build.cache, "use and fill the layer cache"),
	STRING("cache-repo", 0, G_CACHE, build.cache_repo, "REPO",
	       "where cache entries live (default: <first destination>/cache)"),
	STRING("cache-dir", 0, G_CACHE, build.cache_dir, "DIR",
	       "base images stored by `executor warm` (default /cache)"),
	CALLBACK("cache-ttl", 0, G_CACHE, "DURATION",
		 "ignore cache entries older than this (default 336h)", set_cache_ttl),
	BOOL("cache-run-layers", 0, G_CACHE, build.cache_run_layers,
	     "cache the layers of RUN (default true)"),
	BOOL("cache-copy-layers", 0, G_CACHE, build.cache_copy_layers,
	     "cache the layers of COPY and ADD (default false)"),
	BOOL("no-push-cache", 0, G_CACHE, build.no_push_cache,
	     "look entries up, never push new ones"),

	/* output */
	STRVEC("destination", 'd', G_OUTPUT, build.destinations, "REF",
	       "push the image to REF (repeatable)", NULL),
	BOOL("no-push", 0, G_OUTPUT, build.no_push, "build without pushing"),
	STRING("tar-path", 0, G_OUTPUT, build.tar_path, "FILE",
	       "also save the image as a docker-load tarball"),
	STRING("oci-layout-path", 0, G_OUTPUT, build.oci_layout_path, "DIR",
	       "also save the image as an OCI layout"),
	STRING("digest-file", 0, G_OUTPUT, build.digest_file, "FILE",
	       "write the image's digest to FILE"),
	STRING("image-name-with-digest-file", 0, G_OUTPUT, build.image_name_with_digest_file,
	       "FILE", "write NAME@DIGEST per destination to FILE"),
	STRING("image-name-tag-with-digest-file", 0, G_OUTPUT,
	       build.image_name_tag_with_digest_file, "FILE",
	       "write NAME:TAG@DIGEST per destination to FILE"),
	BOOL("cleanup", 0, G_OUTPUT, build.cleanup, "clean the filesystem at the end"),

	/* registries */
	REG_BOOL("insecure", IN_BOTH, insecure, "allow plain HTTP to every registry"),
	REG_BOOL("insecure-pull", IN_PULL, insecure, "allow plain HTTP when pulling"),
	REG_STRVEC("insecure-registry", IN_BOTH, insecure_registries, "HOST[:PORT]",
		   "allow plain HTTP to this registry (repeatable)", NULL),
	REG_BOOL("skip-tls-verify", IN_BOTH, skip_tls_verify,
		 "do not verify any registry's TLS certificate"),
	REG_BOOL("skip-tls-verify-pull", IN_PULL, skip_tls_verify,
		 "do not verify TLS certificates when pulling"),
	REG_STRVEC("skip-tls-verify-registry", IN_BOTH, skip_tls_verify_registries, "HOST[:PORT]",
		   "do not verify this registry's TLS certificate (repeatable)", NULL),
	REG_STRVEC("registry-certificate", IN_BOTH, certificates, "HOST=CA.PEM",
		   "trust this CA for this registry (repeatable)", check_certificate),
	REG_STRVEC("registry-client-cert", IN_BOTH, client_certs, "HOST=CERT,KEY",
		   "mutual TLS with this registry (repeatable)", check_client_cert),
	REG_STRVEC("registry-mirror", IN_PULL, mirrors, "HOST[/PREFIX]",
		   "try this Docker Hub mirror first (repeatable)", NULL),
	REG_STRVEC("registry-map", IN_PULL, registry_maps, "ORIG=HOST[;...]",
		   "pull ORIG's images from HOST first (repeatable)", check_registry_map),
	REG_BOOL("skip-default-registry-fallback", IN_PULL, skip_default_fallback,
		 "never fall back from the mirrors to the registry"),
	REG_UINT("push-retry", IN_PUSH, retries, "N", "retries of a failed push request"),
	REG_UINT("image-download-retry", IN_PULL, retries, "N", "retries of a failed pull request"),

	/* logging */
	CALLBACK("verbosity", 'v', G_LOGGING, "LEVEL",
		 "panic, fatal, error, warn, info, debug, trace (default info)", set_verbosity),
	CALLBACK("log-format", 0, G_LOGGING, "FORMAT", "text, color or json (default color)",
		 set_log_format),
	BOOL("log-timestamp", 0, G_LOGGING, log_timestamp, "print full timestamps in log lines"),
	BOOL("help", 'h', G_LOGGING, help, "show this help and exit"),

	/* accepted: each is what kiln does anyway, or a knob of kaniko's own
	 * machinery that kiln does not have */
	NOOP("use-new-run", NULL, "kiln has one RUN implementation", NULL),
	NOOP("compressed-caching", NULL, "cache entries are the layers themselves", NULL),
	NOOP("force-build-metadata", NULL, "no effect", NULL),
	NOOP("push-ignore-immutable-tag-errors", NULL, "no effect: a refused push fails", NULL),
	NOOP("skip-push-permission-check", NULL, "no effect", NULL),
	NOOP("materialize", NULL, "kiln always builds the full filesystem", NULL),
	NOOP("image-fs-extract-retry", "N", "no effect", check_count),

	/* not yet */
	UNSUPPORTED("git", 0, "OPTIONS", "git context options"),
	UNSUPPORTED("bucket", 'b', "BUCKET", "GCS bucket context"),
	UNSUPPORTED("annotation", 0, "KEY=VALUE", "manifest annotations"),
	UNSUPPORTED("credential-helpers", 0, "NAME", "built-in cloud credential helpers"),
	UNSUPPORTED_BOOL("preserve-context", false, "restore the context between stages"),

	/* kaniko's deprecated spellings */
	ALIAS("snapshotMode", "snapshot-mode"),
	ALIAS("customPlatform", "custom-platform"),
	ALIAS("tarPath", "tar-path"),
	ALIAS("whitelist-var-run", "ignore-var-run"),
	ALIAS("kaniko-dir", "kiln-dir"),
};

/* `executor warm` (kaniko's warmer): its own rows, whose short names differ
 * from the build's (-c, -d, -f), then the build's rows it shares. */
static const struct opt warm_opts[] = {
	STRVEC("image", 'i', G_WARM, warm.images, "REF", "store this image (repeatable)", NULL),
	STRING("dockerfile", 'd', G_WARM, warm.dockerfile, "FILE",
	       "store every base image this Dockerfile's FROMs name"),
	STRING("cache-dir", 'c', G_WARM, build.cache_dir, "DIR",
	       "where the images are stored (default /cache)"),
	BOOL("force", 'f', G_WARM, warm.force, "pull again even when an image is cached"),
};

static const char *const warm_shared[] = {
	"build-arg",
	"custom-platform",
	"cache-ttl",
	"insecure",
	"insecure-pull",
	"insecure-registry",
	"skip-tls-verify",
	"skip-tls-verify-pull",
	"skip-tls-verify-registry",
	"registry-certificate",
	"registry-client-cert",
	"registry-mirror",
	"registry-map",
	"skip-default-registry-fallback",
	"image-download-retry",
	"verbosity",
	"log-format",
	"log-timestamp",
	"help",
	"customPlatform",
};

/* The flags one command takes: its own rows, then the rows of opts[] named
 * in shared. */
struct opt_set {
	const char *command; /* for hints: "executor", "executor warm" */
	const struct opt *own;
	size_t nr_own;
	const char *const *shared;
	size_t nr_shared;
};

static const struct opt_set build_set = { "executor", opts, KILN_ARRAY_SIZE(opts), NULL, 0 };
static const struct opt_set warm_set = { "executor warm", warm_opts, KILN_ARRAY_SIZE(warm_opts),
					 warm_shared, KILN_ARRAY_SIZE(warm_shared) };

static size_t set_size(const struct opt_set *set)
{
	return set->nr_own + set->nr_shared;
}

/* Row i of the set (shared names are rows of opts[]). */
static const struct opt *set_row(const struct opt_set *set, size_t i)
{
	if (i < set->nr_own)
		return &set->own[i];
	for (size_t k = 0; k < KILN_ARRAY_SIZE(opts); k++) {
		if (!strcmp(opts[k].name, set->shared[i - set->nr_own]))
			return &opts[k];
	}
	fprintf(stderr, "kiln: bug: no flag '%s' to share\n", set->shared[i - set->nr_own]);
	abort();
}

void kiln_options_init(struct kiln_options *o)
{
	memset(o, 0, sizeof(*o));
	o->verbosity = KILN_LOG_INFO;
	o->log_format = KILN_LOG_FORMAT_COLOR;
	build_options_init(&o->build);
}

void kiln_options_release(struct kiln_options *o)
{
	for (size_t i = 0; i < o->nr_args; i++)
		free(o->args[i]);
	free(o->args);
	o->args = NULL;
	o->nr_args = 0;
	build_options_release(&o->build);
	kiln_strvec_clear(&o->warm.images);
	kiln_strvec_clear(&o->noop_flags);
	kiln_strvec_clear(&o->deprecated_flags);
}

static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t *row = xcalloc(lb + 1, sizeof(*row));
	size_t d;

	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];

		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t best = diag + (a[i - 1] != b[j - 1]);

			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	d = row[lb];
	free(row);
	return d;
}

static int unknown_flag(const struct opt_set *set, const char *name, size_t len,
			struct kiln_error *err)
{
	char *given = xstrndup(name, len);
	const char *best = NULL;
	size_t best_d = SIZE_MAX;

	for (size_t i = 0; i < set_size(set); i++) {
		const struct opt *opt = set_row(set, i);
		size_t d;

		/* suggest the current spelling, not a deprecated one */
		if (opt->type == OPT_ALIAS)
			continue;
		d = edit_distance(given, opt->name);
		if (d < best_d) {
			best_d = d;
			best = opt->name;
		}
	}
	kiln_err(err, KILN_EINVAL, 0, "unknown flag '--%s'", given);
	if (best && best_d <= 3)
		kiln_err_hint(err, "did you mean '--%s'? (see '%s --help')", best, set->command);
	else
		kiln_err_hint(err, "see '%s --help' for the flags", set->command);
	free(given);
	return KILN_EINVAL;
}

static const struct opt *find_long(const struct opt_set *set, const char *name, size_t len)
{
	for (size_t i = 0; i < set_size(set); i++) {
		const struct opt *opt = set_row(set, i);

		if (strlen(opt->name) == len && !strncmp(opt->name, name, len))
			return opt;
	}
	return NULL;
}

static const struct opt *find_short(const struct opt_set *set, char c)
{
	for (size_t i = 0; i < set_size(set); i++) {
		const struct opt *opt = set_row(set, i);

		if (opt->short_name && opt->short_name == c)
			return opt;
	}
	return NULL;
}

static int parse_bool(bool *out, const char *value, const char *flag, struct kiln_error *err)
{
	/* pflag (strconv.ParseBool) spellings */
	static const char *const yes[] = { "true", "1", "t", "T", "TRUE", "True" };
	static const char *const no[] = { "false", "0", "f", "F", "FALSE", "False" };

	if (!value) {
		*out = true;
		return 0;
	}
	for (size_t i = 0; i < KILN_ARRAY_SIZE(yes); i++) {
		if (!strcmp(value, yes[i])) {
			*out = true;
			return 0;
		}
		if (!strcmp(value, no[i])) {
			*out = false;
			return 0;
		}
	}
	return kiln_err(err, KILN_EINVAL, 0, "invalid value '%s' for '--%s': use true or false",
			value, flag);
}

static void note_once(struct kiln_strvec *list, const char *flag)
{
	struct kiln_buf s = KILN_BUF_INIT;

	kiln_buf_addf(&s, "--%s", flag);
	if (!kiln_strvec_contains(list, s.buf))
		kiln_strvec_push(list, s.buf);
	kiln_buf_release(&s);
}

/* The places a row's value goes: one, or push and pull both. */
static size_t targets(struct kiln_options *o, const struct opt *opt, char *out[2])
{
	switch (opt->where) {
	case IN_PUSH:
		out[0] = (char *)&o->build.push + opt->offset;
		return 1;
	case IN_PULL:
		out[0] = (char *)&o->build.pull + opt->offset;
		return 1;
	case IN_BOTH:
		out[0] = (char *)&o->build.push + opt->offset;
		out[1] = (char *)&o->build.pull + opt->offset;
		return 2;
	case IN_OPTIONS:
		break;
	}
	out[0] = (char *)o + opt->offset;
	return 1;
}

/* A boolean row given as a value-less flag, `--x=v` or `-x=v`. */
static int apply_bool(struct kiln_options *o, const struct opt *opt, const char *value,
		      struct kiln_error *err)
{
	char *where[2];
	size_t n = targets(o, opt, where);
	bool b = false;

	if (parse_bool(&b, value, opt->name, err) < 0)
		return KILN_EINVAL;
	for (size_t i = 0; i < n; i++)
		*(bool *)where[i] = b;
	return 0;
}

static int apply_value(struct kiln_options *o, const struct opt *opt, const char *value,
		       struct kiln_error *err)
{
	char *where[2];
	size_t n = targets(o, opt, where);
	long v = 0;

	switch (opt->type) {
	case OPT_STRING:
		*(const char **)where[0] = *value ? value : NULL;
		return 0;
	case OPT_STRVEC:
		if (!*value)
			return kiln_err(err, KILN_EINVAL, 0, "empty value");
		if (opt->cb && opt->cb(o, value, err) < 0)
			return KILN_EINVAL;
		for (size_t i = 0; i < n; i++)
			kiln_strvec_push((struct kiln_strvec *)where[i], value);
		return 0;
	case OPT_UINT:
		if (parse_int(&v, value, 0, OPT_UINT_MAX, err) < 0)
			return KILN_EINVAL;
		for (size_t i = 0; i < n; i++)
			*(unsigned *)where[i] = (unsigned)v;
		return 0;
	case OPT_NOOP:
		if (opt->cb && opt->cb(o, value, err) < 0)
			return KILN_EINVAL;
		note_once(&o->noop_flags, opt->name);
		return 0;
	default:
		return opt->cb(o, value, err);
	}
}

/*
 * Apply one flag. value is what followed '=' (or NULL); next is the following
 * argument, which a flag taking a value consumes (*used set to true).
 */
static int apply(const struct opt_set *set, struct kiln_options *o, const struct opt *opt,
		 const char *value, const char *next, bool *used, struct kiln_error *err)
{
	if (opt->type == OPT_ALIAS) {
		const char *given = opt->name;

		note_once(&o->deprecated_flags, given);
		opt = find_long(set, opt->alias_of, strlen(opt->alias_of));
	}
	if (opt->type == OPT_UNSUPPORTED) {
		bool b = !opt->kaniko_default;

		/* a boolean asking for kaniko's default asks for nothing */
		if (!opt->arg && parse_bool(&b, value, opt->name, err) < 0)
			return KILN_EINVAL;
		if (!opt->arg && b == opt->kaniko_default)
			return 0;
		return kiln_err(err, KILN_EINVAL, 0, "not supported yet: --%s", opt->name);
	}
	if (!opt->arg) {
		if (opt->type == OPT_NOOP) {
			bool b;

			if (parse_bool(&b, value, opt->name, err) < 0)
				return KILN_EINVAL;
			note_once(&o->noop_flags, opt->name);
			return 0;
		}
		return apply_bool(o, opt, value, err);
	}
	if (!value) {
		if (!next)
			return kiln_err(err, KILN_EINVAL, 0, "flag '--%s' needs a value (%s)",
					opt->name, opt->arg);
		value = next;
		*used = true;
	}
	if (apply_value(o, opt, value, err) < 0)
		return kiln_err_prefix(err, "--%s", opt->name);
	return 0;
}

static void add_arg(struct kiln_options *o, const char *arg)
{
	o->args = xreallocarray(o->args, o->nr_args + 1, sizeof(*o->args));
	o->args[o->nr_args++] = xstrdup(arg);
}

static int parse_one(const struct opt_set *set, struct kiln_options *o, const char *arg,
		     const char *next, bool *used, struct kiln_error *err)
{
	const struct opt *opt;
	const char *value = NULL;

	if (arg[1] == '-') {
		const char *name = arg + 2;
		const char *eq = strchr(name, '=');
		size_t len = eq ? (size_t)(eq - name) : strlen(name);

		opt = find_long(set, name, len);
		if (!opt)
			return unknown_flag(set, name, len, err);
		value = eq ? eq + 1 : NULL;
	} else {
		opt = find_short(set, arg[1]);
		if (!opt) {
			kiln_err(err, KILN_EINVAL, 0, "unknown flag '-%c'", arg[1]);
			return kiln_err_hint(err, "see '%s --help' for the flags", set->command);
		}
		if (arg[2])
			value = arg[2] == '=' ? arg + 3 : arg + 2;
	}
	return apply(set, o, opt, value, next, used, err);
}

static int parse_set(const struct opt_set *set, struct kiln_options *o, int argc, char **argv,
		     bool allow_args, struct kiln_error *err)
{
	bool flags_done = false;

	for (int i = 0; i < argc; i++) {
		const char *arg = argv[i];
		bool used = false;

		if (!flags_done && !strcmp(arg, "--")) {
			flags_done = true;
			continue;
		}
		if (flags_done || arg[0] != '-' || arg[1] == '\0') {
			if (!allow_args) {
				kiln_err(err, KILN_EINVAL, 0, "unexpected argument '%s'", arg);
				return kiln_err_hint(err, "flags start with '--' (see '%s --help')",
						     set->command);
			}
			add_arg(o, arg);
			continue;
		}
		if (parse_one(set, o, arg, i + 1 < argc ? argv[i + 1] : NULL, &used, err) < 0)
			return err->code;
		if (used)
			i++;
	}
	return 0;
}

int kiln_options_parse(struct kiln_options *o, int argc, char **argv, bool allow_args,
		       struct kiln_error *err)
{
	if (parse_set(&build_set, o, argc, argv, allow_args, err) < 0)
		return err->code;
	/* `--dockerfile=` (an unset CI variable) means the default */
	if (!o->build.dockerfile)
		o->build.dockerfile = "Dockerfile";
	return 0;
}

void kiln_options_log_notes(const struct kiln_options *o)
{
	for (size_t i = 0; i < o->deprecated_flags.nr; i++) {
		const struct opt *opt = find_long(&build_set, o->deprecated_flags.v[i] + 2,
						  strlen(o->deprecated_flags.v[i] + 2));

		kiln_warn("Flag %s is deprecated. Use: --%s", o->deprecated_flags.v[i],
			  opt ? opt->alias_of : "?");
	}
	for (size_t i = 0; i < o->noop_flags.nr; i++)
		kiln_debug("Flag %s is accepted for compatibility and has no effect in kiln",
			   o->noop_flags.v[i]);
}

#define USAGE_WIDTH 34

static void usage_row(struct kiln_buf *out, const struct opt *opt)
{
	struct kiln_buf left = KILN_BUF_INIT;

	if (opt->short_name)
		kiln_buf_addf(&left, "-%c, ", opt->short_name);
	else
		kiln_buf_addstr(&left, "    ");
	kiln_buf_addf(&left, "--%s", opt->name);
	if (opt->arg)
		kiln_buf_addf(&left, " %s", opt->arg);
	if (left.len > USAGE_WIDTH)
		kiln_buf_addf(out, "  %s\n  %-*s %s\n", left.buf, USAGE_WIDTH, "", opt->help);
	else
		kiln_buf_addf(out, "  %-*s %s\n", USAGE_WIDTH, left.buf, opt->help);
	kiln_buf_release(&left);
}

static void usage_set(struct kiln_buf *out, const struct opt_set *set)
{
	bool first = true;

	for (size_t g = 0; g < KILN_ARRAY_SIZE(group_titles); g++) {
		bool titled = false;

		for (size_t i = 0; i < set_size(set); i++) {
			const struct opt *opt = set_row(set, i);

			if (opt->group != g)
				continue;
			if (!titled)
				kiln_buf_addf(out, "%s%s:\n", first ? "" : "\n", group_titles[g]);
			titled = true;
			first = false;
			usage_row(out, opt);
		}
	}
	kiln_buf_addstr(out, "\nOld spellings, still accepted:\n");
	for (size_t i = 0; i < set_size(set); i++) {
		const struct opt *opt = set_row(set, i);

		if (opt->type == OPT_ALIAS)
			kiln_buf_addf(out, "      --%-28s same as --%s\n", opt->name,
				      opt->alias_of);
	}
}

void kiln_options_usage(struct kiln_buf *out)
{
	usage_set(out, &build_set);
}

int kiln_options_parse_warm(struct kiln_options *o, int argc, char **argv, struct kiln_error *err)
{
	return parse_set(&warm_set, o, argc, argv, false, err);
}

void kiln_options_usage_warm(struct kiln_buf *out)
{
	usage_set(out, &warm_set);
}
