//! Postgres `interval` in its binary wire form: microseconds (i64), days
//! (i32), months (i32). tokio-postgres has no mapping of its own.

use bytes::BytesMut;
use std::error::Error;
use tokio_postgres::types::{FromSql, IsNull, ToSql, Type, accepts, to_sql_checked};
use torium_domain::SchedulePeriod;

/// Wrapper so the store can read and bind `interval` columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PgInterval(pub SchedulePeriod);

impl<'a> FromSql<'a> for PgInterval {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn Error + Sync + Send>> {
        let raw: &[u8; 16] = raw.try_into().map_err(|_| "interval must be 16 bytes")?;
        let (micros, rest) = raw.split_at(8);
        let (days, months) = rest.split_at(4);
        Ok(PgInterval(SchedulePeriod {
            microseconds: i64::from_be_bytes(micros.try_into()?),
            days: i32::from_be_bytes(days.try_into()?),
            months: i32::from_be_bytes(months.try_into()?),
        }))
    }

    accepts!(INTERVAL);
}

impl ToSql for PgInterval {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        out.extend_from_slice(&self.0.microseconds.to_be_bytes());
        out.extend_from_slice(&self.0.days.to_be_bytes());
        out.extend_from_slice(&self.0.months.to_be_bytes());
        Ok(IsNull::No)
    }

    accepts!(INTERVAL);
    to_sql_checked!();
}
