//! The request bodies of `/api/fleet/agent_policies` as types: Kibana's `@kbn/config-schema`
//! schemas for these routes (`NewAgentPolicySchema` and friends), key for key, checked by the
//! `contract` crate with Kibana's messages. Unknown keys are refused at every level.

use contract::{Request, Violation};
use kuery::{field, FieldType as F, Schema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};

pub use crate::common::{GlobalDataTag, TagValue};
use contract::nullable;
pub use contract::Nullable;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum MonitoringKind {
    Logs,
    Metrics,
    Traces,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentFeature {
    pub name: String,
    pub enabled: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RequiredVersion {
    pub version: String,
    #[schemars(range(min = 0, max = 100))]
    pub percentage: Number,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TargetCsp {
    Aws,
    Azure,
    Gcp,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CloudConnectors {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_csp: Option<TargetCsp>,
    pub enabled: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResourceRequests {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<ResourceRequests>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Agentless {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_connectors: Option<CloudConnectors>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpBuffer {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MonitoringHttp {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Kibana's bound (65353, not 65535, is in Kibana's schema).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 65353))]
    pub port: Option<Number>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buffer: Option<HttpBuffer>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DiagnosticsLimit {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst: Option<Number>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DiagnosticsUploader {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_retries: Option<Number>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_dur: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_dur: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MonitoringDiagnostics {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<DiagnosticsLimit>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uploader: Option<DiagnosticsUploader>,
}

/// The advanced settings Kibana's agent policy form offers; each may be `null` (unset).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AdvancedSettings {
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(extend("x-nullable" = true))]
    pub agent_download_target_directory: Nullable<String>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(extend("x-nullable" = true))]
    pub agent_download_timeout: Nullable<String>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(extend("x-nullable" = true), range(min = 0))]
    pub agent_limits_go_max_procs: Nullable<u64>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(extend("x-nullable" = true))]
    pub agent_logging_files_interval: Nullable<String>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(extend("x-nullable" = true), range(min = 0))]
    pub agent_logging_files_keepfiles: Nullable<u64>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(extend("x-nullable" = true), range(min = 0))]
    pub agent_logging_files_rotateeverybytes: Nullable<u64>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(extend("x-nullable" = true))]
    pub agent_logging_level: Nullable<LogLevel>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(extend("x-nullable" = true))]
    pub agent_logging_metrics_period: Nullable<String>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(extend("x-nullable" = true))]
    pub agent_logging_to_files: Nullable<bool>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(extend("x-nullable" = true))]
    pub agent_monitoring_runtime_experimental: Nullable<MonitoringRuntime>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Error,
    Warning,
    Info,
    Debug,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema)]
pub enum MonitoringRuntime {
    #[serde(rename = "")]
    Default,
    #[serde(rename = "process")]
    Process,
    #[serde(rename = "otel")]
    Otel,
}

/// The body of create (`POST /agent_policies`) and, with `bumpRevision`, of update: Kibana's
/// `NewAgentPolicySchema`, key for key in its order. Unknown keys are refused at every level.
macro_rules! agent_policy_body {
    ($(#[$meta:meta])* $name:ident { $($extra:tt)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub id: Option<String>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            #[schemars(length(max = 100))]
            pub space_ids: Option<Vec<String>>,
            #[schemars(length(min = 1))]
            pub name: String,
            #[schemars(length(min = 1))]
            pub namespace: String,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub description: Option<String>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub is_managed: Option<bool>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub has_fleet_server: Option<bool>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub is_default: Option<bool>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub is_default_fleet_server: Option<bool>,
            /// Seconds; an integer (Kibana's `isInteger`).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            #[schemars(range(min = 0))]
            pub unenroll_timeout: Option<u64>,
            /// Seconds; an integer.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            #[schemars(range(min = 0))]
            pub inactivity_timeout: Option<u64>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            #[schemars(length(max = 3))]
            pub monitoring_enabled: Option<Vec<MonitoringKind>>,
            #[serde(default, deserialize_with = "nullable", skip_serializing_if = "Option::is_none")]
            #[schemars(extend("x-nullable" = true))]
            pub keep_monitoring_alive: Nullable<bool>,
            #[serde(default, deserialize_with = "nullable", skip_serializing_if = "Option::is_none")]
            #[schemars(extend("x-nullable" = true))]
            pub data_output_id: Nullable<String>,
            #[serde(default, deserialize_with = "nullable", skip_serializing_if = "Option::is_none")]
            #[schemars(extend("x-nullable" = true))]
            pub monitoring_output_id: Nullable<String>,
            #[serde(default, deserialize_with = "nullable", skip_serializing_if = "Option::is_none")]
            #[schemars(extend("x-nullable" = true))]
            pub download_source_id: Nullable<String>,
            #[serde(default, deserialize_with = "nullable", skip_serializing_if = "Option::is_none")]
            #[schemars(extend("x-nullable" = true))]
            pub fleet_server_host_id: Nullable<String>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            #[schemars(length(max = 100))]
            pub agent_features: Option<Vec<AgentFeature>>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub is_protected: Option<bool>,
            #[serde(default, deserialize_with = "nullable", skip_serializing_if = "Option::is_none")]
            #[schemars(extend("x-nullable" = true))]
            pub overrides: Nullable<Map<String, Value>>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub advanced_settings: Option<AdvancedSettings>,
            #[serde(default, deserialize_with = "nullable", skip_serializing_if = "Option::is_none")]
            #[schemars(extend("x-nullable" = true))]
            pub supports_agentless: Nullable<bool>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            #[schemars(length(max = 10))]
            pub global_data_tags: Option<Vec<GlobalDataTag>>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub agentless: Option<Agentless>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub monitoring_pprof_enabled: Option<bool>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub monitoring_http: Option<MonitoringHttp>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub monitoring_diagnostics: Option<MonitoringDiagnostics>,
            #[serde(default, deserialize_with = "nullable", skip_serializing_if = "Option::is_none")]
            #[schemars(extend("x-nullable" = true), length(max = 100))]
            pub required_versions: Nullable<Vec<RequiredVersion>>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub has_agent_version_conditions: Option<bool>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub force: Option<bool>,
            $($extra)*
        }

        impl Request for $name {
            fn check(&self) -> std::result::Result<(), Violation> {
                check_policy(
                    &self.name,
                    &self.namespace,
                    self.global_data_tags.as_deref(),
                    self.overrides.as_ref().and_then(Option::as_ref),
                    self.agentless.as_ref(),
                )
            }
        }
    };
}

agent_policy_body!(
    /// `POST /api/fleet/agent_policies`.
    NewAgentPolicy {}
);

agent_policy_body!(
    /// `PUT /api/fleet/agent_policies/{id}`: the create body and `bumpRevision`.
    UpdateAgentPolicy {
        #[serde(rename = "bumpRevision", default, skip_serializing_if = "Option::is_none")]
        pub bump_revision: Option<bool>,
    }
);

/// `POST /api/fleet/agent_policies/{id}/copy`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CopyAgentPolicy {
    #[schemars(length(min = 1))]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl Request for CopyAgentPolicy {
    fn check(&self) -> std::result::Result<(), Violation> {
        non_empty("name", &self.name)
    }
}

/// `POST /api/fleet/agent_policies/delete`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteAgentPolicy {
    #[serde(rename = "agentPolicyId")]
    pub agent_policy_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force: Option<bool>,
}

impl Request for DeleteAgentPolicy {}

/// `POST /api/fleet/agent_policies/_bulk_get`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkGetAgentPolicies {
    pub ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full: Option<bool>,
    #[serde(
        rename = "ignoreMissing",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub ignore_missing: Option<bool>,
}

impl Request for BulkGetAgentPolicies {}

/// `POST /api/fleet/agent_policies/outputs`: policy ids.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentPolicyIds {
    #[schemars(length(max = 1000))]
    pub ids: Vec<String>,
}

impl Request for AgentPolicyIds {}

/// `format` of the routes that answer package policies: `inputs` as a list or a map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Simplified,
    Legacy,
}

/// Kibana's `sortOrder`: `desc` or `asc`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SortOrder {
    Desc,
    Asc,
}

impl SortOrder {
    pub fn as_str(self) -> &'static str {
        match self {
            SortOrder::Desc => "desc",
            SortOrder::Asc => "asc",
        }
    }
}

/// The query of `GET /api/fleet/agent_policies`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ListAgentPoliciesQuery {
    pub page: Option<f64>,
    pub per_page: Option<f64>,
    pub sort_field: Option<String>,
    pub sort_order: Option<SortOrder>,
    pub show_upgradeable: Option<bool>,
    pub kuery: Option<String>,
    /// Deprecated in Kibana: `withAgentCount`.
    pub no_agent_count: Option<bool>,
    pub with_agent_count: Option<bool>,
    pub full: Option<bool>,
    pub format: Option<Format>,
}

impl Request for ListAgentPoliciesQuery {
    fn check(&self) -> std::result::Result<(), Violation> {
        let heavy = self.full == Some(true)
            || self.no_agent_count == Some(false)
            || self.with_agent_count == Some(true);
        if heavy && self.per_page.is_some_and(|p| p > 100.0) {
            return Err(Violation::at(
                "",
                "perPage should be less or equal to 100 when fetching full policies or agent count.",
            ));
        }
        Ok(())
    }
}

/// The query of `POST /api/fleet/agent_policies`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAgentPolicyQuery {
    /// Also add the newest `system` integration.
    pub sys_monitoring: Option<bool>,
}

impl Request for CreateAgentPolicyQuery {}

/// The query of the routes that answer agent policies with their package policies.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FormatQuery {
    pub format: Option<Format>,
}

impl Request for FormatQuery {}

/// The query of `/full` and `/download`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FullPolicyQuery {
    pub download: Option<bool>,
    pub standalone: Option<bool>,
    pub kubernetes: Option<bool>,
    /// Only the current revision is kept (Flotilla's own).
    #[schemars(range(min = 1))]
    pub revision: Option<u64>,
}

impl Request for FullPolicyQuery {}

/// A route that takes no query parameters.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoQuery {}

impl Request for NoQuery {}

/// Kibana's `validateNonEmptyString`.
fn non_empty(path: &str, value: &str) -> std::result::Result<(), Violation> {
    if value.trim().is_empty() {
        return Err(Violation::at(path, "Invalid empty string"));
    }
    Ok(())
}

/// Kibana's `validate` functions of the agent policy schema, in its key order.
fn check_policy(
    name: &str,
    namespace: &str,
    tags: Option<&[GlobalDataTag]>,
    overrides: Option<&Map<String, Value>>,
    agentless: Option<&Agentless>,
) -> std::result::Result<(), Violation> {
    non_empty("name", name)?;
    if let Some(why) = crate::common::namespace_problem(namespace) {
        return Err(Violation::at("namespace", why));
    }
    if overrides.is_some_and(|o| o.keys().any(|k| k.starts_with("inputs"))) {
        return Err(Violation::nullable_at(
            "overrides",
            "inputs overrides is not allowed",
        ));
    }
    if let Some(tags) = tags {
        check_global_data_tags(tags)?;
    }
    let requests = agentless
        .and_then(|a| a.resources.as_ref())
        .and_then(|r| r.requests.as_ref());
    if let Some(r) = requests {
        if r.memory.as_deref().is_some_and(|m| !is_memory(m)) {
            return Err(Violation::at(
                "agentless.resources.requests.memory",
                "Invalid memory format",
            ));
        }
        if r.cpu.as_deref().is_some_and(|c| !is_cpu(c)) {
            return Err(Violation::at(
                "agentless.resources.requests.cpu",
                "Invalid CPU format",
            ));
        }
    }
    Ok(())
}

/// Kibana's `validateGlobalDataTagInput`: duplicate names (after trimming) and names with
/// white space, both reported.
fn check_global_data_tags(tags: &[GlobalDataTag]) -> std::result::Result<(), Violation> {
    let mut seen = std::collections::HashSet::new();
    let mut duplicates = Vec::new();
    let mut spaces = Vec::new();
    for tag in tags {
        if tag.name.chars().any(char::is_whitespace) {
            spaces.push(format!("'{}'", tag.name));
        }
        let trimmed = tag.name.trim();
        if !seen.insert(trimmed) {
            duplicates.push(format!("'{trimmed}'"));
        }
    }
    let mut errors = Vec::new();
    if !duplicates.is_empty() {
        errors.push(format!(
            "Found duplicate tag names: [{}], duplicate tag names are not allowed.",
            duplicates.join(", ")
        ));
    }
    if !spaces.is_empty() {
        errors.push(format!(
            "Found tag names with spaces: [{}], tag names with spaces are not allowed.",
            spaces.join(", ")
        ));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Violation::at("global_data_tags", errors.join(" ")))
    }
}

/// `^\d+(Mi|Gi)$`
fn is_memory(m: &str) -> bool {
    let digits = m.trim_end_matches("Mi").trim_end_matches("Gi");
    digits.len() + 2 == m.len() && !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// `^(\d+m|\d+(\.\d+)?)$`
fn is_cpu(c: &str) -> bool {
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if let Some(millis) = c.strip_suffix('m') {
        return all_digits(millis);
    }
    match c.split_once('.') {
        Some((whole, frac)) => all_digits(whole) && all_digits(frac),
        None => all_digits(c),
    }
}

/// Fields a `kuery` or `sortField` may name on agent policies.
pub static KUERY: Schema = Schema {
    prefix: "ingest-agent-policies",
    fields: &[
        field("name", F::Keyword),
        field("description", F::Text),
        field("namespace", F::Keyword),
        field("status", F::Keyword),
        field("is_managed", F::Boolean),
        field("is_default", F::Boolean),
        field("is_default_fleet_server", F::Boolean),
        field("has_fleet_server", F::Boolean),
        field("is_protected", F::Boolean),
        field("is_preconfigured", F::Boolean),
        field("supports_agentless", F::Boolean),
        field("revision", F::Number),
        field("inactivity_timeout", F::Number),
        field("unenroll_timeout", F::Number),
        field("updated_at", F::Date),
        field("updated_by", F::Keyword),
        field("monitoring_enabled", F::KeywordArray),
        field("data_output_id", F::Keyword),
        field("monitoring_output_id", F::Keyword),
        field("fleet_server_host_id", F::Keyword),
        field("download_source_id", F::Keyword),
        field("schema_version", F::Keyword),
        field("space_ids", F::KeywordArray),
    ],
};
