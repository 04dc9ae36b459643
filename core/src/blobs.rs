//! Attachment bytes, named by their SHA-256: the same file arriving twice is stored
//! once, and a file is complete before any message points at it. On disk they are
//! files under the data directory (written to a temporary name, synced, renamed); in
//! the store (for nodes that share no disk) rows of the `blobs` table.

use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::store::{Store, StoreError, params};

#[derive(Clone)]
pub struct BlobStore {
    place: Place,
}

#[derive(Clone)]
enum Place {
    Disk(PathBuf),
    Store(Store),
}

impl std::fmt::Debug for BlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.place {
            Place::Disk(dir) => write!(f, "BlobStore({})", dir.display()),
            Place::Store(_) => f.write_str("BlobStore(store)"),
        }
    }
}

fn is_digest(sha256: &str) -> bool {
    sha256.len() == 64 && sha256.bytes().all(|b| b.is_ascii_hexdigit())
}

fn not_a_digest() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a SHA-256 digest")
}

fn store_error(e: StoreError) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

impl BlobStore {
    /// Files under `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        BlobStore {
            place: Place::Disk(dir.into()),
        }
    }

    /// Rows in the store's `blobs` table: every node sharing the store sees them.
    pub fn in_store(store: Store) -> Self {
        BlobStore {
            place: Place::Store(store),
        }
    }

    /// Where a file lives under `dir`; `sha256` is a checked digest.
    fn path_of(dir: &Path, sha256: &str) -> PathBuf {
        dir.join(&sha256[..2]).join(sha256)
    }

    /// Stores `bytes`; returns their SHA-256 in lowercase hex.
    pub async fn put(&self, bytes: bytes::Bytes) -> std::io::Result<String> {
        match &self.place {
            Place::Disk(dir) => {
                let dir = dir.clone();
                tokio::task::spawn_blocking(move || put_file(&dir, &bytes))
                    .await
                    .map_err(std::io::Error::other)?
            }
            Place::Store(store) => {
                let sha256 = hex::encode(Sha256::digest(&bytes));
                let key = sha256.clone();
                store
                    .write(move |c| {
                        c.execute(
                            "INSERT INTO blobs (sha256, size, bytes) VALUES ($1, $2, $3)
                             ON CONFLICT (sha256) DO NOTHING",
                            params![&key, bytes.len() as i64, bytes.to_vec()],
                        )
                    })
                    .await
                    .map_err(store_error)?;
                Ok(sha256)
            }
        }
    }

    /// The bytes stored under `sha256`.
    pub async fn get(&self, sha256: &str) -> std::io::Result<bytes::Bytes> {
        if !is_digest(sha256) {
            return Err(not_a_digest());
        }
        match &self.place {
            Place::Disk(dir) => {
                let path = Self::path_of(dir, sha256);
                tokio::fs::read(path).await.map(bytes::Bytes::from)
            }
            Place::Store(store) => {
                let key = sha256.to_owned();
                let row = store
                    .read(move |c| {
                        c.query_one("SELECT bytes FROM blobs WHERE sha256 = $1", params![&key])
                    })
                    .await
                    .map_err(store_error)?
                    .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound))?;
                row.bytes(0).map(bytes::Bytes::from).map_err(store_error)
            }
        }
    }

    /// Deletes the file stored under `sha256`; one already gone is no error.
    pub async fn delete(&self, sha256: &str) -> std::io::Result<()> {
        if !is_digest(sha256) {
            return Err(not_a_digest());
        }
        match &self.place {
            Place::Disk(dir) => {
                let path = Self::path_of(dir, sha256);
                match tokio::fs::remove_file(path).await {
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                    other => other,
                }
            }
            Place::Store(store) => {
                let key = sha256.to_owned();
                store
                    .write(move |c| c.execute("DELETE FROM blobs WHERE sha256 = $1", params![&key]))
                    .await
                    .map(|_| ())
                    .map_err(store_error)
            }
        }
    }
}

fn put_file(dir: &Path, bytes: &[u8]) -> std::io::Result<String> {
    let sha256 = hex::encode(Sha256::digest(bytes));
    let path = BlobStore::path_of(dir, &sha256);
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

fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = std::fs::File::create(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn stores_once_by_content(blobs: BlobStore) {
        let a = blobs.put("receipt".into()).await.unwrap();
        let b = blobs.put("receipt".into()).await.unwrap();
        assert_eq!(a, b);
        assert_eq!(blobs.get(&a).await.unwrap(), "receipt");
        assert!(blobs.get("../../etc/passwd").await.is_err());
        blobs.delete(&a).await.unwrap();
        let gone = blobs.get(&a).await.unwrap_err();
        assert_eq!(gone.kind(), std::io::ErrorKind::NotFound);
        blobs.delete(&a).await.unwrap();
    }

    #[tokio::test]
    async fn on_disk() {
        let dir = tempfile::tempdir().unwrap();
        stores_once_by_content(BlobStore::new(dir.path())).await;
    }

    #[tokio::test]
    async fn in_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(&dir.path().join("s.db")).await.unwrap();
        stores_once_by_content(BlobStore::in_store(store)).await;
        if std::env::var(crate::store::testing::POSTGRES_URL_VAR).is_ok() {
            let store = crate::store::testing::postgres().await.unwrap();
            stores_once_by_content(BlobStore::in_store(store)).await;
        }
    }
}
