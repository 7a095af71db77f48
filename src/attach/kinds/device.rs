//! Steps on a device that several kinds share: a host parent that comes up
//! last, an earlier run's leftover in the guest, and a device in the guest
//! that `--detach` deletes.

use anyhow::{Context, Result};

use crate::attach::kinds::kind::{Found, Probe};
use crate::attach::step::{Step, Steps, Target};
use crate::guest::GuestNames;
use crate::sys::netlink::{errno, Link, LinkKind};

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
