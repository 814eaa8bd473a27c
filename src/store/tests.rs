use std::os::unix::fs::PermissionsExt;

use super::*;

fn temp() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(FILE_NAME);
    (dir, path)
}

#[test]
fn create_makes_a_0600_file_at_the_current_version() {
    let (_d, path) = temp();
    let store = Store::create(&path).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!(
        store.read(|tx| tx.schema_version()).unwrap(),
        SCHEMA_VERSION
    );
    drop(store);
    assert!(Store::create(&path).is_err(), "create never overwrites");
}

#[test]
fn failed_write_changes_nothing() {
    let (_d, path) = temp();
    let store = Store::create(&path).unwrap();
    let r: Result<(), StoreError> = store.write(|tx| {
        tx.put_public("k", b"v")?;
        Err(StoreError::NoSchema)
    });
    assert!(r.is_err());
    assert_eq!(store.read(|tx| tx.public("k")).unwrap(), None);
}

#[test]
fn newer_schema_is_refused() {
    let (_d, path) = temp();
    let store = Store::create(&path).unwrap();
    store
        .write(|tx| tx.set_schema_version(SCHEMA_VERSION + 1))
        .unwrap();
    drop(store);
    let err = Store::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::SchemaTooNew { found, .. } if found == SCHEMA_VERSION + 1));
    assert!(err.to_string().contains("newer tundra binary"));
}

#[test]
fn migrations_run_in_order_once() {
    fn add_marker(tx: &mut WriteTx) -> Result<(), StoreError> {
        let n = tx.public("steps")?.map_or(0, |v| v.len());
        tx.put_public("steps", &vec![0u8; n + 1])
    }
    let steps = [
        Migration {
            to: SCHEMA_VERSION + 1,
            what: "two",
            run: add_marker,
        },
        Migration {
            to: SCHEMA_VERSION + 2,
            what: "three",
            run: add_marker,
        },
    ];
    let (_d, path) = temp();
    drop(Store::create(&path).unwrap());
    let store = Store::open_with(&path, &steps, SCHEMA_VERSION + 2).unwrap();
    assert_eq!(
        store.read(|tx| tx.schema_version()).unwrap(),
        SCHEMA_VERSION + 2
    );
    assert_eq!(
        store
            .read(|tx| tx.public("steps"))
            .unwrap()
            .map(|v| v.len()),
        Some(2)
    );
    drop(store);
    // Reopening at the same version runs nothing again.
    let store = Store::open_with(&path, &steps, SCHEMA_VERSION + 2).unwrap();
    assert_eq!(
        store
            .read(|tx| tx.public("steps"))
            .unwrap()
            .map(|v| v.len()),
        Some(2)
    );
}

#[test]
fn a_second_opener_is_refused_while_open() {
    let (_d, path) = temp();
    let _store = Store::create(&path).unwrap();
    assert!(matches!(Store::open(&path), Err(StoreError::InUse { .. })));
}

#[test]
fn audit_rows_page_in_order() {
    let (_d, path) = temp();
    let store = Store::create(&path).unwrap();
    store
        .write(|tx| {
            for seq in 1..=5u64 {
                tx.audit_insert(seq, &[seq as u8])?;
            }
            Ok::<_, StoreError>(())
        })
        .unwrap();
    let page = store.read(|tx| tx.audit_after(2, 2)).unwrap();
    assert_eq!(page, vec![(3, vec![3]), (4, vec![4])]);
    assert!(store.write(|tx| tx.audit_insert(3, b"dup")).is_err());
}

#[test]
fn a_version_1_store_is_migrated_to_the_current_schema() {
    let (_d, path) = temp();
    let store = Store::create(&path).unwrap();
    store.write(|tx| tx.set_schema_version(1)).unwrap();
    drop(store);
    let store = Store::open(&path).unwrap();
    assert_eq!(
        store.read(|tx| tx.schema_version()).unwrap(),
        SCHEMA_VERSION
    );
    let rows: Vec<(String, String)> = store.read(|tx| tx.rows(Table::Users, "")).unwrap();
    assert!(rows.is_empty());
}

#[test]
fn json_rows_round_trip_and_scan_by_prefix() {
    let (_d, path) = temp();
    let store = Store::create(&path).unwrap();
    store
        .write(|tx| {
            tx.put_row(Table::Memberships, "t1/u1", &"owner")?;
            tx.put_row(Table::Memberships, "t1/u2", &"viewer")?;
            tx.put_row(Table::Memberships, "t2/u1", &"admin")
        })
        .unwrap();
    let t1: Vec<(String, String)> = store.read(|tx| tx.rows(Table::Memberships, "t1/")).unwrap();
    assert_eq!(
        t1,
        vec![
            ("t1/u1".into(), "owner".into()),
            ("t1/u2".into(), "viewer".into())
        ]
    );
    assert!(store
        .write(|tx| tx.delete_row(Table::Memberships, "t1/u2"))
        .unwrap());
    let one: Option<String> = store
        .read(|tx| tx.row(Table::Memberships, "t1/u2"))
        .unwrap();
    assert_eq!(one, None);
}

#[test]
fn pages_of_rows_start_after_a_key_and_stay_in_their_prefix() {
    let (_d, path) = temp();
    let store = Store::create(&path).unwrap();
    store
        .write(|tx| {
            for k in ["a/1", "a/2", "a/3", "b/1"] {
                tx.put_row(Table::TeamCommands, k, &())?;
            }
            Ok::<_, StoreError>(())
        })
        .unwrap();
    let keys = |after: Option<&str>, limit| {
        store
            .read(|tx| tx.rows_page::<()>(Table::TeamCommands, "a/", after, limit))
            .unwrap()
            .into_iter()
            .map(|(k, ())| k)
            .collect::<Vec<_>>()
    };
    assert_eq!(keys(None, 2), ["a/1", "a/2"]);
    assert_eq!(keys(Some("a/2"), 10), ["a/3"], "after is exclusive");
    assert_eq!(keys(Some("a/25"), 10), ["a/3"], "after need not exist");
    assert!(
        keys(Some("a/3"), 10).is_empty(),
        "never runs into the next prefix"
    );
    assert_eq!(
        keys(Some("0"), 1),
        ["a/1"],
        "an after before the prefix starts it"
    );
}

#[test]
fn command_output_is_kept_apart_from_rows() {
    let (_d, path) = temp();
    let store = Store::create(&path).unwrap();
    store
        .write(|tx| tx.put_command_output("cmd_1", b"sealed"))
        .unwrap();
    assert_eq!(
        store.read(|tx| tx.command_output("cmd_1")).unwrap(),
        Some(b"sealed".to_vec())
    );
    assert_eq!(store.read(|tx| tx.command_output("cmd_2")).unwrap(), None);
}
