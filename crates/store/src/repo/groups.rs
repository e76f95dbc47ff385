use crate::{Store, StoreError};
use torium_domain::{GroupAdmin, GroupId, GroupWithAdmin, UserId};

impl Store {
    /// A group and its longest-standing admin (invitations come "from" them).
    pub async fn group_with_admin(&self, id: GroupId) -> Result<Option<GroupWithAdmin>, StoreError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                "SELECT g.id, g.name, admin.user_id, admin.email \
                 FROM groups g \
                 LEFT JOIN LATERAL ( \
                     SELECT ug.user_id, u.email FROM users_groups ug JOIN users u ON u.id = ug.user_id \
                     WHERE ug.group_id = g.id AND ug.role = 'admin' \
                     ORDER BY ug.joined_at, ug.user_id LIMIT 1 \
                 ) admin ON true \
                 WHERE g.id = $1",
                &[&id.0],
            )
            .await?;
        Ok(row.map(|r| GroupWithAdmin {
            id: GroupId(r.get(0)),
            name: r.get(1),
            admin: r.get::<_, Option<i64>>(2).map(|user_id| GroupAdmin { user_id: UserId(user_id), email: r.get(3) }),
        }))
    }
}
