//! `/api/fleet/package_policies` over HTTP, on both stores: the guide's nginx example compiled
//! exactly as documented, both request formats, every validation error, CRUD, bulk delete and
//! upgrade, revision bumps and the inputs of the full agent policy.

use crate::support::{fixture_package, reference_package, Options, TestServer};
use reqwest::Method;
use serde_json::{json, Value};

fn nginx_and_fixture() -> Option<Options> {
    Some(Options {
        packages: vec![
            reference_package("nginx-1.5.0"),
            fixture_package("flotilla_test-1.0.0"),
        ],
        ..Default::default()
    })
}

fn fixture_only() -> Option<Options> {
    Some(Options {
        packages: vec![fixture_package("flotilla_test-1.0.0")],
        ..Default::default()
    })
}

/// The guide's second example, verbatim but for the agent policy id.
fn guide_request(policy_id: &str) -> Value {
    json!({
      "name": "nginx-demo-123",
      "policy_id": policy_id,
      "package": {
        "name": "nginx",
        "version": "1.5.0"
      },
      "inputs": {
        "nginx-logfile": {
          "streams": {
            "nginx.access": {
              "vars": {
                "tags": [
                  "test"
                ]
              }
            },
            "nginx.error": {
              "vars": {
                "tags": [
                  "test"
                ]
              }
            }
          }
        }
      }
    })
}

async fn agent_policy(srv: &TestServer, name: &str) -> String {
    let item = srv
        .create_policy(json!({"name": name, "namespace": "default"}))
        .await;
    item["id"].as_str().unwrap().to_string()
}

async fn revision(srv: &TestServer, policy_id: &str) -> i64 {
    let (_, res) = srv
        .get(&format!("/api/fleet/agent_policies/{policy_id}"))
        .await;
    res["item"]["revision"].as_i64().unwrap()
}

both_backends_with! { nginx_and_fixture();
    async fn the_guide_example_compiles_exactly_as_documented(srv: TestServer) {
        let policy_id = agent_policy(&srv, "Agent policy 1").await;
        let (status, res) = srv
            .post("/api/fleet/package_policies", guide_request(&policy_id))
            .await;
        assert_eq!(status, 200, "{res}");
        let item = &res["item"];
        let id = item["id"].as_str().unwrap();
        assert_eq!(item["name"], "nginx-demo-123");
        assert_eq!(item["namespace"], "default");
        assert_eq!(item["package"], json!({"name": "nginx", "title": "Nginx", "version": "1.5.0"}));
        assert_eq!(item["policy_id"], json!(policy_id));
        assert_eq!(item["policy_ids"], json!([policy_id]));
        assert_eq!(item["revision"], 1);
        assert_eq!(item["enabled"], true);
        assert_eq!(item["created_by"], "elastic");
        assert!(item["version"].is_string());
        assert!(item.get("vars").is_none(), "nginx has no package-level vars");

        let inputs = item["inputs"].as_array().unwrap();
        assert_eq!(inputs.len(), 3);
        let access = &inputs[0]["streams"][0];
        assert_eq!(inputs[0]["type"], "logfile");
        assert_eq!(inputs[0]["policy_template"], "nginx");
        assert_eq!(inputs[0]["enabled"], true);
        assert_eq!(access["id"], json!(format!("logfile-nginx.access-{id}")));
        assert_eq!(access["data_stream"], json!({"dataset": "nginx.access", "type": "logs"}));
        assert_eq!(access["release"], "ga");
        assert_eq!(
            access["compiled_stream"],
            json!({"exclude_files": [".gz$"], "ignore_older": "72h", "paths": ["/var/log/nginx/access.log*"],
                   "processors": [{"add_locale": null}], "tags": ["test"]})
        );
        assert_eq!(
            access["vars"],
            json!({"ignore_older": {"type": "text", "value": "72h"},
                   "paths": {"type": "text", "value": ["/var/log/nginx/access.log*"]},
                   "preserve_original_event": {"type": "bool", "value": false},
                   "processors": {"type": "yaml"},
                   "tags": {"type": "text", "value": ["test"]}})
        );
        let error = &inputs[0]["streams"][1];
        assert_eq!(error["id"], json!(format!("logfile-nginx.error-{id}")));
        assert_eq!(
            error["compiled_stream"],
            json!({"exclude_files": [".gz$"], "ignore_older": "72h",
                   "multiline": {"match": "after", "negate": true, "pattern": "^\\d{4}\\/\\d{2}\\/\\d{2} "},
                   "paths": ["/var/log/nginx/error.log*"], "processors": [{"add_locale": null}], "tags": ["test"]})
        );
        assert_eq!(inputs[1]["type"], "httpjson");
        assert_eq!(inputs[1]["enabled"], false, "httpjson streams are off by default");
        assert!(inputs[1]["streams"][0].get("compiled_stream").is_none());
        let stub = &inputs[2]["streams"][0];
        assert_eq!(inputs[2]["type"], "nginx/metrics");
        assert_eq!(inputs[2]["vars"], json!({"hosts": {"type": "text", "value": ["http://127.0.0.1:80"]}}));
        assert_eq!(stub["id"], json!(format!("nginx/metrics-nginx.stubstatus-{id}")));
        assert_eq!(
            stub["compiled_stream"],
            json!({"hosts": ["http://127.0.0.1:80"], "metricsets": ["stubstatus"], "period": "10s",
                   "server_status_path": "/nginx_status"})
        );
        assert_eq!(
            stub["vars"],
            json!({"period": {"type": "text", "value": "10s"},
                   "server_status_path": {"type": "text", "value": "/nginx_status"}})
        );

        // Stored as answered; the agent policy has a new revision and lists it.
        let (_, got) = srv.get(&format!("/api/fleet/package_policies/{id}")).await;
        assert_eq!(got["item"], res["item"]);
        assert_eq!(revision(&srv, &policy_id).await, 2);
        let (_, ap) = srv.get(&format!("/api/fleet/agent_policies/{policy_id}")).await;
        assert_eq!(ap["item"]["package_policies"][0]["id"], json!(id));

        // The package was installed on the way.
        let (_, info) = srv.get("/api/fleet/epm/packages/nginx/1.5.0").await;
        assert_eq!(info["item"]["status"], "installed");

        // The full agent policy carries the enabled inputs and their streams.
        let (_, full) = srv.get(&format!("/api/fleet/agent_policies/{policy_id}/full")).await;
        let full_inputs = full["item"]["inputs"].as_array().unwrap();
        assert_eq!(full_inputs.len(), 2, "httpjson is disabled: {full_inputs:?}");
        assert_eq!(full_inputs[0]["id"], json!(format!("logfile-nginx-{id}")));
        assert_eq!(full_inputs[0]["type"], "logfile");
        assert_eq!(full_inputs[0]["name"], "nginx-demo-123");
        assert_eq!(full_inputs[0]["revision"], 1);
        assert_eq!(full_inputs[0]["use_output"], "default");
        assert_eq!(full_inputs[0]["package_policy_id"], json!(id));
        assert_eq!(full_inputs[0]["data_stream"], json!({"namespace": "default"}));
        assert_eq!(full_inputs[0]["meta"], json!({"package": {"name": "nginx", "version": "1.5.0"}}));
        assert_eq!(
            full_inputs[0]["streams"][1],
            json!({"id": format!("logfile-nginx.error-{id}"),
                   "data_stream": {"dataset": "nginx.error", "type": "logs"},
                   "ignore_older": "72h", "paths": ["/var/log/nginx/error.log*"], "tags": ["test"],
                   "exclude_files": [".gz$"],
                   "multiline": {"pattern": "^\\d{4}\\/\\d{2}\\/\\d{2} ", "negate": true, "match": "after"},
                   "processors": [{"add_locale": null}]})
        );
        assert_eq!(full_inputs[1]["type"], "nginx/metrics");
        assert_eq!(
            full["item"]["output_permissions"]["default"][id],
            json!({"indices": [{"names": ["logs-nginx.access-default", "logs-nginx.error-default", "metrics-nginx.stubstatus-default"],
                                "privileges": ["auto_configure", "create_doc"]}]})
        );

        // format=simplified answers the request's shape back.
        let (_, simple) = srv.get(&format!("/api/fleet/package_policies/{id}?format=simplified")).await;
        assert_eq!(simple["item"]["inputs"]["nginx-logfile"]["streams"]["nginx.access"]["vars"]["tags"], json!(["test"]));
        assert_eq!(simple["item"]["inputs"]["nginx-httpjson"]["enabled"], false);
        assert_eq!(simple["item"]["inputs"]["nginx-nginx/metrics"]["vars"]["hosts"], json!(["http://127.0.0.1:80"]));
        srv.stop().await;
    }
}

both_backends_with! { nginx_and_fixture();
    async fn every_validation_error_is_a_400_naming_it_and_writes_nothing(srv: TestServer) {
        let policy_id = agent_policy(&srv, "p").await;
        let with_inputs = |inputs: Value| {
            let mut b = guide_request(&policy_id);
            b["inputs"] = inputs;
            b
        };
        let cases: Vec<(Value, u16, &str)> = vec![
            (with_inputs(json!({"nginx-foo": {}})), 400, "Input not found: nginx-foo"),
            (with_inputs(json!({"nginx-logfile": {"streams": {"nginx.nope": {}}}})), 400,
             "Stream not found nginx-logfile: nginx.nope"),
            (with_inputs(json!({"nginx-logfile": {"streams": {"nginx.access": {"vars": {"colour": "red"}}}}})), 400,
             "Variable nginx-logfile nginx.access:colour not found"),
            (with_inputs(json!({"nginx-nginx/metrics": {"vars": {"colour": "red"}}})), 400,
             "Variable nginx-nginx/metrics:colour not found"),
            (with_inputs(json!({"nginx-logfile": {"streams": {"nginx.access": {"vars": {"tags": []}}}}})), 400,
             "Package policy is invalid: inputs.nginx-logfile.streams.nginx.access.vars.tags: Tags is required"),
            (with_inputs(json!({"nginx-logfile": {"streams": {"nginx.access": {"vars": {"preserve_original_event": "yes"}}}}})), 400,
             "Package policy is invalid: inputs.nginx-logfile.streams.nginx.access.vars.preserve_original_event: Boolean values must be either true or false"),
            (with_inputs(json!({"nginx-logfile": {"streams": {"nginx.access": {"vars": {"paths": "/var/log/x"}}}}})), 400,
             "Package policy is invalid: inputs.nginx-logfile.streams.nginx.access.vars.paths: Invalid format for Paths: expected array"),
            (with_inputs(json!({"nginx-logfile": {"streams": {"nginx.access": {"vars": {"processors": "a: [b"}}}}})), 400,
             "Package policy is invalid: inputs.nginx-logfile.streams.nginx.access.vars.processors: Invalid YAML format"),
            (with_inputs(json!({"nginx-logfile": {"streams": {"nginx.access": {"vars": {"paths": ["*.log"]}}}}})), 400,
             "Strings starting with special YAML characters like * or & need to be enclosed in double quotes."),
        ];
        for (body, status, message) in cases {
            let (got, res) = srv.post("/api/fleet/package_policies", body.clone()).await;
            assert_eq!(got.as_u16(), status, "{body}: {res}");
            assert!(res["message"].as_str().unwrap().contains(message), "{body}: {res}");
        }
        // Kibana validates only what runs: a bad value in a disabled stream passes.
        let (status, res) = srv
            .post("/api/fleet/package_policies", with_inputs(json!({"nginx-logfile": {"enabled": false, "streams": {"nginx.access": {"vars": {"tags": []}}}}})))
            .await;
        assert_eq!(status, 200, "{res}");
        let (status, _) = srv.call(Method::DELETE, &format!("/api/fleet/package_policies/{}", res["item"]["id"].as_str().unwrap()), None).await;
        assert_eq!(status, 200);
        let rev = revision(&srv, &policy_id).await;
        assert_eq!(rev, 3, "created and deleted: two bumps");

        // The package, the agent policy and the name must exist / be free.
        let mut unknown = guide_request(&policy_id);
        unknown["package"]["version"] = json!("9.9.9");
        let (status, res) = srv.post("/api/fleet/package_policies", unknown).await;
        assert_eq!(status, 404, "{res}");
        let (status, res) = srv.post("/api/fleet/package_policies", guide_request("nope")).await;
        assert_eq!(status, 404, "{res}");
        assert_eq!(res["message"], "Agent policy not found");
        let (status, res) = srv.post("/api/fleet/package_policies", json!({"name": "x", "package": {"name": "nginx"}})).await;
        assert_eq!(status, 400, "{res}");
        let (status, res) = srv.post("/api/fleet/package_policies", json!({"name": "x", "package": {"name": "nginx", "version": "1.5.0"}, "colour": 1})).await;
        assert_eq!(status, 400, "{res}");
        assert!(res["message"].as_str().unwrap().contains("colour"), "{res}");

        let (_, list) = srv.get("/api/fleet/package_policies").await;
        assert_eq!(list["total"], 0, "nothing was written: {list}");
        assert_eq!(revision(&srv, &policy_id).await, rev, "no revision bump either");

        let (status, _) = srv.post("/api/fleet/package_policies", guide_request(&policy_id)).await;
        assert_eq!(status, 200);
        let (status, res) = srv.post("/api/fleet/package_policies", guide_request(&policy_id)).await;
        assert_eq!(status, 409);
        assert_eq!(res["message"], "An integration policy with the name nginx-demo-123 already exists. Please rename it or choose a different name.");
        srv.stop().await;
    }
}

both_backends_with! { fixture_only();
    async fn every_var_type_and_helper_compiles_like_kibana(srv: TestServer) {
        let policy_id = agent_policy(&srv, "p").await;
        let body = json!({
            "name": "svc-1",
            "namespace": "prod",
            "policy_ids": [policy_id],
            "package": {"name": "flotilla_test", "version": "1.0.0"},
            "vars": {"api_key": "it's secret", "environment": "dev"},
            "inputs": {
                "svc-httpjson": {
                    "vars": {"timeout": 5, "verify": false, "ssl": "verification_mode: none\ncertificate_authorities: [/etc/ca.pem]\n"},
                    "streams": {
                        "flotilla_test.events": {"vars": {
                            "tags": ["forwarded", "b"], "email": "ops@example.com",
                            "labels": "team: core\nrole: api\n", "period": "5m",
                            "query": "a\nb"
                        }},
                        "flotilla_test.metrics": {"enabled": true, "vars": {"hosts": ["http://x:1", "http://y:2"]}}
                    }
                },
                "svc-logfile": {"streams": {"flotilla_test.events": {"vars": {
                    "paths": ["/var/log/svc/a.log", "/var/log/svc/b.log.gz"],
                    "exclude": [".tmp$"],
                    "processors": "- drop_fields:\n    fields: [secret]\n"
                }}}}
            }
        });
        let (status, res) = srv.post("/api/fleet/package_policies", body).await;
        assert_eq!(status, 200, "{res}");
        let item = &res["item"];
        assert_eq!(item["vars"], json!({"api_key": {"type": "password", "value": "it's secret"},
                                        "environment": {"type": "select", "value": "dev"}}));
        let http = &item["inputs"][0];
        assert_eq!(
            http["compiled_input"],
            json!({"request.url": "https://svc.example.com/api?q=a b",
                   "request.encoded_url": "https%3A%2F%2Fsvc.example.com%2Fapi%3Fq%3Da%20b",
                   "request.timeout": "5s", "verify": false, "environment": "dev",
                   "api_key": "it's secret",
                   "ssl": {"verification_mode": "none", "certificate_authorities": ["/etc/ca.pem"]}})
        );
        assert_eq!(
            http["streams"][0]["compiled_stream"],
            json!({"interval": "1m", "tags": ["forwarded", "b"], "publisher_pipeline.disable_host": true,
                   "query": "a\nb", "notify": "ops@example.com", "tags_json": "[\"forwarded\",\"b\"]",
                   "timezone": "UTC", "team": "core", "role": "api", "period": "5m", "tag_count": 2})
        );
        assert_eq!(
            http["streams"][1]["compiled_stream"],
            json!({"metricsets": ["status"], "period": "10s", "hosts_joined": "http://x:1,http://y:2"}),
            "a stream disabled by default compiles once enabled; arrays print as JavaScript joins them"
        );
        assert_eq!(
            item["inputs"][1]["streams"][0]["compiled_stream"],
            // `contains` on a list compares whole items (JavaScript's Array.includes): no
            // `decompress`, although one path contains ".gz".
            json!({"paths": ["/var/log/svc/a.log", "/var/log/svc/b.log.gz"], "exclude_files": [".tmp$"],
                   "processors": [{"drop_fields": {"fields": ["secret"]}},
                                  {"add_fields": {"target": "svc", "fields": {"env": "dev"}}}]})
        );

        // Each var type's own check.
        let bad = |path: Value, expected: &'static str| {
            let mut b = json!({"name": "svc-bad", "policy_ids": [policy_id.clone()],
                               "package": {"name": "flotilla_test", "version": "1.0.0"}});
            for (k, v) in path.as_object().unwrap() {
                b[k] = v.clone();
            }
            (b, expected)
        };
        let cases = vec![
            bad(json!({"vars": {"environment": "staging"}}), "vars.environment: Invalid value for select type"),
            bad(json!({"inputs": {"svc-httpjson": {"vars": {"timeout": "soon"}}}}), "inputs.svc-httpjson.vars.timeout: Invalid integer"),
            bad(json!({"inputs": {"svc-httpjson": {"vars": {"verify": "maybe"}}}}), "inputs.svc-httpjson.vars.verify: Boolean values must be either true or false"),
            bad(json!({"inputs": {"svc-httpjson": {"vars": {"ssl": "a: [b"}}}}), "inputs.svc-httpjson.vars.ssl: Invalid YAML format"),
            bad(json!({"inputs": {"svc-httpjson": {"streams": {"flotilla_test.metrics": {"enabled": true, "vars": {"hosts": []}}}}}}),
                "inputs.svc-httpjson.streams.flotilla_test.metrics.vars.hosts: Hosts is required"),
        ];
        for (body, expected) in cases {
            let (status, res) = srv.post("/api/fleet/package_policies", body.clone()).await;
            assert_eq!(status, 400, "{body}: {res}");
            assert_eq!(res["message"], json!(format!("Package policy is invalid: {expected}")), "{body}");
        }

        // An input template that is not valid YAML once rendered is a clear 400.
        let dup = json!({"name": "svc-dup", "policy_ids": [policy_id],
                         "package": {"name": "flotilla_test", "version": "1.0.0"},
                         "inputs": {"svc-httpjson": {"vars": {"ssl": "verify: true"}, "streams": {"flotilla_test.events": {"vars": {"labels": "interval: 2m"}}}}}});
        let (status, res) = srv.post("/api/fleet/package_policies", dup).await;
        assert_eq!(status, 400, "{res}");
        assert!(res["message"].as_str().unwrap().contains("duplicate"), "{res}");
        srv.stop().await;
    }
}

both_backends_with! { nginx_and_fixture();
    async fn list_get_update_delete_and_upgrade(srv: TestServer) {
        let p1 = agent_policy(&srv, "p1").await;
        let p2 = agent_policy(&srv, "p2").await;
        let (_, a) = srv.post("/api/fleet/package_policies", guide_request(&p1)).await;
        let a_id = a["item"]["id"].as_str().unwrap().to_string();
        let (status, b) = srv
            .post("/api/fleet/package_policies?format=simplified", json!({
                "name": "svc-1", "policy_ids": [p1, p2],
                "package": {"name": "flotilla_test", "version": "1.0.0"}, "namespace": "ops",
            }))
            .await;
        assert_eq!(status, 200, "{b}");
        assert!(b["item"]["inputs"].is_object(), "simplified response: {b}");
        assert_eq!(b["item"]["vars"], json!({"api_key": null, "environment": "prod"}));
        let b_id = b["item"]["id"].as_str().unwrap().to_string();
        assert_eq!(revision(&srv, &p1).await, 3);
        assert_eq!(revision(&srv, &p2).await, 2);

        let (_, list) = srv.get("/api/fleet/package_policies?kuery=ingest-package-policies.package.name:nginx").await;
        assert_eq!(list["total"], 1);
        assert_eq!(list["items"][0]["id"], json!(a_id));
        let (_, list) = srv.get(&format!("/api/fleet/package_policies?kuery=policy_ids:{p2}&perPage=1&withAgentCount=true")).await;
        assert_eq!(list["total"], 1, "{list}");
        assert_eq!(list["items"][0]["agents"], 0);
        let (_, list) = srv.get("/api/fleet/package_policies?sortField=name&sortOrder=asc").await;
        assert_eq!(list["items"][0]["name"], "nginx-demo-123");
        let (status, res) = srv.get("/api/fleet/package_policies?kuery=nope:(").await;
        assert_eq!(status, 400, "{res}");
        let (status, res) = srv.get("/api/fleet/package_policies/missing").await;
        assert_eq!(status, 404);
        assert_eq!(res["message"], "Package policy missing not found");

        let (status, res) = srv.post("/api/fleet/package_policies/_bulk_get", json!({"ids": [a_id, "missing"]})).await;
        assert_eq!(status, 404, "{res}");
        let (_, res) = srv.post("/api/fleet/package_policies/_bulk_get?format=simplified", json!({"ids": [a_id, "missing"], "ignoreMissing": true})).await;
        assert_eq!(res["items"].as_array().unwrap().len(), 1);
        assert!(res["items"][0]["inputs"].is_object());

        // A simplified update (Kibana's schema wants its name and package) changes what it names
        // and recompiles.
        let (status, res) = srv.put(&format!("/api/fleet/package_policies/{a_id}"), json!({
            "inputs": {"nginx-logfile": {"streams": {"nginx.access": {"vars": {"tags": ["changed"]}}}}},
        })).await;
        assert_eq!((status.as_u16(), res["message"].as_str().unwrap()), (400, "[request body]: types that failed validation:\n- [request body.0.inputs]: expected value of type [array] but got [Object]\n- [request body.1.name]: expected value of type [string] but got [undefined]"));
        let (status, res) = srv.put(&format!("/api/fleet/package_policies/{a_id}"), json!({
            "name": "nginx-demo-123", "package": {"name": "nginx", "version": "1.5.0"},
            "inputs": {"nginx-logfile": {"streams": {"nginx.access": {"vars": {"tags": ["changed"]}}}}},
        })).await;
        assert_eq!(status, 200, "{res}");
        assert_eq!(res["item"]["revision"], 2);
        assert_eq!(res["item"]["inputs"][0]["streams"][0]["compiled_stream"]["tags"], json!(["changed"]));
        assert_eq!(res["item"]["name"], "nginx-demo-123");
        assert_eq!(revision(&srv, &p1).await, 4);
        // A full-format update (what the UI sends back) is stored as given, compiled again.
        let mut full = res["item"].clone();
        full["inputs"][0]["streams"][0]["vars"]["ignore_older"]["value"] = json!("24h");
        full["description"] = json!("edited");
        for k in ["id", "version", "revision", "created_at", "created_by", "updated_at", "updated_by", "is_managed"] {
            full.as_object_mut().unwrap().remove(k);
        }
        let (status, res) = srv.put(&format!("/api/fleet/package_policies/{a_id}"), full).await;
        assert_eq!(status, 200, "{res}");
        assert_eq!(res["item"]["inputs"][0]["streams"][0]["compiled_stream"]["ignore_older"], "24h");
        assert_eq!(res["item"]["description"], "edited");
        let (status, res) = srv.put(&format!("/api/fleet/package_policies/{b_id}"), json!({"name": "nginx-demo-123"})).await;
        assert_eq!(status, 409, "{res}");
        // Package-level vars alone: the stored inputs stay, compiled again with the new value.
        let (status, res) = srv
            .put(&format!("/api/fleet/package_policies/{b_id}"), json!({"name": "svc-1", "package": {"name": "flotilla_test", "version": "1.0.0"}, "vars": {"environment": "dev"}}))
            .await;
        assert_eq!(status, 200, "{res}");
        assert_eq!(res["item"]["vars"]["environment"]["value"], "dev");
        assert_eq!(res["item"]["inputs"][0]["compiled_input"]["environment"], "dev");
        assert_eq!(res["item"]["namespace"], "ops");
        let (status, _) = srv.put("/api/fleet/package_policies/missing", json!({"name": "x"})).await;
        assert_eq!(status, 404);

        // Upgrade: already on the newest version → the dry run shows no errors.
        let (status, res) = srv.post("/api/fleet/package_policies/upgrade/dryrun", json!({"packagePolicyIds": [a_id]})).await;
        assert_eq!(status, 200, "{res}");
        assert_eq!(res[0]["hasErrors"], false);
        let (status, res) = srv.post("/api/fleet/package_policies/upgrade", json!({"packagePolicyIds": [a_id, "missing"]})).await;
        assert_eq!(status, 200, "{res}");
        assert_eq!(res[0]["success"], true);
        assert_eq!(res[1]["success"], false);

        // Bulk delete answers per item; the agent policies get new revisions.
        let before = revision(&srv, &p2).await;
        let (status, res) = srv.post("/api/fleet/package_policies/delete", json!({"packagePolicyIds": [b_id, "missing"]})).await;
        assert_eq!(status, 200, "{res}");
        assert_eq!(res[0]["success"], true);
        assert_eq!(res[0]["package"]["name"], "flotilla_test");
        assert_eq!(res[0]["policy_ids"], json!([p1, p2]));
        assert_eq!(res[1], json!({"id": "missing", "success": false, "statusCode": 404, "body": {"message": "Package policy missing not found"}}));
        assert_eq!(revision(&srv, &p2).await, before + 1);
        let (status, res) = srv.call(Method::DELETE, &format!("/api/fleet/package_policies/{a_id}"), None).await;
        assert_eq!(status, 200, "{res}");
        assert_eq!(res, json!({"id": a_id}));
        let (_, list) = srv.get("/api/fleet/package_policies").await;
        assert_eq!(list["total"], 0);
        srv.stop().await;
    }
}

both_backends_with! { nginx_and_fixture();
    async fn agent_policies_carry_their_package_policies(srv: TestServer) {
        let p1 = agent_policy(&srv, "p1").await;
        let (_, a) = srv.post("/api/fleet/package_policies", guide_request(&p1)).await;
        let a_id = a["item"]["id"].as_str().unwrap().to_string();
        // Copying an agent policy copies its integrations, with new ids and names.
        let (status, copy) = srv.post(&format!("/api/fleet/agent_policies/{p1}/copy"), json!({"name": "p1 copy"})).await;
        assert_eq!(status, 200, "{copy}");
        let copied = &copy["item"]["package_policies"][0];
        assert_eq!(copied["name"], "nginx-demo-123 (copy)");
        let copy_pp = copied["id"].as_str().unwrap();
        assert_ne!(copy_pp, a_id);
        assert_eq!(copied["inputs"][0]["streams"][0]["id"], json!(format!("logfile-nginx.access-{copy_pp}")));
        let (_, list) = srv.get("/api/fleet/agent_policies?full=true").await;
        assert!(list["items"].as_array().unwrap().iter().all(|p| p["package_policies"].as_array().unwrap().len() == 1), "{list}");
        let (_, bulk) = srv.post("/api/fleet/agent_policies/_bulk_get", json!({"ids": [p1], "full": true})).await;
        assert_eq!(bulk["items"][0]["package_policies"][0]["id"], json!(a_id));
        // global_data_tags become a processor on every input.
        let (status, res) = srv.put(&format!("/api/fleet/agent_policies/{p1}"), json!({"name": "p1", "namespace": "default", "global_data_tags": [{"name": "team", "value": "core"}]})).await;
        assert_eq!(status, 200, "{res}");
        let (_, full) = srv.get(&format!("/api/fleet/agent_policies/{p1}/full")).await;
        assert_eq!(full["item"]["inputs"][0]["processors"], json!([{"add_fields": {"target": "", "fields": {"team": "core"}}}]));
        // Deleting the agent policy deletes its package policies.
        let (status, res) = srv.post("/api/fleet/agent_policies/delete", json!({"agentPolicyId": p1})).await;
        assert_eq!(status, 200, "{res}");
        let (status, _) = srv.get(&format!("/api/fleet/package_policies/{a_id}")).await;
        assert_eq!(status, 404);
        let (_, list) = srv.get("/api/fleet/package_policies").await;
        assert_eq!(list["total"], 1, "the copy stays with its own policy");
        srv.stop().await;
    }
}

both_backends_with! { nginx_and_fixture();
    async fn agents_receive_the_inputs_at_their_next_checkin(srv: TestServer) {
        let p1 = agent_policy(&srv, "p1").await;
        let token = srv.enrollment_token(&p1).await;
        let (agent_id, key) = srv.enroll(&token, "host-1").await;
        let checkin = |srv: &TestServer| {
            let key = key.clone();
            let agent_id = agent_id.clone();
            let srv_base = srv.agent_base.clone();
            let http = srv.http.clone();
            async move {
                let res = http
                    .post(format!("{srv_base}/api/fleet/agents/{agent_id}/checkin"))
                    .header("user-agent", crate::support::AGENT_UA)
                    .header("authorization", format!("ApiKey {key}"))
                    .json(&json!({"status": "online", "poll_timeout": "1s"}))
                    .send()
                    .await
                    .unwrap();
                res.json::<Value>().await.unwrap()
            }
        };
        let first = checkin(&srv).await;
        let change = first["actions"].as_array().unwrap().iter().find(|a| a["type"] == "POLICY_CHANGE").expect("policy change").clone();
        assert_eq!(change["data"]["policy"]["inputs"], json!([]));
        let (status, res) = srv.post("/api/fleet/package_policies", guide_request(&p1)).await;
        assert_eq!(status, 200, "{res}");
        let second = checkin(&srv).await;
        let change = second["actions"].as_array().unwrap().iter().find(|a| a["type"] == "POLICY_CHANGE").expect("policy change after the integration was added").clone();
        let inputs = change["data"]["policy"]["inputs"].as_array().unwrap();
        assert_eq!(inputs.len(), 2);
        assert_eq!(inputs[0]["streams"][0]["tags"], json!(["test"]));
        assert_eq!(change["data"]["policy"]["revision"], 2);
        srv.stop().await;
    }
}

fn preconfigured() -> Option<Options> {
    let mut o = nginx_and_fixture()?;
    o.preconfiguration = Some(json!({
        "packages": [{"name": "nginx", "version": "1.5.0"}],
        "agent_policies": [{
            "id": "web", "name": "Web servers", "namespace": "default",
            "package_policies": [
                {"name": "web-nginx", "package": {"name": "nginx"},
                 "inputs": {"nginx-logfile": {"streams": {"nginx.access": {"vars": {"tags": ["web"]}}}}}},
                {"id": "web-svc", "name": "web-svc", "package": {"name": "flotilla_test", "version": "1.0.0"},
                 "vars": {"environment": "dev"}},
            ],
        }],
    }));
    Some(o)
}

both_backends_with! { preconfigured();
    async fn preconfigured_package_policies_are_created_and_kept_in_step(srv: TestServer) {
        let mut srv = srv;
        let (_, info) = srv.get("/api/fleet/epm/packages/nginx").await;
        assert_eq!(info["item"]["status"], "installed");
        let (status, pp) = srv.get("/api/fleet/package_policies/web-web-nginx").await;
        assert_eq!(status, 200, "the id defaults to <policy id>-<name>: {pp}");
        assert_eq!(pp["item"]["policy_ids"], json!(["web"]));
        assert_eq!(pp["item"]["inputs"][0]["streams"][0]["compiled_stream"]["tags"], json!(["web"]));
        let (_, svc) = srv.get("/api/fleet/package_policies/web-svc").await;
        assert_eq!(svc["item"]["vars"]["environment"]["value"], "dev");
        let rev = revision(&srv, "web").await;

        // A restart with the same file changes nothing.
        srv.restart().await;
        assert_eq!(revision(&srv, "web").await, rev);
        let (_, again) = srv.get("/api/fleet/package_policies/web-web-nginx").await;
        assert_eq!(again["item"]["revision"], 1);

        // An edit through the API is put back to what the file says at the next start.
        let (status, res) = srv.put("/api/fleet/package_policies/web-web-nginx", json!({
            "name": "web-nginx", "package": {"name": "nginx", "version": "1.5.0"},
            "inputs": {"nginx-logfile": {"streams": {"nginx.access": {"vars": {"tags": ["edited"]}}}}},
        })).await;
        assert_eq!(status, 200, "{res}");
        srv.restart().await;
        let (_, back) = srv.get("/api/fleet/package_policies/web-web-nginx").await;
        assert_eq!(back["item"]["inputs"][0]["streams"][0]["compiled_stream"]["tags"], json!(["web"]));
        assert_eq!(back["item"]["revision"], 3);
        srv.stop().await;
    }
}

both_backends_with! { nginx_and_fixture();
    async fn an_integration_may_send_its_data_to_its_own_output(srv: TestServer) {
        let p1 = agent_policy(&srv, "p1").await;
        let (status, res) = srv.post("/api/fleet/outputs", json!({"id": "es-integrations", "name": "integrations", "type": "elasticsearch", "hosts": ["https://es2:9200"]})).await;
        assert_eq!(status, 200, "{res}");
        let mut body = guide_request(&p1);
        body["output_id"] = json!("es-integrations");
        let (status, pp) = srv.post("/api/fleet/package_policies", body).await;
        assert_eq!(status, 200, "{pp}");
        let pp_id = pp["item"]["id"].as_str().unwrap().to_string();
        let (_, full) = srv.get(&format!("/api/fleet/agent_policies/{p1}/full")).await;
        let full = &full["item"];
        assert_eq!(full["outputs"]["es-integrations"]["hosts"], json!(["https://es2:9200"]));
        assert!(full["outputs"]["default"].is_object());
        assert!(full["inputs"].as_array().unwrap().iter().all(|i| i["use_output"] == "es-integrations"), "{full}");
        assert!(full["output_permissions"]["es-integrations"][&pp_id]["indices"].is_array(), "{full}");
        // Changing that output redeploys the policy.
        let rev = revision(&srv, &p1).await;
        let (status, res) = srv.put("/api/fleet/outputs/es-integrations", json!({"hosts": ["https://es3:9200"]})).await;
        assert_eq!(status, 200, "{res}");
        assert_eq!(revision(&srv, &p1).await, rev + 1);
        let mut missing = guide_request(&p1);
        missing["name"] = json!("other");
        missing["output_id"] = json!("nope");
        let (status, _) = srv.post("/api/fleet/package_policies", missing).await;
        assert_eq!(status, 404);
        srv.stop().await;
    }
}

fn secrets_package() -> Option<Options> {
    Some(Options {
        packages: vec![fixture_package("flotilla_secrets-1.0.0")],
        ..Default::default()
    })
}

/// The ids of a stored package policy's `secret_references`.
fn secret_ids(item: &Value) -> Vec<String> {
    item["secret_references"]
        .as_array()
        .map(|r| {
            r.iter()
                .map(|s| s["id"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

both_backends_with! { secrets_package();
    async fn secret_vars_are_stored_apart_and_only_agents_get_their_values(srv: TestServer) {
        let pid = agent_policy(&srv, "vault").await;
        let request = |api_key: Option<&str>| {
            let mut vars = json!({});
            if let Some(k) = api_key {
                vars["api_key"] = json!(k);
            }
            json!({
                "name": "svc-1", "policy_id": pid,
                "package": {"name": "flotilla_secrets", "version": "1.0.0"},
                "vars": vars,
                "inputs": {"svc-httpjson": {
                    "vars": {"token": "T0KEN-1"},
                    "streams": {"flotilla_secrets.events": {"vars": {"password": "PASSW0RD-1"}}},
                }},
            })
        };
        // A required secret is validated like any var, and nothing is stored.
        let (status, res) = srv.post("/api/fleet/package_policies", request(None)).await;
        assert_eq!(status, 400, "{res}");
        assert_eq!(res["message"], "Package policy is invalid: vars.api_key: API key is required");
        let (_, list) = srv.get("/api/fleet/package_policies").await;
        assert_eq!(list["total"], 0, "{list}");

        let (status, res) = srv.post("/api/fleet/package_policies", request(Some("K3Y-1"))).await;
        assert_eq!(status, 200, "{res}");
        let item = res["item"].clone();
        let id = item["id"].as_str().unwrap().to_string();
        let text = item.to_string();
        for plain in ["K3Y-1", "T0KEN-1", "PASSW0RD-1"] {
            assert!(!text.contains(plain), "{plain} shown by the API: {text}");
        }
        let api_key = item["vars"]["api_key"]["value"].clone();
        assert_eq!(api_key["isSecretRef"], true, "{item}");
        let token = item["inputs"][0]["vars"]["token"]["value"].clone();
        let password = item["inputs"][0]["streams"][0]["vars"]["password"]["value"].clone();
        assert_eq!(token["isSecretRef"], true, "{item}");
        assert_eq!(password["isSecretRef"], true, "{item}");
        let ids = secret_ids(&item);
        assert_eq!(ids, vec![api_key["id"].as_str().unwrap(), token["id"].as_str().unwrap(), password["id"].as_str().unwrap()]);
        let placeholder = |v: &Value| format!("$co.elastic.secret{{{}}}", v["id"].as_str().unwrap());
        assert_eq!(item["inputs"][0]["streams"][0]["compiled_stream"]["auth.basic.password"], placeholder(&password));
        assert_eq!(item["inputs"][0]["streams"][0]["compiled_stream"]["request.headers.authorization"], format!("Bearer {}", placeholder(&api_key)));

        // The full agent policy from the API shows placeholders and lists the references.
        let (_, full) = srv.get(&format!("/api/fleet/agent_policies/{pid}/full")).await;
        let full = &full["item"];
        let text = full.to_string();
        assert!(!text.contains("K3Y-1") && !text.contains("PASSW0RD-1") && !text.contains("T0KEN-1"), "{text}");
        assert_eq!(full["inputs"][0]["request.token"], placeholder(&token), "{full}");
        let mut listed: Vec<String> = full["secret_references"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_string()).collect();
        listed.sort();
        let mut expected = ids.clone();
        expected.sort();
        assert_eq!(listed, expected);

        // An agent gets the values, whole and embedded.
        let token_for_enroll = srv.enrollment_token(&pid).await;
        let (agent, key) = srv.enroll(&token_for_enroll, "vault-1").await;
        let checkin = json!({"status": "online", "message": "", "poll_timeout": "1s"});
        let (_, res) = srv.agent_call(&format!("/api/fleet/agents/{agent}/checkin"), Some(&key), checkin.clone()).await;
        let policy = res["actions"][0]["data"]["policy"].clone();
        assert_eq!(policy["inputs"][0]["request.token"], "T0KEN-1", "{res}");
        assert_eq!(policy["inputs"][0]["streams"][0]["auth.basic.password"], "PASSW0RD-1", "{res}");
        assert_eq!(policy["inputs"][0]["streams"][0]["request.headers.authorization"], "Bearer K3Y-1", "{res}");
        assert!(!policy.to_string().contains("$co.elastic.secret"), "{policy}");

        // A GET body sent back keeps every secret (without what Kibana's update refuses: what
        // Fleet computes).
        let (_, got) = srv.get(&format!("/api/fleet/package_policies/{id}")).await;
        let mut back = got["item"].clone();
        for k in ["id", "revision", "created_at", "created_by", "updated_at", "updated_by", "version", "secret_references"] {
            back.as_object_mut().unwrap().remove(k);
        }
        for input in back["inputs"].as_array_mut().unwrap() {
            input.as_object_mut().unwrap().remove("compiled_input");
        }
        let (status, res) = srv.put(&format!("/api/fleet/package_policies/{id}"), back.clone()).await;
        assert_eq!(status, 200, "{res}");
        assert_eq!(secret_ids(&res["item"]), ids);
        // A new value for one secret replaces its reference; the untouched ones keep theirs.
        back["vars"]["api_key"]["value"] = json!("K3Y-2");
        let (status, res) = srv.put(&format!("/api/fleet/package_policies/{id}"), back).await;
        assert_eq!(status, 200, "{res}");
        let updated = secret_ids(&res["item"]);
        assert_eq!(updated.len(), 3, "{res}");
        assert_ne!(updated[0], ids[0]);
        assert_eq!(updated[1..], ids[1..]);
        assert!(!res.to_string().contains("K3Y-2"), "{res}");
        let (_, res) = srv.agent_call(&format!("/api/fleet/agents/{agent}/checkin"), Some(&key), checkin.clone()).await;
        let policy = res["actions"][0]["data"]["policy"].clone();
        assert_eq!(policy["inputs"][0]["streams"][0]["request.headers.authorization"], "Bearer K3Y-2", "{res}");
        assert_eq!(policy["inputs"][0]["streams"][0]["auth.basic.password"], "PASSW0RD-1", "{res}");

        // Deleted with its policy: the agent policy no longer refers to any secret.
        let (status, res) = srv.call(Method::DELETE, &format!("/api/fleet/package_policies/{id}"), None).await;
        assert_eq!(status, 200, "{res}");
        let (_, full) = srv.get(&format!("/api/fleet/agent_policies/{pid}/full")).await;
        assert!(full["item"].get("secret_references").is_none(), "{full}");
        srv.stop().await;
    }
}

fn preconfigured_secrets() -> Option<Options> {
    let mut o = secrets_package()?;
    o.preconfiguration = Some(json!({
        "agent_policies": [{
            "id": "vault", "name": "Vault", "namespace": "default",
            "package_policies": [{
                "id": "vault-svc", "name": "vault-svc",
                "package": {"name": "flotilla_secrets", "version": "1.0.0"},
                "vars": {"api_key": "K3Y"},
                "inputs": {"svc-httpjson": {"streams": {"flotilla_secrets.events": {"vars": {"password": "PW"}}}}},
            }],
        }],
    }));
    Some(o)
}

both_backends_with! { preconfigured_secrets();
    async fn preconfigured_secrets_are_stored_once_and_kept_across_restarts(srv: TestServer) {
        let mut srv = srv;
        let (status, pp) = srv.get("/api/fleet/package_policies/vault-svc").await;
        assert_eq!(status, 200, "{pp}");
        let ids = secret_ids(&pp["item"]);
        assert_eq!(ids.len(), 2, "{pp}");
        assert!(!pp.to_string().contains("K3Y"), "{pp}");
        let rev = revision(&srv, "vault").await;
        // The same file again: the stored secrets hold the same values, so nothing changes.
        srv.restart().await;
        assert_eq!(revision(&srv, "vault").await, rev);
        let (_, again) = srv.get("/api/fleet/package_policies/vault-svc").await;
        assert_eq!(secret_ids(&again["item"]), ids);
        assert_eq!(again["item"]["revision"], 1);
        srv.stop().await;
    }
}

both_backends! {
    async fn package_policy_queries_refuse_what_their_contracts_refuse(srv: TestServer) {
        let format = "types that failed validation:\n- [request query.format.0]: expected value to equal [simplified]\n- [request query.format.1]: expected value to equal [legacy]";
        for (method, path, message) in [
            (reqwest::Method::GET, "/api/fleet/package_policies?sortOrder=up".to_string(), "[request query.sortOrder]: types that failed validation:\n- [request query.sortOrder.0]: expected value to equal [desc]\n- [request query.sortOrder.1]: expected value to equal [asc]".to_string()),
            (reqwest::Method::GET, "/api/fleet/package_policies?withAgentCount=many".to_string(), "[request query.withAgentCount]: expected value of type [boolean] but got [string]".to_string()),
            (reqwest::Method::GET, "/api/fleet/package_policies?format=fancy".to_string(), format!("[request query.format]: {format}")),
            (reqwest::Method::GET, "/api/fleet/package_policies/some-id?full=1".to_string(), "[request query.full]: definition for this key is missing".to_string()),
            (reqwest::Method::DELETE, "/api/fleet/package_policies/some-id?force=sure".to_string(), "[request query.force]: expected value of type [boolean] but got [string]".to_string()),
            (reqwest::Method::POST, "/api/fleet/package_policies/upgrade?dry=1".to_string(), "[request query.dry]: definition for this key is missing".to_string()),
        ] {
            let body = (method == reqwest::Method::POST).then(|| json!({"packagePolicyIds": []}));
            let (status, res) = srv.call(method.clone(), &path, body).await;
            assert_eq!((status.as_u16(), res["message"].as_str().unwrap_or_default()), (400, message.as_str()), "{method} {path}");
        }
        // The bulk routes' declared bodies.
        for (path, body, message) in [
            ("/api/fleet/package_policies/_bulk_get", json!({"ids": "a"}), "[request body.ids]: could not parse array value from json input"),
            ("/api/fleet/package_policies/delete", json!({"force": true}), "[request body.packagePolicyIds]: expected value of type [array] but got [undefined]"),
            ("/api/fleet/package_policies/upgrade", json!({"packagePolicyIds": [], "version": "1"}), "[request body.version]: definition for this key is missing"),
            ("/api/fleet/package_policies/upgrade/dryrun", json!({"packagePolicyIds": [1]}), "[request body.packagePolicyIds.0]: expected value of type [string] but got [number]"),
        ] {
            let (status, res) = srv.post(path, body.clone()).await;
            assert_eq!((status.as_u16(), res["message"].as_str().unwrap_or_default()), (400, message), "{path} {body}");
        }
        srv.stop().await;
    }
}

both_backends_with! { nginx_and_fixture();
    async fn package_policy_bodies_are_held_to_kibanas_schemas_in_either_format(srv: TestServer) {
        let policy_id = agent_policy(&srv, "p").await;
        let (_, created) = srv.post("/api/fleet/package_policies", guide_request(&policy_id)).await;
        let id = created["item"]["id"].as_str().unwrap().to_string();
        let rev = revision(&srv, &policy_id).await;
        let full = |extra: Value| {
            let mut body = json!({
                "name": "full-1", "policy_ids": [policy_id], "package": {"name": "nginx", "version": "1.5.0"},
                "inputs": [{"type": "logfile", "policy_template": "nginx", "enabled": true, "streams": [
                    {"enabled": true, "data_stream": {"type": "logs", "dataset": "nginx.access"}},
                ]}],
            });
            for (k, v) in extra.as_object().unwrap() {
                body[k] = v.clone();
            }
            body
        };
        let union = "[request body]: types that failed validation:\n";
        for (body, message) in [
            // A legacy stream says whether it is enabled.
            (full(json!({"inputs": [{"type": "logfile", "enabled": true, "streams": [{"data_stream": {"dataset": "nginx.access"}}]}]})),
             format!("{union}- [request body.0.inputs.0.streams.0.enabled]: expected value of type [boolean] but got [undefined]\n- [request body.1.inputs]: expected value of type [object] but got [Array]")),
            // Fleet compiles inputs; a request does not send them compiled.
            (full(json!({"inputs": [{"type": "logfile", "enabled": true, "compiled_input": {}}]})),
             format!("{union}- [request body.0.inputs.0.compiled_input]: definition for this key is missing\n- [request body.1.inputs]: expected value of type [object] but got [Array]")),
            // A simplified body: its inputs are a map, its package is required.
            (json!({"name": "s", "inputs": {"nginx-logfile": {"enabled": "yes"}}}),
             format!("{union}- [request body.0.inputs]: expected value of type [array] but got [Object]\n- [request body.1.inputs.nginx-logfile.enabled]: expected value of type [boolean] but got [string]")),
            (json!({"name": "s", "inputs": {}}),
             format!("{union}- [request body.0.inputs]: expected value of type [array] but got [Object]\n- [request body.1.package.name]: expected value of type [string] but got [undefined]")),
            // overrides hold inputs only, and never what Fleet compiles.
            (full(json!({"overrides": {"name": "test"}})),
             format!("{union}- [request body.0.overrides]: types that failed validation:\n - [request body.overrides.0]: expected value to equal [null]\n - [request body.overrides.1.name]: definition for this key is missing\n- [request body.1.inputs]: expected value of type [object] but got [Array]")),
            (full(json!({"overrides": {"inputs": {"compiled_streams": {}}}})),
             "[request body.overrides]: types that failed validation:\n- [request body.overrides.0]: expected value to equal [null]\n- [request body.overrides.1.inputs]: Overrides of compiled_inputs and compiled_stream are not allowed".to_string()),
            (full(json!({"additional_datastreams_permissions": ["invalid-tata-default", "metrics-tata-default"]})),
             "[request body.additional_datastreams_permissions]: types that failed validation:\n- [request body.additional_datastreams_permissions.0]: expected value to equal [null]\n- [request body.additional_datastreams_permissions.1]: invalid-tata-default is not a valid datastream permissions, it should match logs|metrics|traces|synthetics|profiling)-*".to_string()),
            (full(json!({"namespace": "InvalidNamespace"})), "[request body.namespace]: Namespace must be lowercase".to_string()),
        ] {
            let (status, res) = srv.post("/api/fleet/package_policies", body.clone()).await;
            assert_eq!((status.as_u16(), res["message"].as_str().unwrap_or_default()), (400, message.as_str()), "{body}");
        }
        // The same rules on update, where every key of the full format is optional.
        for (body, message) in [
            (json!({"overrides": {"inputs": {"compiled_inputs": {}}}}),
             "[request body.overrides]: types that failed validation:\n- [request body.overrides.0]: expected value to equal [null]\n- [request body.overrides.1.inputs]: Overrides of compiled_inputs and compiled_stream are not allowed"),
            (json!({"id": "another"}),
             "[request body]: types that failed validation:\n- [request body.0.id]: definition for this key is missing\n- [request body.1.name]: expected value of type [string] but got [undefined]"),
            (json!({"namespace": "a:b"}), "[request body.namespace]: Namespace contains invalid characters"),
        ] {
            let (status, res) = srv.put(&format!("/api/fleet/package_policies/{id}"), body.clone()).await;
            assert_eq!((status.as_u16(), res["message"].as_str().unwrap_or_default()), (400, message), "{body}");
        }
        assert_eq!(revision(&srv, &policy_id).await, rev, "nothing refused was written");
        let (_, list) = srv.get("/api/fleet/package_policies").await;
        assert_eq!(list["total"], 1, "{list}");

        // What Kibana accepts: an input override, compiled_input (singular) as an override key,
        // an empty namespace, no agent policy at all.
        let (status, res) = srv.put(&format!("/api/fleet/package_policies/{id}"), json!({"overrides": {"inputs": {"policy-id": {"log_level": "debug"}}}})).await;
        assert_eq!(status, 200, "{res}");
        assert_eq!(res["item"]["overrides"], json!({"inputs": {"policy-id": {"log_level": "debug"}}}));
        let mut unattached = guide_request(&policy_id);
        unattached["name"] = json!("unattached");
        unattached["namespace"] = json!("");
        unattached.as_object_mut().unwrap().remove("policy_id");
        unattached["policy_ids"] = json!([]);
        let (status, res) = srv.post("/api/fleet/package_policies", unattached).await;
        assert_eq!(status, 200, "{res}");
        assert_eq!(res["item"]["policy_ids"], json!([]));
        srv.stop().await;
    }
}
