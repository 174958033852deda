//! `cargo bench -p store --bench kuery`: what a kuery costs.
//!
//! 1. Parse + compile + translate typical Fleet queries, in microseconds, beside a baseline from
//!    the same run (parsing a small JSON document with serde_json).
//! 2. Filters over 1,000,000 agents in SQLite (set `KUERY_BENCH_AGENTS` for another count):
//!    the query plan, and the time to count matches and to read a page of 20, with indexes where
//!    the field has one (`policy_id` is a real column; the hostname has an expression index).

use std::str::FromStr;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use kuery::{field, Field, FieldType as F, Schema, Storage};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sqlx::Row;

static AGENTS: Schema = Schema {
    prefix: "fleet-agents",
    fields: &[
        Field {
            name: "policy_id",
            ty: F::Keyword,
            storage: Storage::Sql {
                sqlite: "policy_id",
                postgres: "policy_id",
            },
        },
        field("status", F::Keyword),
        field("local_metadata.host.hostname", F::Keyword),
        field("local_metadata.elastic.agent.version", F::Keyword),
        field("tags", F::KeywordArray),
        field("last_checkin", F::Date),
        field("upgrade_details", F::Keyword),
        field("active", F::Boolean),
    ],
};

const TYPICAL: &[&str] = &[
    "status:online",
    "policy_id:\"policy-7\" and status:online",
    "fleet-agents.local_metadata.host.hostname:web-*",
    "not tags:(canary or staging)",
    "last_checkin < now-1h",
    "upgrade_details:*",
    "(status:online or status:degraded) and local_metadata.elastic.agent.version < 9.1.0 and not tags:canary",
];

fn time_per_call(iterations: u32, mut f: impl FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..iterations {
        f();
    }
    start.elapsed() / iterations
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

#[tokio::main]
async fn main() {
    let now = chrono::Utc::now();
    println!("\n## Parse + compile + translate (SQLite and PostgreSQL), per query\n");
    println!("| kuery | µs |");
    println!("|---|---|");
    let baseline = time_per_call(100_000, || {
        let v: serde_json::Value =
            serde_json::from_str(r#"{"status":"online","policy_id":"policy-7"}"#).unwrap();
        std::hint::black_box(v);
    });
    println!(
        "| baseline: serde_json parse of a 40-byte document | {:.2} |",
        micros(baseline)
    );
    for q in TYPICAL {
        let t = time_per_call(20_000, || {
            let expr = kuery::compile(q, &AGENTS, now).expect("typical queries compile");
            let a =
                kuery::sql::to_sql(&expr, kuery::sql::Dialect::Sqlite, "doc", Vec::new()).unwrap();
            let b = kuery::sql::to_sql(&expr, kuery::sql::Dialect::Postgres, "doc", Vec::new())
                .unwrap();
            std::hint::black_box((a.text, b.text));
        });
        println!("| `{}` | {:.2} |", q.replace('|', "\\|"), micros(t));
    }

    let n: usize = std::env::var("KUERY_BENCH_AGENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let opts = SqliteConnectOptions::from_str(&format!(
        "sqlite://{}",
        dir.path().join("agents.db").display()
    ))
    .unwrap()
    .create_if_missing(true)
    .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
    .synchronous(sqlx::sqlite::SqliteSynchronous::Off);
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(opts)
        .await
        .unwrap();
    sqlx::query("CREATE TABLE agent (id TEXT PRIMARY KEY, policy_id TEXT, doc TEXT NOT NULL)")
        .execute(&pool)
        .await
        .unwrap();

    let bar = ProgressBar::new(n as u64);
    bar.set_style(
        ProgressStyle::with_template("inserting agents {bar:40} {pos}/{len} {eta}").unwrap(),
    );
    let statuses = [
        "online", "online", "online", "offline", "degraded", "updating", "error",
    ];
    let versions = ["8.15.0", "8.17.2", "9.0.1", "9.1.0", "9.2.0"];
    let mut tx = pool.begin().await.unwrap();
    let batch = 500;
    for start in (0..n).step_by(batch) {
        let end = (start + batch).min(n);
        let mut sql = String::from("INSERT INTO agent (id, policy_id, doc) VALUES ");
        let mut docs = Vec::with_capacity(end - start);
        for i in start..end {
            let tags = if i % 10 == 0 {
                r#"["canary"]"#
            } else if i % 7 == 0 {
                r#"["staging","eu"]"#
            } else {
                "[]"
            };
            let minutes = i % 600;
            docs.push((
                format!("agent-{i:07}"),
                format!("policy-{}", i % 50),
                format!(
                    r#"{{"status":"{}","local_metadata":{{"host":{{"hostname":"{}-{i}"}},"elastic":{{"agent":{{"version":"{}"}}}}}},"tags":{tags},"last_checkin":"{}","active":true{}}}"#,
                    statuses[i % statuses.len()],
                    if i % 3 == 0 { "web" } else { "db" },
                    versions[i % versions.len()],
                    (now - chrono::Duration::minutes(minutes as i64)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    if i % 97 == 0 { r#","upgrade_details":"UPG_DOWNLOADING""# } else { "" },
                ),
            ));
        }
        sql.push_str(&vec!["(?, ?, ?)"; docs.len()].join(", "));
        let mut q = sqlx::query(&sql);
        for (id, policy, doc) in docs {
            q = q.bind(id).bind(policy).bind(doc);
        }
        q.execute(&mut *tx).await.unwrap();
        bar.set_position(end as u64);
    }
    tx.commit().await.unwrap();
    bar.finish_and_clear();
    let index_start = Instant::now();
    sqlx::query("CREATE INDEX agent_policy_id ON agent (policy_id)")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query(r#"CREATE INDEX agent_hostname ON agent (json_extract(doc, '$."local_metadata"."host"."hostname"'))"#)
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("ANALYZE").execute(&pool).await.unwrap();
    println!(
        "\n## {n} agents in SQLite (indexes built in {:.1} s)\n",
        index_start.elapsed().as_secs_f64()
    );
    println!("| kuery | matches | count ms | first page of 20 ms | plan |");
    println!("|---|---|---|---|---|");
    let queries = [
        "policy_id:\"policy-7\"",
        "local_metadata.host.hostname:\"web-300\"",
        "policy_id:\"policy-7\" and status:online",
        "status:online",
        "fleet-agents.local_metadata.host.hostname:web-3*",
        "not tags:(canary or staging)",
        "last_checkin < now-5h",
        "upgrade_details:*",
    ];
    for q in queries {
        let expr = kuery::compile(q, &AGENTS, now).unwrap();
        let sql =
            kuery::sql::to_sql(&expr, kuery::sql::Dialect::Sqlite, "doc", Vec::new()).unwrap();
        let bind = |mut query: sqlx::query::Query<
            'static,
            sqlx::Sqlite,
            sqlx::sqlite::SqliteArguments<'static>,
        >| {
            for b in &sql.binds {
                query = match b.clone() {
                    kuery::sql::Bind::Text(s) => query.bind(s),
                    kuery::sql::Bind::Int(i) => query.bind(i),
                    kuery::sql::Bind::Float(f) => query.bind(f),
                    kuery::sql::Bind::Bool(v) => query.bind(v),
                };
            }
            query
        };
        let count_sql: &'static str = Box::leak(
            format!("SELECT COUNT(*) AS n FROM agent WHERE {}", sql.text).into_boxed_str(),
        );
        let page_sql: &'static str = Box::leak(
            format!(
                "SELECT id FROM agent WHERE {} ORDER BY id LIMIT 20",
                sql.text
            )
            .into_boxed_str(),
        );
        let plan_sql: &'static str = Box::leak(
            format!("EXPLAIN QUERY PLAN SELECT id FROM agent WHERE {}", sql.text).into_boxed_str(),
        );
        let t = Instant::now();
        let count: i64 = bind(sqlx::query(count_sql))
            .fetch_one(&pool)
            .await
            .unwrap()
            .get("n");
        let count_ms = t.elapsed().as_secs_f64() * 1000.0;
        let t = Instant::now();
        let page = bind(sqlx::query(page_sql)).fetch_all(&pool).await.unwrap();
        let page_ms = t.elapsed().as_secs_f64() * 1000.0;
        let plan: Vec<String> = bind(sqlx::query(plan_sql))
            .fetch_all(&pool)
            .await
            .unwrap()
            .iter()
            .map(|r| r.get::<String, _>("detail"))
            .collect();
        std::hint::black_box(page);
        println!(
            "| `{}` | {count} | {count_ms:.1} | {page_ms:.1} | {} |",
            q.replace('|', "\\|"),
            plan.join("; ")
        );
    }
}
