//! Outputs (`/api/fleet/outputs`): where agents send data — Elasticsearch, remote
//! Elasticsearch, Logstash, Kafka — with Kibana's rules: exactly one default output and one
//! default monitoring output (setting another moves the flag), neither deletable, preconfigured
//! outputs changed only by configuration, secrets kept apart from the output, and every agent
//! policy that uses a changed output gets a new revision in the same transaction.

use serde_json::{json, Map, Value};
use store::{Filter, Kind, Mode, Scalar, Tx};

use crate::common::{normalize_host, policies_using_output, to_item};
use crate::error::{FleetError, Result};
use crate::time::now;
use crate::validate::{check_body, opt, req, Field, Ty, BOOL, NUM, STR};
use crate::{Fleet, DEFAULT_OUTPUT_ID};

static NULLABLE_STR: Ty = Ty::Nullable(&STR);
static STR_LIST: Ty = Ty::Array(&STR);
static SSL: &[Field] = &[
    opt("certificate", STR),
    opt("certificate_authorities", STR_LIST),
    opt("key", STR),
    opt(
        "verification_mode",
        Ty::Enum(&["full", "none", "certificate", "strict"]),
    ),
];
static NULLABLE_SSL: Ty = Ty::Nullable(&Ty::Object(SSL));
static NULLABLE_MAP: Ty = Ty::Nullable(&Ty::Map);
static PRESET: Ty = Ty::Enum(&["balanced", "custom", "throughput", "scale", "latency"]);

macro_rules! common_fields {
    ($($extra:expr),* $(,)?) => {
        &[
            opt("id", STR),
            req("name", Ty::Str { min_len: 1 }),
            opt("is_default", BOOL),
            opt("is_default_monitoring", BOOL),
            opt("is_internal", BOOL),
            opt("is_preconfigured", BOOL),
            opt("allow_edit", STR_LIST),
            opt("ca_sha256", NULLABLE_STR),
            opt("ca_trusted_fingerprint", NULLABLE_STR),
            opt("config_yaml", NULLABLE_STR),
            opt("proxy_id", NULLABLE_STR),
            opt("shipper", NULLABLE_MAP),
            opt("ssl", NULLABLE_SSL),
            opt("secrets", Ty::Map),
            $($extra),*
        ]
    };
}

static ELASTICSEARCH: &[Field] = common_fields![
    req("type", Ty::Enum(&["elasticsearch"])),
    req("hosts", STR_LIST),
    opt("preset", PRESET),
    opt("write_to_logs_streams", Ty::Nullable(&BOOL)),
];
static REMOTE_ELASTICSEARCH: &[Field] = common_fields![
    req("type", Ty::Enum(&["remote_elasticsearch"])),
    req("hosts", STR_LIST),
    opt("preset", PRESET),
    opt("service_token", NULLABLE_STR),
    opt("kibana_api_key", NULLABLE_STR),
    opt("kibana_url", NULLABLE_STR),
    opt("sync_integrations", BOOL),
    opt("sync_uninstalled_integrations", BOOL),
    opt("write_to_logs_streams", Ty::Nullable(&BOOL)),
];
static LOGSTASH: &[Field] =
    common_fields![req("type", Ty::Enum(&["logstash"])), req("hosts", STR_LIST),];
static KAFKA_HEADER: &[Field] = &[req("key", STR), req("value", STR)];
static GROUP_EVENTS: &[Field] = &[opt("group_events", NUM)];
static KAFKA_HASH: &[Field] = &[opt("hash", STR), opt("random", BOOL)];
static SASL: &[Field] = &[opt(
    "mechanism",
    Ty::Enum(&["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]),
)];
static KAFKA: &[Field] = common_fields![
    req("type", Ty::Enum(&["kafka"])),
    req("hosts", STR_LIST),
    req(
        "auth_type",
        Ty::Enum(&["none", "user_pass", "ssl", "kerberos"])
    ),
    opt("broker_timeout", NUM),
    opt("client_id", STR),
    opt("compression", Ty::Enum(&["gzip", "snappy", "lz4", "none"])),
    opt("compression_level", NUM),
    opt("connection_type", STR),
    opt("hash", Ty::Object(KAFKA_HASH)),
    opt("headers", Ty::Array(&Ty::Object(KAFKA_HEADER))),
    opt("key", STR),
    opt("partition", Ty::Enum(&["random", "round_robin", "hash"])),
    opt("password", STR),
    opt("random", Ty::Object(GROUP_EVENTS)),
    opt("required_acks", NUM),
    opt("round_robin", Ty::Object(GROUP_EVENTS)),
    opt("sasl", Ty::Nullable(&Ty::Object(SASL))),
    opt("timeout", NUM),
    opt("topic", STR),
    opt("username", STR),
    opt("version", STR),
];

/// Fields only one output type has: cleared when an output changes type.
const TYPE_FIELDS: &[(&str, &[&str])] = &[
    ("elasticsearch", &["preset", "write_to_logs_streams"]),
    (
        "remote_elasticsearch",
        &[
            "preset",
            "service_token",
            "kibana_api_key",
            "kibana_url",
            "sync_integrations",
            "sync_uninstalled_integrations",
            "write_to_logs_streams",
        ],
    ),
    ("logstash", &[]),
    (
        "kafka",
        &[
            "auth_type",
            "broker_timeout",
            "client_id",
            "compression",
            "compression_level",
            "connection_type",
            "hash",
            "headers",
            "key",
            "partition",
            "password",
            "random",
            "required_acks",
            "round_robin",
            "sasl",
            "timeout",
            "topic",
            "username",
            "version",
        ],
    ),
];

fn schema_for(kind: &str) -> Option<&'static [Field]> {
    match kind {
        "elasticsearch" => Some(ELASTICSEARCH),
        "remote_elasticsearch" => Some(REMOTE_ELASTICSEARCH),
        "logstash" => Some(LOGSTASH),
        "kafka" => Some(KAFKA),
        _ => None,
    }
}

fn not_found(id: &str) -> FleetError {
    FleetError::NotFound(format!("Output {id} not found"))
}

fn refused(message: String) -> FleetError {
    FleetError::BadRequest(message)
}

/// Elasticsearch hosts are http(s) URLs; Logstash and Kafka hosts are `host:port`.
fn check_hosts(kind: &str, hosts: &[Value]) -> Result<()> {
    if hosts.is_empty() {
        return Err(refused(
            "[request body.hosts]: array size is [0], but cannot be smaller than [1]".into(),
        ));
    }
    for (i, h) in hosts.iter().enumerate() {
        let h = h.as_str().unwrap_or_default();
        match kind {
            "elasticsearch" | "remote_elasticsearch" => {
                let ok =
                    url_host(h).is_some_and(|(scheme, _)| scheme == "http" || scheme == "https");
                if !ok {
                    return Err(refused(format!(
                        "[request body.hosts.{i}]: expected URI with scheme [http|https]."
                    )));
                }
            }
            _ => {
                if h.starts_with("http://") || h.starts_with("https://") {
                    return Err(refused(format!(
                        "[request body.hosts.{i}]: Invalid {kind} host should not start with http(s)"
                    )));
                }
                let port = h.rsplit_once(':').and_then(|(host, p)| {
                    (!host.is_empty())
                        .then_some(p.parse::<u16>().ok())
                        .flatten()
                });
                if port.is_none() {
                    return Err(refused(format!(
                        "[request body.hosts.{i}]: Invalid format for {kind} host, expected host:port"
                    )));
                }
            }
        }
    }
    Ok(())
}

/// (scheme, rest) of `scheme://host...` with a non-empty host.
fn url_host(s: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = s.split_once("://")?;
    let host = rest.split(['/', '?', '#']).next()?;
    (!scheme.is_empty() && !host.is_empty() && !host.contains(' ')).then_some((scheme, rest))
}

/// Moves every plain value under `secrets` into its own stored secret, leaving `{id}` behind.
async fn store_secrets(tx: &mut dyn Tx, secrets: &Value) -> Result<Value> {
    let mut out = Map::new();
    if let Value::Object(m) = secrets {
        for (k, v) in m {
            let stored = match v {
                Value::String(_) => {
                    let id = uuid::Uuid::new_v4().to_string();
                    crate::secrets::put(tx, &id, v).await?;
                    json!({ "id": id })
                }
                Value::Object(o) if o.contains_key("id") => v.clone(),
                Value::Object(_) => Box::pin(store_secrets(tx, v)).await?,
                other => other.clone(),
            };
            out.insert(k.clone(), stored);
        }
    }
    Ok(Value::Object(out))
}

/// The secrets of an output with their values, for the full agent policy.
pub(crate) async fn reveal_secrets(tx: &mut dyn Tx, secrets: &Value) -> Result<Value> {
    let mut out = Map::new();
    if let Value::Object(m) = secrets {
        for (k, v) in m {
            let value = match v.get("id").and_then(Value::as_str) {
                Some(id) => crate::secrets::get(tx, id).await?.unwrap_or(Value::Null),
                None => Box::pin(reveal_secrets(tx, v)).await?,
            };
            out.insert(k.clone(), value);
        }
    }
    Ok(Value::Object(out))
}

impl Fleet {
    /// Creates the default output (`fleet-default-output`, Elasticsearch at the configured
    /// hosts) when there is no default output yet, as Kibana's setup does.
    pub async fn ensure_default_output(&self) -> Result<()> {
        let mut tx = self.store.begin(Mode::Write).await?;
        tx.lock_kind(Kind::Output).await?;
        let defaults = tx
            .count(
                Kind::Output,
                &Filter::Eq(store::doc_field("is_default"), Scalar::Bool(true)),
            )
            .await?;
        if defaults > 0 || tx.get(Kind::Output, DEFAULT_OUTPUT_ID).await?.is_some() {
            return Ok(());
        }
        let monitoring = tx
            .count(
                Kind::Output,
                &Filter::Eq(
                    store::doc_field("is_default_monitoring"),
                    Scalar::Bool(true),
                ),
            )
            .await?;
        let hosts: Vec<String> = self
            .config
            .default_output_hosts
            .iter()
            .map(|h| normalize_host(h))
            .collect();
        let doc = json!({
            "name": "default",
            "type": "elasticsearch",
            "hosts": hosts,
            "is_default": true,
            "is_default_monitoring": monitoring == 0,
            "is_internal": false,
            "is_preconfigured": false,
            "preset": "balanced",
            "ca_sha256": null,
            "proxy_id": null,
            "config_yaml": null,
        });
        tx.insert(Kind::Output, DEFAULT_OUTPUT_ID, &doc).await?;
        tx.commit().await?;
        Ok(())
    }

    /// `GET /outputs`: default first.
    pub async fn list_outputs(&self) -> Result<Value> {
        let mut tx = self.store.begin(Mode::Read).await?;
        let mut docs = tx.find(Kind::Output, &store::Query::default()).await?;
        docs.sort_by_key(|d| (d.body["is_default"] != json!(true), d.id.clone()));
        let items: Vec<Value> = docs.iter().map(to_item).collect();
        Ok(json!({ "items": items, "total": items.len(), "page": 1, "perPage": 10000 }))
    }

    pub async fn get_output(&self, id: &str) -> Result<Value> {
        let mut tx = self.store.begin(Mode::Read).await?;
        let doc = tx
            .get(Kind::Output, id)
            .await?
            .ok_or_else(|| not_found(id))?;
        Ok(json!({ "item": to_item(&doc) }))
    }

    /// Validates a full output body (create) against its type's schema.
    fn check_output(body: &Value) -> Result<&'static [Field]> {
        let kind = body["type"].as_str().unwrap_or_default();
        let schema = schema_for(kind).ok_or_else(|| {
            refused(format!(
                "[request body.type]: expected one of [elasticsearch, remote_elasticsearch, logstash, kafka] but got [{}]",
                body.get("type").map(|t| t.to_string().trim_matches('"').to_string()).unwrap_or_else(|| "undefined".into())
            ))
        })?;
        check_body("request body", body, schema)?;
        Ok(schema)
    }

    /// Clears `is_default` / `is_default_monitoring` on other outputs when `doc` takes them.
    async fn take_default_flags(
        &self,
        tx: &mut dyn Tx,
        id: &str,
        doc: &Value,
        from_config: bool,
    ) -> Result<()> {
        for flag in ["is_default", "is_default_monitoring"] {
            if doc[flag] != json!(true) {
                continue;
            }
            let holders = tx
                .find(
                    Kind::Output,
                    &store::Query {
                        filter: Filter::Eq(store::doc_field(flag), Scalar::Bool(true)),
                        ..Default::default()
                    },
                )
                .await?;
            for h in holders.into_iter().filter(|h| h.id != id) {
                if h.body["is_preconfigured"] == json!(true) && !from_config {
                    return Err(refused(format!(
                        "Preconfigured output {} {flag} cannot be updated outside of kibana config file.",
                        h.id
                    )));
                }
                let mut body = h.body.clone();
                body[flag] = json!(false);
                tx.update(Kind::Output, &h.id, Some(h.version), &body)
                    .await?;
            }
        }
        Ok(())
    }

    /// Bumps the policies that use output `id` as `doc` now stands (explicitly, or by following
    /// the default it became).
    async fn bump_users(
        &self,
        tx: &mut dyn Tx,
        id: &str,
        doc: &Value,
    ) -> Result<Vec<(String, i64)>> {
        let users = policies_using_output(
            id,
            doc["is_default"] == json!(true),
            doc["is_default_monitoring"] == json!(true),
        );
        let mut bumped = self.bump_policies(tx, &users).await?;
        // Agent policies whose integrations send to this output (package policy `output_id`).
        let integrations = tx
            .find(
                Kind::PackagePolicy,
                &store::Query {
                    filter: Filter::Eq(store::doc_field("output_id"), Scalar::Str(id.into())),
                    ..Default::default()
                },
            )
            .await?;
        let mut more: Vec<String> = integrations
            .iter()
            .flat_map(|d| crate::validate::string_array(&d.body["policy_ids"]))
            .filter(|p| !bumped.iter().any(|(b, _)| b == p))
            .collect();
        more.sort();
        more.dedup();
        bumped.extend(self.bump_agent_policies(tx, &more).await?);
        Ok(bumped)
    }

    /// A write transaction holding the outputs lock, and output `id`.
    async fn locked_output(&self, id: &str) -> Result<(Box<dyn Tx>, store::Doc)> {
        let mut tx = self.store.begin(Mode::Write).await?;
        tx.lock_kind(Kind::Output).await?;
        let existing = tx
            .get(Kind::Output, id)
            .await?
            .ok_or_else(|| not_found(id))?;
        Ok((tx, existing))
    }

    /// `POST /outputs`.
    pub async fn create_output(&self, body: &Value) -> Result<Value> {
        self.create_output_as(body, false).await
    }

    /// Creates an output; `from_config` (preconfiguration) may take flags from preconfigured
    /// outputs.
    pub(crate) async fn create_output_as(&self, body: &Value, from_config: bool) -> Result<Value> {
        Self::check_output(body)?;
        let kind = body["type"].as_str().unwrap_or_default();
        check_hosts(
            kind,
            body["hosts"].as_array().map(Vec::as_slice).unwrap_or(&[]),
        )?;
        let id = body["id"]
            .as_str()
            .map(String::from)
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let mut tx = self.store.begin(Mode::Write).await?;
        tx.lock_kind(Kind::Output).await?;
        if tx.get(Kind::Output, &id).await?.is_some() {
            return Err(FleetError::Conflict(format!(
                "Saved object [ingest-outputs/{id}] conflict"
            )));
        }
        if let Some(p) = body["proxy_id"].as_str() {
            if tx.get(Kind::Proxy, p).await?.is_none() {
                return Err(refused(format!("Proxy {p} not found")));
            }
        }
        let mut doc = body.clone();
        if let Some(o) = doc.as_object_mut() {
            o.remove("id");
        }
        defaults_for(&mut doc);
        if let Some(s) = body.get("secrets") {
            doc["secrets"] = store_secrets(tx.as_mut(), s).await?;
        }
        self.take_default_flags(tx.as_mut(), &id, &doc, from_config)
            .await?;
        let saved = tx.insert(Kind::Output, &id, &doc).await?;
        let bumped = self.bump_users(tx.as_mut(), &id, &doc).await?;
        tx.commit().await?;
        self.announce(&bumped);
        Ok(json!({ "item": to_item(&saved) }))
    }

    /// `PUT /outputs/{id}`: a partial update; bumps every policy using the output.
    pub async fn update_output(&self, id: &str, body: &Value) -> Result<Value> {
        self.update_output_as(id, body, false).await
    }

    /// Updates an output; `from_config` (preconfiguration) may change preconfigured outputs.
    pub(crate) async fn update_output_as(
        &self,
        id: &str,
        body: &Value,
        from_config: bool,
    ) -> Result<Value> {
        let (mut tx, existing) = self.locked_output(id).await?;
        let old = &existing.body;
        let kind = body["type"]
            .as_str()
            .or(old["type"].as_str())
            .unwrap_or_default()
            .to_string();
        // Validate the body as an update: the merged output must be a valid output of its type.
        let mut probe = body.clone();
        for k in ["name", "type", "hosts"] {
            if probe.get(k).is_none() {
                probe[k] = old[k].clone();
            }
        }
        if kind == "kafka" && probe.get("auth_type").is_none() {
            probe["auth_type"] = old.get("auth_type").cloned().unwrap_or(json!("none"));
        }
        Self::check_output(&probe)?;
        if body.get("hosts").is_some() {
            check_hosts(
                &kind,
                body["hosts"].as_array().map(Vec::as_slice).unwrap_or(&[]),
            )?;
        }
        if old["is_preconfigured"] == json!(true) && !from_config {
            let allowed: Vec<&str> = old["allow_edit"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if let Some((k, _)) = body
                .as_object()
                .into_iter()
                .flatten()
                .find(|(k, v)| !allowed.contains(&k.as_str()) && old.get(k.as_str()) != Some(v))
            {
                return Err(refused(format!(
                    "Preconfigured output {id} {k} cannot be updated outside of kibana config file."
                )));
            }
        }
        if (old["is_default"] == json!(true) && body["is_default"] == json!(false))
            || (old["is_default_monitoring"] == json!(true)
                && body["is_default_monitoring"] == json!(false))
        {
            return Err(refused(format!(
                "Default output {id} cannot be set to is_default=false or is_default_monitoring=false manually. Make another output the default first."
            )));
        }
        if let Some(p) = body["proxy_id"].as_str() {
            if tx.get(Kind::Proxy, p).await?.is_none() {
                return Err(refused(format!("Proxy {p} not found")));
            }
        }
        let mut doc = old.clone();
        let old_kind = old["type"].as_str().unwrap_or_default().to_string();
        if old_kind != kind {
            // Fields of the former type go.
            for (t, fields) in TYPE_FIELDS {
                if *t == old_kind {
                    for f in *fields {
                        doc[*f] = Value::Null;
                    }
                }
            }
            if kind == "logstash" || kind == "kafka" {
                doc["ca_sha256"] = Value::Null;
                doc["ca_trusted_fingerprint"] = Value::Null;
            }
        }
        if let (Some(d), Some(b)) = (doc.as_object_mut(), body.as_object()) {
            for (k, v) in b {
                if k != "id" && k != "secrets" {
                    d.insert(k.clone(), v.clone());
                }
            }
        }
        if old_kind != kind {
            defaults_for(&mut doc);
        }
        if let Some(h) = doc["hosts"].as_array().cloned() {
            if kind == "elasticsearch" || kind == "remote_elasticsearch" {
                doc["hosts"] = json!(h
                    .iter()
                    .filter_map(Value::as_str)
                    .map(normalize_host)
                    .collect::<Vec<_>>());
            }
        }
        if let Some(s) = body.get("secrets") {
            doc["secrets"] = store_secrets(tx.as_mut(), s).await?;
        }
        self.take_default_flags(tx.as_mut(), id, &doc, from_config)
            .await?;
        let saved = tx
            .update(Kind::Output, id, Some(existing.version), &doc)
            .await?;
        let bumped = self.bump_users(tx.as_mut(), id, &doc).await?;
        tx.commit().await?;
        self.announce(&bumped);
        Ok(json!({ "item": to_item(&saved) }))
    }

    /// `DELETE /outputs/{id}`: policies using it fall back to the default output.
    pub async fn delete_output(&self, id: &str) -> Result<Value> {
        self.delete_output_as(id, false).await
    }

    /// The same; `from_config` (the preconfiguration no longer declares it) may delete a
    /// preconfigured output.
    pub(crate) async fn delete_output_as(&self, id: &str, from_config: bool) -> Result<Value> {
        let (mut tx, existing) = self.locked_output(id).await?;
        let o = &existing.body;
        if o["is_preconfigured"] == json!(true) && !from_config {
            return Err(refused(format!(
                "Preconfigured output {id} cannot be deleted outside of kibana config file."
            )));
        }
        if o["is_default"] == json!(true) {
            return Err(refused(format!("Default output {id} cannot be deleted.")));
        }
        if o["is_default_monitoring"] == json!(true) {
            return Err(refused(format!(
                "Default monitoring output {id} cannot be deleted."
            )));
        }
        // The policies naming it get a new revision, then fall back to the default.
        let bumped = self
            .bump_policies(tx.as_mut(), &policies_using_output(id, false, false))
            .await?;
        for field in ["data_output_id", "monitoring_output_id"] {
            let users = tx
                .find(
                    Kind::AgentPolicy,
                    &store::Query {
                        filter: Filter::Eq(store::doc_field(field), Scalar::Str(id.into())),
                        ..Default::default()
                    },
                )
                .await?;
            for p in users {
                let mut body = p.body.clone();
                body[field] = Value::Null;
                tx.update(Kind::AgentPolicy, &p.id, Some(p.version), &body)
                    .await?;
            }
        }
        tx.delete(Kind::Output, id).await?;
        tx.commit().await?;
        self.announce(&bumped);
        Ok(json!({ "id": id }))
    }

    /// `GET /outputs/{id}/health`: agents report output health to Elasticsearch, which Flotilla
    /// does not have; the state is unknown.
    pub async fn output_health(&self, id: &str) -> Result<Value> {
        let mut tx = self.store.begin(Mode::Read).await?;
        tx.get(Kind::Output, id)
            .await?
            .ok_or_else(|| not_found(id))?;
        Ok(json!({
            "state": "UNKNOWN",
            "message": "Output health is reported by agents to Elasticsearch (logs-fleet_server.output_health-default), which Flotilla does not use.",
            "timestamp": now(),
        }))
    }
}

/// Kibana's defaults for a new output of its type.
fn defaults_for(doc: &mut Value) {
    let kind = doc["type"].as_str().unwrap_or_default().to_string();
    for (k, v) in [
        ("is_default", json!(false)),
        ("is_default_monitoring", json!(false)),
    ] {
        if doc.get(k).is_none_or(Value::is_null) {
            doc[k] = v;
        }
    }
    match kind.as_str() {
        "elasticsearch" | "remote_elasticsearch" => {
            if doc.get("preset").is_none_or(Value::is_null) {
                doc["preset"] = json!("balanced");
            }
            if let Some(h) = doc["hosts"].as_array().cloned() {
                doc["hosts"] = json!(h
                    .iter()
                    .filter_map(Value::as_str)
                    .map(normalize_host)
                    .collect::<Vec<_>>());
            }
        }
        "kafka" => {
            let set = |doc: &mut Value, k: &str, v: Value| {
                if doc.get(k).is_none_or(Value::is_null) {
                    doc[k] = v;
                }
            };
            set(doc, "version", json!("1.0.0"));
            set(doc, "compression", json!("gzip"));
            if doc["compression"] == json!("gzip") {
                set(doc, "compression_level", json!(4));
            }
            set(doc, "client_id", json!("Elastic"));
            set(doc, "partition", json!("hash"));
            if doc["partition"] == json!("random") {
                set(doc, "random", json!({ "group_events": 1 }));
            }
            if doc["partition"] == json!("round_robin") {
                set(doc, "round_robin", json!({ "group_events": 1 }));
            }
            set(doc, "timeout", json!(30));
            set(doc, "broker_timeout", json!(10));
            set(doc, "required_acks", json!(1));
            if !doc["username"].is_null() && !doc["password"].is_null() {
                set(doc, "sasl", json!({ "mechanism": "PLAIN" }));
            }
            if doc["auth_type"] != json!("user_pass") {
                doc["username"] = Value::Null;
                doc["password"] = Value::Null;
            }
            if doc["auth_type"] != json!("none") {
                doc["connection_type"] = Value::Null;
            }
            // Kafka does not go through proxies.
            doc["proxy_id"] = Value::Null;
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn hosts_get_default_ports() {
        assert_eq!(super::normalize_host("http://es"), "http://es:80");
        assert_eq!(
            super::normalize_host("https://es/path"),
            "https://es:443/path"
        );
        assert_eq!(super::normalize_host("http://es:9200"), "http://es:9200");
    }
}
