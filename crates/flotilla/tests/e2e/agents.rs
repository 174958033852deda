//! Agents end to end over HTTP, on SQLite and PostgreSQL: enroll with a token, check in,
//! receive POLICY_CHANGE, ack, watch status move, wake a held check-in with a policy change;
//! the agents list, tags, status summary, updates and deletes; bad credentials and bodies.

use std::time::{Duration, Instant};

use crate::support::{TestServer, AGENT_UA};
use serde_json::{json, Value};

async fn policy_and_token(srv: &TestServer) -> (String, String) {
    let p = srv
        .create_policy(
            json!({"name": "agents", "namespace": "default", "monitoring_enabled": ["logs"]}),
        )
        .await;
    let id = p["id"].as_str().unwrap().to_string();
    let token = srv.enrollment_token(&id).await;
    (id, token)
}

fn checkin_body(extra: Value) -> Value {
    let mut b = json!({"status": "online", "message": "Running", "poll_timeout": "1s"});
    if let (Some(b), Some(e)) = (b.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    b
}

both_backends! {
    async fn enroll_checkin_ack_and_status(srv: TestServer) {
        let (policy_id, token) = policy_and_token(&srv).await;
        let (status, res) = srv.agent_call("/api/fleet/agents/enroll", Some(&token), json!({
            "type": "PERMANENT",
            "metadata": {"local": {"host": {"hostname": "web-1"}, "elastic": {"agent": {"version": "9.1.0", "id": "old"}}}, "user_provided": {"env": "prod"}, "tags": ["a", "a", "b"]}
        })).await;
        assert_eq!(status, 200, "{res}");
        assert_eq!(res["action"], "created");
        let item = &res["item"];
        let agent_id = item["id"].as_str().unwrap().to_string();
        let key = item["access_api_key"].as_str().unwrap().to_string();
        assert_eq!(item["policy_id"], policy_id);
        assert_eq!(item["type"], "PERMANENT");
        assert_eq!(item["active"], true);
        assert_eq!(item["status"], "online");
        assert_eq!(item["tags"], json!(["a", "b"]), "tags are deduplicated");
        assert_eq!(item["local_metadata"]["elastic"]["agent"]["id"], agent_id, "the agent id is rewritten");
        assert_eq!(item["user_provided_metadata"], json!({"env": "prod"}));

        // Enrolled, never checked in, no policy acknowledged: Kibana says "updating".
        let (_, got) = srv.get(&format!("/api/fleet/agents/{agent_id}")).await;
        assert_eq!(got["item"]["status"], "updating");
        assert!(got["item"].get("last_checkin").is_none());

        // First check-in: the policy at once.
        let path = format!("/api/fleet/agents/{agent_id}/checkin");
        let started = Instant::now();
        let (status, res) = srv.agent_call(&path, Some(&key), checkin_body(json!({"local_metadata": {"host": {"hostname": "web-1"}}}))).await;
        assert_eq!(status, 200, "{res}");
        assert!(started.elapsed() < Duration::from_secs(2), "pending actions answer immediately");
        assert_eq!(res["action"], "checkin");
        let action = &res["actions"][0];
        assert_eq!(action["type"], "POLICY_CHANGE");
        assert_eq!(action["id"], format!("policy:{policy_id}:1"));
        assert_eq!(action["agent_id"], agent_id);
        assert_eq!(action["data"]["policy"]["id"], policy_id);
        assert_eq!(action["data"]["policy"]["revision"], 1);
        assert_eq!(action["data"]["policy"]["agent"]["monitoring"]["logs"], true);

        let (status, res) = srv.agent_call(&format!("/api/fleet/agents/{agent_id}/acks"), Some(&key), json!({
            "events": [{"type": "ACTION_RESULT", "subtype": "ACKNOWLEDGED", "agent_id": agent_id, "action_id": format!("policy:{policy_id}:1"), "timestamp": "2024-01-01T00:00:00Z", "message": "ok"}]
        })).await;
        assert_eq!(status, 200, "{res}");
        assert_eq!(res, json!({"action": "acks", "errors": false, "items": [{"status": 200, "message": "OK"}]}));
        let (_, got) = srv.get(&format!("/api/fleet/agents/{agent_id}")).await;
        assert_eq!(got["item"]["policy_revision"], 1);
        assert_eq!(got["item"]["status"], "online");
        assert_eq!(got["item"]["last_checkin_status"], "online");
        assert_eq!(got["item"]["agent"]["version"], "9.1.0");
        assert!(got["item"]["last_checkin"].is_string());

        // Nothing pending: the poll is held until its (short, in tests) timeout.
        let (status, res) = srv.agent_call(&path, Some(&key), checkin_body(json!({"ack_token": "t1"}))).await;
        assert_eq!(status, 200);
        assert_eq!(res, json!({"action": "checkin", "ack_token": "t1", "actions": []}));

        // A degraded report shows as degraded.
        srv.agent_call(&path, Some(&key), checkin_body(json!({"status": "degraded", "message": "input failing"}))).await;
        let (_, got) = srv.get(&format!("/api/fleet/agents/{agent_id}")).await;
        assert_eq!(got["item"]["status"], "degraded");
        assert_eq!(got["item"]["last_checkin_message"], "input failing");
        srv.stop().await;
    }
}

both_backends! {
    /// A check-in that reports nothing new writes nothing while `last_checkin` is recent (a
    /// steady fleet does not rewrite every agent at every poll), but an agent that looked
    /// offline is online again at its first check-in.
    async fn unchanged_checkins_write_only_a_stale_last_checkin(srv: TestServer) {
        let (policy_id, token) = policy_and_token(&srv).await;
        let (agent_id, key) = srv.enroll(&token, "web-1").await;
        let path = format!("/api/fleet/agents/{agent_id}/checkin");
        srv.agent_call(&path, Some(&key), checkin_body(json!({}))).await;
        srv.agent_call(&format!("/api/fleet/agents/{agent_id}/acks"), Some(&key), json!({
            "events": [{"agent_id": agent_id, "action_id": format!("policy:{policy_id}:1")}]
        })).await;
        let same = checkin_body(json!({"agent_policy_id": policy_id, "policy_revision_idx": 1}));
        srv.agent_call(&path, Some(&key), same.clone()).await;
        let (_, first) = srv.get(&format!("/api/fleet/agents/{agent_id}")).await;
        assert_eq!(first["item"]["status"], "online");
        tokio::time::sleep(Duration::from_millis(20)).await;
        srv.agent_call(&path, Some(&key), same.clone()).await;
        let (_, second) = srv.get(&format!("/api/fleet/agents/{agent_id}")).await;
        assert_eq!(second["item"]["last_checkin"], first["item"]["last_checkin"], "nothing new, nothing written");

        // Ten minutes without a check-in: offline; the next check-in, however plain, is written.
        {
            let mut tx = srv.fleet().store.begin(fleet::store::Mode::Write).await.unwrap();
            let row = tx.agent_get(&agent_id).await.unwrap().unwrap();
            let mut doc = row.doc.body.clone();
            let old = (chrono::Utc::now() - chrono::Duration::minutes(10)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
            doc["last_checkin"] = json!(old);
            tx.agent_update(&agent_id, Some(row.doc.version), &doc).await.unwrap();
            tx.commit().await.unwrap();
        }
        let (_, stale) = srv.get(&format!("/api/fleet/agents/{agent_id}")).await;
        assert_eq!(stale["item"]["status"], "offline");
        srv.agent_call(&path, Some(&key), same).await;
        let (_, back) = srv.get(&format!("/api/fleet/agents/{agent_id}")).await;
        assert_eq!(back["item"]["status"], "online");
        assert!(back["item"]["last_checkin"].as_str() > first["item"]["last_checkin"].as_str(), "{back:#}");

        // Something new (a status) is written at once.
        srv.agent_call(&path, Some(&key), checkin_body(json!({"status": "degraded", "agent_policy_id": policy_id, "policy_revision_idx": 1}))).await;
        let (_, degraded) = srv.get(&format!("/api/fleet/agents/{agent_id}")).await;
        assert_eq!(degraded["item"]["status"], "degraded");
        srv.stop().await;
    }
}

both_backends! {
    async fn a_policy_change_wakes_a_held_checkin(srv: TestServer) {
        let (policy_id, token) = policy_and_token(&srv).await;
        let (agent_id, key) = srv.enroll(&token, "web-1").await;
        let path = format!("/api/fleet/agents/{agent_id}/checkin");
        srv.agent_call(&path, Some(&key), checkin_body(json!({}))).await;
        srv.agent_call(&format!("/api/fleet/agents/{agent_id}/acks"), Some(&key), json!({
            "events": [{"agent_id": agent_id, "action_id": format!("policy:{policy_id}:1")}]
        })).await;

        let srv = std::sync::Arc::new(srv);
        let poller = {
            let (srv, path, key) = (srv.clone(), path.clone(), key.clone());
            tokio::spawn(async move {
                // Held for up to 5 minutes (the agent asks for 7; the server takes 2 off).
                srv.agent_call(&path, Some(&key), checkin_body(json!({"poll_timeout": "7m"}))).await
            })
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!poller.is_finished(), "nothing pending: the check-in is held");
        // While held, the heartbeat flusher refreshes last_checkin once it is old enough.
        let (_, before) = srv.get(&format!("/api/fleet/agents/{agent_id}")).await;
        assert_eq!(srv.fleet().flush_heartbeats(fleet::agents::protocol::CHECKIN_REFRESH).await.unwrap(), 0, "just written");
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert_eq!(srv.fleet().flush_heartbeats(Duration::ZERO).await.unwrap(), 1);
        let (_, after) = srv.get(&format!("/api/fleet/agents/{agent_id}")).await;
        assert!(after["item"]["last_checkin"].as_str() > before["item"]["last_checkin"].as_str());

        let changed_at = Instant::now();
        let (status, _) = srv.put(&format!("/api/fleet/agent_policies/{policy_id}"), json!({"name": "agents", "namespace": "prod"})).await;
        assert_eq!(status, 200);
        let (status, res) = tokio::time::timeout(Duration::from_secs(5), poller).await.expect("woken").unwrap();
        assert!(changed_at.elapsed() < Duration::from_secs(1), "woken within a second: {:?}", changed_at.elapsed());
        assert_eq!(status, 200);
        assert_eq!(res["actions"][0]["id"], format!("policy:{policy_id}:2"));
        assert_eq!(res["actions"][0]["data"]["policy"]["agent"]["monitoring"]["namespace"], "prod");
        std::sync::Arc::try_unwrap(srv).ok().expect("only owner").stop().await;
    }
}

both_backends! {
    async fn checkin_answers_are_gzipped_like_fleet_servers(srv: TestServer) {
        use std::io::Read;
        let (policy_id, token) = policy_and_token(&srv).await;
        let (agent_id, key) = srv.enroll(&token, "web-1").await;
        let checkin = |ack: Option<&str>| {
            let mut body = checkin_body(json!({}));
            if let Some(a) = ack {
                body["ack_token"] = json!(a);
                body["policy_revision_idx"] = json!(1);
                body["agent_policy_id"] = json!(policy_id);
            }
            srv.http
                .post(format!("{}/api/fleet/agents/{agent_id}/checkin", srv.agent_base))
                .header("user-agent", crate::support::AGENT_UA)
                .header("authorization", format!("ApiKey {key}"))
                .header("accept-encoding", "gzip")
                .json(&body)
                .send()
        };
        // The policy (kilobytes): gzip, decoding to the same answer the plain request gets.
        let res = checkin(None).await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-encoding"], "gzip");
        assert_eq!(res.headers()["content-type"], "application/json");
        let mut text = String::new();
        flate2::read::GzDecoder::new(&res.bytes().await.unwrap()[..]).read_to_string(&mut text).unwrap();
        let answer: Value = serde_json::from_str(&text).unwrap();
        let (_, plain) = srv.agent_call(&format!("/api/fleet/agents/{agent_id}/checkin"), Some(&key), checkin_body(json!({}))).await;
        assert_eq!(answer, plain);
        assert_eq!(answer["actions"][0]["type"], "POLICY_CHANGE");
        assert_eq!(answer["actions"][0]["agent_id"], agent_id);
        assert_eq!(answer["actions"][0]["data"]["policy"]["id"], policy_id);
        // An empty answer (under Fleet Server's 1 KiB threshold) is sent as is.
        let res = checkin(Some("t1")).await.unwrap();
        assert!(res.headers().get("content-encoding").is_none(), "{:?}", res.headers());
        assert_eq!(res.json::<Value>().await.unwrap(), json!({"action": "checkin", "ack_token": "t1", "actions": []}));
        srv.stop().await;
    }
}

both_backends! {
    async fn bad_credentials_and_bodies_change_nothing(srv: TestServer) {
        let (policy_id, token) = policy_and_token(&srv).await;
        let body = json!({"type": "PERMANENT", "metadata": {"local": {}}});
        let (status, res) = srv.agent_call("/api/fleet/agents/enroll", Some("bm9wZTpub3Bl"), body.clone()).await;
        assert_eq!(status, 401, "{res}");
        let (status, res) = srv.agent_call("/api/fleet/agents/enroll", None, body.clone()).await;
        assert_eq!(status, 401);
        assert_eq!(res["error"], "ErrNoAuthHeader");
        let (status, res) = srv.agent_call("/api/fleet/agents/enroll", Some(&token), json!({"metadata": {"local": {}}})).await;
        assert_eq!(status, 400, "{res}");
        let res2 = srv.http.post(format!("{}/api/fleet/agents/enroll", srv.agent_base))
            .header("authorization", format!("ApiKey {token}")).json(&body).send().await.unwrap();
        assert_eq!(res2.status(), 400, "a User-Agent is required");
        let err: Value = res2.json().await.unwrap();
        assert_eq!(err["error"], "InvalidUserAgent");
        let res3 = srv.http.post(format!("{}/api/fleet/agents/enroll", srv.agent_base))
            .header("authorization", format!("ApiKey {token}")).header("user-agent", AGENT_UA)
            .header("elastic-api-version", "2020-01-01").json(&body).send().await.unwrap();
        assert_eq!(res3.status(), 400, "an unsupported API version");
        assert_eq!(res3.headers()["elastic-api-version"], "2023-06-01");
        let (_, list) = srv.get("/api/fleet/agents?showInactive=true").await;
        assert_eq!(list["total"], 0, "no agent was made");

        let (a, key_a) = srv.enroll(&token, "a").await;
        let (b, _key_b) = srv.enroll(&token, "b").await;
        // A's key used for B.
        let (status, res) = srv.agent_call(&format!("/api/fleet/agents/{b}/checkin"), Some(&key_a), checkin_body(json!({}))).await;
        assert_eq!(status, 403, "{res}");
        assert_eq!(res["error"], "ErrAgentIdentity");
        // Malformed check-in: no status.
        let (status, _) = srv.agent_call(&format!("/api/fleet/agents/{a}/checkin"), Some(&key_a), json!({"message": "x"})).await;
        assert_eq!(status, 400);
        let (_, got) = srv.get(&format!("/api/fleet/agents/{a}")).await;
        assert!(got["item"].get("last_checkin").is_none(), "a refused check-in records nothing");
        let (status, res) = srv.agent_call(&format!("/api/fleet/agents/{a}/acks"), Some(&key_a), json!({
            "events": [{"agent_id": a, "action_id": "nope"}, {"agent_id": b, "action_id": format!("policy:{policy_id}:1")}]
        })).await;
        assert_eq!(status, 404, "the worst item decides: {res}");
        assert_eq!(res["errors"], true);
        assert_eq!(res["items"][0]["status"], 404);
        assert_eq!(res["items"][1]["status"], 400);

        // A revoked enrollment token no longer enrolls.
        let (_, keys) = srv.get("/api/fleet/enrollment_api_keys").await;
        let key_id = keys["items"][0]["id"].as_str().unwrap();
        srv.call(reqwest::Method::DELETE, &format!("/api/fleet/enrollment_api_keys/{key_id}"), None).await;
        let (status, _) = srv.agent_call("/api/fleet/agents/enroll", Some(&token), body.clone()).await;
        assert_eq!(status, 401);
        // A deleted agent's key no longer checks in.
        srv.call(reqwest::Method::DELETE, &format!("/api/fleet/agents/{a}"), None).await;
        let (status, _) = srv.agent_call(&format!("/api/fleet/agents/{a}/checkin"), Some(&key_a), checkin_body(json!({}))).await;
        assert_eq!(status, 401);
        // Agent keys do not open the management API.
        let res = srv.http.get(format!("{}/api/fleet/agents", srv.base)).header("authorization", format!("ApiKey {_key_b}")).send().await.unwrap();
        assert_eq!(res.status(), 403);
        srv.stop().await;
    }
}

both_backends! {
    async fn list_filter_sort_summary_tags_update_delete(srv: TestServer) {
        let (policy_id, token) = policy_and_token(&srv).await;
        let mut ids = Vec::new();
        for host in ["web-1", "web-2", "db-1"] {
            let (id, key) = srv.enroll(&token, host).await;
            ids.push((id, key));
            // Timestamps have millisecond precision: keep the enrollment order unambiguous.
            tokio::time::sleep(Duration::from_millis(3)).await;
        }
        // web-1 checks in and acks (online); web-2 only checks in (updating); db-1 never (updating).
        let (web1, key1) = &ids[0];
        srv.agent_call(&format!("/api/fleet/agents/{web1}/checkin"), Some(key1), checkin_body(json!({}))).await;
        srv.agent_call(&format!("/api/fleet/agents/{web1}/acks"), Some(key1), json!({"events": [{"agent_id": web1, "action_id": format!("policy:{policy_id}:1")}]})).await;
        let (web2, key2) = &ids[1];
        srv.agent_call(&format!("/api/fleet/agents/{web2}/checkin"), Some(key2), checkin_body(json!({}))).await;

        let (status, list) = srv.get("/api/fleet/agents?getStatusSummary=true").await;
        assert_eq!(status, 200, "{list}");
        assert_eq!((list["total"].clone(), list["page"].clone(), list["perPage"].clone()), (json!(3), json!(1), json!(20)));
        assert_eq!(list["statusSummary"]["online"], 1);
        assert_eq!(list["statusSummary"]["updating"], 2);
        let hosts = |v: &Value| v["items"].as_array().unwrap().iter().map(|i| i["local_metadata"]["host"]["hostname"].as_str().unwrap().to_string()).collect::<Vec<_>>();
        assert_eq!(hosts(&list), ["db-1", "web-2", "web-1"], "newest enrolled first");

        for (kuery, expected) in [
            ("status:online", vec!["web-1"]),
            ("fleet-agents.local_metadata.host.hostname:web-*", vec!["web-1", "web-2"]),
            ("not status:online and local_metadata.host.hostname:web*", vec!["web-2"]),
            ("last_checkin:*", vec!["web-1", "web-2"]),
            (&format!("policy_id:\"{policy_id}\" and tags:t1"), vec!["web-1", "web-2", "db-1"]),
            ("policy_revision_idx >= 1", vec!["web-1"]),
        ] {
            let (status, res) = srv.get(&format!("/api/fleet/agents?sortField=local_metadata.host.hostname&sortOrder=desc&kuery={}", crate::support::urlencode(kuery))).await;
            assert_eq!(status, 200, "{kuery}: {res}");
            let mut got = hosts(&res);
            got.sort();
            let mut want: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
            want.sort();
            assert_eq!(got, want, "{kuery}");
        }
        let (_, sorted) = srv.get("/api/fleet/agents?sortField=local_metadata.host.hostname&sortOrder=asc").await;
        assert_eq!(hosts(&sorted), ["db-1", "web-1", "web-2"]);
        let (status, _) = srv.get("/api/fleet/agents?kuery=nosuchfield:x").await;
        assert_eq!(status, 400);
        let (status, res) = srv.get("/api/fleet/agents?searchAfter=x").await;
        assert_eq!(status, 400, "{res}");
        assert_eq!(res["message"], "[request query]: searchAfter must be a non-empty array");
        // Each read route's declared query, refused with Kibana's message.
        for (path, message) in [
            ("/api/fleet/agents?sortOrder=up", "[request query.sortOrder]: types that failed validation:\n- [request query.sortOrder.0]: expected value to equal [asc]\n- [request query.sortOrder.1]: expected value to equal [desc]"),
            ("/api/fleet/agents?showInactive=maybe", "[request query.showInactive]: expected value of type [boolean] but got [string]"),
            ("/api/fleet/agents/some-agent?withMetrics=2", "[request query.withMetrics]: expected value of type [boolean] but got [string]"),
            ("/api/fleet/agents/tags?sort=x", "[request query.sort]: definition for this key is missing"),
            ("/api/fleet/agent_status?policy=x", "[request query.policy]: definition for this key is missing"),
            ("/api/fleet/agents/action_status?perPage=-1", "[request query.perPage]: Value must be equal to or greater than [0]."),
            ("/api/fleet/agents/action_status?date=yesterday", "[request query.date]: not a valid date"),
        ] {
            let (status, res) = srv.get(path).await;
            assert_eq!((status.as_u16(), res["message"].as_str().unwrap_or_default()), (400, message), "{path}");
        }
        // The agent update's declared body.
        let some = hosts(&sorted).first().cloned().unwrap_or_default();
        let (_, listed) = srv.get(&format!("/api/fleet/agents?kuery=local_metadata.host.hostname:{some}")).await;
        let agent = listed["items"][0]["id"].as_str().unwrap().to_string();
        for (body, message) in [
            (json!({"tags": "one"}), "[request body.tags]: could not parse array value from json input"),
            (json!({"tags": ["1","2","3","4","5","6","7","8","9","10","11"]}), "[request body.tags]: array size is [11], but cannot be greater than [10]"),
            (json!({"user_provided_metadata": []}), "[request body.user_provided_metadata]: expected value of type [object] but got [Array]"),
            (json!({"policy_id": "x"}), "[request body.policy_id]: definition for this key is missing"),
        ] {
            let (status, res) = srv.put(&format!("/api/fleet/agents/{agent}"), body.clone()).await;
            assert_eq!((status.as_u16(), res["message"].as_str().unwrap_or_default()), (400, message), "{body}");
        }

        let (status, summary) = srv.get(&format!("/api/fleet/agent_status?policyId={policy_id}")).await;
        assert_eq!(status, 200);
        assert_eq!(summary["results"]["online"], 1);
        assert_eq!(summary["results"]["updating"], 2);
        assert_eq!(summary["results"]["all"], 3);
        let (status, deprecated) = srv.get(&format!("/api/fleet/agent-status?policyId={policy_id}")).await;
        assert_eq!((status.as_u16(), &deprecated), (200, &summary), "Kibana's deprecated path answers the same");
        let (_, none) = srv.get("/api/fleet/agent_status?policyId=other").await;
        assert_eq!(none["results"]["all"], 0);

        let (status, res) = srv.put(&format!("/api/fleet/agents/{web1}"), json!({"tags": ["x", "y", "x"], "user_provided_metadata": {"team": "a"}})).await;
        assert_eq!(status, 200, "{res}");
        assert_eq!(res["item"]["tags"], json!(["x", "y"]));
        assert_eq!(res["item"]["user_provided_metadata"], json!({"team": "a"}));
        let (status, _) = srv.put(&format!("/api/fleet/agents/{web1}"), json!({"policy_id": "nope"})).await;
        assert_eq!(status, 400);
        let (_, tags) = srv.get("/api/fleet/agents/tags").await;
        assert_eq!(tags, json!({"items": ["t1", "x", "y"]}));

        let (status, res) = srv.call(reqwest::Method::DELETE, &format!("/api/fleet/agents/{web1}"), None).await;
        assert_eq!(status, 200);
        assert_eq!(res, json!({"action": "deleted"}));
        let (status, res) = srv.get(&format!("/api/fleet/agents/{web1}")).await;
        assert_eq!(status, 404);
        assert_eq!(res["message"], format!("Agent {web1} not found"));
        // Agents keep their policy from being deleted.
        let (status, _) = srv.post("/api/fleet/agent_policies/delete", json!({"agentPolicyId": policy_id})).await;
        assert_eq!(status, 400);
        srv.stop().await;
    }
}

#[test]
fn user_agent_constant_is_supported() {
    assert!(fleet::agents::protocol::agent_version(Some(AGENT_UA)).is_ok());
}

/// Puts `n` agents on a policy straight into the store (fast set-up for paging tests).
async fn seed_agents(srv: &TestServer, policy_id: &str, n: usize) {
    let base = chrono::Utc::now() - chrono::Duration::minutes(10);
    let mut tx = srv
        .fleet()
        .store
        .begin(fleet::store::Mode::Write)
        .await
        .unwrap();
    for i in 0..n {
        let mut doc = json!({
            "active": true, "policy_id": policy_id, "type": "PERMANENT",
            // Many agents share an enrollment time: the id breaks the ties.
            "enrolled_at": (base + chrono::Duration::seconds((i % 37) as i64)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "agent": {"id": format!("seed-{i:05}"), "version": "9.1.0"},
            "tags": [],
        });
        if i % 5 != 0 {
            doc["local_metadata"] = json!({"host": {"hostname": format!("host-{:03}", i % 91)}});
        }
        tx.agent_insert(&format!("seed-{i:05}"), &doc)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
}

async fn walk(
    srv: &TestServer,
    first: &str,
    per_page: usize,
    mut between: impl FnMut(usize) -> Option<String>,
) -> (Vec<String>, Value) {
    let mut seen = Vec::new();
    let mut url = first.to_string();
    let mut first_page = Value::Null;
    for round in 0.. {
        let (status, page) = srv.get(&url).await;
        assert_eq!(status, 200, "{url}: {page}");
        if first_page.is_null() {
            first_page = page.clone();
        }
        let items = page["items"].as_array().unwrap();
        seen.extend(items.iter().map(|i| i["id"].as_str().unwrap().to_string()));
        if items.len() < per_page {
            break;
        }
        let next = page["nextSearchAfter"]
            .as_str()
            .expect("a full page has a cursor");
        url = format!(
            "{}&searchAfter={}",
            first.split("&openPit").next().unwrap(),
            crate::support::urlencode(next)
        );
        if let Some(pit) = page["pit"].as_str() {
            url = format!("{url}&pitId={pit}&pitKeepAlive=5m");
        }
        if let Some(extra) = between(round) {
            url.push_str(&extra);
        }
    }
    (seen, first_page)
}

both_backends! {
    async fn search_after_walks_every_agent_exactly_once(srv: TestServer) {
        let (policy_id, _) = policy_and_token(&srv).await;
        seed_agents(&srv, &policy_id, 250).await;
        let mut all: Vec<String> = (0..250).map(|i| format!("seed-{i:05}")).collect();
        for sort in ["", "&sortField=local_metadata.host.hostname&sortOrder=asc", "&sortField=enrolled_at&sortOrder=asc"] {
            let first = format!("/api/fleet/agents?perPage=40{sort}");
            let (mut seen, _) = walk(&srv, &first, 40, |_| None).await;
            // Order: compare with the same sort read in one page.
            let (_, one) = srv.get(&format!("/api/fleet/agents?perPage=250{sort}")).await;
            let expected: Vec<String> = one["items"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap().to_string()).collect();
            assert_eq!(seen, expected, "{sort}: same order as one page");
            seen.sort();
            all.sort();
            assert_eq!(seen, all, "{sort}: each agent exactly once");
        }
        let (status, res) = srv.get("/api/fleet/agents?searchAfter=notjson").await;
        assert_eq!(status, 400, "{res}");
        let (status, _) = srv.get("/api/fleet/agents?searchAfter=%5B1%5D").await;
        assert_eq!(status, 400);
        srv.stop().await;
    }
}

both_backends! {
    async fn point_in_time_walk_is_stable_while_agents_change(srv: TestServer) {
        let (policy_id, token) = policy_and_token(&srv).await;
        seed_agents(&srv, &policy_id, 25_000).await;
        let (seen, first) = walk(&srv, "/api/fleet/agents?perPage=10000&openPit=true&pitKeepAlive=5m", 10_000, |_| None).await;
        assert!(first["pit"].is_string(), "openPit returns the pit id");
        assert_eq!(first["total"], 25_000);
        let mut unique = seen.clone();
        unique.sort();
        unique.dedup();
        assert_eq!((seen.len(), unique.len()), (25_000, 25_000));

        // Now walk a new view while the fleet changes between pages.
        let (_, opened) = srv.get("/api/fleet/agents?perPage=10000&openPit=true&pitKeepAlive=5m").await;
        let pit = opened["pit"].as_str().unwrap().to_string();
        let mut ids: Vec<String> = opened["items"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap().to_string()).collect();
        let mut cursor = opened["nextSearchAfter"].as_str().unwrap().to_string();
        for round in 0.. {
            // Between pages: delete agents not yet seen and enroll new ones.
            for k in 0..20 {
                let victim = format!("seed-{:05}", 24_000 - round * 100 - k);
                srv.call(reqwest::Method::DELETE, &format!("/api/fleet/agents/{victim}"), None).await;
            }
            srv.enroll(&token, &format!("late-{round}")).await;
            let (status, page) = srv.get(&format!("/api/fleet/agents?perPage=10000&searchAfter={}&pitId={pit}&pitKeepAlive=5m", crate::support::urlencode(&cursor))).await;
            assert_eq!(status, 200, "{page}");
            assert_eq!(page["total"], 25_000, "the view does not change");
            let items = page["items"].as_array().unwrap();
            ids.extend(items.iter().map(|i| i["id"].as_str().unwrap().to_string()));
            if items.len() < 10_000 {
                break;
            }
            cursor = page["nextSearchAfter"].as_str().unwrap().to_string();
        }
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        assert_eq!((ids.len(), unique.len()), (25_000, 25_000), "each agent of the view exactly once");
        assert!(ids.iter().all(|id| id.starts_with("seed-")), "agents enrolled later are not in the view");
        let (_, live) = srv.get("/api/fleet/agents?perPage=1").await;
        assert_eq!(live["total"], 25_000 - 40 + 2, "the live list did change");

        let (status, res) = srv.get("/api/fleet/agents?perPage=10&pitId=unknown-pit&pitKeepAlive=1m").await;
        assert_eq!(status, 404, "{res}");
        assert!(res["message"].as_str().unwrap().contains("unknown or expired"));
        // Kibana's query rules for point-in-time paging.
        for (query, message) in [
            ("perPage=10&pitId=unknown-pit", "You must provide pitKeepAlive when using point-in-time parameters"),
            ("openPit=true", "You must provide pitKeepAlive when using point-in-time parameters"),
            ("openPit=true&pitId=p&pitKeepAlive=1m", "You cannot request to open a new point-in-time with an existing pitId"),
            ("page=2&perPage=5001", "You cannot use page and perPage page over 10000 agents"),
            ("page=2&searchAfter=%5B1%5D", "You cannot use page parameter when using searchAfter"),
            ("searchAfter=%5B%5D", "searchAfter must be a non-empty array"),
        ] {
            let (status, res) = srv.get(&format!("/api/fleet/agents?{query}")).await;
            assert_eq!((status.as_u16(), res["message"].clone()), (400, json!(format!("[request query]: {message}"))), "{query}");
        }
        let (status, _) = srv.get("/api/fleet/agents?openPit=true&pitKeepAlive=soon").await;
        assert_eq!(status, 400);
        srv.stop().await;
    }
}

/// Two `flotilla serve` nodes on one PostgreSQL: a policy change made through one wakes the
/// check-in held by the other at once.
#[cfg_attr(
    not(postgres_tests),
    ignore = "needs PostgreSQL: set FLOTILLA_TEST_DATABASE_URL"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_change_on_one_node_wakes_a_checkin_held_by_another() {
    let Some(a) = TestServer::start(crate::support::Backend::Postgres).await else {
        return;
    };
    let b = a.another_node().await.expect("PostgreSQL nodes");
    let (policy_id, token) = policy_and_token(&a).await;
    let (agent_id, key) = b.enroll(&token, "web-1").await;
    let path = format!("/api/fleet/agents/{agent_id}/checkin");
    b.agent_call(&path, Some(&key), checkin_body(json!({})))
        .await;
    b.agent_call(
        &format!("/api/fleet/agents/{agent_id}/acks"),
        Some(&key),
        json!({
            "events": [{"agent_id": agent_id, "action_id": format!("policy:{policy_id}:1")}]
        }),
    )
    .await;

    let b = std::sync::Arc::new(b);
    let poller = {
        let (b, path, key) = (b.clone(), path.clone(), key.clone());
        tokio::spawn(async move {
            b.agent_call(
                &path,
                Some(&key),
                checkin_body(json!({"poll_timeout": "7m"})),
            )
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!poller.is_finished(), "held on node B");
    let changed_at = Instant::now();
    let (status, _) = a
        .put(
            &format!("/api/fleet/agent_policies/{policy_id}"),
            json!({"name": "agents", "namespace": "prod"}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, res) = tokio::time::timeout(Duration::from_secs(5), poller)
        .await
        .expect("woken across nodes")
        .unwrap();
    assert!(
        changed_at.elapsed() < Duration::from_secs(1),
        "woken within a second: {:?}",
        changed_at.elapsed()
    );
    assert_eq!(status, 200);
    assert_eq!(res["actions"][0]["id"], format!("policy:{policy_id}:2"));
    std::sync::Arc::try_unwrap(b)
        .ok()
        .expect("only owner")
        .stop()
        .await;
    a.stop().await;
}

both_backends! {
    async fn show_upgradeable_and_setup(srv: TestServer) {
        let (policy_id, _) = policy_and_token(&srv).await;
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let mut tx = srv.fleet().store.begin(fleet::store::Mode::Write).await.unwrap();
        for (id, version, upgradeable, extra) in [
            ("old", "8.17.0", true, json!({})),
            ("latest", "9.3.0", true, json!({})),
            ("newer-minor-sorts-numerically", "9.10.0", true, json!({})),
            ("not-upgradeable", "9.2.9", false, json!({})),
            ("upgrading", "9.1.0", true, json!({"upgrade_started_at": now})),
            ("failed-upgrade", "9.0.0", true, json!({"upgrade_details": {"state": "UPG_FAILED", "target_version": "9.3.0"}})),
            ("unenrolling", "9.0.0", true, json!({"unenrollment_started_at": now})),
        ] {
            let mut doc = json!({
                "active": true, "policy_id": policy_id, "enrolled_at": now, "last_checkin": now, "policy_revision_idx": 1,
                "last_checkin_status": "online",
                "local_metadata": {"elastic": {"agent": {"version": version, "upgradeable": upgradeable}}},
                "agent": {"id": id, "version": version},
            });
            doc.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            tx.agent_insert(id, &doc).await.unwrap();
        }
        tx.commit().await.unwrap();
        let (status, res) = srv.get("/api/fleet/agents?showUpgradeable=true&sortField=id&sortOrder=asc").await;
        assert_eq!(status, 200, "{res}");
        let ids: Vec<&str> = res["items"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap()).collect();
        assert_eq!(ids, ["failed-upgrade", "old"]);
        assert_eq!(res["total"], 2);
        let (_, all) = srv.get("/api/fleet/agents").await;
        assert_eq!(all["total"], 7);

        let (status, res) = srv.get("/api/fleet/agents/setup").await;
        assert_eq!(status, 200);
        assert_eq!(res["isReady"], true);
        assert_eq!(res["missing_requirements"], json!([]));
        let (status, res) = srv.get("/api/fleet/agents/available_versions").await;
        assert_eq!(status, 200);
        assert_eq!(res, json!({"items": ["9.3.0"]}));
        let (status, res) = srv.post("/api/fleet/agents/setup", json!({})).await;
        assert_eq!(status, 200);
        assert_eq!(res, json!({"isInitialized": true, "nonFatalErrors": []}));
        srv.stop().await;
    }
}

both_backends! {
    async fn bulk_update_agent_tags_by_ids_and_kuery(srv: TestServer) {
        let (_, token) = policy_and_token(&srv).await;
        let (a, _) = srv.enroll(&token, "web-1").await;
        let (b, _) = srv.enroll(&token, "web-2").await;
        let (c, _) = srv.enroll(&token, "db-1").await;
        let (status, res) = srv.post("/api/fleet/agents/bulk_update_agent_tags", json!({"agents": [a, b], "tagsToAdd": ["canary"], "tagsToRemove": ["t1"]})).await;
        assert_eq!(status, 200, "{res}");
        assert!(res["actionId"].is_string());
        let tags = |id: &str| {
            let id = id.to_string();
            let srv = &srv;
            async move { srv.get(&format!("/api/fleet/agents/{id}")).await.1["item"]["tags"].clone() }
        };
        assert_eq!(tags(&a).await, json!(["canary"]));
        assert_eq!(tags(&c).await, json!(["t1"]));
        // The change is an UPDATE_TAGS action in action_status, complete for both agents.
        let (_, st) = srv.get("/api/fleet/agents/action_status").await;
        let item = st["items"].as_array().unwrap().iter().find(|i| i["actionId"] == res["actionId"]).expect("listed").clone();
        assert_eq!(item["type"], "UPDATE_TAGS");
        assert_eq!(item["status"], "COMPLETE");
        assert_eq!(item["nbAgentsActioned"], 2);
        assert_eq!(item["nbAgentsAck"], 2);
        let (status, _) = srv.post("/api/fleet/agents/bulk_update_agent_tags", json!({"agents": "local_metadata.host.hostname:web*", "tagsToAdd": ["web"]})).await;
        assert_eq!(status, 200);
        assert_eq!(tags(&b).await, json!(["canary", "web"]));
        assert_eq!(tags(&c).await, json!(["t1"]));
        let (status, _) = srv.post("/api/fleet/agents/bulk_update_agent_tags", json!({"agents": 5})).await;
        assert_eq!(status, 400);
        let (status, _) = srv.post("/api/fleet/agents/bulk_update_agent_tags", json!({"agents": "nosuch:x", "tagsToAdd": ["x"]})).await;
        assert_eq!(status, 400);
        srv.stop().await;
    }
}

both_backends! {
    async fn enrollment_replacement_and_enrollment_id(srv: TestServer) {
        let (_, token) = policy_and_token(&srv).await;
        let enroll = |extra: Value| {
            let mut body = json!({"type": "PERMANENT", "metadata": {"local": {"host": {"hostname": "h"}}}});
            body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            let (srv, token) = (&srv, token.clone());
            async move { srv.agent_call("/api/fleet/agents/enroll", Some(&token), body).await }
        };
        let (status, first) = enroll(json!({"id": "fixed-id", "replace_token": "secret-1"})).await;
        assert_eq!(status, 200, "{first}");
        let old_key = first["item"]["access_api_key"].as_str().unwrap().to_string();
        let (_, got) = srv.get("/api/fleet/agents/fixed-id").await;
        assert!(got["item"].get("replace_token").is_none(), "the replace token is never shown");

        let (status, res) = enroll(json!({"id": "fixed-id"})).await;
        assert_eq!(status, 403, "{res}");
        assert_eq!(res["error"], "AgentNotReplaceable");
        let (status, _) = enroll(json!({"id": "fixed-id", "replace_token": "wrong"})).await;
        assert_eq!(status, 403);
        let (status, second) = enroll(json!({"id": "fixed-id", "replace_token": "secret-1"})).await;
        assert_eq!(status, 200, "{second}");
        assert_eq!(second["item"]["id"], "fixed-id");
        let (status, _) = srv.agent_call("/api/fleet/agents/fixed-id/checkin", Some(&old_key), checkin_body(json!({}))).await;
        assert_eq!(status, 401, "the replaced agent's key is revoked");
        let new_key = second["item"]["access_api_key"].as_str().unwrap();
        let (status, _) = srv.agent_call("/api/fleet/agents/fixed-id/checkin", Some(new_key), checkin_body(json!({}))).await;
        assert_eq!(status, 200);

        // An enrollment that never checked in is replaced by the next one with its enrollment_id.
        let (_, a) = enroll(json!({"enrollment_id": "host-42"})).await;
        let (_, b) = enroll(json!({"enrollment_id": "host-42"})).await;
        assert_ne!(a["item"]["id"], b["item"]["id"]);
        let (status, _) = srv.get(&format!("/api/fleet/agents/{}", a["item"]["id"].as_str().unwrap())).await;
        assert_eq!(status, 404, "the stale enrollment is gone");
        let (_, list) = srv.get("/api/fleet/agents?kuery=enrollment_id:host-42").await;
        assert_eq!(list["total"], 1);
        srv.stop().await;
    }
}
