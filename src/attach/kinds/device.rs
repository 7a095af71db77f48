//! Steps on a device that several kinds share: a host parent that comes up
//! last, an earlier run's leftover in the guest, and a device in the guest
//! that `--detach` deletes.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;

use anyhow::{Context, Result};

use crate::attach::kinds::kind::{Found, Probe};
use crate::attach::step::{Step, Steps, Target};
use crate::guest::GuestNames;
use crate::sys::netlink::{errno, Link, LinkKind, Netlink};
use crate::sys::netns;

/// `ip link set LINK up` in the host: a macvlan's or IPoIB child's parent
/// (or 802.1Q device) that was down. Undo sets it down again.
#[derive(Debug)]
pub struct HostUp {
    pub link: String,
}

impl Step for HostUp {
    fn command(&self, _: &GuestNames) -> String {
        format!("ip link set {} up", self.link)
    }

    fn run(&self, t: &mut Target) -> Result<()> {
        let i = t.host_index(&self.link)?;
        t.host_nl.set_up(i, true).with_context(|| format!("setting {} up", self.link))?;
        t.on_undo(format!("set {} down again", self.link), move |t| t.host_nl.set_up(i, false));
        Ok(())
    }
}

/// An earlier run's leftover in the guest, deleted before anything is made:
/// a device still under its temporary name, or one that never came up.
#[derive(Debug)]
pub struct DeleteLeftover {
    pub name: String,
}

impl Step for DeleteLeftover {
    fn command(&self, g: &GuestNames) -> String {
        format!("{} link del {}", g.ip, self.name)
    }

    fn run(&self, t: &mut Target) -> Result<()> {
        if let Some(l) = t.guest_nl.link(&self.name)? {
            eprintln!("pipework: removing {} from the guest, left by an earlier attach that did not finish", self.name);
            t.guest_nl.delete(l.index).with_context(|| format!("deleting leftover {} in the guest", self.name))?;
        }
        Ok(())
    }
}

/// What an earlier attach left in the guest for a kind that makes devices
/// born in the guest: the device under its temporary name, and GUESTIF if it
/// never came up. Deleted before anything is made.
#[derive(Debug, Default)]
pub struct Leftovers(Vec<String>);

impl Leftovers {
    /// Looks for devices of `kinds` named `temp` or `guest_if`; `parent`:
    /// the host index such a device must hang from (a dummy hangs from
    /// nothing).
    pub fn find(p: &Probe, temp: &str, guest_if: &str, kinds: &[LinkKind], parent: Option<u32>) -> Result<Leftovers> {
        let from_here = |l: &Link| parent.is_none() || l.parent == parent;
        let mut found = Vec::new();
        if let Some(l) = p.guest_nl.link(temp)? {
            if l.kind.as_ref().is_some_and(|k| kinds.contains(k)) && from_here(&l) {
                found.push(l.name);
            }
        }
        if let Some(l) = p.half_made(guest_if, kinds)?.filter(|l| from_here(l)) {
            found.push(l.name);
        }
        Ok(Leftovers(found))
    }

    /// Whether the guest interface of this name is one of them.
    pub fn includes(&self, name: &str) -> bool {
        self.0.iter().any(|l| l == name)
    }

    /// The steps that delete them, first in a plan.
    pub fn remove_first(&self, steps: &mut Steps) {
        for name in &self.0 {
            steps.push(Box::new(DeleteLeftover { name: name.clone() }));
        }
    }
}

/// `ip link del NAME` in the guest (`--detach`). For a veth, the host side
/// goes with it.
#[derive(Debug)]
pub struct DeleteInGuest {
    pub name: String,
    pub index: u32,
    /// The veth's host side, named in the printed command.
    pub host_side: Option<String>,
}

impl DeleteInGuest {
    /// The steps for a guest interface of one of `kinds`, which deleting it
    /// removes entirely; None for any other.
    pub fn claim(f: &Found, kinds: &[LinkKind]) -> Option<Steps> {
        let l = f.link;
        let mine = l.kind.as_ref().is_some_and(|k| kinds.contains(k));
        mine.then(|| vec![Box::new(DeleteInGuest { name: l.name.clone(), index: l.index, host_side: None }) as _])
    }
}

impl Step for DeleteInGuest {
    fn command(&self, g: &GuestNames) -> String {
        let and_with_it = self.host_side.as_ref().map(|h| format!("  # and with it {h} in the host"));
        format!("{} link del {}{}", g.ip, self.name, and_with_it.unwrap_or_default())
    }

    fn run(&self, t: &mut Target) -> Result<()> {
        match t.guest_nl.delete(self.index) {
            // Gone meanwhile (its guest died, or another detach ran): done.
            Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(()),
            r => r.with_context(|| format!("deleting {} in guest {}", self.name, t.guest_label)),
        }
    }
}

/// The alias of a host device that is up only because an attach set it up
/// for a device stacked on it (a macvlan's parent): how it was found, so
/// that the undo, or the `--detach` of the last device on it, puts it back
/// down with its qdisc and alias. `pipework-found-down[ noop]:ALIAS`:
/// `noop` when it had never been up (bringing a device up gives it a
/// default qdisc for good), then its own alias.
const FOUND_DOWN: &str = "pipework-found-down";

/// Whether the device had the `noop` qdisc, and its own alias, when its
/// mark says it was found down.
fn found_down(l: &Link) -> Option<(bool, &str)> {
    let rest = l.alias.as_deref()?.strip_prefix(FOUND_DOWN)?;
    let (noop, rest) = match rest.strip_prefix(" noop") {
        Some(r) => (true, r),
        None => (false, rest),
    };
    Some((noop, rest.strip_prefix(':')?))
}

/// Marks a down host device before an attach sets it up. A mark already
/// there (an earlier attach that did not finish) is kept: it says how the
/// device was first found. An alias too long to carry the mark goes
/// unmarked, and then only undo sets the device down again.
pub fn mark_found_down(host_nl: &Netlink, l: &Link) -> Result<()> {
    if l.up || found_down(l).is_some() {
        return Ok(());
    }
    let noop = if l.qdisc.as_deref() == Some("noop") { " noop" } else { "" };
    let mark = format!("{FOUND_DOWN}{noop}:{}", l.alias.as_deref().unwrap_or(""));
    if mark.len() > 255 {
        return Ok(());
    }
    host_nl.set_alias(l.index, &mark).with_context(|| format!("marking {} as found down", l.name))
}

/// Sets a host device down and, when it carries the mark, gives it back
/// the qdisc and alias it was found with.
pub fn down_as_found(host_nl: &Netlink, index: u32) -> Result<()> {
    host_nl.set_up(index, false)?;
    let Some(l) = host_nl.link_by_index(index)? else { return Ok(()) };
    let Some((noop, alias)) = found_down(&l) else { return Ok(()) };
    if noop && l.qdisc.as_deref() != Some("noop") {
        host_nl.qdisc_to_noop(index).with_context(|| format!("giving {} back its noop qdisc", l.name))?;
    }
    host_nl.set_alias(index, alias).with_context(|| format!("giving {} back its alias", l.name))
}

/// The kinds of device that hang from a host device and use it while they
/// live, wherever they are.
const STACKED: [LinkKind; 5] =
    [LinkKind::Macvlan, LinkKind::Macvtap, LinkKind::Ipvlan, LinkKind::Vlan, LinkKind::Ipoib];

/// `--detach` of a device stacked on a host device that an attach set up:
/// when no stacked device is left on it, the host device goes down as it
/// was found.
#[derive(Debug)]
pub struct DownIfLast {
    pub name: String,
    pub index: u32,
}

impl DownIfLast {
    /// The step for the host parent (by index) of a detached guest device,
    /// when that parent carries the mark.
    pub fn claim(host_nl: &Netlink, parent: Option<u32>) -> Result<Option<DownIfLast>> {
        let Some(p) = parent else { return Ok(None) };
        let Some(l) = host_nl.link_by_index(p)? else { return Ok(None) };
        Ok(found_down(&l).map(|_| DownIfLast { name: l.name.clone(), index: l.index }))
    }
}

impl Step for DownIfLast {
    fn command(&self, _: &GuestNames) -> String {
        format!("ip link set {} down  # when nothing else hangs from it: it was found down", self.name)
    }

    fn run(&self, t: &mut Target) -> Result<()> {
        if still_used(t.host_nl, self.index)? {
            return Ok(());
        }
        down_as_found(t.host_nl, self.index).with_context(|| format!("setting {} down as it was found", self.name))
    }
}

/// Whether any stacked device hangs from host device `index`, in the host
/// or in any namespace a process or /run/netns holds. A device elsewhere
/// whose parent merely has the same index in a third namespace counts too:
/// the error leaves a device up, never takes one down under a user.
fn still_used(host_nl: &Netlink, index: u32) -> Result<bool> {
    let hangs = |links: Vec<Link>| {
        links.iter().any(|l| l.parent == Some(index) && l.kind.as_ref().is_some_and(|k| STACKED.contains(k)))
    };
    if hangs(host_nl.links()?) {
        return Ok(true);
    }
    let home = netns::current()?.metadata()?;
    let mut seen = HashSet::from([(home.dev(), home.ino())]);
    let procs = std::fs::read_dir("/proc")?.flatten().map(|e| e.path().join("ns/net"));
    let named = std::fs::read_dir("/run/netns").into_iter().flatten().flatten().map(|e| e.path());
    for path in procs.chain(named) {
        // A process that ended meanwhile, or a namespace we may not open.
        let Ok(f) = std::fs::File::open(&path) else { continue };
        let Ok(m) = f.metadata() else { continue };
        if !seen.insert((m.dev(), m.ino())) {
            continue;
        }
        let Ok(nl) = host_nl.open_in(&f) else { continue };
        if hangs(nl.links().with_context(|| format!("listing the links of {}", path.display()))?) {
            return Ok(true);
        }
    }
    Ok(false)
}
