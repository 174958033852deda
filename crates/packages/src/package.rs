//! An integration package as package-spec defines it, loaded from a directory or a zip archive,
//! validated, and normalised the way the package registry normalises it (dataset names, stream
//! template paths, var flags).

use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

/// The package spec's rule for names: lowercase letters, digits and `_`, at most 64 of them
/// (`^[a-z0-9_]+$`). Names become file names and registry URLs, so nothing else is let through.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_')
}

/// The package spec's rule for versions: semantic versions (which hold no `/`, `?` or `..`).
pub fn is_valid_version(version: &str) -> bool {
    version.len() <= 128 && semver::Version::parse(version).is_ok()
}

/// Largest archive accepted (the API's upload limit).
pub const MAX_ARCHIVE_BYTES: usize = 100 * 1024 * 1024;
/// Largest total of uncompressed files: more is treated as a zip bomb.
pub const MAX_UNPACKED_BYTES: u64 = 256 * 1024 * 1024;
/// Most files a package may hold.
pub const MAX_FILES: usize = 20_000;
/// An entry that inflates more than this many times over is refused (zip bomb).
const MAX_RATIO: u64 = 250;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PackageError {
    /// A malformed package or archive (Kibana's PackageInvalidArchiveError, a 400).
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Io(String),
}

fn invalid(msg: impl Into<String>) -> PackageError {
    PackageError::Invalid(msg.into())
}

fn outside(raw_name: &str) -> PackageError {
    invalid(format!(
        "Package archive entry {raw_name:?} points outside the package"
    ))
}

/// The files of an archive being unpacked, checked entry by entry whatever the format: one
/// top-level `<name>-<version>/` folder, no entry outside it, at most [`MAX_UNPACKED_BYTES`]
/// actually inflated.
#[derive(Default)]
struct Unpacked {
    files: BTreeMap<String, Vec<u8>>,
    top: Option<String>,
    total: u64,
}

impl Unpacked {
    fn add(
        &mut self,
        raw_name: &str,
        is_dir: bool,
        declared: u64,
        data: &mut dyn Read,
    ) -> Result<(), PackageError> {
        if raw_name.split(['/', '\\']).any(|p| p == "..") || raw_name.starts_with('/') {
            return Err(outside(raw_name));
        }
        let path = raw_name.replace('\\', "/");
        let (first, rest) = match path.split_once('/') {
            Some((a, b)) => (a.to_string(), b.trim_end_matches('/').to_string()),
            None => (path.clone(), String::new()),
        };
        match &self.top {
            None => self.top = Some(first),
            Some(t) if *t != first => {
                return Err(invalid(
                    "Package contains more than one top-level directory.",
                ))
            }
            _ => {}
        }
        if is_dir || rest.is_empty() {
            return Ok(());
        }
        // Headers can lie: cap what is actually inflated, not what is declared.
        let budget = MAX_UNPACKED_BYTES.saturating_sub(self.total);
        let mut bytes = Vec::with_capacity(declared.min(budget).min(1 << 24) as usize);
        data.take(budget + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| invalid(format!("Error during extraction of package: {e}")))?;
        self.total += bytes.len() as u64;
        if self.total > MAX_UNPACKED_BYTES {
            return Err(invalid(format!(
                "Package archive unpacks to more than {MAX_UNPACKED_BYTES} bytes; refused as a zip bomb"
            )));
        }
        self.files.insert(rest, bytes);
        Ok(())
    }

    fn finish(self) -> Result<Package, PackageError> {
        let top = self
            .top
            .ok_or_else(|| invalid("Package archive is empty"))?;
        let package = Package::from_files(self.files)?;
        let expected = format!("{}-{}", package.name, package.version);
        if top != expected {
            return Err(invalid(format!(
                "Name {} and version {} do not match top-level directory {top}",
                package.name, package.version
            )));
        }
        Ok(package)
    }
}

/// A variable definition (package, input or stream level).
#[derive(Debug, Clone, Deserialize)]
pub struct VarDef {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub multi: bool,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub secret: bool,
    #[serde(default)]
    pub default: Option<Value>,
    #[serde(default)]
    pub options: Vec<Value>,
}

impl VarDef {
    /// The var record entry of a new package policy (`{value, type}`): the default, `[]` for a
    /// multi var without one, and no `value` at all when there is no default.
    pub fn record_entry(&self) -> Value {
        let mut entry = Map::new();
        let value = match &self.default {
            Some(v) if crate::compile::js_truthy(v) => Some(v.clone()),
            _ if self.multi => Some(json!([])),
            Some(v) if !v.is_null() => Some(v.clone()),
            _ => None,
        };
        if let Some(v) = value {
            entry.insert("value".into(), v);
        }
        entry.insert("type".into(), Value::String(self.kind.clone()));
        Value::Object(entry)
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct InputDef {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub vars: Vec<VarDef>,
    #[serde(default)]
    pub template_path: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PolicyTemplate {
    pub name: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub data_streams: Vec<String>,
    #[serde(default)]
    pub inputs: Vec<InputDef>,
    #[serde(default)]
    pub categories: Vec<String>,
    /// Input packages: the agent input, its data stream type, template and vars.
    #[serde(default)]
    pub input: Option<String>,
    #[serde(rename = "type", default)]
    pub stream_type: Option<String>,
    #[serde(default)]
    pub template_path: Option<String>,
    #[serde(default)]
    pub vars: Vec<VarDef>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct StreamDef {
    pub input: String,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub vars: Vec<VarDef>,
    #[serde(default = "default_stream_template")]
    pub template_path: String,
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn default_stream_template() -> String {
    "stream.yml.hbs".into()
}
fn yes() -> bool {
    true
}

#[derive(Debug, Clone)]
pub struct DataStream {
    /// The folder under `data_stream/`.
    pub path: String,
    pub dataset: String,
    pub kind: String,
    pub title: String,
    pub release: String,
    pub streams: Vec<StreamDef>,
    /// The normalised manifest, as the registry serves it in package info.
    pub info: Value,
}

/// A loaded, validated package.
#[derive(Debug, Clone)]
pub struct Package {
    pub name: String,
    pub version: String,
    pub title: String,
    /// `integration`, `input` or `content`.
    pub kind: String,
    pub description: String,
    pub release: String,
    pub categories: Vec<String>,
    pub vars: Vec<VarDef>,
    pub policy_templates: Vec<PolicyTemplate>,
    pub data_streams: Vec<DataStream>,
    /// The top-level manifest (dotted keys expanded).
    pub manifest: Value,
    files: BTreeMap<String, Vec<u8>>,
}

#[derive(Deserialize)]
struct StreamsOnly {
    #[serde(default)]
    streams: Vec<StreamDef>,
}

impl Package {
    /// Reads `<dir>/manifest.yml` and everything beside it.
    pub fn from_dir(dir: &Path) -> Result<Package, PackageError> {
        let mut files = BTreeMap::new();
        let mut total = 0u64;
        read_dir_into(dir, "", &mut files, &mut total)?;
        Package::from_files(files)
    }

    /// Reads a package archive: every entry under one top-level `<name>-<version>/` folder.
    pub fn from_zip(bytes: &[u8]) -> Result<Package, PackageError> {
        if bytes.len() > MAX_ARCHIVE_BYTES {
            return Err(invalid(format!(
                "Package archive is larger than {MAX_ARCHIVE_BYTES} bytes"
            )));
        }
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes))
            .map_err(|e| invalid(format!("Error during extraction of package: {e}")))?;
        if archive.len() > MAX_FILES {
            return Err(invalid(format!(
                "Package archive has more than {MAX_FILES} files"
            )));
        }
        let mut unpacked = Unpacked::default();
        for i in 0..archive.len() {
            let mut entry = archive
                .by_index(i)
                .map_err(|e| invalid(format!("Error during extraction of package: {e}")))?;
            let raw_name = entry.name().to_string();
            if entry.enclosed_name().is_none() {
                return Err(outside(&raw_name));
            }
            let declared = entry.size();
            let compressed = entry.compressed_size().max(1);
            if declared > (1 << 20) && declared / compressed > MAX_RATIO {
                return Err(invalid(format!(
                    "Package archive entry {raw_name:?} inflates {}x; refused as a zip bomb",
                    declared / compressed
                )));
            }
            let is_dir = entry.is_dir();
            unpacked.add(&raw_name, is_dir, declared, &mut entry)?;
        }
        unpacked.finish()
    }

    /// The same for a gzipped tar archive (`Content-Type: application/gzip`), with the same
    /// checks; links are refused, and inflation is capped over the whole stream.
    pub fn from_tar_gz(bytes: &[u8]) -> Result<Package, PackageError> {
        if bytes.len() > MAX_ARCHIVE_BYTES {
            return Err(invalid(format!(
                "Package archive is larger than {MAX_ARCHIVE_BYTES} bytes"
            )));
        }
        // Headers take 512 bytes a file (and long names more): room for them beyond the files.
        let cap = MAX_UNPACKED_BYTES + (MAX_FILES as u64 + 1) * 2048;
        let stream = flate2::read::GzDecoder::new(bytes).take(cap);
        let mut archive = tar::Archive::new(stream);
        let extraction =
            |e: std::io::Error| invalid(format!("Error during extraction of package: {e}"));
        let mut unpacked = Unpacked::default();
        let mut count = 0usize;
        for entry in archive.entries().map_err(extraction)? {
            let mut entry = entry.map_err(extraction)?;
            let raw_name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let kind = entry.header().entry_type();
            if kind.is_pax_global_extensions() || kind.is_pax_local_extensions() {
                continue;
            }
            count += 1;
            if count > MAX_FILES {
                return Err(invalid(format!(
                    "Package archive has more than {MAX_FILES} files"
                )));
            }
            let is_dir = kind.is_dir();
            if !is_dir && !kind.is_file() {
                return Err(invalid(format!(
                    "Package archive entry {raw_name:?} is not a file or a directory"
                )));
            }
            let declared = entry.header().size().unwrap_or(0);
            let name = raw_name.strip_prefix("./").unwrap_or(&raw_name).to_string();
            unpacked.add(&name, is_dir, declared, &mut entry)?;
        }
        unpacked.finish()
    }

    /// Builds a package from its files (paths relative to the package root, `/`-separated).
    pub fn from_files(files: BTreeMap<String, Vec<u8>>) -> Result<Package, PackageError> {
        let manifest_text = files
            .get("manifest.yml")
            .ok_or_else(|| invalid("Package must contain a top-level manifest.yml file."))?;
        let mut manifest = yaml_file("manifest.yml", manifest_text)?;
        expand_dotted_keys(&mut manifest);
        let get = |k: &str| manifest.get(k).and_then(Value::as_str).map(str::to_string);
        let required = ["name", "version", "description", "title", "format_version"];
        if required.iter().any(|k| get(k).is_none_or(|v| v.is_empty())) {
            return Err(invalid(
                "Invalid top-level package manifest: one or more fields missing of name, version, description, title, format_version, owner",
            ));
        }
        let name = get("name").unwrap_or_default();
        let version = get("version").unwrap_or_default();
        if !is_valid_name(&name) {
            return Err(invalid(format!(
                "Invalid package name {name:?}: only lowercase letters, digits and _ are allowed"
            )));
        }
        if !is_valid_version(&version) {
            return Err(invalid(format!(
                "Invalid package version {version:?}: not semver"
            )));
        }
        let kind = get("type").unwrap_or_else(|| "integration".into());
        if !matches!(kind.as_str(), "integration" | "input" | "content") {
            return Err(invalid(format!("Invalid package type {kind:?}")));
        }
        let release = get("release").unwrap_or_else(|| {
            if semver::Version::parse(&version).is_ok_and(|v| !v.pre.is_empty()) {
                "beta".into()
            } else {
                "ga".into()
            }
        });
        let vars: Vec<VarDef> = typed(&manifest, "vars", "manifest.yml")?;
        let policy_templates: Vec<PolicyTemplate> =
            typed(&manifest, "policy_templates", "manifest.yml")?;
        check_vars(&vars, "manifest.yml vars")?;
        for t in &policy_templates {
            check_vars(&t.vars, &format!("policy template {}", t.name))?;
            for input in &t.inputs {
                check_vars(&input.vars, &format!("input {}", input.kind))?;
                if let Some(path) = &input.template_path {
                    if !files.contains_key(&format!("agent/input/{path}")) {
                        return Err(invalid(format!(
                            "Input {} of policy template {} names template agent/input/{path}, which the package does not have",
                            input.kind, t.name
                        )));
                    }
                }
            }
        }

        let mut data_streams = Vec::new();
        let folders: Vec<String> = files
            .keys()
            .filter_map(|p| p.strip_prefix("data_stream/"))
            .filter_map(|p| p.strip_suffix("/manifest.yml"))
            .filter(|p| !p.contains('/'))
            .map(str::to_string)
            .collect();
        for folder in folders {
            let file = format!("data_stream/{folder}/manifest.yml");
            let mut ds = yaml_file(&file, &files[&file])?;
            expand_dotted_keys(&mut ds);
            let streams: StreamsOnly = serde_json::from_value(json!({
                "streams": ds.get("streams").cloned().unwrap_or(json!([])),
            }))
            .map_err(|e| invalid(format!("Invalid {file}: {e}")))?;
            for s in &streams.streams {
                check_vars(&s.vars, &format!("{file} stream {}", s.input))?;
                let template = format!("data_stream/{folder}/agent/stream/{}", s.template_path);
                if !files.contains_key(&template) {
                    return Err(invalid(format!(
                        "{file}: stream {} names template {template}, which the package does not have",
                        s.input
                    )));
                }
            }
            let dataset = ds
                .get("dataset")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| format!("{name}.{folder}"));
            let ds_kind = ds
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("logs")
                .to_string();
            let title = ds
                .get("title")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid(format!("Invalid {file}: title is required")))?
                .to_string();
            let ds_release = ds
                .get("release")
                .and_then(Value::as_str)
                .unwrap_or(&release)
                .to_string();
            let info = normalised_data_stream(&ds, &name, &folder, &dataset, &ds_release, &streams);
            data_streams.push(DataStream {
                path: folder,
                dataset,
                kind: ds_kind,
                title,
                release: ds_release,
                streams: streams.streams,
                info,
            });
        }
        for t in &policy_templates {
            for ds in &t.data_streams {
                if !data_streams.iter().any(|d| &d.path == ds) {
                    return Err(invalid(format!(
                        "Policy template {} names data stream {ds}, which the package does not have",
                        t.name
                    )));
                }
            }
        }
        let categories = manifest
            .get("categories")
            .and_then(Value::as_array)
            .map(|c| {
                c.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        Ok(Package {
            title: get("title").unwrap_or_default(),
            description: get("description").unwrap_or_default(),
            name,
            version,
            kind,
            release,
            categories,
            vars,
            policy_templates,
            data_streams,
            manifest,
            files,
        })
    }

    /// A file of the package by its path from the package root.
    pub fn file(&self, path: &str) -> Option<&[u8]> {
        self.files.get(path).map(Vec::as_slice)
    }

    pub fn file_paths(&self) -> impl Iterator<Item = &str> {
        self.files.keys().map(String::as_str)
    }

    /// The package as a zip archive (top-level `<name>-<version>/`), as the registry serves it.
    pub fn to_zip(&self) -> Vec<u8> {
        let mut out = std::io::Cursor::new(Vec::new());
        {
            let mut writer = zip::ZipWriter::new(&mut out);
            let options = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated);
            let top = format!("{}-{}", self.name, self.version);
            for (path, data) in &self.files {
                // Writing to memory cannot fail.
                let _ = writer.start_file(format!("{top}/{path}"), options);
                let _ = std::io::Write::write_all(&mut writer, data);
            }
            let _ = writer.finish();
        }
        out.into_inner()
    }

    /// Total bytes of the package's files.
    pub fn size(&self) -> usize {
        self.files.values().map(Vec::len).sum()
    }

    pub fn data_stream_by_dataset(&self, dataset: &str) -> Option<&DataStream> {
        self.data_streams.iter().find(|d| d.dataset == dataset)
    }

    /// Whether the package has integrations (policy templates with inputs, i.e. not an input
    /// package), which decides how inputs are keyed.
    pub fn has_integrations(&self) -> bool {
        self.kind == "integration"
    }

    /// The icons, with the `path` the registry adds.
    fn icons(&self) -> Value {
        let mut icons = self.manifest.get("icons").cloned().unwrap_or(json!([]));
        if let Some(list) = icons.as_array_mut() {
            for icon in list {
                if let Some(src) = icon.get("src").and_then(Value::as_str).map(str::to_string) {
                    icon["path"] =
                        Value::String(format!("/package/{}/{}{}", self.name, self.version, src));
                }
            }
        }
        icons
    }

    /// The base entry of a registry search (`/search`).
    pub fn search_entry(&self) -> Value {
        let m = &self.manifest;
        let mut entry = json!({
            "name": self.name,
            "title": self.title,
            "version": self.version,
            "release": self.release,
            "description": self.description,
            "type": self.kind,
            "download": format!("/epr/{0}/{0}-{1}.zip", self.name, self.version),
            "path": format!("/package/{}/{}", self.name, self.version),
            "icons": self.icons(),
            "policy_templates": self.policy_templates_summary(),
            "conditions": m.get("conditions").cloned().unwrap_or(json!({})),
            "owner": m.get("owner").cloned().unwrap_or(json!({})),
            "categories": self.categories,
        });
        if let Some(source) = m.get("source") {
            entry["source"] = source.clone();
        }
        if !self.data_streams.is_empty() {
            entry["data_streams"] = Value::Array(
                self.data_streams
                    .iter()
                    .map(|d| json!({"type": d.kind, "dataset": d.dataset, "title": d.title}))
                    .collect(),
            );
        }
        entry
    }

    fn policy_templates_summary(&self) -> Value {
        let raw = self
            .manifest
            .get("policy_templates")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        Value::Array(
            raw.into_iter()
                .map(|t| {
                    let mut out = Map::new();
                    for k in [
                        "name",
                        "title",
                        "description",
                        "categories",
                        "icons",
                        "data_streams",
                    ] {
                        if let Some(v) = t.get(k) {
                            out.insert(k.into(), v.clone());
                        }
                    }
                    Value::Object(out)
                })
                .collect(),
        )
    }

    /// The full package info (registry `/package/{name}/{version}/`): the manifest with its
    /// policy templates and vars normalised, the data streams and the asset list.
    pub fn info(&self) -> Value {
        let mut info = self.manifest.clone();
        let obj = info.as_object_mut().expect("manifests are mappings");
        obj.insert("release".into(), json!(self.release));
        obj.insert("type".into(), json!(self.kind));
        obj.insert("icons".into(), self.icons());
        if let Some(templates) = obj
            .get_mut("policy_templates")
            .and_then(Value::as_array_mut)
        {
            for t in templates {
                normalise_vars_in(t);
                if let Some(inputs) = t.get_mut("inputs").and_then(Value::as_array_mut) {
                    for i in inputs {
                        normalise_vars_in(i);
                    }
                }
            }
        }
        normalise_vars_in(&mut info);
        let obj = info.as_object_mut().expect("manifests are mappings");
        obj.insert(
            "data_streams".into(),
            Value::Array(self.data_streams.iter().map(|d| d.info.clone()).collect()),
        );
        obj.insert(
            "download".into(),
            json!(format!("/epr/{0}/{0}-{1}.zip", self.name, self.version)),
        );
        obj.insert(
            "path".into(),
            json!(format!("/package/{}/{}", self.name, self.version)),
        );
        if self.files.contains_key("docs/README.md") {
            obj.insert(
                "readme".into(),
                json!(format!(
                    "/package/{}/{}/docs/README.md",
                    self.name, self.version
                )),
            );
        }
        obj.insert(
            "assets".into(),
            Value::Array(
                self.files
                    .keys()
                    .map(|p| json!(format!("/package/{}/{}/{p}", self.name, self.version)))
                    .collect(),
            ),
        );
        info
    }
}

fn read_dir_into(
    dir: &Path,
    prefix: &str,
    files: &mut BTreeMap<String, Vec<u8>>,
    total: &mut u64,
) -> Result<(), PackageError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| PackageError::Io(format!("cannot read {}: {e}", dir.display())))?;
    for entry in entries {
        let entry = entry.map_err(|e| PackageError::Io(e.to_string()))?;
        let name = entry.file_name().to_string_lossy().to_string();
        let rel = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        let kind = entry
            .file_type()
            .map_err(|e| PackageError::Io(e.to_string()))?;
        if kind.is_dir() {
            read_dir_into(&entry.path(), &rel, files, total)?;
        } else if kind.is_file() {
            let data = std::fs::read(entry.path())
                .map_err(|e| PackageError::Io(format!("cannot read {rel}: {e}")))?;
            *total += data.len() as u64;
            if *total > MAX_UNPACKED_BYTES || files.len() >= MAX_FILES {
                return Err(invalid(format!(
                    "Package in {} is too large",
                    dir.display()
                )));
            }
            files.insert(rel, data);
        }
        // Symlinks are skipped: a package directory never needs them and they could point
        // anywhere.
    }
    Ok(())
}

fn yaml_file(path: &str, bytes: &[u8]) -> Result<Value, PackageError> {
    let text =
        std::str::from_utf8(bytes).map_err(|_| invalid(format!("{path} is not UTF-8 text")))?;
    let value = crate::compile::parse_yaml(text)
        .map_err(|e| invalid(format!("Could not parse {path}: {e}")))?;
    if !value.is_object() {
        return Err(invalid(format!("Could not parse {path}: not a mapping")));
    }
    Ok(value)
}

fn typed<T: serde::de::DeserializeOwned>(
    manifest: &Value,
    key: &str,
    file: &str,
) -> Result<Vec<T>, PackageError> {
    match manifest.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(v) => serde_json::from_value(v.clone())
            .map_err(|e| invalid(format!("Invalid {file} {key}: {e}"))),
    }
}

const VAR_TYPES: &[&str] = &[
    "text",
    "password",
    "bool",
    "integer",
    "yaml",
    "textarea",
    "select",
    "url",
    "email",
    "time_zone",
    "duration",
];

fn check_vars(vars: &[VarDef], place: &str) -> Result<(), PackageError> {
    for v in vars {
        if !VAR_TYPES.contains(&v.kind.as_str()) {
            return Err(invalid(format!(
                "Invalid {place}: var {} has unknown type {}",
                v.name, v.kind
            )));
        }
        if v.kind == "select" && v.options.is_empty() {
            return Err(invalid(format!(
                "Invalid {place}: select var {} has no options",
                v.name
            )));
        }
    }
    Ok(())
}

/// `conditions: {kibana.version: x}` → `conditions: {kibana: {version: x}}`, as the registry does.
fn expand_dotted_keys(manifest: &mut Value) {
    if let Some(conditions) = manifest.get_mut("conditions") {
        expand(conditions);
    }
    fn expand(v: &mut Value) {
        let Some(obj) = v.as_object_mut() else { return };
        let keys: Vec<String> = obj.keys().cloned().collect();
        let mut out = Map::new();
        for k in keys {
            let mut value = obj.remove(&k).unwrap_or(Value::Null);
            expand(&mut value);
            let parts: Vec<&str> = k.split('.').collect();
            let mut slot = &mut out;
            for p in &parts[..parts.len() - 1] {
                let next = slot
                    .entry(p.to_string())
                    .or_insert_with(|| Value::Object(Map::new()));
                if !next.is_object() {
                    *next = Value::Object(Map::new());
                }
                slot = next.as_object_mut().expect("just made an object");
            }
            slot.insert(parts[parts.len() - 1].to_string(), value);
        }
        *obj = out;
    }
}

/// Every var as the registry emits it: `multi`, `required`, `show_user` always present.
fn normalise_vars_in(holder: &mut Value) {
    let Some(vars) = holder.get_mut("vars").and_then(Value::as_array_mut) else {
        return;
    };
    for var in vars {
        if let Some(obj) = var.as_object_mut() {
            for flag in ["multi", "required", "show_user"] {
                obj.entry(flag).or_insert(Value::Bool(false));
            }
        }
    }
}

fn normalised_data_stream(
    ds: &Value,
    package: &str,
    folder: &str,
    dataset: &str,
    release: &str,
    streams: &StreamsOnly,
) -> Value {
    let mut info = ds.clone();
    let obj = info.as_object_mut().expect("checked to be a mapping");
    obj.insert("dataset".into(), json!(dataset));
    obj.insert("path".into(), json!(folder));
    obj.insert("package".into(), json!(package));
    obj.insert("release".into(), json!(release));
    obj.entry("type").or_insert(json!("logs"));
    if let Some(list) = obj.get_mut("streams").and_then(Value::as_array_mut) {
        for (raw, parsed) in list.iter_mut().zip(&streams.streams) {
            raw["template_path"] = json!(parsed.template_path);
            raw["enabled"] = json!(parsed.enabled);
            normalise_vars_in(raw);
        }
    }
    info
}
