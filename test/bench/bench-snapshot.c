/*
 * bench-snapshot: the snapshotter against its floor and against kaniko's
 * way, on one tree, in one run.
 *
 *   floor      single-threaded nftw() stat walk of the tree
 *   read-all   read and hash every file (what kaniko's full mode does
 *              after every RUN)
 *   resnap     kiln full-mode snapshot with nothing changed
 *   changed    kiln full-mode snapshot after rewriting 1,000 files
 *   rss        peak RSS of a process holding the table of the whole tree
 *
 * Times are medians of 3; ratios are to the floor measured in the same
 * run. --quick uses a tenth of the tree (CI); no thresholds are applied.
 */
#include "compat.h"
#include "error.h"
#include "snapshot.h"

#include <fcntl.h>
#include <ftw.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#define RUNS 3

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	perror(what);
	exit(1);
}

/* nr_files files of avg_size bytes, 100 per directory, 2 levels deep. */
static void make_tree(const char *root, size_t nr_files, size_t avg_size)
{
	char path[4096];
	char *data = malloc(avg_size * 2);

	for (size_t i = 0; i < avg_size * 2; i++)
		data[i] = (char)(i * 7 + i / 251);
	for (size_t i = 0; i < nr_files; i++) {
		size_t size = avg_size / 2 + (i * 2654435761u) % avg_size;
		int fd;

		if (i % 100 == 0) {
			snprintf(path, sizeof(path), "%s/d%zu", root, i / 10000);
			mkdir(path, 0755);
			snprintf(path, sizeof(path), "%s/d%zu/e%zu", root, i / 10000, i / 100);
			if (mkdir(path, 0755) < 0)
				die("mkdir");
		}
		snprintf(path, sizeof(path), "%s/d%zu/e%zu/f%zu", root, i / 10000, i / 100, i);
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0 || write(fd, data, size) != (ssize_t)size)
			die("write");
		close(fd);
	}
	free(data);
}

static size_t nftw_count;

static int nftw_visit(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)p;
	(void)st;
	(void)flag;
	(void)ftw;
	nftw_count++;
	return 0;
}

static size_t read_all_bytes;

static int read_visit(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	struct snapshot_hash h;
	int fd;

	(void)ftw;
	if (flag != FTW_F || !S_ISREG(st->st_mode))
		return 0;
	fd = open(p, O_RDONLY);
	if (fd < 0 || snapshot_hash_fd(&h, fd, p, NULL) < 0)
		die("read");
	read_all_bytes += (size_t)st->st_size;
	close(fd);
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v)
{
	qsort(v, RUNS, sizeof(*v), cmp_double);
	return v[RUNS / 2];
}

static double time_nftw(const char *root,
			int (*fn)(const char *, const struct stat *, int, struct FTW *))
{
	double t[RUNS];

	for (int i = 0; i < RUNS; i++) {
		double t0 = now_s();

		if (nftw(root, fn, 64, FTW_PHYS) < 0)
			die("nftw");
		t[i] = now_s() - t0;
	}
	return median(t);
}

static double take(struct snapshot *s, size_t *nr_changes)
{
	struct kiln_error err = KILN_ERROR_INIT;
	struct snapshot_changes c;
	double t0 = now_s();

	if (snapshot_take(&c, s, &err) < 0) {
		fprintf(stderr, "snapshot: %s\n", kiln_error_msg(&err));
		exit(1);
	}
	t0 = now_s() - t0;
	*nr_changes = c.nr;
	snapshot_changes_release(&c);
	return t0;
}

static void rewrite(const char *root, size_t nr_files, size_t count, int round)
{
	char path[4096];

	for (size_t k = 0; k < count; k++) {
		size_t i = (k * (nr_files / count)) % nr_files;
		int fd;

		snprintf(path, sizeof(path), "%s/d%zu/e%zu/f%zu", root, i / 10000, i / 100, i);
		fd = open(path, O_WRONLY);
		if (fd < 0 || pwrite(fd, &round, sizeof(round), 0) != sizeof(round))
			die("rewrite");
		close(fd);
	}
}

/* Runs in a child so that its peak RSS is the snapshotter's alone. */
static void run_snapshots(const char *root, size_t nr_files, double floor_s)
{
	struct snapshot_options o = { .mode = SNAPSHOT_FULL };
	struct kiln_error err = KILN_ERROR_INIT;
	struct snapshot *s = NULL;
	double resnap[RUNS], changed[RUNS];
	size_t n = 0;
	int fd = open(root, O_RDONLY | O_DIRECTORY);

	if (fd < 0 || snapshot_new(&s, fd, &o, &err) < 0)
		die("snapshot_new");
	printf("baseline   %8.3f s  (first snapshot, hashes every file)\n", take(s, &n));
	for (int i = 0; i < RUNS; i++)
		resnap[i] = take(s, &n);
	if (n)
		fprintf(stderr, "warning: %zu changes in an unchanged tree\n", n);
	for (int i = 0; i < RUNS; i++) {
		rewrite(root, nr_files, nr_files / 100, i + 1);
		changed[i] = take(s, &n);
	}
	printf("resnap     %8.3f s  %5.2fx floor (nothing changed)\n", median(resnap),
	       median(resnap) / floor_s);
	printf("changed    %8.3f s  %5.2fx floor (%zu paths changed)\n", median(changed),
	       median(changed) / floor_s, n);
	snapshot_free(s);
	close(fd);
}

int main(int argc, char **argv)
{
	bool quick = argc > 1 && !strcmp(argv[1], "--quick");
	size_t nr_files = quick ? 10000 : 100000;
	size_t avg = 10240; /* 100,000 x 10 KiB = 1 GiB */
	char root[] = "/tmp/kiln-bench-snapshot-XXXXXX";
	double floor_s, read_s;
	struct rusage ru;
	int status;
	pid_t pid;

	if (!mkdtemp(root))
		die("mkdtemp");
	printf("tree: %zu files, %zu MiB, under %s\n", nr_files, nr_files * avg >> 20, root);
	make_tree(root, nr_files, avg);
	floor_s = time_nftw(root, nftw_visit);
	read_s = time_nftw(root, read_visit);
	printf("floor      %8.3f s  (nftw stat walk, %zu entries)\n", floor_s, nftw_count / RUNS);
	printf("read-all   %8.3f s  %5.2fx floor (read+hash %zu MiB)\n", read_s, read_s / floor_s,
	       read_all_bytes / RUNS >> 20);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		run_snapshots(root, nr_files, floor_s);
		fflush(stdout);
		_exit(0);
	}
	if (pid < 0 || wait4(pid, &status, 0, &ru) < 0 || !WIFEXITED(status) || WEXITSTATUS(status))
		die("snapshot child");
	printf("rss        %8.1f MiB peak (table of %zu paths)\n", (double)ru.ru_maxrss / 1024,
	       nr_files + nr_files / 100);
	{
		char cmd[4200];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
		if (system(cmd) != 0)
			die("rm");
	}
	return 0;
}
