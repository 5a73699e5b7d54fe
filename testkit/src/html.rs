//! Reading the portal's pages and redirects as a browser would: hidden form fields, escaped
//! text, query values, handoff URLs.

/// The value of the first hidden input named `name` in `html`, unescaped.
pub fn field(html: &str, name: &str) -> String {
    let marker = format!(r#"name="{name}" value=""#);
    let value = html.split(&marker).nth(1).and_then(|rest| rest.split('"').next());
    value
        .unwrap_or_else(|| panic!("no {name} field in {html}"))
        .replace("&#x2f;", "/")
        .replace("&#38;", "&")
        .replace("&amp;", "&")
}

/// The form's CSRF token.
pub fn csrf_of(html: &str) -> String {
    field(html, "csrf")
}

/// Whether `html` shows `text` escaped (askama writes `<` as `&#60;`).
pub fn escaped(html: &str, text: &str) -> bool {
    let numeric = text.replace('<', "&#60;").replace('>', "&#62;").replace('\'', "&#39;");
    html.contains(&numeric) || html.contains(&text.replace('<', "&lt;").replace('>', "&gt;"))
}

/// `value` as a query parameter's value, every byte but letters and digits escaped.
pub fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() { char::from(b).to_string() } else { format!("%{b:02X}") }
        })
        .collect()
}

/// The token of a handoff URL on `host`, or a panic saying what `url` was instead.
pub fn handoff_token(url: &str, host: &str) -> String {
    let parsed = reqwest::Url::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"));
    let on_host = parsed.host_str().zip(parsed.port()).map(|(h, p)| format!("{h}:{p}"));
    assert_eq!(on_host.as_deref(), Some(host), "a handoff on the resource host: {url}");
    assert_eq!(parsed.path(), "/.jitgate/handoff", "{url}");
    let token = parsed.query_pairs().find(|(key, _)| key == "token").map(|(_, v)| v.into_owned());
    token.unwrap_or_else(|| panic!("no token in {url}"))
}

/// The review dashboard's row of request `id` in `html`, if listed.
pub fn dashboard_row<'a>(html: &'a str, id: &str) -> Option<&'a str> {
    let start = html.find(&format!(r#"<tr id="r-{id}">"#))?;
    let rest = &html[start..];
    Some(&rest[..rest.find("</tr>").expect("a closed row")])
}

/// The class of a request's status pill (`pending`, `active`, …), to look for in a page.
pub fn pill(status: &str) -> String {
    format!(r#"class="pill {status}""#)
}
