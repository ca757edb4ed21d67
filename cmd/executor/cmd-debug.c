#include "compat.h"
#include "commands.h"
#include "error.h"
#include "registry.h"

/* `executor debug probe URL`: can this executor, where it runs, resolve a
 * name and reach a registry? The static build's chroot test relies on it. */
static int debug_probe(const char *url, struct kiln_error *err)
{
	long status = 0;
	int ret;

	if (registry_global_init(err) < 0)
		return -1;
	ret = registry_probe(&status, url, err);
	registry_global_cleanup();
	if (ret < 0)
		return -1;
	printf("GET %s: HTTP %ld\n", url, status);
	return 0;
}

int cmd_debug(struct kiln_options *o, struct kiln_error *err)
{
	if (o->nr_args == 2 && !strcmp(o->args[0], "probe"))
		return debug_probe(o->args[1], err);
	kiln_err(err, KILN_EINVAL, 0, "unknown debug command");
	kiln_err_hint(err, "usage: executor debug probe URL");
	return -1;
}
