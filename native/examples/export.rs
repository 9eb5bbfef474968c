//! Runs one export from the command line, for measurements:
//! `cargo run --release --example export -- ROOT OUTPUT gzip|zstd|none [LEVEL] [THREADS]`
use apt_ostree_native::compress::Compression;
use apt_ostree_native::export::{default_threads, export_layer, Control, ExportOptions, LayerTarget};
use std::time::Instant;

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let level = a.get(4).map(|s| s.parse().unwrap());
    let compression = Compression::parse(&a[3], level).unwrap();
    let threads = a
        .get(5)
        .map(|s| s.parse().unwrap())
        .unwrap_or_else(default_threads);
    let opts = ExportOptions {
        root: a[1].clone().into(),
        layers: vec![LayerTarget::whole(&a[2])],
        compression,
        threads,
        source_date_epoch: None,
        usr_etc_as_etc: false,
        skip_paths: Vec::new(),
        commit: None,
    };
    let t = Instant::now();
    match export_layer(&opts, &Control::default()) {
        Ok(r) => println!(
            "{compression} threads={threads}: {:.2} s, {:.1} MB/s of tar, blob {} bytes, tar {} bytes, {} entries\n  digest {}\n  diffid {}",
            t.elapsed().as_secs_f64(),
            r.uncompressed_size as f64 / 1e6 / t.elapsed().as_secs_f64(),
            r.size, r.uncompressed_size, r.entries, r.digest, r.diff_id
        ),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
