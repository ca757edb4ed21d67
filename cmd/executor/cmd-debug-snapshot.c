/*
 * `executor debug snapshot [--mode=full|redo|time] [--ignore-path P]...
 *  [--ignore-var-run=false] [--threads N] [--layer FILE]
 *  [--compression-level N] ROOT`
 *
 * Takes a snapshot of ROOT, prints "ready", waits for a line on stdin,
 * takes a second snapshot and prints the change set, one "X /path" line
 * per path (A added, C changed, D deleted), sorted bytewise. The ignore
 * list is the executor's: mount points under ROOT, ROOT/var/run unless
 * --ignore-var-run=false, and each --ignore-path (relative to ROOT).
 *
 * With --layer FILE and a non-empty change set, the layer of the change
 * set is written to FILE (tar.gz) and two more lines follow:
 * "digest sha256:<hex>" and "diff_id sha256:<hex>". An empty change set
 * writes no file. --threads sizes the walk and the compression alike; the
 * output does not depend on it.
 */
#include "compat.h"
#include "commands.h"
#include "buf.h"
#include "digest.h"
#include "error.h"
#include "layer.h"
#include "log.h"
#include "mounts.h"
#include "path.h"
#include "snapshot.h"
#include "strvec.h"

#include <fcntl.h>

struct snap_args {
	enum snapshot_mode mode;
	struct kiln_strvec ignore;
	bool ignore_var_run;
	unsigned threads;
	const char *layer;
	int compression_level; /* 0: the default (6, as kaniko) */
	const char *root;
};

static int usage(struct kiln_error *err, const char *why, const char *arg)
{
	kiln_err(err, KILN_EINVAL, 0, "debug snapshot: %s '%s'", why, arg);
	kiln_err_hint(err, "usage: executor debug snapshot [--mode=full|redo|time] "
			   "[--ignore-path P]... [--ignore-var-run=false] [--threads N] "
			   "[--layer FILE] ROOT");
	return 2;
}

static int parse_args(struct snap_args *a, int argc, char **argv, struct kiln_error *err)
{
	const char *v;

	for (int i = 0; i < argc; i++) {
		const char *arg = argv[i];

		if ((v = debug_flag_value(arg, "--mode", &i, argc, argv))) {
			if (snapshot_mode_parse(&a->mode, v, err) < 0)
				return 2;
		} else if ((v = debug_flag_value(arg, "--ignore-path", &i, argc, argv))) {
			struct kiln_buf p = KILN_BUF_INIT;

			kiln_path_join(&p, "/", v);
			kiln_strvec_push(&a->ignore, p.buf);
			kiln_buf_release(&p);
		} else if (!strcmp(arg, "--ignore-var-run") ||
			   !strcmp(arg, "--ignore-var-run=true")) {
			a->ignore_var_run = true;
		} else if (!strcmp(arg, "--ignore-var-run=false")) {
			a->ignore_var_run = false;
		} else if ((v = debug_flag_value(arg, "--threads", &i, argc, argv))) {
			char *end;
			unsigned long n = strtoul(v, &end, 10);

			if (*end || n == 0 || n > 256)
				return usage(err, "invalid --threads", v);
			a->threads = (unsigned)n;
		} else if ((v = debug_flag_value(arg, "--compression-level", &i, argc, argv))) {
			char *end;
			long n = strtol(v, &end, 10);

			if (*end || n < -1 || n > 9)
				return usage(err, "invalid --compression-level (-1 to 9)", v);
			a->compression_level = (int)n;
		} else if ((v = debug_flag_value(arg, "--layer", &i, argc, argv))) {
			a->layer = v;
		} else if (arg[0] == '-') {
			return usage(err, "unknown flag", arg);
		} else if (a->root) {
			return usage(err, "unexpected argument", arg);
		} else {
			a->root = arg;
		}
	}
	if (!a->root)
		return usage(err, "missing", "ROOT");
	return 0;
}

static int build_ignore_list(struct snap_args *a, const char *real_root, struct kiln_error *err)
{
	if (kiln_mounts_under(&a->ignore, real_root, err) < 0)
		return -1;
	if (a->ignore_var_run)
		kiln_strvec_push(&a->ignore, "/var/run");
	return 0;
}

static int wait_for_line(void)
{
	int c;

	printf("ready\n");
	fflush(stdout);
	while ((c = getchar()) != EOF && c != '\n')
		;
	return 0;
}

static int write_layer(const struct snap_args *a, int root_fd,
		       const struct snapshot_changes *changes, struct kiln_error *err)
{
	struct layer_options lo = { .gzip = { .level = a->compression_level,
					      .threads = a->threads } };
	struct layer_info info;
	char digest[KILN_DIGEST_STR_SIZE], diff_id[KILN_DIGEST_STR_SIZE];
	int ret = layer_write_file(&info, root_fd, changes, a->layer, &lo, err);

	if (ret <= 0)
		return ret;
	kiln_digest_format(digest, &info.digest);
	kiln_digest_format(diff_id, &info.diff_id);
	printf("digest %s\ndiff_id %s\n", digest, diff_id);
	return 0;
}

static int run(struct snap_args *a, struct kiln_error *err)
{
	struct snapshot_options so = { .mode = a->mode, .threads = a->threads };
	struct snapshot_changes first = { 0 }, changes = { 0 };
	struct snapshot *s = NULL;
	char *real_root = realpath(a->root, NULL);
	int fd = -1, ret = 1;

	if (!real_root || (fd = open(real_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		kiln_err(err, KILN_EIO, errno, "open ROOT '%s'", a->root);
		goto out;
	}
	if (build_ignore_list(a, real_root, err) < 0)
		goto out;
	so.ignore = (const char *const *)a->ignore.v;
	so.nr_ignore = a->ignore.nr;
	if (snapshot_new(&s, fd, &so, err) < 0 || snapshot_take(&first, s, err) < 0)
		goto out;
	wait_for_line();
	if (snapshot_take(&changes, s, err) < 0)
		goto out;
	for (size_t i = 0; i < changes.nr; i++)
		printf("%c %s\n", changes.v[i].kind, changes.v[i].path);
	if (a->layer && write_layer(a, fd, &changes, err) < 0)
		goto out;
	ret = fflush(stdout) == 0 ? 0 : 1;
out:
	snapshot_changes_release(&first);
	snapshot_changes_release(&changes);
	snapshot_free(s);
	close_fd(&fd);
	free(real_root);
	return ret;
}

int debug_snapshot(int argc, char **argv, struct kiln_error *err)
{
	struct snap_args a = { .mode = SNAPSHOT_FULL,
			       .ignore = KILN_STRVEC_INIT,
			       .ignore_var_run = true };
	int ret = parse_args(&a, argc, argv, err);

	if (ret == 0)
		ret = run(&a, err);
	kiln_strvec_clear(&a.ignore);
	return ret;
}
