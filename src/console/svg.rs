//! Charts as SVG written on the server: no script, nothing fetched, and the
//! numbers are in the markup (`<title>` on every shape), so a screen reader
//! and a test read what a viewer sees. Colours come from classes in
//! `console.css`; the markup carries no inline style (the CSP forbids it).

use std::fmt::Write as _;

use super::pages::TrendPoint;

use super::templates::escape as esc;

/// One part of a stacked bar.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Part {
    pub value: f64,
    /// A class of `console.css`: `ok`, `warn`, `bad`, `idle`, `info`.
    pub class: String,
    pub label: String,
}

/// A horizontal bar, its parts side by side in proportion, each titled.
pub fn stacked_bar(parts: &[Part], label: &str) -> String {
    let total: f64 = parts.iter().map(|p| p.value.max(0.0)).sum();
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg class="bar" viewBox="0 0 100 6" preserveAspectRatio="none" role="img" aria-label="{}">"#,
        esc(label)
    );
    if total <= 0.0 {
        out.push_str(
            r#"<rect class="idle" x="0" y="0" width="100" height="6"><title>none</title></rect>"#,
        );
    } else {
        let mut x = 0.0;
        for p in parts.iter().filter(|p| p.value > 0.0) {
            let w = p.value / total * 100.0;
            let _ = write!(
                out,
                r#"<rect class="{}" x="{x:.3}" y="0" width="{w:.3}" height="6"><title>{}</title></rect>"#,
                esc(&p.class),
                esc(&p.label)
            );
            x += w;
        }
    }
    out.push_str("</svg>");
    out
}

/// A ring (donut) of the parts, with the first part's share in the middle.
pub fn donut(parts: &[Part], center: &str, label: &str) -> String {
    let total: f64 = parts.iter().map(|p| p.value.max(0.0)).sum();
    let r = 15.915_494_309_189_533; // circumference 100
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg class="donut" viewBox="0 0 42 42" role="img" aria-label="{}"><circle class="idle" cx="21" cy="21" r="{r}" fill="none" stroke-width="6"/>"#,
        esc(label)
    );
    if total > 0.0 {
        let mut offset = 25.0;
        for p in parts.iter().filter(|p| p.value > 0.0) {
            let share = p.value / total * 100.0;
            let _ = write!(
                out,
                r#"<circle class="{}" cx="21" cy="21" r="{r}" fill="none" stroke-width="6" stroke-dasharray="{share:.3} {:.3}" stroke-dashoffset="{offset:.3}"><title>{}</title></circle>"#,
                esc(&p.class),
                100.0 - share,
                esc(&p.label)
            );
            offset -= share;
        }
    }
    let _ = write!(
        out,
        r#"<text x="21" y="23.5" text-anchor="middle" class="donut-text">{}</text></svg>"#,
        esc(center)
    );
    out
}

/// The share of compliant machines over time, as a line, with the number of
/// machines as a faint area beneath; axes labelled with dates and percent.
pub fn trend(points: &[TrendPoint]) -> String {
    const W: f64 = 720.0;
    const H: f64 = 180.0;
    const LEFT: f64 = 44.0;
    const BOTTOM: f64 = 24.0;
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg class="trend" viewBox="0 0 {W} {H}" role="img" aria-label="Compliant machines over time">"#
    );
    let plot_w = W - LEFT - 8.0;
    let plot_h = H - BOTTOM - 8.0;
    for pct in [0.0, 50.0, 100.0] {
        let y = 8.0 + plot_h * (1.0 - pct / 100.0);
        let _ = write!(
            out,
            r#"<line class="grid" x1="{LEFT}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}"/><text class="axis" x="{:.1}" y="{:.1}" text-anchor="end">{pct}%</text>"#,
            W - 8.0,
            LEFT - 6.0,
            y + 4.0
        );
    }
    if points.is_empty() {
        let _ = write!(
            out,
            r#"<text class="axis" x="{:.1}" y="{:.1}" text-anchor="middle">no snapshots yet</text></svg>"#,
            LEFT + plot_w / 2.0,
            8.0 + plot_h / 2.0
        );
        return out;
    }
    let t0 = points.first().map_or(0, |p| p.at.as_second());
    let t1 = points.last().map_or(0, |p| p.at.as_second()).max(t0 + 1);
    let x = |t: i64| LEFT + (t - t0) as f64 / (t1 - t0) as f64 * plot_w;
    let y = |p: &TrendPoint| {
        let share = if p.machines == 0 {
            1.0
        } else {
            p.compliant as f64 / p.machines as f64
        };
        8.0 + plot_h * (1.0 - share)
    };
    let mut path = String::new();
    for (i, p) in points.iter().enumerate() {
        let _ = write!(
            path,
            "{}{:.1},{:.1}",
            if i == 0 { "M" } else { " L" },
            x(p.at.as_second()),
            y(p)
        );
    }
    let _ = write!(
        out,
        r#"<path class="line ok-stroke" d="{path}" fill="none"/>"#
    );
    for p in points {
        let _ = write!(
            out,
            r#"<circle class="ok" cx="{:.1}" cy="{:.1}" r="2.5"><title>{}: {} of {} compliant, {} drifting, {} overdue</title></circle>"#,
            x(p.at.as_second()),
            y(p),
            p.at,
            p.compliant,
            p.machines,
            p.drifting,
            p.overdue
        );
    }
    let first = points.first().map(|p| p.at.to_string()).unwrap_or_default();
    let last = points.last().map(|p| p.at.to_string()).unwrap_or_default();
    let _ = write!(
        out,
        r#"<text class="axis" x="{LEFT}" y="{:.1}">{}</text><text class="axis" x="{:.1}" y="{:.1}" text-anchor="end">{}</text></svg>"#,
        H - 6.0,
        esc(first.get(..16).unwrap_or(&first)),
        W - 8.0,
        H - 6.0,
        esc(last.get(..16).unwrap_or(&last))
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(value: f64, class: &str, label: &str) -> Part {
        Part {
            value,
            class: class.into(),
            label: label.into(),
        }
    }

    #[test]
    fn bars_are_in_proportion_and_titled() {
        let svg = stacked_bar(
            &[
                part(3.0, "ok", "3 in sync"),
                part(1.0, "bad", "1 <overdue>"),
            ],
            "x",
        );
        assert!(svg.contains(r#"width="75.000""#), "{svg}");
        assert!(svg.contains(r#"x="75.000" y="0" width="25.000""#), "{svg}");
        assert!(svg.contains("<title>1 &lt;overdue&gt;</title>"), "{svg}");
        assert!(!svg.contains("style="), "{svg}");
    }

    #[test]
    fn an_empty_bar_says_none() {
        let svg = stacked_bar(&[part(0.0, "ok", "0")], "x");
        assert!(svg.contains("<title>none</title>"), "{svg}");
    }

    #[test]
    fn a_trend_plots_every_point() {
        let at = |s: &str| s.parse::<jiff::Timestamp>().expect("instant");
        let points = [
            TrendPoint {
                at: at("2026-12-01T00:00:00Z"),
                machines: 4,
                compliant: 2,
                drifting: 1,
                overdue: 2,
                drift_pairs: 5,
            },
            TrendPoint {
                at: at("2026-12-02T00:00:00Z"),
                machines: 4,
                compliant: 4,
                drifting: 0,
                overdue: 0,
                drift_pairs: 0,
            },
        ];
        let svg = trend(&points);
        assert_eq!(svg.matches("<circle").count(), 2, "{svg}");
        assert!(svg.contains("2 of 4 compliant"), "{svg}");
        // 50% at the left edge, 100% at the right.
        assert!(svg.contains("M44.0,82.0 L712.0,8.0"), "{svg}");
        assert!(trend(&[]).contains("no snapshots yet"));
    }
}
