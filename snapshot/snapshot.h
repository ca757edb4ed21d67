/*
 * snapshot.h: the snapshotter's public interface.
 *
 * snapshot/ turns "what does ROOT look like now" into change sets at the
 * cost of metadata: a parallel walker (walk.c), a table of stat tuples and
 * content hashes (table.c), and a diff (diff.c). It knows nothing about
 * Dockerfiles and uses only lib/util.
 *
 * A path counts as changed (full mode) when its type, permission bits,
 * owner, mtime, device numbers, link target, xattrs or content changed.
 * Reading is avoided: an unchanged stat tuple means unchanged, and content
 * is hashed only when the tuple changed but the size did not, or when the
 * racy-timestamp rule (diff.c) says the tuple cannot be trusted.
 *
 * Typical use:
 *	struct snapshot *s;
 *	snapshot_new(&s, root_fd, &opts, err);
 *	snapshot_take(&ignored, s, err);       // baseline (or seed from layers)
 *	... run a step ...
 *	snapshot_take(&changes, s, err);       // what the step changed, sorted
 *	snapshot_changes_release(&changes);
 *	snapshot_free(s);
 */
#ifndef KILN_SNAPSHOT_H
#define KILN_SNAPSHOT_H

#include "compat.h"

struct kiln_buf;
struct kiln_error;
struct stat;

/* A content hash: xxh3-128, fast enough to hash changed files in place. */
struct snapshot_hash {
	uint64_t lo, hi;
};

/* Hash everything readable from fd (from its current offset to EOF). what
 * names the file in an error. */
int snapshot_hash_fd(struct snapshot_hash *out, int fd, const char *what, struct kiln_error *err);
void snapshot_hash_bytes(struct snapshot_hash *out, const void *data, size_t len);
bool snapshot_hash_eq(const struct snapshot_hash *a, const struct snapshot_hash *b);

enum snapshot_mode {
	SNAPSHOT_FULL, /* everything, content by hash: kaniko's default semantics */
	SNAPSHOT_REDO, /* type, mode, uid, gid, size, mtime: kaniko's redo */
	SNAPSHOT_TIME, /* mtime only */
};

int snapshot_mode_parse(enum snapshot_mode *out, const char *s, struct kiln_error *err);

/* The stat tuple kept per path. */
struct snapshot_stat {
	uint32_t mode; /* type and permission bits */
	uint32_t uid, gid;
	uint32_t nlink;
	uint64_t size;
	uint64_t ino, dev, rdev;
	int64_t mtime_ns, ctime_ns;
};

/* Why a path is in a change set: a bitmask, so traces can say why. */
enum snapshot_reason {
	SNAPSHOT_NEW = 1 << 0,
	SNAPSHOT_TYPE = 1 << 1,
	SNAPSHOT_PERM = 1 << 2,
	SNAPSHOT_OWNER = 1 << 3,
	SNAPSHOT_MTIME = 1 << 4,
	SNAPSHOT_DATA = 1 << 5,
	SNAPSHOT_LINK = 1 << 6,
	SNAPSHOT_XATTR = 1 << 7,
	SNAPSHOT_RDEV = 1 << 8,
	SNAPSHOT_SIZE = 1 << 9,
	SNAPSHOT_DELETED = 1 << 10,
	/* a directory removed and made again (a new inode): its layer entry
	 * gets an opaque marker and all of its contents are listed */
	SNAPSHOT_REPLACED = 1 << 11,
};

/* "new", "type,mtime", ... for trace lines. */
void snapshot_reasons_format(struct kiln_buf *out, unsigned reasons);

struct snapshot_change {
	char kind;     /* 'A' added, 'C' changed, 'D' deleted */
	unsigned why;  /* enum snapshot_reason bits */
	char *path;    /* relative to ROOT, with a leading '/' */
	uint32_t mode; /* type and permissions now (before, for 'D') */
};

struct snapshot_changes {
	struct snapshot_change *v;
	size_t nr, alloc;
};

void snapshot_changes_release(struct snapshot_changes *c);

struct snapshot_options {
	enum snapshot_mode mode;
	/* Paths relative to ROOT ("/proc", "/kiln") that are neither walked
	 * nor reported; directories on another device are skipped too. */
	const char *const *ignore;
	size_t nr_ignore;
	unsigned threads; /* 0: the CPUs this process may use */
};

struct snapshot;

/* root_fd is an O_PATH or O_DIRECTORY fd of ROOT, borrowed for s's life. */
int snapshot_new(struct snapshot **out, int root_fd, const struct snapshot_options *opts,
		 struct kiln_error *err);
void snapshot_free(struct snapshot *s);

/* Walk ROOT, diff against the table, update the table; out gets the
 * change set sorted bytewise by path (a deleted directory is one 'D'). */
int snapshot_take(struct snapshot_changes *out, struct snapshot *s, struct kiln_error *err);

/*
 * Hash hand-off: a snapshot whose change set becomes a layer need not read
 * the files the layer writer reads anyway. snapshot_take_deferred() is
 * snapshot_take() that, in full mode, leaves unread the content of regular
 * files that are in the change set whatever their bytes (new files, files
 * of a new type or size); the layer writer then hands each hash back with
 * snapshot_learn(), with the stat of the file it read. A hash is kept only
 * when that stat equals the one the walk recorded; a file never learned is
 * of unknown content, which is safe: a later change of its stat tuple
 * counts as a content change. The racy-timestamp rule holds as before.
 */
int snapshot_take_deferred(struct snapshot_changes *out, struct snapshot *s,
			   struct kiln_error *err);
void snapshot_learn(struct snapshot *s, const char *path, const struct snapshot_stat *st,
		    const struct snapshot_hash *content);
/* The tuple of a stat(2) result, as the snapshot records it. */
void snapshot_stat_from_stat(struct snapshot_stat *out, const struct stat *st);

/*
 * Seeding: whoever writes files into ROOT itself (the layer extractor)
 * tells the table what it wrote, so the first snapshot after unpacking
 * reads nothing again. snapshot_seed() stats dir_fd/name (path is its name
 * from ROOT, "/etc/passwd") and records it with the content hash computed
 * while writing (NULL for anything but a regular file). After a whiteout or
 * a replaced directory, snapshot_seed_forget() drops path and everything
 * below it. snapshot_seed_finish() closes a seeding run (racy marks).
 */
int snapshot_seed(struct snapshot *s, int dir_fd, const char *name, const char *path,
		  const struct snapshot_hash *content, struct kiln_error *err);
void snapshot_seed_forget(struct snapshot *s, const char *path);
void snapshot_seed_finish(struct snapshot *s);

/* A streaming content hash matching snapshot_hash_fd(), for writers. */
struct snapshot_hasher;
struct snapshot_hasher *snapshot_hasher_new(void);
void snapshot_hasher_update(struct snapshot_hasher *h, const void *data, size_t len);
/* Writes the hash and frees h. */
void snapshot_hasher_finish(struct snapshot_hasher *h, struct snapshot_hash *out);
void snapshot_hasher_free(struct snapshot_hasher *h);

/* Number of paths in the table. */
size_t snapshot_size(const struct snapshot *s);

/* Append "  xxHash <version>\n" for `executor version`. */
void snapshot_versions(struct kiln_buf *out);

#endif
