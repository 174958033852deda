//! Template compilation exactly as Kibana's Fleet does it (`compileTemplate`): a var record becomes
//! a Handlebars context, the package's `.yml.hbs` template is rendered with JavaScript semantics
//! and Kibana's helpers, `yaml` vars are spliced in as parsed YAML, and the text is parsed into
//! the JSON object stored as `compiled_stream` / `compiled_input`.
//!
//! handlebars-rust is not Handlebars.js: arrays, floats and objects print differently, `{}` and
//! `0` have other truthiness and `x.length` does not resolve. Templates are therefore rewritten
//! before rendering: a plain `{{path}}` becomes `{{__js path}}` (JavaScript `String(value)`), and
//! `path.length` becomes `(__len path)`; `if`/`unless` are replaced by JavaScript-truthy versions.

use handlebars::{
    Context, Handlebars, Helper, HelperDef, HelperResult, JsonValue, Output, RenderContext,
    RenderError, RenderErrorReason, Renderable, ScopedJson,
};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// One entry of a package policy's var record: `{"type": "text", "value": ...}`.
pub type VarRecord = Map<String, Value>;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CompileError {
    /// Kibana: "Error while compiling agent template: ..."
    #[error("Error while compiling agent template: {0}")]
    Template(String),
    #[error("YAMLException: {0}")]
    Yaml(String),
    #[error("Invalid variable name: {0}")]
    VarName(String),
}

/// Compiles one template against a merged var record (package ∪ input ∪ stream vars, later
/// levels already overriding earlier ones).
pub fn compile_template(vars: &VarRecord, template: &str) -> Result<Value, CompileError> {
    let (context, placeholders) = build_context(vars)?;
    let rendered = render(template, &context)?;
    let substituted = substitute_root_placeholders(&rendered, &placeholders);
    let mut compiled = parse_yaml(&substituted).map_err(CompileError::Yaml)?;
    patch_empty_strings(&mut compiled, &context);
    if !placeholders.is_empty() {
        replace_placeholders(&mut compiled, &placeholders);
    }
    Ok(compiled)
}

/// §6.1: the Handlebars context and the YAML placeholders (`##name##` → parsed value).
fn build_context(vars: &VarRecord) -> Result<(Value, BTreeMap<String, Value>), CompileError> {
    let mut context = Value::Object(Map::new());
    let mut placeholders = BTreeMap::new();
    for (name, entry) in vars {
        let parts: Vec<&str> = name.split('.').collect();
        if parts
            .iter()
            .any(|p| matches!(*p, "__proto__" | "constructor" | "prototype"))
        {
            return Err(CompileError::VarName(name.clone()));
        }
        let value = entry.get("value").cloned().unwrap_or(Value::Null);
        let is_yaml = entry.get("type").and_then(Value::as_str) == Some("yaml");
        let in_context = if is_yaml {
            let key = format!("##{name}##");
            if js_truthy(&value) {
                let text = match &value {
                    Value::String(s) => s.clone(),
                    other => js_string(other),
                };
                let parsed = parse_yaml(&text).map_err(CompileError::Yaml)?;
                placeholders.insert(key.clone(), parsed);
                Value::String(format!("\"{key}\""))
            } else {
                placeholders.insert(key, Value::Null);
                Value::Null
            }
        } else if value.get("isSecretRef") == Some(&Value::Bool(true)) {
            let id = value.get("id").and_then(Value::as_str).unwrap_or_default();
            Value::String(format!("$co.elastic.secret{{{id}}}"))
        } else {
            value
        };
        let mut slot = &mut context;
        for part in &parts[..parts.len() - 1] {
            let object = slot.as_object_mut().expect("context levels are objects");
            let next = object
                .entry(part.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if !next.is_object() {
                *next = Value::Object(Map::new());
            }
            slot = next;
        }
        slot.as_object_mut()
            .expect("context levels are objects")
            .insert(parts[parts.len() - 1].to_string(), in_context);
    }
    Ok((context, placeholders))
}

/// §6.2: renders with JavaScript Handlebars semantics.
fn render(template: &str, context: &Value) -> Result<String, CompileError> {
    REGISTRY.with(|registry| {
        let mut registry = registry.borrow_mut();
        // Parsing a template costs more than rendering it: each distinct template text is
        // parsed once per thread and kept (a bounded number of them).
        if !registry.has_template(template) {
            if registry.get_templates().len() >= MAX_CACHED_TEMPLATES {
                registry.clear_templates();
            }
            registry
                .register_template_string(template, rewrite_template(template))
                .map_err(|e| CompileError::Template(e.to_string()))?;
        }
        registry
            .render(template, context)
            .map_err(|e| CompileError::Template(render_error_text(&e)))
    })
}

/// Parsed templates kept per thread.
const MAX_CACHED_TEMPLATES: usize = 512;

fn render_error_text(e: &RenderError) -> String {
    match e.reason() {
        RenderErrorReason::TemplateError(t) => t.to_string(),
        other => other.to_string(),
    }
}

thread_local! {
    static REGISTRY: std::cell::RefCell<Handlebars<'static>> = std::cell::RefCell::new(registry());
}

fn registry() -> Handlebars<'static> {
    let mut hb = Handlebars::new();
    hb.register_escape_fn(handlebars::no_escape);
    hb.register_helper("__js", Box::new(JsString));
    hb.register_helper("__len", Box::new(JsLength));
    hb.register_helper("if", Box::new(JsIf { negate: false }));
    hb.register_helper("unless", Box::new(JsIf { negate: true }));
    hb.register_helper("contains", Box::new(Contains));
    hb.register_helper("escape_string", Box::new(EscapeString { quote: true }));
    hb.register_helper(
        "escape_multiline_string",
        Box::new(EscapeString { quote: false }),
    );
    hb.register_helper("to_json", Box::new(ToJson));
    hb.register_helper("url_encode", Box::new(UrlEncode));
    hb
}

/// Rewrites plain `{{path}}` mustaches to `{{__js path}}` and `path.length` to `(__len path)`.
fn rewrite_template(template: &str) -> String {
    let mut out = String::with_capacity(template.len() + 64);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start..];
        let triple = after.starts_with("{{{");
        let open_len = if triple { 3 } else { 2 };
        let close = if triple { "}}}" } else { "}}" };
        // Comments and raw blocks pass through untouched.
        if after[open_len..].starts_with('!') {
            let end_marker = if after.starts_with("{{!--") {
                "--}}"
            } else {
                "}}"
            };
            match after.find(end_marker) {
                Some(end) => {
                    out.push_str(&after[..end + end_marker.len()]);
                    rest = &after[end + end_marker.len()..];
                }
                None => {
                    out.push_str(after);
                    rest = "";
                }
            }
            continue;
        }
        let Some(end) = after[open_len..].find(close) else {
            out.push_str(after);
            rest = "";
            break;
        };
        let inner = &after[open_len..open_len + end];
        out.push_str(&after[..open_len]);
        out.push_str(&rewrite_expression(inner));
        out.push_str(close);
        rest = &after[open_len + end + close.len()..];
    }
    out.push_str(rest);
    out
}

fn rewrite_expression(inner: &str) -> String {
    // Whitespace control (`~`) sits at both ends; keep it where it was.
    let lead = if inner.starts_with('~') { "~" } else { "" };
    let trail = if inner.len() > lead.len() && inner.ends_with('~') {
        "~"
    } else {
        ""
    };
    let body = &inner[lead.len()..inner.len() - trail.len()];
    let trimmed = body.trim();
    let sigil = trimmed.chars().next();
    let with_lengths = rewrite_lengths(body);
    let is_plain_path = !trimmed.is_empty()
        && !matches!(sigil, Some('#' | '/' | '^' | '!' | '>' | '&' | '*'))
        && trimmed != "else"
        && trimmed.chars().all(is_path_char);
    if is_plain_path {
        format!("{lead}__js {}{trail}", with_lengths.trim())
    } else {
        format!("{lead}{with_lengths}{trail}")
    }
}

fn is_path_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '.' | '@' | '/' | '-' | '[' | ']' | '$')
}

/// `x.length` (JavaScript's length of a string or array) → `(__len x)`, outside string literals.
fn rewrite_lengths(expr: &str) -> String {
    let mut out = String::with_capacity(expr.len());
    let chars: Vec<char> = expr.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '"' || c == '\'' {
            let start = i;
            i += 1;
            while i < chars.len() && chars[i] != c {
                i += 1;
            }
            i = (i + 1).min(chars.len());
            out.extend(&chars[start..i]);
            continue;
        }
        if is_path_char(c) {
            let start = i;
            while i < chars.len() && is_path_char(chars[i]) {
                i += 1;
            }
            let token: String = chars[start..i].iter().collect();
            match token.strip_suffix(".length") {
                Some(base) if !base.is_empty() => {
                    out.push_str("(__len ");
                    out.push_str(base);
                    out.push(')');
                }
                _ => out.push_str(&token),
            }
            continue;
        }
        out.push(c);
        i += 1;
    }
    out
}

/// JavaScript truthiness as Handlebars.js's `if` sees it (`[]` is false, `{}` is true).
pub(crate) fn js_truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0 && !f.is_nan()),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(_) => true,
    }
}

/// JavaScript's `String(value)`.
pub(crate) fn js_string(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => js_number(n),
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(js_string).collect::<Vec<_>>().join(","),
        Value::Object(_) => "[object Object]".to_string(),
    }
}

fn js_number(n: &serde_json::Number) -> String {
    if n.is_f64() {
        let f = n.as_f64().unwrap_or_default();
        if f.fract() == 0.0 && f.abs() < 1e21 {
            return format!("{}", f as i128);
        }
        return f.to_string();
    }
    n.to_string()
}

fn param<'a>(h: &'a Helper, i: usize) -> &'a Value {
    h.param(i).map(|p| p.value()).unwrap_or(&Value::Null)
}

struct JsString;
impl HelperDef for JsString {
    fn call<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
        out: &mut dyn Output,
    ) -> HelperResult {
        out.write(&js_string(param(h, 0)))?;
        Ok(())
    }
}

struct JsLength;
impl HelperDef for JsLength {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        let len = match param(h, 0) {
            Value::String(s) => Value::from(s.encode_utf16().count()),
            Value::Array(a) => Value::from(a.len()),
            _ => Value::Null,
        };
        Ok(ScopedJson::Derived(len))
    }
}

struct JsIf {
    negate: bool,
}
impl HelperDef for JsIf {
    fn call<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        r: &'reg Handlebars<'reg>,
        ctx: &'rc Context,
        rc: &mut RenderContext<'reg, 'rc>,
        out: &mut dyn Output,
    ) -> HelperResult {
        let truthy = js_truthy(param(h, 0)) != self.negate;
        let branch = if truthy { h.template() } else { h.inverse() };
        match branch {
            Some(t) => t.render(r, ctx, rc, out),
            None => Ok(()),
        }
    }
}

/// `contains ITEM LIST`: the block when LIST (an array, or a string as substring) holds ITEM;
/// as a subexpression, `true` or `""`.
struct Contains;
impl Contains {
    fn holds(h: &Helper) -> bool {
        let item = param(h, 0);
        match param(h, 1) {
            Value::Array(items) => items.contains(item),
            Value::String(s) => s.contains(&js_string(item)),
            _ => false,
        }
    }
}
impl HelperDef for Contains {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        Ok(ScopedJson::Derived(if Self::holds(h) {
            Value::Bool(true)
        } else {
            Value::String(String::new())
        }))
    }

    fn call<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        r: &'reg Handlebars<'reg>,
        ctx: &'rc Context,
        rc: &mut RenderContext<'reg, 'rc>,
        out: &mut dyn Output,
    ) -> HelperResult {
        match h.template() {
            Some(t) => {
                if Self::holds(h) {
                    t.render(r, ctx, rc, out)?;
                }
                Ok(())
            }
            None => {
                if Self::holds(h) {
                    out.write("true")?;
                }
                Ok(())
            }
        }
    }
}

struct EscapeString {
    quote: bool,
}
impl HelperDef for EscapeString {
    fn call<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
        out: &mut dyn Output,
    ) -> HelperResult {
        let v = param(h, 0);
        if !js_truthy(v) {
            return Ok(());
        }
        let escaped = js_string(v).replace('\'', "''").replace('\n', "\n\n");
        if self.quote {
            out.write(&format!("'{escaped}'"))?;
        } else {
            out.write(&escaped)?;
        }
        Ok(())
    }
}

struct ToJson;
impl HelperDef for ToJson {
    fn call<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
        out: &mut dyn Output,
    ) -> HelperResult {
        match param(h, 0) {
            Value::String(s) => out.write(s)?,
            other => out.write(&serde_json::to_string(other).unwrap_or_default())?,
        }
        Ok(())
    }
}

/// `encodeURIComponent` plus `! ' ( ) *`: everything but ASCII letters, digits and `- _ . ~`.
const URL_ENCODE_SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

struct UrlEncode;
impl HelperDef for UrlEncode {
    fn call<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
        out: &mut dyn Output,
    ) -> HelperResult {
        let text = js_string(param(h, 0));
        out.write(&percent_encoding::utf8_percent_encode(&text, URL_ENCODE_SET).to_string())?;
        Ok(())
    }
}

/// §6.3: a line starting (column 0) with `"##name##"` takes the YAML dump of the parsed value.
fn substitute_root_placeholders(text: &str, placeholders: &BTreeMap<String, Value>) -> String {
    if placeholders.is_empty() {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let mut replaced = false;
        for (key, value) in placeholders {
            let quoted = format!("\"{key}\"");
            if let Some(rest) = line.strip_prefix(&quoted) {
                if !value.is_null() {
                    out.push_str(&dump_yaml(value));
                }
                // What followed the token on its line stays (usually just the newline, which the
                // dump already ends with).
                let rest = if rest == "\n" && !value.is_null() {
                    ""
                } else {
                    rest
                };
                out.push_str(rest);
                replaced = true;
                break;
            }
        }
        if !replaced {
            out.push_str(line);
        }
    }
    out
}

/// Block-style YAML of a value, ending with a newline.
pub fn dump_yaml(value: &Value) -> String {
    let mut text = serde_yaml_ng::to_string(value).unwrap_or_default();
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text
}

/// Parses YAML (1.2 core schema, keys in order, duplicate keys refused) into JSON. Empty or
/// comment-only text is `null`.
pub fn parse_yaml(text: &str) -> Result<Value, String> {
    let parsed: serde_yaml_ng::Value = serde_yaml_ng::from_str(text).map_err(|e| e.to_string())?;
    Ok(yaml_to_json(parsed))
}

fn yaml_to_json(v: serde_yaml_ng::Value) -> Value {
    use serde_yaml_ng::Value as Y;
    match v {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                n.as_f64()
                    .and_then(serde_json::Number::from_f64)
                    .map(Value::Number)
                    .unwrap_or(Value::Null)
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(items.into_iter().map(yaml_to_json).collect()),
        Y::Mapping(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (yaml_key(k), yaml_to_json(v)))
                .collect(),
        ),
        Y::Tagged(tagged) => yaml_to_json(tagged.value),
    }
}

fn yaml_key(k: serde_yaml_ng::Value) -> String {
    match yaml_to_json(k) {
        Value::String(s) => s,
        Value::Null => "null".into(),
        other => js_string(&other),
    }
}

/// §6.5: a top-level null whose context entry is a blank string becomes `""`.
fn patch_empty_strings(compiled: &mut Value, context: &Value) {
    let (Some(object), Some(ctx)) = (compiled.as_object_mut(), context.as_object()) else {
        return;
    };
    for (key, value) in object.iter_mut() {
        if value.is_null() {
            if let Some(Value::String(s)) = ctx.get(key) {
                if s.trim().is_empty() {
                    *value = Value::String(String::new());
                }
            }
        }
    }
}

/// §6.6: any string equal to a placeholder takes that placeholder's parsed value.
fn replace_placeholders(v: &mut Value, placeholders: &BTreeMap<String, Value>) {
    match v {
        Value::String(s) => {
            if let Some(parsed) = placeholders.get(s.as_str()) {
                *v = parsed.clone();
            }
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|i| replace_placeholders(i, placeholders)),
        Value::Object(map) => map
            .values_mut()
            .for_each(|i| replace_placeholders(i, placeholders)),
        _ => {}
    }
}

/// Keeps `JsonValue` in the public vocabulary of helpers (handlebars re-exports serde_json).
#[allow(dead_code)]
fn _assert_same_json(v: JsonValue) -> Value {
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars(v: Value) -> VarRecord {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn arrays_print_like_javascript_and_block_lines_vanish() {
        let t = "hosts: {{hosts}}\n{{#if on}}\nflag: yes\n{{/if}}\nn: {{n}}\n";
        let out = render(t, &json!({"hosts": ["a", "b"], "on": {}, "n": 3.0})).unwrap();
        assert_eq!(out, "hosts: a,b\nflag: yes\nn: 3\n");
    }

    #[test]
    fn length_and_each_with_block_params() {
        let t = "{{#if paths.length}}\npaths:\n{{#each paths as |p i|}}\n  - {{p}}-{{i}}\n{{/each}}\n{{/if}}\nx: 1\n";
        let out = compile_template(
            &vars(json!({"paths": {"type": "text", "value": ["a", "b"]}})),
            t,
        )
        .unwrap();
        assert_eq!(out, json!({"paths": ["a-0", "b-1"], "x": 1}));
        let out =
            compile_template(&vars(json!({"paths": {"type": "text", "value": []}})), t).unwrap();
        assert_eq!(out, json!({"x": 1}));
    }

    #[test]
    fn yaml_vars_splice_at_root_and_deep() {
        let t = "processors:\n{{#if processors}}\n{{processors}}\n{{/if}}\n- add_locale: ~\nssl: {{ssl}}\n";
        let out = compile_template(
            &vars(json!({
                "processors": {"type": "yaml", "value": "- drop_fields:\n    fields: [a]\n"},
                "ssl": {"type": "yaml", "value": "verification_mode: none"},
            })),
            t,
        )
        .unwrap();
        assert_eq!(
            out,
            json!({
                "processors": [{"drop_fields": {"fields": ["a"]}}, {"add_locale": null}],
                "ssl": {"verification_mode": "none"},
            })
        );
    }

    #[test]
    fn helpers_behave_like_kibanas() {
        let t = "a: {{escape_string s}}\nb: '{{escape_multiline_string s}}'\nc: {{to_json o}}\nd: {{url_encode u}}\n{{#contains \"x\" list}}\ne: true\n{{/contains}}\n{{#if (contains \".pcap\" file)}}\nf: pcap\n{{/if}}\n";
        let out = compile_template(
            &vars(json!({
                "s": {"value": "it's"},
                "o": {"value": {"k": [1, 2]}},
                "u": {"value": "a b!'()*/é"},
                "list": {"value": ["x", "y"]},
                "file": {"value": "dump.pcap"},
            })),
            t,
        )
        .unwrap();
        assert_eq!(
            out,
            json!({"a": "it's", "b": "it's", "c": {"k": [1, 2]}, "d": "a%20b%21%27%28%29%2A%2F%C3%A9", "e": true, "f": "pcap"})
        );
    }

    #[test]
    fn blank_password_stays_an_empty_string() {
        let out = compile_template(
            &vars(json!({"password": {"type": "password", "value": ""}})),
            "password: {{password}}\n",
        )
        .unwrap();
        assert_eq!(out, json!({"password": ""}));
    }

    #[test]
    fn duplicate_keys_are_an_error() {
        let err = compile_template(&VarRecord::new(), "a: 1\na: 2\n").unwrap_err();
        assert!(matches!(err, CompileError::Yaml(_)), "{err:?}");
    }

    #[test]
    fn dotted_names_nest() {
        let out = compile_template(
            &vars(json!({"cpu.metrics": {"type": "text", "value": ["percentages"]}})),
            "cpu.metrics:\n{{#each cpu.metrics}}\n  - {{this}}\n{{/each}}\n",
        )
        .unwrap();
        assert_eq!(out, json!({"cpu.metrics": ["percentages"]}));
    }
}
