//! Is the interface an attach asks for already there, as asked? What
//! `--watch` looks at before it attaches a container again: one attached as
//! asked is left alone (no flap), one attached differently is corrected.
//! Read-only.

use std::fs::File;

use anyhow::Result;

use crate::attach::kinds;
use crate::request::{format_mac, AddressSpec, Attach, HostIfRef};
use crate::sys::netlink::{Link, LinkKind, Netlink, PortVlan};
use crate::sys::ovsdb::vswitch::Vswitch;
use crate::sys::sysctl;

/// The guest's interface, compared with the request.
#[derive(Debug, PartialEq)]
pub enum State {
    /// No interface of that name (or only an unfinished attach's leftover,
    /// which the attach clears itself).
    Absent,
    AsAsked,
    /// There, but not as asked: why, in words.
    Differs(String),
}

/// The state of GUESTIF and its name (eth1, or ib0 on IPoIB, when `-i` is
/// not given). How the interface hangs is read from the interface itself,
/// not from HOSTIF's kind: recognising HOSTIF again would refuse what the
/// first attach made (its veth host side is taken).
pub fn check(
    req: &Attach,
    host_nl: &Netlink,
    guest_nl: &Netlink,
    guest_ns: &File,
    vswitch: Option<&Vswitch>,
) -> Result<(State, String)> {
    let host_if = kinds::host_if(&req.host_if, host_nl)?;
    let host = host_if.as_ref().map_or_else(|| req.host_if.to_string(), |l| l.name.clone());
    let default_if = if host_if.as_ref().is_some_and(|l| l.infiniband) { "ib0" } else { "eth1" };
    let guest_if = req.guest_if.as_ref().map_or(default_if, |n| n.as_str()).to_string();
    let Some(link) = guest_nl.link(&guest_if)? else { return Ok((State::Absent, guest_if)) };
    let differs = |why: String| Ok((State::Differs(why), guest_if.clone()));
    if !link.up {
        return differs("it is down".into());
    }
    if let Some(mac) = &req.mac {
        if link.mac.as_deref() != Some(mac.as_bytes()) {
            let has = link.ethernet_mac().map_or("none".into(), |m| format_mac(&m.into()));
            return differs(format!("its MAC is {has}, not {}", format_mac(mac)));
        }
    }
    let t = &req.tuning;
    if let Some(mtu) = t.mtu.filter(|m| *m != link.mtu) {
        return differs(format!("its MTU is {}, not {mtu}", link.mtu));
    }
    if let Some(q) = t.txqueuelen.filter(|q| *q != link.txqueuelen) {
        return differs(format!("its txqueuelen is {}, not {q}", link.txqueuelen));
    }
    if t.promisc && !link.promisc {
        return differs("it is not in promiscuous mode".into());
    }
    // A key that cannot be read differs too: the attach would set it.
    for (key, want) in &t.sysctls {
        let has = sysctl::get_in(guest_ns, key).unwrap_or_default();
        if !same_sysctl(&has, want) {
            return differs(format!("its {key} is {}, not {want}", if has.is_empty() { "unreadable" } else { &has }));
        }
    }
    if let AddressSpec::Static { addrs } = &req.address {
        let present = guest_nl.addresses(link.index)?;
        if let Some(missing) = addrs.iter().find(|a| !present.contains(&a.addr)) {
            return differs(format!("it lacks {}", missing.addr));
        }
    }
    let gateways: Vec<_> = match &req.address {
        AddressSpec::Static { addrs } => addrs.iter().filter_map(|a| a.gateway).collect(),
        AddressSpec::None { gateway } => gateway.iter().copied().collect(),
        _ => Vec::new(),
    };
    for gw in gateways {
        if !guest_nl.has_default_via(link.index, gw, req.metric, req.table)? {
            let metric = req.metric.map(|m| format!(" metric {m}")).unwrap_or_default();
            let table = req.table.map(|t| format!(" in table {t}")).unwrap_or_default();
            return differs(format!("the default route via {gw}{metric}{table} does not go out of it"));
        }
    }
    // The mark of a device moved in: its home name, then how it was found.
    let moved_in =
        link.alias.as_deref().and_then(|a| a.strip_prefix(kinds::HOME_MARK)).and_then(|r| r.split(' ').next());
    if req.direct_phys {
        return match moved_in {
            Some(home) if home == host => Ok((State::AsAsked, guest_if)),
            // `mac:`: the NIC with that MAC, as it is or as its mark found it.
            Some(_)
                if matches!(&req.host_if, HostIfRef::Mac(m) if link.mac.as_deref() == Some(m.as_bytes())
                || link.alias.as_deref().is_some_and(|a| a.contains(&format!(" mac={}", format_mac(m))))) =>
            {
                Ok((State::AsAsked, guest_if))
            }
            Some(home) => differs(format!("it is {home}, moved in from the host")),
            None => differs(format!("it is {}, not {} moved in", kind_words(&link), req.host_if)),
        };
    }
    if let Some(home) = moved_in {
        return differs(format!("it is {home}, moved in from the host (--direct-phys)"));
    }
    // The other end: a veth's peer, a macvlan's or ipvlan's parent, in the host.
    let other = match link.parent {
        Some(i) => host_nl.link_by_index(i)?,
        None => None,
    };
    match (&link.kind, &other) {
        (Some(LinkKind::Veth), Some(peer)) if !peer.up => {
            return differs(format!("its host side {} is down", peer.name));
        }
        (Some(LinkKind::Veth), Some(peer)) => {
            let master = match peer.controller {
                Some(i) => host_nl.link_by_index(i)?,
                None => None,
            };
            if let Some(bridge) = master.filter(|m| m.kind == Some(LinkKind::Bridge)) {
                if bridge.name != host {
                    return differs(format!("its veth is on bridge {}", bridge.name));
                }
                if let Some(why) = vlan_difference(req, &bridge, peer.index, host_nl)? {
                    return differs(why);
                }
                if let Some(why) = port_flag_difference(t, peer) {
                    return differs(why);
                }
            } else if let HostIfRef::Ovn(switch) = &req.host_if {
                let Some(v) = vswitch else { return differs("no Open vSwitch answers to bind it".into()) };
                if let Some(why) = kinds::ovn_bound_as_asked(v, &peer.name, switch, req.ovn.port.as_deref())? {
                    return differs(why);
                }
            } else {
                let want_tag = req.tag.as_ref().and_then(|t| t.vlan_id().ok());
                match vswitch.map(|v| v.port_place(&peer.name)).transpose()?.flatten() {
                    Some((bridge, tag)) if bridge == host && tag == want_tag => {}
                    Some((bridge, tag)) => {
                        let tag = tag.map_or("no tag".into(), |t| format!("tag {t}"));
                        return differs(format!("its port is on {bridge} with {tag}"));
                    }
                    None => return differs(format!("its veth is not a port of {host}")),
                }
            }
        }
        (Some(LinkKind::Veth), None) => return differs("its veth has no other end in the host".into()),
        (Some(k @ (LinkKind::Macvlan | LinkKind::Ipvlan)), parent) => {
            let on = parent.as_ref().map(|p| p.name.as_str());
            if on != Some(host.as_str()) {
                return differs(format!("it hangs from {}", on.unwrap_or("nothing in the host")));
            }
            if (*k == LinkKind::Ipvlan) != req.ipvlan.is_some() {
                return differs(format!("it is a {k}"));
            }
        }
        // A device moved in whole, a dummy or an IPoIB child: its name,
        // MAC and addresses are what can be compared.
        _ => {}
    }
    Ok((State::AsAsked, guest_if))
}

/// sysctl values compare as `sysctl -n` prints them: words, whatever the
/// spaces (`net.ipv4.tcp_rmem`-like keys hold several).
fn same_sysctl(has: &str, want: &str) -> bool {
    has.split_whitespace().eq(want.split_whitespace())
}

/// `--hairpin` and `--isolated` asked, and the bridge port without them.
fn port_flag_difference(t: &crate::request::Tuning, port: &Link) -> Option<String> {
    let (hairpin, isolated) = port.port_flags.unwrap_or_default();
    if t.hairpin && !hairpin {
        return Some(format!("its bridge port {} has no hairpin mode", port.name));
    }
    if t.isolated && !isolated {
        return Some(format!("its bridge port {} is not isolated", port.name));
    }
    None
}

/// What kind of device a link is, for messages.
fn kind_words(l: &Link) -> String {
    l.kind.as_ref().map_or("a device without a kind".into(), |k| format!("a {k}"))
}

/// A Linux bridge port's VLANs against `@VLAN`: with it, the port must be
/// an access port of that VLAN alone; without it, on a bridge that filters,
/// a member of the bridge's default VLAN.
fn vlan_difference(req: &Attach, bridge: &Link, port: u32, host_nl: &Netlink) -> Result<Option<String>> {
    let want = match (req.tag.as_ref().and_then(|t| t.vlan_id().ok()), bridge.vlan_filtering) {
        (Some(vid), _) => vid,
        (None, Some((true, default_pvid))) if default_pvid != 0 => default_pvid,
        (None, _) => return Ok(None),
    };
    let has = host_nl.bridge_vlans(port)?;
    if has == [PortVlan { vid: want, pvid: true, untagged: true }] {
        return Ok(None);
    }
    let vids: Vec<String> = has.iter().map(|v| v.vid.to_string()).collect();
    let on = if vids.is_empty() { "no VLAN".to_string() } else { format!("VLAN {}", vids.join(",")) };
    Ok(Some(format!("its port on {} is in {on}, not an access port of VLAN {want}", bridge.name)))
}
