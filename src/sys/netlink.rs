//! The door to route netlink: the only module that names rtnetlink,
//! netlink-packet-route or tokio for it. rtnetlink changes its API in most
//! minor releases, so every request is built here, and the rest of pipework
//! sees a synchronous `Netlink` and our own small types (`Link`, `LinkKind`,
//! `SavedRoute`).
//!
//! rtnetlink is async: each `Netlink` drives its requests to completion on a
//! current-thread tokio runtime it shares with the connections opened from
//! it (`open_in`), so the callers never see a future.

use std::fs::File;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsFd, AsRawFd};
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use futures::{FutureExt, StreamExt, TryStreamExt};
use ipnet::IpNet;
use macaddr::MacAddr6;
use netlink_packet_core::{
    NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_APPEND, NLM_F_CREATE, NLM_F_DUMP, NLM_F_REQUEST,
};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use rtnetlink::packet_route::address::{AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage};
use rtnetlink::packet_route::link::{
    AfSpecBridge, BridgePortState, BridgeVlanInfo, BridgeVlanInfoFlags, InfoBridge, InfoBridgePort, InfoData, InfoKind,
    InfoMacVlan, InfoPortData, InfoVeth, InfoVlan, InfoVxlan, IpVlanFlags, IpVlanMode, LinkAttribute, LinkExtentMask,
    LinkFlags, LinkInfo, LinkLayerType, LinkMessage, MacVlanMode, State,
};
// Boot is what `ip route add` uses: routes look exactly like the reference's.
use rtnetlink::packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage, NeighbourState,
};
use rtnetlink::packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use rtnetlink::packet_route::rule::{RuleAction, RuleAttribute, RuleMessage};
use rtnetlink::packet_route::{AddressFamily, RouteNetlinkMessage};
use rtnetlink::{Handle, LinkBridge, LinkBridgeVlan, LinkMessageBuilder, LinkUnspec, RouteMessageBuilder};

use crate::sys::netns;

/// A route-netlink connection bound to one network namespace.
pub struct Netlink {
    rt: Rc<tokio::runtime::Runtime>,
    handle: Handle,
    /// The namespace the socket was opened in, when not the thread's own:
    /// where a subscription to its notifications must be opened too.
    ns: Option<Rc<File>>,
}

/// The kind of a link, as the kernel names it in IFLA_INFO_KIND.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkKind {
    Bridge,
    Veth,
    Macvlan,
    Macvtap,
    Ipvlan,
    Dummy,
    /// An 802.1Q device.
    Vlan,
    Ipoib,
    /// TUN/TAP; userspace-datapath OVS bridges are tap devices.
    Tun,
    /// A kernel-datapath Open vSwitch device.
    Openvswitch,
    Vxlan,
    Other(String),
}

impl LinkKind {
    fn from_info(k: InfoKind) -> LinkKind {
        match k {
            InfoKind::Bridge => LinkKind::Bridge,
            InfoKind::Veth => LinkKind::Veth,
            InfoKind::MacVlan => LinkKind::Macvlan,
            InfoKind::MacVtap => LinkKind::Macvtap,
            InfoKind::IpVlan => LinkKind::Ipvlan,
            InfoKind::Dummy => LinkKind::Dummy,
            InfoKind::Vlan => LinkKind::Vlan,
            InfoKind::Ipoib => LinkKind::Ipoib,
            InfoKind::Tun => LinkKind::Tun,
            InfoKind::Vxlan => LinkKind::Vxlan,
            InfoKind::Other(k) if k == "openvswitch" => LinkKind::Openvswitch,
            other => LinkKind::Other(other.to_string()),
        }
    }
}

impl std::fmt::Display for LinkKind {
    /// The kernel's own word for the kind, as `ip -d link` shows it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LinkKind::Bridge => "bridge",
            LinkKind::Veth => "veth",
            LinkKind::Macvlan => "macvlan",
            LinkKind::Macvtap => "macvtap",
            LinkKind::Ipvlan => "ipvlan",
            LinkKind::Dummy => "dummy",
            LinkKind::Vlan => "vlan",
            LinkKind::Ipoib => "ipoib",
            LinkKind::Tun => "tun",
            LinkKind::Openvswitch => "openvswitch",
            LinkKind::Vxlan => "vxlan",
            LinkKind::Other(k) => k,
        })
    }
}

/// How an ipvlan switches, in `ip link … type ipvlan` words: mode `l2`,
/// `l3` or `l3s`; flag `bridge` (the default), `private` or `vepa`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpvlanSwitching {
    pub mode: &'static str,
    pub flag: &'static str,
}

/// What we read of a link.
#[derive(Debug, Clone)]
pub struct Link {
    pub index: u32,
    pub name: String,
    pub mtu: u32,
    /// None for a device without a kind: a physical NIC.
    pub kind: Option<LinkKind>,
    /// An InfiniBand link layer (ARP type 32): IPoIB.
    pub infiniband: bool,
    pub mac: Option<Vec<u8>>,
    pub up: bool,
    /// Operational state is up (or unknown, as for devices without carrier
    /// reporting): packets sent now leave through a real qdisc.
    pub running: bool,
    /// IFLA_CARRIER: the device sees a link partner (a cable, a veth's
    /// peer that is up). None when the kernel did not say.
    pub carrier: Option<bool>,
    /// IFF_PROMISC as set (`ip link set … promisc on`).
    pub promisc: bool,
    pub txqueuelen: u32,
    /// For a bridge port: whether the bridge forwards its frames yet.
    pub forwarding: Option<bool>,
    /// A bridge port's hairpin mode and isolation, as the kernel reports
    /// them (None: not a bridge port).
    pub port_flags: Option<(bool, bool)>,
    pub controller: Option<u32>,
    /// IFLA_IFALIAS, the free-text description.
    pub alias: Option<String>,
    /// For an 802.1Q device: its VLAN ID.
    pub vlan_id: Option<u16>,
    /// For a VXLAN device: its VNI and UDP port.
    pub vxlan: Option<(u32, u16)>,
    /// IFLA_LINK: a veth's peer, a macvlan's parent (index in that device's
    /// namespace).
    pub parent: Option<u32>,
    /// For a bridge: whether it filters by VLAN, and the VLAN a new port
    /// joins untagged (`default_pvid`, 0 for none). None: the kernel says
    /// nothing of VLANs, having no bridge VLAN filtering at all
    /// (CONFIG_BRIDGE_VLAN_FILTERING).
    pub vlan_filtering: Option<(bool, u16)>,
    /// IFLA_QDISC: the root qdisc's kind; `noop` on a device never set up
    /// since it was made (or moved).
    pub qdisc: Option<String>,
}

impl Link {
    fn from_message(m: LinkMessage) -> Link {
        let mut l = Link {
            index: m.header.index,
            name: String::new(),
            mtu: 0,
            kind: None,
            infiniband: m.header.link_layer_type == LinkLayerType::Infiniband,
            mac: None,
            up: m.header.flags.contains(LinkFlags::Up),
            running: false,
            carrier: None,
            promisc: m.header.flags.contains(LinkFlags::Promisc),
            txqueuelen: 0,
            forwarding: None,
            port_flags: None,
            controller: None,
            parent: None,
            alias: None,
            vlan_id: None,
            vxlan: None,
            vlan_filtering: None,
            qdisc: None,
        };
        for a in m.attributes {
            match a {
                LinkAttribute::IfName(n) => l.name = n,
                LinkAttribute::Mtu(v) => l.mtu = v,
                LinkAttribute::Address(a) => l.mac = Some(a),
                LinkAttribute::Controller(c) => l.controller = Some(c),
                LinkAttribute::Link(p) => l.parent = Some(p),
                LinkAttribute::IfAlias(a) => l.alias = Some(a),
                LinkAttribute::Qdisc(q) => l.qdisc = Some(q),
                LinkAttribute::TxQueueLen(q) => l.txqueuelen = q,
                LinkAttribute::Carrier(c) => l.carrier = Some(c != 0),
                LinkAttribute::OperState(s) => l.running = matches!(s, State::Up | State::Unknown),
                LinkAttribute::LinkInfo(infos) => {
                    for i in infos {
                        match i {
                            LinkInfo::Kind(k) => l.kind = Some(LinkKind::from_info(k)),
                            LinkInfo::Data(InfoData::Vlan(v)) => {
                                l.vlan_id = v.iter().find_map(|i| match i {
                                    InfoVlan::Id(id) => Some(*id),
                                    _ => None,
                                })
                            }
                            LinkInfo::Data(InfoData::Vxlan(v)) => {
                                let id =
                                    v.iter().find_map(|i| if let InfoVxlan::Id(id) = i { Some(*id) } else { None });
                                let port =
                                    v.iter().find_map(|i| if let InfoVxlan::Port(p) = i { Some(*p) } else { None });
                                l.vxlan = id.map(|id| (id, port.unwrap_or(0)));
                            }
                            LinkInfo::Data(InfoData::Bridge(b)) => {
                                let on = b.iter().find_map(|i| match i {
                                    InfoBridge::VlanFiltering(on) => Some(*on),
                                    _ => None,
                                });
                                let pvid = b.iter().find_map(|i| match i {
                                    InfoBridge::VlanDefaultPvid(p) => Some(*p),
                                    _ => None,
                                });
                                l.vlan_filtering = on.map(|on| (on, pvid.unwrap_or(1)));
                            }
                            LinkInfo::PortData(InfoPortData::BridgePort(port)) => {
                                l.forwarding = port.iter().find_map(|p| match p {
                                    InfoBridgePort::State(s) => Some(*s == BridgePortState::Forwarding),
                                    _ => None,
                                });
                                let flag = |want: fn(&InfoBridgePort) -> Option<bool>| {
                                    port.iter().find_map(want).unwrap_or(false)
                                };
                                l.port_flags = Some((
                                    flag(|p| if let InfoBridgePort::HairpinMode(on) = p { Some(*on) } else { None }),
                                    flag(|p| if let InfoBridgePort::Isolated(on) = p { Some(*on) } else { None }),
                                ));
                            }
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        l
    }

    /// The 6-byte Ethernet address, when the link has one.
    pub fn ethernet_mac(&self) -> Option<[u8; 6]> {
        self.mac.as_deref().and_then(|m| <[u8; 6]>::try_from(m).ok())
    }
}

/// One VLAN of a bridge port, as `bridge vlan show` lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortVlan {
    pub vid: u16,
    /// Untagged frames arriving on the port join this VLAN.
    pub pvid: bool,
    /// Frames of this VLAN leave the port without a tag.
    pub untagged: bool,
}

/// A route as the kernel reported it, kept whole so it can be put back
/// exactly (undo of a replaced default route).
#[derive(Debug, Clone)]
pub struct SavedRoute(RouteMessage);

impl SavedRoute {
    /// Where the route leads (`0.0.0.0/0` for a default route).
    pub fn destination(&self) -> Option<IpNet> {
        let len = self.0.header.destination_prefix_length;
        let addr = self.0.attributes.iter().find_map(|a| match a {
            RouteAttribute::Destination(RouteAddress::Inet(v4)) => Some(IpAddr::V4(*v4)),
            RouteAttribute::Destination(RouteAddress::Inet6(v6)) => Some(IpAddr::V6(*v6)),
            _ => None,
        });
        let addr = addr.or_else(|| {
            (len == 0).then(|| {
                if self.0.header.address_family == AddressFamily::Inet6 {
                    IpAddr::V6(Ipv6Addr::UNSPECIFIED)
                } else {
                    IpAddr::V4(Ipv4Addr::UNSPECIFIED)
                }
            })
        })?;
        IpNet::new(addr, len).ok()
    }

    /// "inet" or "inet6", for messages.
    pub fn family_name(&self) -> &'static str {
        if self.0.header.address_family == AddressFamily::Inet6 {
            "inet6"
        } else {
            "inet"
        }
    }
}

/// The errno behind a failed request, if the kernel sent one.
pub fn errno(e: &anyhow::Error) -> Option<i32> {
    e.chain().find_map(|c| c.downcast_ref::<std::io::Error>().and_then(|io| io.raw_os_error()))
}

fn nl(e: rtnetlink::Error) -> anyhow::Error {
    match e {
        rtnetlink::Error::NetlinkError(m) => anyhow::Error::new(m.to_io()),
        other => anyhow!("netlink: {other}"),
    }
}

/// Multicast groups of route netlink (linux/rtnetlink.h, the legacy bit
/// masks `bind` takes).
const RTMGRP_LINK: u32 = 0x1;
const RTMGRP_IPV4_IFADDR: u32 = 0x10;
const RTMGRP_IPV6_IFADDR: u32 = 0x100;

/// The longest a wait sleeps without looking at its condition again: a
/// signal that lands just before the sleep is seen this late at worst.
const LONGEST_SLEEP: Duration = Duration::from_secs(1);

/// A subscription to route netlink notifications.
struct Notifications {
    socket: netlink_sys::Socket,
}

impl Notifications {
    /// Sleeps until a notification arrives (then drains all that queued:
    /// the caller looks at the state itself), the deadline passes, or a
    /// signal comes. False only when the deadline has passed.
    fn next(&self, deadline: Option<Instant>) -> Result<bool> {
        let left = match deadline {
            Some(d) => d.saturating_duration_since(Instant::now()),
            None => LONGEST_SLEEP,
        };
        if left.is_zero() {
            return Ok(false);
        }
        let timeout =
            PollTimeout::try_from(left.min(LONGEST_SLEEP).as_millis().max(1) as i32).unwrap_or(PollTimeout::MAX);
        let mut fds = [PollFd::new(self.socket.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, timeout) {
            Ok(0) | Err(nix::errno::Errno::EINTR) => return Ok(true),
            Ok(_) => {}
            Err(e) => return Err(e).context("waiting for netlink notifications"),
        }
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match self.socket.recv(&mut &mut buf[..], libc::MSG_DONTWAIT) {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(true),
                // Notifications were lost (ENOBUFS): looking again covers them.
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {}
                Err(e) => return Err(e).context("reading netlink notifications"),
            }
        }
    }
}

impl Netlink {
    /// A connection in this thread's namespace, on a runtime of its own.
    pub fn connect() -> Result<Netlink> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .context("starting the netlink event loop")?;
        Self::connect_on(Rc::new(rt), None)
    }

    fn connect_on(rt: Rc<tokio::runtime::Runtime>, ns: Option<Rc<File>>) -> Result<Netlink> {
        let handle = {
            // The socket registers with the runtime's reactor as it is made.
            let _ctx = rt.enter();
            let (conn, handle, _) = rtnetlink::new_connection().context("opening a netlink socket")?;
            rt.spawn(conn);
            handle
        };
        Ok(Netlink { rt, handle, ns })
    }

    /// A connection whose socket lives in `ns` (enter, open, come back),
    /// driven by the same runtime as this one.
    pub fn open_in(&self, ns: &File) -> Result<Netlink> {
        let _inside = netns::enter(ns)?;
        let ns = Rc::new(ns.try_clone().context("keeping the guest's namespace open")?);
        Self::connect_on(self.rt.clone(), Some(ns))
    }

    /// Waits until `probe` finds what it looks for, or `deadline` passes
    /// (None: no deadline). It looks once, then again after each link or
    /// address notification from the kernel in this connection's namespace:
    /// no polling, and no change can fall between the subscription and the
    /// first look. Signals wake the wait, so the caller's check for one
    /// (the probe) runs at once.
    pub fn wait_until<T>(
        &self,
        deadline: Option<Instant>,
        mut probe: impl FnMut() -> Result<Option<T>>,
    ) -> Result<Option<T>> {
        let events = self.subscribe()?;
        loop {
            if let Some(found) = probe()? {
                return Ok(Some(found));
            }
            if !events.next(deadline)? {
                return Ok(None);
            }
        }
    }

    /// A socket of its own that hears link and address changes.
    fn subscribe(&self) -> Result<Notifications> {
        let _inside = self.ns.as_deref().map(netns::enter).transpose()?;
        let mut socket = netlink_sys::Socket::new(netlink_sys::protocols::NETLINK_ROUTE)
            .context("opening a netlink socket for notifications")?;
        let groups = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR;
        socket
            .bind(&netlink_sys::SocketAddr::new(0, groups))
            .context("subscribing to link and address notifications")?;
        socket.set_non_blocking(true)?;
        Ok(Notifications { socket })
    }

    /// Runs one request to completion. The connection task, spawned on the
    /// same runtime, makes progress while we wait.
    fn run<F: Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    pub fn link(&self, name: &str) -> Result<Option<Link>> {
        self.run(async {
            let mut s = self.handle.link().get().match_name(name.to_string()).execute();
            match s.try_next().await {
                Ok(m) => Ok(m.map(Link::from_message)),
                // "No such device" is an answer here, not an error.
                Err(rtnetlink::Error::NetlinkError(m)) if m.raw_code() == -libc::ENODEV => Ok(None),
                Err(e) => Err(nl(e).context(format!("reading link {name}"))),
            }
        })
    }

    pub fn links(&self) -> Result<Vec<Link>> {
        self.run(async {
            let msgs: Vec<LinkMessage> =
                self.handle.link().get().execute().try_collect().await.map_err(nl).context("listing links")?;
            Ok(msgs.into_iter().map(Link::from_message).collect())
        })
    }

    pub fn link_by_index(&self, index: u32) -> Result<Option<Link>> {
        self.run(async {
            let mut s = self.handle.link().get().match_index(index).execute();
            match s.try_next().await {
                Ok(m) => Ok(m.map(Link::from_message)),
                Err(rtnetlink::Error::NetlinkError(m)) if m.raw_code() == -libc::ENODEV => Ok(None),
                Err(e) => Err(nl(e).context(format!("reading link #{index}"))),
            }
        })
    }

    /// Ports enslaved to a bridge.
    pub fn ports_of(&self, bridge: u32) -> Result<Vec<Link>> {
        Ok(self.links()?.into_iter().filter(|l| l.controller == Some(bridge)).collect())
    }

    /// `ip link add NAME type bridge`, down: it is renamed and marked
    /// before it comes up, and kernels before 6.2 refuse to rename a device
    /// that is up (EBUSY). rtnetlink's `LinkBridge::new` builds it up.
    /// With `vlan_filtering`, `ip link add NAME type bridge vlan_filtering 1`.
    pub fn add_bridge(&self, name: &str, vlan_filtering: bool) -> Result<()> {
        let mut b = LinkBridge::new(name).down();
        if vlan_filtering {
            b = b.vlan_filtering(true);
        }
        self.run(self.handle.link().add(b.build()).execute()).map_err(nl)
    }

    /// `ip link set BRIDGE type bridge vlan_filtering 0|1`.
    pub fn set_vlan_filtering(&self, bridge: u32, on: bool) -> Result<()> {
        let msg = LinkMessageBuilder::<LinkBridge>::new_with_info_kind(InfoKind::Bridge)
            .index(bridge)
            .vlan_filtering(on)
            .build();
        // Bridge options travel in RTM_NEWLINK, as for its ports.
        self.run(self.handle.link().set_port(msg).execute()).map_err(nl)
    }

    /// `bridge vlan add dev PORT vid VID [pvid untagged]`.
    pub fn bridge_vlan_add(&self, port: u32, vid: u16, access: bool) -> Result<()> {
        let flags = if access {
            BridgeVlanInfoFlags::Pvid | BridgeVlanInfoFlags::Untagged
        } else {
            BridgeVlanInfoFlags::empty()
        };
        let msg = LinkBridgeVlan::new(port).vlan(vid, flags).build();
        self.run(self.handle.link().set(msg).execute()).map_err(nl)
    }

    /// `bridge vlan del dev PORT vid VID`; a VID the port does not have is
    /// no error.
    pub fn bridge_vlan_del(&self, port: u32, vid: u16) -> Result<()> {
        let msg = LinkBridgeVlan::new(port).vlan(vid, BridgeVlanInfoFlags::empty()).build();
        let mut req = NetlinkMessage::from(RouteNetlinkMessage::DelLink(msg));
        req.header.flags = NLM_F_REQUEST | NLM_F_ACK;
        match self.ack(req) {
            Err(e) if errno(&e) == Some(libc::ENOENT) => Ok(()),
            other => other,
        }
    }

    /// `bridge vlan show dev PORT`: the port's VLANs, each with whether it is
    /// the port's PVID and whether it leaves untagged.
    pub fn bridge_vlans(&self, port: u32) -> Result<Vec<PortVlan>> {
        let msgs: Vec<LinkMessage> = self
            .run(
                self.handle
                    .link()
                    .get()
                    .set_filter_mask(AddressFamily::Bridge, vec![LinkExtentMask::Brvlan])
                    .execute()
                    .try_collect(),
            )
            .map_err(nl)
            .context("listing bridge VLANs")?;
        let Some(m) = msgs.into_iter().find(|m| m.header.index == port) else { return Ok(Vec::new()) };
        Ok(m.attributes
            .iter()
            .filter_map(|a| if let LinkAttribute::AfSpecBridge(specs) = a { Some(specs) } else { None })
            .flatten()
            .filter_map(|s| match s {
                AfSpecBridge::VlanInfo(BridgeVlanInfo { vid, flags }) => Some(PortVlan {
                    vid: *vid,
                    pvid: flags.contains(BridgeVlanInfoFlags::Pvid),
                    untagged: flags.contains(BridgeVlanInfoFlags::Untagged),
                }),
                _ => None,
            })
            .collect())
    }

    /// A veth pair whose peer is born inside `peer_ns` under its final name.
    pub fn add_veth(&self, name: &str, mtu: u32, peer: &str, peer_ns: &File, peer_mac: Option<MacAddr6>) -> Result<()> {
        let mut p =
            LinkMessageBuilder::<LinkUnspec>::new().name(peer.to_string()).mtu(mtu).setns_by_fd(peer_ns.as_raw_fd());
        if let Some(mac) = peer_mac {
            p = p.address(mac.as_bytes().to_vec());
        }
        let msg = LinkMessageBuilder::<LinkUnspec>::new_with_info_kind(InfoKind::Veth)
            .name(name.to_string())
            .mtu(mtu)
            .set_info_data(InfoData::Veth(InfoVeth::Peer(p.build())))
            .build();
        self.run(self.handle.link().add(msg).execute()).map_err(nl)
    }

    /// `ip link add link PARENT name NAME mtu MTU type vlan id ID`, in this
    /// connection's namespace.
    pub fn add_vlan(&self, name: &str, parent: u32, id: u16, mtu: u32) -> Result<()> {
        let msg = rtnetlink::LinkVlan::new(name, parent, id).mtu(mtu).build();
        self.run(self.handle.link().add(msg).execute()).map_err(nl)
    }

    /// An IPoIB child of `parent` (with its partition key), born inside `ns`.
    pub fn add_ipoib(&self, name: &str, parent: u32, pkey: Option<u16>, ns: &File) -> Result<()> {
        let mut b = rtnetlink::LinkIpoib::new(name).link(parent).setns_by_fd(ns.as_raw_fd());
        if let Some(k) = pkey {
            b = b.pkey(k);
        }
        self.run(self.handle.link().add(b.build()).execute()).map_err(nl)
    }

    /// A dummy device born inside `ns`.
    pub fn add_dummy(&self, name: &str, ns: &File, mac: Option<MacAddr6>) -> Result<()> {
        let mut b = rtnetlink::LinkDummy::new(name).setns_by_fd(ns.as_raw_fd());
        if let Some(mac) = mac {
            b = b.address(mac.as_bytes().to_vec());
        }
        self.run(self.handle.link().add(b.build()).execute()).map_err(nl)
    }

    /// A macvlan on `parent`, born inside `ns`; `mode` as `ip link` spells
    /// it (bridge, private, vepa, passthru).
    pub fn add_macvlan(
        &self,
        name: &str,
        parent: u32,
        mtu: u32,
        ns: &File,
        mac: Option<MacAddr6>,
        mode: &str,
    ) -> Result<()> {
        let mode = match mode {
            "private" => MacVlanMode::Private,
            "vepa" => MacVlanMode::Vepa,
            "passthru" => MacVlanMode::Passthrough,
            _ => MacVlanMode::Bridge,
        };
        let mut b = LinkMessageBuilder::<LinkUnspec>::new_with_info_kind(InfoKind::MacVlan)
            .name(name.to_string())
            .link(parent)
            .mtu(mtu)
            .setns_by_fd(ns.as_raw_fd())
            .set_info_data(InfoData::MacVlan(vec![InfoMacVlan::Mode(mode)]));
        if let Some(mac) = mac {
            b = b.address(mac.as_bytes().to_vec());
        }
        self.run(self.handle.link().add(b.build()).execute()).map_err(nl)
    }

    /// An ipvlan on `parent`, born inside `ns`.
    pub fn add_ipvlan(&self, name: &str, parent: u32, mtu: u32, ns: &File, how: IpvlanSwitching) -> Result<()> {
        let mode = match how.mode {
            "l3" => IpVlanMode::L3,
            "l3s" => IpVlanMode::L3S,
            _ => IpVlanMode::L2,
        };
        let mut b = rtnetlink::LinkIpVlan::new(name, parent, mode).mtu(mtu).setns_by_fd(ns.as_raw_fd());
        match how.flag {
            "private" => b = b.flag(IpVlanFlags::Private),
            "vepa" => b = b.flag(IpVlanFlags::Vepa),
            _ => {}
        }
        self.run(self.handle.link().add(b.build()).execute()).map_err(nl)
    }

    /// Moves a link into `ns` under `new_name`, with this alias (`""` clears
    /// it), in one request.
    pub fn move_to(&self, index: u32, ns: &File, new_name: &str, alias: &str) -> Result<()> {
        let msg = LinkUnspec::new_with_index(index)
            .setns_by_fd(ns.as_raw_fd())
            .name(new_name.to_string())
            .alias(alias.to_string())
            .build();
        self.run(self.handle.link().set(msg).execute()).map_err(nl)
    }

    /// `ip link set LINK master CONTROLLER up`.
    /// `ip link set LINK promisc on|off`.
    pub fn set_promisc(&self, index: u32, on: bool) -> Result<()> {
        let msg = LinkUnspec::new_with_index(index).promiscuous(on).build();
        self.run(self.handle.link().set(msg).execute()).map_err(nl)
    }

    /// `ip link set LINK master BRIDGE`, leaving it down.
    pub fn set_controller(&self, index: u32, controller: u32) -> Result<()> {
        let msg = LinkUnspec::new_with_index(index).controller(controller).build();
        self.run(self.handle.link().set(msg).execute()).map_err(nl)
    }

    pub fn set_controller_up(&self, index: u32, controller: u32) -> Result<()> {
        let msg = LinkUnspec::new_with_index(index).controller(controller).up().build();
        self.run(self.handle.link().set(msg).execute()).map_err(nl)
    }

    pub fn set_up(&self, index: u32, up: bool) -> Result<()> {
        let b = LinkUnspec::new_with_index(index);
        let msg = if up { b.up() } else { b.down() }.build();
        self.run(self.handle.link().set(msg).execute()).map_err(nl)
    }

    /// `ip link add NAME mtu MTU type vxlan id VNI dstport PORT [local SRC]`,
    /// down. The MTU is given: without `dev` the kernel would leave 1500.
    pub fn add_vxlan(&self, name: &str, vni: u32, port: u16, local: Option<IpAddr>, mtu: u32) -> Result<()> {
        let mut b = rtnetlink::LinkVxlan::new(name, vni).port(port);
        b = match local {
            Some(IpAddr::V4(a)) => b.local(a),
            Some(IpAddr::V6(a)) => b.local6(a),
            None => b,
        };
        let msg = b.mtu(mtu).build();
        self.run(self.handle.link().add(msg).execute()).map_err(nl)
    }

    /// `ip link add NAME mtu MTU type gretap local SRC remote PEER [key K]`,
    /// down.
    pub fn add_gretap(&self, name: &str, local: Ipv4Addr, remote: Ipv4Addr, key: Option<u32>, mtu: u32) -> Result<()> {
        let mut b = rtnetlink::LinkGre::new_gretap(name).local(local).remote(remote);
        if let Some(k) = key {
            use rtnetlink::packet_route::link::GreIOFlags;
            b = b.iflags(GreIOFlags::Key).oflags(GreIOFlags::Key).ikey(k).okey(k);
        }
        let msg = b.mtu(mtu).build();
        self.run(self.handle.link().add(msg).execute()).map_err(nl)
    }

    /// Gives a down device back the `noop` qdisc it had before it was ever
    /// up: a default qdisc cannot be deleted (handle 0) and `noop` cannot be
    /// added, but deleting a root qdisc of our own leaves `noop` behind
    /// until the device comes up again.
    pub fn qdisc_to_noop(&self, index: u32) -> Result<()> {
        use rtnetlink::packet_route::tc::{TcAttribute, TcHandle, TcMessage};
        let mut m = TcMessage::with_index(index as i32);
        m.header.parent = TcHandle::ROOT;
        m.header.handle = TcHandle { major: 0xfff0, minor: 0 };
        m.attributes.push(TcAttribute::Kind("pfifo".into()));
        let mut req = NetlinkMessage::from(RouteNetlinkMessage::NewQueueDiscipline(m.clone()));
        req.header.flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | netlink_packet_core::NLM_F_REPLACE;
        self.ack(req).context("setting a root qdisc of our own")?;
        m.attributes.clear();
        let mut req = NetlinkMessage::from(RouteNetlinkMessage::DelQueueDiscipline(m));
        req.header.flags = NLM_F_REQUEST | NLM_F_ACK;
        self.ack(req).context("deleting that root qdisc")
    }

    /// `ip link set LINK alias TEXT`.
    pub fn set_alias(&self, index: u32, alias: &str) -> Result<()> {
        let msg = LinkUnspec::new_with_index(index).alias(alias.to_string()).build();
        self.run(self.handle.link().set(msg).execute()).map_err(nl)
    }

    /// `bridge fdb append 00:00:00:00:00:00 dev LINK dst PEER`: flood
    /// broadcasts and unknown destinations to PEER too. Appending what is
    /// there already changes nothing.
    pub fn fdb_append(&self, index: u32, dst: IpAddr) -> Result<()> {
        let msg = fdb_message(index, [0; 6], dst);
        let mut req = NetlinkMessage::from(RouteNetlinkMessage::NewNeighbour(msg));
        req.header.flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_APPEND;
        self.ack(req)
    }

    /// `bridge fdb del MAC dev LINK dst PEER`; an entry already gone is no error.
    pub fn fdb_delete(&self, index: u32, mac: [u8; 6], dst: IpAddr) -> Result<()> {
        let mut req = NetlinkMessage::from(RouteNetlinkMessage::DelNeighbour(fdb_message(index, mac, dst)));
        req.header.flags = NLM_F_REQUEST | NLM_F_ACK;
        match self.ack(req) {
            Err(e) if errno(&e) == Some(libc::ENOENT) => Ok(()),
            other => other,
        }
    }

    /// The forwarding entries of a VXLAN device: MAC and remote, the
    /// all-zeros ones (the peers) and those learned behind them.
    pub fn fdb_entries(&self, index: u32) -> Result<Vec<([u8; 6], Option<IpAddr>)>> {
        let mut req = NetlinkMessage::from(RouteNetlinkMessage::GetNeighbour({
            let mut m = NeighbourMessage::default();
            m.header.family = AddressFamily::Bridge;
            m.header.ifindex = index;
            m
        }));
        req.header.flags = NLM_F_REQUEST | NLM_F_DUMP;
        let answers = self.dump(req).context("listing forwarding entries")?;
        Ok(answers
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewNeighbour(n) if n.header.ifindex == index => Some(n),
                _ => None,
            })
            .filter_map(|n| {
                let mac = n.attributes.iter().find_map(|a| match a {
                    NeighbourAttribute::LinkLayerAddress(m) => <[u8; 6]>::try_from(m.as_slice()).ok(),
                    _ => None,
                })?;
                // In an AF_BRIDGE message the remote comes as raw bytes: 4
                // for IPv4, 16 for IPv6.
                let dst = n.attributes.iter().find_map(|a| match a {
                    NeighbourAttribute::Destination(NeighbourAddress::Inet(v4)) => Some(IpAddr::V4(*v4)),
                    NeighbourAttribute::Destination(NeighbourAddress::Inet6(v6)) => Some(IpAddr::V6(*v6)),
                    NeighbourAttribute::Destination(NeighbourAddress::Other(b)) => match b.len() {
                        4 => <[u8; 4]>::try_from(b.as_slice()).ok().map(IpAddr::from),
                        16 => <[u8; 16]>::try_from(b.as_slice()).ok().map(IpAddr::from),
                        _ => None,
                    },
                    _ => None,
                });
                Some((mac, dst))
            })
            .collect())
    }

    /// Every address of every link: what "this host's own addresses" are.
    pub fn all_addresses(&self) -> Result<Vec<IpAddr>> {
        let msgs: Vec<AddressMessage> =
            self.run(self.handle.address().get().execute().try_collect()).map_err(nl).context("listing addresses")?;
        Ok(msgs
            .iter()
            .filter_map(|m| {
                m.attributes.iter().find_map(|a| match a {
                    AddressAttribute::Local(ip) | AddressAttribute::Address(ip) => Some(*ip),
                    _ => None,
                })
            })
            .collect())
    }

    /// `ip route get DST`: the kernel's own answer (rules, metrics and all),
    /// one round trip: the device and the preferred source address.
    pub fn route_to(&self, dst: IpAddr) -> Result<Option<(u32, Option<IpAddr>)>> {
        let mut m = RouteMessage::default();
        let (family, len, addr) = match dst {
            IpAddr::V4(a) => (AddressFamily::Inet, 32, RouteAddress::Inet(a)),
            IpAddr::V6(a) => (AddressFamily::Inet6, 128, RouteAddress::Inet6(a)),
        };
        m.header.address_family = family;
        m.header.destination_prefix_length = len;
        m.attributes.push(RouteAttribute::Destination(addr));
        let mut req = NetlinkMessage::from(RouteNetlinkMessage::GetRoute(m));
        req.header.flags = NLM_F_REQUEST;
        let answers = match self.dump(req) {
            Ok(a) => a,
            // No route at all ("Network is unreachable"): an answer, not an error.
            Err(e) if matches!(errno(&e), Some(libc::ENETUNREACH | libc::EHOSTUNREACH)) => return Ok(None),
            Err(e) => return Err(e.context(format!("asking the route to {dst}"))),
        };
        Ok(answers.into_iter().find_map(|a| match a {
            RouteNetlinkMessage::NewRoute(r) => {
                let oif =
                    r.attributes.iter().find_map(|a| if let RouteAttribute::Oif(i) = a { Some(*i) } else { None })?;
                let src = r.attributes.iter().find_map(|a| match a {
                    RouteAttribute::PrefSource(RouteAddress::Inet(v4)) => Some(IpAddr::V4(*v4)),
                    RouteAttribute::PrefSource(RouteAddress::Inet6(v6)) => Some(IpAddr::V6(*v6)),
                    _ => None,
                });
                Some((oif, src))
            }
            _ => None,
        }))
    }

    /// Sends one request and waits for its acknowledgement.
    fn ack(&self, req: NetlinkMessage<RouteNetlinkMessage>) -> Result<()> {
        let mut handle = self.handle.clone();
        self.run(async move {
            let mut answers = handle.request(req).map_err(nl)?;
            while let Some(m) = answers.next().await {
                if let NetlinkPayload::Error(e) = m.payload {
                    if e.code.is_some() {
                        return Err(anyhow::Error::new(e.to_io()));
                    }
                }
            }
            Ok(())
        })
    }

    /// Sends one request (a dump, or a get with one answer) and collects
    /// the answers.
    fn dump(&self, req: NetlinkMessage<RouteNetlinkMessage>) -> Result<Vec<RouteNetlinkMessage>> {
        let mut handle = self.handle.clone();
        self.run(async move {
            let mut answers = handle.request(req).map_err(nl)?;
            let mut out = Vec::new();
            while let Some(m) = answers.next().await {
                match m.payload {
                    NetlinkPayload::InnerMessage(inner) => out.push(inner),
                    NetlinkPayload::Error(e) if e.code.is_some() => return Err(anyhow::Error::new(e.to_io())),
                    _ => {}
                }
            }
            Ok(out)
        })
    }

    /// `ip link set LINK name NAME alias TEXT up`, in one request, so the
    /// link has its name only with its alias (the kernel ignores an alias
    /// given when a link is created). The link must be down: a name taken
    /// meanwhile fails with EEXIST and changes nothing.
    pub fn name_mark_and_up(&self, index: u32, name: &str, alias: &str) -> Result<()> {
        let msg = LinkUnspec::new_with_index(index).name(name.to_string()).alias(alias.to_string()).up().build();
        self.run(self.handle.link().set(msg).execute()).map_err(nl)
    }

    /// `ip link set LINK mtu N txqueuelen N promisc on`, what is given.
    pub fn tune(&self, index: u32, mtu: Option<u32>, txqueuelen: Option<u32>, promisc: bool) -> Result<()> {
        let mut b = LinkUnspec::new_with_index(index);
        if let Some(m) = mtu {
            b = b.mtu(m);
        }
        if let Some(q) = txqueuelen {
            b = b.txqueuelen(q);
        }
        if promisc {
            b = b.promiscuous(true);
        }
        self.run(self.handle.link().set(b.build()).execute()).map_err(nl)
    }

    /// `ip link set PORT type bridge_slave hairpin … isolated …`.
    pub fn set_bridge_port(&self, index: u32, hairpin: bool, isolated: bool) -> Result<()> {
        let msg = rtnetlink::LinkBridgePort::new(index).hairpin(hairpin).isolated(isolated).build();
        // Port options travel in RTM_NEWLINK on the existing link, as `ip
        // link set … type bridge_slave` sends them; RTM_SETLINK ignores them.
        self.run(self.handle.link().set_port(msg).execute()).map_err(nl)
    }

    pub fn rename(&self, index: u32, name: &str) -> Result<()> {
        let msg = LinkUnspec::new_with_index(index).name(name.to_string()).build();
        self.run(self.handle.link().set(msg).execute()).map_err(nl)
    }

    pub fn set_mac(&self, index: u32, mac: MacAddr6) -> Result<()> {
        let msg = LinkUnspec::new_with_index(index).address(mac.as_bytes().to_vec()).build();
        self.run(self.handle.link().set(msg).execute()).map_err(nl)
    }

    pub fn delete(&self, index: u32) -> Result<()> {
        self.run(self.handle.link().del(index).execute()).map_err(nl)
    }

    /// Adds an address; IPv4 gets its broadcast address computed. `nodad`:
    /// no duplicate address detection (IPv6).
    pub fn add_address(&self, index: u32, addr: IpNet, nodad: bool) -> Result<()> {
        let mut req = self.handle.address().add(index, addr.addr(), addr.prefix_len());
        if nodad {
            req.message_mut().attributes.push(AddressAttribute::Flags(AddressFlags::Nodad));
            req.message_mut().header.flags |= AddressHeaderFlags::Nodad;
        }
        self.run(req.execute()).map_err(nl)
    }

    /// Every address on a link.
    pub fn addresses(&self, index: u32) -> Result<Vec<IpNet>> {
        Ok(self.address_messages(index)?.into_iter().map(|(net, _)| net).collect())
    }

    /// The addresses on a link that someone gave it: all but the IPv6
    /// link-local one the kernel gives every link that comes up.
    pub fn assigned_addresses(&self, index: u32) -> Result<Vec<IpNet>> {
        Ok(self
            .addresses(index)?
            .into_iter()
            .filter(|a| !matches!(a.addr(), IpAddr::V6(v6) if v6.is_unicast_link_local()))
            .collect())
    }

    /// The IPv4 addresses on a link (what a DHCP client configured).
    pub fn ipv4_addresses(&self, index: u32) -> Result<Vec<ipnet::Ipv4Net>> {
        Ok(self
            .address_messages(index)?
            .into_iter()
            .filter_map(|(net, _)| match net {
                IpNet::V4(n) => Some(n),
                IpNet::V6(_) => None,
            })
            .collect())
    }

    pub fn delete_address(&self, index: u32, addr: IpNet) -> Result<()> {
        for (net, msg) in self.address_messages(index)? {
            if net == addr {
                self.run(self.handle.address().del(msg).execute()).map_err(nl)?;
            }
        }
        Ok(())
    }

    fn address_messages(&self, index: u32) -> Result<Vec<(IpNet, AddressMessage)>> {
        let msgs: Vec<AddressMessage> = self
            .run(self.handle.address().get().set_link_index_filter(index).execute().try_collect())
            .map_err(nl)
            .context("listing addresses")?;
        Ok(msgs
            .into_iter()
            .filter_map(|m| {
                let local = m.attributes.iter().find_map(|a| match a {
                    AddressAttribute::Local(ip) => Some(*ip),
                    _ => None,
                });
                let ip = local.or_else(|| {
                    m.attributes.iter().find_map(|a| match a {
                        AddressAttribute::Address(ip) => Some(*ip),
                        _ => None,
                    })
                })?;
                let net = IpNet::new(ip, m.header.prefix_len).ok()?;
                Some((net, m))
            })
            .collect())
    }

    /// Default routes of the main table for one family.
    pub fn default_routes(&self, ipv6: bool) -> Result<Vec<SavedRoute>> {
        let filter = if ipv6 {
            RouteMessageBuilder::<Ipv6Addr>::new().build()
        } else {
            RouteMessageBuilder::<Ipv4Addr>::new().build()
        };
        let all: Vec<RouteMessage> =
            self.run(self.handle.route().get(filter).execute().try_collect()).map_err(nl).context("listing routes")?;
        Ok(all
            .into_iter()
            .filter(|r| {
                r.header.destination_prefix_length == 0
                    && table_of(r) == u32::from(RouteHeader::RT_TABLE_MAIN)
                    && r.header.kind == RouteType::Unicast
            })
            .map(SavedRoute)
            .collect())
    }

    pub fn delete_route(&self, r: &SavedRoute) -> Result<()> {
        self.run(self.handle.route().del(r.0.clone()).execute()).map_err(nl)
    }

    /// Puts a saved route back, replacing any route with the same key (our
    /// own new default, say), so restoring never fails on "exists".
    pub fn restore_route(&self, r: &SavedRoute) -> Result<()> {
        self.run(self.handle.route().add(r.0.clone()).replace().execute()).map_err(nl)
    }

    /// `ip route add GW/32 dev IF` (scope link): makes an off-link gateway reachable.
    /// In routing table `table` (the main one when None).
    pub fn add_host_route(&self, index: u32, gw: IpAddr, table: Option<u32>) -> Result<()> {
        let len = if gw.is_ipv4() { 32 } else { 128 };
        let msg = RouteMessageBuilder::<IpAddr>::new()
            .destination_prefix(gw, len)
            .map_err(|e| anyhow!("{e}"))?
            .output_interface(index)
            .scope(RouteScope::Link)
            .protocol(RouteProtocol::Boot)
            .table_id(table.unwrap_or(u32::from(RouteHeader::RT_TABLE_MAIN)))
            .build();
        self.run(self.handle.route().add(msg).execute()).map_err(nl)
    }

    /// `ip route add PREFIX dev IF src ADDR scope link table TABLE`: the
    /// prefix of an address, in a table of its own.
    pub fn add_prefix_route(&self, index: u32, addr: IpNet, table: u32) -> Result<()> {
        let msg = RouteMessageBuilder::<IpAddr>::new()
            .destination_prefix(addr.network(), addr.prefix_len())
            .map_err(|e| anyhow!("{e}"))?
            .pref_source(addr.addr())
            .map_err(|e| anyhow!("{e}"))?
            .output_interface(index)
            .scope(RouteScope::Link)
            .protocol(RouteProtocol::Boot)
            .table_id(table)
            .build();
        self.run(self.handle.route().add(msg).execute()).map_err(nl)
    }

    /// `ip route add DEST [via GW] dev IF`, in the main table. A route
    /// without a gateway has scope link as iproute2 gives it, unless
    /// `universe`: as the CNI reference plugins (netlink's default) make it.
    pub fn add_route(&self, index: u32, dest: IpNet, via: Option<IpAddr>, universe: bool) -> Result<()> {
        let b = RouteMessageBuilder::<IpAddr>::new()
            .destination_prefix(dest.network(), dest.prefix_len())
            .map_err(|e| anyhow!("{e}"))?
            .output_interface(index)
            .protocol(RouteProtocol::Boot);
        let msg = match via {
            Some(gw) => b.gateway(gw).map_err(|e| anyhow!("{e}"))?.build(),
            None if universe => b.build(),
            None => b.scope(RouteScope::Link).build(),
        };
        self.run(self.handle.route().add(msg).execute()).map_err(nl)
    }

    /// The gateway of the main table's default route through link `index`.
    pub fn default_gateway(&self, index: u32, ipv6: bool) -> Result<Option<IpAddr>> {
        Ok(self.default_routes(ipv6)?.into_iter().find_map(|r| {
            let attrs = &r.0.attributes;
            let oif = attrs.iter().any(|a| matches!(a, RouteAttribute::Oif(i) if *i == index));
            let gw = attrs.iter().find_map(|a| match a {
                RouteAttribute::Gateway(RouteAddress::Inet(v4)) => Some(IpAddr::V4(*v4)),
                RouteAttribute::Gateway(RouteAddress::Inet6(v6)) => Some(IpAddr::V6(*v6)),
                _ => None,
            });
            gw.filter(|_| oif)
        }))
    }

    /// Whether a default route via `gw` out of link `index` is there: in
    /// table `table` (main when None), with metric `metric` when given.
    pub fn has_default_via(&self, index: u32, gw: IpAddr, metric: Option<u32>, table: Option<u32>) -> Result<bool> {
        let want_table = table.unwrap_or(u32::from(RouteHeader::RT_TABLE_MAIN));
        Ok(self.routes(gw.is_ipv6())?.iter().any(|r| {
            let attrs = &r.attributes;
            r.header.destination_prefix_length == 0
                && table_of(r) == want_table
                && attrs.iter().any(|a| matches!(a, RouteAttribute::Oif(i) if *i == index))
                && attrs.iter().any(|a| match a {
                    RouteAttribute::Gateway(RouteAddress::Inet(v4)) => IpAddr::V4(*v4) == gw,
                    RouteAttribute::Gateway(RouteAddress::Inet6(v6)) => IpAddr::V6(*v6) == gw,
                    _ => false,
                })
                && metric.is_none_or(|m| {
                    attrs.iter().find_map(|a| if let RouteAttribute::Priority(p) = a { Some(*p) } else { None })
                        == Some(m)
                })
        }))
    }

    /// The routes out of link `index` that someone added (not the kernel's
    /// own prefix and local routes), in every table, both families: what
    /// setting the link down takes away, kept to be put back.
    pub fn routes_of(&self, index: u32) -> Result<Vec<SavedRoute>> {
        let mut out = Vec::new();
        for ipv6 in [false, true] {
            out.extend(
                self.routes(ipv6)?
                    .into_iter()
                    .filter(|r| {
                        r.header.protocol != RouteProtocol::Kernel
                            && table_of(r) != 255 // local
                            && r.header.kind == RouteType::Unicast
                            && r.attributes.iter().any(|a| matches!(a, RouteAttribute::Oif(i) if *i == index))
                    })
                    .map(SavedRoute),
            );
        }
        Ok(out)
    }

    fn routes(&self, ipv6: bool) -> Result<Vec<RouteMessage>> {
        let filter = if ipv6 {
            RouteMessageBuilder::<Ipv6Addr>::new().build()
        } else {
            RouteMessageBuilder::<Ipv4Addr>::new().build()
        };
        self.run(self.handle.route().get(filter).execute().try_collect()).map_err(nl).context("listing routes")
    }

    /// `ip rule add from ADDR lookup TABLE`.
    pub fn add_source_rule(&self, src: IpAddr, table: u32) -> Result<()> {
        // The action must be said: rtnetlink leaves it unspecified, which
        // the kernel stores as a rule that does nothing.
        let req = match src {
            IpAddr::V4(a) => {
                let r = self.handle.rule().add().v4().source_prefix(a, 32).table_id(table);
                r.action(RuleAction::ToTable).execute().boxed_local()
            }
            IpAddr::V6(a) => {
                let r = self.handle.rule().add().v6().source_prefix(a, 128).table_id(table);
                r.action(RuleAction::ToTable).execute().boxed_local()
            }
        };
        self.run(req).map_err(nl)
    }

    /// `ip rule del from ADDR` for every rule of that exact source.
    pub fn delete_source_rules(&self, src: IpAddr) -> Result<usize> {
        let version = if src.is_ipv4() { rtnetlink::IpVersion::V4 } else { rtnetlink::IpVersion::V6 };
        let rules: Vec<RuleMessage> = self
            .run(self.handle.rule().get(version).execute().try_collect())
            .map_err(nl)
            .context("listing routing rules")?;
        let len = if src.is_ipv4() { 32 } else { 128 };
        let mut n = 0;
        for r in rules {
            let from = r.attributes.iter().any(|a| matches!(a, RuleAttribute::Source(ip) if *ip == src));
            if from && r.header.src_len == len {
                self.run(self.handle.rule().del(r).execute()).map_err(nl)?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// `ip route replace default via GW dev IF`.
    pub fn replace_default(&self, index: u32, gw: IpAddr) -> Result<()> {
        self.default_route(index, gw, None, None)
    }

    /// The default route via GW on IF: replacing the one of the same key
    /// (no metric), or appended beside the others with this metric.
    /// In routing table `table` (the main one when None).
    pub fn default_route(&self, index: u32, gw: IpAddr, metric: Option<u32>, table: Option<u32>) -> Result<()> {
        let unspecified = match gw {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        };
        let msg = RouteMessageBuilder::<IpAddr>::new()
            .destination_prefix(unspecified, 0)
            .and_then(|b| b.gateway(gw))
            .map_err(|e| anyhow!("{e}"))?
            .output_interface(index)
            .protocol(RouteProtocol::Boot)
            .table_id(table.unwrap_or(u32::from(RouteHeader::RT_TABLE_MAIN)));
        match metric {
            None => self.run(self.handle.route().add(msg.build()).replace().execute()).map_err(nl),
            Some(m) => self.run(self.handle.route().add(msg.priority(m).build()).execute()).map_err(nl),
        }
    }
}

/// An fdb entry of a VXLAN device, as `bridge fdb … self permanent` makes it.
fn fdb_message(index: u32, mac: [u8; 6], dst: IpAddr) -> NeighbourMessage {
    let mut m = NeighbourMessage::default();
    m.header.family = AddressFamily::Bridge;
    m.header.ifindex = index;
    m.header.state = NeighbourState::Permanent;
    m.header.flags = NeighbourFlags::Own;
    m.attributes.push(NeighbourAttribute::LinkLayerAddress(mac.to_vec()));
    m.attributes.push(NeighbourAttribute::Destination(match dst {
        IpAddr::V4(v4) => NeighbourAddress::Inet(v4),
        IpAddr::V6(v6) => NeighbourAddress::Inet6(v6),
    }));
    m
}

fn table_of(r: &RouteMessage) -> u32 {
    r.attributes
        .iter()
        .find_map(|a| if let RouteAttribute::Table(t) = a { Some(*t) } else { None })
        .unwrap_or(u32::from(r.header.table))
}
