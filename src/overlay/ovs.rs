//! Tunnels on an Open vSwitch bridge: one port per peer and key, all in one
//! ovs-vsctl transaction. Each is `protected` (never forwards to another
//! protected port, so a full mesh cannot loop), an access port of the key's
//! VLAN with `@VLAN` (NORMAL switching maps the local VLAN to the key; each
//! host may number its VLANs its own way) or a trunk without, and carries
//! external-ids like an attach's. The bridge's `mtu_request` is lowered to
//! the overlay's MTU, which later attaches inherit.

use std::collections::BTreeMap;
use std::net::IpAddr;

use anyhow::{bail, Result};

use crate::attach::step::{Step, Steps, Target};
use crate::guest::GuestNames;
use crate::request::{Tunnel, TunnelKind};
use crate::sys::vsctl::{self, InterfaceRow, Vsctl};

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

pub fn gather(t: &Tunnel, v: &Vsctl, exists: bool, remotes: &[IpAddr], underlay: &str) -> Result<Facts> {
    let name = t.bridge.as_str();
    let datapath = if exists {
        v.get("Bridge", name, "datapath_type")?.unwrap_or_default()
    } else if vsctl::kernel_datapath_present() {
        "system".into()
    } else {
        "netdev".into()
    };
    // The userspace datapath sends tunnels by its own routing table, which
    // knows only addresses on OVS bridges: anything else is dropped without
    // a word. The host's address is never moved for the user.
    if datapath == "netdev" {
        // Peers usually share one way out (br-phy): ask ovsdb once per device.
        let mut is_bridge: BTreeMap<String, bool> = BTreeMap::new();
        for peer in remotes {
            let dev = v.route_lookup(*peer)?;
            let ok = dev.as_ref().is_some_and(|d| *is_bridge.entry(d.clone()).or_insert_with(|| v.bridge_exists(d)));
            if !ok {
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
    let rows = v.interfaces()?;
    let mut existing = Vec::new();
    for k in &t.keys {
        for peer in remotes {
            let port = port_name(t.kind, k.key, *peer);
            if rows.iter().any(|r| r.name == port) {
                existing.push(port.clone());
            }
            if let Some(other) = rows.iter().find(|r| r.name != port && same_tunnel(r, t, k.key, *peer)) {
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
    let mtu_request = if exists { v.get("Interface", name, "mtu_request")?.and_then(|m| m.parse().ok()) } else { None };
    let create = (!exists).then_some(if datapath == "system" { "system" } else { "netdev" });
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
    let mut args: Vec<String> = Vec::new();
    let mut w = |words: &[&str]| args.extend(words.iter().map(|s| s.to_string()));
    if let Some(dp) = o.create {
        w(&["--may-exist", "add-br", &bridge, "--", "set", "Bridge", &bridge, &format!("datapath_type={dp}"), "--"]);
    }
    let mut ports = Vec::new();
    for k in &t.keys {
        for peer in &f.remotes {
            let p = port_name(t.kind, k.key, *peer);
            let peer_s = peer.to_string();
            w(&["--may-exist", "add-port", &bridge, &p, "--", "set", "Port", &p, "protected=true"]);
            match k.vlan {
                Some(v) => w(&[&format!("tag={v}"), "--"]),
                None => w(&["--", "clear", "Port", &p, "tag", "--"]),
            }
            w(&["set", "Interface", &p, &format!("type={}", t.kind.as_str()), &format!("options:remote_ip={peer_s}")]);
            let key = k.key.map(|k| k.to_string());
            let mut drop = Vec::new();
            match &key {
                Some(k) => w(&[&format!("options:key={k}")]),
                None => drop.push("key"),
            }
            match t.local {
                Some(l) => w(&[&format!("options:local_ip={l}")]),
                None => drop.push("local_ip"),
            }
            match (t.kind, t.dstport) {
                (TunnelKind::Vxlan | TunnelKind::Geneve, Some(d)) => w(&[&format!("options:dst_port={d}")]),
                _ => drop.push("dst_port"),
            }
            let ids = [
                ("tunnel", t.kind.as_str().to_string()),
                ("bridge", bridge.clone()),
                ("peer", peer_s.clone()),
                ("key", key.clone().unwrap_or_else(|| "none".into())),
                ("vlan", k.vlan.map_or_else(|| "trunk".into(), |v| v.to_string())),
            ];
            for (k, v) in ids {
                w(&[&format!("external_ids:pipework.{k}={v}")]);
            }
            for d in drop {
                w(&["--", "remove", "Interface", &p, "options", d]);
            }
            w(&["--"]);
            ports.push(p);
        }
    }
    let lower = o.mtu_request.is_none_or(|m| m > f.mtu);
    if lower {
        w(&["set", "Interface", &bridge, &format!("mtu_request={}", f.mtu), "--"]);
    }
    args.pop();
    let made: Vec<String> = ports.iter().filter(|p| !o.existing.contains(p)).cloned().collect();
    let step = Transaction {
        bridge: bridge.clone(),
        args,
        made,
        created_bridge: o.create.is_some(),
        old_mtu_request: if lower { Some(o.mtu_request) } else { None },
    };
    vec![Box::new(step), Box::new(Working { ports })]
}

/// `--detach tunnel`: the ports of the line's keys, towards its peers (or
/// all of them), in one transaction.
pub fn detach(t: &Tunnel, v: &Vsctl) -> Result<Steps> {
    let bridge = t.bridge.to_string();
    let mut args = Vec::new();
    for r in v.interfaces()? {
        let id = |k: &str| r.external_ids.get(&format!("pipework.{k}")).map(String::as_str).unwrap_or("");
        let key_ok = t.keys.iter().any(|k| id("key") == k.key.map_or_else(|| "none".into(), |k| k.to_string()));
        let peer_ok = t.peers.is_empty() || t.peers.iter().any(|p| id("peer") == p.to_string());
        if id("tunnel") == t.kind.as_str() && id("bridge") == bridge && key_ok && peer_ok {
            args.extend(["--if-exists".to_string(), "del-port".into(), bridge.clone(), r.name.clone(), "--".into()]);
        }
    }
    args.pop();
    if args.is_empty() {
        return Ok(Steps::new());
    }
    Ok(vec![Box::new(Transaction { bridge, args, made: Vec::new(), created_bridge: false, old_mtu_request: None })])
}

/// One line per tunnel port of ours: bridge, port, what it is, its state.
pub fn list(bridge: Option<&str>, v: &Vsctl) -> Result<Vec<String>> {
    let rows = match v.interfaces() {
        Ok(r) => r,
        Err(e) if format!("{e:#}").contains("database connection failed") => return Ok(Vec::new()),
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

/// The line's one ovs-vsctl transaction.
#[derive(Debug)]
struct Transaction {
    bridge: String,
    args: Vec<String>,
    /// Ports it adds (not there before): what undo removes.
    made: Vec<String>,
    created_bridge: bool,
    /// Some(previous) when it lowers the bridge's mtu_request.
    old_mtu_request: Option<Option<u32>>,
}

impl Step for Transaction {
    fn command(&self, _: &GuestNames) -> String {
        // Quoted only where a shell needs it (shlex also quotes `=`).
        let plain =
            |a: &str| !a.is_empty() && a.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:=/@,+".contains(&b));
        let quoted: Vec<String> = self
            .args
            .iter()
            .map(|a| if plain(a) { a.clone() } else { shlex::try_quote(a).map_or(a.clone(), |q| q.into()) })
            .collect();
        format!("ovs-vsctl {}", quoted.join(" "))
    }

    fn run(&self, t: &mut Target) -> Result<()> {
        let v = t.vsctl.ok_or_else(|| anyhow::anyhow!("ovs-vsctl is not installed"))?;
        v.transact(&self.args, &format!("setting up the tunnels of {}", self.bridge))?;
        let (bridge, made) = (self.bridge.clone(), self.made.clone());
        let (created, old) = (self.created_bridge, self.old_mtu_request);
        t.on_undo(format!("ovs-vsctl del-port the tunnels of {bridge}"), move |t| {
            let Some(v) = t.vsctl else { return Ok(()) };
            if created {
                return v.transact(&["--if-exists".into(), "del-br".into(), bridge.clone()], "removing the bridge");
            }
            let mut args = Vec::new();
            for p in &made {
                args.extend(["--if-exists".to_string(), "del-port".into(), bridge.clone(), p.clone(), "--".into()]);
            }
            match old {
                Some(Some(m)) => {
                    args.extend(["set".into(), "Interface".into(), bridge.clone(), format!("mtu_request={m}")])
                }
                Some(None) => args.extend(["clear".into(), "Interface".into(), bridge.clone(), "mtu_request".into()]),
                None => {
                    args.pop();
                }
            }
            if args.is_empty() {
                return Ok(());
            }
            v.transact(&args, "taking the tunnels back")
        });
        Ok(())
    }
}

/// ovs-vsctl exits 0 for a tunnel ovs-vswitchd cannot run (a duplicate
/// found too late, a missing datapath feature): each port must have an
/// OpenFlow port number and no error.
#[derive(Debug)]
struct Working {
    ports: Vec<String>,
}

impl Step for Working {
    fn command(&self, _: &GuestNames) -> String {
        format!("# then: each of {} has an ofport and no error", self.ports.join(" "))
    }

    fn run(&self, t: &mut Target) -> Result<()> {
        let Some(v) = t.vsctl else { return Ok(()) };
        let rows = v.interfaces()?;
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
