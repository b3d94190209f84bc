//! Report streams: Graph answers 302 to a pre-signed CSV download, fetched without our token.

use std::sync::atomic::Ordering;

use reqwest::header::LOCATION;
use stream_spec::StreamSpec;

use crate::chain::{ChainError, RunContext};
use crate::error::RequestError;
use crate::http::{BodyCheck, GraphRequest};
use crate::paging::{Page, PageFormat, csv_pages};
use crate::stats::StreamCounters;

/// Redirect hops followed before giving up.
const MAX_REDIRECTS: usize = 5;

impl RunContext {
    pub(crate) async fn fetch_report(&self, spec: &StreamSpec) -> Result<(), ChainError> {
        let counters = self.recorder.counters(&spec.stream);
        let protocol = |reason: String| {
            ChainError::Request(RequestError::Protocol {
                what: format!("report `{}`", spec.stream),
                reason,
            })
        };
        let _download = self
            .report_downloads
            .acquire()
            .await
            .map_err(|_| ChainError::Cancelled)?;
        let mut url = self.first_url(spec, None);
        let mut authorized = true;
        let mut hops = 0;
        let body = loop {
            let mut req = GraphRequest::get(&url);
            req.check = BodyCheck::None;
            // The download URL is pre-signed; the bearer token must not leak to the storage host.
            req.authorized = authorized;
            let response = self.client.send(&req, &counters).await?;
            if !response.status.is_redirection() {
                break response.body;
            }
            hops += 1;
            if hops > MAX_REDIRECTS {
                return Err(protocol(format!("more than {MAX_REDIRECTS} redirects")));
            }
            let location = response
                .headers
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| protocol(format!("{} without Location", response.status)))?;
            let next = url::Url::parse(&url)
                .and_then(|base| base.join(location))
                .map_err(|e| protocol(format!("bad Location: {e}")))?;
            url = next.to_string();
            authorized = false;
        };
        // Handed on in pages of `page_size` lines, each with the header, like Graph's collections:
        // the sink then never decodes a tenant-sized CSV at once.
        let pages = csv_pages(&body, self.page_size as usize);
        let count = u32::try_from(pages.len()).unwrap_or(u32::MAX);
        for (index, (body, rows)) in (1..).zip(pages) {
            StreamCounters::bump(&counters.pages);
            counters.rows.fetch_add(rows as u64, Ordering::Relaxed);
            let page = Page {
                stream: self.name(&spec.stream),
                parent: None,
                format: PageFormat::Csv,
                body,
                rows,
                delta_link: None,
                chain_pages: (index == count).then_some(count),
            };
            self.sender
                .send(page)
                .await
                .map_err(|_| ChainError::Cancelled)?;
        }
        Ok(())
    }
}
