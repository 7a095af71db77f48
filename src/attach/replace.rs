//! `--replace`: GUESTIF is there but not as asked. The old interface is
//! set aside (down, renamed; its veth's host side too) rather than deleted,
//! so that the new attach can take its names, and so that undo can put it
//! back exactly: the same devices, their names, their routes. A veth that
//! is an Open vSwitch port is taken out of its bridge first (ovsdb knows a
//! port by its device's name) and put back by undo with its tag and
//! external_ids. Only once the new attach has succeeded is the old one
//! deleted.

use std::net::IpAddr;

use anyhow::{Context, Result};

use crate::attach::kinds::{self, Found};
use crate::attach::step::{Step, Steps, Target};
use crate::guest::GuestNames;
use crate::sys::netlink::{Link, LinkKind, Netlink, SavedRoute};
use crate::sys::ovsdb::vswitch::{PortSpec, Vswitch};

/// The old interface, as set aside: what deletes it once the new one stands.
#[derive(Debug)]
pub struct Parked {
    pub guest_name: String,
    pub guest_index: u32,
}

/// How the old interface is set aside, or None when it cannot be without
/// losing it: a device moved in whole (`--direct-phys`) must be home
/// before a new `--direct-phys` can take it (or another NIC) in. A device
/// moved in stands aside in the guest alone; once the new interface
/// stands, its detach sends it home as it was found.
pub fn park(
    link: &Link,
    host_nl: &Netlink,
    vswitch: Option<&Vswitch>,
    guest_nl: &Netlink,
    new_is_direct_phys: bool,
) -> Result<Option<Park>> {
    let mut host = None;
    let mut port = None;
    if link.alias.as_deref().is_some_and(|a| a.starts_with(kinds::HOME_MARK)) {
        if new_is_direct_phys {
            return Ok(None);
        }
    } else if link.kind == Some(LinkKind::Veth) {
        let Some(peer) = link.parent.map(|i| host_nl.link_by_index(i)).transpose()?.flatten() else {
            return Ok(None);
        };
        if let Some(v) = vswitch {
            port = v.port_spec(&peer.name)?;
        }
        host = Some(Side { name: peer.name.clone(), index: peer.index, up: peer.up });
    } else if link.kind.is_none() {
        return Ok(None);
    }
    let guest = Side { name: link.name.clone(), index: link.index, up: link.up };
    let routes = guest_nl.routes_of(link.index)?;
    Ok(Some(Park { guest, host, port, routes }))
}

#[derive(Debug, Clone)]
struct Side {
    name: String,
    index: u32,
    up: bool,
}

/// Down and renamed aside, in the guest (and its host side); undo renames
/// back, sets up again what was up and puts back the routes that going down
/// took away.
#[derive(Debug)]
pub struct Park {
    guest: Side,
    host: Option<Side>,
    /// The Open vSwitch port the host side is, as it was.
    port: Option<PortSpec>,
    routes: Vec<SavedRoute>,
}

impl Park {
    fn aside(index: u32) -> String {
        format!("pwold{index}")
    }

    pub fn parked(&self) -> Parked {
        Parked { guest_name: Self::aside(self.guest.index), guest_index: self.guest.index }
    }
}

impl Step for Park {
    fn command(&self, g: &GuestNames) -> String {
        let mut guest = format!("{} link set {} down name {}", g.ip, self.guest.name, Self::aside(self.guest.index));
        if let Some(p) = &self.port {
            guest = format!("ovs-vsctl del-port {} {} && {guest}", p.bridge, p.port);
        }
        match &self.host {
            Some(h) => format!("{guest} && ip link set {} down name {}", h.name, Self::aside(h.index)),
            None => guest,
        }
    }

    fn run(&self, t: &mut Target) -> Result<()> {
        // Out of the switch before its device is renamed; undo, which runs
        // newest first, puts it back once the device has its name again.
        if let (Some(spec), Some(h)) = (self.port.clone(), self.host.clone()) {
            let v = t.vswitch.context("the old interface is an Open vSwitch port, and no ovsdb-server answers")?;
            v.take_out_port(&spec)?;
            let what = format!("ovs-vsctl add-port {} {} (as it was)", spec.bridge, spec.port);
            t.on_undo(what, move |t| {
                t.vswitch.context("Open vSwitch vanished")?.put_back_port(&spec)?;
                // Up again once ovs-vswitchd is done with the port: its
                // stale flags, written back as it opens the device, may
                // have taken it down (as `PortApplied` does on attach).
                if h.up {
                    t.host_nl.set_up(h.index, true)?;
                }
                Ok(())
            });
        }
        let g = self.guest.clone();
        let aside = Self::aside(g.index);
        t.guest_nl.set_up(g.index, false).with_context(|| format!("setting {} down to set it aside", g.name))?;
        let routes = self.routes.clone();
        t.on_undo(format!("set {} up again, with its routes", g.name), move |t| {
            if g.up {
                t.guest_nl.set_up(g.index, true)?;
            }
            for r in &routes {
                t.guest_nl.restore_route(r)?;
            }
            Ok(())
        });
        let g = self.guest.clone();
        t.guest_nl.rename(g.index, &aside).with_context(|| format!("renaming {} to {aside}", g.name))?;
        t.on_undo(format!("rename {aside} back to {}", g.name), move |t| t.guest_nl.rename(g.index, &g.name));
        if let Some(h) = self.host.clone() {
            let aside = Self::aside(h.index);
            t.host_nl.set_up(h.index, false).with_context(|| format!("setting {} down to set it aside", h.name))?;
            let up = h.clone();
            t.on_undo(format!("set {} up again", h.name), move |t| {
                if up.up {
                    t.host_nl.set_up(up.index, true)?;
                }
                Ok(())
            });
            t.host_nl.rename(h.index, &aside).with_context(|| format!("renaming {} to {aside}", h.name))?;
            t.on_undo(format!("rename {aside} back to {}", h.name), move |t| t.host_nl.rename(h.index, &h.name));
        }
        Ok(())
    }
}

/// What deletes the parked interface, once the new one stands: the kind's
/// own detach of it, and the source rules of addresses the new one lacks.
pub fn remove_parked(
    parked: &Parked,
    guest_nl: &Netlink,
    host_nl: &Netlink,
    vswitch: Option<&Vswitch>,
    keep: &[IpAddr],
) -> Result<Steps> {
    let Some(link) = guest_nl.link_by_index(parked.guest_index)? else { return Ok(Steps::new()) };
    let mut steps = Steps::new();
    let addrs: Vec<IpAddr> =
        guest_nl.addresses(link.index)?.into_iter().map(|a| a.addr()).filter(|a| !keep.contains(a)).collect();
    if !addrs.is_empty() {
        steps.push(Box::new(crate::attach::configure::DropSourceRules { addrs }));
    }
    steps.extend(kinds::detach(&Found { link: &link, host_nl, vswitch })?);
    Ok(steps)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ovs_port_is_taken_out_before_its_devices_are_renamed_aside() {
        let port = PortSpec {
            bridge: "sw0".into(),
            port: "veth1pl4242".into(),
            create_bridge: None,
            tag: Some(100),
            external_ids: vec![],
        };
        let park = Park {
            guest: Side { name: "eth1".into(), index: 7, up: true },
            host: Some(Side { name: "veth1pl4242".into(), index: 31, up: true }),
            port: Some(port),
            routes: Vec::new(),
        };
        assert_eq!(
            park.command(&GuestNames::pid(4242)),
            "ovs-vsctl del-port sw0 veth1pl4242 && nsenter -t 4242 -n ip link set eth1 down name pwold7 \
             && ip link set veth1pl4242 down name pwold31"
        );
        assert_eq!(park.parked().guest_name, "pwold7");
    }
}
