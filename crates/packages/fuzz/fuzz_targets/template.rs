//! Any template text, compiled against vars of every shape (strings, lists, numbers, yaml,
//! nested names): compile_template answers a value or an error, and never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(template) = std::str::from_utf8(data) else { return };
    let vars = serde_json::json!({
        "s": {"type": "text", "value": "it's\nhere"},
        "list": {"type": "text", "value": ["a", "b", ".gz"]},
        "n": {"type": "integer", "value": 3.5},
        "b": {"type": "bool", "value": false},
        "empty": {"type": "text", "value": ""},
        "y": {"type": "yaml", "value": "- a: 1\n- b: [x]\n"},
        "cpu.metrics": {"type": "text", "value": ["percentages"]},
        "secret": {"type": "password", "value": {"isSecretRef": true, "id": "abc"}},
    });
    let _ = packages::compile_template(vars.as_object().expect("an object"), template);
});
