//! `pipework HOSTIF [-i …] GUEST ADDRESS [MAC][@VLAN]`: one attach, through
//! the whole pipeline.

use anyhow::{Context, Result};

use crate::attach::check::{self, State};
use crate::attach::step::Target;
use crate::attach::{apply, facts, plan};
use crate::guest::{self, Guest};
use crate::request::{Attach, HostIfRef};
use crate::sys::arp::Announcer;
use crate::sys::netlink::Netlink;
use crate::sys::ovsdb::vswitch::Vswitch;

pub fn run(req: &Attach, dry_run: bool) -> Result<()> {
    let guest = guest::resolve(&req.guest)?;
    let host_nl = Netlink::connect()?;
    let guest_nl = host_nl.open_in(&guest.netns).context("opening netlink inside the guest")?;
    let vswitch = Vswitch::find(req.ovs.db.as_deref());
    onto(req, &guest, &host_nl, &guest_nl, vswitch.as_ref(), dry_run)
}

/// The attach, to a guest already found, over connections already open.
pub fn onto(
    req: &Attach,
    guest: &Guest,
    host_nl: &Netlink,
    guest_nl: &Netlink,
    vswitch: Option<&Vswitch>,
    dry_run: bool,
) -> Result<()> {
    // The same OVN line again: the port is bound as asked, nothing to do
    // (for other kinds, the facts refuse an interface that is there).
    if matches!(req.host_if, HostIfRef::Ovn(_)) {
        if let (State::AsAsked, guest_if) = check::check(req, host_nl, guest_nl, vswitch)? {
            eprintln!(
                "pipework: {guest_if} of {} is already on {} as asked; nothing to do",
                guest.label(),
                req.host_if
            );
            return Ok(());
        }
    }
    let facts = facts::gather(req, guest, host_nl, guest_nl, vswitch)?;
    let plan = plan::plan(req, &facts);
    if dry_run {
        plan.print(&guest.names());
        return Ok(());
    }
    let arp = Announcer::new();
    let mut target = Target::new(host_nl, guest_nl, &guest.netns, guest.label(), vswitch, &arp);
    apply::apply(&plan, &mut target)
}
