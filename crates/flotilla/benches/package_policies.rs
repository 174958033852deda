//! `cargo bench -p flotilla --bench package_policies`:
//! 1. compile the `system` package's default policy (every enabled stream and input) 1,000
//!    times in process, beside a baseline from the same run: building the same default policy
//!    without compiling it;
//! 2. create 1,000 nginx package policies over HTTP against a real server (SQLite, and
//!    PostgreSQL when `FLOTILLA_TEST_DATABASE_URL` is set), beside `GET /api/status` on the same
//!    server as the baseline.
//!
//! The real packages are the repository's (`tests/fixtures/packages`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

const COMPILES: usize = 1_000;
const CREATES: usize = 1_000;
const AGENT_POLICIES: usize = 10;
const CONCURRENCY: usize = 8;

/// A real package kept in the repository; missing is a broken checkout.
fn reference(name: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/packages")
        .join(name);
    assert!(p.is_dir(), "{} is missing from the repository", p.display());
    p
}

fn bar(label: &str, n: usize) -> ProgressBar {
    let bar = ProgressBar::new(n as u64);
    bar.set_style(
        ProgressStyle::with_template("{msg:44} {bar:30} {pos}/{len}").expect("valid template"),
    );
    bar.set_message(label.to_string());
    bar
}

fn row(label: &str, n: usize, elapsed: Duration) -> String {
    format!(
        "| {:<52} | {:>6} | {:>10.0} | {:>9.3} |",
        label,
        n,
        n as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1000.0 / n as f64
    )
}

fn compile_rows(out: &mut Vec<String>) {
    let (dir, what) = (reference("system-1.20.4"), "system 1.20.4");
    let pkg = packages::Package::from_dir(&dir).expect("package loads");
    let build = || {
        let mut inputs = packages::policy::default_inputs(&pkg);
        let vars = packages::policy::default_vars(&pkg);
        packages::policy::align_inputs(&mut inputs);
        (inputs, vars)
    };
    let b = bar(&format!("baseline: build {what} default policy"), COMPILES);
    let start = Instant::now();
    for _ in 0..COMPILES {
        std::hint::black_box(build());
        b.inc(1);
    }
    b.finish_and_clear();
    out.push(row(
        &format!("baseline: build {what} default policy"),
        COMPILES,
        start.elapsed(),
    ));

    let b = bar(&format!("compile {what} default policy"), COMPILES);
    let start = Instant::now();
    let mut streams = 0;
    for i in 0..COMPILES {
        let (mut inputs, vars) = build();
        packages::policy::validate(&pkg, vars.as_ref(), &inputs).expect("valid");
        packages::policy::compile(&pkg, &i.to_string(), vars.as_ref(), &mut inputs)
            .expect("compiles");
        streams = inputs
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|i| i["streams"].as_array().unwrap())
            .filter(|s| s.get("compiled_stream").is_some())
            .count();
        b.inc(1);
    }
    b.finish_and_clear();
    out.push(row(
        &format!("validate + compile {what} ({streams} streams)"),
        COMPILES,
        start.elapsed(),
    ));
}

async fn http_rows(
    name: &str,
    store: Arc<dyn fleet::store::Store>,
    dir: &Path,
    out: &mut Vec<String>,
) {
    let pkg_dir = dir.join(format!("packages-{name}"));
    std::fs::create_dir_all(&pkg_dir).unwrap();
    let source = reference("nginx-1.5.0");
    let body_pkg = json!({"name": "nginx", "version": "1.5.0"});
    let inputs =
        json!({"nginx-logfile": {"streams": {"nginx.access": {"vars": {"tags": ["bench"]}}}}});
    std::os::unix::fs::symlink(&source, pkg_dir.join(source.file_name().unwrap())).unwrap();
    let mut config = flotilla::Config::with_database(dir, "unused://");
    config.elastic_password = Some("bench-password".into());
    config.package_dir = Some(pkg_dir);
    config.registry_url = String::new();
    let server = flotilla::start_with_store(&config, store)
        .await
        .expect("server starts");
    let base = format!("http://{}", server.api_addr);
    let key = server
        .fleet
        .auth
        .create_api_key("elastic", "bench", fleet::auth::Role::Superuser, None)
        .await
        .expect("api key");
    let auth = format!("ApiKey {}", key.encoded);
    let http = reqwest::Client::new();
    let mut policy_ids = Vec::new();
    for i in 0..AGENT_POLICIES {
        let res: serde_json::Value = http
            .post(format!("{base}/api/fleet/agent_policies"))
            .header("authorization", &auth)
            .header("kbn-xsrf", "bench")
            .json(&json!({"name": format!("policy {i}"), "namespace": "default"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        policy_ids.push(res["item"]["id"].as_str().unwrap().to_string());
    }

    let label = format!("{name}: baseline GET /api/status");
    let b = bar(&label, CREATES);
    let start = Instant::now();
    stream::iter(0..CREATES)
        .map(|_| {
            let req = http.get(format!("{base}/api/status"));
            let b = b.clone();
            async move {
                assert!(req.send().await.unwrap().status().is_success());
                b.inc(1);
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<()>>()
        .await;
    b.finish_and_clear();
    out.push(row(&label, CREATES, start.elapsed()));

    let label = format!(
        "{name}: create package policy ({})",
        body_pkg["name"].as_str().unwrap()
    );
    let b = bar(&label, CREATES);
    let start = Instant::now();
    stream::iter(0..CREATES)
        .map(|i| {
            let req = http
                .post(format!("{base}/api/fleet/package_policies"))
                .header("authorization", &auth)
                .header("kbn-xsrf", "bench")
                .json(&json!({
                    "name": format!("pp-{i}"),
                    "policy_id": policy_ids[i % AGENT_POLICIES],
                    "package": body_pkg,
                    "inputs": inputs,
                }));
            let b = b.clone();
            async move {
                let res = req.send().await.unwrap();
                assert_eq!(
                    res.status(),
                    200,
                    "{}",
                    res.text().await.unwrap_or_default()
                );
                b.inc(1);
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<()>>()
        .await;
    b.finish_and_clear();
    out.push(row(&label, CREATES, start.elapsed()));
    server.shutdown().await;
}

#[tokio::main]
async fn main() {
    let mut rows = Vec::new();
    compile_rows(&mut rows);
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let store = fleet::store::open(&url).await.expect("SQLite store");
    http_rows("sqlite", store, dir.path(), &mut rows).await;
    match std::env::var("FLOTILLA_TEST_DATABASE_URL") {
        Ok(pg) if !pg.is_empty() => {
            let schema = format!("bench_{}", uuid::Uuid::new_v4().simple());
            let store = fleet::store::PostgresStore::connect(&pg, Some(&schema))
                .await
                .expect("PostgreSQL store");
            http_rows("postgres", Arc::new(store), dir.path(), &mut rows).await;
            fleet::store::PostgresStore::drop_schema(&pg, &schema)
                .await
                .expect("drop bench schema");
        }
        _ => eprintln!("PostgreSQL skipped: set FLOTILLA_TEST_DATABASE_URL to include it"),
    }
    println!("\nrelease build; HTTP rows: {CONCURRENCY} concurrent clients over {AGENT_POLICIES} agent policies, server and client in one process\n");
    println!(
        "| {:<52} | {:>6} | {:>10} | {:>9} |",
        "operation", "ops", "ops/s", "ms/op"
    );
    println!("|{:-<54}|{:->8}|{:->12}|{:->11}|", "", "", "", "");
    for r in rows {
        println!("{r}");
    }
}
