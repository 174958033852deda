//! Agent actions (Kibana's `.fleet-actions`): created for agents selected by id or kuery in one
//! statement, delivered at each agent's next check-in, answered by its ack, and summarized in
//! `GET /agents/action_status`.

use serde_json::{json, Value};
use store::{Filter, Mode, Scalar, Tx};

use crate::agents::{bulk_selector, KUERY};
use crate::error::{FleetError, Result};
use crate::time::now;
use crate::validate::{check_body, opt, req, Field, Ty, BOOL, NUM, STR};
use crate::Fleet;

/// How long an action waits for its agents (Kibana's default: 30 days).
const DEFAULT_EXPIRATION_DAYS: i64 = 30;
const MANAGED_SUFFIX: &str = " in Fleet because the agent policy is managed by an external orchestration solution, such as Elastic Cloud, Kubernetes, etc. Please make changes using your orchestration solution.";

static UNENROLL: &[Field] = &[opt("force", BOOL), opt("revoke", BOOL)];
static BULK_UNENROLL: &[Field] = &[
    req("agents", Ty::Any),
    opt("force", BOOL),
    opt("revoke", BOOL),
    opt("includeInactive", BOOL),
    opt("batchSize", NUM),
];
static REASSIGN: &[Field] = &[req("policy_id", STR)];
static BULK_REASSIGN: &[Field] = &[
    req("policy_id", STR),
    req("agents", Ty::Any),
    opt("includeInactive", BOOL),
    opt("batchSize", NUM),
];

fn agent_not_found(id: &str) -> FleetError {
    FleetError::NotFound(format!("Agent {id} not found"))
}

fn id_filter(id: &str) -> Filter {
    Filter::Eq(
        store::Target::Column {
            sqlite: "agent.id",
            postgres: "agent.id",
            json_path: "id",
        },
        Scalar::Str(id.into()),
    )
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
        "start_time",
        "minimum_execution_duration",
        "rollout_duration_seconds",
    ] {
        if let Some(v) = d.get(k).filter(|v| !v.is_null()) {
            out[k] = v.clone();
        }
    }
    out
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
        let action_id = uuid::Uuid::new_v4().to_string();
        let created = now();
        let expiration = (chrono::Utc::now() + chrono::Duration::days(DEFAULT_EXPIRATION_DAYS))
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let mut doc = json!({
            "action_id": action_id,
            "type": kind,
            "data": data,
            "@timestamp": created,
            "expiration": expiration,
        });
        if let (Some(d), Some(e)) = (doc.as_object_mut(), extra.as_object()) {
            d.extend(e.clone());
        }
        tx.action_insert(&action_id, kind, &doc, &created, Some(&expiration))
            .await?;
        let agents = tx.action_target(&action_id, selector).await?;
        let mut doc = doc;
        doc["total"] = json!(agents.len());
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
    pub async fn unenroll_agent(&self, id: &str, body: &Value) -> Result<Value> {
        let body = if body.is_null() {
            json!({})
        } else {
            body.clone()
        };
        check_body("request body", &body, UNENROLL)?;
        let force = body["force"] == json!(true);
        let revoke = body["revoke"] == json!(true);
        let mut tx = self.store.begin(Mode::Write).await?;
        let row = tx.agent_get(id).await?.ok_or_else(|| agent_not_found(id))?;
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
        let (_, targeted) = self
            .create_action(
                tx.as_mut(),
                "UNENROLL",
                json!({}),
                &id_filter(id),
                json!({}),
            )
            .await?;
        self.mark_unenrolling(tx.as_mut(), &targeted).await?;
        tx.commit().await?;
        self.hub.actions_created(&targeted);
        Ok(json!({}))
    }

    async fn mark_unenrolling(&self, tx: &mut dyn Tx, ids: &[String]) -> Result<()> {
        let at = now();
        for id in ids {
            let Some(row) = tx.agent_get(id).await? else {
                continue;
            };
            let mut doc = row.doc.body.clone();
            doc["unenrollment_started_at"] = json!(at);
            doc["updated_at"] = json!(at);
            tx.agent_update(id, Some(row.doc.version), &doc).await?;
        }
        Ok(())
    }

    /// `POST /agents/bulk_unenroll`: returns the action id at once.
    pub async fn bulk_unenroll(&self, body: &Value) -> Result<Value> {
        check_body("request body", body, BULK_UNENROLL)?;
        let include_inactive = body["includeInactive"] == json!(true);
        let mut selector = bulk_selector(&body["agents"], include_inactive)?;
        if body["force"] != json!(true) {
            // Agents on hosted policies are left out, as Kibana leaves them out.
            selector = Filter::And(vec![
                selector,
                Filter::Not(Box::new(self.on_hosted_policy().await?)),
            ]);
        }
        let mut tx = self.store.begin(Mode::Write).await?;
        let (action_id, targeted) = if body["revoke"] == json!(true) {
            let (action_id, targeted) = self
                .create_action(
                    tx.as_mut(),
                    "FORCE_UNENROLL",
                    json!({}),
                    &selector,
                    json!({}),
                )
                .await?;
            self.unenroll_now(tx.as_mut(), &targeted).await?;
            // Nothing to deliver: the results are written at once.
            let at = now();
            for id in &targeted {
                tx.action_result_insert(&action_id, id, &json!({"@timestamp": at}), &at, None)
                    .await?;
            }
            (action_id, Vec::new())
        } else {
            let (action_id, targeted) = self
                .create_action(tx.as_mut(), "UNENROLL", json!({}), &selector, json!({}))
                .await?;
            self.mark_unenrolling(tx.as_mut(), &targeted).await?;
            (action_id, targeted)
        };
        tx.commit().await?;
        self.hub.actions_created(&targeted);
        Ok(json!({ "actionId": action_id }))
    }

    /// A filter for agents whose policy is hosted (managed).
    async fn on_hosted_policy(&self) -> Result<Filter> {
        let mut tx = self.store.begin(Mode::Read).await?;
        let hosted = tx
            .find(
                store::Kind::AgentPolicy,
                &store::Query {
                    filter: Filter::Eq(store::doc_field("is_managed"), Scalar::Bool(true)),
                    ..Default::default()
                },
            )
            .await?;
        Ok(Filter::Or(
            hosted
                .iter()
                .map(|p| {
                    Filter::Eq(
                        store::Target::Column {
                            sqlite: "agent.policy_id",
                            postgres: "agent.policy_id",
                            json_path: "policy_id",
                        },
                        Scalar::Str(p.id.clone()),
                    )
                })
                .collect(),
        ))
    }

    async fn reassign_target_policy(&self, tx: &mut dyn Tx, policy_id: &str) -> Result<()> {
        let policy = tx
            .get(store::Kind::AgentPolicy, policy_id)
            .await?
            .ok_or_else(|| FleetError::NotFound(format!("Agent policy not found: {policy_id}")))?;
        if policy.body["is_managed"] == json!(true) {
            return Err(FleetError::BadRequest(format!(
                "Cannot reassign agents to hosted agent policy {policy_id}{MANAGED_SUFFIX}"
            )));
        }
        Ok(())
    }

    /// Points agents at a new policy: they run no revision of it yet (status `updating`).
    async fn set_policy(&self, tx: &mut dyn Tx, ids: &[String], policy_id: &str) -> Result<()> {
        let at = now();
        for id in ids {
            let Some(row) = tx.agent_get(id).await? else {
                continue;
            };
            let mut doc = row.doc.body.clone();
            doc["policy_id"] = json!(policy_id);
            doc["policy_revision_idx"] = Value::Null;
            doc["updated_at"] = json!(at);
            tx.agent_update(id, Some(row.doc.version), &doc).await?;
        }
        Ok(())
    }

    /// `POST /agents/{id}/reassign`.
    pub async fn reassign_agent(&self, id: &str, body: &Value) -> Result<Value> {
        check_body("request body", body, REASSIGN)?;
        let policy_id = body["policy_id"].as_str().unwrap_or_default();
        let mut tx = self.store.begin(Mode::Write).await?;
        let row = tx.agent_get(id).await?.ok_or_else(|| agent_not_found(id))?;
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
        self.set_policy(tx.as_mut(), &[id.to_string()], policy_id)
            .await?;
        let (_, targeted) = self
            .create_action(
                tx.as_mut(),
                "POLICY_REASSIGN",
                json!({ "policy_id": policy_id }),
                &id_filter(id),
                json!({ "policy_id": policy_id }),
            )
            .await?;
        tx.commit().await?;
        self.hub.actions_created(&targeted);
        Ok(json!({}))
    }

    /// `POST /agents/bulk_reassign`: returns the action id at once.
    pub async fn bulk_reassign(&self, body: &Value) -> Result<Value> {
        check_body("request body", body, BULK_REASSIGN)?;
        let policy_id = body["policy_id"].as_str().unwrap_or_default();
        let include_inactive = body["includeInactive"] == json!(true);
        let selector = Filter::And(vec![
            bulk_selector(&body["agents"], include_inactive)?,
            Filter::Not(Box::new(self.on_hosted_policy().await?)),
        ]);
        let mut tx = self.store.begin(Mode::Write).await?;
        self.reassign_target_policy(tx.as_mut(), policy_id).await?;
        let (action_id, targeted) = self
            .create_action(
                tx.as_mut(),
                "POLICY_REASSIGN",
                json!({ "policy_id": policy_id }),
                &selector,
                json!({ "policy_id": policy_id }),
            )
            .await?;
        self.set_policy(tx.as_mut(), &targeted, policy_id).await?;
        tx.commit().await?;
        self.hub.actions_created(&targeted);
        Ok(json!({ "actionId": action_id }))
    }

    /// `GET /agents/action_status` (page index from 0, newest first).
    pub async fn action_status(&self, page: u64, per_page: u64, error_size: u64) -> Result<Value> {
        let mut tx = self.store.begin(Mode::Read).await?;
        let actions = tx
            .action_list(page.saturating_mul(per_page), per_page)
            .await?;
        let at = now();
        let mut items = Vec::with_capacity(actions.len());
        for a in actions {
            let (targeted, acks, failed, latest) = tx.action_counts(&a.id).await?;
            let d = &a.body;
            let kind = d["type"].as_str().unwrap_or_default();
            let expired = d["expiration"].as_str().is_some_and(|e| e <= at.as_str());
            let status = if targeted > 0 && acks >= targeted {
                if failed > 0 {
                    "FAILED"
                } else {
                    "COMPLETE"
                }
            } else if targeted == 0 && kind != "FORCE_UNENROLL" {
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
                "nbAgentsActionCreated": targeted,
                "nbAgentsActioned": targeted,
                "nbAgentsAck": acks - failed,
                "nbAgentsFailed": failed,
                "creationTime": d["@timestamp"],
                "expiration": d["expiration"],
                "latestErrors": errors,
            });
            if let Some(l) = latest.filter(|_| acks >= targeted && targeted > 0) {
                item["completionTime"] = json!(l);
            }
            if let Some(p) = d.get("policy_id") {
                item["newPolicyId"] = p.clone();
            }
            items.push(item);
        }
        Ok(json!({ "items": items }))
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
