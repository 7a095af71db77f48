//! What the first argument is on this host: decided in the reference's order,
//! read over netlink in our own namespace (sysfs would show the namespace that
//! mounted it, not necessarily ours).

use anyhow::{bail, Result};
use rtnetlink::packet_route::link::{InfoKind, LinkLayerType};

use crate::netlink::{Link, Netlink};
use crate::ovs::{self, Vsctl};
use crate::request::{format_mac, HostIfRef};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    LinuxBridge,
    OvsBridge,
    /// IPoIB parent (ARP type 32).
    Ipoib,
    /// Anything else that exists: the macvlan parent.
    Physical,
    /// Names that do not exist yet, by prefix.
    NewLinuxBridge,
    NewOvsBridge,
    NewDummy,
}

#[derive(Debug, Clone)]
pub struct HostIf {
    pub name: String,
    pub kind: Kind,
    /// None for the `New*` kinds.
    pub link: Option<Link>,
}

/// `vsctl` is None when ovs-vsctl is not installed.
pub async fn inspect(nl: &Netlink, r: &HostIfRef, vsctl: Option<&Vsctl>) -> Result<HostIf> {
    let link = match r {
        HostIfRef::Name(n) => nl.link(n.as_str()).await?,
        HostIfRef::Mac(mac) => {
            let found = nl.links().await?.into_iter().find(|l| l.mac.as_deref() == Some(mac.as_bytes()));
            match found {
                Some(l) => Some(l),
                None => bail!("no host interface has the MAC address {}", format_mac(mac)),
            }
        }
    };
    let Some(link) = link else {
        let name = r.to_string();
        let kind = if name.starts_with("br") {
            Kind::NewLinuxBridge
        } else if name.starts_with("ovs") {
            Kind::NewOvsBridge
        } else if name.starts_with("dummy") {
            Kind::NewDummy
        } else if vsctl.is_some_and(|v| v.bridge_exists(&name)) {
            bail!(
                "{name} is an Open vSwitch bridge in ovsdb, but ovs-vswitchd has no device for it, so it \
                 cannot forward: is ovs-vswitchd running, and does the bridge's datapath exist on this kernel? \
                 (ovs-vsctl set Bridge {name} datapath_type=netdev uses the userspace datapath)"
            );
        } else {
            bail!(
                "I do not know how to set up interface {name}: it does not exist, and only names \
                 starting with br (Linux bridge), ovs (Open vSwitch bridge) or dummy are created on demand"
            );
        };
        return Ok(HostIf { name, kind, link: None });
    };
    let kind = if link.kind == Some(InfoKind::Bridge) {
        Kind::LinuxBridge
    } else if is_ovs_bridge(&link, vsctl) {
        Kind::OvsBridge
    } else if link.link_layer == LinkLayerType::Infiniband {
        Kind::Ipoib
    } else {
        Kind::Physical
    };
    Ok(HostIf { name: link.name.clone(), kind, link: Some(link) })
}

/// Kernel-datapath OVS bridges say so in their link info. Userspace
/// (`datapath_type=netdev`) ones are tap devices: ovs-vswitchd's management
/// socket for the bridge tells, and only when it is not where OVS_RUNDIR
/// says is ovsdb asked, as the reference asks it. A NIC, veth or macvlan
/// parent never costs a fork of ovs-vsctl.
fn is_ovs_bridge(link: &Link, vsctl: Option<&Vsctl>) -> bool {
    match &link.kind {
        Some(InfoKind::Other(k)) if k == "openvswitch" => link.name != "ovs-system",
        Some(InfoKind::Tun) => ovs::has_mgmt_socket(&link.name) || vsctl.is_some_and(|v| v.bridge_exists(&link.name)),
        _ => false,
    }
}
