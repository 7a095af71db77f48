//! Read-only look at host and guest before anything changes. Every refusal a
//! user can meet (unsupported combination, name taken, leftover in the way)
//! happens here, so a refused run has touched nothing.

use anyhow::{bail, Result};
use rtnetlink::packet_route::link::InfoKind;

use crate::dhcp;
use crate::guest::Guest;
use crate::host_if::{self, Kind};
use crate::names;
use crate::netlink::Netlink;
use crate::ovs::{self, Vsctl};
use crate::plan::{Facts, VlanDev};
use crate::request::{parse_pkey, parse_vlan, AddressSpec, Attach, Datapath, DhcpMethod, IfName};

/// MTU of a freshly created Linux bridge with no ports.
const NEW_BRIDGE_MTU: u32 = 1500;

pub async fn gather(
    req: &Attach,
    guest: &Guest,
    host: &Netlink,
    inside: &Netlink,
    vsctl: Option<&Vsctl>,
) -> Result<Facts> {
    let hif = host_if::inspect(host, &req.host_if, vsctl).await?;

    if let AddressSpec::Dhcp { method, .. } = &req.address {
        check_dhcp_client(*method, guest)?;
    }
    if req.vlan.is_some() {
        match hif.kind {
            Kind::LinuxBridge | Kind::NewLinuxBridge => bail!(
                "VLAN configuration is unsupported for a Linux bridge ({}); drop the @VLAN, or use an Open vSwitch bridge",
                hif.name
            ),
            Kind::OvsBridge | Kind::NewOvsBridge | Kind::Physical => {}
            Kind::NewDummy => bail!("@VLAN has no meaning for a dummy interface ({})", hif.name),
            Kind::Ipoib => {}
        }
    }
    // @VLAN is a VLAN ID, except on IPoIB, where it is a partition key.
    let pkey = match (&hif.kind, req.vlan_text.as_deref()) {
        (Kind::Ipoib, text) => {
            if req.mac.is_some() {
                bail!("MAC configuration is unsupported for IPoIB interfaces ({}): InfiniBand has no Ethernet MACs", hif.name);
            }
            text.map(|t| Ok::<_, anyhow::Error>((parse_pkey(t)?, t.trim_start_matches("0x").to_string()))).transpose()?
        }
        (_, Some(t)) if req.vlan.is_none() => return Err(parse_vlan(t).unwrap_err()),
        _ => None,
    };
    let vlan_dev = match (&hif.link, req.vlan) {
        (Some(parent), Some(id)) if hif.kind == Kind::Physical => {
            if req.direct_phys {
                bail!("--direct-phys moves {} itself into the guest; it cannot also take @{id}", hif.name);
            }
            Some(vlan_device(host, parent, id).await?)
        }
        _ => None,
    };
    let is_bridge = matches!(hif.kind, Kind::LinuxBridge | Kind::NewLinuxBridge | Kind::OvsBridge | Kind::NewOvsBridge);
    let new_ovs_datapath = match hif.kind {
        Kind::OvsBridge | Kind::NewOvsBridge if vsctl.is_none() => bail!(
            "{} {}, and that needs ovs-vsctl, which is not installed (apt-get install openvswitch-switch)",
            hif.name,
            if hif.kind == Kind::OvsBridge { "is an Open vSwitch bridge" } else { "does not exist; creating an Open vSwitch bridge" },
        ),
        Kind::NewOvsBridge => Some(new_bridge_datapath(req.ovs.datapath, &hif.name)),
        _ => None,
    };
    if req.direct_phys && hif.kind != Kind::Physical {
        bail!("--direct-phys moves a physical interface into the guest, but {} is a bridge", hif.name);
    }
    if req.host_side.is_some() && !is_bridge {
        // The reference ignores -l here; scripts that pass it must keep working.
        eprintln!("pipework: warning: -l is ignored: {} is not a bridge, so there is no veth host side to name", hif.name);
    }

    let guest_if = match &req.guest_if {
        Some(n) => n.clone(),
        None => IfName::parse(if hif.kind == Kind::Ipoib { "ib0" } else { "eth1" }, "-i")?,
    };
    let mut stale_host_side = false;
    if is_bridge {
        let name = match &req.host_side {
            Some(n) => n.as_str().to_string(),
            None => names::host_veth(guest_if.as_str(), guest.name_id),
        };
        if let Some(l) = host.link(&name).await? {
            if l.up {
                bail!(
                    "interface {name} already exists and is up; an earlier attach of {guest_if} to this \
                     guest is still in place (use -i for another interface, or delete {name})"
                );
            }
            stale_host_side = true;
        }
    }

    if inside.link(guest_if.as_str()).await?.is_some() {
        bail!(
            "guest '{}' already has an interface named {guest_if}; choose another name with -i",
            guest.label
        );
    }

    let (mtu, host_up, host_index) = match &hif.link {
        Some(l) => (l.mtu, l.up, Some(l.index)),
        None => (NEW_BRIDGE_MTU, false, None),
    };
    Ok(Facts {
        host_name: hif.name,
        host_kind: hif.kind,
        mtu,
        host_up,
        host_index,
        nspid: guest.name_id,
        guest_if,
        stale_host_side,
        new_ovs_datapath,
        pid: guest.pid,
        container: guest.container.clone(),
        guest_label: guest.label.clone(),
        vlan_dev,
        pkey,
    })
}

/// `PARENT.VLAN`, the 802.1Q device the macvlan sits on: reused when it is
/// exactly that (the reference meant to check this, but tested a wrong path),
/// refused when the name is taken by anything else.
async fn vlan_device(host: &Netlink, parent: &crate::netlink::Link, id: u16) -> Result<VlanDev> {
    let name = format!("{}.{id}", parent.name);
    if name.len() > crate::request::IFNAMSIZ_MAX {
        bail!("the VLAN device name {name} is longer than Linux's 15 bytes; rename {} or use a shorter VLAN", parent.name);
    }
    match host.link(&name).await? {
        None => Ok(VlanDev { name, exists: false, up: false }),
        Some(l) if l.kind == Some(InfoKind::Vlan) && l.vlan_id == Some(id) && l.parent == Some(parent.index) => {
            Ok(VlanDev { name, exists: true, up: l.up })
        }
        Some(l) => bail!(
            "{name} exists but is not the 802.1Q device for VLAN {id} on {} (it is {}); delete or rename it, \
             or use another VLAN",
            parent.name,
            match (&l.kind, l.vlan_id) {
                (Some(InfoKind::Vlan), Some(other)) => format!("VLAN {other}{}", if l.parent != Some(parent.index) { " of another parent" } else { "" }),
                (Some(k), _) => format!("a {k:?} device").to_lowercase(),
                (None, _) => "a device of unknown kind".into(),
            }
        ),
    }
}

/// The client program must be there before anything is made; `dhcp` runs
/// busybox's udhcpc through Docker, so only Docker guests can use it.
fn check_dhcp_client(method: DhcpMethod, guest: &Guest) -> Result<()> {
    if method == DhcpMethod::DockerBusybox && guest.container.is_none() {
        bail!(
            "the dhcp method runs udhcpc in a busybox container next to a Docker container, but guest '{}' \
             is not a Docker container; use udhcpc, dhclient, dhcpcd or builtin-dhcp instead",
            guest.label
        );
    }
    let Some(program) = method.program() else { return Ok(()) };
    if which::which(program).is_err() {
        bail!(
            "you asked for the DHCP client {program} ({}), but it is not installed (Debian/Ubuntu package: {}); \
             builtin-dhcp needs no client",
            method.keyword(),
            dhcp::package_of(program)
        );
    }
    Ok(())
}

/// The datapath of an OVS bridge this run creates: as asked, else the
/// kernel's when it has one, else userspace, which works everywhere.
fn new_bridge_datapath(asked: Option<Datapath>, bridge: &str) -> Datapath {
    if let Some(dp) = asked {
        return dp;
    }
    if ovs::kernel_datapath_present() {
        return Datapath::System;
    }
    eprintln!(
        "pipework: this kernel has no Open vSwitch datapath (openvswitch module); creating {bridge} with \
         the userspace datapath (datapath_type=netdev). Choose with --ovs-datapath or PIPEWORK_OVS_DATAPATH."
    );
    Datapath::Netdev
}
