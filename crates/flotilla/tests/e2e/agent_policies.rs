//! Every `/api/fleet/agent_policies` operation over HTTP, on SQLite and PostgreSQL.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// The request body of "Create agent policy" in the Fleet API guide, verbatim.
fn guide_body() -> Value {
    json!({
      "name": "Agent policy 1",
      "description": "",
      "namespace": "default",
      "monitoring_enabled": [
        "logs",
        "metrics"
      ]
    })
}

fn is_kibana_timestamp(s: &str) -> bool {
    // 2022-10-14T00:07:19.763Z
    s.len() == 24
        && s.ends_with('Z')
        && chrono::DateTime::parse_from_rfc3339(s).is_ok()
        && &s[19..20] == "."
}

both_backends! {
    async fn guide_example_creates_the_documented_shape(srv: TestServer) {
        let (status, res) = srv.post("/api/fleet/agent_policies", guide_body()).await;
        assert_eq!(status, StatusCode::OK, "{res}");
        let item = &res["item"];
        assert!(uuid::Uuid::parse_str(item["id"].as_str().unwrap()).is_ok());
        assert_eq!(item["name"], "Agent policy 1");
        assert_eq!(item["description"], "");
        assert_eq!(item["namespace"], "default");
        assert_eq!(item["monitoring_enabled"], json!(["logs", "metrics"]));
        assert_eq!(item["status"], "active");
        assert_eq!(item["is_managed"], false);
        assert_eq!(item["revision"], 1);
        assert!(is_kibana_timestamp(item["updated_at"].as_str().unwrap()), "{}", item["updated_at"]);
        assert_eq!(item["updated_by"], "elastic");
        assert_eq!(item["schema_version"], "1.1.1");
        assert_eq!(item["inactivity_timeout"], 1209600);
        assert_eq!(item["is_protected"], false);
        assert_eq!(item["space_ids"], json!(["default"]));
        assert_eq!(item["version"], "WzEsMV0=");
        // It persisted, with its default enrollment API key.
        let id = item["id"].as_str().unwrap();
        let (status, got) = srv.get(&format!("/api/fleet/agent_policies/{id}")).await;
        assert_eq!(status, 200);
        assert_eq!(got["item"]["name"], "Agent policy 1");
        assert_eq!(got["item"]["package_policies"], json!([]));
        let mut tx = srv.fleet().store.begin(fleet::store::Mode::Read).await.unwrap();
        assert_eq!(fleet::enrollment_api_keys::count_for_policy(tx.as_mut(), id).await.unwrap(), 1);
        let keys = tx.find(fleet::store::Kind::EnrollmentApiKey, &Default::default()).await.unwrap();
        let name = keys[0].body["name"].as_str().unwrap();
        assert!(name.starts_with("Default (") && name.ends_with(')'), "{name}");
        drop(tx);
        srv.stop().await;
    }
}

both_backends! {
    async fn sys_monitoring_without_a_system_package_is_refused_clearly(srv: TestServer) {
        let (status, res) = srv.post("/api/fleet/agent_policies?sys_monitoring=true", guide_body()).await;
        assert_eq!(status, 400);
        assert!(res["message"].as_str().unwrap().contains("system integration"), "{res}");
        let (_, list) = srv.get("/api/fleet/agent_policies").await;
        assert_eq!(list["total"], 0, "nothing was written");
        let (status, _) = srv.post("/api/fleet/agent_policies?sys_monitoring=false", guide_body()).await;
        assert_eq!(status, 200);
        let (status, res) = srv.post("/api/fleet/agent_policies?sys_monitoring=maybe", guide_body()).await;
        assert_eq!(status, 400, "{res}");
        srv.stop().await;
    }
}

both_backends! {
    async fn client_supplied_ids_are_kept_and_unique(srv: TestServer) {
        let item = srv.create_policy(json!({"id": "my-policy", "name": "p1", "namespace": "default"})).await;
        assert_eq!(item["id"], "my-policy");
        let (status, res) = srv.post("/api/fleet/agent_policies", json!({"id": "my-policy", "name": "p2", "namespace": "default"})).await;
        assert_eq!(status, 409);
        assert_eq!(res["message"], "Saved object [ingest-agent-policies/my-policy] conflict");
        srv.stop().await;
    }
}

both_backends! {
    async fn invalid_bodies_get_kibana_messages_and_change_nothing(srv: TestServer) {
        let cases = [
            (json!({"namespace": "default"}), "[request body.name]: expected value of type [string] but got [undefined]"),
            (json!({"name": "", "namespace": "default"}), "[request body.name]: value has length [0] but it must have a minimum length of [1]."),
            (json!({"name": "   ", "namespace": "default"}), "[request body.name]: Invalid empty string"),
            (json!({"name": "a"}), "[request body.namespace]: expected value of type [string] but got [undefined]"),
            (json!({"name": "a", "namespace": "Default"}), "[request body.namespace]: Namespace must be lowercase"),
            (json!({"name": "a", "namespace": "my-ns"}), "[request body.namespace]: Namespace contains invalid characters"),
            (json!({"name": "a", "namespace": "a b"}), "[request body.namespace]: Namespace contains invalid characters"),
            (json!({"name": "a", "namespace": "x".repeat(101)}), "[request body.namespace]: Namespace cannot be more than 100 bytes"),
            (json!({"name": "a", "namespace": "default", "foo": 1}), "[request body.foo]: definition for this key is missing"),
            (json!({"name": "a", "namespace": "default", "inactivity_timeout": -1}), "[request body.inactivity_timeout]: Value must be equal to or greater than [0]."),
            (json!({"name": 5, "namespace": "default"}), "[request body.name]: expected value of type [string] but got [number]"),
            (json!({"name": "a", "namespace": "default", "monitoring_enabled": ["logs", "nope"]}), "[request body.monitoring_enabled.1]: types that failed validation:\n- [request body.monitoring_enabled.1.0]: expected value to equal [logs]\n- [request body.monitoring_enabled.1.1]: expected value to equal [metrics]\n- [request body.monitoring_enabled.1.2]: expected value to equal [traces]"),
            // Kibana's declared contract, typed (see crates/fleet/src/agent_policies/schema.rs).
            (json!({"name": "a", "namespace": "default", "inactivity_timeout": 1.5}), "[request body.inactivity_timeout]: 1.5 is not a valid integer"),
            (json!({"name": "a", "namespace": "default", "inactivity_timeout": "soon"}), "[request body.inactivity_timeout]: expected value of type [number] but got [string]"),
            (json!({"name": "a", "namespace": "default", "description": null}), "[request body.description]: expected value of type [string] but got [null]"),
            (json!({"name": "a", "namespace": "default", "data_output_id": 5}), "[request body.data_output_id]: types that failed validation:\n- [request body.data_output_id.0]: expected value to equal [null]\n- [request body.data_output_id.1]: expected value of type [string] but got [number]"),
            (json!({"name": "a", "namespace": "default", "global_data_tags": [{"name": "x", "value": 1}, {"name": "x", "value": "y"}]}), "[request body.global_data_tags]: Found duplicate tag names: ['x'], duplicate tag names are not allowed."),
            (json!({"name": "a", "namespace": "default", "global_data_tags": [{"name": "a b", "value": 1}]}), "[request body.global_data_tags]: Found tag names with spaces: ['a b'], tag names with spaces are not allowed."),
            (json!({"name": "a", "namespace": "default", "global_data_tags": [{"name": "x", "value": true}]}), "[request body.global_data_tags.0.value]: types that failed validation:\n- [request body.global_data_tags.0.value.0]: expected value of type [string] but got [boolean]\n- [request body.global_data_tags.0.value.1]: expected value of type [number] but got [boolean]"),
            (json!({"name": "a", "namespace": "default", "advanced_settings": {"agent_limits_go_max_procs": -1}}), "[request body.advanced_settings.agent_limits_go_max_procs]: types that failed validation:\n- [request body.advanced_settings.agent_limits_go_max_procs.0]: expected value to equal [null]\n- [request body.advanced_settings.agent_limits_go_max_procs.1]: Value must be equal to or greater than [0]."),
            (json!({"name": "a", "namespace": "default", "agentless": {"resources": {"requests": {"memory": "2GB"}}}}), "[request body.agentless.resources.requests.memory]: Invalid memory format"),
            (json!({"name": "a", "namespace": "default", "agentless": {"resources": {"requests": {"cpu": "two"}}}}), "[request body.agentless.resources.requests.cpu]: Invalid CPU format"),
            (json!({"name": "a", "namespace": "default", "agentless": {"cloud_connectors": {"enabled": true, "target_csp": "ibm"}}}), "[request body.agentless.cloud_connectors.target_csp]: types that failed validation:\n- [request body.agentless.cloud_connectors.target_csp.0]: expected value to equal [aws]\n- [request body.agentless.cloud_connectors.target_csp.1]: expected value to equal [azure]\n- [request body.agentless.cloud_connectors.target_csp.2]: expected value to equal [gcp]"),
            (json!({"name": "a", "namespace": "default", "overrides": {"inputs": {}}}), "[request body.overrides]: types that failed validation:\n- [request body.overrides.0]: expected value to equal [null]\n- [request body.overrides.1]: inputs overrides is not allowed"),
            (json!({"name": "a", "namespace": "default", "required_versions": [{"version": "9.1.0", "percentage": 101}]}), "[request body.required_versions]: types that failed validation:\n- [request body.required_versions.0]: expected value to equal [null]\n- [request body.required_versions.1.0.percentage]: Value must be equal to or lower than [100]."),
            (json!({"name": "a", "namespace": "default", "monitoring_http": {"port": 70000}}), "[request body.monitoring_http.port]: Value must be equal to or lower than [65353]."),
            (json!({"name": "a", "namespace": "default", "agent_features": [{"name": "fqdn"}]}), "[request body.agent_features.0.enabled]: expected value of type [boolean] but got [undefined]"),
            (json!([1]), "[request body]: expected a plain object value, but found [Array] instead."),
        ];
        for (body, message) in cases {
            let (status, res) = srv.post("/api/fleet/agent_policies", body.clone()).await;
            assert_eq!(status, 400, "{body}");
            assert_eq!(res, json!({"statusCode": 400, "error": "Bad Request", "message": message}), "{body}");
        }
        // Not JSON at all.
        let res = srv.http.post(format!("{}/api/fleet/agent_policies", srv.base))
            .header("authorization", srv.auth.clone().unwrap()).header("kbn-xsrf", "x")
            .header("content-type", "application/json").body("{not json").send().await.unwrap();
        assert_eq!(res.status(), 400);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["message"], "Invalid request payload JSON format");
        let (_, list) = srv.get("/api/fleet/agent_policies").await;
        assert_eq!(list["total"], 0);

        // Every agent policy route's declared query and body, refused with Kibana's message.
        let p = srv.create_policy(json!({"name": "typed", "namespace": "default"})).await;
        let id = p["id"].as_str().unwrap();
        let query = "types that failed validation:\n- [request query.format.0]: expected value to equal [simplified]\n- [request query.format.1]: expected value to equal [legacy]";
        let refusals = [
            (Method::GET, "/api/fleet/agent_policies?perPage=101&full=true".to_string(), None, "[request query]: perPage should be less or equal to 100 when fetching full policies or agent count.".to_string()),
            (Method::GET, "/api/fleet/agent_policies?perPage=500&withAgentCount=true".to_string(), None, "[request query]: perPage should be less or equal to 100 when fetching full policies or agent count.".to_string()),
            (Method::GET, "/api/fleet/agent_policies?sortOrder=up".to_string(), None, "[request query.sortOrder]: types that failed validation:\n- [request query.sortOrder.0]: expected value to equal [desc]\n- [request query.sortOrder.1]: expected value to equal [asc]".to_string()),
            (Method::POST, "/api/fleet/agent_policies?sys_monitoring=maybe".to_string(), Some(json!({"name": "x", "namespace": "default"})), "[request query.sys_monitoring]: expected value of type [boolean] but got [string]".to_string()),
            (Method::GET, format!("/api/fleet/agent_policies/{id}?format=weird"), None, format!("[request query.format]: {query}")),
            (Method::PUT, format!("/api/fleet/agent_policies/{id}"), Some(json!({"name": "typed"})), "[request body.namespace]: expected value of type [string] but got [undefined]".to_string()),
            (Method::PUT, format!("/api/fleet/agent_policies/{id}"), Some(json!({"name": "typed", "namespace": "default", "bumpRevision": "often"})), "[request body.bumpRevision]: expected value of type [boolean] but got [string]".to_string()),
            (Method::POST, format!("/api/fleet/agent_policies/{id}/copy"), Some(json!({"name": "c", "revision": 2})), "[request body.revision]: definition for this key is missing".to_string()),
            (Method::POST, "/api/fleet/agent_policies/delete".to_string(), Some(json!({})), "[request body.agentPolicyId]: expected value of type [string] but got [undefined]".to_string()),
            (Method::POST, "/api/fleet/agent_policies/_bulk_get".to_string(), Some(json!({"ids": "p1"})), "[request body.ids]: could not parse array value from json input".to_string()),
            (Method::POST, "/api/fleet/agent_policies/outputs".to_string(), Some(json!({"ids": [1]})), "[request body.ids.0]: expected value of type [string] but got [number]".to_string()),
            (Method::GET, format!("/api/fleet/agent_policies/{id}/full?standalone=perhaps"), None, "[request query.standalone]: expected value of type [boolean] but got [string]".to_string()),
            (Method::GET, format!("/api/fleet/agent_policies/{id}/download?revision=0"), None, "[request query.revision]: Value must be equal to or greater than [1].".to_string()),
            (Method::GET, format!("/api/fleet/agent_policies/{id}/outputs?x=1"), None, "[request query.x]: definition for this key is missing".to_string()),
        ];
        for (method, path, body, message) in refusals {
            let (status, res) = srv.call(method.clone(), &path, body).await;
            assert_eq!((status.as_u16(), res["message"].as_str().unwrap_or_default()), (400, message.as_str()), "{method} {path}");
        }
        // Conversions config-schema makes: numbers and booleans given as strings.
        let (status, res) = srv.post("/api/fleet/agent_policies", json!({"name": "converted", "namespace": "default", "inactivity_timeout": "60", "is_protected": "false"})).await;
        assert_eq!(status, 200, "{res}");
        assert_eq!(res["item"]["inactivity_timeout"], 60);
        assert_eq!(res["item"]["is_protected"], false);
        srv.stop().await;
    }
}

both_backends! {
    async fn names_are_unique_across_namespaces(srv: TestServer) {
        let first = srv.create_policy(json!({"name": "shared", "namespace": "default"})).await;
        let (status, res) = srv.post("/api/fleet/agent_policies", json!({"name": "shared", "namespace": "other"})).await;
        assert_eq!(status, 409);
        assert_eq!(res["message"], format!("Agent Policy '{}' already exists with name 'shared'", first["id"].as_str().unwrap()));
        // Updating another policy to that name is refused too; keeping one's own name is fine.
        let second = srv.create_policy(json!({"name": "second", "namespace": "default"})).await;
        let path = format!("/api/fleet/agent_policies/{}", second["id"].as_str().unwrap());
        let (status, _) = srv.put(&path, json!({"name": "shared", "namespace": "default"})).await;
        assert_eq!(status, 409);
        let (status, res) = srv.put(&path, json!({"name": "second", "namespace": "default", "description": "d"})).await;
        assert_eq!(status, 200, "{res}");
        srv.stop().await;
    }
}

both_backends! {
    async fn concurrent_creates_with_one_name_make_one_policy(srv: TestServer) {
        let srv = std::sync::Arc::new(srv);
        let mut tasks = Vec::new();
        for i in 0..8 {
            let srv = srv.clone();
            tasks.push(tokio::spawn(async move {
                srv.post("/api/fleet/agent_policies", json!({"name": "race", "namespace": "default", "description": format!("{i}")})).await.0
            }));
        }
        let mut ok = 0;
        for t in tasks {
            let status = t.await.unwrap();
            assert!(status == 200 || status == 409, "{status}");
            ok += usize::from(status == 200);
        }
        assert_eq!(ok, 1);
        let (_, list) = srv.get("/api/fleet/agent_policies").await;
        assert_eq!(list["total"], 1);
        std::sync::Arc::try_unwrap(srv).ok().expect("only owner").stop().await;
    }
}

both_backends! {
    async fn get_unknown_policy_is_404(srv: TestServer) {
        let (status, res) = srv.get("/api/fleet/agent_policies/nope").await;
        assert_eq!(status, 404);
        assert_eq!(res, json!({"statusCode": 404, "error": "Not Found", "message": "Saved object [ingest-agent-policies/nope] not found"}));
        srv.stop().await;
    }
}

both_backends! {
    async fn list_pages_sorts_and_filters(srv: TestServer) {
        for (name, ns, managed) in [("alpha", "default", false), ("bravo", "prod", true), ("charlie", "prod", false), ("delta", "default", false), ("echo", "dev", false)] {
            srv.create_policy(json!({"name": name, "namespace": ns, "is_managed": managed})).await;
            // Timestamps have millisecond precision: keep the update order unambiguous.
            tokio::time::sleep(std::time::Duration::from_millis(3)).await;
        }
        let names = |v: &Value| v["items"].as_array().unwrap().iter().map(|i| i["name"].as_str().unwrap().to_string()).collect::<Vec<_>>();

        let (status, res) = srv.get("/api/fleet/agent_policies").await;
        assert_eq!(status, 200);
        assert_eq!((res["total"].clone(), res["page"].clone(), res["perPage"].clone()), (json!(5), json!(1), json!(20)));
        // Default order: most recently updated first.
        assert_eq!(names(&res), ["echo", "delta", "charlie", "bravo", "alpha"]);

        let (_, res) = srv.get("/api/fleet/agent_policies?sortField=name&sortOrder=asc&perPage=2&page=2").await;
        assert_eq!(names(&res), ["charlie", "delta"]);
        assert_eq!((res["total"].clone(), res["page"].clone(), res["perPage"].clone()), (json!(5), json!(2), json!(2)));

        for (kuery, expected) in [
            ("name:bravo", vec!["bravo"]),
            ("ingest-agent-policies.name:\"charlie\"", vec!["charlie"]),
            ("namespace:prod and not is_managed:true", vec!["charlie"]),
            ("is_managed:true or namespace:dev", vec!["bravo", "echo"]),
            ("name:*lt*", vec!["delta"]),
            ("ingest-agent-policies.namespace:(prod)", vec!["bravo", "charlie"]),
            ("revision:1 and status:active and name:a*", vec!["alpha"]),
            ("monitoring_enabled:logs", vec![]),
            ("space_ids:default and name:(alpha or echo)", vec!["alpha", "echo"]),
        ] {
            let url = format!("/api/fleet/agent_policies?sortField=name&sortOrder=asc&kuery={}", crate::support::urlencode(kuery));
            let (status, res) = srv.get(&url).await;
            assert_eq!(status, 200, "{kuery}: {res}");
            assert_eq!(names(&res), expected, "{kuery}");
            assert_eq!(res["total"], expected.len(), "{kuery}");
        }

        let (_, res) = srv.get("/api/fleet/agent_policies?perPage=1&withAgentCount=true&full=true").await;
        assert_eq!(res["items"][0]["agents"], 0);
        assert_eq!(res["items"][0]["package_policies"], json!([]));
        let (_, res) = srv.get("/api/fleet/agent_policies?perPage=1").await;
        assert!(res["items"][0].get("agents").is_none());

        for bad in ["kuery=name:", "kuery=nosuchfield:x", "kuery=(name:x", "foo=bar", "perPage=abc", "page=0",
                    "sortOrder=up", "sortField=nosuch", "format=weird", "showUpgradeable=yes", "page=2&perPage=10000"] {
            let (status, res) = srv.get(&format!("/api/fleet/agent_policies?{bad}")).await;
            assert_eq!(status, 400, "{bad}: {res}");
            assert_eq!(res["statusCode"], 400);
        }
        srv.stop().await;
    }
}

both_backends! {
    async fn update_bumps_revision_and_merges(srv: TestServer) {
        let item = srv.create_policy(json!({"name": "p", "namespace": "default", "description": "one", "monitoring_enabled": ["logs"]})).await;
        let path = format!("/api/fleet/agent_policies/{}", item["id"].as_str().unwrap());
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        let (status, res) = srv.put(&path, json!({"name": "p", "namespace": "prod", "inactivity_timeout": 60})).await;
        assert_eq!(status, 200, "{res}");
        let up = &res["item"];
        assert_eq!(up["revision"], 2);
        assert_eq!(up["namespace"], "prod");
        assert_eq!(up["inactivity_timeout"], 60);
        assert_eq!(up["description"], "one", "absent fields keep their value");
        assert_eq!(up["monitoring_enabled"], json!(["logs"]));
        assert_ne!(up["updated_at"], item["updated_at"]);
        assert_eq!(up["version"], "WzIsMV0=");
        let (_, res) = srv.put(&path, json!({"name": "p", "namespace": "prod"})).await;
        assert_eq!(res["item"]["revision"], 3, "every update bumps the revision");
        let (_, got) = srv.get(&path).await;
        assert_eq!(got["item"]["revision"], 3);

        let (status, res) = srv.put(&path, json!({"namespace": "prod"})).await;
        assert_eq!(status, 400, "PUT needs the whole policy: {res}");
        let (status, res) = srv.put(&path, json!({"name": "p", "namespace": "prod", "revision": 9})).await;
        assert_eq!(status, 400);
        assert_eq!(res["message"], "[request body.revision]: definition for this key is missing");
        let (status, _) = srv.put("/api/fleet/agent_policies/nope", json!({"name": "p", "namespace": "prod"})).await;
        assert_eq!(status, 404);
        srv.stop().await;
    }
}

both_backends! {
    async fn managed_policies_refuse_changes_without_force(srv: TestServer) {
        let item = srv.create_policy(json!({"name": "hosted", "namespace": "default", "is_managed": true})).await;
        let id = item["id"].as_str().unwrap();
        let path = format!("/api/fleet/agent_policies/{id}");
        let (status, res) = srv.put(&path, json!({"name": "hosted", "namespace": "other"})).await;
        assert_eq!(status, 400);
        assert_eq!(res["message"], "Cannot update namespace in Fleet because the agent policy is managed by an external orchestration solution, such as Elastic Cloud, Kubernetes, etc. Please make changes using your orchestration solution.");
        let (_, got) = srv.get(&path).await;
        assert_eq!(got["item"]["namespace"], "default");
        assert_eq!(got["item"]["revision"], 1);
        // Sending the same values is not a change.
        let (status, _) = srv.put(&path, json!({"name": "hosted", "namespace": "default"})).await;
        assert_eq!(status, 200);
        let (status, res) = srv.put(&path, json!({"name": "hosted", "namespace": "other", "force": true})).await;
        assert_eq!(status, 200, "{res}");
        assert_eq!(res["item"]["namespace"], "other");

        let (status, res) = srv.post("/api/fleet/agent_policies/delete", json!({"agentPolicyId": id})).await;
        assert_eq!(status, 400);
        assert_eq!(res["message"], format!("Cannot delete hosted agent policy {id} in Fleet because the agent policy is managed by an external orchestration solution, such as Elastic Cloud, Kubernetes, etc. Please make changes using your orchestration solution."));
        let (status, _) = srv.post("/api/fleet/agent_policies/delete", json!({"agentPolicyId": id, "force": true})).await;
        assert_eq!(status, 200);
        srv.stop().await;
    }
}

both_backends! {
    async fn copy_makes_a_new_unmanaged_policy(srv: TestServer) {
        let base = srv.create_policy(json!({"name": "base", "namespace": "prod", "is_managed": true, "monitoring_enabled": ["metrics"], "inactivity_timeout": 3600, "description": "orig"})).await;
        let id = base["id"].as_str().unwrap();
        let (status, res) = srv.post(&format!("/api/fleet/agent_policies/{id}/copy"), json!({"name": "base copy", "description": "mine"})).await;
        assert_eq!(status, 200, "{res}");
        let copy = &res["item"];
        assert_ne!(copy["id"], base["id"]);
        assert_eq!(copy["name"], "base copy");
        assert_eq!(copy["description"], "mine");
        assert_eq!(copy["namespace"], "prod");
        assert_eq!(copy["monitoring_enabled"], json!(["metrics"]));
        assert_eq!(copy["inactivity_timeout"], 3600);
        assert_eq!(copy["is_managed"], false);
        assert_eq!(copy["revision"], 1);
        let mut tx = srv.fleet().store.begin(fleet::store::Mode::Read).await.unwrap();
        assert_eq!(fleet::enrollment_api_keys::count_for_policy(tx.as_mut(), copy["id"].as_str().unwrap()).await.unwrap(), 1);
        drop(tx);

        let (status, res) = srv.post(&format!("/api/fleet/agent_policies/{id}/copy"), json!({"name": "base"})).await;
        assert_eq!(status, 409, "{res}");
        let (status, _) = srv.post("/api/fleet/agent_policies/nope/copy", json!({"name": "x"})).await;
        assert_eq!(status, 404);
        let (status, res) = srv.post(&format!("/api/fleet/agent_policies/{id}/copy"), json!({})).await;
        assert_eq!(status, 400);
        assert_eq!(res["message"], "[request body.name]: expected value of type [string] but got [undefined]");
        let (_, list) = srv.get("/api/fleet/agent_policies").await;
        assert_eq!(list["total"], 2);
        srv.stop().await;
    }
}

both_backends! {
    async fn delete_removes_the_policy_and_its_enrollment_keys(srv: TestServer) {
        let item = srv.create_policy(json!({"name": "gone", "namespace": "default"})).await;
        let id = item["id"].as_str().unwrap().to_string();
        let (status, res) = srv.post("/api/fleet/agent_policies/delete", json!({"agentPolicyId": id})).await;
        assert_eq!(status, 200);
        assert_eq!(res, json!({"id": id, "name": "gone"}));
        let (status, _) = srv.get(&format!("/api/fleet/agent_policies/{id}")).await;
        assert_eq!(status, 404);
        let mut tx = srv.fleet().store.begin(fleet::store::Mode::Read).await.unwrap();
        assert_eq!(fleet::enrollment_api_keys::count_for_policy(tx.as_mut(), &id).await.unwrap(), 0);
        drop(tx);
        let (status, res) = srv.post("/api/fleet/agent_policies/delete", json!({"agentPolicyId": id})).await;
        assert_eq!(status, 404);
        assert_eq!(res["message"], format!("Saved object [ingest-agent-policies/{id}] not found"));
        let (status, _) = srv.post("/api/fleet/agent_policies/delete", json!({})).await;
        assert_eq!(status, 400);
        srv.stop().await;
    }
}

both_backends! {
    async fn delete_refuses_a_policy_with_agents(srv: TestServer) {
        let item = srv.create_policy(json!({"name": "busy", "namespace": "default"})).await;
        let id = item["id"].as_str().unwrap();
        let mut tx = srv.fleet().store.begin(fleet::store::Mode::Write).await.unwrap();
        // An inactive (unenrolled) agent still blocks deletion, as in Kibana.
        tx.put_agent("agent-1", Some(id), false, &json!({"agent": {"version": "9.1.0"}})).await.unwrap();
        tx.commit().await.unwrap();
        let (status, res) = srv.post("/api/fleet/agent_policies/delete", json!({"agentPolicyId": id})).await;
        assert_eq!(status, 400);
        assert_eq!(res["message"], "Cannot delete an agent policy that is assigned to any active or inactive agents");
        let (status, _) = srv.get(&format!("/api/fleet/agent_policies/{id}")).await;
        assert_eq!(status, 200);
        srv.stop().await;
    }
}

both_backends! {
    async fn bulk_get_returns_items_in_order(srv: TestServer) {
        let a = srv.create_policy(json!({"name": "a", "namespace": "default"})).await;
        let b = srv.create_policy(json!({"name": "b", "namespace": "default"})).await;
        let (status, res) = srv.post("/api/fleet/agent_policies/_bulk_get", json!({"ids": [b["id"], a["id"]]})).await;
        assert_eq!(status, 200);
        assert_eq!(res["items"][0]["name"], "b");
        assert_eq!(res["items"][1]["name"], "a");
        let (status, res) = srv.post("/api/fleet/agent_policies/_bulk_get", json!({"ids": [a["id"], "missing"]})).await;
        assert_eq!(status, 404);
        assert_eq!(res["message"], "Agent policy missing not found");
        let (status, res) = srv.post("/api/fleet/agent_policies/_bulk_get", json!({"ids": [a["id"], "missing"], "ignoreMissing": true, "full": true})).await;
        assert_eq!(status, 200);
        assert_eq!(res["items"].as_array().unwrap().len(), 1);
        assert_eq!(res["items"][0]["package_policies"], json!([]));
        let (status, _) = srv.post("/api/fleet/agent_policies/_bulk_get", json!({"ids": "x"})).await;
        assert_eq!(status, 400);
        srv.stop().await;
    }
}

both_backends! {
    async fn full_policy_and_download(srv: TestServer) {
        let item = srv.create_policy(json!({
            "name": "full", "namespace": "prod", "monitoring_enabled": ["logs"],
            "advanced_settings": {"agent_logging_level": "debug", "agent_limits_go_max_procs": 2},
            "agent_features": [{"name": "fqdn", "enabled": true}],
            "overrides": {"agent": {"download": {"sourceURI": "https://mirror.example/downloads/"}}}
        })).await;
        let id = item["id"].as_str().unwrap();
        let (status, res) = srv.get(&format!("/api/fleet/agent_policies/{id}/full")).await;
        assert_eq!(status, 200, "{res}");
        let full = &res["item"];
        assert_eq!(full["id"], id);
        assert_eq!(full["revision"], 1);
        assert_eq!(full["outputs"]["default"]["type"], "elasticsearch");
        assert_eq!(full["outputs"]["default"]["hosts"], json!(["http://localhost:9200"]));
        assert_eq!(full["agent"]["monitoring"], json!({"enabled": true, "logs": true, "metrics": false, "traces": false, "use_output": "default", "namespace": "prod"}));
        assert_eq!(full["agent"]["logging"]["level"], "debug");
        assert_eq!(full["agent"]["limits"]["go_max_procs"], 2);
        assert_eq!(full["agent"]["features"], json!({"fqdn": {"enabled": true}}));
        assert_eq!(full["agent"]["download"]["sourceURI"], "https://mirror.example/downloads/");
        assert_eq!(full["agent"]["protection"]["enabled"], false);
        assert_eq!(full["inputs"], json!([]));
        assert_eq!(full["fleet"]["hosts"][0], format!("{}", srv.agent_base));
        assert_eq!(full["output_permissions"]["default"]["_elastic_agent_monitoring"]["indices"][0]["names"][0], "logs-elastic_agent-prod");

        let (_, res) = srv.get(&format!("/api/fleet/agent_policies/{id}/full?standalone=true")).await;
        assert_eq!(res["item"]["outputs"]["default"]["username"], "${ES_USERNAME}");
        assert!(res["item"].get("fleet").is_none());
        // Kubernetes: a managed DaemonSet manifest enrolling with the policy's token, or a
        // standalone one carrying the policy in a ConfigMap.
        let (status, res) = srv.get(&format!("/api/fleet/agent_policies/{id}/full?kubernetes=true")).await;
        assert_eq!(status, 200, "{res}");
        let docs: Vec<Value> = res["item"].as_str().unwrap().split("---\n").map(|d| serde_yaml_ng::from_str(d).unwrap()).collect();
        let kinds: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
        assert_eq!(kinds, vec!["DaemonSet", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"]);
        let env = &docs[0]["spec"]["template"]["spec"]["containers"][0]["env"];
        let var = |name: &str| env.as_array().unwrap().iter().find(|e| e["name"] == name).unwrap()["value"].clone();
        assert_eq!(var("FLEET_URL"), json!(srv.agent_base));
        assert_eq!(var("FLEET_ENROLLMENT_TOKEN"), json!(srv.enrollment_token(id).await));
        let res = srv.http.get(format!("{}/api/fleet/agent_policies/{id}/download?kubernetes=true&standalone=true&download=true", srv.base))
            .header("authorization", srv.auth.clone().unwrap()).send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert!(res.headers()["content-disposition"].to_str().unwrap().contains("elastic-agent-standalone-kubernetes.yml"));
        let text = res.text().await.unwrap();
        let config: Value = serde_yaml_ng::from_str(text.split("---\n").next().unwrap()).unwrap();
        assert_eq!(config["kind"], "ConfigMap");
        let agent_yml: Value = serde_yaml_ng::from_str(config["data"]["agent.yml"].as_str().unwrap()).unwrap();
        assert_eq!(agent_yml["id"], json!(id));
        assert_eq!(agent_yml["outputs"]["default"]["username"], "${ES_USERNAME}");
        let (status, _) = srv.get(&format!("/api/fleet/agent_policies/{id}/full?revision=1")).await;
        assert_eq!(status, 200);
        let (status, _) = srv.get(&format!("/api/fleet/agent_policies/{id}/full?revision=7")).await;
        assert_eq!(status, 404);
        let (status, _) = srv.get("/api/fleet/agent_policies/nope/full").await;
        assert_eq!(status, 404);

        let res = srv.http.get(format!("{}/api/fleet/agent_policies/{id}/download?download=true", srv.base))
            .header("authorization", srv.auth.clone().unwrap()).send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-type"], "text/x-yaml");
        assert_eq!(res.headers()["content-disposition"], "attachment; filename=\"elastic-agent.yml\"");
        let mut yaml: Value = serde_yaml_ng::from_str(&res.text().await.unwrap()).unwrap();
        // ECDSA signatures are randomized: the same policy, signed again, verifies with the
        // same key but differs in its bytes (signatures are checked in tests/settings.rs).
        let mut full = full.clone();
        assert!(yaml["signed"]["signature"].is_string());
        yaml["signed"]["signature"] = Value::Null;
        full["signed"]["signature"] = Value::Null;
        assert_eq!(yaml, full, "the YAML is the same policy");

        // No monitoring: no monitoring permissions.
        let quiet = srv.create_policy(json!({"name": "quiet", "namespace": "default"})).await;
        let (_, res) = srv.get(&format!("/api/fleet/agent_policies/{}/full", quiet["id"].as_str().unwrap())).await;
        assert_eq!(res["item"]["agent"]["monitoring"]["enabled"], false);
        assert!(res["item"].get("output_permissions").is_none());
        srv.stop().await;
    }
}

both_backends! {
    async fn outputs_and_auto_upgrade_status(srv: TestServer) {
        let a = srv.create_policy(json!({"name": "a", "namespace": "default", "required_versions": [{"version": "9.1.0", "percentage": 50}]})).await;
        let id = a["id"].as_str().unwrap();
        let (status, res) = srv.get(&format!("/api/fleet/agent_policies/{id}/outputs")).await;
        assert_eq!(status, 200);
        assert_eq!(res["item"], json!({
            "agentPolicyId": id,
            "monitoring": {"output": {"id": "fleet-default-output", "name": "default"}},
            "data": {"output": {"id": "fleet-default-output", "name": "default"}, "integrations": []},
        }));
        let (status, res) = srv.post("/api/fleet/agent_policies/outputs", json!({"ids": [id]})).await;
        assert_eq!(status, 200);
        assert_eq!(res["items"][0]["agentPolicyId"], id);

        let mut tx = srv.fleet().store.begin(fleet::store::Mode::Write).await.unwrap();
        tx.put_agent("a1", Some(id), true, &json!({"agent": {"version": "9.1.0"}})).await.unwrap();
        tx.put_agent("a2", Some(id), true, &json!({"agent": {"version": "9.0.0"}})).await.unwrap();
        tx.commit().await.unwrap();
        let (status, res) = srv.get(&format!("/api/fleet/agent_policies/{id}/auto_upgrade_agents_status")).await;
        assert_eq!(status, 200, "{res}");
        assert_eq!(res["totalAgents"], 2);
        assert_eq!(res["currentVersions"], json!([{"version": "9.1.0", "agents": 1, "failedUpgradeAgents": 0, "failedUpgradeActionIds": []}]));
        let (_, list) = srv.get("/api/fleet/agent_policies?withAgentCount=true").await;
        assert_eq!(list["items"][0]["agents"], 2);
        srv.stop().await;
    }
}

/// A write that fails half-way leaves nothing behind: the policy row is written before the
/// enrollment key, and the enrollment key insert is made to fail.
mod failed_writes_change_nothing {
    use crate::support::{faulty::FailInserts, Backend, TestServer};
    use serde_json::json;
    use std::sync::Arc;

    async fn run(backend: Backend) {
        let Some(srv) = TestServer::start_wrapped(backend, |inner| {
            Arc::new(FailInserts {
                inner,
                kind: fleet::store::Kind::EnrollmentApiKey,
            })
        })
        .await
        else {
            return;
        };
        let (status, res) = srv
            .post(
                "/api/fleet/agent_policies",
                json!({"name": "p", "namespace": "default"}),
            )
            .await;
        assert_eq!(status, 409, "{res}");
        let (_, list) = srv.get("/api/fleet/agent_policies").await;
        assert_eq!(list["total"], 0, "no partial policy after a failed create");

        // Seed a policy behind the wrapper's back, then fail its copy mid-way.
        let mut tx = srv
            .fleet()
            .store
            .begin(fleet::store::Mode::Write)
            .await
            .unwrap();
        tx.insert(fleet::store::Kind::AgentPolicy, "seed", &json!({"name": "seed", "namespace": "default", "revision": 1, "updated_at": "2024-01-01T00:00:00.000Z"})).await.unwrap();
        tx.commit().await.unwrap();
        let (status, _) = srv
            .post(
                "/api/fleet/agent_policies/seed/copy",
                json!({"name": "seed copy"}),
            )
            .await;
        assert_eq!(status, 409);
        let (_, list) = srv.get("/api/fleet/agent_policies").await;
        assert_eq!(list["total"], 1, "no partial copy: {list}");
        assert_eq!(list["items"][0]["name"], "seed");
        srv.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        run(Backend::Sqlite).await
    }
    #[cfg_attr(
        not(postgres_tests),
        ignore = "needs PostgreSQL: set FLOTILLA_TEST_DATABASE_URL"
    )]
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        run(Backend::Postgres).await
    }
}
