//! The web UI: Fleet's pages and the Dev Tools console, served by `flotilla serve` on the
//! management port. The pages are static files embedded in the binary (`assets/`): HTML, CSS and
//! JavaScript modules with no build step, which call the same `/api/fleet` endpoints users
//! script against, authenticated by the session cookie that `POST /internal/security/login`
//! sets. Pages live under Kibana's paths (`/app/fleet/agents`, `/app/dev_tools#/console`), so
//! links people share keep working.

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use fleet::Fleet;
use rust_embed::Embed;
use swagger_ui_dist::{ApiDefinition, OpenApiSource};

/// The cookie holding a web UI session (Kibana's name).
pub const SESSION_COOKIE: &str = "sid";

#[derive(Embed)]
#[folder = "assets/"]
struct Assets;

/// The session cookie's value, if the request carries one.
pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == SESSION_COOKIE)
        .map(|c| c.value().to_string())
        .filter(|v| !v.is_empty())
}

/// `Set-Cookie` for a new session (`Some`) or for ending one (`None`). HttpOnly: scripts never
/// see it; SameSite=Strict: other sites' pages cannot send it (writes also need `kbn-xsrf`).
pub fn set_session_cookie(value: Option<&str>, max_age_s: i64, secure: bool) -> HeaderValue {
    let mut c = cookie::Cookie::build((SESSION_COOKIE, value.unwrap_or_default().to_string()))
        .path("/")
        .http_only(true)
        .same_site(cookie::SameSite::Strict)
        .secure(secure)
        .max_age(cookie::time::Duration::seconds(if value.is_some() {
            max_age_s
        } else {
            0
        }))
        .build();
    if value.is_none() {
        c.make_removal();
    }
    HeaderValue::from_str(&c.to_string()).expect("a cookie is a valid header value")
}

/// The page routes and their assets.
pub fn router(fleet: Fleet) -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::to("/app/fleet/agents") }))
        .route("/login", get(login_page))
        .route("/app", get(app_page))
        .route("/app/{*page}", get(app_page))
        .route("/ui/{*file}", get(asset))
        .with_state(fleet)
        .merge(swagger_assets())
}

/// Swagger UI's script and style (from the swagger-ui-dist crate) for the API docs page, which
/// is ours (`/app/api_docs`). The crate's own pages (an index and an OAuth2 redirect, with
/// inline scripts) are not served; its files get the same security headers as ours.
fn swagger_assets() -> Router {
    swagger_ui_dist::generate_routes(ApiDefinition {
        uri_prefix: "/ui/swagger",
        api_definition: OpenApiSource::Uri("/api/oas"),
        title: Some("Flotilla Fleet API"),
    })
    .layer(axum::middleware::from_fn(
        |req: Request, next: axum::middleware::Next| async move {
            let path = req.uri().path();
            let asset = path.ends_with("/swagger-ui-bundle.js")
                || path.ends_with("/swagger-ui.css")
                || path.ends_with(".map");
            if !asset {
                return (StatusCode::NOT_FOUND, "Not Found").into_response();
            }
            let mut res = next.run(req).await;
            secure_headers(res.headers_mut());
            res
        },
    ))
}

async fn login_page() -> Response {
    page("login.html")
}

/// Every `/app/...` path is the one shell; its script draws the page the path names. Without a
/// session the browser goes to the login page first, coming back here after.
async fn app_page(State(fleet): State<Fleet>, req: Request) -> Response {
    let signed_in = match session_cookie(req.headers()) {
        Some(s) => fleet
            .auth
            .authenticate(Some(&format!("ApiKey {s}")))
            .await
            .is_ok(),
        None => false,
    };
    if !signed_in {
        let next = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/app/fleet/agents");
        let next = percent_encoding::utf8_percent_encode(next, percent_encoding::NON_ALPHANUMERIC);
        return Redirect::to(&format!("/login?next={next}")).into_response();
    }
    page("index.html")
}

async fn asset(Path(file): Path<String>) -> Response {
    match Assets::get(&file) {
        Some(content) => {
            let mime = content.metadata.mimetype().to_string();
            let mut res = Response::new(Body::from(content.data.into_owned()));
            let h = res.headers_mut();
            if let Ok(v) = HeaderValue::from_str(&mime) {
                h.insert(header::CONTENT_TYPE, v);
            }
            // Assets change with the binary; a short cache keeps upgrades visible.
            h.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, max-age=300"),
            );
            secure_headers(h);
            res
        }
        None => (StatusCode::NOT_FOUND, "Not Found").into_response(),
    }
}

fn page(name: &str) -> Response {
    let content = Assets::get(name).expect("pages are embedded");
    let mut res = Response::new(Body::from(content.data.into_owned()));
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    secure_headers(h);
    res
}

/// Scripts and styles only from this server, no framing, no sniffing.
fn secure_headers(h: &mut HeaderMap) {
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; object-src 'none'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
}
