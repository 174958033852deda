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
use fleet::package_tasks::{PackageTask, PackageTaskRequest};
use serde_json::{json, Value};

use crate::error::{ApiError, ApiResult};
use crate::extract::{Body as TypedBody, Query};
use crate::AppState;
use fleet::agent_policies::schema::NoQuery;
use fleet::epm_requests::{
    BulkInstallPackages, BulkInstallQuery, BulkRollbackPackages, BulkUninstallPackages,
    BulkUpgradePackages, CategoriesQuery, InputsTemplateQuery, InstallPackage, InstallPackageQuery,
    InstalledPackagesQuery, ListPackagesQuery, PackageInfoQuery, PackageSortOrder, TemplateFormat,
    UninstallPackageQuery, UpdatePackageSettings, UploadPackageQuery,
};

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
            post(bulk_upgrade),
        )
        .route(
            "/api/fleet/epm/packages/_bulk_upgrade/{task}",
            get(|s, id, q| task_status(s, id, q, PackageTask::Upgrade)),
        )
        .route(
            "/api/fleet/epm/packages/_bulk_uninstall",
            post(bulk_uninstall),
        )
        .route(
            "/api/fleet/epm/packages/_bulk_uninstall/{task}",
            get(|s, id, q| task_status(s, id, q, PackageTask::Uninstall)),
        )
        .route(
            "/api/fleet/epm/packages/_bulk_rollback",
            post(bulk_rollback),
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

async fn categories(
    State(s): State<AppState>,
    Query(q): Query<CategoriesQuery>,
) -> ApiResult<Json<Value>> {
    let prerelease = q.prerelease.unwrap_or(false);
    let templates = q.include_policy_templates.unwrap_or(false);
    Ok(Json(
        s.fleet.package_categories(prerelease, templates).await?,
    ))
}

async fn list(
    State(s): State<AppState>,
    Query(q): Query<ListPackagesQuery>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        s.fleet
            .list_packages(
                q.category.as_deref(),
                q.prerelease.unwrap_or(false),
                q.exclude_install_status.unwrap_or(false),
                q.with_package_policies_count.unwrap_or(false),
            )
            .await?,
    ))
}

async fn upload(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Query(_): Query<UploadPackageQuery>,
    req: Request<Body>,
) -> ApiResult<Json<Value>> {
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
    Query(q): Query<BulkInstallQuery>,
    TypedBody(body): TypedBody<BulkInstallPackages>,
) -> ApiResult<Json<Value>> {
    let prerelease = q.prerelease.unwrap_or(false);
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
    Query(_): Query<NoQuery>,
) -> ApiResult<Json<Value>> {
    Ok(Json(s.fleet.rollback_package(&who, &name).await?))
}

/// `POST /epm/packages/_bulk_upgrade`, `_bulk_uninstall` and `_bulk_rollback`.
async fn start_task(
    s: &AppState,
    who: &Principal,
    request: PackageTaskRequest,
) -> ApiResult<Json<Value>> {
    Ok(Json(s.fleet.start_package_task(who, &request).await?))
}

async fn bulk_upgrade(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Query(_): Query<NoQuery>,
    TypedBody(body): TypedBody<BulkUpgradePackages>,
) -> ApiResult<Json<Value>> {
    start_task(&s, &who, PackageTaskRequest::Upgrade(body)).await
}

async fn bulk_uninstall(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Query(_): Query<NoQuery>,
    TypedBody(body): TypedBody<BulkUninstallPackages>,
) -> ApiResult<Json<Value>> {
    start_task(&s, &who, PackageTaskRequest::Uninstall(body)).await
}

async fn bulk_rollback(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Query(_): Query<NoQuery>,
    TypedBody(body): TypedBody<BulkRollbackPackages>,
) -> ApiResult<Json<Value>> {
    start_task(&s, &who, PackageTaskRequest::Rollback(body)).await
}

/// `GET /epm/packages/_bulk_{upgrade,uninstall,rollback}/{taskId}`.
async fn task_status(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(_): Query<NoQuery>,
    task: PackageTask,
) -> ApiResult<Json<Value>> {
    Ok(Json(s.fleet.package_task_status(task, &id).await?))
}

async fn installed(
    State(s): State<AppState>,
    Query(q): Query<InstalledPackagesQuery>,
) -> ApiResult<Json<Value>> {
    let per_page = q.per_page.unwrap_or(15.0) as u64;
    let search_after = q.search_after.as_deref().map(|raw| {
        serde_json::from_str::<Value>(raw)
            .ok()
            .and_then(|v| v.get(0).and_then(Value::as_str).map(String::from))
            .unwrap_or_else(|| raw.to_string())
    });
    let descending = q.sort_order == Some(PackageSortOrder::Desc);
    Ok(Json(
        s.fleet
            .installed_packages(
                q.name_query.as_deref(),
                per_page,
                search_after.as_deref(),
                descending,
            )
            .await?,
    ))
}

async fn limited(State(s): State<AppState>, Query(_): Query<NoQuery>) -> ApiResult<Json<Value>> {
    Ok(Json(s.fleet.limited_packages().await?))
}

async fn info_for(
    s: &AppState,
    name: &str,
    version: Option<&str>,
    q: &PackageInfoQuery,
) -> ApiResult<Json<Value>> {
    let prerelease = q.prerelease.unwrap_or(false);
    let with_metadata = q.with_metadata.unwrap_or(false);
    Ok(Json(
        s.fleet
            .package_info(name, version, prerelease, with_metadata)
            .await?,
    ))
}

async fn info_latest(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<PackageInfoQuery>,
) -> ApiResult<Json<Value>> {
    info_for(&s, &name, None, &q).await
}

async fn info(
    State(s): State<AppState>,
    Path((name, version)): Path<(String, String)>,
    Query(q): Query<PackageInfoQuery>,
) -> ApiResult<Json<Value>> {
    info_for(&s, &name, Some(&version), &q).await
}

async fn install_for(
    s: &AppState,
    who: &Principal,
    name: &str,
    version: Option<&str>,
    q: &InstallPackageQuery,
    body: &InstallPackage,
) -> ApiResult<Json<Value>> {
    let prerelease = q.prerelease.unwrap_or(false);
    let force = body.force.unwrap_or(false);
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
    Query(q): Query<InstallPackageQuery>,
    TypedBody(body): TypedBody<InstallPackage>,
) -> ApiResult<Json<Value>> {
    install_for(&s, &who, &name, None, &q, &body).await
}

async fn install(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Path((name, version)): Path<(String, String)>,
    Query(q): Query<InstallPackageQuery>,
    TypedBody(body): TypedBody<InstallPackage>,
) -> ApiResult<Json<Value>> {
    install_for(&s, &who, &name, Some(&version), &q, &body).await
}

async fn update_settings(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Query(_): Query<NoQuery>,
    TypedBody(body): TypedBody<UpdatePackageSettings>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        s.fleet.update_package_settings(&name, None, &body).await?,
    ))
}

async fn update_settings_version(
    State(s): State<AppState>,
    Path((name, version)): Path<(String, String)>,
    Query(_): Query<NoQuery>,
    TypedBody(body): TypedBody<UpdatePackageSettings>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        s.fleet
            .update_package_settings(&name, Some(&version), &body)
            .await?,
    ))
}

async fn uninstall_any(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<UninstallPackageQuery>,
) -> ApiResult<Json<Value>> {
    let force = q.force.unwrap_or(false);
    Ok(Json(s.fleet.uninstall_package(&name, None, force).await?))
}

async fn uninstall(
    State(s): State<AppState>,
    Path((name, version)): Path<(String, String)>,
    Query(q): Query<UninstallPackageQuery>,
) -> ApiResult<Json<Value>> {
    let force = q.force.unwrap_or(false);
    Ok(Json(
        s.fleet
            .uninstall_package(&name, Some(&version), force)
            .await?,
    ))
}

async fn stats(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Query(_): Query<NoQuery>,
) -> ApiResult<Json<Value>> {
    Ok(Json(s.fleet.package_stats(&name).await?))
}

async fn file(
    State(s): State<AppState>,
    Path((name, version, path)): Path<(String, String, String)>,
    Query(_): Query<NoQuery>,
) -> ApiResult<Response> {
    let (data, content_type) = s.fleet.package_file(&name, &version, &path).await?;
    Ok(([(header::CONTENT_TYPE, content_type)], data).into_response())
}

async fn inputs_template(
    State(s): State<AppState>,
    Path((name, version)): Path<(String, String)>,
    Query(q): Query<InputsTemplateQuery>,
) -> ApiResult<Response> {
    let format = q.format.map(TemplateFormat::as_str).unwrap_or("json");
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
