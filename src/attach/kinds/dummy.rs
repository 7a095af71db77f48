//! A missing `dummy*` HOSTIF: the guest gets a dummy interface, born in the
//! guest under the reference's temporary name `du<NSPID><GUESTIF>`. Nothing
//! is made in the host.

use anyhow::{Context, Result};
use macaddr::MacAddr6;

use crate::attach::kinds::device::{DeleteInGuest, Leftovers};
use crate::attach::kinds::kind::{no_host_leftovers, Ctx, Entry, Found, Kind, Makes, Probe};
use crate::attach::names;
use crate::attach::step::{Step, Steps, Target};
use crate::guest::GuestNames;
use crate::request::format_mac;
use crate::sys::netlink::LinkKind;

pub const ENTRY: Entry = Entry { recognise, detach, host_leftovers: no_host_leftovers };

#[derive(Debug)]
struct Dummy {
    name: String,
    /// Guest devices an earlier run left half-made, deleted first.
    leftovers: Leftovers,
}

fn recognise(p: &Probe) -> Result<Option<Box<dyn Kind>>> {
    if p.link.is_some() || !p.name.starts_with("dummy") {
        return Ok(None);
    }
    p.refuse_tag("a dummy interface")?;
    let temp = names::dummy(p.guest.nspid, p.guest_if());
    let leftovers = Leftovers::find(p, &temp, p.guest_if(), &[LinkKind::Dummy], None)?;
    Ok(Some(Box::new(Dummy { name: p.name.clone(), leftovers })))
}

impl Kind for Dummy {
    fn host_name(&self) -> &str {
        &self.name
    }

    fn makes(&self) -> Makes {
        Makes::Dummy
    }

    fn clears(&self, guest_if: &str) -> bool {
        self.leftovers.includes(guest_if)
    }

    fn bring_in(&self, ctx: &Ctx, steps: &mut Steps) -> String {
        self.leftovers.remove_first(steps);
        let temp = names::dummy(ctx.guest.nspid, ctx.guest_if);
        steps.push(Box::new(CreateDummy { name: temp.clone(), mac: ctx.req.mac }));
        temp
    }
}

/// The dummy, born in the guest. Undo deletes it there.
#[derive(Debug)]
struct CreateDummy {
    name: String,
    mac: Option<MacAddr6>,
}

impl Step for CreateDummy {
    fn command(&self, g: &GuestNames) -> String {
        let mac = self.mac.map(|m| format!(" address {}", format_mac(&m))).unwrap_or_default();
        format!("ip link add {}{mac} netns {} type dummy", self.name, g.netns)
    }

    fn run(&self, t: &mut Target) -> Result<()> {
        t.host_nl
            .add_dummy(&self.name, t.guest_ns, self.mac)
            .with_context(|| format!("creating dummy interface {} in guest {}", self.name, t.guest_label))?;
        t.made_in_guest(&self.name)?;
        Ok(())
    }
}

fn detach(f: &Found) -> Result<Option<Steps>> {
    Ok(DeleteInGuest::claim(f, &[LinkKind::Dummy]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attach::kinds::kind::testing::{guest, kind_commands, request};

    #[test]
    fn dummy_is_born_in_the_guest() {
        let dummy0 = Dummy { name: "dummy0".into(), leftovers: Leftovers::default() };
        let (c, made) = kind_commands(&dummy0, &request("10.0.0.2/24@10.0.0.1"), &guest());
        assert_eq!(c, ["ip link add du4242eth1 netns 4242 type dummy"]);
        assert_eq!(made, "du4242eth1", "the plan renames it to eth1");
    }
}
