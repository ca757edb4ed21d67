/*
 * context.h: the build context and the Dockerfile, from where the user
 * says they are.
 *
 * Context sources (kaniko's spellings): a directory ("/path", "dir:///path",
 * a relative path), a tarball ("tar:///path/ctx.tar.gz", plain or gzip),
 * the standard input ("tar://stdin"), an https URL of a tarball
 * ("https://host/ctx.tar.gz"). Tarballs are unpacked into kiln's work
 * directory with every entry confined to it (no absolute names, no "..",
 * no link leaving it); --context-sub-path then picks a directory inside.
 * The context's .dockerignore (or <Dockerfile>.dockerignore) is loaded.
 *
 * The Dockerfile (-f): an absolute path, a path relative to the context
 * (or to the current directory when that exists and the context path does
 * not, as kaniko does), or an https URL; default "Dockerfile" in the context.
 *
 * Typical use:
 *	struct build_context ctx = BUILD_CONTEXT_INIT;
 *	if (context_open(&ctx, "tar:///in/ctx.tar.gz", NULL, "/kiln/ctx", client, err) < 0) ...
 *	if (context_read_dockerfile(&text, &name, &ctx, "Dockerfile", client, err) < 0) ...
 *	... ctx.fd, ctx.dir, ctx.ignore ...
 *	context_release(&ctx);
 */
#ifndef KILN_CONTEXT_H
#define KILN_CONTEXT_H

#include "compat.h"

struct kiln_buf;
struct kiln_dockerignore;
struct kiln_error;
struct registry_client;

struct build_context {
	char *dir;			  /* the context directory (after --context-sub-path) */
	int fd;				  /* O_PATH|O_DIRECTORY of dir */
	struct kiln_dockerignore *ignore; /* NULL when there is no .dockerignore */
};

#define BUILD_CONTEXT_INIT     \
	{                      \
		NULL, -1, NULL \
	}

/* Open (download, unpack) the context spec; work_dir is a directory of
 * kiln's where tarballs are unpacked. The .dockerignore is loaded later by
 * context_read_dockerfile(), since its name depends on the Dockerfile's. */
int context_open(struct build_context *out, const char *spec, const char *sub_path,
		 const char *work_dir, struct registry_client *c, struct kiln_error *err);

/* Read the Dockerfile (capped at 16 MiB) into *text and its display name
 * into *name (malloc'd), and load the matching .dockerignore into ctx. */
int context_read_dockerfile(struct kiln_buf *text, char **name, struct build_context *ctx,
			    const char *dockerfile, struct registry_client *c,
			    struct kiln_error *err);

void context_release(struct build_context *ctx);

#endif
