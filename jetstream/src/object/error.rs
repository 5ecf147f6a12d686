//! [`ObjectError`]: every way an object store call can fail, typed.

use std::fmt;
use std::sync::Arc;

use crate::error::{ApiErrorKind, Error};

/// Why an object store call failed. Branch on the variant, never on the text.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ObjectError {
    /// No such object (never stored, or deleted). nats.go: `ErrObjectNotFound`.
    NotFound,
    /// No such bucket (no stream `OBJ_<bucket>`). nats.go: `ErrStreamNotFound`.
    BucketNotFound,
    /// A bucket of that name exists with another configuration.
    BucketExists,
    /// A bucket name outside `[a-zA-Z0-9_-]+`. nats.go: `ErrInvalidStoreName`.
    InvalidBucketName,
    /// An empty object name. nats.go: `ErrInvalidObjectName` / `ErrNameRequired`.
    InvalidName,
    /// A configuration or option the store refuses.
    InvalidConfig(&'static str),
    /// An object of that name exists (renaming onto it, or linking over an object that
    /// is not a link). nats.go: `ErrObjectAlreadyExists`.
    AlreadyExists,
    /// The chunks read back do not hash to the digest in the object's info: the data is
    /// not what was stored. nats.go: `ErrDigestMismatch`.
    DigestMismatch {
        /// The digest in the object's info (`SHA-256=<base64url>`).
        expected: String,
        /// The digest of the bytes read.
        actual: String,
    },
    /// The chunks read back add up to another size than the info says.
    SizeMismatch {
        /// The size in the object's info.
        expected: u64,
        /// The bytes read.
        actual: u64,
    },
    /// Another number of chunks was found than the info says (missing or extra chunks).
    ChunkCountMismatch {
        /// The chunk count in the object's info.
        expected: u64,
        /// The chunks found.
        actual: u64,
    },
    /// The info's digest is not `SHA-256=<base64url>`. nats.go: `ErrInvalidDigestFormat`.
    InvalidDigest(String),
    /// An object's info that is not the JSON ADR-20 describes.
    InvalidInfo(String),
    /// A link may not point at a deleted object. nats.go: `ErrNoLinkToDeleted`.
    LinkToDeleted,
    /// A link may not point at another link. nats.go: `ErrNoLinkToLink`.
    LinkToLink,
    /// The object is a link to a whole bucket, which has no data to read.
    LinkIsBucket,
    /// Following links went deeper than links may go (a link made by another client that
    /// points at a link).
    TooManyLinks,
    /// No chunk came for longer than the context's timeout, twice over.
    TimedOut,
    /// Reading the data to store failed; the chunks written so far were purged.
    Read(Arc<std::io::Error>),
    /// A JetStream call failed.
    JetStream(Error),
}

impl ObjectError {
    /// The [`ObjectError`] inside an [`std::io::Error`] returned by an object reader's
    /// [`Read`](std::io::Read) (or `AsyncRead`) implementation, if it is one.
    pub fn from_io(e: &std::io::Error) -> Option<&ObjectError> {
        e.get_ref().and_then(|inner| inner.downcast_ref())
    }

    /// True for the errors that mean the data read back is not what was stored.
    pub fn is_corruption(&self) -> bool {
        matches!(
            self,
            ObjectError::DigestMismatch { .. }
                | ObjectError::SizeMismatch { .. }
                | ObjectError::ChunkCountMismatch { .. }
        )
    }

    pub(crate) fn into_io(self) -> std::io::Error {
        let kind = match &self {
            e if e.is_corruption() => std::io::ErrorKind::InvalidData,
            ObjectError::TimedOut => std::io::ErrorKind::TimedOut,
            _ => std::io::ErrorKind::Other,
        };
        std::io::Error::new(kind, self)
    }
}

impl fmt::Display for ObjectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ObjectError::NotFound => f.write_str("object not found"),
            ObjectError::BucketNotFound => f.write_str("object store bucket not found"),
            ObjectError::BucketExists => {
                f.write_str("an object store bucket of that name exists with another configuration")
            }
            ObjectError::InvalidBucketName => {
                f.write_str("invalid bucket name (letters, digits, `_` and `-` only)")
            }
            ObjectError::InvalidName => f.write_str("object name is empty"),
            ObjectError::InvalidConfig(what) => write!(f, "invalid object store option: {what}"),
            ObjectError::AlreadyExists => f.write_str("an object of that name already exists"),
            ObjectError::DigestMismatch { expected, actual } => {
                write!(
                    f,
                    "object digest mismatch: stored {expected}, read {actual}"
                )
            }
            ObjectError::SizeMismatch { expected, actual } => {
                write!(
                    f,
                    "object size mismatch: stored {expected} bytes, read {actual}"
                )
            }
            ObjectError::ChunkCountMismatch { expected, actual } => {
                write!(
                    f,
                    "object chunk count mismatch: stored {expected}, found {actual}"
                )
            }
            ObjectError::InvalidDigest(d) => write!(f, "invalid object digest {d:?}"),
            ObjectError::InvalidInfo(why) => write!(f, "invalid object info: {why}"),
            ObjectError::LinkToDeleted => f.write_str("cannot link to a deleted object"),
            ObjectError::LinkToLink => f.write_str("cannot link to a link"),
            ObjectError::LinkIsBucket => f.write_str("the object is a link to a bucket"),
            ObjectError::TooManyLinks => f.write_str("too many links to follow"),
            ObjectError::TimedOut => f.write_str("timed out waiting for the object's chunks"),
            ObjectError::Read(e) => write!(f, "reading the object's data failed: {e}"),
            ObjectError::JetStream(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ObjectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ObjectError::JetStream(e) => Some(e),
            ObjectError::Read(e) => Some(e.as_ref()),
            _ => None,
        }
    }
}

impl From<Error> for ObjectError {
    fn from(e: Error) -> Self {
        match e.api_kind() {
            Some(ApiErrorKind::StreamNotFound) => ObjectError::BucketNotFound,
            Some(ApiErrorKind::StreamNameExists) => ObjectError::BucketExists,
            _ => match &e {
                Error::Ordered(crate::OrderedError::StreamNotFound) => ObjectError::BucketNotFound,
                _ => ObjectError::JetStream(e),
            },
        }
    }
}
