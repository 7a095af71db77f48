//! DHCP: the guest's address from a server, by one of the reference's client
//! programs (`clients`) or by our own client (`builtin`).
//!
//! Whatever the method, success means the interface holds an IPv4 address
//! when the client is done, within the time allowed; anything else stops the
//! client and fails the step, and the attach is undone.

use std::fs::File;
use std::time::Instant;

use anyhow::{bail, Result};

use crate::request::DhcpMethod;
use crate::sys::netlink::Netlink;
use crate::sys::signals;

pub mod builtin;
mod clients;
mod spec;

pub use clients::stop_background_client;
pub use spec::{package_of, DhcpSpec};

/// Obtain and apply a lease on `link` (index `index` in the guest).
pub fn obtain(spec: &DhcpSpec, guest_ns: &File, guest: &Netlink, index: u32) -> Result<()> {
    match spec.method {
        DhcpMethod::Builtin { renew } => builtin::obtain(spec, guest_ns, renew)?,
        _ => clients::run(spec, guest_ns)?,
    }
    // A link-local 169.254/16 address is what dhcpcd falls back to without
    // a server: not a lease.
    let leased = || -> Result<bool> { Ok(guest.ipv4_addresses(index)?.iter().any(|a| !a.addr().is_link_local())) };
    if spec.detached() {
        // The client was started and left running; the lease comes later.
        // Woken by the kernel's address notifications: the lease counts
        // the moment the client puts the address on.
        let deadline = Instant::now() + spec.timeout;
        // A signal ends the wait as a missing lease does.
        let got = guest.wait_until(Some(deadline), || {
            if signals::check().is_err() {
                return Ok(Some(false));
            }
            Ok(leased()?.then_some(true))
        })?;
        if got != Some(true) {
            clients::remove_helper_container(spec);
            signals::check()?;
            bail!(
                "no DHCP lease on {} within {} s ({} kept running in a container, got no answer); is a DHCP \
                 server on that network? (--dhcp-timeout changes the limit)",
                spec.link,
                spec.timeout.as_secs(),
                spec.method.keyword()
            );
        }
        return Ok(());
    }
    if !leased()? {
        stop_background_client(spec, guest_ns);
        bail!("the DHCP client ({}) finished, but {} has no IPv4 address: no lease", spec.method.keyword(), spec.link);
    }
    Ok(())
}
