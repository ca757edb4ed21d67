/*
 * copy.h: COPY and ADD, with Docker's semantics.
 *
 * Sources are read below a source root (the build context, or the tree of
 * an earlier stage or image for --from) and written below ROOT. Both sides
 * are confined: a source naming "../x", or reached through a symlink that
 * leaves the source root, is an error; the destination is resolved inside
 * ROOT (rootfs-path.h), so nothing is written outside it.
 *
 * Docker's rules: wildcards (filepath.Match syntax) in sources; several
 * sources (or a wildcard) need a destination that ends in '/' or is a
 * directory; a directory source copies its contents, not itself; symlinks
 * are copied as symlinks; hardlinks among the copied files stay hardlinks;
 * ownership root:root unless --chown; --chmod octal or symbolic; missing
 * parents of the destination are made root-owned 0755; an existing
 * destination directory keeps its mode and owner; the context's
 * .dockerignore excludes paths (the Dockerfile and .dockerignore are
 * still copied when named, as Docker does). ADD also extracts a local tar
 * (plain, gzip, bzip2, xz) into the destination, downloads an http(s) URL
 * (mode 0600, mtime from Last-Modified, checked against --checksum), and a
 * heredoc (COPY <<EOF /dest) writes its body as a file.
 *
 * Typical use:
 *	struct copy_spec s = { .src_fd = ctx_fd, .src_what = "build context",
 *			       .ignore = di, .srcs = srcs, .nr_srcs = n,
 *			       .dest = "/app/", .root_fd = root_fd };
 *	if (copy_run(&s, err) < 0) ... "COPY x: ..." ...
 */
#ifndef KILN_COPY_H
#define KILN_COPY_H

#include "compat.h"
#include "digest.h"

#include <sys/types.h>

struct kiln_dockerignore;
struct kiln_error;
struct registry_client;

/* A heredoc source: COPY <<EOF /dest (name is the file's name). */
struct copy_inline {
	const char *name;
	const char *data;
	size_t len;
};

struct copy_spec {
	int src_fd;	      /* the source root (O_PATH or O_DIRECTORY), -1 for inline/URL only */
	const char *src_what; /* "build context", "stage 'builder'": for messages */
	const struct kiln_dockerignore *ignore; /* the context's, or NULL */
	const char *const *srcs;		/* expanded; wildcards allowed; ADD: URLs too */
	size_t nr_srcs;
	const struct copy_inline *inlines; /* heredocs */
	size_t nr_inlines;
	const char *dest; /* expanded, absolute inside ROOT (WORKDIR applied) */
	int root_fd;	  /* ROOT */
	bool add;	  /* ADD semantics */
	bool has_chown;
	uid_t uid;
	gid_t gid;
	const char *chmod;		    /* --chmod as written, or NULL */
	const struct kiln_digest *checksum; /* ADD --checksum, or NULL */
	struct registry_client *client;	    /* ADD of a URL: registry_download() */
	const char *work_dir;		    /* kiln's scratch directory (downloads) */
	const char *const *excludes;	    /* --exclude patterns */
	size_t nr_excludes;
	bool parents;	   /* --parents: keep the source's directories */
	bool keep_git_dir; /* ADD git: not supported, see copy.c */
	bool no_chown;	   /* the process may not chown (tests as non-root) */
	bool keep_owner;   /* COPY --from: files keep their owners (unless --chown) */
};

/* Copy (or add) s; errors name the source: "'src/x': no such file in the
 * build context". */
int copy_run(const struct copy_spec *s, struct kiln_error *err);

/* What decides the result from the sources, fed part by part to fn (the
 * cache key): paths, modes, contents, link targets, hardlink groups; not
 * times or owners. *volatile_ is set when a source cannot be known without
 * fetching it (ADD of a URL without --checksum). The spec's root_fd and
 * dest are not used. */
typedef void (*copy_hash_fn)(void *ctx, const char *name, const void *data, size_t len);
int copy_hash(bool *volatile_, const struct copy_spec *s, copy_hash_fn fn, void *ctx,
	      struct kiln_error *err);

/* Parse --chmod ("755", "0644", "u=rwx,go=rx", "+x"): how it applies to a
 * file of mode `mode` (directories get X). Exposed for tests. */
int copy_chmod_parse(const char *spec, struct kiln_error *err);
int copy_chmod_apply(mode_t *out, const char *spec, mode_t mode, struct kiln_error *err);

#endif
