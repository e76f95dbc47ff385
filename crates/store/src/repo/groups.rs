use super::parse_column;
use crate::{Store, StoreError};
use chrono::{DateTime, Utc};
#[cfg(any(test, feature = "test-support"))]
use torium_domain::{GroupAdmin, GroupWithAdmin};
use torium_domain::{GroupId, InvitationId, InvitationStatus, UserId};

/// What pushing one group invitation needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvitationToPush {
    /// `group_invitation_logs.id`.
    pub id: InvitationId,
    /// Where the invitation stands (`sent` once pushed).
    pub status: InvitationStatus,
    /// The invited user.
    pub user_id: UserId,
    /// The invited user's push endpoint; `None` without one.
    pub device_arn: Option<String>,
    /// The group invited to.
    pub group_id: GroupId,
    /// Its name, in the push.
    pub group_name: String,
    /// The address of the group's admin (`groups.admin_id`): invitations
    /// come from them.
    pub from_email: Option<String>,
}

impl Store {
    /// A group and its admin (`groups.admin_id`; invitations come "from" them).
    /// Only the tests read it: the handlers read [`InvitationToPush`].
    #[cfg(any(test, feature = "test-support"))]
    pub async fn group_with_admin(&self, id: GroupId) -> Result<Option<GroupWithAdmin>, StoreError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                "SELECT g.id, g.name, admin.id AS admin_id, admin.email AS admin_email FROM groups g \
                 LEFT JOIN users admin ON admin.id = g.admin_id WHERE g.id = $1",
                &[&id.0],
            )
            .await?;
        Ok(row.map(|r| GroupWithAdmin {
            id: GroupId(r.get("id")),
            name: r.get("name"),
            admin: r
                .get::<_, Option<i64>>("admin_id")
                .map(|user_id| GroupAdmin { user_id: UserId(user_id), email: r.get("admin_email") }),
        }))
    }
}

impl Store {
    /// The invitation with its user's push endpoint and its group's name and
    /// sender address; `None` when the invitation, its user or its group is gone.
    pub async fn invitation_to_push(&self, id: InvitationId) -> Result<Option<InvitationToPush>, StoreError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                "SELECT i.id, i.status::text AS status, i.user_to, invited.device_arn, g.id AS group_id, g.name AS group_name, \
                        admin.email AS from_email \
                 FROM group_invitation_logs i \
                 JOIN users invited ON invited.id = i.user_to \
                 JOIN groups g ON g.id = i.group_id \
                 LEFT JOIN users admin ON admin.id = g.admin_id \
                 WHERE i.id = $1",
                &[&id.0],
            )
            .await?;
        let Some(r) = row else { return Ok(None) };
        Ok(Some(InvitationToPush {
            id: InvitationId(r.get("id")),
            status: parse_column(r.get("status"))?,
            user_id: UserId(r.get("user_to")),
            device_arn: r.get("device_arn"),
            group_id: GroupId(r.get("group_id")),
            group_name: r.get("group_name"),
            from_email: r.get("from_email"),
        }))
    }

    /// Marks a pending invitation sent; `false` when it was not pending any more.
    pub async fn mark_invitation_sent(&self, id: InvitationId, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let client = self.pool.get().await?;
        let updated = client
            .execute(
                "UPDATE group_invitation_logs SET status = 'sent', sent_at = $2 WHERE id = $1 AND status = 'pending'",
                &[&id.0, &at],
            )
            .await?;
        Ok(updated == 1)
    }
}
