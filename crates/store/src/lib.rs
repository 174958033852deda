//! Flotilla's persistence: a small document store (Kibana's saved objects, one JSON document per
//! Fleet object) plus typed tables for what is hot or secret (agents, users, API keys).
//!
//! Fleet services own the rules and the transaction boundaries: they `begin` a [`Tx`], read and
//! write through it, and `commit`. Dropping a `Tx` without committing rolls it back, so an error
//! anywhere in a service leaves the store untouched.
//!
//! Two back ends implement the same trait with the same SQL text wherever the dialects agree:
//! SQLite (embedded default, WAL, one writer) and PostgreSQL (many nodes).

mod agent_status;
mod postgres;
mod sql;
mod sqlite;

use async_trait::async_trait;
use serde_json::Value;

pub use kuery::{Expr as Filter, RangeOp, Scalar, Target};

/// A field of the JSON document, for filters built in code.
pub fn doc_field(path: &str) -> Target {
    Target::Json(path.to_string())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortOrder {
    Asc,
    #[default]
    Desc,
}
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

/// The kinds of Fleet documents, named as Kibana names their saved-object types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    AgentPolicy,
    EnrollmentApiKey,
    /// A file an agent uploads (Kibana's `.fleet-fileds-fromhost-meta-agent`).
    FileUpload,
    Output,
    FleetServerHost,
    Proxy,
    DownloadSource,
    /// A secret value an output or host refers to by id (Kibana's `.fleet-secrets`).
    FleetSecret,
    /// Fleet's global settings (one document).
    Settings,
    /// Per-space settings.
    SpaceSettings,
    /// The token that uninstalls a protected policy's agents.
    UninstallToken,
    /// The key pair policies are signed with.
    MessageSigningKey,
    /// An integration policy (Kibana's package policy).
    PackagePolicy,
    /// An installed package (id = package name); its archive is in `package_archive`.
    Package,
    /// A bulk package operation's outcome (Kibana keeps it in a task-manager task).
    PackageTask,
    /// A package policy as it was before its last package upgrade (id = the policy's), what a
    /// package rollback restores (Kibana's `<id>:prev` package policy).
    PackagePolicyPrevious,
    /// A preconfigured agent policy a user deleted (id = the policy's): the preconfiguration
    /// does not create it again.
    PreconfigurationDeletionRecord,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::AgentPolicy => "ingest-agent-policies",
            Kind::EnrollmentApiKey => "fleet-enrollment-api-keys",
            Kind::FileUpload => "fleet-files",
            Kind::Output => "ingest-outputs",
            Kind::FleetServerHost => "fleet-fleet-server-host",
            Kind::Proxy => "fleet-proxy",
            Kind::DownloadSource => "ingest-download-sources",
            Kind::FleetSecret => "fleet-secrets",
            Kind::Settings => "ingest_manager_settings",
            Kind::SpaceSettings => "fleet-space-settings",
            Kind::UninstallToken => "fleet-uninstall-tokens",
            Kind::MessageSigningKey => "fleet-message-signing-keys",
            Kind::PackagePolicy => "ingest-package-policies",
            Kind::Package => "epm-packages",
            Kind::PackageTask => "fleet-packages-bulk-operations",
            Kind::PackagePolicyPrevious => "ingest-package-policies-previous",
            Kind::PreconfigurationDeletionRecord => "fleet-preconfiguration-deletion-record",
        }
    }
}

/// A stored document with its optimistic-concurrency version.
#[derive(Debug, Clone, PartialEq)]
pub struct Doc {
    pub id: String,
    /// Bumped on every write; a write that names an older version fails with [`StoreError::Conflict`].
    pub version: i64,
    pub body: Value,
}

/// What a list asks for: a filter, a sort and a window.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub filter: Filter,
    /// Sort keys (a dotted JSON path in the document) in priority order; `id` always breaks ties.
    pub sort: Vec<(String, SortOrder)>,
    pub offset: u64,
    pub limit: Option<u64>,
    /// Keyset paging: rows strictly after this (first sort key's value, id) in the sort order.
    pub search_after: Option<(Value, String)>,
}

/// A bulk action's background job: what it selects and how far it got.
#[derive(Debug, Clone, PartialEq)]
pub struct BulkJob {
    pub action_id: String,
    pub spec: Value,
    /// The last agent id handled; none before the first batch.
    pub cursor: Option<String>,
    pub done: bool,
}

/// An agent: its document and its status, which the store computes by Kibana's rules.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentRow {
    pub doc: Doc,
    pub status: String,
}

pub use agent_status::{
    OFFLINE_AFTER_SECS, POSTGRES as AGENT_STATUS_POSTGRES,
    POSTGRES_INACTIVE as AGENT_INACTIVE_POSTGRES, SQLITE as AGENT_STATUS_SQLITE,
    SQLITE_INACTIVE as AGENT_INACTIVE_SQLITE,
};

/// Agent fields that are real columns (copied from the document on every write): filters and
/// sorts on them use indexes.
pub const AGENT_COLUMNS: &[&str] = &[
    "policy_id",
    "active",
    "enrolled_at",
    "last_checkin",
    "last_checkin_status",
    "policy_revision_idx",
    "access_api_key_id",
    "version_sort",
    "hostname",
];

/// The agent column that holds a document field, if one does (`local_metadata.host.hostname`
/// is the `hostname` column; the other columns have their field's name).
pub fn agent_column(field: &str) -> Option<&'static str> {
    match field {
        "local_metadata.host.hostname" => Some("hostname"),
        "hostname" | "version_sort" => None,
        f => AGENT_COLUMNS.iter().copied().find(|c| *c == f),
    }
}

/// An agent version (`9.10.2`, `8.17.0-SNAPSHOT`) as a string that sorts like the version
/// (`0009.0010.0002`); None when it is not `major.minor.patch`.
pub fn version_sort_key(version: &str) -> Option<String> {
    let core = version.split(['-', '+']).next()?;
    let parts: Vec<u32> = core
        .split('.')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    match parts.as_slice() {
        [a, b, c] => Some(format!("{a:04}.{b:04}.{c:04}")),
        [a, b] => Some(format!("{a:04}.{b:04}.0000")),
        _ => None,
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub username: String,
    pub password_hash: String,
    pub roles: Vec<String>,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ApiKey {
    pub id: String,
    pub name: String,
    pub key_hash: String,
    pub role: String,
    pub owner: String,
    pub created_at: String,
    pub expiration: Option<String>,
    pub invalidated: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("document {kind}/{id} already exists")]
    AlreadyExists { kind: &'static str, id: String },
    #[error("document {kind}/{id} was changed by someone else")]
    Conflict { kind: &'static str, id: String },
    #[error("document {kind}/{id} not found")]
    NotFound { kind: &'static str, id: String },
    #[error("invalid query: {0}")]
    InvalidQuery(String),
    #[error("{0}")]
    Config(String),
    #[error("invalid query: {0}")]
    Query(#[from] kuery::sql::SqlError),
    #[error("stored document is not valid JSON: {0}")]
    Corrupt(#[from] serde_json::Error),
    /// The database could not take the work now (no free connection in time, a deadlock or a
    /// lock wait it gave up on, too many clients): nothing was written and trying again later
    /// can succeed. Agents are told to come back (503), like Fleet Server when Elasticsearch is
    /// unreachable.
    #[error("database busy: {0}")]
    Busy(String),
    #[error("database error: {0}")]
    Database(sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if is_transient(&e) {
            StoreError::Busy(e.to_string())
        } else {
            StoreError::Database(e)
        }
    }
}

/// Errors after which the same work can succeed when tried again: the pool had no connection
/// in time; the database could not be reached or the connection broke (refused, reset, closed:
/// the server restarting, a network cut, a terminated backend); PostgreSQL broke a deadlock
/// (40P01), failed a serializable transaction (40001), gave up a lock wait (55P03), lacked
/// resources (class 53: too many clients, out of memory or disk), lost or refused the
/// connection (class 08), was shut down or terminated the backend (57P01, 57P02, 57P03), or does
/// not accept connections to the database for now (55000 with that message, `ALTER DATABASE ...
/// ALLOW_CONNECTIONS false`); SQLite stayed busy or locked past its busy timeout (5, 6).
fn is_transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            let code = db.code();
            let code = code.as_deref().unwrap_or_default();
            matches!(
                code,
                "40P01"
                    | "40001"
                    | "55P03"
                    | "57P01"
                    | "57P02"
                    | "57P03"
                    | "5"
                    | "6"
                    | "261"
                    | "262"
                    | "517"
            ) || code.starts_with("53")
                || code.starts_with("08")
                || (code == "55000" && db.message().contains("not currently accepting connections"))
        }
        _ => false,
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Whether a transaction will write. SQLite serializes writers through one connection, so read
/// transactions never queue behind them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Read,
    Write,
}

/// The PostgreSQL notification channel of policy changes; payload `<revision>:<policy id>`.
pub const POLICY_CHANNEL: &str = "flotilla_policy_change";

/// Called with (agent policy id, revision) when any node commits a policy change.
pub type PolicyChangeListener = std::sync::Arc<dyn Fn(&str, i64) + Send + Sync>;

/// The PostgreSQL notification channel of new actions; payload: comma-separated agent ids.
pub const ACTION_CHANNEL: &str = "flotilla_actions";

/// Called with the agents that another node created actions for.
pub type ActionsListener = std::sync::Arc<dyn Fn(&[String]) + Send + Sync>;

#[async_trait]
pub trait Store: Send + Sync + 'static {
    async fn begin(&self, mode: Mode) -> Result<Box<dyn Tx>>;
    /// Starts delivering policy changes committed by other nodes sharing this store (PostgreSQL
    /// LISTEN/NOTIFY). A single-node store (SQLite) has no other nodes and does nothing.
    async fn listen_policy_changes(&self, _listener: PolicyChangeListener) -> Result<()> {
        Ok(())
    }
    /// Starts delivering the agents that other nodes created actions for, so that a node wakes
    /// the check-ins it holds for them. Nothing on a single-node store.
    async fn listen_actions(&self, _listener: ActionsListener) -> Result<()> {
        Ok(())
    }
    /// Tells the other nodes that actions were committed for these agents.
    async fn notify_actions(&self, _agent_ids: &[String]) -> Result<()> {
        Ok(())
    }
    /// Whether the database answers now: a read transaction is opened and rolled back.
    async fn ping(&self) -> Result<()> {
        let mut tx = self.begin(Mode::Read).await?;
        tx.count_users().await?;
        Ok(())
    }
    /// `sqlite` or `postgres`, for logs and benchmarks.
    fn backend(&self) -> &'static str;
    /// How many transactions run at once, where that should bound the agent requests a node
    /// admits (requests beyond a few per connection would only queue for one until the pool
    /// times out). None: no such bound (SQLite's single writer queues without a deadline).
    fn connections(&self) -> Option<usize> {
        None
    }
    async fn close(&self);
}

/// One transaction. Dropped without [`Tx::commit`], it rolls back.
#[async_trait]
pub trait Tx: Send {
    async fn commit(self: Box<Self>) -> Result<()>;

    /// Serializes writers of one kind for the rest of this transaction, for rules that read
    /// then write (unique names). SQLite already has a single writer; PostgreSQL takes an
    /// advisory transaction lock.
    async fn lock_kind(&mut self, kind: Kind) -> Result<()>;

    /// Announces a new policy revision to every node, once this transaction commits.
    async fn notify_policy_change(&mut self, policy_id: &str, revision: i64) -> Result<()>;

    async fn get(&mut self, kind: Kind, id: &str) -> Result<Option<Doc>>;
    async fn get_many(&mut self, kind: Kind, ids: &[String]) -> Result<Vec<Doc>>;
    async fn insert(&mut self, kind: Kind, id: &str, body: &Value) -> Result<Doc>;
    /// Replaces the body; with `expected_version`, fails with `Conflict` if it moved on.
    async fn update(
        &mut self,
        kind: Kind,
        id: &str,
        expected_version: Option<i64>,
        body: &Value,
    ) -> Result<Doc>;
    async fn delete(&mut self, kind: Kind, id: &str) -> Result<bool>;
    async fn find(&mut self, kind: Kind, query: &Query) -> Result<Vec<Doc>>;
    async fn count(&mut self, kind: Kind, filter: &Filter) -> Result<u64>;
    /// Deletes every document of `kind` matching `filter`; returns how many.
    async fn delete_where(&mut self, kind: Kind, filter: &Filter) -> Result<u64>;

    /// Creates or replaces an agent row (the agents issue grows this into the agent store).
    async fn put_agent(
        &mut self,
        id: &str,
        policy_id: Option<&str>,
        active: bool,
        doc: &Value,
    ) -> Result<()>;

    async fn agent_get(&mut self, id: &str) -> Result<Option<AgentRow>>;
    async fn agent_by_access_key(&mut self, api_key_id: &str) -> Result<Option<AgentRow>>;
    /// Fails with `AlreadyExists` when the id is taken.
    async fn agent_insert(&mut self, id: &str, body: &Value) -> Result<Doc>;
    async fn agent_update(
        &mut self,
        id: &str,
        expected_version: Option<i64>,
        body: &Value,
    ) -> Result<Doc>;
    async fn agent_delete(&mut self, id: &str) -> Result<bool>;
    /// Sort keys may name agent columns, `status`, or document paths. With `pit`, reads the
    /// point-in-time view instead of the live table.
    async fn agent_find(&mut self, pit: Option<&str>, query: &Query) -> Result<Vec<AgentRow>>;
    async fn agent_count(&mut self, pit: Option<&str>, filter: &Filter) -> Result<u64>;
    /// Copies every agent into a new point-in-time view; returns how many.
    async fn agent_pit_open(&mut self, pit: &str, expires_at: &str) -> Result<u64>;
    /// Extends a view that has not expired at `now`; false when it is unknown or expired.
    async fn agent_pit_keep_alive(
        &mut self,
        pit: &str,
        now: &str,
        expires_at: &str,
    ) -> Result<bool>;
    /// Drops the views expired at `now`.
    async fn agent_pit_sweep(&mut self, now: &str) -> Result<u64>;
    /// Matching agents per status.
    async fn agent_status_counts(&mut self, filter: &Filter) -> Result<Vec<(String, u64)>>;
    /// Sets `last_checkin` of many agents at once (held long-polls); returns how many.
    async fn agent_touch(&mut self, ids: &[String], at: &str) -> Result<u64>;

    /// Stores an action (Kibana's action document in `doc`).
    async fn action_insert(
        &mut self,
        action_id: &str,
        kind: &str,
        doc: &Value,
        created_at: &str,
        expiration: Option<&str>,
    ) -> Result<()>;
    async fn action_get(&mut self, action_id: &str) -> Result<Option<Doc>>;
    /// The action, only when it targets `agent_id` (what an agent may acknowledge).
    async fn action_get_for_agent(
        &mut self,
        action_id: &str,
        agent_id: &str,
    ) -> Result<Option<Doc>>;
    async fn action_update_doc(&mut self, action_id: &str, doc: &Value) -> Result<()>;
    /// Targets the agents of another action (a CANCEL reaches whom the cancelled action reached).
    async fn action_target_like(&mut self, action_id: &str, like: &str) -> Result<Vec<String>>;
    /// The actions whose document matches `filter`, newest first.
    async fn action_list(&mut self, filter: &Filter, offset: u64, limit: u64) -> Result<Vec<Doc>>;
    /// Targets every agent matching `filter` with the action, in one statement; returns their ids.
    async fn action_target(&mut self, action_id: &str, filter: &Filter) -> Result<Vec<String>>;
    /// Targets the agents among `ids` that match `filter` (primary-key lookups, one statement);
    /// returns their ids.
    async fn action_target_ids(
        &mut self,
        action_id: &str,
        ids: &[String],
        filter: &Filter,
    ) -> Result<Vec<String>>;
    /// Actions for an agent after the cursor `after_seq`, not expired at `now` and not yet
    /// answered: (cursor, action document), oldest first.
    async fn action_pending(
        &mut self,
        agent_id: &str,
        after_seq: i64,
        now: &str,
        limit: u64,
    ) -> Result<Vec<(i64, Doc)>>;
    /// Merges `patch` (top-level fields; null unsets) into every agent the action targets whose
    /// id is in (`after`, `upto`] (either bound optional), in one statement; `policy_id` in the
    /// patch also moves the column. Returns how many.
    async fn agents_patch_for_action(
        &mut self,
        action_id: &str,
        after: Option<&str>,
        upto: Option<&str>,
        patch: &Value,
    ) -> Result<u64>;
    /// Ids of agents matching `filter` after `after`, in id order.
    async fn agent_ids(
        &mut self,
        filter: &Filter,
        after: Option<&str>,
        limit: u64,
    ) -> Result<Vec<String>>;

    /// Records a bulk job for an action (its spec; no progress yet).
    async fn job_insert(&mut self, action_id: &str, spec: &Value, at: &str) -> Result<()>;
    /// Reads a job; with `lock`, holds it for this write transaction (PostgreSQL row lock;
    /// SQLite's single writer already serializes), so two nodes never run the same batch.
    async fn job_get(&mut self, action_id: &str, lock: bool) -> Result<Option<BulkJob>>;
    /// Moves a job's cursor (the last agent id handled) and marks it done or not.
    async fn job_advance(
        &mut self,
        action_id: &str,
        cursor: Option<&str>,
        done: bool,
        at: &str,
    ) -> Result<()>;
    /// Unfinished jobs last advanced before `before`, oldest first.
    async fn jobs_unfinished(&mut self, before: &str) -> Result<Vec<String>>;

    /// Actions of `kind` an agent was targeted by, newest first, each with the agent's result
    /// (its document) when it answered.
    async fn agent_actions(
        &mut self,
        agent_id: &str,
        kind: &str,
        limit: u64,
    ) -> Result<Vec<(Doc, Option<Value>)>>;

    /// Stores (or replaces) chunk `n` of an upload.
    async fn chunk_put(&mut self, upload_id: &str, n: i64, sha2: &str, data: &[u8]) -> Result<()>;
    /// An upload's chunks: (number, SHA-256 hex, length), in order.
    async fn chunk_list(&mut self, upload_id: &str) -> Result<Vec<(i64, String, i64)>>;
    async fn chunk_get(&mut self, upload_id: &str, n: i64) -> Result<Option<Vec<u8>>>;
    async fn chunks_delete(&mut self, upload_id: &str) -> Result<u64>;
    /// Stores (or replaces) an installed package's archive.
    async fn archive_put(&mut self, name: &str, version: &str, data: &[u8]) -> Result<()>;
    async fn archive_get(&mut self, name: &str, version: &str) -> Result<Option<Vec<u8>>>;
    /// Removes every stored archive of the package.
    async fn archives_delete(&mut self, name: &str) -> Result<u64>;
    /// Records the status counts (JSON text) for the minute `at`, unless that minute already
    /// has them; true when this call wrote them.
    async fn status_sample_put(&mut self, at: &str, counts: &str) -> Result<bool>;
    async fn status_sample_exists(&mut self, at: &str) -> Result<bool>;
    /// Samples at or after `since`, oldest first.
    async fn status_samples(&mut self, since: &str) -> Result<Vec<(String, String)>>;
    /// Removes samples older than `before`.
    async fn status_samples_prune(&mut self, before: &str) -> Result<u64>;
    /// Records an agent's result; false when it already had one.
    async fn action_result_insert(
        &mut self,
        action_id: &str,
        agent_id: &str,
        doc: &Value,
        created_at: &str,
        error: Option<&str>,
    ) -> Result<bool>;
    /// (agents targeted, results, failed results, newest result time).
    async fn action_counts(&mut self, action_id: &str) -> Result<(u64, u64, u64, Option<String>)>;
    /// The newest failures: (agent id, error, time).
    async fn action_errors(
        &mut self,
        action_id: &str,
        limit: u64,
    ) -> Result<Vec<(String, String, String)>>;

    /// Agents assigned to each policy (active ones, or all), for the ids given.
    async fn count_agents_by_policy(
        &mut self,
        policy_ids: &[String],
        active_only: bool,
    ) -> Result<Vec<(String, u64)>>;

    /// Active agents of a policy grouped by their reported agent version.
    async fn agent_versions_by_policy(&mut self, policy_id: &str) -> Result<Vec<(String, u64)>>;

    async fn get_user(&mut self, username: &str) -> Result<Option<User>>;
    async fn count_users(&mut self) -> Result<u64>;
    async fn put_user(&mut self, user: &User) -> Result<()>;

    async fn insert_api_key(&mut self, key: &ApiKey) -> Result<()>;
    async fn get_api_key(&mut self, id: &str) -> Result<Option<ApiKey>>;
    async fn list_api_keys(&mut self) -> Result<Vec<ApiKey>>;
    /// Marks the keys invalidated; returns the ids that were valid before.
    async fn invalidate_api_keys(&mut self, ids: &[String]) -> Result<Vec<String>>;
}

/// Opens the store a URL names (`sqlite://PATH`, `sqlite::memory:`, `postgres://...`) and runs
/// its migrations.
pub async fn open(url: &str) -> Result<std::sync::Arc<dyn Store>> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(std::sync::Arc::new(
            PostgresStore::connect(url, None).await?,
        ))
    } else if url.starts_with("sqlite:") {
        Ok(std::sync::Arc::new(SqliteStore::connect(url).await?))
    } else {
        Err(StoreError::Config(format!(
            "unsupported database URL scheme in [{url}]: expected sqlite:// or postgres://"
        )))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn version_keys_sort_like_versions() {
        let k = |v| super::version_sort_key(v).unwrap();
        assert!(k("9.2.0") < k("9.10.0"));
        assert!(k("8.17.2") < k("9.0.0"));
        assert_eq!(k("9.1.0-SNAPSHOT"), k("9.1.0"));
        assert_eq!(super::version_sort_key("nope"), None);
    }

    #[test]
    fn only_transient_database_errors_are_busy() {
        use super::StoreError;
        assert!(matches!(
            StoreError::from(sqlx::Error::PoolTimedOut),
            StoreError::Busy(_)
        ));
        assert!(matches!(
            StoreError::from(sqlx::Error::RowNotFound),
            StoreError::Database(_)
        ));
        assert!(matches!(
            StoreError::from(sqlx::Error::PoolClosed),
            StoreError::Database(_)
        ));
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert!(matches!(
            StoreError::from(sqlx::Error::Io(refused)),
            StoreError::Busy(_)
        ));
    }
}
