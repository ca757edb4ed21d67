/*
 * table.c: the snapshot table, path -> stat tuple and hashes.
 *
 * Entries live in one array (cache friendly, one allocation per path for
 * the name) and are found through an open-addressing index of uint32
 * slots, so 100,000 paths cost a few MB beyond their names.
 */
#include "compat.h"
#include "snapshot-int.h"
#include "alloc.h"

#include <xxhash.h>

void table_init(struct snapshot_table *t)
{
	memset(t, 0, sizeof(*t));
}

void table_release(struct snapshot_table *t)
{
	for (size_t i = 0; i < t->nr; i++)
		free(t->v[i].path);
	free(t->v);
	free(t->slots);
	table_init(t);
}

static size_t slot_of(const char *path, size_t nr_slots)
{
	return (size_t)(XXH3_64bits(path, strlen(path)) & (nr_slots - 1));
}

static void index_insert(struct snapshot_table *t, size_t idx)
{
	size_t s = slot_of(t->v[idx].path, t->nr_slots);

	while (t->slots[s])
		s = (s + 1) & (t->nr_slots - 1);
	t->slots[s] = (uint32_t)(idx + 1);
}

static void reindex(struct snapshot_table *t, size_t nr_slots)
{
	free(t->slots);
	t->slots = xcalloc(nr_slots, sizeof(*t->slots));
	t->nr_slots = nr_slots;
	for (size_t i = 0; i < t->nr; i++)
		index_insert(t, i);
}

ssize_t table_find(const struct snapshot_table *t, const char *path)
{
	size_t s;

	if (!t->nr_slots)
		return -1;
	for (s = slot_of(path, t->nr_slots); t->slots[s]; s = (s + 1) & (t->nr_slots - 1)) {
		size_t idx = t->slots[s] - 1;

		if (!strcmp(t->v[idx].path, path))
			return (ssize_t)idx;
	}
	return -1;
}

size_t table_add(struct snapshot_table *t, char *path)
{
	size_t idx = t->nr;

	if (t->nr >= UINT32_MAX - 1) {
		fprintf(stderr, "kiln: fatal: more than 4 billion paths in one snapshot\n");
		exit(1);
	}
	if (t->nr == t->alloc) {
		t->alloc = t->alloc ? st_mult(t->alloc, 2) : 1024;
		t->v = xreallocarray(t->v, t->alloc, sizeof(*t->v));
	}
	memset(&t->v[idx], 0, sizeof(t->v[idx]));
	t->v[idx].path = path;
	t->nr++;
	/* keep the load factor under 1/2 so probes stay short */
	if (st_mult(t->nr, 2) > t->nr_slots)
		reindex(t, t->nr_slots ? st_mult(t->nr_slots, 2) : 2048);
	else
		index_insert(t, idx);
	return idx;
}

void table_sweep(struct snapshot_table *t, uint32_t gen,
		 void (*gone)(void *ctx, const struct table_entry *e), void *ctx)
{
	size_t keep = 0;

	for (size_t i = 0; i < t->nr; i++) {
		if (t->v[i].gen != gen) {
			if (gone)
				gone(ctx, &t->v[i]);
			free(t->v[i].path);
			continue;
		}
		t->v[keep++] = t->v[i];
	}
	if (keep != t->nr) {
		t->nr = keep;
		reindex(t, t->nr_slots);
	}
}
