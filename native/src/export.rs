//! The one pass: walk -> tar -> compress -> write, hashing the tar (diffid) and the blob (digest).
//!
//! Threads: the calling thread walks the tree and produces the tar in fixed-size blocks; for gzip
//! and zstd the blocks go to N compression workers (a deflate piece or a zstd frame each) and an
//! ordered writer writes them in order, hashing the tar and the blob as two streams at once
//! (sha256.rs); zstd as one frame has one writer thread feeding libzstd's multithreaded stream;
//! for none, the producer hashes the tar and the writer only writes it. Every channel is bounded,
//! so memory stays flat whatever the tree size.
//!
//! The layers of a split go through one pipeline, one after the other: the producer starts the
//! next layer while the workers finish the last blocks of the one before, so no core waits at a
//! layer's start or end, and the threads and buffers are made once.

use std::collections::{BTreeMap, HashMap};
use std::ffi::{CStr, CString};
use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};

use crate::compress::{self, Compression, GzipPieces, ZstdFrames, BLOCK_SIZE};
use crate::ostree_repo::CommitSource;
use crate::sha256::Sha256;
use crate::tar::{self, Header, Kind};
use crate::walk::{self, WalkOptions};
use crate::Error;

#[derive(Clone, Debug)]
pub struct ExportOptions {
    pub root: PathBuf,
    /// The layers to write, in order (at least one).
    pub layers: Vec<LayerTarget>,
    pub compression: Compression,
    /// Worker threads for compression (>= 1).
    pub threads: usize,
    pub source_date_epoch: Option<i64>,
    pub usr_etc_as_etc: bool,
    /// Paths left out of the layers if they lie inside the tree, a directory with all below it
    /// (the image being written, an output about to be replaced). The output blobs always are.
    pub skip_paths: Vec<PathBuf>,
    /// Export this commit of the repository `root` (bare, bare-user or archive) instead of the
    /// directory `root`.
    pub commit: Option<Arc<CommitSource>>,
}

/// One layer's blob and the part of the tree it holds.
#[derive(Clone, Debug)]
pub struct LayerTarget {
    /// Blob path to create (must not exist).
    pub output: PathBuf,
    /// Only part of the tree, for one of several layers; None: all of it.
    pub select: Option<Arc<walk::Selection>>,
}

impl LayerTarget {
    /// The whole tree into `output`.
    pub fn whole(output: impl Into<PathBuf>) -> Self {
        LayerTarget {
            output: output.into(),
            select: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportResult {
    /// "sha256:<hex>" of the blob as written.
    pub digest: String,
    /// "sha256:<hex>" of the uncompressed tar.
    pub diff_id: String,
    pub size: u64,
    pub uncompressed_size: u64,
    pub entries: u64,
    pub warnings: Vec<String>,
}

/// Counters and the cancel flag shared with whoever started the export. The counters run over
/// all layers.
#[derive(Default, Debug)]
pub struct Control {
    pub cancel: AtomicBool,
    /// Uncompressed tar bytes produced so far.
    pub bytes_read: AtomicU64,
    /// Blob bytes written so far.
    pub bytes_written: AtomicU64,
    pub entries: AtomicU64,
    /// The layer being produced (an index into `ExportOptions::layers`).
    pub layer: AtomicU64,
}

pub fn default_threads() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

/// Runs the export of every layer; one result per layer, in order. On any error (or cancel) no
/// output is left behind.
pub fn export_layers(opts: &ExportOptions, ctl: &Control) -> Result<Vec<ExportResult>, Error> {
    if opts.threads == 0 {
        return Err(Error::msg("threads must be at least 1".into()));
    }
    if opts.layers.is_empty() {
        return Err(Error::msg("no layer to export".into()));
    }
    let remove = |layers: &[LayerTarget]| {
        for l in layers {
            let _ = std::fs::remove_file(&l.output);
        }
    };
    let mut files = Vec::with_capacity(opts.layers.len());
    for (i, l) in opts.layers.iter().enumerate() {
        let created = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .custom_flags(libc::O_CLOEXEC)
            .open(&l.output);
        match created {
            Ok(f) => files.push(f),
            Err(e) => {
                remove(&opts.layers[..i]);
                return Err(Error::io("cannot create", &l.output, &e));
            }
        }
    }
    let res = run(opts, ctl, files);
    if res.is_err() {
        remove(&opts.layers);
    }
    // The pipeline's threads are gone; hand their malloc arenas' free memory back, or a later
    // export in this process starts new arenas on top (when each layer was an export of its
    // own: peak RSS 112 instead of 77 MiB).
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory; it is safe to call at any time.
    unsafe {
        libc::malloc_trim(0);
    }
    res
}

/// [`export_layers`] of options with exactly one layer.
pub fn export_layer(opts: &ExportOptions, ctl: &Control) -> Result<ExportResult, Error> {
    if opts.layers.len() != 1 {
        return Err(Error::msg(format!(
            "one layer expected, not {}",
            opts.layers.len()
        )));
    }
    Ok(export_layers(opts, ctl)?.remove(0))
}

fn hex(d: &[u8]) -> String {
    let mut s = String::with_capacity(7 + d.len() * 2);
    s.push_str("sha256:");
    for b in d {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// A block of the tar stream on its way to compression.
struct Job {
    /// Position among all blocks of all layers.
    seq: u64,
    /// Position in its layer's stream (which blocks a gzip level mix makes stronger).
    index: u64,
    data: Vec<u8>,
    /// Ends its layer.
    last: bool,
}

impl Job {
    fn piece(&self) -> compress::Piece<'_> {
        compress::Piece {
            index: self.index,
            input: &self.data,
            last: self.last,
        }
    }
}

struct Done {
    seq: u64,
    data: Vec<u8>,
    /// The block that was compressed, for the producer to fill again.
    input: Vec<u8>,
    /// Of the block, for gzip's trailer.
    crc: Option<crc32fast::Hasher>,
    len: u64,
    last: bool,
}

/// Written bytes and digest of the blob, and the tar's digest when the writer hashed it.
struct Written {
    size: u64,
    digest: Option<[u8; 32]>,
    diff_id: Option<[u8; 32]>,
}

/// Picks the error to report: a real cause beats "the other side of a channel went away".
fn pick(errors: Vec<Error>) -> Error {
    errors
        .iter()
        .find(|e| matches!(e, Error::Msg(_)))
        .or_else(|| errors.iter().find(|e| matches!(e, Error::Cancelled)))
        .cloned()
        .unwrap_or(Error::Pipeline)
}

/// (dev, ino) of the paths that exist (a missing one cannot be in the tree either).
pub fn skip_ids(paths: &[PathBuf]) -> Vec<(u64, u64)> {
    paths
        .iter()
        .filter_map(|p| std::fs::symlink_metadata(p).ok())
        .map(|m| (m.dev(), m.ino()))
        .collect()
}

fn run(opts: &ExportOptions, ctl: &Control, files: Vec<File>) -> Result<Vec<ExportResult>, Error> {
    let mut skip = skip_ids(&opts.skip_paths);
    for (f, l) in files.iter().zip(&opts.layers) {
        let meta = f
            .metadata()
            .map_err(|e| Error::io("cannot stat", &l.output, &e))?;
        skip.push((meta.dev(), meta.ino()));
    }
    let skip = skip.as_slice();
    let threads = opts.threads;
    let blobs: Vec<Blob> = files
        .into_iter()
        .zip(&opts.layers)
        .map(|(file, l)| Blob {
            file,
            path: &l.output,
        })
        .collect();

    std::thread::scope(|s| {
        let (job_tx, job_rx) = sync_channel::<Job>(2 * threads + 2);
        let mut handles = Vec::new();
        let writer = match opts.compression {
            Compression::Gzip { .. } | Compression::Zstd { .. } => {
                let compression = opts.compression;
                let job_rx = Arc::new(Mutex::new(job_rx));
                let (done_tx, done_rx) = sync_channel::<Done>(2 * threads + 2);
                // In-flight limit: a token per block between the producer and the writer. A token
                // is a block buffer the writer is done with, so the producer reuses warm memory
                // instead of a fresh one (page faults, zero-filling) per block. Bigger blocks
                // (zstd's frames) get fewer tokens, down to one per worker and two more.
                let per_block = compression.block_size() / BLOCK_SIZE;
                let in_flight = (4 * threads + 4).div_ceil(per_block).max(threads + 2);
                let (tok_tx, tok_rx) = sync_channel::<Vec<u8>>(in_flight);
                for _ in 0..in_flight {
                    tok_tx.send(Vec::new()).expect("token");
                }
                for _ in 0..threads {
                    let job_rx = job_rx.clone();
                    let done_tx = done_tx.clone();
                    handles.push(s.spawn(move || compress_worker(compression, &job_rx, &done_tx, ctl)));
                }
                // Only the workers hold the queue: when they all stop (cancel, error), the
                // producer's next send fails instead of waiting forever on a full queue.
                drop(job_rx);
                drop(done_tx);
                let w = s.spawn(move || block_writer(blobs, compression, done_rx, tok_tx, ctl));
                let producer = produce(opts, ctl, skip, job_tx, Some(tok_rx));
                (producer, w)
            }
            Compression::ZstdOneFrame { level } => {
                let w = s.spawn(move || zstd_writer(blobs, level, threads, job_rx, ctl));
                (produce(opts, ctl, skip, job_tx, None), w)
            }
            Compression::None => {
                let w = s.spawn(move || plain_writer(blobs, job_rx, ctl));
                (produce(opts, ctl, skip, job_tx, None), w)
            }
        };
        // When the producer fails it drops its sender: the workers drain and the writer stops.
        let (produced, w) = writer;
        let mut errors = Vec::new();
        let mut written = None;
        match w.join().expect("writer thread panicked") {
            Ok(wr) => written = Some(wr),
            Err(e) => errors.push(e),
        }
        for h in handles {
            if let Err(e) = h.join().expect("worker thread panicked") {
                errors.push(e);
            }
        }
        let produced = match produced {
            Ok(p) => p,
            Err(e) => {
                errors.insert(0, e);
                return Err(pick(errors));
            }
        };
        if !errors.is_empty() {
            return Err(pick(errors));
        }
        if ctl.cancel.load(Ordering::Relaxed) {
            return Err(Error::Cancelled);
        }
        let written = written.expect("writer result");
        if written.len() != produced.len() {
            return Err(Error::Pipeline);
        }
        produced
            .into_iter()
            .zip(written)
            .map(|(produced, written)| {
                let diff_id = hex(&written.diff_id.or(produced.diffid).ok_or(Error::Pipeline)?);
                Ok(ExportResult {
                    digest: written.digest.map(|d| hex(&d)).unwrap_or_else(|| diff_id.clone()),
                    diff_id,
                    size: written.size,
                    uncompressed_size: produced.size,
                    entries: produced.entries,
                    warnings: produced.warnings,
                })
            })
            .collect()
    })
}

/// A layer's output, created and empty.
struct Blob<'a> {
    file: File,
    path: &'a Path,
}

struct Produced {
    /// None when the writer hashes the tar.
    diffid: Option<[u8; 32]>,
    size: u64,
    entries: u64,
    warnings: Vec<String>,
}

/// The layers' tar streams, one after the other, cut into blocks of `block_size` that are sent on
/// (and hashed in order, unless the writer does that). A layer's last block is short and marked
/// `last`.
struct BlockOut<'a> {
    block: Vec<u8>,
    block_size: usize,
    seq: u64,
    /// Position of the next block in its layer.
    index: u64,
    /// Tar bytes of the current layer.
    layer_size: u64,
    /// Tar bytes of all layers so far.
    total: u64,
    /// Of the current layer's tar, unless the writer hashes it.
    sha: Option<Sha256>,
    tx: SyncSender<Job>,
    tokens: Option<Receiver<Vec<u8>>>,
    inflate: ObjectInflate,
    ctl: &'a Control,
}

impl BlockOut<'_> {
    fn emit(&mut self, last: bool) -> Result<(), Error> {
        if self.ctl.cancel.load(Ordering::Relaxed) {
            return Err(Error::Cancelled);
        }
        let data = std::mem::take(&mut self.block);
        if let Some(sha) = self.sha.as_mut() {
            sha.update(&data);
        }
        self.layer_size += data.len() as u64;
        self.total += data.len() as u64;
        self.ctl.bytes_read.store(self.total, Ordering::Relaxed);
        self.block = match &self.tokens {
            Some(tokens) => tokens.recv().map_err(|_| Error::Pipeline)?,
            None => Vec::new(),
        };
        self.block.clear();
        self.block.reserve_exact(self.block_size);
        self.tx
            .send(Job {
                seq: self.seq,
                index: self.index,
                data,
                last,
            })
            .map_err(|_| Error::Pipeline)?;
        self.seq += 1;
        self.index = if last { 0 } else { self.index + 1 };
        Ok(())
    }

    /// Ends the current layer's tar: its trailer, its last block; (diffid unless the writer
    /// hashes the tar, size). The next write starts the next layer.
    fn end_layer(&mut self) -> Result<(Option<[u8; 32]>, u64), Error> {
        self.write(&tar::TRAILER)?;
        self.emit(true)?;
        let diffid = self.sha.as_mut().map(|sha| std::mem::take(sha).finalize());
        Ok((diffid, std::mem::take(&mut self.layer_size)))
    }

    fn write(&mut self, mut data: &[u8]) -> Result<(), Error> {
        while !data.is_empty() {
            let n = (self.block_size - self.block.len()).min(data.len());
            self.block.extend_from_slice(&data[..n]);
            data = &data[n..];
            if self.block.len() == self.block_size {
                self.emit(false)?;
            }
        }
        Ok(())
    }

    /// Appends `n` zero bytes (a hole of a sparse file).
    fn zeros(&mut self, mut n: u64) -> Result<(), Error> {
        while n > 0 {
            let start = self.block.len();
            let k = ((self.block_size - start) as u64).min(n) as usize;
            self.block.resize(start + k, 0);
            n -= k as u64;
            if self.block.len() == self.block_size {
                self.emit(false)?;
            }
        }
        Ok(())
    }

    /// Reads exactly `n` bytes from `f`'s current offset into the stream.
    /// Reads straight into the block's spare capacity: zero-filling it first (as `read_exact_from`
    /// must for a `Read`) cost up to 5% of a zstd export's CPU.
    fn read_exact(&mut self, f: &mut File, n: u64, path: &Path) -> Result<(), Error> {
        let fd = f.as_raw_fd();
        let mut left = n;
        while left > 0 {
            let start = self.block.len();
            let want = ((self.block_size - start) as u64).min(left) as usize;
            debug_assert!(self.block.capacity() >= start + want);
            // SAFETY: the block has capacity for block_size bytes (reserve_exact in emit and at
            // creation), so [start, start + want) is allocated; read(2) writes at most `want`
            // bytes there, and only the `k` bytes it reports written are made part of the Vec.
            let k = unsafe { libc::read(fd, self.block.as_mut_ptr().add(start).cast(), want) };
            if k < 0 {
                let e = std::io::Error::last_os_error();
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(Error::io("cannot read", path, &e));
            }
            if k == 0 {
                return Err(changed_size(path));
            }
            unsafe { self.block.set_len(start + k as usize) };
            left -= k as u64;
            if self.block.len() == self.block_size {
                self.emit(false)?;
            }
        }
        Ok(())
    }

    /// Reads exactly `n` bytes of `r` into the stream; `short` is the error if it ends sooner,
    /// `failed` the one for a read error.
    fn read_exact_from(
        &mut self,
        r: &mut impl Read,
        n: u64,
        path: &Path,
        short: fn(&Path) -> Error,
        failed: fn(&Path, &std::io::Error) -> Error,
    ) -> Result<(), Error> {
        let mut left = n;
        while left > 0 {
            let start = self.block.len();
            let n = ((self.block_size - start) as u64).min(left) as usize;
            self.block.resize(start + n, 0);
            let mut got = 0;
            while got < n {
                match r.read(&mut self.block[start + got..start + n]) {
                    Ok(0) => return Err(short(path)),
                    Ok(k) => got += k,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(failed(path, &e)),
                }
            }
            left -= n as u64;
            if self.block.len() == self.block_size {
                self.emit(false)?;
            }
        }
        Ok(())
    }

    /// Copies exactly `size` bytes of `f` into the stream, dense; a file that turns out shorter
    /// or longer is an error. For a `sparse` file, holes (SEEK_DATA/SEEK_HOLE) are written as
    /// zeros without reading them: the same bytes, faster.
    fn copy_file(&mut self, f: &mut File, size: u64, sparse: bool, path: &Path) -> Result<(), Error> {
        if sparse {
            let fd = f.as_raw_fd();
            let mut off = 0u64;
            while off < size {
                // SAFETY: plain lseek on an open descriptor.
                let data = unsafe { libc::lseek(fd, off as libc::off_t, libc::SEEK_DATA) };
                let data = if data < 0 { size } else { (data as u64).min(size) };
                // ENXIO (no data after off) and other errors: the rest is a hole or is read below.
                let data = if data < off { off } else { data };
                self.zeros(data - off)?;
                off = data;
                if off >= size {
                    break;
                }
                let hole = unsafe { libc::lseek(fd, off as libc::off_t, libc::SEEK_HOLE) };
                let hole = if hole < 0 {
                    size
                } else {
                    (hole as u64).clamp(off + 1, size)
                };
                f.seek(SeekFrom::Start(off))
                    .map_err(|e| Error::io("cannot read", path, &e))?;
                self.read_exact(f, hole - off, path)?;
                off = hole;
            }
            f.seek(SeekFrom::Start(size))
                .map_err(|e| Error::io("cannot read", path, &e))?;
            let now = f
                .metadata()
                .map_err(|e| Error::io("cannot stat", path, &e))?
                .len();
            if now != size {
                return Err(changed_size(path));
            }
        } else {
            self.read_exact(f, size, path)?;
        }
        let mut probe = [0u8; 1];
        loop {
            match f.read(&mut probe) {
                Ok(0) => break,
                Ok(_) => return Err(changed_size(path)),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::io("cannot read", path, &e)),
            }
        }
        self.pad_content(size)
    }

    /// Zeros after a file's `size` content bytes, up to the next tar block.
    fn pad_content(&mut self, size: u64) -> Result<(), Error> {
        self.write(&[0u8; tar::BLOCK][..tar::padding(size)])
    }

    /// Inflates the raw deflate content at `offset` of `f` (an archive repository's file object)
    /// into the stream: exactly `size` bytes, where the deflate stream ends. Objects of up to
    /// WHOLE_INFLATE_MAX are read whole and inflated by libdeflate (about twice zlib-rs's speed),
    /// straight into the block when they fit; bigger ones are streamed through zlib-rs.
    fn copy_deflated(&mut self, f: &mut File, offset: u64, size: u64, path: &Path) -> Result<(), Error> {
        f.seek(SeekFrom::Start(offset))
            .map_err(|e| Error::io("cannot read", path, &e))?;
        // Empty content may have no deflate stream at all, which libdeflate would refuse.
        if size > 0 && size <= WHOLE_INFLATE_MAX {
            // Deflate grows incompressible data by 5 bytes per 64 KiB block at most; an object
            // that does not end within this is streamed (its error is found there).
            let limit = size as usize + size as usize / 1024 + 1024;
            let z = &mut self.inflate;
            if z.compressed.len() < limit {
                z.compressed.resize(limit, 0);
            }
            let got = walk::read_full(f, &mut z.compressed[..limit])
                .map_err(|e| Error::io("cannot read", path, &e))?;
            if got < limit {
                return self.inflate_whole(got, size as usize, path);
            }
            f.seek(SeekFrom::Start(offset))
                .map_err(|e| Error::io("cannot read", path, &e))?;
        }
        let mut content = flate2::bufread::DeflateDecoder::new(BufReader::with_capacity(64 * 1024, f));
        self.read_exact_from(
            &mut content,
            size,
            path,
            |p| corrupt_object(p, "content shorter than its header says"),
            // The decoder's own errors (a bad or cut stream) carry no OS error code.
            |p, e| match e.raw_os_error() {
                Some(_) => Error::io("cannot read", p, e),
                None => corrupt_object(p, &e.to_string()),
            },
        )?;
        let mut probe = [0u8; 1];
        match content.read(&mut probe) {
            Ok(0) => {}
            Ok(_) => return Err(corrupt_object(path, "content longer than its header says")),
            Err(e) => return Err(corrupt_object(path, &e.to_string())),
        }
        self.pad_content(size)
    }

    /// Inflates the `compressed` bytes of `self.inflate` (a whole raw deflate stream) into the
    /// stream: exactly `size` bytes.
    fn inflate_whole(&mut self, compressed: usize, size: usize, path: &Path) -> Result<(), Error> {
        let z = &mut self.inflate;
        let d = z.decompressor.get_or_insert_with(libdeflater::Decompressor::new);
        let input = &z.compressed[..compressed];
        let start = self.block.len();
        let fits = start + size <= self.block_size;
        let out = if fits {
            self.block.resize(start + size, 0);
            &mut self.block[start..]
        } else {
            if z.content.len() < size {
                z.content.resize(size, 0);
            }
            &mut z.content[..size]
        };
        match d.deflate_decompress(input, out) {
            Ok(n) if n == size => {}
            Ok(_) => return Err(corrupt_object(path, "content shorter than its header says")),
            Err(libdeflater::DecompressionError::InsufficientSpace) => {
                return Err(corrupt_object(path, "content longer than its header says"))
            }
            Err(libdeflater::DecompressionError::BadData) => {
                return Err(corrupt_object(path, "invalid or truncated deflate data"))
            }
        }
        if fits {
            if self.block.len() == self.block_size {
                self.emit(false)?;
            }
        } else {
            let content = std::mem::take(&mut self.inflate.content);
            let written = self.write(&content[..size]);
            self.inflate.content = content;
            written?;
        }
        self.pad_content(size as u64)
    }
}

/// Archive objects up to this size are inflated whole by libdeflate; see `copy_deflated`.
const WHOLE_INFLATE_MAX: u64 = 4 << 20;

/// What inflating archive objects whole reuses from one object to the next.
#[derive(Default)]
struct ObjectInflate {
    decompressor: Option<libdeflater::Decompressor>,
    compressed: Vec<u8>,
    content: Vec<u8>,
}

pub(crate) fn corrupt_object(path: &Path, why: &str) -> Error {
    Error::msg(format!(
        "{} is not a valid OSTree file object: {why}",
        path.display()
    ))
}

fn changed_size(path: &Path) -> Error {
    Error::msg(format!(
        "cannot read {}: file changed size while being read",
        path.display()
    ))
}

fn produce(
    opts: &ExportOptions,
    ctl: &Control,
    skip: &[(u64, u64)],
    tx: SyncSender<Job>,
    tokens: Option<Receiver<Vec<u8>>>,
) -> Result<Vec<Produced>, Error> {
    let block_size = opts.compression.block_size();
    let mut out = BlockOut {
        block: Vec::with_capacity(block_size),
        block_size,
        seq: 0,
        index: 0,
        layer_size: 0,
        total: 0,
        // The writers of compressed layers hash the tar, two streams at once with the blob.
        sha: matches!(opts.compression, Compression::None).then(Sha256::new),
        tx,
        tokens,
        inflate: ObjectInflate::default(),
        ctl,
    };
    let mut hdr_buf = Vec::with_capacity(4096);
    // Of all layers, for progress.
    let mut entries = 0u64;
    let mut produced = Vec::with_capacity(opts.layers.len());
    for (i, layer) in opts.layers.iter().enumerate() {
        ctl.layer.store(i as u64, Ordering::Relaxed);
        let before = entries;
        let mut warnings = Vec::new();
        produce_layer(
            opts,
            layer,
            skip,
            &mut out,
            &mut hdr_buf,
            &mut entries,
            &mut warnings,
        )?;
        let (diffid, size) = out.end_layer()?;
        produced.push(Produced {
            diffid,
            size,
            entries: entries - before,
            warnings,
        });
    }
    Ok(produced)
}

/// One layer's entries into `out`, up to (not including) its trailer.
fn produce_layer(
    opts: &ExportOptions,
    layer: &LayerTarget,
    skip: &[(u64, u64)],
    out: &mut BlockOut,
    hdr_buf: &mut Vec<u8>,
    entries: &mut u64,
    warnings: &mut Vec<String>,
) -> Result<(), Error> {
    let ctl = out.ctl;
    // Hardlinks within the layer: a layer cannot link into another.
    let mut links: HashMap<(u64, u64), Vec<u8>> = HashMap::new();
    let wopts = WalkOptions {
        select: layer.select.as_deref(),
        usr_etc_as_etc: opts.usr_etc_as_etc,
        skip,
        cancel: &ctl.cancel,
        commit: opts.commit.as_deref(),
    };
    let root_dev = walk::root_device(&opts.root, &wopts);
    walk::walk(&opts.root, &wopts, &mut |ent| {
        if let Some(kind) = walk::kernel_mount(root_dev, &ent.rel, &ent.path, &ent.meta) {
            warnings.push(format!(
                "left out the contents of {}: a mount of the host's {kind}, not part of the tree",
                String::from_utf8_lossy(&ent.rel)
            ));
        }
        let name = ent.rel.rsplit(|&b| b == b'/').next().unwrap_or(&ent.rel);
        if walk::is_whiteout_name(name) {
            warnings.push(format!(
                "skipped {}: image tools read a name starting with .wh. as a whiteout",
                String::from_utf8_lossy(&ent.rel)
            ));
            return Ok(());
        }
        let m = &ent.meta;
        let mut mtime = m.mtime;
        if let Some(sde) = opts.source_date_epoch {
            mtime = mtime.min(sde);
        }
        let mut path = ent.rel.clone();
        let mut link = Vec::new();
        let mut size = 0;
        let (mut dev_major, mut dev_minor) = (0, 0);
        let mut kind = if m.is_dir() {
            path.push(b'/');
            Kind::Directory
        } else if m.is_file() {
            size = m.size;
            Kind::Regular
        } else if m.is_symlink() {
            link = match &ent.symlink {
                Some(target) => target.clone(),
                None => std::fs::read_link(&ent.path)
                    .map_err(|e| Error::io("cannot read link", &ent.path, &e))?
                    .into_os_string()
                    .into_encoded_bytes(),
            };
            Kind::Symlink
        } else if m.is_char_device() || m.is_block_device() {
            let rdev = m.rdev;
            dev_major = libc::major(rdev) as u64;
            dev_minor = libc::minor(rdev) as u64;
            if m.is_char_device() {
                Kind::Char
            } else {
                Kind::Block
            }
        } else if m.is_fifo() {
            Kind::Fifo
        } else {
            warnings.push(format!("skipped socket {}", String::from_utf8_lossy(&ent.rel)));
            return Ok(());
        };
        if !m.is_dir() && m.nlink > 1 {
            match links.get(&(m.dev, m.ino)) {
                Some(first) => {
                    link = first.clone();
                    kind = Kind::HardLink;
                    size = 0;
                }
                None => {
                    links.insert((m.dev, m.ino), path.clone());
                }
            }
        }
        let xattrs = if kind == Kind::HardLink {
            Vec::new()
        } else if let Some(x) = &ent.xattrs {
            x.clone()
        } else {
            read_xattrs(&ent.path)?
        };
        let mut file = if kind == Kind::Regular && size > 0 {
            Some(
                OpenOptions::new()
                    .read(true)
                    .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                    .open(&ent.path)
                    .map_err(|e| Error::io("cannot open", &ent.path, &e))?,
            )
        } else {
            None
        };
        hdr_buf.clear();
        tar::write_header(
            hdr_buf,
            &Header {
                path: &path,
                kind,
                mode: m.mode,
                uid: m.uid as u64,
                gid: m.gid as u64,
                size,
                mtime,
                link: &link,
                dev_major,
                dev_minor,
                xattrs: &xattrs,
            },
        );
        out.write(hdr_buf)?;
        if let Some(f) = file.as_mut() {
            if let Some(offset) = ent.deflated_at {
                out.copy_deflated(f, offset, size, &ent.path)?;
            } else {
                // Fewer 512-byte blocks allocated than the size needs: there are holes.
                let sparse = m.blocks.saturating_mul(512) < size;
                out.copy_file(f, size, sparse, &ent.path)?;
            }
        }
        *entries += 1;
        ctl.entries.store(*entries, Ordering::Relaxed);
        Ok(())
    })
}

/// (name, value) pairs.
pub type Xattrs = Vec<(Vec<u8>, Vec<u8>)>;

/// What a layer keeps of a set of xattrs, in the tar's order: sorted by name, without
/// `security.selinux` (the deploying system labels files itself).
pub fn keep_xattrs(mut xattrs: Xattrs) -> Xattrs {
    xattrs.retain(|(name, _)| name != b"security.selinux");
    xattrs.sort();
    xattrs
}

/// Extended attributes of `path` (not following symlinks), sorted by name, without
/// `security.selinux`. A filesystem without xattr support gives none.
pub fn read_xattrs(path: &Path) -> Result<Xattrs, Error> {
    let cpath = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| Error::msg(format!("cannot read xattrs of {}: NUL in path", path.display())))?;
    let err = |what: &str| Error::io(what, path, &std::io::Error::last_os_error());
    let mut names = vec![0u8; 1024];
    let len = loop {
        let n = unsafe {
            libc::llistxattr(
                cpath.as_ptr(),
                names.as_mut_ptr() as *mut libc::c_char,
                names.len(),
            )
        };
        if n >= 0 {
            break n as usize;
        }
        match std::io::Error::last_os_error().raw_os_error() {
            Some(libc::ENOTSUP) => return Ok(Vec::new()),
            Some(libc::ERANGE) => {
                let need = unsafe { libc::llistxattr(cpath.as_ptr(), std::ptr::null_mut(), 0) };
                if need < 0 {
                    return Err(err("cannot list xattrs of"));
                }
                names.resize(need as usize + 1024, 0);
            }
            _ => return Err(err("cannot list xattrs of")),
        }
    };
    let mut out = Vec::new();
    for name in names[..len].split(|&b| b == 0).filter(|n| !n.is_empty()) {
        // Not even read: keep_xattrs would drop it.
        if name == b"security.selinux" {
            continue;
        }
        let cname = CString::new(name).expect("xattr name has no NUL");
        // None: removed between list and get.
        let val = xattr_value(&cpath, &cname, path)?.unwrap_or_default();
        out.push((name.to_vec(), val));
    }
    Ok(keep_xattrs(out))
}

/// One xattr of `path` (not following a symlink); None if it has none of that name.
pub fn get_xattr(path: &Path, name: &CStr) -> Result<Option<Vec<u8>>, Error> {
    let cpath = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| Error::msg(format!("cannot read xattrs of {}: NUL in path", path.display())))?;
    xattr_value(&cpath, name, path)
}

fn xattr_value(cpath: &CStr, cname: &CStr, path: &Path) -> Result<Option<Vec<u8>>, Error> {
    let err = || Error::io("cannot read xattrs of", path, &std::io::Error::last_os_error());
    let mut val = vec![0u8; 256];
    loop {
        // SAFETY: both strings are NUL-terminated; val is writable for val.len() bytes.
        let n = unsafe {
            libc::lgetxattr(
                cpath.as_ptr(),
                cname.as_ptr(),
                val.as_mut_ptr() as *mut libc::c_void,
                val.len(),
            )
        };
        if n >= 0 {
            val.truncate(n as usize);
            return Ok(Some(val));
        }
        match std::io::Error::last_os_error().raw_os_error() {
            Some(libc::ERANGE) => {
                // SAFETY: as above, with no buffer (asks for the size).
                let need =
                    unsafe { libc::lgetxattr(cpath.as_ptr(), cname.as_ptr(), std::ptr::null_mut(), 0) };
                if need < 0 {
                    return Err(err());
                }
                val.resize(need as usize + 256, 0);
            }
            Some(libc::ENODATA) => return Ok(None),
            _ => return Err(err()),
        }
    }
}

/// Compresses blocks as they come: a deflate piece (gzip) or a frame (zstd) each.
fn compress_worker(
    compression: Compression,
    jobs: &Mutex<Receiver<Job>>,
    done: &SyncSender<Done>,
    ctl: &Control,
) -> Result<(), Error> {
    enum Blocks {
        Gzip(GzipPieces),
        Zstd(ZstdFrames),
    }
    let mut c = match compression {
        Compression::Gzip { level, strong_every } => Blocks::Gzip(GzipPieces::new(level, strong_every)),
        Compression::Zstd { level } => Blocks::Zstd(
            ZstdFrames::new(level)
                .map_err(|e| Error::msg(format!("cannot start zstd level {level}: {e}")))?,
        ),
        Compression::None | Compression::ZstdOneFrame { .. } => return Err(Error::Pipeline),
    };
    loop {
        let job = match jobs.lock().expect("job queue").recv() {
            Ok(j) => j,
            Err(_) => return Ok(()),
        };
        if ctl.cancel.load(Ordering::Relaxed) {
            return Err(Error::Cancelled);
        }
        let mut out = Vec::new();
        let crc = match &mut c {
            Blocks::Gzip(g) => {
                g.compress(&job.piece(), &mut out);
                let mut crc = crc32fast::Hasher::new();
                crc.update(&job.data);
                Some(crc)
            }
            Blocks::Zstd(z) => {
                // Fails only on a bug (the buffer is always big enough).
                z.compress(&job.data, &mut out)
                    .map_err(|e| Error::msg(format!("zstd compression failed: {e}")))?;
                None
            }
        };
        done.send(Done {
            seq: job.seq,
            data: out,
            crc,
            len: job.data.len() as u64,
            last: job.last,
            input: job.data,
        })
        .map_err(|_| Error::Pipeline)?;
    }
}

/// A layer's blob being written, hashed as it goes.
struct BlobFile<'a> {
    file: File,
    path: &'a Path,
    sha: Option<Sha256>,
    size: u64,
    /// Blob bytes of the layers before this one, for the progress counter.
    before: u64,
    ctl: &'a Control,
}

impl<'a> BlobFile<'a> {
    fn new(blob: Blob<'a>, hashed: bool, before: u64, ctl: &'a Control) -> Self {
        BlobFile {
            file: blob.file,
            path: blob.path,
            sha: hashed.then(Sha256::new),
            size: 0,
            before,
            ctl,
        }
    }

    fn put(&mut self, data: &[u8]) -> Result<(), Error> {
        self.write_counted(data)?;
        self.hash(data);
        Ok(())
    }

    /// Hashes blob bytes already written.
    fn hash(&mut self, data: &[u8]) {
        if let Some(sha) = self.sha.as_mut() {
            sha.update(data);
        }
    }

    /// Writes `data`, the compressed `tar`, hashing both at once.
    fn put_compressed(&mut self, data: &[u8], tar: &[u8], tar_sha: &mut Sha256) -> Result<(), Error> {
        self.write_counted(data)?;
        self.hash_two(data, tar, tar_sha);
        Ok(())
    }

    /// Hashes blob bytes already written, and tar bytes, at once.
    fn hash_two(&mut self, data: &[u8], tar: &[u8], tar_sha: &mut Sha256) {
        match self.sha.as_mut() {
            Some(sha) => Sha256::update_two(tar_sha, tar, sha, data),
            None => tar_sha.update(tar),
        }
    }

    /// Writes `data` to the file and counts it (not hashed).
    fn write_counted(&mut self, data: &[u8]) -> Result<(), Error> {
        self.file
            .write_all(data)
            .map_err(|e| Error::io("cannot write", self.path, &e))?;
        self.size += data.len() as u64;
        self.ctl
            .bytes_written
            .store(self.before + self.size, Ordering::Relaxed);
        Ok(())
    }

    fn finish(self, diff_id: Option<[u8; 32]>) -> Written {
        Written {
            size: self.size,
            digest: self.sha.map(|s| s.finalize()),
            diff_id,
        }
    }
}

/// Blob bytes of the layers written so far.
fn total_size(written: &[Written]) -> u64 {
    written.iter().map(|w| w.size).sum()
}

/// Writes the compressed blocks in order: per layer one gzip member (header, the pieces, the
/// trailer) or the zstd frames one after the other.
fn block_writer<'a>(
    blobs: Vec<Blob<'a>>,
    compression: Compression,
    done: Receiver<Done>,
    tokens: SyncSender<Vec<u8>>,
    ctl: &'a Control,
) -> Result<Vec<Written>, Error> {
    let gzip = matches!(compression, Compression::Gzip { .. });
    let mut written = Vec::with_capacity(blobs.len());
    let mut blobs = blobs.into_iter();
    let start = |blob: Blob<'a>, written: &[Written]| -> Result<BlobFile<'a>, Error> {
        let mut out = BlobFile::new(blob, true, total_size(written), ctl);
        if gzip {
            out.put(&compress::GZIP_HEADER)?;
        }
        Ok(out)
    };
    let mut out = start(blobs.next().ok_or(Error::Pipeline)?, &written)?;
    let mut pending: BTreeMap<u64, Done> = BTreeMap::new();
    let mut next = 0u64;
    let mut crc = crc32fast::Hasher::new();
    let mut tar_sha = Sha256::new();
    let mut total = 0u64;
    loop {
        let d = done.recv().map_err(|_| Error::Pipeline)?;
        if ctl.cancel.load(Ordering::Relaxed) {
            return Err(Error::Cancelled);
        }
        pending.insert(d.seq, d);
        while let Some(d) = pending.remove(&next) {
            out.put_compressed(&d.data, &d.input, &mut tar_sha)?;
            if let Some(c) = &d.crc {
                crc.combine(c);
            }
            total += d.len;
            next += 1;
            // The producer may be gone already; that is fine once it sent the last block.
            let _ = tokens.try_send(d.input);
            if d.last {
                let crc = std::mem::take(&mut crc);
                let len = std::mem::take(&mut total);
                if gzip {
                    out.put(&compress::gzip_trailer(crc.finalize(), len))?;
                }
                let blob = blobs.next();
                written.push(out.finish(Some(std::mem::take(&mut tar_sha).finalize())));
                match blob {
                    Some(blob) => out = start(blob, &written)?,
                    None => return Ok(written),
                }
            }
        }
    }
}

/// `Compression::ZstdOneFrame`: one zstd frame per layer from libzstd's own multithreading
/// (ZSTDMT). The encoder's output is written as it comes and hashed with the next tar block (two
/// streams at once, as for the block writer).
fn zstd_writer(
    blobs: Vec<Blob>,
    level: i32,
    threads: usize,
    jobs: Receiver<Job>,
    ctl: &Control,
) -> Result<Vec<Written>, Error> {
    let mut written = Vec::with_capacity(blobs.len());
    for blob in blobs {
        let path = blob.path;
        let zerr = |e: std::io::Error| {
            if ctl.cancel.load(Ordering::Relaxed) {
                Error::Cancelled
            } else {
                Error::msg(format!("zstd compression of {} failed: {e}", path.display()))
            }
        };
        let out = UnhashedOutput {
            blob: BlobFile::new(blob, true, total_size(&written), ctl),
            unhashed: Vec::new(),
        };
        let mut enc = zstd::stream::write::Encoder::new(out, level).map_err(zerr)?;
        // Always >= 1 worker: the multithreaded frame layout does not depend on the worker
        // count, but differs from single-threaded mode.
        enc.multithread(threads.max(1) as u32).map_err(zerr)?;
        enc.include_checksum(true).map_err(zerr)?;
        let mut tar_sha = Sha256::new();
        loop {
            let job = jobs.recv().map_err(|_| Error::Pipeline)?;
            enc.write_all(&job.data).map_err(zerr)?;
            // The output lags the input (it comes from earlier blocks): the pairs are a block's
            // tar and as much of the waiting output; the rest waits for the next block.
            let out = enc.get_mut();
            let n = out.unhashed.len().min(job.data.len());
            out.blob.hash_two(&out.unhashed[..n], &job.data, &mut tar_sha);
            out.unhashed.drain(..n);
            if job.last {
                break;
            }
        }
        let mut out = enc.finish().map_err(zerr)?;
        out.blob.hash(&out.unhashed);
        written.push(out.blob.finish(Some(tar_sha.finalize())));
    }
    Ok(written)
}

/// The zstd encoder's output: written to the blob at once, kept until it is hashed.
struct UnhashedOutput<'a> {
    blob: BlobFile<'a>,
    unhashed: Vec<u8>,
}

/// The most output kept for hashing with tar blocks: the encoder's output comes in bursts (a
/// finished job at a time) and, where the tar does not compress, as fast as the tar, so the
/// backlog would grow to several jobs (10 MB on the bench tree); its oldest part is hashed alone.
const UNHASHED_LIMIT: usize = 2 * BLOCK_SIZE;

impl Write for UnhashedOutput<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.blob.ctl.cancel.load(Ordering::Relaxed) {
            return Err(std::io::Error::other("cancelled"));
        }
        self.blob
            .write_counted(buf)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        self.unhashed.extend_from_slice(buf);
        if self.unhashed.len() > UNHASHED_LIMIT {
            let oldest = self.unhashed.len() - BLOCK_SIZE;
            self.blob.hash(&self.unhashed[..oldest]);
            self.unhashed.drain(..oldest);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Writes the layers' tar streams as they are.
fn plain_writer(blobs: Vec<Blob>, jobs: Receiver<Job>, ctl: &Control) -> Result<Vec<Written>, Error> {
    let mut written = Vec::with_capacity(blobs.len());
    for blob in blobs {
        let mut out = BlobFile::new(blob, false, total_size(&written), ctl);
        loop {
            let job = jobs.recv().map_err(|_| Error::Pipeline)?;
            if ctl.cancel.load(Ordering::Relaxed) {
                return Err(Error::Cancelled);
            }
            out.put(&job.data)?;
            if job.last {
                break;
            }
        }
        written.push(out.finish(None));
    }
    Ok(written)
}

/// Streaming SHA-256 of a file: ("sha256:<hex>", size).
pub fn sha256_file(path: &Path) -> Result<(String, u64), Error> {
    let mut f = File::open(path).map_err(|e| Error::io("cannot open", path, &e))?;
    let mut sha = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                sha.update(&buf[..n]);
                size += n as u64;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io("cannot read", path, &e)),
        }
    }
    Ok((hex(&sha.finalize()), size))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_out<'a>(ctl: &'a Control, tx: SyncSender<Job>) -> BlockOut<'a> {
        BlockOut {
            block: Vec::with_capacity(BLOCK_SIZE),
            block_size: BLOCK_SIZE,
            seq: 0,
            index: 0,
            layer_size: 0,
            total: 0,
            sha: Some(Sha256::new()),
            tx,
            tokens: None,
            inflate: ObjectInflate::default(),
            ctl,
        }
    }

    #[test]
    fn file_that_changed_size_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"0123456789").unwrap();
        let ctl = Control::default();
        let (tx, _rx) = sync_channel(16);
        let mut out = block_out(&ctl, tx);
        for sparse in [false, true] {
            for claimed in [20u64, 5] {
                let mut f = File::open(&p).unwrap();
                let e = out
                    .copy_file(&mut f, claimed, sparse, &p)
                    .unwrap_err()
                    .to_string();
                assert_eq!(
                    e,
                    format!("cannot read {}: file changed size while being read", p.display())
                );
            }
            let mut f = File::open(&p).unwrap();
            out.copy_file(&mut f, 10, sparse, &p).unwrap();
        }
    }

    #[test]
    fn sparse_copy_is_dense_and_identical() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s");
        let mut f = File::create(&p).unwrap();
        f.set_len(9 << 20).unwrap();
        for (off, data) in [
            (0u64, &b"head"[..]),
            (3 << 20, b"middle"),
            ((9 << 20) - 3, b"end"),
        ] {
            f.seek(SeekFrom::Start(off)).unwrap();
            f.write_all(data).unwrap();
        }
        drop(f);
        let expect = std::fs::read(&p).unwrap();
        for sparse in [false, true] {
            let ctl = Control::default();
            let (tx, rx) = sync_channel(64);
            let mut out = block_out(&ctl, tx);
            let mut f = File::open(&p).unwrap();
            out.copy_file(&mut f, expect.len() as u64, sparse, &p).unwrap();
            out.emit(true).unwrap();
            drop(out);
            let got: Vec<u8> = rx.iter().flat_map(|j| j.data).collect();
            assert_eq!(got.len(), expect.len() + tar::padding(expect.len() as u64));
            assert!(got[..expect.len()] == expect[..], "sparse={sparse}");
        }
    }
}
