//! `/api/fleet/package_policies`: request parsing and response shapes only; the rules live in
//! `fleet::package_policies`.

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use fleet::auth::Principal;
use fleet::package_policies::{Format, ListParams};
use serde_json::{json, Value};

use crate::error::ApiResult;
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
    "format",
    "withAgentCount",
];
/// The query parameters `create` accepts (also listed in the OpenAPI document).
pub(crate) const CREATE_QUERY: &[&str] = &["format"];
/// The query parameters `bulk_get` accepts (also listed in the OpenAPI document).
pub(crate) const BULK_GET_QUERY: &[&str] = &["format"];
/// The query parameters `get_one` accepts (also listed in the OpenAPI document).
pub(crate) const GET_ONE_QUERY: &[&str] = &["format"];
/// The query parameters `update` accepts (also listed in the OpenAPI document).
pub(crate) const UPDATE_QUERY: &[&str] = &["format"];
/// The query parameters `delete_one` accepts (also listed in the OpenAPI document).
pub(crate) const DELETE_ONE_QUERY: &[&str] = &["force"];

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/fleet/package_policies", get(list).post(create))
        .route("/api/fleet/package_policies/_bulk_get", post(bulk_get))
        .route("/api/fleet/package_policies/delete", post(bulk_delete))
        .route("/api/fleet/package_policies/upgrade", post(upgrade))
        .route(
            "/api/fleet/package_policies/upgrade/dryrun",
            post(upgrade_dry_run),
        )
        .route(
            "/api/fleet/package_policies/{id}",
            get(get_one).put(update).delete(delete_one),
        )
}

fn format(q: &QueryParams) -> ApiResult<Format> {
    Ok(Format::parse(q.get("format"))?)
}

async fn list(State(s): State<AppState>, q: QueryParams) -> ApiResult<Json<Value>> {
    q.allow(LIST_QUERY)?;
    let params = ListParams {
        page: q.num("page")?,
        per_page: q.num("perPage")?,
        sort_field: q.get("sortField").map(String::from),
        sort_order: q.get("sortOrder").map(String::from),
        kuery: q.get("kuery").map(String::from),
        format: format(&q)?,
        with_agent_count: q.bool("withAgentCount")?.unwrap_or(false),
    };
    Ok(Json(s.fleet.list_package_policies(&params).await?))
}

async fn create(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    q: QueryParams,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    q.allow(CREATE_QUERY)?;
    Ok(Json(
        s.fleet
            .create_package_policy(&who, &body, format(&q)?)
            .await?,
    ))
}

async fn bulk_get(
    State(s): State<AppState>,
    q: QueryParams,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    q.allow(BULK_GET_QUERY)?;
    Ok(Json(
        s.fleet
            .bulk_get_package_policies(&body, format(&q)?)
            .await?,
    ))
}

async fn get_one(
    State(s): State<AppState>,
    Path(id): Path<String>,
    q: QueryParams,
) -> ApiResult<Json<Value>> {
    q.allow(GET_ONE_QUERY)?;
    Ok(Json(s.fleet.get_package_policy(&id, format(&q)?).await?))
}

async fn update(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    q: QueryParams,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    q.allow(UPDATE_QUERY)?;
    Ok(Json(
        s.fleet
            .update_package_policy(&who, &id, &body, format(&q)?)
            .await?,
    ))
}

async fn delete_one(
    State(s): State<AppState>,
    Path(id): Path<String>,
    q: QueryParams,
) -> ApiResult<Json<Value>> {
    q.allow(DELETE_ONE_QUERY)?;
    let force = q.bool("force")?.unwrap_or(false);
    Ok(Json(s.fleet.delete_package_policy(&id, force).await?))
}

async fn bulk_delete(
    State(s): State<AppState>,
    q: QueryParams,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    q.allow(&[])?;
    Ok(Json(s.fleet.delete_package_policies(&body).await?))
}

async fn upgrade(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    q: QueryParams,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    q.allow(&[])?;
    Ok(Json(
        s.fleet.upgrade_package_policies(&who, &body, false).await?,
    ))
}

async fn upgrade_dry_run(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    q: QueryParams,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    q.allow(&[])?;
    let _ = json!(null);
    Ok(Json(
        s.fleet.upgrade_package_policies(&who, &body, true).await?,
    ))
}
