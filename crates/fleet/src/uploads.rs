//! Files agents upload — diagnostics bundles answering REQUEST_DIAGNOSTICS — through Fleet
//! Server's upload protocol (begin, 4 MiB chunks each checked against its SHA-256, finish with
//! the transit hash), and what Kibana shows of them: an agent's uploads, the file download and
//! its deletion.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use store::{Filter, Kind, Mode, Scalar};

use crate::agents::protocol::{PResult, ProtocolError};
use crate::error::{FleetError, Result};
use crate::time::now;
use crate::Fleet;

/// Fleet Server's fixed chunk size.
pub const CHUNK_SIZE: u64 = 4 * 1024 * 1024;
/// The largest file an agent may upload (Fleet Server's default limit).
pub const MAX_FILE_SIZE: u64 = 100 * 1024 * 1024;
/// Unfinished uploads expire after this many hours.
const UPLOAD_TTL_HOURS: i64 = 24;

fn bad(message: impl Into<String>) -> ProtocolError {
    ProtocolError::new(400, "BadRequest", message)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn chunk_count(size: u64) -> u64 {
    size.div_ceil(CHUNK_SIZE)
}

/// The file a download or the uploads list names.
pub struct FileDownload {
    pub name: String,
    pub mime_type: String,
    pub chunks: Vec<Vec<u8>>,
}

impl Fleet {
    /// An upload still taking chunks, checked to belong to the calling agent; with its size.
    async fn open_upload(
        &self,
        tx: &mut dyn store::Tx,
        auth: Option<&str>,
        upload_id: &str,
    ) -> PResult<(store::Doc, u64)> {
        let upload = tx
            .get(Kind::FileUpload, upload_id)
            .await?
            .ok_or_else(|| ProtocolError::new(404, "ErrUploadNotFound", "upload not found"))?;
        let agent_id = upload.body["agent_id"].as_str().unwrap_or_default();
        self.authenticate_agent(tx, auth, agent_id).await?;
        let status = upload.body["file"]["Status"].as_str().unwrap_or_default();
        if !matches!(status, "AWAITING_UPLOAD" | "UPLOADING") {
            return Err(bad(format!("upload is {status}, not open for chunks")));
        }
        let started = upload.body["upload_start"].as_i64().unwrap_or(0);
        let age_ms = chrono::Utc::now().timestamp_millis() - started;
        if age_ms > UPLOAD_TTL_HOURS * 3_600_000 {
            return Err(bad("upload has expired"));
        }
        let size = upload.body["file"]["size"].as_u64().unwrap_or(0);
        Ok((upload, size))
    }

    /// `POST /api/fleet/uploads`: `{upload_id, chunk_size}`.
    pub async fn upload_begin(&self, auth: Option<&str>, body: &Value) -> PResult<Value> {
        let text = |k: &str| {
            body.get(k)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        };
        let agent_id = text("agent_id").ok_or_else(|| bad("agent_id is required"))?;
        let action_id = text("action_id").ok_or_else(|| bad("action_id is required"))?;
        let src = text("src").ok_or_else(|| bad("src is required"))?;
        if !matches!(src, "agent" | "endpoint") {
            return Err(bad(format!("src must be agent or endpoint, not {src}")));
        }
        let file = body
            .get("file")
            .filter(|f| f.is_object())
            .ok_or_else(|| bad("file is required"))?;
        let name = file["name"]
            .as_str()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| bad("file.name is required"))?;
        file["mime_type"]
            .as_str()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| bad("file.mime_type is required"))?;
        // The name becomes the last segment of the download path.
        if name.contains(['/', '\\']) || name == "." || name == ".." {
            return Err(bad("file.name must be a plain file name"));
        }
        let size = file["size"]
            .as_u64()
            .filter(|s| *s > 0)
            .ok_or_else(|| bad("file.size must be a positive integer"))?;
        if size > MAX_FILE_SIZE {
            return Err(ProtocolError::new(
                400,
                "ErrFileSizeTooLarge",
                format!("file size {size} exceeds the maximum of {MAX_FILE_SIZE} bytes"),
            ));
        }
        let mut tx = self.store.begin(Mode::Write).await?;
        self.authenticate_agent(tx.as_mut(), auth, agent_id).await?;
        if tx.action_get(action_id).await?.is_none() {
            return Err(bad(format!("unknown action_id {action_id}")));
        }
        let upload_id = uuid::Uuid::new_v4().to_string();
        let at = now();
        let mut meta = file.clone();
        meta["Status"] = json!("AWAITING_UPLOAD");
        meta["ChunkSize"] = json!(CHUNK_SIZE);
        let doc = json!({
            "upload_id": upload_id,
            "action_id": action_id,
            "agent_id": agent_id,
            "src": src,
            "file": meta,
            "upload_start": chrono::Utc::now().timestamp_millis(),
            "@timestamp": at,
        });
        tx.insert(Kind::FileUpload, &upload_id, &doc).await?;
        tx.commit().await?;
        Ok(json!({ "upload_id": upload_id, "chunk_size": CHUNK_SIZE }))
    }

    /// `PUT /api/fleet/uploads/{id}/{chunkNum}`: one chunk, checked against `X-Chunk-SHA2`.
    pub async fn upload_chunk(
        &self,
        auth: Option<&str>,
        upload_id: &str,
        chunk: &str,
        sha2: Option<&str>,
        data: &[u8],
    ) -> PResult<()> {
        let mut tx = self.store.begin(Mode::Write).await?;
        let (upload, size) = self.open_upload(tx.as_mut(), auth, upload_id).await?;
        let count = chunk_count(size);
        let n: u64 = chunk.parse().ok().filter(|n| *n < count).ok_or_else(|| {
            bad(format!(
                "chunk number {chunk} is out of range (0-{})",
                count - 1
            ))
        })?;
        let expected = if n + 1 < count {
            CHUNK_SIZE
        } else {
            size - (count - 1) * CHUNK_SIZE
        };
        if data.len() as u64 != expected {
            return Err(bad(format!(
                "chunk {n} has {} bytes; expected {expected}",
                data.len()
            )));
        }
        let sha2 = sha2.ok_or_else(|| bad("X-Chunk-SHA2 header is required"))?;
        let actual = hex(&Sha256::digest(data));
        if !actual.eq_ignore_ascii_case(sha2) {
            return Err(bad("chunk hash does not match X-Chunk-SHA2"));
        }
        tx.chunk_put(upload_id, n as i64, &actual, data).await?;
        if upload.body["file"]["Status"] == json!("AWAITING_UPLOAD") {
            let mut doc = upload.body.clone();
            doc["file"]["Status"] = json!("UPLOADING");
            tx.update(Kind::FileUpload, upload_id, Some(upload.version), &doc)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// `POST /api/fleet/uploads/{id}`: checks that every chunk arrived and the transit hash (the
    /// SHA-256 of the chunks' hashes, in order), and the file hash when the agent gave one.
    pub async fn upload_finish(
        &self,
        auth: Option<&str>,
        upload_id: &str,
        body: &Value,
    ) -> PResult<Value> {
        let transit = body
            .pointer("/transithash/sha256")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("transithash.sha256 is required"))?;
        let mut tx = self.store.begin(Mode::Write).await?;
        let (upload, size) = self.open_upload(tx.as_mut(), auth, upload_id).await?;
        let chunks = tx.chunk_list(upload_id).await?;
        let complete = chunks.len() as u64 == chunk_count(size)
            && chunks
                .iter()
                .enumerate()
                .all(|(i, (n, _, _))| *n == i as i64)
            && chunks.iter().map(|(_, _, len)| *len as u64).sum::<u64>() == size;
        if !complete {
            return Err(bad(format!(
                "upload is incomplete: {} of {} chunks received",
                chunks.len(),
                chunk_count(size)
            )));
        }
        let mut hasher = Sha256::new();
        for (_, sha2, _) in &chunks {
            let raw: Vec<u8> = (0..sha2.len())
                .step_by(2)
                .filter_map(|i| u8::from_str_radix(&sha2[i..i + 2], 16).ok())
                .collect();
            hasher.update(&raw);
        }
        if !hex(&hasher.finalize()).eq_ignore_ascii_case(transit) {
            return Err(bad("transit hash does not match the uploaded chunks"));
        }
        if let Some(want) = upload
            .body
            .pointer("/file/hash/sha256")
            .and_then(Value::as_str)
        {
            let mut whole = Sha256::new();
            for (n, _, _) in &chunks {
                whole.update(tx.chunk_get(upload_id, *n).await?.unwrap_or_default());
            }
            if !hex(&whole.finalize()).eq_ignore_ascii_case(want) {
                return Err(bad("file hash does not match file.hash.sha256"));
            }
        }
        let mut doc = upload.body.clone();
        doc["file"]["Status"] = json!("READY");
        doc["upload_end"] = json!(chrono::Utc::now().timestamp_millis());
        tx.update(Kind::FileUpload, upload_id, Some(upload.version), &doc)
            .await?;
        tx.commit().await?;
        Ok(json!({ "status": "ok" }))
    }

    /// `GET /agents/{id}/uploads`: the agent's diagnostics requests and their files, newest
    /// first, as Kibana lists them.
    pub async fn agent_uploads(&self, agent_id: &str) -> Result<Value> {
        let mut tx = self.store.begin(Mode::Read).await?;
        // Another space's agent has no uploads here, as an unknown agent has none.
        if !of_agent_in_space(tx.as_mut(), agent_id).await? {
            return Ok(json!({ "items": [] }));
        }
        let actions = tx
            .agent_actions(agent_id, "REQUEST_DIAGNOSTICS", 1000)
            .await?;
        let files = tx
            .find(
                Kind::FileUpload,
                &store::Query {
                    filter: Filter::Eq(store::doc_field("agent_id"), Scalar::Str(agent_id.into())),
                    ..Default::default()
                },
            )
            .await?;
        let at = now();
        let mut items = Vec::with_capacity(actions.len());
        for (action, result) in actions {
            let d = &action.body;
            let created = d["@timestamp"].as_str().unwrap_or_default().to_string();
            // The file the agent sent for this request: the one its ack names, else the newest
            // upload for the action.
            let named = result
                .as_ref()
                .and_then(|r| r.pointer("/data/upload_id"))
                .and_then(Value::as_str);
            let file = files
                .iter()
                .filter(|f| f.body["action_id"] == json!(action.id))
                .filter(|f| named.is_none_or(|n| f.id == n))
                .max_by(|a, b| {
                    a.body["upload_start"]
                        .as_i64()
                        .cmp(&b.body["upload_start"].as_i64())
                });
            let error = result
                .as_ref()
                .and_then(|r| r["error"].as_str())
                .map(String::from);
            let expired = d["expiration"].as_str().is_some_and(|e| e <= at.as_str());
            let (id, name, status, path) = match file {
                Some(f) => {
                    let name = f.body["file"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string();
                    let status = match f.body["file"]["Status"].as_str() {
                        Some("READY") => "READY",
                        Some("DELETED") => "DELETED",
                        _ if error.is_some() => "FAILED",
                        _ if expired => "EXPIRED",
                        _ => "IN_PROGRESS",
                    };
                    let path = format!("/api/fleet/agents/files/{}/{name}", f.id);
                    (f.id.clone(), name, status, path)
                }
                None => {
                    let stamp = chrono::DateTime::parse_from_rfc3339(&created)
                        .map(|t| t.format("%Y-%m-%dT%H-%M-%S").to_string())
                        .unwrap_or_default();
                    let status = if error.is_some() {
                        "FAILED"
                    } else if expired {
                        "EXPIRED"
                    } else {
                        "AWAITING_UPLOAD"
                    };
                    (
                        action.id.clone(),
                        format!("elastic-agent-diagnostics-{stamp}Z-00.zip"),
                        status,
                        String::new(),
                    )
                }
            };
            let mut item = json!({
                "actionId": action.id,
                "id": id,
                "name": name,
                "filePath": path,
                "createTime": created,
                "status": status,
            });
            if let Some(e) = error {
                item["error"] = json!(e);
            }
            items.push(item);
        }
        Ok(json!({ "items": items }))
    }

    /// `GET /agents/files/{fileId}/{fileName}`: an uploaded file's bytes.
    pub async fn agent_file(&self, file_id: &str, file_name: &str) -> Result<FileDownload> {
        let mut tx = self.store.begin(Mode::Read).await?;
        let not_found = || FleetError::NotFound(format!("File not found: {file_id}"));
        let file = tx
            .get(Kind::FileUpload, file_id)
            .await?
            .ok_or_else(not_found)?;
        if !file_in_space(tx.as_mut(), &file).await? {
            return Err(not_found());
        }
        let meta = &file.body["file"];
        if meta["Status"] != json!("READY") || meta["name"].as_str() != Some(file_name) {
            return Err(not_found());
        }
        let mut chunks = Vec::new();
        for (n, _, _) in tx.chunk_list(file_id).await? {
            chunks.push(tx.chunk_get(file_id, n).await?.unwrap_or_default());
        }
        Ok(FileDownload {
            name: file_name.to_string(),
            mime_type: meta["mime_type"]
                .as_str()
                .unwrap_or("application/octet-stream")
                .to_string(),
            chunks,
        })
    }

    /// `DELETE /agents/files/{fileId}`: drops the bytes; the upload shows as DELETED.
    pub async fn delete_agent_file(&self, file_id: &str) -> Result<Value> {
        let not_found = || FleetError::NotFound(format!("File not found: {file_id}"));
        let mut tx = self.store.begin(Mode::Write).await?;
        let file = tx
            .get(Kind::FileUpload, file_id)
            .await?
            .ok_or_else(not_found)?;
        if !file_in_space(tx.as_mut(), &file).await? {
            return Err(not_found());
        }
        tx.chunks_delete(file_id).await?;
        let mut doc = file.body.clone();
        doc["file"]["Status"] = json!("DELETED");
        tx.update(Kind::FileUpload, file_id, Some(file.version), &doc)
            .await?;
        tx.commit().await?;
        Ok(json!({ "id": file_id, "deleted": true }))
    }
}

/// Whether an agent is of the request's space: on one of its agent policies. An agent that no
/// longer exists (its files stay) counts as the default space's.
async fn of_agent_in_space(tx: &mut dyn store::Tx, agent_id: &str) -> Result<bool> {
    Ok(match tx.agent_get(agent_id).await? {
        Some(row) => {
            let hidden = crate::space::hidden_policy_ids(tx).await?;
            crate::space::on_visible_policy(&hidden, &row.doc.body)
        }
        None => crate::space::current() == crate::space::DEFAULT_SPACE,
    })
}

/// Whether an uploaded file is of the request's space: its agent's.
async fn file_in_space(tx: &mut dyn store::Tx, file: &store::Doc) -> Result<bool> {
    let agent_id = file.body["agent_id"].as_str().unwrap_or_default();
    of_agent_in_space(tx, agent_id).await
}
