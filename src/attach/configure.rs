//! What every kind ends with, in the guest: the device renamed to GUESTIF,
//! its address, up, the default route, a DHCP lease, the gratuitous ARP.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use ipnet::IpNet;

use crate::attach::step::{Step, Target};
use crate::dhcp::{self, DhcpSpec};
use crate::guest::GuestNames;
use crate::request::{Family, Route};
use crate::sys::netlink::{errno, Link, Netlink};
use crate::sys::sysctl;

/// `ip link set FROM name TO` in the guest.
#[derive(Debug)]
pub struct Rename {
    pub from: String,
    pub to: String,
}

impl Step for Rename {
    fn command(&self, g: &GuestNames) -> String {
        format!("{} link set {} name {}", g.ip, self.from, self.to)
    }

    fn run(&self, t: &mut Target) -> Result<()> {
        let i = t.guest_index(&self.from)?;
        t.guest_nl
            .rename(i, &self.to)
            .with_context(|| format!("renaming {} to {} in the guest", self.from, self.to))?;
        t.renamed_in_guest(&self.from, &self.to, i);
        Ok(())
    }
}

/// `ip link set LINK mtu N txqueuelen N promisc on` in the guest, before it
/// comes up.
#[derive(Debug)]
pub struct Tune {
    pub link: String,
    pub mtu: Option<u32>,
    pub txqueuelen: Option<u32>,
    pub promisc: bool,
}

impl Step for Tune {
    fn command(&self, g: &GuestNames) -> String {
        let mut c = format!("{} link set {}", g.ip, self.link);
        if let Some(m) = self.mtu {
            c.push_str(&format!(" mtu {m}"));
        }
        if let Some(q) = self.txqueuelen {
            c.push_str(&format!(" txqueuelen {q}"));
        }
        if self.promisc {
            c.push_str(" promisc on");
        }
        c
    }

    fn run(&self, t: &mut Target) -> Result<()> {
        let i = t.guest_index(&self.link)?;
        t.guest_nl.tune(i, self.mtu, self.txqueuelen, self.promisc).with_context(|| format!("tuning {}", self.link))
    }
}

/// IPv6 on for this interface, when the guest has it off (Docker does so in
/// `--network none` containers): an IPv6 address asked for must work.
/// Said on stderr; undo turns it off again.
#[derive(Debug)]
pub struct EnableIpv6 {
    pub link: String,
}

impl Step for EnableIpv6 {
    fn command(&self, g: &GuestNames) -> String {
        format!("{} sysctl -w net/ipv6/conf/{}/disable_ipv6=0", g.exec, self.link)
    }

    fn run(&self, t: &mut Target) -> Result<()> {
        let key = format!("net/ipv6/conf/{}/disable_ipv6", self.link);
        // A guest whose kernel has no IPv6 at all has no such key: the
        // address step will say what is wrong.
        let Ok(off) = sysctl::get_in(t.guest_ns, &key) else { return Ok(()) };
        if off != "1" {
            return Ok(());
        }
        eprintln!("pipework: IPv6 is off in guest {}; turning it on for {} only", t.guest_label, self.link);
        sysctl::set_in(t.guest_ns, &key, "0")?;
        t.on_undo(format!("turn IPv6 off again on {} in the guest", self.link), move |t| {
            sysctl::set_in(t.guest_ns, &key, "1").map(|_| ())
        });
        Ok(())
    }
}

/// `sysctl -w KEY=VALUE` in the guest's namespace; undo puts the old value
/// back.
#[derive(Debug)]
pub struct Sysctl {
    pub key: String,
    pub value: String,
}

impl Step for Sysctl {
    fn command(&self, g: &GuestNames) -> String {
        format!("{} sysctl -w {}={}", g.exec, self.key, self.value)
    }

    fn run(&self, t: &mut Target) -> Result<()> {
        let old = sysctl::set_in(t.guest_ns, &self.key, &self.value)?;
        let key = self.key.clone();
        t.on_undo(format!("sysctl -w {key}={old} in the guest"), move |t| {
            sysctl::set_in(t.guest_ns, &key, &old).map(|_| ())
        });
        Ok(())
    }
}

/// `ip addr add ADDR [brd …] dev LINK [nodad]` in the guest.
#[derive(Debug)]
pub struct AddAddress {
    pub link: String,
    pub addr: IpNet,
    /// `--nodad`: an IPv6 address usable at once, without duplicate detection.
    pub nodad: bool,
}

impl AddAddress {
    fn nodad(&self) -> bool {
        self.nodad && self.addr.addr().is_ipv6()
    }
}

impl Step for AddAddress {
    fn command(&self, g: &GuestNames) -> String {
        let (addr, link) = (&self.addr, &self.link);
        let nodad = if self.nodad() { " nodad" } else { "" };
        match addr {
            IpNet::V4(a) if a.prefix_len() < 31 => format!("{} addr add {addr} brd {} dev {link}", g.ip, a.broadcast()),
            _ => format!("{} addr add {addr} dev {link}{nodad}", g.ip),
        }
    }

    fn run(&self, t: &mut Target) -> Result<()> {
        let i = t.guest_index(&self.link)?;
        t.guest_nl
            .add_address(i, self.addr, self.nodad())
            .with_context(|| format!("adding {} to {} in the guest", self.addr, self.link))
    }
}

/// `ip link set LINK up` in the guest.
#[derive(Debug)]
pub struct GuestUp {
    pub link: String,
}

impl Step for GuestUp {
    fn command(&self, g: &GuestNames) -> String {
        format!("{} link set {} up", g.ip, self.link)
    }

    fn run(&self, t: &mut Target) -> Result<()> {
        let i = t.guest_index(&self.link)?;
        t.guest_nl.set_up(i, true).with_context(|| format!("setting {} up in the guest", self.link))
    }
}

/// Deletes the guest's default routes of this family; undo puts them back.
#[derive(Debug, PartialEq)]
pub struct DropDefaultRoutes {
    pub family: Family,
}

impl Step for DropDefaultRoutes {
    fn command(&self, g: &GuestNames) -> String {
        format!("{} -f {} route del default", g.ip, self.family)
    }

    fn run(&self, t: &mut Target) -> Result<()> {
        let routes = t.guest_nl.default_routes(self.family == Family::V6)?;
        let mut dropped = Vec::new();
        let mut failure = None;
        for r in routes {
            match t.guest_nl.delete_route(&r) {
                Ok(()) => dropped.push(r),
                Err(e) if errno(&e) == Some(libc::ESRCH) => {}
                Err(e) => {
                    failure = Some(e.context("deleting the guest's old default route"));
                    break;
                }
            }
        }
        // Restored with replace, so putting them back never meets our own
        // new default as "exists". (Our new default needs no undo of its
        // own: it goes with our link, which rollback deletes last.)
        let what = format!("restore the guest's {} old default route(s)", dropped.len());
        t.on_undo(what, move |t| {
            for r in &dropped {
                let family = r.family_name();
                t.guest_nl.restore_route(r).with_context(|| format!("restoring an {family} default route"))?;
            }
            Ok(())
        });
        failure.map_or(Ok(()), Err)
    }
}

/// `ip route add GW dev LINK scope link [table N]`: the gateway is not in
/// our prefix.
#[derive(Debug, PartialEq)]
pub struct AddGatewayRoute {
    pub link: String,
    pub gateway: IpAddr,
    pub table: Option<u32>,
}

impl Step for AddGatewayRoute {
    fn command(&self, g: &GuestNames) -> String {
        format!("{} route add {} dev {} scope link{}", g.ip, self.gateway, self.link, in_table(self.table))
    }

    fn run(&self, t: &mut Target) -> Result<()> {
        let i = t.guest_index(&self.link)?;
        t.guest_nl
            .add_host_route(i, self.gateway, self.table)
            .with_context(|| format!("adding a route to gateway {} on {}", self.gateway, self.link))
    }
}

/// `ip route replace default via GW dev LINK`; with `--metric N`,
/// `ip route append … metric N`, beside the guest's own default routes.
#[derive(Debug)]
pub struct ReplaceDefault {
    pub link: String,
    pub gateway: IpAddr,
    pub metric: Option<u32>,
    /// `--table N`: in that table, beside the main one's.
    pub table: Option<u32>,
}

impl Step for ReplaceDefault {
    fn command(&self, g: &GuestNames) -> String {
        let table = in_table(self.table);
        match self.metric {
            None => format!("{} route replace default via {} dev {}{table}", g.ip, self.gateway, self.link),
            Some(m) => {
                format!("{} route append default via {} dev {} metric {m}{table}", g.ip, self.gateway, self.link)
            }
        }
    }

    fn run(&self, t: &mut Target) -> Result<()> {
        let i = t.guest_index(&self.link)?;
        t.guest_nl
            .default_route(i, self.gateway, self.metric, self.table)
            .with_context(|| format!("setting the default route via {} on {}", self.gateway, self.link))
    }
}

/// `ip route add DEST [via GW] dev LINK`: a route an IPAM plugin asked for;
/// without a gateway, of scope global, as the CNI plugins add it.
#[derive(Debug)]
pub struct AddRoute {
    pub link: String,
    pub route: Route,
}

impl Step for AddRoute {
    fn command(&self, g: &GuestNames) -> String {
        let via = self.route.via.map(|gw| format!(" via {gw}")).unwrap_or_default();
        let scope = if self.route.via.is_none() { " scope global" } else { "" };
        format!("{} route add {}{via} dev {}{scope}", g.ip, self.route.dest, self.link)
    }

    fn run(&self, t: &mut Target) -> Result<()> {
        let i = t.guest_index(&self.link)?;
        t.guest_nl
            .add_route(i, self.route.dest, self.route.via, true)
            .with_context(|| format!("adding the route to {} on {}", self.route.dest, self.link))
    }
}

/// ` table N` for a command, or nothing for the main table.
fn in_table(table: Option<u32>) -> String {
    table.map(|t| format!(" table {t}")).unwrap_or_default()
}

/// `--table N`, what CNI's sbr plugin does: the address's prefix goes in
/// table N too, and traffic from the address looks that table up, so it
/// leaves through this interface whatever the main table says.
#[derive(Debug)]
pub struct SourceRouting {
    pub link: String,
    pub addr: IpNet,
    pub table: u32,
}

impl Step for SourceRouting {
    fn command(&self, g: &GuestNames) -> String {
        let (a, n) = (self.addr, self.table);
        format!(
            "{0} route add {1} dev {2} src {3} scope link table {n} && {0} rule add from {3} lookup {n}",
            g.ip,
            a.trunc(),
            self.link,
            a.addr()
        )
    }

    fn run(&self, t: &mut Target) -> Result<()> {
        let i = t.guest_index(&self.link)?;
        let (addr, table) = (self.addr, self.table);
        t.guest_nl
            .add_prefix_route(i, addr, table)
            .with_context(|| format!("adding {} to table {table}", addr.trunc()))?;
        t.guest_nl
            .add_source_rule(addr.addr(), table)
            .with_context(|| format!("adding the rule from {}", addr.addr()))?;
        // Rules outlive the link: its own undo.
        t.on_undo(format!("ip rule del from {} in the guest", addr.addr()), move |t| {
            t.guest_nl.delete_source_rules(addr.addr()).map(|_| ())
        });
        Ok(())
    }
}

/// `--detach`: the rules `--table` added for the interface's addresses
/// (rules outlive the link they route to).
#[derive(Debug)]
pub struct DropSourceRules {
    pub addrs: Vec<IpAddr>,
}

impl Step for DropSourceRules {
    fn command(&self, g: &GuestNames) -> String {
        let dels: Vec<String> = self.addrs.iter().map(|a| format!("{} rule del from {a}", g.ip)).collect();
        format!("{}  # where there is one", dels.join(" ; "))
    }

    fn run(&self, t: &mut Target) -> Result<()> {
        for a in &self.addrs {
            t.guest_nl.delete_source_rules(*a).with_context(|| format!("removing the rules from {a}"))?;
        }
        Ok(())
    }
}

/// Obtain and apply a DHCP lease, once the link passes traffic (on a
/// bridge: once the port forwards), so the first request is not lost.
#[derive(Debug)]
pub struct Dhcp {
    pub spec: DhcpSpec,
    pub bridge_port: Option<String>,
}

impl Step for Dhcp {
    fn command(&self, g: &GuestNames) -> String {
        self.spec.describe(&g.exec)
    }

    fn run(&self, t: &mut Target) -> Result<()> {
        let spec = &self.spec;
        let l = passing_traffic(t, &spec.link, self.bridge_port.as_deref())?;
        dhcp::obtain(spec, t.guest_ns, t.guest_nl, l.index)
            .with_context(|| format!("DHCP ({}) on {} in guest {}", spec.method.keyword(), spec.link, t.guest_label))
    }
}

/// `slaac`: the interface is up and takes router advertisements; wait, up
/// to the DHCP time limit, for a global IPv6 address made from one.
#[derive(Debug)]
pub struct AwaitSlaac {
    pub link: String,
    pub timeout: Duration,
}

impl Step for AwaitSlaac {
    fn command(&self, _: &GuestNames) -> String {
        format!(
            "# then: wait up to {} s for an IPv6 address from a router advertisement on {}",
            self.timeout.as_secs(),
            self.link
        )
    }

    fn run(&self, t: &mut Target) -> Result<()> {
        let i = t.guest_index(&self.link)?;
        let deadline = Instant::now() + self.timeout;
        let nl = t.guest_nl;
        let global = nl.wait_until(Some(deadline), || {
            crate::sys::signals::check()?;
            Ok(nl.assigned_addresses(i)?.iter().any(|a| a.addr().is_ipv6()).then_some(()))
        })?;
        if global.is_none() {
            anyhow::bail!(
                "no router advertisement gave {} an IPv6 address within {} s; is a router (radvd) on that \
                 network? (--dhcp-timeout changes the limit)",
                self.link,
                self.timeout.as_secs()
            );
        }
        Ok(())
    }
}

/// One gratuitous ARP so neighbours learn the new address. On a bridge it
/// waits until the host side forwards, or the bridge would drop it.
#[derive(Debug)]
pub struct Announce {
    pub link: String,
    pub ip: Ipv4Addr,
    pub bridge_port: Option<String>,
}

impl Step for Announce {
    fn command(&self, g: &GuestNames) -> String {
        format!("{} arping -c 1 -A -I {} {}", g.exec, self.link, self.ip)
    }

    /// Best effort, as in the reference: a lost announcement only delays
    /// neighbours until they ask.
    fn run(&self, t: &mut Target) -> Result<()> {
        let sent = passing_traffic(t, &self.link, self.bridge_port.as_deref())
            .and_then(|l| t.arp.announce(t.guest_ns, l.index, l.ethernet_mac(), self.ip));
        if let Err(e) = sent {
            eprintln!("pipework: warning: gratuitous ARP for {} on {} failed: {e:#}", self.ip, self.link);
        }
        Ok(())
    }
}

/// The guest's link, once what it sends gets through: the bridge forwards
/// its host side (when on a bridge) and the link itself is running.
fn passing_traffic(t: &Target, link: &str, bridge_port: Option<&str>) -> Result<Link> {
    if let Some(port) = bridge_port {
        wait_for(t.host_nl, port, |l| l.forwarding == Some(true))?;
    }
    wait_for(t.guest_nl, link, |l| l.running)
}

/// A link just set up drops what is sent through it until the kernel has
/// seen its carrier (a real qdisc; a bridge port that forwards). That takes
/// well under a millisecond, so the wait, woken by the kernel's link
/// notifications, is short; past the limit the caller goes on anyway. A
/// link without carrier (no cable, a peer that is down) will not get
/// there in any time worth waiting: the caller goes on at once, as the
/// reference does.
fn wait_for(nl: &Netlink, name: &str, ready: impl Fn(&Link) -> bool) -> Result<Link> {
    let deadline = Instant::now() + Duration::from_millis(500);
    let mut last = None;
    let found = nl.wait_until(Some(deadline), || {
        let l = nl.link(name)?.with_context(|| format!("{name} vanished"))?;
        if ready(&l) || l.carrier == Some(false) {
            return Ok(Some(l));
        }
        last = Some(l);
        Ok(None)
    })?;
    found.or(last).with_context(|| format!("{name} vanished"))
}
