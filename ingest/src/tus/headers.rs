//! The tus request headers, read into plain values: pure functions over a request's headers
//! (no state, no I/O), each refusal a [`TusError`] naming what is wrong.
//!
//! A header sent on several lines counts by its first (as `HeaderMap::get` and tusd read it);
//! one line holding a list (`Upload-Offset: 5, 7`) is malformed.

use std::collections::HashMap;

use axum::http::{header::CONTENT_LENGTH, HeaderMap, HeaderName, HeaderValue};
use base64::Engine as _;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use vitrine_api::extract::request_media_type;
use vitrine_core::ids::UploadId;

use super::error::TusError;
use crate::uploads::Concat;

/// The protocol version spoken, the only one accepted.
pub const TUS_VERSION: &str = "1.0.0";
/// Most a PATCH with `Upload-Checksum` may carry: its body is verified whole before any of it
/// is kept, so it is spooled whole; clients send larger files in several checksummed PATCHes.
pub const MAX_CHECKSUMMED_BODY: u64 = 64 * 1024 * 1024;
/// The checksum algorithms `Upload-Checksum` may name (checksum extension).
pub const CHECKSUM_ALGORITHMS: &str = "sha1,sha256";

pub const TUS_RESUMABLE: HeaderName = HeaderName::from_static("tus-resumable");
pub const UPLOAD_OFFSET: HeaderName = HeaderName::from_static("upload-offset");
pub const UPLOAD_LENGTH: HeaderName = HeaderName::from_static("upload-length");
pub const UPLOAD_DEFER_LENGTH: HeaderName = HeaderName::from_static("upload-defer-length");
pub const UPLOAD_METADATA: HeaderName = HeaderName::from_static("upload-metadata");
pub const UPLOAD_EXPIRES: HeaderName = HeaderName::from_static("upload-expires");
pub const UPLOAD_CONCAT: HeaderName = HeaderName::from_static("upload-concat");
pub const UPLOAD_CHECKSUM: HeaderName = HeaderName::from_static("upload-checksum");
/// Ours, not tus's: the video an upload becomes.
pub const VIDEO_ID: HeaderName = HeaderName::from_static("video-id");

/// `Tus-Resumable` must be sent, and be the version spoken (412 otherwise).
pub fn check_version(headers: &HeaderMap) -> Result<(), TusError> {
    match headers.get(&TUS_RESUMABLE).map(HeaderValue::as_bytes) {
        Some(version) if version == TUS_VERSION.as_bytes() => Ok(()),
        Some(_) => Err(TusError::UnsupportedVersion),
        None => Err(TusError::MissingVersion),
    }
}

/// Whether the body is upload bytes (`Content-Type: application/offset+octet-stream`).
pub fn is_offset_stream(headers: &HeaderMap) -> bool {
    request_media_type(headers).is_some_and(|t| t == "application/offset+octet-stream")
}

/// A header's text, if it was sent.
pub fn text<'h>(headers: &'h HeaderMap, name: &HeaderName) -> Result<Option<&'h str>, TusError> {
    headers
        .get(name)
        .map(|v| v.to_str().map_err(|_| TusError::NotText(name.clone())))
        .transpose()
}

/// A creation's length: `Upload-Length`, or none with `Upload-Defer-Length: 1`; one of the two.
pub fn creation_length(headers: &HeaderMap) -> Result<Option<u64>, TusError> {
    match (
        text(headers, &UPLOAD_LENGTH)?,
        text(headers, &UPLOAD_DEFER_LENGTH)?,
    ) {
        (Some(length), None) => parse_length(length).map(Some),
        (None, Some("1")) => Ok(None),
        (Some(_), Some(_)) => Err(TusError::LengthAndDeferLength),
        (None, Some(_)) => Err(TusError::InvalidDeferLength),
        (None, None) => Err(TusError::MissingLength),
    }
}

/// A PATCH's `Upload-Length`, if it sends one (to give a deferred length).
pub fn patch_length(headers: &HeaderMap) -> Result<Option<u64>, TusError> {
    text(headers, &UPLOAD_LENGTH)?.map(parse_length).transpose()
}

fn parse_length(value: &str) -> Result<u64, TusError> {
    value
        .trim()
        .parse::<u64>()
        .map_err(|_| TusError::InvalidLength(value.to_owned()))
}

/// A PATCH's `Upload-Offset`: where its bytes start.
pub fn offset(headers: &HeaderMap) -> Result<u64, TusError> {
    let offset = text(headers, &UPLOAD_OFFSET)?.ok_or(TusError::MissingOffset)?;
    offset
        .trim()
        .parse::<u64>()
        .map_err(|_| TusError::InvalidOffset(offset.to_owned()))
}

/// `Upload-Concat` (concatenation extension): `partial`, or `final;URL URL…`.
pub fn concat(headers: &HeaderMap) -> Result<Option<Concat>, TusError> {
    match text(headers, &UPLOAD_CONCAT)? {
        None => Ok(None),
        Some("partial") => Ok(Some(Concat::Partial)),
        Some(value) => match value.strip_prefix("final;") {
            Some(parts) => Ok(Some(Concat::Final(parts.trim().to_owned()))),
            None => Err(TusError::InvalidConcat),
        },
    }
}

/// The uploads a final upload's `URL URL…` names, in order, each with the URL as sent: at least
/// one, each an upload URL of this server (its last path segment an upload id).
pub fn final_parts(parts: &str) -> Result<Vec<(&str, UploadId)>, TusError> {
    let parts = parts
        .split_whitespace()
        .map(|url| {
            url.trim_end_matches('/')
                .rsplit('/')
                .next()
                .and_then(|id| id.parse::<UploadId>().ok())
                .map(|id| (url, id))
                .ok_or_else(|| TusError::NotAnUploadUrl(url.to_owned()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if parts.is_empty() {
        return Err(TusError::NoPartials);
    }
    Ok(parts)
}

/// `Upload-Metadata`: as sent (HEAD echoes it), and its pairs decoded.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Metadata {
    pub raw: String,
    pairs: HashMap<String, Option<String>>,
}

impl Metadata {
    /// The value of `key`, if it was sent with one.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs.get(key).and_then(|v| v.as_deref())
    }
}

/// `Upload-Metadata`, empty when not sent.
pub fn metadata(headers: &HeaderMap) -> Result<Metadata, TusError> {
    let raw = text(headers, &UPLOAD_METADATA)?.unwrap_or("");
    Ok(Metadata {
        raw: raw.to_owned(),
        pairs: parse_metadata(raw)?,
    })
}

/// `key base64,key2 base64,key3` → keys with their decoded values (a key may have none).
fn parse_metadata(header: &str) -> Result<HashMap<String, Option<String>>, TusError> {
    let mut metadata = HashMap::new();
    for pair in header.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let mut parts = pair.split(' ');
        let key = parts.next().unwrap_or("");
        let value = parts.next();
        if key.is_empty() || parts.next().is_some() {
            return Err(TusError::InvalidMetadataPair(pair.to_owned()));
        }
        let value = value
            .map(|v| {
                base64::engine::general_purpose::STANDARD
                    .decode(v)
                    .ok()
                    .and_then(|bytes| String::from_utf8(bytes).ok())
                    .ok_or_else(|| TusError::MetadataNotBase64(key.to_owned()))
            })
            .transpose()?;
        metadata.insert(key.to_owned(), value);
    }
    Ok(metadata)
}

/// An `Upload-Checksum` being verified over a body.
pub enum Checksum {
    Sha1(Sha1, Vec<u8>),
    Sha256(Sha256, Vec<u8>),
}

impl Checksum {
    pub fn update(&mut self, bytes: &[u8]) {
        match self {
            Checksum::Sha1(hasher, _) => hasher.update(bytes),
            Checksum::Sha256(hasher, _) => hasher.update(bytes),
        }
    }

    /// Whether the bytes seen are the ones the client summed.
    pub fn matches(self) -> bool {
        match self {
            Checksum::Sha1(hasher, expected) => hasher.finalize().as_slice() == expected,
            Checksum::Sha256(hasher, expected) => hasher.finalize().as_slice() == expected,
        }
    }
}

/// `Upload-Checksum: algorithm base64digest` (checksum extension), if sent: the sum to verify
/// the body against. A body announced larger than [`MAX_CHECKSUMMED_BODY`] is refused before
/// a byte is read (`body::write_body` stops one without a length at the same bound).
pub fn checksum(headers: &HeaderMap) -> Result<Option<Checksum>, TusError> {
    let Some(value) = text(headers, &UPLOAD_CHECKSUM)? else {
        return Ok(None);
    };
    let announced = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|len| len > MAX_CHECKSUMMED_BODY) {
        return Err(TusError::ChecksummedBodyTooLarge {
            max: MAX_CHECKSUMMED_BODY,
        });
    }
    let (algorithm, digest) = value
        .trim()
        .split_once(' ')
        .ok_or(TusError::InvalidChecksum)?;
    let digest = base64::engine::general_purpose::STANDARD
        .decode(digest.trim())
        .map_err(|_| TusError::ChecksumNotBase64)?;
    match algorithm.to_ascii_lowercase().as_str() {
        "sha1" => Ok(Some(Checksum::Sha1(Sha1::new(), digest))),
        "sha256" => Ok(Some(Checksum::Sha256(Sha256::new(), digest))),
        other => Err(TusError::UnsupportedChecksumAlgorithm(other.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Headers from `(name, value)` lines, in order (a name may repeat).
    fn headers(lines: &[(&str, &[u8])]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in lines {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_bytes(value).unwrap(),
            );
        }
        map
    }

    const NOT_TEXT: &[u8] = b"\xff\xfe";
    /// `Upload-Checksum`s of the bytes `abc`.
    const SHA1: &[u8] = b"sha1 qZk+NkcGgWq6PiVxeFDCbJzQ2J0=";
    const SHA256: &[u8] = b"sha256 ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=";

    /// A request's header lines, in order (a name may repeat).
    type Lines = &'static [(&'static str, &'static [u8])];
    /// Header lines, and what parsing them gives: a value, or the refusal's variant.
    type Case<T> = (Lines, Result<T, &'static str>);

    /// Runs `parse` over each case's headers and compares.
    fn table<T: PartialEq + std::fmt::Debug>(
        parse: impl Fn(&HeaderMap) -> Result<T, TusError>,
        cases: &[Case<T>],
    ) {
        for (lines, expected) in cases {
            let got = parse(&headers(lines)).map_err(variant);
            assert_eq!(&got, expected, "{lines:?}");
        }
    }

    #[test]
    fn the_version_must_be_sent_and_be_1_0_0() {
        let cases: &[Case<()>] = &[
            (&[("tus-resumable", b"1.0.0")], Ok(())),
            (&[], Err("MissingVersion")),
            (&[("tus-resumable", b"0.2.2")], Err("UnsupportedVersion")),
            (&[("tus-resumable", b" 1.0.0")], Err("UnsupportedVersion")),
            (&[("tus-resumable", b"")], Err("UnsupportedVersion")),
            (&[("tus-resumable", NOT_TEXT)], Err("UnsupportedVersion")),
            (
                &[("tus-resumable", b"1.0.0"), ("tus-resumable", b"0.2.2")],
                Ok(()),
            ),
        ];
        table(check_version, cases);
    }

    #[test]
    fn a_creation_has_a_length_or_defers_it() {
        let cases: &[Case<Option<u64>>] = &[
            (&[("upload-length", b"1024")], Ok(Some(1024))),
            (&[("upload-length", b" 1024 ")], Ok(Some(1024))),
            (&[("upload-length", b"0")], Ok(Some(0))),
            (
                &[("upload-length", b"18446744073709551615")],
                Ok(Some(u64::MAX)),
            ),
            (&[("upload-defer-length", b"1")], Ok(None)),
            (&[], Err("MissingLength")),
            (&[("upload-length", b"")], Err("InvalidLength")),
            (&[("upload-length", b"-1")], Err("InvalidLength")),
            (&[("upload-length", b"1e6")], Err("InvalidLength")),
            (&[("upload-length", b"12 bytes")], Err("InvalidLength")),
            (&[("upload-length", b"0x10")], Err("InvalidLength")),
            (
                &[("upload-length", b"18446744073709551616")],
                Err("InvalidLength"),
            ),
            (&[("upload-length", b"5, 7")], Err("InvalidLength")),
            (&[("upload-length", NOT_TEXT)], Err("NotText")),
            (&[("upload-defer-length", b"0")], Err("InvalidDeferLength")),
            (
                &[("upload-defer-length", b"yes")],
                Err("InvalidDeferLength"),
            ),
            (
                &[("upload-length", b"10"), ("upload-defer-length", b"1")],
                Err("LengthAndDeferLength"),
            ),
            (
                &[("upload-length", b"10"), ("upload-length", b"20")],
                Ok(Some(10)),
            ),
        ];
        table(creation_length, cases);
    }

    #[test]
    fn a_patch_may_give_a_deferred_length() {
        let cases: &[Case<Option<u64>>] = &[
            (&[], Ok(None)),
            (&[("upload-length", b"2048")], Ok(Some(2048))),
            (&[("upload-length", b"lots")], Err("InvalidLength")),
            (&[("upload-length", NOT_TEXT)], Err("NotText")),
            // Only a creation defers: a PATCH's Upload-Defer-Length means nothing.
            (&[("upload-defer-length", b"1")], Ok(None)),
        ];
        table(patch_length, cases);
    }

    #[test]
    fn a_patch_says_where_its_bytes_start() {
        let cases: &[Case<u64>] = &[
            (&[("upload-offset", b"0")], Ok(0)),
            (&[("upload-offset", b"8388608")], Ok(8_388_608)),
            (&[("upload-offset", b" 42 ")], Ok(42)),
            (&[], Err("MissingOffset")),
            (&[("upload-offset", b"")], Err("InvalidOffset")),
            (&[("upload-offset", b"-5")], Err("InvalidOffset")),
            (&[("upload-offset", b"5.0")], Err("InvalidOffset")),
            (
                &[("upload-offset", b"99999999999999999999")],
                Err("InvalidOffset"),
            ),
            (&[("upload-offset", b"5, 7")], Err("InvalidOffset")),
            (&[("upload-offset", NOT_TEXT)], Err("NotText")),
            (&[("upload-offset", b"5"), ("upload-offset", b"7")], Ok(5)),
        ];
        table(offset, cases);
    }

    #[test]
    fn upload_concat_is_partial_or_final_with_its_parts() {
        let cases: &[Case<Option<Concat>>] = &[
            (&[], Ok(None)),
            (&[("upload-concat", b"partial")], Ok(Some(Concat::Partial))),
            (
                &[("upload-concat", b"final;/v1/uploads/a /v1/uploads/b")],
                Ok(Some(Concat::Final("/v1/uploads/a /v1/uploads/b".into()))),
            ),
            (
                &[("upload-concat", b"final; /v1/uploads/a ")],
                Ok(Some(Concat::Final("/v1/uploads/a".into()))),
            ),
            (
                &[("upload-concat", b"final;")],
                Ok(Some(Concat::Final("".into()))),
            ),
            (&[("upload-concat", b"Partial")], Err("InvalidConcat")),
            (&[("upload-concat", b"final")], Err("InvalidConcat")),
            (&[("upload-concat", b"")], Err("InvalidConcat")),
            (&[("upload-concat", NOT_TEXT)], Err("NotText")),
        ];
        table(concat, cases);
    }

    #[test]
    fn a_final_upload_names_at_least_one_upload_url() {
        let a = format!("upl_{}", "a".repeat(32));
        let b = format!("upl_{}", "0123456789abcdef".repeat(2));
        let ids = |parts: &str| -> Result<Vec<String>, &'static str> {
            final_parts(parts)
                .map(|parts| parts.iter().map(|(_, id)| id.to_string()).collect())
                .map_err(variant)
        };
        assert_eq!(ids(&a), Ok(vec![a.clone()]));
        assert_eq!(
            ids(&format!(
                "https://example.test/v1/uploads/{a} /v1/uploads/{b}/"
            )),
            Ok(vec![a.clone(), b.clone()])
        );
        assert_eq!(ids(&format!("{b}  {a}")), Ok(vec![b.clone(), a.clone()]));
        assert_eq!(ids(""), Err("NoPartials"));
        assert_eq!(ids("   "), Err("NoPartials"));
        assert_eq!(ids(&format!("{a} /v1/uploads/nope")), Err("NotAnUploadUrl"));
        assert_eq!(ids("/v1/uploads/upl_short"), Err("NotAnUploadUrl"));
        assert_eq!(ids(&format!("/v1/uploads/{a}?x=1")), Err("NotAnUploadUrl"));
        let parts = format!("/v1/uploads/{a}");
        assert_eq!(final_parts(&parts).unwrap()[0].0, parts, "the URL as sent");
    }

    #[test]
    fn upload_metadata_pairs_are_keys_with_base64_values() {
        type Pairs = &'static [(&'static str, Option<&'static str>)];
        let cases: &[(&[u8], Result<Pairs, &str>)] = &[
            (b"", Ok(&[])),
            (
                b"filename bXkgY2xpcC5tcDQ=,filetype dmlkZW8vbXA0",
                Ok(&[
                    ("filename", Some("my clip.mp4")),
                    ("filetype", Some("video/mp4")),
                ]),
            ),
            (b"is_draft", Ok(&[("is_draft", None)])),
            (
                b" title aGk= , , is_draft ",
                Ok(&[("title", Some("hi")), ("is_draft", None)]),
            ),
            (b"title a b", Err("InvalidMetadataPair")),
            (b"title  aGk=", Err("InvalidMetadataPair")),
            (b"title not-base64!", Err("MetadataNotBase64")),
            (b"title //79", Err("MetadataNotBase64")),
        ];
        for (raw, expected) in cases {
            let got = metadata(&headers(&[("upload-metadata", raw)]));
            match (got, expected) {
                (Ok(metadata), Ok(pairs)) => {
                    assert_eq!(metadata.raw.as_bytes(), *raw);
                    assert_eq!(metadata.pairs.len(), pairs.len(), "{raw:?}");
                    for (key, value) in *pairs {
                        assert_eq!(metadata.pairs.get(*key).map(Option::as_deref), Some(*value));
                    }
                }
                (Err(e), Err(expected)) => assert_eq!(variant(e), *expected, "{raw:?}"),
                (got, _) => panic!("{raw:?}: {got:?}, expected {expected:?}"),
            }
        }
        assert_eq!(metadata(&HeaderMap::new()).unwrap(), Metadata::default());
        assert_eq!(
            variant(metadata(&headers(&[("upload-metadata", NOT_TEXT)])).unwrap_err()),
            "NotText"
        );
        let sent = metadata(&headers(&[("upload-metadata", b"title aGk=,flag")])).unwrap();
        assert_eq!(sent.get("title"), Some("hi"));
        assert_eq!(sent.get("flag"), None, "a key without a value");
        assert_eq!(sent.get("filename"), None);
    }

    #[test]
    fn upload_checksum_names_an_algorithm_and_a_base64_digest() {
        let cases: &[Case<Option<&str>>] = &[
            (&[], Ok(None)),
            (&[("upload-checksum", SHA1)], Ok(Some("sha1"))),
            (&[("upload-checksum", SHA256)], Ok(Some("sha256"))),
            (
                &[(
                    "upload-checksum",
                    b"SHA256 ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=",
                )],
                Ok(Some("sha256")),
            ),
            (&[("upload-checksum", b"sha1")], Err("InvalidChecksum")),
            (&[("upload-checksum", b"")], Err("InvalidChecksum")),
            (
                &[("upload-checksum", b"sha1 not base64!")],
                Err("ChecksumNotBase64"),
            ),
            (
                &[("upload-checksum", b"md5 kAFQmDzST7DWlj99KOF/cg==")],
                Err("UnsupportedChecksumAlgorithm"),
            ),
            (&[("upload-checksum", NOT_TEXT)], Err("NotText")),
            (
                &[("upload-checksum", SHA1), ("content-length", b"67108864")],
                Ok(Some("sha1")),
            ),
            (
                &[("upload-checksum", SHA1), ("content-length", b"67108865")],
                Err("ChecksummedBodyTooLarge"),
            ),
            // The bound comes first: nothing of a body too large to verify is worth parsing.
            (
                &[
                    ("upload-checksum", b"md5 x"),
                    ("content-length", b"67108865"),
                ],
                Err("ChecksummedBodyTooLarge"),
            ),
            (
                &[("upload-checksum", SHA1), ("upload-checksum", b"md5 x")],
                Ok(Some("sha1")),
            ),
        ];
        let algorithm = |headers: &HeaderMap| {
            checksum(headers).map(|sum| {
                sum.map(|sum| match sum {
                    Checksum::Sha1(..) => "sha1",
                    Checksum::Sha256(..) => "sha256",
                })
            })
        };
        table(algorithm, cases);
    }

    #[test]
    fn a_checksum_matches_only_the_bytes_it_was_made_of() {
        let sum = |value: &[u8]| checksum(&headers(&[("upload-checksum", value)])).unwrap();

        let mut whole = sum(SHA256).unwrap();
        whole.update(b"abc");
        assert!(whole.matches());

        let mut in_pieces = sum(SHA1).unwrap();
        in_pieces.update(b"a");
        in_pieces.update(b"bc");
        assert!(in_pieces.matches());

        let mut other = sum(SHA256).unwrap();
        other.update(b"abd");
        assert!(!other.matches());

        let mut short = sum(SHA256).unwrap();
        short.update(b"ab");
        assert!(!short.matches());
    }

    #[test]
    fn the_body_is_upload_bytes_only_with_the_offset_stream_type() {
        let cases: &[(Lines, bool)] = &[
            (
                &[("content-type", b"application/offset+octet-stream")],
                true,
            ),
            (
                &[("content-type", b"Application/Offset+Octet-Stream")],
                true,
            ),
            (
                &[(
                    "content-type",
                    b"application/offset+octet-stream; charset=x",
                )],
                true,
            ),
            (&[("content-type", b"application/octet-stream")], false),
            (&[("content-type", NOT_TEXT)], false),
            (&[], false),
        ];
        for (lines, expected) in cases {
            assert_eq!(is_offset_stream(&headers(lines)), *expected, "{lines:?}");
        }
    }

    /// The variant's name: what the tables compare (messages are `http::error`'s tests' job).
    fn variant(e: TusError) -> &'static str {
        use TusError::*;
        match e {
            MissingVersion => "MissingVersion",
            UnsupportedVersion => "UnsupportedVersion",
            NotText(_) => "NotText",
            MissingLength => "MissingLength",
            LengthAndDeferLength => "LengthAndDeferLength",
            InvalidDeferLength => "InvalidDeferLength",
            InvalidLength(_) => "InvalidLength",
            MissingOffset => "MissingOffset",
            InvalidOffset(_) => "InvalidOffset",
            InvalidConcat => "InvalidConcat",
            NotAnUploadUrl(_) => "NotAnUploadUrl",
            NoPartials => "NoPartials",
            InvalidMetadataPair(_) => "InvalidMetadataPair",
            MetadataNotBase64(_) => "MetadataNotBase64",
            InvalidChecksum => "InvalidChecksum",
            ChecksumNotBase64 => "ChecksumNotBase64",
            UnsupportedChecksumAlgorithm(_) => "UnsupportedChecksumAlgorithm",
            ChecksummedBodyTooLarge { .. } => "ChecksummedBodyTooLarge",
            other => panic!("not a header error: {other:?}"),
        }
    }
}
