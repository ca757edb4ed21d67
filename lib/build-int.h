/*
 * build-int.h: what the build's own files share (build*.c, instr-*.c).
 *
 * One struct build per run: the options, ROOT, kiln's directories, the
 * registry clients, the context and the parsed Dockerfile with its stages.
 * One struct stage_image per stage: the image being built (config, layer
 * descriptors, where the base came from), kept after the stage ends so a
 * later FROM <stage> or COPY --from=<stage> can rebuild its tree from the
 * layers already spooled as blobs.
 */
#ifndef KILN_BUILD_INT_H
#define KILN_BUILD_INT_H

#include "compat.h"
#include "build.h"
#include "cache.h"
#include "context.h"
#include "dockerfile.h"
#include "image.h"
#include "buf.h"
#include "layer.h"
#include "stages.h"
#include "strvec.h"

#include <time.h>

struct kiln_buf;
struct snapshot;

/* One built (or building) image. */
struct stage_image {
	struct image_config config;
	struct image_manifest manifest; /* layers only: media types, digests, sizes */
	bool docker_format;		/* Docker media types (else OCI) */
	char *mount_from;		/* "domain/path" the base came from, or NULL */
	bool built;
	char *tree_dir;		/* its tree kept for COPY --from, or NULL */
	struct kiln_digest key; /* the cache chain's key after its last step */
};

/* Where a blob not (yet) in the blob store can be fetched from: the base
 * image's repository (pulled only when a tree or an output needs it) or
 * the cache repository (a cached layer). */
struct blob_origin {
	struct kiln_digest digest;
	char *repo; /* as the user named it, so mirrors apply */
	bool cache; /* fetched with the cache's client */
	char *file; /* on this machine (the warmer's base-image cache), or NULL */
};

struct build {
	const struct build_options *o;
	char *kiln_dir;
	bool kiln_dir_temp; /* made by us: removed at the end */
	char *root;	    /* ROOT's path */
	int root_fd;
	bool isolate;		       /* --rootfs: RUN under chroot in namespaces */
	char *blob_dir;		       /* kiln_dir/blobs: holds sha256/<hex> */
	char *work_dir;		       /* kiln_dir/work: scratch space */
	char *stages_dir;	       /* kiln_dir/stages: trees kept for COPY --from */
	struct kiln_strvec ignore;     /* paths from ROOT never captured or wiped */
	struct kiln_strvec build_args; /* --build-arg, bare names resolved */
	struct registry_client *pull, *push;
	struct registry_client *cache_client; /* the cache repository's (its own thread) */
	struct cache_repo *cache;	      /* NULL without --cache */
	struct layer_upload *upload;	      /* NULL without a push */
	size_t cache_hits, cache_misses;
	bool cache_unreachable; /* a lookup failed on the network: no more */
	struct blob_origin *origins;
	size_t nr_origins, alloc_origins;
	struct build_context ctx;
	struct dockerfile df;
	char *df_name;
	struct stages st;
	struct stage_image *images; /* one per stage */
	struct image_platform platform;
	char *platform_str;
	struct layer_options layer;
	int64_t epoch;	    /* --reproducible: every timestamp; -1 otherwise */
	struct timespec t0; /* build start, for the summary */
	size_t step, nr_steps;
	int run_status;	   /* a failed RUN's exit code (the process exit code) */
	bool root_dirty;   /* a stage was unpacked into ROOT */
	size_t root_stage; /* the stage whose tree ROOT holds (when root_dirty) */
};

/* The state of the stage being built. */
struct stage_run {
	struct build *b;
	struct stage *stage;
	struct stage_image *img;
	struct snapshot *snap;
	struct stage_vars vars;	    /* what the current instruction expands with */
	struct kiln_strvec args;    /* ARG names declared in the stage so far */
	bool snapshot_pending;	    /* --single-snapshot: a layer at the stage end */
	bool no_layers;		    /* see layers_unneeded() */
	bool cmd_set;		    /* CMD seen in this stage (ENTRYPOINT keeps it) */
	struct kiln_buf pending_by; /* created_by of the steps in that layer */

	/* ROOT is only unpacked when a step must run: a stage whose every
	 * step is a cache hit never touches the filesystem. */
	bool fs_ready;		     /* ROOT holds the stage's tree... */
	size_t applied;		     /* ...up to this many of its layers */
	struct kiln_digest key;	     /* the cache chain so far */
	struct kiln_digest step_key; /* the current step's */
	bool step_cacheable;	     /* look up and push the current step */
	bool config_only;	     /* WORKDIR from the cache: no mkdir */
};

/* --------------------------------------------------------- instructions */

/* Which flag lets a step's layer come from the cache. */
enum instr_cache {
	INSTR_CACHE_NONE,
	INSTR_CACHE_RUN,    /* --cache-run-layers */
	INSTR_CACHE_COPY,   /* --cache-copy-layers */
	INSTR_CACHE_ALWAYS, /* WORKDIR: a directory, no reason to rebuild it */
};

/* How an instruction changes the image. */
struct instr_ops {
	enum dockerfile_kw kw;
	/* the filesystem may change: snapshot after it */
	bool changes_fs;
	int (*exec)(struct stage_run *sr, const struct dockerfile_instr *in,
		    struct kiln_buf *created_by, struct kiln_error *err);
	/* changes_fs steps: feed what decides the result into k, without
	 * touching ROOT; *volatile_ when only running it can tell */
	int (*key)(struct stage_run *sr, const struct dockerfile_instr *in, struct cache_key *k,
		   bool *volatile_, struct kiln_error *err);
	enum instr_cache cache;
};

const struct instr_ops *instr_ops_find(enum dockerfile_kw kw);

extern const struct instr_ops instr_run_ops;
extern const struct instr_ops instr_copy_ops;
extern const struct instr_ops instr_add_ops;
/* ENV LABEL EXPOSE VOLUME USER WORKDIR STOPSIGNAL HEALTHCHECK SHELL
 * ONBUILD CMD ENTRYPOINT MAINTAINER ARG */
extern const struct instr_ops instr_meta_ops[];
extern const size_t instr_meta_nr;

/* Expand one word with the step's variables. */
int stage_expand(char **out, struct stage_run *sr, const char *word, struct kiln_error *err);
/* The step's environment for RUN: image Env, declared ARGs, HOME, HOSTNAME. */
void stage_run_env(struct kiln_strvec *out, struct stage_run *sr, const char *home);
/* Make dir (absolute in ROOT) and its missing parents, owned by uid:gid. */
int stage_mkdir_p(struct stage_run *sr, const char *dir, uid_t uid, gid_t gid,
		  struct kiln_error *err);

/* ---------------------------------------------------------------- stages */

int stage_build(struct build *b, size_t index, struct kiln_error *err);
/* Unpack an image's layers from index `from` on into the directory fd
 * (ROOT, or a tree for COPY --from), fetching the blobs it lacks. */
int stage_image_unpack(struct build *b, const struct stage_image *img, size_t from, int dir_fd,
		       struct snapshot *seed, struct kiln_error *err);
/* The same into the directory path (made if missing). */
int stage_image_unpack_dir(struct build *b, const struct stage_image *img, const char *path,
			   struct kiln_error *err);
void stage_image_release(struct stage_image *img);

/* The base of a stage: its manifest and config; its layers are pulled
 * when unpacked (stage_image_unpack) or pushed elsewhere. *digest (may be
 * NULL) gets the manifest's digest. */
int base_image_load(struct stage_image *img, struct kiln_digest *digest, struct build *b,
		    const char *ref, const char *platform, struct kiln_error *err);
/* An image for COPY --from=<image>: pulled, unpacked into a directory. */
int base_image_tree(char **dir, struct build *b, const char *ref, struct kiln_error *err);

/* Remember where blob d can be fetched from (file: a copy on this
 * machine, tried first; may be NULL). */
void blob_origin_add(struct build *b, const struct kiln_digest *d, const char *repo, bool cache,
		     const char *file);
const struct blob_origin *blob_origin_find(const struct build *b, const struct kiln_digest *d);
/* Fetch the blobs of the layers that the blob store lacks, several at once
 * (build-unpack.c). */
int blobs_ensure(struct build *b, const struct image_descriptor *layers, size_t n,
		 struct kiln_error *err);
/* Fetch one blob into the blob store (thread-safe). */
int blob_fetch(struct build *b, const struct kiln_digest *d, struct kiln_error *err);
bool blob_present(const struct build *b, const struct kiln_digest *d);

/* A layer read while it is pulled (build-unpack.c). blob_fetch_feed is
 * blob_fetch telling feed about the download: the temporary file once
 * open, then each write (an error return abandons the download). */
struct layer_feed;
int blob_fetch_feed(struct build *b, const struct kiln_digest *d, struct layer_feed *feed,
		    struct kiln_error *err);
void layer_feed_opened(struct layer_feed *f, int fd);
int layer_feed_wrote(struct layer_feed *f, size_t len, struct kiln_error *err);

/* The target stage's layers, uploaded to the first destination as they
 * are written (build-upload.c). *out is NULL when nothing is pushed; the
 * other calls take NULL. */
struct layer_upload;
struct layer_stream;
int layer_upload_open(struct layer_upload **out, const struct build_options *o,
		      struct kiln_error *err);
/* A layer about to be written: opened and wrote are its layer_tap's
 * callbacks; layer_stream_end (digest NULL: no blob came of it) must
 * follow, once. */
struct layer_stream *layer_upload_stream(struct layer_upload *u);
void layer_stream_opened(void *ctx, int fd);
void layer_stream_wrote(void *ctx, uint64_t total);
void layer_stream_end(struct layer_stream *s, const struct kiln_digest *digest);
/* A cache_options.mount_from (ctx: the layer_upload, may be NULL): once
 * blob d's upload is over, the destination repository's path if the blob
 * is there and in registry domain; NULL otherwise. */
const char *layer_upload_mount_from(void *ctx, const struct kiln_digest *d, const char *domain);
/* Wait for the uploads (drop: abandon the one under way, skip the rest). */
void layer_upload_finish(struct layer_upload *u, bool drop);
void layer_upload_free(struct layer_upload *u);

/* ------------------------------------------------------------------ ROOT */

int root_setup(struct build *b, struct kiln_error *err);
/* Remove everything in ROOT except the ignore list. */
int root_wipe(struct build *b, struct kiln_error *err);
void root_release(struct build *b);
/* Move ROOT's whole tree into dir (a new directory of kiln's) when that
 * is a rename on one filesystem; *moved says whether it was. */
int root_move_aside(bool *moved, struct build *b, const char *dir, struct kiln_error *err);
/* Remove dir and everything below it (no symlink followed). */
int root_remove_tree(int dirfd, const char *name, struct kiln_error *err);

/* ----------------------------------------------------------------- image */

/* Path of a blob in the blob store. */
void blob_path(struct kiln_buf *out, const struct build *b, const struct kiln_digest *d);
/* Add a history entry; empty_layer for metadata steps. */
void image_history_add(struct build *b, struct stage_image *img, const char *created_by,
		       bool empty_layer);
/* Write the config and manifest blobs; *manifest gets the manifest's bytes. */
int image_finish(struct kiln_buf *manifest, const char **media_type, struct kiln_digest *digest,
		 struct build *b, struct stage_image *img, struct kiln_error *err);
/* RFC 3339 of the build's time (the epoch with --reproducible). */
void build_time(struct kiln_buf *out, const struct build *b);
/* Seconds since t (monotonic), for log lines. */
double build_elapsed(const struct timespec *t);

#endif
