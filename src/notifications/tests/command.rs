//! The command as a real process.

use std::time::{Duration, Instant};

use super::*;

fn notifier(argv: &[&str], timeout_secs: u64) -> Notifier {
    Notifier::new(&Settings {
        command: Some(argv.iter().map(|a| a.to_string()).collect()),
        timeout: Duration::from_secs(timeout_secs),
        ..Settings::default()
    })
    .with_host("box")
}

fn deliver(n: &Notifier) -> Attempt {
    let delivery = n.send(event("failed")).unwrap().join().unwrap();
    assert_eq!(delivery.targets.len(), 1);
    delivery.targets.into_iter().next().unwrap()
}

#[test]
fn the_command_gets_the_exact_json_on_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("got.json");
    let script = format!("cat > '{}'; echo done", file.display());
    let n = notifier(&["/bin/sh", "-c", &script], 5);
    let attempt = deliver(&n);
    assert_eq!(attempt.target, "sh");
    assert_eq!(attempt.result, Ok(()));
    assert_eq!(attempt.output, "done");
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        n.body(&event("failed")).to_string()
    );
}

#[test]
fn a_failing_command_is_a_failure_with_its_output() {
    let attempt = deliver(&notifier(&["false"], 5));
    assert_eq!(attempt.target, "false");
    assert!(
        matches!(&attempt.result, Err(Failure::Exit(s)) if s.contains('1')),
        "{:?}",
        attempt.result
    );
    let attempt = deliver(&notifier(
        &[
            "/bin/sh",
            "-c",
            "echo to stdout; echo to stderr >&2; exit 3",
        ],
        5,
    ));
    assert_eq!(attempt.result, Err(Failure::Exit("exit status: 3".into())));
    assert_eq!(attempt.output, "to stdout\nto stderr");
    let attempt = deliver(&notifier(&["/nonexistent/program", "x"], 5));
    assert_eq!(attempt.target, "program");
    assert!(
        matches!(&attempt.result, Err(Failure::Spawn(_))),
        "{:?}",
        attempt.result
    );
}

#[test]
fn a_command_that_ignores_its_stdin_is_judged_by_its_exit_alone() {
    assert_eq!(deliver(&notifier(&["true"], 5)).result, Ok(()));
}

#[test]
fn the_output_kept_is_bounded() {
    let attempt = deliver(&notifier(
        &["/bin/sh", "-c", "head -c 100000 /dev/zero | tr '\\0' x"],
        5,
    ));
    assert_eq!(attempt.result, Ok(()));
    assert_eq!(attempt.output.len(), super::super::command::OUTPUT_KEPT);
}

#[test]
fn a_command_that_overruns_is_killed_with_what_it_started() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    let script = format!("sleep 30 & echo $! > '{}'; wait", pid_file.display());
    let started = Instant::now();
    let attempt = deliver(&notifier(&["/bin/sh", "-c", &script], 1));
    let took = started.elapsed();
    assert_eq!(attempt.result, Err(Failure::Killed(Duration::from_secs(1))));
    assert!(took < Duration::from_secs(5), "{took:?}");
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    let stat = format!("/proc/{}/stat", pid.trim());
    // Gone, or a zombie left for whoever adopted it to reap.
    wait_until_gone(&stat);
}

fn wait_until_gone(stat: &str) {
    let until = Instant::now() + Duration::from_secs(3);
    loop {
        let alive = std::fs::read_to_string(stat)
            .map(|s| !s.rsplit(") ").next().unwrap_or("").starts_with('Z'))
            .unwrap_or(false);
        if !alive {
            return;
        }
        assert!(Instant::now() < until, "{stat} still running");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A target that hangs cannot pile up threads: past [`IN_FLIGHT`]
/// deliveries under way, notifications are dropped until one ends.
#[test]
fn deliveries_under_way_are_bounded() {
    let n = notifier(&["/bin/sh", "-c", "cat > /dev/null; sleep 1"], 5);
    let sent: Vec<_> = (0..IN_FLIGHT + 4)
        .map(|_| n.send(event("failed")))
        .collect();
    assert_eq!(sent.iter().filter(|s| s.is_some()).count(), IN_FLIGHT);
    for handle in sent.into_iter().flatten() {
        assert!(handle.join().unwrap().is_ok());
    }
    // Once they have ended, the next one goes.
    assert!(n.send(event("failed")).unwrap().join().unwrap().is_ok());
}
