/*
 * registry-int.h: what the registry module's files share (http.c: the
 * transport; auth.c: credentials and tokens; manifest.c, blob.c: the API).
 * Not a public header: nothing outside registry/ includes it.
 */
#ifndef KILN_REGISTRY_INT_H
#define KILN_REGISTRY_INT_H

#include "compat.h"
#include "registry.h"
#include "buf.h"

#include <pthread.h>

/* Error bodies and token answers are small; a registry sending more is
 * broken or hostile. */
#define REG_SMALL_BODY_MAX (256u << 10)

struct reg_auth_config;

struct reg_creds {
	char *username, *password;
	char *identity_token; /* an OAuth2 refresh token (config.json identitytoken) */
};

struct reg_token {
	char *scope, *token;
	struct reg_token *next;
};

enum reg_auth_kind { REG_AUTH_UNKNOWN, REG_AUTH_NONE, REG_AUTH_BASIC, REG_AUTH_BEARER };

/* One registry (a domain of a reference): where it is, how to reach it,
 * how to authenticate. Guarded by the client's lock. */
struct reg_host {
	char *domain;	/* "docker.io", "127.0.0.1:5000" */
	char *api_host; /* "registry-1.docker.io" */
	char *base;	/* "https://api_host", set by the first ping */
	bool skip_verify, may_http;
	struct kiln_buf ca;	   /* PEM bundle to trust (empty: libcurl's default) */
	struct kiln_buf cert, key; /* client certificate, empty when none */
	enum reg_auth_kind auth;
	char *realm, *service;
	bool creds_loaded;
	struct reg_creds creds;
	struct reg_token *tokens;
	struct reg_host *next;
};

struct registry_client {
	struct registry_options o; /* strings and strvecs owned (deep copies) */
	char *platform;
	pthread_mutex_t lock;	   /* hosts, tokens, the handle pool */
	pthread_mutex_t host_lock; /* one first contact (ping) per host at a time */
	void *share;		   /* CURLSH: connections, DNS, TLS sessions */
	pthread_mutex_t share_locks[8];
	void **pool; /* idle CURL easy handles */
	size_t pool_nr, pool_alloc;
	struct kiln_buf system_ca;
	struct reg_auth_config *auth;
	struct reg_host *hosts;
	struct reg_source *sources; /* which mirror served each pulled repository */
};

/* ------------------------------------------------------------ progress */

/*
 * Per-blob progress for the logger: one line at most every
 * progress_interval_ms while bytes flow, and one when the blob is done
 * (INFO for blobs of 1 MiB or more, DEBUG for small ones such as configs),
 * so a 20-layer pull in CI shows a few lines per layer, never a flood.
 * One blob is moved by one thread at a time: no lock.
 */
struct reg_progress {
	const char *verb; /* "pull", "push"; NULL: not reporting */
	char id[24];	  /* "sha256:0123456789ab" */
	uint64_t total;	  /* 0: unknown */
	uint64_t done;
	uint64_t start_ms, last_ms;
	unsigned interval_ms;
};

void reg_progress_start(struct reg_progress *p, const struct registry_client *c, const char *verb,
			const struct kiln_digest *d, int64_t total);
void reg_progress_update(struct reg_progress *p, uint64_t done);
void reg_progress_end(struct reg_progress *p, bool ok);

/* ------------------------------------------------------------ requests */

struct reg_request {
	const char *method; /* GET HEAD PUT PATCH POST */
	const char *url;
	struct reg_host *host; /* TLS and credentials; credentials only to its origin */
	const char *scope;     /* bearer scope(s), space separated, or NULL */
	const char *accept, *content_type, *range, *content_range;
	const void *body; /* a request body from memory ... */
	size_t body_len;
	struct registry_blob_source *src; /* ... or from a blob source */
	uint64_t src_off, src_len;
	struct reg_progress *progress; /* told how far a blob source's upload got */
	registry_blob_sink sink;       /* 2xx response bodies go here, others to resp->body */
	void *sink_ctx;
	size_t body_cap;	 /* cap for resp->body (default REG_SMALL_BODY_MAX) */
	bool no_retry;		 /* the caller retries itself */
	bool no_auth;		 /* never attach credentials (token requests carry their own) */
	const char *auth_header; /* with no_auth: this exact Authorization value */
};

struct reg_response {
	long status;
	struct kiln_buf body;
	char *location, *content_type, *digest, *www_authenticate, *content_range;
	long retry_after; /* seconds, -1 when absent */
	int64_t content_length;
	int64_t last_modified; /* Last-Modified, seconds since the epoch; -1 when absent */
	uint64_t delivered;    /* bytes given to the sink */
	bool retryable;	       /* a failure worth another attempt (set by reg_do) */
	char *url;	       /* the URL that answered (after redirects) */
};

#define REG_RESPONSE_INIT                                                       \
	{                                                                       \
		.body = KILN_BUF_INIT, .retry_after = -1, .content_length = -1, \
		.last_modified = -1                                             \
	}

void reg_response_release(struct reg_response *r);

/* Send rq: credentials, redirects (credentials never leave the registry's
 * origin), retries on 429/5xx/connection errors unless rq->no_retry or the
 * sink already got bytes. 0 when an HTTP answer arrived (any status). */
int reg_do(struct reg_response *resp, struct registry_client *c, struct reg_request *rq,
	   struct kiln_error *err);

/* The error for an unexpected status: names the registry, the status, and
 * the registry's errors[].code/message. EAUTH for 401/403, ENOENT for
 * 404, ENET for 429/5xx, EINVAL otherwise. */
int reg_status_err(const struct reg_response *r, const struct reg_request *rq,
		   struct kiln_error *err);

/* ": CODE: message; CODE2: message2" from an error body's errors[]
 * (nothing when it has none), each part cut short. */
void reg_errors_describe(struct kiln_buf *out, const struct kiln_buf *body);
/* "unauthorized", "not found", ... for a status. */
const char *reg_status_word(long status);

/* The host entry for a domain, created (and pinged: scheme and auth kind
 * learnt) on first use. */
int reg_host_get(struct reg_host **out, struct registry_client *c, const char *domain,
		 struct kiln_error *err);

/* "<base>/v2/<path>/<rest>" */
void reg_url(struct kiln_buf *out, const struct reg_host *h, const char *path, const char *fmt, ...)
	KILN_PRINTF(4, 5);

/* Resolve a Location header against the URL it came from. */
int reg_url_resolve(struct kiln_buf *out, const char *base, const char *location,
		    struct kiln_error *err);

/* Sleep before retry number attempt (0-based): exponential with jitter, or
 * Retry-After when the server gave one (capped). */
void reg_backoff(const struct registry_client *c, unsigned attempt, long retry_after);

bool reg_same_origin(const struct reg_host *h, const char *url);

/* Retry loops try with a local error and hand only the last one on, so a
 * success after retries leaves the caller's error untouched. Returns ret. */
int reg_err_move(struct kiln_error *dst, struct kiln_error *src, int ret);

/* ------------------------------------------------------------- mirrors */

struct reg_source;

/* Where a pull of ref may come from, in order: the mirrors that apply to
 * its registry, then ref itself unless skip_default_fallback; the one that
 * served ref's repository last is moved first. Each keeps ref's tag/digest. */
struct reg_candidates {
	struct registry_ref *v;
	size_t n;
	bool has_original; /* the last one is ref itself */
};

void reg_candidates_get(struct reg_candidates *out, struct registry_client *c,
			const struct registry_ref *ref);
void reg_candidates_release(struct reg_candidates *cs);
/* Remember that src served ref's repository. */
void reg_source_remember(struct registry_client *c, const struct registry_ref *ref,
			 const struct registry_ref *src);
void reg_sources_free(struct registry_client *c);
/* Parse the mirror flags now, so a typo fails before any network use. */
int reg_mirrors_check(const struct registry_options *o, struct kiln_error *err);

/* ---------------------------------------------------------------- auth */

int reg_auth_config_load(struct reg_auth_config **out, const char *path, struct kiln_error *err);
void reg_auth_config_free(struct reg_auth_config *a);

/* The Authorization header value to send to h for scope, or NULL (anonymous
 * or not yet known). May fetch a token. Called with c->lock not held. */
int reg_auth_header(char **out, struct registry_client *c, struct reg_host *h, const char *scope,
		    struct kiln_error *err);

/* h answered 401 with this WWW-Authenticate: learn the scheme, drop a
 * stale token. 0 when retrying with fresh credentials makes sense. */
int reg_auth_challenge(struct registry_client *c, struct reg_host *h, const char *scope,
		       const char *www_authenticate, bool had_auth, struct kiln_error *err);

/* Parse a WWW-Authenticate value: scheme and the realm/service params. */
int reg_parse_challenge(enum reg_auth_kind *kind, char **realm, char **service, const char *value);

void reg_creds_release(struct reg_creds *cr);
void reg_host_forget_tokens(struct reg_host *h);

/* base64 (standard alphabet, padded) */
void reg_base64_encode(struct kiln_buf *out, const void *data, size_t len);
int reg_base64_decode(struct kiln_buf *out, const char *s);

#endif
