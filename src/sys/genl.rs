//! The door to generic netlink. One question is asked there: whether the
//! kernel has a family, such as `ovs_datapath` (the Open vSwitch kernel
//! datapath).

use anyhow::{anyhow, Result};
use netlink_packet_core::{NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_REQUEST};
use netlink_packet_generic::ctrl::{nlas::GenlCtrlAttrs, GenlCtrl, GenlCtrlCmd};
use netlink_packet_generic::GenlMessage;
use netlink_sys::{protocols::NETLINK_GENERIC, Socket, SocketAddr};

/// Does the kernel know this generic netlink family? Asking also loads the
/// module behind it when it is installed but not yet loaded.
pub fn family_exists(name: &str) -> Result<bool> {
    let mut socket = Socket::new(NETLINK_GENERIC)?;
    socket.bind_auto()?;
    socket.connect(&SocketAddr::new(0, 0))?;
    let mut msg = NetlinkMessage::from(GenlMessage::from_payload(GenlCtrl {
        cmd: GenlCtrlCmd::GetFamily,
        nlas: vec![GenlCtrlAttrs::FamilyName(name.to_string())],
    }));
    msg.header.flags = NLM_F_REQUEST | NLM_F_ACK;
    msg.finalize();
    let mut buf = vec![0u8; msg.buffer_len()];
    msg.serialize(&mut buf);
    socket.send(&buf, 0)?;

    let mut rx = Vec::with_capacity(8192);
    socket.recv(&mut rx, 0)?;
    let reply = <NetlinkMessage<GenlMessage<GenlCtrl>>>::deserialize(&rx).map_err(|e| anyhow!("{e}"))?;
    // Anything but the family's description is ENOENT: no such family.
    Ok(matches!(reply.payload, NetlinkPayload::InnerMessage(_)))
}
