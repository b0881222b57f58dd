//! A real S3-compatible server on loopback for the scale-out suites: `moto` in server mode
//! (PyPI `moto[server]`, installed by `.ci/run`), a process of its own, with one bucket. The
//! suites look at the bucket over plain HTTP, not through the gateway's own client: moto wants
//! an `Authorization` header but does not check its signature, so a fixed one does.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct S3Server {
    child: Child,
    pub endpoint: String,
    pub bucket: String,
}

impl S3Server {
    /// Starts moto on a free port and creates `bucket`.
    pub async fn start(bucket: &str) -> S3Server {
        let port = super::free_port();
        let child = Command::new("python3")
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 -m moto.server (pip install 'moto[server]')");
        let server = S3Server {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            bucket: bucket.to_string(),
        };
        let client = reqwest::Client::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = client
                .put(format!("{}/{bucket}", server.endpoint))
                .send()
                .await
                && r.status().is_success()
            {
                return server;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "moto did not start (is `moto[server]` installed?)"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The variables a gateway reads its S3 settings from.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT_URL", self.endpoint.as_str()),
            ("AWS_ALLOW_HTTP", "true"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        reqwest::Client::new()
            .request(method, format!("{}/{}{path}", self.endpoint, self.bucket))
            .header(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/s3/aws4_request, \
                 SignedHeaders=host, Signature=00",
            )
    }

    /// Writes an object behind the gateway's back.
    pub async fn put_object(&self, key: &str, data: Vec<u8>) {
        let r = self
            .request(reqwest::Method::PUT, &format!("/{key}"))
            .header("content-type", "application/octet-stream")
            .body(data)
            .send()
            .await
            .expect("moto answers");
        assert!(r.status().is_success(), "moto answered {}", r.status());
    }

    /// The object's bytes, None when there is no such object.
    pub async fn object(&self, key: &str) -> Option<Vec<u8>> {
        let r = self
            .request(reqwest::Method::GET, &format!("/{key}"))
            .send()
            .await
            .expect("moto answers");
        match r.status().as_u16() {
            200 => Some(r.bytes().await.unwrap().to_vec()),
            404 => None,
            other => panic!("moto answered {other} for {key}"),
        }
    }

    /// The keys of every object in the bucket (ListObjectsV2, one page: the suites store few).
    pub async fn keys(&self) -> Vec<String> {
        let xml = self
            .request(reqwest::Method::GET, "?list-type=2&max-keys=1000")
            .send()
            .await
            .expect("moto answers")
            .text()
            .await
            .unwrap();
        xml.split("<Key>")
            .skip(1)
            .filter_map(|s| s.split("</Key>").next())
            .map(str::to_string)
            .collect()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
