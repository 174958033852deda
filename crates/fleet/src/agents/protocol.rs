//! The agent-facing Fleet Server protocol: enroll, long-poll check-in, acks
//! (`shared/reference/notes/agent-protocol.md`, `fleet-server-openapi.yml`).

use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::{json, Value};
use store::{AgentRow, ApiKey, Kind, Mode, Tx};

use crate::auth::{hash_secret, random_token, Role};
use crate::error::{FleetError, Result};
use crate::time::now;
use crate::Fleet;

/// The Fleet Server version Flotilla speaks for (agents newer than its major.minor are refused).
pub const FLEET_SERVER_VERSION: &str = "9.3.0";
/// Oldest agent accepted, as Fleet Server.
const MIN_AGENT_VERSION: (u64, u64) = (7, 13);

/// Agent protocol errors carry Fleet Server's error names (`InvalidUserAgent`, ...).
#[derive(Debug)]
pub struct ProtocolError {
    pub status: u16,
    pub error: &'static str,
    pub message: String,
}

/// How many agent requests a node works on at once: a limit per kind (Fleet Server's max
/// limits, configured), and on PostgreSQL one budget for all three kinds together, sized by the
/// connection pool they share.
pub struct AgentLimits {
    enroll: tokio::sync::Semaphore,
    checkin: tokio::sync::Semaphore,
    ack: tokio::sync::Semaphore,
    database: Option<tokio::sync::Semaphore>,
}

/// Agent requests admitted per pooled database connection, all kinds together: enough to keep
/// every connection busy while others parse and answer, few enough that the queue for a
/// connection stays far shorter than the pool's deadline even when a saturated database takes
/// seconds per statement (a request that times out there fails with 503; one that waits at the
/// door is told to come back with 429). A budget per kind (three times this) let 12 requests
/// queue per connection, and write storms after a policy change waited out the 30 s deadline.
const PER_CONNECTION: usize = 4;

impl AgentLimits {
    pub(crate) fn new(config: &crate::FleetConfig, connections: Option<usize>) -> Self {
        let database = connections.map(|n| n.max(1) * PER_CONNECTION);
        let limit = |configured: usize| {
            let bound = configured.min(database.unwrap_or(usize::MAX));
            tokio::sync::Semaphore::new(bound.max(1))
        };
        Self {
            enroll: limit(config.enroll_max_in_flight),
            checkin: limit(config.checkin_max_in_flight),
            ack: limit(config.ack_max_in_flight),
            database: database.map(tokio::sync::Semaphore::new),
        }
    }
}

/// How long a request waits for a place before it is told to come back later: long enough to
/// ride out a burst (an agent's backoff after a 429 is 1 s and doubling, far slower than a short
/// queue), well under the database pool's 30 s, after which requests would fail instead.
const ADMIT_WAIT: Duration = Duration::from_secs(5);

/// A place among the requests being worked on; dropped, it frees both permits.
struct Admitted<'a> {
    _kind: tokio::sync::SemaphorePermit<'a>,
    _database: Option<tokio::sync::SemaphorePermit<'a>>,
}

/// A place among the requests being worked on, or Fleet Server's 429 when none frees up soon:
/// the agent backs off and comes back, rather than queueing for the database until it fails.
async fn admit<'a>(
    limits: &'a AgentLimits,
    kind: &'a tokio::sync::Semaphore,
) -> PResult<Admitted<'a>> {
    let places = async {
        let kind = kind.acquire().await.ok()?;
        let database = match &limits.database {
            Some(budget) => Some(budget.acquire().await.ok()?),
            None => None,
        };
        Some(Admitted {
            _kind: kind,
            _database: database,
        })
    };
    match tokio::time::timeout(ADMIT_WAIT, places).await {
        Ok(Some(admitted)) => Ok(admitted),
        _ => Err(ProtocolError::new(
            429,
            "MaxLimit",
            "exceeded the max limit",
        )),
    }
}

impl ProtocolError {
    pub(crate) fn new(status: u16, error: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            error,
            message: message.into(),
        }
    }
}

impl From<FleetError> for ProtocolError {
    fn from(e: FleetError) -> Self {
        match e {
            FleetError::BadRequest(m) => Self::new(400, "BadRequest", m),
            FleetError::Unauthorized(m) => Self::new(401, "Unauthorized", m),
            FleetError::Forbidden(m) => Self::new(403, "Forbidden", m),
            FleetError::NotFound(m) => Self::new(404, "NotFound", m),
            FleetError::Conflict(m) => Self::new(409, "Conflict", m),
            FleetError::Unavailable(m) => Self::new(503, "ServiceUnavailable", m),
            FleetError::TooManyRequests(m) => Self::new(429, "MaxLimit", m),
            FleetError::Internal(m) => {
                tracing::error!(error = %m, "agent protocol internal error");
                Self::new(500, "InternalServerError", "")
            }
        }
    }
}

impl From<store::StoreError> for ProtocolError {
    fn from(e: store::StoreError) -> Self {
        FleetError::from(e).into()
    }
}

pub(crate) type PResult<T> = std::result::Result<T, ProtocolError>;

/// Checks `User-Agent: elastic agent X.Y.Z[-suffix]`; returns the version.
pub fn agent_version(user_agent: Option<&str>) -> PResult<String> {
    agent_version_for(user_agent, FLEET_SERVER_VERSION)
}

/// The same, against a given stack version.
pub fn agent_version_for(user_agent: Option<&str>, stack_version: &str) -> PResult<String> {
    let bad = || ProtocolError::new(400, "InvalidUserAgent", "user agent is not elastic agent");
    let ua = user_agent.ok_or_else(bad)?;
    let prefix = "elastic agent ";
    if ua.len() < prefix.len() || !ua[..prefix.len()].eq_ignore_ascii_case(prefix) {
        return Err(bad());
    }
    let version = ua[prefix.len()..].trim().to_string();
    let core = version.split(['-', '+']).next().unwrap_or_default();
    let parts: Vec<u64> = core
        .split('.')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()
        .ok_or_else(bad)?;
    if parts.len() < 2 {
        return Err(bad());
    }
    let (major, minor) = (parts[0], parts[1]);
    let server: Vec<u64> = stack_version
        .split('.')
        .filter_map(|p| p.parse().ok())
        .collect();
    if (major, minor) < MIN_AGENT_VERSION || (major, minor) > (server[0], server[1]) {
        return Err(ProtocolError::new(
            400,
            "UnsupportedVersion",
            format!(
                "version is not supported: {version} (supported: 7.13 to {}.{}.*)",
                server[0], server[1]
            ),
        ));
    }
    Ok(version)
}

/// Decodes `Authorization: ApiKey base64(id:secret)`.
fn decode_token(header: Option<&str>) -> PResult<(String, String)> {
    let header = header
        .ok_or_else(|| ProtocolError::new(401, "ErrNoAuthHeader", "no authorization header"))?;
    let malformed =
        || ProtocolError::new(400, "ErrMalformedToken", "malformed authorization header");
    let token = header.strip_prefix("ApiKey ").ok_or_else(malformed)?;
    let decoded = String::from_utf8(B64.decode(token.trim()).map_err(|_| malformed())?)
        .map_err(|_| malformed())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(malformed)?;
    Ok((id.to_string(), secret.to_string()))
}

/// Parses a Go duration (`5m`, `30s`, `1h30m`, `500ms`).
pub fn parse_go_duration(s: &str) -> Option<Duration> {
    let mut total = Duration::ZERO;
    let mut rest = s.trim();
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let n: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let (unit, secs) = ["ms", "h", "m", "s"]
            .iter()
            .zip([0.001, 3600.0, 60.0, 1.0])
            .find(|(u, _)| rest.starts_with(**u))?;
        rest = &rest[unit.len()..];
        total += Duration::try_from_secs_f64(n * secs).ok()?;
    }
    Some(total)
}

/// The check-in body, as Fleet Server reads it.
struct Checkin {
    status: String,
    message: String,
    ack_token: Option<String>,
    local_metadata: Option<Value>,
    components: Option<Value>,
    poll_timeout: Option<Duration>,
    upgrade_details: Option<Value>,
    /// `{rollbacks: [{version, valid_until}]}`: what the agent can roll back to.
    upgrade: Option<Value>,
    agent_policy_id: Option<String>,
    policy_revision_idx: Option<i64>,
}

/// How old a stored `last_checkin` may be before a check-in that changes nothing else still
/// writes it. Agents count as offline after 360 s without one (12 missed 30 s heartbeats);
/// refreshing at least every 2 minutes (plus the 30 s batch period) stays well inside that.
pub const CHECKIN_REFRESH: Duration = Duration::from_secs(120);

/// The agent document after a check-in reporting `req`, at `at`.
fn checkin_doc(old: &Value, req: &Checkin, version: &str, at: &str) -> Value {
    let mut doc = old.clone();
    doc["last_checkin"] = json!(at);
    doc["last_checkin_status"] = json!(req.status.to_lowercase());
    doc["last_checkin_message"] = json!(req.message);
    doc["updated_at"] = json!(at);
    doc["agent"]["version"] = json!(version);
    if let Some(m) = &req.local_metadata {
        doc["local_metadata"] = m.clone();
    }
    if let Some(c) = &req.components {
        doc["components"] = c.clone();
    }
    if let Some(u) = &req.upgrade {
        doc["upgrade"] = u.clone();
    }
    match (
        &req.upgrade_details,
        doc.get("upgrade_details")
            .filter(|v| !v.is_null())
            .is_some(),
    ) {
        (Some(details), _) => doc["upgrade_details"] = details.clone(),
        // An agent that was upgrading and no longer reports details has finished.
        (None, true) => {
            doc["upgrade_details"] = Value::Null;
            doc["upgrade_started_at"] = Value::Null;
            doc["upgraded_at"] = json!(at);
        }
        (None, false) => {}
    }
    if let Some(obj) = doc.as_object_mut() {
        // A successful check-in clears an audit unenrollment.
        obj.remove("audit_unenrolled_reason");
        obj.remove("audit_unenrolled_time");
    }
    let policy_id = doc["policy_id"].as_str().unwrap_or_default().to_string();
    if let (Some(p), Some(rev)) = (&req.agent_policy_id, req.policy_revision_idx) {
        doc["agent_policy_id"] = json!(p);
        if *p == policy_id {
            doc["policy_revision_idx"] = json!(rev);
        }
    }
    doc
}

/// How long ago the stored `last_checkin` was (None: never, or unreadable).
fn last_checkin_age(doc: &Value) -> Option<Duration> {
    let at = chrono::DateTime::parse_from_rfc3339(doc["last_checkin"].as_str()?).ok()?;
    (chrono::Utc::now() - at.with_timezone(&chrono::Utc))
        .to_std()
        .ok()
}

/// Whether two agent documents differ only in their check-in and update times.
fn same_but_time(old: &Value, new: &Value) -> bool {
    let (Some(a), Some(b)) = (old.as_object(), new.as_object()) else {
        return false;
    };
    let timeless = |k: &String| k != "last_checkin" && k != "updated_at";
    a.len() == b.len()
        && a.iter()
            .filter(|(k, _)| timeless(k))
            .all(|(k, v)| b.get(k) == Some(v))
}

fn parse_checkin(body: &Value) -> PResult<Checkin> {
    let bad = |m: &str| ProtocolError::new(400, "BadRequest", m);
    let obj = body
        .as_object()
        .ok_or_else(|| bad("request body must be a JSON object"))?;
    let status = obj
        .get("status")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("status is required"))?;
    if !matches!(
        status,
        "online" | "error" | "degraded" | "starting" | "disconnected"
    ) {
        return Err(bad(&format!("invalid status: {status}")));
    }
    let poll_timeout = match obj.get("poll_timeout") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => {
            Some(parse_go_duration(s).ok_or_else(|| bad("poll_timeout is not a duration"))?)
        }
        Some(_) => return Err(bad("poll_timeout is not a duration")),
    };
    let opt_obj = |k: &str| -> PResult<Option<Value>> {
        match obj.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(v @ Value::Object(_)) => Ok(Some(v.clone())),
            Some(_) => Err(bad(&format!("{k} must be an object"))),
        }
    };
    let components = match obj.get("components") {
        None | Some(Value::Null) => None,
        Some(v @ Value::Array(_)) => Some(v.clone()),
        Some(_) => return Err(bad("components must be an array")),
    };
    Ok(Checkin {
        status: status.to_string(),
        message: obj
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        ack_token: obj
            .get("ack_token")
            .and_then(Value::as_str)
            .map(String::from),
        local_metadata: opt_obj("local_metadata")?,
        components,
        poll_timeout,
        upgrade_details: opt_obj("upgrade_details")?,
        upgrade: opt_obj("upgrade")?,
        agent_policy_id: obj
            .get("agent_policy_id")
            .and_then(Value::as_str)
            .map(String::from),
        policy_revision_idx: obj.get("policy_revision_idx").and_then(Value::as_i64),
    })
}

/// A `POLICY_CHANGE` action id: `policy:<policy_id>:<revision>` (a 4th part is accepted).
fn parse_policy_action(id: &str) -> Option<(&str, i64)> {
    let rest = id.strip_prefix("policy:")?;
    let mut parts = rest.split(':');
    let policy = parts.next()?;
    let rev = parts.next()?.parse().ok()?;
    Some((policy, rev))
}

impl Fleet {
    /// The agent that `Authorization` belongs to, which must be `agent_id` and active.
    pub(crate) async fn authenticate_agent(
        &self,
        tx: &mut dyn Tx,
        header: Option<&str>,
        agent_id: &str,
    ) -> PResult<AgentRow> {
        let (key_id, secret) = decode_token(header)?;
        let denied = || ProtocolError::new(401, "ErrAPIKeyNotFound", "ApiKey not found");
        let key = tx.get_api_key(&key_id).await?.ok_or_else(denied)?;
        let ok: bool =
            subtle::ConstantTimeEq::ct_eq(hash_secret(&secret).as_bytes(), key.key_hash.as_bytes())
                .into();
        if !ok || key.invalidated || key.role != Role::Agent.as_str() {
            return Err(ProtocolError::new(
                401,
                "Unauthorized",
                "ApiKey not enabled",
            ));
        }
        let row = tx
            .agent_by_access_key(&key_id)
            .await?
            .ok_or_else(|| ProtocolError::new(404, "AgentNotFound", "agent not found"))?;
        if row.doc.id != agent_id {
            return Err(ProtocolError::new(
                403,
                "ErrAgentIdentity",
                "agent id does not match the ApiKey",
            ));
        }
        if row.doc.body["active"] != json!(true) {
            return Err(ProtocolError::new(
                401,
                "ErrAgentInactive",
                "agent inactive",
            ));
        }
        Ok(row)
    }

    /// `POST /api/fleet/agents/enroll`.
    pub async fn enroll(
        &self,
        auth: Option<&str>,
        user_agent: Option<&str>,
        body: &Value,
    ) -> PResult<Value> {
        let _admitted = admit(&self.agent_limits, &self.agent_limits.enroll).await?;
        let version = agent_version_for(user_agent, &self.config.stack_version)?;
        let bad = |m: &str| ProtocolError::new(400, "BadRequest", m);
        let obj = body
            .as_object()
            .ok_or_else(|| bad("request body must be a JSON object"))?;
        match obj.get("type").and_then(Value::as_str) {
            Some("PERMANENT") => {}
            Some(t) => return Err(bad(&format!("invalid enrollment type: {t}"))),
            None => return Err(bad("type is required")),
        }
        let metadata = obj
            .get("metadata")
            .and_then(Value::as_object)
            .ok_or_else(|| bad("metadata is required"))?;
        let mut local = metadata.get("local").cloned().unwrap_or(json!({}));
        if !local.is_object() {
            return Err(bad("metadata.local must be an object"));
        }
        let mut tags: Vec<Value> = Vec::new();
        for t in metadata
            .get("tags")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if t.is_string() && !tags.contains(t) {
                tags.push(t.clone());
            }
        }
        let token = auth
            .and_then(|h| h.strip_prefix("ApiKey "))
            .ok_or_else(|| ProtocolError::new(401, "ErrNoAuthHeader", "no authorization header"))?;

        let mut tx = self.store.begin(Mode::Write).await?;
        let key = self.authenticate_enrollment(tx.as_mut(), token).await?;
        let policy_id = key.body["policy_id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let replace_token = obj
            .get("replace_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty());
        // An earlier enrollment of the same host that never checked in is replaced.
        if let Some(enrollment_id) = obj
            .get("enrollment_id")
            .and_then(Value::as_str)
            .filter(|e| !e.is_empty())
        {
            let stale = tx
                .agent_find(
                    None,
                    &store::Query {
                        filter: store::Filter::And(vec![
                            store::Filter::Eq(
                                store::doc_field("enrollment_id"),
                                store::Scalar::Str(enrollment_id.into()),
                            ),
                            store::Filter::Not(Box::new(store::Filter::Exists(store::doc_field(
                                "last_checkin",
                            )))),
                        ]),
                        ..Default::default()
                    },
                )
                .await?;
            for row in stale {
                if let Some(k) = row.doc.body["access_api_key_id"].as_str() {
                    tx.invalidate_api_keys(&[k.to_string()]).await?;
                }
                tx.agent_delete(&row.doc.id).await?;
            }
        }
        let mut replacing: Option<AgentRow> = None;
        let agent_id = match obj
            .get("id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        {
            Some(id) => {
                if let Some(existing) = tx.agent_get(id).await? {
                    if existing.doc.body["active"] == json!(true) {
                        // Replacing an active agent needs the token it enrolled with, and the
                        // same policy.
                        let matches =
                            match (existing.doc.body["replace_token"].as_str(), replace_token) {
                                (Some(hash), Some(token)) => {
                                    bool::from(subtle::ConstantTimeEq::ct_eq(
                                        hash_secret(token).as_bytes(),
                                        hash.as_bytes(),
                                    ))
                                }
                                _ => false,
                            };
                        if !matches || existing.doc.body["policy_id"] != json!(policy_id) {
                            return Err(ProtocolError::new(
                                403,
                                "AgentNotReplaceable",
                                "an active agent with this id exists and cannot be replaced",
                            ));
                        }
                        replacing = Some(existing);
                    } else {
                        tx.agent_delete(id).await?;
                    }
                }
                id.to_string()
            }
            None => uuid::Uuid::new_v4().to_string(),
        };
        if local.pointer("/elastic/agent/id").is_some() {
            local["elastic"]["agent"]["id"] = json!(agent_id);
        }
        let key_id = random_token(20);
        let secret = random_token(22);
        let enrolled_at = now();
        tx.insert_api_key(&ApiKey {
            id: key_id.clone(),
            name: format!("agent:{agent_id}"),
            key_hash: hash_secret(&secret),
            role: Role::Agent.as_str().into(),
            owner: format!("agent:{agent_id}"),
            created_at: enrolled_at.clone(),
            expiration: None,
            invalidated: false,
        })
        .await?;
        let user_provided = metadata.get("user_provided").cloned().unwrap_or(json!({}));
        let mut doc = json!({
            "active": true,
            "policy_id": policy_id,
            "type": "PERMANENT",
            "enrolled_at": enrolled_at,
            "updated_at": enrolled_at,
            "local_metadata": local,
            "user_provided_metadata": user_provided,
            "access_api_key_id": key_id,
            "agent": { "id": agent_id, "version": version },
            "tags": tags,
        });
        if let Some(e) = obj.get("enrollment_id").and_then(Value::as_str) {
            doc["enrollment_id"] = json!(e);
        }
        if let Some(t) = replace_token {
            // Kept only as a hash: it is a credential for taking this agent id over.
            doc["replace_token"] = json!(hash_secret(t));
        }
        match replacing {
            Some(old) => {
                if let Some(k) = old.doc.body["access_api_key_id"].as_str() {
                    tx.invalidate_api_keys(&[k.to_string()]).await?;
                }
                // A replaced agent starts over: no acknowledged revision, no unenrollment.
                tx.agent_update(&agent_id, Some(old.doc.version), &doc)
                    .await?;
            }
            None => {
                tx.agent_insert(&agent_id, &doc).await?;
            }
        }
        tx.commit().await?;
        tracing::info!(agent_id = %agent_id, agent_policy_id = %policy_id, "agent enrolled");
        Ok(json!({
            "action": "created",
            "item": {
                "id": agent_id,
                "active": true,
                "policy_id": policy_id,
                "type": "PERMANENT",
                "enrolled_at": enrolled_at,
                "user_provided_metadata": user_provided,
                "local_metadata": doc["local_metadata"],
                "access_api_key_id": key_id,
                "access_api_key": B64.encode(format!("{key_id}:{secret}")),
                "status": "online",
                "tags": doc["tags"],
            }
        }))
    }

    /// `POST /api/fleet/agents/{id}/checkin`: records the check-in, then answers at once with
    /// pending actions (a newer policy revision), or holds the request until there are some,
    /// the poll times out, or the server shuts down.
    pub async fn checkin(
        &self,
        agent_id: &str,
        auth: Option<&str>,
        user_agent: Option<&str>,
        body: &Value,
    ) -> PResult<String> {
        let started = tokio::time::Instant::now();
        // Held only until the check-in is recorded and answered or parked: a held poll costs
        // no database work.
        let admitted = admit(&self.agent_limits, &self.agent_limits.checkin).await?;
        let version = agent_version_for(user_agent, &self.config.stack_version)?;
        let req = parse_checkin(body)?;
        let (policy_id, acked_revision, written) =
            self.record_checkin(agent_id, auth, &version, &req).await?;
        let ack_token = req.ack_token.clone().unwrap_or_default();
        // The cursor is the last delivered action's sequence number.
        let cursor: i64 = req
            .ack_token
            .as_deref()
            .and_then(|t| t.parse().ok())
            .unwrap_or(0);

        // Register before looking, so an action or revision that arrives between the look and
        // the wait still wakes this poll.
        let mut revisions = self.hub.subscribe(&policy_id, 0);
        let (_held, mut agent_wake) = self.hub.hold(agent_id, written);
        if let Some(answer) = self
            .checkin_answer(agent_id, &policy_id, acked_revision, cursor, None)
            .await?
        {
            return Ok(answer);
        }
        drop(admitted);

        let poll = match req.poll_timeout {
            None => self.config.checkin_long_poll,
            Some(d) => d
                .saturating_sub(Duration::from_secs(120))
                .clamp(self.config.checkin_min_poll, Duration::from_secs(3600)),
        };
        let deadline = started + poll;
        let mut shutdown = self.hub.shutdown_signal();
        loop {
            // A new revision wakes every poll on the policy at once: those look only at the
            // policy (its revision comes with the wake), not at the agent's actions, which
            // wake the agent's own channel.
            let new_revision = tokio::select! {
                changed = revisions.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    Some(*revisions.borrow_and_update())
                }
                changed = agent_wake.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    None
                }
                _ = tokio::time::sleep_until(deadline) => break,
                _ = crate::hub::Hub::wait_shutdown(&mut shutdown) => break,
            };
            if let Some(answer) = self
                .checkin_answer(agent_id, &policy_id, acked_revision, cursor, new_revision)
                .await?
            {
                return Ok(answer);
            }
        }
        Ok(checkin_json(&ack_token, None, &[]))
    }

    /// Records a check-in. Most check-ins change nothing but the time: those read the agent and
    /// write nothing while its stored `last_checkin` is younger than [`CHECKIN_REFRESH`] (a
    /// held poll has it refreshed in batches; see [`Fleet::flush_heartbeats`]), which keeps a
    /// large steady fleet from rewriting every agent at every poll. Anything else the agent
    /// reports (status, message, metadata, components, upgrade details, revision) is written
    /// at once. Returns the policy, the acknowledged revision, and when `last_checkin` was
    /// written.
    async fn record_checkin(
        &self,
        agent_id: &str,
        auth: Option<&str>,
        version: &str,
        req: &Checkin,
    ) -> PResult<(String, Option<i64>, Instant)> {
        let mut row = {
            let mut tx = self.store.begin(Mode::Read).await?;
            self.authenticate_agent(tx.as_mut(), auth, agent_id).await?
        };
        // A bulk action may update the agent between the read and the write: its version
        // check fails, and the check-in is applied again to the newer document.
        for _ in 0..3 {
            let at = now();
            let doc = checkin_doc(&row.doc.body, req, version, &at);
            let policy_id = doc["policy_id"].as_str().unwrap_or_default().to_string();
            let acked = doc["policy_revision_idx"].as_i64();
            let age = last_checkin_age(&row.doc.body);
            if age.is_some_and(|a| a < CHECKIN_REFRESH) && same_but_time(&row.doc.body, &doc) {
                let written = Instant::now()
                    .checked_sub(age.unwrap_or_default())
                    .unwrap_or_else(Instant::now);
                return Ok((policy_id, acked, written));
            }
            let mut tx = self.store.begin(Mode::Write).await?;
            match tx.agent_update(agent_id, Some(row.doc.version), &doc).await {
                Ok(_) => {
                    tx.commit().await?;
                    return Ok((policy_id, acked, Instant::now()));
                }
                Err(store::StoreError::Conflict { .. }) => {
                    drop(tx);
                    let mut tx = self.store.begin(Mode::Read).await?;
                    row = self.authenticate_agent(tx.as_mut(), auth, agent_id).await?;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(ProtocolError::new(
            503,
            "ServiceUnavailable",
            "the agent document kept changing; retry the check-in",
        ))
    }

    /// What a check-in answers now (JSON text), if anything is pending: a POLICY_CHANGE for an
    /// unacknowledged revision, then actions after the cursor. With `new_revision` (the
    /// policy's revision announced by the hub) only the policy is looked at.
    async fn checkin_answer(
        &self,
        agent_id: &str,
        policy_id: &str,
        acked: Option<i64>,
        cursor: i64,
        new_revision: Option<i64>,
    ) -> Result<Option<String>> {
        let (actions, next) = match new_revision {
            Some(_) => (Vec::new(), cursor),
            None => self.pending_actions(agent_id, cursor).await?,
        };
        let change = match new_revision {
            Some(rev) if acked.is_some_and(|a| a >= rev) => None,
            Some(rev) => match self.cached_policy_for_agents(policy_id, rev) {
                Some(policy) => Some(policy_change_json(agent_id, policy_id, &policy)),
                None => {
                    self.policy_change_action(agent_id, policy_id, acked)
                        .await?
                }
            },
            None => {
                self.policy_change_action(agent_id, policy_id, acked)
                    .await?
            }
        };
        if change.is_none() && actions.is_empty() {
            return Ok(None);
        }
        Ok(Some(checkin_json(
            &next.to_string(),
            change.as_deref(),
            &actions,
        )))
    }

    /// The POLICY_CHANGE (JSON text) an agent needs, if its policy has a revision it has not
    /// acknowledged.
    async fn policy_change_action(
        &self,
        agent_id: &str,
        policy_id: &str,
        acked: Option<i64>,
    ) -> Result<Option<String>> {
        let mut tx = self.store.begin(Mode::Read).await?;
        let Some(policy) = tx.get(Kind::AgentPolicy, policy_id).await? else {
            return Ok(None);
        };
        drop(tx);
        let revision = policy.body["revision"].as_i64().unwrap_or(1);
        if acked.is_some_and(|a| a >= revision) {
            return Ok(None);
        }
        let policy_revision = self.policy_for_agents(&policy, revision).await?;
        Ok(Some(policy_change_json(
            agent_id,
            policy_id,
            &policy_revision,
        )))
    }

    /// `POST /api/fleet/agents/{id}/acks`. Returns the HTTP status (the worst item's) and body.
    pub async fn ack(
        &self,
        agent_id: &str,
        auth: Option<&str>,
        body: &Value,
    ) -> PResult<(u16, Value)> {
        let events = body
            .get("events")
            .and_then(Value::as_array)
            .ok_or_else(|| ProtocolError::new(400, "BadRequest", "events is required"))?;
        let _admitted = admit(&self.agent_limits, &self.agent_limits.ack).await?;
        let mut tx = self.store.begin(Mode::Write).await?;
        let row = self.authenticate_agent(tx.as_mut(), auth, agent_id).await?;
        let mut doc = row.doc.body.clone();
        let policy_id = doc["policy_id"].as_str().unwrap_or_default().to_string();
        let mut best_revision = doc["policy_revision_idx"].as_i64();
        let mut items = Vec::with_capacity(events.len());
        let mut worst = 200u16;
        let mut unenroll = false;
        let mut changed = false;
        for event in events {
            // As Fleet Server: an event may leave agent_id out, but not name another agent.
            let named = event.get("agent_id").and_then(Value::as_str);
            let (status, message) = if named.is_some_and(|a| !a.is_empty() && a != agent_id) {
                (400, "Bad Request")
            } else {
                match event
                    .get("action_id")
                    .and_then(Value::as_str)
                    .and_then(parse_policy_action)
                {
                    Some((p, rev)) => {
                        let failed = event
                            .get("error")
                            .and_then(Value::as_str)
                            .is_some_and(|e| !e.is_empty());
                        if p == policy_id && !failed && best_revision.is_none_or(|b| rev > b) {
                            best_revision = Some(rev);
                        }
                        (200, "OK")
                    }
                    None => {
                        let action_id = event
                            .get("action_id")
                            .and_then(Value::as_str)
                            .unwrap_or_default();
                        // Only an action delivered to this agent: another agent's action
                        // id (an UNENROLL, say) must not complete it, nor act on the caller.
                        match tx.action_get_for_agent(action_id, agent_id).await? {
                            None => (404, "Not Found"),
                            Some(action) => {
                                let error = event
                                    .get("error")
                                    .and_then(Value::as_str)
                                    .filter(|e| !e.is_empty());
                                let at = now();
                                let mut result = json!({ "@timestamp": event.get("timestamp").cloned().unwrap_or(json!(at)) });
                                for k in [
                                    "data",
                                    "action_data",
                                    "action_response",
                                    "action_input_type",
                                    "started_at",
                                    "completed_at",
                                ] {
                                    if let Some(v) = event.get(k) {
                                        result[k] = v.clone();
                                    }
                                }
                                if let Some(e) = error {
                                    result["error"] = json!(e);
                                }
                                tx.action_result_insert(action_id, agent_id, &result, &at, error)
                                    .await?;
                                if error.is_none() && action.body["type"] == json!("UNENROLL") {
                                    unenroll = true;
                                }
                                if action.body["type"] == json!("UPGRADE") {
                                    // As Fleet Server: the new agent acks once it runs; a failed
                                    // upgrade the agent will retry stays in progress.
                                    let retry =
                                        event.pointer("/payload/retry") == Some(&json!(true));
                                    match (error, retry) {
                                        (None, _) => {
                                            doc["upgrade_started_at"] = Value::Null;
                                            doc["upgraded_at"] = json!(at);
                                            doc["upgrade_status"] = json!("completed");
                                        }
                                        (Some(_), false) => {
                                            doc["upgrade_started_at"] = Value::Null;
                                            doc["upgrade_status"] = json!("failed");
                                        }
                                        (Some(_), true) => {
                                            doc["upgrade_status"] = json!("retrying")
                                        }
                                    }
                                    changed = true;
                                }
                                (200, "OK")
                            }
                        }
                    }
                }
            };
            worst = worst.max(status);
            items.push(json!({ "status": status, "message": message }));
        }
        if changed || best_revision != doc["policy_revision_idx"].as_i64() {
            doc["policy_revision_idx"] = json!(best_revision);
            doc["updated_at"] = json!(now());
            tx.agent_update(agent_id, Some(row.doc.version), &doc)
                .await?;
        }
        if unenroll {
            // An acknowledged UNENROLL: the agent is gone and its keys no longer work.
            self.unenroll_now(tx.as_mut(), &[agent_id.to_string()])
                .await?;
        }
        tx.commit().await?;
        Ok((
            worst,
            json!({ "action": "acks", "errors": worst != 200, "items": items }),
        ))
    }

    /// Refreshes, in one batched write, `last_checkin` of the agents whose long-poll is held
    /// and whose stored `last_checkin` is at least `older_than` old (run every 30 s with
    /// [`CHECKIN_REFRESH`], as Fleet Server refreshes held agents in bulk).
    pub async fn flush_heartbeats(&self, older_than: Duration) -> Result<u64> {
        let ids = self.hub.take_stale(older_than);
        if ids.is_empty() {
            return Ok(0);
        }
        let mut tx = self.store.begin(Mode::Write).await?;
        let n = tx.agent_touch(&ids, &now()).await?;
        tx.commit().await?;
        Ok(n)
    }
}

/// A check-in answer as JSON text. The POLICY_CHANGE comes already serialized: it carries the
/// whole policy, which is serialized once per revision rather than once per agent.
fn checkin_json(ack_token: &str, policy_change: Option<&str>, actions: &[Value]) -> String {
    let mut out = String::with_capacity(64 + policy_change.map_or(0, str::len));
    out.push_str(r#"{"action":"checkin","ack_token":"#);
    out.push_str(&Value::from(ack_token).to_string());
    out.push_str(r#","actions":["#);
    if let Some(change) = policy_change {
        out.push_str(change);
    }
    for (i, action) in actions.iter().enumerate() {
        if i > 0 || policy_change.is_some() {
            out.push(',');
        }
        out.push_str(&action.to_string());
    }
    out.push_str("]}");
    out
}

/// The POLICY_CHANGE action delivering one revision of a policy to one agent, as JSON text.
fn policy_change_json(agent_id: &str, policy_id: &str, policy: &crate::PolicyRevision) -> String {
    let id = Value::from(format!("policy:{policy_id}:{}", policy.revision));
    let mut out = String::with_capacity(policy.json.len() + 200);
    out.push_str(r#"{"id":"#);
    out.push_str(&id.to_string());
    out.push_str(r#","type":"POLICY_CHANGE","agent_id":"#);
    out.push_str(&Value::from(agent_id).to_string());
    out.push_str(r#","created_at":"#);
    out.push_str(&policy.created_at.to_string());
    out.push_str(r#","data":{"policy":"#);
    out.push_str(&policy.json);
    out.push_str("}}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_database_asks_agents_to_come_back() {
        let e = ProtocolError::from(store::StoreError::Busy("pool timed out".into()));
        assert_eq!((e.status, e.error), (503, "ServiceUnavailable"));
        let e = ProtocolError::from(store::StoreError::Config("broken".into()));
        assert_eq!((e.status, e.error), (500, "InternalServerError"));
    }

    #[test]
    fn user_agents() {
        assert_eq!(agent_version(Some("elastic agent 9.1.0")).unwrap(), "9.1.0");
        assert_eq!(
            agent_version(Some("Elastic Agent 8.17.2-SNAPSHOT")).unwrap(),
            "8.17.2-SNAPSHOT"
        );
        assert_eq!(
            agent_version(Some("curl/8")).unwrap_err().error,
            "InvalidUserAgent"
        );
        assert_eq!(agent_version(None).unwrap_err().error, "InvalidUserAgent");
        assert_eq!(
            agent_version(Some("elastic agent 7.12.0"))
                .unwrap_err()
                .error,
            "UnsupportedVersion"
        );
        assert_eq!(
            agent_version(Some("elastic agent 9.4.0"))
                .unwrap_err()
                .error,
            "UnsupportedVersion"
        );
        assert!(agent_version(Some("elastic agent 9.3.7")).is_ok());
    }

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("5m"), Some(Duration::from_secs(300)));
        assert_eq!(parse_go_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_go_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_go_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_go_duration("5"), None);
        assert_eq!(parse_go_duration(""), None);
    }

    #[test]
    fn policy_action_ids() {
        assert_eq!(parse_policy_action("policy:abc:3"), Some(("abc", 3)));
        assert_eq!(parse_policy_action("policy:abc:3:0"), Some(("abc", 3)));
        assert_eq!(parse_policy_action("policy:abc"), None);
        assert_eq!(parse_policy_action("upgrade-1"), None);
    }
}
