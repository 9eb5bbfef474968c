//! Sorted, depth-first walk of a directory tree, like `tar --sort=name`: the names in each
//! directory in byte order, each directory followed by its contents before its next sibling.

use std::collections::HashSet;
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

/// The part of a tree one layer gets when a tree is split into several layers. Paths are tar
/// names: relative, no leading `/`, after the `usr/etc` -> `etc` rewrite.
#[derive(Debug)]
pub enum Selection {
    /// These entries, and the directories that lead to those found. Nothing else is even
    /// stat'ed, so a small layer of a big tree costs little more than its own files.
    Only {
        paths: HashSet<Vec<u8>>,
        parents: HashSet<Vec<u8>>,
    },
    /// Every entry but these; a directory among them is still written when something below it
    /// is.
    AllBut(HashSet<Vec<u8>>),
}

impl Selection {
    pub fn only(paths: impl IntoIterator<Item = Vec<u8>>) -> Self {
        let paths: HashSet<Vec<u8>> = paths.into_iter().collect();
        let mut parents = HashSet::new();
        for p in &paths {
            for (i, &b) in p.iter().enumerate() {
                if b == b'/' && i > 0 {
                    parents.insert(p[..i].to_vec());
                }
            }
        }
        Selection::Only { paths, parents }
    }

    pub fn all_but(paths: impl IntoIterator<Item = Vec<u8>>) -> Self {
        Selection::AllBut(paths.into_iter().collect())
    }
}

pub struct WalkOptions<'a> {
    /// Only part of the tree (one layer of several); None: all of it.
    pub select: Option<&'a Selection>,
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
    // Only-mode directories that lead to listed entries are written just before the first such
    // entry is found, so that a layer holds no directories leading nowhere: (depth, entry).
    let mut pending: Vec<(usize, Entry)> = Vec::new();
    while let Some(frame) = stack.last_mut() {
        if opts.cancel.load(Ordering::Relaxed) {
            return Err(Error::Cancelled);
        }
        let Some((name, path)) = frame.children.get(frame.next).cloned() else {
            stack.pop();
            if pending.last().map(|p| p.0) == Some(stack.len()) {
                pending.pop();
            }
            continue;
        };
        frame.next += 1;
        let mut rel = frame.prefix.clone();
        rel.extend_from_slice(name.as_bytes());
        // (listed itself, leads to listed entries) for a partial layer.
        let (listed, leads) = match opts.select {
            None => (true, true),
            Some(Selection::Only { paths, parents }) => {
                let (listed, leads) = (paths.contains(&rel), parents.contains(&rel));
                if !listed && !leads {
                    continue;
                }
                (listed, leads)
            }
            Some(Selection::AllBut(paths)) => (!paths.contains(&rel), true),
        };
        let meta = fs::symlink_metadata(&path).map_err(|e| Error::io("cannot stat", &path, &e))?;
        if let Some(skip) = opts.skip {
            if (meta.dev(), meta.ino()) == skip {
                continue;
            }
        }
        let is_dir = meta.is_dir();
        if !listed && !(is_dir && leads) {
            continue;
        }
        let entry = Entry {
            rel: rel.clone(),
            path: path.clone(),
            meta,
        };
        if listed {
            for (_, parent) in pending.drain(..) {
                f(parent)?;
            }
            f(entry)?;
        } else {
            pending.push((stack.len(), entry));
        }
        if is_dir && leads {
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
