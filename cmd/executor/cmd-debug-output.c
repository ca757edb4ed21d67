/*
 * `executor debug output LAYOUT [--push REF]... [--tar-path F]
 * [--oci-layout-path D] [--ref-name NAME] [--digest-file F]
 * [--image-name-with-digest-file F] [--image-name-tag-with-digest-file F]
 * [--insecure] [--mount-from REPO]`: send the image of an OCI layout
 * (its index.json's first manifest, as `debug pull` writes it) everywhere
 * a build's image can go, through lib/output.h. The --push references are
 * also the tarball's tags and the digest files' names; --ref-name (default:
 * the source entry's own) names the image in the --oci-layout-path index.
 * The order is the build's: pushes, then the files, stopping at the first
 * failure. Prints the manifest digest on stdout.
 */
#include "compat.h"
#include "commands.h"
#include "alloc.h"
#include "buf.h"
#include "digest.h"
#include "error.h"
#include "fileio.h"
#include "image.h"
#include "output.h"
#include "registry.h"
#include "strvec.h"

struct out_args {
	const char *layout, *tar_path, *oci_layout, *ref_name, *mount_from;
	const char *digest_file, *name_digest_file, *name_tag_digest_file;
	bool insecure;
	struct kiln_strvec push;
};

static int parse_args(struct out_args *a, int argc, char **argv, struct kiln_error *err)
{
	for (int i = 0; i < argc; i++) {
		const char *arg = argv[i], *v;

		if (!strcmp(arg, "--insecure"))
			a->insecure = true;
		else if ((v = debug_flag_value(arg, "--push", &i, argc, argv)))
			kiln_strvec_push(&a->push, v);
		else if ((v = debug_flag_value(arg, "--tar-path", &i, argc, argv)))
			a->tar_path = v;
		else if ((v = debug_flag_value(arg, "--oci-layout-path", &i, argc, argv)))
			a->oci_layout = v;
		else if ((v = debug_flag_value(arg, "--ref-name", &i, argc, argv)))
			a->ref_name = v;
		else if ((v = debug_flag_value(arg, "--mount-from", &i, argc, argv)))
			a->mount_from = v;
		else if ((v = debug_flag_value(arg, "--digest-file", &i, argc, argv)))
			a->digest_file = v;
		else if ((v = debug_flag_value(arg, "--image-name-with-digest-file", &i, argc,
					       argv)))
			a->name_digest_file = v;
		else if ((v = debug_flag_value(arg, "--image-name-tag-with-digest-file", &i, argc,
					       argv)))
			a->name_tag_digest_file = v;
		else if (arg[0] == '-' || a->layout)
			return kiln_err(err, KILN_EINVAL, 0,
					"debug output: unexpected argument '%s'", arg);
		else
			a->layout = arg;
	}
	if (!a->layout)
		return kiln_err(err, KILN_EINVAL, 0,
				"usage: executor debug output LAYOUT [--push REF]... "
				"[--tar-path F] [--oci-layout-path D] [--digest-file F] ...");
	return 0;
}

struct source {
	struct kiln_buf manifest;
	struct image_manifest m;
	char *media_type, *ref_name, *blob_dir;
	struct kiln_digest digest;
};

static int read_source(struct source *s, const char *dir, struct kiln_error *err)
{
	struct kiln_buf text = KILN_BUF_INIT, path = KILN_BUF_INIT;
	struct image_index ix = IMAGE_INDEX_INIT;
	char hex[2 * KILN_SHA256_LEN + 1];
	const char *name;
	int ret;

	kiln_buf_addf(&path, "%s/index.json", dir);
	if ((ret = kiln_file_read(&text, path.buf, IMAGE_MANIFEST_MAX, err)) < 0 ||
	    (ret = image_index_parse(&ix, text.buf, text.len, err)) < 0)
		goto out;
	if (!ix.nr_manifests) {
		ret = kiln_err(err, KILN_EINVAL, 0, "'%s' lists no image", path.buf);
		goto out;
	}
	s->blob_dir = xasprintf("%s/blobs", dir);
	kiln_digest_hex(hex, &ix.manifests[0].digest);
	kiln_buf_reset(&path);
	kiln_buf_addf(&path, "%s/sha256/%s", s->blob_dir, hex);
	if ((ret = kiln_file_read(&s->manifest, path.buf, IMAGE_MANIFEST_MAX, err)) < 0 ||
	    (ret = image_manifest_parse(&s->m, s->manifest.buf, s->manifest.len, err)) < 0)
		goto out;
	kiln_digest_of(&s->digest, s->manifest.buf, s->manifest.len);
	s->media_type = xstrdup(s->m.media_type		     ? s->m.media_type
				: ix.manifests[0].media_type ? ix.manifests[0].media_type
							     : IMAGE_MT_OCI_MANIFEST);
	name = image_map_get(&ix.manifests[0].annotations, "org.opencontainers.image.ref.name");
	s->ref_name = name ? xstrdup(name) : NULL;
out:
	image_index_release(&ix);
	kiln_buf_release(&text);
	kiln_buf_release(&path);
	return ret;
}

static int run(struct out_args *a, struct kiln_error *err)
{
	struct source s = { .manifest = KILN_BUF_INIT, .m = IMAGE_MANIFEST_INIT };
	struct registry_client *c = NULL;
	struct registry_options o;
	struct output_image img;
	const char *const *dests = (const char *const *)a->push.v;
	char ds[KILN_DIGEST_STR_SIZE];
	int ret;

	registry_options_init(&o);
	o.insecure = a->insecure;
	o.backoff_ms = 200;
	if ((ret = read_source(&s, a->layout, err)) < 0)
		goto out;
	img = (struct output_image){ .blob_dir = s.blob_dir,
				     .manifest = s.manifest.buf,
				     .manifest_len = s.manifest.len,
				     .media_type = s.media_type,
				     .digest = s.digest,
				     .parsed = &s.m,
				     .mount_from = a->mount_from };
	if (a->push.nr && ((ret = registry_global_init(err)) < 0 ||
			   (ret = registry_client_new(&c, &o, err)) < 0 ||
			   (ret = output_push(c, &img, dests, a->push.nr, err)) < 0))
		goto out;
	if (a->tar_path &&
	    (ret = output_docker_archive(a->tar_path, &img, dests, a->push.nr, err)) < 0)
		goto out;
	if (a->oci_layout &&
	    (ret = output_oci_layout(a->oci_layout, &img, a->ref_name ? a->ref_name : s.ref_name,
				     err)) < 0)
		goto out;
	if ((ret = output_digest_files(a->digest_file, a->name_digest_file, a->name_tag_digest_file,
				       &s.digest, dests, a->push.nr, err)) < 0)
		goto out;
	kiln_digest_format(ds, &s.digest);
	printf("%s\n", ds);
out:
	registry_client_free(c);
	if (a->push.nr)
		registry_global_cleanup();
	registry_options_release(&o);
	image_manifest_release(&s.m);
	kiln_buf_release(&s.manifest);
	free(s.media_type);
	free(s.ref_name);
	free(s.blob_dir);
	return ret;
}

int debug_output(int argc, char **argv, struct kiln_error *err)
{
	struct out_args a = { .push = KILN_STRVEC_INIT };
	int code = 2;

	if (parse_args(&a, argc, argv, err) < 0)
		goto out;
	code = run(&a, err) < 0 ? 1 : 0;
out:
	kiln_strvec_clear(&a.push);
	return code;
}
