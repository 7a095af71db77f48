//! Carry out a plan. Every step that changes something registers how to take
//! it back; on the first failure the undos run newest first, and the error
//! that stopped us is the one reported.

use std::collections::HashMap;
use std::fs::File;

use anyhow::{anyhow, Context, Result};
use rtnetlink::packet_route::route::RouteMessage;

use crate::arp;
use crate::netlink::{errno, route_family, Netlink};
use crate::ovs::Vsctl;
use crate::plan::{Plan, Step};

pub struct Target<'a> {
    pub host: &'a Netlink,
    pub guest: &'a Netlink,
    pub guest_ns: &'a File,
    /// How the guest is called in messages.
    pub guest_label: &'a str,
    /// The host interface's name and index, already read by the facts.
    pub host_if: Option<(&'a str, u32)>,
    /// None when ovs-vsctl is not installed (then no plan has OVS steps).
    pub ovs: Option<&'a Vsctl>,
}

impl<'a> Target<'a> {
    pub fn new(
        host: &'a Netlink,
        guest: &'a Netlink,
        g: &'a crate::guest::Guest,
        facts: &'a crate::plan::Facts,
        ovs: Option<&'a Vsctl>,
    ) -> Target<'a> {
        Target {
            host,
            guest,
            guest_ns: &g.netns,
            guest_label: &g.label,
            host_if: facts.host_index.map(|i| (facts.host_name.as_str(), i)),
            ovs,
        }
    }
}

/// How to take one change back. Links are held by index, which survives
/// the renames that follow their creation.
enum Undo {
    DeleteHostLink(u32),
    DeleteGuestLink(u32),
    /// A bridge this run created: removed unless someone else joined it meanwhile.
    DeleteBridgeIfUnused(u32),
    HostDown(u32),
    /// A device moved in by --direct-phys goes home under its old name.
    MoveHome { guest_index: u32, name: String },
    RestoreRoutes(Vec<RouteMessage>),
    OvsDelPort { bridge: String, port: String },
    /// An OVS bridge this run created: removed unless it has other ports.
    OvsDelBridgeIfEmpty(String),
}

pub async fn apply(plan: &Plan, t: &Target<'_>) -> Result<()> {
    let mut undo = Vec::new();
    let mut ix = Indexes::default();
    if let Some((name, index)) = t.host_if {
        ix.host.insert(name.to_string(), index);
    }
    for step in &plan.steps {
        if let Err(e) = run(step, t, &mut ix, &mut undo).await {
            let undone = !undo.is_empty();
            rollback(undo, t).await;
            return Err(if undone { e.context("attach failed; everything it had made was removed") } else { e });
        }
    }
    Ok(())
}

/// Interface indexes by name, on each side, so each name costs one netlink
/// round trip per run. Indexes never change; names change only through our
/// own renames, which update the cache.
#[derive(Default)]
struct Indexes {
    host: HashMap<String, u32>,
    guest: HashMap<String, u32>,
}

impl Indexes {
    async fn host(&mut self, t: &Target<'_>, name: &str) -> Result<u32> {
        Self::lookup(&mut self.host, t.host, name, "host").await
    }

    async fn guest(&mut self, t: &Target<'_>, name: &str) -> Result<u32> {
        Self::lookup(&mut self.guest, t.guest, name, "guest").await
    }

    async fn lookup(map: &mut HashMap<String, u32>, nl: &Netlink, name: &str, place: &str) -> Result<u32> {
        if let Some(i) = map.get(name) {
            return Ok(*i);
        }
        let i = nl.link(name).await?.with_context(|| format!("interface {name} vanished from the {place}"))?.index;
        map.insert(name.to_string(), i);
        Ok(i)
    }
}

async fn run(step: &Step, t: &Target<'_>, ix: &mut Indexes, undo: &mut Vec<Undo>) -> Result<()> {
    match step {
        Step::CreateBridge { name } => match t.host.add_bridge(name).await {
            Ok(()) => undo.push(Undo::DeleteBridgeIfUnused(ix.host(t, name).await?)),
            // Another run created it between our look and now: use theirs.
            Err(e) if errno(&e) == Some(libc::EEXIST) => {
                let l = t.host.link(name).await?.context("bridge vanished right after it was created")?;
                if l.kind != Some(rtnetlink::packet_route::link::InfoKind::Bridge) {
                    return Err(anyhow!("{name} appeared meanwhile, and it is not a bridge"));
                }
                if !l.up {
                    t.host.set_up(l.index, true).await?;
                }
            }
            Err(e) => return Err(e.context(format!("creating bridge {name}"))),
        },
        Step::DeleteStaleLink { name } => {
            if let Some(l) = t.host.link(name).await? {
                t.host.delete(l.index).await.with_context(|| format!("deleting leftover {name}"))?;
            }
        }
        Step::CreateVeth { host, guest, mtu, mac } => {
            t.host
                .add_veth(host, *mtu, guest, t.guest_ns, *mac)
                .await
                .with_context(|| format!("creating veth pair {host} (host) / {guest} (in guest {})", t.guest_label))?;
            undo.push(Undo::DeleteHostLink(ix.host(t, host).await?));
        }
        Step::Enslave { link, bridge } => {
            let l = ix.host(t, link).await?;
            let b = ix.host(t, bridge).await?;
            t.host.set_controller_up(l, b).await.with_context(|| format!("adding {link} to bridge {bridge}"))?;
        }
        Step::AddOvsPort(spec) => {
            let vsctl = t.ovs.context("ovs-vsctl is needed for this step, and it is not installed")?;
            let added = vsctl.add_port(spec)?;
            // Pushed bridge first: rollback runs newest first, so the port
            // goes before the bridge is checked for emptiness.
            if spec.create_bridge.is_some() {
                undo.push(Undo::OvsDelBridgeIfEmpty(spec.bridge.clone()));
            }
            if !added.port_existed {
                undo.push(Undo::OvsDelPort { bridge: spec.bridge.clone(), port: spec.port.clone() });
            }
            if let Some(e) = added.error {
                return Err(e);
            }
        }
        Step::Dhcp { spec, bridge_port } => {
            let l = passing_traffic(t, &spec.link, bridge_port.as_deref()).await?;
            crate::dhcp::obtain(spec, t.guest_ns, t.guest, l.index).await.with_context(|| {
                format!("DHCP ({}) on {} in guest {}", spec.method.keyword(), spec.link, t.guest_label)
            })?;
        }
        Step::PortUp { link } => {
            let i = ix.host(t, link).await?;
            t.host.set_up(i, true).await.with_context(|| format!("setting {link} up"))?;
        }
        Step::CreateVlan { name, parent, id, mtu } => {
            let p = ix.host(t, parent).await?;
            t.host
                .add_vlan(name, p, *id, *mtu)
                .await
                .with_context(|| format!("creating 802.1Q device {name} (VLAN {id} on {parent})"))?;
            undo.push(Undo::DeleteHostLink(ix.host(t, name).await?));
        }
        Step::CreateIpoib { name, parent, pkey } => {
            let p = ix.host(t, parent).await?;
            t.host
                .add_ipoib(name, p, *pkey, t.guest_ns)
                .await
                .with_context(|| format!("creating IPoIB child {name} of {parent} in guest {}", t.guest_label))?;
            undo.push(Undo::DeleteGuestLink(ix.guest(t, name).await?));
        }
        Step::CreateDummy { name, mac } => {
            t.host
                .add_dummy(name, t.guest_ns, *mac)
                .await
                .with_context(|| format!("creating dummy interface {name} in guest {}", t.guest_label))?;
            undo.push(Undo::DeleteGuestLink(ix.guest(t, name).await?));
        }
        Step::CreateMacvlan { name, parent, mtu, mac } => {
            let p = ix.host(t, parent).await?;
            t.host
                .add_macvlan(name, p, *mtu, t.guest_ns, *mac)
                .await
                .with_context(|| format!("creating macvlan {name} on {parent} in guest {}", t.guest_label))?;
            undo.push(Undo::DeleteGuestLink(ix.guest(t, name).await?));
        }
        Step::HostUp { link } => {
            let i = ix.host(t, link).await?;
            t.host.set_up(i, true).await.with_context(|| format!("setting {link} up"))?;
            undo.push(Undo::HostDown(i));
        }
        Step::MoveToGuest { link, new_name, mac } => {
            let i = ix.host(t, link).await?;
            t.host
                .move_to(i, t.guest_ns, new_name, &format!("{}{link}", crate::plan::HOME_ALIAS_PREFIX))
                .await
                .with_context(|| format!("moving {link} into guest {} as {new_name}", t.guest_label))?;
            let gi = ix.guest(t, new_name).await?;
            undo.push(Undo::MoveHome { guest_index: gi, name: link.clone() });
            if let Some(mac) = mac {
                t.guest.set_mac(gi, *mac).await.with_context(|| format!("setting the MAC of {new_name}"))?;
            }
        }
        Step::RenameInGuest { from, to } => {
            let i = ix.guest(t, from).await?;
            t.guest.rename(i, to).await.with_context(|| format!("renaming {from} to {to} in the guest"))?;
            ix.guest.remove(from);
            ix.guest.insert(to.clone(), i);
        }
        Step::AddAddress { link, addr } => {
            let i = ix.guest(t, link).await?;
            t.guest.add_address(i, *addr).await.with_context(|| format!("adding {addr} to {link} in the guest"))?;
        }
        Step::GuestUp { link } => {
            let i = ix.guest(t, link).await?;
            t.guest.set_up(i, true).await.with_context(|| format!("setting {link} up in the guest"))?;
        }
        Step::DropDefaultRoutes { family } => {
            let routes = t.guest.default_routes(*family).await?;
            let mut dropped = Vec::new();
            for r in routes {
                let res = t.guest.delete_route(r.clone()).await;
                match res {
                    Ok(()) => dropped.push(r),
                    Err(e) if errno(&e) == Some(libc::ESRCH) => {}
                    Err(e) => {
                        undo.push(Undo::RestoreRoutes(dropped));
                        return Err(e.context("deleting the guest's old default route"));
                    }
                }
            }
            undo.push(Undo::RestoreRoutes(dropped));
        }
        Step::AddGatewayRoute { link, gateway } => {
            let i = ix.guest(t, link).await?;
            t.guest
                .add_host_route(i, *gateway)
                .await
                .with_context(|| format!("adding a route to gateway {gateway} on {link}"))?;
        }
        Step::ReplaceDefault { link, gateway } => {
            let i = ix.guest(t, link).await?;
            t.guest
                .replace_default(i, *gateway)
                .await
                .with_context(|| format!("setting the default route via {gateway} on {link}"))?;
        }
        Step::Announce { link, ip, bridge_port } => {
            // Best effort, as in the reference: a lost announcement only
            // delays neighbours until they ask. (Our new default route needs
            // no undo of its own: restoring the old one replaces it, and it
            // goes with our link, which rollback deletes last.)
            if let Err(e) = announce(t, link, *ip, bridge_port.as_deref()).await {
                eprintln!("pipework: warning: gratuitous ARP for {ip} on {link} failed: {e:#}");
            }
        }
    }
    Ok(())
}

async fn announce(t: &Target<'_>, link: &str, ip: std::net::Ipv4Addr, bridge_port: Option<&str>) -> Result<()> {
    let l = passing_traffic(t, link, bridge_port).await?;
    arp::announce(t.guest_ns, &l, ip)
}

/// The guest's link, once what it sends gets through: the bridge forwards
/// its host side (when on a bridge) and the link itself is running.
async fn passing_traffic(t: &Target<'_>, link: &str, bridge_port: Option<&str>) -> Result<crate::netlink::Link> {
    if let Some(port) = bridge_port {
        wait_for(t.host, port, |l| l.forwarding == Some(true)).await?;
    }
    wait_for(t.guest, link, |l| l.running).await
}

/// A link just set up drops what is sent through it until the kernel has
/// seen its carrier (a real qdisc; a bridge port that forwards). That takes
/// well under a millisecond, so poll briefly; past the limit the announcement
/// goes out anyway, as it is best effort.
async fn wait_for(nl: &Netlink, name: &str, ready: impl Fn(&crate::netlink::Link) -> bool) -> Result<crate::netlink::Link> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_millis(500);
    loop {
        let l = nl.link(name).await?.with_context(|| format!("{name} vanished"))?;
        if ready(&l) || tokio::time::Instant::now() >= deadline {
            return Ok(l);
        }
        // Not tokio's sleep: its timer wheel has millisecond ticks, which
        // would make every wait here cost a whole millisecond.
        std::thread::sleep(std::time::Duration::from_micros(100));
    }
}

impl Undo {
    /// What a user needs to finish by hand when this undo fails.
    fn describe(&self) -> String {
        match self {
            Undo::DeleteHostLink(i) => format!("delete host interface #{i}"),
            Undo::DeleteGuestLink(i) => format!("delete guest interface #{i}"),
            Undo::DeleteBridgeIfUnused(i) => format!("delete the bridge #{i} this run created"),
            Undo::HostDown(i) => format!("set host interface #{i} down again"),
            Undo::MoveHome { name, .. } => format!("move {name} back to the host"),
            Undo::RestoreRoutes(r) => format!("restore the guest's {} old default route(s)", r.len()),
            Undo::OvsDelPort { bridge, port } => format!("ovs-vsctl del-port {bridge} {port}"),
            Undo::OvsDelBridgeIfEmpty(b) => format!("ovs-vsctl del-br {b} (this run created it)"),
        }
    }
}

async fn rollback(undo: Vec<Undo>, t: &Target<'_>) {
    for u in undo.into_iter().rev() {
        let what = u.describe();
        if let Err(e) = undo_one(u, t).await {
            eprintln!("pipework: could not undo: {what}: {e:#}");
        }
    }
}

async fn undo_one(u: Undo, t: &Target<'_>) -> Result<()> {
    match u {
        Undo::DeleteHostLink(i) => t.host.delete(i).await,
        Undo::DeleteGuestLink(i) => t.guest.delete(i).await,
        Undo::DeleteBridgeIfUnused(i) => {
            if t.host.ports_of(i).await?.is_empty() {
                t.host.delete(i).await?;
            }
            Ok(())
        }
        Undo::HostDown(i) => t.host.set_up(i, false).await,
        Undo::MoveHome { guest_index, name } => {
            let home = crate::netns::current()?;
            t.guest.set_up(guest_index, false).await?;
            t.guest.move_to(guest_index, &home, &name, "").await
        }
        Undo::OvsDelPort { bridge, port } => t.ovs.context("ovs-vsctl vanished")?.del_port(&bridge, &port),
        Undo::OvsDelBridgeIfEmpty(b) => t.ovs.context("ovs-vsctl vanished")?.del_bridge_if_empty(&b),
        Undo::RestoreRoutes(routes) => {
            for r in routes {
                let fam = route_family(&r);
                t.guest.restore_route(r).await.with_context(|| format!("restoring an {fam} default route"))?;
            }
            Ok(())
        }
    }
}
