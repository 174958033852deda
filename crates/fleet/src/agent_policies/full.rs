//! The full agent policy: what an agent runs, assembled from the stored policy and Fleet's
//! configuration (`GET /agent_policies/{id}/full` and `/download`, and later POLICY_CHANGE).
//! Outputs, Fleet Server hosts and download sources become stored objects with the Fleet
//! settings issue; until then they come from [`crate::FleetConfig`].

use serde_json::{json, Map, Value};

use crate::error::{FleetError, Result};
use crate::Fleet;

#[derive(Debug, Clone, Copy, Default)]
pub struct FullPolicyOptions {
    /// For a standalone agent: credentials as placeholders, no `fleet` section.
    pub standalone: bool,
    pub kubernetes: bool,
}

/// Sets `value` at a dotted `path` inside `root`, creating objects on the way.
fn set_path(root: &mut Map<String, Value>, path: &[&str], value: Value) {
    let (last, parents) = path.split_last().expect("paths are never empty");
    let mut cur = root;
    for p in parents {
        cur = cur
            .entry(p.to_string())
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("full policy sections are objects");
    }
    cur.insert(last.to_string(), value);
}

/// Deep-merges `overrides` into `base` (Kibana's `overrides`: objects merge, the rest replaces).
fn merge(base: &mut Value, overrides: &Value) {
    match (base, overrides) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                merge(b.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (b, o) => *b = o.clone(),
    }
}

/// Where `advanced_settings` land in the full policy.
const ADVANCED: &[(&str, &[&str])] = &[
    ("agent_logging_level", &["logging", "level"]),
    ("agent_logging_to_files", &["logging", "to_files"]),
    (
        "agent_logging_files_interval",
        &["logging", "files", "interval"],
    ),
    (
        "agent_logging_files_keepfiles",
        &["logging", "files", "keepfiles"],
    ),
    (
        "agent_logging_files_rotateeverybytes",
        &["logging", "files", "rotateeverybytes"],
    ),
    (
        "agent_logging_metrics_period",
        &["logging", "metrics", "period"],
    ),
    ("agent_limits_go_max_procs", &["limits", "go_max_procs"]),
    ("agent_download_timeout", &["download", "timeout"]),
    (
        "agent_download_target_directory",
        &["download", "target_directory"],
    ),
    (
        "agent_monitoring_runtime_experimental",
        &["monitoring", "_runtime_experimental"],
    ),
];

impl Fleet {
    pub async fn full_agent_policy(&self, id: &str, opts: FullPolicyOptions) -> Result<Value> {
        if opts.kubernetes {
            return Err(FleetError::BadRequest(
                "Kubernetes manifests are not supported by Flotilla yet: request the policy without kubernetes=true".into(),
            ));
        }
        let doc = self.load_agent_policy(id).await?;
        Ok(self.assemble_full_policy(&doc, opts))
    }

    /// The full policy of a stored policy document (no I/O).
    pub(crate) fn assemble_full_policy(&self, doc: &store::Doc, opts: FullPolicyOptions) -> Value {
        let p = &doc.body;
        let namespace = p["namespace"].as_str().unwrap_or("default");
        let monitoring: Vec<&str> = p["monitoring_enabled"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let cfg = &self.config;

        let mut output = json!({ "type": "elasticsearch", "hosts": cfg.default_output_hosts });
        if opts.standalone {
            output["username"] = json!("${ES_USERNAME}");
            output["password"] = json!("${ES_PASSWORD}");
        }

        let mut agent = Map::new();
        let mut mon = json!({
            "enabled": !monitoring.is_empty(),
            "logs": monitoring.contains(&"logs"),
            "metrics": monitoring.contains(&"metrics"),
            "traces": monitoring.contains(&"traces"),
        });
        if !monitoring.is_empty() {
            mon["use_output"] = json!("default");
            mon["namespace"] = json!(namespace);
        }
        if let Some(http) = p.get("monitoring_http").filter(|v| v.is_object()) {
            mon["http"] = http.clone();
        }
        if p["monitoring_pprof_enabled"] == json!(true) {
            mon["pprof"] = json!({ "enabled": true });
        }
        if let Some(d) = p.get("monitoring_diagnostics").filter(|v| v.is_object()) {
            mon["diagnostics"] = d.clone();
        }
        agent.insert("monitoring".into(), mon);
        agent.insert(
            "download".into(),
            json!({ "sourceURI": cfg.download_source_uri }),
        );
        let features: Map<String, Value> = p["agent_features"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|f| {
                        Some((
                            f["name"].as_str()?.to_string(),
                            json!({ "enabled": f["enabled"] }),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
        agent.insert("features".into(), Value::Object(features));
        agent.insert(
            "protection".into(),
            json!({ "enabled": p["is_protected"] == json!(true), "uninstall_token_hash": "", "signing_key": "" }),
        );
        if let Some(adv) = p["advanced_settings"].as_object() {
            for (key, path) in ADVANCED {
                if let Some(v) = adv.get(*key).filter(|v| !v.is_null()) {
                    set_path(&mut agent, path, v.clone());
                }
            }
        }

        let mut full = json!({
            "id": doc.id,
            "outputs": { "default": output },
            "inputs": [],
            "revision": p["revision"],
            "agent": agent,
        });
        if !monitoring.is_empty() {
            let names = |kind: &str| {
                json!([
                    format!("{kind}-elastic_agent-{namespace}"),
                    format!("{kind}-elastic_agent.*-{namespace}")
                ])
            };
            let mut indices = Vec::new();
            for kind in ["logs", "metrics"] {
                if monitoring.contains(&kind) {
                    indices.push(json!({ "names": names(kind), "privileges": ["auto_configure", "create_doc"] }));
                }
            }
            full["output_permissions"] = json!({
                "default": {
                    "_elastic_agent_monitoring": { "indices": indices },
                    "_elastic_agent_checks": { "cluster": ["monitor"] },
                }
            });
        }
        if !opts.standalone && !cfg.fleet_server_hosts.is_empty() {
            full["fleet"] = json!({ "hosts": cfg.fleet_server_hosts });
        }
        if let Some(o) = p.get("overrides").filter(|v| v.is_object()) {
            merge(&mut full, o);
        }
        full
    }

    /// The full policy for check-ins, from the per-revision cache.
    pub(crate) fn full_policy_for_agents(
        &self,
        doc: &store::Doc,
        revision: i64,
    ) -> std::sync::Arc<Value> {
        let mut cache = self
            .full_policies
            .lock()
            .expect("full policy cache lock poisoned");
        if let Some((rev, full)) = cache.get(&doc.id) {
            if *rev == revision {
                return full.clone();
            }
        }
        let full =
            std::sync::Arc::new(self.assemble_full_policy(doc, FullPolicyOptions::default()));
        cache.insert(doc.id.clone(), (revision, full.clone()));
        full
    }

    /// The same, as the YAML an agent reads (`/download`).
    pub async fn full_agent_policy_yaml(
        &self,
        id: &str,
        opts: FullPolicyOptions,
    ) -> Result<String> {
        let full = self.full_agent_policy(id, opts).await?;
        serde_yaml_ng::to_string(&full).map_err(|e| FleetError::Internal(e.to_string()))
    }

    /// `GET /agent_policies/{id}/outputs`: which outputs a policy sends data and monitoring to.
    pub async fn agent_policy_outputs(&self, id: &str) -> Result<Value> {
        let doc = self.load_agent_policy(id).await?;
        let out = |field: &str| {
            let id = doc.body[field].as_str().unwrap_or(crate::DEFAULT_OUTPUT_ID);
            let name = if id == crate::DEFAULT_OUTPUT_ID {
                "default"
            } else {
                id
            };
            json!({ "id": id, "name": name })
        };
        Ok(json!({
            "agentPolicyId": doc.id,
            "monitoring": { "output": out("monitoring_output_id") },
            "data": { "output": out("data_output_id"), "integrations": [] },
        }))
    }
}
