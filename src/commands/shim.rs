//! `pipework --shim [-l NAME] [--ipvlan MODE] HOSTIF ADDRESS [ROUTE…]`: the
//! host's own macvlan on HOSTIF (bridge mode), or ipvlan, with an address
//! and routes to the guests. A parent passes no traffic between itself and
//! its macvlans or ipvlans, so without it the host cannot reach its own
//! macvlan or ipvlan guests.
//! `--detach --shim [-l NAME] HOSTIF` removes it. Made with undo, as an
//! attach is.

use anyhow::{bail, Context, Result};
use ipnet::IpNet;

use crate::attach::apply;
use crate::attach::kinds::ipvlan_switching;
use crate::attach::step::{Step, Steps, Target};
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
        if existing.is_some() {
            bail!(
                "{name} already exists; remove it first (pipework --detach --shim {}) or name another with -l",
                s.parent
            );
        }
        let parent = host_nl.link(s.parent.as_str())?.with_context(|| format!("no host interface {}", s.parent))?;
        if parent.kind == Some(LinkKind::Bridge) {
            bail!("{} is a bridge: the host reaches a bridge's guests through the bridge itself", s.parent);
        }
        let address = s.address.context("--shim needs an address")?;
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
    apply::run_with_undo(&steps, &mut t, "the shim")
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
