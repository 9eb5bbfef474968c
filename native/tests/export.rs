//! End-to-end tests of the one pass on real trees in temp dirs (no Node needed).

use std::ffi::OsStr;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use apt_ostree_native::compress::Compression;
use apt_ostree_native::export::{
    export_layer, export_layers, sha256_file, Control, ExportOptions, ExportResult, LayerTarget,
};
use apt_ostree_native::scan::scan_tree;
use apt_ostree_native::walk::Selection;
use apt_ostree_native::Error;

fn long_name_dir() -> PathBuf {
    // > 255 bytes in total, made of several components.
    PathBuf::from(format!(
        "{}/{}/{}",
        "l".repeat(100),
        "o".repeat(100),
        "n".repeat(100)
    ))
}

fn set_xattr(p: &Path, name: &std::ffi::CStr, value: &[u8]) -> bool {
    let c = std::ffi::CString::new(p.as_os_str().as_bytes()).unwrap();
    unsafe {
        libc::lsetxattr(
            c.as_ptr(),
            name.as_ptr(),
            value.as_ptr() as *const _,
            value.len(),
            0,
        ) == 0
    }
}

/// security.capability v2: cap_net_raw permitted + effective.
const CAP_NET_RAW: [u8; 20] = [1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];

fn has_user_xattrs(p: &Path) -> bool {
    let c = std::ffi::CString::new(p.as_os_str().as_bytes()).unwrap();
    let rc = unsafe {
        libc::lsetxattr(
            c.as_ptr(),
            c"user.test".as_ptr(),
            b"hello".as_ptr() as *const _,
            5,
            0,
        )
    };
    rc == 0
}

/// A tree with every kind of entry the exporter handles. Returns whether the xattr was set.
fn make_tree(root: &Path) -> bool {
    fs::create_dir_all(root.join("usr/bin")).unwrap();
    fs::create_dir_all(root.join("usr/etc/default")).unwrap();
    fs::create_dir_all(root.join("var/lib")).unwrap();
    fs::write(root.join("usr/bin/tool"), b"#!/bin/sh\necho hi\n").unwrap();
    fs::set_permissions(root.join("usr/bin/tool"), fs::Permissions::from_mode(0o4755)).unwrap();
    fs::write(root.join("usr/etc/default/conf"), b"a=1\n").unwrap();
    fs::hard_link(root.join("usr/bin/tool"), root.join("usr/bin/tool-link")).unwrap();
    fs::hard_link(root.join("usr/etc/default/conf"), root.join("var/lib/conf-link")).unwrap();
    symlink("../usr/bin/tool", root.join("var/lib/sym")).unwrap();
    let fifo = std::ffi::CString::new(root.join("var/fifo").as_os_str().as_bytes()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    let long = root.join("var").join(long_name_dir());
    fs::create_dir_all(&long).unwrap();
    fs::write(long.join("file"), b"long").unwrap();
    fs::write(
        root.join("var").join(OsStr::from_bytes(b"caf\xe9-\xff")),
        b"latin1",
    )
    .unwrap();
    // Sparse: 3 MiB hole, 5 bytes, 2 MiB hole.
    let mut f = fs::File::create(root.join("var/sparse")).unwrap();
    f.set_len(5 << 20).unwrap();
    use std::io::Seek;
    f.seek(std::io::SeekFrom::Start(3 << 20)).unwrap();
    f.write_all(b"data!").unwrap();
    drop(f);
    // A file spanning several tar blocks, with varied content.
    let mut big = Vec::new();
    for i in 0..600_000u32 {
        big.extend_from_slice(format!("line {i} {}\n", i.wrapping_mul(2654435761)).as_bytes());
    }
    fs::write(root.join("var/big.txt"), &big).unwrap();
    // Root can set these on ext4 without SELinux; elsewhere the checks below are skipped.
    set_xattr(&root.join("usr/bin/tool"), c"security.capability", &CAP_NET_RAW);
    set_xattr(
        &root.join("usr/bin/tool"),
        c"security.selinux",
        b"system_u:object_r:bin_t:s0\0",
    );
    let _sock = std::os::unix::net::UnixListener::bind(root.join("var/sock")).unwrap();
    has_user_xattrs(&root.join("usr/bin/tool"))
}

/// `make_tree` in `dir`/root without its socket (which a layer leaves out with a warning).
fn socketless_tree(dir: &Path) -> PathBuf {
    let root = dir.join("root");
    make_tree(&root);
    fs::remove_file(root.join("var/sock")).unwrap();
    root
}

fn opts(root: &Path, out: &Path, compression: Compression, threads: usize) -> ExportOptions {
    ExportOptions {
        root: root.to_path_buf(),
        layers: vec![LayerTarget::whole(out)],
        compression,
        threads,
        source_date_epoch: None,
        usr_etc_as_etc: false,
        skip_paths: Vec::new(),
        commit: None,
    }
}

fn run(o: &ExportOptions) -> Result<ExportResult, Error> {
    export_layer(o, &Control::default())
}

fn sha(p: &Path) -> String {
    sha256_file(p).unwrap().0
}

fn decompress(p: &Path, c: Compression) -> Vec<u8> {
    let f = fs::File::open(p).unwrap();
    let mut out = Vec::new();
    match c {
        Compression::Gzip { .. } => {
            // One member: flate2's single-member decoder (what ostree-ext uses) sees everything.
            flate2::read::GzDecoder::new(f).read_to_end(&mut out).unwrap();
        }
        Compression::Zstd { .. } | Compression::ZstdOneFrame { .. } => {
            zstd::stream::read::Decoder::new(f)
                .unwrap()
                .read_to_end(&mut out)
                .unwrap();
        }
        Compression::None => {
            std::io::BufReader::new(f).read_to_end(&mut out).unwrap();
        }
    }
    out
}

fn tar_list(p: &Path) -> Vec<String> {
    let o = Command::new("tar")
        .args(["--numeric-owner", "--quoting-style=literal", "-tvf"])
        .arg(p)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "tar -tvf: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|s| s.to_string())
        .collect()
}

fn names(p: &Path) -> Vec<Vec<u8>> {
    let o = Command::new("tar")
        .args(["--quoting-style=literal", "-tf"])
        .arg(p)
        .output()
        .unwrap();
    assert!(o.status.success());
    o.stdout
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| l.to_vec())
        .collect()
}

#[test]
fn export_none_gzip_zstd_agree_and_are_deterministic() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let xattr = make_tree(&root);

    let plain = tmp.path().join("plain.tar");
    let r = run(&opts(&root, &plain, Compression::None, 2)).unwrap();
    assert_eq!(r.digest, r.diff_id);
    assert_eq!(r.digest, sha(&plain));
    assert_eq!(r.size, fs::metadata(&plain).unwrap().len());
    assert_eq!(r.uncompressed_size, r.size);
    assert_eq!(r.warnings, vec!["skipped socket var/sock".to_string()]);
    let tar_bytes = fs::read(&plain).unwrap();
    assert_eq!(&tar_bytes[tar_bytes.len() - 1024..], &[0u8; 1024][..]);

    // The default gzip mixes levels 1 and 2 by block position: the tree is ~20 blocks.
    let default_gzip = Compression::parse("gzip", None).unwrap();
    for c in [
        Compression::gzip(4),
        Compression::gzip(1),
        default_gzip,
        Compression::Zstd { level: 3 },
    ] {
        let a = tmp.path().join(format!("{c}-1"));
        let b = tmp.path().join(format!("{c}-2"));
        let ra = run(&opts(&root, &a, c, 1)).unwrap();
        let rb = run(&opts(&root, &b, c, 2)).unwrap();
        assert_eq!(ra, rb, "{c}: threads=1 and threads=2 give the same result");
        assert_eq!(
            fs::read(&a).unwrap(),
            fs::read(&b).unwrap(),
            "{c}: identical bytes"
        );
        assert_eq!(ra.digest, sha(&a));
        assert_eq!(ra.diff_id, r.diff_id, "{c}: same tar as uncompressed");
        assert_eq!(ra.uncompressed_size, r.uncompressed_size);
        assert!(ra.size < r.size / 2, "{c} compresses");
        assert!(decompress(&a, c) == tar_bytes, "{c}: decodes to exactly the tar");
    }
    // Same input, second run: identical.
    let again = tmp.path().join("plain2.tar");
    assert_eq!(run(&opts(&root, &again, Compression::None, 1)).unwrap(), r);

    // What GNU tar sees.
    let listing = tar_list(&plain);
    let all = listing.join("\n");
    let n = names(&plain);
    let mut sorted = n.clone();
    // Sorted like `tar --sort=name`: byte order per directory, depth first.
    sorted.sort_by(|x, y| {
        let xs: Vec<&[u8]> = x.strip_suffix(b"/").unwrap_or(x).split(|&b| b == b'/').collect();
        let ys: Vec<&[u8]> = y.strip_suffix(b"/").unwrap_or(y).split(|&b| b == b'/').collect();
        xs.cmp(&ys)
    });
    assert_eq!(n, sorted);
    assert!(n.contains(&b"usr/".to_vec()));
    assert!(!n.iter().any(|x| x.starts_with(b"/") || x.starts_with(b"./")));
    assert!(
        n.contains(&b"var/caf\xe9-\xff".to_vec()),
        "non-UTF-8 name kept as bytes"
    );
    let long = format!("var/{}/file", long_name_dir().display());
    assert!(n.contains(&long.as_bytes().to_vec()), "long name");
    assert!(!n.iter().any(|x| x.ends_with(b"sock")));
    assert!(all.contains("-rwsr-xr-x 0/0"), "setuid kept: {all}");
    assert!(all.contains("usr/bin/tool-link link to usr/bin/tool"), "{all}");
    assert!(
        all.contains("var/lib/conf-link link to usr/etc/default/conf"),
        "{all}"
    );
    assert!(all.contains("var/lib/sym -> ../usr/bin/tool"), "{all}");
    assert!(
        listing
            .iter()
            .any(|l| l.starts_with('p') && l.ends_with("var/fifo")),
        "{all}"
    );
    assert_eq!(r.entries as usize, n.len());

    // Sparse file content is dense and identical.
    let o = Command::new("tar")
        .arg("-xOf")
        .arg(&plain)
        .arg("var/sparse")
        .output()
        .unwrap();
    assert_eq!(o.stdout, fs::read(root.join("var/sparse")).unwrap());

    if xattr {
        let o = Command::new("tar")
            .args(["--xattrs", "--xattrs-include=*", "-xf"])
            .arg(&plain)
            .arg("-C")
            .arg(tmp.path().join("x").tap_mkdir())
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let x = apt_ostree_native::export::read_xattrs(&tmp.path().join("x/usr/bin/tool")).unwrap();
        assert!(x.contains(&(b"user.test".to_vec(), b"hello".to_vec())), "{x:?}");
        assert!(!x.iter().any(|(k, _)| k == b"security.selinux"));
        assert!(tar_bytes.windows(22).any(|w| w == b"SCHILY.xattr.user.test"));
    } else {
        eprintln!("filesystem refuses user xattrs: xattr round trip not checked");
    }
    let tool_xattrs = apt_ostree_native::export::read_xattrs(&root.join("usr/bin/tool")).unwrap();
    if tool_xattrs.iter().any(|(k, _)| k == b"security.capability") {
        let mut rec = b"SCHILY.xattr.security.capability=".to_vec();
        rec.extend_from_slice(&CAP_NET_RAW);
        assert!(
            tar_bytes.windows(rec.len()).any(|w| w == rec),
            "security.capability kept"
        );
    } else {
        eprintln!("cannot set security.capability here: not checked");
    }
    assert!(
        !tar_bytes.windows(16).any(|w| w == b"security.selinux"),
        "security.selinux never written"
    );
}

trait TapMkdir {
    fn tap_mkdir(self) -> Self;
}
impl TapMkdir for PathBuf {
    fn tap_mkdir(self) -> Self {
        fs::create_dir_all(&self).unwrap();
        self
    }
}

/// A tree split in two layers: `Only(set)` and `AllBut(set)` together hold every entry once
/// (directories may repeat), parents lead to listed entries, and a hardlink whose first path is
/// in the other layer is written as a whole file.
#[test]
fn selections_split_a_tree() {
    let tmp = tempfile::tempdir().unwrap();
    let root = socketless_tree(tmp.path());
    let listed: Vec<Vec<u8>> = ["etc/default/conf", "usr/bin/tool-link", "var/lib/sym", "var/nope"]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect();
    let split = |select: Selection, name: &str| {
        let out = tmp.path().join(name);
        let mut o = opts(&root, &out, Compression::None, 1);
        o.usr_etc_as_etc = true;
        o.layers[0].select = Some(std::sync::Arc::new(select));
        run(&o).unwrap();
        (names(&out), tar_list(&out).join("\n"))
    };
    let (a, a_long) = split(Selection::only(listed.clone()), "a.tar");
    let (b, b_long) = split(Selection::all_but(listed.clone()), "b.tar");
    let text = |v: &Vec<Vec<u8>>| {
        v.iter()
            .map(|x| String::from_utf8_lossy(x).into_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        text(&a),
        [
            "etc/",
            "etc/default/",
            "etc/default/conf",
            "usr/",
            "usr/bin/",
            "usr/bin/tool-link",
            "var/",
            "var/lib/",
            "var/lib/sym"
        ]
    );
    // The link's first path (usr/bin/tool) is in the other layer: here it is a whole file.
    assert!(
        a_long
            .lines()
            .any(|l| l.starts_with("-rwsr-xr-x") && l.ends_with("usr/bin/tool-link")),
        "{a_long}"
    );
    assert!(b.contains(&b"usr/bin/tool".to_vec()) && !b.contains(&b"usr/bin/tool-link".to_vec()));
    assert!(b.contains(&b"var/lib/conf-link".to_vec()) && !b.contains(&b"var/lib/sym".to_vec()));
    assert!(
        b_long.contains("var/lib/conf-link") && !b_long.contains("link to"),
        "{b_long}"
    );
    let mut both: Vec<Vec<u8>> = a.iter().chain(&b).cloned().collect();
    both.sort();
    both.dedup();
    let full = tmp.path().join("full.tar");
    let mut o = opts(&root, &full, Compression::None, 1);
    o.usr_etc_as_etc = true;
    run(&o).unwrap();
    let mut all = names(&full);
    all.sort();
    assert_eq!(both, all);
    for x in &a {
        assert!(
            x.ends_with(b"/") || !b.contains(x),
            "{} in both",
            String::from_utf8_lossy(x)
        );
    }
    // No directories that lead nowhere: a layer whose entries are all missing is empty, and a
    // listed directory whose content is all listed too is left out of the rest.
    let (c, _) = split(Selection::only([b"usr/bin/missing".to_vec()]), "c.tar");
    assert!(c.is_empty(), "{:?}", text(&c));
    let bin: Vec<Vec<u8>> = ["usr/bin", "usr/bin/tool", "usr/bin/tool-link"]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect();
    let (d, _) = split(Selection::all_but(bin), "d.tar");
    assert!(
        d.contains(&b"usr/".to_vec()) && !d.iter().any(|x| x.starts_with(b"usr/bin")),
        "{:?}",
        text(&d)
    );
}

#[test]
fn scan_keeps_hardlink_groups_in_one_layer() {
    let tmp = tempfile::tempdir().unwrap();
    let root = socketless_tree(tmp.path());
    let never = std::sync::atomic::AtomicBool::new(false);
    // Groups: usr/bin/tool + usr/bin/tool-link, etc/default/conf (usr/etc) + var/lib/conf-link.
    let mut lists = vec![
        "/var/lib/conf-link\n".to_string(),
        "/usr/bin/tool-link\n/etc/default/conf\n".to_string(),
    ];
    let scan = scan_tree(&root, None, true, &[], &lists, &[], &never).unwrap();
    // Each group goes to the earliest layer a member belongs to (tool: layer 1, not the rest).
    assert_eq!(scan.hardlink_moves, ["/etc/default/conf\n", "/usr/bin/tool\n"]);
    for (list, extra) in lists.iter_mut().zip(&scan.hardlink_moves) {
        list.push_str(extra);
    }
    let layer = |index: usize| {
        let out = tmp.path().join(format!("layer{index}.tar"));
        let mut o = opts(&root, &out, Compression::None, 1);
        o.usr_etc_as_etc = true;
        o.layers[0].select = Some(std::sync::Arc::new(
            Selection::for_layers(&lists, &[]).swap_remove(index),
        ));
        run(&o).unwrap();
        tar_list(&out).join("\n")
    };
    let (zero, one, rest) = (layer(0), layer(1), layer(2));
    assert!(
        zero.contains("var/lib/conf-link link to etc/default/conf"),
        "{zero}"
    );
    assert!(one.contains("usr/bin/tool-link link to usr/bin/tool"), "{one}");
    assert!(
        !rest
            .lines()
            .any(|l| l.ends_with(" usr/bin/tool") || l.contains("conf")),
        "{rest}"
    );

    // Totals, against a one-layer export of the same tree.
    let whole = scan_tree(&root, None, true, &[], &[], &[], &never).unwrap();
    assert!(whole.hardlink_moves.is_empty());
    let out = tmp.path().join("whole.tar");
    let mut o = opts(&root, &out, Compression::None, 1);
    o.usr_etc_as_etc = true;
    let r = run(&o).unwrap();
    assert_eq!(whole.entries, r.entries);
    // PAX headers (the long and the non-UTF-8 name, xattrs) are not counted: a few KiB here.
    assert!(
        whole.tar_bytes <= r.uncompressed_size && r.uncompressed_size - whole.tar_bytes < 16384,
        "{} vs {}",
        whole.tar_bytes,
        r.uncompressed_size
    );
}

#[test]
fn skip_paths_leave_out_what_is_being_written() {
    let tmp = tempfile::tempdir().unwrap();
    let root = socketless_tree(tmp.path());
    // An image being written inside the tree it is made of, and an old output to be replaced.
    fs::create_dir_all(root.join("var/.img.layout-1/blobs")).unwrap();
    fs::write(root.join("var/.img.layout-1/blobs/layer0"), b"earlier layer").unwrap();
    fs::write(root.join("var/old.tar"), b"old output").unwrap();
    let skip = vec![
        root.join("var/.img.layout-1"),
        root.join("var/old.tar"),
        root.join("var/not-there"),
    ];
    let out = tmp.path().join("skip.tar");
    let mut o = opts(&root, &out, Compression::None, 1);
    o.skip_paths = skip.clone();
    let r = run(&o).unwrap();
    let listed = names(&out);
    assert!(listed.contains(&b"var/big.txt".to_vec()));
    assert!(
        !listed
            .iter()
            .any(|n| n.starts_with(b"var/.img") || n.starts_with(b"var/old")),
        "{:?}",
        listed
            .iter()
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .collect::<Vec<_>>()
    );
    let never = std::sync::atomic::AtomicBool::new(false);
    assert_eq!(
        scan_tree(&root, None, false, &skip, &[], &[], &never)
            .unwrap()
            .entries,
        r.entries
    );
}

/// Runs the ostree CLI; its stdout.
fn ostree(args: &[&str]) -> String {
    let out = Command::new("ostree")
        .args(args)
        .output()
        .expect("the ostree CLI is needed (apt-get install ostree)");
    assert!(
        out.status.success(),
        "ostree {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The commit `ref_` of `repo`, to read in place (root checksums from `ostree ls -d -C`).
fn commit_source(repo: &Path, ref_: &str) -> std::sync::Arc<apt_ostree_native::ostree_repo::CommitSource> {
    use apt_ostree_native::ostree_repo::{parse_checksum, CommitSource, TreeRef};
    let line = ostree(&["ls", &format!("--repo={}", repo.display()), "-d", "-C", ref_, "/"]);
    let fields: Vec<&str> = line.split_whitespace().collect();
    let root = TreeRef {
        contents: parse_checksum(fields[4]).unwrap(),
        meta: parse_checksum(fields[5]).unwrap(),
    };
    std::sync::Arc::new(CommitSource::open(repo.to_path_buf(), root).unwrap())
}

/// A commit read straight from a repository, in each mode read in place, gives the same bytes as
/// the hardlink checkout of its bare repository.
#[test]
fn commit_read_in_place_equals_its_checkout_in_every_mode() {
    use std::os::unix::fs::chown;
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("tree");
    for d in [
        "usr/bin",
        "usr/etc/default",
        "usr/share/doc/a",
        "usr/share/doc/b",
        "var/empty",
        "srv/secret",
    ] {
        fs::create_dir_all(root.join(d)).unwrap();
    }
    fs::write(root.join("usr/bin/tool"), b"#!/bin/sh\necho tool\n").unwrap();
    fs::set_permissions(root.join("usr/bin/tool"), fs::Permissions::from_mode(0o4755)).unwrap();
    fs::hard_link(root.join("usr/bin/tool"), root.join("usr/bin/tool-link")).unwrap();
    // Equal content in two places: one object, hardlinked by a checkout.
    fs::write(root.join("usr/share/doc/a/copyright"), b"same licence\n").unwrap();
    fs::write(root.join("usr/share/doc/b/copyright"), b"same licence\n").unwrap();
    fs::write(root.join("usr/etc/default/conf"), b"a=1\n").unwrap();
    // OSTree names are UTF-8.
    fs::write(root.join("usr/share/café-ü"), b"utf-8").unwrap();
    fs::write(root.join("usr/share/").join("n".repeat(150)), b"long").unwrap();
    fs::write(root.join("usr/share/big"), vec![7u8; 3 << 20]).unwrap();
    symlink("../bin/tool", root.join("usr/share/tool-sym")).unwrap();
    // Longer than the tar header's 100 bytes: the target goes into a PAX record as it is.
    symlink(
        format!("/{}/target", "t".repeat(150)),
        root.join("usr/share/long-sym"),
    )
    .unwrap();
    symlink("usr/bin", root.join("bin")).unwrap();
    fs::set_permissions(root.join("srv/secret"), fs::Permissions::from_mode(0o2700)).unwrap();
    chown(root.join("srv/secret"), Some(1234), Some(5678)).unwrap();
    chown(root.join("usr/share/big"), Some(4000000), Some(1)).unwrap();
    set_xattr(&root.join("usr/bin/tool"), c"security.capability", &CAP_NET_RAW);
    set_xattr(&root.join("srv/secret"), c"user.dir-note", b"kept");
    let repo = tmp.path().join("repo");
    let repo_arg = format!("--repo={}", repo.display());
    ostree(&["init", &repo_arg, "--mode=bare"]);
    ostree(&["commit", &repo_arg, "-b", "t", root.to_str().unwrap()]);
    let checkout = repo.join("tmp/co");
    ostree(&["checkout", &repo_arg, "t", checkout.to_str().unwrap()]);
    let lists = vec!["/usr/share/doc/b/copyright\n/bin\n/usr/bin/tool-link\n".to_string()];
    let never = std::sync::atomic::AtomicBool::new(false);
    let bare_scan = scan_tree(&checkout, None, true, &[], &lists, &[], &never).unwrap();
    // The same commit in every mode read in place (archive-z2: compressed objects with a header;
    // bare-user: owner, mode and xattrs in user.ostreemeta, symlinks as files): the same bytes as
    // the bare repository's checkout. bare-user-only keeps no owner, xattrs or setuid bits, so its
    // commit of the tree is another one: the same bytes as its own checkout.
    for mode in ["bare", "archive-z2", "bare-user", "bare-user-only"] {
        let repo = if mode == "bare" {
            repo.clone()
        } else {
            tmp.path().join(format!("repo-{mode}"))
        };
        let repo_arg = format!("--repo={}", repo.display());
        if mode != "bare" {
            let init = Command::new("ostree")
                .args(["init", &repo_arg, &format!("--mode={mode}")])
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&init.stderr);
            if mode == "bare-user" && !init.status.success() && stderr.contains("Operation not supported") {
                // No user xattrs on this filesystem (tmpfs before Linux 6.6, as in the arm64
                // test VM): no bare-user repository can exist here. amd64 CI runs this case.
                eprintln!(
                    "bare-user case not run: no user xattrs in {}",
                    tmp.path().display()
                );
                continue;
            }
            assert!(init.status.success(), "ostree init --mode={mode}: {stderr}");
            ostree(&["commit", &repo_arg, "-b", "t", root.to_str().unwrap()]);
        }
        let commit = commit_source(&repo, "t");
        let own = (mode == "bare-user-only").then(|| {
            let own = repo.join("tmp/co");
            ostree(&["checkout", &repo_arg, "t", own.to_str().unwrap()]);
            let scan = scan_tree(&own, None, true, &[], &lists, &[], &never).unwrap();
            (own, scan)
        });
        let (checkout, from_checkout): (&Path, _) = match &own {
            Some((path, scan)) => (path, scan),
            None => (&checkout, &bare_scan),
        };
        for (i, (compression, select)) in [
            (Compression::None, None),
            (Compression::gzip(2), None),
            (Compression::None, Some(0)),
            (Compression::None, Some(1)),
        ]
        .into_iter()
        .enumerate()
        {
            let export = |from_commit: bool| {
                let out = tmp.path().join(format!("{mode}-{i}-{from_commit}.blob"));
                let mut o = opts(if from_commit { &repo } else { checkout }, &out, compression, 2);
                o.usr_etc_as_etc = true;
                o.source_date_epoch = Some(0);
                o.commit = from_commit.then(|| commit.clone());
                o.layers[0].select = select
                    .map(|index| std::sync::Arc::new(Selection::for_layers(&lists, &[]).swap_remove(index)));
                let r = run(&o).unwrap();
                (r, fs::read(&out).unwrap())
            };
            let (a, a_bytes) = export(true);
            let (b, b_bytes) = export(false);
            assert_eq!(a, b, "{mode} case {i}");
            assert!(a_bytes == b_bytes, "{mode} case {i}: blobs differ");
            let listing = tar_list(&tmp.path().join(format!("{mode}-0-true.blob"))).join("\n");
            if i == 0 && mode == "bare-user-only" {
                // Owner and setuid gone, symlinks still symlinks, hardlinks still one object.
                assert!(
                    listing.contains("-rwxr-xr-x 0/0") && !listing.contains("1234/5678"),
                    "{listing}"
                );
                assert!(listing.contains("usr/share/tool-sym -> ../bin/tool"), "{listing}");
                assert!(
                    listing.contains("usr/share/doc/b/copyright link to usr/share/doc/a/copyright"),
                    "{listing}"
                );
            } else if i == 0 {
                assert!(
                    listing.contains("usr/share/doc/b/copyright link to usr/share/doc/a/copyright"),
                    "{listing}"
                );
                assert!(
                    listing.contains("drwx--S--- 1234/5678") && listing.contains("etc/default/conf"),
                    "{listing}"
                );
                assert!(listing.contains("-rwsr-xr-x 0/0"), "{listing}");
            }
        }
        let from_commit = scan_tree(&repo, Some(&commit), true, &[], &lists, &[], &never).unwrap();
        assert_eq!(&from_commit, from_checkout, "{mode}");
        if mode == "bare-user-only" {
            // Written by another user, the objects are that user's; the commit still says 0:0.
            for dir in fs::read_dir(repo.join("objects")).unwrap() {
                for object in fs::read_dir(dir.unwrap().path()).unwrap() {
                    let path = object.unwrap().path();
                    if path.extension() == Some(OsStr::new("file")) {
                        std::os::unix::fs::lchown(&path, Some(4321), Some(4321)).unwrap();
                    }
                }
            }
            let out = tmp.path().join("user-only-chowned.blob");
            let mut o = opts(&repo, &out, Compression::None, 2);
            o.commit = Some(commit.clone());
            run(&o).unwrap();
            let listing = tar_list(&out).join("\n");
            assert!(listing.contains("0/0") && !listing.contains("4321"), "{listing}");
        }
    }
}

/// A damaged archive object is one clear error naming it, not a wrong layer: objects inflated
/// whole (into the block, or through a buffer when they cross it) and streamed alike.
#[test]
fn corrupt_archive_objects_are_errors() {
    use apt_ostree_native::ostree_repo::parse_checksum;
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("tree");
    fs::create_dir_all(&root).unwrap();
    let text = |n: usize| {
        (0..n)
            .map(|i| (i * 7 % 251) as u8 ^ (i >> 12) as u8)
            .collect::<Vec<u8>>()
    };
    // a: inside the first block; b: crosses into the second; c: over WHOLE_INFLATE_MAX (streamed).
    fs::write(root.join("a"), vec![5u8; 100_000]).unwrap();
    fs::write(root.join("b"), text(2 << 20)).unwrap();
    fs::write(root.join("c"), text(5 << 20)).unwrap();
    let repo = tmp.path().join("repo");
    let repo_arg = format!("--repo={}", repo.display());
    ostree(&["init", &repo_arg, "--mode=archive"]);
    ostree(&["commit", &repo_arg, "-b", "t", root.to_str().unwrap()]);
    let commit = commit_source(&repo, "t");
    let export = |name: &str| {
        let mut o = opts(&repo, &tmp.path().join(name), Compression::None, 2);
        o.commit = Some(commit.clone());
        run(&o).map(|_| ())
    };
    for file in ["a", "b", "c"] {
        let file_line = ostree(&["ls", &repo_arg, "-C", "t", &format!("/{file}")]);
        let file_checksum = parse_checksum(file_line.split_whitespace().nth(4).unwrap()).unwrap();
        let object = commit.file_path(&file_checksum);
        let good = fs::read(&object).unwrap();
        // Truncated content, a header that claims one byte more or one less, a garbage header,
        // garbage instead of the deflate stream.
        let mut truncated = good.clone();
        truncated.truncate(good.len() - 10);
        let mut longer = good.clone();
        longer[8 + 7] = longer[8 + 7].wrapping_add(1); // size + 1 (big-endian, lowest byte)
        let mut shorter = good.clone();
        shorter[8 + 7] = shorter[8 + 7].wrapping_sub(1);
        let header = 8 + u32::from_be_bytes(good[..4].try_into().unwrap()) as usize;
        let mut bad_stream = good.clone();
        bad_stream[header..].fill(0xff);
        let cases: [(&str, Vec<u8>); 5] = [
            ("truncated", truncated),
            ("longer", longer),
            ("shorter", shorter),
            ("garbage", vec![0xff; 40]),
            ("bad-stream", bad_stream),
        ];
        for (case, bytes) in cases {
            fs::set_permissions(&object, fs::Permissions::from_mode(0o644)).unwrap();
            fs::write(&object, &bytes).unwrap();
            let message = export(&format!("{file}-{case}")).unwrap_err().to_string();
            assert!(
                message.contains(object.to_str().unwrap()),
                "{file} {case}: {message}"
            );
            assert!(
                message.contains("not a valid OSTree file object"),
                "{file} {case}: {message}"
            );
        }
        fs::write(&object, &good).unwrap();
    }
    // Intact again: the files' contents come out as they went in.
    export("good").unwrap();
    let unpacked = tmp.path().join("unpacked");
    fs::create_dir(&unpacked).unwrap();
    let tar = Command::new("tar")
        .arg("-xf")
        .arg(tmp.path().join("good"))
        .arg("-C")
        .arg(&unpacked)
        .status()
        .unwrap();
    assert!(tar.success());
    for file in ["a", "b", "c"] {
        assert!(
            fs::read(unpacked.join(file)).unwrap() == fs::read(root.join(file)).unwrap(),
            "{file}"
        );
    }
}

#[test]
fn usr_etc_as_etc_and_source_date_epoch() {
    let tmp = tempfile::tempdir().unwrap();
    let root = socketless_tree(tmp.path());
    let out = tmp.path().join("l.tar");
    let mut o = opts(&root, &out, Compression::None, 2);
    o.usr_etc_as_etc = true;
    o.source_date_epoch = Some(86400);
    let r = run(&o).unwrap();
    assert!(r.warnings.is_empty());
    let n = names(&out);
    let pos = |s: &str| {
        n.iter()
            .position(|x| x == s.as_bytes())
            .unwrap_or_else(|| panic!("{s} missing"))
    };
    assert!(pos("etc/") < pos("etc/default/conf") && pos("etc/default/conf") < pos("usr/"));
    assert!(!n.iter().any(|x| x.starts_with(b"usr/etc")));
    let all = tar_list(&out).join("\n");
    assert!(
        all.contains("var/lib/conf-link link to etc/default/conf"),
        "{all}"
    );
    assert!(all.contains("1970-01-02"), "mtimes clamped: {all}");

    fs::create_dir(root.join("etc")).unwrap();
    let out2 = tmp.path().join("l2.tar");
    let mut o2 = opts(&root, &out2, Compression::None, 2);
    o2.usr_etc_as_etc = true;
    let e = run(&o2).unwrap_err().to_string();
    assert!(e.contains("both etc and usr/etc"), "{e}");
    assert!(!out2.exists(), "partial output removed");
}

#[test]
fn errors_and_cancel() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    fs::create_dir_all(root.join("d")).unwrap();
    fs::write(root.join("d/f"), b"x").unwrap();

    // Existing output is refused and left alone.
    let exists = tmp.path().join("exists");
    fs::write(&exists, b"keep").unwrap();
    let e = run(&opts(&root, &exists, Compression::None, 1))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with(&format!("cannot create {}: ", exists.display())),
        "{e}"
    );
    assert_eq!(fs::read(&exists).unwrap(), b"keep");

    // Missing root: one line naming the path, no output left behind.
    let out = tmp.path().join("out");
    let missing = tmp.path().join("missing");
    let e = run(&opts(&missing, &out, Compression::gzip(4), 2))
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        format!(
            "cannot read {}: No such file or directory (os error 2)",
            missing.display()
        )
    );
    assert!(!out.exists());

    // Cancelled before it starts.
    let ctl = Control::default();
    ctl.cancel.store(true, std::sync::atomic::Ordering::Relaxed);
    for c in [
        Compression::gzip(4),
        Compression::Zstd { level: 3 },
        Compression::None,
    ] {
        let e = export_layer(&opts(&root, &out, c, 2), &ctl).unwrap_err();
        assert_eq!(e, Error::Cancelled);
        assert!(!out.exists());
    }

    // Empty tree: just the end-of-archive blocks.
    let empty = tmp.path().join("empty");
    fs::create_dir(&empty).unwrap();
    let r = run(&opts(&empty, &out, Compression::gzip(4), 2)).unwrap();
    assert_eq!(r.uncompressed_size, 1024);
    assert_eq!(r.entries, 0);
    assert_eq!(decompress(&out, Compression::gzip(4)), vec![0u8; 1024]);
}

/// The unordered walk (the scan's) sees exactly the entries of the sorted walk, with the same
/// metadata, for any number of threads: usr/etc as etc, a skipped directory, many directories.
#[test]
fn whiteout_names_are_left_out_with_a_warning() {
    // Image tools read `.wh.NAME` as "delete NAME below" and `.wh..wh..opq` as "hide this
    // directory's contents below": written as files, they would delete, not add.
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    fs::create_dir_all(root.join("d")).unwrap();
    fs::create_dir_all(root.join(".wh.dir/inner")).unwrap();
    fs::write(root.join(".wh.secret"), b"x").unwrap();
    fs::write(root.join("d/.wh..wh..opq"), b"y").unwrap();
    fs::write(root.join("d/keep"), b"z").unwrap();
    fs::write(root.join("d/x.wh.not-a-whiteout"), b"w").unwrap();
    fs::write(root.join(".wh.dir/inner/f"), b"v").unwrap();
    let text = |v: Vec<Vec<u8>>| {
        v.iter()
            .map(|x| String::from_utf8_lossy(x).into_owned())
            .collect::<Vec<_>>()
    };
    let out = tmp.path().join("all.tar");
    let r = run(&opts(&root, &out, Compression::None, 1)).unwrap();
    assert_eq!(text(names(&out)), ["d/", "d/keep", "d/x.wh.not-a-whiteout"]);
    assert_eq!(
        r.warnings,
        [
            "skipped .wh.dir: image tools read a name starting with .wh. as a whiteout",
            "skipped .wh.secret: image tools read a name starting with .wh. as a whiteout",
            "skipped d/.wh..wh..opq: image tools read a name starting with .wh. as a whiteout",
        ]
    );
    // A layer of listed paths: one under a whiteout's name leaves no directory behind.
    let listed = ["d/keep", ".wh.dir/inner/f"]
        .map(|s| s.as_bytes().to_vec())
        .to_vec();
    let out = tmp.path().join("only.tar");
    let mut o = opts(&root, &out, Compression::None, 1);
    o.layers[0].select = Some(std::sync::Arc::new(Selection::only(listed)));
    run(&o).unwrap();
    assert_eq!(text(names(&out)), ["d/", "d/keep"]);
}

#[test]
fn unordered_walk_sees_what_the_sorted_walk_sees() {
    use apt_ostree_native::walk::{walk, walk_unordered, WalkOptions};
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    make_tree(&root);
    for i in 0..40 {
        let d = root.join(format!("usr/share/d{i}/sub{}", i % 3));
        fs::create_dir_all(&d).unwrap();
        for j in 0..i % 7 {
            fs::write(d.join(format!("f{j}")), vec![b'x'; i * j]).unwrap();
        }
    }
    fs::create_dir_all(root.join("var/skipped/deep")).unwrap();
    fs::write(root.join("var/skipped/deep/f"), b"no").unwrap();
    let skip = apt_ostree_native::export::skip_ids(&[root.join("var/skipped")]);
    let never = std::sync::atomic::AtomicBool::new(false);
    let opts = WalkOptions {
        select: None,
        usr_etc_as_etc: true,
        skip: &skip,
        cancel: &never,
        commit: None,
    };
    let key = |e: &apt_ostree_native::walk::Entry| {
        (
            e.rel.clone(),
            e.path.clone(),
            e.meta.mode,
            e.meta.size,
            e.meta.ino,
        )
    };
    let mut sorted = Vec::new();
    walk(&root, &opts, &mut |e| {
        sorted.push(key(&e));
        Ok(())
    })
    .unwrap();
    assert!(sorted.iter().any(|k| k.0 == b"etc/default/conf"));
    assert!(!sorted
        .iter()
        .any(|k| k.0.starts_with(b"usr/etc") || k.0.starts_with(b"var/skipped")));
    sorted.sort();
    for threads in [1, 2, 4] {
        let seen = std::sync::Mutex::new(Vec::new());
        walk_unordered(&root, &opts, threads, &|e| {
            seen.lock().unwrap().push(key(&e));
            Ok(())
        })
        .unwrap();
        let mut seen = seen.into_inner().unwrap();
        seen.sort();
        assert!(seen == sorted, "threads={threads}");
    }
    // An error stops it; a cancel is reported as such.
    let e = walk_unordered(&root, &opts, 2, &|e| {
        if e.rel.ends_with(b"f3") {
            Err(Error::msg("stop".into()))
        } else {
            Ok(())
        }
    })
    .unwrap_err();
    assert_eq!(e.to_string(), "stop");
    let cancelled = std::sync::atomic::AtomicBool::new(true);
    let e = walk_unordered(
        &root,
        &WalkOptions {
            cancel: &cancelled,
            ..opts
        },
        2,
        &|_| Ok(()),
    )
    .unwrap_err();
    assert_eq!(e, Error::Cancelled);
}

/// Text-like bytes that deflate into several blocks (not all literals, not all matches).
fn words(seed: u64, len: usize) -> Vec<u8> {
    let vocab: Vec<String> = (0..500)
        .map(|i| {
            format!(
                "w{:x}{}",
                i * 2654435761u64 % 99991,
                "aeiou".repeat(i as usize % 4)
            )
        })
        .collect();
    let mut x = seed;
    let mut out = Vec::with_capacity(len + 64);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(vocab[(x % 500) as usize].as_bytes());
        out.push(if x.is_multiple_of(11) { b'\n' } else { b' ' });
    }
    out.truncate(len);
    out
}

/// All layers of a split through one pipeline: every blob equals the one a separate export of
/// that layer writes (gzip's level mix counts blocks per layer, and a layer's first block has no
/// dictionary), whatever the thread count; an error leaves no layer behind.
#[test]
fn layers_in_one_pass_equal_separate_exports() {
    let tmp = tempfile::tempdir().unwrap();
    let root = socketless_tree(tmp.path());
    // Nine blocks and more in each of the first two layers: the mix's stronger block falls at
    // a different place if blocks were counted across layers.
    fs::write(root.join("usr/a.txt"), words(1, 9 * 1048576 + 4000)).unwrap();
    fs::write(root.join("usr/b.txt"), words(2, 9 * 1048576 + 100)).unwrap();
    fs::write(root.join("usr/c.txt"), words(3, 300_000)).unwrap();
    let only = |p: &[&str]| Selection::only(p.iter().map(|s| s.as_bytes().to_vec()));
    let selections = || {
        [
            only(&["usr/a.txt", "etc/default/conf"]),
            only(&["usr/b.txt"]),
            // A layer with no entry at all: just its end-of-archive blocks.
            only(&["nothing/here"]),
            Selection::all_but(
                ["usr/a.txt", "etc/default/conf", "usr/b.txt"]
                    .iter()
                    .map(|s| s.as_bytes().to_vec()),
            ),
        ]
    };
    // The layers above into `outs` (as many as there are outputs).
    let targets = |outs: &[PathBuf]| -> Vec<LayerTarget> {
        selections()
            .into_iter()
            .zip(outs)
            .map(|(sel, out)| LayerTarget {
                output: out.clone(),
                select: Some(std::sync::Arc::new(sel)),
            })
            .collect()
    };
    for c in [
        Compression::parse("gzip", None).unwrap(),
        Compression::gzip(6),
        Compression::Zstd { level: 3 },
        Compression::None,
    ] {
        let dir = tmp.path().join(format!("{c}"));
        fs::create_dir(&dir).unwrap();
        let mut separate = Vec::new();
        for (i, sel) in selections().into_iter().enumerate() {
            let out = dir.join(format!("alone-{i}"));
            let mut o = opts(&root, &out, c, 2);
            o.layers[0].select = Some(std::sync::Arc::new(sel));
            separate.push((run(&o).unwrap(), fs::read(&out).unwrap()));
        }
        assert!(
            separate[0].0.uncompressed_size > 9 * 1048576 && separate[1].0.uncompressed_size > 9 * 1048576
        );
        assert_eq!(separate[2].0.entries, 0);
        for threads in [1, 2] {
            let outs: Vec<PathBuf> = (0..4).map(|i| dir.join(format!("t{threads}-{i}"))).collect();
            let mut o = opts(&root, &outs[0], c, threads);
            o.layers = targets(&outs);
            let ctl = Control::default();
            let results = export_layers(&o, &ctl).unwrap();
            assert_eq!(results.len(), 4);
            for (i, r) in results.iter().enumerate() {
                assert_eq!(r, &separate[i].0, "{c} threads={threads} layer {i}");
                assert!(
                    fs::read(&outs[i]).unwrap() == separate[i].1,
                    "{c} threads={threads} layer {i}"
                );
            }
            // The counters run over all layers.
            let sum = |f: fn(&ExportResult) -> u64| results.iter().map(f).sum::<u64>();
            let load = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
            assert_eq!(load(&ctl.bytes_read), sum(|r| r.uncompressed_size));
            assert_eq!(load(&ctl.bytes_written), sum(|r| r.size));
            assert_eq!(load(&ctl.entries), sum(|r| r.entries));
            assert_eq!(load(&ctl.layer), 3);
        }
    }

    // A layer's output that exists: refused, left alone, and no other layer is left behind.
    let outs: Vec<PathBuf> = (0..3).map(|i| tmp.path().join(format!("e{i}"))).collect();
    fs::write(&outs[1], b"keep").unwrap();
    let mut o = opts(&root, &outs[0], Compression::parse("gzip", None).unwrap(), 2);
    o.layers = outs.iter().map(LayerTarget::whole).collect();
    let e = export_layers(&o, &Control::default()).unwrap_err().to_string();
    assert!(
        e.starts_with(&format!("cannot create {}: ", outs[1].display())),
        "{e}"
    );
    assert_eq!(fs::read(&outs[1]).unwrap(), b"keep");
    assert!(!outs[0].exists() && !outs[2].exists());

    // Cancelled in the middle (once the second layer is being read): nothing is left.
    fs::remove_file(&outs[1]).unwrap();
    for c in [
        Compression::parse("gzip", None).unwrap(),
        Compression::Zstd { level: 3 },
        Compression::None,
    ] {
        let ctl = Control::default();
        let mut o = opts(&root, &outs[0], c, 2);
        o.layers = targets(&outs);
        let e = std::thread::scope(|s| {
            s.spawn(|| {
                while ctl.layer.load(std::sync::atomic::Ordering::Relaxed) < 1 {
                    std::thread::yield_now();
                }
                ctl.cancel.store(true, std::sync::atomic::Ordering::Relaxed);
            });
            export_layers(&o, &ctl).unwrap_err()
        });
        assert_eq!(e, Error::Cancelled, "{c}");
        assert!(outs.iter().all(|p| !p.exists()), "{c}");
    }
}

/// A tree whose tar is an exact multiple of the block size (gzip's pieces, zstd's frames) still
/// ends properly.
#[test]
fn block_aligned_tar() {
    let tmp = tempfile::tempdir().unwrap();
    for (i, c) in [
        Compression::gzip(4),
        Compression::Zstd { level: 1 },
        Compression::Zstd { level: 3 },
        Compression::None,
    ]
    .into_iter()
    .enumerate()
    {
        let root = tmp.path().join(format!("root{i}"));
        fs::create_dir(&root).unwrap();
        // header 512 + content + trailer 1024 == 2 blocks
        let block = c.block_size();
        fs::write(root.join("f"), vec![7u8; 2 * block - 1536]).unwrap();
        let out = tmp.path().join(format!("o{i}"));
        let r = run(&opts(&root, &out, c, 2)).unwrap();
        assert_eq!(r.uncompressed_size, 2 * block as u64);
        assert_eq!(decompress(&out, c).len(), 2 * block, "{c}");
        assert_eq!(r.digest, sha(&out));
    }
}

#[test]
fn zstd_layers_are_one_frame_per_block() {
    // Each tar block (of the level's frame size) is its own frame, with its size and checksum,
    // and decodes alone to exactly that block; the frames are in order, whatever the thread
    // count. Incompressible stretches (raw blocks inside frames) among text.
    use apt_ostree_native::compress::zstd_frame_size;
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    fs::create_dir(&root).unwrap();
    // Incompressible: SHA-256 of a counter, block after block.
    let noise = |seed: u64, n: usize| -> Vec<u8> {
        (0..n.div_ceil(32) as u64)
            .flat_map(|i| {
                let mut sha = apt_ostree_native::sha256::Sha256::new();
                sha.update(&[seed.to_le_bytes(), i.to_le_bytes()].concat());
                sha.finalize()
            })
            .take(n)
            .collect()
    };
    fs::write(root.join("a-noise"), noise(1, 12 << 20)).unwrap();
    fs::write(root.join("b-text"), words(7, 3 << 20)).unwrap();
    fs::write(root.join("c-noise"), noise(2, 9 << 20)).unwrap();
    let plain = tmp.path().join("plain");
    let tar = run(&opts(&root, &plain, Compression::None, 2)).unwrap();
    let tar_bytes = fs::read(&plain).unwrap();
    assert!(tar_bytes.len() > 20 << 20);
    // Exports the tree; checks digest, diffid and what it decodes to; gives the blob.
    let export = |c: Compression, threads: usize| -> Vec<u8> {
        let out = tmp.path().join(format!("{c}-{threads}"));
        let r = run(&opts(&root, &out, c, threads)).unwrap();
        assert_eq!(r.digest, sha(&out), "{c}, {threads} threads: digest");
        assert_eq!(r.diff_id, tar.diff_id, "{c}, {threads} threads: diffid");
        assert!(decompress(&out, c) == tar_bytes);
        fs::read(&out).unwrap()
    };
    for level in [1, -7, 3, 7] {
        let c = Compression::Zstd { level };
        let mut blobs = Vec::new();
        for threads in [1, 2] {
            let blob = export(c, threads);
            let mut rest = &blob[..];
            let frame_size = zstd_frame_size(level);
            let mut blocks = tar_bytes.chunks(frame_size);
            while !rest.is_empty() {
                let n = zstd::zstd_safe::find_frame_compressed_size(rest).unwrap();
                let frame = &rest[..n];
                let block = blocks.next().expect("no more frames than blocks");
                assert_eq!(
                    zstd::zstd_safe::get_frame_content_size(frame).unwrap(),
                    Some(block.len() as u64),
                    "{c}: the frame says its block's size"
                );
                assert_eq!(frame[4] & 0x04, 0x04, "{c}: the frame has a checksum");
                assert!(zstd::bulk::decompress(frame, frame_size).unwrap() == block);
                rest = &rest[n..];
            }
            assert!(blocks.next().is_none(), "{c}: a frame per block");
            blobs.push(blob);
        }
        assert!(blobs[0] == blobs[1], "{c}: the same bytes for 1 and 2 threads");
    }
    // One frame per layer (libzstd's multithreaded stream): its output comes in bursts and, where
    // the tar does not compress, as fast as the tar, so the writer's backlog of output to hash
    // passes its limit (2 MiB) and its oldest part is hashed alone. Same checks, one frame.
    for level in [1, 3] {
        let c = Compression::ZstdOneFrame { level };
        let mut blobs = Vec::new();
        for threads in [1, 2] {
            let blob = export(c, threads);
            assert_eq!(
                zstd::zstd_safe::find_frame_compressed_size(&blob).unwrap(),
                blob.len(),
                "{c}: one frame"
            );
            blobs.push(blob);
        }
        assert!(blobs[0] == blobs[1], "{c}: the same bytes for 1 and 2 threads");
    }
}
