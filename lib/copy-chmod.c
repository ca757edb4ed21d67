/*
 * copy-chmod.c: COPY --chmod, octal ("755", "0644") or symbolic as
 * chmod(1) writes it ("u=rwx,go=rx", "+x", "a-w,u+s"). The mode is the
 * same for files and directories except for X, which adds execute only to
 * directories and to files that already have an execute bit. Unlike
 * chmod(1), no umask applies to a clause without "who" (a build has no
 * umask to respect; BuildKit applies the mode as written).
 */
#include "compat.h"
#include "copy-int.h"
#include "error.h"

#include <sys/stat.h>

/* The bits each "who" letter owns. */
#define WHO_U (S_IRWXU | S_ISUID)
#define WHO_G (S_IRWXG | S_ISGID)
#define WHO_O (S_IRWXO | S_ISVTX)

static bool is_octal(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '7')
			return false;
	return true;
}

/* The rwx bits of class `c` in mode, spread to every class. */
static mode_t copy_class(mode_t mode, char c)
{
	mode_t v = c == 'u' ? (mode >> 6) & 7 : c == 'g' ? (mode >> 3) & 7 : mode & 7;

	return v << 6 | v << 3 | v;
}

/* Apply one symbolic spec; orig is what X looks at. */
static int symbolic(mode_t *mode, const char *spec, mode_t orig)
{
	const char *p = spec;

	for (;;) {
		mode_t who = 0;
		bool any = false;

		for (; *p && strchr("ugoa", *p); p++) {
			who |= *p == 'u'   ? WHO_U
			       : *p == 'g' ? WHO_G
			       : *p == 'o' ? WHO_O
					   : WHO_U | WHO_G | WHO_O;
		}
		if (!who)
			who = WHO_U | WHO_G | WHO_O;
		while (*p == '+' || *p == '-' || *p == '=') {
			char op = *p++;
			mode_t bits = 0;

			if (*p && strchr("ugo", *p)) {
				bits = copy_class(*mode, *p++);
			} else {
				for (; *p && strchr("rwxXst", *p); p++) {
					switch (*p) {
					case 'r':
						bits |= 0444;
						break;
					case 'w':
						bits |= 0222;
						break;
					case 'x':
						bits |= 0111;
						break;
					case 'X':
						if (S_ISDIR(orig) || (orig & 0111))
							bits |= 0111;
						break;
					case 's':
						bits |= S_ISUID | S_ISGID;
						break;
					case 't':
						bits |= S_ISVTX;
						break;
					}
				}
			}
			bits &= who;
			if (op == '+')
				*mode |= bits;
			else if (op == '-')
				*mode &= ~bits;
			else
				*mode = (*mode & ~who) | bits;
			any = true;
		}
		if (!any)
			return -1;
		if (!*p)
			return 0;
		if (*p++ != ',')
			return -1;
	}
}

int copy_chmod_apply(mode_t *out, const char *spec, mode_t mode, struct kiln_error *err)
{
	mode_t m = mode & 07777;

	if (is_octal(spec)) {
		unsigned long v = strtoul(spec, NULL, 8);

		if (strlen(spec) > 5 || v > 07777)
			goto bad;
		*out = (mode_t)v;
		return 0;
	}
	if (symbolic(&m, spec, mode) < 0)
		goto bad;
	*out = m;
	return 0;
bad:
	return kiln_err(err, KILN_EINVAL, 0,
			"invalid --chmod '%s'; use an octal mode such as 755 or a symbolic one "
			"such as u=rwx,go=rx",
			spec);
}

int copy_chmod_parse(const char *spec, struct kiln_error *err)
{
	mode_t unused;

	return copy_chmod_apply(&unused, spec, S_IFREG | 0644, err);
}
