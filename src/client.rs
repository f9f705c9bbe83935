//! `vitrine upload FILE`: a small client of the public API. Streams the file (never reads it
//! whole), shows upload progress, then follows the transcode until the video is ready or failed.

use std::{path::Path, time::Duration};

use anyhow::{bail, Context};
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;
use tokio_util::io::ReaderStream;

pub struct UploadArgs<'a> {
    pub server: &'a str,
    pub token: &'a str,
    pub file: &'a Path,
    pub title: Option<&'a str>,
    pub wait: bool,
}

/// Uploads and returns the final video object.
pub async fn upload(args: UploadArgs<'_>) -> anyhow::Result<Value> {
    let file = tokio::fs::File::open(args.file)
        .await
        .with_context(|| format!("opening {}", args.file.display()))?;
    let size = file.metadata().await?.len();
    let bar = ProgressBar::new(size).with_style(
        ProgressStyle::with_template(
            "{msg:9} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
        )?
        .progress_chars("=> "),
    );
    bar.set_message("uploading");
    let counted = {
        let bar = bar.clone();
        ReaderStream::with_capacity(file, 256 * 1024).inspect(move |chunk| {
            if let Ok(chunk) = chunk {
                bar.inc(chunk.len() as u64);
            }
        })
    };
    let title = args.title.map(str::to_owned).unwrap_or_else(|| {
        args.file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "Untitled".into())
    });
    let client = reqwest::Client::new();
    let response = client
        .post(format!("{}/v1/videos", args.server.trim_end_matches('/')))
        .query(&[("title", title.as_str())])
        .bearer_auth(args.token)
        .header("content-type", "application/octet-stream")
        .header("content-length", size)
        .body(reqwest::Body::wrap_stream(counted))
        .send()
        .await
        .with_context(|| format!("sending to {}", args.server))?;
    bar.finish_and_clear();
    let video = json_or_error(response).await?;
    let id = video["id"]
        .as_str()
        .context("response has no video id")?
        .to_owned();
    eprintln!("uploaded {} as {id}", args.file.display());
    if !args.wait {
        return Ok(video);
    }

    let bar = ProgressBar::new(1000).with_style(ProgressStyle::with_template(
        "{msg:10} [{bar:30}] {percent}% {elapsed}",
    )?);
    loop {
        let video = json_or_error(
            client
                .get(format!(
                    "{}/v1/videos/{id}",
                    args.server.trim_end_matches('/')
                ))
                .send()
                .await?,
        )
        .await?;
        let status = video["status"].as_str().unwrap_or("unknown").to_owned();
        bar.set_message(status.clone());
        bar.set_position((video["progress"].as_f64().unwrap_or(0.0) * 1000.0) as u64);
        if status == "ready" || status == "failed" {
            bar.finish_and_clear();
            return Ok(video);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn json_or_error(response: reqwest::Response) -> anyhow::Result<Value> {
    let status = response.status();
    let body: Value = response
        .json()
        .await
        .context("reading the server's answer")?;
    if !status.is_success() {
        let message = body["error"]["message"].as_str().unwrap_or("unknown error");
        let code = body["error"]["code"].as_str().unwrap_or("error");
        bail!("server answered {status}: {code}: {message}");
    }
    Ok(body)
}
