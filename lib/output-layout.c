/*
 * output_oci_layout(): an OCI image layout (image-spec image-layout.md).
 * Blobs are copied with copy_file_range (a reflink where the file system
 * shares extents) into atomic files; index.json is replaced last, so a
 * reader never finds an index entry whose blobs are not all there.
 */
#include "compat.h"
#include "output.h"
#include "alloc.h"
#include "buf.h"
#include "error.h"
#include "fileio.h"
#include "image.h"

#include <fcntl.h>
#include <sys/stat.h>

#define LAYOUT_FILE    "{\"imageLayoutVersion\":\"1.0.0\"}"
#define REF_NAME_ANNOT "org.opencontainers.image.ref.name"
/* index.json of a layout kiln adds to: someone else's file, so capped. */
#define LAYOUT_INDEX_MAX (16u << 20)

static int mkdir_p(const char *path, struct kiln_error *err)
{
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		return kiln_err(err, KILN_EIO, errno, "mkdir '%s'", path);
	return 0;
}

/* Copy blob d from blob_dir unless the layout has it at its full size
 * already (blobs are named by their content). */
static int copy_blob(const char *dir, const char *blob_dir, const struct image_descriptor *d,
		     struct kiln_error *err)
{
	struct kiln_atomic_file f = KILN_ATOMIC_FILE_INIT;
	struct kiln_buf src = KILN_BUF_INIT, dst = KILN_BUF_INIT;
	char hex[2 * KILN_SHA256_LEN + 1];
	struct stat st;
	int in = -1, ret = 0;

	kiln_digest_hex(hex, &d->digest);
	kiln_buf_addf(&src, "%s/sha256/%s", blob_dir, hex);
	kiln_buf_addf(&dst, "%s/blobs/sha256/%s", dir, hex);
	if (lstat(dst.buf, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == d->size)
		goto out;
	in = open(src.buf, O_RDONLY | O_CLOEXEC);
	if (in < 0) {
		ret = kiln_err(err, errno == ENOENT ? KILN_ENOENT : KILN_EIO, errno,
			       "open blob '%s'", src.buf);
		goto out;
	}
	if ((ret = kiln_atomic_file_open(&f, dst.buf, 0644, err)) < 0 ||
	    (ret = kiln_copy_fd(f.fd, in, src.buf, err)) < 0)
		goto out;
	ret = kiln_atomic_file_commit(&f, err);
out:
	kiln_atomic_file_abort(&f);
	close_fd(&in);
	kiln_buf_release(&src);
	kiln_buf_release(&dst);
	return ret;
}

/* The layout's index, or an empty one for a new layout. */
int output_layout_read_index(struct image_index *ix, const char *dir, struct kiln_error *err)
{
	struct kiln_buf path = KILN_BUF_INIT, text = KILN_BUF_INIT;
	int ret = 0;

	kiln_buf_addf(&path, "%s/index.json", dir);
	if (access(path.buf, F_OK) < 0 && errno == ENOENT)
		goto out;
	if ((ret = kiln_file_read(&text, path.buf, LAYOUT_INDEX_MAX, err)) < 0 ||
	    (ret = image_index_parse(ix, text.buf, text.len, err)) < 0)
		kiln_err_prefix(err, "existing OCI layout '%s'", dir);
out:
	kiln_buf_release(&path);
	kiln_buf_release(&text);
	return ret;
}

/* Drop the entry the new image replaces: the one with the same ref name,
 * or (without a name) an unnamed entry for the same manifest. */
static void index_drop(struct image_index *ix, const struct kiln_digest *d, const char *ref_name)
{
	size_t k = 0;

	for (size_t i = 0; i < ix->nr_manifests; i++) {
		struct image_descriptor *e = &ix->manifests[i];
		const char *name = image_map_get(&e->annotations, REF_NAME_ANNOT);
		bool drop = ref_name ? name && !strcmp(name, ref_name)
				     : !name && kiln_digest_eq(&e->digest, d);

		if (drop)
			image_descriptor_release(e);
		else
			ix->manifests[k++] = *e;
	}
	ix->nr_manifests = k;
}

static void index_add(struct image_index *ix, const struct output_image *img, const char *ref_name)
{
	struct image_descriptor *e;

	ix->manifests = xreallocarray(ix->manifests, ix->nr_manifests + 1, sizeof(*ix->manifests));
	e = &ix->manifests[ix->nr_manifests++];
	memset(e, 0, sizeof(*e));
	e->media_type = xstrdup(img->media_type);
	e->digest = img->digest;
	e->size = (int64_t)img->manifest_len;
	if (ref_name)
		image_map_set(&e->annotations, REF_NAME_ANNOT, ref_name);
}

int output_oci_layout(const char *dir, const struct output_image *img, const char *ref_name,
		      struct kiln_error *err)
{
	const struct image_manifest *m = img->parsed;
	struct image_index ix = IMAGE_INDEX_INIT;
	struct kiln_buf path = KILN_BUF_INIT, json = KILN_BUF_INIT;
	char hex[2 * KILN_SHA256_LEN + 1];
	struct stat st;
	int ret;

	kiln_buf_addf(&path, "%s/blobs", dir);
	if ((ret = mkdir_p(dir, err)) < 0 || (ret = mkdir_p(path.buf, err)) < 0)
		goto out;
	kiln_buf_addstr(&path, "/sha256");
	if ((ret = mkdir_p(path.buf, err)) < 0 ||
	    (ret = output_layout_read_index(&ix, dir, err)) < 0)
		goto out;
	if ((ret = copy_blob(dir, img->blob_dir, &m->config, err)) < 0)
		goto out;
	for (size_t i = 0; i < m->nr_layers; i++) {
		if ((ret = copy_blob(dir, img->blob_dir, &m->layers[i], err)) < 0)
			goto out;
	}
	kiln_digest_hex(hex, &img->digest);
	kiln_buf_reset(&path);
	kiln_buf_addf(&path, "%s/blobs/sha256/%s", dir, hex);
	if ((ret = kiln_file_write_atomic(path.buf, img->manifest, img->manifest_len, 0644, err)) <
	    0)
		goto out;
	kiln_buf_reset(&path);
	kiln_buf_addf(&path, "%s/oci-layout", dir);
	if (lstat(path.buf, &st) < 0 &&
	    (ret = kiln_file_write_atomic(path.buf, LAYOUT_FILE, strlen(LAYOUT_FILE), 0644, err)) <
		    0)
		goto out;
	if (!ix.media_type)
		ix.media_type = xstrdup(IMAGE_MT_OCI_INDEX);
	index_drop(&ix, &img->digest, ref_name);
	index_add(&ix, img, ref_name);
	image_index_write(&json, &ix);
	kiln_buf_reset(&path);
	kiln_buf_addf(&path, "%s/index.json", dir);
	ret = kiln_file_write_atomic(path.buf, json.buf, json.len, 0644, err);
out:
	if (ret < 0)
		kiln_err_prefix(err, "OCI layout '%s'", dir);
	image_index_release(&ix);
	kiln_buf_release(&path);
	kiln_buf_release(&json);
	return ret;
}
