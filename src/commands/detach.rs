//! `pipework --detach [-i GUESTIF] GUEST`: take away what an attach made for
//! one interface of a guest. The interface tells what it is: a veth (its host
//! side goes with it, and its OVS port if it had one), a macvlan or other
//! virtual device (deleted), or a device moved in by `--direct-phys` (sent
//! back to the host). A DHCP client renewing for it is stopped first.
//!
//! Idempotent: a guest that is gone, or has no such interface, means there
//! is nothing left to do; only `--strict` makes that an error.

use std::os::unix::fs::MetadataExt;

use anyhow::{Context, Result};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use rtnetlink::packet_route::link::InfoKind;

use crate::guest::{self, Guest};
use crate::netlink::{Link, Netlink};
use crate::ovs::Vsctl;
use crate::plan::{GuestNames, HOME_ALIAS_PREFIX};
use crate::request::{GuestRef, IfName};

#[derive(Debug, Clone, PartialEq)]
pub struct Detach {
    pub guest: GuestRef,
    pub guest_if: IfName,
    pub strict: bool,
    pub ovs_db: Option<String>,
}

#[derive(Debug)]
enum Step {
    /// A DHCP client in the guest's namespace that serves this interface.
    StopClient { pid: i32, command: String },
    /// The veth's host side as an Open vSwitch port.
    OvsDelPort { port: String },
    /// Deleting the guest end of a veth deletes the host end too.
    DeleteGuestLink { name: String, index: u32, host_side: Option<String> },
    /// A physical device moved in with --direct-phys goes home, under the
    /// name its alias recorded.
    MoveHome { name: String, index: u32, home_name: String },
}

impl Step {
    fn command(&self, g: &GuestNames) -> String {
        match self {
            Step::StopClient { pid, command } => format!("kill {pid}  # {command}"),
            Step::OvsDelPort { port } => format!("ovs-vsctl --if-exists del-port {port}"),
            Step::DeleteGuestLink { name, host_side, .. } => format!(
                "{} link del {name}{}",
                g.ip,
                host_side.as_ref().map(|h| format!("  # and with it {h} in the host")).unwrap_or_default()
            ),
            Step::MoveHome { name, home_name, .. } => {
                format!("{} link set {name} netns 1 name {home_name} alias ''", g.ip)
            }
        }
    }
}

pub async fn run(d: &Detach, dry_run: bool) -> Result<()> {
    let guest = match guest::resolve(&d.guest) {
        Ok(g) => g,
        Err(e) => return nothing_to_do(d, e.context(format!("guest {}", d.guest))),
    };
    let host = Netlink::connect()?;
    let inside = Netlink::connect_in(&guest.netns).context("opening netlink inside the guest")?;
    let Some(link) = inside.link(d.guest_if.as_str()).await? else {
        let e = anyhow::anyhow!("guest '{}' has no interface {}", guest.label, d.guest_if);
        return nothing_to_do(d, e);
    };
    let vsctl = Vsctl::find(d.ovs_db.as_deref());
    let steps = plan(&guest, &link, &host, vsctl.as_ref()).await?;
    if dry_run {
        let names = guest.names();
        for s in &steps {
            println!("{}", s.command(&names));
        }
        return Ok(());
    }
    for s in &steps {
        apply(s, &guest, &inside, vsctl.as_ref()).await?;
    }
    Ok(())
}

fn nothing_to_do(d: &Detach, why: anyhow::Error) -> Result<()> {
    if d.strict {
        return Err(why.context("nothing to detach (--strict)"));
    }
    eprintln!("pipework: nothing to detach: {why:#}");
    Ok(())
}

async fn plan(guest: &Guest, link: &Link, host: &Netlink, vsctl: Option<&Vsctl>) -> Result<Vec<Step>> {
    let mut steps: Vec<Step> = dhcp_clients(guest, &link.name)?
        .into_iter()
        .map(|(pid, command)| Step::StopClient { pid, command })
        .collect();
    // The mark --direct-phys leaves: whatever the device's kind.
    if let Some(home_name) = link.alias.as_deref().and_then(|a| a.strip_prefix(HOME_ALIAS_PREFIX)) {
        steps.push(Step::MoveHome { name: link.name.clone(), index: link.index, home_name: home_name.to_string() });
        return Ok(steps);
    }
    match &link.kind {
        Some(InfoKind::Veth) => {
            let host_side = host_peer(link, host).await?;
            if let (Some(hs), Some(_)) = (&host_side, vsctl) {
                // A Linux bridge port is not an OVS port; anything else may be
                // one (userspace-datapath ports show no controller at all).
                if !on_linux_bridge(hs, host).await? {
                    steps.push(Step::OvsDelPort { port: hs.name.clone() });
                }
            }
            let host_side = host_side.map(|h| h.name);
            steps.push(Step::DeleteGuestLink { name: link.name.clone(), index: link.index, host_side });
        }
        Some(InfoKind::MacVlan | InfoKind::MacVtap | InfoKind::IpVlan | InfoKind::Dummy | InfoKind::Vlan | InfoKind::Ipoib) => {
            steps.push(Step::DeleteGuestLink { name: link.name.clone(), index: link.index, host_side: None })
        }
        // A device of another kind that carries no mark: a NIC moved in by
        // hand or by an older tool. Home under its present name.
        _ => steps.push(Step::MoveHome { name: link.name.clone(), index: link.index, home_name: link.name.clone() }),
    }
    Ok(steps)
}

/// The host end of the guest's veth: the link at the peer index in our
/// namespace, provided it is a veth whose own peer is the guest's end.
async fn host_peer(guest_end: &Link, host: &Netlink) -> Result<Option<Link>> {
    let Some(peer) = guest_end.parent else { return Ok(None) };
    Ok(host
        .link_by_index(peer)
        .await?
        .filter(|h| h.kind == Some(InfoKind::Veth) && h.parent == Some(guest_end.index)))
}

async fn on_linux_bridge(l: &Link, host: &Netlink) -> Result<bool> {
    let Some(c) = l.controller else { return Ok(false) };
    Ok(host.link_by_index(c).await?.is_some_and(|b| b.kind == Some(InfoKind::Bridge)))
}

/// DHCP clients left renewing by a `-f` attach: processes in the guest's
/// network namespace named udhcpc, dhclient, dhcpcd or pipework-dhcp whose
/// arguments name this interface.
fn dhcp_clients(guest: &Guest, ifname: &str) -> Result<Vec<(i32, String)>> {
    let ns = guest.netns.metadata()?;
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc")?.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else { continue };
        let Ok(pns) = std::fs::metadata(entry.path().join("ns/net")) else { continue };
        if pns.ino() != ns.ino() || pns.dev() != ns.dev() {
            continue;
        }
        let Ok(raw) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let argv: Vec<String> =
            raw.split(|b| *b == 0).filter(|a| !a.is_empty()).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
        let Some(arg0) = argv.first() else { continue };
        let program = arg0.rsplit('/').next().unwrap_or(arg0);
        let ours = program == format!("pipework-dhcp {ifname}");
        let client = matches!(program, "udhcpc" | "dhclient" | "dhcpcd") && argv.iter().any(|a| a == ifname);
        if ours || client {
            found.push((pid, argv.join(" ")));
        }
    }
    Ok(found)
}

async fn apply(s: &Step, guest: &Guest, inside: &Netlink, vsctl: Option<&Vsctl>) -> Result<()> {
    match s {
        Step::StopClient { pid, command } => {
            match kill(Pid::from_raw(*pid), Signal::SIGTERM) {
                Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
                Err(e) => return Err(e).with_context(|| format!("stopping DHCP client {pid} ({command})")),
            }
            remove_pid_files(*pid);
        }
        Step::OvsDelPort { port } => {
            if let Some(v) = vsctl {
                v.del_port_anywhere(port)?;
            }
        }
        Step::DeleteGuestLink { name, index, .. } => {
            inside.delete(*index).await.with_context(|| format!("deleting {name} in guest {}", guest.label))?;
        }
        Step::MoveHome { name, index, home_name } => {
            let home = crate::netns::current()?;
            inside.set_up(*index, false).await?;
            inside
                .move_to(*index, &home, home_name, "")
                .await
                .with_context(|| format!("moving {name} back from guest {} to the host as {home_name}", guest.label))?;
        }
    }
    Ok(())
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
