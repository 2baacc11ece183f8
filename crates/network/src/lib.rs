//! berth-network: the default bridge and user-defined bridge networks, IPAM, veth pairs made
//! through netlink (the peer is created directly inside the container's netns), published
//! ports and masquerade in berth's own nftables tables, and an embedded DNS server per user
//! network. See ARCHITECTURE.md.

#![forbid(unsafe_code)]

mod controller;
mod dns;
mod endpoints;
mod error;
mod files;
mod hostlock;
pub mod ipam;
mod link;
mod netns;
mod networks;
pub mod nft;
mod ports;
mod state;

pub use controller::{
    BRIDGE_PREFIX, CreateNetwork, EndpointInfo, EndpointRequest, NetworkConfig, NetworkController,
    NetworkInfo,
};
pub use error::{NetError, Result};
pub use files::{hosts_file, resolv_conf};
pub use netns::Netns;
pub use ports::{BoundPort, PortRequest};
pub use state::EndpointRecord;
