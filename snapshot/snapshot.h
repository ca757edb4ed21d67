/*
 * snapshot.h: the snapshotter's public interface.
 *
 * snapshot/ turns "what does ROOT look like now" into change sets at the
 * cost of metadata: a parallel walker, a table of stat tuples and content
 * hashes, and a diff. It knows nothing about Dockerfiles and uses only
 * lib/util.
 *
 * So far: content hashing (xxh3-128), the primitive the table is built on.
 *
 * Typical use:
 *	struct snapshot_hash h;
 *	if (snapshot_hash_fd(&h, fd, path, err) < 0) ...
 */
#ifndef KILN_SNAPSHOT_H
#define KILN_SNAPSHOT_H

#include "compat.h"

struct kiln_buf;
struct kiln_error;

/* A content hash: xxh3-128, fast enough to hash changed files in place. */
struct snapshot_hash {
	uint64_t lo, hi;
};

/* Hash everything readable from fd (from its current offset to EOF). what
 * names the file in an error. */
int snapshot_hash_fd(struct snapshot_hash *out, int fd, const char *what, struct kiln_error *err);
void snapshot_hash_bytes(struct snapshot_hash *out, const void *data, size_t len);
bool snapshot_hash_eq(const struct snapshot_hash *a, const struct snapshot_hash *b);

/* Append "  xxHash <version>\n" for `executor version`. */
void snapshot_versions(struct kiln_buf *out);

#endif
