#include "compat.h"
#include "layer.h"
#include "alloc.h"
#include "buf.h"
#include "error.h"
#include "fileio.h"
#include "snapshot.h"
#include "stream.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

/* The kernel's own limits on xattrs (XATTR_LIST_MAX, XATTR_SIZE_MAX), and
 * a cap on all of one file's xattr values together: a header is built in
 * memory, so a hostile tree must not make it arbitrarily large. */
#define XATTR_LIST_CAP	65536
#define XATTR_VALUE_CAP 65536
#define XATTR_TOTAL_CAP (1u << 20)
/* Linux symlink targets are shorter than PATH_MAX. */
#define LINK_TARGET_CAP 4096
#define READ_CHUNK	(256 * 1024)
#define WHITEOUT_PREFIX ".wh."
#define WHITEOUT_OPAQUE ".wh..wh..opq"
#define PAX_HEADER_NAME "././@PaxHeader"

/* ------------------------------------------------------------------------
 * Header encoding
 */

/* Offsets and widths of the ustar header fields (POSIX pax, "ustar"). */
enum {
	F_NAME = 0,
	F_MODE = 100,
	F_UID = 108,
	F_GID = 116,
	F_SIZE = 124,
	F_MTIME = 136,
	F_CHKSUM = 148,
	F_TYPE = 156,
	F_LINK = 157,
	F_MAGIC = 257,
	F_DEVMAJOR = 329,
	F_DEVMINOR = 337,
	NAME_MAX_USTAR = 100,
};

/* Does v fit a width-byte octal field (width - 1 digits and a NUL)? */
static bool octal_fits(uint64_t v, size_t width)
{
	return (width - 1) * 3 >= 64 || v < (UINT64_C(1) << (3 * (width - 1)));
}

/* Zero-padded octal and a NUL; a value that does not fit is written as 0
 * and carried by a PAX record instead. */
static void put_octal(unsigned char *field, size_t width, uint64_t v)
{
	if (!octal_fits(v, width))
		v = 0;
	field[width - 1] = '\0';
	for (size_t i = width - 1; i-- > 0; v >>= 3)
		field[i] = (unsigned char)('0' + (v & 7));
}

static void put_str(unsigned char *field, size_t width, const char *s)
{
	size_t n = strlen(s);

	memcpy(field, s, n < width ? n : width);
}

/* One PAX record, "LEN KEY=VALUE\n", where LEN counts its own digits. */
static void pax_record(struct kiln_buf *pax, const char *key, const void *val, size_t vlen)
{
	size_t body = strlen(key) + vlen + 3, len = body + 1, want;
	char digits[24];

	for (;;) {
		want = body + (size_t)snprintf(digits, sizeof(digits), "%zu", len);
		if (want == len)
			break;
		len = want;
	}
	kiln_buf_addf(pax, "%zu %s=", len, key);
	kiln_buf_add(pax, val, vlen);
	kiln_buf_addch(pax, '\n');
}

static void pax_number(struct kiln_buf *pax, const char *key, long long v)
{
	char num[24];
	int n = snprintf(num, sizeof(num), "%lld", v);

	pax_record(pax, key, num, (size_t)n);
}

static void ustar_block(struct kiln_buf *out, const char *name, char type, uint32_t mode,
			uint64_t size, const struct layer_tar_entry *e)
{
	unsigned char b[LAYER_TAR_BLOCK] = { 0 };
	unsigned sum = 0;

	put_str(b + F_NAME, NAME_MAX_USTAR, name);
	put_octal(b + F_MODE, 8, mode & 07777);
	put_octal(b + F_UID, 8, e ? e->uid : 0);
	put_octal(b + F_GID, 8, e ? e->gid : 0);
	put_octal(b + F_SIZE, 12, size);
	put_octal(b + F_MTIME, 12, e && e->mtime > 0 ? (uint64_t)e->mtime : 0);
	b[F_TYPE] = (unsigned char)type;
	if (e && e->linkname)
		put_str(b + F_LINK, NAME_MAX_USTAR, e->linkname);
	memcpy(b + F_MAGIC,
	       "ustar\0"
	       "00",
	       8);
	put_octal(b + F_DEVMAJOR, 8, e ? e->devmajor : 0);
	put_octal(b + F_DEVMINOR, 8, e ? e->devminor : 0);
	/* the checksum is summed with its own field as blanks */
	memset(b + F_CHKSUM, ' ', 8);
	for (size_t i = 0; i < sizeof(b); i++)
		sum += b[i];
	put_octal(b + F_CHKSUM, 7, sum);
	kiln_buf_add(out, b, sizeof(b));
}

static void pad_block(struct kiln_buf *out, size_t len)
{
	static const char zeros[LAYER_TAR_BLOCK];

	if (len % LAYER_TAR_BLOCK)
		kiln_buf_add(out, zeros, LAYER_TAR_BLOCK - len % LAYER_TAR_BLOCK);
}

static int check_entry(const struct layer_tar_entry *e, struct kiln_error *err)
{
	if (!e->name[0])
		return kiln_err(err, KILN_EINVAL, 0, "tar entry with an empty name");
	/* Linux device numbers are 12 + 20 bits, within 7 octal digits */
	if (!octal_fits(e->devmajor, 8) || !octal_fits(e->devminor, 8))
		return kiln_err(err, KILN_EINVAL, 0, "device number of '%s' is too large", e->name);
	for (size_t i = 0; i < e->nr_xattrs; i++) {
		const char *n = e->xattrs[i].name;

		/* a PAX keyword ends at the first '=' */
		if (!n[0] || strchr(n, '='))
			return kiln_err(err, KILN_EINVAL, 0,
					"xattr '%s' of '%s' cannot be stored in a tar", n, e->name);
	}
	return 0;
}

/* The PAX records e needs: whatever ustar cannot hold, and the xattrs. */
static void pax_records(struct kiln_buf *pax, const struct layer_tar_entry *e)
{
	struct kiln_buf key = KILN_BUF_INIT;

	if (strlen(e->name) > NAME_MAX_USTAR)
		pax_record(pax, "path", e->name, strlen(e->name));
	if (e->linkname && strlen(e->linkname) > NAME_MAX_USTAR)
		pax_record(pax, "linkpath", e->linkname, strlen(e->linkname));
	if (!octal_fits(e->size, 12))
		pax_number(pax, "size", (long long)e->size);
	if (!octal_fits(e->uid, 8))
		pax_number(pax, "uid", (long long)e->uid);
	if (!octal_fits(e->gid, 8))
		pax_number(pax, "gid", (long long)e->gid);
	if (e->mtime < 0 || !octal_fits((uint64_t)e->mtime, 12))
		pax_number(pax, "mtime", (long long)e->mtime);
	for (size_t i = 0; i < e->nr_xattrs; i++) {
		kiln_buf_setstr(&key, "SCHILY.xattr.");
		kiln_buf_addstr(&key, e->xattrs[i].name);
		pax_record(pax, key.buf, e->xattrs[i].value, e->xattrs[i].len);
	}
	kiln_buf_release(&key);
}

int layer_tar_header(struct kiln_buf *out, const struct layer_tar_entry *e, struct kiln_error *err)
{
	struct kiln_buf pax = KILN_BUF_INIT;
	int ret = check_entry(e, err);

	if (ret < 0)
		return ret;
	pax_records(&pax, e);
	if (pax.len) {
		/* a fixed name and no owner or time: the bytes depend on e only */
		ustar_block(out, PAX_HEADER_NAME, 'x', 0644, pax.len, NULL);
		kiln_buf_addbuf(out, &pax);
		pad_block(out, pax.len);
	}
	ustar_block(out, e->name, e->type, e->mode, e->type == '0' ? e->size : 0, e);
	kiln_buf_release(&pax);
	return 0;
}

/* ------------------------------------------------------------------------
 * The entry list: changes, their parent directories, whiteouts
 */

enum entry_kind {
	ENTRY_CHANGED = 'C', /* an added or changed path, from the change set */
	ENTRY_PARENT = 'P',  /* a parent directory of a changed path */
	ENTRY_WHITEOUT = 'W',
};

struct entry {
	char *path; /* from ROOT with a leading '/'; a whiteout's is its own name */
	char kind;
	uint32_t mode; /* the type the snapshot saw (S_IFDIR for parents) */
};

struct entries {
	struct entry *v;
	size_t nr, alloc;
};

static void entries_add(struct entries *l, char *path, char kind, uint32_t mode)
{
	if (l->nr == l->alloc) {
		l->alloc = l->alloc ? st_mult(l->alloc, 2) : 64;
		l->v = xreallocarray(l->v, l->alloc, sizeof(*l->v));
	}
	l->v[l->nr++] = (struct entry){ path, kind, mode };
}

static void entries_release(struct entries *l)
{
	for (size_t i = 0; i < l->nr; i++)
		free(l->v[i].path);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* Is p the directory d (d_len bytes) or below it? */
static bool at_or_below(const char *p, const char *d, size_t d_len)
{
	return p && !strncmp(p, d, d_len) && (p[d_len] == '\0' || p[d_len] == '/');
}

/*
 * Add the parent directories of path. In bytewise order everything below a
 * directory is contiguous, so the parents the previous path shares were
 * added with it; the rest are new. (Duplicates would only cost memory: the
 * list is sorted and deduplicated afterwards.)
 */
static void add_parents(struct entries *l, const char *path, const char *prev)
{
	for (const char *s = strchr(path + 1, '/'); s; s = strchr(s + 1, '/')) {
		size_t len = (size_t)(s - path);

		if (!at_or_below(prev, path, len))
			entries_add(l, xstrndup(path, len), ENTRY_PARENT, S_IFDIR);
	}
}

static char *whiteout_path(const char *path)
{
	const char *base = strrchr(path, '/') + 1;

	return xasprintf("%.*s" WHITEOUT_PREFIX "%s", (int)(base - path), path, base);
}

static int cmp_entry(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	int c = strcmp(x->path, y->path);

	/* the change wins over a parent of the same path: it comes first */
	return c ? c : (x->kind == ENTRY_PARENT) - (y->kind == ENTRY_PARENT);
}

static void sort_unique(struct entries *l)
{
	size_t keep = 0;

	qsort(l->v, l->nr, sizeof(*l->v), cmp_entry);
	for (size_t i = 0; i < l->nr; i++) {
		if (keep && !strcmp(l->v[keep - 1].path, l->v[i].path))
			free(l->v[i].path);
		else
			l->v[keep++] = l->v[i];
	}
	l->nr = keep;
}

static bool reserved_name(const char *path)
{
	return !strncmp(strrchr(path, '/') + 1, WHITEOUT_PREFIX, strlen(WHITEOUT_PREFIX));
}

/* "/a/b": absolute, no empty, "." or ".." component, no trailing '/'. A
 * change set from the snapshot is always clean; checking keeps a tar name
 * from ever climbing out of the layer whatever the caller passes. */
static bool clean_path(const char *p)
{
	if (p[0] != '/')
		return false;
	for (const char *s = p; *s == '/';) {
		const char *e = strchrnul(s + 1, '/');
		size_t n = (size_t)(e - s - 1);

		if (!n || (n == 1 && s[1] == '.') || (n == 2 && s[1] == '.' && s[2] == '.'))
			return false;
		s = e;
	}
	return true;
}

static int collect(struct entries *l, const struct snapshot_changes *c, struct kiln_error *err)
{
	const char *prev = NULL;

	for (size_t i = 0; i < c->nr; i++) {
		const char *p = c->v[i].path;

		if (!strcmp(p, "/"))
			continue; /* ROOT itself is never an entry */
		if (!clean_path(p))
			return kiln_err(err, KILN_EINVAL, 0,
					"change '%s' is not a clean path from ROOT", p);
		/* extractors would take such a file for a whiteout and delete
		 * things: refuse rather than write a layer that lies */
		if (reserved_name(p))
			return kiln_err(err, KILN_EINVAL, 0,
					"'%s': names starting with '" WHITEOUT_PREFIX
					"' are reserved for whiteouts in image layers",
					p);
		add_parents(l, p, prev);
		if (c->v[i].kind == 'D') {
			entries_add(l, whiteout_path(p), ENTRY_WHITEOUT, 0);
		} else {
			entries_add(l, xstrdup(p), ENTRY_CHANGED, c->v[i].mode);
			/* a directory made anew: hide what lower layers had in it */
			if (S_ISDIR(c->v[i].mode) && (c->v[i].why & SNAPSHOT_REPLACED))
				entries_add(l, xasprintf("%s/" WHITEOUT_OPAQUE, p), ENTRY_WHITEOUT,
					    0);
		}
		prev = p;
	}
	sort_unique(l);
	return 0;
}

/* ------------------------------------------------------------------------
 * Hardlinks: (dev, ino) -> the tar name of the inode's first entry
 */

struct link_slot {
	uint64_t dev, ino;
	char *name;		      /* NULL: empty slot */
	struct snapshot_hash content; /* of the first entry, when learned */
	bool hashed;
};

struct links {
	struct link_slot *v;
	size_t nr, size; /* size is 0 or a power of two */
};

static size_t link_hash(uint64_t dev, uint64_t ino)
{
	uint64_t h = (ino ^ (dev << 32) ^ (dev >> 32)) * UINT64_C(0x9e3779b97f4a7c15);

	return (size_t)(h >> 17);
}

static struct link_slot *links_slot(struct links *m, uint64_t dev, uint64_t ino)
{
	size_t i = link_hash(dev, ino) & (m->size - 1);

	while (m->v[i].name && (m->v[i].dev != dev || m->v[i].ino != ino))
		i = (i + 1) & (m->size - 1);
	return &m->v[i];
}

static void links_grow(struct links *m)
{
	struct links bigger = { .size = m->size ? st_mult(m->size, 2) : 64 };

	bigger.v = xcalloc(bigger.size, sizeof(*bigger.v));
	for (size_t i = 0; i < m->size; i++)
		if (m->v[i].name)
			*links_slot(&bigger, m->v[i].dev, m->v[i].ino) = m->v[i];
	bigger.nr = m->nr;
	free(m->v);
	*m = bigger;
}

/* The slot of the inode's first entry, or NULL after recording name as
 * its first. */
static const struct link_slot *links_first(struct links *m, const struct stat *st, const char *name)
{
	struct link_slot *s;

	if (2 * (m->nr + 1) > m->size)
		links_grow(m);
	s = links_slot(m, st->st_dev, st->st_ino);
	if (s->name)
		return s;
	*s = (struct link_slot){ .dev = st->st_dev, .ino = st->st_ino, .name = xstrdup(name) };
	m->nr++;
	return NULL;
}

/* Remember the content hash of an inode written first under a name. */
static void links_set_hash(struct links *m, const struct stat *st,
			   const struct snapshot_hash *content)
{
	struct link_slot *s;

	if (!m->size)
		return;
	s = links_slot(m, st->st_dev, st->st_ino);
	if (s->name) {
		s->content = *content;
		s->hashed = true;
	}
}

static void links_release(struct links *m)
{
	for (size_t i = 0; i < m->size; i++)
		free(m->v[i].name);
	free(m->v);
	memset(m, 0, sizeof(*m));
}

/* ------------------------------------------------------------------------
 * Reading the tree
 */

struct tar_ctx {
	struct kiln_writer *out;
	int root_fd;
	const struct layer_options *opts;
	struct links links;
	struct kiln_buf hdr;
	unsigned char *chunk; /* READ_CHUNK bytes */
};

/* Open path (from ROOT, leading '/') below ROOT without following any
 * symlink on the way or at the end. */
static int open_beneath(int root_fd, const char *path, int flags)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_NOFOLLOW | O_CLOEXEC),
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	int fd;

	do
		fd = (int)syscall(SYS_openat2, root_fd, path + 1, &how, sizeof(how));
	while (fd < 0 && (errno == EAGAIN || errno == EINTR));
	return fd;
}

static int64_t entry_mtime(const struct tar_ctx *t, int64_t mtime)
{
	return t->opts->clamp && mtime > t->opts->clamp_mtime ? t->opts->clamp_mtime : mtime;
}

/* Xattrs the image should not carry: host SELinux labels (the runtime
 * labels containers itself) and overlayfs's bookkeeping. */
static bool skip_xattr(const char *name)
{
	return !strcmp(name, "security.selinux") || !strncmp(name, "trusted.overlay.", 16) ||
	       !strncmp(name, "user.overlay.", 13);
}

static int cmp_xattr(const void *a, const void *b)
{
	return strcmp(((const struct layer_xattr *)a)->name, ((const struct layer_xattr *)b)->name);
}

struct xattrs {
	char *list;
	struct layer_xattr *v;
	size_t nr;
};

static void xattrs_release(struct xattrs *x)
{
	for (size_t i = 0; i < x->nr; i++)
		free((void *)x->v[i].value);
	free(x->v);
	free(x->list);
	memset(x, 0, sizeof(*x));
}

/* fd opened for reading (readable) is asked directly; an O_PATH fd,
 * which the f*xattr calls refuse, through /proc/self/fd/N, whose
 * following reaches the inode itself, symlinks too. */
struct xattr_src {
	int fd;
	bool readable;
	char proc[64];
};

static ssize_t src_list(const struct xattr_src *src, char *list, size_t size)
{
	return src->readable ? flistxattr(src->fd, list, size) : listxattr(src->proc, list, size);
}

static ssize_t src_get(const struct xattr_src *src, const char *name, void *val, size_t size)
{
	return src->readable ? fgetxattr(src->fd, name, val, size)
			     : getxattr(src->proc, name, val, size);
}

static int xattr_value(struct layer_xattr *out, const struct xattr_src *src, const char *name,
		       const char *path, struct kiln_error *err)
{
	char *val = xmalloc(XATTR_VALUE_CAP);
	ssize_t n = src_get(src, name, val, XATTR_VALUE_CAP);

	if (n < 0) {
		free(val);
		return kiln_err(err, KILN_EIO, errno, "read xattr '%s' of '%s'", name, path);
	}
	*out = (struct layer_xattr){ name, xrealloc(val, (size_t)n + 1), (size_t)n };
	return 0;
}

/* The xattrs of the file behind fd, sorted by name: the order the file
 * system lists them in is not stable across copies of the tree. */
static int read_xattrs(struct xattrs *x, int fd, bool readable, const char *path,
		       struct kiln_error *err)
{
	struct xattr_src src = { .fd = fd, .readable = readable };
	ssize_t len;
	size_t total = 0;
	int ret = 0;

	snprintf(src.proc, sizeof(src.proc), "/proc/self/fd/%d", fd);
	x->list = xmalloc(XATTR_LIST_CAP);
	len = src_list(&src, x->list, XATTR_LIST_CAP);
	if (len < 0 && errno != ENOTSUP)
		return kiln_err(err, KILN_EIO, errno, "list xattrs of '%s' (is /proc mounted?)",
				path);
	for (ssize_t off = 0; off < len && ret == 0; off += (ssize_t)strlen(x->list + off) + 1) {
		const char *name = x->list + off;

		if (skip_xattr(name))
			continue;
		x->v = xreallocarray(x->v, x->nr + 1, sizeof(*x->v));
		if ((ret = xattr_value(&x->v[x->nr], &src, name, path, err)) < 0)
			break;
		total += x->v[x->nr++].len;
		if (total > XATTR_TOTAL_CAP)
			ret = kiln_err(err, KILN_EINVAL, 0, "xattrs of '%s' exceed %u bytes", path,
				       XATTR_TOTAL_CAP);
	}
	if (x->nr)
		qsort(x->v, x->nr, sizeof(*x->v), cmp_xattr);
	return ret;
}

static int read_link(struct kiln_buf *target, int fd, const struct stat *st, const char *path,
		     struct kiln_error *err)
{
	ssize_t n;

	kiln_buf_grow(target, LINK_TARGET_CAP);
	n = readlinkat(fd, "", target->buf, LINK_TARGET_CAP);
	if (n < 0)
		return kiln_err(err, KILN_EIO, errno, "read link '%s'", path);
	if (n >= LINK_TARGET_CAP || (uint64_t)n != (uint64_t)st->st_size)
		return kiln_err(err, KILN_EIO, 0, "link '%s' changed while the layer was written",
				path);
	kiln_buf_setlen(target, (size_t)n);
	return 0;
}

static char tar_type(mode_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG:
		return '0';
	case S_IFLNK:
		return '2';
	case S_IFCHR:
		return '3';
	case S_IFBLK:
		return '4';
	case S_IFDIR:
		return '5';
	case S_IFIFO:
		return '6';
	default:
		return 0; /* sockets (and anything unknown) have no tar form */
	}
}

/* ------------------------------------------------------------------------
 * Writing entries
 */

static int flush_hdr(struct tar_ctx *t, struct kiln_error *err)
{
	int ret = kiln_writer_write(t->out, t->hdr.buf, t->hdr.len, err);

	kiln_buf_reset(&t->hdr);
	return ret;
}

static int put_header(struct tar_ctx *t, const struct layer_tar_entry *e, struct kiln_error *err)
{
	int ret = layer_tar_header(&t->hdr, e, err);

	return ret < 0 ? ret : flush_hdr(t, err);
}

/* Copy exactly the size the header announced; a file that shrank or grew
 * since its stat would make the tar lie, so it fails the layer. h (when
 * not NULL) hashes the bytes as they go by. */
static int copy_content(struct tar_ctx *t, int fd, uint64_t size, const char *path,
			struct snapshot_hasher *h, struct kiln_error *err)
{
	uint64_t left = size;
	bool at_end = false;
	ssize_t n;
	int ret = 0;

	while (left && ret == 0) {
		/* a byte more than is left, so the read of the end tells
		 * whether the file grew (a short read of a regular file is
		 * its end) and small files take one read, not two */
		n = read(fd, t->chunk, left < READ_CHUNK ? (size_t)left + 1 : READ_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return kiln_err(err, KILN_EIO, n < 0 ? errno : 0,
					n < 0 ? "read '%s'"
					      : "'%s' shrank while the layer was written",
					path);
		if ((uint64_t)n > left)
			return kiln_err(err, KILN_EIO, 0, "'%s' grew while the layer was written",
					path);
		at_end = (uint64_t)n == left && left < READ_CHUNK;
		left -= (uint64_t)n;
		if (h)
			snapshot_hasher_update(h, t->chunk, (size_t)n);
		ret = kiln_writer_write(t->out, t->chunk, (size_t)n, err);
	}
	if (ret == 0 && !at_end && read(fd, t->chunk, 1) > 0)
		return kiln_err(err, KILN_EIO, 0, "'%s' grew while the layer was written", path);
	pad_block(&t->hdr, (size_t)(size % LAYER_TAR_BLOCK));
	return ret < 0 ? ret : flush_hdr(t, err);
}

static int write_whiteout(struct tar_ctx *t, const char *path, struct kiln_error *err)
{
	/* no owner, mode or time of its own: only the name means anything */
	struct layer_tar_entry e = { .name = path + 1, .type = '0', .mtime = entry_mtime(t, 0) };

	return put_header(t, &e, err);
}

/* Hand the hash of the file just read to the snapshot, with the stat it
 * was read under (snapshot_learn keeps it only if the walk saw the same). */
static void learn(struct tar_ctx *t, const char *path, const struct stat *st,
		  const struct snapshot_hash *content)
{
	struct snapshot_stat ss;

	snapshot_stat_from_stat(&ss, st);
	snapshot_learn(t->opts->learn, path, &ss, content);
}

/* The header and content of a regular file; rfd is the file opened for
 * reading as stat'ed in st, or -1 to open it here. */
static int write_file(struct tar_ctx *t, struct layer_tar_entry *e, int rfd, const struct stat *st,
		      const char *path, struct kiln_error *err)
{
	int fd = rfd >= 0 ? rfd : open_beneath(t->root_fd, path, O_RDONLY | O_NONBLOCK | O_NOCTTY);
	struct snapshot_hasher *h = NULL;
	struct snapshot_hash content;
	struct stat now;
	int ret;

	if (fd < 0)
		return kiln_err(err, KILN_EIO, errno, "open '%s'", path);
	if (fd == rfd) {
		now = *st;
	} else if (fstat(fd, &now) < 0 || now.st_ino != st->st_ino || now.st_dev != st->st_dev ||
		   !S_ISREG(now.st_mode)) {
		/* the same inode as stat'ed, still a regular file */
		close(fd);
		return kiln_err(err, KILN_EIO, 0, "'%s' changed while the layer was written", path);
	}
	if (t->opts->learn)
		h = snapshot_hasher_new();
	ret = put_header(t, e, err);
	if (ret == 0)
		ret = copy_content(t, fd, e->size, path, h, err);
	if (ret == 0 && h) {
		snapshot_hasher_finish(steal_ptr(&h), &content);
		learn(t, path, &now, &content);
		if (now.st_nlink > 1)
			links_set_hash(&t->links, &now, &content);
	}
	snapshot_hasher_free(h);
	if (fd != rfd)
		close(fd);
	return ret;
}

static void fill_entry(struct layer_tar_entry *e, const struct tar_ctx *t, const struct stat *st)
{
	e->type = tar_type(st->st_mode);
	e->mode = st->st_mode & 07777;
	e->uid = st->st_uid;
	e->gid = st->st_gid;
	e->mtime = entry_mtime(t, st->st_mtim.tv_sec);
	e->size = S_ISREG(st->st_mode) ? (uint64_t)st->st_size : 0;
	if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode)) {
		e->devmajor = major(st->st_rdev);
		e->devminor = minor(st->st_rdev);
	}
}

/* A later path of an inode already in the layer becomes a link to it;
 * the content hash learned for the first path holds for this one. */
static bool as_hardlink(struct tar_ctx *t, struct layer_tar_entry *e, const struct stat *st,
			const char *path)
{
	const struct link_slot *first;

	if (S_ISDIR(st->st_mode) || st->st_nlink < 2)
		return false;
	first = links_first(&t->links, st, e->name);
	if (!first)
		return false;
	e->type = '1';
	e->linkname = first->name;
	e->size = 0;
	e->nr_xattrs = 0; /* the inode's, already with the first entry */
	if (t->opts->learn && first->hashed && S_ISREG(st->st_mode))
		learn(t, path, st, &first->content);
	return true;
}

/*
 * Open en for what the snapshot saw: a regular file or a directory is
 * opened for reading at once (*readable), so that its xattrs and bytes
 * come from that one fd, a file's in as few calls as can be. Anything
 * else, or a path that is no longer of that type or cannot be read, is
 * opened O_PATH and looked at as it is now.
 */
static int open_entry(bool *readable, struct stat *st, const struct tar_ctx *t,
		      const struct entry *en)
{
	int flags = S_ISREG(en->mode)	? O_RDONLY | O_NONBLOCK | O_NOCTTY
		    : S_ISDIR(en->mode) ? O_RDONLY | O_DIRECTORY
					: 0;
	int fd;

	*readable = false;
	if (flags && (fd = open_beneath(t->root_fd, en->path, flags)) >= 0) {
		if (fstat(fd, st) == 0 && (st->st_mode & S_IFMT) == (en->mode & S_IFMT)) {
			*readable = true;
			return fd;
		}
		close(fd);
	}
	fd = open_beneath(t->root_fd, en->path, O_PATH);
	if (fd >= 0 && fstatat(fd, "", st, AT_EMPTY_PATH) < 0)
		close_fd(&fd);
	return fd;
}

static int write_path(struct tar_ctx *t, const struct entry *en, struct kiln_error *err)
{
	struct layer_tar_entry e = { 0 };
	struct kiln_buf name = KILN_BUF_INIT, target = KILN_BUF_INIT;
	struct xattrs x = { 0 };
	struct stat st;
	bool readable;
	int fd = open_entry(&readable, &st, t, en), ret = -1;

	if (fd < 0) {
		ret = kiln_err(err, KILN_EIO, errno, "open '%s'", en->path);
		goto out;
	}
	if (en->kind == ENTRY_PARENT && !S_ISDIR(st.st_mode)) {
		ret = kiln_err(err, KILN_EIO, 0, "'%s' stopped being a directory", en->path);
		goto out;
	}
	fill_entry(&e, t, &st);
	if (!e.type) { /* a socket: nothing to write */
		ret = 0;
		goto out;
	}
	kiln_buf_addstr(&name, en->path + 1);
	if (S_ISDIR(st.st_mode))
		kiln_buf_addch(&name, '/');
	e.name = name.buf;
	if (as_hardlink(t, &e, &st, en->path)) {
		ret = put_header(t, &e, err);
		goto out;
	}
	if ((ret = read_xattrs(&x, fd, readable, en->path, err)) < 0)
		goto out;
	e.xattrs = x.v;
	e.nr_xattrs = x.nr;
	if (S_ISLNK(st.st_mode) && (ret = read_link(&target, fd, &st, en->path, err)) < 0)
		goto out;
	if (S_ISLNK(st.st_mode))
		e.linkname = target.buf;
	if (S_ISREG(st.st_mode))
		ret = write_file(t, &e, readable ? fd : -1, &st, en->path, err);
	else
		ret = put_header(t, &e, err);
out:
	close_fd(&fd);
	xattrs_release(&x);
	kiln_buf_release(&target);
	kiln_buf_release(&name);
	return ret;
}

int layer_write_tar(struct kiln_writer *out, int root_fd, const struct snapshot_changes *changes,
		    const struct layer_options *opts, struct kiln_error *err)
{
	static const char end[2 * LAYER_TAR_BLOCK];
	struct tar_ctx t = { .out = out, .root_fd = root_fd, .opts = opts, .hdr = KILN_BUF_INIT };
	struct entries l = { 0 };
	int ret = collect(&l, changes, err);

	t.chunk = xmalloc(READ_CHUNK);
	for (size_t i = 0; ret == 0 && i < l.nr; i++) {
		if (l.v[i].kind == ENTRY_WHITEOUT)
			ret = write_whiteout(&t, l.v[i].path, err);
		else
			ret = write_path(&t, &l.v[i], err);
	}
	if (ret == 0)
		ret = kiln_writer_write(out, end, sizeof(end), err);
	free(t.chunk);
	kiln_buf_release(&t.hdr);
	links_release(&t.links);
	entries_release(&l);
	return ret;
}

static void free_chain(struct kiln_writer **w, size_t n)
{
	for (size_t i = 0; i < n; i++)
		kiln_writer_free(w[i]);
}

int layer_write_file(struct layer_info *out, int root_fd, const struct snapshot_changes *changes,
		     const char *path, const struct layer_options *opts, struct kiln_error *err)
{
	struct kiln_atomic_file f = KILN_ATOMIC_FILE_INIT;
	/* file <- [tap] <- sha256 (digest) <- gzip <- sha256 (diff_id) */
	struct kiln_writer *w[5] = { NULL };
	struct kiln_writer *file;
	int ret;

	memset(out, 0, sizeof(*out));
	if (!changes->nr)
		return 0;
	if ((ret = kiln_atomic_file_open(&f, path, 0644, err)) < 0)
		return ret;
	file = w[0] = kiln_fd_writer_new(f.fd, path);
	if (opts->tap) {
		opts->tap->opened(opts->tap->ctx, f.fd);
		file = w[4] = kiln_tap_writer_new(w[0], opts->tap->wrote, opts->tap->ctx);
	}
	w[1] = kiln_sha256_writer_new(file);
	if ((ret = pgzip_writer_new(&w[2], w[1], &opts->gzip, err)) < 0)
		goto out;
	w[3] = kiln_sha256_writer_new(w[2]);
	if ((ret = layer_write_tar(w[3], root_fd, changes, opts, err)) < 0 ||
	    (ret = kiln_writer_close(w[3], err)) < 0)
		goto out;
	kiln_sha256_writer_digest(&out->diff_id, w[3]);
	kiln_sha256_writer_digest(&out->digest, w[1]);
	out->tar_size = w[3]->bytes;
	out->size = w[1]->bytes;
	if ((ret = kiln_atomic_file_commit(&f, err)) == 0)
		ret = 1;
out:
	free_chain(w, KILN_ARRAY_SIZE(w));
	kiln_atomic_file_abort(&f);
	return ret;
}
