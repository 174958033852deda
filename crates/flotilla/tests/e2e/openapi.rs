//! `GET /api/oas`, the OpenAPI document of the API Flotilla serves, checked against the running
//! router both ways: every operation it lists is routed (not the router's own 404 or 405), every
//! query parameter it lists is accepted, and every operation of Kibana's Fleet spec that
//! Flotilla routes is listed.

use reqwest::{Method, StatusCode};
use serde_json::Value;

/// A concrete path for an OpenAPI path: every `{param}` becomes a value no object has.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|seg| {
            if seg.starts_with('{') {
                "no-such-object"
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Whether a listed path template (with `{param}` segments) covers a concrete path: Kibana's
/// `GET /agents/collector_groups` reaches Flotilla's `GET /agents/{agentId}`, which is listed.
fn covered(listed: &[(String, String, Value)], method: &str, path: &str) -> bool {
    let want: Vec<&str> = path.split('/').collect();
    listed.iter().any(|(m, template, _)| {
        let segs: Vec<&str> = template.split('/').collect();
        m == method
            && segs.len() == want.len()
            && segs
                .iter()
                .zip(&want)
                .all(|(t, w)| t.starts_with('{') || t == w)
    })
}

/// Whether the router itself answered "no such route" (rather than a handler answering).
fn unrouted(status: StatusCode, body: &Value) -> bool {
    status == StatusCode::METHOD_NOT_ALLOWED
        || (status == StatusCode::NOT_FOUND && body["message"] == "Not Found")
}

fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            out.push((method.to_uppercase(), path.clone(), op.clone()));
        }
    }
    out
}

both_backends! {
    async fn the_document_matches_the_routes(srv: TestServer) {
        let (status, doc) = srv.get("/api/oas").await;
        assert_eq!(status, 200, "{doc}");
        assert_eq!(doc["openapi"], "3.0.3");
        let ops = operations(&doc);
        assert!(ops.len() > 120, "{} operations", ops.len());

        // Reads first, writes after (a logout or a key invalidation must not cut the rest off).
        let mut ordered = ops.clone();
        ordered.sort_by_key(|(m, p, _)| (m != "GET", p == "/api/security/logout"));
        for (method, path, op) in &ordered {
            let m = Method::from_bytes(method.as_bytes()).unwrap();
            let body = (method == "POST" || method == "PUT").then(|| serde_json::json!({}));
            let (status, answer) = srv.call(m.clone(), &concrete(path), body.clone()).await;
            assert!(!unrouted(status, &answer), "{method} {path} is listed but not routed: {status} {answer}");
            // Every listed query parameter is one the handler accepts (an unknown one is a 400
            // naming it).
            for q in op["parameters"].as_array().unwrap().iter().filter(|p| p["in"] == "query") {
                let name = q["name"].as_str().unwrap();
                if method != "GET" {
                    continue;
                }
                let (_, answer) = srv
                    .call(m.clone(), &format!("{}?{name}=1", concrete(path)), None)
                    .await;
                let text = answer.to_string();
                assert!(
                    !text.contains(&format!("[request query.{name}]: definition for this key is missing")),
                    "{method} {path}: {name} is listed but refused: {text}"
                );
            }
        }

        // The other way: every operation of Kibana's Fleet spec that Flotilla routes is listed.
        let spec = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/kibana/fleet-openapi.json");
        let text = std::fs::read_to_string(&spec).expect("Kibana's Fleet OpenAPI document is in the repository");
        let kibana: Value = serde_json::from_str(&text).unwrap();
        let listed: std::collections::HashSet<(String, String)> = ops
            .iter()
            .map(|(m, p, _)| (m.clone(), concrete(p)))
            .collect();
        let mut missing = Vec::new();
        for (method, path, _) in operations(&kibana) {
            if !["GET", "POST", "PUT", "DELETE", "PATCH"].contains(&method.as_str()) {
                continue;
            }
            let key = (method.clone(), concrete(&path));
            if listed.contains(&key) || covered(&ops, &method, &path) {
                continue;
            }
            let m = Method::from_bytes(method.as_bytes()).unwrap();
            let body = (method == "POST" || method == "PUT").then(|| serde_json::json!({}));
            let (status, answer) = srv.call(m, &key.1, body).await;
            if !unrouted(status, &answer) {
                missing.push(format!("{method} {path}"));
            }
        }
        assert!(missing.is_empty(), "routed but not in /api/oas: {missing:#?}");

        // Kibana's filter.
        let (_, some) = srv.get("/api/oas?pathStartsWith=/api/fleet/agent_policies").await;
        let paths = some["paths"].as_object().unwrap();
        assert!(paths.contains_key("/api/fleet/agent_policies/{agentPolicyId}/full"));
        assert!(paths.keys().all(|p| p.starts_with("/api/fleet/agent_policies")));
        let (status, bad) = srv.get("/api/oas?pathStartWith=/api").await;
        assert_eq!(status, 400, "{bad}");
        srv.stop().await;
    }
}

/// What each role holds, as Kibana's feature privileges grant them: `fleet-read` is "Fleet:
/// read" (with its Agents, Agent policies and Settings sub-features at read) and
/// "Integrations: read"; `fleet-admin` is both at "all"; every management user manages its own
/// API keys, and only superusers everyone's.
fn role_privileges(role: fleet::auth::Role) -> Vec<&'static str> {
    let read = [
        "fleet-read",
        "fleet-agents-read",
        "fleet-agent-policies-read",
        "fleet-settings-read",
        "integrations-read",
    ];
    let all = [
        "fleet-all",
        "fleet-agents-all",
        "fleet-agent-policies-all",
        "fleet-settings-all",
        "integrations-all",
    ];
    match role {
        fleet::auth::Role::Superuser => read
            .iter()
            .chain(&all)
            .copied()
            .chain(["manage_own_api_key", "manage_api_key"])
            .collect(),
        fleet::auth::Role::FleetAdmin => read
            .iter()
            .chain(&all)
            .copied()
            .chain(["manage_own_api_key"])
            .collect(),
        fleet::auth::Role::FleetRead => {
            read.iter().copied().chain(["manage_own_api_key"]).collect()
        }
        fleet::auth::Role::Agent => Vec::new(),
    }
}

/// Whether holding `held` meets an operation's `x-required-privileges`.
fn meets(required: &Value, held: &[&str], is_agent: bool) -> bool {
    fn has(list: &Value) -> impl Iterator<Item = &str> {
        list.as_array().unwrap().iter().map(|p| p.as_str().unwrap())
    }
    match required {
        Value::String(s) if s == "none" => true,
        Value::String(s) if s == "authenticated" => !is_agent,
        Value::Object(o) if o.contains_key("all") => has(&o["all"]).all(|p| held.contains(&p)),
        Value::Object(o) if o.contains_key("any") => has(&o["any"]).any(|p| held.contains(&p)),
        other => panic!("unknown requirement {other}"),
    }
}

both_backends! {
    async fn every_route_answers_each_role_as_the_privilege_table_says(srv: TestServer) {
        use fleet::auth::Role;
        let (_, doc) = srv.get("/api/oas").await;
        let ops = operations(&doc);
        let mut callers = vec![(Role::Superuser, srv.auth.clone().unwrap())];
        for (role, name) in [(Role::FleetAdmin, "admin"), (Role::FleetRead, "reader")] {
            srv.fleet().auth.put_user(name, "pw-of-the-role", role).await.unwrap();
            callers.push((role, crate::support::basic(name, "pw-of-the-role")));
        }
        // An agent's own access key, which opens no management route.
        let policy = srv.create_policy(serde_json::json!({"name": "p", "namespace": "default"})).await;
        let token = srv.enrollment_token(policy["id"].as_str().unwrap()).await;
        let (_, agent_key) = srv.enroll(&token, "h").await;
        callers.push((Role::Agent, format!("ApiKey {agent_key}")));

        let mut checked = 0;
        let mut ordered = ops.clone();
        ordered.sort_by_key(|(m, p, _)| (m != "GET", p == "/api/security/logout"));
        for (method, path, op) in &ordered {
            let required = &op["x-required-privileges"];
            assert!(!required.is_null(), "{method} {path} declares no privileges");
            if required == "none" {
                continue;
            }
            for (role, auth) in &callers {
                let mut req = srv.http.request(Method::from_bytes(method.as_bytes()).unwrap(), format!("{}{}", srv.base, concrete(path)))
                    .header("authorization", auth).header("kbn-xsrf", "x");
                if method == "POST" || method == "PUT" {
                    req = req.json(&serde_json::json!({}));
                }
                let res = req.send().await.unwrap();
                let status = res.status();
                let allowed = meets(required, &role_privileges(*role), *role == Role::Agent);
                // The gate's refusal (a handler's own 403, such as Elasticsearch's for another
                // user's API keys, is the handler's rule, not the table's).
                let text = res.text().await.unwrap();
                let gate_refused = status == StatusCode::FORBIDDEN && text.contains("\"API [") && text.contains("is unauthorized for user, this action is granted by the Kibana privileges");
                assert_eq!(gate_refused, !allowed,
                    "{method} {path} as {}: {status}, the table says {required}", role.as_str());
                checked += 1;
            }
        }
        assert!(checked > 400, "{checked} route x role pairs");
        srv.stop().await;
    }
}
