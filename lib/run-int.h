/*
 * run-int.h: what run.c (the process side) and run-isolate.c (the mounts
 * of a --rootfs step) share. Not a public header.
 */
#ifndef KILN_RUN_INT_H
#define KILN_RUN_INT_H

#include "compat.h"

#include <time.h>

struct kiln_error;
struct run_spec;

/* What a child failed at, sent to the parent through a close-on-exec pipe:
 * EOF without a report means the step's exec succeeded. */
enum run_stage {
	RUN_NOTE_NO_PIDNS = 1, /* not a failure: the kernel refused a PID namespace */
	RUN_STAGE_START,
	RUN_STAGE_UNSHARE,
	RUN_STAGE_MOUNT,
	RUN_STAGE_HOSTNAME,
	RUN_STAGE_CHROOT,
	RUN_STAGE_CREDS,
	RUN_STAGE_CHDIR,
	RUN_STAGE_LOOKUP,
	RUN_STAGE_EXEC,
};

struct run_report {
	int stage;
	int err;
	char detail[240]; /* a name or a path; below PIPE_BUF in all, so one write is atomic */
};

/* Write a report; used between fork and exec, so no allocation. */
void run_report_send(int fd, int stage, int err, const char *detail);

enum run_mount_kind { RUN_MOUNT_PROC, RUN_MOUNT_DEV, RUN_MOUNT_SYS, RUN_MOUNT_BIND };

struct run_mount {
	enum run_mount_kind kind;
	const char *source; /* binds: host path (owned by run_setup.sources or the spec) */
	char *rel;	    /* "etc/hosts": the cleaned target inside ROOT */
	bool read_only, recursive;
};

/* A mount point kiln made for the step and removes after it. */
struct run_made {
	char *rel; /* cleaned name inside ROOT */
	bool dir;
	struct timespec parent_times[2]; /* the parent's atime and mtime before */
	struct timespec parent_after;	 /* its mtime right after the creation */
};

struct run_setup {
	struct run_mount *m;
	size_t nr, alloc;
	struct run_made *made;
	size_t nr_made, alloc_made;
	char *hosts, *resolv; /* copies of the host's files in work_dir, or NULL */
};

/* Find and create every mount point of an isolated step. Whatever
 * was created is in su->made even on failure: run_setup_cleanup() it. */
int run_setup_prepare(struct run_setup *su, const struct run_spec *s, int root_fd,
		      struct kiln_error *err);
/* Remove the mount points made for the step (the step has ended). */
void run_setup_cleanup(struct run_setup *su, int root_fd);
void run_setup_release(struct run_setup *su);

/* In the isolated child, in its own mount namespace: make every mount in
 * ROOT (root: its path). Returns 0, or -1 after sending a report. */
int run_setup_mount(const struct run_setup *su, const char *root, int rep_fd);

#endif
