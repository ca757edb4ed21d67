/*
 * `executor debug extract --root DIR [--ignore-path P]... [--seed-check]
 *  [--verbosity LEVEL] LAYER...`
 *
 * Applies layer files (tar, tar.gz or tar.zst: told apart by magic bytes)
 * to DIR in order, with the extractor's full rules (whiteouts, opaque
 * directories, confinement). DIR's contents act as the lower layers.
 * Success prints nothing; a refused entry stops extraction with one line
 * "LAYER: entry 'NAME': reason" on stderr and exit 1.
 *
 * --seed-check (for tests): seed a snapshot table while extracting, then
 * take a snapshot and print its change set, which is empty when seeding
 * recorded exactly what was written.
 */
#include "compat.h"
#include "commands.h"
#include "buf.h"
#include "error.h"
#include "extract.h"
#include "log.h"
#include "path.h"
#include "snapshot.h"
#include "strvec.h"

#include <fcntl.h>

struct extract_args {
	const char *root;
	struct kiln_strvec ignore;
	struct kiln_strvec layers;
	bool seed_check;
};

static int usage(struct kiln_error *err, const char *why, const char *arg)
{
	kiln_err(err, KILN_EINVAL, 0, "debug extract: %s '%s'", why, arg);
	kiln_err_hint(err, "usage: executor debug extract --root DIR [--ignore-path P]... "
			   "[--seed-check] [--verbosity LEVEL] LAYER...");
	return 2;
}

static int set_verbosity(const char *v, struct kiln_error *err)
{
	struct kiln_log_options lo = { .level = KILN_LOG_INFO };

	if (kiln_log_level_parse(&lo.level, v, err) < 0)
		return 2;
	kiln_log_configure(&lo);
	return 0;
}

static int parse_args(struct extract_args *a, int argc, char **argv, struct kiln_error *err)
{
	const char *v;

	for (int i = 0; i < argc; i++) {
		const char *arg = argv[i];

		if ((v = debug_flag_value(arg, "--root", &i, argc, argv))) {
			a->root = v;
		} else if ((v = debug_flag_value(arg, "--ignore-path", &i, argc, argv))) {
			struct kiln_buf p = KILN_BUF_INIT;

			kiln_path_join(&p, "/", v);
			kiln_strvec_push(&a->ignore, p.buf);
			kiln_buf_release(&p);
		} else if ((v = debug_flag_value(arg, "--verbosity", &i, argc, argv))) {
			if (set_verbosity(v, err))
				return 2;
		} else if (!strcmp(arg, "--seed-check")) {
			a->seed_check = true;
		} else if (arg[0] == '-' && arg[1]) {
			return usage(err, "unknown flag", arg);
		} else {
			kiln_strvec_push(&a->layers, arg);
		}
	}
	if (!a->root)
		return usage(err, "missing", "--root DIR");
	if (!a->layers.nr)
		return usage(err, "missing", "LAYER");
	return 0;
}

/* One layer; on failure the single line names the layer file. */
static int apply_one(struct extract *x, const char *file, struct kiln_error *err)
{
	int fd = open(file, O_RDONLY | O_CLOEXEC), ret;

	if (fd < 0)
		return kiln_err(err, KILN_EIO, errno, "open layer '%s'", file);
	ret = extract_layer_fd(NULL, x, fd, NULL, err);
	close(fd);
	if (ret < 0)
		kiln_err_prefix(err, "%s", file);
	return ret;
}

static int print_changes(struct snapshot *s, struct kiln_error *err)
{
	struct snapshot_changes c = { 0 };

	if (snapshot_take(&c, s, err) < 0)
		return -1;
	for (size_t i = 0; i < c.nr; i++)
		printf("%c %s\n", c.v[i].kind, c.v[i].path);
	snapshot_changes_release(&c);
	return fflush(stdout) == 0 ? 0 : -1;
}

static int run(struct extract_args *a, struct kiln_error *err)
{
	struct extract_options eo = { .ignore = (const char *const *)a->ignore.v,
				      .nr_ignore = a->ignore.nr,
				      /* like tar: only root restores owners */
				      .no_chown = geteuid() != 0 };
	struct snapshot_options so = { .mode = SNAPSHOT_FULL,
				       .ignore = eo.ignore,
				       .nr_ignore = eo.nr_ignore };
	struct snapshot *s = NULL;
	struct extract *x = NULL;
	int root = open(a->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC), ret = 1;

	if (root < 0) {
		kiln_err(err, KILN_EIO, errno, "open --root '%s'", a->root);
		goto out;
	}
	if (a->seed_check && snapshot_new(&s, root, &so, err) < 0)
		goto out;
	eo.seed = s;
	if (extract_new(&x, root, &eo, err) < 0)
		goto out;
	for (size_t i = 0; i < a->layers.nr; i++) {
		if (apply_one(x, a->layers.v[i], err) < 0) {
			/* the contract: exactly this line, no "error:" prefix */
			fprintf(stderr, "%s\n", kiln_error_msg(err));
			kiln_error_release(err);
			goto out;
		}
	}
	extract_free(steal_ptr(&x));
	ret = s && print_changes(s, err) < 0 ? 1 : 0;
out:
	extract_free(x);
	snapshot_free(s);
	close_fd(&root);
	return ret;
}

int debug_extract(int argc, char **argv, struct kiln_error *err)
{
	struct extract_args a = { .ignore = KILN_STRVEC_INIT, .layers = KILN_STRVEC_INIT };
	int ret = parse_args(&a, argc, argv, err);

	if (ret == 0)
		ret = run(&a, err);
	kiln_strvec_clear(&a.ignore);
	kiln_strvec_clear(&a.layers);
	return ret;
}
