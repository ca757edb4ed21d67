/*
 * cache-key.c: keys as chains of length-prefixed parts (see cache.h).
 */
#include "compat.h"
#include "cache.h"

/* Bumped when what goes into a key changes, so old entries stop matching. */
#define CACHE_KEY_FORMAT "kiln-cache-key/1"

static void add_len(struct cache_key *k, uint64_t n)
{
	unsigned char b[8];

	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)(n >> (8 * i));
	kiln_sha256_update(&k->h, b, sizeof(b));
}

void cache_key_add(struct cache_key *k, const char *name, const void *data, size_t len)
{
	size_t nlen = strlen(name);

	add_len(k, nlen);
	kiln_sha256_update(&k->h, name, nlen);
	add_len(k, len);
	if (len)
		kiln_sha256_update(&k->h, data, len);
}

void cache_key_add_str(struct cache_key *k, const char *name, const char *s)
{
	/* absent and empty differ: absent adds the name alone */
	if (!s) {
		cache_key_add(k, "absent", name, strlen(name));
		return;
	}
	cache_key_add(k, name, s, strlen(s));
}

void cache_key_begin(struct cache_key *k, const struct kiln_digest *parent)
{
	kiln_sha256_init(&k->h);
	cache_key_add_str(k, "format", CACHE_KEY_FORMAT);
	cache_key_add(k, "parent", parent->sha256, sizeof(parent->sha256));
}

void cache_key_end(struct cache_key *k, struct kiln_digest *out)
{
	kiln_sha256_final(&k->h, out);
}

void cache_key_abort(struct cache_key *k)
{
	kiln_sha256_release(&k->h);
}

void cache_key_scratch(struct kiln_digest *out, const char *platform)
{
	struct cache_key k;

	kiln_sha256_init(&k.h);
	cache_key_add_str(&k, "format", CACHE_KEY_FORMAT);
	cache_key_add_str(&k, "scratch", platform);
	cache_key_end(&k, out);
}
