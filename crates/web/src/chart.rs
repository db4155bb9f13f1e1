//! Line charts of scores over time as server-rendered, accessible SVG.
//!
//! No JavaScript and no style attributes (the CSP forbids inline styles):
//! only SVG presentation attributes. The chart is `role="img"` with a
//! `<title>` and `<desc>`; the page shows the same numbers as a table, so
//! nobody depends on seeing the picture.

use std::fmt::Write;

/// One point: a label for the x axis (a date) and a value.
#[derive(Debug, Clone)]
pub struct Point {
    /// Shown under the point, e.g. `12.03.`.
    pub label: String,
    /// The value.
    pub value: i64,
}

/// What to draw.
#[derive(Debug, Clone)]
pub struct Chart<'a> {
    /// Unique within the page; prefixes the ids of title and description.
    pub id: &'a str,
    /// Short accessible name.
    pub title: &'a str,
    /// Longer description (e.g. "Higher is worse; the table below …").
    pub desc: &'a str,
    /// Lowest possible value (bottom of the axis).
    pub min: i64,
    /// Highest possible value (top of the axis).
    pub max: i64,
    /// The points, oldest first.
    pub points: &'a [Point],
}

const WIDTH: i64 = 600;
const HEIGHT: i64 = 240;
const LEFT: i64 = 44;
const RIGHT: i64 = 16;
const TOP: i64 = 14;
const BOTTOM: i64 = 40;
/// Colours with at least 4.5:1 contrast on white (axis text, line).
const INK: &str = "#1b1b1b";
const LINE: &str = "#0b5c55";
const GRID: &str = "#8a877d";
const WHITE: &str = "#ffffff";

/// Escapes text for SVG content and attribute values.
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

impl Chart<'_> {
    fn x(&self, i: usize) -> i64 {
        let plot = WIDTH - LEFT - RIGHT;
        let n = self.points.len();
        if n <= 1 {
            return LEFT + plot / 2;
        }
        let (i, last) = (
            i64::try_from(i).unwrap_or(0),
            i64::try_from(n - 1).unwrap_or(1),
        );
        LEFT + plot * i / last
    }

    fn y(&self, v: i64) -> i64 {
        let plot = HEIGHT - TOP - BOTTOM;
        let span = (self.max - self.min).max(1);
        let v = v.clamp(self.min, self.max);
        TOP + plot - plot * (v - self.min) / span
    }

    /// The SVG markup. Every text is escaped, so the result may be
    /// inserted into a template unescaped.
    pub fn render(&self) -> String {
        let id = escape(self.id);
        let mut s = String::new();
        let _ = write!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img" aria-labelledby="{id}-title {id}-desc" focusable="false">"#
        );
        let _ = write!(
            s,
            r#"<title id="{id}-title">{}</title><desc id="{id}-desc">{}</desc>"#,
            escape(self.title),
            escape(self.desc)
        );
        // Horizontal grid lines with labels at min, middle and max.
        let mid = self.min + (self.max - self.min) / 2;
        for v in [self.min, mid, self.max] {
            let y = self.y(v);
            let _ = write!(
                s,
                r#"<line x1="{LEFT}" y1="{y}" x2="{}" y2="{y}" stroke="{GRID}" stroke-width="1" stroke-dasharray="4 4"/><text x="{}" y="{}" text-anchor="end" font-size="13" fill="{INK}">{v}</text>"#,
                WIDTH - RIGHT,
                LEFT - 6,
                y + 4
            );
        }
        if self.points.len() > 1 {
            let coords: Vec<String> = self
                .points
                .iter()
                .enumerate()
                .map(|(i, p)| format!("{},{}", self.x(i), self.y(p.value)))
                .collect();
            let _ = write!(
                s,
                r#"<polyline points="{}" fill="none" stroke="{LINE}" stroke-width="3"/>"#,
                coords.join(" ")
            );
        }
        // Show at most about ten x labels so they do not overlap.
        let every = self.points.len().div_ceil(10).max(1);
        for (i, p) in self.points.iter().enumerate() {
            let (x, y) = (self.x(i), self.y(p.value));
            let _ = write!(
                s,
                r#"<circle cx="{x}" cy="{y}" r="5" fill="{LINE}" stroke="{WHITE}" stroke-width="2"><title>{}: {}</title></circle><text x="{x}" y="{}" text-anchor="middle" font-size="13" fill="{INK}">{}</text>"#,
                escape(&p.label),
                p.value,
                (y - 10).max(11),
                p.value
            );
            if i % every == 0 || i + 1 == self.points.len() {
                let _ = write!(
                    s,
                    r#"<text x="{x}" y="{}" text-anchor="middle" font-size="13" fill="{INK}">{}</text>"#,
                    HEIGHT - BOTTOM + 22,
                    escape(&p.label)
                );
            }
        }
        s.push_str("</svg>");
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn points(values: &[i64]) -> Vec<Point> {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| Point {
                label: format!("{:02}.01.", i + 1),
                value: *v,
            })
            .collect()
    }

    fn chart(points: &[Point]) -> String {
        Chart {
            id: "phq9",
            title: "PHQ-9 over tid",
            desc: "Høyere er verre",
            min: 0,
            max: 27,
            points,
        }
        .render()
    }

    #[test]
    fn has_accessible_name_and_description() {
        let svg = chart(&points(&[27, 10, 0]));
        assert!(svg.starts_with("<svg"));
        assert!(svg.ends_with("</svg>"));
        assert!(svg.contains(r#"role="img""#));
        assert!(svg.contains(r#"aria-labelledby="phq9-title phq9-desc""#));
        assert!(svg.contains(r#"<title id="phq9-title">PHQ-9 over tid</title>"#));
        assert!(svg.contains(r#"<desc id="phq9-desc">Høyere er verre</desc>"#));
        assert!(!svg.contains("style="), "the CSP forbids inline styles");
    }

    #[test]
    fn one_circle_per_point_and_a_line_between_them() {
        let svg = chart(&points(&[27, 10, 0]));
        assert_eq!(svg.matches("<circle").count(), 3);
        assert_eq!(svg.matches("<polyline").count(), 1);
        // Highest value at the top of the plot, lowest at the bottom.
        assert!(svg.contains(&format!(
            "points=\"{},{} {},{} {},{}\"",
            LEFT,
            TOP,
            LEFT + (WIDTH - LEFT - RIGHT) / 2,
            TOP + (HEIGHT - TOP - BOTTOM) - (HEIGHT - TOP - BOTTOM) * 10 / 27,
            WIDTH - RIGHT,
            HEIGHT - BOTTOM
        )));
    }

    #[test]
    fn a_single_point_is_centred_without_a_line() {
        let svg = chart(&points(&[5]));
        assert_eq!(svg.matches("<circle").count(), 1);
        assert!(!svg.contains("<polyline"));
        assert!(svg.contains(&format!("cx=\"{}\"", LEFT + (WIDTH - LEFT - RIGHT) / 2)));
    }

    #[test]
    fn empty_and_out_of_range_values_do_not_break_it() {
        let svg = chart(&[]);
        assert!(svg.ends_with("</svg>"));
        let svg = chart(&points(&[-5, 99]));
        assert!(svg.contains(&format!("cy=\"{}\"", HEIGHT - BOTTOM)));
        assert!(svg.contains(&format!("cy=\"{TOP}\"")));
    }

    #[test]
    fn text_is_escaped() {
        let p = [Point {
            label: "<script>&\"'".into(),
            value: 1,
        }];
        let svg = Chart {
            id: "x\"y",
            title: "a<b",
            desc: "c&d",
            min: 0,
            max: 10,
            points: &p,
        }
        .render();
        assert!(!svg.contains("<script>"));
        assert!(svg.contains("&lt;script&gt;&amp;&quot;&#39;"));
        assert!(svg.contains("a&lt;b"));
        assert!(svg.contains("c&amp;d"));
        assert!(svg.contains("x&quot;y-title"));
    }
}
