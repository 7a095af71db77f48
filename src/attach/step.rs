//! One step of a plan, and what steps act on. Every kind of host interface
//! and every guest-side setting speaks this one language: a step prints as
//! the command it stands for (`--dry-run`), and runs against a `Target`,
//! where it records how to take back what it made.

use std::collections::HashMap;
use std::fmt;
use std::fs::File;

use anyhow::{Context, Result};

use crate::guest::GuestNames;
use crate::sys::arp::Announcer;
use crate::sys::netlink::Netlink;
use crate::sys::ovsdb::vswitch::Vswitch;

/// Steps in the order they run.
pub type Steps = Vec<Box<dyn Step>>;

pub trait Step: fmt::Debug {
    /// The equivalent command line (iproute2, ovs-vsctl, a DHCP client), as
    /// `--dry-run` prints it.
    fn command(&self, names: &GuestNames) -> String;

    /// Carries the step out. Whatever it creates or changes, it registers
    /// with `Target::on_undo` as soon as the change exists.
    fn run(&self, t: &mut Target) -> Result<()>;
}

/// What steps act on: a netlink connection in the host and one inside the
/// guest, the guest's namespace, Open vSwitch's database, the ARP announcer; plus the
/// interface indexes learned so far and the undo log of this run.
pub struct Target<'a> {
    pub host_nl: &'a Netlink,
    pub guest_nl: &'a Netlink,
    pub guest_ns: &'a File,
    /// How the guest is called in messages.
    pub guest_label: &'a str,
    /// None when no ovsdb-server socket is there (then no plan has OVS steps).
    pub vswitch: Option<&'a Vswitch>,
    pub arp: &'a Announcer,
    host_ix: HashMap<String, u32>,
    guest_ix: HashMap<String, u32>,
    undo: Vec<Undo>,
}

/// How to take one change back, and how to say so when that fails.
struct Undo {
    what: String,
    action: UndoAction,
}

type UndoAction = Box<dyn FnOnce(&Target) -> Result<()>>;

impl<'a> Target<'a> {
    pub fn new(
        host_nl: &'a Netlink,
        guest_nl: &'a Netlink,
        guest_ns: &'a File,
        guest_label: &'a str,
        vswitch: Option<&'a Vswitch>,
        arp: &'a Announcer,
    ) -> Target<'a> {
        Target {
            host_nl,
            guest_nl,
            guest_ns,
            guest_label,
            vswitch,
            arp,
            host_ix: HashMap::new(),
            guest_ix: HashMap::new(),
            undo: Vec::new(),
        }
    }

    /// A host interface index already known (read by the facts), so that
    /// no step asks the kernel for it again.
    pub fn know_host_index(&mut self, name: &str, index: u32) {
        self.host_ix.insert(name.to_string(), index);
    }

    /// The index of a host interface, one netlink round trip per name and
    /// run. Indexes never change; names change only through our own renames.
    pub fn host_index(&mut self, name: &str) -> Result<u32> {
        lookup(&mut self.host_ix, self.host_nl, name, "host")
    }

    /// The index of a guest interface, as `host_index`.
    pub fn guest_index(&mut self, name: &str) -> Result<u32> {
        lookup(&mut self.guest_ix, self.guest_nl, name, "guest")
    }

    /// Our own rename of a host interface: the index stays, the name moves.
    pub fn renamed_in_host(&mut self, from: &str, to: &str, index: u32) {
        self.host_ix.remove(from);
        self.host_ix.insert(to.to_string(), index);
    }

    /// Our own rename of a guest interface: the index stays, the name moves.
    pub fn renamed_in_guest(&mut self, from: &str, to: &str, index: u32) {
        self.guest_ix.remove(from);
        self.guest_ix.insert(to.to_string(), index);
    }

    /// Registers how to take back a change that now exists; `what` says in
    /// words what a user must finish by hand if the undo itself fails.
    pub fn on_undo(&mut self, what: impl Into<String>, action: impl FnOnce(&Target) -> Result<()> + 'static) {
        self.undo.push(Undo { what: what.into(), action: Box::new(action) });
    }

    /// A device this step made in the host: undone by deleting it (by
    /// index, so a rename does not lose it).
    pub fn made_in_host(&mut self, name: &str) -> Result<u32> {
        let i = self.host_index(name)?;
        self.on_undo(format!("delete host interface {name}"), move |t| t.host_nl.delete(i));
        Ok(i)
    }

    /// A device this step made in the guest, as `made_in_host`.
    pub fn made_in_guest(&mut self, name: &str) -> Result<u32> {
        let i = self.guest_index(name)?;
        self.on_undo(format!("delete guest interface {name}"), move |t| t.guest_nl.delete(i));
        Ok(i)
    }

    /// Whether anything would be undone.
    pub fn made_something(&self) -> bool {
        !self.undo.is_empty()
    }

    /// Takes back every registered change, newest first. An undo that fails
    /// is reported and the others still run.
    pub fn roll_back(&mut self) {
        let undo = std::mem::take(&mut self.undo);
        for u in undo.into_iter().rev() {
            if let Err(e) = (u.action)(self) {
                eprintln!("pipework: could not undo: {}: {e:#}", u.what);
            }
        }
    }
}

fn lookup(map: &mut HashMap<String, u32>, nl: &Netlink, name: &str, place: &str) -> Result<u32> {
    if let Some(i) = map.get(name) {
        return Ok(*i);
    }
    let i = nl.link(name)?.with_context(|| format!("interface {name} vanished from the {place}"))?.index;
    map.insert(name.to_string(), i);
    Ok(i)
}
