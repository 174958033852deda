//! Request extractors that fail the way Kibana fails: JSON bodies, query strings.

use std::collections::HashMap;

use axum::body::{to_bytes, Body};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde_json::Value;

use crate::error::ApiError;

/// Largest accepted request body (package uploads get their own, larger limit).
pub const MAX_BODY: usize = 10 * 1024 * 1024;

/// A JSON body; an empty body is `null` (Kibana then says what it expected instead).
pub struct JsonBody(pub Value);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request<Body>, _state: &S) -> Result<Self, Self::Rejection> {
        let bytes = to_bytes(req.into_body(), MAX_BODY).await.map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("Payload content length greater than maximum allowed: {MAX_BODY}"),
            )
        })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(JsonBody(Value::Null));
        }
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|_| ApiError::bad_request("Invalid request payload JSON format"))
    }
}

/// The query string as a map, checked against the parameters a route declares.
pub struct QueryParams(pub HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for QueryParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let q = parts.uri.query().unwrap_or("");
        let map: HashMap<String, String> = serde_urlencoded_pairs(q)?;
        Ok(QueryParams(map))
    }
}

pub(crate) fn serde_urlencoded_pairs(q: &str) -> Result<HashMap<String, String>, ApiError> {
    axum::extract::Query::<HashMap<String, String>>::try_from_uri(
        &format!("/?{q}")
            .parse()
            .map_err(|_| ApiError::bad_request("Invalid query string"))?,
    )
    .map(|axum::extract::Query(m)| m)
    .map_err(|_| ApiError::bad_request("Invalid query string"))
}

impl QueryParams {
    /// Refuses parameters the route does not know, as Kibana's schema does.
    pub fn allow(&self, known: &[&str]) -> Result<(), ApiError> {
        // `elastic-api-version` may come as a query parameter too.
        let mut keys: Vec<&String> = self.0.keys().collect();
        keys.sort();
        for key in keys {
            if !known.contains(&key.as_str()) && key != "elastic-api-version" {
                return Err(ApiError::bad_request(format!(
                    "[request query.{key}]: definition for this key is missing"
                )));
            }
        }
        Ok(())
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    pub fn bool(&self, key: &str) -> Result<Option<bool>, ApiError> {
        Ok(fleet::validate::query_bool(key, self.get(key))?)
    }

    pub fn num(&self, key: &str) -> Result<Option<f64>, ApiError> {
        Ok(fleet::validate::query_num(key, self.get(key))?)
    }

    pub fn one_of(&self, key: &str, options: &[&str]) -> Result<Option<String>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) if options.contains(&v) => Ok(Some(v.to_string())),
            Some(v) => Err(ApiError::bad_request(format!(
                "[request query.{key}]: expected value to be one of [{}] but got [{v}]",
                options.join(", ")
            ))),
        }
    }
}
