//! A commit's tree read straight from an OSTree repository, without a checkout.
//!
//! A commit's directories are `dirtree` objects (names of files and subdirectories, with their
//! checksums) and `dirmeta` objects (owner, mode, xattrs), both GVariants. File objects depend on
//! the repository's mode:
//! - `bare`: the object is the file itself, with its owner, mode and xattrs (a checkout hardlinks
//!   to it);
//! - `bare-user`: the object holds the content (a symlink's target, for a symlink), and the
//!   `user.ostreemeta` xattr holds owner, mode and xattrs, `(uuua(ayay))` like a dirmeta;
//! - `archive` (`archive-z2`): a header (u32 big-endian size, 4 bytes of padding, then
//!   `(tuuuusa(ayay))`: size, owner, mode, rdev, symlink target, xattrs) followed by the content as
//!   raw deflate.
//!
//! An object at several paths of a commit is one hardlink group in every mode, as in a hardlink
//! checkout of a bare repository: the same commit gives the same bytes whatever the mode.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::Error;

pub type Checksum = [u8; 32];

/// A directory of the commit: its `dirtree` and `dirmeta` checksums.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TreeRef {
    pub contents: Checksum,
    pub meta: Checksum,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct DirTree {
    /// (name, file object checksum), sorted by name as OSTree keeps them.
    pub files: Vec<(Vec<u8>, Checksum)>,
    /// (name, subdirectory), sorted by name.
    pub dirs: Vec<(Vec<u8>, TreeRef)>,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct DirMeta {
    pub uid: u32,
    pub gid: u32,
    /// st_mode, with the directory type bits.
    pub mode: u32,
    /// (name without its trailing NUL, value), as stored.
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

/// How a repository stores file objects (its config's `core.mode`), for the modes read in place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RepoMode {
    Bare,
    BareUser,
    /// Files as themselves (symlinks as symlinks, mode in the file); no owner (always 0:0) and no
    /// xattrs, as the commit records them.
    BareUserOnly,
    Archive,
}

impl RepoMode {
    /// The mode in `repo/config`; an error for a mode that is not read in place
    /// (`bare-split-xattrs`).
    pub fn of_repo(repo: &Path) -> Result<RepoMode, Error> {
        let config = std::fs::read_to_string(repo.join("config"))
            .map_err(|e| Error::io("cannot read", &repo.join("config"), &e))?;
        let mut in_core = false;
        for line in config.lines().map(str::trim) {
            if line.starts_with('[') {
                in_core = line == "[core]";
            } else if let (true, Some((key, value))) = (in_core, line.split_once('=')) {
                if key.trim() == "mode" {
                    return match value.trim() {
                        "bare" => Ok(RepoMode::Bare),
                        "bare-user" => Ok(RepoMode::BareUser),
                        "bare-user-only" => Ok(RepoMode::BareUserOnly),
                        "archive" | "archive-z2" => Ok(RepoMode::Archive),
                        other => Err(Error::msg(format!(
                            "{}: repository mode {other} cannot be read in place",
                            repo.display()
                        ))),
                    };
                }
            }
        }
        // OSTree's default.
        Ok(RepoMode::Bare)
    }
}

/// A file object of a bare-user or archive repository: what its metadata says.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct StoredFile {
    pub uid: u32,
    pub gid: u32,
    /// st_mode, type bits included.
    pub mode: u32,
    /// Content size (archive: from the header; bare-user: the object's size).
    pub size: u64,
    /// A symlink's target.
    pub symlink: Option<Vec<u8>>,
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
    /// archive: where the raw deflate content starts in the object.
    pub content_offset: u64,
}

/// A repository and a commit's root directory; dirmeta objects are shared by many directories,
/// so they are parsed once.
#[derive(Debug)]
pub struct CommitSource {
    pub repo: PathBuf,
    pub root: TreeRef,
    pub mode: RepoMode,
    metas: Mutex<HashMap<Checksum, Arc<DirMeta>>>,
}

impl CommitSource {
    pub fn new(repo: PathBuf, root: TreeRef, mode: RepoMode) -> Self {
        CommitSource {
            repo,
            root,
            mode,
            metas: Mutex::new(HashMap::new()),
        }
    }

    /// A commit of the repository at `repo`, in the mode its config gives.
    pub fn open(repo: PathBuf, root: TreeRef) -> Result<Self, Error> {
        let mode = RepoMode::of_repo(&repo)?;
        Ok(CommitSource::new(repo, root, mode))
    }

    /// The path of a file object.
    pub fn file_path(&self, checksum: &Checksum) -> PathBuf {
        match self.mode {
            RepoMode::Archive => self.object_path(checksum, "filez"),
            RepoMode::Bare | RepoMode::BareUser | RepoMode::BareUserOnly => {
                self.object_path(checksum, "file")
            }
        }
    }

    pub fn object_path(&self, checksum: &Checksum, kind: &str) -> PathBuf {
        let hex = hex(checksum);
        self.repo
            .join("objects")
            .join(&hex[..2])
            .join(format!("{}.{kind}", &hex[2..]))
    }

    pub fn dirtree(&self, checksum: &Checksum) -> Result<DirTree, Error> {
        let path = self.object_path(checksum, "dirtree");
        parse_dirtree(&read(&path)?).ok_or_else(|| corrupt(&path))
    }

    pub fn dirmeta(&self, checksum: &Checksum) -> Result<Arc<DirMeta>, Error> {
        if let Some(meta) = self.metas.lock().unwrap().get(checksum) {
            return Ok(meta.clone());
        }
        let path = self.object_path(checksum, "dirmeta");
        let meta = Arc::new(parse_dirmeta(&read(&path)?).ok_or_else(|| corrupt(&path))?);
        self.metas.lock().unwrap().insert(*checksum, meta.clone());
        Ok(meta)
    }
}

/// "abcd..." -> bytes; None unless 64 hex digits.
pub fn parse_checksum(text: &str) -> Option<Checksum> {
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn read(path: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|e| Error::io("cannot read", path, &e))
}

fn corrupt(path: &Path) -> Error {
    Error::msg(format!("{} is not a valid OSTree object", path.display()))
}

// GVariant serialisation (normal form), just what these two types need. A container's framing
// offsets are little-endian, 1, 2, 4 or 8 bytes wide depending on the container's size.

fn offset_size(len: usize) -> usize {
    match len {
        0..=0xff => 1,
        0x100..=0xffff => 2,
        0x1_0000..=0xffff_ffff => 4,
        _ => 8,
    }
}

fn read_offset(data: &[u8], at: usize, size: usize) -> Option<usize> {
    let bytes = data.get(at..at + size)?;
    let mut v = 0u64;
    for (i, &b) in bytes.iter().enumerate() {
        v |= (b as u64) << (8 * i);
    }
    usize::try_from(v).ok()
}

/// Elements of an array of variable-size elements (alignment 1): the offset table at the end
/// holds each element's end.
fn variable_array(data: &[u8]) -> Option<Vec<&[u8]>> {
    if data.is_empty() {
        return Some(Vec::new());
    }
    let os = offset_size(data.len());
    let table_start = read_offset(data, data.len() - os, os)?;
    if table_start > data.len() || !(data.len() - table_start).is_multiple_of(os) {
        return None;
    }
    let count = (data.len() - table_start) / os;
    let mut out = Vec::with_capacity(count);
    let mut start = 0;
    for i in 0..count {
        let end = read_offset(data, table_start + i * os, os)?;
        if end < start || end > table_start {
            return None;
        }
        out.push(&data[start..end]);
        start = end;
    }
    Some(out)
}

/// A tuple of `n` variable-size members (alignment 1): the ends of all but the last are framing
/// offsets at the tuple's end, the first member's last.
fn variable_tuple(data: &[u8], n: usize) -> Option<Vec<&[u8]>> {
    let os = offset_size(data.len());
    let frames = (n - 1) * os;
    let body_end = data.len().checked_sub(frames)?;
    let mut out = Vec::with_capacity(n);
    let mut start = 0;
    for i in 0..n - 1 {
        let end = read_offset(data, data.len() - (i + 1) * os, os)?;
        if end < start || end > body_end {
            return None;
        }
        out.push(&data[start..end]);
        start = end;
    }
    out.push(data.get(start..body_end)?);
    Some(out)
}

/// A GVariant string: its bytes up to the terminating NUL.
fn string(data: &[u8]) -> Option<&[u8]> {
    match data.split_last() {
        Some((0, s)) if !s.contains(&0) => Some(s),
        _ => None,
    }
}

fn checksum(data: &[u8]) -> Option<Checksum> {
    data.try_into().ok()
}

/// `(a(say)a(sayay))`.
pub fn parse_dirtree(data: &[u8]) -> Option<DirTree> {
    let parts = variable_tuple(data, 2)?;
    let mut tree = DirTree::default();
    for file in variable_array(parts[0])? {
        let f = variable_tuple(file, 2)?;
        tree.files.push((string(f[0])?.to_vec(), checksum(f[1])?));
    }
    for dir in variable_array(parts[1])? {
        let d = variable_tuple(dir, 3)?;
        let contents = checksum(d[1])?;
        let meta = checksum(d[2])?;
        tree.dirs
            .push((string(d[0])?.to_vec(), TreeRef { contents, meta }));
    }
    Some(tree)
}

/// `a(ayay)`: (name without its trailing NUL, value).
fn parse_xattrs(data: &[u8]) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
    let mut xattrs = Vec::new();
    for pair in variable_array(data)? {
        let p = variable_tuple(pair, 2)?;
        // Names are stored as bytestrings with their NUL.
        let name = p[0].strip_suffix(&[0]).unwrap_or(p[0]);
        xattrs.push((name.to_vec(), p[1].to_vec()));
    }
    Some(xattrs)
}

fn be32(data: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(data.get(at..at + 4)?.try_into().ok()?))
}

/// `(uuua(ayay))`, the integers big-endian as OSTree writes them. (A bare-user repository's
/// `user.ostreemeta` xattr has this form too.)
pub fn parse_dirmeta(data: &[u8]) -> Option<DirMeta> {
    Some(DirMeta {
        uid: be32(data, 0)?,
        gid: be32(data, 4)?,
        mode: be32(data, 8)?,
        xattrs: parse_xattrs(data.get(12..)?)?,
    })
}

/// Bytes of an archive file object's header to read first; most headers are far smaller.
pub const ARCHIVE_HEADER_GUESS: usize = 4096;

/// The size of an archive file object's header, including its 8-byte prefix, from the first 8
/// bytes.
pub fn archive_header_len(prefix: &[u8]) -> Option<usize> {
    let len = be32(prefix, 0)? as usize;
    // A header holds xattrs and a symlink target: far below this.
    (len <= 64 << 20).then_some(8 + len)
}

/// An archive file object's header (with its 8-byte prefix): `(tuuuusa(ayay))`, integers
/// big-endian; one framing offset, the end of the symlink target.
pub fn parse_archive_header(data: &[u8]) -> Option<StoredFile> {
    let body = data.get(8..archive_header_len(data)?)?;
    let os = offset_size(body.len());
    let body_end = body.len().checked_sub(os)?;
    let target_end = read_offset(body, body_end, os)?;
    if target_end < 24 || target_end > body_end {
        return None;
    }
    let mode = be32(body, 16)?;
    let target = string(&body[24..target_end])?;
    let is_link = mode & libc::S_IFMT == libc::S_IFLNK;
    Some(StoredFile {
        size: u64::from_be_bytes(body.get(..8)?.try_into().ok()?),
        uid: be32(body, 8)?,
        gid: be32(body, 12)?,
        mode,
        symlink: is_link.then(|| target.to_vec()),
        xattrs: parse_xattrs(&body[target_end..body_end])?,
        content_offset: archive_header_len(data)? as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_parse() {
        let hex = "446a0ef11b7cc167f3b603e585c7eeeeb675faa412d5ec73f62988eb0b6c5488";
        let c = parse_checksum(hex).unwrap();
        assert_eq!(c[0], 0x44);
        assert_eq!(super::hex(&c), hex);
        assert!(parse_checksum("44").is_none() && parse_checksum(&"zz".repeat(32)).is_none());
    }

    #[test]
    fn dirmeta_with_and_without_xattrs() {
        let plain = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x41, 0xed];
        assert_eq!(
            parse_dirmeta(&plain).unwrap(),
            DirMeta {
                uid: 0,
                gid: 0,
                mode: 0o40755,
                xattrs: vec![]
            }
        );
        // One xattr ("user.a\0", "xy"): element = name, value, framing offset 7; then the
        // array's offset table (end of element 0 = 10).
        let mut data = vec![0, 0, 0x04, 0xd2, 0, 0, 0x16, 0x2e, 0, 0, 0x43, 0xff];
        data.extend_from_slice(b"user.a\0xy");
        data.push(7);
        data.push(10);
        let meta = parse_dirmeta(&data).unwrap();
        assert_eq!((meta.uid, meta.gid, meta.mode), (1234, 5678, 0o41777));
        assert_eq!(meta.xattrs, vec![(b"user.a".to_vec(), b"xy".to_vec())]);
    }

    #[test]
    fn archive_headers() {
        // As `ostree commit` wrote them into an archive repository: a symlink to "a", and a
        // 6-byte file owned by 1000:1000 with the xattr user.test=val.
        let mut link = vec![0, 0, 0, 27, 0, 0, 0, 0];
        link.extend_from_slice(&[0; 16]);
        link.extend_from_slice(&[0, 0, 0xa1, 0xff, 0, 0, 0, 0, b'a', 0, 26]);
        let h = parse_archive_header(&link).unwrap();
        assert_eq!(
            (h.mode, h.size, h.symlink.as_deref()),
            (0o120777, 0, Some(&b"a"[..]))
        );
        assert_eq!(h.content_offset, 35);
        let mut file = vec![0, 0, 0, 41, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 6];
        file.extend_from_slice(&[0, 0, 3, 0xe8, 0, 0, 3, 0xe8, 0, 0, 0x81, 0xa4, 0, 0, 0, 0, 0]);
        file.extend_from_slice(b"user.test\0val");
        file.extend_from_slice(&[10, 14, 25]);
        file.extend_from_slice(&[0xcb, 0x48]); // content: not part of the header
        let h = parse_archive_header(&file).unwrap();
        assert_eq!(
            (h.uid, h.gid, h.mode, h.size, h.symlink.clone()),
            (1000, 1000, 0o100644, 6, None)
        );
        assert_eq!(h.xattrs, vec![(b"user.test".to_vec(), b"val".to_vec())]);
        assert_eq!(h.content_offset, 49);
        // Cut short, or a size prefix beyond reason.
        assert!(parse_archive_header(&file[..40]).is_none());
        assert!(parse_archive_header(&[0xff; 64]).is_none());
    }

    #[test]
    fn repository_modes() {
        let dir = tempfile::tempdir().unwrap();
        let mode = |config: &str| {
            std::fs::write(dir.path().join("config"), config).unwrap();
            RepoMode::of_repo(dir.path()).map_err(|e| e.to_string())
        };
        assert_eq!(mode("[core]\nrepo_version=1\nmode=bare\n"), Ok(RepoMode::Bare));
        assert_eq!(mode("[core]\nmode = archive-z2\n"), Ok(RepoMode::Archive));
        assert_eq!(
            mode("[remote \"x\"]\nmode=archive\n[core]\nmode=bare-user\n"),
            Ok(RepoMode::BareUser)
        );
        assert_eq!(mode("[core]\nmode=bare-user-only\n"), Ok(RepoMode::BareUserOnly));
        assert!(mode("[core]\nmode=bare-split-xattrs\n")
            .unwrap_err()
            .contains("bare-split-xattrs cannot be read in place"));
    }

    #[test]
    fn dirtree_framing() {
        // files: [("a", 32 x 0x11)]; dirs: [("d", 32 x 0x22, 32 x 0x33)]
        let mut file = b"a\0".to_vec();
        file.extend_from_slice(&[0x11; 32]);
        file.push(2); // end of the name
        let mut files = file.clone();
        files.push(file.len() as u8); // array offset table
        let mut dir = b"d\0".to_vec();
        dir.extend_from_slice(&[0x22; 32]);
        dir.extend_from_slice(&[0x33; 32]);
        dir.push(34); // end of the first checksum
        dir.push(2); // end of the name (stored last)
        let mut dirs = dir.clone();
        dirs.push(dir.len() as u8);
        let mut data = files.clone();
        data.extend_from_slice(&dirs);
        data.push(files.len() as u8);
        let tree = parse_dirtree(&data).unwrap();
        assert_eq!(tree.files, vec![(b"a".to_vec(), [0x11; 32])]);
        assert_eq!(
            tree.dirs,
            vec![(
                b"d".to_vec(),
                TreeRef {
                    contents: [0x22; 32],
                    meta: [0x33; 32]
                }
            )]
        );
        assert!(parse_dirtree(&data[..data.len() - 1]).is_none());
        assert_eq!(parse_dirtree(&[0]).unwrap(), DirTree::default());
    }
}
