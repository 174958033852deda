//! Fleet's global and space settings (`/api/fleet/settings`, `/api/fleet/space_settings`),
//! setup, the permission check, the Fleet Server host health check, and the operations that
//! exist only to hand out Elasticsearch credentials (Logstash API keys, service tokens), which
//! Flotilla answers with a clear error.

use std::time::Duration;

use contract::{Request, Violation};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use store::{Kind, Mode};

use crate::auth::{Principal, Role};
use crate::error::{FleetError, Result};
use crate::Fleet;

/// Kibana's id of the settings document.
pub const SETTINGS_ID: &str = "fleet-default-settings";
const SPACE_SETTINGS_ID: &str = "default";

/// `delete_unenrolled_agents` of the settings.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteUnenrolledAgents {
    pub enabled: bool,
    pub is_preconfigured: bool,
}

/// `PUT /api/fleet/settings`: the fields given are stored.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PutSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_yaml_config: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_unenrolled_agents: Option<DeleteUnenrolledAgents>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub has_seen_add_data_notice: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kibana_ca_sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kibana_urls: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prerelease_integrations_enabled: Option<bool>,
}

impl Request for PutSettings {}

/// `PUT /api/fleet/space_settings`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PutSpaceSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_namespace_prefixes: Option<Vec<String>>,
}

impl Request for PutSpaceSettings {
    /// Each prefix must itself be a namespace, without `-`.
    fn check(&self) -> std::result::Result<(), Violation> {
        for p in self.allowed_namespace_prefixes.iter().flatten() {
            if crate::common::namespace_problem(p).is_some() || p.contains('-') {
                return Err(Violation::at(
                    "allowed_namespace_prefixes",
                    format!("Invalid namespace prefix {p}"),
                ));
            }
        }
        Ok(())
    }
}

/// The query of the settings lists (outputs, Fleet Server hosts, proxies, download sources).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PagingQuery {
    pub page: Option<f64>,
    pub per_page: Option<f64>,
}

impl Request for PagingQuery {}

/// The query of `GET /api/fleet/check-permissions`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CheckPermissionsQuery {
    /// Also whether the caller may set up a Fleet Server.
    pub fleet_server_setup: Option<bool>,
}

impl Request for CheckPermissionsQuery {}

/// The query of `GET /api/fleet/uninstall_tokens`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UninstallTokensQuery {
    pub policy_id: Option<String>,
    pub search: Option<String>,
    #[schemars(range(min = 5))]
    pub per_page: Option<u64>,
    #[schemars(range(min = 1))]
    pub page: Option<u64>,
}

impl Request for UninstallTokensQuery {}

/// The query of `POST /api/fleet/message_signing_service/rotate_key_pair`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateKeyPairQuery {
    /// The caller knows agents must be re-enrolled with the new key's policies.
    pub acknowledge: Option<bool>,
}

impl Request for RotateKeyPairQuery {}

/// `POST /api/fleet/health_check`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HealthCheck {
    /// A Fleet Server host's id.
    pub id: String,
}

impl Request for HealthCheck {}

fn es_only(what: &str) -> FleetError {
    FleetError::BadRequest(format!(
        "{what} are Elasticsearch credentials, and Flotilla does not use Elasticsearch: create them in your Elasticsearch cluster (POST /_security/api_key or /_security/service/elastic/fleet-server/credential/token)"
    ))
}

impl Fleet {
    /// `GET /settings`.
    pub async fn get_settings(&self) -> Result<Value> {
        let mut tx = self.store.begin(Mode::Read).await?;
        let stored = tx.get(Kind::Settings, SETTINGS_ID).await?;
        Ok(json!({ "item": settings_item(stored.as_ref()) }))
    }

    /// `PUT /settings`: stores the given fields.
    pub async fn put_settings(&self, settings: &PutSettings) -> Result<Value> {
        let body = &serde_json::to_value(settings).expect("settings serialize");
        let mut tx = self.store.begin(Mode::Write).await?;
        let saved = match tx.get(Kind::Settings, SETTINGS_ID).await? {
            Some(existing) => {
                let mut doc = existing.body.clone();
                crate::agent_policies::merge_top(&mut doc, body);
                tx.update(Kind::Settings, SETTINGS_ID, Some(existing.version), &doc)
                    .await?
            }
            None => tx.insert(Kind::Settings, SETTINGS_ID, body).await?,
        };
        tx.commit().await?;
        Ok(json!({ "item": settings_item(Some(&saved)) }))
    }

    /// The namespace prefixes agent policies must use (empty: any).
    pub(crate) async fn allowed_namespace_prefixes(
        &self,
        tx: &mut dyn store::Tx,
    ) -> Result<Vec<String>> {
        Ok(tx
            .get(Kind::SpaceSettings, SPACE_SETTINGS_ID)
            .await?
            .map(|d| crate::validate::string_array(&d.body["allowed_namespace_prefixes"]))
            .unwrap_or_default())
    }

    /// `GET /space_settings`.
    pub async fn get_space_settings(&self) -> Result<Value> {
        let mut tx = self.store.begin(Mode::Read).await?;
        let prefixes = self.allowed_namespace_prefixes(tx.as_mut()).await?;
        Ok(json!({ "item": { "allowed_namespace_prefixes": prefixes } }))
    }

    /// `PUT /space_settings`: each prefix must itself be a valid namespace.
    pub async fn put_space_settings(&self, body: &PutSpaceSettings) -> Result<Value> {
        let prefixes = body.allowed_namespace_prefixes.clone().unwrap_or_default();
        let doc = json!({ "allowed_namespace_prefixes": prefixes });
        let mut tx = self.store.begin(Mode::Write).await?;
        match tx.get(Kind::SpaceSettings, SPACE_SETTINGS_ID).await? {
            Some(existing) => {
                tx.update(
                    Kind::SpaceSettings,
                    SPACE_SETTINGS_ID,
                    Some(existing.version),
                    &doc,
                )
                .await?;
            }
            None => {
                tx.insert(Kind::SpaceSettings, SPACE_SETTINGS_ID, &doc)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(json!({ "item": doc }))
    }

    /// `POST /setup`: Kibana's setup — the default output, Fleet Server host and download
    /// source exist afterwards.
    pub async fn setup(&self) -> Result<Value> {
        self.ensure_default_output().await?;
        self.ensure_default_hosts().await?;
        Ok(json!({ "isInitialized": true, "nonFatalErrors": [] }))
    }

    /// `GET /check-permissions`: whether the caller may use Fleet (and, with
    /// `fleetServerSetup`, set up Fleet Server).
    pub fn check_permissions(&self, who: &Principal, fleet_server_setup: bool) -> Value {
        if fleet_server_setup && who.role < Role::Superuser {
            return json!({ "success": false, "error": "MISSING_FLEET_SERVER_SETUP_PRIVILEGES" });
        }
        // As Kibana: any of Fleet's read privileges is enough to use Fleet.
        use crate::auth::Privilege::{AgentPoliciesRead, AgentsRead, FleetAll, SettingsRead};
        if ![FleetAll, AgentsRead, AgentPoliciesRead, SettingsRead]
            .iter()
            .any(|p| who.has(*p))
        {
            return json!({ "success": false, "error": "MISSING_PRIVILEGES" });
        }
        json!({ "success": true })
    }

    /// `POST /logstash_api_keys`.
    pub fn logstash_api_key(&self) -> Result<Value> {
        Err(es_only("Logstash API keys"))
    }

    /// `POST /service_tokens`.
    pub fn service_token(&self) -> Result<Value> {
        Err(es_only("Service tokens"))
    }

    /// `POST /health_check`: asks a Fleet Server host's first URL for `/api/status`.
    pub async fn health_check(&self, body: &HealthCheck) -> Result<Value> {
        let id = body.id.as_str();
        let host = {
            let mut tx = self.store.begin(Mode::Read).await?;
            tx.get(Kind::FleetServerHost, id).await?.ok_or_else(|| {
                FleetError::NotFound(format!("The requested host id {id} does not exist."))
            })?
        };
        let name = host.body["name"].clone();
        let Some(url) = host.body["host_urls"][0].as_str() else {
            return Err(FleetError::BadRequest(format!(
                "Fleet server host {id} has no URL"
            )));
        };
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| FleetError::Internal(e.to_string()))?;
        let status = match client
            .get(format!("{}/api/status", url.trim_end_matches('/')))
            .send()
            .await
        {
            Ok(res) => match res.json::<Value>().await {
                Ok(v) => v["status"].as_str().unwrap_or("UNKNOWN").to_string(),
                Err(_) => "OFFLINE".to_string(),
            },
            Err(_) => "OFFLINE".to_string(),
        };
        Ok(json!({ "status": status, "host_id": id, "name": name }))
    }
}

/// The settings as Kibana shows them: stored fields over the defaults.
fn settings_item(stored: Option<&store::Doc>) -> Value {
    let mut item = json!({
        "id": SETTINGS_ID,
        "prerelease_integrations_enabled": false,
        "secret_storage_requirements_met": true,
        "output_secret_storage_requirements_met": true,
        "action_secret_storage_requirements_met": true,
        "preconfigured_fields": [],
        "delete_unenrolled_agents": { "enabled": false, "is_preconfigured": false },
    });
    if let Some(d) = stored {
        crate::agent_policies::merge_top(&mut item, &d.body);
        item["version"] = json!(crate::common::version_string(d.version));
    }
    item
}
