//! Packages (Kibana's EPM): where packages come from (local directories, uploads, the Elastic
//! Package Registry), which are installed, and the `/epm` reads. Installing a package stores its
//! archive in the store (so every node sharing it can compile its templates) and an
//! `epm-packages` document; Flotilla has no Elasticsearch, so no index templates, pipelines or
//! dashboards are installed and the asset lists are empty.

use packages::{Package, PackageError, Registry, RegistryError};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};
use store::{Kind, Mode, Tx};

use crate::auth::Principal;
use crate::error::{FleetError, Result};
use crate::time::now;
use crate::Fleet;

/// Packages Kibana cannot add more than one policy of per agent policy (its "limited" list
/// is computed from `multiple: false` policy templates).
type Key = (String, String);

/// Every source of packages this node knows.
pub struct PackageSources {
    /// Packages found under `--package-dir`, by (name, version).
    local: BTreeMap<Key, Arc<Package>>,
    registry: Option<Registry>,
    /// Parsed archives (from the store or the registry), so templates are parsed once.
    parsed: Mutex<HashMap<Key, Arc<Package>>>,
}

impl PackageSources {
    /// Scans `package_dir` (each subfolder `<name>-<version>` one package) and sets up the
    /// registry client with its cache under `cache_dir`. A folder that is not a valid package is
    /// logged and skipped.
    pub fn load(
        package_dir: Option<&Path>,
        registry_url: Option<&str>,
        cache_dir: Option<&Path>,
    ) -> PackageSources {
        let mut local = BTreeMap::new();
        if let Some(dir) = package_dir {
            match std::fs::read_dir(dir) {
                Ok(entries) => {
                    for entry in entries.flatten() {
                        let path = entry.path();
                        if !path.is_dir() || !path.join("manifest.yml").is_file() {
                            continue;
                        }
                        match Package::from_dir(&path) {
                            Ok(p) => {
                                tracing::info!(package = %p.name, version = %p.version, "local package");
                                local.insert((p.name.clone(), p.version.clone()), Arc::new(p));
                            }
                            Err(e) => {
                                tracing::warn!(path = %path.display(), error = %e, "not a valid package; skipped")
                            }
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(path = %dir.display(), error = %e, "cannot read the package directory")
                }
            }
        }
        let registry = registry_url
            .filter(|u| !u.is_empty() && *u != "none" && *u != "off")
            .map(|u| {
                let cache = cache_dir
                    .map(|d| d.join("registry-cache"))
                    .unwrap_or_else(|| std::env::temp_dir().join("flotilla-registry-cache"));
                Registry::new(u, &cache)
            });
        PackageSources {
            local,
            registry,
            parsed: Mutex::default(),
        }
    }

    fn cached(&self, name: &str, version: &str) -> Option<Arc<Package>> {
        if let Some(p) = self.local.get(&(name.to_string(), version.to_string())) {
            return Some(p.clone());
        }
        self.parsed
            .lock()
            .expect("package cache lock")
            .get(&(name.to_string(), version.to_string()))
            .cloned()
    }

    fn remember(&self, p: Package) -> Arc<Package> {
        let p = Arc::new(p);
        self.parsed
            .lock()
            .expect("package cache lock")
            .insert((p.name.clone(), p.version.clone()), p.clone());
        p
    }

    fn local_versions(&self, name: &str) -> Vec<Arc<Package>> {
        self.local
            .values()
            .filter(|p| p.name == name)
            .cloned()
            .collect()
    }
}

fn package_error(e: PackageError) -> FleetError {
    FleetError::BadRequest(e.to_string())
}

fn registry_error(e: RegistryError) -> FleetError {
    match e {
        RegistryError::NotFound(m) => FleetError::NotFound(m),
        RegistryError::Unavailable(m) => FleetError::BadRequest(m),
    }
}

/// Every route that names a package checks the name and version first, as the package spec
/// defines them (they reach file names and registry URLs): a name no package can have is not
/// found, as Kibana answers for a name the registry does not know; a version that is not semver
/// is Kibana's 400.
pub(crate) fn check_name_and_version(name: &str, version: Option<&str>) -> Result<()> {
    if !packages::is_valid_name(name) {
        return Err(FleetError::NotFound(format!(
            "[{name}] package not found in registry"
        )));
    }
    if version.is_some_and(|v| !packages::is_valid_version(v)) {
        return Err(FleetError::BadRequest(
            "Package version is not a valid semver".into(),
        ));
    }
    Ok(())
}

fn is_prerelease(version: &str) -> bool {
    semver::Version::parse(version).is_ok_and(|v| !v.pre.is_empty())
}

fn newest<'a>(versions: impl Iterator<Item = &'a str>) -> Option<String> {
    versions
        .filter_map(|v| semver::Version::parse(v).ok())
        .max()
        .map(|v| v.to_string())
}

/// The `epm-packages` document Kibana keeps per installed package.
fn installation(p: &Package, source: &str, who: &Principal, at: &str) -> Value {
    json!({
        "name": p.name,
        "version": p.version,
        "title": p.title,
        "type": p.kind,
        "install_status": "installed",
        "install_source": source,
        "install_version": p.version,
        "install_started_at": at,
        "installed_at": at,
        "installed_by": who.username,
        "installed_kibana": [],
        "installed_es": [],
        "es_index_patterns": {},
        "package_assets": [],
        "verification_status": "unverified",
        "keep_policies_up_to_date": false,
        "installed_kibana_space_id": "default",
    })
}

/// How an uploaded package is archived (its `Content-Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveFormat {
    /// `application/zip`.
    Zip,
    /// `application/gzip`: a gzipped tar.
    TarGz,
}

/// Kibana's `installationInfo` of a package item.
fn installation_info(doc: &Value) -> Value {
    let mut info = doc.clone();
    if let Some(o) = info.as_object_mut() {
        o.remove("title");
        o.insert("created_at".into(), doc["installed_at"].clone());
        o.insert("updated_at".into(), doc["installed_at"].clone());
        o.insert("namespaces".into(), json!([]));
        o.insert("experimental_data_stream_features".into(), json!([]));
    }
    info
}

impl Fleet {
    /// A package version, from wherever it is: local directories, the store (installed or
    /// uploaded), then the registry.
    pub async fn package(&self, name: &str, version: &str) -> Result<Arc<Package>> {
        check_name_and_version(name, Some(version))?;
        if let Some(p) = self.packages.cached(name, version) {
            return Ok(p);
        }
        let stored = {
            let mut tx = self.store.begin(Mode::Read).await?;
            tx.archive_get(name, version).await?
        };
        if let Some(bytes) = stored {
            let p = Package::from_zip(&bytes).map_err(package_error)?;
            return Ok(self.packages.remember(p));
        }
        let Some(registry) = &self.packages.registry else {
            return Err(FleetError::NotFound(format!(
                "{name}-{version} package not found: it is in no package directory, was not uploaded, and no package registry is configured"
            )));
        };
        let bytes = registry.archive(name, version).await.map_err(|e| match e {
            RegistryError::NotFound(_) => {
                FleetError::NotFound(format!("{name}-{version} package not found in registry"))
            }
            other => registry_error(other),
        })?;
        let p = Package::from_zip(&bytes).map_err(package_error)?;
        if p.name != name || p.version != version {
            return Err(FleetError::BadRequest(format!(
                "The registry served {}-{} for {name}-{version}",
                p.name, p.version
            )));
        }
        Ok(self.packages.remember(p))
    }

    /// The installed version of a package, if any.
    pub(crate) async fn installed(tx: &mut dyn Tx, name: &str) -> Result<Option<Value>> {
        Ok(tx.get(Kind::Package, name).await?.map(|d| d.body))
    }

    /// The newest version any source offers (pre-releases only with `prerelease`).
    pub async fn latest_package_version(&self, name: &str, prerelease: bool) -> Result<String> {
        check_name_and_version(name, None)?;
        let mut candidates: Vec<String> = self
            .packages
            .local_versions(name)
            .iter()
            .map(|p| p.version.clone())
            .collect();
        {
            let mut tx = self.store.begin(Mode::Read).await?;
            if let Some(doc) = Self::installed(tx.as_mut(), name).await? {
                if let Some(v) = doc["version"].as_str() {
                    candidates.push(v.to_string());
                }
            }
        }
        if let Some(registry) = &self.packages.registry {
            match registry
                .search(&[
                    ("package", name.to_string()),
                    ("prerelease", prerelease.to_string()),
                ])
                .await
            {
                Ok(found) => candidates.extend(
                    found
                        .iter()
                        .filter_map(|e| e["version"].as_str().map(str::to_string)),
                ),
                Err(e) if candidates.is_empty() => return Err(registry_error(e)),
                Err(e) => {
                    tracing::warn!(error = %e, "registry search failed; using local packages")
                }
            }
        }
        newest(
            candidates
                .iter()
                .filter(|v| prerelease || !is_prerelease(v))
                .map(String::as_str),
        )
        .ok_or_else(|| FleetError::NotFound(format!("[{name}] package not found in registry")))
    }

    /// Records a package as installed inside the caller's transaction (used by package policy
    /// creation, which installs what it needs). Returns whether anything changed.
    pub(crate) async fn install_in_tx(
        &self,
        tx: &mut dyn Tx,
        who: &Principal,
        p: &Package,
        source: &str,
        force: bool,
    ) -> Result<bool> {
        tx.lock_kind(Kind::Package).await?;
        let existing = tx.get(Kind::Package, &p.name).await?;
        if let Some(doc) = &existing {
            if doc.body["version"] == json!(p.version) && !force {
                return Ok(false);
            }
        }
        let mut body = installation(p, source, who, &now());
        // An upgrade remembers what it replaced, for a rollback; a downgrade (the rollback
        // itself) forgets it.
        if let Some(old) = existing.as_ref().and_then(|d| d.body["version"].as_str()) {
            let newer = matches!(
                (semver::Version::parse(&p.version), semver::Version::parse(old)),
                (Ok(new), Ok(old)) if new > old
            );
            if newer {
                body["previous_version"] = json!(old);
            }
        }
        tx.archive_put(&p.name, &p.version, &p.to_zip()).await?;
        match existing {
            Some(doc) => {
                tx.update(Kind::Package, &p.name, Some(doc.version), &body)
                    .await?;
            }
            None => {
                tx.insert(Kind::Package, &p.name, &body).await?;
            }
        }
        Ok(true)
    }

    /// `POST /epm/packages/{name}/{version?}`: installs from a local directory or the registry.
    pub async fn install_package(
        &self,
        who: &Principal,
        name: &str,
        version: Option<&str>,
        prerelease: bool,
        force: bool,
    ) -> Result<Value> {
        let version = match version {
            Some(v) => {
                if semver::Version::parse(v).is_err() {
                    return Err(FleetError::BadRequest(format!(
                        "Invalid package version {v}: not semver"
                    )));
                }
                v.to_string()
            }
            None => self.latest_package_version(name, prerelease).await?,
        };
        let p = self.package(name, &version).await?;
        let source = if self.packages.cached(name, &version).is_some()
            && self
                .packages
                .local
                .contains_key(&(name.to_string(), version.clone()))
        {
            "local"
        } else {
            "registry"
        };
        let mut tx = self.store.begin(Mode::Write).await?;
        let changed = self
            .install_in_tx(tx.as_mut(), who, &p, source, force)
            .await?;
        tx.commit().await?;
        if changed {
            tracing::info!(package = %name, %version, source, "package installed");
        }
        Ok(json!({ "items": [], "_meta": { "install_source": source, "name": name } }))
    }

    /// `POST /epm/packages` with a zip or gzipped tar body: validates and installs the uploaded
    /// archive (kept as a zip whatever it came as).
    pub async fn upload_package(
        &self,
        who: &Principal,
        archive: &[u8],
        format: ArchiveFormat,
    ) -> Result<Value> {
        let p = match format {
            ArchiveFormat::Zip => Package::from_zip(archive),
            ArchiveFormat::TarGz => Package::from_tar_gz(archive),
        }
        .map_err(package_error)?;
        let mut tx = self.store.begin(Mode::Write).await?;
        self.install_in_tx(tx.as_mut(), who, &p, "upload", true)
            .await?;
        tx.commit().await?;
        let name = p.name.clone();
        tracing::info!(package = %p.name, version = %p.version, "package uploaded");
        self.packages.remember(p);
        Ok(json!({ "items": [], "_meta": { "install_source": "upload", "name": name } }))
    }

    /// `POST /epm/packages/_bulk`: installs each named package; failures are per item.
    pub async fn bulk_install_packages(
        &self,
        who: &Principal,
        body: &crate::epm_requests::BulkInstallPackages,
        prerelease: bool,
    ) -> Result<Value> {
        let force = body.force.unwrap_or(false);
        let mut items = Vec::new();
        for entry in &body.packages {
            let (name, version) = (entry.name().to_string(), entry.version());
            match self
                .install_package(who, &name, version, prerelease, force)
                .await
            {
                Ok(res) => {
                    let installed = {
                        let mut tx = self.store.begin(Mode::Read).await?;
                        Self::installed(tx.as_mut(), &name).await?
                    };
                    items.push(json!({
                        "name": name,
                        "version": installed.as_ref().map(|d| d["version"].clone()).unwrap_or(Value::Null),
                        "result": {
                            "assets": [],
                            "status": "installed",
                            "installType": "install",
                            "installSource": res["_meta"]["install_source"],
                        },
                    }))
                }
                Err(e) => items.push(json!({
                    "name": name,
                    "statusCode": crate::error::status_code(&e),
                    "error": { "message": e.to_string() },
                })),
            }
        }
        Ok(json!({ "items": items }))
    }

    /// `DELETE /epm/packages/{name}/{version?}`: refused while package policies use it.
    pub async fn uninstall_package(
        &self,
        name: &str,
        version: Option<&str>,
        force: bool,
    ) -> Result<Value> {
        let mut tx = self.store.begin(Mode::Write).await?;
        tx.lock_kind(Kind::Package).await?;
        let Some(doc) = tx.get(Kind::Package, name).await? else {
            return Err(FleetError::BadRequest(format!("{name} is not installed")));
        };
        if let Some(v) = version {
            if doc.body["version"] != json!(v) {
                return Err(FleetError::BadRequest(format!(
                    "{name}-{v} is not installed (installed: {})",
                    doc.body["version"].as_str().unwrap_or_default()
                )));
            }
        }
        let used = tx
            .count(
                Kind::PackagePolicy,
                &store::Filter::Eq(
                    store::doc_field("package.name"),
                    store::Scalar::Str(name.into()),
                ),
            )
            .await?;
        if used > 0 && !force {
            return Err(FleetError::BadRequest(
                "Unable to remove package with existing package policy(s) in use by agent(s)"
                    .into(),
            ));
        }
        tx.delete(Kind::Package, name).await?;
        tx.archives_delete(name).await?;
        tx.commit().await?;
        tracing::info!(package = %name, "package uninstalled");
        Ok(json!({ "items": [] }))
    }

    /// Every package version this node can offer, newest per name: registry search results
    /// (when the registry answers), local packages and installed packages.
    async fn catalog(&self, prerelease: bool, category: Option<&str>) -> Result<Vec<Value>> {
        let mut by_name: BTreeMap<String, Value> = BTreeMap::new();
        let mut offer = |entry: Value| {
            let name = entry["name"].as_str().unwrap_or_default().to_string();
            let version = entry["version"].as_str().unwrap_or_default();
            if !prerelease && is_prerelease(version) {
                return;
            }
            let newer = match by_name.get(&name) {
                None => true,
                Some(old) => {
                    let old = semver::Version::parse(old["version"].as_str().unwrap_or("0.0.0"));
                    let new = semver::Version::parse(version);
                    matches!((old, new), (Ok(o), Ok(n)) if n > o)
                }
            };
            if newer {
                by_name.insert(name, entry);
            }
        };
        if let Some(registry) = &self.packages.registry {
            let mut q = vec![("prerelease", prerelease.to_string())];
            if let Some(c) = category {
                q.push(("category", c.to_string()));
            }
            match registry.search(&q).await {
                Ok(found) => found.into_iter().for_each(&mut offer),
                Err(e) => {
                    tracing::warn!(error = %e, "registry search failed; listing local and installed packages")
                }
            }
        }
        for p in self.packages.local.values() {
            offer(p.search_entry());
        }
        let installed = self.installed_docs().await?;
        for doc in installed.values() {
            let (name, version) = (
                doc["name"].as_str().unwrap_or_default(),
                doc["version"].as_str().unwrap_or_default(),
            );
            if let Ok(p) = self.package(name, version).await {
                offer(p.search_entry());
            }
        }
        let mut items: Vec<Value> = by_name.into_values().collect();
        if let Some(c) = category {
            items.retain(|e| {
                e["categories"]
                    .as_array()
                    .is_some_and(|cs| cs.iter().any(|x| x == c))
                    || e["policy_templates"].as_array().is_some_and(|ts| {
                        ts.iter().any(|t| {
                            t["categories"]
                                .as_array()
                                .is_some_and(|cs| cs.iter().any(|x| x == c))
                        })
                    })
            });
        }
        Ok(items)
    }

    async fn installed_docs(&self) -> Result<BTreeMap<String, Value>> {
        let mut tx = self.store.begin(Mode::Read).await?;
        let docs = tx.find(Kind::Package, &store::Query::default()).await?;
        Ok(docs.into_iter().map(|d| (d.id, d.body)).collect())
    }

    /// `GET /epm/packages`.
    pub async fn list_packages(
        &self,
        category: Option<&str>,
        prerelease: bool,
        exclude_install_status: bool,
        with_policy_count: bool,
    ) -> Result<Value> {
        let installed = self.installed_docs().await?;
        let counts = if with_policy_count {
            self.package_policy_counts().await?
        } else {
            HashMap::new()
        };
        let mut items = Vec::new();
        for mut entry in self.catalog(prerelease, category).await? {
            let name = entry["name"].as_str().unwrap_or_default().to_string();
            entry["id"] = json!(name);
            if !exclude_install_status {
                match installed.get(&name) {
                    Some(doc) => {
                        entry["status"] = json!("installed");
                        entry["installationInfo"] = installation_info(doc);
                        entry["savedObject"] = json!({
                            "id": name, "type": Kind::Package.as_str(),
                            "attributes": doc, "references": [],
                        });
                    }
                    None => entry["status"] = json!("not_installed"),
                }
            }
            if with_policy_count {
                entry["packagePoliciesInfo"] =
                    json!({ "count": counts.get(&name).copied().unwrap_or(0) });
            }
            items.push(entry);
        }
        items.sort_by(|a, b| {
            let t = |v: &Value| v["title"].as_str().unwrap_or_default().to_lowercase();
            t(a).cmp(&t(b))
        });
        Ok(json!({ "items": items }))
    }

    async fn package_policy_counts(&self) -> Result<HashMap<String, u64>> {
        let mut tx = self.store.begin(Mode::Read).await?;
        let docs = tx
            .find(Kind::PackagePolicy, &store::Query::default())
            .await?;
        let mut counts = HashMap::new();
        for d in docs {
            if let Some(n) = d.body["package"]["name"].as_str() {
                *counts.entry(n.to_string()).or_insert(0) += 1;
            }
        }
        Ok(counts)
    }

    /// `GET /epm/categories`.
    pub async fn package_categories(
        &self,
        prerelease: bool,
        include_policy_templates: bool,
    ) -> Result<Value> {
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        let mut titles: HashMap<String, String> = HashMap::new();
        if let Some(registry) = &self.packages.registry {
            let q = [
                ("prerelease", prerelease.to_string()),
                (
                    "include_policy_templates",
                    include_policy_templates.to_string(),
                ),
            ];
            if let Ok(found) = registry.categories(&q).await {
                for c in found {
                    if let (Some(id), Some(title)) = (c["id"].as_str(), c["title"].as_str()) {
                        titles.insert(id.to_string(), title.to_string());
                    }
                }
            }
        }
        for entry in self.catalog(prerelease, None).await? {
            let mut cats: Vec<String> = entry["categories"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c.as_str().map(str::to_string))
                .collect();
            if include_policy_templates {
                for t in entry["policy_templates"].as_array().into_iter().flatten() {
                    cats.extend(
                        t["categories"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|c| c.as_str().map(str::to_string)),
                    );
                }
            }
            cats.sort();
            cats.dedup();
            for c in cats {
                *counts.entry(c).or_insert(0) += 1;
            }
        }
        let items: Vec<Value> = counts
            .into_iter()
            .map(|(id, count)| {
                let title = titles
                    .get(&id)
                    .cloned()
                    .unwrap_or_else(|| category_title(&id));
                json!({ "id": id, "title": title, "count": count })
            })
            .collect();
        Ok(json!({ "items": items }))
    }

    /// `GET /epm/packages/{name}/{version?}`: the package info with its install status.
    pub async fn package_info(
        &self,
        name: &str,
        version: Option<&str>,
        prerelease: bool,
        with_metadata: bool,
    ) -> Result<Value> {
        check_name_and_version(name, version)?;
        let installed = {
            let mut tx = self.store.begin(Mode::Read).await?;
            Self::installed(tx.as_mut(), name).await?
        };
        let latest = self.latest_package_version(name, prerelease).await.ok();
        let version = match version {
            Some(v) => v.to_string(),
            None => installed
                .as_ref()
                .and_then(|d| d["version"].as_str().map(str::to_string))
                .or_else(|| latest.clone())
                .ok_or_else(|| {
                    FleetError::NotFound(format!("[{name}] package not found in registry"))
                })?,
        };
        let p = self.package(name, &version).await?;
        let mut item = p.info();
        item["id"] = json!(name);
        item["latestVersion"] = json!(latest.unwrap_or_else(|| version.clone()));
        item["keepPoliciesUpToDate"] = json!(false);
        match &installed {
            Some(doc) => {
                item["status"] = json!("installed");
                item["installationInfo"] = installation_info(doc);
                item["savedObject"] = json!({
                    "id": name, "type": Kind::Package.as_str(), "attributes": doc, "references": [],
                });
            }
            None => item["status"] = json!("not_installed"),
        }
        let mut out = json!({ "item": item });
        if with_metadata {
            let count = self
                .package_policy_counts()
                .await?
                .get(name)
                .copied()
                .unwrap_or(0);
            out["metadata"] = json!({ "has_policies": count > 0 });
        }
        Ok(out)
    }

    /// `GET /epm/packages/installed`.
    pub async fn installed_packages(
        &self,
        name_query: Option<&str>,
        per_page: u64,
        search_after: Option<&str>,
        descending: bool,
    ) -> Result<Value> {
        let docs = self.installed_docs().await?;
        let mut items = Vec::new();
        for (name, doc) in &docs {
            if name_query.is_some_and(|q| !name.contains(q)) {
                continue;
            }
            let version = doc["version"].as_str().unwrap_or_default();
            let p = self.package(name, version).await?;
            let data_streams: Vec<Value> = p
                .data_streams
                .iter()
                .map(|d| {
                    json!({
                        "name": format!("{}-{}-*", d.kind, d.dataset),
                        "title": d.title,
                    })
                })
                .collect();
            items.push(json!({
                "name": name,
                "version": version,
                "status": "installed",
                "title": p.title,
                "description": p.description,
                "icons": p.info()["icons"],
                "dataStreams": data_streams,
            }));
        }
        if descending {
            items.reverse();
        }
        let total = items.len();
        if let Some(after) = search_after {
            let pos = items
                .iter()
                .position(|i| i["name"] == json!(after))
                .map(|p| p + 1)
                .unwrap_or(0);
            items.drain(..pos);
        }
        items.truncate(per_page as usize);
        let next = items.last().map(|i| json!([i["name"]]));
        let mut out = json!({ "items": items, "total": total });
        if let Some(next) = next {
            out["searchAfter"] = next;
        }
        Ok(out)
    }

    /// `GET /epm/packages/limited`: installed packages whose policy templates allow one policy
    /// per agent policy (`multiple: false`).
    pub async fn limited_packages(&self) -> Result<Value> {
        let mut names = Vec::new();
        for (name, doc) in self.installed_docs().await? {
            let p = self
                .package(&name, doc["version"].as_str().unwrap_or_default())
                .await?;
            let limited = p.manifest["policy_templates"]
                .as_array()
                .is_some_and(|ts| ts.iter().any(|t| t["multiple"] == json!(false)));
            if limited {
                names.push(name);
            }
        }
        Ok(json!({ "items": names }))
    }

    /// `GET /epm/packages/{name}/stats`: how many agent policies use the package.
    pub async fn package_stats(&self, name: &str) -> Result<Value> {
        let mut tx = self.store.begin(Mode::Read).await?;
        let docs = tx
            .find(
                Kind::PackagePolicy,
                &store::Query {
                    filter: store::Filter::Eq(
                        store::doc_field("package.name"),
                        store::Scalar::Str(name.into()),
                    ),
                    ..Default::default()
                },
            )
            .await?;
        let mut policies: Vec<String> = docs
            .iter()
            .flat_map(|d| crate::validate::string_array(&d.body["policy_ids"]))
            .collect();
        policies.sort();
        policies.dedup();
        Ok(json!({ "response": { "agent_policy_count": policies.len() } }))
    }

    /// `GET /epm/packages/{name}/{version}/{path}`: a file of the package, with its type.
    pub async fn package_file(
        &self,
        name: &str,
        version: &str,
        path: &str,
    ) -> Result<(Vec<u8>, &'static str)> {
        let p = self.package(name, version).await?;
        let data = p
            .file(path)
            .ok_or_else(|| FleetError::NotFound(format!("file not found: {path}")))?;
        let content_type = match path.rsplit('.').next().unwrap_or_default() {
            "yml" | "yaml" => "text/yaml; charset=UTF-8",
            "md" => "text/markdown; charset=utf-8",
            "json" => "application/json; charset=utf-8",
            "svg" => "image/svg+xml",
            "png" => "image/png",
            "jpg" | "jpeg" => "image/jpeg",
            "hbs" | "txt" => "text/plain; charset=utf-8",
            _ => "application/octet-stream",
        };
        Ok((data.to_vec(), content_type))
    }

    /// `GET /epm/templates/{name}/{version}/inputs`: the inputs of the package's default policy
    /// as an agent would run them — the "API reference" users read to find inputs, streams and
    /// vars. `format` is `json` (default) or `yml`/`yaml`.
    pub async fn package_inputs_template(
        &self,
        name: &str,
        version: &str,
        format: &str,
    ) -> Result<(String, &'static str)> {
        let p = self.package(name, version).await?;
        let mut inputs = packages::policy::default_inputs(&p);
        let vars = packages::policy::default_vars(&p);
        packages::policy::align_inputs(&mut inputs);
        packages::policy::compile(&p, "", vars.as_ref(), &mut inputs)
            .map_err(|e| FleetError::BadRequest(e.to_string()))?;
        let mut out = Vec::new();
        for input in inputs.as_array().into_iter().flatten() {
            if input["enabled"] != json!(true) {
                continue;
            }
            let ty = input["type"].as_str().unwrap_or_default();
            let template = input["policy_template"].as_str().unwrap_or_default();
            let mut item = Map::new();
            item.insert("id".into(), json!(format!("{ty}-{template}")));
            item.insert("type".into(), json!(ty));
            if let Some(compiled) = input["compiled_input"].as_object() {
                for (k, v) in compiled {
                    item.insert(k.clone(), v.clone());
                }
            }
            let streams: Vec<Value> = input["streams"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|s| s["enabled"] == json!(true))
                .map(|s| {
                    let dataset = s["data_stream"]["dataset"].as_str().unwrap_or_default();
                    let mut stream = Map::new();
                    stream.insert("id".into(), json!(format!("{ty}-{dataset}")));
                    stream.insert("data_stream".into(), s["data_stream"].clone());
                    if let Some(compiled) = s["compiled_stream"].as_object() {
                        for (k, v) in compiled {
                            stream.insert(k.clone(), v.clone());
                        }
                    }
                    Value::Object(stream)
                })
                .collect();
            if !streams.is_empty() {
                item.insert("streams".into(), Value::Array(streams));
            }
            out.push(Value::Object(item));
        }
        let body = json!({ "inputs": out });
        match format {
            "json" => Ok((body.to_string(), "application/json; charset=utf-8")),
            "yml" | "yaml" => Ok((packages::compile::dump_yaml(&body), "text/yaml; charset=utf-8")),
            other => Err(FleetError::BadRequest(format!(
                "[request query.format]: types that failed validation:\n- [request query.format.0]: expected value to equal [json]\n- [request query.format.1]: expected value to equal [yml]\n- [request query.format.2]: expected value to equal [yaml] (got {other})"
            ))),
        }
    }
}

/// Titles of the registry's categories, for packages whose category the registry did not name.
fn category_title(id: &str) -> String {
    match id {
        "aws" => "AWS".into(),
        "gcp" => "Google Cloud Platform".into(),
        "os_system" => "Operating System".into(),
        "web" => "Web".into(),
        "security" => "Security".into(),
        "observability" => "Observability".into(),
        "network" => "Network".into(),
        "datastore" => "Database".into(),
        "elastic_stack" => "Elastic Stack".into(),
        "monitoring" => "Monitoring".into(),
        other => {
            let mut c = other.replace('_', " ").chars().collect::<Vec<_>>();
            if let Some(f) = c.first_mut() {
                *f = f.to_ascii_uppercase();
            }
            c.into_iter().collect()
        }
    }
}

impl Fleet {
    /// `PUT /epm/packages/{name}/{version?}`: the package's settings (`keepPoliciesUpToDate`).
    pub async fn update_package_settings(
        &self,
        name: &str,
        version: Option<&str>,
        body: &crate::epm_requests::UpdatePackageSettings,
    ) -> Result<Value> {
        let mut tx = self.store.begin(Mode::Write).await?;
        let doc = tx
            .get(Kind::Package, name)
            .await?
            .ok_or_else(|| FleetError::BadRequest(format!("package {name} is not installed")))?;
        if let Some(v) = version {
            if doc.body["version"] != json!(v) {
                return Err(FleetError::BadRequest(format!(
                    "package {name}-{v} is not installed"
                )));
            }
        }
        let mut attrs = doc.body.clone();
        if let Some(keep) = body.keep_policies_up_to_date {
            attrs["keep_policies_up_to_date"] = json!(keep);
        }
        tx.update(Kind::Package, name, Some(doc.version), &attrs)
            .await?;
        tx.commit().await?;
        let version = attrs["version"].as_str().unwrap_or_default().to_string();
        let mut out = self
            .package_info(name, Some(&version), false, false)
            .await?;
        out["item"]["keepPoliciesUpToDate"] = attrs["keep_policies_up_to_date"].clone();
        Ok(out)
    }
}
