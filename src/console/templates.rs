//! The console's templates, stylesheet and script, compiled into the binary,
//! and the minijinja environment that renders them.
//!
//! HTML auto-escaping is on for **every** template, whatever its name
//! (minijinja would choose by file extension otherwise), so a host name, a
//! package description or a policy reason containing markup renders as text.
//! The only unescaped output is what the filters below build themselves
//! (times, SVG charts), from escaped parts.

use std::sync::LazyLock;

use minijinja::value::{Serde, Value};
use minijinja::{AutoEscape, Environment, Error, ErrorKind, UndefinedBehavior, context};
use serde::Serialize;

use super::pages::encode_path;
use super::view::View;

pub const CSS: &str = include_str!("static/console.css");
pub const JS: &str = include_str!("static/console.js");
pub const FAVICON: &str = include_str!("static/favicon.svg");

/// Every template, by name.
pub const TEMPLATES: [(&str, &str); 14] = [
    ("layout.html", include_str!("templates/layout.html")),
    ("macros.html", include_str!("templates/macros.html")),
    ("error.html", include_str!("templates/error.html")),
    ("overview.html", include_str!("templates/overview.html")),
    ("drift.html", include_str!("templates/drift.html")),
    ("machines.html", include_str!("templates/machines.html")),
    ("machine.html", include_str!("templates/machine.html")),
    ("patches.html", include_str!("templates/patches.html")),
    ("patch.html", include_str!("templates/patch.html")),
    ("rollouts.html", include_str!("templates/rollouts.html")),
    ("exclusions.html", include_str!("templates/exclusions.html")),
    ("reports.html", include_str!("templates/reports.html")),
    ("directory.html", include_str!("templates/directory.html")),
    ("audit.html", include_str!("templates/audit.html")),
];

/// The environment, built once; a template that does not compile is a bug
/// that every render reports (the tests compile every template).
static ENV: LazyLock<Result<Environment<'static>, String>> =
    LazyLock::new(|| environment().map_err(|e| format!("{e:#}")));

/// Text for HTML content and attributes.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn timestamp(v: &Value) -> Option<jiff::Timestamp> {
    v.as_str().and_then(|s| s.parse().ok())
}

/// `<time>` with the instant in UTC; `console.js` rewrites the text into the
/// viewer's time zone and the title keeps the absolute instant.
fn time(v: Value) -> Value {
    let Some(t) = timestamp(&v) else {
        return Value::from_safe_string("<span class=\"none\">—</span>".into());
    };
    let iso = t.to_string();
    let shown = t.strftime("%Y-%m-%d %H:%M UTC").to_string();
    Value::from_safe_string(format!(
        "<time datetime=\"{}\" title=\"{}\">{}</time>",
        escape(&iso),
        escape(&iso),
        escape(&shown)
    ))
}

/// How long before or after `now`: "3 h ago", "in 2 d".
fn ago(v: Value, now: Value) -> String {
    let (Some(t), Some(now)) = (timestamp(&v), timestamp(&now)) else {
        return String::new();
    };
    let secs = now.as_second() - t.as_second();
    let a = secs.unsigned_abs();
    let text = if a < 90 {
        format!("{a} s")
    } else if a < 90 * 60 {
        format!("{} min", a / 60)
    } else if a < 36 * 3600 {
        format!("{} h", a / 3600)
    } else {
        format!("{} d", a / 86_400)
    };
    if secs >= 0 {
        format!("{text} ago")
    } else {
        format!("in {text}")
    }
}

fn machine_url(id: &str) -> String {
    format!("/machines/{}", super::pages::encode(id))
}

fn patch_url(id: &str) -> String {
    format!("/patches/{}", encode_path(id))
}

/// A link to a filtered listing: `/drift?ring=...`.
fn listing_url(path: &str, params: Value) -> Result<String, Error> {
    let mut q = std::collections::HashMap::new();
    if let Ok(items) = params.try_iter() {
        for k in items {
            let key = k.as_str().unwrap_or_default().to_owned();
            let value = params.get_item(&k)?;
            if !value.is_none() && !value.is_undefined() {
                q.insert(key, value.to_string());
            }
        }
    }
    Ok(super::pages::link(path, &q, &[]))
}

fn parts(value: &Value) -> Result<Vec<super::svg::Part>, Error> {
    let json = serde_json::to_value(value)
        .map_err(|e| Error::new(ErrorKind::InvalidOperation, e.to_string()))?;
    serde_json::from_value(json).map_err(|e| {
        Error::new(
            ErrorKind::InvalidOperation,
            format!("chart parts must be [{{value, class, label}}]: {e}"),
        )
    })
}

fn environment() -> Result<Environment<'static>, Error> {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| AutoEscape::Html);
    env.set_undefined_behavior(UndefinedBehavior::Chainable);
    env.set_syntax(
        minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build()?,
    );
    for (name, source) in TEMPLATES {
        env.add_template(name, source)?;
    }
    env.add_filter("time", time);
    env.add_filter("ago", ago);
    env.add_filter("machine_url", |id: &str| machine_url(id));
    env.add_filter("patch_url", |id: &str| patch_url(id));
    env.add_filter("pct", |part: f64, whole: f64| {
        super::pages::percent(part as usize, whole as usize)
    });
    env.add_filter("bytes", |n: f64| {
        let n = n.max(0.0);
        if n >= 1e9 {
            format!("{:.1} GB", n / 1e9)
        } else if n >= 1e6 {
            format!("{:.1} MB", n / 1e6)
        } else if n >= 1e3 {
            format!("{:.1} kB", n / 1e3)
        } else {
            format!("{n} B")
        }
    });
    env.add_filter("words", |s: &str| s.replace('-', " "));
    // At most `n` characters, with an ellipsis when cut.
    env.add_filter("truncate", |s: &str, n: usize| {
        if s.chars().count() <= n {
            s.to_owned()
        } else {
            let mut cut: String = s.chars().take(n.saturating_sub(1)).collect();
            cut.push('…');
            cut
        }
    });
    // The file name of a URL: `…/pool/o/openssl/libssl3_3.0.22-1_amd64.deb` → `libssl3_3.0.22-1_amd64.deb`.
    env.add_filter("basename", |s: &str| {
        s.rsplit('/').next().unwrap_or(s).to_owned()
    });
    env.add_function("listing", listing_url);
    env.add_function(
        "bar",
        |parts_: Value, label: &str| -> Result<Value, Error> {
            Ok(Value::from_safe_string(super::svg::stacked_bar(
                &parts(&parts_)?,
                label,
            )))
        },
    );
    env.add_function(
        "donut",
        |parts_: Value, center: &str, label: &str| -> Result<Value, Error> {
            Ok(Value::from_safe_string(super::svg::donut(
                &parts(&parts_)?,
                center,
                label,
            )))
        },
    );
    env.add_function("trend", |points: Value| -> Result<Value, Error> {
        let json = serde_json::to_value(&points)
            .map_err(|e| Error::new(ErrorKind::InvalidOperation, e.to_string()))?;
        let points: Vec<super::pages::TrendPoint> = serde_json::from_value(json)
            .map_err(|e| Error::new(ErrorKind::InvalidOperation, e.to_string()))?;
        Ok(Value::from_safe_string(super::svg::trend(&points)))
    });
    Ok(env)
}

/// Renders `template` with the page model as `page`.
pub fn render<T: Serialize>(
    template: &str,
    title: &str,
    nav: &str,
    view: &View,
    model: &T,
) -> Result<String, Error> {
    let env = ENV
        .as_ref()
        .map_err(|e| Error::new(ErrorKind::InvalidOperation, e.clone()))?;
    env.get_template(template)?.render(context! {
        page => Serde(model),
        title => title,
        nav => nav,
        now => view.now.to_string(),
        revision => view.revision.as_str(),
        version => env!("CARGO_PKG_VERSION"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::pages::{DIRECTORY_REPORTS, directory};
    use crate::console::view::directory_tests::directory_view;
    use crate::store::DirectorySourceState;

    #[test]
    fn every_template_compiles() {
        let env = environment().expect("templates compile");
        for (name, _) in TEMPLATES {
            env.get_template(name).expect(name);
        }
    }

    #[test]
    fn every_template_escapes_html_whatever_its_name() {
        let mut env = environment().expect("environment");
        env.add_template("plain.txt", "{{ x }}").expect("template");
        let out = env
            .get_template("plain.txt")
            .expect("template")
            .render(context! { x => "<script>alert(1)</script>" })
            .expect("render");
        assert_eq!(out, "&lt;script&gt;alert(1)&lt;&#x2f;script&gt;");
    }

    #[test]
    fn times_are_machine_readable_and_titled() {
        let out = time(Value::from("2026-12-04T08:05:09Z")).to_string();
        assert_eq!(
            out,
            r#"<time datetime="2026-12-04T08:05:09Z" title="2026-12-04T08:05:09Z">2026-12-04 08:05 UTC</time>"#
        );
        assert!(time(Value::from(())).to_string().contains('—'));
        assert_eq!(
            ago(
                Value::from("2026-12-04T05:00:00Z"),
                Value::from("2026-12-04T08:00:00Z")
            ),
            "3 h ago"
        );
        assert_eq!(
            ago(
                Value::from("2026-12-06T08:00:00Z"),
                Value::from("2026-12-04T08:00:00Z")
            ),
            "in 2 d"
        );
    }

    fn directory_page(v: &View, sources: &[&str], stored: Vec<DirectorySourceState>) -> String {
        let configured: Vec<String> = sources.iter().map(|&s| s.to_owned()).collect();
        let model = directory(v, &configured, stored, &Default::default()).expect("the model");
        render("directory.html", "Directory", "directory", v, &model).expect("renders")
    }

    #[test]
    fn the_directory_page_shows_a_failed_sources_error_its_listings_and_their_downloads() {
        let v = directory_view();
        let stored = vec![DirectorySourceState {
            name: "corp".into(),
            location: "ldaps://dc1.corp.example DC=corp,DC=example".into(),
            last_attempt_at: Some(v.now),
            last_success_at: Some(v.now - jiff::SignedDuration::from_hours(5)),
            last_error: Some("directory ldaps://dc1.corp.example is unreachable: <refused>".into()),
            computers: 7,
        }];
        let html = directory_page(&v, &["corp"], stored);
        assert!(
            html.contains("dc1.corp.example is unreachable: &lt;refused&gt;"),
            "the error, as text: {html}"
        );
        assert!(
            html.contains("aria-current=\"page\">Directory</a>"),
            "{html}"
        );
        assert!(!html.contains("No directory is configured"));
        // One row of each listing, and its CSV.
        for shown in [
            "KIOSK-9",
            "db-6.example",
            "db-4.example",
            "OU=Web,OU=Servers",
        ] {
            assert!(html.contains(shown), "{shown}: {html}");
        }
        for report in DIRECTORY_REPORTS {
            assert!(
                html.contains(&format!("&#x2f;reports&#x2f;{report}.csv")),
                "{report}: {html}"
            );
        }
        assert!(
            html.contains(r#"<span class="n" id="unmanaged-count">3</span>"#),
            "{html}"
        );
    }

    #[test]
    fn without_a_directory_the_page_says_how_to_configure_one() {
        let v = View::empty("2026-12-04T12:00:00Z".parse().expect("instant"));
        let html = directory_page(&v, &[], Vec::new());
        assert!(html.contains("No directory is configured"), "{html}");
        assert!(html.contains("spec.directory.sources"), "{html}");
        assert!(!html.contains("Computers without an agent"), "{html}");
        // A configured source that has not synced is not a missing configuration.
        let html = directory_page(&v, &["corp"], Vec::new());
        assert!(!html.contains("No directory is configured"), "{html}");
        assert!(html.contains("not synced yet"), "{html}");
    }

    #[test]
    fn links_encode_ids() {
        assert_eq!(machine_url("a b/<c>"), "/machines/a%20b%2F%3Cc%3E");
        assert_eq!(
            patch_url("openssl/3.0.15-1~deb12u1"),
            "/patches/openssl/3.0.15-1~deb12u1"
        );
    }
}
