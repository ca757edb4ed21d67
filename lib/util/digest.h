/*
 * digest.h: content digests as the OCI specs write them ("sha256:<hex>").
 *
 * sha256 through OpenSSL's EVP interface (hardware accelerated where the
 * CPU allows). Parsing is strict, because a digest names content kiln will
 * trust: lowercase hex of exactly the algorithm's length, nothing else.
 *
 * Typical use:
 *	struct kiln_sha256 h;
 *	kiln_sha256_init(&h);
 *	kiln_sha256_update(&h, data, len);
 *	kiln_sha256_final(&h, &digest);
 *	char s[KILN_DIGEST_STR_SIZE];
 *	kiln_digest_format(s, &digest);
 */
#ifndef KILN_DIGEST_H
#define KILN_DIGEST_H

#include "compat.h"

struct kiln_error;

#define KILN_SHA256_LEN 32
/* "sha256:" + 64 hex digits + NUL */
#define KILN_DIGEST_STR_SIZE (7 + 2 * KILN_SHA256_LEN + 1)

struct kiln_digest {
	unsigned char sha256[KILN_SHA256_LEN];
};

/* A running sha256; the OpenSSL context stays private to digest.c. */
struct kiln_sha256 {
	void *ctx;
};

/*
 * Initialise OpenSSL without reading openssl.cnf. Call it first thing in
 * main(): OpenSSL's implicit initialisation on first use loads the config
 * file, and with ROOT "/" that file belongs to the base image (a provider
 * or engine named there would be dlopen()ed into kiln).
 */
int kiln_crypto_init(struct kiln_error *err);

void kiln_sha256_init(struct kiln_sha256 *h);
void kiln_sha256_update(struct kiln_sha256 *h, const void *data, size_t len);
/* Write the digest and release the context; h may be re-initialised. */
void kiln_sha256_final(struct kiln_sha256 *h, struct kiln_digest *out);
/* Release without a result (error paths); safe on a finished context. */
void kiln_sha256_release(struct kiln_sha256 *h);

void kiln_digest_of(struct kiln_digest *out, const void *data, size_t len);

/* Parse "sha256:<64 lowercase hex>". Anything else is KILN_EINVAL. */
int kiln_digest_parse(struct kiln_digest *out, const char *s, struct kiln_error *err);
void kiln_digest_format(char out[KILN_DIGEST_STR_SIZE], const struct kiln_digest *d);
/* Just the 64 hex digits (for blob file names). */
void kiln_digest_hex(char out[2 * KILN_SHA256_LEN + 1], const struct kiln_digest *d);
bool kiln_digest_eq(const struct kiln_digest *a, const struct kiln_digest *b);

#endif
