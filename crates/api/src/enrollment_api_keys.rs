//! `/api/fleet/enrollment_api_keys`: parsing and shapes; rules in `fleet::enrollment_api_keys`.

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use fleet::agent_policies::schema::NoQuery;
use fleet::enrollment_api_keys::{
    BulkDeleteEnrollmentApiKeys, DeleteEnrollmentApiKeyQuery, ListEnrollmentApiKeysQuery,
    NewEnrollmentApiKey,
};
use serde_json::{json, Value};

use crate::error::ApiResult;
use crate::extract::{Body, Query};
use crate::AppState;

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

async fn list(
    State(s): State<AppState>,
    Query(q): Query<ListEnrollmentApiKeysQuery>,
) -> ApiResult<Json<Value>> {
    Ok(Json(s.fleet.list_enrollment_api_keys(&q).await?))
}

async fn create(
    State(s): State<AppState>,
    Query(_): Query<NoQuery>,
    Body(body): Body<NewEnrollmentApiKey>,
) -> ApiResult<Json<Value>> {
    Ok(Json(s.fleet.create_enrollment_api_key(&body).await?))
}

async fn get_one(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(_): Query<NoQuery>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        json!({ "item": s.fleet.get_enrollment_api_key(&id).await? }),
    ))
}

async fn delete(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<DeleteEnrollmentApiKeyQuery>,
) -> ApiResult<Json<Value>> {
    let force = q.force_delete.unwrap_or(false);
    Ok(Json(s.fleet.delete_enrollment_api_key(&id, force).await?))
}

async fn bulk_delete(
    State(s): State<AppState>,
    Query(_): Query<NoQuery>,
    Body(body): Body<BulkDeleteEnrollmentApiKeys>,
) -> ApiResult<Json<Value>> {
    Ok(Json(s.fleet.bulk_delete_enrollment_api_keys(&body).await?))
}
