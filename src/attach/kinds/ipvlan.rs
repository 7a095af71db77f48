//! `--ipvlan MODE`: like a macvlan, but every guest shares HOSTIF's MAC,
//! for networks that drop unknown MACs (some switches, hypervisors, Wi-Fi,
//! clouds). Born in the guest under a temporary name, then renamed; a
//! parent that was down comes up last. Needs the kernel's ipvlan module.

use anyhow::{bail, Context, Result};

use crate::attach::kinds::device::{DeleteInGuest, HostUp, Leftovers};
use crate::attach::kinds::kind::{no_host_leftovers, Ctx, Entry, Found, Kind, Makes, Probe};
use crate::attach::kinds::ovs;
use crate::attach::names;
use crate::attach::step::{Step, Steps, Target};
use crate::guest::GuestNames;
use crate::request::{Ipvlan, IpvlanFlag, IpvlanMode};
use crate::sys::netlink::{IpvlanSwitching, LinkKind};

pub const ENTRY: Entry = Entry { recognise, detach, host_leftovers: no_host_leftovers };

#[derive(Debug)]
struct IpvlanParent {
    parent: String,
    index: u32,
    mtu: u32,
    up: bool,
    how: Ipvlan,
    /// Guest devices an earlier run left half-made, deleted first.
    leftovers: Leftovers,
}

fn recognise(p: &Probe) -> Result<Option<Box<dyn Kind>>> {
    let Some(how) = p.req.ipvlan else { return Ok(None) };
    let Some(parent) = &p.link else {
        bail!("--ipvlan makes an ipvlan on an existing interface, and {} does not exist", p.name)
    };
    if parent.kind == Some(LinkKind::Bridge) || ovs::is_bridge(parent, p.vswitch) || parent.infiniband {
        bail!("--ipvlan needs an Ethernet interface to sit on, and {} is a bridge or IPoIB; drop --ipvlan", p.name);
    }
    if let Some(tag) = &p.req.tag {
        bail!("--ipvlan takes no @{tag} yet: make the 802.1Q device yourself and name it as HOSTIF");
    }
    let temp = temp_name(p.guest.nspid, p.guest_if());
    let leftovers = Leftovers::find(p, &temp, p.guest_if(), &[LinkKind::Ipvlan], Some(parent.index))?;
    let (name, index, mtu, up) = (parent.name.clone(), parent.index, parent.mtu, parent.up);
    Ok(Some(Box::new(IpvlanParent { parent: name, index, mtu, up, how, leftovers })))
}

/// Its name while it is created in the guest: `pi<NSPID><GUESTIF>`, cut to
/// 15 bytes, in the manner of the reference's macvlan names.
fn temp_name(nspid: u64, guest_if: &str) -> String {
    names::fit(format!("pi{nspid}{guest_if}"))
}

impl Kind for IpvlanParent {
    fn host_name(&self) -> &str {
        &self.parent
    }

    fn makes(&self) -> Makes {
        Makes::Ipvlan
    }

    fn clears(&self, guest_if: &str) -> bool {
        self.leftovers.includes(guest_if)
    }

    fn bring_in(&self, ctx: &Ctx, steps: &mut Steps) -> String {
        self.leftovers.remove_first(steps);
        let temp = temp_name(ctx.guest.nspid, ctx.guest_if);
        let create = CreateIpvlan {
            name: temp.clone(),
            parent: self.parent.clone(),
            index: self.index,
            mtu: self.mtu,
            how: self.how,
        };
        steps.push(Box::new(create));
        temp
    }

    /// A down parent comes up last, as a macvlan's does.
    fn finish(&self, _: &Ctx, steps: &mut Steps) {
        if !self.up {
            steps.push(Box::new(HostUp { link: self.parent.clone() }));
        }
    }
}

/// The ipvlan, born in the guest under its temporary name. Undo deletes it.
#[derive(Debug)]
struct CreateIpvlan {
    name: String,
    parent: String,
    index: u32,
    mtu: u32,
    how: Ipvlan,
}

/// The ipvlan's mode and flag, as netlink takes them (and iproute2 spells them).
pub fn switching(how: &Ipvlan) -> IpvlanSwitching {
    let mode = match how.mode {
        IpvlanMode::L2 => "l2",
        IpvlanMode::L3 => "l3",
        IpvlanMode::L3s => "l3s",
    };
    let flag = match how.flag {
        None => "bridge",
        Some(IpvlanFlag::Private) => "private",
        Some(IpvlanFlag::Vepa) => "vepa",
    };
    IpvlanSwitching { mode, flag }
}

impl Step for CreateIpvlan {
    fn command(&self, g: &GuestNames) -> String {
        let s = switching(&self.how);
        let flag = if s.flag == "bridge" { String::new() } else { format!(" {}", s.flag) };
        format!(
            "ip link add link {} name {} mtu {} netns {} type ipvlan mode {}{flag}",
            self.parent, self.name, self.mtu, g.netns, s.mode
        )
    }

    fn run(&self, t: &mut Target) -> Result<()> {
        t.host_nl.add_ipvlan(&self.name, self.index, self.mtu, t.guest_ns, switching(&self.how)).with_context(
            || {
                format!(
                    "creating ipvlan {} on {} in guest {} (does this kernel have the ipvlan module?)",
                    self.name, self.parent, t.guest_label
                )
            },
        )?;
        t.made_in_guest(&self.name)?;
        Ok(())
    }
}

fn detach(f: &Found) -> Result<Option<Steps>> {
    Ok(DeleteInGuest::claim(f, &[LinkKind::Ipvlan]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attach::kinds::kind::testing::{guest, kind_commands, request};

    #[test]
    fn ipvlan_is_born_in_the_guest_with_its_mode() {
        let eth2 = |mode, flag| IpvlanParent {
            parent: "eth2".into(),
            index: 3,
            mtu: 1500,
            up: false,
            how: Ipvlan { mode, flag },
            leftovers: Leftovers::default(),
        };
        let (c, made) = kind_commands(&eth2(IpvlanMode::L2, None), &request("10.0.0.2/24"), &guest());
        assert_eq!(
            c,
            ["ip link add link eth2 name pi4242eth1 mtu 1500 netns 4242 type ipvlan mode l2", "ip link set eth2 up"]
        );
        assert_eq!(made, "pi4242eth1", "the plan renames it to eth1");
        let (c, _) =
            kind_commands(&eth2(IpvlanMode::L3s, Some(IpvlanFlag::Private)), &request("10.0.0.2/24"), &guest());
        assert!(c[0].ends_with("type ipvlan mode l3s private"), "{c:?}");
    }
}
