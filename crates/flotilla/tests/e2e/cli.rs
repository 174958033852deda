//! The binary as a newcomer runs it: `flotilla serve` with flags, the `listening` log lines,
//! the generated `elastic` password, `flotilla api-key create`, TLS and the config file.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_flotilla");

struct Running {
    child: Child,
    api: String,
    agents: String,
    password: Option<String>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `flotilla serve` and reads its stderr until both listeners are announced.
fn serve(dir: &std::path::Path, extra: &[&str], password: Option<&str>) -> Running {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--agent-listen",
            "127.0.0.1:0",
        ])
        .args(extra)
        .env_remove("FLOTILLA_ELASTIC_PASSWORD")
        .env_remove("FLOTILLA_DATABASE_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(p) = password {
        cmd.env("FLOTILLA_ELASTIC_PASSWORD", p);
    }
    let mut child = cmd.spawn().expect("flotilla starts");
    let stderr = child.stderr.take().expect("stderr piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let (mut api, mut agents, mut password) = (None, None, None);
    while api.is_none() || agents.is_none() {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("server announced its listeners");
        if let Some(rest) = line.split("listening api=").nth(1) {
            api = Some(rest.trim().to_string());
        }
        if let Some(rest) = line.split("listening agents=").nth(1) {
            agents = Some(rest.trim().to_string());
        }
        if let Some(rest) = line.split("with password: ").nth(1) {
            password = Some(rest.trim().to_string());
        }
    }
    // The password banner follows the listening lines.
    if password.is_none() {
        while let Ok(line) = rx.recv_timeout(Duration::from_millis(500)) {
            if let Some(rest) = line.split("with password: ").nth(1) {
                password = Some(rest.trim().to_string());
                break;
            }
        }
    }
    Running {
        child,
        api: api.unwrap(),
        agents: agents.unwrap(),
        password,
    }
}

#[tokio::test]
async fn first_run_generates_a_password_and_api_keys_work() {
    let dir = tempfile::tempdir().unwrap();
    let srv = serve(dir.path(), &[], None);
    let password = srv
        .password
        .clone()
        .expect("a generated password is printed once");
    assert!(
        dir.path().join("data/flotilla.db").exists(),
        "SQLite under ./data by default"
    );
    let http = reqwest::Client::new();
    let res = http
        .get(format!("http://{}/api/fleet/agent_policies", srv.api))
        .basic_auth("elastic", Some(&password))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    let out = Command::new(BIN)
        .current_dir(dir.path())
        .args([
            "api-key",
            "create",
            "--name",
            "script",
            "--role",
            "fleet-admin",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let encoded = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let res = http
        .post(format!("http://{}/api/fleet/agent_policies", srv.api))
        .header("Authorization", format!("ApiKey {encoded}"))
        .header("kbn-xsrf", "xxx")
        .json(&json!({"name": "Agent policy 1", "namespace": "default"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = http
        .get(format!("http://{}/api/status", srv.agents))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    drop(srv);

    // A restart keeps the data and does not print a new password.
    let again = serve(dir.path(), &[], None);
    assert!(again.password.is_none());
    let res = http
        .get(format!("http://{}/api/fleet/agent_policies", again.api))
        .basic_auth("elastic", Some(&password))
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["total"], 1);
}

#[tokio::test]
async fn self_signed_tls_and_config_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("flotilla.toml"),
        "data_dir = \"state\"\ntls_self_signed = true\n",
    )
    .unwrap();
    let srv = serve(dir.path(), &[], Some("pw"));
    assert!(dir.path().join("state/tls/self-signed.crt").exists());
    assert!(dir.path().join("state/flotilla.db").exists());
    let http = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap();
    let res = http
        .get(format!("https://{}/api/fleet/agent_policies", srv.api))
        .basic_auth("elastic", Some("pw"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = http
        .get(format!("https://{}/api/status", srv.agents))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // Plain HTTP is not served on a TLS listener.
    assert!(reqwest::get(format!("http://{}/api/status", srv.api))
        .await
        .map(|r| !r.status().is_success())
        .unwrap_or(true));
}

#[test]
fn bad_configuration_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("flotilla.toml"), "no_such_key = 1\n").unwrap();
    let out = Command::new(BIN)
        .current_dir(dir.path())
        .args(["serve"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("flotilla.toml"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(BIN)
        .current_dir(dir.path())
        .args(["serve", "--config", "missing.toml"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let out = Command::new(BIN)
        .args(["serve", "--tls-cert", "x.pem"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "--tls-cert needs --tls-key");
}
