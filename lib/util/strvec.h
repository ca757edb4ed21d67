/*
 * strvec.h: a NULL-terminated, growable array of owned strings (git's
 * strvec): argv for child processes, lists of paths.
 *
 * Typical use:
 *	struct kiln_strvec v = KILN_STRVEC_INIT;
 *	kiln_strvec_push(&v, "/proc");
 *	kiln_strvec_pushf(&v, "%s/run", root);
 *	execv(v.v[0], v.v);
 *	kiln_strvec_clear(&v);
 */
#ifndef KILN_STRVEC_H
#define KILN_STRVEC_H

#include "compat.h"

struct kiln_strvec {
	char **v; /* never NULL after the first push; v[nr] == NULL */
	size_t nr, alloc;
};

#define KILN_STRVEC_INIT   \
	{                  \
		NULL, 0, 0 \
	}

void kiln_strvec_push(struct kiln_strvec *sv, const char *s);
void kiln_strvec_pushf(struct kiln_strvec *sv, const char *fmt, ...) KILN_PRINTF(2, 3);
/* Take ownership of s (malloc'd). */
void kiln_strvec_push_owned(struct kiln_strvec *sv, char *s);
bool kiln_strvec_contains(const struct kiln_strvec *sv, const char *s);
void kiln_strvec_clear(struct kiln_strvec *sv);

#endif
