//! SQLite back end: WAL mode, a busy timeout, one writer connection and a pool of readers.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

use crate::sql::impl_tx;
use crate::{Mode, Result, Store, Tx};
use kuery::sql::Dialect;

impl_tx!(
    SqliteTx,
    sqlx::Sqlite,
    Dialect::Sqlite,
    json_in = "$3",
    json_out = "doc",
    status = crate::AGENT_STATUS_SQLITE,
    touch_doc = "json_set(doc, '$.last_checkin', $1)",
    merge_doc = "json_patch(doc, $1)",
    for_update = ""
);

pub struct SqliteStore {
    /// Exactly one connection: SQLite has one writer, and queueing writers here (instead of
    /// letting them race for the file lock) means no SQLITE_BUSY under load.
    writer: SqlitePool,
    readers: SqlitePool,
}

impl SqliteStore {
    pub async fn connect(url: &str) -> Result<Self> {
        let memory = url.contains(":memory:") || url.contains("mode=memory");
        let opts = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(if memory {
                SqliteJournalMode::Memory
            } else {
                SqliteJournalMode::Wal
            })
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(30))
            .foreign_keys(true);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(opts.clone())
            .await?;
        sqlx::migrate!("migrations/sqlite").run(&writer).await?;
        // An in-memory database exists per connection, so it gets no separate readers.
        let readers = if memory {
            writer.clone()
        } else {
            SqlitePoolOptions::new()
                .max_connections(8)
                .connect_with(opts.read_only(true))
                .await?
        };
        Ok(Self { writer, readers })
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn begin(&self, mode: Mode) -> Result<Box<dyn Tx>> {
        let (writer, readers) = (self.writer.clone(), self.readers.clone());
        let tx = crate::sql::detached(async move {
            match mode {
                // IMMEDIATE takes the write lock up front, so a read-then-write transaction
                // can never fail half-way when another process holds the file.
                Mode::Write => writer.begin_with("BEGIN IMMEDIATE").await,
                Mode::Read => readers.begin().await,
            }
        })
        .await?;
        Ok(Box::new(SqliteTx::new(tx)))
    }

    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn close(&self) {
        self.readers.close().await;
        self.writer.close().await;
    }
}
