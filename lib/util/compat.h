/*
 * compat.h: the first include of every kiln source file.
 *
 * It selects the Linux/GNU interfaces kiln relies on, pulls in the system
 * headers nearly every file needs, and then banned.h, which must come after
 * those headers so that it can poison unsafe libc functions without breaking
 * their declarations.
 */
#ifndef KILN_COMPAT_H
#define KILN_COMPAT_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#define KILN_PRINTF(fmt_idx, args_idx) __attribute__((format(printf, fmt_idx, args_idx)))
#define KILN_NORETURN		       __attribute__((noreturn))
#define KILN_UNUSED		       __attribute__((unused))
#define KILN_ARRAY_SIZE(a)	       (sizeof(a) / sizeof((a)[0]))

/* Take ownership of *pp, leaving NULL behind, so `out:` cleanup skips it. */
static inline void *steal_ptr(void *pp)
{
	void **p = pp;
	void *v = *p;
	*p = NULL;
	return v;
}

/* Take ownership of a file descriptor, leaving -1 behind. */
static inline int steal_fd(int *fd)
{
	int v = *fd;
	*fd = -1;
	return v;
}

/* Close *fd if open and mark it closed; keeps errno for the caller. */
static inline void close_fd(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
		*fd = -1;
	}
}

#include "banned.h"

#endif
