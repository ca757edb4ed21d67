#include "compat.h"
#include "image.h"
#include "buf.h"
#include "error.h"
#include "kiln-test.h"

#define D1 "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define D2 "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define D3 "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"

static const char manifest_json[] =
	"{\"schemaVersion\":2,\"mediaType\":\"" IMAGE_MT_OCI_MANIFEST "\","
	"\"config\":{\"mediaType\":\"" IMAGE_MT_OCI_CONFIG "\",\"digest\":\"" D1 "\",\"size\":7},"
	"\"layers\":[{\"mediaType\":\"" IMAGE_MT_OCI_LAYER_GZIP "\",\"digest\":\"" D2
	"\",\"size\":32},"
	"{\"mediaType\":\"" IMAGE_MT_DOCKER_LAYER_GZIP "\",\"digest\":\"" D3
	"\",\"size\":9007199254740992,"
	"\"annotations\":{\"b\":\"2\",\"a\":\"1\"}}],"
	"\"annotations\":{\"org.opencontainers.image.ref.name\":\"x\"},\"unknown\":[1,2]}";

static void test_manifest_parse(void **state)
{
	struct kiln_error err = KILN_ERROR_INIT;
	struct image_manifest m = IMAGE_MANIFEST_INIT;
	char s[KILN_DIGEST_STR_SIZE];

	(void)state;
	if (image_manifest_parse(&m, manifest_json, strlen(manifest_json), &err) < 0)
		fail_msg("%s", kiln_error_msg(&err));
	assert_string_equal(m.media_type, IMAGE_MT_OCI_MANIFEST);
	assert_string_equal(m.config.media_type, IMAGE_MT_OCI_CONFIG);
	kiln_digest_format(s, &m.config.digest);
	assert_string_equal(s, D1);
	assert_int_equal(m.config.size, 7);
	assert_int_equal(m.nr_layers, 2);
	assert_int_equal(m.layers[1].size, 9007199254740992LL);
	assert_string_equal(image_map_get(&m.layers[1].annotations, "a"), "1");
	assert_true(image_media_type_is_layer(m.layers[0].media_type));
	assert_true(image_media_type_is_layer(m.layers[1].media_type));
	image_manifest_release(&m);
}

/* Written, parsed, written again: the same bytes (determinism). */
static void test_manifest_round_trip(void **state)
{
	struct kiln_error err = KILN_ERROR_INIT;
	struct image_manifest m = IMAGE_MANIFEST_INIT, m2 = IMAGE_MANIFEST_INIT;
	struct kiln_buf a = KILN_BUF_INIT, b = KILN_BUF_INIT;

	(void)state;
	assert_int_equal(image_manifest_parse(&m, manifest_json, strlen(manifest_json), &err), 0);
	image_manifest_write(&a, &m);
	/* Map keys are written sorted, unknown fields dropped. */
	assert_non_null(strstr(a.buf, "\"annotations\":{\"a\":\"1\",\"b\":\"2\"}"));
	assert_null(strstr(a.buf, "unknown"));
	assert_int_equal(image_manifest_parse(&m2, a.buf, a.len, &err), 0);
	image_manifest_write(&b, &m2);
	assert_string_equal(a.buf, b.buf);
	image_manifest_release(&m);
	image_manifest_release(&m2);
	kiln_buf_release(&a);
	kiln_buf_release(&b);
}

static const struct bad_doc {
	const char *json, *want;
} bad_manifests[] = {
	{ "[]", "not a JSON object" },
	{ "{\"schemaVersion\":2", "not a JSON object" },
	{ "{\"schemaVersion\":1}", "schemaVersion 1" },
	{ "{\"schemaVersion\":2,\"mediaType\":\"" IMAGE_MT_OCI_INDEX "\"}",
	  "unexpected mediaType" },
	{ "{\"schemaVersion\":2}", "'config' is not an object" },
	{ "{\"schemaVersion\":2,\"config\":{\"digest\":\"sha256:12\",\"size\":1}}",
	  "config.digest" },
	{ "{\"schemaVersion\":2,\"config\":{\"digest\":\"" D1 "\",\"size\":-1}}", "config.size" },
	{ "{\"schemaVersion\":2,\"config\":{\"digest\":\"" D1 "\",\"size\":1.5}}", "config.size" },
	{ "{\"schemaVersion\":2,\"config\":{\"digest\":\"" D1 "\",\"size\":1e300}}",
	  "config.size" },
	{ "{\"schemaVersion\":2,\"config\":{\"digest\":\"" D1 "\",\"size\":\"1\"}}",
	  "config.size" },
	{ "{\"schemaVersion\":2,\"config\":{\"digest\":\"" D1 "\"}}", "config.size" },
	{ "{\"schemaVersion\":2,\"config\":{\"digest\":\"" D1 "\",\"size\":1},\"layers\":{}}",
	  "'layers'" },
	{ "{\"schemaVersion\":2,\"config\":{\"digest\":\"" D1
	  "\",\"size\":1},\"layers\":[{\"digest\":"
	  "\"" D1 "\",\"size\":1},{\"digest\":\"" D1 "\",\"size\":1,\"mediaType\":7}]}",
	  "layers[1].mediaType" },
	{ "{\"schemaVersion\":2,\"config\":{\"digest\":\"" D1
	  "\",\"size\":1,\"annotations\":{\"a\":1}}}",
	  "config.annotations" },
};

static void test_manifest_parse_bad(void **state)
{
	(void)state;
	for (size_t i = 0; i < KILN_ARRAY_SIZE(bad_manifests); i++) {
		struct kiln_error err = KILN_ERROR_INIT;
		struct image_manifest m = IMAGE_MANIFEST_INIT;
		const char *j = bad_manifests[i].json;

		if (image_manifest_parse(&m, j, strlen(j), &err) == 0)
			fail_msg("accepted: %s", j);
		if (!strstr(kiln_error_msg(&err), bad_manifests[i].want))
			fail_msg("'%s': error '%s' lacks '%s'", j, kiln_error_msg(&err),
				 bad_manifests[i].want);
		kiln_error_release(&err);
	}
}

static void test_manifest_size_cap(void **state)
{
	struct kiln_error err = KILN_ERROR_INIT;
	struct image_manifest m = IMAGE_MANIFEST_INIT;
	size_t len = IMAGE_MANIFEST_MAX + 1;
	char *big = calloc(1, len);

	(void)state;
	memset(big, ' ', len);
	big[0] = '{';
	big[len - 1] = '}';
	assert_int_equal(image_manifest_parse(&m, big, len, &err), KILN_EINVAL);
	assert_non_null(strstr(kiln_error_msg(&err), "limit"));
	free(big);
	kiln_error_release(&err);
}

static const char index_json[] =
	"{\"schemaVersion\":2,\"mediaType\":\"" IMAGE_MT_DOCKER_LIST "\",\"manifests\":["
	"{\"mediaType\":\"" IMAGE_MT_DOCKER_MANIFEST "\",\"digest\":\"" D1 "\",\"size\":10,"
	"\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"}},"
	"{\"mediaType\":\"" IMAGE_MT_DOCKER_MANIFEST "\",\"digest\":\"" D2 "\",\"size\":11,"
	"\"platform\":{\"architecture\":\"arm\",\"os\":\"linux\",\"variant\":\"v6\"}},"
	"{\"mediaType\":\"" IMAGE_MT_DOCKER_MANIFEST "\",\"digest\":\"" D3 "\",\"size\":12,"
	"\"platform\":{\"architecture\":\"arm64\",\"os\":\"linux\"}}]}";

static void select_platform(const struct image_index *ix, const char *p, long want)
{
	struct kiln_error err = KILN_ERROR_INIT;
	struct image_platform plat;
	size_t i = 99;
	int ret;

	assert_int_equal(image_platform_parse(&plat, p, &err), 0);
	ret = image_index_select(&i, ix, &plat, &err);
	if (want < 0) {
		assert_int_equal(ret, KILN_ENOENT);
		/* The message lists what the index has. */
		assert_non_null(
			strstr(kiln_error_msg(&err), "linux/amd64, linux/arm/v6, linux/arm64"));
		assert_non_null(strstr(kiln_error_msg(&err), p));
	} else {
		if (ret < 0)
			fail_msg("%s: %s", p, kiln_error_msg(&err));
		assert_int_equal(i, want);
	}
	image_platform_release(&plat);
	kiln_error_release(&err);
}

static void test_index_select(void **state)
{
	struct kiln_error err = KILN_ERROR_INIT;
	struct image_index ix = IMAGE_INDEX_INIT;
	struct kiln_buf a = KILN_BUF_INIT;

	(void)state;
	assert_int_equal(image_index_parse(&ix, index_json, strlen(index_json), &err), 0);
	assert_int_equal(ix.nr_manifests, 3);
	select_platform(&ix, "linux/amd64", 0);
	select_platform(&ix, "linux/x86_64", 0);
	select_platform(&ix, "linux/arm/v6", 1);
	select_platform(&ix, "linux/arm64", 2);
	select_platform(&ix, "linux/aarch64/v8", 2); /* v8 is arm64's default */
	select_platform(&ix, "linux/arm/v7", -1);
	select_platform(&ix, "linux/s390x", -1);
	select_platform(&ix, "windows/amd64", -1);
	image_index_write(&a, &ix);
	assert_non_null(strstr(a.buf, "\"platform\":{\"architecture\":\"arm\",\"os\":\"linux\","
				      "\"variant\":\"v6\"}"));
	image_index_release(&ix);
	kiln_buf_release(&a);
	/* A manifest is not an index. */
	assert_int_equal(image_index_parse(&ix, manifest_json, strlen(manifest_json), &err),
			 KILN_EINVAL);
	kiln_error_release(&err);
}

static void test_platform_parse(void **state)
{
	static const char *const bad[] = { "",		"linux",      "linux/",	       "/amd64",
					   "linux//v7", "linux/arm/", "linux/arm/v7/x" };
	struct kiln_error err = KILN_ERROR_INIT;
	struct image_platform p;
	struct kiln_buf s = KILN_BUF_INIT;

	(void)state;
	assert_int_equal(image_platform_parse(&p, "linux/x86_64", &err), 0);
	image_platform_format(&s, &p);
	assert_string_equal(s.buf, "linux/amd64");
	assert_null(p.variant);
	image_platform_release(&p);
	for (size_t i = 0; i < KILN_ARRAY_SIZE(bad); i++) {
		if (image_platform_parse(&p, bad[i], &err) == 0)
			fail_msg("accepted '%s'", bad[i]);
		assert_non_null(strstr(kiln_error_msg(&err), "os/arch"));
	}
	image_platform_host(&p);
	assert_string_equal(p.os, "linux");
	assert_non_null(p.architecture);
	image_platform_release(&p);
	kiln_buf_release(&s);
	kiln_error_release(&err);
}

static const char config_json[] =
	"{\"architecture\":\"amd64\",\"os\":\"linux\",\"created\":\"2024-01-01T00:00:00Z\","
	"\"config\":{\"User\":\"nobody\",\"ExposedPorts\":{\"80/tcp\":{},\"443/tcp\":{}},"
	"\"Env\":[\"PATH=/bin\",\"A=b c\"],\"Entrypoint\":[],\"Cmd\":null,"
	"\"Volumes\":{\"/data\":{}},\"WorkingDir\":\"/w\",\"Labels\":{\"z\":\"1\",\"a\":\"2\"},"
	"\"StopSignal\":\"SIGTERM\",\"Shell\":[\"/bin/sh\",\"-c\"],\"OnBuild\":[\"RUN x\"],"
	"\"Healthcheck\":{\"Test\":[\"CMD-SHELL\",\"true\"],\"Interval\":30000000000,\"Retries\":3}"
	","
	"\"Hostname\":\"ignored\"},"
	"\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" D1 "\",\"" D2 "\"]},"
	"\"history\":[{\"created\":\"2024-01-01T00:00:00Z\",\"created_by\":\"ADD x\"},"
	"{\"created_by\":\"ENV A=b\",\"empty_layer\":true}]}";

static void test_config_round_trip(void **state)
{
	struct kiln_error err = KILN_ERROR_INIT;
	struct image_config c = { 0 }, c2 = { 0 };
	struct kiln_buf a = KILN_BUF_INIT, b = KILN_BUF_INIT;

	(void)state;
	if (image_config_parse(&c, config_json, strlen(config_json), &err) < 0)
		fail_msg("%s", kiln_error_msg(&err));
	assert_string_equal(c.config.user, "nobody");
	assert_int_equal(c.config.env.nr, 2);
	assert_true(c.config.has_entrypoint);
	assert_int_equal(c.config.entrypoint.nr, 0);
	assert_false(c.config.has_cmd);
	assert_int_equal(c.config.exposed_ports.nr, 2);
	assert_int_equal(c.config.healthcheck.retries, 3);
	assert_int_equal(c.config.healthcheck.interval, 30000000000LL);
	assert_int_equal(c.nr_diff_ids, 2);
	assert_int_equal(c.nr_history, 2);
	assert_true(c.history[1].empty_layer);
	image_config_write(&a, &c);
	/* Empty entrypoint kept as [], absent Cmd stays absent, maps sorted. */
	assert_non_null(strstr(a.buf, "\"Entrypoint\":[]"));
	assert_null(strstr(a.buf, "\"Cmd\""));
	assert_non_null(strstr(a.buf, "\"ExposedPorts\":{\"443/tcp\":{},\"80/tcp\":{}}"));
	assert_non_null(strstr(a.buf, "\"Labels\":{\"a\":\"2\",\"z\":\"1\"}"));
	assert_int_equal(image_config_parse(&c2, a.buf, a.len, &err), 0);
	image_config_write(&b, &c2);
	assert_string_equal(a.buf, b.buf);
	image_config_release(&c);
	image_config_release(&c2);
	kiln_buf_release(&a);
	kiln_buf_release(&b);
}

static void test_config_parse_bad(void **state)
{
	static const struct bad_doc cases[] = {
		{ "{\"config\":{\"Env\":\"PATH=/bin\"}}", "config.Env" },
		{ "{\"config\":{\"Env\":[1]}}", "config.Env" },
		{ "{\"config\":{\"Labels\":{\"a\":{}}}}", "config.Labels" },
		{ "{\"config\":[]}", "'config'" },
		{ "{\"rootfs\":{\"diff_ids\":[\"sha256:xyz\"]}}", "rootfs.diff_ids" },
		{ "{\"history\":[{\"empty_layer\":\"yes\"}]}", "history" },
		{ "{\"config\":{\"Healthcheck\":{\"Retries\":-1}}}", "Healthcheck.Retries" },
	};

	(void)state;
	for (size_t i = 0; i < KILN_ARRAY_SIZE(cases); i++) {
		struct kiln_error err = KILN_ERROR_INIT;
		struct image_config c = { 0 };

		if (image_config_parse(&c, cases[i].json, strlen(cases[i].json), &err) == 0)
			fail_msg("accepted: %s", cases[i].json);
		if (!strstr(kiln_error_msg(&err), cases[i].want))
			fail_msg("'%s': error '%s' lacks '%s'", cases[i].json, kiln_error_msg(&err),
				 cases[i].want);
		kiln_error_release(&err);
	}
}

static void test_map_ops(void **state)
{
	struct image_map m = { 0 };

	(void)state;
	image_map_set(&m, "a", "1");
	image_map_set(&m, "b", "2");
	image_map_set(&m, "a", "3");
	assert_int_equal(m.nr, 2);
	assert_string_equal(image_map_get(&m, "a"), "3");
	assert_true(image_map_remove(&m, "a"));
	assert_false(image_map_remove(&m, "a"));
	assert_null(image_map_get(&m, "a"));
	assert_string_equal(image_map_get(&m, "b"), "2");
	image_map_release(&m);
}

/* One test per line: test/CMakeLists.txt discovers them line by line. */
/* clang-format off */
static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_manifest_parse),
	cmocka_unit_test(test_manifest_round_trip),
	cmocka_unit_test(test_manifest_parse_bad),
	cmocka_unit_test(test_manifest_size_cap),
	cmocka_unit_test(test_index_select),
	cmocka_unit_test(test_platform_parse),
	cmocka_unit_test(test_config_round_trip),
	cmocka_unit_test(test_config_parse_bad),
	cmocka_unit_test(test_map_ops),
};
/* clang-format on */

KILN_TEST_MAIN(tests)
