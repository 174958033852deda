//! `/api/fleet/enrollment_api_keys`: parsing and shapes; rules in `fleet::enrollment_api_keys`.

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use fleet::enrollment_api_keys::ListParams;
use serde_json::{json, Value};

use crate::error::ApiResult;
use crate::extract::{JsonBody, QueryParams};
use crate::AppState;

/// The query parameters `list` accepts (also listed in the OpenAPI document).
pub(crate) const LIST_QUERY: &[&str] = &["page", "perPage", "kuery"];
/// The query parameters `delete` accepts (also listed in the OpenAPI document).
pub(crate) const DELETE_QUERY: &[&str] = &["forceDelete", "includeHidden"];

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/fleet/enrollment_api_keys", get(list).post(create))
        .route(
            "/api/fleet/enrollment_api_keys/_bulk_delete",
            post(bulk_delete),
        )
        .route(
            "/api/fleet/enrollment_api_keys/{id}",
            get(get_one).delete(delete),
        )
}

async fn list(State(s): State<AppState>, q: QueryParams) -> ApiResult<Json<Value>> {
    q.allow(LIST_QUERY)?;
    let params = ListParams {
        page: q.num("page")?,
        per_page: q.num("perPage")?,
        kuery: q.get("kuery").map(String::from),
    };
    Ok(Json(s.fleet.list_enrollment_api_keys(&params).await?))
}

async fn create(
    State(s): State<AppState>,
    q: QueryParams,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    q.allow(&[])?;
    Ok(Json(s.fleet.create_enrollment_api_key(&body).await?))
}

async fn get_one(
    State(s): State<AppState>,
    Path(id): Path<String>,
    q: QueryParams,
) -> ApiResult<Json<Value>> {
    q.allow(&[])?;
    Ok(Json(
        json!({ "item": s.fleet.get_enrollment_api_key(&id).await? }),
    ))
}

async fn delete(
    State(s): State<AppState>,
    Path(id): Path<String>,
    q: QueryParams,
) -> ApiResult<Json<Value>> {
    q.allow(DELETE_QUERY)?;
    q.bool("includeHidden")?;
    let force = q.bool("forceDelete")?.unwrap_or(false);
    Ok(Json(s.fleet.delete_enrollment_api_key(&id, force).await?))
}

async fn bulk_delete(
    State(s): State<AppState>,
    q: QueryParams,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    q.allow(&[])?;
    Ok(Json(s.fleet.bulk_delete_enrollment_api_keys(&body).await?))
}
