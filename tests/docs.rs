//! The manual and completions come from the clap definitions: the committed
//! man/pipework.8 must be exactly what the binary generates, and must render
//! without a single groff warning.

use std::process::Command;

fn pipework(args: &[&str]) -> Vec<u8> {
    let out = Command::new(env!("CARGO_BIN_EXE_pipework")).args(args).output().expect("running pipework");
    assert!(out.status.success(), "pipework {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

#[test]
fn committed_man_page_is_the_generated_one() {
    let generated = pipework(&["--man"]);
    let committed = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/man/pipework.8")).expect("man/pipework.8");
    assert!(
        generated == committed,
        "man/pipework.8 is stale; regenerate it with: target/x86_64-unknown-linux-gnu/release/pipework --man > man/pipework.8"
    );
}

#[test]
fn man_page_renders_without_warnings() {
    let page = concat!(env!("CARGO_MANIFEST_DIR"), "/man/pipework.8");
    let out = Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-z", page])
        .output()
        .expect("groff (Debian: groff-base) is needed to check the manual");
    assert!(out.status.success());
    let warnings = String::from_utf8_lossy(&out.stderr);
    assert!(warnings.is_empty(), "groff warns:\n{warnings}");
    // And every section a reader looks for is there.
    // -P-cbou: plain text, no overstrike bold.
    let plain = Command::new("groff").args(["-man", "-Tutf8", "-P-cbou", page]).output().unwrap().stdout;
    let text = String::from_utf8_lossy(&plain);
    for section in ["SYNOPSIS", "OPTIONS", "ADDRESS", "DETACH", "EXIT STATUS", "FILES", "EXAMPLES"] {
        assert!(text.contains(section), "no {section} section");
    }
}

#[test]
fn bash_completion_is_valid_bash_and_knows_the_options() {
    let script = pipework(&["--completions", "bash"]);
    let text = String::from_utf8_lossy(&script);
    for opt in ["--detach", "--dry-run", "--ovs-datapath", "--dhcp-timeout"] {
        assert!(text.contains(opt), "bash completion lacks {opt}");
    }
    let dir = std::env::temp_dir().join(format!("pipework-completion-{}", std::process::id()));
    std::fs::write(&dir, &script).unwrap();
    let check = Command::new("bash").arg("-n").arg(&dir).output().unwrap();
    let _ = std::fs::remove_file(&dir);
    assert!(check.status.success(), "bash -n: {}", String::from_utf8_lossy(&check.stderr));
}

#[test]
fn zsh_and_fish_completions_are_generated() {
    assert!(String::from_utf8_lossy(&pipework(&["--completions", "zsh"])).starts_with("#compdef pipework"));
    assert!(String::from_utf8_lossy(&pipework(&["--completions", "fish"])).contains("complete -c pipework"));
}

#[test]
fn the_systemd_unit_starts_a_watch_our_command_line_accepts() {
    let unit = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/systemd/pipework-watch.service"))
        .expect("scripts/systemd/pipework-watch.service");
    let exec = unit.lines().find_map(|l| l.strip_prefix("ExecStart=")).expect("an ExecStart line");
    let mut words: Vec<&str> = exec.split_whitespace().skip(1).collect();
    assert_eq!(words.first(), Some(&"--watch"), "{exec}");
    // The options parse and reach the watch, which stops at the missing
    // file before it connects to anything.
    *words.last_mut().unwrap() = "/nonexistent/pipework-watch-test";
    let out = Command::new(env!("CARGO_BIN_EXE_pipework")).args(&words).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("reading the watch file /nonexistent/pipework-watch-test"), "{err}");
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    assert!(
        readme.contains("scripts/systemd/pipework-watch.service"),
        "the README does not say how to install the unit"
    );
}
