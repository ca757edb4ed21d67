/*
 * auth.c: who kiln is to each registry.
 *
 * Credentials come from Docker's config.json ($DOCKER_CONFIG/config.json,
 * else /kiln/.docker/config.json, else ~/.docker/config.json): `auths`
 * entries, `credHelpers` per registry and `credsStore` for the rest, the
 * helpers being `docker-credential-NAME get`. The registry's 401 answer
 * (WWW-Authenticate) says how to use them: Basic, or a Bearer token from
 * the realm it names, fetched per scope (repository:NAME:pull[,push]),
 * cached, and fetched again when a 401 says it went stale.
 *
 * Every password, auth string and token is registered with
 * kiln_log_add_secret() the moment it is read, so no log line can show it,
 * and credentials are only ever attached to their own registry's origin
 * (http.c) and to the token realm that registry names.
 */
#include "compat.h"
#include "registry-int.h"
#include "alloc.h"
#include "buf.h"
#include "error.h"
#include "fileio.h"
#include "log.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/wait.h>

#define CONFIG_MAX	(4u << 20)
#define HELPER_OUT_MAX	(64u << 10)
#define DOCKER_HUB_AUTH "https://index.docker.io/v1/"

extern char **environ;

struct auth_entry {
	char *host; /* normalised: "docker.io", "127.0.0.1:5000" */
	char *username, *password, *identity_token;
};

struct helper_entry {
	char *host;   /* normalised registry host */
	char *helper; /* NAME of docker-credential-NAME */
};

/* A helper program found at start; run only through this descriptor. */
struct helper_prog {
	char *name;
	char *path; /* for messages */
	int fd;	    /* -1: not found */
};

struct reg_auth_config {
	char *path;
	struct auth_entry *auths;
	size_t nr_auths;
	struct helper_entry *helpers;
	size_t nr_helpers;
	char *store;
	struct helper_prog *progs;
	size_t nr_progs;
};

/* ------------------------------------------------------------ base64 */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void reg_base64_encode(struct kiln_buf *out, const void *data, size_t len)
{
	const unsigned char *p = data;

	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;

		if (i + 1 < len)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < len)
			v |= p[i + 2];
		kiln_buf_addch(out, b64[(v >> 18) & 63]);
		kiln_buf_addch(out, b64[(v >> 12) & 63]);
		kiln_buf_addch(out, i + 1 < len ? b64[(v >> 6) & 63] : '=');
		kiln_buf_addch(out, i + 2 < len ? b64[v & 63] : '=');
	}
}

int reg_base64_decode(struct kiln_buf *out, const char *s)
{
	uint32_t v = 0;
	int bits = 0;

	for (; *s && *s != '='; s++) {
		const char *p = strchr(b64, *s);

		if (!p || !*s)
			return KILN_EINVAL;
		v = (v << 6) | (uint32_t)(p - b64);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			kiln_buf_addch(out, (int)((v >> bits) & 0xff));
		}
	}
	return 0;
}

/* ------------------------------------------------------- config.json */

/* Docker's key forms: "host", "https://host", "https://host/v1/", and
 * Docker Hub's several names. */
static char *normalize_host(const char *key)
{
	const char *p = key;
	char *h;

	if (!strncmp(p, "https://", 8))
		p += 8;
	else if (!strncmp(p, "http://", 7))
		p += 7;
	h = xstrndup(p, strcspn(p, "/"));
	if (!strcmp(h, "index.docker.io") || !strcmp(h, "registry-1.docker.io")) {
		free(h);
		h = xstrdup("docker.io");
	}
	return h;
}

static char *json_strdup(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	return cJSON_IsString(v) && *v->valuestring ? xstrdup(v->valuestring) : NULL;
}

/* An `auths` entry: "auth" (base64 user:password) or username/password. */
static int parse_auth_entry(struct auth_entry *e, const cJSON *v, const char *path,
			    struct kiln_error *err)
{
	char *auth = json_strdup(v, "auth");

	e->username = json_strdup(v, "username");
	e->password = json_strdup(v, "password");
	e->identity_token = json_strdup(v, "identitytoken");
	if (auth) {
		struct kiln_buf dec = KILN_BUF_INIT;
		char *colon;

		kiln_log_add_secret(auth);
		if (reg_base64_decode(&dec, auth) < 0 || !(colon = strchr(dec.buf, ':'))) {
			kiln_buf_release(&dec);
			free(auth);
			return kiln_err(err, KILN_EINVAL, 0,
					"%s: the 'auth' of '%s' is not base64 of user:password",
					path, e->host);
		}
		free(e->username);
		free(e->password);
		e->username = xstrndup(dec.buf, (size_t)(colon - dec.buf));
		e->password = xstrdup(colon + 1);
		kiln_buf_release(&dec);
		free(auth);
	}
	kiln_log_add_secret(e->password);
	kiln_log_add_secret(e->identity_token);
	return 0;
}

static int parse_auths(struct reg_auth_config *a, const cJSON *root, struct kiln_error *err)
{
	const cJSON *auths = cJSON_GetObjectItemCaseSensitive(root, "auths"), *v;

	a->auths = xcalloc((size_t)cJSON_GetArraySize(auths) + 1, sizeof(*a->auths));
	cJSON_ArrayForEach(v, auths)
	{
		struct auth_entry *e = &a->auths[a->nr_auths++];

		e->host = normalize_host(v->string);
		if (cJSON_IsObject(v) && parse_auth_entry(e, v, a->path, err) < 0)
			return err ? err->code : KILN_EINVAL;
	}
	return 0;
}

/* Find docker-credential-NAME now, in kiln's own directory or on $PATH as
 * it is at start, and keep it open: later, PATH directories belong to the
 * base image and its RUN steps, whose files must never run as a helper. */
static void find_helper(struct reg_auth_config *a, const char *name)
{
	struct helper_prog *p;
	struct kiln_buf dirs = KILN_BUF_INIT, cand = KILN_BUF_INIT;
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	const char *path = getenv("PATH");

	for (size_t i = 0; i < a->nr_progs; i++) {
		if (!strcmp(a->progs[i].name, name))
			return;
	}
	a->progs = xreallocarray(a->progs, a->nr_progs + 1, sizeof(*a->progs));
	p = &a->progs[a->nr_progs++];
	p->name = xstrdup(name);
	p->path = NULL;
	p->fd = -1;
	if (n > 0) {
		self[n] = '\0';
		if (strrchr(self, '/'))
			kiln_buf_add(&dirs, self, (size_t)(strrchr(self, '/') - self));
	}
	kiln_buf_addf(&dirs, ":%s", path ? path : "/usr/local/bin:/usr/bin:/bin");
	for (char *d = dirs.buf; p->fd < 0 && d;) {
		char *colon = strchr(d, ':');

		if (colon)
			*colon = '\0';
		kiln_buf_reset(&cand);
		kiln_buf_addf(&cand, "%s/docker-credential-%s", *d ? d : ".", name);
		if (*d && access(cand.buf, X_OK) == 0 &&
		    (p->fd = open(cand.buf, O_RDONLY | O_CLOEXEC)) >= 0)
			p->path = xstrdup(cand.buf);
		d = colon ? colon + 1 : NULL;
	}
	kiln_buf_release(&dirs);
	kiln_buf_release(&cand);
}

static void parse_helpers(struct reg_auth_config *a, const cJSON *root)
{
	const cJSON *helpers = cJSON_GetObjectItemCaseSensitive(root, "credHelpers"), *v;

	a->helpers = xcalloc((size_t)cJSON_GetArraySize(helpers) + 1, sizeof(*a->helpers));
	cJSON_ArrayForEach(v, helpers)
	{
		if (!cJSON_IsString(v) || !*v->valuestring)
			continue;
		a->helpers[a->nr_helpers].host = normalize_host(v->string);
		a->helpers[a->nr_helpers++].helper = xstrdup(v->valuestring);
		find_helper(a, v->valuestring);
	}
	a->store = json_strdup(root, "credsStore");
	if (a->store)
		find_helper(a, a->store);
}

/* The first config.json that exists, in Docker's and kaniko's order. */
static char *config_path(void)
{
	const char *dc = getenv("DOCKER_CONFIG"), *home = getenv("HOME");
	char *p;

	if (dc && *dc) {
		p = xasprintf("%s/config.json", dc);
		if (access(p, F_OK) == 0)
			return p;
		free(p);
	}
	if (access("/kiln/.docker/config.json", F_OK) == 0)
		return xstrdup("/kiln/.docker/config.json");
	if (home && *home) {
		p = xasprintf("%s/.docker/config.json", home);
		if (access(p, F_OK) == 0)
			return p;
		free(p);
	}
	return NULL;
}

int reg_auth_config_load(struct reg_auth_config **out, const char *path, struct kiln_error *err)
{
	struct reg_auth_config *a = xcalloc(1, sizeof(*a));
	struct kiln_buf text = KILN_BUF_INIT;
	cJSON *root = NULL;
	int ret = 0;

	a->path = path ? xstrdup(path) : config_path();
	*out = a;
	if (!a->path)
		return 0; /* no config: anonymous everywhere */
	if ((ret = kiln_file_read(&text, a->path, CONFIG_MAX, err)) < 0)
		goto out;
	root = cJSON_ParseWithLength(text.buf, text.len);
	if (!cJSON_IsObject(root)) {
		ret = kiln_err(err, KILN_EINVAL, 0, "'%s' is not a JSON object", a->path);
		goto out;
	}
	if ((ret = parse_auths(a, root, err)) < 0)
		goto out;
	parse_helpers(a, root);
	kiln_debug("registry credentials from '%s'", a->path);
out:
	cJSON_Delete(root);
	kiln_buf_release(&text);
	return ret;
}

void reg_auth_config_free(struct reg_auth_config *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->nr_auths; i++) {
		free(a->auths[i].host);
		free(a->auths[i].username);
		free(a->auths[i].password);
		free(a->auths[i].identity_token);
	}
	free(a->auths);
	for (size_t i = 0; i < a->nr_helpers; i++) {
		free(a->helpers[i].host);
		free(a->helpers[i].helper);
	}
	free(a->helpers);
	for (size_t i = 0; i < a->nr_progs; i++) {
		free(a->progs[i].name);
		free(a->progs[i].path);
		close_fd(&a->progs[i].fd);
	}
	free(a->progs);
	free(a->store);
	free(a->path);
	free(a);
}

void reg_creds_release(struct reg_creds *cr)
{
	xfree(&cr->username);
	xfree(&cr->password);
	xfree(&cr->identity_token);
}

/* --------------------------------------------------- credential helpers */

/* Collect a child's stdout (capped) and stderr (first bytes) together, so
 * neither pipe can fill up and stall it. */
static int drain(struct kiln_buf *out, struct kiln_buf *errout, int ofd, int efd, const char *what,
		 struct kiln_error *err)
{
	struct pollfd p[2] = { { ofd, POLLIN, 0 }, { efd, POLLIN, 0 } };
	char chunk[4096];
	int open_fds = 2;

	while (open_fds) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return kiln_err(err, KILN_EIO, errno, "poll %s", what);
		}
		for (int i = 0; i < 2; i++) {
			ssize_t n;

			if (p[i].fd < 0 || !p[i].revents)
				continue;
			n = read(p[i].fd, chunk, sizeof(chunk));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				p[i].fd = -1;
				open_fds--;
			} else if (i == 0 && kiln_buf_add_capped(out, chunk, (size_t)n,
								 HELPER_OUT_MAX, what, err) < 0) {
				return KILN_EINVAL;
			} else if (i == 1 && errout->len < 512) {
				kiln_buf_add(errout, chunk, (size_t)n);
			}
		}
	}
	return 0;
}

static void child_exec(int prog_fd, int in_fd, int out_fd, int err_fd, const char *name)
{
	char *argv[] = { NULL, (char *)"get", NULL };
	char arg0[256];

	snprintf(arg0, sizeof(arg0), "docker-credential-%s", name);
	argv[0] = arg0;
	if (dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0)
		_exit(127);
	/* fexecve keeps the fd open for a script's interpreter (/dev/fd/N). */
	fcntl(prog_fd, F_SETFD, 0);
	fexecve(prog_fd, argv, environ);
	_exit(127);
}

/* Run `docker-credential-NAME get` with server on stdin; its JSON in *out. */
static int helper_run(struct kiln_buf *out, struct kiln_buf *errout, const struct helper_prog *prog,
		      const char *server, struct kiln_error *err)
{
	int in = -1, o[2] = { -1, -1 }, e[2] = { -1, -1 }, status = 0, ret = -1;
	pid_t pid;

	/* stdin from a memfd, not a pipe: a helper that never reads cannot
	 * stall kiln or kill it with SIGPIPE. */
	if ((in = memfd_create("kiln-helper-in", MFD_CLOEXEC)) < 0 ||
	    kiln_write_all(in, server, strlen(server), "helper input", err) < 0 ||
	    lseek(in, 0, SEEK_SET) < 0 || pipe2(o, O_CLOEXEC) < 0 || pipe2(e, O_CLOEXEC) < 0) {
		ret = err && err->code ? err->code : kiln_err(err, KILN_EIO, errno, "helper pipes");
		goto out;
	}
	if ((pid = fork()) < 0) {
		ret = kiln_err(err, KILN_EIO, errno, "fork %s", prog->path);
		goto out;
	}
	if (pid == 0)
		child_exec(prog->fd, in, o[1], e[1], prog->name);
	close_fd(&o[1]);
	close_fd(&e[1]);
	ret = drain(out, errout, o[0], e[0], prog->path, err);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (ret == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
		ret = KILN_EAUTH; /* the caller reads errout and out */
out:
	close_fd(&in);
	close_fd(&o[0]);
	close_fd(&o[1]);
	close_fd(&e[0]);
	close_fd(&e[1]);
	return ret;
}

static int creds_from_helper(struct reg_creds *cr, const struct reg_auth_config *a,
			     const char *name, const char *domain, struct kiln_error *err)
{
	const struct helper_prog *prog = NULL;
	const char *server = strcmp(domain, "docker.io") ? domain : DOCKER_HUB_AUTH;
	struct kiln_buf out = KILN_BUF_INIT, errout = KILN_BUF_INIT;
	cJSON *root = NULL;
	int ret;

	for (size_t i = 0; i < a->nr_progs; i++) {
		if (!strcmp(a->progs[i].name, name))
			prog = &a->progs[i];
	}
	if (!prog || prog->fd < 0) {
		kiln_err(err, KILN_EAUTH, 0,
			 "credential helper 'docker-credential-%s' for '%s' (%s) was not found "
			 "in kiln's directory or on PATH at start",
			 name, domain, a->path);
		return kiln_err_hint(err, "install it next to the executor or on PATH");
	}
	ret = helper_run(&out, &errout, prog, server, err);
	if (ret == KILN_EAUTH) {
		/* Docker's protocol: this text on stdout means "no credentials". */
		if (strstr(out.buf, "credentials not found")) {
			ret = 0;
			goto out;
		}
		kiln_buf_rtrim(&errout);
		ret = kiln_err(err, KILN_EAUTH, 0, "credential helper '%s' failed for '%s': %.200s",
			       prog->path, domain, errout.len ? errout.buf : out.buf);
		goto out;
	}
	if (ret < 0)
		goto out;
	root = cJSON_ParseWithLength(out.buf, out.len);
	cr->username = json_strdup(root, "Username");
	cr->password = json_strdup(root, "Secret");
	if (!cr->password) {
		ret = kiln_err(err, KILN_EAUTH, 0, "credential helper '%s' gave no Secret for '%s'",
			       prog->path, domain);
		goto out;
	}
	kiln_log_add_secret(cr->password);
	if (cr->username && !strcmp(cr->username, "<token>")) {
		/* An identity token, exchanged for access tokens (OAuth2). */
		cr->identity_token = steal_ptr(&cr->password);
		xfree(&cr->username);
	}
	kiln_debug("credentials for '%s' from %s", domain, prog->path);
out:
	cJSON_Delete(root);
	kiln_buf_release(&out);
	kiln_buf_release(&errout);
	return ret;
}

/* credHelpers for the host, else its auths entry, else credsStore. */
static int creds_lookup(struct reg_creds *cr, const struct reg_auth_config *a, const char *domain,
			struct kiln_error *err)
{
	for (size_t i = 0; i < a->nr_helpers; i++) {
		if (!strcmp(a->helpers[i].host, domain))
			return creds_from_helper(cr, a, a->helpers[i].helper, domain, err);
	}
	for (size_t i = 0; i < a->nr_auths; i++) {
		const struct auth_entry *e = &a->auths[i];

		if (strcmp(e->host, domain) || (!e->password && !e->identity_token))
			continue;
		cr->username = e->username ? xstrdup(e->username) : NULL;
		cr->password = e->password ? xstrdup(e->password) : NULL;
		cr->identity_token = e->identity_token ? xstrdup(e->identity_token) : NULL;
		return 0;
	}
	if (a->store)
		return creds_from_helper(cr, a, a->store, domain, err);
	return 0;
}

static int host_creds(struct registry_client *c, struct reg_host *h, struct kiln_error *err)
{
	int ret;

	if (h->creds_loaded)
		return 0;
	if ((ret = creds_lookup(&h->creds, c->auth, h->domain, err)) < 0)
		return ret;
	h->creds_loaded = true;
	return 0;
}

/* -------------------------------------------------------- challenges */

/* Next auth-param `key=value` or `key="value"`; *p advances past it. */
static bool next_param(char **key, char **value, const char **p)
{
	const char *s = *p, *k;
	struct kiln_buf v = KILN_BUF_INIT;

	while (*s == ' ' || *s == ',' || *s == '\t')
		s++;
	k = s;
	while (*s && *s != '=' && *s != ' ' && *s != ',')
		s++;
	if (*s != '=' || s == k)
		return false;
	*key = xstrndup(k, (size_t)(s - k));
	s++;
	if (*s == '"') {
		for (s++; *s && *s != '"'; s++) {
			if (*s == '\\' && s[1])
				s++;
			kiln_buf_addch(&v, *s);
		}
		if (*s == '"')
			s++;
	} else {
		while (*s && *s != ',' && *s != ' ')
			kiln_buf_addch(&v, *s++);
	}
	*value = kiln_buf_detach(&v, NULL);
	*p = s;
	return true;
}

int reg_parse_challenge(enum reg_auth_kind *kind, char **realm, char **service, const char *value)
{
	const char *p = value;
	char *key, *v;

	if (!strncasecmp(p, "Bearer ", 7)) {
		*kind = REG_AUTH_BEARER;
		p += 7;
	} else if (!strncasecmp(p, "Basic", 5) && (p[5] == ' ' || !p[5])) {
		*kind = REG_AUTH_BASIC;
		return 0;
	} else {
		*kind = REG_AUTH_UNKNOWN;
		return KILN_EINVAL;
	}
	while (next_param(&key, &v, &p)) {
		if (!strcasecmp(key, "realm")) {
			free(*realm);
			*realm = steal_ptr(&v);
		} else if (!strcasecmp(key, "service")) {
			free(*service);
			*service = steal_ptr(&v);
		}
		free(key);
		free(v);
	}
	return *realm ? 0 : KILN_EINVAL;
}

/* ------------------------------------------------------------ tokens */

void reg_host_forget_tokens(struct reg_host *h)
{
	while (h->tokens) {
		struct reg_token *t = h->tokens;

		h->tokens = t->next;
		free(t->scope);
		free(t->token);
		free(t);
	}
}

static struct reg_token **token_find(struct reg_host *h, const char *scope)
{
	struct reg_token **t;

	for (t = &h->tokens; *t; t = &(*t)->next) {
		if (!strcmp((*t)->scope, scope ? scope : ""))
			return t;
	}
	return t;
}

static void add_query(struct kiln_buf *url, const char *key, const char *value, bool *first)
{
	char *esc = curl_easy_escape(NULL, value, 0);

	kiln_buf_addf(url, "%c%s=%s", *first ? (strchr(url->buf, '?') ? '&' : '?') : '&', key,
		      esc ? esc : "");
	*first = false;
	curl_free(esc);
}

/* The realm URL with service and each scope; or, for an OAuth2 refresh
 * grant, the same as a form body. */
static void token_params(struct kiln_buf *out, const struct reg_host *h, const char *scope,
			 bool *first)
{
	const char *s = scope;

	if (h->service)
		add_query(out, "service", h->service, first);
	while (s && *s) {
		size_t n = strcspn(s, " ");
		char *one = xstrndup(s, n);

		add_query(out, "scope", one, first);
		free(one);
		s += n;
		s += strspn(s, " ");
	}
}

static char *basic_value(const struct reg_creds *cr)
{
	struct kiln_buf raw = KILN_BUF_INIT, enc = KILN_BUF_INIT;

	kiln_buf_addf(&raw, "%s:%s", cr->username ? cr->username : "", cr->password);
	kiln_buf_addstr(&enc, "Basic ");
	reg_base64_encode(&enc, raw.buf, raw.len);
	kiln_log_add_secret(enc.buf + 6);
	kiln_buf_release(&raw);
	return kiln_buf_detach(&enc, NULL);
}

/* The token service said no: name it, the registry, and whose credentials. */
static int token_refused(const struct reg_response *resp, const struct reg_host *h,
			 struct kiln_error *err)
{
	struct kiln_buf what = KILN_BUF_INIT;
	int code = resp->status == 401 || resp->status == 403	? KILN_EAUTH
		   : resp->status == 429 || resp->status >= 500 ? KILN_ENET
								: KILN_EINVAL;

	reg_errors_describe(&what, &resp->body);
	kiln_err(err, code, 0,
		 "the token service '%.200s' of registry '%s' answered HTTP %ld %s for %s%s",
		 h->realm, h->domain, resp->status, reg_status_word(resp->status),
		 h->creds.identity_token ? "the identity token"
		 : h->creds.password	 ? "the credentials of the configured user"
					 : "an anonymous request",
		 what.buf);
	if (code == KILN_EAUTH)
		kiln_err_hint(err,
			      "check the credentials for '%s' (config.json, credential helper)",
			      h->domain);
	kiln_buf_release(&what);
	return code;
}

static int token_request(struct reg_response *resp, struct registry_client *c, struct reg_host *h,
			 const char *scope, struct kiln_error *err)
{
	struct reg_request rq = { .host = h, .no_auth = true };
	struct kiln_buf url = KILN_BUF_INIT, form = KILN_BUF_INIT;
	char *basic = NULL;
	bool first = true;
	int ret;

	kiln_buf_addstr(&url, h->realm);
	if (h->creds.identity_token) {
		/* OAuth2 refresh-token grant (config.json identitytoken). */
		kiln_buf_addstr(&form, "grant_type=refresh_token&client_id=kiln");
		first = false;
		add_query(&form, "refresh_token", h->creds.identity_token, &first);
		token_params(&form, h, scope, &first);
		rq.method = "POST";
		rq.body = form.buf;
		rq.body_len = form.len;
		rq.content_type = "application/x-www-form-urlencoded";
	} else {
		token_params(&url, h, scope, &first);
		rq.method = "GET";
		if (h->creds.password)
			rq.auth_header = basic = basic_value(&h->creds);
	}
	rq.url = url.buf;
	ret = reg_do(resp, c, &rq, err);
	if (ret == 0 && resp->status != 200)
		ret = token_refused(resp, h, err);
	free(basic);
	kiln_buf_release(&url);
	kiln_buf_release(&form);
	return ret;
}

static int token_fetch(char **out, struct registry_client *c, struct reg_host *h, const char *scope,
		       struct kiln_error *err)
{
	struct reg_response resp = REG_RESPONSE_INIT;
	cJSON *root = NULL;
	char *tok;
	int ret;

	if (!h->realm)
		return kiln_err(err, KILN_EAUTH, 0,
				"registry '%s' asks for a bearer token but names no realm",
				h->domain);
	if (!strncmp(h->realm, "http://", 7) && (h->creds.password || h->creds.identity_token) &&
	    !h->may_http)
		return kiln_err(err, KILN_EAUTH, 0,
				"registry '%s' wants credentials sent to the plain-HTTP token "
				"service '%s'; refused",
				h->domain, h->realm);
	if ((ret = token_request(&resp, c, h, scope, err)) < 0) {
		kiln_err_prefix(err, "token for '%s'", scope ? scope : h->domain);
		goto out;
	}
	root = cJSON_ParseWithLength(resp.body.buf, resp.body.len);
	tok = json_strdup(root, "token");
	if (!tok)
		tok = json_strdup(root, "access_token");
	if (!tok) {
		ret = kiln_err(err, KILN_EAUTH, 0,
			       "the token service '%s' of registry '%s' "
			       "answered without a token",
			       h->realm, h->domain);
		goto out;
	}
	kiln_log_add_secret(tok);
	*out = tok;
out:
	cJSON_Delete(root);
	reg_response_release(&resp);
	return ret;
}

int reg_auth_header(char **out, struct registry_client *c, struct reg_host *h, const char *scope,
		    struct kiln_error *err)
{
	struct reg_token **t;
	char *tok = NULL;
	int ret = 0;

	*out = NULL;
	pthread_mutex_lock(&c->host_lock);
	if (h->auth != REG_AUTH_BASIC && h->auth != REG_AUTH_BEARER)
		goto out;
	if ((ret = host_creds(c, h, err)) < 0)
		goto out;
	if (h->auth == REG_AUTH_BASIC) {
		if (h->creds.password)
			*out = basic_value(&h->creds);
		goto out;
	}
	t = token_find(h, scope);
	if (!*t) {
		if ((ret = token_fetch(&tok, c, h, scope, err)) < 0)
			goto out;
		*t = xcalloc(1, sizeof(**t));
		(*t)->scope = xstrdup(scope ? scope : "");
		(*t)->token = tok;
	}
	*out = xasprintf("Bearer %s", (*t)->token);
out:
	pthread_mutex_unlock(&c->host_lock);
	return ret;
}

int reg_auth_challenge(struct registry_client *c, struct reg_host *h, const char *scope,
		       const char *www_authenticate, bool had_auth, struct kiln_error *err)
{
	enum reg_auth_kind kind = REG_AUTH_UNKNOWN;
	int ret = 1;

	if (!www_authenticate)
		return 1;
	pthread_mutex_lock(&c->host_lock);
	if (reg_parse_challenge(&kind, &h->realm, &h->service, www_authenticate) < 0)
		goto out;
	if (kind == REG_AUTH_BASIC) {
		/* Sent credentials refused: asking again changes nothing. */
		if (had_auth || host_creds(c, h, err) < 0 || !h->creds.password)
			goto out;
		h->auth = kind;
		ret = 0;
	} else {
		struct reg_token **t = token_find(h, scope);

		/* A stale or too narrow token: drop it, fetch another. */
		if (*t) {
			struct reg_token *old = *t;

			*t = old->next;
			free(old->scope);
			free(old->token);
			free(old);
		}
		h->auth = kind;
		ret = 0;
	}
out:
	pthread_mutex_unlock(&c->host_lock);
	return ret;
}
