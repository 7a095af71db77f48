//! An IPoIB interface (ARP type 32): the guest gets a child of it, born in
//! the guest under the reference's name (`PARENT.NSPID`, or
//! `PARENT.PKEY.NSPID` with `@PKEY`, a partition key in hex). Its default
//! guest name is `ib0`; InfiniBand has no Ethernet MAC to set.

use anyhow::{bail, Context, Result};

use crate::attach::kinds::device::{DeleteInGuest, HostUp, Leftovers};
use crate::attach::kinds::kind::{no_host_leftovers, Ctx, Entry, Found, Kind, Makes, Probe};
use crate::attach::step::{Step, Steps, Target};
use crate::guest::GuestNames;
use crate::sys::netlink::LinkKind;

pub const ENTRY: Entry = Entry { recognise, detach, host_leftovers: no_host_leftovers };

#[derive(Debug)]
struct Ipoib {
    parent: String,
    index: u32,
    up: bool,
    /// The key, and its text as typed (it is part of the child's name).
    pkey: Option<(u16, String)>,
    /// Guest devices an earlier run left half-made, deleted first.
    leftovers: Leftovers,
}

fn recognise(p: &Probe) -> Result<Option<Box<dyn Kind>>> {
    let Some(link) = p.link.as_ref().filter(|l| l.infiniband) else { return Ok(None) };
    if p.req.mac.is_some() {
        bail!("MAC configuration is unsupported for IPoIB interfaces ({}): InfiniBand has no Ethernet MACs", p.name);
    }
    let pkey = match &p.req.tag {
        Some(t) => Some((t.pkey()?, t.as_str().trim_start_matches("0x").to_string())),
        None => None,
    };
    let (parent, index, up) = (link.name.clone(), link.index, link.up);
    let guest_if = p.req.guest_if.as_ref().map_or("ib0", |n| n.as_str());
    let temp = child_name(&parent, pkey.as_ref().map(|k| k.1.as_str()), p.guest.nspid);
    let leftovers = Leftovers::find(p, &temp, guest_if, &[LinkKind::Ipoib], Some(index))?;
    Ok(Some(Box::new(Ipoib { parent, index, up, pkey, leftovers })))
}

/// The reference's name of the child: `PARENT.NSPID`, `PARENT.PKEY.NSPID`.
fn child_name(parent: &str, pkey: Option<&str>, nspid: u64) -> String {
    match pkey {
        Some(text) => format!("{parent}.{text}.{nspid}"),
        None => format!("{parent}.{nspid}"),
    }
}

impl Kind for Ipoib {
    fn host_name(&self) -> &str {
        &self.parent
    }

    fn makes(&self) -> Makes {
        Makes::IpoibChild
    }

    fn default_guest_if(&self) -> &'static str {
        "ib0"
    }

    fn clears(&self, guest_if: &str) -> bool {
        self.leftovers.includes(guest_if)
    }

    fn bring_in(&self, ctx: &Ctx, steps: &mut Steps) -> String {
        self.leftovers.remove_first(steps);
        let child = child_name(&self.parent, self.pkey.as_ref().map(|k| k.1.as_str()), ctx.guest.nspid);
        let create = CreateChild {
            name: child.clone(),
            parent: self.parent.clone(),
            index: self.index,
            pkey: self.pkey.as_ref().map(|p| p.0),
        };
        steps.push(Box::new(create));
        child
    }

    /// A down parent comes up last, as a macvlan's does.
    fn finish(&self, _: &Ctx, steps: &mut Steps) {
        if !self.up {
            steps.push(Box::new(HostUp { link: self.parent.clone() }));
        }
    }
}

/// The child, born in the guest. Undo deletes it there.
#[derive(Debug)]
struct CreateChild {
    name: String,
    parent: String,
    index: u32,
    pkey: Option<u16>,
}

impl Step for CreateChild {
    fn command(&self, g: &GuestNames) -> String {
        let pkey = self.pkey.map(|k| format!(" pkey 0x{k:x}")).unwrap_or_default();
        format!("ip link add link {} name {} netns {} type ipoib{pkey}", self.parent, self.name, g.netns)
    }

    fn run(&self, t: &mut Target) -> Result<()> {
        t.host_nl.add_ipoib(&self.name, self.index, self.pkey, t.guest_ns).with_context(|| {
            format!("creating IPoIB child {} of {} in guest {}", self.name, self.parent, t.guest_label)
        })?;
        t.made_in_guest(&self.name)?;
        Ok(())
    }
}

fn detach(f: &Found) -> Result<Option<Steps>> {
    Ok(DeleteInGuest::claim(f, &[LinkKind::Ipoib]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attach::kinds::kind::testing::{guest, kind_commands, request};

    #[test]
    fn ipoib_child_with_and_without_a_partition_key() {
        let ib0 = |pkey| Ipoib { parent: "ib0".into(), index: 5, up: false, pkey, leftovers: Leftovers::default() };
        assert_eq!(ib0(None).default_guest_if(), "ib0");
        let (c, made) = kind_commands(&ib0(None), &request("10.9.0.2/16"), &guest());
        assert_eq!(c, ["ip link add link ib0 name ib0.4242 netns 4242 type ipoib", "ip link set ib0 up"]);
        assert_eq!(made, "ib0.4242", "the plan renames the child to ib0");
        let (c, _) = kind_commands(&ib0(Some((0x8001, "8001".into()))), &request("10.9.0.2/16"), &guest());
        assert_eq!(c[0], "ip link add link ib0 name ib0.8001.4242 netns 4242 type ipoib pkey 0x8001");
    }
}
