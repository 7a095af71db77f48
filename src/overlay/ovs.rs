//! Tunnels on an Open vSwitch bridge: one port per peer and key, all in one
//! ovsdb transaction. Each is `protected` (never forwards to another
//! protected port, so a full mesh cannot loop), an access port of the key's
//! VLAN with `@VLAN` (NORMAL switching maps the local VLAN to the key; each
//! host may number its VLANs its own way) or a trunk without, and carries
//! external-ids like an attach's. The bridge's `mtu_request` is lowered to
//! the overlay's MTU, which later attaches inherit.

use std::collections::BTreeMap;
use std::net::IpAddr;

use anyhow::{bail, Result};

use crate::attach::kinds::new_bridge_datapath;
use crate::attach::step::{Step, Steps, Target};
use crate::guest::GuestNames;
use crate::request::{Tunnel, TunnelKind};
use crate::sys::ovsdb::vswitch::{InterfaceRow, Snapshot, TunnelPort, TunnelSet, TunnelsMade, Vswitch};

/// What Open vSwitch has of this line.
#[derive(Debug)]
pub struct Facts {
    /// The datapath of a bridge the plan creates; None: it exists.
    create: Option<&'static str>,
    /// The bridge's `mtu_request` now.
    mtu_request: Option<u32>,
    /// Our ports of this line that exist already (a re-run).
    existing: Vec<String>,
}

/// A tunnel port's name: `gre`/`vx`/`gnv`, the key, `-`, the peer's IPv4
/// address in hex (`vx1000-ac1f0003`); when that is longer than a device
/// name may be (an IPv6 peer, a long key), the prefix, `-` and hex digits of
/// a hash, 15 bytes in all.
pub fn port_name(kind: TunnelKind, key: Option<u32>, peer: IpAddr) -> String {
    let prefix = match kind {
        TunnelKind::Gre => "gre",
        TunnelKind::Vxlan => "vx",
        TunnelKind::Geneve => "gnv",
    };
    let key_text = key.map(|k| k.to_string()).unwrap_or_default();
    if let IpAddr::V4(v4) = peer {
        let hex: String = v4.octets().iter().map(|b| format!("{b:02x}")).collect();
        let name = format!("{prefix}{key_text}-{hex}");
        if name.len() <= crate::request::IFNAMSIZ_MAX {
            return name;
        }
    }
    use md5::{Digest, Md5};
    let digest = Md5::digest(format!("{}:{key_text}:{peer}", kind.as_str()).as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("{prefix}-{}", &hex[..crate::request::IFNAMSIZ_MAX - prefix.len() - 1])
}

/// Is this the name of a tunnel port this backend makes?
pub fn is_tunnel_port(name: &str) -> bool {
    let rest = name.strip_prefix("gre").or_else(|| name.strip_prefix("vx")).or_else(|| name.strip_prefix("gnv"));
    rest.and_then(|r| r.split_once('-')).is_some_and(|(k, h)| {
        k.bytes().all(|b| b.is_ascii_digit()) && !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

pub fn gather(t: &Tunnel, v: &Vswitch, snap: &Snapshot, remotes: &[IpAddr], underlay: &str) -> Result<Facts> {
    let name = t.bridge.as_str();
    let bridge = snap.bridge(name);
    let datapath = match bridge {
        Some(b) => b.datapath_type.clone(),
        None => new_bridge_datapath(t.ovs_datapath, name).as_str().to_string(),
    };
    // The userspace datapath sends tunnels by its own routing table, which
    // knows only addresses on OVS bridges: anything else is dropped without
    // a word. The host's address is never moved for the user.
    if datapath == "netdev" {
        for peer in remotes {
            let dev = v.route_lookup(*peer)?;
            if dev.as_ref().is_none_or(|d| snap.bridge(d).is_none()) {
                bail!(
                    "the userspace datapath of {name} cannot reach {peer}: Open vSwitch routes it via '{}', which \
                     is not an OVS bridge. Put the underlay address on an OVS bridge that holds the NIC, once per \
                     host:\n    sysctl -w net.ipv4.conf.all.arp_ignore=1\n    ovs-vsctl add-br br-phy -- set \
                     Bridge br-phy datapath_type=netdev -- add-port br-phy {underlay}\n    ip addr flush dev \
                     {underlay}; ip addr add ADDR/LEN dev br-phy; ip link set br-phy up; ip route add default via GW",
                    dev.unwrap_or_else(|| "nothing".into())
                );
            }
        }
    }
    let mut existing = Vec::new();
    for k in &t.keys {
        for peer in remotes {
            let port = port_name(t.kind, k.key, *peer);
            match snap.port_bridge(&port) {
                Some(b) if b == name => existing.push(port.clone()),
                Some(other) => bail!(
                    "a port named {port} exists already on bridge {other}; a tunnel port of that name cannot join \
                     {name} (remove it: ovs-vsctl del-port {other} {port})"
                ),
                None => {}
            }
            if let Some(other) = snap.tunnels.iter().find(|r| r.name != port && same_tunnel(r, t, k.key, *peer)) {
                bail!(
                    "a {} tunnel to {peer}{} exists already as port {}; Open vSwitch cannot run two (the second \
                     never works); remove it (ovs-vsctl del-port {}) or use another key",
                    t.kind.as_str(),
                    k.key.map(|k| format!(" with key {k}")).unwrap_or_default(),
                    other.name,
                    other.name
                );
            }
        }
    }
    let mtu_request = if bridge.is_some() { snap.mtu_request } else { None };
    let create = bridge.is_none().then_some(if datapath == "system" { "system" } else { "netdev" });
    Ok(Facts { create, mtu_request, existing })
}

/// Would OVS take row `r` for the same tunnel: type, remote, key and local
/// address alike.
fn same_tunnel(r: &InterfaceRow, t: &Tunnel, key: Option<u32>, peer: IpAddr) -> bool {
    let opt = |k: &str| r.options.get(k).map(String::as_str);
    let key_text = key.map(|k| k.to_string());
    r.kind == t.kind.as_str()
        && opt("remote_ip") == Some(peer.to_string().as_str())
        && opt("key").or(opt("in_key")).map(str::to_string) == key_text
        && opt("local_ip").map(str::to_string) == t.local.map(|l| l.to_string())
}

pub fn plan(t: &Tunnel, f: &super::Facts, o: &Facts) -> Steps {
    let bridge = t.bridge.to_string();
    let mut ports = Vec::new();
    for k in &t.keys {
        for peer in &f.remotes {
            let name = port_name(t.kind, k.key, *peer);
            let key = k.key.map(|k| k.to_string());
            let mut options = vec![("remote_ip".to_string(), peer.to_string())];
            let mut drop_options = Vec::new();
            match &key {
                Some(k) => options.push(("key".into(), k.clone())),
                None => drop_options.push("key".to_string()),
            }
            match t.local {
                Some(l) => options.push(("local_ip".into(), l.to_string())),
                None => drop_options.push("local_ip".into()),
            }
            match (t.kind, t.dstport) {
                (TunnelKind::Vxlan | TunnelKind::Geneve, Some(d)) => options.push(("dst_port".into(), d.to_string())),
                _ => drop_options.push("dst_port".into()),
            }
            let ids = [
                ("tunnel", t.kind.as_str().to_string()),
                ("bridge", bridge.clone()),
                ("peer", peer.to_string()),
                ("key", key.clone().unwrap_or_else(|| "none".into())),
                ("vlan", k.vlan.map_or_else(|| "trunk".into(), |v| v.to_string())),
            ];
            ports.push(TunnelPort {
                exists: o.existing.contains(&name),
                name,
                tag: k.vlan,
                kind: t.kind.as_str().to_string(),
                options,
                drop_options,
                external_ids: ids.into_iter().map(|(k, v)| (format!("pipework.{k}"), v)).collect(),
            });
        }
    }
    let lower = o.mtu_request.is_none_or(|m| m > f.mtu);
    let set = TunnelSet {
        bridge: bridge.clone(),
        create: o.create.map(str::to_string),
        ports,
        mtu_request: lower.then_some(f.mtu),
    };
    let names = set.ports.iter().map(|p| p.name.clone()).collect();
    let step = Transaction { set, old_mtu_request: if lower { Some(o.mtu_request) } else { None } };
    vec![Box::new(step), Box::new(Working { ports: names })]
}

/// The ovs-vsctl words of a line's transaction, as `--dry-run` prints it.
fn vsctl_words(set: &TunnelSet) -> Vec<String> {
    let bridge = &set.bridge;
    let mut args: Vec<String> = Vec::new();
    let mut w = |words: &[&str]| args.extend(words.iter().map(|s| s.to_string()));
    if let Some(dp) = &set.create {
        w(&["--may-exist", "add-br", bridge, "--", "set", "Bridge", bridge, &format!("datapath_type={dp}"), "--"]);
    }
    for p in &set.ports {
        let n = p.name.as_str();
        w(&["--may-exist", "add-port", bridge, n, "--", "set", "Port", n, "protected=true"]);
        match p.tag {
            Some(v) => w(&[&format!("tag={v}"), "--"]),
            None => w(&["--", "clear", "Port", n, "tag", "--"]),
        }
        w(&["set", "Interface", n, &format!("type={}", p.kind)]);
        for (k, v) in &p.options {
            w(&[&format!("options:{k}={v}")]);
        }
        for (k, v) in &p.external_ids {
            w(&[&format!("external_ids:{k}={v}")]);
        }
        for d in &p.drop_options {
            w(&["--", "remove", "Interface", n, "options", d]);
        }
        w(&["--"]);
    }
    if let Some(m) = set.mtu_request {
        w(&["set", "Interface", bridge, &format!("mtu_request={m}"), "--"]);
    }
    args.pop();
    args
}

/// `--detach tunnel`: the ports of the line's keys, towards its peers (or
/// all of them), in one transaction.
pub fn detach(t: &Tunnel, v: &Vswitch) -> Result<Steps> {
    let bridge = t.bridge.to_string();
    let mut ports = Vec::new();
    for r in v.interfaces()? {
        let id = |k: &str| r.external_ids.get(&format!("pipework.{k}")).map(String::as_str).unwrap_or("");
        let key_ok = t.keys.iter().any(|k| id("key") == k.key.map_or_else(|| "none".into(), |k| k.to_string()));
        let peer_ok = t.peers.is_empty() || t.peers.iter().any(|p| id("peer") == p.to_string());
        if id("tunnel") == t.kind.as_str() && id("bridge") == bridge && key_ok && peer_ok {
            ports.push(r.name.clone());
        }
    }
    if ports.is_empty() {
        return Ok(Steps::new());
    }
    Ok(vec![Box::new(Removal { bridge, ports })])
}

/// One line per tunnel port of ours: bridge, port, what it is, its state.
pub fn list(bridge: Option<&str>, v: &Vswitch) -> Result<Vec<String>> {
    let rows = match v.interfaces() {
        Ok(r) => r,
        Err(e) if crate::sys::ovsdb::find_error(&e).is_some_and(|e| e.is_not_running()) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut lines = Vec::new();
    for r in rows {
        let ids: BTreeMap<&str, &str> =
            r.external_ids.iter().filter_map(|(k, v)| k.strip_prefix("pipework.").map(|k| (k, v.as_str()))).collect();
        let (Some(kind), Some(br)) = (ids.get("tunnel"), ids.get("bridge")) else { continue };
        if bridge.is_some_and(|b| b != *br) {
            continue;
        }
        let state = if !r.error.is_empty() {
            format!("error: {}", r.error)
        } else if r.ofport.is_some_and(|p| p > 0) {
            "up".into()
        } else {
            "down".into()
        };
        lines.push(format!(
            "ovs    {br:<10} {:<16} {kind}:{} peer={} vlan={} state={state}",
            r.name,
            ids.get("key").unwrap_or(&"none"),
            ids.get("peer").unwrap_or(&"?"),
            ids.get("vlan").unwrap_or(&"?"),
        ));
    }
    Ok(lines)
}

/// Quoted only where a shell needs it (shlex also quotes `=`).
fn shell_words(args: &[String]) -> String {
    let plain = |a: &str| !a.is_empty() && a.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:=/@,+".contains(&b));
    let quoted: Vec<String> = args
        .iter()
        .map(|a| if plain(a) { a.clone() } else { shlex::try_quote(a).map_or(a.clone(), |q| q.into()) })
        .collect();
    quoted.join(" ")
}

/// The line's one ovsdb transaction, printed as the ovs-vsctl command that
/// does the same.
#[derive(Debug)]
struct Transaction {
    set: TunnelSet,
    /// Some(previous) when it lowers the bridge's mtu_request.
    old_mtu_request: Option<Option<u32>>,
}

impl Step for Transaction {
    fn command(&self, _: &GuestNames) -> String {
        format!("ovs-vsctl {}", shell_words(&vsctl_words(&self.set)))
    }

    fn run(&self, t: &mut Target) -> Result<()> {
        let v = t.vswitch.ok_or_else(|| anyhow::anyhow!("Open vSwitch's database does not answer"))?;
        let made: TunnelsMade = v.set_tunnels(&self.set)?;
        let (bridge, old) = (self.set.bridge.clone(), self.old_mtu_request);
        t.on_undo(format!("ovs-vsctl del-port the tunnels of {bridge}"), move |t| {
            let Some(v) = t.vswitch else { return Ok(()) };
            v.take_back_tunnels(&bridge, &made, old)
        });
        Ok(())
    }
}

/// `--detach tunnel`'s one transaction.
#[derive(Debug)]
struct Removal {
    bridge: String,
    ports: Vec<String>,
}

impl Step for Removal {
    fn command(&self, _: &GuestNames) -> String {
        let mut args = Vec::new();
        for p in &self.ports {
            args.extend(["--if-exists".to_string(), "del-port".into(), self.bridge.clone(), p.clone(), "--".into()]);
        }
        args.pop();
        format!("ovs-vsctl {}", shell_words(&args))
    }

    fn run(&self, t: &mut Target) -> Result<()> {
        let v = t.vswitch.ok_or_else(|| anyhow::anyhow!("Open vSwitch's database does not answer"))?;
        v.del_ports(&self.bridge, &self.ports)
    }
}

/// A tunnel ovs-vswitchd cannot run (a duplicate found too late, a missing
/// datapath feature) still commits: each port must have an OpenFlow port
/// number and no error.
#[derive(Debug)]
struct Working {
    ports: Vec<String>,
}

impl Step for Working {
    fn command(&self, _: &GuestNames) -> String {
        format!("# then: each of {} has an ofport and no error", self.ports.join(" "))
    }

    fn run(&self, t: &mut Target) -> Result<()> {
        let Some(v) = t.vswitch else { return Ok(()) };
        let rows = v.interfaces_named(&self.ports)?;
        for p in &self.ports {
            let Some(r) = rows.iter().find(|r| &r.name == p) else {
                bail!("tunnel port {p} is missing after the transaction")
            };
            if !r.error.is_empty() || r.ofport.is_none_or(|o| o <= 0) {
                let why = if r.error.is_empty() { "no OpenFlow port" } else { r.error.as_str() };
                bail!("tunnel port {p} does not work: {why}");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_names_fit_and_say_what_they_are() {
        let peer: IpAddr = "172.31.0.3".parse().unwrap();
        assert_eq!(port_name(TunnelKind::Vxlan, Some(1000), peer), "vx1000-ac1f0003");
        assert_eq!(port_name(TunnelKind::Gre, None, peer), "gre-ac1f0003");
        let long = port_name(TunnelKind::Geneve, Some(16_777_215), peer);
        let v6 = port_name(TunnelKind::Vxlan, Some(1), "2001:db8::1".parse().unwrap());
        for n in [&long, &v6] {
            assert!(n.len() <= 15 && is_tunnel_port(n), "{n}");
        }
        assert_ne!(long, port_name(TunnelKind::Geneve, Some(16_777_214), peer));
        assert!(!is_tunnel_port("veth1pl42") && !is_tunnel_port("vxlan0"));
    }
}
