//! The one implementation of [`crate::Tx`], written once and instantiated for each sqlx driver.
//! The SQL is the same text on both back ends except where `kuery::sql::Dialect` says otherwise
//! (JSON access, JSON parameters, advisory locks).

/// Binds the collected filter parameters onto a sqlx query, in order.
macro_rules! bind_all {
    ($q:expr, $binds:expr) => {{
        let mut q = $q;
        let binds: &[kuery::sql::Bind] = $binds;
        for b in binds {
            q = match *b {
                kuery::sql::Bind::Text(ref s) => q.bind(s.clone()),
                kuery::sql::Bind::Int(i) => q.bind(i),
                kuery::sql::Bind::Float(f) => q.bind(f),
                kuery::sql::Bind::Bool(v) => q.bind(v),
            };
        }
        q
    }};
}

macro_rules! impl_tx {
    ($tx:ident, $db:ty, $dialect:expr, json_in = $json_in:literal, json_out = $json_out:literal,
     status = $status:expr, touch_doc = $touch_doc:literal, merge_doc = $merge_doc:literal,
     for_update = $for_update:literal) => {
        pub struct $tx {
            tx: sqlx::Transaction<'static, $db>,
        }

        impl $tx {
            pub(crate) fn new(tx: sqlx::Transaction<'static, $db>) -> Self {
                Self { tx }
            }
        }

        fn doc_from_row(row: &<$db as sqlx::Database>::Row) -> $crate::Result<$crate::Doc> {
            use sqlx::Row;
            let body: String = row.try_get("doc")?;
            Ok($crate::Doc {
                id: row.try_get("id")?,
                version: row.try_get("version")?,
                body: serde_json::from_str(&body)?,
            })
        }

        fn action_doc_from_row(row: &<$db as sqlx::Database>::Row) -> $crate::Result<$crate::Doc> {
            use sqlx::Row;
            let body: String = row.try_get("doc")?;
            let version: i32 = row.try_get("version")?;
            Ok($crate::Doc { id: row.try_get("id")?, version: i64::from(version), body: serde_json::from_str(&body)? })
        }

        fn api_key_from_row(
            row: &<$db as sqlx::Database>::Row,
        ) -> $crate::Result<$crate::ApiKey> {
            use sqlx::Row;
            Ok($crate::ApiKey {
                id: row.try_get("id")?,
                name: row.try_get("name")?,
                key_hash: row.try_get("key_hash")?,
                role: row.try_get("role")?,
                owner: row.try_get("owner")?,
                created_at: row.try_get("created_at")?,
                expiration: row.try_get("expiration")?,
                invalidated: row.try_get("invalidated")?,
            })
        }

        fn agent_from_row(row: &<$db as sqlx::Database>::Row) -> $crate::Result<$crate::AgentRow> {
            use sqlx::Row;
            Ok($crate::AgentRow { doc: doc_from_row(row)?, status: row.try_get("status")? })
        }

        /// The promoted column values of an agent document, in `AGENT_COLUMNS` order.
        struct AgentColumns {
            policy_id: Option<String>,
            active: bool,
            enrolled_at: Option<String>,
            last_checkin: Option<String>,
            last_checkin_status: Option<String>,
            policy_revision_idx: Option<i64>,
            access_api_key_id: Option<String>,
            version_sort: Option<String>,
            hostname: Option<String>,
            status_flag: Option<&'static str>,
        }

        impl AgentColumns {
            /// Binds the columns as `$4` … `$12`, in `AGENT_COLUMNS` order, then `status_flag`
            /// as `$13`.
            fn bind_to<'q>(
                self,
                q: sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments<'q>>,
            ) -> sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments<'q>> {
                q.bind(self.policy_id)
                    .bind(self.active)
                    .bind(self.enrolled_at)
                    .bind(self.last_checkin)
                    .bind(self.last_checkin_status)
                    .bind(self.policy_revision_idx)
                    .bind(self.access_api_key_id)
                    .bind(self.version_sort)
                    .bind(self.hostname)
                    .bind(self.status_flag)
            }
        }

        fn agent_columns(body: &serde_json::Value) -> AgentColumns {
            let s = |k: &str| body.get(k).and_then(|v| v.as_str()).map(String::from);
            AgentColumns {
                policy_id: s("policy_id"),
                active: body.get("active").and_then(|v| v.as_bool()).unwrap_or(true),
                enrolled_at: s("enrolled_at"),
                last_checkin: s("last_checkin"),
                last_checkin_status: s("last_checkin_status"),
                policy_revision_idx: body.get("policy_revision_idx").and_then(|v| v.as_i64()),
                access_api_key_id: s("access_api_key_id"),
                // Kibana compares the version the agent reports in its metadata.
                version_sort: body
                    .pointer("/local_metadata/elastic/agent/version")
                    .or_else(|| body.pointer("/agent/version"))
                    .and_then(|v| v.as_str())
                    .and_then($crate::version_sort_key),
                hostname: body.pointer("/local_metadata/host/hostname").and_then(|v| v.as_str()).map(String::from),
                status_flag: $crate::agent_status::status_flag(body),
            }
        }

        /// Agent reads: the document and the status, from the live table or a view.
        fn agent_select(from: &str) -> String {
            format!("SELECT id, version, {} AS doc, {} AS status FROM {from}", $json_out, $status)
        }

        /// The table agent queries read: the live one, or a point-in-time view (bound as $1).
        fn agent_source(pit: Option<&str>) -> (&'static str, Vec<kuery::sql::Bind>) {
            match pit {
                None => ("agent", Vec::new()),
                Some(p) => (
                    "(SELECT * FROM agent_pit WHERE pit_id = $1) AS agent",
                    vec![kuery::sql::Bind::Text(p.to_string())],
                ),
            }
        }

        /// A cursor value as a parameter comparable with the sort key `field`.
        fn cursor_param(field: &str, value: &serde_json::Value, binds: &mut Vec<kuery::sql::Bind>) -> String {
            use kuery::sql::Bind;
            let json_key = $crate::agent_column(field).is_none() && field != "status";
            if json_key && $dialect == kuery::sql::Dialect::Postgres {
                binds.push(Bind::Text(value.to_string()));
                return format!("${}::jsonb", binds.len());
            }
            binds.push(match value {
                serde_json::Value::String(s) => Bind::Text(s.clone()),
                serde_json::Value::Bool(b) if json_key => Bind::Int(i64::from(*b)),
                serde_json::Value::Bool(b) => Bind::Bool(*b),
                serde_json::Value::Number(n) => match n.as_i64() {
                    Some(i) => Bind::Int(i),
                    None => Bind::Float(n.as_f64().unwrap_or(0.0)),
                },
                other => Bind::Text(other.to_string()),
            });
            format!("${}", binds.len())
        }

        /// The SQL for an agent sort key.
        fn agent_sort_key(field: &str) -> $crate::Result<String> {
            if let Some(column) = $crate::agent_column(field) {
                Ok(format!("agent.{column}"))
            } else if field == "status" {
                Ok($status.to_string())
            } else {
                Ok($dialect.json_value("doc", field)?)
            }
        }

        #[async_trait::async_trait]
        impl $crate::Tx for $tx {
            async fn commit(self: Box<Self>) -> $crate::Result<()> {
                $crate::sql::detached(self.tx.commit()).await?;
                Ok(())
            }

            async fn lock_kind(&mut self, kind: $crate::Kind) -> $crate::Result<()> {
                if $dialect == kuery::sql::Dialect::Postgres {
                    sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
                        .bind(kind.as_str())
                        .execute(&mut *self.tx)
                        .await?;
                }
                Ok(())
            }

            async fn notify_policy_change(&mut self, policy_id: &str, revision: i64) -> $crate::Result<()> {
                if $dialect == kuery::sql::Dialect::Postgres {
                    // NOTIFY is transactional: listeners hear it only if the change commits.
                    sqlx::query("SELECT pg_notify($1, $2)")
                        .bind($crate::POLICY_CHANNEL)
                        .bind(format!("{revision}:{policy_id}"))
                        .execute(&mut *self.tx)
                        .await?;
                }
                Ok(())
            }

            async fn get(
                &mut self,
                kind: $crate::Kind,
                id: &str,
            ) -> $crate::Result<Option<$crate::Doc>> {
                let row = sqlx::query(concat!(
                    "SELECT id, version, ",
                    $json_out,
                    " AS doc FROM saved_object WHERE kind = $1 AND id = $2"
                ))
                .bind(kind.as_str())
                .bind(id)
                .fetch_optional(&mut *self.tx)
                .await?;
                row.as_ref().map(doc_from_row).transpose()
            }

            async fn get_many(
                &mut self,
                kind: $crate::Kind,
                ids: &[String],
            ) -> $crate::Result<Vec<$crate::Doc>> {
                let mut out = Vec::with_capacity(ids.len());
                for id in ids {
                    if let Some(doc) = self.get(kind, id).await? {
                        out.push(doc);
                    }
                }
                Ok(out)
            }

            async fn insert(
                &mut self,
                kind: $crate::Kind,
                id: &str,
                body: &serde_json::Value,
            ) -> $crate::Result<$crate::Doc> {
                let res = sqlx::query(concat!(
                    "INSERT INTO saved_object (kind, id, version, doc) VALUES ($1, $2, 1, ",
                    $json_in,
                    ") ON CONFLICT (kind, id) DO NOTHING"
                ))
                .bind(kind.as_str())
                .bind(id)
                .bind(body.to_string())
                .execute(&mut *self.tx)
                .await?;
                if res.rows_affected() == 0 {
                    return Err($crate::StoreError::AlreadyExists {
                        kind: kind.as_str(),
                        id: id.to_string(),
                    });
                }
                Ok($crate::Doc {
                    id: id.to_string(),
                    version: 1,
                    body: body.clone(),
                })
            }

            async fn update(
                &mut self,
                kind: $crate::Kind,
                id: &str,
                expected_version: Option<i64>,
                body: &serde_json::Value,
            ) -> $crate::Result<$crate::Doc> {
                use sqlx::Row;
                let row = sqlx::query(concat!(
                    "UPDATE saved_object SET version = version + 1, doc = ",
                    $json_in,
                    " WHERE kind = $1 AND id = $2 AND ($4 IS NULL OR version = $4) RETURNING version"
                ))
                .bind(kind.as_str())
                .bind(id)
                .bind(body.to_string())
                .bind(expected_version)
                .fetch_optional(&mut *self.tx)
                .await?;
                match row {
                    Some(row) => Ok($crate::Doc {
                        id: id.to_string(),
                        version: row.try_get("version")?,
                        body: body.clone(),
                    }),
                    None => {
                        let exists = self.get(kind, id).await?.is_some();
                        let (kind, id) = (kind.as_str(), id.to_string());
                        Err(if exists {
                            $crate::StoreError::Conflict { kind, id }
                        } else {
                            $crate::StoreError::NotFound { kind, id }
                        })
                    }
                }
            }

            async fn delete(&mut self, kind: $crate::Kind, id: &str) -> $crate::Result<bool> {
                let res = sqlx::query("DELETE FROM saved_object WHERE kind = $1 AND id = $2")
                    .bind(kind.as_str())
                    .bind(id)
                    .execute(&mut *self.tx)
                    .await?;
                Ok(res.rows_affected() > 0)
            }

            async fn find(
                &mut self,
                kind: $crate::Kind,
                query: &$crate::Query,
            ) -> $crate::Result<Vec<$crate::Doc>> {
                let d = $dialect;
                let rendered = kuery::sql::to_sql(
                    &query.filter,
                    d,
                    "doc",
                    vec![kuery::sql::Bind::Text(kind.as_str().to_string())],
                )?;
                let mut order = Vec::new();
                // Ties break by id in the direction of the first key, so one index can serve
                // the whole ORDER BY.
                let id_dir = match query.sort.first() {
                    Some((_, $crate::SortOrder::Desc)) => "DESC",
                    _ => "ASC",
                };
                for (field, dir) in &query.sort {
                    let dir = match dir {
                        $crate::SortOrder::Asc => "ASC",
                        $crate::SortOrder::Desc => "DESC",
                    };
                    let value = d.json_value("doc", field)?;
                    // Strings sort by code point, as Elasticsearch sorts keywords, whatever the
                    // database's collation; missing values sort last either way, as in Kibana.
                    if d == kuery::sql::Dialect::Postgres {
                        order.push(format!(
                            "(CASE WHEN jsonb_typeof({value}) = 'string' THEN {} END) COLLATE \"C\" {dir} NULLS LAST",
                            d.json_text("doc", field)?
                        ));
                    }
                    order.push(format!("{value} {dir} NULLS LAST"));
                }
                order.push(format!("id {id_dir}"));
                let order = order.join(", ");
                let mut window = String::new();
                if let Some(limit) = query.limit {
                    window.push_str(&format!(" LIMIT {}", limit.min(i64::MAX as u64)));
                }
                if query.offset > 0 {
                    if query.limit.is_none() && $dialect == kuery::sql::Dialect::Sqlite {
                        window.push_str(" LIMIT -1");
                    }
                    window.push_str(&format!(" OFFSET {}", query.offset.min(i64::MAX as u64)));
                }
                let sql = if $dialect == kuery::sql::Dialect::Postgres {
                    // Sort and window the ids first, so only the page's documents are turned
                    // into text (PostgreSQL would otherwise convert every matching row).
                    format!(
                        "SELECT id, version, {} AS doc FROM saved_object WHERE kind = $1 AND id IN \
                         (SELECT id FROM saved_object WHERE kind = $1 AND {} ORDER BY {order}{window}) \
                         ORDER BY {order}",
                        $json_out, rendered.text
                    )
                } else {
                    format!(
                        "SELECT id, version, {} AS doc FROM saved_object WHERE kind = $1 AND {} ORDER BY {order}{window}",
                        $json_out, rendered.text
                    )
                };
                let q = $crate::sql::bind_all!(sqlx::query(&sql), &rendered.binds);
                let rows = q.fetch_all(&mut *self.tx).await?;
                rows.iter().map(doc_from_row).collect()
            }

            async fn count(
                &mut self,
                kind: $crate::Kind,
                filter: &$crate::Filter,
            ) -> $crate::Result<u64> {
                use sqlx::Row;
                let rendered = kuery::sql::to_sql(filter, $dialect, "doc", vec![kuery::sql::Bind::Text(kind.as_str().to_string())])?;
                let sql = format!(
                    "SELECT COUNT(*) AS n FROM saved_object WHERE kind = $1 AND {}",
                    rendered.text
                );
                let q = $crate::sql::bind_all!(sqlx::query(&sql), &rendered.binds);
                let row = q.fetch_one(&mut *self.tx).await?;
                let n: i64 = row.try_get("n")?;
                Ok(n.max(0) as u64)
            }

            async fn delete_where(
                &mut self,
                kind: $crate::Kind,
                filter: &$crate::Filter,
            ) -> $crate::Result<u64> {
                let rendered = kuery::sql::to_sql(filter, $dialect, "doc", vec![kuery::sql::Bind::Text(kind.as_str().to_string())])?;
                let sql = format!(
                    "DELETE FROM saved_object WHERE kind = $1 AND {}",
                    rendered.text
                );
                let q = $crate::sql::bind_all!(sqlx::query(&sql), &rendered.binds);
                Ok(q.execute(&mut *self.tx).await?.rows_affected())
            }

            async fn put_agent(
                &mut self,
                id: &str,
                policy_id: Option<&str>,
                active: bool,
                doc: &serde_json::Value,
            ) -> $crate::Result<()> {
                let mut body = doc.clone();
                if let Some(obj) = body.as_object_mut() {
                    obj.insert("policy_id".into(), serde_json::json!(policy_id));
                    obj.insert("active".into(), serde_json::json!(active));
                }
                if self.agent_get(id).await?.is_some() {
                    self.agent_update(id, None, &body).await?;
                } else {
                    self.agent_insert(id, &body).await?;
                }
                Ok(())
            }

            async fn count_agents_by_policy(
                &mut self,
                policy_ids: &[String],
                active_only: bool,
            ) -> $crate::Result<Vec<(String, u64)>> {
                use sqlx::Row;
                let mut out = Vec::with_capacity(policy_ids.len());
                for id in policy_ids {
                    let row = sqlx::query(
                        "SELECT COUNT(*) AS n FROM agent WHERE policy_id = $1 AND (active OR NOT $2)",
                    )
                    .bind(id)
                    .bind(active_only)
                    .fetch_one(&mut *self.tx)
                    .await?;
                    let n: i64 = row.try_get("n")?;
                    out.push((id.clone(), n.max(0) as u64));
                }
                Ok(out)
            }

            async fn agent_get(&mut self, id: &str) -> $crate::Result<Option<$crate::AgentRow>> {
                let sql = format!("{} WHERE id = $1", agent_select("agent"));
                let row = sqlx::query(&sql).bind(id).fetch_optional(&mut *self.tx).await?;
                row.as_ref().map(agent_from_row).transpose()
            }

            async fn agent_by_access_key(&mut self, api_key_id: &str) -> $crate::Result<Option<$crate::AgentRow>> {
                let sql = format!("{} WHERE access_api_key_id = $1", agent_select("agent"));
                let row = sqlx::query(&sql).bind(api_key_id).fetch_optional(&mut *self.tx).await?;
                row.as_ref().map(agent_from_row).transpose()
            }

            async fn agent_insert(&mut self, id: &str, body: &serde_json::Value) -> $crate::Result<$crate::Doc> {
                let c = agent_columns(body);
                let q = sqlx::query(concat!(
                    "INSERT INTO agent (id, version, doc, policy_id, active, enrolled_at, last_checkin, \
                     last_checkin_status, policy_revision_idx, access_api_key_id, version_sort, hostname, status_flag) \
                     VALUES ($1, 1, ",
                    $json_in,
                    ", $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT (id) DO NOTHING"
                ))
                .bind(id)
                .bind(None::<String>)
                .bind(body.to_string());
                let res = c
                    .bind_to(q)
                .execute(&mut *self.tx)
                .await?;
                if res.rows_affected() == 0 {
                    return Err($crate::StoreError::AlreadyExists { kind: "fleet-agents", id: id.to_string() });
                }
                Ok($crate::Doc { id: id.to_string(), version: 1, body: body.clone() })
            }

            async fn agent_update(
                &mut self,
                id: &str,
                expected_version: Option<i64>,
                body: &serde_json::Value,
            ) -> $crate::Result<$crate::Doc> {
                use sqlx::Row;
                let c = agent_columns(body);
                let q = sqlx::query(concat!(
                    "UPDATE agent SET version = version + 1, doc = ",
                    $json_in,
                    ", policy_id = $4, active = $5, enrolled_at = $6, last_checkin = $7, \
                     last_checkin_status = $8, policy_revision_idx = $9, access_api_key_id = $10, \
                     version_sort = $11, hostname = $12, status_flag = $13 WHERE id = $1 AND ($2 IS NULL OR version = $2) RETURNING version"
                ))
                .bind(id)
                .bind(expected_version)
                .bind(body.to_string());
                let row = c
                    .bind_to(q)
                .fetch_optional(&mut *self.tx)
                .await?;
                match row {
                    Some(row) => Ok($crate::Doc { id: id.to_string(), version: row.try_get("version")?, body: body.clone() }),
                    None => {
                        let exists = self.agent_get(id).await?.is_some();
                        let id = id.to_string();
                        Err(if exists {
                            $crate::StoreError::Conflict { kind: "fleet-agents", id }
                        } else {
                            $crate::StoreError::NotFound { kind: "fleet-agents", id }
                        })
                    }
                }
            }

            async fn agent_delete(&mut self, id: &str) -> $crate::Result<bool> {
                let res = sqlx::query("DELETE FROM agent WHERE id = $1").bind(id).execute(&mut *self.tx).await?;
                Ok(res.rows_affected() > 0)
            }

            async fn agent_find(
                &mut self,
                pit: Option<&str>,
                query: &$crate::Query,
            ) -> $crate::Result<Vec<$crate::AgentRow>> {
                let (from, binds) = agent_source(pit);
                let rendered = kuery::sql::to_sql(&query.filter, $dialect, "doc", binds)?;
                let mut binds = rendered.binds;
                let mut condition = rendered.text;
                let (first_field, first_desc) = match query.sort.first() {
                    Some((f, o)) => (f.clone(), *o == $crate::SortOrder::Desc),
                    None => ("id".to_string(), false),
                };
                let id_dir = if first_desc { "DESC" } else { "ASC" };
                if let Some((value, after_id)) = &query.search_after {
                    // Keyset: rows after (value, id) in `<key> <dir> NULLS LAST, id <dir>` order.
                    let (cmp, id_cmp) = if first_desc { ("<", "<") } else { (">", ">") };
                    binds.push(kuery::sql::Bind::Text(after_id.clone()));
                    let id_param = format!("${}", binds.len());
                    let after = if first_field == "id" {
                        format!("agent.id {id_cmp} {id_param}")
                    } else {
                        let key = agent_sort_key(&first_field)?;
                        if value.is_null() {
                            format!("({key} IS NULL AND agent.id {id_cmp} {id_param})")
                        } else {
                            let v = cursor_param(&first_field, value, &mut binds);
                            format!(
                                "({key} {cmp} {v} OR ({key} = {v} AND agent.id {id_cmp} {id_param}) OR {key} IS NULL)"
                            )
                        }
                    };
                    condition = format!("{condition} AND {after}");
                }
                let mut order = Vec::new();
                for (field, dir) in &query.sort {
                    if field == "id" {
                        continue;
                    }
                    let dir = match dir {
                        $crate::SortOrder::Asc => "ASC",
                        $crate::SortOrder::Desc => "DESC",
                    };
                    order.push(format!("{} {dir} NULLS LAST", agent_sort_key(field)?));
                }
                order.push(format!("agent.id {id_dir}"));
                let mut sql = format!("{} WHERE {condition} ORDER BY {}", agent_select(from), order.join(", "));
                if let Some(limit) = query.limit {
                    sql.push_str(&format!(" LIMIT {}", limit.min(i64::MAX as u64)));
                }
                if query.offset > 0 {
                    if query.limit.is_none() && $dialect == kuery::sql::Dialect::Sqlite {
                        sql.push_str(" LIMIT -1");
                    }
                    sql.push_str(&format!(" OFFSET {}", query.offset.min(i64::MAX as u64)));
                }
                let q = $crate::sql::bind_all!(sqlx::query(&sql), &binds);
                let rows = q.fetch_all(&mut *self.tx).await?;
                rows.iter().map(agent_from_row).collect()
            }

            async fn agent_count(&mut self, pit: Option<&str>, filter: &$crate::Filter) -> $crate::Result<u64> {
                use sqlx::Row;
                let (from, binds) = agent_source(pit);
                let rendered = kuery::sql::to_sql(filter, $dialect, "doc", binds)?;
                let sql = format!("SELECT COUNT(*) AS n FROM {from} WHERE {}", rendered.text);
                let q = $crate::sql::bind_all!(sqlx::query(&sql), &rendered.binds);
                let n: i64 = q.fetch_one(&mut *self.tx).await?.try_get("n")?;
                Ok(n.max(0) as u64)
            }

            async fn agent_pit_open(&mut self, pit: &str, expires_at: &str) -> $crate::Result<u64> {
                sqlx::query("INSERT INTO agent_pit_meta (pit_id, expires_at) VALUES ($1, $2)")
                    .bind(pit)
                    .bind(expires_at)
                    .execute(&mut *self.tx)
                    .await?;
                let res = sqlx::query(
                    "INSERT INTO agent_pit (pit_id, id, version, doc, policy_id, active, enrolled_at, last_checkin, \
                     last_checkin_status, policy_revision_idx, access_api_key_id, version_sort, hostname, status_flag) \
                     SELECT $1, id, version, doc, policy_id, active, enrolled_at, last_checkin, \
                     last_checkin_status, policy_revision_idx, access_api_key_id, version_sort, hostname, status_flag FROM agent",
                )
                .bind(pit)
                .execute(&mut *self.tx)
                .await?;
                Ok(res.rows_affected())
            }

            async fn agent_pit_keep_alive(&mut self, pit: &str, now: &str, expires_at: &str) -> $crate::Result<bool> {
                let res = sqlx::query("UPDATE agent_pit_meta SET expires_at = $3 WHERE pit_id = $1 AND expires_at > $2")
                    .bind(pit)
                    .bind(now)
                    .bind(expires_at)
                    .execute(&mut *self.tx)
                    .await?;
                Ok(res.rows_affected() > 0)
            }

            async fn agent_pit_sweep(&mut self, now: &str) -> $crate::Result<u64> {
                sqlx::query(
                    "DELETE FROM agent_pit WHERE pit_id IN (SELECT pit_id FROM agent_pit_meta WHERE expires_at <= $1)",
                )
                .bind(now)
                .execute(&mut *self.tx)
                .await?;
                let res = sqlx::query("DELETE FROM agent_pit_meta WHERE expires_at <= $1")
                    .bind(now)
                    .execute(&mut *self.tx)
                    .await?;
                Ok(res.rows_affected())
            }

            async fn agent_status_counts(&mut self, filter: &$crate::Filter) -> $crate::Result<Vec<(String, u64)>> {
                use sqlx::Row;
                let rendered = kuery::sql::to_sql(filter, $dialect, "doc", Vec::new())?;
                let sql = format!(
                    "SELECT {} AS status, COUNT(*) AS n FROM agent WHERE {} GROUP BY 1",
                    $status, rendered.text
                );
                let q = $crate::sql::bind_all!(sqlx::query(&sql), &rendered.binds);
                let rows = q.fetch_all(&mut *self.tx).await?;
                let mut out = Vec::with_capacity(rows.len());
                for row in rows {
                    let n: i64 = row.try_get("n")?;
                    out.push((row.try_get("status")?, n.max(0) as u64));
                }
                Ok(out)
            }

            async fn agent_touch(&mut self, ids: &[String], at: &str) -> $crate::Result<u64> {
                let mut total = 0;
                for chunk in ids.chunks(500) {
                    let placeholders: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
                    let sql = format!(
                        "UPDATE agent SET last_checkin = $1, doc = {} WHERE id IN ({})",
                        $touch_doc,
                        placeholders.join(", ")
                    );
                    let mut q = sqlx::query(&sql).bind(at);
                    for id in chunk {
                        q = q.bind(id);
                    }
                    total += q.execute(&mut *self.tx).await?.rows_affected();
                }
                Ok(total)
            }

            async fn action_insert(
                &mut self,
                action_id: &str,
                kind: &str,
                doc: &serde_json::Value,
                created_at: &str,
                expiration: Option<&str>,
            ) -> $crate::Result<()> {
                sqlx::query(concat!(
                    "INSERT INTO action (action_id, type, doc, created_at, expiration) VALUES ($1, $2, ",
                    $json_in,
                    ", $4, $5)"
                ))
                .bind(action_id)
                .bind(kind)
                .bind(doc.to_string())
                .bind(created_at)
                .bind(expiration)
                .execute(&mut *self.tx)
                .await?;
                Ok(())
            }

            async fn action_get(&mut self, action_id: &str) -> $crate::Result<Option<$crate::Doc>> {
                let sql = format!("SELECT action_id AS id, 1 AS version, {} AS doc FROM action WHERE action_id = $1", $json_out);
                let row = sqlx::query(&sql).bind(action_id).fetch_optional(&mut *self.tx).await?;
                row.as_ref().map(action_doc_from_row).transpose()
            }

            async fn action_get_for_agent(&mut self, action_id: &str, agent_id: &str) -> $crate::Result<Option<$crate::Doc>> {
                let sql = format!(
                    "SELECT a.action_id AS id, 1 AS version, {} AS doc FROM action a \
                     JOIN action_agent aa ON aa.action_id = a.action_id AND aa.agent_id = $2 WHERE a.action_id = $1",
                    $json_out.replace("doc", "a.doc")
                );
                let row = sqlx::query(&sql).bind(action_id).bind(agent_id).fetch_optional(&mut *self.tx).await?;
                row.as_ref().map(action_doc_from_row).transpose()
            }

            async fn action_update_doc(&mut self, action_id: &str, doc: &serde_json::Value) -> $crate::Result<()> {
                // `$json_in` names parameter 3 on both dialects; $2 is a placeholder to keep it so.
                sqlx::query(concat!("UPDATE action SET doc = ", $json_in, " WHERE action_id = $1 AND $2 = $2"))
                    .bind(action_id)
                    .bind(0_i64)
                    .bind(doc.to_string())
                    .execute(&mut *self.tx)
                    .await?;
                Ok(())
            }

            async fn action_target_like(&mut self, action_id: &str, like: &str) -> $crate::Result<Vec<String>> {
                use sqlx::Row;
                let rows = sqlx::query(
                    "INSERT INTO action_agent (action_id, agent_id) SELECT $1, agent_id FROM action_agent WHERE action_id = $2 \
                     ON CONFLICT (action_id, agent_id) DO NOTHING RETURNING agent_id",
                )
                .bind(action_id)
                .bind(like)
                .fetch_all(&mut *self.tx)
                .await?;
                rows.iter().map(|r| Ok(r.try_get("agent_id")?)).collect()
            }

            async fn action_list(&mut self, filter: &$crate::Filter, offset: u64, limit: u64) -> $crate::Result<Vec<$crate::Doc>> {
                let rendered = kuery::sql::to_sql(filter, $dialect, "doc", Vec::new())?;
                let sql = format!(
                    "SELECT action_id AS id, 1 AS version, {} AS doc FROM action WHERE {} ORDER BY created_at DESC, action_id DESC LIMIT {} OFFSET {}",
                    $json_out,
                    rendered.text,
                    limit.min(i64::MAX as u64),
                    offset.min(i64::MAX as u64)
                );
                let q = $crate::sql::bind_all!(sqlx::query(&sql), &rendered.binds);
                let rows = q.fetch_all(&mut *self.tx).await?;
                rows.iter().map(action_doc_from_row).collect()
            }

            async fn action_target(&mut self, action_id: &str, filter: &$crate::Filter) -> $crate::Result<Vec<String>> {
                use sqlx::Row;
                let rendered = kuery::sql::to_sql(filter, $dialect, "doc", vec![kuery::sql::Bind::Text(action_id.to_string())])?;
                let sql = format!(
                    "INSERT INTO action_agent (action_id, agent_id) SELECT $1, agent.id FROM agent WHERE {} \
                     ON CONFLICT (action_id, agent_id) DO NOTHING RETURNING agent_id",
                    rendered.text
                );
                let q = $crate::sql::bind_all!(sqlx::query(&sql), &rendered.binds);
                let rows = q.fetch_all(&mut *self.tx).await?;
                rows.iter().map(|r| Ok(r.try_get("agent_id")?)).collect()
            }

            async fn action_target_ids(
                &mut self,
                action_id: &str,
                ids: &[String],
                filter: &$crate::Filter,
            ) -> $crate::Result<Vec<String>> {
                use sqlx::Row;
                let prefix = vec![
                    kuery::sql::Bind::Text(action_id.to_string()),
                    kuery::sql::Bind::Text(serde_json::to_string(ids)?),
                ];
                let rendered = kuery::sql::to_sql(filter, $dialect, "doc", prefix)?;
                let listed = if $dialect == kuery::sql::Dialect::Postgres {
                    "SELECT jsonb_array_elements_text($2::jsonb)"
                } else {
                    "SELECT value FROM json_each($2)"
                };
                let sql = format!(
                    "INSERT INTO action_agent (action_id, agent_id) SELECT $1, agent.id FROM agent \
                     WHERE agent.id IN ({listed}) AND {} \
                     ON CONFLICT (action_id, agent_id) DO NOTHING RETURNING agent_id",
                    rendered.text
                );
                let q = $crate::sql::bind_all!(sqlx::query(&sql), &rendered.binds);
                let rows = q.fetch_all(&mut *self.tx).await?;
                rows.iter().map(|r| Ok(r.try_get("agent_id")?)).collect()
            }

            async fn action_pending(
                &mut self,
                agent_id: &str,
                after_seq: i64,
                now: &str,
                limit: u64,
            ) -> $crate::Result<Vec<(i64, $crate::Doc)>> {
                use sqlx::Row;
                let sql = format!(
                    "SELECT aa.seq AS seq, a.action_id AS id, 1 AS version, {} AS doc FROM action_agent aa \
                     JOIN action a ON a.action_id = aa.action_id \
                     WHERE aa.agent_id = $1 AND aa.seq > $2 AND (a.expiration IS NULL OR a.expiration > $3) \
                     AND NOT EXISTS (SELECT 1 FROM action_result r WHERE r.action_id = aa.action_id AND r.agent_id = aa.agent_id) \
                     ORDER BY aa.seq LIMIT {}",
                    "a.doc".to_string() + if $dialect == kuery::sql::Dialect::Postgres { "::text" } else { "" },
                    limit.min(i64::MAX as u64)
                );
                let rows = sqlx::query(&sql).bind(agent_id).bind(after_seq).bind(now).fetch_all(&mut *self.tx).await?;
                let mut out = Vec::with_capacity(rows.len());
                for row in &rows {
                    out.push((row.try_get("seq")?, action_doc_from_row(row)?));
                }
                Ok(out)
            }

            async fn agents_patch_for_action(
                &mut self,
                action_id: &str,
                after: Option<&str>,
                upto: Option<&str>,
                patch: &serde_json::Value,
            ) -> $crate::Result<u64> {
                let policy = patch.get("policy_id").and_then(|v| v.as_str()).map(String::from);
                let reset_revision = patch.get("policy_revision_idx").is_some_and(|v| v.is_null());
                let sql = format!(
                    "UPDATE agent SET version = version + 1, doc = {merged}, status_flag = {flag}, \
                     policy_id = CASE WHEN $2 IS NULL THEN policy_id ELSE $2 END, \
                     policy_revision_idx = CASE WHEN $3 THEN NULL ELSE policy_revision_idx END \
                     WHERE id IN (SELECT agent_id FROM action_agent WHERE action_id = $4 \
                     AND ($5 IS NULL OR agent_id > $5) AND ($6 IS NULL OR agent_id <= $6))",
                    merged = $merge_doc,
                    flag = $crate::agent_status::status_flag_sql($dialect, $merge_doc),
                );
                let res = sqlx::query(&sql)
                    .bind(patch.to_string())
                    .bind(policy)
                    .bind(reset_revision)
                    .bind(action_id)
                    .bind(after)
                    .bind(upto)
                    .execute(&mut *self.tx)
                    .await?;
                Ok(res.rows_affected())
            }

            async fn agent_ids(
                &mut self,
                filter: &$crate::Filter,
                after: Option<&str>,
                limit: u64,
            ) -> $crate::Result<Vec<String>> {
                use sqlx::Row;
                let mut rendered = kuery::sql::to_sql(filter, $dialect, "doc", Vec::new())?;
                let mut condition = rendered.text;
                if let Some(after) = after {
                    rendered.binds.push(kuery::sql::Bind::Text(after.to_string()));
                    condition = format!("({condition}) AND agent.id > ${}", rendered.binds.len());
                }
                let sql = format!(
                    "SELECT agent.id AS id FROM agent WHERE {condition} ORDER BY agent.id LIMIT {}",
                    limit.min(i64::MAX as u64)
                );
                let q = $crate::sql::bind_all!(sqlx::query(&sql), &rendered.binds);
                let rows = q.fetch_all(&mut *self.tx).await?;
                rows.iter().map(|r| Ok(r.try_get("id")?)).collect()
            }

            async fn job_insert(&mut self, action_id: &str, spec: &serde_json::Value, at: &str) -> $crate::Result<()> {
                // `$json_in` names parameter 3 on both dialects.
                sqlx::query(concat!(
                    "INSERT INTO bulk_job (action_id, updated_at, spec) VALUES ($1, $2, ",
                    $json_in,
                    ")"
                ))
                .bind(action_id)
                .bind(at)
                .bind(spec.to_string())
                .execute(&mut *self.tx)
                .await?;
                Ok(())
            }

            async fn job_get(&mut self, action_id: &str, lock: bool) -> $crate::Result<Option<$crate::BulkJob>> {
                use sqlx::Row;
                let sql = format!(
                    "SELECT action_id, {} AS spec, cursor, done FROM bulk_job WHERE action_id = $1{}",
                    if $dialect == kuery::sql::Dialect::Postgres { "spec::text" } else { "spec" },
                    if lock { $for_update } else { "" }
                );
                let Some(row) = sqlx::query(&sql).bind(action_id).fetch_optional(&mut *self.tx).await? else {
                    return Ok(None);
                };
                let spec: String = row.try_get("spec")?;
                Ok(Some($crate::BulkJob {
                    action_id: row.try_get("action_id")?,
                    spec: serde_json::from_str(&spec)?,
                    cursor: row.try_get("cursor")?,
                    done: row.try_get("done")?,
                }))
            }

            async fn job_advance(&mut self, action_id: &str, cursor: Option<&str>, done: bool, at: &str) -> $crate::Result<()> {
                sqlx::query("UPDATE bulk_job SET cursor = $2, done = $3, updated_at = $4 WHERE action_id = $1")
                    .bind(action_id)
                    .bind(cursor)
                    .bind(done)
                    .bind(at)
                    .execute(&mut *self.tx)
                    .await?;
                Ok(())
            }

            async fn agent_actions(
                &mut self,
                agent_id: &str,
                kind: &str,
                limit: u64,
            ) -> $crate::Result<Vec<($crate::Doc, Option<serde_json::Value>)>> {
                use sqlx::Row;
                let text = |col: &str| if $dialect == kuery::sql::Dialect::Postgres { format!("{col}::text") } else { col.to_string() };
                let sql = format!(
                    "SELECT a.action_id AS id, 1 AS version, {} AS doc, {} AS result FROM action_agent aa \
                     JOIN action a ON a.action_id = aa.action_id \
                     LEFT JOIN action_result r ON r.action_id = aa.action_id AND r.agent_id = aa.agent_id \
                     WHERE aa.agent_id = $1 AND a.type = $2 ORDER BY a.created_at DESC LIMIT {}",
                    text("a.doc"),
                    text("r.doc"),
                    limit.min(i64::MAX as u64)
                );
                let rows = sqlx::query(&sql).bind(agent_id).bind(kind).fetch_all(&mut *self.tx).await?;
                let mut out = Vec::with_capacity(rows.len());
                for row in &rows {
                    let result: Option<String> = row.try_get("result")?;
                    let result = result.map(|r| serde_json::from_str(&r)).transpose()?;
                    out.push((action_doc_from_row(row)?, result));
                }
                Ok(out)
            }

            async fn chunk_put(&mut self, upload_id: &str, n: i64, sha2: &str, data: &[u8]) -> $crate::Result<()> {
                sqlx::query(
                    "INSERT INTO file_chunk (upload_id, n, sha2, data) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (upload_id, n) DO UPDATE SET sha2 = excluded.sha2, data = excluded.data",
                )
                .bind(upload_id)
                .bind(n)
                .bind(sha2)
                .bind(data)
                .execute(&mut *self.tx)
                .await?;
                Ok(())
            }

            async fn chunk_list(&mut self, upload_id: &str) -> $crate::Result<Vec<(i64, String, i64)>> {
                use sqlx::Row;
                let rows = sqlx::query(
                    "SELECT n, sha2, CAST(LENGTH(data) AS BIGINT) AS len FROM file_chunk WHERE upload_id = $1 ORDER BY n",
                )
                .bind(upload_id)
                .fetch_all(&mut *self.tx)
                .await?;
                rows.iter()
                    .map(|r| Ok((r.try_get("n")?, r.try_get("sha2")?, r.try_get("len")?)))
                    .collect()
            }

            async fn chunk_get(&mut self, upload_id: &str, n: i64) -> $crate::Result<Option<Vec<u8>>> {
                use sqlx::Row;
                let row = sqlx::query("SELECT data FROM file_chunk WHERE upload_id = $1 AND n = $2")
                    .bind(upload_id)
                    .bind(n)
                    .fetch_optional(&mut *self.tx)
                    .await?;
                row.map(|r| Ok(r.try_get("data")?)).transpose()
            }

            async fn archive_put(&mut self, name: &str, version: &str, data: &[u8]) -> $crate::Result<()> {
                sqlx::query(
                    "INSERT INTO package_archive (name, version, data) VALUES ($1, $2, $3) \
                     ON CONFLICT (name, version) DO UPDATE SET data = excluded.data",
                )
                .bind(name)
                .bind(version)
                .bind(data)
                .execute(&mut *self.tx)
                .await?;
                Ok(())
            }

            async fn archive_get(&mut self, name: &str, version: &str) -> $crate::Result<Option<Vec<u8>>> {
                use sqlx::Row;
                let row = sqlx::query("SELECT data FROM package_archive WHERE name = $1 AND version = $2")
                    .bind(name)
                    .bind(version)
                    .fetch_optional(&mut *self.tx)
                    .await?;
                row.map(|r| Ok(r.try_get("data")?)).transpose()
            }

            async fn archives_delete(&mut self, name: &str) -> $crate::Result<u64> {
                let res = sqlx::query("DELETE FROM package_archive WHERE name = $1")
                    .bind(name)
                    .execute(&mut *self.tx)
                    .await?;
                Ok(res.rows_affected())
            }

            async fn status_sample_put(&mut self, at: &str, counts: &str) -> $crate::Result<bool> {
                let res = sqlx::query(
                    "INSERT INTO agent_status_history (at, counts) VALUES ($1, $2) ON CONFLICT (at) DO NOTHING",
                )
                .bind(at)
                .bind(counts)
                .execute(&mut *self.tx)
                .await?;
                Ok(res.rows_affected() == 1)
            }

            async fn status_sample_exists(&mut self, at: &str) -> $crate::Result<bool> {
                let row = sqlx::query("SELECT 1 FROM agent_status_history WHERE at = $1")
                    .bind(at)
                    .fetch_optional(&mut *self.tx)
                    .await?;
                Ok(row.is_some())
            }

            async fn status_samples(&mut self, since: &str) -> $crate::Result<Vec<(String, String)>> {
                use sqlx::Row;
                let rows = sqlx::query(
                    "SELECT at, counts FROM agent_status_history WHERE at >= $1 ORDER BY at",
                )
                .bind(since)
                .fetch_all(&mut *self.tx)
                .await?;
                rows.into_iter()
                    .map(|r| Ok((r.try_get("at")?, r.try_get("counts")?)))
                    .collect()
            }

            async fn status_samples_prune(&mut self, before: &str) -> $crate::Result<u64> {
                let res = sqlx::query("DELETE FROM agent_status_history WHERE at < $1")
                    .bind(before)
                    .execute(&mut *self.tx)
                    .await?;
                Ok(res.rows_affected())
            }

            async fn chunks_delete(&mut self, upload_id: &str) -> $crate::Result<u64> {
                let res = sqlx::query("DELETE FROM file_chunk WHERE upload_id = $1")
                    .bind(upload_id)
                    .execute(&mut *self.tx)
                    .await?;
                Ok(res.rows_affected())
            }

            async fn jobs_unfinished(&mut self, before: &str) -> $crate::Result<Vec<String>> {
                use sqlx::Row;
                let rows = sqlx::query(
                    "SELECT action_id FROM bulk_job WHERE done = $1 AND updated_at < $2 ORDER BY updated_at",
                )
                .bind(false)
                .bind(before)
                .fetch_all(&mut *self.tx)
                .await?;
                rows.iter().map(|r| Ok(r.try_get("action_id")?)).collect()
            }

            async fn action_result_insert(
                &mut self,
                action_id: &str,
                agent_id: &str,
                doc: &serde_json::Value,
                created_at: &str,
                error: Option<&str>,
            ) -> $crate::Result<bool> {
                let res = sqlx::query(concat!(
                    "INSERT INTO action_result (action_id, agent_id, doc, created_at, error) VALUES ($1, $2, ",
                    $json_in,
                    ", $4, $5) ON CONFLICT (action_id, agent_id) DO NOTHING"
                ))
                .bind(action_id)
                .bind(agent_id)
                .bind(doc.to_string())
                .bind(created_at)
                .bind(error)
                .execute(&mut *self.tx)
                .await?;
                Ok(res.rows_affected() > 0)
            }

            async fn action_counts(&mut self, action_id: &str) -> $crate::Result<(u64, u64, u64, Option<String>)> {
                use sqlx::Row;
                let targeted: i64 = sqlx::query("SELECT COUNT(*) AS n FROM action_agent WHERE action_id = $1")
                    .bind(action_id)
                    .fetch_one(&mut *self.tx)
                    .await?
                    .try_get("n")?;
                let row = sqlx::query(
                    "SELECT COUNT(*) AS n, COUNT(error) AS failed, MAX(created_at) AS latest FROM action_result WHERE action_id = $1",
                )
                .bind(action_id)
                .fetch_one(&mut *self.tx)
                .await?;
                let acks: i64 = row.try_get("n")?;
                let failed: i64 = row.try_get("failed")?;
                Ok((targeted.max(0) as u64, acks.max(0) as u64, failed.max(0) as u64, row.try_get("latest")?))
            }

            async fn action_errors(&mut self, action_id: &str, limit: u64) -> $crate::Result<Vec<(String, String, String)>> {
                use sqlx::Row;
                let sql = format!(
                    "SELECT agent_id, error, created_at FROM action_result WHERE action_id = $1 AND error IS NOT NULL \
                     ORDER BY created_at DESC LIMIT {}",
                    limit.min(i64::MAX as u64)
                );
                let rows = sqlx::query(&sql).bind(action_id).fetch_all(&mut *self.tx).await?;
                rows.iter()
                    .map(|r| Ok((r.try_get("agent_id")?, r.try_get("error")?, r.try_get("created_at")?)))
                    .collect()
            }

            async fn agent_versions_by_policy(
                &mut self,
                policy_id: &str,
            ) -> $crate::Result<Vec<(String, u64)>> {
                use sqlx::Row;
                let sql = format!(
                    "SELECT {} AS v, COUNT(*) AS n FROM agent WHERE policy_id = $1 AND active GROUP BY 1",
                    $dialect.json_text("doc", "agent.version")?
                );
                let rows = sqlx::query(&sql).bind(policy_id).fetch_all(&mut *self.tx).await?;
                let mut out = Vec::with_capacity(rows.len());
                for row in rows {
                    let v: Option<String> = row.try_get("v")?;
                    let n: i64 = row.try_get("n")?;
                    if let Some(v) = v {
                        out.push((v, n.max(0) as u64));
                    }
                }
                Ok(out)
            }

            async fn get_user(
                &mut self,
                username: &str,
            ) -> $crate::Result<Option<$crate::User>> {
                use sqlx::Row;
                let row = sqlx::query(
                    "SELECT username, password_hash, roles, created_at FROM app_user WHERE username = $1",
                )
                .bind(username)
                .fetch_optional(&mut *self.tx)
                .await?;
                let Some(row) = row else { return Ok(None) };
                let roles: String = row.try_get("roles")?;
                Ok(Some($crate::User {
                    username: row.try_get("username")?,
                    password_hash: row.try_get("password_hash")?,
                    roles: serde_json::from_str(&roles)?,
                    created_at: row.try_get("created_at")?,
                }))
            }

            async fn count_users(&mut self) -> $crate::Result<u64> {
                use sqlx::Row;
                let row = sqlx::query("SELECT COUNT(*) AS n FROM app_user")
                    .fetch_one(&mut *self.tx)
                    .await?;
                let n: i64 = row.try_get("n")?;
                Ok(n.max(0) as u64)
            }

            async fn put_user(&mut self, user: &$crate::User) -> $crate::Result<()> {
                sqlx::query(
                    "INSERT INTO app_user (username, password_hash, roles, created_at) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (username) DO UPDATE SET \
                     password_hash = excluded.password_hash, roles = excluded.roles",
                )
                .bind(&user.username)
                .bind(&user.password_hash)
                .bind(serde_json::to_string(&user.roles)?)
                .bind(&user.created_at)
                .execute(&mut *self.tx)
                .await?;
                Ok(())
            }

            async fn insert_api_key(&mut self, key: &$crate::ApiKey) -> $crate::Result<()> {
                sqlx::query(
                    "INSERT INTO api_key (id, name, key_hash, role, owner, created_at, expiration, invalidated) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(&key.id)
                .bind(&key.name)
                .bind(&key.key_hash)
                .bind(&key.role)
                .bind(&key.owner)
                .bind(&key.created_at)
                .bind(&key.expiration)
                .bind(key.invalidated)
                .execute(&mut *self.tx)
                .await?;
                Ok(())
            }

            async fn get_api_key(&mut self, id: &str) -> $crate::Result<Option<$crate::ApiKey>> {
                let row = sqlx::query("SELECT * FROM api_key WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&mut *self.tx)
                    .await?;
                row.as_ref().map(api_key_from_row).transpose()
            }

            async fn list_api_keys(&mut self) -> $crate::Result<Vec<$crate::ApiKey>> {
                let rows = sqlx::query("SELECT * FROM api_key ORDER BY created_at, id")
                    .fetch_all(&mut *self.tx)
                    .await?;
                rows.iter().map(api_key_from_row).collect()
            }

            async fn invalidate_api_keys(
                &mut self,
                ids: &[String],
            ) -> $crate::Result<Vec<String>> {
                let mut done = Vec::new();
                for id in ids {
                    let res = sqlx::query(
                        "UPDATE api_key SET invalidated = TRUE WHERE id = $1 AND NOT invalidated",
                    )
                    .bind(id)
                    .execute(&mut *self.tx)
                    .await?;
                    if res.rows_affected() > 0 {
                        done.push(id.clone());
                    }
                }
                Ok(done)
            }
        }
    };
}

/// Runs `work` in a task of its own and waits for it. Opening and committing transactions go
/// through here: a request dropped mid-way (its client went away) would otherwise hand a
/// connection back to the pool inside a transaction nobody owns; the task always finishes, and
/// a transaction it opened for nobody is dropped, which rolls it back.
pub(crate) async fn detached<T: Send + 'static>(
    work: impl std::future::Future<Output = std::result::Result<T, sqlx::Error>> + Send + 'static,
) -> crate::Result<T> {
    tokio::spawn(work)
        .await
        .map_err(|e| crate::StoreError::Busy(format!("database task: {e}")))?
        .map_err(Into::into)
}

pub(crate) use bind_all;
pub(crate) use impl_tx;
