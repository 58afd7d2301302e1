//! Bad input gets a clear one-line error and exit status 2, never a panic.

mod common;

use common::portradar;

fn assert_usage_error(args: &[&str], mentions: &str) {
    let out = portradar(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{args:?} exits 2; stderr: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "{args:?}: one line, got {stderr}"
    );
    assert!(
        stderr.contains(mentions),
        "{args:?}: {stderr:?} should mention {mentions:?}"
    );
    assert!(out.stdout.is_empty(), "{args:?} printed to stdout");
}

#[test]
fn invalid_filter_names_the_word_at_fault() {
    assert_usage_error(
        &["snapshot", "dst", "127.0.0.1", "andd", "sport", "=", "80"],
        "andd",
    );
    assert_usage_error(&["snapshot", "(", "dport", "=", "80"], "(");
}

#[test]
fn unknown_state_is_named() {
    assert_usage_error(&["snapshot", "state", "tim-wait"], "tim-wait");
}

#[test]
fn port_over_65535_is_refused() {
    assert_usage_error(&["snapshot", "dport", "=", "65536"], "65536");
    assert_usage_error(&["snapshot", "dst", "127.0.0.1:70000"], "70000");
}

#[test]
fn missing_netns_is_a_clear_error() {
    assert_usage_error(
        &["snapshot", "--netns", "portradar-no-such-namespace"],
        "portradar-no-such-namespace",
    );
}

#[test]
fn unknown_format_is_a_usage_error() {
    let out = portradar(&["snapshot", "--format", "xml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("xml"));
}
