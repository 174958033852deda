//! `/api/fleet/outputs`, `/fleet_server_hosts`, `/agent_download_sources` and `/proxies`:
//! parsing and shapes; rules in `fleet::outputs` and `fleet::hosts`.

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use fleet::agent_policies::schema::NoQuery;
use fleet::auth::Principal;
use fleet::hosts::{Setting, DOWNLOAD_SOURCES, FLEET_SERVER_HOSTS, PROXIES};
use fleet::settings::{
    CheckPermissionsQuery, HealthCheck, PagingQuery, PutSettings, PutSpaceSettings,
    RotateKeyPairQuery, UninstallTokensQuery,
};
use serde_json::Value;

use crate::error::ApiResult;
use crate::extract::{Body, JsonBody, Query};
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/fleet/outputs", get(list_outputs).post(create_output))
        .route(
            "/api/fleet/outputs/{id}",
            get(get_output).put(update_output).delete(delete_output),
        )
        .route("/api/fleet/outputs/{id}/health", get(output_health))
        .route("/api/fleet/settings", get(get_settings).put(put_settings))
        .route(
            "/api/fleet/space_settings",
            get(get_space_settings).put(put_space_settings),
        )
        .route("/api/fleet/setup", post(setup))
        .route("/api/fleet/check-permissions", get(check_permissions))
        .route("/api/fleet/health_check", post(health_check))
        .route("/api/fleet/logstash_api_keys", post(logstash_api_key))
        .route("/api/fleet/service_tokens", post(service_token))
        .route(
            "/api/fleet/message_signing_service/rotate_key_pair",
            post(rotate_key_pair),
        )
        .route("/api/fleet/uninstall_tokens", get(list_uninstall_tokens))
        .route("/api/fleet/uninstall_tokens/{id}", get(get_uninstall_token))
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
            get(
                move |State(s): State<AppState>, Query(_): Query<PagingQuery>| async move {
                    ApiResult::Ok(Json(s.fleet.list_settings(which).await?))
                },
            )
            .post(
                move |State(s): State<AppState>,
                      Query(_): Query<NoQuery>,
                      JsonBody(body): JsonBody| async move {
                    ApiResult::Ok(Json(s.fleet.create_setting(which, &body).await?))
                },
            ),
        )
        .route(
            &format!("{path}/{{id}}"),
            get(
                move |State(s): State<AppState>,
                      Path(id): Path<String>,
                      Query(_): Query<NoQuery>| async move {
                    ApiResult::Ok(Json(s.fleet.get_setting(which, &id).await?))
                },
            )
            .put(
                move |State(s): State<AppState>,
                      Path(id): Path<String>,
                      Query(_): Query<NoQuery>,
                      JsonBody(body): JsonBody| async move {
                    ApiResult::Ok(Json(s.fleet.update_setting(which, &id, &body).await?))
                },
            )
            .delete(
                move |State(s): State<AppState>,
                      Path(id): Path<String>,
                      Query(_): Query<NoQuery>| async move {
                    ApiResult::Ok(Json(s.fleet.delete_setting(which, &id).await?))
                },
            ),
        )
}

async fn list_outputs(
    State(s): State<AppState>,
    Query(_): Query<PagingQuery>,
) -> ApiResult<Json<Value>> {
    Ok(Json(s.fleet.list_outputs().await?))
}

async fn create_output(
    State(s): State<AppState>,
    Query(_): Query<NoQuery>,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    Ok(Json(s.fleet.create_output(&body).await?))
}

async fn get_output(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(_): Query<NoQuery>,
) -> ApiResult<Json<Value>> {
    Ok(Json(s.fleet.get_output(&id).await?))
}

async fn update_output(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(_): Query<NoQuery>,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    Ok(Json(s.fleet.update_output(&id, &body).await?))
}

async fn delete_output(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(_): Query<NoQuery>,
) -> ApiResult<Json<Value>> {
    Ok(Json(s.fleet.delete_output(&id).await?))
}

async fn output_health(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(_): Query<NoQuery>,
) -> ApiResult<Json<Value>> {
    Ok(Json(s.fleet.output_health(&id).await?))
}

async fn get_settings(
    State(s): State<AppState>,
    Query(_): Query<NoQuery>,
) -> ApiResult<Json<Value>> {
    Ok(Json(s.fleet.get_settings().await?))
}

async fn put_settings(
    State(s): State<AppState>,
    Query(_): Query<NoQuery>,
    Body(body): Body<PutSettings>,
) -> ApiResult<Json<Value>> {
    Ok(Json(s.fleet.put_settings(&body).await?))
}

async fn get_space_settings(
    State(s): State<AppState>,
    Query(_): Query<NoQuery>,
) -> ApiResult<Json<Value>> {
    Ok(Json(s.fleet.get_space_settings().await?))
}

async fn put_space_settings(
    State(s): State<AppState>,
    Query(_): Query<NoQuery>,
    Body(body): Body<PutSpaceSettings>,
) -> ApiResult<Json<Value>> {
    Ok(Json(s.fleet.put_space_settings(&body).await?))
}

async fn setup(State(s): State<AppState>, Query(_): Query<NoQuery>) -> ApiResult<Json<Value>> {
    Ok(Json(s.fleet.setup().await?))
}

async fn check_permissions(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Query(q): Query<CheckPermissionsQuery>,
) -> ApiResult<Json<Value>> {
    let fleet_server = q.fleet_server_setup.unwrap_or(false);
    Ok(Json(s.fleet.check_permissions(&who, fleet_server)))
}

async fn health_check(
    State(s): State<AppState>,
    Query(_): Query<NoQuery>,
    Body(body): Body<HealthCheck>,
) -> ApiResult<Json<Value>> {
    Ok(Json(s.fleet.health_check(&body).await?))
}

async fn logstash_api_key(
    State(s): State<AppState>,
    Query(_): Query<NoQuery>,
) -> ApiResult<Json<Value>> {
    Ok(Json(s.fleet.logstash_api_key()?))
}

async fn service_token(
    State(s): State<AppState>,
    Query(_): Query<NoQuery>,
) -> ApiResult<Json<Value>> {
    Ok(Json(s.fleet.service_token()?))
}

async fn list_uninstall_tokens(
    State(s): State<AppState>,
    Query(q): Query<UninstallTokensQuery>,
) -> ApiResult<Json<Value>> {
    let page = q.page.unwrap_or(1);
    let per_page = q.per_page.unwrap_or(20);
    Ok(Json(
        s.fleet
            .list_uninstall_tokens(q.policy_id.as_deref(), q.search.as_deref(), page, per_page)
            .await?,
    ))
}

async fn get_uninstall_token(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(_): Query<NoQuery>,
) -> ApiResult<Json<Value>> {
    Ok(Json(s.fleet.get_uninstall_token(&id).await?))
}

async fn rotate_key_pair(
    State(s): State<AppState>,
    Query(q): Query<RotateKeyPairQuery>,
) -> ApiResult<Json<Value>> {
    let acknowledge = q.acknowledge.unwrap_or(false);
    Ok(Json(s.fleet.rotate_key_pair(acknowledge).await?))
}
