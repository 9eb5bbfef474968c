//! Measures SHA-256 of a tar and its blob, as an export hashes them: `sha2` one stream after the
//! other, ours one after the other, and ours two at once.
//! `cargo run --release --no-default-features --example shabench -- FILE`
use apt_ostree_native::sha256::Sha256;
use sha2::Digest;
use std::time::Instant;

fn main() {
    let path = std::env::args().nth(1).expect("FILE");
    let tar = std::fs::read(path).unwrap();
    // A stand-in for the blob: 36% of the tar, as gzip makes it on the bench's tree.
    let blob = &tar[..tar.len() * 36 / 100];
    let blocks: Vec<(&[u8], &[u8])> = tar
        .chunks(1 << 20)
        .zip(blob.chunks(blob.len().div_ceil(tar.len().div_ceil(1 << 20))))
        .collect();
    for _ in 0..2 {
        let t = Instant::now();
        let (mut a, mut b) = (sha2::Sha256::new(), sha2::Sha256::new());
        for (x, y) in &blocks {
            a.update(x);
            b.update(y);
        }
        let want: ([u8; 32], [u8; 32]) = (a.finalize().into(), b.finalize().into());
        let t_sha2 = t.elapsed().as_secs_f64();

        let t = Instant::now();
        let (mut a, mut b) = (Sha256::new(), Sha256::new());
        for (x, y) in &blocks {
            a.update(x);
            b.update(y);
        }
        assert_eq!((a.finalize(), b.finalize()), want);
        let t_one = t.elapsed().as_secs_f64();

        let t = Instant::now();
        let (mut a, mut b) = (Sha256::new(), Sha256::new());
        for (x, y) in &blocks {
            Sha256::update_two(&mut a, x, &mut b, y);
        }
        assert_eq!((a.finalize(), b.finalize()), want);
        let t_two = t.elapsed().as_secs_f64();
        let gb = (tar.len() + blob.len()) as f64 / 1e9;
        println!(
            "sha2 {t_sha2:.3} s ({:.2} GB/s), ours one by one {t_one:.3} s ({:.2} GB/s), two at once {t_two:.3} s ({:.2} GB/s)",
            gb / t_sha2,
            gb / t_one,
            gb / t_two
        );
    }
}
