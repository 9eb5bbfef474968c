//! apt-ostree's native core: a filesystem tree to a deterministic, compressed tar layer in one
//! pass. Plain Rust modules; the N-API binding (feature `napi`) is a thin adapter in [`binding`].

pub mod compress;
pub mod export;
pub mod ostree_repo;
pub mod scan;
pub mod sha256;
pub mod tar;
pub mod walk;

#[cfg(feature = "napi")]
mod binding;

/// Inputs for the unit tests.
#[cfg(test)]
mod test_data {
    /// `n` bytes of xorshift noise from `seed` (not 0): incompressible, reproducible.
    pub fn noise(n: usize, seed: u64) -> Vec<u8> {
        let mut x = seed;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }
}

use std::fmt;
use std::path::Path;

/// Errors are one line, naming the path and the OS error where there is one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// The export was asked to stop.
    Cancelled,
    /// A thread of the pipeline went away (its own error is reported instead when there is one).
    Pipeline,
    Msg(String),
}

impl Error {
    pub fn msg(s: String) -> Error {
        Error::Msg(s)
    }

    /// "`what` `path`: `err`", e.g. "cannot read /x/y: Permission denied (os error 13)".
    pub fn io(what: &str, path: &Path, err: &std::io::Error) -> Error {
        Error::Msg(format!("{what} {}: {err}", path.display()))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Cancelled => write!(f, "cancelled"),
            Error::Pipeline => write!(f, "export pipeline stopped unexpectedly"),
            Error::Msg(m) => write!(f, "{m}"),
        }
    }
}

impl std::error::Error for Error {}
