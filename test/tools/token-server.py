#!/usr/bin/env python3
"""test/tools/token-server.py: the Docker registry token service, for tests.

Implements the token flow of the distribution project's token auth spec:
a client that got `401 WWW-Authenticate: Bearer realm=...,service=...`
asks GET REALM?service=S&scope=repository:NAME:pull,push[&scope=...] with
optional Basic credentials and gets {"token", "access_token", "expires_in",
"issued_at"}. The token is a JWT signed RS256 (by `openssl dgst -sign`, so
nothing beyond python3 and openssl is needed), carrying the signing
certificate in its "x5c" header; docker-registry checks it against
auth.token.rootcertbundle, issuer and service.

Usage: token-server.py STATE_DIR KEY.pem CERT.pem ISSUER SERVICE [OPTIONS]
  --user U:P        a user with pull and push (repeatable)
  --reader U:P      a user with pull only (push is silently not granted,
                    as real token services do; the registry then says 401)
  --anonymous-pull  requests without credentials get pull access
                    (otherwise their tokens grant nothing)
Creating STATE_DIR/stale-once makes the next token an expired one (and
removes the file): the registry refuses it, and the client must fetch a
fresh token after that 401. Writes STATE_DIR/port once listening. Appends one line per request to
STATE_DIR/token.log: "GET user=<name|anonymous> scope=<s1 s2> -> <status>"
(never a password), and each token issued to STATE_DIR/issued-tokens, so
a test can check that none reaches a log. A wrong password gets 401 with a JSON error body.
Runs until killed.
"""
import base64, http.server, json, os, subprocess, sys, threading, time, urllib.parse

state, key, cert, issuer, service = sys.argv[1:6]
users, readers, anonymous_pull = {}, set(), False
args = sys.argv[6:]
while args:
    opt = args.pop(0)
    if opt in ("--user", "--reader"):
        u, _, p = args.pop(0).partition(":")
        users[u] = p
        if opt == "--reader":
            readers.add(u)
    elif opt == "--anonymous-pull":
        anonymous_pull = True
    else:
        sys.exit(f"token-server.py: unknown option {opt}")

with open(cert) as f:
    pem = f.read()
der_b64 = "".join(l for l in pem.splitlines() if l and not l.startswith("-----"))
lock = threading.Lock()
serial = [0]


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign(data):
    # RS256 = RSASSA-PKCS1-v1_5 over SHA-256: exactly what `openssl dgst -sign` makes.
    return subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=data,
                          capture_output=True, check=True).stdout


def grant(user, scope):
    """The access entry for one requested scope: what this user may do."""
    parts = scope.split(":")
    if len(parts) < 3 or parts[0] != "repository":
        return None
    name, wanted = ":".join(parts[1:-1]), parts[-1].split(",")
    if user is None:
        allowed = {"pull"} if anonymous_pull else set()
    elif user in readers:
        allowed = {"pull"}
    else:
        allowed = {"pull", "push", "delete", "*"}
    return {"type": "repository", "name": name, "actions": [a for a in wanted if a in allowed]}


def make_token(user, scopes, stale):
    now = int(time.time())
    with lock:
        serial[0] += 1
        jti = f"kiln-{os.getpid()}-{serial[0]}"
    # docker-registry allows 60 s of clock skew: "stale" is well past that.
    exp = now - 600 if stale else now + 300
    header = {"typ": "JWT", "alg": "RS256", "x5c": [der_b64]}
    claims = {"iss": issuer, "sub": user or "", "aud": service, "exp": exp,
              "nbf": now - 10 - (1200 if stale else 0), "iat": now - (1200 if stale else 0),
              "jti": jti, "access": [a for a in (grant(user, s) for s in scopes) if a]}
    signing_input = (b64url(json.dumps(header).encode()) + "." +
                     b64url(json.dumps(claims).encode())).encode()
    return signing_input.decode() + "." + b64url(sign(signing_input))


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def send(self, code, obj, headers=()):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def record(self, user, scopes, code, note=""):
        with lock, open(os.path.join(state, "token.log"), "a") as f:
            f.write(f"GET user={user or 'anonymous'} scope={' '.join(scopes)} -> {code}{note}\n")

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(url.query)
        scopes = q.get("scope", [])
        user = None
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            try:
                user, _, pw = base64.b64decode(auth[6:]).decode().partition(":")
            except Exception:
                user, pw = "?", None
            if users.get(user) != pw or pw is None:
                self.record(user, scopes, 401)
                return self.send(401, {"errors": [{"code": "UNAUTHORIZED",
                                                    "message": "incorrect username or password"}]},
                                 [("WWW-Authenticate", 'Basic realm="kiln-test-token"')])
        if url.path != "/token" or q.get("service", [""])[0] != service:
            self.record(user, scopes, 400)
            return self.send(400, {"errors": [{"code": "INVALID_REQUEST",
                                               "message": "unknown path or service"}]})
        with lock:
            try:
                os.unlink(os.path.join(state, "stale-once"))
                stale = True
            except FileNotFoundError:
                stale = False
        token = make_token(user, scopes, stale)
        with lock, open(os.path.join(state, "issued-tokens"), "a") as f:
            f.write(token + "\n")  # for tests checking that no token is logged
        self.record(user, scopes, 200, " (expired)" if stale else "")
        self.send(200, {"token": token, "access_token": token, "expires_in": 300,
                        "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})


srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(os.path.join(state, "port.tmp"), "w") as f:
    f.write(f"{srv.server_port}\n")
os.rename(os.path.join(state, "port.tmp"), os.path.join(state, "port"))
srv.serve_forever()
