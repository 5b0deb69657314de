//! The db crate on both backends: pragmas, migrations, write transactions, unique violations.

use crate::both_backends;
use crate::support::Backend;
use sqlx::Row;

both_backends!(migrations_are_idempotent_and_recorded, |env| {
    let store = env.services.store.clone();
    store.migrate().await.unwrap();
    store.migrate().await.unwrap();
    let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM schema_migrations WHERE service = 'idaas'")
        .fetch_one(store.db().pool())
        .await
        .unwrap()
        .try_get("n")
        .unwrap();
    assert_eq!(n, idaas::store::MIGRATIONS.len() as i64);
    // A renamed migration is refused rather than silently skipped.
    let renamed = [db::Migration {
        version: 1,
        name: "renamed",
        sql: "SELECT 1",
    }];
    assert!(matches!(
        store.db().migrate("idaas", &renamed).await,
        Err(db::DbError::MigrationMismatch { .. })
    ));
});

both_backends!(failing_migration_leaves_nothing, |env| {
    let db = env.services.store.db();
    let bad = [db::Migration {
        version: 1,
        name: "half",
        sql: "CREATE TABLE half_done (x TEXT); INSERT INTO no_such_table VALUES (1)",
    }];
    assert!(db.migrate("other", &bad).await.is_err());
    let exists = sqlx::query("SELECT 1 AS x FROM half_done")
        .fetch_optional(db.pool())
        .await;
    assert!(
        exists.is_err(),
        "the table of a failed migration must not exist"
    );
    let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM schema_migrations WHERE service = 'other'")
        .fetch_one(db.pool())
        .await
        .unwrap()
        .try_get("n")
        .unwrap();
    assert_eq!(n, 0);
});

both_backends!(unique_violation_is_classified, |env| {
    let db = env.services.store.db();
    let inst = env.instance("A").await;
    let insert = || {
        sqlx::query(
            "INSERT INTO groups (id, instance_id, name, name_key, description, created_at, updated_at) \
             VALUES ($1, $2, 'g', 'g', '', 0, 0)",
        )
        .bind(idaas::id::new_id("group"))
        .bind(inst.id.clone())
    };
    insert().execute(db.pool()).await.unwrap();
    let err = insert().execute(db.pool()).await.unwrap_err();
    assert!(db::is_unique_violation(&err));
    let fk = sqlx::query(
        "INSERT INTO groups (id, instance_id, name, name_key, description, created_at, updated_at) \
         VALUES ('group_x', 'idaas_missing', 'g', 'g', '', 0, 0)",
    )
    .execute(db.pool())
    .await
    .unwrap_err();
    assert!(!db::is_unique_violation(&fk));
    assert!(
        db::is_foreign_key_violation(&fk),
        "foreign keys must be enforced: {fk}"
    );
});

both_backends!(rolled_back_write_leaves_nothing, |env| {
    let db = env.services.store.db();
    let inst = env.instance("A").await;
    {
        let mut tx = db.begin_write().await.unwrap();
        sqlx::query(
            "INSERT INTO groups (id, instance_id, name, name_key, description, created_at, updated_at) \
             VALUES ('group_rb', $1, 'g', 'g', '', 0, 0)",
        )
        .bind(&inst.id)
        .execute(&mut *tx)
        .await
        .unwrap();
        // Dropped without commit.
    }
    let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM groups")
        .fetch_one(db.pool())
        .await
        .unwrap()
        .try_get("n")
        .unwrap();
    assert_eq!(n, 0);
});

both_backends!(concurrent_writers_do_not_fail, |env| {
    let inst = env.instance("A").await;
    let mut tasks = Vec::new();
    for i in 0..16 {
        let services = env.services.clone();
        let iid = inst.id.clone();
        tasks.push(tokio::spawn(async move {
            let name = idaas::group::GroupName::parse(&format!("g{i}")).unwrap();
            services
                .create_group(
                    &idaas::audit::Actor::system(),
                    &iid,
                    idaas::group::NewGroup {
                        name,
                        description: String::new(),
                        external_id: None,
                    },
                )
                .await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(env.services.list_groups(&inst.id).await.unwrap().len(), 16);
});

#[tokio::test]
async fn sqlite_pragmas_are_set() {
    let Some(env) = crate::support::Env::new(Backend::Sqlite).await else {
        return;
    };
    let pool = env.services.store.db().pool();
    let mut conn = pool.acquire().await.unwrap();
    let mode: String = sqlx::query("PRAGMA journal_mode")
        .fetch_one(&mut *conn)
        .await
        .unwrap()
        .try_get(0)
        .unwrap();
    assert_eq!(mode.to_lowercase(), "wal");
    let fk: i64 = sqlx::query("PRAGMA foreign_keys")
        .fetch_one(&mut *conn)
        .await
        .unwrap()
        .try_get(0)
        .unwrap();
    assert_eq!(fk, 1);
    let busy: i64 = sqlx::query("PRAGMA busy_timeout")
        .fetch_one(&mut *conn)
        .await
        .unwrap()
        .try_get(0)
        .unwrap();
    assert!(busy >= 5000, "busy_timeout {busy}");
}

#[tokio::test]
async fn unsupported_urls_are_refused() {
    assert!(matches!(
        db::Db::connect("mysql://x").await,
        Err(db::DbError::UnsupportedUrl)
    ));
}
