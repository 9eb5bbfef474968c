//! Besides napi's link setup: builds libdeflate's compressor a second time, changed so that its
//! stream never ends in a final block but in a sync flush (an empty stored block), which the next
//! piece of a parallel gzip can follow. The source is the one the libdeflate-sys crate ships
//! (compiled unchanged for libdeflater); two edits are made to a copy in OUT_DIR and its public
//! functions are renamed `apt_ostree_nonfinal_*`, so both copies link side by side.

use std::path::{Path, PathBuf};
use std::{env, fs};

fn main() {
    // napi-build sets the link arguments a Node addon needs; only with the binding.
    if env::var_os("CARGO_FEATURE_NAPI").is_some() {
        napi_build::setup();
    }
    build_nonfinal_deflate();
}

fn build_nonfinal_deflate() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let lock = manifest_dir.join("Cargo.lock");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed={}", lock.display());
    let source = libdeflate_source(&lock);
    let lib = source.join("lib");
    let original = lib.join("deflate_compress.c");
    let text =
        fs::read_to_string(&original).unwrap_or_else(|e| panic!("cannot read {}: {e}", original.display()));
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").unwrap());
    let patched = out_dir.join("deflate_compress_nonfinal.c");
    fs::write(&patched, nonfinal(&text, &original)).unwrap();
    cc::Build::new()
        .file(&patched)
        // The copy's own includes ("deflate_compress.h", ...) resolve in the original directory.
        .include(&lib)
        .include(&source)
        .opt_level(3)
        .warnings(false)
        .compile("deflate_nonfinal");
}

/// The directory of libdeflate's sources inside the libdeflate-sys crate of Cargo.lock, in
/// Cargo's registry.
fn libdeflate_source(lock: &Path) -> PathBuf {
    let lock_text =
        fs::read_to_string(lock).unwrap_or_else(|e| panic!("cannot read {}: {e}", lock.display()));
    let version = lock_text
        .split("[[package]]")
        .find(|p| p.contains("name = \"libdeflate-sys\""))
        .and_then(|p| p.lines().find_map(|l| l.strip_prefix("version = \"")))
        .map(|v| v.trim_end_matches('"').to_string())
        .expect("Cargo.lock has no libdeflate-sys package");
    let cargo_home = env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")))
        .expect("neither CARGO_HOME nor HOME is set");
    let registry = cargo_home.join("registry").join("src");
    let crate_dir = format!("libdeflate-sys-{version}");
    let found = fs::read_dir(&registry)
        .ok()
        .into_iter()
        .flatten()
        .flatten()
        .find_map(|index| {
            let dir = index.path().join(&crate_dir).join("libdeflate");
            dir.join("lib/deflate_compress.c").is_file().then_some(dir)
        });
    found.unwrap_or_else(|| {
        panic!(
            "libdeflate's sources ({crate_dir}) are not under {}",
            registry.display()
        )
    })
}

/// deflate_compress.c with its public functions renamed and its streams ended by a sync flush.
fn nonfinal(text: &str, path: &Path) -> String {
    let replace_once = |text: &str, from: &str, to: &str| -> String {
        let n = text.matches(from).count();
        assert!(
            n == 1,
            "{}: expected one `{from}`, found {n}; build.rs needs updating",
            path.display()
        );
        text.replacen(from, to, 1)
    };
    // Every block is written by deflate_flush_block: none of them gets BFINAL.
    let text = replace_once(
        text,
        "\t\t    bool is_final_block)\n{\n",
        "\t\t    bool is_final_block)\n{\n\tis_final_block = false; /* apt-ostree */\n",
    );
    // Where the stream's last bits would be padded to a byte: an empty stored block instead
    // (3 zero header bits, padding, LEN 0000, NLEN ffff); 0 if the buffer is too small.
    let text = replace_once(
        &text,
        "\tif (os.bitcount) {\n\t\tASSERT(os.next < os.end);\n\t\t*os.next++ = os.bitbuf;\n\t}\n",
        "\tos.bitcount += 3; /* apt-ostree: sync flush */\n\
         \tif (os.end - os.next < (os.bitcount + 7) / 8 + 4)\n\
         \t\treturn 0;\n\
         \tfor (; os.bitcount > 0; os.bitcount -= MIN(os.bitcount, 8)) {\n\
         \t\t*os.next++ = (u8)os.bitbuf;\n\
         \t\tos.bitbuf >>= 8;\n\
         \t}\n\
         \t*os.next++ = 0x00;\n\
         \t*os.next++ = 0x00;\n\
         \t*os.next++ = 0xff;\n\
         \t*os.next++ = 0xff;\n",
    );
    let mut renamed = String::new();
    for f in [
        "alloc_compressor",
        "alloc_compressor_ex",
        "deflate_compress",
        "deflate_compress_bound",
        "free_compressor",
        "get_compression_level",
    ] {
        renamed += &format!("#define libdeflate_{f} apt_ostree_nonfinal_{f}\n");
    }
    renamed + "#line 1 \"deflate_compress.c\"\n" + &text
}
