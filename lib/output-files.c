/*
 * output_digest_files(): the files kaniko writes after a build, in its
 * formats, so that pipelines reading them (Tekton results, signing steps)
 * keep working. Names are normalised as kaniko's go-containerregistry
 * does: Docker Hub is "index.docker.io", a missing tag is "latest".
 */
#include "compat.h"
#include "output.h"
#include "buf.h"
#include "error.h"
#include "fileio.h"
#include "registry.h"

static void add_repo(struct kiln_buf *out, const struct registry_ref *r)
{
	kiln_buf_addf(out, "%s/%s", strcmp(r->domain, "docker.io") ? r->domain : "index.docker.io",
		      r->path);
}

static int name_lines(struct kiln_buf *out, bool with_tag, const char *ds, const char *const *dests,
		      size_t n, struct kiln_error *err)
{
	for (size_t i = 0; i < n; i++) {
		struct registry_ref r = REGISTRY_REF_INIT;

		if (registry_ref_parse(&r, dests[i], err) < 0)
			return kiln_err_prefix(err, "destination '%s'", dests[i]);
		add_repo(out, &r);
		if (with_tag && r.tag)
			kiln_buf_addf(out, ":%s", r.tag);
		kiln_buf_addf(out, "@%s\n", ds);
		registry_ref_release(&r);
	}
	return 0;
}

int output_digest_files(const char *digest_file, const char *name_with_digest,
			const char *name_tag_with_digest, const struct kiln_digest *digest,
			const char *const *destinations, size_t n, struct kiln_error *err)
{
	struct kiln_buf plain = KILN_BUF_INIT, tagged = KILN_BUF_INIT;
	char ds[KILN_DIGEST_STR_SIZE];
	int ret;

	kiln_digest_format(ds, digest);
	/* Every name is checked before any file is written. */
	if ((ret = name_lines(&plain, false, ds, destinations, n, err)) < 0 ||
	    (ret = name_lines(&tagged, true, ds, destinations, n, err)) < 0)
		goto out;
	if (digest_file &&
	    (ret = kiln_file_write_atomic(digest_file, ds, strlen(ds), 0644, err)) < 0)
		goto out;
	if (name_with_digest &&
	    (ret = kiln_file_write_atomic(name_with_digest, plain.buf, plain.len, 0644, err)) < 0)
		goto out;
	if (name_tag_with_digest && (ret = kiln_file_write_atomic(name_tag_with_digest, tagged.buf,
								  tagged.len, 0644, err)) < 0)
		goto out;
out:
	kiln_buf_release(&plain);
	kiln_buf_release(&tagged);
	return ret;
}
