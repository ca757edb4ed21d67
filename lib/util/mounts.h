/*
 * mounts.h: the mount points this process sees (/proc/self/mountinfo).
 *
 * The snapshotter's ignore list is built from these: /proc, /sys, /dev,
 * bind-mounted files such as /etc/hosts and /etc/resolv.conf, the mounted
 * build context and Kubernetes secret volumes are all mount points, and
 * none of them may end up in an image.
 *
 * Typical use:
 *	struct kiln_strvec under = KILN_STRVEC_INIT;
 *	kiln_mounts_under(&under, "/", err);   // "/proc", "/etc/hosts", ...
 */
#ifndef KILN_MOUNTS_H
#define KILN_MOUNTS_H

#include "compat.h"

struct kiln_error;
struct kiln_strvec;

/*
 * Append to out every mount point strictly below root (an absolute,
 * symlink-free path), as a path relative to root with a leading '/'.
 * Reads /proc/self/mountinfo; fails when it cannot be read, because an
 * unknown mount would otherwise be captured into a layer.
 */
int kiln_mounts_under(struct kiln_strvec *out, const char *root, struct kiln_error *err);

/* The same from mountinfo text (tests). */
void kiln_mounts_parse(struct kiln_strvec *out, const char *mountinfo, const char *root);

#endif
