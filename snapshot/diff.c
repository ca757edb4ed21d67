/*
 * diff.c: snapshot_take(), the table against the tree now.
 *
 * The walker's workers call classify() for every entry, reading only the
 * table (nothing writes it during a walk), so hashing runs in parallel.
 * After the walk the consumer applies the kept entries to the table and
 * sweeps what was not seen: those are the deletions.
 *
 * The racy-timestamp rule (as git applies it to its index): a file whose
 * ctime is within RACY_WINDOW_NS of the moment its snapshot started may
 * have been written again after we looked, in the same clock tick, leaving
 * a stat tuple identical to the one recorded. Such an entry is marked
 * TABLE_RACY and its content is hashed at the next snapshot even when its
 * tuple looks unchanged, so a write in the same tick is never missed.
 */
#include "compat.h"
#include "snapshot-int.h"
#include "alloc.h"
#include "buf.h"
#include "error.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <time.h>
#include <xxhash.h>

/* Limits for what a layer may carry in xattrs (the kernel's own caps). */
#define XATTR_LIST_MAX_BYTES  65536
#define XATTR_VALUE_MAX_BYTES 65536

int snapshot_mode_parse(enum snapshot_mode *out, const char *s, struct kiln_error *err)
{
	if (!strcmp(s, "full"))
		*out = SNAPSHOT_FULL;
	else if (!strcmp(s, "redo"))
		*out = SNAPSHOT_REDO;
	else if (!strcmp(s, "time"))
		*out = SNAPSHOT_TIME;
	else
		return kiln_err(err, KILN_EINVAL, 0,
				"unknown snapshot mode '%s'; use full, redo or time", s);
	return 0;
}

void snapshot_reasons_format(struct kiln_buf *out, unsigned reasons)
{
	static const char *const names[] = {
		"new",	"type",	 "perm", "owner", "mtime",   "data",
		"link", "xattr", "rdev", "size",  "deleted", "replaced"
	};
	bool first = true;

	for (size_t i = 0; i < KILN_ARRAY_SIZE(names); i++) {
		if (reasons & (1u << i)) {
			kiln_buf_addf(out, "%s%s", first ? "" : ",", names[i]);
			first = false;
		}
	}
}

uint64_t snapshot_hash64(const void *data, size_t len)
{
	return XXH3_64bits(data, len);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* listxattrat(2), Linux 6.13; the number is the same on every
 * architecture that uses the generic table. */
#if !defined(SYS_listxattrat) && (defined(__x86_64__) || defined(__aarch64__))
#define SYS_listxattrat 465
#endif

/*
 * The xattr names of dir_fd/name, the name itself if a symlink: one
 * lookup with listxattrat(2); older kernels (or a seccomp filter that
 * does not know it) through /proc/self/fd/N/name, a walk of five path
 * components twice as slow. Every entry a snapshot finds new or changed
 * comes this way.
 */
static ssize_t list_xattrs(const char *proc, int dir_fd, const char *name, char *list, size_t size)
{
#ifdef SYS_listxattrat
	ssize_t len = syscall(SYS_listxattrat, dir_fd, name, AT_SYMLINK_NOFOLLOW, list, size);

	if (len >= 0 || (errno != ENOSYS && errno != EPERM && errno != EINVAL))
		return len;
#else
	(void)dir_fd;
	(void)name;
#endif
	return llistxattr(proc, list, size);
}

/* Names and values, sorted by name, so the hash does not depend on the
 * order the file system lists them in. */
int snapshot_xattr_hash(uint64_t *out, int dir_fd, const char *name, const char *path,
			struct kiln_error *err)
{
	char *proc = xasprintf("/proc/self/fd/%d/%s", dir_fd, name);
	char *list = xmalloc(XATTR_LIST_MAX_BYTES), *val = NULL;
	const char **names = NULL;
	size_t nr = 0;
	XXH3_state_t *state = NULL;
	ssize_t len = list_xattrs(proc, dir_fd, name, list, XATTR_LIST_MAX_BYTES);
	int ret = 0;

	*out = 0;
	if (len <= 0) {
		if (len < 0 && errno != ENOTSUP && errno != ENOENT)
			ret = kiln_err(err, KILN_EIO, errno, "list xattrs of '%s'", path);
		goto out;
	}
	for (ssize_t off = 0; off < len; off += (ssize_t)strlen(list + off) + 1) {
		names = xreallocarray(names, nr + 1, sizeof(*names));
		names[nr++] = list + off;
	}
	qsort(names, nr, sizeof(*names), cmp_str);
	state = XXH3_createState();
	val = xmalloc(XATTR_VALUE_MAX_BYTES);
	XXH3_64bits_reset(state);
	for (size_t i = 0; i < nr; i++) {
		ssize_t vlen = lgetxattr(proc, names[i], val, XATTR_VALUE_MAX_BYTES);

		if (vlen < 0) {
			ret = kiln_err(err, KILN_EIO, errno, "read xattr '%s' of '%s'", names[i],
				       path);
			goto out;
		}
		XXH3_64bits_update(state, names[i], strlen(names[i]) + 1);
		XXH3_64bits_update(state, &vlen, sizeof(vlen));
		XXH3_64bits_update(state, val, (size_t)vlen);
	}
	*out = XXH3_64bits_digest(state) | 1; /* never 0: 0 means "none" */
out:
	if (state)
		XXH3_freeState(state);
	free(names);
	free(val);
	free(list);
	free(proc);
	return ret;
}

static int hash_content(struct walk_entry *e, int dir_fd, const char *name, struct kiln_error *err)
{
	int fd = openat(dir_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	int ret;

	if (fd < 0)
		return kiln_err(err, KILN_EIO, errno, "open '%s'", e->path);
	ret = snapshot_hash_fd(&e->content, fd, e->path, err);
	close(fd);
	if (ret == 0)
		e->flags |= TABLE_HAS_CONTENT;
	return ret;
}

int snapshot_link_hash(struct walk_entry *e, int dir_fd, const char *name, struct kiln_error *err)
{
	char target[4096];
	ssize_t n = readlinkat(dir_fd, name, target, sizeof(target));

	if (n < 0)
		return kiln_err(err, KILN_EIO, errno, "read link '%s'", e->path);
	e->link_hash = snapshot_hash64(target, (size_t)n);
	return 0;
}

/*
 * Is e's content going into the layer whatever it is? A new file, a path
 * that changed type, a file whose size changed: their bytes are read by
 * the layer writer anyway, which hands their hash back (snapshot_learn),
 * so a deferring walk does not read them too. A file with its old size is
 * hashed here: only its content can tell whether it changed.
 */
static bool content_deferred(const struct snapshot *s, const struct table_entry *o,
			     const struct walk_entry *e)
{
	return s->defer &&
	       (!o || (o->st.mode & S_IFMT) != (e->st.mode & S_IFMT) || o->st.size != e->st.size);
}

/* Read what full mode compares beyond the tuple: content, link, xattrs. */
static int read_extras(struct snapshot *s, struct walk_entry *e, const struct table_entry *o,
		       int dir_fd, const char *name, struct kiln_error *err)
{
	bool need_content = S_ISREG(e->st.mode) && !content_deferred(s, o, e);
	int ret;

	/* a different size already proves new content; hash it anyway so the
	 * next comparison has something to compare with (unless the layer
	 * writer hands the hash back: content_deferred) */
	if (need_content && (ret = hash_content(e, dir_fd, name, err)) < 0)
		return ret;
	if (S_ISLNK(e->st.mode) && (ret = snapshot_link_hash(e, dir_fd, name, err)) < 0)
		return ret;
	/* xattr changes move ctime, so an unchanged ctime needs no xattr read */
	if (o && o->st.ctime_ns == e->st.ctime_ns) {
		e->xattr_hash = o->xattr_hash;
		return 0;
	}
	return snapshot_xattr_hash(&e->xattr_hash, dir_fd, name, e->path, err);
}

bool snapshot_tuple_equal(const struct snapshot_stat *a, const struct snapshot_stat *b)
{
	return a->mode == b->mode && a->uid == b->uid && a->gid == b->gid && a->nlink == b->nlink &&
	       a->size == b->size && a->ino == b->ino && a->dev == b->dev && a->rdev == b->rdev &&
	       a->mtime_ns == b->mtime_ns && a->ctime_ns == b->ctime_ns;
}

static unsigned meta_reasons(enum snapshot_mode mode, const struct snapshot_stat *o,
			     const struct snapshot_stat *n)
{
	unsigned why = 0;

	if (o->mtime_ns != n->mtime_ns)
		why |= SNAPSHOT_MTIME;
	if (mode == SNAPSHOT_TIME)
		return why;
	if ((o->mode & S_IFMT) != (n->mode & S_IFMT))
		why |= SNAPSHOT_TYPE;
	if ((o->mode & 07777) != (n->mode & 07777))
		why |= SNAPSHOT_PERM;
	if (o->uid != n->uid || o->gid != n->gid)
		why |= SNAPSHOT_OWNER;
	if (mode == SNAPSHOT_REDO && o->size != n->size)
		why |= SNAPSHOT_SIZE;
	if (mode == SNAPSHOT_FULL && o->rdev != n->rdev)
		why |= SNAPSHOT_RDEV;
	return why;
}

static unsigned extra_reasons(const struct table_entry *o, const struct walk_entry *e)
{
	unsigned why = 0;

	/* no content for e: deferred, since its size changed */
	if (S_ISREG(e->st.mode) &&
	    (!(o->flags & TABLE_HAS_CONTENT) || !(e->flags & TABLE_HAS_CONTENT) ||
	     !snapshot_hash_eq(&o->content, &e->content)))
		why |= SNAPSHOT_DATA;
	if (S_ISLNK(e->st.mode) && o->link_hash != e->link_hash)
		why |= SNAPSHOT_LINK;
	if (o->xattr_hash != e->xattr_hash)
		why |= SNAPSHOT_XATTR;
	return why;
}

static void mark_racy(const struct snapshot *s, struct walk_entry *e)
{
	if (S_ISREG(e->st.mode) && e->st.ctime_ns >= s->start_ns - RACY_WINDOW_NS)
		e->flags |= TABLE_RACY;
}

/* The walker's visit callback: runs in worker threads. */
static int classify(void *ctx, struct walk_entry *e, int dir_fd, const char *name,
		    struct kiln_error *err)
{
	struct snapshot *s = ctx;
	ssize_t idx = table_find(&s->table, e->path);
	struct table_entry *o = idx >= 0 ? &s->table.v[idx] : NULL;
	bool full = s->opts.mode == SNAPSHOT_FULL;
	int ret;

	e->old = idx;
	if (o)
		o->gen = s->gen; /* seen: not a deletion (only this worker touches o) */
	if (o && snapshot_tuple_equal(&o->st, &e->st) && !(full && (o->flags & TABLE_RACY)))
		return 0;
	if (full && (ret = read_extras(s, e, o, dir_fd, name, err)) < 0)
		return ret;
	mark_racy(s, e);
	if (!o) {
		e->kind = 'A';
		e->why = SNAPSHOT_NEW;
		return 1;
	}
	e->why = meta_reasons(s->opts.mode, &o->st, &e->st);
	if (full && !(e->why & SNAPSHOT_TYPE))
		e->why |= extra_reasons(o, e);
	if (e->why & SNAPSHOT_TYPE)
		e->why |= SNAPSHOT_DATA;
	/* A file system may hand a new directory its old inode number; then
	 * this is missed and the layer uses one whiteout per removed child
	 * instead of an opaque marker, which unpacks to the same tree. */
	if (S_ISDIR(o->st.mode) && S_ISDIR(e->st.mode) && o->st.ino != e->st.ino)
		e->why |= SNAPSHOT_REPLACED;
	e->kind = e->why ? 'C' : 0;
	return 1;
}

int snapshot_new(struct snapshot **out, int root_fd, const struct snapshot_options *opts,
		 struct kiln_error *err)
{
	struct snapshot *s = xcalloc(1, sizeof(*s));

	(void)err;
	s->root_fd = root_fd;
	s->opts = *opts;
	s->ignore = xcalloc(opts->nr_ignore + 1, sizeof(*s->ignore));
	for (size_t i = 0; i < opts->nr_ignore; i++)
		s->ignore[i] = xstrdup(opts->ignore[i]);
	s->opts.ignore = (const char *const *)s->ignore;
	table_init(&s->table);
	*out = s;
	return 0;
}

void snapshot_free(struct snapshot *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->opts.nr_ignore; i++)
		free(s->ignore[i]);
	free(s->ignore);
	table_release(&s->table);
	free(s);
}

size_t snapshot_size(const struct snapshot *s)
{
	return s->table.nr;
}

void snapshot_changes_release(struct snapshot_changes *c)
{
	for (size_t i = 0; i < c->nr; i++)
		free(c->v[i].path);
	free(c->v);
	memset(c, 0, sizeof(*c));
}

static void changes_add(struct snapshot_changes *c, char kind, unsigned why, const char *path,
			uint32_t mode)
{
	if (c->nr == c->alloc) {
		c->alloc = c->alloc ? st_mult(c->alloc, 2) : 64;
		c->v = xreallocarray(c->v, c->alloc, sizeof(*c->v));
	}
	c->v[c->nr++] = (struct snapshot_change){ kind, why, xstrdup(path), mode };
}

/* Apply one kept entry to the table (single-threaded, after the walk). */
static void apply(struct snapshot *s, struct walk_entry *e, struct snapshot_changes *out)
{
	size_t idx = e->old >= 0 ? (size_t)e->old : table_add(&s->table, xstrdup(e->path));
	struct table_entry *t = &s->table.v[idx];

	if (e->kind)
		changes_add(out, e->kind, e->why, e->path, e->st.mode);
	t->st = e->st;
	t->gen = s->gen;
	t->flags = e->flags;
	t->content = e->content;
	t->link_hash = e->link_hash;
	t->xattr_hash = e->xattr_hash;
}

static void record_deletion(void *ctx, const struct table_entry *e)
{
	changes_add(ctx, 'D', SNAPSHOT_DELETED, e->path, e->st.mode);
}

static int cmp_change(const void *a, const void *b)
{
	return strcmp(((const struct snapshot_change *)a)->path,
		      ((const struct snapshot_change *)b)->path);
}

static bool covers(const struct snapshot_change *p)
{
	return p->kind == 'D' || (p->kind == 'C' && (p->why & (SNAPSHOT_TYPE | SNAPSHOT_REPLACED)));
}

/* Is an ancestor of c->path a deletion or a type change in the sorted v? */
static bool ancestor_covers(const struct snapshot_changes *c, const char *path)
{
	struct kiln_buf anc = KILN_BUF_INIT;
	const char *slash;
	bool found = false;

	for (slash = strchr(path + 1, '/'); slash && !found; slash = strchr(slash + 1, '/')) {
		struct snapshot_change key = { 0 };
		const struct snapshot_change *hit;

		kiln_buf_reset(&anc);
		kiln_buf_add(&anc, path, (size_t)(slash - path));
		key.path = anc.buf;
		hit = bsearch(&key, c->v, c->nr, sizeof(*c->v), cmp_change);
		found = hit && covers(hit);
	}
	kiln_buf_release(&anc);
	return found;
}

/*
 * Sort, then drop deletions below a deleted directory or below a directory
 * that became something else: one whiteout (or the replacing entry) stands
 * for the whole subtree. Sorting is bytewise, so a parent always comes
 * before its children (but siblings such as "/a-b" may sit between them).
 */
static void finish_changes(struct snapshot_changes *c)
{
	bool *drop;
	size_t keep = 0;

	if (!c->nr)
		return;
	qsort(c->v, c->nr, sizeof(*c->v), cmp_change);
	drop = xcalloc(c->nr + 1, sizeof(*drop));
	for (size_t i = 0; i < c->nr; i++)
		drop[i] = c->v[i].kind == 'D' && ancestor_covers(c, c->v[i].path);
	for (size_t i = 0; i < c->nr; i++) {
		if (drop[i])
			free(c->v[i].path);
		else
			c->v[keep++] = c->v[i];
	}
	c->nr = keep;
	free(drop);
}

static bool in_changes(const struct snapshot_changes *c, size_t nr, const char *path)
{
	for (size_t i = 0; i < nr; i++) {
		if (!strcmp(c->v[i].path, path))
			return true;
	}
	return false;
}

/*
 * An opaque directory hides everything lower layers put in it, so the layer
 * must carry all of its contents, changed or not: add what the table holds
 * below each replaced directory as 'A'. Replaced directories are rare, so
 * the scans stay cheap.
 */
static void list_replaced_contents(struct snapshot *s, struct snapshot_changes *c)
{
	size_t nr = c->nr;

	for (size_t i = 0; i < nr; i++) {
		const char *dir = c->v[i].path;
		size_t n = strlen(dir);

		if (!(c->v[i].why & SNAPSHOT_REPLACED))
			continue;
		for (size_t j = 0; j < s->table.nr; j++) {
			const struct table_entry *t = &s->table.v[j];

			if (!strncmp(t->path, dir, n) && t->path[n] == '/' &&
			    !in_changes(c, c->nr, t->path))
				changes_add(c, 'A', SNAPSHOT_NEW, t->path, t->st.mode);
		}
	}
}

int64_t snapshot_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int take(struct snapshot_changes *out, struct snapshot *s, struct kiln_error *err)
{
	struct walk_options wo = {
		.root_fd = s->root_fd,
		.ignore = s->opts.ignore,
		.nr_ignore = s->opts.nr_ignore,
		.threads = s->opts.threads,
		.visit = classify,
		.ctx = s,
	};
	struct snapshot_walk *w = NULL;
	struct walk_entry e, *kept = NULL;
	size_t nr_kept = 0, alloc_kept = 0;
	int ret;

	memset(out, 0, sizeof(*out));
	s->gen++;
	s->start_ns = snapshot_now_ns();
	ret = walk_begin(&w, &wo, err);
	if (ret < 0)
		return ret;
	/* the table is read by the workers until the walk ends: collect first */
	while ((ret = walk_next(w, &e, err)) == 1) {
		if (nr_kept == alloc_kept) {
			alloc_kept = alloc_kept ? st_mult(alloc_kept, 2) : 256;
			kept = xreallocarray(kept, alloc_kept, sizeof(*kept));
		}
		kept[nr_kept++] = e;
	}
	walk_free(w);
	for (size_t i = 0; i < nr_kept; i++) {
		if (ret == 0)
			apply(s, &kept[i], out);
		free(kept[i].path);
	}
	free(kept);
	if (ret < 0) {
		snapshot_changes_release(out);
		return ret;
	}
	table_sweep(&s->table, s->gen, record_deletion, out);
	list_replaced_contents(s, out);
	finish_changes(out);
	return 0;
}

int snapshot_take(struct snapshot_changes *out, struct snapshot *s, struct kiln_error *err)
{
	s->defer = false;
	return take(out, s, err);
}

int snapshot_take_deferred(struct snapshot_changes *out, struct snapshot *s, struct kiln_error *err)
{
	int ret;

	s->defer = s->opts.mode == SNAPSHOT_FULL;
	ret = take(out, s, err);
	s->defer = false;
	return ret;
}

/*
 * The hash is taken only for the file the table describes: a tuple that
 * differs means the file changed since the walk, and the next snapshot
 * must find that out by itself. The racy mark stays: a write after the
 * layer read, in the clock tick the tuple was taken in, leaves the tuple
 * as it is, and only re-hashing at the next snapshot sees it.
 */
void snapshot_learn(struct snapshot *s, const char *path, const struct snapshot_stat *st,
		    const struct snapshot_hash *content)
{
	ssize_t idx = table_find(&s->table, path);
	struct table_entry *t;

	if (idx < 0)
		return;
	t = &s->table.v[idx];
	if (!S_ISREG(t->st.mode) || (t->flags & TABLE_HAS_CONTENT) ||
	    !snapshot_tuple_equal(&t->st, st))
		return;
	t->content = *content;
	t->flags |= TABLE_HAS_CONTENT;
}
