/// Now as Kibana writes timestamps: RFC 3339, UTC, milliseconds (`2022-10-14T00:07:19.763Z`).
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
