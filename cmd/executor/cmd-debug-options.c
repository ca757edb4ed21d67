/*
 * `executor debug options FLAGS...`: parse FLAGS as the build would and
 * print the result as one JSON object, keyed by flag name, so tests can
 * check the command line without running a build. Registry settings sit
 * under "push" and "pull"; "noop-flags" and "deprecated-flags" list what
 * was accepted without effect or spelled the old way. Exit 0, or 1 with
 * the build's own error when the flags do not parse.
 */
#include "compat.h"
#include "commands.h"
#include "error.h"
#include "options.h"

#include <cjson/cJSON.h>

static void add_str(cJSON *obj, const char *key, const char *value)
{
	if (value)
		cJSON_AddStringToObject(obj, key, value);
	else
		cJSON_AddNullToObject(obj, key);
}

static void add_strvec(cJSON *obj, const char *key, const struct kiln_strvec *sv)
{
	cJSON *arr = cJSON_AddArrayToObject(obj, key);

	for (size_t i = 0; i < sv->nr; i++)
		cJSON_AddItemToArray(arr, cJSON_CreateString(sv->v[i]));
}

static cJSON *registry_json(const struct registry_options *r)
{
	cJSON *obj = cJSON_CreateObject();

	cJSON_AddBoolToObject(obj, "insecure", r->insecure);
	cJSON_AddBoolToObject(obj, "skip-tls-verify", r->skip_tls_verify);
	add_strvec(obj, "insecure-registry", &r->insecure_registries);
	add_strvec(obj, "skip-tls-verify-registry", &r->skip_tls_verify_registries);
	add_strvec(obj, "registry-certificate", &r->certificates);
	add_strvec(obj, "registry-client-cert", &r->client_certs);
	add_strvec(obj, "registry-mirror", &r->mirrors);
	add_strvec(obj, "registry-map", &r->registry_maps);
	cJSON_AddBoolToObject(obj, "skip-default-registry-fallback", r->skip_default_fallback);
	cJSON_AddNumberToObject(obj, "retries", r->retries);
	return obj;
}

static const char *snapshot_mode_name(enum snapshot_mode m)
{
	switch (m) {
	case SNAPSHOT_FULL:
		return "full";
	case SNAPSHOT_REDO:
		return "redo";
	case SNAPSHOT_TIME:
		return "time";
	}
	return "?";
}

static const char *log_format_name(enum kiln_log_format f)
{
	switch (f) {
	case KILN_LOG_FORMAT_TEXT:
		return "text";
	case KILN_LOG_FORMAT_COLOR:
		return "color";
	case KILN_LOG_FORMAT_JSON:
		return "json";
	}
	return "?";
}

static char *options_json(const struct kiln_options *o)
{
	const struct build_options *b = &o->build;
	cJSON *root = cJSON_CreateObject();
	char *s;

	add_str(root, "context", b->context);
	add_str(root, "context-sub-path", b->context_sub_path);
	add_str(root, "dockerfile", b->dockerfile);
	add_strvec(root, "build-arg", &b->build_args);
	add_strvec(root, "label", &b->labels);
	add_str(root, "target", b->target);
	cJSON_AddBoolToObject(root, "skip-unused-stages", b->skip_unused_stages);
	add_str(root, "custom-platform", b->custom_platform);
	add_str(root, "rootfs", b->rootfs);
	add_str(root, "kiln-dir", b->kiln_dir);
	cJSON_AddBoolToObject(root, "force", b->force);
	add_strvec(root, "ignore-path", &b->ignore_paths);
	cJSON_AddBoolToObject(root, "ignore-var-run", b->ignore_var_run);
	add_str(root, "snapshot-mode", snapshot_mode_name(b->snapshot_mode));
	cJSON_AddBoolToObject(root, "single-snapshot", b->single_snapshot);
	cJSON_AddBoolToObject(root, "reproducible", b->reproducible);
	cJSON_AddNumberToObject(root, "compression-level", b->compression_level);
	add_str(root, "image-format", b->image_format);
	add_strvec(root, "destination", &b->destinations);
	cJSON_AddBoolToObject(root, "no-push", b->no_push);
	add_str(root, "tar-path", b->tar_path);
	add_str(root, "oci-layout-path", b->oci_layout_path);
	add_str(root, "digest-file", b->digest_file);
	add_str(root, "image-name-with-digest-file", b->image_name_with_digest_file);
	add_str(root, "image-name-tag-with-digest-file", b->image_name_tag_with_digest_file);
	cJSON_AddBoolToObject(root, "cleanup", b->cleanup);
	cJSON_AddBoolToObject(root, "cache", b->cache);
	add_str(root, "cache-repo", b->cache_repo);
	add_str(root, "cache-dir", b->cache_dir);
	cJSON_AddNumberToObject(root, "cache-ttl", (double)b->cache_ttl_s);
	cJSON_AddBoolToObject(root, "cache-run-layers", b->cache_run_layers);
	cJSON_AddBoolToObject(root, "cache-copy-layers", b->cache_copy_layers);
	cJSON_AddBoolToObject(root, "no-push-cache", b->no_push_cache);
	cJSON_AddItemToObject(root, "push", registry_json(&b->push));
	cJSON_AddItemToObject(root, "pull", registry_json(&b->pull));
	add_str(root, "verbosity", kiln_log_level_name(o->verbosity));
	add_str(root, "log-format", log_format_name(o->log_format));
	cJSON_AddBoolToObject(root, "log-timestamp", o->log_timestamp);
	add_strvec(root, "noop-flags", &o->noop_flags);
	add_strvec(root, "deprecated-flags", &o->deprecated_flags);
	s = cJSON_PrintUnformatted(root);
	if (!s) {
		fprintf(stderr, "kiln: fatal: out of memory writing JSON\n");
		exit(1);
	}
	cJSON_Delete(root);
	return s;
}

int debug_options(int argc, char **argv, struct kiln_error *err)
{
	struct kiln_options o;
	char *json;
	int code = 1;

	kiln_options_init(&o);
	if (kiln_options_parse(&o, argc, argv, false, err) < 0)
		goto out;
	json = options_json(&o);
	printf("%s\n", json);
	cJSON_free(json);
	code = 0;
out:
	kiln_options_release(&o);
	return code;
}
