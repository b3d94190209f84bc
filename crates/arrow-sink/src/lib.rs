//! Declared schema -> Arrow -> partitioned Parquet on any object store. Knows nothing about HTTP.
