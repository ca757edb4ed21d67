/*
 * base-cache.h: the base-image cache `executor warm` fills and a build
 * reads (--cache with --cache-dir), kaniko's warmer cache in kiln's form.
 *
 * Each entry is a plain OCI image layout, so any OCI tool reads it:
 *
 *	<cache_dir>/<hex>/oci-layout
 *	<cache_dir>/<hex>/index.json     one manifest descriptor, annotated with
 *	                                 org.opencontainers.image.ref.name (the ref)
 *	                                 and org.opencontainers.image.created (when
 *	                                 it was stored, RFC 3339 UTC)
 *	<cache_dir>/<hex>/blobs/sha256/  the image manifest (the registry's exact
 *	                                 bytes, never an index), the config and the
 *	                                 layers as their original compressed blobs
 *
 * <hex> is the sha256 of "<normalised ref>\n<platform>" (registry_ref_format
 * of the parsed reference; the platform as "os/arch[/variant]", normalised
 * by image_platform_parse), so "busybox" and "docker.io/library/busybox:latest"
 * share an entry and every platform has its own.
 *
 * Entries appear whole or not at all: a warmer builds the layout in a
 * temporary directory inside cache_dir (".warm-*", every file and directory
 * fsync'd) and renames it into place; a newer entry replaces an older one
 * with one atomic exchange. Several warmers may run at once on one cache
 * directory (a shared volume): each holds a lock on its temporary directory,
 * and a temporary directory nobody holds (a warmer that was killed) is
 * removed by the next one.
 *
 * Typical use (the build):
 *	struct base_cache_entry e = { 0 };
 *	bool found;
 *	if (base_cache_lookup(&e, &found, "/cache", "alpine:3.19", "linux/amd64",
 *			      ttl_s, err) < 0)
 *		warn and pull from the registry;
 *	else if (found)
 *		parse e.manifest, open base_cache_blob_path(&path, &e, &layer_digest);
 *	base_cache_entry_release(&e);
 *
 * Typical use (the warmer):
 *	bool stored;
 *	base_cache_store(&stored, client, "/cache", "alpine:3.19", "linux/amd64",
 *			 force, ttl_s, err);
 */
#ifndef KILN_BASE_CACHE_H
#define KILN_BASE_CACHE_H

#include "compat.h"
#include "digest.h"

struct kiln_buf;
struct kiln_error;
struct registry_client;

/* The index.json annotations of an entry. */
#define BASE_CACHE_ANNOT_REF	 "org.opencontainers.image.ref.name"
#define BASE_CACHE_ANNOT_CREATED "org.opencontainers.image.created"

/* A base image stored by `executor warm`: <cache_dir>/<hex>/ is an OCI image layout
 * (oci-layout, index.json naming one manifest, blobs/sha256/...) where <hex> is the
 * sha256 of "<normalised ref>\n<platform>" (registry_ref_format of the parsed ref;
 * platform as "os/arch[/variant]"). */
struct base_cache_entry {
	char *layout_dir; /* the entry's directory */
	char *manifest;	  /* the image manifest's bytes (never an index) */
	size_t manifest_len;
	char *media_type; /* its media type */
	struct kiln_digest manifest_digest;
	int64_t created; /* when it was stored, seconds since the epoch */
};

/*
 * *found is false (and 0 returned) when there is no entry or it is older than ttl_s;
 * errors only for a corrupt entry (then the caller warns and pulls from the registry).
 * Checked here: index.json names one image manifest, its bytes hash to the
 * descriptor's digest, and the config and every layer are there at their
 * descriptor's size. Blob contents are not hashed here: whoever reads a
 * layer verifies it as it streams (the extractor does).
 * A bad ref or platform is EINVAL. platform NULL: the host's.
 */
int base_cache_lookup(struct base_cache_entry *out, bool *found, const char *cache_dir,
		      const char *ref, const char *platform, int64_t ttl_s, struct kiln_error *err);
void base_cache_entry_release(struct base_cache_entry *e);

/* Path of blob d inside the entry (blobs/sha256/<hex>). */
void base_cache_blob_path(struct kiln_buf *out, const struct base_cache_entry *e,
			  const struct kiln_digest *d);

/*
 * Pull ref for platform into cache_dir. Without force, an entry younger than ttl_s is
 * kept (*stored = false), and so is one another warmer stored while this one
 * pulled. An expired or corrupt entry, or any entry with force, is replaced.
 * cache_dir is created when missing. Logs one INFO line: what was stored
 * (digest, size, time) or that the image was cached already.
 */
int base_cache_store(bool *stored, struct registry_client *c, const char *cache_dir,
		     const char *ref, const char *platform, bool force, int64_t ttl_s,
		     struct kiln_error *err);

/*
 * The entry's directory for ref and platform: "<cache_dir>/<hex>" (appended
 * to out). EINVAL for a bad ref or platform. platform NULL: the host's.
 */
int base_cache_entry_dir(struct kiln_buf *out, const char *cache_dir, const char *ref,
			 const char *platform, struct kiln_error *err);

#endif
