//! `pipework --shim [-l NAME] [--ipvlan MODE] HOSTIF ADDRESS [ROUTE…]`: the
//! host's own macvlan on HOSTIF (bridge mode), or ipvlan, with an address
//! and routes to the guests. A parent passes no traffic between itself and
//! its macvlans or ipvlans, so without it the host cannot reach its own
//! macvlan or ipvlan guests.
//! `--detach --shim [-l NAME] HOSTIF` removes it. Made with undo, as an
//! attach is.

use anyhow::{bail, Context, Result};
use ipnet::IpNet;

use crate::attach::kinds::ipvlan_switching;
use crate::attach::step::{Step, Steps, Target};
use crate::attach::{apply, replace};
use crate::guest::GuestNames;
use crate::request::{Ipvlan, Shim};
use crate::sys::arp::Announcer;
use crate::sys::netlink::{LinkKind, Netlink};
use crate::sys::netns;

/// The alias that marks a shim as pipework's, for --detach to trust.
const MARK: &str = "pipework: host shim";

pub fn run(s: &Shim, dry_run: bool) -> Result<()> {
    let host_nl = Netlink::connect()?;
    let here = netns::current()?;
    let name = s.name.as_str();
    let existing = host_nl.link(name)?;
    let mut steps = Steps::new();
    let mut parked = None;
    if s.detach {
        match existing {
            Some(l)
                if matches!(l.kind, Some(LinkKind::Macvlan | LinkKind::Ipvlan)) && l.alias.as_deref() == Some(MARK) =>
            {
                steps.push(Box::new(DeleteShim { name: name.to_string(), index: l.index }))
            }
            Some(_) => bail!("{name} is not a shim pipework made; not removing it"),
            None => {
                eprintln!("pipework: nothing to detach: there is no shim {name}");
                return Ok(());
            }
        }
    } else {
        let parent = host_nl.link(s.parent.as_str())?.with_context(|| format!("no host interface {}", s.parent))?;
        if parent.kind == Some(LinkKind::Bridge) {
            bail!("{} is a bridge: the host reaches a bridge's guests through the bridge itself", s.parent);
        }
        let address = s.address.context("--shim needs an address")?;
        if let Some(old) = &existing {
            let ours =
                matches!(old.kind, Some(LinkKind::Macvlan | LinkKind::Ipvlan)) && old.alias.as_deref() == Some(MARK);
            if !ours {
                bail!("{name} already exists and is not a shim pipework made; remove it first or name another with -l");
            }
            match difference(s, old, &parent, address, &host_nl)? {
                None => {
                    eprintln!("pipework: {name} is already as asked");
                    return Ok(());
                }
                Some(why) if !s.replace => bail!(
                    "{name} is already there, but not as asked: {why} (--replace takes it away and makes it again \
                     as asked; pipework --detach --shim {} removes it)",
                    s.parent
                ),
                Some(_) => {
                    let park = replace::park(old, &host_nl, None, &host_nl, false)?
                        .context("the old shim cannot be set aside")?;
                    parked = Some(park.parked());
                    steps.push(Box::new(park));
                }
            }
        }
        steps.push(Box::new(CreateShim {
            name: name.to_string(),
            parent: s.parent.to_string(),
            index: parent.index,
            mtu: parent.mtu,
            ipvlan: s.ipvlan,
        }));
        steps.push(Box::new(Configure { name: name.to_string(), address, routes: s.routes.clone() }));
    }
    let names = GuestNames::path("/proc/self/ns/net");
    if dry_run {
        for step in &steps {
            println!("{}", step.command(&names));
        }
        return Ok(());
    }
    let arp = Announcer::new();
    // The shim lives in the host: the "guest" side of the target is the
    // host's own namespace too.
    let mut t = Target::new(&host_nl, &host_nl, &here, "the host", None, &arp);
    apply::run_with_undo(&steps, &mut t, "the shim")?;
    if let Some(p) = parked {
        // The new shim stands: the old one, set aside, goes.
        if let Err(e) = host_nl.delete(p.guest_index) {
            eprintln!("pipework: warning: the old shim, set aside as {}, could not be deleted: {e:#}", p.guest_name);
        }
    }
    Ok(())
}

/// How an existing shim differs from the line, first difference only.
fn difference(
    s: &Shim,
    old: &crate::sys::netlink::Link,
    parent: &crate::sys::netlink::Link,
    address: IpNet,
    host_nl: &Netlink,
) -> Result<Option<String>> {
    let want_ipvlan = s.ipvlan.is_some();
    if (old.kind == Some(LinkKind::Ipvlan)) != want_ipvlan {
        return Ok(Some(format!("it is a {}", old.kind.as_ref().map_or("device".into(), |k| k.to_string()))));
    }
    if old.parent != Some(parent.index) {
        return Ok(Some(format!("it does not hang from {}", s.parent)));
    }
    if !old.up {
        return Ok(Some("it is down".into()));
    }
    if !host_nl.addresses(old.index)?.contains(&address) {
        return Ok(Some(format!("it lacks {address}")));
    }
    let routed: Vec<IpNet> = host_nl.routes_of(old.index)?.iter().filter_map(|r| r.destination()).collect();
    if let Some(r) = s.routes.iter().find(|r| !routed.contains(&r.trunc())) {
        return Ok(Some(format!("{r} is not routed through it")));
    }
    Ok(None)
}

/// `ip link add link PARENT name NAME type macvlan mode bridge` (or `type
/// ipvlan mode MODE FLAG`), marked.
#[derive(Debug)]
struct CreateShim {
    name: String,
    parent: String,
    index: u32,
    mtu: u32,
    ipvlan: Option<Ipvlan>,
}

impl Step for CreateShim {
    fn command(&self, _: &GuestNames) -> String {
        let kind = match &self.ipvlan {
            Some(how) => {
                let s = ipvlan_switching(how);
                format!("ipvlan mode {} {}", s.mode, s.flag)
            }
            None => "macvlan mode bridge".to_string(),
        };
        format!(
            "ip link add link {} name {} mtu {} type {kind} && ip link set {} alias '{MARK}'",
            self.parent, self.name, self.mtu, self.name
        )
    }

    fn run(&self, t: &mut Target) -> Result<()> {
        let name = &self.name;
        let made = match &self.ipvlan {
            Some(how) => t.host_nl.add_ipvlan(name, self.index, self.mtu, t.guest_ns, ipvlan_switching(how)),
            None => t.host_nl.add_macvlan(name, self.index, self.mtu, t.guest_ns, None, "bridge"),
        };
        made.with_context(|| format!("creating the shim {name} on {}", self.parent))?;
        let i = t.made_in_host(name)?;
        t.host_nl.name_mark_and_up(i, name, MARK).with_context(|| format!("marking and setting {name} up"))
    }
}

/// The address, then the routes through the shim.
#[derive(Debug)]
struct Configure {
    name: String,
    address: IpNet,
    routes: Vec<IpNet>,
}

impl Step for Configure {
    fn command(&self, _: &GuestNames) -> String {
        let mut c = format!("ip addr add {} dev {}", self.address, self.name);
        for r in &self.routes {
            c.push_str(&format!(" && ip route add {r} dev {}", self.name));
        }
        c
    }

    fn run(&self, t: &mut Target) -> Result<()> {
        let i = t.host_index(&self.name)?;
        t.host_nl
            .add_address(i, self.address, false)
            .with_context(|| format!("adding {} to {}", self.address, self.name))?;
        for r in &self.routes {
            t.host_nl.add_route(i, *r, None, false).with_context(|| format!("routing {r} through {}", self.name))?;
        }
        Ok(())
    }
}

/// `ip link del NAME`: the shim goes, its address and routes with it.
#[derive(Debug)]
struct DeleteShim {
    name: String,
    index: u32,
}

impl Step for DeleteShim {
    fn command(&self, _: &GuestNames) -> String {
        format!("ip link del {}", self.name)
    }

    fn run(&self, t: &mut Target) -> Result<()> {
        t.host_nl.delete(self.index).with_context(|| format!("deleting the shim {}", self.name))
    }
}
