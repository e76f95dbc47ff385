//! The one way the store opens a transaction: a pooled connection, `BEGIN`,
//! the caller's statements, `COMMIT` only when they all succeeded. A failure
//! (or a crash, or the future dropped by a deadline) before the commit rolls
//! everything back: the server ends the transaction when the connection
//! goes back to the pool or is lost.

use crate::{Store, StoreError};
use tokio_postgres::Transaction;

impl Store {
    /// Runs `body` in one transaction and commits it if `body` returns
    /// `Ok`; on `Err` nothing it did is kept. Connection, `BEGIN` and
    /// `COMMIT` failures are the store's ([`StoreError`]), in the caller's
    /// error type (`StoreError` itself, or a [`crate::TransactionError`]).
    pub(crate) async fn in_transaction<T, Err>(
        &self,
        body: impl AsyncFnOnce(&Transaction<'_>) -> Result<T, Err>,
    ) -> Result<T, Err>
    where
        Err: From<StoreError>,
    {
        let mut client = self.pool.get().await.map_err(StoreError::from)?;
        let tx = client.transaction().await.map_err(StoreError::from)?;
        let value = body(&tx).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(value)
    }
}
