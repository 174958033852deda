//! `flotilla simulate`: simulated Elastic Agents against one or more Fleet Servers, with a live
//! progress bar (or JSON status lines for scripts and the benchmark) and a summary.

use std::io::Write;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use simulate::{Config, Report, Simulation};

fn duration(s: &str) -> Result<Duration, String> {
    fleet::agents::protocol::parse_go_duration(s)
        .ok_or_else(|| format!("{s:?} is not a duration such as 500ms, 30s, 5m or 1h30m"))
}

#[derive(Args, Debug)]
pub struct SimulateArgs {
    /// Fleet Server URL; repeat (or separate with commas) to spread agents over several nodes
    #[arg(
        long = "url",
        value_delimiter = ',',
        default_value = "http://127.0.0.1:8220"
    )]
    urls: Vec<String>,
    /// Enrollment API key (its `api_key` value, as `elastic-agent enroll --enrollment-token`)
    #[arg(long, env = "FLOTILLA_ENROLLMENT_TOKEN")]
    enrollment_token: String,
    /// How many agents to simulate (one process holds up to about 19,000)
    #[arg(long, default_value_t = 100)]
    agents: usize,
    /// Enrollments per second (0: all at once)
    #[arg(long, default_value_t = 200.0)]
    enroll_rate: f64,
    /// The agent version reported (User-Agent and metadata)
    #[arg(long = "agent-version", default_value = "9.1.0")]
    version: String,
    /// poll_timeout sent at check-in (the server holds about two minutes less)
    #[arg(long, value_parser = duration, default_value = "7m")]
    poll_timeout: Duration,
    /// Agents wait a random time below this before polling again after an empty answer
    #[arg(long, value_parser = duration, default_value = "5s")]
    jitter: Duration,
    /// Time between two upgrade states (requested, downloading, ..., watching)
    #[arg(long, value_parser = duration, default_value = "1s")]
    upgrade_step: Duration,
    /// Share of upgrades that fail while downloading (0.0 to 1.0)
    #[arg(long, default_value_t = 0.0)]
    upgrade_failure_ratio: f64,
    /// Stop after this long and print the summary [default: run until Ctrl-C]
    #[arg(long, value_parser = duration)]
    duration: Option<Duration>,
    /// Hostnames are PREFIX-NNNNNN
    #[arg(long, default_value = "sim")]
    name_prefix: String,
    /// Index of the first agent (for distinct hostnames across simulator processes)
    #[arg(long, default_value_t = 0)]
    first_index: usize,
    /// Tag given at enrollment (repeatable)
    #[arg(long = "tag")]
    tags: Vec<String>,
    /// Accept any TLS certificate from the server
    #[arg(long)]
    insecure: bool,
    /// Connect from 127.0.0.1 only instead of one 127.x.y.z address per agent
    #[arg(long)]
    no_source_spread: bool,
    /// Print a JSON status line four times a second and the summary as JSON (no progress bar)
    #[arg(long)]
    json: bool,
}

pub async fn run(args: SimulateArgs) -> Result<()> {
    if !(0.0..=1.0).contains(&args.upgrade_failure_ratio) {
        bail!("--upgrade-failure-ratio must be between 0 and 1");
    }
    let limit = flotilla::raise_open_files_limit();
    if args.agents as u64 + 64 > limit {
        eprintln!(
            "warning: {} agents need as many open files; this process may open {limit}",
            args.agents
        );
    }
    let config = Config {
        urls: args.urls,
        enrollment_token: args.enrollment_token,
        agents: args.agents,
        enroll_rate: args.enroll_rate,
        version: args.version,
        poll_timeout: args.poll_timeout,
        jitter: args.jitter,
        upgrade_step: args.upgrade_step,
        upgrade_failure_ratio: args.upgrade_failure_ratio,
        spread_source_addresses: !args.no_source_spread,
        name_prefix: args.name_prefix,
        first_index: args.first_index,
        tags: args.tags,
        insecure: args.insecure,
        ..Config::default()
    };
    let agents = config.agents as u64;
    let sim = Simulation::start(config)
        .await
        .context("starting the simulation")?;
    let bar = (!args.json).then(|| {
        let bar = ProgressBar::new(agents);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] enrolled {pos}/{len} {wide_bar} {msg}",
            )
            .expect("valid template"),
        );
        bar
    });
    let until = args.duration.map(|d| tokio::time::Instant::now() + d);
    // Scripts (the benchmark) read the JSON lines: a finer tick times them more closely.
    let period = if args.json {
        Duration::from_millis(250)
    } else {
        Duration::from_secs(1)
    };
    let mut tick = tokio::time::interval(period);
    let mut out = std::io::stdout();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = tokio::signal::ctrl_c() => break,
        }
        let s = sim.snapshot();
        match &bar {
            Some(bar) => {
                bar.set_position(s.enrolled);
                bar.set_message(format!(
                    "connected {} · check-ins {} · acks {} · policy changes {} · upgrades {}/{} failed · errors {} · 429s {} · 503s {}",
                    s.connected, s.checkins, s.acks, s.policy_changes, s.upgrades_completed, s.upgrades_failed, s.errors, s.throttled, s.unavailable
                ));
            }
            None => {
                let mut line = serde_json::to_value(&s)?;
                line["policy_received"] = serde_json::json!(sim.take_policy_received());
                line["last_errors"] = serde_json::json!(sim.last_errors());
                writeln!(out, "{line}")?;
                out.flush()?;
            }
        }
        if until.is_some_and(|u| tokio::time::Instant::now() >= u) {
            break;
        }
    }
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let report = sim.stop().await;
    if args.json {
        writeln!(out, "{}", serde_json::json!({ "report": report }))?;
    } else {
        print_report(&report);
    }
    Ok(())
}

fn print_report(r: &Report) {
    let c = &r.counters;
    println!("simulated agents: {} over {:.0} s", c.agents, r.elapsed_s);
    println!(
        "  enrolled {}   connected at the end {}   unenrolled {}",
        c.enrolled, c.connected, c.unenrolled
    );
    println!(
        "  check-ins {}   acks {}   policy changes {}   upgrades {} ({} failed)   uploads {}",
        c.checkins, c.acks, c.policy_changes, c.upgrades_completed, c.upgrades_failed, c.uploads
    );
    println!("  actions received: {:?}", c.actions);
    for (name, p) in [
        ("enroll", &r.enroll_latency),
        ("ack", &r.ack_latency),
        ("action delivery", &r.delivery_latency),
    ] {
        println!(
            "  {name:<16} n={:<8} p50 {:>9.1} ms   p99 {:>9.1} ms   max {:>9.1} ms",
            p.count, p.p50_ms, p.p99_ms, p.max_ms
        );
    }
    println!(
        "  errors {}   answered 429 and retried {}   answered 503 and retried {}",
        c.errors, c.throttled, c.unavailable
    );
    for e in &r.last_errors {
        println!("    {e}");
    }
}
