//! What can go wrong talking to an OVSDB server, typed: callers decide on
//! the kind (not running, try again, refused), never on English text.

use std::fmt;

/// An error of the client, naming the server.
#[derive(Debug)]
pub enum Error {
    /// No server answers there: no socket, connection refused, host
    /// unreachable. Nothing was sent.
    NotRunning { remote: String, source: std::io::Error },
    /// The remote's form is not one this client speaks (or not valid).
    BadRemote { remote: String, why: String },
    /// No answer within the time allowed: `what` was being waited for.
    Timeout { remote: String, what: String },
    /// The connection broke, or the server said something that is not
    /// JSON-RPC as RFC 7047 describes it.
    Broken { remote: String, why: String },
    /// The server refused the request itself (unknown database, unknown
    /// method, a malformed operation).
    Refused { remote: String, method: String, error: String, details: String },
    /// A transaction did not commit: nothing of it happened.
    Txn { remote: String, txn: TxnError },
}

/// Why a transaction did not commit, as the server reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct TxnError {
    pub kind: TxnErrorKind,
    /// The server's own word for it (`constraint violation`…).
    pub error: String,
    pub details: String,
    /// The index of the operation that failed; None when the commit itself
    /// failed (constraints are checked once every operation ran).
    pub op: Option<usize>,
}

/// RFC 7047's transaction errors (§5.2), plus those of later servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnErrorKind {
    /// A `wait` guard did not hold ("timed out"): the database changed
    /// since it was read.
    GuardFailed,
    /// A clustered server that is not the leader, or a lock not held.
    NotOwner,
    /// A unique index or a column's bounds (two ports of one name…).
    ConstraintViolation,
    ReferentialIntegrity,
    ResourcesExhausted,
    Io,
    Aborted,
    /// An operation the server cannot parse or apply (a bug of ours).
    Invalid,
}

impl TxnErrorKind {
    pub fn of(error: &str) -> TxnErrorKind {
        match error {
            "timed out" => TxnErrorKind::GuardFailed,
            "not owner" => TxnErrorKind::NotOwner,
            "constraint violation" => TxnErrorKind::ConstraintViolation,
            "referential integrity violation" => TxnErrorKind::ReferentialIntegrity,
            "resources exhausted" => TxnErrorKind::ResourcesExhausted,
            "I/O error" => TxnErrorKind::Io,
            "aborted" => TxnErrorKind::Aborted,
            _ => TxnErrorKind::Invalid,
        }
    }
}

impl Error {
    /// Nothing answers: there is no Open vSwitch (or no OVN) here to ask.
    pub fn is_not_running(&self) -> bool {
        matches!(self, Error::NotRunning { .. })
    }

    /// Worth trying again later unchanged: the server is away or slow, the
    /// database changed under a guarded transaction, a cluster changes
    /// leader, or a concurrent writer took a name first.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::NotRunning { .. } | Error::Timeout { .. } | Error::Broken { .. } => true,
            Error::Txn { txn, .. } => matches!(
                txn.kind,
                TxnErrorKind::GuardFailed
                    | TxnErrorKind::NotOwner
                    | TxnErrorKind::ConstraintViolation
                    | TxnErrorKind::ResourcesExhausted
                    | TxnErrorKind::Io
            ),
            Error::BadRemote { .. } | Error::Refused { .. } => false,
        }
    }

    /// The transaction error, when that is what this is.
    pub fn txn(&self) -> Option<&TxnError> {
        match self {
            Error::Txn { txn, .. } => Some(txn),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Error::NotRunning { remote, source } => write!(
                f,
                "no ovsdb-server answers at {remote} ({source}): is Open vSwitch running? For a private one, set \
                 OVS_RUNDIR or --ovs-db"
            ),
            Error::BadRemote { remote, why } => write!(f, "cannot use OVSDB server '{remote}': {why}"),
            Error::Timeout { remote, what } => write!(f, "{what}: no answer from {remote} in time"),
            Error::Broken { remote, why } => write!(f, "the connection to {remote} failed: {why}"),
            Error::Refused { remote, method, error, details } => {
                write!(f, "{remote} refused the {method} request: {error}")?;
                if !details.is_empty() {
                    write!(f, " ({details})")?;
                }
                Ok(())
            }
            Error::Txn { remote, txn } => {
                write!(f, "the transaction failed at {remote}: {}", txn.error)?;
                if !txn.details.is_empty() {
                    write!(f, ": {}", txn.details)?;
                }
                Ok(())
            }
        }
    }
}

/// The I/O error of `NotRunning` is part of its message, not a cause of
/// its own (a chain would print it twice).
impl std::error::Error for Error {}

/// The OVSDB error anywhere in an error's chain of context.
pub fn find(e: &anyhow::Error) -> Option<&Error> {
    e.chain().find_map(|c| c.downcast_ref::<Error>())
}
