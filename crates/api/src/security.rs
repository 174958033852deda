//! The Elasticsearch-compatible API key endpoints (`/_security/api_key`), so scripts that make
//! keys against Elasticsearch can make them against Flotilla.

use axum::extract::State;
use axum::routing::get;
use axum::{Extension, Json, Router};
use fleet::auth::{ApiKeyAction, ApiKeySelection, Principal};
use fleet::validate::{check_body, opt, req, Field, Ty, STR};
use serde_json::{json, Value};

use crate::error::{ApiError, ApiResult};
use crate::extract::QueryParams;
use crate::extract::StrictJsonBody;
use crate::AppState;

static CREATE: &[Field] = &[
    req("name", STR),
    opt("expiration", STR),
    opt("role_descriptors", Ty::Map),
    opt("metadata", Ty::Map),
];
static INVALIDATE: &[Field] = &[
    opt("ids", Ty::Array(&STR)),
    opt("id", STR),
    opt("name", STR),
    opt("owner", Ty::Bool),
    opt("username", STR),
    opt("realm_name", STR),
];

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/_security/api_key",
            get(list).post(create).put(create).delete(invalidate),
        )
        .route("/_security/_authenticate", get(authenticate))
}

async fn create(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    StrictJsonBody(body): StrictJsonBody,
) -> ApiResult<Json<Value>> {
    check_body("request body", &body, CREATE)?;
    // Like Elasticsearch without role descriptors: the key gets its owner's privileges.
    let key = s
        .fleet
        .auth
        .create_api_key(
            &who.username,
            body["name"].as_str().unwrap_or_default(),
            who.role,
            body["expiration"].as_str(),
        )
        .await?;
    Ok(Json(serde_json::to_value(key).expect("API keys serialize")))
}

/// Query parameters of `GET /_security/api_key` (Elasticsearch's).
const LIST_QUERY: &[&str] = &[
    "owner",
    "id",
    "name",
    "username",
    "realm_name",
    "active_only",
];

async fn list(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    q: QueryParams,
) -> ApiResult<Json<Value>> {
    q.allow(LIST_QUERY)?;
    let selection = ApiKeySelection {
        owner: q.bool("owner")?.unwrap_or(false),
        ids: q.get("id").map(str::to_string).into_iter().collect(),
        name: q.get("name"),
        username: q.get("username"),
        active_only: q.bool("active_only")?.unwrap_or(false),
    };
    let keys: Vec<Value> = s
        .fleet
        .auth
        .select_api_keys(&who, &selection, ApiKeyAction::Get)
        .await?
        .into_iter()
        // Web UI sessions are keys underneath, not keys anyone made.
        .filter(|k| k.name != fleet::auth::SESSION_KEY_NAME)
        .map(|k| {
            let millis = |t: &str| {
                chrono::DateTime::parse_from_rfc3339(t)
                    .map(|d| d.timestamp_millis())
                    .unwrap_or_default()
            };
            let mut v = json!({
                "id": k.id,
                "name": k.name,
                "creation": millis(&k.created_at),
                "invalidated": k.invalidated,
                "username": k.owner,
                "realm": "flotilla",
                "role": k.role,
            });
            if let Some(exp) = &k.expiration {
                v["expiration"] = json!(millis(exp));
            }
            v
        })
        .collect();
    Ok(Json(json!({ "api_keys": keys })))
}

async fn invalidate(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    StrictJsonBody(body): StrictJsonBody,
) -> ApiResult<Json<Value>> {
    check_body("request body", &body, INVALIDATE)?;
    let mut selection = ApiKeySelection {
        owner: body["owner"].as_bool().unwrap_or(false),
        ids: fleet::validate::string_array(&body["ids"]),
        name: body["name"].as_str(),
        username: body["username"].as_str(),
        active_only: false,
    };
    if let Some(id) = body["id"].as_str() {
        selection.ids.push(id.to_string());
    }
    if selection.ids.is_empty()
        && selection.name.is_none()
        && selection.username.is_none()
        && !selection.owner
    {
        return Err(ApiError::bad_request(
            "One of [api key id, api key name, username, realm name] must be specified",
        ));
    }
    let selected: Vec<String> = s
        .fleet
        .auth
        .select_api_keys(&who, &selection, ApiKeyAction::Invalidate)
        .await?
        .into_iter()
        .map(|k| k.id)
        .collect();
    let (done, previous) = s.fleet.auth.invalidate_api_keys(&selected).await?;
    Ok(Json(json!({
        "invalidated_api_keys": done,
        "previously_invalidated_api_keys": previous,
        "error_count": 0,
    })))
}

async fn authenticate(Extension(who): Extension<Principal>) -> Json<Value> {
    Json(json!({
        "username": who.username,
        "roles": [who.role.as_str()],
        "authentication_type": if who.api_key_id.is_some() { "api_key" } else { "realm" },
        "api_key": who.api_key_id.map(|id| json!({ "id": id })),
    }))
}
