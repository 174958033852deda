//! A fleet of simulated agents (the `simulate` crate behind `flotilla simulate`) driven through
//! the management API, on SQLite and PostgreSQL: enrollment, a policy change reaching every
//! agent, a bulk upgrade where some agents fail, diagnostics uploads, a bulk rollback and a
//! bulk unenroll — everything an administrator would see in Fleet.

use std::time::Duration;

use serde_json::{json, Value};
use simulate::{Config, Simulation};

use crate::support::TestServer;

const AGENTS: usize = 40;
// Generous: the whole suite shares two cores, and a loaded run took minutes.
const WAIT: Duration = Duration::from_secs(180);

async fn agents_where(srv: &TestServer, kuery: &str) -> Vec<Value> {
    let (status, res) = srv
        .get(&format!(
            "/api/fleet/agents?perPage=1000&showInactive=true&kuery={}",
            crate::support::urlencode(kuery)
        ))
        .await;
    assert_eq!(status, 200, "{res}");
    res["items"].as_array().unwrap().clone()
}

/// Polls the API until `check` holds for the agents matching `kuery`.
async fn until_agents(
    srv: &TestServer,
    kuery: &str,
    check: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let items = agents_where(srv, kuery).await;
        if check(&items) {
            return items;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "agents matching {kuery} never got there: {items:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

both_backends! {
    async fn a_simulated_fleet_under_fleet_management(srv: TestServer) {
        let policy = srv.create_policy(json!({"name": "simulated", "namespace": "default"})).await;
        let policy_id = policy["id"].as_str().unwrap().to_string();
        let token = srv.enrollment_token(&policy_id).await;
        let sim = Simulation::start(Config {
            urls: vec![srv.agent_base.clone()],
            enrollment_token: token,
            agents: AGENTS,
            enroll_rate: 0.0,
            jitter: Duration::ZERO,
            upgrade_step: Duration::from_millis(100),
            upgrade_failure_ratio: 0.25,
            name_prefix: "simhost".into(),
            // Rollback needs 9.3 or later on both sides.
            version: "9.3.0".into(),
            diagnostics_size: 5 * 1024 * 1024,
            // Five-second holds (Fleet holds poll_timeout minus two minutes). An agent abandons
            // its poll at each upgrade state; on a loaded machine the server can run the
            // abandoned check-in after the next one, so for one hold Fleet shows the older
            // state, as Fleet Server would. Short holds let the next check-in correct it within
            // the wait instead of five minutes later.
            poll_timeout: Duration::from_secs(125),
            ..Config::default()
        })
        .await
        .unwrap();

        // Every agent enrolls, receives its policy, acknowledges it and is online.
        sim.wait_for(|s| s.policy_changes == AGENTS as u64 && s.connected == AGENTS as i64, WAIT).await.unwrap();
        let online = until_agents(&srv, "status:online", |a| a.len() == AGENTS).await;
        let mut hosts: Vec<&str> = online.iter().map(|a| a["local_metadata"]["host"]["hostname"].as_str().unwrap()).collect();
        hosts.sort();
        hosts.dedup();
        assert_eq!(hosts.len(), AGENTS, "each agent has its own hostname");
        assert!(online.iter().all(|a| a["policy_revision"] == policy["revision"]), "{online:#?}");
        let first = sim.take_policy_received();
        assert_eq!(first.len(), AGENTS);

        // A policy change reaches every held poll.
        let (status, updated) = srv
            .put(&format!("/api/fleet/agent_policies/{policy_id}"), json!({"name": "simulated", "namespace": "default", "description": "changed"}))
            .await;
        assert_eq!(status, 200, "{updated}");
        let revision = updated["item"]["revision"].as_i64().unwrap();
        sim.wait_for(|s| s.policy_changes == 2 * AGENTS as u64, WAIT).await.unwrap();
        let received = sim.take_policy_received();
        assert_eq!(received.len(), AGENTS);
        assert!(received.iter().all(|(rev, _)| *rev == revision), "{received:?}");
        until_agents(&srv, &format!("policy_revision_idx:{revision}"), |a| a.len() == AGENTS).await;

        // A bulk upgrade: agents walk the upgrade states; a share fails while downloading.
        let (status, res) = srv.post("/api/fleet/agents/bulk_upgrade", json!({"agents": "local_metadata.host.hostname:simhost*", "version": "9.3.1"})).await;
        assert_eq!(status, 200, "{res}");
        let upgrade_action = res["actionId"].as_str().unwrap().to_string();
        let done = sim.wait_for(|s| s.upgrades_completed + s.upgrades_failed == AGENTS as u64, WAIT).await.unwrap();
        let (completed, failed) = (done.upgrades_completed as usize, done.upgrades_failed as usize);
        assert!(completed > 0, "{done:?}");
        let upgraded = until_agents(&srv, "agent.version:9.3.1", |a| {
            a.len() == completed && a.iter().all(|x| x["upgrade_details"].is_null() && x["status"] == "online")
        })
        .await;
        assert!(upgraded.iter().all(|a| a["upgraded_at"].is_string()), "{upgraded:#?}");
        assert!(upgraded.iter().all(|a| a["upgrade"]["rollbacks"][0]["version"] == "9.3.0"), "{upgraded:#?}");
        let failing = until_agents(&srv, "upgrade_details.state:UPG_FAILED", |a| a.len() == failed).await;
        assert!(failing.iter().all(|a| a["agent"]["version"] == "9.3.0"));
        let (_, st) = srv.get("/api/fleet/agents/action_status?errorSize=100").await;
        let action = st["items"].as_array().unwrap().iter().find(|a| a["actionId"] == upgrade_action.as_str()).unwrap().clone();
        assert_eq!(action["nbAgentsActioned"], AGENTS, "{action:#}");
        assert_eq!(action["nbAgentsAck"], completed, "{action:#}");
        assert_eq!(action["nbAgentsFailed"], failed, "{action:#}");

        // Diagnostics from every agent: a bundle bigger than one chunk, uploaded and listed.
        let (status, res) = srv.post("/api/fleet/agents/bulk_request_diagnostics", json!({"agents": "local_metadata.host.hostname:simhost*"})).await;
        assert_eq!(status, 200, "{res}");
        sim.wait_for(|s| s.uploads == AGENTS as u64, WAIT).await.unwrap();
        let id = &upgraded[0]["id"];
        let (_, files) = srv.get(&format!("/api/fleet/agents/{}/uploads", id.as_str().unwrap())).await;
        assert_eq!(files["items"][0]["status"], "READY", "{files:#}");

        // The upgraded agents roll back to the version they came from.
        let (status, res) = srv.post("/api/fleet/agents/bulk_rollback", json!({"agents": "agent.version:9.3.1"})).await;
        assert_eq!(status, 200, "{res}");
        until_agents(&srv, "agent.version:9.3.0", |a| {
            a.len() == AGENTS && a.iter().filter(|x| x["upgrade_details"].is_null()).count() == completed
        })
        .await;
        assert!(agents_where(&srv, "agent.version:9.3.1").await.is_empty());

        // Unenrolled agents acknowledge, stop, and show as unenrolled.
        let (status, res) = srv.post("/api/fleet/agents/bulk_unenroll", json!({"agents": "local_metadata.host.hostname:simhost*"})).await;
        assert_eq!(status, 200, "{res}");
        sim.wait_for(|s| s.unenrolled == AGENTS as u64, WAIT).await.unwrap();
        until_agents(&srv, "status:unenrolled", |a| a.len() == AGENTS).await;
        let report = sim.stop().await;
        assert_eq!(report.counters.errors, 0, "{report:#?}");
    }
}

/// Two nodes sharing PostgreSQL: an action created through one node reaches, at once, the
/// agents whose check-ins the other node holds (not when their five-minute polls end).
#[cfg_attr(
    not(postgres_tests),
    ignore = "needs PostgreSQL: set FLOTILLA_TEST_DATABASE_URL"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actions_created_on_one_node_wake_agents_held_by_another() {
    let Some(a) = TestServer::start(crate::support::Backend::Postgres).await else {
        return;
    };
    let b = a.another_node().await.expect("PostgreSQL nodes");
    let policy = a
        .create_policy(json!({"name": "two nodes", "namespace": "default"}))
        .await;
    let token = a.enrollment_token(policy["id"].as_str().unwrap()).await;
    let sim = Simulation::start(Config {
        urls: vec![a.agent_base.clone(), b.agent_base.clone()],
        enrollment_token: token,
        agents: 20,
        enroll_rate: 0.0,
        jitter: Duration::ZERO,
        diagnostics_size: 1024,
        ..Config::default()
    })
    .await
    .unwrap();
    sim.wait_for(|s| s.policy_changes == 20 && s.connected == 20, WAIT)
        .await
        .unwrap();
    let (status, res) = a
        .post(
            "/api/fleet/agents/bulk_request_diagnostics",
            json!({"agents": "*"}),
        )
        .await;
    assert_eq!(status, 200, "{res}");
    sim.wait_for(|s| s.uploads == 20, Duration::from_secs(15))
        .await
        .unwrap();
    let report = sim.stop().await;
    assert_eq!(report.counters.errors, 0, "{report:#?}");
}
