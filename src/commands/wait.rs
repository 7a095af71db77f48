//! `pipework --wait [-i IF]`, run inside a container: return once IF is
//! ready for use, so an entrypoint can wait for the interface pipework will
//! plumb in. Ready means configured, not merely present (the interface
//! exists under its name before its address): up, with carrier, and with an
//! address other than an IPv6 link-local one. An attach sets the interface
//! up only after its address, and a DHCP lease is the last thing it waits
//! for, so both have arrived by then.

use anyhow::Result;

use crate::request::IfName;
use crate::sys::netlink::Netlink;

pub fn until_configured(name: &IfName) -> Result<()> {
    let nl = Netlink::connect()?;
    // Woken by the kernel's link and address notifications, not a timer.
    nl.wait_until(None, || Ok(configured(&nl, name)?.then_some(())))?;
    Ok(())
}

fn configured(nl: &Netlink, name: &IfName) -> Result<bool> {
    let Some(l) = nl.link(name.as_str())? else { return Ok(false) };
    if !(l.up && l.running) {
        return Ok(false);
    }
    Ok(!nl.assigned_addresses(l.index)?.is_empty())
}
