//! A store wrapper that fails chosen writes, to prove that a failed write changes nothing.

use std::sync::Arc;

use async_trait::async_trait;
use fleet::store::{
    AgentRow, ApiKey, Doc, Filter, Kind, Mode, Query, Result, Store, StoreError, Tx, User,
};
use serde_json::Value;

/// Fails every `insert` of `kind` with a conflict, after the other writes of the transaction.
pub struct FailInserts {
    pub inner: Arc<dyn Store>,
    pub kind: Kind,
}

struct FailTx {
    inner: Box<dyn Tx>,
    kind: Kind,
}

#[async_trait]
impl Store for FailInserts {
    async fn begin(&self, mode: Mode) -> Result<Box<dyn Tx>> {
        Ok(Box::new(FailTx {
            inner: self.inner.begin(mode).await?,
            kind: self.kind,
        }))
    }
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }
    async fn close(&self) {
        self.inner.close().await
    }
}

#[async_trait]
impl Tx for FailTx {
    async fn commit(self: Box<Self>) -> Result<()> {
        self.inner.commit().await
    }
    async fn lock_kind(&mut self, kind: Kind) -> Result<()> {
        self.inner.lock_kind(kind).await
    }
    async fn notify_policy_change(&mut self, policy_id: &str, revision: i64) -> Result<()> {
        self.inner.notify_policy_change(policy_id, revision).await
    }
    async fn get(&mut self, kind: Kind, id: &str) -> Result<Option<Doc>> {
        self.inner.get(kind, id).await
    }
    async fn get_many(&mut self, kind: Kind, ids: &[String]) -> Result<Vec<Doc>> {
        self.inner.get_many(kind, ids).await
    }
    async fn insert(&mut self, kind: Kind, id: &str, body: &Value) -> Result<Doc> {
        if kind == self.kind {
            return Err(StoreError::AlreadyExists {
                kind: kind.as_str(),
                id: id.to_string(),
            });
        }
        self.inner.insert(kind, id, body).await
    }
    async fn update(&mut self, kind: Kind, id: &str, v: Option<i64>, body: &Value) -> Result<Doc> {
        self.inner.update(kind, id, v, body).await
    }
    async fn delete(&mut self, kind: Kind, id: &str) -> Result<bool> {
        self.inner.delete(kind, id).await
    }
    async fn find(&mut self, kind: Kind, query: &Query) -> Result<Vec<Doc>> {
        self.inner.find(kind, query).await
    }
    async fn count(&mut self, kind: Kind, filter: &Filter) -> Result<u64> {
        self.inner.count(kind, filter).await
    }
    async fn delete_where(&mut self, kind: Kind, filter: &Filter) -> Result<u64> {
        self.inner.delete_where(kind, filter).await
    }
    async fn agent_get(&mut self, id: &str) -> Result<Option<AgentRow>> {
        self.inner.agent_get(id).await
    }
    async fn agent_by_access_key(&mut self, key: &str) -> Result<Option<AgentRow>> {
        self.inner.agent_by_access_key(key).await
    }
    async fn agent_insert(&mut self, id: &str, body: &Value) -> Result<Doc> {
        self.inner.agent_insert(id, body).await
    }
    async fn agent_update(&mut self, id: &str, v: Option<i64>, body: &Value) -> Result<Doc> {
        self.inner.agent_update(id, v, body).await
    }
    async fn agent_delete(&mut self, id: &str) -> Result<bool> {
        self.inner.agent_delete(id).await
    }
    async fn agent_find(&mut self, pit: Option<&str>, query: &Query) -> Result<Vec<AgentRow>> {
        self.inner.agent_find(pit, query).await
    }
    async fn agent_count(&mut self, pit: Option<&str>, filter: &Filter) -> Result<u64> {
        self.inner.agent_count(pit, filter).await
    }
    async fn agent_pit_open(&mut self, pit: &str, expires_at: &str) -> Result<u64> {
        self.inner.agent_pit_open(pit, expires_at).await
    }
    async fn agent_pit_keep_alive(
        &mut self,
        pit: &str,
        now: &str,
        expires_at: &str,
    ) -> Result<bool> {
        self.inner.agent_pit_keep_alive(pit, now, expires_at).await
    }
    async fn agent_pit_sweep(&mut self, now: &str) -> Result<u64> {
        self.inner.agent_pit_sweep(now).await
    }
    async fn agent_status_counts(&mut self, filter: &Filter) -> Result<Vec<(String, u64)>> {
        self.inner.agent_status_counts(filter).await
    }
    async fn agent_touch(&mut self, ids: &[String], at: &str) -> Result<u64> {
        self.inner.agent_touch(ids, at).await
    }
    async fn put_agent(
        &mut self,
        id: &str,
        policy: Option<&str>,
        active: bool,
        doc: &Value,
    ) -> Result<()> {
        self.inner.put_agent(id, policy, active, doc).await
    }
    async fn action_insert(
        &mut self,
        id: &str,
        kind: &str,
        doc: &Value,
        at: &str,
        exp: Option<&str>,
    ) -> Result<()> {
        self.inner.action_insert(id, kind, doc, at, exp).await
    }
    async fn action_get(&mut self, id: &str) -> Result<Option<Doc>> {
        self.inner.action_get(id).await
    }
    async fn action_get_for_agent(&mut self, id: &str, agent: &str) -> Result<Option<Doc>> {
        self.inner.action_get_for_agent(id, agent).await
    }
    async fn action_update_doc(&mut self, id: &str, doc: &Value) -> Result<()> {
        self.inner.action_update_doc(id, doc).await
    }
    async fn action_target_like(&mut self, id: &str, like: &str) -> Result<Vec<String>> {
        self.inner.action_target_like(id, like).await
    }
    async fn action_list(&mut self, filter: &Filter, offset: u64, limit: u64) -> Result<Vec<Doc>> {
        self.inner.action_list(filter, offset, limit).await
    }
    async fn action_target(&mut self, id: &str, filter: &Filter) -> Result<Vec<String>> {
        self.inner.action_target(id, filter).await
    }
    async fn action_target_ids(
        &mut self,
        id: &str,
        ids: &[String],
        filter: &Filter,
    ) -> Result<Vec<String>> {
        self.inner.action_target_ids(id, ids, filter).await
    }
    async fn action_pending(
        &mut self,
        agent: &str,
        after: i64,
        now: &str,
        limit: u64,
    ) -> Result<Vec<(i64, Doc)>> {
        self.inner.action_pending(agent, after, now, limit).await
    }
    async fn agents_patch_for_action(
        &mut self,
        id: &str,
        after: Option<&str>,
        upto: Option<&str>,
        patch: &Value,
    ) -> Result<u64> {
        self.inner
            .agents_patch_for_action(id, after, upto, patch)
            .await
    }
    async fn agent_ids(
        &mut self,
        filter: &Filter,
        after: Option<&str>,
        limit: u64,
    ) -> Result<Vec<String>> {
        self.inner.agent_ids(filter, after, limit).await
    }
    async fn job_insert(&mut self, id: &str, spec: &Value, at: &str) -> Result<()> {
        self.inner.job_insert(id, spec, at).await
    }
    async fn job_get(&mut self, id: &str, lock: bool) -> Result<Option<fleet::store::BulkJob>> {
        self.inner.job_get(id, lock).await
    }
    async fn job_advance(
        &mut self,
        id: &str,
        cursor: Option<&str>,
        done: bool,
        at: &str,
    ) -> Result<()> {
        self.inner.job_advance(id, cursor, done, at).await
    }
    async fn agent_actions(
        &mut self,
        agent: &str,
        kind: &str,
        limit: u64,
    ) -> Result<Vec<(Doc, Option<Value>)>> {
        self.inner.agent_actions(agent, kind, limit).await
    }
    async fn chunk_put(&mut self, id: &str, n: i64, sha2: &str, data: &[u8]) -> Result<()> {
        self.inner.chunk_put(id, n, sha2, data).await
    }
    async fn chunk_list(&mut self, id: &str) -> Result<Vec<(i64, String, i64)>> {
        self.inner.chunk_list(id).await
    }
    async fn chunk_get(&mut self, id: &str, n: i64) -> Result<Option<Vec<u8>>> {
        self.inner.chunk_get(id, n).await
    }
    async fn chunks_delete(&mut self, id: &str) -> Result<u64> {
        self.inner.chunks_delete(id).await
    }
    async fn archive_put(&mut self, name: &str, version: &str, data: &[u8]) -> Result<()> {
        self.inner.archive_put(name, version, data).await
    }
    async fn archive_get(&mut self, name: &str, version: &str) -> Result<Option<Vec<u8>>> {
        self.inner.archive_get(name, version).await
    }
    async fn archives_delete(&mut self, name: &str) -> Result<u64> {
        self.inner.archives_delete(name).await
    }
    async fn status_sample_put(&mut self, at: &str, counts: &str) -> Result<bool> {
        self.inner.status_sample_put(at, counts).await
    }
    async fn status_sample_exists(&mut self, at: &str) -> Result<bool> {
        self.inner.status_sample_exists(at).await
    }
    async fn status_samples(&mut self, since: &str) -> Result<Vec<(String, String)>> {
        self.inner.status_samples(since).await
    }
    async fn status_samples_prune(&mut self, before: &str) -> Result<u64> {
        self.inner.status_samples_prune(before).await
    }
    async fn jobs_unfinished(&mut self, before: &str) -> Result<Vec<String>> {
        self.inner.jobs_unfinished(before).await
    }
    async fn action_result_insert(
        &mut self,
        id: &str,
        agent: &str,
        doc: &Value,
        at: &str,
        err: Option<&str>,
    ) -> Result<bool> {
        self.inner
            .action_result_insert(id, agent, doc, at, err)
            .await
    }
    async fn action_counts(&mut self, id: &str) -> Result<(u64, u64, u64, Option<String>)> {
        self.inner.action_counts(id).await
    }
    async fn action_errors(
        &mut self,
        id: &str,
        limit: u64,
    ) -> Result<Vec<(String, String, String)>> {
        self.inner.action_errors(id, limit).await
    }
    async fn count_agents_by_policy(
        &mut self,
        ids: &[String],
        active: bool,
    ) -> Result<Vec<(String, u64)>> {
        self.inner.count_agents_by_policy(ids, active).await
    }
    async fn agent_versions_by_policy(&mut self, id: &str) -> Result<Vec<(String, u64)>> {
        self.inner.agent_versions_by_policy(id).await
    }
    async fn get_user(&mut self, username: &str) -> Result<Option<User>> {
        self.inner.get_user(username).await
    }
    async fn count_users(&mut self) -> Result<u64> {
        self.inner.count_users().await
    }
    async fn put_user(&mut self, user: &User) -> Result<()> {
        self.inner.put_user(user).await
    }
    async fn insert_api_key(&mut self, key: &ApiKey) -> Result<()> {
        self.inner.insert_api_key(key).await
    }
    async fn get_api_key(&mut self, id: &str) -> Result<Option<ApiKey>> {
        self.inner.get_api_key(id).await
    }
    async fn list_api_keys(&mut self) -> Result<Vec<ApiKey>> {
        self.inner.list_api_keys().await
    }
    async fn invalidate_api_keys(&mut self, ids: &[String]) -> Result<Vec<String>> {
        self.inner.invalidate_api_keys(ids).await
    }
}
