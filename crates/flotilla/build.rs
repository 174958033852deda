//! Tests on PostgreSQL run when `FLOTILLA_TEST_DATABASE_URL` is set; without it they are
//! compiled as ignored (`cfg(postgres_tests)` off), so `cargo test` counts them as not run
//! instead of printing `ok` for a test that did nothing.

fn main() {
    println!("cargo:rustc-check-cfg=cfg(postgres_tests)");
    println!("cargo:rerun-if-env-changed=FLOTILLA_TEST_DATABASE_URL");
    if std::env::var("FLOTILLA_TEST_DATABASE_URL").is_ok_and(|u| !u.is_empty()) {
        println!("cargo:rustc-cfg=postgres_tests");
    }
}
