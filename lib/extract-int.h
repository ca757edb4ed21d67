/*
 * extract-int.h: what the extractor's files share (see extract.h).
 *
 * extract.c drives a layer (stream, tar entries, digest), extract-entry.c
 * creates one entry, extract-remove.c applies whiteouts and clears what an
 * entry replaces, extract-source.c turns the byte stream into tar bytes
 * (extract-gunzip.c decompresses gzip).
 */
#ifndef KILN_EXTRACT_INT_H
#define KILN_EXTRACT_INT_H

#include "compat.h"
#include "buf.h"
#include "digest.h"
#include "extract.h"
#include "rootfs-path.h"
#include "snapshot.h"

#include <limits.h>
#include <sys/stat.h>

struct archive;
struct archive_entry;

/*
 * Bounds on what a layer can make kiln hold in memory: a hostile layer
 * must not be able to grow the per-layer path table or the deferred
 * directory list without limit, nor make removal recurse forever.
 */
#define EXTRACT_MAX_ENTRIES   (8u << 20) /* tar entries per layer */
#define EXTRACT_MAX_XATTRS    256	 /* xattrs per entry */
#define EXTRACT_MAX_XATTR_LEN 65536	 /* XATTR_SIZE_MAX */
#define EXTRACT_MAX_DEPTH     512	 /* directory levels removed recursively */

/* A path this layer wrote: whiteouts and opaque markers must spare it. */
enum extract_path_flag {
	EXTRACT_PATH_WRITTEN = 1 << 0,	  /* an entry of this layer: whiteouts spare it */
	EXTRACT_PATH_HASHED = 1 << 1,	  /* hash holds its content hash */
	EXTRACT_PATH_DIR_QUEUED = 1 << 2, /* already in the deferred list */
};

struct extract_path {
	char *rel; /* NULL: free slot */
	unsigned flags;
	struct snapshot_hash hash;
};

/* Open addressing, linear probing; nr <= cap / 2. */
struct extract_paths {
	struct extract_path *v;
	size_t nr, cap;
};

/* A directory whose mode and times are set once its contents are in
 * (creating entries changes a directory's mtime; a read-only mode would
 * stop a non-root extractor from filling it). meta false: only re-seed. */
struct extract_dir {
	char *rel;
	bool meta;
	mode_t mode;
	struct timespec times[2];
};

struct extract {
	struct rootfs_dir root;
	struct extract_options opts;
	struct extract_paths paths; /* this layer's paths */
	struct extract_dir *dirs;
	size_t nr_dirs, alloc_dirs;
	/* The last parent directory opened: layers are sorted, so most
	 * entries share it. Marked stale whenever a directory or link is
	 * removed, since the cached fd could then name a directory that is no
	 * longer at that name; reopened at the next lookup, never closed
	 * while an entry is using it. */
	struct kiln_buf cache_rel;
	int cache_fd;
	bool cache_stale;
	bool cache_setgid; /* new entries in it take its group, not ours */
	/* Who new files belong to and what the umask leaves of a mode, so
	 * the common file (root-owned, 0644) needs no chown or chmod call. */
	uid_t euid;
	gid_t egid;
	int umask;	 /* -1: unknown, always chmod */
	char *root_real; /* ROOT's path as /proc/self/fd shows it, or NULL */
	bool warned_mknod;
	struct extract_stats *stats;
};

/* One entry of a layer, as extract.c hands it on. */
struct extract_entry {
	const char *name; /* as in the layer, for messages */
	const char *rel;  /* cleaned, relative to ROOT, never "" */
	const char *base; /* last component of rel */
	mode_t mode;	  /* type and permission bits */
	uint32_t uid, gid;
	dev_t rdev;
	const char *symlink;  /* target as written, or NULL */
	const char *hardlink; /* cleaned target, or NULL */
	struct timespec times[2];
	struct archive *a;
	struct archive_entry *ae;
};

/* extract.c */
struct extract_path *extract_paths_find(struct extract *x, const char *rel);
struct extract_path *extract_paths_add(struct extract *x, const char *rel);
bool extract_is_ignored(const struct extract *x, const char *rel);
/* The parent of rel, opened confined (and cached). Returns a borrowed fd:
 * do not close it. Negative: error in err (sys_errno EXDEV for a mount). */
int extract_parent(struct extract *x, const char *rel, struct kiln_error *err);
void extract_cache_drop(struct extract *x);
static inline void extract_cache_invalidate(struct extract *x)
{
	x->cache_stale = true;
}
void extract_dir_queue(struct extract *x, const char *rel, bool meta, mode_t mode,
		       const struct timespec times[2]);
/* Seed the parents of rel again after the layer: the parent's mtime
 * changed, and the ones above it may have just been made. */
void extract_queue_parents(struct extract *x, const char *rel);
int extract_seed(struct extract *x, int dir_fd, const char *name, const char *rel,
		 const struct snapshot_hash *content, struct kiln_error *err);

/* extract-entry.c: 0 applied, 1 skipped, negative error. */
int extract_entry_apply(struct extract *x, const struct extract_entry *e, struct kiln_error *err);

/* extract-remove.c */
enum extract_clear {
	EXTRACT_CLEAR_FREE = 0,	  /* nothing at the path any more */
	EXTRACT_CLEAR_IS_DIR = 1, /* a directory kept (keep_dir) */
	EXTRACT_CLEAR_KEPT = 2,	  /* a mount point or ignored path stays */
};
/* Make room for an entry at dir_fd/name (rel): remove what is there,
 * unless keep_dir and it is a directory. Returns enum extract_clear or a
 * negative code. */
int extract_clear(struct extract *x, int dir_fd, const char *name, const char *rel, bool keep_dir,
		  struct kiln_error *err);
/* Apply ".wh.NAME" (rel is the whited-out path) or ".wh..wh..opq" (rel is
 * its directory). 0 or a negative code. */
int extract_whiteout(struct extract *x, const char *rel, struct kiln_error *err);
int extract_opaque(struct extract *x, const char *dir_rel, struct kiln_error *err);

/* extract-source.c: the layer bytes as libarchive reads them. */
/* gzip through ISA-L (extract-gunzip.c). input() gives the next chunk of
 * compressed bytes (valid until the next call): its length, 0 at the end,
 * or -1 with err set. */
typedef ssize_t gunzip_input_fn(void *arg, const void **buf, struct kiln_error *err);
struct gunzip;
struct gunzip *gunzip_new(gunzip_input_fn *input, void *arg);
/* Up to len decompressed bytes into out: the count, 0 after the last
 * member, or a negative KILN_E* code with err set. */
ssize_t gunzip_read(struct gunzip *g, void *out, size_t len, struct kiln_error *err);
void gunzip_free(struct gunzip *g);

struct extract_source;
int extract_source_open(struct extract_source **out, struct archive *a, extract_read_fn *read,
			void *arg, struct kiln_error *err);
/* Read what libarchive left unread (the digest covers the whole blob),
 * then give the digest and byte count. */
int extract_source_finish(struct kiln_digest *digest, uint64_t *bytes, struct extract_source *src,
			  struct kiln_error *err);
/* The error a read callback stored (libarchive keeps only a string). */
bool extract_source_failed(struct extract_source *src, struct kiln_error *err);
void extract_source_free(struct extract_source *src);

#endif
