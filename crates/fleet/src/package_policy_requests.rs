//! The request bodies of `POST /api/fleet/package_policies` and `PUT .../{id}` as types:
//! Kibana's schemas for them, key for key and in Kibana's key order (the first failing key is
//! the one reported). Each route takes either format: the full one (`inputs` as an array of
//! inputs with their streams, vars as `{name: {value, type}}` records) is tried first, then the
//! simplified one (`inputs` keyed by `<policy template>-<input type>`, streams by data stream,
//! vars as plain values); a body that fits neither gets Kibana's "types that failed validation"
//! with the reason of each.
//!
//! What a package defines (its inputs, streams and vars) is open-ended: the types check the
//! shape Kibana checks and keep the values as JSON for the package's own validation.

use std::collections::BTreeMap;

use contract::{Request, Violation};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Number, Value};

use crate::common::GlobalDataTag;
use contract::{nullable, Nullable};

/// `package` of a package policy request.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PackageRef {
    pub name: String,
    pub version: String,
    pub title: Option<String>,
    pub experimental_data_stream_features: Option<Vec<ExperimentalFeatures>>,
    pub requires_root: Option<bool>,
    pub fips_compatible: Option<bool>,
}

impl PackageRef {
    /// A package by name and version.
    pub fn new(name: &str, version: &str) -> Self {
        PackageRef {
            name: name.to_string(),
            version: version.to_string(),
            title: None,
            experimental_data_stream_features: None,
            requires_root: None,
            fips_compatible: None,
        }
    }
}

/// `package.experimental_data_stream_features[]`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExperimentalFeatures {
    pub data_stream: String,
    pub features: DataStreamFeatures,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DataStreamFeatures {
    pub synthetic_source: Option<bool>,
    pub tsdb: Option<bool>,
    pub doc_value_only_numeric: Option<bool>,
    pub doc_value_only_other: Option<bool>,
}

/// A var of the full format: `{value, type, frozen}`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // a schema: the values stay JSON
struct ConfigEntry {
    r#type: Option<String>,
    value: Option<Value>,
    frozen: Option<bool>,
}

type ConfigRecord = BTreeMap<String, ConfigEntry>;

#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
enum Release {
    Ga,
    Beta,
    Experimental,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct StreamPrivileges {
    indices: Option<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct StreamElasticsearch {
    privileges: Option<StreamPrivileges>,
    dynamic_dataset: Option<bool>,
    dynamic_namespace: Option<bool>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct StreamDataStream {
    dataset: String,
    r#type: Option<String>,
    elasticsearch: Option<StreamElasticsearch>,
}

/// A stream of the full format.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct FullStream {
    id: Option<String>,
    enabled: bool,
    keep_enabled: Option<bool>,
    release: Option<Release>,
    data_stream: StreamDataStream,
    vars: Option<ConfigRecord>,
    config: Option<ConfigRecord>,
    compiled_stream: Option<Value>,
}

/// An input of the full format (no `compiled_input`: Fleet compiles it).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct FullInput {
    id: Option<String>,
    r#type: String,
    policy_template: Option<String>,
    enabled: bool,
    keep_enabled: Option<bool>,
    vars: Option<ConfigRecord>,
    config: Option<ConfigRecord>,
    streams: Option<Vec<FullStream>>,
}

/// A secret var's value as a simplified response shows it (sent back unchanged).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[allow(dead_code)]
struct SecretRef {
    id: String,
    is_secret_ref: bool,
}

/// A simplified var's value.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum SimplifiedValue {
    Bool(bool),
    Text(String),
    Number(Number),
    Texts(Vec<String>),
    Numbers(Vec<Number>),
    Secret(SecretRef),
}

type SimplifiedVars = BTreeMap<String, Option<SimplifiedValue>>;

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct SimplifiedStream {
    enabled: Option<bool>,
    vars: Option<SimplifiedVars>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct SimplifiedInput {
    enabled: Option<bool>,
    vars: Option<SimplifiedVars>,
    streams: Option<BTreeMap<String, SimplifiedStream>>,
}

/// `overrides` of a package policy: only its inputs, never what Fleet compiles.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inputs: Option<Map<String, Value>>,
}

/// The full format's body: the keys create and update share, in Kibana's order, then the
/// route's own; and its reading as a [`PackagePolicyRequest`].
macro_rules! full_format {
    (
        $(#[$doc:meta])*
        $ty:ident {
            name: $name:ty,
            inputs: $inputs:ty, schema $inputs_schema:literal,
            $($extra:tt)*
        }
        id: |$b:ident| $id:expr
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Deserialize, JsonSchema)]
        #[serde(deny_unknown_fields)]
        pub struct $ty {
            pub name: $name,
            pub description: Option<String>,
            pub namespace: Option<String>,
            #[serde(default, deserialize_with = "nullable")]
            #[schemars(extend("x-nullable" = true))]
            pub policy_id: Nullable<String>,
            pub policy_ids: Option<Vec<String>>,
            #[serde(default, deserialize_with = "nullable")]
            #[schemars(extend("x-nullable" = true))]
            pub output_id: Nullable<String>,
            pub enabled: Option<bool>,
            pub is_managed: Option<bool>,
            pub package: Option<PackageRef>,
            #[schemars(with = $inputs_schema)]
            pub inputs: $inputs,
            #[schemars(with = "Option<ConfigRecord>")]
            pub vars: Option<Map<String, Value>>,
            #[serde(default, deserialize_with = "nullable")]
            #[schemars(extend("x-nullable" = true))]
            pub overrides: Nullable<Overrides>,
            #[serde(default, deserialize_with = "nullable")]
            #[schemars(extend("x-nullable" = true))]
            pub supports_agentless: Nullable<bool>,
            #[serde(default, deserialize_with = "nullable")]
            #[schemars(extend("x-nullable" = true))]
            pub additional_datastreams_permissions: Nullable<Vec<String>>,
            #[serde(default, deserialize_with = "nullable")]
            #[schemars(extend("x-nullable" = true))]
            pub global_data_tags: Nullable<Vec<GlobalDataTag>>,
            /// Kibana ignores it: a package policy is in the request's space.
            #[serde(rename = "spaceIds")]
            pub space_ids: Option<Vec<String>>,
            $($extra)*
            pub force: Option<bool>,
        }

        impl From<$ty> for PackagePolicyRequest {
            fn from($b: $ty) -> Self {
                PackagePolicyRequest {
                    id: $id,
                    name: $b.name.into(),
                    description: $b.description,
                    namespace: $b.namespace,
                    policy_ids: policy_ids($b.policy_ids, $b.policy_id),
                    output_id: $b.output_id,
                    enabled: $b.enabled,
                    is_managed: $b.is_managed,
                    package: $b.package,
                    inputs: Option::from($b.inputs).map(RequestInputs::Full),
                    vars: $b.vars,
                    simplified_vars: false,
                    overrides: $b.overrides,
                    supports_agentless: $b.supports_agentless,
                    additional_datastreams_permissions: $b.additional_datastreams_permissions,
                    global_data_tags: $b.global_data_tags,
                    force: $b.force.unwrap_or(false),
                }
            }
        }
    };
}

full_format! {
    /// The full format of `POST /package_policies`.
    CreateFullPackagePolicy {
        name: String,
        inputs: Vec<Value>, schema "Vec<FullInput>",
        pub id: Option<String>,
    }
    id: |b| b.id
}

full_format! {
    /// The full format of `PUT /package_policies/{id}`: every key optional, what is absent kept.
    UpdateFullPackagePolicy {
        name: Option<String>,
        inputs: Option<Vec<Value>>, schema "Option<Vec<FullInput>>",
        /// The version read (optimistic concurrency in Kibana; informational here).
        pub version: Option<String>,
    }
    id: |b| None
}

/// The simplified format, for create and update alike.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SimplifiedPackagePolicy {
    pub id: Option<String>,
    pub name: String,
    pub description: Option<String>,
    pub namespace: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schemars(extend("x-nullable" = true))]
    pub output_id: Nullable<String>,
    #[schemars(with = "Option<SimplifiedVars>")]
    pub vars: Option<Map<String, Value>>,
    #[schemars(with = "Option<BTreeMap<String, SimplifiedInput>>")]
    pub inputs: Option<Map<String, Value>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schemars(extend("x-nullable" = true))]
    pub supports_agentless: Nullable<bool>,
    #[serde(default, deserialize_with = "nullable")]
    #[schemars(extend("x-nullable" = true))]
    pub additional_datastreams_permissions: Nullable<Vec<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schemars(extend("x-nullable" = true))]
    pub policy_id: Nullable<String>,
    pub policy_ids: Option<Vec<String>>,
    pub force: Option<bool>,
    pub package: PackageRef,
}

/// `POST /api/fleet/package_policies`.
#[derive(Debug, Clone, JsonSchema)]
#[schemars(untagged)]
pub enum CreatePackagePolicy {
    Full(Box<CreateFullPackagePolicy>),
    Simplified(Box<SimplifiedPackagePolicy>),
}

/// `PUT /api/fleet/package_policies/{id}`.
#[derive(Debug, Clone, JsonSchema)]
#[schemars(untagged)]
pub enum UpdatePackagePolicy {
    Full(Box<UpdateFullPackagePolicy>),
    Simplified(Box<SimplifiedPackagePolicy>),
}

/// Reads the first format whose schema the body fits. serde's `untagged` would take the full
/// format for a simplified body too: the package-defined parts are kept as JSON, which serde
/// accepts in any shape.
macro_rules! first_format_that_fits {
    ($union:ident, $full:ty) => {
        impl<'de> Deserialize<'de> for $union {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                use serde::de::Error;
                let value = Value::deserialize(d)?;
                if contract::fits::<$full>(&value) {
                    serde_json::from_value(value)
                        .map(|b| $union::Full(Box::new(b)))
                        .map_err(D::Error::custom)
                } else {
                    serde_json::from_value(value)
                        .map(|b| $union::Simplified(Box::new(b)))
                        .map_err(D::Error::custom)
                }
            }
        }
    };
}

first_format_that_fits!(CreatePackagePolicy, CreateFullPackagePolicy);
first_format_that_fits!(UpdatePackagePolicy, UpdateFullPackagePolicy);

impl Request for CreatePackagePolicy {
    fn check(&self) -> Result<(), Violation> {
        PackagePolicyRequest::from(self.clone()).check()
    }
}

impl Request for UpdatePackagePolicy {
    fn check(&self) -> Result<(), Violation> {
        PackagePolicyRequest::from(self.clone()).check()
    }
}

/// A package policy's inputs as a request gives them.
#[derive(Debug, Clone)]
pub enum RequestInputs {
    /// Full-format inputs, each with its streams.
    Full(Vec<Value>),
    /// Simplified inputs: `<policy template>-<input type>` → `{enabled, vars, streams}`.
    Simplified(Map<String, Value>),
}

/// A create or update in either format, as the package policy service takes it. `None` is
/// "not given" (an update keeps what is stored).
#[derive(Debug, Clone, Default)]
pub struct PackagePolicyRequest {
    pub id: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub namespace: Option<String>,
    /// `policy_ids`, or the deprecated `policy_id` (`null`: none).
    pub policy_ids: Option<Vec<String>>,
    pub output_id: Nullable<String>,
    pub enabled: Option<bool>,
    pub is_managed: Option<bool>,
    pub package: Option<PackageRef>,
    pub inputs: Option<RequestInputs>,
    pub vars: Option<Map<String, Value>>,
    /// `vars` are simplified values (`{name: value}`), not `{name: {value, type}}` records.
    pub simplified_vars: bool,
    pub overrides: Nullable<Overrides>,
    pub supports_agentless: Nullable<bool>,
    pub additional_datastreams_permissions: Nullable<Vec<String>>,
    pub global_data_tags: Nullable<Vec<GlobalDataTag>>,
    pub force: bool,
}

fn policy_ids(ids: Option<Vec<String>>, id: Nullable<String>) -> Option<Vec<String>> {
    ids.or_else(|| id.map(|one| one.into_iter().collect()))
}

impl From<SimplifiedPackagePolicy> for PackagePolicyRequest {
    fn from(b: SimplifiedPackagePolicy) -> Self {
        PackagePolicyRequest {
            id: b.id,
            name: Some(b.name),
            description: b.description,
            namespace: b.namespace,
            policy_ids: policy_ids(b.policy_ids, b.policy_id),
            output_id: b.output_id,
            package: Some(b.package),
            inputs: Some(RequestInputs::Simplified(b.inputs.unwrap_or_default())),
            vars: b.vars,
            simplified_vars: true,
            supports_agentless: b.supports_agentless,
            additional_datastreams_permissions: b.additional_datastreams_permissions,
            force: b.force.unwrap_or(false),
            ..Default::default()
        }
    }
}

impl From<CreatePackagePolicy> for PackagePolicyRequest {
    fn from(body: CreatePackagePolicy) -> Self {
        match body {
            CreatePackagePolicy::Simplified(b) => (*b).into(),
            CreatePackagePolicy::Full(b) => (*b).into(),
        }
    }
}

impl From<UpdatePackagePolicy> for PackagePolicyRequest {
    fn from(body: UpdatePackagePolicy) -> Self {
        match body {
            UpdatePackagePolicy::Simplified(b) => {
                // Without `inputs` a simplified update keeps the stored inputs (Kibana merges it
                // as a full-format one).
                let keep_inputs = b.inputs.is_none();
                let mut request = PackagePolicyRequest::from(*b);
                if keep_inputs {
                    request.inputs = None;
                }
                request
            }
            UpdatePackagePolicy::Full(b) => (*b).into(),
        }
    }
}

impl PackagePolicyRequest {
    /// Sets the attributes a request may give or clear (`null`) and Fleet keeps as given.
    pub(crate) fn set_optional_attributes(&self, attrs: &mut Map<String, Value>) {
        let mut set = |k: &str, v: Option<Value>| {
            if let Some(v) = v {
                attrs.insert(k.into(), v);
            }
        };
        set(
            "supports_agentless",
            self.supports_agentless.map(|v| json!(v)),
        );
        set(
            "additional_datastreams_permissions",
            self.additional_datastreams_permissions
                .as_ref()
                .map(|v| json!(v)),
        );
        set("overrides", self.overrides.as_ref().map(|v| json!(v)));
        set(
            "global_data_tags",
            self.global_data_tags.as_ref().map(|v| json!(v)),
        );
    }

    /// The rules Kibana writes as `validate` functions on these schemas.
    pub fn check(&self) -> Result<(), Violation> {
        if let Some(ns) = self.namespace.as_deref().filter(|n| !n.trim().is_empty()) {
            if let Some(why) = crate::common::namespace_problem(ns) {
                return Err(Violation::at("namespace", why));
            }
        }
        if let Some(Some(perms)) = &self.additional_datastreams_permissions {
            if let Some(bad) = perms.iter().find(|p| !is_datastream_permission(p)) {
                return Err(Violation::nullable_at(
                    "additional_datastreams_permissions",
                    format!(
                        "{bad} is not a valid datastream permissions, it should match logs|metrics|traces|synthetics|profiling)-*"
                    ),
                ));
            }
        }
        if let Some(Some(Overrides {
            inputs: Some(inputs),
        })) = &self.overrides
        {
            // Kibana's patterns: `compiled_inputs…` and `compiled_stream…` (so `compiled_streams`
            // too), at the first level of `overrides.inputs`.
            if inputs
                .keys()
                .any(|k| k.starts_with("compiled_inputs") || k.starts_with("compiled_stream"))
            {
                return Err(Violation::nullable_within(
                    "overrides",
                    "inputs",
                    "Overrides of compiled_inputs and compiled_stream are not allowed",
                ));
            }
        }
        Ok(())
    }
}

/// Kibana's pattern for additional data stream permissions, `^(logs)|(metrics)|(traces)|
/// (synthetics)|(profiling)-(.*)$`, read as JavaScript reads it: the anchors bind to the first
/// and last alternatives only.
fn is_datastream_permission(p: &str) -> bool {
    p.starts_with("logs")
        || p.contains("metrics")
        || p.contains("traces")
        || p.contains("synthetics")
        || p.contains("profiling-")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn create(body: Value) -> Result<CreatePackagePolicy, String> {
        contract::parse("request body", body)
    }

    #[test]
    fn a_body_with_an_input_array_is_the_full_format() {
        let body = create(json!({
            "name": "n", "package": {"name": "nginx", "version": "1.5.0"},
            "inputs": [{"type": "logfile", "enabled": true, "streams": []}],
        }))
        .unwrap();
        assert!(matches!(body, CreatePackagePolicy::Full(_)));
        let body = create(json!({
            "name": "n", "package": {"name": "nginx", "version": "1.5.0"},
            "inputs": {"nginx-logfile": {"enabled": false}},
        }))
        .unwrap();
        assert!(matches!(body, CreatePackagePolicy::Simplified(_)));
        // Simplified vars are not records: the full format does not fit, though serde alone
        // would read them as JSON.
        let body: UpdatePackagePolicy = contract::parse(
            "request body",
            json!({"name": "n", "package": {"name": "nginx", "version": "1.5.0"}, "vars": {"a": "b"}}),
        )
        .unwrap();
        assert!(matches!(body, UpdatePackagePolicy::Simplified(_)));
    }

    #[test]
    fn a_body_that_fits_neither_format_says_why_for_each() {
        let err = create(json!({
            "name": "n", "package": {"name": "nginx", "version": "1.5.0"},
            "inputs": [{"type": "logfile", "enabled": true, "streams": [{"data_stream": {"dataset": "x"}}]}],
        }))
        .unwrap_err();
        assert_eq!(
            err,
            "[request body]: types that failed validation:\n\
             - [request body.0.inputs.0.streams.0.enabled]: expected value of type [boolean] but got [undefined]\n\
             - [request body.1.inputs]: expected value of type [object] but got [Array]"
        );
    }

    #[test]
    fn overrides_may_not_touch_what_fleet_compiles() {
        let err = create(json!({
            "name": "n", "inputs": [],
            "overrides": {"inputs": {"compiled_streams": {}}},
        }))
        .unwrap_err();
        assert_eq!(
            err,
            "[request body.overrides]: types that failed validation:\n\
             - [request body.overrides.0]: expected value to equal [null]\n\
             - [request body.overrides.1.inputs]: Overrides of compiled_inputs and compiled_stream are not allowed"
        );
        // `compiled_input` (singular) is not one of Kibana's patterns.
        create(json!({"name": "n", "inputs": [], "overrides": {"inputs": {"compiled_input": 1}}}))
            .unwrap();
    }

    #[test]
    fn datastream_permissions_follow_kibanas_pattern_as_javascript_reads_it() {
        for ok in [
            "logs-x-default",
            "metrics-a-b",
            "logsfoo",
            "a-traces-b",
            "profiling-x",
        ] {
            assert!(is_datastream_permission(ok), "{ok}");
        }
        for bad in ["invalid-tata-default", "profiling", "event-x"] {
            assert!(!is_datastream_permission(bad), "{bad}");
        }
    }
}
