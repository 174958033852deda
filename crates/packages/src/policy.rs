//! Package policies as Kibana builds them from a package: the default policy
//! (`packageToPackagePolicy`), the simplified request format and back, validation of var values
//! and compilation of every enabled stream and input.

use crate::compile::{compile_template, js_truthy, VarRecord};
use crate::package::{Package, PolicyTemplate, VarDef};
use serde_json::{json, Map, Value};

/// A package policy the package refuses; the message is Kibana's, the status is 400.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{0}")]
pub struct PolicyError(pub String);

fn err(msg: impl Into<String>) -> PolicyError {
    PolicyError(msg.into())
}

fn var_record(defs: &[VarDef]) -> Option<Value> {
    if defs.is_empty() {
        return None;
    }
    Some(Value::Object(
        defs.iter()
            .map(|d| (d.name.clone(), d.record_entry()))
            .collect(),
    ))
}

/// The (policy template, input) pairs of the package, in manifest order, with each pair's
/// streams: `(template, input type, input vars, [(data stream index, stream index)])`.
struct InputPlan<'a> {
    template: &'a PolicyTemplate,
    input_type: String,
    vars: &'a [VarDef],
    streams: Vec<(usize, usize)>,
}

fn plan(pkg: &Package) -> Vec<InputPlan<'_>> {
    let mut out = Vec::new();
    for template in &pkg.policy_templates {
        if pkg.kind == "input" {
            out.push(InputPlan {
                template,
                input_type: template.input.clone().unwrap_or_default(),
                vars: &template.vars,
                streams: Vec::new(),
            });
            continue;
        }
        for input in &template.inputs {
            let mut streams = Vec::new();
            for (di, ds) in pkg.data_streams.iter().enumerate() {
                if !template.data_streams.is_empty() && !template.data_streams.contains(&ds.path) {
                    continue;
                }
                for (si, s) in ds.streams.iter().enumerate() {
                    if s.input == input.kind {
                        streams.push((di, si));
                    }
                }
            }
            out.push(InputPlan {
                template,
                input_type: input.kind.clone(),
                vars: &input.vars,
                streams,
            });
        }
    }
    out
}

/// The plan of a policy's input: by type and policy template, or by type alone for an input
/// that names no template.
fn plan_for<'p>(plans: &'p [InputPlan<'p>], input: &Value) -> Option<&'p InputPlan<'p>> {
    let ty = input["type"].as_str().unwrap_or_default();
    let template = input["policy_template"].as_str();
    plans
        .iter()
        .find(|p| p.input_type == ty && Some(p.template.name.as_str()) == template)
        .or_else(|| {
            plans
                .iter()
                .find(|p| p.input_type == ty && template.is_none())
        })
}

/// The dataset of an input package's only stream: `<package>.<policy template>`.
fn input_package_dataset(pkg: &Package, template: &PolicyTemplate) -> String {
    format!("{}.{}", pkg.name, template.name)
}

/// The default inputs of a new package policy (§3 of the notes): one per (policy template,
/// input type), streams from every data stream that has a stream for that input.
pub fn default_inputs(pkg: &Package) -> Value {
    let mut inputs = Vec::new();
    for p in plan(pkg) {
        let mut streams = Vec::new();
        if pkg.kind == "input" {
            let dataset = input_package_dataset(pkg, p.template);
            let mut vars = Map::new();
            vars.insert(
                "data_stream.dataset".into(),
                json!({"value": dataset, "type": "text"}),
            );
            streams.push(json!({
                "enabled": true,
                "data_stream": {"type": p.template.stream_type.clone().unwrap_or_else(|| "logs".into()), "dataset": dataset},
                "vars": vars,
            }));
        }
        for (di, si) in &p.streams {
            let ds = &pkg.data_streams[*di];
            let s = &ds.streams[*si];
            let mut stream = json!({
                "enabled": s.enabled,
                "data_stream": {"type": ds.kind, "dataset": ds.dataset},
                "release": ds.release,
            });
            if let Some(vars) = var_record(&s.vars) {
                stream["vars"] = vars;
            }
            streams.push(stream);
        }
        let enabled = streams.is_empty()
            || streams
                .iter()
                .any(|s| s["enabled"].as_bool().unwrap_or(false));
        let mut input = json!({
            "type": p.input_type,
            "policy_template": p.template.name,
            "enabled": enabled,
            "streams": streams,
        });
        let input_vars = if pkg.kind == "input" {
            None
        } else {
            var_record(p.vars)
        };
        if let Some(vars) = input_vars {
            input["vars"] = vars;
        }
        inputs.push(input);
    }
    Value::Array(inputs)
}

/// Package-level vars of a new policy, if the package has any.
pub fn default_vars(pkg: &Package) -> Option<Value> {
    var_record(&pkg.vars)
}

/// The key of an input in the simplified format: `<policy template>-<type>`.
pub fn input_key(pkg: &Package, input: &Value) -> String {
    let ty = input["type"].as_str().unwrap_or_default();
    match input["policy_template"].as_str() {
        Some(t) if pkg.has_integrations() => format!("{t}-{ty}"),
        _ => ty.to_string(),
    }
}

fn assign_vars(
    given: &Map<String, Value>,
    record: Option<&mut Value>,
    context: &str,
) -> Result<(), PolicyError> {
    let mut empty = Value::Object(Map::new());
    let record = record.unwrap_or(&mut empty);
    for (name, value) in given {
        match record.get_mut(name.as_str()) {
            Some(entry) if entry.is_object() => {
                entry["value"] = value.clone();
            }
            _ => return Err(err(format!("Variable {context}:{name} not found"))),
        }
    }
    Ok(())
}

/// Applies a simplified request's `vars` and `inputs` maps to a default policy's (§4).
pub fn apply_simplified(
    pkg: &Package,
    vars: &mut Option<Value>,
    inputs: &mut Value,
    given_vars: Option<&Map<String, Value>>,
    given_inputs: Option<&Map<String, Value>>,
) -> Result<(), PolicyError> {
    if let Some(given) = given_vars {
        assign_vars(given, vars.as_mut(), "")?;
    }
    let Some(given_inputs) = given_inputs else {
        return Ok(());
    };
    let list = inputs.as_array_mut().expect("inputs are a list");
    for (key, body) in given_inputs {
        let Some(input) = list.iter_mut().find(|i| input_key(pkg, i) == *key) else {
            return Err(err(format!("Input not found: {key}")));
        };
        input["enabled"] = json!(body.get("enabled") != Some(&Value::Bool(false)));
        if let Some(given) = body.get("vars").and_then(Value::as_object) {
            assign_vars(given, input.get_mut("vars"), key)?;
        }
        let Some(streams) = body.get("streams").and_then(Value::as_object) else {
            continue;
        };
        for (dataset, sbody) in streams {
            let stream = input["streams"]
                .as_array_mut()
                .and_then(|l| {
                    l.iter_mut()
                        .find(|s| s["data_stream"]["dataset"].as_str() == Some(dataset))
                })
                .ok_or_else(|| err(format!("Stream not found {key}: {dataset}")))?;
            stream["enabled"] = json!(sbody.get("enabled") != Some(&Value::Bool(false)));
            if let Some(given) = sbody.get("vars").and_then(Value::as_object) {
                assign_vars(given, stream.get_mut("vars"), &format!("{key} {dataset}"))?;
            }
        }
    }
    Ok(())
}

/// An enabled input whose streams are all disabled is disabled (Kibana's create handler).
pub fn align_inputs(inputs: &mut Value) {
    for input in inputs.as_array_mut().into_iter().flatten() {
        let streams = input["streams"].as_array().cloned().unwrap_or_default();
        if input["enabled"] == json!(true)
            && !streams.is_empty()
            && streams.iter().all(|s| s["enabled"] != json!(true))
        {
            input["enabled"] = json!(false);
        }
    }
}

/// The simplified format of a package policy's `vars` / `inputs` (`format=simplified`).
pub fn simplified_vars(vars: &Value) -> Option<Value> {
    let obj = vars.as_object()?;
    Some(Value::Object(
        obj.iter()
            .map(|(k, v)| (k.clone(), v.get("value").cloned().unwrap_or(Value::Null)))
            .collect(),
    ))
}

pub fn simplified_inputs(pkg: Option<&Package>, inputs: &Value) -> Value {
    let mut out = Map::new();
    for input in inputs.as_array().into_iter().flatten() {
        let key = match pkg {
            Some(p) => input_key(p, input),
            None => match input["policy_template"].as_str() {
                Some(t) => format!("{t}-{}", input["type"].as_str().unwrap_or_default()),
                None => input["type"].as_str().unwrap_or_default().to_string(),
            },
        };
        let mut entry = json!({"enabled": input["enabled"]});
        if let Some(v) = simplified_vars(&input["vars"]) {
            entry["vars"] = v;
        }
        let mut streams = Map::new();
        for s in input["streams"].as_array().into_iter().flatten() {
            let mut se = json!({"enabled": s["enabled"]});
            if let Some(v) = simplified_vars(&s["vars"]) {
                se["vars"] = v;
            }
            if let Some(ds) = s["data_stream"]["dataset"].as_str() {
                streams.insert(ds.to_string(), se);
            }
        }
        entry["streams"] = Value::Object(streams);
        out.insert(key, entry);
    }
    Value::Object(out)
}

/// Checks every var value of enabled inputs and streams against its definition (§6.7); the
/// error lists each failing var as `<path>: <messages>`, as Kibana does.
pub fn validate(pkg: &Package, vars: Option<&Value>, inputs: &Value) -> Result<(), PolicyError> {
    let mut errors: Vec<(String, Vec<String>)> = Vec::new();
    if let Some(record) = vars.and_then(Value::as_object) {
        for (name, entry) in record {
            if let Some(def) = pkg.vars.iter().find(|d| d.name == *name) {
                let e = validate_var(entry.get("value"), def);
                if !e.is_empty() {
                    errors.push((format!("vars.{name}"), e));
                }
            }
        }
    }
    let plans = plan(pkg);
    for input in inputs.as_array().into_iter().flatten() {
        let key = input_key(pkg, input);
        let input_enabled = input["enabled"] == json!(true);
        let plan = plans.iter().find(|p| {
            p.input_type == input["type"].as_str().unwrap_or_default()
                && Some(p.template.name.as_str()) == input["policy_template"].as_str()
        });
        if let (Some(record), Some(plan)) = (input["vars"].as_object(), plan) {
            for (name, entry) in record {
                if !input_enabled {
                    continue;
                }
                if let Some(def) = plan.vars.iter().find(|d| d.name == *name) {
                    let e = validate_var(entry.get("value"), def);
                    if !e.is_empty() {
                        errors.push((format!("inputs.{key}.vars.{name}"), e));
                    }
                }
            }
        }
        for stream in input["streams"].as_array().into_iter().flatten() {
            let enabled = input_enabled && stream["enabled"] == json!(true);
            if !enabled {
                continue;
            }
            let dataset = stream["data_stream"]["dataset"]
                .as_str()
                .unwrap_or_default();
            let Some(def_stream) = pkg.data_stream_by_dataset(dataset).and_then(|ds| {
                ds.streams
                    .iter()
                    .find(|s| Some(s.input.as_str()) == input["type"].as_str())
            }) else {
                continue;
            };
            // Kibana walks the definitions here, so a required var missing from the record
            // is caught too.
            for def in &def_stream.vars {
                let value = stream["vars"].get(&def.name).and_then(|e| e.get("value"));
                let e = validate_var(value, def);
                if !e.is_empty() {
                    errors.push((
                        format!("inputs.{key}.streams.{dataset}.vars.{}", def.name),
                        e,
                    ));
                }
            }
        }
    }
    if errors.is_empty() {
        return Ok(());
    }
    Err(err(format!(
        "Package policy is invalid: {}",
        errors
            .iter()
            .map(|(k, m)| format!("{k}: {}", m.join(",")))
            .collect::<Vec<_>>()
            .join("\n")
    )))
}

/// The values of the vars the package marks `secret`, at the package, input and stream levels of
/// a full-format policy: what the caller moves to secret storage (Kibana stores them apart and
/// leaves `{"isSecretRef": true, "id": ...}` in the policy).
pub fn secret_values_mut<'a>(
    pkg: &Package,
    vars: Option<&'a mut Value>,
    inputs: &'a mut Value,
) -> Vec<&'a mut Value> {
    let mut out = Vec::new();
    let secret_of = |defs: &[VarDef], record: &'a mut Value, out: &mut Vec<&'a mut Value>| {
        if let Some(record) = record.as_object_mut() {
            for (name, entry) in record.iter_mut() {
                if defs.iter().any(|d| d.secret && d.name == *name) {
                    if let Some(value) = entry.get_mut("value") {
                        out.push(value);
                    }
                }
            }
        }
    };
    if let Some(record) = vars {
        secret_of(&pkg.vars, record, &mut out);
    }
    let plans = plan(pkg);
    for input in inputs.as_array_mut().into_iter().flatten() {
        let ty = input["type"].as_str().unwrap_or_default().to_string();
        let plan = plan_for(&plans, input);
        let Some(input) = input.as_object_mut() else {
            continue;
        };
        // One pass over the entries: `vars` and `streams` are borrowed apart.
        for (key, entry) in input.iter_mut() {
            match key.as_str() {
                "vars" => {
                    if let Some(plan) = plan {
                        secret_of(plan.vars, entry, &mut out);
                    }
                }
                "streams" => {
                    for stream in entry.as_array_mut().into_iter().flatten() {
                        let dataset = stream["data_stream"]["dataset"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string();
                        // An input package's only stream takes the policy template's vars.
                        let defs = match pkg.data_stream_by_dataset(&dataset) {
                            Some(ds) => ds
                                .streams
                                .iter()
                                .find(|s| s.input == ty)
                                .map(|s| s.vars.as_slice()),
                            None if pkg.kind == "input" => plan.map(|p| p.vars),
                            None => None,
                        };
                        if let (Some(defs), Some(record)) = (defs, stream.get_mut("vars")) {
                            secret_of(defs, record, &mut out);
                        }
                    }
                }
                _ => {}
            }
        }
    }
    out
}

fn title(def: &VarDef) -> &str {
    def.title
        .as_deref()
        .filter(|t| !t.is_empty())
        .unwrap_or(&def.name)
}

fn validate_var(value: Option<&Value>, def: &VarDef) -> Vec<String> {
    let mut errors = Vec::new();
    let required = || format!("{} is required", title(def));
    // Kibana trims strings before checking them.
    let parsed: Option<Value> = value.map(|v| match v {
        Value::String(s) => Value::String(s.trim().to_string()),
        other => other.clone(),
    });
    if def.required
        && (parsed.is_none()
            || (def.kind == "yaml" && parsed == Some(Value::String(String::new()))))
    {
        errors.push(required());
    }
    if def.secret && parsed.as_ref().and_then(|p| p.get("isSecretRef")) == Some(&json!(true)) {
        let id_ok = parsed
            .as_ref()
            .and_then(|p| p.get("id"))
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty());
        if !id_ok {
            errors.push("Secret reference is invalid, id must be a string".into());
        }
        return errors;
    }
    let mut parsed = parsed;
    if def.kind == "yaml" {
        if let Some(Value::String(text)) = value {
            match crate::compile::parse_yaml(text) {
                Ok(v) => parsed = Some(v),
                Err(_) => errors.push("Invalid YAML format".into()),
            }
        }
    }
    let truthy = parsed.as_ref().is_some_and(js_truthy);
    if def.multi {
        if truthy && !parsed.as_ref().is_some_and(Value::is_array) {
            errors.push(format!("Invalid format for {}: expected array", title(def)));
            return errors;
        }
        if let Some(Value::Array(items)) = &parsed {
            let has_blank = def.kind == "text"
                && items
                    .iter()
                    .any(|i| i.as_str().is_some_and(|s| s.trim().is_empty()));
            if def.required && (has_blank || items.is_empty()) {
                errors.push(required());
            }
            if def.kind == "text"
                && items
                    .iter()
                    .any(|i| i.as_str().is_some_and(|s| s.starts_with(['*', '&'])))
            {
                errors.push(QUOTE_ERROR.into());
            }
            if def.kind == "integer" && items.iter().any(|i| !is_integer(i)) {
                errors.push("Invalid integer".into());
            }
        }
        return errors;
    }
    if def.kind == "text" && truthy {
        if let Some(Value::String(s)) = &parsed {
            if s.starts_with(['*', '&']) {
                errors.push(QUOTE_ERROR.into());
            }
        }
    }
    if def.kind == "bool" && truthy {
        let text = crate::compile::js_string(parsed.as_ref().unwrap_or(&Value::Null));
        if text != "true" && text != "false" {
            errors.push("Boolean values must be either true or false".into());
        }
    }
    if def.kind == "integer" && truthy && !parsed.as_ref().is_some_and(is_integer) {
        errors.push("Invalid integer".into());
    }
    if def.kind == "select" {
        if let Some(v) = &parsed {
            if !def.options.iter().any(|o| o.get("value") == Some(v)) {
                errors.push("Invalid value for select type".into());
            }
        }
    }
    errors
}

const QUOTE_ERROR: &str =
    "Strings starting with special YAML characters like * or & need to be enclosed in double quotes.";

/// JavaScript's `Number.isInteger(Number(v))`.
fn is_integer(v: &Value) -> bool {
    match v {
        Value::Number(n) => n.as_f64().is_some_and(|f| f.fract() == 0.0),
        Value::String(s) => {
            let t = s.trim();
            t.is_empty()
                || t.parse::<f64>()
                    .is_ok_and(|f| f.fract() == 0.0 && f.is_finite())
        }
        Value::Bool(_) | Value::Null => true,
        Value::Array(a) => a.len() <= 1 && a.first().is_none_or(is_integer),
        Value::Object(_) => false,
    }
}

fn merged(levels: &[Option<&Value>]) -> VarRecord {
    let mut out = VarRecord::new();
    for level in levels.iter().flatten() {
        if let Some(obj) = level.as_object() {
            for (k, v) in obj {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    out
}

fn template_text<'a>(pkg: &'a Package, path: &str) -> Result<&'a str, PolicyError> {
    let bytes = pkg
        .file(path)
        .ok_or_else(|| err(format!("Template not found: {path}")))?;
    std::str::from_utf8(bytes).map_err(|_| err(format!("Template {path} is not UTF-8 text")))
}

/// Sets stream ids and compiles every enabled input and stream (§5). `id` is the package
/// policy's id.
pub fn compile(
    pkg: &Package,
    id: &str,
    vars: Option<&Value>,
    inputs: &mut Value,
) -> Result<(), PolicyError> {
    let plans = plan(pkg);
    for input in inputs.as_array_mut().into_iter().flatten() {
        let ty = input["type"].as_str().unwrap_or_default().to_string();
        let plan = plan_for(&plans, input).ok_or_else(|| {
            err(format!(
                "Input template not found, unable to find input type {ty}"
            ))
        })?;
        let input_enabled = input["enabled"] == json!(true);
        let input_template = if pkg.kind == "input" {
            None
        } else {
            plan.template
                .inputs
                .iter()
                .find(|i| i.kind == ty)
                .and_then(|i| i.template_path.clone())
        };
        if let Some(obj) = input.as_object_mut() {
            obj.remove("compiled_input");
        }
        if input_enabled {
            if let Some(path) = input_template {
                let text = template_text(pkg, &format!("agent/input/{path}"))?;
                let record = merged(&[vars, input.get("vars")]);
                let compiled = compile_template(&record, text).map_err(|e| err(e.to_string()))?;
                input["compiled_input"] = compiled;
            }
        }
        let input_vars = input.get("vars").cloned();
        for stream in input["streams"].as_array_mut().into_iter().flatten() {
            let dataset = stream["data_stream"]["dataset"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            stream["id"] = json!(format!("{ty}-{dataset}-{id}"));
            if let Some(obj) = stream.as_object_mut() {
                obj.remove("compiled_stream");
            }
            if stream["enabled"] != json!(true) {
                continue;
            }
            let path = if pkg.kind == "input" {
                let path =
                    plan.template.template_path.clone().ok_or_else(|| {
                        err(format!("Stream template path not found for {dataset}"))
                    })?;
                format!("agent/input/{path}")
            } else {
                let ds = pkg.data_stream_by_dataset(&dataset).ok_or_else(|| {
                    err(format!(
                        "Stream template not found, unable to find dataset {dataset}"
                    ))
                })?;
                let s = ds.streams.iter().find(|s| s.input == ty).ok_or_else(|| {
                    err(format!(
                        "Stream template not found for input {ty} of dataset {dataset}"
                    ))
                })?;
                format!("data_stream/{}/agent/stream/{}", ds.path, s.template_path)
            };
            let text = template_text(pkg, &path)?;
            let record = merged(&[vars, input_vars.as_ref(), stream.get("vars")]);
            let compiled = compile_template(&record, text).map_err(|e| err(e.to_string()))?;
            stream["compiled_stream"] = compiled;
        }
    }
    Ok(())
}

/// Checks a full-format request's inputs against the package: every input and stream must
/// exist in it.
pub fn check_full_inputs(pkg: &Package, inputs: &Value) -> Result<(), PolicyError> {
    let plans = plan(pkg);
    for input in inputs.as_array().into_iter().flatten() {
        let ty = input["type"].as_str().unwrap_or_default();
        let template = input["policy_template"].as_str();
        let Some(plan) = plans.iter().find(|p| {
            p.input_type == ty && (template.is_none() || Some(p.template.name.as_str()) == template)
        }) else {
            return Err(err(format!(
                "Input template not found, unable to find input type {ty}"
            )));
        };
        for stream in input["streams"].as_array().into_iter().flatten() {
            let dataset = stream["data_stream"]["dataset"]
                .as_str()
                .unwrap_or_default();
            let known = if pkg.kind == "input" {
                true
            } else {
                plan.streams
                    .iter()
                    .any(|(di, _)| pkg.data_streams[*di].dataset == dataset)
            };
            if !known {
                return Err(err(format!(
                    "Stream template not found, unable to find dataset {dataset}"
                )));
            }
        }
    }
    Ok(())
}
