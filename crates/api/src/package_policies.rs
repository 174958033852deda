//! `/api/fleet/package_policies`: request parsing and response shapes only; the rules live in
//! `fleet::package_policies`.

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use fleet::agent_policies::schema::NoQuery;
use fleet::auth::Principal;
use fleet::package_policies::{
    BulkGetPackagePolicies, DeletePackagePolicies, DeletePackagePolicyQuery,
    ListPackagePoliciesQuery, PackagePolicyFormatQuery, UpgradePackagePolicies,
};
use fleet::package_policy_requests::{CreatePackagePolicy, UpdatePackagePolicy};
use serde_json::Value;

use crate::error::ApiResult;
use crate::extract::{Body, Query};
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/fleet/package_policies", get(list).post(create))
        .route("/api/fleet/package_policies/_bulk_get", post(bulk_get))
        .route("/api/fleet/package_policies/delete", post(bulk_delete))
        .route("/api/fleet/package_policies/upgrade", post(upgrade))
        .route(
            "/api/fleet/package_policies/upgrade/dryrun",
            post(upgrade_dry_run),
        )
        .route(
            "/api/fleet/package_policies/{id}",
            get(get_one).put(update).delete(delete_one),
        )
}

async fn list(
    State(s): State<AppState>,
    Query(q): Query<ListPackagePoliciesQuery>,
) -> ApiResult<Json<Value>> {
    Ok(Json(s.fleet.list_package_policies(&q.params()).await?))
}

async fn create(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Query(q): Query<PackagePolicyFormatQuery>,
    Body(body): Body<CreatePackagePolicy>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        s.fleet
            .create_package_policy(&who, &body.into(), q.format.unwrap_or_default())
            .await?,
    ))
}

async fn bulk_get(
    State(s): State<AppState>,
    Query(q): Query<PackagePolicyFormatQuery>,
    Body(body): Body<BulkGetPackagePolicies>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        s.fleet
            .bulk_get_package_policies(&body, q.format.unwrap_or_default())
            .await?,
    ))
}

async fn get_one(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<PackagePolicyFormatQuery>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        s.fleet
            .get_package_policy(&id, q.format.unwrap_or_default())
            .await?,
    ))
}

async fn update(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    Query(q): Query<PackagePolicyFormatQuery>,
    Body(body): Body<UpdatePackagePolicy>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        s.fleet
            .update_package_policy(&who, &id, &body.into(), q.format.unwrap_or_default())
            .await?,
    ))
}

async fn delete_one(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<DeletePackagePolicyQuery>,
) -> ApiResult<Json<Value>> {
    let force = q.force.unwrap_or(false);
    Ok(Json(s.fleet.delete_package_policy(&id, force).await?))
}

async fn bulk_delete(
    State(s): State<AppState>,
    Query(_): Query<NoQuery>,
    Body(body): Body<DeletePackagePolicies>,
) -> ApiResult<Json<Value>> {
    Ok(Json(s.fleet.delete_package_policies(&body).await?))
}

async fn upgrade(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Query(_): Query<NoQuery>,
    Body(body): Body<UpgradePackagePolicies>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        s.fleet.upgrade_package_policies(&who, &body, false).await?,
    ))
}

async fn upgrade_dry_run(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Query(_): Query<NoQuery>,
    Body(body): Body<UpgradePackagePolicies>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        s.fleet.upgrade_package_policies(&who, &body, true).await?,
    ))
}
