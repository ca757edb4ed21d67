#!/usr/bin/env python3
"""test/tools/redirect-registry.py: a tiny registry that wants basic auth and
redirects every blob GET to a second port (another origin, like a blob
storage host), recording there whether an Authorization header arrived.

Usage: redirect-registry.py USER PASS STATE_DIR
Writes STATE_DIR/ports ("REGISTRY_PORT STORAGE_PORT") once listening and
appends one line per storage request to STATE_DIR/storage.log:
"<path> auth=<present|absent>". Serves one image, repository "r/img",
tag "1": a config and one layer. Runs until killed.
"""
import base64, hashlib, http.server, json, os, sys, threading

user, password, state = sys.argv[1], sys.argv[2], sys.argv[3]
want_auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
config = json.dumps({"architecture": "amd64", "os": "linux",
                     "rootfs": {"type": "layers", "diff_ids": []}}).encode()
layer = os.urandom(200000)
blobs = {"sha256:" + hashlib.sha256(b).hexdigest(): b for b in (config, layer)}
digests = list(blobs)
manifest = json.dumps({
    "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
               "digest": digests[0], "size": len(config)},
    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": digests[1], "size": len(layer)}]}).encode()
lock = threading.Lock()


class Quiet(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send(self, code, body=b"", headers=()):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Registry(Quiet):
    def do_GET(self):
        if self.headers.get("Authorization") != want_auth:
            return self.send(401, b'{"errors":[{"code":"UNAUTHORIZED","message":"no"}]}',
                             [("WWW-Authenticate", 'Basic realm="test"')])
        if self.path == "/v2/":
            return self.send(200, b"{}")
        if self.path == "/v2/r/img/manifests/1":
            return self.send(200, manifest, [("Content-Type", json.loads(manifest)["mediaType"])])
        prefix = "/v2/r/img/blobs/"
        if self.path.startswith(prefix) and self.path[len(prefix):] in blobs:
            loc = f"http://127.0.0.1:{storage.server_port}/storage/{self.path[len(prefix):]}"
            return self.send(307, b"", [("Location", loc)])
        self.send(404, b'{"errors":[{"code":"NOT_FOUND","message":"no such thing"}]}')


class Storage(Quiet):
    def do_GET(self):
        auth = "present" if "Authorization" in self.headers else "absent"
        with lock, open(os.path.join(state, "storage.log"), "a") as f:
            f.write(f"{self.path} auth={auth}\n")
        d = self.path.rsplit("/", 1)[-1]
        self.send(200, blobs[d]) if d in blobs else self.send(404)


reg = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Registry)
storage = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Storage)
threading.Thread(target=storage.serve_forever, daemon=True).start()
with open(os.path.join(state, "ports.tmp"), "w") as f:
    f.write(f"{reg.server_port} {storage.server_port}\n")
os.rename(os.path.join(state, "ports.tmp"), os.path.join(state, "ports"))
reg.serve_forever()
