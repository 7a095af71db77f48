//! A Linux bridge: HOSTIF is one, or a missing `br*` name is made into one.
//! The guest gets a veth pair whose host side joins the bridge.

use anyhow::{anyhow, bail, Context, Result};

use crate::attach::kinds::device::DeleteInGuest;
use crate::attach::kinds::kind::{Ctx, Entry, Found, Kind, Probe};
use crate::attach::kinds::veth::{self, HostSide};
use crate::attach::step::{Step, Steps, Target};
use crate::guest::GuestNames;
use crate::sys::netlink::{errno, LinkKind};

pub const ENTRY: Entry = Entry { recognise, detach };

/// MTU of a freshly created Linux bridge with no ports.
const NEW_BRIDGE_MTU: u32 = 1500;

#[derive(Debug)]
struct LinuxBridge {
    name: String,
    /// None: the bridge is to be created.
    index: Option<u32>,
    up: bool,
    mtu: u32,
    host_side: HostSide,
}

fn recognise(p: &Probe) -> Result<Option<Box<dyn Kind>>> {
    let (index, up, mtu) = match &p.link {
        Some(l) if l.kind == Some(LinkKind::Bridge) => (Some(l.index), l.up, l.mtu),
        None if p.name.starts_with("br") => (None, false, NEW_BRIDGE_MTU),
        _ => return Ok(None),
    };
    if let Some(tag) = &p.req.tag {
        tag.vlan_id()?;
        bail!(
            "VLAN configuration is unsupported for a Linux bridge ({}); drop the @VLAN, or use an Open vSwitch bridge",
            p.name
        );
    }
    let host_side = HostSide::check(p)?;
    Ok(Some(Box::new(LinuxBridge { name: p.name.clone(), index, up, mtu, host_side })))
}

impl Kind for LinuxBridge {
    fn host_name(&self) -> &str {
        &self.name
    }

    fn has_host_side(&self) -> bool {
        true
    }

    fn bring_in(&self, ctx: &Ctx, steps: &mut Steps) -> String {
        if self.index.is_none() {
            steps.push(Box::new(CreateBridge { name: self.name.clone() }));
        }
        self.host_side.make(ctx.guest_if, self.mtu, ctx.req.mac, steps);
        steps.push(Box::new(Enslave {
            link: self.host_side.name.clone(),
            bridge: self.name.clone(),
            index: self.index,
        }));
        ctx.guest_if.to_string()
    }

    /// A bridge that is down never makes its ports forward: no use waiting
    /// for that.
    fn bridge_port(&self, _: &Ctx) -> Option<String> {
        (self.up || self.index.is_none()).then(|| self.host_side.name.clone())
    }
}

/// `ip link add BR type bridge; ip link set BR up`. Undo removes it unless
/// someone else's port joined it meanwhile.
#[derive(Debug)]
struct CreateBridge {
    name: String,
}

impl Step for CreateBridge {
    fn command(&self, _: &GuestNames) -> String {
        format!("ip link add {0} type bridge && ip link set {0} up", self.name)
    }

    fn run(&self, t: &mut Target) -> Result<()> {
        let name = &self.name;
        match t.host_nl.add_bridge(name) {
            Ok(()) => {
                let i = t.host_index(name)?;
                t.on_undo(format!("delete the bridge {name} this run created"), move |t| {
                    if t.host_nl.ports_of(i)?.is_empty() {
                        t.host_nl.delete(i)?;
                    }
                    Ok(())
                });
            }
            // Another run created it between our look and now: use theirs.
            Err(e) if errno(&e) == Some(libc::EEXIST) => {
                let l = t.host_nl.link(name)?.context("bridge vanished right after it was created")?;
                if l.kind != Some(LinkKind::Bridge) {
                    return Err(anyhow!("{name} appeared meanwhile, and it is not a bridge"));
                }
                if !l.up {
                    t.host_nl.set_up(l.index, true)?;
                }
            }
            Err(e) => return Err(e.context(format!("creating bridge {name}"))),
        }
        Ok(())
    }
}

/// `ip link set LINK master BR up`: the host side joins the bridge.
#[derive(Debug)]
struct Enslave {
    link: String,
    bridge: String,
    /// The bridge's index when it existed before this run.
    index: Option<u32>,
}

impl Step for Enslave {
    fn command(&self, _: &GuestNames) -> String {
        format!("ip link set {} master {} up", self.link, self.bridge)
    }

    fn run(&self, t: &mut Target) -> Result<()> {
        if let Some(i) = self.index {
            t.know_host_index(&self.bridge, i);
        }
        let l = t.host_index(&self.link)?;
        let b = t.host_index(&self.bridge)?;
        t.host_nl.set_controller_up(l, b).with_context(|| format!("adding {} to bridge {}", self.link, self.bridge))
    }
}

/// A veth whose host side is a Linux bridge port, or any veth when Open
/// vSwitch is not installed: deleting the guest end deletes both.
fn detach(f: &Found) -> Result<Option<Steps>> {
    if f.link.kind != Some(LinkKind::Veth) {
        return Ok(None);
    }
    let peer = veth::host_peer(f)?;
    if let (Some(p), Some(_)) = (&peer, f.vsctl) {
        // Anything but a Linux bridge port may be an OVS port (userspace
        // datapath ports show no controller at all): Open vSwitch's to take.
        if !veth::on_linux_bridge(p, f.host_nl)? {
            return Ok(None);
        }
    }
    let host_side = peer.map(|p| p.name);
    Ok(Some(vec![Box::new(DeleteInGuest { name: f.link.name.clone(), index: f.link.index, host_side })]))
}

/// `br1`, existing or to create, with the host side `veth1pl4242` free or
/// taken by a down leftover.
#[cfg(test)]
pub fn example(exists: bool, stale: bool) -> Box<dyn Kind> {
    let host_side = HostSide { name: "veth1pl4242".into(), stale };
    let index = exists.then_some(7);
    Box::new(LinuxBridge { name: "br1".into(), index, up: exists, mtu: 1500, host_side })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attach::kinds::kind::testing::{guest, kind_commands, request};

    #[test]
    fn new_bridge_and_stale_host_side() {
        let (c, _) = kind_commands(&*example(false, true), &request("10.0.0.2/24"), &guest());
        assert_eq!(c[0], "ip link add br1 type bridge && ip link set br1 up");
        assert_eq!(c[1], "ip link del veth1pl4242");
    }
}
