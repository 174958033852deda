//! Web UI sessions, at Kibana's endpoints: `POST /internal/security/login` (the login form's
//! request: `{providerType, providerName, currentURL, params: {username, password}}`),
//! `GET /api/security/logout`, and `GET /internal/security/me` (who is signed in). A session is
//! an API key in a cookie (see `fleet::auth::AuthService::login`).

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use fleet::auth::{LoginRequest, Principal};
use serde_json::{json, Value};

use crate::error::{ApiError, ApiResult};
use crate::extract::Body;
use crate::AppState;

/// Routes that need no session (login, logout).
pub fn open_routes() -> Router<AppState> {
    Router::new()
        .route("/internal/security/login", post(login))
        .route("/api/security/logout", get(logout))
}

/// Routes behind the gate.
pub fn routes() -> Router<AppState> {
    Router::new().route("/internal/security/me", get(me))
}

/// Whether the browser reached us over TLS (directly or through a proxy that says so): the
/// session cookie is then marked `Secure`.
fn over_tls(h: &HeaderMap, req_scheme: Option<&str>) -> bool {
    req_scheme == Some("https")
        || h.get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

/// Where to go after logging in: the `next` of the login page's URL, if it is a path here.
fn next_location(current_url: Option<&str>) -> String {
    let next = current_url
        .and_then(|u| u.split_once('?'))
        .and_then(|(_, q)| crate::extract::serde_urlencoded_pairs(q).ok())
        .and_then(|mut q| q.remove("next"));
    match next {
        Some(n) if is_local_path(&n) => n,
        _ => "/app/fleet/agents".to_string(),
    }
}

/// Whether `next` can only lead to a path of this server. Browsers drop tabs and newlines from
/// URLs and read `\` as `/`, so `/\t/evil.com` or `/\\evil.com` would reach another site: only
/// a path that starts with a single `/` and holds no control character or backslash is taken.
fn is_local_path(next: &str) -> bool {
    next.starts_with('/')
        && !next.starts_with("//")
        && !next.chars().any(|c| c.is_control() || c == '\\')
}

async fn login(
    State(s): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Body(body): Body<LoginRequest>,
) -> ApiResult<Response> {
    if !headers.contains_key("kbn-xsrf") {
        return Err(ApiError::bad_request(
            "Request must contain a kbn-xsrf header.",
        ));
    }
    let (username, password) = body
        .credentials()
        .expect("the login request's check requires them");
    // Kibana answers a failed login with a bare 401, whatever failed.
    let (_, session) = s
        .fleet
        .auth
        .login(username, password)
        .await
        .map_err(|e| match e {
            // Try again later: not a verdict on the password.
            fleet::FleetError::TooManyRequests(_) | fleet::FleetError::Unavailable(_) => {
                ApiError::from(e)
            }
            _ => ApiError::new(StatusCode::UNAUTHORIZED, "Unauthorized"),
        })?;
    let lifetime_s =
        fleet::auth::parse_duration_ms(fleet::auth::SESSION_LIFETIME).unwrap_or(0) / 1000;
    let cookie = ui::set_session_cookie(
        Some(&session.encoded),
        lifetime_s,
        over_tls(&headers, uri.scheme_str()),
    );
    let location = next_location(body.current_url.as_deref());
    Ok((
        [(header::SET_COOKIE, cookie)],
        Json(json!({ "location": location })),
    )
        .into_response())
}

async fn logout(State(s): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    if let Some(session) = ui::session_cookie(&headers) {
        s.fleet.auth.logout(&session).await?;
    }
    let cookie = ui::set_session_cookie(None, 0, over_tls(&headers, None));
    Ok((
        [(header::SET_COOKIE, cookie)],
        Redirect::to("/login?msg=LOGGED_OUT"),
    )
        .into_response())
}

async fn me(Extension(who): Extension<Principal>) -> Json<Value> {
    let authentication_type = match &who.api_key_id {
        None => "basic",
        Some(_) => "api_key",
    };
    Json(json!({
        "username": who.username,
        "roles": [who.role.as_str()],
        "authentication_type": authentication_type,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_is_a_local_path_only() {
        let at = |next: &str| next_location(Some(&format!("/login?next={next}")));
        assert_eq!(at("%2Fapp%2Ffleet%2Fpolicies"), "/app/fleet/policies");
        for evil in [
            "%2F%09%2Fevil.com",
            "%2F%0A%2Fevil.com",
            "%2F%0D%2Fevil.com",
            "%2F%2Fevil.com",
            "%2F%5Cevil.com",
            "https%3A%2F%2Fevil.com",
            "evil.com",
            "%2F%00",
        ] {
            assert_eq!(at(evil), "/app/fleet/agents", "{evil}");
        }
    }
}
