#include "compat.h"
#include "strvec.h"
#include "alloc.h"
#include "buf.h"

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
	struct kiln_buf s = KILN_BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	kiln_buf_vaddf(&s, fmt, ap);
	va_end(ap);
	kiln_strvec_push_owned(sv, kiln_buf_detach(&s, NULL));
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
