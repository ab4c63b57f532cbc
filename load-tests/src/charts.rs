//! PNG charts of a run, drawn from the same rows that go into `timeseries.csv`,
//! so `charts <dir>` can redraw them from the files alone.
//!
//! Text needs a font. plotters is built with its pure-Rust `ab_glyph` renderer and
//! DejaVu Sans is loaded at run time; when the font file is missing the charts are
//! still drawn, just without any text (titles, tick labels, legends).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{Result, anyhow};
use plotters::prelude::*;

use crate::report::{self, Summary, TrafficRow};
use crate::stats::P95_LIMIT_MS;
use crate::worker::QueueRow;

/// Where Debian's fonts-dejavu-core installs the font.
const FONT_PATH: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
const FONT_FAMILY: &str = "sans-serif";
const SIZE: (u32, u32) = (1200, 600);

/// Registers DejaVu Sans with plotters once per process; false when unavailable.
pub fn load_font() -> bool {
    static LOADED: OnceLock<bool> = OnceLock::new();
    *LOADED.get_or_init(|| {
        let Ok(bytes) = std::fs::read(FONT_PATH) else {
            tracing::warn!(path = FONT_PATH, "font not found; charts will have no text");
            return false;
        };
        // plotters keeps fonts for the life of the process and wants 'static data;
        // leaking one ~700 KB file once is the simplest way to provide that.
        let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        plotters::style::register_font(FONT_FAMILY, FontStyle::Normal, bytes).is_ok()
    })
}

/// One line (or point cloud) of a chart.
struct Series {
    name: &'static str,
    color: RGBColor,
    points: Vec<(f64, f64)>,
}

/// What to draw in one PNG.
struct Chart<'a> {
    title: &'a str,
    x_desc: &'a str,
    y_desc: &'a str,
    series: Vec<Series>,
    /// A dashed horizontal limit line, drawn when it falls inside the data range.
    limit: Option<f64>,
    /// Draw points instead of lines (for x values that are not time).
    scatter: bool,
    /// Corner of the legend: away from where the curves start high.
    legend_at: SeriesLabelPosition,
}

const BLUE_: RGBColor = RGBColor(31, 119, 180);
const ORANGE: RGBColor = RGBColor(255, 127, 14);
const RED_: RGBColor = RGBColor(214, 39, 40);
const GREEN_: RGBColor = RGBColor(44, 160, 44);
const GREY: RGBColor = RGBColor(120, 120, 120);

impl Chart<'_> {
    fn draw(&self, path: &Path, text: bool) -> Result<()> {
        let root = BitMapBackend::new(path, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(chart_error)?;

        let all = self.series.iter().flat_map(|s| s.points.iter());
        let x_max = all.clone().map(|p| p.0).fold(1.0, f64::max);
        let data_y_max = all.map(|p| p.1).fold(0.0, f64::max);
        // Show the limit only when data comes near it; otherwise it would squash
        // a healthy run's curves to the bottom of the chart.
        let limit = self.limit.filter(|l| data_y_max >= l * 0.5);
        let y_max = (data_y_max.max(limit.unwrap_or(0.0)) * 1.1).max(1.0);

        let mut builder = ChartBuilder::on(&root);
        builder.margin(20);
        if text {
            builder
                .caption(self.title, (FONT_FAMILY, 24))
                .x_label_area_size(45)
                .y_label_area_size(70);
        } else {
            builder.x_label_area_size(5).y_label_area_size(5);
        }
        let mut chart = builder
            .build_cartesian_2d(0f64..x_max, 0f64..y_max)
            .map_err(chart_error)?;

        let mut mesh = chart.configure_mesh();
        if text {
            mesh.x_desc(self.x_desc)
                .y_desc(self.y_desc)
                .label_style((FONT_FAMILY, 14));
        } else {
            // No tick labels means no text to render and no mesh lines either.
            mesh.x_labels(0).y_labels(0);
        }
        mesh.draw().map_err(chart_error)?;

        for series in &self.series {
            let color = series.color;
            let drawn = if self.scatter {
                chart.draw_series(
                    series
                        .points
                        .iter()
                        .map(|p| Circle::new(*p, 3, color.filled())),
                )
            } else {
                chart.draw_series(LineSeries::new(
                    series.points.iter().copied(),
                    color.stroke_width(2),
                ))
            }
            .map_err(chart_error)?;
            if text {
                drawn.label(series.name).legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
            }
        }
        if let Some(limit) = limit {
            chart
                .draw_series(DashedLineSeries::new(
                    [(0.0, limit), (x_max, limit)],
                    8,
                    6,
                    GREY.stroke_width(2),
                ))
                .map_err(chart_error)?;
        }
        if text {
            chart
                .configure_series_labels()
                .label_font((FONT_FAMILY, 14))
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .position(self.legend_at.clone())
                .draw()
                .map_err(chart_error)?;
        }
        root.present().map_err(chart_error)?;
        Ok(())
    }
}

/// plotters' errors borrow the backend's error type; flatten them to text.
fn chart_error<E: std::error::Error + Send + Sync>(e: DrawingAreaErrorKind<E>) -> anyhow::Error {
    anyhow!("drawing chart: {e}")
}

fn points<T>(rows: &[T], f: impl Fn(&T) -> Option<(f64, f64)>) -> Vec<(f64, f64)> {
    rows.iter().filter_map(f).collect()
}

/// Draws the charts of a web run into `dir`; returns the files written.
///
/// `latency.png` and `throughput.png` always; `users.png` (active users over
/// time); `users_vs_p95.png` for ramps, where the user count is the variable.
pub fn web_charts(
    dir: &Path,
    scenario: &str,
    rows: &[TrafficRow],
    text: bool,
) -> Result<Vec<PathBuf>> {
    let t = |r: &TrafficRow| r.second as f64;
    let mut charts = vec![
        (
            "latency.png",
            Chart {
                title: "Latency percentiles per second",
                x_desc: "seconds since start",
                y_desc: "latency (ms)",
                series: vec![
                    Series {
                        name: "p50",
                        color: BLUE_,
                        points: points(rows, |r| Some((t(r), r.p50_ms?))),
                    },
                    Series {
                        name: "p95",
                        color: ORANGE,
                        points: points(rows, |r| Some((t(r), r.p95_ms?))),
                    },
                    Series {
                        name: "p99",
                        color: RED_,
                        points: points(rows, |r| Some((t(r), r.p99_ms?))),
                    },
                ],
                limit: Some(P95_LIMIT_MS),
                scatter: false,
                legend_at: SeriesLabelPosition::UpperLeft,
            },
        ),
        (
            "throughput.png",
            Chart {
                title: "Throughput",
                x_desc: "seconds since start",
                y_desc: "requests per second",
                series: vec![
                    Series {
                        name: "requests/s",
                        color: BLUE_,
                        points: points(rows, |r| Some((t(r), r.requests as f64))),
                    },
                    Series {
                        name: "errors/s",
                        color: RED_,
                        points: points(rows, |r| Some((t(r), r.errors as f64))),
                    },
                ],
                limit: None,
                scatter: false,
                legend_at: SeriesLabelPosition::UpperLeft,
            },
        ),
        (
            "users.png",
            Chart {
                title: "Active virtual users",
                x_desc: "seconds since start",
                y_desc: "users",
                series: vec![Series {
                    name: "active users",
                    color: GREEN_,
                    points: points(rows, |r| Some((t(r), r.active_users as f64))),
                }],
                limit: None,
                scatter: false,
                legend_at: SeriesLabelPosition::UpperLeft,
            },
        ),
    ];
    if scenario == "ramp" {
        charts.push((
            "users_vs_p95.png",
            Chart {
                title: "p95 latency against active users (one point per second)",
                x_desc: "active users",
                y_desc: "p95 latency (ms)",
                series: vec![Series {
                    name: "p95",
                    color: ORANGE,
                    // Seconds with no user running are start-up or drain noise.
                    points: points(rows, |r| {
                        (r.active_users > 0).then_some((r.active_users as f64, r.p95_ms?))
                    }),
                }],
                limit: Some(P95_LIMIT_MS),
                scatter: true,
                legend_at: SeriesLabelPosition::UpperLeft,
            },
        ));
    }
    draw_all(dir, &charts, text)
}

/// Draws the charts of a worker run into `dir`: `queue_depth.png` (queue and job
/// states over time) and `processed.png` (cumulative completions).
pub fn worker_charts(dir: &Path, rows: &[QueueRow], text: bool) -> Result<Vec<PathBuf>> {
    let t = |r: &QueueRow| r.second as f64;
    let charts = [
        (
            "queue_depth.png",
            Chart {
                title: "Queue depth",
                x_desc: "seconds since the first enqueue",
                y_desc: "jobs",
                series: vec![
                    Series {
                        name: "Redis queue depth",
                        color: BLUE_,
                        points: points(rows, |r| Some((t(r), r.queue_depth as f64))),
                    },
                    Series {
                        name: "waiting (uploaded)",
                        color: ORANGE,
                        points: points(rows, |r| Some((t(r), r.waiting as f64))),
                    },
                    Series {
                        name: "processing",
                        color: GREEN_,
                        points: points(rows, |r| Some((t(r), r.processing as f64))),
                    },
                ],
                limit: None,
                scatter: false,
                legend_at: SeriesLabelPosition::UpperRight,
            },
        ),
        (
            "processed.png",
            Chart {
                title: "Jobs completed",
                x_desc: "seconds since the first enqueue",
                y_desc: "jobs",
                series: vec![
                    Series {
                        name: "processed",
                        color: GREEN_,
                        points: points(rows, |r| Some((t(r), r.processed as f64))),
                    },
                    Series {
                        name: "failed",
                        color: RED_,
                        points: points(rows, |r| Some((t(r), r.failed as f64))),
                    },
                ],
                limit: None,
                scatter: false,
                legend_at: SeriesLabelPosition::UpperLeft,
            },
        ),
    ];
    draw_all(dir, &charts, text)
}

fn draw_all(dir: &Path, charts: &[(&str, Chart<'_>)], text: bool) -> Result<Vec<PathBuf>> {
    charts
        .iter()
        .map(|(file, chart)| {
            let path = dir.join(file);
            chart.draw(&path, text)?;
            Ok(path)
        })
        .collect()
}

/// Redraws every chart of the results folder `dir` from its CSV/JSON files.
pub fn regenerate(dir: &Path) -> Result<Vec<PathBuf>> {
    let text = load_font();
    let rows = dir.join(report::TIMESERIES_FILE);
    match report::read_summary(dir)? {
        Summary::Web(summary) => {
            web_charts(dir, &summary.scenario, &report::read_csv(&rows)?, text)
        }
        Summary::Worker(_) => worker_charts(dir, &report::read_csv(&rows)?, text),
        Summary::Votes(_) => Err(anyhow!(
            "a votes run has no charts; its per-second figures are in {}",
            rows.display()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows() -> Vec<TrafficRow> {
        (0..30u64)
            .map(|s| TrafficRow {
                second: s,
                active_users: s / 3,
                requests: 10 + s,
                errors: s % 4,
                p50_ms: (s != 7).then_some(20.0 + s as f64),
                p95_ms: (s != 7).then_some(100.0 + 40.0 * s as f64),
                p99_ms: (s != 7).then_some(200.0 + 50.0 * s as f64),
                max_ms: (s != 7).then_some(3000.0),
            })
            .collect()
    }

    #[test]
    fn ramp_runs_get_four_charts_with_text() {
        let dir = tempfile::tempdir().unwrap();
        let text = load_font();
        let files = web_charts(dir.path(), "ramp", &rows(), text).unwrap();
        let names: Vec<_> = files
            .iter()
            .map(|p| p.file_name().unwrap().to_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            names,
            [
                "latency.png",
                "throughput.png",
                "users.png",
                "users_vs_p95.png"
            ]
        );
        for file in files {
            let bytes = std::fs::read(&file).unwrap();
            assert_eq!(&bytes[1..4], b"PNG", "{}", file.display());
        }
    }

    #[test]
    fn worker_runs_get_queue_and_completion_charts() {
        let dir = tempfile::tempdir().unwrap();
        let rows: Vec<QueueRow> = (0..40u64)
            .map(|s| QueueRow {
                second: s,
                queue_depth: 20u64.saturating_sub(s / 2),
                waiting: 20u64.saturating_sub(s / 2),
                processing: 2,
                processed: s / 2,
                failed: u64::from(s > 30),
            })
            .collect();
        let files = worker_charts(dir.path(), &rows, load_font()).unwrap();
        assert_eq!(files.len(), 2);
        assert!(files.iter().all(|f| f.metadata().unwrap().len() > 1000));
    }

    #[test]
    fn other_scenarios_skip_the_users_vs_p95_chart() {
        let dir = tempfile::tempdir().unwrap();
        let files = web_charts(dir.path(), "smoke", &rows(), load_font()).unwrap();
        assert_eq!(files.len(), 3);
        assert!(!dir.path().join("users_vs_p95.png").exists());
    }
}
