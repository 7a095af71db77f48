//! Steps on a device that several kinds share: a host parent that comes up
//! last, and a device in the guest that `--detach` deletes.

use anyhow::{Context, Result};

use crate::attach::kinds::kind::Found;
use crate::attach::step::{Step, Steps, Target};
use crate::guest::GuestNames;
use crate::sys::netlink::LinkKind;

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
        t.guest_nl.delete(self.index).with_context(|| format!("deleting {} in guest {}", self.name, t.guest_label))
    }
}
