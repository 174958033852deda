//! Differential tests: for random documents and random kuery strings, the evaluator and the SQL
//! translation (SQLite, and PostgreSQL when configured) select exactly the same documents.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use kuery::{field, FieldType as F, Schema};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{json, Value};
use store::{Kind, Mode, PostgresStore, Query, Store};

static SCHEMA: Schema = Schema {
    prefix: "test-docs",
    fields: &[
        field("k", F::Keyword),
        field("ka", F::KeywordArray),
        field("t", F::Text),
        field("n", F::Number),
        field("b", F::Boolean),
        field("d", F::Date),
        field("o.k", F::Keyword),
        field("o.n", F::Number),
    ],
};

const WORDS: &[&str] = &[
    "a", "b", "ab", "a b", "A", "web-1", "web-2", "x*y", "a%b", "a_b", "é", "[x]", "q?",
];
const TEXTS: &[&str] = &[
    "Hello, world!",
    "web-1 server",
    "a b c",
    "x_y  z",
    "A B",
    "hello",
    "",
    "b...a",
    "Ünï code",
];
const DATES: &[&str] = &[
    "2024-01-01T00:00:00.000Z",
    "2024-01-02T10:00:00.000Z",
    "2024-03-15T10:20:30.456Z",
    "2023-12-31T23:59:59.999Z",
];

fn any_scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        prop::sample::select(WORDS).prop_map(|w| json!(w)),
        prop::sample::select(&[-3.0, 0.0, 1.0, 2.5, 10.0][..]).prop_map(|n| json!(n)),
        any::<bool>().prop_map(|b| json!(b)),
        Just(Value::Null),
    ]
}

/// A field's value: usually of its own type, sometimes of another, absent, null or an array.
fn value_for(own: BoxedStrategy<Value>) -> BoxedStrategy<Option<Value>> {
    prop_oneof![
        6 => own.prop_map(Some),
        1 => any_scalar().prop_map(Some),
        1 => prop::collection::vec(prop::sample::select(WORDS).prop_map(|w| json!(w)), 0..3).prop_map(|v| Some(Value::Array(v))),
        2 => Just(None),
    ]
    .boxed()
}

fn doc() -> impl Strategy<Value = Value> {
    let k = value_for(prop::sample::select(WORDS).prop_map(|w| json!(w)).boxed());
    let ka = value_for(
        prop::collection::vec(prop::sample::select(WORDS).prop_map(|w| json!(w)), 0..4)
            .prop_map(Value::Array)
            .boxed(),
    );
    let t = value_for(prop::sample::select(TEXTS).prop_map(|w| json!(w)).boxed());
    let n = value_for(
        prop::sample::select(&[-3.0, 0.0, 1.0, 2.5, 10.0][..])
            .prop_map(|n| json!(n))
            .boxed(),
    );
    let b = value_for(any::<bool>().prop_map(|b| json!(b)).boxed());
    let d = value_for(prop::sample::select(DATES).prop_map(|w| json!(w)).boxed());
    let o = value_for(
        (
            prop::sample::select(WORDS),
            prop::sample::select(&[1.0, 2.5][..]),
        )
            .prop_map(|(k, n)| json!({"k": k, "n": n}))
            .boxed(),
    );
    (k, ka, t, n, b, d, o).prop_map(|(k, ka, t, n, b, d, o)| {
        let mut m = serde_json::Map::new();
        for (name, v) in [
            ("k", k),
            ("ka", ka),
            ("t", t),
            ("n", n),
            ("b", b),
            ("d", d),
            ("o", o),
        ] {
            if let Some(v) = v {
                m.insert(name.into(), v);
            }
        }
        Value::Object(m)
    })
}

fn quoted(s: &str) -> String {
    serde_json::to_string(s).expect("strings serialize")
}

/// A kuery value as a user would type it for a field.
fn kuery_value(field: &'static str) -> BoxedStrategy<String> {
    match field {
        "n" | "o.n" => prop::sample::select(&["-3", "0", "1", "2.5", "10", "1.0"][..])
            .prop_map(String::from)
            .boxed(),
        "b" => prop::sample::select(&["true", "false", "TRUE"][..])
            .prop_map(String::from)
            .boxed(),
        "d" => prop::sample::select(
            &[
                "\"2024-01-01\"",
                "\"2024-01-02T10:00:00Z\"",
                "now-1d",
                "now/d",
                "now-90d/M",
                "\"2024-03-15T10:20:30.456Z\"",
            ][..],
        )
        .prop_map(String::from)
        .boxed(),
        "t" => prop_oneof![
            prop::sample::select(&["hello", "world", "web", "a", "b c", "server"][..])
                .prop_map(String::from),
            prop::sample::select(TEXTS).prop_map(quoted),
        ]
        .boxed(),
        _ => prop_oneof![
            prop::sample::select(
                &[
                    "a", "b", "ab", "A", "web-1", "web-*", "*b", "a*", "*", "x\\*y", "a%b", "a_b",
                    "é", "\\[x]", "q?"
                ][..]
            )
            .prop_map(String::from),
            prop::sample::select(WORDS).prop_map(quoted),
        ]
        .boxed(),
    }
}

fn leaf() -> BoxedStrategy<String> {
    let fields =
        prop::sample::select(&["k", "ka", "t", "n", "b", "d", "o.k", "o.n", "test-docs.k"][..]);
    let ops = prop::sample::select(&["<", "<=", ">", ">="][..]);
    fields
        .prop_flat_map(move |f| {
            let bare: &'static str = f.strip_prefix("test-docs.").unwrap_or(f);
            prop_oneof![
                4 => kuery_value(bare).prop_map(move |v| format!("{f}:{v}")),
                1 => Just(format!("{f}:*")),
                2 => (ops.clone(), kuery_value(bare)).prop_map(move |(op, v)| format!("{f} {op} {v}")),
                1 => (kuery_value(bare), kuery_value(bare)).prop_map(move |(a, b)| format!("{f}:({a} or {b})")),
                1 => Just("o:{ k:a or n > 1 }".to_string()),
            ]
        })
        .boxed()
}

fn query() -> impl Strategy<Value = String> {
    leaf().prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} and {b}")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} or {b})")),
            inner.clone().prop_map(|a| format!("not ({a})")),
        ]
    })
}

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2024-03-15T12:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

async fn run(store: Arc<dyn Store>) {
    let mut runner = TestRunner::new(Config {
        cases: 200,
        ..Config::default()
    });
    let strategy = (
        prop::collection::vec(doc(), 1..24),
        prop::collection::vec(query(), 1..6),
    );
    let handle = tokio::runtime::Handle::current();
    let compared = std::sync::atomic::AtomicUsize::new(0);
    let result = runner.run(&strategy, |(docs, queries)| {
        tokio::task::block_in_place(|| {
            handle.block_on(async {
                let mut tx = store.begin(Mode::Write).await.unwrap();
                tx.delete_where(Kind::AgentPolicy, &store::Filter::All).await.unwrap();
                for (i, d) in docs.iter().enumerate() {
                    tx.insert(Kind::AgentPolicy, &format!("{i:03}"), d).await.unwrap();
                }
                tx.commit().await.unwrap();
                for q in &queries {
                    let Ok(expr) = kuery::compile(q, &SCHEMA, now()) else { continue };
                    let expected: BTreeSet<String> = docs
                        .iter()
                        .enumerate()
                        .filter(|(_, d)| kuery::eval(&expr, d))
                        .map(|(i, _)| format!("{i:03}"))
                        .collect();
                    let mut tx = store.begin(Mode::Read).await.unwrap();
                    let got: BTreeSet<String> = tx
                        .find(Kind::AgentPolicy, &Query { filter: expr.clone(), ..Default::default() })
                        .await
                        .map_err(|e| TestCaseError::fail(format!("{q}: {e}")))?
                        .into_iter()
                        .map(|d| d.id)
                        .collect();
                    compared.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if got != expected {
                        let show: Vec<String> = docs.iter().enumerate().map(|(i, d)| format!("{i:03} {d}")).collect();
                        return Err(TestCaseError::fail(format!(
                            "{} disagrees on {q}\n  evaluator {expected:?}\n  sql       {got:?}\n{}",
                            store.backend(),
                            show.join("\n")
                        )));
                    }
                }
                Ok(())
            })
        })
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    let compared = compared.into_inner();
    assert!(compared > 300, "only {compared} queries compiled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_agrees_with_the_evaluator() {
    let dir = tempfile::tempdir().unwrap();
    let store = store::open(&format!("sqlite://{}", dir.path().join("d.db").display()))
        .await
        .unwrap();
    run(store).await;
}

#[cfg_attr(
    not(postgres_tests),
    ignore = "needs PostgreSQL: set FLOTILLA_TEST_DATABASE_URL"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_agrees_with_the_evaluator() {
    let Some(url) = common::postgres_url() else {
        return;
    };
    let schema = format!("s_{}", uuid::Uuid::new_v4().simple());
    let store = PostgresStore::connect(&url, Some(&schema)).await.unwrap();
    run(Arc::new(store)).await;
    PostgresStore::drop_schema(&url, &schema).await.unwrap();
}
