//! The reference's DHCP client programs: udhcpc, dhclient and dhcpcd run
//! inside the guest's namespace (shielded, see `sys::exec`), and `dhcp`, which
//! runs busybox's udhcpc in a throw-away container next to a Docker guest.

use std::fs::File;
use std::io::{Read, Seek};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

use crate::dhcp::spec::{package_of, DhcpSpec};
use crate::request::DhcpMethod;
use crate::sys::exec::{self, Isolation};
use crate::sys::pidfd::PidFd;
use crate::sys::signals;

/// Stops a client that may have gone to the background, by its pid file, and
/// removes the file. The PID is signalled only if it is that client: a DHCP
/// client program (or pipework's own) running in the guest's namespace. A
/// pid file this run did not write may name any process by now.
///
/// Returns once the client has exited (bounded): a run that stops its
/// client leaves no process behind in the guest when pipework returns.
pub fn stop_background_client(spec: &DhcpSpec, guest_ns: &File) {
    let Some(path) = spec.pid_file() else { return };
    if let Some(pid) = client_in_pid_file(spec, guest_ns) {
        // Pinned before it is signalled: the wait is for this process, not
        // one that gets its number later.
        let pinned = PidFd::open(pid);
        let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGTERM);
        // It exits when it gets to the signal, which on a busy machine is
        // not at once.
        match pinned {
            Some(p) => {
                p.wait(BACKGROUND_WAIT);
            }
            None => until(BACKGROUND_WAIT, || !in_namespace(pid, guest_ns)),
        }
    }
    let _ = std::fs::remove_file(&path);
}

/// How long a client that goes to the background may take to write its
/// pid file, or to exit once told to.
const BACKGROUND_WAIT: Duration = Duration::from_secs(10);

/// Polls `done` until it holds or `limit` passes.
fn until(limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Is process `pid` alive in the guest's network namespace? An exited one
/// (a zombie too) has no namespace to show.
fn in_namespace(pid: i32, guest_ns: &File) -> bool {
    let (Ok(theirs), Ok(guest)) = (std::fs::metadata(format!("/proc/{pid}/ns/net")), guest_ns.metadata()) else {
        return false;
    };
    (theirs.dev(), theirs.ino()) == (guest.dev(), guest.ino())
}

/// The PID in the method's pid file, if it is a DHCP client in the guest's
/// network namespace.
fn client_in_pid_file(spec: &DhcpSpec, guest_ns: &File) -> Option<i32> {
    let text = std::fs::read_to_string(spec.pid_file()?).ok()?;
    let pid = text.trim().parse::<i32>().ok().filter(|p| *p > 0)?;
    let proc = std::path::PathBuf::from(format!("/proc/{pid}"));
    let (theirs, guest) = (std::fs::metadata(proc.join("ns/net")).ok()?, guest_ns.metadata().ok()?);
    if (theirs.dev(), theirs.ino()) != (guest.dev(), guest.ino()) {
        return None;
    }
    let exe = std::fs::read_link(proc.join("exe")).ok()?;
    let name = exe.file_name()?.to_string_lossy().into_owned();
    let ours = std::env::current_exe().ok().and_then(|e| e.file_name().map(|n| n.to_string_lossy().into_owned()));
    let client = ["udhcpc", "busybox", "dhclient", "dhcpcd"].contains(&name.as_str()) || Some(&name) == ours.as_ref();
    client.then_some(pid)
}

pub fn run(spec: &DhcpSpec, guest_ns: &File) -> Result<()> {
    let (program, args) = spec.client_command().context("no client program for this method")?;
    let path = which::which(program).map_err(|_| {
        anyhow!("the DHCP client {program} is not installed (Debian/Ubuntu package: {})", package_of(program))
    })?;
    // A pid file left by an earlier run whose client is gone would be taken
    // for this run's: only a live client of this guest keeps its file.
    if let Some(path) = spec.pid_file() {
        if client_in_pid_file(spec, guest_ns).is_none() {
            let _ = std::fs::remove_file(path);
        }
    }
    if matches!(spec.method, DhcpMethod::Dhclient { .. }) {
        std::fs::create_dir_all("/etc/dhclient").context("creating /etc/dhclient for dhclient's lease file")?;
    }
    let mut cmd = match spec.method {
        DhcpMethod::DockerBusybox => {
            let mut c = Command::new(&path);
            c.process_group(0);
            c
        }
        _ => exec::command(
            &path,
            guest_ns,
            Isolation::Client { hostname: spec.hostname.clone(), private_dirs: spec.private_dirs() },
        ),
    };
    // The client's chatter goes to memory, shown only if it fails. A client
    // that stays in the background keeps the file; it writes little.
    let log = memfd().context("creating a buffer for the client's output")?;
    cmd.args(&args).stdin(Stdio::null()).stdout(Stdio::from(log.try_clone()?)).stderr(Stdio::from(log.try_clone()?));
    let mut child = cmd.spawn().with_context(|| format!("starting {program}"))?;

    let finished = match wait_bounded(&mut child, spec.timeout) {
        Ok(f) => f,
        Err(e) => {
            stop(&mut child, spec, guest_ns);
            return Err(e);
        }
    };
    let Some(status) = finished else {
        stop(&mut child, spec, guest_ns);
        bail!(
            "no DHCP lease on {} within {} s ({} got no answer{}); is a DHCP server on that network? \
             (--dhcp-timeout changes the limit)",
            spec.link,
            spec.timeout.as_secs(),
            program,
            tail(&log).map(|t| format!(": {t}")).unwrap_or_default()
        );
    };
    if !status.success() {
        stop_background_client(spec, guest_ns);
        bail!(
            "the DHCP client {program} failed ({status}){}",
            tail(&log).map(|t| format!(": {t}")).unwrap_or_default()
        );
    }
    if matches!(spec.method, DhcpMethod::Dhclient { renew: false }) {
        // Went to the background with the lease; the reference stops it.
        // dhclient's foreground process may exit before the daemon it
        // forked has written its pid file: wait for the file (bounded), or
        // the daemon would be left running.
        until(BACKGROUND_WAIT, || client_in_pid_file(spec, guest_ns).is_some());
        stop_background_client(spec, guest_ns);
    }
    Ok(())
}

/// Waits for the client's foreground process; None when time ran out, an
/// error when a signal asked the run to stop. Sleeps on the child's pidfd
/// until it exits (where pidfds are missing, looks every 20 ms).
fn wait_bounded(child: &mut Child, limit: Duration) -> Result<Option<std::process::ExitStatus>> {
    let deadline = Instant::now() + limit;
    let pinned = PidFd::open(child.id() as i32);
    loop {
        if let Some(s) = child.try_wait().context("waiting for the DHCP client")? {
            return Ok(Some(s));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(None);
        }
        signals::check()?;
        match &pinned {
            Some(p) => {
                p.wait(left);
            }
            None => std::thread::sleep(left.min(Duration::from_millis(20))),
        }
    }
}

/// Ends a client that overran: its process group (scripts included), the
/// helper container for `dhcp`, and any pid file.
fn stop(child: &mut Child, spec: &DhcpSpec, guest_ns: &File) {
    let pgid = Pid::from_raw(child.id() as i32);
    if spec.method == DhcpMethod::DockerBusybox {
        remove_helper_container(spec);
    }
    let pinned = PidFd::open(child.id() as i32);
    let _ = killpg(pgid, Signal::SIGTERM);
    // A tenth of a second to go by itself (its scripts with it), then the
    // whole group is killed.
    match pinned {
        Some(p) => {
            p.wait(Duration::from_millis(100));
        }
        None => std::thread::sleep(Duration::from_millis(100)),
    }
    let _ = killpg(pgid, Signal::SIGKILL);
    let _ = child.wait();
    stop_background_client(spec, guest_ns);
}

/// `docker rm -f` of the `dhcp` method's helper container, if there is one.
pub fn remove_helper_container(spec: &DhcpSpec) {
    if let Ok(docker) = which::which("docker") {
        let _ = Command::new(docker)
            .args(["rm", "-f", &spec.helper_container()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

fn memfd() -> Result<File> {
    let fd = nix::sys::memfd::memfd_create(c"pipework-dhcp", nix::sys::memfd::MFdFlags::empty())?;
    Ok(File::from(fd))
}

/// The last lines of the client's output, on one line.
fn tail(log: &File) -> Option<String> {
    let mut f = log.try_clone().ok()?;
    f.rewind().ok()?;
    let mut text = String::new();
    f.read_to_string(&mut text).ok()?;
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let last = lines[lines.len().saturating_sub(3)..].join(" / ");
    (!last.is_empty()).then_some(last)
}
