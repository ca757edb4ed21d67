/*
 * run.h: run one RUN step's process tree inside ROOT.
 *
 * Two ways, chosen by the build:
 *   ROOT "/" (in a container, kaniko's model): fork, become the step's
 *     user, chdir, exec. The container is the isolation.
 *   --rootfs DIR (isolate): the child enters new mount and PID namespaces
 *     (where the kernel allows), mounts /proc, binds /dev and /sys
 *     (read-only) and the host's /etc/hosts and /etc/resolv.conf (copies,
 *     so a step writing them never touches the host's) into ROOT, chroots
 *     and execs. Mounts live in the child's namespace only, so the
 *     snapshot walker never sees them; mount-point files that ROOT lacked
 *     are created for the step and removed after it, so no layer holds them.
 *
 * The step runs in its own session (setsid); when it ends, whatever is left
 * of its process group is killed and reaped (a PID namespace dies with its
 * first process). Output (stdout and stderr) goes to out_fd.
 *
 * Typical use:
 *	struct run_spec s = { .root = root, .isolate = true, .argv = argv,
 *			      .env = env, .cwd = "/app", .uid = 0, .gid = 0,
 *			      .out_fd = 1, .hostname = "kiln" };
 *	int status;
 *	if (run_exec(&status, &s, err) < 0) ... could not start ...
 *	if (status) ... "RUN ... returned a non-zero code: status" ...
 */
#ifndef KILN_RUN_H
#define KILN_RUN_H

#include "compat.h"

#include <sys/types.h>

struct kiln_error;

/* A bind mount for the step: RUN --mount=type=cache (a directory in the
 * kiln dir), and the like. */
struct run_bind {
	const char *source; /* host path, a directory or a file */
	const char *target; /* absolute path inside ROOT (created if missing) */
	bool read_only;
};

struct run_spec {
	const char *root; /* ROOT's path: "/" or the --rootfs directory */
	bool isolate;	  /* chroot(ROOT) in new namespaces, as above */
	char *const *argv;
	char *const *env; /* the whole environment, NULL-terminated */
	const char *cwd;  /* absolute, inside ROOT; the caller made it */
	uid_t uid;
	gid_t gid;
	const gid_t *groups; /* supplementary groups */
	size_t nr_groups;
	const struct run_bind *binds;
	size_t nr_binds;
	const char *hostname; /* isolate only: a UTS namespace with this name */
	const char *work_dir; /* a private directory of kiln's (host files are copied here) */
	int out_fd;	      /* the step's stdout and stderr */
};

/*
 * Run s and wait for it. *status is the exit code (0..255), or 128+N when
 * the step was killed by signal N. Returns 0 when the step ran (whatever
 * its status); a negative KILN_E* when it could not start (namespaces,
 * mounts, chroot, credentials, or exec: "'x' not found in PATH").
 */
int run_exec(int *status, const struct run_spec *s, struct kiln_error *err);

/*
 * SIGINT and SIGTERM: the first one kills the running step's process
 * group (if any) and is remembered; the build checks run_interrupted()
 * between steps and stops (exit 128+N). Installed once by the executor.
 */
void run_signals_install(void);
/* The signal received (SIGINT, SIGTERM), or 0. */
int run_interrupted(void);

/* Can this process isolate a step (root, CAP_SYS_ADMIN, CAP_SYS_CHROOT)?
 * The build checks once at start and fails with one clear line. */
int run_check_privileges(bool isolate, struct kiln_error *err);

#endif
