//! Writing a file so that readers see either the old content or the complete new one.
//!
//! The data goes to a temporary file in the destination's directory (same filesystem, so the
//! final `rename(2)` is atomic), which is fsynced before the rename; the directory is fsynced
//! after it so the rename itself survives a crash. If the writer is dropped before `commit` —
//! an error, or a cancelled request — the temporary file is removed.

use std::path::{Path, PathBuf};

use tokio::io::AsyncWriteExt;

use crate::key::TEMP_FILE_PREFIX;

pub(crate) struct AtomicFile {
    file: tokio::fs::File,
    temp: TempPath,
    dest: PathBuf,
}

impl AtomicFile {
    /// Creates the temporary file next to `dest`, creating missing parent directories.
    pub(crate) async fn create(dest: &Path) -> std::io::Result<AtomicFile> {
        let dir = dest
            .parent()
            .filter(|dir| !dir.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let temp = TempPath {
            path: dir.join(format!("{TEMP_FILE_PREFIX}{}", uuid::Uuid::new_v4())),
            renamed: false,
        };
        // A concurrent delete may prune the directory between these two steps; try again then.
        let mut attempts = 0;
        let file = loop {
            tokio::fs::create_dir_all(dir).await?;
            match tokio::fs::File::create_new(&temp.path).await {
                Err(err) if err.kind() == std::io::ErrorKind::NotFound && attempts < 3 => {
                    attempts += 1;
                }
                result => break result?,
            }
        };
        Ok(AtomicFile {
            file,
            temp,
            dest: dest.to_owned(),
        })
    }

    pub(crate) fn file_mut(&mut self) -> &mut tokio::fs::File {
        &mut self.file
    }

    pub(crate) async fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.file.write_all(bytes).await
    }

    /// Makes the content durable and moves it into place, replacing any existing file.
    pub(crate) async fn commit(mut self) -> std::io::Result<()> {
        self.file.flush().await?;
        self.file.sync_all().await?;
        drop(self.file);
        tokio::fs::rename(&self.temp.path, &self.dest).await?;
        self.temp.renamed = true;
        if let Some(dir) = self.dest.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            tokio::fs::File::open(dir).await?.sync_all().await?;
        }
        Ok(())
    }
}

/// Removes the temporary file when the write is abandoned.
struct TempPath {
    path: PathBuf,
    renamed: bool,
}

impl Drop for TempPath {
    fn drop(&mut self) {
        // A single unlink: cheap enough to do synchronously, and it must also happen when the
        // future writing the file is cancelled, where nothing async can run.
        if !self.renamed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}
