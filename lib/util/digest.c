#include "compat.h"
#include "digest.h"
#include "error.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

static KILN_NORETURN void die_openssl(const char *what)
{
	/* EVP fails here only on OOM or a broken OpenSSL install. */
	fprintf(stderr, "kiln: fatal: OpenSSL %s failed\n", what);
	exit(1);
}

int kiln_crypto_init(struct kiln_error *err)
{
	if (OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG, NULL) != 1)
		return kiln_err(err, KILN_EIO, 0, "initialise OpenSSL");
	return 0;
}

void kiln_sha256_init(struct kiln_sha256 *h)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		die_openssl("sha256 init");
	h->ctx = ctx;
}

void kiln_sha256_update(struct kiln_sha256 *h, const void *data, size_t len)
{
	if (len && EVP_DigestUpdate(h->ctx, data, len) != 1)
		die_openssl("sha256 update");
}

void kiln_sha256_final(struct kiln_sha256 *h, struct kiln_digest *out)
{
	unsigned int n = 0;

	if (EVP_DigestFinal_ex(h->ctx, out->sha256, &n) != 1 || n != KILN_SHA256_LEN)
		die_openssl("sha256 final");
	kiln_sha256_release(h);
}

void kiln_sha256_release(struct kiln_sha256 *h)
{
	EVP_MD_CTX_free(h->ctx);
	h->ctx = NULL;
}

void kiln_digest_of(struct kiln_digest *out, const void *data, size_t len)
{
	struct kiln_sha256 h;

	kiln_sha256_init(&h);
	kiln_sha256_update(&h, data, len);
	kiln_sha256_final(&h, out);
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1; /* uppercase is not canonical: the OCI spec says [a-f0-9] */
}

int kiln_digest_parse(struct kiln_digest *out, const char *s, struct kiln_error *err)
{
	const char *colon = strchr(s, ':');
	const char *hex;

	if (!colon)
		return kiln_err(err, KILN_EINVAL, 0,
				"invalid digest '%s': expected 'sha256:' followed by 64 hex digits",
				s);
	if ((size_t)(colon - s) != 6 || strncmp(s, "sha256", 6))
		return kiln_err(err, KILN_EINVAL, 0,
				"unsupported digest algorithm in '%s': only sha256 is supported",
				s);
	hex = colon + 1;
	if (strlen(hex) != 2 * KILN_SHA256_LEN)
		return kiln_err(err, KILN_EINVAL, 0,
				"invalid digest '%s': a sha256 digest has 64 hex digits, not %zu",
				s, strlen(hex));
	for (size_t i = 0; i < KILN_SHA256_LEN; i++) {
		int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return kiln_err(err, KILN_EINVAL, 0,
					"invalid digest '%s': only lowercase hex digits [0-9a-f] "
					"may follow 'sha256:'",
					s);
		out->sha256[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

void kiln_digest_hex(char out[2 * KILN_SHA256_LEN + 1], const struct kiln_digest *d)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < KILN_SHA256_LEN; i++) {
		out[2 * i] = digits[d->sha256[i] >> 4];
		out[2 * i + 1] = digits[d->sha256[i] & 0xf];
	}
	out[2 * KILN_SHA256_LEN] = '\0';
}

void kiln_digest_format(char out[KILN_DIGEST_STR_SIZE], const struct kiln_digest *d)
{
	memcpy(out, "sha256:", 7);
	kiln_digest_hex(out + 7, d);
}

bool kiln_digest_eq(const struct kiln_digest *a, const struct kiln_digest *b)
{
	return !memcmp(a->sha256, b->sha256, KILN_SHA256_LEN);
}
