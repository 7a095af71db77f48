//! argv → `Request`. clap owns `--help`, `--version` and the long flags; the
//! reference's positional grammar (where `-i`, `-l`, `-a` follow HOSTIF) is
//! parsed here by hand, because clap cannot express "options in the middle of
//! positionals, then free words for iproute2".

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Parser;

use crate::request::{
    parse_mac_tag, AddressSpec, Attach, Datapath, Detach, Engine, Family, GuestRef, HostIfRef, IfName, Ipvlan,
    IpvlanFlag, IpvlanMode, MacvlanMode, OvnOptions, OvsOptions, PassThrough, Request, Shim, Tuning, Tunnel, Verb,
};

pub const USAGE: &str = "\
Usage:
  pipework [--direct-phys] HOSTIF [-i GUESTIF] [-l HOSTSIDEIF] [-a FAMILY] GUEST ADDRESS [MAC][@VLAN]
  pipework HOSTIF [-i GUESTIF] GUEST dhcp[:OPTS] [MAC][@VLAN]
  pipework route GUEST ROUTE-ARGS...     (ip route ROUTE-ARGS inside GUEST)
  pipework rule GUEST RULE-ARGS...       (ip rule RULE-ARGS inside GUEST)
  pipework tc GUEST TC-ARGS...           (tc TC-ARGS inside GUEST)
  pipework --wait [-i GUESTIF]
  pipework --detach [--strict] [-i GUESTIF] GUEST
                                         (or the attach command line after --detach)

  ADDRESS is A.B.C.D/N[@GATEWAY], an IPv6 prefix[@GATEWAY], a list of those
  (A,B,...), 0/0 (no address), slaac (IPv6 from router advertisements),
  or a DHCP method (dhcp, udhcpc, udhcpc-f, dhclient, dhclient-f, dhcpcd,
  builtin-dhcp, builtin-dhcp-f).
  GUEST is a Docker container, an LXC container, a PID, a name in
  /var/run/netns, or a path to a network namespace file.
  See pipework --help and pipework(8).";

/// Plumb an extra network interface into a running container.
#[derive(Parser, Debug)]
#[command(
    name = "pipework",
    version,
    long_about = "Plumb an extra network interface into a running container: a veth pair onto a Linux or \
Open vSwitch bridge, a macvlan on a physical interface, or the interface itself, then an address \
(static or by DHCP), a default route and a gratuitous ARP. A drop-in replacement for the pipework \
shell script: its command lines work unchanged, every change is a netlink request, and a failed \
attach removes everything it made.",
    override_usage = "pipework [--direct-phys] HOSTIF [-i GUESTIF] [-l HOSTSIDEIF] [-a FAMILY] GUEST ADDRESS [MAC][@VLAN]\n       pipework route|rule|tc GUEST ARGS...\n       pipework [--detach] tunnel BRIDGE TYPE[:KEY][@VLAN][,KEY@VLAN...] PEER... [@VLAN]\n       pipework --wait [-i GUESTIF]\n       pipework --detach [--strict] [-i GUESTIF] GUEST",
    after_help = "HOSTIF is a Linux bridge (created when missing and named br*), an Open vSwitch bridge \
(created when missing and named ovs*), a dummy* name (a dummy interface in the guest), an IPoIB \
interface, a physical interface (a macvlan is made on it), or mac:AA:BB:CC:DD:EE:FF for the \
interface with that address, or ovn:LSWITCH for a port of an OVN logical switch (on a host where \
ovn-controller runs).\n\
ADDRESS is A.B.C.D/N[@GATEWAY], an IPv6 prefix[@GATEWAY], 0/0 for no address, or a DHCP method: \
dhcp, udhcpc, udhcpc-f, dhclient, dhclient-f, dhcpcd (each [:OPTIONS]), builtin-dhcp, builtin-dhcp-f.\n\
MAC is aa:bb:cc:dd:ee:ff or U:text (a stable address derived from text); @VLAN is an 802.1Q tag \
(an OVS access tag, or PARENT.VLAN under a macvlan; on IPoIB, the partition key).\n\
GUEST is a Docker, Podman or containerd container (or docker:/podman:/containerd:NAME), an LXC \
container, a PID (or pid:N), a network namespace name under /var/run/netns (or netns:NAME), or a \
path to a network namespace file.\n\n\
Examples:\n  pipework br1 web1 192.168.1.10/24@192.168.1.1\n  pipework eth2 -i eth1 db1 10.0.5.2/24 U:db1.example.com\n  \
pipework ovsbr0 web1 10.0.5.2/24 @100\n  pipework br1 web1 builtin-dhcp\n  \
pipework ovn:ls1 web1 10.50.0.11/24@10.50.0.1\n  \
pipework route web1 add 10.9.0.0/16 via 192.168.1.254\n  pipework --detach web1\n\nSee pipework(8) for the whole manual."
)]
pub struct Cli {
    /// Move HOSTIF itself into the guest instead of making a macvlan on it.
    #[arg(long)]
    pub direct_phys: bool,

    /// Make an ipvlan on HOSTIF instead of a macvlan: one MAC for all guests,
    /// for networks that drop unknown MACs. MODE: l2, l3 or l3s. May also
    /// follow HOSTIF
    #[arg(long, value_name = "MODE", conflicts_with = "direct_phys")]
    pub ipvlan: Option<String>,

    /// With --ipvlan: private (ipvlans of one parent cannot reach each other)
    /// or vepa (only through the switch outside). May also follow HOSTIF
    #[arg(long, value_name = "FLAG")]
    pub ipvlan_flags: Option<String>,

    /// Add the default route with this metric and keep the container's
    /// own (without it, the gateway's route replaces the old default, as in
    /// the reference)
    #[arg(long, value_name = "N")]
    pub metric: Option<String>,

    /// Put the interface's routes in routing table N (1 to 252) with a rule
    /// for its source addresses, and keep the container's main table
    #[arg(long, value_name = "N")]
    pub table: Option<String>,

    /// Add IPv6 addresses without duplicate address detection: usable at
    /// once instead of after a second or two
    #[arg(long)]
    pub nodad: bool,

    /// MTU of the guest's interface (and of a veth's host side) instead of
    /// HOSTIF's (68 to 65535)
    #[arg(long, value_name = "N")]
    pub mtu: Option<String>,

    /// Transmit queue length of the guest's interface
    #[arg(long, value_name = "N")]
    pub txqueuelen: Option<String>,

    /// Put the guest's interface in promiscuous mode
    #[arg(long)]
    pub promisc: bool,

    /// Set a sysctl of the guest's network namespace (repeatable), e.g.
    /// net.ipv6.conf.eth1.accept_ra=2
    #[arg(long, value_name = "KEY=VALUE")]
    pub sysctl: Vec<String>,

    /// Linux bridge: let the port send frames back where they came from
    /// (hairpin mode), for a guest that reaches itself through the bridge
    #[arg(long)]
    pub hairpin: bool,

    /// Linux bridge: isolate the port; isolated ports reach only the ports
    /// that are not
    #[arg(long)]
    pub isolated: bool,

    /// Linux bridge with @VLAN: turn the bridge's VLAN filtering on if it is
    /// off (a bridge pipework creates for @VLAN filters from the start)
    #[arg(long)]
    pub vlan_filtering: bool,

    /// When GUESTIF is already in the guest but not as asked, take it away
    /// and make it again as asked, in one run: if making it fails, the old
    /// interface is put back as it was
    #[arg(long)]
    pub replace: bool,

    /// Mode of the macvlan made on a physical HOSTIF [default: bridge]:
    /// private and vepa keep guests of one parent apart, passthru gives the
    /// parent to one guest. MODE: bridge, private, vepa or passthru. May
    /// also follow HOSTIF
    #[arg(long, value_name = "MODE", conflicts_with_all = ["ipvlan", "direct_phys"])]
    pub macvlan_mode: Option<String>,

    /// Print the plan as ip/ovs-vsctl commands, one per line, and change nothing
    #[arg(long)]
    pub dry_run: bool,

    /// Remove what an attach made for GUESTIF (default eth1) of GUEST: the
    /// veth or macvlan, its OVS port, a renewing DHCP client
    #[arg(long, conflicts_with = "wait")]
    pub detach: bool,

    /// Give the host a macvlan (with --ipvlan MODE, an ipvlan) of its own on
    /// HOSTIF: HOSTIF ADDRESS [ROUTE...] (the host cannot reach its macvlan or
    /// ipvlan guests through HOSTIF itself); --detach --shim HOSTIF removes it
    #[arg(long, conflicts_with_all = ["wait", "direct_phys"])]
    pub shim: bool,

    /// With --detach: a guest or interface that is not there is an error
    #[arg(long, requires = "detach")]
    pub strict: bool,

    /// Run the attach command lines in FILE (- for standard input), one per
    /// line, # for comments; all are checked before any runs
    #[arg(long, value_name = "FILE", conflicts_with_all = ["wait", "detach"])]
    pub batch: Option<String>,

    /// Keep the containers named in FILE (attach lines as for --batch) and in
    /// their pipework.attach labels attached, following the engine's events,
    /// until stopped; SIGHUP re-reads FILE
    #[arg(long, value_name = "FILE", conflicts_with_all = ["wait", "detach", "batch", "dry_run"])]
    pub watch: Option<String>,

    /// With --batch: stop at the first line that fails (it is undone; the
    /// lines before it stay)
    #[arg(long, requires = "batch")]
    pub fail_fast: bool,

    /// Run inside a container: wait until GUESTIF (default eth1) is configured
    /// (up, with carrier and an address).
    #[arg(long)]
    pub wait: bool,

    /// Name of the interface inside the guest (default eth1; ib0 on IPoIB).
    #[arg(short = 'i', value_name = "GUESTIF")]
    pub guest_if: Option<String>,

    /// Name of the host side of the veth pair (default v<GUESTIF>pl<PID>).
    #[arg(short = 'l', value_name = "HOSTSIDEIF")]
    pub host_side: Option<String>,

    /// Address family: 4 or 6 (inet, inet6); inferred from ADDRESS when absent.
    #[arg(short = 'a', value_name = "FAMILY")]
    pub family: Option<String>,

    /// Datapath for an Open vSwitch bridge this run creates [default: system
    /// when the kernel has the openvswitch module, else netdev]
    #[arg(long, value_name = "TYPE", env = "PIPEWORK_OVS_DATAPATH", value_enum)]
    pub ovs_datapath: Option<Datapath>,

    /// ovsdb-server to use, as ovs-vsctl --db takes it (unix:PATH, tcp:IP:PORT)
    /// [default: unix:$OVS_RUNDIR/db.sock, as ovs-vsctl's]
    #[arg(long, value_name = "SERVER", env = "PIPEWORK_OVS_DB")]
    pub ovs_db: Option<String>,

    /// With HOSTIF ovn:LSWITCH: OVN's Northbound database, as ovn-nbctl --db
    /// takes it (unix:PATH, tcp:IP:PORT, ssl:IP:PORT) [default: unix:/var/run/ovn/ovnnb_db.sock]
    #[arg(long, value_name = "DB", env = "OVN_NB_DB")]
    pub ovn_nb: Option<String>,

    /// With an ssl: --ovn-nb: this client's private key, PEM (ovn-nbctl -p)
    #[arg(long, value_name = "FILE", env = "PIPEWORK_OVN_NB_KEY")]
    pub ovn_nb_key: Option<PathBuf>,

    /// With an ssl: --ovn-nb: this client's certificate, PEM (ovn-nbctl -c)
    #[arg(long, value_name = "FILE", env = "PIPEWORK_OVN_NB_CERT")]
    pub ovn_nb_cert: Option<PathBuf>,

    /// With an ssl: --ovn-nb: the CA certificate the server's certificate
    /// must chain to, PEM (ovn-nbctl -C); host names are not checked, as
    /// OVS checks none
    #[arg(long, value_name = "FILE", env = "PIPEWORK_OVN_NB_CA")]
    pub ovn_nb_ca: Option<PathBuf>,

    /// With HOSTIF ovn:LSWITCH: name of the logical switch port to create
    /// [default: the container's name (or the guest's) and GUESTIF]
    #[arg(long, value_name = "NAME")]
    pub ovn_port: Option<String>,

    /// With HOSTIF ovn:LSWITCH: seconds ovn-controller may take to bind the
    /// port (its flows installed); past it the attach is undone
    #[arg(long, value_name = "SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub ovn_timeout: u64,

    /// Seconds a DHCP method may take to obtain a lease; past it the attach
    /// is undone and pipework exits 1
    #[arg(long, value_name = "SECS", env = "PIPEWORK_DHCP_TIMEOUT", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub dhcp_timeout: u64,

    /// Container engine that names GUEST: docker, podman or containerd
    /// [default: Docker, then Podman, then containerd, for a name that is not
    /// a PID or network namespace]
    #[arg(long, value_name = "ENGINE", env = "PIPEWORK_ENGINE", value_enum)]
    pub engine: Option<Engine>,

    /// Print a completion script for this shell (bash, zsh, fish, elvish, powershell)
    #[arg(long, value_name = "SHELL")]
    pub completions: Option<clap_complete::Shell>,

    /// Print the pipework(8) manual page as roff (how man/pipework.8 is made)
    #[arg(long, hide = true)]
    pub man: bool,

    /// HOSTIF [options] GUEST ADDRESS [MAC][@VLAN], or route|rule|tc GUEST ARGS...,
    /// or tunnel BRIDGE TYPE[:KEY] PEER... [@VLAN]
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, value_name = "ARGS")]
    pub words: Vec<String>,
}

/// What the positional grammar found.
#[derive(Debug, PartialEq)]
#[allow(clippy::large_enum_variant)] // one per run; boxing would only add noise
pub enum Parsed {
    Request(Request),
    /// ADDRESS is missing: print the usage text and exit 1, as the reference does.
    Usage,
}

/// The first word, when it names a pass-through verb rather than an interface.
/// The reference only takes it as a verb when no interface has that name; the
/// caller checks that, since this module does not look at the host.
pub fn passthrough_verb(cli: &Cli) -> Option<Verb> {
    if cli.wait || cli.detach {
        return None;
    }
    cli.words.first().and_then(|w| Verb::from_prefix(w))
}

/// Is the first word the `tunnel` verb? (Unless an interface has that name:
/// the caller asks the kernel, as for route/rule/tc.)
pub fn is_tunnel(cli: &Cli) -> bool {
    !cli.wait && !cli.shim && cli.words.first().map(String::as_str) == Some("tunnel")
}

/// `[--detach] tunnel BRIDGE TYPE[:KEY][@VLAN][,KEY@VLAN…] PEER… [@VLAN]
/// [--local IP] [--dstport N] [--mtu N]`, or `tunnel [BRIDGE]` to list.
pub fn parse_tunnel(cli: &Cli) -> Result<Parsed> {
    let w = &cli.words[1..];
    if w.len() <= 1 && !cli.detach {
        let bridge = w.first().map(|b| IfName::parse(b, "bridge")).transpose()?;
        return Ok(Parsed::Request(Request::TunnelList { bridge, ovs_db: cli.ovs_db.clone() }));
    }
    let [bridge, spec, rest @ ..] = w else {
        bail!("--detach tunnel needs BRIDGE TYPE[:KEY] [PEER…]");
    };
    let (mut t, options) = Tunnel::parse_words(bridge, spec, rest)?;
    t.detach = cli.detach;
    t.ovs_db = cli.ovs_db.clone();
    t.ovs_datapath = cli.ovs_datapath;
    let mut mtu = cli.mtu.clone();
    for pair in options.chunks(2) {
        let (name, value) = (pair[0].as_str(), pair[1].as_str());
        match name {
            "--local" => t.local = Some(value.parse().with_context(|| format!("--local {value}: not an IP address"))?),
            "--dstport" => {
                t.dstport = Some(
                    value.parse().ok().filter(|p| *p > 0).with_context(|| format!("--dstport {value}: 1 to 65535"))?,
                )
            }
            "--mtu" => mtu = Some(value.to_string()),
            other => bail!("tunnel: unknown option '{other}' (--local IP, --dstport N, --mtu N)"),
        }
    }
    t.mtu = mtu
        .map(|m| {
            m.parse::<u32>()
                .ok()
                .filter(|m| (68..=65535).contains(m))
                .with_context(|| format!("--mtu {m}: 68 to 65535"))
        })
        .transpose()?;
    if t.peers.is_empty() && !t.detach {
        bail!(
            "tunnel {bridge} {spec}: no peer; give the underlay addresses of the overlay's hosts (this one's included)"
        );
    }
    Ok(Parsed::Request(Request::Tunnel(t)))
}

pub fn parse_passthrough(cli: &Cli, verb: Verb) -> Result<Parsed> {
    let Some(guest) = cli.words.get(1) else {
        return Ok(Parsed::Usage);
    };
    Ok(Parsed::Request(Request::PassThrough(PassThrough {
        verb,
        guest: GuestRef::parse(guest, cli.engine)?,
        args: cli.words[2..].to_vec(),
    })))
}

pub fn parse(cli: &Cli) -> Result<Parsed> {
    let mut guest_if = cli.guest_if.clone();
    let mut host_side = cli.host_side.clone();
    let mut family = cli.family.clone();

    if cli.wait {
        // The reference does not shift `--wait` away, so `-i` may come as words.
        let mut w = cli.words.iter();
        while let Some(word) = w.next() {
            match word.as_str() {
                "-i" => guest_if = Some(value_of(&mut w, "-i")?),
                other => bail!("--wait takes only -i GUESTIF, not '{other}'"),
            }
        }
        let name = guest_if.as_deref().unwrap_or("eth1");
        return Ok(Parsed::Request(Request::Wait { guest_if: IfName::parse(name, "-i")? }));
    }

    if cli.shim {
        return parse_shim(cli);
    }
    if cli.detach {
        return parse_detach(cli, guest_if);
    }

    let mut words = cli.words.iter();
    let Some(host_if) = words.next() else {
        return Ok(Parsed::Usage);
    };

    // The reference wants -i, -l, -a in that order right after HOSTIF; any
    // order is accepted here, each at most once.
    if host_if.starts_with('-') {
        bail!("unknown option '{host_if}'; see pipework --help");
    }
    let mut w = words.peekable();
    // These options may stand before HOSTIF (clap collects them as text) or
    // after it (collected here); either way they are checked once, below.
    let mut ipvlan_mode = cli.ipvlan.clone();
    let mut ipvlan_flag = cli.ipvlan_flags.clone();
    let mut macvlan_mode = cli.macvlan_mode.clone();
    let mut metric = cli.metric.clone();
    let mut table = cli.table.clone();
    let mut nodad = cli.nodad;
    let (mut promisc, mut hairpin, mut isolated) = (cli.promisc, cli.hairpin, cli.isolated);
    let mut vlan_filtering = cli.vlan_filtering;
    let mut replace = cli.replace;
    let mut mtu = cli.mtu.clone();
    let mut txqueuelen = cli.txqueuelen.clone();
    let mut sysctls = cli.sysctl.clone();
    let mut ovn_nb = cli.ovn_nb.clone();
    let mut ovn_tls = [cli.ovn_nb_key.clone(), cli.ovn_nb_cert.clone(), cli.ovn_nb_ca.clone()];
    let mut ovn_port = cli.ovn_port.clone();
    let mut ovn_timeout = None;
    while let Some(flag) = w.peek().map(|s| s.as_str()) {
        let switch = match flag {
            "--nodad" => Some(&mut nodad),
            "--promisc" => Some(&mut promisc),
            "--hairpin" => Some(&mut hairpin),
            "--isolated" => Some(&mut isolated),
            "--vlan-filtering" => Some(&mut vlan_filtering),
            "--replace" => Some(&mut replace),
            _ => None,
        };
        if let Some(on) = switch {
            *on = true;
            w.next();
            continue;
        }
        if flag == "--sysctl" {
            w.next();
            sysctls.push(value_of(&mut w, "--sysctl")?);
            continue;
        }
        // Also in OVN_NB_DB, which clap already read: the word wins.
        if flag == "--ovn-nb" {
            w.next();
            ovn_nb = Some(value_of(&mut w, "--ovn-nb")?);
            continue;
        }
        if let Some(i) = ["--ovn-nb-key", "--ovn-nb-cert", "--ovn-nb-ca"].iter().position(|f| *f == flag) {
            w.next();
            ovn_tls[i] = Some(value_of(&mut w, flag)?.into());
            continue;
        }
        let slot = match flag {
            "-i" => &mut guest_if,
            "-l" => &mut host_side,
            "-a" => &mut family,
            "--ipvlan" => &mut ipvlan_mode,
            "--ipvlan-flags" => &mut ipvlan_flag,
            "--macvlan-mode" => &mut macvlan_mode,
            "--metric" => &mut metric,
            "--table" => &mut table,
            "--mtu" => &mut mtu,
            "--txqueuelen" => &mut txqueuelen,
            "--ovn-port" => &mut ovn_port,
            "--ovn-timeout" => &mut ovn_timeout,
            _ => break,
        };
        w.next();
        if slot.is_some() {
            bail!("{flag} is given twice");
        }
        *slot = Some(value_of(&mut w, flag)?);
    }

    let guest = w.next();
    let address = w.next();
    let (Some(guest), Some(address)) = (guest, address) else {
        return Ok(Parsed::Usage);
    };
    let mac_vlan = w.next();
    if let Some(extra) = w.next() {
        bail!("unexpected argument '{extra}' after [MAC][@VLAN]; see pipework --help");
    }

    let family = family.as_deref().map(Family::parse).transpose()?;
    let ipvlan = parse_ipvlan(ipvlan_mode, ipvlan_flag)?;
    let macvlan_mode = macvlan_mode
        .map(|m| {
            <MacvlanMode as clap::ValueEnum>::from_str(&m, true)
                .map_err(|_| anyhow::anyhow!("--macvlan-mode {m}: the mode is bridge, private, vepa or passthru"))
        })
        .transpose()?;
    if macvlan_mode.is_some() && (ipvlan.is_some() || cli.direct_phys) {
        bail!("--macvlan-mode is for a macvlan; --ipvlan and --direct-phys make none");
    }
    if ipvlan.is_some() && cli.direct_phys {
        bail!("--ipvlan and --direct-phys exclude each other: one makes a device on HOSTIF, the other moves HOSTIF");
    }
    let host_if = HostIfRef::parse(host_if)?;
    let [ovn_key, ovn_cert, ovn_ca] = ovn_tls;
    if ovn_port.is_some() && !matches!(host_if, HostIfRef::Ovn(_)) {
        bail!("--ovn-port names a port of an OVN logical switch; HOSTIF {host_if} is none (write ovn:LSWITCH)");
    }
    if let Some(p) = ovn_port.as_deref().filter(|p| p.is_empty() || p.chars().any(char::is_whitespace)) {
        bail!("--ovn-port '{p}': a logical switch port name is a non-empty word");
    }
    let guest_if = guest_if.as_deref().map(|n| IfName::parse(n, "-i")).transpose()?;
    let host_side = host_side.as_deref().map(|n| IfName::parse(n, "-l")).transpose()?;
    let guest = GuestRef::parse(guest, cli.engine)?;
    let address = AddressSpec::parse(address, family)?;
    // The tag is read as a VLAN ID, or as a partition key, by the host
    // interface's kind.
    let (mac, tag) = match mac_vlan {
        Some(s) => parse_mac_tag(s)?,
        None => (None, None),
    };

    Ok(Parsed::Request(Request::Attach(Box::new(Attach {
        host_if,
        guest_if,
        host_side,
        guest,
        address,
        mac,
        tag,
        direct_phys: cli.direct_phys,
        replace,
        ipvlan,
        macvlan_mode,
        metric: metric
            .map(|m| m.parse::<u32>().ok().filter(|m| *m > 0).with_context(|| format!("--metric {m}: a number from 1")))
            .transpose()?,
        nodad,
        table: table
            .map(|t| {
                t.parse::<u32>().ok().filter(|t| (1..=252).contains(t) || *t > 255).with_context(|| {
                    format!("--table {t}: a table number other than 0 and 253 to 255 (default, main, local)")
                })
            })
            .transpose()?,
        tuning: Tuning {
            mtu: mtu
                .map(|m| {
                    m.parse::<u32>()
                        .ok()
                        .filter(|m| (68..=65535).contains(m))
                        .with_context(|| format!("--mtu {m}: 68 to 65535"))
                })
                .transpose()?,
            txqueuelen: txqueuelen
                .map(|q| q.parse::<u32>().with_context(|| format!("--txqueuelen {q}: a number")))
                .transpose()?,
            promisc,
            sysctls: sysctls.iter().map(|s| Tuning::parse_sysctl(s)).collect::<Result<_>>()?,
            hairpin,
            isolated,
            vlan_filtering,
        },
        routes: Vec::new(),
        ovs: OvsOptions { datapath: cli.ovs_datapath, db: cli.ovs_db.clone(), external_ids: Vec::new() },
        ovn: OvnOptions {
            nb: ovn_nb,
            port: ovn_port,
            timeout: std::time::Duration::from_secs(match ovn_timeout {
                Some(t) => t
                    .parse::<u64>()
                    .ok()
                    .filter(|t| (1..=600).contains(t))
                    .with_context(|| format!("--ovn-timeout {t}: seconds, 1 to 600"))?,
                None => cli.ovn_timeout,
            }),
            key: ovn_key,
            cert: ovn_cert,
            ca: ovn_ca,
        },
        dhcp_timeout: std::time::Duration::from_secs(cli.dhcp_timeout),
    }))))
}

/// `--detach [-i IF] GUEST`, or the whole attach line after `--detach`
/// (`HOSTIF [-i IF] [-l X] [-a F] GUEST [ADDRESS [MAC]]`), so a script can
/// undo an attach by adding one flag to it.
fn parse_detach(cli: &Cli, mut guest_if: Option<String>) -> Result<Parsed> {
    let mut positional = Vec::new();
    let mut w = cli.words.iter();
    while let Some(word) = w.next() {
        match word.as_str() {
            "-i" => {
                if guest_if.is_some() {
                    bail!("-i is given twice");
                }
                guest_if = Some(value_of(&mut w, "-i")?);
            }
            "-l" | "-a" => {
                value_of(&mut w, word)?;
            }
            other if other.starts_with('-') => bail!("unknown option '{other}' for --detach; see pipework --help"),
            other => positional.push(other),
        }
    }
    let guest = match positional.as_slice() {
        [] => return Ok(Parsed::Usage),
        [guest] => *guest,
        [_host_if, guest, ..] if positional.len() <= 4 => *guest,
        _ => bail!("--detach takes GUEST, or an attach command line (HOSTIF GUEST [ADDRESS [MAC]])"),
    };
    Ok(Parsed::Request(Request::Detach(Detach {
        guest: GuestRef::parse(guest, cli.engine)?,
        guest_if: IfName::parse(guest_if.as_deref().unwrap_or("eth1"), "-i")?,
        strict: cli.strict,
        ovs_db: cli.ovs_db.clone(),
    })))
}

/// `--shim [-l NAME] HOSTIF ADDRESS [ROUTE…]`, or `--detach --shim [-l NAME]
/// HOSTIF`.
fn parse_shim(cli: &Cli) -> Result<Parsed> {
    let mut name = cli.host_side.clone();
    let (mut mode, mut flag) = (cli.ipvlan.clone(), cli.ipvlan_flags.clone());
    let mut positional = Vec::new();
    let mut replace = cli.replace;
    let mut w = cli.words.iter();
    while let Some(word) = w.next() {
        match word.as_str() {
            "-l" => name = Some(value_of(&mut w, "-l")?),
            "--ipvlan" => mode = Some(value_of(&mut w, "--ipvlan")?),
            "--ipvlan-flags" => flag = Some(value_of(&mut w, "--ipvlan-flags")?),
            "--replace" => replace = true,
            other if other.starts_with('-') => bail!("unknown option '{other}' for --shim; see pipework --help"),
            other => positional.push(other),
        }
    }
    let Some((parent, rest)) = positional.split_first() else { return Ok(Parsed::Usage) };
    let parent = IfName::parse(parent, "--shim HOSTIF")?;
    let default = crate::attach::names::fit(format!("shim-{parent}"));
    let name = IfName::parse(name.as_deref().unwrap_or(&default), "-l")?;
    let net = |s: &&str| -> Result<ipnet::IpNet> {
        s.parse().or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from)).with_context(|| {
            format!(
                "--shim: '{s}' is not an address with its prefix (10.0.5.250/24) or a route (10.0.5.2, 10.0.6.0/24)"
            )
        })
    };
    let (address, routes) = match (cli.detach, rest) {
        (true, []) => (None, Vec::new()),
        (true, _) => bail!("--detach --shim takes HOSTIF only"),
        (false, []) => return Ok(Parsed::Usage),
        (false, [address, routes @ ..]) => (Some(net(address)?), routes.iter().map(net).collect::<Result<_>>()?),
    };
    let ipvlan = parse_ipvlan(mode, flag)?;
    if cli.detach && ipvlan.is_some() {
        bail!("--detach --shim takes HOSTIF only: the shim's kind is read from it");
    }
    Ok(Parsed::Request(Request::Shim(Shim { parent, name, address, routes, ipvlan, detach: cli.detach, replace })))
}

/// `--ipvlan MODE [--ipvlan-flags FLAG]`, for an attach or a shim.
fn parse_ipvlan(mode: Option<String>, flag: Option<String>) -> Result<Option<Ipvlan>> {
    match (mode, flag) {
        (Some(m), flag) => Ok(Some(Ipvlan {
            mode: <IpvlanMode as clap::ValueEnum>::from_str(&m, true)
                .map_err(|_| anyhow::anyhow!("--ipvlan {m}: the mode is l2, l3 or l3s"))?,
            flag: flag
                .map(|f| <IpvlanFlag as clap::ValueEnum>::from_str(&f, true))
                .transpose()
                .map_err(|_| anyhow::anyhow!("--ipvlan-flags takes private or vepa"))?,
        })),
        (None, Some(_)) => bail!("--ipvlan-flags goes with --ipvlan MODE"),
        (None, None) => Ok(None),
    }
}

fn value_of<'a>(w: &mut impl Iterator<Item = &'a String>, flag: &str) -> Result<String> {
    match w.next() {
        Some(v) if !v.starts_with('-') => Ok(v.clone()),
        _ => bail!("{flag} needs a value"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::{Addressed, DhcpMethod};

    fn cli(line: &str) -> Cli {
        let argv = std::iter::once("pipework").chain(line.split_whitespace());
        Cli::try_parse_from(argv).expect("clap accepts it")
    }

    fn attach(line: &str) -> Attach {
        match parse(&cli(line)).unwrap() {
            Parsed::Request(Request::Attach(a)) => *a,
            other => panic!("{line}: {other:?}"),
        }
    }

    fn name(s: &str) -> IfName {
        IfName::parse(s, "t").unwrap()
    }

    // The example lines of the reference's README, one by one.
    #[test]
    fn readme_bridge_with_gateway() {
        let a = attach("br1 $CONTAINERID 192.168.1.1/24@192.168.1.254");
        assert_eq!(a.host_if, HostIfRef::Name(name("br1")));
        assert_eq!(a.guest, GuestRef::Auto("$CONTAINERID".into()));
        assert_eq!(
            a.address,
            AddressSpec::Static {
                addrs: vec![Addressed {
                    addr: "192.168.1.1/24".parse().unwrap(),
                    gateway: Some("192.168.1.254".parse().unwrap())
                }]
            }
        );
        assert_eq!((a.guest_if, a.mac, a.tag), (None, None, None));
    }

    #[test]
    fn ovn_switches_and_their_options_before_or_after_hostif() {
        let a = attach("--ovn-nb tcp:10.0.0.1:6641 ovn:ls1 web1 10.50.0.11/24@10.50.0.1");
        assert_eq!(a.host_if, HostIfRef::Ovn("ls1".into()));
        assert_eq!(a.host_if.to_string(), "ovn:ls1");
        assert_eq!(a.ovn.nb.as_deref(), Some("tcp:10.0.0.1:6641"));
        assert_eq!((a.ovn.port.as_deref(), a.ovn.timeout.as_secs()), (None, 10));
        let a = attach("ovn:ls2 -i eth2 --ovn-port web1-a --ovn-timeout 3 --ovn-nb unix:/x.sock web1 builtin-dhcp");
        assert_eq!(a.ovn.port.as_deref(), Some("web1-a"));
        assert_eq!(a.ovn.timeout.as_secs(), 3);
        assert_eq!(a.ovn.nb.as_deref(), Some("unix:/x.sock"));
        assert_eq!(a.guest_if, Some(name("eth2")));
        for bad in ["ovn: web1 10.0.0.1/24", "--ovn-port p br1 web1 10.0.0.1/24", "ovn:ls1 --ovn-timeout 0 w 0/0"] {
            assert!(parse(&cli(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn ovn_tls_files_before_or_after_hostif() {
        let a = attach(
            "--ovn-nb ssl:10.0.0.1:6641 --ovn-nb-key /k.pem ovn:ls1 --ovn-nb-cert /c.pem --ovn-nb-ca /ca.pem web1 \
             10.50.0.11/24",
        );
        assert_eq!(a.ovn.nb.as_deref(), Some("ssl:10.0.0.1:6641"));
        assert_eq!(a.ovn.key.as_deref(), Some(std::path::Path::new("/k.pem")));
        assert_eq!(a.ovn.cert.as_deref(), Some(std::path::Path::new("/c.pem")));
        assert_eq!(a.ovn.ca.as_deref(), Some(std::path::Path::new("/ca.pem")));
        // In a --batch or --watch line (after HOSTIF), the word wins.
        let a = attach("--ovn-nb-key /a.pem ovn:ls1 --ovn-nb-key /b.pem web1 10.50.0.11/24");
        assert_eq!(a.ovn.key.as_deref(), Some(std::path::Path::new("/b.pem")));
        let e = parse(&cli("ovn:ls1 --ovn-nb-ca --ovn-port p web1 10.50.0.11/24")).err().unwrap();
        assert!(e.to_string().contains("--ovn-nb-ca needs a value"), "{e}");
    }

    #[test]
    fn readme_custom_guest_name() {
        let a = attach("br1 -i eth2 web1 192.168.1.1/24");
        assert_eq!(a.guest_if, Some(name("eth2")));
        let a = attach("br1 -i eth2 -l vethweb1 web1 192.168.1.1/24");
        assert_eq!(a.host_side, Some(name("vethweb1")));
    }

    #[test]
    fn readme_family_and_ipv6() {
        let a = attach("br0 -a 6 web1 2001:db8::beef/64@2001:db8::1");
        assert_eq!(
            a.address,
            AddressSpec::Static {
                addrs: vec![Addressed {
                    addr: "2001:db8::beef/64".parse().unwrap(),
                    gateway: Some("2001:db8::1".parse().unwrap())
                }]
            }
        );
        // The reference breaks on "inet6"; we take it.
        attach("br0 -a inet6 web1 2001:db8::beef/64");
    }

    #[test]
    fn readme_physical_with_mac_and_vlan() {
        let a = attach("eth2 $CONTAINERID 50.19.169.157/24 26:2e:71:98:60:8f@10");
        assert_eq!(a.host_if, HostIfRef::Name(name("eth2")));
        assert_eq!(a.mac, Some("26:2e:71:98:60:8f".parse().unwrap()));
        assert_eq!(a.tag.unwrap().vlan_id().unwrap(), 10);
        let a = attach("ovsbr0 web1 192.168.1.1/24 @10");
        assert_eq!((a.mac, a.tag.map(|t| t.vlan_id().unwrap())), (None, Some(10)));
    }

    #[test]
    fn detach_takes_the_guest_or_the_attach_line() {
        let detach = |line: &str| match parse(&cli(line)).unwrap() {
            Parsed::Request(Request::Detach(d)) => d,
            other => panic!("{line}: {other:?}"),
        };
        let d = detach("--detach web1");
        assert_eq!((d.guest, d.guest_if.as_str(), d.strict), (GuestRef::Auto("web1".into()), "eth1", false));
        let d = detach("--detach --strict -i eth2 web1");
        assert_eq!((d.guest_if.as_str(), d.strict), ("eth2", true));
        let d = detach("--detach br1 -i eth3 -l vweb web1 10.0.0.2/24@10.0.0.1 U:web1");
        assert_eq!((d.guest, d.guest_if.as_str()), (GuestRef::Auto("web1".into()), "eth3"));
        assert!(parse(&cli("--detach a b c d e")).is_err());
        assert_eq!(parse(&cli("--detach")).unwrap(), Parsed::Usage);
    }

    #[test]
    fn readme_dhcp_forms() {
        for (word, method) in [
            ("dhcp", DhcpMethod::DockerBusybox),
            ("udhcpc", DhcpMethod::Udhcpc { renew: false }),
            ("udhcpc-f", DhcpMethod::Udhcpc { renew: true }),
            ("dhclient", DhcpMethod::Dhclient { renew: false }),
            ("dhclient-f", DhcpMethod::Dhclient { renew: true }),
            ("dhcpcd", DhcpMethod::Dhcpcd),
        ] {
            let a = attach(&format!("eth1 web1 {word} U:web1"));
            assert_eq!(a.address, AddressSpec::Dhcp { method, options: vec![] }, "{word}");
        }
    }

    #[test]
    fn readme_zero_address_and_mac_selector() {
        let a = attach("mac:00:16:3e:00:00:01 web1 0/0");
        assert_eq!(a.host_if, HostIfRef::Mac("00:16:3e:00:00:01".parse().unwrap()));
        assert_eq!(a.address, AddressSpec::None { gateway: None });
    }

    #[test]
    fn readme_direct_phys() {
        let a = attach("--direct-phys eth1 web1 192.168.1.10/24");
        assert!(a.direct_phys);
    }

    #[test]
    fn readme_passthrough() {
        let c = cli("route web1 add 10.0.0.0/8 via 192.168.1.254");
        assert_eq!(passthrough_verb(&c), Some(Verb::Route));
        let p = parse_passthrough(&c, Verb::Route).unwrap();
        assert_eq!(
            p,
            Parsed::Request(Request::PassThrough(PassThrough {
                verb: Verb::Route,
                guest: GuestRef::Auto("web1".into()),
                args: "add 10.0.0.0/8 via 192.168.1.254".split(' ').map(String::from).collect(),
            }))
        );
        assert_eq!(passthrough_verb(&cli("tc web1 qdisc add dev eth1 root netem delay 10ms")), Some(Verb::Tc));
        assert_eq!(passthrough_verb(&cli("rule web1 add from 10.0.0.2 table 5")), Some(Verb::Rule));
    }

    #[test]
    fn wait_keeps_its_dash_i() {
        let p = parse(&cli("--wait -i eth2")).unwrap();
        assert_eq!(p, Parsed::Request(Request::Wait { guest_if: name("eth2") }));
        let p = parse(&cli("--wait")).unwrap();
        assert_eq!(p, Parsed::Request(Request::Wait { guest_if: name("eth1") }));
    }

    #[test]
    fn missing_address_is_usage() {
        assert_eq!(parse(&cli("br1 web1")).unwrap(), Parsed::Usage);
        assert_eq!(parse(&cli("")).unwrap(), Parsed::Usage);
        assert_eq!(parse(&cli("br1 -i eth2 web1")).unwrap(), Parsed::Usage);
    }

    #[test]
    fn ipvlan_follows_hostif_like_dash_i() {
        let a = attach("eth2 --ipvlan l3 --ipvlan-flags private web1 10.0.0.5/24");
        assert_eq!(a.ipvlan, Some(Ipvlan { mode: IpvlanMode::L3, flag: Some(IpvlanFlag::Private) }));
        let a = attach("--ipvlan l2 eth2 -i eth3 web1 10.0.0.5/24");
        assert_eq!((a.ipvlan.map(|v| v.mode), a.guest_if), (Some(IpvlanMode::L2), Some(name("eth3"))));
        assert!(parse(&cli("eth2 --ipvlan l4 web1 10.0.0.5/24")).is_err());
        assert!(parse(&cli("eth2 --ipvlan-flags vepa web1 10.0.0.5/24")).is_err());
    }

    #[test]
    fn macvlan_mode_before_or_after_hostif() {
        assert_eq!(attach("eth2 --macvlan-mode private web1 10.0.0.5/24").macvlan_mode, Some(MacvlanMode::Private));
        assert_eq!(attach("--macvlan-mode vepa eth2 web1 10.0.0.5/24").macvlan_mode, Some(MacvlanMode::Vepa));
        assert!(parse(&cli("eth2 --macvlan-mode nat web1 10.0.0.5/24")).is_err());
        assert!(parse(&cli("eth2 --ipvlan l2 --macvlan-mode vepa web1 10.0.0.5/24")).is_err());
    }

    #[test]
    fn a_shim_for_the_host() {
        let p = parse(&cli("--shim eth2 10.0.5.250/24 10.0.6.0/24 10.0.7.9")).unwrap();
        let Parsed::Request(Request::Shim(s)) = p else { panic!("{p:?}") };
        assert_eq!((s.name.as_str(), s.address.unwrap().to_string()), ("shim-eth2", "10.0.5.250/24".into()));
        assert_eq!(s.routes.iter().map(|r| r.to_string()).collect::<Vec<_>>(), ["10.0.6.0/24", "10.0.7.9/32"]);
        let p = parse(&cli("--detach --shim -l myshim eth2")).unwrap();
        let Parsed::Request(Request::Shim(s)) = p else { panic!("{p:?}") };
        assert!(s.detach && s.address.is_none() && s.name.as_str() == "myshim");
        for line in ["--shim --ipvlan l3 eth2 10.0.5.250/24", "--shim eth2 --ipvlan l3 10.0.5.250/24"] {
            let p = parse(&cli(line)).unwrap();
            let Parsed::Request(Request::Shim(s)) = p else { panic!("{p:?}") };
            assert_eq!(s.ipvlan, Some(Ipvlan { mode: IpvlanMode::L3, flag: None }), "{line}");
        }
        assert!(parse(&cli("--shim --ipvlan l4 eth2 10.0.5.250/24")).is_err());
        assert!(parse(&cli("--detach --shim --ipvlan l2 eth2")).is_err());
    }

    #[test]
    fn options_in_any_order() {
        let a = attach("br1 -a 4 -l hostside0 -i eth3 web1 10.0.0.2/24");
        assert_eq!(a.guest_if, Some(name("eth3")));
        assert_eq!(a.host_side, Some(name("hostside0")));
    }

    /// Words a user might type, or a hostile one: pieces of the grammar,
    /// arbitrary text, multi-byte names, and bytes that are not UTF-8.
    fn word() -> impl proptest::strategy::Strategy<Value = std::ffi::OsString> {
        use proptest::prelude::*;
        use std::os::unix::ffi::OsStringExt;
        let grammar = prop::sample::select(vec![
            "br0",
            "ovsbr0",
            "eth2",
            "dummy0",
            "ib0",
            "mac:02:00:00:00:00:01",
            "-i",
            "-l",
            "-a",
            "4",
            "inet6",
            "--direct-phys",
            "--detach",
            "--strict",
            "--wait",
            "--dry-run",
            "--engine",
            "podman",
            "web1",
            "4242",
            "pid:42",
            "netns:blue",
            "docker:web1",
            "/var/run/netns/x",
            "10.0.0.2/24",
            "10.0.0.2/24@10.0.0.1",
            "2001:db8::5/64@2001:db8::1",
            "0/0",
            "0/0@10.0.0.1",
            "dhcp",
            "udhcpc-f:-t 5",
            "builtin-dhcp",
            "U:web1",
            "02:00:00:00:00:01@100",
            "@4094",
            "@0x8001",
            "@",
            "route",
            "rule",
            "tc",
            "eth%d",
            "aéééééé",
        ]);
        prop_oneof![
            3 => grammar.prop_map(std::ffi::OsString::from),
            2 => "\\PC{0,24}".prop_map(std::ffi::OsString::from),
            2 => "[aé€😀%/:.@ -]{0,18}".prop_map(std::ffi::OsString::from),
            1 => prop::collection::vec(any::<u8>(), 0..24).prop_map(std::ffi::OsString::from_vec),
        ]
    }

    /// An attach line's shape, each slot a likely word or any word, so that
    /// most cases get past the grammar to what follows it.
    fn attach_line() -> impl proptest::strategy::Strategy<Value = Vec<std::ffi::OsString>> {
        use proptest::prelude::*;
        let slot = |likely: &'static [&'static str]| {
            prop_oneof![
                3 => prop::sample::select(likely).prop_map(std::ffi::OsString::from),
                1 => word(),
            ]
        };
        let names = "[a-z0-9é€😀%._-]{1,16}".prop_map(std::ffi::OsString::from);
        (
            slot(&["br0", "ovsbr0", "eth2", "dummy0", "mac:02:00:00:00:00:01"]),
            proptest::option::of(prop_oneof![names.clone(), word()]),
            proptest::option::of(prop_oneof![names, word()]),
            slot(&["web1", "4242", "pid:42", "netns:blue"]),
            slot(&["10.0.0.2/24", "10.0.0.2/24@10.0.0.1", "2001:db8::5/64@2001:db8::1", "0/0", "udhcpc-f:-t 5"]),
            proptest::option::of(slot(&["U:web1", "02:00:00:00:00:01@100", "@4094", "@0x8001", "@"])),
        )
            .prop_map(|(host_if, guest_if, host_side, guest, address, mac_tag)| {
                let mut argv = vec![host_if];
                if let Some(g) = guest_if {
                    argv.extend(["-i".into(), g]);
                }
                if let Some(h) = host_side {
                    argv.extend(["-l".into(), h]);
                }
                argv.extend([guest, address]);
                argv.extend(mac_tag);
                argv
            })
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config {
            cases: 10_000,
            failure_persistence: None,
            ..proptest::test_runner::Config::default()
        })]

        /// No command line makes pipework panic: it is a request or an error.
        /// Everything an attach line derives before touching the host runs
        /// too: device names for any PID, the tag's readings, whole plans.
        #[test]
        fn any_argv_is_a_request_or_an_error(
            words in proptest::prop_oneof![proptest::collection::vec(word(), 0..9), attach_line()]
        ) {
            use crate::attach::kinds::examples::{linux_bridge, macvlan_parent};
            use crate::attach::{facts::Facts, names, plan};
            use crate::guest::{GuestNames, Identity};

            let argv = std::iter::once(std::ffi::OsString::from("pipework")).chain(words);
            let Ok(cli) = Cli::try_parse_from(argv) else { return Ok(()) };
            let parsed = match passthrough_verb(&cli) {
                Some(verb) => parse_passthrough(&cli, verb),
                None => parse(&cli),
            };
            if let Ok(Parsed::Request(Request::Attach(a))) = parsed {
                let guest_if = a.guest_if.clone().unwrap_or_else(|| name("eth1"));
                for nspid in [1, 4242, 4194303, 4026532281, u64::MAX] {
                    for n in [
                        names::host_veth(guest_if.as_str(), nspid),
                        names::macvlan(nspid, guest_if.as_str()),
                        names::dummy(nspid, guest_if.as_str()),
                    ] {
                        proptest::prop_assert!(n.len() <= 15, "{n}");
                    }
                }
                if let Some(t) = &a.tag {
                    let _ = (t.vlan_id(), t.pkey());
                }
                for kind in [linux_bridge(), macvlan_parent()] {
                    let guest = Identity { nspid: 4242, pid: Some(4242), label: a.guest.to_string(), container: None };
                    let facts = Facts { kind, guest_if: guest_if.clone(), guest };
                    plan::plan(&a, &facts).commands(&GuestNames::pid(4242));
                }
            }
        }
    }
}
