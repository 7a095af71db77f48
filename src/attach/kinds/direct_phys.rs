//! `--direct-phys`: HOSTIF itself moves into the guest, renamed, instead of
//! a macvlan on it. Its alias keeps its host name, so that `--detach` (and
//! undo) can send it home under that name.

use anyhow::{bail, Context, Result};
use macaddr::MacAddr6;

use crate::attach::kinds::kind::{no_host_leftovers, Ctx, Entry, Found, Kind, Makes, Probe};
use crate::attach::kinds::ovs;
use crate::attach::step::{Step, Steps, Target};
use crate::guest::GuestNames;
use crate::request::format_mac;
use crate::sys::netlink::{Link, LinkKind};
use crate::sys::{netns, sysctl};

pub const ENTRY: Entry = Entry { recognise, detach, host_leftovers: no_host_leftovers };

/// The alias a device moved in carries: its host name after this prefix.
pub const HOME_MARK: &str = "pipework-home:";

#[derive(Debug)]
struct DirectPhys {
    /// What the device is called now.
    name: String,
    /// Its name in the host, as HOSTIF says: it goes home under this name.
    home: String,
    index: u32,
    /// How it was in the host, to be as found when it goes home.
    found: AsFound,
}

/// What a round trip into a guest changes of a device, as it was in the
/// host: the guest's tuning sets MTU, MAC, queue length and promiscuity;
/// the move up or down; the namespace move drops its IPv6 settings
/// (`addr_gen_mode` comes back as the host's default); and the mark takes
/// its alias. Recorded in the device's alias next to its home name, so
/// that a `--detach` in a later run puts back what undo would. (Its qdisc
/// needs nothing: the move leaves it `noop` until it is up again, as a
/// device found down has it.)
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AsFound {
    mtu: Option<u32>,
    up: Option<bool>,
    mac: Option<MacAddr6>,
    txqueuelen: Option<u32>,
    promisc: Option<bool>,
    addr_gen_mode: Option<u8>,
    /// Its own alias, last in the mark (it may hold spaces); dropped when
    /// the mark would grow past the kernel's 255 bytes.
    alias: Option<String>,
}

impl AsFound {
    fn of(l: &Link) -> AsFound {
        let key = format!("net/ipv6/conf/{}/addr_gen_mode", l.name);
        let addr_gen_mode = netns::current().and_then(|ns| sysctl::get_in(&ns, &key)).ok().and_then(|v| v.parse().ok());
        AsFound {
            mtu: Some(l.mtu),
            up: Some(l.up),
            mac: l.ethernet_mac().map(MacAddr6::from),
            txqueuelen: Some(l.txqueuelen),
            promisc: Some(l.promisc),
            addr_gen_mode,
            alias: l.alias.clone().filter(|a| !a.is_empty()),
        }
    }

    /// ` mtu=1500 up=1 mac=… txq=1000 promisc=0 agm=0`, as the alias carries it.
    fn words(&self) -> String {
        let mut w = String::new();
        let b = |v: bool| if v { "1" } else { "0" };
        if let Some(v) = self.mtu {
            w += &format!(" mtu={v}");
        }
        if let Some(v) = self.up {
            w += &format!(" up={}", b(v));
        }
        if let Some(v) = self.mac {
            w += &format!(" mac={}", format_mac(&v));
        }
        if let Some(v) = self.txqueuelen {
            w += &format!(" txq={v}");
        }
        if let Some(v) = self.promisc {
            w += &format!(" promisc={}", b(v));
        }
        if let Some(v) = self.addr_gen_mode {
            w += &format!(" agm={v}");
        }
        if let Some(a) = &self.alias {
            w += &format!(" alias={a}");
        }
        w
    }

    /// The words after the home name; what is missing or unreadable stays
    /// None (a mark of an older pipework carries none).
    fn parse(words: &str) -> AsFound {
        let mut f = AsFound::default();
        let words = match words.split_once(" alias=") {
            Some((w, alias)) => {
                f.alias = Some(alias.to_string());
                w
            }
            None => words,
        };
        for (k, v) in words.split_whitespace().filter_map(|kv| kv.split_once('=')) {
            match k {
                "mtu" => f.mtu = v.parse().ok(),
                "up" => f.up = Some(v == "1"),
                "mac" => f.mac = v.parse().ok(),
                "txq" => f.txqueuelen = v.parse().ok(),
                "promisc" => f.promisc = Some(v == "1"),
                "agm" => f.addr_gen_mode = v.parse().ok(),
                _ => {}
            }
        }
        f
    }

    /// Puts the device, home again under `name`, back as it was found.
    fn restore(&self, name: &str, host_nl: &crate::sys::netlink::Netlink) -> Result<()> {
        let l = host_nl.link(name)?.with_context(|| format!("{name} did not come home"))?;
        if let Some(agm) = self.addr_gen_mode {
            let key = format!("net/ipv6/conf/{name}/addr_gen_mode");
            sysctl::set_in(&netns::current()?, &key, &agm.to_string())?;
        }
        let mtu = self.mtu.filter(|m| *m != l.mtu);
        let txq = self.txqueuelen.filter(|q| *q != l.txqueuelen);
        if mtu.is_some() || txq.is_some() {
            host_nl.tune(l.index, mtu, txq, false)?;
        }
        if let Some(mac) = self.mac.filter(|m| l.ethernet_mac() != Some(m.into_array())) {
            host_nl.set_mac(l.index, mac)?;
        }
        if self.promisc == Some(false) && l.promisc {
            host_nl.set_promisc(l.index, false)?;
        }
        if let Some(a) = &self.alias {
            host_nl.set_alias(l.index, a)?;
        }
        if self.up == Some(true) {
            host_nl.set_up(l.index, true)?;
        }
        Ok(())
    }
}

fn recognise(p: &Probe) -> Result<Option<Box<dyn Kind>>> {
    if !p.req.direct_phys {
        return Ok(None);
    }
    let came_home;
    let link = match &p.link {
        Some(l) => l,
        // A device whose guest died came home under its name in the guest,
        // still carrying the mark: the same line finds it again.
        None => match p.host_nl.links()?.into_iter().find(|l| home_name(l) == Some(p.name.as_str())) {
            Some(l) => {
                came_home = l;
                &came_home
            }
            None => bail!("--direct-phys moves an existing interface into the guest, and {} does not exist", p.name),
        },
    };
    if link.kind == Some(LinkKind::Bridge) || ovs::is_bridge(link, p.vswitch) {
        bail!("--direct-phys moves a physical interface into the guest, but {} is a bridge", p.name);
    }
    if let Some(tag) = &p.req.tag {
        bail!("--direct-phys moves {} itself into the guest; it cannot also take @{tag}", p.name);
    }
    let home = p.name.clone();
    // A device that came home with its mark still carries how it was found.
    let found = match home_of(link) {
        Some((_, found)) => found,
        None => AsFound::of(link),
    };
    Ok(Some(Box::new(DirectPhys { name: link.name.clone(), home, index: link.index, found })))
}

/// The host name a moved device's mark records.
fn home_name(l: &Link) -> Option<&str> {
    home_of(l).map(|(name, _)| name)
}

/// The mark: the home name, then how the device was found.
fn home_of(l: &Link) -> Option<(&str, AsFound)> {
    let rest = l.alias.as_deref()?.strip_prefix(HOME_MARK)?;
    let (name, words) = rest.split_once(' ').unwrap_or((rest, ""));
    Some((name, AsFound::parse(words)))
}

impl Kind for DirectPhys {
    fn host_name(&self) -> &str {
        &self.name
    }

    fn makes(&self) -> Makes {
        Makes::TheInterfaceItself
    }

    fn bring_in(&self, ctx: &Ctx, steps: &mut Steps) -> String {
        let new_name = ctx.guest_if.to_string();
        let home = self.home.clone();
        let found = self.found.clone();
        steps.push(Box::new(MoveIn {
            link: self.name.clone(),
            home,
            index: self.index,
            new_name,
            mac: ctx.req.mac,
            found,
        }));
        ctx.guest_if.to_string()
    }
}

/// The device moves into the guest under its new name, with the mark;
/// then its MAC, if asked. Undo sends it home.
#[derive(Debug)]
struct MoveIn {
    link: String,
    home: String,
    index: u32,
    new_name: String,
    mac: Option<MacAddr6>,
    found: AsFound,
}

impl MoveIn {
    fn mark(&self) -> String {
        let mark = format!("{HOME_MARK}{}{}", self.home, self.found.words());
        if mark.len() <= 255 {
            return mark;
        }
        let without_alias = AsFound { alias: None, ..self.found.clone() };
        format!("{HOME_MARK}{}{}", self.home, without_alias.words())
    }
}

impl Step for MoveIn {
    fn command(&self, g: &GuestNames) -> String {
        let (link, new) = (&self.link, &self.new_name);
        let mac = self.mac.map(|m| format!(" && {} link set {new} address {}", g.ip, format_mac(&m)));
        format!("ip link set {link} netns {} name {new} alias '{}'{}", g.netns, self.mark(), mac.unwrap_or_default())
    }

    fn run(&self, t: &mut Target) -> Result<()> {
        let (link, new) = (&self.link, &self.new_name);
        t.host_nl
            .move_to(self.index, t.guest_ns, new, &self.mark())
            .with_context(|| format!("moving {link} into guest {} as {new}", t.guest_label))?;
        let gi = t.guest_index(new)?;
        let (home, found) = (self.home.clone(), self.found.clone());
        t.on_undo(format!("move {link} back to the host as {home}"), move |t| send_home(t, gi, &home, &found));
        if let Some(mac) = self.mac {
            t.guest_nl.set_mac(gi, mac).with_context(|| format!("setting the MAC of {new}"))?;
        }
        Ok(())
    }
}

/// Down, then out of the guest under its host name, the mark cleared; then
/// as it was found.
fn send_home(t: &Target, index: u32, home_name: &str, found: &AsFound) -> Result<()> {
    let home = netns::current()?;
    t.guest_nl.set_up(index, false)?;
    t.guest_nl.move_to(index, &home, home_name, "")?;
    found.restore(home_name, t.host_nl).with_context(|| format!("putting {home_name} back as it was found"))
}

/// A device carrying the mark, whatever its kind; or one of no virtual kind
/// (a NIC moved in by hand or by an older tool), home under its present name.
fn detach(f: &Found) -> Result<Option<Steps>> {
    let l = f.link;
    let (home_name, found) = match home_of(l) {
        Some((home, found)) => (home.to_string(), found),
        None => {
            let virtual_kinds = [
                LinkKind::Veth,
                LinkKind::Macvlan,
                LinkKind::Macvtap,
                LinkKind::Ipvlan,
                LinkKind::Dummy,
                LinkKind::Vlan,
                LinkKind::Ipoib,
            ];
            if l.kind.as_ref().is_some_and(|k| virtual_kinds.contains(k)) {
                return Ok(None);
            }
            (l.name.clone(), AsFound::default())
        }
    };
    Ok(Some(vec![Box::new(MoveHome { name: l.name.clone(), index: l.index, home_name, found })]))
}

/// `--detach`: the device goes home under the name its mark recorded.
#[derive(Debug)]
struct MoveHome {
    name: String,
    index: u32,
    home_name: String,
    found: AsFound,
}

impl Step for MoveHome {
    fn command(&self, g: &GuestNames) -> String {
        format!("{} link set {} netns 1 name {} alias ''", g.ip, self.name, self.home_name)
    }

    fn run(&self, t: &mut Target) -> Result<()> {
        send_home(t, self.index, &self.home_name, &self.found).with_context(|| {
            format!("moving {} back from guest {} to the host as {}", self.name, t.guest_label, self.home_name)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attach::kinds::kind::testing::{guest, kind_commands, request};

    #[test]
    fn the_mark_reads_back_as_written() {
        let f = AsFound {
            mtu: Some(9000),
            up: Some(false),
            mac: Some("02:00:00:00:00:09".parse().unwrap()),
            txqueuelen: Some(500),
            promisc: Some(true),
            addr_gen_mode: Some(3),
            alias: Some("uplink of rack 5 agm=1".into()),
        };
        assert_eq!(AsFound::parse(&f.words()), f);
        assert_eq!(AsFound::parse(""), AsFound::default(), "an older mark carries nothing");
    }

    #[test]
    fn direct_phys_moves_the_device() {
        let found = AsFound { mtu: Some(1500), up: Some(true), addr_gen_mode: Some(1), ..AsFound::default() };
        let eth2 = DirectPhys { name: "eth2".into(), home: "eth2".into(), index: 3, found };
        let (c, made) = kind_commands(&eth2, &request("10.0.0.9/24"), &guest());
        assert_eq!(c, ["ip link set eth2 netns 4242 name eth1 alias 'pipework-home:eth2 mtu=1500 up=1 agm=1'"]);
        assert_eq!(made, "eth1", "moved in under its final name: no rename");
    }
}
