//! Deterministic tar headers: ustar, with PAX extended headers ('x') for whatever ustar cannot hold.
//!
//! Only headers are built here; the caller streams file content and pads it with [`padding`].
//! The same input always gives the same bytes: PAX header names are fixed (`PaxHeaders/<name>`),
//! PAX records are sorted by key, uname/gname are empty and atime/ctime are never written.

pub const BLOCK: usize = 512;

/// Largest value of an octal field of `width` bytes (width - 1 digits plus a NUL).
const fn octal_max(width: usize) -> u64 {
    (1u64 << (3 * (width as u32 - 1))) - 1
}

const NAME_LEN: usize = 100;
const PREFIX_LEN: usize = 155;
const MAX_ID: u64 = octal_max(8); // uid, gid: 2097151
const MAX_SIZE: u64 = octal_max(12); // 8 GiB - 1
const MAX_MTIME: i64 = octal_max(12) as i64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Regular,
    HardLink,
    Symlink,
    Char,
    Block,
    Directory,
    Fifo,
}

impl Kind {
    fn typeflag(self) -> u8 {
        match self {
            Kind::Regular => b'0',
            Kind::HardLink => b'1',
            Kind::Symlink => b'2',
            Kind::Char => b'3',
            Kind::Block => b'4',
            Kind::Directory => b'5',
            Kind::Fifo => b'6',
        }
    }
}

/// One archive member's metadata. `path` is relative, without a leading `./` or `/`; directories
/// carry a trailing `/`. `size` is the content length (0 for everything but regular files).
#[derive(Clone, Debug)]
pub struct Header<'a> {
    pub path: &'a [u8],
    pub kind: Kind,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub size: u64,
    pub mtime: i64,
    pub link: &'a [u8],
    pub dev_major: u64,
    pub dev_minor: u64,
    /// (name, value) pairs; written as `SCHILY.xattr.<name>` PAX records.
    pub xattrs: &'a [(Vec<u8>, Vec<u8>)],
}

/// Number of zero bytes that follow `size` bytes of content to reach a 512-byte boundary.
pub fn padding(size: u64) -> usize {
    ((BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64) as usize
}

/// The end-of-archive marker: two zero blocks.
pub const TRAILER: [u8; 2 * BLOCK] = [0; 2 * BLOCK];

/// Splits `path` into ustar (prefix, name) when it fits: name <= 100 bytes, prefix <= 155 bytes,
/// split at a `/` with a non-empty name. Returns None when ustar cannot hold it.
pub fn ustar_split(path: &[u8]) -> Option<(&[u8], &[u8])> {
    if path.len() <= NAME_LEN {
        return Some((&[], path));
    }
    if path.len() > PREFIX_LEN + 1 + NAME_LEN {
        return None;
    }
    // A directory's trailing '/' belongs to the name, so never split there.
    let search_end = path.len() - 1;
    // Prefer the longest prefix that fits, so the name is as short as possible (like GNU tar).
    (0..search_end)
        .rev()
        .filter(|&i| path[i] == b'/')
        .find(|&i| i <= PREFIX_LEN && path.len() - i - 1 <= NAME_LEN && i > 0)
        .map(|i| (&path[..i], &path[i + 1..]))
}

fn needs_pax_string(s: &[u8]) -> bool {
    // Plain ASCII fits ustar; other bytes go to PAX (as Go's and GNU tar's writers do), kept as is.
    !s.is_ascii()
}

/// Appends one PAX record `"<len> <key>=<value>\n"`, where len counts the whole record.
pub fn pax_record(out: &mut Vec<u8>, key: &[u8], value: &[u8]) {
    let body = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut len = body + 1;
    loop {
        let digits = len.to_string().len();
        if digits + body == len {
            break;
        }
        len = digits + body;
    }
    out.extend_from_slice(len.to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(key);
    out.push(b'=');
    out.extend_from_slice(value);
    out.push(b'\n');
}

fn put_octal(field: &mut [u8], value: u64) {
    let width = field.len() - 1;
    let s = format!("{:0width$o}", value, width = width);
    debug_assert!(s.len() == width);
    field[..width].copy_from_slice(s.as_bytes());
    field[width] = 0;
}

/// GNU base-256 for numbers that do not fit in octal (used only for device numbers, which PAX has
/// no keyword for).
fn put_numeric(field: &mut [u8], value: u64) {
    if value <= octal_max(field.len()) {
        put_octal(field, value);
    } else {
        field.fill(0);
        field[0] = 0x80;
        let n = field.len();
        for (i, b) in value.to_be_bytes().iter().rev().enumerate() {
            field[n - 1 - i] = *b;
        }
    }
}

fn put_bytes(field: &mut [u8], value: &[u8]) {
    let n = value.len().min(field.len());
    field[..n].copy_from_slice(&value[..n]);
}

/// A raw 512-byte ustar header block.
#[allow(clippy::too_many_arguments)]
fn ustar_block(
    prefix: &[u8],
    name: &[u8],
    mode: u32,
    uid: u64,
    gid: u64,
    size: u64,
    mtime: u64,
    typeflag: u8,
    link: &[u8],
    dev_major: u64,
    dev_minor: u64,
) -> [u8; BLOCK] {
    let mut h = [0u8; BLOCK];
    put_bytes(&mut h[0..100], name);
    put_octal(&mut h[100..108], mode as u64 & 0o7777);
    put_octal(&mut h[108..116], uid);
    put_octal(&mut h[116..124], gid);
    put_octal(&mut h[124..136], size);
    put_octal(&mut h[136..148], mtime);
    h[148..156].fill(b' ');
    h[156] = typeflag;
    put_bytes(&mut h[157..257], link);
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    // uname 265..297, gname 297..329: empty (numeric ids only).
    if dev_major != 0 || dev_minor != 0 {
        put_numeric(&mut h[329..337], dev_major);
        put_numeric(&mut h[337..345], dev_minor);
    } else {
        put_octal(&mut h[329..337], 0);
        put_octal(&mut h[337..345], 0);
    }
    put_bytes(&mut h[345..500], prefix);
    let sum: u32 = h.iter().map(|&b| b as u32).sum();
    let s = format!("{:06o}", sum);
    h[148..154].copy_from_slice(s.as_bytes());
    h[154] = 0;
    h[155] = b' ';
    h
}

fn base_name(path: &[u8]) -> &[u8] {
    let trimmed = path.strip_suffix(b"/").unwrap_or(path);
    match trimmed.iter().rposition(|&b| b == b'/') {
        Some(i) => &trimmed[i + 1..],
        None => trimmed,
    }
}

/// Appends the header block(s) for `h` to `out`: a PAX extended header and its data when needed,
/// then the ustar header. Content (h.size bytes) and its padding are the caller's.
pub fn write_header(out: &mut Vec<u8>, h: &Header) {
    let mut records: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();

    let split = if needs_pax_string(h.path) {
        None
    } else {
        ustar_split(h.path)
    };
    let (prefix, name): (&[u8], &[u8]) = match split {
        Some(pn) => pn,
        None => {
            records.push((b"path".to_vec(), h.path.to_vec()));
            (&[], &h.path[..h.path.len().min(NAME_LEN)])
        }
    };
    let link: &[u8] = if h.link.len() > NAME_LEN || needs_pax_string(h.link) {
        records.push((b"linkpath".to_vec(), h.link.to_vec()));
        &h.link[..h.link.len().min(NAME_LEN)]
    } else {
        h.link
    };
    let size = if h.size > MAX_SIZE {
        records.push((b"size".to_vec(), h.size.to_string().into_bytes()));
        0
    } else {
        h.size
    };
    let uid = if h.uid > MAX_ID {
        records.push((b"uid".to_vec(), h.uid.to_string().into_bytes()));
        0
    } else {
        h.uid
    };
    let gid = if h.gid > MAX_ID {
        records.push((b"gid".to_vec(), h.gid.to_string().into_bytes()));
        0
    } else {
        h.gid
    };
    let mtime = if h.mtime < 0 || h.mtime > MAX_MTIME {
        records.push((b"mtime".to_vec(), h.mtime.to_string().into_bytes()));
        0
    } else {
        h.mtime as u64
    };
    for (k, v) in h.xattrs {
        let mut key = b"SCHILY.xattr.".to_vec();
        key.extend_from_slice(k);
        records.push((key, v.clone()));
    }

    if !records.is_empty() {
        records.sort();
        let mut data = Vec::new();
        for (k, v) in &records {
            pax_record(&mut data, k, v);
        }
        let mut pax_name = b"PaxHeaders/".to_vec();
        pax_name.extend_from_slice(base_name(h.path));
        pax_name.truncate(NAME_LEN);
        let block = ustar_block(&[], &pax_name, 0o644, 0, 0, data.len() as u64, 0, b'x', &[], 0, 0);
        out.extend_from_slice(&block);
        let pad = padding(data.len() as u64);
        out.extend_from_slice(&data);
        out.resize(out.len() + pad, 0);
    }

    let (dev_major, dev_minor) = match h.kind {
        Kind::Char | Kind::Block => (h.dev_major, h.dev_minor),
        _ => (0, 0),
    };
    let block = ustar_block(
        prefix,
        name,
        h.mode,
        uid,
        gid,
        size,
        mtime,
        h.kind.typeflag(),
        link,
        dev_major,
        dev_minor,
    );
    out.extend_from_slice(&block);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hdr<'a>(path: &'a [u8], xattrs: &'a [(Vec<u8>, Vec<u8>)]) -> Header<'a> {
        Header {
            path,
            kind: Kind::Regular,
            mode: 0o4755,
            uid: 0,
            gid: 0,
            size: 5,
            mtime: 1_700_000_000,
            link: b"",
            dev_major: 0,
            dev_minor: 0,
            xattrs,
        }
    }

    fn octal_field(b: &[u8]) -> u64 {
        let s: String = b
            .iter()
            .take_while(|&&c| c != 0 && c != b' ')
            .map(|&c| c as char)
            .collect();
        u64::from_str_radix(&s, 8).unwrap()
    }

    fn checksum_ok(block: &[u8]) -> bool {
        let mut b = block.to_vec();
        b[148..156].fill(b' ');
        let sum: u64 = b.iter().map(|&x| x as u64).sum();
        sum == octal_field(&block[148..156])
    }

    /// Parses PAX records out of an 'x' header's data.
    fn records(data: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut out = Vec::new();
        let mut rest = data;
        while !rest.is_empty() {
            let sp = rest.iter().position(|&b| b == b' ').unwrap();
            let len: usize = std::str::from_utf8(&rest[..sp]).unwrap().parse().unwrap();
            let rec = &rest[sp + 1..len - 1];
            assert_eq!(rest[len - 1], b'\n');
            let eq = rec.iter().position(|&b| b == b'=').unwrap();
            out.push((rec[..eq].to_vec(), rec[eq + 1..].to_vec()));
            rest = &rest[len..];
        }
        out
    }

    #[test]
    fn plain_header() {
        let mut out = Vec::new();
        write_header(&mut out, &hdr(b"usr/bin/sh", &[]));
        assert_eq!(out.len(), 512);
        assert_eq!(&out[0..10], b"usr/bin/sh");
        assert_eq!(octal_field(&out[100..108]), 0o4755);
        assert_eq!(octal_field(&out[124..136]), 5);
        assert_eq!(octal_field(&out[136..148]), 1_700_000_000);
        assert_eq!(out[156], b'0');
        assert_eq!(&out[257..265], b"ustar\x0000");
        assert!(out[265..345].iter().all(|&b| b == 0 || b == b'0'));
        assert!(checksum_ok(&out));
    }

    #[test]
    fn ustar_prefix_split() {
        let dir = "d".repeat(120);
        let path = format!("{dir}/file.txt");
        let mut out = Vec::new();
        write_header(&mut out, &hdr(path.as_bytes(), &[]));
        assert_eq!(out.len(), 512, "fits ustar with prefix, no PAX");
        assert_eq!(&out[0..9], b"file.txt\0");
        assert_eq!(&out[345..465], dir.as_bytes());
        assert!(checksum_ok(&out));

        // Directory with a trailing slash: the slash stays in the name part.
        let p = format!("{}/{}/", "a".repeat(150), "b".repeat(98));
        let (pre, name) = ustar_split(p.as_bytes()).unwrap();
        assert_eq!(pre, "a".repeat(150).as_bytes());
        assert_eq!(name, format!("{}/", "b".repeat(98)).as_bytes());
        assert!(ustar_split(format!("{}/x", "a".repeat(156)).as_bytes()).is_none());
        assert!(ustar_split(format!("a/{}", "b".repeat(101)).as_bytes()).is_none());
    }

    #[test]
    fn pax_for_long_name() {
        let path = format!("{}/{}", "x".repeat(200), "y".repeat(120));
        let mut out = Vec::new();
        write_header(&mut out, &hdr(path.as_bytes(), &[]));
        assert_eq!(out[156], b'x');
        assert!(out[0..].starts_with(b"PaxHeaders/yyyy"));
        let size = octal_field(&out[124..136]) as usize;
        let recs = records(&out[512..512 + size]);
        assert_eq!(recs, vec![(b"path".to_vec(), path.as_bytes().to_vec())]);
        let main = &out[out.len() - 512..];
        assert_eq!(main[156], b'0');
        assert!(checksum_ok(main));
        assert_eq!(out.len() % 512, 0);
    }

    #[test]
    fn pax_for_non_utf8_and_long_link() {
        let name: &[u8] = b"dir/caf\xe9\xff";
        let link = "t".repeat(150);
        let mut h = hdr(name, &[]);
        h.kind = Kind::Symlink;
        h.size = 0;
        h.link = link.as_bytes();
        let mut out = Vec::new();
        write_header(&mut out, &h);
        let size = octal_field(&out[124..136]) as usize;
        let recs = records(&out[512..512 + size]);
        assert_eq!(
            recs,
            vec![
                (b"linkpath".to_vec(), link.as_bytes().to_vec()),
                (b"path".to_vec(), name.to_vec())
            ]
        );
        assert_eq!(out[out.len() - 512 + 156], b'2');
    }

    #[test]
    fn pax_for_big_values_and_xattrs() {
        let xattrs = vec![
            (b"user.test".to_vec(), b"hello".to_vec()),
            (b"security.capability".to_vec(), vec![1, 0, 0, 2, 0, 0x20, 0, 0]),
        ];
        let mut h = hdr(b"big", &xattrs);
        h.size = 9 << 30;
        h.uid = 5_000_000;
        h.gid = 7;
        h.mtime = -5;
        let mut out = Vec::new();
        write_header(&mut out, &h);
        let size = octal_field(&out[124..136]) as usize;
        let recs = records(&out[512..512 + size]);
        let keys: Vec<&[u8]> = recs.iter().map(|(k, _)| k.as_slice()).collect();
        assert_eq!(
            keys,
            vec![
                b"SCHILY.xattr.security.capability".as_slice(),
                b"SCHILY.xattr.user.test",
                b"mtime",
                b"size",
                b"uid"
            ]
        );
        assert_eq!(recs[1].1, b"hello");
        assert_eq!(recs[2].1, b"-5");
        assert_eq!(recs[3].1, (9u64 << 30).to_string().as_bytes());
        assert_eq!(recs[4].1, b"5000000");
        let main = &out[out.len() - 512..];
        assert_eq!(octal_field(&main[116..124]), 7);
        assert!(checksum_ok(main));
    }

    #[test]
    fn pax_record_length_counts_itself() {
        for n in [0usize, 1, 85, 86, 87, 88, 95, 96, 97, 990, 995, 996, 997] {
            let mut out = Vec::new();
            pax_record(&mut out, b"path", &vec![b'a'; n]);
            let sp = out.iter().position(|&b| b == b' ').unwrap();
            let len: usize = std::str::from_utf8(&out[..sp]).unwrap().parse().unwrap();
            assert_eq!(len, out.len(), "value length {n}");
        }
    }

    #[test]
    fn devices_and_determinism() {
        let mut h = hdr(b"dev/null", &[]);
        h.kind = Kind::Char;
        h.size = 0;
        h.dev_major = 1;
        h.dev_minor = 3;
        let mut a = Vec::new();
        let mut b = Vec::new();
        write_header(&mut a, &h);
        write_header(&mut b, &h);
        assert_eq!(a, b);
        assert_eq!(a[156], b'3');
        assert_eq!(octal_field(&a[329..337]), 1);
        assert_eq!(octal_field(&a[337..345]), 3);
    }
}
