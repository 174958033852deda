//! Diagnostics end to end over HTTP, on SQLite and PostgreSQL: REQUEST_DIAGNOSTICS delivered at
//! check-in, the bundle uploaded through Fleet Server's upload protocol (chunks checked against
//! their hashes, the transit hash at the end), listed under the agent's uploads, downloaded and
//! deleted.

use crate::support::TestServer;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const CHUNK: usize = 4 * 1024 * 1024;

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

async fn put_chunk(
    srv: &TestServer,
    key: &str,
    upload: &str,
    n: usize,
    data: &[u8],
    sha: &str,
) -> (u16, Value) {
    let res = srv
        .http
        .put(format!("{}/api/fleet/uploads/{upload}/{n}", srv.agent_base))
        .header("authorization", format!("ApiKey {key}"))
        .header("user-agent", crate::support::AGENT_UA)
        .header("x-chunk-sha2", sha)
        .body(data.to_vec())
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

both_backends! {
    async fn diagnostics_upload_list_download_delete(srv: TestServer) {
        let p = srv.create_policy(json!({"name": "p", "namespace": "default"})).await;
        let pid = p["id"].as_str().unwrap().to_string();
        let token = srv.enrollment_token(&pid).await;
        let (id, key) = srv.enroll(&token, "diag").await;
        let (_, other_key) = srv.enroll(&token, "other").await;
        let (status, res) = srv.post(&format!("/api/fleet/agents/{id}/request_diagnostics"), json!({})).await;
        assert_eq!(status, 200, "{res}");
        let action_id = res["actionId"].as_str().unwrap().to_string();
        let (_, res) = srv.agent_call(&format!("/api/fleet/agents/{id}/checkin"), Some(&key), json!({"status": "online", "message": "", "poll_timeout": "1s"})).await;
        assert!(res["actions"].as_array().unwrap().iter().any(|a| a["id"] == json!(action_id) && a["type"] == "REQUEST_DIAGNOSTICS"), "{res}");

        // Nothing uploaded yet.
        let (_, list) = srv.get(&format!("/api/fleet/agents/{id}/uploads")).await;
        assert_eq!(list["items"][0]["status"], "AWAITING_UPLOAD", "{list}");
        assert_eq!(list["items"][0]["actionId"], json!(action_id));
        assert_eq!(list["items"][0]["filePath"], "");

        // A bundle of two chunks: 4 MiB and 1000 bytes.
        let bundle: Vec<u8> = (0..CHUNK + 1000).map(|i| (i * 7 % 251) as u8).collect();
        let name = "elastic-agent-diagnostics-2026-11-26T12-00-00Z-00.zip";
        let begin = json!({"file": {"name": name, "size": bundle.len(), "mime_type": "application/zip", "hash": {"sha256": hex(&Sha256::digest(&bundle))}}, "action_id": action_id, "agent_id": id, "src": "agent"});
        let (status, res) = srv.agent_call("/api/fleet/uploads", Some(&other_key), begin.clone()).await;
        assert_eq!(status, 403, "another agent cannot upload for this one: {res}");
        let mut bad = begin.clone();
        bad["file"]["size"] = json!(200 * 1024 * 1024);
        let (status, res) = srv.agent_call("/api/fleet/uploads", Some(&key), bad).await;
        assert_eq!(status, 400, "{res}");
        let (status, res) = srv.agent_call("/api/fleet/uploads", Some(&key), begin).await;
        assert_eq!(status, 200, "{res}");
        assert_eq!(res["chunk_size"], CHUNK);
        let upload = res["upload_id"].as_str().unwrap().to_string();

        let (first, last) = bundle.split_at(CHUNK);
        let (h0, h1) = (Sha256::digest(first), Sha256::digest(last));
        assert_eq!(put_chunk(&srv, &key, &upload, 1, last, &hex(&h0)).await.0, 400, "a wrong hash is refused");
        assert_eq!(put_chunk(&srv, &key, &upload, 0, last, &hex(&h1)).await.0, 400, "a short middle chunk is refused");
        assert_eq!(put_chunk(&srv, &key, &upload, 2, last, &hex(&h1)).await.0, 400, "past the last chunk");
        let finish = |t: String| json!({"transithash": {"sha256": t}});
        let mut transit = Sha256::new();
        transit.update(h0);
        transit.update(h1);
        let transit = hex(&transit.finalize());
        let (status, _) = srv.agent_call(&format!("/api/fleet/uploads/{upload}"), Some(&key), finish(transit.clone())).await;
        assert_eq!(status, 400, "finishing before every chunk arrived");
        assert_eq!(put_chunk(&srv, &key, &upload, 0, first, &hex(&h0)).await.0, 200);
        assert_eq!(put_chunk(&srv, &key, &upload, 1, last, &hex(&h1)).await.0, 200);
        let (_, list) = srv.get(&format!("/api/fleet/agents/{id}/uploads")).await;
        assert_eq!(list["items"][0]["status"], "IN_PROGRESS", "{list}");
        let (status, _) = srv.agent_call(&format!("/api/fleet/uploads/{upload}"), Some(&key), finish("00".repeat(32))).await;
        assert_eq!(status, 400, "a wrong transit hash");
        let (status, res) = srv.agent_call(&format!("/api/fleet/uploads/{upload}"), Some(&key), finish(transit)).await;
        assert_eq!(status, 200, "{res}");
        assert_eq!(res, json!({"status": "ok"}));
        srv.agent_call(&format!("/api/fleet/agents/{id}/acks"), Some(&key), json!({"events": [{"agent_id": id, "action_id": action_id, "data": {"upload_id": upload}}]})).await;

        let (_, list) = srv.get(&format!("/api/fleet/agents/{id}/uploads")).await;
        let item = &list["items"][0];
        assert_eq!(item["status"], "READY", "{list}");
        assert_eq!(item["id"], json!(upload));
        assert_eq!(item["name"], name);
        let path = item["filePath"].as_str().unwrap().to_string();
        assert_eq!(path, format!("/api/fleet/agents/files/{upload}/{name}"));
        let res = srv.http.get(format!("{}{path}", srv.base)).header("authorization", srv.auth.clone().unwrap()).send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-disposition"], format!("attachment; filename=\"{name}\""));
        assert_eq!(res.bytes().await.unwrap().as_ref(), bundle.as_slice());

        let res = srv.http.delete(format!("{}/api/fleet/agents/files/{upload}", srv.base))
            .header("authorization", srv.auth.clone().unwrap()).header("kbn-xsrf", "x").send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.json::<Value>().await.unwrap(), json!({"id": upload, "deleted": true}));
        let (_, list) = srv.get(&format!("/api/fleet/agents/{id}/uploads")).await;
        assert_eq!(list["items"][0]["status"], "DELETED");
        let (status, _) = srv.get(&path).await;
        assert_eq!(status, 404);

        // A request the agent answers with an error shows as failed.
        let (_, res) = srv.post(&format!("/api/fleet/agents/{id}/request_diagnostics"), json!({})).await;
        let failed = res["actionId"].as_str().unwrap().to_string();
        srv.agent_call(&format!("/api/fleet/agents/{id}/acks"), Some(&key), json!({"events": [{"agent_id": id, "action_id": failed, "error": "disk full"}]})).await;
        let (_, list) = srv.get(&format!("/api/fleet/agents/{id}/uploads")).await;
        let item = list["items"].as_array().unwrap().iter().find(|i| i["actionId"] == json!(failed)).unwrap().clone();
        assert_eq!(item["status"], "FAILED");
        assert_eq!(item["error"], "disk full");
        srv.stop().await;
    }
}
