//! The OpenAPI document of the management API Flotilla serves, at `GET /api/oas` (Kibana's
//! path for its own document, with the same `pathStartsWith` filter). Built from the table
//! below; each operation's query parameters are the very lists its handler accepts (the
//! `*_QUERY` constants), and an end-to-end test checks the table against the running router in
//! both directions (every operation listed is served; every Kibana Fleet operation served is
//! listed).

use axum::Json;
use std::sync::Arc;

use serde_json::{json, Map, Value};

use crate::authz::*;
use crate::error::ApiResult;
use crate::extract::Query;

use crate::VERSION;

/// One operation: method, path (OpenAPI syntax, Kibana's parameter names), tag, summary, the
/// query parameters its handler accepts, and who may call it (the gate reads this, see
/// [`crate::authz`]).
#[derive(Clone, Copy)]
pub struct Operation {
    pub method: &'static str,
    pub path: &'static str,
    pub tag: &'static str,
    pub summary: &'static str,
    pub query: &'static [&'static str],
    pub authz: Authz,
}

const fn op(
    method: &'static str,
    path: &'static str,
    tag: &'static str,
    summary: &'static str,
    query: &'static [&'static str],
    authz: Authz,
) -> Operation {
    Operation {
        method,
        path,
        tag,
        summary,
        query,
        authz,
    }
}

const POLICIES: &str = "Elastic Agent policies";
const AGENTS: &str = "Elastic Agents";
const ACTIONS: &str = "Elastic Agent actions";
const STATUS: &str = "Elastic Agent status";
const TOKENS: &str = "Fleet enrollment API keys";
const EPM: &str = "Elastic Package Manager (EPM)";
const PACKAGE_POLICIES: &str = "Fleet package policies";
const OUTPUTS: &str = "Fleet outputs";
const HOSTS: &str = "Fleet Server hosts";
const SOURCES: &str = "Elastic Agent binary download sources";
const PROXIES: &str = "Fleet proxies";
const INTERNALS: &str = "Fleet internals";
const UNINSTALL: &str = "Fleet uninstall tokens";
const SIGNING: &str = "Message Signing Service";
const SECURITY: &str = "Security (Flotilla)";
const NONE: &[&str] = &[];

/// The methods operations use.
pub(crate) const OPERATION_METHODS: &[&str] = &["DELETE", "GET", "POST", "PUT"];

/// Every operation of the management API.
pub static OPERATIONS: &[Operation] = &[
    // Agent policies
    op("GET", "/api/fleet/agent_policies", POLICIES, "List agent policies (KQL kuery, paging, sort)", NONE, POLICIES_READ),
    op("POST", "/api/fleet/agent_policies", POLICIES, "Create an agent policy", NONE, POLICIES_ALL),
    op("POST", "/api/fleet/agent_policies/_bulk_get", POLICIES, "Get several agent policies by id", NONE, POLICIES_READ),
    op("POST", "/api/fleet/agent_policies/delete", POLICIES, "Delete an agent policy", NONE, POLICIES_ALL),
    op("POST", "/api/fleet/agent_policies/outputs", POLICIES, "The outputs of several agent policies", NONE, POLICY_OUTPUTS),
    op("GET", "/api/fleet/agent_policies/{agentPolicyId}", POLICIES, "Get an agent policy", NONE, POLICIES_READ),
    op("PUT", "/api/fleet/agent_policies/{agentPolicyId}", POLICIES, "Update an agent policy", NONE, POLICIES_ALL),
    op("GET", "/api/fleet/agent_policies/{agentPolicyId}/auto_upgrade_agents_status", POLICIES, "Progress of the policy's automatic agent upgrades", NONE, AGENTS_READ),
    op("POST", "/api/fleet/agent_policies/{agentPolicyId}/copy", POLICIES, "Copy an agent policy with its integrations", NONE, POLICIES_ALL),
    op("GET", "/api/fleet/agent_policies/{agentPolicyId}/download", POLICIES, "The full policy as YAML (elastic-agent.yml)", NONE, FULL_POLICY),
    op("GET", "/api/fleet/agent_policies/{agentPolicyId}/full", POLICIES, "The full policy an agent receives", NONE, FULL_POLICY),
    op("GET", "/api/fleet/agent_policies/{agentPolicyId}/outputs", POLICIES, "The outputs an agent policy uses", NONE, POLICY_OUTPUTS),
    // Agents
    op("GET", "/api/fleet/agents", AGENTS, "List agents (KQL kuery, status, sort, searchAfter paging)", NONE, AGENTS_READ),
    op("GET", "/api/fleet/agents/{agentId}", AGENTS, "Get an agent", NONE, AGENTS_READ),
    op("PUT", "/api/fleet/agents/{agentId}", AGENTS, "Update an agent's tags or user-provided metadata", NONE, AGENTS_ALL),
    op("DELETE", "/api/fleet/agents/{agentId}", AGENTS, "Delete an agent and revoke its keys", NONE, AGENTS_ALL),
    op("GET", "/api/fleet/agents/tags", AGENTS, "The distinct tags of the agents", NONE, AGENTS_READ),
    op("GET", "/api/fleet/agents/setup", AGENTS, "Whether agents can enroll", NONE, SETUP),
    op("POST", "/api/fleet/agents/setup", AGENTS, "Prepare Fleet for agents", NONE, SETUP),
    op("GET", "/api/fleet/agents/available_versions", AGENTS, "Agent versions available for upgrades", NONE, AGENTS_READ),
    op("GET", "/api/fleet/agents/{agentId}/uploads", AGENTS, "Files an agent uploaded (diagnostics)", NONE, AGENTS_READ),
    op("GET", "/api/fleet/agents/files/{fileId}/{fileName}", AGENTS, "Download an uploaded file", NONE, AGENTS_READ),
    op("DELETE", "/api/fleet/agents/files/{fileId}", AGENTS, "Delete an uploaded file", NONE, AGENTS_ALL),
    op("GET", "/api/fleet/agent_status", STATUS, "Agent counts by status", NONE, AGENTS_READ),
    op("GET", "/api/fleet/agent-status", STATUS, "Agent counts by status (Kibana's deprecated path)", NONE, AGENTS_READ),
    op("GET", "/internal/fleet/agent_status_history", STATUS, "Agent counts by status, a sample a minute (Flotilla's own; since: RFC 3339, default 24 h ago)", NONE, AGENTS_READ),
    // Agent actions
    op("GET", "/api/fleet/agents/action_status", ACTIONS, "Progress of recent actions", NONE, AGENTS_READ),
    op("POST", "/api/fleet/agents/actions/{actionId}/cancel", ACTIONS, "Cancel an action", NONE, AGENTS_ALL),
    op("POST", "/api/fleet/agents/{agentId}/actions", ACTIONS, "Send an action to an agent", NONE, AGENTS_ALL),
    op("POST", "/api/fleet/agents/{agentId}/reassign", ACTIONS, "Move an agent to another policy", NONE, AGENTS_ALL),
    op("POST", "/api/fleet/agents/{agentId}/unenroll", ACTIONS, "Unenroll an agent", NONE, AGENTS_ALL),
    op("POST", "/api/fleet/agents/{agentId}/upgrade", ACTIONS, "Upgrade an agent", NONE, AGENTS_ALL),
    op("POST", "/api/fleet/agents/{agentId}/rollback", ACTIONS, "Roll an agent back to its previous version", NONE, AGENTS_ALL),
    op("POST", "/api/fleet/agents/{agentId}/request_diagnostics", ACTIONS, "Ask an agent for a diagnostics bundle", NONE, AGENTS_ALL),
    op("POST", "/api/fleet/agents/bulk_reassign", ACTIONS, "Move agents (ids or KQL) to another policy", NONE, AGENTS_ALL),
    op("POST", "/api/fleet/agents/bulk_unenroll", ACTIONS, "Unenroll agents (ids or KQL)", NONE, AGENTS_ALL),
    op("POST", "/api/fleet/agents/bulk_upgrade", ACTIONS, "Upgrade agents (ids or KQL), optionally rolled out over a duration", NONE, AGENTS_ALL),
    op("POST", "/api/fleet/agents/bulk_rollback", ACTIONS, "Roll agents back to their previous version", NONE, AGENTS_ALL),
    op("POST", "/api/fleet/agents/bulk_request_diagnostics", ACTIONS, "Ask agents for diagnostics bundles", NONE, AGENTS_ALL),
    op("POST", "/api/fleet/agents/bulk_update_agent_tags", ACTIONS, "Add and remove tags on agents (ids or KQL)", NONE, AGENTS_ALL),
    // Enrollment API keys
    op("GET", "/api/fleet/enrollment_api_keys", TOKENS, "List enrollment tokens", NONE, AGENTS_ALL),
    op("POST", "/api/fleet/enrollment_api_keys", TOKENS, "Create an enrollment token for a policy", NONE, AGENTS_ALL),
    op("POST", "/api/fleet/enrollment_api_keys/_bulk_delete", TOKENS, "Revoke or delete several enrollment tokens", NONE, AGENTS_ALL),
    op("GET", "/api/fleet/enrollment_api_keys/{keyId}", TOKENS, "Get an enrollment token", NONE, AGENTS_ALL),
    op("DELETE", "/api/fleet/enrollment_api_keys/{keyId}", TOKENS, "Revoke an enrollment token", NONE, AGENTS_ALL),
    // Packages
    op("GET", "/api/fleet/epm/categories", EPM, "Package categories", NONE, PACKAGES_READ),
    op("GET", "/api/fleet/epm/packages", EPM, "List packages", NONE, PACKAGES_READ),
    op("POST", "/api/fleet/epm/packages", EPM, "Install a package from an uploaded zip", NONE, PACKAGES_INSTALL),
    op("POST", "/api/fleet/epm/packages/_bulk", EPM, "Install several packages", NONE, PACKAGES_INSTALL),
    op("GET", "/api/fleet/epm/packages/installed", EPM, "Installed packages", NONE, PACKAGES_READ),
    op("GET", "/api/fleet/epm/packages/limited", EPM, "Packages that cannot be removed", NONE, PACKAGES_READ),
    op("GET", "/api/fleet/epm/packages/{pkgName}", EPM, "Get a package (latest version)", NONE, PACKAGES_READ),
    op("POST", "/api/fleet/epm/packages/{pkgName}", EPM, "Install a package (latest version)", NONE, PACKAGES_INSTALL),
    op("PUT", "/api/fleet/epm/packages/{pkgName}", EPM, "Update a package's settings", NONE, PACKAGES_INSTALL),
    op("DELETE", "/api/fleet/epm/packages/{pkgName}", EPM, "Uninstall a package", NONE, PACKAGES_INSTALL),
    op("GET", "/api/fleet/epm/packages/{pkgName}/stats", EPM, "How many package policies use a package", NONE, PACKAGES_READ),
    op("GET", "/api/fleet/epm/packages/{pkgName}/{pkgVersion}", EPM, "Get a package version", NONE, PACKAGES_READ),
    op("POST", "/api/fleet/epm/packages/{pkgName}/{pkgVersion}", EPM, "Install a package version", NONE, PACKAGES_INSTALL),
    op("PUT", "/api/fleet/epm/packages/{pkgName}/{pkgVersion}", EPM, "Update a package's settings", NONE, PACKAGES_INSTALL),
    op("DELETE", "/api/fleet/epm/packages/{pkgName}/{pkgVersion}", EPM, "Uninstall a package version", NONE, PACKAGES_INSTALL),
    op("GET", "/api/fleet/epm/packages/{pkgName}/{pkgVersion}/{filePath}", EPM, "A file of a package", NONE, PACKAGES_READ),
    op("GET", "/api/fleet/epm/templates/{pkgName}/{pkgVersion}/inputs", EPM, "The package's inputs as a policy template", NONE, PACKAGES_READ),
    op("GET", "/api/fleet/epm/packages/{pkgName}/{pkgVersion}/dependencies", EPM, "A package's dependencies (not supported)", NONE, PACKAGES_READ),
    op("GET", "/api/fleet/epm/data_streams", EPM, "Data streams (needs Elasticsearch)", NONE, PACKAGES_READ),
    op("POST", "/api/fleet/epm/bulk_assets", EPM, "Package assets (needs Elasticsearch)", NONE, PACKAGES_READ),
    op("POST", "/api/fleet/epm/packages/{pkgName}/{pkgVersion}/kibana_assets", EPM, "Install Kibana assets (needs Kibana)", NONE, PACKAGES_INSTALL),
    op("DELETE", "/api/fleet/epm/packages/{pkgName}/{pkgVersion}/kibana_assets", EPM, "Delete Kibana assets (needs Kibana)", NONE, PACKAGES_INSTALL),
    op("POST", "/api/fleet/epm/packages/{pkgName}/{pkgVersion}/rule_assets", EPM, "Install rule assets (needs Kibana)", NONE, PACKAGES_INSTALL),
    op("POST", "/api/fleet/epm/packages/{pkgName}/{pkgVersion}/transforms/authorize", EPM, "Authorize transforms (needs Elasticsearch)", NONE, PACKAGES_INSTALL),
    op("DELETE", "/api/fleet/epm/packages/{pkgName}/{pkgVersion}/datastream_assets", EPM, "Delete data stream assets (needs Elasticsearch)", NONE, PACKAGES_INSTALL),
    op("POST", "/api/fleet/epm/custom_integrations", EPM, "Create a custom integration (needs Elasticsearch)", NONE, PACKAGES_INSTALL),
    op("PUT", "/api/fleet/epm/custom_integrations/{pkgName}", EPM, "Update a custom integration (needs Elasticsearch)", NONE, CUSTOM_INTEGRATION_UPDATE),
    op("POST", "/api/fleet/epm/packages/_bulk_namespace_customization", EPM, "Namespace customization (needs Elasticsearch)", NONE, PACKAGES_INSTALL),
    op("GET", "/api/fleet/epm/verification_key_id", EPM, "Package signature key (not supported)", NONE, PACKAGES_READ),
    op("POST", "/api/fleet/epm/packages/_bulk_upgrade", EPM, "Bulk package upgrade", NONE, PACKAGES_INSTALL),
    op("GET", "/api/fleet/epm/packages/_bulk_upgrade/{taskId}", EPM, "Bulk package upgrade status", NONE, PACKAGES_INSTALL),
    op("POST", "/api/fleet/epm/packages/_bulk_uninstall", EPM, "Bulk package uninstall", NONE, PACKAGES_INSTALL),
    op("GET", "/api/fleet/epm/packages/_bulk_uninstall/{taskId}", EPM, "Bulk package uninstall status", NONE, PACKAGES_INSTALL),
    op("POST", "/api/fleet/epm/packages/_bulk_rollback", EPM, "Bulk package rollback", NONE, PACKAGES_INSTALL),
    op("GET", "/api/fleet/epm/packages/_bulk_rollback/{taskId}", EPM, "Bulk package rollback status", NONE, PACKAGES_INSTALL),
    op("POST", "/api/fleet/epm/packages/{pkgName}/rollback", EPM, "Roll a package back", NONE, PACKAGES_INSTALL),
    op("POST", "/api/fleet/epm/packages/{pkgName}/review_upgrade", EPM, "Review a package upgrade (not supported)", NONE, PACKAGES_INSTALL),
    // Package policies
    op("GET", "/api/fleet/package_policies", PACKAGE_POLICIES, "List integration policies (KQL kuery, paging, sort)", NONE, INTEGRATION_POLICIES_READ),
    op("POST", "/api/fleet/package_policies", PACKAGE_POLICIES, "Add an integration to agent policies", NONE, INTEGRATION_POLICIES_WRITE),
    op("POST", "/api/fleet/package_policies/_bulk_get", PACKAGE_POLICIES, "Get several integration policies by id", NONE, INTEGRATION_POLICIES_READ),
    op("POST", "/api/fleet/package_policies/delete", PACKAGE_POLICIES, "Delete several integration policies", NONE, INTEGRATION_POLICIES_REMOVE),
    op("POST", "/api/fleet/package_policies/upgrade", PACKAGE_POLICIES, "Upgrade integration policies to the installed package", NONE, INTEGRATION_POLICIES_REMOVE),
    op("POST", "/api/fleet/package_policies/upgrade/dryrun", PACKAGE_POLICIES, "What an upgrade would change", NONE, INTEGRATION_POLICIES_DRY_RUN),
    op("GET", "/api/fleet/package_policies/{packagePolicyId}", PACKAGE_POLICIES, "Get an integration policy", NONE, INTEGRATION_POLICIES_READ),
    op("PUT", "/api/fleet/package_policies/{packagePolicyId}", PACKAGE_POLICIES, "Update an integration policy", NONE, INTEGRATION_POLICIES_WRITE),
    op("DELETE", "/api/fleet/package_policies/{packagePolicyId}", PACKAGE_POLICIES, "Delete an integration policy", NONE, INTEGRATION_POLICIES_REMOVE),
    // Outputs, hosts, download sources and proxies: see COLLECTIONS.
    op("GET", "/api/fleet/outputs/{outputId}/health", OUTPUTS, "An output's health as agents report it", NONE, SETTINGS_READ),
    op("POST", "/api/fleet/logstash_api_keys", OUTPUTS, "Logstash API key (needs Elasticsearch)", NONE, SETTINGS_ALL),
    // Settings and internals
    op("GET", "/api/fleet/settings", INTERNALS, "Fleet settings", NONE, SETTINGS_READ),
    op("PUT", "/api/fleet/settings", INTERNALS, "Update Fleet settings", NONE, SETTINGS_ALL),
    op("GET", "/api/fleet/space_settings", INTERNALS, "Settings of the current space", NONE, SPACE_SETTINGS_READ),
    op("PUT", "/api/fleet/space_settings", INTERNALS, "Update the settings of the current space", NONE, SETTINGS_ALL),
    op("POST", "/api/fleet/setup", INTERNALS, "Set Fleet up (idempotent)", NONE, SETUP),
    op("GET", "/api/fleet/check-permissions", INTERNALS, "Whether the caller may use Fleet", NONE, USER),
    op("POST", "/api/fleet/health_check", INTERNALS, "Check a Fleet Server host", NONE, SETTINGS_ALL),
    op("POST", "/api/fleet/service_tokens", INTERNALS, "Fleet Server service token (needs Elasticsearch)", NONE, AGENTS_ALL),
    op("GET", "/api/fleet/uninstall_tokens", UNINSTALL, "List uninstall tokens (metadata)", NONE, AGENTS_ALL),
    op("GET", "/api/fleet/uninstall_tokens/{uninstallTokenId}", UNINSTALL, "Get an uninstall token", NONE, AGENTS_ALL),
    op("POST", "/api/fleet/message_signing_service/rotate_key_pair", SIGNING, "Rotate the message signing key pair", NONE, FLEET_ALL_AREAS),
    // Security: API keys and the UI's session (Elasticsearch's and Kibana's paths)
    op("GET", "/_security/api_key", SECURITY, "List API keys", NONE, API_KEYS),
    op("POST", "/_security/api_key", SECURITY, "Create an API key", NONE, API_KEYS),
    op("PUT", "/_security/api_key", SECURITY, "Create an API key", NONE, API_KEYS),
    op("DELETE", "/_security/api_key", SECURITY, "Invalidate API keys", NONE, API_KEYS),
    op("GET", "/_security/_authenticate", SECURITY, "Who the caller is", NONE, USER),
    op("POST", "/internal/security/login", SECURITY, "Log in to the web UI (session cookie)", NONE, OPEN),
    op("GET", "/api/security/logout", SECURITY, "Log out of the web UI", NONE, OPEN),
    op("GET", "/internal/security/me", SECURITY, "The logged-in user", NONE, USER),
    op("GET", "/api/status", SECURITY, "Server status (no authentication)", NONE, OPEN),
    op("GET", "/livez", SECURITY, "Liveness: the process answers (no authentication)", NONE, OPEN),
    op("GET", "/readyz", SECURITY, "Readiness: the database answers, else 503 (no authentication)", NONE, OPEN),
    op("GET", "/api/oas", SECURITY, "This document", NONE, USER),
];

/// A settings collection served as list, create, get, update and delete (settings.rs serves
/// them with one helper, and they are documented the same way).
pub struct Collection {
    list: &'static str,
    item: &'static str,
    tag: &'static str,
    plural: &'static str,
    one: &'static str,
    query: &'static [&'static str],
    /// Who may list, get one, and write.
    list_authz: Authz,
    get_authz: Authz,
    write_authz: Authz,
}

static COLLECTIONS: &[Collection] = &[
    Collection {
        list: "/api/fleet/outputs",
        item: "/api/fleet/outputs/{outputId}",
        tag: OUTPUTS,
        plural: "outputs",
        one: "an output",
        query: NONE,
        list_authz: OUTPUTS_READ,
        get_authz: OUTPUTS_READ,
        write_authz: SETTINGS_ALL,
    },
    Collection {
        list: "/api/fleet/fleet_server_hosts",
        item: "/api/fleet/fleet_server_hosts/{itemId}",
        tag: HOSTS,
        plural: "Fleet Server hosts",
        one: "a Fleet Server host",
        query: NONE,
        list_authz: FLEET_SERVER_HOSTS_LIST,
        get_authz: SETTINGS_READ,
        write_authz: SETTINGS_ALL,
    },
    Collection {
        list: "/api/fleet/agent_download_sources",
        item: "/api/fleet/agent_download_sources/{sourceId}",
        tag: SOURCES,
        plural: "agent binary download sources",
        one: "a download source",
        query: NONE,
        list_authz: DOWNLOAD_SOURCES_READ,
        get_authz: DOWNLOAD_SOURCES_READ,
        write_authz: SETTINGS_ALL,
    },
    Collection {
        list: "/api/fleet/proxies",
        item: "/api/fleet/proxies/{itemId}",
        tag: PROXIES,
        plural: "proxies",
        one: "a proxy",
        query: NONE,
        list_authz: SETTINGS_READ,
        get_authz: SETTINGS_READ,
        write_authz: SETTINGS_ALL,
    },
];

/// An operation whose query and body are declared as types (see the `contract` crate): the
/// document describes them from the types' schemas, the very ones requests are checked with.
struct Typed {
    method: &'static str,
    path: &'static str,
    query: Option<fn() -> Arc<Value>>,
    body: Option<fn() -> Arc<Value>>,
}

const fn typed(
    method: &'static str,
    path: &'static str,
    query: Option<fn() -> Arc<Value>>,
    body: Option<fn() -> Arc<Value>>,
) -> Typed {
    Typed {
        method,
        path,
        query,
        body,
    }
}

#[rustfmt::skip]
static TYPED: &[Typed] = {
    use contract::schema_of as of;
    use fleet::agent_policies::schema as ap;
    use fleet::action_requests as act;
    use fleet::agents as ag;
    use fleet::enrollment_api_keys as eak;
    use fleet::epm_requests as epm;
    use fleet::package_policies as pp;
    use fleet::package_policy_requests as ppr;
    use fleet::settings as st;
    const POLICY: &str = "/api/fleet/agent_policies/{agentPolicyId}";
    const NO_QUERY: Option<fn() -> Arc<Value>> = Some(of::<ap::NoQuery>);
    &[
        typed("GET", "/api/fleet/agent_policies", Some(of::<ap::ListAgentPoliciesQuery>), None),
        typed("POST", "/api/fleet/agent_policies", Some(of::<ap::CreateAgentPolicyQuery>), Some(of::<ap::NewAgentPolicy>)),
        typed("POST", "/api/fleet/agent_policies/_bulk_get", Some(of::<ap::FormatQuery>), Some(of::<ap::BulkGetAgentPolicies>)),
        typed("POST", "/api/fleet/agent_policies/delete", NO_QUERY, Some(of::<ap::DeleteAgentPolicy>)),
        typed("POST", "/api/fleet/agent_policies/outputs", NO_QUERY, Some(of::<ap::AgentPolicyIds>)),
        typed("GET", POLICY, Some(of::<ap::FormatQuery>), None),
        typed("PUT", POLICY, Some(of::<ap::FormatQuery>), Some(of::<ap::UpdateAgentPolicy>)),
        typed("POST", "/api/fleet/agent_policies/{agentPolicyId}/copy", Some(of::<ap::FormatQuery>), Some(of::<ap::CopyAgentPolicy>)),
        typed("GET", "/api/fleet/agent_policies/{agentPolicyId}/full", Some(of::<ap::FullPolicyQuery>), None),
        typed("GET", "/api/fleet/agent_policies/{agentPolicyId}/download", Some(of::<ap::FullPolicyQuery>), None),
        typed("GET", "/api/fleet/agent_policies/{agentPolicyId}/outputs", NO_QUERY, None),
        typed("GET", "/api/fleet/agent_policies/{agentPolicyId}/auto_upgrade_agents_status", NO_QUERY, None),
        typed("GET", "/api/fleet/agents", Some(of::<ag::ListAgentsQuery>), None),
        typed("GET", "/api/fleet/agents/{agentId}", Some(of::<ag::GetAgentQuery>), None),
        typed("PUT", "/api/fleet/agents/{agentId}", NO_QUERY, Some(of::<ag::UpdateAgent>)),
        typed("GET", "/api/fleet/agents/tags", Some(of::<ag::AgentTagsQuery>), None),
        typed("DELETE", "/api/fleet/agents/{agentId}", NO_QUERY, None),
        typed("GET", "/api/fleet/agents/setup", NO_QUERY, None),
        typed("POST", "/api/fleet/agents/setup", NO_QUERY, None),
        typed("GET", "/api/fleet/agents/available_versions", NO_QUERY, None),
        typed("GET", "/api/fleet/agents/{agentId}/uploads", NO_QUERY, None),
        typed("GET", "/api/fleet/agents/files/{fileId}/{fileName}", NO_QUERY, None),
        typed("DELETE", "/api/fleet/agents/files/{fileId}", NO_QUERY, None),
        typed("POST", "/api/fleet/agents/actions/{actionId}/cancel", NO_QUERY, None),
        typed("POST", "/api/fleet/agents/{agentId}/rollback", NO_QUERY, None),
        typed("GET", "/internal/fleet/agent_status_history", Some(of::<ag::StatusHistoryQuery>), None),
        typed("GET", "/api/fleet/agent_status", Some(of::<ag::AgentStatusQuery>), None),
        typed("GET", "/api/fleet/agent-status", Some(of::<ag::AgentStatusQuery>), None),
        typed("GET", "/api/fleet/agents/action_status", Some(of::<ag::ActionStatusQuery>), None),
        typed("POST", "/api/fleet/agents/{agentId}/actions", NO_QUERY, Some(of::<act::PostAgentAction>)),
        typed("POST", "/api/fleet/agents/{agentId}/unenroll", NO_QUERY, Some(of::<act::UnenrollAgent>)),
        typed("POST", "/api/fleet/agents/bulk_unenroll", NO_QUERY, Some(of::<act::BulkUnenroll>)),
        typed("POST", "/api/fleet/agents/{agentId}/reassign", NO_QUERY, Some(of::<act::ReassignAgent>)),
        typed("POST", "/api/fleet/agents/bulk_reassign", NO_QUERY, Some(of::<act::BulkReassign>)),
        typed("POST", "/api/fleet/agents/{agentId}/upgrade", NO_QUERY, Some(of::<act::UpgradeAgent>)),
        typed("POST", "/api/fleet/agents/bulk_upgrade", NO_QUERY, Some(of::<act::BulkUpgrade>)),
        typed("POST", "/api/fleet/agents/{agentId}/request_diagnostics", NO_QUERY, Some(of::<act::RequestDiagnostics>)),
        typed("POST", "/api/fleet/agents/bulk_request_diagnostics", NO_QUERY, Some(of::<act::BulkRequestDiagnostics>)),
        typed("POST", "/api/fleet/agents/bulk_update_agent_tags", NO_QUERY, Some(of::<act::BulkUpdateAgentTags>)),
        typed("POST", "/api/fleet/agents/bulk_rollback", NO_QUERY, Some(of::<act::BulkRollback>)),
        typed("GET", "/api/oas", Some(of::<OasQuery>), None),
        typed("GET", "/api/fleet/outputs", Some(of::<st::PagingQuery>), None),
        typed("GET", "/api/fleet/fleet_server_hosts", Some(of::<st::PagingQuery>), None),
        typed("GET", "/api/fleet/agent_download_sources", Some(of::<st::PagingQuery>), None),
        typed("GET", "/api/fleet/proxies", Some(of::<st::PagingQuery>), None),
        typed("GET", "/api/fleet/check-permissions", Some(of::<st::CheckPermissionsQuery>), None),
        typed("GET", "/api/fleet/uninstall_tokens", Some(of::<st::UninstallTokensQuery>), None),
        typed("GET", "/api/fleet/uninstall_tokens/{uninstallTokenId}", NO_QUERY, None),
        typed("POST", "/api/fleet/message_signing_service/rotate_key_pair", Some(of::<st::RotateKeyPairQuery>), None),
        typed("GET", "/api/fleet/settings", NO_QUERY, None),
        typed("PUT", "/api/fleet/settings", NO_QUERY, Some(of::<fleet::settings::PutSettings>)),
        typed("PUT", "/api/fleet/space_settings", NO_QUERY, Some(of::<fleet::settings::PutSpaceSettings>)),
        typed("POST", "/api/fleet/health_check", NO_QUERY, Some(of::<fleet::settings::HealthCheck>)),
        typed("GET", "/_security/api_key", Some(of::<fleet::auth::ListApiKeysQuery>), None),
        typed("POST", "/_security/api_key", None, Some(of::<fleet::auth::CreateApiKeyRequest>)),
        typed("PUT", "/_security/api_key", None, Some(of::<fleet::auth::CreateApiKeyRequest>)),
        typed("DELETE", "/_security/api_key", None, Some(of::<fleet::auth::InvalidateApiKeysRequest>)),
        typed("POST", "/internal/security/login", None, Some(of::<fleet::auth::LoginRequest>)),
        typed("GET", "/api/fleet/epm/categories", Some(of::<epm::CategoriesQuery>), None),
        typed("GET", "/api/fleet/epm/packages", Some(of::<epm::ListPackagesQuery>), None),
        typed("POST", "/api/fleet/epm/packages", Some(of::<epm::UploadPackageQuery>), None),
        typed("POST", "/api/fleet/epm/packages/_bulk", Some(of::<epm::BulkInstallQuery>), Some(of::<epm::BulkInstallPackages>)),
        typed("PUT", "/api/fleet/epm/packages/{pkgName}", None, Some(of::<epm::UpdatePackageSettings>)),
        typed("PUT", "/api/fleet/epm/packages/{pkgName}/{pkgVersion}", None, Some(of::<epm::UpdatePackageSettings>)),
        typed("POST", "/api/fleet/epm/packages/_bulk_upgrade", None, Some(of::<epm::BulkUpgradePackages>)),
        typed("POST", "/api/fleet/epm/packages/_bulk_uninstall", None, Some(of::<epm::BulkUninstallPackages>)),
        typed("POST", "/api/fleet/epm/packages/_bulk_rollback", None, Some(of::<epm::BulkRollbackPackages>)),
        typed("GET", "/api/fleet/epm/packages/installed", Some(of::<epm::InstalledPackagesQuery>), None),
        typed("GET", "/api/fleet/epm/packages/{pkgName}", Some(of::<epm::PackageInfoQuery>), None),
        typed("GET", "/api/fleet/epm/packages/{pkgName}/{pkgVersion}", Some(of::<epm::PackageInfoQuery>), None),
        typed("POST", "/api/fleet/epm/packages/{pkgName}", Some(of::<epm::InstallPackageQuery>), Some(of::<epm::InstallPackage>)),
        typed("POST", "/api/fleet/epm/packages/{pkgName}/{pkgVersion}", Some(of::<epm::InstallPackageQuery>), Some(of::<epm::InstallPackage>)),
        typed("DELETE", "/api/fleet/epm/packages/{pkgName}", Some(of::<epm::UninstallPackageQuery>), None),
        typed("DELETE", "/api/fleet/epm/packages/{pkgName}/{pkgVersion}", Some(of::<epm::UninstallPackageQuery>), None),
        typed("GET", "/api/fleet/epm/templates/{pkgName}/{pkgVersion}/inputs", Some(of::<epm::InputsTemplateQuery>), None),
        typed("GET", "/api/fleet/package_policies", Some(of::<pp::ListPackagePoliciesQuery>), None),
        typed("POST", "/api/fleet/package_policies", Some(of::<pp::PackagePolicyFormatQuery>), Some(of::<ppr::CreatePackagePolicy>)),
        typed("POST", "/api/fleet/package_policies/_bulk_get", Some(of::<pp::PackagePolicyFormatQuery>), Some(of::<pp::BulkGetPackagePolicies>)),
        typed("GET", "/api/fleet/package_policies/{packagePolicyId}", Some(of::<pp::PackagePolicyFormatQuery>), None),
        typed("PUT", "/api/fleet/package_policies/{packagePolicyId}", Some(of::<pp::PackagePolicyFormatQuery>), Some(of::<ppr::UpdatePackagePolicy>)),
        typed("DELETE", "/api/fleet/package_policies/{packagePolicyId}", Some(of::<pp::DeletePackagePolicyQuery>), None),
        typed("POST", "/api/fleet/package_policies/delete", NO_QUERY, Some(of::<pp::DeletePackagePolicies>)),
        typed("POST", "/api/fleet/package_policies/upgrade", NO_QUERY, Some(of::<pp::UpgradePackagePolicies>)),
        typed("POST", "/api/fleet/package_policies/upgrade/dryrun", NO_QUERY, Some(of::<pp::UpgradePackagePolicies>)),
        typed("GET", "/api/fleet/enrollment_api_keys", Some(of::<eak::ListEnrollmentApiKeysQuery>), None),
        typed("POST", "/api/fleet/enrollment_api_keys", NO_QUERY, Some(of::<eak::NewEnrollmentApiKey>)),
        typed("POST", "/api/fleet/enrollment_api_keys/_bulk_delete", NO_QUERY, Some(of::<eak::BulkDeleteEnrollmentApiKeys>)),
        typed("GET", "/api/fleet/enrollment_api_keys/{keyId}", NO_QUERY, None),
        typed("DELETE", "/api/fleet/enrollment_api_keys/{keyId}", Some(of::<eak::DeleteEnrollmentApiKeyQuery>), None),
    ]
};

fn typed_of(o: &Operation) -> Option<&'static Typed> {
    TYPED
        .iter()
        .find(|t| t.method == o.method && t.path == o.path)
}

/// A type's schema for the document: its definitions moved to the document's components.
fn document_schema(schema: &Value, components: &mut Map<String, Value>) -> Value {
    let mut schema = schema.clone();
    if let Some(obj) = schema.as_object_mut() {
        if let Some(Value::Object(defs)) = obj
            .remove("components")
            .and_then(|mut c| c.get_mut("schemas").map(Value::take))
        {
            components.extend(defs);
        }
        obj.remove("$schema");
    }
    schema
}

/// Every operation: [`OPERATIONS`], then each collection's five.
pub(crate) fn operations() -> Vec<(Operation, String)> {
    let mut out: Vec<(Operation, String)> = OPERATIONS
        .iter()
        .map(|o| (*o, o.summary.to_string()))
        .collect();
    for c in COLLECTIONS {
        for (method, path, summary, query, authz) in [
            (
                "GET",
                c.list,
                format!("List {}", c.plural),
                c.query,
                c.list_authz,
            ),
            (
                "POST",
                c.list,
                format!("Create {}", c.one),
                NONE,
                c.write_authz,
            ),
            ("GET", c.item, format!("Get {}", c.one), NONE, c.get_authz),
            (
                "PUT",
                c.item,
                format!("Update {}", c.one),
                NONE,
                c.write_authz,
            ),
            (
                "DELETE",
                c.item,
                format!("Delete {}", c.one),
                NONE,
                c.write_authz,
            ),
        ] {
            out.push((op(method, path, c.tag, "", query, authz), summary));
        }
    }
    out
}

/// `GET /api/oas` takes Kibana's filter on the path prefix.
#[derive(Debug, Clone, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct OasQuery {
    /// Only the paths that start with this.
    pub path_starts_with: Option<String>,
}

impl contract::Request for OasQuery {}

/// `GET /api/oas`: the document, optionally only the paths starting with `pathStartsWith`.
pub(crate) async fn serve(Query(q): Query<OasQuery>) -> ApiResult<Json<Value>> {
    Ok(Json(document(q.path_starts_with.as_deref())))
}

/// The OpenAPI 3.0 document of the operations whose path starts with `prefix`.
pub fn document(prefix: Option<&str>) -> Value {
    let ops = operations();
    let mut paths = Map::new();
    let mut schemas = Map::new();
    for (o, summary) in ops
        .iter()
        .filter(|(o, _)| prefix.is_none_or(|p| o.path.starts_with(p)))
    {
        let entry = paths.entry(o.path.to_string()).or_insert_with(|| json!({}));
        entry[o.method.to_ascii_lowercase()] = operation(o, summary, &mut schemas);
    }
    schemas.insert(
        "Error".into(),
        json!({
            "type": "object",
            "required": ["statusCode", "error", "message"],
            "properties": {
                "statusCode": { "type": "integer" },
                "error": { "type": "string" },
                "message": { "type": "string" },
            },
        }),
    );
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Flotilla Fleet API",
            "version": VERSION,
            "description": "The Kibana Fleet API as Flotilla serves it. Writes need the kbn-xsrf header; \
                authenticate with Basic auth (a Flotilla user), an API key (Authorization: ApiKey …), \
                or the web UI's session cookie.",
        },
        "servers": [{ "url": "/" }],
        "security": [{ "basicAuth": [] }, { "apiKeyAuth": [] }, { "session": [] }],
        "tags": tags(&ops),
        "paths": paths,
        "components": {
            "securitySchemes": {
                "basicAuth": { "type": "http", "scheme": "basic" },
                "apiKeyAuth": { "type": "apiKey", "in": "header", "name": "Authorization",
                    "description": "ApiKey base64(id:api_key)" },
                "session": { "type": "apiKey", "in": "cookie", "name": "sid" },
            },
            "parameters": {
                "kbn_xsrf": { "name": "kbn-xsrf", "in": "header", "required": true,
                    "schema": { "type": "string", "default": "true" },
                    "description": "Any value; required on every request that changes something" },
                "elastic_api_version": { "name": "elastic-api-version", "in": "header", "required": false,
                    "schema": { "type": "string", "default": crate::API_VERSION } },
            },
            "schemas": schemas,
            "responses": {
                "error": {
                    "description": "A Kibana-style error",
                    "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } },
                },
            },
        },
    })
}

fn tags(ops: &[(Operation, String)]) -> Vec<Value> {
    let mut seen: Vec<&str> = Vec::new();
    for (o, _) in ops {
        if !seen.contains(&o.tag) {
            seen.push(o.tag);
        }
    }
    seen.into_iter().map(|t| json!({ "name": t })).collect()
}

fn operation(o: &Operation, summary: &str, schemas: &mut Map<String, Value>) -> Value {
    let mut params: Vec<Value> = path_params(o.path)
        .into_iter()
        .map(|name| {
            json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } })
        })
        .collect();
    params.extend(o.query.iter().map(|name| {
        json!({ "name": name, "in": "query", "required": false, "schema": { "type": "string" } })
    }));
    let declared = typed_of(o);
    if let Some(query) = declared.and_then(|t| t.query) {
        let query = document_schema(&query(), schemas);
        let required: Vec<&Value> = query["required"].as_array().into_iter().flatten().collect();
        for (name, schema) in query["properties"].as_object().into_iter().flatten() {
            params.push(json!({
                "name": name,
                "in": "query",
                "required": required.contains(&&json!(name)),
                "schema": schema,
            }));
        }
    }
    let writes = o.method != "GET";
    if writes {
        params.push(json!({ "$ref": "#/components/parameters/kbn_xsrf" }));
    }
    params.push(json!({ "$ref": "#/components/parameters/elastic_api_version" }));
    let mut v = json!({
        "operationId": operation_id(o),
        "summary": summary,
        "tags": [o.tag],
        "parameters": params,
        "responses": {
            "200": { "description": "OK", "content": { "application/json": { "schema": { "type": "object" } } } },
            "400": { "$ref": "#/components/responses/error" },
            "401": { "$ref": "#/components/responses/error" },
            "404": { "$ref": "#/components/responses/error" },
        },
    });
    // Who may call it, from the same table the gate reads.
    v["description"] = json!(o.authz.describe());
    v["x-required-privileges"] = o.authz.to_json();
    match o.authz {
        Authz::Open => v["security"] = json!([]),
        Authz::User => {}
        _ => v["responses"]["403"] = json!({ "$ref": "#/components/responses/error" }),
    }
    if let Some(body) = declared.and_then(|t| t.body) {
        let body = document_schema(&body(), schemas);
        v["requestBody"] = json!({
            "required": true,
            "content": { "application/json": { "schema": body } },
        });
    } else if matches!(o.method, "POST" | "PUT") {
        v["requestBody"] = json!({
            "required": false,
            "content": { "application/json": { "schema": { "type": "object" } } },
        });
    }
    v
}

/// The `{name}` parameters of a path.
pub fn path_params(path: &str) -> Vec<&str> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
        .collect()
}

/// `get-api-fleet-agent-policies-agentpolicyid`-style ids: unique per method and path.
fn operation_id(o: &Operation) -> String {
    let mut id = o.method.to_ascii_lowercase();
    for seg in o.path.split('/').filter(|s| !s.is_empty()) {
        id.push('-');
        id.extend(
            seg.chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
                .map(|c| c.to_ascii_lowercase()),
        );
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_are_unique_and_ids_too() {
        let mut seen = std::collections::HashSet::new();
        let mut ids = std::collections::HashSet::new();
        for o in OPERATIONS {
            assert!(
                seen.insert((o.method, o.path)),
                "{} {} twice",
                o.method,
                o.path
            );
            assert!(ids.insert(operation_id(o)), "{} {}", o.method, o.path);
        }
    }

    #[test]
    fn the_prefix_filter_keeps_only_matching_paths() {
        let doc = document(Some("/api/fleet/agent_policies"));
        let paths = doc["paths"].as_object().unwrap();
        assert!(!paths.is_empty());
        assert!(paths
            .keys()
            .all(|p| p.starts_with("/api/fleet/agent_policies")));
        assert_eq!(
            doc["paths"]["/api/fleet/agent_policies/{agentPolicyId}"]["get"]["parameters"][0]
                ["name"],
            "agentPolicyId"
        );
    }
}
