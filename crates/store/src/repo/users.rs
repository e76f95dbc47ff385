use super::parse_optional_column;
use crate::{Store, StoreError};
use tokio_postgres::Row;
use torium_domain::{OrganizationId, User, UserId};

pub(crate) const USER_COLUMNS: &str = "id, cognito_user_id, email, username, mobile_number, \
     reminder_preferences::text, organization_id, device_arn, is_confirmed, \"timestamp\", confirmed_at";

pub(crate) fn user_from_row(row: &Row) -> Result<User, StoreError> {
    Ok(User {
        id: UserId(row.get(0)),
        cognito_user_id: row.get(1),
        email: row.get(2),
        username: row.get(3),
        mobile_number: row.get(4),
        reminder_preference: parse_optional_column(row.get(5))?,
        organization_id: row.get::<_, Option<i64>>(6).map(OrganizationId),
        device_arn: row.get(7),
        confirmed: row.get(8),
        signed_up_at: row.get(9),
        confirmed_at: row.get(10),
    })
}

impl Store {
    pub async fn user_by_id(&self, id: UserId) -> Result<Option<User>, StoreError> {
        let client = self.pool.get().await?;
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
        client.query_opt(&sql, &[&id.0]).await?.as_ref().map(user_from_row).transpose()
    }

    pub async fn user_by_cognito_id(&self, cognito_user_id: &str) -> Result<Option<User>, StoreError> {
        let client = self.pool.get().await?;
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE cognito_user_id = $1");
        client.query_opt(&sql, &[&cognito_user_id]).await?.as_ref().map(user_from_row).transpose()
    }
}
