//! The reference's DHCP client programs: udhcpc, dhclient and dhcpcd run
//! inside the guest's namespace (shielded, see `sys::exec`), and `dhcp`, which
//! runs busybox's udhcpc in a throw-away container next to a Docker guest.

use std::fs::File;
use std::io::{Read, Seek};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

use crate::dhcp::spec::{package_of, DhcpSpec};
use crate::request::DhcpMethod;
use crate::sys::exec::{self, Isolation};

/// Stops a client that may have gone to the background, by its pid file, and
/// removes the file.
pub fn stop_background_client(spec: &DhcpSpec) {
    let Some(path) = spec.pid_file() else { return };
    if let Ok(text) = std::fs::read_to_string(&path) {
        if let Ok(pid) = text.trim().parse::<i32>() {
            let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
    }
    let _ = std::fs::remove_file(&path);
}

pub fn run(spec: &DhcpSpec, guest_ns: &File) -> Result<()> {
    let (program, args) = spec.client_command().context("no client program for this method")?;
    let path = which::which(program).map_err(|_| {
        anyhow!("the DHCP client {program} is not installed (Debian/Ubuntu package: {})", package_of(program))
    })?;
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

    let finished = wait_bounded(&mut child, spec.timeout)?;
    let Some(status) = finished else {
        stop(&mut child, spec);
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
        stop_background_client(spec);
        bail!(
            "the DHCP client {program} failed ({status}){}",
            tail(&log).map(|t| format!(": {t}")).unwrap_or_default()
        );
    }
    if matches!(spec.method, DhcpMethod::Dhclient { renew: false }) {
        // Went to the background with the lease; the reference stops it.
        stop_background_client(spec);
    }
    Ok(())
}

/// Waits for the client's foreground process; None when time ran out.
fn wait_bounded(child: &mut Child, limit: Duration) -> Result<Option<std::process::ExitStatus>> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(s) = child.try_wait().context("waiting for the DHCP client")? {
            return Ok(Some(s));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Ends a client that overran: its process group (scripts included), the
/// helper container for `dhcp`, and any pid file.
fn stop(child: &mut Child, spec: &DhcpSpec) {
    let pgid = Pid::from_raw(child.id() as i32);
    if spec.method == DhcpMethod::DockerBusybox {
        if let Ok(docker) = which::which("docker") {
            let _ = Command::new(docker)
                .args(["rm", "-f", &spec.helper_container()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
    let _ = killpg(pgid, Signal::SIGTERM);
    std::thread::sleep(Duration::from_millis(100));
    let _ = killpg(pgid, Signal::SIGKILL);
    let _ = child.wait();
    stop_background_client(spec);
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
