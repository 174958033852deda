//! The web UI over HTTP: login and logout at Kibana's endpoints, the session cookie standing for
//! the user on the management API (with Kibana's `kbn-xsrf` rule on every write), the pages and
//! their assets. (What the pages do in a browser is for browser tests.)

use reqwest::header::{CONTENT_SECURITY_POLICY, CONTENT_TYPE, LOCATION, SET_COOKIE};
use reqwest::{redirect, Method, StatusCode};
use serde_json::{json, Value};

use crate::support::{TestServer, PASSWORD};

/// A client that shows redirects instead of following them and sends no credentials itself.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(redirect::Policy::none())
        .build()
        .unwrap()
}

async fn login(srv: &TestServer, password: &str, current_url: &str) -> reqwest::Response {
    browser()
        .post(format!("{}/internal/security/login", srv.base))
        .header("kbn-xsrf", "true")
        .json(&json!({
            "providerType": "basic", "providerName": "basic", "currentURL": current_url,
            "params": {"username": "elastic", "password": password}
        }))
        .send()
        .await
        .unwrap()
}

/// The `sid=...` pair of a login answer's Set-Cookie, and the whole header.
fn session(res: &reqwest::Response) -> (String, String) {
    let set = res.headers()[SET_COOKIE].to_str().unwrap().to_string();
    let pair = set.split(';').next().unwrap().trim().to_string();
    assert!(pair.starts_with("sid=") && pair.len() > 10, "{set}");
    (pair, set)
}

async fn call(
    srv: &TestServer,
    method: Method,
    path: &str,
    cookie: &str,
    xsrf: bool,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = browser()
        .request(method, format!("{}{path}", srv.base))
        .header("cookie", cookie);
    if xsrf {
        req = req.header("kbn-xsrf", "flotilla-ui");
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

both_backends! {
    async fn login_session_and_logout(srv: TestServer) {
        // Pages need a session: the browser is sent to the login page, coming back after.
        let res = browser().get(format!("{}/app/fleet/agents?kuery=tags%3Aprod", srv.base)).send().await.unwrap();
        assert_eq!(res.status(), 303, "{res:?}");
        assert_eq!(res.headers()[LOCATION], "/login?next=%2Fapp%2Ffleet%2Fagents%3Fkuery%3Dtags%253Aprod");
        let res = browser().get(format!("{}/login", srv.base)).send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert!(res.headers()[CONTENT_TYPE].to_str().unwrap().starts_with("text/html"));
        assert!(res.headers()[CONTENT_SECURITY_POLICY].to_str().unwrap().contains("default-src 'self'"));
        assert!(res.text().await.unwrap().contains(r#"<form id="login-form""#));

        // Kibana's login request: kbn-xsrf first, then the credentials.
        let res = browser().post(format!("{}/internal/security/login", srv.base))
            .json(&json!({"providerType": "basic", "providerName": "basic", "params": {"username": "elastic", "password": PASSWORD}}))
            .send().await.unwrap();
        assert_eq!(res.status(), 400);
        assert_eq!(res.json::<Value>().await.unwrap()["message"], "Request must contain a kbn-xsrf header.");
        let res = login(&srv, "wrong", "http://localhost/login").await;
        assert_eq!(res.status(), 401);
        assert!(res.headers().get(SET_COOKIE).is_none());
        assert_eq!(res.json::<Value>().await.unwrap(), json!({"statusCode": 401, "error": "Unauthorized", "message": "Unauthorized"}));

        let res = login(&srv, PASSWORD, "http://localhost/login?next=%2Fapp%2Fdev_tools%23%2Fconsole").await;
        assert_eq!(res.status(), 200);
        let (cookie, set) = session(&res);
        for attr in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=28800"] {
            assert!(set.contains(attr), "{attr} in {set}");
        }
        assert_eq!(res.json::<Value>().await.unwrap(), json!({"location": "/app/dev_tools#/console"}));
        // Never a redirect to another site.
        for next in ["https%3A%2F%2Fevil.example", "%2F%2Fevil.example", "%2F%5Cevil.example"] {
            let res = login(&srv, PASSWORD, &format!("http://localhost/login?next={next}")).await;
            assert_eq!(res.json::<Value>().await.unwrap()["location"], "/app/fleet/agents", "{next}");
        }

        // The session is the user on the management API; writes need kbn-xsrf, reads do not.
        let res = browser().get(format!("{}/app/fleet/agents", srv.base)).header("cookie", &cookie).send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert!(res.text().await.unwrap().contains(r#"src="/ui/app.js""#));
        let (status, me) = call(&srv, Method::GET, "/internal/security/me", &cookie, false, None).await;
        assert_eq!(status, 200, "{me}");
        assert_eq!(me["username"], "elastic");
        let (status, res) = call(&srv, Method::POST, "/api/fleet/agent_policies", &cookie, false, Some(json!({"name": "from the UI", "namespace": "default"}))).await;
        assert_eq!(status, 400, "{res}");
        assert_eq!(res["message"], "Request must contain a kbn-xsrf header.");
        let (status, res) = call(&srv, Method::POST, "/_security/api_key", &cookie, false, Some(json!({"name": "k"}))).await;
        assert_eq!(status, 400, "a session write outside /api needs kbn-xsrf too: {res}");
        let (status, res) = call(&srv, Method::POST, "/api/fleet/agent_policies", &cookie, true, Some(json!({"name": "from the UI", "namespace": "default"}))).await;
        assert_eq!(status, 200, "{res}");
        let (status, list) = call(&srv, Method::GET, "/api/fleet/agent_policies?kuery=name:%22from%20the%20UI%22", &cookie, false, None).await;
        assert_eq!(status, 200);
        assert_eq!(list["total"], 1, "{list}");
        // Sessions are not API keys anyone manages.
        let (_, keys) = srv.get("/_security/api_key").await;
        assert!(keys["api_keys"].as_array().unwrap().iter().all(|k| k["name"] != "flotilla-ui-session"), "{keys}");

        // Logging out ends the session: the cookie is cleared and no longer works.
        let res = browser().get(format!("{}/api/security/logout", srv.base)).header("cookie", &cookie).send().await.unwrap();
        assert_eq!(res.status(), 303);
        assert_eq!(res.headers()[LOCATION], "/login?msg=LOGGED_OUT");
        let cleared = res.headers()[SET_COOKIE].to_str().unwrap();
        assert!(cleared.starts_with("sid=;") && cleared.contains("Max-Age=0"), "{cleared}");
        let (status, _) = call(&srv, Method::GET, "/api/fleet/agent_policies", &cookie, false, None).await;
        assert_eq!(status, 401);
        let res = browser().get(format!("{}/app/fleet/agents", srv.base)).header("cookie", &cookie).send().await.unwrap();
        assert_eq!(res.status(), 303);
        srv.stop().await;
    }
}

/// Every script the pages load, and every module those import, is served with a JavaScript type.
#[tokio::test]
async fn pages_and_every_module_they_import_are_served() {
    let srv = TestServer::start(crate::support::Backend::Sqlite)
        .await
        .unwrap();
    let res = login(&srv, PASSWORD, "http://localhost/login").await;
    let (cookie, _) = session(&res);
    let page = |path: &str| {
        browser()
            .get(format!("{}{path}", srv.base))
            .header("cookie", &cookie)
            .send()
    };
    let shell = page("/app/dev_tools").await.unwrap().text().await.unwrap();
    let login_page = page("/login").await.unwrap().text().await.unwrap();
    let quoted = regex_lite_paths(&(shell + &login_page), "/ui/");
    assert!(
        quoted.iter().any(|p| p == "/ui/app.js") && quoted.iter().any(|p| p == "/ui/app.css"),
        "{quoted:?}"
    );
    let mut todo: Vec<String> = quoted;
    let mut seen = std::collections::HashSet::new();
    while let Some(path) = todo.pop() {
        if !seen.insert(path.clone()) {
            continue;
        }
        let res = browser()
            .get(format!("{}{path}", srv.base))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{path}");
        let ty = res.headers()[CONTENT_TYPE].to_str().unwrap().to_string();
        let text = res.text().await.unwrap();
        if path.ends_with(".js") {
            assert!(ty.contains("javascript"), "{path}: {ty}");
            // Relative imports: `from './x.js'` and `import('./x.js')`.
            for rel in regex_lite_paths(&text, "./") {
                todo.push(format!("/ui/{}", rel.trim_start_matches("./")));
            }
        } else {
            assert!(ty.starts_with("text/css"), "{path}: {ty}");
        }
    }
    assert!(seen.len() >= 8, "{seen:?}");
    let res = browser()
        .get(format!("{}/ui/nothing.js", srv.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    // Swagger UI's script and style for the API docs page, with our headers; not its own pages.
    for asset in [
        "/ui/swagger/swagger-ui-bundle.js",
        "/ui/swagger/swagger-ui.css",
    ] {
        let res = browser()
            .get(format!("{}{asset}", srv.base))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{asset}");
        let csp = res.headers()[CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .to_string();
        assert!(csp.contains("default-src 'self'"), "{asset}: {csp}");
    }
    for page in [
        "/ui/swagger",
        "/ui/swagger/",
        "/ui/swagger/oauth2-redirect.html",
    ] {
        let res = browser()
            .get(format!("{}{page}", srv.base))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 404, "{page}");
    }
    srv.stop().await;
}

/// Quoted strings starting with `prefix` and ending in `.js` or `.css`.
fn regex_lite_paths(text: &str, prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    for quote in ['\'', '"'] {
        let opening = format!("{quote}{prefix}");
        let mut rest = text;
        while let Some(at) = rest.find(&opening) {
            let tail = &rest[at + 1..];
            let Some(end) = tail.find(quote) else { break };
            let piece = &tail[..end];
            if piece.ends_with(".js") || piece.ends_with(".css") {
                out.push(piece.to_string());
            }
            rest = &tail[end + 1..];
        }
    }
    out
}

both_backends! {
    /// The overview chart's data: a sample a minute of the `/agent_status` counts, written once
    /// per minute whichever node samples, kept a week.
    async fn agent_status_history_is_sampled_once_a_minute(srv: TestServer) {
        let start = chrono::Utc::now();
        let policy = srv.create_policy(json!({"name": "history", "namespace": "default"})).await;
        srv.seed_agents(policy["id"].as_str().unwrap(), 3, "9.2.0").await;
        let later = start + chrono::Duration::minutes(10);
        assert!(srv.fleet().sample_agent_status_at(later).await.unwrap());
        assert!(!srv.fleet().sample_agent_status_at(later).await.unwrap(), "one sample per minute");
        let since = (later - chrono::Duration::seconds(61)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let (status, h) = srv.get(&format!("/internal/fleet/agent_status_history?since={since}")).await;
        assert_eq!(status, 200, "{h}");
        let items = h["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "{h:#}");
        assert_eq!(items[0]["online"], 3);
        assert_eq!(items[0]["total"], 3);
        assert!(items[0]["timestamp"].as_str().unwrap().ends_with(":00.000Z"), "{h}");

        // The default window is the last 24 hours: the sample 10 minutes ahead is in it.
        let (_, day) = srv.get("/internal/fleet/agent_status_history").await;
        assert!(day["items"].as_array().unwrap().iter().any(|i| i["total"] == 3), "{day:#}");

        // A week later the old samples are gone.
        let week = later + chrono::Duration::days(8);
        assert!(srv.fleet().sample_agent_status_at(week).await.unwrap());
        let old = (start - chrono::Duration::minutes(5)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let (_, all) = srv.get(&format!("/internal/fleet/agent_status_history?since={old}")).await;
        assert_eq!(all["items"].as_array().unwrap().len(), 1, "{all:#}");

        let (status, bad) = srv.get("/internal/fleet/agent_status_history?since=yesterday").await;
        assert_eq!(status, 400);
        assert_eq!(bad["message"], "[request query.since]: expected an ISO 8601 date but got [yesterday]");
        srv.stop().await;
    }
}
