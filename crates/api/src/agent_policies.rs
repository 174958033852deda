//! `/api/fleet/agent_policies`: request parsing and response shapes only; the rules live in
//! `fleet::agent_policies`.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use fleet::agent_policies::schema::{
    AgentPolicyIds, BulkGetAgentPolicies, CopyAgentPolicy, CreateAgentPolicyQuery,
    DeleteAgentPolicy, FormatQuery, FullPolicyQuery, ListAgentPoliciesQuery, NewAgentPolicy,
    NoQuery, UpdateAgentPolicy,
};
use fleet::agent_policies::FullPolicyOptions;
use fleet::auth::Principal;
use serde_json::{json, Value};

use crate::error::{ApiError, ApiResult};
use crate::extract::{Body, Query};
use crate::AppState;

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

async fn list(
    State(s): State<AppState>,
    Query(q): Query<ListAgentPoliciesQuery>,
) -> ApiResult<Json<Value>> {
    Ok(Json(s.fleet.list_agent_policies(&q).await?))
}

async fn create(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Query(q): Query<CreateAgentPolicyQuery>,
    Body(policy): Body<NewAgentPolicy>,
) -> ApiResult<Json<Value>> {
    let sys_monitoring = q.sys_monitoring.unwrap_or(false);
    let item = s
        .fleet
        .create_agent_policy(&who, &policy, sys_monitoring)
        .await?;
    Ok(Json(json!({ "item": item })))
}

async fn bulk_get(
    State(s): State<AppState>,
    Query(_): Query<FormatQuery>,
    Body(body): Body<BulkGetAgentPolicies>,
) -> ApiResult<Json<Value>> {
    Ok(Json(s.fleet.bulk_get_agent_policies(&body).await?))
}

async fn delete(
    State(s): State<AppState>,
    Query(_): Query<NoQuery>,
    Body(body): Body<DeleteAgentPolicy>,
) -> ApiResult<Json<Value>> {
    Ok(Json(s.fleet.delete_agent_policy(&body).await?))
}

async fn get_one(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(_): Query<FormatQuery>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        json!({ "item": s.fleet.get_agent_policy(&id).await? }),
    ))
}

async fn update(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    Query(_): Query<FormatQuery>,
    Body(policy): Body<UpdateAgentPolicy>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        json!({ "item": s.fleet.update_agent_policy(&who, &id, &policy).await? }),
    ))
}

async fn copy(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    Query(_): Query<FormatQuery>,
    Body(body): Body<CopyAgentPolicy>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        json!({ "item": s.fleet.copy_agent_policy(&who, &id, &body).await? }),
    ))
}

/// Shared by `/full` and `/download`: the options and the revision check.
async fn full_policy_options(
    s: &AppState,
    id: &str,
    q: &FullPolicyQuery,
) -> ApiResult<FullPolicyOptions> {
    let opts = FullPolicyOptions {
        standalone: q.standalone.unwrap_or(false),
        kubernetes: q.kubernetes.unwrap_or(false),
    };
    if let Some(rev) = q.revision {
        // Only the current revision is kept; older ones are not served.
        let current = s.fleet.get_agent_policy(id).await?["revision"]
            .as_u64()
            .unwrap_or(0);
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
    Query(q): Query<FullPolicyQuery>,
) -> ApiResult<Json<Value>> {
    let opts = full_policy_options(&s, &id, &q).await?;
    Ok(Json(
        json!({ "item": s.fleet.full_agent_policy(&id, opts).await? }),
    ))
}

async fn download(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<FullPolicyQuery>,
) -> ApiResult<Response> {
    let opts = full_policy_options(&s, &id, &q).await?;
    let yaml = s.fleet.full_agent_policy_yaml(&id, opts).await?;
    let mut res = ([(header::CONTENT_TYPE, "text/x-yaml")], yaml).into_response();
    if q.download.unwrap_or(false) {
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
    Query(_): Query<NoQuery>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        json!({ "item": s.fleet.agent_policy_outputs(&id).await? }),
    ))
}

async fn outputs_bulk(
    State(s): State<AppState>,
    Query(_): Query<NoQuery>,
    Body(body): Body<AgentPolicyIds>,
) -> ApiResult<Json<Value>> {
    let mut items = Vec::new();
    for id in &body.ids {
        items.push(s.fleet.agent_policy_outputs(id).await?);
    }
    Ok(Json(json!({ "items": items })))
}

async fn auto_upgrade_status(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(_): Query<NoQuery>,
) -> ApiResult<Json<Value>> {
    Ok(Json(s.fleet.auto_upgrade_agents_status(&id).await?))
}
