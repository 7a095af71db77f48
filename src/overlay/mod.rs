//! `pipework tunnel`: a bridge's tunnels to the other hosts of an overlay,
//! from one line that is the same on every host (each skips its own
//! addresses among the peers). The backend follows the bridge, as an
//! attach's kind does: an Open vSwitch bridge gets one tunnel port per peer
//! and key (`ovs.rs`), a Linux bridge one kernel VXLAN device per key with
//! the peers in its forwarding table (`linux.rs`).
//!
//! The same pipeline as an attach: facts (where every refusal happens,
//! before anything changes) → a pure plan of steps → apply with undo.

mod linux;
mod ovs;

use std::net::IpAddr;

use anyhow::{bail, Context, Result};

use crate::attach::step::Steps;
use crate::request::{Tunnel, TunnelKind};
use crate::sys::netlink::{LinkKind, Netlink};
use crate::sys::ovsdb;
use crate::sys::ovsdb::vswitch::{self, Vswitch};

/// What the host has, read without touching it.
#[derive(Debug)]
pub struct Facts {
    pub backend: Backend,
    /// The peers left once this host's own addresses are skipped.
    pub remotes: Vec<IpAddr>,
    /// The overlay's MTU: the underlay's towards the first peer, less the
    /// encapsulation (or `--mtu`).
    pub mtu: u32,
    /// The underlay source address (`--local`, or the route's).
    pub local: Option<IpAddr>,
    /// Ports already on the bridge whose MTU is above the overlay's.
    pub too_big: Vec<(String, u32)>,
}

#[derive(Debug)]
pub enum Backend {
    Linux(linux::Facts),
    Ovs(ovs::Facts),
}

/// The encapsulation's cost in bytes: GRE 38 (+4 with a key), VXLAN and
/// Geneve (without options) 50; a
/// trunk (an OVS port without `@VLAN`) carries the 802.1Q tag inside (+4);
/// an IPv6 underlay has a header 20 bytes longer.
pub fn overhead(kind: TunnelKind, key: Option<u32>, trunk: bool, ipv6: bool) -> u32 {
    let base = match kind {
        TunnelKind::Gre => 38 + if key.is_some() { 4 } else { 0 },
        TunnelKind::Vxlan | TunnelKind::Geneve => 50,
    };
    base + if trunk { 4 } else { 0 } + if ipv6 { 20 } else { 0 }
}

/// VXLAN's port when `--dstport` is not given: IANA's and Open vSwitch's
/// (the kernel's own default, 8472, would not meet OVS peers).
pub const VXLAN_PORT: u16 = 4789;

enum BridgeIs {
    Linux(Option<u32>),
    Ovs(bool),
}

/// Looks at the host; refuses (exit 1, naming the object and the fix)
/// whatever cannot work, before anything changes.
pub fn gather(t: &Tunnel, nl: &Netlink, vswitch: Option<&Vswitch>) -> Result<Facts> {
    let name = t.bridge.as_str();
    // Every link once: the bridge, its ports, the VXLAN devices.
    let links = nl.links()?;
    let link = links.iter().find(|l| l.name == name);
    // Open vSwitch's side in one read, unless the bridge is a Linux one:
    // bridges, ports, datapaths, existing tunnels.
    let snapshot = match (link, vswitch) {
        (Some(l), _) if l.kind == Some(LinkKind::Bridge) => None,
        (_, Some(v)) => match v.snapshot(name, t.kind.as_str()) {
            Ok(s) => Some(s),
            Err(e) if ovsdb::find_error(&e).is_some_and(|e| e.is_not_running()) => None,
            Err(e) => return Err(e),
        },
        (_, None) => None,
    };
    let is = match link {
        Some(l) if l.kind == Some(LinkKind::Bridge) => BridgeIs::Linux(Some(l.index)),
        _ if snapshot.as_ref().is_some_and(|s| s.bridge(name).is_some()) => BridgeIs::Ovs(true),
        Some(_) => bail!("{name} is neither a Linux bridge nor an Open vSwitch bridge; tunnels join a bridge"),
        None if name.starts_with("ovs") => BridgeIs::Ovs(false),
        None if name.starts_with("br") => BridgeIs::Linux(None),
        None => bail!(
            "bridge {name} does not exist; only names starting with br (Linux bridge) or ovs (Open vSwitch) are \
             created on demand"
        ),
    };
    let own = nl.all_addresses()?;
    let remotes: Vec<IpAddr> = t.peers.iter().copied().filter(|p| !own.contains(p)).collect();
    let Some(first) = remotes.first() else {
        bail!(
            "no peer left once this host's own addresses are skipped ({}); list the other hosts' underlay addresses",
            t.peers.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(" ")
        );
    };
    let (oif, src) = nl
        .route_to(*first)?
        .with_context(|| format!("no route to peer {first}: the underlay must reach every peer"))?;
    let underlay =
        nl.link_by_index(oif)?.with_context(|| format!("the route to {first} names a device that is gone"))?;
    let local = t.local.or(src);
    let trunk = |vlan: Option<u16>| matches!(is, BridgeIs::Ovs(_)) && vlan.is_none();
    let cost = t.keys.iter().map(|k| overhead(t.kind, k.key, trunk(k.vlan), first.is_ipv6())).max().unwrap_or(0);
    let mtu = match t.mtu {
        Some(m) => m,
        None => underlay.mtu.checked_sub(cost).filter(|m| *m >= 68).with_context(|| {
            format!(
                "the underlay device {} has MTU {}, too small for {} tunnels",
                underlay.name,
                underlay.mtu,
                t.kind.as_str()
            )
        })?,
    };
    let (backend, ports) = match is {
        BridgeIs::Linux(index) => {
            let f = linux::gather(t, nl, &links, index)?;
            let ports = links
                .iter()
                .filter(|l| index.is_some() && l.controller == index)
                .map(|l| (l.name.clone(), l.mtu))
                .collect();
            (Backend::Linux(f), ports)
        }
        BridgeIs::Ovs(exists) => {
            let (Some(v), Some(snap)) = (vswitch, &snapshot) else {
                return Err(anyhow::Error::new(vswitch::absent(t.ovs_db.as_deref())).context(format!(
                    "{name} {}, and that needs Open vSwitch's database (package openvswitch-switch)",
                    if exists { "is an Open vSwitch bridge" } else { "would be a new Open vSwitch bridge" },
                )));
            };
            let f = ovs::gather(t, v, snap, &remotes, &underlay.name)?;
            let mut ports = Vec::new();
            for p in snap.port_names(name) {
                if let Some(l) = links.iter().find(|l| l.name == p) {
                    ports.push((l.name.clone(), l.mtu));
                }
            }
            (Backend::Ovs(f), ports)
        }
    };
    let ours = |n: &str| linux::is_tunnel_device(n) || ovs::is_tunnel_port(n);
    let too_big = ports.into_iter().filter(|(n, m)| *m > mtu && !ours(n)).collect();
    Ok(Facts { backend, remotes, mtu, local, too_big })
}

/// The steps that make the line's tunnels. Pure.
pub fn plan(t: &Tunnel, f: &Facts) -> Steps {
    match &f.backend {
        Backend::Linux(l) => linux::plan(t, f, l),
        Backend::Ovs(o) => ovs::plan(t, f, o),
    }
}

/// What `--detach tunnel` removes: the line's keys, towards the peers it
/// names (all of them when it names none).
pub fn detach(t: &Tunnel, nl: &Netlink, vswitch: Option<&Vswitch>) -> Result<Steps> {
    let name = t.bridge.as_str();
    match nl.link(name)? {
        Some(l) if l.kind == Some(LinkKind::Bridge) => linux::detach(t, nl),
        _ => match vswitch {
            Some(v) if v.bridge_exists(name) => ovs::detach(t, v),
            _ => Ok(Steps::new()),
        },
    }
}

/// `pipework tunnel [BRIDGE]`: one line per tunnel pipework made.
pub fn list(bridge: Option<&str>, nl: &Netlink, vswitch: Option<&Vswitch>) -> Result<Vec<String>> {
    let mut lines = Vec::new();
    if let Some(v) = vswitch {
        lines.extend(ovs::list(bridge, v)?);
    }
    lines.extend(linux::list(bridge, nl)?);
    Ok(lines)
}
