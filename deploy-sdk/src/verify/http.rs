//! One request through the load balancer per answer, each on a connection of its own: a
//! pooled keep-alive connection sees one target behind an NLB (and one load balancer node
//! behind any), so its answers prove nothing about the others. Each connection resolves the
//! load balancer's name again and starts at the next of its addresses, so the requests spread
//! over its nodes. With a host name set, the requests name it (`Host`, TLS SNI) while
//! connecting to the URL's address.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{CONNECTION, HeaderMap, HeaderValue};

use super::{Answer, Expectation, VerifyOptions};
use crate::error::{Error, Result};

/// Asks the URL, classifying each answer.
pub(super) struct Prober {
    client: reqwest::Client,
    url: reqwest::Url,
    max_body_bytes: usize,
    header_name: Option<String>,
}

impl Prober {
    /// A prober of `url` (already checked to be http(s)) with `options`' host, timeouts and
    /// body cap.
    pub(super) fn new(url: &str, expect: &Expectation, options: &VerifyOptions) -> Result<Prober> {
        let invalid = |problem: String| Error::InvalidInput {
            what: format!("URL {url:?}"),
            problem,
        };
        let mut url = reqwest::Url::parse(url).map_err(|e| invalid(e.to_string()))?;
        let address = url
            .host_str()
            .ok_or_else(|| invalid("has no host".into()))?
            .trim_matches(['[', ']'])
            .to_owned();
        let alias = match &options.host {
            Some(host) => {
                url.set_host(Some(host)).map_err(|e| Error::InvalidInput {
                    what: format!("host name {host:?}"),
                    problem: format!("{e} (expected a DNS name such as hello.example.com)"),
                })?;
                Some((host.to_ascii_lowercase(), address))
            }
            None => None,
        };
        let mut headers = HeaderMap::new();
        // Belt and braces with the empty pool: the server closes too.
        headers.insert(CONNECTION, HeaderValue::from_static("close"));
        let client = reqwest::Client::builder()
            .timeout(options.request_timeout)
            .connect_timeout(options.request_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(0)
            .default_headers(headers)
            .dns_resolver(Arc::new(LoadBalancerNames {
                alias,
                turn: AtomicUsize::new(0),
            }))
            .build()
            .map_err(|e| Error::Http(e.to_string()))?;
        Ok(Prober {
            client,
            url,
            max_body_bytes: options.max_body_bytes,
            header_name: expect.header.as_ref().map(|(name, _)| name.clone()),
        })
    }

    /// One request, its answer classified.
    pub(super) async fn ask(&self, expect: &Expectation) -> Answer {
        let response = match self.client.get(self.url.clone()).send().await {
            Ok(response) => response,
            Err(err) => return Answer::Error(describe_request_error(&err)),
        };
        if !response.status().is_success() {
            return Answer::Error(format!("HTTP {}", response.status().as_u16()));
        }
        let headers = response.headers().clone();
        match read_capped(response, self.max_body_bytes).await {
            // An answer cut off mid-body (a task dying, a reset) proves nothing, even when its
            // headers name the new build.
            Err(err) => Answer::Error(describe_request_error(&err)),
            Ok(body) if expect.matches(&headers, &body) => Answer::New,
            Ok(_) => Answer::Old {
                build: self
                    .header_name
                    .as_deref()
                    .and_then(|name| headers.get(name))
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned),
            },
        }
    }
}

/// The body up to `cap` bytes; the rest is never read (the connection is dropped with it).
/// A longer body is cut, not an error: the new build is recognised within the first bytes.
async fn read_capped(
    mut response: reqwest::Response,
    cap: usize,
) -> std::result::Result<String, reqwest::Error> {
    let mut body = Vec::new();
    while body.len() < cap {
        match response.chunk().await? {
            Some(chunk) => body.extend_from_slice(&chunk[..chunk.len().min(cap - body.len())]),
            None => break,
        }
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

fn describe_request_error(err: &reqwest::Error) -> String {
    if err.is_timeout() {
        "timeout".into()
    } else if err.is_connect() {
        "connection failed".into()
    } else {
        let mut text = err.to_string();
        let mut source = std::error::Error::source(err);
        while let Some(cause) = source {
            text = format!("{text}: {cause}");
            source = cause.source();
        }
        text
    }
}

/// Resolves names afresh for each connection, starting at the next address each time; the
/// host name of [`VerifyOptions::host`] resolves as the URL's own address does.
struct LoadBalancerNames {
    /// (host name sent, address connected to).
    alias: Option<(String, String)>,
    turn: AtomicUsize,
}

impl Resolve for LoadBalancerNames {
    fn resolve(&self, name: Name) -> Resolving {
        let target = match &self.alias {
            Some((host, address)) if name.as_str().eq_ignore_ascii_case(host) => address.clone(),
            _ => name.as_str().to_owned(),
        };
        let turn = self.turn.fetch_add(1, Ordering::Relaxed);
        Box::pin(async move {
            let mut addrs: Vec<SocketAddr> = tokio::net::lookup_host((target.as_str(), 0))
                .await?
                .collect();
            if !addrs.is_empty() {
                let start = turn % addrs.len();
                addrs.rotate_left(start);
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}
