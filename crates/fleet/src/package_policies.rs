//! Package (integration) policies: Kibana's `packagePolicyService` without Elasticsearch. A
//! request in either format becomes the full format, is validated against its package, compiled
//! (every enabled stream's template rendered into `compiled_stream`) and stored; each agent
//! policy it belongs to gets a new revision in the same transaction.

use serde_json::{json, Map, Value};
use std::sync::Arc;
use store::{Doc, Kind, Mode, Query, Tx};

use crate::auth::Principal;
use crate::common::version_string;
use crate::error::{FleetError, Result};
use crate::package_policy_requests::{PackagePolicyRequest, PackageRef, RequestInputs};
use crate::query::{filter, page_window, sort_field, sort_order};
use crate::time::now;
use crate::Fleet;
use kuery::{field, FieldType as F, Schema};
use packages::{policy, Package};

/// `POST /api/fleet/package_policies/_bulk_get`.
#[derive(Debug, Clone, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BulkGetPackagePolicies {
    pub ids: Vec<String>,
    pub ignore_missing: Option<bool>,
}

impl contract::Request for BulkGetPackagePolicies {}

/// `POST /api/fleet/package_policies/delete`.
#[derive(Debug, Clone, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DeletePackagePolicies {
    pub package_policy_ids: Vec<String>,
    /// Delete even from hosted agent policies.
    pub force: Option<bool>,
}

impl contract::Request for DeletePackagePolicies {}

/// `POST /api/fleet/package_policies/upgrade` and `upgrade/dryrun`.
#[derive(Debug, Clone, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UpgradePackagePolicies {
    pub package_policy_ids: Vec<String>,
}

impl contract::Request for UpgradePackagePolicies {}

/// Fields a `kuery` or `sortField` may name on package policies.
pub static KUERY: Schema = Schema {
    prefix: "ingest-package-policies",
    fields: &[
        field("name", F::Keyword),
        field("description", F::Text),
        field("namespace", F::Keyword),
        field("enabled", F::Boolean),
        field("policy_id", F::Keyword),
        field("policy_ids", F::KeywordArray),
        field("output_id", F::Keyword),
        field("package.name", F::Keyword),
        field("package.title", F::Keyword),
        field("package.version", F::Keyword),
        field("revision", F::Number),
        field("created_at", F::Date),
        field("created_by", F::Keyword),
        field("updated_at", F::Date),
        field("updated_by", F::Keyword),
        field("is_managed", F::Boolean),
        field("supports_agentless", F::Boolean),
    ],
};

/// `format=` of package policy responses: `inputs` as Kibana stores them (`legacy`, the
/// default) or as maps (`simplified`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Simplified,
    #[default]
    Legacy,
}

/// `sortOrder` of the package policy list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PackagePolicySortOrder {
    Desc,
    Asc,
}

/// The query of `GET /api/fleet/package_policies`.
#[derive(Debug, Clone, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ListPackagePoliciesQuery {
    pub page: Option<f64>,
    pub per_page: Option<f64>,
    pub sort_field: Option<String>,
    pub sort_order: Option<PackagePolicySortOrder>,
    pub show_upgradeable: Option<bool>,
    pub kuery: Option<String>,
    pub format: Option<Format>,
    pub with_agent_count: Option<bool>,
}

impl contract::Request for ListPackagePoliciesQuery {}

impl ListPackagePoliciesQuery {
    /// What the list service takes.
    pub fn params(&self) -> ListParams {
        ListParams {
            page: self.page,
            per_page: self.per_page,
            sort_field: self.sort_field.clone(),
            sort_order: self.sort_order.map(|o| {
                match o {
                    PackagePolicySortOrder::Desc => "desc",
                    PackagePolicySortOrder::Asc => "asc",
                }
                .to_string()
            }),
            kuery: self.kuery.clone(),
            format: self.format.unwrap_or_default(),
            with_agent_count: self.with_agent_count.unwrap_or(false),
        }
    }
}

/// The query of the routes that answer package policies (`format`).
#[derive(Debug, Clone, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PackagePolicyFormatQuery {
    pub format: Option<Format>,
}

impl contract::Request for PackagePolicyFormatQuery {}

/// The query of `DELETE /api/fleet/package_policies/{id}`.
#[derive(Debug, Clone, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeletePackagePolicyQuery {
    /// Delete even from a hosted agent policy.
    pub force: Option<bool>,
}

impl contract::Request for DeletePackagePolicyQuery {}

/// What the package policy list takes.
#[derive(Debug, Clone, Default)]
pub struct ListParams {
    pub page: Option<f64>,
    pub per_page: Option<f64>,
    pub sort_field: Option<String>,
    pub sort_order: Option<String>,
    pub kuery: Option<String>,
    pub format: Format,
    pub with_agent_count: bool,
}

fn bad(msg: impl Into<String>) -> FleetError {
    FleetError::BadRequest(msg.into())
}

fn not_found(id: &str) -> FleetError {
    FleetError::NotFound(format!("Package policy {id} not found"))
}

/// The `package` of a package policy: name, title, version.
fn package_ref(p: &Package) -> Value {
    json!({ "name": p.name, "title": p.title, "version": p.version })
}

/// The wire form of a stored package policy.
pub(crate) fn to_item(doc: &Doc) -> Value {
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

/// Deletes a stored package policy, its copy kept for a rollback and the secrets only they used,
/// inside the caller's transaction.
async fn delete_stored(tx: &mut dyn Tx, doc: &Doc) -> Result<()> {
    tx.delete(Kind::PackagePolicy, &doc.id).await?;
    let prev = tx.get(Kind::PackagePolicyPrevious, &doc.id).await?;
    tx.delete(Kind::PackagePolicyPrevious, &doc.id).await?;
    let mut refs = crate::secrets::references(&doc.body);
    refs.extend(
        prev.iter()
            .flat_map(|p| crate::secrets::references(&p.body)),
    );
    crate::secrets::delete_unreferenced(tx, &refs).await
}

/// `secret_references` for the secrets the policy's vars refer to; absent when none, as in
/// Kibana.
fn set_secret_references(attrs: &mut Map<String, Value>) {
    let refs = crate::secrets::references_json(attrs.get("vars"), attrs.get("inputs"));
    if refs.as_array().is_some_and(|r| !r.is_empty()) {
        attrs.insert("secret_references".into(), refs);
    } else {
        attrs.remove("secret_references");
    }
}

/// Kibana: another package policy with this name anywhere is a 409.
async fn require_unique_name(tx: &mut dyn Tx, name: &str, self_id: Option<&str>) -> Result<()> {
    tx.lock_kind(Kind::PackagePolicy).await?;
    let same = tx
        .find(
            Kind::PackagePolicy,
            &Query {
                filter: store::Filter::Eq(
                    store::doc_field("name"),
                    store::Scalar::Str(name.into()),
                ),
                ..Default::default()
            },
        )
        .await?;
    if same.iter().any(|d| Some(d.id.as_str()) != self_id) {
        return Err(FleetError::Conflict(format!(
            "An integration policy with the name {name} already exists. Please rename it or choose a different name."
        )));
    }
    Ok(())
}

/// What a request builds, before it is stored: the package and the full-format attributes.
struct Built {
    package: Arc<Package>,
    vars: Option<Value>,
    inputs: Value,
}

impl Fleet {
    /// Turns a request's `inputs`/`vars` (either format) into full-format, validated inputs.
    /// `existing` are the stored inputs/vars an update keeps where the request says nothing.
    fn build_inputs(
        &self,
        package: Arc<Package>,
        req: &PackagePolicyRequest,
        existing: Option<(&Value, Option<&Value>)>,
    ) -> Result<Built> {
        let (mut inputs, mut vars) = match (&req.inputs, existing) {
            (Some(RequestInputs::Full(list)), _) => {
                let inputs = Value::Array(list.clone());
                policy::check_full_inputs(&package, &inputs).map_err(|e| bad(e.0))?;
                // Kibana: the request's vars, else the stored ones (update) or the package's
                // defaults (create).
                let vars = match existing {
                    Some((_, vars)) => vars.cloned(),
                    None => policy::default_vars(&package),
                };
                (inputs, vars)
            }
            (None, Some((inputs, vars))) => (inputs.clone(), vars.cloned()),
            // A simplified request starts from the package's defaults.
            _ => (
                policy::default_inputs(&package),
                policy::default_vars(&package),
            ),
        };
        if let (Some(given), false) = (&req.vars, req.simplified_vars) {
            vars = Some(Value::Object(given.clone()));
        }
        let given_inputs = match &req.inputs {
            Some(RequestInputs::Simplified(map)) => Some(map),
            _ => None,
        };
        if req.simplified_vars || given_inputs.is_some() {
            let given_vars = req.vars.as_ref().filter(|_| req.simplified_vars);
            policy::apply_simplified(&package, &mut vars, &mut inputs, given_vars, given_inputs)
                .map_err(|e| bad(e.0))?;
        }
        policy::align_inputs(&mut inputs);
        policy::validate(&package, vars.as_ref(), &inputs).map_err(|e| bad(e.0))?;
        Ok(Built {
            package,
            vars,
            inputs,
        })
    }

    /// The agent policies a package policy goes into must exist and not be managed.
    async fn check_agent_policies(
        &self,
        tx: &mut dyn Tx,
        ids: &[String],
        force: bool,
        verb: &str,
    ) -> Result<Vec<Doc>> {
        let mut docs = Vec::with_capacity(ids.len());
        for id in ids {
            let doc = tx
                .get(Kind::AgentPolicy, id)
                .await?
                .filter(|d| crate::space::visible(&d.body, "space_ids"))
                .ok_or_else(|| FleetError::NotFound("Agent policy not found".into()))?;
            if doc.body["is_managed"] == json!(true) && !force {
                return Err(bad(format!(
                    "Cannot {verb} integrations of hosted agent policy {id}"
                )
                .replace("Cannot add integrations of", "Cannot add integrations to")));
            }
            docs.push(doc);
        }
        Ok(docs)
    }

    /// Gives each agent policy a new revision inside the transaction.
    pub(crate) async fn bump_agent_policies(
        &self,
        tx: &mut dyn Tx,
        ids: &[String],
    ) -> Result<Vec<(String, i64)>> {
        let mut ids = ids.to_vec();
        ids.sort();
        ids.dedup();
        let at = now();
        let mut bumped = Vec::with_capacity(ids.len());
        for id in ids {
            let Some(p) = tx.get(Kind::AgentPolicy, &id).await? else {
                continue;
            };
            let mut body = p.body.clone();
            let revision = body["revision"].as_i64().unwrap_or(0) + 1;
            body["revision"] = json!(revision);
            body["updated_at"] = json!(at);
            tx.update(Kind::AgentPolicy, &id, Some(p.version), &body)
                .await?;
            tx.notify_policy_change(&id, revision).await?;
            bumped.push((id, revision));
        }
        Ok(bumped)
    }

    fn respond(&self, item: Value, format: Format, pkg: Option<&Package>) -> Value {
        match format {
            Format::Legacy => item,
            Format::Simplified => simplified_item(item, pkg),
        }
    }

    /// `POST /package_policies`.
    pub async fn create_package_policy(
        &self,
        who: &Principal,
        req: &PackagePolicyRequest,
        format: Format,
    ) -> Result<Value> {
        let item = self.create_package_policy_in(who, req, None).await?;
        Ok(json!({ "item": self.respond(item, format, None) }))
    }

    /// Creates a package policy; `tx` lets agent policy creation (`sys_monitoring`) add one in
    /// its own transaction.
    pub(crate) async fn create_package_policy_in(
        &self,
        who: &Principal,
        req: &PackagePolicyRequest,
        tx: Option<&mut dyn Tx>,
    ) -> Result<Value> {
        let name = req.name.as_deref().unwrap_or_default().trim().to_string();
        if name.is_empty() {
            return Err(bad("Package policy is invalid: name: Name is required"));
        }
        let Some(pkg) = &req.package else {
            return Err(bad("Package is required"));
        };
        let pkg_name = pkg.name.as_str();
        let package = self.package(pkg_name, &pkg.version).await?;
        if package.kind == "content" {
            return Err(bad("Cannot create policy for content only packages"));
        }
        let built = self.build_inputs(package, req, None)?;
        let id = match req.id.as_deref() {
            Some(id) if !id.is_empty() => id.to_string(),
            _ => uuid::Uuid::new_v4().to_string(),
        };
        let (mut inputs, mut vars) = (built.inputs, built.vars);
        let secrets = crate::secrets::extract(&built.package, &mut vars, &mut inputs);
        policy::compile(&built.package, &id, vars.as_ref(), &mut inputs).map_err(|e| bad(e.0))?;
        let policy_ids = req.policy_ids.clone().unwrap_or_default();
        let force = req.force;

        let mut own_tx = None;
        let tx: &mut dyn Tx = match tx {
            Some(t) => t,
            None => own_tx.insert(self.store.begin(Mode::Write).await?).as_mut(),
        };
        let agent_policies = self
            .check_agent_policies(tx, &policy_ids, force, "add")
            .await?;
        require_unique_name(tx, &name, None).await?;
        if let Some(Some(out)) = &req.output_id {
            if tx.get(Kind::Output, out).await?.is_none() {
                return Err(FleetError::NotFound(format!("Output {out} not found")));
            }
        }
        let namespace = req
            .namespace
            .clone()
            .filter(|s| !s.is_empty())
            .or_else(|| {
                agent_policies
                    .first()
                    .and_then(|p| p.body["namespace"].as_str().map(str::to_string))
            })
            .unwrap_or_else(|| "default".into());
        let at = now();
        let mut attrs = Map::new();
        attrs.insert("name".into(), json!(name));
        attrs.insert(
            "description".into(),
            json!(req.description.as_deref().unwrap_or_default()),
        );
        attrs.insert("namespace".into(), json!(namespace));
        attrs.insert("enabled".into(), json!(req.enabled.unwrap_or(true)));
        attrs.insert(
            "policy_id".into(),
            policy_ids.first().map(|s| json!(s)).unwrap_or(Value::Null),
        );
        attrs.insert("policy_ids".into(), json!(policy_ids));
        if let Some(out) = &req.output_id {
            attrs.insert("output_id".into(), json!(out));
        }
        attrs.insert("package".into(), package_ref(&built.package));
        attrs.insert("inputs".into(), inputs);
        if let Some(vars) = vars {
            attrs.insert("vars".into(), vars);
        }
        set_secret_references(&mut attrs);
        req.set_optional_attributes(&mut attrs);
        attrs.insert("is_managed".into(), json!(false));
        attrs.insert("spaceIds".into(), json!([crate::space::current()]));
        attrs.insert("revision".into(), json!(1));
        attrs.insert("created_at".into(), json!(at));
        attrs.insert("created_by".into(), json!(who.username));
        attrs.insert("updated_at".into(), json!(at));
        attrs.insert("updated_by".into(), json!(who.username));
        // Creating a policy installs its package, as Kibana does.
        self.install_in_tx(tx, who, &built.package, "registry", false)
            .await?;
        secrets.store(tx).await?;
        let doc = tx
            .insert(Kind::PackagePolicy, &id, &Value::Object(attrs))
            .await?;
        // Inside an agent policy's creation (sys_monitoring) the new policy stays at revision 1,
        // as in Kibana.
        if let Some(mut t) = own_tx {
            let bumped = self.bump_agent_policies(t.as_mut(), &policy_ids).await?;
            t.commit().await?;
            self.announce(&bumped);
        }
        tracing::info!(package_policy_id = %id, package = %pkg_name, "package policy created");
        Ok(to_item(&doc))
    }

    /// `GET /package_policies/{id}`.
    pub async fn get_package_policy(&self, id: &str, format: Format) -> Result<Value> {
        let mut tx = self.store.begin(Mode::Read).await?;
        let doc = tx
            .get(Kind::PackagePolicy, id)
            .await?
            .filter(|d| crate::space::visible(&d.body, "spaceIds"))
            .ok_or_else(|| not_found(id))?;
        drop(tx);
        let item = to_item(&doc);
        let pkg = self.item_package(&item).await;
        Ok(json!({ "item": self.respond(item, format, pkg.as_deref()) }))
    }

    async fn item_package(&self, item: &Value) -> Option<Arc<Package>> {
        let (n, v) = (
            item["package"]["name"].as_str()?,
            item["package"]["version"].as_str()?,
        );
        self.package(n, v).await.ok()
    }

    /// `GET /package_policies`.
    pub async fn list_package_policies(&self, p: &ListParams) -> Result<Value> {
        let (page, per_page) = page_window(p.page, p.per_page, 20)?;
        let filter = store::Filter::And(vec![
            crate::space::filter("spaceIds"),
            filter(&KUERY, p.kuery.as_deref())?,
        ]);
        let sort = sort_field(&KUERY, p.sort_field.as_deref().unwrap_or("updated_at"))?;
        let order = sort_order(p.sort_order.as_deref())?;
        let mut tx = self.store.begin(Mode::Read).await?;
        let total = tx.count(Kind::PackagePolicy, &filter).await?;
        let docs = tx
            .find(
                Kind::PackagePolicy,
                &Query {
                    filter,
                    sort: vec![(sort.to_string(), order)],
                    offset: (page - 1) * per_page,
                    limit: Some(per_page),
                    search_after: None,
                },
            )
            .await?;
        let mut items = Vec::with_capacity(docs.len());
        for doc in &docs {
            let mut item = to_item(doc);
            if p.with_agent_count {
                let ids = crate::validate::string_array(&item["policy_ids"]);
                let counts = tx.count_agents_by_policy(&ids, true).await?;
                item["agents"] = json!(counts.iter().map(|(_, n)| n).sum::<u64>());
            }
            items.push(item);
        }
        drop(tx);
        if p.format == Format::Simplified {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                let pkg = self.item_package(&item).await;
                out.push(simplified_item(item, pkg.as_deref()));
            }
            items = out;
        }
        Ok(json!({ "items": items, "total": total, "page": page, "perPage": per_page }))
    }

    /// `POST /package_policies/_bulk_get`.
    pub async fn bulk_get_package_policies(
        &self,
        body: &BulkGetPackagePolicies,
        format: Format,
    ) -> Result<Value> {
        let ids = &body.ids;
        let ignore_missing = body.ignore_missing.unwrap_or(false);
        let mut tx = self.store.begin(Mode::Read).await?;
        let mut items = Vec::new();
        let mut missing = Vec::new();
        for id in ids {
            let found = tx
                .get(Kind::PackagePolicy, id)
                .await?
                .filter(|d| crate::space::visible(&d.body, "spaceIds"));
            match found {
                Some(doc) => items.push(to_item(&doc)),
                None => missing.push(id.clone()),
            }
        }
        drop(tx);
        if !missing.is_empty() && !ignore_missing {
            return Err(FleetError::NotFound(format!(
                "Package policy {} not found",
                missing.join(", ")
            )));
        }
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let pkg = self.item_package(&item).await;
            out.push(self.respond(item, format, pkg.as_deref()));
        }
        Ok(json!({ "items": out }))
    }

    /// `PUT /package_policies/{id}`.
    pub async fn update_package_policy(
        &self,
        who: &Principal,
        id: &str,
        req: &PackagePolicyRequest,
        format: Format,
    ) -> Result<Value> {
        let existing = {
            let mut tx = self.store.begin(Mode::Read).await?;
            tx.get(Kind::PackagePolicy, id)
                .await?
                .filter(|d| crate::space::visible(&d.body, "spaceIds"))
                .ok_or_else(|| not_found(id))?
        };
        let old = &existing.body;
        let old_name = old["package"]["name"].as_str().unwrap_or_default();
        let old_version = old["package"]["version"].as_str().unwrap_or_default();
        let (pkg_name, pkg_version) = match &req.package {
            Some(p) => (p.name.clone(), p.version.clone()),
            None => (old_name.to_string(), old_version.to_string()),
        };
        if pkg_name != old_name {
            return Err(bad("Package name cannot be changed"));
        }
        let package = self.package(&pkg_name, &pkg_version).await?;
        let same_version = pkg_version == old_version;
        let keep = same_version.then(|| (&old["inputs"], old.get("vars")));
        let built = self.build_inputs(package, req, keep)?;
        let (mut inputs, mut vars) = (built.inputs, built.vars);
        let secrets = crate::secrets::extract(&built.package, &mut vars, &mut inputs);
        policy::compile(&built.package, id, vars.as_ref(), &mut inputs).map_err(|e| bad(e.0))?;
        let force = req.force;
        let old_ids = crate::validate::string_array(&old["policy_ids"]);
        let new_ids = req.policy_ids.clone().unwrap_or_else(|| old_ids.clone());

        let mut tx = self.store.begin(Mode::Write).await?;
        let current = tx
            .get(Kind::PackagePolicy, id)
            .await?
            .filter(|d| crate::space::visible(&d.body, "spaceIds"))
            .ok_or_else(|| not_found(id))?;
        if old["is_managed"] == json!(true) && !force {
            return Err(bad(format!("Cannot update managed package policy {id}")));
        }
        let changed: Vec<String> = new_ids
            .iter()
            .chain(&old_ids)
            .filter(|i| !(new_ids.contains(i) && old_ids.contains(i)))
            .cloned()
            .collect();
        self.check_agent_policies(tx.as_mut(), &changed, force, "update")
            .await?;
        self.check_agent_policies(tx.as_mut(), &new_ids, true, "update")
            .await?;
        if let Some(name) = &req.name {
            if name.trim().is_empty() {
                return Err(bad("Package policy is invalid: name: Name is required"));
            }
            require_unique_name(tx.as_mut(), name.trim(), Some(id)).await?;
        }
        let mut attrs = current.body.as_object().cloned().unwrap_or_default();
        if let Some(description) = &req.description {
            attrs.insert("description".into(), json!(description));
        }
        if let Some(namespace) = &req.namespace {
            attrs.insert("namespace".into(), json!(namespace));
        }
        if let Some(enabled) = req.enabled {
            attrs.insert("enabled".into(), json!(enabled));
        }
        if let Some(out) = &req.output_id {
            attrs.insert("output_id".into(), json!(out));
        }
        req.set_optional_attributes(&mut attrs);
        if let Some(name) = &req.name {
            attrs.insert("name".into(), json!(name.trim()));
        }
        attrs.insert(
            "policy_id".into(),
            new_ids.first().map(|s| json!(s)).unwrap_or(Value::Null),
        );
        attrs.insert("policy_ids".into(), json!(new_ids));
        attrs.insert("package".into(), package_ref(&built.package));
        attrs.insert("inputs".into(), inputs);
        match vars {
            Some(v) => attrs.insert("vars".into(), v),
            None => attrs.remove("vars"),
        };
        set_secret_references(&mut attrs);
        let revision = current.body["revision"].as_i64().unwrap_or(0) + 1;
        attrs.insert("revision".into(), json!(revision));
        attrs.insert("updated_at".into(), json!(now()));
        attrs.insert("updated_by".into(), json!(who.username));
        if !same_version {
            self.install_in_tx(tx.as_mut(), who, &built.package, "registry", false)
                .await?;
            // What a package rollback restores: the policy as it was on the old version.
            match tx.get(Kind::PackagePolicyPrevious, id).await? {
                Some(prev) => {
                    tx.update(
                        Kind::PackagePolicyPrevious,
                        id,
                        Some(prev.version),
                        &current.body,
                    )
                    .await?;
                }
                None => {
                    tx.insert(Kind::PackagePolicyPrevious, id, &current.body)
                        .await?;
                }
            }
        }
        secrets.store(tx.as_mut()).await?;
        let doc = tx
            .update(
                Kind::PackagePolicy,
                id,
                Some(current.version),
                &Value::Object(attrs),
            )
            .await?;
        // Secrets the update replaced go, unless another policy (a copy) still uses them.
        let kept = crate::secrets::references(&doc.body);
        let dropped: Vec<String> = crate::secrets::references(&current.body)
            .into_iter()
            .filter(|old| !kept.contains(old))
            .collect();
        crate::secrets::delete_unreferenced(tx.as_mut(), &dropped).await?;
        let all: Vec<String> = old_ids.iter().chain(&new_ids).cloned().collect();
        let bumped = self.bump_agent_policies(tx.as_mut(), &all).await?;
        tx.commit().await?;
        self.announce(&bumped);
        let item = to_item(&doc);
        Ok(json!({ "item": self.respond(item, format, Some(&built.package)) }))
    }

    /// `POST /package_policies/delete`: per-item results; each deletion its own transaction.
    pub async fn delete_package_policies(&self, body: &DeletePackagePolicies) -> Result<Value> {
        let ids = body.package_policy_ids.clone();
        let force = body.force.unwrap_or(false);
        let mut results = Vec::with_capacity(ids.len());
        for id in ids {
            match self.delete_one_package_policy(&id, force).await {
                Ok(doc) => {
                    let mut r = json!({
                        "id": id,
                        "name": doc.body["name"],
                        "success": true,
                        "package": doc.body["package"],
                        "policy_id": doc.body["policy_id"],
                        "policy_ids": doc.body["policy_ids"],
                    });
                    if let Some(o) = doc.body.get("output_id") {
                        r["output_id"] = o.clone();
                    }
                    results.push(r);
                }
                Err(e) => results.push(json!({
                    "id": id,
                    "success": false,
                    "statusCode": crate::error::status_code(&e),
                    "body": { "message": e.to_string() },
                })),
            }
        }
        Ok(Value::Array(results))
    }

    /// `DELETE /package_policies/{id}`.
    pub async fn delete_package_policy(&self, id: &str, force: bool) -> Result<Value> {
        self.delete_one_package_policy(id, force).await?;
        Ok(json!({ "id": id }))
    }

    async fn delete_one_package_policy(&self, id: &str, force: bool) -> Result<Doc> {
        let mut tx = self.store.begin(Mode::Write).await?;
        let doc = tx
            .get(Kind::PackagePolicy, id)
            .await?
            .filter(|d| crate::space::visible(&d.body, "spaceIds"))
            .ok_or_else(|| not_found(id))?;
        let ids = crate::validate::string_array(&doc.body["policy_ids"]);
        for pid in &ids {
            if let Some(p) = tx.get(Kind::AgentPolicy, pid).await? {
                if p.body["is_managed"] == json!(true) && !force {
                    return Err(bad(format!(
                        "Cannot remove integrations of hosted agent policy {pid}"
                    )));
                }
            }
        }
        if doc.body["is_managed"] == json!(true) && !force {
            return Err(bad(format!("Cannot delete managed package policy {id}")));
        }
        delete_stored(tx.as_mut(), &doc).await?;
        let bumped = self.bump_agent_policies(tx.as_mut(), &ids).await?;
        tx.commit().await?;
        self.announce(&bumped);
        tracing::info!(package_policy_id = %id, "package policy deleted");
        Ok(doc)
    }

    /// Deletes every package policy of an agent policy inside the caller's transaction (the
    /// agent policy is going away).
    pub(crate) async fn delete_package_policies_of(
        &self,
        tx: &mut dyn Tx,
        agent_policy_id: &str,
    ) -> Result<()> {
        for doc in package_policies_of(tx, agent_policy_id).await? {
            let mut ids = crate::validate::string_array(&doc.body["policy_ids"]);
            ids.retain(|i| i != agent_policy_id);
            if ids.is_empty() {
                delete_stored(tx, &doc).await?;
            } else {
                let mut body = doc.body.clone();
                body["policy_ids"] = json!(ids);
                body["policy_id"] = json!(ids[0]);
                tx.update(Kind::PackagePolicy, &doc.id, Some(doc.version), &body)
                    .await?;
            }
        }
        Ok(())
    }

    /// `POST /package_policies/upgrade` and `.../upgrade/dryrun`: moves each policy to the
    /// installed (or newest available) version of its package, keeping the values of vars that
    /// still exist.
    pub async fn upgrade_package_policies(
        &self,
        who: &Principal,
        body: &UpgradePackagePolicies,
        dry_run: bool,
    ) -> Result<Value> {
        let ids = body.package_policy_ids.clone();
        let mut results = Vec::new();
        for id in ids {
            let existing = {
                let mut tx = self.store.begin(Mode::Read).await?;
                tx.get(Kind::PackagePolicy, &id)
                    .await?
                    .filter(|d| crate::space::visible(&d.body, "spaceIds"))
            };
            let Some(existing) = existing else {
                results.push(json!({
                    "id": id, "success": false, "statusCode": 404,
                    "body": { "message": format!("Package policy {id} not found") },
                }));
                continue;
            };
            let name = existing.body["package"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let outcome = async {
                let target = self.latest_package_version(&name, false).await?;
                let package = self.package(&name, &target).await?;
                let upgraded = upgraded_body(&existing.body, &package);
                Ok::<_, FleetError>((package, upgraded))
            }
            .await;
            match (outcome, dry_run) {
                (Err(e), _) => results.push(json!({
                    "id": id, "name": existing.body["name"], "success": false,
                    "statusCode": crate::error::status_code(&e),
                    "body": { "message": e.to_string() },
                })),
                (Ok((package, upgraded)), true) => {
                    let built = self.build_inputs(package.clone(), &upgraded, None);
                    let (has_errors, next) = match built {
                        Ok(b) => {
                            let mut inputs = b.inputs;
                            let compiled =
                                policy::compile(&package, &id, b.vars.as_ref(), &mut inputs);
                            let mut next = existing.body.clone();
                            next["inputs"] = inputs;
                            next["package"]["version"] = json!(package.version);
                            (compiled.is_err(), next)
                        }
                        Err(_) => (true, existing.body.clone()),
                    };
                    let mut current = to_item(&existing);
                    current["id"] = json!(id);
                    results.push(json!({
                        "name": existing.body["name"],
                        "diff": [current, next],
                        "hasErrors": has_errors,
                    }));
                }
                (Ok((package, upgraded)), false) => {
                    let req = PackagePolicyRequest {
                        package: Some(PackageRef::new(&name, &package.version)),
                        ..upgraded
                    };
                    match self
                        .update_package_policy(who, &id, &req, Format::Legacy)
                        .await
                    {
                        Ok(_) => results.push(
                            json!({ "id": id, "name": existing.body["name"], "success": true }),
                        ),
                        Err(e) => results.push(json!({
                            "id": id, "name": existing.body["name"], "success": false,
                            "statusCode": crate::error::status_code(&e),
                            "body": { "message": e.to_string() },
                        })),
                    }
                }
            }
        }
        Ok(Value::Array(results))
    }
}

/// A full-format update for the new package version: the new default inputs with the stored
/// values of every var that still exists, and the stored enabled flags.
fn upgraded_body(old: &Value, package: &Package) -> PackagePolicyRequest {
    let mut inputs = policy::default_inputs(package);
    let mut vars = policy::default_vars(package);
    let carry = |from: &Value, to: &mut Value| {
        if let (Some(from), Some(to)) = (from.as_object(), to.as_object_mut()) {
            for (k, entry) in to.iter_mut() {
                if let Some(v) = from.get(k).and_then(|e| e.get("value")) {
                    entry["value"] = v.clone();
                }
            }
        }
    };
    if let Some(v) = vars.as_mut() {
        carry(&old["vars"], v);
    }
    for input in inputs.as_array_mut().into_iter().flatten() {
        let Some(prev) = old["inputs"].as_array().and_then(|l| {
            l.iter().find(|i| {
                i["type"] == input["type"] && i["policy_template"] == input["policy_template"]
            })
        }) else {
            continue;
        };
        input["enabled"] = prev["enabled"].clone();
        if let Some(v) = input.get_mut("vars") {
            carry(&prev["vars"], v);
        }
        for stream in input["streams"].as_array_mut().into_iter().flatten() {
            if let Some(ps) = prev["streams"].as_array().and_then(|l| {
                l.iter()
                    .find(|s| s["data_stream"]["dataset"] == stream["data_stream"]["dataset"])
            }) {
                stream["enabled"] = ps["enabled"].clone();
                if let Some(v) = stream.get_mut("vars") {
                    carry(&ps["vars"], v);
                }
            }
        }
    }
    PackagePolicyRequest {
        inputs: Some(RequestInputs::Full(
            inputs.as_array().cloned().unwrap_or_default(),
        )),
        vars: vars.and_then(|v| v.as_object().cloned()),
        ..Default::default()
    }
}

/// The simplified format of a package policy item (`format=simplified`).
pub(crate) fn simplified_item(mut item: Value, pkg: Option<&Package>) -> Value {
    let inputs = policy::simplified_inputs(pkg, &item["inputs"]);
    let vars = item.get("vars").and_then(policy::simplified_vars);
    if let Some(o) = item.as_object_mut() {
        o.insert("inputs".into(), inputs);
        match vars {
            Some(v) => o.insert("vars".into(), v),
            None => o.remove("vars"),
        };
    }
    item
}

/// Every package policy that belongs to the agent policy.
pub(crate) async fn package_policies_of(
    tx: &mut dyn Tx,
    agent_policy_id: &str,
) -> Result<Vec<Doc>> {
    Ok(tx
        .find(
            Kind::PackagePolicy,
            &Query {
                filter: store::Filter::AnyEq(
                    store::doc_field("policy_ids"),
                    store::Scalar::Str(agent_policy_id.into()),
                ),
                sort: vec![("created_at".into(), store::SortOrder::Asc)],
                ..Default::default()
            },
        )
        .await?)
}

/// The `package_policies` of an agent policy item.
pub(crate) async fn items_of(tx: &mut dyn Tx, agent_policy_id: &str) -> Result<Value> {
    Ok(Value::Array(
        package_policies_of(tx, agent_policy_id)
            .await?
            .iter()
            .map(to_item)
            .collect(),
    ))
}

impl Fleet {
    /// Copies every package policy of `from` into agent policy `to` (agent policy copy), named
    /// `<name> (copy)`, with fresh ids and stream ids.
    pub(crate) async fn copy_package_policies(
        &self,
        tx: &mut dyn Tx,
        who: &Principal,
        from: &str,
        to: &str,
    ) -> Result<Vec<Value>> {
        let originals = package_policies_of(tx, from).await?;
        if originals.is_empty() {
            return Ok(vec![]);
        }
        tx.lock_kind(Kind::PackagePolicy).await?;
        let all = tx.find(Kind::PackagePolicy, &Query::default()).await?;
        let mut taken: Vec<String> = all
            .iter()
            .filter_map(|d| d.body["name"].as_str().map(str::to_string))
            .collect();
        let at = now();
        let mut items = Vec::with_capacity(originals.len());
        for doc in originals {
            let name = {
                let refs: Vec<&str> = taken.iter().map(String::as_str).collect();
                crate::common::copy_name(doc.body["name"].as_str().unwrap_or_default(), &refs)
            };
            taken.push(name.clone());
            let new_id = uuid::Uuid::new_v4().to_string();
            let mut body = doc.body.clone();
            let package = self
                .package(
                    body["package"]["name"].as_str().unwrap_or_default(),
                    body["package"]["version"].as_str().unwrap_or_default(),
                )
                .await?;
            let vars = body.get("vars").cloned();
            policy::compile(&package, &new_id, vars.as_ref(), &mut body["inputs"])
                .map_err(|e| bad(e.0))?;
            body["name"] = json!(name);
            body["policy_id"] = json!(to);
            body["policy_ids"] = json!([to]);
            body["revision"] = json!(1);
            body["is_managed"] = json!(false);
            body["created_at"] = json!(at);
            body["created_by"] = json!(who.username);
            body["updated_at"] = json!(at);
            body["updated_by"] = json!(who.username);
            let copy = tx.insert(Kind::PackagePolicy, &new_id, &body).await?;
            items.push(to_item(&copy));
        }
        Ok(items)
    }
}

impl Fleet {
    /// The name of the next `system` package policy: `system-N`, N one above the highest.
    pub(crate) async fn next_system_policy_name(&self, tx: &mut dyn Tx) -> Result<String> {
        tx.lock_kind(Kind::PackagePolicy).await?;
        let all = tx.find(Kind::PackagePolicy, &Query::default()).await?;
        let highest = all
            .iter()
            .filter_map(|d| {
                d.body["name"]
                    .as_str()?
                    .strip_prefix("system-")?
                    .parse::<u64>()
                    .ok()
            })
            .max()
            .unwrap_or(0);
        Ok(format!("system-{}", highest + 1))
    }
}

impl Fleet {
    /// Whether a simplified request would store something other than `doc` holds (name,
    /// namespace, description, package version, vars or compiled inputs).
    pub(crate) async fn package_policy_differs(
        &self,
        doc: &Doc,
        req: &PackagePolicyRequest,
    ) -> Result<bool> {
        let old = &doc.body;
        let Some(pkg) = &req.package else {
            return Ok(false);
        };
        if old["package"]["version"].as_str() != Some(pkg.version.as_str()) {
            return Ok(true);
        }
        for (k, v) in [
            ("name", &req.name),
            ("namespace", &req.namespace),
            ("description", &req.description),
        ] {
            if let Some(v) = v {
                if old.get(k) != Some(&json!(v)) {
                    return Ok(true);
                }
            }
        }
        let package = self.package(&pkg.name, &pkg.version).await?;
        let mut fresh = req.clone();
        if fresh.inputs.is_none() {
            fresh.inputs = Some(RequestInputs::Simplified(Map::new()));
        }
        let built = self.build_inputs(package, &fresh, None)?;
        let mut inputs = built.inputs;
        policy::compile(&built.package, &doc.id, built.vars.as_ref(), &mut inputs)
            .map_err(|e| bad(e.0))?;
        // The request carries secret values, the stored policy references: compared with the
        // values filled in, an unchanged secret is not a change (nor a new secret every start).
        let refs = crate::secrets::references(old);
        let mut stored = json!({ "inputs": old["inputs"], "vars": old.get("vars") });
        if !refs.is_empty() {
            let mut tx = self.store.begin(Mode::Read).await?;
            let values = crate::secrets::values(tx.as_mut(), &refs).await?;
            crate::secrets::fill_in(&mut stored, &values);
        }
        Ok(inputs != stored["inputs"]
            || built.vars.as_ref() != stored.get("vars").filter(|v| !v.is_null()))
    }
}
