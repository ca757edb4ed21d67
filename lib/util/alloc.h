/*
 * alloc.h: allocation that never returns NULL.
 *
 * Running out of memory is not an error kiln can report usefully halfway
 * through a layer, so the x* family prints one line and exits. Callers never
 * check for NULL, which keeps every append and copy a void function.
 *
 * Typical use:
 *	struct thing *t = xcalloc(1, sizeof(*t));
 *	t->name = xstrdup(name);
 */
#ifndef KILN_ALLOC_H
#define KILN_ALLOC_H

#include "compat.h"

void *xmalloc(size_t size);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *ptr, size_t size);
/* reallocarray that dies on overflow as well as on OOM. */
void *xreallocarray(void *ptr, size_t nmemb, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) KILN_PRINTF(1, 2);

/* Free *pp and set it to NULL. */
void xfree(void *pp);

/* Checked size arithmetic: dies on overflow (sizes come from hostile input). */
size_t st_add(size_t a, size_t b);
size_t st_mult(size_t a, size_t b);

#endif
