//! A look at the whole tree before its layers are written (stat only, no file is read): the
//! size the tar will have, for progress, and the hardlink groups a split into layers must keep
//! together.
//!
//! A checkout hardlinks files whose content is equal (a licence text shipped by many packages,
//! say). Split by package, the members of such a group would land in different layers and each
//! layer would carry the content again; a layer cannot link into another. So a whole group goes
//! to the earliest layer that any member belongs to, and stays one file plus tar hardlinks.

use std::collections::hash_map::{Entry, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Mutex;

use crate::export;
use crate::ostree_repo::CommitSource;
use crate::walk::{self, WalkOptions};
use crate::Error;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct TreeScan {
    /// Entries of the tree (the root not counted).
    pub entries: u64,
    /// The tar stream's size as the export will write it, within a few headers per entry
    /// (PAX records and directories repeated in several layers are not counted).
    pub tar_bytes: u64,
    /// Per package layer: paths (absolute, one a line, as dpkg lists them) that must join it
    /// to keep their hardlink group in one layer. Empty strings when nothing moves.
    pub hardlink_moves: Vec<String>,
}

/// One entry of a hardlink group: its package layer, its tar name (a range of the names arena)
/// and the next member of its group. Names live in one arena, not a Vec each: a checkout links
/// every file to the repository, so every file is recorded (~220k on a big tree).
struct Member {
    layer: u32,
    next: u32,
    name: std::ops::Range<usize>,
}

const NO_MEMBER: u32 = u32::MAX;

/// Scans `root` as the export will walk it, leaving out `skip_paths` as it does. `lists` and
/// `links` are a split's package layers (see [`walk::Selection::for_layers`]); empty for one layer.
pub fn scan_tree(
    root: &Path,
    commit: Option<&CommitSource>,
    usr_etc_as_etc: bool,
    skip_paths: &[PathBuf],
    lists: &[String],
    links: &[(Vec<u8>, Vec<u8>)],
    cancel: &AtomicBool,
) -> Result<TreeScan, Error> {
    let split = !lists.is_empty();
    let layer_of = walk::layers_of_listed(lists, links);
    let rest = lists.len() as u32;
    struct Seen {
        names: Vec<u8>,
        members: Vec<Member>,
        // (dev, ino) of every multiply-linked entry -> (first, last) of its members.
        groups: HashMap<(u64, u64), (u32, u32)>,
        scan: TreeScan,
    }
    let seen = Mutex::new(Seen {
        names: Vec::new(),
        members: Vec::new(),
        groups: HashMap::new(),
        scan: TreeScan::default(),
    });
    let opts = WalkOptions {
        select: None,
        usr_etc_as_etc,
        skip: &crate::export::skip_ids(skip_paths),
        cancel,
        commit,
    };
    // The stat calls are most of the time: a thread per core (at most 4) lists and stats
    // directories from one queue (two cores: ~100 -> ~60 ms for the bench's 25k entries). Nothing below depends on the order the
    // entries come in: sums, and groups whose moves are sorted at the end.
    let added = walk::walk_unordered(root, &opts, export::default_threads().min(4), &|ent| {
        let mut guard = seen.lock().expect("scan state");
        let Seen {
            names,
            members,
            groups,
            scan,
        } = &mut *guard;
        scan.entries += 1;
        scan.tar_bytes += 512;
        let m = &ent.meta;
        let mut first_of_inode = true;
        if !m.is_dir() && m.nlink > 1 {
            let member = if split {
                let start = names.len();
                names.extend_from_slice(&ent.rel);
                members.push(Member {
                    layer: layer_of.get(&walk::path_key(&ent.rel)).copied().unwrap_or(rest),
                    next: NO_MEMBER,
                    name: start..names.len(),
                });
                members.len() as u32 - 1
            } else {
                NO_MEMBER
            };
            match groups.entry((m.dev, m.ino)) {
                Entry::Occupied(mut e) => {
                    first_of_inode = false;
                    if split {
                        members[e.get().1 as usize].next = member;
                        e.get_mut().1 = member;
                    }
                }
                Entry::Vacant(e) => {
                    e.insert((member, member));
                }
            }
        }
        if m.is_file() && first_of_inode {
            scan.tar_bytes += m.size.div_ceil(512) * 512;
        }
        Ok(())
    });
    if let Err(e) = added {
        // Which error a parallel walk meets first depends on timing: report the one the
        // export's sorted walk meets, as it would.
        if e != Error::Cancelled {
            walk::walk(root, &opts, &mut |_| Ok(()))?;
        }
        return Err(e);
    }
    let Seen {
        names,
        members,
        groups,
        mut scan,
    } = seen.into_inner().expect("scan state");
    scan.tar_bytes += 1024;
    let mut moves: Vec<Vec<&str>> = vec![Vec::new(); lists.len()];
    for &(first, last) in groups.values().filter(|(first, last)| first != last) {
        let chain =
            || std::iter::successors(Some(&members[first as usize]), |m| members.get(m.next as usize));
        let target = chain().map(|m| m.layer).min().unwrap_or(rest);
        for m in chain() {
            // A name that is not UTF-8 or holds a newline cannot be a list line: that member
            // stays where it is, written as a copy.
            match std::str::from_utf8(&names[m.name.clone()]) {
                Ok(text) if m.layer != target && !text.contains('\n') => moves[target as usize].push(text),
                _ => {}
            }
        }
        debug_assert!(members[last as usize].next == NO_MEMBER);
    }
    // Sorted, so the same tree always gives the same lists.
    scan.hardlink_moves = moves
        .into_iter()
        .map(|mut names| {
            names.sort_unstable();
            names.iter().map(|n| format!("/{n}\n")).collect()
        })
        .collect();
    Ok(scan)
}
