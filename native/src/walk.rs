//! Sorted, depth-first walk of a directory tree, like `tar --sort=name`: the names in each
//! directory in byte order, each directory followed by its contents before its next sibling.

use std::collections::{HashMap, HashSet};
use std::fs::{self, Metadata};
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex};

use crate::export::{corrupt_object, get_xattr, keep_xattrs, Xattrs};
use crate::ostree_repo::{
    archive_header_len, parse_archive_header, parse_dirmeta, CommitSource, RepoMode, StoredFile, TreeRef,
    ARCHIVE_HEADER_GUESS,
};
use crate::Error;

/// One entry of the tree (never the root itself).
pub struct Entry {
    /// Path relative to the root, without leading `./` or `/` and without a trailing `/`.
    pub rel: Vec<u8>,
    /// Where the entry really is: on disk (differs from root/rel for `usr/etc` written as
    /// `etc`), or its object in a repository (for a commit's directory, the dirtree object,
    /// named in messages only).
    pub path: PathBuf,
    pub meta: Stat,
    /// Xattrs from the repository's metadata (a commit's directories; files of bare-user and
    /// archive repositories); None: read them from `path`.
    pub xattrs: Option<Xattrs>,
    /// A symlink's target from the repository's metadata; None: read the link at `path`.
    pub symlink: Option<Vec<u8>>,
    /// The content is raw deflate from this offset of `path` (an archive repository's object).
    pub deflated_at: Option<u64>,
}

/// What the export needs of an entry's inode: from lstat, or from a commit directory's dirmeta.
#[derive(Clone, Copy, Debug, Default)]
pub struct Stat {
    /// st_mode, type bits included.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub mtime: i64,
    pub rdev: u64,
    pub nlink: u64,
    pub dev: u64,
    pub ino: u64,
    /// 512-byte blocks allocated (fewer than the size needs: a sparse file).
    pub blocks: u64,
}

impl Stat {
    pub fn of(m: &Metadata) -> Stat {
        Stat {
            mode: m.mode(),
            uid: m.uid(),
            gid: m.gid(),
            size: m.size(),
            mtime: m.mtime(),
            rdev: m.rdev(),
            nlink: m.nlink(),
            dev: m.dev(),
            ino: m.ino(),
            blocks: m.blocks(),
        }
    }

    fn is(&self, kind: libc::mode_t) -> bool {
        self.mode & libc::S_IFMT == kind
    }
    pub fn is_dir(&self) -> bool {
        self.is(libc::S_IFDIR)
    }
    pub fn is_file(&self) -> bool {
        self.is(libc::S_IFREG)
    }
    pub fn is_symlink(&self) -> bool {
        self.is(libc::S_IFLNK)
    }
    pub fn is_char_device(&self) -> bool {
        self.is(libc::S_IFCHR)
    }
    pub fn is_block_device(&self) -> bool {
        self.is(libc::S_IFBLK)
    }
    pub fn is_fifo(&self) -> bool {
        self.is(libc::S_IFIFO)
    }
}

/// A path as a 128-bit key: two SipHash-1-3 sums with fixed keys. A tree's path lists are held
/// as keys (16 bytes each instead of ~120 for a set of byte strings: 7 instead of 27 MB for a
/// 220k-file tree); two paths would need a 2^-128-scale coincidence to share one.
pub fn path_key(path: &[u8]) -> u128 {
    use std::hash::Hasher;
    let mut a = std::hash::DefaultHasher::new();
    a.write(path);
    let mut b = std::hash::DefaultHasher::new();
    b.write_u8(0x5a);
    b.write(path);
    ((a.finish() as u128) << 64) | b.finish() as u128
}

/// Hashes a key that is already a hash: its low 64 bits.
#[derive(Default)]
pub struct KeyHasher(u64);

impl std::hash::Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ b as u64;
        }
    }
    fn write_u128(&mut self, v: u128) {
        self.0 = v as u64;
    }
}

pub type KeySet = HashSet<u128, std::hash::BuildHasherDefault<KeyHasher>>;

/// The package layer of each listed path, by key.
pub type LayerOf = HashMap<u128, u32, std::hash::BuildHasherDefault<KeyHasher>>;

/// Which package layer each path the lists hold belongs to: the first listing it (as
/// [`Selection::for_layers`] decides).
pub fn layers_of_listed(lists: &[String], links: &[(Vec<u8>, Vec<u8>)]) -> LayerOf {
    let mut layer_of = LayerOf::default();
    let mut name = Vec::new();
    for (index, list) in lists.iter().enumerate() {
        for line in list.as_bytes().split(|&b| b == b'\n') {
            if tar_name_into(line, links, &mut name) {
                layer_of.entry(path_key(&name)).or_insert(index as u32);
            }
        }
    }
    layer_of
}

/// The part of a tree one layer gets when a tree is split into several layers. Paths are tar
/// names: relative, no leading `/`, after the `usr/etc` -> `etc` rewrite.
#[derive(Debug)]
pub enum Selection {
    /// These entries, and the directories that lead to those found. Nothing else is even
    /// stat'ed, so a small layer of a big tree costs little more than its own files.
    Only { paths: KeySet, parents: KeySet },
    /// Every entry but these; a directory among them is still written when something below it
    /// is.
    AllBut(KeySet),
}

impl Selection {
    pub fn only(paths: impl IntoIterator<Item = Vec<u8>>) -> Self {
        let (mut keys, mut parents) = (KeySet::default(), KeySet::default());
        for p in paths {
            insert_with_parents(&p, path_key(&p), &mut keys, &mut parents);
        }
        Selection::Only { paths: keys, parents }
    }

    pub fn all_but(paths: impl IntoIterator<Item = Vec<u8>>) -> Self {
        Selection::AllBut(paths.into_iter().map(|p| path_key(&p)).collect())
    }

    /// The layers of a tree split by package, in one pass over the lists. `lists[i]` holds the
    /// paths of package layer i as dpkg lists them (absolute, one a line); a path belongs to the
    /// first layer listing it. One selection per list, then the last layer: everything no list
    /// holds. `links` maps top-level names the lists use to where the tree has them (merged
    /// /usr: "lib" -> "usr/lib").
    pub fn for_layers(lists: &[String], links: &[(Vec<u8>, Vec<u8>)]) -> Vec<Self> {
        let mut only: Vec<(KeySet, KeySet)> = lists.iter().map(|_| Default::default()).collect();
        let mut listed = KeySet::default();
        // Keys straight from the lines, through one reused buffer: a big tree lists hundreds of
        // thousands of paths.
        let mut name = Vec::new();
        for (list, (paths, parents)) in lists.iter().zip(&mut only) {
            for line in list.as_bytes().split(|&b| b == b'\n') {
                if !tar_name_into(line, links, &mut name) {
                    continue;
                }
                let key = path_key(&name);
                if listed.insert(key) {
                    insert_with_parents(&name, key, paths, parents);
                }
            }
        }
        only.into_iter()
            .map(|(paths, parents)| Selection::Only { paths, parents })
            .chain([Selection::AllBut(listed)])
            .collect()
    }
}

/// Adds `key` (of `path`) to `paths` and those of the directories leading to it to `parents`.
fn insert_with_parents(path: &[u8], key: u128, paths: &mut KeySet, parents: &mut KeySet) {
    paths.insert(key);
    for (i, &b) in path.iter().enumerate() {
        if b == b'/' && i > 0 {
            parents.insert(path_key(&path[..i]));
        }
    }
}

/// Puts the tar name of a path as dpkg lists it ("/lib/x" -> "usr/lib/x" through `links`) into
/// a reused buffer; false for the root and empty lines.
fn tar_name_into(listed: &[u8], links: &[(Vec<u8>, Vec<u8>)], name: &mut Vec<u8>) -> bool {
    let (Some(start), Some(last)) = (
        listed.iter().position(|&b| b != b'/'),
        listed.iter().rposition(|&b| b != b'/'),
    ) else {
        return false;
    };
    let rel = &listed[start..=last];
    if rel == b"." {
        return false;
    }
    let first = rel.iter().position(|&b| b == b'/').unwrap_or(rel.len());
    name.clear();
    match links.iter().find(|(n, _)| n.as_slice() == &rel[..first]) {
        Some((_, target)) => {
            name.extend_from_slice(target);
            name.extend_from_slice(&rel[first..]);
        }
        None => name.extend_from_slice(rel),
    }
    true
}

/// Whether `name` (a path's last component) is one that image tools read as a whiteout, not as a
/// file: `.wh.NAME` deletes NAME of the layers below, `.wh..wh..opq` a directory's contents.
pub fn is_whiteout_name(name: &[u8]) -> bool {
    name.starts_with(b".wh.")
}

/// Filesystems of the kernel's own (statfs f_type), whose contents describe the running host, not
/// the tree: a chroot in use has /proc, /sys, /dev/pts mounted, and walking them fails or copies
/// the host's state into the image.
const KERNEL_FILESYSTEMS: &[(i64, &str)] = &[
    (0x9fa0, "proc"),
    (0x6265_6572, "sysfs"),
    (0x1cd1, "devpts"),
    (0x0027_e0eb, "cgroup"),
    (0x6367_7270, "cgroup2"),
    (0x7363_6673, "securityfs"),
    (0x6462_6720, "debugfs"),
    (0x7472_6163, "tracefs"),
    (0xcafe_4a11, "bpf"),
    (0x6165_676c, "pstore"),
    (0xde5e_81e4, "efivarfs"),
    (0x1980_0202, "mqueue"),
    (0x4249_4e4d, "binfmt_misc"),
    (0x6573_5543, "fusectl"),
    (0x6265_6570, "configfs"),
];

/// For a directory that is a mount point inside the tree (`dev` is not the tree root's,
/// `root_dev`): the kind of kernel filesystem mounted there, whose contents are left out; None
/// for anything else (a tmpfs or a disk mounted into the tree is walked as part of it). A mount
/// on the tree's top-level `dev` counts as the host's devices whatever its type (devtmpfs is a tmpfs).
pub fn kernel_mount(root_dev: Option<u64>, rel: &[u8], path: &Path, meta: &Stat) -> Option<&'static str> {
    if !meta.is_dir() || root_dev.map_or(true, |d| d == meta.dev) {
        return None;
    }
    if rel == b"dev" {
        return Some("devices");
    }
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).ok()?;
    let mut fs: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: statfs writes into the struct given; the path is a valid C string.
    if unsafe { libc::statfs(c.as_ptr(), &mut fs) } != 0 {
        return None;
    }
    let kind = fs.f_type as i64;
    KERNEL_FILESYSTEMS
        .iter()
        .find(|(magic, _)| *magic == kind)
        .map(|(_, name)| *name)
}

/// The device of the walked directory (None for a commit: no mounts there), for [`kernel_mount`].
pub fn root_device(root: &Path, opts: &WalkOptions) -> Option<u64> {
    match opts.commit {
        Some(_) => None,
        None => fs::metadata(root).ok().map(|m| m.dev()),
    }
}

pub struct WalkOptions<'a> {
    /// Only part of the tree (one layer of several); None: all of it.
    pub select: Option<&'a Selection>,
    /// Write the tree's `usr/etc` as top-level `etc` (and not under `usr/`).
    pub usr_etc_as_etc: bool,
    /// (dev, ino) of entries to leave out, a directory with all below it: what the export is
    /// writing, should that lie inside the tree.
    pub skip: &'a [(u64, u64)],
    pub cancel: &'a AtomicBool,
    /// Walk this commit of the repository `root` (bare, bare-user or archive) instead of the
    /// directory `root`.
    pub commit: Option<&'a CommitSource>,
}

/// Where a child's content and children are: a path (a directory's entry, or a file object of a
/// repository), or a commit's directory.
#[derive(Clone)]
enum Node {
    /// `not_dir`: the directory listing says it is no directory, so a layer that leaves it out
    /// need not stat it.
    Fs {
        path: PathBuf,
        not_dir: bool,
    },
    Tree(TreeRef),
    /// A file object of a bare-user or archive repository (its metadata is not its inode's).
    Object(PathBuf),
}

/// A directory's entries, (name, node) sorted by name bytes.
type Children = Vec<(Vec<u8>, Node)>;

/// What `stat_of` gives beyond the Stat.
#[derive(Default)]
struct Stored {
    xattrs: Option<Xattrs>,
    symlink: Option<Vec<u8>>,
    deflated_at: Option<u64>,
}

impl Stored {
    fn entry(self, rel: Vec<u8>, path: PathBuf, meta: Stat) -> Entry {
        Entry {
            rel,
            path,
            meta,
            xattrs: self.xattrs,
            symlink: self.symlink,
            deflated_at: self.deflated_at,
        }
    }
}

struct Frame {
    /// rel path of the directory, with a trailing '/' (empty for the root).
    prefix: Vec<u8>,
    /// (name, node) still to visit, sorted by name bytes.
    children: std::vec::IntoIter<(Vec<u8>, Node)>,
}

fn list(dir: &Path) -> Result<Children, Error> {
    let rd = fs::read_dir(dir).map_err(|e| Error::io("cannot list directory", dir, &e))?;
    let mut out = Vec::new();
    for ent in rd {
        let ent = ent.map_err(|e| Error::io("cannot list directory", dir, &e))?;
        let name = ent.file_name();
        // d_type, from the listing itself (no stat); unknown counts as maybe a directory.
        let not_dir = ent.file_type().is_ok_and(|t| !t.is_dir());
        out.push((
            name.as_bytes().to_vec(),
            Node::Fs {
                path: dir.join(&name),
                not_dir,
            },
        ));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

fn list_tree(src: &CommitSource, tree: &TreeRef) -> Result<Children, Error> {
    let t = src.dirtree(&tree.contents)?;
    let mut out: Children = t
        .files
        .into_iter()
        .map(|(name, cs)| {
            let path = src.file_path(&cs);
            (
                name,
                if src.mode == RepoMode::Bare {
                    Node::Fs { path, not_dir: true }
                } else {
                    Node::Object(path)
                },
            )
        })
        .chain(t.dirs.into_iter().map(|(name, r)| (name, Node::Tree(r))))
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

fn children_of(node: &Node, commit: Option<&CommitSource>) -> Result<Children, Error> {
    match (node, commit) {
        (Node::Tree(t), Some(src)) => list_tree(src, t),
        (Node::Fs { path, .. }, _) => list(path),
        (Node::Tree(_), None) | (Node::Object(_), _) => Err(Error::Pipeline),
    }
}

/// A file of a commit stands for as many paths as the commit has for its object: a hardlink
/// checkout links them, and so does the tar, whatever the object's link count (other checkouts
/// add to it). But ostree checks out empty files as copies (unrelated lock files are not one
/// inode), and so does this.
fn commit_file_nlink(stat: &Stat) -> u64 {
    if stat.is_file() && stat.size == 0 {
        1
    } else {
        2
    }
}

/// A bare-user, bare-user-only or archive file object: metadata from its xattr, itself or its
/// header, identity (dev, ino) from the object file.
fn stat_object(path: &Path, mode: RepoMode) -> Result<(Stat, Stored), Error> {
    if mode == RepoMode::BareUserOnly {
        return stat_user_only_object(path);
    }
    let corrupt = |why: &str| corrupt_object(path, why);
    let mut file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| Error::io("cannot open", path, &e))?;
    let m = file.metadata().map_err(|e| Error::io("cannot stat", path, &e))?;
    // What the repository says of the file, and where an archive object's content starts.
    let (stored, content_offset) = match mode {
        RepoMode::Archive => {
            let mut header = vec![0u8; ARCHIVE_HEADER_GUESS];
            let n = read_full(&mut file, &mut header).map_err(|e| Error::io("cannot read", path, &e))?;
            header.truncate(n);
            let len = archive_header_len(&header).ok_or_else(|| corrupt("bad header size"))?;
            if len > header.len() {
                header.resize(len, 0);
                let more =
                    read_full(&mut file, &mut header[n..]).map_err(|e| Error::io("cannot read", path, &e))?;
                if n + more < len {
                    return Err(corrupt("header cut short"));
                }
            }
            let stored = parse_archive_header(&header).ok_or_else(|| corrupt("bad header"))?;
            let offset = stored.content_offset;
            (stored, Some(offset))
        }
        RepoMode::BareUser => {
            let meta = get_xattr(path, c"user.ostreemeta")?.ok_or_else(|| corrupt("no user.ostreemeta"))?;
            let meta = parse_dirmeta(&meta).ok_or_else(|| corrupt("bad user.ostreemeta"))?;
            let is_link = meta.mode & libc::S_IFMT == libc::S_IFLNK;
            let symlink = if is_link {
                let mut target = Vec::new();
                file.read_to_end(&mut target)
                    .map_err(|e| Error::io("cannot read", path, &e))?;
                // Stored as a C string.
                if target.last() == Some(&0) {
                    target.pop();
                }
                Some(target)
            } else {
                None
            };
            let stored = StoredFile {
                uid: meta.uid,
                gid: meta.gid,
                mode: meta.mode,
                size: if is_link { 0 } else { m.size() },
                symlink,
                xattrs: meta.xattrs,
                content_offset: 0,
            };
            (stored, None)
        }
        RepoMode::Bare | RepoMode::BareUserOnly => return Err(Error::Pipeline),
    };
    let kind = stored.mode & libc::S_IFMT;
    if kind != libc::S_IFREG && kind != libc::S_IFLNK {
        return Err(corrupt("neither a regular file nor a symlink"));
    }
    let mut stat = Stat {
        mode: stored.mode,
        uid: stored.uid,
        gid: stored.gid,
        size: if kind == libc::S_IFREG { stored.size } else { 0 },
        dev: m.dev(),
        ino: m.ino(),
        // A bare-user object's own allocation (holes are read as holes); archive content is
        // inflated, never read sparse.
        blocks: m.blocks(),
        ..Stat::default()
    };
    stat.nlink = commit_file_nlink(&stat);
    let extra = Stored {
        xattrs: Some(keep_xattrs(stored.xattrs)),
        symlink: stored.symlink,
        deflated_at: content_offset.filter(|_| kind == libc::S_IFREG),
    };
    Ok((stat, extra))
}

/// A bare-user-only file object: the file (or symlink) itself, owned by 0:0 whoever wrote it
/// (the commit says so: such repositories keep no owner) and without xattrs. An `ostree checkout`
/// by root gives the same, but with the object's owner on files.
fn stat_user_only_object(path: &Path) -> Result<(Stat, Stored), Error> {
    let m = fs::symlink_metadata(path).map_err(|e| Error::io("cannot stat", path, &e))?;
    let symlink = if m.file_type().is_symlink() {
        let target = fs::read_link(path).map_err(|e| Error::io("cannot read", path, &e))?;
        Some(target.as_os_str().as_bytes().to_vec())
    } else if m.file_type().is_file() {
        None
    } else {
        return Err(corrupt_object(path, "neither a regular file nor a symlink"));
    };
    let mut stat = Stat::of(&m);
    stat.uid = 0;
    stat.gid = 0;
    if symlink.is_some() {
        stat.size = 0;
    }
    stat.nlink = commit_file_nlink(&stat);
    let stored = Stored {
        xattrs: Some(Vec::new()),
        symlink,
        deflated_at: None,
    };
    Ok((stat, stored))
}

/// Reads until `buf` is full or the file ends; the count read.
pub(crate) fn read_full(file: &mut fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// The stat of a child, and what the repository's metadata says beyond it.
fn stat_of(node: &Node, commit: Option<&CommitSource>) -> Result<(PathBuf, Stat, Stored), Error> {
    match (node, commit) {
        (Node::Fs { path: p, .. }, _) => {
            let m = fs::symlink_metadata(p).map_err(|e| Error::io("cannot stat", p, &e))?;
            let mut stat = Stat::of(&m);
            if commit.is_some() && !stat.is_dir() {
                stat.nlink = commit_file_nlink(&stat);
            }
            Ok((p.clone(), stat, Stored::default()))
        }
        (Node::Object(p), Some(src)) => {
            let (stat, stored) = stat_object(p, src.mode)?;
            Ok((p.clone(), stat, stored))
        }
        (Node::Tree(t), Some(src)) => {
            let meta = src.dirmeta(&t.meta)?;
            let stat = Stat {
                mode: meta.mode,
                uid: meta.uid,
                gid: meta.gid,
                nlink: 1,
                ..Stat::default()
            };
            let path = src.object_path(&t.contents, "dirtree");
            let xattrs = Some(keep_xattrs(meta.xattrs.clone()));
            Ok((
                path,
                stat,
                Stored {
                    xattrs,
                    ..Stored::default()
                },
            ))
        }
        (Node::Tree(_) | Node::Object(_), None) => Err(Error::Pipeline),
    }
}

/// The root's children as the walk sees them (with `usr/etc` as `etc` if asked), and whether
/// `usr/etc` is written as `etc` (then `usr`'s own `etc` child is left out).
fn top_level(root: &Path, opts: &WalkOptions) -> Result<(Children, bool), Error> {
    let (mut top, usr_etc) = match opts.commit {
        None => {
            let meta = fs::metadata(root).map_err(|e| Error::io("cannot read", root, &e))?;
            if !meta.is_dir() {
                return Err(Error::msg(format!("{} is not a directory", root.display())));
            }
            let usr_etc = root.join("usr/etc");
            let found = fs::symlink_metadata(&usr_etc).is_ok();
            let usr_etc = found.then_some(Node::Fs {
                path: usr_etc,
                not_dir: false,
            });
            (list(root)?, usr_etc)
        }
        Some(src) => {
            let top = list_tree(src, &src.root)?;
            let mut usr_etc = None;
            if let Some((_, Node::Tree(usr))) = top.iter().find(|(n, _)| n == b"usr") {
                let usr = src.dirtree(&usr.contents)?;
                usr_etc = usr
                    .dirs
                    .into_iter()
                    .find(|(n, _)| n == b"etc")
                    .map(|(_, r)| Node::Tree(r));
            }
            (top, usr_etc)
        }
    };
    let rewrite = opts.usr_etc_as_etc && usr_etc.is_some();
    if rewrite {
        if top.iter().any(|(n, _)| n == b"etc") {
            return Err(Error::msg(format!(
                "{} has both etc and usr/etc; cannot write usr/etc as etc",
                root.display()
            )));
        }
        top.push((b"etc".to_vec(), usr_etc.expect("checked")));
        top.sort_by(|a, b| a.0.cmp(&b.0));
    }
    Ok((top, rewrite))
}

/// The children of directory `rel` (its `node`), as the walk descends into them.
fn children_for_walk(rel: &[u8], node: &Node, opts: &WalkOptions, rewrite: bool) -> Result<Children, Error> {
    let mut children = children_of(node, opts.commit)?;
    if rewrite && rel == b"usr" {
        children.retain(|(n, _)| n != b"etc");
    }
    Ok(children)
}

/// Calls `f` for every entry under `root` (or of the commit `opts.commit`) in sorted depth-first
/// order.
pub fn walk(
    root: &Path,
    opts: &WalkOptions,
    f: &mut dyn FnMut(Entry) -> Result<(), Error>,
) -> Result<(), Error> {
    let (top, rewrite) = top_level(root, opts)?;
    let root_dev = root_device(root, opts);
    let mut stack = vec![Frame {
        prefix: Vec::new(),
        children: top.into_iter(),
    }];
    // Only-mode directories that lead to listed entries are written just before the first such
    // entry is found, so that a layer holds no directories leading nowhere: (depth, entry).
    let mut pending: Vec<(usize, Entry)> = Vec::new();
    while let Some(frame) = stack.last_mut() {
        if opts.cancel.load(Ordering::Relaxed) {
            return Err(Error::Cancelled);
        }
        let Some((name, node)) = frame.children.next() else {
            stack.pop();
            if pending.last().map(|p| p.0) == Some(stack.len()) {
                pending.pop();
            }
            continue;
        };
        let mut rel = frame.prefix.clone();
        rel.extend_from_slice(&name);
        // (listed itself, leads to listed entries) for a partial layer.
        let (listed, leads) = match opts.select {
            None => (true, true),
            Some(Selection::Only { paths, parents }) => {
                let key = path_key(&rel);
                let (listed, leads) = (paths.contains(&key), parents.contains(&key));
                if !listed && !leads {
                    continue;
                }
                (listed, leads)
            }
            Some(Selection::AllBut(paths)) => {
                let listed = !paths.contains(&path_key(&rel));
                if !listed && matches!(node, Node::Fs { not_dir: true, .. }) {
                    // Left out, and no directory that could lead to something written.
                    continue;
                }
                (listed, true)
            }
        };
        let (path, meta, stored) = stat_of(&node, opts.commit)?;
        if opts.skip.contains(&(meta.dev, meta.ino)) {
            continue;
        }
        // Nothing below a whiteout's name is walked (the export leaves the name out), nor below a
        // kernel filesystem's mount point (the directory stays, empty).
        let descend = meta.is_dir()
            && leads
            && !is_whiteout_name(&name)
            && kernel_mount(root_dev, &rel, &path, &meta).is_none();
        if !(listed || descend) {
            continue;
        }
        let entry = stored.entry(rel.clone(), path, meta);
        if listed {
            for (_, parent) in pending.drain(..) {
                f(parent)?;
            }
            f(entry)?;
        } else {
            pending.push((stack.len(), entry));
        }
        if descend {
            let children = children_for_walk(&rel, &node, opts, rewrite)?;
            rel.push(b'/');
            stack.push(Frame {
                prefix: rel,
                children: children.into_iter(),
            });
        }
    }
    Ok(())
}

/// Calls `f` for every entry under `root` (or of the commit `opts.commit`), as [`walk`] would
/// but in no particular order, on `threads` threads that share a queue of directories: for a
/// pass that only adds up what it sees (the stat-only scan before a split), where the stat calls
/// are most of the time. `opts.select` must be None. On an error the entries seen are partial and
/// which error is returned may depend on timing: run [`walk`] for the one it gives.
pub fn walk_unordered(
    root: &Path,
    opts: &WalkOptions,
    threads: usize,
    f: &(dyn Fn(Entry) -> Result<(), Error> + Sync),
) -> Result<(), Error> {
    debug_assert!(opts.select.is_none(), "an unordered walk takes no selection");
    let (top, rewrite) = top_level(root, opts)?;
    let root_dev = root_device(root, opts);
    // Directories still to list and how many workers are inside one; the first error.
    struct Queue {
        dirs: Vec<(Vec<u8>, Children)>,
        busy: usize,
        error: Option<Error>,
    }
    let queue = Mutex::new(Queue {
        dirs: vec![(Vec::new(), top)],
        busy: 0,
        error: None,
    });
    let wake = Condvar::new();
    let one_directory = |prefix: Vec<u8>, children: Children| -> Result<(), Error> {
        for (name, node) in children {
            if opts.cancel.load(Ordering::Relaxed) {
                return Err(Error::Cancelled);
            }
            let mut rel = prefix.clone();
            rel.extend_from_slice(&name);
            let (path, meta, stored) = stat_of(&node, opts.commit)?;
            if opts.skip.contains(&(meta.dev, meta.ino)) {
                continue;
            }
            let children = if meta.is_dir()
                && !is_whiteout_name(&name)
                && kernel_mount(root_dev, &rel, &path, &meta).is_none()
            {
                Some(children_for_walk(&rel, &node, opts, rewrite)?)
            } else {
                None
            };
            f(stored.entry(rel.clone(), path, meta))?;
            if let Some(children) = children {
                rel.push(b'/');
                queue.lock().expect("walk queue").dirs.push((rel, children));
                wake.notify_one();
            }
        }
        Ok(())
    };
    let worker = || loop {
        let mut q = queue.lock().expect("walk queue");
        let (prefix, children) = loop {
            if q.error.is_some() {
                return;
            }
            if let Some(dir) = q.dirs.pop() {
                break dir;
            }
            if q.busy == 0 {
                // Nothing queued and nobody listing: done.
                wake.notify_all();
                return;
            }
            q = wake.wait(q).expect("walk queue");
        };
        q.busy += 1;
        drop(q);
        let res = one_directory(prefix, children);
        let mut q = queue.lock().expect("walk queue");
        q.busy -= 1;
        if let Err(e) = res {
            q.error.get_or_insert(e);
        }
        if q.busy == 0 || q.error.is_some() {
            wake.notify_all();
        }
    };
    std::thread::scope(|s| {
        for _ in 1..threads.max(1) {
            s.spawn(worker);
        }
        worker();
    });
    match queue.into_inner().expect("walk queue").error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn links() -> Vec<(Vec<u8>, Vec<u8>)> {
        vec![
            (b"lib".to_vec(), b"usr/lib".to_vec()),
            (b"bin".to_vec(), b"usr/bin".to_vec()),
        ]
    }

    #[test]
    fn tar_names_of_dpkg_paths() {
        let l = links();
        let t = |s: &str| {
            let mut name = Vec::new();
            tar_name_into(s.as_bytes(), &l, &mut name).then(|| String::from_utf8(name).unwrap())
        };
        assert_eq!(
            t("/lib/x86_64-linux-gnu/libc.so.6").as_deref(),
            Some("usr/lib/x86_64-linux-gnu/libc.so.6")
        );
        assert_eq!(t("/bin").as_deref(), Some("usr/bin"));
        assert_eq!(t("/library/x").as_deref(), Some("library/x"));
        assert_eq!(t("/etc/passwd/").as_deref(), Some("etc/passwd"));
        assert_eq!(t("/."), None);
        assert_eq!(t(""), None);
        assert_eq!(t("/"), None);
    }

    #[test]
    fn layers_from_lists_first_wins() {
        let lists = vec![
            "/.\n/usr\n/usr/share/big/data\n".to_string(),
            "/.\n/lib/libc.so.6\n/usr/share/big/data\n/usr/share/zoneinfo/UTC".to_string(),
        ];
        let l = links();
        let has = |s: &Selection, p: &str| match s {
            Selection::Only { paths, .. } => paths.contains(&path_key(p.as_bytes())),
            Selection::AllBut(paths) => !paths.contains(&path_key(p.as_bytes())),
        };
        let mut layers = Selection::for_layers(&lists, &l).into_iter();
        let first = layers.next().unwrap();
        assert!(has(&first, "usr/share/big/data") && has(&first, "usr") && !has(&first, "usr/lib/libc.so.6"));
        let second = layers.next().unwrap();
        assert!(has(&second, "usr/lib/libc.so.6") && has(&second, "usr/share/zoneinfo/UTC"));
        assert!(!has(&second, "usr/share/big/data"), "listed by layer 0 first");
        let Selection::Only { parents, .. } = &second else {
            panic!()
        };
        assert!(
            parents.contains(&path_key(b"usr/lib")) && parents.contains(&path_key(b"usr/share/zoneinfo"))
        );
        let rest = layers.next().unwrap();
        assert!(layers.next().is_none());
        assert!(
            has(&rest, "etc/hostname")
                && !has(&rest, "usr/share/zoneinfo/UTC")
                && !has(&rest, "usr/lib/libc.so.6")
        );
    }
}
