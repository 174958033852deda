//! Kibana spaces over HTTP, on both stores: every management route under
//! `/s/{space}/api/fleet/...`, and a request sees only its space's agent policies, package
//! policies, enrollment API keys and agents.

use crate::support::{fixture_package, Options, TestServer};
use reqwest::Method;
use serde_json::json;

fn fixture() -> Option<Options> {
    Some(Options {
        packages: vec![fixture_package("flotilla_test-1.0.0")],
        ..Default::default()
    })
}

both_backends_with! { fixture();
    async fn each_space_sees_only_its_own_objects(srv: TestServer) {
        // One policy per space.
        let (status, ops) = srv.post("/s/ops/api/fleet/agent_policies", json!({"name": "ops policy", "namespace": "default"})).await;
        assert_eq!(status, 200, "{ops}");
        assert_eq!(ops["item"]["space_ids"], json!(["ops"]));
        let ops_id = ops["item"]["id"].as_str().unwrap().to_string();
        let def = srv.create_policy(json!({"name": "default policy", "namespace": "default"})).await;
        assert_eq!(def["space_ids"], json!(["default"]));
        let def_id = def["id"].as_str().unwrap().to_string();

        let names = |v: &serde_json::Value| v["items"].as_array().unwrap().iter().map(|i| i["name"].as_str().unwrap().to_string()).collect::<Vec<_>>();
        let (_, list) = srv.get("/api/fleet/agent_policies").await;
        assert_eq!(names(&list), vec!["default policy"]);
        let (_, list) = srv.get("/s/ops/api/fleet/agent_policies").await;
        assert_eq!(names(&list), vec!["ops policy"]);
        let (_, list) = srv.get("/s/default/api/fleet/agent_policies").await;
        assert_eq!(names(&list), vec!["default policy"], "/s/default is the default space");
        let (status, _) = srv.get(&format!("/api/fleet/agent_policies/{ops_id}")).await;
        assert_eq!(status, 404, "another space's policy does not exist here");
        let (status, _) = srv.get(&format!("/s/ops/api/fleet/agent_policies/{ops_id}")).await;
        assert_eq!(status, 200);
        let (status, _) = srv.put(&format!("/api/fleet/agent_policies/{ops_id}"), json!({"name": "x", "namespace": "default"})).await;
        assert_eq!(status, 404);
        let (status, _) = srv.get(&format!("/api/fleet/agent_policies/{ops_id}/full")).await;
        assert_eq!(status, 404);

        // Package policies: only into a policy of the same space, listed only there.
        let body = |policy: &str, name: &str| json!({"name": name, "policy_ids": [policy], "package": {"name": "flotilla_test", "version": "1.0.0"}});
        let (status, res) = srv.post("/api/fleet/package_policies", body(&ops_id, "x")).await;
        assert_eq!(status, 404, "{res}");
        let (status, pp) = srv.post("/s/ops/api/fleet/package_policies", body(&ops_id, "svc-ops")).await;
        assert_eq!(status, 200, "{pp}");
        assert_eq!(pp["item"]["spaceIds"], json!(["ops"]));
        let pp_id = pp["item"]["id"].as_str().unwrap().to_string();
        let (status, _) = srv.post("/api/fleet/package_policies", body(&def_id, "svc-default")).await;
        assert_eq!(status, 200);
        let (_, list) = srv.get("/api/fleet/package_policies").await;
        assert_eq!(names(&list), vec!["svc-default"]);
        let (_, list) = srv.get("/s/ops/api/fleet/package_policies").await;
        assert_eq!(names(&list), vec!["svc-ops"]);
        let (status, _) = srv.get(&format!("/api/fleet/package_policies/{pp_id}")).await;
        assert_eq!(status, 404);
        let (status, _) = srv.call(Method::DELETE, &format!("/api/fleet/package_policies/{pp_id}"), None).await;
        assert_eq!(status, 404, "cannot delete what this space does not see");

        // Enrollment keys and agents belong to their policy's space.
        let (_, keys) = srv.get("/s/ops/api/fleet/enrollment_api_keys").await;
        assert_eq!(keys["total"], 1);
        assert_eq!(keys["items"][0]["policy_id"], json!(ops_id));
        let ops_key_id = keys["items"][0]["id"].as_str().unwrap().to_string();
        let (_, keys) = srv.get("/api/fleet/enrollment_api_keys").await;
        assert_eq!(keys["total"], 1);
        assert_eq!(keys["items"][0]["policy_id"], json!(def_id));
        let (status, _) = srv.get(&format!("/api/fleet/enrollment_api_keys/{ops_key_id}")).await;
        assert_eq!(status, 404);
        let (status, res) = srv.post("/api/fleet/enrollment_api_keys", json!({"policy_id": ops_id})).await;
        assert_eq!(status, 404, "{res}");

        let ops_token = keys_token(&srv, "/s/ops/api/fleet/enrollment_api_keys").await;
        let (ops_agent, _) = srv.enroll(&ops_token, "ops-host").await;
        let def_token = srv.enrollment_token(&def_id).await;
        let (def_agent, _) = srv.enroll(&def_token, "default-host").await;
        let (_, agents) = srv.get("/api/fleet/agents").await;
        assert_eq!(agents["total"], 1);
        assert_eq!(agents["items"][0]["id"], json!(def_agent));
        let (_, agents) = srv.get("/s/ops/api/fleet/agents").await;
        assert_eq!(agents["total"], 1);
        assert_eq!(agents["items"][0]["id"], json!(ops_agent));
        let (status, _) = srv.get(&format!("/api/fleet/agents/{ops_agent}")).await;
        assert_eq!(status, 404);
        // Nor can anything be done to it from here: every single-agent route answers 404.
        for (method, path, body) in [
            (Method::PUT, format!("/api/fleet/agents/{ops_agent}"), Some(json!({"tags": ["x"]}))),
            (Method::POST, format!("/api/fleet/agents/{ops_agent}/unenroll"), Some(json!({}))),
            (Method::POST, format!("/api/fleet/agents/{ops_agent}/reassign"), Some(json!({"policy_id": def_id}))),
            (Method::POST, format!("/api/fleet/agents/{ops_agent}/upgrade"), Some(json!({"version": "9.3.0"}))),
            (Method::POST, format!("/api/fleet/agents/{ops_agent}/actions"), Some(json!({"action": {"type": "SETTINGS", "data": {"log_level": "debug"}}}))),
            (Method::POST, format!("/api/fleet/agents/{ops_agent}/request_diagnostics"), Some(json!({}))),
            (Method::POST, format!("/api/fleet/agents/{ops_agent}/rollback"), None),
            (Method::DELETE, format!("/api/fleet/agents/{ops_agent}"), None),
        ] {
            let (status, res) = srv.call(method.clone(), &path, body).await;
            assert_eq!(status, 404, "{method} {path}: {res}");
            assert_eq!(res["message"], format!("Agent {ops_agent} not found"), "{method} {path}");
        }
        let (status, _) = srv.get(&format!("/s/ops/api/fleet/agents/{ops_agent}")).await;
        assert_eq!(status, 200, "untouched");
        // Nor is another space's policy a place to reassign an agent to.
        for path in [format!("/api/fleet/agents/{def_agent}/reassign"), "/api/fleet/agents/bulk_reassign".to_string()] {
            let body = json!({"policy_id": ops_id, "agents": [def_agent]});
            let body = if path.ends_with("bulk_reassign") { body } else { json!({"policy_id": ops_id}) };
            let (status, res) = srv.post(&path, body).await;
            assert_eq!(status, 404, "{path}: {res}");
            assert_eq!(res["message"], format!("Agent policy not found: {ops_id}"));
        }

        // Bulk actions touch only the agents of the request's space: another space's agent named
        // by id is not found, and a kuery matching both hosts selects only this space's.
        let unenrolling = |v: &serde_json::Value| v["item"].get("unenrollment_started_at").is_some_and(|t| !t.is_null());
        let (status, res) = srv.post("/api/fleet/agents/bulk_unenroll", json!({"agents": [ops_agent]})).await;
        assert_eq!(status, 200, "{res}");
        let (_, ops_item) = srv.get(&format!("/s/ops/api/fleet/agents/{ops_agent}")).await;
        assert!(!unenrolling(&ops_item), "{ops_item}");
        let (status, res) = srv.post("/s/ops/api/fleet/agents/bulk_unenroll", json!({"agents": "local_metadata.host.hostname:*-host"})).await;
        assert_eq!(status, 200, "{res}");
        let (_, ops_item) = srv.get(&format!("/s/ops/api/fleet/agents/{ops_agent}")).await;
        assert!(unenrolling(&ops_item), "{ops_item}");
        let (_, def_item) = srv.get(&format!("/api/fleet/agents/{def_agent}")).await;
        assert!(!unenrolling(&def_item), "{def_item}");

        // Each space's action_status lists its own actions only; another space's cannot be
        // cancelled from here.
        let action_ids = |v: &serde_json::Value| v["items"].as_array().unwrap().iter().filter(|i| i["type"] == "UNENROLL").map(|i| i["actionId"].as_str().unwrap().to_string()).collect::<Vec<_>>();
        let (_, ops_status) = srv.get("/s/ops/api/fleet/agents/action_status").await;
        let (_, def_status) = srv.get("/api/fleet/agents/action_status").await;
        let (ops_actions, def_actions) = (action_ids(&ops_status), action_ids(&def_status));
        assert_eq!(ops_actions.len(), 1, "{ops_status}");
        assert_eq!(def_actions.len(), 1, "{def_status}");
        assert_ne!(ops_actions, def_actions);
        let (status, res) = srv.post(&format!("/api/fleet/agents/actions/{}/cancel", ops_actions[0]), json!({})).await;
        assert_eq!(status, 404, "{res}");
        let (status, res) = srv.post(&format!("/s/ops/api/fleet/agents/actions/{}/cancel", ops_actions[0]), json!({})).await;
        assert_eq!(status, 200, "{res}");

        // Tags too: a kuery matching both hosts tags only this space's agent.
        let (status, res) = srv.post("/s/ops/api/fleet/agents/bulk_update_agent_tags", json!({"agents": "local_metadata.host.hostname:*-host", "tagsToAdd": ["ops"]})).await;
        assert_eq!(status, 200, "{res}");
        let (_, ops_item) = srv.get(&format!("/s/ops/api/fleet/agents/{ops_agent}")).await;
        let tagged = |v: &serde_json::Value| v["item"]["tags"].as_array().is_some_and(|t| t.contains(&json!("ops")));
        assert!(tagged(&ops_item), "{ops_item}");
        let (_, def_item) = srv.get(&format!("/api/fleet/agents/{def_agent}")).await;
        assert!(!tagged(&def_item), "{def_item}");

        // A space id Kibana would not accept.
        let (status, _) = srv.get("/s/Not%20A%20Space/api/fleet/agent_policies").await;
        assert_eq!(status, 404);
        srv.stop().await;
    }
}

async fn keys_token(srv: &TestServer, path: &str) -> String {
    let (_, keys) = srv.get(path).await;
    keys["items"][0]["api_key"].as_str().unwrap().to_string()
}
