//! `pipework HOSTIF [-i …] GUEST ADDRESS [MAC][@VLAN]`: one attach, through
//! the whole pipeline.

use anyhow::{Context, Result};

use crate::attach::step::Target;
use crate::attach::{apply, facts, plan};
use crate::guest::{self, Guest};
use crate::request::Attach;
use crate::sys::arp::Announcer;
use crate::sys::netlink::Netlink;
use crate::sys::vsctl::Vsctl;

pub fn run(req: &Attach, dry_run: bool) -> Result<()> {
    let guest = guest::resolve(&req.guest)?;
    let host_nl = Netlink::connect()?;
    let guest_nl = host_nl.open_in(&guest.netns).context("opening netlink inside the guest")?;
    let vsctl = Vsctl::find(req.ovs.db.as_deref());
    onto(req, &guest, &host_nl, &guest_nl, vsctl.as_ref(), dry_run)
}

/// The attach, to a guest already found, over connections already open.
pub fn onto(
    req: &Attach,
    guest: &Guest,
    host_nl: &Netlink,
    guest_nl: &Netlink,
    vsctl: Option<&Vsctl>,
    dry_run: bool,
) -> Result<()> {
    let facts = facts::gather(req, guest, host_nl, guest_nl, vsctl)?;
    let plan = plan::plan(req, &facts);
    if dry_run {
        plan.print(&guest.names());
        return Ok(());
    }
    let arp = Announcer::new();
    let mut target = Target::new(host_nl, guest_nl, &guest.netns, guest.label(), vsctl, &arp);
    apply::apply(&plan, &mut target)
}
