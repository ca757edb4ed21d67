#!/usr/bin/env python3
"""tree.py: compare two unpacked image trees entry by entry.

Usage: tree.py [--exceptions FILE --case NAME] LEFT RIGHT

For every path in either tree: type, permission bits (incl. setuid/setgid/
sticky), uid, gid, sha256 of a regular file's content, a symlink's target,
a device's numbers, and hardlink groups (the set of paths sharing an inode
within the tree). Timestamps are ignored. Differences are printed one a
line as "PATH: what: LEFT != RIGHT"; exit 1 if any, 0 if none.

The exceptions file (test/build/equivalence-exceptions) holds lines
"CASE PATH REASON...": CASE is a case name or *, PATH an fnmatch pattern of
image paths (/etc/hosts, /run/*); a difference at a matching path is
reported as excepted and does not fail. # starts a comment.
"""

import argparse
import fnmatch
import hashlib
import os
import stat
import sys


def scan(root):
    entries = {}
    inodes = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            full = os.path.join(dirpath, name)
            rel = "/" + os.path.relpath(full, root)
            st = os.lstat(full)
            e = {
                "type": stat.S_IFMT(st.st_mode),
                "mode": "%04o" % stat.S_IMODE(st.st_mode),
                "uid": st.st_uid,
                "gid": st.st_gid,
            }
            if stat.S_ISREG(st.st_mode):
                h = hashlib.sha256()
                with open(full, "rb") as f:
                    for chunk in iter(lambda: f.read(1 << 20), b""):
                        h.update(chunk)
                e["sha256"] = h.hexdigest()
                if st.st_nlink > 1:
                    inodes.setdefault((st.st_dev, st.st_ino), []).append(rel)
            elif stat.S_ISLNK(st.st_mode):
                e["target"] = os.readlink(full)
            elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                e["rdev"] = "%d,%d" % (os.major(st.st_rdev), os.minor(st.st_rdev))
            entries[rel] = e
    for paths in inodes.values():
        if len(paths) > 1:
            group = " ".join(sorted(paths))
            for p in paths:
                entries[p]["hardlinks"] = group
    return entries


TYPES = {
    stat.S_IFREG: "file",
    stat.S_IFDIR: "dir",
    stat.S_IFLNK: "symlink",
    stat.S_IFCHR: "char device",
    stat.S_IFBLK: "block device",
    stat.S_IFIFO: "fifo",
    stat.S_IFSOCK: "socket",
}


def load_exceptions(path, case):
    rules = []
    if not path:
        return rules
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split(None, 2)
            if len(parts) < 3:
                sys.exit("%s: want 'CASE PATH REASON': %s" % (path, line))
            if parts[0] in ("*", case):
                rules.append((parts[1], parts[2]))
    return rules


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--exceptions")
    ap.add_argument("--case", default="")
    ap.add_argument("left")
    ap.add_argument("right")
    a = ap.parse_args()
    rules = load_exceptions(a.exceptions, a.case)
    left, right = scan(a.left), scan(a.right)
    bad = excepted = 0
    for path in sorted(set(left) | set(right)):
        diffs = []
        lv, rv = left.get(path), right.get(path)
        if lv is None or rv is None:
            diffs.append("only in %s" % (a.left if rv is None else a.right))
        else:
            for key in ("type", "mode", "uid", "gid", "sha256", "target", "rdev", "hardlinks"):
                if lv.get(key) != rv.get(key):
                    l, r = lv.get(key), rv.get(key)
                    if key == "type":
                        l, r = TYPES.get(l, l), TYPES.get(r, r)
                    diffs.append("%s: %s != %s" % (key, l, r))
        if not diffs:
            continue
        reason = next((why for pat, why in rules if fnmatch.fnmatchcase(path, pat)), None)
        for d in diffs:
            if reason:
                print("excepted %s: %s (%s)" % (path, d, reason))
            else:
                print("DIFF %s: %s" % (path, d))
        if reason:
            excepted += 1
        else:
            bad += 1
    print("%d entries compared, %d differ, %d excepted" % (len(set(left) | set(right)), bad, excepted))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
