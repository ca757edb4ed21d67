/*
 * path.h: lexical path helpers (no file system access).
 *
 * These work on strings only, like Go's path package, which is what
 * Dockerfile paths follow. They do not resolve symlinks, so they are never
 * the security boundary for touching files inside ROOT: that is the rootfs
 * module's openat2(RESOLVE_IN_ROOT) walk. Use them to normalise and compare
 * names.
 *
 * Typical use:
 *	struct kiln_buf p = KILN_BUF_INIT;
 *	kiln_path_join(&p, workdir, "../etc//passwd");
 */
#ifndef KILN_PATH_H
#define KILN_PATH_H

#include "compat.h"

struct kiln_buf;

/*
 * Replace out with the shortest equivalent of path: "//" collapsed, "."
 * removed, "x/.." removed, ".." above "/" dropped (kept in relative paths),
 * no trailing slash; the empty path becomes ".".
 */
void kiln_path_clean(struct kiln_buf *out, const char *path);

/* Replace out with clean(a + "/" + b); an absolute b is still joined below a. */
void kiln_path_join(struct kiln_buf *out, const char *a, const char *b);

/*
 * Split the cleaned path into its directory and last element:
 * "/a/b" -> "/a", "b"; "b" -> ".", "b"; "/" -> "/", "". Either output may
 * be NULL.
 */
void kiln_path_split(struct kiln_buf *dir, struct kiln_buf *base, const char *path);

/* True when child (cleaned) is parent (cleaned) or lies below it. */
bool kiln_path_is_beneath(const char *parent, const char *child);

/* True when the cleaned relative path climbs out of its start ("..", "../x"). */
bool kiln_path_escapes(const char *rel);

#endif
