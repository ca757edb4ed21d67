/*
 * run.c: the processes of a RUN step.
 *
 *   kiln ──fork──> A: setsid (A's pid is the step's process group)
 *     plain:   A becomes the step: credentials, chdir, exec
 *     isolate: A unshares mount, PID and UTS namespaces, forks
 *              B: pid 1 of the new namespace: mounts, forks
 *                 C: chroot, credentials, chdir, exec (the step)
 *              B reaps everything until C ends, then exits with C's
 *              status; the kernel kills what is left in the namespace.
 *
 * Each child reports a failure (stage, errno, a name) on a close-on-exec
 * pipe; EOF without a report means the exec succeeded. Between fork and
 * exec nothing allocates: kiln has threads, whose locks a fork copies.
 */
#include "compat.h"
#include "run.h"
#include "run-int.h"
#include "buf.h"
#include "error.h"
#include "fileio.h"
#include "log.h"

#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/* Docker's PATH for a container whose image sets none. */
#define RUN_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/*
 * The one global: a signal handler can reach nothing else. It needs the
 * running step's process group (to kill it) and leaves the signal for the
 * build loop, which checks run_interrupted() between steps.
 */
static struct {
	volatile sig_atomic_t signo;
	volatile sig_atomic_t pgid; /* the running step's group, 0 when none */
} run_state;

void run_report_send(int fd, int stage, int err, const char *detail)
{
	struct run_report r = { .stage = stage, .err = err };
	ssize_t n;

	if (detail)
		snprintf(r.detail, sizeof(r.detail), "%s", detail);
	do
		n = write(fd, &r, sizeof(r));
	while (n < 0 && errno == EINTR);
}

static KILN_NORETURN void child_fail(int rep_fd, int stage, int err, const char *detail)
{
	run_report_send(rep_fd, stage, err, detail);
	_exit(127);
}

/* A fresh process image starts with default handlers and no blocked
 * signals; kiln ignores SIGPIPE and blocks signals around the fork. */
static void reset_signals(void)
{
	struct sigaction sa = { .sa_handler = SIG_DFL };
	sigset_t none;

	for (int sig = 1; sig < NSIG; sig++)
		sigaction(sig, &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

/* The exit code as Docker reports it: 128+N for signal N. */
static int status_code(int wstatus)
{
	if (WIFEXITED(wstatus))
		return WEXITSTATUS(wstatus);
	if (WIFSIGNALED(wstatus))
		return 128 + WTERMSIG(wstatus);
	return 255;
}

/* stdout and stderr to out_fd, stdin from /dev/null (the host's: this
 * runs before any chroot). */
static void child_stdio(const struct run_spec *s, int rep_fd)
{
	int null = open("/dev/null", O_RDONLY | O_CLOEXEC);

	if (null < 0)
		child_fail(rep_fd, RUN_STAGE_START, errno, "/dev/null");
	if (dup2(s->out_fd, 1) < 0 || dup2(s->out_fd, 2) < 0 || dup2(null, 0) < 0)
		child_fail(rep_fd, RUN_STAGE_START, errno, "stdio");
	close(null);
}

/* setgroups before setgid before setuid: each needs the privilege the
 * next one drops. */
static void child_creds(const struct run_spec *s, int rep_fd)
{
	char who[64];

	if (setgroups(s->nr_groups, s->groups) == 0 && setgid(s->gid) == 0 && setuid(s->uid) == 0)
		return;
	snprintf(who, sizeof(who), "%u:%u", (unsigned)s->uid, (unsigned)s->gid);
	child_fail(rep_fd, RUN_STAGE_CREDS, errno, who);
}

static const char *env_path(char *const *env)
{
	for (size_t i = 0; env && env[i]; i++)
		if (!strncmp(env[i], "PATH=", 5))
			return env[i] + 5;
	return RUN_DEFAULT_PATH;
}

/* Exec argv[0]: as given when it holds a '/', else the first executable
 * regular file of that name in the step's PATH, as Docker's exec form
 * does (an empty PATH element is the working directory). */
static KILN_NORETURN void child_exec(const struct run_spec *s, int rep_fd)
{
	const char *name = s->argv[0], *p = env_path(s->env);
	char cand[PATH_MAX];
	struct stat st;

	if (strchr(name, '/')) {
		execve(name, s->argv, s->env);
		child_fail(rep_fd, RUN_STAGE_EXEC, errno, name);
	}
	while (*name) {
		size_t len = strcspn(p, ":");
		int n = snprintf(cand, sizeof(cand), "%.*s%s%s", (int)len, p, len ? "/" : "", name);

		if (n > 0 && (size_t)n < sizeof(cand) && stat(cand, &st) == 0 &&
		    S_ISREG(st.st_mode) && access(cand, X_OK) == 0) {
			execve(cand, s->argv, s->env);
			child_fail(rep_fd, RUN_STAGE_EXEC, errno, cand);
		}
		if (!p[len])
			break;
		p += len + 1;
	}
	child_fail(rep_fd, RUN_STAGE_LOOKUP, ENOENT, name);
}

/* The step itself, in ROOT: the last process of every path. */
static KILN_NORETURN void child_step(const struct run_spec *s, int rep_fd)
{
	child_stdio(s, rep_fd);
	umask(022);
	if (s->isolate && (chroot(s->root) < 0 || chdir("/") < 0))
		child_fail(rep_fd, RUN_STAGE_CHROOT, errno, s->root);
	child_creds(s, rep_fd);
	if (chdir(s->cwd ? s->cwd : "/") < 0)
		child_fail(rep_fd, RUN_STAGE_CHDIR, errno, s->cwd);
	/* no descriptor of kiln's (registry sockets, layer files) leaks into
	 * the step; the report pipe closes at exec as well */
	syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC);
	child_exec(s, rep_fd);
}

/* B: pid 1 of the step's PID namespace (or a plain parent where the
 * kernel gave none). Reaps every orphan until the step ends. */
static KILN_NORETURN void child_init(const struct run_spec *s, const struct run_setup *su,
				     int rep_fd)
{
	int wstatus = 0;
	pid_t step, w;

	if (run_setup_mount(su, s->root, rep_fd) < 0)
		_exit(127);
	step = fork();
	if (step < 0)
		child_fail(rep_fd, RUN_STAGE_START, errno, "fork");
	if (step == 0)
		child_step(s, rep_fd);
	close(rep_fd);
	do
		w = waitpid(-1, &wstatus, 0);
	while (w != step && (w > 0 || errno == EINTR));
	_exit(w == step ? status_code(wstatus) : 127);
}

/* Where unshare refuses a PID namespace (some container runtimes filter
 * it), the step runs without one: the process group is the cleanup. */
static void child_unshare(const struct run_spec *s, int rep_fd)
{
	int flags = CLONE_NEWNS | CLONE_NEWUTS;

	if (unshare(flags | CLONE_NEWPID) == 0)
		return;
	if (errno != EPERM && errno != EINVAL)
		child_fail(rep_fd, RUN_STAGE_UNSHARE, errno, "mount, PID and UTS");
	run_report_send(rep_fd, RUN_NOTE_NO_PIDNS, errno, NULL);
	if (unshare(flags) < 0)
		child_fail(rep_fd, RUN_STAGE_UNSHARE, errno, "mount and UTS");
	(void)s;
}

/* A: the step's session leader. */
static KILN_NORETURN void child_main(const struct run_spec *s, const struct run_setup *su,
				     int rep_fd)
{
	int wstatus = 0;
	pid_t init, w;

	reset_signals();
	if (setsid() < 0)
		child_fail(rep_fd, RUN_STAGE_START, errno, "setsid");
	if (!s->isolate)
		child_step(s, rep_fd);
	child_unshare(s, rep_fd);
	if (s->hostname && *s->hostname && sethostname(s->hostname, strlen(s->hostname)) < 0)
		child_fail(rep_fd, RUN_STAGE_HOSTNAME, errno, s->hostname);
	init = fork();
	if (init < 0)
		child_fail(rep_fd, RUN_STAGE_START, errno, "fork");
	if (init == 0)
		child_init(s, su, rep_fd);
	close(rep_fd);
	do
		w = waitpid(init, &wstatus, 0);
	while (w < 0 && errno == EINTR);
	_exit(w == init ? status_code(wstatus) : 127);
}

/* Fork A with SIGINT and SIGTERM blocked, so the handler either sees the
 * new group or runs before the fork and the build stops anyway. */
static int spawn(pid_t *pid, const struct run_spec *s, const struct run_setup *su, int rep_fd,
		 struct kiln_error *err)
{
	sigset_t block, old;

	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, &old);
	*pid = fork();
	if (*pid == 0)
		child_main(s, su, rep_fd);
	if (*pid > 0)
		run_state.pgid = *pid;
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (*pid < 0)
		return kiln_err(err, KILN_EIO, errno, "fork for RUN");
	return 0;
}

static const char *stage_what(int stage)
{
	switch (stage) {
	case RUN_STAGE_UNSHARE:
		return "create namespaces";
	case RUN_STAGE_MOUNT:
		return "mount";
	case RUN_STAGE_HOSTNAME:
		return "set hostname";
	case RUN_STAGE_CHROOT:
		return "chroot into";
	case RUN_STAGE_CREDS:
		return "switch to user";
	case RUN_STAGE_CHDIR:
		return "change to working directory";
	case RUN_STAGE_EXEC:
		return "exec";
	default:
		return "start the step";
	}
}

/* One report into one error line. */
static int report_err(const struct run_report *r, struct kiln_error *err)
{
	if (r->stage == RUN_STAGE_LOOKUP)
		return kiln_err(err, KILN_ENOENT, 0,
				"exec: '%s': executable file not found in $PATH", r->detail);
	if (r->stage == RUN_STAGE_MOUNT)
		return kiln_err(err, KILN_EIO, r->err, "mount %s", r->detail);
	return kiln_err(err, r->err == ENOENT ? KILN_ENOENT : KILN_EIO, r->err, "%s '%s'",
			stage_what(r->stage), r->detail);
}

/* Read reports until every child's copy of the pipe is closed. */
static int read_reports(int fd, struct kiln_error *err)
{
	struct run_report r;
	int ret = 0;
	ssize_t n;

	for (;;) {
		n = read(fd, &r, sizeof(r));
		if (n < 0 && errno == EINTR)
			continue;
		if (n != (ssize_t)sizeof(r))
			break;
		r.detail[sizeof(r.detail) - 1] = '\0';
		if (r.stage == RUN_NOTE_NO_PIDNS)
			kiln_debug("RUN without a PID namespace: %s", strerror(r.err));
		else if (ret == 0)
			ret = report_err(&r, err);
	}
	return ret;
}

/* Kill what is left of the group and reap it: orphans come to kiln, the
 * child subreaper. Bounded, in case a member is stuck in the kernel. */
static void reap_group(pid_t pgid)
{
	struct timespec ms = { 0, 1000000 };
	siginfo_t si;

	for (int tries = 0; tries < 5000; tries++) {
		kill(-pgid, SIGKILL);
		do
			memset(&si, 0, sizeof(si));
		while (waitid(P_PGID, (id_t)pgid, &si, WEXITED | WNOHANG) == 0 && si.si_pid);
		if (kill(-pgid, 0) < 0 && errno == ESRCH)
			return;
		nanosleep(&ms, NULL);
	}
	kiln_warn("RUN: processes of the step's group %d did not exit", (int)pgid);
}

/* Wait for A without reaping it first: a zombie A keeps its pid, so the
 * group id cannot be reused while the group is killed. */
static void wait_step(int *status, pid_t pid)
{
	int wstatus = 0;
	siginfo_t si;

	while (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT) < 0 && errno == EINTR)
		;
	kill(-pid, SIGKILL);
	while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR)
		;
	run_state.pgid = 0;
	*status = status_code(wstatus);
	reap_group(pid);
}

static int open_root(int *root_fd, const struct run_spec *s, struct kiln_error *err)
{
	*root_fd = open(s->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (*root_fd < 0)
		return kiln_err(err, KILN_EIO, errno, "open ROOT '%s'", s->root);
	return 0;
}

static int check_spec(const struct run_spec *s, struct kiln_error *err)
{
	if (!s->argv || !s->argv[0] || !*s->argv[0])
		return kiln_err(err, KILN_EINVAL, 0, "RUN with an empty command");
	if (s->isolate && !s->work_dir)
		return kiln_err(err, KILN_EINVAL, 0, "isolated RUN needs a work directory");
	return 0;
}

int run_exec(int *status, const struct run_spec *s, struct kiln_error *err)
{
	struct run_setup su = { 0 };
	int root_fd = -1, rep[2] = { -1, -1 }, ret;
	pid_t pid;

	*status = -1;
	ret = check_spec(s, err);
	/* orphans of the step become kiln's children, so they can be reaped */
	if (ret == 0 && prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		kiln_debug("RUN: no child subreaper: %s", strerror(errno));
	if (ret == 0 && s->isolate)
		ret = open_root(&root_fd, s, err);
	if (ret == 0 && s->isolate)
		ret = run_setup_prepare(&su, s, root_fd, err);
	if (ret == 0 && pipe2(rep, O_CLOEXEC) < 0)
		ret = kiln_err(err, KILN_EIO, errno, "pipe for RUN");
	if (ret == 0)
		ret = spawn(&pid, s, &su, rep[1], err);
	close_fd(&rep[1]);
	if (ret == 0) {
		ret = read_reports(rep[0], err);
		wait_step(status, pid);
	}
	if (root_fd >= 0)
		run_setup_cleanup(&su, root_fd);
	run_setup_release(&su);
	close_fd(&rep[0]);
	close_fd(&root_fd);
	return ret;
}

static void on_signal(int sig)
{
	int saved = errno;
	pid_t pgid = run_state.pgid;

	if (!run_state.signo)
		run_state.signo = sig;
	if (pgid > 0) {
		kill(-pgid, SIGKILL);
		/* before the child's setsid the group does not exist yet */
		kill(pgid, SIGKILL);
	}
	errno = saved;
}

void run_signals_install(void)
{
	struct sigaction sa = { .sa_handler = on_signal, .sa_flags = SA_RESTART };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

int run_interrupted(void)
{
	return run_state.signo;
}

/* CapEff of this process, from /proc/self/status. */
static int cap_effective(uint64_t *caps, struct kiln_error *err)
{
	struct kiln_buf b = KILN_BUF_INIT;
	const char *p;
	int ret = kiln_file_read(&b, "/proc/self/status", 1u << 20, err);

	if (ret < 0 && err->sys_errno == ENOENT) {
		kiln_error_release(err);
		kiln_err(err, KILN_EINVAL, ENOENT, "/proc is not mounted");
		ret = kiln_err_hint(err, "a build needs /proc (every container runtime mounts it)");
	}
	if (ret == 0) {
		p = strstr(b.buf, "\nCapEff:");
		if (!p || sscanf(p + 8, "%" SCNx64, caps) != 1)
			ret = kiln_err(err, KILN_EIO, 0, "no CapEff in /proc/self/status");
	}
	kiln_buf_release(&b);
	return ret;
}

int run_check_privileges(bool isolate, struct kiln_error *err)
{
	static const struct {
		int cap;
		const char *name;
		bool isolate_only;
	} need[] = { { 0, "CAP_CHOWN", false },
		     { 6, "CAP_SETGID", false },
		     { 7, "CAP_SETUID", false },
		     { 18, "CAP_SYS_CHROOT", true },
		     { 21, "CAP_SYS_ADMIN", true } };
	uint64_t caps = 0;
	int ret;

	if (geteuid() != 0)
		return kiln_err(err, KILN_EINVAL, 0,
				"RUN needs root: the executor runs as uid %u; run it as root "
				"(uid 0), as kaniko's executor",
				(unsigned)geteuid());
	ret = cap_effective(&caps, err);
	if (ret < 0)
		return ret;
	for (size_t i = 0; i < KILN_ARRAY_SIZE(need); i++) {
		if ((need[i].isolate_only && !isolate) || (caps >> need[i].cap) & 1)
			continue;
		return kiln_err(err, KILN_EINVAL, 0,
				"RUN%s needs %s, which this process lacks; grant it to the "
				"executor's container",
				isolate ? " with --rootfs" : "", need[i].name);
	}
	return 0;
}
