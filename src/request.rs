//! What the user asked for, as types. Every constructor here validates, so a
//! `Request` that exists is one we can act on; bad input dies before the host
//! is touched. Nothing in this file reads or changes the system.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use ipnet::IpNet;
use macaddr::MacAddr6;
use md5::{Digest, Md5};

/// The whole of one invocation.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// Boxed: an attach is several times the size of the other requests.
    Attach(Box<Attach>),
    PassThrough(PassThrough),
    /// `--wait [-i IF]`: block until IF exists in our own namespace.
    Wait {
        guest_if: IfName,
    },
    /// `--detach [-i IF] GUEST`: remove what an attach made.
    Detach(Detach),
    /// `[--detach] --shim [-l NAME] HOSTIF ADDRESS [ROUTE…]`: the host's own
    /// macvlan on HOSTIF, to reach the guests' macvlans.
    Shim(Shim),
    /// `[--detach] tunnel BRIDGE TYPE[:KEY][@VLAN][,…] PEER… [@VLAN]`: the
    /// bridge's tunnels to the other hosts of an overlay.
    Tunnel(Tunnel),
    /// `tunnel [BRIDGE]`: list the tunnels pipework made.
    TunnelList {
        bridge: Option<IfName>,
        ovs_db: Option<String>,
    },
}

/// An overlay's tunnels on one bridge: the same line on every host, each
/// host skipping its own addresses among the peers.
#[derive(Debug, Clone, PartialEq)]
pub struct Tunnel {
    pub bridge: IfName,
    pub kind: TunnelKind,
    /// One tunnel (per peer) for each key, each with its access VLAN on OVS;
    /// a key of None: GRE without a key, VXLAN's VNI 0.
    pub keys: Vec<TunnelKey>,
    pub peers: Vec<IpAddr>,
    /// `--local IP`: the underlay source (default: the route's).
    pub local: Option<IpAddr>,
    /// `--dstport N`: VXLAN's UDP port (default 4789, OVS's and IANA's), or
    /// Geneve's (default 6081).
    pub dstport: Option<u16>,
    /// `--mtu N`: the overlay MTU instead of the underlay's minus the overhead.
    pub mtu: Option<u32>,
    pub detach: bool,
    /// `--ovs-db` (or PIPEWORK_OVS_DB).
    pub ovs_db: Option<String>,
    /// `--ovs-datapath` (or PIPEWORK_OVS_DATAPATH): of an OVS bridge the
    /// line creates.
    pub ovs_datapath: Option<Datapath>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TunnelKind {
    Gre,
    Vxlan,
    /// Open vSwitch bridges only.
    Geneve,
}

impl TunnelKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TunnelKind::Gre => "gre",
            TunnelKind::Vxlan => "vxlan",
            TunnelKind::Geneve => "geneve",
        }
    }
}

/// `KEY@VLAN`: a GRE key (32 bits) or VNI (24 bits), and the local VLAN
/// the key's tenant has on this host's OVS bridge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TunnelKey {
    pub key: Option<u32>,
    pub vlan: Option<u16>,
}

impl Tunnel {
    /// Parses `TYPE[:KEY][@VLAN][,KEY@VLAN…]`, the peers and a trailing
    /// `@VLAN` (the same as `:KEY@VLAN` for a single key).
    pub fn parse_words(bridge: &str, spec: &str, rest: &[String]) -> Result<(Tunnel, Vec<String>)> {
        let bridge = IfName::parse(bridge, "bridge")?;
        let (kind, keys) = spec.split_once(':').map_or((spec, None), |(k, v)| (k, Some(v)));
        let (kind, first_vlan) = kind.split_once('@').map_or((kind, None), |(k, v)| (k, Some(v)));
        let kind = match kind {
            "gre" => TunnelKind::Gre,
            "vxlan" => TunnelKind::Vxlan,
            "geneve" => TunnelKind::Geneve,
            other => bail!("'{spec}': tunnel type '{other}' is not gre, vxlan or geneve"),
        };
        let max = match kind {
            TunnelKind::Gre => u64::from(u32::MAX),
            TunnelKind::Vxlan | TunnelKind::Geneve => (1 << 24) - 1,
        };
        let vlan = |v: &str| -> Result<u16> {
            match v.parse::<u16>() {
                Ok(id) if (1..=4094).contains(&id) => Ok(id),
                _ => bail!("'@{v}': a VLAN ID is a number from 1 to 4094"),
            }
        };
        let mut parsed = Vec::new();
        match keys {
            None => parsed.push(TunnelKey { key: None, vlan: first_vlan.map(vlan).transpose()? }),
            Some(list) => {
                for item in list.split(',') {
                    let (k, v) = item.split_once('@').map_or((item, None), |(k, v)| (k, Some(v)));
                    let key = k.parse::<u64>().ok().filter(|k| *k <= max).with_context(|| {
                        format!("'{spec}': key '{k}' is not a number from 0 to {max} ({} keys)", kind.as_str())
                    })?;
                    parsed.push(TunnelKey { key: Some(key as u32), vlan: v.map(vlan).transpose()? });
                }
            }
        }
        if parsed.iter().enumerate().any(|(i, a)| parsed[..i].iter().any(|b| b.key == a.key)) {
            bail!("'{spec}': a key is named twice");
        }
        let mut peers = Vec::new();
        let mut options = Vec::new();
        let mut w = rest.iter();
        while let Some(word) = w.next() {
            if let Some(v) = word.strip_prefix('@') {
                if parsed.len() > 1 {
                    bail!("'{word}': with several keys, give each its VLAN as KEY@VLAN");
                }
                parsed[0].vlan = Some(vlan(v)?);
            } else if word.starts_with("--") {
                options.push(word.clone());
                options.push(w.next().with_context(|| format!("{word} needs a value"))?.clone());
            } else {
                let ip = word
                    .parse::<IpAddr>()
                    .with_context(|| format!("peer '{word}' is not an IP address (the underlay address of a host)"))?;
                if !peers.contains(&ip) {
                    peers.push(ip);
                }
            }
        }
        let t = Tunnel {
            bridge,
            kind,
            keys: parsed,
            peers,
            local: None,
            dstport: None,
            mtu: None,
            detach: false,
            ovs_db: None,
            ovs_datapath: None,
        };
        Ok((t, options))
    }
}

/// The host's macvlan beside the guests': a macvlan parent does not pass
/// traffic between itself and its macvlans, so the host reaches its own
/// macvlan guests only through a macvlan of its own.
#[derive(Debug, Clone, PartialEq)]
pub struct Shim {
    pub parent: IfName,
    /// `-l NAME`, default `shim-` and the parent's name, cut to 15 bytes.
    pub name: IfName,
    /// None with `--detach`.
    pub address: Option<IpNet>,
    /// More destinations (guests' addresses or prefixes) routed through it.
    pub routes: Vec<IpNet>,
    /// An ipvlan shim, for ipvlan guests; None: a macvlan in bridge mode.
    pub ipvlan: Option<Ipvlan>,
    pub detach: bool,
    /// `--replace`: a shim there but not as asked is made again.
    pub replace: bool,
}

/// `--detach [--strict] [-i IF] GUEST`.
#[derive(Debug, Clone, PartialEq)]
pub struct Detach {
    pub guest: GuestRef,
    pub guest_if: IfName,
    /// A guest or interface that is not there is an error, not "nothing to do".
    pub strict: bool,
    pub ovs_db: Option<String>,
}

/// The container engines that can name a guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Engine {
    Docker,
    Podman,
    /// containerd itself, through `ctr` (CONTAINERD_ADDRESS and
    /// CONTAINERD_NAMESPACE are honoured, as ctr honours them).
    Containerd,
}

impl Engine {
    /// Asked in this order for a plain GUEST word, after LXC, PIDs and netns names.
    pub const AUTO_ORDER: [Engine; 3] = [Engine::Docker, Engine::Podman, Engine::Containerd];

    /// `docker:NAME` names a Docker container, and so on.
    pub fn prefix(self) -> &'static str {
        match self {
            Engine::Docker => "docker:",
            Engine::Podman => "podman:",
            Engine::Containerd => "containerd:",
        }
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Engine::Docker => "Docker",
            Engine::Podman => "Podman",
            Engine::Containerd => "containerd",
        })
    }
}

/// `HOSTIF [-i GUESTIF] [-l HOSTSIDEIF] [-a FAMILY] GUEST ADDRESS [MAC][@VLAN]`
#[derive(Debug, Clone, PartialEq)]
pub struct Attach {
    pub host_if: HostIfRef,
    /// None means the default for the host interface's kind (`eth1`, or `ib0`
    /// on IPoIB), which only the facts can tell.
    pub guest_if: Option<IfName>,
    pub host_side: Option<IfName>,
    pub guest: GuestRef,
    pub address: AddressSpec,
    pub mac: Option<MacAddr6>,
    /// `@VLAN`, read by the host interface's kind.
    pub tag: Option<Tag>,
    pub direct_phys: bool,
    /// `--replace`: GUESTIF there but not as asked is made again.
    pub replace: bool,
    /// `--ipvlan MODE [--ipvlan-flags F]`: an ipvlan on HOSTIF instead of a macvlan.
    pub ipvlan: Option<Ipvlan>,
    /// `--macvlan-mode`: how the macvlan switches (bridge when not given).
    pub macvlan_mode: Option<MacvlanMode>,
    /// `--metric N`: the default route gets this metric, and the guest's
    /// own default routes stay.
    pub metric: Option<u32>,
    /// `--nodad`: IPv6 addresses skip duplicate address detection.
    pub nodad: bool,
    /// `--table N`: the interface's routes in table N, and a rule sending
    /// its addresses' traffic there; the guest's main table stays.
    pub table: Option<u32>,
    /// Routes through this interface besides the default one (from a CNI
    /// IPAM plugin's result; the command line has none).
    pub routes: Vec<Route>,
    /// `--mtu`, `--txqueuelen`, `--promisc`, `--sysctl`, `--hairpin`, `--isolated`.
    pub tuning: Tuning,
    pub ovs: OvsOptions,
    /// `ovn:LSWITCH`'s choices: used only when HOSTIF is an OVN switch.
    pub ovn: OvnOptions,
    /// How long a DHCP method may take to a lease before the attach is undone.
    pub dhcp_timeout: std::time::Duration,
}

impl Attach {
    /// HOSTIF, GUEST and ADDRESS with every option at its default (what
    /// `pipework HOSTIF GUEST ADDRESS` asks); callers set the rest.
    pub fn new(host_if: HostIfRef, guest: GuestRef, address: AddressSpec) -> Attach {
        Attach {
            host_if,
            guest_if: None,
            host_side: None,
            guest,
            address,
            mac: None,
            tag: None,
            direct_phys: false,
            replace: false,
            ipvlan: None,
            macvlan_mode: None,
            metric: None,
            nodad: false,
            table: None,
            routes: Vec::new(),
            tuning: Tuning::default(),
            ovs: OvsOptions::default(),
            ovn: OvnOptions::default(),
            dhcp_timeout: std::time::Duration::from_secs(30),
        }
    }
}

/// `ip route add DEST [via GW] dev GUESTIF` in the guest.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub dest: IpNet,
    pub via: Option<IpAddr>,
}

/// How macvlans of one parent reach each other: `bridge`, directly (the
/// reference's, the default); `private`, not at all; `vepa`, only through the
/// switch outside; `passthru`, the one macvlan takes the parent over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MacvlanMode {
    Bridge,
    Private,
    Vepa,
    Passthru,
}

impl MacvlanMode {
    /// As `ip link … type macvlan mode M` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            MacvlanMode::Bridge => "bridge",
            MacvlanMode::Private => "private",
            MacvlanMode::Vepa => "vepa",
            MacvlanMode::Passthru => "passthru",
        }
    }
}

/// An ipvlan's mode and flags, as `ip link … type ipvlan mode M [F]` takes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipvlan {
    pub mode: IpvlanMode,
    pub flag: Option<IpvlanFlag>,
}

/// Where an ipvlan switches: at layer 2, or routes at layer 3 (l3s: with
/// netfilter seeing the traffic).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum IpvlanMode {
    L2,
    L3,
    L3s,
}

/// How ipvlans of one parent reach each other: `private`, not at all;
/// `vepa`, only through the switch outside (the default: directly).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum IpvlanFlag {
    Private,
    Vepa,
}

/// Open vSwitch choices beyond the reference's grammar (options or
/// environment variables), used only when HOSTIF is an OVS bridge.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OvsOptions {
    /// Datapath of a bridge this run creates; None: decided by the kernel.
    pub datapath: Option<Datapath>,
    /// The ovsdb-server to talk to, in `ovs-vsctl --db` form.
    pub db: Option<String>,
    /// More Interface external-ids than an attach's own (a CNI attachment
    /// marks its network and interface, to find the port after its
    /// namespace is gone).
    pub external_ids: Vec<(String, String)>,
}

/// OVN choices (`--ovn-nb`, `--ovn-port`, `--ovn-timeout`), used only when
/// HOSTIF is `ovn:LSWITCH`.
#[derive(Debug, Clone, PartialEq)]
pub struct OvnOptions {
    /// The Northbound database, in `ovn-nbctl --db` form; None: OVN_NB_DB,
    /// else OVN's default socket.
    pub nb: Option<String>,
    /// The logical switch port's name; None: derived from the guest and
    /// GUESTIF.
    pub port: Option<String>,
    /// How long ovn-controller may take to bind the port.
    pub timeout: std::time::Duration,
    /// For an `ssl:` database: this client's private key, certificate and
    /// the CA certificate (`--ovn-nb-key`, `--ovn-nb-cert`, `--ovn-nb-ca`).
    pub key: Option<std::path::PathBuf>,
    pub cert: Option<std::path::PathBuf>,
    pub ca: Option<std::path::PathBuf>,
}

impl Default for OvnOptions {
    fn default() -> OvnOptions {
        OvnOptions {
            nb: None,
            port: None,
            timeout: std::time::Duration::from_secs(10),
            key: None,
            cert: None,
            ca: None,
        }
    }
}

/// Where an OVS bridge forwards: in the kernel module, or in ovs-vswitchd.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Datapath {
    /// The openvswitch kernel module (ovs-vsctl's default).
    System,
    /// ovs-vswitchd itself (userspace); works on kernels without the module.
    Netdev,
}

impl Datapath {
    pub fn as_str(self) -> &'static str {
        match self {
            Datapath::System => "system",
            Datapath::Netdev => "netdev",
        }
    }
}

/// `pipework route|rule|tc GUEST ARGS…`: iproute2's own grammar, run in the guest.
#[derive(Debug, Clone, PartialEq)]
pub struct PassThrough {
    pub verb: Verb,
    pub guest: GuestRef,
    pub args: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Route,
    Rule,
    Tc,
}

impl Verb {
    /// The reference dispatches on a prefix of a name that is not an interface.
    pub fn from_prefix(word: &str) -> Option<Verb> {
        if word.starts_with("route") {
            Some(Verb::Route)
        } else if word.starts_with("rule") {
            Some(Verb::Rule)
        } else if word.starts_with("tc") {
            Some(Verb::Tc)
        } else {
            None
        }
    }

    /// The program and leading words that carry out this verb.
    pub fn command(self) -> (&'static str, &'static [&'static str]) {
        match self {
            Verb::Route => ("ip", &["route"]),
            Verb::Rule => ("ip", &["rule"]),
            Verb::Tc => ("tc", &[]),
        }
    }
}

/// A Linux interface name: the kernel takes 1 to 15 bytes, no `/`, `:` or
/// white space, and neither `.` nor `..`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IfName(String);

pub const IFNAMSIZ_MAX: usize = 15;

impl IfName {
    pub fn parse(s: &str, what: &str) -> Result<IfName> {
        if s.is_empty() {
            bail!("{what}: an interface name cannot be empty");
        }
        if s.len() > IFNAMSIZ_MAX {
            bail!("{what}: interface name '{s}' is {} bytes long; Linux allows at most {IFNAMSIZ_MAX}", s.len());
        }
        if s == "." || s == ".." {
            bail!("{what}: '{s}' is not a valid interface name");
        }
        if let Some(c) = s.chars().find(|c| *c == '/' || *c == ':' || c.is_whitespace()) {
            bail!("{what}: interface name '{s}' contains '{}', which Linux does not allow", c.escape_default());
        }
        if s.contains('%') {
            // The kernel would take it as a template (eth%d → eth0), and the
            // device would not be called what we asked for.
            bail!("{what}: interface name '{s}' contains '%', which Linux takes as a template for a number");
        }
        Ok(IfName(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IfName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How the first argument names the host interface.
#[derive(Debug, Clone, PartialEq)]
pub enum HostIfRef {
    Name(IfName),
    /// `mac:AA:BB:CC:DD:EE:FF`: whichever host interface has this address.
    Mac(MacAddr6),
    /// `ovn:LSWITCH`: a port of this OVN logical switch, through the local
    /// ovn-controller's integration bridge.
    Ovn(String),
}

impl HostIfRef {
    pub fn parse(s: &str) -> Result<HostIfRef> {
        if let Some(mac) = s.strip_prefix("mac:") {
            let mac = mac
                .parse::<MacAddr6>()
                .map_err(|_| anyhow::anyhow!("'{s}': '{mac}' is not a MAC address (expected mac:aa:bb:cc:dd:ee:ff)"))?;
            return Ok(HostIfRef::Mac(mac));
        }
        if let Some(switch) = s.strip_prefix("ovn:") {
            if switch.is_empty() || switch.chars().any(|c| c.is_whitespace() || c.is_control()) {
                bail!("'{s}': expected ovn:LSWITCH, the name of an OVN logical switch (ovn-nbctl ls-list shows them)");
            }
            return Ok(HostIfRef::Ovn(switch.to_string()));
        }
        Ok(HostIfRef::Name(IfName::parse(s, "host interface")?))
    }
}

impl fmt::Display for HostIfRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostIfRef::Name(n) => write!(f, "{n}"),
            HostIfRef::Mac(m) => write!(f, "mac:{}", format_mac(m)),
            HostIfRef::Ovn(s) => write!(f, "ovn:{s}"),
        }
    }
}

/// Which container. `Auto` is the reference's plain word; the prefixed forms
/// say explicitly what the word is.
#[derive(Debug, Clone, PartialEq)]
pub enum GuestRef {
    Auto(String),
    Pid(u32),
    NetnsName(String),
    NetnsPath(PathBuf),
    /// `docker:NAME`, `podman:NAME`, `containerd:NAME`, or any name under
    /// `--engine`.
    Engine(Engine, String),
}

impl GuestRef {
    /// With `--engine E`, a plain word is a container name for E.
    pub fn parse(s: &str, engine: Option<Engine>) -> Result<GuestRef> {
        if s.is_empty() {
            bail!("the guest (container name, PID or network namespace) cannot be empty");
        }
        let r = if let Some(pid) = s.strip_prefix("pid:") {
            GuestRef::Pid(
                pid.parse().ok().filter(|p| *p > 0).with_context(|| format!("'{s}': '{pid}' is not a process ID"))?,
            )
        } else if let Some(name) = s.strip_prefix("netns:") {
            if name.is_empty() || name.contains('/') {
                bail!("'{s}': a namespace name is a plain file name under /var/run/netns");
            }
            GuestRef::NetnsName(name.to_string())
        } else if let Some((e, name)) =
            Engine::AUTO_ORDER.iter().find_map(|e| s.strip_prefix(e.prefix()).map(|n| (*e, n)))
        {
            if name.is_empty() {
                bail!("'{s}': a container name must follow {}", e.prefix());
            }
            GuestRef::Engine(e, name.to_string())
        } else if s.contains('/') {
            GuestRef::NetnsPath(PathBuf::from(s))
        } else if let Some(e) = engine {
            GuestRef::Engine(e, s.to_string())
        } else {
            GuestRef::Auto(s.to_string())
        };
        Ok(r)
    }
}

impl fmt::Display for GuestRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GuestRef::Auto(s) | GuestRef::Engine(_, s) | GuestRef::NetnsName(s) => f.write_str(s),
            GuestRef::Pid(p) => write!(f, "{p}"),
            GuestRef::NetnsPath(p) => write!(f, "{}", p.display()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    /// `-a`: the reference passes this to `ip -FAMILY`; it only works with 4
    /// and 6. We take every spelling `ip` itself takes.
    pub fn parse(s: &str) -> Result<Family> {
        match s {
            "4" | "inet" | "ipv4" => Ok(Family::V4),
            "6" | "inet6" | "ipv6" => Ok(Family::V6),
            _ => bail!("-a {s}: unknown address family; use 4 (inet) or 6 (inet6)"),
        }
    }

    pub fn of(ip: &IpAddr) -> Family {
        match ip {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::V4 => "inet",
            Family::V6 => "inet6",
        })
    }
}

/// The ADDRESS argument.
#[derive(Debug, Clone, PartialEq)]
pub enum AddressSpec {
    /// `0/0`: move and set up the interface, configure no address.
    None {
        gateway: Option<IpAddr>,
    },
    /// One address or several (`A,B,…`, IPv4 and IPv6 mixed), each with its
    /// optional gateway; at most one gateway per family.
    Static {
        addrs: Vec<Addressed>,
    },
    Dhcp {
        method: DhcpMethod,
        options: Vec<String>,
    },
    /// `slaac`: IPv6 addresses and the default route from router
    /// advertisements on the link.
    Slaac,
}

/// Settings of the guest's interface beyond its address.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tuning {
    /// Instead of HOSTIF's MTU (a veth's host side gets it too).
    pub mtu: Option<u32>,
    pub txqueuelen: Option<u32>,
    pub promisc: bool,
    /// Guest sysctls, `net.…` only, as `sysctl -w KEY=VALUE` takes them.
    pub sysctls: Vec<(String, String)>,
    /// Linux bridge port flags of the veth's host side.
    pub hairpin: bool,
    pub isolated: bool,
    /// `--vlan-filtering`: `@VLAN` on an existing Linux bridge may turn its
    /// VLAN filtering on.
    pub vlan_filtering: bool,
}

impl Tuning {
    /// `--sysctl KEY=VALUE`: a key of the guest's network namespace.
    pub fn parse_sysctl(s: &str) -> Result<(String, String)> {
        let Some((k, v)) = s.split_once('=') else { bail!("--sysctl {s}: expected KEY=VALUE") };
        let ok = k.starts_with("net.") || k.starts_with("net/");
        let clean = k.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-/".contains(&b)) && !k.contains("..");
        if !ok || !clean {
            bail!("--sysctl {s}: only the guest's own net.* keys can be set (e.g. net.ipv6.conf.eth1.accept_ra=2)");
        }
        Ok((k.to_string(), v.trim().to_string()))
    }
}

/// One static address and the default gateway that came with it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Addressed {
    pub addr: IpNet,
    pub gateway: Option<IpAddr>,
}

/// How the lease is obtained. `renew`: the `-f` forms, whose client stays in
/// the background renewing the lease; the others stop once it is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DhcpMethod {
    /// `dhcp`: udhcpc in a throw-away busybox container (Docker guests).
    DockerBusybox,
    Udhcpc {
        renew: bool,
    },
    Dhclient {
        renew: bool,
    },
    Dhcpcd,
    /// `builtin-dhcp[-f]`: our own client; nothing needs to be installed.
    Builtin {
        renew: bool,
    },
}

impl DhcpMethod {
    const ALL: [DhcpMethod; 8] = [
        DhcpMethod::DockerBusybox,
        DhcpMethod::Udhcpc { renew: false },
        DhcpMethod::Udhcpc { renew: true },
        DhcpMethod::Dhclient { renew: false },
        DhcpMethod::Dhclient { renew: true },
        DhcpMethod::Dhcpcd,
        DhcpMethod::Builtin { renew: false },
        DhcpMethod::Builtin { renew: true },
    ];

    /// The program that obtains the lease; None for the built-in client.
    pub fn program(self) -> Option<&'static str> {
        match self {
            DhcpMethod::DockerBusybox => Some("docker"),
            DhcpMethod::Udhcpc { .. } => Some("udhcpc"),
            DhcpMethod::Dhclient { .. } => Some("dhclient"),
            DhcpMethod::Dhcpcd => Some("dhcpcd"),
            DhcpMethod::Builtin { .. } => None,
        }
    }

    /// The word on the command line.
    pub fn keyword(self) -> &'static str {
        match self {
            DhcpMethod::DockerBusybox => "dhcp",
            DhcpMethod::Udhcpc { renew: false } => "udhcpc",
            DhcpMethod::Udhcpc { renew: true } => "udhcpc-f",
            DhcpMethod::Dhclient { renew: false } => "dhclient",
            DhcpMethod::Dhclient { renew: true } => "dhclient-f",
            DhcpMethod::Dhcpcd => "dhcpcd",
            DhcpMethod::Builtin { renew: false } => "builtin-dhcp",
            DhcpMethod::Builtin { renew: true } => "builtin-dhcp-f",
        }
    }
}

impl AddressSpec {
    /// DHCP, `0/0`, one address, or a comma-separated list of them.
    pub fn parse(s: &str, family: Option<Family>) -> Result<AddressSpec> {
        let (head, opts) = match s.split_once(':') {
            Some((h, o)) => (h, Some(o)),
            None => (s, None),
        };
        if s == "slaac" {
            return Ok(AddressSpec::Slaac);
        }
        let method = DhcpMethod::ALL.into_iter().find(|m| m.keyword() == head);
        if let Some(method) = method {
            let options =
                opts.unwrap_or("").split(' ').filter(|w| !w.is_empty()).map(str::to_string).collect::<Vec<_>>();
            if matches!(method, DhcpMethod::Builtin { .. }) && !options.is_empty() {
                bail!("{head} takes no :OPTIONS (it is pipework's own client, not a program)");
            }
            return Ok(AddressSpec::Dhcp { method, options });
        }

        if s.contains(',') {
            let mut addrs: Vec<Addressed> = Vec::new();
            for item in s.split(',') {
                let a = match AddressSpec::parse_one(item, family)? {
                    AddressSpec::Static { addrs } => addrs[0],
                    _ => bail!("'{s}': 0/0 stands alone; in a list every item is an address with its prefix"),
                };
                if let Some(gw) = a.gateway {
                    if addrs.iter().filter_map(|b| b.gateway).any(|other| Family::of(&other) == Family::of(&gw)) {
                        bail!("'{s}': one default gateway per family; {gw} is a second {}", Family::of(&gw));
                    }
                }
                addrs.push(a);
            }
            return Ok(AddressSpec::Static { addrs });
        }
        AddressSpec::parse_one(s, family)
    }

    /// `A.B.C.D/N[@GATEWAY]`, an IPv6 prefix[@GATEWAY], or `0/0[@GATEWAY]`.
    fn parse_one(s: &str, family: Option<Family>) -> Result<AddressSpec> {
        let (addr, gateway) = match s.split_once('@') {
            Some((a, g)) => (a, Some(g)),
            None => (s, None),
        };
        let gateway = gateway
            .map(|g| g.parse::<IpAddr>().with_context(|| format!("'{s}': the gateway '{g}' is not an IP address")))
            .transpose()?;

        if addr == "0/0" {
            return Ok(AddressSpec::None { gateway });
        }
        let Some((ip, _)) = addr.split_once('/') else {
            let hint = if addr.contains(':') { 64 } else { 24 };
            bail!("the IP address '{addr}' needs a netmask. Maybe you meant {addr}/{hint}?");
        };
        let net: IpNet = addr.parse().with_context(|| {
            if ip.parse::<IpAddr>().is_err() {
                format!("'{ip}' is not an IPv4 or IPv6 address")
            } else {
                format!("'{addr}': the prefix length after '/' is not valid for this address")
            }
        })?;
        let fam = Family::of(&net.addr());
        if let Some(wanted) = family {
            if wanted != fam {
                bail!("-a {wanted} was given, but {addr} is an {fam} address");
            }
        }
        if let Some(gw) = gateway {
            if Family::of(&gw) != fam {
                bail!("the gateway {gw} and the address {addr} are of different families");
            }
            if gw.is_multicast() || gw.is_unspecified() {
                bail!("{gw} cannot be a gateway");
            }
        }
        if net.addr().is_multicast() || net.addr().is_unspecified() {
            bail!("{addr}: cannot assign this address to an interface");
        }
        Ok(AddressSpec::Static { addrs: vec![Addressed { addr: net, gateway }] })
    }
}

/// `@VLAN` as typed. Its meaning depends on the host interface, so each
/// kind reads it as it needs: a VLAN ID on an OVS bridge or under a macvlan,
/// a partition key on IPoIB; a Linux bridge refuses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag(String);

impl Tag {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// An 802.1Q VLAN ID, 1 to 4094.
    pub fn vlan_id(&self) -> Result<u16> {
        match self.0.parse::<u16>() {
            Ok(id) if (1..=4094).contains(&id) => Ok(id),
            _ => bail!("'@{}': a VLAN ID is a number from 1 to 4094", self.0),
        }
    }

    /// An IPoIB partition key: hex digits, as the reference passes `pkey 0xPKEY`.
    pub fn pkey(&self) -> Result<u16> {
        match u16::from_str_radix(self.0.trim_start_matches("0x"), 16) {
            Ok(k) if k != 0 => Ok(k),
            _ => bail!("'@{}': on an IPoIB interface this is a partition key, 1 to ffff in hex", self.0),
        }
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The optional last argument, `[MAC][@VLAN]`.
pub fn parse_mac_tag(s: &str) -> Result<(Option<MacAddr6>, Option<Tag>)> {
    let mut parts = s.split('@');
    let mac = parts.next().unwrap_or("");
    let tag = parts.next();
    let mac = if mac.is_empty() { None } else { Some(parse_mac(mac)?) };
    let tag = match tag {
        None | Some("") => None,
        Some(v) => Some(Tag(v.to_string())),
    };
    Ok((mac, tag))
}

/// An explicit MAC, or `U:text` for a stable one derived from text.
pub fn parse_mac(s: &str) -> Result<MacAddr6> {
    if let Some(seed) = s.strip_prefix("U:") {
        return Ok(stable_mac(seed));
    }
    let mac: MacAddr6 =
        s.parse().map_err(|_| anyhow::anyhow!("'{s}' is not a MAC address (expected aa:bb:cc:dd:ee:ff or U:text)"))?;
    if mac.as_bytes()[0] & 1 == 1 {
        bail!("{s} is a multicast MAC address; an interface needs a unicast one (even first byte)");
    }
    if mac.is_nil() {
        bail!("{s}: the all-zero MAC address cannot be assigned");
    }
    Ok(mac)
}

/// The reference's `U:` MAC: `02` (locally administered, unicast) followed by
/// the first five bytes of MD5 of what `echo $text` prints: the text split
/// into words at white space, joined by single spaces, and a newline.
pub fn stable_mac(seed: &str) -> MacAddr6 {
    let echoed = seed.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut h = Md5::new();
    h.update(echoed.as_bytes());
    h.update(b"\n");
    let d = h.finalize();
    MacAddr6::new(0x02, d[0], d[1], d[2], d[3], d[4])
}

/// Lower-case colon form, as iproute2 prints it.
pub fn format_mac(m: &MacAddr6) -> String {
    let b = m.as_bytes();
    format!("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2], b[3], b[4], b[5])
}

#[cfg(test)]
mod tests {
    fn tunnel(words: &str) -> Result<Tunnel> {
        let w: Vec<String> = words.split(' ').map(str::to_string).collect();
        Tunnel::parse_words(&w[0], &w[1], &w[2..]).map(|(t, _)| t)
    }

    #[test]
    fn tunnel_lines() {
        let t = tunnel("br-int gre:2@1,3@4 10.0.0.1 10.0.0.2").unwrap();
        assert_eq!(t.kind, TunnelKind::Gre);
        assert_eq!(t.keys, [TunnelKey { key: Some(2), vlan: Some(1) }, TunnelKey { key: Some(3), vlan: Some(4) }]);
        assert_eq!(t.peers.len(), 2);
        let t = tunnel("ovs0 vxlan:1000 10.0.0.1 @300").unwrap();
        assert_eq!(t.keys, [TunnelKey { key: Some(1000), vlan: Some(300) }]);
        assert_eq!(tunnel("ovs0 gre 10.0.0.1").unwrap().keys, [TunnelKey { key: None, vlan: None }]);
        assert_eq!(tunnel("ovs0 gre:4294967295 10.0.0.1").unwrap().keys[0].key, Some(u32::MAX));
        for bad in [
            "ovs0 vxlan:16777216 10.0.0.1",
            "ovs0 ipip 10.0.0.1",
            "ovs0 gre:1@1,1@2 10.0.0.1",
            "ovs0 gre:1@1,2@2 10.0.0.1 @3",
            "ovs0 vxlan:5 10.0.0.1 @4095",
            "ovs0 vxlan:5 host-a",
        ] {
            assert!(tunnel(bad).is_err(), "{bad}");
        }
    }

    use super::*;

    #[test]
    fn stable_mac_matches_the_reference() {
        assert_eq!(format_mac(&stable_mac("myhost.foo.com")), "02:72:6c:cd:9b:8d");
        // `echo $text` word-splits: runs of white space print as one space.
        // MD5("web 1\n") starts 18 6c 96 37 11.
        assert_eq!(format_mac(&stable_mac("  web \t  1 ")), "02:18:6c:96:37:11");
        assert_eq!(stable_mac("web   1"), stable_mac("web 1"));
    }

    #[test]
    fn mac_and_vlan_forms() {
        let m: MacAddr6 = "aa:bb:cc:dd:ee:f0".parse().unwrap();
        let tag = |s: &str| Some(Tag(s.into()));
        assert_eq!(parse_mac_tag("aa:bb:cc:dd:ee:f0@100").unwrap(), (Some(m), tag("100")));
        assert_eq!(parse_mac_tag("aa:bb:cc:dd:ee:f0").unwrap(), (Some(m), None));
        assert_eq!(parse_mac_tag("@42").unwrap(), (None, tag("42")));
        assert!(parse_mac_tag("01:00:5e:00:00:01").is_err());
        assert_eq!(Tag("42".into()).vlan_id().unwrap(), 42);
        assert!(Tag("0".into()).vlan_id().is_err() && Tag("4095".into()).vlan_id().is_err());
        // On IPoIB the same field is a partition key, in hex.
        assert_eq!(Tag("8001".into()).pkey().unwrap(), 0x8001);
        assert_eq!(Tag("0x7fff".into()).pkey().unwrap(), 0x7fff);
        let bad = ["0", "10000", "xyz"];
        assert!(bad.iter().all(|k| Tag(k.to_string()).pkey().is_err()));
    }

    #[test]
    fn addresses() {
        let a = AddressSpec::parse("10.10.103.95/24@10.10.103.254", None).unwrap();
        assert_eq!(
            a,
            AddressSpec::Static {
                addrs: vec![Addressed {
                    addr: "10.10.103.95/24".parse().unwrap(),
                    gateway: Some("10.10.103.254".parse().unwrap())
                }]
            }
        );
        // Several, each with its gateway, IPv4 and IPv6 mixed.
        let AddressSpec::Static { addrs } =
            AddressSpec::parse("10.0.0.5/24@10.0.0.1,2001:db8::5/64@2001:db8::1,10.0.1.5/24", None).unwrap()
        else {
            panic!("not static")
        };
        assert_eq!(addrs.len(), 3);
        assert_eq!(addrs[1].gateway, Some("2001:db8::1".parse().unwrap()));
        assert!(AddressSpec::parse("10.0.0.5/24@10.0.0.1,10.0.1.5/24@10.0.1.1", None).is_err(), "two IPv4 gateways");
        assert!(AddressSpec::parse("0/0,10.0.0.5/24", None).is_err());
        assert_eq!(AddressSpec::parse("0/0", None).unwrap(), AddressSpec::None { gateway: None });
        let e = AddressSpec::parse("10.0.0.1", None).unwrap_err().to_string();
        assert!(e.contains("10.0.0.1/24"), "{e}");
        assert!(AddressSpec::parse("10.0.0.1/24", Some(Family::V6)).is_err());
        assert!(AddressSpec::parse("2001:db8::5/64@10.0.0.1", None).is_err());
        assert_eq!(
            AddressSpec::parse("udhcpc-f:-t 5 -T 1", None).unwrap(),
            AddressSpec::Dhcp {
                method: DhcpMethod::Udhcpc { renew: true },
                options: vec!["-t".into(), "5".into(), "-T".into(), "1".into()]
            }
        );
    }

    #[test]
    fn interface_names() {
        assert!(IfName::parse("eth1", "x").is_ok());
        assert!(IfName::parse("a23456789012345", "x").is_ok());
        assert!(IfName::parse("a234567890123456", "x").is_err());
        assert!(IfName::parse("a/b", "x").is_err());
        assert!(IfName::parse("a b", "x").is_err());
        assert!(IfName::parse("..", "x").is_err());
        assert!(IfName::parse("eth%d", "x").is_err());
    }
}
