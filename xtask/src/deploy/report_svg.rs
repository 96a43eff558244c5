//! SVG pieces for the HTML report: escaping, the shared time axis (seconds since the deploy
//! began) and the frame every chart is drawn in. Colours are CSS classes, so the page's
//! light, dark and print styles colour every chart.

use std::fmt::Write;

/// Width of every chart's view box; charts scale to the page.
pub const WIDTH: f64 = 1200.0;
/// Where the plot begins: lane labels go left of it.
const LEFT: f64 = 190.0;
const RIGHT: f64 = 20.0;
/// Room under a chart for the axis ticks and their labels.
pub const AXIS_HEIGHT: f64 = 22.0;

/// `text` safe inside HTML text and attribute values (hello-page's escaping, the one the
/// demo app's pages use).
pub fn esc(text: &str) -> String {
    hello_page::escape(text).into_owned()
}

/// Seconds as "12.3 s" or "2 min 05 s".
pub fn secs(seconds: f64) -> String {
    if seconds < 120.0 {
        format!("{seconds:.1} s")
    } else {
        let whole = seconds.round() as u64;
        format!("{} min {:02} s", whole / 60, whole % 60)
    }
}

/// The time axis shared by all charts: 0 to `end` seconds since the deploy began.
#[derive(Debug, Clone, Copy)]
pub struct Axis {
    pub end: f64,
}

impl Axis {
    pub fn new(end: f64) -> Axis {
        Axis {
            end: if end.is_finite() && end > 0.0 {
                end
            } else {
                1.0
            },
        }
    }

    pub fn left() -> f64 {
        LEFT
    }

    pub fn right() -> f64 {
        WIDTH - RIGHT
    }

    /// The x of `seconds`, clamped into the plot.
    pub fn x(&self, seconds: f64) -> f64 {
        let t = seconds.clamp(0.0, self.end);
        LEFT + t / self.end * (Axis::right() - LEFT)
    }

    /// A tick step that gives at most about 12 ticks.
    fn step(&self) -> f64 {
        const STEPS: [f64; 12] = [
            0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0,
        ];
        STEPS
            .into_iter()
            .find(|s| self.end / s <= 12.0)
            .unwrap_or(3600.0)
    }

    /// Grid lines from `top` to `bottom` and tick labels under `bottom`.
    pub fn ticks(&self, top: f64, bottom: f64) -> String {
        let step = self.step();
        let mut out = String::from(r#"<g class="axis">"#);
        let mut t = 0.0;
        while t <= self.end + 1e-9 {
            let x = self.x(t);
            let _ = write!(
                out,
                r#"<line class="grid" x1="{x:.1}" y1="{top:.1}" x2="{x:.1}" y2="{bottom:.1}"/><text class="tick" x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                bottom + 15.0,
                tick_label(t)
            );
            t += step;
        }
        out.push_str("</g>");
        out
    }
}

fn tick_label(t: f64) -> String {
    if t.fract() == 0.0 {
        format!("{t:.0}s")
    } else {
        format!("{t:.1}s")
    }
}

/// An `<svg>` of `height` (plus the axis) with `id`, a title for screen readers, the grid from
/// the top of the plot, and `body` drawn over it.
pub fn chart(id: &str, label: &str, axis: &Axis, height: f64, body: &str) -> String {
    let total = height + AXIS_HEIGHT;
    format!(
        r#"<svg id="{id}" class="chart" viewBox="0 0 {WIDTH} {total:.0}" role="img" aria-label="{label}" preserveAspectRatio="xMinYMin meet"><title>{label}</title>{}{body}</svg>"#,
        axis.ticks(0.0, height),
        label = esc(label),
    )
}

/// A label left of the plot, vertically centred on `y`.
pub fn lane_label(y: f64, text: &str, class: &str) -> String {
    format!(
        r#"<text class="lane-label {class}" x="{:.1}" y="{:.1}" text-anchor="end" dominant-baseline="middle">{}</text>"#,
        LEFT - 8.0,
        y,
        esc(text)
    )
}

/// A rectangle with a hover title.
pub fn rect(class: &str, x: f64, y: f64, w: f64, h: f64, title: &str) -> String {
    format!(
        r#"<rect class="{class}" x="{x:.1}" y="{y:.1}" width="{:.1}" height="{:.1}"><title>{}</title></rect>"#,
        w.max(1.0),
        h.max(0.0),
        esc(title)
    )
}

/// A step line through `points` (x, y), each value held until the next point, to `end_x`.
pub fn step_path(class: &str, points: &[(f64, f64)], end_x: f64, title: &str) -> String {
    let Some(&(x0, y0)) = points.first() else {
        return String::new();
    };
    let mut d = format!("M{x0:.1},{y0:.1}");
    for &(x, y) in &points[1..] {
        let _ = write!(d, " H{x:.1} V{y:.1}");
    }
    let _ = write!(d, " H{:.1}", end_x.max(x0));
    format!(
        r#"<path class="{class}" d="{d}" fill="none"><title>{}</title></path>"#,
        esc(title)
    )
}

#[cfg(test)]
mod tests {
    use super::{Axis, esc, step_path};

    #[test]
    fn escaping_covers_markup_and_both_quotes() {
        assert_eq!(
            esc(r#"<script>"a" & 'b'</script>"#),
            "&lt;script&gt;&quot;a&quot; &amp; &#x27;b&#x27;&lt;/script&gt;"
        );
    }

    #[test]
    fn the_axis_maps_the_deploy_onto_the_plot_and_clamps() {
        let axis = Axis::new(100.0);
        assert_eq!(axis.x(0.0), Axis::left());
        assert_eq!(axis.x(100.0), Axis::right());
        assert_eq!(axis.x(500.0), Axis::right());
        assert_eq!(axis.x(-3.0), Axis::left());
        assert_eq!(Axis::new(0.0).end, 1.0);
        assert_eq!(Axis::new(f64::NAN).end, 1.0);
    }

    #[test]
    fn a_step_path_holds_each_value_until_the_next() {
        let path = step_path("s", &[(0.0, 10.0), (5.0, 20.0)], 9.0, "t");
        assert!(path.contains(r#"d="M0.0,10.0 H5.0 V20.0 H9.0""#), "{path}");
        assert!(step_path("s", &[], 9.0, "t").is_empty());
    }
}
