//! Fleet settings over HTTP, on SQLite and PostgreSQL: the defaults setup creates, outputs of
//! every type with Kibana's rules (one default, secrets apart, type-specific validation and
//! defaults), Fleet Server hosts, download sources and proxies, the full policy assembled from
//! them, and revisions bumped only for the policies that use what changed — which agents then
//! receive at check-in.

use crate::support::TestServer;
use reqwest::Method;
use serde_json::{json, Value};

async fn revision(srv: &TestServer, id: &str) -> i64 {
    srv.get(&format!("/api/fleet/agent_policies/{id}")).await.1["item"]["revision"]
        .as_i64()
        .unwrap()
}

async fn delete(srv: &TestServer, path: &str) -> (u16, Value) {
    let (s, v) = srv.call(Method::DELETE, path, None).await;
    (s.as_u16(), v)
}

both_backends! {
    async fn outputs_defaults_rules_and_revisions(srv: TestServer) {
        // Setup made the defaults.
        let (status, list) = srv.get("/api/fleet/outputs").await;
        assert_eq!(status, 200);
        let default = &list["items"][0];
        assert_eq!(default["id"], "fleet-default-output");
        assert_eq!(default["name"], "default");
        assert_eq!(default["type"], "elasticsearch");
        assert_eq!(default["hosts"], json!(["http://localhost:9200"]));
        assert_eq!(default["is_default"], true);
        assert_eq!(default["is_default_monitoring"], true);
        let (_, hosts) = srv.get("/api/fleet/fleet_server_hosts").await;
        assert_eq!(hosts["items"][0]["id"], "fleet-default-fleet-server-host");
        assert_eq!(hosts["items"][0]["is_default"], true);
        let (_, sources) = srv.get("/api/fleet/agent_download_sources").await;
        assert_eq!(sources["items"][0]["id"], "fleet-default-download-source");
        assert_eq!(sources["items"][0]["host"], "https://artifacts.elastic.co/downloads/");

        // Validation, per type.
        for (body, message) in [
            (json!({"name": "x", "type": "elasticsearch", "hosts": ["localhost:9200"]}), "[request body.hosts.0]: expected URI with scheme [http|https]."),
            (json!({"name": "x", "type": "logstash", "hosts": ["https://ls:5044"]}), "[request body.hosts.0]: Invalid logstash host should not start with http(s)"),
            (json!({"name": "x", "type": "logstash", "hosts": ["ls"]}), "[request body.hosts.0]: Invalid format for logstash host, expected host:port"),
            (json!({"name": "x", "type": "kafka", "hosts": ["k:9092"]}), "[request body.auth_type]: expected value of type [string] but got [undefined]"),
            (json!({"name": "x", "type": "pigeon", "hosts": ["p:1"]}), "[request body.type]: expected one of [elasticsearch, remote_elasticsearch, logstash, kafka] but got [pigeon]"),
        ] {
            let (status, res) = srv.post("/api/fleet/outputs", body.clone()).await;
            assert_eq!(status, 400, "{body}: {res}");
            assert_eq!(res["message"], message, "{body}");
        }

        // Kafka gets Kibana's defaults; secrets are stored apart and shown as references.
        let (status, kafka) = srv.post("/api/fleet/outputs", json!({
            "name": "kafka", "type": "kafka", "hosts": ["k1:9092"], "auth_type": "user_pass",
            "username": "u", "topic": "t", "secrets": {"password": "s3cret"}
        })).await;
        assert_eq!(status, 200, "{kafka}");
        let kafka = &kafka["item"];
        assert_eq!(kafka["version"], "1.0.0");
        assert_eq!(kafka["compression"], "gzip");
        assert_eq!(kafka["compression_level"], 4);
        assert_eq!(kafka["partition"], "hash");
        assert_eq!(kafka["timeout"], 30);
        assert_eq!(kafka["broker_timeout"], 10);
        assert_eq!(kafka["required_acks"], 1);
        assert_eq!(kafka["client_id"], "Elastic");
        assert!(kafka["secrets"]["password"]["id"].is_string(), "{kafka}");
        assert!(!kafka.to_string().contains("s3cret"), "the secret is not shown back");

        // Two policies: one on a Logstash output, one on the defaults.
        let (status, ls) = srv.post("/api/fleet/outputs", json!({"name": "logstash", "type": "logstash", "hosts": ["ls:5044"]})).await;
        assert_eq!(status, 200, "{ls}");
        let ls_id = ls["item"]["id"].as_str().unwrap().to_string();
        let a = srv.create_policy(json!({"name": "on logstash", "namespace": "default", "data_output_id": ls_id, "monitoring_enabled": ["logs", "metrics"]})).await;
        let b = srv.create_policy(json!({"name": "on default", "namespace": "default"})).await;
        let (a, b) = (a["id"].as_str().unwrap().to_string(), b["id"].as_str().unwrap().to_string());
        let (ra, rb) = (revision(&srv, &a).await, revision(&srv, &b).await);
        let (_, full) = srv.get(&format!("/api/fleet/agent_policies/{a}/full")).await;
        let full = &full["item"];
        assert_eq!(full["outputs"][&ls_id]["type"], "logstash");
        assert_eq!(full["outputs"][&ls_id]["hosts"], json!(["ls:5044"]));
        assert_eq!(full["outputs"]["default"]["type"], "elasticsearch", "monitoring stays on the default");
        assert_eq!(full["agent"]["monitoring"]["use_output"], "default");

        // Changing the Logstash output bumps only the policy using it.
        let (status, res) = srv.put(&format!("/api/fleet/outputs/{ls_id}"), json!({"hosts": ["ls2:5044"]})).await;
        assert_eq!(status, 200, "{res}");
        assert_eq!(revision(&srv, &a).await, ra + 1);
        assert_eq!(revision(&srv, &b).await, rb);
        let (_, full) = srv.get(&format!("/api/fleet/agent_policies/{a}/full")).await;
        assert_eq!(full["item"]["outputs"][&ls_id]["hosts"], json!(["ls2:5044"]));

        // The default moves; the old default cannot be unset by hand or deleted while default.
        let (status, res) = srv.put("/api/fleet/outputs/fleet-default-output", json!({"is_default": false})).await;
        assert_eq!(status, 400);
        assert_eq!(res["message"], "Default output fleet-default-output cannot be set to is_default=false or is_default_monitoring=false manually. Make another output the default first.");
        let (status, res) = delete(&srv, "/api/fleet/outputs/fleet-default-output").await;
        assert_eq!(status, 400);
        assert_eq!(res["message"], "Default output fleet-default-output cannot be deleted.");
        let (status, es2) = srv.post("/api/fleet/outputs", json!({"name": "es2", "type": "elasticsearch", "hosts": ["https://es2"], "is_default": true})).await;
        assert_eq!(status, 200, "{es2}");
        assert_eq!(es2["item"]["hosts"], json!(["https://es2:443"]), "the port is made explicit");
        assert_eq!(es2["item"]["preset"], "balanced");
        let (_, old) = srv.get("/api/fleet/outputs/fleet-default-output").await;
        assert_eq!(old["item"]["is_default"], false);
        assert_eq!(revision(&srv, &b).await, rb + 1, "the policy on the default follows the new default");
        let (_, full) = srv.get(&format!("/api/fleet/agent_policies/{b}/full")).await;
        assert_eq!(full["item"]["outputs"]["default"]["hosts"], json!(["https://es2:443"]));

        // Deleting an output in use puts its policies back on the default.
        let (status, res) = delete(&srv, &format!("/api/fleet/outputs/{ls_id}")).await;
        assert_eq!((status, res), (200, json!({"id": ls_id})));
        let (_, got) = srv.get(&format!("/api/fleet/agent_policies/{a}")).await;
        assert!(got["item"]["data_output_id"].is_null());
        assert_eq!(got["item"]["revision"], ra + 2);
        let (status, res) = srv.get(&format!("/api/fleet/outputs/{ls_id}")).await;
        assert_eq!(status, 404);
        assert_eq!(res["message"], format!("Output {ls_id} not found"));
        srv.stop().await;
    }
}

both_backends! {
    async fn hosts_sources_proxies_and_secrets_in_the_policy(srv: TestServer) {
        let (status, proxy) = srv.post("/api/fleet/proxies", json!({"name": "corp", "url": "http://proxy.corp:3128", "proxy_headers": {"X-Team": "fleet"}})).await;
        assert_eq!(status, 200, "{proxy}");
        let proxy_id = proxy["item"]["id"].as_str().unwrap().to_string();
        let (status, res) = srv.post("/api/fleet/proxies", json!({"name": "bad", "url": "proxy:3128"})).await;
        assert_eq!(status, 400, "{res}");
        let (status, src) = srv.post("/api/fleet/agent_download_sources", json!({"name": "mirror", "host": "https://mirror.corp/downloads/", "proxy_id": proxy_id})).await;
        assert_eq!(status, 200, "{src}");
        let src_id = src["item"]["id"].as_str().unwrap().to_string();
        let (status, host) = srv.post("/api/fleet/fleet_server_hosts", json!({"name": "fs", "host_urls": ["https://fleet.corp:8220"]})).await;
        assert_eq!(status, 200, "{host}");
        let host_id = host["item"]["id"].as_str().unwrap().to_string();
        let (status, ls) = srv.post("/api/fleet/outputs", json!({
            "name": "ls", "type": "logstash", "hosts": ["ls:5044"],
            "ssl": {"certificate": "CERT"}, "secrets": {"ssl": {"key": "PRIVATE"}}
        })).await;
        assert_eq!(status, 200, "{ls}");
        let ls_id = ls["item"]["id"].as_str().unwrap().to_string();
        let secret_id = ls["item"]["secrets"]["ssl"]["key"]["id"].as_str().unwrap().to_string();

        let p = srv.create_policy(json!({"name": "p", "namespace": "default", "data_output_id": ls_id, "download_source_id": src_id, "fleet_server_host_id": host_id})).await;
        let other = srv.create_policy(json!({"name": "other", "namespace": "default"})).await;
        let (pid, other) = (p["id"].as_str().unwrap().to_string(), other["id"].as_str().unwrap().to_string());
        let (_, full) = srv.get(&format!("/api/fleet/agent_policies/{pid}/full")).await;
        let full = &full["item"];
        assert_eq!(full["fleet"]["hosts"], json!(["https://fleet.corp:8220"]));
        assert_eq!(full["agent"]["download"]["sourceURI"], "https://mirror.corp/downloads/");
        assert_eq!(full["agent"]["download"]["proxy_url"], "http://proxy.corp:3128");
        assert_eq!(full["agent"]["download"]["proxy_headers"], json!({"X-Team": "fleet"}));
        // The management API shows secrets as references; agents get the values.
        assert_eq!(full["outputs"][&ls_id]["ssl"]["key"], format!("$co.elastic.secret{{{secret_id}}}"));
        assert_eq!(full["outputs"][&ls_id]["ssl"]["certificate"], "CERT");
        assert_eq!(full["secret_references"], json!([{"id": secret_id}]));

        let token = srv.enrollment_token(&pid).await;
        let (agent, key) = srv.enroll(&token, "a").await;
        let checkin = |ack: Value| json!({"status": "online", "message": "", "poll_timeout": "1s", "ack_token": ack});
        let (_, res) = srv.agent_call(&format!("/api/fleet/agents/{agent}/checkin"), Some(&key), checkin(Value::Null)).await;
        let policy = &res["actions"][0]["data"]["policy"];
        assert_eq!(policy["outputs"][&ls_id]["ssl"]["key"], "PRIVATE", "{res}");
        let rev = policy["revision"].as_i64().unwrap();
        srv.agent_call(&format!("/api/fleet/agents/{agent}/acks"), Some(&key), json!({"events": [{"agent_id": agent, "action_id": format!("policy:{pid}:{rev}")}]})).await;

        // Changing the proxy bumps the policy whose download source uses it, not the other one.
        let other_rev = revision(&srv, &other).await;
        let (status, res) = srv.put(&format!("/api/fleet/proxies/{proxy_id}"), json!({"url": "http://proxy2.corp:3128"})).await;
        assert_eq!(status, 200, "{res}");
        assert_eq!(revision(&srv, &pid).await, rev + 1);
        assert_eq!(revision(&srv, &other).await, other_rev);
        // ... and the agent gets the new policy at its next check-in.
        let (_, res) = srv.agent_call(&format!("/api/fleet/agents/{agent}/checkin"), Some(&key), checkin(Value::Null)).await;
        let policy = &res["actions"][0]["data"]["policy"];
        assert_eq!(policy["revision"], rev + 1, "{res}");
        assert_eq!(policy["agent"]["download"]["proxy_url"], "http://proxy2.corp:3128");

        // Deleting the proxy clears it from the download source (and bumps the policy).
        let (status, _) = delete(&srv, &format!("/api/fleet/proxies/{proxy_id}")).await;
        assert_eq!(status, 200);
        let (_, got) = srv.get(&format!("/api/fleet/agent_download_sources/{src_id}")).await;
        assert!(got["item"].get("proxy_id").is_none(), "{got}");
        assert_eq!(revision(&srv, &pid).await, rev + 2);

        // The default host and source cannot be deleted; another default takes the flag.
        let (status, res) = delete(&srv, "/api/fleet/fleet_server_hosts/fleet-default-fleet-server-host").await;
        assert_eq!(status, 400);
        assert_eq!(res["message"], "Default Fleet Server hosts fleet-default-fleet-server-host cannot be deleted.");
        let (status, res) = delete(&srv, "/api/fleet/agent_download_sources/fleet-default-download-source").await;
        assert_eq!(status, 400);
        assert_eq!(res["message"], "Default Download source fleet-default-download-source cannot be deleted.");
        let (status, _) = srv.put(&format!("/api/fleet/fleet_server_hosts/{host_id}"), json!({"is_default": true})).await;
        assert_eq!(status, 200);
        let (_, old) = srv.get("/api/fleet/fleet_server_hosts/fleet-default-fleet-server-host").await;
        assert_eq!(old["item"]["is_default"], false);
        let (status, res) = srv.post("/api/fleet/fleet_server_hosts", json!({"name": "dup", "host_urls": ["https://a:8220", "https://a:8220"]})).await;
        assert_eq!(status, 400, "{res}");
        let (status, _) = srv.get("/api/fleet/proxies/nope").await;
        assert_eq!(status, 404);
        srv.stop().await;
    }
}

both_backends! {
    async fn policies_must_name_existing_settings(srv: TestServer) {
        for (field, message) in [
            ("data_output_id", "Output nope not found"),
            ("monitoring_output_id", "Output nope not found"),
            ("fleet_server_host_id", "Fleet server nope not found"),
            ("download_source_id", "Agent binary source nope not found"),
        ] {
            let (status, res) = srv.post("/api/fleet/agent_policies", json!({"name": field, "namespace": "default", field: "nope"})).await;
            assert_eq!(status, 404, "{field}: {res}");
            assert_eq!(res["message"], message);
        }
        let (_, list) = srv.get("/api/fleet/agent_policies").await;
        assert_eq!(list["total"], 0, "nothing was created");
        let p = srv.create_policy(json!({"name": "p", "namespace": "default"})).await;
        let (status, _) = srv.put(&format!("/api/fleet/agent_policies/{}", p["id"].as_str().unwrap()), json!({"name": "p", "namespace": "default", "data_output_id": "nope"})).await;
        assert_eq!(status, 404);
        srv.stop().await;
    }
}

both_backends! {
    async fn settings_setup_permissions_and_health(srv: TestServer) {
        let (status, res) = srv.get("/api/fleet/settings").await;
        assert_eq!(status, 200);
        assert_eq!(res["item"]["id"], "fleet-default-settings");
        assert_eq!(res["item"]["prerelease_integrations_enabled"], false);
        let (status, res) = srv.put("/api/fleet/settings", json!({"prerelease_integrations_enabled": true})).await;
        assert_eq!(status, 200, "{res}");
        let (_, res) = srv.get("/api/fleet/settings").await;
        assert_eq!(res["item"]["prerelease_integrations_enabled"], true);
        let (status, _) = srv.put("/api/fleet/settings", json!({"nope": 1})).await;
        assert_eq!(status, 400);
        // The settings routes' declared bodies, refused with Kibana's messages.
        for (method, path, body, message) in [
            (reqwest::Method::PUT, "/api/fleet/settings", json!({"kibana_urls": "http://k"}), "[request body.kibana_urls]: could not parse array value from json input"),
            (reqwest::Method::PUT, "/api/fleet/settings", json!({"delete_unenrolled_agents": {"enabled": true}}), "[request body.delete_unenrolled_agents.is_preconfigured]: expected value of type [boolean] but got [undefined]"),
            (reqwest::Method::PUT, "/api/fleet/space_settings", json!({"allowed_namespace_prefixes": ["a-b"]}), "[request body.allowed_namespace_prefixes]: Invalid namespace prefix a-b"),
            (reqwest::Method::POST, "/api/fleet/health_check", json!({"host": "x"}), "[request body.id]: expected value of type [string] but got [undefined]"),
        ] {
            let (status, res) = srv.call(method, path, Some(body.clone())).await;
            assert_eq!((status.as_u16(), res["message"].as_str().unwrap_or_default()), (400, message), "{path} {body}");
        }
        // And their declared queries.
        for (method, path, message) in [
            (reqwest::Method::GET, "/api/fleet/outputs?perPage=all", "[request query.perPage]: expected value of type [number] but got [string]"),
            (reqwest::Method::GET, "/api/fleet/proxies?sort=name", "[request query.sort]: definition for this key is missing"),
            (reqwest::Method::GET, "/api/fleet/check-permissions?fleetServerSetup=maybe", "[request query.fleetServerSetup]: expected value of type [boolean] but got [string]"),
            (reqwest::Method::GET, "/api/fleet/uninstall_tokens?perPage=2", "[request query.perPage]: Value must be equal to or greater than [5]."),
            (reqwest::Method::POST, "/api/fleet/message_signing_service/rotate_key_pair?acknowledge=ok", "[request query.acknowledge]: expected value of type [boolean] but got [string]"),
        ] {
            let body = (method == reqwest::Method::POST).then(|| json!({}));
            let (status, res) = srv.call(method, path, body).await;
            assert_eq!((status.as_u16(), res["message"].as_str().unwrap_or_default()), (400, message), "{path}");
        }
        let (_, res) = srv.get("/api/fleet/settings").await;
        assert_eq!(res["item"]["prerelease_integrations_enabled"], true, "nothing refused was stored");

        // Space settings restrict policy namespaces.
        let (status, res) = srv.put("/api/fleet/space_settings", json!({"allowed_namespace_prefixes": ["team"]})).await;
        assert_eq!(status, 200, "{res}");
        let (_, res) = srv.get("/api/fleet/space_settings").await;
        assert_eq!(res["item"]["allowed_namespace_prefixes"], json!(["team"]));
        let (status, res) = srv.post("/api/fleet/agent_policies", json!({"name": "p", "namespace": "default"})).await;
        assert_eq!(status, 400);
        assert_eq!(res["message"], "Invalid namespace, supported namespace prefixes: team");
        let (status, _) = srv.post("/api/fleet/agent_policies", json!({"name": "p", "namespace": "teamblue"})).await;
        assert_eq!(status, 200);

        let (status, res) = srv.post("/api/fleet/setup", json!({})).await;
        assert_eq!((status.as_u16(), res), (200, json!({"isInitialized": true, "nonFatalErrors": []})));
        let (_, res) = srv.get("/api/fleet/check-permissions").await;
        assert_eq!(res, json!({"success": true}));
        let reader = srv.fleet().auth.create_api_key("elastic", "reader", fleet::auth::Role::FleetRead, None).await.unwrap();
        let res: Value = srv.http.get(format!("{}/api/fleet/check-permissions", srv.base))
            .header("authorization", format!("ApiKey {}", reader.encoded)).send().await.unwrap().json().await.unwrap();
        assert_eq!(res, json!({"success": true}), "Fleet's read privileges are enough, as in Kibana");

        for path in ["/api/fleet/logstash_api_keys", "/api/fleet/service_tokens"] {
            let (status, res) = srv.post(path, json!({})).await;
            assert_eq!(status, 400, "{path}");
            assert!(res["message"].as_str().unwrap().contains("Flotilla does not use Elasticsearch"), "{res}");
        }

        // The default Fleet Server host is this server's agent listener: healthy.
        let (status, res) = srv.post("/api/fleet/health_check", json!({"id": "fleet-default-fleet-server-host"})).await;
        assert_eq!(status, 200, "{res}");
        assert_eq!(res["status"], "HEALTHY");
        let (status, host) = srv.post("/api/fleet/fleet_server_hosts", json!({"name": "gone", "host_urls": ["http://127.0.0.1:9"]})).await;
        assert_eq!(status, 200);
        let (_, res) = srv.post("/api/fleet/health_check", json!({"id": host["item"]["id"]})).await;
        assert_eq!(res["status"], "OFFLINE");
        let (status, _) = srv.post("/api/fleet/health_check", json!({"id": "nope"})).await;
        assert_eq!(status, 404);
        srv.stop().await;
    }
}

both_backends! {
    async fn uninstall_tokens_per_policy(srv: TestServer) {
        use base64::Engine;
        use sha2::Digest;
        let p = srv.create_policy(json!({"name": "protected", "namespace": "default", "is_protected": true})).await;
        let pid = p["id"].as_str().unwrap().to_string();
        srv.create_policy(json!({"name": "other", "namespace": "default"})).await;
        let (status, list) = srv.get(&format!("/api/fleet/uninstall_tokens?policyId={pid}")).await;
        assert_eq!(status, 200, "{list}");
        assert_eq!(list["total"], 1);
        let item = &list["items"][0];
        assert_eq!(item["policy_id"], json!(pid));
        assert_eq!(item["policy_name"], "protected");
        assert!(item.get("token").is_none(), "the list does not show tokens");
        let (_, all) = srv.get("/api/fleet/uninstall_tokens?search=prot").await;
        assert_eq!(all["total"], 1);
        let (_, all) = srv.get("/api/fleet/uninstall_tokens").await;
        assert_eq!(all["total"], 2);
        let (status, one) = srv.get(&format!("/api/fleet/uninstall_tokens/{}", item["id"].as_str().unwrap())).await;
        assert_eq!(status, 200);
        let token = one["item"]["token"].as_str().unwrap().to_string();
        assert_eq!(token.len(), 32);
        let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(token.as_bytes()));
        let (_, full) = srv.get(&format!("/api/fleet/agent_policies/{pid}/full")).await;
        assert_eq!(full["item"]["agent"]["protection"]["enabled"], true);
        assert_eq!(full["item"]["agent"]["protection"]["uninstall_token_hash"], hash);
        let (status, res) = srv.get("/api/fleet/uninstall_tokens/nope").await;
        assert_eq!(status, 404);
        assert_eq!(res["message"], "Uninstall Token not found with id nope");
        srv.stop().await;
    }
}

fn preconfiguration(ls_host: &str) -> Value {
    json!({
        "proxies": [{"id": "corp-proxy", "name": "Corp", "url": "http://proxy.corp:3128"}],
        "outputs": [{"id": "ls-prod", "name": "Logstash prod", "type": "logstash", "hosts": [ls_host], "proxy_id": "corp-proxy"}],
        "fleet_server_hosts": [
            {"id": "fs-prod", "name": "Fleet prod", "host_urls": ["https://fleet.corp:8220"]},
            {"id": "fs-default", "name": "Fleet default", "host_urls": ["https://fleet-default.corp:8220"], "is_default": true},
        ],
        "agent_policies": [{"id": "linux-prod", "name": "Linux prod", "namespace": "prod", "data_output_id": "ls-prod", "fleet_server_host_id": "fs-prod"}],
    })
}

mod preconfigured_objects {
    use super::*;

    async fn run(mut srv: TestServer) {
        let (status, out) = srv.get("/api/fleet/outputs/ls-prod").await;
        assert_eq!(status, 200, "{out}");
        assert_eq!(out["item"]["is_preconfigured"], true);
        assert_eq!(out["item"]["proxy_id"], "corp-proxy");
        let (_, proxy) = srv.get("/api/fleet/proxies/corp-proxy").await;
        assert_eq!(proxy["item"]["is_preconfigured"], true);
        let (_, policy) = srv.get("/api/fleet/agent_policies/linux-prod").await;
        assert_eq!(policy["item"]["is_preconfigured"], true);
        assert_eq!(policy["item"]["data_output_id"], "ls-prod");
        let rev = policy["item"]["revision"].as_i64().unwrap();
        let (_, full) = srv.get("/api/fleet/agent_policies/linux-prod/full").await;
        assert_eq!(
            full["item"]["outputs"]["ls-prod"]["hosts"],
            json!(["ls1:5044"])
        );
        assert_eq!(
            full["item"]["outputs"]["ls-prod"]["proxy_url"],
            "http://proxy.corp:3128"
        );
        assert_eq!(
            full["item"]["fleet"]["hosts"],
            json!(["https://fleet.corp:8220"])
        );

        // The API does not change what the configuration owns.
        let (status, res) = srv
            .put(
                "/api/fleet/outputs/ls-prod",
                json!({"hosts": ["other:5044"]}),
            )
            .await;
        assert_eq!(status, 400);
        assert_eq!(
            res["message"],
            "Preconfigured output ls-prod hosts cannot be updated outside of kibana config file."
        );
        let (status, res) = delete(&srv, "/api/fleet/outputs/ls-prod").await;
        assert_eq!(status, 400);
        assert_eq!(
            res["message"],
            "Preconfigured output ls-prod cannot be deleted outside of kibana config file."
        );
        let (status, _) = delete(&srv, "/api/fleet/proxies/corp-proxy").await;
        assert_eq!(status, 400);

        // A restart with the same configuration changes nothing; a changed one updates.
        srv.restart().await;
        assert_eq!(revision(&srv, "linux-prod").await, rev);
        srv.preconfiguration = Some(preconfiguration("ls2:5044"));
        srv.restart().await;
        let (_, out) = srv.get("/api/fleet/outputs/ls-prod").await;
        assert_eq!(out["item"]["hosts"], json!(["ls2:5044"]));
        assert_eq!(
            revision(&srv, "linux-prod").await,
            rev + 1,
            "the policy using it has a new revision"
        );

        // What the file no longer declares is released, as Kibana's setup does: the output and
        // host nothing else needs are deleted (the policy falls back to the defaults, with a
        // new revision), then the proxy nothing uses any more; the default host stays, editable.
        srv.preconfiguration = None;
        srv.restart().await;
        for gone in [
            "/api/fleet/outputs/ls-prod",
            "/api/fleet/fleet_server_hosts/fs-prod",
            "/api/fleet/proxies/corp-proxy",
        ] {
            let (status, res) = srv.get(gone).await;
            assert_eq!(status, 404, "{gone}: {res}");
        }
        let (_, policy) = srv.get("/api/fleet/agent_policies/linux-prod").await;
        assert!(policy["item"]["data_output_id"].is_null(), "{policy}");
        assert_eq!(
            policy["item"]["revision"],
            rev + 3,
            "one revision for each setting it used that went: {policy}"
        );
        let (status, host) = srv.get("/api/fleet/fleet_server_hosts/fs-default").await;
        assert_eq!(status, 200, "{host}");
        assert_eq!(host["item"]["is_preconfigured"], false);
        assert_eq!(host["item"]["is_default"], true);
        let (status, res) = srv
            .put(
                "/api/fleet/fleet_server_hosts/fs-default",
                json!({"name": "Fleet default (edited)"}),
            )
            .await;
        assert_eq!(status, 200, "{res}");

        // A preconfigured agent policy a user deletes stays deleted, though the file still
        // declares it (Kibana's deletion record); the rest of the file is applied again.
        let (status, res) = srv
            .post(
                "/api/fleet/agent_policies/delete",
                json!({"agentPolicyId": "linux-prod"}),
            )
            .await;
        assert_eq!(status, 200, "{res}");
        srv.preconfiguration = Some(preconfiguration("ls1:5044"));
        srv.restart().await;
        let (status, _) = srv.get("/api/fleet/agent_policies/linux-prod").await;
        assert_eq!(status, 404);
        let (status, out) = srv.get("/api/fleet/outputs/ls-prod").await;
        assert_eq!(status, 200, "{out}");
        srv.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        if let Some(s) = TestServer::start_preconfigured(
            crate::support::Backend::Sqlite,
            preconfiguration("ls1:5044"),
        )
        .await
        {
            run(s).await;
        }
    }

    #[cfg_attr(
        not(postgres_tests),
        ignore = "needs PostgreSQL: set FLOTILLA_TEST_DATABASE_URL"
    )]
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        if let Some(s) = TestServer::start_preconfigured(
            crate::support::Backend::Postgres,
            preconfiguration("ls1:5044"),
        )
        .await
        {
            run(s).await;
        }
    }
}

both_backends! {
    async fn policies_are_signed_and_keys_rotate(srv: TestServer) {
        use base64::Engine;
        use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_ASN1};
        let b64 = base64::engine::general_purpose::STANDARD;
        let p = srv.create_policy(json!({"name": "p", "namespace": "default", "agent_features": [{"name": "fqdn", "enabled": true}]})).await;
        let pid = p["id"].as_str().unwrap().to_string();
        let verify = |full: &Value| {
            let key = b64.decode(full["agent"]["protection"]["signing_key"].as_str().unwrap()).unwrap();
            let data = b64.decode(full["signed"]["data"].as_str().unwrap()).unwrap();
            let sig = b64.decode(full["signed"]["signature"].as_str().unwrap()).unwrap();
            // The key is a DER SubjectPublicKeyInfo; the point is its last 65 bytes.
            UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, &key[key.len() - 65..]).verify(&data, &sig).is_ok()
        };
        let (_, full) = srv.get(&format!("/api/fleet/agent_policies/{pid}/full")).await;
        let full = full["item"].clone();
        assert!(verify(&full), "{full}");
        let signed: Value = serde_json::from_slice(&b64.decode(full["signed"]["data"].as_str().unwrap()).unwrap()).unwrap();
        assert_eq!(signed["id"], json!(pid));
        assert_eq!(signed["agent"]["features"]["fqdn"]["enabled"], true);
        assert_eq!(signed["agent"]["protection"], full["agent"]["protection"]);

        let (status, res) = srv.post("/api/fleet/message_signing_service/rotate_key_pair", json!({})).await;
        assert_eq!(status, 400, "{res}");
        let rev = revision(&srv, &pid).await;
        let (status, res) = srv.post("/api/fleet/message_signing_service/rotate_key_pair?acknowledge=true", json!({})).await;
        assert_eq!(status, 200, "{res}");
        assert_eq!(revision(&srv, &pid).await, rev + 1, "policies are redeployed with the new key");
        let (_, again) = srv.get(&format!("/api/fleet/agent_policies/{pid}/full")).await;
        let again = again["item"].clone();
        assert_ne!(again["agent"]["protection"]["signing_key"], full["agent"]["protection"]["signing_key"]);
        assert!(verify(&again));
        srv.stop().await;
    }
}
