//! Upgrade rollback (Kibana 9.3): an UPGRADE action with `rollback: true` back to the version an
//! agent ran before its last upgrade, which the agent reports in `upgrade.rollbacks` with the
//! time its files are kept until (`valid_until`, about seven days).

use std::collections::{BTreeMap, HashSet};

use serde_json::{json, Value};
use store::{Filter, Mode, Scalar, SortOrder};

use crate::actions::{is_upgrading, semver, MANAGED_SUFFIX};
use crate::agents::{bulk_selector, column_target};
use crate::error::{FleetError, Result};
use crate::time::now;
use crate::Fleet;

const NO_ROLLBACK: &str = "upgrade rollback not available for agent";
const EXPIRED: &str = "upgrade rollback window has expired";
/// Both versions of a rollback must be at least this (older agents keep no rollback files).
const FIRST_ROLLBACK_VERSION: (u64, u64, u64) = (9, 3, 0);

/// Kibana's `AgentRollbackError` wording.
fn rollback_error(reason: &str) -> String {
    format!("Error rolling back agent in Fleet: {reason}")
}

/// Why an agent cannot roll back, whatever its rollback version. Besides Kibana's checks, an
/// agent that cannot be upgraded through Fleet (DEB/RPM installs report `upgradeable: false`)
/// or that runs a version before 9.3.0 has nothing to roll back to.
fn agent_refusal(doc: &Value) -> Option<String> {
    if !doc["unenrollment_started_at"].is_null() || !doc["unenrolled_at"].is_null() {
        return Some(rollback_error(
            "cannot roll back an unenrolling or unenrolled agent",
        ));
    }
    if is_upgrading(doc) {
        return Some(rollback_error("cannot roll back an upgrading agent"));
    }
    let system_managed =
        doc.pointer("/local_metadata/elastic/agent/upgradeable") == Some(&json!(false));
    let current = doc
        .pointer("/local_metadata/elastic/agent/version")
        .and_then(Value::as_str)
        .and_then(semver);
    let rollbacks = doc
        .pointer("/upgrade/rollbacks")
        .and_then(Value::as_array)
        .filter(|r| !r.is_empty());
    let target = rollback_version(doc).as_deref().and_then(semver);
    let too_old = |v: Option<(u64, u64, u64)>| v.is_some_and(|v| v < FIRST_ROLLBACK_VERSION);
    if rollbacks.is_none() || system_managed || too_old(current) || too_old(target) {
        return Some(rollback_error(NO_ROLLBACK));
    }
    None
}

/// The version an agent reports it can roll back to (the first of `upgrade.rollbacks`).
fn rollback_version(doc: &Value) -> Option<String> {
    doc.pointer("/upgrade/rollbacks/0/version")
        .and_then(Value::as_str)
        .map(String::from)
}

/// The first rollback still inside its window at `at`.
fn valid_rollback(doc: &Value, at: &str) -> Option<String> {
    doc.pointer("/upgrade/rollbacks")
        .and_then(Value::as_array)?
        .iter()
        .find(|r| {
            let until = r["valid_until"]
                .as_str()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
            let now = chrono::DateTime::parse_from_rfc3339(at).ok();
            matches!((until, now), (Some(u), Some(n)) if u > n)
        })
        .and_then(|r| r["version"].as_str().map(String::from))
}

fn action_for(version: Option<&str>, total: usize, at: &str) -> Value {
    let mut data = json!({ "rollback": true });
    if let Some(v) = version {
        data["version"] = json!(v);
    }
    json!({
        "action_id": uuid::Uuid::new_v4().to_string(),
        "type": "UPGRADE",
        "data": data,
        "ack_data": data,
        "@timestamp": at,
        "expiration": (chrono::Utc::now() + chrono::Duration::days(30))
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "total": total,
    })
}

impl Fleet {
    /// `POST /agents/{id}/rollback`: `{actionId}`, or a 400 naming the reason.
    pub async fn rollback_agent(&self, id: &str) -> Result<Value> {
        let mut tx = self.store.begin(Mode::Write).await?;
        let row = crate::agents::agent_in_space(tx.as_mut(), id).await?;
        let doc = &row.doc.body;
        let at = now();
        if let Some(e) = agent_refusal(doc) {
            return Err(FleetError::BadRequest(e));
        }
        let Some(version) = valid_rollback(doc, &at) else {
            return Err(FleetError::BadRequest(rollback_error(EXPIRED)));
        };
        let policy_id = doc["policy_id"].as_str().unwrap_or_default();
        if let Some(p) = tx.get(store::Kind::AgentPolicy, policy_id).await? {
            if p.body["is_managed"] == json!(true) {
                return Err(FleetError::BadRequest(format!(
                    "Cannot roll back upgrade for agent {id} on hosted agent policy {policy_id}{MANAGED_SUFFIX}"
                )));
            }
        }
        let action = action_for(Some(&version), 1, &at);
        let action_id = self
            .write_rollback(tx.as_mut(), &action, &[id.to_string()], &[], &at)
            .await?;
        tx.commit().await?;
        self.announce_actions(&[id.to_string()]);
        Ok(json!({ "actionId": action_id }))
    }

    /// Stores one rollback action for `agents` (they become upgrading) and the error results of
    /// `refused` (agent id, error).
    async fn write_rollback(
        &self,
        tx: &mut dyn store::Tx,
        action: &Value,
        agents: &[String],
        refused: &[(String, String)],
        at: &str,
    ) -> Result<String> {
        let action_id = action["action_id"].as_str().unwrap_or_default().to_string();
        let mut action = action.clone();
        crate::actions::sign_action(tx, &mut action).await?;
        tx.action_insert(
            &action_id,
            "UPGRADE",
            &action,
            at,
            action["expiration"].as_str(),
        )
        .await?;
        if !agents.is_empty() {
            let ids = Filter::Or(
                agents
                    .iter()
                    .map(|id| Filter::Eq(column_target("id"), Scalar::Str(id.clone())))
                    .collect(),
            );
            tx.action_target(&action_id, &ids).await?;
            let patch = json!({ "upgrade_started_at": at, "upgraded_at": null, "updated_at": at });
            tx.agents_patch_for_action(&action_id, None, None, &patch)
                .await?;
        }
        for (agent_id, error) in refused {
            let doc = json!({ "@timestamp": at, "action_id": action_id, "agent_id": agent_id, "error": error });
            tx.action_result_insert(&action_id, agent_id, &doc, at, Some(error))
                .await?;
        }
        Ok(action_id)
    }

    /// `POST /agents/bulk_rollback`: one action per rollback version among the selected agents;
    /// agents that cannot roll back get an error result (on their version's action, or on the
    /// first action when they have no version). Returns every action id.
    pub async fn bulk_rollback(
        &self,
        body: &crate::action_requests::BulkRollback,
    ) -> Result<Value> {
        let selector = bulk_selector(
            &body.agents.to_value(),
            body.include_inactive.unwrap_or(false),
        )?;
        let at = now();
        let mut tx = self.store.begin(Mode::Write).await?;
        let hosted = crate::bulk::hosted_policies(tx.as_mut()).await?;
        // version → (eligible agents, refused agents with errors)
        type Group = (Vec<String>, Vec<(String, String)>);
        let mut groups: BTreeMap<String, Group> = BTreeMap::new();
        let mut unversioned: Vec<(String, String)> = Vec::new();
        let mut seen = HashSet::new();
        let mut after: Option<(Value, String)> = None;
        loop {
            let page = tx
                .agent_find(
                    None,
                    &store::Query {
                        filter: selector.clone(),
                        sort: vec![("id".into(), SortOrder::Asc)],
                        limit: Some(crate::bulk::DEFAULT_BATCH_SIZE),
                        search_after: after.clone(),
                        ..Default::default()
                    },
                )
                .await?;
            let Some(last) = page.last() else { break };
            after = Some((json!(last.doc.id), last.doc.id.clone()));
            for row in &page {
                let id = row.doc.id.clone();
                seen.insert(id.clone());
                let doc = &row.doc.body;
                let version = rollback_version(doc);
                let refusal = agent_refusal(doc);
                let Some(version) = version
                    .filter(|_| refusal.as_deref().is_none_or(|e| !e.ends_with(NO_ROLLBACK)))
                else {
                    unversioned.push((id, refusal.unwrap_or_else(|| rollback_error(NO_ROLLBACK))));
                    continue;
                };
                let group = groups.entry(version).or_default();
                let policy_id = doc["policy_id"].as_str().unwrap_or_default();
                if let Some(e) = refusal {
                    group.1.push((id, e));
                } else if valid_rollback(doc, &at).is_none() {
                    group.1.push((id, rollback_error(EXPIRED)));
                } else if hosted.contains(policy_id) {
                    group.1.push((
                        id,
                        format!("Cannot rollback agent in hosted agent policy {policy_id}{MANAGED_SUFFIX}"),
                    ));
                } else {
                    group.0.push(id);
                }
            }
        }
        // Named agents that do not exist.
        if let crate::action_requests::AgentSelection::Ids(names) = &body.agents {
            for id in names {
                if !seen.contains(id.as_str()) && tx.agent_get(id).await?.is_none() {
                    unversioned.push((id.to_string(), format!("Agent {id} not found")));
                }
            }
        }
        let mut action_ids = Vec::new();
        let mut touched = Vec::new();
        // Versions with eligible agents first (the first of them also answers agents without a
        // version), then versions whose agents were all refused.
        let mut ordered: Vec<(String, Group)> = groups.into_iter().collect();
        ordered.sort_by_key(|(_, (ok, _))| ok.is_empty());
        for (i, (version, (ok, mut refused))) in ordered.into_iter().enumerate() {
            if i == 0 {
                refused.append(&mut unversioned);
            }
            let action = action_for(Some(&version), ok.len() + refused.len(), &at);
            action_ids.push(
                self.write_rollback(tx.as_mut(), &action, &ok, &refused, &at)
                    .await?,
            );
            touched.extend(ok);
        }
        if !unversioned.is_empty() {
            let action = action_for(None, unversioned.len(), &at);
            action_ids.push(
                self.write_rollback(tx.as_mut(), &action, &[], &unversioned, &at)
                    .await?,
            );
        }
        tx.commit().await?;
        self.announce_actions(&touched);
        Ok(json!({ "actionIds": action_ids }))
    }
}
