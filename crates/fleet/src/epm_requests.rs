//! The query parameters of the package routes (`/api/fleet/epm/...`) as types: Kibana's
//! schemas for them (`types/rest_spec/epm.ts`), checked by the `contract` crate.

use contract::Request;
use schemars::JsonSchema;
use serde::Deserialize;

/// `GET /epm/categories`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CategoriesQuery {
    pub prerelease: Option<bool>,
    pub include_policy_templates: Option<bool>,
    /// Deprecated in Kibana (`prerelease`).
    pub experimental: Option<bool>,
}

impl Request for CategoriesQuery {}

/// `GET /epm/packages`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ListPackagesQuery {
    pub category: Option<String>,
    pub prerelease: Option<bool>,
    pub exclude_install_status: Option<bool>,
    pub with_package_policies_count: Option<bool>,
    /// Deprecated in Kibana (`prerelease`).
    pub experimental: Option<bool>,
}

impl Request for ListPackagesQuery {}

/// `POST /epm/packages` (an uploaded archive).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UploadPackageQuery {
    pub ignore_mapping_update_errors: Option<bool>,
    pub skip_data_stream_rollover: Option<bool>,
}

impl Request for UploadPackageQuery {}

/// `POST /epm/packages/_bulk`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkInstallQuery {
    pub prerelease: Option<bool>,
}

impl Request for BulkInstallQuery {}

/// `sortOrder` of the installed packages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PackageSortOrder {
    Asc,
    Desc,
}

/// The data stream types `GET /epm/packages/installed` filters on.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DataStreamType {
    Logs,
    Metrics,
    Traces,
    Synthetics,
    Profiling,
}

/// `GET /epm/packages/installed`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct InstalledPackagesQuery {
    pub data_stream_type: Option<DataStreamType>,
    pub show_only_active_data_streams: Option<bool>,
    pub name_query: Option<String>,
    /// The last package name of the previous page, or that name as a JSON array.
    pub search_after: Option<String>,
    #[schemars(range(min = 0))]
    pub per_page: Option<f64>,
    pub sort_order: Option<PackageSortOrder>,
}

impl Request for InstalledPackagesQuery {}

/// `GET /epm/packages/{name}[/{version}]`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PackageInfoQuery {
    pub ignore_unverified: Option<bool>,
    pub prerelease: Option<bool>,
    pub full: Option<bool>,
    pub with_metadata: Option<bool>,
}

impl Request for PackageInfoQuery {}

/// `POST /epm/packages/{name}[/{version}]` (install from a package source).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct InstallPackageQuery {
    pub prerelease: Option<bool>,
    pub ignore_mapping_update_errors: Option<bool>,
    pub skip_data_stream_rollover: Option<bool>,
    pub skip_dependency_check: Option<bool>,
}

impl Request for InstallPackageQuery {}

/// The body of an install from a package source (it may be absent).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InstallPackage {
    /// Install even when another version is installed, or the package is not verified.
    pub force: Option<bool>,
    pub ignore_constraints: Option<bool>,
}

impl Request for InstallPackage {}

/// `DELETE /epm/packages/{name}[/{version}]`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UninstallPackageQuery {
    /// Uninstall even when integration policies use it.
    pub force: Option<bool>,
}

impl Request for UninstallPackageQuery {}

/// `format` of a package's inputs template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TemplateFormat {
    Json,
    Yml,
    Yaml,
}

impl TemplateFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            TemplateFormat::Json => "json",
            TemplateFormat::Yml => "yml",
            TemplateFormat::Yaml => "yaml",
        }
    }
}

/// `GET /epm/templates/{name}/{version}/inputs`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct InputsTemplateQuery {
    pub format: Option<TemplateFormat>,
    pub prerelease: Option<bool>,
    pub ignore_unverified: Option<bool>,
}

impl Request for InputsTemplateQuery {}

/// `PUT /epm/packages/{name}[/{version}]`: the package's settings.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UpdatePackageSettings {
    /// Upgrade the package's policies with the package (Kibana's document marks it required;
    /// Kibana itself has made it optional).
    pub keep_policies_up_to_date: Option<bool>,
}

impl Request for UpdatePackageSettings {}

/// A package of `POST /epm/packages/_bulk` given with its version.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VersionedPackage {
    pub name: String,
    pub version: String,
    pub prerelease: Option<bool>,
}

/// A package of `POST /epm/packages/_bulk`: its name (the latest version) or name and version.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum BulkInstallEntry {
    Name(String),
    Versioned(VersionedPackage),
}

impl BulkInstallEntry {
    pub fn name(&self) -> &str {
        match self {
            BulkInstallEntry::Name(n) => n,
            BulkInstallEntry::Versioned(p) => &p.name,
        }
    }

    pub fn version(&self) -> Option<&str> {
        match self {
            BulkInstallEntry::Name(_) => None,
            BulkInstallEntry::Versioned(p) => Some(&p.version),
        }
    }
}

/// `POST /epm/packages/_bulk`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkInstallPackages {
    #[schemars(length(min = 1, max = 1000))]
    pub packages: Vec<BulkInstallEntry>,
    /// Install even packages that are not verified or already installed at another version.
    pub force: Option<bool>,
}

impl Request for BulkInstallPackages {}

/// A package of `POST /epm/packages/_bulk_upgrade` (no version: the latest).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpgradePackage {
    pub name: String,
    pub version: Option<String>,
}

/// `POST /epm/packages/_bulk_upgrade`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkUpgradePackages {
    #[schemars(length(min = 1, max = 1000))]
    pub packages: Vec<UpgradePackage>,
    pub prerelease: Option<bool>,
    pub force: Option<bool>,
    /// Upgrade the package policies of each package too.
    pub upgrade_package_policies: Option<bool>,
}

impl Request for BulkUpgradePackages {}

/// A package of `POST /epm/packages/_bulk_uninstall`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UninstallPackage {
    pub name: String,
    pub version: String,
}

/// `POST /epm/packages/_bulk_uninstall`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkUninstallPackages {
    #[schemars(length(min = 1, max = 1000))]
    pub packages: Vec<UninstallPackage>,
    /// Uninstall even packages that package policies use.
    pub force: Option<bool>,
}

impl Request for BulkUninstallPackages {}

/// A package of `POST /epm/packages/_bulk_rollback`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackPackage {
    pub name: String,
}

/// `POST /epm/packages/_bulk_rollback`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkRollbackPackages {
    #[schemars(length(min = 1, max = 1000))]
    pub packages: Vec<RollbackPackage>,
}

impl Request for BulkRollbackPackages {}
