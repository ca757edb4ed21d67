/*
 * snapshot-int.h: what the snapshot module's files share; not public.
 */
#ifndef KILN_SNAPSHOT_INT_H
#define KILN_SNAPSHOT_INT_H

#include "compat.h"
#include "snapshot.h"

#include <pthread.h>
#include <sys/stat.h>

struct kiln_error;

/* ---- table.c: path -> what the last snapshot saw ---- */

enum table_flags {
	TABLE_HAS_CONTENT = 1 << 0, /* content hash is valid */
	TABLE_RACY = 1 << 1,	    /* ctime too recent to trust the tuple (diff.c) */
};

struct table_entry {
	char *path; /* "/a/b", owned */
	struct snapshot_stat st;
	struct snapshot_hash content;
	uint64_t link_hash;  /* symlink target */
	uint64_t xattr_hash; /* names and values, 0 when none */
	uint32_t gen;	     /* the snapshot generation that last saw it */
	uint8_t flags;
};

struct snapshot_table {
	struct table_entry *v;
	size_t nr, alloc;
	uint32_t *slots; /* open addressing: index + 1, 0 empty */
	size_t nr_slots;
};

void table_init(struct snapshot_table *t);
void table_release(struct snapshot_table *t);
/* Index of path, or -1. Safe from many threads while nothing writes. */
ssize_t table_find(const struct snapshot_table *t, const char *path);
/* Add path (taking ownership) and return its index. */
size_t table_add(struct snapshot_table *t, char *path);
/* Drop every entry whose gen is not gen; calls gone() for each first. */
void table_sweep(struct snapshot_table *t, uint32_t gen,
		 void (*gone)(void *ctx, const struct table_entry *e), void *ctx);

/* ---- walk.c: the parallel walker, an iterator over visited entries ---- */

struct walk_entry {
	char *path; /* "/a/b", owned until handed on */
	struct snapshot_stat st;
	ssize_t old; /* table index seen before, or -1 */
	unsigned why;
	char kind; /* 'A', 'C', or 0: only the table needs an update */
	struct snapshot_hash content;
	uint64_t link_hash, xattr_hash;
	uint8_t flags; /* TABLE_* for the new table entry */
};

/*
 * Called in a worker thread for each entry found (never for ROOT itself):
 * decide whether it matters. Return 1 to hand e to the consumer, 0 to
 * drop it (e.g. unchanged), <0 on error. dir_fd/name reach the entry.
 */
typedef int (*walk_visit_fn)(void *ctx, struct walk_entry *e, int dir_fd, const char *name,
			     struct kiln_error *err);

struct walk_options {
	int root_fd;
	const char *const *ignore; /* relative to ROOT, leading '/' */
	size_t nr_ignore;
	unsigned threads;
	walk_visit_fn visit;
	void *ctx;
};

struct snapshot_walk;

int walk_begin(struct snapshot_walk **out, const struct walk_options *opts, struct kiln_error *err);
/* 1 with *e (the caller takes ownership of e->path), 0 at the end, <0 on error. */
int walk_next(struct snapshot_walk *w, struct walk_entry *e, struct kiln_error *err);
void walk_free(struct snapshot_walk *w);

/* File times come from the kernel's coarse clock, which lags the real time
 * by up to one tick (1 to 10 ms depending on HZ): a ctime this close to the
 * moment we looked may hide a later write in the same tick. Container root
 * file systems (ext4, xfs, overlay, tmpfs) store nanoseconds. */
#define RACY_WINDOW_NS 20000000LL

struct snapshot {
	int root_fd;
	struct snapshot_options opts;
	char **ignore; /* owned copies */
	struct snapshot_table table;
	uint32_t gen;
	int64_t start_ns; /* when the current walk started */
	/* this walk leaves content the layer reads anyway to snapshot_learn()
	 * (snapshot_take_deferred); read by the walker threads */
	bool defer;
};

/* ---- helpers shared by walk.c, diff.c and seed.c ---- */

uint64_t snapshot_hash64(const void *data, size_t len);
/* Hash of all xattrs of name in dir_fd (0 when it has none). */
int snapshot_xattr_hash(uint64_t *out, int dir_fd, const char *name, const char *path,
			struct kiln_error *err);
unsigned snapshot_default_threads(void);
void snapshot_stat_from_statx(struct snapshot_stat *st, const struct statx *sx);
int snapshot_link_hash(struct walk_entry *e, int dir_fd, const char *name, struct kiln_error *err);
int64_t snapshot_now_ns(void);
bool snapshot_tuple_equal(const struct snapshot_stat *a, const struct snapshot_stat *b);

#endif
