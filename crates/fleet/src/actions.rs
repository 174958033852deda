//! Agent actions (Kibana's `.fleet-actions`): created for agents selected by id or kuery in one
//! statement, delivered at each agent's next check-in, answered by its ack, and summarized in
//! `GET /agents/action_status`.

use serde_json::{json, Value};
use store::{Filter, Mode, Scalar, Tx};

use crate::action_requests::{
    AdditionalMetric, BulkReassign, BulkRequestDiagnostics, BulkUnenroll, BulkUpgrade,
    PostAgentAction, ReassignAgent, UnenrollAgent, UpgradeAgent,
};
use crate::agents::{bulk_selector, column_target, KUERY};
use crate::error::{FleetError, Result};
use crate::time::now;
use crate::Fleet;

/// How long an action waits for its agents (Kibana's default: 30 days).
const DEFAULT_EXPIRATION_DAYS: i64 = 30;
pub(crate) const MANAGED_SUFFIX: &str = " in Fleet because the agent policy is managed by an external orchestration solution, such as Elastic Cloud, Kubernetes, etc. Please make changes using your orchestration solution.";

fn id_filter(id: &str) -> Filter {
    Filter::Eq(column_target("id"), Scalar::Str(id.into()))
}

/// What an agent receives for an action at check-in.
pub fn delivered(action: &store::Doc, agent_id: &str) -> Value {
    let d = &action.body;
    let mut out = json!({
        "id": action.id,
        "type": d["type"],
        "agent_id": agent_id,
        "created_at": d["@timestamp"],
        "data": d.get("data").cloned().unwrap_or(json!({})),
    });
    for k in [
        "expiration",
        "signed",
        "start_time",
        "minimum_execution_duration",
        "rollout_duration_seconds",
    ] {
        if let Some(v) = d.get(k).filter(|v| !v.is_null()) {
            out[k] = v.clone();
        }
    }
    // A rolling upgrade: each agent starts at its own point of the rollout window, the same
    // point every time it is delivered.
    if let (Some(start), Some(window)) = (
        d["start_time"]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()),
        d["rollout_duration_seconds"].as_f64().filter(|w| *w > 0.0),
    ) {
        let hash = agent_id.bytes().fold(0xcbf29ce484222325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
        });
        // The window is capped where chrono's dates end; a window that large is any point.
        let window = (window as u64).clamp(1, i64::MAX as u64 / 1_000);
        let offset = (hash % window) as i64;
        if let Some(at) = chrono::TimeDelta::try_seconds(offset)
            .and_then(|d| start.with_timezone(&chrono::Utc).checked_add_signed(d))
        {
            out["start_time"] = json!(at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
        }
    }
    out
}

/// Actions Kibana signs with the message signing key, so that an agent acts only on what its
/// Fleet signed (the agent checks `signed` against `agent.protection.signing_key`).
pub(crate) const SIGNED_ACTIONS: &[&str] = &["UPGRADE", "UNENROLL"];

/// Adds `signed` (`data`: the action document, base64; `signature`: ECDSA P-256) to an action
/// of a signed type.
pub(crate) async fn sign_action(tx: &mut dyn Tx, doc: &mut Value) -> Result<()> {
    let kind = doc["type"].as_str().unwrap_or_default();
    if !SIGNED_ACTIONS.contains(&kind) {
        return Ok(());
    }
    if let Some(key) = crate::signing::load(tx).await? {
        let mut body = doc.clone();
        if let Some(o) = body.as_object_mut() {
            o.remove("signed");
        }
        doc["signed"] = key.sign(&body);
    }
    Ok(())
}

/// A new action document (Kibana's `.fleet-actions` shape); `extra` adds or overrides fields.
pub(crate) fn action_doc(kind: &str, data: Value, extra: Value) -> Value {
    let created = now();
    let expiration = match extra.get("expiration").and_then(Value::as_str) {
        Some(e) => e.to_string(),
        None => (chrono::Utc::now() + chrono::Duration::days(DEFAULT_EXPIRATION_DAYS))
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    };
    // `namespaces`: the space of the request, as Kibana records it; action_status and cancel
    // see only their space's actions.
    let mut doc = json!({
        "action_id": uuid::Uuid::new_v4().to_string(),
        "type": kind,
        "data": data,
        "@timestamp": created,
        "expiration": expiration,
        "namespaces": [crate::space::current()],
    });
    if let (Some(d), Some(e)) = (doc.as_object_mut(), extra.as_object()) {
        d.extend(e.clone());
    }
    doc
}

/// A bulk job of `kind` for a typed request, kept as the job's request (what the job reads back
/// on whichever node resumes it).
fn bulk_spec(kind: &str, body: &impl serde::Serialize) -> crate::bulk::Spec {
    crate::bulk::Spec {
        kind: kind.to_string(),
        request: serde_json::to_value(body).expect("requests serialize"),
        snapshot: now(),
        space: crate::space::current(),
    }
}

impl Fleet {
    /// Creates an action and targets every agent `selector` matches; returns (id, agent ids).
    async fn create_action(
        &self,
        tx: &mut dyn Tx,
        kind: &str,
        data: Value,
        selector: &Filter,
        extra: Value,
    ) -> Result<(String, Vec<String>)> {
        let mut doc = action_doc(kind, data, extra);
        sign_action(tx, &mut doc).await?;
        let action_id = doc["action_id"].as_str().unwrap_or_default().to_string();
        let created = doc["@timestamp"].as_str().unwrap_or_default().to_string();
        let expiration = doc["expiration"].as_str().unwrap_or_default().to_string();
        tx.action_insert(&action_id, kind, &doc, &created, Some(&expiration))
            .await?;
        let agents = tx.action_target(&action_id, selector).await?;
        Ok((action_id, agents))
    }

    /// Checks that an agent may leave its policy (hosted policies refuse unless forced).
    async fn not_hosted(&self, tx: &mut dyn Tx, policy_id: &str, message: &str) -> Result<()> {
        if let Some(p) = tx.get(store::Kind::AgentPolicy, policy_id).await? {
            if p.body["is_managed"] == json!(true) {
                return Err(FleetError::BadRequest(format!("{message}{MANAGED_SUFFIX}")));
            }
        }
        Ok(())
    }

    /// Marks agents unenrolled now and revokes their keys (`revoke`, or an acknowledged UNENROLL).
    pub(crate) async fn unenroll_now(&self, tx: &mut dyn Tx, agent_ids: &[String]) -> Result<()> {
        let at = now();
        for id in agent_ids {
            let Some(row) = tx.agent_get(id).await? else {
                continue;
            };
            let mut doc = row.doc.body.clone();
            if let Some(k) = doc["access_api_key_id"].as_str() {
                tx.invalidate_api_keys(&[k.to_string()]).await?;
            }
            doc["active"] = json!(false);
            doc["unenrolled_at"] = json!(at);
            doc["updated_at"] = json!(at);
            tx.agent_update(id, Some(row.doc.version), &doc).await?;
        }
        Ok(())
    }

    /// `POST /agents/{id}/unenroll`.
    pub async fn unenroll_agent(&self, id: &str, body: &UnenrollAgent) -> Result<Value> {
        let force = body.force == Some(true);
        let revoke = body.revoke == Some(true);
        let mut tx = self.store.begin(Mode::Write).await?;
        let row = crate::agents::agent_in_space(tx.as_mut(), id).await?;
        if !force {
            let policy_id = row.doc.body["policy_id"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            self.not_hosted(
                tx.as_mut(),
                &policy_id,
                &format!("Cannot unenroll {id} from a hosted agent policy {policy_id}"),
            )
            .await?;
        }
        if revoke {
            self.unenroll_now(tx.as_mut(), &[id.to_string()]).await?;
            tx.commit().await?;
            return Ok(json!({}));
        }
        let (action_id, targeted) = self
            .create_action(
                tx.as_mut(),
                "UNENROLL",
                json!({}),
                &id_filter(id),
                json!({}),
            )
            .await?;
        self.mark_unenrolling(tx.as_mut(), &action_id).await?;
        tx.commit().await?;
        self.announce_actions(&targeted);
        Ok(json!({}))
    }

    /// Marks the agents an UNENROLL action targets as unenrolling, in one statement.
    async fn mark_unenrolling(&self, tx: &mut dyn Tx, action_id: &str) -> Result<()> {
        let at = now();
        tx.agents_patch_for_action(
            action_id,
            None,
            None,
            &json!({ "unenrollment_started_at": at, "updated_at": at }),
        )
        .await?;
        Ok(())
    }

    /// `POST /agents/bulk_unenroll`: returns the action id at once; `revoke` unenrolls the
    /// agents right away (FORCE_UNENROLL, nothing to deliver).
    pub async fn bulk_unenroll(&self, body: &BulkUnenroll) -> Result<Value> {
        let kind = if body.revoke == Some(true) {
            "FORCE_UNENROLL"
        } else {
            "UNENROLL"
        };
        let action_id = self
            .start_bulk(
                bulk_spec(kind, body),
                action_doc(kind, json!({}), json!({})),
            )
            .await?;
        Ok(json!({ "actionId": action_id }))
    }

    async fn reassign_target_policy(&self, tx: &mut dyn Tx, policy_id: &str) -> Result<()> {
        // Only a policy of the request's space: another space's does not exist here.
        let policy = tx
            .get(store::Kind::AgentPolicy, policy_id)
            .await?
            .filter(|d| crate::space::visible(&d.body, "space_ids"))
            .ok_or_else(|| FleetError::NotFound(format!("Agent policy not found: {policy_id}")))?;
        if policy.body["is_managed"] == json!(true) {
            return Err(FleetError::BadRequest(format!(
                "Cannot reassign agents to hosted agent policy {policy_id}{MANAGED_SUFFIX}"
            )));
        }
        Ok(())
    }

    /// Points the agents a POLICY_REASSIGN targets at the new policy, in one statement: they run
    /// no revision of it yet (status `updating`).
    async fn set_policy(&self, tx: &mut dyn Tx, action_id: &str, policy_id: &str) -> Result<()> {
        let patch =
            json!({ "policy_id": policy_id, "policy_revision_idx": null, "updated_at": now() });
        tx.agents_patch_for_action(action_id, None, None, &patch)
            .await?;
        Ok(())
    }

    /// `POST /agents/{id}/reassign`.
    pub async fn reassign_agent(&self, id: &str, body: &ReassignAgent) -> Result<Value> {
        let policy_id = body.policy_id.as_str();
        let mut tx = self.store.begin(Mode::Write).await?;
        let row = crate::agents::agent_in_space(tx.as_mut(), id).await?;
        self.reassign_target_policy(tx.as_mut(), policy_id).await?;
        let current = row.doc.body["policy_id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        self.not_hosted(
            tx.as_mut(),
            &current,
            &format!("Cannot reassign an agent from hosted agent policy {current}"),
        )
        .await?;
        let (action_id, targeted) = self
            .create_action(
                tx.as_mut(),
                "POLICY_REASSIGN",
                json!({ "policy_id": policy_id }),
                &id_filter(id),
                json!({ "policy_id": policy_id }),
            )
            .await?;
        self.set_policy(tx.as_mut(), &action_id, policy_id).await?;
        tx.commit().await?;
        self.announce_actions(&targeted);
        Ok(json!({}))
    }

    /// `POST /agents/bulk_reassign`: returns the action id at once.
    pub async fn bulk_reassign(&self, body: &BulkReassign) -> Result<Value> {
        let policy_id = body.policy_id.as_str();
        {
            let mut tx = self.store.begin(Mode::Read).await?;
            self.reassign_target_policy(tx.as_mut(), policy_id).await?;
        }
        let action = action_doc(
            "POLICY_REASSIGN",
            json!({ "policy_id": policy_id }),
            json!({ "policy_id": policy_id }),
        );
        let action_id = self
            .start_bulk(bulk_spec("POLICY_REASSIGN", body), action)
            .await?;
        Ok(json!({ "actionId": action_id }))
    }

    /// `GET /agents/action_status` (page index from 0, newest first).
    pub async fn action_status(&self, page: u64, per_page: u64, error_size: u64) -> Result<Value> {
        let mut tx = self.store.begin(Mode::Read).await?;
        // Stored actions and policy changes are merged by time: read enough of each for the page.
        let window = page.saturating_add(1).saturating_mul(per_page);
        let actions = tx
            .action_list(&crate::space::filter("namespaces"), 0, window)
            .await?;
        let at = now();
        let mut items = Vec::with_capacity(actions.len());
        for a in actions
            .into_iter()
            .filter(|a| a.body["type"] != json!("CANCEL"))
        {
            let (targeted, acks, failed, latest) = tx.action_counts(&a.id).await?;
            let running = Self::job_running(tx.as_mut(), &a.id).await?;
            let d = &a.body;
            // Bulk actions count every agent they selected (`total`), refused ones included:
            // those are answered with an error result at once.
            let actioned = d["total"].as_u64().unwrap_or(targeted).max(targeted);
            let acks = acks.min(actioned);
            let kind = d["type"].as_str().unwrap_or_default();
            let expired = d["expiration"].as_str().is_some_and(|e| e <= at.as_str());
            let finished = !running && acks >= actioned;
            let status = if !d["cancellation_time"].is_null() {
                "CANCELLED"
            } else if finished && actioned > 0 {
                if failed > 0 {
                    "FAILED"
                } else {
                    "COMPLETE"
                }
            } else if finished && kind != "FORCE_UNENROLL" {
                "COMPLETE"
            } else if expired {
                "EXPIRED"
            } else {
                "IN_PROGRESS"
            };
            let errors: Vec<Value> = tx
                .action_errors(&a.id, error_size)
                .await?
                .into_iter()
                .map(|(agent, error, ts)| json!({ "agentId": agent, "error": error, "timestamp": ts }))
                .collect();
            let mut item = json!({
                "actionId": a.id,
                "type": kind,
                "status": status,
                // Tag updates are applied by the server, not delivered: all were "created".
                "nbAgentsActionCreated": if kind == "UPDATE_TAGS" { actioned } else { targeted },
                "nbAgentsActioned": actioned,
                "nbAgentsAck": acks - failed,
                "nbAgentsFailed": failed,
                "creationTime": d["@timestamp"],
                "expiration": d["expiration"],
                "latestErrors": errors,
            });
            if let Some(l) = latest.filter(|_| finished && actioned > 0) {
                item["completionTime"] = json!(l);
            }
            if let Some(p) = d.get("policy_id") {
                item["newPolicyId"] = p.clone();
            }
            if let Some(c) = d.get("cancellation_time") {
                item["cancellationTime"] = c.clone();
            }
            if let Some(v) = d["data"].get("version") {
                item["version"] = v.clone();
            }
            if let Some(t) = d.get("start_time") {
                item["startTime"] = t.clone();
                item["hasRolloutPeriod"] = json!(d.get("rollout_duration_seconds").is_some());
            }
            items.push(item);
        }
        items.extend(self.policy_change_statuses(tx.as_mut()).await?);
        // Newest first; RFC 3339 UTC strings sort by time.
        items.sort_by(|a, b| b["creationTime"].as_str().cmp(&a["creationTime"].as_str()));
        let items: Vec<Value> = items
            .into_iter()
            .skip(page.saturating_mul(per_page) as usize)
            .take(per_page as usize)
            .collect();
        Ok(json!({ "items": items }))
    }

    /// Policy changes as Kibana reports them in action_status: for each policy past its first
    /// revision, the agents on it (actioned) and those running that revision (acked). Flotilla
    /// keeps only the current revision of a policy, so only that one is listed.
    async fn policy_change_statuses(&self, tx: &mut dyn Tx) -> Result<Vec<Value>> {
        let policies = tx
            .find(
                store::Kind::AgentPolicy,
                &store::Query {
                    filter: Filter::And(vec![
                        Filter::Range(
                            store::doc_field("revision"),
                            kuery::RangeOp::Gt,
                            Scalar::Num(1.0),
                        ),
                        crate::space::filter("space_ids"),
                    ]),
                    ..Default::default()
                },
            )
            .await?;
        let mut out = Vec::with_capacity(policies.len());
        for p in policies {
            let revision = p.body["revision"].as_i64().unwrap_or(1);
            let on_policy = Filter::And(vec![
                Filter::Eq(column_target("policy_id"), Scalar::Str(p.id.clone())),
                Filter::Eq(column_target("active"), Scalar::Bool(true)),
            ]);
            let actioned = tx.agent_count(None, &on_policy).await?;
            let acked = tx
                .agent_count(
                    None,
                    &Filter::And(vec![
                        on_policy,
                        Filter::Range(
                            column_target("policy_revision_idx"),
                            kuery::RangeOp::Gte,
                            Scalar::Num(revision as f64),
                        ),
                    ]),
                )
                .await?;
            out.push(json!({
                "actionId": format!("{}:{revision}", p.id),
                "type": "POLICY_CHANGE",
                "status": if acked >= actioned { "COMPLETE" } else { "IN_PROGRESS" },
                "nbAgentsActionCreated": actioned,
                "nbAgentsActioned": actioned,
                "nbAgentsAck": acked,
                "nbAgentsFailed": 0,
                "creationTime": p.body["updated_at"],
                "policyId": p.id,
                "revision": revision,
                "latestErrors": [],
            }));
        }
        Ok(out)
    }

    /// Pending actions for a checking-in agent after `cursor`: (delivered actions, new cursor).
    pub(crate) async fn pending_actions(
        &self,
        agent_id: &str,
        cursor: i64,
    ) -> Result<(Vec<Value>, i64)> {
        let mut tx = self.store.begin(Mode::Read).await?;
        let rows = tx.action_pending(agent_id, cursor, &now(), 100).await?;
        let last = rows.last().map(|(seq, _)| *seq).unwrap_or(cursor);
        Ok((
            rows.iter().map(|(_, a)| delivered(a, agent_id)).collect(),
            last,
        ))
    }

    /// The kuery schema agents are selected with (for callers outside this module).
    pub fn agent_schema() -> &'static kuery::Schema {
        &KUERY
    }
}

/// A version as (major, minor, patch), ignoring any `-SNAPSHOT` style suffix (semver coerce).
pub fn semver(v: &str) -> Option<(u64, u64, u64)> {
    let core = v.trim().split(['-', '+']).next()?;
    let mut parts = core.split('.').map(|p| p.parse::<u64>().ok());
    let major = parts.next()??;
    let minor = parts.next().unwrap_or(Some(0))?;
    let patch = parts.next().unwrap_or(Some(0))?;
    Some((major, minor, patch))
}

fn show((a, b, c): (u64, u64, u64)) -> String {
    format!("{a}.{b}.{c}")
}

/// Kibana's `checkKibanaVersion`, against Flotilla's stack version.
fn check_stack_version(version: &str, stack: &str, force: bool) -> Result<(u64, u64, u64)> {
    let target = semver(version).ok_or_else(|| {
        FleetError::BadRequest(format!("Version to upgrade {version} is not valid"))
    })?;
    let stack = semver(stack).expect("the configured stack version is valid");
    let same_minor = target.0 == stack.0 && target.1 == stack.1;
    if !force && target > stack && !same_minor {
        return Err(FleetError::BadRequest(format!(
            "Cannot upgrade agent to {} because it is higher than the installed kibana version {}",
            show(target),
            show(stack)
        )));
    }
    if force && !(stack.0 > target.0 || (stack.0 == target.0 && stack.1 >= target.1)) {
        return Err(FleetError::BadRequest(format!(
            "Cannot force upgrade agent to {} because it does not satisfy the major and minor of the installed kibana version {}",
            show(target),
            show(stack)
        )));
    }
    Ok(target)
}

/// The version an agent reports, as Kibana reads it.
fn agent_version(doc: &Value) -> Option<(u64, u64, u64)> {
    doc.pointer("/local_metadata/elastic/agent/version")
        .or_else(|| doc.pointer("/agent/version"))
        .and_then(Value::as_str)
        .and_then(semver)
}

/// Kibana's `isAgentUpgrading`.
pub(crate) fn is_upgrading(doc: &Value) -> bool {
    match doc.get("upgrade_details").filter(|d| !d.is_null()) {
        Some(d) => d["state"] != json!("UPG_FAILED"),
        None => !doc["upgrade_started_at"].is_null() && doc["upgraded_at"].is_null(),
    }
}

/// Kibana's `getNotUpgradeableMessage`: why an agent may not be upgraded to `version` (with
/// `force`, only unenrolment and the cooldown refuse).
pub(crate) fn not_upgradeable_reason(doc: &Value, version: &str, force: bool) -> Option<String> {
    let reported = doc
        .pointer("/local_metadata/elastic/agent/version")
        .and_then(Value::as_str);
    if reported.is_none() && !force {
        return Some("agent version is missing.".into());
    }
    if !doc["unenrolled_at"].is_null() {
        return Some("agent has been unenrolled.".into());
    }
    if !doc["unenrollment_started_at"].is_null() {
        return Some("agent is being unenrolled.".into());
    }
    if let Some(upgraded) = doc["upgraded_at"]
        .as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
    {
        let elapsed = chrono::Utc::now() - upgraded.with_timezone(&chrono::Utc);
        let cooldown = chrono::Duration::minutes(UPGRADE_COOLDOWN_MIN);
        if elapsed < cooldown {
            let mins = |d: chrono::Duration| (d.num_milliseconds() as f64 / 60_000.0).ceil() as i64;
            return Some(format!(
                "agent was upgraded {} minutes ago, please wait {} minutes before attempting the upgrade again.",
                mins(elapsed),
                mins(cooldown - elapsed)
            ));
        }
    }
    if force {
        return None;
    }
    if doc.pointer("/local_metadata/elastic/agent/upgradeable") != Some(&json!(true)) {
        return Some("agent cannot be upgraded through Fleet. It may be running in a container or it is not installed as a service.".into());
    }
    if is_upgrading(doc) {
        return Some("agent is already being upgraded.".into());
    }
    let Some(current) = reported.and_then(semver) else {
        return Some("agent version is not valid.".into());
    };
    let Some(target) = semver(version) else {
        return Some("the selected version is not valid.".into());
    };
    if current == target {
        Some("agent is already running on the selected version.".into())
    } else if target < current {
        Some("agent does not support downgrades.".into())
    } else {
        None
    }
}

/// Minutes after an upgrade during which another is refused (Kibana's cooldown).
pub(crate) const UPGRADE_COOLDOWN_MIN: i64 = 10;

/// Upgrade failures a single-agent request reports with a status other than 400.
pub struct RateLimited {
    pub message: String,
    pub retry_after_secs: i64,
}

impl Fleet {
    /// `POST /agents/{id}/upgrade` with Kibana's checks, in Kibana's order.
    pub async fn upgrade_agent(
        &self,
        id: &str,
        body: &UpgradeAgent,
    ) -> std::result::Result<Value, std::result::Result<RateLimited, FleetError>> {
        let inner = async {
            let version = body.version.clone();
            let force = body.force == Some(true);
            let skip_rate = body.skip_rate_limit_check == Some(true);
            let target = check_stack_version(&version, &self.config.stack_version, force)?;
            let mut tx = self.store.begin(Mode::Write).await?;
            let row = crate::agents::agent_in_space(tx.as_mut(), id).await?;
            let doc = &row.doc.body;
            if let Some(upgraded) = doc["upgraded_at"]
                .as_str()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            {
                let wait = upgraded.with_timezone(&chrono::Utc)
                    + chrono::Duration::minutes(UPGRADE_COOLDOWN_MIN)
                    - chrono::Utc::now();
                if !skip_rate && wait > chrono::Duration::zero() {
                    let secs = wait.num_milliseconds().max(0) as f64 / 1000.0;
                    return Ok(Err(RateLimited {
                        message: format!(
                            "agent {id} was upgraded less than {UPGRADE_COOLDOWN_MIN} minutes ago. Please wait {:02}m{:02}s before trying again to ensure the upgrade will not be rolled back.",
                            (secs as i64) / 60,
                            (secs as i64) % 60
                        ),
                        retry_after_secs: secs.ceil() as i64,
                    }));
                }
            }
            if !doc["unenrollment_started_at"].is_null() || !doc["unenrolled_at"].is_null() {
                return Err(FleetError::BadRequest(
                    "cannot upgrade an unenrolling or unenrolled agent".into(),
                ));
            }
            if !force && is_upgrading(doc) {
                return Err(FleetError::BadRequest(format!(
                    "agent {id} is already upgrading"
                )));
            }
            let upgradeable =
                doc.pointer("/local_metadata/elastic/agent/upgradeable") == Some(&json!(true));
            let current = agent_version(doc);
            let upgradeable_to_target = upgradeable && current.is_some_and(|c| c < target);
            if !(force || skip_rate || upgradeable_to_target) {
                let reason = if !upgradeable {
                    "agent cannot be upgraded through Fleet. It may be running in a container or it is not installed as a service."
                } else if current == Some(target) {
                    "agent is already running on the selected version."
                } else {
                    "agent does not support downgrades."
                };
                return Err(FleetError::BadRequest(format!(
                    "Agent {id} is not upgradeable: {reason}"
                )));
            }
            let mut data = json!({ "version": version });
            if let Some(uri) = &body.source_uri {
                data["source_uri"] = json!(uri);
                data["sourceURI"] = json!(uri);
            }
            let (action_id, targeted) = self
                .create_action(tx.as_mut(), "UPGRADE", data, &id_filter(id), json!({}))
                .await?;
            self.mark_upgrading(tx.as_mut(), &action_id).await?;
            tx.commit().await?;
            self.announce_actions(&targeted);
            Ok(Ok(json!({})))
        };
        match inner.await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(limited)) => Err(Ok(limited)),
            Err(e) => Err(Err(e)),
        }
    }

    /// Marks the agents an UPGRADE targets as upgrading, in one statement.
    async fn mark_upgrading(&self, tx: &mut dyn Tx, action_id: &str) -> Result<()> {
        let at = now();
        let patch = json!({ "upgrade_started_at": at, "upgraded_at": null, "updated_at": at });
        tx.agents_patch_for_action(action_id, None, None, &patch)
            .await?;
        Ok(())
    }

    /// `POST /agents/bulk_upgrade`: one UPGRADE action for the eligible agents, an error result
    /// for each other selected agent; returns the action id at once.
    pub async fn bulk_upgrade(&self, body: &BulkUpgrade) -> Result<Value> {
        let version = body.version.clone();
        let force = body.force == Some(true);
        check_stack_version(&version, &self.config.stack_version, force)?;
        let mut data = json!({ "version": version });
        if let Some(uri) = &body.source_uri {
            data["source_uri"] = json!(uri);
            data["sourceURI"] = json!(uri);
        }
        let mut extra = json!({});
        if let Some(d) = &body.rollout_duration_seconds {
            let start = body.start_time.clone().unwrap_or_else(now);
            extra = json!({ "rollout_duration_seconds": d, "start_time": start });
        }
        let action_id = self
            .start_bulk(
                bulk_spec("UPGRADE", body),
                action_doc("UPGRADE", data, extra),
            )
            .await?;
        Ok(json!({ "actionId": action_id }))
    }

    /// `POST /agents/actions/{actionId}/cancel`: a CANCEL for the same agents; an UPGRADE's
    /// agents stop showing as upgrading.
    pub async fn cancel_action(&self, action_id: &str) -> Result<Value> {
        let mut tx = self.store.begin(Mode::Write).await?;
        let action = tx
            .action_get(action_id)
            .await?
            .filter(|a| crate::space::visible(&a.body, "namespaces"))
            .ok_or_else(|| FleetError::NotFound(format!("Action not found: {action_id}")))?;
        let cancel_id = uuid::Uuid::new_v4().to_string();
        let at = now();
        let cancel = json!({
            "action_id": cancel_id,
            "type": "CANCEL",
            "data": { "target_id": action_id },
            "@timestamp": at,
            "expiration": action.body["expiration"],
            "namespaces": action.body["namespaces"],
        });
        tx.action_insert(
            &cancel_id,
            "CANCEL",
            &cancel,
            &at,
            action.body["expiration"].as_str(),
        )
        .await?;
        let targeted = tx.action_target_like(&cancel_id, action_id).await?;
        let mut original = action.body.clone();
        original["cancellation_time"] = json!(at);
        tx.action_update_doc(action_id, &original).await?;
        if action.body["type"] == json!("UPGRADE") {
            for id in &targeted {
                let Some(row) = tx.agent_get(id).await? else {
                    continue;
                };
                let mut doc = row.doc.body.clone();
                doc["upgrade_started_at"] = Value::Null;
                doc["upgraded_at"] = Value::Null;
                tx.agent_update(id, Some(row.doc.version), &doc).await?;
            }
        }
        tx.commit().await?;
        self.announce_actions(&targeted);
        Ok(
            json!({ "item": { "id": cancel_id, "type": "CANCEL", "data": { "target_id": action_id }, "created_at": at, "agents": targeted } }),
        )
    }

    /// `POST /agents/{id}/actions`: any action for one agent (e.g. SETTINGS with a log level).
    pub async fn create_agent_action(&self, id: &str, body: &PostAgentAction) -> Result<Value> {
        let (kind, data) = body.action.kind_and_data();
        let mut tx = self.store.begin(Mode::Write).await?;
        crate::agents::agent_in_space(tx.as_mut(), id).await?;
        let (action_id, targeted) = self
            .create_action(tx.as_mut(), kind, data.clone(), &id_filter(id), json!({}))
            .await?;
        let action = tx
            .action_get(&action_id)
            .await?
            .expect("the action was just written");
        tx.commit().await?;
        self.announce_actions(&targeted);
        Ok(json!({ "item": {
            "id": action_id,
            "type": kind,
            "data": data,
            "agents": [id],
            "created_at": action.body["@timestamp"],
            "expiration": action.body["expiration"],
        } }))
    }

    /// `POST /agents/{id}/request_diagnostics` and the bulk form: a REQUEST_DIAGNOSTICS action
    /// that expires in 3 hours, as in Kibana.
    pub async fn request_diagnostics(
        &self,
        selector: Result<Filter>,
        additional_metrics: Option<&[AdditionalMetric]>,
        bulk: Option<&BulkRequestDiagnostics>,
    ) -> Result<Value> {
        let selector = selector?;
        let mut data = json!({});
        if let Some(m) = additional_metrics {
            data["additional_metrics"] = json!(m);
        }
        let expiration = (chrono::Utc::now() + chrono::Duration::hours(3))
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let extra = json!({ "expiration": expiration });
        if let Some(body) = bulk {
            let action_id = self
                .start_bulk(
                    bulk_spec("REQUEST_DIAGNOSTICS", body),
                    action_doc("REQUEST_DIAGNOSTICS", data, extra),
                )
                .await?;
            return Ok(json!({ "actionId": action_id }));
        }
        let mut tx = self.store.begin(Mode::Write).await?;
        let (action_id, targeted) = self
            .create_action(tx.as_mut(), "REQUEST_DIAGNOSTICS", data, &selector, extra)
            .await?;
        tx.commit().await?;
        self.announce_actions(&targeted);
        Ok(json!({ "actionId": action_id }))
    }

    /// The selector for one agent (which must exist).
    pub async fn one_agent(&self, id: &str) -> Result<Filter> {
        let mut tx = self.store.begin(Mode::Read).await?;
        crate::agents::agent_in_space(tx.as_mut(), id).await?;
        Ok(id_filter(id))
    }

    /// The selector of a bulk request body.
    pub fn bulk_agents(&self, agents: &crate::action_requests::AgentSelection) -> Result<Filter> {
        bulk_selector(&agents.to_value(), false)
    }
}
