/*
 * timestamp.h: RFC 3339 times, as image configs ("created") and OCI
 * annotations (org.opencontainers.image.created) hold them.
 */
#ifndef KILN_TIMESTAMP_H
#define KILN_TIMESTAMP_H

#include "compat.h"

/* "2006-01-02T15:04:05Z" and its NUL. */
#define KILN_TIME_SIZE 32

/* Seconds since the epoch as UTC, whole seconds. */
void kiln_time_format(char out[KILN_TIME_SIZE], int64_t t);
/* 2006-01-02T15:04:05[.frac](Z|+hh:mm|-hh:mm) into seconds since the
 * epoch; -1 for anything else (years before 1970 or after 9999 too). */
int kiln_time_parse(int64_t *out, const char *s);

#endif
