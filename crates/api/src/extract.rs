//! Request extractors that fail the way Kibana fails: JSON bodies, query strings.

use std::collections::HashMap;

use axum::body::{to_bytes, Body as Body_};
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

    async fn from_request(req: Request<Body_>, _state: &S) -> Result<Self, Self::Rejection> {
        let payload = payload_kind(req.headers())?;
        let bytes = to_bytes(req.into_body(), MAX_BODY).await.map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("Payload content length greater than maximum allowed: {MAX_BODY}"),
            )
        })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(JsonBody(Value::Null));
        }
        match payload {
            Payload::Json => serde_json::from_slice(&bytes)
                .map(JsonBody)
                .map_err(|_| ApiError::bad_request("Invalid request payload JSON format")),
            Payload::Text => serde_json::from_slice(&bytes)
                .ok()
                .filter(Value::is_object)
                .map(JsonBody)
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "[request body]: could not parse object value from json input",
                    )
                }),
            Payload::Unsupported => Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Unsupported Media Type",
            )),
        }
    }
}

/// A JSON body on the Elasticsearch-compatible routes (`/_security/...`), which, as Elasticsearch,
/// take a body only with a JSON `Content-Type` (406 otherwise). A browser that caches Basic
/// credentials sends them with a cross-site form too, and forms cannot send JSON.
pub struct StrictJsonBody(pub Value);

impl<S: Send + Sync> FromRequest<S> for StrictJsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request<Body_>, state: &S) -> Result<Self, Self::Rejection> {
        let refused = match req.headers().get(axum::http::header::CONTENT_TYPE) {
            None => Some("Content-Type header is missing".to_string()),
            Some(v) => match payload_kind(req.headers()) {
                Ok(Payload::Json) => None,
                _ => Some(format!(
                    "Content-Type header [{}] is not supported",
                    String::from_utf8_lossy(v.as_bytes())
                )),
            },
        };
        let Some(message) = refused else {
            return JsonBody::from_request(req, state)
                .await
                .map(|JsonBody(body)| StrictJsonBody(body));
        };
        match to_bytes(req.into_body(), MAX_BODY).await {
            Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => {
                Ok(StrictJsonBody(Value::Null))
            }
            _ => Err(ApiError::new(StatusCode::NOT_ACCEPTABLE, message)),
        }
    }
}

/// How a body is read, by its `Content-Type`, as Kibana's HTTP server (hapi) reads it: JSON
/// when the header is absent or names JSON (`application/json`, `application/*+json`); text
/// (`text/*`), which Kibana's schemas accept when it holds a JSON object; anything else is
/// refused with 415 — a form, XML or a file is not a request body here.
enum Payload {
    Json,
    Text,
    Unsupported,
}

fn payload_kind(headers: &axum::http::HeaderMap) -> Result<Payload, ApiError> {
    let Some(value) = headers.get(axum::http::header::CONTENT_TYPE) else {
        return Ok(Payload::Json);
    };
    let invalid = || ApiError::bad_request("Invalid content-type header");
    let mime: mime::Mime = value
        .to_str()
        .map_err(|_| invalid())?
        .parse()
        .map_err(|_| invalid())?;
    Ok(match (mime.type_(), mime.subtype(), mime.suffix()) {
        (mime::APPLICATION, mime::JSON, _) | (mime::APPLICATION, _, Some(mime::JSON)) => {
            Payload::Json
        }
        (mime::TEXT, _, _) => Payload::Text,
        _ => Payload::Unsupported,
    })
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

/// A request body as its declared type (see the `contract` crate): checked with Kibana's rules
/// and messages before the handler runs. A missing body is `{}`, as config-schema defaults an
/// object, so its required keys are what is reported.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: contract::Request> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request<Body_>, state: &S) -> Result<Self, Self::Rejection> {
        let JsonBody(value) = JsonBody::from_request(req, state).await?;
        typed_body(value).map(Body)
    }
}

/// A query string as its declared type: unknown parameters refused, numbers and booleans
/// converted, with Kibana's messages. `elastic-api-version` may come as a parameter on any
/// route and is not the type's.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: contract::Request> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let QueryParams(map) = QueryParams::from_request_parts(parts, state).await?;
        let value = contract::query_value(
            map.iter()
                .filter(|(k, _)| k.as_str() != "elastic-api-version")
                .map(|(k, v)| (k.as_str(), v.as_str())),
        );
        contract::parse("request query", value)
            .map(Query)
            .map_err(ApiError::bad_request)
    }
}

/// [`StrictJsonBody`] as its declared type (the Elasticsearch-compatible routes).
pub struct StrictBody<T>(pub T);

impl<S: Send + Sync, T: contract::Request> FromRequest<S> for StrictBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request<Body_>, state: &S) -> Result<Self, Self::Rejection> {
        let StrictJsonBody(value) = StrictJsonBody::from_request(req, state).await?;
        typed_body(value).map(StrictBody)
    }
}

/// A body checked as `T`; no body is `{}`, as config-schema defaults an object.
fn typed_body<T: contract::Request>(value: Value) -> Result<T, ApiError> {
    let value = match value {
        Value::Null => Value::Object(Default::default()),
        v => v,
    };
    contract::parse("request body", value).map_err(ApiError::bad_request)
}
