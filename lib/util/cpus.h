/*
 * cpus.h: how many CPUs this process may really use.
 *
 * In a Kubernetes pod or a CI job the machine's core count says little: the
 * CPU affinity mask and, above all, the cgroup CPU quota (v1
 * cpu.cfs_quota_us / cpu.cfs_period_us, v2 cpu.max) bound what kiln gets.
 * Starting more busy threads than the quota allows only adds throttling,
 * so thread pools size themselves from kiln_cpus_available().
 *
 * Typical use:
 *	unsigned n = opts->threads ? opts->threads : kiln_cpus_available();
 */
#ifndef KILN_CPUS_H
#define KILN_CPUS_H

#include "compat.h"

/* min(affinity mask, ceil(cgroup quota / period)), at least 1. */
unsigned kiln_cpus_available(void);

/*
 * The cgroup CPU limit in whole CPUs (rounded up), 0 when there is none.
 * cgroup_root is where the cgroup file systems are mounted ("/sys/fs/cgroup")
 * and self is the text of /proc/self/cgroup; the tightest quota of the
 * process's cgroup and its ancestors wins. Parameters so tests can fake both.
 */
unsigned kiln_cgroup_cpu_limit(const char *cgroup_root, const char *self);

#endif
