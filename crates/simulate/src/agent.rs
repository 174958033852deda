//! One simulated Elastic Agent: enrolls, long-polls check-in, applies and acknowledges what
//! Fleet sends, and walks an upgrade through the states a real agent reports.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Result};
use bytes::Bytes;
use hyper::Method;
use rand::Rng;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::sync::watch;
use tokio::time::{sleep, sleep_until, Instant};

use crate::conn::Conn;
use crate::stats::InFlight;
use crate::Shared;

/// The states a real agent reports in `upgrade_details` on its way to the new version.
const UPGRADE_STATES: [&str; 6] = [
    "UPG_REQUESTED",
    "UPG_DOWNLOADING",
    "UPG_EXTRACTING",
    "UPG_REPLACING",
    "UPG_RESTARTING",
    "UPG_WATCHING",
];

struct Upgrade {
    action_id: String,
    target: String,
    rollback: bool,
    /// Index into UPGRADE_STATES.
    stage: usize,
    /// When the next state is due (the agent then abandons its poll to report it).
    next_at: Instant,
    /// Set when the rollout scheduled this agent for later (`start_time`).
    scheduled_at: Option<String>,
    fails: bool,
}

pub struct Agent {
    index: usize,
    shared: Arc<Shared>,
    conn: Conn,
    hostname: String,
    version: String,
    id: String,
    auth: String,
    ack_token: Option<String>,
    policy: Option<(String, i64)>,
    log_level: String,
    upgrade: Option<Upgrade>,
    /// What a failed upgrade left in `upgrade_details` (reported until the next upgrade).
    failed_upgrade: Option<Value>,
    rollbacks: Vec<Value>,
    /// Metadata and components are sent on the first check-in and whenever they change.
    metadata_due: bool,
}

fn user_agent(version: &str) -> String {
    format!("elastic agent {version}")
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl Agent {
    pub fn new(index: usize, shared: Arc<Shared>, conn: Conn) -> Agent {
        let hostname = format!(
            "{}-{:06}",
            shared.config.name_prefix,
            shared.config.first_index + index
        );
        let version = shared.config.version.clone();
        Agent {
            index,
            shared,
            conn,
            hostname,
            version,
            id: String::new(),
            auth: String::new(),
            ack_token: None,
            policy: None,
            log_level: "info".into(),
            upgrade: None,
            failed_upgrade: None,
            rollbacks: Vec::new(),
            metadata_due: true,
        }
    }

    fn local_metadata(&self) -> Value {
        json!({
            "elastic": { "agent": {
                "id": self.id,
                "version": self.version,
                "snapshot": false,
                "upgradeable": true,
                "log_level": self.log_level,
                "complete": false,
            }},
            "host": {
                "hostname": self.hostname,
                "name": self.hostname,
                "id": format!("{:032x}", self.shared.config.first_index + self.index),
                "architecture": "x86_64",
                "ip": [format!("10.{}.{}.{}", (self.index >> 16) & 255, (self.index >> 8) & 255, self.index & 255)],
                "mac": [],
            },
            "os": { "family": "debian", "platform": "debian", "name": "Debian GNU/Linux", "version": "12", "kernel": "6.1.0", "full": "Debian GNU/Linux 12" },
        })
    }

    fn components(&self) -> Value {
        let unit = |id: &str, kind: &str| json!({"id": id, "type": kind, "status": "HEALTHY", "message": "Healthy"});
        json!([{
            "id": "system/metrics-default",
            "type": "system/metrics",
            "status": "HEALTHY",
            "message": "Healthy: communicating with pid '42'",
            "units": [unit("system/metrics-default", "output"), unit("system/metrics-default-system/metrics-system", "input")],
        }])
    }

    /// Enrolls (retrying with backoff) and checks in until stopped or unenrolled.
    pub async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let config = &self.shared.config;
        if config.enroll_rate > 0.0 {
            let at = self.shared.started
                + Duration::from_secs_f64(self.index as f64 / config.enroll_rate);
            tokio::select! {
                _ = sleep_until(at) => {}
                _ = stop.changed() => return,
            }
        }
        let mut backoff = Backoff::default();
        loop {
            match self.enroll().await {
                Ok(()) => break,
                Err(e) => {
                    if let Some(t) = e.downcast_ref::<Throttled>() {
                        self.shared.stats.came_back_later(t.0);
                    } else {
                        self.shared.stats.error(format!("enroll: {e:#}"));
                    }
                    tokio::select! {
                        _ = sleep(backoff.next()) => {}
                        _ = stop.changed() => return,
                    }
                }
            }
        }
        self.shared.ids.lock().expect("ids lock")[self.index] = self.id.clone();
        let mut backoff = Backoff::default();
        loop {
            if *stop.borrow() {
                return;
            }
            // Each upgrade state is reported at least once before the next one interrupts.
            let due = self
                .upgrade
                .as_ref()
                .map(|u| u.next_at.max(Instant::now() + Duration::from_millis(100)));
            let body = self.checkin_body();
            let shared = self.shared.clone();
            let answer = {
                let _in_flight = InFlight::new(&shared.stats.connected);
                let path = format!("/api/fleet/agents/{}/checkin", self.id);
                let request = self.post(&path, &body);
                tokio::select! {
                    r = request => Some(r),
                    _ = sleep_until(due.unwrap_or_else(far_future)) => None,
                    _ = stop.changed() => return,
                }
            };
            let Some(answer) = answer else {
                // A new upgrade state: abandon the poll and check in with it, as agents do.
                self.conn.reset();
                self.advance_upgrade().await;
                continue;
            };
            match answer {
                Ok((200, body)) => {
                    backoff = Backoff::default();
                    self.shared.stats.checkins.fetch_add(1, Ordering::Relaxed);
                    self.metadata_due = false;
                    let actions = body["actions"].as_array().cloned().unwrap_or_default();
                    if let Some(t) = body["ack_token"].as_str().filter(|t| !t.is_empty()) {
                        self.ack_token = Some(t.to_string());
                    }
                    if actions.is_empty() {
                        // The poll ran out: come back a little later, spread like real agents.
                        let jitter = self.shared.config.jitter;
                        if !jitter.is_zero() {
                            let d = rand::thread_rng().gen_range(Duration::ZERO..jitter);
                            let _waiting = InFlight::new(&self.shared.stats.between_polls);
                            tokio::select! {
                                _ = sleep(d) => {}
                                _ = stop.changed() => return,
                            }
                        }
                        continue;
                    }
                    if self.handle(actions).await {
                        // Unenrolled: the agent is gone.
                        self.shared.stats.unenrolled.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                }
                Ok((status, body)) => {
                    let reason = body["error"].as_str().unwrap_or_default().to_string();
                    if status == 401 && reason == "ErrAgentInactive" {
                        self.shared.stats.unenrolled.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                    // Told to come back later, the agent is still polling, by the server's wish.
                    let later = matches!(status, 429 | 503);
                    let _waiting = later.then(|| InFlight::new(&self.shared.stats.between_polls));
                    if later {
                        self.shared.stats.came_back_later(status);
                    } else {
                        self.shared
                            .stats
                            .error(format!("checkin: {status} {}", body));
                    }
                    tokio::select! {
                        _ = sleep(backoff.next()) => {}
                        _ = stop.changed() => return,
                    }
                }
                Err(e) => {
                    self.shared.stats.error(format!("checkin: {e:#}"));
                    tokio::select! {
                        _ = sleep(backoff.next()) => {}
                        _ = stop.changed() => return,
                    }
                }
            }
        }
    }

    async fn post(&mut self, path: &str, body: &Value) -> Result<(u16, Value)> {
        let ua = user_agent(&self.version);
        let mut headers = vec![("user-agent", ua.as_str())];
        if !self.auth.is_empty() {
            headers.push(("authorization", self.auth.as_str()));
        }
        let answer = self
            .conn
            .send(
                Method::POST,
                path,
                &headers,
                Bytes::from(serde_json::to_vec(body)?),
            )
            .await?;
        let value = if answer.body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&answer.body)
                .map_err(|e| anyhow!("{path}: bad JSON answer ({e})"))?
        };
        Ok((answer.status, value))
    }

    async fn enroll(&mut self) -> Result<()> {
        let started = std::time::Instant::now();
        self.auth = format!("ApiKey {}", self.shared.config.enrollment_token);
        let body = json!({
            "type": "PERMANENT",
            "metadata": {
                "local": self.local_metadata(),
                "user_provided": {},
                "tags": self.shared.config.tags,
            },
        });
        let res = self.post("/api/fleet/agents/enroll", &body).await;
        self.auth.clear();
        let (status, body) = res?;
        if matches!(status, 429 | 503) {
            return Err(Throttled(status).into());
        }
        if status != 200 {
            return Err(anyhow!("{status} {body}"));
        }
        let id = body["item"]["id"]
            .as_str()
            .ok_or_else(|| anyhow!("no item.id in {body}"))?;
        let key = body["item"]["access_api_key"]
            .as_str()
            .ok_or_else(|| anyhow!("no item.access_api_key"))?;
        self.id = id.to_string();
        self.auth = format!("ApiKey {key}");
        self.shared
            .stats
            .enrolled_in(started.elapsed(), self.shared.started.elapsed());
        Ok(())
    }

    fn upgrade_details(&self) -> Option<Value> {
        let Some(u) = &self.upgrade else {
            return self.failed_upgrade.clone();
        };
        let state = match (&u.scheduled_at, u.stage) {
            (Some(_), 0) => "UPG_SCHEDULED",
            _ => UPGRADE_STATES[u.stage],
        };
        let mut details =
            json!({ "target_version": u.target, "action_id": u.action_id, "state": state });
        match state {
            "UPG_SCHEDULED" => details["metadata"] = json!({ "scheduled_at": u.scheduled_at }),
            "UPG_DOWNLOADING" => {
                details["metadata"] =
                    json!({ "download_percent": 100.0, "download_rate": 52428800.0 })
            }
            _ => {}
        }
        Some(details)
    }

    fn checkin_body(&self) -> Value {
        let poll = self.shared.config.poll_timeout.as_secs();
        let mut body = json!({
            "status": "online",
            "message": "Running",
            "poll_timeout": format!("{poll}s"),
        });
        if let Some(t) = &self.ack_token {
            body["ack_token"] = json!(t);
        }
        if self.metadata_due {
            body["local_metadata"] = self.local_metadata();
            body["components"] = self.components();
        }
        if let Some(d) = self.upgrade_details() {
            body["upgrade_details"] = d;
        }
        if let Some((policy, revision)) = &self.policy {
            body["agent_policy_id"] = json!(policy);
            body["policy_revision_idx"] = json!(revision);
        }
        if !self.rollbacks.is_empty() {
            body["upgrade"] = json!({ "rollbacks": self.rollbacks });
        }
        body
    }

    /// Applies the actions of one check-in answer and acknowledges them in one request.
    /// Returns true when the agent was told to unenroll.
    async fn handle(&mut self, actions: Vec<Value>) -> bool {
        let received = chrono::Utc::now();
        let mut events = Vec::new();
        let mut unenroll = false;
        for action in actions {
            let kind = action["type"].as_str().unwrap_or_default().to_string();
            let id = action["id"].as_str().unwrap_or_default().to_string();
            self.shared.stats.action(&kind);
            if let Some(created) = action["created_at"]
                .as_str()
                .and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok())
            {
                let after = (received - created.with_timezone(&chrono::Utc))
                    .to_std()
                    .unwrap_or_default();
                // The first policy an agent gets is as old as the policy's last change: only
                // later ones measure delivery.
                if kind != "POLICY_CHANGE" || self.policy.is_some() {
                    self.shared.stats.delivered_after(after);
                }
                if kind == "POLICY_CHANGE" {
                    let revision = action["data"]["policy"]["revision"].as_i64().unwrap_or(0);
                    self.shared.stats.policy_received(revision, after);
                }
            }
            let mut error: Option<String> = None;
            let mut extra = json!({});
            match kind.as_str() {
                "POLICY_CHANGE" => {
                    let policy = &action["data"]["policy"];
                    self.policy = Some((
                        policy["id"].as_str().unwrap_or_default().to_string(),
                        policy["revision"].as_i64().unwrap_or(0),
                    ));
                    if let Some(level) = policy
                        .pointer("/agent/logging/level")
                        .and_then(Value::as_str)
                    {
                        self.log_level = level.to_string();
                    }
                    self.shared
                        .stats
                        .policy_changes
                        .fetch_add(1, Ordering::Relaxed);
                }
                "UPGRADE" => {
                    self.start_upgrade(&id, &action);
                    // Acknowledged by the new version once it runs (or with the failure).
                    continue;
                }
                "CANCEL" => {
                    let target = action["data"]["target_id"].as_str().unwrap_or_default();
                    if self.upgrade.as_ref().is_some_and(|u| u.action_id == target) {
                        self.upgrade = None;
                    }
                }
                "SETTINGS" => {
                    if let Some(level) = action["data"]["log_level"].as_str() {
                        self.log_level = level.to_string();
                        self.metadata_due = true;
                    }
                }
                "REQUEST_DIAGNOSTICS" => match self.upload_diagnostics(&id).await {
                    Ok(upload_id) => {
                        self.shared.stats.uploads.fetch_add(1, Ordering::Relaxed);
                        extra = json!({ "data": { "upload_id": upload_id } });
                    }
                    Err(e) => {
                        self.shared
                            .stats
                            .error(format!("diagnostics upload: {e:#}"));
                        error = Some(format!("diagnostics upload failed: {e}"));
                    }
                },
                "UNENROLL" => unenroll = true,
                _ => {}
            }
            let mut event = json!({
                "type": "ACTION_RESULT",
                "subtype": "ACKNOWLEDGED",
                "agent_id": self.id,
                "action_id": id,
                "timestamp": now(),
                "message": format!("Action '{id}' of type '{kind}' acknowledged."),
            });
            if let Some(e) = error {
                event["error"] = json!(e);
            }
            if let Some(obj) = extra.as_object() {
                for (k, v) in obj {
                    event[k] = v.clone();
                }
            }
            events.push(event);
        }
        if !events.is_empty() {
            self.ack(events).await;
        }
        unenroll
    }

    async fn ack(&mut self, events: Vec<Value>) {
        let started = std::time::Instant::now();
        let n = events.len() as u64;
        let body = json!({ "events": events });
        let mut backoff = Backoff::default();
        loop {
            match self
                .post(&format!("/api/fleet/agents/{}/acks", self.id), &body)
                .await
            {
                Ok((200, _)) => {
                    self.shared.stats.acks.fetch_add(n, Ordering::Relaxed);
                    self.shared.stats.acked_in(started.elapsed());
                }
                Ok((status @ (429 | 503), _)) => {
                    // The server sheds load: the agent keeps the acks and sends them again.
                    self.shared.stats.came_back_later(status);
                    let _waiting = InFlight::new(&self.shared.stats.between_polls);
                    sleep(backoff.next()).await;
                    continue;
                }
                Ok((status, body)) => self.shared.stats.error(format!("ack: {status} {body}")),
                Err(e) => self.shared.stats.error(format!("ack: {e:#}")),
            }
            return;
        }
    }

    fn start_upgrade(&mut self, action_id: &str, action: &Value) {
        let data = &action["data"];
        let Some(target) = data["version"].as_str() else {
            self.shared
                .stats
                .error(format!("UPGRADE without data.version: {action}"));
            return;
        };
        let config = &self.shared.config;
        let rollback = data["rollback"] == json!(true);
        // A rollback reuses the files kept on disk: nothing to download, nothing to fail.
        let fails = !rollback
            && config.upgrade_failure_ratio > 0.0
            && rand::thread_rng().gen_bool(config.upgrade_failure_ratio.clamp(0.0, 1.0));
        // A rolling upgrade gives each agent its own start time: wait for it (scheduled).
        let start = action["start_time"]
            .as_str()
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.with_timezone(&chrono::Utc))
            .filter(|t| *t > chrono::Utc::now());
        let next_at = Instant::now()
            + start
                .map(|t| (t - chrono::Utc::now()).to_std().unwrap_or_default())
                .unwrap_or_default()
            + config.upgrade_step;
        self.failed_upgrade = None;
        self.upgrade = Some(Upgrade {
            action_id: action_id.to_string(),
            target: target.to_string(),
            rollback,
            stage: 0,
            next_at,
            scheduled_at: start.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
            fails,
        });
    }

    /// Moves an upgrade to its next state; at the end the new version runs, acknowledges the
    /// action and reports itself (or the failure is reported and acknowledged).
    async fn advance_upgrade(&mut self) {
        let Some(mut u) = self.upgrade.take() else {
            return;
        };
        u.scheduled_at = None;
        u.stage += 1;
        u.next_at = Instant::now() + self.shared.config.upgrade_step;
        let state = UPGRADE_STATES.get(u.stage).copied();
        if u.fails && state == Some("UPG_DOWNLOADING") {
            let message = format!(
                "failed to download artifact for {}: simulated failure",
                u.target
            );
            self.failed_upgrade = Some(json!({
                "target_version": u.target,
                "action_id": u.action_id,
                "state": "UPG_FAILED",
                "metadata": { "failed_state": "UPG_DOWNLOADING", "error_msg": message },
            }));
            self.shared
                .stats
                .upgrades_failed
                .fetch_add(1, Ordering::Relaxed);
            let event = json!({
                "type": "ACTION_RESULT", "subtype": "ACKNOWLEDGED", "agent_id": self.id,
                "action_id": u.action_id, "timestamp": now(), "error": message,
                "message": format!("Action '{}' of type 'UPGRADE' failed.", u.action_id),
            });
            self.ack(vec![event]).await;
            return;
        }
        match state {
            Some("UPG_WATCHING") => {
                // The new version is running: it reports itself and acknowledges the action.
                let from = std::mem::replace(&mut self.version, u.target.clone());
                self.rollbacks = if u.rollback {
                    Vec::new()
                } else {
                    let valid_until = chrono::Utc::now() + chrono::Duration::days(7);
                    vec![
                        json!({ "version": from, "valid_until": valid_until.to_rfc3339_opts(chrono::SecondsFormat::Millis, true) }),
                    ]
                };
                self.metadata_due = true;
                let event = json!({
                    "type": "ACTION_RESULT", "subtype": "ACKNOWLEDGED", "agent_id": self.id,
                    "action_id": u.action_id, "timestamp": now(),
                    "message": format!("Upgrade to {} completed.", u.target),
                });
                self.ack(vec![event]).await;
                self.upgrade = Some(u);
            }
            Some(_) => self.upgrade = Some(u),
            None => {
                // Watching is over: the next check-in carries no details, so Fleet marks the
                // upgrade done.
                self.shared
                    .stats
                    .upgrades_completed
                    .fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Uploads a small diagnostics bundle by Fleet Server's file protocol; returns its id.
    async fn upload_diagnostics(&mut self, action_id: &str) -> Result<String> {
        let size = self.shared.config.diagnostics_size.max(1);
        let bundle: Vec<u8> = (0..size).map(|i| (i * 31 + self.index) as u8).collect();
        let file_hash = format!("{:x}", Sha256::digest(&bundle));
        let begin = json!({
            "file": {
                "name": format!("elastic-agent-diagnostics-{}.zip", chrono::Utc::now().format("%Y-%m-%dT%H-%M-%SZ")),
                "size": size,
                "mime_type": "application/zip",
                "hash": { "sha256": file_hash },
            },
            "action_id": action_id,
            "agent_id": self.id,
            "src": "agent",
        });
        let (status, body) = self.post("/api/fleet/uploads", &begin).await?;
        if status != 200 {
            return Err(anyhow!("begin: {status} {body}"));
        }
        let upload_id = body["upload_id"]
            .as_str()
            .ok_or_else(|| anyhow!("no upload_id"))?
            .to_string();
        let chunk_size = body["chunk_size"]
            .as_u64()
            .unwrap_or(4 * 1024 * 1024)
            .max(1) as usize;
        let mut transit = Sha256::new();
        for (n, chunk) in bundle.chunks(chunk_size).enumerate() {
            let digest = Sha256::digest(chunk);
            transit.update(digest);
            let sha = format!("{digest:x}");
            let ua = user_agent(&self.version);
            let auth = self.auth.clone();
            let answer = self
                .conn
                .send(
                    Method::PUT,
                    &format!("/api/fleet/uploads/{upload_id}/{n}"),
                    &[
                        ("user-agent", &ua),
                        ("authorization", &auth),
                        ("x-chunk-sha2", &sha),
                    ],
                    Bytes::copy_from_slice(chunk),
                )
                .await?;
            if answer.status != 200 {
                return Err(anyhow!(
                    "chunk {n}: {} {}",
                    answer.status,
                    String::from_utf8_lossy(&answer.body)
                ));
            }
        }
        let finish = json!({ "transithash": { "sha256": format!("{:x}", transit.finalize()) } });
        let (status, body) = self
            .post(&format!("/api/fleet/uploads/{upload_id}"), &finish)
            .await?;
        if status != 200 {
            return Err(anyhow!("finish: {status} {body}"));
        }
        Ok(upload_id)
    }
}

/// A 429 or 503 answer: the server asked the agent to come back later.
#[derive(Debug)]
struct Throttled(u16);

impl std::fmt::Display for Throttled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: the server asked to come back later", self.0)
    }
}

impl std::error::Error for Throttled {}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86400 * 365)
}

/// Exponential backoff with jitter, 1 s to 30 s, as agents retry Fleet Server.
struct Backoff(Duration);

impl Default for Backoff {
    fn default() -> Self {
        Backoff(Duration::from_secs(1))
    }
}

impl Backoff {
    fn next(&mut self) -> Duration {
        let d = self.0;
        self.0 = (self.0 * 2).min(Duration::from_secs(30));
        d + rand::thread_rng().gen_range(Duration::ZERO..=d / 2)
    }
}
