#include "compat.h"
#include "registry.h"
#include "buf.h"
#include "error.h"
#include "kiln-version.h"

#include <curl/curl.h>

int registry_global_init(struct kiln_error *err)
{
	CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);

	if (rc != CURLE_OK)
		return kiln_err(err, KILN_ENET, 0, "initialise libcurl: %s",
				curl_easy_strerror(rc));
	return 0;
}

void registry_global_cleanup(void)
{
	curl_global_cleanup();
}

const char *registry_user_agent(void)
{
	return "kiln/" KILN_VERSION;
}

/* The probe looks at the status only; the body is dropped. */
static size_t discard_body(char *data, size_t size, size_t nmemb, void *ctx)
{
	(void)data;
	(void)ctx;
	return size * nmemb;
}

int registry_probe(long *status, const char *url, struct kiln_error *err)
{
	CURL *curl = curl_easy_init();
	char detail[CURL_ERROR_SIZE] = "";
	CURLcode rc;
	int ret = -1;

	if (!curl)
		return kiln_err(err, KILN_ENET, 0, "initialise a libcurl handle");
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_USERAGENT, registry_user_agent());
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard_body);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, detail);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 30L);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	rc = curl_easy_perform(curl);
	if (rc != CURLE_OK) {
		ret = kiln_err(err, KILN_ENET, 0, "GET '%s': %s", url,
			       detail[0] ? detail : curl_easy_strerror(rc));
		goto out;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, status);
	ret = 0;
out:
	curl_easy_cleanup(curl);
	return ret;
}

void registry_versions(struct kiln_buf *out)
{
	const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);

	kiln_buf_addf(out, "  libcurl %s (%s", v->version,
		      v->ssl_version ? v->ssl_version : "no TLS");
	if (v->features & CURL_VERSION_ASYNCHDNS)
		kiln_buf_addf(out, ", resolver %s", v->ares ? "c-ares" : "threaded");
	if (v->features & CURL_VERSION_HTTP2)
		kiln_buf_addstr(out, ", HTTP/2");
	kiln_buf_addstr(out, ")\n");
}
