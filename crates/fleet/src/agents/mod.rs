//! Agents as the management API sees them (`/api/fleet/agents`, `/api/fleet/agent_status`).
//! The agent protocol (enroll, check-in, acks) is in [`protocol`].

mod history;
pub mod protocol;

pub use history::SAMPLE_EVERY as STATUS_SAMPLE_EVERY;

use kuery::{field, Field, FieldType as F, Schema, Storage};
use serde_json::{json, Map, Value};
use store::{AgentRow, Filter, Mode, Query, Scalar};

use contract::{Request, Violation};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::error::{FleetError, Result};
use crate::query::{filter, page_window, sort_order};
use crate::Fleet;

/// A field stored as a real column of the agent table (qualified: the status expression joins
/// the policy table).
macro_rules! column {
    ($name:literal, $ty:expr) => {
        Field {
            name: $name,
            ty: $ty,
            storage: Storage::Sql {
                sqlite: concat!("agent.", $name),
                postgres: concat!("agent.", $name),
            },
        }
    };
}

/// Fields a `kuery` may name on agents (with or without `fleet-agents.`).
pub static KUERY: Schema = Schema {
    prefix: "fleet-agents",
    fields: &[
        column!("policy_id", F::Keyword),
        column!("active", F::Boolean),
        column!("enrolled_at", F::Date),
        column!("last_checkin", F::Date),
        column!("last_checkin_status", F::Keyword),
        column!("policy_revision_idx", F::Number),
        Field {
            name: "status",
            ty: F::Keyword,
            storage: Storage::Sql {
                sqlite: store::AGENT_STATUS_SQLITE,
                postgres: store::AGENT_STATUS_POSTGRES,
            },
        },
        column!("id", F::Keyword),
        field("type", F::Keyword),
        field("tags", F::KeywordArray),
        field("agent.id", F::Keyword),
        field("agent.version", F::Keyword),
        Field {
            name: "local_metadata.host.hostname",
            ty: F::Keyword,
            storage: Storage::Sql {
                sqlite: "agent.hostname",
                postgres: "agent.hostname",
            },
        },
        field("local_metadata.host.name", F::Keyword),
        field("local_metadata.host.id", F::Keyword),
        field("local_metadata.host.architecture", F::Keyword),
        field("local_metadata.os.name", F::Keyword),
        field("local_metadata.os.platform", F::Keyword),
        field("local_metadata.os.version", F::Keyword),
        field("local_metadata.elastic.agent.version", F::Keyword),
        field("local_metadata.elastic.agent.id", F::Keyword),
        field("local_metadata.elastic.agent.snapshot", F::Boolean),
        field("local_metadata.elastic.agent.upgradeable", F::Boolean),
        field("local_metadata.elastic.agent.unprivileged", F::Boolean),
        field("local_metadata.elastic.agent.fips", F::Boolean),
        field("last_checkin_message", F::Text),
        field("unenrolled_at", F::Date),
        field("unenrollment_started_at", F::Date),
        field("upgrade_started_at", F::Date),
        field("upgraded_at", F::Date),
        field("upgrade_details", F::Keyword),
        field("upgrade_details.state", F::Keyword),
        field("upgrade_details.target_version", F::Keyword),
        field("audit_unenrolled_reason", F::Keyword),
        field("namespaces", F::KeywordArray),
        field("enrollment_id", F::Keyword),
    ],
};

/// Every status Kibana knows, in its summary order.
pub const STATUSES: &[&str] = &[
    "online",
    "error",
    "degraded",
    "offline",
    "updating",
    "enrolling",
    "unenrolling",
    "inactive",
    "unenrolled",
    "orphaned",
    "uninstalled",
];

/// The wire form of an agent (Kibana's `Agent`).
pub fn to_item(row: &AgentRow) -> Value {
    let mut item = Map::new();
    item.insert("id".into(), json!(row.doc.id));
    if let Value::Object(attrs) = &row.doc.body {
        for (k, v) in attrs {
            match k.as_str() {
                // Internal bookkeeping, not part of Kibana's agent.
                "replace_token" => {}
                "policy_revision_idx" => {
                    item.insert("policy_revision".into(), v.clone());
                }
                _ => {
                    item.insert(k.clone(), v.clone());
                }
            }
        }
    }
    item.insert("status".into(), json!(row.status));
    item.entry("packages").or_insert(json!([]));
    Value::Object(item)
}

fn not_found(id: &str) -> FleetError {
    FleetError::NotFound(format!("Agent {id} not found"))
}

/// The agents of the request's space (on no other space's policy); `Filter::All` while one
/// space is in use.
pub(crate) async fn in_space(tx: &mut dyn store::Tx) -> Result<Filter> {
    let hidden = crate::space::hidden_policy_ids(tx).await?;
    Ok(crate::space::exclude_policies(
        column_target("policy_id"),
        &hidden,
    ))
}

/// An agent of the request's space (not on another space's policy), or Kibana's not found:
/// what every single-agent route works on.
pub(crate) async fn agent_in_space(tx: &mut dyn store::Tx, id: &str) -> Result<AgentRow> {
    let hidden = crate::space::hidden_policy_ids(tx).await?;
    tx.agent_get(id)
        .await?
        .filter(|r| crate::space::on_visible_policy(&hidden, &r.doc.body))
        .ok_or_else(|| not_found(id))
}

/// `sortOrder` of the agents list: Kibana's `oneOf([literal('asc'), literal('desc')])`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AgentSortOrder {
    Asc,
    Desc,
}

/// The query of `GET /api/fleet/agents`: Kibana's `GetAgentsRequestSchema`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ListAgentsQuery {
    pub page: Option<f64>,
    pub per_page: Option<f64>,
    pub kuery: Option<String>,
    pub show_agentless: Option<bool>,
    pub show_inactive: Option<bool>,
    pub with_metrics: Option<bool>,
    /// Only agents that can be upgraded to Flotilla's version.
    pub show_upgradeable: Option<bool>,
    pub get_status_summary: Option<bool>,
    pub sort_field: Option<String>,
    pub sort_order: Option<AgentSortOrder>,
    /// `nextSearchAfter` of the previous page (a JSON array: sort value, agent id).
    pub search_after: Option<String>,
    pub open_pit: Option<bool>,
    pub pit_id: Option<String>,
    pub pit_keep_alive: Option<String>,
}

/// How many agents paging by page number reaches (Kibana's `SO_SEARCH_LIMIT`); past it,
/// `searchAfter` walks on.
pub const SEARCH_LIMIT: f64 = 10_000.0;

impl Request for ListAgentsQuery {
    /// Kibana's object-level rules, in its order (truthiness as in JavaScript).
    fn check(&self) -> std::result::Result<(), Violation> {
        let set = |s: &Option<String>| s.as_deref().is_some_and(|s| !s.is_empty());
        let page = self.page.filter(|p| *p != 0.0);
        let open_pit = self.open_pit == Some(true);
        if open_pit || set(&self.pit_id) || set(&self.pit_keep_alive) {
            if open_pit && set(&self.pit_id) {
                return Err(Violation::at(
                    "",
                    "You cannot request to open a new point-in-time with an existing pitId",
                ));
            }
            if !set(&self.pit_keep_alive) {
                return Err(Violation::at(
                    "",
                    "You must provide pitKeepAlive when using point-in-time parameters",
                ));
            }
        }
        if page.unwrap_or(1.0) * self.per_page.unwrap_or(20.0) > SEARCH_LIMIT {
            return Err(Violation::at(
                "",
                "You cannot use page and perPage page over 10000 agents",
            ));
        }
        if set(&self.search_after) {
            if page.is_some() {
                return Err(Violation::at(
                    "",
                    "You cannot use page parameter when using searchAfter",
                ));
            }
            let parsed: Option<Value> = self
                .search_after
                .as_deref()
                .and_then(|s| serde_json::from_str(s).ok());
            if parsed
                .as_ref()
                .and_then(Value::as_array)
                .is_none_or(Vec::is_empty)
            {
                return Err(Violation::at("", "searchAfter must be a non-empty array"));
            }
        }
        Ok(())
    }
}

/// The query of `GET /api/fleet/agents/{id}`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GetAgentQuery {
    pub with_metrics: Option<bool>,
}

impl Request for GetAgentQuery {}

/// The query of Flotilla's `GET /internal/fleet/agent_status_history`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusHistoryQuery {
    /// RFC 3339; 24 hours ago when absent.
    pub since: Option<String>,
}

impl Request for StatusHistoryQuery {}

/// The query of `GET /api/fleet/agents/tags`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AgentTagsQuery {
    pub kuery: Option<String>,
    pub show_inactive: Option<bool>,
}

impl Request for AgentTagsQuery {}

/// The query of `GET /api/fleet/agent_status`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AgentStatusQuery {
    pub policy_id: Option<String>,
    /// Policy ids, comma-separated (Kibana also takes the parameter repeated).
    pub policy_ids: Option<String>,
    pub kuery: Option<String>,
}

impl Request for AgentStatusQuery {}

/// The query of `GET /api/fleet/agents/action_status`: pages count from 0, as in Kibana.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ActionStatusQuery {
    #[schemars(range(min = 0))]
    pub page: Option<u64>,
    #[schemars(range(min = 0))]
    pub per_page: Option<u64>,
    pub date: Option<String>,
    pub latest: Option<f64>,
    #[schemars(range(min = 0))]
    pub error_size: Option<u64>,
}

impl Request for ActionStatusQuery {
    fn check(&self) -> std::result::Result<(), Violation> {
        if self
            .date
            .as_deref()
            .is_some_and(|d| !crate::common::is_date(d))
        {
            return Err(Violation::at("date", "not a valid date"));
        }
        Ok(())
    }
}

/// How long a point-in-time view lives without use when no `pitKeepAlive` is given.
const DEFAULT_PIT_KEEP_ALIVE_MS: i64 = 60_000;
/// The longest a point-in-time view may be kept (Elasticsearch's default `search.max_keep_alive`).
const MAX_PIT_KEEP_ALIVE_MS: i64 = 86_400_000;

fn keep_alive_until(raw: Option<&str>) -> Result<String> {
    let bad = |s: &str| {
        FleetError::BadRequest(format!(
            "[request query.pitKeepAlive]: invalid duration [{s}]: use a value such as 5m"
        ))
    };
    let ms = match raw {
        None => DEFAULT_PIT_KEEP_ALIVE_MS,
        Some(s) => crate::auth::parse_duration_ms(s)
            .filter(|ms| *ms > 0)
            .ok_or_else(|| bad(s))?,
    };
    // Elasticsearch's `search.max_keep_alive` (a day): views cannot be held longer.
    if ms > MAX_PIT_KEEP_ALIVE_MS {
        return Err(FleetError::BadRequest(format!(
            "Keep alive for request ({}) is too large. It must be less than (1d). This limit can be set by changing the [search.max_keep_alive] cluster level setting.",
            raw.unwrap_or_default()
        )));
    }
    crate::time::rfc3339_from_now_ms(ms).ok_or_else(|| bad(raw.unwrap_or_default()))
}

fn parse_search_after(raw: &str) -> Result<(Value, String)> {
    let bad = || {
        FleetError::BadRequest(format!("[request query.searchAfter]: expected the nextSearchAfter of a previous page, got [{raw}]"))
    };
    let v: Value = serde_json::from_str(raw).map_err(|_| bad())?;
    match v.as_array().map(Vec::as_slice) {
        Some([value, Value::String(id)]) if !value.is_array() && !value.is_object() => {
            Ok((value.clone(), id.clone()))
        }
        _ => Err(bad()),
    }
}

/// `PUT /api/fleet/agents/{id}`: Kibana's `UpdateAgentRequestSchema`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateAgent {
    pub user_provided_metadata: Option<Map<String, Value>>,
    #[schemars(length(max = 10))]
    pub tags: Option<Vec<String>>,
}

impl Request for UpdateAgent {}

/// A real column of the agent table as a filter target (`id`, `policy_id`, `version_sort`).
pub(crate) fn column_target(name: &'static str) -> store::Target {
    let sql = match name {
        "id" => "agent.id",
        "policy_id" => "agent.policy_id",
        "version_sort" => "agent.version_sort",
        "active" => "agent.active",
        "policy_revision_idx" => "agent.policy_revision_idx",
        "enrolled_at" => "agent.enrolled_at",
        other => unreachable!("no agent column target for {other}"),
    };
    store::Target::Column {
        sqlite: sql,
        postgres: sql,
        json_path: name,
    }
}

/// The agent id: the table's key (not part of the document).
fn id_column() -> store::Target {
    column_target("id")
}

/// The agents a bulk request names: a list of ids, or a kuery (all matching, any number).
pub(crate) fn bulk_selector(agents: &Value, include_inactive: bool) -> Result<Filter> {
    let bad = || {
        FleetError::BadRequest(
            "[request body.agents]: expected an array of agent ids or a kuery".into(),
        )
    };
    let mut filters = vec![match agents {
        Value::Array(ids) => Filter::Or(
            ids.iter()
                .map(|v| {
                    v.as_str()
                        .map(|id| Filter::Eq(id_column(), Scalar::Str(id.to_string())))
                        .ok_or_else(bad)
                })
                .collect::<Result<_>>()?,
        ),
        Value::String(k) => filter(&KUERY, Some(k))?,
        _ => return Err(bad()),
    }];
    if !include_inactive {
        filters.push(active_only());
    }
    Ok(Filter::And(filters))
}

/// Kibana's `isAgentUpgradeable`, as a filter: reports itself upgradeable, is not unenrolling,
/// is not upgrading now, and runs a version older than `latest`.
pub(crate) fn upgradeable(latest: &str) -> Filter {
    let doc = store::doc_field;
    let exists = |f: &str| Filter::Exists(doc(f));
    let not = |f: Filter| Filter::Not(Box::new(f));
    let upgrading = Filter::Or(vec![
        Filter::And(vec![
            exists("upgrade_details"),
            not(Filter::Eq(
                doc("upgrade_details.state"),
                Scalar::Str("UPG_FAILED".into()),
            )),
        ]),
        Filter::And(vec![
            not(exists("upgrade_details")),
            exists("upgrade_started_at"),
            not(exists("upgraded_at")),
        ]),
    ]);
    Filter::And(vec![
        Filter::Eq(
            doc("local_metadata.elastic.agent.upgradeable"),
            Scalar::Bool(true),
        ),
        not(exists("unenrollment_started_at")),
        not(exists("unenrolled_at")),
        not(upgrading),
        Filter::Range(
            column_target("version_sort"),
            kuery::RangeOp::Lt,
            Scalar::Str(
                store::version_sort_key(latest).expect("the server version is major.minor.patch"),
            ),
        ),
    ])
}

/// Agents Kibana leaves out unless `showInactive=true` (status `inactive` or `unenrolled`):
/// active, and not past their policy's inactivity timeout. Spelled without the whole status
/// expression, which costs several times more per row.
fn active_only() -> Filter {
    let inactive = store::Target::Column {
        sqlite: store::AGENT_INACTIVE_SQLITE,
        postgres: store::AGENT_INACTIVE_POSTGRES,
        json_path: "inactive",
    };
    Filter::And(vec![
        Filter::Eq(column_target("active"), Scalar::Bool(true)),
        Filter::Not(Box::new(Filter::Eq(inactive, Scalar::Bool(true)))),
    ])
}

fn summary(counts: &[(String, u64)]) -> Value {
    let mut m = Map::new();
    for s in STATUSES {
        let n = counts
            .iter()
            .find(|(k, _)| k == s)
            .map(|(_, n)| *n)
            .unwrap_or(0);
        m.insert((*s).to_string(), json!(n));
    }
    Value::Object(m)
}

impl Fleet {
    pub async fn list_agents(&self, p: &ListAgentsQuery) -> Result<Value> {
        let search_after = p
            .search_after
            .as_deref()
            .map(parse_search_after)
            .transpose()?;
        // With a cursor the page number plays no part: every page is "the next perPage".
        let (page, per_page) = if search_after.is_some() {
            let (_, per_page) = page_window(Some(1.0), p.per_page, 20)?;
            (p.page.unwrap_or(1.0).max(1.0) as u64, per_page)
        } else {
            page_window(p.page, p.per_page, 20)?
        };
        let mut filters = vec![filter(&KUERY, p.kuery.as_deref())?];
        if p.show_inactive != Some(true) {
            filters.push(active_only());
        }
        if p.show_upgradeable == Some(true) {
            filters.push(upgradeable(&self.config.stack_version));
        }
        // Agents belong to their policy's space; with one space in use this adds nothing.
        filters.push({
            let mut tx = self.store.begin(Mode::Read).await?;
            in_space(tx.as_mut()).await?
        });
        let filter = Filter::And(filters);
        let sort_field = match p.sort_field.as_deref() {
            None => "enrolled_at",
            Some(f) => KUERY.field(f).map(|f| f.name).ok_or_else(|| {
                FleetError::BadRequest(format!(
                    "[request query.sortField]: unknown sort field [{f}]"
                ))
            })?,
        };
        let order = sort_order(p.sort_order.map(|o| match o {
            AgentSortOrder::Asc => "asc",
            AgentSortOrder::Desc => "desc",
        }))?;

        // A point-in-time view: opened here (a copy of every agent), or named by pitId.
        let pit = if p.open_pit == Some(true) {
            let expires = keep_alive_until(p.pit_keep_alive.as_deref())?;
            let id = uuid::Uuid::new_v4().to_string();
            let mut tx = self.store.begin(Mode::Write).await?;
            tx.agent_pit_sweep(&crate::time::now()).await?;
            tx.agent_pit_open(&id, &expires).await?;
            tx.commit().await?;
            Some(id)
        } else if let Some(id) = &p.pit_id {
            let expires = keep_alive_until(p.pit_keep_alive.as_deref())?;
            let mut tx = self.store.begin(Mode::Write).await?;
            if !tx
                .agent_pit_keep_alive(id, &crate::time::now(), &expires)
                .await?
            {
                return Err(FleetError::NotFound(format!(
                    "Point-in-time [{id}] is unknown or expired: open a new one with openPit=true"
                )));
            }
            tx.commit().await?;
            Some(id.clone())
        } else {
            None
        };

        let mut tx = self.store.begin(Mode::Read).await?;
        let total = tx.agent_count(pit.as_deref(), &filter).await?;
        let rows = tx
            .agent_find(
                pit.as_deref(),
                &Query {
                    filter: filter.clone(),
                    sort: vec![(sort_field.to_string(), order)],
                    offset: if search_after.is_some() {
                        0
                    } else {
                        (page - 1) * per_page
                    },
                    limit: Some(per_page),
                    search_after,
                },
            )
            .await?;
        let items: Vec<Value> = rows.iter().map(to_item).collect();
        let mut out = json!({ "items": items, "total": total, "page": page, "perPage": per_page });
        if let Some(last) = rows.last() {
            let value = if sort_field == "status" {
                json!(last.status)
            } else {
                kuery::lookup(&last.doc.body, sort_field)
                    .cloned()
                    .unwrap_or(Value::Null)
            };
            out["nextSearchAfter"] = json!(json!([value, last.doc.id]).to_string());
        }
        if let Some(pit) = pit {
            out["pit"] = json!(pit);
        }
        if p.get_status_summary == Some(true) {
            out["statusSummary"] = summary(&tx.agent_status_counts(&filter).await?);
        }
        Ok(out)
    }

    pub async fn get_agent(&self, id: &str) -> Result<Value> {
        let mut tx = self.store.begin(Mode::Read).await?;
        let row = agent_in_space(tx.as_mut(), id).await?;
        Ok(to_item(&row))
    }

    /// `PUT /agents/{id}`: tags and user-provided metadata.
    pub async fn update_agent(&self, id: &str, body: &UpdateAgent) -> Result<Value> {
        let mut tx = self.store.begin(Mode::Write).await?;
        let row = agent_in_space(tx.as_mut(), id).await?;
        let mut doc = row.doc.body.clone();
        if let Some(tags) = &body.tags {
            let mut unique: Vec<&String> = Vec::new();
            for t in tags {
                if !unique.contains(&t) {
                    unique.push(t);
                }
            }
            doc["tags"] = json!(unique);
        }
        if let Some(m) = &body.user_provided_metadata {
            doc["user_provided_metadata"] = Value::Object(m.clone());
        }
        doc["updated_at"] = json!(crate::time::now());
        tx.agent_update(id, Some(row.doc.version), &doc).await?;
        let row = tx.agent_get(id).await?.ok_or_else(|| not_found(id))?;
        tx.commit().await?;
        Ok(to_item(&row))
    }

    /// `DELETE /agents/{id}`: removes the agent and revokes its access key.
    pub async fn delete_agent(&self, id: &str) -> Result<Value> {
        let mut tx = self.store.begin(Mode::Write).await?;
        let row = agent_in_space(tx.as_mut(), id).await?;
        if let Some(key) = row.doc.body["access_api_key_id"].as_str() {
            tx.invalidate_api_keys(&[key.to_string()]).await?;
        }
        tx.agent_delete(id).await?;
        tx.commit().await?;
        Ok(json!({ "action": "deleted" }))
    }

    /// `POST /agents/bulk_update_agent_tags`: adds and removes tags on the selected agents, in
    /// one transaction. Returns an action id, as Kibana does.
    pub async fn bulk_update_agent_tags(
        &self,
        body: &crate::action_requests::BulkUpdateAgentTags,
    ) -> Result<Value> {
        let include_inactive = body.include_inactive.unwrap_or(false);
        let selector = bulk_selector(&body.agents.to_value(), include_inactive)?;
        let add = body.tags_to_add.clone().unwrap_or_default();
        let remove = body.tags_to_remove.clone().unwrap_or_default();
        let mut tx = self.store.begin(Mode::Write).await?;
        // Only the agents of the request's space.
        let space = in_space(tx.as_mut()).await?;
        let rows = tx
            .agent_find(
                None,
                &Query {
                    filter: Filter::And(vec![selector, space]),
                    ..Default::default()
                },
            )
            .await?;
        let at = crate::time::now();
        // Kibana records an UPDATE_TAGS action (never delivered) with a result per agent, so
        // the change shows in action_status.
        let mut action = crate::actions::action_doc("UPDATE_TAGS", json!({}), json!({}));
        action["total"] = json!(rows.len());
        let action_id = action["action_id"].as_str().unwrap_or_default().to_string();
        tx.action_insert(
            &action_id,
            "UPDATE_TAGS",
            &action,
            &at,
            action["expiration"].as_str(),
        )
        .await?;
        for row in rows {
            let result =
                json!({ "@timestamp": at, "action_id": action_id, "agent_id": row.doc.id });
            tx.action_result_insert(&action_id, &row.doc.id, &result, &at, None)
                .await?;
            let mut tags = crate::validate::string_array(&row.doc.body["tags"]);
            tags.retain(|t| !remove.contains(t));
            for t in &add {
                if !tags.contains(t) {
                    tags.push(t.clone());
                }
            }
            if Some(&tags) == Some(&crate::validate::string_array(&row.doc.body["tags"])) {
                continue;
            }
            let mut doc = row.doc.body.clone();
            doc["tags"] = json!(tags);
            doc["updated_at"] = json!(at);
            tx.agent_update(&row.doc.id, Some(row.doc.version), &doc)
                .await?;
        }
        tx.commit().await?;
        Ok(json!({ "actionId": action_id }))
    }

    /// `GET /agents/tags`: the distinct tags of the (active, unless asked) agents.
    pub async fn agent_tags(&self, kuery: Option<&str>, show_inactive: bool) -> Result<Value> {
        let mut filters = vec![
            filter(&KUERY, kuery)?,
            Filter::Exists(store::doc_field("tags")),
        ];
        if !show_inactive {
            filters.push(active_only());
        }
        let mut tx = self.store.begin(Mode::Read).await?;
        let rows = tx
            .agent_find(
                None,
                &Query {
                    filter: Filter::And(filters),
                    ..Default::default()
                },
            )
            .await?;
        let mut tags: Vec<String> = rows
            .iter()
            .flat_map(|r| crate::validate::string_array(&r.doc.body["tags"]))
            .collect();
        tags.sort();
        tags.dedup();
        Ok(json!({ "items": tags }))
    }

    /// `GET /agent_status`: counts per status, optionally for some policies.
    pub async fn agent_status_summary(
        &self,
        policy_ids: &[String],
        kuery: Option<&str>,
    ) -> Result<Value> {
        let mut filters = vec![filter(&KUERY, kuery)?];
        if !policy_ids.is_empty() {
            filters.push(Filter::Or(
                policy_ids
                    .iter()
                    .map(|p| Filter::Eq(column_target("policy_id"), Scalar::Str(p.clone())))
                    .collect(),
            ));
        }
        let mut tx = self.store.begin(Mode::Read).await?;
        // Only the request's space's agents: another space's policy counts none.
        filters.push(in_space(tx.as_mut()).await?);
        let counts = tx.agent_status_counts(&Filter::And(filters)).await?;
        let n = |s: &str| {
            counts
                .iter()
                .find(|(k, _)| k == s)
                .map(|(_, n)| *n)
                .unwrap_or(0)
        };
        let all: u64 = counts.iter().map(|(_, n)| n).sum();
        let inactive = n("inactive");
        let unenrolled = n("unenrolled");
        let active = all - inactive - unenrolled;
        Ok(json!({
            "results": {
                "events": 0,
                "total": active,
                "online": n("online"),
                "error": n("error") + n("degraded"),
                "offline": n("offline"),
                "updating": n("updating") + n("enrolling") + n("unenrolling"),
                "other": n("orphaned") + n("uninstalled"),
                "inactive": inactive,
                "unenrolled": unenrolled,
                "orphaned": n("orphaned"),
                "uninstalled": n("uninstalled"),
                "all": all,
                "active": active,
            }
        }))
    }
}
