//! Hashes of key tuples and of row content, computed the same way for a decoded page and for
//! rows read back from the landing, so a run can compare the two without holding rows.

use arrow::array::{Array, ArrayRef};
use arrow::error::ArrowError;
use arrow::row::{RowConverter, SortField};
use twox_hash::{XxHash3_64, XxHash3_128};

/// xxh3-128 of arrow's row encoding of each row's key tuple; `None` where a key column is null.
/// The row encoding delimits each value, so `("ab","c")` and `("a","bc")` differ.
pub fn key_hashes(key_columns: &[ArrayRef]) -> Result<Vec<Option<u128>>, ArrowError> {
    let num_rows = key_columns.first().map_or(0, |c| c.len());
    let rows = converter(key_columns)?.convert_columns(key_columns)?;
    Ok((0..num_rows)
        .map(|i| {
            let has_null = key_columns.iter().any(|c| c.is_null(i));
            (!has_null).then(|| XxHash3_128::oneshot(rows.row(i).as_ref()))
        })
        .collect())
}

/// xxh3-64 of arrow's row encoding of every column of each row: equal content, equal hash,
/// whatever page or file the row came from.
pub fn content_hashes(columns: &[ArrayRef]) -> Result<Vec<u64>, ArrowError> {
    let num_rows = columns.first().map_or(0, |c| c.len());
    if num_rows == 0 {
        return Ok(Vec::new());
    }
    let rows = converter(columns)?.convert_columns(columns)?;
    Ok((0..num_rows)
        .map(|i| XxHash3_64::oneshot(rows.row(i).as_ref()))
        .collect())
}

fn converter(columns: &[ArrayRef]) -> Result<RowConverter, ArrowError> {
    RowConverter::new(
        columns
            .iter()
            .map(|c| SortField::new(c.data_type().clone()))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int64Array, StringArray};

    use super::*;

    #[test]
    fn content_hash_follows_content_not_position() {
        let a: ArrayRef = Arc::new(StringArray::from(vec![Some("x"), None, Some("x")]));
        let b: ArrayRef = Arc::new(Int64Array::from(vec![1, 1, 2]));
        let hashes = content_hashes(&[a, b]).unwrap();
        assert_ne!(hashes[0], hashes[1], "a null differs from a value");
        assert_ne!(hashes[0], hashes[2]);
        let again: ArrayRef = Arc::new(StringArray::from(vec![Some("x")]));
        let one: ArrayRef = Arc::new(Int64Array::from(vec![1]));
        assert_eq!(content_hashes(&[again, one]).unwrap()[0], hashes[0]);
    }

    #[test]
    fn null_keys_have_no_hash() {
        let ids: ArrayRef = Arc::new(StringArray::from(vec![Some("a"), None]));
        let hashes = key_hashes(&[ids]).unwrap();
        assert!(hashes[0].is_some() && hashes[1].is_none());
    }
}
