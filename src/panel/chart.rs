//! Line charts as inline SVG, rendered on the server: no chart library, no script, and no
//! `style` attribute (the CSP forbids inline style) — every colour and stroke comes from a
//! class styled in `tundra.css`. Every piece of text is escaped, so the string is safe to
//! put into a page unescaped.

use std::fmt::Write;

use time::OffsetDateTime;

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 200.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 24.0;
const BOTTOM: f64 = 28.0;

/// What the y axis measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// 0 to 100 %.
    Percent,
    /// Bytes per second, from 0 to a round number above the largest value.
    BytesPerSecond,
}

/// One line.
#[derive(Debug, Clone)]
pub struct Series {
    /// Its name in the legend.
    pub name: &'static str,
    /// Its CSS class (`series-a`, `series-b`).
    pub class: &'static str,
    /// `(unix seconds, value)`, oldest first.
    pub points: Vec<(u64, f64)>,
}

/// A chart over `[from, to]`.
#[derive(Debug, Clone)]
pub struct Chart {
    /// Its accessible title.
    pub title: String,
    /// Unix seconds at the left edge.
    pub from: u64,
    /// Unix seconds at the right edge.
    pub to: u64,
    /// Points further apart than this are not joined (the agent was away).
    pub max_gap: u64,
    /// The y axis.
    pub scale: Scale,
    /// The lines.
    pub series: Vec<Series>,
}

/// Escapes text for SVG/HTML content and attribute values.
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

/// `1.5 MiB` style sizes.
pub fn human_bytes(b: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b.max(0.0);
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 || v >= 100.0 {
        format!("{v:.0} {}", UNITS[unit])
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// The smallest 1, 2 or 5 × 1024^k · 10^n at or above `v` (at least 1 KiB).
fn round_up(v: f64) -> f64 {
    let mut unit = 1024.0;
    while v > unit * 1000.0 {
        unit *= 1024.0;
    }
    let scaled = (v / unit).max(1.0);
    let magnitude = 10f64.powf(scaled.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .find(|m| m * magnitude >= scaled)
        .unwrap_or(10.0);
    step * magnitude * unit
}

fn time_label(unix: u64, long_range: bool) -> String {
    let at = i64::try_from(unix)
        .ok()
        .and_then(|u| OffsetDateTime::from_unix_timestamp(u).ok())
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    if long_range {
        format!("{:02}-{:02}", u8::from(at.month()), at.day())
    } else {
        format!("{:02}:{:02}", at.hour(), at.minute())
    }
}

impl Chart {
    fn y_max(&self) -> f64 {
        match self.scale {
            Scale::Percent => 100.0,
            Scale::BytesPerSecond => {
                let top = self
                    .series
                    .iter()
                    .flat_map(|s| s.points.iter().map(|p| p.1))
                    .fold(0.0, f64::max);
                round_up(top)
            }
        }
    }

    fn y_label(&self, v: f64) -> String {
        match self.scale {
            Scale::Percent => format!("{v:.0}%"),
            Scale::BytesPerSecond => format!("{}/s", human_bytes(v)),
        }
    }

    /// The chart as an `<svg>` element.
    pub fn render(&self) -> String {
        let plot_w = WIDTH - LEFT - RIGHT;
        let plot_h = HEIGHT - TOP - BOTTOM;
        let span = self.to.saturating_sub(self.from).max(1) as f64;
        let y_max = self.y_max();
        let x = |t: u64| LEFT + (t.saturating_sub(self.from) as f64 / span).min(1.0) * plot_w;
        let y = |v: f64| TOP + plot_h - (v.clamp(0.0, y_max) / y_max) * plot_h;
        let title = escape(&self.title);
        let mut s = String::new();
        let _ = write!(
            s,
            "<svg class=\"chart\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" \
             aria-label=\"{title}\" xmlns=\"http://www.w3.org/2000/svg\"><title>{title}</title>"
        );
        for frac in [0.0, 0.5, 1.0] {
            let v = y_max * frac;
            let yy = y(v);
            let class = if frac == 0.0 { "axis" } else { "grid" };
            let _ = write!(
                s,
                "<line class=\"{class}\" x1=\"{LEFT}\" y1=\"{yy:.1}\" x2=\"{:.1}\" y2=\"{yy:.1}\"/>\
                 <text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
                WIDTH - RIGHT,
                LEFT - 6.0,
                yy + 4.0,
                escape(&self.y_label(v)),
            );
        }
        let _ = write!(
            s,
            "<line class=\"axis\" x1=\"{LEFT}\" y1=\"{TOP}\" x2=\"{LEFT}\" y2=\"{:.1}\"/>",
            TOP + plot_h
        );
        let long_range = self.to.saturating_sub(self.from) > 2 * 86_400;
        for (t, anchor) in [
            (self.from, "start"),
            (
                self.from + (self.to.saturating_sub(self.from)) / 2,
                "middle",
            ),
            (self.to, "end"),
        ] {
            let _ = write!(
                s,
                "<text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"{anchor}\">{}</text>",
                x(t),
                HEIGHT - 8.0,
                escape(&time_label(t, long_range)),
            );
        }
        let mut legend_x = WIDTH - RIGHT;
        for series in self.series.iter().rev() {
            let _ = write!(
                s,
                "<text class=\"legend {}\" x=\"{legend_x:.1}\" y=\"14\" text-anchor=\"end\">\
                 \u{25A0} {}</text>",
                escape(series.class),
                escape(series.name),
            );
            legend_x -= 12.0 + 8.0 * series.name.chars().count() as f64;
        }
        let mut any = false;
        for series in &self.series {
            for run in runs(&series.points, self.max_gap) {
                any = true;
                let class = escape(series.class);
                if let [(t, v)] = run {
                    let _ = write!(
                        s,
                        "<circle class=\"dot {class}\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"2.5\"/>",
                        x(*t),
                        y(*v)
                    );
                    continue;
                }
                let coords: Vec<String> = run
                    .iter()
                    .map(|(t, v)| format!("{:.1},{:.1}", x(*t), y(*v)))
                    .collect();
                let _ = write!(
                    s,
                    "<polyline class=\"line {class}\" points=\"{}\"/>",
                    coords.join(" ")
                );
            }
        }
        if !any {
            let _ = write!(
                s,
                "<text class=\"empty\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">\
                 No data in this range</text>",
                LEFT + plot_w / 2.0,
                TOP + plot_h / 2.0
            );
        }
        s.push_str("</svg>");
        s
    }
}

/// Splits time-ordered points where consecutive ones are more than `max_gap` apart.
fn runs(points: &[(u64, f64)], max_gap: u64) -> Vec<&[(u64, f64)]> {
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..points.len() {
        if points[i].0.saturating_sub(points[i - 1].0) > max_gap {
            out.push(&points[start..i]);
            start = i;
        }
    }
    if start < points.len() {
        out.push(&points[start..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(points: Vec<(u64, f64)>, scale: Scale) -> Chart {
        Chart {
            title: "CPU <script>".into(),
            from: 1000,
            to: 4600,
            max_gap: 30,
            scale,
            series: vec![Series {
                name: "cpu",
                class: "series-a",
                points,
            }],
        }
    }

    #[test]
    fn draws_a_polyline_inside_the_plot_and_escapes_text() {
        let svg = chart(
            vec![(1000, 0.0), (1010, 50.0), (1020, 100.0)],
            Scale::Percent,
        )
        .render();
        assert!(svg.starts_with("<svg class=\"chart\""), "{svg}");
        assert!(svg.contains("CPU &lt;script&gt;"), "{svg}");
        assert!(!svg.contains("<script"));
        assert!(!svg.contains("style="));
        let points = svg
            .split("points=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap();
        let first: Vec<f64> = points
            .split(' ')
            .next()
            .unwrap()
            .split(',')
            .map(|n| n.parse().unwrap())
            .collect();
        assert_eq!(first, vec![LEFT, HEIGHT - BOTTOM]);
        assert!(points
            .split(' ')
            .next_back()
            .unwrap()
            .ends_with(&format!(",{TOP:.1}")));
        assert!(svg.contains(">100%</text>"));
    }

    #[test]
    fn gaps_split_the_line_and_lone_points_are_dots() {
        let svg = chart(
            vec![
                (1000, 1.0),
                (1010, 2.0),
                (2000, 3.0),
                (3000, 4.0),
                (3010, 5.0),
            ],
            Scale::Percent,
        )
        .render();
        assert_eq!(svg.matches("<polyline").count(), 2, "{svg}");
        assert_eq!(svg.matches("<circle").count(), 1, "{svg}");
    }

    #[test]
    fn an_empty_chart_says_so() {
        let svg = chart(Vec::new(), Scale::BytesPerSecond).render();
        assert!(svg.contains("No data in this range"));
        assert!(!svg.contains("<polyline"));
    }

    #[test]
    fn rates_get_a_round_axis() {
        assert_eq!(round_up(0.0), 1024.0);
        assert_eq!(round_up(3000.0), 5.0 * 1024.0);
        assert_eq!(round_up(1.5 * 1024.0 * 1024.0), 2.0 * 1024.0 * 1024.0);
        assert_eq!(human_bytes(1536.0), "1.5 KiB");
        assert_eq!(human_bytes(12.0), "12 B");
        let svg = chart(vec![(1000, 3000.0), (1010, 10.0)], Scale::BytesPerSecond).render();
        assert!(svg.contains(">5.0 KiB/s</text>"), "{svg}");
    }
}
