use anyhow::Context;
use clap::{Parser, Subcommand};
use fleet::auth::Role;
use flotilla::config::{self, LogFormat, ServeArgs, StoreArgs};

mod bench_cmd;
mod floor;
mod simulate_cmd;

/// Flotilla: a self-hosted Fleet server that speaks the Kibana Fleet API and the Fleet Server
/// agent protocol.
#[derive(Parser)]
#[command(name = "flotilla", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (Fleet API on :5601, agent protocol on :8220)
    Serve(ServeArgs),
    /// Manage API keys for the management API
    #[command(subcommand)]
    ApiKey(ApiKeyCommand),
    /// Manage users
    #[command(subcommand)]
    User(UserCommand),
    /// Simulate Elastic Agents against a Fleet Server (load tests)
    Simulate(simulate_cmd::SimulateArgs),
    /// Run the performance harness (servers, simulated fleets, a floor) and print the table
    Bench(bench_cmd::BenchArgs),
    /// The benchmark's floor: a bare server parking agent long-polls (used by `bench`)
    #[command(hide = true)]
    BenchFloor {
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: std::net::SocketAddr,
    },
}

#[derive(Subcommand)]
enum ApiKeyCommand {
    /// Create an API key and print its encoded form once
    Create {
        #[arg(long)]
        name: String,
        /// superuser, fleet-admin, fleet-read or agent
        #[arg(long, default_value = "superuser")]
        role: String,
        /// Lifetime such as 30d or 12h [default: never expires]
        #[arg(long)]
        expiration: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user or set its password and role; the password is read from FLOTILLA_USER_PASSWORD
    Set {
        #[arg(long)]
        username: String,
        #[arg(long, default_value = "fleet-admin")]
        role: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

fn init_logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("FLOTILLA_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn parse_role(s: &str) -> anyhow::Result<Role> {
    Role::parse(s).with_context(|| {
        format!("unknown role {s:?}: expected superuser, fleet-admin, fleet-read or agent")
    })
}

async fn open_for_admin(store: &StoreArgs) -> anyhow::Result<fleet::Fleet> {
    let (data_dir, database_url, _) = config::resolve_store(store)?;
    let cfg = flotilla::Config::with_database(&data_dir, &database_url);
    let store = flotilla::open_store(&cfg).await?;
    Ok(fleet::Fleet::new(store, fleet::FleetConfig::default()))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            let cfg = config::resolve(args)?;
            init_logging(cfg.log_format);
            flotilla::raise_open_files_limit();
            tracing::info!(database = %flotilla::redact(&cfg.database_url), "starting flotilla {}", api::VERSION);
            let server = flotilla::start(&cfg).await?;
            if let Some(pw) = &server.generated_password {
                // Printed once, on stderr only, never through the logger.
                eprintln!("\nCreated the superuser 'elastic' with password: {pw}\n(set FLOTILLA_ELASTIC_PASSWORD before the first start to choose it)\n");
            }
            server.run_until_signal().await;
        }
        Command::ApiKey(ApiKeyCommand::Create {
            name,
            role,
            expiration,
            store,
        }) => {
            init_logging(LogFormat::Text);
            let role = parse_role(&role)?;
            let fleet = open_for_admin(&store).await?;
            fleet
                .auth
                .bootstrap(std::env::var("FLOTILLA_ELASTIC_PASSWORD").ok().as_deref())
                .await?;
            let key = fleet
                .auth
                .create_api_key("elastic", &name, role, expiration.as_deref())
                .await?;
            fleet.store.close().await;
            println!("{}", key.encoded);
            eprintln!(
                "Created API key {} ({}); use it as: Authorization: ApiKey {}",
                key.name, key.id, key.encoded
            );
        }
        Command::User(UserCommand::Set {
            username,
            role,
            store,
        }) => {
            init_logging(LogFormat::Text);
            let role = parse_role(&role)?;
            let password = std::env::var("FLOTILLA_USER_PASSWORD")
                .context("set FLOTILLA_USER_PASSWORD to the new user's password")?;
            let fleet = open_for_admin(&store).await?;
            fleet.auth.put_user(&username, &password, role).await?;
            fleet.store.close().await;
            eprintln!("User {username} saved with role {}", role.as_str());
        }
        Command::Simulate(args) => {
            init_logging(LogFormat::Text);
            simulate_cmd::run(args).await?;
        }
        Command::Bench(args) => {
            init_logging(LogFormat::Text);
            bench_cmd::run(args).await?;
        }
        Command::BenchFloor { listen } => {
            flotilla::raise_open_files_limit();
            floor::run(listen).await?;
        }
    }
    Ok(())
}
