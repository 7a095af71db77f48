//! The veth pair that both bridge kinds plug into the guest: its host-side
//! name, the leftover of an earlier run in its way, its creation with the
//! peer born in the guest, and finding the host side again for `--detach`.

use anyhow::{bail, Context, Result};
use macaddr::MacAddr6;

use crate::attach::kinds::kind::{Found, Probe};
use crate::attach::names;
use crate::attach::step::{Step, Steps, Target};
use crate::guest::GuestNames;
use crate::request::format_mac;
use crate::sys::netlink::{Link, LinkKind, Netlink};

/// The host side of the pair an attach will make.
#[derive(Debug, Clone)]
pub struct HostSide {
    /// `-l`, or the reference's `v<GUESTIF>pl<NSPID>`.
    pub name: String,
    /// A down interface of that name exists: a leftover the reference
    /// deletes before making the pair.
    pub stale: bool,
}

impl HostSide {
    /// The host side's name, refused when an interface of that name is up
    /// (an earlier attach still in place).
    pub fn check(p: &Probe) -> Result<HostSide> {
        let guest_if = p.guest_if();
        let name = match &p.req.host_side {
            Some(n) => n.as_str().to_string(),
            None => names::host_veth(guest_if, p.guest.nspid),
        };
        let stale = match p.host_nl.link(&name)? {
            Some(l) if l.up => bail!(
                "interface {name} already exists and is up; an earlier attach of {guest_if} to this guest is \
                 still in place (use -i for another interface, or delete {name})"
            ),
            Some(_) => true,
            None => false,
        };
        Ok(HostSide { name, stale })
    }

    /// The steps that make the pair: the leftover goes first.
    pub fn make(&self, guest_if: &str, mtu: u32, mac: Option<MacAddr6>, steps: &mut Steps) {
        if self.stale {
            steps.push(Box::new(DeleteStale { name: self.name.clone() }));
        }
        let create = CreateVeth { host: self.name.clone(), guest: guest_if.to_string(), mtu, mac };
        steps.push(Box::new(create));
    }
}

/// A down leftover of an earlier run, in the host.
#[derive(Debug)]
struct DeleteStale {
    name: String,
}

impl Step for DeleteStale {
    fn command(&self, _: &GuestNames) -> String {
        format!("ip link del {}", self.name)
    }

    fn run(&self, t: &mut Target) -> Result<()> {
        if let Some(l) = t.host_nl.link(&self.name)? {
            t.host_nl.delete(l.index).with_context(|| format!("deleting leftover {}", self.name))?;
        }
        Ok(())
    }
}

/// Host side in the host, peer born in the guest under its final name.
#[derive(Debug)]
struct CreateVeth {
    host: String,
    guest: String,
    mtu: u32,
    mac: Option<MacAddr6>,
}

impl Step for CreateVeth {
    fn command(&self, g: &GuestNames) -> String {
        let (host, peer, mtu) = (&self.host, &self.guest, self.mtu);
        let mac = self.mac.map(|m| format!(" address {}", format_mac(&m))).unwrap_or_default();
        format!("ip link add {host} mtu {mtu} type veth peer name {peer} mtu {mtu}{mac} netns {}", g.netns)
    }

    fn run(&self, t: &mut Target) -> Result<()> {
        t.host_nl.add_veth(&self.host, self.mtu, &self.guest, t.guest_ns, self.mac).with_context(|| {
            format!("creating veth pair {} (host) / {} (in guest {})", self.host, self.guest, t.guest_label)
        })?;
        let i = t.host_index(&self.host)?;
        t.on_undo(format!("delete host interface {}", self.host), move |t| t.host_nl.delete(i));
        Ok(())
    }
}

/// The host end of the guest's veth: the link at the peer index in our
/// namespace, provided it is a veth whose own peer is the guest's end.
/// None when the guest's interface is not a veth, or its peer is elsewhere.
pub fn host_peer(f: &Found) -> Result<Option<Link>> {
    if f.link.kind != Some(LinkKind::Veth) {
        return Ok(None);
    }
    let Some(peer) = f.link.parent else { return Ok(None) };
    Ok(f.host_nl.link_by_index(peer)?.filter(|h| h.kind == Some(LinkKind::Veth) && h.parent == Some(f.link.index)))
}

/// Whether a host interface is a port of a Linux bridge.
pub fn on_linux_bridge(l: &Link, host_nl: &Netlink) -> Result<bool> {
    let Some(c) = l.controller else { return Ok(false) };
    Ok(host_nl.link_by_index(c)?.is_some_and(|b| b.kind == Some(LinkKind::Bridge)))
}
