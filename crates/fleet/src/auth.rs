//! Users, API keys and roles for the management API (see `docs/conventions.md`).
//! Passwords are stored as Argon2id hashes; API key secrets (random, 128+ bits) as SHA-256.
//! Every comparison of a secret is constant-time, and no secret is ever logged.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use rand::distributions::Alphanumeric;
use rand::Rng;
use serde::Serialize;
use sha2::{Digest, Sha256};
use store::{ApiKey, Mode, Store, User};
use subtle::ConstantTimeEq;

use crate::error::{FleetError, Result};
use crate::time::now;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Agent protocol only (enrolled agents' access keys).
    Agent,
    /// GET on the Fleet API.
    FleetRead,
    /// All of the Fleet API.
    FleetAdmin,
    Superuser,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        Some(match s {
            "superuser" => Role::Superuser,
            "fleet-admin" => Role::FleetAdmin,
            "fleet-read" => Role::FleetRead,
            "agent" => Role::Agent,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Superuser => "superuser",
            Role::FleetAdmin => "fleet-admin",
            Role::FleetRead => "fleet-read",
            Role::Agent => "agent",
        }
    }
}

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The user, or the owner of the API key.
    pub username: String,
    pub role: Role,
    pub api_key_id: Option<String>,
}

/// A privilege a route may require: Kibana's API privileges for Fleet and Integrations (the
/// names its 403 messages give), and Elasticsearch's cluster privileges for API keys. Roles
/// are sets of these ([`Role::grants`]); routes declare what they need in one table (the API
/// crate's `authz`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Privilege {
    FleetRead,
    FleetAll,
    AgentsRead,
    AgentsAll,
    AgentPoliciesRead,
    AgentPoliciesAll,
    SettingsRead,
    SettingsAll,
    IntegrationsRead,
    IntegrationsAll,
    /// Create, list and invalidate one's own API keys.
    ManageOwnApiKey,
    /// List and invalidate every user's API keys.
    ManageApiKey,
}

impl Privilege {
    pub const ALL: [Privilege; 12] = [
        Privilege::FleetRead,
        Privilege::FleetAll,
        Privilege::AgentsRead,
        Privilege::AgentsAll,
        Privilege::AgentPoliciesRead,
        Privilege::AgentPoliciesAll,
        Privilege::SettingsRead,
        Privilege::SettingsAll,
        Privilege::IntegrationsRead,
        Privilege::IntegrationsAll,
        Privilege::ManageOwnApiKey,
        Privilege::ManageApiKey,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Privilege::FleetRead => "fleet-read",
            Privilege::FleetAll => "fleet-all",
            Privilege::AgentsRead => "fleet-agents-read",
            Privilege::AgentsAll => "fleet-agents-all",
            Privilege::AgentPoliciesRead => "fleet-agent-policies-read",
            Privilege::AgentPoliciesAll => "fleet-agent-policies-all",
            Privilege::SettingsRead => "fleet-settings-read",
            Privilege::SettingsAll => "fleet-settings-all",
            Privilege::IntegrationsRead => "integrations-read",
            Privilege::IntegrationsAll => "integrations-all",
            Privilege::ManageOwnApiKey => "manage_own_api_key",
            Privilege::ManageApiKey => "manage_api_key",
        }
    }

    /// Whether this is a read privilege (what Kibana's `read` feature privileges grant).
    fn is_read(self) -> bool {
        matches!(
            self,
            Privilege::FleetRead
                | Privilege::AgentsRead
                | Privilege::AgentPoliciesRead
                | Privilege::SettingsRead
                | Privilege::IntegrationsRead
        )
    }
}

impl Role {
    /// The privileges of each role. `fleet-read` is Kibana's "Fleet: read" and "Integrations:
    /// read" (with their sub-features), which hold no enrollment tokens, uninstall tokens or
    /// diagnostics requests: those need `fleet-agents-all`. Every management user manages its
    /// own API keys (the keys carry the owner's role, never more); only superusers manage
    /// everyone's. Agents' keys open the agent protocol only.
    pub fn grants(self, p: Privilege) -> bool {
        match self {
            Role::Superuser => true,
            Role::FleetAdmin => p != Privilege::ManageApiKey,
            Role::FleetRead => p.is_read() || p == Privilege::ManageOwnApiKey,
            Role::Agent => false,
        }
    }
}

impl Principal {
    pub fn has(&self, p: Privilege) -> bool {
        self.role.grants(p)
    }
}

/// Which API keys a get or invalidate request names (Elasticsearch's parameters).
#[derive(Debug, Default)]
pub struct ApiKeySelection<'a> {
    /// Only the caller's own keys.
    pub owner: bool,
    pub ids: Vec<String>,
    pub name: Option<&'a str>,
    pub username: Option<&'a str>,
    pub active_only: bool,
}

/// What is done with selected API keys (Elasticsearch's actions, for its 403 message).
#[derive(Debug, Clone, Copy)]
pub enum ApiKeyAction {
    Get,
    Invalidate,
}

/// A freshly created API key: the only time its secret is seen.
#[derive(Debug, Clone, Serialize)]
pub struct CreatedApiKey {
    pub id: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiration: Option<i64>,
    pub api_key: String,
    pub encoded: String,
}

/// The role stored on an enrollment token's key: it authorizes enrollment and nothing else.
pub const ENROLLMENT_ROLE: &str = "enrollment";

/// The name of the API keys that stand for web UI sessions.
pub const SESSION_KEY_NAME: &str = "flotilla-ui-session";
/// How long a web UI session lasts (an Elasticsearch duration; Kibana's default
/// `xpack.security.session.lifespan` is 30 days, its idle timeout 3 days — shorter here, as
/// there is no idle timeout).
pub const SESSION_LIFETIME: &str = "8h";

#[derive(Clone)]
pub struct AuthService {
    store: Arc<dyn Store>,
    /// username → SHA-256 of the last password that verified, so Basic auth costs one hash per
    /// request instead of one Argon2 run (tens of milliseconds).
    verified: Arc<Mutex<HashMap<String, [u8; 32]>>>,
    /// Argon2 runs at once (each holds ~19 MiB and a core for tens of milliseconds), and how
    /// many requests wait for one: a flood of wrong passwords is answered 429 past these
    /// instead of taking every core and gigabytes, and API keys and agents, which never run
    /// Argon2, keep being served.
    password_checks: Arc<tokio::sync::Semaphore>,
    password_waiting: Arc<std::sync::atomic::AtomicUsize>,
}

/// Requests that may wait for an Argon2 run, per run allowed at once.
const PASSWORD_QUEUE_PER_RUN: usize = 8;
/// The longest a password check waits for its turn before it is answered 429.
const PASSWORD_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Argon2 runs allowed at once: half the cores (at least one), so a flood leaves the rest to
/// the other traffic. Read once: `available_parallelism` reads cgroup files on Linux.
fn password_runs() -> usize {
    static RUNS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *RUNS.get_or_init(|| {
        std::thread::available_parallelism()
            .map(|n| (n.get() / 2).max(1))
            .unwrap_or(1)
    })
}

/// A hash of a random password, verified when the user does not exist, so an unknown user
/// costs the same Argon2 run as a wrong password (no user enumeration by timing).
fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password(&random_token(24)).expect("Argon2 hashes a password"))
}

fn too_many_password_checks() -> FleetError {
    FleetError::TooManyRequests(
        "Too many password checks at once; try again shortly, or authenticate with an API key"
            .into(),
    )
}

/// A random alphanumeric token (API key ids and secrets).
pub(crate) fn random_token(len: usize) -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// How high-entropy secrets (API key halves) are stored: hex SHA-256.
pub fn hash_secret(secret: &str) -> String {
    sha256(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

pub fn hash_password(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| FleetError::Internal(format!("password hashing failed: {e}")))
}

/// Parses an Elasticsearch duration (`30d`, `12h`, `15m`, `90s`, `500ms`) into milliseconds.
pub fn parse_duration_ms(s: &str) -> Option<i64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (num, unit) = s.split_at(split);
    let n: i64 = num.parse().ok()?;
    let mult = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    n.checked_mul(mult)
}

/// Elasticsearch's answer to an `expiration` that is not a duration.
pub(crate) fn bad_expiration(e: &str) -> FleetError {
    FleetError::BadRequest(format!(
        "failed to parse setting [expiration] with value [{e}] as a time value: unit is missing or unrecognized"
    ))
}

/// An `expiration` that is a duration but ends past any representable date.
pub(crate) fn expiration_too_far(e: &str) -> FleetError {
    FleetError::BadRequest(format!(
        "failed to parse setting [expiration] with value [{e}]: the expiration date is out of range"
    ))
}

/// What the verified-password cache keeps for a user: bound to the stored hash, so a changed
/// password drops it.
fn password_fingerprint(user: &User, password: &str) -> [u8; 32] {
    sha256(
        format!(
            "{}\u{0}{password}\u{0}{}",
            user.username, user.password_hash
        )
        .as_bytes(),
    )
}

/// The principal a user authenticates as: its highest known role (None: no role Flotilla
/// knows, which authenticates no one).
fn principal_of(user: &User) -> Option<Principal> {
    let role = user.roles.iter().filter_map(|r| Role::parse(r)).max()?;
    Some(Principal {
        username: user.username.clone(),
        role,
        api_key_id: None,
    })
}

fn unauthorized() -> FleetError {
    FleetError::Unauthorized("Unauthorized".into())
}

impl AuthService {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            verified: Arc::default(),
            password_checks: Arc::new(tokio::sync::Semaphore::new(password_runs())),
            password_waiting: Arc::default(),
        }
    }

    /// On an empty store, creates the superuser `elastic`. Returns the password when it had to
    /// be generated, so the caller can print it once.
    pub async fn bootstrap(&self, password: Option<&str>) -> Result<Option<String>> {
        let mut tx = self.store.begin(Mode::Write).await?;
        if tx.count_users().await? > 0 {
            return Ok(None);
        }
        let (password, generated) = match password {
            Some(p) if !p.is_empty() => (p.to_string(), false),
            _ => (random_token(20), true),
        };
        tx.put_user(&User {
            username: "elastic".into(),
            password_hash: hash_password(&password)?,
            roles: vec![Role::Superuser.as_str().into()],
            created_at: now(),
        })
        .await?;
        tx.commit().await?;
        Ok(generated.then_some(password))
    }

    /// Creates or replaces a user (admin command).
    pub async fn put_user(&self, username: &str, password: &str, role: Role) -> Result<()> {
        let mut tx = self.store.begin(Mode::Write).await?;
        tx.put_user(&User {
            username: username.into(),
            password_hash: hash_password(password)?,
            roles: vec![role.as_str().into()],
            created_at: now(),
        })
        .await?;
        tx.commit().await?;
        self.verified
            .lock()
            .expect("auth cache lock poisoned")
            .remove(username);
        Ok(())
    }

    /// Checks an `Authorization` header value.
    pub async fn authenticate(&self, header: Option<&str>) -> Result<Principal> {
        let header = header.ok_or_else(unauthorized)?;
        let (scheme, value) = header.trim().split_once(' ').ok_or_else(unauthorized)?;
        let decoded = B64.decode(value.trim()).map_err(|_| unauthorized())?;
        let decoded = String::from_utf8(decoded).map_err(|_| unauthorized())?;
        let (left, secret) = decoded.split_once(':').ok_or_else(unauthorized)?;
        if scheme.eq_ignore_ascii_case("basic") {
            self.check_password(left, secret).await
        } else if scheme.eq_ignore_ascii_case("apikey") {
            self.check_api_key(left, secret).await
        } else {
            Err(unauthorized())
        }
    }

    async fn check_password(&self, username: &str, password: &str) -> Result<Principal> {
        let bad = || {
            FleetError::Unauthorized(format!(
                "[security_exception]: unable to authenticate user [{username}] for REST request [/_security/_authenticate]"
            ))
        };
        let mut tx = self.store.begin(Mode::Read).await?;
        let user = tx.get_user(username).await?;
        drop(tx);
        let hash = match &user {
            Some(user) => {
                let fingerprint = password_fingerprint(user, password);
                let cached = self
                    .verified
                    .lock()
                    .expect("auth cache lock poisoned")
                    .get(username)
                    .copied();
                if cached.is_some_and(|c| ct_eq(&c, &fingerprint)) {
                    return principal_of(user).ok_or_else(bad);
                }
                user.password_hash.clone()
            }
            None => String::new(),
        };
        let ok = self.verify_password(password, hash).await?;
        let user = user.filter(|_| ok).ok_or_else(bad)?;
        let principal = principal_of(&user).ok_or_else(bad)?;
        self.verified
            .lock()
            .expect("auth cache lock poisoned")
            .insert(username.to_string(), password_fingerprint(&user, password));
        Ok(principal)
    }

    /// Runs Argon2 for `password` against `hash` (the decoy when empty), within the bound on
    /// runs at once; false when it does not match.
    async fn verify_password(&self, password: &str, hash: String) -> Result<bool> {
        use std::sync::atomic::Ordering;
        struct Waiting<'a>(&'a std::sync::atomic::AtomicUsize);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::Relaxed);
            }
        }
        let queued = self.password_waiting.fetch_add(1, Ordering::Relaxed);
        let _waiting = Waiting(&self.password_waiting);
        if queued >= password_runs() * PASSWORD_QUEUE_PER_RUN {
            return Err(too_many_password_checks());
        }
        let _permit = tokio::time::timeout(PASSWORD_WAIT, self.password_checks.acquire())
            .await
            .map_err(|_| too_many_password_checks())?
            .map_err(|e| FleetError::Internal(e.to_string()))?;
        // Argon2 is deliberately slow: run it off the async workers.
        let password = password.to_string();
        tokio::task::spawn_blocking(move || {
            let hash = if hash.is_empty() {
                decoy_hash()
            } else {
                hash.as_str()
            };
            let parsed = PasswordHash::new(hash).map_err(|e| {
                FleetError::Internal(format!("stored password hash is invalid: {e}"))
            })?;
            Ok(Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok())
        })
        .await
        .map_err(|e| FleetError::Internal(e.to_string()))?
    }

    async fn check_api_key(&self, id: &str, secret: &str) -> Result<Principal> {
        let bad = || {
            FleetError::Unauthorized(
                "[security_exception]: unable to authenticate with provided credentials and anonymous access is not allowed for this request".into(),
            )
        };
        let mut tx = self.store.begin(Mode::Read).await?;
        let key = tx.get_api_key(id).await?.ok_or_else(bad)?;
        if !ct_eq(hash_secret(secret).as_bytes(), key.key_hash.as_bytes()) || key.invalidated {
            return Err(bad());
        }
        if let Some(exp) = &key.expiration {
            if exp.as_str() <= now().as_str() {
                return Err(bad());
            }
        }
        let role = Role::parse(&key.role).ok_or_else(bad)?;
        Ok(Principal {
            username: key.owner,
            role,
            api_key_id: Some(key.id),
        })
    }

    /// Creates an API key owned by `owner` with `role`; `expiration` is an Elasticsearch
    /// duration such as `30d`.
    pub async fn create_api_key(
        &self,
        owner: &str,
        name: &str,
        role: Role,
        expiration: Option<&str>,
    ) -> Result<CreatedApiKey> {
        if name.trim().is_empty() {
            return Err(FleetError::BadRequest(
                "Validation Failed: 1: api key name is required;".into(),
            ));
        }
        let expires_at = match expiration {
            None => None,
            Some(e) => {
                let ms = parse_duration_ms(e).ok_or_else(|| bad_expiration(e))?;
                Some(crate::time::from_now_ms(ms).ok_or_else(|| expiration_too_far(e))?)
            }
        };
        let id = random_token(20);
        let secret = random_token(22);
        let key = ApiKey {
            id: id.clone(),
            name: name.to_string(),
            key_hash: hash_secret(&secret),
            role: role.as_str().into(),
            owner: owner.into(),
            created_at: now(),
            expiration: expires_at.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
            invalidated: false,
        };
        let mut tx = self.store.begin(Mode::Write).await?;
        tx.insert_api_key(&key).await?;
        tx.commit().await?;
        Ok(CreatedApiKey {
            encoded: B64.encode(format!("{id}:{secret}")),
            id,
            name: name.into(),
            expiration: expires_at.map(|t| t.timestamp_millis()),
            api_key: secret,
        })
    }

    /// Logs a user in to the web UI: checks the password, then makes a session, an API key of
    /// the user's role named [`SESSION_KEY_NAME`] that expires after [`SESSION_LIFETIME`]. The
    /// browser holds the encoded key in a cookie; its secret is stored hashed like any key's.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
    ) -> Result<(Principal, CreatedApiKey)> {
        let who = self.check_password(username, password).await?;
        let session = self
            .create_api_key(
                &who.username,
                SESSION_KEY_NAME,
                who.role,
                Some(SESSION_LIFETIME),
            )
            .await?;
        tracing::info!(username = %who.username, session = %session.id, "logged in");
        Ok((who, session))
    }

    /// Ends a web UI session given its encoded key (the cookie's value). Only session keys are
    /// ended this way; anything else is ignored, as is an unknown or already ended session.
    pub async fn logout(&self, encoded: &str) -> Result<()> {
        let Ok(who) = self.authenticate(Some(&format!("ApiKey {encoded}"))).await else {
            return Ok(());
        };
        let Some(id) = who.api_key_id else {
            return Ok(());
        };
        let mut tx = self.store.begin(Mode::Write).await?;
        if tx
            .get_api_key(&id)
            .await?
            .is_some_and(|k| k.name == SESSION_KEY_NAME)
        {
            tx.invalidate_api_keys(std::slice::from_ref(&id)).await?;
            tx.commit().await?;
            tracing::info!(username = %who.username, session = %id, "logged out");
        }
        Ok(())
    }

    pub async fn list_api_keys(&self) -> Result<Vec<ApiKey>> {
        let mut tx = self.store.begin(Mode::Read).await?;
        Ok(tx.list_api_keys().await?)
    }

    /// The user API keys a get or invalidate request names, among those `who` may manage, as
    /// Elasticsearch decides it: with `manage_api_key`, anyone's (only one's own with `owner`);
    /// with `manage_own_api_key`, one's own, and the request must say so (`owner`, the caller's
    /// own key id, or the caller's username), else Elasticsearch's 403 for `action`.
    pub async fn select_api_keys(
        &self,
        who: &Principal,
        q: &ApiKeySelection<'_>,
        action: ApiKeyAction,
    ) -> Result<Vec<ApiKey>> {
        let everyone = who.has(Privilege::ManageApiKey);
        let says_own = q.owner
            || (!q.ids.is_empty()
                && q.ids
                    .iter()
                    .all(|id| who.api_key_id.as_deref() == Some(id.as_str())))
            || q.username == Some(who.username.as_str());
        if !everyone && !says_own {
            let (name, granted_by) = match action {
                ApiKeyAction::Get => ("get", "read_security,manage_api_key,manage_security,all"),
                ApiKeyAction::Invalidate => ("invalidate", "manage_api_key,manage_security,all"),
            };
            return Err(FleetError::Forbidden(format!(
                "action [cluster:admin/xpack/security/api_key/{name}] is unauthorized for user [{}] with effective roles [{}], this action is granted by the cluster privileges [{granted_by}]",
                who.username,
                who.role.as_str()
            )));
        }
        let own = !everyone || q.owner;
        Ok(self
            .list_api_keys()
            .await?
            .into_iter()
            // Enrollment tokens are Fleet's, not users' keys.
            .filter(|k| k.role != ENROLLMENT_ROLE)
            .filter(|k| !own || k.owner == who.username)
            .filter(|k| q.ids.is_empty() || q.ids.contains(&k.id))
            .filter(|k| q.name.is_none_or(|n| k.name == n))
            .filter(|k| q.username.is_none_or(|u| k.owner == u))
            .filter(|k| !q.active_only || !k.invalidated)
            .collect())
    }

    /// Invalidates keys; returns (invalidated, previously invalidated or unknown).
    pub async fn invalidate_api_keys(&self, ids: &[String]) -> Result<(Vec<String>, Vec<String>)> {
        let mut tx = self.store.begin(Mode::Write).await?;
        let done = tx.invalidate_api_keys(ids).await?;
        tx.commit().await?;
        let rest = ids.iter().filter(|i| !done.contains(i)).cloned().collect();
        Ok((done, rest))
    }
}

/// `POST`/`PUT /_security/api_key` (Elasticsearch's body; role descriptors are accepted and
/// ignored: a key carries its owner's role).
#[derive(Debug, Clone, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKeyRequest {
    pub name: String,
    /// An Elasticsearch duration (`30d`).
    pub expiration: Option<String>,
    pub role_descriptors: Option<serde_json::Map<String, serde_json::Value>>,
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
}

impl contract::Request for CreateApiKeyRequest {}

/// `DELETE /_security/api_key`.
#[derive(Debug, Clone, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InvalidateApiKeysRequest {
    pub ids: Option<Vec<String>>,
    pub id: Option<String>,
    pub name: Option<String>,
    pub owner: Option<bool>,
    pub username: Option<String>,
    pub realm_name: Option<String>,
}

impl contract::Request for InvalidateApiKeysRequest {
    fn check(&self) -> std::result::Result<(), contract::Violation> {
        let named = self.ids.as_ref().is_some_and(|i| !i.is_empty())
            || self.id.is_some()
            || self.name.is_some()
            || self.username.is_some()
            || self.realm_name.is_some()
            || self.owner == Some(true);
        if !named {
            return Err(contract::Violation::at(
                "",
                "One of [api key id, api key name, username, realm name] must be specified",
            ));
        }
        Ok(())
    }
}

impl InvalidateApiKeysRequest {
    /// The keys it names, as [`AuthService::select_api_keys`] takes them.
    pub fn selection(&self) -> ApiKeySelection<'_> {
        ApiKeySelection {
            owner: self.owner.unwrap_or(false),
            ids: self.ids.iter().flatten().chain(&self.id).cloned().collect(),
            name: self.name.as_deref(),
            username: self.username.as_deref(),
            active_only: false,
        }
    }
}

/// The query of `GET /_security/api_key` (Elasticsearch's).
#[derive(Debug, Clone, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListApiKeysQuery {
    pub owner: Option<bool>,
    pub id: Option<String>,
    pub name: Option<String>,
    pub username: Option<String>,
    pub realm_name: Option<String>,
    pub active_only: Option<bool>,
}

impl contract::Request for ListApiKeysQuery {}

impl ListApiKeysQuery {
    pub fn selection(&self) -> ApiKeySelection<'_> {
        ApiKeySelection {
            owner: self.owner.unwrap_or(false),
            ids: self.id.iter().cloned().collect(),
            name: self.name.as_deref(),
            username: self.username.as_deref(),
            active_only: self.active_only.unwrap_or(false),
        }
    }
}

/// `POST /internal/security/login`: Kibana's login form's request.
#[derive(Debug, Clone, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LoginRequest {
    pub provider_type: String,
    pub provider_name: String,
    #[serde(rename = "currentURL")]
    pub current_url: Option<String>,
    pub params: serde_json::Map<String, serde_json::Value>,
}

impl contract::Request for LoginRequest {
    fn check(&self) -> std::result::Result<(), contract::Violation> {
        if self.provider_type != "basic" {
            return Err(contract::Violation::at(
                "providerType",
                format!(
                    "login with provider type [{}] is not supported; use [basic]",
                    self.provider_type
                ),
            ));
        }
        if self.credentials().is_none() {
            return Err(contract::Violation::at(
                "params",
                "username and password are required",
            ));
        }
        Ok(())
    }
}

impl LoginRequest {
    /// (username, password) of a basic login.
    pub fn credentials(&self) -> Option<(&str, &str)> {
        Some((
            self.params.get("username")?.as_str()?,
            self.params.get("password")?.as_str()?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ms("30d"), Some(30 * 86_400_000));
        assert_eq!(parse_duration_ms("15m"), Some(900_000));
        assert_eq!(parse_duration_ms("10"), None);
        assert_eq!(parse_duration_ms("d"), None);
        assert_eq!(parse_duration_ms("5y"), None);
    }
}
