//! Kibana spaces: every management request runs in one space (`default`, or the `{space}` of
//! `/s/{space}/api/fleet/...`) and sees only that space's objects. Agent policies carry
//! `space_ids`; package policies `spaceIds`; enrollment API keys and agents belong to the space
//! of their agent policy. Objects from before spaces (no `space_ids`) belong to `default`.
//!
//! The space is request context, like the user: the API layer runs each request inside
//! [`scope`], and services read it with [`current`] instead of every signature carrying it.

use serde_json::Value;
use store::{Filter, Kind, Query, Scalar, Tx};

use crate::error::{FleetError, Result};

pub const DEFAULT_SPACE: &str = "default";

tokio::task_local! {
    static SPACE: String;
}

/// The space of the request being served (`default` outside any request).
pub fn current() -> String {
    SPACE
        .try_with(Clone::clone)
        .unwrap_or_else(|_| DEFAULT_SPACE.to_string())
}

/// Runs `f` in `space`.
pub async fn scope<F: std::future::Future>(space: String, f: F) -> F::Output {
    SPACE.scope(space, f).await
}

/// Kibana's space id rule: lowercase letters, digits, `_` and `-`.
pub fn validate(space: &str) -> Result<()> {
    if space.is_empty()
        || !space
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
    {
        return Err(FleetError::NotFound(format!("Space [{space}] not found")));
    }
    Ok(())
}

/// Documents of the current space, by the field that lists their spaces.
pub(crate) fn filter(field: &str) -> Filter {
    let space = current();
    let member = Filter::AnyEq(store::doc_field(field), Scalar::Str(space.clone()));
    if space == DEFAULT_SPACE {
        Filter::Or(vec![
            member,
            Filter::Not(Box::new(Filter::Exists(store::doc_field(field)))),
        ])
    } else {
        member
    }
}

/// Whether a document (its `field` listing spaces) is visible in the current space.
pub(crate) fn visible(doc: &Value, field: &str) -> bool {
    let space = current();
    match doc.get(field).and_then(Value::as_array) {
        Some(spaces) => spaces.iter().any(|s| s.as_str() == Some(space.as_str())),
        None => space == DEFAULT_SPACE,
    }
}

/// Agent policies of other spaces (usually none: one query, then no filtering at all).
pub(crate) async fn hidden_policy_ids(tx: &mut dyn Tx) -> Result<Vec<String>> {
    let docs = tx
        .find(
            Kind::AgentPolicy,
            &Query {
                filter: Filter::Not(Box::new(filter("space_ids"))),
                ..Default::default()
            },
        )
        .await?;
    Ok(docs.into_iter().map(|d| d.id).collect())
}

/// Whether a document that belongs to an agent policy (its `policy_id`) is of the request's
/// space: its policy is not one of `hidden` (the other spaces' policies).
pub(crate) fn on_visible_policy(hidden: &[String], body: &Value) -> bool {
    !hidden
        .iter()
        .any(|h| body["policy_id"].as_str() == Some(h.as_str()))
}

/// Excludes documents whose `field` names a hidden agent policy.
pub(crate) fn exclude_policies(target: store::Target, hidden: &[String]) -> Filter {
    if hidden.is_empty() {
        return Filter::All;
    }
    Filter::Not(Box::new(Filter::Or(
        hidden
            .iter()
            .map(|id| Filter::Eq(target.clone(), Scalar::Str(id.clone())))
            .collect(),
    )))
}
