//! Shared test support: a real `flotilla` server on random ports with a throw-away store, and
//! an HTTP client that adds auth and `kbn-xsrf`. Every HTTP test runs on SQLite and, when
//! `FLOTILLA_TEST_DATABASE_URL` is set, on PostgreSQL (one schema per test).
#![allow(dead_code)]

pub mod faulty;

use std::sync::Arc;

use flotilla::{Config, Server};
use reqwest::{Method, StatusCode};
use serde_json::Value;

pub const PASSWORD: &str = "changeme";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestServer {
    pub server: Option<Server>,
    pub base: String,
    pub agent_base: String,
    pub http: reqwest::Client,
    /// `Authorization` sent by the helpers (`Basic elastic:changeme` unless changed).
    pub auth: Option<String>,
    _dir: tempfile::TempDir,
    pg_schema: Option<(String, String)>,
    /// The database URL (SQLite file or PostgreSQL), for restarts.
    url: String,
    /// The `[preconfiguration]` section restarts start with.
    pub preconfiguration: Option<Value>,
    /// The `--package-dir` restarts start with.
    pub package_dir: Option<std::path::PathBuf>,
    /// The `--registry-url` restarts start with ("" = none).
    pub registry_url: String,
}

/// A real package kept in the repository (`tests/fixtures/packages/<name>`: nginx, system,
/// elastic_agent as published; see `tests/fixtures/NOTICE.md`). Missing is a broken checkout,
/// so the test fails rather than skipping.
pub fn reference_package(name: &str) -> std::path::PathBuf {
    let dir = fixture_package(name);
    assert!(
        dir.join("manifest.yml").is_file(),
        "{} is missing from the repository",
        dir.display()
    );
    dir
}

/// One of the project's own test packages (`tests/fixtures/packages/<name>`).
pub fn fixture_package(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/packages")
        .join(name)
}

/// What a test server starts with beyond the defaults.
#[derive(Default)]
pub struct Options {
    pub preconfiguration: Option<Value>,
    /// Package folders (`<name>-<version>`) to serve from `--package-dir`.
    pub packages: Vec<std::path::PathBuf>,
    pub registry_url: Option<String>,
    /// The listeners' header-read timeout (the server's default when None).
    pub header_read_timeout: Option<std::time::Duration>,
}

/// The PostgreSQL URL for tests, or None (and a note) when PostgreSQL tests are not wanted.
pub fn postgres_url() -> Option<String> {
    match std::env::var("FLOTILLA_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            if std::env::var("FLOTILLA_REQUIRE_POSTGRES").is_ok() {
                panic!("FLOTILLA_REQUIRE_POSTGRES is set but FLOTILLA_TEST_DATABASE_URL is not");
            }
            eprintln!("skipped: set FLOTILLA_TEST_DATABASE_URL to run this test on PostgreSQL");
            None
        }
    }
}

/// Opens an empty store on the backend (None: PostgreSQL not configured).
pub async fn open_store(
    backend: Backend,
    dir: &std::path::Path,
) -> Option<(
    Arc<dyn fleet::store::Store>,
    Option<(String, String)>,
    String,
)> {
    match backend {
        Backend::Sqlite => {
            let url = format!("sqlite://{}", dir.join("flotilla.db").display());
            let store = fleet::store::open(&url).await.expect("open SQLite store");
            Some((store, None, url))
        }
        Backend::Postgres => {
            let url = postgres_url()?;
            let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
            let store = fleet::store::PostgresStore::connect(&url, Some(&schema))
                .await
                .expect("connect to FLOTILLA_TEST_DATABASE_URL");
            Some((Arc::new(store), Some((url.clone(), schema)), url))
        }
    }
}

impl TestServer {
    /// Starts a server; None when the backend is not configured here (the test then passes
    /// after printing why it skipped).
    pub async fn start(backend: Backend) -> Option<TestServer> {
        Self::start_wrapped(backend, |s| s).await
    }

    /// Like [`TestServer::start`], with the store wrapped first (fault injection).
    pub async fn start_wrapped(
        backend: Backend,
        wrap: impl FnOnce(Arc<dyn fleet::store::Store>) -> Arc<dyn fleet::store::Store>,
    ) -> Option<TestServer> {
        Self::start_full(backend, wrap, Options::default()).await
    }

    /// Like [`TestServer::start`], with a `[preconfiguration]` section.
    pub async fn start_preconfigured(backend: Backend, pre: Value) -> Option<TestServer> {
        let options = Options {
            preconfiguration: Some(pre),
            ..Default::default()
        };
        Self::start_full(backend, |s| s, options).await
    }

    /// A server on a store the test opened itself (a PostgreSQL database of its own, say); the
    /// SQLite file made for it stays unused, and the test drops what it made.
    pub async fn start_on_store(store: Arc<dyn fleet::store::Store>) -> TestServer {
        Self::start_full(Backend::Sqlite, |_| store, Options::default())
            .await
            .expect("SQLite is always there")
    }

    /// Like [`TestServer::start`], with packages and a registry.
    pub async fn start_with(backend: Backend, options: Options) -> Option<TestServer> {
        Self::start_full(backend, |s| s, options).await
    }

    async fn start_full(
        backend: Backend,
        wrap: impl FnOnce(Arc<dyn fleet::store::Store>) -> Arc<dyn fleet::store::Store>,
        options: Options,
    ) -> Option<TestServer> {
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, pg_schema, url) = open_store(backend, dir.path()).await?;
        let package_dir = (!options.packages.is_empty()).then(|| {
            let pkgs = dir.path().join("packages");
            std::fs::create_dir_all(&pkgs).expect("package dir");
            for p in &options.packages {
                let target = std::fs::canonicalize(p).expect("package folder exists");
                std::os::unix::fs::symlink(&target, pkgs.join(p.file_name().unwrap()))
                    .expect("link package");
            }
            pkgs
        });
        let registry_url = options.registry_url.clone().unwrap_or_default();
        let preconfiguration = options.preconfiguration;
        let mut config = Config::with_database(dir.path(), &url);
        config.elastic_password = Some(PASSWORD.into());
        config.checkin_min_poll = std::time::Duration::from_millis(200);
        config.preconfiguration = preconfiguration.clone();
        config.package_dir = package_dir.clone();
        config.registry_url = registry_url.clone();
        if let Some(t) = options.header_read_timeout {
            config.header_read_timeout = t;
        }
        let server = flotilla::start_with_store(&config, wrap(store))
            .await
            .expect("server starts");
        let base = format!("http://{}", server.api_addr);
        let agent_base = format!("http://{}", server.agent_addr);
        Some(TestServer {
            server: Some(server),
            base,
            agent_base,
            http: reqwest::Client::new(),
            auth: Some(basic("elastic", PASSWORD)),
            _dir: dir,
            pg_schema,
            url,
            preconfiguration,
            package_dir,
            registry_url,
        })
    }

    /// A second server sharing this one's PostgreSQL schema (another node of the same
    /// deployment); None on SQLite.
    pub async fn another_node(&self) -> Option<TestServer> {
        let (url, schema) = self.pg_schema.clone()?;
        let store = fleet::store::PostgresStore::connect(&url, Some(&schema))
            .await
            .expect("second node connects");
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config::with_database(dir.path(), &url);
        config.elastic_password = Some(PASSWORD.into());
        config.checkin_min_poll = std::time::Duration::from_millis(200);
        config.package_dir = self.package_dir.clone();
        config.registry_url = self.registry_url.clone();
        let server = flotilla::start_with_store(&config, Arc::new(store))
            .await
            .expect("second node starts");
        Some(TestServer {
            base: format!("http://{}", server.api_addr),
            agent_base: format!("http://{}", server.agent_addr),
            server: Some(server),
            http: reqwest::Client::new(),
            auth: self.auth.clone(),
            _dir: dir,
            // The first node owns the schema and drops it.
            pg_schema: None,
            url,
            preconfiguration: None,
            package_dir: self.package_dir.clone(),
            registry_url: self.registry_url.clone(),
        })
    }

    /// Stops the server (as `flotilla serve` stops on SIGTERM) and starts a new one on the same
    /// database, on new ports.
    pub async fn restart(&mut self) {
        self.halt().await;
        let store = self.reopen().await;
        self.resume(store).await;
    }

    /// Stops the server, keeping its database.
    pub async fn halt(&mut self) {
        self.server.take().expect("server running").shutdown().await;
    }

    /// Opens this server's database again (while it is halted, to look at what it left).
    pub async fn reopen(&self) -> Arc<dyn fleet::store::Store> {
        match &self.pg_schema {
            Some((url, schema)) => Arc::new(
                fleet::store::PostgresStore::connect(url, Some(schema))
                    .await
                    .expect("reconnect"),
            ),
            None => fleet::store::open(&self.url).await.expect("reopen"),
        }
    }

    /// Starts a halted server again on `store` (from [`TestServer::reopen`]), on new ports.
    pub async fn resume(&mut self, store: Arc<dyn fleet::store::Store>) {
        let mut config = Config::with_database(self._dir.path(), &self.url);
        config.elastic_password = Some(PASSWORD.into());
        config.checkin_min_poll = std::time::Duration::from_millis(200);
        config.preconfiguration = self.preconfiguration.clone();
        config.package_dir = self.package_dir.clone();
        config.registry_url = self.registry_url.clone();
        let server = flotilla::start_with_store(&config, store)
            .await
            .expect("server restarts");
        self.base = format!("http://{}", server.api_addr);
        self.agent_base = format!("http://{}", server.agent_addr);
        self.server = Some(server);
    }

    /// Writes `n` agents straight into the store (ids `seed-000000`…), active on `policy_id`,
    /// reporting `version` and upgradeable, each with its own agent API key; for tests that need
    /// many agents quickly. Returns (agent id, `Authorization: ApiKey` token).
    pub async fn seed_agents(
        &self,
        policy_id: &str,
        n: usize,
        version: &str,
    ) -> Vec<(String, String)> {
        use base64::Engine;
        let mut tx = self
            .fleet()
            .store
            .begin(fleet::store::Mode::Write)
            .await
            .unwrap();
        let at = fleet::time::now();
        let secret = "seed-agent-secret";
        let key_hash = fleet::auth::hash_secret(secret);
        let mut agents = Vec::with_capacity(n);
        for i in 0..n {
            let id = format!("seed-{i:06}");
            let key_id = format!("seedkey-{i:06}");
            tx.insert_api_key(&fleet::store::ApiKey {
                id: key_id.clone(),
                name: format!("agent:{id}"),
                key_hash: key_hash.clone(),
                role: "agent".into(),
                owner: format!("agent:{id}"),
                created_at: at.clone(),
                expiration: None,
                invalidated: false,
            })
            .await
            .unwrap();
            let doc = serde_json::json!({
                "active": true, "policy_id": policy_id, "type": "PERMANENT", "enrolled_at": at,
                "last_checkin": at, "last_checkin_status": "online", "policy_revision_idx": 1,
                "access_api_key_id": key_id,
                "local_metadata": {"host": {"hostname": format!("seed-{i}")}, "elastic": {"agent": {"version": version, "upgradeable": true}}},
                "agent": {"id": id, "version": version},
            });
            tx.agent_insert(&id, &doc).await.unwrap();
            let token =
                base64::engine::general_purpose::STANDARD.encode(format!("{key_id}:{secret}"));
            agents.push((id, token));
        }
        tx.commit().await.unwrap();
        agents
    }

    pub fn fleet(&self) -> &fleet::Fleet {
        &self.server.as_ref().expect("server running").fleet
    }

    /// Sends a request with auth and `kbn-xsrf`; returns the status and the JSON body
    /// (or the text as a JSON string when it is not JSON).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("kbn-xsrf", "test");
        if let Some(auth) = &self.auth {
            req = req.header("authorization", auth);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await.expect("request sent");
        let status = res.status();
        let text = res.text().await.expect("body read");
        let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, json)
    }

    /// POSTs `size` bytes on a fresh connection and returns the raw answer. The answer is read
    /// while the body is still being written: the server answers 413 at its limit and closes,
    /// and a client that only reads after writing everything can lose the answer to the
    /// connection reset (it raced on a busy machine). A reset is retried.
    pub async fn oversized_post(&self, path: &str, content_type: &str, size: usize) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let addr = self.base.trim_start_matches("http://").to_string();
        let mut answer = String::new();
        for _ in 0..5 {
            let stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
            let (mut read, mut write) = stream.into_split();
            let head = format!(
                "POST {path} HTTP/1.1\r\nhost: {addr}\r\nauthorization: {}\r\nkbn-xsrf: x\r\ncontent-type: {content_type}\r\ncontent-length: {size}\r\nconnection: close\r\n\r\n",
                self.auth.clone().unwrap()
            );
            let writer = tokio::spawn(async move {
                write.write_all(head.as_bytes()).await?;
                let chunk = vec![0u8; 64 * 1024];
                for _ in 0..size.div_ceil(chunk.len()) {
                    write.write_all(&chunk).await?;
                }
                std::io::Result::Ok(())
            });
            let mut buf = Vec::new();
            let read = tokio::time::timeout(
                std::time::Duration::from_secs(30),
                read.read_to_end(&mut buf),
            )
            .await;
            writer.abort();
            answer = String::from_utf8_lossy(&buf).to_string();
            if matches!(read, Ok(Ok(_))) && answer.contains("\r\n\r\n") {
                break;
            }
        }
        answer
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }
    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(body)).await
    }
    pub async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PUT, path, Some(body)).await
    }

    /// Creates an agent policy and returns its item, asserting success.
    pub async fn create_policy(&self, body: Value) -> Value {
        let (status, res) = self.post("/api/fleet/agent_policies", body).await;
        assert_eq!(status, 200, "create policy: {res}");
        res["item"].clone()
    }

    pub async fn stop(mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await;
        }
        if let Some((url, schema)) = self.pg_schema.take() {
            let _ = fleet::store::PostgresStore::drop_schema(&url, &schema).await;
        }
    }
}

/// The User-Agent a supported Elastic Agent sends.
pub const AGENT_UA: &str = "elastic agent 9.1.0";

impl TestServer {
    /// A call on the agent listener, as an agent makes it.
    pub async fn agent_call(
        &self,
        path: &str,
        auth: Option<&str>,
        body: Value,
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .post(format!("{}{path}", self.agent_base))
            .header("user-agent", AGENT_UA)
            .json(&body);
        if let Some(a) = auth {
            req = req.header("authorization", format!("ApiKey {a}"));
        }
        let res = req.send().await.expect("request sent");
        let status = res.status();
        let text = res.text().await.expect("body read");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// The default enrollment token of a policy.
    pub async fn enrollment_token(&self, policy_id: &str) -> String {
        let (_, list) = self
            .get(&format!(
                "/api/fleet/enrollment_api_keys?kuery=policy_id:%22{policy_id}%22"
            ))
            .await;
        list["items"][0]["api_key"]
            .as_str()
            .expect("a default enrollment key")
            .to_string()
    }

    /// Enrolls an agent; returns (agent id, access key).
    pub async fn enroll(&self, token: &str, hostname: &str) -> (String, String) {
        let (status, res) = self
            .agent_call(
                "/api/fleet/agents/enroll",
                Some(token),
                serde_json::json!({"type": "PERMANENT", "metadata": {"local": {"host": {"hostname": hostname}, "elastic": {"agent": {"version": "9.1.0", "id": "x"}}}, "user_provided": {}, "tags": ["t1"]}}),
            )
            .await;
        assert_eq!(status, 200, "enroll: {res}");
        (
            res["item"]["id"].as_str().unwrap().to_string(),
            res["item"]["access_api_key"].as_str().unwrap().to_string(),
        )
    }
}

pub fn basic(user: &str, password: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// Defines a test that runs once per backend: `mod NAME { fn sqlite(); fn postgres(); }`.
#[macro_export]
macro_rules! both_backends {
    ($(#[$meta:meta])* async fn $name:ident($srv:ident: TestServer) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            async fn run($srv: $crate::support::TestServer) $body
            $(#[$meta])*
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                if let Some(s) = $crate::support::TestServer::start($crate::support::Backend::Sqlite).await {
                    run(s).await;
                }
            }
            $(#[$meta])*
            // An at-scale test is already ignored; without PostgreSQL it is ignored twice.
            #[allow(unused_attributes)]
            #[cfg_attr(not(postgres_tests), ignore = "needs PostgreSQL: set FLOTILLA_TEST_DATABASE_URL")]
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(s) = $crate::support::TestServer::start($crate::support::Backend::Postgres).await {
                    run(s).await;
                }
            }
        }
    };
}

/// Percent-encodes a query-string value.
pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Like `both_backends!`, for a server started with [`Options`]; the options expression is an
/// `Option<Options>` (None: a reference package is absent, and the test skips).
#[macro_export]
macro_rules! both_backends_with {
    ($options:expr; $(#[$meta:meta])* async fn $name:ident($srv:ident: TestServer) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            async fn run($srv: $crate::support::TestServer) $body
            $(#[$meta])*
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let Some(options) = $options else { return };
                if let Some(s) = $crate::support::TestServer::start_with($crate::support::Backend::Sqlite, options).await {
                    run(s).await;
                }
            }
            $(#[$meta])*
            // An at-scale test is already ignored; without PostgreSQL it is ignored twice.
            #[allow(unused_attributes)]
            #[cfg_attr(not(postgres_tests), ignore = "needs PostgreSQL: set FLOTILLA_TEST_DATABASE_URL")]
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(options) = $options else { return };
                if let Some(s) = $crate::support::TestServer::start_with($crate::support::Backend::Postgres, options).await {
                    run(s).await;
                }
            }
        }
    };
}
