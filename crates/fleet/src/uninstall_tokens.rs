//! Uninstall tokens (`/api/fleet/uninstall_tokens`): one per agent policy, made with the policy
//! (and at start-up for older policies). A protected policy's agents refuse to uninstall without
//! it; the full policy carries its SHA-256 (`agent.protection.uninstall_token_hash`). The token
//! is shown back by the API as Kibana shows it, so it is stored retrievably.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use rand::RngCore;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use store::{Filter, Kind, Mode, Scalar, Tx};

use crate::error::{FleetError, Result};
use crate::time::now;
use crate::Fleet;

/// What agents compare the token they are given against.
pub fn token_hash(token: &str) -> String {
    B64.encode(Sha256::digest(token.as_bytes()))
}

/// Gives `policy_id` a new uninstall token inside the caller's transaction.
pub(crate) async fn create_token(tx: &mut dyn Tx, policy_id: &str) -> Result<Value> {
    let mut raw = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut raw);
    let token: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    let doc = json!({
        "policy_id": policy_id,
        "token": token,
        "token_hash": token_hash(&token),
        "created_at": now(),
        "namespaces": ["default"],
    });
    tx.insert(
        Kind::UninstallToken,
        &uuid::Uuid::new_v4().to_string(),
        &doc,
    )
    .await?;
    Ok(doc)
}

/// The newest token of a policy.
pub(crate) async fn latest_token(tx: &mut dyn Tx, policy_id: &str) -> Result<Option<store::Doc>> {
    let tokens = tx
        .find(
            Kind::UninstallToken,
            &store::Query {
                filter: Filter::Eq(store::doc_field("policy_id"), Scalar::Str(policy_id.into())),
                ..Default::default()
            },
        )
        .await?;
    Ok(tokens.into_iter().max_by(|a, b| {
        a.body["created_at"]
            .as_str()
            .cmp(&b.body["created_at"].as_str())
    }))
}

impl Fleet {
    /// Makes a token for every policy that has none (Kibana does this at setup).
    pub async fn ensure_uninstall_tokens(&self) -> Result<()> {
        let mut tx = self.store.begin(Mode::Write).await?;
        let policies = tx.find(Kind::AgentPolicy, &store::Query::default()).await?;
        for p in policies {
            if latest_token(tx.as_mut(), &p.id).await?.is_none() {
                create_token(tx.as_mut(), &p.id).await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// `GET /uninstall_tokens`: the newest token of each policy (without the token itself),
    /// newest first; `policyId` and `search` match policy ids and names by substring.
    pub async fn list_uninstall_tokens(
        &self,
        policy_id: Option<&str>,
        search: Option<&str>,
        page: u64,
        per_page: u64,
    ) -> Result<Value> {
        let mut tx = self.store.begin(Mode::Read).await?;
        // A token belongs to the space of its policy.
        let in_space = store::Query {
            filter: crate::space::filter("space_ids"),
            ..Default::default()
        };
        let policies = tx.find(Kind::AgentPolicy, &in_space).await?;
        let mut items = Vec::new();
        for p in &policies {
            let name = p.body["name"].as_str().unwrap_or_default();
            let matches = |needle: Option<&str>, hay: &[&str]| {
                needle.is_none_or(|n| {
                    hay.iter()
                        .any(|h| h.to_lowercase().contains(&n.to_lowercase()))
                })
            };
            if !matches(policy_id, &[&p.id]) || !matches(search, &[&p.id, name]) {
                continue;
            }
            if let Some(t) = latest_token(tx.as_mut(), &p.id).await? {
                items.push(json!({
                    "id": t.id,
                    "policy_id": p.id,
                    "policy_name": name,
                    "created_at": t.body["created_at"],
                    "namespaces": t.body["namespaces"],
                }));
            }
        }
        items.sort_by(|a, b| b["created_at"].as_str().cmp(&a["created_at"].as_str()));
        let total = items.len();
        let items: Vec<Value> = items
            .into_iter()
            .skip(((page.max(1) - 1) * per_page) as usize)
            .take(per_page as usize)
            .collect();
        Ok(json!({ "items": items, "total": total, "page": page, "perPage": per_page }))
    }

    /// `GET /uninstall_tokens/{id}`: with the token.
    pub async fn get_uninstall_token(&self, id: &str) -> Result<Value> {
        let not_found = || FleetError::NotFound(format!("Uninstall Token not found with id {id}"));
        let mut tx = self.store.begin(Mode::Read).await?;
        let t = tx
            .get(Kind::UninstallToken, id)
            .await?
            .ok_or_else(not_found)?;
        let policy_id = t.body["policy_id"].as_str().unwrap_or_default();
        let policy = tx.get(Kind::AgentPolicy, policy_id).await?;
        // A token belongs to the space of its policy (a deleted policy's, to the default space):
        // from another space it does not exist.
        let visible = match &policy {
            Some(p) => crate::space::visible(&p.body, "space_ids"),
            None => crate::space::current() == crate::space::DEFAULT_SPACE,
        };
        if !visible {
            return Err(not_found());
        }
        let name = policy
            .map(|p| p.body["name"].clone())
            .unwrap_or(Value::Null);
        Ok(json!({ "item": {
            "id": t.id,
            "policy_id": policy_id,
            "policy_name": name,
            "token": t.body["token"],
            "created_at": t.body["created_at"],
            "namespaces": t.body["namespaces"],
        } }))
    }
}
