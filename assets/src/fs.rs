//! The filesystem store: each object is the file `root/key`.
//!
//! Used for local development and single-node deployments, where the HTTP layer can serve files
//! straight from [`FsStore::root`]. Writes are atomic (see [`crate::atomic_file`]); content types
//! are derived from the file extension when reading, so no metadata is stored beside the files.
//!
//! Unlike S3, a directory cannot also be an object: with `a/b` stored, putting `a` fails.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use bytes::Bytes;
use futures::{Stream, StreamExt as _};
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};

use crate::atomic_file::AtomicFile;
use crate::key::{validate_key, validate_prefix, TEMP_FILE_PREFIX};
use crate::{ByteRange, Object, ObjectMeta, StoreError};

/// Read buffer for streaming files in and out.
const IO_BUFFER: usize = 256 * 1024;

#[derive(Debug, Clone)]
pub struct FsStore {
    root: Arc<Path>,
}

impl FsStore {
    /// Opens a store rooted at `root`, creating the directory if needed.
    pub fn new(root: PathBuf) -> anyhow::Result<FsStore> {
        std::fs::create_dir_all(&root)
            .with_context(|| format!("creating store root {}", root.display()))?;
        let root = root
            .canonicalize()
            .with_context(|| format!("resolving store root {}", root.display()))?;
        Ok(FsStore { root: root.into() })
    }

    /// The directory holding the objects; `root().join(key)` is the object's file.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path_of(&self, key: &str) -> Result<PathBuf, StoreError> {
        validate_key(key)?;
        Ok(self.root.join(key))
    }

    pub async fn put_file(
        &self,
        key: &str,
        path: &Path,
        _content_type: &str,
    ) -> Result<u64, StoreError> {
        let dest = self.path_of(key)?;
        let source = tokio::fs::File::open(path)
            .await
            .with_context(|| format!("opening {} to store as {key}", path.display()))?;
        let mut source = tokio::io::BufReader::with_capacity(IO_BUFFER, source);
        let mut file = AtomicFile::create(&dest).await.map_err(write_error(key))?;
        let copied = tokio::io::copy_buf(&mut source, file.file_mut())
            .await
            .with_context(|| format!("copying {} to {key}", path.display()))?;
        file.commit().await.map_err(write_error(key))?;
        Ok(copied)
    }

    pub async fn put_bytes(
        &self,
        key: &str,
        bytes: Bytes,
        _content_type: &str,
    ) -> Result<(), StoreError> {
        let dest = self.path_of(key)?;
        let mut file = AtomicFile::create(&dest).await.map_err(write_error(key))?;
        file.write_all(&bytes).await.map_err(write_error(key))?;
        file.commit().await.map_err(write_error(key))
    }

    pub async fn put_stream<S>(
        &self,
        key: &str,
        mut stream: S,
        _content_type: &str,
    ) -> Result<u64, StoreError>
    where
        S: Stream<Item = std::io::Result<Bytes>> + Send + Unpin,
    {
        let dest = self.path_of(key)?;
        let mut file = AtomicFile::create(&dest).await.map_err(write_error(key))?;
        let mut written = 0;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.with_context(|| format!("reading the stream to store as {key}"))?;
            file.write_all(&chunk).await.map_err(write_error(key))?;
            written += chunk.len() as u64;
        }
        file.commit().await.map_err(write_error(key))?;
        Ok(written)
    }

    /// Appends `piece` to the staging file `staging` after cutting it back to `stored` bytes
    /// (dropping whatever an unrecorded earlier append left), and makes it durable.
    pub(crate) async fn append_file(
        &self,
        staging: &str,
        stored: u64,
        piece: &Path,
    ) -> Result<(), StoreError> {
        let path = self.path_of(staging)?;
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(write_error(staging))?;
        }
        let mut file = tokio::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .await
            .map_err(write_error(staging))?;
        let present = file.metadata().await.map_err(write_error(staging))?.len();
        let created = present == 0;
        if present < stored {
            // Bytes recorded as stored are missing: never pad them with zeros.
            return Err(anyhow::anyhow!(
                "{staging} holds {present} bytes but {stored} were recorded as stored"
            )
            .into());
        }
        file.set_len(stored).await.map_err(write_error(staging))?;
        file.seek(std::io::SeekFrom::Start(stored))
            .await
            .map_err(write_error(staging))?;
        let source = tokio::fs::File::open(piece)
            .await
            .with_context(|| format!("opening {}", piece.display()))?;
        let mut source = tokio::io::BufReader::with_capacity(IO_BUFFER, source);
        tokio::io::copy_buf(&mut source, &mut file)
            .await
            .map_err(write_error(staging))?;
        file.sync_all().await.map_err(write_error(staging))?;
        if created {
            if let Some(dir) = path.parent() {
                sync_dir(dir).await.map_err(write_error(staging))?;
            }
        }
        Ok(())
    }

    /// Moves the staging file, cut to `stored` bytes, to `target`. Finding it already moved is
    /// success (a retry after a crash).
    pub(crate) async fn complete_staged(
        &self,
        target: &str,
        staging: &str,
        stored: u64,
    ) -> Result<(), StoreError> {
        let (from, to) = (self.path_of(staging)?, self.path_of(target)?);
        match tokio::fs::OpenOptions::new().write(true).open(&from).await {
            Ok(file) => {
                file.set_len(stored).await.map_err(write_error(staging))?;
                file.sync_all().await.map_err(write_error(staging))?;
            }
            Err(err) if is_missing(&err) => {
                let done = tokio::fs::metadata(&to).await.map(|m| m.len()).ok();
                return match done {
                    Some(len) if len == stored => Ok(()),
                    _ => Err(StoreError::NotFound(staging.to_owned())),
                };
            }
            Err(err) => return Err(write_error(staging)(err)),
        }
        if let Some(dir) = to.parent() {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(write_error(target))?;
        }
        tokio::fs::rename(&from, &to)
            .await
            .map_err(write_error(target))?;
        if let Some(dir) = to.parent() {
            sync_dir(dir).await.map_err(write_error(target))?;
        }
        prune_empty_parents(&self.root, &from);
        Ok(())
    }

    pub async fn get_to_file(&self, key: &str, path: &Path) -> Result<u64, StoreError> {
        let source = self.path_of(key)?;
        let source = open_object(&source, key).await?;
        let mut source = tokio::io::BufReader::with_capacity(IO_BUFFER, source);
        let mut file = AtomicFile::create(path)
            .await
            .with_context(|| format!("creating {}", path.display()))?;
        let copied = tokio::io::copy_buf(&mut source, file.file_mut())
            .await
            .with_context(|| format!("copying {key} to {}", path.display()))?;
        file.commit()
            .await
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(copied)
    }

    pub async fn get_bytes(&self, key: &str) -> Result<Bytes, StoreError> {
        let path = self.path_of(key)?;
        let mut file = open_object(&path, key).await?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .await
            .map_err(|err| StoreError::io(err, key, format!("reading {key}")))?;
        Ok(bytes.into())
    }

    pub async fn get(&self, key: &str, range: Option<ByteRange>) -> Result<Object, StoreError> {
        let path = self.path_of(key)?;
        let mut file = open_object(&path, key).await?;
        // The size of the file we opened: a concurrent put renames a new file into place but
        // this handle keeps reading the old one, so body and sizes stay consistent.
        let total = file
            .metadata()
            .await
            .map_err(|err| StoreError::io(err, key, format!("reading metadata of {key}")))?
            .len();
        let (first, len, range) = match range {
            None => (0, total, None),
            Some(range) => {
                let (first, last) = range.resolve(total)?;
                (first, last - first + 1, Some((first, last)))
            }
        };
        file.seek(std::io::SeekFrom::Start(first))
            .await
            .map_err(|err| StoreError::io(err, key, format!("seeking in {key}")))?;
        let body = tokio_util::io::ReaderStream::with_capacity(file.take(len), IO_BUFFER);
        Ok(Object {
            body: body.boxed(),
            len,
            total,
            range,
            content_type: Some(content_type_for(key).to_owned()),
        })
    }

    pub async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StoreError> {
        let path = self.path_of(key)?;
        match tokio::fs::metadata(&path).await {
            Ok(meta) if meta.is_file() => Ok(Some(ObjectMeta {
                size: meta.len(),
                content_type: Some(content_type_for(key).to_owned()),
            })),
            Ok(_) => Ok(None),
            Err(err) if is_missing(&err) => Ok(None),
            Err(err) => Err(anyhow::Error::new(err)
                .context(format!("reading metadata of {key}"))
                .into()),
        }
    }

    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        validate_key(key)?;
        self.delete_keys(vec![key.to_owned()]).await?;
        Ok(())
    }

    /// Deletes every object whose key starts with `prefix`; the empty prefix is refused.
    pub async fn delete_prefix(&self, prefix: &str) -> Result<u64, StoreError> {
        if prefix.is_empty() {
            return Err(StoreError::InvalidKey(prefix.to_owned()));
        }
        let keys = self.list(prefix).await?;
        self.delete_keys(keys).await
    }

    /// Removes the files of validated `keys` and the directories they leave empty, on a blocking
    /// thread; returns how many files there were.
    async fn delete_keys(&self, keys: Vec<String>) -> Result<u64, StoreError> {
        let root = self.root.clone();
        let deleted = tokio::task::spawn_blocking(move || {
            let mut deleted = 0;
            for key in &keys {
                let path = root.join(key);
                match std::fs::remove_file(&path) {
                    Ok(()) => {
                        deleted += 1;
                        prune_empty_parents(&root, &path);
                    }
                    // As on S3, deleting what is not an object succeeds.
                    Err(err)
                        if is_missing(&err) || err.kind() == std::io::ErrorKind::IsADirectory => {}
                    Err(err) => {
                        return Err(anyhow::Error::new(err).context(format!("deleting {key}")))
                    }
                }
            }
            Ok(deleted)
        })
        .await
        .context("deleting task")??;
        Ok(deleted)
    }

    /// Keys starting with `prefix` (a plain string prefix, as on S3), sorted.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        validate_prefix(prefix)?;
        let root = self.root.clone();
        let prefix = prefix.to_owned();
        let keys = tokio::task::spawn_blocking(move || list_blocking(&root, &prefix))
            .await
            .context("listing task")??;
        Ok(keys)
    }
}

/// Walks only the directory named by the prefix up to its last `/`: listing one video's files
/// must not read the whole store.
fn list_blocking(root: &Path, prefix: &str) -> Result<Vec<String>, StoreError> {
    let start = match prefix.rfind('/') {
        Some(last_slash) => &prefix[..last_slash + 1],
        None => "",
    };
    let mut keys = Vec::new();
    let mut pending = vec![start.to_owned()];
    while let Some(dir_key) = pending.pop() {
        let entries = match std::fs::read_dir(root.join(&dir_key)) {
            Ok(entries) => entries,
            Err(err) if is_missing(&err) => continue,
            Err(err) => {
                return Err(anyhow::Error::new(err)
                    .context(format!("listing {dir_key:?}"))
                    .into())
            }
        };
        for entry in entries {
            let entry = entry.with_context(|| format!("listing {dir_key:?}"))?;
            let Ok(name) = entry.file_name().into_string() else {
                continue; // not a name we could have written: keys are UTF-8
            };
            if name.starts_with(TEMP_FILE_PREFIX) {
                continue;
            }
            let key = format!("{dir_key}{name}");
            let file_type = entry
                .file_type()
                .with_context(|| format!("inspecting {key}"))?;
            if file_type.is_dir() {
                let dir = format!("{key}/");
                // Descend only where keys matching the prefix can be.
                if dir.starts_with(prefix) || prefix.starts_with(&dir) {
                    pending.push(dir);
                }
            } else if file_type.is_file() && key.starts_with(prefix) {
                keys.push(key);
            }
        }
    }
    keys.sort_unstable();
    Ok(keys)
}

/// Removes the now-empty directories between a deleted file and the root.
fn prune_empty_parents(root: &Path, deleted: &Path) {
    for dir in deleted.ancestors().skip(1) {
        // `remove_dir` refuses non-empty directories, which is where pruning stops.
        if dir == root || !dir.starts_with(root) || std::fs::remove_dir(dir).is_err() {
            break;
        }
    }
}

async fn open_object(path: &Path, key: &str) -> Result<tokio::fs::File, StoreError> {
    let file = tokio::fs::File::open(path).await.map_err(|err| {
        if is_missing(&err) {
            StoreError::NotFound(key.to_owned())
        } else {
            StoreError::io(err, key, format!("opening {key}"))
        }
    })?;
    // A directory opens fine on Unix, but is no object.
    let is_file = file
        .metadata()
        .await
        .map_err(|err| StoreError::io(err, key, format!("reading metadata of {key}")))?
        .is_file();
    if is_file {
        Ok(file)
    } else {
        Err(StoreError::NotFound(key.to_owned()))
    }
}

/// A missing file, or a key one of whose "directories" is a file.
async fn sync_dir(dir: &Path) -> std::io::Result<()> {
    tokio::fs::File::open(dir).await?.sync_all().await
}

fn is_missing(err: &std::io::Error) -> bool {
    matches!(
        err.kind(),
        std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
    )
}

fn write_error(key: &str) -> impl Fn(std::io::Error) -> StoreError + '_ {
    move |err| StoreError::Other(anyhow::Error::new(err).context(format!("writing {key}")))
}

/// The `Content-Type` to serve an object with, from its extension.
pub fn content_type_for(key: &str) -> &'static str {
    let name = key.rsplit('/').next().unwrap_or(key);
    let extension = name.rsplit_once('.').map_or("", |(_, ext)| ext);
    match extension.to_ascii_lowercase().as_str() {
        "m3u8" => "application/vnd.apple.mpegurl",
        "ts" => "video/mp2t",
        "mp4" => "video/mp4",
        "m4s" => "video/iso.segment",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "png" => "image/png",
        "vtt" => "text/vtt",
        "json" => "application/json",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_follow_the_extension() {
        assert_eq!(
            content_type_for("videos/v/hls/720p.m3u8"),
            "application/vnd.apple.mpegurl"
        );
        assert_eq!(content_type_for("videos/v/poster.JPG"), "image/jpeg");
        assert_eq!(
            content_type_for("originals/vid_1"),
            "application/octet-stream"
        );
        assert_eq!(content_type_for("a.b/c"), "application/octet-stream");
    }
}
