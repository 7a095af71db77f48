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
use crate::sys::sysctl;

/// The host side of the pair an attach will make.
#[derive(Debug, Clone)]
pub struct HostSide {
    /// `-l`, or the reference's `v<GUESTIF>pl<NSPID>`.
    pub name: String,
    /// An interface of that name exists and is an earlier run's leftover:
    /// down (the reference deletes those), or up with a guest end that
    /// never came up. Deleting it deletes its guest end too.
    pub stale: bool,
    /// The guest's interface that goes with the stale host side, if any.
    pub clears: Option<String>,
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
        if name == p.name {
            bail!("-l {name} names the bridge itself; the veth's host side needs a name of its own");
        }
        let existing = p.host_nl.link(&name)?;
        // The guest end of that pair, left down by a run that was killed
        // before it finished.
        let half_made = match &existing {
            // A host side still down: the attach that made it did not
            // finish, whatever state its guest end is in.
            Some(h) if !h.up && h.kind == Some(LinkKind::Veth) => {
                p.guest_nl.link(guest_if)?.filter(|g| g.kind == Some(LinkKind::Veth) && g.parent == Some(h.index))
            }
            Some(h) => p.half_made(guest_if, &[LinkKind::Veth])?.filter(|g| g.parent == Some(h.index)),
            None => None,
        };
        let stale = match existing {
            Some(l) if l.up && l.kind == Some(LinkKind::Veth) && half_made.is_some() => true,
            Some(l) if l.up => bail!(
                "interface {name} already exists and is up; an earlier attach of {guest_if} to this guest is \
                 still in place (use -i for another interface, or delete {name})"
            ),
            // Only a veth can be an earlier run's leftover; anything else is
            // the user's, and never ours to delete.
            Some(l) if l.kind != Some(LinkKind::Veth) => bail!(
                "interface {name} already exists and is not a veth (it is {}); choose another host side name with -l",
                l.kind.as_ref().map_or("a physical interface".to_string(), |k| format!("a {k} device"))
            ),
            Some(_) => true,
            None => false,
        };
        let clears = half_made.map(|g| g.name);
        Ok(HostSide { name, stale, clears })
    }

    /// The steps that make the pair: the leftover goes first.
    pub fn make(&self, guest_if: &str, mtu: u32, mac: Option<MacAddr6>, steps: &mut Steps) {
        if self.stale {
            steps.push(Box::new(DeleteStale { name: self.name.clone() }));
        }
        let create = CreateVeth { host: self.name.clone(), guest: guest_if.to_string(), mtu, mac };
        steps.push(Box::new(create));
        steps.push(Box::new(QuietPort { host: self.name.clone() }));
    }
}

/// A leftover of an earlier run, in the host (and its guest end with it).
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
            eprintln!("pipework: removing {}, left by an earlier attach that did not finish", self.name);
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
        t.made_in_host(&self.host)?;
        Ok(())
    }
}

/// No IPv6 on the host side, before it comes up. It becomes a bridge port,
/// whose own stack never receives (the bridge takes every frame), so its
/// link-local address, router solicitations and MLD reports serve nobody;
/// and each IPv6 device costs the host's routing table a multicast and a
/// link-local route that the kernel inserts by walking every other port's:
/// with a thousand ports that walk was the part of an attach that grew.
/// The guest's own IPv6 is untouched. A host without IPv6 has no such key.
#[derive(Debug)]
struct QuietPort {
    host: String,
}

impl Step for QuietPort {
    fn command(&self, _: &GuestNames) -> String {
        format!("sysctl -qw net/ipv6/conf/{}/disable_ipv6=1", self.host)
    }

    fn run(&self, _: &mut Target) -> Result<()> {
        let key = format!("net/ipv6/conf/{}/disable_ipv6", self.host);
        match sysctl::set_here(&key, "1") {
            Err(e) if e.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::NotFound) => {
                Ok(())
            }
            other => other.with_context(|| format!("turning IPv6 off on the bridge port {}", self.host)),
        }
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
