//! `/api/fleet/agents` and `/api/fleet/agent_status`: parsing and shapes; rules in
//! `fleet::agents`.

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use fleet::action_requests::{
    BulkReassign, BulkRequestDiagnostics, BulkRollback, BulkUnenroll, BulkUpdateAgentTags,
    BulkUpgrade, PostAgentAction, ReassignAgent, RequestDiagnostics, UnenrollAgent, UpgradeAgent,
};
use fleet::agent_policies::schema::NoQuery;
use fleet::agents::{
    ActionStatusQuery, AgentStatusQuery, AgentTagsQuery, GetAgentQuery, ListAgentsQuery,
    StatusHistoryQuery, UpdateAgent,
};
use serde_json::{json, Value};

use crate::error::{ApiError, ApiResult};
use crate::extract::{Body, Query};
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/fleet/agents", get(list))
        .route("/api/fleet/agents/tags", get(tags))
        .route("/api/fleet/agents/action_status", get(action_status))
        .route(
            "/api/fleet/agents/bulk_unenroll",
            axum::routing::post(bulk_unenroll),
        )
        .route(
            "/api/fleet/agents/bulk_reassign",
            axum::routing::post(bulk_reassign),
        )
        .route(
            "/api/fleet/agents/{id}/unenroll",
            axum::routing::post(unenroll),
        )
        .route(
            "/api/fleet/agents/{id}/upgrade",
            axum::routing::post(upgrade),
        )
        .route(
            "/api/fleet/agents/bulk_upgrade",
            axum::routing::post(bulk_upgrade),
        )
        .route("/api/fleet/agents/{id}/uploads", get(uploads))
        .route(
            "/api/fleet/agents/files/{file_id}/{file_name}",
            get(download_file),
        )
        .route(
            "/api/fleet/agents/files/{file_id}",
            axum::routing::delete(delete_file),
        )
        .route(
            "/api/fleet/agents/{id}/rollback",
            axum::routing::post(rollback),
        )
        .route(
            "/api/fleet/agents/bulk_rollback",
            axum::routing::post(bulk_rollback),
        )
        .route(
            "/api/fleet/agents/actions/{action_id}/cancel",
            axum::routing::post(cancel),
        )
        .route(
            "/api/fleet/agents/{id}/actions",
            axum::routing::post(new_action),
        )
        .route(
            "/api/fleet/agents/{id}/request_diagnostics",
            axum::routing::post(diagnostics),
        )
        .route(
            "/api/fleet/agents/bulk_request_diagnostics",
            axum::routing::post(bulk_diagnostics),
        )
        .route(
            "/api/fleet/agents/{id}/reassign",
            axum::routing::post(reassign),
        )
        .route(
            "/api/fleet/agents/bulk_update_agent_tags",
            axum::routing::post(bulk_tags),
        )
        .route("/api/fleet/agents/setup", get(setup_status).post(setup))
        .route(
            "/api/fleet/agents/available_versions",
            get(available_versions),
        )
        .route(
            "/api/fleet/agents/{id}",
            get(get_one).put(update).delete(delete),
        )
        .route("/api/fleet/agent_status", get(status))
        // Kibana's deprecated spelling of the same route, still served.
        .route("/api/fleet/agent-status", get(status))
        .route("/internal/fleet/agent_status_history", get(status_history))
}

async fn list(
    State(s): State<AppState>,
    Query(q): Query<ListAgentsQuery>,
) -> ApiResult<Json<Value>> {
    Ok(Json(s.fleet.list_agents(&q).await?))
}

async fn get_one(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(_): Query<GetAgentQuery>,
) -> ApiResult<Json<Value>> {
    Ok(Json(json!({ "item": s.fleet.get_agent(&id).await? })))
}

async fn update(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(_): Query<NoQuery>,
    Body(body): Body<UpdateAgent>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        json!({ "item": s.fleet.update_agent(&id, &body).await? }),
    ))
}

async fn delete(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(_): Query<NoQuery>,
) -> ApiResult<Json<Value>> {
    Ok(Json(s.fleet.delete_agent(&id).await?))
}

async fn tags(
    State(s): State<AppState>,
    Query(q): Query<AgentTagsQuery>,
) -> ApiResult<Json<Value>> {
    let show_inactive = q.show_inactive.unwrap_or(false);
    Ok(Json(
        s.fleet
            .agent_tags(q.kuery.as_deref(), show_inactive)
            .await?,
    ))
}

/// Flotilla's own: agent counts by status over time (a sample a minute), for the UI's chart.
async fn status_history(
    State(s): State<AppState>,
    Query(q): Query<StatusHistoryQuery>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        s.fleet.agent_status_history(q.since.as_deref()).await?,
    ))
}

async fn status(
    State(s): State<AppState>,
    Query(q): Query<AgentStatusQuery>,
) -> ApiResult<Json<Value>> {
    let mut ids: Vec<String> = q.policy_id.into_iter().collect();
    if let Some(many) = &q.policy_ids {
        ids.extend(
            many.split(',')
                .map(|p| p.trim().to_string())
                .filter(|p| !p.is_empty()),
        );
    }
    Ok(Json(
        s.fleet
            .agent_status_summary(&ids, q.kuery.as_deref())
            .await?,
    ))
}

/// `GET /agents/setup`: Flotilla is its own Fleet Server, so agents can always enroll.
async fn setup_status(Query(_): Query<NoQuery>) -> ApiResult<Json<Value>> {
    Ok(Json(json!({
        "isReady": true,
        "missing_requirements": [],
        "missing_optional_features": [],
        "is_secrets_storage_enabled": false,
        "is_space_awareness_enabled": false,
    })))
}

/// `POST /agents/setup`: nothing to initialize beyond what the first start did.
async fn setup(Query(_): Query<NoQuery>) -> ApiResult<Json<Value>> {
    Ok(Json(json!({ "isInitialized": true, "nonFatalErrors": [] })))
}

async fn bulk_tags(
    State(s): State<AppState>,
    Query(_): Query<NoQuery>,
    Body(body): Body<BulkUpdateAgentTags>,
) -> ApiResult<Json<Value>> {
    Ok(Json(s.fleet.bulk_update_agent_tags(&body).await?))
}

/// `GET /agents/available_versions`. Kibana lists released agent versions up to its own from a
/// list fetched at build time and from elastic.co; Flotilla has no such list offline, so it
/// offers what Kibana offers without one: its own version.
async fn available_versions(
    State(s): State<AppState>,
    Query(_): Query<NoQuery>,
) -> ApiResult<Json<Value>> {
    Ok(Json(json!({ "items": [s.fleet.config.stack_version] })))
}

async fn unenroll(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(_): Query<NoQuery>,
    Body(body): Body<UnenrollAgent>,
) -> ApiResult<Json<Value>> {
    Ok(Json(s.fleet.unenroll_agent(&id, &body).await?))
}

async fn bulk_unenroll(
    State(s): State<AppState>,
    Query(_): Query<NoQuery>,
    Body(body): Body<BulkUnenroll>,
) -> ApiResult<Json<Value>> {
    Ok(Json(s.fleet.bulk_unenroll(&body).await?))
}

async fn reassign(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(_): Query<NoQuery>,
    Body(body): Body<ReassignAgent>,
) -> ApiResult<Json<Value>> {
    Ok(Json(s.fleet.reassign_agent(&id, &body).await?))
}

async fn bulk_reassign(
    State(s): State<AppState>,
    Query(_): Query<NoQuery>,
    Body(body): Body<BulkReassign>,
) -> ApiResult<Json<Value>> {
    Ok(Json(s.fleet.bulk_reassign(&body).await?))
}

/// `GET /agents/action_status`: the page index starts at 0, as in Kibana.
async fn action_status(
    State(s): State<AppState>,
    Query(q): Query<ActionStatusQuery>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        s.fleet
            .action_status(
                q.page.unwrap_or(0),
                q.per_page.unwrap_or(20),
                q.error_size.unwrap_or(5),
            )
            .await?,
    ))
}

async fn upgrade(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(_): Query<NoQuery>,
    Body(body): Body<UpgradeAgent>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    match s.fleet.upgrade_agent(&id, &body).await {
        Ok(v) => Ok(Json(v).into_response()),
        Err(Err(e)) => Err(e.into()),
        // The cooldown: 429 with Retry-After, as Kibana answers.
        Err(Ok(limited)) => {
            let mut res = ApiError::new(axum::http::StatusCode::TOO_MANY_REQUESTS, limited.message)
                .into_response();
            if let Ok(v) = axum::http::HeaderValue::from_str(&limited.retry_after_secs.to_string())
            {
                res.headers_mut().insert(axum::http::header::RETRY_AFTER, v);
            }
            Ok(res)
        }
    }
}

async fn bulk_upgrade(
    State(s): State<AppState>,
    Query(_): Query<NoQuery>,
    Body(body): Body<BulkUpgrade>,
) -> ApiResult<Json<Value>> {
    Ok(Json(s.fleet.bulk_upgrade(&body).await?))
}

async fn uploads(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(_): Query<NoQuery>,
) -> ApiResult<Json<Value>> {
    Ok(Json(s.fleet.agent_uploads(&id).await?))
}

/// The file as an attachment, with the name the agent gave it.
async fn download_file(
    State(s): State<AppState>,
    Path((file_id, file_name)): Path<(String, String)>,
    Query(_): Query<NoQuery>,
) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    let file = s.fleet.agent_file(&file_id, &file_name).await?;
    let body: Vec<u8> = file.chunks.concat();
    let disposition = format!(
        "attachment; filename=\"{}\"",
        file.name.replace(['"', '\\'], "_")
    );
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, file.mime_type),
            (axum::http::header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response())
}

async fn delete_file(
    State(s): State<AppState>,
    Path(file_id): Path<String>,
    Query(_): Query<NoQuery>,
) -> ApiResult<Json<Value>> {
    Ok(Json(s.fleet.delete_agent_file(&file_id).await?))
}

async fn rollback(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(_): Query<NoQuery>,
) -> ApiResult<Json<Value>> {
    Ok(Json(s.fleet.rollback_agent(&id).await?))
}

async fn bulk_rollback(
    State(s): State<AppState>,
    Query(_): Query<NoQuery>,
    Body(body): Body<BulkRollback>,
) -> ApiResult<Json<Value>> {
    Ok(Json(s.fleet.bulk_rollback(&body).await?))
}

async fn cancel(
    State(s): State<AppState>,
    Path(action_id): Path<String>,
    Query(_): Query<NoQuery>,
) -> ApiResult<Json<Value>> {
    Ok(Json(s.fleet.cancel_action(&action_id).await?))
}

async fn new_action(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(_): Query<NoQuery>,
    Body(body): Body<PostAgentAction>,
) -> ApiResult<Json<Value>> {
    Ok(Json(s.fleet.create_agent_action(&id, &body).await?))
}

async fn diagnostics(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(_): Query<NoQuery>,
    Body(body): Body<RequestDiagnostics>,
) -> ApiResult<Json<Value>> {
    let selector = s.fleet.one_agent(&id).await;
    Ok(Json(
        s.fleet
            .request_diagnostics(selector, body.additional_metrics.as_deref(), None)
            .await?,
    ))
}

async fn bulk_diagnostics(
    State(s): State<AppState>,
    Query(_): Query<NoQuery>,
    Body(body): Body<BulkRequestDiagnostics>,
) -> ApiResult<Json<Value>> {
    let selector = s.fleet.bulk_agents(&body.agents);
    Ok(Json(
        s.fleet
            .request_diagnostics(selector, body.additional_metrics.as_deref(), Some(&body))
            .await?,
    ))
}
