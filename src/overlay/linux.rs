//! Tunnels on a Linux bridge: one kernel VXLAN device per VNI, `vxlan-KEY`,
//! marked by its alias `pipework-tunnel:vxlan:KEY`, made with the overlay's
//! MTU and an explicit UDP port, with one all-zeros forwarding entry per
//! peer. Broadcasts are copied to every peer and never sent on from one
//! tunnel to another, so a full mesh cannot loop.
//!
//! GRE on a Linux bridge: one `gretap` per peer, `gt` and 8 hex digits of a
//! hash of key and peer (alias `pipework-tunnel:gre:KEY:PEER`), each an
//! isolated bridge port (never forwards to another isolated port, so a full
//! mesh cannot loop). It needs the kernel's ip_gre, and is refused where the
//! kernel has none. The development VM's kernel has none: this path is
//! proven under Debian's stock kernels (compat-tests/kernel, in QEMU).

use std::net::IpAddr;

use anyhow::{bail, Context, Result};

use crate::attach::kinds::CreateBridge;
use crate::attach::step::{Step, Steps, Target};
use crate::guest::GuestNames;
use crate::overlay::VXLAN_PORT;
use crate::request::{Tunnel, TunnelKind};
use crate::sys::netlink::{Link, LinkKind, Netlink};

const ALIAS: &str = "pipework-tunnel:";

/// What a Linux bridge has of this line's tunnels.
#[derive(Debug)]
pub struct Facts {
    /// The bridge's index; None: the plan creates it.
    bridge: Option<u32>,
    /// Per key of the line: the device's name and, if it exists, its index
    /// and the peers its forwarding table floods to.
    devices: Vec<Device>,
    /// GRE: one gretap per key and peer, and whether it exists.
    gretaps: Vec<(Gretap, bool)>,
}

#[derive(Debug, Clone)]
struct Gretap {
    name: String,
    key: Option<u32>,
    peer: std::net::Ipv4Addr,
}

fn gre_alias(key: Option<u32>, peer: IpAddr) -> String {
    format!("{ALIAS}gre:{}:{peer}", key.map_or_else(|| "none".to_string(), |k| k.to_string()))
}

fn gretap_name(key: Option<u32>, peer: IpAddr) -> String {
    use md5::{Digest, Md5};
    let digest = Md5::digest(gre_alias(key, peer).as_bytes());
    let hex: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    format!("gt{hex}")
}

/// Can this kernel make gretap devices: ip_gre loaded or built in, or a
/// module the kernel will load on the first request.
fn kernel_has_gretap() -> bool {
    let release = nix::sys::utsname::uname().map(|u| u.release().to_string_lossy().into_owned()).unwrap_or_default();
    std::path::Path::new("/sys/module/ip_gre").exists()
        || std::fs::read_to_string(format!("/lib/modules/{release}/modules.dep")).is_ok_and(|d| {
            d.lines()
                .any(|l| l.split(':').next().is_some_and(|m| m.ends_with("/ip_gre.ko") || m.contains("/ip_gre.ko.")))
        })
}

fn gather_gre(t: &Tunnel, links: &[Link], bridge: Option<u32>) -> Result<Facts> {
    let name = t.bridge.as_str();
    if !kernel_has_gretap() {
        bail!(
            "gre on the Linux bridge {name}: this kernel cannot make gretap devices (no ip_gre module); use vxlan, \
             or an Open vSwitch bridge (ovs…)"
        );
    }
    let mut gretaps = Vec::new();
    for k in &t.keys {
        for p in &t.peers {
            let IpAddr::V4(peer) = p else {
                bail!("gre on the Linux bridge {name}: peer {p} is IPv6, and this build makes IPv4 gretap only; use vxlan")
            };
            let dev = gretap_name(k.key, *p);
            let existing = links.iter().find(|l| l.name == dev);
            if let Some(l) = existing {
                if l.alias.as_deref() != Some(gre_alias(k.key, *p).as_str()) {
                    bail!("{dev} exists and pipework did not make it; remove or rename it");
                }
            }
            gretaps.push((Gretap { name: dev, key: k.key, peer: *peer }, existing.is_some()));
        }
    }
    Ok(Facts { bridge, devices: Vec::new(), gretaps })
}

#[derive(Debug)]
struct Device {
    name: String,
    vni: u32,
    existing: Option<(u32, Vec<IpAddr>)>,
}

pub fn device_name(vni: u32) -> String {
    format!("vxlan-{vni}")
}

fn alias(vni: u32) -> String {
    format!("{ALIAS}vxlan:{vni}")
}

/// A name of the devices this backend makes.
pub fn is_tunnel_device(name: &str) -> bool {
    name.strip_prefix("vxlan-").is_some_and(|k| k.parse::<u32>().is_ok())
        || name.strip_prefix("gt").is_some_and(|h| h.len() == 8 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// `links`: every link of the host, read once by the caller.
pub fn gather(t: &Tunnel, nl: &Netlink, links: &[Link], bridge: Option<u32>) -> Result<Facts> {
    let name = t.bridge.as_str();
    if let Some(vlan) = t.keys.iter().find_map(|k| k.vlan) {
        bail!(
            "@{vlan} needs an Open vSwitch bridge: {name} is a Linux bridge, which has no VLAN filtering here; \
             give each key a bridge of its own (pipework tunnel br{vlan} {}:KEY …)",
            t.kind.as_str()
        );
    }
    if t.kind == TunnelKind::Geneve {
        bail!("geneve on the Linux bridge {name}: only Open vSwitch bridges (ovs…) get geneve tunnels; use vxlan here");
    }
    if t.kind == TunnelKind::Gre {
        return gather_gre(t, links, bridge);
    }
    let port = t.dstport.unwrap_or(VXLAN_PORT);
    if port == VXLAN_PORT && links.iter().any(|l| l.name == "vxlan_sys_4789") {
        bail!(
            "UDP port 4789 is held by Open vSwitch's kernel VXLAN port (vxlan_sys_4789); a kernel VXLAN device \
             cannot share it: give another port with --dstport N (the same on every host)"
        );
    }
    let mut devices = Vec::new();
    for k in &t.keys {
        let vni = k.key.unwrap_or(0);
        let dev = device_name(vni);
        if let Some(other) = links.iter().find(|l| l.vxlan.is_some_and(|(id, _)| id == vni) && l.name != dev) {
            bail!(
                "VNI {vni} is taken by {}, a VXLAN device pipework did not make; remove it or use another key",
                other.name
            );
        }
        let existing = match links.iter().find(|l| l.name == dev) {
            None => None,
            Some(l) => {
                if l.alias.as_deref() != Some(alias(vni).as_str()) || l.kind != Some(LinkKind::Vxlan) {
                    bail!("{dev} exists and pipework did not make it (no alias {}); remove or rename it", alias(vni));
                }
                if let Some(c) = l.controller.filter(|c| Some(*c) != bridge) {
                    let other = nl.link_by_index(c)?.map_or_else(|| format!("#{c}"), |b| b.name);
                    bail!("VNI {vni} already serves bridge {other} ({dev}); one bridge per key");
                }
                let peers = nl.fdb_entries(l.index)?.into_iter().filter(|(m, _)| *m == [0; 6]).filter_map(|(_, d)| d);
                Some((l.index, peers.collect()))
            }
        };
        devices.push(Device { name: dev, vni, existing });
    }
    Ok(Facts { bridge, devices, gretaps: Vec::new() })
}

pub fn plan(t: &Tunnel, f: &super::Facts, l: &Facts) -> Steps {
    let mut steps = Steps::new();
    let bridge = t.bridge.to_string();
    if l.bridge.is_none() {
        // Made as an attach makes one (under a name of ours until marked, so
        // a killed run leaves nothing that passes for the user's bridge).
        let mark = format!("pipework: made for tunnel {} {}", t.kind.as_str(), bridge);
        steps.push(Box::new(CreateBridge::new(&bridge, mark)));
    }
    let port = t.dstport.unwrap_or(VXLAN_PORT);
    for d in &l.devices {
        if d.existing.is_none() {
            steps.push(Box::new(MakeVxlan { name: d.name.clone(), vni: d.vni, port, local: f.local, mtu: f.mtu }));
        }
        let known = d.existing.as_ref().map(|(_, p)| p.clone()).unwrap_or_default();
        for peer in f.remotes.iter().filter(|p| !known.contains(p)) {
            steps.push(Box::new(FloodTo { device: d.name.clone(), peer: *peer }));
        }
        steps.push(Box::new(Join { device: d.name.clone(), bridge: bridge.clone() }));
    }
    let local = match f.local {
        Some(IpAddr::V4(l)) => Some(l),
        _ => None,
    };
    for (g, exists) in &l.gretaps {
        // Only this host's own addresses are skipped; the line lists them all.
        if !f.remotes.contains(&IpAddr::V4(g.peer)) {
            continue;
        }
        if !exists {
            steps.push(Box::new(MakeGretap { tap: g.clone(), local, mtu: f.mtu }));
        }
        steps.push(Box::new(Join { device: g.name.clone(), bridge: bridge.clone() }));
        steps.push(Box::new(Isolate { device: g.name.clone() }));
    }
    steps
}

/// The line's VXLAN devices: with peers, only their forwarding entries
/// (the peer's all-zeros one and every MAC learned behind it), and the
/// device once no peer is left; without, the device.
pub fn detach(t: &Tunnel, nl: &Netlink) -> Result<Steps> {
    let mut steps = Steps::new();
    if t.kind == TunnelKind::Gre {
        for l in nl.links()? {
            let Some(a) = l.alias.as_deref().and_then(|a| a.strip_prefix(ALIAS)).and_then(|a| a.strip_prefix("gre:"))
            else {
                continue;
            };
            let Some((key, peer)) = a.split_once(':') else { continue };
            let key_ok = t.keys.iter().any(|k| k.key.map_or_else(|| "none".to_string(), |k| k.to_string()) == key);
            let peer_ok = t.peers.is_empty() || t.peers.iter().any(|p| p.to_string() == peer);
            if key_ok && peer_ok {
                steps.push(Box::new(Remove { device: l.name }));
            }
        }
        return Ok(steps);
    }
    for k in &t.keys {
        let vni = k.key.unwrap_or(0);
        let dev = device_name(vni);
        let Some(link) = nl.link(&dev)? else { continue };
        if link.alias.as_deref() != Some(alias(vni).as_str()) {
            bail!("{dev} was not made by pipework (no alias {}); not removing it", alias(vni));
        }
        let entries = nl.fdb_entries(link.index)?;
        if !t.peers.is_empty() {
            for (mac, dst) in &entries {
                if let Some(peer) = dst.filter(|d| t.peers.contains(d)) {
                    steps.push(Box::new(Forget { device: dev.clone(), mac: *mac, peer }));
                }
            }
        }
        let left = entries.iter().any(|(m, d)| *m == [0; 6] && d.is_some_and(|d| !t.peers.contains(&d)));
        if t.peers.is_empty() || !left {
            steps.push(Box::new(Remove { device: dev }));
        }
    }
    Ok(steps)
}

/// One line per VXLAN device of ours: bridge, device, key, peers, MTU.
pub fn list(bridge: Option<&str>, nl: &Netlink) -> Result<Vec<String>> {
    let links = nl.links()?;
    let mut lines = Vec::new();
    for l in links.iter().filter(|l| l.alias.as_deref().is_some_and(|a| a.starts_with(ALIAS))) {
        let master = l.controller.and_then(|c| links.iter().find(|b| b.index == c)).map_or("-", |b| b.name.as_str());
        if bridge.is_some_and(|b| b != master) {
            continue;
        }
        let peers: Vec<String> = nl
            .fdb_entries(l.index)?
            .into_iter()
            .filter(|(m, _)| *m == [0; 6])
            .filter_map(|(_, d)| d.map(|d| d.to_string()))
            .collect();
        let what = l.alias.as_deref().unwrap_or("").trim_start_matches(ALIAS);
        let port = l.vxlan.map_or(0, |(_, p)| p);
        lines.push(format!(
            "linux  {master:<10} {:<16} {what} peers={} dstport={port} mtu={} state={}",
            l.name,
            peers.join(","),
            l.mtu,
            if l.up { "up" } else { "down" }
        ));
    }
    Ok(lines)
}

/// `ip link add vxlan-K mtu M type vxlan id K dstport P [local SRC]` and
/// its alias.
#[derive(Debug)]
struct MakeVxlan {
    name: String,
    vni: u32,
    port: u16,
    local: Option<IpAddr>,
    mtu: u32,
}

impl Step for MakeVxlan {
    fn command(&self, _: &GuestNames) -> String {
        let local = self.local.map(|l| format!(" local {l}")).unwrap_or_default();
        format!(
            "ip link add {} mtu {} type vxlan id {} dstport {}{local} && ip link set {} alias {}",
            self.name,
            self.mtu,
            self.vni,
            self.port,
            self.name,
            alias(self.vni)
        )
    }

    fn run(&self, t: &mut Target) -> Result<()> {
        t.host_nl
            .add_vxlan(&self.name, self.vni, self.port, self.local, self.mtu)
            .with_context(|| format!("creating VXLAN device {} (VNI {}, UDP {})", self.name, self.vni, self.port))?;
        let i = t.made_in_host(&self.name)?;
        t.host_nl.set_alias(i, &alias(self.vni)).with_context(|| format!("marking {}", self.name))
    }
}

/// `bridge fdb append 00:00:00:00:00:00 dev DEVICE dst PEER`.
#[derive(Debug)]
struct FloodTo {
    device: String,
    peer: IpAddr,
}

impl Step for FloodTo {
    fn command(&self, _: &GuestNames) -> String {
        format!("bridge fdb append 00:00:00:00:00:00 dev {} dst {} self permanent", self.device, self.peer)
    }

    fn run(&self, t: &mut Target) -> Result<()> {
        let i = t.host_index(&self.device)?;
        t.host_nl.fdb_append(i, self.peer).with_context(|| format!("adding peer {} to {}", self.peer, self.device))?;
        let peer = self.peer;
        t.on_undo(format!("bridge fdb del 00:00:00:00:00:00 dev {} dst {peer}", self.device), move |t| {
            t.host_nl.fdb_delete(i, [0; 6], peer)
        });
        Ok(())
    }
}

/// `ip link set DEVICE master BRIDGE up`.
#[derive(Debug)]
struct Join {
    device: String,
    bridge: String,
}

impl Step for Join {
    fn command(&self, _: &GuestNames) -> String {
        format!("ip link set {} master {} up", self.device, self.bridge)
    }

    fn run(&self, t: &mut Target) -> Result<()> {
        let (d, b) = (t.host_index(&self.device)?, t.host_index(&self.bridge)?);
        t.host_nl.set_controller_up(d, b).with_context(|| format!("adding {} to {}", self.device, self.bridge))
    }
}

/// `bridge fdb del MAC dev DEVICE dst PEER`.
#[derive(Debug)]
struct Forget {
    device: String,
    mac: [u8; 6],
    peer: IpAddr,
}

impl Step for Forget {
    fn command(&self, _: &GuestNames) -> String {
        let mac: Vec<String> = self.mac.iter().map(|b| format!("{b:02x}")).collect();
        format!("bridge fdb del {} dev {} dst {}", mac.join(":"), self.device, self.peer)
    }

    fn run(&self, t: &mut Target) -> Result<()> {
        let i = t.host_index(&self.device)?;
        t.host_nl
            .fdb_delete(i, self.mac, self.peer)
            .with_context(|| format!("forgetting {} on {}", self.peer, self.device))
    }
}

/// `ip link del DEVICE`.
#[derive(Debug)]
struct Remove {
    device: String,
}

impl Step for Remove {
    fn command(&self, _: &GuestNames) -> String {
        format!("ip link del {}", self.device)
    }

    fn run(&self, t: &mut Target) -> Result<()> {
        match t.host_nl.link(&self.device)? {
            Some(l) => t.host_nl.delete(l.index).with_context(|| format!("deleting {}", self.device)),
            None => Ok(()),
        }
    }
}

/// `ip link add gtHASH mtu M type gretap local SRC remote PEER [key K]` and
/// its alias.
#[derive(Debug)]
struct MakeGretap {
    tap: Gretap,
    local: Option<std::net::Ipv4Addr>,
    mtu: u32,
}

impl Step for MakeGretap {
    fn command(&self, _: &GuestNames) -> String {
        let g = &self.tap;
        let local = self.local.map(|l| format!(" local {l}")).unwrap_or_default();
        let key = g.key.map(|k| format!(" key {k}")).unwrap_or_default();
        format!(
            "ip link add {} mtu {} type gretap{local} remote {}{key} && ip link set {} alias {}",
            g.name,
            self.mtu,
            g.peer,
            g.name,
            gre_alias(g.key, IpAddr::V4(g.peer))
        )
    }

    fn run(&self, t: &mut Target) -> Result<()> {
        let g = &self.tap;
        let local = self.local.unwrap_or(std::net::Ipv4Addr::UNSPECIFIED);
        t.host_nl
            .add_gretap(&g.name, local, g.peer, g.key, self.mtu)
            .with_context(|| format!("creating gretap {} to {}", g.name, g.peer))?;
        let i = t.made_in_host(&g.name)?;
        t.host_nl.set_alias(i, &gre_alias(g.key, IpAddr::V4(g.peer))).with_context(|| format!("marking {}", g.name))
    }
}

/// `bridge link set dev DEVICE isolated on`.
#[derive(Debug)]
struct Isolate {
    device: String,
}

impl Step for Isolate {
    fn command(&self, _: &GuestNames) -> String {
        format!("bridge link set dev {} isolated on", self.device)
    }

    fn run(&self, t: &mut Target) -> Result<()> {
        let i = t.host_index(&self.device)?;
        t.host_nl.set_bridge_port(i, false, true).with_context(|| format!("isolating {}", self.device))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::TunnelKey;

    fn tunnel(kind: TunnelKind, key: Option<u32>, peers: &[&str]) -> Tunnel {
        Tunnel {
            bridge: crate::request::IfName::parse("brg", "t").unwrap(),
            kind,
            keys: vec![TunnelKey { key, vlan: None }],
            peers: peers.iter().map(|p| p.parse().unwrap()).collect(),
            local: None,
            dstport: None,
            mtu: None,
            detach: false,
            ovs_db: None,
            ovs_datapath: None,
        }
    }

    fn commands(t: &Tunnel, l: Facts, mtu: u32) -> Vec<String> {
        let remotes = t.peers[1..].to_vec();
        let f = super::super::Facts {
            backend: super::super::Backend::Linux(Facts { bridge: l.bridge, devices: Vec::new(), gretaps: Vec::new() }),
            remotes,
            mtu,
            local: Some(t.peers[0]),
            too_big: Vec::new(),
        };
        plan(t, &f, &l).iter().map(|s| s.command(&GuestNames::path("-"))).collect()
    }

    #[test]
    fn a_new_bridge_then_one_vxlan_device_flooding_to_each_other_host() {
        let t = tunnel(TunnelKind::Vxlan, Some(100), &["10.0.0.1", "10.0.0.2", "10.0.1.3"]);
        let l = Facts {
            bridge: None,
            devices: vec![Device { name: device_name(100), vni: 100, existing: None }],
            gretaps: vec![],
        };
        assert_eq!(
            commands(&t, l, 1450),
            [
                "ip link add brg type bridge && ip link set brg up alias 'pipework: made for tunnel vxlan brg'",
                "ip link add vxlan-100 mtu 1450 type vxlan id 100 dstport 4789 local 10.0.0.1 && ip link set vxlan-100 alias pipework-tunnel:vxlan:100",
                "bridge fdb append 00:00:00:00:00:00 dev vxlan-100 dst 10.0.0.2 self permanent",
                "bridge fdb append 00:00:00:00:00:00 dev vxlan-100 dst 10.0.1.3 self permanent",
                "ip link set vxlan-100 master brg up",
            ]
        );
    }

    #[test]
    fn gre_is_one_isolated_gretap_per_other_host() {
        let t = tunnel(TunnelKind::Gre, Some(7), &["10.0.0.1", "10.0.0.2"]);
        let tap = Gretap {
            name: gretap_name(Some(7), "10.0.0.2".parse().unwrap()),
            key: Some(7),
            peer: "10.0.0.2".parse().unwrap(),
        };
        let own = Gretap {
            name: gretap_name(Some(7), "10.0.0.1".parse().unwrap()),
            key: Some(7),
            peer: "10.0.0.1".parse().unwrap(),
        };
        let name = tap.name.clone();
        assert!(is_tunnel_device(&name) && name.len() == 10, "{name}");
        let l = Facts { bridge: Some(4), devices: vec![], gretaps: vec![(own, false), (tap, false)] };
        assert_eq!(
            commands(&t, l, 1458),
            [
                format!("ip link add {name} mtu 1458 type gretap local 10.0.0.1 remote 10.0.0.2 key 7 && ip link set {name} alias pipework-tunnel:gre:7:10.0.0.2"),
                format!("ip link set {name} master brg up"),
                format!("bridge link set dev {name} isolated on"),
            ]
        );
    }
}
