//! The documentation follows the lists in the code: every method and error
//! code is in docs/protocol.md, and the methods it marks admin are exactly
//! the admin ones.

use recd::protocol::{ErrorCode, Method, StrategyName};
use strum::IntoEnumIterator;

fn doc(name: &str) -> String {
    std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("docs")
            .join(name),
    )
    .unwrap()
}

#[test]
fn protocol_md_documents_every_method_and_error_code() {
    let text = doc("protocol.md");
    for m in Method::iter() {
        let plain = format!("### `{}`\n", m.name());
        let admin = format!("### `{}` (admin)\n", m.name());
        let documented_as_admin = text.contains(&admin);
        assert!(
            text.contains(&plain) || documented_as_admin,
            "docs/protocol.md has no section for `{}`",
            m.name()
        );
        assert_eq!(
            documented_as_admin,
            m.is_admin(),
            "docs/protocol.md marks `{}` wrongly",
            m.name()
        );
    }
    for code in ErrorCode::iter() {
        assert!(
            text.contains(&format!("`{}`", code.as_str())),
            "docs/protocol.md does not list the error code `{}`",
            code.as_str()
        );
    }
    for s in StrategyName::iter() {
        let name: &str = s.into();
        assert!(
            text.contains(&format!("| `{name}` |")),
            "docs/protocol.md has no row for the strategy `{name}`"
        );
        assert_eq!(serde_json::to_value(s).unwrap(), name);
    }
}

#[test]
fn operations_md_names_every_admin_method() {
    let text = doc("operations.md");
    let start = text
        .find("Admin methods (")
        .expect("the admin methods sentence");
    let sentence = &text[start..start + text[start..].find(')').unwrap()];
    for m in Method::iter() {
        assert_eq!(
            sentence.contains(&format!("`{}`", m.name())),
            m.is_admin(),
            "docs/operations.md's admin list and `{}`",
            m.name()
        );
    }
}

/// docs/http.md's route table has every method, at its route, with the
/// verbs and scope the code gives it; its status table every code with
/// the status the code gives it.
#[test]
fn http_md_lists_every_route_and_status() {
    use recd::protocol::Scope;
    let text = doc("http.md");
    for m in Method::iter() {
        let verbs = match (m, m.scope()) {
            (Method::Import, _) => "POST (the file as the body)",
            (Method::Retrain, _) => "POST (streamed)",
            (Method::Backup, _) => "POST (the copy as the reply's body)",
            (Method::Forget, _) => "POST; `DELETE /v1/users/{id}`",
            (_, Scope::Read) => "GET, POST",
            _ => "POST",
        };
        let row = format!(
            "| `{}` | `{}` | {verbs} | {} |",
            m.name(),
            m.route(),
            m.scope().as_str()
        );
        assert!(text.contains(&row), "docs/http.md lacks the row {row}");
    }
    for code in ErrorCode::iter() {
        let row = format!("| `{}` | {}", code.as_str(), code.http_status());
        assert!(text.contains(&row), "docs/http.md lacks the row {row}");
    }
}
