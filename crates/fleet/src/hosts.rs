//! Fleet Server hosts (`/api/fleet/fleet_server_hosts`), agent download sources
//! (`/api/fleet/agent_download_sources`) and proxies (`/api/fleet/proxies`): the settings an
//! agent policy points at besides outputs. One default host and one default download source
//! (created at start-up, neither deletable, setting another default moves the flag);
//! preconfigured objects change only through configuration; deleting an object clears the
//! references to it; and every agent policy that uses a changed object gets a new revision in
//! the same transaction.

use serde_json::{json, Value};
use store::{Filter, Kind, Mode, Scalar, Tx};

use crate::common::to_item;
use crate::error::{FleetError, Result};
use crate::validate::{check_body, opt, req, Field, Ty, BOOL, STR};
use crate::Fleet;

/// Kibana's ids for the objects its setup creates.
pub const DEFAULT_FLEET_SERVER_HOST_ID: &str = "fleet-default-fleet-server-host";
pub const DEFAULT_DOWNLOAD_SOURCE_ID: &str = "fleet-default-download-source";

static STR_LIST: Ty = Ty::Array(&STR);
static NULLABLE_STR: Ty = Ty::Nullable(&STR);
static HOST_SSL: &[Field] = &[
    opt("certificate", STR),
    opt("certificate_authorities", STR_LIST),
    opt("key", STR),
    opt("es_certificate", STR),
    opt("es_certificate_authorities", STR_LIST),
    opt("es_key", STR),
    opt("agent_certificate", STR),
    opt("agent_certificate_authorities", STR_LIST),
    opt("agent_key", STR),
    opt("client_auth", Ty::Enum(&["optional", "required", "none"])),
];
static NULLABLE_HOST_SSL: Ty = Ty::Nullable(&Ty::Object(HOST_SSL));

static FLEET_SERVER_HOST: &[Field] = &[
    opt("id", STR),
    req("name", Ty::Str { min_len: 1 }),
    req("host_urls", STR_LIST),
    opt("is_default", BOOL),
    opt("is_internal", BOOL),
    opt("is_preconfigured", BOOL),
    opt("proxy_id", NULLABLE_STR),
    opt("ssl", NULLABLE_HOST_SSL),
    opt("secrets", Ty::Map),
];
static DOWNLOAD_AUTH: &[Field] = &[
    opt("username", STR),
    opt("password", STR),
    opt("api_key", STR),
    opt("headers", Ty::Array(&Ty::Map)),
];
static DOWNLOAD_SOURCE: &[Field] = &[
    opt("id", STR),
    req("name", Ty::Str { min_len: 1 }),
    req("host", STR),
    opt("is_default", BOOL),
    opt("proxy_id", NULLABLE_STR),
    opt("ssl", NULLABLE_HOST_SSL),
    opt("secrets", Ty::Map),
    opt("auth", Ty::Nullable(&Ty::Object(DOWNLOAD_AUTH))),
];
static PROXY_HEADERS: Ty = Ty::Nullable(&Ty::Map);
static PROXY: &[Field] = &[
    opt("id", STR),
    req("name", Ty::Str { min_len: 1 }),
    req("url", STR),
    opt("certificate", NULLABLE_STR),
    opt("certificate_authorities", NULLABLE_STR),
    opt("certificate_key", NULLABLE_STR),
    opt("is_preconfigured", BOOL),
    opt("proxy_headers", PROXY_HEADERS),
];

/// One kind of settings object and its rules.
/// The objects that may go through a proxy (`proxy_id`).
pub(crate) const PROXY_USERS: &[Kind] =
    &[Kind::Output, Kind::FleetServerHost, Kind::DownloadSource];

pub struct Setting {
    kind: Kind,
    schema: &'static [Field],
    /// The agent policy field that names it (none for proxies).
    policy_field: Option<&'static str>,
    has_default: bool,
    not_found: fn(&str) -> String,
    default_undeletable: fn(&str) -> String,
    preconfigured_undeletable: fn(&str) -> String,
    preconfigured_unchangeable: fn(&str) -> String,
}

pub static FLEET_SERVER_HOSTS: Setting = Setting {
    kind: Kind::FleetServerHost,
    schema: FLEET_SERVER_HOST,
    policy_field: Some("fleet_server_host_id"),
    has_default: true,
    not_found: |id| format!("Fleet server {id} not found"),
    default_undeletable: |id| format!("Default Fleet Server hosts {id} cannot be deleted."),
    preconfigured_undeletable: |id| format!("Cannot delete {id} preconfigured fleet server host"),
    preconfigured_unchangeable: |id| format!("Cannot update {id} preconfigured fleet server host"),
};

pub static DOWNLOAD_SOURCES: Setting = Setting {
    kind: Kind::DownloadSource,
    schema: DOWNLOAD_SOURCE,
    policy_field: Some("download_source_id"),
    has_default: true,
    not_found: |id| format!("Agent binary source {id} not found"),
    default_undeletable: |id| format!("Default Download source {id} cannot be deleted."),
    preconfigured_undeletable: |id| format!("Cannot delete {id} preconfigured download source"),
    preconfigured_unchangeable: |id| format!("Cannot update {id} preconfigured download source"),
};

pub static PROXIES: Setting = Setting {
    kind: Kind::Proxy,
    schema: PROXY,
    policy_field: None,
    has_default: false,
    not_found: |id| format!("Proxy {id} not found"),
    default_undeletable: |id| format!("Proxy {id} cannot be deleted."),
    preconfigured_undeletable: |id| format!("Cannot delete {id} preconfigured proxy"),
    preconfigured_unchangeable: |id| format!("Cannot update {id} preconfigured proxy"),
};

fn bad(m: String) -> FleetError {
    FleetError::BadRequest(m)
}

/// An http(s) URL; Kibana's `normalizeHostsForAgents` adds the scheme's port when missing.
fn check_url(path: &str, url: &str) -> Result<String> {
    let ok = url
        .split_once("://")
        .is_some_and(|(s, rest)| (s == "http" || s == "https") && !rest.is_empty());
    if !ok {
        return Err(bad(format!(
            "[{path}]: expected URI with scheme [http|https]."
        )));
    }
    Ok(url.to_string())
}

impl Setting {
    /// The store kind of these objects.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The agent policies that use object `id` (by name, or by following the default).
    fn users(&self, id: &str, is_default: bool) -> Option<Filter> {
        let field = self.policy_field?;
        let mut any = vec![Filter::Eq(store::doc_field(field), Scalar::Str(id.into()))];
        if is_default {
            any.push(Filter::Not(Box::new(Filter::Exists(store::doc_field(
                field,
            )))));
        }
        Some(Filter::Or(any))
    }

    /// Type-specific checks and normalization of a (merged) body.
    fn normalize(&self, doc: &mut Value) -> Result<()> {
        match self.kind {
            Kind::FleetServerHost => {
                let urls = doc["host_urls"].as_array().cloned().unwrap_or_default();
                if urls.is_empty() {
                    return Err(bad("[request body.host_urls]: array size is [0], but cannot be smaller than [1]".into()));
                }
                let mut out = Vec::new();
                for (i, u) in urls.iter().enumerate() {
                    let u = u.as_str().unwrap_or_default();
                    out.push(crate::common::normalize_host(&check_url(
                        &format!("request body.host_urls.{i}"),
                        u,
                    )?));
                }
                let mut seen = std::collections::HashSet::new();
                if let Some(dup) = out.iter().find(|u| !seen.insert(u.as_str())) {
                    return Err(bad(format!(
                        "Fleet server host urls must be unique, duplicate found: {dup}"
                    )));
                }
                doc["host_urls"] = json!(out);
            }
            Kind::DownloadSource => {
                let host = doc["host"].as_str().unwrap_or_default().to_string();
                check_url("request body.host", &host)?;
            }
            Kind::Proxy => {
                let url = doc["url"].as_str().unwrap_or_default().to_string();
                check_url("request body.url", &url)?;
            }
            _ => {}
        }
        Ok(())
    }
}

impl Fleet {
    /// Creates Kibana's default Fleet Server host (this server's agent listener, or
    /// `--fleet-server-hosts`) and default download source when missing.
    pub async fn ensure_default_hosts(&self) -> Result<()> {
        let mut tx = self.store.begin(Mode::Write).await?;
        for (setting, id, body) in [
            (
                &FLEET_SERVER_HOSTS,
                DEFAULT_FLEET_SERVER_HOST_ID,
                json!({
                    "name": "Default",
                    "host_urls": self.config.fleet_server_hosts.iter().map(|h| crate::common::normalize_host(h)).collect::<Vec<_>>(),
                    "is_default": true,
                    "is_preconfigured": false,
                    "is_internal": false,
                }),
            ),
            (
                &DOWNLOAD_SOURCES,
                DEFAULT_DOWNLOAD_SOURCE_ID,
                json!({
                    "name": "Elastic Artifacts",
                    "host": self.config.download_source_uri,
                    "is_default": true,
                }),
            ),
        ] {
            tx.lock_kind(setting.kind).await?;
            let defaults = tx
                .count(
                    setting.kind,
                    &Filter::Eq(store::doc_field("is_default"), Scalar::Bool(true)),
                )
                .await?;
            if defaults == 0 && tx.get(setting.kind, id).await?.is_none() {
                if setting.kind == Kind::FleetServerHost
                    && body["host_urls"].as_array().is_none_or(Vec::is_empty)
                {
                    continue;
                }
                tx.insert(setting.kind, id, &body).await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn list_settings(&self, s: &Setting) -> Result<Value> {
        let mut tx = self.store.begin(Mode::Read).await?;
        let mut docs = tx.find(s.kind, &store::Query::default()).await?;
        docs.sort_by_key(|d| (d.body["is_default"] != json!(true), d.id.clone()));
        let items: Vec<Value> = docs.iter().map(to_item).collect();
        Ok(json!({ "items": items, "total": items.len(), "page": 1, "perPage": 10000 }))
    }

    pub async fn get_setting(&self, s: &Setting, id: &str) -> Result<Value> {
        let mut tx = self.store.begin(Mode::Read).await?;
        let doc = tx
            .get(s.kind, id)
            .await?
            .ok_or_else(|| FleetError::NotFound((s.not_found)(id)))?;
        Ok(json!({ "item": to_item(&doc) }))
    }

    async fn check_proxy(tx: &mut dyn Tx, doc: &Value) -> Result<()> {
        if let Some(p) = doc["proxy_id"].as_str() {
            if tx.get(Kind::Proxy, p).await?.is_none() {
                return Err(bad(format!("Proxy {p} not found")));
            }
        }
        Ok(())
    }

    /// Clears `is_default` on the others when `doc` takes it.
    async fn take_default(tx: &mut dyn Tx, s: &Setting, id: &str, doc: &Value) -> Result<()> {
        if !s.has_default || doc["is_default"] != json!(true) {
            return Ok(());
        }
        let holders = tx
            .find(
                s.kind,
                &store::Query {
                    filter: Filter::Eq(store::doc_field("is_default"), Scalar::Bool(true)),
                    ..Default::default()
                },
            )
            .await?;
        for h in holders.into_iter().filter(|h| h.id != id) {
            let mut body = h.body.clone();
            body["is_default"] = json!(false);
            tx.update(s.kind, &h.id, Some(h.version), &body).await?;
        }
        Ok(())
    }

    /// Bumps the policies affected by a change to object `id` of kind `s` (for a proxy: the
    /// policies using the outputs, hosts and download sources that go through it).
    async fn bump_for_setting(
        &self,
        tx: &mut dyn Tx,
        s: &Setting,
        id: &str,
        is_default: bool,
    ) -> Result<Vec<(String, i64)>> {
        if let Some(users) = s.users(id, is_default) {
            return self.bump_policies(tx, &users).await;
        }
        // A proxy: everything that goes through it.
        let mut filters = Vec::new();
        let through = Filter::Eq(store::doc_field("proxy_id"), Scalar::Str(id.into()));
        for kind in [Kind::Output, Kind::FleetServerHost, Kind::DownloadSource] {
            let users = tx
                .find(
                    kind,
                    &store::Query {
                        filter: through.clone(),
                        ..Default::default()
                    },
                )
                .await?;
            for u in users {
                let default = u.body["is_default"] == json!(true);
                filters.push(match kind {
                    Kind::Output => crate::common::policies_using_output(
                        &u.id,
                        default,
                        u.body["is_default_monitoring"] == json!(true),
                    ),
                    Kind::FleetServerHost => FLEET_SERVER_HOSTS
                        .users(&u.id, default)
                        .expect("hosts are used by policies"),
                    _ => DOWNLOAD_SOURCES
                        .users(&u.id, default)
                        .expect("sources are used by policies"),
                });
            }
        }
        if filters.is_empty() {
            return Ok(Vec::new());
        }
        self.bump_policies(tx, &Filter::Or(filters)).await
    }

    pub async fn create_setting(&self, s: &Setting, body: &Value) -> Result<Value> {
        check_body("request body", body, s.schema)?;
        let id = body["id"]
            .as_str()
            .map(String::from)
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let mut doc = body.clone();
        if let Some(o) = doc.as_object_mut() {
            o.remove("id");
        }
        if s.has_default && doc.get("is_default").is_none() {
            doc["is_default"] = json!(false);
        }
        s.normalize(&mut doc)?;
        let mut tx = self.store.begin(Mode::Write).await?;
        tx.lock_kind(s.kind).await?;
        if tx.get(s.kind, &id).await?.is_some() {
            return Err(FleetError::Conflict(format!(
                "Saved object [{}/{id}] conflict",
                s.kind.as_str()
            )));
        }
        Self::check_proxy(tx.as_mut(), &doc).await?;
        Self::take_default(tx.as_mut(), s, &id, &doc).await?;
        let saved = tx.insert(s.kind, &id, &doc).await?;
        let bumped = if doc["is_default"] == json!(true) {
            self.bump_for_setting(tx.as_mut(), s, &id, true).await?
        } else {
            Vec::new()
        };
        tx.commit().await?;
        self.announce(&bumped);
        Ok(json!({ "item": to_item(&saved) }))
    }

    pub async fn update_setting(&self, s: &Setting, id: &str, body: &Value) -> Result<Value> {
        self.update_setting_as(s, id, body, false).await
    }

    /// Updates an object; `from_config` (preconfiguration) may change preconfigured ones.
    pub(crate) async fn update_setting_as(
        &self,
        s: &Setting,
        id: &str,
        body: &Value,
        from_config: bool,
    ) -> Result<Value> {
        let mut tx = self.store.begin(Mode::Write).await?;
        tx.lock_kind(s.kind).await?;
        let existing = tx
            .get(s.kind, id)
            .await?
            .ok_or_else(|| FleetError::NotFound((s.not_found)(id)))?;
        let mut doc = existing.body.clone();
        if let (Some(d), Some(b)) = (doc.as_object_mut(), body.as_object()) {
            for (k, v) in b {
                d.insert(k.clone(), v.clone());
            }
        }
        let mut probe = doc.clone();
        if let Some(o) = probe.as_object_mut() {
            o.retain(|k, v| !v.is_null() || body.get(k).is_some());
        }
        check_body("request body", &probe, s.schema)?;
        if let Some(o) = doc.as_object_mut() {
            o.remove("id");
        }
        if existing.body["is_preconfigured"] == json!(true)
            && !from_config
            && body
                .as_object()
                .into_iter()
                .flatten()
                .any(|(k, v)| existing.body.get(k) != Some(v))
        {
            return Err(bad((s.preconfigured_unchangeable)(id)));
        }
        if s.has_default
            && existing.body["is_default"] == json!(true)
            && body["is_default"] == json!(false)
        {
            return Err(bad(format!(
                "Default {} {id} cannot be set to is_default=false manually. Make another one the default first.",
                s.kind.as_str()
            )));
        }
        s.normalize(&mut doc)?;
        Self::check_proxy(tx.as_mut(), &doc).await?;
        Self::take_default(tx.as_mut(), s, id, &doc).await?;
        let saved = tx.update(s.kind, id, Some(existing.version), &doc).await?;
        let bumped = self
            .bump_for_setting(tx.as_mut(), s, id, doc["is_default"] == json!(true))
            .await?;
        tx.commit().await?;
        self.announce(&bumped);
        Ok(json!({ "item": to_item(&saved) }))
    }

    /// Deletes an object; references to it are cleared (policies fall back to the default;
    /// outputs, hosts and sources stop using a deleted proxy), with a new revision for each
    /// affected policy.
    pub async fn delete_setting(&self, s: &Setting, id: &str) -> Result<Value> {
        self.delete_setting_as(s, id, false).await
    }

    /// The same; `from_config` (the preconfiguration no longer declares it) may delete a
    /// preconfigured object.
    pub(crate) async fn delete_setting_as(
        &self,
        s: &Setting,
        id: &str,
        from_config: bool,
    ) -> Result<Value> {
        let mut tx = self.store.begin(Mode::Write).await?;
        tx.lock_kind(s.kind).await?;
        let existing = tx
            .get(s.kind, id)
            .await?
            .ok_or_else(|| FleetError::NotFound((s.not_found)(id)))?;
        if existing.body["is_preconfigured"] == json!(true) && !from_config {
            return Err(bad((s.preconfigured_undeletable)(id)));
        }
        if s.has_default && existing.body["is_default"] == json!(true) {
            return Err(bad((s.default_undeletable)(id)));
        }
        // Who is affected must be known before the references go.
        let bumped = self.bump_for_setting(tx.as_mut(), s, id, false).await?;
        let (kinds, field): (&[Kind], &str) = match s.policy_field {
            Some(f) => (&[Kind::AgentPolicy], f),
            None => (PROXY_USERS, "proxy_id"),
        };
        for kind in kinds {
            let refs = tx
                .find(
                    *kind,
                    &store::Query {
                        filter: Filter::Eq(store::doc_field(field), Scalar::Str(id.into())),
                        ..Default::default()
                    },
                )
                .await?;
            for r in refs {
                let mut body = r.body.clone();
                body[field] = Value::Null;
                tx.update(*kind, &r.id, Some(r.version), &body).await?;
            }
        }
        tx.delete(s.kind, id).await?;
        tx.commit().await?;
        self.announce(&bumped);
        Ok(json!({ "id": id }))
    }
}
