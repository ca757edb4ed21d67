#include "compat.h"
#include "commands.h"
#include "buf.h"
#include "error.h"
#include "registry.h"

/* Tools for checking kiln's parts one at a time; tests and bug reports use
 * them. Each parses its own arguments. */
static const struct debug_tool {
	const char *name;
	const char *usage;
	int (*run)(int argc, char **argv, struct kiln_error *err);
} tools[] = {
	{ "parse", "[--format=json] [--check] FILE", debug_parse },
	{ "expand", "[--env NAME=VALUE]... [--escape=CHAR] [--words] [--] WORD", debug_expand },
	{ "probe", "URL", debug_probe },
	{ "pull", "[--platform P] [--insecure] [--registry-certificate R=CA] ... REF --output DIR",
	  debug_pull },
	{ "push", "[--mount-from REPO] [--chunk-size N] [--parallel N] ... DIR REF...",
	  debug_push },
	{ "download", "[--sha256 sha256:HEX] [--max-size N] [--retries N] URL --output FILE",
	  debug_download },
	{ "snapshot", "[--mode=full|redo|time] [--ignore-path P]... ROOT", debug_snapshot },
	{ "extract", "--root DIR [--ignore-path P]... LAYER...", debug_extract },
	{ "options", "[BUILD FLAGS...]", debug_options },
	{ "run", "[--rootfs DIR] [--user SPEC] [--env K=V]... [--bind S:D[:ro]]... -- CMD...",
	  debug_run },
	{ "output", "[--push REF]... [--tar-path F] [--oci-layout-path D] ... LAYOUT",
	  debug_output },
};

/* `executor debug probe URL`: can this executor, where it runs, resolve a
 * name and reach a registry? The static build's chroot test relies on it. */
int debug_probe(int argc, char **argv, struct kiln_error *err)
{
	long status = 0;
	int ret;

	if (argc != 1) {
		kiln_err(err, KILN_EINVAL, 0, "usage: executor debug probe URL");
		return 2;
	}
	if (registry_global_init(err) < 0)
		return 1;
	ret = registry_probe(&status, argv[0], err);
	registry_global_cleanup();
	if (ret < 0)
		return 1;
	printf("GET %s: HTTP %ld\n", argv[0], status);
	return 0;
}

/* "--name=value" or "--name value" (consuming argv[*i + 1]); NULL when arg
 * is not that flag or the value is missing. */
const char *debug_flag_value(const char *arg, const char *name, int *i, int argc, char **argv)
{
	size_t n = strlen(name);

	if (strncmp(arg, name, n))
		return NULL;
	if (arg[n] == '=')
		return arg + n + 1;
	if (arg[n] == '\0' && *i + 1 < argc)
		return argv[++*i];
	return NULL;
}

static void usage_hint(struct kiln_error *err)
{
	struct kiln_buf list = KILN_BUF_INIT;

	for (size_t i = 0; i < KILN_ARRAY_SIZE(tools); i++)
		kiln_buf_addf(&list, "%s'executor debug %s %s'", i ? ", " : "", tools[i].name,
			      tools[i].usage);
	kiln_err_hint(err, "use %s", list.buf);
	kiln_buf_release(&list);
}

int cmd_debug(int argc, char **argv, struct kiln_error *err)
{
	if (argc >= 1) {
		for (size_t i = 0; i < KILN_ARRAY_SIZE(tools); i++) {
			if (!strcmp(tools[i].name, argv[0]))
				return tools[i].run(argc - 1, argv + 1, err);
		}
	}
	kiln_err(err, KILN_EINVAL, 0, "unknown debug tool '%s'", argc >= 1 ? argv[0] : "");
	usage_hint(err);
	return 2;
}
