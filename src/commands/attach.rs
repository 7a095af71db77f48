//! `pipework HOSTIF [-i …] GUEST ADDRESS [MAC][@VLAN]`: one attach, through
//! the whole pipeline.

use anyhow::{Context, Result};

use crate::attach::check::{self, State};
use crate::attach::facts::Ready;
use crate::attach::step::{Step, Target};
use crate::attach::{apply, facts, plan, replace};
use crate::commands::detach;
use crate::guest::{self, Guest};
use crate::request::{AddressSpec, Attach};
use crate::sys::arp::Announcer;
use crate::sys::netlink::Netlink;
use crate::sys::ovsdb::vswitch::Vswitch;

pub fn run(req: &Attach, dry_run: bool) -> Result<()> {
    let guest = guest::resolve(&req.guest)?;
    let host_nl = Netlink::connect()?;
    let guest_nl = host_nl.open_in(&guest.netns).context("opening netlink inside the guest")?;
    let vswitch = Vswitch::find(req.ovs.db.as_deref());
    if req.replace {
        if let (State::Differs(_), guest_if) = check::check(req, &host_nl, &guest_nl, &guest.netns, vswitch.as_ref())? {
            return again(req, &guest, &guest_if, &host_nl, &guest_nl, vswitch.as_ref(), dry_run);
        }
    }
    onto(req, &guest, &host_nl, &guest_nl, vswitch.as_ref(), dry_run)
}

/// `--replace`: the old interface set aside, the attach made, then the old
/// one deleted; one undo log, so a failure anywhere puts the old one back
/// (an Open vSwitch port too, on its bridge with its tag and ids). A device
/// moved in whole that a new `--direct-phys` replaces cannot stand aside:
/// it is detached first, and a failure then leaves GUESTIF absent.
fn again(
    req: &Attach,
    guest: &Guest,
    guest_if: &str,
    host_nl: &Netlink,
    guest_nl: &Netlink,
    vswitch: Option<&Vswitch>,
    dry_run: bool,
) -> Result<()> {
    let link = guest_nl.link(guest_if)?.with_context(|| format!("{guest_if} vanished from the guest"))?;
    let Some(park) = replace::park(&link, host_nl, vswitch, guest_nl, req.direct_phys)? else {
        let steps = detach::steps(guest, guest_if, host_nl, guest_nl, vswitch)?;
        if dry_run {
            for s in &steps {
                println!("{}", s.command(&guest.names()));
            }
            println!("# then: the attach as asked, planned once {guest_if} is gone");
            return Ok(());
        }
        eprintln!("pipework: --replace: {guest_if} cannot be set aside (a device moved in that --direct-phys replaces): detaching it first");
        detach::run_steps(&steps, guest, host_nl, guest_nl, vswitch)?;
        return onto(req, guest, host_nl, guest_nl, vswitch, false);
    };
    let parked = park.parked();
    if dry_run {
        println!("{}", park.command(&guest.names()));
        println!("# then: the attach as asked, and {} deleted once it stands", parked.guest_name);
        return Ok(());
    }
    // The old DHCP client serves the old interface only; it is not restarted.
    detach::stop_dhcp_clients_of(guest, guest_if)?;
    let arp = Announcer::new();
    let mut target = Target::new(host_nl, guest_nl, &guest.netns, guest.label(), vswitch, &arp);
    let steps: Vec<Box<dyn Step>> = vec![Box::new(park)];
    apply::run_with_undo(&steps, &mut target, "--replace")?;
    let plan = match facts::gather(req, guest, host_nl, guest_nl, vswitch) {
        Ok(f) => plan::plan(req, &f),
        Err(e) => {
            target.roll_back();
            return Err(e.context("--replace failed; the old interface was put back"));
        }
    };
    apply::run_with_undo(&plan.steps, &mut target, "--replace")
        .map_err(|e| e.context("the old interface was put back"))?;
    let keep: Vec<_> = match &req.address {
        AddressSpec::Static { addrs } => addrs.iter().map(|a| a.addr.addr()).collect(),
        _ => Vec::new(),
    };
    let remove = replace::remove_parked(&parked, guest_nl, host_nl, vswitch, &keep)?;
    if let Err(e) = detach::run_steps(&remove, guest, host_nl, guest_nl, vswitch) {
        eprintln!(
            "pipework: warning: the old {guest_if}, set aside as {}, could not be deleted: {e:#}",
            parked.guest_name
        );
    }
    Ok(())
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
    let facts = match facts::unless_as_asked(req, guest, host_nl, guest_nl, vswitch)? {
        Ready::AsAsked(said) => {
            eprintln!("pipework: {said}");
            return Ok(());
        }
        Ready::Facts(f) => f,
    };
    let plan = plan::plan(req, &facts);
    if dry_run {
        plan.print(&guest.names());
        return Ok(());
    }
    let arp = Announcer::new();
    let mut target = Target::new(host_nl, guest_nl, &guest.netns, guest.label(), vswitch, &arp);
    apply::apply(&plan, &mut target)
}
