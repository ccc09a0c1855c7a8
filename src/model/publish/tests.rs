//! Publishing: the happy path, failure at every step, backups, leftovers.

use std::fs;
use std::path::Path;

use super::{ModelsDir, Step, CURRENT};
use crate::model::tests::write_tiny;
use crate::model::Model;

fn publish(
    dir: &ModelsDir,
    version: &str,
    keep: usize,
    backup: bool,
) -> Result<super::Published, super::PublishError> {
    publish_protecting(dir, version, keep, backup, &[])
}

fn publish_protecting(
    dir: &ModelsDir,
    version: &str,
    keep: usize,
    backup: bool,
    protect: &[String],
) -> Result<super::Published, super::PublishError> {
    dir.publish(
        version,
        |out| write_tiny(out, version, 0.9).map(drop),
        keep,
        backup,
        protect,
    )
}

/// The directory's entries but the publish lock, which stays once made.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != ".publish.lock")
        .collect();
    names.sort();
    names
}

fn current_version(dir: &ModelsDir) -> String {
    Model::open(&dir.path().join(CURRENT))
        .unwrap()
        .metadata()
        .version
        .clone()
}

#[test]
fn first_publish_creates_the_dir_and_points_current() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = ModelsDir::new(tmp.path().join("models"));
    let p = publish(&dir, "v1", 5, true).unwrap();
    assert_eq!(p.path, dir.path().join("v1.recd"));
    assert_eq!(p.backup, None);
    assert_eq!(listing(dir.path()), ["current", "v1.recd"]);
    assert!(dir.path().join(".publish.lock").is_file());
    assert_eq!(
        fs::read_link(dir.path().join(CURRENT)).unwrap(),
        Path::new("v1.recd")
    );
    assert_eq!(dir.current_version().unwrap().as_deref(), Some("v1"));
    assert_eq!(current_version(&dir), "v1");
}

/// Model files were created 0666 less the umask: 0644 under the usual
/// umask, readable by every user.
#[test]
fn a_published_model_is_0640() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let dir = ModelsDir::new(tmp.path().join("models"));
    let p = publish(&dir, "v1", 5, true).unwrap();
    let mode = fs::metadata(&p.path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, super::MODE, "{mode:o}");
}

#[test]
fn previous_model_is_kept_as_backup_and_old_backups_pruned() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = ModelsDir::new(tmp.path());
    publish(&dir, "v1", 2, true).unwrap();
    let p = publish(&dir, "v2", 2, true).unwrap();
    assert_eq!(p.backup, Some(dir.path().join("v1.recd")));
    publish(&dir, "v3", 2, true).unwrap();
    let p = publish(&dir, "v4", 2, true).unwrap();
    assert_eq!(p.removed, vec![dir.path().join("v1.recd")]);
    assert_eq!(
        listing(dir.path()),
        ["current", "v2.recd", "v3.recd", "v4.recd"]
    );
    assert_eq!(dir.versions().unwrap(), ["v2", "v3", "v4"]);
    assert_eq!(current_version(&dir), "v4");
    // keep_backups = 0 keeps only the current model.
    publish(&dir, "v5", 0, true).unwrap();
    assert_eq!(listing(dir.path()), ["current", "v5.recd"]);
}

#[test]
fn no_backup_removes_the_previous_model() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = ModelsDir::new(tmp.path());
    publish(&dir, "v1", 5, true).unwrap();
    let p = publish(&dir, "v2", 5, false).unwrap();
    assert_eq!(p.backup, None);
    assert_eq!(p.removed, vec![dir.path().join("v1.recd")]);
    assert_eq!(listing(dir.path()), ["current", "v2.recd"]);
}

/// Bug: `--no-backup` deleted the file the daemon was serving, so `health`
/// named a version `models` did not list and rollback could not return.
#[test]
fn the_served_version_is_never_removed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = ModelsDir::new(tmp.path());
    publish(&dir, "v1", 5, true).unwrap();
    let served = ["v1".to_string()];
    let p = publish_protecting(&dir, "v2", 5, false, &served).unwrap();
    assert_eq!(p.backup, Some(dir.path().join("v1.recd")));
    assert!(p.removed.is_empty());
    // Nor by pruning: keep no backups at all, v1 still stays.
    let p = publish_protecting(&dir, "v3", 0, true, &served).unwrap();
    assert_eq!(p.removed, vec![dir.path().join("v2.recd")]);
    assert_eq!(listing(dir.path()), ["current", "v1.recd", "v3.recd"]);
}

#[test]
fn failure_at_any_step_leaves_the_old_model_current() {
    for step in [
        Step::CreateDir,
        Step::CreateTemp,
        Step::Write,
        Step::Sync,
        Step::Verify,
        Step::Rename,
        Step::SyncDir,
        Step::SwitchCurrent,
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let mut dir = ModelsDir::new(tmp.path());
        publish(&dir, "v1", 5, true).unwrap();
        let before = fs::read(dir.path().join("v1.recd")).unwrap();
        dir.fail_at = Some(step);
        let e = publish(&dir, "v2", 5, false).unwrap_err();
        assert_eq!(e.step, step);
        assert!(e.to_string().contains("injected failure"), "{e}");
        assert_eq!(
            listing(dir.path()),
            ["current", "v1.recd"],
            "after failing at {step:?}"
        );
        assert_eq!(current_version(&dir), "v1");
        assert_eq!(fs::read(dir.path().join("v1.recd")).unwrap(), before);
    }
}

#[test]
fn a_failing_writer_is_reported_and_cleaned_up() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = ModelsDir::new(tmp.path());
    publish(&dir, "v1", 5, true).unwrap();
    let e = dir
        .publish(
            "v2",
            |_| Err(std::io::Error::from_raw_os_error(28)),
            5,
            true,
            &[],
        )
        .unwrap_err();
    assert_eq!(e.step, Step::Write);
    let msg = e.to_string();
    assert!(
        msg.contains("while writing the temp file") && msg.contains("No space left on device"),
        "{msg}"
    );
    assert_eq!(listing(dir.path()), ["current", "v1.recd"]);
    // A writer that produces garbage fails verification, not publication.
    let e = dir
        .publish(
            "v3",
            |out| std::io::Write::write_all(out, b"garbage"),
            5,
            true,
            &[],
        )
        .unwrap_err();
    assert_eq!(e.step, Step::Verify);
    assert_eq!(listing(dir.path()), ["current", "v1.recd"]);
}

#[test]
fn republishing_a_version_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = ModelsDir::new(tmp.path());
    publish(&dir, "v1", 5, true).unwrap();
    let e = publish(&dir, "v1", 5, true).unwrap_err();
    assert_eq!(e.step, Step::Rename);
    assert_eq!(listing(dir.path()), ["current", "v1.recd"]);
}

#[test]
fn leftovers_of_a_crash_are_removed_on_the_next_publish() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = ModelsDir::new(tmp.path());
    publish(&dir, "v1", 5, true).unwrap();
    fs::write(dir.path().join(".tmp-v2.recd"), b"half a model").unwrap();
    fs::write(dir.path().join(".tmp-current-v2"), b"").unwrap();
    let p = publish(&dir, "v3", 5, true).unwrap();
    assert_eq!(p.removed.len(), 2);
    assert_eq!(listing(dir.path()), ["current", "v1.recd", "v3.recd"]);
}

#[test]
fn missing_dir_has_no_current_model() {
    let dir = ModelsDir::new("/nonexistent/models");
    assert_eq!(dir.current_version().unwrap(), None);
    assert!(dir.open_current().unwrap().is_none());
    assert!(dir.remove_leftovers().unwrap().is_empty());
}

/// A publish in progress elsewhere holds the lock: removing leftovers
/// waits for it instead of deleting its temp file.
#[test]
fn leftovers_are_removed_only_between_publishes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = ModelsDir::new(tmp.path());
    publish(&dir, "v1", 5, true).unwrap();
    let temp = tmp.path().join(".tmp-v2.recd");
    let (held_tx, held_rx) = std::sync::mpsc::channel();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let other = {
        let dir = ModelsDir::new(tmp.path());
        let temp = temp.clone();
        std::thread::spawn(move || {
            let lock = dir.lock().unwrap();
            fs::write(&temp, b"in progress").unwrap();
            held_tx.send(()).unwrap();
            go_rx.recv().unwrap();
            // Still there while the lock was held.
            let there = temp.exists();
            fs::remove_file(&temp).unwrap();
            drop(lock);
            there
        })
    };
    held_rx.recv().unwrap();
    let cleaner = {
        let dir = ModelsDir::new(tmp.path());
        std::thread::spawn(move || dir.remove_leftovers().unwrap())
    };
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(!cleaner.is_finished(), "the cleaner waits for the lock");
    go_tx.send(()).unwrap();
    assert!(
        other.join().unwrap(),
        "the publish in progress kept its file"
    );
    assert!(cleaner.join().unwrap().is_empty());
    // A leftover with no publish holding the lock goes.
    fs::write(&temp, b"left by a crash").unwrap();
    assert_eq!(dir.remove_leftovers().unwrap(), vec![temp]);
}
