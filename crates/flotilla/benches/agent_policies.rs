//! `cargo bench -p flotilla --bench agent_policies`: create 1,000 agent policies and list them
//! with perPage=100, over HTTP against a real server, on SQLite and (when
//! `FLOTILLA_TEST_DATABASE_URL` is set) PostgreSQL. `GET /api/status` — same server, same
//! client, no auth and no store — is measured first as the baseline of the run.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

const POLICIES: usize = 1_000;
const LIST_REQUESTS: usize = 500;
const CONCURRENCY: usize = 8;

struct Stats {
    label: String,
    count: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Stats {
    fn row(&mut self) -> String {
        self.latencies.sort();
        let pct = |p: f64| {
            let i = ((self.latencies.len() as f64 * p).ceil() as usize)
                .clamp(1, self.latencies.len())
                - 1;
            self.latencies[i].as_secs_f64() * 1000.0
        };
        format!(
            "| {:<44} | {:>6} | {:>9.0} | {:>8.2} | {:>8.2} |",
            self.label,
            self.count,
            self.count as f64 / self.elapsed.as_secs_f64(),
            pct(0.50),
            pct(0.99)
        )
    }
}

async fn run<F, Fut>(label: String, count: usize, f: F) -> Stats
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let bar = ProgressBar::new(count as u64);
    bar.set_style(
        ProgressStyle::with_template("{msg:44} {bar:30} {pos}/{len}").expect("valid template"),
    );
    bar.set_message(label.clone());
    let start = Instant::now();
    let latencies: Vec<Duration> = stream::iter(0..count)
        .map(|i| {
            let fut = f(i);
            let bar = bar.clone();
            async move {
                let t = Instant::now();
                fut.await;
                bar.inc(1);
                t.elapsed()
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let elapsed = start.elapsed();
    bar.finish_and_clear();
    Stats {
        label,
        count,
        elapsed,
        latencies,
    }
}

async fn bench_backend(
    name: &str,
    store: Arc<dyn fleet::store::Store>,
    dir: &std::path::Path,
) -> Vec<Stats> {
    let mut config = flotilla::Config::with_database(dir, "unused://");
    config.elastic_password = Some("bench-password".into());
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
    let mut out = Vec::new();

    out.push(
        run(
            format!("{name}: baseline GET /api/status"),
            LIST_REQUESTS * 2,
            |_| {
                let req = http.get(format!("{base}/api/status"));
                async move {
                    assert!(req.send().await.expect("request").status().is_success());
                }
            },
        )
        .await,
    );
    out.push(
        run(format!("{name}: create agent policy"), POLICIES, |i| {
            let req = http
                .post(format!("{base}/api/fleet/agent_policies"))
                .header("authorization", &auth)
                .header("kbn-xsrf", "bench")
                .json(&json!({"name": format!("policy {i}"), "namespace": "default", "monitoring_enabled": ["logs", "metrics"]}));
            async move {
                let res = req.send().await.expect("request");
                assert_eq!(res.status(), 200, "{}", res.text().await.unwrap_or_default());
            }
        })
        .await,
    );
    out.push(
        run(
            format!("{name}: list perPage=100 (pages 1-10)"),
            LIST_REQUESTS,
            |i| {
                let req = http
                    .get(format!(
                        "{base}/api/fleet/agent_policies?perPage=100&page={}",
                        i % 10 + 1
                    ))
                    .header("authorization", &auth);
                async move {
                    let res = req.send().await.expect("request");
                    assert_eq!(res.status(), 200);
                    let body: serde_json::Value = res.json().await.expect("json");
                    assert_eq!(body["items"].as_array().map(Vec::len), Some(100));
                }
            },
        )
        .await,
    );
    out.push(
        run(
            format!("{name}: list kuery=name:\"policy 500\""),
            LIST_REQUESTS,
            |_| {
                let req = http
                    .get(format!(
                        "{base}/api/fleet/agent_policies?kuery=name:%22policy%20500%22"
                    ))
                    .header("authorization", &auth);
                async move {
                    let res = req.send().await.expect("request");
                    assert_eq!(res.status(), 200);
                }
            },
        )
        .await,
    );
    server.shutdown().await;
    out
}

#[tokio::main]
async fn main() {
    let mut results = Vec::new();
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let store = fleet::store::open(&url).await.expect("SQLite store");
    results.extend(bench_backend("sqlite", store, dir.path()).await);

    match std::env::var("FLOTILLA_TEST_DATABASE_URL") {
        Ok(pg) if !pg.is_empty() => {
            let schema = format!("bench_{}", uuid::Uuid::new_v4().simple());
            let store = fleet::store::PostgresStore::connect(&pg, Some(&schema))
                .await
                .expect("PostgreSQL store");
            results.extend(bench_backend("postgres", Arc::new(store), dir.path()).await);
            fleet::store::PostgresStore::drop_schema(&pg, &schema)
                .await
                .expect("drop bench schema");
        }
        _ => eprintln!("PostgreSQL skipped: set FLOTILLA_TEST_DATABASE_URL to include it"),
    }

    println!("\n{CONCURRENCY} concurrent clients, release build, one process (server and client share the cores)\n");
    println!(
        "| {:<44} | {:>6} | {:>9} | {:>8} | {:>8} |",
        "operation", "reqs", "req/s", "p50 ms", "p99 ms"
    );
    println!(
        "|{:-<46}|{:->8}|{:->11}|{:->10}|{:->10}|",
        "", "", "", "", ""
    );
    for mut r in results {
        println!("{}", r.row());
    }
}
