//! An Open vSwitch bridge: HOSTIF is one, or a missing `ovs*` name is made
//! into one. The guest gets a veth pair whose host side becomes a port, with
//! its access tag (`@VLAN`) and the reference's external-ids, in a single
//! ovsdb transaction, spoken to ovsdb-server directly.

use anyhow::{bail, Context, Result};

use crate::attach::kinds::device::DeleteInGuest;
use crate::attach::kinds::kind::{no_host_leftovers, Ctx, Entry, Found, Kind, Makes, Probe};
use crate::attach::kinds::veth::{self, HostSide};
use crate::attach::step::{Step, Steps, Target};
use crate::guest::GuestNames;
use crate::request::Datapath;
use crate::sys::ethtool;
use crate::sys::netlink::{Link, LinkKind};
use crate::sys::ovsdb::vswitch::{self, PortSpec, Vswitch};

pub const ENTRY: Entry = Entry { recognise, detach, host_leftovers: no_host_leftovers };

/// MTU of a freshly created OVS bridge's internal port.
const NEW_BRIDGE_MTU: u32 = 1500;

#[derive(Debug)]
struct OvsBridge {
    name: String,
    mtu: u32,
    /// For a bridge to create: its datapath.
    create: Option<Datapath>,
    tag: Option<u16>,
    host_side: HostSide,
    /// Forwarded by ovs-vswitchd itself (`datapath_type=netdev`), which
    /// never completes a checksum a veth left to offload.
    userspace: bool,
}

/// Kernel-datapath OVS bridges say so in their link info. Userspace
/// (`datapath_type=netdev`) ones are tap devices: ovs-vswitchd's management
/// socket for the bridge tells, and only when it is not where OVS_RUNDIR
/// says is ovsdb asked, as the reference asks it. A NIC, veth or macvlan
/// parent never costs a question to ovsdb.
pub fn is_bridge(link: &Link, vswitch: Option<&Vswitch>) -> bool {
    match &link.kind {
        Some(LinkKind::Openvswitch) => link.name != "ovs-system",
        Some(LinkKind::Tun) => {
            vswitch::has_mgmt_socket(&link.name) || vswitch.is_some_and(|v| v.bridge_exists(&link.name))
        }
        _ => false,
    }
}

fn recognise(p: &Probe) -> Result<Option<Box<dyn Kind>>> {
    let name = &p.name;
    let exists = match &p.link {
        Some(l) if is_bridge(l, p.vswitch) => true,
        Some(_) => return Ok(None),
        None if name.starts_with("ovs") => false,
        None if p.vswitch.is_some_and(|v| v.bridge_exists(name)) => bail!(
            "{name} is an Open vSwitch bridge in ovsdb, but ovs-vswitchd has no device for it, so it cannot \
             forward: is ovs-vswitchd running, and does the bridge's datapath exist on this kernel? \
             (ovs-vsctl set Bridge {name} datapath_type=netdev uses the userspace datapath)"
        ),
        None => return Ok(None),
    };
    // The connection the attach's transaction will use, opened now: no
    // ovsdb-server answering is a refusal before anything is made.
    let answers = p.vswitch.map_or_else(|| Err(vswitch::absent(p.req.ovs.db.as_deref())), Vswitch::answers);
    if let Err(e) = answers {
        return Err(anyhow::Error::new(e).context(format!(
            "{name} {}, and that needs Open vSwitch's database (package openvswitch-switch)",
            if exists { "is an Open vSwitch bridge" } else { "does not exist; creating an Open vSwitch bridge" },
        )));
    }
    let tag = p.req.tag.as_ref().map(|t| t.vlan_id()).transpose()?;
    let host_side = HostSide::check(p)?;
    let create = (!exists).then(|| new_bridge_datapath(p.req.ovs.datapath, name));
    let mtu = p.link.as_ref().map_or(NEW_BRIDGE_MTU, |l| l.mtu);
    // An existing kernel-datapath bridge is an openvswitch device; a
    // userspace one is a tap.
    let userspace = match &p.link {
        Some(l) => l.kind != Some(LinkKind::Openvswitch),
        None => create == Some(Datapath::Netdev),
    };
    Ok(Some(Box::new(OvsBridge { name: name.clone(), mtu, create, tag, host_side, userspace })))
}

/// The datapath of an OVS bridge this run creates: as asked, else the
/// kernel's when it has one, else userspace, which works everywhere.
pub fn new_bridge_datapath(asked: Option<Datapath>, bridge: &str) -> Datapath {
    if let Some(dp) = asked {
        return dp;
    }
    if vswitch::kernel_datapath_present() {
        return Datapath::System;
    }
    eprintln!(
        "pipework: this kernel has no Open vSwitch datapath (openvswitch module); creating {bridge} with the \
         userspace datapath (datapath_type=netdev). Choose with --ovs-datapath or PIPEWORK_OVS_DATAPATH."
    );
    Datapath::Netdev
}

impl Kind for OvsBridge {
    fn host_name(&self) -> &str {
        &self.name
    }

    fn makes(&self) -> Makes {
        Makes::VethOnOvsBridge
    }

    fn clears(&self, guest_if: &str) -> bool {
        self.host_side.clears.as_deref() == Some(guest_if)
    }

    fn bring_in(&self, ctx: &Ctx, steps: &mut Steps) -> String {
        self.host_side.make(ctx.guest_if, ctx.req.tuning.mtu.unwrap_or(self.mtu), ctx.req.mac, steps);
        if self.userspace {
            steps.push(Box::new(TxChecksumOff { link: ctx.guest_if.to_string() }));
        }
        let port = self.host_side.name.clone();
        let spec = PortSpec {
            bridge: self.name.clone(),
            port: port.clone(),
            create_bridge: self.create.map(|dp| dp.as_str().to_string()),
            tag: self.tag,
            external_ids: self.external_ids(&port, ctx),
        };
        // Up before it is a port, unlike the reference: ovs-vswitchd turns
        // promiscuous mode on by rewriting the flags it last saw, so an up
        // that lands while it opens the port is undone (the userspace
        // datapath left one guest in four without carrier). Up first, it
        // sees the port up.
        steps.push(Box::new(PortUp { link: port }));
        steps.push(Box::new(AddPort(spec)));
        ctx.guest_if.to_string()
    }

    /// ovs-vswitchd sets the port up while the guest's side is configured;
    /// it must be done before the guest's first packets.
    fn finish(&self, _ctx: &Ctx, steps: &mut Steps) {
        steps.push(Box::new(PortApplied { port: self.host_side.name.clone() }));
    }
}

impl OvsBridge {
    /// The reference's Interface external-ids, those that apply: names the
    /// host-side port, the bridge, the container, the PID and the VLAN.
    fn external_ids(&self, port: &str, ctx: &Ctx) -> Vec<(String, String)> {
        let mut ids = vec![("interface", port.to_string()), ("bridge", self.name.clone())];
        if let Some(c) = &ctx.guest.container {
            ids.push(("containerid", c.id.clone()));
            ids.push(("containername", c.name.clone()));
        }
        if let Some(pid) = ctx.guest.pid {
            ids.push(("nspid", pid.to_string()));
        }
        if let Some(vlan) = self.tag {
            ids.push(("vlan", vlan.to_string()));
        }
        let mut ids: Vec<_> = ids.into_iter().map(|(k, v)| (format!("pipework.{k}"), v)).collect();
        ids.extend(ctx.req.ovs.external_ids.iter().cloned());
        ids
    }
}

/// `ethtool -K LINK tx off` in the guest: on a userspace-datapath bridge,
/// TCP and UDP from a veth that leaves its checksums to offload arrive with
/// bad checksums and are dropped (ping passes; ICMP is checksummed whole).
#[derive(Debug)]
pub(super) struct TxChecksumOff {
    pub(super) link: String,
}

impl Step for TxChecksumOff {
    fn command(&self, g: &GuestNames) -> String {
        format!("{} ethtool -K {} tx off", g.exec, self.link)
    }

    fn run(&self, t: &mut Target) -> Result<()> {
        ethtool::tx_checksum_off(t.guest_ns, &self.link)
    }
}

/// One ovsdb transaction: the bridge if new, the port, tag and ids; printed
/// as the ovs-vsctl command that does the same.
#[derive(Debug)]
pub(super) struct AddPort(pub(super) PortSpec);

impl Step for AddPort {
    fn command(&self, _: &GuestNames) -> String {
        format!("ovs-vsctl {}", self.0.args().join(" "))
    }

    fn run(&self, t: &mut Target) -> Result<()> {
        let spec = &self.0;
        let vswitch = t.vswitch.context("this step needs Open vSwitch's database, and none answers")?;
        let added = vswitch.add_port(spec)?;
        // The bridge's undo first: rollback runs newest first, so the port
        // goes before the bridge is checked for emptiness.
        if added.created_bridge {
            let b = spec.bridge.clone();
            t.on_undo(format!("ovs-vsctl del-br {b} (this run created it)"), move |t| {
                t.vswitch.context("Open vSwitch vanished")?.del_bridge_if_empty(&b)
            });
        }
        if let (false, Some(uuid)) = (added.port_existed, added.port_uuid) {
            let (b, p) = (spec.bridge.clone(), spec.port.clone());
            t.on_undo(format!("ovs-vsctl del-port {b} {p}"), move |t| {
                t.vswitch.context("Open vSwitch vanished")?.remove_port(&b, &uuid)
            });
        }
        match added.error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// ovs-vswitchd has set up the port `AddPort` committed: it has an
/// OpenFlow port number and no error. Nothing to undo: `AddPort`'s undo
/// removes the port.
#[derive(Debug)]
pub(super) struct PortApplied {
    pub(super) port: String,
}

impl Step for PortApplied {
    fn command(&self, _: &GuestNames) -> String {
        format!("# then: ovs-vswitchd has set up port {} (an OpenFlow port number, no error)", self.port)
    }

    fn run(&self, t: &mut Target) -> Result<()> {
        t.vswitch.map_or(Ok(()), |v| v.await_port(&self.port))?;
        // Up again, once ovs-vswitchd is done with the port: where its
        // Interface row was already there (a port reused), ovs-vswitchd
        // opens the veth the moment it appears, before `PortUp`, and may
        // write its stale flags back after it (see `OvsBridge::bring_in`).
        let i = t.host_index(&self.port)?;
        t.host_nl.set_up(i, true).with_context(|| format!("setting {} up", self.port))
    }
}

/// `ip link set PORT up`, just before it becomes a port. No undo of its
/// own: undo deletes the veth.
#[derive(Debug)]
pub(super) struct PortUp {
    pub(super) link: String,
}

impl Step for PortUp {
    fn command(&self, _: &GuestNames) -> String {
        format!("ip link set {} up", self.link)
    }

    fn run(&self, t: &mut Target) -> Result<()> {
        let i = t.host_index(&self.link)?;
        t.host_nl.set_up(i, true).with_context(|| format!("setting {} up", self.link))
    }
}

/// A veth whose host side is not a Linux bridge port, with Open vSwitch
/// installed: its port goes, then the pair.
fn detach(f: &Found) -> Result<Option<Steps>> {
    let Some(peer) = veth::host_peer(f)? else { return Ok(None) };
    if f.vswitch.is_none() || veth::on_linux_bridge(&peer, f.host_nl)? {
        return Ok(None);
    }
    let remove = DeleteInGuest { name: f.link.name.clone(), index: f.link.index, host_side: Some(peer.name.clone()) };
    Ok(Some(vec![Box::new(DelPort { port: peer.name }), Box::new(remove)]))
}

/// `--detach`: the port of this name, on whichever bridge holds it.
#[derive(Debug)]
pub(super) struct DelPort {
    pub(super) port: String,
}

impl Step for DelPort {
    fn command(&self, _: &GuestNames) -> String {
        format!("ovs-vsctl --if-exists del-port {}", self.port)
    }

    /// A veth whose host side is no Linux bridge port may still be no OVS
    /// port either; with no ovsdb-server running, there is nothing to
    /// remove from it, and the pair still goes.
    fn run(&self, t: &mut Target) -> Result<()> {
        let Some(v) = t.vswitch else { return Ok(()) };
        if !v.del_port_anywhere(&self.port)? {
            eprintln!(
                "pipework: note: no ovsdb-server answers, so {} was not removed from Open vSwitch; if it was a port, \
                 run ovs-vsctl --if-exists del-port {} once Open vSwitch is back",
                self.port, self.port
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attach::kinds::kind::testing::{guest, kind_commands, request};
    use crate::guest::Container;

    fn br1(create: Option<Datapath>, tag: Option<u16>) -> Box<dyn Kind> {
        let host_side = HostSide { name: "veth1pl4242".into(), stale: false, clears: None };
        Box::new(OvsBridge { name: "br1".into(), mtu: 1500, create, tag, host_side, userspace: false })
    }

    #[test]
    fn ovs_port_up_then_with_tag_and_ids() {
        let mut g = guest();
        g.container = Some(Container { id: "c0ffee".into(), name: "/web1".into() });
        assert_eq!(
            kind_commands(&*br1(None, Some(100)), &request("10.0.0.2/24"), &g).0[..4],
            [
                "ip link add veth1pl4242 mtu 1500 type veth peer name eth1 mtu 1500 netns 4242",
                "sysctl -qw net/ipv6/conf/veth1pl4242/disable_ipv6=1",
                "ip link set veth1pl4242 up",
                "ovs-vsctl --may-exist add-port br1 veth1pl4242 -- set Port veth1pl4242 tag=100 \
                 -- set Interface veth1pl4242 external-ids:pipework.interface=veth1pl4242 \
                 external-ids:pipework.bridge=br1 external-ids:pipework.containerid=c0ffee \
                 external-ids:pipework.containername=/web1 external-ids:pipework.nspid=4242 \
                 external-ids:pipework.vlan=100",
            ]
        );
    }

    #[test]
    fn userspace_bridges_get_tx_checksums_computed_in_the_guest() {
        let mut kind = OvsBridge {
            name: "sw0".into(),
            mtu: 1500,
            create: None,
            tag: None,
            host_side: HostSide { name: "veth1pl4242".into(), stale: false, clears: None },
            userspace: true,
        };
        let (c, _) = kind_commands(&kind, &request("10.0.0.2/24"), &guest());
        assert_eq!(c[2], "nsenter -t 4242 -n ethtool -K eth1 tx off", "{c:?}");
        kind.userspace = false;
        let (c, _) = kind_commands(&kind, &request("10.0.0.2/24"), &guest());
        assert!(!c.iter().any(|l| l.contains("ethtool")), "{c:?}");
    }

    #[test]
    fn new_ovs_bridge_is_made_in_the_port_transaction() {
        let mut g = guest();
        g.pid = None;
        let (c, _) = kind_commands(&*br1(Some(Datapath::Netdev), None), &request("10.0.0.2/24"), &g);
        assert!(!c.iter().any(|l| l.contains("type bridge")), "{c:?}");
        assert!(c[3].starts_with(
            "ovs-vsctl --may-exist add-br br1 -- set Bridge br1 datapath_type=netdev -- --may-exist add-port br1 veth1pl4242"
        ));
        assert!(!c[3].contains("nspid"), "no PID, no pipework.nspid");
    }
}
