//! Where the labels of an agreement's timeline go: a pure layout, so that
//! no two labels overlap and none runs off the picture, however close the
//! events (the 2019 announcement, notice and suspension fall within three
//! months of a seven-year span).
//!
//! Labels sit in lanes alternately above and below the axis, nearest
//! first; each takes the first lane whose last label ends before it
//! starts. A leader line joins a label to its tick.

/// The picture's width in SVG units (the `viewBox`).
pub const WIDTH: f64 = 1000.0;
/// Space left at either end of the axis.
const MARGIN: f64 = 10.0;
/// An estimate of a label character's width at the timeline's 11 px font
/// (ASCII; a wide character counts twice).
const CHAR: f64 = 6.4;
/// Space kept between two labels in one lane.
const GAP: f64 = 8.0;
/// Height of a lane.
const LANE: f64 = 16.0;
/// Distance from the axis to the nearest lane's baseline, above it.
const ABOVE: f64 = 22.0;
/// Distance from the axis to the nearest lane's baseline, below it.
const BELOW: f64 = 32.0;

/// One label placed.
#[derive(Debug, Clone, PartialEq)]
pub struct Placed {
    /// The tick's x.
    pub x: f64,
    /// The label's left edge (its text starts there).
    pub left: f64,
    /// Its estimated width.
    pub width: f64,
    /// The baseline of its text.
    pub y: f64,
    /// Where its leader line ends (next to the text).
    pub lead: f64,
}

/// A laid-out timeline: the axis's y, the picture's height, and each
/// label's place (in the order given).
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    /// The axis's y.
    pub axis: f64,
    /// The picture's height.
    pub height: f64,
    /// Each label.
    pub labels: Vec<Placed>,
}

/// The estimated width of a label.
pub fn width_of(text: &str) -> f64 {
    text.chars()
        .map(|c| if c.is_ascii() { CHAR } else { 2.0 * CHAR })
        .sum()
}

/// Lays out labels at x positions (any order; each in `0..=WIDTH`).
pub fn lay_out(labels: &[(f64, &str)]) -> Layout {
    let mut order: Vec<usize> = (0..labels.len()).collect();
    order.sort_by(|a, b| {
        let (xa, xb) = (
            labels.get(*a).map_or(0.0, |l| l.0),
            labels.get(*b).map_or(0.0, |l| l.0),
        );
        xa.total_cmp(&xb)
    });
    // Lane k: above the axis when even, below when odd, the pair (0, 1)
    // nearest. Each lane remembers where its last label ended.
    let mut ends: Vec<f64> = Vec::new();
    let mut placed: Vec<(usize, f64, f64, usize)> = Vec::new();
    for i in order {
        let Some((x, text)) = labels.get(i) else {
            continue;
        };
        let w = width_of(text).min(WIDTH - 2.0);
        let left = (x - w / 2.0).clamp(1.0, WIDTH - 1.0 - w);
        let lane = match ends.iter().position(|end| *end + GAP <= left) {
            Some(k) => k,
            None => {
                ends.push(f64::NEG_INFINITY);
                ends.len() - 1
            }
        };
        if let Some(end) = ends.get_mut(lane) {
            *end = left + w;
        }
        placed.push((i, left, w, lane));
    }
    let above = ends.len().div_ceil(2);
    let below = ends.len() / 2;
    let axis = ABOVE + LANE * above.saturating_sub(1) as f64 + 14.0;
    let height = axis
        + if below > 0 {
            BELOW + LANE * (below - 1) as f64 + 8.0
        } else {
            24.0
        };
    let mut out: Vec<Option<Placed>> = vec![None; labels.len()];
    for (i, left, width, lane) in placed {
        let k = (lane / 2) as f64;
        let (y, lead) = if lane % 2 == 0 {
            let y = axis - ABOVE - LANE * k;
            (y, y + 4.0)
        } else {
            let y = axis + BELOW + LANE * k;
            (y, y - 12.0)
        };
        if let (Some(slot), Some((x, _))) = (out.get_mut(i), labels.get(i)) {
            *slot = Some(Placed {
                x: *x,
                left,
                width,
                y,
                lead,
            });
        }
    }
    Layout {
        axis,
        height,
        labels: out.into_iter().flatten().collect(),
    }
}

/// The x of an instant on an axis from `first` to `last` (seconds).
pub fn x_of(t: i64, first: i64, last: i64) -> f64 {
    let span = (last - first).max(1) as f64;
    MARGIN + (WIDTH - 2.0 * MARGIN) * ((t - first) as f64 / span)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn overlap(a: &Placed, b: &Placed) -> bool {
        a.y == b.y && a.left < b.left + b.width && b.left < a.left + a.width
    }

    #[test]
    fn close_labels_take_separate_lanes_and_none_overlaps_or_leaves_the_picture() {
        // jp-kr-2016 as the page draws it: entry 2016, three events within
        // a quarter of 2019, the 2023 withdrawal, now (2026).
        let (first, last) = (1_479_826_800, 1_796_000_000);
        let at = |t| x_of(t, first, last);
        let labels = [
            (at(1_479_826_800), "entry_into_force 2016-11-23"),
            (at(1_566_468_000), "announcement 2019-08-22"),
            (at(1_566_541_800), "notice 2019-08-23"),
            (at(1_574_348_400), "suspend_notice 2019-11-22"),
            (at(1_679_400_000), "withdraw_notice 2023-03-21"),
            (at(1_796_000_000), "now"),
        ];
        let l = lay_out(&labels);
        assert_eq!(l.labels.len(), labels.len());
        for (i, a) in l.labels.iter().enumerate() {
            assert!(
                a.left >= 0.0 && a.left + a.width <= WIDTH,
                "{a:?} leaves the picture"
            );
            assert!(a.y > 0.0 && a.y < l.height, "{a:?} outside 0..{}", l.height);
            for b in l.labels.iter().skip(i + 1) {
                assert!(!overlap(a, b), "{a:?} overlaps {b:?}");
            }
        }
        // The three 2019 events needed three lanes.
        let lanes: std::collections::BTreeSet<i64> =
            l.labels[1..4].iter().map(|p| p.y as i64).collect();
        assert_eq!(lanes.len(), 3, "{l:?}");
        // The first label starts at the left edge rather than before it.
        assert!(l.labels[0].left >= 1.0);
    }

    #[test]
    fn labels_far_apart_share_the_nearest_lane() {
        let l = lay_out(&[(100.0, "a"), (500.0, "b"), (900.0, "c")]);
        assert!(l.labels.iter().all(|p| p.y == l.labels[0].y), "{l:?}");
        assert!(l.labels[0].y < l.axis);
    }

    #[test]
    fn wide_characters_count_twice() {
        assert_eq!(width_of("極秘"), 2.0 * width_of("ab"));
    }
}
