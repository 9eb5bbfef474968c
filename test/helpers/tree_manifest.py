#!/usr/bin/env python3
"""Prints one JSON line per entry of a tree: everything a layer must keep (type, mode, owner, size,
content hash, link target, hardlink group, xattrs, device numbers, mtime). Names are hex-encoded
bytes so any name survives. Used by the round-trip tests to compare a source tree with its unpacked
image."""
import hashlib, json, os, stat, sys

root = os.fsencode(sys.argv[1])
skip_xattrs = {b"security.selinux"}
groups = {}
entries = []
for dirpath, dirnames, filenames in os.walk(root):
    dirnames.sort()
    for name in sorted(dirnames + filenames):
        path = os.path.join(dirpath, name)
        rel = os.path.relpath(path, root)
        st = os.lstat(path)
        mode = st.st_mode
        kind = ("dir" if stat.S_ISDIR(mode) else "file" if stat.S_ISREG(mode) else "symlink" if stat.S_ISLNK(mode)
                else "char" if stat.S_ISCHR(mode) else "block" if stat.S_ISBLK(mode) else "fifo" if stat.S_ISFIFO(mode)
                else "socket" if stat.S_ISSOCK(mode) else "other")
        e = {"path": rel.hex(), "name": rel.decode("utf-8", "replace"), "type": kind, "mode": oct(stat.S_IMODE(mode)),
             "uid": st.st_uid, "gid": st.st_gid}
        if kind == "file":
            h = hashlib.sha256()
            with open(path, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
            e["size"] = st.st_size
            e["sha256"] = h.hexdigest()
            e["mtime"] = int(st.st_mtime)
            if st.st_nlink > 1:
                groups.setdefault((st.st_dev, st.st_ino), []).append(rel)
        if kind == "symlink":
            e["target"] = os.readlink(path).hex()
        if kind in ("char", "block"):
            e["rdev"] = [os.major(st.st_rdev), os.minor(st.st_rdev)]
        try:
            names = sorted(n for n in os.listxattr(path, follow_symlinks=False) if os.fsencode(n) not in skip_xattrs)
            e["xattrs"] = {n: os.getxattr(path, n, follow_symlinks=False).hex() for n in names}
        except OSError:
            e["xattrs"] = {}
        entries.append(e)
# Hardlink groups, named by their first member, so two trees can be compared.
link_of = {}
for members in groups.values():
    if len(members) > 1:
        first = min(members)
        for m in members:
            link_of[m] = first.hex()
for e in entries:
    rel = bytes.fromhex(e["path"])
    if rel in link_of:
        e["hardlink_group"] = link_of[rel]
    print(json.dumps(e, sort_keys=True))
