//! N-API adapters. Only plain data crosses: paths and options in, digests and sizes out. The
//! export runs on libuv's thread pool (AsyncTask); progress is polled from JS through atomics and
//! cancel sets a flag, so no callback ever crosses threads.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use napi::bindgen_prelude::AsyncTask;
use napi::{Env, Task};
use napi_derive::napi;

use crate::compress::Compression;
use crate::export::{self, Control, ExportOptions, LayerTarget};
use crate::ostree_repo::{parse_checksum, CommitSource, TreeRef};
use crate::scan::{self, TreeScan};
use crate::walk::Selection;

#[napi(object)]
pub struct ExportLayerOptions {
    /// Directory whose contents become the layer (the directory itself is not an entry).
    pub root: String,
    /// Blob path to create for one layer of the whole tree (must not exist); the caller renames
    /// it into place. Either this or `layer_outputs`.
    pub output: Option<String>,
    /// "gzip" | "zstd" | "none".
    pub compression: String,
    /// gzip 1-9 (default: 1, with one block in eight at 2), zstd 1-19 or -7..-1 (default 1): defaults
    /// chosen by measurement, see native/README.md.
    pub level: Option<i32>,
    /// zstd only: "many" (default; independent frames compressed in parallel, each with 4-32 MiB
    /// of tar) or "one" (one frame per layer, for readers that stop at the first frame; slower).
    pub zstd_frames: Option<String>,
    /// Compression threads (default: available parallelism).
    pub threads: Option<u32>,
    /// Clamp every mtime greater than this (seconds since the epoch).
    pub source_date_epoch: Option<i64>,
    /// Write the tree's usr/etc as etc (for OSTree commits).
    pub usr_etc_as_etc: Option<bool>,
    /// A tree split by package: per package layer, the dpkg `.list` contents of its packages
    /// (absolute paths, one a line); a path belongs to the first layer listing it.
    pub layer_lists: Option<Vec<String>>,
    /// With `layer_lists`: the blob path of each of its layers, then of the last layer
    /// (everything no list holds); all are written in one pass.
    pub layer_outputs: Option<Vec<String>>,
    /// Top-level links the lists' paths go through, "name=target" (merged /usr: "lib=usr/lib").
    pub list_links: Option<Vec<String>>,
    /// Paths to leave out should they lie inside the tree, a directory with all below it (the
    /// image being written, an output about to be replaced). The output blob always is.
    pub skip_paths: Option<Vec<String>>,
    /// Export a commit of the repository `root` (bare, bare-user or archive) instead of a
    /// directory: its root directory's dirtree and dirmeta checksums (hex).
    pub commit_dirtree: Option<String>,
    pub commit_dirmeta: Option<String>,
}

#[napi(object)]
pub struct ExportLayerResult {
    /// "sha256:<hex>" of the blob as written.
    pub digest: String,
    /// "sha256:<hex>" of the uncompressed tar.
    pub diff_id: String,
    pub size: i64,
    pub uncompressed_size: i64,
    pub entries: i64,
    pub warnings: Vec<String>,
}

/// Counted over all layers.
#[napi(object)]
pub struct ExportProgress {
    /// Uncompressed tar bytes produced so far.
    pub bytes_read: i64,
    /// Blob bytes written so far.
    pub bytes_written: i64,
    pub entries: i64,
    /// The layer being read (0-based).
    pub layer: i64,
}

#[napi(object)]
pub struct FileDigest {
    pub digest: String,
    pub size: i64,
}

/// Takes the options by value: the layer lists (a whole tree's worth of paths) are dropped as
/// soon as the selection is built.
fn to_options(mut o: ExportLayerOptions) -> napi::Result<ExportOptions> {
    let compression = Compression::parse(&o.compression, o.level)
        .and_then(|c| match o.zstd_frames.as_deref() {
            None => Ok(c),
            Some(frames) => c.with_zstd_frames(frames),
        })
        .map_err(napi::Error::from_reason)?;
    let threads = match o.threads {
        None => export::default_threads(),
        Some(0) => return Err(napi::Error::from_reason("threads must be at least 1")),
        Some(n) if n > 256 => {
            return Err(napi::Error::from_reason(format!(
                "threads {n} is out of range (1-256)"
            )))
        }
        Some(n) => n as usize,
    };
    if o.root.is_empty() {
        return Err(napi::Error::from_reason("root must not be empty"));
    }
    let layers = match (o.output.take(), o.layer_lists.take(), o.layer_outputs.take()) {
        (Some(output), None, None) => vec![LayerTarget::whole(output)],
        (None, Some(lists), Some(outputs)) if outputs.len() == lists.len() + 1 => {
            let links = parse_links(o.list_links.take());
            outputs
                .into_iter()
                .zip(Selection::for_layers(&lists, &links))
                .map(|(output, select)| LayerTarget {
                    output: PathBuf::from(output),
                    select: Some(Arc::new(select)),
                })
                .collect()
        }
        (None, Some(lists), Some(outputs)) => {
            return Err(napi::Error::from_reason(format!(
                "{} layer lists need {} layer outputs, not {}",
                lists.len(),
                lists.len() + 1,
                outputs.len()
            )))
        }
        (Some(_), _, _) => {
            return Err(napi::Error::from_reason(
                "output is for one layer: a split takes layer outputs",
            ))
        }
        _ => {
            return Err(napi::Error::from_reason(
                "an output, or layer lists and layer outputs, are needed",
            ))
        }
    };
    if layers.iter().any(|l| l.output.as_os_str().is_empty()) {
        return Err(napi::Error::from_reason("output must not be empty"));
    }
    Ok(ExportOptions {
        root: PathBuf::from(&o.root),
        layers,
        compression,
        threads,
        source_date_epoch: o.source_date_epoch,
        usr_etc_as_etc: o.usr_etc_as_etc.unwrap_or(false),
        commit: commit_source(&o.root, o.commit_dirtree.as_deref(), o.commit_dirmeta.as_deref())?,
        skip_paths: to_paths(o.skip_paths.take()),
    })
}

/// The commit to read from a repository in place, when both checksums are given.
fn commit_source(
    repo: &str,
    dirtree: Option<&str>,
    dirmeta: Option<&str>,
) -> napi::Result<Option<Arc<CommitSource>>> {
    let parse = |hex: &str| {
        parse_checksum(hex).ok_or_else(|| napi::Error::from_reason(format!("not a checksum: '{hex}'")))
    };
    match (dirtree, dirmeta) {
        (None, None) => Ok(None),
        (Some(t), Some(m)) => {
            let root = TreeRef {
                contents: parse(t)?,
                meta: parse(m)?,
            };
            let source = CommitSource::open(PathBuf::from(repo), root)
                .map_err(|e| napi::Error::from_reason(e.to_string()))?;
            Ok(Some(Arc::new(source)))
        }
        _ => Err(napi::Error::from_reason("commit dirtree and dirmeta go together")),
    }
}

fn to_paths(paths: Option<Vec<String>>) -> Vec<PathBuf> {
    paths.unwrap_or_default().into_iter().map(PathBuf::from).collect()
}

/// "name=target" pairs as the lists' paths go through them.
fn parse_links(links: Option<Vec<String>>) -> Vec<(Vec<u8>, Vec<u8>)> {
    links
        .unwrap_or_default()
        .into_iter()
        .filter_map(|l| {
            let (name, target) = l.split_once('=')?;
            Some((name.as_bytes().to_vec(), target.as_bytes().to_vec()))
        })
        .collect()
}

/// One export of one layer or of all layers of a split: construct, then `run()`; `progress()`
/// and `cancel()` may be called meanwhile.
#[napi]
pub struct LayerExport {
    options: ExportOptions,
    control: Arc<Control>,
    running: Arc<Running>,
}

/// How many of this export's `run()`s have not finished yet (removing their partial outputs
/// included), for `cancel_and_wait` to wait on.
#[derive(Default)]
struct Running {
    count: Mutex<u32>,
    changed: Condvar,
}

impl Running {
    fn add(&self) {
        *self.count.lock().unwrap_or_else(|e| e.into_inner()) += 1;
    }

    fn done(&self) {
        let mut count = self.count.lock().unwrap_or_else(|e| e.into_inner());
        *count = count.saturating_sub(1);
        self.changed.notify_all();
    }

    /// Waits until no run is left or `timeout` has passed; whether none is left.
    fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut count = self.count.lock().unwrap_or_else(|e| e.into_inner());
        while *count > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            count = match self.changed.wait_timeout(count, left) {
                Ok((c, _)) => c,
                Err(e) => e.into_inner().0,
            };
        }
        true
    }
}

#[napi]
impl LayerExport {
    /// Checks the options (unknown compression, level out of range...) and throws if they are bad.
    #[napi(constructor)]
    pub fn new(options: ExportLayerOptions) -> napi::Result<Self> {
        Ok(LayerExport {
            options: to_options(options)?,
            control: Arc::new(Control::default()),
            running: Arc::new(Running::default()),
        })
    }

    /// Runs the export off the JS thread; resolves with one result per layer. Rejects with a
    /// one-line message naming the path on failure, or with "cancelled" after `cancel()`; no
    /// output is left then.
    #[napi(ts_return_type = "Promise<ExportLayerResult[]>")]
    pub fn run(&self) -> AsyncTask<ExportTask> {
        // Counted from now, not from when the thread pool starts it: a cancel in between still
        // waits for it to start, see the flag and remove what it created.
        self.running.add();
        AsyncTask::new(ExportTask {
            options: self.options.clone(),
            control: self.control.clone(),
            running: Some(RunToken(self.running.clone())),
        })
    }

    /// Snapshot of the progress counters.
    #[napi]
    pub fn progress(&self) -> ExportProgress {
        ExportProgress {
            bytes_read: self.control.bytes_read.load(Ordering::Relaxed) as i64,
            bytes_written: self.control.bytes_written.load(Ordering::Relaxed) as i64,
            entries: self.control.entries.load(Ordering::Relaxed) as i64,
            layer: self.control.layer.load(Ordering::Relaxed) as i64,
        }
    }

    /// Asks the running export to stop; `run()` then rejects with "cancelled" and the partial
    /// outputs are removed.
    #[napi]
    pub fn cancel(&self) {
        self.control.cancel.store(true, Ordering::Relaxed);
    }

    /// `cancel()`, then blocks until the export has stopped and removed its partial outputs, or
    /// `timeout_ms` has passed; whether it has stopped. For a signal handler that removes the
    /// directory the outputs are in and exits: it must not race the export's own removal.
    #[napi]
    pub fn cancel_and_wait(&self, timeout_ms: u32) -> bool {
        self.cancel();
        self.running.wait_idle(Duration::from_millis(timeout_ms.into()))
    }
}

pub struct ExportTask {
    options: ExportOptions,
    control: Arc<Control>,
    /// Dropped when the run ends, or with the task if it never ran (the work was cancelled).
    running: Option<RunToken>,
}

/// One count in `Running`, given back on drop.
struct RunToken(Arc<Running>);

impl Drop for RunToken {
    fn drop(&mut self) {
        self.0.done();
    }
}

impl Task for ExportTask {
    type Output = Vec<export::ExportResult>;
    type JsValue = Vec<ExportLayerResult>;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        // Given back whether export_layers returns or panics.
        let _running = self.running.take();
        export::export_layers(&self.options, &self.control)
            .map_err(|e| napi::Error::from_reason(e.to_string()))
    }

    fn resolve(&mut self, _env: Env, results: Self::Output) -> napi::Result<Self::JsValue> {
        Ok(results
            .into_iter()
            .map(|r| ExportLayerResult {
                digest: r.digest,
                diff_id: r.diff_id,
                size: r.size as i64,
                uncompressed_size: r.uncompressed_size as i64,
                entries: r.entries as i64,
                warnings: r.warnings,
            })
            .collect())
    }
}

pub struct Sha256Task {
    path: PathBuf,
}

impl Task for Sha256Task {
    type Output = (String, u64);
    type JsValue = FileDigest;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        export::sha256_file(&self.path).map_err(|e| napi::Error::from_reason(e.to_string()))
    }

    fn resolve(&mut self, _env: Env, (digest, size): Self::Output) -> napi::Result<Self::JsValue> {
        Ok(FileDigest {
            digest,
            size: size as i64,
        })
    }
}

/// Streaming SHA-256 of a file, off the JS thread: `{ digest: "sha256:<hex>", size }`.
#[napi(ts_return_type = "Promise<FileDigest>")]
pub fn sha256_file(path: String) -> AsyncTask<Sha256Task> {
    AsyncTask::new(Sha256Task {
        path: PathBuf::from(path),
    })
}

#[napi(object)]
pub struct TreeScanOptions {
    pub root: String,
    /// Write the tree's usr/etc as etc (for OSTree commits), as the export will.
    pub usr_etc_as_etc: Option<bool>,
    /// A split's package layers, as for `LayerExport` (omit for one layer).
    pub layer_lists: Option<Vec<String>>,
    pub list_links: Option<Vec<String>>,
    /// As for `LayerExport`.
    pub skip_paths: Option<Vec<String>>,
    pub commit_dirtree: Option<String>,
    pub commit_dirmeta: Option<String>,
}

#[napi(object)]
pub struct TreeScanResult {
    pub entries: i64,
    /// The tar's size as the export will write it, within a few headers per entry.
    pub tar_bytes: i64,
    /// Per package layer: paths (one a line) to append to its list so that every hardlink group
    /// stays in one layer.
    pub hardlink_moves: Vec<String>,
}

pub struct ScanTask {
    options: TreeScanOptions,
}

impl Task for ScanTask {
    type Output = TreeScan;
    type JsValue = TreeScanResult;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        let o = &mut self.options;
        let lists = o.layer_lists.take().unwrap_or_default();
        let links = parse_links(o.list_links.take());
        let skip = to_paths(o.skip_paths.take());
        let commit = commit_source(&o.root, o.commit_dirtree.as_deref(), o.commit_dirmeta.as_deref())?;
        let never = std::sync::atomic::AtomicBool::new(false);
        scan::scan_tree(
            std::path::Path::new(&o.root),
            commit.as_deref(),
            o.usr_etc_as_etc.unwrap_or(false),
            &skip,
            &lists,
            &links,
            &never,
        )
        .map_err(|e| napi::Error::from_reason(e.to_string()))
    }

    fn resolve(&mut self, _env: Env, r: Self::Output) -> napi::Result<Self::JsValue> {
        Ok(TreeScanResult {
            entries: r.entries as i64,
            tar_bytes: r.tar_bytes as i64,
            hardlink_moves: r.hardlink_moves,
        })
    }
}

/// Stats the whole tree (reads no file) before an export: its tar size for progress, and for a
/// split, the paths each package layer must take to keep hardlink groups whole. Not cancellable:
/// it takes a fraction of a second per GB, and an interrupted process simply exits.
#[napi(ts_return_type = "Promise<TreeScanResult>")]
pub fn scan_tree(options: TreeScanOptions) -> AsyncTask<ScanTask> {
    AsyncTask::new(ScanTask { options })
}
