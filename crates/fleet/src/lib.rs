//! The Fleet domain: Kibana Fleet's rules over a [`store::Store`]. Knows nothing of HTTP.

pub mod action_requests;
pub mod actions;
pub mod agent_policies;
pub mod agents;
pub mod auth;
pub mod bulk;
pub mod common;
pub mod enrollment_api_keys;
pub mod epm;
pub mod epm_requests;
pub mod error;
pub mod hosts;
pub mod hub;
pub mod outputs;
pub mod package_policies;
pub mod package_policy_requests;
pub mod package_tasks;
pub mod preconfiguration;
pub mod query;
pub mod rollback;
mod secrets;
pub mod settings;
pub mod signing;
pub mod space;
pub mod time;
pub mod uninstall_tokens;
pub mod uploads;
pub mod validate;

use std::sync::Arc;

pub use error::{FleetError, Result};
pub use store;

/// Kibana's id for the output created at setup.
pub const DEFAULT_OUTPUT_ID: &str = "fleet-default-output";

/// What the Fleet rules need to know about this deployment.
#[derive(Debug, Clone)]
pub struct FleetConfig {
    /// Hosts of the default Elasticsearch output (Kibana's default: `http://localhost:9200`).
    pub default_output_hosts: Vec<String>,
    /// URLs agents use to reach Fleet Server, i.e. this server's agent listener.
    pub fleet_server_hosts: Vec<String>,
    /// Where agents download upgrades from.
    pub download_source_uri: String,
    /// The Elastic stack version Flotilla stands in for: the newest agent it accepts and the
    /// highest version agents may be upgraded to.
    pub stack_version: String,
    /// How long a check-in is held when the agent names no `poll_timeout` (Fleet Server: 5 min).
    pub checkin_long_poll: std::time::Duration,
    /// The shortest hold for an agent-chosen `poll_timeout` (Fleet Server: 1 min).
    pub checkin_min_poll: std::time::Duration,
    /// The Elastic Package Registry (None: no registry, local and uploaded packages only).
    pub registry_url: Option<String>,
    /// Local packages: each subfolder `<name>-<version>` of this directory.
    pub package_dir: Option<std::path::PathBuf>,
    /// Where the registry cache lives (the data directory).
    pub data_dir: Option<std::path::PathBuf>,
    /// Fleet Server's `server.limits`: how many enrollments, check-ins (before their hold) and
    /// acks one node works on at once. Beyond that an agent is answered 429 at once and retries
    /// with backoff, instead of queueing for the database until it times out. On PostgreSQL
    /// each is also at most 4 per pooled connection.
    pub enroll_max_in_flight: usize,
    pub checkin_max_in_flight: usize,
    pub ack_max_in_flight: usize,
}

impl Default for FleetConfig {
    fn default() -> Self {
        Self {
            default_output_hosts: vec!["http://localhost:9200".into()],
            fleet_server_hosts: vec![],
            download_source_uri: "https://artifacts.elastic.co/downloads/".into(),
            stack_version: agents::protocol::FLEET_SERVER_VERSION.to_string(),
            checkin_long_poll: std::time::Duration::from_secs(300),
            checkin_min_poll: std::time::Duration::from_secs(60),
            enroll_max_in_flight: 64,
            checkin_max_in_flight: 512,
            ack_max_in_flight: 512,
            registry_url: None,
            package_dir: None,
            data_dir: None,
        }
    }
}

/// Assembled full policies by policy id: (revision, policy).
/// One revision of an agent policy as check-ins deliver it.
pub(crate) struct PolicyRevision {
    pub(crate) revision: i64,
    /// The policy's `updated_at`: the POLICY_CHANGE action's `created_at`.
    pub(crate) created_at: serde_json::Value,
    /// The full policy, serialized.
    pub(crate) json: Arc<str>,
}

type FullPolicyCache = std::collections::HashMap<String, Arc<PolicyRevision>>;

/// The services, sharing one store. Cheap to clone.
#[derive(Clone)]
pub struct Fleet {
    pub store: Arc<dyn store::Store>,
    pub auth: auth::AuthService,
    pub config: Arc<FleetConfig>,
    /// Wakes held check-ins when policies change.
    pub hub: Arc<hub::Hub>,
    /// Requests of the agent protocol being worked on (see `FleetConfig::*_max_in_flight`).
    pub(crate) agent_limits: Arc<agents::protocol::AgentLimits>,
    /// The full policy agents get, assembled once per (policy, revision).
    pub(crate) full_policies: Arc<std::sync::Mutex<FullPolicyCache>>,
    /// Bulk action jobs this node is running now.
    pub(crate) running_jobs: Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
    /// Where packages come from.
    pub packages: Arc<epm::PackageSources>,
}

impl Fleet {
    pub fn new(store: Arc<dyn store::Store>, config: FleetConfig) -> Self {
        let packages = Arc::new(epm::PackageSources::load(
            config.package_dir.as_deref(),
            config.registry_url.as_deref(),
            config.data_dir.as_deref(),
        ));
        let agent_limits = Arc::new(agents::protocol::AgentLimits::new(
            &config,
            store.connections(),
        ));
        Self {
            packages,
            auth: auth::AuthService::new(store.clone()),
            store,
            config: Arc::new(config),
            hub: hub::Hub::new(),
            agent_limits,
            full_policies: Arc::default(),
            running_jobs: Arc::default(),
        }
    }

    /// Actions were committed for these agents: wake the check-ins held here, and tell the
    /// other nodes sharing the store to wake theirs.
    pub(crate) fn announce_actions(&self, agent_ids: &[String]) {
        self.hub.actions_created(agent_ids);
        if agent_ids.is_empty() || self.store.backend() == "sqlite" {
            return;
        }
        let store = self.store.clone();
        let ids = agent_ids.to_vec();
        tokio::spawn(async move {
            if let Err(e) = store.notify_actions(&ids).await {
                tracing::warn!(error = %e, agents = ids.len(), "could not tell other nodes about new actions");
            }
        });
    }
}
