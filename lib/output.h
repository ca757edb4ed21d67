/*
 * output.h: where a built image goes: registries (every --destination),
 * a `docker save` tarball (--tar-path), an OCI image layout
 * (--oci-layout-path), and the digest files kaniko writes.
 *
 * The image arrives as a blob directory (blob_dir/sha256/<hex> for the
 * config and every layer) and its manifest's bytes. Nothing half-written
 * looks complete: registries get every blob before any manifest (a failed
 * blob means no tag anywhere), files are written atomically (a failure
 * leaves no file at the path), a layout directory gets its index.json
 * last.
 *
 * Typical use:
 *	struct output_image img = { .blob_dir = "/kiln/blobs", .manifest = m,
 *				    .manifest_len = n, .media_type = mt,
 *				    .digest = d, .parsed = &manifest,
 *				    .mount_from = "127.0.0.1:5000/busybox" };
 *	if (output_push(client, &img, dests, nr, err) < 0) ...
 *	if (output_docker_archive("/out/image.tar", &img, tags, nr, err) < 0) ...
 *	if (output_oci_layout("/out/layout", &img, "latest", err) < 0) ...
 */
#ifndef KILN_OUTPUT_H
#define KILN_OUTPUT_H

#include "compat.h"
#include "digest.h"

struct image_manifest;
struct kiln_error;
struct registry_client;

struct output_image {
	const char *blob_dir; /* holds sha256/<hex> for the config and every layer */
	const char *manifest; /* the exact bytes */
	size_t manifest_len;
	const char *media_type;	   /* the manifest's */
	struct kiln_digest digest; /* sha256 of manifest */
	const struct image_manifest *parsed;
	/* A repository ("domain/path") in the same registry as a destination
	 * that already holds the base layers: mounted rather than uploaded. */
	const char *mount_from;
	/* Blobs not in blob_dir (layers from a cache, a base never pulled):
	 * fetch puts one there when an upload needs its bytes; mount_for
	 * names a repository ("domain/path" or a reference) holding it, or
	 * NULL for mount_from. Either may be NULL. */
	int (*fetch)(void *ctx, const struct kiln_digest *d, struct kiln_error *err);
	const char *(*mount_for)(void *ctx, const struct kiln_digest *d);
	void *ctx;
};

/* Push the image to every destination: all blobs to every repository
 * first, then the manifest under each tag. */
int output_push(struct registry_client *c, const struct output_image *img,
		const char *const *destinations, size_t n, struct kiln_error *err);

/* A `docker save` tarball (manifest.json, the config, one tar per layer,
 * repositories) that docker load, podman load and skopeo's docker-archive:
 * read; tags are the destinations (may be none). Written atomically. */
int output_docker_archive(const char *path, const struct output_image *img, const char *const *tags,
			  size_t n, struct kiln_error *err);

/* An OCI image layout at dir (created, or added to when it is one already);
 * ref_name is the org.opencontainers.image.ref.name annotation or NULL. */
int output_oci_layout(const char *dir, const struct output_image *img, const char *ref_name,
		      struct kiln_error *err);

/* The index.json of the layout at dir; an empty index when it has none. */
struct image_index;
int output_layout_read_index(struct image_index *ix, const char *dir, struct kiln_error *err);

/* kaniko's digest files; any path may be NULL. destinations are as given
 * on the command line ("repo:tag" or "repo").
 *   digest_file:           "sha256:<hex>", no newline
 *   name_with_digest:      one "<repo>@<digest>" line per destination
 *   name_tag_with_digest:  one "<repo>:<tag>@<digest>" line per destination */
int output_digest_files(const char *digest_file, const char *name_with_digest,
			const char *name_tag_with_digest, const struct kiln_digest *digest,
			const char *const *destinations, size_t n, struct kiln_error *err);

#endif
