//! `pipework --wait [-i IF]`, run inside a container: return once IF exists,
//! so an entrypoint can wait for the interface pipework will plumb in.

use std::time::Duration;

use anyhow::Result;

use crate::request::IfName;
use crate::sys::netlink::Netlink;

pub fn until_present(name: &IfName) -> Result<()> {
    let nl = Netlink::connect()?;
    while nl.link(name.as_str())?.is_none() {
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(())
}
