/*
 * extract.h: apply image layers to ROOT.
 *
 * A layer arrives as a stream (a file, a pipe from the registry client, or
 * a read callback): its compressed bytes are hashed with sha256 as they go
 * by, it is decompressed (gzip, zstd or none, told apart by magic bytes),
 * and its tar entries are applied to ROOT with the OCI image spec's rules:
 * ".wh.NAME" deletes NAME from the lower layers (what ROOT held before this
 * layer), ".wh..wh..opq" empties its directory of what lower layers put
 * there (entries of the same layer stay), an entry replaces whatever lies
 * at its path unless both are directories (then they merge), hardlinks,
 * symlinks, FIFOs and device nodes, owners, modes with setuid/setgid/sticky,
 * xattrs (security.capability) and mtimes (directories last) are restored.
 *
 * Confinement: every name is resolved inside ROOT (rootfs-path.h): a name
 * climbing above ROOT with ".." is refused, a leading "/" is dropped,
 * symlinks are followed as if ROOT were "/", a hardlink target must exist
 * inside ROOT, and the last component is created with *at() calls that
 * never follow a symlink. Whatever a layer holds, nothing outside ROOT is
 * created, changed or linked to. When ROOT is "/" (kaniko's model), the
 * ignore list (kiln's own dir, mount points, --ignore-path) and every mount
 * point are left alone: entries into them are skipped with a debug line,
 * never written through (kaniko fails there with "device or resource
 * busy").
 *
 * The digest is known only once the stream has been read to its end, which
 * is after the entries were applied: on KILN_EDIGEST ROOT holds the content
 * of a blob that is not the one asked for, and the caller must throw ROOT
 * away (the build fails).
 *
 * Errors name the entry: "entry 'usr/bin/x': hardlink target 'etc/passwd'
 * not found"; the caller prefixes the layer ("sha256:...: entry ...").
 *
 * Typical use:
 *	struct extract *x;
 *	struct extract_options o = { .ignore = paths, .nr_ignore = n, .seed = snap };
 *	if (extract_new(&x, root_fd, &o, err) < 0) ...
 *	for each layer:
 *		if (extract_layer_fd(&stats, x, fd, &expected, err) < 0) {
 *			kiln_err_prefix(err, "%s", layer_name);
 *			...
 *		}
 *	extract_free(x);     // also closes the seeding run (snapshot_seed_finish)
 */
#ifndef KILN_EXTRACT_H
#define KILN_EXTRACT_H

#include "compat.h"
#include "digest.h"

struct kiln_error;
struct snapshot;

struct extract_options {
	/* Paths relative to ROOT ("/proc", "/kiln", "/var/run") that are
	 * never written into or removed; entries below them are skipped. */
	const char *const *ignore;
	size_t nr_ignore;
	/* When set, every path written is recorded in this snapshot table
	 * (with the content hash computed while writing), so the first
	 * snapshot after unpacking reads nothing again. Borrowed. */
	struct snapshot *seed;
	/* Skip chown (the default for a non-root process, like tar's
	 * --no-same-owner); with it false, an EPERM from chown is an error. */
	bool no_chown;
};

/* What one layer did, for logs and benchmarks. */
struct extract_stats {
	uint64_t entries;	   /* tar entries read */
	uint64_t skipped;	   /* entries skipped: ignored paths, mount points, sockets */
	uint64_t whiteouts;	   /* whiteout and opaque markers applied */
	uint64_t bytes_in;	   /* compressed bytes read (what the digest covers) */
	uint64_t bytes_data;	   /* file content written */
	struct kiln_digest digest; /* sha256 of bytes_in, always computed */
};

/* Layer bytes in: fill buf with at most len bytes; return the count, 0 at
 * the end, or a negative KILN_E* code with err set. */
typedef ssize_t extract_read_fn(void *arg, void *buf, size_t len, struct kiln_error *err);

struct extract;

/* root_fd (O_PATH or O_DIRECTORY) and opts' arrays are borrowed for x's
 * life. */
int extract_new(struct extract **out, int root_fd, const struct extract_options *opts,
		struct kiln_error *err);
/* Closes the seeding run; NULL-safe. */
void extract_free(struct extract *x);

/*
 * Apply one layer read from fd (read to its end). When expect is not NULL,
 * the sha256 of the bytes read must equal it (KILN_EDIGEST otherwise).
 * stats may be NULL. Layers are applied in the order of the calls: each
 * call's whiteouts act on what the previous calls (and ROOT before them)
 * left.
 */
int extract_layer_fd(struct extract_stats *stats, struct extract *x, int fd,
		     const struct kiln_digest *expect, struct kiln_error *err);

/* The same from a read callback (a registry download). */
int extract_layer_read(struct extract_stats *stats, struct extract *x, extract_read_fn *read,
		       void *arg, const struct kiln_digest *expect, struct kiln_error *err);

#endif
