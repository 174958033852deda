//! `/api/fleet/outputs`, `/fleet_server_hosts`, `/agent_download_sources` and `/proxies`:
//! parsing and shapes; rules in `fleet::outputs` and `fleet::hosts`.

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use fleet::hosts::{Setting, DOWNLOAD_SOURCES, FLEET_SERVER_HOSTS, PROXIES};
use serde_json::Value;

use crate::error::ApiResult;
use crate::extract::{JsonBody, QueryParams};
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/fleet/outputs", get(list_outputs).post(create_output))
        .route(
            "/api/fleet/outputs/{id}",
            get(get_output).put(update_output).delete(delete_output),
        )
        .route("/api/fleet/outputs/{id}/health", get(output_health))
        .merge(setting_routes(
            "/api/fleet/fleet_server_hosts",
            &FLEET_SERVER_HOSTS,
        ))
        .merge(setting_routes(
            "/api/fleet/agent_download_sources",
            &DOWNLOAD_SOURCES,
        ))
        .merge(setting_routes("/api/fleet/proxies", &PROXIES))
}

/// List, create, get, update and delete of one kind of settings object.
fn setting_routes(path: &'static str, which: &'static Setting) -> Router<AppState> {
    Router::new()
        .route(
            path,
            get(move |State(s): State<AppState>, q: QueryParams| async move {
                q.allow(&["page", "perPage"])?;
                ApiResult::Ok(Json(s.fleet.list_settings(which).await?))
            })
            .post(
                move |State(s): State<AppState>, q: QueryParams, JsonBody(body): JsonBody| async move {
                    q.allow(&[])?;
                    ApiResult::Ok(Json(s.fleet.create_setting(which, &body).await?))
                },
            ),
        )
        .route(
            &format!("{path}/{{id}}"),
            get(
                move |State(s): State<AppState>, Path(id): Path<String>, q: QueryParams| async move {
                    q.allow(&[])?;
                    ApiResult::Ok(Json(s.fleet.get_setting(which, &id).await?))
                },
            )
            .put(
                move |State(s): State<AppState>,
                      Path(id): Path<String>,
                      q: QueryParams,
                      JsonBody(body): JsonBody| async move {
                    q.allow(&[])?;
                    ApiResult::Ok(Json(s.fleet.update_setting(which, &id, &body).await?))
                },
            )
            .delete(
                move |State(s): State<AppState>, Path(id): Path<String>, q: QueryParams| async move {
                    q.allow(&[])?;
                    ApiResult::Ok(Json(s.fleet.delete_setting(which, &id).await?))
                },
            ),
        )
}

async fn list_outputs(State(s): State<AppState>, q: QueryParams) -> ApiResult<Json<Value>> {
    q.allow(&["page", "perPage"])?;
    Ok(Json(s.fleet.list_outputs().await?))
}

async fn create_output(
    State(s): State<AppState>,
    q: QueryParams,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    q.allow(&[])?;
    Ok(Json(s.fleet.create_output(&body).await?))
}

async fn get_output(
    State(s): State<AppState>,
    Path(id): Path<String>,
    q: QueryParams,
) -> ApiResult<Json<Value>> {
    q.allow(&[])?;
    Ok(Json(s.fleet.get_output(&id).await?))
}

async fn update_output(
    State(s): State<AppState>,
    Path(id): Path<String>,
    q: QueryParams,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    q.allow(&[])?;
    Ok(Json(s.fleet.update_output(&id, &body).await?))
}

async fn delete_output(
    State(s): State<AppState>,
    Path(id): Path<String>,
    q: QueryParams,
) -> ApiResult<Json<Value>> {
    q.allow(&[])?;
    Ok(Json(s.fleet.delete_output(&id).await?))
}

async fn output_health(
    State(s): State<AppState>,
    Path(id): Path<String>,
    q: QueryParams,
) -> ApiResult<Json<Value>> {
    q.allow(&[])?;
    Ok(Json(s.fleet.output_health(&id).await?))
}
