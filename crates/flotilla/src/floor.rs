//! The benchmark's floor (`flotilla bench-floor`, hidden): a bare axum server that speaks just
//! enough of the agent protocol for the simulator — enroll answers at once, check-ins are parked
//! on one channel until a "policy change" or their poll times out, acks are accepted — with no
//! authentication and no storage; the policy it delivers is whatever the benchmark posted (the
//! same full policy Flotilla delivered). What Flotilla costs above this is Flotilla's.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::sync::watch;

/// The current revision: its number, when it was made, and the policy it delivers.
type Revision = watch::Sender<(i64, String, Arc<Value>)>;

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub async fn run(listen: SocketAddr) -> anyhow::Result<()> {
    let (revision, _) = watch::channel((1, now(), Arc::new(json!({ "id": "floor" }))));
    let state = Arc::new(revision);
    let app = Router::new()
        .route("/api/fleet/agents/enroll", post(enroll))
        .route("/api/fleet/agents/{id}/checkin", post(checkin))
        .route("/api/fleet/agents/{id}/acks", post(acks))
        .route("/floor/policy_change", post(bump))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind(listen).await?;
    eprintln!("listening agents={}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}

async fn enroll() -> Json<Value> {
    let id = uuid::Uuid::new_v4().to_string();
    Json(
        json!({ "action": "created", "item": { "id": id, "active": true, "type": "PERMANENT", "access_api_key": "Zmxvb3I6Zmxvb3I=" } }),
    )
}

fn policy_change(agent: &str, (revision, at, policy): &(i64, String, Arc<Value>)) -> Json<Value> {
    let mut policy = (**policy).clone();
    policy["revision"] = json!(revision);
    Json(
        json!({ "action": "checkin", "ack_token": revision.to_string(), "actions": [{
            "id": format!("policy:floor:{revision}"), "type": "POLICY_CHANGE", "agent_id": agent, "created_at": at,
            "data": { "policy": policy },
        }]}),
    )
}

async fn checkin(
    State(revision): State<Arc<Revision>>,
    Path(agent): Path<String>,
    Json(body): Json<Value>,
) -> Json<Value> {
    let mut rx = revision.subscribe();
    let known = body["policy_revision_idx"].as_i64().unwrap_or(0);
    let current = rx.borrow_and_update().clone();
    if current.0 > known {
        return policy_change(&agent, &current);
    }
    let poll = body["poll_timeout"]
        .as_str()
        .and_then(fleet::agents::protocol::parse_go_duration)
        .unwrap_or(Duration::from_secs(420))
        .saturating_sub(Duration::from_secs(120))
        .max(Duration::from_secs(1));
    tokio::select! {
        Ok(()) = rx.changed() => {
            let current = rx.borrow().clone();
            policy_change(&agent, &current)
        }
        _ = tokio::time::sleep(poll) => Json(json!({ "action": "checkin", "ack_token": known.to_string(), "actions": [] })),
    }
}

async fn acks(Json(body): Json<Value>) -> Json<Value> {
    let n = body["events"].as_array().map_or(0, Vec::len);
    Json(
        json!({ "action": "acks", "errors": false, "items": vec![json!({"status": 200, "message": "OK"}); n] }),
    )
}

/// A new revision; the body, if any, is the policy to deliver from now on.
async fn bump(State(revision): State<Arc<Revision>>, body: axum::body::Bytes) -> Json<Value> {
    let policy = serde_json::from_slice::<Value>(&body).ok();
    revision.send_modify(|(rev, at, p)| {
        *rev += 1;
        *at = now();
        if let Some(policy) = policy {
            *p = Arc::new(policy);
        }
    });
    Json(json!({ "revision": revision.borrow().0 }))
}
