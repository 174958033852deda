//! Upgrade rollback end to end over HTTP, on SQLite and PostgreSQL: an agent upgrades, reports
//! its rollback target at check-in, and is rolled back; every documented limitation refuses with
//! Kibana's 400; bulk rollback makes one action per target version with per-agent errors.

use crate::support::TestServer;
use serde_json::{json, Value};

fn checkin(extra: Value) -> Value {
    let mut b = json!({"status": "online", "message": "ok", "poll_timeout": "1s"});
    b.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    b
}

fn in_days(days: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::days(days))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// An agent on `policy_id` running `version` that reports `rollbacks` at its check-in.
async fn agent(
    srv: &TestServer,
    token: &str,
    policy_id: &str,
    version: &str,
    upgradeable: bool,
    rollbacks: Value,
) -> (String, String) {
    let local = json!({"host": {"hostname": "h"}, "elastic": {"agent": {"version": version, "upgradeable": upgradeable}}});
    let (status, res) = srv
        .agent_call(
            "/api/fleet/agents/enroll",
            Some(token),
            json!({"type": "PERMANENT", "metadata": {"local": local}}),
        )
        .await;
    assert_eq!(status, 200, "{res}");
    let id = res["item"]["id"].as_str().unwrap().to_string();
    let key = res["item"]["access_api_key"].as_str().unwrap().to_string();
    let (status, _) = srv
        .agent_call(
            &format!("/api/fleet/agents/{id}/checkin"),
            Some(&key),
            checkin(json!({"local_metadata": local, "upgrade": {"rollbacks": rollbacks}, "agent_policy_id": policy_id, "policy_revision_idx": 1})),
        )
        .await;
    assert_eq!(status, 200);
    (id, key)
}

async fn rollback(srv: &TestServer, id: &str) -> (u16, Value) {
    let (status, res) = srv
        .post(&format!("/api/fleet/agents/{id}/rollback"), json!({}))
        .await;
    (status.as_u16(), res)
}

both_backends! {
    async fn upgrade_then_roll_back(srv: TestServer) {
        let p = srv.create_policy(json!({"name": "p", "namespace": "default"})).await;
        let pid = p["id"].as_str().unwrap().to_string();
        let token = srv.enrollment_token(&pid).await;
        let (id, key) = agent(&srv, &token, &pid, "9.3.0", true, json!([])).await;
        let path = format!("/api/fleet/agents/{id}/checkin");

        // Before any upgrade there is nothing to roll back to.
        let (status, res) = rollback(&srv, &id).await;
        assert_eq!(status, 400);
        assert_eq!(res["message"], "Error rolling back agent in Fleet: upgrade rollback not available for agent");

        // Upgrade 9.3.0 → 9.3.1: the agent runs it, then reports the new version and 9.3.0 as
        // its rollback target for seven days.
        let (status, res) = srv.post(&format!("/api/fleet/agents/{id}/upgrade"), json!({"version": "9.3.1"})).await;
        assert_eq!(status, 200, "{res}");
        let (status, res) = rollback(&srv, &id).await;
        assert_eq!(status, 400);
        assert_eq!(res["message"], "Error rolling back agent in Fleet: cannot roll back an upgrading agent");
        let (_, res) = srv.agent_call(&path, Some(&key), checkin(json!({}))).await;
        let upgrade = res["actions"].as_array().unwrap().iter().find(|a| a["type"] == "UPGRADE").unwrap().clone();
        let token_after = res["ack_token"].as_str().unwrap().to_string();
        srv.agent_call(&format!("/api/fleet/agents/{id}/acks"), Some(&key), json!({"events": [{"agent_id": id, "action_id": upgrade["id"]}]})).await;
        let local = json!({"host": {"hostname": "h"}, "elastic": {"agent": {"version": "9.3.1", "upgradeable": true}}});
        srv.agent_call(&path, Some(&key), checkin(json!({"ack_token": token_after, "local_metadata": local, "upgrade": {"rollbacks": [{"version": "9.3.0", "valid_until": in_days(7)}]}}))).await;
        let (_, got) = srv.get(&format!("/api/fleet/agents/{id}")).await;
        assert!(got["item"]["upgraded_at"].is_string(), "{got}");

        // Roll back: an UPGRADE to 9.3.0 with rollback: true, delivered at the next check-in.
        let (status, res) = rollback(&srv, &id).await;
        assert_eq!(status, 200, "{res}");
        let action_id = res["actionId"].as_str().unwrap().to_string();
        assert_eq!(srv.get(&format!("/api/fleet/agents/{id}")).await.1["item"]["status"], "updating");
        let (_, res) = srv.agent_call(&path, Some(&key), checkin(json!({"ack_token": token_after}))).await;
        let delivered = res["actions"].as_array().unwrap().iter().find(|a| a["id"] == json!(action_id)).expect("the rollback is delivered").clone();
        assert_eq!(delivered["type"], "UPGRADE");
        assert_eq!(delivered["data"], json!({"version": "9.3.0", "rollback": true}));
        srv.agent_call(&format!("/api/fleet/agents/{id}/acks"), Some(&key), json!({"events": [{"agent_id": id, "action_id": action_id}]})).await;
        let (_, st) = srv.get("/api/fleet/agents/action_status").await;
        let item = st["items"].as_array().unwrap().iter().find(|i| i["actionId"] == json!(action_id)).unwrap().clone();
        assert_eq!(item["status"], "COMPLETE");
        assert_eq!(item["nbAgentsAck"], 1);
        assert_eq!(item["version"], "9.3.0");

        let (status, res) = rollback(&srv, "nope").await;
        assert_eq!(status, 404);
        assert_eq!(res["message"], "Agent nope not found");
        srv.stop().await;
    }
}

both_backends! {
    async fn every_rollback_limitation_refuses(srv: TestServer) {
        let p = srv.create_policy(json!({"name": "p", "namespace": "default"})).await;
        let pid = p["id"].as_str().unwrap().to_string();
        let token = srv.enrollment_token(&pid).await;
        let valid = json!([{"version": "9.3.0", "valid_until": in_days(6)}]);
        let no_rollback = "Error rolling back agent in Fleet: upgrade rollback not available for agent";
        // Outside the seven-day window.
        let (expired, _) = agent(&srv, &token, &pid, "9.3.1", true, json!([{"version": "9.3.0", "valid_until": in_days(-1)}])).await;
        // Upgraded from a version before 9.3.0, and running one before 9.3.0.
        let (from_old, _) = agent(&srv, &token, &pid, "9.3.1", true, json!([{"version": "9.2.4", "valid_until": in_days(6)}])).await;
        let (old, _) = agent(&srv, &token, &pid, "9.2.0", true, json!([{"version": "9.1.0", "valid_until": in_days(6)}])).await;
        // Installed by DEB/RPM: the system's package manager owns it (not upgradeable by Fleet).
        let (deb, _) = agent(&srv, &token, &pid, "9.3.1", false, valid.clone()).await;
        // Unenrolling.
        let (leaving, _) = agent(&srv, &token, &pid, "9.3.1", true, valid.clone()).await;
        let (status, _) = srv.post(&format!("/api/fleet/agents/{leaving}/unenroll"), json!({})).await;
        assert_eq!(status, 200);
        for (id, message) in [
            (&expired, "Error rolling back agent in Fleet: upgrade rollback window has expired"),
            (&from_old, no_rollback),
            (&old, no_rollback),
            (&deb, no_rollback),
            (&leaving, "Error rolling back agent in Fleet: cannot roll back an unenrolling or unenrolled agent"),
        ] {
            let (status, res) = rollback(&srv, id).await;
            assert_eq!((status, res["message"].as_str().unwrap()), (400, message), "{id}");
            let (_, got) = srv.get(&format!("/api/fleet/agents/{id}")).await;
            assert!(got["item"]["upgrade_started_at"].is_null(), "a refusal changes nothing");
        }
        // Hosted policies are managed elsewhere.
        let hosted = srv.create_policy(json!({"name": "h", "namespace": "default", "is_managed": true})).await;
        let hid = hosted["id"].as_str().unwrap().to_string();
        let htoken = srv.enrollment_token(&hid).await;
        let (on_hosted, _) = agent(&srv, &htoken, &hid, "9.3.1", true, valid.clone()).await;
        let (status, res) = rollback(&srv, &on_hosted).await;
        assert_eq!(status, 400);
        assert!(res["message"].as_str().unwrap().starts_with(&format!("Cannot roll back upgrade for agent {on_hosted} on hosted agent policy {hid} in Fleet because")), "{res}");
        srv.stop().await;
    }
}

both_backends! {
    async fn bulk_rollback_groups_by_version(srv: TestServer) {
        let p = srv.create_policy(json!({"name": "p", "namespace": "default"})).await;
        let pid = p["id"].as_str().unwrap().to_string();
        let token = srv.enrollment_token(&pid).await;
        let to = |v: &str, days: i64| json!([{"version": v, "valid_until": in_days(days)}]);
        let (a, _) = agent(&srv, &token, &pid, "9.3.2", true, to("9.3.0", 5)).await;
        let (b, _) = agent(&srv, &token, &pid, "9.3.2", true, to("9.3.0", 5)).await;
        let (c, _) = agent(&srv, &token, &pid, "9.3.2", true, to("9.3.1", 5)).await;
        let (d, _) = agent(&srv, &token, &pid, "9.3.2", true, to("9.3.0", -2)).await;
        let (e, _) = agent(&srv, &token, &pid, "9.3.2", true, json!([])).await;

        let (status, res) = srv.post("/api/fleet/agents/bulk_rollback", json!({"agents": [a, b, c, d, e, "ghost"]})).await;
        assert_eq!(status, 200, "{res}");
        let ids: Vec<String> = res["actionIds"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
        assert_eq!(ids.len(), 2, "one action per rollback version: {res}");
        let (_, st) = srv.get("/api/fleet/agents/action_status?errorSize=10").await;
        let item = |id: &str| st["items"].as_array().unwrap().iter().find(|i| i["actionId"] == json!(id)).unwrap().clone();
        let (first, second) = (item(&ids[0]), item(&ids[1]));
        let by_version = |v: &str| if first["version"] == v { first.clone() } else { second.clone() };
        let v930 = by_version("9.3.0");
        assert_eq!(v930["nbAgentsActionCreated"], 2, "{v930}");
        assert_eq!(v930["nbAgentsFailed"], 3, "expired, none, ghost: {v930}");
        let mut errors: Vec<(String, String)> = v930["latestErrors"].as_array().unwrap().iter()
            .map(|e| (e["agentId"].as_str().unwrap().to_string(), e["error"].as_str().unwrap().to_string())).collect();
        errors.sort();
        let mut want = vec![
            (d.clone(), "Error rolling back agent in Fleet: upgrade rollback window has expired".to_string()),
            (e.clone(), "Error rolling back agent in Fleet: upgrade rollback not available for agent".to_string()),
            ("ghost".to_string(), "Agent ghost not found".to_string()),
        ];
        want.sort();
        assert_eq!(errors, want);
        let v931 = by_version("9.3.1");
        assert_eq!(v931["nbAgentsActionCreated"], 1);
        assert_eq!(v931["nbAgentsFailed"], 0);
        for (id, version) in [(&a, "9.3.0"), (&b, "9.3.0"), (&c, "9.3.1")] {
            let (_, got) = srv.get(&format!("/api/fleet/agents/{id}")).await;
            assert_eq!(got["item"]["status"], "updating", "{id} rolls back to {version}");
        }
        let (_, got) = srv.get(&format!("/api/fleet/agents/{d}")).await;
        assert!(got["item"]["upgrade_started_at"].is_null());

        // Only refusals: one error-only action.
        let (status, res) = srv.post("/api/fleet/agents/bulk_rollback", json!({"agents": format!("agent.id:\"{e}\"")})).await;
        assert_eq!(status, 200, "{res}");
        assert_eq!(res["actionIds"].as_array().unwrap().len(), 1);
        let (status, res) = srv.post("/api/fleet/agents/bulk_rollback", json!({"agents": 3})).await;
        assert_eq!(status, 400, "{res}");
        srv.stop().await;
    }
}
