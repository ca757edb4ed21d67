/*
 * copy-int.h: what the copy-*.c files share (see copy.h for the rules).
 *
 * Writing: every destination entry is created with *at() calls relative to
 * a directory fd that was either resolved inside ROOT (rootfs-path.h) or
 * opened with O_NOFOLLOW below one, so nothing lands outside ROOT.
 * Reading: every source is opened below spec->src_fd with
 * RESOLVE_IN_ROOT, and directory walks go fd by fd without following
 * symlinks, so nothing outside the source root is read.
 */
#ifndef KILN_COPY_INT_H
#define KILN_COPY_INT_H

#include "compat.h"
#include "copy.h"
#include "rootfs-path.h"

#include <sys/stat.h>

struct kiln_buf;
struct kiln_strvec;
struct registry_download;

/* A source inode seen with nlink > 1, and where its first copy went. */
struct copy_link {
	dev_t dev;
	ino_t ino;
	char *dest; /* relative to ROOT */
};

/* The inodes seen with nlink > 1 (hardlinks among the sources). */
struct copy_links {
	struct copy_link *v;
	size_t nr, alloc;
};

const struct copy_link *copy_links_find(const struct copy_links *l, const struct stat *st);
void copy_links_add(struct copy_links *l, const struct stat *st, const char *dest);
void copy_links_release(struct copy_links *l);

struct copy_ctx {
	const struct copy_spec *s;
	struct rootfs_dir root;
	uid_t uid; /* owner of everything written: 0:0 or --chown */
	gid_t gid;
	struct kiln_dockerignore *exclude; /* --exclude, or NULL */
	struct copy_links links;
	const char *src_name;	/* the source being copied, for messages */
	struct copy_pool *pool; /* made by the first directory walk; NULL: none */
	bool in_walk;		/* copy_dir_contents() is listing: files may go to the pool */
};

/* copy-pool.c: regular files written by worker threads. NULL when this
 * machine has one CPU (or no thread could start). copy_pool_add takes
 * src_fd and borrows dst_dfd, which must stay open until copy_pool_drain
 * (the walker drains before it closes a directory); drain waits for every
 * file queued and returns the first failure. */
struct copy_pool;
struct copy_pool *copy_pool_new(struct copy_ctx *c);
void copy_pool_add(struct copy_pool *p, int dst_dfd, const char *dname, int src_fd, mode_t mode,
		   const struct timespec times[2]);
int copy_pool_drain(struct copy_pool *p, struct kiln_error *err);
void copy_pool_free(struct copy_pool *p);

/* copy.c: what one source stands for once expanded. */
enum copy_item_kind { ITEM_PATH, ITEM_URL, ITEM_INLINE };

struct copy_item {
	enum copy_item_kind kind;
	char *path;	  /* ITEM_PATH: relative to the source root; URL */
	const char *src;  /* as written, for messages */
	size_t pivot_len; /* --parents: bytes of path not kept in the destination */
	const struct copy_inline *in;
};

struct copy_items {
	struct copy_item *v;
	size_t nr, alloc;
};

/* The spec's sources expanded (wildcards, .dockerignore), in order. */
int copy_items_collect(struct copy_items *it, const struct copy_spec *s, struct kiln_error *err);
void copy_items_release(struct copy_items *it);
/* Refuse what the spec can never do (git sources, COPY of a URL...). */
int copy_check_spec(const struct copy_spec *s, struct kiln_error *err);
bool copy_is_url(const char *s);

/* copy-match.c: Go's filepath.Match for one path element. */
bool copy_has_wildcard(const char *s);
int copy_match(bool *out, const char *pattern, const char *name, struct kiln_error *err);
/* The sorted names in the directory fd, which is closed. */
int copy_list_names(struct kiln_strvec *out, int fd, struct kiln_error *err);
/* Expand src (cleaned, relative to the source root, may hold wildcards)
 * into the paths it names, sorted; none is not an error here. */
int copy_glob(struct kiln_strvec *out, int src_fd, const char *src, struct kiln_error *err);

/* copy-src.c: open rel below the source root, following symlinks as if
 * the root were "/" (the source path itself is followed, as BuildKit's
 * FollowLinks does for COPY sources). flags: O_PATH or O_RDONLY. */
int copy_src_open(int src_fd, const char *rel, int flags, struct kiln_error *err);

/* copy-tree.c */
/* Make the directory rel inside ROOT and its missing parents (0755, owned
 * by the copy's owner, as BuildKit's MkdirAll with the chown). Returns an
 * O_PATH fd of it. */
int copy_mkdir_all(struct copy_ctx *c, const char *rel, struct kiln_error *err);
/* Copy the source entry (src_dfd, name) with stat st to (dst_dfd, dname),
 * whose path inside ROOT is dst_rel; ign_rel is its path relative to the
 * context for .dockerignore (NULL: no ignore checks), ex_rel relative to
 * the source for --exclude. overwrite: an existing directory takes the
 * source's metadata (every level but the destination itself). src_fd:
 * the source already open (O_RDONLY, borrowed), or -1 to open name. */
int copy_entry(struct copy_ctx *c, int src_dfd, const char *name, int src_fd, const struct stat *st,
	       int dst_dfd, const char *dname, const char *dst_rel, const char *ign_rel,
	       const char *ex_rel, bool overwrite, struct kiln_error *err);
/* Copy the children of the source directory src_fd (O_RDONLY, closed
 * here) into the directory dst_fd (dst_rel inside ROOT). */
int copy_dir_contents(struct copy_ctx *c, int src_fd, int dst_fd, const char *dst_rel,
		      const char *ign_rel, const char *ex_rel, struct kiln_error *err);
/* Write a regular file's content from fd (or data/len when fd < 0) at
 * (dst_dfd, dname), replacing a non-directory there; mode is final;
 * times (atime, mtime) may be NULL to leave them at now. */
int copy_write_file(struct copy_ctx *c, int dst_dfd, const char *dname, int src_fd,
		    const void *data, size_t len, mode_t mode, const struct timespec *times,
		    struct kiln_error *err);
/* The mode a copied entry gets: the source's, or --chmod applied to it. */
int copy_mode(mode_t *out, const struct copy_ctx *c, mode_t src_mode, struct kiln_error *err);

/* copy-add.c */
/* Is the regular file fd a tar archive (plain, gzip, bzip2, xz, zstd)? */
bool copy_is_archive(int fd);
/* Extract the archive fd into the directory dst_rel inside ROOT. */
int copy_extract(struct copy_ctx *c, int fd, const char *dst_rel, struct kiln_error *err);
/* The file name ADD gives a URL's download: its path's last element. */
int copy_url_name(struct kiln_buf *out, const char *url, struct kiln_error *err);
/* Download url into an unlinked temporary file in work_dir; *fd is it,
 * at offset 0. */
int copy_download(int *fd, struct registry_download *d, struct copy_ctx *c, const char *url,
		  struct kiln_error *err);

#endif
