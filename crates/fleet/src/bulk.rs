//! Bulk actions over any number of agents, in batches.
//!
//! A bulk request stores its action and a job (the request as a spec) in one transaction and
//! returns the action id. The job then walks the selected agents in id order, a batch per
//! transaction: it targets the eligible ones (one statement), applies the action's side effects
//! to them, records an error result for each one it refuses, and moves its cursor to the last id
//! of the batch — all in that same transaction. A crash or restart therefore loses nothing and
//! repeats nothing: whichever node picks the job up again continues after the last committed
//! batch. The first batches run inside the request (small selections finish before it answers);
//! the rest run in the background, and action_status shows the progress.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use store::{Filter, Mode, Scalar, Tx};

use crate::actions::{not_upgradeable_reason, semver, MANAGED_SUFFIX};
use crate::agents::{bulk_selector, column_target, upgradeable};
use crate::error::{FleetError, Result};
use crate::time::now;
use crate::Fleet;

/// Agents per batch unless the request names `batchSize` (Kibana's default page is 10,000).
pub const DEFAULT_BATCH_SIZE: u64 = 10_000;
/// Agents per batch while the request is still open.
const INLINE_BATCH_SIZE: u64 = 1_000;
/// How long a request keeps processing batches before leaving the rest to the background.
const INLINE_BUDGET: Duration = Duration::from_millis(250);
/// An unfinished job nobody advanced for this long is taken over (its node stopped).
pub const STALE_AFTER: Duration = Duration::from_secs(30);

/// What a bulk job does, stored with it so that any node can resume it.
pub(crate) struct Spec {
    /// The action type: UPGRADE, POLICY_REASSIGN, UNENROLL, FORCE_UNENROLL, REQUEST_DIAGNOSTICS.
    pub kind: String,
    /// The request body.
    pub request: Value,
    /// Agents enrolled after this are not part of a kuery selection.
    pub snapshot: String,
    /// The space of the request: only agents on its policies are selected, whichever node runs
    /// the job and whenever.
    pub space: String,
}

impl Spec {
    fn to_json(&self) -> Value {
        json!({ "type": self.kind, "request": self.request, "snapshot": self.snapshot, "space": self.space })
    }

    fn from_json(v: &Value) -> Spec {
        Spec {
            kind: v["type"].as_str().unwrap_or_default().to_string(),
            request: v["request"].clone(),
            snapshot: v["snapshot"].as_str().unwrap_or_default().to_string(),
            // Jobs stored before spaces were recorded ran in the default space.
            space: v["space"]
                .as_str()
                .unwrap_or(crate::space::DEFAULT_SPACE)
                .to_string(),
        }
    }

    fn force(&self) -> bool {
        self.request["force"] == json!(true)
    }

    fn by_kuery(&self) -> bool {
        self.request["agents"].is_string()
    }

    fn batch_size(&self) -> u64 {
        self.request["batchSize"]
            .as_f64()
            .filter(|n| *n >= 1.0)
            .map(|n| (n as u64).min(DEFAULT_BATCH_SIZE))
            .unwrap_or(DEFAULT_BATCH_SIZE)
    }
}

/// Hosted (managed) agent policy ids.
pub(crate) async fn hosted_policies(tx: &mut dyn Tx) -> Result<HashSet<String>> {
    let hosted = tx
        .find(
            store::Kind::AgentPolicy,
            &store::Query {
                filter: Filter::Eq(store::doc_field("is_managed"), Scalar::Bool(true)),
                ..Default::default()
            },
        )
        .await?;
    Ok(hosted.into_iter().map(|p| p.id).collect())
}

fn on_policies(ids: &HashSet<String>) -> Filter {
    Filter::Or(
        ids.iter()
            .map(|p| Filter::Eq(column_target("policy_id"), Scalar::Str(p.clone())))
            .collect(),
    )
}

fn not(f: Filter) -> Filter {
    Filter::Not(Box::new(f))
}

/// The agents a job selects: the request's ids or kuery, among the agents of its space. A kuery selects only agents enrolled before the request, and leaves out
/// agents on hosted policies unless forced (as Kibana does); named agents on hosted policies
/// are selected and refused with an error result.
fn selection(spec: &Spec, hosted: &HashSet<String>, in_space: &Filter) -> Result<Filter> {
    let include_inactive = spec.request["includeInactive"] == json!(true);
    let mut filters = vec![
        bulk_selector(&spec.request["agents"], include_inactive)?,
        in_space.clone(),
    ];
    if spec.by_kuery() {
        filters.push(Filter::Range(
            column_target("enrolled_at"),
            kuery::RangeOp::Lte,
            Scalar::Str(spec.snapshot.clone()),
        ));
        if !spec.force() && !hosted.is_empty() {
            filters.push(not(on_policies(hosted)));
        }
    }
    Ok(Filter::And(filters))
}

/// The selected agents that get the action; the rest get an error result ([`refusal`]).
fn eligible(spec: &Spec, hosted: &HashSet<String>) -> Result<Filter> {
    let doc = store::doc_field;
    let mut filters = Vec::new();
    let hosted_refused = !spec.force() || spec.kind == "POLICY_REASSIGN";
    if hosted_refused && !hosted.is_empty() && spec.kind != "REQUEST_DIAGNOSTICS" {
        filters.push(not(on_policies(hosted)));
    }
    match spec.kind.as_str() {
        "UPGRADE" => {
            let version = spec.request["version"].as_str().unwrap_or_default();
            let target = semver(version)
                .ok_or_else(|| FleetError::BadRequest(format!("Invalid version {version}")))?;
            if !spec.force() {
                filters.push(upgradeable(&format!(
                    "{}.{}.{}",
                    target.0, target.1, target.2
                )));
            } else {
                filters.push(not(Filter::Exists(doc("unenrollment_started_at"))));
                filters.push(not(Filter::Exists(doc("unenrolled_at"))));
            }
            if spec.request["skipRateLimitCheck"] != json!(true) {
                filters.push(not(Filter::Range(
                    doc("upgraded_at"),
                    kuery::RangeOp::Gt,
                    Scalar::Str(recent_upgrade_cutoff()),
                )));
            }
        }
        "POLICY_REASSIGN" => {
            let policy_id = spec.request["policy_id"].as_str().unwrap_or_default();
            filters.push(not(Filter::Eq(
                column_target("policy_id"),
                Scalar::Str(policy_id.into()),
            )));
        }
        _ => {}
    }
    Ok(Filter::And(filters))
}

/// Upgrades after this time are recent: another one waits (Kibana's 10-minute cooldown).
fn recent_upgrade_cutoff() -> String {
    (chrono::Utc::now() - chrono::Duration::minutes(crate::actions::UPGRADE_COOLDOWN_MIN))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Why a selected agent was not actioned, in Kibana's words.
fn refusal(spec: &Spec, hosted: &HashSet<String>, id: &str, doc: &Value) -> String {
    let policy_id = doc["policy_id"].as_str().unwrap_or_default();
    let on_hosted = hosted.contains(policy_id);
    match spec.kind.as_str() {
        "UPGRADE" => {
            if on_hosted && !spec.force() {
                return format!(
                    "Cannot upgrade agent in hosted agent policy {policy_id}{MANAGED_SUFFIX}"
                );
            }
            let version = spec.request["version"].as_str().unwrap_or_default();
            let reason = not_upgradeable_reason(doc, version, spec.force())
                .unwrap_or_else(|| "agent is already being upgraded.".to_string());
            format!("Agent {id} is not upgradeable: {reason}")
        }
        "POLICY_REASSIGN" => {
            let target = spec.request["policy_id"].as_str().unwrap_or_default();
            if policy_id == target {
                format!("{id} is already assigned to {target}")
            } else {
                format!(
                    "Cannot reassign an agent from hosted agent policy {policy_id}{MANAGED_SUFFIX}"
                )
            }
        }
        _ => format!("Cannot unenroll {id} from a hosted agent policy {policy_id}{MANAGED_SUFFIX}"),
    }
}

/// What the targeted agents' documents get when actioned.
fn side_effect(spec: &Spec, at: &str) -> Option<Value> {
    match spec.kind.as_str() {
        "UPGRADE" => {
            Some(json!({ "upgrade_started_at": at, "upgraded_at": null, "updated_at": at }))
        }
        "POLICY_REASSIGN" => Some(json!({
            "policy_id": spec.request["policy_id"],
            "policy_revision_idx": null,
            "updated_at": at,
        })),
        "UNENROLL" => Some(json!({ "unenrollment_started_at": at, "updated_at": at })),
        _ => None,
    }
}

impl Fleet {
    /// Stores `action` (the action document, without `total`) and its job, then processes
    /// batches for a moment; whatever remains continues in the background.
    pub(crate) async fn start_bulk(&self, spec: Spec, action: Value) -> Result<String> {
        // Refuse a bad selector before anything is stored.
        selection(&spec, &HashSet::new(), &Filter::All)?;
        let action_id = action["action_id"]
            .as_str()
            .expect("actions carry their id")
            .to_string();
        let mut tx = self.store.begin(Mode::Write).await?;
        let mut action = action;
        crate::actions::sign_action(tx.as_mut(), &mut action).await?;
        tx.action_insert(
            &action_id,
            &spec.kind,
            &action,
            action["@timestamp"].as_str().unwrap_or_default(),
            action["expiration"].as_str(),
        )
        .await?;
        tx.job_insert(&action_id, &spec.to_json(), &now()).await?;
        tx.commit().await?;
        let deadline = Instant::now() + INLINE_BUDGET;
        if !self.run_job(&action_id, Some(deadline)).await? {
            self.spawn_job(action_id.clone());
        }
        Ok(action_id)
    }

    /// Continues a job in the background until it is done or the server shuts down (unless
    /// this node runs it already).
    pub fn spawn_job(&self, action_id: String) {
        if !self
            .running_jobs
            .lock()
            .expect("jobs lock poisoned")
            .insert(action_id.clone())
        {
            return;
        }
        let fleet = self.clone();
        tokio::spawn(async move {
            if let Err(e) = fleet.run_job(&action_id, None).await {
                // The job stays unfinished; the periodic sweep retries it.
                tracing::warn!(action_id, error = %e, "bulk action batch failed");
            }
            fleet
                .running_jobs
                .lock()
                .expect("jobs lock poisoned")
                .remove(&action_id);
        });
    }

    /// Resumes the unfinished jobs nobody advanced for `idle` (all of them with zero: after a
    /// restart), e.g. when the node running one stopped. Returns how many it started.
    pub async fn resume_jobs(&self, idle: Duration) -> Result<usize> {
        let before = (chrono::Utc::now()
            - chrono::Duration::from_std(idle).expect("a small duration"))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let before = if idle.is_zero() {
            "9999".to_string()
        } else {
            before
        };
        let ids = {
            let mut tx = self.store.begin(Mode::Read).await?;
            tx.jobs_unfinished(&before).await?
        };
        for id in &ids {
            tracing::info!(action_id = %id, "resuming bulk action");
            self.spawn_job(id.clone());
        }
        Ok(ids.len())
    }

    /// Runs batches until the job is done (true), the deadline passes or the server shuts down
    /// (false).
    pub(crate) async fn run_job(&self, action_id: &str, deadline: Option<Instant>) -> Result<bool> {
        let shutdown = self.hub.shutdown_signal();
        loop {
            if *shutdown.borrow() {
                return Ok(false);
            }
            // Inside a request, small batches: the answer must not wait for a large one.
            let cap = if deadline.is_some() {
                INLINE_BATCH_SIZE
            } else {
                u64::MAX
            };
            if self.run_batch(action_id, cap).await? {
                return Ok(true);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(false);
            }
        }
    }

    /// One batch in one transaction; true when the job is done.
    async fn run_batch(&self, action_id: &str, cap: u64) -> Result<bool> {
        let mut tx = self.store.begin(Mode::Write).await?;
        let Some(job) = tx.job_get(action_id, true).await? else {
            return Ok(true);
        };
        if job.done {
            return Ok(true);
        }
        let spec = Spec::from_json(&job.spec);
        let Some(mut action) = tx.action_get(action_id).await? else {
            return Ok(true);
        };
        let at = now();
        // A cancelled action targets nobody else.
        if !action.body["cancellation_time"].is_null() {
            tx.job_advance(action_id, job.cursor.as_deref(), true, &at)
                .await?;
            tx.commit().await?;
            return Ok(true);
        }
        let hosted = hosted_policies(tx.as_mut()).await?;
        let in_space =
            crate::space::scope(spec.space.clone(), crate::agents::in_space(tx.as_mut())).await?;
        let selected = selection(&spec, &hosted, &in_space)?;
        // Kibana's `total` (agents selected) grows by each batch, so no batch waits for a count
        // of the whole selection; it is exact once the job is done.
        let mut total = action.body["total"].as_u64().unwrap_or(0);
        if job.cursor.is_none() && action.body.get("total").is_none() {
            // The first batch answers named agents that do not exist.
            if let Some(ids) = spec.request["agents"].as_array() {
                let names: Vec<String> = ids
                    .iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect();
                // An agent of another space is not found, as in that space's own lists.
                let visible = Filter::And(vec![
                    bulk_selector(&spec.request["agents"], true)?,
                    in_space.clone(),
                ]);
                let found: HashSet<String> = tx
                    .agent_ids(&visible, None, names.len() as u64 + 1)
                    .await?
                    .into_iter()
                    .collect();
                for id in names.iter().filter(|id| !found.contains(*id)) {
                    let error = format!("Agent {id} not found");
                    let doc = json!({ "@timestamp": at, "action_id": action_id, "agent_id": id, "error": error });
                    if tx
                        .action_result_insert(action_id, id, &doc, &at, Some(&error))
                        .await?
                    {
                        total += 1;
                    }
                }
            }
        }
        let batch = spec.batch_size().min(cap);
        let ids = tx
            .agent_ids(&selected, job.cursor.as_deref(), batch)
            .await?;
        total += ids.len() as u64;
        if action.body["total"].as_u64() != Some(total) {
            action.body["total"] = json!(total);
            tx.action_update_doc(action_id, &action.body).await?;
        }
        let Some(last) = ids.last().cloned() else {
            tx.job_advance(action_id, job.cursor.as_deref(), true, &at)
                .await?;
            tx.commit().await?;
            return Ok(true);
        };
        // The batch's agents are known: only eligibility is evaluated, by primary key.
        let targeted = tx
            .action_target_ids(action_id, &ids, &eligible(&spec, &hosted)?)
            .await?;
        if let Some(patch) = side_effect(&spec, &at) {
            tx.agents_patch_for_action(action_id, job.cursor.as_deref(), Some(&last), &patch)
                .await?;
        }
        if spec.kind == "FORCE_UNENROLL" {
            // Nothing to deliver: the agents are unenrolled and answered at once.
            self.unenroll_now(tx.as_mut(), &targeted).await?;
            for id in &targeted {
                let doc = json!({ "@timestamp": at, "action_id": action_id, "agent_id": id });
                tx.action_result_insert(action_id, id, &doc, &at, None)
                    .await?;
            }
        }
        let actioned: HashSet<&String> = targeted.iter().collect();
        for id in ids.iter().filter(|id| !actioned.contains(id)) {
            let Some(row) = tx.agent_get(id).await? else {
                continue;
            };
            let error = refusal(&spec, &hosted, id, &row.doc.body);
            let doc =
                json!({ "@timestamp": at, "action_id": action_id, "agent_id": id, "error": error });
            tx.action_result_insert(action_id, id, &doc, &at, Some(&error))
                .await?;
        }
        let done = (ids.len() as u64) < batch;
        tx.job_advance(action_id, Some(&last), done, &at).await?;
        tx.commit().await?;
        if spec.kind != "FORCE_UNENROLL" {
            self.announce_actions(&targeted);
        }
        Ok(done)
    }

    /// Whether a bulk action's job is still selecting agents.
    pub(crate) async fn job_running(tx: &mut dyn Tx, action_id: &str) -> Result<bool> {
        Ok(tx.job_get(action_id, false).await?.is_some_and(|j| !j.done))
    }
}
