//! `/api/fleet/agent_policies`: request parsing and response shapes only; the rules live in
//! `fleet::agent_policies`.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use fleet::agent_policies::{FullPolicyOptions, ListParams};
use fleet::auth::Principal;
use serde_json::{json, Value};

use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, QueryParams};
use crate::AppState;

/// The query parameters `list` accepts (also listed in the OpenAPI document).
pub(crate) const LIST_QUERY: &[&str] = &[
    "page",
    "perPage",
    "sortField",
    "sortOrder",
    "showUpgradeable",
    "kuery",
    "noAgentCount",
    "withAgentCount",
    "full",
    "format",
];
/// The query parameters `create` accepts (also listed in the OpenAPI document).
pub(crate) const CREATE_QUERY: &[&str] = &["sys_monitoring"];
/// The query parameters `bulk_get` accepts (also listed in the OpenAPI document).
pub(crate) const BULK_GET_QUERY: &[&str] = &["format"];
/// The query parameters `get_one` accepts (also listed in the OpenAPI document).
pub(crate) const GET_ONE_QUERY: &[&str] = &["format"];
/// The query parameters `update` accepts (also listed in the OpenAPI document).
pub(crate) const UPDATE_QUERY: &[&str] = &["format"];
/// The query parameters `copy` accepts (also listed in the OpenAPI document).
pub(crate) const COPY_QUERY: &[&str] = &["format"];
/// The query parameters `full_policy_options` accepts (also listed in the OpenAPI document).
pub(crate) const FULL_POLICY_OPTIONS_QUERY: &[&str] =
    &["download", "standalone", "kubernetes", "revision"];

const FORMATS: &[&str] = &["simplified", "legacy"];

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/fleet/agent_policies", get(list).post(create))
        .route("/api/fleet/agent_policies/_bulk_get", post(bulk_get))
        .route("/api/fleet/agent_policies/delete", post(delete))
        .route("/api/fleet/agent_policies/outputs", post(outputs_bulk))
        .route("/api/fleet/agent_policies/{id}", get(get_one).put(update))
        .route("/api/fleet/agent_policies/{id}/copy", post(copy))
        .route("/api/fleet/agent_policies/{id}/full", get(full))
        .route("/api/fleet/agent_policies/{id}/download", get(download))
        .route("/api/fleet/agent_policies/{id}/outputs", get(outputs))
        .route(
            "/api/fleet/agent_policies/{id}/auto_upgrade_agents_status",
            get(auto_upgrade_status),
        )
}

async fn list(State(s): State<AppState>, q: QueryParams) -> ApiResult<Json<Value>> {
    q.allow(LIST_QUERY)?;
    q.one_of("format", FORMATS)?;
    let params = ListParams {
        page: q.num("page")?,
        per_page: q.num("perPage")?,
        sort_field: q.get("sortField").map(String::from),
        sort_order: q.get("sortOrder").map(String::from),
        kuery: q.get("kuery").map(String::from),
        show_upgradeable: q.bool("showUpgradeable")?,
        full: q.bool("full")?,
        no_agent_count: q.bool("noAgentCount")?,
        with_agent_count: q.bool("withAgentCount")?,
    };
    Ok(Json(s.fleet.list_agent_policies(&params).await?))
}

async fn create(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    q: QueryParams,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    q.allow(CREATE_QUERY)?;
    let sys_monitoring = q.bool("sys_monitoring")?.unwrap_or(false);
    let item = s
        .fleet
        .create_agent_policy(&who, &body, sys_monitoring)
        .await?;
    Ok(Json(json!({ "item": item })))
}

async fn bulk_get(
    State(s): State<AppState>,
    q: QueryParams,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    q.allow(BULK_GET_QUERY)?;
    q.one_of("format", FORMATS)?;
    Ok(Json(s.fleet.bulk_get_agent_policies(&body).await?))
}

async fn delete(
    State(s): State<AppState>,
    q: QueryParams,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    q.allow(&[])?;
    Ok(Json(s.fleet.delete_agent_policy(&body).await?))
}

async fn get_one(
    State(s): State<AppState>,
    Path(id): Path<String>,
    q: QueryParams,
) -> ApiResult<Json<Value>> {
    q.allow(GET_ONE_QUERY)?;
    q.one_of("format", FORMATS)?;
    Ok(Json(
        json!({ "item": s.fleet.get_agent_policy(&id).await? }),
    ))
}

async fn update(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    q: QueryParams,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    q.allow(UPDATE_QUERY)?;
    q.one_of("format", FORMATS)?;
    Ok(Json(
        json!({ "item": s.fleet.update_agent_policy(&who, &id, &body).await? }),
    ))
}

async fn copy(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    q: QueryParams,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    q.allow(COPY_QUERY)?;
    q.one_of("format", FORMATS)?;
    Ok(Json(
        json!({ "item": s.fleet.copy_agent_policy(&who, &id, &body).await? }),
    ))
}

/// Shared by `/full` and `/download`: the options and the revision check.
async fn full_policy_options(
    s: &AppState,
    id: &str,
    q: &QueryParams,
) -> ApiResult<FullPolicyOptions> {
    q.allow(FULL_POLICY_OPTIONS_QUERY)?;
    q.bool("download")?;
    let opts = FullPolicyOptions {
        standalone: q.bool("standalone")?.unwrap_or(false),
        kubernetes: q.bool("kubernetes")?.unwrap_or(false),
    };
    if let Some(rev) = q.num("revision")? {
        // Only the current revision is kept; older ones are not served.
        let current = s.fleet.get_agent_policy(id).await?["revision"]
            .as_f64()
            .unwrap_or(0.0);
        if rev != current {
            return Err(ApiError::new(
                axum::http::StatusCode::NOT_FOUND,
                format!("Agent policy {id} revision {rev} not found"),
            ));
        }
    }
    Ok(opts)
}

async fn full(
    State(s): State<AppState>,
    Path(id): Path<String>,
    q: QueryParams,
) -> ApiResult<Json<Value>> {
    let opts = full_policy_options(&s, &id, &q).await?;
    Ok(Json(
        json!({ "item": s.fleet.full_agent_policy(&id, opts).await? }),
    ))
}

async fn download(
    State(s): State<AppState>,
    Path(id): Path<String>,
    q: QueryParams,
) -> ApiResult<Response> {
    let opts = full_policy_options(&s, &id, &q).await?;
    let yaml = s.fleet.full_agent_policy_yaml(&id, opts).await?;
    let mut res = ([(header::CONTENT_TYPE, "text/x-yaml")], yaml).into_response();
    if q.bool("download")?.unwrap_or(false) {
        let file = match (opts.kubernetes, opts.standalone) {
            (true, true) => "attachment; filename=\"elastic-agent-standalone-kubernetes.yml\"",
            (true, false) => "attachment; filename=\"elastic-agent-managed-kubernetes.yml\"",
            _ => "attachment; filename=\"elastic-agent.yml\"",
        };
        res.headers_mut().insert(
            header::CONTENT_DISPOSITION,
            header::HeaderValue::from_static(file),
        );
    }
    Ok(res)
}

async fn outputs(
    State(s): State<AppState>,
    Path(id): Path<String>,
    q: QueryParams,
) -> ApiResult<Json<Value>> {
    q.allow(&[])?;
    Ok(Json(
        json!({ "item": s.fleet.agent_policy_outputs(&id).await? }),
    ))
}

async fn outputs_bulk(
    State(s): State<AppState>,
    q: QueryParams,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    q.allow(&[])?;
    fleet::validate::check_body("request body", &body, fleet::agent_policies::schema::IDS)?;
    let mut items = Vec::new();
    for id in body["ids"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        items.push(s.fleet.agent_policy_outputs(id).await?);
    }
    Ok(Json(json!({ "items": items })))
}

async fn auto_upgrade_status(
    State(s): State<AppState>,
    Path(id): Path<String>,
    q: QueryParams,
) -> ApiResult<Json<Value>> {
    q.allow(&[])?;
    Ok(Json(s.fleet.auto_upgrade_agents_status(&id).await?))
}
