/*
 * bench-dockerignore: a .dockerignore of 50 realistic patterns against
 * 100,000 generated context paths, kiln's precompiled matcher next to a
 * naive baseline measured in the same run: every pattern through
 * fnmatch(3) for the path and each of its parent directories, the last
 * match deciding, '!' exceptions included.
 *
 *   bench-dockerignore [--quick]     (--quick: 10,000 paths, for CI)
 *
 * kiln is timed twice: one call per path (each path's directories matched
 * again), and as a context walk uses it (paths in walk order, each
 * directory matched once and its state reused for its entries).
 *
 * Prints the times (best of three rounds) and the ratios. The two answer
 * slightly different questions ("**" is not special to fnmatch), so the
 * excluded counts are printed too, for information.
 */
#include "compat.h"
#include <fnmatch.h>
#include <time.h>
#include "alloc.h"
#include "buf.h"
#include "dockerignore.h"
#include "error.h"

static const char *const patterns[] = {
	"# build output and dependencies",
	"node_modules",
	"**/node_modules",
	"bower_components",
	"vendor/**",
	"!vendor/modules.txt",
	"build/",
	"dist/**",
	"out",
	"target/**",
	"!target/release/app",
	"# version control and editors",
	".git",
	".svn",
	"**/.DS_Store",
	".idea",
	".vscode",
	"*.swp",
	"**/*~",
	"# caches",
	"**/__pycache__",
	"**/*.py[co]",
	".pytest_cache",
	".mypy_cache",
	".cache/**",
	".gradle",
	"# logs, temporaries, coverage",
	"*.log",
	"**/*.log",
	"!important.log",
	"logs/**/*.gz",
	"**/*.tmp",
	"tmp?",
	"temp*",
	"coverage/",
	"**/.nyc_output",
	"*.lcov",
	"# secrets",
	".env",
	".env.*",
	"!.env.example",
	"**/*.pem",
	"**/id_rsa*",
	"secrets/",
	"# documentation and tests",
	"docs/**/*.md",
	"!docs/README.md",
	"**/*_test.go",
	"test/fixtures/**/*.bin",
	"**/[Tt]humbs.db",
	"*.[oa]",
	"**/*.so",
	"Dockerfile*",
	"!Dockerfile.prod",
	"docker-compose*.yml",
	"**/.terraform",
};

static const char *const dirs[] = {
	"src",	 "lib",	     "cmd",	     "internal", "pkg",	     "test",	    "docs",
	"build", "dist",     "node_modules", "vendor",	 "target",   "logs",	    "scripts",
	"api",	 "web",	     "assets",	     "images",	 "config",   "__pycache__", ".git",
	"util",	 "fixtures", "release",	     "modules",	 "handlers", "models",	    "views",
};

static const char *const stems[] = {
	"main",	 "index", "util", "server", "client", "README", "app",	  "config",
	"types", "store", "api",  "helper", "parser", "test",	"thumbs", "important",
};

static const char *const exts[] = {
	".c", ".h", ".go",   ".js",   ".ts",  ".py", ".pyc", ".log", ".tmp", ".md",
	".o", ".a", ".json", ".yaml", ".pem", ".so", ".bin", ".gz",  "",     "_test.go",
};

static uint64_t rng = 0x9E3779B97F4A7C15ull;

/* xorshift64*: the same paths on every run and machine */
static size_t pick(size_t n)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return (size_t)((rng * 0x2545F4914F6CDD1Dull) >> 33) % n;
}

static char **make_paths(size_t n)
{
	char **paths = xcalloc(n, sizeof(*paths));

	for (size_t i = 0; i < n; i++) {
		struct kiln_buf b = KILN_BUF_INIT;
		size_t depth = pick(6);

		for (size_t d = 0; d < depth; d++)
			kiln_buf_addf(&b, "%s/", dirs[pick(KILN_ARRAY_SIZE(dirs))]);
		kiln_buf_addf(&b, "%s%zu%s", stems[pick(KILN_ARRAY_SIZE(stems))], pick(40),
			      exts[pick(KILN_ARRAY_SIZE(exts))]);
		paths[i] = kiln_buf_detach(&b, NULL);
	}
	return paths;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* One directory on the walk's stack. */
struct walk_dir {
	size_t len; /* the directory is path[0..len) */
	bool excluded, skipped;
	unsigned char *state;
};

/*
 * Match sorted paths as a walker does: a directory's state is computed once
 * and shared by everything below it; a skipped directory excludes its whole
 * subtree without matching. Returns how many paths are excluded.
 */
static size_t walk_all(const struct kiln_dockerignore *di, char **paths, size_t n)
{
	size_t nr = kiln_dockerignore_nr_patterns(di), depth = 0, hits = 0;
	struct walk_dir stack[64];
	unsigned char *leaf = xcalloc(nr + 1, 1);

	for (size_t i = 0; i < 64; i++)
		stack[i].state = xcalloc(nr + 1, 1);
	for (size_t i = 0; i < n; i++) {
		char *p = paths[i];
		size_t len = strlen(p);
		bool out = false;

		/* leave the directories this path is not in */
		while (depth && (stack[depth - 1].len >= len || p[stack[depth - 1].len] != '/' ||
				 strncmp(p, paths[i - 1], stack[depth - 1].len)))
			depth--;
		for (size_t e = depth ? stack[depth - 1].len + 1 : 0; e < len && depth < 64; e++) {
			struct walk_dir *d = &stack[depth], *up = depth ? &stack[depth - 1] : NULL;

			if (p[e] != '/')
				continue;
			d->len = e;
			d->skipped = up && up->skipped;
			if (!d->skipped) {
				p[e] = '\0';
				d->excluded = kiln_dockerignore_match_entry(
					di, p, up ? up->state : NULL, d->state);
				d->skipped =
					d->excluded && !kiln_dockerignore_dir_has_exceptions(di, p);
				p[e] = '/';
			}
			depth++;
		}
		if (depth && stack[depth - 1].skipped)
			out = true;
		else
			out = kiln_dockerignore_match_entry(
				di, p, depth ? stack[depth - 1].state : NULL, leaf);
		hits += out;
	}
	for (size_t i = 0; i < 64; i++)
		free(stack[i].state);
	free(leaf);
	return hits;
}

/* The baseline: fnmatch every pattern on the path and on each parent. */
static bool naive_match(char *const *pats, const bool *excl, size_t np, const char *path)
{
	char prefix[4096];
	bool matched = false;
	size_t len = strlen(path);

	if (len >= sizeof(prefix))
		return false;
	for (size_t i = 0; i < np; i++) {
		bool m = !fnmatch(pats[i], path, FNM_PATHNAME);

		for (size_t j = 0; !m && j < len; j++) {
			if (path[j] != '/')
				continue;
			memcpy(prefix, path, j);
			prefix[j] = '\0';
			m = !fnmatch(pats[i], prefix, FNM_PATHNAME);
		}
		if (m)
			matched = !excl[i];
	}
	return matched;
}

int main(int argc, char **argv)
{
	bool quick = argc > 1 && !strcmp(argv[1], "--quick");
	size_t n = quick ? 10000 : 100000, np = 0, kiln_hits = 0, naive_hits = 0;
	struct kiln_buf text = KILN_BUF_INIT;
	struct kiln_dockerignore *di = NULL;
	struct kiln_error err = KILN_ERROR_INIT;
	char *naive_pats[KILN_ARRAY_SIZE(patterns)];
	bool naive_excl[KILN_ARRAY_SIZE(patterns)];
	double t_kiln = 1e9, t_walk = 1e9, t_naive = 1e9;
	size_t walk_hits = 0;
	char **paths = make_paths(n);
	int ret = 1;

	for (size_t i = 0; i < KILN_ARRAY_SIZE(patterns); i++) {
		const char *p = patterns[i];

		kiln_buf_addf(&text, "%s\n", p);
		if (p[0] == '#')
			continue;
		naive_excl[np] = p[0] == '!';
		naive_pats[np] = xstrdup(p + (p[0] == '!'));
		np++;
	}
	if (kiln_dockerignore_parse(&di, text.buf, text.len, "bench", &err) < 0) {
		fprintf(stderr, "bench-dockerignore: %s\n", kiln_error_msg(&err));
		goto out;
	}
	/* walk order: a directory's entries come right after it */
	qsort(paths, n, sizeof(*paths), cmp_str);
	for (int round = 0; round < 3; round++) {
		double t0 = now(), t1, t2, t3;
		size_t k = 0, b = 0;

		for (size_t i = 0; i < n; i++)
			k += kiln_dockerignore_match(di, paths[i]);
		t1 = now();
		walk_hits = walk_all(di, paths, n);
		t2 = now();
		for (size_t i = 0; i < n; i++)
			b += naive_match(naive_pats, naive_excl, np, paths[i]);
		t3 = now();
		t_kiln = t1 - t0 < t_kiln ? t1 - t0 : t_kiln;
		t_walk = t2 - t1 < t_walk ? t2 - t1 : t_walk;
		t_naive = t3 - t2 < t_naive ? t3 - t2 : t_naive;
		kiln_hits = k, naive_hits = b;
	}
	if (walk_hits != kiln_hits) {
		fprintf(stderr, "bench-dockerignore: walk excluded %zu paths, per-path %zu\n",
			walk_hits, kiln_hits);
		goto out;
	}
	printf("bench-dockerignore: %zu patterns, %zu paths (best of 3)\n", np, n);
	printf("  kiln, per path   %8.1f ms  %6.0f ns/path  excluded %zu\n", t_kiln * 1e3,
	       t_kiln * 1e9 / (double)n, kiln_hits);
	printf("  kiln, as a walk  %8.1f ms  %6.0f ns/path  excluded %zu\n", t_walk * 1e3,
	       t_walk * 1e9 / (double)n, walk_hits);
	printf("  naive fnmatch    %8.1f ms  %6.0f ns/path  excluded %zu\n", t_naive * 1e3,
	       t_naive * 1e9 / (double)n, naive_hits);
	printf("  ratio: per path %.1fx, as a walk %.1fx faster than naive\n", t_naive / t_kiln,
	       t_naive / t_walk);
	ret = 0;
out:
	for (size_t i = 0; i < np; i++)
		free(naive_pats[i]);
	for (size_t i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
	kiln_dockerignore_free(di);
	kiln_error_release(&err);
	kiln_buf_release(&text);
	return ret;
}
