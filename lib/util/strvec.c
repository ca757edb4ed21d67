#include "compat.h"
#include "strvec.h"
#include "alloc.h"

void kiln_strvec_push_owned(struct kiln_strvec *sv, char *s)
{
	if (sv->nr + 1 >= sv->alloc) {
		sv->alloc = sv->alloc ? st_mult(sv->alloc, 2) : 8;
		sv->v = xreallocarray(sv->v, sv->alloc, sizeof(*sv->v));
	}
	sv->v[sv->nr++] = s;
	sv->v[sv->nr] = NULL;
}

void kiln_strvec_push(struct kiln_strvec *sv, const char *s)
{
	kiln_strvec_push_owned(sv, xstrdup(s));
}

void kiln_strvec_pushf(struct kiln_strvec *sv, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0) {
		fprintf(stderr, "kiln: fatal: out of memory formatting a string\n");
		exit(1);
	}
	va_end(ap);
	kiln_strvec_push_owned(sv, s);
}

bool kiln_strvec_contains(const struct kiln_strvec *sv, const char *s)
{
	for (size_t i = 0; i < sv->nr; i++) {
		if (!strcmp(sv->v[i], s))
			return true;
	}
	return false;
}

void kiln_strvec_clear(struct kiln_strvec *sv)
{
	for (size_t i = 0; i < sv->nr; i++)
		free(sv->v[i]);
	free(sv->v);
	sv->v = NULL;
	sv->nr = sv->alloc = 0;
}
