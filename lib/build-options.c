#include "compat.h"
#include "build.h"

/*
 * Strings in build_options are borrowed (the executor points them into
 * argv, which outlives the build); only the vectors and the registry
 * options own memory.
 */
void build_options_init(struct build_options *o)
{
	memset(o, 0, sizeof(*o));
	o->dockerfile = "Dockerfile";
	o->ignore_var_run = true;
	o->snapshot_mode = SNAPSHOT_FULL;
	o->compression_level = -1;
	o->cache_dir = "/cache";
	o->cache_ttl_s = BUILD_CACHE_TTL_DEFAULT;
	o->cache_run_layers = true;
	registry_options_init(&o->push);
	registry_options_init(&o->pull);
}

void build_options_release(struct build_options *o)
{
	kiln_strvec_clear(&o->build_args);
	kiln_strvec_clear(&o->labels);
	kiln_strvec_clear(&o->ignore_paths);
	kiln_strvec_clear(&o->destinations);
	registry_options_release(&o->push);
	registry_options_release(&o->pull);
}
