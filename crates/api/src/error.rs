//! One error type for the management API that renders Kibana's body:
//! `{"statusCode": N, "error": "<reason phrase>", "message": "<text>"}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use fleet::FleetError;
use serde_json::json;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
}

impl From<FleetError> for ApiError {
    fn from(e: FleetError) -> Self {
        let status = match &e {
            FleetError::BadRequest(_) => StatusCode::BAD_REQUEST,
            FleetError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            FleetError::Forbidden(_) => StatusCode::FORBIDDEN,
            FleetError::NotFound(_) => StatusCode::NOT_FOUND,
            FleetError::Conflict(_) => StatusCode::CONFLICT,
            FleetError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            FleetError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            FleetError::Internal(detail) => {
                tracing::error!(error = %detail, "internal error");
                return Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "An internal server error occurred.",
                );
            }
        };
        Self::new(status, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({
            "statusCode": self.status.as_u16(),
            "error": self.status.canonical_reason().unwrap_or("Error"),
            "message": self.message,
        });
        let mut res = (self.status, Json(body)).into_response();
        if self.status == StatusCode::TOO_MANY_REQUESTS {
            res.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("1"),
            );
        }
        res
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
