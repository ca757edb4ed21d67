/*
 * The hash hand-off: a deferring snapshot leaves the content of new and
 * resized files unread, the layer writer hands their hashes back with
 * snapshot_learn(), and change detection stays exact: a learned hash
 * spares a re-read only for the very file the walk saw, a file never
 * learned counts as of unknown content, and the racy-timestamp rule still
 * catches a rewrite in the clock tick of the walk.
 */
#include "compat.h"
#include "alloc.h"
#include "buf.h"
#include "error.h"
#include "snapshot.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>

#include "kiln-test.h"

/* The window the racy rule uses (RACY_WINDOW_NS in snapshot-int.h). */
#define RACY_NS 20000000LL

struct tree {
	char *dir;
	int fd;
	struct snapshot *s;
};

static void tree_init(struct tree *t)
{
	struct kiln_error err = KILN_ERROR_INIT;
	struct snapshot_options o = { .mode = SNAPSHOT_FULL, .threads = 2 };
	char tmpl[] = "/tmp/kiln-snapshot.XXXXXX";

	assert_non_null(mkdtemp(tmpl));
	t->dir = xstrdup(tmpl);
	t->fd = open(t->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(t->fd >= 0);
	assert_int_equal(snapshot_new(&t->s, t->fd, &o, &err), 0);
}

static void tree_release(struct tree *t)
{
	struct kiln_buf cmd = KILN_BUF_INIT;

	snapshot_free(t->s);
	close(t->fd);
	kiln_buf_addf(&cmd, "rm -rf '%s'", t->dir);
	assert_int_equal(system(cmd.buf), 0);
	kiln_buf_release(&cmd);
	free(t->dir);
}

static void put(struct tree *t, const char *name, const char *text)
{
	int fd = openat(t->fd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

/* Rewrite name in place with as many bytes and its old mtime: only the
 * ctime (and the content) tells. */
static void rewrite_same_size(struct tree *t, const char *name, const char *text)
{
	struct stat st;
	struct timespec times[2];

	assert_int_equal(fstatat(t->fd, name, &st, 0), 0);
	assert_int_equal((size_t)st.st_size, strlen(text));
	put(t, name, text);
	times[0] = st.st_atim;
	times[1] = st.st_mtim;
	assert_int_equal(utimensat(t->fd, name, times, 0), 0);
}

/* "A /f\nC /g": the change set as kind and path lines. */
static void take(struct kiln_buf *out, struct tree *t, bool deferred)
{
	struct kiln_error err = KILN_ERROR_INIT;
	struct snapshot_changes c = { 0 };
	int ret = deferred ? snapshot_take_deferred(&c, t->s, &err) : snapshot_take(&c, t->s, &err);

	if (ret < 0)
		fail_msg("snapshot: %s", kiln_error_msg(&err));
	kiln_buf_reset(out);
	for (size_t i = 0; i < c.nr; i++)
		kiln_buf_addf(out, "%s%c %s", i ? "\n" : "", c.v[i].kind, c.v[i].path);
	snapshot_changes_release(&c);
}

/* What the layer writer does for one file: hash what is there now and
 * hand it back with the stat it read it under. */
static void learn_now(struct tree *t, const char *name, const char *as_if)
{
	struct snapshot_stat ss;
	struct snapshot_hash h;
	struct stat st;
	char *path = xasprintf("/%s", name);

	assert_int_equal(fstatat(t->fd, name, &st, AT_SYMLINK_NOFOLLOW), 0);
	snapshot_stat_from_stat(&ss, &st);
	snapshot_hash_bytes(&h, as_if, strlen(as_if));
	snapshot_learn(t->s, path, &ss, &h);
	free(path);
}

/* A new stat tuple (the ctime), the same bytes, mode, owner and mtime. */
static void touch_ctime(struct tree *t, const char *name)
{
	struct stat st;

	assert_int_equal(fstatat(t->fd, name, &st, 0), 0);
	assert_int_equal(fchmodat(t->fd, name, st.st_mode & 07777, 0), 0);
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void sleep_past_racy_window(void)
{
	struct timespec ts = { 0, 2 * RACY_NS };

	nanosleep(&ts, NULL);
}

/* A plain snapshot still reads new files: a later ctime-only change is no
 * change (what `cp -p` of the same bytes over a file does). */
static void test_plain_take_hashes_new_files(void **state)
{
	struct kiln_buf got = KILN_BUF_INIT;
	struct tree t;

	(void)state;
	tree_init(&t);
	take(&got, &t, false);
	put(&t, "f", "hello");
	take(&got, &t, false);
	assert_string_equal(got.buf, "A /f");
	sleep_past_racy_window();
	touch_ctime(&t, "f");
	take(&got, &t, false);
	assert_string_equal(got.buf, "");
	kiln_buf_release(&got);
	tree_release(&t);
}

/* Deferred and never learned: the content is unknown, so a changed tuple
 * counts as changed content (safe, costs a layer entry). Learned: the
 * same ctime-only change is no change, as with a plain snapshot. */
static void test_deferred_then_learned(void **state)
{
	struct kiln_buf got = KILN_BUF_INIT;
	struct tree t;

	(void)state;
	tree_init(&t);
	take(&got, &t, false);
	put(&t, "learned", "hello");
	put(&t, "unknown", "world");
	take(&got, &t, true);
	assert_string_equal(got.buf, "A /learned\nA /unknown");
	learn_now(&t, "learned", "hello");
	sleep_past_racy_window();
	touch_ctime(&t, "learned");
	touch_ctime(&t, "unknown");
	take(&got, &t, false);
	assert_string_equal(got.buf, "C /unknown");
	kiln_buf_release(&got);
	tree_release(&t);
}

/* A resized file is deferred too: its size proves the change. */
static void test_deferred_resized_file(void **state)
{
	struct kiln_buf got = KILN_BUF_INIT;
	struct tree t;

	(void)state;
	tree_init(&t);
	put(&t, "f", "short");
	take(&got, &t, false);
	put(&t, "f", "longer now");
	take(&got, &t, true);
	assert_string_equal(got.buf, "C /f");
	learn_now(&t, "f", "longer now");
	sleep_past_racy_window();
	touch_ctime(&t, "f");
	take(&got, &t, false);
	assert_string_equal(got.buf, "");
	kiln_buf_release(&got);
	tree_release(&t);
}

/* The file changed between the walk and the layer read (a new ctime, same
 * size and mtime): the hash handed back belongs to other bytes than the
 * walk saw and is refused, so the next snapshot still sees the change. */
static void test_learn_refuses_another_stat(void **state)
{
	struct kiln_buf got = KILN_BUF_INIT;
	struct tree t;

	(void)state;
	tree_init(&t);
	take(&got, &t, false);
	put(&t, "f", "aaaa");
	take(&got, &t, true);
	assert_string_equal(got.buf, "A /f");
	sleep_past_racy_window();
	rewrite_same_size(&t, "f", "bbbb");
	learn_now(&t, "f", "bbbb");
	take(&got, &t, false);
	assert_string_equal(got.buf, "C /f");
	kiln_buf_release(&got);
	tree_release(&t);
}

/*
 * The racy rule after the hand-off: a file written in the clock tick of
 * the walk may be written again in that tick after the layer read it,
 * leaving its stat tuple as it was. Here the table is made to hold that
 * state (the hash of other bytes under the file's current tuple); the
 * next snapshot must hash the file again and report it, not trust the
 * tuple. The file must be written within the racy window of the walk:
 * retried until it is (a slow machine can miss it once).
 */
static void test_racy_file_rehashed_after_learn(void **state)
{
	struct kiln_buf got = KILN_BUF_INIT;
	bool racy = false;

	(void)state;
	for (int attempt = 0; attempt < 20 && !racy; attempt++) {
		struct tree t;
		struct stat st;
		int64_t after;

		tree_init(&t);
		take(&got, &t, false);
		put(&t, "f", "aaaa");
		take(&got, &t, true);
		after = now_ns();
		assert_string_equal(got.buf, "A /f");
		assert_int_equal(fstatat(t.fd, "f", &st, 0), 0);
		/* the walk started before `after`: ctime within the window of
		 * `after` is within the window of the walk's start */
		racy = st.st_ctim.tv_sec * 1000000000LL + st.st_ctim.tv_nsec >= after - RACY_NS;
		if (racy) {
			learn_now(&t, "f", "what the layer read before a rewrite");
			take(&got, &t, false);
			assert_string_equal(got.buf, "C /f");
		}
		tree_release(&t);
	}
	assert_true(racy);
	kiln_buf_release(&got);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_plain_take_hashes_new_files),
	cmocka_unit_test(test_deferred_then_learned),
	cmocka_unit_test(test_deferred_resized_file),
	cmocka_unit_test(test_learn_refuses_another_stat),
	cmocka_unit_test(test_racy_file_rehashed_after_learn),
};

KILN_TEST_MAIN(tests)
