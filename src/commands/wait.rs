//! `pipework --wait [-i IF]`, run inside a container: return once IF exists,
//! so an entrypoint can wait for the interface pipework will plumb in.

use std::time::Duration;

use anyhow::Result;

use crate::netlink::Netlink;
use crate::request::IfName;

pub async fn until_present(name: &IfName) -> Result<()> {
    let nl = Netlink::connect()?;
    while nl.link(name.as_str()).await?.is_none() {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}
