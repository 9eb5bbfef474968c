//! Measures compression candidates on a tar file: `cargo run --release --example gzbench -- FILE [threads]`.
//! Prints MB/s of uncompressed input (wall clock, all threads) and the output size.
use apt_ostree_native::compress::{self, DeflateBlocks, BLOCK_SIZE, DICT_SIZE};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

fn parallel<F: Fn(usize) -> usize + Sync>(nblocks: usize, threads: usize, f: F) -> usize {
    let next = AtomicUsize::new(0);
    let total = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= nblocks {
                    break;
                }
                total.fetch_add(f(i), Ordering::Relaxed);
            });
        }
    });
    total.into_inner()
}

fn cpu() -> f64 {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    ru.ru_utime.tv_sec as f64
        + ru.ru_utime.tv_usec as f64 / 1e6
        + ru.ru_stime.tv_sec as f64
        + ru.ru_stime.tv_usec as f64 / 1e6
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let data = std::fs::read(&args[1]).unwrap();
    let threads: usize = args.get(2).map(|s| s.parse().unwrap()).unwrap_or(2);
    let which = args.get(3).cloned().unwrap_or_else(|| "all".into());
    let mb = data.len() as f64 / 1e6;
    // PIECE=bytes measures other block sizes than the pipeline's.
    let piece: usize = std::env::var("PIECE")
        .ok()
        .map(|s| s.parse().unwrap())
        .unwrap_or(BLOCK_SIZE);
    let nblocks = data.len().div_ceil(piece);
    let block = |i: usize| &data[i * piece..((i + 1) * piece).min(data.len())];
    println!("input {:.1} MB, {} blocks, {} threads", mb, nblocks, threads);
    if which == "all" || which == "zlibrs" {
        for level in [1u32, 2, 3, 4, 5, 6] {
            let t = Instant::now();
            let c0 = cpu();
            let size = parallel(nblocks, threads, |i| {
                thread_local!(static D: std::cell::RefCell<Option<(u32, DeflateBlocks)>> = const { std::cell::RefCell::new(None) });
                D.with(|d| {
                    let mut d = d.borrow_mut();
                    if d.as_ref().map(|x| x.0) != Some(level) {
                        *d = Some((level, DeflateBlocks::new(level)));
                    }
                    let start = i * BLOCK_SIZE;
                    let dict = &data[start.saturating_sub(DICT_SIZE)..start];
                    let mut out = Vec::new();
                    d.as_mut()
                        .unwrap()
                        .1
                        .compress(block(i), dict, i + 1 == nblocks, &mut out);
                    out.len()
                })
            }) + 18;
            let s = t.elapsed().as_secs_f64();
            let c = cpu() - c0;
            print!("[cpu {:6.1} MB/s per core] ", mb / c);
            println!(
                "zlib-rs single-member  level {level}: {:8.1} MB/s  size {:.1} MB ({:.4} of input)",
                mb / s,
                size as f64 / 1e6,
                size as f64 / data.len() as f64
            );
        }
    }
    if which == "all" || which == "pieces" {
        use compress::GzipPieces;
        use std::io::Read;
        for level in [1u32, 2, 3, 4, 6] {
            let t = Instant::now();
            let c0 = cpu();
            let fallbacks = AtomicUsize::new(0);
            let pieces: Vec<std::sync::Mutex<Vec<u8>>> = (0..nblocks).map(|_| Default::default()).collect();
            parallel(nblocks, threads, |i| {
                let mut p = GzipPieces::new(level, 0);
                let mut out = Vec::new();
                let piece = compress::Piece {
                    index: i as u64,
                    input: block(i),
                    last: i + 1 == nblocks,
                };
                p.compress(&piece, &mut out);
                fallbacks.fetch_add(p.fallbacks as usize, Ordering::Relaxed);
                let n = out.len();
                *pieces[i].lock().unwrap() = out;
                n
            });
            let s = t.elapsed().as_secs_f64();
            let c = cpu() - c0;
            let mut gz = compress::GZIP_HEADER.to_vec();
            for p in &pieces {
                gz.extend_from_slice(&p.lock().unwrap());
            }
            gz.extend_from_slice(&compress::gzip_trailer(crc32fast::hash(&data), data.len() as u64));
            let mut back = Vec::with_capacity(data.len());
            flate2::read::GzDecoder::new(&gz[..])
                .read_to_end(&mut back)
                .unwrap();
            assert!(back == data, "round trip");
            print!("[cpu {:6.1} MB/s per core] ", mb / c);
            println!("libdeflate single-member level {level}: {:8.1} MB/s  size {:.1} MB ({:.4} of input), fallbacks {}, decodes OK", mb / s, gz.len() as f64 / 1e6, gz.len() as f64 / data.len() as f64, fallbacks.into_inner());
        }
    }
    if which == "all" || which == "libdeflate" {
        for level in [1i32, 2, 3, 4, 5, 6, 7] {
            let t = Instant::now();
            let c0 = cpu();
            let size = parallel(nblocks, threads, |i| {
                let mut c = libdeflater::Compressor::new(libdeflater::CompressionLvl::new(level).unwrap());
                let mut out = Vec::new();
                compress::gzip_members_libdeflate(&mut c, block(i), &mut out);
                out.len()
            });
            let s = t.elapsed().as_secs_f64();
            let c = cpu() - c0;
            print!("[cpu {:6.1} MB/s per core] ", mb / c);
            println!(
                "libdeflate multi-member level {level}: {:8.1} MB/s  size {:.1} MB ({:.4} of input)",
                mb / s,
                size as f64 / 1e6,
                size as f64 / data.len() as f64
            );
        }
    }
    if which == "all" || which == "zstd" {
        for level in [1i32, 2, 3] {
            let t = Instant::now();
            let c0 = cpu();
            // Frames of the level's size, as the export writes them; a compressor per thread.
            thread_local!(static FRAMES: std::cell::RefCell<Option<(i32, compress::ZstdFrames)>> =
                const { std::cell::RefCell::new(None) });
            let frame = compress::zstd_frame_size(level);
            let frame_of = |i: usize| &data[i * frame..((i + 1) * frame).min(data.len())];
            let size = parallel(data.len().div_ceil(frame), threads, |i| {
                FRAMES.with_borrow_mut(|f| {
                    if f.as_ref().map(|(l, _)| *l) != Some(level) {
                        *f = Some((level, compress::ZstdFrames::new(level).unwrap()));
                    }
                    let mut out = Vec::new();
                    f.as_mut().unwrap().1.compress(frame_of(i), &mut out).unwrap();
                    out.len()
                })
            });
            let s = t.elapsed().as_secs_f64();
            let c = cpu() - c0;
            print!("[cpu {:6.1} MB/s per core] ", mb / c);
            println!(
                "zstd frames            level {level}: {:8.1} MB/s  size {:.1} MB ({:.4} of input)",
                mb / s,
                size as f64 / 1e6,
                size as f64 / data.len() as f64
            );
        }
    }
    if which == "all" || which == "sha" {
        use sha2::Digest;
        let t = Instant::now();
        let d = sha2::Sha256::digest(&data);
        let s = t.elapsed().as_secs_f64();
        println!("sha256 one thread: {:8.1} MB/s {:x}", mb / s, d);
    }
}
