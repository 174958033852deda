//! Preconfiguration: outputs, Fleet Server hosts, proxies, download sources and agent policies
//! declared in the configuration file, created or brought up to date at every start-up and
//! marked `is_preconfigured` (the API then refuses to change or delete them) — Kibana's
//! `xpack.fleet.*` preconfiguration, as policy-as-code.

use serde_json::{json, Value};
use store::{Filter, Kind, Mode, Query, Scalar};

use crate::auth::{Principal, Role};
use crate::error::{FleetError, Result};
use crate::hosts::{Setting, DOWNLOAD_SOURCES, FLEET_SERVER_HOSTS, PROXIES};
use crate::package_policy_requests::{CreatePackagePolicy, PackagePolicyRequest, RequestInputs};
use crate::Fleet;

/// The sections, in the order they are applied (what others refer to first).
const SECTIONS: &[&str] = &[
    "proxies",
    "outputs",
    "fleet_server_hosts",
    "agent_download_sources",
    "packages",
    "agent_policies",
];

fn entries<'a>(section: &'a Value, name: &str) -> Result<Vec<&'a Value>> {
    // Packages are named, not given ids.
    let key = if name == "packages" { "name" } else { "id" };
    match section.get(name) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                if item[key].as_str().is_none_or(str::is_empty) {
                    return Err(FleetError::BadRequest(format!(
                        "preconfiguration {name}[{i}]: an {key} is required"
                    )));
                }
            }
            Ok(items.iter().collect())
        }
        Some(_) => Err(FleetError::BadRequest(format!(
            "preconfiguration {name}: expected a list"
        ))),
    }
}

impl Fleet {
    /// Applies the preconfiguration (an object with any of the sections); returns how many
    /// objects it created or updated.
    pub async fn apply_preconfiguration(&self, pre: &Value) -> Result<usize> {
        if let Some(unknown) = pre
            .as_object()
            .and_then(|o| o.keys().find(|k| !SECTIONS.contains(&k.as_str())))
        {
            return Err(FleetError::BadRequest(format!(
                "preconfiguration: unknown section {unknown} (expected one of {})",
                SECTIONS.join(", ")
            )));
        }
        let mut changed = 0;
        for (name, setting) in [
            ("proxies", Some(&PROXIES)),
            ("outputs", None),
            ("fleet_server_hosts", Some(&FLEET_SERVER_HOSTS)),
            ("agent_download_sources", Some(&DOWNLOAD_SOURCES)),
        ] {
            for item in entries(pre, name)? {
                changed += usize::from(self.preconfigure_setting(setting, item).await?);
            }
        }
        for item in entries(pre, "packages")? {
            changed += usize::from(self.preconfigure_package(item).await?);
        }
        for item in entries(pre, "agent_policies")? {
            changed += usize::from(self.preconfigure_policy(item).await?);
        }
        // Proxies last: an output or host deleted here may have been what used one.
        for (name, setting) in [
            ("outputs", None),
            ("fleet_server_hosts", Some(&FLEET_SERVER_HOSTS)),
            ("agent_download_sources", Some(&DOWNLOAD_SOURCES)),
            ("proxies", Some(&PROXIES)),
        ] {
            let declared: Vec<&str> = entries(pre, name)?
                .iter()
                .filter_map(|i| i["id"].as_str())
                .collect();
            changed += self.release_undeclared(setting, &declared).await?;
        }
        Ok(changed)
    }

    /// Objects marked preconfigured that the file no longer declares, as Kibana's setup treats
    /// them: a default (output, Fleet Server host, download source) or a proxy still in use
    /// stays and becomes editable; anything else is deleted, references to it cleared and the
    /// policies using it given a new revision. Returns how many it changed.
    async fn release_undeclared(
        &self,
        setting: Option<&Setting>,
        declared: &[&str],
    ) -> Result<usize> {
        let kind = setting.map_or(Kind::Output, Setting::kind);
        let marked = {
            let mut tx = self.store.begin(Mode::Read).await?;
            let query = Query {
                filter: Filter::Eq(store::doc_field("is_preconfigured"), Scalar::Bool(true)),
                ..Default::default()
            };
            tx.find(kind, &query).await?
        };
        let mut changed = 0;
        for doc in marked.iter().filter(|d| !declared.contains(&d.id.as_str())) {
            let keep = match kind {
                Kind::Proxy => self.proxy_in_use(&doc.id).await?,
                _ => {
                    doc.body["is_default"] == json!(true)
                        || doc.body["is_default_monitoring"] == json!(true)
                }
            };
            if keep {
                self.set_preconfigured(kind, &doc.id, false).await?;
                tracing::info!(kind = kind.as_str(), id = %doc.id, "no longer preconfigured; kept");
            } else {
                match setting {
                    None => self.delete_output_as(&doc.id, true).await?,
                    Some(s) => self.delete_setting_as(s, &doc.id, true).await?,
                };
                tracing::info!(kind = kind.as_str(), id = %doc.id, "no longer preconfigured; deleted");
            }
            changed += 1;
        }
        Ok(changed)
    }

    /// Whether an output, Fleet Server host or download source goes through proxy `id`.
    async fn proxy_in_use(&self, id: &str) -> Result<bool> {
        let mut tx = self.store.begin(Mode::Read).await?;
        let uses = Filter::Eq(store::doc_field("proxy_id"), Scalar::Str(id.into()));
        for kind in crate::hosts::PROXY_USERS {
            if tx.count(*kind, &uses).await? > 0 {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// One output (`setting` None) or settings object: created, or updated when it differs.
    async fn preconfigure_setting(&self, setting: Option<&Setting>, item: &Value) -> Result<bool> {
        let id = item["id"].as_str().unwrap_or_default().to_string();
        let kind = setting.map_or(Kind::Output, Setting::kind);
        let mut body = item.clone();
        if let Some(o) = body.as_object_mut() {
            o.remove("is_preconfigured");
        }
        let existing = {
            let mut tx = self.store.begin(Mode::Read).await?;
            tx.get(kind, &id).await?
        };
        match existing {
            None => {
                match setting {
                    None => self.create_output_as(&body, true).await?,
                    Some(s) => self.create_setting(s, &body).await?,
                };
            }
            Some(doc) => {
                let same = body
                    .as_object()
                    .into_iter()
                    .flatten()
                    .filter(|(k, _)| k.as_str() != "id")
                    .all(|(k, v)| doc.body.get(k) == Some(v));
                if same && doc.body["is_preconfigured"] == json!(true) {
                    return Ok(false);
                }
                if let Some(o) = body.as_object_mut() {
                    o.remove("id");
                }
                match setting {
                    None => self.update_output_as(&id, &body, true).await?,
                    Some(s) => self.update_setting_as(s, &id, &body, true).await?,
                };
            }
        }
        self.set_preconfigured(kind, &id, true).await?;
        tracing::info!(kind = kind.as_str(), id, "preconfigured");
        Ok(true)
    }

    async fn set_preconfigured(&self, kind: Kind, id: &str, marked: bool) -> Result<()> {
        let mut tx = self.store.begin(Mode::Write).await?;
        if let Some(doc) = tx.get(kind, id).await? {
            if doc.body["is_preconfigured"] != json!(marked) {
                let mut body = doc.body.clone();
                body["is_preconfigured"] = json!(marked);
                tx.update(kind, id, Some(doc.version), &body).await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// One package (`name`, optional `version`, else the newest a source has): installed unless
    /// that version already is.
    async fn preconfigure_package(&self, item: &Value) -> Result<bool> {
        let name = item["name"].as_str().unwrap_or_default();
        let version = match item["version"].as_str() {
            Some(v) => v.to_string(),
            None => self.latest_package_version(name, false).await?,
        };
        let installed = {
            let mut tx = self.store.begin(Mode::Read).await?;
            Self::installed(tx.as_mut(), name).await?
        };
        if installed.is_some_and(|d| d["version"] == json!(version)) {
            return Ok(false);
        }
        self.install_package(&preconfigurer(), name, Some(&version), false, false)
            .await?;
        tracing::info!(package = name, %version, "preconfigured package installed");
        Ok(true)
    }

    /// One agent policy: created with its id, or updated (forced) when a field differs; then
    /// its `package_policies`.
    async fn preconfigure_policy(&self, item: &Value) -> Result<bool> {
        let package_policies = match item.get("package_policies") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(list)) => list.clone(),
            Some(_) => {
                return Err(FleetError::BadRequest(
                    "preconfiguration agent_policies[].package_policies: expected a list".into(),
                ))
            }
        };
        let mut item = item.clone();
        if let Some(o) = item.as_object_mut() {
            o.remove("package_policies");
        }
        let id = item["id"].as_str().unwrap_or_default().to_string();
        // A user deleted it: the file no longer brings it back (Kibana's deletion record).
        let deleted = {
            let mut tx = self.store.begin(Mode::Read).await?;
            tx.get(Kind::PreconfigurationDeletionRecord, &id).await?
        };
        if deleted.is_some() {
            tracing::info!(
                agent_policy_id = id,
                "preconfigured agent policy was deleted by a user; not created again"
            );
            return Ok(false);
        }
        let mut changed = self.preconfigure_policy_only(&item).await?;
        for pp in &package_policies {
            changed |= self.preconfigure_package_policy(&id, pp).await?;
        }
        Ok(changed)
    }

    /// A package policy of a preconfigured agent policy, in the API's simplified format (`name`,
    /// `package.name`, optional `package.version`, `id`, `namespace`, `description`, `vars`,
    /// `inputs`). Created, or updated when what it compiles to differs from what is stored.
    async fn preconfigure_package_policy(&self, policy_id: &str, item: &Value) -> Result<bool> {
        let name = item["name"].as_str().unwrap_or_default();
        if name.is_empty() {
            return Err(FleetError::BadRequest(format!(
                "preconfiguration agent policy {policy_id}: each package policy needs a name"
            )));
        }
        let id = item["id"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| format!("{policy_id}-{name}"));
        let pkg_name = item["package"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let version = match item["package"]["version"].as_str() {
            Some(v) => v.to_string(),
            None => self.latest_package_version(&pkg_name, false).await?,
        };
        let mut body = item.clone();
        body["id"] = json!(id);
        body["policy_ids"] = json!([policy_id]);
        body["package"] = json!({ "name": pkg_name, "version": version });
        body["force"] = json!(true);
        // The file's package policy is held to the API's contract, either format.
        let mut request: PackagePolicyRequest =
            contract::parse::<CreatePackagePolicy>("package policy", body)
                .map_err(|m| {
                    FleetError::BadRequest(format!(
                        "preconfiguration agent policy {policy_id}: {m}"
                    ))
                })?
                .into();
        let existing = {
            let mut tx = self.store.begin(Mode::Read).await?;
            tx.get(Kind::PackagePolicy, &id).await?
        };
        let who = preconfigurer();
        match existing {
            None => {
                self.create_package_policy(&who, &request, Default::default())
                    .await?;
            }
            Some(doc) => {
                if !self.package_policy_differs(&doc, &request).await? {
                    return Ok(false);
                }
                // What the file does not say returns to the package's defaults.
                request.id = None;
                if request.inputs.is_none() {
                    request.inputs = Some(RequestInputs::Simplified(Default::default()));
                }
                self.update_package_policy(&who, &id, &request, Default::default())
                    .await?;
            }
        }
        tracing::info!(
            package_policy_id = id,
            agent_policy_id = policy_id,
            "preconfigured"
        );
        Ok(true)
    }

    async fn preconfigure_policy_only(&self, item: &Value) -> Result<bool> {
        let who = preconfigurer();
        let id = item["id"].as_str().unwrap_or_default().to_string();
        let existing = {
            let mut tx = self.store.begin(Mode::Read).await?;
            tx.get(Kind::AgentPolicy, &id).await?
        };
        match existing {
            None => {
                let policy = contract::parse(PRECONFIGURED_POLICY, item.clone())
                    .map_err(FleetError::BadRequest)?;
                self.create_agent_policy(&who, &policy, false).await?;
            }
            Some(doc) => {
                let mut body = item.clone();
                if let Some(o) = body.as_object_mut() {
                    o.remove("id");
                }
                let same = body
                    .as_object()
                    .into_iter()
                    .flatten()
                    .all(|(k, v)| doc.body.get(k) == Some(v));
                if same && doc.body["is_preconfigured"] == json!(true) {
                    return Ok(false);
                }
                body["force"] = json!(true);
                let policy =
                    contract::parse(PRECONFIGURED_POLICY, body).map_err(FleetError::BadRequest)?;
                self.update_agent_policy(&who, &id, &policy).await?;
            }
        }
        self.set_preconfigured(Kind::AgentPolicy, &id, true).await?;
        tracing::info!(agent_policy_id = id, "preconfigured");
        Ok(true)
    }
}

/// Where a preconfigured agent policy's errors say they are (as a request body's would).
const PRECONFIGURED_POLICY: &str = "request body";

/// Who preconfiguration acts as (`created_by` / `updated_by`).
fn preconfigurer() -> Principal {
    Principal {
        username: "flotilla".into(),
        role: Role::Superuser,
        api_key_id: None,
    }
}
