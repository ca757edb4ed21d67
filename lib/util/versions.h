/*
 * versions.h: what `executor version` prints for the libraries kiln_util
 * links (OpenSSL, zlib, cJSON). Each module reports its own libraries.
 */
#ifndef KILN_VERSIONS_H
#define KILN_VERSIONS_H

#include "compat.h"

struct kiln_buf;

/* Append "  <library> <version>\n" lines. */
void kiln_util_versions(struct kiln_buf *out);

#endif
