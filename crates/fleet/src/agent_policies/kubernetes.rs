//! `kubernetes=true` of `/full` and `/download`: an Elastic Agent DaemonSet manifest for the
//! policy, as Kibana offers it — managed (the agent enrolls into Fleet with the policy's
//! enrollment token) or standalone (the full policy in a ConfigMap). Written from the
//! Kubernetes API objects an agent needs: its service account and RBAC (read access to the
//! cluster objects the kubernetes integration watches, leases for leader election), and a
//! DaemonSet with host mounts for logs and metrics.

use serde_json::{json, Value};

use super::FullPolicyOptions;
use crate::error::{FleetError, Result};
use crate::Fleet;

const NAMESPACE: &str = "kube-system";

fn rbac() -> Vec<Value> {
    vec![
        json!({
            "apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": "elastic-agent", "namespace": NAMESPACE, "labels": {"k8s-app": "elastic-agent"}},
        }),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": "elastic-agent", "labels": {"k8s-app": "elastic-agent"}},
            "rules": [
                {"apiGroups": [""], "resources": ["nodes", "namespaces", "events", "pods", "services", "configmaps", "serviceaccounts", "persistentvolumes", "persistentvolumeclaims"], "verbs": ["get", "list", "watch"]},
                {"apiGroups": ["extensions"], "resources": ["replicasets"], "verbs": ["get", "list", "watch"]},
                {"apiGroups": ["apps"], "resources": ["statefulsets", "deployments", "replicasets", "daemonsets"], "verbs": ["get", "list", "watch"]},
                {"apiGroups": ["batch"], "resources": ["jobs", "cronjobs"], "verbs": ["get", "list", "watch"]},
                {"apiGroups": [""], "resources": ["nodes/stats"], "verbs": ["get"]},
                {"nonResourceURLs": ["/metrics"], "verbs": ["get"]},
                {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterrolebindings", "clusterroles", "rolebindings", "roles"], "verbs": ["get", "list", "watch"]},
                {"apiGroups": ["policy"], "resources": ["podsecuritypolicies"], "verbs": ["get", "list", "watch"]},
                {"apiGroups": ["storage.k8s.io"], "resources": ["storageclasses"], "verbs": ["get", "list", "watch"]},
            ],
        }),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": "elastic-agent"},
            "subjects": [{"kind": "ServiceAccount", "name": "elastic-agent", "namespace": NAMESPACE}],
            "roleRef": {"kind": "ClusterRole", "name": "elastic-agent", "apiGroup": "rbac.authorization.k8s.io"},
        }),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": "elastic-agent", "namespace": NAMESPACE, "labels": {"k8s-app": "elastic-agent"}},
            "rules": [{"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "create", "update"]}],
        }),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": "elastic-agent", "namespace": NAMESPACE},
            "subjects": [{"kind": "ServiceAccount", "name": "elastic-agent", "namespace": NAMESPACE}],
            "roleRef": {"kind": "Role", "name": "elastic-agent", "apiGroup": "rbac.authorization.k8s.io"},
        }),
    ]
}

/// Host paths the agent reads (name, host path, mount path).
const HOST_MOUNTS: &[(&str, &str, &str)] = &[
    ("proc", "/proc", "/hostfs/proc"),
    ("cgroup", "/sys/fs/cgroup", "/hostfs/sys/fs/cgroup"),
    (
        "varlibdockercontainers",
        "/var/lib/docker/containers",
        "/var/lib/docker/containers",
    ),
    ("varlog", "/var/log", "/var/log"),
    ("etc-full", "/etc", "/hostfs/etc"),
    ("var-lib", "/var/lib", "/hostfs/var/lib"),
];

fn daemonset(image: &str, env: Vec<Value>, config_map: bool) -> Value {
    let mut mounts: Vec<Value> = HOST_MOUNTS
        .iter()
        .map(|(name, _, path)| json!({"name": name, "mountPath": path, "readOnly": true}))
        .collect();
    let mut volumes: Vec<Value> = HOST_MOUNTS
        .iter()
        .map(|(name, host, _)| json!({"name": name, "hostPath": {"path": host}}))
        .collect();
    mounts.push(
        json!({"name": "elastic-agent-state", "mountPath": "/usr/share/elastic-agent/state"}),
    );
    volumes.push(json!({"name": "elastic-agent-state", "hostPath": {"path": "/var/lib/elastic-agent-managed/kube-system/state", "type": "DirectoryOrCreate"}}));
    let mut container = json!({
        "name": "elastic-agent",
        "image": image,
        "env": env,
        "securityContext": {"runAsUser": 0},
        "resources": {"limits": {"memory": "1Gi"}, "requests": {"cpu": "100m", "memory": "500Mi"}},
        "volumeMounts": mounts,
    });
    if config_map {
        container["args"] = json!(["-c", "/etc/elastic-agent/agent.yml", "-e"]);
        container["volumeMounts"]
            .as_array_mut()
            .expect("a list")
            .push(json!({"name": "datastreams", "mountPath": "/etc/elastic-agent/agent.yml", "readOnly": true, "subPath": "agent.yml"}));
        volumes.push(json!({"name": "datastreams", "configMap": {"defaultMode": 420, "name": "agent-node-datastreams"}}));
    }
    json!({
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": "elastic-agent", "namespace": NAMESPACE, "labels": {"app": "elastic-agent"}},
        "spec": {
            "selector": {"matchLabels": {"app": "elastic-agent"}},
            "template": {
                "metadata": {"labels": {"app": "elastic-agent"}},
                "spec": {
                    "tolerations": [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}],
                    "serviceAccountName": "elastic-agent",
                    "hostNetwork": true,
                    "dnsPolicy": "ClusterFirstWithHostNet",
                    "containers": [container],
                    "volumes": volumes,
                },
            },
        },
    })
}

fn field_env(name: &str, path: &str) -> Value {
    json!({"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}})
}

impl Fleet {
    /// The manifest (YAML, several documents) for the policy's agents on Kubernetes.
    pub async fn kubernetes_manifest(&self, id: &str, standalone: bool) -> Result<String> {
        let doc = self.load_agent_policy(id).await?;
        let image = format!(
            "docker.elastic.co/elastic-agent/elastic-agent:{}",
            self.config.stack_version
        );
        let mut objects = Vec::new();
        if standalone {
            let settings = self.policy_settings(&doc, false).await?;
            let policy = self.assemble_full_policy(
                &doc,
                &settings,
                FullPolicyOptions {
                    standalone: true,
                    kubernetes: false,
                },
            );
            let agent_yml = serde_yaml_ng::to_string(&policy)
                .map_err(|e| FleetError::Internal(e.to_string()))?;
            objects.push(json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "agent-node-datastreams", "namespace": NAMESPACE, "labels": {"k8s-app": "elastic-agent"}},
                "data": {"agent.yml": agent_yml},
            }));
            let env = vec![
                json!({"name": "ES_USERNAME", "value": "elastic"}),
                json!({"name": "ES_PASSWORD", "value": "changeme"}),
                field_env("NODE_NAME", "spec.nodeName"),
                field_env("POD_NAME", "metadata.name"),
                json!({"name": "STATE_PATH", "value": "/etc/elastic-agent"}),
                json!({"name": "ELASTIC_NETINFO", "value": "false"}),
            ];
            objects.push(daemonset(&image, env, true));
        } else {
            let settings = self.policy_settings(&doc, false).await?;
            let fleet_url = settings
                .fleet_server_host
                .as_ref()
                .and_then(|h| h["host_urls"][0].as_str().map(str::to_string))
                .or_else(|| self.config.fleet_server_hosts.first().cloned())
                .ok_or_else(|| {
                    FleetError::BadRequest(
                        "The policy has no Fleet Server host: add one (POST /api/fleet/fleet_server_hosts)"
                            .into(),
                    )
                })?;
            let token = {
                let mut tx = self.store.begin(store::Mode::Read).await?;
                crate::enrollment_api_keys::active_key_for_policy(tx.as_mut(), id).await?
            }
            .ok_or_else(|| {
                FleetError::BadRequest(format!(
                    "Agent policy {id} has no active enrollment API key: create one (POST /api/fleet/enrollment_api_keys)"
                ))
            })?;
            let env = vec![
                json!({"name": "FLEET_ENROLL", "value": "1"}),
                json!({"name": "FLEET_INSECURE", "value": if fleet_url.starts_with("http://") { "true" } else { "false" }}),
                json!({"name": "FLEET_URL", "value": fleet_url}),
                json!({"name": "FLEET_ENROLLMENT_TOKEN", "value": token}),
                field_env("NODE_NAME", "spec.nodeName"),
                field_env("POD_NAME", "metadata.name"),
                json!({"name": "ELASTIC_NETINFO", "value": "false"}),
            ];
            objects.push(daemonset(&image, env, false));
        }
        objects.extend(rbac());
        let mut out = String::new();
        for (i, o) in objects.iter().enumerate() {
            if i > 0 {
                out.push_str("---\n");
            }
            out.push_str(
                &serde_yaml_ng::to_string(o).map_err(|e| FleetError::Internal(e.to_string()))?,
            );
        }
        Ok(out)
    }
}
