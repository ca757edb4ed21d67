/*
 * registry.h: the registry client's public interface.
 *
 * registry/ speaks the OCI distribution API over libcurl and is kiln's only
 * network code. It knows nothing about Dockerfiles and uses only lib/util:
 * manifests travel as bytes + media type + digest, and lib/image parses
 * them. Everything it reads from the network has a size cap, every blob
 * byte is checked against its digest, and no secret reaches a log line
 * (each password and token is registered with kiln_log_add_secret()).
 *
 * The parts:
 *   references  registry_ref_parse(): "alpine" -> docker.io/library/alpine:latest
 *   client      registry_client_new(): TLS and auth settings, loaded once,
 *               *before* the base image is unpacked over "/" (CA bundle,
 *               client certificates, config.json, credential helpers)
 *   manifests   registry_manifest_get()/_put(), with platform selection
 *   blobs       registry_blob_get() streams verified bytes to a callback;
 *               registry_blob_push()/registry_blobs_push() upload (HEAD
 *               first, cross-repository mount, monolithic or chunked)
 *   downloads   registry_download(): one verified HTTP(S) GET for what a
 *               build fetches elsewhere (ADD https://..., https contexts)
 *
 * Requests are retried on 429 (honouring Retry-After), 5xx and connection
 * errors with exponential backoff and jitter; other 4xx answers fail at once
 * with the registry's errors[].code/message in the message. Credentials go
 * only to the registry they belong to (and to the token realm it names),
 * never along a redirect to another host.
 *
 * A build uses two clients when pull and push TLS flags differ
 * (--skip-tls-verify-pull, --insecure-pull): one per direction.
 *
 * Typical use:
 *	struct registry_options o;
 *	struct registry_client *c = NULL;
 *	struct registry_ref ref = REGISTRY_REF_INIT;
 *	struct registry_manifest m = REGISTRY_MANIFEST_INIT;
 *
 *	registry_global_init(err);
 *	registry_options_init(&o);
 *	o.platform = "linux/amd64";
 *	if (registry_client_new(&c, &o, err) < 0 ||
 *	    registry_ref_parse(&ref, "alpine:3.19", err) < 0 ||
 *	    registry_manifest_get(&m, c, &ref, o.platform, err) < 0)
 *		goto out;
 *	// lib/image parses m.data; then for each layer:
 *	registry_blob_get(c, &ref, &layer_digest, layer_size, extract_cb, ctx, err);
 *	...
 *	registry_manifest_release(&m);
 *	registry_ref_release(&ref);
 *	registry_client_free(c);
 *	registry_global_cleanup();
 */
#ifndef KILN_REGISTRY_H
#define KILN_REGISTRY_H

#include "compat.h"
#include "digest.h"
#include "strvec.h"

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

/* ------------------------------------------------------------ references */

/*
 * A parsed image reference, normalised as Docker does:
 *	alpine                   -> docker.io / library/alpine : latest
 *	index.docker.io/foo/bar  -> docker.io / foo/bar : latest
 *	localhost:5000/a@sha256:…-> localhost:5000 / a @ sha256:…
 * A first component is a registry host when it holds '.' or ':', is
 * "localhost", or has an uppercase letter (Docker's rule).
 */
struct registry_ref {
	char *domain; /* "docker.io", "ghcr.io", "127.0.0.1:5000", "[::1]:5000" */
	char *path;   /* "library/alpine": lowercase components joined by '/' */
	char *tag;    /* "latest" by default; NULL when only a digest was given */
	char *digest; /* "sha256:<64 hex>" or NULL */
};

#define REGISTRY_REF_INIT              \
	{                              \
		NULL, NULL, NULL, NULL \
	}

#define REGISTRY_TAG_MAX  128 /* Docker's limit */
#define REGISTRY_NAME_MAX 255 /* domain/path, Docker's limit */

/* Parse and normalise s; errors name s and the rule it breaks. */
int registry_ref_parse(struct registry_ref *out, const char *s, struct kiln_error *err);
void registry_ref_release(struct registry_ref *ref);
void registry_ref_copy(struct registry_ref *out, const struct registry_ref *ref);
/* "domain/path" (the repository, without tag or digest). */
void registry_ref_name(struct kiln_buf *out, const struct registry_ref *ref);
/* "domain/path[:tag][@digest]": the normalised reference. */
void registry_ref_format(struct kiln_buf *out, const struct registry_ref *ref);
/* The host the API lives on: "registry-1.docker.io" for docker.io, else domain. */
const char *registry_ref_api_host(const struct registry_ref *ref);
/* True for localhost, 127.0.0.0/8 and ::1 (with or without a port): these
 * may be reached over plain HTTP without --insecure, as kaniko allows. */
bool registry_host_is_loopback(const char *domain);

/* ---------------------------------------------------------------- client */

struct registry_options {
	const char *platform;	  /* "os/arch[/variant]", NULL: the host's linux/<arch> */
	unsigned parallel;	  /* blob transfers at once (default 4) */
	unsigned retries;	  /* extra attempts after a retryable failure (default 3) */
	unsigned backoff_ms;	  /* first retry delay, doubled each time (default 500) */
	long connect_timeout_s;	  /* default 30 */
	long low_speed_timeout_s; /* abort below 1 KiB/s for this long (default 60) */
	size_t chunk_size;    /* blobs above this are uploaded in PATCH chunks (default 32 MiB) */
	bool skip_tls_verify; /* every registry: --skip-tls-verify(-pull) */
	bool insecure;	      /* every registry may use plain HTTP: --insecure(-pull) */
	struct kiln_strvec skip_tls_verify_registries; /* host[:port] */
	struct kiln_strvec insecure_registries;	       /* host[:port] */
	struct kiln_strvec certificates;	       /* "host[:port]=ca.pem" */
	struct kiln_strvec client_certs;	       /* "host[:port]=cert.pem,key.pem" */
	const char *docker_config; /* a config.json path; NULL: the usual search */
	const char *ca_bundle;	   /* system CAs; NULL: $SSL_CERT_FILE or the distro bundle */
	/* Pulls only: where else to look first, tried in order, then the
	 * reference's own registry unless skip_default_fallback. */
	struct kiln_strvec mirrors;	  /* --registry-mirror "host[/prefix]": Docker Hub's */
	struct kiln_strvec registry_maps; /* --registry-map "orig=host[/prefix][;orig2=...]" */
	bool skip_default_fallback;	  /* --skip-default-registry-fallback */
	unsigned progress_interval_ms;	  /* per-blob progress lines at most this often (5000) */
};

/* Defaults; the caller owns the strvecs (registry_options_release). */
void registry_options_init(struct registry_options *o);
void registry_options_release(struct registry_options *o);

struct registry_client;

/*
 * Load everything TLS and auth need: the CA bundle, per-registry CA files
 * and client certificates (into memory), config.json, and an open handle on
 * each credential helper it names (found in kiln's own directory or on
 * $PATH now, so that nothing a base image or a RUN step puts on PATH later
 * is ever run). Call it before the base image is unpacked over "/".
 */
int registry_client_new(struct registry_client **out, const struct registry_options *o,
			struct kiln_error *err);
void registry_client_free(struct registry_client *c);

/* ------------------------------------------------------------- manifests */

#define REGISTRY_MT_OCI_MANIFEST    "application/vnd.oci.image.manifest.v1+json"
#define REGISTRY_MT_OCI_INDEX	    "application/vnd.oci.image.index.v1+json"
#define REGISTRY_MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define REGISTRY_MT_DOCKER_LIST	    "application/vnd.docker.distribution.manifest.list.v2+json"
/* Manifests and indexes above this are refused (the distribution spec's
 * recommended limit; a hostile registry must not make kiln allocate more). */
#define REGISTRY_MANIFEST_MAX (4u << 20)

struct registry_manifest {
	char *media_type; /* from the document, else Content-Type */
	char *data;	  /* the exact bytes (their sha256 is digest) */
	size_t len;
	struct kiln_digest digest;	 /* sha256 of data */
	struct kiln_digest index_digest; /* the index it was selected from */
	bool from_index;		 /* index_digest is set */
};

#define REGISTRY_MANIFEST_INIT     \
	{                          \
		.media_type = NULL \
	}

void registry_manifest_release(struct registry_manifest *m);
bool registry_media_type_is_index(const char *media_type);

/*
 * GET ref's manifest (by digest when ref has one: then the bytes must hash
 * to it). If it is an index and platform is not NULL, the manifest for
 * platform ("os/arch[/variant]") is fetched (and verified) instead; no match
 * fails with the list of platforms present.
 */
int registry_manifest_get(struct registry_manifest *out, struct registry_client *c,
			  const struct registry_ref *ref, const char *platform,
			  struct kiln_error *err);

/*
 * With mirrors (registry_options.mirrors, .registry_maps), both the manifest
 * and the blobs of a pull come from the first place that has the manifest;
 * callers keep passing the reference as the user wrote it.
 */

/* PUT a manifest under ref's tag (or digest). *out (may be NULL) gets its digest. */
int registry_manifest_put(struct kiln_digest *out, struct registry_client *c,
			  const struct registry_ref *ref, const char *media_type, const void *data,
			  size_t len, struct kiln_error *err);

/* ----------------------------------------------------------------- blobs */

/*
 * Receives a blob's bytes as they arrive. The bytes are hashed as they
 * pass; they are verified only when registry_blob_get() returns 0, so a
 * consumer must treat what it got as tentative until then (the extractor
 * unpacks into a place it discards on failure). Return <0 to stop.
 */
typedef int (*registry_blob_sink)(void *ctx, const void *data, size_t len, struct kiln_error *err);

/*
 * Stream blob d of ref's repository to sink. size is the descriptor's size
 * (-1 if unknown): more or fewer bytes, or another sha256, is EDIGEST. An
 * interrupted transfer resumes with a Range request, so the sink sees each
 * byte once.
 */
int registry_blob_get(struct registry_client *c, const struct registry_ref *ref,
		      const struct kiln_digest *d, int64_t size, registry_blob_sink sink, void *ctx,
		      struct kiln_error *err);

/* HEAD the blob: *exists is false on 404. */
int registry_blob_exists(bool *exists, struct registry_client *c, const struct registry_ref *ref,
			 const struct kiln_digest *d, struct kiln_error *err);

/* Where a blob to push comes from: read_at is called for any range, any
 * number of times (retries and chunks re-read), possibly from worker
 * threads (one blob is only ever read by one thread at a time). */
struct registry_blob_source {
	struct kiln_digest digest;
	uint64_t size;
	int (*read_at)(void *ctx, void *buf, size_t len, uint64_t off, struct kiln_error *err);
	void *ctx;
	/* A repository path in the same registry that already holds the blob
	 * (e.g. the base image's): a cross-repository mount is tried first. */
	const char *mount_from;
	bool skipped, mounted; /* out: it existed already / was mounted */
};

/* A source reading fd with pread (ctx is a pointer to the int fd). */
int registry_read_at_fd(void *ctx, void *buf, size_t len, uint64_t off, struct kiln_error *err);
/* A sink writing to a file (ctx is a pointer to the int fd), for pulls. */
int registry_write_fd(void *ctx, const void *data, size_t len, struct kiln_error *err);

/* Upload one blob unless the registry has it: HEAD, then mount, then a
 * monolithic PUT (size <= chunk_size) or chunked PATCHes and a final PUT. */
int registry_blob_push(struct registry_client *c, const struct registry_ref *ref,
		       struct registry_blob_source *src, struct kiln_error *err);

/*
 * A blob uploaded while it is still being written (a layer as it is
 * compressed): PATCHes of at least chunk bytes as they become available,
 * then the rest and the PUT with the digest once the blob is complete. No
 * HEAD, no mount, no retry: the caller has the finished blob for that.
 */
struct registry_blob_stream {
	/* Wait until at least want bytes exist or the blob is complete; set
	 * *avail, and *done (with *digest) once complete. Negative: the blob
	 * will not be finished; the upload is abandoned. */
	int (*wait)(void *ctx, uint64_t want, uint64_t *avail, bool *done,
		    struct kiln_digest *digest);
	int (*read_at)(void *ctx, void *buf, size_t len, uint64_t off, struct kiln_error *err);
	void *ctx;
	uint64_t chunk;
};

int registry_blob_push_stream(struct registry_client *c, const struct registry_ref *ref,
			      const struct registry_blob_stream *bs, struct kiln_error *err);

/*
 * May this client push to ref's repository? Starts an upload session and
 * cancels it (DELETE), so a missing permission fails in seconds, before a
 * long build rather than after it. EAUTH when refused.
 */
int registry_check_push(struct registry_client *c, const struct registry_ref *ref,
			struct kiln_error *err);

/* Push n blobs, up to options.parallel at once; the first failure is
 * reported (the others are still finished or abandoned cleanly). */
int registry_blobs_push(struct registry_client *c, const struct registry_ref *ref,
			struct registry_blob_source *srcs, size_t n, struct kiln_error *err);

/* ------------------------------------------------------------ downloads */

/*
 * One verified HTTP(S) download for what a build fetches besides registry
 * blobs: `ADD https://...`, https build contexts, `-f https://...`. It uses
 * the client's TLS settings (system CAs, --skip-tls-verify) but never any
 * registry credentials, proxies from the environment (http_proxy,
 * https_proxy, no_proxy, as libcurl reads them), and the client's retries
 * and backoff; an interrupted transfer resumes with Range (or the bytes
 * already passed on are skipped when the server answers in full), so the
 * sink sees each byte once.
 */
struct registry_download {
	char *url;		   /* the URL that answered, after redirects */
	int64_t last_modified;	   /* Last-Modified (seconds since the epoch), -1 if none */
	uint64_t size;		   /* bytes passed to the sink */
	struct kiln_digest digest; /* their sha256 */
};

#define REGISTRY_DOWNLOAD_INIT                   \
	{                                        \
		.url = NULL, .last_modified = -1 \
	}

void registry_download_release(struct registry_download *d);

/*
 * GET url, streaming the body to sink (as registry_blob_get does: bytes are
 * tentative until this returns 0). expect (may be NULL): the sha256 the
 * bytes must have, else EDIGEST. max_size is required: a body larger than
 * it is EINVAL, stopped as soon as it is seen (why: a URL in a Dockerfile
 * must not be able to fill the disk). 4xx answers fail at once (404 is
 * ENOENT); 429, 5xx and connection errors are retried.
 */
int registry_download(struct registry_download *out, struct registry_client *c, const char *url,
		      const struct kiln_digest *expect, uint64_t max_size, registry_blob_sink sink,
		      void *ctx, struct kiln_error *err);

#endif
