/*
 * image.h: the typed image model: OCI / Docker image config, manifest and
 * index (manifest list), parsed from and written to JSON (cJSON inside).
 *
 * Everything parsed here may come from a registry, so parsing takes the
 * document's bytes with a size cap, checks every field's type and every
 * digest's syntax, and reports the field at fault ("layers[2].digest").
 * Writing is deterministic: fixed field order, map keys sorted (as Go's
 * encoding/json does), so the same image always gets the same digest.
 * Fields this model does not know are not kept: kiln writes configs it
 * builds itself from the typed fields.
 *
 * Typical use:
 *	struct image_manifest m = IMAGE_MANIFEST_INIT;
 *	if (image_manifest_parse(&m, data, len, err) < 0) ...
 *	for (size_t i = 0; i < m.nr_layers; i++)
 *		pull(&m.layers[i].digest, m.layers[i].size);
 *	struct kiln_buf out = KILN_BUF_INIT;
 *	image_manifest_write(&out, &m);
 *	image_manifest_release(&m);
 */
#ifndef KILN_IMAGE_H
#define KILN_IMAGE_H

#include "compat.h"
#include "digest.h"
#include "strvec.h"

struct kiln_buf;
struct kiln_error;

#define IMAGE_MT_OCI_MANIFEST	      "application/vnd.oci.image.manifest.v1+json"
#define IMAGE_MT_OCI_INDEX	      "application/vnd.oci.image.index.v1+json"
#define IMAGE_MT_OCI_CONFIG	      "application/vnd.oci.image.config.v1+json"
#define IMAGE_MT_OCI_LAYER	      "application/vnd.oci.image.layer.v1.tar"
#define IMAGE_MT_OCI_LAYER_GZIP	      "application/vnd.oci.image.layer.v1.tar+gzip"
#define IMAGE_MT_OCI_LAYER_ZSTD	      "application/vnd.oci.image.layer.v1.tar+zstd"
#define IMAGE_MT_DOCKER_MANIFEST      "application/vnd.docker.distribution.manifest.v2+json"
#define IMAGE_MT_DOCKER_LIST	      "application/vnd.docker.distribution.manifest.list.v2+json"
#define IMAGE_MT_DOCKER_CONFIG	      "application/vnd.docker.container.image.v1+json"
#define IMAGE_MT_DOCKER_LAYER_GZIP    "application/vnd.docker.image.rootfs.diff.tar.gzip"
#define IMAGE_MT_DOCKER_LAYER_FOREIGN "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"

/* Size caps for documents read from a registry or a layout: the
 * distribution spec's manifest limit, and a generous one for configs
 * (thousands of history entries still fit). */
#define IMAGE_MANIFEST_MAX (4u << 20)
#define IMAGE_CONFIG_MAX   (8u << 20)

bool image_media_type_is_index(const char *mt);
bool image_media_type_is_manifest(const char *mt);
/* The layer media types kiln can unpack (tar, tar+gzip, tar+zstd; OCI or Docker). */
bool image_media_type_is_layer(const char *mt);

/* ------------------------------------------------------------- platform */

struct image_platform {
	char *os;	    /* "linux" */
	char *architecture; /* "amd64", "arm64", ... (GOARCH names) */
	char *variant;	    /* "v7", "v8" or NULL */
	char *os_version;   /* Windows only, or NULL */
};

/* "os/arch[/variant]", normalised: x86_64 -> amd64, aarch64 -> arm64. */
int image_platform_parse(struct image_platform *out, const char *s, struct kiln_error *err);
/* linux/<the host's architecture>[/variant] */
void image_platform_host(struct image_platform *out);
void image_platform_format(struct kiln_buf *out, const struct image_platform *p);
void image_platform_release(struct image_platform *p);
/* Same os and architecture (normalised), and the variant when want has one
 * (arm64's "v8" and arm's "v7" count as the default variant). */
bool image_platform_match(const struct image_platform *want, const struct image_platform *have);

/* ------------------------------------------------------ maps, descriptors */

struct image_kv {
	char *key, *value;
};

/* A small string map (labels, annotations, exposed ports, volumes);
 * insertion order kept, written sorted by key. */
struct image_map {
	struct image_kv *items;
	size_t nr, alloc;
};

void image_map_set(struct image_map *m, const char *key, const char *value);
const char *image_map_get(const struct image_map *m, const char *key);
bool image_map_remove(struct image_map *m, const char *key);
void image_map_release(struct image_map *m);

struct image_descriptor {
	char *media_type;
	struct kiln_digest digest;
	int64_t size;
	struct kiln_strvec urls;
	struct image_map annotations;
	struct image_platform *platform; /* NULL when absent */
};

void image_descriptor_release(struct image_descriptor *d);

/* ------------------------------------------------------ manifest, index */

struct image_manifest {
	int schema_version; /* 2 */
	char *media_type;   /* may be NULL in OCI manifests */
	struct image_descriptor config;
	struct image_descriptor *layers;
	size_t nr_layers;
	struct image_map annotations;
};

#define IMAGE_MANIFEST_INIT         \
	{                           \
		.schema_version = 2 \
	}

int image_manifest_parse(struct image_manifest *out, const void *data, size_t len,
			 struct kiln_error *err);
void image_manifest_write(struct kiln_buf *out, const struct image_manifest *m);
void image_manifest_release(struct image_manifest *m);
/* Append a layer descriptor (copied) to m. */
void image_manifest_add_layer(struct image_manifest *m, const char *media_type,
			      const struct kiln_digest *d, int64_t size);

struct image_index {
	int schema_version;
	char *media_type;
	struct image_descriptor *manifests;
	size_t nr_manifests;
	struct image_map annotations;
};

#define IMAGE_INDEX_INIT            \
	{                           \
		.schema_version = 2 \
	}

int image_index_parse(struct image_index *out, const void *data, size_t len,
		      struct kiln_error *err);
void image_index_write(struct kiln_buf *out, const struct image_index *ix);
void image_index_release(struct image_index *ix);
/* The first entry matching want; none is KILN_ENOENT naming the platforms
 * the index offers. */
int image_index_select(size_t *out, const struct image_index *ix, const struct image_platform *want,
		       struct kiln_error *err);

/* ---------------------------------------------------------------- config */

struct image_healthcheck {
	bool present;
	struct kiln_strvec test; /* ["CMD", ...], ["CMD-SHELL", "..."], ["NONE"] */
	int64_t interval, timeout, start_period, start_interval; /* ns */
	int retries;
};

/* The "config" object: how a container of the image runs. Entrypoint and
 * Cmd tell absent (has_* false, written as null) from empty ([]). */
struct image_run_config {
	char *user;
	struct image_map exposed_ports; /* "80/tcp" -> "" */
	struct kiln_strvec env;		/* "NAME=value" */
	struct kiln_strvec entrypoint;
	bool has_entrypoint;
	struct kiln_strvec cmd;
	bool has_cmd;
	struct image_map volumes; /* "/data" -> "" */
	char *working_dir;
	struct image_map labels;
	char *stop_signal;
	bool args_escaped;
	struct kiln_strvec on_build;
	struct kiln_strvec shell;
	struct image_healthcheck healthcheck;
};

struct image_history {
	char *created, *created_by, *author, *comment;
	bool empty_layer;
};

struct image_config {
	char *created; /* RFC 3339 */
	char *author;
	char *architecture, *os, *os_version, *variant;
	struct image_run_config config;
	struct kiln_digest *diff_ids;
	size_t nr_diff_ids;
	struct image_history *history;
	size_t nr_history;
};

int image_config_parse(struct image_config *out, const void *data, size_t len,
		       struct kiln_error *err);
void image_config_write(struct kiln_buf *out, const struct image_config *c);
void image_config_release(struct image_config *c);
void image_config_add_diff_id(struct image_config *c, const struct kiln_digest *d);
/* Append a history entry (strings copied; NULL for absent). */
void image_config_add_history(struct image_config *c, const struct image_history *h);

#endif
