//! Any input: parse it, and when it parses, compile it against a schema with every field type,
//! evaluate it on a document and translate it for both SQL dialects. Nothing may panic.
#![no_main]

use kuery::{field, FieldType as F, Schema};
use libfuzzer_sys::fuzz_target;

static SCHEMA: Schema = Schema {
    prefix: "fuzz",
    fields: &[
        field("k", F::Keyword),
        field("ka", F::KeywordArray),
        field("t", F::Text),
        field("n", F::Number),
        field("b", F::Boolean),
        field("d", F::Date),
        field("o.k", F::Keyword),
    ],
};

fuzz_target!(|data: &[u8]| {
    let Ok(query) = std::str::from_utf8(data) else { return };
    let now = chrono::DateTime::from_timestamp(1_700_000_000, 0).expect("valid timestamp");
    if let Ok(expr) = kuery::compile(query, &SCHEMA, now) {
        let doc = serde_json::json!({"k": "a", "ka": ["a", "b"], "t": "Hello world", "n": 1, "b": true,
                                     "d": "2024-01-01T00:00:00.000Z", "o": {"k": "x"}});
        let _ = kuery::eval(&expr, &doc);
        for dialect in [kuery::sql::Dialect::Sqlite, kuery::sql::Dialect::Postgres] {
            let _ = kuery::sql::to_sql(&expr, dialect, "doc", Vec::new());
        }
    }
});
