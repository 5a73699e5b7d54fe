//! The JSON form records take in both backends. One place, so the two cannot drift apart.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::StoreError;
use crate::ids::RequestId;

pub(crate) fn encode<T: Serialize>(value: &T) -> String {
    // Serialising these plain data types cannot fail: no maps with non-string keys, no
    // fallible Serialize impls.
    serde_json::to_string(value).unwrap_or_default()
}

pub(crate) fn decode<T: DeserializeOwned>(key: &str, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text)
        .map_err(|e| StoreError::Corrupt { key: key.to_owned(), detail: e.to_string() })
}

pub(crate) fn parse_request_id(key: &str, raw: &str) -> Result<RequestId, StoreError> {
    raw.parse().map_err(|e: crate::ids::IdError| StoreError::Corrupt {
        key: key.to_owned(),
        detail: e.to_string(),
    })
}
