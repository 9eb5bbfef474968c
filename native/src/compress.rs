//! Compression of fixed-size tar blocks.
//!
//! gzip: ONE gzip member made of independently compressed raw-deflate pieces, one per block; the
//! CRC-32s are combined in order. The output depends only on the input and the level, never on the
//! thread count. A single member matters: bootc/ostree-ext read gzip layers with
//! `flate2::bufread::GzDecoder`, which stops after the first member, so the faster "one member per
//! block" layout would silently truncate layers there.
//!
//! Each piece is compressed by libdeflate (whole buffers, about twice zlib's speed at a better
//! ratio). libdeflate always ends its stream with a final block, and finding that block afterwards
//! means decoding every symbol before it; so pieces inside the stream go through a copy of
//! libdeflate's compressor that build.rs compiles with one change (`ChainableDeflate`): no block
//! gets BFINAL and the stream ends in an empty stored block (the sync-flush marker 00 00 ff ff),
//! exactly what clearing the bit and appending that block would give. The stream's last piece
//! comes from libdeflate itself. Should libdeflate refuse a piece, zlib-rs compresses it instead
//! (sync flush), which gives the same kind of piece.
//!
//! zstd: the tar is cut into blocks of `zstd_frame_size(level)` (4 MiB at the default level, more
//! for stronger levels) and each is its own frame (with its content size and checksum), compressed
//! by the workers like gzip's pieces; a layer is its frames one after the other, which the zstd
//! format defines as one stream (every decoder reads on to the end; zstd:chunked layers are made
//! the same way). Against libzstd's own multithreading (ZSTDMT) this is faster at every level with
//! blobs within 0.7% and less memory: ZSTDMT copies its input into its own buffers and primes each
//! job with the end of the one before (native/README.md has the numbers). Some readers stop at the
//! end of the first frame; `ZstdOneFrame` writes one frame per layer through ZSTDMT for them.

use std::ffi::{c_int, c_void};
use std::fmt;

use flate2::{Compress, FlushCompress, Status};

/// Size of the uncompressed blocks the tar stream is cut into (and of each parallel deflate job).
pub const BLOCK_SIZE: usize = 1 << 20;
/// Deflate window: the most a zlib-rs piece can be primed with (`DeflateBlocks`; gzbench, tests).
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
    /// zstd as one frame per layer (libzstd's multithreaded stream): for readers that stop at the
    /// end of the first frame. Slower than `Zstd` (see the module doc).
    ZstdOneFrame {
        level: i32,
    },
}

impl Compression {
    /// The size of the tar blocks compressed on their own: a gzip piece, a zstd frame.
    pub fn block_size(&self) -> usize {
        match *self {
            Compression::Zstd { level } => zstd_frame_size(level),
            _ => BLOCK_SIZE,
        }
    }

    /// zstd's frame layout: "many" (independent frames, the default) or "one" (one per layer).
    pub fn with_zstd_frames(self, frames: &str) -> Result<Compression, String> {
        match (self, frames) {
            (Compression::Zstd { .. }, "many") => Ok(self),
            (Compression::Zstd { level }, "one") => Ok(Compression::ZstdOneFrame { level }),
            (Compression::Zstd { .. }, other) => Err(format!(
                "unknown zstd frame layout \"{other}\" (expected many or one)"
            )),
            (other, _) => Err(format!("a zstd frame layout was given for {other}")),
        }
    }

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

/// zstd frames are compressed independently, so each starts with no history: the stronger the
/// level (the longer its window), the bigger a frame must be to lose little against one stream.
/// Bytes against libzstd's multithreaded stream on the bench's small tar (166 MB), by frame size:
/// level 1: 1 MiB +0.94%, 4 MiB +0.05%; level 3: 1 MiB +7.5%, 4 MiB +1.6%, 8 MiB +0.14%; level 9:
/// 8 MiB +1.8%, 16 MiB +0.5%, 32 MiB -0.04%; level 19: 8 MiB +4.0%, 16 MiB +1.7%, 32 MiB +0.64%.
/// The speed hardly depends on it; memory does (a worker holds a frame's input and output).
pub fn zstd_frame_size(level: i32) -> usize {
    let mib = match level {
        ..=2 => 4,
        3..=5 => 8,
        6..=12 => 16,
        _ => 32,
    };
    mib * BLOCK_SIZE
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
            Compression::ZstdOneFrame { level } => write!(f, "zstd level {level}, one frame"),
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

/// libdeflate's compressor as build.rs compiles it a second time: its stream never ends in a
/// final block but in a sync flush (an empty stored block, byte-aligned), which the next piece of
/// the same deflate stream can follow. Otherwise the same code, so the same blocks.
pub struct ChainableDeflate {
    compressor: std::ptr::NonNull<c_void>,
}

extern "C" {
    fn apt_ostree_nonfinal_alloc_compressor(level: c_int) -> *mut c_void;
    fn apt_ostree_nonfinal_deflate_compress(
        c: *mut c_void,
        input: *const c_void,
        in_nbytes: usize,
        out: *mut c_void,
        out_nbytes_avail: usize,
    ) -> usize;
    fn apt_ostree_nonfinal_deflate_compress_bound(c: *mut c_void, in_nbytes: usize) -> usize;
    fn apt_ostree_nonfinal_free_compressor(c: *mut c_void);
}

// SAFETY: a libdeflate compressor has no thread affinity; &mut self serialises its use.
unsafe impl Send for ChainableDeflate {}

impl ChainableDeflate {
    /// libdeflate copies inputs up to this size (55 - 4 x level bytes) into a final stored
    /// block without going through the changed code; such pieces are refused.
    const MIN_INPUT: usize = 64;

    pub fn new(level: u32) -> Self {
        assert!((1..=12).contains(&level), "gzip level 1-12");
        // SAFETY: plain allocation; a null result is handled.
        let c = unsafe { apt_ostree_nonfinal_alloc_compressor(level as c_int) };
        ChainableDeflate {
            compressor: std::ptr::NonNull::new(c).expect("libdeflate compressor: out of memory"),
        }
    }

    /// Output room `compress` may need for `len` input bytes (the sync flush included).
    pub fn bound(&self, len: usize) -> usize {
        // SAFETY: a live compressor.
        unsafe { apt_ostree_nonfinal_deflate_compress_bound(self.compressor.as_ptr(), len) + 8 }
    }

    /// Writes the piece into `out`: Some(its length), or None if `out` is too small or the input
    /// too short for libdeflate's regular path.
    pub fn compress(&mut self, input: &[u8], out: &mut [u8]) -> Option<usize> {
        if input.len() <= Self::MIN_INPUT {
            return None;
        }
        // SAFETY: a live compressor; input and out are valid for their lengths; libdeflate
        // writes at most out.len() bytes and returns 0 when they do not suffice.
        let n = unsafe {
            apt_ostree_nonfinal_deflate_compress(
                self.compressor.as_ptr(),
                input.as_ptr() as *const c_void,
                input.len(),
                out.as_mut_ptr() as *mut c_void,
                out.len(),
            )
        };
        (n > 0).then_some(n)
    }
}

impl Drop for ChainableDeflate {
    fn drop(&mut self) {
        // SAFETY: allocated by apt_ostree_nonfinal_alloc_compressor, freed once.
        unsafe { apt_ostree_nonfinal_free_compressor(self.compressor.as_ptr()) }
    }
}

/// One block to compress: its position in the stream, its bytes, and whether it ends the stream.
pub struct Piece<'a> {
    pub index: u64,
    pub input: &'a [u8],
    pub last: bool,
}

/// The compressors of one gzip level: the chainable one for pieces inside the stream, libdeflate
/// itself for the last piece (which ends in the final block).
struct LevelCompressors {
    chainable: ChainableDeflate,
    last: libdeflater::Compressor,
}

impl LevelCompressors {
    fn new(level: u32) -> Self {
        LevelCompressors {
            chainable: ChainableDeflate::new(level),
            last: libdeflater::Compressor::new(
                libdeflater::CompressionLvl::new(level as i32).expect("gzip level 1-12"),
            ),
        }
    }
}

/// Per-worker gzip piece compressor.
pub struct GzipPieces {
    level: u32,
    strong_every: u32,
    normal: LevelCompressors,
    /// level + 1, for one block in `strong_every`.
    strong: Option<LevelCompressors>,
    deflated: Vec<u8>,
    /// Pieces that libdeflate did not take and zlib-rs compressed (expected: 0).
    pub fallbacks: u64,
}

impl GzipPieces {
    /// For `Compression::Gzip { level, strong_every }`.
    pub fn new(level: u32, strong_every: u32) -> Self {
        GzipPieces {
            level,
            strong_every,
            normal: LevelCompressors::new(level),
            strong: (strong_every > 0).then(|| LevelCompressors::new(level + 1)),
            deflated: Vec::new(),
            fallbacks: 0,
        }
    }

    /// Appends the deflate piece (the final one when `piece.last`) to `out`.
    pub fn compress(&mut self, piece: &Piece, out: &mut Vec<u8>) {
        let n = self.strong_every as u64;
        let c = match self.strong.as_mut() {
            Some(strong) if piece.index % n == n - 1 => strong,
            _ => &mut self.normal,
        };
        // libdeflate writes into a buffer that is zeroed once per worker, not per piece; `out`
        // gets the exact bytes.
        let bound = if piece.last {
            c.last.deflate_compress_bound(piece.input.len())
        } else {
            c.chainable.bound(piece.input.len())
        };
        if self.deflated.len() < bound {
            self.deflated.resize(bound, 0);
        }
        let room = &mut self.deflated[..bound];
        let written = if piece.last {
            c.last.deflate_compress(piece.input, room).ok().filter(|&n| n > 0)
        } else {
            c.chainable.compress(piece.input, room)
        };
        match written {
            Some(n) => out.extend_from_slice(&self.deflated[..n]),
            None => {
                self.fallbacks += 1;
                // Without a dictionary: valid, slightly bigger, and the job needs no copy of the
                // previous block's end for a path that libdeflate never leaves.
                DeflateBlocks::new(self.level).compress(piece.input, &[], piece.last, out);
            }
        }
    }
}

/// Per-worker zstd compressor: one frame per block, with the block's size and checksum.
pub struct ZstdFrames {
    c: zstd::bulk::Compressor<'static>,
}

impl ZstdFrames {
    /// For `Compression::Zstd { level }`.
    pub fn new(level: i32) -> std::io::Result<Self> {
        let mut c = zstd::bulk::Compressor::new(level)?;
        c.include_checksum(true)?;
        c.include_contentsize(true)?;
        Ok(ZstdFrames { c })
    }

    /// The frame of `input`, replacing what `out` held.
    pub fn compress(&mut self, input: &[u8], out: &mut Vec<u8>) -> std::io::Result<()> {
        out.clear();
        out.reserve(zstd::zstd_safe::compress_bound(input.len()));
        self.c.compress_to_buffer(input, out)?;
        Ok(())
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
    fn zstd_frame_layouts() {
        let zstd = Compression::Zstd { level: 3 };
        assert_eq!(zstd.with_zstd_frames("many").unwrap(), zstd);
        assert_eq!(
            zstd.with_zstd_frames("one").unwrap(),
            Compression::ZstdOneFrame { level: 3 }
        );
        assert_eq!(Compression::ZstdOneFrame { level: 3 }.block_size(), BLOCK_SIZE);
        assert!(zstd
            .with_zstd_frames("two")
            .unwrap_err()
            .contains("expected many or one"));
        assert!(Compression::gzip(1)
            .with_zstd_frames("one")
            .unwrap_err()
            .contains("gzip"));
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

    /// Where, in a complete raw deflate stream, the final block begins and the stream ends (just
    /// after its end-of-block code), in bits, found by inflating it block by block with zlib-rs
    /// (Z_BLOCK), as zlib's gzjoin example does.
    fn final_block_bits(data: &[u8]) -> (u64, u64) {
        use libz_rs_sys::*;
        let mut scratch = vec![0u8; BLOCK_SIZE + 64];
        let mut strm = z_stream::default();
        // SAFETY: a default-initialised stream; next_in/next_out point into `data` and `scratch`,
        // which outlive every call; inflateEnd is called after the successful init.
        unsafe {
            let init = inflateInit2_(
                &mut strm,
                -15,
                zlibVersion(),
                std::mem::size_of::<z_stream>() as i32,
            );
            assert_eq!(init, Z_OK);
            strm.next_in = data.as_ptr();
            strm.avail_in = data.len() as u32;
            strm.next_out = scratch.as_mut_ptr();
            strm.avail_out = scratch.len() as u32;
            let mut header = 0u64;
            let found = loop {
                let ret = inflate(&mut strm, Z_BLOCK);
                assert!(ret == Z_OK || ret == Z_STREAM_END, "inflate: {ret}");
                let dt = strm.data_type;
                if dt & 128 != 0 {
                    // At a block boundary: `dt & 63` bits of the consumed input are still unused.
                    #[allow(clippy::unnecessary_cast)] // z_size is not u64 everywhere
                    let pos = (strm.total_in as u64) * 8 - (dt & 63) as u64;
                    if dt & 64 != 0 {
                        break (header, pos);
                    }
                    header = pos;
                }
                assert!(ret != Z_STREAM_END && strm.avail_in > 0, "no final block");
            };
            inflateEnd(&mut strm);
            found
        }
    }

    fn inputs() -> Vec<Vec<u8>> {
        // Varied inputs: text, zeros, incompressible bytes (stored blocks), and real binary data:
        // this test executable.
        let mut inputs = vec![
            sample(BLOCK_SIZE),
            vec![0u8; BLOCK_SIZE],
            crate::test_data::noise(BLOCK_SIZE, 1),
        ];
        if let Ok(exe) = std::fs::read(std::env::current_exe().unwrap()) {
            inputs.extend(exe.chunks(BLOCK_SIZE).take(3).map(|c| c.to_vec()));
        }
        inputs.push(sample(1000));
        inputs
    }

    #[test]
    fn chainable_pieces_are_libdeflate_streams_made_non_final() {
        for level in [1, 2, 3, 6, 9, 12] {
            let mut chainable = ChainableDeflate::new(level);
            let mut plain =
                libdeflater::Compressor::new(libdeflater::CompressionLvl::new(level as i32).unwrap());
            for (i, input) in inputs().iter().enumerate() {
                let mut out = vec![0u8; chainable.bound(input.len())];
                let n = chainable.compress(input, &mut out).expect("compresses");
                let mut reference = vec![0u8; plain.deflate_compress_bound(input.len())];
                let m = plain.deflate_compress(input, &mut reference).unwrap();
                reference.truncate(m);
                // libdeflate's own stream with the final block's BFINAL bit cleared, the bits after
                // its end-of-block code zeroed and an empty stored block appended.
                let (header, end) = final_block_bits(&reference);
                assert_eq!(end.div_ceil(8), m as u64, "level {level}, input {i}");
                assert!(reference[(header / 8) as usize] & (1 << (header % 8)) != 0);
                reference[(header / 8) as usize] &= !(1 << (header % 8));
                if end % 8 != 0 {
                    reference[m - 1] &= (1u8 << (end % 8)) - 1;
                }
                reference.resize((end + 3).div_ceil(8) as usize, 0);
                reference.extend_from_slice(&[0x00, 0x00, 0xff, 0xff]);
                assert!(out[..n] == reference[..], "level {level}, input {i}");
            }
            // Refused, not written wrong: an output too small, an input libdeflate would copy into a
            // final stored block.
            let input = sample(BLOCK_SIZE);
            assert_eq!(chainable.compress(&input, &mut vec![0u8; 1000]), None);
            assert_eq!(chainable.compress(b"short", &mut [0u8; 100]), None);
        }
    }

    #[test]
    fn libdeflate_pieces_chain_into_one_member() {
        let mut inputs = inputs();
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
            let mut p = GzipPieces::new(level, strong_every);
            let mut out = GZIP_HEADER.to_vec();
            for (i, input) in inputs.iter().enumerate() {
                let piece = Piece {
                    index: i as u64,
                    input,
                    last: i + 1 == inputs.len(),
                };
                p.compress(&piece, &mut out);
            }
            // Only the short "a" (inside the stream, too short for libdeflate) went to zlib-rs.
            assert_eq!(p.fallbacks, 1, "{c}");
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
