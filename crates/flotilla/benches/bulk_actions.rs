//! `cargo bench -p flotilla --bench bulk_actions`: a bulk upgrade of 100,000 agents
//! (`BULK_BENCH_N` for another count) selected by kuery, on SQLite, or on PostgreSQL when
//! `FLOTILLA_TEST_DATABASE_URL` is set and `BULK_BENCH_BACKEND=postgres`.
//!
//! Prints how fast the request answers, how fast the background job targets every agent
//! (creation rate), and how fast agents take their action at check-in and ack it over HTTP
//! (delivery rate) — each beside a floor measured in the same run: the same targeting as two
//! statements with no batching, and the same per-agent reads and writes through the store with
//! no HTTP.

#[path = "../tests/e2e/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use fleet::store::{Filter, Mode, Scalar};
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};
use support::{Backend, TestServer};

const CONCURRENCY: usize = 64;

fn bar(len: usize, what: &str) -> ProgressBar {
    let b = ProgressBar::new(len as u64);
    b.set_style(
        ProgressStyle::with_template(&format!("{what} {{bar:40}} {{pos}}/{{len}}")).unwrap(),
    );
    b
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::var("BULK_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let backend = match std::env::var("BULK_BENCH_BACKEND").as_deref() {
        Ok("postgres") => Backend::Postgres,
        _ => Backend::Sqlite,
    };
    let srv = TestServer::start(backend)
        .await
        .expect("FLOTILLA_TEST_DATABASE_URL is set for PostgreSQL");
    let store = srv.fleet().store.clone();
    let p = srv
        .create_policy(json!({"name": "bench", "namespace": "default"}))
        .await;
    let pid = p["id"].as_str().unwrap().to_string();
    let seeding = bar(1, &format!("seeding {n} agents"));
    let agents = srv.seed_agents(&pid, n, "9.1.0").await;
    seeding.finish_and_clear();

    // The request, then the background job until every agent is targeted.
    let started = Instant::now();
    let (status, res) = srv
        .post(
            "/api/fleet/agents/bulk_upgrade",
            json!({"agents": format!("policy_id:\"{pid}\""), "version": "9.3.0"}),
        )
        .await;
    assert_eq!(status, 200, "{res}");
    let answered = started.elapsed();
    let action_id = res["actionId"].as_str().unwrap().to_string();
    let progress = bar(n, "targeting");
    loop {
        let (_, st) = srv.get("/api/fleet/agents/action_status").await;
        let item = st["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["actionId"] == json!(action_id))
            .cloned()
            .unwrap();
        let created = item["nbAgentsActionCreated"].as_u64().unwrap_or(0);
        progress.set_position(created);
        if created as usize >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let targeted = started.elapsed();
    progress.finish_and_clear();

    // Floor: the same targeting with no batches, no cursor, no refusals: one INSERT … SELECT
    // and one UPDATE over the same selection, in one transaction.
    let floor_started = Instant::now();
    let mut tx = store.begin(Mode::Write).await.unwrap();
    tx.action_insert(
        "floor",
        "UPGRADE",
        &json!({"type": "UPGRADE", "data": {"version": "9.3.0"}}),
        &fleet::time::now(),
        None,
    )
    .await
    .unwrap();
    let on_policy = Filter::Eq(
        fleet::store::Target::Column {
            sqlite: "agent.policy_id",
            postgres: "agent.policy_id",
            json_path: "policy_id",
        },
        Scalar::Str(pid.clone()),
    );
    let floor_targets = tx.action_target("floor", &on_policy).await.unwrap();
    tx.agents_patch_for_action(
        "floor",
        None,
        None,
        &json!({"upgrade_started_at": fleet::time::now()}),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let floor_target = floor_started.elapsed();
    assert_eq!(floor_targets.len(), n);

    // Delivery over HTTP: every agent checks in, gets its actions, acks the UPGRADE.
    let progress = bar(n, "check-in + ack");
    let started = Instant::now();
    futures::stream::iter(agents.iter())
        .map(|(id, token)| {
            let (srv, action_id, progress) = (&srv, &action_id, &progress);
            async move {
                let (status, res) = srv
                    .agent_call(
                        &format!("/api/fleet/agents/{id}/checkin"),
                        Some(token),
                        json!({"status": "online", "message": "", "poll_timeout": "1s"}),
                    )
                    .await;
                assert_eq!(status, 200, "{res}");
                let got = res["actions"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|a| a["id"] == json!(action_id));
                assert!(got, "agent {id} got its action");
                let (status, _) = srv
                    .agent_call(
                        &format!("/api/fleet/agents/{id}/acks"),
                        Some(token),
                        json!({"events": [{"agent_id": id, "action_id": action_id}]}),
                    )
                    .await;
                assert_eq!(status, 200);
                progress.inc(1);
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<()>>()
        .await;
    let delivered = started.elapsed();
    progress.finish_and_clear();
    let (_, st) = srv.get("/api/fleet/agents/action_status").await;
    let item: Value = st["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["actionId"] == json!(action_id))
        .cloned()
        .unwrap();
    assert_eq!(item["nbAgentsAck"], json!(n));

    // Floor: the same per-agent work through the store, no HTTP, no auth, no JSON bodies:
    // read the pending actions, record the result.
    let progress = bar(n, "floor delivery");
    let started = Instant::now();
    futures::stream::iter(agents.iter())
        .map(|(id, _)| {
            let (store, progress) = (&store, &progress);
            async move {
                let mut tx = store.begin(Mode::Write).await.unwrap();
                let pending = tx
                    .action_pending(id, 0, &fleet::time::now(), 100)
                    .await
                    .unwrap();
                assert!(pending.iter().any(|(_, a)| a.id == "floor"));
                let at = fleet::time::now();
                tx.action_result_insert("floor", id, &json!({"@timestamp": at}), &at, None)
                    .await
                    .unwrap();
                tx.commit().await.unwrap();
                progress.inc(1);
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<()>>()
        .await;
    let floor_delivered = started.elapsed();
    progress.finish_and_clear();

    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    println!(
        "\nbulk upgrade of {n} agents by kuery, {}, release build\n",
        store.backend()
    );
    println!("| step | Flotilla | floor (same run) | ratio |");
    println!("|---|---|---|---|");
    println!(
        "| request answered | {:.0} ms | | |",
        answered.as_secs_f64() * 1000.0
    );
    println!(
        "| every agent targeted (creation) | {:.1} s, {:.0} agents/s | {:.1} s, {:.0} agents/s | {:.1}x |",
        targeted.as_secs_f64(),
        rate(targeted),
        floor_target.as_secs_f64(),
        rate(floor_target),
        targeted.as_secs_f64() / floor_target.as_secs_f64()
    );
    println!(
        "| delivery: check-in + ack, {CONCURRENCY} concurrent | {:.1} s, {:.0} agents/s | {:.1} s, {:.0} agents/s | {:.1}x |",
        delivered.as_secs_f64(),
        rate(delivered),
        floor_delivered.as_secs_f64(),
        rate(floor_delivered),
        delivered.as_secs_f64() / floor_delivered.as_secs_f64()
    );
    srv.stop().await;
}
