//! Human output: one line per request, in words.

use serde_json::Value;

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or("")
}

/// One request: `01J… app (alice@example.com): active until 2026-11-30T14:00:00Z`.
pub fn request(request: &Value) {
    println!("{}", line(request));
    let reason = text(&request["reason"]);
    if !reason.is_empty() {
        println!("  reason: {reason}");
    }
    if let Some(decision) = request["decision"].as_object() {
        let note = text(&decision["note"]);
        let by = text(&decision["by"]);
        let outcome = text(&decision["outcome"]);
        if note.is_empty() {
            println!("  {outcome} by {by}");
        } else {
            println!("  {outcome} by {by}: {note}");
        }
    }
}

fn line(request: &Value) -> String {
    let status = text(&request["status"]);
    let detail = match status {
        "active" if request["grant"]["first_use"]["claim_by"].is_string() => format!(
            "approved, waiting for first use — claim by {}",
            text(&request["grant"]["first_use"]["claim_by"])
        ),
        "active" => format!("active until {}", text(&request["grant"]["expires_at"])),
        "pending" => format!("pending until {}", text(&request["pending_until"])),
        other => other.to_owned(),
    };
    format!(
        "{}  {} ({}): {detail}",
        text(&request["id"]),
        text(&request["resource"]),
        text(&request["user"])
    )
}

/// A page of requests, one line each.
pub fn requests(page: &Value) {
    let items = page["items"].as_array().map(Vec::as_slice).unwrap_or_default();
    if items.is_empty() {
        println!("No requests.");
    }
    for item in items {
        println!("{}", line(item));
    }
}
