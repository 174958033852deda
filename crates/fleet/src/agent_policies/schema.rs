//! The request bodies of `/api/fleet/agent_policies`, as `fleet-openapi.json` gives them
//! (`additionalProperties: false` everywhere, so unknown keys are refused).

use crate::validate::{opt, req, Field, Ty, BOOL, NON_EMPTY, NUM, STR};
use kuery::{field, FieldType as F, Schema};

static NULLABLE_ANY: Ty = Ty::Nullable(&Ty::Any);
static NULLABLE_STR: Ty = Ty::Nullable(&STR);

static ADVANCED_SETTINGS: &[Field] = &[
    opt("agent_download_target_directory", NULLABLE_ANY),
    opt("agent_download_timeout", NULLABLE_ANY),
    opt("agent_limits_go_max_procs", NULLABLE_ANY),
    opt("agent_logging_files_interval", NULLABLE_ANY),
    opt("agent_logging_files_keepfiles", NULLABLE_ANY),
    opt("agent_logging_files_rotateeverybytes", NULLABLE_ANY),
    opt("agent_logging_level", NULLABLE_ANY),
    opt("agent_logging_metrics_period", NULLABLE_ANY),
    opt("agent_logging_to_files", NULLABLE_ANY),
    opt("agent_monitoring_runtime_experimental", NULLABLE_ANY),
];
static AGENT_FEATURE: &[Field] = &[req("name", STR), req("enabled", BOOL)];
static CLOUD_CONNECTORS: &[Field] = &[req("enabled", BOOL), opt("target_csp", STR)];
static REQUESTS: &[Field] = &[opt("cpu", STR), opt("memory", STR)];
static RESOURCES: &[Field] = &[opt("requests", Ty::Object(REQUESTS))];
static AGENTLESS: &[Field] = &[
    opt("cloud_connectors", Ty::Object(CLOUD_CONNECTORS)),
    opt("resources", Ty::Object(RESOURCES)),
];
static GLOBAL_DATA_TAG: &[Field] = &[req("name", STR), req("value", Ty::StrOrNum)];
static DIAG_LIMIT: &[Field] = &[opt("burst", NUM), opt("interval", STR)];
static DIAG_UPLOADER: &[Field] = &[
    opt("init_dur", STR),
    opt("max_dur", STR),
    opt("max_retries", NUM),
];
static MONITORING_DIAGNOSTICS: &[Field] = &[
    opt("limit", Ty::Object(DIAG_LIMIT)),
    opt("uploader", Ty::Object(DIAG_UPLOADER)),
];
static HTTP_BUFFER: &[Field] = &[opt("enabled", BOOL)];
static MONITORING_HTTP: &[Field] = &[
    opt("buffer", Ty::Object(HTTP_BUFFER)),
    opt("enabled", BOOL),
    opt("host", STR),
    opt(
        "port",
        Ty::Num {
            min: Some(0.0),
            max: Some(65353.0),
        },
    ),
];
static MONITORING_KIND: Ty = Ty::Enum(&["logs", "metrics", "traces"]);
static REQUIRED_VERSION: &[Field] = &[
    req("version", STR),
    req(
        "percentage",
        Ty::Num {
            min: Some(0.0),
            max: Some(100.0),
        },
    ),
];
static REQUIRED_VERSION_TY: Ty = Ty::Object(REQUIRED_VERSION);
static REQUIRED_VERSIONS: Ty = Ty::Array(&REQUIRED_VERSION_TY);
static AGENT_FEATURE_TY: Ty = Ty::Object(AGENT_FEATURE);
static GLOBAL_DATA_TAG_TY: Ty = Ty::Object(GLOBAL_DATA_TAG);

macro_rules! policy_fields {
    ($($extra:expr),* $(,)?) => {
        &[
            opt("advanced_settings", Ty::Object(ADVANCED_SETTINGS)),
            opt("agent_features", Ty::Array(&AGENT_FEATURE_TY)),
            opt("agentless", Ty::Object(AGENTLESS)),
            opt("data_output_id", NULLABLE_STR),
            opt("description", STR),
            opt("download_source_id", NULLABLE_STR),
            opt("fleet_server_host_id", NULLABLE_STR),
            opt("force", BOOL),
            opt("global_data_tags", Ty::Array(&GLOBAL_DATA_TAG_TY)),
            opt("has_fleet_server", BOOL),
            opt("id", STR),
            opt("inactivity_timeout", Ty::Num { min: Some(0.0), max: None }),
            opt("is_default", BOOL),
            opt("is_default_fleet_server", BOOL),
            opt("is_managed", BOOL),
            opt("is_protected", BOOL),
            opt("keep_monitoring_alive", Ty::Nullable(&BOOL)),
            opt("monitoring_diagnostics", Ty::Object(MONITORING_DIAGNOSTICS)),
            opt("monitoring_enabled", Ty::Array(&MONITORING_KIND)),
            opt("monitoring_http", Ty::Object(MONITORING_HTTP)),
            opt("monitoring_output_id", NULLABLE_STR),
            opt("monitoring_pprof_enabled", BOOL),
            req("name", NON_EMPTY),
            req("namespace", NON_EMPTY),
            opt("overrides", Ty::Nullable(&Ty::Map)),
            opt("required_versions", Ty::Nullable(&REQUIRED_VERSIONS)),
            opt("space_ids", Ty::Array(&STR)),
            opt("supports_agentless", Ty::Nullable(&BOOL)),
            opt("unenroll_timeout", Ty::Num { min: Some(0.0), max: None }),
            $($extra,)*
        ]
    };
}

pub static CREATE: &[Field] = policy_fields!();
pub static UPDATE: &[Field] = policy_fields!(opt("bumpRevision", BOOL));
pub static COPY: &[Field] = &[req("name", NON_EMPTY), opt("description", STR)];
pub static DELETE: &[Field] = &[req("agentPolicyId", STR), opt("force", BOOL)];
pub static BULK_GET: &[Field] = &[
    req("ids", Ty::Array(&STR)),
    opt("full", BOOL),
    opt("ignoreMissing", BOOL),
];
pub static IDS: &[Field] = &[req("ids", Ty::Array(&STR))];

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
