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

/// The settings objects one policy uses (documents as stored, secrets resolved or replaced).
#[derive(Debug, Default)]
pub struct PolicySettings {
    pub data_output: Option<(String, Value)>,
    pub monitoring_output: Option<(String, Value)>,
    pub fleet_server_host: Option<Value>,
    pub download_source: Option<Value>,
    /// Proxies by id.
    pub proxies: std::collections::HashMap<String, Value>,
    /// Secret ids the policy refers to (not revealed).
    pub secret_references: Vec<String>,
    /// The values of its package policies' secrets (only when revealed, for agents).
    pub secret_values: std::collections::HashMap<String, Value>,
    /// SHA-256 (base64) of the policy's uninstall token.
    pub uninstall_token_hash: Option<String>,
    /// The key the policy is signed with.
    pub signing_key: Option<crate::signing::SigningKey>,
    /// The policy's package policies (stored bodies with their `id`), oldest first.
    pub package_policies: Vec<Value>,
    /// Other outputs its package policies name (`output_id`).
    pub integration_outputs: Vec<(String, Value)>,
}

/// An output's stored body with its secrets revealed (for agents) or as references.
async fn output_body(
    tx: &mut dyn store::Tx,
    d: &store::Doc,
    reveal: bool,
    secret_refs: &mut Vec<String>,
) -> Result<Value> {
    let mut body = d.body.clone();
    if let Some(secrets) = body.get("secrets").cloned().filter(|s| s.is_object()) {
        let values = if reveal {
            crate::outputs::reveal_secrets(tx, &secrets).await?
        } else {
            secret_placeholders(&secrets, secret_refs)
        };
        merge(&mut body, &values);
        if let Some(o) = body.as_object_mut() {
            o.remove("secrets");
        }
    }
    Ok(body)
}

/// Output fields that are Kibana bookkeeping, not agent configuration.
const OUTPUT_BOOKKEEPING: &[&str] = &[
    "name",
    "is_default",
    "is_default_monitoring",
    "is_internal",
    "is_preconfigured",
    "allow_edit",
    "proxy_id",
    "config_yaml",
    "shipper",
    "kibana_api_key",
    "kibana_url",
    "sync_integrations",
    "sync_uninstalled_integrations",
    "write_to_logs_streams",
    "auth_type",
    "connection_type",
    "ca_trusted_fingerprint",
    "output_id",
];

impl PolicySettings {
    /// `proxy_url` (and headers, and the proxy's CA) where an object goes through a proxy.
    fn apply_proxy(&self, object: &Value, target: &mut Value) {
        let Some(proxy) = object["proxy_id"]
            .as_str()
            .and_then(|id| self.proxies.get(id))
        else {
            return;
        };
        target["proxy_url"] = proxy["url"].clone();
        if let Some(h) = proxy.get("proxy_headers").filter(|h| h.is_object()) {
            target["proxy_headers"] = h.clone();
        }
    }

    /// An output as the agent reads it (Kibana's `transformOutputToFullPolicyOutput`).
    fn full_output(&self, o: &Value) -> Value {
        let mut out = Map::new();
        // config_yaml first, so the typed fields win.
        if let Some(extra) = o["config_yaml"]
            .as_str()
            .and_then(|y| serde_yaml_ng::from_str::<Value>(y).ok())
            .and_then(|v| v.as_object().cloned())
        {
            out.extend(extra);
        }
        if let Some(obj) = o.as_object() {
            for (k, v) in obj {
                if !v.is_null() && !OUTPUT_BOOKKEEPING.contains(&k.as_str()) {
                    out.insert(k.clone(), v.clone());
                }
            }
        }
        if let Some(fp) = o["ca_trusted_fingerprint"].as_str() {
            out.insert("ssl.ca_trusted_fingerprint".into(), json!(fp));
        }
        if o["type"] == json!("kafka") && o["auth_type"] == json!("none") {
            out.remove("username");
            out.remove("password");
        }
        let mut out = Value::Object(out);
        self.apply_proxy(o, &mut out);
        out
    }
}

/// The object a policy names, else the kind's default (`flag` true).
async fn named_or_default(
    tx: &mut dyn store::Tx,
    kind: store::Kind,
    id: Option<&str>,
    flag: &str,
) -> Result<Option<store::Doc>> {
    if let Some(id) = id {
        if let Some(d) = tx.get(kind, id).await? {
            return Ok(Some(d));
        }
    }
    let query = store::Query {
        filter: store::Filter::Eq(store::doc_field(flag), store::Scalar::Bool(true)),
        limit: Some(1),
        ..Default::default()
    };
    Ok(tx.find(kind, &query).await?.into_iter().next())
}

/// Replaces each secret reference `{id}` with `$co.elastic.secret{<id>}` and records the id.
fn secret_placeholders(secrets: &Value, refs: &mut Vec<String>) -> Value {
    match secrets {
        Value::Object(m) => match m.get("id").and_then(Value::as_str) {
            Some(id) => {
                refs.push(id.to_string());
                json!(format!("$co.elastic.secret{{{id}}}"))
            }
            None => Value::Object(
                m.iter()
                    .map(|(k, v)| (k.clone(), secret_placeholders(v, refs)))
                    .collect(),
            ),
        },
        other => other.clone(),
    }
}

impl Fleet {
    pub async fn full_agent_policy(&self, id: &str, opts: FullPolicyOptions) -> Result<Value> {
        if opts.kubernetes {
            // The manifest is text; the API layer answers it as `item` (Kibana does the same).
            let manifest = self.kubernetes_manifest(id, opts.standalone).await?;
            return Ok(Value::String(manifest));
        }
        let doc = self.load_agent_policy(id).await?;
        let settings = self.policy_settings(&doc, false).await?;
        Ok(self.assemble_full_policy(&doc, &settings, opts))
    }

    /// The outputs, Fleet Server host, download source and proxies a policy uses. With
    /// `reveal`, secret values are filled in (what agents get); without, they stay references
    /// (`$co.elastic.secret{<id>}`), as Kibana shows them.
    pub(crate) async fn policy_settings(
        &self,
        doc: &store::Doc,
        reveal: bool,
    ) -> Result<PolicySettings> {
        use store::Kind;
        let mut tx = self.store.begin(store::Mode::Read).await?;
        let p = &doc.body;
        let data = named_or_default(
            tx.as_mut(),
            Kind::Output,
            p["data_output_id"].as_str(),
            "is_default",
        )
        .await?;
        let monitoring = named_or_default(
            tx.as_mut(),
            Kind::Output,
            p["monitoring_output_id"].as_str(),
            "is_default_monitoring",
        )
        .await?;
        let host = named_or_default(
            tx.as_mut(),
            Kind::FleetServerHost,
            p["fleet_server_host_id"].as_str(),
            "is_default",
        )
        .await?;
        let download = named_or_default(
            tx.as_mut(),
            Kind::DownloadSource,
            p["download_source_id"].as_str(),
            "is_default",
        )
        .await?;
        let mut secret_refs = Vec::new();
        let mut out = PolicySettings::default();
        for (slot, d) in [
            (&mut out.data_output, data),
            (&mut out.monitoring_output, monitoring),
        ] {
            if let Some(d) = d {
                let body = output_body(tx.as_mut(), &d, reveal, &mut secret_refs).await?;
                *slot = Some((d.id.clone(), body));
            }
        }
        out.package_policies = crate::package_policies::package_policies_of(tx.as_mut(), &doc.id)
            .await?
            .iter()
            .map(crate::package_policies::to_item)
            .collect();
        let package_secrets: Vec<String> = out
            .package_policies
            .iter()
            .flat_map(crate::secrets::references)
            .collect();
        // As with outputs' secrets: values for agents, references for the API.
        if reveal {
            out.secret_values = crate::secrets::values(tx.as_mut(), &package_secrets).await?;
        } else {
            for id in package_secrets {
                if !secret_refs.contains(&id) {
                    secret_refs.push(id);
                }
            }
        }
        // Outputs package policies send their data to (`output_id`), beside the policy's own.
        for pp in &out.package_policies {
            let Some(oid) = pp["output_id"].as_str() else {
                continue;
            };
            let known = out
                .data_output
                .iter()
                .chain(&out.monitoring_output)
                .chain(&out.integration_outputs);
            if known.into_iter().any(|(id, _)| id == oid) {
                continue;
            }
            if let Some(d) = tx.get(Kind::Output, oid).await? {
                let body = output_body(tx.as_mut(), &d, reveal, &mut secret_refs).await?;
                out.integration_outputs.push((d.id.clone(), body));
            }
        }
        out.fleet_server_host = host.map(|h| h.body);
        out.download_source = download.map(|d| d.body);
        let mut proxy_ids: Vec<String> = Vec::new();
        for v in [
            out.data_output.as_ref().map(|(_, b)| b),
            out.monitoring_output.as_ref().map(|(_, b)| b),
            out.fleet_server_host.as_ref(),
            out.download_source.as_ref(),
        ]
        .into_iter()
        .flatten()
        {
            if let Some(pid) = v["proxy_id"].as_str() {
                proxy_ids.push(pid.to_string());
            }
        }
        for pid in proxy_ids {
            if let Some(proxy) = tx.get(Kind::Proxy, &pid).await? {
                out.proxies.insert(pid, proxy.body);
            }
        }
        out.secret_references = secret_refs;
        out.uninstall_token_hash = crate::uninstall_tokens::latest_token(tx.as_mut(), &doc.id)
            .await?
            .and_then(|t| t.body["token_hash"].as_str().map(String::from));
        out.signing_key = crate::signing::load(tx.as_mut()).await?;
        Ok(out)
    }

    /// The full policy of a stored policy document (no I/O).
    pub(crate) fn assemble_full_policy(
        &self,
        doc: &store::Doc,
        settings: &PolicySettings,
        opts: FullPolicyOptions,
    ) -> Value {
        let p = &doc.body;
        let namespace = p["namespace"].as_str().unwrap_or("default");
        let monitoring: Vec<&str> = p["monitoring_enabled"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let cfg = &self.config;

        let fallback = (
            crate::DEFAULT_OUTPUT_ID.to_string(),
            json!({ "type": "elasticsearch", "hosts": cfg.default_output_hosts, "is_default": true }),
        );
        let data = settings.data_output.as_ref().unwrap_or(&fallback);
        let monitoring_out = settings.monitoring_output.as_ref().unwrap_or(data);
        let key = |(id, body): &(String, Value)| {
            if body["is_default"] == json!(true) {
                "default".to_string()
            } else {
                id.clone()
            }
        };
        let data_key = key(data);
        let monitoring_key = key(monitoring_out);
        let mut outputs = Map::new();
        for o in [data, monitoring_out]
            .into_iter()
            .chain(&settings.integration_outputs)
        {
            let mut output = settings.full_output(&o.1);
            if opts.standalone && o.1["type"] == json!("elasticsearch") {
                output["username"] = json!("${ES_USERNAME}");
                output["password"] = json!("${ES_PASSWORD}");
            }
            outputs.insert(key(o), output);
        }

        let mut agent = Map::new();
        let mut mon = json!({
            "enabled": !monitoring.is_empty(),
            "logs": monitoring.contains(&"logs"),
            "metrics": monitoring.contains(&"metrics"),
            "traces": monitoring.contains(&"traces"),
        });
        if !monitoring.is_empty() {
            mon["use_output"] = json!(monitoring_key);
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
        let mut download = json!({ "sourceURI": cfg.download_source_uri });
        if let Some(src) = &settings.download_source {
            download["sourceURI"] = src["host"].clone();
            settings.apply_proxy(src, &mut download);
            if let Some(ssl) = src.get("ssl").filter(|v| v.is_object()) {
                download["ssl"] = ssl.clone();
            }
        }
        agent.insert("download".into(), download);
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
            json!({
                "enabled": p["is_protected"] == json!(true),
                "uninstall_token_hash": settings.uninstall_token_hash.clone().unwrap_or_default(),
                "signing_key": settings.signing_key.as_ref().map(|k| k.public_key.clone()).unwrap_or_default(),
            }),
        );
        if let Some(adv) = p["advanced_settings"].as_object() {
            for (key, path) in ADVANCED {
                if let Some(v) = adv.get(*key).filter(|v| !v.is_null()) {
                    set_path(&mut agent, path, v.clone());
                }
            }
        }

        let output_key = |pp: &Value| -> String {
            match pp["output_id"].as_str() {
                Some(oid) if settings.integration_outputs.iter().any(|(id, _)| id == oid) => {
                    oid.to_string()
                }
                Some(oid)
                    if oid == data.0
                        || Some(oid)
                            == settings.monitoring_output.as_ref().map(|m| m.0.as_str()) =>
                {
                    if oid == data.0 {
                        data_key.clone()
                    } else {
                        monitoring_key.clone()
                    }
                }
                _ => data_key.clone(),
            }
        };
        let mut inputs = agent_inputs(
            &settings.package_policies,
            namespace,
            &output_key,
            p["global_data_tags"].as_array(),
        );
        // What agents receive has the secrets filled in (Fleet Server's part); the API shows
        // the placeholders, as Kibana does.
        crate::secrets::fill_in(&mut inputs, &settings.secret_values);
        let mut full = json!({
            "id": doc.id,
            "outputs": Value::Object(outputs),
            "inputs": inputs,
            "revision": p["revision"],
            "agent": agent,
        });
        let package_permissions =
            package_permissions(&settings.package_policies, namespace, &output_key);
        if !monitoring.is_empty() || !package_permissions.is_empty() {
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
            let mut permissions = Map::new();
            if !monitoring.is_empty() {
                permissions.insert(
                    monitoring_key.clone(),
                    json!({ "_elastic_agent_monitoring": { "indices": indices } }),
                );
            }
            let checks = permissions
                .entry(data_key.clone())
                .or_insert_with(|| json!({}));
            checks["_elastic_agent_checks"] = json!({ "cluster": ["monitor"] });
            for (output, id, perm) in package_permissions {
                let entry = permissions.entry(output).or_insert_with(|| json!({}));
                entry["_elastic_agent_checks"] = json!({ "cluster": ["monitor"] });
                entry[id] = perm;
            }
            full["output_permissions"] = Value::Object(permissions);
        }
        if !opts.standalone {
            match &settings.fleet_server_host {
                Some(h) => {
                    let mut fleet = json!({ "hosts": h["host_urls"] });
                    settings.apply_proxy(h, &mut fleet);
                    if let Some(ssl) = h.get("ssl").filter(|v| v.is_object()) {
                        fleet["ssl"] = ssl.clone();
                    }
                    full["fleet"] = fleet;
                }
                None if !cfg.fleet_server_hosts.is_empty() => {
                    full["fleet"] = json!({ "hosts": cfg.fleet_server_hosts });
                }
                None => {}
            }
        }
        if !settings.secret_references.is_empty() {
            full["secret_references"] = json!(settings
                .secret_references
                .iter()
                .map(|id| json!({ "id": id }))
                .collect::<Vec<_>>());
        }
        if let Some(o) = p.get("overrides").filter(|v| v.is_object()) {
            merge(&mut full, o);
        }
        // Kibana signs what agents must trust: the policy id, agent features and protection,
        // and which inputs it runs.
        if let Some(key) = settings.signing_key.as_ref().filter(|_| !opts.standalone) {
            let inputs: Vec<Value> = full["inputs"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|i| json!({ "id": i["id"], "name": i["name"], "revision": i["revision"], "type": i["type"] }))
                        .collect()
                })
                .unwrap_or_default();
            let message = json!({
                "id": full["id"],
                "agent": { "features": full["agent"]["features"], "protection": full["agent"]["protection"] },
                "inputs": inputs,
            });
            full["signed"] = key.sign(&message);
        }
        full
    }

    /// The full policy for check-ins (secrets filled in) as JSON text, from the per-revision
    /// cache: any change to a setting a policy uses gives it a new revision. Serialized once per
    /// revision, so a fan-out to every agent on the policy copies bytes instead of building and
    /// serializing the policy once per agent.
    pub(crate) async fn policy_for_agents(
        &self,
        doc: &store::Doc,
        revision: i64,
    ) -> Result<std::sync::Arc<crate::PolicyRevision>> {
        if let Some(cached) = self.cached_policy_for_agents(&doc.id, revision) {
            return Ok(cached);
        }
        let settings = self.policy_settings(doc, true).await?;
        let full = self.assemble_full_policy(doc, &settings, FullPolicyOptions::default());
        let json = serde_json::to_string(&full).map_err(|e| FleetError::Internal(e.to_string()))?;
        let entry = std::sync::Arc::new(crate::PolicyRevision {
            revision,
            created_at: doc.body["updated_at"].clone(),
            json: json.into(),
        });
        self.full_policies
            .lock()
            .expect("full policy cache lock poisoned")
            .insert(doc.id.clone(), entry.clone());
        Ok(entry)
    }

    /// The cached revision of a policy for check-ins, if it is the one asked for.
    pub(crate) fn cached_policy_for_agents(
        &self,
        policy_id: &str,
        revision: i64,
    ) -> Option<std::sync::Arc<crate::PolicyRevision>> {
        self.full_policies
            .lock()
            .expect("full policy cache lock poisoned")
            .get(policy_id)
            .filter(|p| p.revision == revision)
            .cloned()
    }

    /// The same, as the YAML an agent reads (`/download`).
    pub async fn full_agent_policy_yaml(
        &self,
        id: &str,
        opts: FullPolicyOptions,
    ) -> Result<String> {
        let full = self.full_agent_policy(id, opts).await?;
        if let Value::String(manifest) = full {
            return Ok(manifest);
        }
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

/// The agent inputs of the package policies (Kibana's `storedPackagePoliciesToAgentInputs`):
/// one per enabled input of each enabled package policy, with its enabled streams' compiled
/// configuration; `global_data_tags` become an `add_fields` processor on every input.
fn agent_inputs(
    package_policies: &[Value],
    agent_namespace: &str,
    output_of: &dyn Fn(&Value) -> String,
    global_data_tags: Option<&Vec<Value>>,
) -> Value {
    let mut out = Vec::new();
    for pp in package_policies {
        if pp["enabled"] == json!(false) {
            continue;
        }
        let pp_id = pp["id"].as_str().unwrap_or_default();
        let namespace = pp["namespace"]
            .as_str()
            .filter(|n| !n.is_empty())
            .unwrap_or(agent_namespace);
        for input in pp["inputs"].as_array().into_iter().flatten() {
            if input["enabled"] != json!(true) {
                continue;
            }
            let ty = input["type"].as_str().unwrap_or_default();
            let id = match input["id"].as_str() {
                Some(id) => id.to_string(),
                None => match input["policy_template"].as_str() {
                    Some(t) => format!("{ty}-{t}-{pp_id}"),
                    None => format!("{ty}-{pp_id}"),
                },
            };
            let mut full = json!({
                "id": id,
                "name": pp["name"],
                "revision": pp["revision"],
                "type": ty,
                "data_stream": { "namespace": namespace },
                "use_output": output_of(pp),
                "package_policy_id": pp_id,
            });
            if let Some(compiled) = input["compiled_input"].as_object() {
                merge(&mut full, &Value::Object(compiled.clone()));
            }
            let streams: Vec<Value> = input["streams"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|s| s["enabled"] == json!(true))
                .map(|s| {
                    let mut stream = json!({ "id": s["id"], "data_stream": s["data_stream"] });
                    if let Some(compiled) = s["compiled_stream"].as_object() {
                        merge(&mut stream, &Value::Object(compiled.clone()));
                    }
                    stream
                })
                .collect();
            if !streams.is_empty() {
                full["streams"] = Value::Array(streams);
            }
            full["meta"] = json!({ "package": { "name": pp["package"]["name"], "version": pp["package"]["version"] } });
            if let Some(tags) = global_data_tags.filter(|t| !t.is_empty()) {
                let fields: Map<String, Value> = tags
                    .iter()
                    .filter_map(|t| Some((t["name"].as_str()?.to_string(), t["value"].clone())))
                    .collect();
                let mut processors =
                    vec![json!({ "add_fields": { "target": "", "fields": fields } })];
                if let Some(existing) = full["processors"].as_array() {
                    processors.extend(existing.iter().cloned());
                }
                full["processors"] = Value::Array(processors);
            }
            out.push(full);
        }
    }
    Value::Array(out)
}

/// Index privileges per package policy: write access to the data streams of its enabled streams.
fn package_permissions(
    package_policies: &[Value],
    agent_namespace: &str,
    output_of: &dyn Fn(&Value) -> String,
) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for pp in package_policies {
        if pp["enabled"] == json!(false) {
            continue;
        }
        let namespace = pp["namespace"]
            .as_str()
            .filter(|n| !n.is_empty())
            .unwrap_or(agent_namespace);
        let mut names: Vec<String> = Vec::new();
        for input in pp["inputs"].as_array().into_iter().flatten() {
            if input["enabled"] != json!(true) {
                continue;
            }
            for s in input["streams"].as_array().into_iter().flatten() {
                if s["enabled"] != json!(true) {
                    continue;
                }
                let name = format!(
                    "{}-{}-{namespace}",
                    s["data_stream"]["type"].as_str().unwrap_or("logs"),
                    s["data_stream"]["dataset"].as_str().unwrap_or_default()
                );
                if !names.contains(&name) {
                    names.push(name);
                }
            }
        }
        if names.is_empty() {
            continue;
        }
        out.push((
            output_of(pp),
            pp["id"].as_str().unwrap_or_default().to_string(),
            json!({ "indices": [{ "names": names, "privileges": ["auto_configure", "create_doc"] }] }),
        ));
    }
    out
}
