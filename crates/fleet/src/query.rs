//! Turns a `kuery` into a store [`Filter`] using a per-type field schema, and reads the common
//! list parameters (page, perPage, sortField, sortOrder).

use kuery::Schema;
use store::{Filter, SortOrder};

use crate::error::{FleetError, Result};

/// A list endpoint's `kuery` as a store filter; bad syntax or unknown fields are a 400.
pub fn filter(schema: &Schema, kuery: Option<&str>) -> Result<Filter> {
    match kuery {
        None => Ok(Filter::All),
        Some(k) => kuery::compile(k, schema, chrono::Utc::now())
            .map_err(|e| FleetError::BadRequest(e.to_string())),
    }
}

/// The document path to sort by for `sortField`.
pub fn sort_field(schema: &Schema, name: &str) -> Result<&'static str> {
    schema.field(name).map(|f| f.name).ok_or_else(|| {
        FleetError::BadRequest(format!(
            "[request query.sortField]: unknown sort field [{name}]"
        ))
    })
}

/// Page and window checks shared by every list endpoint. Elasticsearch refuses a window past
/// 10,000 results, and so does Kibana.
pub fn page_window(
    page: Option<f64>,
    per_page: Option<f64>,
    default_per_page: u64,
) -> Result<(u64, u64)> {
    let page = page.unwrap_or(1.0);
    let per_page = per_page.unwrap_or(default_per_page as f64);
    if page < 1.0 || page.fract() != 0.0 {
        return Err(FleetError::BadRequest(
            "[request query.page]: Value must be equal to or greater than [1].".into(),
        ));
    }
    if per_page < 0.0 || per_page.fract() != 0.0 {
        return Err(FleetError::BadRequest(
            "[request query.perPage]: Value must be equal to or greater than [0].".into(),
        ));
    }
    let (page, per_page) = (page as u64, per_page as u64);
    let window = page.saturating_mul(per_page);
    if window > 10_000 {
        return Err(FleetError::BadRequest(format!(
            "Result window is too large, from + size must be less than or equal to: [10000] but was [{window}]."
        )));
    }
    Ok((page, per_page))
}

pub fn sort_order(raw: Option<&str>) -> Result<SortOrder> {
    match raw {
        None | Some("desc") => Ok(SortOrder::Desc),
        Some("asc") => Ok(SortOrder::Asc),
        Some(other) => Err(FleetError::BadRequest(format!(
            "[request query.sortOrder]: types that failed validation:\n- [request query.sortOrder.0]: expected value to equal [desc]\n- [request query.sortOrder.1]: expected value to equal [asc] (got [{other}])"
        ))),
    }
}
