//! `pipework --detach [-i GUESTIF] GUEST`: take away what an attach made for
//! one interface of a guest. A DHCP client renewing for it is stopped first;
//! then the kind that made the interface removes it (a veth with its host
//! side and OVS port, a macvlan or other virtual device, a device moved in
//! by `--direct-phys`, sent home).
//!
//! Idempotent: a guest that is gone, or has no such interface, means there
//! is nothing left to do; only `--strict` makes that an error.

use std::os::unix::fs::MetadataExt;

use anyhow::{Context, Result};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::attach::configure::DropSourceRules;
use crate::attach::kinds::{self, Found};
use crate::attach::step::{Step, Steps, Target};
use crate::guest::{self, Guest, GuestNames};
use crate::request::Detach;
use crate::sys::arp::Announcer;
use crate::sys::netlink::Netlink;
use crate::sys::ovsdb::vswitch::Vswitch;
use crate::sys::signals;

pub fn run(d: &Detach, dry_run: bool) -> Result<()> {
    let guest = match guest::resolve(&d.guest) {
        Ok(g) => g,
        // A PID that is no longer the container's: refused, not "nothing to do".
        Err(e) if e.is::<guest::NotThatContainer>() => return Err(e),
        Err(e) if denied(&e) => {
            return Err(e.context(format!(
                "pipework --detach needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN) to reach guest {}",
                d.guest
            )))
        }
        Err(e) => return nothing_to_do(d, e.context(format!("guest {}", d.guest))),
    };
    let host_nl = Netlink::connect()?;
    let guest_nl = host_nl.open_in(&guest.netns).context("opening netlink inside the guest")?;
    let vswitch = Vswitch::find(d.ovs_db.as_deref());
    let steps = steps(&guest, d.guest_if.as_str(), &host_nl, &guest_nl, vswitch.as_ref())?;
    if steps.is_empty() {
        let e = anyhow::anyhow!("guest '{}' has no interface {}", guest.label(), d.guest_if);
        return nothing_to_do(d, e);
    }
    if dry_run {
        let names = guest.names();
        for s in &steps {
            println!("{}", s.command(&names));
        }
        return Ok(());
    }
    run_steps(&steps, &guest, &host_nl, &guest_nl, vswitch.as_ref())
}

/// Runs a detach's steps. Nothing to undo here: a detach stopped by a
/// signal is finished by running it again.
pub fn run_steps(
    steps: &Steps,
    guest: &Guest,
    host_nl: &Netlink,
    guest_nl: &Netlink,
    vswitch: Option<&Vswitch>,
) -> Result<()> {
    let arp = Announcer::new();
    let mut target = Target::new(host_nl, guest_nl, &guest.netns, guest.label(), vswitch, &arp);
    for s in steps {
        signals::check()?;
        s.run(&mut target)?;
    }
    Ok(())
}

/// What removes one interface of a guest and everything an attach made for
/// it; empty when there is nothing.
pub fn steps(
    guest: &Guest,
    guest_if: &str,
    host_nl: &Netlink,
    guest_nl: &Netlink,
    vswitch: Option<&Vswitch>,
) -> Result<Steps> {
    let mut steps = Steps::new();
    if let Some(link) = guest_nl.link(guest_if)? {
        let ns = guest.netns.metadata()?;
        for (pid, command) in dhcp_clients((ns.dev(), ns.ino()), Some(&link.name))? {
            steps.push(Box::new(StopClient { pid, command }));
        }
        // Rules that --table added for its addresses outlive the link.
        let addrs: Vec<_> = guest_nl.addresses(link.index)?.into_iter().map(|a| a.addr()).collect();
        if !addrs.is_empty() {
            steps.push(Box::new(DropSourceRules { addrs }));
        }
        steps.extend(kinds::detach(&Found { link: &link, host_nl, vswitch })?);
    }
    // An attach killed before it made the guest's interface may still have
    // made something in the host.
    steps.extend(kinds::host_leftovers(host_nl, &guest.identity, guest_if)?);
    Ok(steps)
}

/// Stops the DHCP clients left renewing in a network namespace (device and
/// inode of its file), whatever interface they serve: what a container that
/// died leaves running. Their commands, for the log.
pub fn stop_dhcp_clients_in(netns: (u64, u64)) -> Result<Vec<String>> {
    let mut stopped = Vec::new();
    for (pid, command) in dhcp_clients(netns, None)? {
        let client = StopClient { pid, command };
        client.stop()?;
        stopped.push(client.command);
    }
    Ok(stopped)
}

/// Stops the DHCP clients that serve one interface of a guest.
pub fn stop_dhcp_clients_of(guest: &Guest, guest_if: &str) -> Result<()> {
    let ns = guest.netns.metadata()?;
    for (pid, command) in dhcp_clients((ns.dev(), ns.ino()), Some(guest_if))? {
        StopClient { pid, command }.stop()?;
    }
    Ok(())
}

/// A permission error anywhere in the chain: an error of ours to report,
/// never "nothing to do".
fn denied(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::PermissionDenied)
            || c.downcast_ref::<nix::errno::Errno>()
                .is_some_and(|n| matches!(n, nix::errno::Errno::EPERM | nix::errno::Errno::EACCES))
    })
}

fn nothing_to_do(d: &Detach, why: anyhow::Error) -> Result<()> {
    if d.strict {
        return Err(why.context("nothing to detach (--strict)"));
    }
    eprintln!("pipework: nothing to detach: {why:#}");
    Ok(())
}

/// DHCP clients left renewing by a `-f` attach: processes in the network
/// namespace (device, inode) named udhcpc, dhclient, dhcpcd or pipework-dhcp,
/// whose arguments name this interface (any, when None).
fn dhcp_clients(netns: (u64, u64), ifname: Option<&str>) -> Result<Vec<(i32, String)>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc")?.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else { continue };
        let Ok(pns) = std::fs::metadata(entry.path().join("ns/net")) else { continue };
        if (pns.dev(), pns.ino()) != netns {
            continue;
        }
        let Ok(raw) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let argv: Vec<String> =
            raw.split(|b| *b == 0).filter(|a| !a.is_empty()).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
        let Some(arg0) = argv.first() else { continue };
        let program = arg0.rsplit('/').next().unwrap_or(arg0);
        let ours = match ifname {
            Some(i) => program == format!("pipework-dhcp {i}"),
            None => program.starts_with("pipework-dhcp "),
        };
        let client =
            matches!(program, "udhcpc" | "dhclient" | "dhcpcd") && ifname.is_none_or(|i| argv.iter().any(|a| a == i));
        if ours || client {
            found.push((pid, argv.join(" ")));
        }
    }
    Ok(found)
}

/// A DHCP client in the guest's namespace that serves this interface:
/// stopped, and its pid files removed.
#[derive(Debug)]
struct StopClient {
    pid: i32,
    command: String,
}

impl Step for StopClient {
    fn command(&self, _: &GuestNames) -> String {
        format!("kill {}  # {}", self.pid, self.command)
    }

    fn run(&self, _: &mut Target) -> Result<()> {
        self.stop()
    }
}

impl StopClient {
    /// TERM (a client already gone is fine), then its pid files.
    fn stop(&self) -> Result<()> {
        match kill(Pid::from_raw(self.pid), Signal::SIGTERM) {
            Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
            Err(e) => return Err(e).with_context(|| format!("stopping DHCP client {} ({})", self.pid, self.command)),
        }
        remove_pid_files(self.pid);
        Ok(())
    }
}

/// The pid files that name a stopped client: the reference's and ours.
fn remove_pid_files(pid: i32) {
    let Ok(dir) = std::fs::read_dir("/var/run") else { return };
    for e in dir.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let candidate = name.ends_with(".pid")
            && (name.starts_with("udhcpc.") || name.starts_with("dhclient.") || name.starts_with("pipework-dhcp."));
        if candidate && std::fs::read_to_string(e.path()).is_ok_and(|t| t.trim() == pid.to_string()) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}
