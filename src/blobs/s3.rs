//! Files in an S3-compatible bucket (`--blob-store s3://bucket/prefix`), through the
//! `object_store` crate (request signing, retries, streaming). Keys are `prefix` then the
//! local layout, `ab/abcdef…`. Endpoint, region and credentials come from the `AWS_*`
//! variables (`AWS_ENDPOINT_URL`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//! `AWS_SESSION_TOKEN`, `AWS_ALLOW_HTTP=true` for a plain-HTTP endpoint such as a test server).

use super::{Blob, Listed, is_name};
use futures::StreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path;
use object_store::{BackoffConfig, ClientConfigKey, ObjectStore, PutPayload, RetryConfig};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone)]
pub(super) struct Bucket {
    store: Arc<AmazonS3>,
    bucket: String,
    prefix: String,
}

fn io_error(e: object_store::Error) -> std::io::Error {
    std::io::Error::other(e)
}

impl Bucket {
    pub(super) fn new(bucket: &str, prefix: &str) -> std::io::Result<Bucket> {
        // Bounded, because an SMTP client waits on a put: an email whose files cannot be
        // stored is answered `451` (tried again later) within a minute at worst — in a second
        // when the store refuses connections — not after the crate's default three minutes of
        // retries. Reads are slices (`read`), each one request under the same bound.
        let retry = RetryConfig {
            backoff: BackoffConfig::default(),
            max_retries: 3,
            retry_timeout: Duration::from_secs(15),
        };
        // Set one by one: replacing the client options would drop those read from the
        // environment (`AWS_ALLOW_HTTP`).
        let store = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_retry(retry)
            .with_config(
                AmazonS3ConfigKey::Client(ClientConfigKey::ConnectTimeout),
                "5s",
            )
            .with_config(AmazonS3ConfigKey::Client(ClientConfigKey::Timeout), "60s")
            .build()
            .map_err(io_error)?;
        Ok(Bucket {
            store: Arc::new(store),
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
        })
    }

    pub(super) fn describe(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix.trim_end_matches('/'))
    }

    fn key(&self, sha256: &str) -> Path {
        Path::from(format!("{}{}/{sha256}", self.prefix, &sha256[..2]))
    }

    /// Writes the object (an overwrite of the same bytes when it exists: one request either
    /// way, and it brings back an object a removal took meanwhile).
    pub(super) async fn put(&self, sha256: &str, data: &[u8]) -> std::io::Result<()> {
        let payload = PutPayload::from(bytes::Bytes::copy_from_slice(data));
        self.store
            .put(&self.key(sha256), payload)
            .await
            .map_err(io_error)?;
        Ok(())
    }

    /// The object as a stream of ranged GETs of one slice each, fetched as the reader takes
    /// them: each request is short (the client's request timeout bounds one slice), however
    /// slowly a download is read.
    pub(super) async fn read(&self, sha256: &str) -> std::io::Result<Option<Blob>> {
        let key = self.key(sha256);
        let size = match self.store.head(&key).await {
            Ok(meta) => meta.size,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(io_error(e)),
        };
        let store = self.store.clone();
        let stream = futures::stream::try_unfold(0u64, move |offset| {
            let (store, key) = (store.clone(), key.clone());
            async move {
                if offset >= size {
                    return Ok(None);
                }
                let end = (offset + super::SLICE as u64).min(size);
                let slice = store.get_range(&key, offset..end).await.map_err(io_error)?;
                if slice.is_empty() {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the object is shorter than its size",
                    ));
                }
                let next = offset + slice.len() as u64;
                Ok(Some((slice, next)))
            }
        });
        Ok(Some(Blob {
            size,
            stream: stream.boxed(),
        }))
    }

    pub(super) async fn remove(&self, sha256: &str) -> std::io::Result<()> {
        match self.store.delete(&self.key(sha256)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(io_error(e)),
        }
    }

    /// Every object under the prefix named by a digest, with when it was last written.
    pub(super) async fn list(&self) -> std::io::Result<Vec<Listed>> {
        let prefix = Path::from(self.prefix.trim_end_matches('/'));
        let prefix = (!self.prefix.is_empty()).then_some(&prefix);
        let mut objects = self.store.list(prefix);
        let mut found = Vec::new();
        while let Some(meta) = objects.next().await {
            let meta = meta.map_err(io_error)?;
            let Some(name) = meta.location.filename() else {
                continue;
            };
            if is_name(name) && meta.location == self.key(name) {
                found.push(Listed {
                    sha256: name.to_string(),
                    written_at: Some(meta.last_modified.timestamp_millis()),
                });
            }
        }
        found.sort_by(|a, b| a.sha256.cmp(&b.sha256));
        Ok(found)
    }
}
