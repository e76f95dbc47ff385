//! Reading users: one row's columns and how they become a [`User`]. Reads
//! only: nothing here writes, so a crash leaves nothing behind.

use super::parse_optional_column;
use crate::{Store, StoreError};
use tokio_postgres::Row;
use torium_domain::{OrganizationId, User, UserId};

/// A user row's columns, named as [`user_from_row`] reads them.
pub(crate) const USER_COLUMNS: &str = "id, cognito_user_id, email, username, mobile_number, \
     reminder_preferences::text AS reminder_preferences, organization_id, device_arn, is_confirmed, \
     \"timestamp\", confirmed_at";

pub(crate) fn user_from_row(row: &Row) -> Result<User, StoreError> {
    Ok(User {
        id: UserId(row.get("id")),
        cognito_user_id: row.get("cognito_user_id"),
        email: row.get("email"),
        username: row.get("username"),
        mobile_number: row.get("mobile_number"),
        reminder_preference: parse_optional_column(row.get("reminder_preferences"))?,
        organization_id: row.get::<_, Option<i64>>("organization_id").map(OrganizationId),
        device_arn: row.get("device_arn"),
        confirmed: row.get("is_confirmed"),
        signed_up_at: row.get("timestamp"),
        confirmed_at: row.get("confirmed_at"),
    })
}

impl Store {
    /// The user with database id `id`, if there is one (for tests: the
    /// handlers read members, not users).
    #[cfg(any(test, feature = "test-support"))]
    pub async fn user_by_id(&self, id: UserId) -> Result<Option<User>, StoreError> {
        let client = self.pool.get().await?;
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
        client.query_opt(&sql, &[&id.0]).await?.as_ref().map(user_from_row).transpose()
    }

    /// The user with Cognito user id (`sub`) `cognito_user_id`, if there is one
    /// (for tests).
    #[cfg(any(test, feature = "test-support"))]
    pub async fn user_by_cognito_id(&self, cognito_user_id: &str) -> Result<Option<User>, StoreError> {
        let client = self.pool.get().await?;
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE cognito_user_id = $1");
        client.query_opt(&sql, &[&cognito_user_id]).await?.as_ref().map(user_from_row).transpose()
    }
}
