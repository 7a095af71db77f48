//! The only file that speaks rtnetlink. rtnetlink changes its API in most
//! minor releases; keeping every request here means a bump touches one file.

use std::fs::File;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::AsRawFd;

use anyhow::{anyhow, Context, Result};
use futures::TryStreamExt;
use ipnet::IpNet;
use macaddr::MacAddr6;
use rtnetlink::packet_route::link::{
    InfoData, InfoKind, InfoMacVlan, InfoVlan, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkLayerType,
    LinkMessage, MacVlanMode, State, InfoPortData, InfoBridgePort, BridgePortState,
};
// Boot is what `ip route add` uses: routes look exactly like the reference's.
use rtnetlink::packet_route::route::{RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope};
use rtnetlink::packet_route::address::{AddressAttribute, AddressMessage};
use rtnetlink::packet_route::AddressFamily;
use rtnetlink::{Handle, LinkBridge, LinkMessageBuilder, LinkUnspec, RouteMessageBuilder};

use crate::netns;
use crate::request::Family;

/// A route-netlink connection bound to one namespace.
pub struct Netlink {
    handle: Handle,
}

/// What we read of a link.
#[derive(Debug, Clone)]
pub struct Link {
    pub index: u32,
    pub name: String,
    pub mtu: u32,
    pub kind: Option<InfoKind>,
    pub link_layer: LinkLayerType,
    pub mac: Option<Vec<u8>>,
    pub up: bool,
    /// Operational state is up (or unknown, as for devices without carrier
    /// reporting): packets sent now leave through a real qdisc.
    pub running: bool,
    /// For a bridge port: whether the bridge forwards its frames yet.
    pub forwarding: Option<bool>,
    pub controller: Option<u32>,
    /// IFLA_IFALIAS, the free-text description.
    pub alias: Option<String>,
    /// For an 802.1Q device: its VLAN ID.
    pub vlan_id: Option<u16>,
    /// IFLA_LINK: a veth's peer, a macvlan's parent (index in that device's
    /// namespace).
    pub parent: Option<u32>,
}

impl Link {
    fn from_message(m: LinkMessage) -> Link {
        let mut l = Link {
            index: m.header.index,
            name: String::new(),
            mtu: 0,
            kind: None,
            link_layer: m.header.link_layer_type,
            mac: None,
            up: m.header.flags.contains(LinkFlags::Up),
            running: false,
            forwarding: None,
            controller: None,
            parent: None,
            alias: None,
            vlan_id: None,
        };
        for a in m.attributes {
            match a {
                LinkAttribute::IfName(n) => l.name = n,
                LinkAttribute::Mtu(v) => l.mtu = v,
                LinkAttribute::Address(a) => l.mac = Some(a),
                LinkAttribute::Controller(c) => l.controller = Some(c),
                LinkAttribute::Link(p) => l.parent = Some(p),
                LinkAttribute::IfAlias(a) => l.alias = Some(a),
                LinkAttribute::OperState(s) => l.running = matches!(s, State::Up | State::Unknown),
                LinkAttribute::LinkInfo(infos) => {
                    for i in infos {
                        match i {
                            LinkInfo::Kind(k) => l.kind = Some(k),
                            LinkInfo::Data(InfoData::Vlan(v)) => {
                                l.vlan_id = v.iter().find_map(|i| match i {
                                    InfoVlan::Id(id) => Some(*id),
                                    _ => None,
                                })
                            }
                            LinkInfo::PortData(InfoPortData::BridgePort(port)) => {
                                l.forwarding = port.iter().find_map(|p| match p {
                                    InfoBridgePort::State(s) => Some(*s == BridgePortState::Forwarding),
                                    _ => None,
                                })
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

impl Netlink {
    /// A connection in this thread's namespace. Must run inside the tokio
    /// runtime: the connection task is spawned onto it.
    pub fn connect() -> Result<Netlink> {
        let (conn, handle, _) = rtnetlink::new_connection().context("opening a netlink socket")?;
        tokio::spawn(conn);
        Ok(Netlink { handle })
    }

    /// A connection whose socket lives in `ns`: enter, open, come back.
    pub fn connect_in(ns: &File) -> Result<Netlink> {
        let _inside = netns::enter(ns)?;
        Self::connect()
    }

    pub async fn link(&self, name: &str) -> Result<Option<Link>> {
        let mut s = self.handle.link().get().match_name(name.to_string()).execute();
        match s.try_next().await {
            Ok(m) => Ok(m.map(Link::from_message)),
            // "No such device" is an answer here, not an error.
            Err(rtnetlink::Error::NetlinkError(m)) if m.raw_code() == -libc::ENODEV => Ok(None),
            Err(e) => Err(nl(e).context(format!("reading link {name}"))),
        }
    }

    pub async fn links(&self) -> Result<Vec<Link>> {
        let msgs: Vec<LinkMessage> =
            self.handle.link().get().execute().try_collect().await.map_err(nl).context("listing links")?;
        Ok(msgs.into_iter().map(Link::from_message).collect())
    }

    pub async fn link_by_index(&self, index: u32) -> Result<Option<Link>> {
        let mut s = self.handle.link().get().match_index(index).execute();
        match s.try_next().await {
            Ok(m) => Ok(m.map(Link::from_message)),
            Err(rtnetlink::Error::NetlinkError(m)) if m.raw_code() == -libc::ENODEV => Ok(None),
            Err(e) => Err(nl(e).context(format!("reading link #{index}"))),
        }
    }

    /// Ports enslaved to a bridge.
    pub async fn ports_of(&self, bridge: u32) -> Result<Vec<Link>> {
        Ok(self.links().await?.into_iter().filter(|l| l.controller == Some(bridge)).collect())
    }

    pub async fn add_bridge(&self, name: &str) -> Result<()> {
        let msg = LinkBridge::new(name).up().build();
        self.handle.link().add(msg).execute().await.map_err(nl)
    }

    /// A veth pair whose peer is born inside `peer_ns` under its final name.
    pub async fn add_veth(
        &self,
        name: &str,
        mtu: u32,
        peer: &str,
        peer_ns: &File,
        peer_mac: Option<MacAddr6>,
    ) -> Result<()> {
        let mut p = LinkMessageBuilder::<LinkUnspec>::new()
            .name(peer.to_string())
            .mtu(mtu)
            .setns_by_fd(peer_ns.as_raw_fd());
        if let Some(mac) = peer_mac {
            p = p.address(mac.as_bytes().to_vec());
        }
        let msg = LinkMessageBuilder::<LinkUnspec>::new_with_info_kind(InfoKind::Veth)
            .name(name.to_string())
            .mtu(mtu)
            .set_info_data(InfoData::Veth(InfoVeth::Peer(p.build())))
            .build();
        self.handle.link().add(msg).execute().await.map_err(nl)
    }

    /// A bridge-mode macvlan on `parent`, created directly in `ns`.
    /// `ip link add link PARENT name NAME mtu MTU type vlan id ID`, in our namespace.
    pub async fn add_vlan(&self, name: &str, parent: u32, id: u16, mtu: u32) -> Result<()> {
        let msg = rtnetlink::LinkVlan::new(name, parent, id).mtu(mtu).build();
        self.handle.link().add(msg).execute().await.map_err(nl)
    }

    /// An IPoIB child of `parent` (with its partition key), born inside `ns`.
    pub async fn add_ipoib(&self, name: &str, parent: u32, pkey: Option<u16>, ns: &File) -> Result<()> {
        let mut b = rtnetlink::LinkIpoib::new(name).link(parent).setns_by_fd(ns.as_raw_fd());
        if let Some(k) = pkey {
            b = b.pkey(k);
        }
        self.handle.link().add(b.build()).execute().await.map_err(nl)
    }

    /// A dummy device born inside `ns`.
    pub async fn add_dummy(&self, name: &str, ns: &File, mac: Option<MacAddr6>) -> Result<()> {
        let mut b = rtnetlink::LinkDummy::new(name).setns_by_fd(ns.as_raw_fd());
        if let Some(mac) = mac {
            b = b.address(mac.as_bytes().to_vec());
        }
        self.handle.link().add(b.build()).execute().await.map_err(nl)
    }

    pub async fn add_macvlan(&self, name: &str, parent: u32, mtu: u32, ns: &File, mac: Option<MacAddr6>) -> Result<()> {
        let mut b = LinkMessageBuilder::<LinkUnspec>::new_with_info_kind(InfoKind::MacVlan)
            .name(name.to_string())
            .link(parent)
            .mtu(mtu)
            .setns_by_fd(ns.as_raw_fd())
            .set_info_data(InfoData::MacVlan(vec![InfoMacVlan::Mode(MacVlanMode::Bridge)]));
        if let Some(mac) = mac {
            b = b.address(mac.as_bytes().to_vec());
        }
        self.handle.link().add(b.build()).execute().await.map_err(nl)
    }

    /// Move a link into `ns`, renaming it on the way (one request).
    /// Moves a link into `ns` under `new_name`, with this alias (`""` clears it).
    pub async fn move_to(&self, index: u32, ns: &File, new_name: &str, alias: &str) -> Result<()> {
        let msg = LinkUnspec::new_with_index(index)
            .setns_by_fd(ns.as_raw_fd())
            .name(new_name.to_string())
            .alias(alias.to_string())
            .build();
        self.handle.link().set(msg).execute().await.map_err(nl)
    }

    pub async fn set_controller_up(&self, index: u32, controller: u32) -> Result<()> {
        let msg = LinkUnspec::new_with_index(index).controller(controller).up().build();
        self.handle.link().set(msg).execute().await.map_err(nl)
    }

    pub async fn set_up(&self, index: u32, up: bool) -> Result<()> {
        let b = LinkUnspec::new_with_index(index);
        let msg = if up { b.up() } else { b.down() }.build();
        self.handle.link().set(msg).execute().await.map_err(nl)
    }

    pub async fn rename(&self, index: u32, name: &str) -> Result<()> {
        let msg = LinkUnspec::new_with_index(index).name(name.to_string()).build();
        self.handle.link().set(msg).execute().await.map_err(nl)
    }

    pub async fn set_mac(&self, index: u32, mac: MacAddr6) -> Result<()> {
        let msg = LinkUnspec::new_with_index(index).address(mac.as_bytes().to_vec()).build();
        self.handle.link().set(msg).execute().await.map_err(nl)
    }

    pub async fn delete(&self, index: u32) -> Result<()> {
        self.handle.link().del(index).execute().await.map_err(nl)
    }

    /// Adds an address; IPv4 gets its broadcast address computed.
    pub async fn add_address(&self, index: u32, addr: IpNet) -> Result<()> {
        self.handle.address().add(index, addr.addr(), addr.prefix_len()).execute().await.map_err(nl)
    }

    /// The IPv4 addresses on a link (what a DHCP client configured).
    pub async fn ipv4_addresses(&self, index: u32) -> Result<Vec<ipnet::Ipv4Net>> {
        Ok(self.address_messages(index).await?.into_iter().filter_map(|(net, _)| match net {
            IpNet::V4(n) => Some(n),
            IpNet::V6(_) => None,
        }).collect())
    }

    pub async fn delete_address(&self, index: u32, addr: IpNet) -> Result<()> {
        for (net, msg) in self.address_messages(index).await? {
            if net == addr {
                self.handle.address().del(msg).execute().await.map_err(nl)?;
            }
        }
        Ok(())
    }

    async fn address_messages(&self, index: u32) -> Result<Vec<(IpNet, AddressMessage)>> {
        let msgs: Vec<AddressMessage> = self
            .handle
            .address()
            .get()
            .set_link_index_filter(index)
            .execute()
            .try_collect()
            .await
            .map_err(nl)
            .context("listing addresses")?;
        Ok(msgs
            .into_iter()
            .filter_map(|m| {
                let ip = m.attributes.iter().find_map(|a| match a {
                    AddressAttribute::Local(ip) => Some(*ip),
                    _ => None,
                }).or_else(|| m.attributes.iter().find_map(|a| match a {
                    AddressAttribute::Address(ip) => Some(*ip),
                    _ => None,
                }))?;
                let net = IpNet::new(ip, m.header.prefix_len).ok()?;
                Some((net, m))
            })
            .collect())
    }

    /// Default routes of the main table, as the kernel reports them (kept
    /// whole so they can be put back exactly).
    pub async fn default_routes(&self, family: Family) -> Result<Vec<RouteMessage>> {
        let filter = match family {
            Family::V4 => RouteMessageBuilder::<Ipv4Addr>::new().build(),
            Family::V6 => RouteMessageBuilder::<Ipv6Addr>::new().build(),
        };
        let all: Vec<RouteMessage> =
            self.handle.route().get(filter).execute().try_collect().await.map_err(nl).context("listing routes")?;
        Ok(all
            .into_iter()
            .filter(|r| {
                r.header.destination_prefix_length == 0
                    && table_of(r) == u32::from(RouteHeader::RT_TABLE_MAIN)
                    && r.header.kind == rtnetlink::packet_route::route::RouteType::Unicast
            })
            .collect())
    }

    pub async fn delete_route(&self, r: RouteMessage) -> Result<()> {
        self.handle.route().del(r).execute().await.map_err(nl)
    }

    /// Puts a saved route back, replacing any route with the same key (our
    /// own new default, say), so restoring never fails on "exists".
    pub async fn restore_route(&self, r: RouteMessage) -> Result<()> {
        self.handle.route().add(r).replace().execute().await.map_err(nl)
    }

    /// `ip route add GW/32 dev IF` (scope link): makes an off-link gateway reachable.
    pub async fn add_host_route(&self, index: u32, gw: IpAddr) -> Result<()> {
        let len = if gw.is_ipv4() { 32 } else { 128 };
        let msg = RouteMessageBuilder::<IpAddr>::new()
            .destination_prefix(gw, len)
            .map_err(|e| anyhow!("{e}"))?
            .output_interface(index)
            .scope(RouteScope::Link)
            .protocol(RouteProtocol::Boot)
            .build();
        self.handle.route().add(msg).execute().await.map_err(nl)
    }

    /// `ip route replace default via GW dev IF`.
    pub async fn replace_default(&self, index: u32, gw: IpAddr) -> Result<()> {
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
            .build();
        self.handle.route().add(msg).replace().execute().await.map_err(nl)
    }
}

fn table_of(r: &RouteMessage) -> u32 {
    r.attributes
        .iter()
        .find_map(|a| if let RouteAttribute::Table(t) = a { Some(*t) } else { None })
        .unwrap_or(u32::from(r.header.table))
}

/// For messages: "inet" / "inet6" of a route.
pub fn route_family(r: &RouteMessage) -> Family {
    if r.header.address_family == AddressFamily::Inet6 {
        Family::V6
    } else {
        Family::V4
    }
}
