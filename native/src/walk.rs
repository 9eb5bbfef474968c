//! Sorted, depth-first walk of a directory tree, like `tar --sort=name`: the names in each
//! directory in byte order, each directory followed by its contents before its next sibling.

use std::ffi::OsString;
use std::fs::{self, Metadata};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::Error;

/// One entry of the tree (never the root itself).
pub struct Entry {
    /// Path relative to the root, without leading `./` or `/` and without a trailing `/`.
    pub rel: Vec<u8>,
    /// Where the entry really is on disk (differs from root/rel for `usr/etc` written as `etc`).
    pub path: PathBuf,
    pub meta: Metadata,
}

pub struct WalkOptions<'a> {
    /// Write the tree's `usr/etc` as top-level `etc` (and not under `usr/`).
    pub usr_etc_as_etc: bool,
    /// (dev, ino) of a file to leave out (the output blob, if it lies inside the tree).
    pub skip: Option<(u64, u64)>,
    pub cancel: &'a AtomicBool,
}

struct Frame {
    /// rel path of the directory, with a trailing '/' (empty for the root).
    prefix: Vec<u8>,
    /// (name, on-disk path), sorted by name bytes.
    children: Vec<(OsString, PathBuf)>,
    next: usize,
}

fn list(dir: &Path) -> Result<Vec<(OsString, PathBuf)>, Error> {
    let rd = fs::read_dir(dir).map_err(|e| Error::io("cannot list directory", dir, &e))?;
    let mut out = Vec::new();
    for ent in rd {
        let ent = ent.map_err(|e| Error::io("cannot list directory", dir, &e))?;
        let name = ent.file_name();
        out.push((name.clone(), dir.join(&name)));
    }
    out.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    Ok(out)
}

/// Calls `f` for every entry under `root` in sorted depth-first order.
pub fn walk(
    root: &Path,
    opts: &WalkOptions,
    f: &mut dyn FnMut(Entry) -> Result<(), Error>,
) -> Result<(), Error> {
    let meta = fs::metadata(root).map_err(|e| Error::io("cannot read", root, &e))?;
    if !meta.is_dir() {
        return Err(Error::msg(format!("{} is not a directory", root.display())));
    }
    let mut top = list(root)?;
    let usr_etc = root.join("usr/etc");
    let rewrite = opts.usr_etc_as_etc && fs::symlink_metadata(&usr_etc).is_ok();
    if rewrite {
        if top.iter().any(|(n, _)| n.as_bytes() == b"etc") {
            return Err(Error::msg(format!(
                "{} has both etc and usr/etc; cannot write usr/etc as etc",
                root.display()
            )));
        }
        top.push((OsString::from("etc"), usr_etc));
        top.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    }
    let mut stack = vec![Frame {
        prefix: Vec::new(),
        children: top,
        next: 0,
    }];
    while let Some(frame) = stack.last_mut() {
        if opts.cancel.load(Ordering::Relaxed) {
            return Err(Error::Cancelled);
        }
        let Some((name, path)) = frame.children.get(frame.next).cloned() else {
            stack.pop();
            continue;
        };
        frame.next += 1;
        let mut rel = frame.prefix.clone();
        rel.extend_from_slice(name.as_bytes());
        let meta = fs::symlink_metadata(&path).map_err(|e| Error::io("cannot stat", &path, &e))?;
        if let Some(skip) = opts.skip {
            if (meta.dev(), meta.ino()) == skip {
                continue;
            }
        }
        let is_dir = meta.is_dir();
        f(Entry {
            rel: rel.clone(),
            path: path.clone(),
            meta,
        })?;
        if is_dir {
            let mut children = list(&path)?;
            if rewrite && rel == b"usr" {
                children.retain(|(n, _)| n.as_bytes() != b"etc");
            }
            rel.push(b'/');
            stack.push(Frame {
                prefix: rel,
                children,
                next: 0,
            });
        }
    }
    Ok(())
}
