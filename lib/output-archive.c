/*
 * output_docker_archive(): the tarball `docker save` writes, which
 * `docker load`, `podman load` and skopeo's docker-archive: transport read:
 *
 *	<config hex>.json          the image config
 *	<diff_id hex>/layer.tar    each layer, uncompressed
 *	manifest.json              [{"Config", "RepoTags", "Layers"}]
 *	repositories               {"repo": {"tag": "<top layer dir>"}}
 *
 * Layers go in uncompressed because every version of every loader reads
 * that (some also take gzip, older ones do not). Each layer is decompressed
 * while it streams into the tarball, its diff_id checked on the way; the
 * size its tar header needs is known only at the end, so the header block
 * is written afterwards in place (pwrite). A layer of 8 GiB or more needs
 * a longer PAX header: then it is streamed a second time behind one.
 */
#include "compat.h"
#include "output.h"
#include "alloc.h"
#include "buf.h"
#include "error.h"
#include "fileio.h"
#include "image.h"
#include "layer.h"
#include "registry.h"
#include "strvec.h"

#include <archive.h>
#include <archive_entry.h>
#include <cjson/cJSON.h>
#include <fcntl.h>

struct tar_out {
	int fd;
	uint64_t off; /* bytes written so far: where the next header goes */
	const char *path;
};

static int tar_write(struct tar_out *t, const void *data, size_t len, struct kiln_error *err)
{
	if (kiln_write_all(t->fd, data, len, t->path, err) < 0)
		return err->code;
	t->off += len;
	return 0;
}

static int tar_pad(struct tar_out *t, struct kiln_error *err)
{
	static const char zeros[LAYER_TAR_BLOCK];
	size_t rem = t->off % LAYER_TAR_BLOCK;

	return rem ? tar_write(t, zeros, LAYER_TAR_BLOCK - rem, err) : 0;
}

static int tar_header(struct tar_out *t, const char *name, char type, uint32_t mode, uint64_t size,
		      struct kiln_error *err)
{
	struct layer_tar_entry e = { .name = name, .type = type, .mode = mode, .size = size };
	struct kiln_buf h = KILN_BUF_INIT;
	int ret;

	if ((ret = layer_tar_header(&h, &e, err)) == 0)
		ret = tar_write(t, h.buf, h.len, err);
	kiln_buf_release(&h);
	return ret;
}

static int tar_add_bytes(struct tar_out *t, const char *name, const void *data, size_t len,
			 struct kiln_error *err)
{
	if (tar_header(t, name, '0', 0644, len, err) < 0 || tar_write(t, data, len, err) < 0)
		return err->code;
	return tar_pad(t, err);
}

/* --------------------------------------------------------------- layers */

/* One decompressing pass over a blob: its tar bytes into t, and their
 * sha256 and count. Only the filters kiln builds in (never an external
 * program that libarchive could run for other formats). */
static int layer_stream(struct tar_out *t, struct kiln_digest *diff_id, uint64_t *size,
			const char *blob, struct kiln_error *err)
{
	struct archive *a = archive_read_new();
	struct archive_entry *ae;
	struct kiln_sha256 h;
	char buf[128 * 1024];
	la_ssize_t n;
	int fd, ret = 0;

	if (!a)
		return kiln_err(err, KILN_EIO, ENOMEM, "libarchive");
	kiln_sha256_init(&h);
	*size = 0;
	fd = open(blob, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = kiln_err(err, errno == ENOENT ? KILN_ENOENT : KILN_EIO, errno,
			       "open blob '%s'", blob);
		goto out;
	}
	if (archive_read_support_filter_gzip(a) != ARCHIVE_OK ||
	    archive_read_support_filter_zstd(a) != ARCHIVE_OK ||
	    archive_read_support_filter_none(a) != ARCHIVE_OK ||
	    archive_read_support_format_raw(a) != ARCHIVE_OK ||
	    archive_read_open_fd(a, fd, sizeof(buf)) != ARCHIVE_OK ||
	    archive_read_next_header(a, &ae) != ARCHIVE_OK) {
		ret = kiln_err(err, KILN_EINVAL, 0, "read layer '%s': %s", blob,
			       archive_error_string(a) ? archive_error_string(a)
						       : "unknown format");
		goto out;
	}
	while ((n = archive_read_data(a, buf, sizeof(buf))) > 0) {
		kiln_sha256_update(&h, buf, (size_t)n);
		*size += (uint64_t)n;
		if ((ret = tar_write(t, buf, (size_t)n, err)) < 0)
			goto out;
	}
	if (n < 0)
		ret = kiln_err(err, KILN_EINVAL, 0, "decompress layer '%s': %s", blob,
			       archive_error_string(a));
	else
		kiln_sha256_final(&h, diff_id);
out:
	kiln_sha256_release(&h);
	archive_read_free(a);
	close_fd(&fd);
	return ret;
}

static int tar_add_layer(struct tar_out *t, const char *name, const char *blob,
			 const struct kiln_digest *want, struct kiln_error *err)
{
	static const char zeros[LAYER_TAR_BLOCK];
	struct layer_tar_entry e = { .name = name, .type = '0', .mode = 0644 };
	struct kiln_buf h = KILN_BUF_INIT;
	struct kiln_digest got;
	uint64_t start = t->off, size;
	int ret;

	if ((ret = tar_write(t, zeros, sizeof(zeros), err)) < 0 ||
	    (ret = layer_stream(t, &got, &size, blob, err)) < 0)
		goto out;
	e.size = size;
	if ((ret = layer_tar_header(&h, &e, err)) < 0)
		goto out;
	if (h.len == LAYER_TAR_BLOCK) {
		if (pwrite(t->fd, h.buf, h.len, (off_t)start) != (ssize_t)h.len) {
			ret = kiln_err(err, KILN_EIO, errno, "write '%s'", t->path);
			goto out;
		}
	} else {
		/* A PAX header: start over behind it. */
		if (ftruncate(t->fd, (off_t)start) < 0 ||
		    lseek(t->fd, (off_t)start, SEEK_SET) < 0) {
			ret = kiln_err(err, KILN_EIO, errno, "rewind '%s'", t->path);
			goto out;
		}
		t->off = start;
		if ((ret = tar_write(t, h.buf, h.len, err)) < 0 ||
		    (ret = layer_stream(t, &got, &size, blob, err)) < 0)
			goto out;
		if (size != e.size) {
			ret = kiln_err(err, KILN_EIO, 0, "layer '%s' changed while it was read",
				       blob);
			goto out;
		}
	}
	if (want && !kiln_digest_eq(&got, want)) {
		char ws[KILN_DIGEST_STR_SIZE], gs[KILN_DIGEST_STR_SIZE];

		kiln_digest_format(ws, want);
		kiln_digest_format(gs, &got);
		ret = kiln_err(err, KILN_EDIGEST, 0,
			       "layer '%s' unpacks to %s, but the config says its diff_id is %s",
			       blob, gs, ws);
		goto out;
	}
	ret = tar_pad(t, err);
out:
	kiln_buf_release(&h);
	return ret;
}

/* ------------------------------------------------------------ metadata */

/* Docker's "familiar" name: "busybox:latest", "foo/bar:1",
 * "127.0.0.1:5000/app:latest". NULL for a reference without a tag. */
static char *familiar_tag(const char *s, struct kiln_error *err)
{
	struct registry_ref r = REGISTRY_REF_INIT;
	char *out = NULL;

	if (registry_ref_parse(&r, s, err) < 0) {
		kiln_err_prefix(err, "tag '%s'", s);
		return NULL;
	}
	if (!r.tag) {
		kiln_err(err, KILN_EINVAL, 0, "tag '%s' names a digest; give a tag (repo:tag)", s);
	} else if (!strcmp(r.domain, "docker.io")) {
		const char *p = r.path;

		if (!strncmp(p, "library/", 8) && !strchr(p + 8, '/'))
			p += 8;
		out = xasprintf("%s:%s", p, r.tag);
	} else {
		out = xasprintf("%s/%s:%s", r.domain, r.path, r.tag);
	}
	registry_ref_release(&r);
	return out;
}

static void json_add(struct kiln_buf *out, cJSON *root)
{
	char *s = cJSON_PrintUnformatted(root);

	if (!s) {
		fprintf(stderr, "kiln: fatal: out of memory writing JSON\n");
		exit(1);
	}
	kiln_buf_addstr(out, s);
	cJSON_free(s);
}

/* manifest.json and repositories. */
static void write_meta(struct kiln_buf *manifest, struct kiln_buf *repos, const char *config_name,
		       const struct kiln_strvec *layers, const struct kiln_strvec *tags)
{
	cJSON *arr = cJSON_CreateArray(), *m = cJSON_CreateObject();
	cJSON *rt = cJSON_CreateArray(), *ls = cJSON_CreateArray();
	cJSON *rp = cJSON_CreateObject();

	cJSON_AddStringToObject(m, "Config", config_name);
	for (size_t i = 0; i < tags->nr; i++)
		cJSON_AddItemToArray(rt, cJSON_CreateString(tags->v[i]));
	cJSON_AddItemToObject(m, "RepoTags", rt);
	for (size_t i = 0; i < layers->nr; i++)
		cJSON_AddItemToArray(ls, cJSON_CreateString(layers->v[i]));
	cJSON_AddItemToObject(m, "Layers", ls);
	cJSON_AddItemToArray(arr, m);
	json_add(manifest, arr);
	/* repositories: the pre-1.10 index docker load still reads; it maps
	 * each tag to the top layer's directory. */
	for (size_t i = 0; i < tags->nr && layers->nr; i++) {
		char *repo = xstrdup(tags->v[i]), *colon = strrchr(repo, ':');
		char *top = xstrndup(layers->v[layers->nr - 1], 64);
		cJSON *o;

		*colon = '\0';
		if (!(o = cJSON_GetObjectItemCaseSensitive(rp, repo)))
			o = cJSON_AddObjectToObject(rp, repo);
		cJSON_DeleteItemFromObjectCaseSensitive(o, colon + 1);
		cJSON_AddStringToObject(o, colon + 1, top);
		free(repo);
		free(top);
	}
	json_add(repos, rp);
	cJSON_Delete(arr);
	cJSON_Delete(rp);
}

static int read_config(struct image_config *cfg, struct kiln_buf *text, const char *path,
		       const struct image_manifest *m, struct kiln_error *err)
{
	int ret;

	if ((ret = kiln_file_read(text, path, IMAGE_CONFIG_MAX, err)) < 0 ||
	    (ret = image_config_parse(cfg, text->buf, text->len, err)) < 0)
		return ret;
	if (cfg->nr_diff_ids != m->nr_layers)
		return kiln_err(err, KILN_EINVAL, 0,
				"config '%s' lists %zu diff_ids for %zu layers", path,
				cfg->nr_diff_ids, m->nr_layers);
	return 0;
}

int output_docker_archive(const char *path, const struct output_image *img, const char *const *tags,
			  size_t n, struct kiln_error *err)
{
	static const char end[2 * LAYER_TAR_BLOCK];
	const struct image_manifest *m = img->parsed;
	struct kiln_atomic_file f = KILN_ATOMIC_FILE_INIT;
	struct image_config cfg = { 0 };
	struct kiln_strvec rtags = KILN_STRVEC_INIT, layers = KILN_STRVEC_INIT;
	struct kiln_strvec written = KILN_STRVEC_INIT;
	struct kiln_buf text = KILN_BUF_INIT, blob = KILN_BUF_INIT, name = KILN_BUF_INIT;
	struct kiln_buf manifest = KILN_BUF_INIT, repos = KILN_BUF_INIT;
	struct tar_out t = { .fd = -1, .path = path };
	char hex[2 * KILN_SHA256_LEN + 1];
	int ret = 0;

	for (size_t i = 0; i < n; i++) {
		char *tag = familiar_tag(tags[i], err);

		if (!tag) {
			ret = err->code;
			goto out;
		}
		if (kiln_strvec_contains(&rtags, tag))
			free(tag);
		else
			kiln_strvec_push_owned(&rtags, tag);
	}
	kiln_digest_hex(hex, &m->config.digest);
	kiln_buf_addf(&blob, "%s/sha256/%s", img->blob_dir, hex);
	if ((ret = read_config(&cfg, &text, blob.buf, m, err)) < 0 ||
	    (ret = kiln_atomic_file_open(&f, path, 0644, err)) < 0)
		goto out;
	t.fd = f.fd;
	kiln_buf_addf(&name, "%s.json", hex);
	if ((ret = tar_add_bytes(&t, name.buf, text.buf, text.len, err)) < 0)
		goto out;
	for (size_t i = 0; i < m->nr_layers; i++) {
		kiln_digest_hex(hex, &cfg.diff_ids[i]);
		kiln_strvec_pushf(&layers, "%s/layer.tar", hex);
		/* The same layer twice in an image is stored once. */
		if (kiln_strvec_contains(&written, hex))
			continue;
		kiln_strvec_push(&written, hex);
		kiln_buf_reset(&name);
		kiln_buf_addf(&name, "%s/", hex);
		if ((ret = tar_header(&t, name.buf, '5', 0755, 0, err)) < 0)
			goto out;
		kiln_digest_hex(hex, &m->layers[i].digest);
		kiln_buf_reset(&blob);
		kiln_buf_addf(&blob, "%s/sha256/%s", img->blob_dir, hex);
		if ((ret = tar_add_layer(&t, layers.v[i], blob.buf, &cfg.diff_ids[i], err)) < 0)
			goto out;
	}
	kiln_digest_hex(hex, &m->config.digest);
	kiln_buf_reset(&name);
	kiln_buf_addf(&name, "%s.json", hex);
	write_meta(&manifest, &repos, name.buf, &layers, &rtags);
	if ((ret = tar_add_bytes(&t, "manifest.json", manifest.buf, manifest.len, err)) < 0 ||
	    (rtags.nr &&
	     (ret = tar_add_bytes(&t, "repositories", repos.buf, repos.len, err)) < 0) ||
	    (ret = tar_write(&t, end, sizeof(end), err)) < 0)
		goto out;
	ret = kiln_atomic_file_commit(&f, err);
out:
	if (ret < 0)
		kiln_err_prefix(err, "image tarball '%s'", path);
	kiln_atomic_file_abort(&f);
	image_config_release(&cfg);
	kiln_strvec_clear(&rtags);
	kiln_strvec_clear(&layers);
	kiln_strvec_clear(&written);
	kiln_buf_release(&text);
	kiln_buf_release(&blob);
	kiln_buf_release(&name);
	kiln_buf_release(&manifest);
	kiln_buf_release(&repos);
	return ret;
}
