//! Agent policies: every rule of Kibana's `agentPolicyService` that does not need
//! Elasticsearch. Documents are stored with the attributes Kibana stores; `id`, `version` and
//! the computed fields (`agents`, `package_policies`) are added on the way out.

mod full;
mod kubernetes;
pub mod schema;

use serde_json::{json, Map, Value};
use store::{Doc, Kind, Mode, Query, Tx};

use crate::auth::Principal;
use crate::common::version_string;
pub use crate::common::{copy_name, validate_namespace};
use crate::enrollment_api_keys;
use crate::error::{FleetError, Result};
use crate::query::{filter, page_window, sort_field, sort_order};
use crate::time::now;
use crate::Fleet;

pub use full::FullPolicyOptions;

/// Kibana's `FLEET_AGENT_POLICIES_SCHEMA_VERSION`.
pub const SCHEMA_VERSION: &str = "1.1.1";
/// Kibana's default `inactivity_timeout`: two weeks, in seconds.
pub const DEFAULT_INACTIVITY_TIMEOUT: u64 = 1_209_600;
const MANAGED_SUFFIX: &str = " in Fleet because the agent policy is managed by an external orchestration solution, such as Elastic Cloud, Kubernetes, etc. Please make changes using your orchestration solution.";

/// The wire form of a stored policy.
fn to_item(doc: &Doc) -> Value {
    let mut item = Map::new();
    item.insert("id".into(), json!(doc.id));
    item.insert("version".into(), json!(version_string(doc.version)));
    if let Value::Object(attrs) = &doc.body {
        for (k, v) in attrs {
            item.insert(k.clone(), v.clone());
        }
    }
    Value::Object(item)
}

/// Sets each top-level field of `fields` on `target` (an object).
pub(crate) fn merge_top(target: &mut Value, fields: &Value) {
    if let (Some(t), Some(f)) = (target.as_object_mut(), fields.as_object()) {
        for (k, v) in f {
            t.insert(k.clone(), v.clone());
        }
    }
}

/// What Kibana answers for an unknown id: its saved-objects client throws before any Fleet
/// code runs, so the message is the saved-object one.
fn not_found(id: &str) -> FleetError {
    FleetError::NotFound(format!(
        "Saved object [ingest-agent-policies/{id}] not found"
    ))
}

/// The outputs, Fleet Server host and download source a policy names must exist (404, as
/// Kibana answers when it fetches a missing one).
async fn require_settings_exist(tx: &mut dyn store::Tx, attrs: &Value) -> Result<()> {
    // (field, kind, what the message calls it)
    let refs = [
        ("data_output_id", Kind::Output, "Output"),
        ("monitoring_output_id", Kind::Output, "Output"),
        (
            "fleet_server_host_id",
            Kind::FleetServerHost,
            "Fleet server",
        ),
        (
            "download_source_id",
            Kind::DownloadSource,
            "Agent binary source",
        ),
    ];
    for (field, kind, what) in refs {
        if let Some(id) = attrs[field].as_str() {
            if tx.get(kind, id).await?.is_none() {
                return Err(FleetError::NotFound(format!("{what} {id} not found")));
            }
        }
    }
    Ok(())
}

/// A typed request body as the attributes it sets (the keys it gives, `null` for cleared).
fn attributes<T: serde::Serialize>(body: &T) -> Value {
    serde_json::to_value(body).expect("request types serialize")
}

/// Kibana's `requireUniqueName`: another policy with exactly this name is a 409.
async fn require_unique_name(tx: &mut dyn Tx, name: &str, self_id: Option<&str>) -> Result<()> {
    tx.lock_kind(Kind::AgentPolicy).await?;
    let same = tx
        .find(
            Kind::AgentPolicy,
            &Query {
                filter: store::Filter::Eq(
                    store::doc_field("name"),
                    store::Scalar::Str(name.into()),
                ),
                ..Default::default()
            },
        )
        .await?;
    let others: Vec<&str> = same
        .iter()
        .map(|d| d.id.as_str())
        .filter(|id| Some(*id) != self_id)
        .collect();
    match others.as_slice() {
        [] => Ok(()),
        [one] => Err(FleetError::Conflict(format!(
            "Agent Policy '{one}' already exists with name '{name}'"
        ))),
        many => Err(FleetError::Conflict(format!(
            "Agent Policies '{}' already exist with name '{name}'",
            many.join(",")
        ))),
    }
}

/// Keys of a request body that are instructions, not attributes.
const NOT_ATTRIBUTES: &[&str] = &["id", "force", "bumpRevision"];

impl Fleet {
    pub async fn list_agent_policies(&self, p: &schema::ListAgentPoliciesQuery) -> Result<Value> {
        let (page, per_page) = page_window(p.page, p.per_page, 20)?;
        let filter = store::Filter::And(vec![
            crate::space::filter("space_ids"),
            filter(&schema::KUERY, p.kuery.as_deref())?,
        ]);
        let sort_field = sort_field(
            &schema::KUERY,
            p.sort_field.as_deref().unwrap_or("updated_at"),
        )?;
        let order = sort_order(p.sort_order.map(schema::SortOrder::as_str))?;
        let mut tx = self.store.begin(Mode::Read).await?;
        let total = tx.count(Kind::AgentPolicy, &filter).await?;
        let docs = tx
            .find(
                Kind::AgentPolicy,
                &Query {
                    filter,
                    sort: vec![(sort_field.to_string(), order)],
                    offset: (page - 1) * per_page,
                    limit: Some(per_page),
                    search_after: None,
                },
            )
            .await?;
        let mut items: Vec<Value> = docs.iter().map(to_item).collect();
        let with_count = p.with_agent_count == Some(true) || p.no_agent_count == Some(false);
        if with_count && !items.is_empty() {
            let ids: Vec<String> = docs.iter().map(|d| d.id.clone()).collect();
            let counts = tx.count_agents_by_policy(&ids, true).await?;
            for (item, (_, n)) in items.iter_mut().zip(counts) {
                item["agents"] = json!(n);
            }
        }
        if p.full == Some(true) {
            for item in &mut items {
                let id = item["id"].as_str().unwrap_or_default().to_string();
                item["package_policies"] =
                    crate::package_policies::items_of(tx.as_mut(), &id).await?;
            }
        }
        Ok(json!({ "items": items, "total": total, "page": page, "perPage": per_page }))
    }

    pub async fn get_agent_policy(&self, id: &str) -> Result<Value> {
        let mut tx = self.store.begin(Mode::Read).await?;
        let doc = tx
            .get(Kind::AgentPolicy, id)
            .await?
            .filter(|d| crate::space::visible(&d.body, "space_ids"))
            .ok_or_else(|| not_found(id))?;
        let mut item = to_item(&doc);
        item["package_policies"] = crate::package_policies::items_of(tx.as_mut(), id).await?;
        Ok(item)
    }

    pub async fn bulk_get_agent_policies(
        &self,
        body: &schema::BulkGetAgentPolicies,
    ) -> Result<Value> {
        let ids = &body.ids;
        let ignore_missing = body.ignore_missing.unwrap_or(false);
        let full = body.full.unwrap_or(false);
        let mut tx = self.store.begin(Mode::Read).await?;
        let mut items = Vec::with_capacity(ids.len());
        for id in ids {
            let found = tx
                .get(Kind::AgentPolicy, id)
                .await?
                .filter(|d| crate::space::visible(&d.body, "space_ids"));
            match found {
                Some(doc) => {
                    let mut item = to_item(&doc);
                    if full {
                        item["package_policies"] =
                            crate::package_policies::items_of(tx.as_mut(), id).await?;
                    }
                    items.push(item)
                }
                None if ignore_missing => {}
                None => return Err(FleetError::NotFound(format!("Agent policy {id} not found"))),
            }
        }
        Ok(json!({ "items": items }))
    }

    pub async fn create_agent_policy(
        &self,
        who: &Principal,
        policy: &schema::NewAgentPolicy,
        sys_monitoring: bool,
    ) -> Result<Value> {
        let body = &attributes(policy);
        // sys_monitoring adds the newest `system` package's default policy.
        let system = if sys_monitoring {
            let version = self.latest_package_version("system", false).await.map_err(|e| {
                FleetError::BadRequest(format!(
                    "sys_monitoring=true adds the system integration, and no package source has the system package ({e}): add it to --package-dir, upload it, or configure a reachable --registry-url"
                ))
            })?;
            Some(self.package("system", &version).await?)
        } else {
            None
        };
        // Monitoring uses the elastic_agent package when a source has it; a policy with
        // monitoring works without it (Kibana bundles it for air-gapped installs).
        let monitoring = policy
            .monitoring_enabled
            .as_ref()
            .is_some_and(|m| !m.is_empty());
        // Once installed, no source is asked again: without this every policy with monitoring
        // would search the registry (a network round trip) on creation.
        let installed = if monitoring {
            let mut tx = self.store.begin(Mode::Read).await?;
            Self::installed(tx.as_mut(), "elastic_agent")
                .await?
                .is_some()
        } else {
            false
        };
        let elastic_agent = if monitoring && !installed {
            match self.latest_package_version("elastic_agent", false).await {
                Ok(v) => self.package("elastic_agent", &v).await.ok(),
                Err(_) => None,
            }
        } else {
            None
        };
        let id = match policy.id.as_deref() {
            Some(id) if !id.is_empty() => id.to_string(),
            _ => uuid::Uuid::new_v4().to_string(),
        };
        let mut attrs = Map::new();
        for (k, v) in body.as_object().expect("validated as an object") {
            if !NOT_ATTRIBUTES.contains(&k.as_str()) {
                attrs.insert(k.clone(), v.clone());
            }
        }
        attrs.entry("description").or_insert(json!(""));
        attrs
            .entry("inactivity_timeout")
            .or_insert(json!(DEFAULT_INACTIVITY_TIMEOUT));
        attrs.entry("is_managed").or_insert(json!(false));
        attrs.entry("is_protected").or_insert(json!(false));
        attrs
            .entry("space_ids")
            .or_insert(json!([crate::space::current()]));
        attrs.insert("status".into(), json!("active"));
        attrs.insert("revision".into(), json!(1));
        attrs.insert("updated_at".into(), json!(now()));
        attrs.insert("updated_by".into(), json!(who.username));
        attrs.insert("schema_version".into(), json!(SCHEMA_VERSION));
        let attrs = Value::Object(attrs);

        let mut tx = self.store.begin(Mode::Write).await?;
        require_settings_exist(tx.as_mut(), &attrs).await?;
        self.require_namespace_prefix(tx.as_mut(), &attrs).await?;
        require_unique_name(
            tx.as_mut(),
            attrs["name"].as_str().unwrap_or_default(),
            None,
        )
        .await?;
        let doc = tx.insert(Kind::AgentPolicy, &id, &attrs).await?;
        enrollment_api_keys::create_default(tx.as_mut(), &id).await?;
        crate::uninstall_tokens::create_token(tx.as_mut(), &id).await?;
        if let Some(pkg) = &elastic_agent {
            self.install_in_tx(tx.as_mut(), who, pkg, "registry", false)
                .await?;
        }
        if let Some(system) = &system {
            let name = self.next_system_policy_name(tx.as_mut()).await?;
            let request = crate::package_policy_requests::PackagePolicyRequest {
                name: Some(name),
                namespace: attrs["namespace"].as_str().map(str::to_string),
                policy_ids: Some(vec![id.clone()]),
                package: Some(crate::package_policy_requests::PackageRef::new(
                    "system",
                    &system.version,
                )),
                ..Default::default()
            };
            self.create_package_policy_in(who, &request, Some(tx.as_mut()))
                .await?;
        }
        let package_policies = crate::package_policies::items_of(tx.as_mut(), &id).await?;
        tx.commit().await?;
        tracing::info!(agent_policy_id = %id, "agent policy created");
        let mut item = to_item(&doc);
        if system.is_some() {
            item["package_policies"] = package_policies;
        }
        Ok(item)
    }

    pub async fn update_agent_policy(
        &self,
        who: &Principal,
        id: &str,
        policy: &schema::UpdateAgentPolicy,
    ) -> Result<Value> {
        let body = &attributes(policy);
        let force = policy.force.unwrap_or(false);
        let mut tx = self.store.begin(Mode::Write).await?;
        let existing = tx
            .get(Kind::AgentPolicy, id)
            .await?
            .filter(|d| crate::space::visible(&d.body, "space_ids"))
            .ok_or_else(|| not_found(id))?;
        let changes: Vec<(&String, &Value)> = body
            .as_object()
            .expect("validated as an object")
            .iter()
            .filter(|(k, _)| !NOT_ATTRIBUTES.contains(&k.as_str()))
            .collect();
        if existing.body["is_managed"] == json!(true) && !force {
            if let Some((key, _)) = changes
                .iter()
                .find(|(k, v)| existing.body.get(k.as_str()) != Some(v))
            {
                return Err(FleetError::BadRequest(format!(
                    "Cannot update {key}{MANAGED_SUFFIX}"
                )));
            }
        }
        require_unique_name(tx.as_mut(), &policy.name, Some(id)).await?;
        require_settings_exist(tx.as_mut(), body).await?;
        self.require_namespace_prefix(tx.as_mut(), body).await?;
        let mut attrs = existing.body.as_object().cloned().unwrap_or_default();
        for (k, v) in changes {
            attrs.insert(k.clone(), v.clone());
        }
        let revision = existing.body["revision"].as_i64().unwrap_or(0) + 1;
        attrs.insert("revision".into(), json!(revision));
        attrs.insert("updated_at".into(), json!(now()));
        attrs.insert("updated_by".into(), json!(who.username));
        let doc = tx
            .update(
                Kind::AgentPolicy,
                id,
                Some(existing.version),
                &Value::Object(attrs),
            )
            .await?;
        tx.notify_policy_change(id, revision).await?;
        tx.commit().await?;
        // Agents holding a check-in on this policy get the new revision now (on this node; other
        // nodes hear the notification).
        self.hub.policy_changed(id, revision);
        let mut item = to_item(&doc);
        let mut tx = self.store.begin(Mode::Read).await?;
        item["package_policies"] = crate::package_policies::items_of(tx.as_mut(), id).await?;
        Ok(item)
    }

    pub async fn copy_agent_policy(
        &self,
        who: &Principal,
        id: &str,
        body: &schema::CopyAgentPolicy,
    ) -> Result<Value> {
        let name = body.name.as_str();
        let mut tx = self.store.begin(Mode::Write).await?;
        let base = tx
            .get(Kind::AgentPolicy, id)
            .await?
            .filter(|d| crate::space::visible(&d.body, "space_ids"))
            .ok_or_else(|| not_found(id))?;
        require_unique_name(tx.as_mut(), name, None).await?;
        let mut attrs = base.body.as_object().cloned().unwrap_or_default();
        // What Kibana does not carry over to a copy: identity, history and management.
        for k in [
            "is_managed",
            "is_default",
            "is_default_fleet_server",
            "is_preconfigured",
            "has_fleet_server",
        ] {
            attrs.remove(k);
        }
        attrs.insert("name".into(), json!(name));
        attrs.insert(
            "description".into(),
            json!(body.description.as_deref().unwrap_or("")),
        );
        attrs.insert("is_managed".into(), json!(false));
        attrs.insert("status".into(), json!("active"));
        attrs.insert("revision".into(), json!(1));
        attrs.insert("updated_at".into(), json!(now()));
        attrs.insert("updated_by".into(), json!(who.username));
        attrs.insert("schema_version".into(), json!(SCHEMA_VERSION));
        let new_id = uuid::Uuid::new_v4().to_string();
        let doc = tx
            .insert(Kind::AgentPolicy, &new_id, &Value::Object(attrs))
            .await?;
        let copies = self
            .copy_package_policies(tx.as_mut(), who, id, &new_id)
            .await?;
        enrollment_api_keys::create_default(tx.as_mut(), &new_id).await?;
        crate::uninstall_tokens::create_token(tx.as_mut(), &new_id).await?;
        tx.commit().await?;
        let mut item = to_item(&doc);
        item["package_policies"] = Value::Array(copies);
        Ok(item)
    }

    pub async fn delete_agent_policy(&self, body: &schema::DeleteAgentPolicy) -> Result<Value> {
        let id = body.agent_policy_id.as_str();
        let force = body.force.unwrap_or(false);
        let mut tx = self.store.begin(Mode::Write).await?;
        let doc = tx
            .get(Kind::AgentPolicy, id)
            .await?
            .filter(|d| crate::space::visible(&d.body, "space_ids"))
            .ok_or_else(|| not_found(id))?;
        if doc.body["is_managed"] == json!(true) && !force {
            return Err(FleetError::BadRequest(format!(
                "Cannot delete hosted agent policy {id}{MANAGED_SUFFIX}"
            )));
        }
        let agents = tx.count_agents_by_policy(&[id.to_string()], false).await?;
        if agents.first().map(|(_, n)| *n).unwrap_or(0) > 0 {
            return Err(FleetError::BadRequest(
                "Cannot delete an agent policy that is assigned to any active or inactive agents"
                    .into(),
            ));
        }
        enrollment_api_keys::delete_for_policy(tx.as_mut(), id).await?;
        self.delete_package_policies_of(tx.as_mut(), id).await?;
        tx.delete(Kind::AgentPolicy, id).await?;
        // Deleted on purpose: the preconfiguration must not create it again at the next start.
        if doc.body["is_preconfigured"] == json!(true)
            && !force
            && tx
                .get(Kind::PreconfigurationDeletionRecord, id)
                .await?
                .is_none()
        {
            tx.insert(
                Kind::PreconfigurationDeletionRecord,
                id,
                &json!({ "id": id, "deleted_at": crate::time::now() }),
            )
            .await?;
        }
        tx.commit().await?;
        tracing::info!(agent_policy_id = %id, "agent policy deleted");
        Ok(json!({ "id": id, "name": doc.body["name"] }))
    }

    /// `GET /agent_policies/{id}/auto_upgrade_agents_status`: agents per required version.
    pub async fn auto_upgrade_agents_status(&self, id: &str) -> Result<Value> {
        let mut tx = self.store.begin(Mode::Read).await?;
        let doc = tx
            .get(Kind::AgentPolicy, id)
            .await?
            .filter(|d| crate::space::visible(&d.body, "space_ids"))
            .ok_or_else(|| not_found(id))?;
        let total = tx.count_agents_by_policy(&[id.to_string()], true).await?;
        let total = total.first().map(|(_, n)| *n).unwrap_or(0);
        let versions = tx.agent_versions_by_policy(id).await?;
        let current: Vec<Value> = doc.body["required_versions"]
            .as_array()
            .map(|rv| {
                rv.iter()
                    .filter_map(|r| r["version"].as_str())
                    .map(|v| {
                        let n = versions.iter().find(|(ver, _)| ver == v).map(|(_, n)| *n).unwrap_or(0);
                        json!({ "version": v, "agents": n, "failedUpgradeAgents": 0, "failedUpgradeActionIds": [] })
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(json!({ "currentVersions": current, "totalAgents": total }))
    }

    /// With space settings naming namespace prefixes, a policy's namespace must use one.
    async fn require_namespace_prefix(&self, tx: &mut dyn store::Tx, attrs: &Value) -> Result<()> {
        let Some(namespace) = attrs["namespace"].as_str() else {
            return Ok(());
        };
        let prefixes = self.allowed_namespace_prefixes(tx).await?;
        if prefixes.is_empty() || prefixes.iter().any(|p| namespace.starts_with(p.as_str())) {
            return Ok(());
        }
        Err(FleetError::BadRequest(format!(
            "Invalid namespace, supported namespace prefixes: {}",
            prefixes.join(", ")
        )))
    }

    /// Gives every agent policy matching `filter` a new revision (a setting it uses changed),
    /// inside the caller's transaction; returns (policy id, revision) for [`Fleet::announce`].
    pub(crate) async fn bump_policies(
        &self,
        tx: &mut dyn store::Tx,
        filter: &store::Filter,
    ) -> Result<Vec<(String, i64)>> {
        let policies = tx
            .find(
                Kind::AgentPolicy,
                &store::Query {
                    filter: filter.clone(),
                    ..Default::default()
                },
            )
            .await?;
        let at = now();
        let mut bumped = Vec::with_capacity(policies.len());
        for p in policies {
            let mut body = p.body.clone();
            let revision = body["revision"].as_i64().unwrap_or(0) + 1;
            body["revision"] = json!(revision);
            body["updated_at"] = json!(at);
            tx.update(Kind::AgentPolicy, &p.id, Some(p.version), &body)
                .await?;
            tx.notify_policy_change(&p.id, revision).await?;
            bumped.push((p.id, revision));
        }
        Ok(bumped)
    }

    /// After the commit: agents holding check-ins on these policies get the new revisions.
    pub(crate) fn announce(&self, bumped: &[(String, i64)]) {
        for (id, revision) in bumped {
            self.hub.policy_changed(id, *revision);
        }
    }

    pub(crate) async fn load_agent_policy(&self, id: &str) -> Result<Doc> {
        let mut tx = self.store.begin(Mode::Read).await?;
        tx.get(Kind::AgentPolicy, id)
            .await?
            .filter(|d| crate::space::visible(&d.body, "space_ids"))
            .ok_or_else(|| not_found(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces() {
        assert!(validate_namespace("default").is_ok());
        assert!(validate_namespace("prod_1").is_ok());
        for (ns, msg) in [
            ("", "Namespace is required"),
            ("Prod", "Namespace must be lowercase"),
            ("a-b", "Namespace contains invalid characters"),
            ("a b", "Namespace contains invalid characters"),
            ("a:b", "Namespace contains invalid characters"),
        ] {
            let e = validate_namespace(ns).unwrap_err().to_string();
            assert_eq!(e, format!("[request body.namespace]: {msg}"), "{ns}");
        }
        assert!(validate_namespace(&"a".repeat(100)).is_ok());
        assert!(validate_namespace(&"a".repeat(101)).is_err());
        assert!(
            validate_namespace(&"é".repeat(51)).is_err(),
            "limit is in bytes"
        );
    }

    #[test]
    fn copy_names() {
        assert_eq!(copy_name("nginx-1", &[]), "nginx-1 (copy)");
        assert_eq!(
            copy_name("nginx-1", &["nginx-1 (copy)"]),
            "nginx-1 (copy 2)"
        );
        assert_eq!(
            copy_name("nginx-1 (copy)", &["nginx-1 (copy)"]),
            "nginx-1 (copy 2)"
        );
        assert_eq!(
            copy_name("nginx-1", &["nginx-1 (copy)", "nginx-1 (copy 2)"]),
            "nginx-1 (copy 3)"
        );
    }
}
