//! The Elasticsearch-compatible API key endpoints (`/_security/api_key`), so scripts that make
//! keys against Elasticsearch can make them against Flotilla.

use axum::extract::State;
use axum::routing::get;
use axum::{Extension, Json, Router};
use fleet::auth::{
    ApiKeyAction, CreateApiKeyRequest, InvalidateApiKeysRequest, ListApiKeysQuery, Principal,
};
use serde_json::{json, Value};

use crate::error::ApiResult;
use crate::extract::{Query, StrictBody};
use crate::AppState;

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
    StrictBody(body): StrictBody<CreateApiKeyRequest>,
) -> ApiResult<Json<Value>> {
    // Like Elasticsearch without role descriptors: the key gets its owner's privileges.
    let key = s
        .fleet
        .auth
        .create_api_key(
            &who.username,
            &body.name,
            who.role,
            body.expiration.as_deref(),
        )
        .await?;
    Ok(Json(serde_json::to_value(key).expect("API keys serialize")))
}

async fn list(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Query(q): Query<ListApiKeysQuery>,
) -> ApiResult<Json<Value>> {
    let selection = q.selection();
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
    StrictBody(body): StrictBody<InvalidateApiKeysRequest>,
) -> ApiResult<Json<Value>> {
    let selection = body.selection();
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
