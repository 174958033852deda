//! A bulk upgrade at scale, on SQLite and PostgreSQL: 50,000 agents selected by kuery get
//! exactly one UPGRADE each, delivered at check-in, and action_status counts all their acks.
//! (How fast the request answers is measured by the agents benchmark, not asserted here.)
//! Ignored by a plain `cargo test`; `.ci/run` runs it on its own.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use crate::support::TestServer;
use futures::StreamExt;
use serde_json::{json, Value};

const AGENTS: usize = 50_000;

/// One agent's turn: check in, take its actions, ack the UPGRADE. Returns the UPGRADE ids seen.
async fn check_in_and_ack(srv: &TestServer, id: &str, token: &str) -> Vec<String> {
    let (status, res) = srv
        .agent_call(
            &format!("/api/fleet/agents/{id}/checkin"),
            Some(token),
            json!({"status": "online", "message": "", "poll_timeout": "1s"}),
        )
        .await;
    assert_eq!(status, 200, "{res}");
    let upgrades: Vec<String> = res["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["type"] == "UPGRADE")
        .map(|a| a["id"].as_str().unwrap().to_string())
        .collect();
    let events: Vec<Value> = upgrades
        .iter()
        .map(|a| json!({"agent_id": id, "action_id": a, "type": "ACTION_RESULT", "subtype": "ACKNOWLEDGED"}))
        .collect();
    let (status, res) = srv
        .agent_call(
            &format!("/api/fleet/agents/{id}/acks"),
            Some(token),
            json!({ "events": events }),
        )
        .await;
    assert_eq!(status, 200, "{res}");
    upgrades
}

both_backends! {
    // 100,000 check-ins and acks take about three minutes; `.ci/run` runs it on its own.
    #[ignore = "at scale: run with -- --ignored (as .ci/run does)"]
    async fn bulk_upgrade_of_50k_agents_by_kuery(srv: TestServer) {
        let p = srv.create_policy(json!({"name": "fleet", "namespace": "default"})).await;
        let pid = p["id"].as_str().unwrap().to_string();
        let agents = srv.seed_agents(&pid, AGENTS, "9.1.0").await;

        let started = Instant::now();
        let (status, res) = srv
            .post("/api/fleet/agents/bulk_upgrade", json!({"agents": format!("policy_id:\"{pid}\" and local_metadata.elastic.agent.upgradeable:true"), "version": "9.3.0"}))
            .await;
        assert_eq!(status, 200, "{res}");
        eprintln!("bulk_upgrade of {AGENTS} agents answered in {:?} on {}", started.elapsed(), srv.fleet().store.backend());
        let action_id = res["actionId"].as_str().unwrap().to_string();

        // Every agent checks in (the job may still be selecting: agents not reached yet come
        // back until they have their action) and acks what it got.
        let mut pending: Vec<(String, String)> = agents;
        let mut seen: HashSet<String> = HashSet::new();
        let deadline = Instant::now() + Duration::from_secs(600);
        while !pending.is_empty() {
            let results: Vec<((String, String), Vec<String>)> = futures::stream::iter(pending.clone())
                .map(|(id, token)| {
                    let srv = &srv;
                    async move {
                        let got = check_in_and_ack(srv, &id, &token).await;
                        ((id, token), got)
                    }
                })
                .buffer_unordered(64)
                .collect()
                .await;
            pending.clear();
            for ((id, token), got) in results {
                assert!(got.len() <= 1, "agent {id} got {got:?}");
                match got.first() {
                    Some(a) => {
                        assert_eq!(a, &action_id);
                        assert!(seen.insert(id.clone()), "agent {id} got the action twice");
                    }
                    None if seen.contains(&id) => {}
                    None => pending.push((id, token)),
                }
            }
            assert!(Instant::now() < deadline, "{} agents never got the action", pending.len());
        }
        assert_eq!(seen.len(), AGENTS);

        let (_, st) = srv.get("/api/fleet/agents/action_status").await;
        let item = st["items"].as_array().unwrap().iter().find(|i| i["actionId"] == json!(action_id)).unwrap().clone();
        assert_eq!(item["nbAgentsActioned"], AGENTS, "{item}");
        assert_eq!(item["nbAgentsActionCreated"], AGENTS);
        assert_eq!(item["nbAgentsAck"], AGENTS);
        assert_eq!(item["nbAgentsFailed"], 0);
        assert_eq!(item["status"], "COMPLETE");
        srv.stop().await;
    }
}
