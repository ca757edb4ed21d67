/*
 * cache.h: the layer cache shared through a registry (kaniko's --cache).
 *
 * Keys. A step's key is a sha256 over length-prefixed parts: its parent's
 * key (the chain starts at the base image's manifest digest, or at the key
 * of the stage it is built FROM), then what decides the step's result: the
 * instruction as written, the environment it runs with, its flags, and for
 * COPY/ADD the content and mode of every source. The prefixes make the
 * encoding injective: no two different sequences of parts hash alike.
 *
 * Entries. An entry is a small image in the cache repository tagged with
 * the key's hex: one layer (none when the step changed nothing), a config
 * whose rootfs names the layer's diff_id, whose history holds the step's
 * created_by, and whose `created` is the wall-clock time of the push (also
 * under --reproducible), which --cache-ttl compares with.
 *
 * Pushes run on a thread of their own while the build goes on; a failed
 * push is a warning, never a failed build; cache_repo_finish() waits.
 *
 * Typical use:
 *	struct cache_key k;
 *	cache_key_begin(&k, &parent);
 *	cache_key_add_str(&k, "instr", "RUN make");
 *	cache_key_end(&k, &key);
 *	if (cache_repo_lookup(&hit, cr, &key, err) == 0 && hit.found) ... use hit ...
 *	else { ... run the step ...; cache_repo_push(cr, &key, &entry); }
 *	cache_repo_finish(cr);
 */
#ifndef KILN_CACHE_H
#define KILN_CACHE_H

#include "compat.h"
#include "digest.h"
#include "image.h"

struct kiln_buf;
struct kiln_error;
struct registry_client;

/* ------------------------------------------------------------------ keys */

struct cache_key {
	struct kiln_sha256 h;
};

/* Start a key from its parent's. */
void cache_key_begin(struct cache_key *k, const struct kiln_digest *parent);
/* One part: a name saying what it is, then its bytes, each length-prefixed. */
void cache_key_add(struct cache_key *k, const char *name, const void *data, size_t len);
void cache_key_add_str(struct cache_key *k, const char *name, const char *s);
void cache_key_end(struct cache_key *k, struct kiln_digest *out);
void cache_key_abort(struct cache_key *k);
/* The root of a chain that starts from nothing: FROM scratch. */
void cache_key_scratch(struct kiln_digest *out, const char *platform);

/* -------------------------------------------------------------- entries */

struct cache_repo;

struct cache_options {
	const char *repo;	  /* "domain/path", or "oci:DIR" for an OCI layout */
	const char *blob_dir;	  /* the build's blob store (sha256/<hex>) */
	int64_t ttl_s;		  /* older entries are ignored */
	bool push;		  /* false: --no-push-cache */
	const char *architecture; /* of the entries' configs */
	const char *os;
	/* Where a layer blob may be mounted from in the cache's registry
	 * (domain); may block until it is there; NULL: upload it. */
	const char *(*mount_from)(void *ctx, const struct kiln_digest *d, const char *domain);
	void *mount_ctx;
};

/* A step's layer as an entry holds it (or as the build stores a new one). */
struct cache_layer {
	bool empty;		   /* the step changed nothing */
	const char *media_type;	   /* the compressed layer's */
	struct kiln_digest digest; /* compressed */
	int64_t size;
	struct kiln_digest diff_id; /* uncompressed */
};

struct cache_hit {
	bool found;
	struct cache_layer layer;
	char *created_by; /* the step's history line, or NULL */
	char *media_type; /* storage for layer.media_type */
};

void cache_hit_release(struct cache_hit *h);

/* c is the client the repository is reached with; it must not be used by
 * another thread while the cache pushes (give the cache its own). */
int cache_repo_open(struct cache_repo **out, struct registry_client *c,
		    const struct cache_options *o, struct kiln_error *err);
/* Look key up: found is false when there is no entry, or it has expired.
 * Errors (the registry unreachable, a malformed entry) are for the caller
 * to report as warnings. */
int cache_repo_lookup(struct cache_hit *out, struct cache_repo *cr, const struct kiln_digest *key,
		      struct kiln_error *err);
/* Queue an entry: blob_path holds the layer (ignored when layer->empty).
 * Nothing when the repository is open without push. */
void cache_repo_push(struct cache_repo *cr, const struct kiln_digest *key,
		     const struct cache_layer *layer, const char *blob_path,
		     const char *created_by);
/* Wait for queued pushes; *pushed and *failed count the entries. With
 * drop, entries not started yet are dropped (the build was interrupted:
 * it must end now, and an entry is only ever an optimisation). */
void cache_repo_finish(struct cache_repo *cr, bool drop, size_t *pushed, size_t *failed);
/* "domain/path" of the repository, or "oci:DIR". */
const char *cache_repo_name(const struct cache_repo *cr);
/* An OCI-layout cache holds its blobs on disk: *path gets where blob d
 * is and true is returned; false for a registry. */
bool cache_repo_blob_file(struct kiln_buf *path, const struct cache_repo *cr,
			  const struct kiln_digest *d);
/* An OCI-layout cache holds its blobs on disk: *path gets where blob d
 * is and true is returned; false for a registry. */
bool cache_repo_blob_file(struct kiln_buf *path, const struct cache_repo *cr,
			  const struct kiln_digest *d);
void cache_repo_free(struct cache_repo *cr);

#endif
