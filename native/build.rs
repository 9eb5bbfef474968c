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
    println!("cargo:rerun-if-changed={}", original.display());
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

/// Names an explicit libdeflate-sys crate directory, for builds where none of the places below has it.
const SOURCE_DIR_VAR: &str = "APT_OSTREE_LIBDEFLATE_SYS_DIR";

/// The directory of libdeflate's sources inside the libdeflate-sys crate of Cargo.lock: the one
/// SOURCE_DIR_VAR names, else the first found in Cargo's registry and in the directory sources
/// (`cargo vendor`, Debian's /usr/share/cargo/registry) that Cargo's configuration files and
/// CARGO_SOURCE_*_DIRECTORY name.
fn libdeflate_source(lock: &Path) -> PathBuf {
    let lock_text =
        fs::read_to_string(lock).unwrap_or_else(|e| panic!("cannot read {}: {e}", lock.display()));
    let version = lock_text
        .split("[[package]]")
        .find(|p| p.contains("name = \"libdeflate-sys\""))
        .and_then(|p| p.lines().find_map(|l| l.strip_prefix("version = \"")))
        .map(|v| v.trim_end_matches('"').to_string())
        .expect("Cargo.lock has no libdeflate-sys package");
    let sources = |crate_dir: &Path| crate_dir.join("libdeflate");
    let has_sources = |crate_dir: &Path| sources(crate_dir).join("lib/deflate_compress.c").is_file();

    println!("cargo:rerun-if-env-changed={SOURCE_DIR_VAR}");
    if let Some(dir) = env::var_os(SOURCE_DIR_VAR).map(PathBuf::from) {
        if !has_sources(&dir) {
            panic!(
                "{SOURCE_DIR_VAR}={} has no libdeflate/lib/deflate_compress.c",
                dir.display()
            );
        }
        return sources(&dir);
    }
    let mut searched = Vec::new();
    let cargo_home = env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")));
    // Cargo's registry: src/<index>/libdeflate-sys-<version>.
    if let Some(home) = &cargo_home {
        let registry = home.join("registry").join("src");
        let found = fs::read_dir(&registry)
            .ok()
            .into_iter()
            .flatten()
            .flatten()
            .map(|index| index.path().join(format!("libdeflate-sys-{version}")))
            .find(|dir| has_sources(dir));
        if let Some(dir) = found {
            return sources(&dir);
        }
        searched.push(registry);
    }
    // Directory sources: <dir>/libdeflate-sys or <dir>/libdeflate-sys-<version>, of this version.
    for dir in directory_sources(cargo_home.as_deref()) {
        let found = [format!("libdeflate-sys-{version}"), "libdeflate-sys".to_string()]
            .into_iter()
            .map(|name| dir.join(name))
            .find(|c| has_sources(c) && crate_version(c).as_deref() == Some(version.as_str()));
        if let Some(c) = found {
            return sources(&c);
        }
        searched.push(dir);
    }
    let searched: Vec<String> = searched.iter().map(|p| p.display().to_string()).collect();
    panic!(
        "libdeflate's sources (libdeflate-sys {version}) were not found in {}; set {SOURCE_DIR_VAR} \
         to the crate's directory",
        searched.join(", ")
    )
}

/// The `directory` of every source in Cargo's configuration: the `.cargo/config.toml` (or
/// `config`) of this directory and its parents and of CARGO_HOME, CARGO_SOURCE_*_DIRECTORY, and
/// Debian's packaged crates. A relative directory is relative to the folder holding `.cargo`.
fn directory_sources(cargo_home: Option<&Path>) -> Vec<PathBuf> {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let mut configs = Vec::new();
    for dir in manifest_dir.ancestors() {
        configs.push(dir.join(".cargo"));
    }
    configs.extend(cargo_home.map(Path::to_path_buf));
    let mut dirs = Vec::new();
    for config_dir in configs {
        for name in ["config.toml", "config"] {
            let file = config_dir.join(name);
            let Ok(text) = fs::read_to_string(&file) else {
                continue;
            };
            println!("cargo:rerun-if-changed={}", file.display());
            let base = config_dir.parent().unwrap_or(Path::new("/"));
            dirs.extend(
                text.lines()
                    .filter_map(|line| toml_string_value(line, "directory"))
                    .map(|d| base.join(d)),
            );
        }
    }
    // vars_os: env::vars panics on a variable that is not UTF-8.
    for (key, value) in env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("CARGO_SOURCE_") && key.ends_with("_DIRECTORY") {
            dirs.push(PathBuf::from(value));
        }
    }
    dirs.push(PathBuf::from("/usr/share/cargo/registry"));
    dirs
}

/// `value` of a `key = "value"` line (no escapes; paths in Cargo's configuration have none).
fn toml_string_value<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let rest = line
        .trim()
        .strip_prefix(key)?
        .trim_start()
        .strip_prefix('=')?
        .trim();
    let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let inner = &rest[1..];
    inner.find(quote).map(|end| &inner[..end])
}

/// The `version` of a crate's Cargo.toml (its first `version = "..."` line, the package's own).
fn crate_version(crate_dir: &Path) -> Option<String> {
    let text = fs::read_to_string(crate_dir.join("Cargo.toml")).ok()?;
    text.lines()
        .find_map(|l| toml_string_value(l, "version"))
        .map(str::to_string)
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
