#!/usr/bin/env python3
"""check.py: assert what a build produced, from a case's `expect` file.

Usage:
  check.py --expect FILE --builder kiln|buildah [--rootfs DIR] [--config FILE]
           [--rc N] [--stderr FILE]

--rootfs is the unpacked image (umoci unpack ... BUNDLE -> BUNDLE/rootfs),
--config the image config JSON (skopeo inspect --config), --rc the build's
exit status and --stderr its standard error. A build that failed has no
rootfs or config; then only `exit` and `error-contains` lines apply.

The `expect` language: one check per line; blank lines and lines starting
with # are ignored. Words are split like a POSIX shell (shlex): quote a value
that holds blanks. A line may start with "kiln:" or "buildah:" to apply to
that builder only (say why in a comment above it). Values given with
content= are unescaped first (\\n, \\t, \\xNN).

  file PATH [mode=0644] [uid=N] [gid=N] [content=TEXT] [contains=TEXT]
            [sha256=HEX] [size=N] [mtime=EPOCH] [nlink=N]
                          a regular file with these properties
  dir PATH [mode=] [uid=] [gid=] [empty]
                          a directory (empty: with no entries)
  symlink PATH -> TARGET [uid=] [gid=]
                          a symbolic link and its exact target
  hardlink PATH PATH...   regular files sharing one inode
  absent PATH             nothing at PATH (lstat fails)
  config PATH = VALUE     a field of the config JSON; PATH is jq-like
                          (.config.User, .config.Env, .config.Labels.k,
                          .history[1].created_by). VALUE is JSON when it
                          parses as JSON and the field is not a string,
                          else a string. "= null" matches a missing field.
  config PATH != VALUE    the opposite
  config PATH contains V  a list holding string V, an object with key V,
                          or a string containing V
  config PATH lacks V     the opposite of contains (a missing field lacks all)
  config PATH absent      the field is missing, null, empty list or object
  history count-nonempty = N
                          entries of .history without empty_layer: true
  exit N                  the build must exit with status N (and so push
                          nothing: run-case.sh checks the tag is absent).
                          Under buildah, 1 means 125: buildah's status for
                          its own errors (a failing RUN gives the RUN's).
  error-contains TEXT     the last line of stderr contains TEXT (the rest
                          of the line, unquoted)

Exit status: 0 every check passed, 1 a check failed (each failure is
printed), 2 the expect file is malformed.
"""

import argparse
import codecs
import hashlib
import json
import os
import shlex
import stat
import sys


class Malformed(Exception):
    pass


def unescape(s):
    return codecs.decode(s.encode("latin-1", "backslashreplace"), "unicode_escape")


def parse_opts(words, allowed):
    opts = {}
    for w in words:
        if "=" in w:
            k, v = w.split("=", 1)
        else:
            k, v = w, None
        if k not in allowed:
            raise Malformed("unknown option '%s'" % k)
        opts[k] = v
    return opts


def json_path(doc, path):
    """Follow .a.b[2].c in doc; return (found, value)."""
    if not path.startswith("."):
        raise Malformed("config path must start with '.': %s" % path)
    cur = doc
    i = 1
    while i < len(path):
        if path[i] == "[":
            j = path.index("]", i)
            idx = int(path[i + 1 : j])
            if not isinstance(cur, list) or not -len(cur) <= idx < len(cur):
                return False, None
            cur = cur[idx]
            i = j + 1
            if i < len(path) and path[i] == ".":
                i += 1
            continue
        # A key runs to the next "." or "[", unless quoted: ."a.b.c"
        if path[i] == '"':
            j = path.index('"', i + 1)
            key = path[i + 1 : j]
            i = j + 1
        else:
            j = i
            while j < len(path) and path[j] not in ".[":
                j += 1
            key = path[i:j]
            i = j
        if i < len(path) and path[i] == ".":
            i += 1
        if not isinstance(cur, dict) or key not in cur:
            return False, None
        cur = cur[key]
    return True, cur


def split_config(line):
    """config PATH OP [VALUE]: PATH ends at the first blank outside double
    quotes; VALUE is the raw rest of the line (JSON keeps its quotes)."""
    rest = line.split(None, 1)[1] if len(line.split(None, 1)) > 1 else ""
    i, quoted = 0, False
    while i < len(rest) and (quoted or not rest[i].isspace()):
        if rest[i] == '"':
            quoted = not quoted
        i += 1
    path, tail = rest[:i], rest[i:].split(None, 1)
    if not path or not tail:
        raise Malformed("config PATH OP [VALUE]")
    op = tail[0]
    words = ["config", path, op]
    if len(tail) > 1:
        words.append(tail[1].strip())
    return words


def values_equal(actual, want):
    if isinstance(actual, str):
        return actual == want
    try:
        return actual == json.loads(want)
    except ValueError:
        return False


class Checker:
    def __init__(self, rootfs, config, rc, stderr, builder):
        self.rootfs = rootfs
        self.config = config
        self.rc = rc
        self.stderr = stderr
        self.builder = builder
        self.failures = []

    def fail(self, lineno, line, msg):
        self.failures.append("expect:%d: %s\n    %s" % (lineno, line, msg))

    def lstat(self, path):
        try:
            return os.lstat(self.host(path))
        except FileNotFoundError:
            return None

    def host(self, path):
        if not path.startswith("/"):
            raise Malformed("paths are absolute in the image: %s" % path)
        return os.path.join(self.rootfs, path.lstrip("/"))

    def common(self, st, opts, errs):
        if "mode" in opts and stat.S_IMODE(st.st_mode) != int(opts["mode"], 8):
            errs.append("mode %04o, want %s" % (stat.S_IMODE(st.st_mode), opts["mode"]))
        if "uid" in opts and st.st_uid != int(opts["uid"]):
            errs.append("uid %d, want %s" % (st.st_uid, opts["uid"]))
        if "gid" in opts and st.st_gid != int(opts["gid"]):
            errs.append("gid %d, want %s" % (st.st_gid, opts["gid"]))
        if "mtime" in opts and int(st.st_mtime) != int(opts["mtime"]):
            errs.append("mtime %d, want %s" % (int(st.st_mtime), opts["mtime"]))
        if "nlink" in opts and st.st_nlink != int(opts["nlink"]):
            errs.append("nlink %d, want %s" % (st.st_nlink, opts["nlink"]))

    def need_tree(self):
        if self.rootfs is None:
            raise Malformed("a tree check in a case without an image (the build failed?)")

    def run(self, lineno, line):
        kind = line.split(None, 1)[0]
        if kind == "config":
            words = split_config(line)
        elif kind == "error-contains":
            words = line.split(None, 1)
        else:
            words = shlex.split(line)
        if kind in ("file", "dir", "symlink", "hardlink", "absent"):
            self.need_tree()
        if kind == "file":
            opts = parse_opts(
                words[2:],
                {"mode", "uid", "gid", "content", "contains", "sha256", "size", "mtime", "nlink"},
            )
            st = self.lstat(words[1])
            if st is None or not stat.S_ISREG(st.st_mode):
                return self.fail(lineno, line, "not a regular file" if st else "missing")
            errs = []
            self.common(st, opts, errs)
            with open(self.host(words[1]), "rb") as f:
                data = f.read()
            if "content" in opts:
                want = unescape(opts["content"]).encode("utf-8", "surrogateescape")
                if data != want:
                    errs.append("content %r, want %r" % (data[:200], want[:200]))
            if "contains" in opts:
                want = unescape(opts["contains"]).encode()
                if want not in data:
                    errs.append("content %r lacks %r" % (data[:200], want))
            if "sha256" in opts and hashlib.sha256(data).hexdigest() != opts["sha256"]:
                errs.append("sha256 %s, want %s" % (hashlib.sha256(data).hexdigest(), opts["sha256"]))
            if "size" in opts and len(data) != int(opts["size"]):
                errs.append("size %d, want %s" % (len(data), opts["size"]))
            if errs:
                self.fail(lineno, line, "; ".join(errs))
        elif kind == "dir":
            opts = parse_opts(words[2:], {"mode", "uid", "gid", "mtime", "empty"})
            st = self.lstat(words[1])
            if st is None or not stat.S_ISDIR(st.st_mode):
                return self.fail(lineno, line, "not a directory" if st else "missing")
            errs = []
            self.common(st, opts, errs)
            if "empty" in opts and os.listdir(self.host(words[1])):
                errs.append("holds %s" % sorted(os.listdir(self.host(words[1]))))
            if errs:
                self.fail(lineno, line, "; ".join(errs))
        elif kind == "symlink":
            if len(words) < 4 or words[2] != "->":
                raise Malformed("symlink PATH -> TARGET")
            opts = parse_opts(words[4:], {"uid", "gid"})
            st = self.lstat(words[1])
            if st is None or not stat.S_ISLNK(st.st_mode):
                return self.fail(lineno, line, "not a symlink" if st else "missing")
            errs = []
            self.common(st, opts, errs)
            target = os.readlink(self.host(words[1]))
            if target != words[3]:
                errs.append("target %r" % target)
            if errs:
                self.fail(lineno, line, "; ".join(errs))
        elif kind == "hardlink":
            if len(words) < 3:
                raise Malformed("hardlink PATH PATH...")
            sts = [self.lstat(p) for p in words[1:]]
            if any(s is None or not stat.S_ISREG(s.st_mode) for s in sts):
                return self.fail(lineno, line, "missing or not regular files")
            if len({(s.st_dev, s.st_ino) for s in sts}) != 1:
                self.fail(lineno, line, "different inodes")
        elif kind == "absent":
            if self.lstat(words[1]) is not None:
                self.fail(lineno, line, "exists")
        elif kind == "config":
            if self.config is None:
                raise Malformed("a config check in a case without an image")
            found, val = json_path(self.config, words[1])
            op = words[2] if len(words) > 2 else ""
            arg = words[3] if len(words) > 3 else ""
            if op == "=":
                ok = (not found or val is None) if arg == "null" else found and values_equal(val, arg)
            elif op == "!=":
                ok = not (found and values_equal(val, arg))
            elif op in ("contains", "lacks"):
                has = found and (
                    (isinstance(val, list) and arg in val)
                    or (isinstance(val, dict) and arg in val)
                    or (isinstance(val, str) and arg in val)
                )
                ok = has if op == "contains" else not has
            elif op == "absent":
                ok = not found or val in (None, [], {}, "")
            else:
                raise Malformed("config PATH (=|!=|contains|lacks|absent) VALUE")
            if not ok:
                self.fail(lineno, line, "actual: %s" % (json.dumps(val) if found else "(missing)"))
        elif kind == "history":
            if words[1:3] != ["count-nonempty", "="] or len(words) != 4:
                raise Malformed("history count-nonempty = N")
            hist = self.config.get("history", [])
            n = sum(1 for h in hist if not h.get("empty_layer"))
            if n != int(words[3]):
                self.fail(lineno, line, "%d non-empty entries" % n)
        elif kind == "exit":
            want = int(words[1])
            # buildah reports its own errors (not a RUN's) with status 125
            if self.builder == "buildah" and want == 1:
                want = 125
            if self.rc != want:
                self.fail(lineno, line, "the build exited with %s" % self.rc)
        elif kind == "error-contains":
            text = words[1] if len(words) > 1 else ""
            lines = [l for l in (self.stderr or "").splitlines() if l.strip()]
            last = lines[-1] if lines else ""
            if text not in last:
                self.fail(lineno, line, "last stderr line: %r" % last)
        else:
            raise Malformed("unknown check '%s'" % kind)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--expect", required=True)
    ap.add_argument("--builder", required=True, choices=["kiln", "buildah"])
    ap.add_argument("--rootfs")
    ap.add_argument("--config")
    ap.add_argument("--rc", type=int, default=0)
    ap.add_argument("--stderr")
    a = ap.parse_args()
    config = None
    if a.config:
        with open(a.config) as f:
            config = json.load(f)
    stderr = None
    if a.stderr:
        with open(a.stderr, errors="replace") as f:
            stderr = f.read()
    c = Checker(a.rootfs, config, a.rc, stderr, a.builder)
    n = 0
    with open(a.expect) as f:
        for lineno, raw in enumerate(f, 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            for b in ("kiln", "buildah"):
                if line.startswith(b + ":"):
                    if a.builder != b:
                        line = ""
                    else:
                        line = line[len(b) + 1 :].strip()
            if not line:
                continue
            try:
                c.run(lineno, line)
            except (Malformed, ValueError, IndexError) as e:
                print("expect:%d: malformed: %s: %s" % (lineno, line, e), file=sys.stderr)
                return 2
            n += 1
    for msg in c.failures:
        print("FAIL " + msg, file=sys.stderr)
    if n == 0:
        print("expect: no checks", file=sys.stderr)
        return 2
    print("%d checks, %d failed" % (n, len(c.failures)))
    return 1 if c.failures else 0


if __name__ == "__main__":
    sys.exit(main())
