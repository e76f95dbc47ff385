//! Users born from Cognito sign-ups. Cognito retries triggers that time out
//! and people sign up again before confirming, so every call here is an
//! idempotent upsert keyed by the Cognito user id.

use super::users::{USER_COLUMNS, user_from_row};
use crate::{Store, StoreError, TransactionError};
use std::future::Future;
use tokio_postgres::Row;
use tokio_postgres::Transaction;
use torium_domain::{SignUp, User};

impl Store {
    /// Records a sign-up as an unconfirmed user. A repeated call with the
    /// same Cognito id updates that row; an address held by an abandoned
    /// (unconfirmed) sign-up under another Cognito id is taken over; an
    /// address of a confirmed account is a [`StoreError::Conflict`].
    pub async fn record_signup(&self, signup: &SignUp) -> Result<User, StoreError> {
        self.upsert_signup(signup, false).await
    }

    /// Marks the user of a confirmed sign-up confirmed, creating the row if
    /// the pre sign-up trigger never wrote it. A repeated call changes
    /// nothing more (the first confirmation time is kept).
    pub async fn confirm_signup(&self, signup: &SignUp) -> Result<User, StoreError> {
        self.upsert_signup(signup, true).await
    }

    /// [`Store::confirm_signup`], committed only if `then` (e.g. writing
    /// the user id back to Cognito) succeeds for the confirmed user: on its
    /// error the confirmation is rolled back, so a retry starts clean.
    pub async fn confirm_signup_then<F, Fut, E>(&self, signup: &SignUp, then: F) -> Result<User, TransactionError<E>>
    where
        F: FnOnce(User) -> Fut,
        Fut: Future<Output = Result<(), E>>,
    {
        self.in_transaction(async |tx| {
            let user = upsert_in(tx, signup, true).await?;
            then(user.clone()).await.map_err(TransactionError::Step)?;
            Ok(user)
        })
        .await
    }

    async fn upsert_signup(&self, signup: &SignUp, confirm: bool) -> Result<User, StoreError> {
        self.in_transaction(async |tx| upsert_in(tx, signup, confirm).await).await
    }
}

async fn upsert_in(tx: &Transaction<'_>, signup: &SignUp, confirm: bool) -> Result<User, StoreError> {
    make_room_for(tx, signup).await?;
    let sql = format!(
        "INSERT INTO users (cognito_user_id, email, \"timestamp\", is_confirmed, confirmed_at) \
         VALUES ($1, $2, $3::timestamptz, $4::boolean, CASE WHEN $4::boolean THEN $3::timestamptz END) \
         ON CONFLICT (cognito_user_id) DO UPDATE SET \
             email = CASE WHEN users.is_confirmed THEN users.email ELSE EXCLUDED.email END, \
             \"timestamp\" = CASE WHEN users.is_confirmed OR EXCLUDED.is_confirmed THEN users.\"timestamp\" ELSE EXCLUDED.\"timestamp\" END, \
             is_confirmed = users.is_confirmed OR EXCLUDED.is_confirmed, \
             confirmed_at = COALESCE(users.confirmed_at, EXCLUDED.confirmed_at), \
             updated_at = CASE WHEN users.is_confirmed AND EXCLUDED.is_confirmed THEN users.updated_at ELSE now() END \
         RETURNING {USER_COLUMNS}"
    );
    let row = tx.query_one(&sql, &[&signup.cognito_user_id, &signup.email.as_str(), &signup.at, &confirm]).await?;
    user_from_row(&row)
}

/// Other rows holding the sign-up's address (locked until the commit): a
/// confirmed one is a [`StoreError::Conflict`]; an abandoned (unconfirmed)
/// one is deleted when the sign-up has its own row, or else becomes it.
async fn make_room_for(tx: &Transaction<'_>, signup: &SignUp) -> Result<(), StoreError> {
    let holders = tx
        .query(
            "SELECT id, cognito_user_id, is_confirmed FROM users \
             WHERE cognito_user_id = $1 OR lower(email) = lower($2) FOR UPDATE",
            &[&signup.cognito_user_id, &signup.email.as_str()],
        )
        .await?;
    let is_own = |r: &Row| r.get::<_, &str>("cognito_user_id") == signup.cognito_user_id;
    let own_row_exists = holders.iter().any(is_own);
    for other in holders.iter().filter(|r| !is_own(r)) {
        let other_id: i64 = other.get("id");
        if other.get::<_, bool>("is_confirmed") {
            return Err(StoreError::Conflict(format!(
                "the email address is already used by confirmed user {other_id}"
            )));
        }
        if own_row_exists {
            tx.execute("DELETE FROM users WHERE id = $1", &[&other_id]).await?;
        } else {
            tx.execute(
                "UPDATE users SET cognito_user_id = $2, updated_at = now() WHERE id = $1",
                &[&other_id, &signup.cognito_user_id],
            )
            .await?;
        }
    }
    Ok(())
}
