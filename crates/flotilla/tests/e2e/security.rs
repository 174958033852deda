//! The holes found when Flotilla was attacked as an outsider, a read-only user, a tenant of
//! another space and a rogue agent, each held shut over HTTP (on both stores where a store is
//! involved): privileges of read-only users, password floods and timing, space isolation,
//! package names reaching the file system, the database going away, redirects after login,
//! slow headers, huge durations, API key management, acks of another agent's action, and
//! bodies that are not JSON.

use std::time::Duration;

use crate::support::{basic, Backend, Options, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// A request with the given `Authorization` and extra headers; (status, headers, body).
async fn send(
    srv: &TestServer,
    method: Method,
    path: &str,
    auth: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut req = srv
        .http
        .request(method, format!("{}{path}", srv.base))
        .header("authorization", auth);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if let Some(b) = body {
        req = req.body(b.to_string());
    }
    let res = req.send().await.expect("request sent");
    let (status, headers) = (res.status(), res.headers().clone());
    let text = res.text().await.unwrap_or_default();
    (
        status,
        headers,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn as_user(srv: &TestServer, auth: &str, method: Method, path: &str) -> (StatusCode, Value) {
    let (status, _, body) = send(srv, method, path, auth, &[("kbn-xsrf", "x")], None).await;
    (status, body)
}

both_backends! {
    async fn fleet_read_holds_no_enrollment_or_uninstall_tokens(srv: TestServer) {
        srv.fleet().auth.put_user("reader", "readpw", fleet::auth::Role::FleetRead).await.unwrap();
        srv.fleet().auth.put_user("admin", "adminpw", fleet::auth::Role::FleetAdmin).await.unwrap();
        let reader = basic("reader", "readpw");
        let admin = basic("admin", "adminpw");
        let policy = srv.create_policy(json!({"name": "p", "namespace": "default"})).await;
        let pid = policy["id"].as_str().unwrap();
        let (_, keys) = srv.get("/api/fleet/enrollment_api_keys").await;
        let key_id = keys["items"][0]["id"].as_str().unwrap().to_string();
        let (_, tokens) = srv.get(&format!("/api/fleet/uninstall_tokens?policyId={pid}")).await;
        let token_id = tokens["items"][0]["id"].as_str().unwrap().to_string();
        let (_, agent) = srv.get("/api/fleet/agents").await;
        assert_eq!(agent["total"], 0);

        for path in [
            "/api/fleet/enrollment_api_keys".to_string(),
            format!("/api/fleet/enrollment_api_keys/{key_id}"),
            "/api/fleet/uninstall_tokens".to_string(),
            format!("/api/fleet/uninstall_tokens/{token_id}"),
        ] {
            let (status, body) = as_user(&srv, &reader, Method::GET, &path).await;
            assert_eq!(status, 403, "{path}: {body}");
            assert_eq!(body["message"], format!("API [GET {}] is unauthorized for user, this action is granted by the Kibana privileges [fleet-agents-all]", path.split('?').next().unwrap()));
            assert!(!body.to_string().contains("api_key\""), "no token in the refusal");
            let (status, body) = as_user(&srv, &admin, Method::GET, &path).await;
            assert_eq!(status, 200, "{path}: {body}");
        }
        let (status, _) = as_user(&srv, &reader, Method::POST, "/api/fleet/agents/nope/request_diagnostics").await;
        assert_eq!(status, 403, "diagnostics bundles are not the readers'");
        // What readers keep.
        for path in ["/api/fleet/agents", "/api/fleet/agent_policies", &format!("/api/fleet/agent_policies/{pid}/full"), "/api/fleet/outputs", "/api/fleet/settings"] {
            let (status, body) = as_user(&srv, &reader, Method::GET, path).await;
            assert_eq!(status, 200, "{path}: {body}");
        }
        srv.stop().await;
    }
}

/// Requests with a wrong password, all at once; the statuses they got.
async fn password_flood(srv: &TestServer, user: &str, n: usize) -> Vec<(StatusCode, bool)> {
    let auth = basic(user, "wrong password");
    let requests = (0..n).map(|_| {
        let auth = auth.clone();
        async move {
            let (status, headers, _) = send(
                srv,
                Method::GET,
                "/api/fleet/agent_policies",
                &auth,
                &[],
                None,
            )
            .await;
            (status, headers.contains_key("retry-after"))
        }
    });
    futures::future::join_all(requests).await
}

both_backends! {
    async fn a_password_flood_is_shed_and_api_keys_keep_working(srv: TestServer) {
        let key = srv.fleet().auth.create_api_key("elastic", "during the flood", fleet::auth::Role::Superuser, None).await.unwrap();
        let key_auth = format!("ApiKey {}", key.encoded);
        let flood = password_flood(&srv, "elastic", 48);
        let legit = async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            send(&srv, Method::GET, "/api/fleet/agent_policies", &key_auth, &[], None).await.0
        };
        let (answers, legit) = tokio::join!(flood, legit);
        assert_eq!(legit, 200, "API keys never wait for password checks");
        let shed = answers.iter().filter(|(s, _)| *s == StatusCode::TOO_MANY_REQUESTS).count();
        let refused = answers.iter().filter(|(s, _)| *s == StatusCode::UNAUTHORIZED).count();
        assert_eq!(shed + refused, answers.len(), "{answers:?}");
        assert!(shed > 0, "password checks beyond the bound are answered 429: {answers:?}");
        assert!(answers.iter().all(|(s, retry)| *s != StatusCode::TOO_MANY_REQUESTS || *retry), "429 says when to retry");
        // Unknown users cost the same Argon2 run (no enumeration by timing): they queue for it
        // and are shed alike.
        let answers = password_flood(&srv, "nobody-at-all", 48).await;
        assert!(answers.iter().any(|(s, _)| *s == StatusCode::TOO_MANY_REQUESTS), "{answers:?}");
        assert!(answers.iter().all(|(s, _)| matches!(*s, StatusCode::TOO_MANY_REQUESTS | StatusCode::UNAUTHORIZED)));
        // The right password still works once the flood is over.
        let (status, _) = srv.get("/api/fleet/agent_policies").await;
        assert_eq!(status, 200);
        srv.stop().await;
    }
}

both_backends! {
    async fn unknown_users_and_wrong_passwords_answer_alike(srv: TestServer) {
        let login = |user: &str| json!({"providerType": "basic", "providerName": "basic", "currentURL": "http://x/login", "params": {"username": user, "password": "nope"}});
        for user in ["elastic", "nobody"] {
            let res = srv.http.post(format!("{}/internal/security/login", srv.base)).header("kbn-xsrf", "x").json(&login(user)).send().await.unwrap();
            assert_eq!(res.status(), 401);
            assert_eq!(res.json::<Value>().await.unwrap(), json!({"statusCode": 401, "error": "Unauthorized", "message": "Unauthorized"}));
        }
        srv.stop().await;
    }
}

/// A diagnostics bundle of a few bytes uploaded by `agent` for `action_id`; its upload id.
async fn upload_bundle(srv: &TestServer, agent: &str, key: &str, action_id: &str) -> String {
    let bundle = b"a small diagnostics bundle".to_vec();
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let begin = json!({"file": {"name": "bundle.zip", "size": bundle.len(), "mime_type": "application/zip", "hash": {"sha256": hex(&Sha256::digest(&bundle))}}, "action_id": action_id, "agent_id": agent, "src": "agent"});
    let (status, res) = srv.agent_call("/api/fleet/uploads", Some(key), begin).await;
    assert_eq!(status, 200, "{res}");
    let upload = res["upload_id"].as_str().unwrap().to_string();
    let chunk_hash = Sha256::digest(&bundle);
    let res = srv
        .http
        .put(format!("{}/api/fleet/uploads/{upload}/0", srv.agent_base))
        .header("authorization", format!("ApiKey {key}"))
        .header("user-agent", crate::support::AGENT_UA)
        .header("x-chunk-sha2", hex(&chunk_hash))
        .body(bundle)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let transit = hex(&Sha256::digest(chunk_hash));
    let (status, res) = srv
        .agent_call(
            &format!("/api/fleet/uploads/{upload}"),
            Some(key),
            json!({"transithash": {"sha256": transit}}),
        )
        .await;
    assert_eq!(status, 200, "{res}");
    srv.agent_call(&format!("/api/fleet/agents/{agent}/acks"), Some(key), json!({"events": [{"agent_id": agent, "action_id": action_id, "data": {"upload_id": upload}}]})).await;
    upload
}

both_backends! {
    async fn another_space_sees_none_of_tokens_keys_files_or_counts(srv: TestServer) {
        let (status, spa) = srv.post("/s/spa/api/fleet/agent_policies", json!({"name": "spa policy", "namespace": "default"})).await;
        assert_eq!(status, 200, "{spa}");
        let spa_policy = spa["item"]["id"].as_str().unwrap().to_string();
        let (status, _) = srv.post("/s/spb/api/fleet/agent_policies", json!({"name": "spb policy", "namespace": "default"})).await;
        assert_eq!(status, 200);

        // Uninstall tokens.
        let (_, tokens) = srv.get("/s/spa/api/fleet/uninstall_tokens").await;
        assert_eq!(tokens["total"], 1, "{tokens}");
        let spa_token = tokens["items"][0]["id"].as_str().unwrap().to_string();
        let (status, body) = srv.get(&format!("/s/spb/api/fleet/uninstall_tokens/{spa_token}")).await;
        assert_eq!(status, 404, "{body}");
        assert_eq!(body["message"], format!("Uninstall Token not found with id {spa_token}"));
        assert!(!body.to_string().contains("token\":"), "{body}");
        let (_, tokens) = srv.get("/s/spb/api/fleet/uninstall_tokens").await;
        assert_eq!(tokens["total"], 1, "only spb's own: {tokens}");
        assert_ne!(tokens["items"][0]["id"], json!(spa_token));
        let (status, _) = srv.get(&format!("/s/spa/api/fleet/uninstall_tokens/{spa_token}")).await;
        assert_eq!(status, 200);

        // Enrollment keys: neither by id nor by a kuery on spa's policy.
        let (_, keys) = srv.get("/s/spa/api/fleet/enrollment_api_keys").await;
        let spa_key = keys["items"][0]["id"].as_str().unwrap().to_string();
        let (status, res) = srv.post("/s/spb/api/fleet/enrollment_api_keys/_bulk_delete", json!({"tokenIds": [spa_key]})).await;
        assert_eq!(status, 200, "{res}");
        assert_eq!(res["successCount"], 0, "{res}");
        let (status, res) = srv.post("/s/spb/api/fleet/enrollment_api_keys/_bulk_delete", json!({"kuery": format!("policy_id:\"{spa_policy}\"")})).await;
        assert_eq!(status, 200, "{res}");
        assert_eq!(res["successCount"], 0, "{res}");
        let (_, key) = srv.get(&format!("/s/spa/api/fleet/enrollment_api_keys/{spa_key}")).await;
        assert_eq!(key["item"]["active"], true, "spa's key still works: {key}");

        // An agent of spa with a diagnostics bundle.
        let token = key["item"]["api_key"].as_str().unwrap().to_string();
        let (agent, agent_key) = srv.enroll(&token, "spa-host").await;
        let (status, res) = srv.post(&format!("/s/spa/api/fleet/agents/{agent}/request_diagnostics"), json!({})).await;
        assert_eq!(status, 200, "{res}");
        let action = res["actionId"].as_str().unwrap().to_string();
        let upload = upload_bundle(&srv, &agent, &agent_key, &action).await;
        let (_, list) = srv.get(&format!("/s/spa/api/fleet/agents/{agent}/uploads")).await;
        assert_eq!(list["items"][0]["status"], "READY", "{list}");
        let (status, list) = srv.get(&format!("/s/spb/api/fleet/agents/{agent}/uploads")).await;
        assert_eq!((status, list), (StatusCode::OK, json!({"items": []})), "as for an unknown agent");
        let (status, body) = srv.get(&format!("/s/spb/api/fleet/agents/files/{upload}/bundle.zip")).await;
        assert_eq!(status, 404, "{body}");
        let (status, _) = srv.call(Method::DELETE, &format!("/s/spb/api/fleet/agents/files/{upload}"), None).await;
        assert_eq!(status, 404);
        let (status, _) = srv.get(&format!("/s/spa/api/fleet/agents/files/{upload}/bundle.zip")).await;
        assert_eq!(status, 200, "still there for its own space");

        // Agent counts.
        let (_, counts) = srv.get(&format!("/s/spb/api/fleet/agent_status?policyId={spa_policy}")).await;
        assert_eq!(counts["results"]["all"], 0, "{counts}");
        let (_, counts) = srv.get("/s/spb/api/fleet/agent_status").await;
        assert_eq!(counts["results"]["all"], 0, "{counts}");
        let (_, counts) = srv.get(&format!("/s/spa/api/fleet/agent_status?policyId={spa_policy}")).await;
        assert_eq!(counts["results"]["all"], 1, "{counts}");
        srv.stop().await;
    }
}

/// A registry that answers any archive request with a few bytes (what a registry behind the
/// attacker's path would serve).
async fn any_archive_registry() -> String {
    let app = axum::Router::new().fallback(|| async { b"PK not really a zip".to_vec() });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

async fn package_names_never_reach_the_file_system(backend: Backend) {
    let registry = any_archive_registry().await;
    let Some(srv) = TestServer::start_with(
        backend,
        Options {
            registry_url: Some(registry),
            ..Default::default()
        },
    )
    .await
    else {
        return;
    };
    srv.fleet()
        .auth
        .put_user("reader", "readpw", fleet::auth::Role::FleetRead)
        .await
        .unwrap();
    let reader = basic("reader", "readpw");
    let target = tempfile::tempdir().unwrap();
    let escape = format!(
        "{}{}",
        "../".repeat(16),
        target.path().display().to_string().trim_start_matches('/')
    );
    let name = crate::support::urlencode(&format!("nginx/nginx-1.5.0.zip?/{escape}/PWNED"));
    for path in [
        format!("/api/fleet/epm/packages/{name}/1.0.0"),
        format!("/api/fleet/epm/packages/{name}"),
        format!("/api/fleet/epm/templates/{name}/1.0.0/inputs"),
        format!(
            "/api/fleet/epm/packages/nginx/{}",
            crate::support::urlencode(&format!("1.0.0?/{escape}/PWNED"))
        ),
    ] {
        let (status, body) = as_user(&srv, &reader, Method::GET, &path).await;
        assert!(status == 404 || status == 400, "{path}: {status} {body}");
        let (status, body) = srv.post(&path, json!({})).await;
        assert!(
            status == 404 || status == 400 || status == 405,
            "{path}: {status} {body}"
        );
    }
    let left: Vec<_> = std::fs::read_dir(target.path()).unwrap().collect();
    assert!(
        left.is_empty(),
        "nothing written outside the data directory: {left:?}"
    );
    let (status, body) = srv.get("/api/fleet/epm/packages/nginx/not-a-version").await;
    assert_eq!(
        (status, body["message"].clone()),
        (
            StatusCode::BAD_REQUEST,
            json!("Package version is not a valid semver")
        )
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn package_names_never_reach_the_file_system_sqlite() {
    package_names_never_reach_the_file_system(Backend::Sqlite).await;
}

#[cfg_attr(
    not(postgres_tests),
    ignore = "needs PostgreSQL: set FLOTILLA_TEST_DATABASE_URL"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn package_names_never_reach_the_file_system_postgres() {
    package_names_never_reach_the_file_system(Backend::Postgres).await;
}

/// PostgreSQL only: the database of one test server is refused and its backends terminated
/// (as an operator or a failover does), then allowed again.
#[cfg_attr(
    not(postgres_tests),
    ignore = "needs PostgreSQL: set FLOTILLA_TEST_DATABASE_URL"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_that_goes_away_answers_503_and_status_says_so_postgres() {
    let Some(url) = crate::support::postgres_url() else {
        return;
    };
    let admin = sqlx::PgPool::connect(&url)
        .await
        .expect("connect as the test user");
    let db = format!("flotilla_gone_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {db}"))
        .execute(&admin)
        .await
        .unwrap();
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b.to_string(), format!("?{q}")),
        None => (url.clone(), String::new()),
    };
    let db_url = format!("{}/{db}{query}", base.rsplit_once('/').unwrap().0);
    let store = fleet::store::PostgresStore::connect(&db_url, None)
        .await
        .unwrap();
    let srv = TestServer::start_on_store(std::sync::Arc::new(store)).await;
    let policy = srv
        .create_policy(json!({"name": "p", "namespace": "default"}))
        .await;
    let token = srv.enrollment_token(policy["id"].as_str().unwrap()).await;
    let (agent, key) = srv.enroll(&token, "h").await;
    let checkin = |key: String, agent: String| {
        let srv = &srv;
        async move {
            srv.agent_call(
                &format!("/api/fleet/agents/{agent}/checkin"),
                Some(&key),
                json!({"status": "online", "poll_timeout": "1s"}),
            )
            .await
        }
    };
    let kill = format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}' AND pid <> pg_backend_pid()");

    // Backends terminated in a loop while requests run: never a 500.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let killer = {
        let (admin, kill, stop) = (admin.clone(), kill.clone(), stop.clone());
        tokio::spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = sqlx::query(&kill).execute(&admin).await;
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        })
    };
    let mut statuses = std::collections::BTreeMap::new();
    for i in 0..150 {
        let status = if i % 3 == 0 {
            srv.post(
                "/api/fleet/agent_policies",
                json!({"name": format!("p{i}"), "namespace": "default"}),
            )
            .await
            .0
        } else {
            srv.get("/api/fleet/agent_policies").await.0
        };
        *statuses.entry(status.as_u16()).or_insert(0) += 1;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    killer.await.unwrap();
    assert!(
        statuses.keys().all(|s| *s == 200 || *s == 503),
        "terminated backends are transient: {statuses:?}"
    );

    // The database refuses connections.
    sqlx::query(&format!("ALTER DATABASE {db} ALLOW_CONNECTIONS false"))
        .execute(&admin)
        .await
        .unwrap();
    sqlx::query(&kill).execute(&admin).await.unwrap();
    let (status, body) = srv.get("/api/fleet/agent_policies").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "Service Unavailable");
    let (status, _) = srv
        .post(
            "/api/fleet/agent_policies",
            json!({"name": "while gone", "namespace": "default"}),
        )
        .await;
    assert_eq!(status, 503);
    let (status, body) = checkin(key.clone(), agent.clone()).await;
    assert_eq!(
        (status, body["error"].clone()),
        (StatusCode::SERVICE_UNAVAILABLE, json!("ServiceUnavailable")),
        "{body}"
    );
    let res = srv
        .http
        .get(format!("{}/api/status", srv.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"]["overall"]["level"], "unavailable", "{body}");
    assert_eq!(
        body["status"]["core"]["savedObjects"]["level"],
        "unavailable"
    );
    let res = srv
        .http
        .get(format!("{}/api/status", srv.agent_base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "FAILED");
    for base in [&srv.base, &srv.agent_base] {
        let ready = srv.http.get(format!("{base}/readyz")).send().await.unwrap();
        assert_eq!(
            ready.status(),
            503,
            "{base}/readyz while the database is gone"
        );
        let live = srv.http.get(format!("{base}/livez")).send().await.unwrap();
        assert_eq!(
            live.status(),
            200,
            "{base}/livez: the process still answers"
        );
    }

    // Back: the same server serves again, nothing written while it was gone.
    sqlx::query(&format!("ALTER DATABASE {db} ALLOW_CONNECTIONS true"))
        .execute(&admin)
        .await
        .unwrap();
    let mut back = false;
    for _ in 0..50 {
        if srv
            .http
            .get(format!("{}/api/status", srv.base))
            .send()
            .await
            .unwrap()
            .status()
            == 200
        {
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(back, "status is available again");
    for base in [&srv.base, &srv.agent_base] {
        let ready = srv.http.get(format!("{base}/readyz")).send().await.unwrap();
        assert_eq!(
            ready.status(),
            200,
            "{base}/readyz once the database is back"
        );
    }
    let (status, list) = srv
        .get("/api/fleet/agent_policies?kuery=ingest-agent-policies.name:%22while%20gone%22")
        .await;
    assert_eq!((status, list["total"].clone()), (StatusCode::OK, json!(0)));
    let (status, _) = checkin(key, agent).await;
    assert_eq!(status, 200);
    srv.stop().await;
    admin.close().await;
    let admin = sqlx::PgPool::connect(&url).await.unwrap();
    sqlx::query(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
        .execute(&admin)
        .await
        .unwrap();
}

both_backends! {
    async fn login_goes_back_to_local_paths_only(srv: TestServer) {
        let login = |next: &str| json!({"providerType": "basic", "providerName": "basic", "currentURL": format!("http://127.0.0.1/login?next={next}"), "params": {"username": "elastic", "password": crate::support::PASSWORD}});
        for (next, expected) in [
            ("%2Fapp%2Ffleet%2Fpolicies", "/app/fleet/policies"),
            ("%2F%09%2Fevil.com", "/app/fleet/agents"),
            ("%2F%0A%2Fevil.com", "/app/fleet/agents"),
            ("%2F%0D%2Fevil.com", "/app/fleet/agents"),
            ("%2F%5C%2Fevil.com", "/app/fleet/agents"),
            ("%2F%2Fevil.com", "/app/fleet/agents"),
            ("https%3A%2F%2Fevil.com", "/app/fleet/agents"),
        ] {
            let res = srv.http.post(format!("{}/internal/security/login", srv.base)).header("kbn-xsrf", "x").json(&login(next)).send().await.unwrap();
            assert_eq!(res.status(), 200);
            assert_eq!(res.json::<Value>().await.unwrap()["location"], expected, "{next}");
        }
        srv.stop().await;
    }
}

/// Sends the start of a request and nothing more; whether the server closed the connection
/// (within `deadline`, else the test would hang like the attacker's connections did).
async fn half_a_request_is_dropped(addr: &str, deadline: Duration) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /api/status HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(deadline, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            // A 408 before closing is fine too; read on to the close.
            Ok(Ok(_)) => continue,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_headers_are_timed_out_on_both_listeners() {
    let options = Options {
        header_read_timeout: Some(Duration::from_secs(1)),
        ..Default::default()
    };
    let srv = TestServer::start_with(Backend::Sqlite, options)
        .await
        .unwrap();
    for base in [&srv.base, &srv.agent_base] {
        let addr = base.trim_start_matches("http://");
        assert!(
            half_a_request_is_dropped(addr, Duration::from_secs(20)).await,
            "{base} holds half a request"
        );
    }
    // Whole requests are served as before.
    let (status, _) = srv.get("/api/fleet/agent_policies").await;
    assert_eq!(status, 200);
    srv.stop().await;
}

both_backends! {
    async fn huge_durations_are_400_not_a_dropped_connection(srv: TestServer) {
        let policy = srv.create_policy(json!({"name": "p", "namespace": "default"})).await;
        let huge = "100000000000000000ms";
        let (status, body) = srv.get(&format!("/api/fleet/agents?openPit=true&pitKeepAlive={huge}")).await;
        assert_eq!(status, 400, "{body}");
        let (status, body) = srv.get("/api/fleet/agents?openPit=true&pitKeepAlive=2d").await;
        assert_eq!(status, 400, "{body}");
        assert!(body["message"].as_str().unwrap().contains("must be less than (1d)"), "{body}");
        let (status, body) = srv.post("/_security/api_key", json!({"name": "k", "expiration": huge})).await;
        assert_eq!(status, 400, "{body}");
        let (status, body) = srv.post("/api/fleet/enrollment_api_keys", json!({"policy_id": policy["id"], "expiration": huge})).await;
        assert_eq!(status, 400, "{body}");
        let (status, body) = srv.post("/api/fleet/enrollment_api_keys", json!({"policy_id": policy["id"], "expiration": "9223372036854775807d"})).await;
        assert_eq!(status, 400, "{body}");
        // Sane ones still work.
        let (status, _) = srv.get("/api/fleet/agents?openPit=true&pitKeepAlive=5m").await;
        assert_eq!(status, 200);
        srv.stop().await;
    }
}

both_backends! {
    async fn users_manage_their_own_api_keys_only(srv: TestServer) {
        srv.fleet().auth.put_user("admin", "adminpw", fleet::auth::Role::FleetAdmin).await.unwrap();
        srv.fleet().auth.put_user("reader", "readpw", fleet::auth::Role::FleetRead).await.unwrap();
        let admin = basic("admin", "adminpw");
        let reader = basic("reader", "readpw");
        let (_, superkey) = srv.post("/_security/api_key", json!({"name": "the superuser's"})).await;
        let create = |auth: String, name: &'static str| {
            let srv = &srv;
            async move {
                let (status, _, key) = send(srv, Method::POST, "/_security/api_key", &auth, &[("kbn-xsrf", "x"), ("content-type", "application/json")], Some(&json!({"name": name}).to_string())).await;
                assert_eq!(status, 200, "{key}");
                key
            }
        };
        let admin_key = create(admin.clone(), "the admin's").await;
        let reader_key = create(reader.clone(), "the reader's").await;

        // Invalidating someone else's key is Elasticsearch's 403; the key keeps working.
        let body = json!({"ids": [superkey["id"]]}).to_string();
        let (status, _, res) = send(&srv, Method::DELETE, "/_security/api_key", &admin, &[("kbn-xsrf", "x"), ("content-type", "application/json")], Some(&body)).await;
        assert_eq!(status, 403, "{res}");
        assert_eq!(res["message"], "action [cluster:admin/xpack/security/api_key/invalidate] is unauthorized for user [admin] with effective roles [fleet-admin], this action is granted by the cluster privileges [manage_api_key,manage_security,all]");
        let super_auth = format!("ApiKey {}", superkey["encoded"].as_str().unwrap());
        let (status, _, _) = send(&srv, Method::GET, "/api/fleet/agent_policies", &super_auth, &[], None).await;
        assert_eq!(status, 200, "the superuser's key survived");
        // With owner=true, only one's own keys are touched.
        let body = json!({"ids": [superkey["id"]], "owner": true}).to_string();
        let (status, _, res) = send(&srv, Method::DELETE, "/_security/api_key", &admin, &[("kbn-xsrf", "x"), ("content-type", "application/json")], Some(&body)).await;
        assert_eq!((status, res["invalidated_api_keys"].clone()), (StatusCode::OK, json!([])));

        // Listing: one's own keys, asked for as such.
        let (status, res) = as_user(&srv, &reader, Method::GET, "/_security/api_key").await;
        assert_eq!(status, 403, "{res}");
        let (status, res) = as_user(&srv, &reader, Method::GET, "/_security/api_key?owner=true").await;
        assert_eq!(status, 200, "{res}");
        let ids: Vec<&Value> = res["api_keys"].as_array().unwrap().iter().map(|k| &k["id"]).collect();
        assert_eq!(ids, vec![&reader_key["id"]], "{res}");
        let (_, all) = srv.get("/_security/api_key").await;
        assert!(all["api_keys"].as_array().unwrap().len() >= 3, "a superuser lists every key: {all}");

        // One's own key can go.
        let body = json!({"ids": [admin_key["id"]]}).to_string();
        let (status, _, res) = send(&srv, Method::DELETE, "/_security/api_key", &admin, &[("kbn-xsrf", "x"), ("content-type", "application/json")], Some(&body)).await;
        assert_eq!(status, 403, "an id alone names any key; owner=true says it is one's own: {res}");
        let body = json!({"ids": [admin_key["id"]], "owner": true}).to_string();
        let (status, _, res) = send(&srv, Method::DELETE, "/_security/api_key", &admin, &[("kbn-xsrf", "x"), ("content-type", "application/json")], Some(&body)).await;
        assert_eq!((status, res["invalidated_api_keys"].clone()), (StatusCode::OK, json!([admin_key["id"]])));
        // The superuser may invalidate anyone's.
        let (status, res) = srv.call(Method::DELETE, "/_security/api_key", Some(json!({"ids": [reader_key["id"]]}))).await;
        assert_eq!((status, res["invalidated_api_keys"].clone()), (StatusCode::OK, json!([reader_key["id"]])));
        srv.stop().await;
    }
}

both_backends! {
    async fn an_agent_cannot_acknowledge_another_agents_action(srv: TestServer) {
        let policy = srv.create_policy(json!({"name": "p", "namespace": "default"})).await;
        let token = srv.enrollment_token(policy["id"].as_str().unwrap()).await;
        let (a1, k1) = srv.enroll(&token, "a1").await;
        let (a3, k3) = srv.enroll(&token, "a3").await;
        let (status, res) = srv.post(&format!("/api/fleet/agents/{a3}/unenroll"), json!({})).await;
        assert_eq!(status, 200, "{res}");
        let (_, answer) = srv.agent_call(&format!("/api/fleet/agents/{a3}/checkin"), Some(&k3), json!({"status": "online", "poll_timeout": "1s"})).await;
        let unenroll = answer["actions"].as_array().unwrap().iter().find(|a| a["type"] == "UNENROLL").expect("a3 is told to unenroll")["id"].as_str().unwrap().to_string();

        // A1 acknowledges A3's UNENROLL.
        let (status, res) = srv.agent_call(&format!("/api/fleet/agents/{a1}/acks"), Some(&k1), json!({"events": [{"type": "ACTION_RESULT", "subtype": "ACKNOWLEDGED", "agent_id": a1, "action_id": unenroll}]})).await;
        assert_eq!(status, 404, "{res}");
        assert_eq!(res, json!({"action": "acks", "errors": true, "items": [{"status": 404, "message": "Not Found"}]}));
        let (_, agent) = srv.get(&format!("/api/fleet/agents/{a1}")).await;
        assert_eq!(agent["item"]["active"], true, "A1 was not unenrolled: {agent}");
        let (status, _) = srv.agent_call(&format!("/api/fleet/agents/{a1}/checkin"), Some(&k1), json!({"status": "online", "poll_timeout": "1s"})).await;
        assert_eq!(status, 200, "A1's key still works");
        // An event naming another agent is Fleet Server's 400.
        let (status, res) = srv.agent_call(&format!("/api/fleet/agents/{a1}/acks"), Some(&k1), json!({"events": [{"agent_id": a3, "action_id": unenroll}]})).await;
        assert_eq!((status, res["items"][0].clone()), (StatusCode::BAD_REQUEST, json!({"status": 400, "message": "Bad Request"})));
        // A3's action is still A3's to complete.
        let (status, res) = srv.agent_call(&format!("/api/fleet/agents/{a3}/acks"), Some(&k3), json!({"events": [{"agent_id": a3, "action_id": unenroll}]})).await;
        assert_eq!(status, 200, "{res}");
        let (_, agent) = srv.get(&format!("/api/fleet/agents/{a3}")).await;
        assert_eq!(agent["item"]["active"], false, "{agent}");
        srv.stop().await;
    }
}

both_backends! {
    async fn bodies_are_read_by_their_content_type(srv: TestServer) {
        let auth = srv.auth.clone().unwrap();
        let policy = json!({"name": "typed", "namespace": "default"}).to_string();
        let post = |ct: Option<&'static str>, body: String| {
            let (srv, auth) = (&srv, auth.clone());
            async move {
                let mut headers = vec![("kbn-xsrf", "x")];
                if let Some(ct) = ct {
                    headers.push(("content-type", ct));
                }
                let (status, _, body) = send(srv, Method::POST, "/api/fleet/agent_policies", &auth, &headers, Some(&body)).await;
                (status, body)
            }
        };
        for ct in ["application/xml", "application/x-www-form-urlencoded", "image/png", "multipart/form-data; boundary=x"] {
            let (status, body) = post(Some(ct), policy.clone()).await;
            assert_eq!(status, 415, "{ct}: {body}");
            assert_eq!(body, json!({"statusCode": 415, "error": "Unsupported Media Type", "message": "Unsupported Media Type"}));
        }
        let (status, body) = post(Some("nonsense"), policy.clone()).await;
        assert_eq!((status, body["message"].clone()), (StatusCode::BAD_REQUEST, json!("Invalid content-type header")));
        let (_, list) = srv.get("/api/fleet/agent_policies").await;
        assert_eq!(list["total"], 0, "nothing refused was stored");
        // As Kibana: text holding a JSON object is read as the object; anything else is 400.
        let (status, body) = post(Some("text/plain"), "not json".into()).await;
        assert_eq!((status, body["message"].clone()), (StatusCode::BAD_REQUEST, json!("[request body]: could not parse object value from json input")));
        let (status, body) = post(Some("text/plain;charset=UTF-8"), policy.clone()).await;
        assert_eq!(status, 200, "{body}");
        let (status, body) = post(Some("application/vnd.api+json"), json!({"name": "typed 2", "namespace": "default"}).to_string()).await;
        assert_eq!(status, 200, "{body}");
        // Elasticsearch's API key routes take JSON only (a cross-site form cannot send it).
        for ct in [Some("text/plain"), None] {
            let mut headers = vec![("kbn-xsrf", "x")];
            if let Some(ct) = ct {
                headers.push(("content-type", ct));
            }
            let (status, _, body) = send(&srv, Method::POST, "/_security/api_key", &auth, &headers, Some(r#"{"name": "by form"}"#)).await;
            assert_eq!(status, 406, "{ct:?}: {body}");
        }
        srv.stop().await;
    }
}

both_backends! {
    async fn security_routes_refuse_what_their_contracts_refuse(srv: TestServer) {
        let auth = srv.auth.clone().unwrap();
        let json_headers = [("kbn-xsrf", "x"), ("content-type", "application/json")];
        for (method, path, body, message) in [
            (Method::POST, "/_security/api_key", json!({"name": 5}), "[request body.name]: expected value of type [string] but got [number]"),
            (Method::POST, "/_security/api_key", json!({"name": "k", "role": "superuser"}), "[request body.role]: definition for this key is missing"),
            (Method::DELETE, "/_security/api_key", json!({}), "[request body]: One of [api key id, api key name, username, realm name] must be specified"),
            (Method::DELETE, "/_security/api_key", json!({"ids": "k"}), "[request body.ids]: could not parse array value from json input"),
            (Method::POST, "/internal/security/login", json!({"providerType": "saml", "providerName": "s", "params": {}}), "[request body.providerType]: login with provider type [saml] is not supported; use [basic]"),
            (Method::POST, "/internal/security/login", json!({"providerType": "basic", "providerName": "basic", "params": {"username": "elastic"}}), "[request body.params]: username and password are required"),
        ] {
            let (status, _, res) = send(&srv, method.clone(), path, &auth, &json_headers, Some(&body.to_string())).await;
            assert_eq!((status.as_u16(), res["message"].as_str().unwrap_or_default()), (400, message), "{method} {path} {body}");
        }
        let (status, res) = srv.get("/_security/api_key?owner=perhaps").await;
        assert_eq!((status.as_u16(), res["message"].as_str().unwrap_or_default()), (400, "[request query.owner]: expected value of type [boolean] but got [string]"));
        srv.stop().await;
    }
}
