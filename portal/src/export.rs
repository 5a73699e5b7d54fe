//! Downloads: CSV and JSON built page by page from the store and streamed, so exporting a
//! year of audit trail keeps memory flat and the first bytes leave at once.
//!
//! CSV cells that a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, carriage
//! return first) are prefixed with `'`, the OWASP-recommended neutralisation: a reason like
//! `=HYPERLINK(...)` typed by a requester must not execute on an auditor's machine.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use futures_util::{Stream, StreamExt, TryStreamExt, stream};
use jitgate_access::store::{Page, StoreError};
use serde::Serialize;

/// Makes `value` safe to open in a spreadsheet (see the module doc).
pub fn csv_cell(value: &str) -> Cow<'_, str> {
    match value.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => Cow::Owned(format!("'{value}")),
        _ => Cow::Borrowed(value),
    }
}

/// CSV text for `rows` (one line per row), every cell neutralised and quoted as needed.
pub fn csv_lines<'a>(rows: impl IntoIterator<Item = Vec<Cow<'a, str>>>) -> Bytes {
    let mut writer = csv::Writer::from_writer(Vec::new());
    for row in rows {
        // Writing into a Vec cannot fail.
        let _ = writer.write_record(row.iter().map(|cell| csv_cell(cell).into_owned()));
    }
    Bytes::from(writer.into_inner().unwrap_or_default())
}

/// Every page `fetch` yields, following cursors until the last page.
pub fn pages<T, C, F, Fut>(fetch: F) -> impl Stream<Item = Result<Vec<T>, StoreError>>
where
    C: Clone,
    F: Fn(Option<C>) -> Fut,
    Fut: Future<Output = Result<Page<T, C>, StoreError>>,
{
    stream::try_unfold((Some(None), fetch), |(cursor, fetch)| async move {
        let Some(before) = cursor else { return Ok(None) };
        let page = fetch(before).await?;
        let next = page.next.map(Some);
        Ok(Some((page.items, (next, fetch))))
    })
}

fn attachment(content_type: &'static str, filename: &str, body: Body) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    let disposition = format!("attachment; filename=\"{filename}\"");
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

fn logged(error: StoreError) -> std::io::Error {
    tracing::error!(%error, "an export stopped part way: the store failed");
    std::io::Error::other(error.to_string())
}

/// A CSV download: the header line, then each page's rows as they arrive.
pub fn csv_download<S>(filename: &str, columns: &[&str], rows: S) -> Response
where
    S: Stream<Item = Result<Vec<Vec<String>>, StoreError>> + Send + 'static,
{
    let head = csv_lines([columns.iter().map(|c| Cow::Borrowed(*c)).collect()]);
    let body = stream::once(async move { Ok(head) }).chain(
        rows.map_ok(|page| {
            csv_lines(page.into_iter().map(|row| row.into_iter().map(Cow::Owned).collect()))
        })
        .map_err(logged),
    );
    attachment("text/csv; charset=utf-8", filename, Body::from_stream(body))
}

/// A JSON array download, streamed page by page.
pub fn json_download<T, S>(filename: &str, items: S) -> Response
where
    T: Serialize,
    S: Stream<Item = Result<Vec<T>, StoreError>> + Send + 'static,
{
    let empty = Arc::new(AtomicBool::new(true));
    let seen = empty.clone();
    let items = items.map_err(logged).map_ok(move |page| {
        let mut out = Vec::new();
        for item in page {
            out.push(if seen.swap(false, Ordering::Relaxed) { b'[' } else { b',' });
            // Serialising these plain structs cannot fail.
            let _ = serde_json::to_writer(&mut out, &item);
        }
        Bytes::from(out)
    });
    let end = stream::once(async move {
        Ok(Bytes::from_static(if empty.load(Ordering::Relaxed) { b"[]" } else { b"]" }))
    });
    attachment("application/json", filename, Body::from_stream(items.chain(end)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralised_and_quotes_kept() {
        let lines = csv_lines([vec![
            Cow::Borrowed("=HYPERLINK(\"http://evil\")"),
            Cow::Borrowed("+1"),
            Cow::Borrowed("-2"),
            Cow::Borrowed("@SUM(A1)"),
            Cow::Borrowed("\tx"),
            Cow::Borrowed("plain, with comma"),
            Cow::Borrowed("a=b"),
        ]]);
        let text = String::from_utf8(lines.to_vec()).unwrap();
        assert_eq!(
            text,
            "\"'=HYPERLINK(\"\"http://evil\"\")\",'+1,'-2,'@SUM(A1),'\tx,\"plain, with comma\",a=b\n"
        );
    }

    async fn collect(response: Response) -> String {
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn json_export_is_one_array_across_pages() {
        let pages = stream::iter(vec![Ok(vec![1, 2]), Ok(vec![]), Ok(vec![3])]);
        let text = collect(json_download("x.json", pages)).await;
        assert_eq!(text, "[1,2,3]");
        let none = stream::iter(Vec::<Result<Vec<u8>, StoreError>>::new());
        assert_eq!(collect(json_download("x.json", none)).await, "[]");
    }

    #[tokio::test]
    async fn pages_follow_cursors_to_the_end() {
        let fetched = pages(|before: Option<u32>| async move {
            let start = before.unwrap_or(0);
            Ok::<_, StoreError>(Page {
                items: vec![start, start + 1],
                next: (start < 4).then_some(start + 2),
            })
        });
        let all: Vec<Vec<u32>> = fetched.try_collect().await.unwrap();
        assert_eq!(all, vec![vec![0, 1], vec![2, 3], vec![4, 5]]);
    }
}
