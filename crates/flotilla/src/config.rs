//! `flotilla serve` configuration: flags, the same names as `FLOTILLA_*` environment
//! variables, and an optional `flotilla.toml`. Flags and environment win over the file; the
//! file wins over the defaults.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// Where the data lives; shared by `serve` and the admin commands.
#[derive(Debug, Clone, Default, Args)]
pub struct StoreArgs {
    /// Folder for the SQLite database and generated files [default: ./data]
    #[arg(long, env = "FLOTILLA_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// `sqlite://PATH` or `postgres://USER@HOST/DB` [default: sqlite://DATA_DIR/flotilla.db]
    #[arg(long, env = "FLOTILLA_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Configuration file [default: ./flotilla.toml when it exists]
    #[arg(long, env = "FLOTILLA_CONFIG")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Address of the Fleet management API (Kibana's port) [default: 127.0.0.1:5601]
    #[arg(long, env = "FLOTILLA_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Address of the agent protocol (Fleet Server's port) [default: 127.0.0.1:8220]
    #[arg(long, env = "FLOTILLA_AGENT_LISTEN")]
    pub agent_listen: Option<SocketAddr>,
    /// Elastic Package Registry [default: https://epr.elastic.co]
    #[arg(long, env = "FLOTILLA_REGISTRY_URL")]
    pub registry_url: Option<String>,
    /// Extra local packages, one `<name>-<version>` folder each
    #[arg(long, env = "FLOTILLA_PACKAGE_DIR")]
    pub package_dir: Option<PathBuf>,
    /// Log format [default: text]
    #[arg(long, env = "FLOTILLA_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// PEM certificate chain for both listeners
    #[arg(long, env = "FLOTILLA_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for both listeners
    #[arg(long, env = "FLOTILLA_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Make (once) and use a self-signed certificate kept in the data dir, for trials
    #[arg(long, env = "FLOTILLA_TLS_SELF_SIGNED")]
    pub tls_self_signed: bool,
    /// Hosts of the default Elasticsearch output [default: http://localhost:9200]
    #[arg(long, env = "FLOTILLA_OUTPUT_HOSTS", value_delimiter = ',')]
    pub output_hosts: Option<Vec<String>>,
    /// The Elastic stack version Flotilla stands in for: newest agent accepted, highest upgrade target [default: 9.3.0]
    #[arg(long, env = "FLOTILLA_STACK_VERSION")]
    pub stack_version: Option<String>,
    /// URLs agents use to reach this server's agent listener [default: derived from --agent-listen]
    #[arg(long, env = "FLOTILLA_FLEET_SERVER_HOSTS", value_delimiter = ',')]
    pub fleet_server_hosts: Option<Vec<String>>,
}

/// The keys `flotilla.toml` may set: the flags' names with underscores.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<SocketAddr>,
    pub agent_listen: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub registry_url: Option<String>,
    pub package_dir: Option<PathBuf>,
    pub log_format: Option<LogFormat>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub tls_self_signed: Option<bool>,
    pub output_hosts: Option<Vec<String>>,
    pub fleet_server_hosts: Option<Vec<String>>,
    pub stack_version: Option<String>,
    /// Objects created or updated at every start (`[[preconfiguration.outputs]]`, ...).
    pub preconfiguration: Option<serde_json::Value>,
}

#[derive(Debug, Clone)]
pub enum Tls {
    Off,
    Files { cert: PathBuf, key: PathBuf },
    SelfSigned,
}

/// The default of [`Config::header_read_timeout`] (hyper's own default, and Go's Fleet Server
/// reads headers under a similar deadline).
pub const HEADER_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Everything resolved: what the server runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub agent_listen: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub registry_url: String,
    pub package_dir: Option<PathBuf>,
    pub log_format: LogFormat,
    pub tls: Tls,
    pub output_hosts: Vec<String>,
    pub fleet_server_hosts: Option<Vec<String>>,
    /// Password for the `elastic` superuser made on first start (`FLOTILLA_ELASTIC_PASSWORD`);
    /// generated and printed once when unset.
    pub elastic_password: Option<String>,
    /// Check-in holds (Fleet Server's defaults; tests shorten them).
    pub checkin_long_poll: std::time::Duration,
    pub checkin_min_poll: std::time::Duration,
    /// How long a connection may take to send a request's line and headers (also the idle time
    /// allowed between keep-alive requests) before it is closed, on both listeners: a client
    /// that sends half a request must not hold a connection forever (tests shorten it).
    pub header_read_timeout: std::time::Duration,
    pub stack_version: String,
    /// Outputs, Fleet Server hosts, proxies, download sources and agent policies to create or
    /// update at start-up (the file's `[preconfiguration]` section).
    pub preconfiguration: Option<serde_json::Value>,
}

impl Config {
    /// Defaults everywhere; a starting point for tests.
    pub fn with_database(data_dir: &Path, database_url: &str) -> Self {
        Self {
            listen: "127.0.0.1:0".parse().expect("valid address"),
            agent_listen: "127.0.0.1:0".parse().expect("valid address"),
            data_dir: data_dir.to_path_buf(),
            database_url: database_url.to_string(),
            registry_url: "https://epr.elastic.co".into(),
            package_dir: None,
            log_format: LogFormat::Text,
            tls: Tls::Off,
            output_hosts: vec!["http://localhost:9200".into()],
            fleet_server_hosts: None,
            elastic_password: None,
            checkin_long_poll: std::time::Duration::from_secs(300),
            checkin_min_poll: std::time::Duration::from_secs(60),
            header_read_timeout: HEADER_READ_TIMEOUT,
            stack_version: fleet::agents::protocol::FLEET_SERVER_VERSION.to_string(),
            preconfiguration: None,
        }
    }
}

fn read_file(path: Option<&Path>) -> anyhow::Result<FileConfig> {
    let (path, required) = match path {
        Some(p) => (p.to_path_buf(), true),
        None => (PathBuf::from("flotilla.toml"), false),
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => toml::from_str(&text)
            .with_context(|| format!("invalid configuration file {}", path.display())),
        Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => {
            Ok(FileConfig::default())
        }
        Err(e) => {
            Err(e).with_context(|| format!("cannot read configuration file {}", path.display()))
        }
    }
}

pub fn resolve_store(args: &StoreArgs) -> anyhow::Result<(PathBuf, String, FileConfig)> {
    let file = read_file(args.config.as_deref())?;
    let data_dir = args
        .data_dir
        .clone()
        .or(file.data_dir.clone())
        .unwrap_or_else(|| PathBuf::from("data"));
    let database_url = match args.database_url.clone().or(file.database_url.clone()) {
        Some(u) => u,
        None => format!("sqlite://{}", data_dir.join("flotilla.db").display()),
    };
    Ok((data_dir, database_url, file))
}

pub fn resolve(args: ServeArgs) -> anyhow::Result<Config> {
    let (data_dir, database_url, file) = resolve_store(&args.store)?;
    let tls_cert = args.tls_cert.or(file.tls_cert);
    let tls_key = args.tls_key.or(file.tls_key);
    let self_signed = args.tls_self_signed || file.tls_self_signed.unwrap_or(false);
    let tls = match (tls_cert, tls_key, self_signed) {
        (Some(cert), Some(key), false) => Tls::Files { cert, key },
        (None, None, true) => Tls::SelfSigned,
        (None, None, false) => Tls::Off,
        (Some(_), Some(_), true) => {
            bail!("--tls-self-signed cannot be combined with --tls-cert/--tls-key")
        }
        _ => bail!("--tls-cert and --tls-key go together"),
    };
    Ok(Config {
        listen: args
            .listen
            .or(file.listen)
            .unwrap_or_else(|| "127.0.0.1:5601".parse().expect("valid address")),
        agent_listen: args
            .agent_listen
            .or(file.agent_listen)
            .unwrap_or_else(|| "127.0.0.1:8220".parse().expect("valid address")),
        data_dir,
        database_url,
        registry_url: args
            .registry_url
            .or(file.registry_url)
            .unwrap_or_else(|| "https://epr.elastic.co".into()),
        package_dir: args.package_dir.or(file.package_dir),
        log_format: args
            .log_format
            .or(file.log_format)
            .unwrap_or(LogFormat::Text),
        tls,
        output_hosts: args
            .output_hosts
            .or(file.output_hosts)
            .unwrap_or_else(|| vec!["http://localhost:9200".into()]),
        fleet_server_hosts: args.fleet_server_hosts.or(file.fleet_server_hosts),
        elastic_password: std::env::var("FLOTILLA_ELASTIC_PASSWORD")
            .ok()
            .filter(|p| !p.is_empty()),
        checkin_long_poll: std::time::Duration::from_secs(300),
        checkin_min_poll: std::time::Duration::from_secs(60),
        header_read_timeout: HEADER_READ_TIMEOUT,
        stack_version: {
            let v = args
                .stack_version
                .or(file.stack_version)
                .unwrap_or_else(|| fleet::agents::protocol::FLEET_SERVER_VERSION.to_string());
            if fleet::actions::semver(&v).is_none() {
                bail!("--stack-version must be a version such as 9.3.0, got {v:?}");
            }
            v
        },
        preconfiguration: file.preconfiguration,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn preconfiguration_is_read_from_the_file() {
        let file: super::FileConfig = toml::from_str(
            r#"
[[preconfiguration.outputs]]
id = "ls"
name = "Logstash"
type = "logstash"
hosts = ["ls:5044"]

[[preconfiguration.agent_policies]]
id = "p"
name = "P"
namespace = "default"
monitoring_enabled = ["logs"]
"#,
        )
        .unwrap();
        let pre = file.preconfiguration.unwrap();
        assert_eq!(pre["outputs"][0]["hosts"][0], "ls:5044");
        assert_eq!(pre["agent_policies"][0]["monitoring_enabled"][0], "logs");
    }
}
