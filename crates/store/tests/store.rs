//! One suite for both back ends: every test runs on SQLite, and on PostgreSQL when
//! `FLOTILLA_TEST_DATABASE_URL` is set (one schema per test).

mod common;

use std::sync::Arc;

use serde_json::json;
use store::{
    doc_field, ApiKey, Filter, Kind, Mode, PostgresStore, Query, RangeOp, Scalar, SortOrder, Store,
    StoreError, User,
};

struct Fixture {
    store: Arc<dyn Store>,
    _dir: Option<tempfile::TempDir>,
    pg: Option<(String, String)>,
}

impl Fixture {
    async fn sqlite() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        Fixture {
            store: store::open(&url).await.unwrap(),
            _dir: Some(dir),
            pg: None,
        }
    }

    async fn postgres() -> Option<Fixture> {
        let url = common::postgres_url()?;
        let schema = format!("s_{}", uuid::Uuid::new_v4().simple());
        let store = PostgresStore::connect(&url, Some(&schema)).await.unwrap();
        Some(Fixture {
            store: Arc::new(store),
            _dir: None,
            pg: Some((url, schema)),
        })
    }

    async fn done(self) {
        self.store.close().await;
        if let Some((url, schema)) = self.pg {
            PostgresStore::drop_schema(&url, &schema).await.unwrap();
        }
    }
}

/// A wildcard filter from a pattern where `*` is the wildcard.
fn wild(field: &str, pattern: &str) -> Filter {
    let mut pieces = Vec::new();
    for (i, part) in pattern.split('*').enumerate() {
        if i > 0 {
            pieces.push(kuery::Piece::Star);
        }
        if !part.is_empty() {
            pieces.push(kuery::Piece::Text(part.into()));
        }
    }
    Filter::Wildcard {
        target: doc_field(field),
        pattern: kuery::Pattern(pieces),
        array: false,
    }
}

macro_rules! both {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[tokio::test]
            async fn sqlite() {
                let f = Fixture::sqlite().await;
                ($body)(f.store.clone()).await;
                f.done().await;
            }
            #[cfg_attr(
                not(postgres_tests),
                ignore = "needs PostgreSQL: set FLOTILLA_TEST_DATABASE_URL"
            )]
            #[tokio::test]
            async fn postgres() {
                if let Some(f) = Fixture::postgres().await {
                    ($body)(f.store.clone()).await;
                    f.done().await;
                }
            }
        }
    };
}

both!(
    documents_round_trip_with_versions,
    |s: Arc<dyn Store>| async move {
        let mut tx = s.begin(Mode::Write).await.unwrap();
        let doc = tx
            .insert(Kind::AgentPolicy, "a", &json!({"name": "A", "n": 1}))
            .await
            .unwrap();
        assert_eq!(doc.version, 1);
        assert!(matches!(
            tx.insert(Kind::AgentPolicy, "a", &json!({})).await,
            Err(StoreError::AlreadyExists { .. })
        ));
        // Same id, other kind: no clash.
        tx.insert(Kind::EnrollmentApiKey, "a", &json!({"x": true}))
            .await
            .unwrap();
        let up = tx
            .update(Kind::AgentPolicy, "a", Some(1), &json!({"name": "A2"}))
            .await
            .unwrap();
        assert_eq!(up.version, 2);
        assert!(matches!(
            tx.update(Kind::AgentPolicy, "a", Some(1), &json!({})).await,
            Err(StoreError::Conflict { .. })
        ));
        assert!(matches!(
            tx.update(Kind::AgentPolicy, "zz", None, &json!({})).await,
            Err(StoreError::NotFound { .. })
        ));
        tx.commit().await.unwrap();
        let mut tx = s.begin(Mode::Read).await.unwrap();
        let got = tx.get(Kind::AgentPolicy, "a").await.unwrap().unwrap();
        assert_eq!(got.body, json!({"name": "A2"}));
        assert_eq!(got.version, 2);
        assert_eq!(
            tx.get_many(Kind::AgentPolicy, &["a".into(), "b".into()])
                .await
                .unwrap()
                .len(),
            1
        );
    }
);

both!(rollback_on_drop, |s: Arc<dyn Store>| async move {
    let mut tx = s.begin(Mode::Write).await.unwrap();
    tx.insert(Kind::AgentPolicy, "a", &json!({"name": "A"}))
        .await
        .unwrap();
    drop(tx);
    let mut tx = s.begin(Mode::Read).await.unwrap();
    assert!(tx.get(Kind::AgentPolicy, "a").await.unwrap().is_none());
});

both!(filters_sorts_and_pages, |s: Arc<dyn Store>| async move {
    let mut tx = s.begin(Mode::Write).await.unwrap();
    let docs = [
        (
            "1",
            json!({"name": "alpha", "rev": 3, "managed": true, "tags": ["x", "y"], "nested": {"k": "v"}}),
        ),
        (
            "2",
            json!({"name": "Bravo", "rev": 10, "managed": false, "tags": ["y"]}),
        ),
        (
            "3",
            json!({"name": "charlie", "rev": 2, "managed": false, "tags": [], "odd%_[?*": 1}),
        ),
        ("4", json!({"name": "al_pha%", "rev": 1, "managed": false})),
    ];
    for (id, d) in &docs {
        tx.insert(Kind::AgentPolicy, id, d).await.unwrap();
    }
    tx.commit().await.unwrap();
    let mut tx = s.begin(Mode::Read).await.unwrap();
    async fn ids(tx: &mut Box<dyn store::Tx>, filter: Filter) -> Vec<String> {
        let q = Query {
            filter,
            sort: vec![("name".into(), SortOrder::Asc)],
            ..Default::default()
        };
        tx.find(Kind::AgentPolicy, &q)
            .await
            .unwrap()
            .into_iter()
            .map(|d| d.id)
            .collect()
    }
    let eq = |f: &str, v: Scalar| Filter::Eq(doc_field(f), v);
    assert_eq!(
        ids(&mut tx, eq("name", Scalar::Str("alpha".into()))).await,
        ["1"]
    );
    assert_eq!(ids(&mut tx, eq("managed", Scalar::Bool(true))).await, ["1"]);
    assert_eq!(ids(&mut tx, eq("rev", Scalar::Num(10.0))).await, ["2"]);
    // Sorting is by code point, like an Elasticsearch keyword: "Bravo" before "alpha".
    assert_eq!(
        ids(
            &mut tx,
            Filter::AnyEq(doc_field("tags"), Scalar::Str("y".into()))
        )
        .await,
        ["2", "1"]
    );
    assert!(
        ids(&mut tx, eq("tags", Scalar::Str("y".into())))
            .await
            .is_empty(),
        "Eq is for scalars"
    );
    assert!(ids(
        &mut tx,
        Filter::AnyEq(doc_field("name"), Scalar::Str("alpha".into()))
    )
    .await
    .is_empty());
    assert_eq!(
        ids(&mut tx, eq("nested.k", Scalar::Str("v".into()))).await,
        ["1"]
    );
    assert_eq!(
        ids(&mut tx, Filter::Exists(doc_field("nested"))).await,
        ["1"]
    );
    assert_eq!(
        ids(
            &mut tx,
            Filter::Not(Box::new(Filter::Exists(doc_field("nested"))))
        )
        .await
        .len(),
        3
    );
    // Wildcards are case-sensitive and treat SQL pattern characters literally.
    assert_eq!(ids(&mut tx, wild("name", "*ha*")).await, ["4", "1", "3"]);
    assert_eq!(ids(&mut tx, wild("name", "b*")).await, Vec::<String>::new());
    assert_eq!(ids(&mut tx, wild("name", "al_*")).await, ["4"]);
    assert_eq!(ids(&mut tx, wild("name", "*%")).await, ["4"]);
    assert_eq!(
        ids(
            &mut tx,
            Filter::Range(doc_field("rev"), RangeOp::Gte, Scalar::Num(3.0))
        )
        .await,
        ["2", "1"]
    );
    assert_eq!(
        ids(
            &mut tx,
            Filter::Or(vec![
                eq("name", Scalar::Str("charlie".into())),
                eq("rev", Scalar::Num(1.0))
            ])
        )
        .await,
        ["4", "3"]
    );
    assert!(ids(
        &mut tx,
        Filter::And(vec![
            eq("rev", Scalar::Num(1.0)),
            eq("rev", Scalar::Num(2.0))
        ])
    )
    .await
    .is_empty());
    // Values are bound, never spliced.
    assert!(ids(&mut tx, eq("name", Scalar::Str("x' OR '1'='1".into())))
        .await
        .is_empty());
    assert!(tx
        .find(
            Kind::AgentPolicy,
            &Query {
                filter: Filter::Exists(doc_field("a'b")),
                ..Default::default()
            }
        )
        .await
        .is_err());

    // Numbers sort as numbers; paging windows the sorted list.
    let q = Query {
        sort: vec![("rev".into(), SortOrder::Desc)],
        offset: 1,
        limit: Some(2),
        ..Default::default()
    };
    let page: Vec<String> = tx
        .find(Kind::AgentPolicy, &q)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(page, ["1", "3"]);
    let q = Query {
        sort: vec![("rev".into(), SortOrder::Asc)],
        offset: 2,
        limit: None,
        ..Default::default()
    };
    assert_eq!(tx.find(Kind::AgentPolicy, &q).await.unwrap().len(), 2);
    assert_eq!(
        tx.count(Kind::AgentPolicy, &eq("managed", Scalar::Bool(false)))
            .await
            .unwrap(),
        3
    );
    assert_eq!(
        tx.count(Kind::EnrollmentApiKey, &Filter::All)
            .await
            .unwrap(),
        0
    );
    drop(tx);

    let mut tx = s.begin(Mode::Write).await.unwrap();
    assert_eq!(
        tx.delete_where(Kind::AgentPolicy, &eq("managed", Scalar::Bool(false)))
            .await
            .unwrap(),
        3
    );
    assert!(tx.delete(Kind::AgentPolicy, "1").await.unwrap());
    assert!(!tx.delete(Kind::AgentPolicy, "1").await.unwrap());
    tx.commit().await.unwrap();
});

both!(agents_users_and_api_keys, |s: Arc<dyn Store>| async move {
    let mut tx = s.begin(Mode::Write).await.unwrap();
    tx.put_agent(
        "a1",
        Some("p1"),
        true,
        &json!({"agent": {"version": "9.1.0"}}),
    )
    .await
    .unwrap();
    tx.put_agent(
        "a2",
        Some("p1"),
        false,
        &json!({"agent": {"version": "9.1.0"}}),
    )
    .await
    .unwrap();
    tx.put_agent("a3", Some("p2"), true, &json!({}))
        .await
        .unwrap();
    assert_eq!(
        tx.count_agents_by_policy(&["p1".into(), "p2".into(), "p3".into()], true)
            .await
            .unwrap(),
        vec![("p1".into(), 1), ("p2".into(), 1), ("p3".into(), 0)]
    );
    assert_eq!(
        tx.count_agents_by_policy(&["p1".into()], false)
            .await
            .unwrap(),
        vec![("p1".into(), 2)]
    );
    assert_eq!(
        tx.agent_versions_by_policy("p1").await.unwrap(),
        vec![("9.1.0".into(), 1)]
    );

    assert_eq!(tx.count_users().await.unwrap(), 0);
    let user = User {
        username: "u".into(),
        password_hash: "h".into(),
        roles: vec!["superuser".into()],
        created_at: "t".into(),
    };
    tx.put_user(&user).await.unwrap();
    tx.put_user(&User {
        password_hash: "h2".into(),
        ..user.clone()
    })
    .await
    .unwrap();
    assert_eq!(tx.get_user("u").await.unwrap().unwrap().password_hash, "h2");
    assert_eq!(tx.count_users().await.unwrap(), 1);

    let key = ApiKey {
        id: "k1".into(),
        name: "n".into(),
        key_hash: "hash".into(),
        role: "fleet-read".into(),
        owner: "u".into(),
        created_at: "2024-01-01T00:00:00.000Z".into(),
        expiration: None,
        invalidated: false,
    };
    tx.insert_api_key(&key).await.unwrap();
    tx.commit().await.unwrap();
    // A failed statement aborts a PostgreSQL transaction, so the duplicate gets its own.
    let mut tx = s.begin(Mode::Write).await.unwrap();
    assert!(tx.insert_api_key(&key).await.is_err(), "ids are unique");
    drop(tx);
    let mut tx = s.begin(Mode::Write).await.unwrap();
    assert_eq!(tx.get_api_key("k1").await.unwrap().unwrap(), key);
    assert_eq!(
        tx.invalidate_api_keys(&["k1".into(), "nope".into()])
            .await
            .unwrap(),
        vec!["k1".to_string()]
    );
    assert!(tx
        .invalidate_api_keys(&["k1".into()])
        .await
        .unwrap()
        .is_empty());
    assert!(tx.list_api_keys().await.unwrap()[0].invalidated);
    tx.commit().await.unwrap();
});

both!(
    statuses_the_document_decides_follow_every_write,
    |s: Arc<dyn Store>| async move {
        let now = "2999-01-01T00:00:00.000Z"; // never offline nor inactive
        let base = json!({
            "active": true, "policy_id": "p", "enrolled_at": now, "last_checkin": now,
            "last_checkin_status": "online", "policy_revision_idx": 1,
        });
        let with = |extra: serde_json::Value| {
            let mut d = base.clone();
            d.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            d
        };
        let cases = [
            ("online", json!({})),
            (
                "uninstalled",
                json!({"audit_unenrolled_reason": "uninstall", "unenrollment_started_at": now}),
            ),
            ("orphaned", json!({"audit_unenrolled_reason": "orphaned"})),
            (
                "updating",
                json!({"upgrade_started_at": now, "unenrollment_started_at": now}),
            ),
            (
                "online",
                json!({"upgrade_started_at": now, "upgraded_at": now}),
            ),
            ("unenrolling", json!({"unenrollment_started_at": now})),
            (
                "online",
                json!({"unenrollment_started_at": null, "upgrade_started_at": null}),
            ),
        ];
        let mut tx = s.begin(Mode::Write).await.unwrap();
        for (i, (_, extra)) in cases.iter().enumerate() {
            tx.agent_insert(&format!("a{i}"), &with(extra.clone()))
                .await
                .unwrap();
        }
        // Updates move the status too: a0 becomes uninstalled.
        tx.agent_update("a0", None, &with(cases[1].1.clone()))
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let mut tx = s.begin(Mode::Read).await.unwrap();
        for (i, (status, _)) in cases.iter().enumerate() {
            let want = if i == 0 { "uninstalled" } else { status };
            let row = tx.agent_get(&format!("a{i}")).await.unwrap().unwrap();
            assert_eq!(row.status, want, "a{i}");
        }
        drop(tx);
        // A patch applied in SQL (bulk actions) recomputes it from the merged document.
        let mut tx = s.begin(Mode::Write).await.unwrap();
        tx.action_insert("act", "UPGRADE", &json!({}), now, None)
            .await
            .unwrap();
        let ids: Vec<String> = ["a5", "a6"].iter().map(|s| s.to_string()).collect();
        tx.action_target_ids("act", &ids, &Filter::All)
            .await
            .unwrap();
        tx.agents_patch_for_action(
            "act",
            None,
            None,
            &json!({"upgrade_started_at": now, "upgraded_at": null}),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        let mut tx = s.begin(Mode::Read).await.unwrap();
        for id in ["a5", "a6"] {
            let row = tx.agent_get(id).await.unwrap().unwrap();
            assert_eq!(row.status, "updating", "{id} after the patch");
        }
    }
);
