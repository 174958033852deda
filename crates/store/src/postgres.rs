//! PostgreSQL back end: one pool shared by readers and writers; many Flotilla nodes may share
//! the database.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

use crate::sql::impl_tx;
use crate::{Mode, Result, Store, StoreError, Tx};
use kuery::sql::Dialect;

impl_tx!(
    PgTx,
    sqlx::Postgres,
    Dialect::Postgres,
    json_in = "$3::jsonb",
    json_out = "doc::text",
    status = crate::AGENT_STATUS_POSTGRES,
    touch_doc = "jsonb_set(doc, '{last_checkin}', to_jsonb($1::text))",
    merge_doc = "jsonb_strip_nulls(doc || $1::jsonb)",
    for_update = " FOR UPDATE"
);

pub struct PostgresStore {
    pool: PgPool,
}

/// Connections each node keeps open at most, unless the URL says `pool_size=N`. Nodes sharing
/// one PostgreSQL need `nodes × (pool_size + 1)` within its `max_connections` (100 by default).
pub const DEFAULT_POOL_SIZE: u32 = 16;

/// Takes Flotilla's own `pool_size` parameter out of a PostgreSQL URL (the driver refuses
/// parameters it does not know).
fn take_pool_size(url: &str) -> Result<(String, u32)> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_string(), DEFAULT_POOL_SIZE));
    };
    let mut size = DEFAULT_POOL_SIZE;
    let mut rest = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("pool_size", n)) => {
                size = n.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                    StoreError::Config(format!("pool_size must be a positive number, got [{n}]"))
                })?;
            }
            _ => rest.push(pair),
        }
    }
    let url = if rest.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", rest.join("&"))
    };
    Ok((url, size))
}

impl PostgresStore {
    /// Connects and migrates. With `schema`, everything lives in that schema (created if
    /// missing): tests use one schema each so they can run in parallel on one database.
    pub async fn connect(url: &str, schema: Option<&str>) -> Result<Self> {
        let (url, pool_size) = take_pool_size(url)?;
        let mut opts = PgConnectOptions::from_str(&url)?;
        if let Some(schema) = schema {
            kuery::sql::path_segments(schema)?;
            let admin = PgPoolOptions::new()
                .max_connections(1)
                .connect_with(opts.clone())
                .await?;
            sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\""))
                .execute(&admin)
                .await?;
            admin.close().await;
            opts = opts.options([("search_path", schema)]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(pool_size)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(opts)
            .await?;
        // Nodes starting together must not migrate twice: the migrator takes an advisory lock.
        sqlx::migrate!("migrations/postgres").run(&pool).await?;
        Ok(Self { pool })
    }

    /// Drops a schema made by [`PostgresStore::connect`] (test clean-up).
    pub async fn drop_schema(url: &str, schema: &str) -> Result<()> {
        kuery::sql::path_segments(schema)?;
        let pool = PgPoolOptions::new().max_connections(1).connect(url).await?;
        sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
            .execute(&pool)
            .await?;
        pool.close().await;
        Ok(())
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn begin(&self, _mode: Mode) -> Result<Box<dyn Tx>> {
        let pool = self.pool.clone();
        let tx = crate::sql::detached(async move { pool.begin().await }).await?;
        Ok(Box::new(PgTx::new(tx)))
    }

    fn backend(&self) -> &'static str {
        "postgres"
    }

    fn connections(&self) -> Option<usize> {
        Some(self.pool.options().get_max_connections() as usize)
    }

    async fn listen_policy_changes(&self, listener: crate::PolicyChangeListener) -> Result<()> {
        let mut pg = sqlx::postgres::PgListener::connect_with(&self.pool).await?;
        pg.listen(crate::POLICY_CHANNEL).await?;
        tokio::spawn(async move {
            loop {
                match pg.recv().await {
                    Ok(n) => {
                        if let Some((rev, id)) = n.payload().split_once(':') {
                            if let Ok(rev) = rev.parse() {
                                listener(id, rev);
                            }
                        }
                    }
                    // The listener reconnects on the next recv; a closed pool ends it.
                    Err(sqlx::Error::PoolClosed) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "policy change listener lost its connection; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        });
        Ok(())
    }

    async fn listen_actions(&self, listener: crate::ActionsListener) -> Result<()> {
        let mut pg = sqlx::postgres::PgListener::connect_with(&self.pool).await?;
        pg.listen(crate::ACTION_CHANNEL).await?;
        tokio::spawn(async move {
            loop {
                match pg.recv().await {
                    Ok(n) => {
                        let ids: Vec<String> = n.payload().split(',').map(String::from).collect();
                        listener(&ids);
                    }
                    Err(sqlx::Error::PoolClosed) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "action listener lost its connection; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        });
        Ok(())
    }

    async fn notify_actions(&self, agent_ids: &[String]) -> Result<()> {
        // A payload holds at most 8000 bytes: one notification per ~200 agents, all sent in
        // one statement.
        let mut payloads = Vec::new();
        let mut current = String::new();
        for id in agent_ids {
            if !current.is_empty() && current.len() + id.len() + 1 > 7900 {
                payloads.push(std::mem::take(&mut current));
            }
            if !current.is_empty() {
                current.push(',');
            }
            current.push_str(id);
        }
        if !current.is_empty() {
            payloads.push(current);
        }
        if payloads.is_empty() {
            return Ok(());
        }
        sqlx::query("SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p")
            .bind(crate::ACTION_CHANNEL)
            .bind(&payloads)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_size_is_taken_out_of_the_url() {
        let (url, n) = take_pool_size("postgres://u@h/db?sslmode=disable&pool_size=12").unwrap();
        assert_eq!((url.as_str(), n), ("postgres://u@h/db?sslmode=disable", 12));
        let (url, n) = take_pool_size("postgres://u@h/db?pool_size=3").unwrap();
        assert_eq!((url.as_str(), n), ("postgres://u@h/db", 3));
        let (url, n) = take_pool_size("postgres://u@h/db").unwrap();
        assert_eq!((url.as_str(), n), ("postgres://u@h/db", DEFAULT_POOL_SIZE));
        assert!(take_pool_size("postgres://u@h/db?pool_size=0").is_err());
        assert!(take_pool_size("postgres://u@h/db?pool_size=x").is_err());
    }
}
