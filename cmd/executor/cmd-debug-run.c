/*
 * `executor debug run [--rootfs DIR] [--user SPEC] [--cwd DIR] [--env K=V]...
 *  [--hostname H] [--bind SRC:DST[:ro]]... [--verbosity LEVEL] -- CMD ARGS...`
 *
 * Runs one command the way a RUN step runs: as SPEC resolved in ROOT's
 * /etc/passwd and /etc/group, with exactly the --env variables, and with
 * --rootfs isolated in ROOT (namespaces, /proc, /dev, /sys, /etc/hosts).
 * Exits with the command's status (128+N for signal N); a step that could
 * not start prints one "error: ..." line and exits 1.
 */
#include "compat.h"
#include "commands.h"
#include "alloc.h"
#include "error.h"
#include "log.h"
#include "run.h"
#include "strvec.h"
#include "user.h"

#include <fcntl.h>
#include <ftw.h>

struct run_args {
	const char *rootfs, *user, *cwd, *hostname;
	struct kiln_strvec env;
	struct run_bind *binds;
	size_t nr_binds;
	struct kiln_strvec bind_specs; /* owns the strings binds point into */
	char **argv;
};

static int usage(struct kiln_error *err, const char *why, const char *arg)
{
	kiln_err(err, KILN_EINVAL, 0, "debug run: %s '%s'", why, arg);
	kiln_err_hint(err, "usage: executor debug run [--rootfs DIR] [--user SPEC] [--cwd DIR] "
			   "[--env K=V]... [--hostname H] [--bind SRC:DST[:ro]]... -- CMD ARGS...");
	return 2;
}

/* SRC:DST or SRC:DST:ro */
static int add_bind(struct run_args *a, const char *spec, struct kiln_error *err)
{
	char *s, *dst, *opt;
	struct run_bind *b;

	kiln_strvec_push(&a->bind_specs, spec);
	s = a->bind_specs.v[a->bind_specs.nr - 1];
	dst = strchr(s, ':');
	if (!dst || dst == s || dst[1] != '/')
		return usage(err, "bad --bind", spec);
	*dst++ = '\0';
	opt = strchr(dst, ':');
	if (opt) {
		*opt++ = '\0';
		if (strcmp(opt, "ro"))
			return usage(err, "bad --bind option", spec);
	}
	a->binds = xreallocarray(a->binds, a->nr_binds + 1, sizeof(*a->binds));
	b = &a->binds[a->nr_binds++];
	*b = (struct run_bind){ .source = s, .target = dst, .read_only = opt != NULL };
	return 0;
}

static int set_verbosity(const char *v, struct kiln_error *err)
{
	struct kiln_log_options lo = { .level = KILN_LOG_INFO };

	if (kiln_log_level_parse(&lo.level, v, err) < 0)
		return 2;
	kiln_log_configure(&lo);
	return 0;
}

static int parse_flag(struct run_args *a, int *i, int argc, char **argv, struct kiln_error *err)
{
	const char *arg = argv[*i], *v;

	if ((v = debug_flag_value(arg, "--rootfs", i, argc, argv)))
		a->rootfs = v;
	else if ((v = debug_flag_value(arg, "--user", i, argc, argv)))
		a->user = v;
	else if ((v = debug_flag_value(arg, "--cwd", i, argc, argv)))
		a->cwd = v;
	else if ((v = debug_flag_value(arg, "--hostname", i, argc, argv)))
		a->hostname = v;
	else if ((v = debug_flag_value(arg, "--env", i, argc, argv)))
		kiln_strvec_push(&a->env, v);
	else if ((v = debug_flag_value(arg, "--bind", i, argc, argv)))
		return add_bind(a, v, err);
	else if ((v = debug_flag_value(arg, "--verbosity", i, argc, argv)))
		return set_verbosity(v, err);
	else
		return usage(err, "unknown flag", arg);
	return 0;
}

static int parse_args(struct run_args *a, int argc, char **argv, struct kiln_error *err)
{
	for (int i = 0; i < argc; i++) {
		int ret;

		if (!strcmp(argv[i], "--")) {
			a->argv = argv + i + 1;
			break;
		}
		ret = parse_flag(a, &i, argc, argv, err);
		if (ret)
			return ret;
	}
	if (!a->argv || !a->argv[0])
		return usage(err, "missing", "-- CMD");
	return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int execute(int *status, struct run_args *a, struct user_ids *u, const char *work,
		   struct kiln_error *err)
{
	struct run_spec s = { .root = a->rootfs ? a->rootfs : "/",
			      .isolate = a->rootfs != NULL,
			      .argv = a->argv,
			      .env = a->env.v ? a->env.v : (char *[]){ NULL },
			      .cwd = a->cwd ? a->cwd : "/",
			      .uid = u->uid,
			      .gid = u->gid,
			      .groups = u->groups,
			      .nr_groups = u->nr_groups,
			      .binds = a->binds,
			      .nr_binds = a->nr_binds,
			      .hostname = a->hostname,
			      .work_dir = work,
			      .out_fd = 1 };

	fflush(stdout);
	if (run_check_privileges(s.isolate, err) < 0)
		return -1;
	return run_exec(status, &s, err);
}

static int run(struct run_args *a, struct kiln_error *err)
{
	struct user_ids u = USER_IDS_INIT;
	char work[] = "/tmp/kiln-run-XXXXXX";
	int root = open(a->rootfs ? a->rootfs : "/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	int status = 1;

	if (root < 0) {
		kiln_err(err, KILN_EIO, errno, "open --rootfs '%s'", a->rootfs);
		return 1;
	}
	if (user_resolve(&u, root, a->user ? a->user : "", err) < 0)
		goto out;
	if (!mkdtemp(work)) {
		kiln_err(err, KILN_EIO, errno, "create a work directory in /tmp");
		goto out;
	}
	run_signals_install();
	if (execute(&status, a, &u, work, err) < 0)
		status = 1;
	nftw(work, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
out:
	user_ids_release(&u);
	close(root);
	return status;
}

int debug_run(int argc, char **argv, struct kiln_error *err)
{
	struct run_args a = { .env = KILN_STRVEC_INIT, .bind_specs = KILN_STRVEC_INIT };
	int ret = parse_args(&a, argc, argv, err);

	if (ret == 0)
		ret = run(&a, err);
	kiln_strvec_clear(&a.env);
	kiln_strvec_clear(&a.bind_specs);
	free(a.binds);
	return ret;
}
