//! The real packages in `tests/fixtures/packages` compiled as Kibana compiles them (the
//! expected values are the documented Kibana responses).

use packages::{policy, Package};
use serde_json::{json, Value};
use std::io::Read;
use std::path::PathBuf;

/// A real package kept in the repository (`tests/fixtures/packages`); missing is a failure.
fn reference(name: &str) -> Option<Package> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/packages")
        .join(name);
    Some(Package::from_dir(&dir).expect("reference package is in the repository and loads"))
}

fn example_inputs(pkg: &Package) -> Value {
    let mut inputs = policy::default_inputs(pkg);
    let mut vars = policy::default_vars(pkg);
    let given = json!({"nginx-logfile": {"streams": {
        "nginx.access": {"vars": {"tags": ["test"]}},
        "nginx.error": {"vars": {"tags": ["test"]}},
    }}});
    policy::apply_simplified(pkg, &mut vars, &mut inputs, None, given.as_object()).unwrap();
    policy::align_inputs(&mut inputs);
    policy::validate(pkg, vars.as_ref(), &inputs).unwrap();
    policy::compile(pkg, "P", vars.as_ref(), &mut inputs).unwrap();
    inputs
}

#[test]
fn nginx_example_compiles_to_the_documented_streams() {
    let Some(pkg) = reference("nginx-1.5.0") else {
        return;
    };
    let inputs = example_inputs(&pkg);
    let stream = |i: usize, s: usize| inputs[i]["streams"][s].clone();
    assert_eq!(inputs[0]["type"], "logfile");
    assert_eq!(stream(0, 0)["id"], "logfile-nginx.access-P");
    assert_eq!(
        stream(0, 0)["compiled_stream"],
        json!({"ignore_older": "72h", "paths": ["/var/log/nginx/access.log*"], "tags": ["test"],
               "exclude_files": [".gz$"], "processors": [{"add_locale": null}]})
    );
    assert_eq!(
        stream(0, 1)["compiled_stream"],
        json!({"ignore_older": "72h", "paths": ["/var/log/nginx/error.log*"], "tags": ["test"],
               "exclude_files": [".gz$"],
               "multiline": {"pattern": "^\\d{4}\\/\\d{2}\\/\\d{2} ", "negate": true, "match": "after"},
               "processors": [{"add_locale": null}]})
    );
    assert_eq!(inputs[1]["type"], "httpjson");
    assert_eq!(inputs[1]["enabled"], false);
    assert!(stream(1, 0).get("compiled_stream").is_none());
    assert_eq!(
        stream(2, 0)["compiled_stream"],
        json!({"metricsets": ["stubstatus"], "hosts": ["http://127.0.0.1:80"], "period": "10s",
               "server_status_path": "/nginx_status"})
    );
    assert_eq!(stream(2, 0)["id"], "nginx/metrics-nginx.stubstatus-P");
    assert_eq!(
        stream(0, 0)["vars"]["processors"],
        json!({"type": "yaml"}),
        "a var without a default has no value"
    );
}

#[test]
fn nginx_processors_and_preserve_original_event() {
    let Some(pkg) = reference("nginx-1.5.0") else {
        return;
    };
    let mut inputs = policy::default_inputs(&pkg);
    let mut vars = None;
    let given = json!({"nginx-logfile": {"streams": {"nginx.access": {"vars": {
        "preserve_original_event": true,
        "processors": "- add_fields:\n    target: project\n    fields:\n      name: x\n",
    }}}}});
    policy::apply_simplified(&pkg, &mut vars, &mut inputs, None, given.as_object()).unwrap();
    policy::compile(&pkg, "P", None, &mut inputs).unwrap();
    let compiled = &inputs[0]["streams"][0]["compiled_stream"];
    assert_eq!(
        compiled["tags"],
        json!(["preserve_original_event", "nginx-access"])
    );
    assert_eq!(
        compiled["processors"],
        json!([{"add_fields": {"target": "project", "fields": {"name": "x"}}}, {"add_locale": null}])
    );
}

#[test]
fn system_default_policy_compiles_every_enabled_stream() {
    let Some(pkg) = reference("system-1.20.4") else {
        return;
    };
    let mut inputs = policy::default_inputs(&pkg);
    let vars = policy::default_vars(&pkg);
    policy::align_inputs(&mut inputs);
    policy::validate(&pkg, vars.as_ref(), &inputs).unwrap();
    policy::compile(&pkg, "S", vars.as_ref(), &mut inputs).unwrap();
    let types: Vec<(&str, bool)> = inputs
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["type"].as_str().unwrap(), i["enabled"].as_bool().unwrap()))
        .collect();
    assert_eq!(
        types,
        vec![
            ("logfile", true),
            ("winlog", true),
            ("system/metrics", true),
            ("httpjson", false)
        ]
    );
    let compiled = inputs
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|i| i["streams"].as_array().unwrap())
        .filter(|s| s.get("compiled_stream").is_some())
        .count();
    assert_eq!(compiled, 2 + 3 + 11);
}

#[test]
fn elastic_agent_loads_without_policy_templates() {
    let Some(pkg) = reference("elastic_agent-1.3.5") else {
        return;
    };
    assert!(pkg.policy_templates.is_empty());
    assert_eq!(policy::default_inputs(&pkg), json!([]));
}

#[test]
fn zip_round_trip_and_bad_archives() {
    let Some(pkg) = reference("nginx-1.5.0") else {
        return;
    };
    let zip = pkg.to_zip();
    let again = Package::from_zip(&zip).unwrap();
    assert_eq!(again.info(), pkg.info());
    let err = Package::from_zip(b"not a zip").unwrap_err();
    assert!(err.to_string().contains("Error during extraction"), "{err}");
}

fn fixture() -> Package {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/packages/flotilla_test-1.0.0");
    Package::from_dir(&dir).expect("fixture loads")
}

#[test]
fn fixture_defaults_compile() {
    let pkg = fixture();
    let mut inputs = policy::default_inputs(&pkg);
    let vars = policy::default_vars(&pkg);
    policy::align_inputs(&mut inputs);
    policy::validate(&pkg, vars.as_ref(), &inputs).unwrap();
    policy::compile(&pkg, "F", vars.as_ref(), &mut inputs).unwrap();
    assert_eq!(
        inputs[0]["compiled_input"],
        json!({"request.url": "https://svc.example.com/api?q=a b",
               "request.encoded_url": "https%3A%2F%2Fsvc.example.com%2Fapi%3Fq%3Da%20b",
               "request.timeout": "30s", "verify": true, "environment": "prod",
               "ssl": {"verification_mode": "full"}})
    );
    assert_eq!(
        inputs[0]["streams"][0]["compiled_stream"],
        json!({"interval": "1m", "tags": ["svc-events"], "query": "status:error\nand it's late",
               "tags_json": "[\"svc-events\"]", "timezone": "UTC", "period": "default", "tag_count": 1}),
        "a comment-only yaml var splices nothing"
    );
    assert!(
        inputs[0]["streams"][1].get("compiled_stream").is_none(),
        "disabled by default"
    );
    assert_eq!(
        inputs[1]["streams"][0]["compiled_stream"],
        json!({"paths": ["/var/log/svc/*.log"],
               "processors": [{"add_fields": {"target": "svc", "fields": {"env": "prod"}}}]})
    );
}

/// The fixture package's files, as (path under `flotilla_test-1.0.0/`, bytes).
fn fixture_files() -> Vec<(String, Vec<u8>)> {
    let pkg = fixture();
    pkg.file_paths()
        .map(|p| (p.to_string(), pkg.file(p).unwrap().to_vec()))
        .collect()
}

/// One tar entry as written by hand: any name (even one `tar::Builder` would refuse), any type.
fn tar_entry(name: &str, kind: tar::EntryType, data: &[u8]) -> (tar::Header, Vec<u8>) {
    let mut header = tar::Header::new_old();
    header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    header.set_entry_type(kind);
    header.set_cksum();
    (header, data.to_vec())
}

fn tar_gz(entries: Vec<(tar::Header, Vec<u8>)>) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut builder = tar::Builder::new(gz);
    for (header, data) in entries {
        builder.append(&header, data.as_slice()).unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

#[test]
fn tar_gz_loads_like_the_directory() {
    // As `tar czf x.tgz ./flotilla_test-1.0.0` writes it: `./` prefixes and folder entries.
    let mut entries = vec![tar_entry(
        "./flotilla_test-1.0.0/",
        tar::EntryType::Directory,
        b"",
    )];
    for (path, data) in fixture_files() {
        entries.push(tar_entry(
            &format!("./flotilla_test-1.0.0/{path}"),
            tar::EntryType::Regular,
            &data,
        ));
    }
    let pkg = Package::from_tar_gz(&tar_gz(entries)).unwrap();
    assert_eq!(pkg.info(), fixture().info());
}

#[test]
fn tar_gz_refuses_what_zip_refuses_and_links() {
    let manifest = fixture_files()
        .into_iter()
        .find(|(p, _)| p == "manifest.yml")
        .unwrap()
        .1;
    let with = |extra: (tar::Header, Vec<u8>)| {
        tar_gz(vec![
            tar_entry(
                "flotilla_test-1.0.0/manifest.yml",
                tar::EntryType::Regular,
                &manifest,
            ),
            extra,
        ])
    };
    let cases = [
        (
            with(tar_entry(
                "flotilla_test-1.0.0/../../etc/passwd",
                tar::EntryType::Regular,
                b"x",
            )),
            "points outside the package",
        ),
        (
            with(tar_entry("/etc/passwd", tar::EntryType::Regular, b"x")),
            "points outside the package",
        ),
        (
            with(tar_entry(
                "flotilla_test-1.0.0/link",
                tar::EntryType::Symlink,
                b"",
            )),
            "is not a file or a directory",
        ),
        (
            with(tar_entry("other-1.0.0/x", tar::EntryType::Regular, b"x")),
            "more than one top-level directory",
        ),
        (b"not gzip".to_vec(), "Error during extraction"),
    ];
    for (archive, message) in cases {
        let err = Package::from_tar_gz(&archive).unwrap_err();
        assert!(
            err.to_string().contains(message),
            "{err} (expected {message})"
        );
    }
    // A gzip bomb: the inflated bytes are counted, not the headers, and stop at the limit.
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut builder = tar::Builder::new(gz);
    let size = packages::package::MAX_UNPACKED_BYTES + 1;
    let mut header = tar::Header::new_old();
    header.set_path("flotilla_test-1.0.0/bomb").unwrap();
    header.set_size(size);
    header.set_mode(0o644);
    header.set_cksum();
    builder
        .append(&header, std::io::repeat(0).take(size))
        .unwrap();
    let bomb = builder.into_inner().unwrap().finish().unwrap();
    assert!(bomb.len() < 2 * 1024 * 1024, "{} bytes", bomb.len());
    let err = Package::from_tar_gz(&bomb).unwrap_err();
    assert!(err.to_string().contains("refused as a zip bomb"), "{err}");
}
