//! Charts must still be drawn when the font is missing. This binary never
//! registers a font, so any text the no-text mode tried to draw would fail here.

use skillreel_load::charts::web_charts;
use skillreel_load::report::TrafficRow;

#[test]
fn charts_without_text_need_no_font() {
    let rows: Vec<TrafficRow> = (0..20u64)
        .map(|s| TrafficRow {
            second: s,
            active_users: s,
            requests: 5 * s,
            errors: u64::from(s % 5 == 0),
            p50_ms: Some(10.0 * s as f64),
            p95_ms: Some(60.0 * s as f64),
            p99_ms: (s % 3 != 0).then_some(90.0 * s as f64),
            max_ms: Some(1500.0),
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let files = web_charts(dir.path(), "ramp", &rows, false).unwrap();
    assert_eq!(files.len(), 4);
    for file in files {
        let bytes = std::fs::read(&file).unwrap();
        assert_eq!(&bytes[1..4], b"PNG", "{}", file.display());
    }
}
