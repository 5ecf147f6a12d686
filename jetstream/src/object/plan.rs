//! What each object store call writes, decided without IO: the info a put, delete,
//! link or meta update publishes, and the checks before it. The blocking and async
//! stores call these and only do the sends.

use super::error::ObjectError;
use super::info::{self, ObjectInfo, ObjectLink, ObjectMeta, ObjectOptions, DEFAULT_CHUNK_SIZE};

/// How many links a get follows before giving up (links to links are refused when
/// made, so one is enough for anything this crate, nats.go or async-nats wrote).
pub(crate) const MAX_LINK_DEPTH: usize = 8;

/// The chunk size of a put of `meta`, after checking its name.
pub(crate) fn check_put(meta: &ObjectMeta) -> Result<u32, ObjectError> {
    info::check_name(&meta.name)?;
    match meta.chunk_size {
        Some(0) => Err(ObjectError::InvalidConfig("chunk size must not be 0")),
        Some(n) => Ok(n),
        None => Ok(DEFAULT_CHUNK_SIZE),
    }
}

/// The info a finished put publishes.
pub(crate) fn put_info(
    bucket: &str,
    meta: &ObjectMeta,
    nuid: String,
    chunk_size: u32,
    (size, chunks, digest): (u64, u64, String),
) -> ObjectInfo {
    ObjectInfo {
        name: meta.name.clone(),
        description: meta.description.clone(),
        headers: meta.headers.clone(),
        metadata: meta.metadata.clone(),
        options: Some(ObjectOptions {
            link: None,
            chunk_size,
        }),
        bucket: bucket.to_string(),
        nuid,
        size,
        mtime: info::now(),
        chunks,
        digest: Some(digest),
        deleted: false,
    }
}

/// The chunk subject a replacing put purges once its info is written: the old
/// object's, unless it was a deleted marker (already purged) or has no chunks.
pub(crate) fn old_chunks(bucket: &str, old: Option<&ObjectInfo>, new_nuid: &str) -> Option<String> {
    let old = old?;
    (!old.deleted && old.nuid != new_nuid && old.chunks > 0)
        .then(|| info::chunk_subject(bucket, &old.nuid))
}

/// The marker a delete publishes in place of `info`.
pub(crate) fn deleted(mut info: ObjectInfo) -> ObjectInfo {
    info.deleted = true;
    info.size = 0;
    info.chunks = 0;
    info.digest = None;
    info.mtime = info::now();
    info
}

/// The info of a new link `name` in `bucket` to `target`; `existing` is what `name`
/// holds now (a live object that is not a link may not be overwritten).
pub(crate) fn link_info(
    bucket: &str,
    name: &str,
    target: ObjectLink,
    existing: Option<&ObjectInfo>,
    nuid: String,
) -> Result<ObjectInfo, ObjectError> {
    info::check_name(name)?;
    if let Some(name) = &target.name {
        info::check_name(name)?;
    }
    info::check_bucket(&target.bucket)?;
    if existing.is_some_and(|e| !e.deleted && !e.is_link()) {
        return Err(ObjectError::AlreadyExists);
    }
    Ok(ObjectInfo {
        name: name.to_string(),
        description: None,
        headers: Default::default(),
        metadata: Default::default(),
        options: Some(ObjectOptions {
            link: Some(target),
            chunk_size: 0,
        }),
        bucket: bucket.to_string(),
        nuid,
        size: 0,
        mtime: info::now(),
        chunks: 0,
        digest: None,
        deleted: false,
    })
}

/// Where a link to object `target` points, after checking it may be linked to.
pub(crate) fn object_link(target: &ObjectInfo) -> Result<ObjectLink, ObjectError> {
    if target.deleted {
        return Err(ObjectError::LinkToDeleted);
    }
    if target.is_link() {
        return Err(ObjectError::LinkToLink);
    }
    Ok(ObjectLink {
        bucket: target.bucket.clone(),
        name: Some(target.name.clone()),
    })
}

/// `info` with `meta`'s name, description, headers and metadata (size, chunks, digest
/// and options stay). Deleted objects cannot be updated.
pub(crate) fn updated(info: &ObjectInfo, meta: &ObjectMeta) -> Result<ObjectInfo, ObjectError> {
    info::check_name(&meta.name)?;
    if info.deleted {
        return Err(ObjectError::NotFound);
    }
    let mut out = info.clone();
    out.name = meta.name.clone();
    out.description = meta.description.clone();
    out.headers = meta.headers.clone();
    out.metadata = meta.metadata.clone();
    out.mtime = info::now();
    Ok(out)
}

/// Where a get of `info` goes next: `Ok(None)` to read its chunks, `Some((bucket,
/// name))` to follow its link.
pub(crate) fn follow(info: &ObjectInfo) -> Result<Option<(String, String)>, ObjectError> {
    if info.deleted {
        return Err(ObjectError::NotFound);
    }
    match info.link() {
        None => Ok(None),
        Some(ObjectLink { name: None, .. }) => Err(ObjectError::LinkIsBucket),
        Some(ObjectLink {
            bucket,
            name: Some(name),
        }) => Ok(Some((bucket.clone(), name.clone()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(name: &str) -> ObjectInfo {
        put_info(
            "b",
            &ObjectMeta::new(name),
            "N1".into(),
            DEFAULT_CHUNK_SIZE,
            (3, 1, "SHA-256=x".into()),
        )
    }

    #[test]
    fn links_and_their_refusals() {
        let target = obj("t");
        let link = link_info("b", "l", object_link(&target).unwrap(), None, "N2".into()).unwrap();
        assert_eq!(follow(&link).unwrap(), Some(("b".into(), "t".into())));
        assert!(matches!(object_link(&link), Err(ObjectError::LinkToLink)));
        assert!(matches!(
            object_link(&deleted(obj("d"))),
            Err(ObjectError::LinkToDeleted)
        ));
        assert!(matches!(
            link_info(
                "b",
                "t",
                object_link(&target).unwrap(),
                Some(&target),
                "N".into()
            ),
            Err(ObjectError::AlreadyExists)
        ));
        let bucket = ObjectLink {
            bucket: "other".into(),
            name: None,
        };
        let bl = link_info("b", "bl", bucket, Some(&link), "N3".into()).unwrap();
        assert!(matches!(follow(&bl), Err(ObjectError::LinkIsBucket)));
    }

    #[test]
    fn replace_delete_and_update() {
        let old = obj("a");
        assert_eq!(
            old_chunks("b", Some(&old), "N9").as_deref(),
            Some("$O.b.C.N1")
        );
        assert_eq!(old_chunks("b", Some(&deleted(old.clone())), "N9"), None);
        assert_eq!(old_chunks("b", None, "N9"), None);
        let d = deleted(old.clone());
        assert!(d.deleted && d.size == 0 && d.digest.is_none());
        assert!(matches!(follow(&d), Err(ObjectError::NotFound)));
        let mut meta = ObjectMeta::new("renamed");
        meta.description = Some("new".into());
        let u = updated(&old, &meta).unwrap();
        assert_eq!(
            (u.name.as_str(), u.size, u.nuid.as_str()),
            ("renamed", 3, "N1")
        );
        assert!(matches!(updated(&d, &meta), Err(ObjectError::NotFound)));
        assert!(matches!(
            check_put(&ObjectMeta::new("")),
            Err(ObjectError::InvalidName)
        ));
    }
}
