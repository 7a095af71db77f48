//! Read-only look at host and guest before anything changes. Every refusal a
//! user can meet (unsupported combination, name taken, leftover in the way)
//! happens here, so a refused run has touched nothing.

use anyhow::{anyhow, bail, Result};

use crate::dhcp;
use crate::guest::Guest;
use crate::host_if::{self, Kind};
use crate::names;
use crate::netlink::Netlink;
use crate::ovs::{self, Vsctl};
use crate::plan::Facts;
use crate::request::{AddressSpec, Attach, Datapath, DhcpMethod, IfName};

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

    let not_yet =
        |what: &str| anyhow!("{what} is not supported by this build of pipework yet (host interface {})", hif.name);
    match hif.kind {
        Kind::NewDummy => return Err(not_yet("creating a dummy interface")),
        Kind::Ipoib => return Err(not_yet("IPoIB")),
        _ => {}
    }
    if let AddressSpec::Dhcp { method, .. } = &req.address {
        check_dhcp_client(*method, guest)?;
    }
    if req.vlan.is_some() {
        match hif.kind {
            Kind::LinuxBridge | Kind::NewLinuxBridge => bail!(
                "VLAN configuration is unsupported for a Linux bridge ({}); drop the @VLAN, or use an Open vSwitch bridge",
                hif.name
            ),
            Kind::OvsBridge | Kind::NewOvsBridge => {}
            _ => return Err(not_yet("@VLAN on a physical interface (802.1Q)")),
        }
    }
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
    })
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
    let program = match method {
        DhcpMethod::DockerBusybox => "docker",
        DhcpMethod::Udhcpc { .. } => "udhcpc",
        DhcpMethod::Dhclient { .. } => "dhclient",
        DhcpMethod::Dhcpcd => "dhcpcd",
        DhcpMethod::Builtin { .. } => return Ok(()),
    };
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
