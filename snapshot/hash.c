#include "compat.h"
#include "snapshot.h"
#include "alloc.h"
#include "buf.h"
#include "error.h"

#include <xxhash.h>

/* Large reads keep the syscall count low on big files; the buffer lives on
 * the heap because walker threads have small stacks. */
#define HASH_CHUNK (256 * 1024)

static void from_xxh(struct snapshot_hash *out, XXH128_hash_t h)
{
	out->lo = h.low64;
	out->hi = h.high64;
}

int snapshot_hash_fd(struct snapshot_hash *out, int fd, const char *what, struct kiln_error *err)
{
	XXH3_state_t *state = XXH3_createState();
	char *chunk = xmalloc(HASH_CHUNK);
	int ret = -1;

	if (!state) {
		fprintf(stderr, "kiln: fatal: out of memory for a hash state\n");
		exit(1);
	}
	XXH3_128bits_reset(state);
	for (;;) {
		ssize_t n = read(fd, chunk, HASH_CHUNK);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = kiln_err(err, KILN_EIO, errno, "read '%s'", what);
			goto out;
		}
		if (n == 0)
			break;
		XXH3_128bits_update(state, chunk, (size_t)n);
	}
	from_xxh(out, XXH3_128bits_digest(state));
	ret = 0;
out:
	XXH3_freeState(state);
	free(chunk);
	return ret;
}

void snapshot_hash_bytes(struct snapshot_hash *out, const void *data, size_t len)
{
	from_xxh(out, XXH3_128bits(data, len));
}

bool snapshot_hash_eq(const struct snapshot_hash *a, const struct snapshot_hash *b)
{
	return a->lo == b->lo && a->hi == b->hi;
}

struct snapshot_hasher {
	XXH3_state_t *state;
};

struct snapshot_hasher *snapshot_hasher_new(void)
{
	struct snapshot_hasher *h = xcalloc(1, sizeof(*h));

	h->state = XXH3_createState();
	if (!h->state) {
		fprintf(stderr, "kiln: fatal: out of memory for a hash state\n");
		exit(1);
	}
	XXH3_128bits_reset(h->state);
	return h;
}

void snapshot_hasher_update(struct snapshot_hasher *h, const void *data, size_t len)
{
	XXH3_128bits_update(h->state, data, len);
}

void snapshot_hasher_finish(struct snapshot_hasher *h, struct snapshot_hash *out)
{
	from_xxh(out, XXH3_128bits_digest(h->state));
	snapshot_hasher_free(h);
}

void snapshot_hasher_free(struct snapshot_hasher *h)
{
	if (!h)
		return;
	XXH3_freeState(h->state);
	free(h);
}

void snapshot_versions(struct kiln_buf *out)
{
	unsigned v = XXH_versionNumber();

	kiln_buf_addf(out, "  xxHash %u.%u.%u\n", v / 10000, v / 100 % 100, v % 100);
}
