/*
 * build.h: the build's public interface to the executor.
 *
 * lib/ (kiln_build) turns a Dockerfile and a context into an image: front
 * end, stages, instructions, layers, image model, outputs. It drives
 * snapshot/ and registry/.
 *
 * Typical use (cmd/executor fills the options from its flags):
 *	struct build_options o;
 *	build_options_init(&o);
 *	kiln_strvec_push(&o.destinations, "registry:5000/app:1");
 *	o.context = "dir:///workspace";
 *	struct build_result r = BUILD_RESULT_INIT;
 *	int code = build_run(&r, &o, err);   // the process exit code
 *	build_result_release(&r);
 *	build_options_release(&o);
 */
#ifndef KILN_BUILD_H
#define KILN_BUILD_H

#include "compat.h"
#include "digest.h"
#include "registry.h"
#include "snapshot.h"
#include "strvec.h"

struct kiln_buf;
struct kiln_error;

/* Append the executor's version and one line per linked library. */
void build_versions(struct kiln_buf *out);

/* kaniko's --cache-ttl default: two weeks. */
#define BUILD_CACHE_TTL_DEFAULT (336 * 3600)

struct build_options {
	/* inputs */
	const char *context;	       /* --context (default: the current directory) */
	const char *context_sub_path;  /* --context-sub-path */
	const char *dockerfile;	       /* -f/--dockerfile (default "Dockerfile") */
	struct kiln_strvec build_args; /* --build-arg NAME=VALUE or NAME */
	struct kiln_strvec labels;     /* --label KEY=VALUE */
	const char *target;	       /* --target */
	bool skip_unused_stages;
	const char *custom_platform; /* --custom-platform os/arch[/variant] */

	/* where the build runs */
	const char *rootfs;   /* --rootfs DIR; NULL: ROOT is "/" */
	const char *kiln_dir; /* --kiln-dir; NULL: /kiln, or a temporary dir with --rootfs */
	bool force;	      /* ROOT "/" outside a container */
	struct kiln_strvec ignore_paths; /* --ignore-path */
	bool ignore_var_run;		 /* default true */

	/* layers and image */
	enum snapshot_mode snapshot_mode;
	bool single_snapshot;
	bool reproducible;
	int compression_level;	  /* -1: default (6) */
	const char *image_format; /* NULL (follow the base), "oci", "docker" */

	/* outputs */
	struct kiln_strvec destinations;
	bool no_push;
	const char *tar_path;
	const char *oci_layout_path;
	const char *digest_file;
	const char *image_name_with_digest_file;
	const char *image_name_tag_with_digest_file;
	bool cleanup;

	/* layer cache and base-image cache */
	bool cache;		/* --cache */
	const char *cache_repo; /* --cache-repo; NULL: <first destination's repo>/cache */
	const char *cache_dir;	/* --cache-dir (default /cache): the warmer's base images */
	int64_t cache_ttl_s;	/* --cache-ttl (default 336h) */
	bool cache_run_layers;	/* default true */
	bool cache_copy_layers; /* default false, as kaniko */
	bool no_push_cache;	/* look up, never push entries */

	/* registries: pushes use `push`, pulls use `pull` (they differ only
	 * by --insecure-pull / --skip-tls-verify-pull) */
	struct registry_options push;
	struct registry_options pull;
};

void build_options_init(struct build_options *o);
void build_options_release(struct build_options *o);

struct build_result {
	struct kiln_digest digest; /* the image manifest's */
	uint64_t size;		   /* config + layers, compressed */
	size_t nr_layers;
};

#define BUILD_RESULT_INIT \
	{                 \
		.size = 0 \
	}

/*
 * Build and deliver the image. Returns the process exit code: 0, the
 * failing RUN's code, 128+N after signal N, or 1 with err set.
 */
int build_run(struct build_result *out, const struct build_options *o, struct kiln_error *err);

#endif
