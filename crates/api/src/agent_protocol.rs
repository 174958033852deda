//! The agent-facing Fleet Server API on the agent listener: enroll, check-in, acks. Errors use
//! Fleet Server's body: `{"statusCode": N, "error": "<Name>", "message": "..."}`.

use axum::body::{to_bytes, Body};
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use fleet::agents::protocol::ProtocolError;
use serde_json::{json, Value};
use tower_http::compression::CompressionLayer;
use tower_http::decompression::RequestDecompressionLayer;

use crate::AppState;

/// The API version Fleet Server speaks to agents.
const AGENT_API_VERSION: &str = "2023-06-01";

struct AgentError(ProtocolError);

impl IntoResponse for AgentError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = json!({ "statusCode": self.0.status, "error": self.0.error, "message": self.0.message });
        (status, Json(body)).into_response()
    }
}

impl From<ProtocolError> for AgentError {
    fn from(e: ProtocolError) -> Self {
        Self(e)
    }
}

type AResult<T> = Result<T, AgentError>;

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// Enroll and check-in refuse an `Elastic-Api-Version` other than the one Fleet Server speaks
/// (the answer still carries the supported version).
fn check_api_version(h: &HeaderMap) -> AResult<()> {
    match header(h, "elastic-api-version") {
        None => Ok(()),
        Some(AGENT_API_VERSION) => Ok(()),
        Some(v) => Err(AgentError(ProtocolError {
            status: 400,
            error: "BadRequest",
            message: format!("unsupported Elastic-Api-Version [{v}]: the supported version is {AGENT_API_VERSION}"),
        })),
    }
}

/// Reads a JSON body of at most `limit` bytes (Fleet Server's per-route caps).
async fn json_body(req: Request<Body>, limit: usize) -> AResult<(HeaderMap, Value)> {
    let (parts, body) = req.into_parts();
    let bytes = to_bytes(body, limit).await.map_err(|_| {
        AgentError(ProtocolError {
            status: 413,
            error: "ErrPayloadSizeTooLarge",
            message: format!("body is larger than {limit} bytes"),
        })
    })?;
    let value = serde_json::from_slice(&bytes).map_err(|e| {
        AgentError(ProtocolError {
            status: 400,
            error: "BadRequest",
            message: format!("invalid JSON body: {e}"),
        })
    })?;
    Ok((parts.headers, value))
}

pub fn routes(state: AppState) -> Router {
    Router::new()
        .route("/api/status", get(status))
        .route("/livez", get(crate::livez))
        .route("/readyz", get(crate::readyz))
        .route("/api/fleet/agents/enroll", post(enroll))
        .route("/api/fleet/agents/{id}/checkin", post(checkin))
        .route("/api/fleet/agents/{id}/acks", post(acks))
        .route("/api/fleet/uploads", post(upload_begin))
        .route("/api/fleet/uploads/{id}", post(upload_finish))
        .route(
            "/api/fleet/uploads/{id}/{chunk}",
            axum::routing::put(upload_chunk),
        )
        .layer(axum::middleware::map_response(
            |mut res: Response| async move {
                res.headers_mut().insert(
                    "elastic-api-version",
                    HeaderValue::from_static(AGENT_API_VERSION),
                );
                res
            },
        ))
        // As Fleet Server (compression_level 1, compression_threshold 1024): a policy fan-out
        // compresses one answer per agent, so the fastest level keeps it cheap.
        .layer(
            CompressionLayer::new()
                .gzip(true)
                .quality(tower_http::CompressionLevel::Fastest)
                .compress_when(tower_http::compression::predicate::SizeAbove::new(1024)),
        )
        .layer(RequestDecompressionLayer::new().gzip(true))
        .with_state(state)
}

/// Fleet Server's status: HEALTHY, or FAILED with 503 while its data store (Elasticsearch
/// there, the database here) cannot be reached, so load balancers take the node out.
async fn status(State(s): State<AppState>) -> (StatusCode, Json<Value>) {
    if crate::store_available(&s.fleet).await {
        (
            StatusCode::OK,
            Json(json!({ "name": "fleet-server", "status": "HEALTHY" })),
        )
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "name": "fleet-server", "status": "FAILED" })),
        )
    }
}

async fn enroll(State(s): State<AppState>, req: Request<Body>) -> AResult<Json<Value>> {
    let (h, body) = json_body(req, 512 * 1024).await?;
    check_api_version(&h)?;
    Ok(Json(
        s.fleet
            .enroll(header(&h, "authorization"), header(&h, "user-agent"), &body)
            .await?,
    ))
}

async fn checkin(
    State(s): State<AppState>,
    Path(id): Path<String>,
    req: Request<Body>,
) -> AResult<Response> {
    let (h, body) = json_body(req, 1024 * 1024).await?;
    check_api_version(&h)?;
    // The answer comes as JSON text: a POLICY_CHANGE embeds the policy serialized once per
    // revision.
    let answer = s
        .fleet
        .checkin(
            &id,
            header(&h, "authorization"),
            header(&h, "user-agent"),
            &body,
        )
        .await?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        answer,
    )
        .into_response())
}

async fn acks(
    State(s): State<AppState>,
    Path(id): Path<String>,
    req: Request<Body>,
) -> AResult<Response> {
    let (h, body) = json_body(req, 2 * 1024 * 1024).await?;
    let (status, body) = s.fleet.ack(&id, header(&h, "authorization"), &body).await?;
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    Ok((status, Json(body)).into_response())
}

async fn upload_begin(State(s): State<AppState>, req: Request<Body>) -> AResult<Json<Value>> {
    let (h, body) = json_body(req, 64 * 1024).await?;
    Ok(Json(
        s.fleet
            .upload_begin(header(&h, "authorization"), &body)
            .await?,
    ))
}

async fn upload_chunk(
    State(s): State<AppState>,
    Path((id, chunk)): Path<(String, String)>,
    req: Request<Body>,
) -> AResult<Json<Value>> {
    let (parts, body) = req.into_parts();
    let limit = fleet::uploads::CHUNK_SIZE as usize;
    let bytes = to_bytes(body, limit).await.map_err(|_| {
        AgentError(ProtocolError {
            status: 413,
            error: "ErrPayloadSizeTooLarge",
            message: format!("chunk is larger than {limit} bytes"),
        })
    })?;
    s.fleet
        .upload_chunk(
            header(&parts.headers, "authorization"),
            &id,
            &chunk,
            header(&parts.headers, "x-chunk-sha2"),
            &bytes,
        )
        .await?;
    Ok(Json(json!({})))
}

async fn upload_finish(
    State(s): State<AppState>,
    Path(id): Path<String>,
    req: Request<Body>,
) -> AResult<Json<Value>> {
    let (h, body) = json_body(req, 64 * 1024).await?;
    Ok(Json(
        s.fleet
            .upload_finish(header(&h, "authorization"), &id, &body)
            .await?,
    ))
}
