/*
 * base_cache_lookup() on hand-made entries: the directory naming base-cache.h
 * documents, found / expired / missing, and corrupt entries reported as
 * errors (the build then warns and pulls).
 */
#include "compat.h"
#include "base-cache.h"
#include "buf.h"
#include "digest.h"
#include "error.h"
#include "fileio.h"
#include "kiln-test.h"

#include <ftw.h>
#include <sys/stat.h>
#include <time.h>

#define REF	 "127.0.0.1:5000/library/busybox:latest"
#define PLATFORM "linux/amd64"
#define LAYER	 "not really a tar, lookup does not read layers"
#define CONFIG	 "{\"architecture\":\"amd64\",\"os\":\"linux\"}"

/* What make_entry writes, and how to spoil it. */
struct fixture {
	char *cache;
	struct kiln_buf dir; /* the entry */
	struct kiln_buf manifest;
	struct kiln_digest manifest_digest, layer_digest;
};

enum spoil {
	SPOIL_NONE,
	SPOIL_MANIFEST,	    /* bytes that do not hash to index.json's digest */
	SPOIL_LAYER,	    /* a layer missing */
	SPOIL_INDEX_TYPE,   /* index.json names an index */
	SPOIL_NO_CREATED,   /* no created annotation */
	SPOIL_OTHER_REF,    /* the entry holds another image */
	SPOIL_LAYER_LENGTH, /* a layer of another size than its descriptor's */
};

static void write_file(const char *dir, const char *name, const void *data, size_t len)
{
	struct kiln_buf path = KILN_BUF_INIT;
	struct kiln_error err = KILN_ERROR_INIT;

	kiln_buf_addf(&path, "%s/%s", dir, name);
	assert_int_equal(kiln_file_write_atomic(path.buf, data, len, 0644, &err), 0);
	kiln_buf_release(&path);
}

static void write_blob(const char *dir, const struct kiln_digest *d, const void *data, size_t len)
{
	char hex[2 * KILN_SHA256_LEN + 1], name[128];

	kiln_digest_hex(hex, d);
	snprintf(name, sizeof(name), "blobs/sha256/%s", hex);
	write_file(dir, name, data, len);
}

static void rfc3339(char out[32], time_t t)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* An entry for REF/PLATFORM made by hand as `executor warm` would, stored
 * age_s seconds ago, spoilt as asked. */
static void make_entry(struct fixture *f, time_t age_s, enum spoil spoil)
{
	struct kiln_buf index = KILN_BUF_INIT, path = KILN_BUF_INIT;
	struct kiln_digest config_digest;
	char md[KILN_DIGEST_STR_SIZE], cd[KILN_DIGEST_STR_SIZE], ld[KILN_DIGEST_STR_SIZE];
	char when[32];

	kiln_digest_of(&config_digest, CONFIG, strlen(CONFIG));
	kiln_digest_of(&f->layer_digest, LAYER, strlen(LAYER));
	kiln_digest_format(cd, &config_digest);
	kiln_digest_format(ld, &f->layer_digest);
	kiln_buf_addf(
		&f->manifest,
		"{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
		"\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
		"\"digest\":\"%s\",\"size\":%zu},\"layers\":[{\"mediaType\":"
		"\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"%s\","
		"\"size\":%zu}]}",
		cd, strlen(CONFIG), ld, strlen(LAYER));
	kiln_digest_of(&f->manifest_digest, f->manifest.buf, f->manifest.len);
	kiln_digest_format(md, &f->manifest_digest);

	kiln_buf_addf(&path, "%s/blobs", f->dir.buf);
	assert_int_equal(mkdir(f->dir.buf, 0755), 0);
	assert_int_equal(mkdir(path.buf, 0755), 0);
	kiln_buf_addstr(&path, "/sha256");
	assert_int_equal(mkdir(path.buf, 0755), 0);
	write_file(f->dir.buf, "oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}", 30);
	write_blob(f->dir.buf, &config_digest, CONFIG, strlen(CONFIG));
	if (spoil != SPOIL_LAYER)
		write_blob(f->dir.buf, &f->layer_digest, LAYER,
			   strlen(LAYER) - (spoil == SPOIL_LAYER_LENGTH));
	if (spoil == SPOIL_MANIFEST)
		write_blob(f->dir.buf, &f->manifest_digest, f->manifest.buf, f->manifest.len - 1);
	else
		write_blob(f->dir.buf, &f->manifest_digest, f->manifest.buf, f->manifest.len);

	rfc3339(when, time(NULL) - age_s);
	kiln_buf_addf(&index, "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"%s\",",
		      spoil == SPOIL_INDEX_TYPE ? "application/vnd.oci.image.index.v1+json"
						: "application/vnd.oci.image.manifest.v1+json");
	kiln_buf_addf(&index, "\"digest\":\"%s\",\"size\":%zu,\"annotations\":{", md,
		      f->manifest.len);
	if (spoil != SPOIL_NO_CREATED)
		kiln_buf_addf(&index, "\"org.opencontainers.image.created\":\"%s\",", when);
	kiln_buf_addf(&index, "\"org.opencontainers.image.ref.name\":\"%s\"}}]}",
		      spoil == SPOIL_OTHER_REF ? "docker.io/library/alpine:latest" : REF);
	write_file(f->dir.buf, "index.json", index.buf, index.len);
	kiln_buf_release(&index);
	kiln_buf_release(&path);
}

/* The entry's directory as base-cache.h defines it, computed here. */
static void fixture_init(struct fixture *f)
{
	char tmpl[] = "/tmp/kiln-test-base-cache-XXXXXX";
	struct kiln_digest key;
	char hex[2 * KILN_SHA256_LEN + 1];
	const char *text = REF "\n" PLATFORM;

	assert_non_null(mkdtemp(tmpl));
	f->cache = strdup(tmpl);
	f->dir = (struct kiln_buf)KILN_BUF_INIT;
	f->manifest = (struct kiln_buf)KILN_BUF_INIT;
	kiln_digest_of(&key, text, strlen(text));
	kiln_digest_hex(hex, &key);
	kiln_buf_addf(&f->dir, "%s/%s", f->cache, hex);
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static void fixture_release(struct fixture *f)
{
	assert_int_equal(nftw(f->cache, remove_one, 16, FTW_DEPTH | FTW_PHYS), 0);
	free(f->cache);
	kiln_buf_release(&f->dir);
	kiln_buf_release(&f->manifest);
}

static void test_base_cache_entry_dir(void **state)
{
	struct fixture f;
	struct kiln_buf got = KILN_BUF_INIT;
	struct kiln_error err = KILN_ERROR_INIT;

	(void)state;
	fixture_init(&f);
	assert_int_equal(base_cache_entry_dir(&got, f.cache, REF, PLATFORM, &err), 0);
	assert_string_equal(got.buf, f.dir.buf);
	/* the same entry however ref and platform are spelt */
	kiln_buf_reset(&got);
	assert_int_equal(base_cache_entry_dir(&got, f.cache, "127.0.0.1:5000/library/busybox",
					      "linux/x86_64", &err),
			 0);
	assert_string_equal(got.buf, f.dir.buf);
	kiln_buf_reset(&got);
	assert_int_equal(base_cache_entry_dir(&got, f.cache, REF, "linux/arm64", &err), 0);
	assert_string_not_equal(got.buf, f.dir.buf);
	assert_int_equal(base_cache_entry_dir(&got, f.cache, "Not::A/ref", PLATFORM, &err),
			 KILN_EINVAL);
	assert_int_equal(base_cache_entry_dir(&got, f.cache, REF, "linux", &err), KILN_EINVAL);
	kiln_buf_release(&got);
	kiln_error_release(&err);
	fixture_release(&f);
}

static void test_base_cache_found(void **state)
{
	struct fixture f;
	struct base_cache_entry e = { 0 };
	struct kiln_buf path = KILN_BUF_INIT, layer = KILN_BUF_INIT;
	struct kiln_error err = KILN_ERROR_INIT;
	bool found = false;
	time_t now = time(NULL);

	(void)state;
	fixture_init(&f);
	make_entry(&f, 10, SPOIL_NONE);
	assert_int_equal(base_cache_lookup(&e, &found, f.cache, "127.0.0.1:5000/library/busybox",
					   "linux/x86_64", 3600, &err),
			 0);
	assert_true(found);
	assert_string_equal(e.layout_dir, f.dir.buf);
	assert_int_equal(e.manifest_len, f.manifest.len);
	assert_memory_equal(e.manifest, f.manifest.buf, f.manifest.len);
	assert_string_equal(e.media_type, "application/vnd.oci.image.manifest.v1+json");
	assert_true(kiln_digest_eq(&e.manifest_digest, &f.manifest_digest));
	assert_in_range(e.created, now - 11, now - 9);
	base_cache_blob_path(&path, &e, &f.layer_digest);
	assert_int_equal(kiln_file_read(&layer, path.buf, 1024, &err), 0);
	assert_string_equal(layer.buf, LAYER);
	base_cache_entry_release(&e);
	kiln_buf_release(&path);
	kiln_buf_release(&layer);
	kiln_error_release(&err);
	fixture_release(&f);
}

static void test_base_cache_expired(void **state)
{
	struct fixture f;
	struct base_cache_entry e = { 0 };
	struct kiln_error err = KILN_ERROR_INIT;
	bool found = true;

	(void)state;
	fixture_init(&f);
	make_entry(&f, 7200, SPOIL_NONE);
	assert_int_equal(base_cache_lookup(&e, &found, f.cache, REF, PLATFORM, 3600, &err), 0);
	assert_false(found);
	assert_null(e.manifest);
	assert_int_equal(base_cache_lookup(&e, &found, f.cache, REF, PLATFORM, 3 * 3600, &err), 0);
	assert_true(found);
	base_cache_entry_release(&e);
	kiln_error_release(&err);
	fixture_release(&f);
}

static void test_base_cache_missing(void **state)
{
	struct fixture f;
	struct base_cache_entry e = { 0 };
	struct kiln_buf none = KILN_BUF_INIT;
	struct kiln_error err = KILN_ERROR_INIT;
	bool found = true;

	(void)state;
	fixture_init(&f);
	assert_int_equal(base_cache_lookup(&e, &found, f.cache, REF, PLATFORM, 3600, &err), 0);
	assert_false(found);
	/* another platform's entry is not this one's */
	make_entry(&f, 0, SPOIL_NONE);
	found = true;
	assert_int_equal(base_cache_lookup(&e, &found, f.cache, REF, "linux/arm64", 3600, &err), 0);
	assert_false(found);
	/* no cache directory at all */
	kiln_buf_addf(&none, "%s/none", f.cache);
	found = true;
	assert_int_equal(base_cache_lookup(&e, &found, none.buf, REF, PLATFORM, 3600, &err), 0);
	assert_false(found);
	assert_int_equal(err.code, 0);
	kiln_buf_release(&none);
	fixture_release(&f);
}

static void check_corrupt(enum spoil spoil, int code, const char *says)
{
	struct fixture f;
	struct base_cache_entry e = { 0 };
	struct kiln_error err = KILN_ERROR_INIT;
	bool found = true;

	fixture_init(&f);
	make_entry(&f, 0, spoil);
	assert_int_equal(base_cache_lookup(&e, &found, f.cache, REF, PLATFORM, 3600, &err), code);
	assert_false(found);
	assert_null(e.manifest);
	/* the message names the image and the entry, then the fault */
	assert_non_null(strstr(kiln_error_msg(&err), "cached base image '" REF "'"));
	assert_non_null(strstr(kiln_error_msg(&err), f.dir.buf));
	if (!strstr(kiln_error_msg(&err), says))
		fail_msg("'%s' does not say '%s'", kiln_error_msg(&err), says);
	kiln_error_release(&err);
	fixture_release(&f);
}

static void test_base_cache_corrupt(void **state)
{
	(void)state;
	check_corrupt(SPOIL_MANIFEST, KILN_EDIGEST, "does not match");
	check_corrupt(SPOIL_LAYER, KILN_EIO, "No such file");
	check_corrupt(SPOIL_LAYER_LENGTH, KILN_EIO, "its descriptor says");
	check_corrupt(SPOIL_INDEX_TYPE, KILN_EINVAL, "not an image manifest");
	check_corrupt(SPOIL_NO_CREATED, KILN_EINVAL, "org.opencontainers.image.created");
	check_corrupt(SPOIL_OTHER_REF, KILN_EINVAL, "docker.io/library/alpine:latest");
}

static void test_base_cache_bad_ref(void **state)
{
	struct base_cache_entry e = { 0 };
	struct kiln_error err = KILN_ERROR_INIT;
	bool found = true;

	(void)state;
	assert_int_equal(
		base_cache_lookup(&e, &found, "/nonexistent", "Not::A/ref", PLATFORM, 1, &err),
		KILN_EINVAL);
	assert_false(found);
	kiln_error_release(&err);
}

/* one per line: ctest finds them by line */
/* clang-format off */
static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_base_cache_entry_dir),
	cmocka_unit_test(test_base_cache_found),
	cmocka_unit_test(test_base_cache_expired),
	cmocka_unit_test(test_base_cache_missing),
	cmocka_unit_test(test_base_cache_corrupt),
	cmocka_unit_test(test_base_cache_bad_ref),
};
/* clang-format on */

KILN_TEST_MAIN(tests)
