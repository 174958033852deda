//! What every management request passes before its handler, in Kibana's order: authentication
//! (401), the `kbn-xsrf` header (400), privileges (403), the API version (400).

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use fleet::auth::Principal;

use crate::error::ApiError;
use crate::AppState;

pub const API_VERSION: &str = "2023-10-31";

fn is_read(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn check_version(req: &Request) -> Result<(), ApiError> {
    let Some(v) = req.headers().get("elastic-api-version") else {
        return Ok(());
    };
    let v = v.to_str().unwrap_or("");
    if v == API_VERSION {
        return Ok(());
    }
    let well_formed = v.len() == 10
        && v.chars().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                c == '-'
            } else {
                c.is_ascii_digit()
            }
        });
    Err(ApiError::bad_request(if well_formed {
        format!(
            "No version \"{v}\" available for [{}] [{}]. Available versions are: [\"{API_VERSION}\"]",
            req.method().as_str().to_lowercase(),
            req.uri().path()
        )
    } else {
        format!("Invalid version. Received \"{v}\", expected a valid date string formatted as YYYY-MM-DD.")
    }))
}

pub async fn management(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let is_api = path.starts_with("/api/");
    let header = req
        .headers()
        .get("authorization")
        .and_then(|h| h.to_str().ok())
        .map(str::to_string);
    // Without an Authorization header, the web UI's session cookie stands for its API key.
    let session = header
        .is_none()
        .then(|| ui::session_cookie(req.headers()))
        .flatten();
    let auth = header.or_else(|| session.as_ref().map(|s| format!("ApiKey {s}")));
    let principal: Principal = match state.fleet.auth.authenticate(auth.as_deref()).await {
        Ok(p) => p,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let read = is_read(req.method());
    // A browser sends cookies with any request, so every write on a session needs the header
    // a cross-site form cannot add (Kibana's CSRF protection).
    if (is_api || session.is_some()) && !read && !req.headers().contains_key("kbn-xsrf") {
        return ApiError::bad_request("Request must contain a kbn-xsrf header.").into_response();
    }
    // The declared table decides (see `authz`); a route missing from it is refused to all.
    let matched = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_default();
    let Some(needs) = crate::authz::lookup(req.method().as_str(), &matched) else {
        let allowed = crate::authz::methods(&matched);
        if !allowed.is_empty() {
            // The path is served, not with this method.
            let mut res = axum::http::StatusCode::METHOD_NOT_ALLOWED.into_response();
            if let Ok(allow) = HeaderValue::from_str(&allowed.join(",")) {
                res.headers_mut().insert(axum::http::header::ALLOW, allow);
            }
            return res;
        }
        tracing::error!(method = %req.method(), route = %matched, "route has no declared privileges; refused");
        return forbidden(&req, &path, "a privilege no role has");
    };
    if !needs.allows(&principal) {
        return forbidden(&req, &path, &needs.names());
    }
    if is_api {
        if let Err(e) = check_version(&req) {
            return e.into_response();
        }
    }
    req.extensions_mut().insert(principal);
    let space = req
        .extensions()
        .get::<Space>()
        .map(|s| s.0.clone())
        .unwrap_or_else(|| fleet::space::DEFAULT_SPACE.to_string());
    if let Err(e) = fleet::space::validate(&space) {
        return ApiError::from(e).into_response();
    }
    let mut res = fleet::space::scope(space, next.run(req)).await;
    if is_api {
        res.headers_mut()
            .insert("elastic-api-version", HeaderValue::from_static(API_VERSION));
    }
    res
}

/// Kibana's 403 for a route the caller's privileges do not reach.
fn forbidden(req: &Request, path: &str, privileges: &str) -> Response {
    ApiError::new(
        axum::http::StatusCode::FORBIDDEN,
        format!(
            "API [{} {path}] is unauthorized for user, this action is granted by the Kibana privileges [{privileges}]",
            req.method()
        ),
    )
    .into_response()
}

/// The Kibana space a request addressed (`/s/{space}/...`).
#[derive(Debug, Clone)]
pub struct Space(pub String);

/// Takes `/s/{space}` off the path, keeping the space in the request's extensions.
pub fn space_prefix(mut req: Request) -> Request {
    let Some(rest) = req.uri().path().strip_prefix("/s/") else {
        return req;
    };
    let Some((space, tail)) = rest.split_once('/') else {
        return req;
    };
    let space = space.to_string();
    let path_and_query = match req.uri().query() {
        Some(q) => format!("/{tail}?{q}"),
        None => format!("/{tail}"),
    };
    if let Ok(uri) = path_and_query.parse() {
        *req.uri_mut() = uri;
        req.extensions_mut().insert(Space(space));
    }
    req
}
