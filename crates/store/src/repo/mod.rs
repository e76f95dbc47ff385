//! Typed repository functions, one module per part of the model.

pub(crate) mod alerts;
pub(crate) mod deferrals;
pub(crate) mod delivery;
pub(crate) mod digests;
pub(crate) mod events;
pub(crate) mod groups;
pub(crate) mod reports;
pub(crate) mod scheduling;
pub(crate) mod signup;
pub(crate) mod users;

use crate::StoreError;
use std::str::FromStr;

/// Reads an enum the query cast to text; a spelling the domain does not know
/// means the schema and the code disagree.
pub(crate) fn parse_column<T: FromStr>(value: &str) -> Result<T, StoreError>
where
    T::Err: std::fmt::Display,
{
    value.parse().map_err(|e: T::Err| StoreError::Invalid(format!("stored value: {e}")))
}

pub(crate) fn parse_optional_column<T: FromStr>(value: Option<&str>) -> Result<Option<T>, StoreError>
where
    T::Err: std::fmt::Display,
{
    value.map(parse_column).transpose()
}
