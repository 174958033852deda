//! Agent actions end to end over HTTP, on SQLite and PostgreSQL: unenroll (with and without
//! revoke, hosted policies), reassign, bulk selection by ids and kuery, delivery at check-in
//! with the ack_token cursor, results from acks, and action_status.

use std::time::{Duration, Instant};

use crate::support::TestServer;
use serde_json::{json, Value};

fn checkin(extra: Value) -> Value {
    let mut b = json!({"status": "online", "message": "ok", "poll_timeout": "1s"});
    b.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    b
}

/// An enrolled agent that has checked in and acknowledged its policy.
async fn settled_agent(
    srv: &TestServer,
    policy_id: &str,
    token: &str,
    host: &str,
) -> (String, String) {
    let (id, key) = srv.enroll(token, host).await;
    let (_, res) = srv
        .agent_call(
            &format!("/api/fleet/agents/{id}/checkin"),
            Some(&key),
            checkin(json!({})),
        )
        .await;
    let rev = res["actions"][0]["data"]["policy"]["revision"]
        .as_i64()
        .unwrap();
    srv.agent_call(
        &format!("/api/fleet/agents/{id}/acks"),
        Some(&key),
        json!({
            "events": [{"agent_id": id, "action_id": format!("policy:{policy_id}:{rev}")}]
        }),
    )
    .await;
    (id, key)
}

async fn policy(srv: &TestServer, name: &str, managed: bool) -> (String, String) {
    let p = srv
        .create_policy(json!({"name": name, "namespace": "default", "is_managed": managed}))
        .await;
    let id = p["id"].as_str().unwrap().to_string();
    let token = srv.enrollment_token(&id).await;
    (id, token)
}

async fn status_of(srv: &TestServer, id: &str) -> Value {
    srv.get(&format!("/api/fleet/agents/{id}")).await.1["item"]["status"].clone()
}

fn action_ids(res: &Value) -> Vec<String> {
    res["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["type"].as_str().unwrap().to_string())
        .collect()
}

both_backends! {
    async fn unenroll_is_delivered_acked_and_revokes(srv: TestServer) {
        let (pid, token) = policy(&srv, "p", false).await;
        let (id, key) = settled_agent(&srv, &pid, &token, "web-1").await;
        let path = format!("/api/fleet/agents/{id}/checkin");

        // Hold a check-in, then unenroll: the held check-in answers at once with the action.
        let srv = std::sync::Arc::new(srv);
        let poller = {
            let (srv, path, key) = (srv.clone(), path.clone(), key.clone());
            tokio::spawn(async move { srv.agent_call(&path, Some(&key), checkin(json!({"poll_timeout": "7m"}))).await })
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        let started = Instant::now();
        let (status, res) = srv.post(&format!("/api/fleet/agents/{id}/unenroll"), json!({})).await;
        assert_eq!(status, 200, "{res}");
        assert_eq!(res, json!({}));
        let (status, res) = tokio::time::timeout(Duration::from_secs(5), poller).await.unwrap().unwrap();
        assert!(started.elapsed() < Duration::from_secs(1));
        assert_eq!(status, 200);
        assert_eq!(action_ids(&res), ["UNENROLL"]);
        let action = &res["actions"][0];
        assert_eq!(action["agent_id"], id);
        let ack_token = res["ack_token"].as_str().unwrap().to_string();
        assert_ne!(ack_token, "");
        assert_eq!(status_of(&srv, &id).await, "unenrolling");

        // The cursor: not delivered again.
        let (_, again) = srv.agent_call(&path, Some(&key), checkin(json!({"ack_token": ack_token}))).await;
        assert_eq!(action_ids(&again), Vec::<String>::new());

        let (status, res) = srv.agent_call(&format!("/api/fleet/agents/{id}/acks"), Some(&key), json!({
            "events": [{"type": "ACTION_RESULT", "subtype": "ACKNOWLEDGED", "agent_id": id, "action_id": action["id"], "timestamp": "2026-01-01T00:00:00Z"}]
        })).await;
        assert_eq!(status, 200, "{res}");
        let (_, got) = srv.get(&format!("/api/fleet/agents/{id}")).await;
        assert_eq!(got["item"]["status"], "unenrolled");
        assert_eq!(got["item"]["active"], false);
        assert!(got["item"]["unenrolled_at"].is_string());
        let (status, _) = srv.agent_call(&path, Some(&key), checkin(json!({}))).await;
        assert_eq!(status, 401, "an unenrolled agent's key is revoked");
        let (_, list) = srv.get("/api/fleet/agents").await;
        assert_eq!(list["total"], 0, "unenrolled agents are hidden by default");

        let (_, st) = srv.get("/api/fleet/agents/action_status").await;
        let item = &st["items"][0];
        assert_eq!(item["type"], "UNENROLL");
        assert_eq!(item["status"], "COMPLETE");
        assert_eq!((item["nbAgentsActioned"].clone(), item["nbAgentsAck"].clone(), item["nbAgentsFailed"].clone()), (json!(1), json!(1), json!(0)));
        assert!(item["completionTime"].is_string());
        std::sync::Arc::try_unwrap(srv).ok().expect("only owner").stop().await;
    }
}

both_backends! {
    async fn unenroll_with_revoke_and_hosted_policies(srv: TestServer) {
        let (pid, token) = policy(&srv, "p", false).await;
        let (id, key) = settled_agent(&srv, &pid, &token, "a").await;
        let (status, _) = srv.post(&format!("/api/fleet/agents/{id}/unenroll"), json!({"revoke": true})).await;
        assert_eq!(status, 200);
        assert_eq!(status_of(&srv, &id).await, "unenrolled");
        let (status, _) = srv.agent_call(&format!("/api/fleet/agents/{id}/checkin"), Some(&key), checkin(json!({}))).await;
        assert_eq!(status, 401);

        let (hosted, htoken) = policy(&srv, "hosted", true).await;
        let (hid, _) = settled_agent(&srv, &hosted, &htoken, "h").await;
        let (status, res) = srv.post(&format!("/api/fleet/agents/{hid}/unenroll"), json!({})).await;
        assert_eq!(status, 400);
        assert_eq!(res["message"], format!("Cannot unenroll {hid} from a hosted agent policy {hosted} in Fleet because the agent policy is managed by an external orchestration solution, such as Elastic Cloud, Kubernetes, etc. Please make changes using your orchestration solution."));
        let (status, _) = srv.post(&format!("/api/fleet/agents/{hid}/unenroll"), json!({"force": true})).await;
        assert_eq!(status, 200);
        assert_eq!(status_of(&srv, &hid).await, "unenrolling");
        let (status, _) = srv.post("/api/fleet/agents/nope/unenroll", json!({})).await;
        assert_eq!(status, 404);
        let (status, _) = srv.post(&format!("/api/fleet/agents/{hid}/unenroll"), json!({"revoke": "yes"})).await;
        assert_eq!(status, 400);
        srv.stop().await;
    }
}

both_backends! {
    async fn reassign_moves_an_agent_to_another_policy(srv: TestServer) {
        let (from, token) = policy(&srv, "from", false).await;
        let (to, _) = policy(&srv, "to", false).await;
        let (id, key) = settled_agent(&srv, &from, &token, "a").await;
        let (status, res) = srv.post(&format!("/api/fleet/agents/{id}/reassign"), json!({"policy_id": to})).await;
        assert_eq!(status, 200, "{res}");
        let (_, got) = srv.get(&format!("/api/fleet/agents/{id}")).await;
        assert_eq!(got["item"]["policy_id"], to);
        assert_eq!(got["item"]["status"], "updating", "no revision of the new policy yet");
        let (_, res) = srv.agent_call(&format!("/api/fleet/agents/{id}/checkin"), Some(&key), checkin(json!({}))).await;
        assert_eq!(action_ids(&res), ["POLICY_CHANGE", "POLICY_REASSIGN"]);
        assert_eq!(res["actions"][0]["data"]["policy"]["id"], to);
        assert_eq!(res["actions"][1]["data"]["policy_id"], to);
        srv.agent_call(&format!("/api/fleet/agents/{id}/acks"), Some(&key), json!({"events": [
            {"agent_id": id, "action_id": format!("policy:{to}:1")},
            {"agent_id": id, "action_id": res["actions"][1]["id"]},
        ]})).await;
        assert_eq!(status_of(&srv, &id).await, "online");

        let (hosted, _) = policy(&srv, "hosted", true).await;
        let (status, res) = srv.post(&format!("/api/fleet/agents/{id}/reassign"), json!({"policy_id": hosted})).await;
        assert_eq!(status, 400, "{res}");
        assert!(res["message"].as_str().unwrap().starts_with(&format!("Cannot reassign agents to hosted agent policy {hosted}")));
        let (status, _) = srv.post(&format!("/api/fleet/agents/{id}/reassign"), json!({"policy_id": "nope"})).await;
        assert_eq!(status, 404);
        let (status, _) = srv.post(&format!("/api/fleet/agents/{id}/reassign"), json!({})).await;
        assert_eq!(status, 400);
        srv.stop().await;
    }
}

both_backends! {
    async fn bulk_actions_select_by_kuery_and_ids(srv: TestServer) {
        let (pid, token) = policy(&srv, "p", false).await;
        let (other, _) = policy(&srv, "other", false).await;
        let mut agents = Vec::new();
        for host in ["web-1", "web-2", "web-3", "db-1"] {
            agents.push(settled_agent(&srv, &pid, &token, host).await);
        }
        let (status, res) = srv.post("/api/fleet/agents/bulk_reassign", json!({"policy_id": other, "agents": "local_metadata.host.hostname:web*"})).await;
        assert_eq!(status, 200, "{res}");
        let action_id = res["actionId"].as_str().unwrap().to_string();
        let (_, list) = srv.get(&format!("/api/fleet/agents?kuery=policy_id:%22{other}%22")).await;
        assert_eq!(list["total"], 3);

        // Every selected agent gets the action exactly once; one of them fails it.
        for (n, (id, key)) in agents.iter().take(3).enumerate() {
            let (_, res) = srv.agent_call(&format!("/api/fleet/agents/{id}/checkin"), Some(key), checkin(json!({}))).await;
            let reassign: Vec<&Value> = res["actions"].as_array().unwrap().iter().filter(|a| a["type"] == "POLICY_REASSIGN").collect();
            assert_eq!(reassign.len(), 1);
            assert_eq!(reassign[0]["id"], action_id);
            let error = if n == 0 { json!("disk full") } else { json!("") };
            srv.agent_call(&format!("/api/fleet/agents/{id}/acks"), Some(key), json!({"events": [{"agent_id": id, "action_id": action_id, "error": error}]})).await;
            let (_, again) = srv.agent_call(&format!("/api/fleet/agents/{id}/checkin"), Some(key), checkin(json!({}))).await;
            assert!(again["actions"].as_array().unwrap().iter().all(|a| a["id"] != json!(action_id)), "answered actions are not redelivered");
        }
        let (_, st) = srv.get("/api/fleet/agents/action_status?errorSize=3").await;
        let item = st["items"].as_array().unwrap().iter().find(|i| i["actionId"] == json!(action_id)).unwrap();
        assert_eq!(item["status"], "FAILED");
        assert_eq!(item["newPolicyId"], other);
        assert_eq!((item["nbAgentsActioned"].clone(), item["nbAgentsAck"].clone(), item["nbAgentsFailed"].clone()), (json!(3), json!(2), json!(1)));
        assert_eq!(item["latestErrors"][0]["error"], "disk full");
        assert_eq!(item["latestErrors"][0]["agentId"], json!(agents[0].0));

        let ids: Vec<&str> = vec![&agents[3].0];
        let (status, res) = srv.post("/api/fleet/agents/bulk_unenroll", json!({"agents": ids, "revoke": true})).await;
        assert_eq!(status, 200, "{res}");
        assert_eq!(status_of(&srv, &agents[3].0).await, "unenrolled");
        let (_, st) = srv.get("/api/fleet/agents/action_status").await;
        let item = st["items"].as_array().unwrap().iter().find(|i| i["actionId"] == res["actionId"]).unwrap();
        assert_eq!(item["status"], "COMPLETE", "{item}");
        assert_eq!(item["nbAgentsAck"], 1);

        let (status, _) = srv.post("/api/fleet/agents/bulk_reassign", json!({"policy_id": other, "agents": "nosuch:x"})).await;
        assert_eq!(status, 400);
        let (status, _) = srv.get("/api/fleet/agents/action_status?page=-1").await;
        assert_eq!(status, 400);
        srv.stop().await;
    }
}

/// Enrolls an agent reporting `version` and whether it can be upgraded, checked in and settled.
async fn versioned_agent(
    srv: &TestServer,
    policy_id: &str,
    token: &str,
    host: &str,
    version: &str,
    upgradeable: bool,
) -> (String, String) {
    let (status, res) = srv.agent_call("/api/fleet/agents/enroll", Some(token), json!({
        "type": "PERMANENT",
        "metadata": {"local": {"host": {"hostname": host}, "elastic": {"agent": {"version": version, "upgradeable": upgradeable}}}}
    })).await;
    assert_eq!(status, 200, "{res}");
    let (id, key) = (
        res["item"]["id"].as_str().unwrap().to_string(),
        res["item"]["access_api_key"].as_str().unwrap().to_string(),
    );
    srv.agent_call(
        &format!("/api/fleet/agents/{id}/checkin"),
        Some(&key),
        checkin(json!({})),
    )
    .await;
    srv.agent_call(
        &format!("/api/fleet/agents/{id}/acks"),
        Some(&key),
        json!({"events": [{"agent_id": id, "action_id": format!("policy:{policy_id}:1")}]}),
    )
    .await;
    (id, key)
}

both_backends! {
    async fn upgrade_rules_delivery_and_cooldown(srv: TestServer) {
        let (pid, token) = policy(&srv, "p", false).await;
        let (id, key) = versioned_agent(&srv, &pid, &token, "a", "9.1.0", true).await;
        let (stuck, _) = versioned_agent(&srv, &pid, &token, "b", "9.1.0", false).await;
        let up = |agent: &str, body: Value| {
            let (srv, path) = (&srv, format!("/api/fleet/agents/{agent}/upgrade"));
            async move { srv.post(&path, body).await }
        };
        for (agent, body, message) in [
            (id.as_str(), json!({"version": "9.4.0"}), "Cannot upgrade agent to 9.4.0 because it is higher than the installed kibana version 9.3.0".to_string()),
            (id.as_str(), json!({"version": "9.4.0", "force": true}), "Cannot force upgrade agent to 9.4.0 because it does not satisfy the major and minor of the installed kibana version 9.3.0".to_string()),
            (id.as_str(), json!({"version": "9.1.0"}), format!("Agent {id} is not upgradeable: agent is already running on the selected version.")),
            (id.as_str(), json!({"version": "9.0.0"}), format!("Agent {id} is not upgradeable: agent does not support downgrades.")),
            (stuck.as_str(), json!({"version": "9.3.0"}), format!("Agent {stuck} is not upgradeable: agent cannot be upgraded through Fleet. It may be running in a container or it is not installed as a service.")),
        ] {
            let (status, res) = up(agent, body.clone()).await;
            assert_eq!(status, 400, "{body}: {res}");
            assert_eq!(res["message"], message);
        }
        let (status, res) = up(&id, json!({"version": "9.3.0"})).await;
        assert_eq!(status, 200, "{res}");
        assert_eq!(res, json!({}));
        assert_eq!(status_of(&srv, &id).await, "updating");
        let (status, res) = up(&id, json!({"version": "9.3.0"})).await;
        assert_eq!(status, 400);
        assert_eq!(res["message"], format!("agent {id} is already upgrading"));

        let path = format!("/api/fleet/agents/{id}/checkin");
        let (_, res) = srv.agent_call(&path, Some(&key), checkin(json!({}))).await;
        assert_eq!(action_ids(&res), ["UPGRADE"]);
        assert_eq!(res["actions"][0]["data"]["version"], "9.3.0");
        let token_after = res["ack_token"].as_str().unwrap().to_string();
        // The agent reports progress, then finishes (no more upgrade_details).
        srv.agent_call(&path, Some(&key), checkin(json!({"ack_token": token_after, "upgrade_details": {"state": "UPG_DOWNLOADING", "target_version": "9.3.0", "action_id": res["actions"][0]["id"]}}))).await;
        let (_, got) = srv.get(&format!("/api/fleet/agents/{id}")).await;
        assert_eq!(got["item"]["upgrade_details"]["state"], "UPG_DOWNLOADING");
        srv.agent_call(&path, Some(&key), checkin(json!({"ack_token": token_after}))).await;
        let (_, got) = srv.get(&format!("/api/fleet/agents/{id}")).await;
        assert!(got["item"]["upgraded_at"].is_string());
        assert!(got["item"]["upgrade_started_at"].is_null());

        // The 10-minute cooldown: 429 with Retry-After.
        let res = srv.http.post(format!("{}/api/fleet/agents/{id}/upgrade", srv.base))
            .header("authorization", srv.auth.clone().unwrap()).header("kbn-xsrf", "x")
            .json(&json!({"version": "9.3.0"})).send().await.unwrap();
        assert_eq!(res.status(), 429);
        let retry: i64 = res.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=600).contains(&retry), "{retry}");
        let body: Value = res.json().await.unwrap();
        assert!(body["message"].as_str().unwrap().starts_with(&format!("agent {id} was upgraded less than 10 minutes ago. Please wait ")));
        let (status, res) = up(&id, json!({"version": "9.3.0", "skipRateLimitCheck": true})).await;
        assert_eq!(status, 200, "{res}");
        srv.stop().await;
    }
}

both_backends! {
    async fn bulk_upgrade_rollout_and_cancel(srv: TestServer) {
        let (pid, token) = policy(&srv, "p", false).await;
        let mut agents = Vec::new();
        for host in ["web-1", "web-2"] {
            agents.push(versioned_agent(&srv, &pid, &token, host, "9.0.0", true).await);
        }
        let (latest, _) = versioned_agent(&srv, &pid, &token, "web-3", "9.3.0", true).await;
        let start = "2030-01-01T00:00:00.000Z";
        let (status, res) = srv.post("/api/fleet/agents/bulk_upgrade", json!({
            "agents": "local_metadata.host.hostname:web*", "version": "9.3.0", "rollout_duration_seconds": 3600, "start_time": start
        })).await;
        assert_eq!(status, 200, "{res}");
        let action_id = res["actionId"].as_str().unwrap().to_string();
        assert_eq!(status_of(&srv, &latest).await, "online", "an agent already on the version is not actioned");
        let mut starts = Vec::new();
        for (id, key) in &agents {
            let (_, res) = srv.agent_call(&format!("/api/fleet/agents/{id}/checkin"), Some(key), checkin(json!({}))).await;
            let a = &res["actions"][0];
            assert_eq!(a["id"], action_id);
            assert_eq!(a["rollout_duration_seconds"], 3600);
            let t = a["start_time"].as_str().unwrap().to_string();
            assert!(t.as_str() >= start && t.as_str() < "2030-01-01T01:00:00.000Z", "{t}");
            starts.push((t, res["ack_token"].as_str().unwrap().to_string()));
        }
        let (_, st) = srv.get("/api/fleet/agents/action_status").await;
        let item = st["items"].as_array().unwrap().iter().find(|i| i["actionId"] == json!(action_id)).unwrap();
        // As in Kibana, the selected agent that cannot upgrade counts, answered with an error.
        assert_eq!(item["nbAgentsActioned"], 3);
        assert_eq!(item["nbAgentsActionCreated"], 2);
        assert_eq!(item["nbAgentsFailed"], 1);
        assert_eq!(item["latestErrors"][0]["agentId"], json!(latest));
        assert_eq!(
            item["latestErrors"][0]["error"],
            format!("Agent {latest} is not upgradeable: agent is already running on the selected version.")
        );
        assert_eq!(item["version"], "9.3.0");
        assert_eq!(item["hasRolloutPeriod"], true);

        let (status, res) = srv.post(&format!("/api/fleet/agents/actions/{action_id}/cancel"), json!({})).await;
        assert_eq!(status, 200, "{res}");
        assert_eq!(res["item"]["type"], "CANCEL");
        assert_eq!(res["item"]["data"]["target_id"], action_id);
        let (_, st) = srv.get("/api/fleet/agents/action_status").await;
        let item = st["items"].as_array().unwrap().iter().find(|i| i["actionId"] == json!(action_id)).unwrap();
        assert_eq!(item["status"], "CANCELLED");
        assert!(item["cancellationTime"].is_string());
        assert!(st["items"].as_array().unwrap().iter().all(|i| i["type"] != "CANCEL"), "CANCEL actions are not listed");
        let (id, key) = &agents[0];
        assert_eq!(status_of(&srv, id).await, "online", "no longer upgrading");
        let (_, res) = srv.agent_call(&format!("/api/fleet/agents/{id}/checkin"), Some(key), checkin(json!({"ack_token": starts[0].1}))).await;
        assert_eq!(action_ids(&res), ["CANCEL"]);
        assert_eq!(res["actions"][0]["data"]["target_id"], action_id);
        let (status, _) = srv.post("/api/fleet/agents/actions/nope/cancel", json!({})).await;
        assert_eq!(status, 404);
        let (status, _) = srv.post("/api/fleet/agents/bulk_upgrade", json!({"agents": [id], "version": "10.0.0"})).await;
        assert_eq!(status, 400);
        srv.stop().await;
    }
}

both_backends! {
    async fn settings_and_diagnostics_actions(srv: TestServer) {
        let (pid, token) = policy(&srv, "p", false).await;
        let (id, key) = settled_agent(&srv, &pid, &token, "a").await;
        let (status, res) = srv.post(&format!("/api/fleet/agents/{id}/actions"), json!({"action": {"type": "SETTINGS", "data": {"log_level": "debug"}}})).await;
        assert_eq!(status, 200, "{res}");
        assert_eq!(res["item"]["type"], "SETTINGS");
        let (status, res) = srv.post(&format!("/api/fleet/agents/{id}/request_diagnostics"), json!({"additional_metrics": ["CPU"]})).await;
        assert_eq!(status, 200, "{res}");
        assert!(res["actionId"].is_string());
        let (_, res) = srv.agent_call(&format!("/api/fleet/agents/{id}/checkin"), Some(&key), checkin(json!({}))).await;
        assert_eq!(action_ids(&res), ["SETTINGS", "REQUEST_DIAGNOSTICS"]);
        assert_eq!(res["actions"][0]["data"]["log_level"], "debug");
        assert_eq!(res["actions"][1]["data"]["additional_metrics"], json!(["CPU"]));
        let expiration = res["actions"][1]["expiration"].as_str().unwrap();
        let hours = (chrono::DateTime::parse_from_rfc3339(expiration).unwrap().with_timezone(&chrono::Utc) - chrono::Utc::now()).num_minutes();
        assert!((170..=180).contains(&hours), "diagnostics expire in 3 hours: {hours} minutes");
        let (status, res) = srv.post("/api/fleet/agents/bulk_request_diagnostics", json!({"agents": "local_metadata.host.hostname:a"})).await;
        assert_eq!(status, 200, "{res}");
        let (status, res) = srv.post(&format!("/api/fleet/agents/{id}/actions"), json!({"action": {"type": "DANCE"}})).await;
        assert_eq!(status, 400);
        assert!(res["message"].as_str().unwrap().starts_with("[request body.action]: types that failed validation:\n- [request body.action.0.type]: types that failed validation:\n - [request body.action.type.0]: expected value to equal [UNENROLL]"), "{res}");
        let (status, res) = srv.post(&format!("/api/fleet/agents/{id}/actions"), json!({"action": {"type": "SETTINGS", "data": {"log_level": "loud"}}})).await;
        assert_eq!(status, 400, "{res}");
        assert!(res["message"].as_str().unwrap().contains("- [request body.action.1.data.log_level]: types that failed validation:\n - [request body.action.data.log_level.0]: expected value to equal [null]\n - [request body.action.data.log_level.1]: types that failed validation:\n  - [request body.action.data.log_level.0]: expected value to equal [debug]"), "{res}");
        let (status, _) = srv.post("/api/fleet/agents/nope/actions", json!({"action": {"type": "SETTINGS"}})).await;
        assert_eq!(status, 404);
        srv.stop().await;
    }
}

both_backends! {
    async fn policy_changes_are_listed_in_action_status(srv: TestServer) {
        let (pid, token) = policy(&srv, "p", false).await;
        let a = settled_agent(&srv, &pid, &token, "a").await;
        let b = settled_agent(&srv, &pid, &token, "b").await;
        let a_id = a.0.clone();
        let (status, _) = srv.put(&format!("/api/fleet/agent_policies/{pid}"), json!({"name": "p", "namespace": "prod"})).await;
        assert_eq!(status, 200);
        let find = |st: &Value| st["items"].as_array().unwrap().iter().find(|i| i["actionId"] == json!(format!("{pid}:2"))).cloned().unwrap();
        let (_, st) = srv.get("/api/fleet/agents/action_status").await;
        let item = find(&st);
        assert_eq!(item["type"], "POLICY_CHANGE");
        assert_eq!(item["policyId"], pid);
        assert_eq!(item["revision"], 2);
        assert_eq!((item["nbAgentsActioned"].clone(), item["nbAgentsAck"].clone(), item["status"].clone()), (json!(2), json!(0), json!("IN_PROGRESS")));
        for (n, (id, key)) in [a, b].iter().enumerate() {
            let (_, res) = srv.agent_call(&format!("/api/fleet/agents/{id}/checkin"), Some(key), checkin(json!({}))).await;
            assert_eq!(res["actions"][0]["id"], format!("policy:{pid}:2"));
            srv.agent_call(&format!("/api/fleet/agents/{id}/acks"), Some(key), json!({"events": [{"agent_id": id, "action_id": format!("policy:{pid}:2")}]})).await;
            let (_, st) = srv.get("/api/fleet/agents/action_status").await;
            assert_eq!(find(&st)["nbAgentsAck"], n + 1);
        }
        let (_, st) = srv.get("/api/fleet/agents/action_status").await;
        assert_eq!(find(&st)["status"], "COMPLETE");
        // Paging runs over both kinds of entries, newest first: a stored action made now comes
        // before the policy change.
        let (_, diag) = srv.post(&format!("/api/fleet/agents/{}/request_diagnostics", a_id), json!({})).await;
        let (_, first) = srv.get("/api/fleet/agents/action_status?perPage=1").await;
        assert_eq!(first["items"].as_array().unwrap().len(), 1);
        assert_eq!(first["items"][0]["actionId"], diag["actionId"]);
        let (_, second) = srv.get("/api/fleet/agents/action_status?perPage=1&page=1").await;
        assert_eq!(second["items"].as_array().unwrap().len(), 1);
        assert_eq!(second["items"][0]["actionId"], format!("{pid}:2"));
        let (_, third) = srv.get("/api/fleet/agents/action_status?perPage=1&page=2").await;
        assert_eq!(third["items"], json!([]));
        srv.stop().await;
    }
}

/// Waits until action_status shows the action with every selected agent handled.
async fn until_selected(srv: &TestServer, action_id: &str, n: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (_, st) = srv.get("/api/fleet/agents/action_status?perPage=50").await;
        let item = st["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["actionId"] == json!(action_id))
            .cloned()
            .expect("the action is listed");
        if item["nbAgentsActionCreated"].as_u64() == Some(n) {
            return item;
        }
        assert!(
            Instant::now() < deadline,
            "bulk action never finished: {item}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

both_backends! {
    /// A bulk action interrupted by a restart resumes on the next start: every selected agent
    /// gets exactly one action and its side effect exactly once.
    async fn bulk_action_survives_a_restart(srv: TestServer) {
        let mut srv = srv;
        let (pid, _) = policy(&srv, "p", false).await;
        let n = 20_000;
        let ids = srv.seed_agents(&pid, n, "9.0.0").await;
        let (status, res) = srv
            .post("/api/fleet/agents/bulk_upgrade", json!({"agents": "policy_id:*", "version": "9.3.0", "batchSize": 200}))
            .await;
        assert_eq!(status, 200, "{res}");
        let action_id = res["actionId"].as_str().unwrap().to_string();
        srv.halt().await;

        // Stopped in the middle: some batches are committed, the rest are not.
        let store = srv.reopen().await;
        let mut tx = store.begin(fleet::store::Mode::Read).await.unwrap();
        let job = tx.job_get(&action_id, false).await.unwrap().expect("a job");
        assert!(!job.done, "the job finished before the stop; the test needs a bigger selection");
        let (targeted, _, _, _) = tx.action_counts(&action_id).await.unwrap();
        assert!(targeted > 0 && targeted < n as u64, "{targeted} targeted before the stop");
        drop(tx);

        srv.resume(store).await;
        let item = until_selected(&srv, &action_id, n as u64).await;
        assert_eq!(item["nbAgentsActioned"], n);
        assert_eq!(item["nbAgentsFailed"], 0);
        assert_eq!(item["status"], "IN_PROGRESS", "no agent acked yet");
        // Exactly once: each agent was written once after seeding (version 1 → 2), is upgrading,
        // and has the action pending exactly once.
        let mut tx = srv.fleet().store.begin(fleet::store::Mode::Read).await.unwrap();
        for (id, _) in ids.iter().step_by(97).chain(ids.last()) {
            let row = tx.agent_get(id).await.unwrap().unwrap();
            assert_eq!(row.doc.version, 2, "agent {id} was patched once");
            assert!(row.doc.body["upgrade_started_at"].is_string());
            let pending = tx.action_pending(id, 0, &fleet::time::now(), 10).await.unwrap();
            assert_eq!(pending.len(), 1, "agent {id} has one action");
        }
        let (targeted, _, _, _) = tx.action_counts(&action_id).await.unwrap();
        assert_eq!(targeted, n as u64);
        drop(tx);
        srv.stop().await;
    }
}

both_backends! {
    /// An agent that fails its upgrade acks with an error: the action fails with the agent's
    /// error, the agent is no longer upgrading, and a new upgrade may be asked for.
    async fn failed_upgrade(srv: TestServer) {
        let (pid, token) = policy(&srv, "p", false).await;
        let (id, key) = versioned_agent(&srv, &pid, &token, "a", "9.1.0", true).await;
        let (status, _) = srv.post(&format!("/api/fleet/agents/{id}/upgrade"), json!({"version": "9.3.0"})).await;
        assert_eq!(status, 200);
        let path = format!("/api/fleet/agents/{id}/checkin");
        let (_, res) = srv.agent_call(&path, Some(&key), checkin(json!({}))).await;
        let action = res["actions"].as_array().unwrap().iter().find(|a| a["type"] == "UPGRADE").unwrap().clone();
        let ack_token = res["ack_token"].clone();
        // A retryable failure keeps it upgrading.
        let (status, _) = srv.agent_call(&format!("/api/fleet/agents/{id}/acks"), Some(&key), json!({"events": [
            {"agent_id": id, "action_id": action["id"], "error": "download failed", "payload": {"retry": true, "retry_attempt": 1}}
        ]})).await;
        assert_eq!(status, 200);
        assert_eq!(status_of(&srv, &id).await, "updating");
        let (_, got) = srv.get(&format!("/api/fleet/agents/{id}")).await;
        assert_eq!(got["item"]["upgrade_status"], "retrying");
        srv.agent_call(&path, Some(&key), checkin(json!({"ack_token": ack_token, "upgrade_details": {"state": "UPG_FAILED", "target_version": "9.3.0", "action_id": action["id"], "metadata": {"error_msg": "download failed"}}}))).await;
        let (_, st) = srv.get("/api/fleet/agents/action_status").await;
        let item = st["items"].as_array().unwrap().iter().find(|i| i["actionId"] == action["id"]).unwrap().clone();
        assert_eq!(item["status"], "FAILED", "{item}");
        assert_eq!(item["nbAgentsFailed"], 1);
        assert_eq!(item["latestErrors"][0]["error"], "download failed");
        assert_eq!(item["latestErrors"][0]["agentId"], json!(id));
        let (_, got) = srv.get(&format!("/api/fleet/agents/{id}")).await;
        assert_eq!(got["item"]["upgrade_details"]["state"], "UPG_FAILED");
        // A failed upgrade does not block the next one.
        let (status, res) = srv.post(&format!("/api/fleet/agents/{id}/upgrade"), json!({"version": "9.3.0"})).await;
        assert_eq!(status, 200, "{res}");
        srv.stop().await;
    }
}

both_backends! {
    async fn upgrade_and_unenroll_actions_are_signed_with_the_policy_key(srv: TestServer) {
        use base64::Engine;
        use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_ASN1};
        let b64 = base64::engine::general_purpose::STANDARD;
        let (pid, token) = policy(&srv, "p", false).await;
        let (id, key) = versioned_agent(&srv, &pid, &token, "h1", "9.1.0", true).await;
        let (_, full) = srv.get(&format!("/api/fleet/agent_policies/{pid}/full")).await;
        let public = b64.decode(full["item"]["agent"]["protection"]["signing_key"].as_str().unwrap()).unwrap();
        let next_action = |kind: &'static str| {
            let (srv, id, key) = (&srv, id.clone(), key.clone());
            async move {
                let (_, res) = srv.agent_call(&format!("/api/fleet/agents/{id}/checkin"), Some(&key), checkin(json!({}))).await;
                res["actions"].as_array().unwrap().iter().find(|a| a["type"] == kind).cloned().unwrap_or_else(|| panic!("no {kind}: {res}"))
            }
        };
        let (status, res) = srv.post(&format!("/api/fleet/agents/{id}/upgrade"), json!({"version": "9.3.0"})).await;
        assert_eq!(status, 200, "{res}");
        let upgrade = next_action("UPGRADE").await;
        let data = b64.decode(upgrade["signed"]["data"].as_str().expect("signed")).unwrap();
        let sig = b64.decode(upgrade["signed"]["signature"].as_str().unwrap()).unwrap();
        assert!(UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, &public[public.len() - 65..]).verify(&data, &sig).is_ok());
        let signed: Value = serde_json::from_slice(&data).unwrap();
        assert_eq!(signed["type"], "UPGRADE");
        assert_eq!(signed["action_id"], upgrade["id"]);
        assert_eq!(signed["data"]["version"], "9.3.0");
        assert_eq!(signed["data"], upgrade["data"]);

        // Unenroll is signed too; diagnostics requests are not.
        let (status, _) = srv.post(&format!("/api/fleet/agents/{id}/request_diagnostics"), json!({})).await;
        assert_eq!(status, 200);
        let diag = next_action("REQUEST_DIAGNOSTICS").await;
        assert!(diag.get("signed").is_none(), "{diag}");
        let (status, _) = srv.post(&format!("/api/fleet/agents/{id}/unenroll"), json!({})).await;
        assert_eq!(status, 200);
        let unenroll = next_action("UNENROLL").await;
        let data = b64.decode(unenroll["signed"]["data"].as_str().expect("signed")).unwrap();
        let sig = b64.decode(unenroll["signed"]["signature"].as_str().unwrap()).unwrap();
        assert!(UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, &public[public.len() - 65..]).verify(&data, &sig).is_ok());
        srv.stop().await;
    }
}

both_backends! {
    async fn every_action_route_refuses_what_its_contract_refuses(srv: TestServer) {
        let policy = srv.create_policy(serde_json::json!({"name": "p", "namespace": "default"})).await;
        let token = srv.enrollment_token(policy["id"].as_str().unwrap()).await;
        let (agent, _) = srv.enroll(&token, "h").await;
        let post = reqwest::Method::POST;
        let refusals = [
            (format!("/api/fleet/agents/{agent}/unenroll"), serde_json::json!({"force": "always"}), "[request body.force]: expected value of type [boolean] but got [string]"),
            ("/api/fleet/agents/bulk_unenroll".to_string(), serde_json::json!({"force": true}), "[request body.agents]: expected at least one defined value but got [undefined]"),
            ("/api/fleet/agents/bulk_unenroll".to_string(), serde_json::json!({"agents": 5}), "[request body.agents]: types that failed validation:\n- [request body.agents.0]: expected value of type [array] but got [number]\n- [request body.agents.1]: expected value of type [string] but got [number]"),
            (format!("/api/fleet/agents/{agent}/reassign"), serde_json::json!({}), "[request body.policy_id]: expected value of type [string] but got [undefined]"),
            ("/api/fleet/agents/bulk_reassign".to_string(), serde_json::json!({"policy_id": "p", "agents": [], "batchSize": "big"}), "[request body.batchSize]: expected value of type [number] but got [string]"),
            (format!("/api/fleet/agents/{agent}/upgrade"), serde_json::json!({"version": "latest"}), "[request body.version]: not a valid semver"),
            ("/api/fleet/agents/bulk_upgrade".to_string(), serde_json::json!({"agents": [agent], "version": "9.3.0", "rollout_duration_seconds": 599}), "[request body.rollout_duration_seconds]: Value must be equal to or greater than [600]."),
            ("/api/fleet/agents/bulk_upgrade".to_string(), serde_json::json!({"agents": [agent], "version": "9.3.0", "start_time": "tomorrow"}), "[request body.start_time]: not a valid date"),
            (format!("/api/fleet/agents/{agent}/request_diagnostics"), serde_json::json!({"additional_metrics": ["MEM"]}), "[request body.additional_metrics.0]: expected value to equal [CPU]"),
            ("/api/fleet/agents/bulk_request_diagnostics".to_string(), serde_json::json!({"agents": [agent], "includeInactive": true}), "[request body.includeInactive]: definition for this key is missing"),
            ("/api/fleet/agents/bulk_update_agent_tags".to_string(), serde_json::json!({"agents": [agent], "tagsToAdd": ["1","2","3","4","5","6","7","8","9","10","11"]}), "[request body.tagsToAdd]: array size is [11], but cannot be greater than [10]"),
            ("/api/fleet/agents/bulk_rollback".to_string(), serde_json::json!({"agents": [agent], "rollback": true}), "[request body.rollback]: definition for this key is missing"),
        ];
        for (path, body, message) in refusals {
            let (status, res) = srv.call(post.clone(), &path, Some(body.clone())).await;
            assert_eq!((status.as_u16(), res["message"].as_str().unwrap_or_default()), (400, message), "{path} {body}");
        }
        // Nothing was done: no action was created.
        let (_, status) = srv.get("/api/fleet/agents/action_status").await;
        assert_eq!(status["items"], serde_json::json!([]), "{status}");
        // As config-schema: a JSON text of ids is a list of ids.
        let (status, res) = srv.post("/api/fleet/agents/bulk_update_agent_tags", serde_json::json!({"agents": format!("[\"{agent}\"]"), "tagsToAdd": ["x"]})).await;
        assert_eq!(status, 200, "{res}");
        let (_, one) = srv.get(&format!("/api/fleet/agents/{agent}")).await;
        assert!(one["item"]["tags"].as_array().unwrap().contains(&serde_json::json!("x")), "{one}");
        srv.stop().await;
    }
}
