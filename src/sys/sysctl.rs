//! The door to sysctls of a network namespace: `/proc/sys/net`, which shows
//! the namespace of whoever opens it.

use std::fs::File;

use anyhow::{Context, Result};

use crate::sys::netns;

/// `sysctl -w KEY=VALUE` inside `ns`; returns the value it had. KEY uses
/// dots (`net.ipv6.conf.eth1.accept_ra`) or slashes (for interface names
/// with dots, as sysctl(8) allows).
pub fn set_in(ns: &File, key: &str, value: &str) -> Result<String> {
    let path =
        if key.contains('/') { format!("/proc/sys/{key}") } else { format!("/proc/sys/{}", key.replace('.', "/")) };
    let _inside = netns::enter(ns)?;
    let old =
        std::fs::read_to_string(&path).with_context(|| format!("reading {key} in the guest (no such sysctl?)"))?;
    std::fs::write(&path, value).with_context(|| format!("setting {key}={value} in the guest"))?;
    Ok(old.trim().to_string())
}

/// `sysctl -w KEY=VALUE` in our own namespace (the host's). A missing key
/// is an `io::Error` of kind `NotFound`, for callers to whom it means "not
/// here" rather than a failure.
pub fn set_here(key: &str, value: &str) -> Result<()> {
    std::fs::write(path_of(key), value).map_err(anyhow::Error::new)?;
    Ok(())
}

/// `sysctl -n KEY` inside `ns`.
pub fn get_in(ns: &File, key: &str) -> Result<String> {
    let path = path_of(key);
    let _inside = netns::enter(ns)?;
    Ok(std::fs::read_to_string(&path).with_context(|| format!("reading {key} in the guest"))?.trim().to_string())
}

fn path_of(key: &str) -> String {
    if key.contains('/') {
        format!("/proc/sys/{key}")
    } else {
        format!("/proc/sys/{}", key.replace('.', "/"))
    }
}
