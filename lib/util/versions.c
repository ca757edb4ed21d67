#include "compat.h"
#include "versions.h"
#include "buf.h"

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <zlib.h>

void kiln_util_versions(struct kiln_buf *out)
{
	kiln_buf_addf(out, "  %s\n", OpenSSL_version(OPENSSL_VERSION));
	kiln_buf_addf(out, "  zlib %s\n", zlibVersion());
	kiln_buf_addf(out, "  cJSON %s\n", cJSON_Version());
}
