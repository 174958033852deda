//! `/api/fleet/epm/...`: packages. Request parsing and response shapes only; the rules live in
//! `fleet::epm`.

use axum::body::{to_bytes, Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use fleet::auth::Principal;
use fleet::epm::ArchiveFormat;
use fleet::package_tasks::PackageTask;
use serde_json::{json, Value};

use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, QueryParams};
use crate::AppState;

/// The query parameters `categories` accepts (also listed in the OpenAPI document).
pub(crate) const CATEGORIES_QUERY: &[&str] =
    &["prerelease", "include_policy_templates", "experimental"];
/// The query parameters `list` accepts (also listed in the OpenAPI document).
pub(crate) const LIST_QUERY: &[&str] = &[
    "category",
    "prerelease",
    "excludeInstallStatus",
    "withPackagePoliciesCount",
    "experimental",
];
/// The query parameters `upload` accepts (also listed in the OpenAPI document).
pub(crate) const UPLOAD_QUERY: &[&str] = &["ignoreMappingUpdateErrors", "skipDataStreamRollover"];
/// The query parameters `bulk_install` accepts (also listed in the OpenAPI document).
pub(crate) const BULK_INSTALL_QUERY: &[&str] = &["prerelease"];
/// The query parameters `installed` accepts (also listed in the OpenAPI document).
pub(crate) const INSTALLED_QUERY: &[&str] = &[
    "dataStreamType",
    "showOnlyActiveDataStreams",
    "nameQuery",
    "searchAfter",
    "perPage",
    "sortOrder",
];
/// The query parameters `info_for` accepts (also listed in the OpenAPI document).
pub(crate) const INFO_FOR_QUERY: &[&str] =
    &["ignoreUnverified", "prerelease", "full", "withMetadata"];
/// The query parameters `install_for` accepts (also listed in the OpenAPI document).
pub(crate) const INSTALL_FOR_QUERY: &[&str] = &[
    "prerelease",
    "ignoreMappingUpdateErrors",
    "skipDataStreamRollover",
    "skipDependencyCheck",
];
/// The query parameters `uninstall_any` accepts (also listed in the OpenAPI document).
pub(crate) const UNINSTALL_ANY_QUERY: &[&str] = &["force"];
/// The query parameters `uninstall` accepts (also listed in the OpenAPI document).
pub(crate) const UNINSTALL_QUERY: &[&str] = &["force"];
/// The query parameters `inputs_template` accepts (also listed in the OpenAPI document).
pub(crate) const INPUTS_TEMPLATE_QUERY: &[&str] = &["format", "prerelease", "ignoreUnverified"];

/// Largest package archive accepted by upload (conventions: 100 MiB).
pub const MAX_PACKAGE_UPLOAD: usize = 100 * 1024 * 1024;

pub fn routes() -> Router<AppState> {
    let es = |what: &'static str| move || async move { needs_elasticsearch(what) };
    let not_yet = |what: &'static str| move || async move { not_supported(what) };
    Router::new()
        .route("/api/fleet/epm/categories", get(categories))
        .route("/api/fleet/epm/packages", get(list).post(upload))
        .route("/api/fleet/epm/packages/_bulk", post(bulk_install))
        .route("/api/fleet/epm/packages/installed", get(installed))
        .route("/api/fleet/epm/packages/limited", get(limited))
        .route(
            "/api/fleet/epm/packages/{name}",
            get(info_latest)
                .post(install_latest)
                .put(update_settings)
                .delete(uninstall_any),
        )
        .route("/api/fleet/epm/packages/{name}/stats", get(stats))
        .route(
            "/api/fleet/epm/packages/{name}/{version}",
            get(info)
                .post(install)
                .put(update_settings_version)
                .delete(uninstall),
        )
        .route("/api/fleet/epm/packages/{name}/{version}/{*path}", get(file))
        .route(
            "/api/fleet/epm/templates/{name}/{version}/inputs",
            get(inputs_template),
        )
        .route(
            "/api/fleet/epm/data_streams",
            get(es("Data streams are Elasticsearch objects")),
        )
        .route(
            "/api/fleet/epm/bulk_assets",
            post(es("Package assets are installed in Elasticsearch and Kibana")),
        )
        .route(
            "/api/fleet/epm/packages/{name}/{version}/kibana_assets",
            post(es("Kibana assets (dashboards, visualizations) are installed in Kibana"))
                .delete(es("Kibana assets (dashboards, visualizations) are installed in Kibana")),
        )
        .route(
            "/api/fleet/epm/packages/{name}/{version}/rule_assets",
            post(es("Rule assets are installed in Kibana")),
        )
        .route(
            "/api/fleet/epm/packages/{name}/{version}/transforms/authorize",
            post(es("Transforms are Elasticsearch objects")),
        )
        .route(
            "/api/fleet/epm/packages/{name}/{version}/datastream_assets",
            axum::routing::delete(es("Data stream assets are Elasticsearch objects")),
        )
        .route(
            "/api/fleet/epm/custom_integrations",
            post(es("Custom integrations install index templates and ingest pipelines, which are Elasticsearch objects")),
        )
        .route(
            "/api/fleet/epm/custom_integrations/{name}",
            axum::routing::put(es("Custom integrations install index templates and ingest pipelines, which are Elasticsearch objects")),
        )
        .route(
            "/api/fleet/epm/packages/_bulk_namespace_customization",
            post(es("Namespace customization changes Elasticsearch index templates")),
        )
        .route(
            "/api/fleet/epm/verification_key_id",
            get(not_yet("Package signature verification")),
        )
        .route(
            "/api/fleet/epm/packages/_bulk_upgrade",
            post(|s, who, q, body| start_task(s, who, q, body, PackageTask::Upgrade)),
        )
        .route(
            "/api/fleet/epm/packages/_bulk_upgrade/{task}",
            get(|s, id, q| task_status(s, id, q, PackageTask::Upgrade)),
        )
        .route(
            "/api/fleet/epm/packages/_bulk_uninstall",
            post(|s, who, q, body| start_task(s, who, q, body, PackageTask::Uninstall)),
        )
        .route(
            "/api/fleet/epm/packages/_bulk_uninstall/{task}",
            get(|s, id, q| task_status(s, id, q, PackageTask::Uninstall)),
        )
        .route(
            "/api/fleet/epm/packages/_bulk_rollback",
            post(|s, who, q, body| start_task(s, who, q, body, PackageTask::Rollback)),
        )
        .route(
            "/api/fleet/epm/packages/_bulk_rollback/{task}",
            get(|s, id, q| task_status(s, id, q, PackageTask::Rollback)),
        )
        .route("/api/fleet/epm/packages/{name}/rollback", post(rollback))
        .route(
            "/api/fleet/epm/packages/{name}/review_upgrade",
            post(not_yet("Package upgrade review")),
        )
        .route(
            "/api/fleet/epm/packages/{name}/{version}/dependencies",
            get(not_yet("Package dependencies")),
        )
}

fn needs_elasticsearch(what: &str) -> ApiError {
    ApiError::bad_request(format!(
        "{what}, and Flotilla does not use Elasticsearch: this operation needs Kibana with Elasticsearch"
    ))
}

fn not_supported(what: &str) -> ApiError {
    ApiError::bad_request(format!("{what}: not supported by Flotilla yet"))
}

async fn categories(State(s): State<AppState>, q: QueryParams) -> ApiResult<Json<Value>> {
    q.allow(CATEGORIES_QUERY)?;
    let prerelease = q.bool("prerelease")?.unwrap_or(false);
    let templates = q.bool("include_policy_templates")?.unwrap_or(false);
    Ok(Json(
        s.fleet.package_categories(prerelease, templates).await?,
    ))
}

async fn list(State(s): State<AppState>, q: QueryParams) -> ApiResult<Json<Value>> {
    q.allow(LIST_QUERY)?;
    Ok(Json(
        s.fleet
            .list_packages(
                q.get("category"),
                q.bool("prerelease")?.unwrap_or(false),
                q.bool("excludeInstallStatus")?.unwrap_or(false),
                q.bool("withPackagePoliciesCount")?.unwrap_or(false),
            )
            .await?,
    ))
}

async fn upload(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    q: QueryParams,
    req: Request<Body>,
) -> ApiResult<Json<Value>> {
    q.allow(UPLOAD_QUERY)?;
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let format = match content_type.as_str() {
        "application/zip" => ArchiveFormat::Zip,
        "application/gzip" => ArchiveFormat::TarGz,
        _ => {
            return Err(ApiError::bad_request(format!(
                "Unsupported content type: {content_type}. Upload a package as a zip archive (Content-Type: application/zip) or a gzipped tar archive (Content-Type: application/gzip)"
            )))
        }
    };
    let bytes: Bytes = to_bytes(req.into_body(), MAX_PACKAGE_UPLOAD)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "Payload content length greater than maximum allowed: {MAX_PACKAGE_UPLOAD}"
                ),
            )
        })?;
    Ok(Json(s.fleet.upload_package(&who, &bytes, format).await?))
}

async fn bulk_install(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    q: QueryParams,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    q.allow(BULK_INSTALL_QUERY)?;
    let prerelease = q.bool("prerelease")?.unwrap_or(false);
    Ok(Json(
        s.fleet
            .bulk_install_packages(&who, &body, prerelease)
            .await?,
    ))
}

async fn rollback(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(name): Path<String>,
    q: QueryParams,
) -> ApiResult<Json<Value>> {
    q.allow(&[])?;
    Ok(Json(s.fleet.rollback_package(&who, &name).await?))
}

/// `POST /epm/packages/_bulk_upgrade`, `_bulk_uninstall` and `_bulk_rollback`.
async fn start_task(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    q: QueryParams,
    JsonBody(body): JsonBody,
    task: PackageTask,
) -> ApiResult<Json<Value>> {
    q.allow(&[])?;
    Ok(Json(s.fleet.start_package_task(&who, task, &body).await?))
}

/// `GET /epm/packages/_bulk_{upgrade,uninstall,rollback}/{taskId}`.
async fn task_status(
    State(s): State<AppState>,
    Path(id): Path<String>,
    q: QueryParams,
    task: PackageTask,
) -> ApiResult<Json<Value>> {
    q.allow(&[])?;
    Ok(Json(s.fleet.package_task_status(task, &id).await?))
}

async fn installed(State(s): State<AppState>, q: QueryParams) -> ApiResult<Json<Value>> {
    q.allow(INSTALLED_QUERY)?;
    let per_page = q.num("perPage")?.unwrap_or(15.0).max(0.0) as u64;
    let search_after = q.get("searchAfter").map(|raw| {
        serde_json::from_str::<Value>(raw)
            .ok()
            .and_then(|v| v.get(0).and_then(Value::as_str).map(String::from))
            .unwrap_or_else(|| raw.to_string())
    });
    let descending = q.one_of("sortOrder", &["asc", "desc"])?.as_deref() == Some("desc");
    Ok(Json(
        s.fleet
            .installed_packages(
                q.get("nameQuery"),
                per_page,
                search_after.as_deref(),
                descending,
            )
            .await?,
    ))
}

async fn limited(State(s): State<AppState>, q: QueryParams) -> ApiResult<Json<Value>> {
    q.allow(&[])?;
    Ok(Json(s.fleet.limited_packages().await?))
}

async fn info_for(
    s: &AppState,
    name: &str,
    version: Option<&str>,
    q: &QueryParams,
) -> ApiResult<Json<Value>> {
    q.allow(INFO_FOR_QUERY)?;
    let prerelease = q.bool("prerelease")?.unwrap_or(false);
    let with_metadata = q.bool("withMetadata")?.unwrap_or(false);
    Ok(Json(
        s.fleet
            .package_info(name, version, prerelease, with_metadata)
            .await?,
    ))
}

async fn info_latest(
    State(s): State<AppState>,
    Path(name): Path<String>,
    q: QueryParams,
) -> ApiResult<Json<Value>> {
    info_for(&s, &name, None, &q).await
}

async fn info(
    State(s): State<AppState>,
    Path((name, version)): Path<(String, String)>,
    q: QueryParams,
) -> ApiResult<Json<Value>> {
    info_for(&s, &name, Some(&version), &q).await
}

async fn install_for(
    s: &AppState,
    who: &Principal,
    name: &str,
    version: Option<&str>,
    q: &QueryParams,
    body: &Value,
) -> ApiResult<Json<Value>> {
    q.allow(INSTALL_FOR_QUERY)?;
    let prerelease = q.bool("prerelease")?.unwrap_or(false);
    let force = body.get("force").and_then(Value::as_bool).unwrap_or(false);
    Ok(Json(
        s.fleet
            .install_package(who, name, version, prerelease, force)
            .await?,
    ))
}

async fn install_latest(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(name): Path<String>,
    q: QueryParams,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    install_for(&s, &who, &name, None, &q, &body).await
}

async fn install(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Path((name, version)): Path<(String, String)>,
    q: QueryParams,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    install_for(&s, &who, &name, Some(&version), &q, &body).await
}

async fn update_settings(
    State(s): State<AppState>,
    Path(name): Path<String>,
    q: QueryParams,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    q.allow(&[])?;
    Ok(Json(
        s.fleet.update_package_settings(&name, None, &body).await?,
    ))
}

async fn update_settings_version(
    State(s): State<AppState>,
    Path((name, version)): Path<(String, String)>,
    q: QueryParams,
    JsonBody(body): JsonBody,
) -> ApiResult<Json<Value>> {
    q.allow(&[])?;
    Ok(Json(
        s.fleet
            .update_package_settings(&name, Some(&version), &body)
            .await?,
    ))
}

async fn uninstall_any(
    State(s): State<AppState>,
    Path(name): Path<String>,
    q: QueryParams,
) -> ApiResult<Json<Value>> {
    q.allow(UNINSTALL_ANY_QUERY)?;
    let force = q.bool("force")?.unwrap_or(false);
    Ok(Json(s.fleet.uninstall_package(&name, None, force).await?))
}

async fn uninstall(
    State(s): State<AppState>,
    Path((name, version)): Path<(String, String)>,
    q: QueryParams,
) -> ApiResult<Json<Value>> {
    q.allow(UNINSTALL_QUERY)?;
    let force = q.bool("force")?.unwrap_or(false);
    Ok(Json(
        s.fleet
            .uninstall_package(&name, Some(&version), force)
            .await?,
    ))
}

async fn stats(
    State(s): State<AppState>,
    Path(name): Path<String>,
    q: QueryParams,
) -> ApiResult<Json<Value>> {
    q.allow(&[])?;
    Ok(Json(s.fleet.package_stats(&name).await?))
}

async fn file(
    State(s): State<AppState>,
    Path((name, version, path)): Path<(String, String, String)>,
    q: QueryParams,
) -> ApiResult<Response> {
    q.allow(&[])?;
    let (data, content_type) = s.fleet.package_file(&name, &version, &path).await?;
    Ok(([(header::CONTENT_TYPE, content_type)], data).into_response())
}

async fn inputs_template(
    State(s): State<AppState>,
    Path((name, version)): Path<(String, String)>,
    q: QueryParams,
) -> ApiResult<Response> {
    q.allow(INPUTS_TEMPLATE_QUERY)?;
    let format = q.get("format").unwrap_or("json");
    let (text, content_type) = s
        .fleet
        .package_inputs_template(&name, &version, format)
        .await?;
    if format == "json" {
        let value: Value = serde_json::from_str(&text).unwrap_or(json!(null));
        return Ok(Json(value).into_response());
    }
    Ok(([(header::CONTENT_TYPE, content_type)], text).into_response())
}
