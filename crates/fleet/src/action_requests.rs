//! The request bodies of the agent action routes as types: Kibana's schemas for them
//! (`types/rest_spec/agent.ts`), checked by the `contract` crate with Kibana's messages. Bulk
//! requests keep their body as the job's request, serialized from these types.

use contract::{Request, Violation};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Number, Value};

/// The agents a bulk action selects: ids, or a KQL query (`""`: every agent).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum AgentSelection {
    Ids(#[schemars(length(max = 10000))] Vec<String>),
    Kuery(String),
}

impl AgentSelection {
    /// The selection as the bulk selector reads it (an array of ids or a kuery string).
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).expect("selections serialize")
    }
}

/// Kibana's `isValid` of `semver`.
fn semver(path: &str, version: &str) -> Result<(), Violation> {
    if ::semver::Version::parse(version.trim().trim_start_matches('v')).is_err() {
        return Err(Violation::at(path, "not a valid semver"));
    }
    Ok(())
}

fn date(path: &str, value: Option<&str>) -> Result<(), Violation> {
    match value {
        Some(v) if !crate::common::is_date(v) => Err(Violation::at(path, "not a valid date")),
        _ => Ok(()),
    }
}

/// `POST /agents/{id}/unenroll` (the body may be absent or `null`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UnenrollAgent {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoke: Option<bool>,
}

impl Request for UnenrollAgent {}

/// `POST /agents/bulk_unenroll`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BulkUnenroll {
    pub agents: AgentSelection,
    /// Unenroll agents of hosted policies too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force: Option<bool>,
    /// Revoke the agents' keys now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoke: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<Number>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_inactive: Option<bool>,
}

impl Request for BulkUnenroll {}

/// `POST /agents/{id}/reassign`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReassignAgent {
    pub policy_id: String,
}

impl Request for ReassignAgent {}

/// `POST /agents/bulk_reassign`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BulkReassign {
    #[serde(rename = "policy_id")]
    pub policy_id: String,
    pub agents: AgentSelection,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<Number>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_inactive: Option<bool>,
}

impl Request for BulkReassign {}

/// `POST /agents/{id}/upgrade`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpgradeAgent {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_uri: Option<String>,
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force: Option<bool>,
    #[serde(
        rename = "skipRateLimitCheck",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub skip_rate_limit_check: Option<bool>,
}

impl Request for UpgradeAgent {
    fn check(&self) -> Result<(), Violation> {
        semver("version", &self.version)
    }
}

/// `POST /agents/bulk_upgrade`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkUpgrade {
    pub agents: AgentSelection,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_uri: Option<String>,
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force: Option<bool>,
    #[serde(
        rename = "skipRateLimitCheck",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub skip_rate_limit_check: Option<bool>,
    /// Spread the upgrade over this many seconds (at least ten minutes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 600))]
    pub rollout_duration_seconds: Option<Number>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    #[serde(rename = "batchSize", default, skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<Number>,
    #[serde(
        rename = "includeInactive",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub include_inactive: Option<bool>,
}

impl Request for BulkUpgrade {
    fn check(&self) -> Result<(), Violation> {
        semver("version", &self.version)?;
        date("start_time", self.start_time.as_deref())
    }
}

/// The metrics a diagnostics bundle may add.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema)]
pub enum AdditionalMetric {
    #[serde(rename = "CPU")]
    Cpu,
}

/// `POST /agents/{id}/request_diagnostics` (the body may be absent or `null`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestDiagnostics {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1))]
    pub additional_metrics: Option<Vec<AdditionalMetric>>,
}

impl Request for RequestDiagnostics {}

/// `POST /agents/bulk_request_diagnostics` (no `includeInactive`, as in Kibana).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkRequestDiagnostics {
    pub agents: AgentSelection,
    #[serde(rename = "batchSize", default, skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<Number>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1))]
    pub additional_metrics: Option<Vec<AdditionalMetric>>,
}

impl Request for BulkRequestDiagnostics {}

/// `POST /agents/bulk_update_agent_tags`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BulkUpdateAgentTags {
    pub agents: AgentSelection,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 10))]
    pub tags_to_add: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 10))]
    pub tags_to_remove: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<Number>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_inactive: Option<bool>,
}

impl Request for BulkUpdateAgentTags {}

/// `POST /agents/bulk_rollback`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BulkRollback {
    pub agents: AgentSelection,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<Number>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_inactive: Option<bool>,
}

impl Request for BulkRollback {}

/// The action types `POST /agents/{id}/actions` takes besides SETTINGS.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum GenericActionType {
    Unenroll,
    Upgrade,
    PolicyReassign,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GenericAction {
    #[serde(rename = "type")]
    pub kind: GenericActionType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ack_data: Option<Value>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema)]
pub enum SettingsActionType {
    #[serde(rename = "SETTINGS")]
    Settings,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ActionLogLevel {
    Debug,
    Info,
    Warning,
    Error,
}

/// SETTINGS' data: the agent's log level, `null` for its default.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsData {
    #[serde(default)]
    #[schemars(extend("x-nullable" = true))]
    pub log_level: Option<ActionLogLevel>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsAction {
    #[serde(rename = "type")]
    pub kind: SettingsActionType,
    #[serde(default)]
    pub data: SettingsData,
}

/// Kibana's `NewAgentActionSchema`: UNENROLL, UPGRADE or POLICY_REASSIGN with free data, or
/// SETTINGS with a log level.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum NewAgentAction {
    Generic(GenericAction),
    Settings(SettingsAction),
}

impl NewAgentAction {
    /// The action's type as agents receive it, and its data.
    pub fn kind_and_data(&self) -> (&'static str, Value) {
        match self {
            NewAgentAction::Generic(a) => (
                match a.kind {
                    GenericActionType::Unenroll => "UNENROLL",
                    GenericActionType::Upgrade => "UPGRADE",
                    GenericActionType::PolicyReassign => "POLICY_REASSIGN",
                },
                a.data.clone().unwrap_or_else(|| serde_json::json!({})),
            ),
            NewAgentAction::Settings(a) => (
                "SETTINGS",
                serde_json::to_value(&a.data).expect("settings serialize"),
            ),
        }
    }
}

/// `POST /agents/{id}/actions`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PostAgentAction {
    pub action: NewAgentAction,
}

impl Request for PostAgentAction {}
