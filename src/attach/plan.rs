//! Request + facts → an ordered list of small steps. Pure: no I/O, so every
//! decision about what to create and in which order is unit-tested without
//! root, and the same steps print as the iproute2 commands they stand for.

use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;
use macaddr::MacAddr6;

use crate::dhcp::DhcpSpec;
use crate::guest::Container;
use crate::host_if::Kind;
use crate::names;
use crate::ovs::PortSpec;
use crate::request::{format_mac, AddressSpec, Attach, Datapath, Family, IfName};

/// What the world looks like, reduced to plain values the plan needs.
#[derive(Debug, Clone)]
pub struct Facts {
    pub host_name: String,
    pub host_kind: Kind,
    /// MTU the new device inherits: the host interface's (1500 for a bridge
    /// about to be created, the kernel's default).
    pub mtu: u32,
    pub host_up: bool,
    /// Its index, when it exists. The plan does not need it; apply starts
    /// from it instead of asking the kernel again.
    pub host_index: Option<u32>,
    pub nspid: u64,
    /// GUESTIF with its default filled in.
    pub guest_if: IfName,
    /// The veth host-side name exists and is down: the reference deletes it.
    pub stale_host_side: bool,
    /// For an OVS bridge to create: its datapath.
    pub new_ovs_datapath: Option<Datapath>,
    /// The guest's PID and Docker identity, for OVS external-ids.
    pub pid: Option<u32>,
    pub container: Option<Container>,
    /// The guest as the user named it: the DHCP hostname.
    pub guest_label: String,
    /// `@VLAN` on a physical parent: the 802.1Q device the macvlan sits on.
    pub vlan_dev: Option<VlanDev>,
    /// `@PKEY` on an IPoIB parent: the key, and its text as typed (it is
    /// part of the child's name, as in the reference).
    pub pkey: Option<(u16, String)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VlanDev {
    pub name: String,
    /// It is already there (and right): reused, never deleted.
    pub exists: bool,
    pub up: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// `ip link add BR type bridge; ip link set BR up`
    CreateBridge { name: String },
    /// A down leftover of an earlier run, in the host.
    DeleteStaleLink { name: String },
    /// Host side in the host, peer born in the guest under its final name.
    CreateVeth { host: String, guest: String, mtu: u32, mac: Option<MacAddr6> },
    /// Host side joins the bridge and comes up.
    Enslave { link: String, bridge: String },
    /// One ovs-vsctl transaction: the bridge if new, the port, tag and ids.
    AddOvsPort(PortSpec),
    /// Obtain and apply a DHCP lease, once the link passes traffic (on a
    /// bridge: once the port forwards), so the first request is not lost.
    Dhcp { spec: DhcpSpec, bridge_port: Option<String> },
    /// The veth host side comes up (on OVS, after it became a port, as in
    /// the reference). No undo of its own: undo deletes the veth.
    PortUp { link: String },
    /// `PARENT.VLAN` in the host, with the parent's MTU.
    CreateVlan { name: String, parent: String, id: u16, mtu: u32 },
    /// An IPoIB child of the parent, born in the guest under its reference
    /// name (`PARENT.NSPID` or `PARENT.PKEY.NSPID`).
    CreateIpoib { name: String, parent: String, pkey: Option<u16> },
    /// A dummy born in the guest under a temporary name.
    CreateDummy { name: String, mac: Option<MacAddr6> },
    /// Macvlan born in the guest under a temporary name.
    CreateMacvlan { name: String, parent: String, mtu: u32, mac: Option<MacAddr6> },
    /// `ip link set PARENT up` in the host.
    HostUp { link: String },
    /// `--direct-phys`: the device itself moves into the guest, renamed; its
    /// alias keeps the host name, for `--detach` to send it home.
    MoveToGuest { link: String, new_name: String, mac: Option<MacAddr6> },
    RenameInGuest { from: String, to: String },
    AddAddress { link: String, addr: IpNet },
    GuestUp { link: String },
    /// Delete the guest's default routes of this family (kept for undo).
    DropDefaultRoutes { family: Family },
    /// `ip route add GW/32 dev IF`: the gateway is not in our prefix.
    AddGatewayRoute { link: String, gateway: IpAddr },
    ReplaceDefault { link: String, gateway: IpAddr },
    /// One gratuitous ARP so neighbours learn the new address. On a bridge
    /// it waits until the host side forwards, or the bridge would drop it.
    Announce { link: String, ip: Ipv4Addr, bridge_port: Option<String> },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub steps: Vec<Step>,
}

/// The alias a device moved in by `--direct-phys` carries: its host name.
pub const HOME_ALIAS_PREFIX: &str = "pipework-home:";

pub fn plan(req: &Attach, f: &Facts) -> Plan {
    let mut steps = Vec::new();
    let guest_if = f.guest_if.as_str().to_string();
    let mut bridge_port = None;

    match f.host_kind {
        Kind::LinuxBridge | Kind::NewLinuxBridge | Kind::OvsBridge | Kind::NewOvsBridge => {
            if f.host_kind == Kind::NewLinuxBridge {
                steps.push(Step::CreateBridge { name: f.host_name.clone() });
            }
            let host = match &req.host_side {
                Some(n) => n.as_str().to_string(),
                None => names::host_veth(&guest_if, f.nspid),
            };
            if f.stale_host_side {
                steps.push(Step::DeleteStaleLink { name: host.clone() });
            }
            steps.push(Step::CreateVeth { host: host.clone(), guest: guest_if.clone(), mtu: f.mtu, mac: req.mac });
            if matches!(f.host_kind, Kind::LinuxBridge | Kind::NewLinuxBridge) {
                steps.push(Step::Enslave { link: host.clone(), bridge: f.host_name.clone() });
                // A bridge that is down never makes its ports forward: no use
                // waiting for that before announcing or asking for a lease.
                if f.host_up || f.host_kind == Kind::NewLinuxBridge {
                    bridge_port = Some(host);
                }
            } else {
                steps.push(Step::AddOvsPort(PortSpec {
                    bridge: f.host_name.clone(),
                    port: host.clone(),
                    create_bridge: if f.host_kind == Kind::NewOvsBridge { f.new_ovs_datapath } else { None },
                    tag: req.vlan,
                    external_ids: external_ids(&host, req, f),
                }));
                steps.push(Step::PortUp { link: host });
            }
        }
        Kind::Physical if req.direct_phys => {
            steps.push(Step::MoveToGuest { link: f.host_name.clone(), new_name: guest_if.clone(), mac: req.mac });
        }
        Kind::Physical => {
            let mut parent = f.host_name.clone();
            if let (Some(v), Some(id)) = (&f.vlan_dev, req.vlan) {
                if !v.exists {
                    steps.push(Step::CreateVlan { name: v.name.clone(), parent: parent.clone(), id, mtu: f.mtu });
                }
                parent = v.name.clone();
            }
            let temp = names::macvlan(f.nspid, &guest_if);
            steps.push(Step::CreateMacvlan { name: temp.clone(), parent, mtu: f.mtu, mac: req.mac });
            if temp != guest_if {
                steps.push(Step::RenameInGuest { from: temp, to: guest_if.clone() });
            }
        }
        // Refused while gathering facts; nothing to plan.
        Kind::NewDummy => {
            let temp = names::dummy(f.nspid, &guest_if);
            steps.push(Step::CreateDummy { name: temp.clone(), mac: req.mac });
            if temp != guest_if {
                steps.push(Step::RenameInGuest { from: temp, to: guest_if.clone() });
            }
        }
        Kind::Ipoib => {
            let child = match &f.pkey {
                Some((_, text)) => format!("{}.{text}.{}", f.host_name, f.nspid),
                None => format!("{}.{}", f.host_name, f.nspid),
            };
            steps.push(Step::CreateIpoib { name: child.clone(), parent: f.host_name.clone(), pkey: f.pkey.as_ref().map(|p| p.0) });
            steps.push(Step::RenameInGuest { from: child, to: guest_if.clone() });
        }
    }

    let (addr, gateway) = match &req.address {
        AddressSpec::Static { addr, gateway } => (Some(*addr), *gateway),
        AddressSpec::None { gateway } => (None, *gateway),
        AddressSpec::Dhcp { .. } => (None, None),
    };
    if let Some(addr) = addr {
        steps.push(Step::AddAddress { link: guest_if.clone(), addr });
    }
    steps.push(Step::GuestUp { link: guest_if.clone() });
    if let Some(gw) = gateway {
        steps.push(Step::DropDefaultRoutes { family: Family::of(&gw) });
        // The reference asks the kernel whether GW is reachable; the only
        // route that can make it reachable over this new interface is the
        // prefix of its address, so the answer is known here.
        if !addr.is_some_and(|a| a.contains(&gw)) {
            steps.push(Step::AddGatewayRoute { link: guest_if.clone(), gateway: gw });
        }
        steps.push(Step::ReplaceDefault { link: guest_if.clone(), gateway: gw });
    }
    // A down macvlan parent comes up last: bringing a link up has effects
    // that cannot be taken back (qdisc, the peer's IPv6 link-local), so no
    // step that can still fail comes after it. DHCP is the exception: its
    // packets leave through the parent.
    if (f.host_kind == Kind::Physical && !req.direct_phys) || f.host_kind == Kind::Ipoib {
        if !f.host_up {
            steps.push(Step::HostUp { link: f.host_name.clone() });
        }
        if let Some(v) = f.vlan_dev.as_ref().filter(|v| !v.up) {
            steps.push(Step::HostUp { link: v.name.clone() });
        }
    }
    if let AddressSpec::Dhcp { method, options } = &req.address {
        let spec = DhcpSpec {
            link: guest_if.clone(),
            method: *method,
            options: options.clone(),
            hostname: f.guest_label.clone(),
            container: f.container.as_ref().map(|c| c.id.clone()),
            guest_pid: f.pid,
            timeout: req.dhcp_timeout,
        };
        steps.push(Step::Dhcp { spec, bridge_port: bridge_port.clone() });
    }
    if let Some(IpAddr::V4(ip)) = addr.map(|a| a.addr()) {
        steps.push(Step::Announce { link: guest_if, ip, bridge_port });
    }
    Plan { steps }
}

/// The reference's Interface external-ids, those that apply: names the
/// host-side port, the bridge, the Docker container, the PID and the VLAN.
fn external_ids(port: &str, req: &Attach, f: &Facts) -> Vec<(String, String)> {
    let mut ids = vec![("interface", port.to_string()), ("bridge", f.host_name.clone())];
    if let Some(c) = &f.container {
        ids.push(("containerid", c.id.clone()));
        ids.push(("containername", c.name.clone()));
    }
    if let Some(pid) = f.pid {
        ids.push(("nspid", pid.to_string()));
    }
    if let Some(vlan) = req.vlan {
        ids.push(("vlan", vlan.to_string()));
    }
    ids.into_iter().map(|(k, v)| (format!("pipework.{k}"), v)).collect()
}

/// How printed commands reach the guest's namespace, so that `--dry-run`
/// output can be pasted into a shell.
#[derive(Debug, Clone)]
pub struct GuestNames {
    /// Runs a program inside: `nsenter -t PID -n`, `ip netns exec NAME`.
    pub exec: String,
    /// `ip` inside: `ip -n NAME`, or `ip` under `exec`.
    pub ip: String,
    /// What `ip link … netns X` takes: a PID or a name.
    pub netns: String,
}

impl GuestNames {
    pub fn pid(pid: u32) -> GuestNames {
        GuestNames { exec: format!("nsenter -t {pid} -n"), ip: format!("nsenter -t {pid} -n ip"), netns: pid.to_string() }
    }

    pub fn named(name: &str) -> GuestNames {
        GuestNames { exec: format!("ip netns exec {name}"), ip: format!("ip -n {name}"), netns: name.to_string() }
    }

    /// A namespace known only by its file: `ip link … netns` cannot name it,
    /// so those lines show the path for the reader.
    pub fn path(path: &str) -> GuestNames {
        GuestNames { exec: format!("nsenter --net={path}"), ip: format!("nsenter --net={path} ip"), netns: path.to_string() }
    }
}

impl Plan {
    /// `--dry-run`: the plan as commands, one per line.
    pub fn print(&self, names: &GuestNames) {
        for step in &self.steps {
            println!("{}", step.command(names));
        }
    }
}

impl Step {
    /// The equivalent command line, as `--dry-run` prints it.
    pub fn command(&self, names: &GuestNames) -> String {
        let g = &names.ip;
        let guest = &names.netns;
        match self {
            Step::CreateBridge { name } => format!("ip link add {name} type bridge && ip link set {name} up"),
            Step::DeleteStaleLink { name } => format!("ip link del {name}"),
            Step::CreateVeth { host, guest: peer, mtu, mac } => format!(
                "ip link add {host} mtu {mtu} type veth peer name {peer} mtu {mtu}{} netns {guest}",
                mac.map(|m| format!(" address {}", format_mac(&m))).unwrap_or_default()
            ),
            Step::Enslave { link, bridge } => format!("ip link set {link} master {bridge} up"),
            Step::AddOvsPort(spec) => format!("ovs-vsctl {}", spec.args().join(" ")),
            Step::PortUp { link } => format!("ip link set {link} up"),
            Step::Dhcp { spec, .. } => spec.describe(&names.exec),
            Step::CreateVlan { name, parent, id, mtu } => {
                format!("ip link add link {parent} name {name} mtu {mtu} type vlan id {id}")
            }
            Step::CreateIpoib { name, parent, pkey } => format!(
                "ip link add link {parent} name {name} netns {guest} type ipoib{}",
                pkey.map(|k| format!(" pkey 0x{k:x}")).unwrap_or_default()
            ),
            Step::CreateDummy { name, mac } => format!(
                "ip link add {name}{} netns {guest} type dummy",
                mac.map(|m| format!(" address {}", format_mac(&m))).unwrap_or_default()
            ),
            Step::CreateMacvlan { name, parent, mtu, mac } => format!(
                "ip link add link {parent} name {name} mtu {mtu}{} netns {guest} type macvlan mode bridge",
                mac.map(|m| format!(" address {}", format_mac(&m))).unwrap_or_default()
            ),
            Step::HostUp { link } => format!("ip link set {link} up"),
            Step::MoveToGuest { link, new_name, mac } => format!(
                "ip link set {link} netns {guest} name {new_name} alias {HOME_ALIAS_PREFIX}{link}{}",
                mac.map(|m| format!(" && {g} link set {new_name} address {}", format_mac(&m))).unwrap_or_default()
            ),
            Step::RenameInGuest { from, to } => format!("{g} link set {from} name {to}"),
            Step::AddAddress { link, addr } => match addr {
                IpNet::V4(a) if a.prefix_len() < 31 => format!("{g} addr add {addr} brd {} dev {link}", a.broadcast()),
                _ => format!("{g} addr add {addr} dev {link}"),
            },
            Step::GuestUp { link } => format!("{g} link set {link} up"),
            Step::DropDefaultRoutes { family } => format!("{g} -f {family} route del default"),
            Step::AddGatewayRoute { link, gateway } => format!("{g} route add {gateway} dev {link} scope link"),
            Step::ReplaceDefault { link, gateway } => format!("{g} route replace default via {gateway} dev {link}"),
            Step::Announce { link, ip, .. } => format!("{} arping -c 1 -A -I {link} {ip}", names.exec),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::{GuestRef, HostIfRef};

    fn attach(addr: &str) -> Attach {
        Attach {
            host_if: HostIfRef::Name(IfName::parse("br1", "t").unwrap()),
            guest_if: None,
            host_side: None,
            guest: GuestRef::Auto("web1".into()),
            address: AddressSpec::parse(addr, None).unwrap(),
            mac: None,
            vlan: None,
            vlan_text: None,
            direct_phys: false,
            ovs: Default::default(),
            dhcp_timeout: std::time::Duration::from_secs(30),
        }
    }

    fn facts(kind: Kind) -> Facts {
        Facts {
            host_name: "br1".into(),
            host_kind: kind,
            mtu: 1500,
            host_up: true,
            host_index: None,
            nspid: 4242,
            guest_if: IfName::parse("eth1", "t").unwrap(),
            stale_host_side: false,
            new_ovs_datapath: None,
            pid: Some(4242),
            container: None,
            guest_label: "web1".into(),
            vlan_dev: None,
            pkey: None,
        }
    }

    fn commands(p: &Plan) -> Vec<String> {
        p.steps.iter().map(|s| s.command(&GuestNames::pid(4242))).collect()
    }

    #[test]
    fn bridge_with_gateway_in_prefix() {
        let p = plan(&attach("10.10.103.95/24@10.10.103.254"), &facts(Kind::LinuxBridge));
        assert_eq!(
            commands(&p),
            [
                "ip link add veth1pl4242 mtu 1500 type veth peer name eth1 mtu 1500 netns 4242",
                "ip link set veth1pl4242 master br1 up",
                "nsenter -t 4242 -n ip addr add 10.10.103.95/24 brd 10.10.103.255 dev eth1",
                "nsenter -t 4242 -n ip link set eth1 up",
                "nsenter -t 4242 -n ip -f inet route del default",
                "nsenter -t 4242 -n ip route replace default via 10.10.103.254 dev eth1",
                "nsenter -t 4242 -n arping -c 1 -A -I eth1 10.10.103.95",
            ]
        );
    }

    #[test]
    fn off_link_gateway_gets_a_host_route() {
        let p = plan(&attach("10.0.0.2/32@192.168.9.1"), &facts(Kind::LinuxBridge));
        assert!(p.steps.contains(&Step::AddGatewayRoute { link: "eth1".into(), gateway: "192.168.9.1".parse().unwrap() }));
    }

    #[test]
    fn new_bridge_and_stale_host_side() {
        let mut f = facts(Kind::NewLinuxBridge);
        f.stale_host_side = true;
        let p = plan(&attach("10.0.0.2/24"), &f);
        assert_eq!(p.steps[0], Step::CreateBridge { name: "br1".into() });
        assert_eq!(p.steps[1], Step::DeleteStaleLink { name: "veth1pl4242".into() });
    }

    #[test]
    fn macvlan_is_born_in_the_guest_then_renamed() {
        let mut f = facts(Kind::Physical);
        f.host_name = "eth2".into();
        f.host_up = false;
        let p = plan(&attach("0/0"), &f);
        assert_eq!(
            commands(&p),
            [
                "ip link add link eth2 name ph4242eth1 mtu 1500 netns 4242 type macvlan mode bridge",
                "nsenter -t 4242 -n ip link set ph4242eth1 name eth1",
                "nsenter -t 4242 -n ip link set eth1 up",
                "ip link set eth2 up",
            ]
        );
    }

    #[test]
    fn direct_phys_moves_the_device() {
        let mut a = attach("10.0.0.9/24");
        a.direct_phys = true;
        let mut f = facts(Kind::Physical);
        f.host_name = "eth2".into();
        let p = plan(&a, &f);
        assert_eq!(p.steps[0], Step::MoveToGuest { link: "eth2".into(), new_name: "eth1".into(), mac: None });
    }

    #[test]
    fn ovs_port_with_tag_and_ids_then_up() {
        let mut a = attach("10.0.0.2/24");
        a.vlan = Some(100);
        let mut f = facts(Kind::OvsBridge);
        f.container = Some(Container { id: "c0ffee".into(), name: "/web1".into() });
        assert_eq!(
            commands(&plan(&a, &f))[..3],
            [
                "ip link add veth1pl4242 mtu 1500 type veth peer name eth1 mtu 1500 netns 4242",
                "ovs-vsctl --may-exist add-port br1 veth1pl4242 -- set Port veth1pl4242 tag=100 \
                 -- set Interface veth1pl4242 external-ids:pipework.interface=veth1pl4242 \
                 external-ids:pipework.bridge=br1 external-ids:pipework.containerid=c0ffee \
                 external-ids:pipework.containername=/web1 external-ids:pipework.nspid=4242 \
                 external-ids:pipework.vlan=100",
                "ip link set veth1pl4242 up",
            ]
        );
    }

    #[test]
    fn new_ovs_bridge_is_made_in_the_port_transaction() {
        let mut f = facts(Kind::NewOvsBridge);
        f.new_ovs_datapath = Some(Datapath::Netdev);
        f.pid = None;
        let p = plan(&attach("10.0.0.2/24"), &f);
        assert!(!p.steps.iter().any(|s| matches!(s, Step::CreateBridge { .. })));
        assert!(commands(&p)[1].starts_with(
            "ovs-vsctl --may-exist add-br br1 -- set Bridge br1 datapath_type=netdev -- --may-exist add-port br1 veth1pl4242"
        ));
        assert!(!commands(&p)[1].contains("nspid"), "no PID, no pipework.nspid");
    }

    #[test]
    fn dhcp_comes_last_after_a_down_parent_is_up() {
        let mut f = facts(Kind::Physical);
        f.host_name = "eth2".into();
        f.host_up = false;
        let p = plan(&attach("udhcpc"), &f);
        assert_eq!(
            commands(&p)[2..],
            [
                "nsenter -t 4242 -n ip link set eth1 up",
                "ip link set eth2 up",
                "nsenter -t 4242 -n udhcpc -q -i eth1 -x hostname:web1 -p /var/run/udhcpc.web1.pid",
            ]
        );
    }

    #[test]
    fn vlan_on_a_physical_parent() {
        let mut a = attach("10.0.0.2/24");
        a.vlan = Some(100);
        let mut f = facts(Kind::Physical);
        f.host_name = "eth2".into();
        f.host_up = false;
        f.vlan_dev = Some(VlanDev { name: "eth2.100".into(), exists: false, up: false });
        let c = commands(&plan(&a, &f));
        assert_eq!(c[0], "ip link add link eth2 name eth2.100 mtu 1500 type vlan id 100");
        assert_eq!(c[1], "ip link add link eth2.100 name ph4242eth1 mtu 1500 netns 4242 type macvlan mode bridge");
        assert_eq!(c[c.len() - 3..c.len() - 1], ["ip link set eth2 up", "ip link set eth2.100 up"]);
        // An existing, right, up device is only used.
        f.vlan_dev = Some(VlanDev { name: "eth2.100".into(), exists: true, up: true });
        let c = commands(&plan(&a, &f));
        assert!(c[0].starts_with("ip link add link eth2.100 name ph4242eth1"));
        assert!(!c.iter().any(|l| l.contains("eth2.100 up")));
    }

    #[test]
    fn ipoib_child_with_and_without_a_partition_key() {
        let mut f = facts(Kind::Ipoib);
        f.host_name = "ib0".into();
        f.guest_if = IfName::parse("ib0", "t").unwrap();
        f.host_up = false;
        let c = commands(&plan(&attach("10.9.0.2/16"), &f));
        assert_eq!(
            c[..2],
            ["ip link add link ib0 name ib0.4242 netns 4242 type ipoib", "nsenter -t 4242 -n ip link set ib0.4242 name ib0"]
        );
        assert!(c.contains(&"ip link set ib0 up".to_string()));
        f.pkey = Some((0x8001, "8001".into()));
        let c = commands(&plan(&attach("10.9.0.2/16"), &f));
        assert_eq!(c[0], "ip link add link ib0 name ib0.8001.4242 netns 4242 type ipoib pkey 0x8001");
    }

    #[test]
    fn dummy_is_born_in_the_guest() {
        let mut f = facts(Kind::NewDummy);
        f.host_name = "dummy0".into();
        let c = commands(&plan(&attach("10.0.0.2/24@10.0.0.1"), &f));
        assert_eq!(c[..2], ["ip link add du4242eth1 netns 4242 type dummy", "nsenter -t 4242 -n ip link set du4242eth1 name eth1"]);
    }

    #[test]
    fn ipv6_has_no_arp() {
        let p = plan(&attach("2001:db8::5/64@2001:db8::1"), &facts(Kind::LinuxBridge));
        assert!(!p.steps.iter().any(|s| matches!(s, Step::Announce { .. })));
        assert!(p.steps.contains(&Step::DropDefaultRoutes { family: Family::V6 }));
    }
}
