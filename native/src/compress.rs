//! Compression of fixed-size tar blocks.
//!
//! gzip: ONE gzip member made of independently compressed raw-deflate pieces, one per block; the
//! CRC-32s are combined in order. The output depends only on the input and the level, never on the
//! thread count. A single member matters: bootc/ostree-ext read gzip layers with
//! `flate2::bufread::GzDecoder`, which stops after the first member, so the faster "one member per
//! block" layout would silently truncate layers there.
//!
//! Each piece is compressed by libdeflate (whole buffers, about twice zlib's speed at a better
//! ratio), which always ends its output with a final block. To chain pieces, the final block's
//! BFINAL bit is cleared and an empty stored block (the sync-flush marker 00 00 ff ff) byte-aligns
//! the end. The bit offsets come from `deflate_scan` (a scanner that only decodes code lengths,
//! two pieces interleaved when a worker has two); should it ever fail, from walking the piece with
//! zlib-rs's inflate in Z_BLOCK mode, as zlib's gzjoin example does; and if that fails too, the
//! piece is compressed with zlib-rs instead (sync flush, previous 32 KiB as dictionary), which
//! gives the same kind of piece.
//!
//! zstd: libzstd's multithreaded streaming mode, always with nbWorkers >= 1 so the frame layout does
//! not depend on the worker count.

use std::fmt;

use flate2::{Compress, FlushCompress, Status};

use crate::deflate_scan::{DeflateScanner, FinalBlock};

/// Size of the uncompressed blocks the tar stream is cut into (and of each parallel deflate job).
pub const BLOCK_SIZE: usize = 1 << 20;
/// Deflate window: the dictionary each block is primed with.
pub const DICT_SIZE: usize = 32 * 1024;

/// The default gzip: level 1, with one block in GZIP_DEFAULT_STRONG_EVERY at level 2. Level 1 alone
/// is about 25% faster than level 2 with a blob 4% bigger; every eighth block at level 2 takes
/// back a third of that for about 4% of the time (measured on the benchmark's large tree).
pub const GZIP_DEFAULT_LEVEL: u32 = 1;
pub const GZIP_DEFAULT_STRONG_EVERY: u32 = 8;
pub const ZSTD_DEFAULT_LEVEL: i32 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    /// `level` for every block, or, when `strong_every` is n > 0, `level + 1` for one block in n
    /// (the n-th, 2n-th...: by position in the stream, so the bytes depend on nothing else).
    Gzip {
        level: u32,
        strong_every: u32,
    },
    Zstd {
        level: i32,
    },
}

impl Compression {
    /// gzip at one level for every block.
    pub fn gzip(level: u32) -> Compression {
        Compression::Gzip {
            level,
            strong_every: 0,
        }
    }

    /// Validates a compression name and optional level, as the JS side passes them.
    pub fn parse(name: &str, level: Option<i32>) -> Result<Compression, String> {
        match name {
            "none" => match level {
                None | Some(0) => Ok(Compression::None),
                Some(l) => Err(format!("compression level {l} is out of range for none (only 0)")),
            },
            "gzip" => match level {
                None => Ok(Compression::Gzip {
                    level: GZIP_DEFAULT_LEVEL,
                    strong_every: GZIP_DEFAULT_STRONG_EVERY,
                }),
                Some(level @ 1..=9) => Ok(Compression::gzip(level as u32)),
                Some(level) => Err(format!(
                    "compression level {level} is out of range for gzip (1-9)"
                )),
            },
            "zstd" => {
                let level = level.unwrap_or(ZSTD_DEFAULT_LEVEL);
                // -7..-1: zstd's fast levels (faster, bigger); 20-22 would need ultra mode.
                if !(-7..=19).contains(&level) || level == 0 {
                    return Err(format!(
                        "compression level {level} is out of range for zstd (1-19, or -7 to -1 for the fast levels)"
                    ));
                }
                Ok(Compression::Zstd { level })
            }
            other => Err(format!(
                "unknown compression \"{other}\" (expected gzip, zstd or none)"
            )),
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Compression::None => write!(f, "none"),
            Compression::Gzip {
                level,
                strong_every: 0,
            } => write!(f, "gzip level {level}"),
            Compression::Gzip { level, strong_every } => write!(
                f,
                "gzip level {level} ({} on one block in {strong_every})",
                level + 1
            ),
            Compression::Zstd { level } => write!(f, "zstd level {level}"),
        }
    }
}

/// gzip header: no mtime, no name, XFL 0, OS 255 (unknown) so the bytes never depend on the host.
pub const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// gzip trailer: CRC-32 and length mod 2^32 of the uncompressed data, little endian.
pub fn gzip_trailer(crc: u32, len: u64) -> [u8; 8] {
    let mut t = [0u8; 8];
    t[..4].copy_from_slice(&crc.to_le_bytes());
    t[4..].copy_from_slice(&(len as u32).to_le_bytes());
    t
}

/// A raw-deflate compressor for one worker, reused across blocks.
pub struct DeflateBlocks {
    level: u32,
}

impl DeflateBlocks {
    pub fn new(level: u32) -> Self {
        DeflateBlocks { level }
    }

    /// Compresses `input` as a piece of one deflate stream: primed with `dict` (the previous
    /// block's last 32 KiB, empty for the first block) and ended with a sync flush, or with the
    /// final block when `last`. Appends to `out`.
    pub fn compress(&mut self, input: &[u8], dict: &[u8], last: bool, out: &mut Vec<u8>) {
        // A fresh stream per block: a reset stream reused across blocks (zlib-rs) does not give
        // the same bytes as a new one, and output must not depend on which worker ran a block.
        let mut c = Compress::new(flate2::Compression::new(self.level), false);
        if !dict.is_empty() {
            c.set_dictionary(dict).expect("deflate set_dictionary");
        }
        let flush = if last {
            FlushCompress::Finish
        } else {
            FlushCompress::Sync
        };
        out.reserve(input.len() / 2 + 1024);
        let start_in = c.total_in();
        loop {
            if out.capacity() - out.len() < 1024 {
                out.reserve(out.capacity().max(64 * 1024));
            }
            let consumed = (c.total_in() - start_in) as usize;
            let status = c
                .compress_vec(&input[consumed..], out, flush)
                .expect("deflate compress");
            let consumed = (c.total_in() - start_in) as usize;
            if last {
                if status == Status::StreamEnd {
                    break;
                }
            } else if consumed == input.len() && out.len() < out.capacity() {
                // zlib: output space left after a flush call means the flush is complete.
                break;
            }
        }
    }
}

/// Where, in a complete raw deflate stream, the final block begins and the stream ends (just
/// after the final end-of-block code), found by inflating it. None if `data` is not such a stream.
pub fn final_block_bits(data: &[u8], scratch: &mut Vec<u8>) -> Option<FinalBlock> {
    use libz_rs_sys::*;
    if data.is_empty() || data.len() > u32::MAX as usize {
        return None;
    }
    // The output must never run out: a deflate stream inflates to at most ~1032x its size, but
    // our pieces come from BLOCK_SIZE inputs.
    if scratch.len() < BLOCK_SIZE + 64 {
        scratch.resize(BLOCK_SIZE + 64, 0);
    }
    let mut strm = z_stream::default();
    // SAFETY: strm is a valid, default-initialised stream (zalloc/zfree unset: rust allocator);
    // next_in/next_out point into `data` and `scratch`, which outlive every call below, and
    // inflateEnd is called on every path after a successful init.
    unsafe {
        if inflateInit2_(
            &mut strm,
            -15,
            zlibVersion(),
            std::mem::size_of::<z_stream>() as i32,
        ) != Z_OK
        {
            return None;
        }
        strm.next_in = data.as_ptr();
        strm.avail_in = data.len() as u32;
        strm.next_out = scratch.as_mut_ptr();
        strm.avail_out = scratch.len().min(u32::MAX as usize) as u32;
        let mut header = 0u64;
        let found = loop {
            let ret = inflate(&mut strm, Z_BLOCK);
            if ret != Z_OK && ret != Z_STREAM_END {
                break None;
            }
            let dt = strm.data_type;
            if dt & 128 != 0 {
                // At a block boundary: `dt & 63` bits of the consumed input are still unused.
                #[allow(clippy::unnecessary_cast)] // z_size is not u64 everywhere
                let pos = (strm.total_in as u64) * 8 - (dt & 63) as u64;
                if dt & 64 != 0 {
                    break Some(FinalBlock {
                        header_bit: header,
                        end_bit: pos,
                    });
                }
                header = pos;
            }
            if ret == Z_STREAM_END || strm.avail_in == 0 || strm.avail_out == 0 {
                break None;
            }
        };
        inflateEnd(&mut strm);
        found
    }
}

/// Turns the complete raw deflate stream at `out[start..]` into a piece that the next piece can
/// follow, given where its final block begins and where it ends: clears the final block's BFINAL
/// bit and appends an empty stored block, which ends on a byte boundary. False (`out` unchanged)
/// if the positions do not describe a stream that ends in the last byte of `out`.
fn make_non_final(out: &mut Vec<u8>, start: usize, at: FinalBlock) -> bool {
    let FinalBlock {
        header_bit: header,
        end_bit: end,
    } = at;
    let piece = &mut out[start..];
    if end.div_ceil(8) != piece.len() as u64 || header >= end {
        return false;
    }
    let (byte, bit) = ((header / 8) as usize, header % 8);
    if piece[byte] & (1u8 << bit) == 0 {
        return false;
    }
    piece[byte] &= !(1u8 << bit);
    // Zero whatever follows the end-of-block code in its last byte.
    if end % 8 != 0 {
        piece[piece.len() - 1] &= (1u8 << (end % 8)) - 1;
    }
    // Stored block header: 3 zero bits (BFINAL=0, BTYPE=00), then pad to the byte boundary.
    out.resize(start + (end + 3).div_ceil(8) as usize, 0);
    out.extend_from_slice(&[0x00, 0x00, 0xff, 0xff]);
    true
}

/// One block to compress: its position in the stream, its bytes, the previous block's last
/// 32 KiB (for the fallback), and whether it ends the stream.
pub struct Piece<'a> {
    pub index: u64,
    pub input: &'a [u8],
    pub dict: &'a [u8],
    pub last: bool,
}

/// Per-worker gzip piece compressor.
pub struct GzipPieces {
    level: u32,
    strong_every: u32,
    ld: libdeflater::Compressor,
    /// level + 1, for one block in `strong_every`.
    strong: Option<libdeflater::Compressor>,
    scanners: [DeflateScanner; 2],
    deflated: Vec<u8>,
    scratch: Vec<u8>,
    /// Pieces whose scan failed and were walked with inflate instead (expected: 0).
    pub scan_misses: u64,
    /// Pieces that fell back to zlib-rs (expected: 0).
    pub fallbacks: u64,
}

impl GzipPieces {
    /// For `Compression::Gzip { level, strong_every }`.
    pub fn new(level: u32, strong_every: u32) -> Self {
        let compressor = |level: u32| {
            libdeflater::Compressor::new(
                libdeflater::CompressionLvl::new(level as i32).expect("gzip level 1-12"),
            )
        };
        GzipPieces {
            level,
            strong_every,
            ld: compressor(level),
            strong: (strong_every > 0).then(|| compressor(level + 1)),
            scanners: [DeflateScanner::new(), DeflateScanner::new()],
            deflated: Vec::new(),
            scratch: Vec::new(),
            scan_misses: 0,
            fallbacks: 0,
        }
    }

    /// Appends the deflate piece (the final one when `piece.last`) to `out`.
    pub fn compress(&mut self, piece: &Piece, out: &mut Vec<u8>) {
        let deflated = self.deflate(piece, out);
        let at = deflated
            .filter(|_| !piece.last)
            .map(|start| self.scanners[0].final_block(&out[start..]));
        self.chain(piece, deflated, at, out);
    }

    /// `compress` of two pieces into their own outputs, the same bytes as two calls; the scans of
    /// both run interleaved, which takes about 0.6x the time of one after the other.
    pub fn compress_two(&mut self, pieces: [&Piece; 2], outs: [&mut Vec<u8>; 2]) {
        let [a, b] = pieces;
        let [out_a, out_b] = outs;
        let (da, db) = (self.deflate(a, out_a), self.deflate(b, out_b));
        let (at_a, at_b) = match (da.filter(|_| !a.last), db.filter(|_| !b.last)) {
            (Some(sa), Some(sb)) => {
                let [x, y] = DeflateScanner::final_blocks(&mut self.scanners, [&out_a[sa..], &out_b[sb..]]);
                (Some(x), Some(y))
            }
            (sa, sb) => (
                sa.map(|s| self.scanners[0].final_block(&out_a[s..])),
                sb.map(|s| self.scanners[0].final_block(&out_b[s..])),
            ),
        };
        self.chain(a, da, at_a, out_a);
        self.chain(b, db, at_b, out_b);
    }

    /// Appends libdeflate's stream for the piece to `out`; Some(where it starts), or None (and
    /// `out` unchanged) if libdeflate failed.
    fn deflate(&mut self, piece: &Piece, out: &mut Vec<u8>) -> Option<usize> {
        // libdeflate writes into a buffer that is zeroed once per worker, not per piece; `out`
        // gets the exact bytes (and room for the stored block that chains them).
        let bound = self.ld.deflate_compress_bound(piece.input.len());
        if self.deflated.len() < bound {
            self.deflated.resize(bound, 0);
        }
        let n = self.strong_every as u64;
        let ld = match self.strong.as_mut() {
            Some(strong) if piece.index % n == n - 1 => strong,
            _ => &mut self.ld,
        };
        match ld.deflate_compress(piece.input, &mut self.deflated[..bound]) {
            Ok(n) if n > 0 => {
                let start = out.len();
                out.reserve_exact(n + 8);
                out.extend_from_slice(&self.deflated[..n]);
                Some(start)
            }
            _ => None,
        }
    }

    /// Makes the deflated piece at `start` chainable with the scan's result `at` (the inflate walk
    /// if the scan failed); a last piece stays as it is; zlib-rs recompresses it when all fails.
    fn chain(
        &mut self,
        piece: &Piece,
        start: Option<usize>,
        at: Option<Option<FinalBlock>>,
        out: &mut Vec<u8>,
    ) {
        if let Some(start) = start {
            if piece.last {
                return;
            }
            if at.flatten().is_some_and(|at| make_non_final(out, start, at)) {
                return;
            }
            self.scan_misses += 1;
            let walked = final_block_bits(&out[start..], &mut self.scratch);
            if walked.is_some_and(|at| make_non_final(out, start, at)) {
                return;
            }
            out.truncate(start);
        }
        self.fallbacks += 1;
        DeflateBlocks::new(self.level).compress(piece.input, piece.dict, piece.last, out);
    }
}

/// Compresses a whole buffer as one gzip stream the way the pipeline does (blocks of BLOCK_SIZE,
/// sequentially). Used by tests and benchmarks.
pub fn gzip_sequential(data: &[u8], compression: Compression) -> Vec<u8> {
    let Compression::Gzip { level, strong_every } = compression else {
        panic!("gzip_sequential: {compression} is not gzip");
    };
    let mut out = GZIP_HEADER.to_vec();
    let mut d = GzipPieces::new(level, strong_every);
    let mut crc = crc32fast::Hasher::new();
    let nblocks = data.len().div_ceil(BLOCK_SIZE).max(1);
    for i in 0..nblocks {
        let start = i * BLOCK_SIZE;
        let end = (start + BLOCK_SIZE).min(data.len());
        let piece = Piece {
            index: i as u64,
            input: &data[start..end],
            dict: &data[start.saturating_sub(DICT_SIZE)..start],
            last: i + 1 == nblocks,
        };
        d.compress(&piece, &mut out);
        crc.update(piece.input);
    }
    out.extend_from_slice(&gzip_trailer(crc.finalize(), data.len() as u64));
    out
}

/// Candidate (b), kept for measurement only: one gzip member per block with libdeflate.
pub fn gzip_members_libdeflate(c: &mut libdeflater::Compressor, input: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    let bound = c.deflate_compress_bound(input.len());
    out.resize(start + 10 + bound + 8, 0);
    out[start..start + 10].copy_from_slice(&GZIP_HEADER);
    let n = c
        .deflate_compress(input, &mut out[start + 10..start + 10 + bound])
        .expect("libdeflate compress");
    let crc = crc32fast::hash(input);
    out.truncate(start + 10 + n);
    out.extend_from_slice(&gzip_trailer(crc, input.len() as u64));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn sample(n: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(n);
        let mut x: u32 = 12345;
        while v.len() < n {
            x = x.wrapping_mul(1103515245).wrapping_add(12345);
            let word = ["alpha ", "beta ", "gamma ", "delta\n", "epsilon "][(x >> 16) as usize % 5];
            v.extend_from_slice(word.as_bytes());
            if x.is_multiple_of(7) {
                v.push((x >> 8) as u8);
            }
        }
        v.truncate(n);
        v
    }

    #[test]
    fn parse_validates() {
        assert_eq!(
            Compression::parse("gzip", None).unwrap(),
            Compression::Gzip {
                level: 1,
                strong_every: 8
            }
        );
        assert_eq!(
            Compression::parse("gzip", Some(2)).unwrap(),
            Compression::Gzip {
                level: 2,
                strong_every: 0
            }
        );
        assert_eq!(
            Compression::parse("zstd", Some(1)).unwrap(),
            Compression::Zstd { level: 1 }
        );
        assert_eq!(Compression::parse("none", None).unwrap(), Compression::None);
        assert!(Compression::parse("gzip", Some(10))
            .unwrap_err()
            .contains("out of range"));
        assert!(Compression::parse("zstd", Some(0))
            .unwrap_err()
            .contains("out of range"));
        assert_eq!(
            Compression::parse("zstd", Some(-7)).unwrap(),
            Compression::Zstd { level: -7 }
        );
        assert!(Compression::parse("zstd", Some(-8))
            .unwrap_err()
            .contains("-7 to -1"));
        assert!(Compression::parse("zstd", Some(20))
            .unwrap_err()
            .contains("out of range"));
        assert!(Compression::parse("brotli", None)
            .unwrap_err()
            .contains("unknown compression \"brotli\""));
    }

    #[test]
    fn zlib_pieces_decode_to_input() {
        let data = sample(3 * BLOCK_SIZE + 77);
        let mut out = GZIP_HEADER.to_vec();
        let mut d = DeflateBlocks::new(6);
        for (i, chunk) in data.chunks(BLOCK_SIZE).enumerate() {
            let start = i * BLOCK_SIZE;
            d.compress(
                chunk,
                &data[start.saturating_sub(DICT_SIZE)..start],
                start + chunk.len() == data.len(),
                &mut out,
            );
        }
        out.extend_from_slice(&gzip_trailer(crc32fast::hash(&data), data.len() as u64));
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&out[..])
            .read_to_end(&mut back)
            .unwrap();
        assert!(back == data);
    }

    #[test]
    fn libdeflate_pieces_chain_without_fallback() {
        // Varied inputs: text, zeros, incompressible bytes, tiny.
        let noise = crate::test_data::noise(BLOCK_SIZE, 1);
        let mut inputs: Vec<Vec<u8>> = vec![sample(BLOCK_SIZE), vec![0u8; BLOCK_SIZE], noise];
        // Real binary data: this test executable.
        if let Ok(exe) = std::fs::read(std::env::current_exe().unwrap()) {
            inputs.extend(exe.chunks(BLOCK_SIZE).take(3).map(|c| c.to_vec()));
        }
        inputs.extend([b"a".to_vec(), sample(100)]);
        let mut outputs = Vec::new();
        let mixed = Compression::Gzip {
            level: 1,
            strong_every: 2,
        };
        for c in [1, 2, 6, 9].map(Compression::gzip).into_iter().chain([mixed]) {
            let Compression::Gzip { level, strong_every } = c else {
                unreachable!()
            };
            let piece = |i: usize| Piece {
                index: i as u64,
                input: &inputs[i],
                dict: &[],
                last: i + 1 == inputs.len(),
            };
            let mut p = GzipPieces::new(level, strong_every);
            let mut out = GZIP_HEADER.to_vec();
            for i in 0..inputs.len() {
                p.compress(&piece(i), &mut out);
            }
            assert_eq!(p.fallbacks, 0, "{c}");
            assert_eq!(p.scan_misses, 0, "{c}");
            // Two at a time: the same bytes.
            let mut pairs = GZIP_HEADER.to_vec();
            let mut q = GzipPieces::new(level, strong_every);
            for i in (0..inputs.len()).step_by(2) {
                if i + 1 < inputs.len() {
                    let (mut a, mut b) = (Vec::new(), Vec::new());
                    q.compress_two([&piece(i), &piece(i + 1)], [&mut a, &mut b]);
                    pairs.extend_from_slice(&a);
                    pairs.extend_from_slice(&b);
                } else {
                    q.compress(&piece(i), &mut pairs);
                }
            }
            assert!(pairs == out, "{c}: pairs differ");
            assert_eq!(q.scan_misses + q.fallbacks, 0, "{c}");
            let all = inputs.concat();
            out.extend_from_slice(&gzip_trailer(crc32fast::hash(&all), all.len() as u64));
            let mut back = Vec::new();
            flate2::read::GzDecoder::new(&out[..])
                .read_to_end(&mut back)
                .unwrap();
            assert!(back == all, "{c}");
            outputs.push(out);
        }
        // The mix is neither level alone.
        let mixed = outputs.last().unwrap();
        assert!(mixed != &outputs[0] && mixed != &outputs[1]);
    }

    #[test]
    fn a_failed_scan_falls_back_to_the_inflate_walk() {
        let input = sample(BLOCK_SIZE);
        let piece = Piece {
            index: 0,
            input: &input,
            dict: &[],
            last: false,
        };
        let mut p = GzipPieces::new(2, 0);
        let mut expected = Vec::new();
        p.compress(&piece, &mut expected);
        assert_eq!(p.scan_misses, 0);
        // No answer from the scan, or one that does not fit the piece: the walk gives the same bytes.
        let wrong = FinalBlock {
            header_bit: 0,
            end_bit: 8,
        };
        for at in [None, Some(wrong)] {
            let mut out = Vec::new();
            let start = p.deflate(&piece, &mut out);
            p.chain(&piece, start, Some(at), &mut out);
            assert!(out == expected);
        }
        assert_eq!((p.scan_misses, p.fallbacks), (2, 0));
    }

    #[test]
    fn gzip_blocks_decode_to_input() {
        for n in [
            0usize,
            1,
            1000,
            BLOCK_SIZE,
            BLOCK_SIZE + 1,
            3 * BLOCK_SIZE + 12345,
        ] {
            let data = sample(n);
            for c in [Compression::gzip(6), Compression::parse("gzip", None).unwrap()] {
                let gz = gzip_sequential(&data, c);
                // A single member: flate2's single-member decoder must see everything.
                let mut dec = flate2::read::GzDecoder::new(&gz[..]);
                let mut back = Vec::new();
                dec.read_to_end(&mut back).unwrap();
                assert_eq!(back.len(), data.len(), "size {n}, {c}");
                assert!(back == data, "size {n}, {c}");
            }
        }
    }
}
