//! The Elasticsearch-compatible API key endpoints (`/_security/api_key`), so scripts that make
//! keys against Elasticsearch can make them against Flotilla.

use axum::extract::State;
use axum::routing::get;
use axum::{Extension, Json, Router};
use fleet::auth::Principal;
use fleet::validate::{check_body, opt, req, Field, Ty, STR};
use serde_json::{json, Value};

use crate::error::ApiResult;
use crate::extract::JsonBody;
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
    JsonBody(body): JsonBody,
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

async fn list(State(s): State<AppState>) -> ApiResult<Json<Value>> {
    let keys: Vec<Value> = s
        .fleet
        .auth
        .list_api_keys()
        .await?
        .into_iter()
        .filter(|k| k.role != fleet::enrollment_api_keys::ENROLLMENT_ROLE)
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

async fn invalidate(State(s): State<AppState>, JsonBody(body): JsonBody) -> ApiResult<Json<Value>> {
    check_body("request body", &body, INVALIDATE)?;
    let mut ids = fleet::validate::string_array(&body["ids"]);
    if let Some(id) = body["id"].as_str() {
        ids.push(id.to_string());
    }
    let (done, previous) = s.fleet.auth.invalidate_api_keys(&ids).await?;
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
