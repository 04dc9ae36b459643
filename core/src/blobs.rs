//! Attachment bytes, stored as files named by their SHA-256 under the data
//! directory: the same file arriving twice is stored once, and a file is complete
//! before any message points at it (written to a temporary name, synced, renamed).

use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

#[derive(Debug, Clone)]
pub struct BlobStore {
    dir: PathBuf,
}

impl BlobStore {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        BlobStore { dir: dir.into() }
    }

    fn path_of(&self, sha256: &str) -> Option<PathBuf> {
        let valid = sha256.len() == 64 && sha256.bytes().all(|b| b.is_ascii_hexdigit());
        valid.then(|| self.dir.join(&sha256[..2]).join(sha256))
    }

    /// Stores `bytes`; returns their SHA-256 in lowercase hex.
    pub async fn put(&self, bytes: bytes::Bytes) -> std::io::Result<String> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.put_blocking(&bytes))
            .await
            .map_err(std::io::Error::other)?
    }

    fn put_blocking(&self, bytes: &[u8]) -> std::io::Result<String> {
        let sha256 = hex::encode(Sha256::digest(bytes));
        let path = self.path_of(&sha256).expect("a digest is valid hex");
        if path.exists() {
            return Ok(sha256);
        }
        let dir = path.parent().expect("blob paths have a parent");
        std::fs::create_dir_all(dir)?;
        let temp = dir.join(format!(".{sha256}.{}.tmp", std::process::id()));
        write_synced(&temp, bytes)?;
        std::fs::rename(&temp, &path)?;
        Ok(sha256)
    }

    /// The bytes stored under `sha256`.
    pub async fn get(&self, sha256: &str) -> std::io::Result<bytes::Bytes> {
        let path = self.path_of(sha256).ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a SHA-256 digest")
        })?;
        tokio::fs::read(path).await.map(bytes::Bytes::from)
    }
}

impl BlobStore {
    /// Deletes the file stored under `sha256`; one already gone is no error.
    pub async fn delete(&self, sha256: &str) -> std::io::Result<()> {
        let path = self.path_of(sha256).ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a SHA-256 digest")
        })?;
        match tokio::fs::remove_file(path).await {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = std::fs::File::create(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stores_once_by_content() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = BlobStore::new(dir.path());
        let a = blobs.put("receipt".into()).await.unwrap();
        let b = blobs.put("receipt".into()).await.unwrap();
        assert_eq!(a, b);
        assert_eq!(blobs.get(&a).await.unwrap(), "receipt");
        assert!(blobs.get("../../etc/passwd").await.is_err());
    }
}
