//! Networking errors, with Docker's wording where the CLI shows them.

use berth_errdefs::{ErrorKind, HasKind};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetError {
    #[error("network {0} not found")]
    NotFound(String),
    #[error("network with name {0} already exists")]
    Exists(String),
    #[error("invalid subnet {0}: {1}")]
    BadSubnet(String, &'static str),
    #[error("Pool overlaps with other one on this address space")]
    Overlap,
    /// Not `address/prefix` (dockerd's wording).
    #[error("Invalid subnet {0} : invalid CIDR address: {0}")]
    InvalidCidr(String),
    /// A driver that would be a plugin: berth has none.
    #[error("plugin {0:?} not found")]
    NoDriver(String),
    /// A driver Docker has built in that berth does not implement.
    #[error("network driver {0:?} is not supported by berth (bridge is)")]
    UnsupportedDriver(String),
    #[error("no available IPv4 subnet for network {0}")]
    NoSubnet(String),
    #[error("no available IP addresses in network {0}")]
    Exhausted(String),
    #[error("Address already in use")]
    AddressInUse,
    #[error("Bind for {addr}:{port} failed: port is already allocated")]
    PortAllocated { addr: String, port: u16 },
    #[error("error while calling RemoveNetwork: network {name} id {id} has active endpoints")]
    ActiveEndpoints { name: String, id: String },
    #[error("{0} is a pre-defined network and cannot be removed")]
    Predefined(String),
    #[error("container {container} is already attached to network {network}")]
    AlreadyAttached { container: String, network: String },
    #[error("container {container} is not connected to network {network}")]
    NotAttached { container: String, network: String },
    #[error("{0}")]
    Invalid(String),
    #[error("netlink: {what}")]
    Netlink {
        what: String,
        #[source]
        source: rtnetlink::Error,
    },
    #[error("nftables: {0}")]
    Nft(String),
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Record(Box<berth_fsutil::record::RecordError>),
}

impl NetError {
    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let what = what.into();
        move |source| Self::Io { what, source }
    }

    pub(crate) fn netlink(what: impl Into<String>) -> impl FnOnce(rtnetlink::Error) -> Self {
        let what = what.into();
        move |source| Self::Netlink { what, source }
    }
}

impl HasKind for NetError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::NotFound(_) | Self::NotAttached { .. } | Self::NoDriver(_) => ErrorKind::NotFound,
            Self::UnsupportedDriver(_) => ErrorKind::NotImplemented,
            Self::Exists(_)
            | Self::AddressInUse
            | Self::PortAllocated { .. }
            | Self::ActiveEndpoints { .. }
            | Self::AlreadyAttached { .. } => ErrorKind::Conflict,
            // dockerd's class for an overlapping pool.
            Self::Predefined(_) | Self::Overlap => ErrorKind::Forbidden,
            Self::BadSubnet(..) | Self::InvalidCidr(_) | Self::Invalid(_) => {
                ErrorKind::InvalidArgument
            }
            _ => ErrorKind::Internal,
        }
    }
}

pub type Result<T, E = NetError> = std::result::Result<T, E>;
