//! `pipework [--detach] [--dry-run] tunnel BRIDGE TYPE[:KEY][@VLAN][,…]
//! PEER… [@VLAN]`, and `pipework tunnel [BRIDGE]` to list: an overlay's
//! tunnels, through facts → plan → apply with undo (`overlay/`).

use anyhow::Result;

use crate::attach::apply;
use crate::attach::plan::Plan;
use crate::attach::step::Target;
use crate::guest::GuestNames;
use crate::overlay;
use crate::request::Tunnel;
use crate::sys::arp::Announcer;
use crate::sys::netlink::Netlink;
use crate::sys::netns;
use crate::sys::ovsdb::vswitch::Vswitch;

pub fn run(t: &Tunnel, dry_run: bool) -> Result<()> {
    let nl = Netlink::connect()?;
    let vswitch = Vswitch::find(t.ovs_db.as_deref());
    let (steps, too_big, mtu) = if t.detach {
        (overlay::detach(t, &nl, vswitch.as_ref())?, Vec::new(), 0)
    } else {
        let facts = overlay::gather(t, &nl, vswitch.as_ref())?;
        (overlay::plan(t, &facts), facts.too_big, facts.mtu)
    };
    let plan = Plan { steps };
    // Tunnels live in the host: no guest, so the host stands on both sides.
    let names = GuestNames::path("-");
    if dry_run {
        plan.print(&names);
        return Ok(());
    }
    let here = netns::current()?;
    let arp = Announcer::new();
    let mut target = Target::new(&nl, &nl, &here, t.bridge.as_str(), vswitch.as_ref(), &arp);
    apply::apply(&plan, &mut target)?;
    for (port, port_mtu) in too_big {
        eprintln!(
            "pipework: warning: {port} on {} has MTU {port_mtu}, above the overlay's {mtu}: big packets to or from \
             it will be lost; detach and attach its guest again to give it {mtu}",
            t.bridge
        );
    }
    Ok(())
}

pub fn list(bridge: Option<&crate::request::IfName>, ovs_db: Option<&str>) -> Result<()> {
    let nl = Netlink::connect()?;
    let vswitch = Vswitch::find(ovs_db);
    for line in overlay::list(bridge.map(|b| b.as_str()), &nl, vswitch.as_ref())? {
        println!("{line}");
    }
    Ok(())
}
