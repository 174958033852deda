//! Who may call each route, declared once: every operation of [`crate::openapi`]'s table names
//! its [`Authz`], the gate looks the matched route up here before any handler runs, and
//! `/api/oas` documents the same requirement. The requirements are Kibana's (its routes'
//! `requiredPrivileges` and `fleetAuthz`), in Kibana's privilege names; where Flotilla asks for
//! more, `SECURITY.md` says so. A route with no entry is refused to everyone.

use std::collections::HashMap;
use std::sync::OnceLock;

use fleet::auth::Principal;
use fleet::auth::Privilege::{self, *};

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authz {
    /// Nothing: no authentication (status, login, logout).
    Open,
    /// Any management user (who am I, the API document, Fleet's own permission check).
    User,
    /// Every one of these privileges.
    All(&'static [Privilege]),
    /// Any one of these privileges (Kibana's `anyRequired`).
    Any(&'static [Privilege]),
}

impl Authz {
    /// Whether `who` may call a route that needs this. Agents' keys open no management route.
    pub fn allows(self, who: &Principal) -> bool {
        if who.role == fleet::auth::Role::Agent {
            return false;
        }
        match self {
            Authz::Open | Authz::User => true,
            Authz::All(ps) => ps.iter().all(|p| who.has(*p)),
            Authz::Any(ps) => ps.iter().any(|p| who.has(*p)),
        }
    }

    /// The privileges named in a 403 (Kibana lists what grants the action).
    pub fn names(self) -> String {
        match self {
            Authz::Open | Authz::User => String::new(),
            Authz::All(ps) | Authz::Any(ps) => {
                ps.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(",")
            }
        }
    }

    /// The requirement as the API document's `x-required-privileges`: `{"all": [...]}`,
    /// `{"any": [...]}`, `"authenticated"` or `"none"`.
    pub fn to_json(self) -> serde_json::Value {
        let names = |ps: &[Privilege]| ps.iter().map(|p| p.as_str()).collect::<Vec<_>>();
        match self {
            Authz::Open => serde_json::json!("none"),
            Authz::User => serde_json::json!("authenticated"),
            Authz::All(ps) => serde_json::json!({ "all": names(ps) }),
            Authz::Any(ps) => serde_json::json!({ "any": names(ps) }),
        }
    }

    /// A sentence for the API document.
    pub fn describe(self) -> String {
        match self {
            Authz::Open => "No authentication.".into(),
            Authz::User => "Any authenticated user.".into(),
            Authz::All(ps) if ps.len() == 1 => format!("Needs the privilege {}.", self.names()),
            Authz::All(_) => format!("Needs all of the privileges [{}].", self.names()),
            Authz::Any(_) => format!("Needs any of the privileges [{}].", self.names()),
        }
    }
}

pub const OPEN: Authz = Authz::Open;
pub const USER: Authz = Authz::User;
pub const AGENTS_READ: Authz = Authz::All(&[AgentsRead]);
pub const AGENTS_ALL: Authz = Authz::All(&[AgentsAll]);
/// Agent policies are listed to readers of policies or of agents.
pub const POLICIES_READ: Authz = Authz::Any(&[AgentPoliciesRead, AgentsRead]);
pub const POLICIES_ALL: Authz = Authz::All(&[AgentPoliciesAll]);
/// The full policy (`/full`, `/download`): policy readers only.
pub const FULL_POLICY: Authz = Authz::All(&[AgentPoliciesRead]);
pub const POLICY_OUTPUTS: Authz = Authz::All(&[AgentPoliciesRead, SettingsRead]);
pub const SETTINGS_READ: Authz = Authz::All(&[SettingsRead]);
pub const SETTINGS_ALL: Authz = Authz::All(&[SettingsAll]);
pub const OUTPUTS_READ: Authz = Authz::Any(&[SettingsRead, AgentPoliciesRead]);
pub const FLEET_SERVER_HOSTS_LIST: Authz = Authz::Any(&[AgentsAll, SettingsRead]);
pub const DOWNLOAD_SOURCES_READ: Authz = Authz::Any(&[AgentPoliciesRead, SettingsRead]);
pub const SPACE_SETTINGS_READ: Authz =
    Authz::Any(&[SettingsRead, IntegrationsAll, AgentPoliciesAll]);
/// Fleet's setup routes: any Fleet reader.
pub const SETUP: Authz = Authz::Any(&[AgentsRead, AgentPoliciesRead]);
/// What touches every area at once (the signing key, data streams).
pub const FLEET_ALL_AREAS: Authz = Authz::All(&[AgentsAll, AgentPoliciesAll, SettingsAll]);
pub const PACKAGES_READ: Authz = Authz::Any(&[IntegrationsRead, FleetAll]);
/// Installing, upgrading, removing packages and their settings.
pub const PACKAGES_INSTALL: Authz = Authz::All(&[IntegrationsAll, AgentPoliciesAll]);
pub const CUSTOM_INTEGRATION_UPDATE: Authz = Authz::All(&[SettingsAll, IntegrationsAll]);
pub const INTEGRATION_POLICIES_READ: Authz = Authz::All(&[IntegrationsRead]);
pub const INTEGRATION_POLICIES_WRITE: Authz = Authz::All(&[IntegrationsAll]);
/// Deleting and upgrading integration policies changes agent policies too.
pub const INTEGRATION_POLICIES_REMOVE: Authz = Authz::All(&[AgentPoliciesAll, IntegrationsAll]);
pub const INTEGRATION_POLICIES_DRY_RUN: Authz = Authz::All(&[AgentPoliciesRead, IntegrationsRead]);
/// Elasticsearch's API key routes: one's own keys, or everyone's (the handlers tell apart).
pub const API_KEYS: Authz = Authz::Any(&[ManageOwnApiKey, ManageApiKey]);

/// A route's path with every parameter as `{}`, so the router's (`{id}`, `{*path}`) and the
/// document's (`{agentPolicyId}`, `{filePath}`) spellings meet.
pub fn route_key(path: &str) -> String {
    path.split('/')
        .map(|seg| {
            if seg.starts_with('{') && seg.ends_with('}') {
                "{}"
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn table() -> &'static HashMap<(String, String), Authz> {
    static TABLE: OnceLock<HashMap<(String, String), Authz>> = OnceLock::new();
    TABLE.get_or_init(|| {
        crate::openapi::operations()
            .into_iter()
            .map(|(o, _)| ((o.method.to_string(), route_key(o.path)), o.authz))
            .collect()
    })
}

/// What the route `method path` (the router's matched path) needs; None: not declared.
pub fn lookup(method: &str, path: &str) -> Option<Authz> {
    // HEAD is served by GET's handler.
    let method = if method == "HEAD" { "GET" } else { method };
    table().get(&(method.to_string(), route_key(path))).copied()
}

/// The methods declared for a route's path (the `Allow` of a 405), sorted.
pub fn methods(path: &str) -> Vec<&'static str> {
    let key = route_key(path);
    let mut out: Vec<&'static str> = crate::openapi::OPERATION_METHODS
        .iter()
        .copied()
        .filter(|m| table().contains_key(&(m.to_string(), key.clone())))
        .collect();
    out.sort_unstable();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use fleet::auth::Role;

    fn who(role: Role) -> Principal {
        Principal {
            username: "u".into(),
            role,
            api_key_id: None,
        }
    }

    #[test]
    fn router_and_document_spellings_meet() {
        assert_eq!(
            lookup("GET", "/api/fleet/agent_policies/{id}"),
            Some(POLICIES_READ)
        );
        assert_eq!(
            lookup("GET", "/api/fleet/epm/packages/{name}/{version}/{*path}"),
            Some(PACKAGES_READ)
        );
        assert_eq!(lookup("HEAD", "/api/fleet/agents"), Some(AGENTS_READ));
        assert_eq!(lookup("PATCH", "/api/fleet/agents"), None);
    }

    #[test]
    fn readers_read_but_hold_no_tokens() {
        let reader = who(Role::FleetRead);
        for (method, path) in [
            ("GET", "/api/fleet/agents"),
            ("GET", "/api/fleet/agent_policies/{id}/full"),
            ("GET", "/api/fleet/outputs"),
            ("GET", "/api/fleet/epm/packages"),
            ("GET", "/api/fleet/package_policies"),
        ] {
            assert!(lookup(method, path).unwrap().allows(&reader), "{path}");
        }
        for (method, path) in [
            ("GET", "/api/fleet/enrollment_api_keys"),
            ("GET", "/api/fleet/enrollment_api_keys/{id}"),
            ("GET", "/api/fleet/uninstall_tokens"),
            ("GET", "/api/fleet/uninstall_tokens/{id}"),
            ("POST", "/api/fleet/agents/{id}/request_diagnostics"),
            ("POST", "/api/fleet/agent_policies"),
        ] {
            assert!(!lookup(method, path).unwrap().allows(&reader), "{path}");
        }
        let admin = who(Role::FleetAdmin);
        assert!(AGENTS_ALL.allows(&admin) && PACKAGES_INSTALL.allows(&admin));
        assert!(!who(Role::Agent).has(AgentsRead));
        assert!(!USER.allows(&who(Role::Agent)));
    }
}
