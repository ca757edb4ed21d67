#!/usr/bin/env python3
"""test/tools/fault-proxy.py: an HTTP proxy that misbehaves on purpose, for tests.

Sits between a client and an upstream HTTP server (a registry, a file
server) on 127.0.0.1 and, for each request, draws from a random generator
with a fixed seed whether to inject a fault:
  500       answer 500 with a registry-style error body (upstream not asked)
  429       answer 429 with "Retry-After: 1" (upstream not asked)
  drop      a request with a body (a blob upload): read half of it, then
            close the connection without answering
  truncate  a response with a body of 4 KiB or more (a blob download):
            send the headers and half the body, then close the connection
Requests not picked are forwarded unchanged (Host header included, so the
upstream's Location headers point back at the proxy), streamed both ways.

Usage: fault-proxy.py STATE_DIR UPSTREAM_HOST:PORT [--seed N]
                      [--rate KIND=P]... [--only REGEX] [--throttle KIB_PER_S]
                      [--throttle-up KIB_PER_S]
  --rate KIND=P   probability of fault KIND per eligible request (default 0)
  --only REGEX    inject faults only into requests whose "METHOD PATH" matches
  --throttle N    send response bodies at N KiB/s (progress-reporting tests)
  --throttle-up N read request bodies at N KiB/s (a slow upload link)
Writes STATE_DIR/port once listening; appends "METHOD PATH -> FAULT|status"
per request to STATE_DIR/proxy.log. Runs until killed.
"""
import http.client, http.server, os, random, re, socket, sys, threading, time

state, upstream = sys.argv[1], sys.argv[2]
up_host, up_port = upstream.rsplit(":", 1)
rates, seed, only, throttle, throttle_up = {}, 1, None, 0, 0
args = sys.argv[3:]
while args:
    opt = args.pop(0)
    if opt == "--seed":
        seed = int(args.pop(0))
    elif opt == "--rate":
        kind, _, p = args.pop(0).partition("=")
        if kind not in ("500", "429", "drop", "truncate"):
            sys.exit(f"fault-proxy.py: unknown fault {kind}")
        rates[kind] = float(p)
    elif opt == "--only":
        only = re.compile(args.pop(0))
    elif opt == "--throttle":
        throttle = int(args.pop(0)) * 1024
    elif opt == "--throttle-up":
        throttle_up = int(args.pop(0)) * 1024
    else:
        sys.exit(f"fault-proxy.py: unknown option {opt}")
rng = random.Random(seed)
lock = threading.Lock()
HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
       "proxy-connection"}
BODY_MAX = 1 << 34  # nothing in a test is bigger; a bogus length is refused


def pick(eligible):
    """One draw per request, in arrival order: the fault, or None."""
    with lock:
        r = rng.random()
    for kind in ("500", "429", "drop", "truncate"):
        p = rates.get(kind, 0) if kind in eligible else 0
        if r < p:
            return kind
        r -= p
    return None


class Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def record(self, what):
        with lock, open(os.path.join(state, "proxy.log"), "a") as f:
            f.write(f"{self.command} {self.path} -> {what}\n")

    def reply(self, code, body, headers=()):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":  # a HEAD answer has no body, whatever its length says
            self.wfile.write(body)

    def hang_up(self):
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def read_body(self, n):
        chunks = []
        step = max(1, throttle_up // 10) if throttle_up else 1 << 16
        while n > 0:
            b = self.rfile.read(min(n, step))
            if not b:
                raise ConnectionError("client closed mid-body")
            chunks.append(b)
            n -= len(b)
            if throttle_up:
                time.sleep(len(b) / throttle_up)
        return b"".join(chunks)

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0 or length > BODY_MAX:
            return self.reply(400, b'{"errors":[{"code":"BAD_LENGTH"}]}')
        eligible = {"500", "429", "truncate"}
        if length:
            eligible.add("drop")
        if only and not only.search(f"{self.command} {self.path}"):
            eligible = set()
        fault = pick(eligible)
        if fault == "drop":
            self.read_body(length // 2)
            self.record("drop")
            return self.hang_up()
        body = self.read_body(length) if length else None
        if fault in ("500", "429"):
            self.record(fault)
            msg = b'{"errors":[{"code":"UNAVAILABLE","message":"injected by fault-proxy"}]}'
            return self.reply(int(fault), msg, [("Retry-After", "1")] if fault == "429" else [])
        self.forward(body, fault == "truncate")

    def forward(self, body, truncate):
        conn = http.client.HTTPConnection(up_host, int(up_port), timeout=120)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
        conn.request(self.command, self.path, body=body, headers=headers)
        resp = conn.getresponse()
        n = resp.getheader("Content-Length")
        n = int(n) if n is not None else None
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in HOP:
                self.send_header(k, v)
        if n is None and self.command != "HEAD" and resp.status not in (204, 304):
            self.close_connection = True  # no length: the end of the body is the close
        self.end_headers()
        if self.command == "HEAD":
            self.record(resp.status)
            return conn.close()
        limit = n // 2 if truncate and n and n >= 4096 else None
        sent = 0
        while True:
            want = 1 << 16 if not throttle else max(1, throttle // 10)
            if limit is not None:
                want = min(want, limit - sent)
            chunk = resp.read(want) if want > 0 else b""
            if not chunk:
                break
            self.wfile.write(chunk)
            sent += len(chunk)
            if throttle:
                time.sleep(len(chunk) / throttle)
        conn.close()
        if limit is not None:
            self.record(f"truncate {sent}/{n}")
            return self.hang_up()
        self.record(resp.status)

    def __getattr__(self, name):
        if name.startswith("do_"):
            return self.handle_any
        raise AttributeError(name)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # a client hanging up on us is what these tests are about


srv = Server(("127.0.0.1", 0), Proxy)
with open(os.path.join(state, "port.tmp"), "w") as f:
    f.write(f"{srv.server_port}\n")
os.rename(os.path.join(state, "port.tmp"), os.path.join(state, "port"))
srv.serve_forever()
