/*
 * registry.h: the registry client's public interface.
 *
 * registry/ speaks the OCI distribution API over libcurl and is kiln's only
 * network code. It knows nothing about Dockerfiles and uses only lib/util.
 *
 * So far: process-wide set-up and a probe that GETs one URL (used by
 * `executor debug probe` to check connectivity and name resolution, e.g.
 * from inside an empty chroot with the static executor).
 *
 * Typical use:
 *	if (registry_global_init(err) < 0) ...
 *	long status;
 *	if (registry_probe(&status, "https://host/v2/", err) < 0) ...
 *	registry_global_cleanup();
 */
#ifndef KILN_REGISTRY_H
#define KILN_REGISTRY_H

#include "compat.h"

struct kiln_buf;
struct kiln_error;

int registry_global_init(struct kiln_error *err);
void registry_global_cleanup(void);

/* GET url without credentials; *status is the HTTP status of the answer.
 * Any HTTP answer is success here; no answer (DNS, connect, TLS) is ENET. */
int registry_probe(long *status, const char *url, struct kiln_error *err);

/* The User-Agent kiln sends: "kiln/<version>". */
const char *registry_user_agent(void);

/* Append "  libcurl <version> (<features>)\n" for `executor version`. */
void registry_versions(struct kiln_buf *out);

#endif
