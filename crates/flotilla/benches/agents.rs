//! `cargo bench -p flotilla --bench agents`: 100,000 agents in SQLite (`AGENTS_BENCH_N` for
//! another count). Enroll throughput over HTTP, then list pages of 10,000 with and without a
//! kuery, a searchAfter walk of every agent, and the status summary — each beside the same SQL
//! run directly on the database (the floor), as the ratio to it.

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

const UA: &str = "elastic agent 9.1.0";

fn pct(v: &mut [Duration], p: f64) -> f64 {
    v.sort();
    let i = ((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1;
    v[i].as_secs_f64() * 1000.0
}

async fn timed<F: std::future::Future<Output = ()>>(
    n: usize,
    mut f: impl FnMut() -> F,
) -> Vec<Duration> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        f().await;
        out.push(t.elapsed());
    }
    out
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::var("AGENTS_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let store = fleet::store::open(&url).await.unwrap();
    let mut config = flotilla::Config::with_database(dir.path(), &url);
    config.elastic_password = Some("bench".into());
    let server = flotilla::start_with_store(&config, store).await.unwrap();
    let api = format!("http://{}", server.api_addr);
    let agents = format!("http://{}", server.agent_addr);
    let key = server
        .fleet
        .auth
        .create_api_key("elastic", "bench", fleet::auth::Role::Superuser, None)
        .await
        .unwrap();
    let auth = format!("ApiKey {}", key.encoded);
    let http = reqwest::Client::new();

    let policy: Value = post_json(
        &http,
        &auth,
        &format!("{api}/api/fleet/agent_policies"),
        &json!({"name": "bench", "namespace": "default"}),
    )
    .await;
    let policy_id = policy["item"]["id"].as_str().unwrap().to_string();
    let keys: Value = get_json(
        &http,
        &auth,
        &format!("{api}/api/fleet/enrollment_api_keys"),
    )
    .await;
    let token = keys["items"][0]["api_key"].as_str().unwrap().to_string();

    // Enroll throughput over HTTP, 8 at a time.
    let enrolls = 2_000;
    let start = Instant::now();
    stream::iter(0..enrolls)
        .map(|i| {
            let req = http
                .post(format!("{agents}/api/fleet/agents/enroll"))
                .header("authorization", format!("ApiKey {token}"))
                .header("user-agent", UA)
                .json(&json!({"type": "PERMANENT", "metadata": {"local": {"host": {"hostname": format!("enrolled-{i}")}}}}));
            async move {
                assert!(req.send().await.unwrap().status().is_success());
            }
        })
        .buffer_unordered(8)
        .collect::<Vec<()>>()
        .await;
    let enroll_rate = enrolls as f64 / start.elapsed().as_secs_f64();

    // The rest of the fleet, straight into the store.
    let bar = ProgressBar::new(n as u64);
    bar.set_style(ProgressStyle::with_template("seeding agents {bar:40} {pos}/{len}").unwrap());
    let base = chrono::Utc::now() - chrono::Duration::minutes(3);
    let statuses = ["online", "online", "online", "error", "degraded"];
    let mut tx = server
        .fleet
        .store
        .begin(fleet::store::Mode::Write)
        .await
        .unwrap();
    for i in 0..n.saturating_sub(enrolls) {
        let at = (base + chrono::Duration::milliseconds(i as i64))
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let doc = json!({
            "active": true, "policy_id": policy_id, "type": "PERMANENT", "enrolled_at": at, "last_checkin": at,
            "last_checkin_status": statuses[i % statuses.len()], "policy_revision_idx": 1,
            "local_metadata": {"host": {"hostname": format!("host-{i}")}, "elastic": {"agent": {"version": "9.1.0", "upgradeable": true}}},
            "agent": {"id": format!("a-{i}"), "version": "9.1.0"},
            "tags": if i % 10 == 0 { json!(["canary"]) } else { json!([]) },
        });
        tx.agent_insert(&format!("a-{i:06}"), &doc).await.unwrap();
        if i % 1000 == 0 {
            bar.set_position(i as u64);
        }
    }
    tx.commit().await.unwrap();
    bar.finish_and_clear();

    // The floor: the same statements, run directly on the same database file.
    let floor = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(
            SqliteConnectOptions::from_str(&url)
                .unwrap()
                .read_only(true),
        )
        .await
        .unwrap();
    let page_sql = |cond: &str| {
        format!(
            "SELECT id, version, doc, {} AS status FROM agent WHERE {cond} ORDER BY agent.enrolled_at DESC NULLS LAST, agent.id DESC LIMIT 10000",
            fleet::store::AGENT_STATUS_SQLITE
        )
    };
    let not_inactive = format!(
        "NOT COALESCE(({s}) IN ('inactive', 'unenrolled'), FALSE)",
        s = fleet::store::AGENT_STATUS_SQLITE
    );

    println!("\n{n} agents in SQLite, release build; HTTP and floor each run 10 times\n");
    println!("| operation | p50 ms | p99 ms | floor p50 ms (same SQL, direct) | ratio |");
    println!("|---|---|---|---|---|");
    let cases: Vec<(&str, String, String)> = vec![
        ("list perPage=10000", "perPage=10000".into(), not_inactive.clone()),
        (
            "list perPage=10000 kuery=policy_id",
            format!("perPage=10000&kuery=policy_id:%22{policy_id}%22"),
            format!("agent.policy_id = '{policy_id}' AND {not_inactive}"),
        ),
        (
            "list perPage=10000 kuery=tags:canary",
            "perPage=10000&kuery=tags:canary".into(),
            format!("json_type(doc, '$.\"tags\"') = 'array' AND EXISTS (SELECT 1 FROM json_each(doc, '$.\"tags\"') je WHERE je.value = 'canary') AND {not_inactive}"),
        ),
    ];
    for (label, query, cond) in cases {
        let mut http_t = timed(10, || {
            let req = http
                .get(format!("{api}/api/fleet/agents?{query}"))
                .header("authorization", &auth);
            async move {
                let res = req.send().await.unwrap();
                assert!(res.status().is_success());
                let _ = res.bytes().await.unwrap();
            }
        })
        .await;
        let sql = page_sql(&cond);
        let mut floor_t = timed(10, || {
            let q = sqlx::query(&sql);
            let floor = &floor;
            async move {
                let rows = q.fetch_all(floor).await.unwrap();
                std::hint::black_box(rows);
            }
        })
        .await;
        let (p50, p99, f50) = (
            pct(&mut http_t, 0.5),
            pct(&mut http_t, 0.99),
            pct(&mut floor_t, 0.5),
        );
        println!(
            "| {label} | {p50:.1} | {p99:.1} | {f50:.1} | {:.1}x |",
            p50 / f50
        );
    }

    // A searchAfter walk of every agent, pages of 10,000.
    let start = Instant::now();
    let mut seen = 0usize;
    let mut url_next = format!("{api}/api/fleet/agents?perPage=10000");
    loop {
        let page: Value = get_json(&http, &auth, &url_next).await;
        let items = page["items"].as_array().unwrap().len();
        seen += items;
        if items < 10_000 {
            break;
        }
        let cursor = page["nextSearchAfter"].as_str().unwrap();
        url_next = format!(
            "{api}/api/fleet/agents?perPage=10000&searchAfter={}",
            urlencoding(cursor)
        );
    }
    let walk_ms = start.elapsed().as_secs_f64() * 1000.0;
    let start = Instant::now();
    let mut after: Option<(String, String)> = None;
    let mut floor_seen = 0usize;
    loop {
        let cond = match &after {
            None => not_inactive.clone(),
            Some((at, id)) => format!("{not_inactive} AND (agent.enrolled_at < '{at}' OR (agent.enrolled_at = '{at}' AND agent.id < '{id}'))"),
        };
        let rows = sqlx::query(&page_sql(&cond))
            .fetch_all(&floor)
            .await
            .unwrap();
        floor_seen += rows.len();
        if rows.len() < 10_000 {
            break;
        }
        use sqlx::Row;
        let last = rows.last().unwrap();
        let doc: String = last.get("doc");
        let doc: Value = serde_json::from_str(&doc).unwrap();
        after = Some((
            doc["enrolled_at"].as_str().unwrap().to_string(),
            last.get("id"),
        ));
    }
    let floor_walk_ms = start.elapsed().as_secs_f64() * 1000.0;
    assert_eq!(seen, floor_seen);
    println!("| searchAfter walk of all {seen} agents | {walk_ms:.0} (total) | | {floor_walk_ms:.0} | {:.1}x |", walk_ms / floor_walk_ms);

    let mut http_t = timed(10, || {
        let req = http
            .get(format!("{api}/api/fleet/agent_status"))
            .header("authorization", &auth);
        async move {
            assert!(req.send().await.unwrap().status().is_success());
        }
    })
    .await;
    let sql = format!(
        "SELECT {} AS status, COUNT(*) FROM agent WHERE 1=1 GROUP BY 1",
        fleet::store::AGENT_STATUS_SQLITE
    );
    let mut floor_t = timed(10, || {
        let q = sqlx::query(&sql);
        let floor = &floor;
        async move {
            std::hint::black_box(q.fetch_all(floor).await.unwrap());
        }
    })
    .await;
    let (p50, p99, f50) = (
        pct(&mut http_t, 0.5),
        pct(&mut http_t, 0.99),
        pct(&mut floor_t, 0.5),
    );
    println!(
        "| status summary (agent_status) | {p50:.1} | {p99:.1} | {f50:.1} | {:.1}x |",
        p50 / f50
    );

    // The web UI's agents page, first view: the page shell, then the two requests its script
    // makes together (the first page of 20, newest first, and the status counts). The floor is
    // the same two statements run directly.
    let mut http_t = timed(10, || {
        let (http, api, auth) = (&http, &api, &auth);
        async move {
            let shell = http
                .get(format!("{api}/ui/agents.js"))
                .send()
                .await
                .unwrap();
            assert!(shell.status().is_success());
            let _ = shell.bytes().await.unwrap();
            let page = http
                .get(format!(
                    "{api}/api/fleet/agents?perPage=20&sortField=enrolled_at&sortOrder=desc"
                ))
                .header("authorization", auth)
                .send();
            let counts = http
                .get(format!("{api}/api/fleet/agent_status"))
                .header("authorization", auth)
                .send();
            let (page, counts) = tokio::join!(page, counts);
            let page: Value = page.unwrap().json().await.unwrap();
            assert_eq!(page["items"].as_array().unwrap().len(), 20);
            assert!(counts.unwrap().status().is_success());
        }
    })
    .await;
    let first_page = page_sql(&not_inactive).replace("LIMIT 10000", "LIMIT 20");
    let mut floor_t = timed(10, || {
        let (floor, first_page, sql) = (&floor, &first_page, &sql);
        async move {
            std::hint::black_box(sqlx::query(first_page).fetch_all(floor).await.unwrap());
            std::hint::black_box(sqlx::query(sql).fetch_all(floor).await.unwrap());
        }
    })
    .await;
    let (p50, p99, f50) = (
        pct(&mut http_t, 0.5),
        pct(&mut http_t, 0.99),
        pct(&mut floor_t, 0.5),
    );
    println!(
        "| web UI agents page, first view (script + page of 20 + status counts) | {p50:.1} | {p99:.1} | {f50:.1} | {:.1}x |",
        p50 / f50
    );
    println!("\nenroll over HTTP (8 concurrent): {enroll_rate:.0} agents/s");

    // A bulk upgrade of every seeded agent, selected by kuery: one action, one statement to
    // target, one to mark; then delivery at check-in is a per-agent indexed read.
    let start = Instant::now();
    let res: Value = post_json(
        &http,
        &auth,
        &format!("{api}/api/fleet/agents/bulk_upgrade"),
        &json!({"agents": "local_metadata.elastic.agent.upgradeable:true", "version": "9.3.0"}),
    )
    .await;
    let bulk_ms = start.elapsed().as_secs_f64() * 1000.0;
    let status: Value = get_json(
        &http,
        &auth,
        &format!("{api}/api/fleet/agents/action_status"),
    )
    .await;
    let targeted = status["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["actionId"] == res["actionId"])
        .map(|i| i["nbAgentsActioned"].clone())
        .unwrap_or(json!(0));
    println!(
        "bulk upgrade by kuery: {targeted} agents targeted, request answered in {bulk_ms:.0} ms"
    );
    let _ = Arc::new(());
    server.shutdown().await;
}

/// An authenticated GET, answered as JSON.
async fn get_json(http: &reqwest::Client, auth: &str, url: &str) -> Value {
    http.get(url)
        .header("authorization", auth)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// An authenticated POST with `kbn-xsrf`, answered as JSON.
async fn post_json(http: &reqwest::Client, auth: &str, url: &str, body: &Value) -> Value {
    http.post(url)
        .header("authorization", auth)
        .header("kbn-xsrf", "b")
        .json(body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn urlencoding(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
