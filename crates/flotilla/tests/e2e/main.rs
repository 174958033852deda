//! End-to-end tests: a real server on a random port, driven over HTTP, on SQLite and
//! PostgreSQL. One test binary (one link) for all of them keeps CI fast.

#[macro_use]
mod support;

mod actions;
mod agent_policies;
mod agents;
mod auth_and_conventions;
mod browser;
mod bulk_scale;
mod cli;
mod enrollment_api_keys;
mod epm;
mod full_policy_golden;
mod openapi;
mod package_policies;
mod rollback;
mod security;
mod settings;
mod simulated_fleet;
mod spaces;
mod uploads;
mod web_ui;
