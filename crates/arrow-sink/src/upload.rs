//! One Parquet file's upload: object_store's `BufWriter` (one PUT when small, a multipart upload
//! in parts otherwise) as the `AsyncArrowWriter`'s sink, abortable at any point.

use bytes::Bytes;
use futures::future::BoxFuture;
use object_store::buffered::BufWriter;
use parquet::arrow::async_writer::AsyncFileWriter;
use parquet::errors::ParquetError;
use tokio::io::AsyncWriteExt;

pub(crate) struct Upload {
    inner: BufWriter,
    /// Completion began: from then on the upload is object_store's to abort (a failed
    /// completion aborts itself), and `BufWriter::abort` would panic.
    completing: bool,
}

impl Upload {
    pub(crate) fn new(inner: BufWriter) -> Self {
        Self {
            inner,
            completing: false,
        }
    }

    /// Aborts a multipart upload in progress, so the store keeps (and bills) none of its parts.
    pub(crate) async fn abort(mut self) -> object_store::Result<()> {
        match self.completing {
            true => Ok(()),
            false => self.inner.abort().await,
        }
    }
}

impl AsyncFileWriter for Upload {
    fn write(&mut self, bytes: Bytes) -> BoxFuture<'_, parquet::errors::Result<()>> {
        Box::pin(async move {
            self.inner
                .put(bytes)
                .await
                .map_err(|e| ParquetError::External(Box::new(e)))
        })
    }

    fn complete(&mut self) -> BoxFuture<'_, parquet::errors::Result<()>> {
        self.completing = true;
        Box::pin(async move {
            self.inner
                .shutdown()
                .await
                .map_err(|e| ParquetError::External(Box::new(e)))
        })
    }
}
