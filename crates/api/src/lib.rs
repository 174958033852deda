//! HTTP front ends: the Kibana Fleet management API and the agent-facing Fleet Server API.
//! Handlers parse requests and shape responses; every rule lives in the `fleet` crate.

mod agent_policies;
mod agent_protocol;
mod agents;
pub mod authz;
mod enrollment_api_keys;
mod epm;
pub mod error;
pub mod extract;
mod gate;
mod openapi;
mod package_policies;
mod security;
mod session;
mod settings;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{middleware, Json, Router};
use fleet::Fleet;
use serde_json::{json, Value};

pub use gate::API_VERSION;

/// Flotilla's version, reported by the status endpoints.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

#[derive(Clone)]
pub struct AppState {
    pub fleet: Fleet,
}

/// The management API (Kibana's port).
pub fn management_router(fleet: Fleet) -> Router {
    let state = AppState { fleet };
    let guarded = Router::new()
        .merge(agent_policies::routes())
        .merge(enrollment_api_keys::routes())
        .merge(agents::routes())
        .merge(security::routes())
        .merge(settings::routes())
        .merge(package_policies::routes())
        .merge(epm::routes())
        .merge(session::routes())
        .route("/api/oas", get(openapi::serve))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            gate::management,
        ));
    let ui = ui::router(state.fleet.clone());
    let inner = Router::new()
        .route("/api/status", get(status))
        .route("/livez", get(livez))
        .route("/readyz", get(readyz))
        .merge(session::open_routes())
        .merge(guarded)
        .fallback(not_found)
        .with_state(state)
        .merge(ui);
    // `/s/{space}/api/fleet/...` is the same API in another Kibana space: the prefix is taken
    // off before routing and the space travels with the request (see `gate`).
    Router::new().fallback_service(
        tower::ServiceBuilder::new()
            .map_request(gate::space_prefix)
            .service(inner),
    )
}

/// The agent protocol (Fleet Server's port).
pub fn agent_router(fleet: Fleet) -> Router {
    agent_protocol::routes(AppState { fleet })
}

/// How long a status request waits for the database before calling it unavailable (the pool
/// itself waits 30 s, longer than a load balancer's health check).
const STORE_PING_DEADLINE: std::time::Duration = std::time::Duration::from_secs(3);

/// Whether the store answers a read within [`STORE_PING_DEADLINE`].
pub(crate) async fn store_available(fleet: &Fleet) -> bool {
    match tokio::time::timeout(STORE_PING_DEADLINE, fleet.store.ping()).await {
        Ok(Ok(())) => true,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "status: the database does not answer");
            false
        }
        Err(_) => {
            tracing::warn!("status: the database did not answer in time");
            false
        }
    }
}

/// Health check, unauthenticated so load balancers can use it. As Kibana's, the overall level
/// follows its core services (here the store, in Kibana's `savedObjects` slot), and an
/// unavailable service answers 503.
async fn status(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let (code, level, summary, store) = if store_available(&state.fleet).await {
        (
            StatusCode::OK,
            "available",
            "All services and plugins are available",
            "SavedObjects service has completed migrations and is available",
        )
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "1 service(s) and 0 plugin(s) are unavailable: savedObjects",
            "SavedObjects service is not available without a healthy database connection",
        )
    };
    (
        code,
        Json(json!({
            "name": "flotilla",
            "version": { "number": VERSION, "build_flavor": "traditional" },
            "status": {
                "overall": { "level": level, "summary": summary },
                "core": { "savedObjects": { "level": level, "summary": store } },
            },
        })),
    )
}

/// Liveness, for Kubernetes and load balancers: the process answers.
pub(crate) async fn livez() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// Readiness: the store answers (its migrations ran when the server started), else 503, so
/// a node whose database went away is taken out of rotation until it is back.
pub(crate) async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    if store_available(&state.fleet).await {
        (StatusCode::OK, Json(json!({ "status": "ok" })))
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "unavailable", "reason": "the database cannot be reached" })),
        )
    }
}

async fn not_found() -> error::ApiError {
    error::ApiError::new(StatusCode::NOT_FOUND, "Not Found")
}
