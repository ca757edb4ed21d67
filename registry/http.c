/*
 * http.c: the transport. A client owns a pool of libcurl easy handles that
 * share one connection cache, DNS cache and TLS session cache (a CURLSH),
 * so requests from any thread reuse keep-alive connections (HTTP/2 where
 * the server offers it). One request goes through reg_do(): credentials,
 * redirects followed by hand (so credentials are attached only to the
 * registry's own origin), and retries with backoff.
 */
#include "compat.h"
#include "registry-int.h"
#include "alloc.h"
#include "buf.h"
#include "digest.h"
#include "error.h"
#include "fileio.h"
#include "kiln-version.h"
#include "log.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <time.h>

#define MAX_REDIRECTS	  10
#define MAX_RETRY_AFTER_S 60
#define MAX_BACKOFF_MS	  30000
/* The system CA bundle is read once into memory; no bundle is this big. */
#define CA_BUNDLE_MAX (16u << 20)

int registry_global_init(struct kiln_error *err)
{
	CURLcode rc;

	if (kiln_crypto_init(err) < 0) /* before curl can load openssl.cnf */
		return err ? err->code : KILN_EIO;
	rc = curl_global_init(CURL_GLOBAL_DEFAULT);
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

/* ------------------------------------------------------------ options */

void registry_options_init(struct registry_options *o)
{
	memset(o, 0, sizeof(*o));
	o->parallel = 4;
	o->retries = 3;
	o->backoff_ms = 500;
	o->connect_timeout_s = 30;
	o->low_speed_timeout_s = 60;
	o->chunk_size = 32u << 20;
	o->progress_interval_ms = 5000;
}

void registry_options_release(struct registry_options *o)
{
	kiln_strvec_clear(&o->skip_tls_verify_registries);
	kiln_strvec_clear(&o->insecure_registries);
	kiln_strvec_clear(&o->certificates);
	kiln_strvec_clear(&o->client_certs);
	kiln_strvec_clear(&o->mirrors);
	kiln_strvec_clear(&o->registry_maps);
}

static void strvec_copy(struct kiln_strvec *out, const struct kiln_strvec *in)
{
	for (size_t i = 0; i < in->nr; i++)
		kiln_strvec_push(out, in->v[i]);
}

/* ------------------------------------------------------------- client */

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *ctx)
{
	struct registry_client *c = ctx;

	(void)h;
	(void)access;
	pthread_mutex_lock(&c->share_locks[(size_t)data % KILN_ARRAY_SIZE(c->share_locks)]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *ctx)
{
	struct registry_client *c = ctx;

	(void)h;
	pthread_mutex_unlock(&c->share_locks[(size_t)data % KILN_ARRAY_SIZE(c->share_locks)]);
}

/*
 * The system CA bundle, read now: once the base image is unpacked over "/",
 * /etc/ssl belongs to the image, and kiln must not start trusting its CAs.
 */
static int load_system_ca(struct registry_client *c, struct kiln_error *err)
{
	static const char *const paths[] = {
		"/kiln/ssl/certs/ca-certificates.crt",
		"/etc/ssl/certs/ca-certificates.crt",
		"/etc/pki/tls/certs/ca-bundle.crt",
		"/etc/ssl/cert.pem",
	};
	const char *env = getenv("SSL_CERT_FILE");

	if (c->o.ca_bundle)
		return kiln_file_read(&c->system_ca, c->o.ca_bundle, CA_BUNDLE_MAX, err);
	if (env && *env)
		return kiln_file_read(&c->system_ca, env, CA_BUNDLE_MAX, err);
	for (size_t i = 0; i < KILN_ARRAY_SIZE(paths); i++) {
		if (access(paths[i], R_OK) == 0)
			return kiln_file_read(&c->system_ca, paths[i], CA_BUNDLE_MAX, err);
	}
	return 0; /* libcurl's built-in default, whatever that finds */
}

int registry_client_new(struct registry_client **out, const struct registry_options *o,
			struct kiln_error *err)
{
	struct registry_client *c = xcalloc(1, sizeof(*c));
	CURLSH *sh;
	int ret;

	c->o = *o;
	c->o.skip_tls_verify_registries = (struct kiln_strvec)KILN_STRVEC_INIT;
	c->o.insecure_registries = (struct kiln_strvec)KILN_STRVEC_INIT;
	c->o.certificates = (struct kiln_strvec)KILN_STRVEC_INIT;
	c->o.client_certs = (struct kiln_strvec)KILN_STRVEC_INIT;
	c->o.mirrors = (struct kiln_strvec)KILN_STRVEC_INIT;
	c->o.registry_maps = (struct kiln_strvec)KILN_STRVEC_INIT;
	strvec_copy(&c->o.mirrors, &o->mirrors);
	strvec_copy(&c->o.registry_maps, &o->registry_maps);
	strvec_copy(&c->o.skip_tls_verify_registries, &o->skip_tls_verify_registries);
	strvec_copy(&c->o.insecure_registries, &o->insecure_registries);
	strvec_copy(&c->o.certificates, &o->certificates);
	strvec_copy(&c->o.client_certs, &o->client_certs);
	/* Borrowed strings are not kept: the platform is copied, the files
	 * are read now. */
	c->platform = o->platform ? xstrdup(o->platform) : NULL;
	c->o.platform = c->platform;
	c->o.docker_config = NULL;
	if (!c->o.parallel)
		c->o.parallel = 1;
	if (!c->o.chunk_size)
		c->o.chunk_size = 32u << 20;
	c->system_ca = (struct kiln_buf)KILN_BUF_INIT;
	pthread_mutex_init(&c->lock, NULL);
	pthread_mutex_init(&c->host_lock, NULL);
	for (size_t i = 0; i < KILN_ARRAY_SIZE(c->share_locks); i++)
		pthread_mutex_init(&c->share_locks[i], NULL);
	c->share = sh = curl_share_init();
	if (!sh) {
		ret = kiln_err(err, KILN_ENET, 0, "initialise a libcurl share handle");
		goto fail;
	}
	curl_share_setopt(sh, CURLSHOPT_LOCKFUNC, share_lock);
	curl_share_setopt(sh, CURLSHOPT_UNLOCKFUNC, share_unlock);
	curl_share_setopt(sh, CURLSHOPT_USERDATA, c);
	curl_share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	curl_share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
	if ((ret = reg_mirrors_check(o, err)) < 0 || (ret = load_system_ca(c, err)) < 0 ||
	    (ret = reg_auth_config_load(&c->auth, o->docker_config, err)) < 0)
		goto fail;
	c->o.ca_bundle = NULL;
	*out = c;
	return 0;
fail:
	registry_client_free(c);
	return ret;
}

static void host_free(struct reg_host *h)
{
	free(h->domain);
	free(h->api_host);
	free(h->base);
	kiln_buf_release(&h->ca);
	kiln_buf_release(&h->cert);
	kiln_buf_release(&h->key);
	free(h->realm);
	free(h->service);
	reg_creds_release(&h->creds);
	reg_host_forget_tokens(h);
	free(h);
}

void registry_client_free(struct registry_client *c)
{
	if (!c)
		return;
	while (c->hosts) {
		struct reg_host *h = c->hosts;

		c->hosts = h->next;
		host_free(h);
	}
	for (size_t i = 0; i < c->pool_nr; i++)
		curl_easy_cleanup(c->pool[i]);
	free(c->pool);
	if (c->share)
		curl_share_cleanup(c->share);
	for (size_t i = 0; i < KILN_ARRAY_SIZE(c->share_locks); i++)
		pthread_mutex_destroy(&c->share_locks[i]);
	pthread_mutex_destroy(&c->lock);
	pthread_mutex_destroy(&c->host_lock);
	reg_auth_config_free(c->auth);
	reg_sources_free(c);
	kiln_buf_release(&c->system_ca);
	registry_options_release(&c->o);
	free(c->platform);
	free(c);
}

/* ------------------------------------------------------------- handles */

static CURL *handle_get(struct registry_client *c)
{
	CURL *h = NULL;

	pthread_mutex_lock(&c->lock);
	if (c->pool_nr)
		h = c->pool[--c->pool_nr];
	pthread_mutex_unlock(&c->lock);
	if (!h && !(h = curl_easy_init())) {
		fprintf(stderr, "kiln: fatal: out of memory creating a libcurl handle\n");
		exit(1);
	}
	return h;
}

/* Back to the pool; curl_easy_reset keeps the handle's caches. */
static void handle_put(struct registry_client *c, CURL *h)
{
	curl_easy_reset(h);
	pthread_mutex_lock(&c->lock);
	if (c->pool_nr == c->pool_alloc) {
		c->pool_alloc = c->pool_alloc ? 2 * c->pool_alloc : 8;
		c->pool = xreallocarray(c->pool, c->pool_alloc, sizeof(*c->pool));
	}
	c->pool[c->pool_nr++] = h;
	pthread_mutex_unlock(&c->lock);
}

/* ------------------------------------------------------------ hosts */

/* "domain=value" entries of a per-registry flag; value for domain, or NULL. */
static const char *per_registry(const struct kiln_strvec *v, const char *domain)
{
	size_t n = strlen(domain);

	for (size_t i = 0; i < v->nr; i++) {
		if (!strncmp(v->v[i], domain, n) && v->v[i][n] == '=')
			return v->v[i] + n + 1;
	}
	return NULL;
}

static int host_tls_load(struct reg_host *h, struct registry_client *c, struct kiln_error *err)
{
	const char *ca = per_registry(&c->o.certificates, h->domain);
	const char *cc = per_registry(&c->o.client_certs, h->domain);

	if (ca) {
		/* Added to the system CAs, not instead of them: a registry may
		 * redirect blob downloads to a public storage host. */
		kiln_buf_addbuf(&h->ca, &c->system_ca);
		kiln_buf_addch(&h->ca, '\n');
		if (kiln_file_read(&h->ca, ca, CA_BUNDLE_MAX, err) < 0)
			return kiln_err_prefix(err, "--registry-certificate %s", h->domain);
	}
	if (cc) {
		const char *comma = strchr(cc, ',');
		char *cert = comma ? xstrndup(cc, (size_t)(comma - cc)) : NULL;
		int ret = 0;

		if (!comma)
			ret = kiln_err(err, KILN_EINVAL, 0,
				       "--registry-client-cert %s=%s: want host=cert.pem,key.pem",
				       h->domain, cc);
		else if (kiln_file_read(&h->cert, cert, 1u << 20, err) < 0 ||
			 kiln_file_read(&h->key, comma + 1, 1u << 20, err) < 0)
			ret = kiln_err_prefix(err, "--registry-client-cert %s", h->domain);
		free(cert);
		return ret;
	}
	return 0;
}

static struct reg_host *host_new(struct registry_client *c, const char *domain)
{
	struct reg_host *h = xcalloc(1, sizeof(*h));
	struct registry_ref r = { .domain = (char *)domain };

	h->domain = xstrdup(domain);
	h->api_host = xstrdup(registry_ref_api_host(&r));
	h->ca = h->cert = h->key = (struct kiln_buf)KILN_BUF_INIT;
	h->skip_verify = c->o.skip_tls_verify ||
			 kiln_strvec_contains(&c->o.skip_tls_verify_registries, domain);
	/* Plain HTTP: only when asked, or on the loopback interface where
	 * nothing leaves the machine (kaniko's library allows the same). */
	h->may_http = c->o.insecure || kiln_strvec_contains(&c->o.insecure_registries, domain) ||
		      registry_host_is_loopback(domain);
	return h;
}

/* ------------------------------------------------------------- URLs */

void reg_url(struct kiln_buf *out, const struct reg_host *h, const char *path, const char *fmt, ...)
{
	va_list ap;

	kiln_buf_addf(out, "%s/v2/%s/", h->base, path);
	va_start(ap, fmt);
	kiln_buf_vaddf(out, fmt, ap);
	va_end(ap);
}

int reg_url_resolve(struct kiln_buf *out, const char *base, const char *location,
		    struct kiln_error *err)
{
	CURLU *u = curl_url();
	char *s = NULL;
	int ret = 0;

	if (!u || curl_url_set(u, CURLUPART_URL, base, 0) != CURLUE_OK ||
	    curl_url_set(u, CURLUPART_URL, location, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_URL, &s, 0) != CURLUE_OK)
		ret = kiln_err(err, KILN_EINVAL, 0, "bad Location '%.200s' in an answer to '%s'",
			       location, base);
	else
		kiln_buf_addstr(out, s);
	curl_free(s);
	curl_url_cleanup(u);
	return ret;
}

/* Credentials belong to the registry's scheme://host:port and nothing else:
 * a redirect to a blob storage host gets no Authorization header. */
bool reg_same_origin(const struct reg_host *h, const char *url)
{
	size_t n;

	if (!h || !h->base)
		return false;
	n = strlen(h->base);
	return !strncmp(url, h->base, n) && (url[n] == '/' || url[n] == '\0' || url[n] == '?');
}

/* --------------------------------------------------------- transfers */

struct xfer {
	struct reg_request *rq;
	struct reg_response *resp;
	CURL *h;
	uint64_t up_off; /* where the request body's reader is */
	int fail;	 /* a callback's failure (code), 0 if none */
	uint64_t skip;	 /* response bytes to drop before the sink */
	bool started;	 /* the sink's first bytes have been seen */
	struct kiln_error *err;
};

static void response_reset(struct reg_response *r)
{
	kiln_buf_reset(&r->body);
	xfree(&r->location);
	xfree(&r->content_type);
	xfree(&r->digest);
	xfree(&r->www_authenticate);
	xfree(&r->content_range);
	r->status = 0;
	r->retry_after = -1;
	r->content_length = -1;
	r->last_modified = -1;
	r->retryable = false;
}

void reg_response_release(struct reg_response *r)
{
	response_reset(r);
	kiln_buf_release(&r->body);
	xfree(&r->url);
}

static void set_header(char **field, const char *v, size_t n)
{
	free(*field);
	*field = xstrndup(v, n);
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *ctx)
{
	struct xfer *x = ctx;
	size_t len = size * nmemb, name_len, vlen;
	const char *colon = memchr(data, ':', len), *v;
	char num[24];

	if (len >= 5 && !memcmp(data, "HTTP/", 5)) {
		/* A new response (after a 100 Continue): forget the old headers. */
		uint64_t delivered = x->resp->delivered;

		response_reset(x->resp);
		x->resp->delivered = delivered;
		return len;
	}
	if (!colon)
		return len;
	name_len = (size_t)(colon - data);
	for (v = colon + 1; v < data + len && (*v == ' ' || *v == '\t'); v++)
		;
	vlen = (size_t)(data + len - v);
	while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
		vlen--;
#define IS(name) (name_len == strlen(name) && !strncasecmp(data, name, name_len))
	if (IS("location"))
		set_header(&x->resp->location, v, vlen);
	else if (IS("content-type"))
		set_header(&x->resp->content_type, v, vlen);
	else if (IS("docker-content-digest"))
		set_header(&x->resp->digest, v, vlen);
	else if (IS("www-authenticate") && !x->resp->www_authenticate)
		set_header(&x->resp->www_authenticate, v, vlen);
	else if (IS("content-range"))
		set_header(&x->resp->content_range, v, vlen);
	else if (IS("last-modified") && vlen && vlen < 64) {
		char date[64];
		time_t t;

		memcpy(date, v, vlen);
		date[vlen] = '\0';
		t = curl_getdate(date, NULL);
		x->resp->last_modified = t < 0 ? -1 : (int64_t)t;
	} else if ((IS("retry-after") || IS("content-length")) && vlen && vlen < sizeof(num)) {
		char *end;
		long long n;

		memcpy(num, v, vlen);
		num[vlen] = '\0';
		n = strtoll(num, &end, 10);
		if (*end == '\0' && n >= 0) {
			if (IS("retry-after"))
				x->resp->retry_after =
					n > MAX_RETRY_AFTER_S ? MAX_RETRY_AFTER_S : (long)n;
			else
				x->resp->content_length = n;
		}
	}
#undef IS
	return len;
}

/* A 2xx body for the sink; a Range request answered in full (200) has its
 * already-delivered head dropped, so the sink sees each byte once. */
static size_t body_to_sink(struct xfer *x, long status, char *data, size_t len)
{
	size_t total = len;
	int ret;

	if (!x->started) {
		unsigned long long from = 0;

		x->started = true;
		if (status == 200 && x->rq->range &&
		    sscanf(x->rq->range, "bytes=%llu-", &from) == 1)
			x->skip = from;
	}
	if (x->skip) {
		size_t n = len < x->skip ? len : (size_t)x->skip;

		x->skip -= n;
		data += n;
		len -= n;
		if (!len)
			return total;
	}
	if ((ret = x->rq->sink(x->rq->sink_ctx, data, len, x->err)) < 0) {
		x->fail = ret;
		return 0; /* stops the transfer */
	}
	x->resp->delivered += len;
	return total;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ctx)
{
	struct xfer *x = ctx;
	size_t len = size * nmemb;
	long status = 0;

	curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &status);
	if (status >= 300 && status < 400)
		return len; /* a redirect's body: nobody reads it */
	if (status >= 200 && status < 300 && x->rq->sink)
		return body_to_sink(x, status, data, len);
	if (status >= 200 && status < 300) {
		int ret = kiln_buf_add_capped(&x->resp->body, data, len, x->rq->body_cap,
					      "an answer from the registry", x->err);

		if (ret < 0) {
			x->fail = ret;
			return 0;
		}
		return len;
	}
	/* An error's body is only for the message: keep the start of it. */
	if (x->resp->body.len < REG_SMALL_BODY_MAX)
		kiln_buf_add(&x->resp->body, data,
			     len < REG_SMALL_BODY_MAX - x->resp->body.len
				     ? len
				     : REG_SMALL_BODY_MAX - x->resp->body.len);
	return len;
}

static uint64_t body_len(const struct reg_request *rq)
{
	return rq->src ? rq->src_len : rq->body_len;
}

static size_t on_read(char *buf, size_t size, size_t nmemb, void *ctx)
{
	struct xfer *x = ctx;
	uint64_t left = body_len(x->rq) - x->up_off;
	size_t n = size * nmemb < left ? size * nmemb : (size_t)left;

	if (!n)
		return 0;
	if (x->rq->src) {
		struct registry_blob_source *s = x->rq->src;
		int ret = s->read_at(s->ctx, buf, n, x->rq->src_off + x->up_off, x->err);

		if (ret < 0) {
			x->fail = ret;
			return CURL_READFUNC_ABORT;
		}
		if (x->rq->progress)
			reg_progress_update(x->rq->progress, x->rq->src_off + x->up_off + n);
	} else {
		memcpy(buf, (const char *)x->rq->body + x->up_off, n);
	}
	x->up_off += n;
	return n;
}

/* libcurl rewinds the body when it must send it again (a reused
 * connection that closed, HTTP/2 stream refusal). */
static int on_seek(void *ctx, curl_off_t off, int origin)
{
	struct xfer *x = ctx;

	if (origin != SEEK_SET || off < 0 || (uint64_t)off > body_len(x->rq))
		return CURL_SEEKFUNC_CANTSEEK;
	x->up_off = (uint64_t)off;
	return CURL_SEEKFUNC_OK;
}

static bool curl_retryable(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_SSL_CONNECT_ERROR:
		return true;
	default:
		return false;
	}
}

static void set_tls(CURL *h, const struct registry_client *c, const struct reg_host *host)
{
	const struct kiln_buf *ca = host && host->ca.len ? &host->ca : &c->system_ca;

	if (ca->len) {
		struct curl_blob b = { ca->buf, ca->len, CURL_BLOB_NOCOPY };

		curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &b);
	}
	if (host && host->cert.len) {
		struct curl_blob cert = { host->cert.buf, host->cert.len, CURL_BLOB_NOCOPY };
		struct curl_blob key = { host->key.buf, host->key.len, CURL_BLOB_NOCOPY };

		curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &cert);
		curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &key);
	}
	if (c->o.skip_tls_verify || (host && host->skip_verify)) {
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	}
}

static struct curl_slist *request_headers(const struct reg_request *rq, const char *auth)
{
	struct curl_slist *l = NULL;
	struct kiln_buf b = KILN_BUF_INIT;
	const char *names[] = { "Accept", "Content-Type", "Range", "Content-Range" };
	const char *values[] = { rq->accept, rq->content_type, rq->range, rq->content_range };

	if (auth) {
		kiln_buf_addf(&b, "Authorization: %s", auth);
		l = curl_slist_append(l, b.buf);
	}
	for (size_t i = 0; i < KILN_ARRAY_SIZE(names); i++) {
		if (!values[i])
			continue;
		kiln_buf_reset(&b);
		kiln_buf_addf(&b, "%s: %s", names[i], values[i]);
		l = curl_slist_append(l, b.buf);
	}
	/* No "Expect: 100-continue" round trip before each upload. */
	l = curl_slist_append(l, "Expect:");
	kiln_buf_release(&b);
	return l;
}

static void set_method(CURL *h, const struct reg_request *rq)
{
	bool has_body = rq->src || rq->body;
	curl_off_t n = (curl_off_t)body_len(rq);

	if (!strcmp(rq->method, "HEAD")) {
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	} else if (!strcmp(rq->method, "POST")) {
		curl_easy_setopt(h, CURLOPT_POST, 1L);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, has_body ? n : (curl_off_t)0);
	} else if (!strcmp(rq->method, "PUT") || !strcmp(rq->method, "PATCH")) {
		curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, has_body ? n : (curl_off_t)0);
		if (!strcmp(rq->method, "PATCH"))
			curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "PATCH");
	} else if (!strcmp(rq->method, "DELETE")) {
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "DELETE");
	} else {
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	}
}

/* One HTTP exchange, no redirects, no retries. */
static int perform(struct reg_response *resp, struct registry_client *c, struct reg_request *rq,
		   const char *url, const char *auth, struct kiln_error *err)
{
	CURL *h = handle_get(c);
	struct xfer x = { .rq = rq, .resp = resp, .h = h, .err = err };
	struct curl_slist *hdrs = request_headers(rq, auth);
	char detail[CURL_ERROR_SIZE] = "";
	CURLcode rc;
	int ret = 0;

	response_reset(resp);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_USERAGENT, registry_user_agent());
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_SHARE, (CURLSH *)c->share);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, detail);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, c->o.connect_timeout_s);
	/* A stalled transfer is cut after low_speed_timeout_s below 1 KiB/s. */
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1024L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, c->o.low_speed_timeout_s);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, &x);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &x);
	curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
	curl_easy_setopt(h, CURLOPT_READDATA, &x);
	curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, on_seek);
	curl_easy_setopt(h, CURLOPT_SEEKDATA, &x);
	set_method(h, rq);
	set_tls(h, c, rq->host);
	kiln_trace("registry", "%s %s", rq->method, url);
	rc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
	if (x.fail) {
		ret = x.fail;
	} else if (rc != CURLE_OK) {
		resp->retryable = curl_retryable(rc);
		/* Without the query: upload URLs carry long opaque state there. */
		ret = kiln_err(err, KILN_ENET, 0, "%s '%.*s': %s", rq->method,
			       (int)strcspn(url, "?"), url,
			       detail[0] ? detail : curl_easy_strerror(rc));
		if (rc == CURLE_PEER_FAILED_VERIFICATION)
			kiln_err_hint(err, "trust its CA with --registry-certificate, or use "
					   "--skip-tls-verify-registry");
	} else {
		char *redirect = NULL;

		curl_easy_getinfo(h, CURLINFO_REDIRECT_URL, &redirect);
		free(resp->url);
		/* For 3xx the next URL, resolved by libcurl; else the one answering. */
		resp->url = xstrdup(redirect ? redirect : url);
	}
	kiln_trace("registry", "%s %s -> %ld", rq->method, url, resp->status);
	curl_slist_free_all(hdrs);
	handle_put(c, h);
	return ret;
}

static bool is_redirect(long status)
{
	return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

/* One request with its redirects and one round of authentication. */
static int do_once(struct reg_response *resp, struct registry_client *c, struct reg_request *rq,
		   struct kiln_error *err)
{
	char *url = xstrdup(rq->url), *auth = NULL;
	bool challenged = false;
	int hops = 0, ret;

	for (;;) {
		bool same = !rq->no_auth && reg_same_origin(rq->host, url);

		xfree(&auth);
		if (rq->no_auth && rq->auth_header && hops == 0)
			auth = xstrdup(rq->auth_header);
		else if (same && (ret = reg_auth_header(&auth, c, rq->host, rq->scope, err)) < 0)
			break;
		if ((ret = perform(resp, c, rq, url, auth, err)) < 0)
			break;
		if (resp->status == 401 && same && !challenged &&
		    reg_auth_challenge(c, rq->host, rq->scope, resp->www_authenticate, auth != NULL,
				       err) == 0) {
			challenged = true;
			continue;
		}
		if (!is_redirect(resp->status) || !resp->url || !strcmp(resp->url, url))
			break;
		if (++hops > MAX_REDIRECTS) {
			ret = kiln_err(err, KILN_ENET, 0, "%s '%s': more than %d redirects",
				       rq->method, rq->url, MAX_REDIRECTS);
			break;
		}
		free(url);
		url = xstrdup(resp->url);
	}
	free(url);
	free(auth);
	return ret;
}

void reg_backoff(const struct registry_client *c, unsigned attempt, long retry_after)
{
	struct timespec now, ts;
	uint64_t ms;
	unsigned seed;

	if (retry_after >= 0) {
		ms = (uint64_t)retry_after * 1000;
	} else {
		ms = (uint64_t)c->o.backoff_ms << (attempt < 16 ? attempt : 16);
		if (ms > MAX_BACKOFF_MS)
			ms = MAX_BACKOFF_MS;
		/* Jitter in [ms/2, ms]: builders retrying together spread out. */
		clock_gettime(CLOCK_MONOTONIC, &now);
		seed = (unsigned)now.tv_nsec ^ (unsigned)getpid();
		ms = ms / 2 + (ms / 2 ? (uint64_t)rand_r(&seed) % (ms / 2 + 1) : 0);
	}
	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int reg_err_move(struct kiln_error *dst, struct kiln_error *src, int ret)
{
	if (ret < 0)
		kiln_err(dst, ret, src->sys_errno, "%s", kiln_error_msg(src));
	kiln_error_release(src);
	return ret;
}

int reg_do(struct reg_response *resp, struct registry_client *c, struct reg_request *rq,
	   struct kiln_error *err)
{
	struct kiln_error e = KILN_ERROR_INIT;
	int ret;

	if (!rq->body_cap)
		rq->body_cap = REG_SMALL_BODY_MAX;
	resp->delivered = 0;
	for (unsigned attempt = 0;; attempt++) {
		ret = do_once(resp, c, rq, &e);
		if (ret == 0 && (resp->status == 429 || resp->status >= 500))
			resp->retryable = true;
		else if (ret == 0)
			break;
		if (!resp->retryable || rq->no_retry || resp->delivered || attempt >= c->o.retries)
			break;
		if (ret == 0)
			kiln_info("%s %s: HTTP %ld, retrying (%u of %u)", rq->method, rq->url,
				  resp->status, attempt + 1, c->o.retries);
		else
			kiln_info("%s, retrying (%u of %u)", kiln_error_msg(&e), attempt + 1,
				  c->o.retries);
		reg_backoff(c, attempt, resp->retry_after);
	}
	return reg_err_move(err, &e, ret);
}

/* ------------------------------------------------------------ errors */

const char *reg_status_word(long status)
{
	switch (status) {
	case 400:
		return "bad request";
	case 401:
		return "unauthorized";
	case 403:
		return "denied";
	case 404:
		return "not found";
	case 405:
		return "method not allowed";
	case 413:
		return "too large";
	case 429:
		return "too many requests";
	default:
		return status >= 500 ? "server error" : "unexpected answer";
	}
}

void reg_errors_describe(struct kiln_buf *out, const struct kiln_buf *body)
{
	cJSON *root = cJSON_ParseWithLength(body->buf, body->len), *e;

	cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(root, "errors"))
	{
		const cJSON *code = cJSON_GetObjectItemCaseSensitive(e, "code");
		const cJSON *msg = cJSON_GetObjectItemCaseSensitive(e, "message");

		if (out->len > 512)
			break;
		kiln_buf_addstr(out, out->len ? "; " : ": ");
		if (cJSON_IsString(code))
			kiln_buf_addf(out, "%.64s", code->valuestring);
		if (cJSON_IsString(msg))
			kiln_buf_addf(out, "%s%.200s", cJSON_IsString(code) ? ": " : "",
				      msg->valuestring);
	}
	cJSON_Delete(root);
}

int reg_status_err(const struct reg_response *r, const struct reg_request *rq,
		   struct kiln_error *err)
{
	struct kiln_buf what = KILN_BUF_INIT;
	const char *path = strstr(rq->url, "/v2/");
	int code = r->status == 401 || r->status == 403	  ? KILN_EAUTH
		   : r->status == 404			  ? KILN_ENOENT
		   : r->status == 429 || r->status >= 500 ? KILN_ENET
							  : KILN_EINVAL;
	size_t plen = path ? strcspn(path, "?") : 0;

	reg_errors_describe(&what, &r->body);
	kiln_err(err, code, 0, "registry '%s' answered %s %.*s with HTTP %ld %s%s",
		 rq->host ? rq->host->domain : "?", rq->method, (int)(plen > 200 ? 200 : plen),
		 path ? path : "", r->status, reg_status_word(r->status), what.buf);
	if (r->status == 401 || r->status == 403)
		kiln_err_hint(err,
			      "check the credentials for '%s' (config.json, credential helper)",
			      rq->host ? rq->host->domain : "?");
	kiln_buf_release(&what);
	return code;
}

/* ------------------------------------------------------------ ping */

/* GET base/v2/: is the registry there, and how does it want credentials? */
static int ping(struct registry_client *c, struct reg_host *h, const char *scheme, bool retry,
		struct kiln_error *err)
{
	struct reg_response resp = REG_RESPONSE_INIT;
	struct kiln_buf url = KILN_BUF_INIT;
	struct reg_request rq = { .method = "GET", .host = h, .no_auth = true, .no_retry = !retry };
	int ret;

	kiln_buf_addf(&url, "%s://%s/v2/", scheme, h->api_host);
	rq.url = url.buf;
	if ((ret = reg_do(&resp, c, &rq, err)) < 0)
		goto out;
	if (resp.status == 200) {
		h->auth = REG_AUTH_NONE;
	} else if (resp.status == 401 && resp.www_authenticate) {
		if (reg_parse_challenge(&h->auth, &h->realm, &h->service, resp.www_authenticate) <
		    0)
			h->auth = REG_AUTH_UNKNOWN;
	} else {
		ret = reg_status_err(&resp, &rq, err);
		goto out;
	}
	h->base = xasprintf("%s://%s", scheme, h->api_host);
out:
	reg_response_release(&resp);
	kiln_buf_release(&url);
	return ret;
}

/*
 * HTTPS first. Plain HTTP only where allowed, and only if something
 * answering like a registry is there (Go's TLS port answers plain HTTP
 * with 400). Where HTTP is allowed, a failed TLS handshake is not retried:
 * it usually means the registry speaks plain HTTP.
 */
static int host_connect(struct registry_client *c, struct reg_host *h, struct kiln_error *err)
{
	struct kiln_error tls_err = KILN_ERROR_INIT, plain = KILN_ERROR_INIT;
	int ret;

	if (!h->may_http) {
		ret = ping(c, h, "https", true, err);
		if (ret == KILN_ENET)
			kiln_err_hint(err, "for a plain-HTTP registry use --insecure-registry %s",
				      h->domain);
		return ret;
	}
	ret = ping(c, h, "https", false, &tls_err);
	if (ret == KILN_ENET) {
		if (ping(c, h, "http", true, &plain) == 0) {
			kiln_debug("registry '%s': using plain HTTP", h->domain);
			ret = 0;
		}
	}
	if (ret < 0)
		kiln_err(err, ret, 0, "%s", kiln_error_msg(&tls_err));
	kiln_error_release(&tls_err);
	kiln_error_release(&plain);
	return ret;
}

int reg_host_get(struct reg_host **out, struct registry_client *c, const char *domain,
		 struct kiln_error *err)
{
	struct reg_host *h;
	int ret = 0;

	pthread_mutex_lock(&c->host_lock);
	for (h = c->hosts; h; h = h->next) {
		if (!strcmp(h->domain, domain))
			break;
	}
	if (!h) {
		h = host_new(c, domain);
		if ((ret = host_tls_load(h, c, err)) < 0) {
			host_free(h);
			goto out;
		}
		pthread_mutex_lock(&c->lock);
		h->next = c->hosts;
		c->hosts = h;
		pthread_mutex_unlock(&c->lock);
	}
	if (!h->base && (ret = host_connect(c, h, err)) < 0)
		goto out;
	*out = h;
out:
	pthread_mutex_unlock(&c->host_lock);
	return ret;
}
