use super::*;
use proptest::prelude::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Debug, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "lowercase")]
enum Order {
    Asc,
    Desc,
}

#[derive(Debug, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
struct Tag {
    name: String,
    value: String,
}

#[derive(Debug, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
struct Body {
    #[schemars(length(min = 1))]
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    inactivity_timeout: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100))]
    percentage: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2))]
    tags: Option<Vec<Tag>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    order: Option<Order>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-nullable" = true))]
    output_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    vars: Option<serde_json::Map<String, Value>>,
}

impl Request for Body {
    fn check(&self) -> Result<(), Violation> {
        if self.name.trim().is_empty() {
            return Err(Violation::at("name", "Invalid empty string"));
        }
        Ok(())
    }
}

fn body(v: Value) -> Result<Body, String> {
    parse::<Body>("request body", v)
}

#[test]
fn types_ranges_and_lengths_answer_kibanas_messages() {
    let cases = [
        (json!({"name": "x", "inactivity_timeout": "soon"}), "[request body.inactivity_timeout]: expected value of type [number] but got [string]"),
        (json!({"name": "x", "inactivity_timeout": -1}), "[request body.inactivity_timeout]: Value must be equal to or greater than [0]."),
        (json!({"name": "x", "inactivity_timeout": 1.5}), "[request body.inactivity_timeout]: 1.5 is not a valid integer"),
        (json!({"name": "x", "percentage": 101}), "[request body.percentage]: Value must be equal to or lower than [100]."),
        (json!({"name": "x", "enabled": "yes"}), "[request body.enabled]: expected value of type [boolean] but got [string]"),
        (json!({"name": ""}), "[request body.name]: value has length [0] but it must have a minimum length of [1]."),
        (json!({"name": "  "}), "[request body.name]: Invalid empty string"),
        (json!({}), "[request body.name]: expected value of type [string] but got [undefined]"),
        (json!({"name": 1}), "[request body.name]: expected value of type [string] but got [number]"),
        (json!({"name": "x", "nope": 1}), "[request body.nope]: definition for this key is missing"),
        (json!({"name": "x", "tags": [{"name": "a", "value": "b", "x": 1}]}), "[request body.tags.0.x]: definition for this key is missing"),
        (json!({"name": "x", "tags": [{"name": "a"}]}), "[request body.tags.0.value]: expected value of type [string] but got [undefined]"),
        (json!({"name": "x", "tags": [{"name": "a", "value": "b"}, {"name": "a", "value": "b"}, {"name": "a", "value": "b"}]}), "[request body.tags]: array size is [3], but cannot be greater than [2]"),
        (json!({"name": "x", "tags": {}}), "[request body.tags]: expected value of type [array] but got [Object]"),
        (json!({"name": "x", "tags": null}), "[request body.tags]: expected value of type [array] but got [null]"),
        (json!({"name": "x", "order": "up"}), "[request body.order]: types that failed validation:\n- [request body.order.0]: expected value to equal [asc]\n- [request body.order.1]: expected value to equal [desc]"),
        (json!([]), "[request body]: expected a plain object value, but found [Array] instead."),
        (json!({"name": "x", "output_id": 5}), "[request body.output_id]: types that failed validation:\n- [request body.output_id.0]: expected value to equal [null]\n- [request body.output_id.1]: expected value of type [string] but got [number]"),
        (json!({"name": "x", "vars": "not json"}), "[request body.vars]: could not parse object value from json input"),
    ];
    for (input, message) in cases {
        assert_eq!(body(input.clone()).unwrap_err(), message, "{input}");
    }
}

#[test]
fn conversions_and_nullability_follow_config_schema() {
    let b = body(json!({"name": "x", "inactivity_timeout": "20", "enabled": "TRUE", "tags": "[{\"name\":\"a\",\"value\":\"b\"}]", "output_id": null})).unwrap();
    assert_eq!(b.inactivity_timeout, Some(20));
    assert_eq!(b.enabled, Some(true));
    assert_eq!(b.tags.unwrap()[0].name, "a");
    assert_eq!(b.output_id, None);
    let b =
        body(json!({"name": "x", "order": "desc", "vars": {"free": [1, {"x": null}]}})).unwrap();
    assert_eq!(b.order, Some(Order::Desc));
}

#[test]
fn queries_convert_their_strings() {
    #[derive(Debug, Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    struct List {
        #[serde(rename = "perPage")]
        #[schemars(range(min = 1, max = 10000))]
        per_page: Option<u32>,
        full: Option<bool>,
    }
    impl Request for List {}
    let q = parse::<List>(
        "request query",
        query_value([("perPage", "50"), ("full", "true")]),
    )
    .unwrap();
    assert_eq!((q.per_page, q.full), (Some(50), Some(true)));
    assert_eq!(
        parse::<List>("request query", query_value([("perPage", "10001")])).unwrap_err(),
        "[request query.perPage]: Value must be equal to or lower than [10000]."
    );
    assert_eq!(
        parse::<List>("request query", query_value([("sort", "x")])).unwrap_err(),
        "[request query.sort]: definition for this key is missing"
    );
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("name".to_string()),
                    Just("tags".to_string()),
                    Just("vars".to_string()),
                    ".{0,6}".prop_map(String::from)
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// Whatever a client sends, the checker answers (a typed value or a message naming the
    /// request part), never panics.
    #[test]
    fn any_json_is_answered(v in arb_json()) {
        match body(v) {
            Ok(_) => {}
            Err(m) => prop_assert!(m.starts_with("[request body"), "{m}"),
        }
    }

    /// What a valid value serializes to is accepted back, unchanged.
    #[test]
    fn valid_values_round_trip(name in "[a-z]{1,8}", t in proptest::option::of(0u64..1_000_000), p in proptest::option::of(0.0f64..100.0), e in proptest::option::of(any::<bool>())) {
        let b = Body { name, inactivity_timeout: t, percentage: p, enabled: e, tags: None, order: Some(Order::Asc), output_id: None, vars: None };
        let back = body(serde_json::to_value(&b).unwrap()).unwrap();
        prop_assert_eq!(back, b);
    }
}

#[test]
fn a_record_that_is_not_an_object_is_worded_as_config_schemas_record_of() {
    #[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        labels: Option<std::collections::BTreeMap<String, String>>,
    }
    impl Request for Body {}
    assert_eq!(
        parse::<Body>("request body", json!({"labels": []})).unwrap_err(),
        "[request body.labels]: expected value of type [object] but got [Array]"
    );
    assert_eq!(
        parse::<Body>("request body", json!([])).unwrap_err(),
        "[request body]: expected a plain object value, but found [Array] instead."
    );
}

#[test]
fn a_union_inside_an_alternative_is_named_by_the_values_own_path() {
    // Kibana's spaces API test expects exactly this shape: the outer alternative's index on its
    // line, not on the nested union's lines.
    #[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
    #[serde(rename_all = "lowercase")]
    #[allow(dead_code)]
    enum Solution {
        Security,
        Observability,
    }
    #[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct ByName {
        solution: String,
    }
    #[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct ByType {
        solution_type: Solution,
    }
    #[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
    #[serde(untagged)]
    #[allow(dead_code)]
    enum Body {
        Name(ByName),
        Type(ByType),
    }
    impl Request for Body {}
    assert_eq!(
        parse::<Body>("request body", json!({"solution_type": "miami"})).unwrap_err(),
        "[request body]: types that failed validation:\n\
         - [request body.0.solution]: expected value of type [string] but got [undefined]\n\
         - [request body.1.solution_type]: types that failed validation:\n \
         - [request body.solution_type.0]: expected value to equal [security]\n \
         - [request body.solution_type.1]: expected value to equal [observability]"
    );
}
