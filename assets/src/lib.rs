//! Object storage for Vitrine: originals, renditions and product images, behind one interface.
//!
//! [`Store`] is what the rest of the workspace holds: a cheap-to-clone handle over either the
//! filesystem ([`FsStore`], for development and single-node deployments) or an S3-compatible
//! bucket ([`S3Store`]). Both behave the same — the contract tests in `tests/store_contract.rs`
//! run against each — so code written against `Store` does not care which one it gets. Where
//! objects go is decided in [`keys`].
//!
//! Keys are `/`-separated relative paths (`videos/vid_…/hls/720p.m3u8`). Empty keys, absolute
//! paths, `.`/`..` components, backslashes and NUL bytes are rejected with
//! [`StoreError::InvalidKey`] by both backends: the filesystem store maps keys to paths under its
//! root and must never be steered outside it.
//!
//! Large objects are streamed, never held in memory whole: uploads from files and streams, and
//! downloads to files, use constant memory on both backends. Only [`Store::get_bytes`] and
//! [`Store::put_bytes`] hold an object in memory, and are meant for small ones (playlists,
//! manifests, thumbnails).
//!
//! **Architecture invariant:** this crate knows nothing of HTTP servers or of the domain: it
//! stores bytes under keys. [`ByteRange`] and [`Object`] carry exactly what a media route needs
//! to answer a `Range` request, but turning them into a response is the HTTP layer's job.

mod atomic_file;
mod error;
mod fs;
mod key;
pub mod keys;
mod range;
mod resumable;
mod s3;

use std::path::Path;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::Stream;

pub use error::StoreError;
pub use fs::{content_type_for, FsStore};
pub use range::ByteRange;
pub use resumable::{Resumable, MIN_PART_SIZE};
pub use s3::{S3Config, S3Store, MULTIPART_THRESHOLD, PART_SIZE, UPLOAD_CONCURRENCY};

/// An object store: the filesystem or an S3 bucket. Cloning is cheap (handles are shared).
#[derive(Debug, Clone)]
pub enum Store {
    Fs(FsStore),
    S3(S3Store),
}

/// Size and type of a stored object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    pub size: u64,
    /// As given when the object was put (S3), or derived from the key's extension (filesystem).
    pub content_type: Option<String>,
}

/// An object, or the requested range of it, being read.
pub struct Object {
    /// The bytes served: the whole object, or the range.
    pub body: BoxStream<'static, std::io::Result<Bytes>>,
    /// Number of bytes in `body`.
    pub len: u64,
    /// Size of the whole object.
    pub total: u64,
    /// The inclusive `(first, last)` offsets served when a range was requested.
    pub range: Option<(u64, u64)>,
    pub content_type: Option<String>,
}

impl std::fmt::Debug for Object {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Object")
            .field("len", &self.len)
            .field("total", &self.total)
            .field("range", &self.range)
            .field("content_type", &self.content_type)
            .finish_non_exhaustive()
    }
}

impl From<FsStore> for Store {
    fn from(store: FsStore) -> Store {
        Store::Fs(store)
    }
}

impl From<S3Store> for Store {
    fn from(store: S3Store) -> Store {
        Store::S3(store)
    }
}

impl Store {
    /// Uploads the file at `path`, returning its size. On S3, files above
    /// [`MULTIPART_THRESHOLD`] go up in [`PART_SIZE`] parts, [`UPLOAD_CONCURRENCY`] at a time.
    pub async fn put_file(
        &self,
        key: &str,
        path: &Path,
        content_type: &str,
    ) -> Result<u64, StoreError> {
        match self {
            Store::Fs(store) => store.put_file(key, path, content_type).await,
            Store::S3(store) => store.put_file(key, path, content_type).await,
        }
    }

    /// Stores a small object held in memory.
    pub async fn put_bytes(
        &self,
        key: &str,
        bytes: Bytes,
        content_type: &str,
    ) -> Result<(), StoreError> {
        match self {
            Store::Fs(store) => store.put_bytes(key, bytes, content_type).await,
            Store::S3(store) => store.put_bytes(key, bytes, content_type).await,
        }
    }

    /// Stores everything `stream` yields, in constant memory, returning the byte count. The
    /// object appears only once the stream has ended without error; a failed or cancelled
    /// upload leaves nothing behind (and any previous object under `key` untouched).
    pub async fn put_stream<S>(
        &self,
        key: &str,
        stream: S,
        content_type: &str,
    ) -> Result<u64, StoreError>
    where
        S: Stream<Item = std::io::Result<Bytes>> + Send + Unpin,
    {
        match self {
            Store::Fs(store) => store.put_stream(key, stream, content_type).await,
            Store::S3(store) => store.put_stream(key, stream, content_type).await,
        }
    }

    /// Downloads the object to `path` (replaced atomically), returning its size.
    pub async fn get_to_file(&self, key: &str, path: &Path) -> Result<u64, StoreError> {
        match self {
            Store::Fs(store) => store.get_to_file(key, path).await,
            Store::S3(store) => store.get_to_file(key, path).await,
        }
    }

    /// Reads a small object into memory.
    pub async fn get_bytes(&self, key: &str) -> Result<Bytes, StoreError> {
        match self {
            Store::Fs(store) => store.get_bytes(key).await,
            Store::S3(store) => store.get_bytes(key).await,
        }
    }

    /// Opens the object, or a range of it, for streaming (e.g. to an HTTP response).
    pub async fn get(&self, key: &str, range: Option<ByteRange>) -> Result<Object, StoreError> {
        match self {
            Store::Fs(store) => store.get(key, range).await,
            Store::S3(store) => store.get(key, range).await,
        }
    }

    /// The object's size and type, or `None` if there is no such object.
    pub async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StoreError> {
        match self {
            Store::Fs(store) => store.head(key).await,
            Store::S3(store) => store.head(key).await,
        }
    }

    /// Deletes the object; deleting a missing object succeeds.
    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        match self {
            Store::Fs(store) => store.delete(key).await,
            Store::S3(store) => store.delete(key).await,
        }
    }

    /// Deletes every object whose key starts with `prefix` (a string prefix, so end it with `/`
    /// to mean a "directory"), returning how many. The empty prefix is refused as
    /// [`StoreError::InvalidKey`] rather than emptying the store.
    pub async fn delete_prefix(&self, prefix: &str) -> Result<u64, StoreError> {
        match self {
            Store::Fs(store) => store.delete_prefix(prefix).await,
            Store::S3(store) => store.delete_prefix(prefix).await,
        }
    }

    /// Every key starting with `prefix`, sorted.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        match self {
            Store::Fs(store) => store.list(prefix).await,
            Store::S3(store) => store.list(prefix).await,
        }
    }

    /// The filesystem store's root directory, from which files can be served directly.
    pub fn local_root(&self) -> Option<&Path> {
        match self {
            Store::Fs(store) => Some(store.root()),
            Store::S3(_) => None,
        }
    }
}
