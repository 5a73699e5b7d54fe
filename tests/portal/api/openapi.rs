//! Checking API answers against the OpenAPI document the API serves: a [`Contract`] looks
//! each call up by path template, method and status and validates its body against the
//! documented schema, then checks every documented response was seen.

use serde_json::{Value, json};

use crate::site::Site;

/// Responses the test cannot provoke against a healthy deployment, with why.
pub(super) const UNTRIGGERABLE: &[(&str, &str, u16, &str)] =
    &[("*", "*", 503, "needs the store or the IdP's keys to fail")];

/// How a call sends its body and credentials.
pub(super) enum Send {
    Nothing,
    /// One extra header.
    Header(&'static str, &'static str),
    /// JSON, with the CSRF header when given.
    Json(Option<String>, Value),
    /// These bytes as application/json, with the CSRF header when given.
    Raw(Option<String>, String),
}

pub(super) struct Answer {
    pub(super) status: u16,
    body: Value,
    pub(super) location: Option<String>,
    what: String,
}

impl Answer {
    pub(super) fn ok(&self) -> Value {
        assert!((200..300).contains(&self.status), "{}: {} {}", self.what, self.status, self.body);
        self.body.clone()
    }

    pub(super) fn code(&self, expected: &str) {
        assert_eq!(
            self.body["error"]["code"], expected,
            "{}: {} {}",
            self.what, self.status, self.body
        );
    }
}

pub(super) struct Contract<'a> {
    site: &'a Site,
    doc: Value,
    /// (path template, method, status) seen.
    seen: std::collections::BTreeSet<(String, String, u16)>,
}

impl<'a> Contract<'a> {
    pub(super) fn new(site: &'a Site, doc: Value) -> Self {
        Self { site, doc, seen: Default::default() }
    }

    /// Calls `method path` (under `/api/v1`) and checks the answer against the document's
    /// entry for `template`.
    pub(super) async fn call(
        &mut self,
        client: &reqwest::Client,
        method: &str,
        template: &str,
        path: &str,
        send: Send,
    ) -> Answer {
        let url = self.site.url("access", &format!("/api/v1{path}"));
        let mut request = client.request(method.parse().unwrap(), url);
        request = match send {
            Send::Nothing => request,
            Send::Header(name, value) => request.header(name, value),
            Send::Json(csrf, body) => {
                let request = request.json(&body);
                if let Some(token) = csrf { request.header("X-CSRF-Token", token) } else { request }
            }
            Send::Raw(csrf, body) => {
                let request = request.header("content-type", "application/json").body(body);
                if let Some(token) = csrf { request.header("X-CSRF-Token", token) } else { request }
            }
        };
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let what = format!("{method} {path}");
        let content_type =
            response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned());
        let location = response.headers().get("location").map(|v| v.to_str().unwrap().to_owned());
        let text = response.text().await.unwrap();
        let body: Value = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("{what}: {status} is not JSON ({content_type:?}): {text}"));
        assert_eq!(content_type.as_deref(), Some("application/json"), "{what}: {status}");

        let operation = self.doc["paths"][template][method.to_lowercase()].clone();
        assert!(operation.is_object(), "{method} {template} is not documented");
        let documented = &operation["responses"][status.to_string()];
        assert!(documented.is_object(), "{what} answered {status} {body}, which is not documented");
        let schema = &documented["content"]["application/json"]["schema"];
        assert!(schema.is_object(), "{what}: {status} has no documented JSON body");
        let mut errors = Vec::new();
        self.validate(schema, &body, "$", &mut errors);
        assert!(
            errors.is_empty(),
            "{what}: {status} {body} does not match its schema: {errors:#?}"
        );
        if status >= 400 {
            let code = body["error"]["code"].as_str().unwrap();
            let description = documented["description"].as_str().unwrap();
            assert!(
                description.contains(&format!("`{code}`")),
                "{what}: {status} `{code}` is not among the documented codes: {description}"
            );
        }
        if let Some(headers) = documented["headers"].as_object() {
            for name in headers.keys() {
                assert!(
                    name != "Location" || location.is_some(),
                    "{what}: the documented {name} header is missing"
                );
            }
        }
        self.seen.insert((template.to_owned(), method.to_lowercase(), status));
        Answer { status, body, location, what }
    }

    fn resolve<'s>(&'s self, schema: &'s Value) -> &'s Value {
        match schema["$ref"].as_str() {
            Some(reference) => {
                let target = self
                    .doc
                    .pointer(reference.trim_start_matches('#'))
                    .unwrap_or_else(|| panic!("{reference} does not resolve"));
                self.resolve(target)
            }
            None => schema,
        }
    }

    /// The subset of JSON Schema (2020-12, as OpenAPI 3.1 uses it) that utoipa emits for
    /// these types: `$ref`, `oneOf`, `allOf`, `type` (one or several), `enum`, `properties`,
    /// `required`, `additionalProperties: false`, `items`, `minimum`, `maxLength` and the
    /// `date-time` format. Stricter than JSON Schema in one way: a response object may not
    /// carry a property its schema does not list, since that would be undocumented output.
    fn validate(&self, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
        let schema = self.resolve(schema);
        let known = [
            "$ref",
            "oneOf",
            "allOf",
            "type",
            "enum",
            "properties",
            "required",
            "additionalProperties",
            "items",
            "minimum",
            "maxLength",
            "format",
            "description",
            "examples",
            "example",
            "title",
            "default",
        ];
        for keyword in schema.as_object().unwrap().keys() {
            assert!(
                known.contains(&keyword.as_str()),
                "{at}: the validator does not know `{keyword}`"
            );
        }
        if let Some(options) = schema["oneOf"].as_array() {
            let matching = options
                .iter()
                .filter(|option| {
                    let mut inner = Vec::new();
                    self.validate(option, value, at, &mut inner);
                    inner.is_empty()
                })
                .count();
            if matching != 1 {
                errors.push(format!("{at}: {matching} of oneOf match {value}"));
            }
        }
        for part in schema["allOf"].as_array().into_iter().flatten() {
            self.validate(part, value, at, errors);
        }
        if let Some(types) = schema.get("type") {
            let types: Vec<&str> = match types {
                Value::String(one) => vec![one.as_str()],
                Value::Array(several) => several.iter().map(|t| t.as_str().unwrap()).collect(),
                other => panic!("{at}: type {other}"),
            };
            let fits = |name: &str| match name {
                "null" => value.is_null(),
                "boolean" => value.is_boolean(),
                "string" => value.is_string(),
                "integer" => value.is_i64() || value.is_u64(),
                "number" => value.is_number(),
                "array" => value.is_array(),
                "object" => value.is_object(),
                other => panic!("{at}: unknown type {other}"),
            };
            if !types.iter().any(|t| fits(t)) {
                errors.push(format!("{at}: {value} is not {types:?}"));
                return;
            }
        }
        if let Some(allowed) = schema["enum"].as_array()
            && !allowed.contains(value)
        {
            errors.push(format!("{at}: {value} is not one of {allowed:?}"));
        }
        if let (Some(minimum), Some(number)) = (schema["minimum"].as_f64(), value.as_f64())
            && number < minimum
        {
            errors.push(format!("{at}: {number} < {minimum}"));
        }
        if let (Some(max), Some(text)) = (schema["maxLength"].as_u64(), value.as_str())
            && text.chars().count() as u64 > max
        {
            errors.push(format!("{at}: longer than {max}"));
        }
        if schema["format"] == "date-time"
            && let Some(text) = value.as_str()
        {
            let b = text.as_bytes();
            let shaped = b.len() >= 20
                && b[4] == b'-'
                && b[7] == b'-'
                && b[10] == b'T'
                && b[13] == b':'
                && text.ends_with('Z');
            if !shaped {
                errors.push(format!("{at}: {text:?} is not an RFC 3339 UTC time"));
            }
        }
        if let Some(object) = value.as_object() {
            let properties = schema["properties"].as_object();
            for required in schema["required"].as_array().into_iter().flatten() {
                let name = required.as_str().unwrap();
                if !object.contains_key(name) {
                    errors.push(format!("{at}: required `{name}` is missing"));
                }
            }
            for (name, item) in object {
                match properties.and_then(|p| p.get(name)) {
                    Some(property) => {
                        self.validate(property, item, &format!("{at}.{name}"), errors)
                    }
                    None if schema["additionalProperties"] == json!(true) => {}
                    None if properties.is_some()
                        || schema["additionalProperties"] == json!(false) =>
                    {
                        errors.push(format!("{at}: `{name}` is not documented"))
                    }
                    None => {}
                }
            }
        }
        if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
            for (i, item) in array.iter().enumerate() {
                self.validate(items, item, &format!("{at}[{i}]"), errors);
            }
        }
    }

    /// Every documented response was seen (bar [`UNTRIGGERABLE`]), every documented path
    /// refuses the methods it does not document, and an undocumented path is the API's 404.
    pub(super) async fn finish(&mut self, client: &reqwest::Client, id: &str) {
        // The validator refuses what it should: a missing field, an unknown code, an
        // undocumented field.
        let mut errors = Vec::new();
        let error = json!({ "$ref": "#/components/schemas/Error" });
        let wrong = json!({ "error": { "code": "oops", "extra": 1 } });
        self.validate(&error, &wrong, "$", &mut errors);
        assert_eq!(errors.len(), 3, "{errors:#?}");

        let mut missing = Vec::new();
        let paths = self.doc["paths"].as_object().unwrap().clone();
        for (template, item) in &paths {
            for (method, operation) in item.as_object().unwrap() {
                for status in operation["responses"].as_object().unwrap().keys() {
                    let status: u16 = status.parse().unwrap();
                    let excused = UNTRIGGERABLE.iter().any(|(p, m, s, _)| {
                        (*p == "*" || p == template) && (*m == "*" || m == method) && *s == status
                    });
                    if !excused && !self.seen.contains(&(template.clone(), method.clone(), status))
                    {
                        missing.push(format!("{method} {template} {status}"));
                    }
                }
            }
            let concrete = template.replace("{id}", id).replace("{user}", "bob%40example.com");
            for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
                if item.get(method.to_lowercase()).is_some() {
                    continue;
                }
                let url = self.site.url("access", &format!("/api/v1{concrete}"));
                let response = client.request(method.parse().unwrap(), url).send().await.unwrap();
                assert_eq!(
                    response.status(),
                    405,
                    "{method} {template} is served but not documented"
                );
            }
        }
        assert!(missing.is_empty(), "documented but never exercised: {missing:#?}");
        let url = self.site.url("access", "/api/v1/requests/x/y");
        let response = client.get(url).send().await.unwrap();
        assert_eq!(response.status(), 404);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "not_found", "an undocumented path is not served");
    }
}
