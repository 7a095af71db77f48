//! Any other existing interface is a macvlan parent: the guest gets a
//! bridge-mode macvlan on it, born in the guest. With `@VLAN`, the macvlan
//! sits on the 802.1Q device `PARENT.VLAN`, made (or reused) here. A parent
//! that was down comes up last.

use anyhow::{bail, Context, Result};
use macaddr::MacAddr6;

use crate::attach::kinds::device::{self, DeleteInGuest, DownIfLast, HostUp, Leftovers};
use crate::attach::kinds::kind::{no_host_leftovers, Ctx, Entry, Found, Kind, Makes, Probe};
use crate::attach::names;
use crate::attach::step::{Step, Steps, Target};
use crate::guest::GuestNames;
use crate::request::{format_mac, MacvlanMode, IFNAMSIZ_MAX};
use crate::sys::netlink::{Link, LinkKind, Netlink};

pub const ENTRY: Entry = Entry { recognise, detach, host_leftovers: no_host_leftovers };

#[derive(Debug)]
struct Macvlan {
    mode: MacvlanMode,
    parent: String,
    index: u32,
    mtu: u32,
    up: bool,
    vlan: Option<VlanDev>,
    /// Guest devices an earlier run left half-made, deleted first.
    leftovers: Leftovers,
}

/// `PARENT.VLAN`, the 802.1Q device the macvlan sits on.
#[derive(Debug, Clone)]
struct VlanDev {
    name: String,
    id: u16,
    /// It is already there (and right): reused, never deleted.
    exists: bool,
    up: bool,
}

fn recognise(p: &Probe) -> Result<Option<Box<dyn Kind>>> {
    let Some(parent) = &p.link else { return Ok(None) };
    let vlan = match &p.req.tag {
        Some(tag) => Some(vlan_device(p.host_nl, parent, tag.vlan_id()?)?),
        None => None,
    };
    // The macvlan hangs from the 802.1Q device when there is one (a new one
    // has no index yet, and no leftover can hang from it).
    let hangs_from = match &vlan {
        Some(v) if v.exists => p.host_nl.link(&v.name)?.map(|l| l.index),
        Some(_) => None,
        None => Some(parent.index),
    };
    let leftovers = match hangs_from {
        Some(i) => {
            let temp = names::macvlan(p.guest.nspid, p.guest_if());
            let stacked = [LinkKind::Macvlan];
            Leftovers::find(p, &temp, p.guest_if(), &stacked, Some(i))?
        }
        None => Leftovers::default(),
    };
    let (name, index, mtu, up) = (parent.name.clone(), parent.index, parent.mtu, parent.up);
    let mode = p.req.macvlan_mode.unwrap_or(MacvlanMode::Bridge);
    Ok(Some(Box::new(Macvlan { mode, parent: name, index, mtu, up, vlan, leftovers })))
}

/// `PARENT.VLAN` is reused when it is exactly that (the reference meant to
/// check this, but tested a wrong path), refused when the name is taken by
/// anything else.
fn vlan_device(host_nl: &Netlink, parent: &Link, id: u16) -> Result<VlanDev> {
    let name = format!("{}.{id}", parent.name);
    if name.len() > IFNAMSIZ_MAX {
        bail!(
            "the VLAN device name {name} is longer than Linux's 15 bytes; rename {} or use a shorter VLAN",
            parent.name
        );
    }
    match host_nl.link(&name)? {
        None => Ok(VlanDev { name, id, exists: false, up: false }),
        Some(l) if l.kind == Some(LinkKind::Vlan) && l.vlan_id == Some(id) && l.parent == Some(parent.index) => {
            Ok(VlanDev { name, id, exists: true, up: l.up })
        }
        Some(l) => {
            let what = match (&l.kind, l.vlan_id) {
                (Some(LinkKind::Vlan), Some(other)) => {
                    let elsewhere = if l.parent != Some(parent.index) { " of another parent" } else { "" };
                    format!("VLAN {other}{elsewhere}")
                }
                (Some(k), _) => format!("a {k} device"),
                (None, _) => "a device of unknown kind".into(),
            };
            bail!(
                "{name} exists but is not the 802.1Q device for VLAN {id} on {} (it is {what}); delete or rename \
                 it, or use another VLAN",
                parent.name
            )
        }
    }
}

impl Kind for Macvlan {
    fn host_name(&self) -> &str {
        &self.parent
    }

    fn makes(&self) -> Makes {
        Makes::Macvlan
    }

    fn clears(&self, guest_if: &str) -> bool {
        self.leftovers.includes(guest_if)
    }

    fn bring_in(&self, ctx: &Ctx, steps: &mut Steps) -> String {
        self.leftovers.remove_first(steps);
        let (mut parent, mut index) = (self.parent.clone(), Some(self.index));
        if let Some(v) = &self.vlan {
            if !v.exists {
                let create = CreateVlan { name: v.name.clone(), parent, index: self.index, id: v.id, mtu: self.mtu };
                steps.push(Box::new(create));
            }
            (parent, index) = (v.name.clone(), None);
        }
        let temp = names::macvlan(ctx.guest.nspid, ctx.guest_if);
        let (mtu, mac, mode) = (self.mtu, ctx.req.mac, self.mode);
        // A parent that is down comes up last (below); the macvlan's own
        // creation registers its going down again, so that undo deletes the
        // macvlan while the parent is still up.
        let parent_down = (!self.up).then_some(self.index);
        steps.push(Box::new(CreateMacvlan { name: temp.clone(), parent, index, mtu, mac, mode, parent_down }));
        temp
    }

    /// A down parent comes up last: bringing a link up has effects that
    /// cannot be taken back (qdisc, the peer's IPv6 link-local), so no step
    /// that can still fail comes after it, but DHCP, whose packets leave
    /// through the parent.
    fn finish(&self, _: &Ctx, steps: &mut Steps) {
        if !self.up {
            steps.push(Box::new(ParentUp { link: self.parent.clone() }));
        }
        if let Some(v) = self.vlan.as_ref().filter(|v| !v.up) {
            steps.push(Box::new(HostUp { link: v.name.clone() }));
        }
    }
}

/// `PARENT.VLAN` in the host, with the parent's MTU. Undo deletes it.
#[derive(Debug)]
struct CreateVlan {
    name: String,
    parent: String,
    index: u32,
    id: u16,
    mtu: u32,
}

impl Step for CreateVlan {
    fn command(&self, _: &GuestNames) -> String {
        format!("ip link add link {} name {} mtu {} type vlan id {}", self.parent, self.name, self.mtu, self.id)
    }

    fn run(&self, t: &mut Target) -> Result<()> {
        let (name, id) = (&self.name, self.id);
        t.host_nl
            .add_vlan(name, self.index, id, self.mtu)
            .with_context(|| format!("creating 802.1Q device {name} (VLAN {id} on {})", self.parent))?;
        t.made_in_host(name)?;
        Ok(())
    }
}

/// The macvlan, born in the guest under a temporary name (a macvlan made
/// with a target namespace is checked against names in the host first).
#[derive(Debug)]
struct CreateMacvlan {
    name: String,
    parent: String,
    /// The parent's index, when it existed before this run.
    index: Option<u32>,
    mtu: u32,
    mac: Option<MacAddr6>,
    mode: MacvlanMode,
    /// The host NIC (by index) is down, and `ParentUp` brings it up at the
    /// end; the macvlan may hang from it or from its 802.1Q device.
    parent_down: Option<u32>,
}

impl Step for CreateMacvlan {
    fn command(&self, g: &GuestNames) -> String {
        let mac = self.mac.map(|m| format!(" address {}", format_mac(&m))).unwrap_or_default();
        format!(
            "ip link add link {} name {} mtu {}{mac} netns {} type macvlan mode {}",
            self.parent,
            self.name,
            self.mtu,
            g.netns,
            self.mode.as_str()
        )
    }

    fn run(&self, t: &mut Target) -> Result<()> {
        let p = match self.index {
            Some(i) => i,
            None => t.host_index(&self.parent)?,
        };
        if let Some(nic) = self.parent_down {
            // Marked before the macvlan exists, so that a `--detach` after
            // a killed run still finds how the NIC was found.
            if let Some(l) = t.host_nl.link_by_index(nic)? {
                device::mark_found_down(t.host_nl, &l)?;
            }
            // Undone after the macvlan is gone: a parent set down first
            // would keep the promiscuity the macvlan's address gave it (the
            // kernel syncs address filters of up devices only).
            t.on_undo(format!("set the NIC under {} down again, as found", self.parent), move |t| {
                device::down_as_found(t.host_nl, nic)
            });
        }
        t.host_nl
            .add_macvlan(&self.name, p, self.mtu, t.guest_ns, self.mac, self.mode.as_str())
            .with_context(|| format!("creating macvlan {} on {} in guest {}", self.name, self.parent, t.guest_label))?;
        t.made_in_guest(&self.name)?;
        Ok(())
    }
}

/// `ip link set PARENT up` for a parent that was down; how to take it back
/// was registered when the macvlan was made.
#[derive(Debug)]
struct ParentUp {
    link: String,
}

impl Step for ParentUp {
    fn command(&self, _: &GuestNames) -> String {
        format!("ip link set {} up", self.link)
    }

    fn run(&self, t: &mut Target) -> Result<()> {
        let i = t.host_index(&self.link)?;
        t.host_nl.set_up(i, true).with_context(|| format!("setting {} up", self.link))
    }
}

/// Devices stacked on a host NIC: deleted in the guest; then the NIC goes
/// down as it was found, if an attach set it up and nothing else hangs
/// from it now.
fn detach(f: &Found) -> Result<Option<Steps>> {
    let Some(mut steps) = DeleteInGuest::claim(f, &[LinkKind::Macvlan, LinkKind::Macvtap, LinkKind::Vlan]) else {
        return Ok(None);
    };
    if let Some(down) = DownIfLast::claim(f.host_nl, f.link.parent)? {
        steps.push(Box::new(down));
    }
    Ok(Some(steps))
}

/// `eth2`, down, MTU 1500.
#[cfg(test)]
pub fn example() -> Box<dyn Kind> {
    Box::new(Macvlan {
        mode: MacvlanMode::Bridge,
        parent: "eth2".into(),
        index: 3,
        mtu: 1500,
        up: false,
        vlan: None,
        leftovers: Leftovers::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attach::kinds::kind::testing::{guest, kind_commands, request};

    #[test]
    fn vlan_on_a_physical_parent() {
        let req = request("10.0.0.2/24");
        let eth2 = |exists, up| {
            let vlan = Some(VlanDev { name: "eth2.100".into(), id: 100, exists, up });
            Macvlan {
                mode: MacvlanMode::Bridge,
                parent: "eth2".into(),
                index: 3,
                mtu: 1500,
                up: false,
                vlan,
                leftovers: Leftovers::default(),
            }
        };
        let (c, made) = kind_commands(&eth2(false, false), &req, &guest());
        assert_eq!(c[0], "ip link add link eth2 name eth2.100 mtu 1500 type vlan id 100");
        assert_eq!(c[1], "ip link add link eth2.100 name ph4242eth1 mtu 1500 netns 4242 type macvlan mode bridge");
        assert_eq!(made, "ph4242eth1");
        assert_eq!(c[c.len() - 2..], ["ip link set eth2 up", "ip link set eth2.100 up"]);
        // An existing, right, up device is only used.
        let (c, _) = kind_commands(&eth2(true, true), &req, &guest());
        assert!(c[0].starts_with("ip link add link eth2.100 name ph4242eth1"));
        assert!(!c.iter().any(|l| l.contains("eth2.100 up")));
    }
}
