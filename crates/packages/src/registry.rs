//! A client of the Elastic Package Registry (EPR) with an on-disk cache: every answer and archive
//! fetched is kept under the cache directory, and when the registry cannot be reached the cached
//! copy is used, so a node that once saw a package keeps working offline.

use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The registry answered 404 (or an equivalent "not found").
    #[error("{0}")]
    NotFound(String),
    /// The registry could not be reached and nothing is cached.
    #[error("{0}")]
    Unavailable(String),
}

#[derive(Debug, Clone)]
pub struct Registry {
    base: String,
    cache: PathBuf,
    client: reqwest::Client,
}

impl Registry {
    pub fn new(base_url: &str, cache_dir: &Path) -> Registry {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(120))
            .user_agent(concat!("flotilla/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        Registry {
            base: base_url.trim_end_matches('/').to_string(),
            cache: cache_dir.to_path_buf(),
            client,
        }
    }

    pub fn url(&self) -> &str {
        &self.base
    }

    /// `GET /search?...`: base entries of the newest (or, with `all=true`, every) version.
    pub async fn search(&self, query: &[(&str, String)]) -> Result<Vec<Value>, RegistryError> {
        let bytes = self.get_cached("/search", query, "json").await?;
        serde_json::from_slice(&bytes)
            .map_err(|e| RegistryError::Unavailable(format!("registry answered bad JSON: {e}")))
    }

    /// `GET /categories?...`.
    pub async fn categories(&self, query: &[(&str, String)]) -> Result<Vec<Value>, RegistryError> {
        let bytes = self.get_cached("/categories", query, "json").await?;
        serde_json::from_slice(&bytes)
            .map_err(|e| RegistryError::Unavailable(format!("registry answered bad JSON: {e}")))
    }

    /// The archive of one package version (`/epr/{name}/{name}-{version}.zip`). Archives never
    /// change once published, so a cached one is used without asking the registry.
    pub async fn archive(&self, name: &str, version: &str) -> Result<Vec<u8>, RegistryError> {
        // Both end up in a file name and a URL: only what the package spec allows.
        if !crate::is_valid_name(name) || !crate::is_valid_version(version) {
            return Err(RegistryError::NotFound(format!(
                "{name:?} {version:?} is not a package name and version"
            )));
        }
        let file = self
            .cache
            .join("archives")
            .join(format!("{name}-{version}.zip"));
        if let Ok(bytes) = tokio::fs::read(&file).await {
            return Ok(bytes);
        }
        let path = format!("/epr/{name}/{name}-{version}.zip");
        let bytes = self.fetch(&path, &[]).await?;
        if bytes.len() > crate::package::MAX_ARCHIVE_BYTES {
            return Err(RegistryError::Unavailable(format!(
                "registry archive {path} is larger than {} bytes",
                crate::package::MAX_ARCHIVE_BYTES
            )));
        }
        write_atomically(&file, &bytes).await;
        Ok(bytes)
    }

    async fn get_cached(
        &self,
        path: &str,
        query: &[(&str, String)],
        ext: &str,
    ) -> Result<Vec<u8>, RegistryError> {
        let mut hasher = Sha256::new();
        hasher.update(path);
        for (k, v) in query {
            hasher.update(format!("&{k}={v}"));
        }
        let key = hasher
            .finalize()
            .iter()
            .take(12)
            .map(|b| format!("{b:02x}"))
            .collect::<String>();
        let file = self.cache.join("answers").join(format!("{key}.{ext}"));
        match self.fetch(path, query).await {
            Ok(bytes) => {
                write_atomically(&file, &bytes).await;
                Ok(bytes)
            }
            Err(RegistryError::Unavailable(why)) => match tokio::fs::read(&file).await {
                Ok(bytes) => {
                    tracing::warn!(registry = %self.base, %why, "registry unreachable; answering from the cache");
                    Ok(bytes)
                }
                Err(_) => Err(RegistryError::Unavailable(why)),
            },
            Err(e) => Err(e),
        }
    }

    async fn fetch(&self, path: &str, query: &[(&str, String)]) -> Result<Vec<u8>, RegistryError> {
        let url = format!("{}{path}", self.base);
        let res = self
            .client
            .get(&url)
            .query(query)
            .send()
            .await
            .map_err(|e| {
                RegistryError::Unavailable(format!(
                    "Error connecting to package registry at {}: {e}",
                    self.base
                ))
            })?;
        let status = res.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            return Err(RegistryError::NotFound(format!(
                "{url} not found in the package registry"
            )));
        }
        if !status.is_success() {
            return Err(RegistryError::Unavailable(format!(
                "package registry answered {status} for {url}"
            )));
        }
        res.bytes().await.map(|b| b.to_vec()).map_err(|e| {
            RegistryError::Unavailable(format!("Error reading from package registry: {e}"))
        })
    }
}

/// Writes through a temporary file and a rename, so a crash never leaves half a cache entry.
async fn write_atomically(file: &Path, bytes: &[u8]) {
    let Some(dir) = file.parent() else { return };
    if tokio::fs::create_dir_all(dir).await.is_err() {
        return;
    }
    let tmp = file.with_extension(format!("tmp{}", std::process::id()));
    if tokio::fs::write(&tmp, bytes).await.is_ok() {
        let _ = tokio::fs::rename(&tmp, file).await;
    }
}
