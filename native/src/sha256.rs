//! SHA-256 of two streams at once: a layer's tar (its diffid) and its blob (its digest).
//!
//! With the SHA extensions one stream runs at the latency of `sha256rnds2` (each round pair
//! waits for the one before), which leaves the unit idle half the time on the CPUs measured
//! (1.8 GB/s, as fast as OpenSSL); two independent streams interleaved round group by round
//! group fill it, so the blob's hash costs little on top of the tar's (`--example shabench`: the
//! bench's tar and a blob 36% of it, 0.87 s one after the other, 0.66 s at once). One stream, and
//! both without the extensions (older x86, arm64), go through the `sha2` crate: the same digests.

use sha2::digest::generic_array::{typenum::U64, GenericArray};

const INIT: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

/// A streaming SHA-256.
#[derive(Clone, Debug)]
pub struct Sha256 {
    state: [u32; 8],
    buf: [u8; 64],
    buf_len: usize,
    /// Bytes hashed so far.
    len: u64,
}

impl Default for Sha256 {
    fn default() -> Self {
        Sha256::new()
    }
}

impl Sha256 {
    pub fn new() -> Self {
        Sha256 {
            state: INIT,
            buf: [0; 64],
            buf_len: 0,
            len: 0,
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        let rest = self.fill_buffer(data);
        let (blocks, tail) = split_blocks(rest);
        compress(&mut self.state, blocks);
        self.keep(tail);
    }

    /// `a.update(da)` and `b.update(db)`, interleaved over the blocks both have.
    pub fn update_two(a: &mut Sha256, da: &[u8], b: &mut Sha256, db: &[u8]) {
        let (ba, ta) = split_blocks(a.fill_buffer(da));
        let (bb, tb) = split_blocks(b.fill_buffer(db));
        let n = ba.len().min(bb.len());
        compress_two(&mut a.state, &ba[..n], &mut b.state, &bb[..n]);
        compress(&mut a.state, &ba[n..]);
        compress(&mut b.state, &bb[n..]);
        a.keep(ta);
        b.keep(tb);
    }

    pub fn finalize(mut self) -> [u8; 32] {
        let bits = self.len.wrapping_mul(8);
        // 0x80, zeros up to 8 bytes short of a block's end, the length in bits.
        let mut pad = [0u8; 72];
        pad[0] = 0x80;
        let zeros = (119 - self.buf_len) % 64;
        pad[1 + zeros..9 + zeros].copy_from_slice(&bits.to_be_bytes());
        self.update(&pad[..9 + zeros]);
        debug_assert_eq!(self.buf_len, 0);
        let mut out = [0u8; 32];
        for (o, s) in out.chunks_exact_mut(4).zip(self.state) {
            o.copy_from_slice(&s.to_be_bytes());
        }
        out
    }

    /// Tops up a buffered partial block from `data`, hashing it once whole; returns the rest of
    /// `data`, which then starts on a block boundary of the stream (or is empty).
    fn fill_buffer<'d>(&mut self, data: &'d [u8]) -> &'d [u8] {
        self.len += data.len() as u64;
        if self.buf_len == 0 {
            return data;
        }
        let n = (64 - self.buf_len).min(data.len());
        self.buf[self.buf_len..self.buf_len + n].copy_from_slice(&data[..n]);
        self.buf_len += n;
        if self.buf_len == 64 {
            let block = self.buf;
            compress(&mut self.state, &block);
            self.buf_len = 0;
        }
        &data[n..]
    }

    fn keep(&mut self, tail: &[u8]) {
        debug_assert!(tail.is_empty() || self.buf_len == 0);
        self.buf[self.buf_len..self.buf_len + tail.len()].copy_from_slice(tail);
        self.buf_len += tail.len();
    }
}

/// (whole 64-byte blocks, the rest).
fn split_blocks(data: &[u8]) -> (&[u8], &[u8]) {
    data.split_at(data.len() / 64 * 64)
}

/// Hashes whole blocks (`blocks.len()` a multiple of 64) into `state`, through the `sha2` crate
/// (which uses the CPU's SHA instructions where it can: one stream is as fast as ours).
fn compress(state: &mut [u32; 8], blocks: &[u8]) {
    let n = blocks.len() / 64;
    // SAFETY: GenericArray<u8, U64> is a repr(transparent) array of 64 bytes (alignment 1), so
    // n of them are exactly the n * 64 bytes of `blocks`.
    let blocks = unsafe { std::slice::from_raw_parts(blocks.as_ptr() as *const GenericArray<u8, U64>, n) };
    sha2::compress256(state, blocks);
}

/// `compress` of two streams with as many blocks each.
fn compress_two(a: &mut [u32; 8], ba: &[u8], b: &mut [u32; 8], bb: &[u8]) {
    debug_assert_eq!(ba.len(), bb.len());
    #[cfg(target_arch = "x86_64")]
    if shani::available() {
        // SAFETY: the CPU has the instructions (checked just above).
        unsafe { shani::compress_two(a, ba, b, bb) };
        return;
    }
    compress(a, ba);
    compress(b, bb);
}

#[cfg(target_arch = "x86_64")]
mod shani {
    use std::arch::x86_64::*;

    pub fn available() -> bool {
        std::arch::is_x86_feature_detected!("sha")
            && std::arch::is_x86_feature_detected!("sse4.1")
            && std::arch::is_x86_feature_detected!("ssse3")
    }

    /// The round constants: the first 32 bits of the fractional parts of the cube roots of the
    /// first 64 primes (FIPS 180-4, 4.2.2).
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
    ];

    /// One stream's working state: the (ABEF, CDGH) register pair the instructions use.
    struct Lanes {
        abef: __m128i,
        cdgh: __m128i,
    }

    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    unsafe fn load(state: &[u32; 8]) -> Lanes {
        let dcba = _mm_loadu_si128(state.as_ptr() as *const __m128i);
        let hgfe = _mm_loadu_si128(state.as_ptr().add(4) as *const __m128i);
        let cdab = _mm_shuffle_epi32(dcba, 0xb1);
        let efgh = _mm_shuffle_epi32(hgfe, 0x1b);
        Lanes {
            abef: _mm_alignr_epi8(cdab, efgh, 8),
            cdgh: _mm_blend_epi16(efgh, cdab, 0xf0),
        }
    }

    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    unsafe fn store(l: &Lanes, state: &mut [u32; 8]) {
        let feba = _mm_shuffle_epi32(l.abef, 0x1b);
        let dchg = _mm_shuffle_epi32(l.cdgh, 0xb1);
        let dcba = _mm_blend_epi16(feba, dchg, 0xf0);
        let hgfe = _mm_alignr_epi8(dchg, feba, 8);
        _mm_storeu_si128(state.as_mut_ptr() as *mut __m128i, dcba);
        _mm_storeu_si128(state.as_mut_ptr().add(4) as *mut __m128i, hgfe);
    }

    /// The block's message words, big-endian, four per register.
    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    unsafe fn words(block: &[u8]) -> [__m128i; 4] {
        let swap = _mm_set_epi64x(0x0c0d0e0f08090a0bu64 as i64, 0x0405060700010203u64 as i64);
        let p = block.as_ptr() as *const __m128i;
        [
            _mm_shuffle_epi8(_mm_loadu_si128(p), swap),
            _mm_shuffle_epi8(_mm_loadu_si128(p.add(1)), swap),
            _mm_shuffle_epi8(_mm_loadu_si128(p.add(2)), swap),
            _mm_shuffle_epi8(_mm_loadu_si128(p.add(3)), swap),
        ]
    }

    /// Four rounds with the message words `w` (group i of 16).
    #[inline]
    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    unsafe fn rounds4(l: &mut Lanes, w: __m128i, i: usize) {
        let k = _mm_loadu_si128(K.as_ptr().add(4 * i) as *const __m128i);
        let m = _mm_add_epi32(w, k);
        l.cdgh = _mm_sha256rnds2_epu32(l.cdgh, l.abef, m);
        l.abef = _mm_sha256rnds2_epu32(l.abef, l.cdgh, _mm_shuffle_epi32(m, 0x0e));
    }

    /// The 64 rounds of a block of each of two streams, unrolled (the message groups stay in
    /// registers) and interleaved group by group.
    #[inline]
    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    unsafe fn block_two(a: &mut Lanes, x: &[u8], b: &mut Lanes, y: &[u8]) {
        let saved = (a.abef, a.cdgh, b.abef, b.cdgh);
        let [mut w0, mut w1, mut w2, mut w3] = words(x);
        let [mut v0, mut v1, mut v2, mut v3] = words(y);
        rounds4(a, w0, 0);
        rounds4(b, v0, 0);
        rounds4(a, w1, 1);
        rounds4(b, v1, 1);
        rounds4(a, w2, 2);
        rounds4(b, v2, 2);
        rounds4(a, w3, 3);
        rounds4(b, v3, 3);
        macro_rules! four_groups {
            ($i:expr) => {
                w0 = next(w0, w1, w2, w3);
                v0 = next(v0, v1, v2, v3);
                rounds4(a, w0, $i);
                rounds4(b, v0, $i);
                w1 = next(w1, w2, w3, w0);
                v1 = next(v1, v2, v3, v0);
                rounds4(a, w1, $i + 1);
                rounds4(b, v1, $i + 1);
                w2 = next(w2, w3, w0, w1);
                v2 = next(v2, v3, v0, v1);
                rounds4(a, w2, $i + 2);
                rounds4(b, v2, $i + 2);
                w3 = next(w3, w0, w1, w2);
                v3 = next(v3, v0, v1, v2);
                rounds4(a, w3, $i + 3);
                rounds4(b, v3, $i + 3);
            };
        }
        four_groups!(4);
        four_groups!(8);
        four_groups!(12);
        a.abef = _mm_add_epi32(a.abef, saved.0);
        a.cdgh = _mm_add_epi32(a.cdgh, saved.1);
        b.abef = _mm_add_epi32(b.abef, saved.2);
        b.cdgh = _mm_add_epi32(b.cdgh, saved.3);
    }

    /// The message group after the four groups `w0`..`w3` (oldest first).
    #[inline]
    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    unsafe fn next(w0: __m128i, w1: __m128i, w2: __m128i, w3: __m128i) -> __m128i {
        let t = _mm_sha256msg1_epu32(w0, w1);
        let t = _mm_add_epi32(t, _mm_alignr_epi8(w3, w2, 4));
        _mm_sha256msg2_epu32(t, w3)
    }

    /// Hashes the whole blocks of `ba` into `a` and as many of `bb` into `b`, the two streams'
    /// rounds interleaved.
    ///
    /// # Safety
    /// The CPU must have SHA, SSSE3 and SSE4.1 ([`available`]).
    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    pub unsafe fn compress_two(a: &mut [u32; 8], ba: &[u8], b: &mut [u32; 8], bb: &[u8]) {
        let (mut la, mut lb) = (load(a), load(b));
        for (x, y) in ba.chunks_exact(64).zip(bb.chunks_exact(64)) {
            block_two(&mut la, x, &mut lb, y);
        }
        store(&la, a);
        store(&lb, b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_data::noise;
    use sha2::Digest;

    fn reference(data: &[u8]) -> [u8; 32] {
        sha2::Sha256::digest(data).into()
    }

    #[test]
    fn known_answers() {
        let hex = |d: [u8; 32]| d.iter().map(|b| format!("{b:02x}")).collect::<String>();
        assert_eq!(
            hex(Sha256::new().finalize()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let mut h = Sha256::new();
        h.update(b"abc");
        assert_eq!(
            hex(h.finalize()),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    /// Every length around the block and padding boundaries, fed in uneven pieces, alone and
    /// two streams at once, equals the `sha2` crate.
    #[test]
    fn agrees_with_sha2_at_every_boundary() {
        let data = noise(5000, 7);
        let other = noise(7000, 11);
        for len in (0..300).chain([1000, 4095, 4096, 4097, 5000]) {
            let want = reference(&data[..len]);
            let mut one = Sha256::new();
            for piece in data[..len].chunks(37) {
                one.update(piece);
            }
            assert_eq!(one.finalize(), want, "len {len}");

            let len_b = (len * 7 + 13) % 7000;
            let (mut a, mut b) = (Sha256::new(), Sha256::new());
            // Uneven pieces on both sides: buffered tails, different block counts.
            let (mut pa, mut pb) = (data[..len].chunks(200), other[..len_b].chunks(333));
            loop {
                match (pa.next(), pb.next()) {
                    (None, None) => break,
                    (x, y) => Sha256::update_two(&mut a, x.unwrap_or(&[]), &mut b, y.unwrap_or(&[])),
                }
            }
            assert_eq!(a.finalize(), want, "len {len}");
            assert_eq!(b.finalize(), reference(&other[..len_b]), "len {len_b}");
        }
    }

    /// Two streams at once give the states of each alone (on a CPU without the SHA
    /// extensions, the same function runs twice; arm64 runs these tests too).
    #[test]
    fn two_streams_agree_with_one() {
        let data = noise(64 * 40, 13);
        let other = noise(64 * 40, 17);
        for n in [1, 2, 3, 40] {
            let (mut y, mut z) = (INIT, INIT);
            compress(&mut y, &data[..64 * n]);
            compress(&mut z, &other[..64 * n]);
            let (mut a, mut b) = (INIT, INIT);
            compress_two(&mut a, &data[..64 * n], &mut b, &other[..64 * n]);
            assert_eq!((a, b), (y, z), "{n} blocks");
        }
    }

    #[test]
    fn large_streams_agree() {
        let a_data = noise(3 << 20, 3);
        let b_data = noise(1 << 20, 5);
        let (mut a, mut b) = (Sha256::new(), Sha256::new());
        for (x, y) in a_data
            .chunks(1 << 20)
            .zip(b_data.chunks(400_001).chain(std::iter::repeat(&[][..])))
        {
            Sha256::update_two(&mut a, x, &mut b, y);
        }
        assert_eq!(a.finalize(), reference(&a_data));
        assert_eq!(b.finalize(), reference(&b_data));
    }
}
