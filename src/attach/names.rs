//! Names of the devices we create, exactly as the reference makes them, with
//! a fix where its names overflow the kernel's 15-byte limit.

use md5::{Digest, Md5};

use crate::request::IFNAMSIZ_MAX;

/// Host side of the veth pair: `v<GUESTIF>pl<NSPID>`. The reference fails
/// outright when that is longer than 15 bytes (long -i names, 7-digit PIDs);
/// we then keep `v` + `pl<NSPID>` and fill the room left with a hash of
/// GUESTIF, so different guest interfaces of one guest still get different,
/// stable names.
pub fn host_veth(guest_if: &str, nspid: u64) -> String {
    let plain = format!("v{guest_if}pl{nspid}");
    if plain.len() <= IFNAMSIZ_MAX {
        return plain;
    }
    let tail = format!("pl{nspid}");
    let room = IFNAMSIZ_MAX.saturating_sub(1 + tail.len()).max(1);
    let digest = Md5::digest(guest_if.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    let name = format!("v{}{tail}", &hex[..room]);
    // NSPIDs longer than 12 digits (namespace inodes) leave no room at all:
    // keep the last 15 bytes, which hold the most distinctive digits. All
    // ASCII here, so any byte is a character boundary.
    name[name.len().saturating_sub(IFNAMSIZ_MAX)..].to_string()
}

/// Temporary name of a macvlan while it is created in the guest:
/// `ph<NSPID><GUESTIF>` cut to 15 bytes, as the reference does.
pub fn macvlan(nspid: u64, guest_if: &str) -> String {
    fit(format!("ph{nspid}{guest_if}"))
}

/// The reference's temporary name of a dummy, `du<NSPID><GUESTIF>`, cut to 15.
pub fn dummy(nspid: u64, guest_if: &str) -> String {
    fit(format!("du{nspid}{guest_if}"))
}

/// Cut to at most 15 bytes, never inside a character (GUESTIF may be any
/// UTF-8 the kernel takes).
pub fn fit(mut name: String) -> String {
    let mut end = IFNAMSIZ_MAX.min(name.len());
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    name.truncate(end);
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_names() {
        assert_eq!(host_veth("eth1", 4242), "veth1pl4242");
        assert_eq!(macvlan(4242, "eth1"), "ph4242eth1");
        assert_eq!(macvlan(4194303, "longername"), "ph4194303longer");
    }

    #[test]
    fn long_names_fit_and_differ() {
        let a = host_veth("storage-net0", 4194303);
        let b = host_veth("storage-net1", 4194303);
        assert!(a.len() <= 15 && b.len() <= 15, "{a} {b}");
        assert_ne!(a, b);
        assert!(a.starts_with('v') && a.ends_with("pl4194303"), "{a}");
        let c = host_veth("eth1", 4026532281);
        assert!(c.len() <= 15, "{c}");
    }

    #[test]
    fn multi_byte_names_are_cut_between_characters() {
        // 2 + 5 digits + 'a' = 8 bytes, then 2-byte characters: byte 15 falls inside one.
        assert_eq!(macvlan(12345, "aéééééé"), "ph12345aééé");
        assert_eq!(dummy(4242, "ééééééé"), "du4242éééé");
    }
}
