//! Measures the final-block scan against the inflate walk on libdeflate pieces of a tar file:
//! `cargo run --release --example scanbench -- FILE`. One thread; both must agree on every piece.
use apt_ostree_native::compress::{final_block_bits, BLOCK_SIZE};
use apt_ostree_native::deflate_scan::DeflateScanner;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let data = std::fs::read(&args[1]).unwrap();
    for level in [1i32, 2] {
        let mut c = libdeflater::Compressor::new(libdeflater::CompressionLvl::new(level).unwrap());
        let pieces: Vec<Vec<u8>> = data
            .chunks(BLOCK_SIZE)
            .map(|p| {
                let mut out = vec![0u8; c.deflate_compress_bound(p.len())];
                let n = c.deflate_compress(p, &mut out).unwrap();
                out.truncate(n);
                out
            })
            .collect();
        let mut scratch = Vec::new();
        let t = Instant::now();
        let walked: Vec<_> = pieces.iter().map(|p| final_block_bits(p, &mut scratch)).collect();
        let t_walk = t.elapsed().as_secs_f64();

        let mut one = DeflateScanner::new();
        let t = Instant::now();
        let single: Vec<_> = pieces.iter().map(|p| one.final_block(p)).collect();
        let t_one = t.elapsed().as_secs_f64();

        let mut two = [DeflateScanner::new(), DeflateScanner::new()];
        let t = Instant::now();
        let paired: Vec<_> = pieces
            .chunks(2)
            .flat_map(|p| match p {
                [a, b] => DeflateScanner::final_blocks(&mut two, [a, b]).to_vec(),
                _ => vec![two[0].final_block(&p[0])],
            })
            .collect();
        let t_two = t.elapsed().as_secs_f64();

        assert!(
            walked == single && walked == paired,
            "level {level}: scans disagree"
        );
        println!(
            "level {level}, {} pieces: inflate walk {t_walk:.3} s; scan {t_one:.3} s ({:.2}x faster); two at a time {t_two:.3} s ({:.2}x)",
            pieces.len(),
            t_walk / t_one,
            t_walk / t_two
        );
    }
}
