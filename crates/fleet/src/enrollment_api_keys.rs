//! Enrollment API keys: the tokens agents enroll with (`/api/fleet/enrollment_api_keys`).
//! Every agent policy gets a default one when it is created.
//!
//! A key is a document (what the API shows, token included, as Kibana shows it) plus an API
//! key row holding only the hash of the secret, which is what enrollment authenticates against.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use kuery::{field, FieldType as F, Schema};
use serde_json::{json, Map, Value};
use store::{ApiKey, Doc, Filter, Kind, Mode, Query, Scalar, SortOrder, Tx};

use crate::auth::{hash_secret, parse_duration_ms, random_token};
use crate::error::{FleetError, Result};
use crate::query::{filter, page_window};
use crate::time::now;
use crate::Fleet;
use contract::{Request, Violation};
use schemars::JsonSchema;
use serde::Deserialize;

pub use crate::auth::ENROLLMENT_ROLE;

/// Fields a `kuery` may name on enrollment API keys.
pub static KUERY: Schema = Schema {
    prefix: "fleet-enrollment-api-keys",
    fields: &[
        field("name", F::Keyword),
        field("policy_id", F::Keyword),
        field("active", F::Boolean),
        field("api_key_id", F::Keyword),
        field("created_at", F::Date),
        field("expire_at", F::Date),
        field("hidden", F::Boolean),
    ],
};

/// `GET /api/fleet/enrollment_api_keys`: Kibana's query schema.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ListEnrollmentApiKeysQuery {
    pub page: Option<f64>,
    pub per_page: Option<f64>,
    pub kuery: Option<String>,
}

impl Request for ListEnrollmentApiKeysQuery {}

/// `POST /api/fleet/enrollment_api_keys`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEnrollmentApiKey {
    pub policy_id: String,
    pub name: Option<String>,
    /// An Elasticsearch duration (`30d`).
    pub expiration: Option<String>,
}

impl Request for NewEnrollmentApiKey {}

/// `DELETE /api/fleet/enrollment_api_keys/{id}`: Kibana's query schema.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DeleteEnrollmentApiKeyQuery {
    /// Remove the key, not only revoke it.
    pub force_delete: Option<bool>,
    pub include_hidden: Option<bool>,
}

impl Request for DeleteEnrollmentApiKeyQuery {}

/// `POST /api/fleet/enrollment_api_keys/_bulk_delete`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BulkDeleteEnrollmentApiKeys {
    pub token_ids: Option<Vec<String>>,
    pub kuery: Option<String>,
    pub force_delete: Option<bool>,
}

impl Request for BulkDeleteEnrollmentApiKeys {
    fn check(&self) -> std::result::Result<(), Violation> {
        if self.token_ids.as_ref().is_none_or(Vec::is_empty) && self.kuery.is_none() {
            return Err(Violation::at(
                "",
                "Either tokenIds or kuery must be provided",
            ));
        }
        Ok(())
    }
}

fn to_item(doc: &Doc) -> Value {
    let mut item = Map::new();
    item.insert("id".into(), json!(doc.id));
    if let Value::Object(attrs) = &doc.body {
        for (k, v) in attrs {
            item.insert(k.clone(), v.clone());
        }
    }
    Value::Object(item)
}

fn not_found(id: &str) -> FleetError {
    FleetError::NotFound(format!("EnrollmentAPIKey {id} not found"))
}

/// Creates the `Default (<uuid>)` enrollment key of a new agent policy inside `tx`.
pub async fn create_default(tx: &mut dyn Tx, policy_id: &str) -> Result<()> {
    create(tx, policy_id, Some("Default"), None)
        .await
        .map(|_| ())
}

/// Creates an enrollment key named `<name> (<uuid>)` (or just `<uuid>`), as Kibana names them.
pub async fn create(
    tx: &mut dyn Tx,
    policy_id: &str,
    name: Option<&str>,
    expire_at: Option<String>,
) -> Result<Doc> {
    let id = uuid::Uuid::new_v4().to_string();
    let api_key_id = random_token(20);
    let secret = random_token(22);
    let token = B64.encode(format!("{api_key_id}:{secret}"));
    let created_at = now();
    let name = match name {
        Some(n) => format!("{n} ({id})"),
        None => id.clone(),
    };
    tx.insert_api_key(&ApiKey {
        id: api_key_id.clone(),
        name: name.clone(),
        key_hash: hash_secret(&secret),
        role: ENROLLMENT_ROLE.into(),
        owner: "fleet".into(),
        created_at: created_at.clone(),
        expiration: expire_at.clone(),
        invalidated: false,
    })
    .await?;
    let mut body = json!({
        "active": true,
        "api_key_id": api_key_id,
        "api_key": token,
        "name": name,
        "policy_id": policy_id,
        "created_at": created_at,
    });
    if let Some(e) = expire_at {
        body["expire_at"] = json!(e);
    }
    Ok(tx.insert(Kind::EnrollmentApiKey, &id, &body).await?)
}

/// Revokes (or with `force`, deletes) one key inside `tx`.
async fn revoke(tx: &mut dyn Tx, doc: &Doc, force: bool) -> Result<()> {
    if let Some(key_id) = doc.body["api_key_id"].as_str() {
        tx.invalidate_api_keys(&[key_id.to_string()]).await?;
    }
    if force {
        tx.delete(Kind::EnrollmentApiKey, &doc.id).await?;
    } else {
        let mut body = doc.body.clone();
        body["active"] = json!(false);
        tx.update(Kind::EnrollmentApiKey, &doc.id, Some(doc.version), &body)
            .await?;
    }
    Ok(())
}

/// Deletes every enrollment key of a policy and revokes the keys behind them.
pub async fn delete_for_policy(tx: &mut dyn Tx, policy_id: &str) -> Result<()> {
    let filter = Filter::Eq(store::doc_field("policy_id"), Scalar::Str(policy_id.into()));
    let keys = tx
        .find(
            Kind::EnrollmentApiKey,
            &Query {
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

/// How many enrollment keys a policy has.
pub async fn count_for_policy(tx: &mut dyn Tx, policy_id: &str) -> Result<u64> {
    Ok(tx
        .count(
            Kind::EnrollmentApiKey,
            &Filter::Eq(store::doc_field("policy_id"), Scalar::Str(policy_id.into())),
        )
        .await?)
}

impl Fleet {
    pub async fn list_enrollment_api_keys(&self, p: &ListEnrollmentApiKeysQuery) -> Result<Value> {
        let (page, per_page) = page_window(p.page, p.per_page, 20)?;
        // Hidden keys (Fleet Server's own) are not listed, as in Kibana.
        let not_hidden = Filter::Not(Box::new(Filter::Eq(
            store::doc_field("hidden"),
            Scalar::Bool(true),
        )));
        let mut tx = self.store.begin(Mode::Read).await?;
        // Keys belong to their agent policy's space.
        let hidden = crate::space::hidden_policy_ids(tx.as_mut()).await?;
        let filter = Filter::And(vec![
            filter(&KUERY, p.kuery.as_deref())?,
            not_hidden,
            crate::space::exclude_policies(store::doc_field("policy_id"), &hidden),
        ]);
        let total = tx.count(Kind::EnrollmentApiKey, &filter).await?;
        let docs = tx
            .find(
                Kind::EnrollmentApiKey,
                &Query {
                    filter,
                    sort: vec![("created_at".into(), SortOrder::Desc)],
                    offset: (page - 1) * per_page,
                    limit: Some(per_page),
                    search_after: None,
                },
            )
            .await?;
        let items: Vec<Value> = docs.iter().map(to_item).collect();
        Ok(
            json!({ "list": items, "items": items, "total": total, "page": page, "perPage": per_page }),
        )
    }

    pub async fn get_enrollment_api_key(&self, id: &str) -> Result<Value> {
        let mut tx = self.store.begin(Mode::Read).await?;
        let hidden = crate::space::hidden_policy_ids(tx.as_mut()).await?;
        let doc = tx
            .get(Kind::EnrollmentApiKey, id)
            .await?
            .filter(|d| crate::space::on_visible_policy(&hidden, &d.body))
            .ok_or_else(|| not_found(id))?;
        Ok(to_item(&doc))
    }

    pub async fn create_enrollment_api_key(&self, body: &NewEnrollmentApiKey) -> Result<Value> {
        let policy_id = body.policy_id.as_str();
        let name = body.name.as_deref().filter(|n| !n.is_empty());
        let expire_at = match body.expiration.as_deref() {
            None => None,
            Some(e) => {
                let ms = parse_duration_ms(e).ok_or_else(|| crate::auth::bad_expiration(e))?;
                Some(
                    crate::time::rfc3339_from_now_ms(ms)
                        .ok_or_else(|| crate::auth::expiration_too_far(e))?,
                )
            }
        };
        let mut tx = self.store.begin(Mode::Write).await?;
        let policy = tx
            .get(Kind::AgentPolicy, policy_id)
            .await?
            .filter(|d| crate::space::visible(&d.body, "space_ids"));
        if policy.is_none() {
            return Err(FleetError::NotFound(format!(
                "Agent policy \"{policy_id}\" not found"
            )));
        }
        if let Some(name) = name {
            tx.lock_kind(Kind::EnrollmentApiKey).await?;
            let existing = tx
                .find(
                    Kind::EnrollmentApiKey,
                    &Query {
                        filter: Filter::Eq(
                            store::doc_field("policy_id"),
                            Scalar::Str(policy_id.into()),
                        ),
                        ..Default::default()
                    },
                )
                .await?;
            // Same rule as Kibana: a key "<name> (<uuid>)" already on this policy.
            let taken = existing.iter().any(|k| {
                k.body["name"]
                    .as_str()
                    .and_then(|n| n.strip_prefix(name))
                    .is_some_and(|rest| {
                        let rest = rest.trim();
                        rest.starts_with('(')
                            && rest.ends_with(')')
                            && uuid::Uuid::parse_str(&rest[1..rest.len() - 1]).is_ok()
                    })
            });
            if taken {
                return Err(FleetError::Conflict(format!(
                    "An enrollment key named {name} already exists for agent policy {policy_id}"
                )));
            }
        }
        let doc = create(tx.as_mut(), policy_id, name, expire_at).await?;
        tx.commit().await?;
        Ok(json!({ "item": to_item(&doc), "action": "created" }))
    }

    /// `DELETE /enrollment_api_keys/{id}`: revokes the key (and with `forceDelete`, removes it).
    pub async fn delete_enrollment_api_key(&self, id: &str, force: bool) -> Result<Value> {
        let mut tx = self.store.begin(Mode::Write).await?;
        let hidden = crate::space::hidden_policy_ids(tx.as_mut()).await?;
        let doc = tx
            .get(Kind::EnrollmentApiKey, id)
            .await?
            .filter(|d| crate::space::on_visible_policy(&hidden, &d.body))
            .ok_or_else(|| not_found(id))?;
        revoke(tx.as_mut(), &doc, force).await?;
        tx.commit().await?;
        Ok(json!({ "action": "deleted" }))
    }

    pub async fn bulk_delete_enrollment_api_keys(
        &self,
        body: &BulkDeleteEnrollmentApiKeys,
    ) -> Result<Value> {
        let force = body.force_delete.unwrap_or(false);
        let ids = body.token_ids.clone().unwrap_or_default();
        let kuery = body.kuery.as_deref();
        let mut tx = self.store.begin(Mode::Write).await?;
        // Only keys of the request's space: another space's key counts as not found.
        let hidden = crate::space::hidden_policy_ids(tx.as_mut()).await?;
        let docs = if !ids.is_empty() {
            tx.get_many(Kind::EnrollmentApiKey, &ids)
                .await?
                .into_iter()
                .filter(|d| crate::space::on_visible_policy(&hidden, &d.body))
                .collect()
        } else {
            tx.find(
                Kind::EnrollmentApiKey,
                &Query {
                    filter: Filter::And(vec![
                        filter(&KUERY, kuery)?,
                        crate::space::exclude_policies(store::doc_field("policy_id"), &hidden),
                    ]),
                    ..Default::default()
                },
            )
            .await?
        };
        let requested = if ids.is_empty() {
            docs.len()
        } else {
            ids.len()
        };
        for doc in &docs {
            revoke(tx.as_mut(), doc, force).await?;
        }
        tx.commit().await?;
        Ok(json!({
            "action": "deleted",
            "count": requested,
            "successCount": docs.len(),
            "errorCount": requested - docs.len(),
        }))
    }

    /// Checks an enrollment token (`Authorization: ApiKey <token>` on enroll) and returns its
    /// enrollment key document, which must be active and unexpired.
    pub async fn authenticate_enrollment(&self, tx: &mut dyn Tx, token: &str) -> Result<Doc> {
        let bad = || FleetError::Unauthorized("ApiKey not enabled".into());
        let decoded = B64.decode(token.trim()).map_err(|_| bad())?;
        let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
        let (key_id, secret) = decoded.split_once(':').ok_or_else(bad)?;
        let key = tx.get_api_key(key_id).await?.ok_or_else(bad)?;
        let hash_ok =
            subtle::ConstantTimeEq::ct_eq(hash_secret(secret).as_bytes(), key.key_hash.as_bytes());
        if !bool::from(hash_ok) || key.invalidated || key.role != ENROLLMENT_ROLE {
            return Err(bad());
        }
        if key
            .expiration
            .as_deref()
            .is_some_and(|e| e <= now().as_str())
        {
            return Err(bad());
        }
        let docs = tx
            .find(
                Kind::EnrollmentApiKey,
                &Query {
                    filter: Filter::Eq(store::doc_field("api_key_id"), Scalar::Str(key_id.into())),
                    limit: Some(1),
                    ..Default::default()
                },
            )
            .await?;
        let doc = docs.into_iter().next().ok_or_else(bad)?;
        if doc.body["active"] != json!(true) {
            return Err(bad());
        }
        Ok(doc)
    }
}

/// The token (`api_key`) of the policy's oldest active enrollment key, if it has one.
pub(crate) async fn active_key_for_policy(
    tx: &mut dyn Tx,
    policy_id: &str,
) -> Result<Option<String>> {
    let keys = tx
        .find(
            Kind::EnrollmentApiKey,
            &Query {
                filter: Filter::And(vec![
                    Filter::Eq(store::doc_field("policy_id"), Scalar::Str(policy_id.into())),
                    Filter::Eq(store::doc_field("active"), Scalar::Bool(true)),
                ]),
                sort: vec![("created_at".into(), SortOrder::Asc)],
                ..Default::default()
            },
        )
        .await?;
    Ok(keys
        .first()
        .and_then(|k| k.body["api_key"].as_str().map(str::to_string)))
}
