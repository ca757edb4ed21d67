#include "compat.h"
#include "duration.h"
#include "error.h"

#include <ctype.h>
#include <math.h> /* isfinite: a macro, no libm */

struct unit {
	const char *name;
	double seconds;
};

static const struct unit units[] = {
	{ "ns", 1e-9 }, { "us", 1e-6 }, { "\xc2\xb5s", 1e-6 }, { "ms", 1e-3 },
	{ "s", 1 },	{ "m", 60 },	{ "h", 3600 },
};

/* The longest unit name that starts p (so "ms" is not "m" then "s"). */
static const struct unit *unit_at(const char *p, size_t *len)
{
	const struct unit *best = NULL;

	for (size_t i = 0; i < KILN_ARRAY_SIZE(units); i++) {
		size_t n = strlen(units[i].name);

		if (!strncmp(p, units[i].name, n) && (!best || n > *len)) {
			best = &units[i];
			*len = n;
		}
	}
	return best;
}

/* Digits with an optional fraction: no sign, exponent or hex (Go's). */
static int number_at(double *v, const char **end, const char *p)
{
	double scale = 1;
	bool any = false;

	*v = 0;
	for (; isdigit((unsigned char)*p); p++, any = true)
		*v = *v * 10 + (*p - '0');
	if (*p == '.') {
		for (p++; isdigit((unsigned char)*p); p++, any = true)
			*v += (*p - '0') * (scale /= 10);
	}
	*end = p;
	return any ? 0 : -1;
}

static int bad(struct kiln_error *err, const char *s)
{
	kiln_err(err, KILN_EINVAL, 0, "invalid duration '%s'", s);
	return kiln_err_hint(err, "write it as Go does: 336h, 1h30m, 90s");
}

int kiln_duration_parse(int64_t *seconds, const char *s, struct kiln_error *err)
{
	const char *p = s;
	double total = 0;

	if (!strcmp(s, "0")) {
		*seconds = 0;
		return 0;
	}
	if (!*p)
		return bad(err, s);
	while (*p) {
		const struct unit *u;
		size_t ulen = 0;
		const char *end;
		double v;

		if (number_at(&v, &end, p) < 0 || !(u = unit_at(end, &ulen)))
			return bad(err, s);
		total += v * u->seconds;
		p = end + ulen;
	}
	if (!isfinite(total) || total > 9.2e18)
		return bad(err, s);
	*seconds = (int64_t)total;
	return 0;
}
