//! The S3 store: objects in one bucket of any S3-compatible service (AWS, MinIO, Garage, moto).
//!
//! Large uploads go through multipart upload so a file never has to fit in memory and a failed
//! part is retried alone: files above [`MULTIPART_THRESHOLD`] are sent as [`PART_SIZE`] parts,
//! [`UPLOAD_CONCURRENCY`] at a time, read straight from disk; streams are buffered one part at a
//! time. A multipart upload that fails or is cancelled is aborted, so no orphaned parts linger
//! (S3 keeps, and bills, the parts of an unfinished upload until it is aborted).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::{BehaviorVersion, Region};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::{ByteStream, Length};
use aws_sdk_s3::types::{
    BucketLocationConstraint, CompletedMultipartUpload, CompletedPart, CreateBucketConfiguration,
    Delete, ObjectIdentifier,
};
use aws_sdk_s3::Client;
use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt as _, TryStreamExt as _};

use crate::atomic_file::AtomicFile;
use crate::key::{validate_key, validate_prefix};
use crate::range::parse_content_range;
use crate::{ByteRange, Object, ObjectMeta, StoreError};

/// Size of each part of a multipart upload (S3's minimum is 5 MiB for all but the last part).
pub const PART_SIZE: usize = 8 * 1024 * 1024;
/// Files larger than this are uploaded in parts; smaller ones with a single `PutObject`.
pub const MULTIPART_THRESHOLD: u64 = 16 * 1024 * 1024;
/// Parts of one file uploaded at the same time.
pub const UPLOAD_CONCURRENCY: usize = 4;
/// S3's limit on the parts of one upload; files beyond `PART_SIZE * MAX_PARTS` get larger parts.
const MAX_PARTS: u64 = 10_000;
/// S3's limit on the keys of one `DeleteObjects` request.
const DELETE_BATCH: usize = 1000;

/// Where the S3 store keeps its objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Config {
    /// Endpoint of an S3-compatible service, e.g. `http://127.0.0.1:9000`; `None` for AWS.
    pub endpoint: Option<String>,
    /// The bucket holding every object.
    pub bucket: String,
    /// The bucket's region, e.g. `us-east-1` (most S3-compatible services accept any).
    pub region: String,
    /// Address the bucket as `endpoint/bucket/key` rather than `bucket.endpoint/key`; needed by
    /// most self-hosted services, which have no wildcard DNS.
    pub path_style: bool,
}

#[derive(Debug, Clone)]
pub struct S3Store {
    client: Client,
    bucket: Arc<str>,
    region: Arc<str>,
}

impl S3Store {
    /// Builds a client for `cfg`, taking credentials from the standard AWS chain
    /// (`AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`, profile files, instance roles).
    ///
    /// Makes no request: a wrong endpoint or credentials show up on the first operation.
    pub async fn connect(cfg: &S3Config) -> anyhow::Result<S3Store> {
        anyhow::ensure!(!cfg.bucket.is_empty(), "S3 bucket name is empty");
        let mut loader =
            aws_config::defaults(BehaviorVersion::latest()).region(Region::new(cfg.region.clone()));
        if let Some(endpoint) = &cfg.endpoint {
            loader = loader.endpoint_url(endpoint);
        }
        // The SDK's default since 2025 sends every streamed body (a file, a part) as
        // `aws-chunked` with a checksum trailer; S3-compatible servers differ in what they make
        // of it (Garage 2.5 refuses it as "Invalid payload signature" over plain HTTP). Bodies
        // are sent plainly, with checksums only where an operation requires one, unless the
        // standard `AWS_REQUEST_CHECKSUM_CALCULATION` says otherwise.
        if std::env::var_os("AWS_REQUEST_CHECKSUM_CALCULATION").is_none() {
            loader = loader.request_checksum_calculation(
                aws_sdk_s3::config::RequestChecksumCalculation::WhenRequired,
            );
        }
        let sdk_config = loader.load().await;
        let s3_config = aws_sdk_s3::config::Builder::from(&sdk_config)
            .force_path_style(cfg.path_style)
            .build();
        Ok(S3Store {
            client: Client::from_conf(s3_config),
            bucket: cfg.bucket.as_str().into(),
            region: cfg.region.as_str().into(),
        })
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// Creates the bucket unless it exists; meant for development setups and tests.
    pub async fn ensure_bucket(&self) -> anyhow::Result<()> {
        match self.client.head_bucket().bucket(&*self.bucket).send().await {
            Ok(_) => return Ok(()),
            Err(err) if http_status(&err) == Some(404) => {}
            Err(err) => {
                return Err(err).with_context(|| format!("checking bucket {}", self.bucket));
            }
        }
        let mut create = self.client.create_bucket().bucket(&*self.bucket);
        // us-east-1 is the default location and S3 rejects naming it explicitly.
        if &*self.region != "us-east-1" {
            create = create.create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::from(&*self.region))
                    .build(),
            );
        }
        match create.send().await {
            Ok(_) => Ok(()),
            Err(err) if err.code() == Some("BucketAlreadyOwnedByYou") => Ok(()),
            Err(err) => Err(err).with_context(|| format!("creating bucket {}", self.bucket)),
        }
    }

    /// A URL from which anyone can GET the object until `expires` has passed (at most 7 days).
    pub async fn presign_get(&self, key: &str, expires: Duration) -> anyhow::Result<String> {
        validate_key(key)?;
        let presigning = PresigningConfig::expires_in(expires).context("presigning expiry")?;
        let request = self
            .client
            .get_object()
            .bucket(&*self.bucket)
            .key(key)
            .presigned(presigning)
            .await
            .with_context(|| format!("presigning GET of {key}"))?;
        Ok(request.uri().to_owned())
    }

    pub async fn put_file(
        &self,
        key: &str,
        path: &Path,
        content_type: &str,
    ) -> Result<u64, StoreError> {
        validate_key(key)?;
        let size = tokio::fs::metadata(path)
            .await
            .with_context(|| format!("reading size of {} to store as {key}", path.display()))?
            .len();
        if size <= MULTIPART_THRESHOLD {
            let body = ByteStream::from_path(path)
                .await
                .with_context(|| format!("opening {} to store as {key}", path.display()))?;
            self.put_object(key, body, content_type).await?;
            return Ok(size);
        }

        let part_size = (PART_SIZE as u64).max(size.div_ceil(MAX_PARTS));
        let part_count = size.div_ceil(part_size);
        let upload = MultipartUpload::start(self, key, content_type).await?;
        let parts = futures::stream::iter(0..part_count)
            .map(|index| {
                let upload = &upload;
                async move {
                    let offset = index * part_size;
                    let body = ByteStream::read_from()
                        .path(path)
                        .offset(offset)
                        .length(Length::Exact(part_size.min(size - offset)))
                        .build()
                        .await
                        .with_context(|| {
                            format!("reading part {} of {}", index + 1, path.display())
                        })?;
                    upload.upload_part(index + 1, body).await
                }
            })
            .buffer_unordered(UPLOAD_CONCURRENCY)
            .try_collect::<Vec<_>>()
            .await;
        upload.finish(parts).await?;
        Ok(size)
    }

    pub async fn put_bytes(
        &self,
        key: &str,
        bytes: Bytes,
        content_type: &str,
    ) -> Result<(), StoreError> {
        validate_key(key)?;
        self.put_object(key, bytes.into(), content_type).await
    }

    pub async fn put_stream<S>(
        &self,
        key: &str,
        mut stream: S,
        content_type: &str,
    ) -> Result<u64, StoreError>
    where
        S: Stream<Item = std::io::Result<Bytes>> + Send + Unpin,
    {
        validate_key(key)?;
        let mut buffer = BytesMut::new();
        let mut total = 0;
        let mut upload = None;
        let mut parts = Vec::new();
        // Parts are cut only once more data follows them, so the last part is never empty and a
        // stream of at most one part goes out as a single PutObject.
        let streamed: Result<(), StoreError> = async {
            while let Some(chunk) = stream.next().await {
                let chunk =
                    chunk.with_context(|| format!("reading the stream to store as {key}"))?;
                total += chunk.len() as u64;
                buffer.extend_from_slice(&chunk);
                while buffer.len() > PART_SIZE {
                    let part = buffer.split_to(PART_SIZE).freeze();
                    if upload.is_none() {
                        upload = Some(MultipartUpload::start(self, key, content_type).await?);
                    }
                    let upload = upload.as_ref().expect("started above");
                    parts.push(
                        upload
                            .upload_part(parts.len() as u64 + 1, part.into())
                            .await?,
                    );
                }
            }
            if let Some(upload) = &upload {
                let last = buffer.split().freeze();
                parts.push(
                    upload
                        .upload_part(parts.len() as u64 + 1, last.into())
                        .await?,
                );
            }
            Ok(())
        }
        .await;
        match upload {
            Some(upload) => upload.finish(streamed.map(|()| parts)).await?,
            None => {
                streamed?;
                self.put_object(key, buffer.freeze().into(), content_type)
                    .await?;
            }
        }
        Ok(total)
    }

    pub async fn get_to_file(&self, key: &str, path: &Path) -> Result<u64, StoreError> {
        let mut body = self.get_object(key, None).await?.body;
        let mut file = AtomicFile::create(path)
            .await
            .with_context(|| format!("creating {}", path.display()))?;
        let mut written = 0;
        while let Some(chunk) = body
            .try_next()
            .await
            .with_context(|| format!("downloading {key}"))?
        {
            file.write_all(&chunk)
                .await
                .with_context(|| format!("writing {}", path.display()))?;
            written += chunk.len() as u64;
        }
        file.commit()
            .await
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(written)
    }

    pub async fn get_bytes(&self, key: &str) -> Result<Bytes, StoreError> {
        let output = self.get_object(key, None).await?;
        let bytes = output
            .body
            .collect()
            .await
            .with_context(|| format!("downloading {key}"))?;
        Ok(bytes.into_bytes())
    }

    pub async fn get(&self, key: &str, range: Option<ByteRange>) -> Result<Object, StoreError> {
        // S3 answers `bytes=-0` with the whole object; it selects nothing (RFC 9110 §14.1.2).
        if range == Some(ByteRange::Suffix(0)) {
            return Err(StoreError::InvalidRange);
        }
        let output = self.get_object(key, range).await?;
        let len = output.content_length().unwrap_or(0).try_into().unwrap_or(0);
        let (total, served) = match output.content_range().and_then(parse_content_range) {
            Some((first, last, total)) => (total, Some((first, last))),
            // A range was asked for but the whole object came back (200, not 206).
            None => (len, range.filter(|_| len > 0).map(|_| (0, len - 1))),
        };
        let content_type = output.content_type().map(str::to_owned);
        let body = futures::stream::try_unfold(output.body, |mut body| async move {
            match body.try_next().await {
                Ok(Some(chunk)) => Ok(Some((chunk, body))),
                Ok(None) => Ok(None),
                Err(err) => Err(std::io::Error::other(err)),
            }
        });
        Ok(Object {
            body: body.boxed(),
            len,
            total,
            range: served,
            content_type,
        })
    }

    pub async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StoreError> {
        validate_key(key)?;
        let result = self
            .client
            .head_object()
            .bucket(&*self.bucket)
            .key(key)
            .send()
            .await;
        match result {
            Ok(output) => Ok(Some(ObjectMeta {
                size: output.content_length().unwrap_or(0).try_into().unwrap_or(0),
                content_type: output.content_type().map(str::to_owned),
            })),
            Err(err) => match sdk_error(err, "HeadObject", &self.bucket, key) {
                StoreError::NotFound(_) => Ok(None),
                other => Err(other),
            },
        }
    }

    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        validate_key(key)?;
        let result = self
            .client
            .delete_object()
            .bucket(&*self.bucket)
            .key(key)
            .send()
            .await;
        match result.map_err(|err| sdk_error(err, "DeleteObject", &self.bucket, key)) {
            Ok(_) | Err(StoreError::NotFound(_)) => Ok(()),
            Err(err) => Err(err),
        }
    }

    /// Deletes every object whose key starts with `prefix`; the empty prefix is refused.
    pub async fn delete_prefix(&self, prefix: &str) -> Result<u64, StoreError> {
        if prefix.is_empty() {
            return Err(StoreError::InvalidKey(prefix.to_owned()));
        }
        let keys = self.list(prefix).await?;
        for batch in keys.chunks(DELETE_BATCH) {
            let objects = batch
                .iter()
                .map(|key| ObjectIdentifier::builder().key(key).build())
                .collect::<Result<Vec<_>, _>>()
                .context("building DeleteObjects request")?;
            let delete = Delete::builder()
                .set_objects(Some(objects))
                .quiet(true)
                .build()
                .context("building DeleteObjects request")?;
            let output = self
                .client
                .delete_objects()
                .bucket(&*self.bucket)
                .delete(delete)
                .send()
                .await
                .map_err(|err| sdk_error(err, "DeleteObjects", &self.bucket, prefix))?;
            // DeleteObjects succeeds as a whole and reports failures per key.
            if let Some(failure) = output.errors().first() {
                return Err(anyhow::anyhow!(
                    "deleting {} of {} objects under {prefix:?} in bucket {} failed, first {:?}: {} {}",
                    output.errors().len(),
                    batch.len(),
                    self.bucket,
                    failure.key().unwrap_or_default(),
                    failure.code().unwrap_or_default(),
                    failure.message().unwrap_or_default(),
                )
                .into());
            }
        }
        tracing::debug!(bucket = %self.bucket, prefix, deleted = keys.len(), "deleted prefix");
        Ok(keys.len() as u64)
    }

    /// Keys starting with `prefix`, sorted (S3 lists in UTF-8 byte order, as `str::cmp` sorts).
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        validate_prefix(prefix)?;
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&*self.bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        let mut keys = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|err| sdk_error(err, "ListObjectsV2", &self.bucket, prefix))?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|object| object.key().map(str::to_owned)),
            );
        }
        keys.sort_unstable();
        Ok(keys)
    }

    /// Downloads the first `len` bytes of `key` to `path` (a resumable upload's tail object,
    /// which may hold more bytes than were recorded).
    pub(crate) async fn get_prefix_to_file(
        &self,
        key: &str,
        len: u64,
        path: &Path,
    ) -> Result<(), StoreError> {
        validate_key(key)?;
        let mut body = self
            .get_object(key, Some(ByteRange::FromTo(0, len - 1)))
            .await?
            .body;
        let mut file = AtomicFile::create(path)
            .await
            .with_context(|| format!("creating {}", path.display()))?;
        let mut written = 0u64;
        while let Some(chunk) = body
            .try_next()
            .await
            .with_context(|| format!("downloading {key}"))?
        {
            let keep = chunk
                .len()
                .min(usize::try_from(len - written).unwrap_or(usize::MAX));
            file.write_all(&chunk[..keep])
                .await
                .with_context(|| format!("writing {}", path.display()))?;
            written += keep as u64;
        }
        if written != len {
            return Err(anyhow::anyhow!("{key} holds {written} bytes, {len} were recorded").into());
        }
        file.commit()
            .await
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(())
    }

    /// Starts a multipart upload to `key` that outlives this process (see [`crate::resumable`]).
    pub(crate) async fn create_multipart(&self, key: &str) -> Result<String, StoreError> {
        validate_key(key)?;
        let output = self
            .client
            .create_multipart_upload()
            .bucket(&*self.bucket)
            .key(key)
            .content_type("application/octet-stream")
            .send()
            .await
            .map_err(|err| sdk_error(err, "CreateMultipartUpload", &self.bucket, key))?;
        Ok(output
            .upload_id()
            .context("CreateMultipartUpload returned no upload id")?
            .to_owned())
    }

    /// Sends the file at `path` as part `number`, returning its ETag.
    pub(crate) async fn upload_part_from_file(
        &self,
        key: &str,
        upload_id: &str,
        number: u32,
        path: &Path,
    ) -> Result<String, StoreError> {
        let body = ByteStream::from_path(path)
            .await
            .with_context(|| format!("opening {}", path.display()))?;
        let output = self
            .client
            .upload_part()
            .bucket(&*self.bucket)
            .key(key)
            .upload_id(upload_id)
            .part_number(i32::try_from(number).context("part number")?)
            .body(body)
            .send()
            .await
            .map_err(|err| sdk_error(err, "UploadPart", &self.bucket, key))?;
        Ok(output
            .e_tag()
            .context("UploadPart returned no ETag")?
            .to_owned())
    }

    /// Completes a multipart upload from `(number, etag)` pairs.
    pub(crate) async fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        parts: Vec<(u32, String)>,
    ) -> Result<(), StoreError> {
        let parts = parts
            .into_iter()
            .map(|(number, etag)| {
                Ok(CompletedPart::builder()
                    .part_number(i32::try_from(number).context("part number")?)
                    .e_tag(etag)
                    .build())
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        self.client
            .complete_multipart_upload()
            .bucket(&*self.bucket)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
            .map_err(|err| sdk_error(err, "CompleteMultipartUpload", &self.bucket, key))?;
        Ok(())
    }

    /// Aborts a multipart upload; one already gone counts as aborted.
    pub(crate) async fn abort_multipart(
        &self,
        key: &str,
        upload_id: &str,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .abort_multipart_upload()
            .bucket(&*self.bucket)
            .key(key)
            .upload_id(upload_id)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) => match sdk_error(err, "AbortMultipartUpload", &self.bucket, key) {
                StoreError::NotFound(_) => Ok(()),
                other => Err(other),
            },
        }
    }

    async fn put_object(
        &self,
        key: &str,
        body: ByteStream,
        content_type: &str,
    ) -> Result<(), StoreError> {
        self.client
            .put_object()
            .bucket(&*self.bucket)
            .key(key)
            .content_type(content_type)
            .body(body)
            .send()
            .await
            .map_err(|err| sdk_error(err, "PutObject", &self.bucket, key))?;
        Ok(())
    }

    async fn get_object(
        &self,
        key: &str,
        range: Option<ByteRange>,
    ) -> Result<aws_sdk_s3::operation::get_object::GetObjectOutput, StoreError> {
        validate_key(key)?;
        self.client
            .get_object()
            .bucket(&*self.bucket)
            .key(key)
            .set_range(range.map(ByteRange::to_header))
            .send()
            .await
            .map_err(|err| sdk_error(err, "GetObject", &self.bucket, key))
    }
}

/// A multipart upload in progress. Dropped without [`MultipartUpload::finish`] — the request
/// was cancelled — it still aborts the upload, from a spawned task.
struct MultipartUpload {
    client: Client,
    bucket: Arc<str>,
    key: String,
    upload_id: String,
    finished: bool,
}

impl MultipartUpload {
    async fn start(
        store: &S3Store,
        key: &str,
        content_type: &str,
    ) -> Result<MultipartUpload, StoreError> {
        let output = store
            .client
            .create_multipart_upload()
            .bucket(&*store.bucket)
            .key(key)
            .content_type(content_type)
            .send()
            .await
            .map_err(|err| sdk_error(err, "CreateMultipartUpload", &store.bucket, key))?;
        let upload_id = output
            .upload_id()
            .context("CreateMultipartUpload returned no upload id")?
            .to_owned();
        tracing::debug!(bucket = %store.bucket, key, upload_id, "started multipart upload");
        Ok(MultipartUpload {
            client: store.client.clone(),
            bucket: store.bucket.clone(),
            key: key.to_owned(),
            upload_id,
            finished: false,
        })
    }

    /// Uploads part `number` (1-based).
    async fn upload_part(
        &self,
        number: u64,
        body: ByteStream,
    ) -> Result<CompletedPart, StoreError> {
        if number > MAX_PARTS {
            return Err(anyhow::anyhow!("{} needs more than {MAX_PARTS} parts", self.key).into());
        }
        let number = i32::try_from(number).context("part number")?;
        let output = self
            .client
            .upload_part()
            .bucket(&*self.bucket)
            .key(&self.key)
            .upload_id(&self.upload_id)
            .part_number(number)
            .body(body)
            .send()
            .await
            .map_err(|err| sdk_error(err, "UploadPart", &self.bucket, &self.key))?;
        Ok(CompletedPart::builder()
            .part_number(number)
            .set_e_tag(output.e_tag().map(str::to_owned))
            .build())
    }

    /// Completes the upload with `parts` if they all made it, aborts it otherwise.
    async fn finish(
        mut self,
        parts: Result<Vec<CompletedPart>, StoreError>,
    ) -> Result<(), StoreError> {
        self.finished = true;
        let mut parts = match parts {
            Ok(parts) => parts,
            Err(err) => {
                self.abort().await;
                return Err(err);
            }
        };
        parts.sort_by_key(|part| part.part_number());
        let part_count = parts.len();
        let completed = self
            .client
            .complete_multipart_upload()
            .bucket(&*self.bucket)
            .key(&self.key)
            .upload_id(&self.upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await;
        match completed {
            Ok(_) => {
                tracing::debug!(bucket = %self.bucket, key = self.key, part_count, "completed multipart upload");
                Ok(())
            }
            Err(err) => {
                let err = sdk_error(err, "CompleteMultipartUpload", &self.bucket, &self.key);
                self.abort().await;
                Err(err)
            }
        }
    }

    async fn abort(&self) {
        let aborted = abort_upload(&self.client, &self.bucket, &self.key, &self.upload_id).await;
        if let Err(err) = aborted {
            // The original error matters more; a lifecycle rule can clean up what is left.
            tracing::warn!(bucket = %self.bucket, key = self.key, upload_id = self.upload_id, error = format!("{err:#}"), "could not abort multipart upload");
        }
    }
}

impl Drop for MultipartUpload {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (client, bucket) = (self.client.clone(), self.bucket.clone());
        let (key, upload_id) = (
            std::mem::take(&mut self.key),
            std::mem::take(&mut self.upload_id),
        );
        runtime.spawn(async move {
            if let Err(err) = abort_upload(&client, &bucket, &key, &upload_id).await {
                tracing::warn!(%bucket, key, upload_id, error = format!("{err:#}"), "could not abort cancelled multipart upload");
            }
        });
    }
}

async fn abort_upload(
    client: &Client,
    bucket: &str,
    key: &str,
    upload_id: &str,
) -> anyhow::Result<()> {
    client
        .abort_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(upload_id)
        .send()
        .await
        .with_context(|| format!("aborting multipart upload {upload_id} of {bucket}/{key}"))?;
    Ok(())
}

/// Maps the S3 errors callers handle to their `StoreError` variant; keeps the rest whole.
fn sdk_error<E>(
    err: SdkError<E, HttpResponse>,
    operation: &str,
    bucket: &str,
    key: &str,
) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match (err.code(), http_status(&err)) {
        // A 404 for the bucket is a configuration problem, not a missing object.
        (Some("NoSuchBucket"), _) => {}
        (Some("NoSuchKey" | "NotFound"), _) | (_, Some(404)) => {
            return StoreError::NotFound(key.to_owned())
        }
        (Some("InvalidRange"), _) | (_, Some(416)) => return StoreError::InvalidRange,
        _ => {}
    }
    StoreError::Other(anyhow::Error::new(err).context(format!("S3 {operation} of {bucket}/{key}")))
}

fn http_status<E>(err: &SdkError<E, HttpResponse>) -> Option<u16> {
    err.raw_response()
        .map(|response| response.status().as_u16())
}
