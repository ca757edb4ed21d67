/*
 * layer.h: a change set becomes a layer blob, deterministically.
 *
 * The tar is written by hand (ustar headers, PAX records where ustar runs
 * out) so that its bytes depend only on the tree: entries in bytewise
 * order of their paths; every parent directory of a changed path included
 * with its real metadata; numeric uid/gid and empty user/group names; mtime
 * in whole seconds (optionally clamped for --reproducible); xattrs as
 * SCHILY.xattr records; a hardlink within the layer as a link to the
 * first path of its inode; FIFOs and device nodes kept; sockets skipped;
 * each deleted path as an OCI whiteout `.wh.NAME`. A path whose type
 * changed is just its new entry: extractors replace what was there.
 *
 * Files are read below ROOT with openat2(RESOLVE_BENEATH |
 * RESOLVE_NO_SYMLINKS): a symlink swapped into the tree after the snapshot
 * can make the layer fail, never make it read outside ROOT.
 *
 * The stream runs tar -> sha256 (diff_id) -> parallel gzip (pgzip.h) ->
 * sha256 (digest) -> file, in one pass, spooled to an atomic file: the
 * layer is never held in memory, and a failed layer leaves no file.
 *
 * Typical use:
 *	struct layer_options o = { .gzip = { .level = 6 } };
 *	struct layer_info info;
 *	ret = layer_write_file(&info, root_fd, &changes, "/kiln/layers/tmp", &o, err);
 *	if (ret == 1) ... info.digest, info.diff_id, info.size ...
 *	else if (ret == 0) ... empty change set: no layer ...
 */
#ifndef KILN_LAYER_H
#define KILN_LAYER_H

#include "compat.h"
#include "digest.h"
#include "pgzip.h"
#include "stream.h"

struct kiln_buf;
struct kiln_error;
struct kiln_writer;
struct snapshot;
struct snapshot_changes;

struct layer_options {
	struct pgzip_options gzip; /* level, threads */
	/* --reproducible / SOURCE_DATE_EPOCH: no entry newer than clamp_mtime */
	bool clamp;
	int64_t clamp_mtime;
	/* When set (borrowed), the content hash of every regular file
	 * written is handed to this snapshot (snapshot_learn), so a snapshot
	 * taken with snapshot_take_deferred() need not read the files too. */
	struct snapshot *learn;
	/* When set (borrowed): told of the blob's file once open, then of
	 * every write, so the blob can be read (uploaded) as it is written. */
	const struct layer_tap *tap;
};

struct layer_tap {
	void (*opened)(void *ctx, int fd); /* the file, valid until layer_write_file returns */
	kiln_tap_fn *wrote;		   /* bytes of the blob in the file so far */
	void *ctx;
};

struct layer_info {
	struct kiln_digest digest;  /* sha256 of the gzip bytes: the blob's name */
	struct kiln_digest diff_id; /* sha256 of the tar: the config's diff_id */
	uint64_t size;		    /* gzip bytes: the descriptor's size */
	uint64_t tar_size;
};

/*
 * Write the layer of changes (paths from ROOT, as snapshot_take() returns
 * them) to path, atomically. Returns 1 when a layer was written, 0 when
 * the change set is empty (no file is created), or a negative KILN_E*.
 */
int layer_write_file(struct layer_info *out, int root_fd, const struct snapshot_changes *changes,
		     const char *path, const struct layer_options *opts, struct kiln_error *err);

/* Write just the tar stream (ending in its two zero blocks) into out,
 * without closing it. */
int layer_write_tar(struct kiln_writer *out, int root_fd, const struct snapshot_changes *changes,
		    const struct layer_options *opts, struct kiln_error *err);

/* ------------------------------------------------------------------------
 * Tar header encoding, for every tar kiln writes (layers, image tarballs).
 */

#define LAYER_TAR_BLOCK 512

struct layer_xattr {
	const char *name; /* "security.capability" */
	const void *value;
	size_t len;
};

struct layer_tar_entry {
	const char *name; /* as stored: relative, directories ending in '/' */
	char type;	  /* '0' file, '1' hardlink, '2' symlink, '3' char,
			   * '4' block, '5' directory, '6' FIFO */
	uint32_t mode;	  /* permission bits (07777) */
	uint64_t uid, gid;
	uint64_t size; /* content bytes following the header ('0' only) */
	int64_t mtime; /* seconds */
	uint32_t devmajor, devminor;
	const char *linkname; /* '1' and '2'; NULL otherwise */
	const struct layer_xattr *xattrs;
	size_t nr_xattrs; /* written in the order given */
};

/*
 * Append the header block(s) of e to out: a ustar header, preceded by a
 * PAX extended header when a value does not fit ustar (path or link over
 * 100 bytes, size >= 8 GiB, uid/gid > 2097151, mtime before 1970 or after
 * 2242) or there are xattrs. The content and its padding to
 * LAYER_TAR_BLOCK are the caller's. KILN_EINVAL for an empty name or an
 * xattr name PAX cannot carry (empty, or holding '=').
 */
int layer_tar_header(struct kiln_buf *out, const struct layer_tar_entry *e, struct kiln_error *err);

#endif
