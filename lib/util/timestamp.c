/*
 * timestamp.c: RFC 3339 times as image configs and OCI annotations hold them.
 */
#include "compat.h"
#include "timestamp.h"

#include <time.h>

void kiln_time_format(char out[KILN_TIME_SIZE], int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(out, KILN_TIME_SIZE, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int kiln_time_parse(int64_t *out, const char *s)
{
	struct tm tm = { 0 };
	const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	int64_t off = 0;

	/* years outside 1970..9999 are no image's: refused, so that ages
	 * computed from it cannot overflow */
	if (!p || tm.tm_year < 70 || tm.tm_year > 9999 - 1900)
		return -1;
	if (*p == '.') {
		do
			p++;
		while (*p >= '0' && *p <= '9');
	}
	if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
		int h = (p[1] - '0') * 10 + (p[2] - '0'), m = (p[4] - '0') * 10 + (p[5] - '0');

		if (h < 0 || h > 23 || m < 0 || m > 59)
			return -1;
		off = (*p == '+' ? 1 : -1) * (h * 3600 + m * 60);
	} else if (strcmp(p, "Z") && strcmp(p, "z")) {
		return -1;
	}
	*out = (int64_t)timegm(&tm) - off;
	return 0;
}
