//! An unknown container name on a host whose engine sockets are stale: the
//! socket file is there, but nothing listens (the daemon died), or a process
//! accepts and never answers (the daemon hangs). Each engine is skipped
//! after a connect, or a short wait for its first byte, and the message says
//! why; nothing on the host changes. (How fast: scripts/bench; here only a
//! generous bound, so that a busy machine cannot fail the test.)

mod common;

use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

/// A directory for the test's sockets, removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new() -> Dir {
        let d = std::env::temp_dir().join(unique("pw-stale-"));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Dir(d)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A socket whose daemon died: the file stays, connecting is refused.
fn refusing(dir: &Path, name: &str) -> PathBuf {
    let p = dir.join(name);
    drop(UnixListener::bind(&p).unwrap());
    p
}

/// A socket whose daemon hangs: connections queue, nothing is ever read or
/// written.
fn silent(dir: &Path, name: &str) -> (PathBuf, UnixListener) {
    let p = dir.join(name);
    let l = UnixListener::bind(&p).unwrap();
    (p, l)
}

/// `pipework br0 NAME 10.0.0.2/24` with the engines' sockets where the test
/// says; its stderr and how long it took.
fn unknown_name(host: &Host, docker: &Path, podman: &Path, containerd: &Path) -> (Option<i32>, String, Duration) {
    let started = Instant::now();
    let out = Command::new("ip")
        .args(["netns", "exec", &host.ns, "env"])
        .arg(format!("DOCKER_HOST=unix://{}", docker.display()))
        .arg(format!("CONTAINER_HOST=unix://{}", podman.display()))
        .arg(format!("CONTAINERD_ADDRESS={}", containerd.display()))
        .arg(env!("CARGO_BIN_EXE_pipework"))
        .args(["br0", "no-such-container-here", "10.0.0.2/24"])
        .output()
        .unwrap();
    (out.status.code(), stderr(&out), started.elapsed())
}

#[test]
fn sockets_that_refuse_are_skipped_at_once() {
    let host = Host::new();
    host.ok("ip link add br0 type bridge && ip link set br0 up");
    let dir = Dir::new();
    let (d, p, c) = (refusing(&dir.0, "d.sock"), refusing(&dir.0, "p.sock"), refusing(&dir.0, "c.sock"));
    let before = host.state();
    let (code, err, took) = unknown_name(&host, &d, &p, &c);
    assert_eq!(code, Some(1), "{err}");
    for (engine, sock) in [("Docker", &d), ("Podman", &p), ("containerd", &c)] {
        let says = format!("{engine} (nothing listens on {} (a stale socket))", sock.display());
        assert!(err.contains(&says), "wanted {says:?} in {err:?}");
    }
    assert!(err.contains("container 'no-such-container-here' not found"), "{err}");
    assert!(took < Duration::from_secs(2), "took {took:?}: {err}");
    assert_eq!(host.state(), before);
}

#[test]
fn a_socket_that_accepts_and_never_answers_is_given_up_on() {
    let host = Host::new();
    host.ok("ip link add br0 type bridge && ip link set br0 up");
    let dir = Dir::new();
    // Docker hangs, Podman's socket refuses, containerd's is missing.
    let (d, _held) = silent(&dir.0, "d.sock");
    let p = refusing(&dir.0, "p.sock");
    let c = dir.0.join("missing.sock");
    let before = host.state();
    let (code, err, took) = unknown_name(&host, &d, &p, &c);
    assert_eq!(code, Some(1), "{err}");
    let says = format!("Docker (unix://{} accepted but did not answer within", d.display());
    assert!(err.contains(&says), "wanted {says:?} in {err:?}");
    assert!(err.contains(&format!("Podman (nothing listens on {}", p.display())), "{err}");
    // ctr may be missing on the test machine: then it is not asked either.
    let skipped = format!("containerd (no socket at {})", c.display());
    assert!(err.contains(&skipped) || err.contains("containerd (ctr is not installed)"), "{err}");
    assert!(took < Duration::from_secs(2), "took {took:?}: {err}");
    assert_eq!(host.state(), before);

    // containerd itself silent: its gRPC socket is probed, ctr never dials.
    let (c, _held_c) = silent(&dir.0, "c.sock");
    let (code, err, took) = unknown_name(&host, &p, &p, &c);
    assert_eq!(code, Some(1), "{err}");
    let says = format!("containerd ({} accepted but did not answer within", c.display());
    assert!(err.contains(&says) || err.contains("containerd (ctr is not installed)"), "wanted {says:?} in {err:?}");
    assert!(took < Duration::from_secs(2), "took {took:?}: {err}");
}
