//! Bulk package operations, `POST /epm/packages/_bulk_upgrade`, `_bulk_uninstall` and
//! `_bulk_rollback`, and the rollback of one package (`POST /epm/packages/{name}/rollback`): Kibana
//! checks every package is installed, schedules a task and answers its id; the status read
//! (`GET .../{taskId}`) says `pending` until the task is done, then `success`, or `failed` when
//! any package failed, with a result per package. Flotilla installs no Elasticsearch or Kibana
//! assets, so the work is short: it runs before the answer, and the task document keeps the
//! outcome for the status read on any node sharing the store.

use serde_json::{json, Value};
use store::{Filter, Kind, Mode, Query, Scalar};

use crate::auth::Principal;
use crate::epm_requests::{BulkRollbackPackages, BulkUninstallPackages, BulkUpgradePackages};
use crate::error::{FleetError, Result};
use crate::time::now;
use crate::Fleet;

/// A bulk package operation's request, as its route's body type.
#[derive(Debug, Clone)]
pub enum PackageTaskRequest {
    Upgrade(BulkUpgradePackages),
    Uninstall(BulkUninstallPackages),
    Rollback(BulkRollbackPackages),
}

impl PackageTaskRequest {
    fn task(&self) -> PackageTask {
        match self {
            PackageTaskRequest::Upgrade(_) => PackageTask::Upgrade,
            PackageTaskRequest::Uninstall(_) => PackageTask::Uninstall,
            PackageTaskRequest::Rollback(_) => PackageTask::Rollback,
        }
    }

    fn names(&self) -> Vec<&str> {
        match self {
            PackageTaskRequest::Upgrade(b) => b.packages.iter().map(|p| p.name.as_str()).collect(),
            PackageTaskRequest::Uninstall(b) => {
                b.packages.iter().map(|p| p.name.as_str()).collect()
            }
            PackageTaskRequest::Rollback(b) => b.packages.iter().map(|p| p.name.as_str()).collect(),
        }
    }
}

/// Which bulk package operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PackageTask {
    Upgrade,
    Uninstall,
    Rollback,
}

impl PackageTask {
    /// Kibana's task `type`.
    fn name(self) -> &'static str {
        match self {
            PackageTask::Upgrade => "bulk_upgrade",
            PackageTask::Uninstall => "bulk_uninstall",
            PackageTask::Rollback => "bulk_rollback",
        }
    }

    fn verb(self) -> &'static str {
        match self {
            PackageTask::Upgrade => "upgrade",
            PackageTask::Uninstall => "uninstall",
            PackageTask::Rollback => "rollback",
        }
    }
}

/// A task's status from its per-package results, as Kibana derives it.
fn status(results: &Value) -> &'static str {
    let failed = results
        .as_array()
        .is_some_and(|r| r.iter().any(|x| x["success"] != json!(true)));
    if failed {
        "failed"
    } else {
        "success"
    }
}

impl Fleet {
    /// `POST /epm/packages/_bulk_upgrade`, `_bulk_uninstall` and `_bulk_rollback`:
    /// `{"taskId": ...}`.
    pub async fn start_package_task(
        &self,
        who: &Principal,
        request: &PackageTaskRequest,
    ) -> Result<Value> {
        let task = request.task();
        let missing: Vec<&str> = {
            let mut tx = self.store.begin(Mode::Read).await?;
            let mut missing = Vec::new();
            for name in request.names() {
                if Self::installed(tx.as_mut(), name).await?.is_none() {
                    missing.push(name);
                }
            }
            missing
        };
        if !missing.is_empty() {
            return Err(FleetError::BadRequest(format!(
                "Cannot {} non-installed packages: {}",
                task.verb(),
                missing.join(", ")
            )));
        }
        // One package after the other, each on its own; a failure is that package's result.
        let mut outcomes: Vec<(&str, Result<()>)> = Vec::new();
        match request {
            PackageTaskRequest::Upgrade(b) => {
                let flag = |f: Option<bool>| f.unwrap_or(false);
                for p in &b.packages {
                    let outcome = self
                        .upgrade_one(
                            who,
                            &p.name,
                            p.version.as_deref(),
                            flag(b.prerelease),
                            flag(b.force),
                            flag(b.upgrade_package_policies),
                        )
                        .await;
                    outcomes.push((&p.name, outcome));
                }
            }
            PackageTaskRequest::Uninstall(b) => {
                for p in &b.packages {
                    let outcome = self
                        .uninstall_package(&p.name, Some(&p.version), b.force.unwrap_or(false))
                        .await
                        .map(|_| ());
                    outcomes.push((&p.name, outcome));
                }
            }
            PackageTaskRequest::Rollback(b) => {
                for p in &b.packages {
                    let outcome = self.rollback_package(who, &p.name).await.map(|_| ());
                    outcomes.push((&p.name, outcome));
                }
            }
        }
        let results: Vec<Value> = outcomes
            .into_iter()
            .map(|(name, outcome)| match outcome {
                Ok(()) => json!({ "name": name, "success": true }),
                Err(e) => {
                    tracing::warn!(package = name, task = task.name(), error = %e, "bulk package operation failed");
                    json!({ "name": name, "success": false, "error": { "message": e.to_string() } })
                }
            })
            .collect();
        let id = uuid::Uuid::new_v4().to_string();
        let doc = json!({
            "type": task.name(),
            "results": results,
            "created_at": now(),
            "created_by": who.username,
        });
        let mut tx = self.store.begin(Mode::Write).await?;
        tx.insert(Kind::PackageTask, &id, &doc).await?;
        tx.commit().await?;
        tracing::info!(task_id = %id, task = task.name(), status = status(&doc["results"]), "bulk package operation done");
        Ok(json!({ "taskId": id }))
    }

    /// `GET /epm/packages/_bulk_upgrade/{taskId}` / `_bulk_uninstall/{taskId}`.
    pub async fn package_task_status(&self, task: PackageTask, id: &str) -> Result<Value> {
        let mut tx = self.store.begin(Mode::Read).await?;
        let doc = tx
            .get(Kind::PackageTask, id)
            .await?
            .filter(|d| d.body["type"] == json!(task.name()))
            .ok_or_else(|| {
                FleetError::NotFound(format!(
                    "Saved object [task/fleet:packages-bulk-operations:{id}] not found"
                ))
            })?;
        let results = doc.body["results"].clone();
        Ok(json!({ "status": status(&results), "results": results }))
    }

    /// `POST /epm/packages/{name}/rollback`: the package back to the version its last upgrade
    /// replaced, and every package policy of the request's space that uses it back to what it
    /// was then (refused unless each has that copy, on that version), in one transaction.
    pub async fn rollback_package(&self, who: &Principal, name: &str) -> Result<Value> {
        let bad = |m: &str| FleetError::BadRequest(m.to_string());
        let (previous, policies) = {
            let mut tx = self.store.begin(Mode::Read).await?;
            let installed = Self::installed(tx.as_mut(), name).await?.ok_or_else(|| {
                FleetError::BadRequest(format!("Cannot rollback non-installed packages: {name}"))
            })?;
            let previous = installed["previous_version"]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| bad("No previous version found for package"))?;
            let mut policies = Vec::new();
            for doc in self.package_policies_using(tx.as_mut(), name).await? {
                let prev = tx
                    .get(Kind::PackagePolicyPrevious, &doc.id)
                    .await?
                    .ok_or_else(|| bad("No previous version found for least one package policy"))?;
                if prev.body["package"]["version"].as_str() != Some(previous.as_str()) {
                    return Err(bad("Wrong previous version for least one package policy"));
                }
                policies.push((doc, prev));
            }
            (previous, policies)
        };
        let package = self.package(name, &previous).await.map_err(|e| {
            FleetError::BadRequest(format!(
                "Failed to rollback package {name} to version {previous}: {e}"
            ))
        })?;
        let mut tx = self.store.begin(Mode::Write).await?;
        self.install_in_tx(tx.as_mut(), who, &package, "registry", true)
            .await?;
        let mut agent_policies: Vec<String> = Vec::new();
        let mut replaced_secrets = Vec::new();
        for (doc, prev) in &policies {
            let mut body = prev.body.clone();
            body["revision"] = json!(doc.body["revision"].as_i64().unwrap_or(0) + 1);
            body["updated_at"] = json!(now());
            body["updated_by"] = json!(who.username);
            tx.update(Kind::PackagePolicy, &doc.id, Some(doc.version), &body)
                .await?;
            tx.delete(Kind::PackagePolicyPrevious, &doc.id).await?;
            replaced_secrets.extend(crate::secrets::references(&doc.body));
            for id in crate::validate::string_array(&doc.body["policy_ids"])
                .into_iter()
                .chain(crate::validate::string_array(&body["policy_ids"]))
            {
                if !agent_policies.contains(&id) {
                    agent_policies.push(id);
                }
            }
        }
        crate::secrets::delete_unreferenced(tx.as_mut(), &replaced_secrets).await?;
        let bumped = self
            .bump_agent_policies(tx.as_mut(), &agent_policies)
            .await?;
        tx.commit().await?;
        self.announce(&bumped);
        tracing::info!(package = name, version = %previous, package_policies = policies.len(), "package rolled back");
        Ok(json!({ "version": previous, "success": true }))
    }

    /// The package policies of the request's space that use package `name`.
    async fn package_policies_using(
        &self,
        tx: &mut dyn store::Tx,
        name: &str,
    ) -> Result<Vec<store::Doc>> {
        let query = Query {
            filter: Filter::And(vec![
                Filter::Eq(store::doc_field("package.name"), Scalar::Str(name.into())),
                crate::space::filter("spaceIds"),
            ]),
            ..Default::default()
        };
        Ok(tx.find(Kind::PackagePolicy, &query).await?)
    }

    /// One package of a bulk upgrade: installed at `version` (else the newest a source has),
    /// then, when asked, the package policies of the request's space that use it upgraded too.
    async fn upgrade_one(
        &self,
        who: &Principal,
        name: &str,
        version: Option<&str>,
        prerelease: bool,
        force: bool,
        upgrade_policies: bool,
    ) -> Result<()> {
        self.install_package(who, name, version, prerelease, force)
            .await?;
        if !upgrade_policies {
            return Ok(());
        }
        let ids: Vec<String> = {
            let mut tx = self.store.begin(Mode::Read).await?;
            self.package_policies_using(tx.as_mut(), name)
                .await?
                .into_iter()
                .map(|d| d.id)
                .collect()
        };
        if ids.is_empty() {
            return Ok(());
        }
        let outcome = self
            .upgrade_package_policies(
                who,
                &crate::package_policies::UpgradePackagePolicies {
                    package_policy_ids: ids,
                },
                false,
            )
            .await?;
        let errors: Vec<String> = outcome
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| r["success"] != json!(true))
            .map(|r| {
                format!(
                    "{}: {}",
                    r["statusCode"],
                    r["body"]["message"].as_str().unwrap_or_default()
                )
            })
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(FleetError::BadRequest(format!(
                "Package policies upgrade for {name} failed:\n{}",
                errors.join("\n")
            )))
        }
    }
}
