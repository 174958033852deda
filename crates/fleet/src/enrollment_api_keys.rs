//! Enrollment API keys: the tokens agents enroll with. Every agent policy gets a default one
//! when it is created. The full `/api/fleet/enrollment_api_keys` API arrives with agents.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::json;
use store::{ApiKey, Filter, Kind, Scalar, Tx};

use crate::auth::{hash_secret, random_token};
use crate::error::Result;
use crate::time::now;

/// The role stored on an enrollment token's key: it authorizes enrollment and nothing else.
pub const ENROLLMENT_ROLE: &str = "enrollment";

/// Creates the `Default (<uuid>)` enrollment key of a new agent policy inside `tx`.
pub async fn create_default(tx: &mut dyn Tx, policy_id: &str) -> Result<()> {
    create(tx, policy_id, "Default").await
}

/// Creates an enrollment key named `<name> (<uuid>)`, as Kibana names them.
pub async fn create(tx: &mut dyn Tx, policy_id: &str, name: &str) -> Result<()> {
    let id = uuid::Uuid::new_v4().to_string();
    let api_key_id = random_token(20);
    let secret = random_token(22);
    // The secret is stored hashed for authentication. Kibana shows the whole token back in the
    // enrollment key list, so the token itself is kept with the document as Kibana keeps it.
    let token = B64.encode(format!("{api_key_id}:{secret}"));
    let created_at = now();
    tx.insert_api_key(&ApiKey {
        id: api_key_id.clone(),
        name: format!("{name} ({id})"),
        key_hash: hash_secret(&secret),
        role: ENROLLMENT_ROLE.into(),
        owner: "fleet".into(),
        created_at: created_at.clone(),
        expiration: None,
        invalidated: false,
    })
    .await?;
    tx.insert(
        Kind::EnrollmentApiKey,
        &id,
        &json!({
            "active": true,
            "api_key_id": api_key_id,
            "api_key": token,
            "name": format!("{name} ({id})"),
            "policy_id": policy_id,
            "created_at": created_at,
        }),
    )
    .await?;
    Ok(())
}

/// Deletes every enrollment key of a policy and revokes the keys behind them.
pub async fn delete_for_policy(tx: &mut dyn Tx, policy_id: &str) -> Result<()> {
    let filter = Filter::Eq(store::doc_field("policy_id"), Scalar::Str(policy_id.into()));
    let keys = tx
        .find(
            Kind::EnrollmentApiKey,
            &store::Query {
                filter: filter.clone(),
                ..Default::default()
            },
        )
        .await?;
    let ids: Vec<String> = keys
        .iter()
        .filter_map(|k| {
            k.body
                .get("api_key_id")
                .and_then(|v| v.as_str())
                .map(String::from)
        })
        .collect();
    tx.invalidate_api_keys(&ids).await?;
    tx.delete_where(Kind::EnrollmentApiKey, &filter).await?;
    Ok(())
}

/// How many enrollment keys a policy has (for tests and the policy views).
pub async fn count_for_policy(tx: &mut dyn Tx, policy_id: &str) -> Result<u64> {
    Ok(tx
        .count(
            Kind::EnrollmentApiKey,
            &Filter::Eq(store::doc_field("policy_id"), Scalar::Str(policy_id.into())),
        )
        .await?)
}
