/*
 * The layer writer: tar headers (ustar and PAX overflow), the entry list
 * built from a change set (parents, whiteouts, order), hardlinks, special
 * files, xattrs, clamping, determinism across runs and thread counts.
 * Tars are read back with libarchive, an independent reader.
 */
#include "compat.h"
#include "alloc.h"
#include "buf.h"
#include "digest.h"
#include "error.h"
#include "fileio.h"
#include "layer.h"
#include "snapshot.h"
#include "stream.h"
#include "strvec.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/xattr.h>
#include <zlib.h>

#include "kiln-test.h"

#define TAR_CAP (64u << 20)

/* ---------------------------------------------------------------- helpers */

static void sh(const char *fmt, ...) KILN_PRINTF(1, 2);
static void sh(const char *fmt, ...)
{
	struct kiln_buf cmd = KILN_BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	kiln_buf_vaddf(&cmd, fmt, ap);
	va_end(ap);
	assert_int_equal(system(cmd.buf), 0);
	kiln_buf_release(&cmd);
}

struct tree {
	char *dir;
	int fd;
	struct snapshot_changes changes;
};

static void tree_init(struct tree *t)
{
	char tmpl[] = "/tmp/kiln-layer.XXXXXX";

	umask(022);
	assert_non_null(mkdtemp(tmpl));
	t->dir = xstrdup(tmpl);
	t->fd = open(t->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(t->fd >= 0);
	memset(&t->changes, 0, sizeof(t->changes));
}

static void tree_release(struct tree *t)
{
	sh("rm -rf '%s'", t->dir);
	close(t->fd);
	snapshot_changes_release(&t->changes);
	free(t->dir);
}

/* Append one change; callers add them in bytewise order, as snapshots do. */
static void change(struct tree *t, char kind, const char *path)
{
	struct snapshot_changes *c = &t->changes;

	c->v = xreallocarray(c->v, c->nr + 1, sizeof(*c->v));
	c->v[c->nr++] = (struct snapshot_change){ .kind = kind, .path = xstrdup(path) };
}

static void tar_of(struct kiln_buf *tar, struct tree *t, const struct layer_options *o)
{
	struct kiln_error err = KILN_ERROR_INIT;
	struct kiln_writer *w = kiln_buf_writer_new(tar, TAR_CAP, "tar");
	int ret = layer_write_tar(w, t->fd, &t->changes, o, &err);

	if (ret < 0)
		fail_msg("layer_write_tar: %s", kiln_error_msg(&err));
	assert_int_equal(kiln_writer_close(w, &err), 0);
	kiln_writer_free(w);
	assert_int_equal(tar->len % LAYER_TAR_BLOCK, 0);
}

static const char *type_name(struct archive_entry *e)
{
	if (archive_entry_hardlink(e))
		return "link";
	switch (archive_entry_filetype(e)) {
	case AE_IFREG:
		return "file";
	case AE_IFDIR:
		return "dir";
	case AE_IFLNK:
		return "symlink";
	case AE_IFCHR:
		return "char";
	case AE_IFBLK:
		return "block";
	case AE_IFIFO:
		return "fifo";
	default:
		return "?";
	}
}

/* One line per entry: "NAME TYPE MODE UID:GID SIZE [-> TARGET] [xattrs]". */
static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void list_entry(struct kiln_buf *out, struct archive_entry *e)
{
	struct kiln_strvec xattrs = KILN_STRVEC_INIT;
	const char *name, *value;
	size_t len;

	kiln_buf_addf(out, "%s %s %04o %lld:%lld %lld", archive_entry_pathname(e), type_name(e),
		      (unsigned)archive_entry_perm(e), (long long)archive_entry_uid(e),
		      (long long)archive_entry_gid(e), (long long)archive_entry_size(e));
	if (archive_entry_hardlink(e))
		kiln_buf_addf(out, " -> %s", archive_entry_hardlink(e));
	if (archive_entry_symlink(e))
		kiln_buf_addf(out, " -> %s", archive_entry_symlink(e));
	if (archive_entry_filetype(e) == AE_IFCHR || archive_entry_filetype(e) == AE_IFBLK)
		kiln_buf_addf(out, " %u,%u", (unsigned)archive_entry_rdevmajor(e),
			      (unsigned)archive_entry_rdevminor(e));
	/* sorted here: libarchive hands xattrs back in an order of its own */
	archive_entry_xattr_reset(e);
	while (archive_entry_xattr_next(e, &name, (const void **)&value, &len) == ARCHIVE_OK)
		kiln_strvec_pushf(&xattrs, "[%s:%zu]", name, len);
	if (xattrs.nr)
		qsort(xattrs.v, xattrs.nr, sizeof(*xattrs.v), cmp_str);
	for (size_t i = 0; i < xattrs.nr; i++)
		kiln_buf_addf(out, " %s", xattrs.v[i]);
	kiln_buf_addch(out, '\n');
	kiln_strvec_clear(&xattrs);
}

/* Read a tar back with libarchive: the listing, and (optionally) the
 * content of one path and the mtimes of all. */
static void list_tar(struct kiln_buf *listing, const struct kiln_buf *tar, const char *content_of,
		     struct kiln_buf *content, int64_t *max_mtime)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	char chunk[4096];
	la_ssize_t n;

	archive_read_support_format_tar(a);
	assert_int_equal(archive_read_open_memory(a, tar->buf, tar->len), ARCHIVE_OK);
	while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
		list_entry(listing, e);
		if (max_mtime && archive_entry_mtime(e) > *max_mtime)
			*max_mtime = archive_entry_mtime(e);
		if (!content_of || strcmp(archive_entry_pathname(e), content_of))
			continue;
		while ((n = archive_read_data(a, chunk, sizeof(chunk))) > 0)
			kiln_buf_add(content, chunk, (size_t)n);
	}
	assert_int_equal(archive_errno(a), 0);
	archive_read_free(a);
}

static void assert_listing(struct tree *t, const struct layer_options *o, const char *want)
{
	struct kiln_buf tar = KILN_BUF_INIT, got = KILN_BUF_INIT;

	tar_of(&tar, t, o);
	list_tar(&got, &tar, NULL, NULL, NULL);
	if (strcmp(got.buf, want))
		fail_msg("listing differs\n--- want\n%s--- got\n%s", want, got.buf);
	kiln_buf_release(&tar);
	kiln_buf_release(&got);
}

/* Parse the one header built from e back with libarchive. */
static void header_listing(struct kiln_buf *listing, const struct layer_tar_entry *e)
{
	struct kiln_error err = KILN_ERROR_INIT;
	struct kiln_buf tar = KILN_BUF_INIT;

	assert_int_equal(layer_tar_header(&tar, e, &err), 0);
	kiln_buf_grow(&tar, e->size + 3 * LAYER_TAR_BLOCK);
	memset(tar.buf + tar.len, 0, e->size + 2 * LAYER_TAR_BLOCK);
	kiln_buf_setlen(&tar, tar.len +
				      (e->size + LAYER_TAR_BLOCK - 1) / LAYER_TAR_BLOCK *
					      LAYER_TAR_BLOCK +
				      2 * LAYER_TAR_BLOCK);
	list_tar(listing, &tar, NULL, NULL, NULL);
	kiln_buf_release(&tar);
}

static bool is_root(void)
{
	return geteuid() == 0;
}

/* --------------------------------------------------------- header tests */

static void test_layer_header_plain_ustar(void **state)
{
	struct kiln_error err = KILN_ERROR_INIT;
	struct layer_tar_entry e = { .name = "etc/hostname",
				     .type = '0',
				     .mode = 0644,
				     .uid = 1000,
				     .gid = 1001,
				     .size = 5,
				     .mtime = 1700000000 };
	struct kiln_buf b = KILN_BUF_INIT;
	unsigned sum = 0;

	(void)state;
	assert_int_equal(layer_tar_header(&b, &e, &err), 0);
	assert_int_equal(b.len, LAYER_TAR_BLOCK); /* no PAX header needed */
	assert_string_equal(b.buf, "etc/hostname");
	assert_memory_equal(b.buf + 100,
			    "0000644\0"
			    "0001750\0"
			    "0001751\0",
			    24);
	assert_memory_equal(b.buf + 124,
			    "00000000005\0"
			    "14524770400\0",
			    24);
	assert_memory_equal(b.buf + 257,
			    "ustar\0"
			    "00",
			    8);
	assert_int_equal(b.buf[265], 0); /* empty uname */
	assert_int_equal(b.buf[297], 0); /* empty gname */
	for (size_t i = 0; i < LAYER_TAR_BLOCK; i++)
		sum += i >= 148 && i < 156 ? ' ' : (unsigned char)b.buf[i];
	assert_int_equal(strtoul(b.buf + 148, NULL, 8), sum);
	kiln_buf_release(&b);
}

static void test_layer_header_long_name_and_link(void **state)
{
	struct kiln_buf name = KILN_BUF_INIT, link = KILN_BUF_INIT, got = KILN_BUF_INIT,
			want = KILN_BUF_INIT;
	struct layer_tar_entry e = { .type = '2', .mode = 0777 };

	(void)state;
	for (int i = 0; i < 30; i++)
		kiln_buf_addstr(&name, "dir4567/");
	kiln_buf_addstr(&name, "symlink");
	for (int i = 0; i < 40; i++)
		kiln_buf_addstr(&link, "../target/");
	e.name = name.buf;
	e.linkname = link.buf;
	header_listing(&got, &e);
	kiln_buf_addf(&want, "%s symlink 0777 0:0 0 -> %s\n", name.buf, link.buf);
	assert_string_equal(got.buf, want.buf);
	kiln_buf_release(&name);
	kiln_buf_release(&link);
	kiln_buf_release(&got);
	kiln_buf_release(&want);
}

/* Sizes of 8 GiB and more, uids above 2097151, mtimes outside the ustar
 * range go to PAX records; the ustar field holds 0. */
static void test_layer_header_pax_numbers(void **state)
{
	struct kiln_error err = KILN_ERROR_INIT;
	struct layer_tar_entry e = { .name = "big",
				     .type = '0',
				     .mode = 0600,
				     .uid = 3000000,
				     .gid = 4000000,
				     .size = UINT64_C(9) << 30,
				     .mtime = -5 };
	struct kiln_buf b = KILN_BUF_INIT, got = KILN_BUF_INIT;
	struct layer_tar_entry small = e;

	(void)state;
	assert_int_equal(layer_tar_header(&b, &e, &err), 0);
	assert_int_equal(b.len, 3 * LAYER_TAR_BLOCK);
	assert_int_equal(b.buf[156], 'x');
	assert_non_null(strstr(b.buf + 512, "size=9663676416\n"));
	assert_non_null(strstr(b.buf + 512, "uid=3000000\n"));
	assert_non_null(strstr(b.buf + 512, "gid=4000000\n"));
	assert_non_null(strstr(b.buf + 512, "mtime=-5\n"));
	assert_memory_equal(b.buf + 1024 + 124, "00000000000\0", 12);
	assert_memory_equal(b.buf + 1024 + 108, "0000000\0", 8);
	kiln_buf_release(&b);
	/* libarchive agrees on all of it (size kept small to read it back) */
	small.size = 3;
	header_listing(&got, &small);
	assert_string_equal(got.buf, "big file 0600 3000000:4000000 3\n");
	kiln_buf_release(&got);
}

/* "LEN key=value\n" where LEN counts itself, across a digit roll-over. */
static void test_layer_header_pax_record_lengths(void **state)
{
	struct kiln_error err = KILN_ERROR_INIT;
	struct kiln_buf b = KILN_BUF_INIT, name = KILN_BUF_INIT;

	(void)state;
	for (size_t n = 80; n < 1100; n += 1) {
		struct layer_tar_entry e = { .type = '0', .mode = 0644 };
		const char *rec;
		char *end;
		unsigned long len;

		kiln_buf_reset(&name);
		for (size_t i = 0; i < n; i++)
			kiln_buf_addch(&name, 'a' + (char)(i % 26));
		e.name = name.buf;
		kiln_buf_reset(&b);
		assert_int_equal(layer_tar_header(&b, &e, &err), 0);
		if (n <= 100) {
			assert_int_equal(b.len, LAYER_TAR_BLOCK);
			continue;
		}
		rec = b.buf + LAYER_TAR_BLOCK;
		len = strtoul(rec, &end, 10);
		assert_int_equal(*end, ' ');
		assert_int_equal(len, strlen(" path=\n") + (size_t)(end - rec) + n);
		assert_int_equal(rec[len - 1], '\n');
		assert_int_equal(strtoul(b.buf + 124, NULL, 8), len); /* the x header's size */
	}
	kiln_buf_release(&b);
	kiln_buf_release(&name);
}

static void test_layer_header_xattrs(void **state)
{
	/* a vfs_cap_data v2 blob: binary, with NUL bytes */
	static const unsigned char cap[20] = { 0x01, 0, 0, 0x02, 0x00, 0x20, 0, 0 };
	struct layer_xattr x[] = { { "security.capability", cap, sizeof(cap) },
				   { "user.note", "hi", 2 } };
	struct layer_tar_entry e = {
		.name = "bin/ping", .type = '0', .mode = 0755, .xattrs = x, .nr_xattrs = 2
	};
	struct kiln_buf got = KILN_BUF_INIT;

	struct kiln_error err = KILN_ERROR_INIT;
	struct kiln_buf raw = KILN_BUF_INIT;
	const char *a, *b;

	(void)state;
	header_listing(&got, &e);
	assert_string_equal(got.buf,
			    "bin/ping file 0755 0:0 0 [security.capability:20] [user.note:2]\n");
	/* records in the order given, the value's bytes verbatim */
	assert_int_equal(layer_tar_header(&raw, &e, &err), 0);
	a = memmem(raw.buf, raw.len, "57 SCHILY.xattr.security.capability=", 36);
	b = memmem(raw.buf, raw.len, "29 SCHILY.xattr.user.note=hi\n", 29);
	assert_true(a && b && a < b);
	assert_memory_equal(a + 36, cap, sizeof(cap));
	assert_int_equal(a[36 + sizeof(cap)], '\n');
	kiln_buf_release(&raw);
	kiln_buf_release(&got);
}

static void test_layer_header_rejects(void **state)
{
	struct kiln_error err = KILN_ERROR_INIT;
	struct layer_xattr x = { "user.a=b", "v", 1 };
	struct layer_tar_entry e = { .name = "f", .type = '0', .xattrs = &x, .nr_xattrs = 1 };
	struct kiln_buf b = KILN_BUF_INIT;

	(void)state;
	assert_int_equal(layer_tar_header(&b, &e, &err), KILN_EINVAL);
	assert_non_null(strstr(kiln_error_msg(&err), "'user.a=b'"));
	e.nr_xattrs = 0;
	e.name = "";
	assert_int_equal(layer_tar_header(&b, &e, &err), KILN_EINVAL);
	e.name = "dev";
	e.devmajor = 1u << 22;
	assert_int_equal(layer_tar_header(&b, &e, &err), KILN_EINVAL);
	assert_int_equal(b.len, 0);
	kiln_error_release(&err);
}

/* ----------------------------------------------------------- tree tests */

/* Parents come with their own metadata; whiteouts sit in their parent;
 * the order is bytewise, so "/a-b" sorts between "/a" and "/a/x". */
static void test_layer_parents_whiteouts_order(void **state)
{
	struct layer_options o = { 0 };
	struct tree t;

	(void)state;
	if (!is_root())
		skip(); /* owners */
	tree_init(&t);
	sh("cd '%s' && mkdir -p a/b/c && printf hello > a/b/c/file && printf x > a-b && "
	   "chmod 0750 a/b && chmod 0711 a && chmod 0600 a/b/c/file a-b && chown 1234:5678 a/b",
	   t.dir);
	change(&t, 'A', "/a-b");
	change(&t, 'D', "/a/b/gone");
	change(&t, 'A', "/a/b/c/file");
	change(&t, 'D', "/a/old");
	assert_listing(&t, &o,
		       "a/ dir 0711 0:0 0\n"
		       "a-b file 0600 0:0 1\n"
		       "a/.wh.old file 0000 0:0 0\n"
		       "a/b/ dir 0750 1234:5678 0\n"
		       "a/b/.wh.gone file 0000 0:0 0\n"
		       "a/b/c/ dir 0755 0:0 0\n"
		       "a/b/c/file file 0600 0:0 5\n");
	tree_release(&t);
}

static void test_layer_hardlinks(void **state)
{
	struct layer_options o = { 0 };
	struct kiln_buf tar = KILN_BUF_INIT, got = KILN_BUF_INIT, content = KILN_BUF_INIT;
	struct tree t;

	(void)state;
	if (!is_root())
		skip(); /* owners */
	tree_init(&t);
	sh("cd '%s' && printf data > h1 && ln h1 h2 && mkdir d && ln h1 d/h3 && "
	   "printf solo > solo && ln solo .solo-twin",
	   t.dir);
	/* .solo-twin is not in the layer: solo stays a regular file */
	change(&t, 'A', "/d");
	change(&t, 'A', "/d/h3");
	change(&t, 'A', "/h1");
	change(&t, 'A', "/h2");
	change(&t, 'A', "/solo");
	tar_of(&tar, &t, &o);
	list_tar(&got, &tar, "d/h3", &content, NULL);
	assert_string_equal(got.buf, "d/ dir 0755 0:0 0\n"
				     "d/h3 file 0644 0:0 4\n"
				     "h1 link 0644 0:0 0 -> d/h3\n"
				     "h2 link 0644 0:0 0 -> d/h3\n"
				     "solo file 0644 0:0 4\n");
	assert_string_equal(content.buf, "data");
	kiln_buf_release(&tar);
	kiln_buf_release(&got);
	kiln_buf_release(&content);
	tree_release(&t);
}

static void make_socket(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	assert_true(fd >= 0 && strlen(path) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, strlen(path) + 1);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
}

/* FIFOs, devices and symlinks are kept (a symlink is never followed);
 * sockets have no tar form and are skipped. */
static void test_layer_special_files(void **state)
{
	struct layer_options o = { 0 };
	struct kiln_buf sock = KILN_BUF_INIT;
	struct tree t;

	(void)state;
	if (!is_root())
		skip();
	tree_init(&t);
	sh("cd '%s' && mkfifo -m 0640 fifo && mknod -m 0666 null c 1 3 && "
	   "mknod -m 0660 blk b 7 200 && ln -s /etc/passwd abs && ln -s ../../x rel",
	   t.dir);
	kiln_buf_addf(&sock, "%s/sock", t.dir);
	make_socket(sock.buf);
	change(&t, 'A', "/abs");
	change(&t, 'A', "/blk");
	change(&t, 'A', "/fifo");
	change(&t, 'A', "/null");
	change(&t, 'A', "/rel");
	change(&t, 'A', "/sock");
	assert_listing(&t, &o,
		       "abs symlink 0777 0:0 0 -> /etc/passwd\n"
		       "blk block 0660 0:0 0 7,200\n"
		       "fifo fifo 0640 0:0 0\n"
		       "null char 0666 0:0 0 1,3\n"
		       "rel symlink 0777 0:0 0 -> ../../x\n");
	kiln_buf_release(&sock);
	tree_release(&t);
}

/* A changed path below a symlink must not be read through it: the writer
 * fails instead of archiving what lies outside ROOT. */
static void test_layer_never_follows_symlinks(void **state)
{
	struct layer_options o = { 0 };
	struct kiln_error err = KILN_ERROR_INIT;
	struct kiln_buf tar = KILN_BUF_INIT;
	struct kiln_writer *w = kiln_buf_writer_new(&tar, TAR_CAP, "tar");
	struct tree t;

	(void)state;
	tree_init(&t);
	sh("cd '%s' && ln -s /etc etc", t.dir);
	change(&t, 'A', "/etc/passwd");
	assert_int_equal(layer_write_tar(w, t.fd, &t.changes, &o, &err), KILN_EIO);
	assert_non_null(strstr(kiln_error_msg(&err), "'/etc"));
	kiln_writer_free(w);
	kiln_buf_release(&tar);
	kiln_error_release(&err);
	tree_release(&t);
}

static void test_layer_xattrs_and_owners(void **state)
{
	static const unsigned char cap[20] = { 0x01, 0, 0, 0x02, 0x00, 0x20, 0, 0 };
	struct layer_options o = { 0 };
	struct kiln_buf path = KILN_BUF_INIT;
	struct tree t;

	(void)state;
	if (!is_root())
		skip();
	tree_init(&t);
	sh("cd '%s' && printf 'ELF' > ping && chown 3000000:2097152 ping && chmod 4755 ping",
	   t.dir);
	kiln_buf_addf(&path, "%s/ping", t.dir);
	assert_int_equal(setxattr(path.buf, "user.zz", "last", 4, 0), 0);
	assert_int_equal(setxattr(path.buf, "security.capability", cap, sizeof(cap), 0), 0);
	assert_int_equal(setxattr(path.buf, "user.aa", "", 0, 0), 0);
	change(&t, 'A', "/ping");
	/* chown clears setuid; mode set again after, xattrs sorted by name */
	sh("chmod 4755 '%s'", path.buf);
	assert_listing(&t, &o,
		       "ping file 4755 3000000:2097152 3 [security.capability:20] "
		       "[user.aa:0] [user.zz:4]\n");
	kiln_buf_release(&path);
	tree_release(&t);
}

static void test_layer_reserved_and_unclean_names(void **state)
{
	static const char *const unclean[] = { "/../etc/passwd", "/a/./b", "/a//b", "/a/", "x" };
	struct layer_options o = { 0 };
	struct kiln_error err = KILN_ERROR_INIT;
	struct kiln_buf tar = KILN_BUF_INIT;
	struct kiln_writer *w = kiln_buf_writer_new(&tar, TAR_CAP, "tar");
	struct tree t;

	(void)state;
	tree_init(&t);
	sh("touch '%s/.wh.sneaky'", t.dir);
	change(&t, 'A', "/.wh.sneaky");
	assert_int_equal(layer_write_tar(w, t.fd, &t.changes, &o, &err), KILN_EINVAL);
	assert_non_null(strstr(kiln_error_msg(&err), "reserved for whiteouts"));
	/* nor can a change name something outside the layer */
	for (size_t i = 0; i < KILN_ARRAY_SIZE(unclean); i++) {
		free(t.changes.v[0].path);
		t.changes.v[0].path = xstrdup(unclean[i]);
		t.changes.v[0].kind = 'D';
		assert_int_equal(layer_write_tar(w, t.fd, &t.changes, &o, &err), KILN_EINVAL);
		assert_non_null(strstr(kiln_error_msg(&err), "not a clean path"));
	}
	assert_int_equal(tar.len, 0);
	kiln_writer_free(w);
	kiln_buf_release(&tar);
	kiln_error_release(&err);
	tree_release(&t);
}

static void test_layer_clamp_mtime(void **state)
{
	struct layer_options o = { .clamp = true, .clamp_mtime = 1000 };
	struct kiln_buf tar = KILN_BUF_INIT, got = KILN_BUF_INIT;
	int64_t max = 0;
	struct tree t;

	(void)state;
	tree_init(&t);
	sh("cd '%s' && mkdir d && touch -d @2000 d/new && touch -d @500 d/old", t.dir);
	change(&t, 'A', "/d/new");
	change(&t, 'A', "/d/old");
	tar_of(&tar, &t, &o);
	list_tar(&got, &tar, NULL, NULL, &max);
	assert_int_equal(max, 1000);
	kiln_buf_release(&tar);
	kiln_buf_reset(&got);
	max = 0;
	o.clamp = false;
	tar_of(&tar, &t, &o);
	list_tar(&got, &tar, NULL, NULL, &max);
	assert_true(max > 1000);
	kiln_buf_release(&tar);
	kiln_buf_release(&got);
	tree_release(&t);
}

/* ---------------------------------------------------- files and digests */

static void write_layer(struct layer_info *info, struct kiln_buf *bytes, struct tree *t,
			unsigned threads)
{
	struct layer_options o = { .gzip = { .threads = threads } };
	struct kiln_error err = KILN_ERROR_INIT;
	char *path = xasprintf("%s.layer.tar.gz", t->dir);

	if (layer_write_file(info, t->fd, &t->changes, path, &o, &err) != 1)
		fail_msg("layer_write_file: %s", kiln_error_msg(&err));
	assert_int_equal(kiln_file_read(bytes, path, TAR_CAP, &err), 0);
	unlink(path);
	free(path);
}

static void gunzip(struct kiln_buf *out, const struct kiln_buf *in)
{
	z_stream s = { 0 };
	unsigned char chunk[65536];
	int ret;

	assert_int_equal(inflateInit2(&s, 15 + 16), Z_OK);
	s.next_in = (unsigned char *)in->buf;
	s.avail_in = (uInt)in->len;
	do {
		s.next_out = chunk;
		s.avail_out = sizeof(chunk);
		ret = inflate(&s, Z_NO_FLUSH);
		assert_true(ret == Z_OK || ret == Z_STREAM_END);
		kiln_buf_add(out, chunk, sizeof(chunk) - s.avail_out);
	} while (ret != Z_STREAM_END);
	assert_int_equal(s.avail_in, 0);
	inflateEnd(&s);
}

/* The same tree gives the same bytes: twice, and with 1 or 4 threads; the
 * digest names the file and the diff_id the tar inside. */
static void test_layer_file_deterministic(void **state)
{
	struct layer_info a, b;
	struct kiln_buf ga = KILN_BUF_INIT, gb = KILN_BUF_INIT, tar = KILN_BUF_INIT,
			direct = KILN_BUF_INIT;
	struct kiln_digest d;
	struct layer_options o = { 0 };
	struct tree t;

	(void)state;
	tree_init(&t);
	/* a few MiB over many blocks, compressible and not */
	sh("cd '%s' && mkdir -p usr/lib && head -c 3000000 /dev/urandom > usr/lib/blob && "
	   "seq 1 400000 > usr/lib/numbers && ln -s numbers usr/lib/n",
	   t.dir);
	change(&t, 'A', "/usr");
	change(&t, 'A', "/usr/lib");
	change(&t, 'A', "/usr/lib/blob");
	change(&t, 'A', "/usr/lib/n");
	change(&t, 'A', "/usr/lib/numbers");
	change(&t, 'D', "/var");
	write_layer(&a, &ga, &t, 1);
	write_layer(&b, &gb, &t, 4);
	assert_int_equal(ga.len, gb.len);
	assert_memory_equal(ga.buf, gb.buf, ga.len);
	assert_true(kiln_digest_eq(&a.digest, &b.digest));
	assert_true(kiln_digest_eq(&a.diff_id, &b.diff_id));
	assert_int_equal(a.size, ga.len);
	kiln_digest_of(&d, ga.buf, ga.len);
	assert_true(kiln_digest_eq(&d, &a.digest));
	gunzip(&tar, &ga);
	assert_int_equal(a.tar_size, tar.len);
	kiln_digest_of(&d, tar.buf, tar.len);
	assert_true(kiln_digest_eq(&d, &a.diff_id));
	tar_of(&direct, &t, &o);
	assert_int_equal(direct.len, tar.len);
	assert_memory_equal(direct.buf, tar.buf, tar.len);
	kiln_buf_release(&ga);
	kiln_buf_release(&gb);
	kiln_buf_release(&tar);
	kiln_buf_release(&direct);
	tree_release(&t);
}

/* The change set of files a deferring snapshot left unread, written as a
 * layer that hands their hashes back (learn) or not; then every file gets
 * a new ctime and nothing else, and the next snapshot says what it thinks
 * changed: nothing when the hashes came back, everything when not. */
static void handoff_case(struct kiln_buf *out, bool learn)
{
	struct kiln_error err = KILN_ERROR_INIT;
	struct snapshot_options so = { .mode = SNAPSHOT_FULL };
	struct layer_options o = { .gzip = { .level = 1 } };
	struct snapshot_changes c = { 0 };
	struct kiln_buf tar = KILN_BUF_INIT;
	struct snapshot *s = NULL;
	struct kiln_writer *w;
	struct tree t;

	tree_init(&t);
	assert_int_equal(snapshot_new(&s, t.fd, &so, &err), 0);
	assert_int_equal(snapshot_take(&c, s, &err), 0);
	snapshot_changes_release(&c);
	sh("cd '%s' && mkdir d && echo one > d/f && ln d/f d/g && head -c 600000 /dev/urandom > "
	   "big",
	   t.dir);
	assert_int_equal(snapshot_take_deferred(&c, s, &err), 0);
	assert_int_equal(c.nr, 4);
	o.learn = learn ? s : NULL;
	w = kiln_buf_writer_new(&tar, TAR_CAP, "tar");
	assert_int_equal(layer_write_tar(w, t.fd, &c, &o, &err), 0);
	assert_int_equal(kiln_writer_close(w, &err), 0);
	kiln_writer_free(w);
	snapshot_changes_release(&c);
	/* past the racy window, so only content can speak */
	sh("sleep 0.05; cd '%s' && chmod 644 d/f big", t.dir);
	assert_int_equal(snapshot_take(&c, s, &err), 0);
	kiln_buf_reset(out);
	for (size_t i = 0; i < c.nr; i++)
		kiln_buf_addf(out, "%c %s;", c.v[i].kind, c.v[i].path);
	snapshot_changes_release(&c);
	snapshot_free(s);
	kiln_buf_release(&tar);
	tree_release(&t);
}

static void test_layer_hands_hashes_to_snapshot(void **state)
{
	struct kiln_buf got = KILN_BUF_INIT;

	(void)state;
	handoff_case(&got, true);
	assert_string_equal(got.buf, "");
	handoff_case(&got, false);
	assert_string_equal(got.buf, "C /big;C /d/f;C /d/g;");
	kiln_buf_release(&got);
}

static void test_layer_empty_change_set_writes_nothing(void **state)
{
	struct layer_options o = { 0 };
	struct kiln_error err = KILN_ERROR_INIT;
	struct layer_info info;
	struct stat st;
	char *path;
	struct tree t;

	(void)state;
	tree_init(&t);
	path = xasprintf("%s/layer.tar.gz", t.dir);
	assert_int_equal(layer_write_file(&info, t.fd, &t.changes, path, &o, &err), 0);
	assert_int_equal(stat(path, &st), -1);
	free(path);
	tree_release(&t);
}

/* A failed layer leaves no file behind (an atomic file is aborted). */
static void test_layer_failure_leaves_no_file(void **state)
{
	struct layer_options o = { 0 };
	struct kiln_error err = KILN_ERROR_INIT;
	struct layer_info info;
	struct kiln_buf ls = KILN_BUF_INIT;
	char *path;
	struct tree t;

	(void)state;
	tree_init(&t);
	sh("mkdir '%s/out'", t.dir);
	path = xasprintf("%s/out/layer.tar.gz", t.dir);
	change(&t, 'A', "/missing");
	assert_int_equal(layer_write_file(&info, t.fd, &t.changes, path, &o, &err), KILN_EIO);
	assert_non_null(strstr(kiln_error_msg(&err), "'/missing'"));
	kiln_buf_addf(&ls, "test -z \"$(ls -A '%s/out')\"", t.dir);
	sh("%s", ls.buf);
	kiln_buf_release(&ls);
	kiln_error_release(&err);
	free(path);
	tree_release(&t);
}

/* What a tap sees: the blob's file once, then growing totals; a reader of
 * that file at each total gets the blob's bytes so far. */
struct tap_record {
	int fd;
	unsigned opened;
	uint64_t last;
	bool grew_only;
	struct kiln_buf seen; /* read through fd at each total */
};

static void tap_opened(void *ctx, int fd)
{
	struct tap_record *r = ctx;

	r->opened++;
	r->fd = dup(fd);
	assert_true(r->fd >= 0);
}

static void tap_wrote(void *ctx, uint64_t total)
{
	struct tap_record *r = ctx;
	char buf[65536];

	r->grew_only &= total > r->last;
	while (r->last < total) {
		size_t n = total - r->last < sizeof(buf) ? (size_t)(total - r->last) : sizeof(buf);
		ssize_t got = pread(r->fd, buf, n, (off_t)r->last);

		assert_true(got > 0);
		kiln_buf_add(&r->seen, buf, (size_t)got);
		r->last += (uint64_t)got;
	}
}

static void test_layer_tap_follows_the_file(void **state)
{
	struct tap_record r = { .fd = -1, .grew_only = true, .seen = KILN_BUF_INIT };
	const struct layer_tap tap = { .opened = tap_opened, .wrote = tap_wrote, .ctx = &r };
	struct layer_options o = { .tap = &tap };
	struct kiln_error err = KILN_ERROR_INIT;
	struct kiln_buf blob = KILN_BUF_INIT;
	struct layer_info info;
	struct tree t;
	char *path;

	(void)state;
	tree_init(&t);
	sh("cd '%s' && head -c 2000000 /dev/urandom > blob && seq 1 200000 > numbers", t.dir);
	change(&t, 'A', "/blob");
	change(&t, 'A', "/numbers");
	path = xasprintf("%s.layer.tar.gz", t.dir);
	if (layer_write_file(&info, t.fd, &t.changes, path, &o, &err) != 1)
		fail_msg("layer_write_file: %s", kiln_error_msg(&err));
	assert_int_equal(kiln_file_read(&blob, path, TAR_CAP, &err), 0);
	assert_int_equal(r.opened, 1);
	assert_true(r.grew_only);
	assert_int_equal(r.last, info.size);
	assert_int_equal(r.seen.len, blob.len);
	assert_memory_equal(r.seen.buf, blob.buf, blob.len);
	close(r.fd);
	unlink(path);
	free(path);
	kiln_buf_release(&blob);
	kiln_buf_release(&r.seen);
	tree_release(&t);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_layer_header_plain_ustar),
	cmocka_unit_test(test_layer_header_long_name_and_link),
	cmocka_unit_test(test_layer_header_pax_numbers),
	cmocka_unit_test(test_layer_header_pax_record_lengths),
	cmocka_unit_test(test_layer_header_xattrs),
	cmocka_unit_test(test_layer_header_rejects),
	cmocka_unit_test(test_layer_parents_whiteouts_order),
	cmocka_unit_test(test_layer_hardlinks),
	cmocka_unit_test(test_layer_special_files),
	cmocka_unit_test(test_layer_never_follows_symlinks),
	cmocka_unit_test(test_layer_xattrs_and_owners),
	cmocka_unit_test(test_layer_reserved_and_unclean_names),
	cmocka_unit_test(test_layer_clamp_mtime),
	cmocka_unit_test(test_layer_file_deterministic),
	cmocka_unit_test(test_layer_empty_change_set_writes_nothing),
	cmocka_unit_test(test_layer_failure_leaves_no_file),
	cmocka_unit_test(test_layer_tap_follows_the_file),
	cmocka_unit_test(test_layer_hands_hashes_to_snapshot),
};

KILN_TEST_MAIN(tests)
