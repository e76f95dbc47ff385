use torium_store::{latest_embedded_version, migrate, schema_version};
use torium_tests::TestDatabase;

#[tokio::test]
async fn migrations_apply_on_an_empty_database_and_reapply_as_a_no_op() {
    let db = TestDatabase::empty().await;
    assert_eq!(schema_version(&db.pool).await.unwrap(), None);

    let applied = migrate(&db.pool).await.expect("first migration run");
    let versions: Vec<i32> = applied.iter().map(|m| m.version).collect();
    assert_eq!(versions.first(), Some(&1));
    assert_eq!(versions.last().copied(), latest_embedded_version());

    let current = schema_version(&db.pool).await.unwrap().expect("a recorded version");
    assert_eq!(Some(current.version), latest_embedded_version());

    let again = migrate(&db.pool).await.expect("second migration run");
    assert!(again.is_empty(), "re-applying applied {again:?}");
    let client = db.client().await;
    let recorded: i64 = client.query_one("SELECT count(*) FROM refinery_schema_history", &[]).await.unwrap().get(0);
    assert_eq!(recorded, versions.len() as i64, "one history row per migration, none added by the re-run");
}

#[tokio::test]
async fn concurrent_migrators_apply_each_migration_once() {
    let db = TestDatabase::empty().await;
    let (a, b) = tokio::join!(migrate(&db.pool), migrate(&db.pool));
    let total = a.expect("first migrator").len() + b.expect("second migrator").len();
    assert_eq!(Some(total as i32), latest_embedded_version());
}
