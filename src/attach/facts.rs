//! Read-only look at host and guest before anything changes. Every refusal a
//! user can meet (unsupported combination, name taken, leftover in the way)
//! happens here or in the kind's recognition, so a refused run has touched
//! nothing.

use anyhow::{bail, Result};

use crate::attach::check::{self, State};
use crate::attach::kinds::{self, Kind, Makes};
use crate::dhcp;
use crate::guest::{Guest, Identity};
use crate::request::{AddressSpec, Attach, DhcpMethod, IfName};
use crate::sys::netlink::Netlink;
use crate::sys::ovsdb::vswitch::Vswitch;

/// What the world looks like, reduced to what the plan needs.
#[derive(Debug)]
pub struct Facts {
    /// The host interface, as its kind sees it.
    pub kind: Box<dyn Kind>,
    /// GUESTIF with its default filled in.
    pub guest_if: IfName,
    pub guest: Identity,
}

/// What an attach line meets: its interface already as asked (the words
/// that say so; nothing to do), or the facts to plan from.
pub enum Ready {
    AsAsked(String),
    Facts(Facts),
}

/// The one "already as asked" of every caller (the command line, a batch,
/// the watch, CNI): an interface as asked is left alone; one that differs
/// is refused with the first difference, unless what differs is a leftover
/// of a run that did not finish, which the kind clears.
pub fn unless_as_asked(
    req: &Attach,
    guest: &Guest,
    host_nl: &Netlink,
    guest_nl: &Netlink,
    vswitch: Option<&Vswitch>,
) -> Result<Ready> {
    let (state, guest_if) = check::check(req, host_nl, guest_nl, &guest.netns, vswitch)?;
    let why = match state {
        State::AsAsked => return Ok(Ready::AsAsked(format!("{guest_if} of {} is already as asked", guest.label()))),
        State::Absent => return gather(req, guest, host_nl, guest_nl, vswitch).map(Ready::Facts),
        State::Differs(why) => why,
    };
    gather(req, guest, host_nl, guest_nl, vswitch).map(Ready::Facts).map_err(|e| {
        e.context(format!(
            "{guest_if} of {} is already there, but not as asked: {why} (--replace takes it away and makes it \
             again as asked)",
            guest.label()
        ))
    })
}

pub fn gather(
    req: &Attach,
    guest: &Guest,
    host_nl: &Netlink,
    guest_nl: &Netlink,
    vswitch: Option<&Vswitch>,
) -> Result<Facts> {
    let kind = kinds::recognise(req, host_nl, guest_nl, &guest.identity, vswitch)?;
    if let AddressSpec::Dhcp { method, .. } = &req.address {
        check_dhcp_client(*method, guest)?;
    }
    if req.macvlan_mode.is_some() && kind.makes() != Makes::Macvlan {
        bail!("--macvlan-mode is for a macvlan, but {} gives the guest {}", kind.host_name(), kind.makes());
    }
    if (req.tuning.hairpin || req.tuning.isolated) && kind.makes() != Makes::VethOnLinuxBridge {
        bail!(
            "--hairpin and --isolated set a Linux bridge port, but {} gives the guest {}",
            kind.host_name(),
            kind.makes()
        );
    }
    if req.tuning.vlan_filtering && kind.makes() != Makes::VethOnLinuxBridge {
        bail!(
            "--vlan-filtering is for @VLAN on a Linux bridge, but {} gives the guest {}",
            kind.host_name(),
            kind.makes()
        );
    }
    if req.host_side.is_some() && !kind.makes().has_host_side() {
        // The reference ignores -l here; scripts that pass it must keep working.
        eprintln!(
            "pipework: warning: -l is ignored: {} is not a bridge, so there is no veth host side to name",
            kind.host_name()
        );
    }
    let guest_if = match &req.guest_if {
        Some(n) => n.clone(),
        None => IfName::parse(kind.default_guest_if(), "-i")?,
    };
    if guest_nl.link(guest_if.as_str())?.is_some() && !kind.clears(guest_if.as_str()) {
        bail!("guest '{}' already has an interface named {guest_if}; choose another name with -i", guest.label());
    }
    Ok(Facts { kind, guest_if, guest: guest.identity.clone() })
}

/// The client program must be there before anything is made; `dhcp` runs
/// busybox's udhcpc through Docker, so only Docker guests can use it.
fn check_dhcp_client(method: DhcpMethod, guest: &Guest) -> Result<()> {
    if method == DhcpMethod::DockerBusybox && guest.identity.container.is_none() {
        bail!(
            "the dhcp method runs udhcpc in a busybox container next to a Docker container, but guest '{}' is not \
             a Docker container; use udhcpc, dhclient, dhcpcd or builtin-dhcp instead",
            guest.label()
        );
    }
    let Some(program) = method.program() else { return Ok(()) };
    if which::which(program).is_err() {
        bail!(
            "you asked for the DHCP client {program} ({}), but it is not installed (Debian/Ubuntu package: {}); \
             builtin-dhcp needs no client",
            method.keyword(),
            dhcp::package_of(program)
        );
    }
    Ok(())
}
