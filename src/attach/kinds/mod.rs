//! Kinds of host interface: what HOSTIF is, and so what an attach makes.
//! Each kind is one module holding all of it: how it is recognised, its
//! refusals, the steps it adds to the plan (with their iproute2 text and
//! their undo), and how `--detach` removes what it made. `kind` says what
//! every kind implements; this module only lists them and asks them in turn.
//!
//! A new kind is a new file here and its line in `KINDS`.

use anyhow::{bail, Result};

use crate::attach::step::Steps;
use crate::guest::Identity;
use crate::request::{format_mac, Attach, HostIfRef};
use crate::sys::netlink::{Link, Netlink};
use crate::sys::ovsdb::vswitch::Vswitch;

mod bridge;
mod device;
mod direct_phys;
mod dummy;
mod ipoib;
mod ipvlan;
pub mod kind;
mod macvlan;
mod ovn;
mod ovs;
mod veth;

pub use bridge::CreateBridge;
pub use direct_phys::HOME_MARK;
pub use ipvlan::switching as ipvlan_switching;
pub use kind::{Ctx, Found, Kind, Makes};
use kind::{Entry, Probe};
pub use ovn::{bound_as_asked as ovn_bound_as_asked, forget_logical_port};
pub use ovs::new_bridge_datapath;

/// Every kind, in the order they are asked. For an attach that is the
/// reference's order (an existing Linux bridge, then Open vSwitch, then
/// IPoIB, then any other interface as a macvlan parent), with
/// `--direct-phys` and `--ipvlan` first since they decide alone; for `--detach`, a device
/// that `--direct-phys` moved in is recognised by its mark before anything
/// else. OVN comes first: it claims only `ovn:LSWITCH`, and for `--detach`
/// only a veth whose OVS port an OVN attach marked (before plain OVS).
const KINDS: &[Entry] = &[
    ovn::ENTRY,
    direct_phys::ENTRY,
    ipvlan::ENTRY,
    bridge::ENTRY,
    dummy::ENTRY,
    ovs::ENTRY,
    ipoib::ENTRY,
    macvlan::ENTRY,
];

/// HOSTIF → its kind, asking each kind in turn.
pub fn recognise(
    req: &Attach,
    host_nl: &Netlink,
    guest_nl: &Netlink,
    guest: &Identity,
    vswitch: Option<&Vswitch>,
) -> Result<Box<dyn Kind>> {
    let link = host_if(&req.host_if, host_nl)?;
    if let (HostIfRef::Mac(mac), None) = (&req.host_if, &link) {
        bail!("no host interface has the MAC address {}", format_mac(mac));
    }
    let name = link.as_ref().map(|l| l.name.clone()).unwrap_or_else(|| req.host_if.to_string());
    let probe = Probe { req, name, link, host_nl, guest_nl, guest, vswitch };
    for entry in KINDS {
        if let Some(kind) = (entry.recognise)(&probe)? {
            return Ok(kind);
        }
    }
    bail!(
        "I do not know how to set up interface {}: it does not exist, and only names starting with br (Linux \
         bridge), ovs (Open vSwitch bridge) or dummy are created on demand",
        probe.name
    )
}

/// HOSTIF as the host has it: by name, or the interface with that MAC
/// (`mac:`); None when there is none.
pub fn host_if(r: &HostIfRef, host_nl: &Netlink) -> Result<Option<Link>> {
    match r {
        HostIfRef::Name(n) => host_nl.link(n.as_str()),
        HostIfRef::Mac(mac) => Ok(host_nl.links()?.into_iter().find(|l| l.mac.as_deref() == Some(mac.as_bytes()))),
        // A logical switch is no device of this host.
        HostIfRef::Ovn(_) => Ok(None),
    }
}

/// What killed attaches left in the host for this guest and interface,
/// which no guest interface leads to any more.
pub fn host_leftovers(host_nl: &Netlink, guest: &Identity, guest_if: &str) -> Result<Steps> {
    let mut steps = Steps::new();
    for entry in KINDS {
        steps.extend((entry.host_leftovers)(host_nl, guest, guest_if)?);
    }
    Ok(steps)
}

/// The steps that remove what an attach made of this guest interface.
pub fn detach(found: &Found) -> Result<Steps> {
    for entry in KINDS {
        if let Some(steps) = (entry.detach)(found)? {
            return Ok(steps);
        }
    }
    let kind = found.link.kind.as_ref().map_or("physical".to_string(), |k| k.to_string());
    bail!("pipework did not make {} (a {kind} device) and does not know how to detach it", found.link.name)
}

/// Kinds as facts would find them, for the plan's unit tests.
#[cfg(test)]
pub mod examples {
    use super::*;

    /// `br1`: an existing Linux bridge, up, MTU 1500.
    pub fn linux_bridge() -> Box<dyn Kind> {
        bridge::example(true, false)
    }

    /// `eth2`: a macvlan parent that is down.
    pub fn macvlan_parent() -> Box<dyn Kind> {
        macvlan::example()
    }
}
