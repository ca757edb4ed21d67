/*
 * duration.h: Go's duration syntax, as kaniko's flags take it
 * (--cache-ttl=336h, 1h30m, 90s, 1.5h, 500ms).
 */
#ifndef KILN_DURATION_H
#define KILN_DURATION_H

#include "compat.h"

struct kiln_error;

/* Parse s into whole seconds (fractions rounded down). A sequence of
 * numbers, each with a unit (ns, us, µs, ms, s, m, h); "0" alone needs
 * none. Negative and overflowing durations are refused. */
int kiln_duration_parse(int64_t *seconds, const char *s, struct kiln_error *err);

#endif
