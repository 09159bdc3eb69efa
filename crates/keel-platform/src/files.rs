//! File storage for generated documents. The default is a local directory; keys are relative
//! paths of safe characters (`invoices/INV-1042.pdf`), never leaving the directory.

use std::path::{Component, Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("invalid file key {0:?}")]
    InvalidKey(String),
    #[error("file storage failed: {0}")]
    Io(#[from] std::io::Error),
}

#[derive(Debug, Clone)]
pub enum FileStore {
    Local(PathBuf),
}

impl FileStore {
    pub fn local(dir: impl Into<PathBuf>) -> Self {
        FileStore::Local(dir.into())
    }

    fn path(&self, key: &str) -> Result<PathBuf, FileError> {
        let FileStore::Local(root) = self;
        let relative = Path::new(key);
        let safe = !key.is_empty()
            && key.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/'))
            && relative.components().all(|c| matches!(c, Component::Normal(_)));
        if !safe {
            return Err(FileError::InvalidKey(key.to_string()));
        }
        Ok(root.join(relative))
    }

    /// Writes the file (atomically: a reader never sees half of it).
    pub async fn put(&self, key: &str, bytes: &[u8]) -> Result<(), FileError> {
        let path = self.path(key)?;
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir).await?;
        }
        let partial = path.with_extension("partial");
        tokio::fs::write(&partial, bytes).await?;
        tokio::fs::rename(&partial, &path).await?;
        Ok(())
    }

    /// Reads a file; `None` when it does not exist.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, FileError> {
        match tokio::fs::read(self.path(key)?).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn keys_cannot_leave_the_directory() {
        let store = super::FileStore::local("/tmp/x");
        assert!(store.path("invoices/INV-1.pdf").is_ok());
        for bad in ["../etc/passwd", "/etc/passwd", "a/../../b", "", "a b"] {
            assert!(store.path(bad).is_err(), "{bad}");
        }
    }
}
