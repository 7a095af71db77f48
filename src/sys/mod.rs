//! Adapters to the operating system, one door per mechanism. Nothing here
//! knows about pipework's requests or plans; everything above speaks to the
//! system only through these modules.

pub mod arp;
pub mod ethtool;
pub mod exec;
pub mod genl;
pub mod netfilter;
pub mod netlink;
pub mod netns;
pub mod ovsdb;
pub mod pidfd;
pub mod signals;
pub mod sysctl;
