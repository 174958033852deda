//! Package policy secrets, as Kibana keeps them when secret storage is on: the value of a var
//! the package marks `secret` is stored apart (`fleet-secrets`), the policy keeps
//! `{"isSecretRef": true, "id": ...}` and lists the ids in `secret_references`, the compiled
//! inputs carry `$co.elastic.secret{<id>}`, and only what is sent to agents has the values
//! filled in (Fleet Server's job, which Flotilla does itself).

use std::collections::{HashMap, HashSet};

use packages::Package;
use serde_json::{json, Value};
use store::{Kind, Query, Tx};

use crate::error::Result;

/// Plain secret values taken out of a package policy, to be stored with it.
#[must_use = "the values must be stored in the policy's transaction"]
pub(crate) struct NewSecrets(Vec<(String, Value)>);

/// Replaces each plain value of a secret var with a reference to a new secret. Values already
/// references are kept (an update that leaves a secret alone sends its reference back); empty
/// values stay empty.
pub(crate) fn extract(pkg: &Package, vars: &mut Option<Value>, inputs: &mut Value) -> NewSecrets {
    let mut out = Vec::new();
    for value in packages::policy::secret_values_mut(pkg, vars.as_mut(), inputs) {
        let empty = value.is_null() || value.as_str().is_some_and(str::is_empty);
        if empty || value.get("isSecretRef") == Some(&json!(true)) {
            continue;
        }
        let id = uuid::Uuid::new_v4().to_string();
        let plain = std::mem::replace(value, json!({ "isSecretRef": true, "id": id }));
        out.push((id, plain));
    }
    NewSecrets(out)
}

impl NewSecrets {
    pub(crate) async fn store(self, tx: &mut dyn Tx) -> Result<()> {
        for (id, value) in self.0 {
            put(tx, &id, &value).await?;
        }
        Ok(())
    }
}

/// Stores a secret value under `id` (a `fleet-secrets` record: package policies' and outputs').
pub(crate) async fn put(tx: &mut dyn Tx, id: &str, value: &Value) -> Result<()> {
    tx.insert(Kind::FleetSecret, id, &json!({ "value": value }))
        .await?;
    Ok(())
}

/// A stored secret's value.
pub(crate) async fn get(tx: &mut dyn Tx, id: &str) -> Result<Option<Value>> {
    Ok(tx
        .get(Kind::FleetSecret, id)
        .await?
        .map(|d| d.body["value"].clone()))
}

/// The secret ids a package policy body refers to (its vars and inputs), in order, once each:
/// its `secret_references`.
pub(crate) fn references(body: &Value) -> Vec<String> {
    references_in(body.get("vars"), body.get("inputs"))
}

fn references_in(vars: Option<&Value>, inputs: Option<&Value>) -> Vec<String> {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if m.get("isSecretRef") == Some(&json!(true)) {
                    if let Some(id) = m.get("id").and_then(Value::as_str) {
                        if !out.iter().any(|o| o == id) {
                            out.push(id.to_string());
                        }
                    }
                    return;
                }
                // An input's own vars before its streams', as they read.
                if let Some(vars) = m.get("vars") {
                    walk(vars, out);
                }
                m.iter()
                    .filter(|(k, _)| *k != "vars")
                    .for_each(|(_, v)| walk(v, out));
            }
            Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for part in [vars, inputs].into_iter().flatten() {
        walk(part, &mut out);
    }
    out
}

/// `secret_references` as Kibana writes it (`[{"id": ...}]`) for a policy's vars and inputs.
pub(crate) fn references_json(vars: Option<&Value>, inputs: Option<&Value>) -> Value {
    Value::Array(
        references_in(vars, inputs)
            .into_iter()
            .map(|id| json!({ "id": id }))
            .collect(),
    )
}

/// Deletes the secrets among `ids` that no package policy (nor one's copy kept for a rollback)
/// refers to any more (a copied agent policy shares its original's secrets, so a secret goes
/// with the last policy using it).
pub(crate) async fn delete_unreferenced(tx: &mut dyn Tx, ids: &[String]) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    // A policy's copy from before its last upgrade counts: a rollback restores it.
    let mut all = tx.find(Kind::PackagePolicy, &Query::default()).await?;
    all.extend(
        tx.find(Kind::PackagePolicyPrevious, &Query::default())
            .await?,
    );
    let used: HashSet<String> = all.iter().flat_map(|d| references(&d.body)).collect();
    for id in ids.iter().filter(|id| !used.contains(*id)) {
        tx.delete(Kind::FleetSecret, id).await?;
    }
    Ok(())
}

/// The values of the given secrets, for what agents receive.
pub(crate) async fn values(tx: &mut dyn Tx, ids: &[String]) -> Result<HashMap<String, Value>> {
    let mut out = HashMap::with_capacity(ids.len());
    for id in ids {
        if let Some(value) = get(tx, id).await? {
            out.insert(id.clone(), value);
        }
    }
    Ok(out)
}

/// Fills in `$co.elastic.secret{<id>}` wherever it appears in a string: a string that is only
/// the placeholder becomes the value; one that embeds it (`Bearer $co.elastic.secret{..}`) gets
/// the value's text in its place. A reference (`{"isSecretRef": true, "id": ..}`) becomes the
/// value too. Unknown ids are left as they are.
pub(crate) fn fill_in(v: &mut Value, values: &HashMap<String, Value>) {
    if let Some(value) = v
        .get("id")
        .and_then(Value::as_str)
        .filter(|_| v.get("isSecretRef") == Some(&json!(true)))
        .and_then(|id| values.get(id))
    {
        *v = value.clone();
        return;
    }
    match v {
        Value::String(s) if s.contains("$co.elastic.secret{") => {
            if let Some(id) = s
                .strip_prefix("$co.elastic.secret{")
                .and_then(|r| r.strip_suffix('}'))
                .filter(|id| !id.contains('}'))
            {
                if let Some(value) = values.get(id) {
                    *v = value.clone();
                }
                return;
            }
            let mut text = s.clone();
            for (id, value) in values {
                let placeholder = format!("$co.elastic.secret{{{id}}}");
                if text.contains(&placeholder) {
                    let plain = match value {
                        Value::String(p) => p.clone(),
                        other => other.to_string(),
                    };
                    text = text.replace(&placeholder, &plain);
                }
            }
            *s = text;
        }
        Value::Object(m) => m.values_mut().for_each(|v| fill_in(v, values)),
        Value::Array(a) => a.iter_mut().for_each(|v| fill_in(v, values)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_in_replaces_whole_and_embedded_placeholders_only_for_known_ids() {
        let values = HashMap::from([
            ("a".to_string(), json!("s3cret")),
            ("b".to_string(), json!("other")),
        ]);
        let mut v = json!({
            "whole": "$co.elastic.secret{a}",
            "embedded": ["Bearer $co.elastic.secret{a} and $co.elastic.secret{b}"],
            "unknown": "$co.elastic.secret{zz}",
            "plain": "nothing here",
            "reference": {"value": {"isSecretRef": true, "id": "b"}},
        });
        fill_in(&mut v, &values);
        assert_eq!(
            v,
            json!({
                "whole": "s3cret",
                "embedded": ["Bearer s3cret and other"],
                "unknown": "$co.elastic.secret{zz}",
                "plain": "nothing here",
                "reference": {"value": "other"},
            })
        );
    }

    #[test]
    fn references_lists_each_id_once_in_order() {
        let body = json!({
            "vars": {"k": {"value": {"isSecretRef": true, "id": "one"}}},
            "inputs": [{"streams": [
                {"vars": {"p": {"value": {"isSecretRef": true, "id": "two"}}}},
                {"vars": {"p": {"value": {"isSecretRef": true, "id": "one"}}}},
            ]}],
        });
        assert_eq!(references(&body), vec!["one", "two"]);
        assert_eq!(references_json(None, None), json!([]));
    }
}
