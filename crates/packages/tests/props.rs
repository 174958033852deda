//! Property tests of template compilation: it never panics, lists and yaml values survive the
//! trip through Handlebars and YAML, and helpers keep their contracts.

use packages::compile::{compile_template, dump_yaml, VarRecord};
use proptest::prelude::*;
use serde_json::{json, Value};

fn record(v: Value) -> VarRecord {
    v.as_object().unwrap().clone()
}

/// Words YAML keeps as strings (a letter first, no YAML syntax inside).
fn word() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9_/.]{0,12}".prop_filter("YAML keywords", |s| {
        !matches!(
            s.as_str(),
            "null" | "true" | "false" | "y" | "n" | "yes" | "no" | "on" | "off"
        )
    })
}

fn yaml_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        word().prop_map(Value::from),
        any::<i32>().prop_map(Value::from),
        any::<bool>().prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 1..4).prop_map(Value::from),
            prop::collection::btree_map(word(), inner, 1..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Template fragments, including broken ones.
fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("{{s}}".to_string()),
        Just("{{list}}".to_string()),
        Just("{{#if s}}".to_string()),
        Just("{{/if}}".to_string()),
        Just("{{#each list}}".to_string()),
        Just("{{/each}}".to_string()),
        Just("{{else}}".to_string()),
        Just("{{this}}".to_string()),
        Just("{{list.length}}".to_string()),
        Just("{{escape_string s}}".to_string()),
        Just("{{to_json list}}".to_string()),
        Just("{{url_encode s}}".to_string()),
        Just("{{#contains \"a\" list}}".to_string()),
        Just("{{/contains}}".to_string()),
        Just("{{y}}".to_string()),
        Just("\n".to_string()),
        Just("key: ".to_string()),
        Just("  - ".to_string()),
        Just("{{".to_string()),
        "[a-z: \\-\\[\\]{}'\"#]{0,8}",
    ]
}

proptest! {
    #[test]
    fn compiling_anything_never_panics(parts in prop::collection::vec(fragment(), 0..30)) {
        let template: String = parts.concat();
        let vars = record(json!({
            "s": {"type": "text", "value": "it's"},
            "list": {"type": "text", "value": ["a", "b"]},
            "y": {"type": "yaml", "value": "- a: 1\n"},
        }));
        let _ = compile_template(&vars, &template);
    }

    #[test]
    fn each_over_a_multi_var_yields_the_list(items in prop::collection::vec(word(), 0..8)) {
        let vars = record(json!({"paths": {"type": "text", "value": items}}));
        let out = compile_template(&vars, "paths:\n{{#each paths}}\n  - {{this}}\n{{/each}}\nx: 1\n").unwrap();
        let expected = if items.is_empty() { Value::Null } else { json!(items) };
        prop_assert_eq!(&out["paths"], &expected);
        prop_assert_eq!(&out["x"], &json!(1));
    }

    #[test]
    fn a_yaml_var_splices_its_value_unchanged(value in yaml_value()) {
        let text = dump_yaml(&json!({"spliced": value}));
        let vars = record(json!({"y": {"type": "yaml", "value": text}}));
        let root = compile_template(&vars, "before: 1\n{{y}}\n").unwrap();
        prop_assert_eq!(&root["spliced"], &value);
        let nested = compile_template(&vars, "inner: {{y}}\n").unwrap();
        prop_assert_eq!(&nested["inner"]["spliced"], &value);
    }

    #[test]
    fn escape_string_round_trips_through_yaml(
        line in "[!-~][ -~]{0,38}",
        lines in "[a-z]{1,5}(\n[a-z]{1,5}){0,3}",
    ) {
        // Quotes are doubled and newlines doubled so that YAML's single-quoted folding gives
        // the text back exactly.
        for s in [line, lines] {
            let vars = record(json!({"s": {"type": "text", "value": s}}));
            let out = compile_template(&vars, "v: {{escape_string s}}\nw: '{{escape_multiline_string s}}'\n").unwrap();
            prop_assert_eq!(out["v"].as_str(), Some(s.as_str()));
            prop_assert_eq!(out["w"].as_str(), Some(s.as_str()));
        }
    }
}
