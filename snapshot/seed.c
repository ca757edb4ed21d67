/*
 * seed.c: the extractor tells the table what it wrote (see snapshot.h).
 *
 * Seeded entries get the same stat tuple, link and xattr hashes a walk
 * would record, and the content hash the writer computed as the bytes went
 * by, so the next full snapshot finds every tuple unchanged and reads no
 * file. The racy rule applies at snapshot_seed_finish(): only files written
 * in the last clock tick before it are hashed again.
 */
#include "compat.h"
#include "snapshot-int.h"
#include "alloc.h"
#include "error.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

int snapshot_seed(struct snapshot *s, int dir_fd, const char *name, const char *path,
		  const struct snapshot_hash *content, struct kiln_error *err)
{
	struct walk_entry e = { .old = -1 };
	struct statx sx;
	struct table_entry *t;
	ssize_t idx;
	int ret;

	if (statx(dir_fd, name, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, STATX_BASIC_STATS, &sx) < 0)
		return kiln_err(err, KILN_EIO, errno, "stat '%s'", path);
	e.path = (char *)path;
	snapshot_stat_from_statx(&e.st, &sx);
	if (S_ISLNK(e.st.mode) && (ret = snapshot_link_hash(&e, dir_fd, name, err)) < 0)
		return ret;
	if ((ret = snapshot_xattr_hash(&e.xattr_hash, dir_fd, name, path, err)) < 0)
		return ret;
	idx = table_find(&s->table, path);
	if (idx < 0)
		idx = (ssize_t)table_add(&s->table, xstrdup(path));
	t = &s->table.v[idx];
	t->st = e.st;
	t->link_hash = e.link_hash;
	t->xattr_hash = e.xattr_hash;
	t->flags = 0;
	if (content && S_ISREG(e.st.mode)) {
		t->content = *content;
		t->flags |= TABLE_HAS_CONTENT;
	}
	t->gen = s->gen;
	return 0;
}

static bool is_at_or_below(const char *p, const char *top, size_t n)
{
	return !strncmp(p, top, n) && (p[n] == '\0' || p[n] == '/');
}

void snapshot_seed_forget(struct snapshot *s, const char *path)
{
	size_t n = strlen(path);
	uint32_t keep = s->gen + 1;

	/* sweep everything except path and its subtree */
	for (size_t i = 0; i < s->table.nr; i++)
		s->table.v[i].gen = is_at_or_below(s->table.v[i].path, path, n) ? s->gen : keep;
	table_sweep(&s->table, keep, NULL, NULL);
	for (size_t i = 0; i < s->table.nr; i++)
		s->table.v[i].gen = s->gen;
}

void snapshot_seed_finish(struct snapshot *s)
{
	int64_t now = snapshot_now_ns();

	for (size_t i = 0; i < s->table.nr; i++) {
		struct table_entry *t = &s->table.v[i];

		if (S_ISREG(t->st.mode) && t->st.ctime_ns >= now - RACY_WINDOW_NS)
			t->flags |= TABLE_RACY;
	}
}
