//! What a kind is: the trait every kind of host interface implements, and
//! what it is given to recognise HOSTIF, to plan, and to detach.

use std::fmt;

use anyhow::{bail, Result};

use crate::attach::step::Steps;
use crate::guest::Identity;
use crate::request::Attach;
use crate::sys::netlink::{Link, LinkKind, Netlink};
use crate::sys::ovsdb::vswitch::Vswitch;

/// A kind's answer to "is HOSTIF yours?".
pub type Recognised = Option<Box<dyn Kind>>;

/// One kind, as the rest of pipework reaches it.
pub struct Entry {
    /// Claims HOSTIF when it is of this kind (None: not mine), with the
    /// kind's refusals, which change nothing.
    pub recognise: fn(&Probe) -> Result<Recognised>,
    /// Claims a guest interface for `--detach` when this kind made it: the
    /// steps that remove it.
    pub detach: fn(&Found) -> Result<Option<Steps>>,
    /// For `--detach`: what this kind may have left in the host for this
    /// guest and interface when an attach was killed before it made the
    /// guest's interface; most kinds leave nothing there.
    pub host_leftovers: fn(&Netlink, &Identity, &str) -> Result<Steps>,
}

/// `Entry::host_leftovers` of the kinds that leave nothing in the host.
pub fn no_host_leftovers(_: &Netlink, _: &Identity, _: &str) -> Result<Steps> {
    Ok(Steps::new())
}

/// What a kind gives the guest: options meant for one device (a macvlan's
/// mode, a Linux bridge port's flags) are refused, by name, elsewhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Makes {
    VethOnLinuxBridge,
    VethOnOvsBridge,
    Macvlan,
    Ipvlan,
    TheInterfaceItself,
    IpoibChild,
    Dummy,
}

impl Makes {
    /// A veth pair, whose host side `-l` names.
    pub fn has_host_side(self) -> bool {
        matches!(self, Makes::VethOnLinuxBridge | Makes::VethOnOvsBridge)
    }
}

impl fmt::Display for Makes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Makes::VethOnLinuxBridge => "a veth pair on a Linux bridge",
            Makes::VethOnOvsBridge => "a veth pair on an Open vSwitch bridge",
            Makes::Macvlan => "a macvlan",
            Makes::Ipvlan => "an ipvlan",
            Makes::TheInterfaceItself => "the interface itself",
            Makes::IpoibChild => "an IPoIB child",
            Makes::Dummy => "a dummy interface",
        })
    }
}

/// The host interface as its kind sees it, after the kind's refusals.
pub trait Kind: fmt::Debug {
    /// HOSTIF's name (a `mac:` selector resolved).
    fn host_name(&self) -> &str;

    /// What the guest gets.
    fn makes(&self) -> Makes;

    /// The guest interface's name when `-i` is not given.
    fn default_guest_if(&self) -> &'static str {
        "eth1"
    }

    /// Whether the plan removes the guest interface of this name first: an
    /// earlier attach's leftover, not the user's.
    fn clears(&self, _guest_if: &str) -> bool {
        false
    }

    /// The steps that make the device and bring it into the guest. Returns
    /// the device's name in the guest after them; the plan renames it to
    /// GUESTIF when that differs.
    fn bring_in(&self, ctx: &Ctx, steps: &mut Steps) -> String;

    /// Steps that come after the guest side is configured: a parent that
    /// must come up last.
    fn finish(&self, _ctx: &Ctx, _steps: &mut Steps) {}

    /// The bridge port that must forward before the guest's first packets
    /// (DHCP, the gratuitous ARP) can get through.
    fn bridge_port(&self, _ctx: &Ctx) -> Option<String> {
        None
    }
}

/// What every kind is given to plan with: the request, the guest interface
/// (its default filled in) and the guest.
pub struct Ctx<'a> {
    pub req: &'a Attach,
    pub guest_if: &'a str,
    pub guest: &'a Identity,
}

/// What a kind is given to recognise HOSTIF.
pub struct Probe<'a> {
    pub req: &'a Attach,
    /// HOSTIF's name: as typed, or the name of the interface `mac:` found.
    pub name: String,
    /// The host interface, when it exists.
    pub link: Option<Link>,
    pub host_nl: &'a Netlink,
    /// Inside the guest: where an earlier run's leftovers may be.
    pub guest_nl: &'a Netlink,
    pub guest: &'a Identity,
    /// None when no ovsdb-server socket is there: no Open vSwitch.
    pub vswitch: Option<&'a Vswitch>,
}

impl Probe<'_> {
    /// The guest's interface of this name, when it may be what an attach
    /// that did not finish leaves behind: of one of `kinds`, and down (the
    /// last thing an attach does to it is to set it up). The caller checks
    /// that it hangs from what this attach would make it hang from.
    pub fn half_made(&self, name: &str, kinds: &[LinkKind]) -> Result<Option<Link>> {
        let Some(l) = self.guest_nl.link(name)? else { return Ok(None) };
        let ours = l.kind.as_ref().is_some_and(|k| kinds.contains(k));
        Ok((ours && !l.up).then_some(l))
    }

    /// GUESTIF, for a kind whose default is `eth1`.
    pub fn guest_if(&self) -> &str {
        self.req.guest_if.as_ref().map(|n| n.as_str()).unwrap_or("eth1")
    }

    /// `@VLAN` means nothing to this kind: refused, naming it.
    pub fn refuse_tag(&self, what: &str) -> Result<()> {
        match &self.req.tag {
            Some(t) => bail!("@VLAN has no meaning for {what} ({}): drop the @{t}", self.name),
            None => Ok(()),
        }
    }
}

/// What `--detach` found in the guest, for the kinds to claim.
pub struct Found<'a> {
    /// The guest's interface.
    pub link: &'a Link,
    pub host_nl: &'a Netlink,
    pub vswitch: Option<&'a Vswitch>,
}

/// Requests, guests and commands for the kinds' unit tests.
#[cfg(test)]
pub mod testing {
    use super::*;
    use crate::guest::GuestNames;
    use crate::request::{AddressSpec, GuestRef, HostIfRef, IfName};

    /// `pipework br1 web1 ADDR`.
    pub fn request(addr: &str) -> Attach {
        Attach::new(
            HostIfRef::Name(IfName::parse("br1", "t").unwrap()),
            GuestRef::Auto("web1".into()),
            AddressSpec::parse(addr, None).unwrap(),
        )
    }

    /// The guest `web1`, PID 4242.
    pub fn guest() -> Identity {
        Identity { nspid: 4242, pid: Some(4242), label: "web1".into(), container: None }
    }

    /// What a kind adds to a plan, as commands: the steps that bring the
    /// device in, then those that finish; and the device's name in the guest.
    pub fn kind_commands(kind: &dyn Kind, req: &Attach, guest: &Identity) -> (Vec<String>, String) {
        let guest_if = req.guest_if.as_ref().map(|n| n.as_str()).unwrap_or(kind.default_guest_if());
        let ctx = Ctx { req, guest_if, guest };
        let mut steps = Steps::new();
        let made = kind.bring_in(&ctx, &mut steps);
        kind.finish(&ctx, &mut steps);
        (steps.iter().map(|s| s.command(&GuestNames::pid(4242))).collect(), made)
    }
}
