#include "compat.h"
#include "cpus.h"
#include "alloc.h"
#include "buf.h"
#include "fileio.h"
#include "path.h"

#include <sched.h>

/* A cgroup file holds a line or two of digits; anything longer is not one. */
#define CGROUP_FILE_CAP 256

/* The number of CPUs quota/period grants, rounded up; 0 for "no limit". */
static unsigned quota_cpus(long long quota, long long period)
{
	long long n;

	if (quota <= 0 || period <= 0)
		return 0;
	n = quota / period + (quota % period != 0);
	return n > 4096 ? 4096 : (unsigned)n;
}

static bool read_small(struct kiln_buf *out, const char *dir, const char *name)
{
	char *path = xasprintf("%s/%s", dir, name);
	bool ok;

	kiln_buf_reset(out);
	ok = kiln_file_read(out, path, CGROUP_FILE_CAP, NULL) == 0;
	free(path);
	return ok;
}

static bool parse_ll(long long *out, const char *s, char **end)
{
	errno = 0;
	*out = strtoll(s, end, 10);
	return errno == 0 && *end != s;
}

/* cgroup v2: cpu.max is "max 100000" (no limit) or "QUOTA PERIOD". */
static unsigned v2_limit_at(const char *dir)
{
	struct kiln_buf b = KILN_BUF_INIT;
	long long quota, period;
	char *end;
	unsigned n = 0;

	if (read_small(&b, dir, "cpu.max") && parse_ll(&quota, b.buf, &end) &&
	    parse_ll(&period, end, &end))
		n = quota_cpus(quota, period);
	kiln_buf_release(&b);
	return n;
}

/* cgroup v1: cpu.cfs_quota_us is -1 (no limit) or microseconds per period. */
static unsigned v1_limit_at(const char *dir)
{
	struct kiln_buf b = KILN_BUF_INIT;
	long long quota, period;
	char *end;
	unsigned n = 0;

	if (read_small(&b, dir, "cpu.cfs_quota_us") && parse_ll(&quota, b.buf, &end) &&
	    read_small(&b, dir, "cpu.cfs_period_us") && parse_ll(&period, b.buf, &end))
		n = quota_cpus(quota, period);
	kiln_buf_release(&b);
	return n;
}

/*
 * A parent's quota caps its children, so walk from mount/path up to the
 * mount itself and keep the tightest limit. Without a cgroup namespace the
 * path names a host cgroup that does not exist inside the container's
 * mount; the walk then ends at the mount root, which is the container's.
 */
static unsigned tightest(const char *mount, const char *path, unsigned (*at)(const char *))
{
	struct kiln_buf dir = KILN_BUF_INIT, up = KILN_BUF_INIT;
	unsigned best = 0;

	kiln_path_join(&dir, mount, path);
	for (;;) {
		unsigned n = at(dir.buf);

		if (n && (!best || n < best))
			best = n;
		if (!strcmp(dir.buf, mount) || !kiln_path_is_beneath(mount, dir.buf))
			break;
		kiln_path_split(&up, NULL, dir.buf);
		kiln_buf_setstr(&dir, up.buf);
	}
	kiln_buf_release(&dir);
	kiln_buf_release(&up);
	return best;
}

static unsigned min_limit(unsigned a, unsigned b)
{
	if (!a || (b && b < a))
		return b;
	return a;
}

/* Does the comma-separated controller list name "cpu"? */
static bool has_cpu_controller(const char *list, size_t len)
{
	for (size_t i = 0; i < len;) {
		size_t j = i;

		while (j < len && list[j] != ',')
			j++;
		if (j - i == 3 && !memcmp(list + i, "cpu", 3))
			return true;
		i = j + 1;
	}
	return false;
}

/* One /proc/self/cgroup line: "ID:CONTROLLERS:PATH". */
static unsigned line_limit(const char *root, const char *line, size_t len)
{
	static const char *const v1_mounts[] = { "cpu", "cpu,cpuacct", "cpuacct,cpu" };
	static const char *const v2_mounts[] = { "", "unified" };
	const char *c1 = memchr(line, ':', len), *c2;
	char *path, *mount;
	unsigned best = 0;

	if (!c1 || !(c2 = memchr(c1 + 1, ':', len - (size_t)(c1 + 1 - line))))
		return 0;
	path = xstrndup(c2 + 1, len - (size_t)(c2 + 1 - line));
	if (c2 == c1 + 1 && c1 - line == 1 && line[0] == '0') {
		for (size_t i = 0; i < KILN_ARRAY_SIZE(v2_mounts); i++) {
			mount = *v2_mounts[i] ? xasprintf("%s/%s", root, v2_mounts[i])
					      : xstrdup(root);
			best = min_limit(best, tightest(mount, path, v2_limit_at));
			free(mount);
		}
	} else if (has_cpu_controller(c1 + 1, (size_t)(c2 - c1 - 1))) {
		for (size_t i = 0; i < KILN_ARRAY_SIZE(v1_mounts); i++) {
			mount = xasprintf("%s/%s", root, v1_mounts[i]);
			best = min_limit(best, tightest(mount, path, v1_limit_at));
			free(mount);
		}
	}
	free(path);
	return best;
}

unsigned kiln_cgroup_cpu_limit(const char *cgroup_root, const char *self)
{
	unsigned best = 0;

	for (const char *p = self; *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);

		best = min_limit(best, line_limit(cgroup_root, p, len));
		p += len + (nl != NULL);
	}
	return best;
}

unsigned kiln_cpus_available(void)
{
	struct kiln_buf self = KILN_BUF_INIT;
	cpu_set_t set;
	unsigned n = 1, limit;

	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
		n = (unsigned)CPU_COUNT(&set);
	/* /proc/self/cgroup lists one line per hierarchy: a few hundred bytes */
	if (kiln_file_read(&self, "/proc/self/cgroup", 65536, NULL) == 0) {
		limit = kiln_cgroup_cpu_limit("/sys/fs/cgroup", self.buf);
		if (limit && limit < n)
			n = limit;
	}
	kiln_buf_release(&self);
	return n;
}
